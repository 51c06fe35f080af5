"""Kerberos and NTLM credential events: read into ``logons`` with protocol and failure kind, hunted by
``password-guessing`` / ``brute-force``, a Kerbrute enumeration reported as ``user_enumeration``."""

from __future__ import annotations

import json
from collections import Counter

import pytest

from tracehound import registry
from tracehound.fanout import FanoutDetector
from tracehound.readers.authcodes import FAILURE_KINDS, failure_kind
from tracehound.readers.logons import read_logons, windows_row
from tracehound.simulate.dc import DcSimConfig, simulate_dc

SAMPLE = "evtx-attack-samples/kerberos_pwd_spray_4771.evtx"
SPRAYER = "172.16.66.1"
SEEDS = (0, 1, 2)


def _hunt(table, engine, preset: str, **params):
    detector = FanoutDetector(preset, **params).fit(table, engine)
    return detector.detect(detector.score(table))


def test_real_kerberos_spray_is_read_and_its_source_reported(duckdb_engine, data_dir):
    table, report = read_logons(data_dir / SAMPLE, duckdb_engine)
    assert report.bad_count == 0 and report.records == 11   # 9 failures, 2 successes for `normal`
    assert report.skipped == Counter({"event 1102 (Security): no hunt reads it": 1})
    rows = duckdb_engine.to_pandas(table)
    failed = rows[~rows["success"]]
    assert set(failed["source_ip"]) == {SPRAYER} and set(rows["auth_protocol"]) == {"kerberos"}
    assert Counter(failed["failure_kind"]) == {"unknown_user": 7, "bad_password": 2}
    assert set(failed.loc[failed["event_code"] == 4771, "user"]) == {"Administrator", "backdoor"}
    assert set(failed.loc[failed["event_code"] == 4771, "status"]) == {0x18}

    findings = _hunt(table, duckdb_engine, "password-guessing")
    assert [f.kind for f in findings] == ["password_guessing"]   # 7 of 9 unknown: a spray, not enumeration
    f = findings[0]
    assert f.actors == {"ips": [SPRAYER]}
    assert set(f.targets["users"]) == {"HD01", "admin", "svc-02", "HD02", "svc-01", "bob", "admin02",
                                       "Administrator", "backdoor"}
    assert f.evidence["failure_kinds"] == {"unknown_user": 7, "bad_password": 2}
    assert _hunt(table, duckdb_engine, "brute-force") == []   # one attempt per account


def test_status_codes_give_success_and_failure_kind():
    base = {"TimeCreated": "2024-05-01T10:00:00Z", "Computer": "dc01.corp.local", "TargetUserName": "alice"}
    row = windows_row({**base, "EventID": 4768, "Status": "0x0", "IpAddress": "::ffff:10.1.2.3"}, "x:1", "t")
    assert row["success"] and row["failure_kind"] is None and row["source_ip"] == "10.1.2.3"
    assert row["auth_protocol"] == "kerberos" and row["target_host"] == "DC01"
    row = windows_row({**base, "EventID": 4768, "Status": "0x12", "IpAddress": "::ffff:10.1.2.3"}, "x:2", "t")
    assert not row["success"] and row["failure_kind"] == "locked" and row["status"] == 0x12
    row = windows_row({**base, "EventID": 4776, "Status": "0xC0000064", "Workstation": "kali"}, "x:3", "t")
    assert (row["auth_protocol"], row["failure_kind"], row["source_host"], row["source_ip"]) == \
        ("ntlm", "unknown_user", "KALI", None)
    row = windows_row({**base, "EventID": 4625, "Status": "0xC000006D", "SubStatus": "0xC000006A",
                       "AuthenticationPackageName": "NTLM", "IpAddress": "10.9.9.9"}, "x:4", "t")
    assert (row["failure_kind"], row["status"], row["auth_protocol"]) == ("bad_password", 0xC000006A, "ntlm")
    row = windows_row({**base, "EventID": 4624, "AuthenticationPackageName": "Kerberos"}, "x:5", "t")
    assert row["success"] and row["auth_protocol"] == "kerberos" and row["failure_kind"] is None
    assert failure_kind(4771, 0x25) == "other" and set(FAILURE_KINDS) >= {"bad_password", "unknown_user"}
    with pytest.raises(ValueError, match="Status"):
        windows_row({**base, "EventID": 4776, "Status": "wrong"}, "x:6", "t")


@pytest.fixture(scope="module")
def dcs(tmp_path_factory, duckdb_engine):
    """Simulated domain controllers (one per seed): table, truth, terminal servers."""
    out = []
    for seed in SEEDS:
        info = simulate_dc(tmp_path_factory.mktemp(f"dc{seed}"), DcSimConfig(seed=seed))
        table, report = read_logons(info["path"], duckdb_engine)
        assert report.bad_count == 0
        out.append((table, info))
    return out


