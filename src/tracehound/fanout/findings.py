"""Turning flagged (entity, bucket) rows into findings an analyst can act on.

The explanation follows one pattern for every preset: who did how much in which window, what is
usual for them (or for the population, on a cold start), the bound, and how many targets are new —
"alice logged on to 11 hosts between 14:00 and 15:00 UTC; her usual is 2.1 ± 0.9 per 1h, bound 4;
9 of the 11 are new for alice".
"""

from __future__ import annotations

import math
from datetime import timedelta
from typing import TYPE_CHECKING

import pandas as pd

from ..findings import Finding, iso_utc
from .presets import FanoutSpec

if TYPE_CHECKING:
    from .detector import FanoutDetector, Windows

#: Raw event ids listed per finding; ``evidence.event_count`` keeps the full count (a port scan of
#: every port would otherwise put 65,535 ids in one JSON line).
MAX_EVENT_IDS = 10_000


def severity(observed: int, limit: int, new: int) -> tuple[str, float]:
    """Severity and score from how far past the bound and how much of it is new."""
    ratio = observed / max(limit, 1)
    new_share = new / max(observed, 1)
    score = round(ratio * (0.5 + 0.5 * new_share), 3)
    level = "high" if score >= 3 else "medium" if score >= 1.5 else "low"
    return level, score


def _window_text(start, end) -> str:
    if start.date() == (end - timedelta(microseconds=1)).date():
        return f"between {start:%Y-%m-%d %H:%M} and {end:%H:%M} UTC"
    return f"between {start:%Y-%m-%d %H:%M} and {end:%Y-%m-%d %H:%M} UTC"


def _basis_text(row, detector: "FanoutDetector", bucket: str) -> str:
    mean, sigma, limit = row["mean"], row["sigma"], _statistical(row, detector)
    if row["basis"] == "entity":
        return f"the usual for {row['entity']} is {mean:.1f} ± {sigma:.1f} per {bucket}, bound {limit}"
    if row["basis"] == "population":
        return (f"{row['entity']} has less than {detector.min_history_days:g} days of history, so it is "
                f"compared with all established entities (cold start): {mean:.1f} ± {sigma:.1f} per "
                f"{bucket}, bound {limit}")
    if row["basis"] == "capture":
        return (f"there is no history: nothing in this input is older than {detector.min_history_days:g} "
                f"days (a short capture), so {row['entity']} is compared with every source in the window "
                f"itself: median {mean:.1f}, robust σ {sigma:.1f} per {bucket}, bound {limit}")
    return (f"{row['entity']} has no baseline and there is no population to compare with, so the bound "
            f"is the floor: ceil(0 + {detector.k:g}·{detector.sigma_floor:g}) = "
            f"{math.ceil(detector.k * detector.sigma_floor)}")


def _starts(rows: pd.DataFrame) -> pd.Series:
    """Each flagged bucket's start in bucket widths: ``b``, or ``b + 0.5`` for a half-shifted one."""
    offset = rows["offset"] if "offset" in rows.columns else 0.0
    return rows["b"].astype(int) + offset


def _statistical(row, detector: "FanoutDetector") -> int:
    """The bound the baseline alone gives, before a preset's ``min_bound``."""
    return math.ceil(row["mean"] + detector.k * max(row["sigma"], detector.sigma_floor) - 1e-9)


def _runs(flagged: pd.DataFrame) -> list[tuple[str, pd.DataFrame]]:
    """Flagged buckets grouped per entity into runs of consecutive or overlapping buckets: a scan that
    spans two hours is one finding, not two (nor three with the half-shifted bucket between)."""
    groups = []
    flagged = flagged.assign(_start=_starts(flagged))
    for entity, rows in flagged.sort_values(["entity", "_start"]).groupby("entity", sort=True):
        run_id = (rows["_start"].diff() > 1).cumsum()
        groups.extend((entity, run.drop(columns="_start")) for _, run in rows.groupby(run_id, sort=True))
    return groups


