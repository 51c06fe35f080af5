"""Network connection logs → the canonical ``connections`` table.

Two sources: Zeek ``conn.log`` (the TSV form with its ``#fields`` header, and the JSON form Zeek
writes with ``LogAscii::use_json``), and a generic firewall CSV whose columns are named by a mapping
(canonical column → CSV header). Common header spellings are recognised without a mapping.
"""

from __future__ import annotations

import csv
import io
from datetime import datetime, timezone
from pathlib import Path
from typing import Iterable, Iterator, Mapping

import ibis

from ..badrecords import ReadReport
from ..engine import Engine
from ..errors import InputFormatError
from ..schema import CONNECTIONS
from . import files
from .staging import PartWriter, parse_time

#: Header spellings tried, in order, when no mapping is given for a canonical column.
FIREWALL_ALIASES: dict[str, tuple[str, ...]] = {
    "time": ("time", "timestamp", "ts", "datetime", "date", "start_time", "receive_time",
             "TimeGenerated", "@timestamp"),
    "src_ip": ("src_ip", "src", "source_ip", "srcip", "source", "SourceIP", "src_addr", "SourceIp"),
    "dst_ip": ("dst_ip", "dst", "destination_ip", "dstip", "dest_ip", "destination", "DestinationIP",
               "dst_addr", "DestinationIp"),
    "dst_port": ("dst_port", "dport", "destination_port", "dstport", "dest_port", "DestinationPort"),
    "proto": ("proto", "protocol", "Protocol", "transport"),
    "service": ("service", "app", "application", "Application"),
    "bytes_out": ("bytes_out", "sent_bytes", "bytes_sent", "SentBytes", "orig_bytes"),
    "bytes_in": ("bytes_in", "received_bytes", "bytes_received", "ReceivedBytes", "resp_bytes"),
    "duration": ("duration", "elapsed", "elapsed_time", "Duration"),
}
REQUIRED = ("time", "src_ip", "dst_ip")
ZEEK_UNSET = ("-", "(empty)", "")


def sniff_connection_format(path: str | Path) -> str | None:
    """``zeek-tsv``, ``zeek-json``, ``firewall-csv`` or None if the file is not connection records."""
    head = files.head_text(path)
    stripped = head.lstrip()
    if stripped.startswith("#separator") or ("#fields" in head and "id.orig_h" in head):
        return "zeek-tsv"
    if stripped.startswith("{"):
        return "zeek-json" if '"id.orig_h"' in head and '"id.resp_h"' in head else None
    first = stripped.splitlines()[0] if stripped else ""
    if "," in first and _header_mapping(next(csv.reader([first])), None, strict=False) is not None:
        return "firewall-csv"
    return None


def _int(value) -> int | None:
    if value is None or value in ZEEK_UNSET:
        return None
    return int(float(value))


def _float(value) -> float | None:
    if value is None or value in ZEEK_UNSET:
        return None
    return float(value)


def _str(value) -> str | None:
    if value is None:
        return None
    text = str(value).strip()
    return None if text in ZEEK_UNSET else text


def _zeek_time(value) -> datetime:
    """Zeek writes epoch seconds (TSV, default JSON) or ISO-8601 (JSON with ``json_timestamps``)."""
    try:
        return datetime.fromtimestamp(float(value), tz=timezone.utc)
    except (TypeError, ValueError):
        return parse_time(value)


def zeek_row(rec: Mapping, event_id: str) -> dict:
    """The canonical row for one Zeek conn record (field names as Zeek writes them)."""
    if rec.get("ts") in (None, "-") or _str(rec.get("id.orig_h")) is None:
        raise KeyError("missing ts or id.orig_h")
    return {
        "event_id": _str(rec.get("uid")) or event_id,
        "time": _zeek_time(rec["ts"]),
        "src_ip": _str(rec.get("id.orig_h")),
        "dst_ip": _str(rec.get("id.resp_h")),
        "dst_port": _int(rec.get("id.resp_p")),
        "proto": _str(rec.get("proto")),
        "service": _str(rec.get("service")),
        "bytes_out": _int(rec.get("orig_bytes")),
        "bytes_in": _int(rec.get("resp_bytes")),
        "duration": _float(rec.get("duration")),
        "source": "zeek",
    }


def _zeek_tsv_rows(path: Path, report: ReadReport) -> Iterator[dict]:
    fields: list[str] | None = None
    sep = "\t"
    for number, line in files.iter_lines(path):
        if line.startswith("#"):
            if line.startswith("#separator"):
                token = line.split(None, 1)[1].strip() if len(line.split(None, 1)) > 1 else "\\x09"
                sep = bytes(token, "ascii").decode("unicode_escape") if token.startswith("\\x") else token
            elif line.startswith("#fields"):
                fields = line.split(sep)[1:]
            continue
        if fields is None:
            raise InputFormatError("Zeek log without a #fields header line", path=str(path), line=number)
        if len(line) > files.MAX_LINE:
            report.reject(path, number, "line longer than 1 MiB", line)
            continue
        values = line.split(sep)
        if len(values) != len(fields):
            report.reject(path, number, f"{len(values)} fields, #fields header names {len(fields)}", line)
            continue
        try:
            yield zeek_row(dict(zip(fields, values)), f"{path.name}:{number}")
        except (ValueError, KeyError, OverflowError) as exc:
            report.reject(path, number, f"{type(exc).__name__}: {exc}", line)


