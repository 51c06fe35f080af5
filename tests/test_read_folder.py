"""A folder of small SigninLogs JSON Lines files read in one DuckDB pass gives what reading each file
alone gives: the same rows with their own file as ``source``, the same rejects naming file and line.

The reference is the per-file Python pass the small files went through before they were joined
(``readers/signinlogs_folder.py``); the folder mixes clean files with every way a file can stop the
bulk read part-way (invalid JSON, a row that is not plain, a BOM, an over-long line, gzip, no final
newline, blank lines, an empty file), at random positions.
"""

from __future__ import annotations

import gzip
import random
from pathlib import Path

import orjson
import pytest

from tracehound.readers import signins
from tracehound.readers.families import read_family, route
from tracehound.readers.limits import Limits

LIMITS = Limits(max_line=3000)


def _record(rng: random.Random, i: int) -> dict:
    rec = {"Id": f"id-{i:06d}-{rng.getrandbits(32):08x}",
           "TimeGenerated": f"2024-03-{1 + i % 28:02d}T{i % 24:02d}:{i % 60:02d}:{rng.randrange(60):02d}Z",
           "UserPrincipalName": f"user{rng.randrange(40)}@contoso.com",
           "ResultType": rng.choice(["0", "0", "50126", 50053]),
           "IPAddress": f"198.51.100.{rng.randrange(1, 255)}", "AppDisplayName": "Office 365",
           "UserAgent": "Mozilla/5.0", "Type": "SigninLogs"}
    if rng.random() < 0.5:
        rec["LocationDetails"] = {"countryOrRegion": "US", "state": "Ohio", "city": "Dayton"}
    return rec


def _lines(rng: random.Random, first: int, n: int) -> list[bytes]:
    return [orjson.dumps(_record(rng, first + i)) for i in range(n)]


