"""A short packet capture of an ordinary office — half an hour of Zeek ``conn.log`` — with an
optional planted scan.

Why: a capture someone takes to look at a problem has no history, so every fan-out baseline is
cold, and what is ordinary there is busy: each workstation talks to its domain controller on
445 / 53 / 88 / 135 / 389 / 5985 and RPC's dynamic ports, to NTP, to the proxy, to a handful to a few
dozen cloud addresses, and to multicast and broadcast (mDNS, SSDP, LLMNR, NetBIOS). The hunts
must not call that a scan; a host sweep or a port scan inside the same half hour they must find.

Counts are drawn per workstation (how many cloud services, how chatty), the subnet and the start
are random per seed, and a planted scan is a sweep of 80–254 addresses of another subnet or a scan
of 100–1,000 ports of one server, from a random workstation at a random minute.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timezone
from pathlib import Path

import numpy as np
import orjson

from .connections import _public
from .zeekout import write_conn

START = datetime(2024, 5, 14, 13, 0, tzinfo=timezone.utc)
DC_PORTS = (445, 53, 88, 135, 389, 5985)
MULTICAST = (("224.0.0.251", 5353, "udp", "dns"), ("239.255.255.250", 1900, "udp", None),
             ("224.0.0.252", 5355, "udp", "dns"), ("ff02::fb", 5353, "udp", "dns"))


@dataclass(frozen=True)
class CaptureConfig:
    workstations: int = 25
    minutes: int = 30
    seed: int = 0
    scan: str | None = None          # None, "host" or "port"
    fmt: str = "zeek-tsv"


def simulate_capture(out_dir: str | Path, config: CaptureConfig = CaptureConfig()) -> dict:
    """Write ``conn.log.gz`` (or ``config.fmt``) and ``truth.jsonl`` into ``out_dir``; a summary dict."""
    rng = np.random.default_rng(config.seed)
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    net = int(rng.integers(1, 200))
    hosts = [f"10.{net}.1.{i + 20}" for i in range(config.workstations)]
    dc, dns2, proxy, ntp = f"10.{net}.0.10", f"10.{net}.0.11", f"10.{net}.0.20", f"10.{net}.0.12"
    cloud = _public(rng, 300)
    t0 = START.timestamp() + float(rng.uniform(0, 5 * 86400))
    span = config.minutes * 60.0
    rows: list[tuple] = []

    def add(t, src, dst, port, proto="tcp", service=None, out_b=0, in_b=0, state="SF"):
        rows.append((float(t), src, dst, int(port), proto, service, float(rng.uniform(0.01, 30)),
                     int(out_b), int(in_b), state))

    for h in hosts:
        chat = float(rng.lognormal(0, 0.5))
        for port in DC_PORTS:
            for _ in range(int(rng.poisson(4 * chat)) + 1):
                add(t0 + rng.random() * span, h, dc if port != 53 or rng.random() < 0.7 else dns2, port,
                    "udp" if port == 53 else "tcp", {445: "smb", 53: "dns", 88: "krb", 389: "ldap"}.get(port),
                    rng.integers(100, 5000), rng.integers(100, 20000))
        for _ in range(int(rng.integers(1, 4))):  # RPC endpoint mapper hands out dynamic ports
            add(t0 + rng.random() * span, h, dc, int(rng.integers(49152, 65535)), service="dce_rpc",
                out_b=rng.integers(200, 3000), in_b=rng.integers(200, 3000))
        add(t0 + rng.random() * span, h, ntp, 123, "udp", "ntp", 48, 48)
        for _ in range(int(rng.poisson(10 * chat)) + 1):
            add(t0 + rng.random() * span, h, proxy, 8080, service="http", out_b=rng.integers(300, 3000),
                in_b=rng.integers(1000, 500000))
        for dst in rng.choice(cloud, size=int(min(len(cloud), rng.integers(3, 40))), replace=False):
            add(t0 + rng.random() * span, h, str(dst), 443, service="ssl", out_b=rng.integers(500, 50000),
                in_b=rng.integers(1000, 2000000))
        for group, port, proto, service in MULTICAST:
            if ":" in group and rng.random() < 0.5:
                continue
            for _ in range(int(rng.poisson(3)) + 1):
                add(t0 + rng.random() * span, h if ":" not in group else f"fe80::{hosts.index(h) + 1:x}",
                    group, port, proto, service, 60, 0, "S0")
        add(t0 + rng.random() * span, h, f"10.{net}.1.255", 137, "udp", "dns", 78, 0, "S0")
        add(t0 + rng.random() * span, h, "255.255.255.255", 67, "udp", "dhcp", 300, 0, "S0")
    truth = []
    if config.scan:
        src = hosts[int(rng.integers(len(hosts)))]
        start = t0 + float(rng.uniform(0, span * 0.6))
        if config.scan == "host":
            other = f"10.{net}.{int(rng.integers(2, 9))}"
            size = int(rng.integers(80, 255))
            targets = [f"{other}.{o}" for o in rng.choice(np.arange(1, 255), size=size, replace=False)]
            for i, dst in enumerate(targets):
                add(start + i * float(rng.uniform(0.05, 2)), src, dst, 445, state="S0")
        else:
            ports = rng.choice(np.arange(1, 10000), size=int(rng.integers(100, 1001)), replace=False)
            target = [dc, proxy][int(rng.integers(2))]
            for i, port in enumerate(ports):
                add(start + i * float(rng.uniform(0.01, 0.5)), src, target, int(port), state="REJ")
            targets = [target]
        truth.append({"kind": f"{config.scan}_scan", "source": src, "targets": len(targets)})
    rows.sort(key=lambda row: row[:4])
    path = write_conn(out, rows, config.fmt, config.seed, rng)
    with (out / "truth.jsonl").open("wb") as fh:
        for item in truth:
            fh.write(orjson.dumps(item) + b"\n")
    return {"path": str(path), "connections": len(rows), "truth": truth, "hosts": hosts}
