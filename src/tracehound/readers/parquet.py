"""Parquet read one row group at a time, so damage costs the row groups it is in and nothing more.

Why: a Parquet file is a footer plus independent row groups. One row group whose pages cannot be
decoded used to lose the whole file (0 records where 1,800 of 2,000 are readable), and an engine
meeting it half-way through a hunt would stop the run. Here every row group is decoded on its own;
one that fails is a :class:`~tracehound.badrecords.Damage` counting its rows as lost, and the rest
is read. Canonical Parquet (a table tracehound or another writer saved) is checked the same way,
and its rows must hold the canonical types, their required columns and times inside the read's
bounds (:func:`checked_canonical`) before an engine sees the file.
"""

from __future__ import annotations

import uuid
from pathlib import Path
from typing import Iterator, Sequence

import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.parquet as pq

from ..badrecords import MAX_KEPT, ReadReport
from ..errors import InputFormatError
from ..schema import REQUIRED, TABLES, TIME
from .limits import TimeBounds


def row_groups(path: Path, columns: Sequence[str], report: ReadReport, *, label: str | None = None,
               optional: bool = False) -> Iterator[tuple[int, pa.Table]]:
    """``(number of the group's first row, 1-based; its rows)`` for every row group that decodes.

    ``columns`` are read (``optional``: those the file has). A row group that cannot be decoded is
    damage with its rows counted as lost; a footer that cannot be read loses the file (the count
    is unknown then).
    """
    label = label or str(path)
    try:
        parquet = pq.ParquetFile(path)
    except Exception as exc:  # noqa: BLE001 - pyarrow raises several types for a damaged footer
        report.damaged(label, f"Parquet footer unreadable ({exc}): no row group can be found, the file is lost")
        return
    with parquet:
        names = parquet.schema_arrow.names
        wanted = [c for c in columns if c in names] if optional else list(columns)
        first = 1
        for index in range(parquet.metadata.num_row_groups):
            meta = parquet.metadata.row_group(index)
            rows = meta.num_rows
            try:
                table = parquet.read_row_group(index, columns=wanted)
            except Exception as exc:  # noqa: BLE001 - decoding errors come as OSError, ArrowException ...
                offset = _start(meta)
                report.damaged(label, f"Parquet row group {index} (rows {first:,}-{first + rows - 1:,}) cannot "
                               f"be decoded ({str(exc)[:200]}): its {rows:,} rows are lost",
                               offset=offset, lost=rows)
            else:
                yield first, table
            first += rows


def _start(meta: pq.RowGroupMetaData) -> int | None:
    """Byte offset of a row group's first page in the file."""
    starts = [c.dictionary_page_offset or c.data_page_offset for c in
              (meta.column(i) for i in range(meta.num_columns))]
    return min((s for s in starts if s is not None), default=None)


def _bad_rows(table: pa.Table, name: str, bounds: TimeBounds) -> tuple[pa.Array, list[tuple[int, str]]]:
    """Mask of rows to keep, and (index, reason) for the first :data:`MAX_KEPT` others."""
    keep = pa.array([True] * table.num_rows, pa.bool_())
    reasons: dict[int, str] = {}
    for column in REQUIRED[name]:
        missing = pc.is_null(table[column])
        if pc.any(missing).as_py():
            for i in pc.indices_nonzero(missing).to_pylist()[:MAX_KEPT]:
                reasons.setdefault(i, f"required column {column!r} is null")
            keep = pc.and_(keep, pc.invert(missing))
    time = table["time"]
    early = pc.fill_null(pc.less(time, pa.scalar(bounds.floor, TIME)), False)
    late = pc.fill_null(pc.greater(time, pa.scalar(bounds.ceiling, TIME)), False)
    outside = pc.or_(early, late)
    if pc.any(outside).as_py():
        stamps = time.cast(pa.int64())
        for i in pc.indices_nonzero(outside).to_pylist()[:MAX_KEPT]:
            reasons.setdefault(i, f"time {stamps[i].as_py():,} µs since 1970 is outside the read's bounds "
                               f"({bounds.floor:%Y-%m-%d} to {bounds.ceiling:%Y-%m-%dT%H:%MZ}; see limits)")
        keep = pc.and_(keep, pc.invert(outside))
    return keep, sorted(reasons.items())


def checked_canonical(path: Path, name: str, report: ReadReport, bounds: TimeBounds, folder: Path
                      ) -> tuple[Path | None, int]:
    """Check a canonical ``name`` Parquet file row group by row group; the file the engine should read
    and the rows it holds.

    The file itself when every row is good; otherwise a copy in ``folder`` with the good rows (rows
    with a required column null or a time outside ``bounds`` are rejects with their row number,
    undecodable row groups are damage); ``None`` when nothing is left. A column missing or of a type
    that cannot be cast to the canonical one raises :class:`InputFormatError` naming it.

    A file already of the canonical types is checked first without writing anything: a clean file,
    the usual case, is never copied (writing the copy was most of the check's time). Only when that
    pass met a reject or damage is the copy written, by a second pass that reports nothing again.
    """
    schema = TABLES[name]
    with pq.ParquetFile(path) as parquet:
        arrow = parquet.schema_arrow
    missing = [n for n in schema.names if n not in arrow.names]
    if missing:
        raise InputFormatError(f"not a canonical {name} table: no column {', '.join(missing)}", path=str(path))
    exact = all(arrow.field(f.name).type == f.type for f in schema)
    if exact:
        kept, clean = _check_pass(path, name, report, bounds, None)
        if clean and not any(d.file == str(path) for d in report.damaged_files):
            return path, kept
    target = folder / f"{uuid.uuid4().hex}.parquet"
    # After a first pass every reject and damage is counted: the copy's pass reports into a scratch report.
    kept, _ = _check_pass(path, name, ReadReport() if exact else report, bounds, target)
    return (target if target.exists() else None), kept


def _check_pass(path: Path, name: str, report: ReadReport, bounds: TimeBounds, target: Path | None
                ) -> tuple[int, bool]:
    """One pass of :func:`checked_canonical`: rejects and damage into ``report``, the good rows into
    ``target`` (when given); returns the good rows' count and whether every decoded row was good."""
    schema = TABLES[name]
    writer: pq.ParquetWriter | None = None
    kept = 0
    clean = True
    try:
        for first, table in row_groups(path, schema.names, report):
            try:
                table = table.select(schema.names).cast(schema)
            except (pa.ArrowInvalid, pa.ArrowNotImplementedError) as exc:
                raise InputFormatError(f"a column cannot be read as the canonical {name} type: {exc}",
                                       path=str(path)) from None
            keep, rejects = _bad_rows(table, name, bounds)
            for index, reason in rejects:
                report.reject(path, first + index, reason, str(table["event_id"][index].as_py() or ""))
            good = table.filter(keep)
            bad = table.num_rows - good.num_rows
            report.bad_count += max(0, bad - len(rejects))  # counted past the kept details
            clean = clean and bad == 0
            kept += good.num_rows
            if target is not None:
                if writer is None:
                    writer = pq.ParquetWriter(target, schema)
                writer.write_table(good)
    finally:
        if writer is not None:
            writer.close()
    return kept, clean
