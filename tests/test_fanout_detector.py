"""The distinct-count detector on hand-made tables: exact mean / σ / bound, each improvement, presets."""

from __future__ import annotations

import math
from datetime import datetime, timedelta, timezone

import numpy as np
import pyarrow as pa
import pytest

from tracehound.errors import ConfigError, NotFittedError
from tracehound.fanout import SEED_ONLY, FanoutDetector, custom_spec, parse_where
from tracehound.fanout.detector import baseline_moments, bound
from tracehound.schema import LOGONS

DAY0 = datetime(2024, 1, 1, tzinfo=timezone.utc)
END = DAY0 + timedelta(days=1, hours=1)  # detection window: 2024-01-02 00:00–01:00


def logons(engine, rows):
    """rows: (hours after DAY0 as float, user, target host[, event_code, logon_type])."""
    recs = []
    for i, r in enumerate(rows):
        hour, user, host = r[:3]
        code, ltype = (r[3], r[4]) if len(r) > 3 else (4624, 3)
        recs.append({"event_id": f"t:{i}", "time": DAY0 + timedelta(hours=hour), "user": user,
                     "domain": "D", "target_host": host, "source_ip": None, "source_host": "WS",
                     "logon_type": ltype, "event_code": code, "success": code != 4625, "source": "test"})
    return engine.load(pa.Table.from_pylist(recs, schema=LOGONS), "logons")


def scenario():
    rows = []
    # alice: baseline hours 1, 5, 9 with 2, 3, 1 hosts; detection hour: A plus five new hosts
    rows += [(1.1, "alice", "A"), (1.2, "alice", "B"), (5.1, "alice", "A"), (5.2, "alice", "B"),
             (5.3, "alice", "C"), (9.5, "alice", "A")]
    rows += [(24.1 + i / 100, "alice", h) for i, h in enumerate("ADEFGH")]
    # bob: ten busy hours with 4 of his 8 servers each; detection: 7 servers, all known
    servers = [f"H{i}" for i in range(1, 9)]
    for hour in range(2, 12):
        rows += [(hour + j / 10, "bob", servers[(hour + j) % 8]) for j in range(4)]
    rows += [(24.2 + j / 100, "bob", servers[j]) for j in range(7)]
    # noise the lateral preset filters out: interactive logons and failures
    rows += [(24.3, "alice", "X1", 4624, 2), (24.4, "alice", "X2", 4625, 3)]
    return rows


def counts_vector(active: list[int], n_buckets: int) -> np.ndarray:
    return np.array(active + [0] * (n_buckets - len(active)), dtype=float)


def hunt(det: FanoutDetector, table, engine):
    """fit, score and detect on one table: ``(scores, findings)``."""
    scores = det.fit(table, engine).score(table)
    return scores, det.detect(scores)


@pytest.mark.parity
def test_exact_mean_sigma_bound_and_finding(engine):
    table = logons(engine, scenario())
    det = FanoutDetector("lateral", end=END, baseline_days=1, min_history_days=0.5)
    result, findings = hunt(det, table, engine)
    stats = result.stats.set_index("entity")
    assert result.baseline_entities == 2
    alice = counts_vector([2, 3, 1], 24)
    bob = counts_vector([4] * 10, 24)
    for name, vec in (("alice", alice), ("bob", bob)):
        assert stats.loc[name, "mean"] == pytest.approx(vec.mean(), abs=1e-12)
        assert stats.loc[name, "sigma"] == pytest.approx(vec.std(ddof=1), abs=1e-12)
    alice_bound = math.ceil(alice.mean() + 2 * max(alice.std(ddof=1), 1))
    bob_bound = math.ceil(bob.mean() + 2 * max(bob.std(ddof=1), 1))

    scores = result.frame
    scores = scores[scores["offset"] == 0].set_index("entity")  # the aligned hour
    assert scores.loc["alice", "bound"] == alice_bound
    assert (scores.loc["alice", "n"], scores.loc["alice", "new"]) == (6, 5)
    assert scores.loc["bob", "bound"] == bob_bound and scores.loc["bob", "n"] == 7
    assert bool(scores.loc["alice", "exceeds"]) is (6 > alice_bound and 5 >= alice_bound)
    assert bool(scores.loc["bob", "exceeds"]) is False  # over its bound but nothing new

    assert [f.evidence["entity"] for f in findings] == ["alice"]
    f = findings[0]
    assert f.kind == "lateral_movement" and f.actors == {"users": ["alice"]}
    assert f.evidence["bound"] == alice_bound and f.evidence["observed"] == 6
    assert sorted(f.evidence["new_targets"]) == list("DEFGH")
    assert sorted(f.targets["hosts"]) == list("ADEFGH") and sorted(f.entities["hosts"]) == list("ADEFGH")
    assert len(f.event_ids) == 6 and "X1" not in f.entities["hosts"]
    # the series behind the report's plot: alice's distinct hosts per non-empty hour, baseline + detection
    assert [(p["bucket"][11:13], p["count"]) for p in f.evidence["series"]] == [
        ("01", 2), ("05", 3), ("09", 1), ("00", 6)]
    assert (f"alice logged on to 6 hosts between 2024-01-02 00:00 and 01:00 UTC; the usual for alice "
            f"is {alice.mean():.1f} ± {alice.std(ddof=1):.1f} per 1h, bound {alice_bound}; "
            f"5 of the 6 are new for alice.") == f.explanation


