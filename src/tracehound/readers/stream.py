"""The one reader stream: decompression, decoding and line / record iteration, with one damage policy.

Every text reader (sign-ins, Windows JSON, LANL, auth syslog, Sentinel CSV, Zeek, firewall CSV,
access logs) reads its files through :class:`TextStream`, so they all meet damaged and hostile input
the same way:

- **gzip** by magic bytes (not the name), several members back to back (``cat a.gz b.gz``), inflated
  in small slices so that what precedes damage is still handed out. A truncated or corrupt stream
  is a :class:`~tracehound.badrecords.Damage` — "records after byte N lost" — and the records before
  it are kept; a line the damage cut in half is rejected, never parsed as if whole.
- **decompression bombs**: more than ``limits.max_ratio`` times the compressed size stops the file
  (named as damaged, with the offset).
- **encodings**: UTF-8 with or without BOM, UTF-16 with BOM; bytes that are not valid are replaced by
  U+FFFD and counted, one warning per file ("312 bytes were not UTF-8").
- **lines** longer than ``limits.max_line`` are rejected with their line number while streaming —
  the line is never held whole, so a 512 MiB line costs at most ``max_line`` of memory.
- **CSV** (:func:`csv_rows`): rows with more or fewer fields than the header, cells over
  ``limits.max_cell`` and malformed quoting are located rejects; the rest of the file is read.
- **JSON records** (:func:`json_objects`): invalid JSON, a value that is not an object and nesting
  deeper than ``limits.max_depth`` are located rejects.
"""

from __future__ import annotations

import codecs
import csv
import itertools
import zipfile
import zlib
from pathlib import Path
from typing import IO, Callable, Iterable, Iterator

import orjson

from ..badrecords import ReadReport
from .limits import DEFAULT, Limits
from .values import ROW_ERRORS, reason

GZIP_MAGIC = b"\x1f\x8b"
_CHUNK = 1 << 20
_GZIP_SLICE = 1 << 14
_UTF16_BOMS = (codecs.BOM_UTF16_LE, codecs.BOM_UTF16_BE)
#: Below this much output a high compression ratio is no bomb (a small file of repeated lines).
_RATIO_FLOOR = 64 << 20

#: What reading a (container member's) byte stream raises when its data is damaged.
_READ_ERRORS = (OSError, EOFError, zlib.error, zipfile.BadZipFile, ValueError)

_replaced = [0]


def _count_replacement(exc: UnicodeError) -> tuple[str, int]:
    """Codec error handler: U+FFFD for each undecodable sequence, counted for the file's warning."""
    if not isinstance(exc, UnicodeDecodeError):
        raise exc
    _replaced[0] += exc.end - exc.start
    return "\ufffd", exc.end


codecs.register_error("tracehound-count", _count_replacement)


def decode_counted(data: bytes, encoding: str = "utf-8") -> tuple[str, int]:
    """``data`` decoded, undecodable bytes replaced; and how many bytes were replaced."""
    before = _replaced[0]
    text = data.decode(encoding, errors="tracehound-count")
    return text, _replaced[0] - before


