"""What a campaign holds fixed, what it rotates among a few values, and what it randomises.

Step 7. A spray tool rotates what is cheap to rotate (IP addresses, cities), often picks per attempt
from a short list of its own (a few legacy protocols, admin tools, exit countries, user agents), and
keeps what its author never thought about (one odd user agent, legacy IMAP, one app). For each
campaign and field we measure, over its attempts brought back, the number of distinct values, the
entropy and the top values; here we label each field:

- **invariant**: one value covers at least ``share`` of the attempts ("client_app always IMAP4");
- **rotated**: a few values (at most ``max_rotation``) cover ``share``, and the value is independent of
  when and of whom the attempt targets (:mod:`.rotation`) — "client app rotated among IMAP4 and
  Authenticated SMTP". Two tools that each keep one protocol, or travellers each in one country, fail
  that test and are not a rotation;
- either is *distinctive* when its values are rare among successful sign-ins (baseline share at most
  ``max_baseline_share``) — "always IMAP" is a fingerprint, "always Office 365" is not. A rotated
  *place* (exit countries, cities, networks) is reported but is no fingerprint: it is where the
  proxies sit, and the campaign's own attempts and successes come from elsewhere too;
- **randomised**: many values, entropy at least ``random_entropy_ratio`` of the field's baseline
  entropy — "randomises IP prefix and city";
- **mixed**: anything else.

The distinctive invariant and rotated fields are the campaign's fingerprint: an attempt or a success
carrying one of its values on every such field looks like the campaign (:func:`matches`).
"""

from __future__ import annotations

from dataclasses import asdict, dataclass
from numbers import Real

import ibis
import numpy as np
import pandas as pd

from ..errors import ConfigError
from .rarity import FieldRarity

#: Fields that say where an attempt came from rather than what sent it.
PLACE_FIELDS = ("ip_prefix", "country", "state", "city")
#: Top values per (campaign, field) brought back: enough for the longest rotation set.
TOP_VALUES = 8


@dataclass(frozen=True)
class FingerprintRules:
    """Thresholds for labelling a campaign's fields; see the module docstring."""

    max_values: int = 3
    max_rotation: int = 8
    rotation_p: float = 0.001
    share: float = 0.9
    max_baseline_share: float = 0.2
    random_entropy_ratio: float = 0.5
    success_posterior: float = 0.5
    success_slack_days: float = 1.0
    success_slack_gaps: float = 3.0
    success_specific_max: int = 20
    expand: bool = True

    def __post_init__(self) -> None:
        # Checked here, not where used: a config file's ``share = "90%"`` would otherwise surface as a
        # TypeError deep in the hunt, after the data was read.
        for name in ("share", "max_baseline_share", "random_entropy_ratio", "success_posterior", "rotation_p"):
            value = getattr(self, name)
            if not _is_number(value) or not 0 <= value <= 1:
                raise ConfigError(f"fingerprint rule {name} must be a number within [0, 1], got {value!r}")
        for name, least in (("max_values", 1), ("max_rotation", 1), ("success_specific_max", 0)):
            value = getattr(self, name)
            if not isinstance(value, (int, np.integer)) or isinstance(value, bool) or value < least:
                raise ConfigError(f"fingerprint rule {name} must be an integer of at least {least}, got {value!r}")
        for name in ("success_slack_days", "success_slack_gaps"):
            value = getattr(self, name)
            if not _is_number(value) or value < 0:
                raise ConfigError(f"fingerprint rule {name} must be a non-negative number, got {value!r}")
        if not isinstance(self.expand, (bool, np.bool_)):
            raise ConfigError(f"fingerprint rule expand must be true or false, got {self.expand!r}")

    def to_dict(self) -> dict:
        return asdict(self)


def _is_number(value) -> bool:
    """A real number that is not a bool (``True`` is an int to Python, not a threshold to a user)."""
    return isinstance(value, Real) and not isinstance(value, (bool, np.bool_))