def test_require_new_off_reports_known_targets(duckdb_engine):
    table = logons(duckdb_engine, scenario())
    det = FanoutDetector("lateral", end=END, baseline_days=1, min_history_days=0.5, require_new=False)
    found = {f.evidence["entity"] for f in hunt(det, table, duckdb_engine)[1]}
    assert found == {"alice", "bob"}


@pytest.mark.parametrize("known, new, flagged", [(1, 3, True), (2, 2, False)])
def test_require_new_means_new_targets_reach_the_bound(duckdb_engine, known, new, flagged):
    rows = [r for r in scenario() if not (r[1] == "alice" and r[0] >= 24)]
    rows += [(24.1 + i / 100, "alice", h) for i, h in enumerate("ABC"[:known] + "DEFG"[:new])]
    table = logons(duckdb_engine, rows)
    det = FanoutDetector("lateral", end=END, baseline_days=1, min_history_days=0.5)
    scores = det.fit(table, duckdb_engine).score(table).frame.set_index("entity")
    assert scores.loc["alice", "bound"] == 3 and scores.loc["alice", "n"] == 4
    assert scores.loc["alice", "new"] == new
    assert bool(scores.loc["alice", "exceeds"]) is flagged


def test_seed_only_puts_detection_window_in_baseline(duckdb_engine):
    table = logons(duckdb_engine, scenario())
    det = FanoutDetector("lateral", end=END, baseline_days=1, **SEED_ONLY).fit(table, duckdb_engine)
    alice = counts_vector([2, 3, 1, 6], 25)
    result = det.score(table)
    stats = result.stats.set_index("entity")
    assert result.windows.baseline_end == result.windows.detect_end
    assert stats.loc["alice", "mean"] == pytest.approx(alice.mean(), abs=1e-12)
    assert stats.loc["alice", "sigma"] == pytest.approx(alice.std(ddof=1), abs=1e-12)
    scores = result.frame.set_index("entity")
    assert scores.loc["alice", "bound"] == math.ceil(alice.mean() + 2 * max(alice.std(ddof=1), 1))


def test_cold_start_uses_population(duckdb_engine):
    rows = scenario()
    pooled = np.array([2, 3, 1] + [4] * 10, dtype=float)  # established entities' active buckets
    pop_bound = math.ceil(pooled.mean() + 2 * max(pooled.std(ddof=1), 1))
    rows += [(22.5, "carol", "Z")]  # first seen 1.5 h before the detection window
    rows += [(24.5 + i / 100, "carol", f"N{i}") for i in range(pop_bound + 1)]
    table = logons(duckdb_engine, rows)
    det = FanoutDetector("lateral", end=END, baseline_days=1, min_history_days=0.5)
    result, findings = hunt(det, table, duckdb_engine)
    assert result.population["buckets"] == 13
    assert result.population["mean"] == pytest.approx(pooled.mean())
    assert result.population["sigma"] == pytest.approx(pooled.std(ddof=1))
    carol = [f for f in findings if f.evidence["entity"] == "carol"]
    assert len(carol) == 1
    assert carol[0].evidence["baseline"] == "population" and carol[0].evidence["bound"] == pop_bound
    assert "cold start" in carol[0].explanation

    own = FanoutDetector("lateral", end=END, baseline_days=1, min_history_days=0.5, cold_start=False)
    scores = own.fit(table, duckdb_engine).score(table).frame.set_index("entity")
    vec = counts_vector([1], 24)
    assert scores.loc["carol", "basis"] == "entity"
    assert scores.loc["carol", "bound"] == math.ceil(vec.mean() + 2 * max(vec.std(ddof=1), 1))


