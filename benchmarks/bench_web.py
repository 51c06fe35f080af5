"""The web hunt over N access-log lines: parse + sessionise + fit + score + findings, default engine.

Generates its own Apache *combined* log (vectorised numpy/pyarrow, 1M lines per step): ``--clients``
clients (IP + one of 12 user agents) make sessions of 1–20 page views on a 5,000-page site, each view
followed by a few static assets, walking with a per-session stride so the site has a realistic
number of distinct transitions; 0.05 % of sessions are scanners walking random missing paths.
Then, in a fresh child process so its numbers are its own, runs ``read_weblogs`` and
``WebSessionDetector`` (defaults, fitted on everything: ``fit`` → ``score`` → ``detect``) and
reports wall time per step, lines per second, the child's CPU time (user + system, all its threads:
on a shared machine CPU seconds move less than wall seconds) and peak resident memory (``VmHWM``;
includes DuckDB's native memory), and the load average before and after each child.

``--against PATH`` runs the same child a second time on the same file with another tracehound source
tree first on ``PYTHONPATH`` (e.g. ``git archive HEAD src | tar -x -C /tmp/web-base`` and
``--against /tmp/web-base/src``) and prints the ratio of the two runs: the machine is shared, so only
a ratio measured in one command means anything. ``--rounds N`` runs each tree N times, alternating
which goes first, and takes the ratios of the medians. All runs must report the same findings.

    .venv/bin/python benchmarks/bench_web.py [--lines 10000000] [--clients 300000] [--threads 2]
        [--against /tmp/web-base/src [--rounds 3]]
"""

from __future__ import annotations

import argparse
import hashlib
import json
import os
import resource
import tempfile
import time
from datetime import datetime, timezone
from pathlib import Path

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc
from child import peak_rss_mb, run_child

START = int(datetime(2024, 3, 1, tzinfo=timezone.utc).timestamp())
CHUNK = 1_000_000
PAGES = 5_000
AGENTS = [f"Mozilla/5.0 (bench agent {i}) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/12{i}.0" for i in range(12)]


def generate(path: Path, lines: int, clients: int, seed: int = 7) -> None:
    rng = np.random.default_rng(seed)
    ips = pa.array([f"{10 + i // 65536 % 200}.{i // 256 % 256}.{i % 256}.{(i * 7) % 250 + 1}"
                    for i in range(clients)])
    agents = pa.array(AGENTS)
    pages = pa.array([f"/section{p % 40}/page-{p}.html" for p in range(PAGES)]
                     + [f"/static/asset-{a}.png" for a in range(200)]
                     + [f"/probe-{k}.php" for k in range(20_000)])
    written = 0
    with path.open("w", encoding="utf-8") as out:
        while written < lines:
            n = min(CHUNK, lines - written)
            sessions = n // 4 + 1  # mean length 8, so the sessions always cover n lines
            length = rng.integers(1, 16, size=sessions)
            sid = np.repeat(np.arange(sessions), length)[:n]
            step = (np.arange(len(sid)) - np.repeat(np.cumsum(length) - length, length)[:n])
            start_page = rng.integers(0, PAGES, size=sessions)
            stride = rng.integers(1, 6, size=sessions)
            page = (start_page[sid] + step * stride[sid]) % PAGES
            asset = rng.random(n) < 0.5
            page = np.where(asset, PAGES + rng.integers(0, 200, size=n), page)
            scanner = rng.random(sessions) < 0.0005
            page = np.where(scanner[sid], PAGES + 200 + rng.integers(0, 20_000, size=n), page)
            status = np.where(scanner[sid], 404, 200)
            client = rng.integers(0, clients, size=sessions)[sid]
            t0 = START + rng.integers(0, 30 * 86400, size=sessions)
            secs = t0[sid] + step * rng.integers(5, 90, size=n)
            stamp = pc.strftime(pa.array(secs).cast(pa.timestamp("s", tz="UTC")),
                                format="%d/%b/%Y:%H:%M:%S +0000")
            text = pc.binary_join_element_wise(
                pc.take(ips, pa.array(client)), " - - [", stamp, '] "GET ', pc.take(pages, pa.array(page)),
                ' HTTP/1.1" ', pc.cast(pa.array(status), pa.string()), " ",
                pc.cast(pa.array(rng.integers(200, 90_000, size=n)), pa.string()), ' "-" "',
                pc.take(agents, pa.array(client % len(AGENTS))), '"', "")
            out.write("\n".join(text.to_pylist()))
            out.write("\n")
            written += n


