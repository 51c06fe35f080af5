"""The time windows a run searches, stated for every hunt.

``--since`` / ``--until`` bound the rows every hunt sees. ``--detect-last D`` splits them: a hunt learns
from the rows before the last ``D`` (its baseline) and reports what is active in the last ``D`` (its
detection window) — the seed method's "baseline of 7–15 days, judged on the newest hour or day",
for every hunt. A hunt that has its own detection window (a fan-out preset's ``detect_last`` /
``end``) is handed the window as parameters; the others are fitted on the baseline rows and keep
the findings whose activity reaches into the detection window. Either way the run records, per hunt,
which baseline and which detection window it used, so "no finding" always says for which hours.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta, timezone

from typing import TYPE_CHECKING

from .contract import HuntEntry
from .durations import seconds
from .errors import ConfigError

if TYPE_CHECKING:
    import ibis

    from .engine import Engine
    from .findings import Finding

Span = tuple[datetime | None, datetime | None]


def utc(value: datetime | str | None, name: str) -> datetime | None:
    """An aware UTC datetime from a datetime or ISO-8601 text (naive means UTC)."""
    if value is None:
        return None
    if isinstance(value, str):
        try:
            value = datetime.fromisoformat(value.strip().replace("Z", "+00:00"))
        except ValueError:
            raise ConfigError(f"{name} expects an ISO-8601 time like 2024-03-01T00:00Z, got {value!r}") from None
    return value.replace(tzinfo=timezone.utc) if value.tzinfo is None else value.astimezone(timezone.utc)


@dataclass(frozen=True)
class RunWindow:
    """``since`` / ``until`` (half-open, UTC) and ``detect_last`` (a duration like ``1h``, ``1d``)."""

    since: datetime | None = None
    until: datetime | None = None
    detect_last: str | None = None

    @classmethod
    def parse(cls, since=None, until=None, detect_last: str | None = None) -> "RunWindow":
        window = cls(utc(since, "--since"), utc(until, "--until"), detect_last)
        if detect_last is not None:
            seconds(detect_last)  # a ConfigError naming the bad duration
        if window.since and window.until and window.since >= window.until:
            raise ConfigError(f"--since {window.since:%Y-%m-%d %H:%M} is not before --until "
                              f"{window.until:%Y-%m-%d %H:%M}")
        return window

    def rows(self, table: ibis.Table) -> ibis.Table:
        """The rows between ``since`` and ``until``."""
        if self.since is not None:
            table = table.filter(table.time >= self.since)
        if self.until is not None:
            table = table.filter(table.time < self.until)
        return table

    def params(self, entry: HuntEntry, params: dict) -> dict:
        """A hunt's parameters with the detection window, when it takes one itself and the config did not
        set it: ``detect_last`` always, ``end`` when ``--until`` is given."""
        accepted, extra = entry.parameters(), {}
        if self.detect_last and "detect_last" in accepted and "detect_last" not in params:
            extra["detect_last"] = self.detect_last
        if self.until and "end" in accepted and "end" not in params:
            extra["end"] = self.until
        return {**params, **extra}

    def owns_window(self, entry: HuntEntry) -> bool:
        """The hunt cuts its own detection window (it takes ``detect_last``)."""
        return "detect_last" in entry.parameters()


@dataclass(frozen=True)
class Searched:
    """What one hunt searched: its baseline and detection windows, as stated in the summary."""

    baseline: Span
    detection: Span

    def text(self) -> str:
        def span(s: Span) -> str:
            lo, hi = s
            return f"{_fmt(lo)} – {_fmt(hi)}"
        return f"baseline {span(self.baseline)}, detection {span(self.detection)}"


def _fmt(value: datetime | None) -> str:
    return "…" if value is None else f"{utc(value, 'time'):%Y-%m-%d %H:%M} UTC"


def extent(table: ibis.Table, engine: Engine) -> Span:
    """Oldest and newest time in a table (None, None when it is empty)."""
    import pandas as pd

    row = engine.to_pandas(table.aggregate(lo=table.time.min(), hi=table.time.max())).iloc[0]
    return (None if pd.isna(row.lo) else row.lo.to_pydatetime(),
            None if pd.isna(row.hi) else row.hi.to_pydatetime())


def split(window: RunWindow, data: ibis.Table, engine: Engine) -> tuple[ibis.Table, Span, Span]:
    """Baseline rows and the baseline / detection spans for a hunt that does not cut its own window.

    Without ``detect_last`` the hunt learns from and reports on all the rows. With it, the detection
    window is the last ``detect_last`` before ``until`` (or before the newest row) and the baseline is
    everything before that."""
    lo, hi = extent(data, engine)
    end = window.until or (hi + timedelta(microseconds=1) if hi is not None else None)
    if not window.detect_last or end is None:
        return data, (lo, end), (lo, end)
    start = end - timedelta(seconds=seconds(window.detect_last))
    return data.filter(data.time < start), (lo, start), (start, end)


def searched_of(scores, fallback: Searched) -> Searched:
    """The windows a hunt's own scores state (a fan-out's bucket windows), else the run's."""
    w = getattr(scores, "windows", None)
    if w is None or not hasattr(w, "to_time"):
        return fallback
    return Searched((w.to_time(w.baseline_start), w.to_time(w.baseline_end)),
                    (w.to_time(w.detect_start), w.to_time(w.detect_end)))


def active_in(findings: list[Finding], detection: Span) -> list[Finding]:
    """The findings whose activity reaches into the detection window."""
    start = detection[0]
    if start is None:
        return findings
    return [f for f in findings if f.last_seen is None or utc(f.last_seen, "last_seen") >= start]
