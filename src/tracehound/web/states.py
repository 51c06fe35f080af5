"""From requests to Markov states, and from sessions to state transitions.

A state is ``METHOD /templated/path``: the query string is dropped, and the parts of a path that
change from visitor to visitor are replaced by placeholders — UUIDs (``{uuid}``), long hex ids
(``{hex}``), dates (``{date}``) and all-digit path segments (``{n}``) — so ``/orders/1234`` and
``/orders/98`` are the same page. Static assets (images, CSS, scripts, fonts) are
folded away by default: a browser fetches them in whatever order it likes, which says nothing about
the visitor, and failed asset requests are the commonest *benign* 404s (a broken image on a popular
page, ``/apple-touch-icon.png`` from every iPhone). The price is that a probe for a static file
(``/wp-includes/js/x.js``) is not seen; scanners that only probe assets are rare, and
``fold_static=False`` keeps them. Each session starts in ``START`` and ends in ``END``.
"""

from __future__ import annotations

from typing import Sequence

import ibis

START = "START"
END = "END"

STATIC_EXT = r"(?i)\.(?:css|js|mjs|png|jpe?g|gif|ico|svg|webp|avif|bmp|woff2?|ttf|otf|eot|map|mp4|webm|mp3)$"
_UUID = r"[0-9A-Fa-f]{8}-[0-9A-Fa-f]{4}-[0-9A-Fa-f]{4}-[0-9A-Fa-f]{4}-[0-9A-Fa-f]{12}"
_HEX = r"[0-9A-Fa-f]{16,}"
_DATE = r"\d{4}-\d{2}-\d{2}"


def template_path(path: ibis.StringValue) -> ibis.StringValue:
    """The path with volatile parts replaced by placeholders (engine expression).

    Replacements use no back-references (their syntax differs between RE2 and Java), so a digit
    segment is matched with its slashes and replaced twice to catch neighbours like ``/1/2/``.
    """
    p = path.fill_null("")
    p = p.re_replace(_UUID, "{uuid}").re_replace(_HEX, "{hex}").re_replace(_DATE, "{date}")
    p = p.re_replace(r"/\d+/", "/{n}/").re_replace(r"/\d+/", "/{n}/").re_replace(r"/\d+$", "/{n}")
    return p


def is_static(path: ibis.StringValue) -> ibis.BooleanValue:
    """Whether the path names a static asset (by extension)."""
    return path.fill_null("").re_search(STATIC_EXT)


#: The columns :func:`state_transitions` carries over from a :func:`~tracehound.web.sessions.sessionize` table.
SESSION_COLUMNS = ("client", "client_ip", "user_agent", "session_id")


def state_transitions(sessions: ibis.Table, *, fold_static: bool = True,
                      keys: Sequence[str] = ("session_id",), carry: Sequence[str] = SESSION_COLUMNS) -> ibis.Table:
    """One row per transition ``prev → state`` in each session, including ``START →`` and ``→ END``.

    Columns: ``carry`` (by default ``client, client_ip, user_agent, session_id``), then ``step,
    event_id, time, ts, pause, status, path, prev, prev_status, state``. The ``→ END`` row has no
    event, status, path or pause. ``pause`` is the seconds since the session's previous request in
    the sequence, which is what the pacing statistics need (computed here, on the window that orders
    the session anyway). ``keys``: the columns that name a session (``session_id`` by default; the
    hunt passes :data:`~tracehound.web.sessions.SESSION_KEYS`, which spares building that text per
    request).
    """
    t = sessions
    if fold_static:
        t = t.filter(~is_static(t.path))
    t = t.mutate(state=t.method.fill_null("?") + " " + template_path(t.path))
    w = ibis.window(group_by=[t[k] for k in keys], order_by=[t.ts, t.event_id])
    # the session's last request is the one with no next state (a state is never NULL): the same
    # ordered window as the rest, so one sort serves every column
    t = t.mutate(prev=t.state.lag().over(w).fill_null(START), prev_status=t.status.lag().over(w),
                 step=(ibis.row_number().over(w) + 1).cast("int64"), last=t.state.lead().over(w).isnull(),
                 pause=(t.ts - t.ts.lag().over(w)).cast("float64"))
    cols = [*carry, "step", "event_id", "time", "ts", "pause", "status", "path", "prev", "prev_status", "state"]
    moves = t.select(*cols)
    last = t.filter(t.last)
    ends = last.select(
        *carry, step=last.step + 1, event_id=ibis.null("string"), time=last.time, ts=last.ts,
        pause=ibis.null("float64"), status=ibis.null("int64"), path=ibis.null("string"), prev=last.state,
        prev_status=last.status, state=ibis.literal(END))
    return moves.union(ends)
