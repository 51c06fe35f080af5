"""The reader families: the one place the pipeline learns how each canonical table is read.

A family is a canonical table plus the sniffer that recognises its raw logs by content and the
reader that parses them. :func:`route` sorts a pile of inputs (a folder mixing sign-in exports, EVTX,
Zeek logs, access logs and tracehound's own Parquet) into families; :func:`read_family` turns one
family's files into one engine table. Parquet that already is a canonical table is recognised by
its columns and taken in by :func:`tracehound.readers.staging.read_canonical`, the only such
pass-through, so a file gives the same table whichever command read it. Antivirus detections come
from Windows Defender logs and CSV / JSON exports (``readers/defender.py``) or as canonical Parquet.

The damage policy: :func:`read_family` never raises for what is in a file. A damaged file is a
located entry of its :class:`~tracehound.badrecords.ReadReport` (``damaged_files``, with what was
lost) and the other files are read; only configuration (an unknown table or read option) raises.
Every family accepts the ``limits`` read option (:class:`~tracehound.readers.limits.Limits`).
"""

from __future__ import annotations

import functools
import os
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any, Callable, Iterable, Mapping

import ibis
import pyarrow as pa
import pyarrow.parquet as pq

from ..badrecords import ReadReport
from ..engine import Engine
from ..errors import ConfigError
from ..schema import ADDED, CONNECTIONS, TABLES
from .connections import read_connections, sniff_connection_format
from .defender import read_detections, sniff_detections_format
from .files import MARKERS, expand, read_head
from .limits import DEFAULT, Limits
from .logons import LogonFilter, read_logons, sniff_logon_format
from .parquet import row_groups
from .signins import read_signins, sniff_signin_format
from .staging import read_canonical
from .weblogs import read_weblogs, sniff_weblog_format


@dataclass(frozen=True)
class Family:
    """One canonical table and how its raw logs are recognised and read.

    ``sniff(path, head=...)`` is given the file's first bytes (:class:`~.files.Head`), read once by
    :func:`route` for every sniffer. ``read(files, engine, **options)`` accepts exactly the keyword
    ``options`` listed here; with ``sniffed``, also ``formats`` (file → the format :func:`route`
    recognised), so a folder of 100,000 files is not sniffed a second time.
    """

    table: str
    sniff: Callable[..., str | None]
    read: Callable[..., tuple[ibis.Table, ReadReport]]
    options: tuple[str, ...] = ()
    sniffed: bool = False


#: In routing order: the first family whose sniffer recognises a file gets it.
FAMILIES: tuple[Family, ...] = (
    Family("signins", sniff_signin_format, functools.partial(read_signins, require=False), ("limits",),
           sniffed=True),
    # Before logons: the logon sniffer takes any EVTX; this one only a Defender provider's.
    Family("detections", sniff_detections_format, read_detections, ("limits",)),
    Family("logons", sniff_logon_format, read_logons, ("accounts", "limits")),
    Family("connections", sniff_connection_format, read_connections, ("mapping", "limits")),
    Family("web_requests", sniff_weblog_format, read_weblogs, ("limits",)),
)
_BY_TABLE = {family.table: family for family in FAMILIES}

#: What :func:`route` recognised, for the families that take it (``Family.sniffed``): path →
#: (the file's size, modification time and inode as it was read for sniffing, its format).
#: :func:`read_family` hands a file's format on only while the file is unchanged, and forgets it once used.
_SNIFFED: dict[str, tuple[tuple[int, int, int], str]] = {}


def _recall(paths: list[Path]) -> dict[Path, str]:
    """The formats :func:`route` found for ``paths`` that are unchanged since (each forgotten)."""
    formats = {}
    stat = os.stat
    for path in paths:
        entry = _SNIFFED.pop(str(path), None)
        if entry is None:
            continue
        try:
            st = stat(path)
        except OSError:
            continue
        if (st.st_size, st.st_mtime_ns, st.st_ino) == entry[0]:
            formats[path] = entry[1]
    return formats


