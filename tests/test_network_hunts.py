"""The network hunts: on a simulated office every planted case is found and the benign look-alikes stay
quiet; each rule on small hand-made tables; the same findings on every engine."""

from __future__ import annotations

from datetime import datetime, timedelta, timezone

import pyarrow as pa
import pytest

from tracehound.errors import ConfigError, NotFittedError
from tracehound.evaluation.network import HUNTS, match, run_daily
from tracehound.network import DeadSpace, Exfiltration, LongSessions, PeerGroups
from tracehound.readers.connections import read_connections
from tracehound.schema import CONNECTIONS
from tracehound.simulate.connections import ConnSimConfig, simulate_connections

CFG = ConnSimConfig(hosts=60, days=17, seed=11, attack_after_day=15)
T0 = datetime(2024, 1, 1, tzinfo=timezone.utc)


@pytest.fixture(scope="module")
def office(tmp_path_factory, duckdb_engine):
    sim = simulate_connections(tmp_path_factory.mktemp("office"), CFG)
    table, report = read_connections(sim["path"], duckdb_engine)
    assert report.bad_count == 0
    return sim, duckdb_engine.materialize(table, "office")


@pytest.mark.parametrize("name", list(HUNTS))
def test_planted_cases_found_and_look_alikes_quiet(name, office, duckdb_engine):
    sim, table = office
    cls, kind = HUNTS[name]
    first = CFG.start + timedelta(days=14)
    findings = run_daily(table, duckdb_engine, cls, first, 3, 14)
    score = match(findings, sim["truth"], kind, sim["roles"], (CFG.hosts + 20) * 3)
    assert score.planted >= 2 and score.found == score.planted, score.missed
    assert score.false == 0, score.false_ids
    benign = {sim["roles"][r] for r in ("backup", "scanner", "patch", "proxy")}
    assert not any(set(f.actors["ips"]) & benign for f in findings)
    for f in findings:
        assert f.kind == kind and f.actors["ips"] and f.event_ids and f.explanation
        ev = f.evidence
        assert ev["series"] and ev["bucket"] == "1h" and ev["buckets_over_bound"]
        assert not set(f.targets.get("ips", [])) & set(f.actors["ips"])


@pytest.fixture(scope="module")
def reference(office, duckdb_engine):
    """Each hunt judging the last two days on DuckDB, as finding dicts."""
    sim, table = office
    end = CFG.start + timedelta(days=CFG.days)
    out = {}
    for name, (cls, _kind) in HUNTS.items():
        hunt = cls(detect_last="2d", end=end).fit(table, duckdb_engine)
        out[name] = [f.to_dict() for f in hunt.detect(hunt.score(table))]
    return out


@pytest.mark.parity
def test_same_findings_on_every_engine(office, reference, engine):
    sim, _ = office
    end = CFG.start + timedelta(days=CFG.days)
    table = None if engine.name == "duckdb" else read_connections(sim["path"], engine)[0]
    for name, (cls, kind) in HUNTS.items():
        if table is None:
            found = reference[name]
        else:
            hunt = cls(detect_last="2d", end=end).fit(table, engine)
            found = [f.to_dict() for f in hunt.detect(hunt.score(table))]
            assert found == reference[name], name
        since = (end - timedelta(days=2)).isoformat().replace("+00:00", "Z")
        planted = {t["entity"] for t in sim["truth"] if t["kind"] == kind and t["start"] >= since}
        assert planted, name
        assert planted <= {f["actors"]["ips"][0] for f in found}, (name, planted)


def _table(engine, rows, name="net"):
    recs = [{"event_id": f"c{i}", "time": T0 + timedelta(hours=h), "src_ip": s, "dst_ip": d, "dst_port": p,
             "proto": "tcp", "service": None, "bytes_out": out, "bytes_in": back, "duration": dur, "source": "t"}
            for i, (h, s, d, p, out, back, dur) in enumerate(rows)]
    return engine.load(pa.Table.from_pylist(recs, schema=CONNECTIONS), name)


