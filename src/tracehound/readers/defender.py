"""Antivirus detections → the canonical ``detections`` table (what ``fanout.av-sustained`` counts).

Two sources:

- **Microsoft Defender Antivirus**, channel ``Microsoft-Windows-Windows Defender/Operational``:
  events 1006 / 1116 (malware detected), 1007 / 1117 (action taken), 1008 / 1118 / 1119 (action
  failed) and 1015 (suspicious behaviour), from ``.evtx`` files or JSON — an EVTX record rendered as
  JSON (``Event.System`` / ``Event.EventData``), Winlogbeat (``winlog.event_data``), or a flat record
  with the event's data names (``Threat Name``, ``Detection User`` …; a Sentinel ``Event`` row whose
  ``EventData`` is the event's XML text is read too). Other Defender events (scans, signature
  updates, configuration changes) are not detections and are skipped silently.
- **Any other product's export** as CSV or JSON (JSON Lines or one array), its columns found by
  common spellings (:data:`ALIASES`: ``ThreatName``, ``DeviceName``, ``InitiatingProcessAccountName``
  …) or named by ``mapping`` (canonical column → header). A Microsoft Defender for Endpoint
  ``DeviceEvents`` export keeps its ``AntivirusDetection`` / ``AntivirusReport`` rows and takes the
  threat name from ``AdditionalFields``.

Every detection row names the account it happened under: ``Detection User`` without its domain. A
detection made by the system itself (``NT AUTHORITY\\SYSTEM``: a scheduled scan, real-time protection
on a service) belongs to the machine, so its user is the machine account ``HOST$`` — one busy
service account never pools every host's detections. A record with no threat name, no readable
time, or neither user nor host is rejected with its file, record and reason; a time outside the
read's ``limits`` bounds is rejected the same way. Nothing is evaluated: values are text, the
Defender action and severity codes are mapped to their names, and ``%%8xx`` message references are
never shown as names.
"""

from __future__ import annotations

import csv
import gzip
import re
from pathlib import Path
from typing import Iterable, Iterator, Mapping

import ibis
import orjson

from ..badrecords import ReadReport
from ..engine import Engine
from ..errors import ConfigError, InputFormatError
from ..schema import DETECTIONS
from . import files
from .limits import DEFAULT, Limits, TimeBounds
from .staging import PartWriter, parse_time

PROVIDER = "Windows Defender"
DETECTION_EVENTS = frozenset({1006, 1007, 1008, 1015, 1116, 1117, 1118, 1119})
#: Defender's Action ID → name (its Action Name is often an unresolved ``%%8xx`` reference).
ACTIONS = {1: "Clean", 2: "Quarantine", 3: "Remove", 6: "Allow", 8: "User defined", 9: "No action",
           10: "Block"}
SEVERITIES = {1: "Low", 2: "Moderate", 4: "High", 5: "Severe"}
SYSTEM_USERS = frozenset({"system", "local service", "network service", "localsystem", ""})
#: Canonical column → spellings tried (case-insensitively) in a generic export.
ALIASES: dict[str, tuple[str, ...]] = {
    "event_id": ("event_id", "ReportId", "DetectionId", "Detection ID", "record_id", "EventRecordID", "id"),
    "time": ("time", "Timestamp", "TimeGenerated", "@timestamp", "DetectionTime", "Detection Time",
             "detected_at", "EventTime", "event_time", "datetime", "date"),
    "user": ("user", "Detection User", "DetectionUser", "InitiatingProcessAccountName", "AccountName",
             "UserName", "user_name", "username", "user.name", "account"),
    "detection": ("detection", "ThreatName", "Threat Name", "threat_name", "threat", "SignatureName",
                  "signature", "MalwareName", "malware", "VirusName", "virus", "detection_name"),
    "host": ("host", "DeviceName", "Computer", "ComputerName", "hostname", "host_name", "host.name",
             "machine", "device", "endpoint"),
    "category": ("category", "Category Name", "CategoryName", "ThreatCategory", "Category"),
    "severity": ("severity", "Severity Name", "SeverityName", "Severity", "level"),
    "action": ("action", "Action Name", "ActionTaken", "action_taken", "Disposition", "remediation"),
    "path": ("path", "Path", "FilePath", "FolderPath", "file_path", "file.path", "file"),
    "process": ("process", "Process Name", "ProcessName", "InitiatingProcessFileName", "process_name",
                "process.name"),
}
MDE_DETECTIONS = frozenset({"AntivirusDetection", "AntivirusReport"})
_DATA = re.compile(r'<Data\s+Name="([^"]{1,100})"\s*>([^<]{0,4000})</Data>')
_SNIFF_BYTES = 65536


