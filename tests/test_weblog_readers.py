"""Access-log reader: every format variant, bad lines set aside with file and line, garbage never crashes."""

from __future__ import annotations

import gzip
import json
import re
from datetime import datetime, timezone

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from tracehound import schema
from tracehound.errors import InputFormatError
from tracehound.readers.weblogs import BLANK_LINE, read_weblogs, sniff_weblog_format

COMBINED = ('83.149.9.216 - - [17/May/2015:10:05:03 +0000] "GET /presentations/index.html?x=1 HTTP/1.1" '
            '200 203023 "http://semicomplete.com/" "Mozilla/5.0 (Macintosh)"')
COMMON = '10.0.0.7 - alice [17/May/2015:10:06:00 +0000] "POST /login HTTP/1.0" 302 -'


def _rows(engine, table):
    df = engine.to_pandas(table.order_by("event_id"))
    rows = df.astype(object).where(df.notna(), None).to_dict("records")
    for row in rows:  # integer columns with a null come back as floats
        for key in ("status", "bytes"):
            if row[key] is not None:
                row[key] = int(row[key])
    return rows


def _write(path, lines, *, gz=False):
    data = ("\n".join(lines) + "\n").encode("utf-8")
    if gz:
        data = gzip.compress(data)
    path.write_bytes(data)
    return path


@pytest.mark.parity
def test_combined_and_common_lines_become_canonical_rows(engine, tmp_path):
    log = _write(tmp_path / "access.log", [COMBINED, COMMON])
    table, report = read_weblogs([log], engine)
    assert table.schema().names == tuple(schema.WEB_REQUESTS.names)
    rows = _rows(engine, table)
    assert report.records == 2 and report.bad_count == 0
    assert report.formats == {"combined": 1, "common": 1}
    first, second = rows
    assert first["event_id"] == "access.log:1"
    assert first["time"] == datetime(2015, 5, 17, 10, 5, 3, tzinfo=timezone.utc)
    assert (first["client_ip"], first["method"], first["path"], first["query"]) == \
        ("83.149.9.216", "GET", "/presentations/index.html", "x=1")
    assert (first["status"], first["bytes"]) == (200, 203023)
    assert first["referrer"] == "http://semicomplete.com/"
    assert first["user_agent"] == "Mozilla/5.0 (Macintosh)"
    assert first["user"] is None
    assert (second["user"], second["method"], second["status"]) == ("alice", "POST", 302)
    assert second["bytes"] is None and second["user_agent"] is None and second["referrer"] is None


def test_vhost_prefix_ipv6_offset_and_escaped_quotes(engine, tmp_path):
    lines = [
        'www.example.org:443 2001:db8::1 - - [01/Mar/2024:12:00:00 +0200] "GET /a HTTP/1.1" 200 10 "-" "curl/8"',
        '203.0.113.9 - - [01/Mar/2024:12:00:01 -0130] "GET /search/\\"onmouseover=alert(1)\\" HTTP/1.1" 404 0 '
        '"-" "Mozilla \\"quoted\\" agent"',
    ]
    table, report = read_weblogs([_write(tmp_path / "vhost.log", lines)], engine)
    rows = _rows(engine, table)
    assert report.bad_count == 0
    assert rows[0]["client_ip"] == "2001:db8::1"
    assert rows[0]["time"] == datetime(2024, 3, 1, 10, 0, 0, tzinfo=timezone.utc)
    assert rows[1]["time"] == datetime(2024, 3, 1, 13, 30, 1, tzinfo=timezone.utc)
    assert rows[1]["path"] == '/search/"onmouseover=alert(1)"'
    assert rows[1]["user_agent"] == 'Mozilla "quoted" agent'


def test_lines_wrapped_in_extra_quotes(engine, tmp_path):
    wrapped = '"' + COMBINED.replace('"', '""') + '"'
    table, report = read_weblogs([_write(tmp_path / "export.csv.log", [wrapped, wrapped])], engine)
    rows = _rows(engine, table)
    assert report.records == 2 and report.bad_count == 0
    assert rows[0]["path"] == "/presentations/index.html"
    assert rows[0]["user_agent"] == "Mozilla/5.0 (Macintosh)"


