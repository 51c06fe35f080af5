"""Windows logon events and LANL authentication records → the canonical ``logons`` table.

Windows Security events 4624 (logon), 4625 (failed logon) and 4648 (explicit credentials), and a
domain controller's credential validations — Kerberos 4768 / 4771 and NTLM 4776, whose status codes
give the provider-neutral ``failure_kind`` (:mod:`tracehound.readers.authcodes`) — arrive in
these shapes that carry the same fields under different nesting:

- ``.evtx`` files, parsed with the ``evtx`` package, and Windows Event XML (``wevtutil qe /f:xml``,
  Splunk's ``XmlWinEventLog``: :mod:`tracehound.readers.eventxml`); records a truncated, zeroed or
  corrupt chunk
  lost are counted from the file's own headers (:mod:`tracehound.readers.evtx`), the rest is read;
- JSON Lines as Winlogbeat (``winlog.event_data``), OTRF Security-Datasets / NXLog (flat keys,
  usually inside a ``.zip``) or an EVTX-to-JSON dump (``Event.System`` / ``Event.EventData``) write it;
- Sentinel ``SecurityEvent`` CSV or JSON (flat keys, ``TimeGenerated``, ``Computer``);
- the LANL authentication format
  ``time,src_user@domain,dst_user@domain,src_computer,dst_computer,auth_type,logon_type,
  auth_orientation,success`` (time in seconds from an origin);
- Linux auth syslog (sshd and pam_unix lines of ``auth.log`` / ``secure``): see
  :mod:`tracehound.readers.authlog`.

Machine accounts (``NAME$``), anonymous logons and the local system / service accounts are dropped by
default because they fan out to many hosts as a matter of course and would drown every hunt; set the
``exclude_*`` flags to keep them. Records of other event IDs are counted as skipped
(``ReadReport.skipped``) under their event id and channel, as are the accounts the filter drops; a
file with nothing but such events gets a warning naming the ids it held (exit code unchanged:
nothing was set aside or lost, but the summary says why the file gave no row). A record without an
event id,
or with one that is not an integer (``true``, ``4624.7``), and a logon whose fields have the wrong
type (an object where a user name belongs) are rejects with file, line and reason — never coerced.
Every file goes through the shared reader stream (:mod:`tracehound.readers.stream`): a truncated
gzip or zip member keeps the records before the cut and names the file as damaged.
"""

from __future__ import annotations

import re
import zipfile
import zlib
from collections import Counter
from dataclasses import dataclass
from datetime import datetime, timedelta, timezone
from pathlib import Path
from typing import Iterable, Iterator

import ibis
import orjson

from ..badrecords import ReadReport
from ..engine import Engine
from ..schema import LOGONS
from . import archives, files
from .authlog import iter_authlog_rows, sniff_authlog
from .eventxml import event_fields, iter_events, sniff_eventxml
from .evtx import EvtxRecords
from .authcodes import CREDENTIAL_EVENTS, PROTOCOL, failure_kind, logon_protocol
from .hosts import host_name, unmapped
from .limits import DEFAULT, Limits, TimeBounds
from .staging import PartWriter, parse_time  # parse_time: also imported from here by older code
from .stream import TextStream, csv_rows, json_objects
from .values import ROW_ERRORS, integer, ip, reason, text