#: Ways a small file stops the joined read at a random record of it.
def _damage(kind: str, lines: list[bytes], rng: random.Random) -> bytes:
    at = rng.randrange(len(lines))
    if kind == "invalid":
        lines[at] = lines[at][: len(lines[at]) // 2]
    elif kind == "not-plain":  # a result code as a float: the Python mapper decides what it is
        rec = orjson.loads(lines[at])
        rec["ResultType"] = 50126.5
        lines[at] = orjson.dumps(rec)
    elif kind == "wrong-type":
        rec = orjson.loads(lines[at])
        rec["UserPrincipalName"] = ["a", "b"]
        lines[at] = orjson.dumps(rec)
    elif kind == "long":
        rec = orjson.loads(lines[at])
        rec["UserAgent"] = "x" * 4000
        lines[at] = orjson.dumps(rec)
    elif kind == "blank":
        lines.insert(at, b"   ")
    data = b"\n".join(lines) + b"\n"
    if kind == "bom":
        data = b"\xef\xbb\xbf" + data
    elif kind == "no-newline":
        data = data[:-1]
    elif kind == "gzip":
        data = gzip.compress(data)
    return data


@pytest.fixture(scope="module")
def export(tmp_path_factory) -> Path:
    rng = random.Random(15)
    root = tmp_path_factory.mktemp("export")
    kinds = ["invalid", "not-plain", "wrong-type", "long", "blank", "bom", "no-newline", "gzip"]
    first = 0
    for f in range(60):
        n = rng.randrange(1, 12)
        lines = _lines(rng, first, n)
        first += n
        kind = rng.choice(kinds) if rng.random() < 0.3 else None
        data = _damage(kind, lines, rng) if kind else b"\n".join(lines) + b"\n"
        path = root / f"{f // 12:02d}" / f"{f % 12 * 5:02d}.jsonl"
        path.parent.mkdir(exist_ok=True)
        path.write_bytes(data)
    (root / "00" / "99-empty.jsonl").write_bytes(b"")
    return root


def _read(folder: Path, engine):
    routing = route([folder])
    table, report = read_family("signins", routing.files["signins"], [], engine, limits=LIMITS)
    rows = engine.to_pandas(table).sort_values("event_id").reset_index(drop=True)
    return rows, report


def _per_file(paths, *, rest, **_):
    """The reading before files were joined: each small file alone, through the Python pass."""
    for path in paths:
        yield from rest(path, 0)


@pytest.fixture(scope="module")
def joined(export, duckdb_engine):
    """The folder read as the pipeline reads it, and how many files the Python pass had to read."""
    calls = []
    original = signins._read_file

    def counted(path, *args, **kwargs):
        calls.append(path)
        return original(path, *args, **kwargs)

    with pytest.MonkeyPatch.context() as mp:
        mp.setattr(signins, "_read_file", counted)
        # joined down to a file or two (the folder is small and a third of its files are damaged)
        mp.setattr("tracehound.readers.signinlogs_folder.MIN_GROUP_BYTES", 1000)
        rows, report = _read(export, duckdb_engine)
    return rows, report, len(set(calls))


def test_joined_read_equals_reading_each_file(export, joined, duckdb_engine, monkeypatch):
    """Joined: the rows, rejects and counts of the Python pass over each file alone."""
    rows, report, by_python = joined
    files = len(list(export.rglob("*.jsonl")))
    assert by_python < files / 2  # most files were read by the joined DuckDB pass
    monkeypatch.setattr(signins, "read_small_files", _per_file)
    alone, expected = _read(export, duckdb_engine)
    assert len(rows) > 100 and len(expected.bad) >= 3  # the folder has damage for the test to mean anything
    assert rows.equals(alone)
    assert sorted(report.bad, key=lambda b: (b.file, b.line)) == \
        sorted(expected.bad, key=lambda b: (b.file, b.line))
    assert (report.files, report.records, report.bad_count) == \
        (expected.files, expected.records, expected.bad_count)
    assert sorted(map(str, report.damaged_files)) == sorted(map(str, expected.damaged_files))
    assert report.warnings == expected.warnings


def _bytes(path: Path) -> bytes:
    data = path.read_bytes()
    return gzip.decompress(data) if data[:2] == b"\x1f\x8b" else data


def test_rows_keep_their_file_and_nothing_is_lost(export, joined):
    rows, report, _ = joined
    files = {str(p) for p in export.rglob("*.jsonl")}
    assert set(rows["source"]) <= files
    for source, ids in rows.groupby("source")["event_id"]:  # each row's id is in the file it names
        text = _bytes(Path(source))
        assert all(i.encode() in text for i in ids)
    assert report.records == len(rows)
    written = sum(1 for p in export.rglob("*.jsonl") for line in _bytes(p).split(b"\n") if line.strip())
    assert written == len(rows) + report.bad_count
    assert all(b.file in files and b.line is not None for b in report.bad)


def test_groups_split_by_size(export, joined, duckdb_engine, monkeypatch):
    """Groups cut small (a few files each) read the same as one group."""
    whole, report, _ = joined
    monkeypatch.setattr("tracehound.readers.signinlogs_folder.GROUP_BYTES", 20000)
    monkeypatch.setattr("tracehound.readers.signinlogs_folder.MIN_GROUP_BYTES", 1000)
    cut, cut_report = _read(export, duckdb_engine)
    assert whole.equals(cut)
    assert sorted(report.bad, key=lambda b: (b.file, b.line)) == \
        sorted(cut_report.bad, key=lambda b: (b.file, b.line))


def test_route_sniffs_each_file_once(export, duckdb_engine, monkeypatch):
    """read_family takes the formats route() found; a file changed since is sniffed again."""
    routing = route([export])
    files = routing.files["signins"]
    sniffed = []
    original = signins.sniff
    monkeypatch.setattr(signins, "sniff", lambda path: sniffed.append(path) or original(path))
    read_family("signins", files, [], duckdb_engine, limits=LIMITS)
    assert sniffed == []
    routing = route([export])
    changed = routing.files["signins"][0]
    data = changed.read_bytes()
    try:
        changed.write_bytes(b"TimeGenerated,UserPrincipalName,ResultType\n" + b"x" * 2000)
        _, report = read_family("signins", routing.files["signins"], [], duckdb_engine, limits=LIMITS)
    finally:
        changed.write_bytes(data)
    assert sniffed == [changed]
    assert report.formats["signinlogs-csv"] == 1
