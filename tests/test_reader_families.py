"""Reader families: routing a mixed folder by content, one table per family, read options checked."""

from __future__ import annotations

from datetime import datetime, timedelta, timezone
from pathlib import Path

import orjson
import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from tracehound.errors import ConfigError, InputFormatError
from tracehound.readers import families
from tracehound.readers.families import FAMILIES, canonical_table, read_family, route
from tracehound.readers.limits import Limits
from tracehound.readers.logons import LogonFilter
from tracehound.schema import DETECTIONS, LOGONS, SIGNINS, TABLES

T0 = datetime(2024, 3, 1, 12, tzinfo=timezone.utc)
ZEEK = ("#separator \\x09\n#path\tconn\n"
        "#fields\tts\tuid\tid.orig_h\tid.orig_p\tid.resp_h\tid.resp_p\tproto\tservice\tduration\t"
        "orig_bytes\tresp_bytes\tconn_state\n"
        "1700000000.5\tC1\t10.0.0.1\t50000\t10.0.0.2\t443\ttcp\tssl\t1.5\t100\t2000\tSF\n")
ACCESS = "".join(f'203.0.113.{i} - - [17/May/2015:10:05:0{i} +0000] "GET /page/{i} HTTP/1.1" 200 512 '
                 f'"-" "Mozilla/5.0"\n' for i in range(5))
LANL = ("1,U1@DOM1,U1@DOM1,C1,C2,Kerberos,Network,LogOn,Success\n"
        "7,U2@DOM1,U2@DOM1,C4,C5,NTLM,RemoteInteractive,LogOn,Fail\n")


def _signin_jsonl(path: Path) -> Path:
    recs = [{"Id": f"id-{i}", "TimeGenerated": f"2024-03-01T12:0{i}:00Z", "UserPrincipalName": f"u{i}@x.com",
             "ResultType": "50126", "IPAddress": "198.51.100.7"} for i in range(3)]
    path.write_bytes(b"".join(orjson.dumps(r) + b"\n" for r in recs))
    return path


def _canonical_logons(path: Path, n: int = 3) -> Path:
    """Canonical logons as another writer might save them: int32 codes and a column of its own."""
    rows = {"event_id": [f"saved:{i}" for i in range(n)], "time": [T0 + timedelta(minutes=i) for i in range(n)],
            "user": ["carol"] * n, "domain": ["DOM1"] * n, "target_host": [f"SRV{i}" for i in range(n)],
            "source_ip": ["10.0.0.9"] * n, "source_host": ["WS1"] * n, "logon_type": [3] * n,
            "event_code": [4624] * n, "success": [True] * n, "source": ["saved"] * n, "note": ["x"] * n}
    schema = pa.schema([*(f if f.name not in ("logon_type", "event_code") else pa.field(f.name, pa.int32())
                          for f in LOGONS if f.name in rows), pa.field("note", pa.string())])
    pq.write_table(pa.Table.from_pydict(rows, schema=schema), path)
    return path


def _detections(path: Path) -> Path:
    rows = [{"event_id": f"av:{i}", "time": T0 + timedelta(days=i), "user": "dave", "detection": f"Trojan.{i}"}
            for i in range(4)]
    pq.write_table(pa.Table.from_pylist(rows, schema=DETECTIONS), path)
    return path


@pytest.fixture
def mixed(tmp_path: Path) -> Path:
    folder = tmp_path / "mixed"
    folder.mkdir()
    _signin_jsonl(folder / "signins.jsonl")
    (folder / "conn.log").write_text(ZEEK)
    (folder / "access.log").write_text(ACCESS)
    _canonical_logons(folder / "logons.parquet")
    pq.write_table(SIGNINS.empty_table(), folder / "saved-signins.parquet")
    _detections(folder / "av.bin")  # by content, not by name
    (folder / "notes.txt").write_text("meeting at 10, bring the slides\n")
    (folder / "_SUCCESS").write_bytes(b"")
    return folder


