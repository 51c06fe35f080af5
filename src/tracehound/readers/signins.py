"""Sign-in logs in, the canonical ``signins`` table (``tracehound.schema.SIGNINS``) out.

Formats, recognised from content rather than the file name (exports get renamed, gzip'd, re-saved):

- ``signinlogs-jsonl`` / ``signinlogs-json``: Entra ID SigninLogs as Sentinel / Log Analytics exports
  them, one object per line or one JSON array. The dynamic fields (``LocationDetails``,
  ``DeviceDetail``, ``Status``) come as nested objects or as JSON text; ``ResultType`` as text or int.
- ``signinlogs-csv``: the Log Analytics CSV export (same column names, ``TimeGenerated [UTC]`` style
  suffixes allowed, dynamic columns hold JSON text).
- ``signinlogs-portal-csv``: the Entra portal's sign-in CSV download ("Date (UTC)", "Username", ...).
- ``signinlogs-parquet``: Parquet with the SigninLogs columns.
- ``signins-parquet``: Parquet already in the canonical schema (read as it is).
- ``m365-jsonl`` / ``m365-json`` / ``m365-csv``: Microsoft 365 unified audit log sign-in records
  (``AzureActiveDirectoryStsLogon``, ``UserLoggedIn`` / ``UserLoginFailed``), as JSON Lines or as the
  audit-search CSV whose ``AuditData`` column holds the record JSON.
- ``graph-jsonl`` / ``graph-json`` / ``graph-pages``: Entra sign-ins outside Sentinel
  (:mod:`.signin_graph`): Microsoft Graph ``/auditLogs/signIns`` records and pages
  (``{"value": [...], "@odata.nextLink": ...}``), the portal's JSON download, Azure Monitor diagnostic
  records (storage-account ``PT1H.json`` JSON Lines, Event Hub ``{"records": [...]}`` batches).
- ``okta-jsonl`` / ``okta-json``: Okta System Log events (:mod:`.okta`), as the API's JSON array
  or JSON Lines.

JSON documents (arrays, pages, batches) are streamed record by record (:mod:`.json_stream`), never
parsed whole. Every record carries ``provider`` and a provider-neutral ``failure_kind``.

Records stream through in Arrow batches of :data:`BATCH_ROWS`, so a 40 GB export never has to fit in
memory; :func:`read_signins` writes them as Parquet parts the engine reads back. Derived fields are
filled per distinct value (:mod:`tracehound.readers.enrich`).

Damaged and hostile input follows the one reader stream's policy (:mod:`.stream`): a truncated gzip
or an undecodable Parquet row group keeps what precedes it and names the file as damaged; a record
of the wrong type, out of the read's time bounds (:mod:`.limits`) or over a size limit is a located
reject; a record of another kind (an M365 audit operation, another Log Analytics table) is skipped
and counted.

This module is the entry and the batching; the jobs on the way have their own modules: recognising
a format (:mod:`.signin_sniff`), opening a container and iterating its records
(:mod:`.signin_containers`), mapping a record to canonical fields (:mod:`.signin_fields`), and the
DuckDB fast path for clean SigninLogs JSON Lines (:mod:`.signinlogs_bulk`).
"""

from __future__ import annotations

import gc
import itertools
import tempfile
from pathlib import Path
from typing import Callable, Iterable, Iterator, Mapping

import ibis
import orjson
import pyarrow as pa
import pyarrow.parquet as pq

from ..badrecords import ReadReport
from ..engine import Engine
from ..errors import InputFormatError
from ..schema import SIGNINS
from .enrich import Enricher
from .files import MARKERS, expand
from .limits import DEFAULT, Limits, OutOfBounds, TimeBounds
from .parquet import checked_canonical
from .signin_containers import Record, iter_records
from .okta import from_okta
from .signin_fields import MAPPED, MAPPERS, PLAIN_MAPPERS, Bad, NotSignin
from .signin_graph import from_graph
from .signin_sniff import sniff, sniff_signin_format
from .signinlogs_bulk import BulkRead
from .signinlogs_folder import read_small_files
from .staging import ArrowParts, read_canonical
from .stream import TextStream

