"""The fan-out detector's bucket index without DuckDB's time-zone cast gives the same buckets.

``engine.epoch_seconds`` (used by the fan-out detector) calls DuckDB's ``epoch`` on the UTC timestamp itself instead of
Ibis's ``epoch_seconds`` (which casts to a plain ``TIMESTAMP`` first, 5 s of each 7 s scan of 50M
logons). Same seconds, so the same buckets and the same findings; the fan-out tests pin the findings,
this pins the values on the edges that could differ: bucket boundaries, microseconds, before 1970.
"""

from __future__ import annotations

import random
from datetime import datetime, timedelta, timezone

import ibis
import pyarrow as pa

from tracehound.engine import epoch_seconds
from tracehound.fanout.detector import FanoutDetector


def _times() -> list[datetime]:
    rng = random.Random(15)
    base = datetime(2024, 3, 1, tzinfo=timezone.utc)
    edges = [base + timedelta(hours=h, microseconds=d) for h in range(3) for d in (-1, 0, 1)]
    edges += [datetime(1969, 12, 31, 23, 59, 59, 999_999, tzinfo=timezone.utc),
              datetime(1970, 1, 1, tzinfo=timezone.utc), datetime(1965, 6, 1, 12, 30, tzinfo=timezone.utc)]
    drawn = [base + timedelta(microseconds=rng.randrange(-10**14, 10**14)) for _ in range(300)]
    return edges + drawn


def test_same_seconds_as_ibis_and_no_cast(duckdb_engine):
    t = duckdb_engine.load(pa.table({"time": pa.array(_times(), pa.timestamp("us", tz="UTC"))}))
    for width in (3600, 1800, 86400, 7):
        ours = (epoch_seconds(t.time) // width).cast("int64")
        ibis_own = (t.time.epoch_seconds() // width).cast("int64")
        assert duckdb_engine.scalar((ours != ibis_own).cast("int64").sum()) == 0
    assert "AS TIMESTAMP" not in ibis.to_sql(t.select(s=epoch_seconds(t.time)))


def test_prepare_buckets_match_ibis(duckdb_engine):
    times = _times()
    table = duckdb_engine.load(pa.table({
        "event_id": [f"e{i}" for i in range(len(times))], "time": pa.array(times, pa.timestamp("us", tz="UTC")),
        "user": ["alice"] * len(times), "target_host": [f"H{i % 7}" for i in range(len(times))],
        "event_code": [4624] * len(times), "logon_type": [3] * len(times)}))
    rows = duckdb_engine.to_pandas(FanoutDetector("lateral").prepare(table)).sort_values("event_id")
    seconds = [int((t - datetime(1970, 1, 1, tzinfo=timezone.utc)).total_seconds() // 1) for t in times]
    want = {f"e{i}": (s // 3600, (s - 1800) // 3600) for i, s in enumerate(seconds)}
    got = {e: (b, s) for e, b, s in zip(rows["event_id"], rows["b"], rows["shifted"])}
    assert got == want


def test_unbound_expression_keeps_ibis_form():
    t = ibis.table({"time": "timestamp('UTC')"}, name="t")
    assert epoch_seconds(t.time).equals(t.time.epoch_seconds())
