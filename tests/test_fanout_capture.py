"""Short captures: half an hour of an ordinary office has no history, so the scan hunts compare each
source with the capture's own population, never below a floor, and never count multicast or
broadcast as targets; a real scan in the same half hour is still found, and the finding says there
was no history."""

from __future__ import annotations

from dataclasses import replace

import pytest

from tracehound.fanout import PRESETS, FanoutDetector
from tracehound.readers.connections import read_connections
from tracehound.simulate.capture import CaptureConfig, simulate_capture

SEEDS = (0, 1)


def _hunt(table, engine, preset):
    detector = FanoutDetector(preset).fit(table, engine)
    return detector.detect(detector.score(table))


@pytest.fixture(scope="module")
def captures(tmp_path_factory, duckdb_engine):
    """(scan kind, table, truth) of a quiet capture and one with each scan, per seed."""
    out = []
    for seed in SEEDS:
        for scan in (None, "host", "port"):
            info = simulate_capture(tmp_path_factory.mktemp(f"cap{seed}{scan}"), CaptureConfig(seed=seed, scan=scan))
            table, report = read_connections(info["path"], duckdb_engine)
            assert report.bad_count == 0
            out.append((scan, table, info))
    return out


def test_a_quiet_office_capture_gives_no_scan(captures, duckdb_engine):
    for scan, table, info in captures:
        if scan is None:
            assert _hunt(table, duckdb_engine, "host-scan") == [] == _hunt(table, duckdb_engine, "port-scan")


def test_without_the_short_capture_floor_the_same_capture_is_full_of_scans(captures, duckdb_engine):
    """The floor is what keeps the quiet capture quiet: the old cold-start bound (no history → 3)
    calls ordinary workstations scanners."""
    quiet = [table for scan, table, _ in captures if scan is None]
    old = replace(PRESETS["port-scan"], short_floor=0)
    assert all(len(_hunt(table, duckdb_engine, old)) >= 3 for table in quiet)


def test_a_scan_in_a_short_capture_is_found_and_says_there_was_no_history(captures, duckdb_engine):
    for scan, table, info in captures:
        if scan is None:
            continue
        (truth,) = info["truth"]
        preset = f"{scan}-scan"
        findings = _hunt(table, duckdb_engine, preset)
        assert [(f.kind, f.actors["ips"]) for f in findings] == [(truth["kind"], [truth["source"]])]
        f = findings[0]
        assert f.evidence["baseline"] == "capture" and f.evidence["no_history"] is True
        assert f.evidence["bound"] >= PRESETS[preset].short_floor
        assert "there is no history" in f.explanation and "short capture" in f.explanation
        other = "port-scan" if scan == "host" else "host-scan"
        assert _hunt(table, duckdb_engine, other) == []   # one attack, one finding


def test_multicast_and_broadcast_are_never_scan_targets(captures, duckdb_engine):
    scan, table, info = next(c for c in captures if c[0] == "host")
    f = _hunt(table, duckdb_engine, "host-scan")[0]
    listed = set(f.targets["ips"]) | set(f.evidence["new_targets"])
    assert not any(ip.startswith(("224.", "239.", "ff02:")) or ip == "255.255.255.255" for ip in listed)
    raw = duckdb_engine.to_pandas(table.filter(table.src_ip == info["truth"][0]["source"]).select("dst_ip"))
    assert raw["dst_ip"].str.startswith(("224.", "239.")).any()   # the scanner sent some: not counted
