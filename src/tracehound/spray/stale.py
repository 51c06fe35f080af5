"""Stale credentials: a service or device that keeps a retired password is not an attack.

A mail relay, a scanner or a phone whose password was changed goes on signing in on its clock: one
account failing from one address every few minutes, for days. To a burst rule it looks like a brute
force (many failures on one account); to a spray rule like a trickle. What tells it apart is what an
operator would check: the failures come on a near-fixed period (its gaps are, but for a few missed
cycles, multiples of one period), for a day or more, from an address the account itself signed in
from successfully before it began failing, or in a network other accounts of the tenant sign in
from (the office egress, a server in the office network). Such an (account, address) is reported as ``stale_credentials`` — low severity,
a ticket for whoever owns the service, and a lockout waiting to happen — and its failures are set
aside before campaigns are built, so they are never a brute force or a spray.

Engine work: per (account, address) counts and spans of password-type failures (typos set aside by
the retry rule included, as a stale device's owner may well sign in from the same place); for the
few heavy pairs, the histogram of their gaps (1 % wide bins on a log scale) and the successes of the
account and of others from the address or its network.
"""

from __future__ import annotations

import ibis
import numpy as np
import pandas as pd

from ..engine import Engine
from ..findings import Finding, iso_utc
from .bursts import source
from .kinds import STALE_CREDENTIALS
from .pruning import PruningRules
from .rarity import EMPTY, stage

#: Gaps under this many seconds are a client's immediate retry, not a cycle of its clock.
RETRY_SECONDS = 60
#: Other accounts that must sign in successfully from the address's network for it to be the tenant's.
SHARED_BY = 2
STALE_COLUMNS = ["user", "ip", "src", "attempts", "first", "last", "period_seconds", "regularity",
                 "own_successes", "other_accounts", "client_app", "app", "user_agent"]


def failures(bits: ibis.Table) -> ibis.Table:
    """Every password-type failure in scope, typos set aside by the retry rule included."""
    return bits.filter(bits.is_candidate | bits.retried)


def find_stale(bits: ibis.Table, engine: Engine, rules: PruningRules) -> pd.DataFrame:
    """One row per stale (account, address), in (account, address) order; columns :data:`STALE_COLUMNS`."""
    f = failures(bits)
    pairs = f.group_by(["user", "ip"]).agg(attempts=f.count(), first=f.time.min(), last=f.time.max())
    span = pairs["last"].epoch_seconds() - pairs["first"].epoch_seconds()
    heavy = engine.to_pandas(pairs.filter((pairs.attempts >= rules.stale_min_attempts) &
                                          (span >= rules.stale_min_span_hours * 3600)))
    if heavy.empty:
        return pd.DataFrame(columns=STALE_COLUMNS)
    heavy = heavy.sort_values(["user", "ip"], kind="stable").reset_index(drop=True)
    lookup = stage(engine, heavy[["user", "ip"]].rename(columns={"user": "k_user", "ip": "k_ip"}))
    mine = f.join(lookup, (f.user == lookup.k_user) & (f.ip == lookup.k_ip)).drop("k_user", "k_ip")
    order = ibis.window(group_by=[mine.user, mine.ip], order_by=[mine.time, mine.event_id])
    gap = (mine.time.epoch_seconds() - mine.time.lag().over(order).epoch_seconds()).cast("float64")
    gaps = mine.mutate(gap=gap).filter(lambda t: t.gap.notnull())
    gaps = gaps.mutate(bin=ibis.ifelse(gaps.gap < RETRY_SECONDS, -1, (gaps.gap.ln() * 100).round().cast("int64")))
    hist = engine.to_pandas(gaps.group_by(["user", "ip", "bin"]).agg(n=gaps.count()))
    heavy = heavy.merge(_periods(hist, rules), on=["user", "ip"], how="left")
    heavy = heavy[heavy.regularity.fillna(0) >= rules.stale_regularity]
    if heavy.empty:
        return pd.DataFrame(columns=STALE_COLUMNS)
    return _known_sources(heavy, bits, mine, engine)


