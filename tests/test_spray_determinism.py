"""The spray hunt gives the same findings for the same input, whatever order the rows come in.

Engines return the groups of an aggregate in whatever order their threads finish, so every step
that brings an aggregate back to Python must not depend on that order: the mixture's seeding (the
order of the bit-patterns), campaign numbering (the order of the value combinations), float sums
(entropy, mean posterior, the mean − kσ threshold) and the order of dict-valued evidence. The
end-to-end tests hunt one small simulated tenant as read and with its rows permuted, in separate
processes with different string-hash seeds, and on each engine against DuckDB; the unit tests feed
each order-sensitive helper the same aggregate in shuffled orders.
"""

from __future__ import annotations

import hashlib
import os
import subprocess
import sys
from pathlib import Path

import ibis
import numpy as np
import pandas as pd
import pyarrow as pa
import pytest

from tracehound.findings import dumps
from tracehound.schema import SIGNINS
from tracehound.spray import SprayHunter
from tracehound.spray.fingerprint import FingerprintRules, campaign_members, label_fields
from tracehound.spray.rotation import rotation_tests
from tracehound.spray.rarity import field_rarity

SIM = dict(users=250, days=50, seed=2)


@pytest.fixture(scope="module")
def tenant(tmp_path_factory) -> list[Path]:
    """A small simulated tenant (standard difficulty: several campaigns and all confounders)."""
    from tracehound.simulate.signins import simulate_signins

    sim = simulate_signins(tmp_path_factory.mktemp("det-tenant"), fmt="parquet", **SIM)
    return list(sim.paths)


def _canonical(paths: list[Path], staging: Path) -> pa.Table:
    from tracehound.engine import connect
    from tracehound.readers.signins import read_signins

    eng = connect("duckdb", staging_dir=staging)
    try:
        table, _ = read_signins(paths, eng)
        frame = eng.to_pandas(table.order_by("event_id"))
    finally:
        eng.close()
    return pa.Table.from_pandas(frame, schema=SIGNINS, preserve_index=False)


@pytest.fixture(scope="module")
def canonical(tenant, tmp_path_factory) -> pa.Table:
    """The tenant as a canonical ``signins`` Arrow table, rows in event-id order."""
    return _canonical(tenant, tmp_path_factory.mktemp("det-read"))


def digest(findings, clusters: pd.DataFrame) -> str:
    """Every finding as serialised (key order included) and the per-cluster table, as one hash."""
    blob = b"\n".join(dumps(f) for f in findings) + clusters.to_json(
        orient="records", date_format="iso", default_handler=str).encode()
    return hashlib.sha256(blob).hexdigest()


def hunted(table: pa.Table, engine) -> tuple[list, pd.DataFrame]:
    """Findings and per-cluster table of ``table`` loaded on ``engine``, fitted and scored on itself."""
    signins = engine.load(table, "det_signins")
    hunter = SprayHunter().fit(signins, engine)
    scores = hunter.score(signins)
    return hunter.detect(scores), scores.clusters


def hunt_digest(table: pa.Table, engine) -> str:
    return digest(*hunted(table, engine))


@pytest.fixture(scope="module")
def reference(canonical, duckdb_engine) -> str:
    """The DuckDB hunt of the tenant in event-id order, checked to have something to get wrong."""
    findings, clusters = hunted(canonical, duckdb_engine)
    assert sum(f.kind == "password_spray" for f in findings) >= 2
    assert any(f.success_event_ids for f in findings)
    return digest(findings, clusters)


def test_row_order_does_not_change_findings(canonical, reference, engine):
    """Permuted rows, same findings, on each engine: and on Spark the same as on DuckDB.

    Spark hunts one permutation (each hunt there takes minutes on two cores), DuckDB two.
    """
    n = canonical.num_rows
    orders = [np.random.default_rng(2).permutation(n)]
    if engine.name == "duckdb":
        orders.append(np.arange(n)[::-1])
    for order in orders:
        assert hunt_digest(canonical.take(pa.array(order)), engine) == reference


def test_rerun_in_one_process_gives_the_same_findings(canonical, reference, duckdb_engine):
    assert hunt_digest(canonical, duckdb_engine) == reference


