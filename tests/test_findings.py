"""The findings contract: stable keys, JSON-safe evidence, highest score first."""

from __future__ import annotations

from datetime import datetime, timedelta, timezone

import numpy as np
import pandas as pd
import pytest

from tracehound.findings import Finding, iso_utc, read_jsonl, write_jsonl


def _finding(score: float, **kw) -> Finding:
    base = dict(kind="password_spray", id=f"f{score}", title="t", severity="high", score=score,
                first_seen=iso_utc(datetime(2024, 1, 1, tzinfo=timezone.utc)), last_seen=None)
    base.update(kw)
    return Finding(**base)


def test_round_trip_sorted_by_score_with_numpy_evidence(tmp_path):
    evidence = {"weights": np.array([0.5, 0.25]), "k": np.int64(3), "ks": np.float32(0.125),
                "when": pd.Timestamp("2024-01-02T03:04:05Z")}
    path = write_jsonl([_finding(1.0), _finding(5.0, evidence=evidence, success_event_ids=["s1"])],
                       tmp_path / "findings.jsonl")
    rows = read_jsonl(path)
    assert [r["score"] for r in rows] == [5.0, 1.0]
    assert rows[0]["evidence"] == {"weights": [0.5, 0.25], "k": 3, "ks": 0.125, "when": "2024-01-02T03:04:05Z"}
    assert rows[0]["success_event_ids"] == ["s1"]
    assert "success_event_ids" not in rows[1]  # only password_spray findings carry it
    assert set(rows[1]) == {"kind", "id", "title", "severity", "score", "first_seen", "last_seen",
                            "actors", "targets", "entities", "event_ids", "explanation", "evidence"}


def test_iso_utc_converts_other_zones_and_naive_as_utc():
    cet = timezone(timedelta(hours=1))
    assert iso_utc(datetime(2024, 1, 1, 13, tzinfo=cet)) == "2024-01-01T12:00:00Z"
    assert iso_utc(datetime(2024, 1, 1, 13)) == "2024-01-01T13:00:00Z"
    assert iso_utc(None) is None


def test_unknown_severity_is_rejected():
    with pytest.raises(ValueError, match="severity"):
        _finding(1.0, severity="critical")


def test_severity_outranks_score_across_hunts(tmp_path):
    web = _finding(300.0, kind="web_session", severity="medium")
    spray = _finding(2.5, severity="high")
    low = _finding(999.0, kind="port_scan", severity="low")
    rows = read_jsonl(write_jsonl([low, web, spray], tmp_path / "f.jsonl"))
    assert [(r["severity"], r["score"]) for r in rows] == [("high", 2.5), ("medium", 300.0), ("low", 999.0)]


def test_entities_are_the_union_of_roles_and_unknown_types_are_refused():
    f = _finding(1.0, actors={"ips": ["203.0.113.5"], "user_agents": ["curl/8"]},
                 targets={"users": ["a@x", "b@x"], "ips": ["10.0.0.9", "203.0.113.5"]})
    assert f.entities == {"ips": ["203.0.113.5", "10.0.0.9"], "user_agents": ["curl/8"], "users": ["a@x", "b@x"]}
    with pytest.raises(ValueError, match="entity type"):
        _finding(1.0, actors={"addresses": ["1.2.3.4"]})


def test_equal_rank_is_ordered_by_id(tmp_path):
    rows = read_jsonl(write_jsonl([_finding(2.0, id="b"), _finding(2.0, id="a")], tmp_path / "f.jsonl"))
    assert [r["id"] for r in rows] == ["a", "b"]
