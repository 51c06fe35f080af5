"""What the four network hunts share: their windows, their parameter checks, and the address book.

Each hunt learns "what is normal for each host" from a baseline and judges a detection window, the
way the fan-out hunts do (and with the same :class:`~tracehound.fanout.detector.Windows`, so the run
states the same baseline / detection spans for every hunt): ``fit(baseline)`` keeps small per-bucket
aggregates over the last ``baseline_days + detect_last`` of the baseline; ``score(events)`` takes its
detection window from the events it is given (the last ``detect_last`` before ``end``, or before
their newest bucket) and the baseline from the ``baseline_days`` before it, cut from what was
fitted. Fitting on last fortnight and scoring today, or fitting and scoring one table, both work;
the detection window is never part of the baseline.
"""

from __future__ import annotations

import math
from datetime import datetime
from typing import Mapping, Sequence

import ibis
import pandas as pd

from ..contract import check_fitted
from ..durations import seconds
from ..engine import Engine
from ..errors import ConfigError
from ..fanout.detector import Windows
from ..params import end_time, integer, number
from .addresses import AddressBook

#: Rows of a flagged host's detection window fetched for its finding (destinations, event ids).
MAX_DETAIL_ROWS = 50_000


def bucket_index(table: ibis.Table, width: int) -> ibis.Value:
    """The bucket a row's start time falls in."""
    return (table.time.epoch_seconds() // width).cast("int64")


def carries_answers(table: ibis.Table, engine: Engine) -> bool:
    """Whether a table says which connections were answered (any ``bytes_in`` at all).

    Zeek writes the bytes a responder sent back (``-`` for a lone SYN); a firewall export without byte
    columns says nothing either way, and there every connection has to count as a conversation."""
    return int(engine.scalar(table.filter(table.bytes_in.notnull()).count())) > 0


def tagged(table: ibis.Table, lookup: ibis.Table) -> ibis.Table:
    """``table`` with ``src_group`` / ``dst_group`` (null: outside the internal networks) and
    ``dst_edge`` (the destination is its group network's network or broadcast address)."""
    src = lookup.select(_src_addr=lookup.address, src_group=lookup.group)
    dst = lookup.select(_dst_addr=lookup.address, dst_group=lookup.group, dst_edge=lookup.edge)
    joined = table.left_join(src, table.src_ip == src._src_addr).left_join(dst, table.dst_ip == dst._dst_addr)
    return joined.drop("_src_addr", "_dst_addr")


class NetworkHunt:
    """Shared parameters (stored as given, scikit-learn style) and the window arithmetic.

    Subclasses declare their own constructor (its keyword arguments are their config section's
    parameters) and call :meth:`_store` with the shared ones.
    """

    bucket: str
    detect_last: str
    end: datetime | str | None
    baseline_days: float
    min_history_days: float
    internal: Sequence[str] | None
    groups: Mapping[str, str] | None
    prefix: int
    max_listed: int

    def _store(self, *, bucket, detect_last, end, baseline_days, min_history_days, internal,
               groups=None, prefix=24, max_listed=50) -> None:
        self.bucket = bucket
        self.detect_last = detect_last
        self.end = end
        self.baseline_days = baseline_days
        self.min_history_days = min_history_days
        self.internal = internal
        self.groups = groups
        self.prefix = prefix
        self.max_listed = max_listed

    def _validate_common(self) -> None:
        widths = {}
        for name in ("bucket", "detect_last"):
            value = getattr(self, name)
            if isinstance(value, bool) or not isinstance(value, (str, int, float)):
                raise ConfigError(f"{name} must be a duration like 1h, got {value!r}")
            try:
                widths[name] = seconds(value)
            except ConfigError as exc:
                raise ConfigError(f"{name}: {exc}") from None
        if widths["detect_last"] % widths["bucket"]:
            raise ConfigError(f"detect_last {self.detect_last} is not a whole number of {self.bucket} buckets")
        number("baseline_days", self.baseline_days, 0, strict=True)
        if round(self.baseline_days * 86400 / widths["bucket"]) < 1:
            raise ConfigError(f"baseline_days {self.baseline_days:g} is shorter than one {self.bucket} bucket")
        number("min_history_days", self.min_history_days, 0)
        integer("max_listed", self.max_listed, 1)
        end_time(self.end)
        self.book()

    def book(self) -> AddressBook:
        """The internal networks and peer groups of this hunt's configuration."""
        return AddressBook.build(self.internal, self.groups, self.prefix)

    def width(self) -> int:
        return seconds(self.bucket)

    def spans(self) -> tuple[int, int, int]:
        """Bucket width in seconds, and the baseline and detection windows in buckets."""
        width = self.width()
        return width, int(round(self.baseline_days * 86400 / width)), seconds(self.detect_last) // width

    def history_buckets(self) -> int:
        return int(round(self.min_history_days * 86400 / self.width()))

    def fit_range(self, table: ibis.Table, engine: Engine) -> tuple[int, int] | None:
        """Buckets ``[start, end)`` of ``table`` worth keeping: the last ``baseline_days +
        detect_last`` before ``end`` (or its newest bucket); None for an empty table."""
        width, baseline, detect = self.spans()
        stop = self._stop(table, engine)
        return None if stop is None else (stop - baseline - detect, stop)

    def _stop(self, table: ibis.Table, engine: Engine) -> int | None:
        end = end_time(self.end)
        if end is not None:
            return math.ceil(end.timestamp() / self.width())
        newest = engine.scalar(table.time.max())
        if newest is None or pd.isna(newest):
            return None
        stamp = newest.timestamp() if hasattr(newest, "timestamp") else float(newest)
        return int(stamp // self.width()) + 1

    def windows(self, events: ibis.Table) -> Windows | None:
        """The windows one scored table is judged in (None: no rows and no ``end``)."""
        check_fitted(self)
        width, baseline, detect = self.spans()
        stop = self._stop(events, self.engine_)
        if stop is None:
            return None
        start = stop - detect
        return Windows(width, start - baseline, start, start, stop)

    engine_: Engine