SCRIPT = """
import sys
from pathlib import Path
import pyarrow.parquet as pq
from tracehound.engine import connect
from tests.test_spray_determinism import hunt_digest
eng = connect("duckdb", staging_dir=Path(sys.argv[1]))
print(hunt_digest(pq.read_table(sys.argv[2]), eng))
eng.close()
"""


def test_fresh_process_with_another_hash_seed_agrees(canonical, reference, tmp_path):
    """String hashing (set and dict order of strings) is randomised per process; findings are not.

    This process runs with a random hash seed (or whatever the caller set); the child with 0 or 1.
    """
    import pyarrow.parquet as pq

    path = tmp_path / "signins.parquet"
    pq.write_table(canonical, path)
    seed = "1" if os.environ.get("PYTHONHASHSEED") == "0" else "0"
    env = {**os.environ, "PYTHONHASHSEED": seed}
    run = subprocess.run([sys.executable, "-c", SCRIPT, str(tmp_path / "stage"), str(path)],
                         env=env, capture_output=True, text=True, timeout=600,
                         cwd=Path(__file__).resolve().parent.parent)
    assert run.returncode == 0, run.stderr[-2000:]
    assert run.stdout.strip().splitlines()[-1] == reference


# -- the order-sensitive helpers, fed shuffled aggregates ------------------------------------------

def _shuffles(frame: pd.DataFrame, n: int = 5):
    for seed in range(n):
        yield frame.sample(frac=1.0, random_state=seed).reset_index(drop=True)


def test_field_rarity_is_bit_identical_in_any_row_order():
    rng = np.random.default_rng(0)
    values = [f"v{i}" for i in range(300)]
    counts = pd.DataFrame({"feature": "browser", "value": values,
                           "n_success": rng.zipf(1.6, size=300).clip(max=10**6),
                           "n_failed": rng.integers(0, 5, size=300)})
    for rule in ("mean-sd", "tail"):
        ref = field_rarity(counts, "browser", alpha=1.0, rule=rule, k_sd=2.0, tail_mass=0.01)
        for shuffled in _shuffles(counts):
            got = field_rarity(shuffled, "browser", alpha=1.0, rule=rule, k_sd=2.0, tail_mass=0.01)
            assert got.threshold_log_p == ref.threshold_log_p          # exactly, not approximately
            pd.testing.assert_frame_equal(got.values, ref.values)      # same rows in the same order


def test_label_fields_do_not_follow_the_engines_row_order():
    rng = np.random.default_rng(1)
    features = ("app", "browser", "city")
    rarities = {f: field_rarity(pd.DataFrame({"feature": f, "value": [f"{f}{i}" for i in range(40)],
                                              "n_success": rng.integers(0, 500, 40), "n_failed": 0}),
                                f, alpha=1.0, rule="tail", k_sd=2.0, tail_mass=0.05) for f in features}
    vc = pd.DataFrame([(c, f, f"{f}{i}", int(n)) for c in (0, 3) for f in features
                       for i, n in enumerate(rng.integers(1, 60, 12))],
                      columns=["cluster", "feature", "value", "n"])
    hist = vc.groupby(["cluster", "feature", "n"], as_index=False).agg(values=("value", "count"))
    top = vc.sort_values(["n", "value"], ascending=[False, True]).groupby(["cluster", "feature"]).head(5)
    ref = label_fields(hist, top, rarities, FingerprintRules())
    assert list(ref) == [0, 3] and all(list(ref[c]) == list(features) for c in ref)
    for h, t in zip(_shuffles(hist), _shuffles(top)):
        got = label_fields(h, t, rarities, FingerprintRules())
        assert got == ref
        assert [list(got[c]) for c in got] == [list(ref[c]) for c in ref]  # dict order too


def test_rotation_tests_do_not_follow_the_engines_row_order():
    rng = np.random.default_rng(3)
    by_bin = pd.DataFrame([(c, f, v, b, int(rng.integers(1, 9))) for c in (0, 2) for f in ("app", "client_app")
                           for v in ("a", "b", "c") for b in range(8)],
                          columns=["campaign", "feature", "value", "tbin", "n"])
    by_user = pd.DataFrame([(c, f, f"u{i}", int(rng.integers(1, 4)), int(rng.integers(1, 3)))
                            for c in (0, 2) for f in ("app", "client_app") for i in range(30)],
                           columns=["campaign", "feature", "user", "n", "values"])
    ref = rotation_tests(by_bin, by_user)
    assert set(ref) == {(c, f) for c in (0, 2) for f in ("app", "client_app")}
    for b, u in zip(_shuffles(by_bin), _shuffles(by_user)):
        assert rotation_tests(b, u) == ref


