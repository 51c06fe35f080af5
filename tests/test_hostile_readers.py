"""The permanent hostile-input suite: every reader × every damage class, nothing lost, nothing injected.

A threat hunter's inputs are written by attackers and by broken exporters. For every text format
(``hostile_formats.FORMATS``) and every damage class — wrong types, missing fields, time extremes,
records of another kind, Latin-1 bytes, truncated and corrupt gzip, lines and cells over the size
limits, UTF-16, hostile file names — a read must not raise, must keep exactly the valid records,
and must account for every input record: **rows in = kept + rejected + skipped** (+ the records a
damaged container announces and could not give). Kept values are typed: address columns hold
addresses, times lie inside the read's bounds. Binary formats (EVTX, Parquet), size bombs and the
routing of a whole folder have their own tests below.
"""

from __future__ import annotations

import gzip
import os
import random
import subprocess
import sys
import textwrap
from datetime import datetime, timedelta, timezone
from pathlib import Path

import orjson
import pyarrow as pa
import pyarrow.parquet as pq
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from hostile_formats import AUTHLOG, COMBINED, FORMATS, MARK, SIGNINLOGS_JSONL, WINDOWS_JSON, Format, latin1
from tracehound.badrecords import ReadReport
from tracehound.readers.families import read_family, route
from tracehound.readers.hosts import address
from tracehound.readers.limits import Limits
from tracehound.readers.logons import read_logons
from tracehound.readers.parquet import checked_canonical
from tracehound.schema import DETECTIONS, LOGONS

DATA = Path(__file__).parent / "data"
EVTX = DATA / "deepbluecli-evtx" / "smb-password-guessing-security.evtx"
UTC = timezone.utc
#: Address columns of each table: what a blocklist or a firewall rule may be built from.
ADDRESSES = {"signins": ("ip",), "logons": ("source_ip",), "connections": ("src_ip", "dst_ip"),
             "web_requests": ("client_ip",)}
IDS = [f.name for f in FORMATS]
#: Valid records a file starts with in the property test, so every sniffer recognises it.
HEAD = 30


def write(fmt: Format, path: Path, lines: list[bytes | str], *, gz: bool = False, encoding: str = "utf-8") -> Path:
    """``fmt``'s header and ``lines`` as a file (gzip'd, or in another encoding); bytes lines as they are."""
    head = "".join(f"{h}\n" for h in fmt.header)
    if encoding == "utf-8":
        body = head.encode() + b"".join((ln if isinstance(ln, bytes) else ln.encode()) + b"\n" for ln in lines)
    else:  # one byte-order mark, at the start
        body = (head + "".join(f"{ln}\n" for ln in lines)).encode(encoding)
    path.write_bytes(gzip.compress(body, mtime=0) if gz else body)
    if fmt is AUTHLOG:  # classic syslog stamps have no year: the file's modification time gives it
        stamp = datetime(2024, 3, 30, tzinfo=UTC).timestamp()
        os.utime(path, (stamp, stamp))
    return path


def read(paths: list[Path], engine, table: str, **options):
    """Route ``paths`` and read ``table`` through the pipeline's entry; (table, report)."""
    routing = route(paths)
    data, report = read_family(table, routing.files.get(table, []), routing.canonical.get(table, []), engine,
                               **options)
    kept = engine.scalar(data.count()) if data is not None else 0
    assert kept == report.records, "the report counts exactly the rows of the table"
    return data, report, routing


def assert_typed(data, table: str, engine, limits: Limits = Limits()) -> None:
    """Kept rows hold typed values: real addresses in address columns, times inside the bounds."""
    if data is None:
        return
    bounds = limits.bounds()
    df = engine.to_pandas(data.select("time", *ADDRESSES[table]))
    if len(df):
        assert df["time"].min() >= bounds.floor and df["time"].max() <= bounds.ceiling
    for column in ADDRESSES[table]:
        for value in df[column].dropna():
            assert address(value) == value and not set(value) & set(" \n\r;}{/=")


# ------------------------------------------------------------------------------------------------
# Every line of every format: kept, rejected or skipped — property-based
# ------------------------------------------------------------------------------------------------

def test_every_format_plants_every_class():
    """The suite is only as good as its formats: each has hostile lines of each class it can hold."""
    for fmt in FORMATS:
        assert {"time", "missing"} <= set(fmt.rejected), fmt.name
        assert fmt.long is not None and MARK in fmt.good(random.Random(1), 1), fmt.name
    assert all("wrong" in f.rejected for f in FORMATS)


