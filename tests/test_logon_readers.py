"""Logon readers: EVTX, Windows JSON (OTRF zip, Winlogbeat, EVTX-JSON), Sentinel CSV, LANL."""

from __future__ import annotations

import csv
import gzip
import io
import json
import shutil
import tempfile
import zipfile
from collections import Counter
from datetime import datetime, timezone
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from tracehound.readers.logons import (FILTERED, READ_EVENTS, LogonFilter, parse_time, read_logons, sniff_logon_format,
                                       windows_fields, windows_row)

EVTX = "deepbluecli-evtx"
OTRF_ZIP = "otrf-lateral/purplesharp_ad_playbook_I.zip"


def _rows(engine, table):
    return engine.to_pandas(table.order_by(["time", "event_id"]))


def _derived_logon_count(path) -> Counter:
    """Independent oracle: 4624/4625/4648 per event code in an EVTX-JSON rendering."""
    opener = gzip.open if str(path).endswith(".gz") else open
    counts = Counter()
    with opener(path, "rt", encoding="utf-8") as fh:
        for line in fh:
            system = json.loads(line)["Event"]["System"]
            code = system["EventID"]
            code = code["#text"] if isinstance(code, dict) else code
            if code in (4624, 4625, 4648):
                counts[code] += 1
    return counts


@pytest.mark.parametrize("stem, derived", [
    ("password-spray", "password-spray.derived.jsonl"),
    ("smb-password-guessing-security", "smb-password-guessing-security.derived.jsonl.gz"),
])
def test_evtx_counts_match_derived_jsonl(duckdb_engine, data_dir, stem, derived):
    evtx_table, evtx_report = read_logons(data_dir / EVTX / f"{stem}.evtx", duckdb_engine,
                                          accounts=LogonFilter(False, False, False))
    json_table, json_report = read_logons(data_dir / EVTX / derived, duckdb_engine,
                                          accounts=LogonFilter(False, False, False))
    expected = _derived_logon_count(data_dir / EVTX / derived)
    assert evtx_report.bad_count == json_report.bad_count == 0
    a, b = _rows(duckdb_engine, evtx_table), _rows(duckdb_engine, json_table)
    assert Counter(a["event_code"]) == expected
    cols = ["time", "user", "domain", "target_host", "source_ip", "source_host", "logon_type",
            "event_code", "success"]
    assert a[cols].astype(str).values.tolist() == b[cols].astype(str).values.tolist()


def test_evtx_4625_fields(duckdb_engine, data_dir):
    table, _ = read_logons(data_dir / EVTX / "smb-password-guessing-security.evtx", duckdb_engine)
    df = _rows(duckdb_engine, table)
    assert set(df["event_code"]) == {4625}
    assert not df["success"].any()
    assert set(df["source_ip"]) == {"192.168.198.149"}
    assert set(df["logon_type"]) == {3}
    assert df["event_id"].str.startswith("smb-password-guessing-security.evtx:").all()


def test_corrupt_evtx_chunk_is_reported_and_rest_read(duckdb_engine, data_dir, tmp_path):
    src = data_dir / EVTX / "password-spray.evtx"
    full, _ = read_logons(src, duckdb_engine)
    n_full = duckdb_engine.scalar(full.count())
    data = bytearray(src.read_bytes())
    chunk1 = 4096 + 65536  # file header, then 64 KiB chunks
    assert data[chunk1:chunk1 + 7] == b"ElfChnk"
    data[chunk1:chunk1 + 8] = b"XXXXXXXX"
    broken = tmp_path / "broken.evtx"
    broken.write_bytes(bytes(data))
    table, report = read_logons(broken, duckdb_engine)
    n = duckdb_engine.scalar(table.count())
    assert 0 < n < n_full
    # the chunk's records are counted one by one from the file's own record ids, not as 1 error
    assert report.bad_count == 0 and [d.file for d in report.damaged_files] == [str(broken)]
    damage = report.damaged_files[0]
    assert damage.offset == chunk1 and damage.lost > 50 and f"{damage.lost:,} of" in damage.reason


def _otrf_oracle(path):
    with zipfile.ZipFile(path) as zf, zf.open(zf.namelist()[0]) as fh:
        for line in io.TextIOWrapper(fh, encoding="utf-8"):
            rec = json.loads(line)
            if rec.get("EventID") in READ_EVENTS:
                yield rec


def test_otrf_zip_member_is_read_with_default_exclusions(duckdb_engine, data_dir):
    path = data_dir / OTRF_ZIP
    assert sniff_logon_format(path) == "windows-zip"
    records = list(_otrf_oracle(path))
    people = [r for r in records if not r["TargetUserName"].endswith("$")
              and r["TargetUserName"] != "ANONYMOUS LOGON"]
    table, report = read_logons(path, duckdb_engine)
    df = _rows(duckdb_engine, table)
    assert report.records + report.skipped[FILTERED] == len(records) and report.bad_count == 0
    assert len(df) == len(people) == report.records
    assert not df["user"].str.endswith("$").any()
    pg = df[(df.user == "pgustavo") & (df.event_code == 4624)]
    expected = Counter(r["Hostname"].split(".")[0].upper() for r in people
                       if r["TargetUserName"] == "pgustavo" and r["EventID"] == 4624)
    assert Counter(pg["target_host"]) == expected
    assert (pg["time"].dt.tz is not None) and pg["time"].min() >= datetime(2020, 10, 22, 8, 29,
                                                                           tzinfo=timezone.utc)

    kept, _ = read_logons(path, duckdb_engine, accounts=LogonFilter(False, False, False))
    assert duckdb_engine.scalar(kept.count()) == len(records)


