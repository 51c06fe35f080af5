"""How well the spray hunt does on labelled tenants: per campaign and per tenant, by event id.

The simulator writes ``labels.csv`` (event_id, label, kind, success) next to each tenant's sign-ins;
here the hunt runs on those sign-ins and every reported event id is checked against the labels, so
the numbers are measured, not estimated. Sizes are parameters: tests run tiny tenants, the CLI
(``tracehound evaluate spray``) runs the issue's 5 × 2,000 users × 120 days.

:func:`real_and_evaluate` does the same with real M365 spray runs (unified-audit-log exports) replayed
low and slow inside a benign simulated tenant; see its docstring for why and how they are replayed.
"""

from __future__ import annotations

import csv
import time
import uuid
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np
import orjson
import pandas as pd

from ..engine import Engine
from ..errors import ConfigError, InputFormatError
from ..findings import Finding
from ..spray import SprayHunter
from ..spray.hunter import DEFAULT_FAILURE_CODES
from ..spray.kinds import BRUTE_FORCE, FAST_SPRAY, PASSWORD_SPRAY, STALE_CREDENTIALS

if TYPE_CHECKING:
    from ..simulate.writer import ExtraRecord

LOW_AND_SLOW = "low_and_slow_spray"
#: Label kinds (the simulator's ground truth, not finding kinds) that are benign look-alikes or other
#: attacks; none may be reported as a low-and-slow campaign.
CONFOUNDER_KINDS = ("typo", "expired_password", "mfa_interrupt", "traveller", "new_device",
                    "service_account", "stale_credential", "fast_spray", "brute_force")
#: Label kind → the finding kind a burst must come out as, one finding per labelled burst.
BURST_KINDS = {"fast_spray": FAST_SPRAY, "brute_force": BRUTE_FORCE}
#: Label kinds of services failing on a clock with a retired password: ``stale_credentials``, never an attack.
STALE_KINDS = ("service_account", "stale_credential")
#: Label kinds whose successes are an attacker's (linking them is right).
ATTACK_KINDS = ("low_and_slow_spray", "fast_spray", "brute_force", "external")
#: Label kind of injected real runs that are *not* password sprays (e.g. an MFA sweep); the simulator's
#: generic kind for external records. A per-campaign row says whether any was reported as a spray.
NEGATIVE = "external"


@dataclass
class TenantScore:
    """One tenant × preset: per-campaign rows and tenant-level numbers."""

    tenant: str
    preset: str
    campaigns: pd.DataFrame
    summary: dict = field(default_factory=dict)