# --------------------------------------------------------------------------------------------
# sniffing
# --------------------------------------------------------------------------------------------
def _head(path: Path, head: files.Head | None = None) -> bytes:
    """The first bytes of a file, gunzipped if it is gzip (by magic bytes, not name); ``head``: the
    first bytes routing read (:func:`~.files.read_head`, more than these), so the file is not opened."""
    if head is not None:
        data = head.data[:_SNIFF_BYTES]
    else:
        with open(path, "rb") as fh:
            data = fh.read(_SNIFF_BYTES)
    if data[:2] == b"\x1f\x8b":
        try:
            with gzip.open(path, "rb") as gz:
                data = gz.read(_SNIFF_BYTES)
        except (OSError, EOFError):
            return b""
    return data


def _quoted(text: str, names: Iterable[str]) -> bool:
    low = text.lower()
    return any(f'"{n.lower()}"' in low for n in names)


def sniff_detections_format(path: str | Path, head: files.Head | None = None) -> str | None:
    """``defender-evtx``, ``defender-json``, ``detections-json``, ``detections-csv`` or None.

    An EVTX file is claimed only when its records come from the Defender provider, so Security and
    Sysmon logs still go to their own readers; an export only when it names both a time and a threat.
    ``head``: the file's first bytes, read once by routing.
    """
    path = Path(path)
    data = _head(path, head)
    if data.startswith(b"ElfFile"):
        return "defender-evtx" if _evtx_is_defender(path) else None
    text = files.decode(data).lstrip()
    if text.startswith(("{", "[")):
        if PROVIDER in text and _quoted(text, ("Threat Name", "EventID", "event_id")):
            return "defender-json"
        mde = '"ActionType"' in text and any(f'"{a}"' in text for a in MDE_DETECTIONS)
        if (mde or _quoted(text, ALIASES["detection"])) and _quoted(text, ALIASES["time"]):
            return "detections-json"
        return None
    first = text.splitlines()[0] if text else ""
    header = {h.strip().lower() for h in next(csv.reader([first], delimiter=_delimiter(first)), [])}
    if {a.lower() for a in ALIASES["detection"]} & header and {a.lower() for a in ALIASES["time"]} & header:
        return "detections-csv"
    return None


def _evtx_is_defender(path: Path, records: int = 20) -> bool:
    from evtx import PyEvtxParser

    try:
        for n, rec in enumerate(PyEvtxParser(str(path)).records_json()):
            if PROVIDER in rec.get("data", "")[:2000]:
                return True
            if n >= records:
                return False
    except (RuntimeError, OSError):
        return False
    return False


def _delimiter(header: str) -> str:
    return max((",", ";", "\t"), key=header.count)


# --------------------------------------------------------------------------------------------
# one record → one canonical row
# --------------------------------------------------------------------------------------------
def _scalar(value):
    """EVTX JSON wraps some values as ``{"#text": v, "#attributes": ...}``."""
    return value.get("#text") if isinstance(value, dict) else value


def _text(value) -> str | None:
    value = _scalar(value)
    if value is None or isinstance(value, (dict, list)):
        return None
    text = str(value).strip()
    return None if text in ("", "-") or text.startswith("%%") else text


def _int(value) -> int | None:
    text = _text(value)
    try:
        return int(text) if text is not None else None
    except ValueError:
        return None


