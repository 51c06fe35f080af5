"""What every reader shares on its way into the engine: rows to Parquet parts, times, canonical Parquet.

Why one module: the row-by-row readers (logons, connections) stage their rows the same way, parse
the same ISO-8601 / epoch times, and every table can also arrive as Parquet that tracehound wrote
itself. Keeping that here means a reader module holds only its formats, and there is exactly one
place where canonical Parquet is taken in (:func:`read_canonical`), so the same file gives the same
table whichever command read it.
"""

from __future__ import annotations

import itertools
from datetime import datetime, timezone
from pathlib import Path
from typing import Sequence

import ibis
import pyarrow as pa
import pyarrow.parquet as pq

from ..badrecords import ReadReport
from ..engine import Engine
from ..errors import InputFormatError
from ..schema import TABLES

#: Rows buffered per Parquet part: big enough to amortise Arrow overhead, small enough to stream.
BATCH_ROWS = 100_000


class PartWriter:
    """Buffers canonical rows and writes them as Parquet parts, so memory stays at one batch."""

    def __init__(self, folder: Path, schema: pa.Schema, batch_rows: int = BATCH_ROWS) -> None:
        self.folder, self.schema, self.batch_rows = folder, schema, batch_rows
        self.rows: list[dict] = []
        self.parts = 0

    def add(self, row: dict) -> None:
        self.rows.append(row)
        if len(self.rows) >= self.batch_rows:
            self.flush()

    def flush(self, force: bool = False) -> None:
        if not self.rows and not (force and self.parts == 0):
            return
        table = pa.Table.from_pylist(self.rows, schema=self.schema)
        pq.write_table(table, self.folder / f"part-{self.parts:05d}.parquet")
        self.parts += 1
        self.rows = []

    def close(self) -> None:
        """Write what is buffered; an input with no rows still gets one empty part (a valid table)."""
        self.flush(force=True)


def parse_time(value) -> datetime:
    """UTC datetime from ISO-8601 text (``Z``/offset/naive = UTC, 0–9 fraction digits) or epoch seconds."""
    if isinstance(value, (int, float)) and not isinstance(value, bool):
        return datetime.fromtimestamp(float(value), tz=timezone.utc)
    text = str(value).strip().removesuffix(" UTC")  # naive text is UTC anyway
    if "." in text:  # Python accepts at most 6 fraction digits; EVTX gives 7
        head, _, rest = text.partition(".")
        digits = "".join(itertools.takewhile(str.isdigit, rest))
        zone = rest[len(digits):]
        text = f"{head}.{digits[:6].ljust(6, '0')}{zone}"
    stamp = datetime.fromisoformat(text.replace("Z", "+00:00"))
    if stamp.tzinfo is None:
        stamp = stamp.replace(tzinfo=timezone.utc)
    return stamp.astimezone(timezone.utc)


def read_canonical(paths: Sequence[Path], table: str, engine: Engine, report: ReadReport, *,
                   like: ibis.Table | None = None) -> ibis.Table | None:
    """Parquet files already in the canonical ``table`` schema, as one engine table (None for none).

    Only the canonical columns are kept, each cast to its type in ``like`` (what a reader of the same
    table produced) or, without one, to the canonical schema as this engine types it: a file saved
    by another engine or another tracehound version (nanosecond times, int32 codes) then still
    unions with freshly parsed rows. Each file counts in ``report`` as format ``<table>-parquet``,
    its rows as records. A file that lacks a canonical column raises :class:`InputFormatError`.
    """
    if not paths:
        return None
    names = TABLES[table].names
    if like is None:  # an empty part gives the engine's own typing of the canonical schema
        like = engine.load(TABLES[table].empty_table(), f"{table}-schema")
    types = like.schema()
    tables = []
    for path in paths:
        with pq.ParquetFile(path) as parquet:
            present, rows = set(parquet.schema_arrow.names), parquet.metadata.num_rows
        missing = [n for n in names if n not in present]
        if missing:
            raise InputFormatError(f"not a canonical {table} table: no column {', '.join(missing)}",
                                   path=str(path))
        raw = engine.read_parquet(path)
        tables.append(raw.select(**{name: raw[name].cast(types[name]) for name in names}))
        report.files += 1
        report.formats[f"{table}-parquet"] += 1
        report.records += rows
    return tables[0].union(*tables[1:], distinct=False) if len(tables) > 1 else tables[0]