def score_findings(findings: list[Finding], labels: pd.DataFrame, *, tenant: str, preset: str,
                   seconds: float, failure_codes=DEFAULT_FAILURE_CODES) -> TenantScore:
    """Compare findings with ground truth; ``labels`` has columns event_id, label, kind, success.

    One row per labelled low-and-slow campaign (its failed attempts are the truth; its successes are
    what should be linked) and one per :data:`NEGATIVE` label (a real run that is not a spray: for it
    ``found`` means *reported as password_spray*, which is wrong). Per campaign: coverage and purity of
    the best-overlapping ``password_spray`` finding; event precision over every finding that holds any
    of its attempts; event recall over all ``password_spray`` findings; benign successes linked by the
    findings that hold its attempts.
    """
    labels = labels.assign(success=labels.success.astype(str).str.lower().eq("true"))
    by_id = labels.set_index("event_id")
    attempts = labels[(labels.kind == LOW_AND_SLOW) & ~labels.success]
    planted_success = labels[(labels.kind == LOW_AND_SLOW) & labels.success]
    sprays = [f for f in findings if f.kind == PASSWORD_SPRAY]
    reported = [set(f.event_ids) for f in sprays]
    linked_by = [set(f.success_event_ids or []) for f in sprays]
    linked = set().union(*linked_by) if sprays else set()
    all_reported = set().union(*reported) if reported else set()
    attack_success = set(labels[labels.kind.isin(ATTACK_KINDS) & labels.success].event_id)
    rows = []
    for expected, group_rows in ((PASSWORD_SPRAY, attempts), ("nothing", labels[labels.kind == NEGATIVE])):
        for name, group in group_rows.groupby("label"):
            truth = set(group.event_id)
            best, overlap = None, 0
            for i, ids in enumerate(reported):
                if len(ids & truth) > overlap:
                    best, overlap = i, len(ids & truth)
            touching = [i for i, ids in enumerate(reported) if ids & truth]
            held = set().union(*(reported[i] for i in touching)) if touching else set()
            coverage = overlap / len(truth)
            purity = overlap / len(reported[best]) if best is not None else 0.0
            succ = set(planted_success[planted_success.label == name].event_id) if expected != "nothing" \
                else set(group[group.success].event_id)
            flagged = set().union(*(linked_by[i] for i in touching)) - attack_success if touching else set()
            positive = expected == PASSWORD_SPRAY
            rows.append({
                "tenant": tenant, "preset": preset, "campaign": name, "expected": expected,
                "attempts": len(truth),
                "found": bool(coverage >= 0.8 and purity >= 0.9) if positive else bool(overlap),
                "coverage": round(coverage, 3), "purity": round(purity, 3),
                "event_precision": round(len(held & truth) / len(held), 4) if positive and held else None,
                "event_recall": round(len(all_reported & truth) / len(truth), 4) if positive else None,
                "successes_linked": f"{len(succ & linked)}/{len(succ)}",
                "benign_successes_flagged": len(flagged),
                "finding": sprays[best].id if best is not None else None,
                "seconds": round(seconds, 2),
            })
    known = [e for e in all_reported if e in by_id.index]
    kinds = by_id.loc[known, "kind"] if known else pd.Series(dtype=str)
    true_pos = int((kinds == LOW_AND_SLOW).sum())
    confounders = {k: int((kinds == k).sum()) for k in (*CONFOUNDER_KINDS, NEGATIVE) if int((kinds == k).sum())}
    positives = [r for r in rows if r["expected"] == PASSWORD_SPRAY]
    summary = {
        "tenant": tenant, "preset": preset,
        "campaigns_found": f"{sum(r['found'] for r in positives)}/{len(positives)}",
        "event_precision": round(true_pos / len(all_reported), 4) if all_reported else None,
        "event_recall": round(true_pos / len(attempts), 4) if len(attempts) else None,
        "successes_linked": f"{len(set(planted_success.event_id) & linked)}/{len(planted_success)}",
        "benign_successes_flagged": len(linked - attack_success),
        "confounder_events_as_spray": confounders,
        "spray_findings": len(sprays),
        "other_findings": {k: sum(f.kind == k for f in findings) for k in (FAST_SPRAY, BRUTE_FORCE,
                                                                             STALE_CREDENTIALS)},
        "seconds": round(seconds, 2),
    }
    bursts = burst_rows(findings, labels, failure_codes=failure_codes)
    summary["bursts_as_one_finding"] = f"{sum(r['found'] for r in bursts if r['expected'] != STALE_CREDENTIALS)}/" \
                                       f"{sum(r['expected'] != STALE_CREDENTIALS for r in bursts)}"
    summary["stale_found"] = f"{sum(r['found'] for r in bursts if r['expected'] == STALE_CREDENTIALS)}/" \
                             f"{sum(r['expected'] == STALE_CREDENTIALS for r in bursts)}"
    summary["stale_as_attack"] = sum(r["in_attack_findings"] for r in bursts if r["expected"] == STALE_CREDENTIALS)
    summary["seconds"] = summary.pop("seconds")
    for r in bursts:
        r.update(tenant=tenant, preset=preset, seconds=round(seconds, 2))
    columns = ["tenant", "preset", "campaign", "expected", "attempts", "found", "coverage", "purity",
               "event_precision", "event_recall", "successes_linked", "benign_successes_flagged", "finding",
               "findings", "in_attack_findings", "seconds"]
    frame = pd.DataFrame(rows + bursts, columns=columns)
    return TenantScore(tenant, preset, frame, summary)


