"""What a campaign holds fixed and what it randomises, and the successes that share its fingerprint.

Steps 6–7. A spray tool rotates what is cheap to rotate (IP addresses, cities) and keeps what its
author never thought about (one odd user agent, legacy IMAP, one app). For each cluster and field we
measure, in the engine, the number of distinct values, the entropy and the top values; here we label
each field:

- **invariant**: at most ``max_values`` values cover at least ``share`` of the attempts. It is
  *distinctive* when those values are rare among successful sign-ins (baseline share at most
  ``max_baseline_share``) — "always IMAP" is a fingerprint, "always Office 365" is not.
- **randomised**: many values, entropy at least ``random_entropy_ratio`` of the field's baseline
  entropy — "randomises IP prefix and city".
- **mixed**: anything else.

An attempt belongs to the campaign only if it carries the campaign's values on every distinctive
invariant field, which keeps benign failures that merely share the bit-pattern out of it. A cluster
whose fingerprint allows several value combinations is split by combination and combinations that
differ only in what tools rotate (user agent, address) are merged back, across clusters too
(:func:`merge_keys`), so two tools that look alike to the mixture become two campaigns, and one tool
rotating user agents stays one. A
successful sign-in is linked when its pattern is assigned to the campaign with posterior at least
``success_posterior``, it carries those values too, and it falls inside the campaign's time span.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass
from numbers import Real

import ibis
import numpy as np
import pandas as pd

from ..errors import ConfigError
from .rarity import FieldRarity

TOP_VALUES = 5


@dataclass(frozen=True)
class FingerprintRules:
    """Thresholds for labelling a campaign's fields; see the module docstring."""

    max_values: int = 3
    share: float = 0.9
    max_baseline_share: float = 0.2
    random_entropy_ratio: float = 0.5
    success_posterior: float = 0.5
    success_slack_days: float = 1.0
    success_specific_max: int = 20
    expand: bool = True

    def __post_init__(self) -> None:
        # Checked here, not where used: a config file's ``share = "90%"`` would otherwise surface as a
        # TypeError deep in the hunt, after the data was read.
        for name in ("share", "max_baseline_share", "random_entropy_ratio", "success_posterior"):
            value = getattr(self, name)
            if not _is_number(value) or not 0 <= value <= 1:
                raise ConfigError(f"fingerprint rule {name} must be a number within [0, 1], got {value!r}")
        for name, least in (("max_values", 1), ("success_specific_max", 0)):
            value = getattr(self, name)
            if not isinstance(value, (int, np.integer)) or isinstance(value, bool) or value < least:
                raise ConfigError(f"fingerprint rule {name} must be an integer of at least {least}, got {value!r}")
        if not _is_number(self.success_slack_days) or self.success_slack_days < 0:
            raise ConfigError("fingerprint rule success_slack_days must be a non-negative number, "
                              f"got {self.success_slack_days!r}")
        if not isinstance(self.expand, (bool, np.bool_)):
            raise ConfigError(f"fingerprint rule expand must be true or false, got {self.expand!r}")

    def to_dict(self) -> dict:
        return asdict(self)


def _is_number(value) -> bool:
    """A real number that is not a bool (``True`` is an int to Python, not a threshold to a user)."""
    return isinstance(value, Real) and not isinstance(value, (bool, np.bool_))


def field_profiles(events: ibis.Table, features: tuple[str, ...],
                   group: str = "cluster") -> tuple[ibis.Table, ibis.Table]:
    """Per (group, feature): distinct values, attempts and entropy; and the top values with counts.

    Both are aggregates whose size is bounded by groups × features (× ``TOP_VALUES``); the group
    column comes back named ``cluster`` whatever ``group`` is. The summary is a histogram of value
    counts (``values`` values were used ``n`` times each), all integers: the entropy is then summed
    in Python in a fixed order (:func:`_summarise`), where a float sum in the engine would depend
    on the order its threads meet the rows.
    """
    parts = [events.select(cluster=events[group], feature=ibis.literal(name), value=events[f"f_{name}"])
             for name in features]
    stacked = parts[0].union(*parts[1:]) if len(parts) > 1 else parts[0]
    vc = stacked.group_by(["cluster", "feature", "value"]).agg(n=stacked.count())
    summary = vc.group_by(["cluster", "feature", "n"]).agg(values=vc.count())
    rank = ibis.row_number().over(group_by=[vc.cluster, vc.feature], order_by=[ibis.desc(vc.n), vc.value])
    top = vc.mutate(rank=rank).filter(lambda r: r["rank"] < TOP_VALUES).drop("rank")
    return summary, top


def _entropy(counts: np.ndarray) -> float:
    counts = counts[counts > 0].astype(float)
    if counts.sum() == 0:
        return 0.0
    p = counts / counts.sum()
    return float(-(p * np.log(p)).sum())


