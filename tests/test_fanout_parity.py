"""The same hunt on every engine gives identical findings (DuckDB is the reference)."""

from __future__ import annotations

from datetime import datetime, timedelta

import pytest

from tracehound.fanout import FanoutDetector
from tracehound.findings import dumps
from tracehound.readers.logons import read_logons
from tracehound.simulate.logons import LogonSimConfig, simulate_logons


@pytest.mark.parity
def test_lateral_findings_identical_across_engines(engine, duckdb_engine, tmp_path):
    cfg = LogonSimConfig(users=80, days=16, seed=11, lateral_bursts=2, attack_after_day=15)
    sim = simulate_logons(tmp_path, cfg)
    burst_day = datetime.fromisoformat(sim["truth"][0]["start"].replace("Z", "+00:00")).date()
    end = datetime.combine(burst_day + timedelta(days=1), datetime.min.time(), cfg.start.tzinfo)
    results = []
    for eng in (duckdb_engine, engine):
        table, _ = read_logons(sim["path"], eng)
        det = FanoutDetector("lateral", detect_last="1d", end=end).fit(table, eng)
        findings = det.detect(det.score(table))
        results.append(sorted(dumps(f) for f in findings))
    assert results[0], "the planted burst was not found on DuckDB"
    assert results[0] == results[1]