LOGON_EVENTS = (4624, 4625, 4648)
#: Every Windows event id read into ``logons``: the logons and the Kerberos / NTLM validations.
READ_EVENTS = frozenset((*LOGON_EVENTS, *CREDENTIAL_EVENTS))
#: Accounts that are the operating system itself, not a person or a service someone configured.
SYSTEM_ACCOUNTS = frozenset({"system", "local service", "network service", "localsystem"})
SYSTEM_PREFIXES = ("dwm-", "umfd-", "font driver host", "window manager")
ANONYMOUS = frozenset({"anonymous logon", "anonymous"})
#: LANL logon-type names → Windows logon-type numbers, so presets filter both sources the same way.
LANL_LOGON_TYPES = {
    "interactive": 2, "network": 3, "batch": 4, "service": 5, "unlock": 7, "networkcleartext": 8,
    "newcredentials": 9, "remoteinteractive": 10, "cachedinteractive": 11,
}
LANL_ORIGIN = datetime(1970, 1, 1, tzinfo=timezone.utc)
#: Why records were read and not kept (``ReadReport.skipped`` keys).
#: Distinct "event N: no hunt reads it" skip reasons kept per read; the rest share one (event ids
#: and channels are the log's own, so their number is the attacker's to choose).
MAX_EVENT_REASONS = 40
OTHER_EVENTS = "other events no hunt reads"
_CHANNEL = re.compile(r"[^0-9A-Za-z /._-]")
LANL_OTHER = "LANL record that is no LogOn (LogOff, TGS, TGT, AuthMap)"
FILTERED = "account filtered (machine, anonymous or system; see LogonFilter)"
NO_ACCOUNT = "no account name (pam_unix failure for a name sshd did not give)"


@dataclass(frozen=True)
class LogonFilter:
    """Which accounts to drop while reading (all ``True`` by default; see the module docstring)."""

    exclude_machine_accounts: bool = True
    exclude_anonymous: bool = True
    exclude_system: bool = True

    def keeps(self, user: str) -> bool:
        low = user.lower()
        if self.exclude_machine_accounts and low.endswith("$"):
            return False
        if self.exclude_anonymous and low in ANONYMOUS:
            return False
        if self.exclude_system and (low in SYSTEM_ACCOUNTS or low.startswith(SYSTEM_PREFIXES)):
            return False
        return True


# --------------------------------------------------------------------------------------------
# sniffing
# --------------------------------------------------------------------------------------------
def sniff_logon_format(path: str | Path, head: files.Head | None = None) -> str | None:
    """``evtx``, ``eventxml``, ``windows-json``, ``windows-zip``, ``sentinel-csv``, ``lanl``,
    ``authlog`` or None. ``head``: the file's first bytes, read once by routing."""
    path = Path(path)
    if head is not None:
        magic = head.data[:8]
    else:
        with open(path, "rb") as fh:
            magic = fh.read(8)
    if magic.startswith(b"ElfFile"):
        return "evtx"
    if magic.startswith(archives.LOCAL_MAGIC):
        found, _ = archives.members(path)
        first = b""
        try:
            for member in found:  # the first member's head (a cut zip: from its local header)
                for block in member.chunks():
                    first += block
                    if len(first) >= 65536:
                        break
                break
        except (zipfile.BadZipFile, zlib.error, EOFError, OSError):
            pass
        return "windows-zip" if _looks_like_windows_json(files.decode(first[:65536])) else None
    text = files.head_text(path, head=head)
    stripped = text.lstrip()
    if stripped.startswith("{"):
        return "windows-json" if _looks_like_windows_json(text) else None
    if stripped.startswith("<"):
        return "eventxml" if sniff_eventxml(text) else None
    first = stripped.splitlines()[0] if stripped else ""
    if "EventID" in first and "TargetUserName" in first and "," in first:
        return "sentinel-csv"
    if _looks_like_lanl(first):
        return "lanl"
    if sniff_authlog(text):
        return "authlog"
    return None


def _looks_like_windows_json(head: str) -> bool:
    return any(key in head for key in ('"EventID"', '"event_id"', '"TargetUserName"'))


def _looks_like_lanl(line: str) -> bool:
    parts = line.split(",")
    return (len(parts) == 9 and parts[0].strip().isdigit() and "@" in parts[1]
            and parts[8].strip().lower() in ("success", "fail"))


# --------------------------------------------------------------------------------------------
# one record → one canonical row
# --------------------------------------------------------------------------------------------
def _scalar(value):
    """EVTX JSON wraps some values as ``{"#text": v, "#attributes": ...}``; unwrap them."""
    if isinstance(value, dict) and "#text" in value:
        return value.get("#text")
    return value