def _summarise(hist: pd.DataFrame) -> pd.DataFrame:
    """Per (cluster, feature): distinct values, attempts and Σ n·log n, from the value-count histogram
    of :func:`field_profiles`, summed in (cluster, feature, n) order so the result is bit-identical
    however the engine returned the rows."""
    h = hist.sort_values(["cluster", "feature", "n"]).astype({"n": "int64", "values": "int64"})
    n = h.n.to_numpy(dtype=float)
    h = h.assign(total=h.n * h["values"], nlogn=h["values"] * n * np.log(n))
    return h.groupby(["cluster", "feature"], as_index=False, sort=True).agg(
        distinct=("values", "sum"), total=("total", "sum"), sum_nlogn=("nlogn", "sum"))


def label_fields(summary: pd.DataFrame, top: pd.DataFrame, rarities: dict[str, FieldRarity],
                 rules: FingerprintRules, max_values: int | None = None) -> dict[int, dict[str, dict]]:
    """``{cluster: {feature: description}}`` with kind, values, shares and entropies.

    ``summary`` and ``top`` are :func:`field_profiles`' aggregates, brought back. ``max_values``
    overrides ``rules.max_values``: a whole mixture cluster may hold a few campaigns, so it is
    searched for up to :data:`TOP_VALUES` values before being split by them.
    """
    max_values = max_values or rules.max_values
    out: dict[int, dict[str, dict]] = {}
    # Clusters ascending, features in the hunt's order (that of ``rarities``), not the engine's.
    position = {name: i for i, name in enumerate(rarities)}
    summary = _summarise(summary)
    summary = summary.assign(_pos=summary.feature.map(position)).sort_values(["cluster", "_pos"])
    for row in summary.itertuples(index=False):
        total = float(row.total)
        entropy = float(np.log(total) - row.sum_nlogn / total) if total > 0 else 0.0
        fr = rarities[row.feature]
        base = fr.values.set_index("value").n_success
        base_entropy = _entropy(base.to_numpy())
        tv = top[(top.cluster == row.cluster) & (top.feature == row.feature)].sort_values(
            ["n", "value"], ascending=[False, True])
        lead = tv.head(max_values)
        lead_share = float(lead.n.sum() / total) if total else 0.0
        invariant = lead_share >= rules.share
        values = lead.value.tolist() if invariant else tv.value.tolist()
        lead_base = base.reindex(lead.value).fillna(0) / max(fr.n_baseline, 1)
        baseline_share = float(lead_base.sum())
        if invariant:
            kind = "invariant"
        elif base_entropy > 0 and entropy >= rules.random_entropy_ratio * base_entropy and row.distinct > max_values:
            kind = "randomised"
        else:
            kind = "mixed"
        out.setdefault(int(row.cluster), {})[row.feature] = {
            "kind": kind,
            "distinctive": bool(invariant and baseline_share <= rules.max_baseline_share),
            "has_rare_value": bool(invariant and lead_base.min() <= rules.max_baseline_share / max_values),
            "values": values,
            "top_share": round(lead_share, 4),
            "distinct_values": int(row.distinct),
            "entropy": round(entropy, 4),
            "baseline_entropy": round(base_entropy, 4),
            "baseline_share": round(baseline_share, 6),
        }
    return out


def distinctive(fields: dict[str, dict], *, lenient: bool = False) -> dict[str, list[str]]:
    """The fingerprint: distinctive invariant field → its few values.

    ``lenient`` (used on whole mixture clusters, before they are split into campaigns) also takes
    an invariant field when only some of its values are rare: a cluster holding an IMAP4 spray and
    a Browser one is still split on client app, although Browser alone is common.
    """
    key = "has_rare_value" if lenient else "distinctive"
    return {name: d["values"] for name, d in fields.items() if d["distinctive"] or d[key]}


#: Fields that move together (a user agent implies its browser and OS; an IP its prefix and city),
#: counted as one difference when deciding whether two value combinations are one campaign.
FAMILIES = {"user_agent": "agent", "browser": "agent", "os": "agent", "ip_prefix": "place",
            "country": "place", "state": "place", "city": "place"}
VARYING = ("agent", "place")
KEY_SEP, NAME_SEP = "\x1f", "\x1e"


def value_key(t: ibis.Table, fields: list[str]) -> ibis.StringValue:
    """The row's values on ``fields`` as one ``name=value`` string: the sub-campaign key.

    Separator characters inside values (log content is attacker-controlled) become spaces, so a
    crafted user agent cannot forge extra key parts.
    """
    key = ibis.literal("")
    for name in fields:
        value = t[f"f_{name}"].replace(KEY_SEP, " ").replace(NAME_SEP, " ")
        key = key.concat(KEY_SEP, name, NAME_SEP, value)
    return key


def parse_key(key: str) -> dict[str, str]:
    """``name → value`` from a :func:`value_key` string."""
    out = {}
    for part in key.split(KEY_SEP):
        if NAME_SEP in part:
            name, value = part.split(NAME_SEP, 1)
            out[name] = value
    return out


