"""Windows logon events and LANL authentication records → the canonical ``logons`` table.

Windows Security events 4624 (logon), 4625 (failed logon) and 4648 (explicit credentials) arrive in
four shapes that carry the same fields under different nesting:

- ``.evtx`` files, parsed with the ``evtx`` package; a corrupt chunk is reported and skipped, the
  rest of the file is read;
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
``exclude_*`` flags to keep them. Records of other event IDs are not logons and are skipped silently;
records that look like logons but cannot be read are counted in the :class:`ReadReport`.
"""

from __future__ import annotations

import csv
import io
import zipfile
from dataclasses import dataclass
from datetime import datetime, timedelta, timezone
from pathlib import Path
from typing import Iterable, Iterator

import ibis
import orjson

from ..badrecords import ReadReport
from ..engine import Engine
from ..schema import LOGONS
from . import files
from .authlog import iter_authlog_rows, sniff_authlog
from .hosts import host_name
from .staging import PartWriter, parse_time  # parse_time: also imported from here by older code

LOGON_EVENTS = (4624, 4625, 4648)
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
def sniff_logon_format(path: str | Path) -> str | None:
    """``evtx``, ``windows-json``, ``windows-zip``, ``sentinel-csv``, ``lanl``, ``authlog`` or None."""
    path = Path(path)
    with open(path, "rb") as fh:
        magic = fh.read(8)
    if magic.startswith(b"ElfFile"):
        return "evtx"
    if magic.startswith(b"PK\x03\x04"):
        try:
            with zipfile.ZipFile(path) as zf:
                names = [n for n in zf.namelist() if not n.endswith("/")]
                if not names:
                    return None
                with zf.open(names[0]) as member:
                    head = files.decode(member.read(65536))
        except zipfile.BadZipFile:
            return None
        return "windows-zip" if _looks_like_windows_json(head) else None
    head = files.head_text(path)
    stripped = head.lstrip()
    if stripped.startswith("{"):
        return "windows-json" if _looks_like_windows_json(head) else None
    first = stripped.splitlines()[0] if stripped else ""
    if "EventID" in first and "TargetUserName" in first and "," in first:
        return "sentinel-csv"
    if _looks_like_lanl(first):
        return "lanl"
    if sniff_authlog(head):
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
    if isinstance(value, dict):
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
        if isinstance(data.get("Data"), list):  # <Data Name="..."> rendered as a list
            data = {d.get("#attributes", {}).get("Name"): d.get("#text") for d in data["Data"]
                    if isinstance(d, dict)}
        out = {k: _scalar(v) for k, v in data.items()} if isinstance(data, dict) else {}
        created = system.get("TimeCreated") or {}
        out["EventID"] = _scalar(system.get("EventID"))
        out["Computer"] = system.get("Computer")
        out["TimeCreated"] = (created.get("#attributes") or {}).get("SystemTime") \
            if isinstance(created, dict) else created
        return out
    winlog = rec.get("winlog")
    if isinstance(winlog, dict):  # Winlogbeat
        out = dict(winlog.get("event_data") or {})
        out["EventID"] = winlog.get("event_id", (rec.get("event") or {}).get("code"))
        out["Computer"] = winlog.get("computer_name")
        out["TimeCreated"] = rec.get("@timestamp")
        return out
    return rec  # flat: OTRF / NXLog / Sentinel SecurityEvent


def _int(value) -> int | None:
    if value is None or value == "" or value == "-":
        return None
    if isinstance(value, bool):
        return None
    if isinstance(value, int):
        return value
    return int(str(value).strip(), 0) if str(value).strip().lower().startswith("0x") else int(
        float(str(value).strip()))


def _text(value) -> str | None:
    if value is None:
        return None
    text = str(value).strip()
    return None if text in ("", "-") else text


def _host(value) -> str | None:
    return host_name(_text(value))


