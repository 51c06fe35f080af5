"""The engine layer: both engines give identical aggregates; a missing extra names the install command."""

from __future__ import annotations

import builtins
from datetime import datetime, timezone

import pyarrow as pa
import pytest

from tracehound import schema
from tracehound.engine import connect, spark_session
from tracehound.errors import ConfigError, MissingExtraError


def _sample() -> pa.Table:
    t0 = datetime(2024, 3, 1, 12, tzinfo=timezone.utc)
    rows = {
        "event_id": ["a", "b", "c", "d"],
        "time": [t0, t0, t0.replace(hour=13), t0.replace(hour=14)],
        "user": ["alice", "alice", "bob", None],
        "result": [0, 50126, 50126, 0],
        "success": [True, False, False, True],
    }
    cols = {f.name: rows.get(f.name, [None] * 4) for f in schema.SIGNINS}
    return pa.Table.from_pydict(cols, schema=schema.SIGNINS)


@pytest.mark.parity
def test_group_by_and_distinct_counts(engine):
    t = engine.load(_sample(), "signins")
    agg = t.group_by("user").agg(n=t.count(), failures=(~t.success).sum(), hours=t.time.hour().nunique())
    df = engine.to_pandas(agg.order_by("user")).fillna({"user": "<null>"})
    assert df.to_dict("records") == [
        {"user": "alice", "n": 2, "failures": 1, "hours": 1},
        {"user": "bob", "n": 1, "failures": 1, "hours": 1},
        {"user": "<null>", "n": 1, "failures": 0, "hours": 1},
    ]


@pytest.mark.parity
def test_timestamps_come_back_in_utc(engine):
    t = engine.load(_sample(), "signins")
    df = engine.to_pandas(t.select("event_id", "time").order_by("event_id"))
    assert str(df["time"].dt.tz) == "UTC"
    assert df["time"].iloc[2].hour == 13


def test_unknown_engine_is_a_config_error():
    with pytest.raises(ConfigError, match="unknown engine 'oracle'"):
        connect("oracle")


def test_missing_spark_extra_names_the_install_command(monkeypatch):
    real_import = builtins.__import__

    def fake_import(name, *args, **kwargs):
        if name.startswith("pyspark"):
            raise ImportError("No module named 'pyspark'")
        return real_import(name, *args, **kwargs)

    monkeypatch.setattr(builtins, "__import__", fake_import)
    with pytest.raises(MissingExtraError, match=r"pip install 'tracehound\[spark\]'") as info:
        spark_session()
    assert isinstance(info.value, ImportError)
