"""Benchmark: the whole spray hunt on a ~500,000-sign-in JSON Lines export, against the published method.

    .venv/bin/python benchmarks/bench_spray.py [--rows 500000] [--keep DIR] [--against OTHER/src]

1. Simulates a SigninLogs JSON Lines export of about ``--rows`` sign-ins (standard difficulty, with
   confounders) unless ``--keep DIR`` already holds one.
2. tracehound: ``read_signins`` + ``SprayHunter`` fit / score / detect on the default engine (DuckDB),
   timed end to end (reading included, as a user runs it), and separately the hunt alone.
3. Reference: the published MSTIC method as its notebook does it — pandas reads the export and computes
   Dirichlet(α=2) field probabilities, mean − 2σ thresholds and bit-vectors per failed sign-in, then
   bayespy fits the Bernoulli mixture (K = 10, Dirichlet(1e-5), Beta(0.5, 0.5), one random start) on
   *every failed sign-in row*. It has no pruning by time, fingerprint or successes, so it does less.
4. Prints both times and the ratio. bayespy comes with the test extra (``pip install '.[test]'``).
   ``--reference-repeat N`` runs the published method N times (its time moves with this shared host
   more than tracehound's does) and takes the median.
5. The bare parse: DuckDB alone reading the same file(s) for three aggregates (``count(*)``, distinct
   users, distinct addresses), the floor any hunt over them pays; tracehound's time is printed as a
   multiple of it.

``--copies N`` hunts a canonical ``signins`` Parquet file of N copies of the export instead (each copy's
accounts and event ids suffixed, so N tenants' worth of users under the same attackers; written once into
``--keep``): the scale run (``--copies 20`` ≈ 10M sign-ins). The published method reads JSON and is not run
then; the bare parse reads the Parquet.

Each tracehound run is a fresh child process (so one run's caches and memory never help the next), and it
reports its own peak resident memory (``VmHWM``) and CPU time (all threads: on a shared machine the
wall time moves with the load, the work done much less). ``--against OTHER/src`` also runs the same child on the same
file with another tracehound source tree first on ``PYTHONPATH`` — e.g. the code at an earlier commit
(``git archive <commit> src | tar -x -C /tmp/spray-base``) — alternating the two ``--repeat`` times, and prints
the ratio of their medians. ``--calls`` also times the hunt's engine calls one by one, and Ibis compiling
them, and prints the costliest with the Python time around them (``benchmarks/calls.py``): where the hunt's
time goes, before and after a change. Trees from before the hunt contract (``fit(t, engine=)``, ``to_findings(score())``)
are run with that older calling convention.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import statistics
import tempfile
import time
import warnings
from pathlib import Path

import numpy as np
import pandas as pd
from calls import EngineCalls, summary
from child import peak_rss_mb, run_child

FIELDS = ["AppDisplayName", "ClientAppUsed", "browser", "operatingSystem", "displayName", "ip_prefix",
          "countryOrRegion", "state", "city"]


def simulate(folder: Path, rows: int) -> list[Path]:
    from tracehound.simulate.signins import simulate_signins

    existing = sorted(folder.glob("*.jsonl"))
    if existing:
        return existing
    users = 2000
    days = max(7, round(rows / (users * 2.3)))  # the simulator's tenants average ~2.3 sign-ins/user/day
    return simulate_signins(folder, users=users, days=days, seed=11, difficulty="standard").paths


def copies(folder: Path, paths: list[Path], n: int) -> list[Path]:
    """``n`` copies of the export as one canonical ``signins`` Parquet file (built once in ``folder``)."""
    import duckdb

    from tracehound.engine import connect
    from tracehound.readers.signins import read_signins

    target = folder / f"signins-x{n}.parquet"
    if target.exists():
        return [target]
    with connect("duckdb") as engine:
        table, _ = read_signins(paths, engine)
        one = folder / "signins-x1.parquet"
        engine.write_parquet(table, one)
    con = duckdb.connect()
    columns = con.sql(f"SELECT * FROM read_parquet('{one}') LIMIT 0").columns
    renamed = {"user": "replace(\"user\", '@', '.t' || k || '@')", "event_id": "event_id || '-' || k"}
    select = ", ".join(f'{renamed.get(c, chr(34) + c + chr(34))} AS "{c}"' for c in columns)
    con.execute(f"COPY (SELECT {select} FROM read_parquet('{one}'), range({n}) AS r(k)) TO '{target}' "
                "(FORMAT parquet, ROW_GROUP_SIZE 500000)")
    one.unlink()
    return [target]


def bare_parse(paths: list[Path]) -> float:
    """Seconds DuckDB takes to read ``paths`` for three aggregates: the floor under any hunt."""
    import duckdb

    files = [str(p) for p in paths]
    con = duckdb.connect()
    if files[0].endswith(".parquet"):
        source, user, ip = f"read_parquet({files})", '"user"', "ip"
    else:
        source, user, ip = f"read_json({files}, format = 'newline_delimited')", "UserPrincipalName", "IPAddress"
    t0 = time.perf_counter()
    con.sql(f"SELECT count(*), count(DISTINCT {user}), count(DISTINCT {ip}) FROM {source}").fetchall()
    return time.perf_counter() - t0


def run_tracehound(paths: list[Path], calls: bool = False) -> dict:
    """Read + hunt in this process (the child): times, records, findings and own peak memory; with
    ``calls``, also the hunt's engine calls timed one by one (:class:`calls.EngineCalls`)."""
    from tracehound.engine import connect
    from tracehound.readers.signins import read_signins
    from tracehound.spray import SprayHunter

    timer = EngineCalls() if calls else contextlib.nullcontext()
    with connect("duckdb") as engine:
        t0, c0 = time.perf_counter(), time.process_time()
        table, report = read_signins(paths, engine)
        t1, c1 = time.perf_counter(), time.process_time()
        hunter = SprayHunter()
        with timer:
            if hasattr(hunter, "to_findings"):  # a tree from before the hunt contract
                hunter.fit(table, engine=engine)
                findings = hunter.to_findings(hunter.score())
            else:
                hunter.fit(table, engine)
                findings = hunter.detect(hunter.score(table))
        t2, c2 = time.perf_counter(), time.process_time()
    out = {"total_s": t2 - t0, "hunt_s": t2 - t1, "total_cpu_s": c2 - c0, "hunt_cpu_s": c2 - c1,
           "records": report.records, "findings": len(findings), "peak_mb": peak_rss_mb()}
    if calls:
        out["calls"] = timer.rows()
    return out


