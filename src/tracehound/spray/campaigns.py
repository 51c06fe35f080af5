"""From mixture clusters to campaigns: build, split, merge, measure and expand them (steps 5–7).

A mixture cluster groups failed sign-ins by *which fields look unusual*; a campaign is one tool's
attempts. So each unusual cluster is narrowed to the attempts carrying its distinctive values, split
by value combination (and by heavily hit account), merged back where combinations differ only in
what tools rotate, and each resulting campaign is measured and judged by the pruning rules. A kept
low-and-slow campaign then takes back the unclaimed failures that carry its whole fingerprint.

Every function takes what it works on as arguments (the scored sign-ins, the fitted rarities and
rules, the engine) and returns what it built, so one call cannot leave state behind for another.
Row-level work is Ibis on the engine; only per-campaign aggregates come back.
"""

from __future__ import annotations

import ibis
import numpy as np
import pandas as pd
import pyarrow as pa

from ..engine import Engine
from .fingerprint import (KEY_SEP, NAME_SEP, TOP_VALUES, FingerprintRules, campaign_members, distinctive,
                          field_profiles, label_fields, matches, merge_campaigns, merge_keys, parse_key,
                          value_key)
from .kinds import PASSWORD_SPRAY
from .pruning import PruningRules, campaign_score, judge, ks_uniform
from .rarity import FieldRarity
from .scores import CLUSTER_COLUMNS


def stage(engine: Engine, frame: pd.DataFrame) -> ibis.Table:
    """A small lookup table on the engine (staged as Parquet, so DuckDB and Spark join it alike)."""
    return engine.load(pa.Table.from_pandas(frame, preserve_index=False), "spray_lookup")


def cluster_table(bits: ibis.Table, cand_pats: pd.DataFrame, theta: np.ndarray, engine: Engine, *,
                  features: tuple[str, ...], rarities: list[FieldRarity], rules: PruningRules,
                  fingerprint_rules: FingerprintRules) -> tuple[pd.DataFrame, ibis.Table | None]:
    """One row per campaign (and per dropped mixture cluster), best first, and the campaigns' attempts.

    ``cand_pats``: the distinct candidate patterns of ``bits`` with their count, cluster and
    posterior confidence; ``theta``: the mixture's per-cluster field probabilities (a duplicate
    component's equals its representative's). A field is anomalous for a cluster when its theta is
    at least ``field_consistency``.
    """
    anomalous = {k: [f for d, f in enumerate(features) if theta[k, d] >= rules.field_consistency]
                 for k in range(theta.shape[0])}
    sizes = cand_pats.groupby("cluster").n.sum()
    # Small clusters stay in: a campaign split over several clusters is merged back below, and
    # min_attempts is judged on the campaign.
    wanted = [int(k) for k in sizes.index if len(anomalous[int(k)]) >= rules.min_anomalous_fields]
    rows = [dropped_row(int(k), int(n), anomalous[int(k)], rules) for k, n in sizes.items()
            if int(k) not in wanted]
    campaigns = None
    if wanted:
        measured, campaigns = measure(bits, cand_pats, wanted, anomalous, engine, features=features,
                                      rarities=rarities, rules=rules, fingerprint_rules=fingerprint_rules)
        rows.extend(measured)
    frame = pd.DataFrame(rows, columns=CLUSTER_COLUMNS) if rows else pd.DataFrame(columns=CLUSTER_COLUMNS)
    return frame.sort_values("score", ascending=False, kind="stable").reset_index(drop=True), campaigns


def dropped_row(k: int, n: int, anomalous: list[str], rules: PruningRules) -> dict:
    """The row of a mixture cluster that never became a campaign, with the rules it failed."""
    failed = []
    if n < rules.min_attempts:
        failed.append("min_attempts")
    if len(anomalous) < rules.min_anomalous_fields:
        failed.append("min_anomalous_fields")
    return {"cluster": k, "kind": None, "score": 0.0, "failed_rules": failed, "attempts": n,
            "anomalous_fields": len(anomalous), "anomalous": anomalous}


def _lookup(engine: Engine, spans: pd.DataFrame) -> ibis.Table:
    return stage(engine, spans[["cluster", "key", "campaign"]].rename(
        columns={"cluster": "l_cluster", "key": "l_key"}).astype({"l_cluster": "int64", "campaign": "int64"}))


def _numbered(sub: ibis.Table, lookup: ibis.Table) -> ibis.Table:
    """``sub``'s attempts with the campaign number of their (cluster, key)."""
    return sub.join(lookup, (sub.cluster == lookup.l_cluster) & (sub.key == lookup.l_key)) \
        .drop("l_cluster", "l_key").cache()


