"""From mixture clusters to campaigns: separate the tools, measure, judge and expand them (steps 5–7).

A mixture cluster groups failed sign-ins by *which fields look unusual*; a campaign is one tool's
attempts. So the attempts of every unusual cluster are partitioned into tools (:mod:`.tools`: one
product distribution over the fields a tool picks, per attempt, from its own small sets, and over
time and targets), accounts hit far more often than a spray would are split off, and each campaign
is measured and judged by the pruning rules. Bursts are then regrouped by their source
(:mod:`.bursts`), and a kept low-and-slow campaign takes back the unclaimed failures that carry its
whole fingerprint.

Every function takes what it works on as arguments (the scored sign-ins, the fitted rarities and
rules, the engine) and returns what it built, so one call cannot leave state behind for another.
Row-level work over the sign-ins is Ibis on the engine; only the distinct value patterns of the
unusual attempts and the campaigns' own attempts (at most one row per attempt) come back, and the
campaigns are measured from those.
"""

from __future__ import annotations

import ibis
import numpy as np
import pandas as pd

from ..engine import Engine
from .bursts import regroup
from .fingerprint import (FingerprintRules, campaign_members, distinctive, field_profiles, label_fields, matches,
                          rotation_candidates)
from .kinds import PASSWORD_SPRAY
from .pruning import PruningRules, campaign_score, judge, ks_uniform
from .rarity import FieldRarity, stage
from .rotation import rotation_aggregates, rotation_tests
from .scores import CLUSTER_COLUMNS
from .tools import field_priors, partition