__all__ = ["BATCH_ROWS", "Progress", "parse_signins", "read_signins", "sniff_signin_format"]

#: Mappers of the families defined outside :mod:`.signin_fields` (which they build on).
_MAPPERS = {"graph": from_graph, "okta": from_okta}

#: Called with (files done, files in all) as a read goes on.
Progress = Callable[[int, int], None]

#: Rows per Arrow batch / Parquet part: big enough to amortise Arrow overhead, small enough to stream.
BATCH_ROWS = 100_000
#: Files smaller than this (on disk) skip the DuckDB fast path: starting DuckDB costs ~50 ms, more than
#: the Python pass spends on a small file (a Sentinel export of a thousand 5-minute files is mostly
#: small ones). Both paths give the same rows and rejects, so this changes only the time taken.
BULK_MIN_BYTES = 16_384


def _size(path: Path) -> int:
    try:
        return path.stat().st_size
    except OSError:
        return 0  # the Python pass names the file as unreadable


# ------------------------------------------------------------------------------------------------
# Batches.
# ------------------------------------------------------------------------------------------------

class _Batcher:
    """Collects mapped rows and turns them into enriched canonical Arrow batches.

    Readers append to :attr:`rows` directly and note which file the rows came from in :attr:`runs`
    (``(source, row count)``), because a method call per row costs more than the mapping itself.
    """

    def __init__(self) -> None:
        self.rows: list[tuple] = []
        self.runs: list[tuple[str, int]] = []
        self.enricher = Enricher()

    def flush(self) -> pa.RecordBatch:
        cols = dict(zip(MAPPED, zip(*self.rows)))  # transposed in C by zip
        cols["ip_prefix"] = [None] * len(self.rows)  # the enricher computes it
        cols["success"] = [r == 0 for r in cols["result"]]
        cols["source"] = list(itertools.chain.from_iterable([src] * n for src, n in self.runs))
        batch = pa.RecordBatch.from_arrays(
            [pa.array(cols[f.name], type=f.type) for f in SIGNINS], schema=SIGNINS)
        self.rows, self.runs = [], []
        return self.enricher.enrich(batch)


def _canonical_batches(path: Path, report: ReadReport, bounds: TimeBounds) -> Iterator[pa.RecordBatch]:
    """Batches of a Parquet file already in the canonical schema, for :func:`parse_signins` (no
    engine there; :func:`read_signins` lets the engine read such a file itself), checked as
    :func:`.parquet.checked_canonical` checks it."""
    with tempfile.TemporaryDirectory(prefix="tracehound-check-") as folder:
        try:
            checked, rows = checked_canonical(path, "signins", report, bounds, Path(folder))
        except InputFormatError as exc:
            report.unreadable(path, str(exc))
            return
        report.records += rows
        if checked is not None:
            yield from pq.ParquetFile(checked).iter_batches(batch_size=BATCH_ROWS, columns=SIGNINS.names)


def _map_records(records: Iterable[Record], path: Path, fmt: str, report: ReadReport,
                 batcher: _Batcher, bounds: TimeBounds) -> Iterator[pa.RecordBatch]:
    """Map ``records`` of one file into ``batcher``; yield full batches as they fill.

    The cyclic garbage collector is paused while this loop runs (not while the caller has a batch):
    parsed records and rows hold no cycles, and its passes over the growing batch cost ~15% of a read.
    """
    family = fmt.rsplit("-", 1)[0]
    mapper = MAPPERS.get(family) or _MAPPERS[family]
    plain = PLAIN_MAPPERS.get(family)
    source = str(path)
    records_read = 0
    floor, ceiling = bounds.floor, bounds.ceiling
    rows = batcher.rows
    start = len(rows)
    collecting = gc.isenabled()
    gc.disable()
    try:
        for number, rec, raw in records:
            if isinstance(rec, Bad):
                report.reject(source, number, str(rec), raw)
                continue
            if not isinstance(rec, dict):
                report.reject(source, number, f"expected a JSON object, got {type(rec).__name__}", raw)
                continue
            try:
                row = plain(rec) if plain is not None else None
                if row is None:
                    row = mapper(rec)
                if row[0] is None:  # no id of its own: point at the raw record (DESIGN.md §3)
                    row = (f"{path.name}:{number}", *row[1:])
                if not floor <= row[1] <= ceiling:
                    bounds.check(row[1])
                rows.append(row)
            except NotSignin as exc:
                report.skip(str(exc))
                continue
            except OutOfBounds as exc:
                report.reject(source, number, str(exc), raw.rstrip("\r\n") or orjson.dumps(rec, default=str))
                continue
            except Bad as exc:
                report.reject(source, number, str(exc),
                              raw.rstrip("\r\n") or orjson.dumps(rec, default=str))
                continue
            if len(rows) >= BATCH_ROWS:
                records_read += len(rows) - start
                batcher.runs.append((source, len(rows) - start))
                batch = batcher.flush()
                if collecting:
                    gc.enable()
                yield batch
                gc.disable()
                rows, start = batcher.rows, 0
    finally:
        if collecting:
            gc.enable()
    records_read += len(rows) - start
    if len(rows) > start:
        batcher.runs.append((source, len(rows) - start))
    report.records += records_read


