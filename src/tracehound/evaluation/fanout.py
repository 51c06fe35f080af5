"""Detection quality of the fan-out hunts on the simulators, seed statistic vs with improvements.

Protocol (what the numbers in docs/fanout.md mean): for each seed, simulate logons and connections,
read them through the normal readers, then run each hunt the way it is deployed — once a day over
the last 24 hourly buckets, with the 14 days before as baseline — for every day after the baseline
period. A planted attack is *found* if some finding of its kind names its entity in a bucket that
overlaps its time range. Every other finding is *false*. The false rate is per 1,000 entities per
day (entities: users for lateral, hosts for the scans), so it can be compared across sizes.
"""

from __future__ import annotations

import tempfile
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from pathlib import Path

import ibis

from ..engine import Engine
from ..fanout import SEED_ONLY, FanoutDetector, FanoutSpec
from ..fanout import preset as get_preset
from ..findings import Finding
from ..readers.connections import read_connections
from ..readers.logons import read_logons
from ..simulate.connections import ConnSimConfig, simulate_connections
from ..simulate.logons import LogonSimConfig, simulate_logons

MODES = {"seed": SEED_ONLY, "improved": {}}
#: Each improvement alone on top of the seed statistic, for the ablation table in docs/fanout.md.
ABLATIONS = {
    "seed+exclude_detection": {**SEED_ONLY, "exclude_detection": True},
    "seed+cold_start": {**SEED_ONLY, "cold_start": True},
    "seed+require_new": {**SEED_ONLY, "require_new": True},
}


@dataclass
class Score:
    planted: int = 0
    found: int = 0
    false: int = 0
    entity_days: int = 0
    missed: list[str] = field(default_factory=list)

    def add(self, other: "Score") -> None:
        self.planted += other.planted
        self.found += other.found
        self.false += other.false
        self.entity_days += other.entity_days
        self.missed.extend(other.missed)

    def as_dict(self) -> dict:
        return {"planted": self.planted, "found": self.found,
                "recall": round(self.found / self.planted, 3) if self.planted else None,
                "false_findings": self.false,
                "false_per_1000_entity_days": round(1000 * self.false / max(self.entity_days, 1), 3),
                "missed": self.missed}


def _parse(ts: str) -> datetime:
    return datetime.fromisoformat(ts.replace("Z", "+00:00"))


def match(findings: list[Finding], truth: list[dict], kind: str, entities: int, days: int) -> Score:
    """Score findings of one kind against the planted items of that kind."""
    planted = [t for t in truth if t["kind"] == kind]
    score = Score(planted=len(planted), entity_days=entities * days)
    used: set[str] = set()
    for item in planted:
        start, end = _parse(item["start"]), _parse(item["end"])
        hits = [f for f in findings if f.evidence["entity"] == item["entity"]
                and _parse(f.evidence["bucket_start"]) <= end and _parse(f.evidence["bucket_end"]) > start]
        if hits:
            score.found += 1
            used.update(f.id for f in hits)
        else:
            score.missed.append(f"{item['entity']} {item['start']}")
    score.false = sum(1 for f in findings if f.id not in used)
    return score


def run_daily(table: ibis.Table, engine: Engine, preset_name: str | FanoutSpec, first_day: datetime,
              days: int, baseline_days: float, options: dict) -> list[Finding]:
    """Run a hunt as a daily job: detection window = each day in turn, baseline = the days before
    (``end`` bounds both, so fitting on and scoring the whole table is that day's job exactly)."""
    found: list[Finding] = []
    for d in range(days):
        end = first_day + timedelta(days=d + 1)
        det = FanoutDetector(preset_name, detect_last="1d", end=end, baseline_days=baseline_days,
                             **options).fit(table, engine)
        found.extend(det.detect(det.score(table)))
    return found


def evaluate_fanout(engine: Engine, *, seeds: list[int], users: int = 1000, hosts: int = 200,
                    days: int = 30, baseline_days: int = 14, work_dir: str | Path | None = None,
                    modes: dict[str, dict] | None = None) -> dict:
    """Per mode and hunt: planted, found, recall, false findings per 1,000 entity-days (summed over seeds).

    ``modes`` maps a label to detector options; the default compares :data:`MODES`.
    """
    modes = modes or MODES
    results = {mode: {k: Score() for k in ("lateral", "host-scan", "port-scan")} for mode in modes}
    with tempfile.TemporaryDirectory(dir=work_dir) as tmp:
        for seed in seeds:
            lcfg = LogonSimConfig(users=users, days=days, seed=seed, attack_after_day=baseline_days + 1)
            ccfg = ConnSimConfig(hosts=hosts, days=days, seed=seed, attack_after_day=baseline_days + 1)
            lsim = simulate_logons(Path(tmp) / f"logons-{seed}", lcfg)
            csim = simulate_connections(Path(tmp) / f"conns-{seed}", ccfg)
            logons, _ = read_logons(lsim["path"], engine)
            conns, _ = read_connections(csim["path"], engine)
            first_day = lcfg.start + timedelta(days=baseline_days)
            det_days = days - baseline_days
            n_conn_entities = hosts + 20  # hosts plus the simulator's 20 servers
            for mode, options in modes.items():
                for name, table, truth, n_ent in (
                        ("lateral", logons, lsim["truth"], users),
                        ("host-scan", conns, csim["truth"], n_conn_entities),
                        ("port-scan", conns, csim["truth"], n_conn_entities)):
                    found = run_daily(table, engine, name, first_day, det_days, baseline_days, options)
                    results[mode][name].add(match(found, truth, get_preset(name).kind, n_ent, det_days))
    return {"seeds": seeds, "users": users, "hosts": hosts, "days": days, "baseline_days": baseline_days,
            "results": {mode: {k: s.as_dict() for k, s in per.items()} for mode, per in results.items()}}