def windows_fields(rec: dict) -> dict:
    """The flat field dict of a Windows event in any of the JSON shapes above.

    Keys are Windows' own (``EventID``, ``TargetUserName``, ``Computer``, ``TimeCreated`` ...), so one
    mapping serves every shape.
    """
    if "Event" in rec and isinstance(rec["Event"], dict):  # EVTX rendered as JSON
        event = rec["Event"]
        system = event.get("System") or {}
        data = event.get("EventData") or {}
        if not isinstance(system, dict):
            raise ValueError(f"Event.System: expected an object, got {type(system).__name__}")
        if isinstance(data, dict) and isinstance(data.get("Data"), list):  # <Data Name="..."> as a list
            data = {(d.get("#attributes") or {}).get("Name"): d.get("#text") for d in data["Data"]
                    if isinstance(d, dict)}
        out = {k: _scalar(v) for k, v in data.items()} if isinstance(data, dict) else {}
        created = system.get("TimeCreated") or {}
        out["EventID"] = _scalar(system.get("EventID"))
        out["Computer"] = system.get("Computer")
        out["Channel"] = system.get("Channel")
        out["TimeCreated"] = (created.get("#attributes") or {}).get("SystemTime") \
            if isinstance(created, dict) else created
        return out
    winlog = rec.get("winlog")
    if isinstance(winlog, dict):  # Winlogbeat
        data = winlog.get("event_data") or {}
        out = dict(data) if isinstance(data, dict) else {}
        event = rec.get("event")
        out["EventID"] = winlog.get("event_id", event.get("code") if isinstance(event, dict) else None)
        out["Computer"] = winlog.get("computer_name")
        out["Channel"] = winlog.get("channel")
        out["TimeCreated"] = rec.get("@timestamp")
        return out
    return rec  # flat: OTRF / NXLog / Sentinel SecurityEvent


def _host(value, field: str) -> str | None:
    return host_name(text(value, field))


def windows_row(fields: dict, event_id: str, source: str, bounds: TimeBounds | None = None) -> dict | None:
    """The canonical row for a flat Windows field dict, or None if it is no event a hunt reads.

    Read: the logon events 4624 / 4625 / 4648 and the credential validations on a domain controller,
    Kerberos 4768 / 4771 and NTLM 4776 (:mod:`tracehound.readers.authcodes`: their ``Status`` gives
    ``success`` and the provider-neutral ``failure_kind``; the raw code is kept as ``status``).
    Raises ``ValueError``/``KeyError`` for a record without a readable event id, and for an event
    read that lacks a readable time or user, has a field of the wrong type, or a time outside
    ``bounds`` (the readers pass theirs; ``None`` checks no bounds).
    """
    code = integer(fields.get("EventID", fields.get("EventCode")), "EventID")
    if code is None:
        raise KeyError("no EventID (missing, null or empty)")
    if code not in READ_EVENTS:
        return None
    when = fields.get("TimeCreated") or fields.get("@timestamp") or fields.get("TimeGenerated") \
        or fields.get("TimeCreatedUtc")
    if when is None:
        raise KeyError("no time field (TimeCreated / @timestamp / TimeGenerated)")
    user = text(fields.get("TargetUserName"), "TargetUserName")
    if user is None:
        raise KeyError("no TargetUserName")
    computer = _host(fields.get("Computer") or fields.get("Hostname"), "Computer")
    target = computer
    if code == 4648:  # explicit credentials: logged on the source, naming the server it reaches
        target = _host(fields.get("TargetServerName"), "TargetServerName") or computer
        source_host = computer
    elif code == 4776:  # NTLM validation on the DC: the client names itself as Workstation
        source_host = _host(fields.get("Workstation"), "Workstation")
    else:
        source_host = _host(fields.get("WorkstationName"), "WorkstationName")
    status = integer(fields.get("SubStatus"), "SubStatus") if code == 4625 else None
    if not status:
        status = integer(fields.get("Status"), "Status")
    if code in CREDENTIAL_EVENTS:
        success = code != 4771 and not status
        protocol = PROTOCOL[code]
    else:
        success = code != 4625
        protocol = logon_protocol(text(fields.get("AuthenticationPackageName"), "AuthenticationPackageName"))
    stamp = parse_time(when)
    return {
        "event_id": event_id,
        "time": bounds.check(stamp) if bounds is not None else stamp,
        "user": user,
        "domain": text(fields.get("TargetDomainName"), "TargetDomainName"),
        "target_host": target,
        "source_ip": unmapped(ip(fields.get("IpAddress"), "IpAddress")),
        "source_host": source_host,
        "logon_type": integer(fields.get("LogonType"), "LogonType"),
        "event_code": code,
        "success": success,
        "source": source,
        "auth_protocol": protocol,
        "failure_kind": None if success else failure_kind(code, status),
        "status": status,
    }