def _periods(hist: pd.DataFrame, rules: PruningRules) -> pd.DataFrame:
    """Per (account, address): its period (median gap, retries left out) and the share of its gaps
    within ``stale_tolerance`` of a whole number of periods (a skipped cycle is still on the clock)."""
    out = []
    for (user, ip), h in hist.sort_values(["user", "ip", "bin"]).groupby(["user", "ip"], sort=True):
        cycles = h[h.bin >= 0]
        if cycles.empty:
            continue
        gap = np.exp(cycles.bin.to_numpy(dtype=float) / 100)
        w = cycles.n.to_numpy(dtype=float)
        period = float(gap[np.searchsorted(np.cumsum(w), w.sum() / 2)])
        k = np.maximum(1, np.round(gap / period))
        on_clock = np.abs(gap - k * period) <= rules.stale_tolerance * period
        out.append({"user": user, "ip": ip, "period_seconds": round(period, 1),
                    "regularity": round(float(w[on_clock].sum() / w.sum()), 4)})
    return pd.DataFrame(out, columns=["user", "ip", "period_seconds", "regularity"])


def _known_sources(heavy: pd.DataFrame, bits: ibis.Table, mine: ibis.Table, engine: Engine) -> pd.DataFrame:
    """The regular pairs whose address the account signed in from, or whose network other accounts
    sign in from; with the tool-like fields the failures carry."""
    s = bits.filter(bits.success)
    s = s.mutate(src=source(s))
    lookup = stage(engine, heavy[["user", "ip"]].rename(columns={"user": "k_user", "ip": "k_ip"}))
    nets = mine.mutate(src=source(mine)).select("user", "ip", "src").distinct()
    nets = engine.to_pandas(nets).sort_values(["user", "ip"])
    heavy = heavy.merge(nets.drop_duplicates(["user", "ip"]), on=["user", "ip"], how="left")
    # Successes of the account from the address *before* it started failing: an attacker who finally
    # guesses the password has no such history.
    began = stage(engine, heavy[["user", "ip", "first"]].rename(columns={"user": "k_user", "ip": "k_ip",
                                                                         "first": "k_first"}))
    own = s.join(began, (s.user == began.k_user) & (s.ip == began.k_ip) & (s.time < began.k_first))
    own = engine.to_pandas(own.group_by(["user", "ip"]).agg(own_successes=own.count()))
    srcs = stage(engine, pd.DataFrame({"k_src": sorted(set(heavy.src.dropna()))}))
    near = s.join(srcs, s.src == srcs.k_src)
    near = engine.to_pandas(near.group_by(["src", "user"]).agg(n=near.count()))
    heavy = heavy.merge(own, on=["user", "ip"], how="left")
    heavy["own_successes"] = heavy.own_successes.fillna(0).astype("int64")
    heavy["other_accounts"] = [int((near[(near.src == src) & (near.user != user)]).user.nunique())
                               for user, src in zip(heavy.user, heavy.src)]
    heavy = heavy[(heavy.own_successes > 0) | (heavy.other_accounts >= SHARED_BY)].copy()
    if heavy.empty:
        return pd.DataFrame(columns=STALE_COLUMNS)
    fields = [c for c in ("client_app", "app", "user_agent") if f"f_{c}" in mine.columns]
    if fields:
        keyed = mine.join(lookup, (mine.user == lookup.k_user) & (mine.ip == lookup.k_ip))
        tops = engine.to_pandas(keyed.group_by(["user", "ip", *[f"f_{c}" for c in fields]]).agg(n=keyed.count()))
        tops = tops.sort_values(["user", "ip", "n", *[f"f_{c}" for c in fields]],
                                ascending=[True, True, False, *[True] * len(fields)])
        first = tops.drop_duplicates(["user", "ip"]).rename(columns={f"f_{c}": c for c in fields})
        heavy = heavy.merge(first[["user", "ip", *fields]], on=["user", "ip"], how="left")
    for c in ("client_app", "app", "user_agent"):
        if c not in heavy.columns:
            heavy[c] = EMPTY
    return heavy.sort_values(["user", "ip"], kind="stable")[STALE_COLUMNS].reset_index(drop=True)


