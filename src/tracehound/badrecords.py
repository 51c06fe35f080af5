"""Bad input is counted and set aside with its file and line, never silently dropped.

Every reader returns a :class:`ReadReport` alongside its table. The CLI prints the counts and writes
the rejects (file, line, reason, a bounded excerpt of the raw text) to ``rejects.jsonl`` in the output
folder, so an analyst can see exactly what was not read and why.
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

    def to_dict(self) -> dict:
        return {"file": self.file, "line": self.line, "reason": self.reason, "excerpt": self.excerpt}


@dataclass
class ReadReport:
    """What a reader did: files and records read, and the records it set aside."""

    files: int = 0
    records: int = 0
    bad_count: int = 0
    bad: list[BadRecord] = field(default_factory=list)
    formats: Counter = field(default_factory=Counter)
    unreadable_files: list[BadRecord] = field(default_factory=list)

    def reject(self, file: str | Path, line: int | None, reason: str, raw: str | bytes = "") -> None:
        """Count a bad record and keep it (up to :data:`MAX_KEPT`) with a bounded excerpt."""
        self.bad_count += 1
        if len(self.bad) < MAX_KEPT:
            if isinstance(raw, bytes):
                raw = raw[: EXCERPT_CHARS * 4].decode("utf-8", "replace")
            self.bad.append(BadRecord(str(file), line, reason, raw[:EXCERPT_CHARS]))

    def unreadable(self, file: str | Path, reason: str) -> None:
        """Record a whole file that could not be read (not this kind of log, corrupt, empty)."""
        self.unreadable_files.append(BadRecord(str(file), None, reason))

    def merge(self, other: "ReadReport") -> None:
        self.files += other.files
        self.records += other.records
        self.bad_count += other.bad_count
        self.bad.extend(other.bad[: max(0, MAX_KEPT - len(self.bad))])
        self.formats.update(other.formats)
        self.unreadable_files.extend(other.unreadable_files)

    def summary(self) -> str:
        """One line for humans: ``12 files, 50,000 records, 3 bad records set aside``."""
        text = f"{self.files:,} files, {self.records:,} records, {self.bad_count:,} bad records set aside"
        if self.unreadable_files:
            text += f", {len(self.unreadable_files):,} unreadable files"
        return text

    def write_rejects(self, path: str | Path) -> Path:
        """Write the kept rejects and unreadable files as JSON Lines; returns the path."""
        path = Path(path)
        with path.open("wb") as out:
            for rec in [*self.unreadable_files, *self.bad]:
                out.write(orjson.dumps(rec.to_dict()) + b"\n")
        return path