def _within(times: pd.Series, buckets: list[float], w: "Windows") -> pd.Series:
    """Rows whose time falls in one of the buckets starting at ``buckets`` (in bucket widths)."""
    mask = pd.Series(False, index=times.index)
    for b in buckets:
        mask |= (times >= w.to_time(b)) & (times < w.to_time(b + 1))
    return mask


def _roles(spec: FanoutSpec, entity: str, mine: pd.DataFrame,
           listed: list[str]) -> tuple[dict[str, list[str]], dict[str, list[str]]]:
    """``(actors, targets)`` of one finding: the entity on its side, the listed targets on the
    other, each under the entity type of the column it came from (a fallback column's values are
    of the fallback's type unless it also came from the column itself; a value of no known type is
    left out rather than guessed)."""
    alt_entity = bool(len(mine)) and bool(mine["entity_alt"].all())
    entity_type = spec.entity_fallback_type if alt_entity else spec.entity_type
    side: dict[str, list[str]] = {entity_type: [str(entity)]} if entity_type else {}
    primary = set(mine.loc[~mine["target_alt"].astype(bool), "target"]) if len(mine) else set()
    other: dict[str, list[str]] = {}
    for target in listed:
        kind = spec.target_type if target in primary else spec.target_fallback_type
        if kind and not (kind == entity_type and target == entity):
            other.setdefault(kind, []).append(str(target))
    return (side, other) if spec.entity_is_actor else (other, side)


def _recast(spec: FanoutSpec, mine: pd.DataFrame) -> tuple[str, dict[str, int]]:
    """The finding's kind — the preset's, or its ``recast`` kind when that share of its events carry
    the recast value — and the events counted per label value (``failure_kind``)."""
    if spec.recast is None or not len(mine) or "label" not in mine.columns:
        return spec.kind, {}
    labels = {str(k): int(v) for k, v in mine["label"].dropna().value_counts().items()}
    _, value, share, kind = spec.recast
    return (kind if labels.get(value, 0) >= share * len(mine) else spec.kind), labels


def _flagged(rows: pd.DataFrame, w: "Windows") -> list[dict]:
    """Each bucket over the bound with the span it covers and its own count: a half-shifted bucket
    (``b + 0.5``) is not one of the aligned ``series`` buckets, so the chart draws it from here and
    the number in the title is a bucket the chart shows."""
    starts = _starts(rows)
    out = {}
    for start, n, new in sorted(zip(starts, rows["n"].astype(int), rows["new"].astype(int))):
        out[float(start)] = {"start": iso_utc(w.to_time(start)), "end": iso_utc(w.to_time(start + 1)),
                             "count": int(n), "new": int(new)}
    return list(out.values())