def test_campaign_members_break_ties_by_cluster():
    spans = pd.DataFrame({"cluster": [4, 1, 7, 1], "n": [10, 6, 3, 4]})
    for shuffled in _shuffles(spans):
        assert campaign_members(shuffled) == [1, 4, 7]  # 1 and 4 tie at 10 attempts: lower first


@pytest.mark.parity
def test_duplicate_event_ids_keep_the_same_copy_in_any_row_order(engine):
    """Overlapping exports repeat events; when two copies disagree, which one is kept must not
    depend on the order the engine meets them (earliest first, then the other columns)."""
    from datetime import datetime, timezone

    from tracehound.spray.rarity import scoped_signins

    t0 = datetime(2024, 3, 1, 12, tzinfo=timezone.utc)
    rows = [dict(event_id=f"e{i % 4}", time=t0, user="a@x.com", result=50126, success=False,
                 ip=ip, ip_prefix=None, country=None, state=None, city=city, app="OfficeHome",
                 client_app="Browser", user_agent=None, browser=None, os=None, device_name=None,
                 is_interactive=True, source="x.jsonl")
            for i, (ip, city) in enumerate([("10.0.0.9", "Oslo"), ("10.0.0.2", None), ("10.0.0.5", "Rome"),
                                            ("10.0.0.7", "Lima"), ("10.0.0.1", "Kyiv"), ("10.0.0.3", None),
                                            ("10.0.0.8", "Riga"), ("10.0.0.4", "Baku")])]
    table = pa.Table.from_pylist(rows, schema=SIGNINS)
    kept = []
    for order in (range(8), reversed(range(8)), [3, 6, 0, 5, 2, 7, 1, 4]):
        scoped = scoped_signins(engine.load(table.take(pa.array(list(order))), "dups"), ("ip_prefix", "city"),
                                (50126,), dedupe=True)
        kept.append(engine.to_pandas(scoped.select("event_id", "ip", "f_city")).sort_values("event_id")
                    .reset_index(drop=True))
    assert len(kept[0]) == 4
    for other in kept[1:]:
        pd.testing.assert_frame_equal(other, kept[0])


@pytest.mark.parity
def test_feature_values_are_trimmed_and_blanks_share_one_category(engine):
    """Feature values are trimmed once per distinct value (a speed-up), not per row: the categories
    the bits carry are those of trimming every value, on every engine — whitespace of every kind
    Python knows, blanks and nulls as ``(empty)`` — and each category gets its own rarity's bit; a
    category the rarity never saw is anomalous."""
    import string

    from tracehound.spray.rarity import EMPTY, FieldRarity, feature_column, with_bits

    values = [None, "", " ", "\t\n", "IMAP4", " IMAP4", "IMAP4 ", "\r\nIMAP4\x0b", "\x0cIMAP 4\t", "a b",
              "x" + string.whitespace, string.whitespace]
    table = engine.load(pa.table({"i": list(range(len(values))), "app": pa.array(values, pa.string())}),
                        "trim_cases")
    expected = [EMPTY if v is None or not v.strip(string.whitespace) else v.strip(string.whitespace)
                for v in values]
    known = pd.DataFrame({"value": ["IMAP4", EMPTY, "a b"], "anomalous": [True, False, False]})
    rarity = FieldRarity("app", known, threshold_log_p=0.0, n_baseline=3, n_categories=3)
    scoped = table.select("i", f_app=feature_column(table, "app"))
    raw = engine.to_pandas(scoped.select(feature=ibis.literal("app"), value=scoped.f_app).distinct())
    bits = with_bits(scoped, [rarity], engine, raw)
    got = engine.to_pandas(bits.select("i", "f_app", "b_app")).sort_values("i")
    assert got.f_app.tolist() == expected
    flags = dict(zip(known.value, known.anomalous))
    assert got.b_app.tolist() == [int(flags.get(v, True)) for v in expected]