def test_unknown_entity_without_population_uses_floor(duckdb_engine):
    table = logons(duckdb_engine, [(24.1, "mallory", "A"), (24.2, "mallory", "B"), (24.3, "mallory", "C")])
    _, findings = hunt(FanoutDetector("lateral", end=END, baseline_days=1), table, duckdb_engine)
    assert len(findings) == 1 and findings[0].evidence["bound"] == 2
    assert findings[0].evidence["baseline"] == "none"


def test_av_sustained_needs_three_days(duckdb_engine):
    schema = pa.schema([("event_id", pa.string()), ("time", pa.timestamp("us", tz="UTC")),
                        ("user", pa.string()), ("detection", pa.string())])
    recs = []
    for day in range(10):
        for user in ("dave", "erin"):
            recs.append((day, user, "EICAR"))
    for day in (10, 11, 12):
        recs += [(day, "dave", f"Trojan.{i}") for i in range(5)]
    for day in (10, 12):
        recs += [(day, "erin", f"Worm.{i}") for i in range(5)]
    rows = [{"event_id": f"av:{i}", "time": DAY0 + timedelta(days=d, hours=10), "user": u,
             "detection": s} for i, (d, u, s) in enumerate(recs)]
    table = duckdb_engine.load(pa.Table.from_pylist(rows, schema=schema), "av")
    det = FanoutDetector("av-sustained", end=DAY0 + timedelta(days=13), baseline_days=10,
                         min_history_days=1)
    _, findings = hunt(det, table, duckdb_engine)
    assert [f.evidence["entity"] for f in findings] == ["dave"]
    assert findings[0].kind == "av_sustained" and len(findings[0].evidence["buckets_over_bound"]) == 3
    assert findings[0].targets == {"users": ["dave"]} and findings[0].actors == {}


def test_custom_spec_with_filter(duckdb_engine):
    table = logons(duckdb_engine, scenario())
    spec = custom_spec("logons", "user", "target_host", where=parse_where(["logon_type=2"]))
    det = FanoutDetector(spec, end=END, baseline_days=1)
    rows = det.prepare(table)
    assert duckdb_engine.scalar(rows.count()) == 1  # only alice's interactive logon to X1


def test_contract_errors(duckdb_engine):
    table = logons(duckdb_engine, scenario())
    with pytest.raises(NotFittedError):
        FanoutDetector().score(table)
    with pytest.raises(NotFittedError):
        FanoutDetector().detect(None)
    with pytest.raises(ConfigError, match="preset"):
        FanoutDetector("nope").fit(table, duckdb_engine)
    with pytest.raises(ConfigError, match="bucket: duration"):
        FanoutDetector(bucket="1 fortnight").fit(table, duckdb_engine)
    with pytest.raises(ConfigError, match="whole number"):
        FanoutDetector(bucket="1h", detect_last="90m").fit(table, duckdb_engine)
    with pytest.raises(ConfigError, match="column=value"):
        parse_where(["logon_type"])
    with pytest.raises(ConfigError, match="'nope' column"):  # a missing column is named when the data comes
        FanoutDetector(custom_spec("logons", "user", "nope")).fit(table, duckdb_engine)


def test_bound_helpers():
    assert bound(0.0, 0.0, 2, 1).item() == 2
    assert bound(1.0, 0.5, 2, 1).item() == 3  # σ floored at 1: ceil(1 + 2) = 3, not 2
    mean, sigma = baseline_moments(np.array([6.0]), np.array([14.0]), 24)
    vec = counts_vector([2, 3, 1], 24)
    assert mean[0] == pytest.approx(vec.mean()) and sigma[0] == pytest.approx(vec.std(ddof=1))


def test_empty_table_gives_no_findings(engine):
    table = logons(engine, [])
    det = FanoutDetector("lateral").fit(table, engine)
    scores = det.score(table)
    assert det.newest_ is None and scores.windows is None and scores.frame.empty
    assert det.detect(scores) == []


