"""A network's Zeek ``conn.log`` with planted host scans, port scans and a tunnel, plus ground truth.

Ordinary hosts talk, in working hours, to the DNS servers (53/dns), a domain controller (88/krb,
389/ldap), a file server or two (445/smb), the web proxy (8080/http) and a handful of internet
sites (443/ssl, 80/http); at night a trickle of update checks. Servers answer and also reach a few
peers. Planted, after the baseline period: host scans (one source → 60–250 internal addresses on one
port within an hour), port scans (one source → one server, 100–1,000 ports within an hour) and one
SSH tunnel on port 443 (a protocol mismatch). ``truth.jsonl`` lists each with its source and time.
"""

from __future__ import annotations

import io
from dataclasses import dataclass
from datetime import datetime, timedelta
from pathlib import Path

import numpy as np
import orjson

from .logons import START, _iso
from .writer import open_output

FIELDS = ["ts", "uid", "id.orig_h", "id.orig_p", "id.resp_h", "id.resp_p", "proto", "service",
          "duration", "orig_bytes", "resp_bytes", "conn_state"]
TYPES = ["time", "string", "addr", "port", "addr", "port", "enum", "string", "interval", "count",
         "count", "string"]


@dataclass(frozen=True)
class ConnSimConfig:
    hosts: int = 200
    days: int = 30
    seed: int = 0
    host_scans: int = 3
    port_scans: int = 3
    tunnels: int = 1
    attack_after_day: int = 15
    start: datetime = START


def simulate_connections(out_dir: str | Path, config: ConnSimConfig = ConnSimConfig()) -> dict:
    """Write ``conn.log.gz`` (Zeek TSV) and ``truth.jsonl`` into ``out_dir``; return a summary dict."""
    rng = np.random.default_rng(config.seed)
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    hosts = [f"10.0.{i // 250}.{i % 250 + 2}" for i in range(config.hosts)]
    servers = [f"10.1.0.{i + 10}" for i in range(20)]
    dns, dc, proxy = servers[0:2], servers[2], servers[3]
    files = servers[4:10]
    internet = [f"203.0.{i // 250}.{i % 250 + 1}" for i in range(400)]
    sites = {h: list(rng.choice(internet, size=rng.integers(3, 9), replace=False)) for h in hosts}
    shares = {h: list(rng.choice(files, size=rng.integers(1, 3), replace=False)) for h in hosts}
    rows: list[tuple] = []

    def conn(t, src, dst, port, service, proto="tcp"):
        rows.append((t, src, dst, port, proto, service))

    day0 = config.start.timestamp()
    for day in range(config.days):
        base = day0 + day * 86400
        weekday = (config.start + timedelta(days=day)).weekday() < 5
        for h in hosts:
            active = rng.random() < (0.9 if weekday else 0.1)
            start = base + rng.normal(8.5, 0.8) * 3600
            for hour in range(24):
                t_hour = base + hour * 3600
                working = active and start <= t_hour + 3600 and t_hour < start + 8.5 * 3600
                n = rng.poisson(6 if working else 0.3)
                for t in t_hour + rng.random(n) * 3600:
                    pick = rng.random()
                    if pick < 0.3:
                        conn(t, h, dns[rng.integers(2)], 53, "dns", "udp")
                    elif pick < 0.4:
                        conn(t, h, dc, 88, "krb_tcp")
                    elif pick < 0.5:
                        conn(t, h, shares[h][rng.integers(len(shares[h]))], 445, "smb")
                    elif pick < 0.6:
                        conn(t, h, proxy, 8080, "http")
                    elif pick < 0.95:
                        conn(t, h, sites[h][rng.integers(len(sites[h]))], 443, "ssl")
                    else:
                        conn(t, h, internet[rng.integers(len(internet))], 80, "http")
        for s in servers:
            for hour in range(24):
                for _ in range(rng.poisson(2)):
                    peer = servers[rng.integers(len(servers))]
                    conn(base + hour * 3600 + rng.random() * 3600, s, peer, 445, "smb")

    truth = []
    attack_days = list(range(config.attack_after_day, config.days))
    attackers = rng.choice(hosts, size=config.host_scans + config.port_scans + config.tunnels,
                           replace=False)
    for i, src in enumerate(attackers):
        src = str(src)
        day = attack_days[rng.integers(len(attack_days))] if attack_days else 0
        t0 = day0 + day * 86400 + rng.uniform(0, 23) * 3600
        if i < config.host_scans:
            port = int(rng.choice([445, 22, 3389]))
            k = int(rng.integers(60, 251))
            targets = [f"10.0.{rng.integers(0, 8)}.{rng.integers(1, 255)}" for _ in range(k)]
            times = np.sort(t0 + rng.random(k) * 50 * 60)
            for t, dst in zip(times, targets):
                conn(t, src, dst, port, None)
            kind = "host_scan"
        elif i < config.host_scans + config.port_scans:
            dst = servers[rng.integers(len(servers))]
            k = int(rng.integers(100, 1001))
            ports = rng.choice(np.arange(1, 65536), size=k, replace=False)
            times = np.sort(t0 + rng.random(k) * 50 * 60)
            for t, port in zip(times, ports):
                conn(t, src, dst, int(port), None)
            kind = "port_scan"
        else:
            dst = internet[rng.integers(len(internet))]
            times = np.sort(t0 + rng.random(20) * 6 * 3600)
            for t in times:
                conn(t, src, dst, 443, "ssh")
            kind = "protocol_mismatch"
        truth.append({"kind": kind, "entity": src, "start": _iso(times[0]), "end": _iso(times[-1])})

    rows.sort(key=lambda r: r[0])
    path = out / "conn.log.gz"
    with open_output(path, gzip=True) as raw, io.TextIOWrapper(raw, encoding="utf-8") as fh:
        fh.write("#separator \\x09\n#set_separator\t,\n#empty_field\t(empty)\n#unset_field\t-\n")
        fh.write("#path\tconn\n#fields\t" + "\t".join(FIELDS) + "\n#types\t" + "\t".join(TYPES) + "\n")
        for n, (t, src, dst, port, proto, service) in enumerate(rows):
            sent, recv = (int(rng.integers(40, 5000)), int(rng.integers(40, 50000))) if service else (0, 0)
            fh.write(f"{t:.6f}\tC{config.seed:02d}{n:09d}\t{src}\t{int(rng.integers(1024, 65535))}\t{dst}\t"
                     f"{port}\t{proto}\t{service or '-'}\t{rng.random() * 5 if service else 0:.3f}\t"
                     f"{sent}\t{recv}\t{'SF' if service else 'S0'}\n")
    with (out / "truth.jsonl").open("wb") as fh:
        for item in truth:
            fh.write(orjson.dumps(item) + b"\n")
    return {"path": str(path), "connections": len(rows), "hosts": config.hosts, "days": config.days,
            "truth": truth}
