"""How fast the sign-in reader turns SigninLogs JSON Lines into the canonical table.

Generates its own file (records with the shared contract's main keys, ~550 bytes each; 2,000
distinct user agents, 20,000 distinct IPs, a third of rows without DeviceDetail / LocationDetails so
ua-parser and the IP-to-country lookup run) and times
``parse_signins`` (parse + enrich into Arrow batches) and ``read_signins`` (the same plus Parquet
staging and the engine reading it back). Run:

    .venv/bin/python benchmarks/bench_read_signins.py [--rows 500000] [--files 1]
"""

from __future__ import annotations

import argparse
import gzip
import os
import random
import tempfile
import time
from pathlib import Path

import orjson
from child import peak_rss_mb

from tracehound.badrecords import ReadReport
from tracehound.engine import connect
from tracehound.readers.enrich import browser_and_os
from tracehound.readers.signins import parse_signins, read_signins

BROWSERS = ["Chrome", "Edge", "Firefox", "Safari"]
SYSTEMS = ["Windows 10", "MacOs", "iOS 17", "Android 14"]
DISTINCT_AGENTS = 2000


def _record(rng: random.Random, i: int, ips: list[str]) -> dict:
    ip = ips[rng.randrange(len(ips))]
    agent = (f"Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like Gecko) "
             f"Chrome/{100 + i % DISTINCT_AGENTS // 20}.0.{i % DISTINCT_AGENTS}.0 Safari/537.36")
    rec = {
        "Id": f"{i:08x}-0000-4000-8000-{rng.getrandbits(48):012x}",
        "TimeGenerated": f"2024-03-{1 + i % 28:02d}T{i % 24:02d}:{i % 60:02d}:{i % 59:02d}.{i % 1000:03d}Z",
        "UserPrincipalName": f"user{rng.randint(0, 4999)}@contoso.com",
        "ResultType": rng.choice(["0", "0", "0", "50126", "50074"]),
        "IPAddress": ip if i % 25 else rng.choice(["2a09:bac5:111:4::1", "2001:db8:5:1::9"]),
        "AppDisplayName": "Office 365 Exchange Online",
        "ClientAppUsed": "Browser",
        "UserAgent": agent,
        "IsInteractive": bool(i % 2),
        "Type": "SigninLogs",
    }
    if i % 3:
        rec["Location"] = "US"
        rec["LocationDetails"] = {"countryOrRegion": "US", "state": "Illinois", "city": "Park Ridge"}
        rec["DeviceDetail"] = {"displayName": "", "operatingSystem": rng.choice(SYSTEMS),
                               "browser": rng.choice(BROWSERS) + " 120.0.0"}
    return rec


def write(folder: Path, rows: int, files: int) -> list[Path]:
    rng = random.Random(7)
    ips = [f"{rng.randint(1, 223)}.{rng.randint(0, 255)}.{rng.randint(0, 255)}.{rng.randint(1, 254)}"
           for _ in range(20_000)]
    paths, per = [], rows // files
    for f in range(files):
        path = folder / (f"part-{f:05d}.jsonl.gz" if files > 1 else "signins.jsonl")
        data = b"".join(orjson.dumps(_record(rng, f * per + i, ips)) + b"\n" for i in range(per))
        path.write_bytes(gzip.compress(data, 1) if files > 1 else data)
        paths.append(path)
    return paths


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--rows", type=int, default=500_000)
    parser.add_argument("--files", type=int, default=1)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        folder = Path(tmp) / "in"
        folder.mkdir()
        t0 = time.perf_counter()
        write(folder, args.rows, args.files)
        size = sum(p.stat().st_size for p in folder.iterdir())
        print(f"wrote {args.rows:,} rows in {args.files:,} file(s), {size / 1e6:.1f} MB, "
              f"{time.perf_counter() - t0:.1f} s")

        agents = [f"Mozilla/5.0 (X11; Linux x86_64; rv:{i}.0) Gecko/20100101 Firefox/{i}.0"
                  for i in range(500, 700)]
        browser_and_os("Mozilla/5.0 warm-up")  # ua-parser compiles its rules on first use
        t0 = time.perf_counter()
        for agent in agents:
            browser_and_os(agent)
        per_agent = (time.perf_counter() - t0) / len(agents)
        print(f"ua-parser: {per_agent * 1000:.2f} ms per distinct user agent (200 fresh agents); "
              f"the file has {DISTINCT_AGENTS:,} distinct agents, "
              f"about {DISTINCT_AGENTS * per_agent:.1f} s of the first read below")

        t0, c0 = time.perf_counter(), time.process_time()
        report = ReadReport()
        rows = sum(b.num_rows for b in parse_signins([folder], report=report))
        dt, cpu = time.perf_counter() - t0, time.process_time() - c0
        peak = peak_rss_mb() or 0.0
        print(f"parse_signins: {rows:,} rows in {dt:.2f} s wall, {cpu:.2f} s CPU "
              f"({rows / dt:,.0f} rows/s); peak RSS so far {peak:.0f} MB; {report.summary()}")

        with connect("duckdb", staging_dir=Path(tmp) / "staging") as engine:
            t0, c0 = time.perf_counter(), time.process_time()
            table, report = read_signins([folder], engine)
            n = engine.scalar(table.count())
            dt, cpu = time.perf_counter() - t0, time.process_time() - c0
            print(f"read_signins (duckdb, ua-parser's own cache now warm): {n:,} rows in {dt:.2f} s "
                  f"wall, {cpu:.2f} s CPU in this process ({n / dt:,.0f} rows/s)")
        print(f"load average during the run: {os.getloadavg()[0]:.1f} on {os.cpu_count()} cores")


if __name__ == "__main__":
    main()
