"""Plots for the HTML report, drawn from a finding's evidence and embedded as PNG data URIs.

Each function takes a finding dict and returns ``(caption, data_uri)`` pairs for the plots its evidence
supports; evidence without the needed numbers yields no plot rather than an empty one.
"""

from __future__ import annotations

import base64
import io

import matplotlib

matplotlib.use("Agg")
# Labels are log text: "$...$" in a URL must be drawn as typed, never parsed as mathtext.
matplotlib.rcParams["text.parse_math"] = False
import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402
import pandas as pd  # noqa: E402

from .. import registry  # noqa: E402
from ..durations import seconds  # noqa: E402

Plot = tuple[str, str]
#: Per-field value plots per spray finding (its anomalous fields come first in the evidence).
MAX_FIELD_PLOTS = 4


def _png(fig) -> str:
    buf = io.BytesIO()
    fig.savefig(buf, format="png", dpi=90, bbox_inches="tight")
    plt.close(fig)
    return "data:image/png;base64," + base64.b64encode(buf.getvalue()).decode("ascii")


def hinton(matrix: np.ndarray, row_labels: list[str], col_labels: list[str], title: str) -> str:
    """A Hinton diagram: square area ∝ value (values in [0, 1])."""
    matrix = np.asarray(matrix, dtype=float)
    fig, ax = plt.subplots(figsize=(max(3.0, 0.5 * len(col_labels) + 2), max(2.0, 0.35 * len(row_labels) + 1)))
    ax.set_facecolor("#f4f4f4")
    for (i, j), v in np.ndenumerate(matrix):
        side = np.sqrt(max(0.0, min(1.0, v))) * 0.9
        ax.add_patch(plt.Rectangle((j - side / 2, i - side / 2), side, side, color="#1f4e79"))
    ax.set_xlim(-0.5, matrix.shape[1] - 0.5)
    ax.set_ylim(matrix.shape[0] - 0.5, -0.5)
    ax.set_xticks(range(len(col_labels)), col_labels, rotation=45, ha="right", fontsize=8)
    ax.set_yticks(range(len(row_labels)), row_labels, fontsize=8)
    ax.set_title(title, fontsize=10)
    return _png(fig)


