"""Simulated Windows Security events written the ways people export them: EVTX rendered as JSON
(``Event.System`` / ``Event.EventData``, what ``evtx_dump`` and the ``evtx`` package give), Windows
Event XML one ``<Event>`` per line (Splunk's ``XmlWinEventLog``), and an ``<Events>`` document of
pretty-printed events (``wevtutil qe /e:Events /f:xml``, ``Get-WinEvent | % ToXml()``).

Why one writer for all: format parity is tested on whole simulated networks — the same events in
every format must give the same findings — so every format is rendered from the same
:class:`WinEvent` values here, and nothing about an event differs between files but its layout.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timezone
from pathlib import Path
from typing import Iterable
from xml.sax.saxutils import escape, quoteattr

import orjson

from .writer import open_output

NAMESPACE = "http://schemas.microsoft.com/win/2004/08/events/event"
PROVIDER = "Microsoft-Windows-Security-Auditing"
PROVIDER_GUID = "{54849625-5478-4994-a5ba-3e3b0328c30d}"
#: Output format → file name.
FORMATS = {"evtx-json": "security.jsonl.gz", "eventxml": "security.xml.gz", "eventxml-doc": "security-events.xml"}


@dataclass(frozen=True)
class WinEvent:
    """One Security event: its id, time (epoch seconds), the computer that logged it, its record id,
    and its ``EventData`` as ``(name, value)`` pairs in the order Windows writes them."""

    code: int
    time: float
    computer: str
    record: int
    data: tuple[tuple[str, str], ...]
    channel: str = "Security"
    provider: str = PROVIDER


def _stamp(t: float) -> str:
    return datetime.fromtimestamp(t, tz=timezone.utc).strftime("%Y-%m-%dT%H:%M:%S.%fZ")


def as_json(event: WinEvent) -> dict:
    """The EVTX-as-JSON rendering (the shape ``evtx``'s ``records_json`` gives)."""
    return {"Event": {
        "#attributes": {"xmlns": NAMESPACE},
        "System": {
            "Provider": {"#attributes": {"Name": event.provider, "Guid": PROVIDER_GUID}},
            "EventID": event.code, "Version": 0, "Level": 0,
            "TimeCreated": {"#attributes": {"SystemTime": _stamp(event.time)}},
            "EventRecordID": event.record, "Channel": event.channel, "Computer": event.computer,
        },
        "EventData": dict(event.data),
    }}


def as_xml(event: WinEvent, pretty: bool = False) -> str:
    """The Event XML rendering: one line, or indented over many (``pretty``)."""
    nl, ind = ("\n", "  ") if pretty else ("", "")
    system = (f"{ind}<System>{nl}"
              f"{ind * 2}<Provider Name={quoteattr(event.provider)} Guid={quoteattr(PROVIDER_GUID)}/>{nl}"
              f"{ind * 2}<EventID>{event.code}</EventID>{nl}{ind * 2}<Version>0</Version>{nl}"
              f"{ind * 2}<Level>0</Level>{nl}"
              f"{ind * 2}<TimeCreated SystemTime={quoteattr(_stamp(event.time))}/>{nl}"
              f"{ind * 2}<EventRecordID>{event.record}</EventRecordID>{nl}"
              f"{ind * 2}<Channel>{escape(event.channel)}</Channel>{nl}"
              f"{ind * 2}<Computer>{escape(event.computer)}</Computer>{nl}{ind}</System>{nl}")
    data = "".join(f"{ind * 2}<Data Name={quoteattr(k)}>{escape(v)}</Data>{nl}" for k, v in event.data)
    return f"<Event xmlns='{NAMESPACE}'>{nl}{system}{ind}<EventData>{nl}{data}{ind}</EventData>{nl}</Event>"


def write_events(out: Path, events: Iterable[WinEvent], fmt: str) -> Path:
    """Write ``events`` in ``fmt`` (a key of :data:`FORMATS`) into folder ``out``; the file's path."""
    if fmt not in FORMATS:
        raise ValueError(f"unknown Windows event format {fmt!r}; expected one of {', '.join(FORMATS)}")
    path = out / FORMATS[fmt]
    with open_output(path, gzip=path.suffix == ".gz") as fh:
        if fmt == "eventxml-doc":
            fh.write(b'<?xml version="1.0" encoding="utf-8"?>\n<Events>\n')
        for event in events:
            if fmt == "evtx-json":
                fh.write(orjson.dumps(as_json(event)) + b"\n")
            else:
                fh.write(as_xml(event, pretty=fmt == "eventxml-doc").encode() + b"\n")
        if fmt == "eventxml-doc":
            fh.write(b"</Events>\n")
    return path
