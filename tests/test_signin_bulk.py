"""The DuckDB fast path for SigninLogs JSON Lines gives exactly what the Python mapper gives.

Every test here reads the same bytes twice — once as users run it (DuckDB first, Python for the
rest) and once with the DuckDB reader switched off — and compares tables, counts and rejects.
"""

from __future__ import annotations

import gzip
from datetime import datetime, timezone

import numpy as np
import orjson
import pyarrow as pa
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from tracehound.badrecords import ReadReport
from tracehound.readers import signin_fields
from tracehound.readers import signins as signins_module
from tracehound.readers.limits import Limits
from tracehound.readers.signinlogs_bulk import BulkRead, records_within_limits
from tracehound.readers import stream as stream_module
from tracehound.readers.signins import parse_signins
from tracehound.readers.stream import too_deep
from tracehound.schema import SIGNINS

from test_signin_readers import AAD, record


@pytest.fixture(autouse=True)
def _fast_path_for_small_files(monkeypatch):
    """These files are small; the reader sends small files the Python way unless told otherwise."""
    monkeypatch.setattr(signins_module, "BULK_MIN_BYTES", 0)


def _parse(path) -> tuple[pa.Table, ReadReport]:
    report = ReadReport()
    table = pa.Table.from_batches(list(parse_signins([path], report=report)), schema=SIGNINS)
    return table, report


def _python_only(monkeypatch, path) -> tuple[pa.Table, ReadReport]:
    with monkeypatch.context() as m:
        m.setattr(BulkRead, "batches", lambda self: iter(()))
        return _parse(path)


def _assert_same(monkeypatch, path) -> tuple[pa.Table, ReadReport]:
    fast, fast_report = _parse(path)
    slow, slow_report = _python_only(monkeypatch, path)
    assert fast.to_pylist() == slow.to_pylist()  # same rows, same order
    assert (fast_report.records, fast_report.bad_count) == (slow_report.records, slow_report.bad_count)
    assert fast_report.bad == slow_report.bad  # same file, line, reason and excerpt
    return fast, fast_report


def _mapped_in_python(monkeypatch) -> list[int]:
    """Count the records the Python mapper sees from now on."""
    seen: list[int] = []
    real = signin_fields.PLAIN_MAPPERS["signinlogs"]
    monkeypatch.setitem(signin_fields.PLAIN_MAPPERS, "signinlogs",
                        lambda rec: seen.append(1) or real(rec))
    return seen


def test_clean_export_is_read_by_duckdb_alone(tmp_path, monkeypatch):
    path = tmp_path / "s.jsonl"
    path.write_bytes(b"".join(orjson.dumps(record(i)) + b"\n" for i in range(500)))
    seen = _mapped_in_python(monkeypatch)
    table, report = _parse(path)
    assert table.num_rows == report.records == 500 and not seen
    row = table.to_pylist()[1]
    assert row["user"] == "user1@contoso.com" and row["result"] == 50126 and row["success"] is False
    assert row["ip_prefix"] == "203.0.113.0/24" and row["device_name"] == "LAPTOP-1"
    assert row["time"] == datetime(2024, 3, 1, 12, 1, 0, 123000, tzinfo=timezone.utc)
    _assert_same(monkeypatch, path)


def test_a_bad_line_hands_the_rest_of_the_file_to_python(tmp_path, monkeypatch):
    """How much DuckDB delivers before it stops depends on its buffers (here: nothing, the file is
    small); what matters is that every record is read once and the bad one is reported exactly."""
    lines = [orjson.dumps(record(i)) for i in range(300)]
    lines[200] = b'{"Id": "broken", '
    lines.insert(100, b"")  # a blank line before the damage: line numbers must still be right
    path = tmp_path / "s.jsonl"
    path.write_bytes(b"\n".join(lines) + b"\n")
    table, report = _parse(path)
    assert table.num_rows == 299 and report.bad_count == 1
    assert report.bad[0].line == 202 and report.bad[0].reason.startswith("invalid JSON")
    assert sorted(table.column("event_id").to_pylist()) == sorted(
        record(i)["Id"] for i in range(300) if i != 200)
    _assert_same(monkeypatch, path)