def measure(bits: ibis.Table, cand_pats: pd.DataFrame, wanted: list[int], anomalous: dict[int, list[str]],
            engine: Engine, *, features: tuple[str, ...], rarities: list[FieldRarity], rules: PruningRules,
            fingerprint_rules: FingerprintRules) -> tuple[list[dict], ibis.Table | None]:
    """Engine aggregates for the candidate clusters: fingerprints, sub-campaigns and their stats.

    1. profile each cluster's fields and find its distinctive invariant fields (up to
       ``TOP_VALUES`` values, as a cluster may hold several tools); keep only attempts carrying
       those values;
    2. split the cluster by value combination (and heavily hit users off on their own), merge
       combinations that differ only in what tools rotate, then merge campaigns that share their
       invariant values (:func:`merge_keys`, :func:`merge_campaigns`);
    3. measure each resulting campaign (size, users, span, evenness, its own fingerprint), and
       expand the kept low-and-slow ones (:func:`expand`).

    Returns the rows and the campaigns' attempts (None when no attempt passed the confidence rule).
    """
    keep = cand_pats[(cand_pats.confidence >= rules.min_confidence) & cand_pats.cluster.isin(wanted)]
    if keep.empty:
        return [{**dropped_row(k, 0, anomalous[k], rules), "failed_rules": ["min_confidence"]}
                for k in wanted], None
    by_feature = {fr.feature: fr for fr in rarities}
    assign = stage(engine, keep[["pattern", "cluster", "confidence"]].rename(
        columns={"pattern": "a_pattern"}).astype({"a_pattern": "int64", "cluster": "int64",
                                                  "confidence": "float64"}))
    events = bits.filter(bits.is_candidate)
    events = events.join(assign, events.pattern == assign.a_pattern).drop("a_pattern")
    summary, top = field_profiles(events, features)
    labels = label_fields(engine.to_pandas(summary), engine.to_pandas(top), by_feature, fingerprint_rules,
                          max_values=TOP_VALUES)
    fps = {k: distinctive(labels.get(k, {}), lenient=True) for k in wanted}
    cond, key = ibis.literal(False), ibis.literal("")
    for k in wanted:
        in_k = events.cluster == k
        cond = cond | (in_k & matches(events, fps[k]))
        key = ibis.ifelse(in_k, value_key(events, sorted(fps[k])), key)
    sub = events.filter(cond).mutate(key=key)
    # A user hit far more often than a spray would is split off: a brute force inside the cluster.
    per_user = sub.count().over(group_by=[sub.cluster, sub.key, sub.user])
    heavy = per_user >= rules.brute_force_min_attempts_per_user
    sub = sub.mutate(key=ibis.ifelse(heavy, sub.key.concat(KEY_SEP, "user", NAME_SEP, sub.user),
                                     sub.key)).cache()
    spans = engine.to_pandas(sub.group_by(["cluster", "key"]).agg(
        n=sub.count(), first=sub.time.min(), last=sub.time.max())) \
        .sort_values(["cluster", "key"], kind="stable").reset_index(drop=True)
    groups = merge_keys(spans, rules.min_span_days)
    spans["campaign"] = [groups[(int(c), k)] for c, k in zip(spans.cluster, spans.key)]
    campaign = _numbered(sub, _lookup(engine, spans))
    summary, top = field_profiles(campaign, features, group="campaign")
    first_pass = label_fields(engine.to_pandas(summary), engine.to_pandas(top), by_feature, fingerprint_rules)
    alone = {int(c) for c, k in zip(spans.campaign, spans.key) if "user" in parse_key(k)}
    merged = merge_campaigns(first_pass, spans, rules.min_span_days, alone)
    if any(k != v for k, v in merged.items()):
        spans["campaign"] = [merged.get(c, c) for c in spans.campaign]
        campaign = _numbered(sub, _lookup(engine, spans))
    members = spans.groupby("campaign").apply(campaign_members, include_groups=False)
    measured = dict(features=features, rarities=by_feature, rules=rules, fingerprint_rules=fingerprint_rules)
    rows = campaign_rows(campaign, members, anomalous, engine, **measured)
    if fingerprint_rules.expand:
        expanded = expand(bits, campaign, rows, engine, alone)
        if expanded is not None:
            campaign = expanded
            rows = campaign_rows(campaign, members, anomalous, engine, **measured)
    covered = {m for c in members for m in c}
    for k in wanted:
        if k not in covered:
            rows.append({**dropped_row(k, 0, anomalous[k], rules), "failed_rules": ["min_confidence"]})
    return rows, campaign


