"""The antivirus reader: real Defender EVTX and its JSON rendering, Winlogbeat / Sentinel / generic exports,
rejects located and counted, and av-sustained driven end to end from them."""

from __future__ import annotations

import json
from datetime import datetime, timedelta, timezone

import orjson
import pytest

from tracehound.config import HuntConfig
from tracehound.errors import ConfigError
from tracehound.readers.defender import account, read_detections, sniff_detections_format
from tracehound.readers.limits import Limits
from tracehound.report import OUTPUT_FILES, write_outputs
from tracehound.schema import DETECTIONS

from conftest import DATA

DEFENDER = DATA / "defender-evtx"
EVTX = DEFENDER / "WinDefender_Events_1117_1116_AtomicRedTeam.evtx"
DERIVED = DEFENDER / "WinDefender_Events_1117_1116_AtomicRedTeam.derived.jsonl"
THREATS = {"Trojan:PowerShell/Powersploit.M", "Trojan:XML/Exeselrun.gen!A", "HackTool:JS/Jsprat",
           "Backdoor:ASP/Ace.T", "Trojan:Win32/Sehyioa.A!cl"}
DAY0 = datetime(2024, 5, 1, tzinfo=timezone.utc)


def test_sniffing_claims_defender_and_exports_only():
    assert sniff_detections_format(EVTX) == "defender-evtx"
    assert sniff_detections_format(DERIVED) == "defender-json"
    # a Security log is the logon reader's, a web log nobody's here
    assert sniff_detections_format(DATA / "deepbluecli-evtx" / "password-spray.evtx") is None
    assert sniff_detections_format(DATA / "deepbluecli-evtx" / "password-spray.derived.jsonl") is None
    assert sniff_detections_format(DATA / "elastic-apache" / "apache_logs") is None


@pytest.mark.parity
def test_real_defender_evtx(engine):
    table, report = read_detections(EVTX, engine)
    rows = engine.to_pandas(table.order_by("event_id"))
    assert list(table.columns) == DETECTIONS.names
    assert report.records == len(rows) == 11 and report.bad_count == 0
    assert set(rows["detection"]) == THREATS
    assert set(rows["user"]) == {"IEUser"} and set(rows["host"]) == {"MSEDGEWIN10"}
    # Defender's unresolved %%8xx action names are mapped from the action id, never shown raw
    assert set(rows["action"]) <= {"No action", "Quarantine", "Allow"} and "Quarantine" in set(rows["action"])
    assert not rows["path"].str.startswith("file:_").any()
    assert rows["event_id"].str.startswith(EVTX.name + ":").all()
    assert rows["time"].min() == datetime(2019, 7, 18, 20, 40, 0, 580000, tzinfo=timezone.utc)


def test_json_rendering_gives_the_same_rows(duckdb_engine):
    evtx, _ = read_detections(EVTX, duckdb_engine)
    jsonl, report = read_detections(DERIVED, duckdb_engine)
    cols = ["time", "user", "detection", "host", "severity", "action", "path"]
    a = duckdb_engine.to_pandas(evtx).sort_values(cols)[cols].reset_index(drop=True)
    b = duckdb_engine.to_pandas(jsonl).sort_values(cols)[cols].reset_index(drop=True)
    assert report.formats == {"defender-json": 1} and a.equals(b)


def _defender(day: float, user: str, threat: str, host: str, code: int = 1116) -> dict:
    return {"EventID": code, "ProviderName": "Microsoft-Windows-Windows Defender", "Computer": host,
            "TimeCreated": (DAY0 + timedelta(days=day)).isoformat(),
            "Threat Name": threat, "Detection User": user, "Severity ID": "5", "Action ID": "2",
            "Path": f"file:_C:\\Users\\{user}\\Downloads\\x.exe"}