def burst_rows(findings: list[Finding], labels: pd.DataFrame, *, failure_codes=DEFAULT_FAILURE_CODES) -> list[dict]:
    """One row per labelled burst (fast spray, brute force) and per stale service: is it exactly one
    finding of its kind (≥ 80 % of its password-type failures at ≥ 90 % purity, and no other finding
    holding any of its events), and how many of its events other findings hold.

    A burst's truth is its failures with a password-type result (``labels`` needs a ``result`` column
    for that; without one every failure counts): its lockout answers are no password guess and no hunt
    sees them. A stale service's truth is every failure it made."""
    codes = set(int(c) for c in failure_codes)
    failed = labels[~labels.success]
    if "result" in labels.columns:
        typed = failed[pd.to_numeric(failed.result, errors="coerce").isin(codes)]
    else:
        typed = failed
    attack = [f for f in findings if f.kind != STALE_CREDENTIALS]
    out = []
    groups = [(name, BURST_KINDS[kind], g) for (name, kind), g in typed.groupby(["label", "kind"])
              if kind in BURST_KINDS]
    groups += [(kind if name == "benign" else name, STALE_CREDENTIALS, g)
               for (name, kind), g in failed.groupby(["label", "kind"]) if kind in STALE_KINDS]
    for name, expected, group in sorted(groups, key=lambda x: x[0]):
        truth = set(group.event_id)
        touching = [f for f in findings if truth & set(f.event_ids)]
        best = max(touching, key=lambda f: (len(truth & set(f.event_ids)), f.id), default=None)
        overlap = len(truth & set(best.event_ids)) if best else 0
        coverage = overlap / len(truth)
        purity = overlap / len(best.event_ids) if best else 0.0
        in_attacks = len(truth & set().union(*(set(f.event_ids) for f in attack))) if attack else 0
        ok = best is not None and best.kind == expected and coverage >= 0.8 and purity >= 0.9
        if expected == STALE_CREDENTIALS:
            ok = ok and in_attacks == 0
        else:
            ok = ok and len(touching) == 1
        out.append({"campaign": name, "expected": expected, "attempts": len(truth), "found": bool(ok),
                    "coverage": round(coverage, 3), "purity": round(purity, 3), "event_precision": None,
                    "event_recall": None, "successes_linked": "", "benign_successes_flagged": 0,
                    "finding": best.id if best else None, "findings": len(touching),
                    "in_attack_findings": in_attacks})
    return out


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
    hunter = SprayHunter.from_preset(preset).fit(table, engine)
    findings = hunter.detect(hunter.score(table))
    seconds = time.perf_counter() - start
    labels = pd.read_csv(labels_path, dtype=str)
    failed = engine.to_pandas(table.filter(~table.success.fill_null(False)).select("event_id", "result"))
    labels = labels.merge(failed.astype({"event_id": str}), on="event_id", how="left")
    return score_findings(findings, labels, tenant=tenant, preset=preset, seconds=seconds,
                          failure_codes=hunter.failure_codes)


def simulate_and_evaluate(work_dir: Path, engine: Engine, *, tenants: int = 5, users: int = 2000,
                          days: int = 120, difficulties: tuple[str, ...] = ("standard", "hard"),
                          presets: tuple[str, ...] = ("default", "mstic"), first_seed: int = 1,
                          export: str | None = None, progress=None) -> list[TenantScore]:
    """Simulate ``tenants`` tenants (seeds from ``first_seed``, difficulties in turn) and score each
    preset on each. ``progress(message)`` is called before each step if given (the CLI's bar).

    ``export`` (a :func:`tracehound.simulate.formats.write_format` format, e.g. ``"okta"``): each
    tenant's SigninLogs are rewritten in that format (same ids) and the hunt reads that file through
    the ordinary reader, scored against the tenant's own labels — how a hunt tuned on Entra exports
    fares on a provider that records sign-ins differently (Okta: no client app, the app as the
    target ``AppInstance``, an ASN, failure reasons instead of codes). Events the format has no
    counterpart for are not written; their labels match nothing and change no number.
    """
    from ..simulate.signins import simulate_signins

    scores = []
    for i in range(tenants):
        seed, difficulty = first_seed + i, difficulties[i % len(difficulties)]
        name = f"{export}-seed{seed}-{difficulty}" if export else f"seed{seed}-{difficulty}"
        if progress:
            progress(f"simulating {name} ({users} users x {days} days)")
        folder = Path(work_dir) / name
        sim = simulate_signins(folder / "signinlogs" if export else folder, users=users, days=days, seed=seed,
                               difficulty=difficulty)
        paths = sim.paths
        if export:
            from ..simulate.formats import write_format

            if progress:
                progress(f"writing {name} as {export}")
            paths = write_format(sim.paths, folder / export, export)
        for preset in presets:
            if progress:
                progress(f"hunting {name} with preset {preset}")
            scores.append(evaluate_tenant(paths, sim.labels_path, engine, tenant=name, preset=preset))
    return scores


