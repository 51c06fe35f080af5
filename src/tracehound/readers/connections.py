"""Network connection logs → the canonical ``connections`` table.

Two sources: Zeek ``conn.log`` (the TSV form with its ``#fields`` header, the JSON form Zeek
writes with ``LogAscii::use_json``, and that JSON with ``id_orig_h``-style names as OTRF and
several pipelines write it), and a generic firewall CSV whose columns are named by a mapping
(canonical column → CSV header). Common header spellings are recognised without a mapping.

Values are typed, not coerced (:mod:`tracehound.readers.values`): addresses must be IP addresses,
ports and byte counts integers (``123.5`` is a reject, not a 123), times inside the read's bounds.
A record without its source or destination address is a reject. Every file goes through the shared
reader stream, so a truncated gzip keeps what precedes the cut and names the file as damaged.
"""

from __future__ import annotations

import csv
from datetime import datetime
from pathlib import Path
from typing import Iterable, Iterator, Mapping

import ibis

from ..badrecords import ReadReport
from ..engine import Engine
from ..errors import InputFormatError
from ..schema import CONNECTIONS
from . import files
from .hosts import unmapped
from .limits import DEFAULT, Limits, TimeBounds
from .staging import PartWriter, parse_time
from .stream import TextStream, csv_rows, fielded_rows, json_objects
from .values import ROW_ERRORS, integer, ip, real, reason, text

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


def sniff_connection_format(path: str | Path, head: files.Head | None = None) -> str | None:
    """``zeek-tsv``, ``zeek-json``, ``firewall-csv`` or None if the file is not connection records.
    ``head``: the file's first bytes, read once by routing."""
    text = files.head_text(path, head=head)
    stripped = text.lstrip()
    if stripped.startswith("#separator") or ("#fields" in text and "id.orig_h" in text):
        return "zeek-tsv"
    if stripped.startswith("{"):
        dotted = '"id.orig_h"' in text and '"id.resp_h"' in text
        underscored = '"id_orig_h"' in text and '"id_resp_h"' in text
        return "zeek-json" if dotted or underscored else None
    first = stripped.splitlines()[0] if stripped else ""
    try:
        header = next(csv.reader([first]))
    except (csv.Error, StopIteration):
        return None
    if "," in first and _header_mapping(header, None, strict=False) is not None:
        return "firewall-csv"
    return None


def _zeek_time(value) -> datetime:
    """Zeek writes epoch seconds (TSV, default JSON) or ISO-8601 (JSON with ``json_timestamps``)."""
    if isinstance(value, str):
        try:
            value = float(value)
        except ValueError:
            return parse_time(value)
    return parse_time(value)


#: Zeek's connection-id fields as pipelines that cannot store dots in names write them (OTRF
#: Security-Datasets, Logstash / Elastic ingest, Parquet exports): ``id_orig_h`` for ``id.orig_h``.
UNDERSCORED = {"id_orig_h": "id.orig_h", "id_orig_p": "id.orig_p", "id_resp_h": "id.resp_h",
               "id_resp_p": "id.resp_p"}


def zeek_row(rec: Mapping, event_id: str, bounds: TimeBounds | None = None) -> dict:
    """The canonical row for one Zeek conn record (field names as Zeek writes them, or with
    :data:`UNDERSCORED` names); ``bounds``: the read's time bounds (the readers pass theirs;
    ``None`` checks none)."""
    if "id_orig_h" in rec or "id_resp_h" in rec:
        rec = {UNDERSCORED.get(k, k): v for k, v in rec.items()}
    src = unmapped(ip(rec.get("id.orig_h"), "id.orig_h"))
    dst = unmapped(ip(rec.get("id.resp_h"), "id.resp_h"))
    if rec.get("ts") in (None, "-", "") or src is None or dst is None:
        raise KeyError("missing ts, id.orig_h or id.resp_h")
    stamp = _zeek_time(rec["ts"])
    return {
        "event_id": text(rec.get("uid"), "uid") or event_id,
        "time": bounds.check(stamp) if bounds is not None else stamp,
        "src_ip": src,
        "dst_ip": dst,
        "dst_port": integer(rec.get("id.resp_p"), "id.resp_p"),
        "proto": text(rec.get("proto"), "proto"),
        "service": text(rec.get("service"), "service"),
        "bytes_out": integer(rec.get("orig_bytes"), "orig_bytes"),
        "bytes_in": integer(rec.get("resp_bytes"), "resp_bytes"),
        "duration": real(rec.get("duration"), "duration"),
        "source": "zeek",
    }


