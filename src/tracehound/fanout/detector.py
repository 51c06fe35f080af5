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

from ..engine import Engine
from ..errors import ConfigError, NotFittedError
from ..findings import Finding
from .findings import build_findings
from .presets import FanoutSpec, preset, seconds

#: Switch every improvement off: the seed's statistic alone (for side-by-side evaluation).
SEED_ONLY = {"exclude_detection": False, "cold_start": False, "require_new": False, "overlap": False}
#: Rows of a flagged entity's detection window fetched for the finding (targets, event ids).
MAX_DETAIL_ROWS = 200_000


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
    :data:`~tracehound.fanout.presets.PRESETS` entry or is a :class:`FanoutSpec`; ``bucket`` and
    ``detect_last`` override the preset's. ``end`` is the end of the detection window (default: the
    end of the bucket holding the newest event). ``baseline_days`` is the window before the detection
    window (7–15 days is the usual range).
    """

    def __init__(self, preset: str | FanoutSpec = "lateral", *, bucket: str | None = None,
                 detect_last: str | None = None, end: datetime | None = None,
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
        base = preset(self.preset) if isinstance(self.preset, str) else self.preset
        return base.with_options(bucket=self.bucket, detect_last=self.detect_last,
                                 sustained=self.sustained)

    def _check(self) -> FanoutSpec:
        spec = self.spec()
        if self.k <= 0 or self.sigma_floor < 0:
            raise ConfigError(f"k must be > 0 and sigma_floor >= 0 (got k={self.k}, "
                              f"sigma_floor={self.sigma_floor})")
        if self.baseline_days <= 0:
            raise ConfigError(f"baseline_days must be positive (got {self.baseline_days})")
        width, last = seconds(spec.bucket), seconds(spec.detect_last)
        if last % width:
            raise ConfigError(f"detect_last {spec.detect_last} is not a whole number of "
                              f"{spec.bucket} buckets")
        return spec

    def prepare(self, table: ibis.Table) -> ibis.Table:
        """Filtered rows as ``entity, target, b, shifted, time, event_id`` (``b`` the bucket index,
        ``shifted`` the index of the bucket shifted by half a width that holds the row: bucket
        ``s`` of that grid covers ``[(s + ½)·w, (s + 1½)·w)``)."""
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
        epoch = t.time.epoch_seconds()
        return t.select(entity=spec.entity_of(t).cast("string"), target=spec.target_of(t).cast("string"),
                        b=(epoch // width).cast("int64"), shifted=((epoch - width // 2) // width).cast("int64"),
                        time=t.time, event_id=event_id)

    def _windows(self, engine: Engine, rows: ibis.Table, spec: FanoutSpec) -> Windows | None:
        width = seconds(spec.bucket)
        if self.end is not None:
            end = self.end if self.end.tzinfo else self.end.replace(tzinfo=timezone.utc)
            detect_end = math.ceil(end.timestamp() / width)
        else:
            newest = engine.scalar(rows.b.max())
            if newest is None or (isinstance(newest, float) and math.isnan(newest)):
                return None
            detect_end = int(newest) + 1
        detect_start = detect_end - seconds(spec.detect_last) // width
        baseline_start = detect_start - int(round(self.baseline_days * 86400 / width))
        baseline_end = detect_start if self.exclude_detection else detect_end
        return Windows(width, baseline_start, baseline_end, detect_start, detect_end)

    # -- fit / score / detect --------------------------------------------------------------------
    def fit(self, table: ibis.Table, engine: Engine) -> "FanoutDetector":
        """Learn each entity's mean and σ of distinct targets per bucket over the baseline window.

        Sets ``windows_``, ``stats_`` (one row per entity seen in the baseline: ``entity, mean,
        sigma, active, first_b, cold``) and ``population_`` (``mean``, ``sigma``, ``buckets`` over
        established entities' active buckets).
        """
        spec = self._check()
        rows = self.prepare(table)
        self.windows_ = self._windows(engine, rows, spec)
        w = self.windows_
        if w is None:  # no rows at all
            self.stats_ = pd.DataFrame(columns=["entity", "mean", "sigma", "active", "first_b", "cold"])
            self.population_ = {"mean": 0.0, "sigma": 0.0, "buckets": 0}
            return self
        base = rows.filter((rows.b >= w.baseline_start) & (rows.b < w.baseline_end))
        per_bucket = base.group_by(["entity", "b"]).aggregate(n=self._measure(base))
        per_entity = per_bucket.group_by("entity").aggregate(
            s1=per_bucket.n.sum(), s2=(per_bucket.n * per_bucket.n).sum(), active=per_bucket.count(),
            first_b=per_bucket.b.min())
        stats = engine.to_pandas(per_entity)
        mean, sigma = baseline_moments(stats["s1"].to_numpy(), stats["s2"].to_numpy(),
                                       w.baseline_buckets)
        stats["mean"], stats["sigma"] = mean, sigma
        history = int(round(self.min_history_days * 86400 / w.width))
        stats["cold"] = (self.cold_start & (stats["first_b"] > w.detect_start - history)) \
            if len(stats) else pd.Series(dtype=bool)
        warm = stats[~stats["cold"].astype(bool)]
        n_active = int(warm["active"].sum())
        if n_active:
            s1, s2 = float(warm["s1"].sum()), float(warm["s2"].sum())
            pm, ps = baseline_moments(np.array([s1]), np.array([s2]), n_active)
            self.population_ = {"mean": float(pm[0]), "sigma": float(ps[0]), "buckets": n_active}
        else:
            self.population_ = {"mean": 0.0, "sigma": 0.0, "buckets": 0}
        self.stats_ = stats[["entity", "mean", "sigma", "active", "first_b", "cold"]].reset_index(drop=True)
        return self

    def _fitted(self) -> Windows | None:
        if not hasattr(self, "windows_"):
            raise NotFittedError("FanoutDetector.score/detect called before fit")
        return self.windows_

    def score(self, table: ibis.Table, engine: Engine) -> pd.DataFrame:
        """One row per (entity, bucket) in the detection window with its count, bound and verdict.

        Columns: ``entity, b, offset, bucket_start, n, new, mean, sigma, bound, basis, exceeds``.
        ``offset`` is 0 for the aligned buckets and 0.5 for the half-shifted ones (``overlap``;
        bucket ``b`` of that grid starts half a width after aligned bucket ``b``; only shifted
        buckets that lie wholly inside the detection window are scored). ``basis`` is ``entity``
        (its own baseline), ``population`` (cold start) or ``none`` (no history and no population
        to compare with: mean 0, σ at its floor).
        """
        w = self._fitted()
        columns = ["entity", "b", "offset", "bucket_start", "n", "new", "mean", "sigma", "bound", "basis",
                   "exceeds"]
        if w is None:
            return pd.DataFrame(columns=columns)
        rows = self.prepare(table)
        det = rows.filter((rows.b >= w.detect_start) & (rows.b < w.detect_end))
        before = rows.filter((rows.b >= w.baseline_start) & (rows.b < w.detect_start))
        seen = before.select(s_entity=before.entity, s_target=before.target).distinct() \
            .mutate(seen=ibis.literal(1))
        events = self.spec().count == "events"
        counts = self._counts(det, "b", seen, events).mutate(offset=ibis.literal(0.0))
        if self._overlaps(w):
            inside = det.filter((det.shifted >= w.detect_start) & (det.shifted < w.detect_end - 1))
            counts = counts.union(self._counts(inside, "shifted", seen, events)
                                  .mutate(offset=ibis.literal(0.5)))
        scores = engine.to_pandas(counts)
        if scores.empty:
            return pd.DataFrame(columns=columns)
        scores = scores.merge(self.stats_, on="entity", how="left")
        own = scores["mean"].notna() & ~scores["cold"].eq(True)
        pop = self.population_
        use_pop = ~own & self.cold_start & (pop["buckets"] > 0)
        scores["basis"] = np.where(own, "entity", np.where(use_pop, "population", "none"))
        scores["mean"] = np.where(own, scores["mean"], np.where(use_pop, pop["mean"], 0.0))
        scores["sigma"] = np.where(own, scores["sigma"], np.where(use_pop, pop["sigma"], 0.0))
        scores["bound"] = np.maximum(bound(scores["mean"].to_numpy(float), scores["sigma"].to_numpy(float),
                                           self.k, self.sigma_floor), self.spec().min_bound)
        scores["n"] = scores["n"].astype(int)
        scores["new"] = scores["new"].astype(int)
        exceeds = scores["n"] > scores["bound"]
        if self.require_new and not events:  # new *targets* only mean something for distinct counts
            exceeds &= scores["new"] >= scores["bound"]
        scores["exceeds"] = exceeds
        scores["b"] = scores["b"].astype(int)
        scores["offset"] = scores["offset"].astype(float)
        scores["bucket_start"] = [w.to_time(b + o) for b, o in zip(scores["b"], scores["offset"])]
        return scores[columns].sort_values(["entity", "b", "offset"]).reset_index(drop=True)

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

    def detect(self, table: ibis.Table, engine: Engine) -> list[Finding]:
        """Findings for the flagged buckets (with ``sustained > 1``: entities flagged that many times)."""
        spec = self.spec()
        scores = self.score(table, engine)
        flagged = scores[scores["exceeds"].astype(bool)] if len(scores) else scores
        if len(flagged) and spec.sustained > 1:
            hits = flagged.groupby("entity")["b"].transform("count")
            flagged = flagged[hits >= spec.sustained]
        if not len(flagged):
            return []
        w = self.windows_
        entities = sorted(flagged["entity"].unique().tolist())
        rows = self.prepare(table)
        mine = rows.filter(rows.entity.isin(entities))
        detail = engine.to_pandas(
            mine.filter((mine.b >= w.detect_start) & (mine.b < w.detect_end))
            .select("entity", "target", "b", "time", "event_id").limit(MAX_DETAIL_ROWS))
        before = mine.filter((mine.b >= w.baseline_start) & (mine.b < w.detect_start))
        known = engine.to_pandas(before.select("entity", "target").distinct())
        history = mine.filter((mine.b >= w.baseline_start) & (mine.b < w.detect_end))
        series = engine.to_pandas(history.group_by(["entity", "b"]).aggregate(n=self._measure(history)))
        return build_findings(spec, self, flagged, detail, known, w, series)
