"""Protocol / port mismatch from Zeek conn.log."""

from __future__ import annotations

from datetime import datetime, timedelta, timezone

import pyarrow as pa
import pytest

from tracehound.fanout.mismatch import ProtocolMismatch, classify
from tracehound.schema import CONNECTIONS


@pytest.mark.parametrize("port, service, suspicious", [
    (443, "ssl", False), (443, "ssh", True), (80, "http", False), (53, "dns", False),
    (53, "http", True), (22, "ssh", False), (8080, "http", False), (443, "ssl,http", False),
    (9001, "socks", True), (443, None, False), (443, "-", False), (25, "smtp", False),
])
def test_classify(port, service, suspicious):
    assert (classify(port, service) is not None) is suspicious


def test_detect_aggregates_per_source(engine):
    t0 = datetime(2024, 1, 1, tzinfo=timezone.utc)
    rows = [("10.0.0.5", "198.51.100.7", 443, "ssh")] * 4 + [("10.0.0.5", "198.51.100.8", 53, "http")] \
        + [("10.0.0.6", "203.0.113.1", 443, "ssl")] * 3 + [("10.0.0.7", "203.0.113.2", 443, None)]
    recs = [{"event_id": f"C{i}", "time": t0 + timedelta(minutes=i), "src_ip": s, "dst_ip": d,
             "dst_port": p, "proto": "tcp", "service": svc, "bytes_out": 1, "bytes_in": 1,
             "duration": 1.0, "source": "test"} for i, (s, d, p, svc) in enumerate(rows)]
    table = engine.load(pa.Table.from_pylist(recs, schema=CONNECTIONS), "connections")
    findings = ProtocolMismatch().detect(table, engine)
    assert [f.entities["ips"][0] for f in findings] == ["10.0.0.5"]
    f = findings[0]
    assert f.kind == "protocol_mismatch" and f.evidence["connections"] == 5
    assert f.severity == "high"  # two destinations
    assert "port 443 carries ssh" in f.explanation and "port 53 carries http" in f.explanation
