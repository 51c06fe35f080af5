"""The brute-force preset: failed logons *counted* per account (not distinct), on real and benign data."""

from __future__ import annotations

import gzip
import json
from collections import Counter
from datetime import datetime, timedelta, timezone

import pyarrow as pa

from tracehound import hunt, registry
from tracehound.evaluation.fanout import run_daily
from tracehound.fanout import FanoutDetector
from tracehound.readers.logons import read_logons
from tracehound.schema import LOGONS
from tracehound.simulate.logons import LogonSimConfig, simulate_logons

SMB = "deepbluecli-evtx/smb-password-guessing-security"


def brute_force(table, engine, **params):
    det = FanoutDetector("brute-force", **params).fit(table, engine)
    return det.detect(det.score(table))


def _failures(engine, per_user: dict[str, int], name: str, *, source: str = "10.0.0.9"):
    """``per_user[u]`` failed logons of ``u`` from ``source`` within one hour."""
    t0 = datetime(2024, 3, 4, 9, 5, tzinfo=timezone.utc)
    rows = [{"event_id": f"{user}-{i}", "time": t0 + timedelta(seconds=60 * i), "user": user, "domain": None,
             "target_host": "DC1", "source_ip": source, "source_host": None, "logon_type": 3,
             "event_code": 4625, "success": False, "source": "test"}
            for user, n in per_user.items() for i in range(n)]
    return engine.load(pa.Table.from_pylist(rows, schema=LOGONS), name)


def test_rows_are_counted_not_distinct_sources_and_a_few_typos_stay_under_the_floor(engine):
    table = _failures(engine, {"alice": 30, "bob": 3}, "brute_unit")
    findings = brute_force(table, engine)
    assert [f.evidence["entity"] for f in findings] == ["alice"]
    f = findings[0]
    assert f.kind == "logon_brute_force" and f.id.startswith("logon_brute_force:alice:")
    assert f.evidence["observed"] == 30 and len(f.event_ids) == 30
    # the failing source attacks, the account is attacked
    assert f.evidence["bound"] == 10 and f.actors == {"ips": ["10.0.0.9"]} and f.targets == {"users": ["alice"]}
    assert "raised to the preset's least bound of 10" in f.explanation


def test_smb_brute_force_on_administrator(engine, data_dir):
    with gzip.open(data_dir / f"{SMB}.derived.jsonl.gz", "rt") as fh:
        failed = [json.loads(x)["Event"]["EventData"] for x in fh]
    per_user = Counter(e["TargetUserName"] for e in failed)
    sources = {e["IpAddress"] for e in failed if e["TargetUserName"] == "Administrator"}
    table, _ = read_logons(data_dir / f"{SMB}.evtx", engine)
    findings = brute_force(table, engine)
    assert [f.evidence["entity"] for f in findings] == ["Administrator"]
    f = findings[0]
    assert f.evidence["event_count"] == per_user["Administrator"] > 3000
    assert set(f.actors["ips"]) == sources and f.targets == {"users": ["Administrator"]}
    assert registry.kind(f.kind).technique == "T1110.001"


def test_linux_root_brute_force_on_the_newest_day(duckdb_engine, data_dir):
    """The detection window is the newest day; its busiest account-hour must be the one reported,
    counted from the canonical rows over both bucket grids."""
    table, _ = read_logons(data_dir / "loghub-ssh/Linux_2k.log", duckdb_engine, syslog_year=2005)
    rows = duckdb_engine.to_pandas(table.filter(~table.success).select("user", "time"))
    last_day = rows.time.max().floor("D")
    recent = rows[rows.time >= last_day]
    counts = Counter()
    for user, t in zip(recent.user, recent.time):
        secs = t.timestamp()
        counts[(user, "aligned", int(secs // 3600))] += 1
        counts[(user, "shifted", int((secs - 1800) // 3600))] += 1
    over = {u for (u, _, _), n in counts.items() if n > 10}  # root's own bound (0.2 ± 1.3 → 3) is under the floor
    findings = brute_force(table, duckdb_engine)
    assert over and {f.evidence["entity"] for f in findings} == over
    for f in findings:
        assert f.evidence["observed"] == max(n for (u, _, _), n in counts.items() if u == f.evidence["entity"])


def test_benign_simulated_logons_give_no_brute_force(duckdb_engine, tmp_path):
    """Three weeks of a 300-user domain with typo failures, no attack: run daily over the last week."""
    cfg = LogonSimConfig(users=300, days=21, seed=4, lateral_bursts=0)
    table, _ = read_logons(simulate_logons(tmp_path, cfg)["path"], duckdb_engine)
    assert duckdb_engine.scalar(FanoutDetector("brute-force").prepare(table).count()) > 50
    assert run_daily(table, duckdb_engine, "brute-force", cfg.start + timedelta(days=14), 7, 14, {}) == []


def test_hunt_runs_brute_force_on_logons(duckdb_engine, data_dir):
    result = hunt.run([data_dir / f"{SMB}.evtx"], duckdb_engine)
    assert [f.evidence["entity"] for f in result.findings if f.kind == "logon_brute_force"] == ["Administrator"]
