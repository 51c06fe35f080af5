"""Every hunt states the baseline and detection windows it searched, and --since / --until /
--detect-last apply to every hunt."""

from __future__ import annotations

from datetime import timedelta

import pytest
from typer.testing import CliRunner

from tracehound import hunt
from tracehound.cli import app
from tracehound.config import HuntConfig
from tracehound.errors import ConfigError
from tracehound.findings import read_jsonl
from tracehound.simulate.connections import ConnSimConfig, simulate_connections
from tracehound.simulate.logons import LogonSimConfig, simulate_logons
from tracehound.simulate.signins import simulate_signins
from tracehound.windows import RunWindow, utc

runner = CliRunner()


@pytest.fixture(scope="module")
def logs(tmp_path_factory):
    root = tmp_path_factory.mktemp("windows")
    logons = simulate_logons(root / "corp", LogonSimConfig(users=150, days=21, lateral_bursts=3, seed=5,
                                                           attack_after_day=15))
    conns = simulate_connections(root / "net", ConnSimConfig(hosts=40, days=21, seed=5, attack_after_day=15))
    tenant = simulate_signins(root / "tenant", users=150, days=40, seed=3, difficulty="easy")
    return {"logons": logons, "conns": conns, "tenant": tenant, "root": root}


def test_detect_last_reaches_every_fanout_hunt_and_finds_the_bursts(logs, tmp_path):
    """Without a window a fan-out hunt judges only the newest hour; --detect-last 7d judges the week after
    the baseline, finds the planted bursts and scans, and the summary says which windows were searched."""
    paths = [str(logs["logons"]["path"]), str(logs["conns"]["path"])]
    result = runner.invoke(app, ["hunt", *paths, "--detect-last", "7d", "--out", str(tmp_path / "o")])
    assert result.exit_code == 0, result.output
    found = {(f["kind"], f["evidence"].get("entity")) for f in read_jsonl(tmp_path / "o" / "findings.jsonl")}
    planted = [t for t in logs["logons"]["truth"] + logs["conns"]["truth"]
               if t["kind"] in {"lateral_movement", "host_scan", "port_scan"}]
    assert planted and all((t["kind"], t["entity"]) in found for t in planted), (planted, found)
    for section in ("fanout.lateral", "fanout.host-scan", "fanout.port-scan"):
        assert f"searched by {section}" in result.output
    assert "detection" in result.output and "baseline" in result.output


def test_the_searched_windows_are_recorded_for_every_hunt(logs, duckdb_engine):
    window = RunWindow.parse(detect_last="2d")
    result = hunt.run([logs["logons"]["path"], *logs["tenant"].paths], duckdb_engine, HuntConfig(), window=window)
    assert set(result.searched) == set(result.scores) and "spray" in result.searched
    for section, searched in result.searched.items():
        (b0, b1), (d0, d1) = searched.baseline, searched.detection
        assert b1 is not None and d0 is not None and d1 is not None, section
        assert d1 - d0 == timedelta(days=2), (section, searched)
        assert b1 <= d0 + timedelta(hours=1), (section, searched)


def test_spray_with_detect_last_reports_only_campaigns_active_in_it(logs, duckdb_engine):
    """A hunt without its own window is fitted on the baseline rows and keeps what reaches into the
    detection window."""
    paths = list(logs["tenant"].paths)
    every = hunt.run(paths, duckdb_engine, HuntConfig(), only=["spray"]).findings
    recent = hunt.run(paths, duckdb_engine, HuntConfig(), only=["spray"],
                      window=RunWindow.parse(detect_last="10d"))
    start = recent.searched["spray"].detection[0]
    assert every and all(utc(f.last_seen, "t") >= start for f in recent.findings)
    assert len(recent.findings) <= len(every)


def test_until_drops_later_rows_for_every_hunt(logs, duckdb_engine):
    until = utc("2024-01-10T00:00:00Z", "until")
    result = hunt.run([logs["logons"]["path"]], duckdb_engine, HuntConfig(), window=RunWindow.parse(until=until))
    for section, searched in result.searched.items():
        assert searched.detection[1] <= until, (section, searched)
    assert all(utc(f.last_seen, "t") < until for f in result.findings)


@pytest.mark.parametrize("args, message", [
    (["--detect-last", "soon"], "soon"),
    (["--since", "2024-02-01", "--until", "2024-01-01"], "not before"),
    (["--until", "yesterday"], "--until"),
])
def test_bad_windows_are_one_line(logs, tmp_path, args, message):
    result = runner.invoke(app, ["hunt", str(logs["logons"]["path"]), *args, "--out", str(tmp_path / "o")])
    assert result.exit_code == 2 and message in result.output and "Traceback" not in result.output


def test_window_parse_validates():
    with pytest.raises(ConfigError):
        RunWindow.parse(detect_last="0h")
