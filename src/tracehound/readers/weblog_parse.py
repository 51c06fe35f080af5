"""The fast path of the Apache / Nginx reader: plain CLF lines parsed by one compiled regex, in batches.

Nearly every line of a real access log is plain ASCII ``[vhost] ip ident user [dd/Mon/yyyy:HH:MM:SS
±zzzz] "METHOD target PROTO" status bytes ["referrer" "agent"] [extra]``. One Python regex per line and
a handful of vectorised pyarrow / numpy steps per batch parse those several times faster than staging
the raw text as Parquet and cutting it again with a dozen engine patterns (measured in
``benchmarks/bench_web.py``; see ``benchmarks/README.md``).

The fast path is deliberately *narrow*: it takes a line only when it is certain to give exactly what
the engine path (:func:`tracehound.readers.weblogs.parse_lines`) gives — no backslash escape, no quote
inside a field, no non-ASCII or control character, a well-formed request line, a valid calendar time
inside the read's bounds, a plain IP address. Every other line (JSON, CSV-wrapped, escaped quotes,
IPv6 zone ids, junk, rejects) goes to the engine path with its file and line number, which keeps its
reasons and its counting; a property test holds the two paths to identical rows
(``tests/test_web_fastparse.py``).
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from ..schema import WEB_REQUESTS
from .hosts import PLAIN_IP
from .limits import TimeBounds
from .staging import ArrowParts

# Possessive (``++``, ``*+``; Python 3.11): no field can hold the character that ends it, so giving
# characters back could never produce a match, and not trying cuts the regex's time by about a third.
_HEAD = r"[!#-Z^-~]++"         # printable ASCII without space, quote, brackets, backslash
_TEXT = r"[ !#-\[\]-~]*+"      # printable ASCII without quote or backslash
_WORD = r"[!#-\[\]-~]*+"       # the same without space
_MONTH_NAMES = ("Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec")
#: One plain CLF line (common or combined, optional leading vhost field, optional trailing fields).
#: Groups: ip, user, time, method, path, ``?query``, status, bytes, a space when combined, referrer,
#: agent. A line it does not fit matches the empty alternative, so ``findall`` over a block's text
#: returns exactly one tuple per line, all groups empty for the lines left to the engine.
FAST_LINE = (
    r"(?!\{)(?:" + _HEAD + r" )?(" + _HEAD + r") " + _HEAD + r" (" + _HEAD + r") "
    r"\[([0-9]{2}/(?:" + "|".join(_MONTH_NAMES) + r")/[0-9]{4}:(?:[01][0-9]|2[0-3]):[0-5][0-9]:[0-5][0-9] "
    r"[+-][0-9]{4})\] "
    r'"([A-Za-z]++) ([!#->@-\[\]-~]*+)(\?' + _WORD + r')?(?: ' + _WORD + r')?" '
    r"([0-9]{3}) ([0-9]{1,18}|-)"
    r'(?:( )"(' + _TEXT + r')" "(' + _TEXT + r')")?(?: [ !#-\[\]-~]*+)?\r?')
_BLOCK = re.compile(r"^(?:" + FAST_LINE + r"|.*)$", re.MULTILINE)
_ADDRESS = re.compile(PLAIN_IP)
_DAYS_IN_MONTH = np.array([31, 28, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31])


@dataclass
class FastBatch:
    """One batch split in two: canonical rows the fast path parsed, and the lines it left
    (line numbers and text, in order) for the engine path."""

    rows: pa.Table
    slow_lines: list[int] = field(default_factory=list)
    slow_texts: list[str] = field(default_factory=list)
    formats: dict[str, int] = field(default_factory=dict)


def _days_from_civil(y: np.ndarray, m: np.ndarray, d: np.ndarray) -> np.ndarray:
    """Days since 1970-01-01 of proleptic Gregorian dates (H. Hinnant's algorithm, vectorised)."""
    y = y - (m <= 2)
    era = np.floor_divide(y, 400)
    yoe = y - era * 400
    doy = (153 * (m + np.where(m > 2, -3, 9)) + 2) // 5 + d - 1
    doe = yoe * 365 + yoe // 4 - yoe // 100 + doy
    return era * 146097 + doe - 719468


def _epoch(stamps: pa.Array) -> tuple[np.ndarray, np.ndarray]:
    """(UTC epoch seconds, valid calendar date) from ``dd/Mon/yyyy:HH:MM:SS ±hhmm`` text."""
    def num(start: int, stop: int) -> np.ndarray:
        return pc.cast(pc.utf8_slice_codeunits(stamps, start, stop), pa.int64()).to_numpy()

    day, year = num(0, 2), num(7, 11)
    month = pc.index_in(pc.utf8_slice_codeunits(stamps, 3, 6), pa.array(_MONTH_NAMES)).to_numpy() + 1
    leap = ((year % 4 == 0) & (year % 100 != 0)) | (year % 400 == 0)
    valid = (day >= 1) & (day <= _DAYS_IN_MONTH[month - 1] + ((month == 2) & leap))
    seconds = num(12, 14) * 3600 + num(15, 17) * 60 + num(18, 20)
    zone_hours, zone_minutes = num(22, 24), num(24, 26)
    sign = np.where(pc.equal(pc.utf8_slice_codeunits(stamps, 21, 22), "-").to_numpy(zero_copy_only=False), -1, 1)
    offset = sign * (zone_hours * 60 + zone_minutes)
    return _days_from_civil(year, month, day) * 86400 + seconds - offset * 60, valid


def _none_if_dash(values: pa.Array) -> pa.Array:
    """Empty or ``-`` (the log's "no value") → null, as the engine path's ``_nullify``."""
    return pc.if_else(pc.is_in(values, pa.array(["", "-"])), pa.scalar(None, pa.string()), values)


def _columns(rows: list[tuple[str, ...]], width: int) -> list[pa.Array]:
    """Transpose ``findall`` tuples into Arrow string columns. Joining a column with newlines and
    splitting it in Arrow is several times cheaper than converting a list of short Python strings;
    no group can hold a newline."""
    if not rows:
        return [pa.array([], pa.string()) for _ in range(width)]
    return [pc.list_flatten(pc.split_pattern(pa.array(["\n".join(col)]), "\n")) for col in zip(*rows)]


def parse_batch(name: str, first: int, lines: list[str | None], bounds: TimeBounds) -> FastBatch:
    """Parse one block of lines (``first`` = number of its first line; ``None`` = a line the stream
    already rejected) into canonical ``web_requests`` rows and the lines left for the engine path."""
    rows = _BLOCK.findall("\n".join(line or "" for line in lines))
    if len(rows) != len(lines):  # cannot happen (one match per line); if it did, the engine reads all
        rows = [("",) * 11] * len(lines)
    ip, user, stamp, method, path, query, status, size, combined, referrer, agent = _columns(rows, 11)
    fits = pc.and_(pc.not_equal(ip, ""), pc.or_(pc.not_equal(path, ""), pc.not_equal(query, "")))
    fits = fits.to_numpy(zero_copy_only=False)
    epoch = np.zeros(len(rows), np.int64)
    valid = np.zeros(len(rows), bool)
    if fits.any():
        stamps = pc.if_else(pa.array(fits), stamp, "01/Jan/1970:00:00:00 +0000")
        epoch, valid = _epoch(stamps)
    low, high = (int(b.timestamp()) for b in (bounds.floor, bounds.ceiling))
    ok = fits & valid & (epoch >= low) & (epoch <= high)
    if ok.any():
        distinct = pc.unique(pc.filter(ip, pa.array(ok)))
        plain = pa.array([bool(_ADDRESS.fullmatch(v)) for v in distinct.to_pylist()], pa.bool_())
        ok &= pc.take(plain, pc.index_in(ip, distinct)).fill_null(False).to_numpy(zero_copy_only=False)
    keep = pa.array(ok)
    positions = np.flatnonzero(ok)

    def take(column: pa.Array) -> pa.Array:
        return pc.filter(column, keep)

    is_combined = pc.equal(take(combined), " ")
    n_combined = int(pc.sum(is_combined).as_py() or 0)
    query = take(query)
    size = take(size)
    none = pa.scalar(None, pa.string())
    table = pa.table({
        "event_id": pc.binary_join_element_wise(name + ":", pa.array(positions + first).cast(pa.string()), ""),
        "time": pa.array(epoch[ok] * 1_000_000, pa.int64()).cast(WEB_REQUESTS.field("time").type),
        "client_ip": take(ip),
        "user": _none_if_dash(take(user)),
        "method": pc.utf8_upper(take(method)),
        "path": take(path),
        "query": pc.if_else(pc.equal(query, ""), none, pc.utf8_slice_codeunits(query, 1)),
        "status": pc.cast(take(status), pa.int64()),
        "bytes": pc.cast(pc.if_else(pc.equal(size, "-"), none, size), pa.int64()),
        "referrer": _none_if_dash(take(referrer)),
        "user_agent": _none_if_dash(take(agent)),
        "source": pc.if_else(is_combined, "combined", "common"),
    }, schema=WEB_REQUESTS)
    batch = FastBatch(rows=table, formats={"combined": n_combined, "common": len(positions) - n_combined})
    for i in np.flatnonzero(~ok):
        if lines[i] is not None and lines[i].strip(" \t\f\r"):  # blank lines are skipped, not bad
            batch.slow_lines.append(first + int(i))
            batch.slow_texts.append(lines[i])
    return batch


class FastSink:
    """Collects the fast path's canonical rows across blocks and files and writes them as Parquet
    parts of about ``batch_rows`` rows (bounded memory whatever the log size); counts their formats.

    The parts are written by :class:`~tracehound.readers.staging.ArrowParts`' background thread:
    Arrow's writer releases the GIL, so a part is encoded while the regex parses the next blocks.
    :meth:`close` writes the last part and stops the thread.
    """

    def __init__(self, folder: Path, bounds: TimeBounds, batch_rows: int = 250_000) -> None:
        self.folder = folder
        self.bounds = bounds
        self.batch_rows = batch_rows
        self.formats: dict[str, int] = {"combined": 0, "common": 0}
        self._writer = ArrowParts(folder)
        self._pending: list[pa.Table] = []
        self._rows = 0

    def take(self, name: str, first: int, lines: list[str | None]) -> tuple[np.ndarray, list[str]]:
        """Parse what the fast path can of one block; return the line numbers and texts it left."""
        batch = parse_batch(name, first, lines, self.bounds)
        for fmt, n in batch.formats.items():
            self.formats[fmt] += n
        if batch.rows.num_rows:
            self._pending.append(batch.rows)
            self._rows += batch.rows.num_rows
            if self._rows >= self.batch_rows:
                self._write()
        return np.asarray(batch.slow_lines, dtype=np.int64), batch.slow_texts

    def _write(self) -> None:
        if self._pending:
            self._writer.write(pa.concat_tables(self._pending))
            self._pending, self._rows = [], 0

    def close(self) -> None:
        """Write the pending rows as the last part and wait for every part to be on disk."""
        try:
            self._write()
        finally:
            self._writer.close()

    @property
    def parts(self) -> int:
        """Parts written (or being written) so far."""
        return self._writer.parts

    @property
    def records(self) -> int:
        """Lines the fast path turned into rows."""
        return sum(self.formats.values())