def run(path: Path, threads: int) -> dict:
    import tracehound
    from tracehound.engine import connect
    from tracehound.findings import dumps
    from tracehound.readers.weblogs import read_weblogs
    from tracehound.web.scoring import WebSessionDetector

    timings = {}
    with connect("duckdb", threads=threads) as engine:
        t0 = time.perf_counter()
        requests, report = read_weblogs([path], engine)
        timings["read_parse_s"] = time.perf_counter() - t0
        t1 = time.perf_counter()
        detector = WebSessionDetector().fit(requests, engine)
        timings["fit_s"] = time.perf_counter() - t1
        t2 = time.perf_counter()
        findings = detector.detect(detector.score(requests))
        timings["score_detect_s"] = time.perf_counter() - t2
        total = time.perf_counter() - t0
    digest = hashlib.sha256(b"\n".join(dumps(f) for f in findings)).hexdigest()[:16]
    return {"lines": report.records, "bad": report.bad_count, "clients_in_model": detector.n_clients_,
            "transitions_in_model": detector.model_.n_transitions_, "findings": len(findings),
            "findings_sha256": digest, "code": str(Path(tracehound.__file__).parent.parent),
            **{k: round(v, 2) for k, v in timings.items()}, "total_s": round(total, 2),
            "lines_per_second": round(report.records / total), "cpu_s": round(_cpu_seconds(), 2),
            "peak_rss_mb": peak_rss_mb()}


def _cpu_seconds() -> float:
    """User + system CPU seconds of this process so far, every thread (DuckDB's included)."""
    usage = resource.getrusage(resource.RUSAGE_SELF)
    return usage.ru_utime + usage.ru_stime


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--lines", type=int, default=10_000_000)
    parser.add_argument("--clients", type=int, default=300_000)
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--against", help="another tracehound source tree (its src/) to compare with")
    parser.add_argument("--rounds", type=int, default=1,
                        help="with --against: runs of each tree, alternating which goes first")
    parser.add_argument("--child", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.child:
        print(json.dumps(run(Path(args.child), args.threads)))
        return
    with tempfile.TemporaryDirectory(prefix="bench-web-") as tmp:
        path = Path(tmp) / "access.log"
        t0 = time.perf_counter()
        generate(path, args.lines, args.clients)
        gen_s = time.perf_counter() - t0
        if not args.against:
            result = _child(path, args.threads, None)
        else:
            result = _compare(path, args.threads, args.against, args.rounds)
        result.update(generate_s=round(gen_s, 1), file_mb=round(path.stat().st_size / 2**20), threads=args.threads)
        print(json.dumps(result, indent=2))


def _compare(path: Path, threads: int, against: str, rounds: int) -> dict:
    """``rounds`` runs of this tree and of ``against``, alternating which goes first (A B, B A, ...)
    so a change in the machine's load hits both; the ratios are of the medians."""
    mine: list[dict] = []
    theirs: list[dict] = []
    for r in range(rounds):
        order = [(mine, None), (theirs, against)]
        for runs, source in (order if r % 2 == 0 else order[::-1]):
            runs.append(_child(path, threads, source))
    result = dict(mine[0]) if rounds == 1 else {**mine[0], "runs": mine}
    base = dict(theirs[0]) if rounds == 1 else {**theirs[0], "runs": theirs}

    def median(runs: list[dict], key: str) -> float:
        return float(np.median([run[key] for run in runs]))

    result["against"] = base
    for key in ("total_s", "read_parse_s", "fit_s", "score_detect_s", "cpu_s", "peak_rss_mb"):
        result[f"median_{key}"], base[f"median_{key}"] = median(mine, key), median(theirs, key)
    result["speedup_total"] = round(median(theirs, "total_s") / median(mine, "total_s"), 2)
    result["speedup_read_parse"] = round(median(theirs, "read_parse_s") / median(mine, "read_parse_s"), 2)
    result["cpu_ratio"] = round(median(mine, "cpu_s") / median(theirs, "cpu_s"), 2)
    result["rss_ratio"] = round(median(mine, "peak_rss_mb") / median(theirs, "peak_rss_mb"), 2)
    result["same_findings"] = len({run["findings_sha256"] for run in mine + theirs}) == 1
    return result


def _child(path: Path, threads: int, source: str | None) -> dict:
    """One measured run in a fresh process, with ``source`` (a tracehound ``src/``) first on the path,
    and the load average (1 minute) just before and after it."""
    before = os.getloadavg()[0]
    result = run_child(__file__, ["--child", str(path), "--threads", str(threads)], source)
    return {**result, "load_before": round(before, 2), "load_after": round(os.getloadavg()[0], 2)}


if __name__ == "__main__":
    main()