def test_winlogbeat_and_bad_lines(duckdb_engine, tmp_path):
    good = {"@timestamp": "2024-05-01T10:00:00.123Z",
            "winlog": {"event_id": 4624, "computer_name": "srv-01.corp.local",
                       "event_data": {"TargetUserName": "alice", "TargetDomainName": "CORP",
                                      "LogonType": "3", "IpAddress": "10.0.0.5",
                                      "WorkstationName": "WS-7"}}}
    other = {"@timestamp": "2024-05-01T10:00:01Z", "winlog": {"event_id": 4688, "event_data": {}}}
    no_user = {"@timestamp": "2024-05-01T10:00:02Z", "winlog": {"event_id": 4625, "event_data": {}}}
    path = tmp_path / "winlogbeat.ndjson"
    path.write_text("\n".join([json.dumps(good), json.dumps(other), "{not json", json.dumps(no_user)]))
    table, report = read_logons(path, duckdb_engine)
    df = _rows(duckdb_engine, table)
    assert len(df) == 1
    row = df.iloc[0]
    assert (row.user, row.target_host, row.source_host, row.source_ip, row.logon_type) == \
        ("alice", "SRV-01", "WS-7", "10.0.0.5", 3)
    assert row.event_id == "winlogbeat.ndjson:1"
    assert report.bad_count == 2
    assert sorted(b.line for b in report.bad) == [3, 4]


def test_4648_targets_the_named_server():
    fields = {"EventID": 4648, "TimeCreated": "2024-01-01T00:00:00Z", "Computer": "ws-1.corp",
              "TargetUserName": "bob", "TargetServerName": "fileserver.corp"}
    row = windows_row(fields, "x:1", "t")
    assert (row["target_host"], row["source_host"], row["success"]) == ("FILESERVER", "WS-1", True)


def test_evtx_json_eventid_with_qualifiers():
    rec = {"Event": {"System": {"EventID": {"#attributes": {"Qualifiers": 0}, "#text": 4625},
                                "Computer": "H1", "TimeCreated": {"#attributes": {
                                    "SystemTime": "2024-01-01T00:00:00.1234567Z"}}},
                     "EventData": {"Data": [{"#attributes": {"Name": "TargetUserName"}, "#text": "eve"},
                                            {"#attributes": {"Name": "LogonType"}, "#text": "10"}]}}}
    row = windows_row(windows_fields(rec), "x:1", "t")
    assert (row["user"], row["event_code"], row["logon_type"], row["success"]) == ("eve", 4625, 10, False)
    assert row["time"] == datetime(2024, 1, 1, 0, 0, 0, 123456, tzinfo=timezone.utc)


def test_sentinel_csv_matches_independent_count(duckdb_engine, data_dir):
    path = data_dir / "msticpy-aad-logons" / "host_logons.csv"
    with path.open(newline="") as fh:
        raw = list(csv.DictReader(fh))
    keeps = LogonFilter()
    expected = [r for r in raw if keeps.keeps(r["TargetUserName"])]
    assert 0 < len(expected) < len(raw)  # the fixture holds SYSTEM / machine logons to exclude
    table, report = read_logons(path, duckdb_engine)
    df = _rows(duckdb_engine, table)
    assert len(df) == len(expected) == report.records
    assert report.records + report.skipped[FILTERED] == len(raw)
    assert sorted(df["user"]) == sorted(r["TargetUserName"] for r in expected)

    failed, _ = read_logons(data_dir / "msticpy-aad-logons" / "failed_logons.derived.csv", duckdb_engine)
    fdf = _rows(duckdb_engine, failed)
    assert len(fdf) == 4 and set(fdf["user"]) == {"ian"} and not fdf["success"].any()


def test_lanl_format(duckdb_engine, tmp_path):
    path = tmp_path / "auth.txt"
    path.write_text("\n".join([
        "1,U1@DOM1,U1@DOM1,C1,C2,Kerberos,Network,LogOn,Success",
        "2,U1@DOM1,U1@DOM1,C1,C2,Kerberos,Network,LogOff,Success",
        "3,C9$@DOM1,C9$@DOM1,C9,C3,Kerberos,Network,LogOn,Success",
        "4,U2@DOM1,U2@DOM1,C4,C5,NTLM,RemoteInteractive,LogOn,Fail",
        "5,U3@DOM1,only,five,fields",
        "6,ANONYMOUS LOGON@C7,ANONYMOUS LOGON@C7,C8,C7,NTLM,Network,LogOn,Success",
    ]))
    assert sniff_logon_format(path) == "lanl"
    table, report = read_logons(path, duckdb_engine)
    df = _rows(duckdb_engine, table)
    assert df["user"].tolist() == ["U1", "U2"]
    assert df["logon_type"].tolist() == [3, 10]
    assert df["event_code"].tolist() == [4624, 4625]
    assert df["time"].iloc[0] == datetime(1970, 1, 1, 0, 0, 1, tzinfo=timezone.utc)
    assert report.bad_count == 1 and report.bad[0].line == 5