def _check_accounts(value: Any) -> None:
    if not isinstance(value, LogonFilter):
        raise ConfigError(f"read option accounts: expected a LogonFilter, got {type(value).__name__}")


def _check_mapping(value: Any) -> None:
    """``None`` or canonical column → CSV header; a misspelt column would otherwise be ignored."""
    if value is None:
        return
    if not isinstance(value, Mapping):
        raise ConfigError(f"read option mapping: expected canonical column → CSV header, "
                          f"got {type(value).__name__}")
    for column, header in value.items():
        if column not in CONNECTIONS.names:
            raise ConfigError(f"read option mapping: {column!r} is not a connections column; "
                              f"expected one of {', '.join(CONNECTIONS.names)}")
        if not isinstance(header, str):
            raise ConfigError(f"read option mapping: the header for {column!r} must be text, "
                              f"got {type(header).__name__}")


def _check_limits(value: Any) -> None:
    if not isinstance(value, Limits):
        raise ConfigError(f"read option limits: expected a tracehound.readers.limits.Limits, "
                          f"got {type(value).__name__}")


_OPTION_CHECKS: dict[str, Callable[[Any], None]] = {"accounts": _check_accounts, "mapping": _check_mapping,
                                                    "limits": _check_limits}


@dataclass
class Routing:
    """Which files go to which family, the ones nothing recognised, and the files and folders that
    could not be opened or listed (``(path, reason)``: a locked sub-folder is named, never skipped
    in silence)."""

    files: dict[str, list[Path]] = field(default_factory=dict)
    canonical: dict[str, list[Path]] = field(default_factory=dict)
    unrecognised: list[Path] = field(default_factory=list)
    unreadable: list[tuple[Path, str]] = field(default_factory=list)


def canonical_table(path: Path, magic: bytes | None = None) -> str | None:
    """The canonical table a Parquet file already is (tracehound's own output), by content, if any.

    A file with every column of a table's schema is that table (extra columns are allowed and
    dropped on reading; columns added later, :data:`tracehound.schema.ADDED`, may be missing); the
    first table in :data:`tracehound.schema.TABLES` that fits wins. ``magic``: the file's first four
    bytes when the caller has read them already.
    """
    try:
        if magic is None:
            with open(path, "rb") as fh:
                magic = fh.read(4)
        if magic != b"PAR1":
            return None
        names = set(pq.read_schema(path).names)
    except Exception:  # noqa: BLE001 - pyarrow raises several types for damaged files: not canonical
        return None
    for table, schema in TABLES.items():
        if set(schema.names) - set(ADDED.get(table, ())) <= names:
            return table
    return None


def _with_added_columns(paths: list[Path], table: str, engine: Engine,
                        report: ReadReport) -> tuple[list[Path], dict[str, str]]:
    """Canonical files saved before the table gained its :data:`~tracehound.schema.ADDED` columns,
    as staged copies with those columns null (row group by row group, damage reported under the
    original's name); the paths to read and copy → original, so reports can name the original."""
    added = ADDED.get(table, ())
    if not added:
        return paths, {}
    out: list[Path] = []
    copies: dict[str, str] = {}
    for path in paths:
        try:
            names = pq.read_schema(path).names
        except Exception:  # noqa: BLE001 - a damaged footer is read_canonical's to report
            names = None
        missing = [c for c in added if names is not None and c not in names]
        if not missing:
            out.append(path)
            continue
        copy = engine.staging_folder(f"{table}-upgraded") / f"saved-{len(copies):05d}.parquet"
        writer = None
        for _, group in row_groups(path, names, report, label=str(path)):
            for column in missing:
                group = group.append_column(pa.field(column, TABLES[table].field(column).type),
                                            pa.nulls(group.num_rows, TABLES[table].field(column).type))
            writer = writer or pq.ParquetWriter(copy, group.schema)
            writer.write_table(group)
        if writer is None:
            continue  # nothing decodable: the damage is reported
        writer.close()
        copies[str(copy)] = str(path)
        out.append(copy)
    return out, copies


