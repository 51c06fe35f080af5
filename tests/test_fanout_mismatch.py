"""Protocol / port mismatch from Zeek conn.log."""

from __future__ import annotations

from datetime import datetime, timedelta, timezone

import pyarrow as pa
import pytest

from tracehound.errors import ConfigError, NotFittedError
from tracehound.fanout import MismatchScores, ProtocolMismatch
from tracehound.fanout.mismatch import classify
from tracehound.schema import CONNECTIONS


@pytest.mark.parametrize("port, service, suspicious", [
    (443, "ssl", False), (443, "ssh", True), (80, "http", False), (53, "dns", False),
    (53, "http", True), (22, "ssh", False), (8080, "http", False), (443, "ssl,http", False),
    (9001, "socks", True), (443, None, False), (443, "-", False), (25, "smtp", False),
])
def test_classify(port, service, suspicious):
    assert (classify(port, service) is not None) is suspicious


def _connections(engine, rows, name="connections"):
    t0 = datetime(2024, 1, 1, tzinfo=timezone.utc)
    recs = [{"event_id": f"C{i}", "time": t0 + timedelta(minutes=i), "src_ip": s, "dst_ip": d,
             "dst_port": p, "proto": "tcp", "service": svc, "bytes_out": 1, "bytes_in": 1,
             "duration": 1.0, "source": "test"} for i, (s, d, p, svc) in enumerate(rows)]
    return engine.load(pa.Table.from_pylist(recs, schema=CONNECTIONS), name)


ROWS = [("10.0.0.5", "198.51.100.7", 443, "ssh")] * 4 + [("10.0.0.5", "198.51.100.8", 53, "http")] \
    + [("10.0.0.6", "203.0.113.1", 443, "ssl")] * 3 + [("10.0.0.7", "203.0.113.2", 443, None)]


def test_detect_aggregates_per_source(engine):
    table = _connections(engine, ROWS)
    hunt = ProtocolMismatch().fit(table, engine)
    scores = hunt.score(table)
    assert isinstance(scores, MismatchScores)
    assert int(scores.groups["connections"].sum()) == 8  # the unidentified connection is not a candidate
    findings = hunt.detect(scores)
    assert [f.actors for f in findings] == [{"ips": ["10.0.0.5"]}]
    f = findings[0]
    assert f.targets == {"ips": ["198.51.100.7", "198.51.100.8"]}
    assert f.kind == "protocol_mismatch" and f.evidence["connections"] == 5
    assert f.severity == "high"  # two destinations
    assert "port 443 carries ssh" in f.explanation and "port 53 carries http" in f.explanation


def test_on_the_contract(duckdb_engine):
    table = _connections(duckdb_engine, ROWS, "mm_contract")
    with pytest.raises(NotFittedError):
        ProtocolMismatch().score(table)
    hunt = ProtocolMismatch().fit(table.limit(0), duckdb_engine)  # nothing is learned from the baseline
    first = hunt.score(table)
    quiet = hunt.score(table.filter(table.src_ip == "10.0.0.6"))
    assert hunt.detect(quiet) == []
    assert [f.id for f in hunt.detect(first)] == ["protocol_mismatch:10.0.0.5"]
    # a port expectation from config (TOML keys are text): ssh on 443 is now expected there
    relaxed = ProtocolMismatch(expected={"443": ["ssh", "ssl"], 53: ["dns"]}).fit(table, duckdb_engine)
    (finding,) = relaxed.detect(relaxed.score(table))
    assert finding.targets == {"ips": ["198.51.100.8"]} and finding.evidence["connections"] == 1


@pytest.mark.parametrize("params, parameter", [
    ({"expected": [443]}, "expected"), ({"expected": {"https": ["ssl"]}}, "expected"),
    ({"expected": {443: "ssl"}}, "expected"), ({"expected": {70000: ["x"]}}, "expected"),
    ({"max_listed": 0}, "max_listed"), ({"max_listed": "5"}, "max_listed"),
])
def test_validate_names_the_bad_parameter(params, parameter):
    with pytest.raises(ConfigError, match=parameter):
        ProtocolMismatch(**params).validate()