@pytest.mark.parametrize("fmt", FORMATS, ids=IDS)
@settings(max_examples=6, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture,
                                                                HealthCheck.too_slow])
@given(data=st.data())
def test_rows_in_equal_kept_plus_rejected_plus_skipped(fmt, duckdb_engine, tmp_path_factory, data):
    kinds = ["good", "latin1", *fmt.rejected, *(["skipped"] if fmt.skipped else [])]
    plan = data.draw(st.lists(st.sampled_from(kinds), max_size=30), label="plan")
    rng = random.Random(data.draw(st.integers(0, 2**32), label="seed"))
    # A head a sniffer recognises (a majority of its first lines are records of the format), then
    # the planted lines at random positions.
    lines: list[bytes | str] = [fmt.good(rng, i) for i in range(HEAD)]
    expected = {"kept": HEAD, "rejected": 0, "skipped": 0}
    for i, kind in enumerate(plan, start=HEAD):
        if kind in ("good", "latin1"):
            line = fmt.good(rng, i)
            lines.append(latin1(line) if kind == "latin1" else line)
            expected["kept"] += 1
        elif kind == "skipped":
            lines.append(data.draw(st.sampled_from(fmt.skipped))(rng, i))
            expected["skipped"] += 1
        else:
            lines.append(data.draw(st.sampled_from(fmt.rejected[kind]), label=kind)(rng, i))
            expected["rejected"] += 1
    path = write(fmt, tmp_path_factory.mktemp(fmt.name) / "input.log", lines)
    table, report, _ = read([path], duckdb_engine, fmt.table)
    got = {"kept": report.records, "rejected": report.bad_count, "skipped": sum(report.skipped.values())}
    assert got == expected, [b.reason for b in report.bad]
    assert all(b.file == str(path) and b.line is not None for b in report.bad)  # every reject is located
    assert bool(report.warnings) == ("latin1" in plan)  # replaced bytes are a counted warning, per file
    assert not report.damaged_files and not report.unreadable_files
    assert_typed(table, fmt.table, duckdb_engine)


@pytest.mark.parametrize("fmt", FORMATS, ids=IDS)
@pytest.mark.parity
def test_time_extremes_are_set_aside_on_every_engine(fmt, engine, tmp_path):
    """Year 0, 1900, 1969, 2099, 9999 (west of UTC too), 10000: set aside with a reason, never kept —
    one record dated 2099 must not move a detection window (both engines: web times parse in-engine)."""
    rng = random.Random(fmt.name)
    extremes = fmt.rejected["time"]
    lines = [fmt.good(rng, i) for i in range(5)] + [make(rng, 5 + k) for k, make in enumerate(extremes)]
    table, report, _ = read([write(fmt, tmp_path / "t.log", lines)], engine, fmt.table)
    assert (report.records, report.bad_count) == (5, len(extremes)), [b.reason for b in report.bad]
    assert_typed(table, fmt.table, engine)


# ------------------------------------------------------------------------------------------------
# Damaged containers: truncated and corrupt gzip, per format
# ------------------------------------------------------------------------------------------------

def _big(fmt: Format, rng: random.Random, n: int) -> list[str]:
    return [fmt.good(rng, i) for i in range(n)]


@pytest.mark.parametrize("how", ["truncated", "corrupt"])
@pytest.mark.parametrize("fmt", FORMATS, ids=IDS)
def test_damaged_gzip_keeps_what_precedes_it_names_the_file_and_reads_the_rest(fmt, how, duckdb_engine, tmp_path):
    rng = random.Random(f"{fmt.name}-{how}")
    n = 2500
    while True:  # enough records to span several of the stream's 16 KiB inflate slices
        whole = bytearray(gzip.compress(write(fmt, tmp_path / "plain", _big(fmt, rng, n)).read_bytes(), mtime=0))
        if len(whole) > 6 * 16384:
            break
        n *= 2
    cut = int(len(whole) * rng.uniform(0.4, 0.8))
    if how == "truncated":
        damaged = bytes(whole[:cut])
    else:
        for k in range(cut, cut + 64):
            whole[k] ^= 0x5A
        damaged = bytes(whole)
    (tmp_path / "plain").unlink()
    folder = tmp_path / "in"
    folder.mkdir()
    bad = folder / "damaged.log.gz"
    bad.write_bytes(damaged)
    healthy = write(fmt, folder / "healthy.log", _big(fmt, random.Random(7), 40))
    if fmt is AUTHLOG:
        os.utime(bad, (healthy.stat().st_mtime,) * 2)
    table, report, routing = read([folder], duckdb_engine, fmt.table)
    assert not routing.unrecognised
    assert [d.file for d in report.damaged_files] == [str(bad)]  # named, with where and what
    damage = report.damaged_files[0]
    assert "lost" in damage.reason and damage.offset > 0 and report.partial
    from_bad = report.records - 40
    assert 0 < from_bad < n  # what precedes the damage is kept, the healthy file is read whole
    assert from_bad + report.bad_count + sum(report.skipped.values()) <= n
    assert all(b.file in (str(bad), str(healthy)) for b in report.bad)
    assert_typed(table, fmt.table, duckdb_engine)


