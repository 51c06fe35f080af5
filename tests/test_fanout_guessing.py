"""The password-guessing fan-out preset on real sprays and brute forces, and on benign logons.

Each expected value comes from the raw data by a route independent of the readers (regexes over the
syslog text, the EVTX records' JSON rendering, the OTRF JSON), not from a previous run.
"""

from __future__ import annotations

import gzip
import io
import json
import re
import zipfile
from collections import defaultdict
from dataclasses import replace
from datetime import datetime, timedelta, timezone

import pyarrow as pa
from typer.testing import CliRunner

from tracehound import hunt, registry
from tracehound.cli import app
from tracehound.evaluation.fanout import run_daily
from tracehound.fanout import FanoutDetector, preset
from tracehound.findings import read_jsonl
from tracehound.readers.logons import read_logons
from tracehound.schema import LOGONS
from tracehound.simulate.logons import LogonSimConfig, simulate_logons

OPENSSH = "loghub-ssh/OpenSSH_2k.log"
_FAILED = re.compile(r"^(\w{3} +\d+ [\d:]+) \S+ sshd\[\d+\]: (?:message repeated \d+ times: \[ )?"
                     r"Failed \S+ for (?:invalid user )?(.*?) from (\S+) port \d+")


def guessing(table, engine):
    det = FanoutDetector("password-guessing").fit(table, engine)
    return det.detect(det.score(table))