def build_findings(spec: FanoutSpec, detector: "FanoutDetector", flagged: pd.DataFrame,
                   detail: pd.DataFrame, known: pd.DataFrame, w: "Windows",
                   series: pd.DataFrame) -> list[Finding]:
    """One finding per flagged (entity, bucket), or per entity when the preset is ``sustained``.

    ``series`` holds the entity's distinct-target count per non-empty aligned bucket over baseline
    and detection windows; it goes into the evidence so the report can plot the count against the
    bound, with ``flagged_buckets`` (aligned or half-shifted, each with its count) drawn over it.
    """
    known_sets = known.groupby("entity")["target"].agg(set).to_dict() if len(known) else {}
    by_entity = {ent: grp.sort_values("b") for ent, grp in series.groupby("entity")} if len(series) else {}
    detail = detail.sort_values("time") if len(detail) else detail
    groups = ([(ent, grp) for ent, grp in flagged.groupby("entity")] if spec.sustained > 1
              else _runs(flagged))
    findings = []
    for entity, rows in groups:
        buckets = sorted(set(_starts(rows)))
        mine = detail[(detail["entity"] == entity) & _within(detail["time"], buckets, w)] \
            if len(detail) else detail
        targets = list(dict.fromkeys(mine["target"].tolist())) if len(mine) else []
        seen = known_sets.get(entity, set())
        new_targets = [t for t in targets if t not in seen]
        start = w.to_time(min(buckets))
        end = w.to_time(max(buckets) + 1)
        top = rows.loc[rows["n"].idxmax()]
        observed, limit = int(top["n"]), int(top["bound"])
        level, score = severity(observed, limit, int(top["new"]))
        bucket = spec.bucket
        if spec.sustained > 1:
            lead = (f"{entity} {spec.verb} more {spec.target_noun} than usual in {len(buckets)} "
                    f"{bucket} buckets {_window_text(start, end)} (up to {observed}, "
                    f"{len(targets)} in all)")
        elif spec.count == "events":
            lead = (f"{entity} {spec.verb} {len(mine)} {spec.target_noun} {_window_text(start, end)} "
                    f"(up to {observed} in one {bucket} bucket) from {len(targets)} source(s): "
                    f"{', '.join(map(str, targets[:5]))}{' …' if len(targets) > 5 else ''}")
        elif len(buckets) > 1:
            how = "consecutive" if all(float(b).is_integer() for b in buckets) else "overlapping"
            lead = (f"{entity} {spec.verb} {len(targets)} {spec.target_noun} {_window_text(start, end)} "
                    f"({len(buckets)} {how} {bucket} buckets over the bound, up to {observed} in one)")
        else:
            lead = f"{entity} {spec.verb} {observed} {spec.target_noun} {_window_text(start, end)}"
        least = max(spec.min_bound, spec.short_floor) if top["basis"] == "capture" else spec.min_bound
        what = "short-capture floor" if top["basis"] == "capture" else "preset's least bound"
        floor = (f", raised to the {what} of {least}"
                 if limit == least and _statistical(top, detector) < limit else "")
        kind, labels = _recast(spec, mine)
        if kind != spec.kind:
            lead += (f"; {labels.get(spec.recast[1], 0)} of its {len(mine)} attempts name accounts that do "
                     f"not exist, so this is user enumeration (testing which names exist) rather than "
                     f"password guessing")
        of = f"{len(targets)} sources" if spec.count == "events" else f"{len(targets)}"
        explanation = (f"{lead}; {_basis_text(top, detector, bucket)}{floor}; "
                       f"{len(new_targets)} of the {of} are new for {entity}.")
        listed = targets[: detector.max_listed]
        actors, victims = _roles(spec, entity, mine, listed)
        findings.append(Finding(
            kind=kind,
            id=f"{kind}:{entity}:{iso_utc(start)}",
            title=f"{entity} {spec.verb} {observed} {spec.target_noun} in {bucket} (bound {limit})",
            severity=level,
            score=score,
            first_seen=iso_utc(mine["time"].min()) if len(mine) else iso_utc(start),
            last_seen=iso_utc(mine["time"].max()) if len(mine) else iso_utc(end),
            actors=actors,
            targets=victims,
            event_ids=[str(e) for e in mine["event_id"].tolist()[:MAX_EVENT_IDS] if e],
            explanation=explanation,
            evidence={
                "preset": spec.name,
                "entity": str(entity),
                "bucket": bucket,
                "bucket_start": iso_utc(start),
                "bucket_end": iso_utc(end),
                "observed": observed,
                "mean": round(float(top["mean"]), 4),
                "sigma": round(float(top["sigma"]), 4),
                "bound": limit,
                "k": detector.k,
                "sigma_floor": detector.sigma_floor,
                "baseline": top["basis"],
                "no_history": top["basis"] in ("capture", "none"),
                "baseline_start": iso_utc(w.to_time(w.baseline_start)),
                "baseline_end": iso_utc(w.to_time(w.baseline_end)),
                "buckets_over_bound": [iso_utc(w.to_time(b)) for b in buckets],
                "flagged_buckets": _flagged(rows, w),
                "new_target_count": len(new_targets),
                "new_targets": new_targets[: detector.max_listed],
                "targets": listed,
                "target_count": len(targets),
                "event_count": len(mine),
                **({"failure_kinds": labels} if spec.recast else {}),
                "series": [{"bucket": iso_utc(w.to_time(int(b))), "count": int(n)}
                           for b, n in zip(by_entity[entity]["b"], by_entity[entity]["n"])]
                if entity in by_entity else [],
            },
        ))
    return findings
