"""The fan-out hunts on the Hunt contract: fit on a baseline and score later data, nothing kept
between calls, parameters checked before any data is read, findings typed by role."""

from __future__ import annotations

import functools
import inspect
from datetime import timedelta

import pytest

from tracehound import registry
from tracehound.errors import ConfigError
from tracehound.evaluation.fanout import match
from tracehound.fanout import HUNTS, KINDS, PRESETS, SEED_ONLY, FanoutDetector, ProtocolMismatch
from tracehound.findings import dumps
from tracehound.readers.connections import read_connections
from tracehound.readers.logons import read_logons
from tracehound.simulate.connections import ConnSimConfig, simulate_connections
from tracehound.simulate.logons import LogonSimConfig, simulate_logons

#: 15 days; the planted attacks all fall on day 15 (index 14, a Monday).
LOGONS = LogonSimConfig(users=200, days=15, seed=3, lateral_bursts=2, attack_after_day=14)
CONNS = ConnSimConfig(hosts=40, days=15, seed=5, host_scans=1, port_scans=1, tunnels=1, attack_after_day=14)
DAY15 = LOGONS.start + timedelta(days=14)


@pytest.fixture(scope="module")
def sims(tmp_path_factory):
    folder = tmp_path_factory.mktemp("fanout-protocol")
    return simulate_logons(folder / "logons", LOGONS), simulate_connections(folder / "conns", CONNS)


def _split(table):
    """The first 14 days, and day 15 on its own."""
    return table.filter(table.time < DAY15), table.filter(table.time >= DAY15)


def _dumped(findings) -> list[bytes]:
    return sorted(dumps(f) for f in findings)


def test_fit_on_14_days_then_score_day_15_finds_the_planted_attacks(engine, sims):
    logon_sim, conn_sim = sims
    logons, _ = read_logons(logon_sim["path"], engine)
    baseline, day15 = _split(logons)
    det = FanoutDetector("lateral", detect_last="1d").fit(baseline, engine)
    scores = det.score(day15)
    assert scores.windows.detect_end * 3600 > DAY15.timestamp() + 12 * 3600  # the window is day 15's
    assert scores.baseline_entities > 100  # the fitted fortnight is the baseline
    found = det.detect(scores)
    score = match(found, logon_sim["truth"], "lateral_movement", LOGONS.users, 1)
    assert score.planted == 2 and score.found == 2, score.missed
    assert score.false == 0

    conns, _ = read_connections(conn_sim["path"], engine)
    baseline, day15 = _split(conns)
    scan = FanoutDetector("host-scan", detect_last="1d").fit(baseline, engine)
    found = scan.detect(scan.score(day15))
    score = match(found, conn_sim["truth"], "host_scan", CONNS.hosts + 20, 1)
    assert score.planted == score.found == 1 and score.false == 0


@pytest.mark.parametrize("options", [{}, SEED_ONLY], ids=["improved", "seed"])
@pytest.mark.parametrize("name", ["lateral", "host-scan"])
def test_fitting_on_the_table_or_on_its_baseline_part_gives_the_same_findings(duckdb_engine, sims,
                                                                               name, options):
    logon_sim, conn_sim = sims
    reader, sim = (read_logons, logon_sim) if name == "lateral" else (read_connections, conn_sim)
    table, _ = reader(sim["path"], duckdb_engine)
    whole = FanoutDetector(name, detect_last="1d", **options).fit(table, duckdb_engine)
    scores = whole.score(table)
    expected = whole.detect(scores)
    assert expected, "nothing found: the comparison would prove nothing"
    cut = scores.windows.to_time(scores.windows.detect_start)
    part = FanoutDetector(name, detect_last="1d", **options).fit(table.filter(table.time < cut), duckdb_engine)
    later = part.score(table)
    assert later.windows == scores.windows
    assert _dumped(part.detect(later)) == _dumped(expected)


def test_scoring_another_table_between_score_and_detect_changes_nothing(duckdb_engine, sims):
    logons, _ = read_logons(sims[0]["path"], duckdb_engine)
    det = FanoutDetector("lateral", detect_last="1d").fit(logons, duckdb_engine)
    first = det.score(logons)
    before = _dumped(det.detect(first))
    other = det.score(logons.filter(logons.time < DAY15))  # a quiet day 14 as the detection window
    assert other.windows != first.windows and _dumped(det.detect(other)) != before
    assert _dumped(det.detect(first)) == before and before