# ------------------------------------------------------------------------------------------------
# Size limits, encodings and file names, per format
# ------------------------------------------------------------------------------------------------

@pytest.mark.parametrize("fmt", FORMATS, ids=IDS)
def test_lines_and_cells_over_the_limits_are_located_rejects(fmt, duckdb_engine, tmp_path):
    rng = random.Random(fmt.name)
    limits = Limits(max_line=4096, max_cell=1024)
    lines = [fmt.good(rng, i) for i in range(6)] + [fmt.long(rng, 6, 20_000)] + [fmt.good(rng, 7)]
    if fmt.cell is not None:
        lines.append(fmt.cell(rng, 8, 2000))  # a line under max_line with one cell over max_cell
    table, report, _ = read([write(fmt, tmp_path / "big.log", lines)], duckdb_engine, fmt.table, limits=limits)
    planted = 2 if fmt.cell is not None else 1
    assert report.records + report.bad_count == 7 + planted
    if fmt is SIGNINLOGS_JSONL:
        # Plain SigninLogs JSON Lines are parsed by DuckDB, which bounds its own memory: a long
        # record it can map is kept (readers/signinlogs_bulk.py says so). The Python pass rejects it.
        assert report.records >= 7
    else:
        assert report.records == 7 and report.bad_count == planted
        reasons = sorted(b.reason for b in report.bad)
        assert any("limits.max_line" in r for r in reasons)
        assert fmt.cell is None or any("limits.max_cell" in r for r in reasons)
        assert all(len(b.excerpt) <= 300 for b in report.bad)


@pytest.mark.parametrize("encoding", ["utf-16", "utf-8-sig"])
@pytest.mark.parametrize("fmt", FORMATS, ids=IDS)
def test_utf16_and_byte_order_marks_read_whole(fmt, encoding, duckdb_engine, tmp_path):
    rng = random.Random(fmt.name)
    lines = [fmt.good(rng, i) for i in range(12)]
    _, report, _ = read([write(fmt, tmp_path / "enc.log", lines, encoding=encoding)], duckdb_engine, fmt.table)
    assert (report.records, report.bad_count, report.warnings) == (12, 0, [])


@pytest.mark.parametrize("fmt", FORMATS, ids=IDS)
def test_file_names_are_never_globbed(fmt, duckdb_engine, tmp_path):
    """``br[ab].log`` is that file, not ``bra.log``; ``*`` and ``:`` are letters, not patterns."""
    rng = random.Random(fmt.name)
    folder = tmp_path / "names"
    folder.mkdir()
    counts = {"bra.log": 3, "br[ab].log": 5, "star*.log": 7, "a:b,c{d}.log": 2}
    for name, n in counts.items():
        write(fmt, folder / name, [fmt.good(rng, 10 * n + i) for i in range(n)])
    table, report, _ = read([folder], duckdb_engine, fmt.table)
    assert report.records == sum(counts.values()) and report.files == len(counts)
    ids = duckdb_engine.to_pandas(table.select("event_id"))["event_id"]
    if not fmt.own_ids:  # ids are "<file name>:<line>": each file's lines under its own name
        per_file = ids.str.rsplit(":", n=1).str[0].value_counts().to_dict()
        assert per_file == counts


def test_canonical_parquet_names_are_never_globbed(engine, tmp_path):
    for name, n in {"bra.parquet": 2, "br[ab].parquet": 3, "*.parquet": 4}.items():
        rows = [{"event_id": f"{name}:{i}", "time": datetime(2024, 3, 1, tzinfo=UTC), "user": "u",
                 "detection": "Trojan"} for i in range(n)]
        pq.write_table(pa.Table.from_pylist(rows, schema=DETECTIONS), tmp_path / name)
    data, report, _ = read([tmp_path], engine, "detections")
    per_file = engine.to_pandas(data.select("event_id"))["event_id"].str.rsplit(":", n=1).str[0]
    assert per_file.value_counts().to_dict() == {"bra.parquet": 2, "br[ab].parquet": 3, "*.parquet": 4}