class TextStream:
    """One file's (or zip member's) text as chunks or numbered lines, with damage noted in ``report``.

    ``source`` gives the inflated bytes of a member of a container (a zip member, see
    :mod:`.archives`) and ``size`` its compressed size; without it the file at ``path`` is opened.
    :meth:`lines` reports the damage and the encoding warning when it reaches the end; a consumer
    that stops early (a sniffer) reports nothing. :attr:`problem` holds the damage reason once met.
    """

    def __init__(self, path: str | Path, report: ReadReport | None = None, limits: Limits = DEFAULT, *,
                 source: Callable[[], Iterator[bytes]] | None = None, size: int | None = None,
                 label: str | None = None) -> None:
        self.path = Path(path)
        self.label = label or str(path)
        self.report = report if report is not None else ReadReport()
        self.limits = limits
        self._source = source
        self._size = size
        #: Why the text ends early (truncated / corrupt gzip, bomb), or ``None``.
        self.problem: str | None = None
        #: Decompressed bytes handed out so far (where the damage is, once met).
        self.offset = 0
        self.replaced = 0
        self._finished = False

    # -- bytes --------------------------------------------------------------------------------
    def _compressed_size(self) -> int:
        if self._size is not None:
            return self._size
        try:
            return self.path.stat().st_size
        except OSError:
            return 0

    def raw(self) -> Iterator[bytes]:
        """Decompressed bytes in chunks; damage stops the stream and sets :attr:`problem`."""
        if self._source is not None:
            yield from self._member()
            return
        try:
            fh = open(self.path, "rb")
        except OSError as exc:
            self.problem = f"cannot be opened ({exc.strerror or exc}): every record lost"
            return
        with fh:
            first = fh.read(_CHUNK)
            if first.startswith(GZIP_MAGIC):
                yield from self._gunzip(fh, first)
                return
            while first:
                self.offset += len(first)
                yield first
                first = fh.read(_CHUNK)

    def _member(self) -> Iterator[bytes]:
        """A container member's bytes: inflated as they are read, so bounded like a gzip stream."""
        budget = max(self.limits.max_ratio * self._compressed_size(), _RATIO_FLOOR)
        try:
            for block in self._source():
                if self.offset + len(block) > budget:
                    self.problem = self._bomb()
                    return
                self.offset += len(block)
                yield block
        except _READ_ERRORS as exc:
            self.problem = (f"member data damaged ({type(exc).__name__}: {exc}): records after byte "
                            f"{self.offset:,} lost")

    def _bomb(self) -> str:
        return (f"decompresses to more than {self.limits.max_ratio}x its size (limits.max_ratio; a "
                f"decompression bomb?): records after byte {self.offset:,} lost")

    def _gunzip(self, fh: IO[bytes], first: bytes) -> Iterator[bytes]:
        budget = max(self.limits.max_ratio * self._compressed_size(), _RATIO_FLOOR)
        inflater = zlib.decompressobj(16 + zlib.MAX_WBITS)
        data, consumed = first, 0
        try:
            while data:
                data, later = data[:_GZIP_SLICE], data[_GZIP_SLICE:]
                consumed += len(data)
                out = inflater.decompress(data)
                while True:
                    if out:
                        if self.offset + len(out) > budget:
                            self.problem = self._bomb()
                            return
                        self.offset += len(out)
                        yield out
                    # A gzip file may hold several members back to back (``cat a.gz b.gz``).
                    if inflater.eof and inflater.unused_data.strip(b"\x00"):
                        rest = inflater.unused_data
                        inflater = zlib.decompressobj(16 + zlib.MAX_WBITS)
                        out = inflater.decompress(rest)
                        continue
                    break
                data = later or fh.read(_CHUNK)
        except (zlib.error, OSError, EOFError) as exc:
            self.problem = (f"gzip data corrupt near compressed byte {consumed:,} ({exc}): records after "
                            f"byte {self.offset:,} lost")
            return
        if not inflater.eof:
            self.problem = (f"gzip stream truncated (the file ends at compressed byte {consumed:,}): "
                            f"records after byte {self.offset:,} lost")

    # -- text ---------------------------------------------------------------------------------
    def chunks(self) -> Iterator[str]:
        """Decoded text in chunks (UTF-16 by BOM, else UTF-8 with or without BOM)."""
        raw = self.raw()
        first = b""
        for piece in raw:  # at least 4 bytes to see a BOM
            first += piece
            if len(first) >= 4:
                break
        codec = "utf-16" if first.startswith(_UTF16_BOMS) else "utf-8-sig"
        decoder = codecs.getincrementaldecoder(codec)("tracehound-count")
        before = _replaced[0]
        try:
            if first:
                yield decoder.decode(first)
            for piece in raw:
                yield decoder.decode(piece)
            tail = decoder.decode(b"", final=True)
            if tail:
                yield tail
        finally:
            self.replaced += _replaced[0] - before

    def read(self) -> str | None:
        """The whole text, or ``None`` (rejected, in the report) when over ``limits.max_document``."""
        out, size = [], 0
        for chunk in self.chunks():
            size += len(chunk)
            if size > self.limits.max_document:
                self.report.reject(self.label, None, f"a document of more than {self.limits.max_document:,} "
                                   "characters must be read whole (limits.max_document); export it as "
                                   "JSON Lines, which streams", "".join(out)[:300])
                self.finish()
                return None
            out.append(chunk)
        self.finish()
        return "".join(out)

    def blocks(self) -> Iterator[tuple[int, list[str | None]]]:
        """``(number of the first line, lines)`` per decoded chunk, ``\n`` removed, blank lines kept.

        A line over ``limits.max_line`` characters is rejected and stands as ``None`` in its block, so
        numbering goes on; it is never held whole. At the end, damage and the encoding warning go to
        the report, and a last line the damage cut short is rejected instead of handed out.
        """
        limit = self.limits.max_line
        number = 1  # of the next line to hand out
        pending: list[str] = []  # pieces of a line longer than a chunk, joined once
        pending_len = 0
        overflow = False  # inside a line over the limit: drop text until its end
        head = ""
        for chunk in self.chunks():
            parts: list[str | None] = chunk.split("\n")
            last = parts.pop()
            if parts:
                if overflow:
                    overflow = False
                    self._too_long(number, head)
                    parts[0] = None
                elif pending:
                    joined = "".join(pending) + parts[0]
                    pending, pending_len = [], 0
                    if len(joined) > limit:
                        self._too_long(number, joined[:300])
                    parts[0] = joined if len(joined) <= limit else None
                if len(chunk) > limit:
                    for k, part in enumerate(parts):
                        if part is not None and len(part) > limit:
                            self._too_long(number + k, part[:300])
                            parts[k] = None
                yield number, parts
                number += len(parts)
            if overflow:
                continue
            pending.append(last)
            pending_len += len(last)
            if pending_len > limit:
                overflow, head = True, "".join(pending)[:300]
                pending, pending_len = [], 0
        if overflow:
            self._too_long(number, head)
        else:
            tail = "".join(pending)
            if tail and self.problem:
                self.report.reject(self.label, number, "line cut short by the damage below", tail)
            elif tail:
                yield number, [tail]
        self.finish()

    def lines(self, keepends: bool = False) -> Iterator[tuple[int, str]]:
        """``(line number, text)`` for every line, blank ones too, 1-based; only ``\n`` splits.

        ``keepends`` keeps the ``\n`` (the csv module needs it; a last line without one gets none).
        Over-long and damage-cut lines are rejected as in :meth:`blocks` and not handed out.
        """
        for first, block in self.blocks():
            for number, line in enumerate(block, start=first):
                if line is not None:
                    yield number, (line + "\n" if keepends else line)

    def _too_long(self, number: int, head: str) -> None:
        self.report.reject(self.label, number, f"line longer than {self.limits.max_line:,} characters "
                           "(limits.max_line)", head)

    def finish(self) -> None:
        """Report the damage met and the bytes replaced while decoding (once)."""
        if self._finished:
            return
        self._finished = True
        if self.problem:
            self.report.damaged(self.label, self.problem, offset=self.offset)
        if self.replaced:
            self.report.warn(self.label, f"{self.replaced:,} bytes are not valid UTF-8 (or UTF-16) and were "
                             "replaced with U+FFFD; values holding them may differ from the source")