def test_gzipped_rotated_files_and_folders(engine, tmp_path):
    folder = tmp_path / "logs"
    folder.mkdir()
    _write(folder / "access.log", [COMBINED])
    _write(folder / "access.log.1", [COMMON, COMBINED], gz=True)  # rotated, gzip'd, no .gz suffix
    table, report = read_weblogs([folder], engine)
    assert report.files == 2 and report.records == 3
    ids = {r["event_id"] for r in _rows(engine, table)}
    assert ids == {"access.log:1", "access.log.1:1", "access.log.1:2"}


def test_nginx_json_logs(engine, tmp_path):
    lines = [json.dumps({"time_iso8601": "2024-03-01T12:00:00+01:00", "remote_addr": "198.51.100.4",
                         "remote_user": "", "request": "GET /api/items/7?debug=1 HTTP/2.0", "status": 200,
                         "body_bytes_sent": 512, "http_referer": "", "http_user_agent": 'bot "x"/1.0 (a, b)'}),
             json.dumps({"time_local": "01/Mar/2024:12:00:05 +0000", "remote_addr": "198.51.100.5",
                         "request_method": "HEAD", "request_uri": "/health", "status": "503",
                         "bytes_sent": "0", "http_user_agent": "kube-probe/1.29"})]
    path = _write(tmp_path / "nginx.json", lines)
    assert sniff_weblog_format(path) == "nginx_json"
    table, report = read_weblogs([path], engine)
    rows = _rows(engine, table)
    assert report.formats == {"nginx_json": 2} and report.bad_count == 0
    assert rows[0]["time"] == datetime(2024, 3, 1, 11, 0, tzinfo=timezone.utc)
    assert (rows[0]["method"], rows[0]["path"], rows[0]["query"]) == ("GET", "/api/items/7", "debug=1")
    assert (rows[0]["status"], rows[0]["bytes"], rows[0]["user_agent"]) == (200, 512, 'bot "x"/1.0 (a, b)')
    assert rows[0]["user"] is None and rows[0]["referrer"] is None
    assert (rows[1]["method"], rows[1]["path"], rows[1]["status"]) == ("HEAD", "/health", 503)


def test_malformed_lines_are_counted_and_kept_with_file_and_line(engine, tmp_path):
    lines = [COMBINED, "this is not a log line", COMBINED,
             '1.2.3.4 - - [31/Foo/2015:10:05:03 +0000] "GET / HTTP/1.1" 200 1 "-" "x"', "", COMMON]
    log = _write(tmp_path / "mixed.log", lines)
    table, report = read_weblogs([log], engine)
    assert report.records == 3 and report.bad_count == 2
    assert engine.scalar(table.count()) == 3
    assert [(b.file, b.line) for b in report.bad] == [(str(log), 2), (str(log), 4)]
    assert report.bad[0].excerpt == "this is not a log line"
    assert "timestamp" in report.bad[1].reason


def test_file_that_is_not_an_access_log_is_unreadable(duckdb_engine, tmp_path):
    csv = _write(tmp_path / "users.csv", ["name,age", "alice,3", "bob,4"])
    log = _write(tmp_path / "access.log", [COMBINED])
    table, report = read_weblogs([csv, log], duckdb_engine)
    assert sniff_weblog_format(csv) is None
    assert [u.file for u in report.unreadable_files] == [str(csv)]
    assert report.files == 1 and duckdb_engine.scalar(table.count()) == 1


def test_sniff_names_each_format(tmp_path):
    assert sniff_weblog_format(_write(tmp_path / "a", [COMBINED] * 3)) == "combined"
    assert sniff_weblog_format(_write(tmp_path / "b", [COMMON] * 3)) == "common"
    assert sniff_weblog_format(_write(tmp_path / "c", [COMBINED], gz=True)) == "combined"
    assert sniff_weblog_format(_write(tmp_path / "d", ["garbage"] * 3)) is None


def test_missing_path_is_a_clear_error(duckdb_engine, tmp_path):
    with pytest.raises(InputFormatError, match="nope.log"):
        read_weblogs([tmp_path / "nope.log"], duckdb_engine)


