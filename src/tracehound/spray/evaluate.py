"""How well the spray hunt does on labelled tenants: per campaign and per tenant, by event id.

The simulator writes ``labels.csv`` (event_id, label, kind, success) next to each tenant's sign-ins;
here the hunt runs on those sign-ins and every reported event id is checked against the labels, so
the numbers are measured, not estimated. Sizes are parameters: tests run tiny tenants, the CLI
(``tracehound evaluate spray``) runs the issue's 5 × 2,000 users × 120 days.
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field
from pathlib import Path

import pandas as pd

from ..engine import Engine
from ..findings import Finding
from .hunt import hunt_signins

LOW_AND_SLOW = "low_and_slow_spray"
#: Labels kinds that are benign look-alikes; none may be reported as a low-and-slow campaign.
CONFOUNDER_KINDS = ("typo", "expired_password", "mfa_interrupt", "traveller", "new_device",
                    "service_account", "fast_spray", "brute_force")


@dataclass
class TenantScore:
    """One tenant × preset: per-campaign rows and tenant-level numbers."""

    tenant: str
    preset: str
    campaigns: pd.DataFrame
    summary: dict = field(default_factory=dict)


def score_findings(findings: list[Finding], labels: pd.DataFrame, *, tenant: str, preset: str,
                   seconds: float) -> TenantScore:
    """Compare findings with ground truth; ``labels`` has columns event_id, label, kind, success."""
    labels = labels.assign(success=labels.success.astype(str).str.lower().eq("true"))
    by_id = labels.set_index("event_id")
    attempts = labels[(labels.kind == LOW_AND_SLOW) & ~labels.success]
    planted_success = labels[(labels.kind == LOW_AND_SLOW) & labels.success]
    sprays = [f for f in findings if f.kind == "password_spray"]
    reported = [set(f.event_ids) for f in sprays]
    linked = set().union(*(set(f.success_event_ids or []) for f in sprays)) if sprays else set()
    rows = []
    for name, group in attempts.groupby("label"):
        truth = set(group.event_id)
        best, overlap = None, 0
        for i, ids in enumerate(reported):
            if len(ids & truth) > overlap:
                best, overlap = i, len(ids & truth)
        coverage = overlap / len(truth)
        purity = overlap / len(reported[best]) if best is not None else 0.0
        succ = set(planted_success[planted_success.label == name].event_id)
        rows.append({
            "tenant": tenant, "preset": preset, "campaign": name, "attempts": len(truth),
            "found": bool(coverage >= 0.8 and purity >= 0.9), "coverage": round(coverage, 3),
            "purity": round(purity, 3), "finding": sprays[best].id if best is not None else None,
            "successes_linked": f"{len(succ & linked)}/{len(succ)}",
        })
    all_reported = set().union(*reported) if reported else set()
    known = [e for e in all_reported if e in by_id.index]
    kinds = by_id.loc[known, "kind"] if known else pd.Series(dtype=str)
    true_pos = int((kinds == LOW_AND_SLOW).sum())
    attack_success = set(planted_success.event_id) | set(labels[(labels.kind != "benign") & labels.success &
                                                                 (labels.label != "benign")].event_id)
    confounders = {k: int((kinds == k).sum()) for k in CONFOUNDER_KINDS if int((kinds == k).sum())}
    summary = {
        "tenant": tenant, "preset": preset,
        "campaigns_found": f"{sum(r['found'] for r in rows)}/{len(rows)}",
        "event_precision": round(true_pos / len(all_reported), 4) if all_reported else None,
        "event_recall": round(true_pos / len(attempts), 4) if len(attempts) else None,
        "successes_linked": f"{len(set(planted_success.event_id) & linked)}/{len(planted_success)}",
        "benign_successes_flagged": len(linked - attack_success),
        "confounder_events_as_spray": confounders,
        "spray_findings": len(sprays),
        "other_findings": {k: sum(f.kind == k for f in findings) for k in ("fast_spray", "brute_force")},
        "seconds": round(seconds, 2),
    }
    return TenantScore(tenant, preset, pd.DataFrame(rows), summary)


def evaluate_tenant(paths: list[Path], labels_path: Path, engine: Engine, *, tenant: str,
                    preset: str = "default", read=None) -> TenantScore:
    """Read a tenant's sign-ins, hunt, and score the findings against its labels.

    ``read`` is the reader (``tracehound.readers.signins.read_signins`` by default); timing covers
    reading and hunting, as a user would experience it.
    """
    if read is None:
        from ..readers.signins import read_signins as read
    start = time.perf_counter()
    table, _ = read(paths, engine)
    findings, _, _ = hunt_signins(table, engine, preset=preset)
    seconds = time.perf_counter() - start
    labels = pd.read_csv(labels_path, dtype=str)
    return score_findings(findings, labels, tenant=tenant, preset=preset, seconds=seconds)


def simulate_and_evaluate(work_dir: Path, engine: Engine, *, tenants: int = 5, users: int = 2000,
                          days: int = 120, difficulties: tuple[str, ...] = ("standard", "hard"),
                          presets: tuple[str, ...] = ("default", "mstic"), first_seed: int = 1,
                          progress=None) -> list[TenantScore]:
    """Simulate ``tenants`` tenants (seeds from ``first_seed``, difficulties in turn) and score each
    preset on each. ``progress(message)`` is called before each step if given (the CLI's bar)."""
    from ..simulate.signins import simulate_signins

    scores = []
    for i in range(tenants):
        seed, difficulty = first_seed + i, difficulties[i % len(difficulties)]
        name = f"seed{seed}-{difficulty}"
        if progress:
            progress(f"simulating {name} ({users} users x {days} days)")
        sim = simulate_signins(Path(work_dir) / name, users=users, days=days, seed=seed,
                               difficulty=difficulty)
        for preset in presets:
            if progress:
                progress(f"hunting {name} with preset {preset}")
            scores.append(evaluate_tenant(sim.paths, sim.labels_path, engine, tenant=name, preset=preset))
    return scores


def markdown_tables(scores: list[TenantScore]) -> str:
    """The per-tenant and per-campaign tables as Markdown (for docs/spray.md and the README)."""
    summary = pd.DataFrame([s.summary for s in scores])
    campaigns = pd.concat([s.campaigns for s in scores], ignore_index=True) if scores else pd.DataFrame()
    return ("### Per tenant\n\n" + _md(summary) + "\n\n### Per campaign\n\n" + _md(campaigns) + "\n")


def _md(df: pd.DataFrame) -> str:
    if df.empty:
        return "(none)"
    cols = list(df.columns)
    lines = ["| " + " | ".join(cols) + " |", "|" + "---|" * len(cols)]
    for row in df.itertuples(index=False):
        lines.append("| " + " | ".join("" if v is None else str(v) for v in row) + " |")
    return "\n".join(lines)