def test_winlogbeat_sentinel_and_flat_shapes(tmp_path, duckdb_engine):
    beat = {"@timestamp": "2024-05-02T10:00:00Z", "winlog": {
        "event_id": 1116, "provider_name": "Microsoft-Windows-Windows Defender", "computer_name": "WS1.corp.example",
        "record_id": 77, "event_data": {"Threat Name": "EICAR_Test_File", "Detection User": "CORP\\alice",
                                        "Detection Time": "2024-05-02T09:59:58.123Z", "Action ID": "2"}}}
    sentinel = {"TimeGenerated": "2024-05-02T11:00:00Z", "EventID": 1117, "Computer": "WS2", "Source":
                "Microsoft-Windows-Windows Defender", "EventData": '<DataItem><EventData xmlns="x">'
                '<Data Name="Threat Name">Trojan:Win32/Wacatac</Data><Data Name="Detection User">NT AUTHORITY\\SYSTEM'
                '</Data><Data Name="Action ID">3</Data></EventData></DataItem>'}
    scan = {**_defender(1, "CORP\\bob", "x", "WS3"), "EventID": 1001}  # a scan finished: no detection
    broken = {**_defender(1, "CORP\\bob", "", "WS3")}                   # no threat name: a reject
    path = tmp_path / "defender.jsonl"
    path.write_bytes(b"\n".join(orjson.dumps(r) for r in (beat, sentinel, scan, broken)) + b"\n{not json\n")
    table, report = read_detections(path, duckdb_engine)
    rows = duckdb_engine.to_pandas(table).set_index("user")
    assert report.records == 2 and report.bad_count == 2
    assert sorted(b.line for b in report.bad) == [4, 5]
    assert rows.loc["alice", "detection"] == "EICAR_Test_File" and rows.loc["alice", "action"] == "Quarantine"
    assert rows.loc["alice", "event_id"] == "defender.jsonl:77"
    assert rows.loc["alice", "time"] == datetime(2024, 5, 2, 9, 59, 58, 123000, tzinfo=timezone.utc)
    # a detection by the system itself belongs to the machine, not to one pooled "SYSTEM" user
    assert rows.loc["WS2$", "detection"] == "Trojan:Win32/Wacatac" and rows.loc["WS2$", "action"] == "Remove"


def test_generic_csv_and_defender_for_endpoint_json(tmp_path, duckdb_engine):
    csv_path = tmp_path / "av.csv"
    csv_path.write_text("Timestamp,DeviceName,AccountName,ThreatName,FolderPath\n"
                        "2024-05-02T10:00:00Z,WS1,alice,EICAR,C:\\t\\eicar.com\n"
                        "2024-05-02T10:05:00Z,WS1,alice,=cmd|' /C calc'!A0,C:\\t\\x.xlsx\n"
                        "2024-05-02T10:06:00Z,WS1,alice\n"
                        "not a time,WS1,alice,EICAR,C:\\t\\eicar.com\n", encoding="utf-8")
    mde = tmp_path / "deviceevents.json"
    mde.write_text(json.dumps([
        {"Timestamp": "2024-05-03T08:00:00Z", "DeviceName": "ws9", "ActionType": "AntivirusDetection",
         "InitiatingProcessAccountName": "carol", "ReportId": 12,
         "AdditionalFields": json.dumps({"ThreatName": "Backdoor:Win32/Bladabindi", "WasRemediated": True})},
        {"Timestamp": "2024-05-03T08:01:00Z", "DeviceName": "ws9", "ActionType": "ProcessCreated",
         "InitiatingProcessAccountName": "carol"}]), encoding="utf-8")
    assert sniff_detections_format(csv_path) == "detections-csv"
    assert sniff_detections_format(mde) == "detections-json"
    table, report = read_detections([csv_path, mde], duckdb_engine)
    rows = duckdb_engine.to_pandas(table)
    assert report.records == 3 and report.bad_count == 2  # short row, unreadable time: located rejects
    assert sorted(b.line for b in report.bad) == [4, 5]
    assert set(rows["detection"]) == {"EICAR", "=cmd|' /C calc'!A0", "Backdoor:Win32/Bladabindi"}
    assert rows.loc[rows["user"] == "carol", "event_id"].tolist() == ["12"]
    # a mapping names a header no alias knows
    odd = tmp_path / "odd.csv"
    odd.write_text("when,who,sig\n2024-05-02T10:00:00Z,dave,Trojan.X\n", encoding="utf-8")
    mapped, _ = read_detections(odd, duckdb_engine, mapping={"time": "when", "user": "who", "detection": "sig"})
    assert duckdb_engine.to_pandas(mapped)[["user", "detection"]].values.tolist() == [["dave", "Trojan.X"]]
    with pytest.raises(ConfigError, match="not a detections column"):
        read_detections(odd, duckdb_engine, mapping={"threat": "sig"})