def lanl_row(line: str, event_id: str, origin: datetime, bounds: TimeBounds | None = None) -> dict | None:
    """The canonical row for one LANL auth line, or None for LogOff/TGS/TGT/AuthMap records."""
    parts = line.split(",")
    if len(parts) != 9:
        raise ValueError(f"expected 9 comma-separated fields, got {len(parts)}")
    t, src_user, _dst_user, src_pc, dst_pc, auth, ltype, orientation, result = parts
    if orientation.strip().lower() != "logon":
        return None
    user, _, domain = src_user.partition("@")
    if not user.strip():
        raise ValueError(f"source user {src_user[:40]!r} has no account name before the '@'")
    ok = result.strip().lower()
    if ok not in ("success", "fail"):
        raise ValueError(f"success field is {result[:40]!r}, expected Success or Fail")
    seconds = integer(t, "time")
    if seconds is None:
        raise ValueError("no time")
    stamp = origin + timedelta(seconds=seconds)
    return {
        "event_id": event_id,
        "time": bounds.check(stamp) if bounds is not None else stamp,
        "user": user.strip(),
        "domain": domain.strip() or None,
        "target_host": _host(dst_pc, "dst_computer"),
        "source_ip": None,
        "source_host": _host(src_pc, "src_computer"),
        "logon_type": LANL_LOGON_TYPES.get(ltype.strip().lower()),
        "event_code": 4624 if ok == "success" else 4625,
        "success": ok == "success",
        "source": "lanl",
        "auth_protocol": logon_protocol(auth if auth.strip() != "?" else None),
        "failure_kind": None if ok == "success" else "other",
    }


def skip_event(report: ReadReport, fields: dict) -> None:
    """Count a record of an event no hunt reads under its event id and channel (``event 1
    (Microsoft-Windows-Sysmon/Operational): no hunt reads it``), so an input of only such events
    says what it held instead of "0 records"."""
    channel = fields.get("Channel")
    where = f" ({_CHANNEL.sub('', channel)[:60]})" if isinstance(channel, str) and channel.strip() else ""
    why = f"event {integer(fields.get('EventID', fields.get('EventCode')), 'EventID')}{where}: no hunt reads it"
    known = sum(1 for k in report.skipped if k.startswith("event "))
    if why not in report.skipped and known >= MAX_EVENT_REASONS:
        why = OTHER_EVENTS
    report.skip(why)


