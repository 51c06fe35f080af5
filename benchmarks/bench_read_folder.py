"""A Sentinel export folder of many five-minute SigninLogs JSON Lines files against one file.

Writes the same sign-ins twice: one JSON Lines file, and a folder of ``--files`` files each holding
five minutes of them (``<yyyy>/<mm>/<dd>/<hh>/<mm>.jsonl``, as a Sentinel / storage-account export
lays them out; records as :mod:`bench_read_signins` writes them, times in order). Each layout is read
in a fresh child process the way the pipeline reads an input — :func:`~tracehound.readers.families.route`
then :func:`~tracehound.readers.families.read_family` — and the row count is taken on the engine, so
the staging of Parquet parts is part of the time. Prints both times and their ratio (issue 15: the
folder within 2x the single file), and each child's own peak memory (``VmHWM``). ``--src`` runs the
children on another source tree (a reference checkout of the code); ``--data`` keeps the files there
and reuses them. Run:

    .venv/bin/python benchmarks/bench_read_folder.py [--files 100000] [--per-file 10] [--src DIR] [--data DIR]
"""

from __future__ import annotations

import argparse
import json
import random
import sys
import tempfile
import time
from datetime import datetime, timedelta, timezone
from pathlib import Path

import orjson

sys.path.insert(0, str(Path(__file__).parent))
from bench_read_signins import _record  # noqa: E402 - the same records as the single-file benchmark
from child import peak_rss_mb, run_child  # noqa: E402

START = datetime(2024, 3, 1, tzinfo=timezone.utc)


def write(root: Path, files: int, per_file: int) -> tuple[Path, Path]:
    """The single file and the export folder, holding the same records in the same order."""
    rng = random.Random(7)
    ips = [f"{rng.randint(1, 223)}.{rng.randint(0, 255)}.{rng.randint(0, 255)}.{rng.randint(1, 254)}"
           for _ in range(20_000)]
    single, folder = root / "one" / "signins.jsonl", root / "export"
    single.parent.mkdir(parents=True)
    step = 300 / per_file
    with open(single, "wb") as whole:
        for f in range(files):
            begin = START + timedelta(minutes=5 * f)
            lines = []
            for i in range(per_file):
                rec = _record(rng, f * per_file + i, ips)
                rec["TimeGenerated"] = (begin + timedelta(seconds=i * step)).strftime("%Y-%m-%dT%H:%M:%S.%fZ")
                lines.append(orjson.dumps(rec) + b"\n")
            data = b"".join(lines)
            whole.write(data)
            path = folder / begin.strftime("%Y/%m/%d/%H/%M.jsonl")
            path.parent.mkdir(parents=True, exist_ok=True)
            path.write_bytes(data)
    return single, folder


def read(path: Path) -> dict:
    """In the child: route and read one input as the pipeline does; time it."""
    from tracehound.engine import connect
    from tracehound.readers.families import read_family, route

    t0 = time.perf_counter()
    with connect("duckdb") as engine:
        routing = route([path])
        t1 = time.perf_counter()
        table, report = read_family("signins", routing.files.get("signins", []),
                                    routing.canonical.get("signins", []), engine)
        rows = engine.scalar(table.count())
        t2 = time.perf_counter()
    return {"route_s": round(t1 - t0, 2), "read_s": round(t2 - t1, 2), "total_s": round(t2 - t0, 2),
            "rows": rows, "files": report.files, "rejected": len(report.bad),
            "peak_rss_mb": peak_rss_mb()}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--files", type=int, default=100_000)
    parser.add_argument("--per-file", type=int, default=10)
    parser.add_argument("--src", type=Path, help="source tree (its src/ folder) the children import")
    parser.add_argument("--data", type=Path, help="keep the layouts in this folder, and reuse them there")
    parser.add_argument("--read", type=Path, help=argparse.SUPPRESS)  # child-process entry
    args = parser.parse_args()
    if args.read:
        print(json.dumps(read(args.read)))
        return
    with tempfile.TemporaryDirectory(prefix="bench-folder-") as tmp:
        root = args.data or Path(tmp)
        t0 = time.perf_counter()
        if args.data and (root / "export").is_dir():
            single, folder = root / "one" / "signins.jsonl", root / "export"
        else:
            single, folder = write(root, args.files, args.per_file)
        written = round(time.perf_counter() - t0, 1)
        one = run_child(__file__, ["--read", str(single)], args.src)
        many = run_child(__file__, ["--read", str(folder)], args.src)
    if one["rows"] != many["rows"]:
        raise SystemExit(f"the layouts read differently: {one['rows']} rows against {many['rows']}")
    print(json.dumps({"files": args.files, "rows": one["rows"], "generate_s": written, "one_file": one,
                      "folder": many, "ratio": round(many["total_s"] / one["total_s"], 2)}, indent=2))


if __name__ == "__main__":
    main()