def _openssh_truth(path) -> dict[str, int]:
    """Per source IP, the most distinct accounts it failed against in any 1-hour bucket, aligned or
    shifted by half an hour (the detector scores both grids). ``anonymous`` is left out because the
    reader's account filter drops it."""
    seen: dict[tuple[str, str, int], set[str]] = defaultdict(set)
    for line in path.read_text().splitlines():
        m = _FAILED.match(line)
        if not m or m[2] == "anonymous":
            continue
        t = datetime.strptime("2016 " + m[1], "%Y %b %d %H:%M:%S")
        seconds = (t - datetime(2016, 1, 1)).total_seconds()
        seen[(m[3], "aligned", int(seconds // 3600))].add(m[2])
        seen[(m[3], "shifted", int((seconds - 1800) // 3600))].add(m[2])
    most: dict[str, int] = defaultdict(int)
    for (ip, _, _), users in seen.items():
        most[ip] = max(most[ip], len(users))
    return most


def test_ssh_scanners_are_reported(engine, data_dir):
    table, _ = read_logons(data_dir / OPENSSH, engine, syslog_year=2016)
    findings = guessing(table, engine)
    truth = _openssh_truth(data_dir / OPENSSH)
    # a 4-hour capture: no baseline, no population, so the bound is the floor ceil(0 + 2·1) = 2
    assert {f.evidence["baseline"] for f in findings} == {"none"}
    assert {f.actors["ips"][0] for f in findings} == {ip for ip, n in truth.items() if n > 2}
    assert all(set(f.targets) == {"users"} for f in findings)
    assert {"183.62.140.253", "187.141.143.180", "103.99.0.122"} <= {f.evidence["entity"] for f in findings}
    for ip in ("183.62.140.253", "187.141.143.180"):
        mine = [f for f in findings if f.evidence["entity"] == ip]
        assert max(f.evidence["observed"] for f in mine) == truth[ip]
        assert mine[0].kind == "password_guessing" and f"{ip} tried" in mine[0].explanation


def test_linux_root_brute_force_is_not_a_spray(duckdb_engine, data_dir):
    """Linux_2k's guessing is one account (root) per source: not a distinct-account fan-out."""
    table, _ = read_logons(data_dir / "loghub-ssh/Linux_2k.log", duckdb_engine, syslog_year=2005)
    failed = table.filter(~table.success)
    per_source = duckdb_engine.to_pandas(
        failed.group_by(["source_ip", "source_host"]).aggregate(users=failed.user.nunique()))
    assert len(per_source) > 10 and per_source["users"].max() <= 2
    assert guessing(table, duckdb_engine) == []


def test_deepbluecli_explicit_credential_spray(engine, data_dir):
    folder = data_dir / "deepbluecli-evtx"
    accounts, sources = set(), set()
    for line in (folder / "password-spray.derived.jsonl").read_text().splitlines():
        event = json.loads(line)["Event"]
        if event["System"]["EventID"] == 4648:
            accounts.add(event["EventData"]["TargetUserName"])
            sources.add(event["EventData"]["IpAddress"])
    assert sources == {"172.16.144.128"} and len(accounts) == 41
    table, _ = read_logons(folder / "password-spray.evtx", engine)
    findings = guessing(table, engine)
    assert len(findings) == 1
    f = findings[0]
    assert f.actors == {"ips": ["172.16.144.128"]} and set(f.targets["users"]) == accounts
    assert f.evidence["observed"] == 41 and f.first_seen.startswith("2019-04-30T19:2")


def test_smb_brute_force_on_one_account_is_not_a_spray(duckdb_engine, data_dir):
    with gzip.open(data_dir / "deepbluecli-evtx/smb-password-guessing-security.derived.jsonl.gz", "rt") as fh:
        users = {json.loads(x)["Event"]["EventData"]["TargetUserName"] for x in fh}
    assert len(users) <= 2  # Administrator (+1): a brute force, which this preset does not count
    table, _ = read_logons(data_dir / "deepbluecli-evtx/smb-password-guessing-security.evtx", duckdb_engine)
    assert guessing(table, duckdb_engine) == []


def test_otrf_spray_falls_back_to_the_workstation(engine, data_dir):
    """OTRF's 4625s have no IpAddress; the source is the WorkstationName."""
    path = data_dir / "otrf-lateral/purplesharp_ad_playbook_I.zip"
    failed = set()
    with zipfile.ZipFile(path) as zf, zf.open(zf.namelist()[0]) as fh:
        for line in io.TextIOWrapper(fh, encoding="utf-8"):
            rec = json.loads(line)
            if rec.get("EventID") == 4625:
                assert rec.get("IpAddress") in (None, "-", "")
                failed.add((rec["WorkstationName"].upper(), rec["TargetUserName"]))
    assert {w for w, _ in failed} == {"WORKSTATION5"}
    table, _ = read_logons(path, engine)
    findings = guessing(table, engine)
    assert [f.evidence["entity"] for f in findings] == ["WORKSTATION5"]
    # the source is a workstation name (no IP): a host among the actors, never an address to block
    assert findings[0].actors == {"hosts": ["WORKSTATION5"]}
    assert set(findings[0].targets["users"]) == {u for _, u in failed}


def test_benign_simulated_logons_give_no_finding(duckdb_engine, tmp_path):
    """Three weeks of a 300-user domain with typo failures, no attack: run daily over the last week."""
    cfg = LogonSimConfig(users=300, days=21, seed=4, lateral_bursts=0)
    sim = simulate_logons(tmp_path, cfg)
    table, _ = read_logons(sim["path"], duckdb_engine)
    assert duckdb_engine.scalar(table.filter(~table.success).count()) > 50  # there are failures
    # the simulator's users retype at once: the typo rule drops every failure
    assert duckdb_engine.scalar(FanoutDetector("password-guessing").prepare(table).count()) == 0
    findings = run_daily(table, duckdb_engine, "password-guessing", cfg.start + timedelta(days=14), 7, 14, {})
    assert findings == []
    # and without the typo rule, the baselines alone keep the failures quiet
    every_failure = replace(preset("password-guessing"), where=lambda t: t.success == False)  # noqa: E712
    assert duckdb_engine.scalar(FanoutDetector(every_failure).prepare(table).count()) > 50
    assert run_daily(table, duckdb_engine, every_failure, cfg.start + timedelta(days=14), 7, 14, {}) == []


def _gateway(engine, retyped: bool, name: str):
    """Five people behind one address mistype their password in the same hour, and (or not) retype it."""
    t0 = datetime(2024, 3, 4, 9, tzinfo=timezone.utc)
    rows = []
    for i in range(5):
        user, t = f"user{i}", t0 + timedelta(minutes=7 * i)
        rows.append({"event_id": f"f{i}", "time": t, "user": user, "domain": None, "target_host": "DC1",
                     "source_ip": "10.0.0.1", "source_host": None, "logon_type": 3, "event_code": 4625,
                     "success": False, "source": "test"})
        if retyped:
            rows.append({**rows[-1], "event_id": f"s{i}", "time": t + timedelta(seconds=30 + 100 * i),
                         "event_code": 4624, "success": True})
    return engine.load(pa.Table.from_pylist(rows, schema=LOGONS), name)


def test_retyped_failures_are_typos_not_guesses(engine):
    """A failure followed within 10 minutes by the same account's logon from the same source is a typo."""
    typos = _gateway(engine, True, "gateway_retyped")
    assert guessing(typos, engine) == []
    guesses = _gateway(engine, False, "gateway_guesses")
    findings = guessing(guesses, engine)
    assert [f.evidence["observed"] for f in findings] == [5]
    assert set(findings[0].targets["users"]) == {f"user{i}" for i in range(5)}


def test_hunt_routes_ssh_log_and_maps_attack(engine, data_dir):
    result = hunt.run([data_dir / OPENSSH], engine)
    assert [p.name for p in result.routing.files["logons"]] == ["OpenSSH_2k.log"]
    assert result.reports["logons"].formats["authlog"] == 1
    sources = {f.evidence["entity"] for f in result.findings if f.kind == "password_guessing"}
    assert "183.62.140.253" in sources
    assert registry.kind("password_guessing").technique == "T1110.003"


def test_cli_preset(data_dir, tmp_path):
    out = tmp_path / "out"
    result = CliRunner().invoke(app, ["fanout", str(data_dir / "deepbluecli-evtx" / "password-spray.evtx"),
                                      "--preset", "password-guessing", "--out", str(out)])
    assert result.exit_code == 0, result.output
    findings = read_jsonl(out / "findings.jsonl")
    assert [f["kind"] for f in findings] == ["password_guessing"]
    assert findings[0]["actors"] == {"ips": ["172.16.144.128"]}
    assert "172.16.144.128 tried 41 accounts" in result.output