def test_families_in_routing_order_with_their_options():
    assert [f.table for f in FAMILIES] == ["signins", "detections", "logons", "connections", "web_requests"]
    assert {f.table: f.options for f in FAMILIES} == {
        "signins": ("limits",), "detections": ("limits",), "logons": ("accounts", "limits"),
        "connections": ("mapping", "limits"), "web_requests": ("limits",)}


def test_route_sorts_a_mixed_folder_by_content(mixed: Path):
    routing = route([mixed])
    names = {table: [p.name for p in paths] for table, paths in routing.files.items()}
    # canonical sign-ins are left to the sign-in reader, which takes them in itself
    assert names == {"signins": ["saved-signins.parquet", "signins.jsonl"], "connections": ["conn.log"],
                     "web_requests": ["access.log"]}
    assert {t: [p.name for p in paths] for t, paths in routing.canonical.items()} == {
        "logons": ["logons.parquet"], "detections": ["av.bin"]}
    assert [p.name for p in routing.unrecognised] == ["notes.txt"]  # the Spark marker is no input


def test_a_sniffer_that_raises_means_not_mine(tmp_path: Path, monkeypatch):
    path = tmp_path / "conn.log"
    path.write_text(ZEEK)

    def choke(_path):
        raise RuntimeError("sniffer bug")

    patched = tuple(f if f.table != "signins" else families.Family(f.table, choke, f.read) for f in FAMILIES)
    monkeypatch.setattr(families, "FAMILIES", patched)
    assert list(families.route([path]).files) == ["connections"]


def test_canonical_table_by_columns(tmp_path: Path):
    assert canonical_table(_canonical_logons(tmp_path / "l.parquet")) == "logons"
    assert canonical_table(_detections(tmp_path / "d.parquet")) == "detections"
    partial = tmp_path / "partial.parquet"
    pq.write_table(pa.table({"event_id": ["a"], "time": [T0], "user": ["u"]}), partial)
    assert canonical_table(partial) is None
    damaged = tmp_path / "damaged.parquet"
    damaged.write_bytes(b"PAR1" + b"\x00" * 64)
    assert canonical_table(damaged) is None
    text = tmp_path / "t.parquet"
    text.write_text(ACCESS)
    assert canonical_table(text) is None


@pytest.mark.parity
def test_read_family_unions_raw_and_canonical(engine, tmp_path: Path):
    raw = tmp_path / "auth.txt"
    raw.write_text(LANL)
    saved = _canonical_logons(tmp_path / "saved.parquet")
    table, report = read_family("logons", [raw], [saved], engine, accounts=LogonFilter())
    assert list(table.columns) == LOGONS.names  # the writer's own column is dropped
    df = engine.to_pandas(table.order_by("event_id"))
    assert df["event_id"].tolist() == ["auth.txt:1", "auth.txt:2", "saved:0", "saved:1", "saved:2"]
    assert df["logon_type"].tolist() == [3, 10, 3, 3, 3]
    assert df["time"].iloc[2] == T0
    assert (report.files, report.records) == (2, 5)
    assert dict(report.formats) == {"lanl": 1, "logons-parquet": 1}


def test_read_family_passes_options_to_the_reader(engine, tmp_path: Path):
    raw = tmp_path / "auth.txt"
    raw.write_text(LANL + "9,C9$@DOM1,C9$@DOM1,C9,C3,Kerberos,Network,LogOn,Success\n")
    kept, _ = read_family("logons", [raw], [], engine, accounts=LogonFilter(exclude_machine_accounts=False))
    dropped, _ = read_family("logons", [raw], [], engine)
    assert engine.scalar(kept.count()) == 3 and engine.scalar(dropped.count()) == 2
    csv = tmp_path / "fw.csv"
    csv.write_text("When,From,To\n2024-03-01T12:00:00Z,10.0.0.1,10.0.0.2\n")
    conns, report = read_family("connections", [csv], [], engine, mapping={"time": "When", "src_ip": "From",
                                                                           "dst_ip": "To"})
    assert engine.to_pandas(conns)["dst_ip"].tolist() == ["10.0.0.2"] and report.records == 1