def windows_row(fields: dict, event_id: str, source: str) -> dict | None:
    """The canonical row for a flat Windows field dict, or None if it is not a 4624/4625/4648.

    Raises ``ValueError``/``KeyError`` for a logon event that lacks a readable time or user.
    """
    code = _int(fields.get("EventID", fields.get("EventCode")))
    if code not in LOGON_EVENTS:
        return None
    when = fields.get("TimeCreated") or fields.get("@timestamp") or fields.get("TimeGenerated") \
        or fields.get("TimeCreatedUtc")
    if when is None:
        raise KeyError("no time field (TimeCreated / @timestamp / TimeGenerated)")
    user = _text(fields.get("TargetUserName"))
    if user is None:
        raise KeyError("no TargetUserName")
    computer = _host(fields.get("Computer") or fields.get("Hostname"))
    target = computer
    if code == 4648:  # explicit credentials: logged on the source, naming the server it reaches
        target = _host(fields.get("TargetServerName")) or computer
        source_host = computer
    else:
        source_host = _host(fields.get("WorkstationName"))
    return {
        "event_id": event_id,
        "time": parse_time(when),
        "user": user,
        "domain": _text(fields.get("TargetDomainName")),
        "target_host": target,
        "source_ip": _text(fields.get("IpAddress")),
        "source_host": source_host,
        "logon_type": _int(fields.get("LogonType")),
        "event_code": code,
        "success": code != 4625,
        "source": source,
    }


def lanl_row(line: str, event_id: str, origin: datetime) -> dict | None:
    """The canonical row for one LANL auth line, or None for LogOff/TGS/TGT/AuthMap records."""
    parts = line.split(",")
    if len(parts) != 9:
        raise ValueError(f"expected 9 comma-separated fields, got {len(parts)}")
    t, src_user, _dst_user, src_pc, dst_pc, _auth, ltype, orientation, result = parts
    if orientation.strip().lower() != "logon":
        return None
    user, _, domain = src_user.partition("@")
    ok = result.strip().lower()
    if ok not in ("success", "fail"):
        raise ValueError(f"success field is {result!r}, expected Success or Fail")
    return {
        "event_id": event_id,
        "time": origin + timedelta(seconds=int(t)),
        "user": user or None,
        "domain": domain or None,
        "target_host": _host(dst_pc),
        "source_ip": None,
        "source_host": _host(src_pc),
        "logon_type": LANL_LOGON_TYPES.get(ltype.strip().lower()),
        "event_code": 4624 if ok == "success" else 4625,
        "success": ok == "success",
        "source": "lanl",
    }


# --------------------------------------------------------------------------------------------
# per-format record streams: yield (line_or_record_number, raw, row-or-None) and reject bad ones
# --------------------------------------------------------------------------------------------
def _json_lines(lines: Iterable[tuple[int, str]], path: Path, name: str, source: str,
                report: ReadReport) -> Iterator[dict]:
    for number, rec, line in files.json_objects(lines, path, report):
        try:
            row = windows_row(windows_fields(rec), f"{name}:{number}", source)
        except (ValueError, KeyError, TypeError, AttributeError, OverflowError) as exc:
            report.reject(path, number, f"{type(exc).__name__}: {exc}", line)
            continue
        if row is not None:
            yield row


def _zip_lines(path: Path) -> Iterator[tuple[str, Iterator[tuple[int, str]]]]:
    """Each member of a zip as (member name, numbered lines), streamed: OTRF members are 40 MB."""
    with zipfile.ZipFile(path) as zf:
        for info in zf.infolist():
            if info.is_dir():
                continue
            with zf.open(info) as member:
                text = io.TextIOWrapper(member, encoding="utf-8", errors="replace")
                yield info.filename, ((n, ln.rstrip("\r\n")) for n, ln in enumerate(text, 1)
                                      if ln.strip())


