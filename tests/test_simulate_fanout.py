"""Simulators: deterministic, readable by the readers, and their planted attacks are found."""

from __future__ import annotations

from datetime import timedelta

import orjson

from tracehound.evaluation.fanout import match, run_daily
from tracehound.readers.connections import read_connections
from tracehound.readers.logons import read_logons
from tracehound.simulate.connections import ConnSimConfig, simulate_connections
from tracehound.simulate.logons import LogonSimConfig, simulate_logons


def test_logon_simulator_is_deterministic_and_readable(duckdb_engine, tmp_path):
    cfg = LogonSimConfig(users=120, days=10, seed=3, lateral_bursts=2, attack_after_day=8,
                         fmt="windows-json")
    a = simulate_logons(tmp_path / "a", cfg)
    b = simulate_logons(tmp_path / "b", cfg)
    assert a["truth"] == b["truth"] and a["events"] == b["events"]
    assert (tmp_path / "a" / "logons.jsonl.gz").read_bytes() == (tmp_path / "b" / "logons.jsonl.gz").read_bytes()
    truth = [orjson.loads(x) for x in (tmp_path / "a" / "truth.jsonl").read_bytes().splitlines()]
    assert len(truth) == 2 and all(len(t["targets"]) >= 6 for t in truth)
    table, report = read_logons(a["path"], duckdb_engine)
    n = duckdb_engine.scalar(table.count())
    machine = duckdb_engine.scalar(table.filter(table.user.endswith("$")).count())
    # rows in = rows kept + rows set aside: the account filter's drops are counted as skipped
    assert report.records + sum(report.skipped.values()) == a["events"] and report.bad_count == 0
    assert machine == 0 and 0 < n < a["events"]  # machine-account logons were dropped


def test_planted_lateral_movement_is_found(duckdb_engine, tmp_path):
    cfg = LogonSimConfig(users=300, days=21, seed=7, lateral_bursts=3, attack_after_day=15)
    sim = simulate_logons(tmp_path, cfg)
    table, _ = read_logons(sim["path"], duckdb_engine)
    first = cfg.start + timedelta(days=14)
    findings = run_daily(table, duckdb_engine, "lateral", first, 7, 14, {})
    score = match(findings, sim["truth"], "lateral_movement", cfg.users, 7)
    assert score.found == score.planted == 3
    assert score.false / (cfg.users * 7) * 1000 <= 1.0


def test_planted_scans_are_found(duckdb_engine, tmp_path):
    cfg = ConnSimConfig(hosts=40, days=17, seed=5, host_scans=1, port_scans=1, tunnels=1,
                        attack_after_day=15)
    sim = simulate_connections(tmp_path, cfg)
    table, report = read_connections(sim["path"], duckdb_engine)
    assert report.records == sim["connections"] and report.bad_count == 0
    first = cfg.start + timedelta(days=14)
    for preset, kind in (("host-scan", "host_scan"), ("port-scan", "port_scan")):
        findings = run_daily(table, duckdb_engine, preset, first, 3, 14, {})
        score = match(findings, sim["truth"], kind, cfg.hosts + 20, 3)
        assert score.found == score.planted == 1, (preset, score)
        assert score.false == 0, (preset, score)


def test_connection_simulator_plants_every_case_at_random_and_is_deterministic(tmp_path):
    cfg = ConnSimConfig(hosts=50, days=17, seed=8, attack_after_day=15)
    a = simulate_connections(tmp_path / "a", cfg)
    simulate_connections(tmp_path / "b", cfg)
    assert (tmp_path / "a" / "conn.log.gz").read_bytes() == (tmp_path / "b" / "conn.log.gz").read_bytes()
    kinds = [t["kind"] for t in a["truth"]]
    assert {k: kinds.count(k) for k in set(kinds)} == {
        "host_scan": 3, "port_scan": 3, "protocol_mismatch": 1, "exfiltration": 2, "new_peer_group": 2,
        "dead_space": 2, "long_session": 2}
    assert len({t["entity"] for t in a["truth"]}) == len(a["truth"])  # one attacker per planted case
    assert not {t["entity"] for t in a["truth"]} & {a["roles"][r] for r in ("backup", "scanner", "patch", "proxy")}
    other = simulate_connections(tmp_path / "c", ConnSimConfig(hosts=50, days=17, seed=9, attack_after_day=15))
    assert other["groups"] != a["groups"] and other["truth"] != a["truth"]  # layout and plants vary by seed


def test_dc_and_capture_simulators_are_deterministic_and_randomise_what_they_plant(duckdb_engine, tmp_path):
    from tracehound.simulate.capture import CaptureConfig, simulate_capture
    from tracehound.simulate.dc import DcSimConfig, simulate_dc

    cfg = DcSimConfig(users=30, days=8, seed=7, fmt="eventxml")
    a, b = simulate_dc(tmp_path / "a", cfg), simulate_dc(tmp_path / "b", cfg)
    assert a["truth"] == b["truth"] and open(a["path"], "rb").read() == open(b["path"], "rb").read()
    table, report = read_logons(a["path"], duckdb_engine)
    # rows in = rows kept + rows skipped (machine accounts), nothing set aside
    assert report.records + sum(report.skipped.values()) == a["events"] and report.bad_count == 0
    others = [simulate_dc(tmp_path / f"s{s}", DcSimConfig(users=30, days=8, seed=s))["truth"] for s in (1, 2, 3)]
    assert len({len(t[0]["accounts"]) for t in others}) > 1            # enumeration sizes vary
    assert len({t[1]["source"] for t in others}) == 3                  # so do the sprays' sources
    caps = [simulate_capture(tmp_path / f"c{s}", CaptureConfig(workstations=8, seed=s, scan="host"))["truth"][0]
            for s in (1, 2)]
    assert caps[0]["source"] != caps[1]["source"] and caps[0]["targets"] != caps[1]["targets"]


def test_the_same_logons_in_windows_json_evtx_json_and_event_xml_read_alike(duckdb_engine, tmp_path):
    tables = {}
    for fmt in ("windows-json", "evtx-json", "eventxml", "eventxml-doc"):
        cfg = LogonSimConfig(users=60, days=4, seed=9, lateral_bursts=1, attack_after_day=3, fmt=fmt)
        info = simulate_logons(tmp_path / fmt, cfg)
        table, report = read_logons(info["path"], duckdb_engine)
        assert report.bad_count == 0 and report.records + sum(report.skipped.values()) == info["events"]
        df = duckdb_engine.to_pandas(table.drop("event_id", "source", "status", "failure_kind"))
        tables[fmt] = df.sort_values(list(df.columns)).astype(str).values.tolist()
    assert tables["windows-json"] == tables["evtx-json"] == tables["eventxml"] == tables["eventxml-doc"]