def test_detections_also_come_as_canonical_parquet(engine, tmp_path: Path):
    table, report = read_family("detections", [], [_detections(tmp_path / "av.parquet")], engine)
    assert list(table.columns) == DETECTIONS.names
    assert sorted(engine.to_pandas(table)["detection"]) == [f"Trojan.{i}" for i in range(4)]
    assert report.records == 4 and dict(report.formats) == {"detections-parquet": 1}


def test_nothing_to_read_is_no_table(engine):
    table, report = read_family("web_requests", [], [], engine)
    assert table is None and (report.files, report.records) == (0, 0)


def test_canonical_parquet_missing_a_column_is_named(engine, tmp_path: Path):
    path = tmp_path / "short.parquet"
    pq.write_table(pa.table({"event_id": ["a"], "time": [T0], "user": ["u"]}), path)
    table, report = read_family("detections", [], [path], engine)
    assert table is None and [u.file for u in report.unreadable_files] == [str(path)]
    assert "no column detection" in report.unreadable_files[0].reason


@pytest.mark.parametrize("table, options, message", [
    ("web_requests", {"accounts": LogonFilter()}, "accounts do not apply to the web_requests table"),
    ("logons", {"mapping": None}, "it accepts accounts"),
    ("logons", {"accounts": "keep everything"}, "expected a LogonFilter, got str"),
    ("connections", {"mapping": {"srcip": "From"}}, "'srcip' is not a connections column"),
    ("connections", {"mapping": {"src_ip": 3}}, "must be text"),
    ("connections", {"mapping": ["src_ip=From"]}, "got list"),
    ("logins", {}, "unknown table 'logins'"),
    ("signins", {"limits": {"max_line": 5}}, "expected a tracehound.readers.limits.Limits, got dict"),
])
def test_bad_read_options_are_config_errors_before_reading(engine, tmp_path: Path, table, options, message):
    missing = tmp_path / "never-read.log"  # would be an InputFormatError if anything were read
    with pytest.raises(ConfigError, match=message):
        read_family(table, [missing], [], engine, **options)


@pytest.mark.parity
def test_every_canonical_table_can_be_read_as_parquet(engine, tmp_path: Path):
    for name, schema in TABLES.items():
        path = tmp_path / f"{name}.parquet"
        pq.write_table(schema.empty_table(), path)
        assert canonical_table(path) == name
        table, _ = read_family(name, [], [path], engine)
        assert list(table.columns) == schema.names and engine.scalar(table.count()) == 0


@pytest.mark.parametrize("kwargs, message", [
    ({"max_line": 0}, "limits.max_line: expected a positive integer"),
    ({"max_repeat": True}, "limits.max_repeat: expected a positive integer"),
    ({"time_floor": datetime(1990, 1, 1)}, "limits.time_floor: expected a timezone-aware datetime"),
    ({"future_tolerance": timedelta(days=-1)}, "limits.future_tolerance: expected a timedelta >= 0"),
])
def test_limits_are_checked_when_made(kwargs, message):
    with pytest.raises(ConfigError, match=message):
        Limits(**kwargs)


@pytest.mark.parity
def test_limits_reach_every_family(engine, tmp_path: Path):
    """The ``limits`` read option bounds what every family's reader keeps (here: the time bounds)."""
    files = {"signins": _signin_jsonl(tmp_path / "s.jsonl"), "logons": tmp_path / "auth.txt",
             "connections": tmp_path / "conn.log", "web_requests": tmp_path / "access.log"}
    files["logons"].write_text(LANL)
    files["connections"].write_text(ZEEK)
    files["web_requests"].write_text(ACCESS)
    floor = datetime(2100, 1, 1, tzinfo=timezone.utc)  # every record above is older
    for table, path in files.items():
        kept, report = read_family(table, [path], [], engine)
        assert engine.scalar(kept.count()) > 0 and report.bad_count == 0
        none, report = read_family(table, [path], [], engine, limits=Limits(time_floor=floor))
        assert engine.scalar(none.count()) == 0 and report.bad_count > 0, table
        assert all("floor" in b.reason or "bounds" in b.reason for b in report.bad), (table, report.bad)
