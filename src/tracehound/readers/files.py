"""Finding input files and opening them the same way for every reader.

A Sentinel export is one file per five minutes (100,000+ files), often gzip'd; Windows tools write
UTF-16 with a byte-order mark; some exports start with a UTF-8 BOM. Readers should not each learn that.
"""

from __future__ import annotations

import codecs
import glob
import gzip
import io
from pathlib import Path
from typing import Iterable, Iterator

import orjson

from ..badrecords import ReadReport
from ..errors import InputFormatError

GZIP_MAGIC = b"\x1f\x8b"
#: A "line" longer than this is not a log record; it is set aside instead of parsed.
MAX_LINE = 1 << 20
#: Marker files Spark / Hadoop leave beside Parquet parts; they hold no data and are no input.
MARKERS = frozenset({"_SUCCESS", "_committed", "_started"})


def expand(paths: str | Path | Iterable[str | Path]) -> list[Path]:
    """Files named by paths, folders (searched recursively) and globs, sorted and de-duplicated.

    One path may be given on its own instead of in a list.

    Hidden files (``.name``) inside folders are skipped. A name that matches nothing raises
    :class:`InputFormatError` naming it, because a typo should not turn into "no findings".
    """
    if isinstance(paths, (str, Path)):
        paths = [paths]
    found: dict[Path, None] = {}
    for raw in paths:
        p = Path(raw)
        if p.is_dir():
            for f in sorted(p.rglob("*")):
                if f.is_file() and not any(part.startswith(".") for part in f.relative_to(p).parts):
                    found[f] = None
        elif p.is_file():
            found[p] = None
        else:
            matches = sorted(Path(m) for m in glob.glob(str(raw), recursive=True))
            files = [m for m in matches if m.is_file()]
            if not files:
                raise InputFormatError("no such file, folder or glob match", path=str(raw))
            for f in files:
                found[f] = None
    return list(found)


def is_gzip(path: str | Path) -> bool:
    """Whether the file is gzip'd, by its magic bytes (not its name)."""
    with open(path, "rb") as fh:
        return fh.read(2) == GZIP_MAGIC


def read_bytes(path: str | Path) -> bytes:
    """The file's content, gunzipped if it is gzip (by magic bytes, not by name)."""
    with open(path, "rb") as fh:
        head = fh.read(2)
        fh.seek(0)
        if head == GZIP_MAGIC:
            with gzip.GzipFile(fileobj=fh) as gz:
                return gz.read()
        return fh.read()


def decode(data: bytes) -> str:
    """Text from bytes: UTF-8 (with or without BOM) or UTF-16 with BOM; undecodable bytes replaced."""
    if data.startswith(codecs.BOM_UTF16_LE) or data.startswith(codecs.BOM_UTF16_BE):
        return data.decode("utf-16", errors="replace")
    if data.startswith(codecs.BOM_UTF8):
        data = data[len(codecs.BOM_UTF8):]
    return data.decode("utf-8", errors="replace")


def head_text(path: str | Path, size: int = 65536) -> str:
    """The first ``size`` bytes of a file as text, for sniffing its format from content."""
    with open(path, "rb") as fh:
        head = fh.read(2)
        fh.seek(0)
        if head == GZIP_MAGIC:
            with gzip.GzipFile(fileobj=fh) as gz:
                try:
                    data = gz.read(size)
                except (EOFError, OSError):
                    data = b""
        else:
            data = fh.read(size)
    return decode(data)


def iter_lines(path: str | Path) -> Iterator[tuple[int, str]]:
    """``(line_number, text)`` for each non-blank line, 1-based, whatever the compression/encoding."""
    text = decode(read_bytes(path))
    for number, line in enumerate(io.StringIO(text), start=1):
        line = line.rstrip("\r\n")
        if line.strip():
            yield number, line


def json_objects(lines: Iterable[tuple[int, str]], path: str | Path, report: ReadReport
                 ) -> Iterator[tuple[int, dict, str]]:
    """``(line_number, object, line)`` for each JSON-object line; the rest is rejected with its line."""
    for number, line in lines:
        if len(line) > MAX_LINE:
            report.reject(path, number, "line longer than 1 MiB", line)
            continue
        try:
            rec = orjson.loads(line)
        except orjson.JSONDecodeError as exc:
            report.reject(path, number, f"JSONDecodeError: {exc}", line)
            continue
        if not isinstance(rec, dict):
            report.reject(path, number, "ValueError: not a JSON object", line)
            continue
        yield number, rec, line