def windows_event(rec: dict) -> tuple[dict, dict] | None:
    """``(system, data)`` of a Windows event in any JSON shape above, or None if it is not one."""
    event = rec.get("Event")
    if isinstance(event, dict) and isinstance(event.get("System"), dict):
        system, data = event["System"], event.get("EventData") or {}
        if isinstance(data, dict) and isinstance(data.get("Data"), list):  # <Data Name=...> as a list
            data = {(d.get("#attributes") or {}).get("Name"): d.get("#text") for d in data["Data"]
                    if isinstance(d, dict)}
        created = system.get("TimeCreated")
        provider = system.get("Provider")
        return ({"EventID": _scalar(system.get("EventID")), "Computer": system.get("Computer"),
                 "EventRecordID": system.get("EventRecordID"),
                 "Provider": (provider.get("#attributes") or {}).get("Name")
                 if isinstance(provider, dict) else provider,
                 "TimeCreated": (created.get("#attributes") or {}).get("SystemTime")
                 if isinstance(created, dict) else created}, data if isinstance(data, dict) else {})
    winlog = rec.get("winlog")
    if isinstance(winlog, dict):  # Winlogbeat
        return ({"EventID": winlog.get("event_id"), "Computer": winlog.get("computer_name"),
                 "EventRecordID": winlog.get("record_id"), "Provider": winlog.get("provider_name"),
                 "TimeCreated": rec.get("@timestamp")}, winlog.get("event_data") or {})
    if "EventID" in rec or "EventId" in rec:  # flat, or Sentinel's Event table with XML EventData
        data = rec
        if isinstance(rec.get("EventData"), str):
            data = {**rec, **dict(_DATA.findall(rec["EventData"]))}
        return ({"EventID": rec.get("EventID", rec.get("EventId")), "Computer": rec.get("Computer"),
                 "EventRecordID": rec.get("EventRecordID"),
                 "Provider": rec.get("ProviderName") or rec.get("Source") or rec.get("EventLog") or PROVIDER,
                 "TimeCreated": rec.get("TimeCreated") or rec.get("TimeGenerated")}, data)
    return None


def account(user: str | None, host: str | None) -> str | None:
    """The account a detection belongs to: the user without its domain, or ``HOST$`` for the system."""
    name = (user or "").replace("/", "\\").rsplit("\\", 1)[-1].strip()
    if name.lower() in SYSTEM_USERS:
        return f"{host.split('.')[0]}$" if host else None
    return name


def _row(event_id: str, when, user, host, detection, *, category=None, severity=None, action=None, path=None,
         process=None, source: str, bounds: TimeBounds) -> dict:
    """A canonical row, or ``ValueError`` naming what is missing or out of bounds."""
    detection = _text(detection)
    if detection is None:
        raise ValueError("no threat / detection name")
    if when is None:
        raise ValueError("no time")
    stamp = bounds.check(parse_time(when))
    host = _text(host)
    who = account(_text(user), host)
    if who is None:
        raise ValueError("no user and no host to attribute the detection to")
    return {"event_id": event_id, "time": stamp, "user": who, "detection": detection, "host": host,
            "category": _text(category), "severity": _text(severity), "action": _text(action),
            "path": _clean_path(_text(path)), "process": _text(process), "source": source}


def _clean_path(path: str | None) -> str | None:
    """Defender writes ``file:_C:\\x.exe`` (and ``containerfile:_``); keep the path itself."""
    if path is None:
        return None
    return re.sub(r"\b(?:file|containerfile|process|regkey|behavior):_", "", path)


def defender_row(system: dict, data: dict, event_id: str, source: str, bounds: TimeBounds) -> dict | None:
    """The canonical row of one Defender event, or None when it is no detection event."""
    if PROVIDER.lower() not in str(system.get("Provider") or "").lower():
        return None
    if _int(system.get("EventID")) not in DETECTION_EVENTS:
        return None
    action = _text(data.get("Action Name")) or ACTIONS.get(_int(data.get("Action ID")))
    severity = _text(data.get("Severity Name")) or SEVERITIES.get(_int(data.get("Severity ID")))
    when = _text(data.get("Detection Time")) or _text(system.get("TimeCreated"))
    return _row(event_id, when, data.get("Detection User") or data.get("User"), system.get("Computer"),
                data.get("Threat Name") or data.get("Name"), category=data.get("Category Name"),
                severity=severity, action=action, path=data.get("Path") or data.get("Path Found"),
                process=data.get("Process Name"), source=source, bounds=bounds)


def _flatten(rec: dict, prefix: str = "", depth: int = 0) -> dict:
    """Nested keys as dotted names (``user.name``), to a bounded depth."""
    out: dict = {}
    for key, value in rec.items():
        name = f"{prefix}{key}"
        if isinstance(value, dict) and depth < 4:
            out.update(_flatten(value, f"{name}.", depth + 1))
        else:
            out[name] = value
    return out


