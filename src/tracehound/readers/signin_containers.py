"""Sign-in exports as streams of records, whatever the container: the one place that opens them.

Why its own module: the same SigninLogs record arrives as a line of JSON Lines, an element of a JSON
array (or of a Graph page's ``value``, an Event Hub batch's ``records``: :mod:`.json_stream`), a CSV row (the M365 audit CSV with the record as JSON in its ``AuditData`` column) or a
Parquet row. Opening, decompressing and decoding is the shared reader stream's
(:class:`~tracehound.readers.stream.TextStream`); here each container yields ``(line or record
number, record, raw text)``, and a record that cannot be parsed is yielded as a
:class:`~tracehound.readers.signin_fields.Bad` in its place, so the reader counts it with its line
instead of stopping.
"""

from __future__ import annotations

from datetime import datetime, timedelta, timezone
from pathlib import Path
from typing import Iterable, Iterator

import orjson
import pyarrow as pa

from .json_stream import json_document_records
from .parquet import row_groups
from .signin_fields import SIGNINLOGS_USED, Bad
from .stream import TextStream, csv_rows, too_deep

#: One record of a container: (line or record number, parsed record or :class:`Bad`, raw text).
Record = tuple[int, object, str]


def csv_columns(header: list[str]) -> list[str]:
    """Log Analytics writes ``TimeGenerated [UTC]``; the rest of tracehound wants the bare name."""
    return [name.strip().removesuffix(" [UTC]").strip() for name in header]


# ------------------------------------------------------------------------------------------------
# Records of each container: (line or record number, dict) or (number, Bad) for unparseable ones.
# ------------------------------------------------------------------------------------------------

def _jsonl_records(lines: Iterable[tuple[int, str]], skip: int = 0, depth: int = 64) -> Iterator[Record]:
    """Records of JSON Lines; the first ``skip`` records (non-blank lines) are passed over unparsed
    (another reader delivered them); nesting deeper than ``depth`` is a bad record."""
    for number, line in lines:
        if not line or line.isspace():
            continue
        if skip:
            skip -= 1
            continue
        try:
            rec = orjson.loads(line)
        except orjson.JSONDecodeError as exc:
            yield number, Bad(f"invalid JSON: {exc}"), line.rstrip("\r\n")
            continue
        if line.count("{") + line.count("[") > depth and too_deep(rec, depth):
            yield number, Bad(f"JSON nested deeper than {depth} levels (limits.max_depth)"), line
            continue
        yield number, rec, line


def _csv_records(text: TextStream, audit: bool) -> Iterator[Record]:
    depth = text.limits.max_depth
    for number, header, row in csv_rows(text, header_filter=csv_columns):
        raw = ",".join(row)
        rec = dict(zip(header, row))
        if not audit:
            yield number, rec, raw
            continue
        try:
            data = orjson.loads(rec["AuditData"])
        except orjson.JSONDecodeError as exc:
            yield number, Bad(f"AuditData is not valid JSON: {exc}"), raw
            continue
        except KeyError:
            yield number, Bad("no AuditData column"), raw
            continue
        if too_deep(data, depth):
            yield number, Bad(f"AuditData nested deeper than {depth} levels (limits.max_depth)"), raw
        else:
            yield number, data, raw


_EPOCH = datetime(1970, 1, 1, tzinfo=timezone.utc)
_MICROS = {"s": 1_000_000, "ms": 1_000, "us": 1}
#: Microseconds from the epoch to the first and last instants a Python datetime can hold.
_MIN_MICROS = (datetime(1, 1, 2, tzinfo=timezone.utc) - _EPOCH) // timedelta(microseconds=1)
_MAX_MICROS = (datetime(9999, 12, 30, tzinfo=timezone.utc) - _EPOCH) // timedelta(microseconds=1)


def _python_values(column: pa.Array) -> list:
    """A column as Python values, column-wise: ``RecordBatch.to_pylist`` costs ~50 µs a row, and
    pyarrow's tz-aware datetimes ~6 µs each; epoch arithmetic is a tenth of that. A time no
    datetime can hold (past 9999) becomes text naming it, which the mapper rejects as unparseable."""
    if not pa.types.is_timestamp(column.type):
        return column.to_pylist()
    unit = column.type.unit
    out = []
    for ticks in column.cast(pa.int64()).to_pylist():
        if ticks is None:
            out.append(None)
            continue
        micros = ticks // 1_000 if unit == "ns" else ticks * _MICROS[unit]
        if _MIN_MICROS <= micros <= _MAX_MICROS:
            out.append(_EPOCH + timedelta(microseconds=micros))
        else:
            out.append(f"{ticks} {unit} since 1970 (out of range)")
    return out


def _parquet_records(path: Path, text: TextStream) -> Iterator[Record]:
    for first, table in row_groups(path, SIGNINLOGS_USED, text.report, label=text.label, optional=True):
        names = table.schema.names
        for batch in table.to_batches(max_chunksize=20_000):
            for offset, values in enumerate(zip(*(_python_values(col) for col in batch.columns))):
                yield first + offset, dict(zip(names, values)), ""
            first += batch.num_rows


def iter_records(path: Path, fmt: str, text: TextStream, skip: int = 0) -> Iterator[Record]:
    """The records of one file of format ``fmt`` (its container is the part after the last ``-``);
    ``skip``: JSON Lines records already delivered by the bulk reader, passed over unparsed."""
    container = fmt.rsplit("-", 1)[1]
    if container == "jsonl":
        return _jsonl_records(text.lines(), skip=skip, depth=text.limits.max_depth)
    if container in ("json", "pages"):  # arrays, Graph pages, Event Hub batches: streamed
        return json_document_records(text)
    if container == "csv":
        return _csv_records(text, audit=fmt == "m365-csv")
    return _parquet_records(path, text)
