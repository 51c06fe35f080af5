"""EVTX records, with damage counted per record lost rather than per error met.

Why its own module: the ``evtx`` parser skips what it cannot read without saying how much that was.
A file cut short loses its last chunks silently (2,354 of 3,561 records, 0 bad), a zeroed 64 KiB
chunk loses its ~100 records silently, a file cut to its header yields nothing at all, and a corrupt
chunk is one error for a hundred records. The file itself says what it should hold: the file header
names the next record id and the chunk count, and every chunk header the range of record ids in it.
Record ids are consecutive from the oldest record to the newest (also in a log that has wrapped
round), so the records lost are the ids in that range the parser did not deliver, which
:class:`EvtxRecords` reports as one :class:`~tracehound.badrecords.Damage` per file with the ranges.
"""

from __future__ import annotations

import bisect
import struct
from pathlib import Path
from typing import Iterator

from ..badrecords import ReadReport

FILE_MAGIC = b"ElfFile\x00"
CHUNK_MAGIC = b"ElfChnk\x00"
HEADER_SIZE = 4096
CHUNK_SIZE = 65536


def _ranges(ids: list[int], low: int, high: int, n: int = 4) -> tuple[int, str]:
    """How many ids in ``low..high`` are missing from the sorted ``ids``, and the first ``n`` gaps."""
    gaps, expect = [], low
    for rid in ids:
        if rid > expect:
            gaps.append((expect, rid - 1))
        expect = max(expect, rid + 1)
    if expect <= high:
        gaps.append((expect, high))
    lost = sum(b - a + 1 for a, b in gaps)
    text = ", ".join(f"{a:,}" if a == b else f"{a:,}-{b:,}" for a, b in gaps[:n])
    return lost, text + (f" and {len(gaps) - n} more ranges" if len(gaps) > n else "")


class EvtxRecords:
    """``(record id, rendered JSON text)`` of each record the parser delivers; :meth:`finish` counts
    the records the file announces that never came, and reports them with the parser's errors."""

    def __init__(self, path: Path, report: ReadReport) -> None:
        self.path = path
        self.report = report
        self.ids: list[int] = []
        self.errors: list[str] = []

    def _layout(self) -> tuple[int | None, int, list[tuple[int, int, int]]]:
        """(next record id from the file header or None, chunks announced, valid chunks as
        (index, first id, last id))."""
        with open(self.path, "rb") as fh:
            header = fh.read(HEADER_SIZE)
            next_id, announced = None, 0
            if header[:8] == FILE_MAGIC and len(header) >= 44:
                next_id = struct.unpack_from("<q", header, 24)[0]
                announced = struct.unpack_from("<H", header, 42)[0]
            chunks, index = [], 0
            while True:
                head = fh.read(CHUNK_SIZE)[:48]
                if len(head) < 48:
                    break
                if head[:8] == CHUNK_MAGIC:
                    first, last = struct.unpack_from("<qq", head, 24)
                    if 0 < first <= last:
                        chunks.append((index, first, last))
                index += 1
        return next_id, announced, chunks

    def __iter__(self) -> Iterator[tuple[int | None, str]]:
        from evtx import PyEvtxParser

        try:
            it = PyEvtxParser(str(self.path)).records_json()
        except (RuntimeError, OSError, ValueError) as exc:
            self.errors.append(str(exc)[:200])
            return
        while True:
            try:
                rec = next(it)
            except StopIteration:
                return
            except (RuntimeError, OSError, ValueError) as exc:  # a corrupt chunk: the parser moves on
                self.errors.append(str(exc)[:200])
                continue
            rid = rec.get("event_record_id")
            if isinstance(rid, int):
                self.ids.append(rid)
            yield rid, rec.get("data", "")

    def finish(self) -> None:
        """Report the records lost (announced by the headers, never delivered) as damage, if any."""
        try:
            next_id, announced, chunks = self._layout()
        except OSError as exc:
            self.report.damaged(self.path, f"EVTX layout unreadable: {exc}")
            return
        ids = sorted(set(self.ids))
        high = max([next_id - 1] if next_id and next_id > 1 else [], default=0)
        high = max([high, *(last for _, _, last in chunks), *ids[-1:]])
        lows = [first for _, first, _ in chunks] + ids[:1]
        errors = f"; parser errors: {' | '.join(self.errors[:3])}" if self.errors else ""
        if not lows:
            if high or self.errors or announced:
                upto = f"up to {high:,} records" if high else "every record"
                self.report.damaged(self.path, f"EVTX file holds no readable chunk ({announced:,} announced "
                                    f"in its header): {upto} lost{errors}", offset=HEADER_SIZE, lost=high or None)
            return
        lost, gaps = _ranges(ids, min(lows), high)
        if lost or self.errors:
            self.report.damaged(self.path, f"EVTX records {gaps or 'none'} are announced by the file but could "
                                f"not be read (truncated, zeroed or corrupt chunks): {lost:,} of "
                                f"{high - min(lows) + 1:,} records lost{errors}",
                                offset=_first_damaged(chunks, ids, announced), lost=lost)


def _first_damaged(chunks: list[tuple[int, int, int]], ids: list[int], announced: int) -> int | None:
    """File offset of the first chunk that lost records: a valid one not read whole, else the first
    announced chunk slot without a valid header."""
    partly = [i for i, low, high in chunks if not _all_seen(ids, low, high)]
    valid = {i for i, _, _ in chunks}
    missing = [i for i in range(max(announced, len(valid))) if i not in valid]
    first = min(partly + missing, default=None)
    return None if first is None else HEADER_SIZE + CHUNK_SIZE * first


def _all_seen(ids: list[int], low: int, high: int) -> bool:
    """Whether every id in ``low..high`` is in the sorted ``ids``."""
    return bisect.bisect_right(ids, high) - bisect.bisect_left(ids, low) == high - low + 1
