"""Bad records are counted past the in-memory cap, excerpts are bounded, rejects are written; damage,
warnings and skips are reported so that a run can say it was partial."""

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
    b.damaged("c.gz", "gzip stream truncated: records after byte 900 lost", offset=900)
    b.warn("d.log", "3 bytes are not valid UTF-8")
    b.skip("not a logon event", 4)
    a.merge(b)
    assert a.summary() == ("3 files, 13 records, 1 bad records set aside, 4 skipped (not a logon event: 4), "
                           "1 damaged files (records after the damage lost), 1 unreadable files, 1 warnings")
    assert a.details() == ["damaged c.gz: gzip stream truncated: records after byte 900 lost",
                           "warning d.log: 3 bytes are not valid UTF-8"]
    rows = read_jsonl(a.write_rejects(tmp_path / "rejects.jsonl"))
    assert rows == [
        {"file": "b.bin", "line": None, "reason": "not a sign-in log", "excerpt": "", "kind": "unreadable"},
        {"file": "c.gz", "line": None, "reason": "gzip stream truncated: records after byte 900 lost",
         "excerpt": "", "kind": "damaged", "offset": 900, "lost": None},
        {"file": "d.log", "line": None, "reason": "3 bytes are not valid UTF-8", "excerpt": "", "kind": "warning"},
        {"file": "a.jsonl", "line": 7, "reason": "missing field 'Id'", "excerpt": '{"x": 1}', "kind": "reject"},
    ]


def test_partial_and_lost_say_what_a_run_could_not_read():
    clean = ReadReport(files=2, records=40)
    clean.warn("w.log", "1 bytes are not valid UTF-8")
    clean.skip("not a logon event")
    assert not clean.partial and clean.lost == 0  # a warning or a skip loses no record
    for mark in (lambda r: r.reject("x", 1, "bad"), lambda r: r.unreadable("y", "cannot open"),
                 lambda r: r.damaged("z.evtx", "records 5-9 lost", lost=5)):
        report = ReadReport(files=1, records=1)
        mark(report)
        assert report.partial
    evtx = ReadReport(files=2, records=10)
    evtx.damaged("a.evtx", "records 1-107 lost", lost=107)
    evtx.damaged("b.evtx", "records 3-4 lost", lost=2)
    assert evtx.lost == 109 and "2 damaged files (109 records lost)" in evtx.summary()
    evtx.damaged("c.gz", "gzip stream truncated")
    assert "at least 109 records lost" in evtx.summary()


def test_more_set_aside_than_kept_is_said():
    report = ReadReport(files=1, records=10_000, bad_count=15_000)
    assert "more set aside than kept: 15,000 against 10,000" in report.summary()