def test_gzip_export_and_a_record_without_id(tmp_path, monkeypatch):
    recs = [record(i) for i in range(50)]
    del recs[30]["Id"]
    path = tmp_path / "s.jsonl.gz"
    path.write_bytes(gzip.compress(b"".join(orjson.dumps(r) + b"\n" for r in recs)))
    table, _ = _assert_same(monkeypatch, path)
    assert table.column("event_id").to_pylist()[30] == "s.jsonl.gz:31"


def test_real_msticpy_signinlogs_rows(monkeypatch):
    table, report = _assert_same(monkeypatch, AAD)
    assert table.num_rows == report.records > 0


# Values a field may hold in a hostile or odd export, each a case the two paths must agree on.
_odd_text = st.sampled_from(["", " ", "x", " padded ", "Ünïcode", "tab\there", "a\u2028b", "nul\x00",
                             "İstanbul", "=cmd|' /C calc'!A0", "a" * 300])
_value = st.one_of(st.none(), _odd_text, st.integers(-5, 2**64 - 1), st.booleans(), st.floats(allow_nan=False),
                   st.just([1, 2]), st.just({"k": "v"}))
_times = st.sampled_from([
    "2024-03-01T12:00:00Z", "2024-03-01T12:00:00.1234567Z", "2024-03-01 12:00:00", " 2024-03-01T12:00:00Z",
    "2024-03-01T12:00:00+02:00", "2024-03-01T24:00:00Z", "0000-01-01T00:00:00Z", "2024-02-30T00:00:00Z",
    "2024-03-01T12:00:60Z", "20240301T120000Z", "2024-03-01", "03/01/2024 12:00:00 PM", "", "soon"])
_codes = st.sampled_from(["0", "50126", " 50126", "+0", "5_0", "-1", "99999999999999999999", "x",
                          0, 50126, 2**63, 5.0, True, None, ""])
_users = st.sampled_from(["Alice@Contoso.com", " bob@contoso.com ", "", "józef@contoso.com", "CAPS@X",
                          "ǅ@contoso.com", 7, None])
_ips = st.sampled_from(["203.0.113.7", " 203.0.113.7 ", "", "2a09:bac5:111::1", "bogus", "١.٢.٣.٤", 5, None])
_fields = {"Id": st.one_of(st.just("keep"), _value), "TimeGenerated": _times, "UserPrincipalName": _users,
           "ResultType": _codes, "IPAddress": _ips, "Location": _value, "AppDisplayName": _value,
           "ClientAppUsed": _value, "UserAgent": _value, "IsInteractive": _value}
_nested = st.sampled_from(["countryOrRegion", "state", "city", "browser", "operatingSystem", "displayName"])
_changes = [*sorted(_fields), "nested", "stringify", "drop"]


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(data=st.data(), n=st.integers(1, 30), odd=st.lists(st.integers(1, 29), max_size=6),
       garbage=st.lists(st.sampled_from([b"", b"   ", b"{", b"[1]", b"5", b'{"Id":"a","Id":"b"}',
                                         b"\xff\xfe", b'{"a":1} {"b":2}', b"\xef\xbb\xbf{}"]), max_size=3))
def test_fast_and_python_paths_agree_on_odd_records(tmp_path_factory, monkeypatch, data, n, odd, garbage):
    lines = []
    for i in range(n):
        rec = record(i)
        if i in odd:
            kind = data.draw(st.sampled_from(_changes))
            if kind in _fields:
                value = data.draw(_fields[kind])
                if value != "keep":
                    rec[kind] = value
            elif kind == "nested":
                field, value = data.draw(_nested), data.draw(_value)
                parent = "LocationDetails" if field in ("countryOrRegion", "state", "city") else "DeviceDetail"
                rec[parent][field] = value
            elif kind == "stringify":
                parent = data.draw(st.sampled_from(["LocationDetails", "DeviceDetail"]))
                rec[parent] = orjson.dumps(rec[parent]).decode()
            else:
                rec.pop(data.draw(st.sampled_from([*_fields, "LocationDetails", "DeviceDetail"])), None)
        lines.append(orjson.dumps(rec))
    for junk in garbage:
        lines.insert(data.draw(st.integers(1, len(lines))), junk)  # the first line says what the file is
    path = tmp_path_factory.mktemp("odd") / "odd.jsonl"
    path.write_bytes(b"\n".join(lines) + b"\n")
    _assert_same(monkeypatch, path)


