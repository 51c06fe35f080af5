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
from typing import Sequence

import ibis

from ..engine import epoch_seconds
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
    client_key_check(client)
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
    t = session_runs(requests, gap=gap, max_length=max_length, client=client)
    by_session = ibis.window(group_by=[*_client_columns(t, client), t.run, t.chunk], order_by=[t.ts, t.event_id])
    return t.mutate(seq=(ibis.row_number().over(by_session) + 1).cast("int64"))


def session_runs(requests: ibis.Table, *, gap: timedelta = timedelta(minutes=30),
                 max_length: timedelta = timedelta(hours=12), client: str = "ip_ua",
                 by: Sequence[str] | None = None, mark: str | None = None) -> ibis.Table:
    """:func:`session_parts` without ``seq``: what the hunt stores (its transitions number the
    pages themselves, so a third sort for ``seq`` would be wasted).

    ``by``: the columns that name a client, when ``requests`` already numbers them (``cid`` from
    :func:`client_ids`) — instead of the address and user agent of ``client``.
    ``mark`` names a boolean column of ``requests``; the result then also holds ``<mark>_client``:
    whether any request of the same client has it (1 or 0). It rides on the window that numbers the runs
    (same partition, same order), so it costs no sort of its own.
    """
    gap_s, max_s = int(gap.total_seconds()), int(max_length.total_seconds())
    if gap_s <= 0 or max_s <= 0:
        raise ConfigError("session gap and max_length must be positive")
    t = requests.mutate(ts=epoch_seconds(requests.time))

    def clients(t: ibis.Table) -> list[ibis.Value]:
        return [t[c] for c in by] if by is not None else _client_columns(t, client)

    by_client = ibis.window(group_by=clients(t), order_by=[t.ts, t.event_id])
    t = t.mutate(prev_ts=t.ts.lag().over(by_client))
    t = t.mutate(new=(t.prev_ts.isnull() | ((t.ts - t.prev_ts) > gap_s)).cast("int64"))
    # The running count of pauses numbers the runs and, over the same ordered window (one sort),
    # the latest run start's time is the run's start: ts never decreases along the window.
    so_far = ibis.window(group_by=clients(t), order_by=[t.ts, t.event_id], preceding=None, following=0)
    started = ibis.ifelse(t.new == 1, t.ts, ibis.null(t.ts.type()))
    # (run starts counted, not summed: DuckDB sums BIGINT into HUGEINT, which Parquet stores as a double)
    marks = {}
    if mark is not None:
        everything = ibis.window(group_by=clients(t), order_by=[t.ts, t.event_id], preceding=None, following=None)
        marks[f"{mark}_client"] = t[mark].cast("int64").max().over(everything)
    t = t.mutate(run=started.count().over(so_far), run_start=started.max().over(so_far), **marks)
    t = t.mutate(chunk=((t.ts - t.run_start) // max_s).cast("int64"))
    return t.drop("prev_ts", "new", "run_start")


#: The columns that name a session of the hunt's staged tables: the client's number and the two
#: session numbers.
SESSION_KEYS = ("cid", "run", "chunk")


def client_names(client: str = "ip_ua") -> list[str]:
    """The columns of :func:`client_ids` that identify a client: ``client_ip`` (and ``agent``)."""
    client_key_check(client)
    return ["client_ip"] if client == "ip" else ["client_ip", "agent"]


def client_ids(requests: ibis.Table, client: str = "ip_ua") -> ibis.Table:
    """One row per client of ``requests``: ``client_ip``, for ``ip_ua`` also ``agent`` (the user
    agent as the client key reads it, missing as ``-``) and ``user_agent`` (as logged: missing or
    ``-``; ``-`` when both were logged, so the choice never depends on row order), and ``cid``, a
    number from 1 in that order.

    Every later window and group of the hunt is per client or per session; an integer sorts and
    hashes far cheaper than an address and a 100-character user agent, which would otherwise be
    compared again for every pair of requests of one client, and the sessions need not store the
    user agent of every request. ``requests`` must hold ``agent`` for ``ip_ua`` (:func:`with_agent`).
    """
    names = client_names(client)
    if client == "ip":
        t = requests.select(*names).distinct()
    else:
        t = requests.group_by(names).agg(user_agent=requests.user_agent.max())
    return t.mutate(cid=ibis.row_number().over(ibis.window(order_by=[t[c] for c in names])).cast("int64"))


def with_agent(requests: ibis.Table, client: str = "ip_ua") -> ibis.Table:
    """``requests`` plus ``agent`` (the user agent, missing as ``-``) when the client key uses it."""
    client_key_check(client)
    return requests if client == "ip" else requests.mutate(agent=requests.user_agent.fill_null("-"))


def with_session_names(t: ibis.Table, clients: ibis.Table, client: str = "ip_ua") -> ibis.Table:
    """A table keyed by :data:`SESSION_KEYS` plus its client's ``client_ip`` and the ``client`` and
    ``session_id`` texts :func:`with_session_id` gives (``clients`` from :func:`client_ids`)."""
    names = client_names(client)
    t = t.join(clients.select("cid", *names), "cid")
    key = t.client_ip if client == "ip" else t.client_ip + KEY_SEP + t.agent
    t = t.mutate(client=key, session_id=_session_text(key, t.run, t.chunk))
    return t.drop(*(n for n in names if n != "client_ip"))


def _session_text(key: ibis.StringValue, run: ibis.IntegerValue, chunk: ibis.IntegerValue) -> ibis.StringValue:
    return key + "#" + run.cast("string") + "." + chunk.cast("string")


def client_key_check(client: str) -> None:
    """``ConfigError`` unless ``client`` is one of :data:`CLIENT_KEYS`."""
    if client not in CLIENT_KEYS:
        raise ConfigError(f"client must be one of {CLIENT_KEYS}, got {client!r}")


def _client_columns(t: ibis.Table, client: str) -> list[ibis.Value]:
    """The client as separate columns, to partition by: the same groups as :func:`client_key` (an
    IP address never holds its separator) without building a text per row."""
    client_key(t, client)  # validates ``client``
    return [t.client_ip] if client == "ip" else [t.client_ip, t.user_agent.fill_null("-")]


def with_session_id(parts: ibis.Table, client: str = "ip_ua") -> ibis.Table:
    """A :func:`session_parts` table plus ``client`` and ``session_id`` (``client#run.chunk``)."""
    t = parts.mutate(client=client_key(parts, client))
    return t.mutate(session_id=_session_text(t.client, t.run, t.chunk))


def session_stats(sessions: ibis.Table) -> ibis.Table:
    """Per session (``session_id``): client, window, request count, and how fast and how regularly
    it asked for pages — :func:`session_pace` of :func:`session_totals` and :func:`session_pages`."""
    keys = ["session_id"]
    return session_pace(session_totals(sessions, keys), session_pages(sessions, keys), keys)


def session_totals(sessions: ibis.Table, keys: Sequence[str]) -> ibis.Table:
    """Per session (named by the ``keys`` columns), over every request, assets included: client
    address and a user agent (those ``sessions`` has), first and last time, requests, duration."""
    keys = list(keys)
    metrics = {c: sessions[c].arbitrary() for c in ("client_ip", "user_agent") if c in sessions.columns}
    return sessions.group_by(keys).agg(
        **metrics,
        first_seen=sessions.time.min(),
        last_seen=sessions.time.max(),
        requests=sessions.count(),
        duration_s=(sessions.ts.max() - sessions.ts.min()).cast("float64"),
    )


def session_pages(sessions: ibis.Table, keys: Sequence[str]) -> ibis.Table:
    """The page requests (static assets left out) with ``pause``, the seconds since the session's
    previous page; what :func:`session_pace` measures."""
    pages = sessions.filter(~is_static(sessions.path))
    w = ibis.window(group_by=[pages[k] for k in keys], order_by=[pages.ts, pages.event_id])
    return pages.mutate(pause=(pages.ts - pages.ts.lag().over(w)).cast("float64"))


def session_pace(totals: ibis.Table, pages: ibis.Table, keys: Sequence[str]) -> ibis.Table:
    """``totals`` (:func:`session_totals`) plus how fast and how regularly each session asked for pages.

    Pacing is measured on *page* requests only (static assets excluded: a browser fetches a page's
    images and scripts by itself, within a second, whoever reads it), from the real time between
    the first and the last page: ``rpm`` = ``(pages − 1) · 60 / seconds`` (the span is floored at one
    second, the resolution of most access logs), so 50 requests in 22 s are 134 a minute, not "50 a
    minute" from rounding the span up to a minute. ``gap_cv`` is the coefficient of variation of the
    pauses between pages: people read, so their pauses vary (CV around 1 or more); scripts fire on a
    timer or as fast as they can (CV near 0). ``machine_paced`` marks sessions of at least
    :data:`MACHINE_MIN_REQUESTS` pages with ``gap_cv`` below :data:`MACHINE_MAX_CV` or more than
    :data:`MACHINE_MIN_RPM` pages a minute — faster than anyone reads.

    ``pages``: the page requests with ``ts`` and ``pause`` (:func:`session_pages`; the hunt's
    transitions with assets folded away are exactly that, so it does not sort the pages twice).
    """
    keys = list(keys)
    p = pages
    pace = p.group_by(**{f"p_{k}": p[k] for k in keys}).agg(
        pages=p.count(), page_span_s=(p.ts.max() - p.ts.min()).cast("float64"),
        pause_mean=p.pause.mean(), pause_std=p.pause.std(how="pop"))
    agg = totals.left_join(pace, [totals[k] == pace[f"p_{k}"] for k in keys]).drop(*(f"p_{k}" for k in keys))
    n_pages = agg.pages.fill_null(0)
    agg = agg.mutate(pages=n_pages,
                     rpm=ibis.ifelse(n_pages > 1, (n_pages - 1) * 60.0 / ibis.greatest(agg.page_span_s, 1.0),
                                     0.0),
                     gap_cv=ibis.ifelse(agg.pause_mean > 0, agg.pause_std / agg.pause_mean, 0.0).fill_null(0.0))
    machine = (agg.pages >= MACHINE_MIN_REQUESTS) & (
        (agg.gap_cv < MACHINE_MAX_CV) | (agg.rpm > MACHINE_MIN_RPM))
    return agg.drop("page_span_s").mutate(machine_paced=machine)
