"""How fast the simulator writes a labelled tenant: events per second, end to end.

Times one ``simulate_signins`` call (tenant, benign sign-ins, confounders, attacks, sort, serialisation,
labels.csv) with the default ``standard`` difficulty, and reports events/s (wall and CPU), bytes written
and peak memory.
About 277 sign-ins per user over 120 days, so ``--users 3600`` ≈ 1 M events and ``--users 36000`` ≈ 10 M.
Run:

    .venv/bin/python benchmarks/bench_simulate_signins.py [--users 3600] [--days 120] [--format jsonl]
        [--gzip] [--files 1] [--keep DIR]
"""

from __future__ import annotations

import argparse
import shutil
import tempfile
import time
from pathlib import Path

from child import peak_rss_mb
from tracehound.simulate.signins import simulate_signins


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--users", type=int, default=3600)
    parser.add_argument("--days", type=int, default=120)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--format", dest="fmt", choices=("jsonl", "parquet"), default="jsonl")
    parser.add_argument("--gzip", action="store_true")
    parser.add_argument("--files", type=int, default=1)
    parser.add_argument("--keep", type=Path, default=None, help="write here and keep the output")
    args = parser.parse_args()

    out = args.keep or Path(tempfile.mkdtemp(prefix="bench-sim-"))
    try:
        t0, cpu0 = time.perf_counter(), time.process_time()
        result = simulate_signins(out, users=args.users, days=args.days, seed=args.seed, fmt=args.fmt,
                                  gzip=args.gzip, files=args.files)
        elapsed, cpu = time.perf_counter() - t0, time.process_time() - cpu0
        size = sum(p.stat().st_size for p in result.paths)
        peak_mb = peak_rss_mb() or 0.0
        print(f"users={args.users} days={args.days} format={args.fmt} gzip={args.gzip} files={len(result.paths)}")
        print(f"events      {result.n_events:,}")
        print(f"wall time   {elapsed:.1f} s")
        print(f"throughput  {result.n_events / elapsed:,.0f} events/s")
        print(f"CPU time    {cpu:.1f} s ({result.n_events / cpu:,.0f} events per CPU-second; wall time also "
              f"counts waiting for disk and for other processes on a shared machine)")
        print(f"output      {size / 1e6:,.0f} MB ({size / result.n_events:,.0f} bytes/event) + labels "
              f"{result.labels_path.stat().st_size / 1e6:,.0f} MB")
        print(f"peak RSS    {peak_mb:,.0f} MB")
    finally:
        if args.keep is None:
            shutil.rmtree(out, ignore_errors=True)


if __name__ == "__main__":
    main()