def test_times_outside_the_limits_are_rejects(tmp_path, duckdb_engine):
    path = tmp_path / "future.jsonl"
    recs = [_defender(0, "CORP\\erin", "EICAR", "WS1"), {**_defender(0, "CORP\\erin", "EICAR", "WS1"),
                                                        "TimeCreated": "2099-01-01T00:00:00Z"}]
    path.write_bytes(b"\n".join(orjson.dumps(r) for r in recs))
    limits = Limits(now=DAY0 + timedelta(days=30))
    table, report = read_detections(path, duckdb_engine, limits=limits)
    assert duckdb_engine.scalar(table.count()) == 1 and report.bad_count == 1
    assert "future" in report.bad[0].reason


@pytest.mark.parametrize("user, host, expected", [
    ("CORP\\alice", "WS1", "alice"), ("NT AUTHORITY\\SYSTEM", "WS1.corp.example", "WS1$"),
    ("", "WS1", "WS1$"), (None, None, None), ("alice", None, "alice")])
def test_account(user, host, expected):
    assert account(user, host) == expected


def test_av_sustained_end_to_end_from_defender_logs(tmp_path, engine):
    """Two weeks of Defender JSON (the odd EICAR test everywhere) plus three days on which one user's
    machine keeps detecting new malware, and the real EVTX: av-sustained names that user alone, and
    every reporter takes the finding."""
    recs = [_defender(d + 0.4, f"CORP\\{u}", "EICAR_Test_File", f"WS-{u}")
            for d in range(14) for u in ("alice", "bob", "carol") if (d + len(u)) % 3 == 0]
    recs += [_defender(d + h / 24, "CORP\\mallory", f"Trojan:Win32/Family{d}{h}", "WS-mallory", code)
             for d in (14, 15, 16) for h in (9, 11, 13, 15) for code in (1116, 1117)]
    path = tmp_path / "defender.jsonl"
    path.write_bytes(b"\n".join(orjson.dumps(r) for r in recs) + b"\n")
    table, report = read_detections([path, EVTX], engine)
    assert report.records == len(recs) + 11 and report.bad_count == 0
    params = {"end": DAY0 + timedelta(days=17), "baseline_days": 14, "min_history_days": 1}
    hunt = HuntConfig({"fanout.av-sustained": params}).build("fanout.av-sustained")
    findings = hunt.detect(hunt.fit(table, engine).score(table))
    assert [f.targets for f in findings] == [{"users": ["mallory"]}]
    assert findings[0].kind == "av_sustained" and len(findings[0].event_ids) == 24
    written = write_outputs(findings, tmp_path / "out", [("inputs", "defender")], reads=report)
    assert set(OUTPUT_FILES) <= set(written)
    # the real EVTX alone, judged in 10-minute buckets: IEUser's burst of five threats in minutes
    real, _ = read_detections(EVTX, engine)
    burst = HuntConfig({"fanout.av-sustained": {"bucket": "10m", "detect_last": "1h", "sustained": 1,
                                                "baseline_days": 1}}).build("fanout.av-sustained")
    (finding,) = burst.detect(burst.fit(real, engine).score(real))
    assert finding.targets == {"users": ["IEUser"]} and finding.evidence["observed"] == 5


def test_the_pipeline_routes_defender_logs_to_the_av_hunt(duckdb_engine):
    """`tracehound hunt` takes a Defender EVTX by content (before the logon sniffer, which takes any EVTX)
    and runs av-sustained on it."""
    from tracehound import hunt
    from tracehound.config import HuntConfig

    result = hunt.run([EVTX], duckdb_engine, HuntConfig(), only=["fanout.av-sustained"])
    assert list(result.routing.files) == ["detections"]
    assert result.reports["detections"].records > 0 and "fanout.av-sustained" in result.scores