def merge_keys(spans: pd.DataFrame, min_span_days: float) -> dict[tuple[int, str], int]:
    """Group value combinations into campaigns: ``{(cluster, key): campaign number}``.

    What a spray tool varies is its user agent and its address (the ``agent`` and ``place`` field
    families); what it keeps is the rest (client app, app, device name). So two combinations are one
    campaign when they agree on every common field outside those families — within one mixture
    cluster directly, across clusters only if they share at least one such anchor field (a campaign
    rotating user agents lands in several clusters, because some of its agents are rarer than
    others). A burst (span under ``min_span_days``) is never merged with a trickle, and combinations
    split off for one heavily hit user (``user`` in the key: a brute force) stay on their own.
    ``spans`` has columns cluster, key, first, last; campaigns are numbered in (cluster, key) order,
    whatever order the rows come in (the engine returns groups in any order).
    """
    rows = list(spans.sort_values(["cluster", "key"], kind="stable").itertuples(index=False))
    parent = list(range(len(rows)))

    def root(i: int) -> int:
        while parent[i] != i:
            parent[i] = parent[parent[i]]
            i = parent[i]
        return i

    parsed = [parse_key(r.key) for r in rows]
    slow = [(r.last - r.first).total_seconds() >= min_span_days * 86400 for r in rows]
    for i in range(len(rows)):
        for j in range(i + 1, len(rows)):
            a, b = parsed[i], parsed[j]
            if slow[i] != slow[j] or "user" in a or "user" in b:
                continue
            common = set(a) & set(b)
            anchors = {n for n in common if FAMILIES.get(n) not in VARYING}
            if any(a[n] != b[n] for n in anchors):
                continue
            if rows[i].cluster == rows[j].cluster:
                fixed = {n for n in set(a) ^ set(b) if FAMILIES.get(n) not in VARYING}
                if not fixed:
                    parent[root(i)] = root(j)
            elif anchors:
                parent[root(i)] = root(j)
    roots = sorted({root(i) for i in range(len(rows))})
    number = {r: n for n, r in enumerate(roots)}
    return {(int(r.cluster), r.key): number[root(i)] for i, r in enumerate(rows)}


def campaign_members(spans: pd.DataFrame) -> list[int]:
    """A campaign's mixture clusters, most attempts first (ties: lower cluster first).

    The first one names the campaign's cluster and its anomalous fields, which the pruning rules
    judge, so a tie must not be broken by the engine's row order. ``spans`` has cluster and n.
    """
    sizes = spans.groupby("cluster").n.sum().reset_index()
    return sizes.sort_values(["n", "cluster"], ascending=[False, True]).cluster.astype(int).tolist()


def merge_campaigns(labels: dict[int, dict[str, dict]], spans: pd.DataFrame,
                    min_span_days: float, alone: set[int] = frozenset()) -> dict[int, int]:
    """Second merge, on whole campaigns: ``{campaign: merged campaign}``.

    A campaign whose attempts fall into clusters with different distinctive fields (its rare user
    agents in one, its ordinary ones in another) is still one tool if, measured over its own attempts,
    both parts hold the same values on every invariant field outside the agent / place families
    (client app, app …), at least one of those shared fields is distinctive, and both trickle (or both
    burst). Campaigns in ``alone`` (split off for one heavily hit user) are never merged.
    ``labels`` is :func:`label_fields` per campaign; ``spans`` has campaign, first, last.
    """
    ids = sorted(labels)
    span = spans.groupby("campaign").agg(first=("first", "min"), last=("last", "max"))
    slow = {c: (span.loc[c, "last"] - span.loc[c, "first"]).total_seconds() >= min_span_days * 86400
            for c in ids if c in span.index}
    parent = {c: c for c in ids}

    def root(c: int) -> int:
        while parent[c] != c:
            parent[c] = parent[parent[c]]
            c = parent[c]
        return c

    def anchors(c: int) -> dict[str, dict]:
        return {f: d for f, d in labels[c].items()
                if d["kind"] == "invariant" and FAMILIES.get(f) not in VARYING}

    for i, a in enumerate(ids):
        for b in ids[i + 1:]:
            if slow.get(a) != slow.get(b) or a in alone or b in alone:
                continue
            fa, fb = anchors(a), anchors(b)
            common = set(fa) & set(fb)
            if not common or any(set(fa[f]["values"]) != set(fb[f]["values"]) for f in common):
                continue
            if any(fa[f]["distinctive"] or fb[f]["distinctive"] for f in common):
                parent[root(a)] = root(b)
    return {c: root(c) for c in ids}


def matches(t: ibis.Table, fingerprint: dict[str, list[str]]) -> ibis.BooleanValue:
    """Rows of ``t`` that carry the fingerprint's values on every fingerprint field."""
    cond = ibis.literal(True)
    for name, values in fingerprint.items():
        cond = cond & t[f"f_{name}"].isin(values)
    return cond