def _zeek_json_rows(path: Path, report: ReadReport) -> Iterator[dict]:
    for number, rec, line in files.json_objects(files.iter_lines(path), path, report):
        try:
            yield zeek_row(rec, f"{path.name}:{number}")
        except (ValueError, KeyError, TypeError, OverflowError) as exc:
            report.reject(path, number, f"{type(exc).__name__}: {exc}", line)


def _header_mapping(header: list[str], mapping: Mapping[str, str] | None, *,
                    strict: bool = True, path: Path | None = None) -> dict[str, str] | None:
    """Canonical column → CSV header, from ``mapping`` first and the aliases second.

    With ``strict`` a missing required column raises :class:`InputFormatError`; otherwise None.
    """
    present = {h.strip(): h for h in header}
    lower = {h.strip().lower(): h for h in header}
    result: dict[str, str] = {}
    for column in CONNECTIONS.names:
        if mapping and column in mapping:
            if mapping[column] not in present:
                if strict:
                    raise InputFormatError(f"mapped column {mapping[column]!r} (for {column}) is not in "
                                           f"the header {header!r}", path=str(path) if path else None)
                return None
            result[column] = present[mapping[column]]
            continue
        for alias in FIREWALL_ALIASES.get(column, ()):
            if alias.lower() in lower:
                result[column] = lower[alias.lower()]
                break
    missing = [c for c in REQUIRED if c not in result]
    if missing:
        if strict:
            raise InputFormatError(f"no column for {', '.join(missing)}; pass a mapping such as "
                                   f"--map src_ip=SourceAddress (header: {header!r})",
                                   path=str(path) if path else None)
        return None
    return result


def _firewall_rows(path: Path, report: ReadReport, mapping: Mapping[str, str] | None) -> Iterator[dict]:
    reader = csv.reader(io.StringIO(files.decode(files.read_bytes(path))))
    header = next(reader, None)
    if header is None:
        return
    cols = _header_mapping(header, mapping, path=path)
    index = {canon: header.index(name) for canon, name in cols.items()}
    for number, values in enumerate(reader, start=2):
        if not values:
            continue
        if len(values) != len(header):
            report.reject(path, number, f"{len(values)} fields, header has {len(header)}", ",".join(values))
            continue
        get = {canon: values[i] for canon, i in index.items()}
        try:
            yield {
                "event_id": f"{path.name}:{number}",
                "time": parse_time(get["time"]),
                "src_ip": _str(get["src_ip"]),
                "dst_ip": _str(get["dst_ip"]),
                "dst_port": _int(get.get("dst_port")),
                "proto": (_str(get.get("proto")) or "").lower() or None,
                "service": _str(get.get("service")),
                "bytes_out": _int(get.get("bytes_out")),
                "bytes_in": _int(get.get("bytes_in")),
                "duration": _float(get.get("duration")),
                "source": "firewall",
            }
        except (ValueError, OverflowError) as exc:
            report.reject(path, number, f"{type(exc).__name__}: {exc}", ",".join(values))


def read_connections(paths: Iterable[str | Path] | str | Path, engine: Engine,
                     mapping: Mapping[str, str] | None = None) -> tuple[ibis.Table, ReadReport]:
    """Read Zeek conn logs and firewall CSVs into the canonical ``connections`` table on ``engine``.

    ``mapping`` names the firewall CSV header for canonical columns (``{"src_ip": "SourceAddress"}``);
    columns it leaves out are found by common spellings. Files that are not connection logs are
    listed as unreadable in the report.
    """
    report = ReadReport()
    writer = PartWriter(engine.staging_folder("connections"), CONNECTIONS)
    for path in files.expand(paths):
        fmt = sniff_connection_format(path)
        if fmt is None and mapping:  # headers only the mapping knows
            fmt = "firewall-csv"
        if fmt is None:
            report.unreadable(path, "not a connection log (Zeek conn.log TSV/JSON or firewall CSV)")
            continue
        report.files += 1
        report.formats[fmt] += 1
        rows = (_zeek_tsv_rows(path, report) if fmt == "zeek-tsv"
                else _zeek_json_rows(path, report) if fmt == "zeek-json"
                else _firewall_rows(path, report, mapping))
        try:
            for row in rows:
                report.records += 1
                writer.add(row)
        except OSError as exc:
            report.unreadable(path, f"{type(exc).__name__}: {exc}")
    writer.close()
    return engine.read_parquet(writer.folder), report
