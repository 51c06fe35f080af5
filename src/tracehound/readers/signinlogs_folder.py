"""Many small SigninLogs JSON Lines files (a Sentinel export's five-minute files) in one DuckDB read.

Why: a Sentinel / storage-account export is one file per five minutes, 100,000 files a year of
a few KB each. Each is too small for the DuckDB fast path (:mod:`.signinlogs_bulk`; starting DuckDB
costs more than the Python pass spends on one small file), so each went through the Python pass,
which maps a record several times slower than DuckDB's reader: the folder took 3.5x the time of the
same rows in one file (benchmarks/README.md, "Reading many files").

How: consecutive small files are joined, in order, into one staged JSON Lines file of up to
:data:`GROUP_BYTES` (a newline added where a file lacks its last one), remembering how many records
(non-blank lines) each file holds. :class:`~.signinlogs_bulk.BulkRead` reads the joined file as it
reads any big file — the same SQL, the same ``plain`` test, the same limits pass — and each row's
``source`` is set back to the file it came from. Where the bulk read stops (the first row that is not
plain, an invalid line, a BOM, bad UTF-8), the file holding that record is read on by the Python pass
from its own record number, so its rejects name the file and its line exactly as before, and the
files after it start a new group. A gzip'd file is never joined (it is read alone, as before).
"""

from __future__ import annotations

import os
import sys
import tempfile
from pathlib import Path
from typing import Callable, Iterator

import numpy as np
import pyarrow as pa

from ..badrecords import ReadReport
from .enrich import Enricher
from .limits import Limits, TimeBounds
from .files import read_whole
from .signinlogs_bulk import BulkRead, nonblank_lines
from .stream import GZIP_MAGIC

#: Most bytes joined into one staged file: large enough that DuckDB's start-up (~50 ms) is paid
#: rarely, small enough that a group's bytes are held in memory while it is joined.
GROUP_BYTES = 64 << 20

#: A group smaller than this is read by the Python pass: starting DuckDB would cost more (the reason
#: for ``signins.BULK_MIN_BYTES``, which keeps a small file out of the single-file fast path).
MIN_GROUP_BYTES = 16_384

#: Pieces handed to one ``os.writev``: Linux and macOS take 1,024 (POSIX promises 16).
_IOV_MAX = 1024 if sys.platform.startswith(("linux", "darwin")) else 16

#: Reads one file on from record ``skip + 1`` (the Python pass), yielding its batches.
ReadRest = Callable[[Path, int], Iterator[pa.RecordBatch]]


def joinable(head: bytes) -> bool:
    """Whether a file starting with ``head`` may be joined: not gzip'd (the joined file is plain text)."""
    return not head.startswith(GZIP_MAGIC)


def _records(data: bytes) -> int:
    """Non-blank lines of ``data`` (which ends with a newline), as the JSON Lines reader counts
    records (a line of ASCII whitespace is blank).

    An export's lines all start with ``{``, and two counts in C say so; otherwise
    :func:`.signinlogs_bulk.nonblank_lines` counts them.
    """
    lines = data.count(b"\n")
    if data.count(b"\n{") + data.startswith(b"{") == lines:
        return lines
    return nonblank_lines(data)


def _write(path: Path, blobs: list[bytes]) -> None:
    """``blobs`` one after another as the file ``path``. ``os.writev`` takes a thousand of them a
    call: ``writelines`` on a file object costs four times as much for pieces of a few KB."""
    if not hasattr(os, "writev"):  # not on Windows
        with open(path, "wb") as out:
            out.writelines(blobs)
        return
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    try:
        for i in range(0, len(blobs), _IOV_MAX):
            batch = blobs[i:i + _IOV_MAX]
            written = os.writev(fd, batch)
            rest = memoryview(b"".join(batch))[written:] if written < sum(map(len, batch)) else b""
            while rest:  # a short write (a signal, a full disk's last bytes): the rest piece by piece
                rest = rest[os.write(fd, rest):]
    finally:
        os.close(fd)


def read_small_files(paths: list[Path], *, enricher: Enricher, batch_rows: int, bounds: TimeBounds,
                     limits: Limits, report: ReadReport, rest: ReadRest) -> Iterator[pa.RecordBatch]:
    """Canonical batches of ``paths`` (SigninLogs JSON Lines, in order), DuckDB first, the Python
    pass (``rest``, which counts its own records) for whatever it could not take; rows keep the file
    they came from as ``source``; the bulk read's records are added to ``report.records``."""
    start, cap = 0, len(paths)
    while start < len(paths):
        group, blobs, size = [], [], 0
        for path in paths[start:start + cap]:
            data = read_whole(path)
            if data is None or not joinable(data[:2]):
                break
            if group and size + len(data) > GROUP_BYTES:
                break
            group.append(path)
            blobs.append(data if data.endswith(b"\n") or not data else data + b"\n")
            size += len(blobs[-1])
        if not group:  # unreadable or gzip'd: the Python pass reads it (and names what is wrong)
            yield from rest(paths[start], 0)
            start += 1
            continue
        if size < MIN_GROUP_BYTES:
            for path in group:
                yield from rest(path, 0)
            start += len(group)
            continue
        counts = np.array([_records(b) for b in blobs], dtype=np.int64)
        stopped = yield from _read_group(group, blobs, counts, enricher, batch_rows, bounds, limits, report)
        if stopped is None:
            start += len(group)
            cap = min(cap * 2, len(paths))  # after a bisection, back to big groups
            continue
        index, skip = stopped
        if index == 0 and skip == 0 and len(group) > 1:
            # DuckDB can fail on a damaged line before it hands out the rows ahead of it: find the
            # file by halves rather than reading every file before it with the Python pass.
            cap = max(len(group) // 2, 1)
            continue
        yield from rest(group[index], skip)
        start += index + 1


def _read_group(group: list[Path], blobs: list[bytes], counts: np.ndarray, enricher: Enricher,
                batch_rows: int, bounds: TimeBounds, limits: Limits, report: ReadReport):
    """Yield the bulk read's batches of one joined group; return None when it read all of it, else
    ``(index of the file it stopped in, records of that file it delivered)``."""
    firsts = np.concatenate([[0], np.cumsum(counts)[:-1]])
    sources = pa.array([str(p) for p in group], pa.string())
    with tempfile.TemporaryDirectory(prefix="tracehound-join-") as folder:
        joined = Path(folder) / "joined.jsonl"
        _write(joined, blobs)
        bulk = BulkRead(joined, enricher=enricher, batch_rows=batch_rows, bounds=bounds, limits=limits)
        done = 0
        for batch in bulk.batches():
            rows = np.arange(done, done + batch.num_rows)
            owner = np.searchsorted(firsts + counts, rows, side="right")  # first file ending after the row
            done += batch.num_rows
            report.records += batch.num_rows
            column = batch.schema.get_field_index("source")
            yield batch.set_column(column, "source", sources.take(pa.array(owner)))
        if bulk.complete:
            return None
    delivered = bulk.records
    index = int(np.searchsorted(firsts + counts, delivered, side="right"))
    if index >= len(group):  # every record was delivered, yet the read did not finish: nothing is left
        return None
    return index, int(delivered - firsts[index])
