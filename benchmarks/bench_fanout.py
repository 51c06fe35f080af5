"""The lateral-movement hunt over N logon events in canonical Parquet, on the default engine.

Generates its own data (vectorised numpy, written in 1M-row Parquet parts with the canonical
``logons`` schema): 30 days, ``--users`` users each with 1–3 usual servers out of 5,000 hosts and a
1 % chance per logon of a random host, 90 % network logons (type 3), working-hour times. Then, in a
fresh child process so its numbers are its own, fits, scores and detects with :class:`FanoutDetector`
and the ``lateral`` preset (14-day baseline, newest hour, where one 30-host burst is planted) and reports
wall time per step and the child's peak resident memory (``VmHWM``, which includes DuckDB's
native allocations). ``--src`` also runs the hunt on another source tree (a reference checkout's
``src/``) in the same way and prints the ratio; ``--data`` keeps the generated Parquet in a folder and
reuses it. Run:

    .venv/bin/python benchmarks/bench_fanout.py [--rows 50000000] [--users 20000] [--threads 2]
        [--src /tmp/base/src] [--data /tmp/fanout-50m]
"""

from __future__ import annotations

import argparse
import json
import tempfile
import time
from datetime import datetime, timezone
from pathlib import Path

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.parquet as pq
from child import peak_rss_mb, run_child

from tracehound.schema import LOGONS

START = int(datetime(2024, 3, 1, tzinfo=timezone.utc).timestamp())
PART_ROWS = 1_000_000
N_HOSTS = 5_000


def generate(folder: Path, rows: int, users: int, seed: int = 7) -> None:
    rng = np.random.default_rng(seed)
    user_names = pa.array([f"user{i:06d}" for i in range(users)])
    hosts = pa.array([f"HOST-{i:05d}" for i in range(N_HOSTS)])
    usual = rng.integers(0, N_HOSTS, size=(users, 3))
    n_usual = rng.integers(1, 4, size=users)
    done, part = 0, 0
    while done < rows:
        n = min(PART_ROWS, rows - done)
        u = rng.integers(0, users, size=n)
        pick = usual[u, rng.integers(0, 3, size=n) % n_usual[u]]
        target = np.where(rng.random(n) < 0.01, rng.integers(0, N_HOSTS, size=n), pick)
        day = rng.integers(0, 30, size=n)
        secs = START + day * 86400 + (rng.normal(13, 2.5, size=n).clip(0, 23.99) * 3600).astype(np.int64)
        ids = pc.binary_join_element_wise("bench:", pc.cast(pa.array(np.arange(done, done + n)), pa.string()), "")
        table = pa.table({
            "event_id": ids,
            "time": pa.array(secs * 1_000_000, pa.int64()).cast(pa.timestamp("us", tz="UTC")),
            "user": pc.take(user_names, pa.array(u)),
            "domain": pa.array(np.full(n, "CORP")),
            "target_host": pc.take(hosts, pa.array(target)),
            "source_ip": pa.nulls(n, pa.string()),
            "source_host": pc.take(hosts, pa.array(usual[u, 0])),
            "logon_type": pa.array(np.where(rng.random(n) < 0.9, 3, 2)),
            "event_code": pa.array(np.full(n, 4624)),
            "success": pa.array(np.ones(n, dtype=bool)),
            "source": pa.array(np.full(n, "bench")),
            "auth_protocol": pa.array(np.full(n, "kerberos")),
            "failure_kind": pa.nulls(n, pa.string()),
            "status": pa.nulls(n, pa.int64()),
        }, schema=LOGONS)
        pq.write_table(table, folder / f"part-{part:05d}.parquet")
        done += n
        part += 1
    # one planted burst in the newest hour, so detect() has a finding to build at full scale
    t = (START + 29 * 86400 + 23 * 3600 + 1800 + np.arange(30)) * 1_000_000
    burst = pa.table({
        "event_id": [f"burst:{i}" for i in range(30)],
        "time": pa.array(t, pa.int64()).cast(pa.timestamp("us", tz="UTC")),
        "user": ["user000000"] * 30, "domain": ["CORP"] * 30,
        "target_host": [f"VICTIM-{i:02d}" for i in range(30)], "source_ip": [None] * 30,
        "source_host": ["HOST-00000"] * 30, "logon_type": [3] * 30, "event_code": [4624] * 30,
        "success": [True] * 30, "source": ["bench"] * 30, "auth_protocol": ["kerberos"] * 30,
        "failure_kind": [None] * 30, "status": [None] * 30,
    }, schema=LOGONS)
    pq.write_table(burst, folder / f"part-{part:05d}.parquet")


def hunt(folder: Path, threads: int) -> dict:
    """Run in the child: fit, score and detect, timing each step."""
    from tracehound.engine import connect
    from tracehound.fanout import FanoutDetector

    timings = {}
    with connect("duckdb", threads=threads) as engine:
        table = engine.read_parquet(folder)
        t0 = time.perf_counter()
        det = FanoutDetector("lateral", baseline_days=14, detect_last="1h").fit(table, engine)
        timings["fit_s"] = round(time.perf_counter() - t0, 2)
        t1 = time.perf_counter()
        scores = det.score(table)
        timings["score_s"] = round(time.perf_counter() - t1, 2)
        t2 = time.perf_counter()
        findings = det.detect(scores)
        timings["detect_s"] = round(time.perf_counter() - t2, 2)
        timings["entities"] = scores.baseline_entities
        timings["findings"] = len(findings)
        timings["finding_ids"] = sorted(f.id for f in findings)
        timings["event_ids"] = sum(len(f.event_ids) for f in findings)
    timings["peak_rss_mb"] = peak_rss_mb()
    return timings


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rows", type=int, default=50_000_000)
    parser.add_argument("--users", type=int, default=20_000)
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--src", type=Path, help="reference source tree (its src/) to compare with")
    parser.add_argument("--data", type=Path, help="keep the generated Parquet here, and reuse it")
    parser.add_argument("--hunt", type=Path, help=argparse.SUPPRESS)  # child-process entry
    args = parser.parse_args()
    if args.hunt:
        print(json.dumps(hunt(args.hunt, args.threads)))
        return
    with tempfile.TemporaryDirectory(prefix="bench-fanout-") as tmp:
        folder = args.data or Path(tmp)
        folder.mkdir(parents=True, exist_ok=True)
        t0 = time.perf_counter()
        if not any(folder.glob("*.parquet")):
            generate(folder, args.rows, args.users)
        gen_s = time.perf_counter() - t0
        size_mb = sum(p.stat().st_size for p in folder.glob("*.parquet")) / 2**20
        result = _child(folder, args.threads, None)
        if args.src:
            reference = _child(folder, args.threads, args.src)
            result["reference"] = reference
            result["ratio"] = round(reference["hunt_wall_s"] / result["hunt_wall_s"], 2)
            same = ("findings", "finding_ids", "event_ids", "entities")
            if any(reference[key] != result[key] for key in same):
                raise SystemExit(f"the reference found something else: {reference} against {result}")
    result.update(rows=args.rows, users=args.users, threads=args.threads, parquet_mb=round(size_mb, 1),
                  generate_s=round(gen_s, 1))
    print(json.dumps(result, indent=2))


def _child(folder: Path, threads: int, src: Path | None) -> dict:
    """Hunt in a fresh process (on ``src`` when given); its timings and its wall time."""
    t0 = time.perf_counter()
    result = run_child(__file__, ["--hunt", str(folder), "--threads", str(threads)], src)
    result["hunt_wall_s"] = round(time.perf_counter() - t0, 1)
    return result


if __name__ == "__main__":
    main()