def _read_file(path: Path, fmt: str, report: ReadReport, batcher: _Batcher, limits: Limits,
               bounds: TimeBounds, skip: int = 0) -> Iterator[pa.RecordBatch]:
    """Map every record of one file into ``batcher``; yield full batches as they fill.

    SigninLogs JSON Lines go to DuckDB's reader first (:mod:`.signinlogs_bulk`); whatever it could
    not take — from the first record that is not plain, or damaged, to the end — is read here.
    Damage in the file (a gzip cut, a bad Parquet row group) is in ``report``; what precedes it is kept.
    """
    if not skip and fmt == "signinlogs-jsonl" and _size(path) >= BULK_MIN_BYTES:
        bulk = BulkRead(path, enricher=batcher.enricher, batch_rows=BATCH_ROWS, bounds=bounds, limits=limits)
        for batch in bulk.batches():
            report.records += batch.num_rows
            yield batch
        if bulk.complete:
            return
        skip = bulk.records
    text = TextStream(path, report, limits)
    yield from _map_records(iter_records(path, fmt, text, skip), path, fmt, report, batcher, bounds)
    text.finish()


def _read_small(paths: list[Path], report: ReadReport, batcher: _Batcher, limits: Limits,
                bounds: TimeBounds) -> Iterator[pa.RecordBatch]:
    """Small SigninLogs JSON Lines files (a Sentinel export's five-minute files) joined into one
    DuckDB read (:mod:`.signinlogs_folder`); a file it stops in is read on by the Python pass."""
    if paths:
        yield from read_small_files(
            paths, enricher=batcher.enricher, batch_rows=BATCH_ROWS, bounds=bounds, limits=limits,
            report=report, rest=lambda path, skip: _read_file(path, "signinlogs-jsonl", report, batcher,
                                                              limits, bounds, skip))


def _parse(files: list[tuple[Path, str | None, str]], report: ReadReport, progress: Progress | None = None,
           limits: Limits = DEFAULT, require: bool = True) -> Iterator[pa.RecordBatch]:
    if not files and require:
        raise InputFormatError("no input files: the folders given hold no files")
    bounds = limits.bounds()
    batcher = _Batcher()
    readable = 0
    unreadable: list[str] = []
    small: list[Path] = []
    for done, (path, fmt, why) in enumerate(files):
        if progress is not None:
            progress(done, len(files))
        if fmt is None:
            report.unreadable(path, why)
            unreadable.append(f"{path}: {why}")
            continue
        readable += 1
        report.files += 1
        report.formats[fmt] += 1
        if fmt == "signinlogs-jsonl" and 0 < _size(path) < BULK_MIN_BYTES:
            small.append(path)  # joined with its neighbours into one DuckDB read
            continue
        yield from _read_small(small, report, batcher, limits, bounds)
        small = []
        if fmt == "signins-parquet":
            yield from _canonical_batches(path, report, bounds)
            continue
        yield from _read_file(path, fmt, report, batcher, limits, bounds)
    yield from _read_small(small, report, batcher, limits, bounds)
    if batcher.rows:
        yield batcher.flush()
    if progress is not None:
        progress(len(files), len(files))
    if not readable and require:
        shown = "; ".join(unreadable[:5]) + (f"; and {len(unreadable) - 5} more"
                                              if len(unreadable) > 5 else "")
        raise InputFormatError(f"no sign-in log among the inputs: {shown}")


