"""Sign-in exports as streams of records, whatever the container: the one place that opens them.

Why its own module: the same SigninLogs record arrives as a line of JSON Lines, an element of a JSON
array, a CSV row (the M365 audit CSV with the record as JSON in its ``AuditData`` column) or a
Parquet row; gzip'd or not (by magic bytes, not the name), UTF-8 with or without BOM or UTF-16
(Excel's "Unicode text"). Each container yields ``(line or record number, record, raw text)``, and a
record that cannot be parsed is yielded as a :class:`~tracehound.readers.signin_fields.Bad` in its
place, so the reader counts it with its line instead of stopping.
"""

from __future__ import annotations

import codecs
import csv
import itertools
import zlib
from datetime import datetime, timedelta, timezone
from pathlib import Path
from typing import Iterable, Iterator

import orjson
import pyarrow as pa
import pyarrow.parquet as pq

from .files import GZIP_MAGIC
from .signin_fields import SIGNINLOGS_USED, Bad

#: One record of a container: (line or record number, parsed record or :class:`Bad`, raw text).
Record = tuple[int, object, str]

#: Largest CSV field accepted (an ``AuditData`` cell is a few KB; a multi-MB one is not a sign-in).
CSV_FIELD_LIMIT = 8 * 1024 * 1024
_CHUNK = 1 << 20
_GZIP_SLICE = 1 << 14
_UTF16_BOMS = (codecs.BOM_UTF16_LE, codecs.BOM_UTF16_BE)


# ------------------------------------------------------------------------------------------------
# Opening files: gzip by magic bytes, UTF-8 (BOM or not) or UTF-16 with BOM, truncation noticed.
# ------------------------------------------------------------------------------------------------

class Text:
    """A file's decompressed, decoded text as a stream of chunks, noting a damaged gzip stream.

    ``files.read_bytes`` reads a whole file at once and gives up on a truncated gzip; here the text
    streams (a 2 GB export is not held in memory) and everything before the damage is kept.
    """

    def __init__(self, path: Path) -> None:
        self.path = path
        #: Why the file could not be read to its end (truncated or corrupt gzip), or ``None``.
        self.problem: str | None = None

    def _raw_chunks(self) -> Iterator[bytes]:
        with open(self.path, "rb") as fh:
            first = fh.read(_CHUNK)
            if not first.startswith(GZIP_MAGIC):
                while first:
                    yield first
                    first = fh.read(_CHUNK)
                return
            inflater = zlib.decompressobj(16 + zlib.MAX_WBITS)
            data = first
            try:
                # Small slices, so that what precedes damage in the stream is still handed out.
                while data:
                    data, later = data[:_GZIP_SLICE], data[_GZIP_SLICE:]
                    out = inflater.decompress(data)
                    if out:
                        yield out
                    # A gzip file may hold several members back to back (``cat a.gz b.gz``).
                    while inflater.eof and inflater.unused_data.strip(b"\x00"):
                        rest = inflater.unused_data
                        inflater = zlib.decompressobj(16 + zlib.MAX_WBITS)
                        out = inflater.decompress(rest)
                        if out:
                            yield out
                    data = later or fh.read(_CHUNK)
            except zlib.error as exc:
                self.problem = f"gzip data is corrupt ({exc}): records after the damage are lost"
                return
            if not inflater.eof:
                self.problem = "gzip stream is truncated: records after the cut are lost"

    def chunks(self) -> Iterator[str]:
        raw = self._raw_chunks()
        first = b""
        for piece in raw:  # at least 4 bytes to see a BOM
            first += piece
            if len(first) >= 4:
                break
        if first.startswith(_UTF16_BOMS):
            decoder = codecs.getincrementaldecoder("utf-16")("replace")
        else:
            decoder = codecs.getincrementaldecoder("utf-8-sig")("replace")
        if first:
            yield decoder.decode(first)
        for piece in raw:
            yield decoder.decode(piece)
        tail = decoder.decode(b"", final=True)
        if tail:
            yield tail

    def lines(self, keepends: bool = True) -> Iterator[str]:
        """Lines, with their ``\\n`` if ``keepends`` (the csv module needs it); only ``\\n`` splits."""
        end = "\n" if keepends else ""
        pending: list[str] = []  # pieces of a line longer than a chunk, joined once
        for chunk in self.chunks():
            if "\n" not in chunk:
                pending.append(chunk)
                continue
            parts = chunk.split("\n")
            parts[0] = "".join(pending) + parts[0]
            pending = [parts.pop()]
            if end:
                for part in parts:
                    yield part + end
            else:
                yield from parts
        tail = "".join(pending)
        if tail:
            yield tail

    def read(self) -> str:
        return "".join(self.chunks())


def head(path: Path, size: int) -> tuple[str, str | None]:
    """The first ``size`` characters of text (decompressed) and the damage met on the way, if any."""
    text = Text(path)
    out, total = [], 0
    for chunk in text.chunks():
        out.append(chunk)
        total += len(chunk)
        if total >= size:
            break
    return "".join(out), text.problem


