"""Bad input is counted and set aside with its file and line, never silently dropped.

Every reader returns a :class:`ReadReport` alongside its table. The CLI prints :meth:`ReadReport.summary`
and writes the rejects (file, line, reason, a bounded excerpt of the raw text) to ``rejects.jsonl`` in
the output folder, so an analyst can see exactly what was not read and why.

What a report holds, and the invariant that ties it together — every input record is in exactly one
of: ``records`` (kept: the rows of the table), ``bad_count`` (rejected: malformed, wrong type, time
out of bounds, over a size limit; each in ``bad`` up to :data:`MAX_KEPT`), ``skipped`` (read and
deliberately not kept, counted per reason: another event type, a filtered account, repeats beyond
``limits.max_repeat``), or the records lost in a damaged file (``damaged_files``):

- ``files`` / ``formats``: files read, and how many of each format;
- ``unreadable_files``: whole files nothing could be read from (not this kind of log, cannot open);
- ``damaged_files``: :class:`Damage` — files read up to a point (a truncated or corrupt gzip, a zeroed
  EVTX chunk, a Parquet row group that cannot be decoded, a decompression bomb): where the damage is,
  what it cost, and ``lost``, the records known lost (``None`` when the container cannot say, as
  after a gzip cut); the records before the damage are kept;
- ``warnings``: file-level notes that lose nothing but change values (bytes that were not UTF-8 and
  became U+FFFD, counted per file);
- :attr:`ReadReport.lost`: records known lost in damaged files; :attr:`ReadReport.partial`: whether any
  input was set aside or lost — what the CLI's "partial" exit code is made from.
"""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path

import orjson

#: Raw text kept per rejected record; enough to recognise it, bounded so a 1 GB line cannot blow up.
EXCERPT_CHARS = 300
#: Rejects kept in memory per report; the count keeps going past it.
MAX_KEPT = 10_000


@dataclass(frozen=True)
class BadRecord:
    """One record that could not be read: where it is and why."""

    file: str
    line: int | None
    reason: str
    excerpt: str = ""
    #: ``reject`` (one record), ``unreadable`` (a whole file) or ``warning`` (a file-level note).
    kind: str = "reject"

    def to_dict(self) -> dict:
        return {"file": self.file, "line": self.line, "reason": self.reason, "excerpt": self.excerpt,
                "kind": self.kind}


@dataclass(frozen=True)
class Damage:
    """A file read up to a point: where the damage is, and what was lost because of it."""

    file: str
    reason: str
    #: Byte offset (in the decompressed text, or in the file for EVTX / Parquet) where loss starts.
    offset: int | None = None
    #: Records known lost; ``None`` when the container cannot tell (what followed a gzip cut).
    lost: int | None = None

    def to_dict(self) -> dict:
        return {"file": self.file, "line": None, "reason": self.reason, "excerpt": "", "kind": "damaged",
                "offset": self.offset, "lost": self.lost}


def _excerpt(raw: str | bytes) -> str:
    if isinstance(raw, bytes):
        raw = raw[: EXCERPT_CHARS * 4].decode("utf-8", "replace")
    return raw[:EXCERPT_CHARS]