#: ATT&CK technique of password spraying: files named ``t1110.003_*`` hold spray runs, others negatives.
SPRAY_TECHNIQUE = "t1110.003"
_SIGNIN_OPERATIONS = ("UserLoggedIn", "UserLoginFailed")


def read_m365_runs(folder: Path) -> dict[str, list[dict]]:
    """The unified-audit-log sign-in records of each run file in ``folder``, by file name.

    A run file is JSON Lines / a JSON array of UAL records (``*.json``, ``*.jsonl``) or an audit-search
    CSV whose ``AuditData`` column holds them (``*.csv``), as in ``../shared/datasets/m365-spray``.
    Records that are not sign-ins are skipped, and a record repeated under the same ``Id`` is kept once
    (first seen), as the hunt de-duplicates by event id (``t1110.003_o365spray_reporting.json`` holds
    seven records twice, the copies with mangled user names). These are evaluation inputs, so a
    file that cannot be read stops with an :class:`InputFormatError` naming it rather than being
    silently set aside (which would change what is evaluated).
    """
    folder = Path(folder)
    if not folder.is_dir():
        raise InputFormatError(f"{folder} is not a folder of M365 spray runs")
    runs = {}
    for path in sorted(folder.iterdir()):
        if path.suffix.lower() not in (".json", ".jsonl", ".csv") or not path.is_file():
            continue
        unique = {}
        for r in _ual_records(path):
            if r.get("Operation") in _SIGNIN_OPERATIONS:
                unique.setdefault(str(r.get("Id", "")), r)
        records = list(unique.values())
        if not records:
            raise InputFormatError(f"{path}: no UserLoggedIn / UserLoginFailed records")
        runs[path.name] = records
    if not runs:
        raise InputFormatError(f"{folder}: no *.json, *.jsonl or *.csv run files")
    return runs


def _ual_records(path: Path) -> list[dict]:
    try:
        if path.suffix.lower() == ".csv":
            with path.open(newline="", encoding="utf-8-sig") as fh:
                reader = csv.DictReader(fh)
                if "AuditData" not in (reader.fieldnames or []):
                    raise InputFormatError(f"{path}: an audit-search CSV needs an AuditData column")
                records = [orjson.loads(row["AuditData"]) for row in reader if row.get("AuditData")]
        else:
            text = path.read_bytes().strip()
            records = orjson.loads(text) if text.startswith(b"[") else \
                [orjson.loads(line) for line in text.splitlines() if line.strip()]
    except (orjson.JSONDecodeError, csv.Error, UnicodeDecodeError) as exc:
        raise InputFormatError(f"{path}: not a UAL export ({exc})") from None
    if not all(isinstance(r, dict) for r in records):
        raise InputFormatError(f"{path}: every record must be a JSON object")
    return records