def _columns(keys: Iterable[str], mapping: Mapping[str, str] | None) -> dict[str, str]:
    """Canonical column → the export's key, from ``mapping`` first and :data:`ALIASES` second."""
    lower = {str(k).strip().lower(): k for k in keys}
    found: dict[str, str] = {}
    for column, spellings in ALIASES.items():
        if mapping and column in mapping:
            if mapping[column].strip().lower() in lower:
                found[column] = lower[mapping[column].strip().lower()]
            continue
        for alias in spellings:
            if alias.lower() in lower:
                found[column] = lower[alias.lower()]
                break
    return found


def generic_row(rec: dict, mapping: Mapping[str, str] | None, fallback_id: str, source: str,
                bounds: TimeBounds) -> dict | None:
    """The canonical row of one record of a generic export; None for an MDE row that is no detection."""
    rec = _flatten(rec)
    action_type = _text(rec.get("ActionType"))
    if action_type is not None and "DeviceName" in rec:  # Defender for Endpoint DeviceEvents
        if action_type not in MDE_DETECTIONS:
            return None
        extra = rec.get("AdditionalFields")
        if isinstance(extra, str):
            try:
                extra = orjson.loads(extra)
            except orjson.JSONDecodeError:
                extra = None
        if isinstance(extra, dict):
            rec = {**{k: v for k, v in extra.items() if not isinstance(v, (dict, list))}, **rec}
    cols = _columns(rec, mapping)
    get = {c: rec.get(k) for c, k in cols.items()}
    own = _text(get.get("event_id"))
    return _row(own or fallback_id, _text(get.get("time")), get.get("user"), get.get("host"), get.get("detection"),
                category=get.get("category"), severity=get.get("severity"), action=get.get("action"),
                path=get.get("path"), process=get.get("process"), source=source, bounds=bounds)


# --------------------------------------------------------------------------------------------
# per-format record streams
# --------------------------------------------------------------------------------------------
_ERRORS = (ValueError, KeyError, TypeError, AttributeError, OverflowError)


def _evtx_rows(path: Path, report: ReadReport, bounds: TimeBounds) -> Iterator[dict]:
    from evtx import PyEvtxParser

    it = PyEvtxParser(str(path)).records_json()
    while True:
        try:
            rec = next(it)
        except StopIteration:
            return
        except RuntimeError as exc:  # a corrupt chunk: the parser moves on to the next one
            report.reject(path, None, f"corrupt EVTX chunk skipped: {exc}")
            continue
        number = rec.get("event_record_id")
        try:
            parsed = windows_event(orjson.loads(rec["data"]))
            row = defender_row(*parsed, f"{path.name}:{number}", "defender-evtx", bounds) if parsed else None
        except (*_ERRORS, orjson.JSONDecodeError) as exc:
            report.reject(path, number, f"{type(exc).__name__}: {exc}", rec.get("data", ""))
            continue
        if row is not None:
            yield row


def _json_records(path: Path, report: ReadReport, limits: Limits) -> Iterator[tuple[int, dict, str]]:
    """``(record number, object, raw)``: JSON Lines, or the items of one JSON array document."""
    lines = files.iter_lines(path, report, limits)
    first = next(lines, None)
    if first is None:
        return
    if first[1].lstrip().startswith("["):
        text = "\n".join([first[1], *(line for _, line in lines)])
        if len(text) > limits.max_document:
            report.unreadable(path, f"a JSON document over {limits.max_document:,} bytes; export JSON Lines")
            return
        try:
            items = orjson.loads(text)
        except orjson.JSONDecodeError as exc:
            report.reject(path, None, f"JSONDecodeError: {exc}", text[:300])
            return
        for n, item in enumerate(items if isinstance(items, list) else [items], start=1):
            if isinstance(item, dict):
                yield n, item, ""
            else:
                report.reject(path, n, "ValueError: array item is not a JSON object", repr(item)[:300])
        return
    for number, line in _chain(first, lines):
        try:
            rec = orjson.loads(line)
        except orjson.JSONDecodeError as exc:
            report.reject(path, number, f"JSONDecodeError: {exc}", line)
            continue
        if isinstance(rec, dict):
            yield number, rec, line
        else:
            report.reject(path, number, "ValueError: not a JSON object", line)


def _chain(first, rest):
    yield first
    yield from rest