def _zeek_tsv_rows(stream: TextStream, bounds: TimeBounds) -> Iterator[dict]:
    sep = ["\t"]  # the current #separator; a later #fields line is split with it

    def directive(number: int, line: str) -> list[str] | None:
        if line.startswith("#separator"):
            token = line.split(None, 1)[1].strip() if len(line.split(None, 1)) > 1 else "\\x09"
            try:
                sep[0] = bytes(token, "ascii").decode("unicode_escape") if token.startswith("\\x") else token
            except (UnicodeError, ValueError):
                stream.report.reject(stream.label, number, f"unreadable #separator {token[:20]!r}; kept {sep[0]!r}",
                                     line)
            return None
        return line.split(sep[0])[1:] if line.startswith("#fields") else None

    return fielded_rows(stream, lambda values, where: zeek_row(values, where, bounds), directive=directive,
                        split=lambda line: line.split(sep[0]), before="Zeek record before any #fields header line",
                        counts="{values} fields, #fields header names {fields}")


def _zeek_json_rows(stream: TextStream, bounds: TimeBounds) -> Iterator[dict]:
    name = stream.path.name
    for number, rec, line in json_objects(stream.lines(), stream.label, stream.report, stream.limits):
        try:
            yield zeek_row(rec, f"{name}:{number}", bounds)
        except ROW_ERRORS as exc:
            stream.report.reject(stream.label, number, reason(exc), line)


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
                                           f"the header {header[:20]!r}", path=str(path) if path else None)
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
                                   f"--map src_ip=SourceAddress (header: {header[:20]!r})",
                                   path=str(path) if path else None)
        return None
    return result


def _firewall_rows(stream: TextStream, mapping: Mapping[str, str] | None, bounds: TimeBounds) -> Iterator[dict]:
    """Rows of a firewall CSV; a header without the required columns is :class:`InputFormatError`."""
    name = stream.path.name
    index: dict[str, int] | None = None
    for number, header, values in csv_rows(stream, sep=","):
        if index is None:
            cols = _header_mapping(header, mapping, path=stream.path)
            index = {canon: header.index(col) for canon, col in cols.items()}
        get = {canon: values[i] for canon, i in index.items()}
        try:
            src, dst = ip(get["src_ip"], "src_ip"), ip(get["dst_ip"], "dst_ip")
            if src is None or dst is None:
                raise KeyError("missing src_ip or dst_ip")
            proto = text(get.get("proto"), "proto")
            yield {
                "event_id": f"{name}:{number}",
                "time": bounds.check(parse_time(get["time"])),
                "src_ip": src,
                "dst_ip": dst,
                "dst_port": integer(get.get("dst_port"), "dst_port"),
                "proto": proto.lower() if proto else None,
                "service": text(get.get("service"), "service"),
                "bytes_out": integer(get.get("bytes_out"), "bytes_out"),
                "bytes_in": integer(get.get("bytes_in"), "bytes_in"),
                "duration": real(get.get("duration"), "duration"),
                "source": "firewall",
            }
        except ROW_ERRORS as exc:
            stream.report.reject(stream.label, number, reason(exc), ",".join(values))


def read_connections(paths: Iterable[str | Path] | str | Path, engine: Engine,
                     mapping: Mapping[str, str] | None = None, *,
                     limits: Limits = DEFAULT) -> tuple[ibis.Table, ReadReport]:
    """Read Zeek conn logs and firewall CSVs into the canonical ``connections`` table on ``engine``.

    ``mapping`` names the firewall CSV header for canonical columns (``{"src_ip": "SourceAddress"}``);
    columns it leaves out are found by common spellings. Files that are not connection logs are
    listed as unreadable in the report; a file damaged half-way keeps what precedes the damage.
    A firewall CSV whose header the mapping does not fit is an unreadable file naming the columns.
    """
    report = ReadReport()
    bounds = limits.bounds()
    writer = PartWriter(engine.staging_folder("connections"), CONNECTIONS)
    problems: list[tuple[Path, str]] = []
    for path in files.expand(paths, problems):
        try:
            fmt = sniff_connection_format(path)
        except OSError as exc:
            report.unreadable(path, f"cannot open: {exc.strerror or exc}")
            continue
        if fmt is None and mapping:  # headers only the mapping knows
            fmt = "firewall-csv"
        if fmt is None:
            report.unreadable(path, "not a connection log: neither Zeek conn.log (TSV with #fields, or "
                                    "JSON with id.orig_h / id_orig_h and id.resp_h / id_resp_h) nor a "
                                    "firewall CSV with time, source and destination address columns")
            continue
        report.files += 1
        report.formats[fmt] += 1
        stream = TextStream(path, report, limits)
        rows = (_zeek_tsv_rows(stream, bounds) if fmt == "zeek-tsv"
                else _zeek_json_rows(stream, bounds) if fmt == "zeek-json"
                else _firewall_rows(stream, mapping, bounds))
        try:
            for row in rows:
                report.records += 1
                writer.add(row)
        except InputFormatError as exc:  # a header the mapping does not fit: this file only
            report.unreadable(path, str(exc))
        except OSError as exc:
            report.damaged(path, f"reading stopped ({type(exc).__name__}: {exc}): records after it are lost")
    for folder, why in problems:
        report.unreadable(folder, why)
    writer.close()
    return engine.read_parquet(writer.folder), report