def test_empty_baseline_scores_later_events_against_the_floor(engine):
    """Nothing to learn from, something to score: every entity is judged by the floor bound."""
    det = FanoutDetector("lateral", end=END, baseline_days=1).fit(logons(engine, []), engine)
    later = logons(engine, [(24.1, "mallory", "A"), (24.2, "mallory", "B"), (24.3, "mallory", "C")])
    scores = det.score(later)
    assert scores.baseline_entities == 0 and list(scores.frame["basis"].unique()) == ["none"]
    assert [f.evidence["bound"] for f in det.detect(scores)] == [2]


def test_consecutive_flagged_buckets_are_one_finding(duckdb_engine):
    base = [(1.1, "alice", "A"), (1.2, "alice", "B"), (5.1, "alice", "A"), (9.5, "alice", "C")]
    burst = [(24.1 + i / 100, "alice", f"N{i}") for i in range(6)]      # hour 24
    burst += [(25.1 + i / 100, "alice", f"M{i}") for i in range(6)]     # hour 25: same run
    burst += [(27.1 + i / 100, "alice", f"K{i}") for i in range(6)]     # hour 27: a new run
    table = logons(duckdb_engine, base + burst)
    end = DAY0 + timedelta(days=1, hours=4)
    det = FanoutDetector("lateral", end=end, detect_last="4h", baseline_days=1, min_history_days=0.5,
                         overlap=False)
    _, findings = hunt(det, table, duckdb_engine)
    spans = sorted((f.evidence["bucket_start"], f.evidence["bucket_end"], len(f.event_ids)) for f in findings)
    assert spans == [("2024-01-02T00:00:00Z", "2024-01-02T02:00:00Z", 12),
                     ("2024-01-02T03:00:00Z", "2024-01-02T04:00:00Z", 6)]
    two_hours = [f for f in findings if len(f.event_ids) == 12][0]
    assert "12 hosts" in two_hours.explanation and "2 consecutive 1h buckets" in two_hours.explanation
    # with half-shifted buckets too, the runs are the same bursts (each may start half an hour earlier)
    _, with_overlap = hunt(FanoutDetector("lateral", end=end, detect_last="4h", baseline_days=1,
                                          min_history_days=0.5), table, duckdb_engine)
    assert sorted(len(f.event_ids) for f in with_overlap) == [6, 12]
    assert "overlapping 1h buckets" in [f for f in with_overlap if len(f.event_ids) == 12][0].explanation


@pytest.mark.parity
def test_a_burst_straddling_an_hour_boundary_is_found_by_the_shifted_buckets(engine):
    """10:40-11:20: 3 new hosts in each aligned hour stay at a bound of 4, all 6 in 10:30-11:30 pass it."""
    base = [(h + 0.1, "alice", host) for h in range(1, 20, 2) for host in "AB"]
    base += [(6.2, "alice", "C"), (12.2, "alice", "C"), (12.3, "alice", "D")]
    burst = [(24 + 10 + 40 / 60 + i / 100, "alice", f"N{i}") for i in range(3)]
    burst += [(24 + 11 + 5 / 60 + i / 100, "alice", f"M{i}") for i in range(3)]
    table = logons(engine, base + burst)
    end = DAY0 + timedelta(days=1, hours=12)
    kwargs = dict(end=end, detect_last="12h", baseline_days=1, min_history_days=0.5)
    result, findings = hunt(FanoutDetector("lateral", overlap=False, **kwargs), table, engine)
    scores = result.frame
    assert set(scores["n"]) == {3} and int(scores["bound"].iloc[0]) >= 3 and not scores["exceeds"].any()
    assert findings == []
    result, findings = hunt(FanoutDetector("lateral", **kwargs), table, engine)
    half = result.frame[result.frame["offset"] == 0.5]
    assert half["n"].max() == 6 and half["exceeds"].any()
    (finding,) = findings
    assert sorted(finding.evidence["new_targets"]) == ["M0", "M1", "M2", "N0", "N1", "N2"]
    assert finding.evidence["bucket_start"] == "2024-01-02T10:30:00Z"
    assert finding.evidence["bucket_end"] == "2024-01-02T11:30:00Z"