@pytest.mark.parametrize("params, parameter", [
    ({"k": "x"}, "k"), ({"k": 0}, "k"), ({"bucket": "5q"}, "bucket"), ({"bucket": 7.5j}, "bucket"),
    ({"detect_last": "90m"}, "detect_last"), ({"baseline_days": 0}, "baseline_days"),
    ({"baseline_days": -1}, "baseline_days"), ({"sigma_floor": -0.5}, "sigma_floor"),
    ({"min_history_days": "3"}, "min_history_days"), ({"overlap": "yes"}, "overlap"),
    ({"sustained": 0}, "sustained"), ({"sustained": 1.5}, "sustained"), ({"max_listed": 0}, "max_listed"),
    ({"end": "yesterday"}, "end"), ({"end": 5}, "end"), ({"baseline_days": 0.01}, "baseline_days"),
])
def test_validate_names_the_bad_parameter(params, parameter):
    with pytest.raises(ConfigError, match=parameter):
        FanoutDetector("lateral", **params).validate()


def test_validate_accepts_the_presets_and_a_textual_end():
    for name in PRESETS:
        FanoutDetector(name).validate()
    FanoutDetector("lateral", end="2024-03-20T00:00:00Z", bucket="10m", detect_last="1h").validate()
    with pytest.raises(ConfigError, match="unknown fan-out preset 'nope'"):
        FanoutDetector("nope").validate()
    with pytest.raises(ConfigError, match="preset"):
        FanoutDetector(42).validate()


def test_hunt_entries_take_only_their_own_parameters():
    entries = {e.section: e for e in HUNTS}
    assert set(entries) == {f"fanout.{n}" for n in PRESETS} | {"mismatch", "fanout.custom"}
    lateral = entries["fanout.lateral"]
    assert "preset" not in inspect.signature(lateral.build).parameters
    assert isinstance(lateral.build, functools.partial)
    with pytest.raises(ConfigError, match="unknown parameter.*preset"):
        lateral.make({"preset": "port-scan"}, "[fanout.lateral]")
    with pytest.raises(ConfigError, match=r"\[fanout.lateral\]: k must be"):
        lateral.make({"k": "x"}, "[fanout.lateral]")
    assert entries["fanout.av-sustained"].table == "detections"
    assert lateral.make({"k": 3.0}, "x").spec().kind == "lateral_movement"

    custom = entries["fanout.custom"]
    assert not custom.default and custom.table_for({"table": "connections"}) == "connections"
    det = custom.make({"table": "logons", "entity": "source_host", "target": "user",
                       "where": ["event_code=4625"], "detect_last": "1d"}, "[fanout.custom]")
    spec = det.spec()
    assert (spec.entity_type, spec.target_type, spec.detect_last) == ("hosts", "users", "1d")
    with pytest.raises(ConfigError, match="column=value"):
        custom.make({"table": "logons", "entity": "user", "target": "target_host", "where": ["x"]}, "c")
    with pytest.raises(ConfigError, match="unknown parameter"):
        custom.make({"table": "logons", "entity": "user", "target": "target_host", "preset": "x"}, "c")


def test_kinds_are_declared_once_and_match_the_presets():
    names = [k.name for k in KINDS]
    assert len(names) == len(set(names))
    declared = registry.kinds()
    for name, spec in PRESETS.items():
        kind = declared[spec.kind]
        assert kind.hunt == f"fanout.{name}" and kind.table == spec.table and kind.plot == "series"
    assert declared["logon_brute_force"].technique == "T1110.001"
    assert declared["password_guessing"].actors == ("ips", "hosts")
    assert declared["host_scan"].blockable and not declared["lateral_movement"].blockable
    assert declared["protocol_mismatch"].technique == "T1571"
    for entry in HUNTS:
        assert all(declared[k].hunt == entry.section for k in entry.kinds)


def test_roles_a_scanned_host_is_a_target_never_an_actor(engine, sims):
    conns, _ = read_connections(sims[1]["path"], engine)
    truth = {t["kind"]: t for t in sims[1]["truth"]}
    for name in ("host-scan", "port-scan"):
        det = FanoutDetector(name, detect_last="1d").fit(conns, engine)
        (finding,) = det.detect(det.score(conns))
        scanner = truth[finding.kind]["entity"]
        assert finding.actors == {"ips": [scanner]}
        kind = registry.kind(finding.kind)
        assert set(finding.targets) <= set(kind.targets) and set(finding.actors) <= set(kind.actors)
        targets = finding.targets["ips" if name == "host-scan" else "ports"]
        assert len(targets) == min(finding.evidence["target_count"], det.max_listed)
        assert not set(targets) & set(finding.actors["ips"])
        if name == "port-scan":
            assert all(p.isdigit() for p in targets)
    mismatch = ProtocolMismatch().fit(conns, engine)
    (finding,) = mismatch.detect(mismatch.score(conns))
    assert finding.actors == {"ips": [truth["protocol_mismatch"]["entity"]]}
    assert finding.targets["ips"] and finding.actors["ips"][0] not in finding.targets["ips"]
    assert set(finding.entities["ips"]) == {*finding.actors["ips"], *finding.targets["ips"]}
