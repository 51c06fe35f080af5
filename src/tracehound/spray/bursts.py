"""Bursts by actor: a brute force or a fast spray is one finding per source and burst window.

The unit of a burst is its source: one address or /24 (the ``ip_prefix``) and the tool's user agent,
active in one window. Campaign building cuts along other lines — an account hit far more often than
the others is split off on its own, a tool that hits two accounts hard and three lightly leaves the
light ones in a piece too small to report — so a brute force on three accounts came out as three
findings, and one burst's lightly hit accounts as none. Here every attempt of a campaign judged a
burst is placed in its source's *window* (consecutive failed sign-ins from the prefix, carrying the
user agents seen in the burst, with gaps under ``burst_gap_hours``), the other failures in those
windows join it (an account tried a few times is still one the burst hit), and windows are tied into
one unit when a burst campaign spans them at once (a fast spray through many proxies is one). Units
replace the burst campaigns and are judged again, so each is one ``signin_brute_force`` or
``fast_spray`` finding listing every account it hit, with counts.
"""

from __future__ import annotations

from dataclasses import dataclass

import ibis
import pandas as pd

from ..engine import Engine
from .fingerprint import campaign_members
from .kinds import BRUTE_FORCE, FAST_SPRAY, PASSWORD_SPRAY
from .pruning import PruningRules
from .rarity import stage


@dataclass(frozen=True, eq=False)
class Regrouped:
    """The campaigns' attempts with the burst campaigns replaced by units (numbered after every
    existing campaign), each campaign's mixture clusters, and the campaign numbers replaced."""

    attempts: ibis.Table
    members: pd.Series
    replaced: set[int]


def source(t: ibis.Table) -> ibis.StringValue:
    """A burst's network: the row's ``ip_prefix`` feature when the hunt has it, else its address."""
    return (t.f_ip_prefix if "f_ip_prefix" in t.columns else t.ip.cast("string")).fill_null("")