def _sniffed(paths: str | Path | Iterable[str | Path], formats: Mapping[Path, str] | None = None
             ) -> list[tuple[Path, str | None, str]]:
    """Each input file with its format (or ``None`` and why not); folders that cannot be listed come
    as ``(folder, None, why)`` too. ``formats``: files already sniffed (by the pipeline's routing),
    which are not listed or sniffed again."""
    if formats and not isinstance(paths, (str, Path)):
        out: list[tuple[Path, str | None, str]] = []
        for p in paths:
            out.extend([(p, formats[p], "")] if isinstance(p, Path) and p in formats else _sniffed(p))
        return out
    problems: list[tuple[Path, str]] = []
    files = [p for p in expand(paths, problems) if p.name not in MARKERS]
    return [(p, *sniff(p)) for p in files] + [(p, None, why) for p, why in problems]


def parse_signins(paths: str | Path | Iterable[str | Path], *, report: ReadReport | None = None,
                  limits: Limits = DEFAULT) -> Iterator[pa.RecordBatch]:
    """Canonical ``signins`` Arrow batches from files, folders and globs, in any supported format.

    Bad records, damaged and unreadable files go to ``report`` (a fresh one if not given) and reading
    goes on; if not one input is a sign-in log, :class:`InputFormatError` names them and says why.
    """
    return _parse(_sniffed(paths), report if report is not None else ReadReport(), limits=limits)


def read_signins(paths: str | Path | Iterable[str | Path], engine: Engine, *,
                 progress: Progress | None = None, limits: Limits = DEFAULT,
                 require: bool = True, formats: Mapping[Path, str] | None = None
                 ) -> tuple[ibis.Table, ReadReport]:
    """The canonical ``signins`` table on ``engine``, and what was read and set aside.

    Parsed batches are written as Parquet parts into the engine's staging area (in a thread, beside
    the parse of the next: :class:`~.staging.ArrowParts`) and read back by the engine; Parquet
    already in the canonical schema is checked and read by the engine from its file.
    ``progress(files_done, files_total)`` is called as files are read (the CLI draws a bar with it).
    ``require``: raise :class:`InputFormatError` when no input is a sign-in log (the pipeline, which
    only hands over files it recognised, reports them instead and gets an empty table). ``formats``:
    the format of each file in ``paths`` as the pipeline's routing recognised it (not sniffed again).
    """
    report = ReadReport()
    sniffed = _sniffed(paths, formats)
    if not sniffed and require:
        raise InputFormatError("no input files: the folders given hold no files")
    canonical = [p for p, fmt, _ in sniffed if fmt == "signins-parquet"]
    others = [s for s in sniffed if s[1] != "signins-parquet"]
    folder = engine.staging_folder("signins")
    with ArrowParts(folder) as parts:
        if others:
            for batch in _parse(others, report, progress, limits, require=require and not canonical):
                parts.write(pa.Table.from_batches([batch]))
    if parts.parts == 0:  # nothing parsed: an empty part gives the engine the canonical schema
        pq.write_table(SIGNINS.empty_table(), folder / "part-00000.parquet")
    table = engine.read_parquet(folder)
    copies: dict[str, str] = {}
    if canonical:  # files saved before the table gained its added columns get them, null
        from .families import _name_originals, _with_added_columns  # families imports this module
        canonical, copies = _with_added_columns(canonical, "signins", engine, report)
    extra = read_canonical(canonical, "signins", engine, report, like=table, bounds=limits.bounds())
    if copies:
        _name_originals(report, copies)
    if extra is None:
        return table, report
    # Only canonical Parquet: the table is those files, not a union with the empty part (which
    # would make the engine copy every row of a union that several later queries read).
    return (extra if parts.parts == 0 else table.union(extra, distinct=False)), report