def campaign_rows(campaign: ibis.Table, members: pd.Series, anomalous: dict[int, list[str]], engine: Engine, *,
                  features: tuple[str, ...], rarities: dict[str, FieldRarity], rules: PruningRules,
                  fingerprint_rules: FingerprintRules) -> list[dict]:
    """Statistics, fingerprint and verdict of every campaign in ``campaign`` (engine aggregates).

    ``members``: each campaign's mixture clusters, most attempts first (the first names its cluster
    and anomalous fields).
    """
    stats = engine.to_pandas(campaign.group_by("campaign").agg(
        attempts=campaign.count(), users=campaign.user.nunique(), ips=campaign.ip.nunique(),
        first_seen=campaign.time.min(), last_seen=campaign.time.max(),
        active_days=campaign.time.date().nunique()))
    # Mean posterior from (campaign, confidence) counts, summed here in a fixed order: an engine
    # float mean depends on the order its threads meet the rows. Expanded attempts have none.
    scored = campaign.filter(campaign.confidence.notnull())
    conf = engine.to_pandas(scored.group_by(["campaign", "confidence"]).agg(n=scored.count()))
    conf = conf.sort_values(["campaign", "confidence"]).assign(w=lambda f: f.n * f.confidence)
    conf = conf.groupby("campaign").agg(w=("w", "sum"), n=("n", "sum"))
    stats["confidence"] = stats.campaign.map(conf.w / conf.n)
    daily = engine.to_pandas(campaign.group_by(["campaign", campaign.time.truncate("D").name("day")])
                             .agg(n=campaign.count()))
    summary, top = field_profiles(campaign, features, group="campaign")
    own = label_fields(engine.to_pandas(summary), engine.to_pandas(top), rarities, fingerprint_rules)
    rows = []
    for s in stats.sort_values("campaign").itertuples(index=False):
        c = int(s.campaign)
        clusters = members[c]
        k = clusters[0]  # the cluster holding most of the campaign
        d = daily[daily.campaign == c]
        day_index = ((d.day - d.day.min()) / pd.Timedelta(days=1)).round().astype("int64").to_numpy()
        fields = own.get(c, {})
        fp = dict(sorted(distinctive(fields).items()))  # measured over the campaign's own attempts
        row = {
            "cluster": k, "clusters": clusters, "campaign": c, "attempts": int(s.attempts),
            "users": int(s.users), "ips": int(s.ips), "first_seen": s.first_seen,
            "last_seen": s.last_seen,
            "span_days": round((s.last_seen - s.first_seen) / pd.Timedelta(days=1), 3),
            "active_days": int(s.active_days),
            "attempts_per_user": round(float(s.attempts) / max(int(s.users), 1), 3),
            "ks": round(ks_uniform(day_index, d.n.to_numpy()), 4),
            "confidence": round(float(s.confidence), 4),
            "anomalous_fields": len(anomalous[k]), "invariant_fields": len(fp),
            "anomalous": anomalous[k], "fingerprint": fp, "fields": fields,
        }
        kind, failed = judge(row, rules)
        row.update(kind=kind, failed_rules=failed, score=campaign_score(row) if kind else 0.0)
        rows.append(row)
    return rows


def expand(bits: ibis.Table, campaign: ibis.Table, rows: list[dict], engine: Engine,
           alone: set[int] = frozenset()) -> ibis.Table | None:
    """Move into each low-and-slow campaign the unclaimed failures in its span that carry its
    whole fingerprint and at least one anomalous field.

    The mixture places a campaign's attempts by which fields look rare, so a spray using ordinary
    browsers loses the attempts whose browser happened to be common into benign-looking clusters.
    Its fingerprint (e.g. always OfficeHome) finds them again; "at least one anomalous field"
    keeps ordinary typos that were not followed by a success out. Attempts of *reported*
    campaigns are claimed, and so are those of campaigns split off for one heavily hit account
    (``alone``: a failing service account or a brute force, explained by that account, never
    merged with anything either). An attempt in any other dropped campaign (e.g. a
    rare-user-agent cluster mixing two sprays, with no invariant field) is reported nowhere, so
    it moves to the campaign whose fingerprint it carries, and the dropped campaign is judged
    again without it (a fast spray that had one such straggler stretching its span is then a
    burst again). Returns the campaigns' attempts after the move, or None when nothing is kept.
    """
    kept = [r for r in rows if r["kind"] == PASSWORD_SPRAY and r["fingerprint"]]
    if not kept:
        return None
    cand = bits.filter(bits.is_candidate & (bits.pattern != 0))
    claimed = sorted({int(r["campaign"]) for r in rows if r["kind"] is not None} | set(alone))
    taken = campaign.filter(campaign.campaign.isin(claimed)).select(t_id=campaign.event_id)
    free = cand.anti_join(taken, cand.event_id == taken.t_id)
    parts = []
    for r in sorted(kept, key=lambda r: (-r["score"], r["campaign"])):
        hit = free.filter(matches(free, r["fingerprint"]) &
                          (free.time >= r["first_seen"].to_pydatetime()) &
                          (free.time <= r["last_seen"].to_pydatetime()))
        parts.append(hit.mutate(cluster=ibis.literal(-1, "int64"),
                                confidence=ibis.null("float64"), key=ibis.literal(""),
                                campaign=ibis.literal(int(r["campaign"]), "int64"),
                                rank=ibis.literal(len(parts), "int64")))
    extra = parts[0].union(*parts[1:]) if len(parts) > 1 else parts[0]
    first = ibis.row_number().over(group_by=extra.event_id, order_by=extra["rank"])
    # Stored once (a few hundred rows): it is used twice below, and on Spark repeating its
    # lineage inside the cached campaign table makes every later query plan grow out of memory.
    extra = engine.materialize(extra.mutate(_n=first).filter(lambda t: t._n == 0).drop("_n", "rank")
                               .select(*campaign.columns), "spray_expand").cast(campaign.schema())
    moved = extra.select(x_id=extra.event_id)
    rest = campaign.anti_join(moved, campaign.event_id == moved.x_id)
    return rest.union(extra).cache()