def _days(n: int, hour: int, row):
    return [(d * 24 + hour, *row) for d in range(n)]


def test_exfiltration_per_port_keeps_a_nightly_backup_quiet(duckdb_engine):
    """A host that uploads 5 GB off-site every night is normal on that port; 2 GB out over SSH is not,
    and a host with no history is judged against the population (cold start)."""
    rows = []
    for d in range(15):
        rows += [(d * 24 + 10 + k, "10.0.0.5", "203.0.113.9", 443, 20_000 + 1000 * k, 90_000, 2.0) for k in range(6)]
        rows += [(d * 24 + 10 + k, "10.0.0.6", "203.0.113.9", 443, 30_000 + 500 * k, 90_000, 2.0) for k in range(6)]
        rows.append((d * 24 + 2, "10.0.0.5", "198.51.100.1", 8443, 5_000_000_000 + d, 10_000, 900.0))
    rows.append((14 * 24 + 15, "10.0.0.5", "192.0.2.66", 22, 2_000_000_000, 5_000, 600.0))
    rows.append((14 * 24 + 16, "10.0.0.77", "192.0.2.67", 443, 900_000_000, 5_000, 600.0))
    table = _table(duckdb_engine, rows)
    hunt = Exfiltration(detect_last="1d", min_history_days=3).fit(table, duckdb_engine)
    findings = hunt.detect(hunt.score(table))
    assert sorted(f.actors["ips"][0] for f in findings) == ["10.0.0.5", "10.0.0.77"]
    five = next(f for f in findings if f.actors["ips"] == ["10.0.0.5"])
    assert five.targets == {"ips": ["192.0.2.66"], "ports": ["22"]} and "192.0.2.66:22" in five.explanation
    assert five.evidence["flagged"][0]["basis"] == "port population" or five.evidence["flagged"][0]["port"] == 22
    cold = next(f for f in findings if f.actors["ips"] == ["10.0.0.77"])
    assert cold.evidence["host_baseline"]["basis"] == "population"
    assert all(f.severity in ("medium", "high") for f in findings)
    # bytes inside the network are not exfiltration unless scope says so
    inside = _table(duckdb_engine, rows + [(14 * 24 + 17, "10.0.0.6", "10.0.9.9", 445, 3_000_000_000, 1, 60.0)],
                    "inside")
    external = Exfiltration(detect_last="1d").fit(inside, duckdb_engine)
    everything = Exfiltration(detect_last="1d", scope="all").fit(inside, duckdb_engine)
    assert "10.0.0.6" not in {f.actors["ips"][0] for f in external.detect(external.score(inside))}
    assert "10.0.0.6" in {f.actors["ips"][0] for f in everything.detect(everything.score(inside))}


def test_peer_groups_learn_shared_servers_and_answered_pairs(duckdb_engine):
    eng, hr, it, sales, srv = "10.0.1.", "10.0.2.", "10.0.3.", "10.0.4.", "10.1.0."
    rows = []
    for d in range(10):
        for g in (eng, hr, it, sales):
            rows.append((d * 24 + 9, f"{g}10", f"{srv}5", 88, 100, 200, 0.1))     # DC: everyone
            rows.append((d * 24 + 9, f"{g}11", f"{eng}200", 9100, 100, 50, 1.0))  # a printer all use
        rows.append((d * 24 + 10, f"{it}10", f"{hr}20", 3389, 100, 100, 60.0))   # IT supports HR
        if d < 9:
            rows.append((d * 24 + 11, f"{eng}12", f"{hr}21", 445, 60, 0, None))   # unanswered: teaches nothing
    rows.append((9 * 24 + 14, f"{eng}13", f"{hr}20", 445, 4000, 6000, 3.0))       # first contact
    rows.append((9 * 24 + 15, f"{hr}30", f"{eng}200", 9100, 100, 50, 1.0))        # printer: shared service
    rows.append((9 * 24 + 16, f"{it}10", f"{hr}22", 3389, 100, 100, 60.0))        # known pair
    table = _table(duckdb_engine, rows)
    hunt = PeerGroups(detect_last="1d", min_history_days=3,
                      groups={"10.0.1.0/24": "engineering", "10.0.2.0/24": "hr"}).fit(table, duckdb_engine)
    scores = hunt.score(table)
    assert scores.shared == [f"{eng}200", f"{srv}5"]
    (finding,) = hunt.detect(scores)
    assert finding.actors == {"ips": [f"{eng}13"]} and finding.targets == {"ips": [f"{hr}20"], "ports": ["445"]}
    assert finding.severity == "high" and "engineering" in finding.explanation and "hr" in finding.explanation
    (pair,) = finding.evidence["new_pairs"]
    assert pair["group"] == "hr" and pair["reached_by_groups"] == 1 and not pair["reverse_known"]
    assert finding.evidence["groups_established"] == 5