def test_not_a_logon_file_is_unreadable(duckdb_engine, data_dir, tmp_path):
    shutil.copy(data_dir / "otrf-lateral" / "LICENSE", tmp_path / "LICENSE")
    table, report = read_logons(tmp_path, duckdb_engine)
    assert duckdb_engine.scalar(table.count()) == 0
    assert len(report.unreadable_files) == 1 and report.files == 0


@pytest.mark.parametrize("text, expected", [
    ("2024-01-02T03:04:05Z", datetime(2024, 1, 2, 3, 4, 5, tzinfo=timezone.utc)),
    ("2024-01-02 03:04:05.980", datetime(2024, 1, 2, 3, 4, 5, 980000, tzinfo=timezone.utc)),
    ("2024-01-02T05:04:05+02:00", datetime(2024, 1, 2, 3, 4, 5, tzinfo=timezone.utc)),
    ("2019-04-30T19:27:02.8472846Z UTC", datetime(2019, 4, 30, 19, 27, 2, 847284, tzinfo=timezone.utc)),
    (1704164645, datetime(2024, 1, 2, 3, 4, 5, tzinfo=timezone.utc)),
])
def test_parse_time(text, expected):
    assert parse_time(text) == expected


@pytest.mark.parity
def test_reader_on_every_engine(engine, data_dir):
    table, report = read_logons(data_dir / OTRF_ZIP, engine)
    df = engine.to_pandas(table.group_by("target_host").aggregate(n=table.count()))
    expected = Counter(r["Hostname"].split(".")[0].upper() for r in _otrf_oracle(data_dir / OTRF_ZIP)
                       if LogonFilter().keeps(r["TargetUserName"]))
    assert dict(zip(df.target_host, df.n)) == dict(expected)


def test_sentinel_json_lines_match_csv(duckdb_engine, data_dir, tmp_path):
    """Sentinel SecurityEvent exported as JSON Lines (same columns as the CSV) reads the same."""
    src = data_dir / "msticpy-aad-logons" / "host_logons.csv"
    with src.open(newline="") as fh:
        raw = list(csv.DictReader(fh))
    path = tmp_path / "SecurityEvent.json"
    path.write_text("\n".join(json.dumps({k: v for k, v in r.items() if k}) for r in raw))
    assert sniff_logon_format(path) == "windows-json"
    from_json, _ = read_logons(path, duckdb_engine)
    from_csv, _ = read_logons(src, duckdb_engine)
    cols = ["time", "user", "target_host", "source_ip", "logon_type", "event_code"]
    a = _rows(duckdb_engine, from_json)[cols].astype(str).values.tolist()
    b = _rows(duckdb_engine, from_csv)[cols].astype(str).values.tolist()
    assert a == b and len(a) > 0


def test_fraction_and_offset():
    assert parse_time("2024-01-02T05:04:05.1234567+02:00") == \
        datetime(2024, 1, 2, 3, 4, 5, 123456, tzinfo=timezone.utc)


_values = st.one_of(st.none(), st.booleans(), st.integers(-2**70, 2**70), st.text(max_size=12),
                    st.sampled_from(["4624", "4625", "4648", "-", "0x10", "2024-01-01T00:00:00Z"]))
_keys = st.sampled_from(["EventID", "TargetUserName", "LogonType", "@timestamp", "TimeCreated",
                         "Computer", "Hostname", "IpAddress", "TargetServerName", "Event", "winlog",
                         "System", "EventData", "Data", "#text", "event_data", "event_id", "event"])
_json = st.recursive(_values, lambda inner: st.one_of(st.lists(inner, max_size=3),
                                                      st.dictionaries(_keys, inner, max_size=5)),
                     max_leaves=12)


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(records=st.lists(st.dictionaries(_keys, _json, max_size=6), min_size=1, max_size=5))
def test_hostile_json_never_crashes_the_reader(duckdb_engine, records):
    """Log content is attacker-controlled: odd shapes are rejected with a line number, never raised."""
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "events.json"
        path.write_text("\n".join(json.dumps(r) for r in records) + '\n{"EventID": 4624}\n')
        table, report = read_logons(path, duckdb_engine, accounts=LogonFilter(False, False, False))
        n = duckdb_engine.scalar(table.count())
        assert report.bad_count >= 1  # the trailing logon without time or user
        assert n + report.bad_count <= len(records) + 1