def _bars(labels: list[str], series: dict[str, list[float]], title: str, *, red: set[str] = frozenset(),
          horizontal: bool = False, line: float | None = None) -> str:
    fig, ax = plt.subplots(figsize=(7, 2.8 if not horizontal else max(2.0, 0.3 * len(labels) + 1)))
    x = np.arange(len(labels))
    width = 0.8 / max(1, len(series))
    for k, (name, values) in enumerate(series.items()):
        colors = ["#c0392b" if lab in red else f"C{k}" for lab in labels]
        if horizontal:
            ax.barh(x + k * width, values, height=width, label=name, color=colors)
        else:
            ax.bar(x + k * width, values, width=width, label=name, color=colors)
    if line is not None:
        (ax.axvline if horizontal else ax.axhline)(line, color="#c0392b", linestyle="--", label="bound")
    step = max(1, len(labels) // 20)
    ticks, names = x[::step] + width * (len(series) - 1) / 2, labels[::step]
    if horizontal:
        ax.set_yticks(ticks, names, fontsize=7)
        ax.invert_yaxis()
    else:
        ax.set_xticks(ticks, names, rotation=45, ha="right", fontsize=7)
    if len(series) > 1 or line is not None:
        ax.legend(fontsize=7)
    ax.set_title(title, fontsize=10)
    return _png(fig)


def _normalise(counts: dict) -> dict[str, float]:
    total = float(sum(counts.values())) or 1.0
    return {str(k): v / total for k, v in counts.items()}


def spray_plots(f: dict) -> list[Plot]:
    ev, plots = f.get("evidence", {}), []
    mix = ev.get("mixture", {})
    if mix.get("weights"):
        w = np.asarray(mix["weights"], dtype=float)[None, :]
        plots.append(("Cluster weights of the mixture (this campaign's cluster marked in the title)",
                      hinton(w / max(w.max(), 1e-12), ["weight"], [f"c{i}" for i in range(w.shape[1])],
                             f"cluster weights (campaign = c{mix.get('cluster', '?')})")))
    if mix.get("field_probabilities") and mix.get("fields"):
        p = np.asarray(mix["field_probabilities"], dtype=float)
        plots.append(("P(field anomalous | cluster): fields × clusters",
                      hinton(p.T, list(mix["fields"]), [f"c{i}" for i in range(p.shape[0])],
                             "fields × clusters")))
    per_field = ev.get("cluster_field_probabilities")
    if per_field:
        labels = list(per_field)
        red = set(ev.get("anomalous_fields", []))
        plots.append(("P(field is anomalous) in this campaign's cluster; its consistently anomalous fields in red",
                      _bars(labels, {"P(anomalous)": [float(per_field[k]) for k in labels]},
                            "fingerprint: P(field anomalous | campaign)", red=red)))
    for key, title in (("daily_attempts", "Attempts per day: campaign vs baseline failures (share)"),
                       ("hour_of_day", "Hour of day (UTC): campaign vs baseline (share)"),
                       ("day_of_week", "Day of week: campaign vs baseline (share)")):
        block = ev.get(key)
        if block and block.get("campaign"):
            camp, base = _normalise(block["campaign"]), _normalise(block.get("baseline", {}))
            labels = sorted(set(camp) | set(base), key=_sort_key)
            series = {"campaign": [camp.get(k, 0.0) for k in labels]}
            if base:
                series["baseline"] = [base.get(k, 0.0) for k in labels]
            plots.append((title, _bars(labels, series, title)))
    fields = list((ev.get("field_value_probabilities") or {}).items())[:MAX_FIELD_PLOTS]
    for field, probs in fields:
        if probs:
            labels = list(probs)[:25]
            red = {lab for lab in labels if lab in set(ev.get("anomalous_values", {}).get(field, []))}
            plots.append((f"P({field}) among successful sign-ins; anomalous values in red",
                          _bars(labels, {"probability": [probs[k] for k in labels]}, f"P({field})",
                                red=red, horizontal=True)))
    return plots


def fanout_plots(f: dict) -> list[Plot]:
    """The entity's distinct-target count per bucket over baseline + detection, against its bound."""
    ev = f.get("evidence", {})
    series = ev.get("series")
    if not series:
        return []
    width = pd.Timedelta(seconds=seconds(ev.get("bucket", "1h")))
    start = pd.Timestamp(ev.get("baseline_start") or series[0]["bucket"])
    end = pd.Timestamp(ev.get("bucket_end") or series[-1]["bucket"])
    index = pd.date_range(start, end - width, freq=width) if end > start else pd.DatetimeIndex([])
    counts = pd.Series({pd.Timestamp(p["bucket"]): p["count"] for p in series}, dtype=float)
    counts = counts.reindex(index.union(counts.index), fill_value=0.0).sort_index()
    flagged = {pd.Timestamp(b) for b in ev.get("buckets_over_bound", [])}
    fig, ax = plt.subplots(figsize=(8, 2.8))
    ax.step(counts.index, counts.to_numpy(), where="post", color="#1f4e79", linewidth=1,
            label=f"distinct targets per {ev.get('bucket', 'bucket')}")
    hits = counts[counts.index.isin(flagged)]
    ax.scatter(hits.index, hits.to_numpy(), color="#c0392b", zorder=3, label="over the bound")
    if ev.get("bound") is not None:
        ax.axhline(ev["bound"], color="#c0392b", linestyle="--", linewidth=1, label=f"bound {ev['bound']}")
    if ev.get("baseline_end"):
        ax.axvline(pd.Timestamp(ev["baseline_end"]), color="#777", linestyle=":", label="baseline ends")
    ax.legend(fontsize=7)
    ax.set_title(f"{ev.get('entity', '')}: distinct targets per bucket", fontsize=10)
    fig.autofmt_xdate()
    return [("Distinct targets per bucket over the baseline and detection windows, against the bound",
             _png(fig))]


def web_plots(f: dict) -> list[Plot]:
    rare = (f.get("evidence", {}).get("rare_transitions") or [])[:20]
    if not rare:
        return []
    labels = [f"{t.get('from', '?')} → {t.get('to', '?')}"[:70] for t in rare]
    bits = [float(t.get("surprisal_bits", 0.0)) for t in rare]
    red = {lab for lab, t in zip(labels, rare) if t.get("risk") == "high"}
    return [("The session's path, transition by transition: surprisal in bits (−log2 P) under the model "
             "of all clients; HIGH-risk transitions in red",
             _bars(labels, {"surprisal (bits)": bits}, "session path: surprisal per transition",
                   red=red, horizontal=True))]


#: Plot family (a kind's ``plot`` in the registry) → the function that draws it.
PLOTS = {"spray": spray_plots, "series": fanout_plots, "path": web_plots}


def plots_for(f: dict) -> list[Plot]:
    """All plots a finding's evidence supports, by its kind's plot family in the registry."""
    declared = registry.kind(f.get("kind", ""))
    draw = PLOTS.get(declared.plot) if declared and declared.plot else None
    return draw(f) if draw else []


_WEEKDAYS = {day: i for i, day in enumerate(("Mon", "Tue", "Wed", "Thu", "Fri", "Sat", "Sun"))}


def _sort_key(label: str):
    """Hours numerically, weekdays Monday first, anything else (dates) as text."""
    if label.isdigit():
        return (0, int(label), "")
    return (1, _WEEKDAYS[label], "") if label in _WEEKDAYS else (2, 0, label)