def head_chars(path: str | Path, size: int) -> tuple[str, str | None]:
    """At least the first ``size`` characters of a file's text (decompressed; whole decoded chunks,
    so often more) and the damage met on the way, if any."""
    stream = TextStream(path)
    out, total = [], 0
    for chunk in stream.chunks():
        out.append(chunk)
        total += len(chunk)
        if total >= size:
            break
    return "".join(out), stream.problem


def head_text(path: str | Path, size: int = 65536) -> str:
    """The first ``size`` characters of a file's text (decompressed), for sniffing its format."""
    return head_chars(path, size)[0][:size]


# ------------------------------------------------------------------------------------------------
# Records: CSV rows and JSON objects, with located rejects.
# ------------------------------------------------------------------------------------------------

def delimiter(header_line: str) -> str:
    """Comma, or tab for Excel's "Unicode text" (UTF-16 TSV) saves of an export."""
    return "\t" if header_line.count("\t") > header_line.count(",") else ","


def csv_rows(stream: TextStream, *, sep: str | None = None, header_filter: Callable[[list[str]], list[str]]
             = lambda h: h) -> Iterator[tuple[int, list[str], list[str]]]:
    """``(line number, header, values)`` for each data row of a CSV stream with as many fields as its
    header; other rows (short, long, a cell over ``limits.max_cell``, malformed quoting) are located
    rejects in the stream's report. Blank rows are passed over. ``sep``: the delimiter (by default
    comma or tab, from the header line)."""
    report, limits = stream.report, stream.limits
    csv.field_size_limit(max(csv.field_size_limit(), limits.max_line))
    state = {"line": 0, "start": None}

    def feed(lines: Iterator[tuple[int, str]]) -> Iterator[str]:
        for number, text in lines:
            state["line"] = number
            if state["start"] is None:
                state["start"] = number
            yield text

    lines = stream.lines(keepends=True)
    first = next(lines, None)
    if first is None:
        return
    reader = csv.reader(feed(itertools.chain([first], lines)), delimiter=sep or delimiter(first[1]))
    try:
        header = header_filter(next(reader))
    except (StopIteration, csv.Error):
        return
    width = len(header)
    while True:
        state["start"] = None
        try:
            values = next(reader)
        except StopIteration:
            return
        except csv.Error as exc:
            report.reject(stream.label, state["start"], f"malformed CSV: {exc}")
            continue
        number = state["start"] or state["line"]
        if not values or not any(values):
            continue
        raw = ",".join(values)
        if len(values) != width:
            report.reject(stream.label, number, f"{len(values)} CSV fields, the header has {width}", raw)
            continue
        big = next((i for i, v in enumerate(values) if len(v) > limits.max_cell), None)
        if big is not None:
            report.reject(stream.label, number, f"CSV field {header[big]!r} holds {len(values[big]):,} "
                          f"characters, more than limits.max_cell ({limits.max_cell:,})", raw)
            continue
        yield number, header, values


