"""Plots for the HTML report, drawn from a finding's evidence and embedded as PNG data URIs.

Each function takes a finding dict and returns ``(caption, data_uri)`` pairs for the plots its evidence
supports; evidence without the needed numbers yields no plot rather than an empty one. What a chart
draws is computed by a function of its own (:func:`fanout_chart`, :func:`field_chart`), so a test can
hold the title's number to the data drawn. The spray model (the mixture) is the same for every
campaign of a run and is drawn once (:func:`model_plots`).
"""

from __future__ import annotations

import base64
import io

import matplotlib

matplotlib.use("Agg")
# Labels are log text: "$...$" in a URL must be drawn as typed, never parsed as mathtext.
matplotlib.rcParams["text.parse_math"] = False
import matplotlib.pyplot as plt  # noqa: E402
from matplotlib.ticker import FuncFormatter, NullFormatter  # noqa: E402
import numpy as np  # noqa: E402
import pandas as pd  # noqa: E402

from .. import registry  # noqa: E402
from ..durations import seconds  # noqa: E402
from .safety import one_line  # noqa: E402

Plot = tuple[str, str]
#: Per-field value plots per spray finding (its anomalous fields come first in the evidence).
MAX_FIELD_PLOTS = 4
#: Values per field chart (the campaign's anomalous ones always among them).
MAX_FIELD_VALUES = 25
#: The one red of every chart: anomalous values, buckets over the bound, HIGH-risk transitions.
RED = "#c0392b"


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
          horizontal: bool = False, line: float | None = None, log: bool = False) -> str:
    """Bars, with the labels in ``red`` drawn red (bar and tick label); ``log`` puts the values on a
    log axis, so a probability of 1e-6 is a bar you can see next to one of 0.3."""
    fig, ax = plt.subplots(figsize=(7, 2.8 if not horizontal else max(2.0, 0.22 * len(labels) + 1)))
    x = np.arange(len(labels))
    width = 0.8 / max(1, len(series))
    for k, (name, values) in enumerate(series.items()):
        colors = [RED if lab in red else f"C{k}" for lab in labels]
        if horizontal:
            ax.barh(x + k * width, values, height=width, label=name, color=colors)
        else:
            ax.bar(x + k * width, values, width=width, label=name, color=colors)
    if log:
        # mathtext is off (labels are log text), so log ticks are written as plain numbers
        axis = ax.xaxis if horizontal else ax.yaxis
        (ax.set_xscale if horizontal else ax.set_yscale)("log")
        axis.set_major_formatter(FuncFormatter(lambda v, _: f"{v:g}"))
        axis.set_minor_formatter(NullFormatter())
        low = min((v for values in series.values() for v in values if v > 0), default=1.0)
        (ax.set_xlim if horizontal else ax.set_ylim)(low / 5, None)
    if line is not None:
        (ax.axvline if horizontal else ax.axhline)(line, color=RED, linestyle="--", label="bound")
    step = max(1, len(labels) // 20)
    ticks, names = x[::step] + width * (len(series) - 1) / 2, [one_line(lab)[:60] for lab in labels[::step]]
    if horizontal:
        ax.set_yticks(ticks, names, fontsize=7)
        ax.invert_yaxis()
    else:
        ax.set_xticks(ticks, names, rotation=45, ha="right", fontsize=7)
    for tick, lab in zip(ax.get_yticklabels() if horizontal else ax.get_xticklabels(), labels[::step]):
        if lab in red:
            tick.set_color(RED)
    if len(series) > 1 or line is not None:
        ax.legend(fontsize=7)
    ax.set_title(one_line(title), fontsize=10)
    return _png(fig)


def _normalise(counts: dict) -> dict[str, float]:
    total = float(sum(counts.values())) or 1.0
    return {str(k): v / total for k, v in counts.items()}


def model_plots(f: dict, campaigns: dict[int, list[str]] | None = None) -> list[Plot]:
    """The whole spray model — cluster weights and P(field anomalous | cluster) — drawn once per run
    from any spray finding's evidence (every finding of one run carries the same model);
    ``campaigns`` maps a cluster to the findings it holds, for the title."""
    mix = (f.get("evidence") or {}).get("mixture") or {}
    plots = []
    named = ", ".join(f"c{c} = {' '.join(ids)}" for c, ids in sorted((campaigns or {}).items()))
    if mix.get("weights"):
        w = np.asarray(mix["weights"], dtype=float)[None, :]
        plots.append(("Cluster weights of the mixture" + (f" (campaigns: {named})" if named else ""),
                      hinton(w / max(w.max(), 1e-12), ["weight"], [f"c{i}" for i in range(w.shape[1])],
                             "cluster weights")))
    if mix.get("field_probabilities") and mix.get("fields"):
        p = np.asarray(mix["field_probabilities"], dtype=float)
        plots.append(("P(field anomalous | cluster): fields × clusters",
                      hinton(p.T, list(mix["fields"]), [f"c{i}" for i in range(p.shape[0])],
                             "fields × clusters")))
    return plots


def field_chart(ev: dict, field: str) -> tuple[list[str], list[float], set[str]]:
    """What a field chart draws: values (the campaign's own among them), their probability among
    successful sign-ins, and the campaign's anomalous values (red)."""
    probs = (ev.get("field_value_probabilities") or {}).get(field) or {}
    anomalous = set((ev.get("anomalous_values") or {}).get(field) or [])
    own = [v for v in probs if v in anomalous]
    labels = list(dict.fromkeys([*own, *probs]))[:MAX_FIELD_VALUES]
    labels.sort(key=lambda v: -float(probs[v]))
    return labels, [max(float(probs[v]), 1e-12) for v in labels], {v for v in labels if v in anomalous}


def spray_plots(f: dict) -> list[Plot]:
    """A campaign's own charts: its fingerprint, its rhythm against the tenant's, its field values."""
    ev, plots = f.get("evidence", {}), []
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
    for field in list(ev.get("field_value_probabilities") or {})[:MAX_FIELD_PLOTS]:
        labels, probs, red = field_chart(ev, field)
        if labels:
            plots.append((f"P({field}) among successful sign-ins (log scale); the campaign's anomalous "
                          "values in red",
                          _bars(labels, {"probability": probs}, f"P({field})", red=red, horizontal=True,
                                log=True)))
    return plots


def fanout_chart(f: dict) -> tuple[pd.Series, list[dict]]:
    """What a fan-out chart draws: the entity's count per aligned bucket over baseline and
    detection (zeros filled in), and the buckets over the bound — aligned or half-shifted — each
    with its start, end and count, so the bucket the title counts is drawn as it was counted."""
    ev = f.get("evidence", {})
    series = ev.get("series") or []
    width = pd.Timedelta(seconds=seconds(ev.get("bucket", "1h")))
    counts = pd.Series({pd.Timestamp(p["bucket"]): p["count"] for p in series}, dtype=float)
    if series:
        start = pd.Timestamp(ev.get("baseline_start") or series[0]["bucket"])
        end = pd.Timestamp(ev.get("bucket_end") or series[-1]["bucket"])
        index = pd.date_range(start, end - width, freq=width) if end > start else pd.DatetimeIndex([])
        counts = counts.reindex(index.union(counts.index), fill_value=0.0).sort_index()
    flagged = [{"start": pd.Timestamp(b["start"]), "end": pd.Timestamp(b["end"]), "count": int(b["count"])}
               for b in ev.get("flagged_buckets") or []]
    if not flagged:  # a finding written before flagged_buckets: the aligned counts of its buckets
        flagged = [{"start": pd.Timestamp(b), "end": pd.Timestamp(b) + width,
                    "count": int(counts.get(pd.Timestamp(b), 0))} for b in ev.get("buckets_over_bound", [])]
    return counts, flagged


def fanout_plots(f: dict) -> list[Plot]:
    """The entity's distinct-target count per bucket over baseline + detection, against its bound;
    the buckets over the bound in red, each over the span it covers and at the count it had."""
    ev = f.get("evidence", {})
    counts, flagged = fanout_chart(f)
    if counts.empty and not flagged:
        return []
    # A hunt that counts something else per bucket (bytes out, session hours) names it in its evidence.
    what = one_line(ev.get("series_label") or "distinct targets")
    fig, ax = plt.subplots(figsize=(8, 2.8))
    if not counts.empty:
        ax.step(counts.index, counts.to_numpy(), where="post", color="#1f4e79", linewidth=1,
                label=f"{what} per {ev.get('bucket', 'bucket')}")
    for i, b in enumerate(flagged):
        ax.fill_between([b["start"], b["end"]], 0, b["count"], step="post", color=RED, alpha=0.85,
                        label="over the bound" if i == 0 else None)
    if ev.get("bound") is not None:
        ax.axhline(ev["bound"], color=RED, linestyle="--", linewidth=1, label=f"bound {ev['bound']}")
    if ev.get("baseline_end"):
        ax.axvline(pd.Timestamp(ev["baseline_end"]), color="#777", linestyle=":", label="baseline ends")
    if ev.get("log_scale"):
        ax.set_yscale("symlog", linthresh=1)
    ax.legend(fontsize=7)
    peak = max((b["count"] for b in flagged), default=counts.max() if not counts.empty else 0)
    peak = f"{peak:g}" if isinstance(peak, float) else str(peak)
    ax.set_title(f"{one_line(ev.get('entity', ''))}: up to {peak} {what} in one {ev.get('bucket', 'bucket')}",
                 fontsize=10)
    fig.autofmt_xdate()
    return [(f"{what[:1].upper()}{what[1:]} per bucket over the baseline and detection windows, against the "
             "bound; the buckets over the bound in red", _png(fig))]


def web_plots(f: dict) -> list[Plot]:
    rare = (f.get("evidence", {}).get("rare_transitions") or [])[:20]
    if not rare:
        return []
    labels = [f"{t.get('from', '?')} → {t.get('to', '?')}"[:70] for t in rare]
    bits = [float(t.get("surprisal_bits", 0.0)) for t in rare]
    red = {lab for lab, t in zip(labels, rare) if t.get("risk") == "high"}
    return [("The client's worst session, transition by transition: surprisal in bits (−log2 P) under "
             "the model of all clients; HIGH-risk transitions in red",
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