@pytest.mark.parametrize("body", [b"", b"\n\n"])
def test_nothing_but_blank_lines(tmp_path, monkeypatch, body):
    path = tmp_path / "s.jsonl"
    path.write_bytes(orjson.dumps(record(0)) + b"\n" + body)
    table, _ = _assert_same(monkeypatch, path)
    assert table.num_rows == 1


def test_a_record_python_must_map_ends_the_fast_path_there(tmp_path, monkeypatch):
    recs = [record(i) for i in range(400)]
    recs[350]["ResultType"] = 5.0  # valid JSON the fast path leaves to the Python mapper
    path = tmp_path / "s.jsonl"
    path.write_bytes(b"".join(orjson.dumps(r) + b"\n" for r in recs))
    seen = _mapped_in_python(monkeypatch)
    table, report = _parse(path)
    assert table.num_rows == 400 and report.bad_count == 0
    assert len(seen) == 50  # records 351-400: the rows before came from DuckDB
    assert table.column("result").to_pylist()[350] == 5
    _assert_same(monkeypatch, path)


def test_dynamic_field_as_json_text_with_wide_characters(tmp_path, monkeypatch):
    """DuckDB refuses JSON text where it expects an object and quotes it, cut at a byte count that
    can split a character; the fast path must hand over, not crash."""
    recs = [record(i) for i in range(5)]
    recs[2]["DeviceDetail"] = orjson.dumps({"browser": "\U00010000" * 200, "operatingSystem": "x"}).decode()
    path = tmp_path / "s.jsonl"
    path.write_bytes(b"".join(orjson.dumps(r) + b"\n" for r in recs))
    table, report = _assert_same(monkeypatch, path)
    assert table.num_rows == 5 and table.column("browser").to_pylist()[2] == "\U00010000" * 200


def _parse_limited(path, limits) -> tuple[pa.Table, ReadReport]:
    report = ReadReport()
    return pa.Table.from_batches(list(parse_signins([path], report=report, limits=limits)), schema=SIGNINS), report


@pytest.mark.parametrize("gz", [False, True])
def test_lines_over_the_reader_limits_are_rejects_on_the_fast_path_too(tmp_path, monkeypatch, gz):
    """max_line and max_depth hold whichever path reads the line: same rows, same located rejects."""
    limits = Limits(max_line=3_000, max_depth=16)
    deep = "[" * 20 + "]" * 20
    lines = [orjson.dumps(record(i)) for i in range(300)]
    lines[100] = orjson.dumps(record(100, Notes="n" * 4_000))           # too long
    lines[150] = orjson.dumps(record(150, Deep=orjson.loads(deep)))     # too deep
    lines[200] = orjson.dumps(record(200, Brackets="[" * 40))           # many brackets, inside a string: fine
    lines[250] = "\r\n".join(["", orjson.dumps(record(250, Notes="é" * 1_400)).decode()]).encode()  # 2 bytes a char
    body = b"\n".join(lines) + b"\n"
    path = tmp_path / ("s.jsonl.gz" if gz else "s.jsonl")
    path.write_bytes(gzip.compress(body) if gz else body)
    seen = _mapped_in_python(monkeypatch)
    fast, fast_report = _parse_limited(path, limits)
    assert 0 < len(seen) <= 200  # DuckDB read the first 100 records; Python the rest
    with monkeypatch.context() as m:
        m.setattr(BulkRead, "batches", lambda self: iter(()))
        slow, slow_report = _parse_limited(path, limits)
    assert fast.to_pylist() == slow.to_pylist()
    assert fast_report.bad == slow_report.bad
    assert [(b.line, b.reason.split(" (")[0]) for b in fast_report.bad] == [
        (101, "line longer than 3,000 characters"), (151, "JSON nested deeper than 16 levels")]
    assert fast.num_rows + fast_report.bad_count == 300


def test_records_within_limits_counts_up_to_the_first_line_over(tmp_path):
    path = tmp_path / "s.jsonl"
    path.write_bytes(b"{}\n\n{}\n" + b"[" * 70 + b"]" * 70 + b"\n{}\n")
    assert records_within_limits(path, Limits()) == 2
    assert records_within_limits(path, Limits(max_depth=100)) is None
    path.write_bytes(b"{}\n" + b'{"a": "' + b"x" * 200 + b'"}')  # the last line, without a newline
    assert records_within_limits(path, Limits(max_line=100)) == 1


