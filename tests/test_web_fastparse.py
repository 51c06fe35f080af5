"""The Apache / Nginx fast path (``readers/weblog_parse.py``) gives exactly what the engine path gives.

Each case reads the same files twice, ``fast_path=True`` and ``fast_path=False`` (every line parsed
in the engine, the reference), and compares the canonical rows, the counts, the formats and the
rejects, then the hunt's findings: on randomised hostile lines, on the simulated site and on the real
elastic/examples Apache sample.
"""

from __future__ import annotations

import dataclasses
from datetime import datetime, timezone
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from tracehound.findings import dumps
from tracehound.readers.limits import DEFAULT
from tracehound.readers.weblog_parse import parse_batch
from tracehound.readers.weblogs import read_weblogs
from tracehound.simulate.weblogs import simulate_weblogs
from tracehound.web.scoring import WebSessionDetector

REAL_LOG = Path(__file__).parent / "data" / "elastic-apache" / "apache_logs"

# Pieces a line is assembled from: most are valid, many sit on an edge of what the fast path takes.
IPS = ["10.1.2.3", "192.168.0.254", "2001:db8::1", "::ffff:10.0.0.1", "fe80::1%eth0", "999.1.1.1", "-",
       "host.example.org", "10.0.0.1,10.0.0.2", "{x", "1.2.3.04"]
VHOSTS = ["", "www.example.org:443 ", "[::1]:80 "]
USERS = ["-", "alice", "bob\\x41", "-\"", "é"]
TIMES = ["17/May/2024:10:05:03 +0000", "29/Feb/2024:23:59:59 -0130", "29/Feb/2023:12:00:00 +0000",
         "31/Apr/2024:01:00:00 +0200", "00/Jan/2024:00:00:00 +0000", "01/jan/2024:00:00:00 +0000",
         "01/Jan/2024:24:00:00 +0000", "01/Jan/2024:23:59:60 +0000", "01/Jan/1990:00:00:00 +0000",
         "01/Jan/2024:00:00:00 -0030", "2024-05-17T10:05:03+02:00", "31/Dec/2099:23:59:59 +1400",
         "15/Aug/2024:12:34:56 +9959"]
REQUESTS = ["GET / HTTP/1.1", "get /a/b?x=1&y=2 HTTP/1.0", "POST /login?", "GET /a?b?c HTTP/1.1",
            "GET ?only=query HTTP/1.1", "GET  HTTP/1.1", "-", "", "GET /a b c", "GET /x\\\"y HTTP/1.1",
            "\\x16\\x03\\x01", "HEAD /caf\u00e9 HTTP/1.1", "OPTIONS * HTTP/1.1", "GET /a HTTP/1.1 ",
            "PROPFIND /%2e%2e/etc/passwd"]
TAILS = ["200 512", "404 -", "301 0", "200 1234567890123456789012", "500 12x", "20 5", "200 5 extra"]
PAIRS = ["", ' "-" "Mozilla/5.0 (X11)"', ' "http://a/?q=1" "curl/8.0"', ' "" ""', ' "-" "a\\"b"',
         ' "-" "x" 0.123 "more"', ' "-" "x" 0.123', ' "-"', ' "-" "\u00fcber-agent"', ' "-" "tab\there"']


def _random_lines(rng: np.random.Generator, n: int) -> list[str]:
    # a plain head so the file is sniffed as an access log; the mix follows
    lines = [f'10.9.{i}.1 - - [{TIMES[0]}] "GET /p{i} HTTP/1.1" 200 {i} "-" "ua"' for i in range(40)]
    for _ in range(n):
        roll = rng.random()
        if roll < 0.03:
            lines.append(rng.choice(["", "   ", "garbage line", '{"remote_addr":"10.0.0.9","time_local":'
                                     '"17/May/2024:10:05:03 +0000","request":"GET /j HTTP/1.1","status":200}']))
            continue
        def pick(options: list[str]) -> str:  # the plain choice half the time, else any
            return options[0] if rng.random() < 0.5 else str(rng.choice(options))

        line = (f"{pick(VHOSTS)}{pick(IPS)} - {pick(USERS)} [{pick(TIMES)}] "
                f'"{pick(REQUESTS)}" {pick(TAILS)}{pick(PAIRS)}')
        if rng.random() < 0.05:
            line += "\r"
        if rng.random() < 0.03:
            line = '"' + line.replace('"', '""') + '"'
        lines.append(line)
    return lines


def _read_both(engine, paths):
    # One clock for both reads: the future bound's text names the minute, and two reads may straddle one.
    limits = dataclasses.replace(DEFAULT, now=datetime.now(timezone.utc))
    out = []
    for fast in (True, False):
        table, report = read_weblogs(paths, engine, fast_path=fast, limits=limits)
        rows = engine.to_pandas(table).sort_values("event_id").reset_index(drop=True)
        out.append((rows, report, table))
    return out


def _assert_same_read(fast, reference):
    (rows, report, _), (ref_rows, ref_report, _) = fast, reference
    assert list(rows.columns) == list(ref_rows.columns)
    assert rows.astype(object).where(rows.notna(), None).equals(
        ref_rows.astype(object).where(ref_rows.notna(), None))
    assert (report.records, report.bad_count, dict(report.formats)) == (
        ref_report.records, ref_report.bad_count, dict(ref_report.formats))
    assert report == ref_report  # rejects with file, line, reason and excerpt; formats; damage


