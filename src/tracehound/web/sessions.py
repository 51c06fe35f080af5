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
from .states import is_static

CLIENT_KEYS = ("ip_ua", "ip")
#: Separates IP and user agent inside the client key; a control character never logged verbatim.
KEY_SEP = "\x1f"
#: A session is "machine-paced" with at least this many page requests and either very regular pauses
#: (coefficient of variation below MACHINE_MAX_CV) or more than MACHINE_MIN_RPM pages a minute: a
#: reader who clicks on as soon as a page appears manages a page every few seconds, not two a second.
MACHINE_MIN_REQUESTS = 10
MACHINE_MAX_CV = 0.3
MACHINE_MIN_RPM = 30.0


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
    t = with_session_id(session_parts(requests, gap=gap, max_length=max_length, client=client), client)
    return t.select(*requests.columns, "client", "ts", "session_id", "seq")


def session_parts(requests: ibis.Table, *, gap: timedelta = timedelta(minutes=30),
                  max_length: timedelta = timedelta(hours=12), client: str = "ip_ua") -> ibis.Table:
    """``requests`` plus ``ts``, ``seq`` and the session as numbers: ``run`` (pauses over ``gap``
    so far for this client) and ``chunk`` (``max_length`` slices of the run).

    This is the form to store: (client, run, chunk) names a session exactly, and two integers cost
    far less to write, read and sort than the client and session id texts (a user agent each), which
    :func:`with_session_id` derives when they are needed.
    """
    gap_s, max_s = int(gap.total_seconds()), int(max_length.total_seconds())
    if gap_s <= 0 or max_s <= 0:
        raise ConfigError("session gap and max_length must be positive")
    t = requests.mutate(ts=requests.time.epoch_seconds())
    by_client = ibis.window(group_by=_client_columns(t, client), order_by=[t.ts, t.event_id])
    t = t.mutate(prev_ts=t.ts.lag().over(by_client))
    t = t.mutate(new=(t.prev_ts.isnull() | ((t.ts - t.prev_ts) > gap_s)).cast("int64"))
    # The running count of pauses numbers the runs and, over the same ordered window (one sort),
    # the latest run start's time is the run's start: ts never decreases along the window.
    so_far = ibis.window(group_by=_client_columns(t, client), order_by=[t.ts, t.event_id],
                         preceding=None, following=0)
    started = ibis.ifelse(t.new == 1, t.ts, ibis.null(t.ts.type()))
    # (run starts counted, not summed: DuckDB sums BIGINT into HUGEINT, which Parquet stores as a double)
    t = t.mutate(run=started.count().over(so_far), run_start=started.max().over(so_far))
    t = t.mutate(chunk=((t.ts - t.run_start) // max_s).cast("int64"))
    by_session = ibis.window(group_by=[*_client_columns(t, client), t.run, t.chunk], order_by=[t.ts, t.event_id])
    t = t.mutate(seq=(ibis.row_number().over(by_session) + 1).cast("int64"))
    return t.drop("prev_ts", "new", "run_start")


def _client_columns(t: ibis.Table, client: str) -> list[ibis.Value]:
    """The client as separate columns, to partition by: the same groups as :func:`client_key` (an
    IP address never holds its separator) without building a text per row."""
    client_key(t, client)  # validates ``client``
    return [t.client_ip] if client == "ip" else [t.client_ip, t.user_agent.fill_null("-")]


def with_session_id(parts: ibis.Table, client: str = "ip_ua") -> ibis.Table:
    """A :func:`session_parts` table plus ``client`` and ``session_id`` (``client#run.chunk``)."""
    t = parts.mutate(client=client_key(parts, client))
    return t.mutate(session_id=t.client + "#" + t.run.cast("string") + "." + t.chunk.cast("string"))


def session_stats(sessions: ibis.Table) -> ibis.Table:
    """Per session: client, window, request count, and how fast and how regularly it asked for pages.

    Pacing is measured on *page* requests only (static assets excluded: a browser fetches a page's
    images and scripts by itself, within a second, whoever reads it), from the real time between
    the first and the last page: ``rpm`` = ``(pages − 1) · 60 / seconds`` (the span is floored at one
    second, the resolution of most access logs), so 50 requests in 22 s are 134 a minute, not "50 a
    minute" from rounding the span up to a minute. ``gap_cv`` is the coefficient of variation of the
    pauses between pages: people read, so their pauses vary (CV around 1 or more); scripts fire on a
    timer or as fast as they can (CV near 0). ``machine_paced`` marks sessions of at least
    :data:`MACHINE_MIN_REQUESTS` pages with ``gap_cv`` below :data:`MACHINE_MAX_CV` or more than
    :data:`MACHINE_MIN_RPM` pages a minute — faster than anyone reads.
    """
    agg = sessions.group_by("session_id").agg(
        client_ip=sessions.client_ip.arbitrary(),
        user_agent=sessions.user_agent.arbitrary(),
        first_seen=sessions.time.min(),
        last_seen=sessions.time.max(),
        requests=sessions.count(),
        duration_s=(sessions.ts.max() - sessions.ts.min()).cast("float64"),
    )
    pages = sessions.filter(~is_static(sessions.path))
    w = ibis.window(group_by=pages.session_id, order_by=[pages.ts, pages.event_id])
    p = pages.mutate(pause=(pages.ts - pages.ts.lag().over(w)).cast("float64"))
    pace = p.group_by(p_session=p.session_id).agg(
        pages=p.count(), page_span_s=(p.ts.max() - p.ts.min()).cast("float64"),
        pause_mean=p.pause.mean(), pause_std=p.pause.std(how="pop"))
    agg = agg.left_join(pace, agg.session_id == pace.p_session).drop("p_session")
    n_pages = agg.pages.fill_null(0)
    agg = agg.mutate(pages=n_pages,
                     rpm=ibis.ifelse(n_pages > 1, (n_pages - 1) * 60.0 / ibis.greatest(agg.page_span_s, 1.0),
                                     0.0),
                     gap_cv=ibis.ifelse(agg.pause_mean > 0, agg.pause_std / agg.pause_mean, 0.0).fill_null(0.0))
    machine = (agg.pages >= MACHINE_MIN_REQUESTS) & (
        (agg.gap_cv < MACHINE_MAX_CV) | (agg.rpm > MACHINE_MIN_RPM))
    return agg.drop("page_span_s").mutate(machine_paced=machine)
