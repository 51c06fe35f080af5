"""Detection quality of the network hunts on the connection simulator (``tracehound evaluate network``).

Protocol (what the numbers in docs/network.md and the README mean): for each seed, simulate a
network (``simulate/connections.py``: departments, servers, benign backups / sweeps / patching /
proxy, planted attacks at random), read it through the normal reader, and run each hunt the way it
is deployed — once a day, judging that day (``detect_last="1d"``) against the 14 days before — for
every day after the baseline period. A planted attack of a hunt's kind is *found* when a finding of
that kind names its source as actor and overlaps its time. A finding that names the source of a
planted attack of another kind at its time (a host scan's sweep through dead space) is *another
attack's*; every other finding is *false*. False findings are counted per 1,000 host-days (internal
hosts and servers × days judged) and, separately, on the benign look-alikes: the backup server, the
vulnerability scanner, the patch server and the proxy.
"""

from __future__ import annotations

import tempfile
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from pathlib import Path
from typing import Callable

import ibis

from ..engine import Engine
from ..findings import Finding
from ..network import DeadSpace, Exfiltration, LongSessions, PeerGroups
from ..readers.connections import read_connections
from ..simulate.connections import ConnSimConfig, simulate_connections

#: Hunt label → (its class, its kind).
HUNTS: dict[str, tuple[Callable, str]] = {
    "exfiltration": (Exfiltration, "exfiltration"),
    "peer-groups": (PeerGroups, "new_peer_group"),
    "dead-space": (DeadSpace, "dead_space"),
    "long-session": (LongSessions, "long_session"),
}
BENIGN = ("backup", "scanner", "patch", "proxy")
#: Servers on the simulated network besides the workstations.
SERVERS = 20


@dataclass
class NetScore:
    planted: int = 0
    found: int = 0
    false: int = 0
    other_attack: int = 0
    on_benign: int = 0
    host_days: int = 0
    missed: list[str] = field(default_factory=list)
    false_ids: list[str] = field(default_factory=list)

    def add(self, other: "NetScore") -> None:
        for name in ("planted", "found", "false", "other_attack", "on_benign", "host_days"):
            setattr(self, name, getattr(self, name) + getattr(other, name))
        self.missed.extend(other.missed)
        self.false_ids.extend(other.false_ids)

    def as_dict(self) -> dict:
        return {"planted": self.planted, "found": self.found,
                "recall": round(self.found / self.planted, 3) if self.planted else None,
                "false_findings": self.false, "other_attack_findings": self.other_attack,
                "false_on_benign_servers": self.on_benign,
                "false_per_1000_host_days": round(1000 * self.false / max(self.host_days, 1), 3),
                "missed": self.missed, "false_ids": self.false_ids[:50]}


def _t(ts: str) -> datetime:
    return datetime.fromisoformat(ts.replace("Z", "+00:00"))


def _overlaps(f: Finding, item: dict, slack: timedelta = timedelta(hours=1)) -> bool:
    return _t(f.first_seen) <= _t(item["end"]) + slack and _t(f.last_seen) >= _t(item["start"]) - slack


def match(findings: list[Finding], truth: list[dict], kind: str, roles: dict, host_days: int) -> NetScore:
    """Score one hunt's findings against the planted attacks (see the module docstring)."""
    planted = [t for t in truth if t["kind"] == kind]
    score = NetScore(planted=len(planted), host_days=host_days)
    used: set[str] = set()
    for item in planted:
        hits = [f for f in findings if item["entity"] in f.actors.get("ips", []) and _overlaps(f, item)]
        if hits:
            score.found += 1
            used.update(f.id for f in hits)
        else:
            score.missed.append(f"{item['entity']} {item['start']}")
    benign = {roles[r] for r in BENIGN if r in roles}
    for f in findings:
        if f.id in used:
            continue
        actor = (f.actors.get("ips") or [None])[0]
        if any(t["entity"] == actor and _overlaps(f, t) for t in truth):
            score.other_attack += 1
            continue
        score.false += 1
        score.false_ids.append(f.id)
        score.on_benign += actor in benign
    return score


def run_daily(table: ibis.Table, engine: Engine, hunt: Callable, first_day: datetime, days: int,
              baseline_days: float, options: dict | None = None) -> list[Finding]:
    """A hunt as a daily job: each day judged against the ``baseline_days`` before it."""
    found: list[Finding] = []
    for d in range(days):
        end = first_day + timedelta(days=d + 1)
        h = hunt(detect_last="1d", end=end, baseline_days=baseline_days, **(options or {})).fit(table, engine)
        found.extend(h.detect(h.score(table)))
    return found


def evaluate_network(engine: Engine, *, seeds: list[int], hosts: int = 200, days: int = 30,
                     baseline_days: int = 14, work_dir: str | Path | None = None,
                     hunts: list[str] | None = None) -> dict:
    """Per hunt: planted, found, recall, false findings (per 1,000 host-days, on benign servers)."""
    chosen = hunts or list(HUNTS)
    results = {name: NetScore() for name in chosen}
    with tempfile.TemporaryDirectory(dir=work_dir) as tmp:
        for seed in seeds:
            cfg = ConnSimConfig(hosts=hosts, days=days, seed=seed, attack_after_day=baseline_days + 1)
            sim = simulate_connections(Path(tmp) / f"net-{seed}", cfg)
            table, _ = read_connections(sim["path"], engine)
            table = engine.materialize(table, f"evaluate-network-{seed}")
            first = cfg.start + timedelta(days=baseline_days)
            judged = days - baseline_days
            for name in chosen:
                cls, kind = HUNTS[name]
                found = run_daily(table, engine, cls, first, judged, baseline_days)
                results[name].add(match(found, sim["truth"], kind, sim["roles"], (hosts + SERVERS) * judged))
    return {"seeds": seeds, "hosts": hosts, "days": days, "baseline_days": baseline_days,
            "results": {name: s.as_dict() for name, s in results.items()}}


def markdown_table(result: dict) -> str:
    """The README table for one evaluation result."""
    lines = ["| hunt | planted found | false findings | false / 1,000 host-days | false on backup / scanner / "
             "patch / proxy | findings on other planted attacks |",
             "|---|---|---|---|---|---|"]
    for name, s in result["results"].items():
        lines.append(f"| `network.{name}` | {s['found']}/{s['planted']} | {s['false_findings']} | "
                     f"{s['false_per_1000_host_days']:g} | {s['false_on_benign_servers']} | "
                     f"{s['other_attack_findings']} |")
    return "\n".join(lines)