def unused_only(report: ReadReport, path: Path, records_before: int, skipped_before: Counter) -> None:
    """Warn about a file whose records were all of events no hunt reads: which ids, how many each."""
    if report.records != records_before:
        return
    seen = {k: n - skipped_before.get(k, 0) for k, n in report.skipped.items()
            if (k.startswith("event ") or k == OTHER_EVENTS) and n > skipped_before.get(k, 0)}
    if not seen:
        return
    total = sum(seen.values())
    ids = ", ".join(f"{k.removesuffix(': no hunt reads it')} ×{n:,}"
                    for k, n in sorted(seen.items(), key=lambda kv: -kv[1])[:5])
    report.warn(path, f"none of its {total:,} records is an event a hunt reads ({ids}"
                      f"{', ...' if len(seen) > 5 else ''}); the logon hunts read Windows "
                      f"{', '.join(map(str, sorted(READ_EVENTS)))}, LANL and auth syslog")


# --------------------------------------------------------------------------------------------
# per-format record streams: yield rows, reject bad records, count skipped ones
# --------------------------------------------------------------------------------------------
def _json_lines(stream: TextStream, name: str, source: str, bounds: TimeBounds) -> Iterator[dict]:
    report = stream.report
    for number, rec, line in json_objects(stream.lines(), stream.label, report, stream.limits):
        try:
            rec = windows_fields(rec)
            row = windows_row(rec, f"{name}:{number}", source, bounds)
        except ROW_ERRORS as exc:
            report.reject(stream.label, number, reason(exc), line)
            continue
        if row is None:
            skip_event(report, rec)
        else:
            yield row


def _zip_rows(path: Path, report: ReadReport, limits: Limits, bounds: TimeBounds) -> Iterator[dict]:
    """Rows of each member of a zip of Windows JSON Lines, streamed: OTRF members are 40 MB. A zip
    whose directory is gone (a cut download) is read from its members' own headers."""
    found, problem = archives.members(path)
    if problem:  # nothing is lost by that alone: a member the cut falls in is damage of its own
        report.warn(path, problem)
    for member in found:
        stream = TextStream(path, report, limits, source=member.chunks, size=member.size,
                            label=f"{path}/{member.name}")
        yield from _json_lines(stream, f"{path.name}/{member.name}", "windows-json", bounds)


def _evtx_rows(path: Path, report: ReadReport, bounds: TimeBounds) -> Iterator[dict]:
    records = EvtxRecords(path, report)
    for number, data in records:
        try:
            fields = windows_fields(orjson.loads(data))
            row = windows_row(fields, f"{path.name}:{number}", "evtx", bounds)
        except (orjson.JSONDecodeError, *ROW_ERRORS) as exc:
            report.reject(path, number, reason(exc), data)
            continue
        if row is None:
            skip_event(report, fields)
        else:
            yield row
    records.finish()


def _xml_rows(stream: TextStream, bounds: TimeBounds) -> Iterator[dict]:
    """Rows of Windows Event XML; an event's id is its file and ``EventRecordID`` (as for EVTX),
    or the line it starts on when it has none."""
    name = stream.path.name
    for number, xml in iter_events(stream):
        try:
            fields = event_fields(xml)
            record = integer(fields.get("EventRecordID"), "EventRecordID")
            row = windows_row(fields, f"{name}:{record if record is not None else number}", "eventxml", bounds)
        except ROW_ERRORS as exc:
            stream.report.reject(stream.label, number, reason(exc), xml)
            continue
        if row is None:
            skip_event(stream.report, fields)
        else:
            yield row


def _sentinel_rows(stream: TextStream, bounds: TimeBounds) -> Iterator[dict]:
    name = stream.path.name
    for number, header, values in csv_rows(stream, sep=","):
        fields = dict(zip(header, values))
        try:
            row = windows_row(fields, f"{name}:{number}", "sentinel", bounds)
        except ROW_ERRORS as exc:
            stream.report.reject(stream.label, number, reason(exc), ",".join(values))
            continue
        if row is None:
            skip_event(stream.report, fields)
        else:
            yield row


def _lanl_rows(stream: TextStream, origin: datetime, bounds: TimeBounds) -> Iterator[dict]:
    name = stream.path.name
    for number, line in stream.lines():
        line = line.rstrip("\r")
        if not line.strip():
            continue
        try:
            row = lanl_row(line, f"{name}:{number}", origin, bounds)
        except ROW_ERRORS as exc:
            stream.report.reject(stream.label, number, reason(exc), line)
            continue
        if row is None:
            stream.report.skip(LANL_OTHER)
        else:
            yield row