def test_simulated_kerbrute_ntlm_and_kerberos_sprays_are_found_and_nothing_else(dcs, duckdb_engine):
    for table, info in dcs:
        expected = {("user_enumeration" if t["kind"] == "user_enumeration" else "password_guessing",
                     t["source"]) for t in info["truth"]}
        assert {t["kind"] for t in info["truth"]} == {"user_enumeration", "ntlm_spray", "kerberos_spray"}
        findings = _hunt(table, duckdb_engine, "password-guessing", detect_last="3d")
        found = {(f.kind, (f.actors.get("ips") or f.actors.get("hosts"))[0]) for f in findings}
        assert found == expected, info["truth"]
        for f in findings:
            truth = next(t for t in info["truth"] if t["source"] in (f.actors.get("ips") or f.actors["hosts"]))
            assert set(f.targets["users"]) <= set(truth["accounts"])   # nothing else ...
            assert f.evidence["target_count"] == len(truth["accounts"])  # ... and every account
        enum = next(f for f in findings if f.kind == "user_enumeration")
        assert "user enumeration" in enum.explanation and enum.evidence["failure_kinds"]["unknown_user"] > 0
        # terminal servers: many accounts an hour, typos retyped: never a guess
        assert not any(ts in str(f.actors) for f in findings for ts in info["terminal_servers"])
        assert _hunt(table, duckdb_engine, "brute-force", detect_last="3d") == []


def test_kinds_are_registered_and_documented(data_dir):
    kind = registry.kind("user_enumeration")
    assert kind is not None and kind.hunt == "fanout.password-guessing" and kind.blockable
    assert kind.actors == ("ips", "hosts") and kind.targets == ("users",)
    assert "user_enumeration" in registry.hunt("fanout.password-guessing").kinds
    table = (data_dir.parent.parent / "docs" / "findings.md").read_text(encoding="utf-8")
    assert "| `user_enumeration` | `fanout.password-guessing` | `logons` |" in table


def test_unused_events_say_which_ids_were_seen(duckdb_engine, tmp_path):
    sysmon = [{"Event": {"System": {"EventID": eid, "Channel": "Microsoft-Windows-Sysmon/Operational",
                                    "TimeCreated": {"#attributes": {"SystemTime": "2024-05-01T10:00:00Z"}}},
                         "EventData": {"Image": "C:\\x.exe"}}} for eid in (1, 1, 3, 11)]
    shares = [{"EventID": 5145, "TimeCreated": "2024-05-01T10:00:00Z", "ShareName": "\\\\*\\IPC$"}] * 3
    for name, records in (("sysmon.jsonl", sysmon), ("shares.jsonl", shares)):
        (tmp_path / name).write_text("".join(json.dumps(r) + "\n" for r in records), encoding="utf-8")
    table, report = read_logons(tmp_path, duckdb_engine)
    assert report.records == 0 and report.bad_count == 0
    assert report.skipped["event 1 (Microsoft-Windows-Sysmon/Operational): no hunt reads it"] == 2
    assert report.skipped["event 5145: no hunt reads it"] == 3
    notes = {w.file.rsplit("/", 1)[-1]: w.reason for w in report.warnings}
    assert "none of its 4 records is an event a hunt reads" in notes["sysmon.jsonl"]
    assert "event 1 (Microsoft-Windows-Sysmon/Operational) ×2" in notes["sysmon.jsonl"]
    assert "event 5145 ×3" in notes["shares.jsonl"] and "4768" in notes["shares.jsonl"]
    assert "event 1 (" in report.summary() and not report.partial   # said, nothing set aside


def test_sshd_invalid_user_failures_are_unknown_users(duckdb_engine, data_dir):
    path = data_dir / "loghub-ssh/OpenSSH_2k.log"
    lines = path.read_text(encoding="utf-8").splitlines()
    table, _ = read_logons(path, duckdb_engine, syslog_year=2016)
    rows = duckdb_engine.to_pandas(table)
    assert set(rows["auth_protocol"]) == {"ssh"}
    failed = rows[~rows["success"]]
    for event_id, kind in zip(failed["event_id"], failed["failure_kind"]):
        raw = lines[int(event_id.split(":")[1].split(".")[0]) - 1]
        if "Failed " in raw:
            assert (kind == "unknown_user") == ("invalid user" in raw), raw
    assert Counter(failed["failure_kind"])["unknown_user"] >= 135   # grep -c "Failed password for invalid user"


@pytest.mark.parity
def test_kerberos_spray_and_short_capture_scan_are_the_same_on_every_engine(engine, data_dir, tmp_path):
    """The SQL these hunts added — the credential proof-of-password join, the failure-kind label, the
    unicast filter, the short capture's window — gives the same findings on each engine."""
    from tracehound.readers.connections import read_connections
    from tracehound.simulate.capture import CaptureConfig, simulate_capture

    table, _ = read_logons(data_dir / SAMPLE, engine)
    (spray,) = _hunt(table, engine, "password-guessing")
    assert spray.actors == {"ips": [SPRAYER]} and spray.evidence["failure_kinds"]["unknown_user"] == 7
    info = simulate_capture(tmp_path, CaptureConfig(workstations=10, seed=6, scan="port"))
    conns, _ = read_connections(info["path"], engine)
    (scan,) = _hunt(conns, engine, "port-scan")
    assert scan.actors == {"ips": [info["truth"][0]["source"]]} and scan.evidence["baseline"] == "capture"
    assert _hunt(conns, engine, "host-scan") == []
