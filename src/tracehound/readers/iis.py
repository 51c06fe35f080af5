"""IIS W3C extended logs (``u_ex*.log``) → canonical ``web_requests`` rows, for the web hunt.

The format names its own columns: a ``#Fields:`` directive lists them (``date time s-ip cs-method
cs-uri-stem cs-uri-query s-port cs-username c-ip cs(User-Agent) cs(Referer) sc-status ...``) and
holds until the next one — IIS writes a new header block whenever it restarts or the logged fields
change, so the columns are taken from the latest directive, line by line. Values are separated by
single spaces, ``-`` is "no value", and IIS writes a space inside a value as ``+`` (so a ``+`` in a
user agent reads back as a space, as every IIS log tool reads it). Times are UTC.

The client is ``c-ip``, the connecting address. ``cs(X-Forwarded-For)`` is not used even where it
is logged: any client can send that header, and an address taken from it could put a bystander in
the blocklist (behind a load balancer, ``c-ip`` is the balancer's; log the client address there).
Values are typed like every reader's: ``c-ip`` must be an IP address, status and bytes integers,
the time inside the read's bounds; a line that is not, or has another number of values than its
``#Fields:`` names, is a reject with its line number.
"""

from __future__ import annotations

from typing import Iterator

from .limits import TimeBounds
from .staging import parse_time
from .stream import TextStream, fielded_rows
from .values import integer, ip, text

SOFTWARE = "#Software: Microsoft Internet Information Services"
#: The fields a line needs to be a request the web hunt can use.
REQUIRED = ("date", "time", "c-ip", "cs-uri-stem")


def sniff_iis(head: str) -> bool:
    """Whether a file's head is an IIS W3C log: the IIS software banner, or a ``#Fields:``
    directive naming the W3C request fields."""
    if SOFTWARE in head[:2048]:
        return True
    for line in head.splitlines()[:20]:
        if line.startswith("#Fields:"):
            names = line.split()[1:]
            return all(n in names for n in REQUIRED)
    return False


def _value(raw: str | None) -> str | None:
    """A W3C value: ``-`` is none, ``+`` is a space."""
    if raw is None or raw == "-":
        return None
    return raw.replace("+", " ")


def iis_row(values: dict[str, str], event_id: str, bounds: TimeBounds | None) -> dict:
    """The canonical web request of one W3C line (its values by field name)."""
    missing = [f for f in ("date", "time", "c-ip") if values.get(f) in (None, "-", "")]
    if missing:
        raise KeyError(f"no {', '.join(missing)}")
    stamp = parse_time(f"{values['date']}T{values['time']}Z")
    client = ip(values["c-ip"], "c-ip")
    return {
        "event_id": event_id,
        "time": bounds.check(stamp) if bounds is not None else stamp,
        "client_ip": client,
        "user": text(_value(values.get("cs-username")), "cs-username"),
        "method": (text(values.get("cs-method"), "cs-method") or "").upper() or None,
        "path": text(values.get("cs-uri-stem"), "cs-uri-stem"),
        "query": text(values.get("cs-uri-query"), "cs-uri-query"),
        "status": integer(values.get("sc-status"), "sc-status"),
        "bytes": integer(values.get("sc-bytes"), "sc-bytes"),
        "referrer": text(_value(values.get("cs(Referer)")), "cs(Referer)"),
        "user_agent": text(_value(values.get("cs(User-Agent)")), "cs(User-Agent)"),
        "source": "iis",
    }


def iter_iis_rows(stream: TextStream, bounds: TimeBounds) -> Iterator[dict]:
    """Canonical rows of one IIS log; bad lines are rejects in the stream's report."""
    return fielded_rows(stream, lambda values, where: iis_row(values, where, bounds),
                        directive=lambda _, line: line.split()[1:] if line.startswith("#Fields:") else None,
                        split=lambda line: line.split(" "), before="IIS log line before any #Fields: directive",
                        counts="{values} values, #Fields: names {fields}")