def stale_ids(bits: ibis.Table, stale: pd.DataFrame, engine: Engine) -> ibis.Table | None:
    """The failures of the stale pairs as a one-column table ``x_id`` (to set aside), or None."""
    if stale.empty:
        return None
    f = failures(bits)
    lookup = stage(engine, stale[["user", "ip"]].rename(columns={"user": "k_user", "ip": "k_ip"}))
    return engine.cache(f.join(lookup, (f.user == lookup.k_user) & (f.ip == lookup.k_ip)).select(x_id=f.event_id))


def stale_findings(bits: ibis.Table, stale: pd.DataFrame, engine: Engine, first_rank: int) -> list[Finding]:
    """One low-severity ``stale_credentials`` finding per stale (account, address)."""
    if stale.empty:
        return []
    f = failures(bits)
    lookup = stage(engine, stale[["user", "ip"]].rename(columns={"user": "k_user", "ip": "k_ip"}))
    ev = f.join(lookup, (f.user == lookup.k_user) & (f.ip == lookup.k_ip))
    ev = engine.to_pandas(ev.select("user", "ip", "event_id", "time")).sort_values(["user", "ip", "time", "event_id"])
    out = []
    for rank, row in enumerate(stale.itertuples(index=False), start=first_rank):
        mine = ev[(ev.user == row.user) & (ev.ip == row.ip)]
        daily = mine.time.dt.strftime("%Y-%m-%d").value_counts().sort_index()
        span_days = (row.last - row.first) / pd.Timedelta(days=1)
        minutes = row.period_seconds / 60
        where = ("an address this account signed in from successfully" if row.own_successes else
                 f"a network {row.other_accounts} other accounts of the tenant sign in from")
        client = "" if row.client_app in (None, EMPTY) else f" over {row.client_app}"
        out.append(Finding(
            kind=STALE_CREDENTIALS, id=f"{STALE_CREDENTIALS}-{rank:03d}",
            title=(f"Stale credentials: {row.user} fails every {minutes:.0f} min from {row.ip} "
                   f"({row.attempts} failed sign-ins over {span_days:.1f} days)"),
            severity="low", score=float(round(np.log10(1 + row.attempts) * row.regularity, 4)),
            first_seen=iso_utc(row.first), last_seen=iso_utc(row.last),
            actors={}, targets={"users": [row.user], "ips": [row.ip]}, event_ids=mine.event_id.tolist(),
            explanation=(f"Between {iso_utc(row.first)} and {iso_utc(row.last)}, {row.user} failed to sign in "
                         f"{row.attempts} times from {row.ip}{client}, on a near-fixed clock of about "
                         f"{minutes:.1f} minutes ({row.regularity:.0%} of the gaps are whole periods), from "
                         f"{where}. A service or device keeps a retired password: this is not an attack, "
                         "but it will keep the account locked out and hides real failures. Find the "
                         "service or device on that address and update or remove its stored password."),
            evidence={"account": row.user, "address": row.ip, "network": row.src, "attempts": int(row.attempts),
                      "span_days": round(float(span_days), 3), "period_seconds": float(row.period_seconds),
                      "regularity": float(row.regularity), "own_successes_from_address": int(row.own_successes),
                      "other_accounts_in_network": int(row.other_accounts), "client_app": row.client_app,
                      "app": row.app, "user_agent": row.user_agent,
                      "daily_attempts": {"campaign": {d: int(n) for d, n in daily.items()}}},
        ))
    return out