_garbage = st.text(alphabet=st.characters(blacklist_categories=("Cs",), blacklist_characters="\n\r"),
                   max_size=120)


@settings(max_examples=25, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(junk=st.lists(_garbage, min_size=1, max_size=8))
def test_garbage_never_crashes_and_every_line_is_accounted_for(duckdb_engine, tmp_path_factory, junk):
    folder = tmp_path_factory.mktemp("junk")
    lines = [COMBINED] * 9 + junk  # a majority of real lines, so the file is recognised as an access log
    log = folder / "access.log"
    log.write_text("\n".join(lines) + "\n", encoding="utf-8")
    table, report = read_weblogs([log], duckdb_engine)
    non_blank = sum(1 for ln in lines if not re.fullmatch(BLANK_LINE, ln))
    assert report.records + report.bad_count == non_blank
    assert duckdb_engine.scalar(table.count()) == report.records
    assert all(b.file == str(log) and 10 <= b.line <= len(lines) for b in report.bad)


IIS_HEAD = ("#Software: Microsoft Internet Information Services 10.0\n#Version: 1.0\n#Date: 2024-05-01 00:00:00\n"
            "#Fields: date time s-ip cs-method cs-uri-stem cs-uri-query s-port cs-username c-ip cs(User-Agent) "
            "cs(Referer) sc-status sc-substatus sc-win32-status sc-bytes time-taken\n")


def test_iis_w3c_log_becomes_web_requests(duckdb_engine, tmp_path):
    path = tmp_path / "u_ex240501.log"
    path.write_text(IIS_HEAD
                    + "2024-05-01 10:00:00 10.0.0.5 GET /login.aspx ReturnUrl=%2f 443 - 203.0.113.7 "
                      "Mozilla/5.0+(Windows+NT+10.0) https://example.org/ 200 0 0 5120 31\n"
                    + "2024-05-01 10:00:01 10.0.0.5 POST /api/x - 443 CORP\\alice 2001:db8::7 - - 401 1 0 0 15\n"
                    + "2024-05-01 10:00:02 10.0.0.5 GET /a - 443 - not-an-ip - - 200 0 0 1 1\n"
                    + "#Fields: date time c-ip cs-method cs-uri-stem sc-status\n"
                    + "2024-05-01 10:00:03 198.51.100.9 HEAD /b 404\n"
                    + "2024-05-01 10:00:04 198.51.100.9 HEAD\n", encoding="utf-8")
    assert sniff_weblog_format(path) == "iis"
    table, report = read_weblogs([path], duckdb_engine)
    df = duckdb_engine.to_pandas(table).sort_values("time")
    assert df[["client_ip", "method", "path", "query", "status", "user", "source"]].values.tolist() == [
        ["203.0.113.7", "GET", "/login.aspx", "ReturnUrl=%2f", 200, None, "iis"],
        ["2001:db8::7", "POST", "/api/x", None, 401, "CORP\\alice", "iis"],
        ["198.51.100.9", "HEAD", "/b", None, 404, None, "iis"]]
    assert df["user_agent"].iloc[0] == "Mozilla/5.0 (Windows NT 10.0)" and df["event_id"].iloc[0] == f"{path.name}:5"
    assert report.records == 3 and report.formats["iis"] == 3 and [b.line for b in report.bad] == [7, 10]
    assert list(table.columns) == schema.WEB_REQUESTS.names


def test_iis_twin_of_the_simulated_site_gives_the_apache_findings(duckdb_engine, tmp_path):
    from tracehound.simulate.weblogs import simulate_weblogs
    from tracehound.web.scoring import WebSessionDetector

    info = simulate_weblogs(tmp_path, visitors=120, scanners=3, days=1, seed=3, iis=True)
    found = {}
    for key in ("log", "iis_log"):
        table, report = read_weblogs([info[key]], duckdb_engine)
        assert report.bad_count == 0 and report.records == info["lines"]
        detector = WebSessionDetector().fit(table, duckdb_engine)
        found[key] = sorted((f.kind, f.severity, f.actors["ips"], f.first_seen, f.last_seen, len(f.event_ids))
                            for f in detector.detect(detector.score(table)))
    assert len(found["log"]) >= 3 and found["log"] == found["iis_log"]
