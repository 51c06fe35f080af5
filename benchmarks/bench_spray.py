"""Benchmark: the whole spray hunt on a ~500,000-sign-in JSON Lines export, against the published method.

    .venv/bin/python benchmarks/bench_spray.py [--rows 500000] [--keep DIR]

1. Simulates a SigninLogs JSON Lines export of about ``--rows`` sign-ins (standard difficulty, with
   confounders) unless ``--keep DIR`` already holds one.
2. tracehound: ``read_signins`` + ``SprayHunter`` fit / score / detect on the default engine (DuckDB),
   timed end to end (reading included, as a user runs it), and separately the hunt alone.
3. Reference: the published MSTIC method as its notebook does it — pandas reads the export and computes
   Dirichlet(α=2) field probabilities, mean − 2σ thresholds and bit-vectors per failed sign-in, then
   bayespy fits the Bernoulli mixture (K = 10, Dirichlet(1e-5), Beta(0.5, 0.5), one random start) on
   *every failed sign-in row*. It has no pruning by time, fingerprint or successes, so it does less.
4. Prints both times and the ratio. bayespy comes with the test extra (``pip install '.[test]'``).
"""

from __future__ import annotations

import argparse
import tempfile
import time
import warnings
from pathlib import Path

import numpy as np
import pandas as pd

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


def run_tracehound(paths: list[Path]) -> tuple[float, float, int, int]:
    from tracehound.engine import connect
    from tracehound.readers.signins import read_signins
    from tracehound.spray import SprayHunter

    with connect("duckdb") as engine:
        t0 = time.perf_counter()
        table, report = read_signins(paths, engine)
        t1 = time.perf_counter()
        hunter = SprayHunter().fit(table, engine)
        findings = hunter.detect(hunter.score(table))
        t2 = time.perf_counter()
    return t2 - t0, t2 - t1, report.records, len(findings)


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
    args = parser.parse_args()
    with tempfile.TemporaryDirectory(prefix="bench-spray-") as tmp:
        folder = args.keep or Path(tmp)
        folder.mkdir(parents=True, exist_ok=True)
        paths = simulate(folder, args.rows)
        total, hunt, records, n_findings = run_tracehound(paths)
        print(f"tracehound (duckdb): {records:,} sign-ins, read + hunt {total:.2f} s "
              f"(hunt alone {hunt:.2f} s), {n_findings} findings")
        if not args.skip_reference:
            ref, clusters = run_reference(paths)
            print(f"reference (pandas + bayespy, notebook method): {ref:.2f} s, {clusters} clusters")
            print(f"ratio reference / tracehound (read + hunt): {ref / total:.1f}x")


if __name__ == "__main__":
    main()