def test_dead_space_one_packet_learned_sweepers_and_unused_ranges(duckdb_engine):
    rows = []
    for d in range(10):
        for h in range(2, 12):
            rows.append((d * 24 + 9, f"10.0.0.{h}", "10.1.0.5", 53, 60, 120, 0.01))   # every host is alive
        if d % 3 == 0:  # a sweeper, seen on several days, reaching many dead addresses
            rows += [(d * 24 + 20, "10.1.0.9", f"10.0.0.{o}", 445, 60, 0, None) for o in range(100, 140)]
        rows.append((d * 24 + 1, "10.1.0.7", "10.0.0.99", 10000, 60, 0, None))    # backup retrying a retired host
        rows.append((d * 24 + 9, "10.0.0.3", "10.0.0.255", 138, 200, 0, None))    # broadcast: never a host
    rows.append((9 * 24 + 13, "10.0.0.4", "10.0.0.180", 445, 60, 0, None))        # one SYN into dead space
    rows.append((9 * 24 + 13, "10.0.0.5", "10.0.0.6", 445, 60, 500, 1.0))         # alive: fine
    rows.append((9 * 24 + 14, "10.0.0.7", "10.0.0.8", 22, 60, 500, 1.0))          # alive but in an unused range
    table = _table(duckdb_engine, rows)
    hunt = DeadSpace(detect_last="1d", unused=["10.0.0.8/32"]).fit(table, duckdb_engine)
    scores = hunt.score(table)
    assert scores.sweepers["src"].tolist() == ["10.1.0.9"]
    findings = {f.actors["ips"][0]: f for f in hunt.detect(scores)}
    assert set(findings) == {"10.0.0.4", "10.0.0.7"}
    assert findings["10.0.0.4"].targets == {"ips": ["10.0.0.180"], "ports": ["445"]}
    assert findings["10.0.0.4"].severity == "high"  # SMB: a lateral-movement port
    assert findings["10.0.0.7"].evidence["unused_range"] == ["10.0.0.8"]
    quiet = DeadSpace(detect_last="1d", scanners=["10.0.0.4/32"], unused=["10.0.0.8/32"]).fit(table, duckdb_engine)
    assert {f.actors["ips"][0] for f in quiet.detect(quiet.score(table))} == {"10.0.0.7"}


