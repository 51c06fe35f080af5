"""The distinct-count baseline detector behind every fan-out hunt.

The seed method is a Splunk ``eventstats`` search: per entity and time bucket count the distinct
targets; over a baseline window take each entity's mean and standard deviation of that count; the
bound is ``ceil(mean + k·σ)`` with ``k = 2`` and σ floored at 1; a bucket in the detection window
above its entity's bound is a finding. Two details the search gets right only implicitly and this
code makes explicit: buckets in which the entity did nothing count as zeros (otherwise a user seen
once a week looks as busy as one seen every hour), and σ is the sample standard deviation (``ddof=1``,
as Splunk's ``stdev``).

Four improvements sit on top, each switchable so the seed statistic alone can be measured
(:data:`SEED_ONLY`):

- ``exclude_detection`` — the detection window is never part of the baseline, so a burst cannot
  raise its own bound (the seed search computes its statistics over the whole range it reads);
- ``cold_start`` — an entity whose first baseline activity is less than ``min_history_days`` before
  the detection window has too little history for a mean and σ of its own; it is compared with the
  population's distribution instead (all established entities' active buckets), and the finding says so;
- ``require_new`` — a bucket over the bound is only reported when its *new* targets alone (never
  seen for this entity in the baseline) reach the bound: an admin's sweep of the servers they
  always touch, or a workstation's busy hour of its usual sites plus a couple of new ones, is not
  fan-out; an attacker's burst to hosts the account never used is. Measured alternatives on the
  simulators (docs/fanout.md): "new > bound" missed bursts an hour boundary split in two; a fixed
  "new > 2" flagged workstations' ordinary browsing in the host-scan hunt;
- ``overlap`` — the detection window is also cut into buckets shifted by half a bucket, each held to
  the same bound: a burst that straddles a bucket boundary (10:40–11:20) is split by the aligned
  grid into two halves that may each stay under the bound, but falls whole into a shifted bucket.

Fit on the baseline, score later (the seed method's own use: a baseline of 7–15 days, alert on the
newest hour, every hour): ``fit`` keeps two small tables on the engine over the last
``baseline_days + detect_last`` of the baseline — per (entity, bucket) counts and per (entity,
target) first and last bucket — and ``score`` takes its detection window from the events it is
given, so a new day or hour scored after fitting is never silently outside the window.

All row work is Ibis; only per-entity aggregates and the flagged entities' detection-window rows come
back to Python.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from datetime import datetime, timezone

import ibis
import numpy as np
import pandas as pd

from ..contract import check_fitted
from ..durations import seconds
from ..engine import Engine, epoch_seconds
from ..errors import ConfigError
from ..findings import Finding
from ..params import end_time, integer, number
from .findings import build_findings
from .presets import FanoutSpec, preset

#: Switch every improvement off: the seed's statistic alone (for side-by-side evaluation).
SEED_ONLY = {"exclude_detection": False, "cold_start": False, "require_new": False, "overlap": False}
#: Rows of a flagged entity's detection window fetched for the finding (targets, event ids).
MAX_DETAIL_ROWS = 200_000
#: Columns of :attr:`FanoutScores.frame` and :attr:`FanoutScores.stats`.
FRAME_COLUMNS = ["entity", "b", "offset", "bucket_start", "n", "new", "mean", "sigma", "bound", "basis",
                 "exceeds"]
STATS_COLUMNS = ["entity", "mean", "sigma", "active", "first_b", "cold"]


@dataclass(frozen=True)
class Windows:
    """Bucket-index ranges, half-open ``[start, end)``; bucket ``b`` covers ``[b·w, (b+1)·w)`` seconds."""

    width: int
    baseline_start: int
    baseline_end: int
    detect_start: int
    detect_end: int

    @property
    def baseline_buckets(self) -> int:
        return self.baseline_end - self.baseline_start

    def to_time(self, bucket: float) -> datetime:
        """Start of bucket ``bucket`` (``b + 0.5``: the half-shifted bucket ``b``)."""
        return datetime.fromtimestamp(bucket * self.width, tz=timezone.utc)


@dataclass(frozen=True, eq=False)
class FanoutScores:
    """What :meth:`FanoutDetector.score` measured on one events table; no verdict but the bound test.

    ``windows``: None when the events had no rows and no ``end`` was set. ``frame``: one row per
    (entity, bucket) of the detection window (:data:`FRAME_COLUMNS`). ``stats``: per entity with a
    baseline, ``entity, mean, sigma, active, first_b, cold``; ``population``: ``mean, sigma, buckets``
    over established entities' active buckets. ``rows``: the scored events' prepared rows, and
    ``baseline_counts`` / ``baseline_pairs`` the fitted tables, so :meth:`FanoutDetector.detect`
    reads nothing from the detector but its parameters.
    """

    windows: Windows | None
    frame: pd.DataFrame
    stats: pd.DataFrame
    population: dict
    baseline_entities: int
    rows: ibis.Table
    baseline_counts: ibis.Table
    baseline_pairs: ibis.Table


def bound(mean: np.ndarray | float, sigma: np.ndarray | float, k: float, sigma_floor: float):
    """``ceil(mean + k·max(σ, floor))``; a hair of tolerance so 2.0000000001 from float sums stays 2."""
    return np.ceil(np.asarray(mean) + k * np.maximum(np.asarray(sigma), sigma_floor) - 1e-9).astype(int)


def baseline_moments(s1: np.ndarray, s2: np.ndarray, n: int) -> tuple[np.ndarray, np.ndarray]:
    """Mean and sample σ of ``n`` bucket counts whose non-zero part sums to ``s1`` (squares: ``s2``).

    The zero buckets add nothing to either sum, which is what lets the engine aggregate only the
    buckets where something happened.
    """
    s1 = np.asarray(s1, dtype=float)
    s2 = np.asarray(s2, dtype=float)
    if n < 1:
        return np.zeros_like(s1), np.zeros_like(s1)
    mean = s1 / n
    if n < 2:
        return mean, np.zeros_like(s1)
    var = np.maximum(s2 - n * mean * mean, 0.0) / (n - 1)
    return mean, np.sqrt(var)


class FanoutDetector:
    """Per-entity baseline of distinct targets per bucket; flags buckets above ``ceil(mean + k·σ)``.

    Parameters are stored as given (scikit-learn convention). ``preset`` names a
    :data:`~tracehound.fanout.presets.PRESETS` entry or is a :class:`FanoutSpec`; ``bucket``,
    ``detect_last`` and ``sustained`` override the preset's. ``end`` is the end of the detection
    window (a datetime or ISO-8601 text; default: the end of the bucket holding the scored events'
    newest row). ``baseline_days`` is the window before the detection window (7–15 days is the
    usual range).
    """

    def __init__(self, preset: str | FanoutSpec = "lateral", *, bucket: str | None = None,
                 detect_last: str | None = None, end: datetime | str | None = None,
                 baseline_days: float = 14, k: float = 2.0, sigma_floor: float = 1.0,
                 min_history_days: float = 3, exclude_detection: bool = True, cold_start: bool = True,
                 require_new: bool = True, overlap: bool = True, sustained: int | None = None,
                 max_listed: int = 50) -> None:
        self.preset = preset
        self.bucket = bucket
        self.detect_last = detect_last
        self.end = end
        self.baseline_days = baseline_days
        self.k = k
        self.sigma_floor = sigma_floor
        self.min_history_days = min_history_days
        self.exclude_detection = exclude_detection
        self.cold_start = cold_start
        self.require_new = require_new
        self.overlap = overlap
        self.sustained = sustained
        self.max_listed = max_listed

    # -- set-up ----------------------------------------------------------------------------------
    def spec(self) -> FanoutSpec:
        """The preset with this detector's ``bucket`` / ``detect_last`` / ``sustained`` applied."""
        if isinstance(self.preset, str):
            base = preset(self.preset)
        elif isinstance(self.preset, FanoutSpec):
            base = self.preset
        else:
            raise ConfigError(f"preset must be a preset name or a FanoutSpec, got {self.preset!r}")
        return base.with_options(bucket=self.bucket, detect_last=self.detect_last,
                                 sustained=self.sustained)

    def validate(self) -> None:
        """``ConfigError`` naming the parameter that is of the wrong type or out of range."""
        spec = self.spec()
        widths = {}
        for name, value in (("bucket", spec.bucket), ("detect_last", spec.detect_last)):
            if isinstance(value, bool) or not isinstance(value, (str, int, float)):
                raise ConfigError(f"{name} must be a duration like 1h, got {value!r}")
            try:
                widths[name] = seconds(value)
            except ConfigError as exc:
                raise ConfigError(f"{name}: {exc}") from None
        if widths["detect_last"] % widths["bucket"]:
            raise ConfigError(f"detect_last {spec.detect_last} is not a whole number of "
                              f"{spec.bucket} buckets")
        number("baseline_days", self.baseline_days, 0, strict=True)
        if round(self.baseline_days * 86400 / widths["bucket"]) < 1:
            raise ConfigError(f"baseline_days {self.baseline_days:g} is shorter than one {spec.bucket} bucket")
        number("k", self.k, 0, strict=True)
        number("sigma_floor", self.sigma_floor, 0, strict=False)
        number("min_history_days", self.min_history_days, 0, strict=False)
        for name in ("exclude_detection", "cold_start", "require_new", "overlap"):
            if not isinstance(getattr(self, name), bool):
                raise ConfigError(f"{name} must be true or false, got {getattr(self, name)!r}")
        integer("sustained", spec.sustained, 1)
        integer("max_listed", self.max_listed, 1)
        end_time(self.end)

    def prepare(self, table: ibis.Table) -> ibis.Table:
        """Filtered rows as ``entity, target, b, shifted, time, event_id, entity_alt, target_alt, label``
        (``b`` the bucket index, ``shifted`` the index of the bucket shifted by half a width that
        holds the row: bucket ``s`` of that grid covers ``[(s + ½)·w, (s + 1½)·w)``; ``*_alt``: the
        value came from the fallback column, which decides its entity type in a finding; ``label``:
        the preset's ``recast`` column, null without one)."""
        spec = self.spec()
        for col in (spec.entity, spec.target, "time", *filter(None, [spec.entity_fallback, spec.target_fallback])):
            if col not in table.columns:
                raise ConfigError(f"the {spec.name} hunt needs a {col!r} column; the table has "
                                  f"{', '.join(table.columns)}")
        t = table
        if spec.where is not None:
            t = t.filter(spec.where(t))
        t = t.filter(spec.entity_of(t).notnull() & spec.target_of(t).notnull())
        width = seconds(spec.bucket)
        event_id = t.event_id if "event_id" in t.columns else ibis.literal("").name("event_id")
        epoch = epoch_seconds(t.time)
        no = ibis.literal(False)
        label = t[spec.recast[0]].cast("string") if spec.recast and spec.recast[0] in t.columns \
            else ibis.literal(None, type="string")
        return t.select(entity=spec.entity_of(t).cast("string"), target=spec.target_of(t).cast("string"),
                        b=(epoch // width).cast("int64"), shifted=((epoch - width // 2) // width).cast("int64"),
                        time=t.time, event_id=event_id,
                        entity_alt=t[spec.entity].isnull() if spec.entity_fallback else no,
                        target_alt=t[spec.target].isnull() if spec.target_fallback else no, label=label)

    def _spans(self, spec: FanoutSpec) -> tuple[int, int, int]:
        """Bucket width in seconds, and the baseline and detection windows in buckets."""
        width = seconds(spec.bucket)
        return width, int(round(self.baseline_days * 86400 / width)), seconds(spec.detect_last) // width

    def _windows(self, rows: ibis.Table, spec: FanoutSpec) -> Windows | None:
        """The windows of one scored table: detection ends at ``end`` or after its newest row."""
        width, baseline, detect = self._spans(spec)
        end = end_time(self.end)
        if end is not None:
            detect_end = math.ceil(end.timestamp() / width)
        else:
            newest = _bucket(self.engine_.scalar(rows.b.max()))
            if newest is None:
                return None
            detect_end = newest + 1
        detect_start = detect_end - detect
        if self.cold_start and spec.short_floor and end is None:
            # A short capture: nothing in it is old enough to be history, so all of it is searched
            # (a scan in its first half is not "baseline" because the capture straddles an hour).
            oldest = _bucket(self.engine_.scalar(rows.b.min()))
            history = int(round(self.min_history_days * 86400 / width))
            if oldest is not None and oldest > detect_start - history:
                detect_start = min(detect_start, oldest)
        baseline_start = detect_start - baseline
        baseline_end = detect_start if self.exclude_detection else detect_end
        return Windows(width, baseline_start, baseline_end, detect_start, detect_end)

    # -- fit / score / detect --------------------------------------------------------------------
    def fit(self, baseline: ibis.Table, engine: Engine) -> "FanoutDetector":
        """Keep, over the last ``baseline_days + detect_last`` of ``baseline`` (ending at ``end``'s
        bucket when it is set, else after the newest row), two small tables on the engine.

        Sets ``counts_`` (``entity, b, n``: the count per entity and non-empty bucket), ``pairs_``
        (``entity, target, first_b, last_b``), ``newest_`` (the last bucket of that range; None for
        an empty baseline) and ``engine_``. The statistics themselves depend on the detection window,
        which comes from the scored events, so ``score`` computes them from ``counts_``.
        """
        self.validate()
        spec = self.spec()
        _, baseline_buckets, detect = self._spans(spec)
        rows = self.prepare(baseline)
        end = end_time(self.end)
        if end is not None:
            fit_end = math.ceil(end.timestamp() / seconds(spec.bucket))
        else:
            newest = _bucket(engine.scalar(rows.b.max()))
            fit_end = None if newest is None else newest + 1
        kept = rows if fit_end is None else \
            rows.filter((rows.b >= fit_end - baseline_buckets - detect) & (rows.b < fit_end))
        counts = kept.group_by(["entity", "b"]).aggregate(n=self._measure(kept).cast("int64"))
        pairs = kept.group_by(["entity", "target"]).aggregate(first_b=kept.b.min(), last_b=kept.b.max())
        self.counts_ = engine.materialize(counts, "fanout-counts")
        self.pairs_ = engine.materialize(pairs, "fanout-pairs")
        self.newest_ = None if fit_end is None else fit_end - 1
        self.engine_ = engine
        return self

    def score(self, events: ibis.Table) -> FanoutScores:
        """Count the detection window of ``events`` against the fitted baselines.

        ``frame`` has one row per (entity, bucket) in the detection window: ``entity, b, offset,
        bucket_start, n, new, mean, sigma, bound, basis, exceeds``. ``offset`` is 0 for the aligned
        buckets and 0.5 for the half-shifted ones (``overlap``; bucket ``b`` of that grid starts half
        a width after aligned bucket ``b``; only shifted buckets that lie wholly inside the detection
        window are scored). ``basis`` is ``entity`` (its own baseline), ``population`` (cold start),
        ``capture`` (nothing has history — a short capture — and the preset has a ``short_floor``:
        the median and robust σ of the window's own sources, the bound at least that floor) or
        ``none`` (no history and no population to compare with: mean 0, σ at its floor).
        """
        check_fitted(self)
        spec = self.spec()
        rows = self.prepare(events)
        w = self._windows(rows, spec)
        stats, population = self._baseline(rows, w) if w is not None else \
            (pd.DataFrame(columns=STATS_COLUMNS), {"mean": 0.0, "sigma": 0.0, "buckets": 0})
        frame = self._frame(rows, w, stats, population) if w is not None else \
            pd.DataFrame(columns=FRAME_COLUMNS)
        return FanoutScores(w, frame, stats, population, len(stats), rows, self.counts_, self.pairs_)

    def _history(self, counts: ibis.Table, rows: ibis.Table, w: Windows, until: int) -> ibis.Table:
        """Per (entity, b): fitted counts in ``[baseline_start, detect_start)``, then the scored
        events' own counts in ``[detect_start, until)`` (the detection window is theirs)."""
        before = counts.filter((counts.b >= w.baseline_start) & (counts.b < w.detect_start))
        before = before.select(entity=before.entity.cast("string"), b=before.b.cast("int64"),
                               n=before.n.cast("int64"))
        if until <= w.detect_start:
            return before
        det = rows.filter((rows.b >= w.detect_start) & (rows.b < until))
        own = det.group_by(["entity", "b"]).aggregate(n=self._measure(det))
        own = own.select(entity=own.entity.cast("string"), b=own.b.cast("int64"), n=own.n.cast("int64"))
        return before.union(own)

    @staticmethod
    def _seen(pairs: ibis.Table, w: Windows) -> ibis.Table:
        """Targets an entity reached in the baseline window: its fitted pair overlaps
        ``[baseline_start, detect_start)``."""
        seen = pairs.filter((pairs.last_b >= w.baseline_start) & (pairs.first_b < w.detect_start))
        return seen.select(s_entity=seen.entity, s_target=seen.target).mutate(seen=ibis.literal(1))

    def _baseline(self, rows: ibis.Table, w: Windows) -> tuple[pd.DataFrame, dict]:
        """Each entity's mean and σ over the baseline window, and the population's."""
        per_bucket = self._history(self.counts_, rows, w, w.baseline_end)
        per_entity = per_bucket.group_by("entity").aggregate(
            s1=per_bucket.n.sum(), s2=(per_bucket.n * per_bucket.n).sum(), active=per_bucket.count(),
            first_b=per_bucket.b.min())
        stats = self.engine_.to_pandas(per_entity)
        mean, sigma = baseline_moments(stats["s1"].to_numpy(), stats["s2"].to_numpy(),
                                       w.baseline_buckets)
        stats["mean"], stats["sigma"] = mean, sigma
        history = int(round(self.min_history_days * 86400 / w.width))
        stats["cold"] = (self.cold_start & (stats["first_b"] > w.detect_start - history)) \
            if len(stats) else pd.Series(dtype=bool)
        warm = stats[~stats["cold"].astype(bool)]
        n_active = int(warm["active"].sum())
        population = {"mean": 0.0, "sigma": 0.0, "buckets": 0}
        if n_active:
            s1, s2 = float(warm["s1"].sum()), float(warm["s2"].sum())
            pm, ps = baseline_moments(np.array([s1]), np.array([s2]), n_active)
            population = {"mean": float(pm[0]), "sigma": float(ps[0]), "buckets": n_active}
        return stats[STATS_COLUMNS].reset_index(drop=True), population

    def _frame(self, rows: ibis.Table, w: Windows, stats: pd.DataFrame, pop: dict) -> pd.DataFrame:
        """Counts of the detection window's buckets with their bounds and the bound test."""
        det = rows.filter((rows.b >= w.detect_start) & (rows.b < w.detect_end))
        seen = self._seen(self.pairs_, w)
        events = self.spec().count == "events"
        counts = self._counts(det, "b", seen, events).mutate(offset=ibis.literal(0.0))
        if self._overlaps(w):
            inside = det.filter((det.shifted >= w.detect_start) & (det.shifted < w.detect_end - 1))
            counts = counts.union(self._counts(inside, "shifted", seen, events)
                                  .mutate(offset=ibis.literal(0.5)))
        scores = self.engine_.to_pandas(counts)
        if scores.empty:
            return pd.DataFrame(columns=FRAME_COLUMNS)
        scores = scores.merge(stats, on="entity", how="left")
        own = scores["mean"].notna() & ~scores["cold"].eq(True)
        use_pop = ~own & self.cold_start & (pop["buckets"] > 0)
        capture = ~own & ~use_pop & self.cold_start & (self.spec().short_floor > 0)
        median, spread = _window_population(scores)
        scores["basis"] = np.where(own, "entity", np.where(use_pop, "population",
                                                           np.where(capture, "capture", "none")))
        scores["mean"] = np.where(own, scores["mean"], np.where(use_pop, pop["mean"],
                                                                np.where(capture, median, 0.0)))
        scores["sigma"] = np.where(own, scores["sigma"], np.where(use_pop, pop["sigma"],
                                                                  np.where(capture, spread, 0.0)))
        floor = np.where(capture, max(self.spec().short_floor, self.spec().min_bound), self.spec().min_bound)
        scores["bound"] = np.maximum(bound(scores["mean"].to_numpy(float), scores["sigma"].to_numpy(float),
                                           self.k, self.sigma_floor), floor)
        scores["n"] = scores["n"].astype(int)
        scores["new"] = scores["new"].astype(int)
        exceeds = scores["n"] > scores["bound"]
        if self.require_new and not events:  # new *targets* only mean something for distinct counts
            exceeds &= scores["new"] >= scores["bound"]
        scores["exceeds"] = exceeds
        scores["b"] = scores["b"].astype(int)
        scores["offset"] = scores["offset"].astype(float)
        scores["bucket_start"] = [w.to_time(b + o) for b, o in zip(scores["b"], scores["offset"])]
        return scores[FRAME_COLUMNS].sort_values(["entity", "b", "offset"]).reset_index(drop=True)

    def _measure(self, rows: ibis.Table) -> ibis.Value:
        """What one bucket's number is: its distinct targets, or its rows (``count="events"``)."""
        return rows.count() if self.spec().count == "events" else rows.target.nunique()

    def _overlaps(self, w: Windows) -> bool:
        """Half-shifted buckets are scored when asked for, the width halves into whole seconds, and
        the hunt counts bursts (a ``sustained`` hunt counts buckets, which overlap would double)."""
        return self.overlap and w.width % 2 == 0 and self.spec().sustained <= 1

    @staticmethod
    def _counts(det: ibis.Table, bucket: str, seen: ibis.Table, events: bool = False) -> ibis.Table:
        """Distinct targets (and of them, targets not in ``seen``) per entity and ``bucket`` index;
        with ``events``, rows (and of them, rows whose target is not in ``seen``)."""
        pairs = det.select("entity", "target", b=det[bucket])
        if not events:
            pairs = pairs.distinct()
        joined = pairs.left_join(seen, [pairs.entity == seen.s_entity, pairs.target == seen.s_target])
        return joined.group_by(["entity", "b"]).aggregate(
            n=joined.count(), new=joined.seen.isnull().cast("int64").sum())

    def detect(self, scores: FanoutScores) -> list[Finding]:
        """Findings for the flagged buckets (with ``sustained > 1``: entities flagged that many times)."""
        check_fitted(self)
        spec = self.spec()
        frame = scores.frame
        flagged = frame[frame["exceeds"].astype(bool)] if len(frame) else frame
        if len(flagged) and spec.sustained > 1:
            hits = flagged.groupby("entity")["b"].transform("count")
            flagged = flagged[hits >= spec.sustained]
        if not len(flagged):
            return []
        w, rows, engine = scores.windows, scores.rows, self.engine_
        entities = sorted(flagged["entity"].unique().tolist())
        mine = rows.filter(rows.entity.isin(entities))
        detail = engine.to_pandas(
            mine.filter((mine.b >= w.detect_start) & (mine.b < w.detect_end))
            .select("entity", "target", "b", "time", "event_id", "entity_alt", "target_alt", "label")
            .limit(MAX_DETAIL_ROWS))
        seen = self._seen(scores.baseline_pairs, w)
        seen = seen.filter(seen.s_entity.isin(entities))
        known = engine.to_pandas(seen.select(entity=seen.s_entity, target=seen.s_target))
        history = self._history(scores.baseline_counts, rows, w, w.detect_end)
        series = engine.to_pandas(history.filter(history.entity.isin(entities)))
        return build_findings(spec, self, flagged, detail, known, w, series)


#: Least sources in the detection window for their own median and spread to say what is usual on a
#: short capture; with fewer, the attacker could be half of them, and the floor alone is the bound.
MIN_CAPTURE_POPULATION = 5


def _window_population(scores: pd.DataFrame) -> tuple[float, float]:
    """Median and robust σ (1.4826·MAD) of the aligned detection buckets' counts, one per entity at
    its busiest: what is usual when nothing has history (a capture of half an hour), robust because
    the attacker is part of it; ``(0, 0)`` below :data:`MIN_CAPTURE_POPULATION` entities."""
    aligned = scores[scores["offset"] == 0]
    busiest = aligned.groupby("entity")["n"].max().to_numpy(float) if len(aligned) else np.array([])
    if len(busiest) < MIN_CAPTURE_POPULATION:
        return 0.0, 0.0
    median = float(np.median(busiest))
    return median, 1.4826 * float(np.median(np.abs(busiest - median)))


def _bucket(value) -> int | None:
    """A bucket index from an engine's ``max`` (None / NaN when the table had no rows)."""
    if value is None or (isinstance(value, float) and math.isnan(value)):
        return None
    return int(value)