def field_profiles(attempts: pd.DataFrame, features: tuple[str, ...],
                   group: str = "cluster") -> tuple[pd.DataFrame, pd.DataFrame]:
    """Per (group, feature): a histogram of value counts; and the top values with counts.

    ``attempts``: the attempts brought back, with the ``group`` column and ``f_<feature>`` columns.
    Both results are bounded by groups × features (× ``TOP_VALUES``); the group column comes back
    named ``cluster`` whatever ``group`` is. The summary is a histogram of value counts (``values``
    values were used ``n`` times each), all integers, whose entropy :func:`_summarise` sums in a
    fixed order. Top values are ranked by count, then value.
    """
    parts = [pd.DataFrame({"cluster": attempts[group].to_numpy(), "feature": name,
                           "value": attempts[f"f_{name}"].to_numpy()}) for name in features]
    stacked = pd.concat(parts, ignore_index=True)
    vc = stacked.groupby(["cluster", "feature", "value"], sort=False).size().rename("n").reset_index()
    summary = vc.groupby(["cluster", "feature", "n"], sort=False).size().rename("values").reset_index()
    top = vc.sort_values(["cluster", "feature", "n", "value"], ascending=[True, True, False, True], kind="stable")
    return summary, top.groupby(["cluster", "feature"], sort=False).head(TOP_VALUES).reset_index(drop=True)


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
                 rules: FingerprintRules, rotation: dict[tuple[int, str], dict] | None = None
                 ) -> dict[int, dict[str, dict]]:
    """``{campaign: {feature: description}}`` with kind, values, shares, entropies and, for a rotated
    field, the p-values of its rotation tests.

    ``summary`` and ``top`` are :func:`field_profiles`' aggregates, brought back; ``rotation`` holds
    :func:`~.rotation.rotation_tests` for the (campaign, feature) pairs whose few values cover
    ``share`` (:func:`rotation_candidates`). Without it a few-valued field is never called rotated.
    """
    out: dict[int, dict[str, dict]] = {}
    rotation = rotation or {}
    # Campaigns ascending, features in the hunt's order (that of ``rarities``), not the engine's.
    position = {name: i for i, name in enumerate(rarities)}
    summary = _summarise(summary)
    summary = summary.assign(_pos=summary.feature.map(position)).sort_values(["cluster", "_pos"])
    tops = _tops(top)
    baseline = {}
    for row in summary.itertuples(index=False):
        total = float(row.total)
        entropy = float(np.log(total) - row.sum_nlogn / total) if total > 0 else 0.0
        if row.feature not in baseline:
            fr = rarities[row.feature]
            counts = dict(zip(fr.values.value, fr.values.n_success.astype(float)))
            baseline[row.feature] = (counts, _entropy(fr.values.n_success.to_numpy()), max(fr.n_baseline, 1))
        base, base_entropy, n_baseline = baseline[row.feature]
        values_all, counts_all = tops.get((int(row.cluster), row.feature), ([], np.zeros(0)))
        lead = _lead(counts_all, total, rules)
        tests = rotation.get((int(row.cluster), row.feature))
        if lead == 1:
            kind = "invariant"
        elif lead and tests is not None and min(tests.values()) >= rules.rotation_p:
            kind = "rotated"
        elif base_entropy > 0 and entropy >= rules.random_entropy_ratio * base_entropy and \
                row.distinct > rules.max_values:
            kind = "randomised"
        else:
            kind = "mixed"
        pinned = kind == "invariant" or (kind == "rotated" and row.feature not in PLACE_FIELDS)
        values = values_all[:lead] if kind in ("invariant", "rotated") else values_all[:TOP_VALUES]
        lead_share = float(counts_all[:len(values)].sum() / total) if total else 0.0
        baseline_share = float(sum(base.get(v, 0.0) for v in values) / n_baseline)
        described = {
            "kind": kind,
            "distinctive": bool(pinned and baseline_share <= rules.max_baseline_share),
            "values": list(values),
            "top_share": round(lead_share, 4),
            "distinct_values": int(row.distinct),
            "entropy": round(entropy, 4),
            "baseline_entropy": round(base_entropy, 4),
            "baseline_share": round(baseline_share, 6),
        }
        if tests is not None and lead and lead > 1:
            described["rotation_tests"] = dict(tests)
        out.setdefault(int(row.cluster), {})[row.feature] = described
    return out


def _tops(top: pd.DataFrame) -> dict[tuple[int, str], tuple[list, np.ndarray]]:
    """``{(campaign, feature): (values, counts)}``, most used first (ties by value)."""
    ordered = top.sort_values(["cluster", "feature", "n", "value"], ascending=[True, True, False, True],
                              kind="stable")
    return {(int(c), str(f)): (g.value.tolist(), g.n.to_numpy(dtype=float))
            for (c, f), g in ordered.groupby(["cluster", "feature"], sort=False)}


def _lead(counts: np.ndarray, total: float, rules: FingerprintRules) -> int | None:
    """How many top values (at most ``max_rotation``) it takes to cover ``share`` of the attempts, or None."""
    if not total:
        return None
    enough = np.flatnonzero(np.cumsum(counts[:rules.max_rotation]) / total >= rules.share)
    return int(enough[0]) + 1 if len(enough) else None


def rotation_candidates(summary: pd.DataFrame, top: pd.DataFrame, rules: FingerprintRules) -> pd.DataFrame:
    """(campaign, feature) pairs whose few values (two to ``max_rotation``) cover ``share``: the ones
    whose rotation tests :func:`label_fields` needs. Columns campaign, feature."""
    totals = _summarise(summary).set_index(["cluster", "feature"]).total.to_dict()
    rows = [{"campaign": c, "feature": f} for (c, f), (_, counts) in sorted(_tops(top).items())
            if (_lead(counts, float(totals.get((c, f), 0)), rules) or 0) > 1]
    return pd.DataFrame(rows, columns=["campaign", "feature"])


def distinctive(fields: dict[str, dict]) -> dict[str, list[str]]:
    """The fingerprint: distinctive invariant or rotated field → its values."""
    return {name: d["values"] for name, d in fields.items() if d["distinctive"]}


def campaign_members(spans: pd.DataFrame) -> list[int]:
    """A campaign's mixture clusters, most attempts first (ties: lower cluster first).

    The first one names the campaign's cluster and its anomalous fields, which the pruning rules
    judge, so a tie must not be broken by the engine's row order. ``spans`` has cluster and n.
    """
    sizes = spans.groupby("cluster").n.sum().reset_index()
    return sizes.sort_values(["n", "cluster"], ascending=[False, True]).cluster.astype(int).tolist()


def matches(t: ibis.Table, fingerprint: dict[str, list[str]]) -> ibis.BooleanValue:
    """Rows of ``t`` that carry one of the fingerprint's values on every fingerprint field."""
    cond = ibis.literal(True)
    for name, values in fingerprint.items():
        cond = cond & t[f"f_{name}"].isin(values)
    return cond


def carries(frame: pd.DataFrame, fingerprint: dict[str, list[str]]) -> np.ndarray:
    """:func:`matches` on rows brought back: a mask of the rows of ``frame`` that carry one of the
    fingerprint's values on every fingerprint field."""
    hit = np.ones(len(frame), bool)
    for name, values in fingerprint.items():
        hit &= frame[f"f_{name}"].isin(values).to_numpy()
    return hit
