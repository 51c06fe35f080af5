"""A network's Zeek ``conn.log`` with planted attacks, benign look-alikes, and ground truth.

The office: 5–8 departments (one is IT), each on its own /24 (``10.0.X.0/24``, X random per seed),
and 20 servers on ``10.1.0.0/24`` — DNS, a domain controller, the web proxy, file servers, a backup
server, a vulnerability scanner, a patch server. Workstations work office hours on weekdays: DNS,
Kerberos, SMB to their shares, web through the proxy (which fetches from the internet) and directly
over TLS, occasional uploads; four in ten keep a chat client's TLS session open all day; IT staff
RDP / SSH to servers and to other departments' machines; a shared printer sits in one department's
subnet. Bytes and durations are drawn per service (log-normal), each host with its own volume.

Benign look-alikes, every day or week from the first day, so a baseline learns them: the backup
server pulls from every host at night (a few retired addresses never answer) and uploads gigabytes
off-site; the scanner sweeps every subnet on a fixed port list once a week (most addresses are
dead); patch day has every host download hundreds of MB from the patch server.

Planted after ``attack_after_day``, each by its own randomly chosen host at a random time:
host scans (60–250 addresses in an hour), port scans (100–1,000 ports of one server), an SSH tunnel
on port 443, exfiltration (0.2–4 GB to one or two new outside addresses within an hour), first
contacts between two departments that never talk (SMB / RDP / WinRM / RPC), dead-space probes (one
to three SYNs to addresses no host has) and long sessions (18–40 hours to an outside address).
``truth.jsonl`` lists each with its kind, source and time; the summary also names the benign
servers (``roles``).
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta
from pathlib import Path

import numpy as np
import orjson

from .logons import START, _iso
from .zeekout import write_conn

DEPARTMENTS = ("engineering", "hr", "finance", "sales", "marketing", "legal", "support", "research", "operations")
SWEEP_PORTS = (21, 22, 23, 25, 53, 80, 110, 135, 139, 143, 389, 443, 445, 1433, 3306, 3389, 5432, 5900,
               5985, 8080, 8443, 9100)
LATERAL = (445, 3389, 5985, 135)


@dataclass(frozen=True)
class ConnSimConfig:
    hosts: int = 200
    days: int = 30
    seed: int = 0
    host_scans: int = 3
    port_scans: int = 3
    tunnels: int = 1
    exfiltrations: int = 2
    peer_contacts: int = 2
    dead_probes: int = 2
    long_sessions: int = 2
    attack_after_day: int = 15
    start: datetime = START
    fmt: str = "zeek-tsv"           # a key of simulate.zeekout.FORMATS


@dataclass
class _Net:
    """Who is where: addresses, departments, servers and their roles."""

    hosts: list[str]
    dept: dict[str, int]
    subnets: list[int]
    it: int
    servers: list[str]
    internet: list[str]
    sites: dict[str, list[str]]
    shares: dict[str, list[str]]
    volume: dict[str, float]
    chat: dict[str, str]
    printer: str
    retired: list[str]

    @property
    def dns(self): return self.servers[0:2]  # noqa: E704
    @property
    def dc(self): return self.servers[2]  # noqa: E704
    @property
    def proxy(self): return self.servers[3]  # noqa: E704
    @property
    def files(self): return self.servers[4:8]  # noqa: E704
    @property
    def backup(self): return self.servers[8]  # noqa: E704
    @property
    def scanner(self): return self.servers[9]  # noqa: E704
    @property
    def patch(self): return self.servers[10]  # noqa: E704

    def unused(self, rng) -> str:
        """An address in a department subnet that no host, printer or retired machine has."""
        taken = set(self.hosts) | {self.printer, *self.retired}
        while True:
            addr = f"10.0.{self.subnets[rng.integers(len(self.subnets))]}.{rng.integers(2, 254)}"
            if addr not in taken:
                return addr


def _public(rng, n: int) -> list[str]:
    """``n`` distinct public-looking IPv4 addresses (no private, loopback or multicast range)."""
    out: dict[str, None] = {}
    while len(out) < n:
        a = int(rng.integers(11, 224))
        if a in (100, 127, 169, 172, 192):
            continue
        out[f"{a}.{rng.integers(0, 256)}.{rng.integers(0, 256)}.{rng.integers(1, 255)}"] = None
    return list(out)


def _layout(cfg: ConnSimConfig, rng) -> _Net:
    n_depts = int(min(rng.integers(5, 9), max(3, cfg.hosts // 6)))
    subnets = [int(s) for s in rng.choice(np.arange(0, 32), size=n_depts, replace=False)]
    it = int(rng.integers(n_depts))
    weights = rng.dirichlet(np.full(n_depts, 3.0))
    weights[it] = min(weights[it], 0.08)
    weights /= weights.sum()
    owner = np.concatenate([np.arange(n_depts), rng.choice(n_depts, size=max(0, cfg.hosts - n_depts), p=weights)])
    hosts, dept, used = [], {}, set()
    for d in owner[: cfg.hosts]:
        while True:
            addr = f"10.0.{subnets[d]}.{rng.integers(10, 250)}"
            if addr not in used:
                break
        used.add(addr)
        hosts.append(addr)
        dept[addr] = int(d)
    servers = [f"10.1.0.{i + 10}" for i in range(20)]
    internet = _public(rng, 400)
    chat_service = internet[int(rng.integers(len(internet)))]
    printer_dept = subnets[int(rng.integers(n_depts))]
    spare = [f"10.0.{s}.{o}" for s in subnets for o in (2, 3, 4, 5, 6, 7)]
    retired = [str(a) for a in rng.choice(spare, size=int(rng.integers(3, 7)), replace=False)]
    return _Net(hosts, dept, subnets, it, servers, internet,
                sites={h: list(rng.choice(internet, size=rng.integers(3, 9), replace=False)) for h in hosts},
                shares={h: list(rng.choice(servers[4:8], size=rng.integers(1, 3), replace=False)) for h in hosts},
                volume={h: float(rng.lognormal(0.0, 0.6)) for h in hosts},
                chat={h: chat_service for h in hosts if rng.random() < 0.4},
                printer=f"10.0.{printer_dept}.8", retired=retired)


class _Rows:
    """Connections as (ts, src, dst, port, proto, service, duration, orig bytes, resp bytes, state)."""

    def __init__(self, rng) -> None:
        self.rng = rng
        self.rows: list[tuple] = []

    def add(self, t, src, dst, port, service, *, proto="tcp", duration=None, out=0, back=0, state=None):
        state = state or ("SF" if back > 0 or out > 0 else "S0")
        self.rows.append((float(t), src, dst, int(port), proto, service, duration, int(out), int(back), state))

    def lognormal(self, median: float, sigma: float) -> float:
        return float(self.rng.lognormal(np.log(median), sigma))


def _workday(net: _Net, r: _Rows, cfg: ConnSimConfig, day: int, base: float) -> None:
    rng = r.rng
    weekday = (cfg.start + timedelta(days=day)).weekday() < 5
    it_hosts = [h for h in net.hosts if net.dept[h] == net.it]
    others = [h for h in net.hosts if net.dept[h] != net.it]
    for h in net.hosts:
        active = rng.random() < (0.9 if weekday else 0.1)
        start = base + rng.normal(8.5, 0.8) * 3600
        hours = 8.5 + rng.normal(0, 0.4)
        vol = net.volume[h]
        if active and h in net.chat:
            r.add(start, h, net.chat[h], 443, "ssl", duration=min(hours, 10.0) * 3600,
                  out=r.lognormal(4e5, 0.5) * vol, back=r.lognormal(2e6, 0.6))
        if active and rng.random() < 0.05:
            r.add(start + rng.random() * hours * 3600, h, net.printer, 445, "smb", duration=r.lognormal(3, 0.5),
                  out=r.lognormal(2e5, 1.0), back=r.lognormal(2e3, 0.5))
        for hour in range(24):
            t_hour = base + hour * 3600
            working = active and start <= t_hour + 3600 and t_hour < start + hours * 3600
            for t in t_hour + rng.random(rng.poisson(6 if working else 0.3)) * 3600:
                _one(net, r, h, t, vol)
    if weekday:
        for h in it_hosts:  # support and administration
            for _ in range(rng.poisson(1.5)):
                t = base + rng.uniform(9, 17) * 3600
                if rng.random() < 0.5 and others:
                    dst, port, svc = others[rng.integers(len(others))], 3389, "rdp"
                else:
                    dst, port, svc = net.servers[rng.integers(len(net.servers))], 22, "ssh"
                r.add(t, h, dst, port, svc, duration=r.lognormal(1200, 1.0), out=r.lognormal(3e5, 1.0),
                      back=r.lognormal(3e6, 1.0))


def _one(net: _Net, r: _Rows, h: str, t: float, vol: float) -> None:
    """One ordinary workstation connection."""
    rng = r.rng
    pick = rng.random()
    if pick < 0.3:
        r.add(t, h, net.dns[rng.integers(2)], 53, "dns", proto="udp", duration=r.lognormal(0.01, 0.8),
              out=rng.integers(40, 90), back=rng.integers(80, 300))
    elif pick < 0.4:
        r.add(t, h, net.dc, 88, "krb_tcp", duration=r.lognormal(0.03, 0.6), out=r.lognormal(1500, 0.3),
              back=r.lognormal(1800, 0.3))
    elif pick < 0.5:
        r.add(t, h, net.shares[h][rng.integers(len(net.shares[h]))], 445, "smb", duration=r.lognormal(2, 1.5),
              out=r.lognormal(8e3, 1.5) * vol, back=r.lognormal(6e4, 1.8))
    elif pick < 0.6:
        out, back = r.lognormal(1e3, 0.8) * vol, r.lognormal(3e4, 1.5)
        dur = r.lognormal(0.6, 1.0)
        r.add(t, h, net.proxy, 8080, "http", duration=dur, out=out, back=back)
        site = net.internet[rng.integers(len(net.internet))]
        r.add(t + 0.01, net.proxy, site, 443, "ssl", duration=dur * 0.9, out=out + 300, back=back)
    elif pick < 0.95:
        upload = rng.random() < 0.01
        r.add(t, h, net.sites[h][rng.integers(len(net.sites[h]))], 443, "ssl", duration=r.lognormal(4.5, 1.3),
              out=(r.lognormal(1.5e6, 0.7) if upload else r.lognormal(1.8e3, 1.0)) * vol,
              back=r.lognormal(4e4, 1.6))
    else:
        r.add(t, h, net.internet[rng.integers(len(net.internet))], 80, "http", duration=r.lognormal(0.4, 1.0),
              out=r.lognormal(600, 0.6) * vol, back=r.lognormal(2e4, 1.5))


def _servers(net: _Net, r: _Rows, cfg: ConnSimConfig, day: int, base: float, sweep_day: int, sweep_hour: float,
             sweep_ports: list[int], patch_day: int, offsite: str, cdn: str) -> None:
    rng = r.rng
    for s in net.servers:
        for hour in range(24):
            for _ in range(rng.poisson(2)):
                r.add(base + hour * 3600 + rng.random() * 3600, s, net.servers[rng.integers(len(net.servers))], 445,
                      "smb", duration=r.lognormal(1, 1.0), out=r.lognormal(5e3, 1.0), back=r.lognormal(2e4, 1.0))
    # nightly backup: pull from every host (laptops that are off, and retired machines, never answer)
    night = base + (1 + rng.random()) * 3600
    pulled = 0.0
    for i, h in enumerate([*net.hosts, *net.files, *net.retired]):
        t = night + i * 20 + rng.random() * 10
        if h in net.retired or rng.random() < 0.08:
            r.add(t, net.backup, h, 10000, None)
            continue
        size = r.lognormal(8e7, 1.0)
        pulled += size
        r.add(t, net.backup, h, 10000, None, duration=size / 4e7, out=r.lognormal(2e4, 0.3), back=size)
    for k in range(int(rng.integers(1, 4))):
        r.add(night + 3 * 3600 + k * 600, net.backup, offsite, 443, "ssl", duration=r.lognormal(3000, 0.3),
              out=pulled * 0.4 / (k + 1) * rng.uniform(0.8, 1.2), back=r.lognormal(5e5, 0.3))
    # weekly vulnerability sweep of every subnet on a fixed port list
    if day % 7 == sweep_day:
        t0 = base + sweep_hour * 3600
        live = set(net.hosts) | {net.printer}
        targets = [f"10.0.{s}.{o}" for s in net.subnets for o in range(1, 255)] + \
                  [f"10.1.0.{o}" for o in range(1, 255)]
        span = len(targets) * len(sweep_ports)
        times = t0 + np.sort(rng.random(span)) * 3 * 3600
        i = 0
        for dst in targets:
            alive = dst in live or dst in net.servers
            for port in sweep_ports:
                if not alive:
                    r.add(times[i], net.scanner, dst, port, None)
                elif port in (135, 445, 3389) or (dst in net.servers and port in (22, 53, 88, 443, 445)):
                    r.add(times[i], net.scanner, dst, port, None, duration=0.05, out=120, back=300)
                else:
                    r.add(times[i], net.scanner, dst, port, None, duration=0.001, state="REJ")
                i += 1
    # patch server: daily checks, and on patch day every host downloads the month's updates
    if day == patch_day - 1:
        r.add(base + 22 * 3600, net.patch, cdn, 443, "ssl", duration=r.lognormal(1800, 0.3),
              out=r.lognormal(4e5, 0.3), back=r.lognormal(6e9, 0.3))
    for h in net.hosts:
        if rng.random() < 0.5:
            r.add(base + rng.uniform(8, 18) * 3600, h, net.patch, 80, "http", duration=r.lognormal(0.5, 0.5),
                  out=r.lognormal(2e3, 0.3), back=r.lognormal(1e4, 0.5))
        if day == patch_day and rng.random() < 0.95:
            size = r.lognormal(3e8, 0.5)
            r.add(base + rng.uniform(9, 17) * 3600, h, net.patch, 80, "http", duration=size / 2e7,
                  out=r.lognormal(5e4, 0.5), back=size)


def _plant(net: _Net, r: _Rows, cfg: ConnSimConfig, day0: float) -> list[dict]:
    """The planted attacks, each by its own host, at random times after ``attack_after_day``."""
    rng = r.rng
    days = list(range(cfg.attack_after_day, cfg.days))
    if not days:
        return []
    counts = {"new_peer_group": cfg.peer_contacts, "host_scan": cfg.host_scans, "port_scan": cfg.port_scans,
              "protocol_mismatch": cfg.tunnels, "exfiltration": cfg.exfiltrations, "dead_space": cfg.dead_probes,
              "long_session": cfg.long_sessions}
    outsiders = [h for h in net.hosts if net.dept[h] != net.it]
    peers = [str(h) for h in rng.choice(outsiders, size=min(cfg.peer_contacts, len(outsiders)), replace=False)]
    rest = [h for h in net.hosts if h not in peers]
    n_rest = sum(counts.values()) - len(peers)
    others = [str(h) for h in rng.choice(rest, size=min(n_rest, len(rest)), replace=False)]
    attackers = {"new_peer_group": peers}
    for kind, n in counts.items():
        if kind != "new_peer_group":
            attackers[kind], others = others[:n], others[n:]
    truth = []
    for kind, srcs in attackers.items():
        for src in srcs:
            last = days[:-1] if kind == "long_session" and len(days) > 1 else days
            t0 = day0 + last[rng.integers(len(last))] * 86400 + rng.uniform(0, 23) * 3600
            times = _attack(kind, net, r, src, t0)
            truth.append({"kind": kind, "entity": src, "start": _iso(min(times)), "end": _iso(max(times))})
    return truth


def _attack(kind: str, net: _Net, r: _Rows, src: str, t0: float) -> list[float]:
    """Write one planted attack from ``src``; returns the times it covers."""
    rng = r.rng
    if kind == "host_scan":
        port = int(rng.choice([445, 22, 3389]))
        k = int(rng.integers(60, 251))
        times = np.sort(t0 + rng.random(k) * 50 * 60)
        for t in times:
            r.add(t, src, f"10.0.{net.subnets[rng.integers(len(net.subnets))]}.{rng.integers(1, 255)}", port, None)
        return list(times)
    if kind == "port_scan":
        dst = net.servers[rng.integers(len(net.servers))]
        k = int(rng.integers(100, 1001))
        times = np.sort(t0 + rng.random(k) * 50 * 60)
        for t, port in zip(times, rng.choice(np.arange(1, 65536), size=k, replace=False)):
            r.add(t, src, dst, int(port), None)
        return list(times)
    if kind == "protocol_mismatch":
        dst = net.internet[rng.integers(len(net.internet))]
        times = np.sort(t0 + rng.random(20) * 6 * 3600)
        for t in times:
            r.add(t, src, dst, 443, "ssh", duration=r.lognormal(60, 1.0), out=r.lognormal(2e4, 1.0),
                  back=r.lognormal(4e4, 1.0))
        return list(times)
    if kind == "exfiltration":
        drops = _public(rng, int(rng.integers(1, 3)))
        port, service = [(443, "ssl"), (22, "ssh"), (8443, "ssl"), (21, "ftp")][int(rng.choice(4, p=[.5, .2, .2, .1]))]
        total = float(np.exp(rng.uniform(np.log(2e8), np.log(4e9))))
        n = int(rng.integers(1, 9))
        span = rng.uniform(5, 55) * 60
        times = np.sort(t0 + rng.random(n) * span)
        for t, share in zip(times, rng.dirichlet(np.ones(n))):
            size = total * share
            r.add(t, src, drops[rng.integers(len(drops))], port, service, duration=size / 2e6,
                  out=size, back=r.lognormal(2e4, 0.5))
        return list(times)
    if kind == "new_peer_group":
        mine = net.dept[src]
        depts = [d for d in range(len(net.subnets)) if d not in (mine, net.it)]
        target_dept = depts[rng.integers(len(depts))]
        victims = [h for h in net.hosts if net.dept[h] == target_dept]
        dst = victims[rng.integers(len(victims))]
        port = int(rng.choice(LATERAL))
        service = {445: "smb", 3389: "rdp", 5985: "http", 135: "dce_rpc"}[port]
        times = np.sort(t0 + rng.random(int(rng.integers(1, 5))) * 20 * 60)
        for t in times:
            r.add(t, src, dst, port, service, duration=r.lognormal(5, 1.0), out=r.lognormal(4e3, 1.0),
                  back=r.lognormal(6e3, 1.0))
        return list(times)
    if kind == "dead_space":
        port = int(rng.choice([445, 3389, 22, 135, 5985]))
        times = np.sort(t0 + rng.random(int(rng.integers(1, 4))) * 10 * 60)
        for t in times:
            r.add(t, src, net.unused(rng), port, None)
        return list(times)
    if kind == "long_session":
        (dst,) = _public(rng, 1)
        port, service = [(443, "ssl"), (22, "ssh"), (8443, "ssl"), (4444, None)][int(rng.integers(4))]
        duration = rng.uniform(18, 40) * 3600
        r.add(t0, src, dst, port, service, duration=duration, out=r.lognormal(3e6, 0.5), back=r.lognormal(2e6, 0.5))
        return [t0, t0 + duration]
    raise ValueError(f"unknown planted attack {kind!r}")


def simulate_connections(out_dir: str | Path, config: ConnSimConfig = ConnSimConfig()) -> dict:
    """Write the connections (``conn.log.gz``, Zeek TSV, or ``config.fmt``) and ``truth.jsonl`` into
    ``out_dir``; return a summary dict."""
    rng = np.random.default_rng(config.seed)
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    net = _layout(config, rng)
    r = _Rows(rng)
    day0 = config.start.timestamp()
    offsite, cdn = _public(rng, 2)
    sweep_day, sweep_hour = int(rng.integers(7)), float(rng.uniform(19, 21))
    sweep_ports = sorted(int(p) for p in rng.choice(SWEEP_PORTS, size=int(rng.integers(8, 15)), replace=False))
    patch_day = int(rng.integers(1, max(2, config.days)))
    for day in range(config.days):
        base = day0 + day * 86400
        _workday(net, r, config, day, base)
        _servers(net, r, config, day, base, sweep_day, sweep_hour, sweep_ports, patch_day, offsite, cdn)
    truth = _plant(net, r, config, day0)
    rows = sorted(r.rows, key=lambda row: row[:4])
    path = write_conn(out, rows, config.fmt, config.seed, rng)
    with (out / "truth.jsonl").open("wb") as fh:
        for item in truth:
            fh.write(orjson.dumps(item) + b"\n")
    roles = {"backup": net.backup, "scanner": net.scanner, "patch": net.patch, "proxy": net.proxy,
             "printer": net.printer, "it": [h for h in net.hosts if net.dept[h] == net.it]}
    return {"path": str(path), "connections": len(rows), "hosts": config.hosts, "days": config.days,
            "truth": truth, "roles": roles,
            "groups": {f"10.0.{s}.0/24": DEPARTMENTS[i % len(DEPARTMENTS)] if i != net.it else "it"
                       for i, s in enumerate(net.subnets)}}
