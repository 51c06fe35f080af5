"""An enterprise's Windows logons with planted lateral movement and ground truth.

Who is in it, and why each kind matters to a fan-out hunt:

- regular users (≈96 %): a workstation of their own (interactive logon, type 2, in the morning)
  and network logons (type 3) through the working day to the 1–3 servers they use; now and then a
  server they have never used (a new share) — the benign "new target" a detector has to live with; about 2 % of them join around the end of
  the baseline period (new employees: the cold-start case);
- admins (≈2 %): a portfolio of 5–15 servers, of which they touch 2–6 a day, by network logon and
  RDP (type 10), in a couple of busy hours — the benign fan-out;
- service accounts (≈1 %): every hour, around the clock, the same 2–4 servers;
- machine accounts (``WS-0001$``): network logons to the domain controllers, which readers drop.

Weekdays are busy, weekends quiet. Planted lateral movement: a compromised regular user's
credentials log on (type 3) to 6–15 hosts — first the servers the account already uses, then other
users' workstations and servers — within about 40 minutes on a working day after the baseline period. ``truth.jsonl`` lists each burst with its
user, time range and targets.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta, timezone
from pathlib import Path

import numpy as np
import orjson

from .winevents import FORMATS, WinEvent, write_events
from .writer import open_output

START = datetime(2024, 3, 4, tzinfo=timezone.utc)  # a Monday
DOMAIN = "CORP"


@dataclass(frozen=True)
class LogonSimConfig:
    users: int = 1000
    days: int = 30
    seed: int = 0
    lateral_bursts: int = 5
    attack_after_day: int = 15      # bursts happen on days >= this (after a 14-day baseline)
    start: datetime = START
    fmt: str = "lanl"               # lanl, windows-json, or evtx-json / eventxml / eventxml-doc


class _Sink:
    """Collects events as (epoch seconds, user, source host, target host, logon type, code)."""

    def __init__(self) -> None:
        self.rows: list[tuple[int, str, str, str, int, int]] = []

    def add(self, t: float, user: str, src: str, dst: str, ltype: int, code: int = 4624) -> None:
        self.rows.append((int(t), user, src, dst, ltype, code))


def simulate_logons(out_dir: str | Path, config: LogonSimConfig = LogonSimConfig()) -> dict:
    """Write ``logons.<csv|jsonl>.gz`` and ``truth.jsonl`` into ``out_dir``; return a summary dict."""
    rng = np.random.default_rng(config.seed)
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    n_admin = max(1, config.users // 50)
    n_svc = max(1, config.users // 100)
    n_regular = config.users - n_admin - n_svc
    regular = [f"user{i:05d}" for i in range(n_regular)]
    admins = [f"adm{i:04d}" for i in range(n_admin)]
    services = [f"svc{i:04d}" for i in range(n_svc)]
    workstations = [f"WS-{i:05d}" for i in range(n_regular + n_admin)]
    servers = [f"SRV-{i:04d}" for i in range(max(12, config.users // 20))]
    dcs = ["DC-01", "DC-02"]
    own_ws = {u: workstations[i] for i, u in enumerate(regular + admins)}
    usual = {u: list(rng.choice(servers, size=rng.integers(1, 4), replace=False)) for u in regular}
    portfolio = {a: list(rng.choice(servers, size=min(len(servers), rng.integers(5, 16)), replace=False))
                 for a in admins}
    svc_targets = {s: list(rng.choice(servers, size=rng.integers(2, 5), replace=False)) for s in services}
    # new joiners: ~2 % of regular users start around the end of the baseline (the cold-start case)
    joiners = rng.choice(regular, size=max(1, n_regular // 50), replace=False)
    first_day = {str(u): int(rng.integers(max(0, config.attack_after_day - 3), config.attack_after_day + 5))
                 for u in joiners}

    sink = _Sink()
    day0 = config.start.timestamp()
    for day in range(config.days):
        base = day0 + day * 86400
        weekday = (config.start + timedelta(days=day)).weekday() < 5
        for u in regular:
            if rng.random() > (0.92 if weekday else 0.04) or day < first_day.get(u, 0):
                continue
            start = base + rng.normal(8.5, 0.8) * 3600
            length = rng.normal(8.5, 0.7) * 3600
            sink.add(start, u, own_ws[u], own_ws[u], 2)
            if rng.random() < 0.03:  # a mistyped password first
                sink.add(start - 20, u, own_ws[u], own_ws[u], 2, 4625)
            for t in np.sort(start + rng.random(rng.poisson(6)) * length):
                target = (servers[rng.integers(len(servers))] if rng.random() < 0.02
                          else usual[u][rng.integers(len(usual[u]))])
                sink.add(t, u, own_ws[u], target, 3)
            sink.add(start + 60, f"{own_ws[u]}$", own_ws[u], dcs[rng.integers(2)], 3)
        for a in admins:
            if rng.random() > (0.9 if weekday else 0.1):
                continue
            start = base + rng.normal(9.5, 1.0) * 3600
            sink.add(start, a, own_ws[a], own_ws[a], 2)
            todays = rng.choice(portfolio[a], size=min(len(portfolio[a]), rng.integers(2, 7)),
                                replace=False)
            for target in todays:
                t = start + rng.random() * 2.5 * 3600
                sink.add(t, a, own_ws[a], target, 10 if rng.random() < 0.3 else 3)
        for s in services:
            for hour in range(24):
                for target in svc_targets[s]:
                    sink.add(base + hour * 3600 + rng.random() * 3000, s, "SCHED-01", target, 3)

    truth = []
    attack_days = [d for d in range(config.attack_after_day, config.days)
                   if (config.start + timedelta(days=d)).weekday() < 5]
    veterans = [u for u in regular if u not in first_day]
    victims = rng.choice(veterans, size=min(config.lateral_bursts, len(veterans)), replace=False)
    for victim in victims:
        if not attack_days:
            break
        day = attack_days[rng.integers(len(attack_days))]
        t0 = day0 + day * 86400 + rng.uniform(9.5, 16.0) * 3600
        # the attacker starts with what the account already reaches, then moves on to new hosts
        pool = [w for w in workstations if w != own_ws[victim]] + \
            [x for x in servers if x not in usual[victim]]
        k = int(rng.integers(6, 16))
        targets = [str(x) for x in usual[victim]] + \
            [str(x) for x in rng.choice(pool, size=k - len(usual[victim]), replace=False)]
        times = np.sort(t0 + rng.random(k) * 40 * 60)
        for t, target in zip(times, targets):
            sink.add(t, str(victim), own_ws[victim], target, 3)
        truth.append({"kind": "lateral_movement", "entity": str(victim),
                      "start": _iso(times[0]), "end": _iso(times[-1]), "targets": targets})

    sink.rows.sort()
    path = _write(out, sink.rows, config.fmt)
    with (out / "truth.jsonl").open("wb") as fh:
        for item in truth:
            fh.write(orjson.dumps(item) + b"\n")
    return {"path": str(path), "events": len(sink.rows), "users": config.users,
            "days": config.days, "truth": truth}


def _iso(t: float) -> str:
    return datetime.fromtimestamp(float(t), tz=timezone.utc).isoformat().replace("+00:00", "Z")


_LANL_TYPES = {2: "Interactive", 3: "Network", 10: "RemoteInteractive"}


def _write(out: Path, rows: list, fmt: str) -> Path:
    if fmt == "lanl":
        path = out / "logons.csv.gz"
        with open_output(path, gzip=True) as fh:
            for t, user, src, dst, ltype, code in rows:
                ok = "Success" if code == 4624 else "Fail"
                fh.write(f"{t},{user}@{DOMAIN},{user}@{DOMAIN},{src},{dst},Kerberos,"
                         f"{_LANL_TYPES[ltype]},LogOn,{ok}\n".encode())
        return path
    if fmt == "windows-json":
        path = out / "logons.jsonl.gz"
        with open_output(path, gzip=True) as fh:
            for t, user, src, dst, ltype, code in rows:
                fh.write(orjson.dumps({
                    "@timestamp": _iso(t), "EventID": code, "Hostname": f"{dst}.corp.local",
                    "TargetUserName": user, "TargetDomainName": DOMAIN, "LogonType": str(ltype),
                    "WorkstationName": src, "IpAddress": "-"}) + b"\n")
        return path
    if fmt in FORMATS:  # EVTX-as-JSON or Event XML, as the logging host's Security log renders it
        events = (WinEvent(code, t, f"{dst}.corp.local", i + 1, (
            ("TargetUserName", user), ("TargetDomainName", DOMAIN), ("LogonType", str(ltype)),
            ("WorkstationName", src), ("IpAddress", "-"), *((("SubStatus", "0xc000006a"),) if code == 4625 else ())))
            for i, (t, user, src, dst, ltype, code) in enumerate(rows))
        return write_events(out, events, fmt)
    raise ValueError(f"unknown logon output format {fmt!r}; expected lanl, windows-json or one of "
                     f"{', '.join(FORMATS)}")