def test_a_damaged_zip_of_windows_json_keeps_what_it_can(duckdb_engine, tmp_path):
    import zipfile

    rng = random.Random(15)
    good = tmp_path / "good.zip"
    with zipfile.ZipFile(good, "w", zipfile.ZIP_DEFLATED) as zf:
        zf.writestr("a.json", "\n".join(WINDOWS_JSON.good(rng, i) for i in range(3000)) + "\n")
        zf.writestr("b.json", "\n".join(WINDOWS_JSON.good(rng, i) for i in range(50)) + "\n")
    data = good.read_bytes()
    cut = tmp_path / "cut.zip"  # the central directory is gone: no member can be found
    cut.write_bytes(data[: len(data) // 2])
    broken = tmp_path / "broken.zip"  # a member's deflate data corrupted half-way
    mangled = bytearray(data)
    for k in range(len(data) // 3, len(data) // 3 + 64):
        mangled[k] ^= 0x5A
    broken.write_bytes(bytes(mangled))
    for path in (cut, broken):
        _, report = read_logons(path, duckdb_engine)
        assert [d.file == f"{path}/a.json" for d in report.damaged_files] == [True], report.damaged_files
        assert 0 < report.records < 3000 + 50  # what precedes the damage in a.json is kept
    assert read_logons(broken, duckdb_engine)[1].records >= 50  # the intact member b.json is read whole
    warned = read_logons(cut, duckdb_engine)[1].warnings
    assert [w.file for w in warned] == [str(cut)] and "members read from their headers" in warned[0].reason


def test_a_truncated_json_array_export_keeps_what_precedes_the_cut_and_rejects_the_rest(duckdb_engine, tmp_path):
    rng = random.Random(16)
    records = [orjson.dumps(orjson.loads(SIGNINLOGS_JSONL.good(rng, i))) for i in range(50)]
    text = b"[" + b",".join(records) + b"]"
    cut = len(text) // 2
    ends = [1 + sum(len(r) + 1 for r in records[:i]) + len(records[i]) for i in range(len(records))]
    whole = sum(end <= cut for end in ends)
    assert 0 < whole < 50
    path = tmp_path / "export.json"
    path.write_bytes(text[:cut])
    _, report, routing = read([path], duckdb_engine, "signins")
    assert routing.files == {"signins": [path]}
    assert (report.records, report.bad_count) == (whole, 1)
    assert "the document ends inside a record or array" in report.bad[0].reason


# ------------------------------------------------------------------------------------------------
# The reproductions that are not one line in one format
# ------------------------------------------------------------------------------------------------

def test_one_2099_logon_among_thousands_is_set_aside_and_the_window_stays(duckdb_engine, tmp_path):
    rng = random.Random(4)
    lines = [WINDOWS_JSON.good(rng, i) for i in range(3000)]
    lines.insert(1777, orjson.dumps({**orjson.loads(lines[0]), "TimeCreated": "2099-06-01T00:00:00Z"}).decode())
    table, report, _ = read([write(WINDOWS_JSON, tmp_path / "w.jsonl", lines)], duckdb_engine, "logons")
    assert report.records == 3000 and [b.line for b in report.bad] == [1778]
    assert "in the future" in report.bad[0].reason and "2099" in report.bad[0].reason
    latest = duckdb_engine.scalar(table.time.max())
    assert latest.year == 2024


def test_a_10_to_the_12_repeat_line_is_a_capped_weight_not_rows(duckdb_engine, tmp_path):
    rng = random.Random(5)
    lines = [AUTHLOG.good(rng, i) for i in range(3)]
    lines += [f"Mar  5 10:00:0{k} srv1 sshd[77{k}]: message repeated {n} times: [ Failed password for root "
              f"from 203.0.113.9 port 22 ssh2]" for k, n in enumerate((10**12, 10_000_000, 7))]
    limits = Limits(max_repeat=50)
    table, report, _ = read([write(AUTHLOG, tmp_path / "auth.log", lines)], duckdb_engine, "logons", limits=limits)
    assert report.records == 3 + 50 + 50 + 7
    assert sum(report.skipped.values()) == (10**12 - 50) + (10_000_000 - 50)
    assert "repeats beyond limits.max_repeat" in report.summary()


def test_feb_30_is_a_reject_and_moves_no_other_line(duckdb_engine, tmp_path):
    rng = random.Random(6)
    lines = [AUTHLOG.good(rng, i) for i in range(124)]
    lines.insert(60, AUTHLOG.rejected["time"][-2](rng, 60))  # "Feb 30 10:00:00 ..."
    table, report, _ = read([write(AUTHLOG, tmp_path / "auth.log", lines)], duckdb_engine, "logons")
    assert report.records == 124 and [b.line for b in report.bad] == [61]
    years = duckdb_engine.to_pandas(table.select(year=table.time.year()))["year"]
    assert set(years) == {2024}


def test_syslog_year_rolls_over_at_new_year_and_ignores_one_straggler(tmp_path):
    from tracehound.readers.authlog import iter_authlog_rows

    stamps = ["Dec 31 23:58:00", "Dec 31 23:59:00", "Jan  1 00:00:10", "Dec 31 23:59:59", "Jan  1 00:01:00",
              "Mar  2 10:00:00", "Mar  1 09:00:00", "Mar  3 11:00:00"]
    path = tmp_path / "auth.log"
    path.write_text("".join(f"{s} h sshd[{k}]: Failed password for u from 10.0.0.{k + 1} port 22 ssh2\n"
                            for k, s in enumerate(stamps)))
    rows = list(iter_authlog_rows(path, ReadReport(), year=2023))
    assert [r["time"].year for r in rows] == [2023, 2023, 2024, 2023, 2024, 2024, 2024, 2024]


def test_25_other_records_ahead_of_2000_signins_lose_nothing(duckdb_engine, tmp_path):
    rng = random.Random(8)
    other = [orjson.dumps({"Type": "AuditLogs", "OperationName": "Update user", "Id": f"a{i}",
                           "TargetResources": [{"id": str(i)}]}).decode() for i in range(25)]
    lines = other + [SIGNINLOGS_JSONL.good(rng, i) for i in range(2000)]
    _, report, routing = read([write(SIGNINLOGS_JSONL, tmp_path / "mixed.jsonl", lines)], duckdb_engine, "signins")
    assert list(routing.files) == ["signins"]
    assert (report.records, report.bad_count, sum(report.skipped.values())) == (2000, 0, 25)


def test_30_banner_lines_before_an_access_log(duckdb_engine, tmp_path):
    rng = random.Random(9)
    banner = [f"# exported by LogShipper 3.1 -- part {k} of the header, please ignore" for k in range(30)]
    lines = banner + [COMBINED.good(rng, i) for i in range(200)]
    _, report, routing = read([write(COMBINED, tmp_path / "access.log", lines)], duckdb_engine, "web_requests")
    assert list(routing.files) == ["web_requests"]
    assert (report.records, report.bad_count) == (200, 30)
    assert [b.line for b in report.bad] == list(range(1, 31))


def test_more_rejects_than_kept_is_said_in_the_summary(duckdb_engine, tmp_path):
    rng = random.Random(10)
    lines = [WINDOWS_JSON.good(rng, i) for i in range(100)] + ['{"EventID": true}'] * 150
    _, report, _ = read([write(WINDOWS_JSON, tmp_path / "w.jsonl", lines)], duckdb_engine, "logons")
    assert (report.records, report.bad_count) == (100, 150)
    assert "more set aside than kept: 150 against 100" in report.summary()


def test_200_kb_csv_cells_are_read_not_a_crash(duckdb_engine, tmp_path):
    from hostile_formats import FIREWALL_CSV, SENTINEL_CSV, SIGNINLOGS_CSV

    for fmt in (SIGNINLOGS_CSV, SENTINEL_CSV, FIREWALL_CSV):
        rng = random.Random(fmt.name)
        lines = [fmt.good(rng, i) for i in range(3)] + [fmt.cell(rng, 3, 200_000)]
        _, report, _ = read([write(fmt, tmp_path / f"{fmt.name}.csv", lines)], duckdb_engine, fmt.table)
        assert (report.records, report.bad_count) == (4, 0), fmt.name


def test_signin_record_over_16_mb_in_a_gzip(duckdb_engine, tmp_path):
    rng = random.Random(11)
    lines = [SIGNINLOGS_JSONL.good(rng, 0), SIGNINLOGS_JSONL.long(rng, 1, 17 << 20), SIGNINLOGS_JSONL.good(rng, 2)]
    _, report, _ = read([write(SIGNINLOGS_JSONL, tmp_path / "big.jsonl.gz", lines, gz=True)], duckdb_engine,
                        "signins")
    assert report.records + report.bad_count == 3 and report.records >= 2 and not report.damaged_files


def test_a_locked_sub_folder_is_named_not_skipped(duckdb_engine, tmp_path, monkeypatch):
    rng = random.Random(12)
    write(WINDOWS_JSON, tmp_path / "ok.jsonl", [WINDOWS_JSON.good(rng, i) for i in range(4)])
    locked = tmp_path / "locked"
    locked.mkdir()
    write(WINDOWS_JSON, locked / "hidden.jsonl", [WINDOWS_JSON.good(rng, i) for i in range(4)])
    real = os.scandir

    def scandir(path="."):  # as a folder without permission behaves (root may read any folder)
        if Path(path) == locked:
            raise PermissionError(13, "Permission denied", str(path))
        return real(path)

    monkeypatch.setattr(os, "scandir", scandir)
    routing = route([tmp_path])
    assert routing.unreadable == [(locked, "folder not readable: Permission denied")]
    _, report = read_logons([tmp_path], duckdb_engine)
    assert report.records == 4 and [(u.file, u.reason) for u in report.unreadable_files] == [
        (str(locked), "folder not readable: Permission denied")]


# ------------------------------------------------------------------------------------------------
# EVTX: damage counted per record lost
# ------------------------------------------------------------------------------------------------

@pytest.fixture(scope="module")
def evtx_total(duckdb_engine) -> int:
    """Records in the intact file, as the reader accounts for them."""
    _, report = read_logons(EVTX, duckdb_engine, accounts=_keep_all())
    assert not report.damaged_files
    return report.records + report.bad_count + sum(report.skipped.values())


def _keep_all():
    from tracehound.readers.logons import LogonFilter

    return LogonFilter(False, False, False)


def _evtx_variants() -> dict[str, bytes]:
    data = EVTX.read_bytes()
    zeroed, garbled = bytearray(data), bytearray(data)
    chunk = 4096 + 65536 * 7
    zeroed[chunk:chunk + 65536] = bytes(65536)
    garbled[chunk + 600:chunk + 700] = b"\x55" * 100
    return {"truncated": data[: 4096 + 65536 * 21 + 30_000], "zeroed-chunk": bytes(zeroed),
            "corrupt-chunk": bytes(garbled), "header-only": data[:4096]}


@pytest.mark.parametrize("variant", list(_evtx_variants()))
def test_damaged_evtx_counts_every_record_lost(variant, evtx_total, duckdb_engine, tmp_path):
    path = tmp_path / f"{variant}.evtx"
    path.write_bytes(_evtx_variants()[variant])
    _, report = read_logons(path, duckdb_engine, accounts=_keep_all())
    assert [d.file for d in report.damaged_files] == [str(path)]
    damage = report.damaged_files[0]
    accounted = report.records + report.bad_count + sum(report.skipped.values())
    assert accounted + damage.lost == evtx_total  # rows in = kept + rejected + skipped + lost
    assert damage.lost >= (100 if variant != "truncated" else 1000)
    assert f"{damage.lost:,}" in damage.reason and damage.offset >= 4096


def test_parquet_and_evtx_in_one_folder_are_both_read(duckdb_engine, tmp_path):
    folder = tmp_path / "mix"
    folder.mkdir()
    (folder / "sec.evtx").write_bytes(EVTX.read_bytes())
    rows = [{"event_id": f"saved:{i}", "time": datetime(2024, 3, 1, tzinfo=UTC) + timedelta(minutes=i),
             "user": "carol", "domain": None, "target_host": f"SRV{i}", "source_ip": "10.0.0.9",
             "source_host": None, "logon_type": 3, "event_code": 4624, "success": True, "source": "saved"}
            for i in range(5)]
    pq.write_table(pa.Table.from_pylist(rows, schema=LOGONS), folder / "saved.parquet")
    _, alone = read_logons(folder / "sec.evtx", duckdb_engine)
    _, report, routing = read([folder], duckdb_engine, "logons")
    assert dict(report.formats) == {"evtx": 1, "logons-parquet": 1}
    assert report.records == alone.records + 5


# ------------------------------------------------------------------------------------------------
# Parquet: damage counted per row group, rows checked like any other
# ------------------------------------------------------------------------------------------------

def _corrupt_row_group(path: Path, index: int) -> int:
    """Overwrite the pages of one row group with junk; returns its row count."""
    meta = pq.ParquetFile(path).metadata.row_group(index)
    start = min(c.dictionary_page_offset or c.data_page_offset for c in
                (meta.column(i) for i in range(meta.num_columns)))
    size = sum(meta.column(i).total_compressed_size for i in range(meta.num_columns)) // 2
    data = bytearray(path.read_bytes())
    data[start:start + size] = b"\x5a" * size
    path.write_bytes(bytes(data))
    return meta.num_rows


def test_signinlogs_parquet_with_one_bad_row_group_keeps_the_others(duckdb_engine, tmp_path):
    rng = random.Random(13)
    recs = [orjson.loads(SIGNINLOGS_JSONL.good(rng, i)) for i in range(2000)]
    for r in recs:
        r["LocationDetails"] = orjson.dumps(r["LocationDetails"]).decode()
    path = tmp_path / "signins.parquet"
    pq.write_table(pa.Table.from_pylist(recs), path, row_group_size=200)
    lost = _corrupt_row_group(path, 4)
    _, report, _ = read([path], duckdb_engine, "signins")
    assert report.records == 2000 - lost == 1800
    assert [(d.file, d.lost) for d in report.damaged_files] == [(str(path), 200)]
    assert "row group 4 (rows 801-1,000)" in report.damaged_files[0].reason


def test_signin_parquet_time_past_9999_is_a_reject(duckdb_engine, tmp_path):
    rng = random.Random(14)
    recs = [orjson.loads(SIGNINLOGS_JSONL.good(rng, i)) for i in range(4)]
    micros = [int(datetime(2024, 3, 1, tzinfo=UTC).timestamp() * 1e6)] * 3 + [300_000_000_000_000_000]
    table = pa.table({"Id": [r["Id"] for r in recs], "UserPrincipalName": [r["UserPrincipalName"] for r in recs],
                      "ResultType": [r["ResultType"] for r in recs],
                      "TimeGenerated": pa.array(micros, pa.int64()).cast(pa.timestamp("us", tz="UTC"))})
    pq.write_table(table, tmp_path / "far.parquet")
    _, report, _ = read([tmp_path / "far.parquet"], duckdb_engine, "signins")
    assert (report.records, report.bad_count, report.bad[0].line) == (3, 1, 4)


def _saved_logons(n: int) -> list[dict]:
    """``n`` canonical logon rows, a minute apart, as a saved table holds them."""
    base = datetime(2024, 3, 1, tzinfo=UTC)
    return [{"event_id": f"saved:{i}", "time": base + timedelta(minutes=i), "user": f"u{i % 7}", "domain": None,
             "target_host": f"SRV{i % 9}", "source_ip": "10.0.0.9", "source_host": None, "logon_type": 3,
             "event_code": 4624, "success": True, "source": "saved"} for i in range(n)]


@pytest.mark.parity
def test_canonical_parquet_rows_are_checked_and_a_bad_row_group_costs_only_itself(engine, tmp_path):
    rows = _saved_logons(1000)
    rows[17]["time"] = datetime(2099, 1, 1, tzinfo=UTC)
    rows[18]["user"] = None
    rows[19]["event_id"] = None
    path = tmp_path / "saved.parquet"
    pq.write_table(pa.Table.from_pylist(rows, schema=LOGONS), path, row_group_size=100)
    lost = _corrupt_row_group(path, 6)
    data, report, routing = read([path], engine, "logons")
    assert routing.canonical == {"logons": [path]}
    assert report.records == 1000 - lost - 3 and [d.lost for d in report.damaged_files] == [100]
    assert [b.line for b in report.bad] == [18, 19, 20]  # row numbers in the file
    assert "in the future" not in report.bad[0].reason and "outside the read's bounds" in report.bad[0].reason
    assert engine.scalar(data.time.max()).year == 2024


@pytest.mark.parametrize("damage", ["none", "a bad row", "a damaged row group"])
def test_a_clean_canonical_file_is_read_in_place_and_only_a_damaged_one_copied(tmp_path, damage):
    """The check writes nothing for a clean file of the canonical types; a reject or a damaged row
    group makes a copy of the good rows, with each reject and the damage reported once."""
    rows = _saved_logons(500)
    if damage == "a bad row":
        rows[rng := random.Random(7).randrange(500)]["user"] = None
    path = tmp_path / "saved.parquet"
    pq.write_table(pa.Table.from_pylist(rows, schema=LOGONS), path, row_group_size=100)
    lost = _corrupt_row_group(path, random.Random(8).randrange(5)) if damage == "a damaged row group" else 0
    copies = tmp_path / "copies"
    copies.mkdir()
    report = ReadReport()
    checked, kept = checked_canonical(path, "logons", report, Limits().bounds(), copies)
    if damage == "none":
        assert checked == path and kept == 500 and not list(copies.iterdir()) and not report.bad
        return
    assert checked is not None and checked.parent == copies and list(copies.iterdir()) == [checked]
    assert pq.read_metadata(checked).num_rows == kept
    if damage == "a bad row":
        assert kept == 499 and [b.line for b in report.bad] == [rng + 1] and report.bad_count == 1
        assert not report.damaged_files
    else:
        assert lost == 100 and kept == 400 and [d.lost for d in report.damaged_files] == [100] and not report.bad


# ------------------------------------------------------------------------------------------------
# One damaged file of each family among healthy ones; memory under bombs
# ------------------------------------------------------------------------------------------------

def test_one_damaged_file_per_family_is_named_and_the_rest_read(duckdb_engine, tmp_path):
    folder = tmp_path / "mixed"
    folder.mkdir()
    expected: dict[str, int] = {}
    for fmt in FORMATS:
        rng = random.Random(fmt.name)
        body = write(fmt, tmp_path / "tmp", _big(fmt, rng, 2000)).read_bytes()
        packed = gzip.compress(body, mtime=0)
        (folder / f"{fmt.name}-damaged.gz").write_bytes(packed[: len(packed) // 2])
        write(fmt, folder / f"{fmt.name}-healthy.log", _big(fmt, random.Random(3), 30))
        expected[fmt.table] = expected.get(fmt.table, 0) + 30
    for path in folder.iterdir():
        os.utime(path, (datetime(2024, 3, 30, tzinfo=UTC).timestamp(),) * 2)
    routing = route([folder])
    assert not routing.unrecognised and not routing.unreadable
    for table, healthy in expected.items():
        data, report = read_family(table, routing.files[table], [], duckdb_engine)
        names = sorted(Path(d.file).name for d in report.damaged_files)
        assert names == sorted(f"{f.name}-damaged.gz" for f in FORMATS if f.table == table)
        assert report.records > healthy and report.partial
        assert all("lost" in line for line in report.details())


_BOMB = textwrap.dedent('''
    import sys, time, zlib
    from pathlib import Path
    from tracehound.engine import connect
    from tracehound.readers.families import read_family, route
    from tracehound.readers.limits import Limits
    folder = Path(sys.argv[1]); prefix = sys.argv[2].encode(); ratio = int(sys.argv[3])
    co = zlib.compressobj(9, zlib.DEFLATED, 31)
    parts = [co.compress(prefix)] + [co.compress(b"A" * (1 << 20)) for _ in range(512)]
    (folder / "bomb.gz").write_bytes(b"".join(parts + [co.compress(b'"}\\n'), co.flush()]))
    (folder / "ok.jsonl").write_text(sys.argv[4] + "\\n")
    start = time.perf_counter()
    with connect("duckdb") as engine:
        routing = route([folder])
        for table, files in routing.files.items():
            data, report = read_family(table, files, [], engine, limits=Limits(max_ratio=ratio))
            print(table, report.records, report.bad_count, len(report.damaged_files))
    # VmHWM is this program's own peak: ru_maxrss starts from the forking parent's size (pytest's,
    # gigabytes late in a run) and is kept across exec.
    hwm = next(line for line in open("/proc/self/status") if line.startswith("VmHWM:"))
    print("peak", int(hwm.split()[1]) * 1024)
''')


@pytest.mark.slow
@pytest.mark.parametrize("ratio", [200, 10**6], ids=["ratio-limit", "line-limit"])
def test_a_512_mib_line_in_a_gzip_stays_under_1_5_gb(ratio, tmp_path):
    """Memory, measured (the peak resident size of a fresh process), not timed: the decompression ratio stops the
    bomb; with the ratio lifted the line limit alone holds memory to ``max_line``."""
    good = SIGNINLOGS_JSONL.good(random.Random(1), 1)
    prefix = '{"ResultType": "0", "UserPrincipalName": "a@b.c", "TimeGenerated": "2024-03-01T00:00:00Z", "Pad": "'
    out = subprocess.run([sys.executable, "-c", _BOMB, str(tmp_path), prefix, str(ratio), good],
                         capture_output=True, text=True, check=True)
    lines = out.stdout.split("\n")
    assert lines[0] == f"signins 1 1 {1 if ratio == 200 else 0}", out.stdout  # bomb line rejected, ok.jsonl kept
    peak = int(lines[1].split()[1])
    assert peak < 1.5 * 2**30, f"peak RSS {peak / 2**20:.0f} MiB"