def too_deep(value: object, limit: int) -> bool:
    """Whether a parsed JSON value nests deeper than ``limit`` containers."""
    level = [value] if isinstance(value, (dict, list)) else []
    for _ in range(limit):
        level = [v for item in level for v in (item.values() if isinstance(item, dict) else item)
                 if isinstance(v, (dict, list))]
        if not level:
            return False
    return True


def json_objects(lines: Iterable[tuple[int, str]], label: str | Path, report: ReadReport,
                 limits: Limits = DEFAULT) -> Iterator[tuple[int, dict, str]]:
    """``(line number, object, line)`` for each JSON-object line; the rest (invalid JSON, not an
    object, nested deeper than ``limits.max_depth``) is rejected with its line. Blank lines are
    passed over."""
    depth = limits.max_depth
    for number, line in lines:
        if not line or line.isspace():
            continue
        try:
            rec = orjson.loads(line)
        except orjson.JSONDecodeError as exc:
            report.reject(label, number, f"invalid JSON: {exc}", line)
            continue
        if not isinstance(rec, dict):
            report.reject(label, number, f"expected a JSON object, got {type(rec).__name__}", line)
            continue
        if line.count("{") + line.count("[") > depth and too_deep(rec, depth):
            report.reject(label, number, f"JSON nested deeper than {depth} levels (limits.max_depth)", line)
            continue
        yield number, rec, line


def fielded_rows(stream: TextStream, row: Callable[[dict[str, str], str], dict], *,
                 directive: Callable[[int, str], list[str] | None], split: Callable[[str], list[str]],
                 before: str, counts: str) -> Iterator[dict]:
    """Rows of a log whose ``#`` directive lines name its columns (Zeek TSV, W3C extended / IIS).

    ``directive(number, line)`` reads each ``#`` line and returns the column names it declares, or
    None; each data line is ``split`` and zipped with the latest names, and ``row(values, "file:line")``
    makes the canonical row. A data line before any names (``before``), with another number of values
    than names (``counts``, formatted with ``values`` and ``fields``) or that ``row`` refuses is a
    located reject in the stream's report.
    """
    report, label, name = stream.report, stream.label, stream.path.name
    fields: list[str] | None = None
    for number, line in stream.lines():
        line = line.rstrip("\r")
        if not line.strip():
            continue
        if line.startswith("#"):
            named = directive(number, line)
            fields = fields if named is None else named
            continue
        if fields is None:
            report.reject(label, number, before, line)
            continue
        values = split(line)
        if len(values) != len(fields):
            report.reject(label, number, counts.format(values=len(values), fields=len(fields)), line)
            continue
        try:
            yield row(dict(zip(fields, values)), f"{name}:{number}")
        except ROW_ERRORS as exc:
            report.reject(label, number, reason(exc), line)