def delimiter(header_line: str) -> str:
    """Comma, or tab for Excel's "Unicode text" (UTF-16 TSV) saves of an export."""
    return "\t" if header_line.count("\t") > header_line.count(",") else ","


def csv_columns(header: list[str]) -> list[str]:
    """Log Analytics writes ``TimeGenerated [UTC]``; the rest of tracehound wants the bare name."""
    return [name.strip().removesuffix(" [UTC]").strip() for name in header]


# ------------------------------------------------------------------------------------------------
# Records of each container: (line or record number, dict) or (number, Bad) for unparseable ones.
# ------------------------------------------------------------------------------------------------

def _jsonl_records(lines: Iterable[str], first: int = 1, skip: int = 0) -> Iterator[Record]:
    """Records of JSON Lines; ``first`` is the file line number of the first of ``lines``; the first
    ``skip`` records (non-blank lines) are passed over unparsed (another reader delivered them)."""
    for number, line in enumerate(lines, start=first):
        if not line or line.isspace():
            continue
        if skip:
            skip -= 1
            continue
        try:
            yield number, orjson.loads(line), line
        except orjson.JSONDecodeError as exc:
            yield number, Bad(f"invalid JSON: {exc}"), line.rstrip("\r\n")


def _json_array_records(text: Text) -> Iterator[Record]:
    try:
        data = orjson.loads(text.read())
    except orjson.JSONDecodeError as exc:
        yield 1, Bad(f"invalid JSON array: {exc}"), ""
        return
    if not isinstance(data, list):
        yield 1, Bad("expected a JSON array of records"), ""
        return
    for number, rec in enumerate(data, start=1):
        yield number, rec, ""


def _csv_records(text: Text, audit: bool) -> Iterator[Record]:
    csv.field_size_limit(max(csv.field_size_limit(), CSV_FIELD_LIMIT))
    lines = text.lines()
    first = next(lines, "")
    reader = csv.reader(itertools.chain([first], lines), delimiter=delimiter(first))
    try:
        header = csv_columns(next(reader))
    except StopIteration:
        return
    except csv.Error as exc:
        yield 1, Bad(f"unreadable CSV header: {exc}"), ""
        return
    start = reader.line_num + 1
    while True:
        try:
            row = next(reader)
        except StopIteration:
            return
        except csv.Error as exc:
            yield start, Bad(f"malformed CSV: {exc}"), ""
            start = reader.line_num + 1
            continue
        number, start = start, reader.line_num + 1
        if not any(row):
            continue
        raw = ",".join(row)
        if len(row) != len(header):
            yield number, Bad(f"{len(row)} CSV fields, the header has {len(header)}"), raw
            continue
        rec = dict(zip(header, row))
        if audit:
            try:
                yield number, orjson.loads(rec["AuditData"]), raw
            except orjson.JSONDecodeError as exc:
                yield number, Bad(f"AuditData is not valid JSON: {exc}"), raw
        else:
            yield number, rec, raw


_EPOCH = datetime(1970, 1, 1, tzinfo=timezone.utc)
_MICROS = {"s": 1_000_000, "ms": 1_000, "us": 1}


def _python_values(column: pa.Array) -> list:
    """A column as Python values, column-wise: ``RecordBatch.to_pylist`` costs ~50 µs a row, and
    pyarrow's tz-aware datetimes ~6 µs each; epoch arithmetic is a tenth of that."""
    if not pa.types.is_timestamp(column.type):
        return column.to_pylist()
    unit = column.type.unit
    out = []
    for ticks in column.cast(pa.int64()).to_pylist():
        if ticks is None:
            out.append(None)
        else:
            micros = ticks // 1_000 if unit == "ns" else ticks * _MICROS[unit]
            out.append(_EPOCH + timedelta(microseconds=micros))
    return out


def _parquet_records(path: Path) -> Iterator[Record]:
    number = 0
    try:
        source = pq.ParquetFile(path)
        columns = [c for c in SIGNINLOGS_USED if c in source.schema_arrow.names]
        for batch in source.iter_batches(batch_size=20_000, columns=columns):
            names = batch.schema.names
            for values in zip(*(_python_values(col) for col in batch.columns)):
                number += 1
                yield number, dict(zip(names, values)), ""
    except (pa.ArrowException, OSError) as exc:
        yield number + 1, Bad(f"corrupt Parquet data from here on: {exc}"), ""


def iter_records(path: Path, fmt: str, text: Text, skip: int = 0) -> Iterator[Record]:
    """The records of one file of format ``fmt`` (its container is the part after the last ``-``);
    ``skip``: JSON Lines records already delivered by the bulk reader, passed over unparsed."""
    container = fmt.rsplit("-", 1)[1]
    if container == "jsonl":
        return _jsonl_records(text.lines(keepends=False), skip=skip)
    if container == "json":
        return _json_array_records(text)
    if container == "csv":
        return _csv_records(text, audit=fmt == "m365-csv")
    return _parquet_records(path)

