"""What every reader shares on its way into the engine: rows to Parquet parts, times, canonical Parquet.

Why one module: the row-by-row readers (logons, connections) stage their rows the same way, parse
the same ISO-8601 / epoch times, and every table can also arrive as Parquet that tracehound wrote
itself. Keeping that here means a reader module holds only its formats, and there is exactly one
place where canonical Parquet is taken in (:func:`read_canonical`), so the same file gives the same
table whichever command read it.
"""

from __future__ import annotations

import itertools
from concurrent.futures import Future, ThreadPoolExecutor
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
from .files import safe_path
from .limits import DEFAULT, TimeBounds
from .parquet import checked_canonical

#: Rows buffered per Parquet part: big enough to amortise Arrow overhead, small enough to stream.
BATCH_ROWS = 100_000


class PartWriter:
    """Buffers canonical rows and writes them as Parquet parts (through :class:`ArrowParts`), so
    memory stays at one batch."""

    def __init__(self, folder: Path, schema: pa.Schema, batch_rows: int = BATCH_ROWS) -> None:
        self.folder, self.schema, self.batch_rows = folder, schema, batch_rows
        self.rows: list[dict] = []
        self._parts = ArrowParts(folder)

    def add(self, row: dict) -> None:
        self.rows.append(row)
        if len(self.rows) >= self.batch_rows:
            self.flush()

    def flush(self, force: bool = False) -> None:
        if not self.rows and not (force and self._parts.parts == 0):
            return
        self._parts.write(pa.Table.from_pylist(self.rows, schema=self.schema))
        self.rows = []

    def close(self) -> None:
        """Write what is buffered; an input with no rows still gets one empty part (a valid table)."""
        self.flush(force=True)
        self._parts.close()


class ArrowParts:
    """Arrow tables written as Parquet parts by one background thread, while the next is parsed.

    Why: encoding and compressing a part is a fifth of a big sign-in read, and Arrow's writer
    releases the GIL, so on a second core it overlaps the parse of the next batch. At most one part
    is being written while the caller builds the next, so memory stays at two batches; an error in a
    write is raised by the next :meth:`write` or by :meth:`close`. Use it as a context manager.
    """

    def __init__(self, folder: Path) -> None:
        self.folder = folder
        self.parts = 0
        self._pool = ThreadPoolExecutor(max_workers=1, thread_name_prefix="tracehound-parts")
        self._pending: Future | None = None

    def write(self, table: pa.Table) -> None:
        self._wait()
        self._pending = self._pool.submit(pq.write_table, table, self.folder / f"part-{self.parts:05d}.parquet")
        self.parts += 1

    def _wait(self) -> None:
        pending, self._pending = self._pending, None
        if pending is not None:
            pending.result()

    def close(self) -> None:
        """Wait for the last part (raising its error, if any) and stop the thread."""
        try:
            self._wait()
        finally:
            self._pool.shutdown(wait=True)

    def __enter__(self) -> "ArrowParts":
        return self

    def __exit__(self, *exc) -> None:
        self.close()


def parse_time(value) -> datetime:
    """UTC datetime from ISO-8601 text (``Z``/offset/naive = UTC, 0–9 fraction digits) or epoch seconds.

    Anything else — another type, text that is no time, a year no datetime holds (0, 10000), an
    epoch beyond them — raises ``ValueError`` naming the value, which readers turn into a reject.
    """
    if isinstance(value, (int, float)) and not isinstance(value, bool):
        try:
            return datetime.fromtimestamp(float(value), tz=timezone.utc)
        except (OverflowError, OSError, ValueError):
            raise ValueError(f"epoch time {value!r} is out of range") from None
    if not isinstance(value, str):
        raise ValueError(f"expected a time as ISO-8601 text or epoch seconds, got {type(value).__name__}")
    text = value.strip().removesuffix(" UTC")  # naive text is UTC anyway
    if "." in text:  # Python accepts at most 6 fraction digits; EVTX gives 7
        head, _, rest = text.partition(".")
        digits = "".join(itertools.takewhile(str.isdigit, rest))
        zone = rest[len(digits):]
        text = f"{head}.{digits[:6].ljust(6, '0')}{zone}"
    try:
        stamp = datetime.fromisoformat(text.replace("Z", "+00:00"))
        if stamp.tzinfo is None:
            stamp = stamp.replace(tzinfo=timezone.utc)
        return stamp.astimezone(timezone.utc)
    except (ValueError, OverflowError):
        raise ValueError(f"not an ISO-8601 time: {value[:60]!r}") from None


def read_canonical(paths: Sequence[Path], table: str, engine: Engine, report: ReadReport, *,
                   like: ibis.Table | None = None, bounds: TimeBounds | None = None) -> ibis.Table | None:
    """Parquet files already in the canonical ``table`` schema, as one engine table (None for none).

    Each file is checked row group by row group first (:func:`.parquet.checked_canonical`): rows
    without a required column or with a time outside ``bounds`` (default: :data:`~.limits.DEFAULT`'s)
    are rejects, undecodable row groups are damage, and the engine reads the good rows only. Only
    the canonical columns are kept, each cast to its type in ``like`` (what a reader of the same
    table produced) or, without one, to the canonical schema as this engine types it: a file saved
    by another engine or another tracehound version (nanosecond times, int32 codes) then still
    unions with freshly parsed rows. Each file counts in ``report`` as format ``<table>-parquet``,
    its kept rows as records. A file that lacks a canonical column, or whose footer cannot be read,
    is an unreadable file in ``report``.
    """
    if not paths:
        return None
    bounds = bounds or DEFAULT.bounds()
    names = TABLES[table].names
    folder = engine.staging_folder(f"{table}-checked")
    tables = []
    for path in paths:
        try:
            checked, rows = checked_canonical(path, table, report, bounds, folder)
        except InputFormatError as exc:
            report.unreadable(path, str(exc))
            continue
        report.files += 1
        report.formats[f"{table}-parquet"] += 1
        report.records += rows
        if checked is None:
            continue
        if like is None:  # an empty part gives the engine's own typing of the canonical schema
            like = engine.load(TABLES[table].empty_table(), f"{table}-schema")
        types = like.schema()
        raw = engine.read_parquet(safe_path(checked, folder))
        tables.append(raw.select(**{name: raw[name].cast(types[name]) for name in names}))
    if not tables:
        return None
    return tables[0].union(*tables[1:], distinct=False) if len(tables) > 1 else tables[0]