@dataclass
class ReadReport:
    """What a reader did: files and records read, the records it set aside, the damage it met."""

    files: int = 0
    records: int = 0
    bad_count: int = 0
    bad: list[BadRecord] = field(default_factory=list)
    formats: Counter = field(default_factory=Counter)
    unreadable_files: list[BadRecord] = field(default_factory=list)
    damaged_files: list[Damage] = field(default_factory=list)
    warnings: list[BadRecord] = field(default_factory=list)
    skipped: Counter = field(default_factory=Counter)

    def reject(self, file: str | Path, line: int | None, reason: str, raw: str | bytes = "") -> None:
        """Count a bad record and keep it (up to :data:`MAX_KEPT`) with a bounded excerpt."""
        self.bad_count += 1
        if len(self.bad) < MAX_KEPT:
            self.bad.append(BadRecord(str(file), line, reason, _excerpt(raw)))

    def unreadable(self, file: str | Path, reason: str) -> None:
        """Record a whole file that could not be read (not this kind of log, corrupt, empty)."""
        self.unreadable_files.append(BadRecord(str(file), None, reason, kind="unreadable"))

    def damaged(self, file: str | Path, reason: str, *, offset: int | None = None,
                lost: int | None = None) -> None:
        """Record a file read up to damage: the reason names where, ``lost`` how many records."""
        self.damaged_files.append(Damage(str(file), reason, offset, lost))

    def warn(self, file: str | Path, reason: str) -> None:
        """Record a file-level note that loses no record (bytes replaced while decoding)."""
        self.warnings.append(BadRecord(str(file), None, reason, kind="warning"))

    def skip(self, reason: str, n: int = 1) -> None:
        """Count ``n`` records read and deliberately not kept, by reason (another event type ...)."""
        self.skipped[reason] += n

    @property
    def lost(self) -> int:
        """Records known lost in damaged files (damage whose extent is unknown adds nothing)."""
        return sum(d.lost or 0 for d in self.damaged_files)

    @property
    def partial(self) -> bool:
        """Whether any input was set aside or lost: rejects, damaged files or unreadable files."""
        return bool(self.bad_count or self.damaged_files or self.unreadable_files)

    def merge(self, other: "ReadReport") -> None:
        self.files += other.files
        self.records += other.records
        self.bad_count += other.bad_count
        self.bad.extend(other.bad[: max(0, MAX_KEPT - len(self.bad))])
        self.formats.update(other.formats)
        self.unreadable_files.extend(other.unreadable_files)
        self.damaged_files.extend(other.damaged_files)
        self.warnings.extend(other.warnings)
        self.skipped.update(other.skipped)

    def summary(self) -> str:
        """One line for humans: ``12 files, 50,000 records, 3 bad records set aside``, then what else
        happened (damaged and unreadable files, warnings, more set aside than kept)."""
        text = f"{self.files:,} files, {self.records:,} records, {self.bad_count:,} bad records set aside"
        if self.bad_count > self.records:
            text += f" (more set aside than kept: {self.bad_count:,} against {self.records:,})"
        skipped = sum(self.skipped.values())
        if skipped:
            text += f", {skipped:,} skipped ({_top(self.skipped)})"
        if self.damaged_files:
            unknown = any(d.lost is None for d in self.damaged_files)
            lost = (f"{self.lost:,} records lost" if not unknown else
                    f"at least {self.lost:,} records lost" if self.lost else "records after the damage lost")
            text += f", {len(self.damaged_files):,} damaged files ({lost})"
        if self.unreadable_files:
            text += f", {len(self.unreadable_files):,} unreadable files"
        if self.warnings:
            text += f", {len(self.warnings):,} warnings"
        return text

    def details(self, n: int = 10) -> list[str]:
        """Up to ``n`` lines naming each damaged file with what was lost, then each warning."""
        lines = [f"damaged {d.file}: {d.reason}" for d in self.damaged_files]
        lines += [f"warning {w.file}: {w.reason}" for w in self.warnings]
        return lines[:n] + ([f"... and {len(lines) - n:,} more"] if len(lines) > n else [])

    def write_rejects(self, path: str | Path) -> Path:
        """Write unreadable and damaged files, warnings and the kept rejects as JSON Lines."""
        path = Path(path)
        with path.open("wb") as out:
            for rec in [*self.unreadable_files, *self.damaged_files, *self.warnings, *self.bad]:
                out.write(orjson.dumps(rec.to_dict()) + b"\n")
        return path


def _top(counts: Counter, n: int = 3) -> str:
    shown = [f"{reason}: {count:,}" for reason, count in counts.most_common(n)]
    return "; ".join(shown) + ("; ..." if len(counts) > n else "")
