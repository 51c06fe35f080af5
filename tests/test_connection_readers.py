"""Connection readers: Zeek conn.log (TSV and JSON) and firewall CSV with a column mapping."""

from __future__ import annotations

import gzip
import json
from datetime import datetime, timezone

import pandas as pd
import pytest

from tracehound.errors import InputFormatError
from tracehound.readers.connections import read_connections, sniff_connection_format

HEADER = ("#separator \\x09\n#set_separator\t,\n#empty_field\t(empty)\n#unset_field\t-\n#path\tconn\n"
          "#fields\tts\tuid\tid.orig_h\tid.orig_p\tid.resp_h\tid.resp_p\tproto\tservice\tduration\t"
          "orig_bytes\tresp_bytes\tconn_state\n"
          "#types\ttime\tstring\taddr\tport\taddr\tport\tenum\tstring\tinterval\tcount\tcount\tstring\n")


def _df(engine, table):
    return engine.to_pandas(table.order_by("time"))


def test_zeek_tsv(duckdb_engine, tmp_path):
    path = tmp_path / "conn.log.gz"
    body = HEADER + "\n".join([
        "1700000000.500000\tCabc1\t10.0.0.1\t50000\t10.0.0.2\t443\ttcp\tssl\t1.5\t100\t2000\tSF",
        "1700000001.000000\tCabc2\t10.0.0.1\t50001\t10.0.0.3\t22\ttcp\t-\t-\t-\t-\tS0",
        "1700000002.000000\tCabc3\t10.0.0.1\tonly-four-fields\t10.0.0.3",
        "#close\t2023-11-14-22-13-22",
    ]) + "\n"
    with gzip.open(path, "wt") as fh:
        fh.write(body)
    assert sniff_connection_format(path) == "zeek-tsv"
    table, report = read_connections(path, duckdb_engine)
    df = _df(duckdb_engine, table)
    assert df["event_id"].tolist() == ["Cabc1", "Cabc2"]
    first, second = df.iloc[0], df.iloc[1]
    assert first.time == datetime.fromtimestamp(1700000000.5, tz=timezone.utc)
    assert (first.dst_port, first.service, first.bytes_out, first.bytes_in, first.duration) == \
        (443, "ssl", 100, 2000, 1.5)
    assert second.service is None and pd.isna(second.bytes_out) and pd.isna(second.duration)
    assert report.bad_count == 1 and report.bad[0].line == 10


def test_zeek_json(duckdb_engine, tmp_path):
    path = tmp_path / "conn.json"
    recs = [{"ts": 1700000000.0, "uid": "C1", "id.orig_h": "10.0.0.1", "id.orig_p": 5,
             "id.resp_h": "10.0.0.9", "id.resp_p": 53, "proto": "udp", "service": "dns"},
            {"ts": "2023-11-14T22:13:21.000000Z", "uid": "C2", "id.orig_h": "10.0.0.1",
             "id.resp_h": "10.0.0.9", "id.resp_p": 80, "proto": "tcp"}]
    path.write_text("\n".join(json.dumps(r) for r in recs) + "\n[1,2]\n")
    assert sniff_connection_format(path) == "zeek-json"
    table, report = read_connections(path, duckdb_engine)
    df = _df(duckdb_engine, table)
    assert sorted(df["event_id"]) == ["C1", "C2"]
    assert set(df["dst_port"]) == {53, 80}
    assert report.bad_count == 1 and report.bad[0].line == 3


def test_firewall_csv_with_aliases_and_mapping(duckdb_engine, tmp_path):
    path = tmp_path / "fw.csv"
    path.write_text("timestamp,src,dst,dport,protocol\n"
                    "2024-01-01T00:00:00Z,10.0.0.1,10.0.0.2,445,TCP\n"
                    "not-a-time,10.0.0.1,10.0.0.2,445,TCP\n")
    assert sniff_connection_format(path) == "firewall-csv"
    table, report = read_connections(path, duckdb_engine)
    df = _df(duckdb_engine, table)
    assert df[["src_ip", "dst_ip", "dst_port", "proto"]].values.tolist() == [["10.0.0.1", "10.0.0.2", 445, "tcp"]]
    assert report.bad_count == 1 and report.bad[0].line == 3

    odd = tmp_path / "odd.csv"
    odd.write_text("When,From,To,Port\n2024-01-01 00:00:05,1.1.1.1,2.2.2.2,80\n")
    assert sniff_connection_format(odd) is None
    mapped, _ = read_connections(odd, duckdb_engine, mapping={"time": "When", "src_ip": "From",
                                                               "dst_ip": "To", "dst_port": "Port"})
    assert _df(duckdb_engine, mapped)["dst_ip"].tolist() == ["2.2.2.2"]
    # a mapping that does not fit one file's header makes that file unreadable, named with why
    table, report = read_connections(odd, duckdb_engine, mapping={"time": "Nope"})
    assert duckdb_engine.scalar(table.count()) == 0
    assert [(u.file, "Nope" in u.reason) for u in report.unreadable_files] == [(str(odd), True)]