def _child(paths: list[Path], src: str | None, calls: bool = False) -> dict:
    """One tracehound run in a fresh interpreter, on ``src`` (another tree) or this one."""
    return run_child(__file__, ["--child", *map(str, paths), *(["--calls"] if calls else [])], src)


def print_calls(name: str, result: dict) -> None:
    """Where one run's hunt went: its engine calls (Ibis compiling apart) and the Python around them."""
    rows = result["calls"]
    inside = sum(r["wall_s"] for r in rows)
    print(f"where the hunt's {result['hunt_s']:.2f} s went ({name}, first run): engine calls {inside:.2f} s, "
          f"the Python around them {result['hunt_s'] - inside:.2f} s")
    print(summary(rows))


def run_reference(paths: list[Path]) -> tuple[float, int]:
    """The notebook's method: pandas for the features, bayespy on every failed row."""
    from bayespy.inference import VB
    from bayespy.nodes import Bernoulli, Beta, Categorical, Dirichlet, Mixture

    t0 = time.perf_counter()
    df = pd.concat([pd.read_json(p, lines=True) for p in paths], ignore_index=True)
    loc = pd.json_normalize(df["LocationDetails"])
    dev = pd.json_normalize(df["DeviceDetail"])
    data = pd.DataFrame({
        "AppDisplayName": df.AppDisplayName, "ClientAppUsed": df.ClientAppUsed,
        "browser": dev.get("browser"), "operatingSystem": dev.get("operatingSystem"),
        "displayName": dev.get("displayName"),
        "ip_prefix": df.IPAddress.astype(str).str.rsplit(".", n=1).str[0],
        "countryOrRegion": loc.get("countryOrRegion"), "state": loc.get("state"), "city": loc.get("city"),
        "ResultType": df.ResultType.astype(str),
    }).fillna("")
    success = data[data.ResultType == "0"]
    failed = data[data.ResultType.isin(["50126", "50055"])]
    bits = np.zeros((len(failed), len(FIELDS)), dtype=int)
    alpha = 2.0
    for i, f in enumerate(FIELDS):
        values = pd.concat([success[f], failed[f]]).unique()
        n = success[f].value_counts().reindex(values, fill_value=0)
        p = (n + alpha) / (n.sum() + alpha * len(values))
        logp = np.log(p)
        w = n.to_numpy(dtype=float)
        mean = np.average(logp, weights=w)
        sd = np.sqrt(np.average((logp - mean) ** 2, weights=w))
        bits[:, i] = (np.log(p.reindex(failed[f]).to_numpy()) < mean - 2 * sd).astype(int)
    K = 10
    R = Dirichlet(K * [1e-5])
    Z = Categorical(R, plates=(len(bits), 1))
    P = Beta([0.5, 0.5], plates=(len(FIELDS), K))
    X = Mixture(Z, Bernoulli, P)
    Q = VB(X, Z, R, P)
    P.initialize_from_random()
    X.observe(bits)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        Q.update(repeat=200, tol=1e-6, verbose=False)
    labels = Z.get_moments()[0][:, 0, :].argmax(axis=1)
    return time.perf_counter() - t0, len(np.unique(labels))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--rows", type=int, default=500_000)
    parser.add_argument("--keep", type=Path, help="Folder to reuse / keep the simulated export in.")
    parser.add_argument("--skip-reference", action="store_true")
    parser.add_argument("--reference-repeat", type=int, default=1,
                        help="runs of the published method (its time moves with the host; the ratio uses the median)")
    parser.add_argument("--against", help="another tracehound source tree (its src/) to compare with")
    parser.add_argument("--repeat", type=int, default=3, help="runs of each tree with --against (alternating)")
    parser.add_argument("--copies", type=int, default=0,
                        help="hunt a canonical Parquet of this many copies of the export (the scale run)")
    parser.add_argument("--calls", action="store_true",
                        help="time the hunt's engine calls one by one (and Ibis compiling them) and print the costliest")
    parser.add_argument("--child", nargs="+", type=Path, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.child:
        print(json.dumps(run_tracehound(args.child, calls=args.calls)))
        return
    with tempfile.TemporaryDirectory(prefix="bench-spray-") as tmp:
        folder = args.keep or Path(tmp)
        folder.mkdir(parents=True, exist_ok=True)
        paths = simulate(folder, args.rows)
        if args.copies:
            paths = copies(folder, paths, args.copies)
        runs: dict[str, list[dict]] = {"this tree": [], "against": []}
        for _ in range(args.repeat if args.against else 1):
            if args.against:
                runs["against"].append(_child(paths, args.against, args.calls))
            runs["this tree"].append(_child(paths, None, args.calls))
        for name, results in runs.items():
            if results:
                print(f"tracehound ({name}, duckdb): {results[0]['records']:,} sign-ins, "
                      f"{results[0]['findings']} findings; read + hunt "
                      + ", ".join(f"{r['total_s']:.2f}" for r in results) + " s; hunt alone "
                      + ", ".join(f"{r['hunt_s']:.2f}" for r in results) + " s; CPU (all threads) read + hunt "
                      + ", ".join(f"{r['total_cpu_s']:.2f}" for r in results) + " s, hunt alone "
                      + ", ".join(f"{r['hunt_cpu_s']:.2f}" for r in results) + " s; peak "
                      + ", ".join(f"{r['peak_mb']}" for r in results) + " MB")
                if args.calls:
                    print_calls(name, results[0])
        if args.against:
            for key, label in (("total_s", "read + hunt"), ("hunt_s", "hunt alone"),
                               ("total_cpu_s", "CPU, read + hunt"), ("hunt_cpu_s", "CPU, hunt alone")):
                this = statistics.median(r[key] for r in runs["this tree"])
                other = statistics.median(r[key] for r in runs["against"])
                print(f"ratio this tree / against ({label}, medians): {this / other:.2f}")
        total = statistics.median(r["total_s"] for r in runs["this tree"])
        bare = statistics.median(bare_parse(paths) for _ in range(3))
        print(f"bare parse (DuckDB, three aggregates, median of 3): {bare:.2f} s; "
              f"tracehound read + hunt / bare parse: {total / bare:.1f}x")
        if not args.skip_reference and not args.copies:
            refs = [run_reference(paths) for _ in range(max(1, args.reference_repeat))]
            ref = statistics.median(r[0] for r in refs)
            print("reference (pandas + bayespy, notebook method): " + ", ".join(f"{r[0]:.2f}" for r in refs)
                  + f" s, {refs[0][1]} clusters")
            print(f"ratio reference / tracehound (read + hunt, medians): {ref / total:.1f}x")


if __name__ == "__main__":
    main()