def iter_logon_rows(path: Path, fmt: str, report: ReadReport, *, lanl_origin: datetime = LANL_ORIGIN,
                    syslog_year: int | None = None, limits: Limits = DEFAULT,
                    bounds: TimeBounds | None = None) -> Iterator[dict]:
    """Canonical rows of one file in a known format (before account filtering).

    ``syslog_year`` is the year of an auth log's first line (None: inferred, see
    :mod:`tracehound.readers.authlog`). ``bounds``: the read's time bounds (default: ``limits``')."""
    bounds = bounds or limits.bounds()
    if fmt == "evtx":
        yield from _evtx_rows(path, report, bounds)
    elif fmt == "eventxml":
        yield from _xml_rows(TextStream(path, report, limits), bounds)
    elif fmt == "windows-zip":
        yield from _zip_rows(path, report, limits, bounds)
    elif fmt == "windows-json":
        yield from _json_lines(TextStream(path, report, limits), path.name, "windows-json", bounds)
    elif fmt == "sentinel-csv":
        yield from _sentinel_rows(TextStream(path, report, limits), bounds)
    elif fmt == "lanl":
        yield from _lanl_rows(TextStream(path, report, limits), lanl_origin, bounds)
    elif fmt == "authlog":
        yield from iter_authlog_rows(path, report, year=syslog_year, limits=limits, bounds=bounds)
    else:
        raise ValueError(f"unknown logon format {fmt!r}")


# --------------------------------------------------------------------------------------------
# the public reader
# --------------------------------------------------------------------------------------------
def read_logons(paths: Iterable[str | Path] | str | Path, engine: Engine, *,
                accounts: LogonFilter = LogonFilter(), lanl_origin: datetime = LANL_ORIGIN,
                syslog_year: int | None = None, limits: Limits = DEFAULT) -> tuple[ibis.Table, ReadReport]:
    """Read logon files of any supported format into the canonical ``logons`` table on ``engine``.

    ``paths`` are files, folders or globs (see :func:`tracehound.readers.files.expand`). Files that are
    not logons are listed as unreadable in the report, not raised, so a folder of mixed exports works;
    a file damaged half-way keeps what precedes the damage and is listed as damaged.
    """
    report = ReadReport()
    bounds = limits.bounds()
    writer = PartWriter(engine.staging_folder("logons"), LOGONS)
    problems: list[tuple[Path, str]] = []
    for path in files.expand(paths, problems):
        try:
            fmt = sniff_logon_format(path)
        except OSError as exc:
            report.unreadable(path, f"cannot open: {exc.strerror or exc}")
            continue
        if fmt is None:
            report.unreadable(path, "not a logon log (EVTX, Event XML, Windows JSON, Sentinel CSV, LANL or "
                                     "auth syslog)")
            continue
        report.files += 1
        report.formats[fmt] += 1
        records_before, skipped_before = report.records, Counter(report.skipped)
        try:
            for row in iter_logon_rows(path, fmt, report, lanl_origin=lanl_origin, syslog_year=syslog_year,
                                       limits=limits, bounds=bounds):
                if row["user"] is None:
                    report.skip(NO_ACCOUNT)
                elif not accounts.keeps(row["user"]):
                    report.skip(FILTERED)
                else:
                    report.records += 1
                    writer.add(row)
        except (OSError, zipfile.BadZipFile, UnicodeDecodeError) as exc:
            report.damaged(path, f"reading stopped ({type(exc).__name__}: {exc}): records after it are lost")
        unused_only(report, path, records_before, skipped_before)
    for folder, why in problems:
        report.unreadable(folder, why)
    writer.close()
    return engine.read_parquet(writer.folder), report
