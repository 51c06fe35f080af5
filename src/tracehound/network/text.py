"""Words and numbers the network findings share: sizes, durations, windows, and the plotted series.

Every finding's evidence carries the ``series`` plot family the report draws for fan-out findings
(``series = [{"bucket": iso, "count": n}]`` against ``bound`` over ``baseline_start`` …
``bucket_end``), with ``series_label`` / ``log_scale`` saying what the count is (bytes sent, the
longest session) so a report can label the axis.
"""

from __future__ import annotations

from datetime import timedelta

import numpy as np
import pandas as pd

from ..fanout.detector import Windows
from ..findings import iso_utc


def moments(n, s1, s2) -> tuple[np.ndarray, np.ndarray]:
    """Mean and sample σ from counts, sums and sums of squares (σ 0 below two values)."""
    n = np.asarray(n, dtype=float)
    s1 = np.asarray(s1, dtype=float)
    s2 = np.asarray(s2, dtype=float)
    with np.errstate(invalid="ignore", divide="ignore"):
        mean = np.where(n > 0, s1 / np.maximum(n, 1), np.nan)
        var = np.where(n > 1, np.maximum(s2 - n * mean * mean, 0.0) / np.maximum(n - 1, 1), 0.0)
    return mean, np.sqrt(var)


def human_bytes(value: float) -> str:
    """``2.1 GB``, ``340 KB``: decimal units, as network tools and transfer dialogs show them."""
    value = float(value)
    for unit in ("B", "KB", "MB", "GB", "TB"):
        if abs(value) < 1000 or unit == "TB":
            return f"{value:.0f} {unit}" if unit == "B" else f"{value:.1f} {unit}"
        value /= 1000
    return f"{value:.1f} TB"  # pragma: no cover - the loop returns


def human_duration(seconds: float) -> str:
    """``20.3 h``, ``14 min``, ``3.2 s``."""
    seconds = float(seconds)
    if seconds >= 3600:
        return f"{seconds / 3600:.1f} h"
    if seconds >= 60:
        return f"{seconds / 60:.0f} min"
    return f"{seconds:.1f} s"


def window_text(start, end) -> str:
    """``between 2024-01-20 14:00 and 15:00 UTC`` (the date repeated only when it changes)."""
    start, end = pd.Timestamp(start), pd.Timestamp(end)
    if start.date() == (end - timedelta(microseconds=1)).date():
        return f"between {start:%Y-%m-%d %H:%M} and {end:%H:%M} UTC"
    return f"between {start:%Y-%m-%d %H:%M} and {end:%Y-%m-%d %H:%M} UTC"


def listing(items: list[str], limit: int = 5) -> str:
    """The first ``limit`` items joined, with an ellipsis when there are more."""
    return ", ".join(items[:limit]) + (" …" if len(items) > limit else "")


def series_evidence(w: Windows, bucket: str, entity: str, series: pd.DataFrame, flagged: list[int],
                    bound: float | None, label: str, log_scale: bool = False) -> dict:
    """The ``series`` plot family's evidence keys for one finding.

    ``series`` has ``b`` (bucket index) and ``n`` (the count drawn) for the entity's non-empty
    buckets over the baseline and detection windows; ``flagged`` the bucket indices over the bound.
    """
    rows = series.sort_values("b") if len(series) else series
    return {
        "entity": entity,
        "bucket": bucket,
        "baseline_start": iso_utc(w.to_time(w.baseline_start)),
        "baseline_end": iso_utc(w.to_time(w.baseline_end)),
        "bucket_start": iso_utc(w.to_time(min(flagged))) if flagged else iso_utc(w.to_time(w.detect_start)),
        "bucket_end": iso_utc(w.to_time(max(flagged) + 1)) if flagged else iso_utc(w.to_time(w.detect_end)),
        "buckets_over_bound": [iso_utc(w.to_time(b)) for b in sorted(set(flagged))],
        "bound": None if bound is None else float(bound),
        "series_label": label,
        "log_scale": log_scale,
        "series": [{"bucket": iso_utc(w.to_time(int(b))), "count": round(float(n), 3)}
                   for b, n in zip(rows["b"], rows["n"])] if len(rows) else [],
    }