def _evtx_rows(path: Path, report: ReadReport) -> Iterator[dict]:
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
        number = rec.get("event_record_id")  # EventRecordID: what Event Viewer shows
        try:
            row = windows_row(windows_fields(orjson.loads(rec["data"])), f"{path.name}:{number}",
                              "evtx")
        except (ValueError, KeyError, TypeError, AttributeError, OverflowError) as exc:
            report.reject(path, number, f"{type(exc).__name__}: {exc}", rec.get("data", ""))
            continue
        if row is not None:
            yield row


def _sentinel_rows(path: Path, report: ReadReport) -> Iterator[dict]:
    text = files.decode(files.read_bytes(path))
    reader = csv.DictReader(io.StringIO(text))
    for index, rec in enumerate(reader):
        number = index + 2  # header is line 1 (multi-line cells would shift this; Sentinel has none)
        try:
            row = windows_row(rec, f"{path.name}:{number}", "sentinel")
        except (ValueError, KeyError, TypeError, OverflowError) as exc:
            report.reject(path, number, f"{type(exc).__name__}: {exc}", ",".join(map(str, rec.values())))
            continue
        if row is not None:
            yield row


def _lanl_rows(path: Path, report: ReadReport, origin: datetime) -> Iterator[dict]:
    for number, line in files.iter_lines(path):
        try:
            row = lanl_row(line, f"{path.name}:{number}", origin)
        except (ValueError, OverflowError) as exc:
            report.reject(path, number, f"{type(exc).__name__}: {exc}", line)
            continue
        if row is not None:
            yield row


def iter_logon_rows(path: Path, fmt: str, report: ReadReport, *,
                    lanl_origin: datetime = LANL_ORIGIN, syslog_year: int | None = None) -> Iterator[dict]:
    """Canonical rows of one file in a known format (before account filtering).

    ``syslog_year`` is the year of an auth log's first line (None: inferred, see
    :mod:`tracehound.readers.authlog`)."""
    if fmt == "evtx":
        yield from _evtx_rows(path, report)
    elif fmt == "windows-zip":
        for member, lines in _zip_lines(path):
            yield from _json_lines(lines, path, f"{path.name}/{member}", "windows-json", report)
    elif fmt == "windows-json":
        yield from _json_lines(files.iter_lines(path), path, path.name, "windows-json", report)
    elif fmt == "sentinel-csv":
        yield from _sentinel_rows(path, report)
    elif fmt == "lanl":
        yield from _lanl_rows(path, report, lanl_origin)
    elif fmt == "authlog":
        yield from iter_authlog_rows(path, report, year=syslog_year)
    else:
        raise ValueError(f"unknown logon format {fmt!r}")


# --------------------------------------------------------------------------------------------
# the public reader
# --------------------------------------------------------------------------------------------
def read_logons(paths: Iterable[str | Path] | str | Path, engine: Engine, *,
                accounts: LogonFilter = LogonFilter(), lanl_origin: datetime = LANL_ORIGIN,
                syslog_year: int | None = None) -> tuple[ibis.Table, ReadReport]:
    """Read logon files of any supported format into the canonical ``logons`` table on ``engine``.

    ``paths`` are files, folders or globs (see :func:`tracehound.readers.files.expand`). Files that are
    not logons are listed as unreadable in the report, not raised, so a folder of mixed exports works.
    """
    report = ReadReport()
    writer = PartWriter(engine.staging_folder("logons"), LOGONS)
    for path in files.expand(paths):
        fmt = sniff_logon_format(path)
        if fmt is None:
            report.unreadable(path, "not a logon log (EVTX, Windows JSON, Sentinel CSV, LANL or auth syslog)")
            continue
        report.files += 1
        report.formats[fmt] += 1
        try:
            for row in iter_logon_rows(path, fmt, report, lanl_origin=lanl_origin,
                                       syslog_year=syslog_year):
                report.records += 1
                if row["user"] is not None and accounts.keeps(row["user"]):
                    writer.add(row)
        except (OSError, zipfile.BadZipFile, UnicodeDecodeError) as exc:
            report.unreadable(path, f"{type(exc).__name__}: {exc}")
    writer.close()
    return engine.read_parquet(writer.folder), report