@pytest.mark.parametrize("seed", [0, 1, 2])
def test_records_within_limits_counts_blank_and_bracketless_lines_across_chunks(tmp_path, seed):
    """Chunks before the first line over are counted whole: blank lines are no record, a line with no
    bracket is one (the Python pass rejects it), wherever they fall among 1 MiB chunks."""
    rng = np.random.default_rng(seed)
    kinds = [b'{"a": "' + b"x" * int(rng.integers(10, 400)) + b'"}', b"", b" \t\r", b"not json", b"[1]"]
    lines = [kinds[i] for i in rng.choice(len(kinds), size=12_000, p=[0.9, 0.04, 0.02, 0.02, 0.02])]
    path = tmp_path / "s.jsonl"
    path.write_bytes(b"\n".join(lines) + b"\n" + b"[" * 70 + b"]" * 70 + b"\n{}\n")
    assert path.stat().st_size > 2 * (1 << 20)
    assert records_within_limits(path, Limits()) == sum(1 for line in lines if line.strip())


def _first_over(lines: list[bytes], limits: Limits) -> int | None:
    """The reference for ``records_within_limits``: every line judged on its own, in order."""
    records = 0
    for line in lines:
        if len(line) > limits.max_line:
            try:
                if len(line.decode("utf-8")) > limits.max_line:
                    return records
            except UnicodeDecodeError:
                return records
        if line.count(b"{") + line.count(b"[") > limits.max_depth:
            try:
                if too_deep(orjson.loads(line), limits.max_depth):
                    return records
            except orjson.JSONDecodeError:
                return records
        records += bool(line.strip())
    return None


@pytest.mark.parametrize("seed", range(6))
def test_records_within_limits_matches_a_line_by_line_judge(tmp_path, monkeypatch, seed):
    """Chunks far smaller than the line limit, so lines long, deep, blank or bracketless fall across
    chunk edges, inside chunks and over many chunks: the count is what judging each line gives."""
    rng = np.random.default_rng(seed)
    limits = Limits(max_line=int(rng.integers(6_000, 20_000)), max_depth=int(rng.integers(4, 12)))

    def line() -> bytes:
        kind = rng.choice(8, p=[0.78, 0.03, 0.03, 0.03, 0.07, 0.02, 0.02, 0.02])
        n = int(rng.integers(5, 3_000))
        d = int(rng.integers(1, 2 * limits.max_depth))
        return [b'{"a": "' + b"x" * n + b'"}', b"", b" \t\r", b"not json",
                b'{"a": "' + b"x" * n + b'", "d": ' + b"[" * d + b"]" * d + b"}",  # deep or not
                b'{"s": "' + b"[" * (limits.max_depth + 3) + b'"}',    # many brackets in a string: fine
                b'{"a": "' + "é".encode() * int(rng.integers(limits.max_line // 2, limits.max_line)) + b'"}',
                b'{"a": "' + b"y" * int(rng.integers(limits.max_line, 2 * limits.max_line)) + b'"}'][kind]

    for chunk in (512, 4_096, 65_536):  # every line crosses a chunk edge, some do, few do
        monkeypatch.setattr(stream_module, "_CHUNK", chunk)
        for _ in range(3):  # the first line over lands anywhere; files with none are judged too
            lines = [line() for _ in range(int(rng.integers(50, 1_500)))]
            path = tmp_path / "s.jsonl"
            path.write_bytes(b"\n".join(lines) + (b"\n" if rng.random() < 0.5 else b""))
            assert records_within_limits(path, limits) == _first_over(lines, limits)


def test_small_files_skip_the_fast_path_with_the_same_result(tmp_path, monkeypatch):
    path = tmp_path / "small.jsonl"
    path.write_bytes(b"".join(orjson.dumps(record(i)) + b"\n" for i in range(5)))
    fast, fast_report = _parse(path)
    monkeypatch.setattr(signins_module, "BULK_MIN_BYTES", path.stat().st_size + 1)
    seen = _mapped_in_python(monkeypatch)
    slow, slow_report = _parse(path)
    assert len(seen) == 5 and fast.to_pylist() == slow.to_pylist() and fast_report.bad == slow_report.bad