def _name_originals(report: ReadReport, copies: dict[str, str]) -> None:
    """Point the entries about a staged copy (rejects, damage) back at the user's file."""
    if not copies:
        return
    for entries in (report.bad, report.unreadable_files, report.damaged_files, report.warnings):
        entries[:] = [replace(e, file=copies.get(e.file, e.file)) for e in entries]


def route(paths: Iterable[str | Path] | str | Path) -> Routing:
    """Sniff every file's content and assign it to a family, or to a canonical table.

    Canonical Parquet goes to ``canonical[table]``, except canonical sign-ins: the sign-in reader
    takes those itself (with the same pass-through), so they go to ``files["signins"]``. A sniffer
    that raises on a file means "not mine". Spark's ``_SUCCESS`` and similar markers are skipped.

    Each file is opened once here (:func:`~.files.read_head`) and its first bytes go to every
    sniffer; only what a library must read itself (a Parquet footer, EVTX records, zip members, a
    gzip'd or over-1-MiB file's decompressed text) opens it again.
    """
    routing = Routing()
    for path in expand(paths, routing.unreadable):
        if path.name in MARKERS:
            continue
        head = read_head(path)
        if isinstance(head, str):
            routing.unreadable.append((path, head))
            continue
        table = canonical_table(path, head.data[:4])
        if table == "signins":
            routing.files.setdefault(table, []).append(path)
            continue
        if table is not None:
            routing.canonical.setdefault(table, []).append(path)
            continue
        for family in FAMILIES:
            try:
                fmt = family.sniff(path, head=head)
            except Exception:  # noqa: BLE001 - a sniffer that chokes on a file means "not mine"
                fmt = None
            if fmt:
                routing.files.setdefault(family.table, []).append(path)
                if family.sniffed:
                    _SNIFFED[str(path)] = (head.identity, fmt)
                break
        else:
            routing.unrecognised.append(path)
    return routing


def read_family(table: str, files: list[Path], canonical: list[Path], engine: Engine,
                **options: Any) -> tuple[ibis.Table | None, ReadReport]:
    """One canonical table from raw ``files`` (through the family's reader) and ``canonical`` Parquet.

    The result has exactly the canonical columns, raw rows first; ``None`` when both lists are
    empty or nothing in them could be read. ``options`` go to the reader (every family: ``limits``;
    logons: ``accounts``, connections: ``mapping``); any other, or a value of the wrong kind, is a
    :class:`ConfigError`, checked before anything is read. Nothing in a file makes this raise: see
    the module docstring.
    """
    if table not in TABLES:
        raise ConfigError(f"unknown table {table!r}; expected one of {', '.join(TABLES)}")
    family = _BY_TABLE.get(table)
    accepted = family.options if family is not None else ()
    unknown = sorted(set(options) - set(accepted))
    if unknown:
        raise ConfigError(f"read option(s) {', '.join(unknown)} do not apply to the {table} table; "
                          f"it accepts {', '.join(accepted) or 'none'}")
    for name, value in options.items():
        _OPTION_CHECKS[name](value)
    if files and family is None:
        raise ConfigError(f"the {table} table has no log reader; pass it as canonical Parquet files")
    limits = options.get("limits", DEFAULT)
    report = ReadReport()
    parsed = None
    if files:
        sniffed = {"formats": _recall(files)} if family.sniffed else {}
        parsed, report = family.read(files, engine, **options, **sniffed)
        parsed = parsed.select(*TABLES[table].names)
    canonical, copies = _with_added_columns(canonical, table, engine, report)
    extra = read_canonical(canonical, table, engine, report, like=parsed, bounds=limits.bounds())
    _name_originals(report, copies)
    if parsed is None or extra is None:
        return (parsed if extra is None else extra), report
    return parsed.union(extra, distinct=False), report
