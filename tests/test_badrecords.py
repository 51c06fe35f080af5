"""Bad records are counted past the in-memory cap, excerpts are bounded, rejects are written."""

from __future__ import annotations

from tracehound.badrecords import EXCERPT_CHARS, MAX_KEPT, ReadReport
from tracehound.findings import read_jsonl


def test_counts_past_the_cap_and_bounds_excerpts(tmp_path):
    report = ReadReport(files=1, records=5)
    for i in range(MAX_KEPT + 5):
        report.reject("x.jsonl", i + 1, "bad json", b"A" * (EXCERPT_CHARS * 10))
    assert report.bad_count == MAX_KEPT + 5
    assert len(report.bad) == MAX_KEPT
    assert len(report.bad[0].excerpt) == EXCERPT_CHARS


def test_merge_and_write_rejects(tmp_path):
    a, b = ReadReport(files=1, records=10), ReadReport(files=2, records=3)
    a.reject("a.jsonl", 7, "missing field 'Id'", '{"x": 1}')
    b.unreadable("b.bin", "not a sign-in log")
    a.merge(b)
    assert a.summary() == "3 files, 13 records, 1 bad records set aside, 1 unreadable files"
    rows = read_jsonl(a.write_rejects(tmp_path / "rejects.jsonl"))
    assert rows == [
        {"file": "b.bin", "line": None, "reason": "not a sign-in log", "excerpt": ""},
        {"file": "a.jsonl", "line": 7, "reason": "missing field 'Id'", "excerpt": '{"x": 1}'},
    ]