def test_long_session_ending_in_the_window_and_cold_start(duckdb_engine):
    rows = []
    for d in range(10):
        for h in range(2, 8):
            rows.append((d * 24 + 9, f"10.0.0.{h}", "203.0.113.5", 443, 900, 9000, 8 * 3600.0))  # chat, all day
            rows += [(d * 24 + 10 + k, f"10.0.0.{h}", "203.0.113.6", 443, 900, 9000, 4.0) for k in range(5)]
            rows.append((d * 24 + 11, f"10.0.0.{h}", "10.1.0.3", 22, 900, 9000, 600.0))
    rows.append((8 * 24 + 6, "10.0.0.2", "192.0.2.44", 443, 5000, 5000, 30 * 3600.0))   # ends in the window
    rows.append((9 * 24 + 6, "10.0.0.3", "192.0.2.45", 4444, 5000, 5000, 14 * 3600.0))  # new service: population
    rows.append((9 * 24 + 7, "10.0.0.4", "203.0.113.5", 443, 900, 9000, 9 * 3600.0))    # its usual chat
    table = _table(duckdb_engine, rows)
    hunt = LongSessions(detect_last="1d").fit(table, duckdb_engine)
    findings = {f.actors["ips"][0]: f for f in hunt.detect(hunt.score(table))}
    assert set(findings) == {"10.0.0.2", "10.0.0.3"}
    assert findings["10.0.0.2"].evidence["sessions"][0]["basis"] == "host"
    assert findings["10.0.0.3"].evidence["baseline"] == "population"
    assert findings["10.0.0.2"].severity == "high" and findings["10.0.0.2"].evidence["sessions"][0]["outside"]


def test_a_log_without_byte_counts_still_learns(duckdb_engine):
    """A firewall export with no bytes says nothing about answers: every connection is a conversation
    for the peer groups, and an address hosts kept using on several days is alive."""
    rows = []
    for d in range(10):
        rows.append((d * 24 + 9, "10.0.1.10", "10.0.2.20", 445, None, None, None))   # eng → hr, daily
        rows.append((d * 24 + 9, "10.0.1.11", "10.0.2.30", 9100, None, None, None))  # a printer
        rows.append((d * 24 + 9, "10.0.1.12", "10.0.2.30", 9100, None, None, None))
    rows.append((9 * 24 + 13, "10.0.1.13", "10.0.2.20", 445, None, None, None))      # known pair
    rows.append((9 * 24 + 14, "10.0.1.13", "10.0.2.99", 445, None, None, None))      # never used
    table = _table(duckdb_engine, rows, "nobytes")
    peers = PeerGroups(detect_last="1d", shared_groups=2).fit(table, duckdb_engine)
    assert not peers.answers_ and peers.detect(peers.score(table)) == []
    dead = DeadSpace(detect_last="1d").fit(table, duckdb_engine)
    (finding,) = dead.detect(dead.score(table))
    assert finding.targets["ips"] == ["10.0.2.99"]


@pytest.mark.parametrize("cls, params, parameter", [
    (Exfiltration, {"k": 0}, "k"), (Exfiltration, {"scope": "inside"}, "scope"),
    (Exfiltration, {"min_bytes": 0}, "min_bytes"), (Exfiltration, {"detect_last": "90m"}, "detect_last"),
    (PeerGroups, {"shared_groups": 1}, "shared_groups"), (PeerGroups, {"groups": {"10.0.0.1/24": "x"}}, "groups"),
    (PeerGroups, {"prefix": 40}, "prefix"), (DeadSpace, {"unused": "10.0.0.0/8"}, "unused"),
    (DeadSpace, {"scanners": ["nope"]}, "scanners"), (LongSessions, {"min_duration": "x"}, "min_duration"),
    (LongSessions, {"max_factor": 0.5}, "max_factor"), (LongSessions, {"sigma_cap": 0.1}, "sigma_cap"),
    (LongSessions, {"internal": ["10.0.0.0/33"]}, "internal"),
    (LongSessions, {"end": "yesterday"}, "end"), (DeadSpace, {"baseline_days": 0}, "baseline_days"),
])
def test_validate_names_the_bad_parameter(cls, params, parameter):
    with pytest.raises(ConfigError, match=parameter):
        cls(**params).validate()


@pytest.mark.parametrize("cls", [Exfiltration, PeerGroups, DeadSpace, LongSessions])
def test_score_before_fit_and_an_empty_table(cls, duckdb_engine):
    table = _table(duckdb_engine, [], f"empty-{cls.__name__}")
    with pytest.raises(NotFittedError):
        cls().score(table)
    hunt = cls().fit(table, duckdb_engine)
    assert hunt.detect(hunt.score(table)) == []
