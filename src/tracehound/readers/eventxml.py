"""Windows Event XML — ``wevtutil qe /f:xml``, ``Get-WinEvent | % ToXml()``, Splunk's ``XmlWinEventLog``
— as the flat field dicts the logon reader maps (:func:`tracehound.readers.logons.windows_row`).

The same event arrives in three layouts: one ``<Event>`` per line (Splunk stores each event so),
events run together on one line (``wevtutil qe`` without ``/e``), or an ``<Events>`` document with
one pretty-printed event over many lines. So the text is cut into events by their own tags, not by
lines, and each event is parsed on its own: a damaged event is one reject with the line it starts
on, and the events around it are read.

Safety: the text is the log's, so the attacker's. Each event is bounded (``limits.max_line``
characters) and parsed with the standard library's expat, which fetches nothing; an event holding a
document type declaration (``<!DOCTYPE`` / ``<!ENTITY``) is rejected before parsing, so no entity is
ever defined, let alone expanded. Values are text; the logon reader types them.
"""

from __future__ import annotations

import re
import xml.etree.ElementTree as ET
from typing import Iterator

from .stream import TextStream

#: An event's opening tag (``<Event>`` / ``<Event xmlns=...>``), not ``<Events>`` or ``<EventData>``.
_OPEN = re.compile(r"<Event[\s>]")
_CLOSE = "</Event>"
_DECLARATION = re.compile(r"<!\s*(?:DOCTYPE|ENTITY)", re.IGNORECASE)


def sniff_eventxml(head: str) -> bool:
    """Whether a file's head is Windows Event XML: an ``<Event`` element of the event schema."""
    start = head.lstrip("\ufeff \t\r\n")
    if not start.startswith("<"):
        return False
    return bool(_OPEN.search(head[:4096])) and "<System>" in head and "<EventID" in head


def _local(tag: str) -> str:
    return tag.rsplit("}", 1)[-1]


def event_fields(xml: str) -> dict:
    """The flat field dict of one ``<Event>``: ``EventID``, ``TimeCreated``, ``Computer``, ``Channel``,
    ``EventRecordID`` and each ``<Data Name="...">`` of ``EventData``. ``ValueError`` if the text is
    not one well-formed event, or declares a document type."""
    if _DECLARATION.search(xml):
        raise ValueError("Event XML with a document type / entity declaration (refused: entities are "
                         "never defined or expanded)")
    try:
        root = ET.fromstring(xml)
    except ET.ParseError as exc:
        raise ValueError(f"not well-formed Event XML: {exc}") from None
    if _local(root.tag) != "Event":
        raise ValueError(f"expected an <Event> element, got <{_local(root.tag)[:40]}>")
    out: dict = {}
    for part in root:
        name = _local(part.tag)
        if name == "System":
            for item in part:
                key = _local(item.tag)
                if key == "TimeCreated":
                    out["TimeCreated"] = item.get("SystemTime")
                elif key in ("EventID", "Computer", "Channel", "EventRecordID"):
                    out[key] = (item.text or "").strip() or None
                elif key == "Provider":
                    out["Provider"] = item.get("Name")
        elif name == "EventData":
            for data in part:
                key = data.get("Name")
                if key and key not in out:
                    out[key] = data.text
    return out


def iter_events(stream: TextStream) -> Iterator[tuple[int, str]]:
    """``(line it starts on, text)`` of each ``<Event>…</Event>`` in the stream; an event longer than
    ``limits.max_line`` or cut off by the end of the text, and a document type declaration between
    events, are rejects in the stream's report."""
    limit = stream.limits.max_line
    buf: list[str] = []
    size, start = 0, 0
    for number, line in stream.lines(keepends=True):
        pos = 0
        while pos < len(line):
            if not buf:
                found = _OPEN.search(line, pos)
                between = line[pos:found.start() if found else len(line)]
                if _DECLARATION.search(between):
                    stream.report.reject(stream.label, number, "document type / entity declaration "
                                         "refused (entities are never defined or expanded)", between)
                if found is None:
                    break
                pos, start, size = found.start(), number, 0
            end = line.find(_CLOSE, pos)
            piece = line[pos:] if end < 0 else line[pos:end + len(_CLOSE)]
            size += len(piece)
            if size > limit:
                stream.report.reject(stream.label, start, f"event longer than {limit:,} characters "
                                     "(limits.max_line)", "".join(buf)[:300] or piece[:300])
                buf, pos = [], (len(line) if end < 0 else end + len(_CLOSE))
                continue
            buf.append(piece)
            if end < 0:
                break
            yield start, "".join(buf)
            buf, pos = [], end + len(_CLOSE)
    if buf:
        stream.report.reject(stream.label, start, "event cut off: no </Event> before the end of the file",
                             "".join(buf))