def replay_runs(runs: dict[str, list[dict]], tenant_users: list[str], *, days: int, replays: int = 10,
                weeks: float = 2.5, seed: int = 0) -> list[ExtraRecord]:
    """Real runs replayed low and slow: ``replays`` copies of each run spread over ``weeks`` weeks.

    Why replay: one real run is 8–14 sign-ins against ~9 accounts in a few seconds, too small to be a
    campaign on its own (a low-and-slow campaign is, by the hunt's rules, ≥ 20 attempts on ≥ 10 accounts
    over ≥ 14 days). A low-and-slow tool *is* the same run repeated: same tool, same fingerprint, a few
    attempts a day. So copy k of n of a run is re-timed into the k-th of n equal slices of the run's
    window (:func:`~tracehound.simulate.external.spread_records`: same order, jittered even spacing) and
    keeps every record's own IP, user agent, app, device and result code. Each copy of a spray
    (``t1110.003_*``) maps its accounts onto freshly drawn tenant users (a spray moves on to new
    accounts); every copy of a negative run maps onto the *same* accounts (an MFA sweep keeps checking its
    one victim). Copies get new deterministic ``Id``s (UUID5 of file, original id and copy). Windows of
    the runs (sorted by file name) are staggered evenly over the tenant's period and may overlap.
    Labels: the file name; kind ``low_and_slow_spray`` for sprays, :data:`NEGATIVE` for the others.
    """
    from ..simulate.signins import m365_to_signinlogs, spread_records

    window = weeks * 7.0
    if replays < 1 or window <= 0:
        raise ConfigError(f"replays and weeks must be positive (got {replays}, {weeks})")
    if days < window + 4:
        raise ConfigError(f"{days} days is too short for a {weeks}-week window (need {window + 4:.0f})")
    names = sorted(runs)
    step = (days - window - 4) / max(1, len(names) - 1)
    rng = np.random.default_rng([seed, 23])
    extras = []
    for k, name in enumerate(names):
        spray = name.lower().startswith(SPRAY_TECHNIQUE)
        converted = [m365_to_signinlogs(r) for r in runs[name]]
        n_users = len({str(r.get("UserPrincipalName", "")).lower() for r in converted})
        victims = None if spray else [tenant_users[int(i)] for i in
                                      rng.choice(len(tenant_users), n_users, replace=False)]
        first = 2.0 + k * step
        for copy in range(replays):
            recs = [dict(r, Id=str(uuid.uuid5(uuid.NAMESPACE_URL, f"tracehound-replay/{name}/{r['Id']}/{copy}")))
                    for r in converted]
            extras += spread_records(
                recs, first_day=first + copy * window / replays, last_day=first + (copy + 1) * window / replays,
                seed=int(rng.integers(2**31)), users=tenant_users if spray else victims, label=name,
                kind=LOW_AND_SLOW if spray else NEGATIVE)
    return extras


def real_and_evaluate(runs_dir: Path, work_dir: Path, engine: Engine, *, seeds: tuple[int, ...] = (1, 2),
                      users: int = 2000, days: int = 120, replays: int = 10, weeks: float = 2.5,
                      presets: tuple[str, ...] = ("default", "mstic"), separate: bool = False,
                      progress=None) -> list[TenantScore]:
    """Real M365 runs from ``runs_dir`` replayed (:func:`replay_runs`) inside a benign simulated tenant
    (difficulty ``none``, confounders on) per seed, written as SigninLogs JSON Lines and scored per
    preset exactly like a simulated tenant (read back with ``read_signins``).

    All runs share one tenant per seed (staggered windows), or with ``separate`` each run gets its own
    tenant (``real-seed<seed>-<file name>``): the real runs come from the same tester's infrastructure
    (shared Cloudflare WARP addresses), so together they test whether the hunt tells the tools apart,
    and one by one whether each tool's run is found at all."""
    from ..simulate.signins import simulate_signins, tenant_user_names

    runs = read_m365_runs(runs_dir)
    groups = [(n, {n: runs[n]}) for n in sorted(runs)] if separate else [("", runs)]
    scores = []
    for seed in seeds:
        for suffix, group in groups:
            name = f"real-seed{seed}" + (f"-{suffix}" if suffix else "")
            if progress:
                progress(f"simulating {name} ({users} users x {days} days, {len(group)} real runs x {replays})")
            extras = replay_runs(group, tenant_user_names(users, seed), days=days, replays=replays, weeks=weeks,
                                 seed=seed)
            sim = simulate_signins(Path(work_dir) / name, users=users, days=days, seed=seed, difficulty="none",
                                   confounders=True, extra_records=extras)
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
        lines.append("| " + " | ".join("" if v is None or v != v else str(v) for v in row) + " |")
    return "\n".join(lines)
