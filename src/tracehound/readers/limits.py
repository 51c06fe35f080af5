"""Bounds on everything an input controls: sizes, nesting, repeats, decompression, and time itself.

Why: every byte of a log is written by someone — an attacker who can write one line, or an exporter
that broke half-way. Without bounds one 21 KB syslog line ``message repeated 10000000 times`` becomes
ten million rows, a 523 KB gzip holding one 512 MiB line takes gigabytes, and one logon dated 2099
moves every detection window to 2099. Each bound below turns such an item into a located reject
(file, line, reason) and the read goes on; all are passed to the readers as the ``limits=`` read
option (``read_family(table, files, canonical, engine, limits=Limits(max_repeat=100))``).

Defaults and why they are where they are:

===================  ==============  ===================================================================
field                default         over it
===================  ==============  ===================================================================
``max_line``         16 MiB          a line / record of text (a JSON Lines record is a line); Entra
                                     sign-ins with hundreds of conditional-access policies reach ~1 MB;
                                     the line is skipped while streaming, never held whole
``max_cell``         1 MiB           one CSV field (an ``AuditData`` cell is a few KB)
``max_document``     256 MiB         a file that has to be parsed whole (a Defender JSON document); sign-in
                                     JSON arrays, Graph pages and Event Hub batches
                                     stream record by record and are bounded by ``max_line`` per record
``max_depth``        64              nesting of a JSON record (real exports nest 3–5 deep)
``max_repeat``       1000            rows one record may stand for (syslog ``message repeated N
                                     times``, PAM ``N more authentication failures``); the rest are
                                     counted as skipped, never made into rows
``max_ratio``        200             decompressed / compressed size of a gzip or zip member (logs
                                     compress 5–50×; a bomb compresses ~1000×); what follows is lost
                                     and the file is named as damaged
``time_floor``       1970-01-01 UTC  records stamped earlier are set aside: no log format stamps
                                     earlier, and LANL's relative times start at the Unix epoch
``future_tolerance`` 1 day           records stamped later than now + this are set aside (clock skew
                                     and time zones stay inside it; 2099 does not)
``now``              None            the clock the future bound counts from; ``None`` is the time of
                                     the read (give one to replay a read exactly)
===================  ==============  ===================================================================
"""

from __future__ import annotations

from dataclasses import dataclass, fields
from datetime import datetime, timedelta, timezone

from ..errors import ConfigError

MiB = 1 << 20


class OutOfBounds(ValueError):
    """A record's time is outside :class:`TimeBounds`; the message is the reason shown to the analyst."""


@dataclass(frozen=True)
class TimeBounds:
    """The times a record may carry in one read: ``floor <= time <= ceiling`` (both UTC)."""

    floor: datetime
    ceiling: datetime

    def problem(self, when: datetime) -> str | None:
        """Why ``when`` is set aside, or ``None`` when it is inside the bounds."""
        if when < self.floor:
            return f"time {when.isoformat()} is before the floor {self.floor:%Y-%m-%d} (limits.time_floor)"
        if when > self.ceiling:
            return (f"time {when.isoformat()} is in the future, after {self.ceiling:%Y-%m-%dT%H:%M:%SZ} "
                    "(now + limits.future_tolerance)")
        return None

    def check(self, when: datetime) -> datetime:
        """``when`` itself, or :class:`OutOfBounds` naming the bound it crosses."""
        if self.floor <= when <= self.ceiling:
            return when
        raise OutOfBounds(self.problem(when))


@dataclass(frozen=True)
class Limits:
    """What one input item may cost; see the module docstring for each field and its default."""

    max_line: int = 16 * MiB
    max_cell: int = 1 * MiB
    max_document: int = 256 * MiB
    max_depth: int = 64
    max_repeat: int = 1000
    max_ratio: int = 200
    time_floor: datetime = datetime(1970, 1, 1, tzinfo=timezone.utc)
    future_tolerance: timedelta = timedelta(days=1)
    now: datetime | None = None

    def __post_init__(self) -> None:
        for f in fields(self):
            value = getattr(self, f.name)
            if f.name.startswith("max_") and (isinstance(value, bool) or not isinstance(value, int) or value < 1):
                raise ConfigError(f"limits.{f.name}: expected a positive integer, got {value!r}")
        for name in ("time_floor", "now"):
            value = getattr(self, name)
            if value is not None and (not isinstance(value, datetime) or value.tzinfo is None):
                raise ConfigError(f"limits.{name}: expected a timezone-aware datetime, got {value!r}")
        if not isinstance(self.future_tolerance, timedelta) or self.future_tolerance < timedelta(0):
            raise ConfigError(f"limits.future_tolerance: expected a timedelta >= 0, "
                              f"got {self.future_tolerance!r}")

    def bounds(self) -> TimeBounds:
        """The time bounds of a read starting now (or at :attr:`now`)."""
        now = self.now or datetime.now(timezone.utc)
        return TimeBounds(self.time_floor.astimezone(timezone.utc),
                          (now + self.future_tolerance).astimezone(timezone.utc))


DEFAULT = Limits()