def cluster_table(bits: ibis.Table, cand_pats: pd.DataFrame, theta: np.ndarray, engine: Engine, *,
                  features: tuple[str, ...], rarities: list[FieldRarity], rules: PruningRules,
                  fingerprint_rules: FingerprintRules, set_aside: ibis.Table | None = None
                  ) -> tuple[pd.DataFrame, ibis.Table | None]:
    """One row per campaign (and per dropped mixture cluster), best first, and the campaigns' attempts.

    ``cand_pats``: the distinct candidate patterns of ``bits`` with their count, cluster and
    posterior confidence; ``theta``: the mixture's per-cluster field probabilities (a duplicate
    component's equals its representative's). A field is anomalous for a cluster when its theta is
    at least ``field_consistency``. ``set_aside`` (column ``x_id``): failures reported on their own
    (stale credentials) that no campaign may hold.
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
                                      rarities=rarities, rules=rules, fingerprint_rules=fingerprint_rules,
                                      set_aside=set_aside)
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


def tool_fields(features: tuple[str, ...]) -> tuple[list[str], list[str], bool]:
    """The fields a tool picks per attempt (client app, app, its user agent — or, without one, the
    browser it derives), the context fields (country) the tools are told apart by as well, and
    whether the tool fields end with the agent."""
    agent = ["user_agent"] if "user_agent" in features else ["browser"] if "browser" in features else []
    tool = [f for f in ("client_app", "app") if f in features] + agent
    return tool, [f for f in ("country",) if f in features], bool(agent)


def separate_tools(events: ibis.Table, engine: Engine, *, features: tuple[str, ...],
                   heavy_attempts: float) -> tuple[ibis.Table, pd.DataFrame, set[int]]:
    """Number the campaigns of ``events`` (the unusual clusters' attempts): each attempt's tool
    (:func:`.tools.partition` over the tool fields, the country, the week, the hour of day and the
    accounts tried more than once), with an account the tool hit at least ``heavy_attempts`` times split off on its own.

    Returns the attempts with ``campaign``, the (campaign, cluster, n) spans, and the campaigns split
    off for one account. Campaigns are numbered by tool, then account, in value order — whatever
    order the engine returns the patterns in.
    """
    tool, context, agent = tool_fields(features)
    keys = [f"f_{f}" for f in (*tool, *context)] + ["t_week", "t_hour", "t_user"]
    t = events.mutate(t_week=(events.time.epoch_seconds() // (7 * 86400)).cast("int64"),
                      t_hour=(events.time.hour() // 4).cast("int64"), t_user=events.user.fill_null(""))
    full = engine.to_pandas(t.group_by([*keys, "cluster"]).agg(n=t.count()))
    if full.empty:
        return t.mutate(campaign=ibis.literal(0, "int64")).limit(0), pd.DataFrame(
            columns=["campaign", "cluster", "n"]), set()
    full = full.astype({"t_week": "int64", "t_hour": "int64", "cluster": "int64", "n": "int64"})
    full = full.sort_values([*keys, "cluster"], kind="stable").reset_index(drop=True)
    pats = full.groupby(keys, sort=True, as_index=False).n.sum()
    # The target list tells two tools apart only through accounts tried more than once (a tool that
    # cycles its list comes back to them). An account tried once says nothing about which tool tried
    # it, and a sprayer working through its list once would otherwise look like two tools with disjoint
    # targets, one per half of its period (issue 11: disjoint targets at one cadence are *one*
    # campaign); those attempts share one value.
    tries = pats.groupby("t_user").n.sum()
    pats = pats.assign(t_list=pats.t_user.where(pats.t_user.map(tries) > 1, ""))
    shape = [*keys[:-1], "t_list"]
    tools = pats.groupby(shape, sort=True, as_index=False).n.sum()
    codes = np.stack([pd.factorize(tools[c], sort=True)[0] for c in shape], axis=1)
    alpha, either = field_priors(codes, tool=len(tool), agent=agent, context=len(context))
    tools["tool"] = partition(codes, tools.n.to_numpy(), alpha=alpha, either=either,
                              conjoin=tuple(range(len(tool)))).labels
    pats = pats.merge(tools[[*shape, "tool"]], on=shape, how="left", sort=False)
    hits = pats.groupby(["tool", "t_user"], sort=True).n.sum()
    heavy = {k for k, n in hits.items() if n >= heavy_attempts}
    pats["heavy"] = [u if (g, u) in heavy else "" for g, u in zip(pats.tool, pats.t_user)]
    numbers = {k: i for i, k in enumerate(sorted(set(zip(pats.tool, pats.heavy))))}
    pats["campaign"] = [numbers[k] for k in zip(pats.tool, pats.heavy)]
    alone = {numbers[k] for k in numbers if k[1]}
    spans = full.merge(pats[[*keys, "campaign"]], on=keys).groupby(["campaign", "cluster"], as_index=False).n.sum()
    lookup = stage(engine, pats[[*keys, "campaign"]].rename(columns={c: f"l_{c}" for c in keys})
                   .astype({"campaign": "int64"}))
    joined = t.join(lookup, [t[c] == lookup[f"l_{c}"] for c in keys])
    return engine.cache(joined.drop(*[f"l_{c}" for c in keys], "t_week", "t_hour", "t_user")), spans, alone


def measure(bits: ibis.Table, cand_pats: pd.DataFrame, wanted: list[int], anomalous: dict[int, list[str]],
            engine: Engine, *, features: tuple[str, ...], rarities: list[FieldRarity], rules: PruningRules,
            fingerprint_rules: FingerprintRules, set_aside: ibis.Table | None = None
            ) -> tuple[list[dict], ibis.Table | None]:
    """Engine aggregates for the candidate clusters: tools, campaigns and their statistics.

    1. keep the attempts of the unusual clusters that the mixture places confidently, less those
       ``set_aside`` (column ``x_id``: stale credentials, reported on their own);
    2. separate them into tools and split heavily hit accounts off (:func:`separate_tools`);
    3. measure and judge each campaign, regroup the bursts by source and window
       (:func:`.bursts.regroup`), and expand the kept low-and-slow ones (:func:`expand`).

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
    if set_aside is not None:
        events = events.anti_join(set_aside, events.event_id == set_aside.x_id)
    campaign, spans, alone = separate_tools(events, engine, features=features,
                                            heavy_attempts=rules.heavy_attempts_per_user)
    if spans.empty:
        return [{**dropped_row(k, 0, anomalous[k], rules), "failed_rules": ["min_confidence"]}
                for k in wanted], None
    members = spans.groupby("campaign").apply(campaign_members, include_groups=False)
    measured = dict(features=features, rarities=by_feature, rules=rules, fingerprint_rules=fingerprint_rules)
    rows = campaign_rows(campaign, members, anomalous, engine, **measured)
    regrouped = regroup(bits, campaign, rows, engine, rules=rules, set_aside=set_aside)
    if regrouped is not None:
        campaign, members, alone = regrouped.attempts, regrouped.members, alone - regrouped.replaced
        rows = _remeasure(rows, campaign, members, regrouped.replaced | set(members.index) - _ids(rows),
                          anomalous, engine, **measured)
    if fingerprint_rules.expand:
        expanded = expand(bits, campaign, rows, engine, alone, set_aside=set_aside)
        if expanded is not None:
            campaign, changed = expanded
            rows = _remeasure(rows, campaign, members, changed, anomalous, engine, **measured)
    covered = {m for c in members for m in c}
    for k in wanted:
        if k not in covered:
            rows.append({**dropped_row(k, 0, anomalous[k], rules), "failed_rules": ["min_confidence"]})
    return rows, campaign


def _ids(rows: list[dict]) -> set[int]:
    return {int(r["campaign"]) for r in rows}


def _remeasure(rows: list[dict], campaign: ibis.Table, members: pd.Series, changed: set[int],
               anomalous: dict[int, list[str]], engine: Engine, **measured) -> list[dict]:
    """``rows`` with the ``changed`` campaigns measured again (those gone from ``members`` dropped):
    only what a step moved is re-aggregated."""
    present = {int(c) for c in members.index}
    again = sorted(changed & present)
    kept = [r for r in rows if int(r["campaign"]) in present and int(r["campaign"]) not in changed]
    fresh = campaign_rows(campaign, members, anomalous, engine, only=again, **measured) if again else []
    return sorted(kept + fresh, key=lambda r: int(r["campaign"]))


def campaign_rows(campaign: ibis.Table, members: pd.Series, anomalous: dict[int, list[str]], engine: Engine, *,
                  features: tuple[str, ...], rarities: dict[str, FieldRarity], rules: PruningRules,
                  fingerprint_rules: FingerprintRules, only: list[int] | None = None) -> list[dict]:
    """Statistics, fingerprint and verdict of every campaign in ``campaign`` (its attempts, brought back once).

    ``members``: each campaign's mixture clusters, most attempts first (the first names its cluster
    and anomalous fields); ``only``: measure just these campaigns.
    """
    if only is not None:
        campaign = campaign.filter(campaign.campaign.isin(list(only)))
    # One row per attempt, brought back once: the campaigns hold the unusual clusters' attempts (as
    # many rows as the patterns separate_tools brought back), and their dozen small aggregates cost
    # Ibis and the engine far more to plan than pandas to compute.
    attempts = engine.to_pandas(campaign.select("campaign", "user", "ip", "time", "confidence",
                                                *(f"f_{f}" for f in features)))
    attempts["day"] = attempts.time.dt.floor("D")
    per = attempts.groupby("campaign", sort=True)
    stats = per.agg(attempts=("time", "size"), users=("user", "nunique"), ips=("ip", "nunique"),
                    first_seen=("time", "min"), last_seen=("time", "max"),
                    active_days=("day", "nunique")).reset_index()
    # Attempts per (campaign, day, posterior), for two uses: the daily counts, and the mean posterior
    # summed in a fixed order. Expanded attempts have no posterior.
    cells = attempts.groupby(["campaign", "day", "confidence"], sort=False, dropna=False).size().rename("n") \
        .reset_index()
    conf = cells[cells.confidence.notna()].groupby(["campaign", "confidence"], as_index=False, sort=True).n.sum()
    conf = conf.assign(w=lambda f: f.n * f.confidence).groupby("campaign").agg(w=("w", "sum"), n=("n", "sum"))
    stats["confidence"] = stats.campaign.map(conf.w / conf.n)
    daily = cells.groupby(["campaign", "day"], as_index=False, sort=True).n.sum()
    summary, top = field_profiles(attempts, features, group="campaign")
    pairs = rotation_candidates(summary, top, fingerprint_rules)
    rotation = {}
    if not pairs.empty:
        rotation = rotation_tests(*rotation_aggregates(attempts, pairs, sorted(set(pairs.feature))))
    own = label_fields(summary, top, rarities, fingerprint_rules, rotation)
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
           alone: set[int] = frozenset(), *, set_aside: ibis.Table | None = None
           ) -> tuple[ibis.Table, set[int]] | None:
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
    burst again). Returns the campaigns' attempts after the move and the campaigns that gained or
    lost attempts, or None when nothing is kept.
    """
    kept = [r for r in rows if r["kind"] == PASSWORD_SPRAY and r["fingerprint"]]
    if not kept:
        return None
    cand = bits.filter(bits.is_candidate & (bits.pattern != 0))
    claimed = sorted({int(r["campaign"]) for r in rows if r["kind"] is not None} | set(alone))
    taken = campaign.filter(campaign.campaign.isin(claimed)).select(t_id=campaign.event_id)
    free = cand.anti_join(taken, cand.event_id == taken.t_id)
    if set_aside is not None:
        free = free.anti_join(set_aside, free.event_id == set_aside.x_id)
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
    moved = extra.select(x_id=extra.event_id, x_campaign=extra.campaign)
    held = campaign.join(moved, campaign.event_id == moved.x_id)
    changed = engine.to_pandas(held.select("campaign").distinct().union(moved.select(campaign=moved.x_campaign)
                                                                        .distinct()))
    rest = campaign.anti_join(moved, campaign.event_id == moved.x_id)
    return engine.cache(rest.union(extra)), {int(c) for c in changed.campaign}