def test_zeek_without_fields_header_names_the_file(duckdb_engine, tmp_path):
    path = tmp_path / "conn.log"
    path.write_text("#separator \\x09\n1700000000.0\tC1\n")
    _, report = read_connections(path, duckdb_engine)
    assert [(b.file, b.line, b.reason) for b in report.bad] == [
        (str(path), 2, "Zeek record before any #fields header line")]


def test_zeek_json_with_underscore_names_as_otrf_writes_it(duckdb_engine, tmp_path):
    """OTRF Security-Datasets / Logstash write Zeek's ``id.orig_h`` as ``id_orig_h``."""
    path = tmp_path / "otrf_conn.json"
    recs = [{"@timestamp": "2020-10-22T08:29:53.000Z", "ts": 1603355393.5, "uid": "Cx1", "id_orig_h": "172.18.39.5",
             "id_orig_p": 50123, "id_resp_h": "172.18.38.5", "id_resp_p": 445, "proto": "tcp", "service": "smb",
             "orig_bytes": 1200, "resp_bytes": 900, "duration": 0.2, "conn_state": "SF"},
            {"ts": 1603355394.0, "uid": "Cx2", "id_orig_h": "::ffff:172.18.39.5", "id_resp_h": "172.18.38.6",
             "id_resp_p": 5985, "proto": "tcp"},
            {"ts": 1603355395.0, "uid": "Cx3", "id_orig_h": "not-an-ip", "id_resp_h": "172.18.38.6"}]
    path.write_text("\n".join(json.dumps(r) for r in recs) + "\n")
    assert sniff_connection_format(path) == "zeek-json"
    table, report = read_connections(path, duckdb_engine)
    df = _df(duckdb_engine, table).sort_values("event_id")
    assert df[["event_id", "src_ip", "dst_ip", "dst_port", "service"]].values.tolist() == [
        ["Cx1", "172.18.39.5", "172.18.38.5", 445, "smb"], ["Cx2", "172.18.39.5", "172.18.38.6", 5985, None]]
    assert report.bad_count == 1 and "id.orig_h" in report.bad[0].reason and report.bad[0].line == 3


def test_json_that_is_no_connection_log_says_what_was_missing(duckdb_engine, tmp_path):
    path = tmp_path / "other.json"
    path.write_text(json.dumps({"ts": 1, "src": "10.0.0.1"}) + "\n")
    _, report = read_connections(path, duckdb_engine)
    assert "id_orig_h" in report.unreadable_files[0].reason and "#fields" in report.unreadable_files[0].reason


def test_the_same_capture_in_zeek_tsv_json_and_underscore_json_gives_the_same_findings(duckdb_engine, tmp_path):
    from tracehound.fanout import FanoutDetector
    from tracehound.simulate.capture import CaptureConfig, simulate_capture

    found = {}
    for fmt in ("zeek-tsv", "zeek-json", "zeek-json-underscore"):
        info = simulate_capture(tmp_path / fmt, CaptureConfig(workstations=12, seed=4, scan="host", fmt=fmt))
        table, report = read_connections(info["path"], duckdb_engine)
        assert report.bad_count == 0 and report.records == info["connections"]
        detector = FanoutDetector("host-scan").fit(table, duckdb_engine)
        found[fmt] = [(f.kind, f.actors, f.targets, f.event_ids) for f in detector.detect(detector.score(table))]
    assert len(found["zeek-tsv"]) == 1 and found["zeek-tsv"][0][1] == {"ips": [info["truth"][0]["source"]]}
    assert found["zeek-tsv"] == found["zeek-json"] == found["zeek-json-underscore"]