def regroup(bits: ibis.Table, campaign: ibis.Table, rows: list[dict], engine: Engine, *, rules: PruningRules,
            set_aside: ibis.Table | None = None) -> Regrouped | None:
    """Burst campaigns (judged ``fast_spray`` / ``signin_brute_force`` in ``rows``) regrouped by source
    and window, and the dense windows of dropped campaigns (at least ``min_attempts`` failures from one
    source in one window: a burst the tools step placed together with a few unrelated attempts, which
    then failed the rules) made units of their own; None when there is none. ``set_aside`` (column
    ``x_id``) are failures reported on their own (stale credentials) that no burst may take."""
    bursts = sorted(int(r["campaign"]) for r in rows if r["kind"] in (FAST_SPRAY, BRUTE_FORCE))
    dropped = sorted(int(r["campaign"]) for r in rows if r["kind"] is None)
    if not bursts and not dropped:
        return None
    sprays = sorted(int(r["campaign"]) for r in rows if r["kind"] == PASSWORD_SPRAY)
    mine = campaign.filter(campaign.campaign.isin(bursts + dropped))
    pairs = mine.select(b_src=source(mine), b_ua=mine.ua_raw.fill_null("")).distinct()
    pool = bits.filter(bits.is_candidate)
    pool = pool.mutate(src=source(pool), agent=pool.ua_raw.fill_null(""))
    pool = pool.join(pairs, (pool.src == pairs.b_src) & (pool.agent == pairs.b_ua)).drop("b_src", "b_ua")
    if sprays:
        held = campaign.filter(campaign.campaign.isin(sprays)).select(h_id=campaign.event_id)
        pool = pool.anti_join(held, pool.event_id == held.h_id)
    if set_aside is not None:
        pool = pool.anti_join(set_aside, pool.event_id == set_aside.x_id)
    # Windows: a new one whenever the prefix was quiet for longer than the gap.
    order = ibis.window(group_by=pool.src, order_by=[pool.time, pool.event_id])
    gap = pool.time.epoch_seconds() - pool.time.lag().over(order).epoch_seconds()
    pool = pool.mutate(opens=ibis.ifelse(gap.isnull() | (gap > rules.burst_gap_hours * 3600), 1, 0))
    pool = pool.mutate(window=pool.opens.cumsum(group_by=pool.src, order_by=[pool.time, pool.event_id]))
    owner = campaign.select(o_id=campaign.event_id, o_campaign=campaign.campaign)
    pool = engine.cache(pool.left_join(owner, pool.event_id == owner.o_id).drop("o_id"))
    spans = engine.to_pandas(pool.group_by(["src", "window", "o_campaign"]).agg(
        first=pool.time.min(), last=pool.time.max(), n=pool.count()))
    units = _units(spans, bursts, rules.burst_gap_hours, dense=rules.min_attempts)
    if not units:
        return None
    base = max(int(r["campaign"]) for r in rows) + 1
    lookup = stage(engine, pd.DataFrame(
        [{"u_src": s, "u_window": int(w), "u_campaign": base + u} for (s, w), u in sorted(units.items())]
    ).astype({"u_window": "int64", "u_campaign": "int64"}))
    placed = pool.join(lookup, (pool.src == lookup.u_src) & (pool.window.cast("int64") == lookup.u_window))
    moved = placed.select(m_id=placed.event_id, m_campaign=placed.u_campaign)
    kept = campaign.anti_join(moved, campaign.event_id == moved.m_id)
    held = campaign.join(moved, campaign.event_id == moved.m_id)
    held = held.mutate(campaign=held.m_campaign).select(*campaign.columns)
    free = placed.filter(placed.o_campaign.isnull())
    free = free.mutate(cluster=ibis.literal(-1, "int64"), confidence=ibis.null("float64"),
                       campaign=free.u_campaign)
    free = free.select(*campaign.columns).cast(campaign.schema())
    # Stored once: the unit attempts are few, and on Spark the lineage of this union inside every
    # later query would otherwise grow with each step.
    attempts = engine.cache(engine.materialize(kept.union(held).union(free), "spray_bursts").cast(campaign.schema()))
    counts = engine.to_pandas(attempts.group_by(["campaign", "cluster"]).agg(n=attempts.count()))
    counts = counts[counts.cluster >= 0].sort_values(["campaign", "cluster"])
    members = counts.groupby("campaign").apply(campaign_members, include_groups=False)
    inside = [(str(a), int(w)) in units for a, w in zip(spans.src, spans.window)]
    replaced = {int(c) for c in spans.o_campaign[inside].dropna().unique()}
    return Regrouped(attempts=attempts, members=members, replaced=replaced)


def _units(spans: pd.DataFrame, bursts: list[int], gap_hours: float,
           dense: float = float("inf")) -> dict[tuple[str, int], int]:
    """``{(prefix, window): unit}`` for every window a burst campaign reaches or that holds at least
    ``dense`` failures; windows of one burst campaign that overlap or nearly touch in time (within
    ``gap_hours``) are one unit."""
    spans = spans.sort_values(["src", "window", "first"], kind="stable")
    whole = spans.groupby(["src", "window"]).agg(first=("first", "min"), last=("last", "max"), n=("n", "sum"))
    touched = spans[spans.o_campaign.isin(bursts)]
    nodes = sorted({(str(s), int(w)) for s, w in zip(touched.src, touched.window)} |
                   {(str(s), int(w)) for (s, w), n in whole.n.items() if n >= dense})
    if not nodes:
        return {}
    parent = {n: n for n in nodes}

    def root(n):
        while parent[n] != n:
            parent[n] = parent[parent[n]]
            n = parent[n]
        return n

    slack = pd.Timedelta(hours=gap_hours)
    for _, group in touched.groupby("o_campaign", sort=True):
        mine = sorted({(str(s), int(w)) for s, w in zip(group.src, group.window)},
                      key=lambda n: (whole.loc[n, "first"], n))
        reach = None
        for prev, node in zip([None, *mine[:-1]], mine):
            if prev is not None and whole.loc[node, "first"] <= reach + slack:
                parent[root(node)] = root(prev)
            reach = whole.loc[node, "last"] if reach is None else max(reach, whole.loc[node, "last"])
    roots = sorted({root(n) for n in nodes}, key=lambda n: (whole.loc[n, "first"], n))
    number = {r: i for i, r in enumerate(roots)}
    return {n: number[root(n)] for n in nodes}
