"""Sessionising web requests in the engine, and per-session timing statistics.

A session is one client's run of requests with no pause longer than ``gap`` (30 minutes, the
analytics industry's convention), cut again every ``max_length`` so a crawler that never pauses
does not become one endless session. A client is the IP and user agent together by default: many
people share a NAT address, and a scanner that rotates user agents from one IP still shows up under
``client="ip"``.

Everything is Ibis window functions (lag, running sum, row number), so it runs on DuckDB and Spark.
"""

from __future__ import annotations

from datetime import timedelta

import ibis

from ..errors import ConfigError

CLIENT_KEYS = ("ip_ua", "ip")
#: Separates IP and user agent inside the client key; a control character never logged verbatim.
KEY_SEP = "\x1f"
#: A session is "machine-paced" with at least this many requests and either very regular pauses
#: (coefficient of variation below MACHINE_MAX_CV) or more than MACHINE_MIN_RPM requests a minute.
MACHINE_MIN_REQUESTS = 10
MACHINE_MAX_CV = 0.3
MACHINE_MIN_RPM = 60.0


def client_key(requests: ibis.Table, client: str = "ip_ua") -> ibis.StringValue:
    """The expression that identifies a client: ``ip`` or ``ip`` + user agent."""
    if client not in CLIENT_KEYS:
        raise ConfigError(f"client must be one of {CLIENT_KEYS}, got {client!r}")
    if client == "ip":
        return requests.client_ip
    return requests.client_ip + KEY_SEP + requests.user_agent.fill_null("-")


def sessionize(requests: ibis.Table, *, gap: timedelta = timedelta(minutes=30),
               max_length: timedelta = timedelta(hours=12), client: str = "ip_ua") -> ibis.Table:
    """``requests`` plus ``client``, ``session_id``, ``seq`` (1-based order in the session) and ``ts``.

    Requests are ordered by time, then ``event_id`` so ties are broken the same way on every engine.
    """
    gap_s, max_s = int(gap.total_seconds()), int(max_length.total_seconds())
    if gap_s <= 0 or max_s <= 0:
        raise ConfigError("session gap and max_length must be positive")
    t = requests.mutate(client=client_key(requests, client), ts=requests.time.epoch_seconds())
    by_client = ibis.window(group_by=t.client, order_by=[t.ts, t.event_id])
    t = t.mutate(prev_ts=t.ts.lag().over(by_client))
    t = t.mutate(new=(t.prev_ts.isnull() | ((t.ts - t.prev_ts) > gap_s)).cast("int64"))
    t = t.mutate(run=t.new.cumsum().over(by_client))
    t = t.mutate(run_start=t.ts.min().over(ibis.window(group_by=[t.client, t.run])))
    t = t.mutate(chunk=((t.ts - t.run_start) // max_s).cast("int64"))
    t = t.mutate(session_id=t.client + "#" + t.run.cast("string") + "." + t.chunk.cast("string"))
    by_session = ibis.window(group_by=t.session_id, order_by=[t.ts, t.event_id])
    t = t.mutate(seq=(ibis.row_number().over(by_session) + 1).cast("int64"))
    return t.drop("prev_ts", "new", "run", "run_start", "chunk")


def session_stats(sessions: ibis.Table) -> ibis.Table:
    """Per session: client, window, request count, requests per minute and pacing regularity.

    ``gap_cv`` is the coefficient of variation of the pauses between requests: people read, so their
    pauses vary (CV around 1 or more); scripts fire on a timer or as fast as they can (CV near 0).
    ``machine_paced`` marks sessions of at least :data:`MACHINE_MIN_REQUESTS` requests with
    ``gap_cv`` below :data:`MACHINE_MAX_CV` or a rate above :data:`MACHINE_MIN_RPM` per minute.
    """
    w = ibis.window(group_by=sessions.session_id, order_by=[sessions.ts, sessions.event_id])
    t = sessions.mutate(pause=(sessions.ts - sessions.ts.lag().over(w)).cast("float64"))
    agg = t.group_by("session_id").agg(
        client_ip=t.client_ip.arbitrary(),
        user_agent=t.user_agent.arbitrary(),
        first_seen=t.time.min(),
        last_seen=t.time.max(),
        requests=t.count(),
        duration_s=(t.ts.max() - t.ts.min()).cast("float64"),
        pause_mean=t.pause.mean(),
        pause_std=t.pause.std(how="pop"),
    )
    minutes = ibis.greatest(agg.duration_s / 60.0, 1.0)
    agg = agg.mutate(rpm=agg.requests / minutes,
                     gap_cv=ibis.ifelse(agg.pause_mean > 0, agg.pause_std / agg.pause_mean, 0.0))
    machine = (agg.requests >= MACHINE_MIN_REQUESTS) & (
        (agg.gap_cv < MACHINE_MAX_CV) | (agg.rpm > MACHINE_MIN_RPM))
    return agg.mutate(machine_paced=machine)