def _json_rows(path: Path, fmt: str, report: ReadReport, mapping, limits: Limits,
               bounds: TimeBounds) -> Iterator[dict]:
    for number, rec, raw in _json_records(path, report, limits):
        label = f"{path.name}:{number}"
        try:
            if fmt == "defender-json":
                parsed = windows_event(rec)
                if parsed is None:
                    raise ValueError("not a Windows event record")
                system, data = parsed
                rid = _text(system.get("EventRecordID"))
                row = defender_row(system, data, f"{path.name}:{rid}" if rid else label, "defender-json", bounds)
            else:
                row = generic_row(rec, mapping, label, "detections-json", bounds)
        except _ERRORS as exc:
            report.reject(path, number, f"{type(exc).__name__}: {exc}", raw or orjson.dumps(rec)[:300])
            continue
        if row is not None:
            yield row


def _csv_rows(path: Path, report: ReadReport, mapping, limits: Limits, bounds: TimeBounds) -> Iterator[dict]:
    numbered = files.iter_lines(path, report, limits)
    current = [0]

    def lines():
        for number, line in numbered:
            current[0] = number
            yield line

    stream = lines()
    first = next(stream, None)
    if first is None:
        return
    sep = _delimiter(first)
    header = next(csv.reader([first], delimiter=sep))
    cols = _columns(header, mapping)
    if "detection" not in cols or "time" not in cols:
        raise InputFormatError(f"no column for {', '.join(c for c in ('time', 'detection') if c not in cols)}; "
                               f"pass a mapping such as detection=ThreatName (header: {header[:20]!r})",
                               path=str(path))
    for values in csv.reader(stream, delimiter=sep):
        number = current[0]
        if len(values) != len(header):
            report.reject(path, number, f"{len(values)} fields, header has {len(header)}", sep.join(values))
            continue
        try:
            row = generic_row(dict(zip(header, values)), mapping, f"{path.name}:{number}", "detections-csv", bounds)
        except _ERRORS as exc:
            report.reject(path, number, f"{type(exc).__name__}: {exc}", sep.join(values))
            continue
        if row is not None:
            yield row


def _check_mapping(mapping) -> None:
    if mapping is None:
        return
    if not isinstance(mapping, Mapping):
        raise ConfigError(f"detections mapping must map canonical columns to headers, got {type(mapping).__name__}")
    for column, header in mapping.items():
        if column not in ALIASES:
            raise ConfigError(f"detections mapping: {column!r} is not a detections column; expected one of "
                              f"{', '.join(ALIASES)}")
        if not isinstance(header, str):
            raise ConfigError(f"detections mapping: the header for {column!r} must be text, got {header!r}")


# --------------------------------------------------------------------------------------------
# the public reader
# --------------------------------------------------------------------------------------------
def read_detections(paths: Iterable[str | Path] | str | Path, engine: Engine, *,
                    mapping: Mapping[str, str] | None = None,
                    limits: Limits = DEFAULT) -> tuple[ibis.Table, ReadReport]:
    """Read Defender EVTX / JSON and generic CSV / JSON exports into the canonical ``detections``
    table on ``engine``; files that are none of them are listed as unreadable, not raised.

    ``mapping`` names a generic export's header for canonical columns (``{"detection": "Signature"}``);
    ``limits`` bounds line sizes and record times (see :mod:`tracehound.readers.limits`).
    """
    _check_mapping(mapping)
    report = ReadReport()
    bounds = limits.bounds()
    writer = PartWriter(engine.staging_folder("detections"), DETECTIONS)
    for path in files.expand(paths):
        fmt = sniff_detections_format(path)
        if fmt is None and mapping:
            fmt = "detections-json" if files.decode(_head(path)).lstrip().startswith(("{", "[")) else "detections-csv"
        if fmt is None:
            report.unreadable(path, "not an antivirus log (Defender EVTX / JSON, or a CSV / JSON export "
                                    "with a time and a threat name)")
            continue
        report.files += 1
        report.formats[fmt] += 1
        rows = (_evtx_rows(path, report, bounds) if fmt == "defender-evtx"
                else _csv_rows(path, report, mapping, limits, bounds) if fmt == "detections-csv"
                else _json_rows(path, fmt, report, mapping, limits, bounds))
        try:
            for row in rows:
                report.records += 1
                writer.add(row)
        except (OSError, InputFormatError) as exc:
            report.unreadable(path, f"{type(exc).__name__}: {exc}")
    writer.close()
    return engine.read_parquet(writer.folder), report