def _findings(engine, requests) -> bytes:
    detector = WebSessionDetector().fit(requests, engine)
    return b"\n".join(dumps(f) for f in detector.detect(detector.score(requests)))


@pytest.mark.parametrize("seed", [1, 2, 3])
def test_fast_path_rows_counts_and_rejects_equal_the_engine_path_on_hostile_lines(duckdb_engine, tmp_path, seed):
    rng = np.random.default_rng(seed)
    lines = _random_lines(rng, 1500)
    log = tmp_path / "mixed.log"
    log.write_text("\n".join(lines) + "\n", encoding="utf-8")
    fast, reference = _read_both(duckdb_engine, [log])
    _assert_same_read(fast, reference)
    rows, report, _ = fast
    # the mix has rejects, rows, and rows the fast path made, or the comparison shows nothing
    taken = parse_batch(log.name, 1, lines, DEFAULT.bounds()).rows.num_rows
    assert report.bad_count > 100 and len(rows) > 300 and 100 < taken < len(rows)


@pytest.fixture(scope="module")
def site(tmp_path_factory):
    return simulate_weblogs(tmp_path_factory.mktemp("site"), visitors=150, scanners=4, days=2, seed=5)


def test_fast_path_gives_the_same_rows_and_findings_on_the_simulated_site(duckdb_engine, site):
    fast, reference = _read_both(duckdb_engine, [site["log"]])
    _assert_same_read(fast, reference)
    text = _findings(duckdb_engine, fast[2])
    assert text.count(b'"kind":"web_session"') >= 4  # the planted scanners are found: the comparison bites
    assert text == _findings(duckdb_engine, reference[2])


def test_fast_path_gives_the_same_rows_and_findings_on_the_real_apache_sample(duckdb_engine):
    fast, reference = _read_both(duckdb_engine, [REAL_LOG])
    _assert_same_read(fast, reference)
    assert fast[1].records == 10_000
    text = _findings(duckdb_engine, fast[2])
    assert text.count(b'"kind":"web_session"') >= 5 and text == _findings(duckdb_engine, reference[2])


def test_plain_lines_take_the_fast_path_and_the_rest_is_left_with_line_numbers():
    lines = ['10.0.0.1 - - [17/May/2024:10:05:03 +0200] "GET /a?x=1 HTTP/1.1" 200 5 "-" "ua"',
             None,  # rejected by the stream (too long): neither parsed nor left
             '10.0.0.1 - - [17/May/2024:10:05:03 +0200] "GET /a\\"b HTTP/1.1" 200 5 "-" "ua"',
             "   ",
             '10.0.0.2 - bob [17/May/2024:10:05:04 +0200] "post /b HTTP/1.1" 404 -']
    batch = parse_batch("x.log", 41, lines, DEFAULT.bounds())
    rows = batch.rows.to_pylist()
    assert [r["event_id"] for r in rows] == ["x.log:41", "x.log:45"]
    assert rows[0]["query"] == "x=1" and rows[0]["time"].isoformat() == "2024-05-17T08:05:03+00:00"
    assert rows[1]["method"] == "POST" and rows[1]["bytes"] is None and rows[1]["user_agent"] is None
    assert batch.formats == {"combined": 1, "common": 1}
    assert batch.slow_lines == [43] and batch.slow_texts == [lines[2]]


def test_sessions_match_a_plain_pandas_reference_with_gaps_and_length_cuts(duckdb_engine, site):
    """Sessionising by fused windows (one sort for run numbers and run starts) gives the sessions a
    row-by-row reading of the definition gives: a new session after a pause over ``gap``, and every
    ``max_length`` of a run."""
    from datetime import timedelta

    from tracehound.web.sessions import KEY_SEP, session_parts, sessionize, with_session_id

    requests, _ = read_weblogs([site["log"]], duckdb_engine)
    gap, max_s = 3600, 300
    cuts = {"gap": timedelta(seconds=gap), "max_length": timedelta(seconds=max_s)}
    # as computed, and as the detector stores them (numbers) and reads them back
    stored = with_session_id(duckdb_engine.materialize(session_parts(requests, **cuts), "test-parts"))
    got, got_stored = (duckdb_engine.to_pandas(t.select("event_id", "session_id", "seq")).set_index(
        "event_id").sort_index() for t in (sessionize(requests, **cuts), stored))
    df = duckdb_engine.to_pandas(requests.select("event_id", "time", "client_ip", "user_agent"))
    df["client"] = df["client_ip"] + KEY_SEP + df["user_agent"].fillna("-")
    df["ts"] = (df["time"] - pd.Timestamp(0, tz="UTC")).dt.total_seconds().astype("int64")
    df = df.sort_values(["client", "ts", "event_id"])
    pause = df.groupby("client")["ts"].diff()
    df["run"] = (pause.isna() | (pause > gap)).astype(int).groupby(df["client"]).cumsum()
    start = df.groupby(["client", "run"])["ts"].transform("min")
    df["chunk"] = (df["ts"] - start) // max_s
    df["session_id"] = df["client"] + "#" + df["run"].astype(str) + "." + df["chunk"].astype(str)
    df["seq"] = df.groupby("session_id").cumcount() + 1
    want = df.set_index("event_id")[["session_id", "seq"]].sort_index()
    assert (df["chunk"] > 0).any() and df["session_id"].nunique() > df["client"].nunique()
    assert got["session_id"].tolist() == want["session_id"].tolist()
    assert got["seq"].tolist() == want["seq"].tolist()
    assert got_stored.equals(got)
