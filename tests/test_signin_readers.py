"""Sign-in readers: every supported format into the canonical ``signins`` table, bad input set aside.

Real files: ``tests/data/m365-spray`` (blueteam0ps/det-eng-samples, Apache-2.0) and
``tests/data/msticpy-aad`` (microsoft/msticpy, MIT). The expected values below were looked up in the
raw files by hand; the counts are the ones ``shared/datasets/SOURCES.md`` gives.
"""

from __future__ import annotations

import codecs
import csv
import gzip
import io
import random
import string
from collections import Counter
from datetime import datetime, timezone
from pathlib import Path

import orjson
import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from typer.testing import CliRunner

from tracehound.badrecords import ReadReport
from tracehound.cli import app
from tracehound.errors import InputFormatError
from tracehound.readers import signins as signins_module
from tracehound.readers.signins import parse_signins, read_signins, sniff_signin_format
from tracehound.schema import SIGNINS

DATA = Path(__file__).parent / "data"
M365 = DATA / "m365-spray"
AAD = DATA / "msticpy-aad" / "aad_logons.derived.jsonl"
UTC = timezone.utc


def parse(paths, report: ReadReport | None = None) -> tuple[pa.Table, ReadReport]:
    report = report if report is not None else ReadReport()
    table = pa.Table.from_batches(list(parse_signins(paths, report=report)), schema=SIGNINS)
    return table, report


def rows(table: pa.Table) -> dict[str, dict]:
    """Rows keyed by event_id (unique in the files these are used on)."""
    return {r["event_id"]: r for r in table.to_pylist()}


def record(i: int, **changes) -> dict:
    """A SigninLogs record as the shared contract describes it."""
    rec = {
        "Id": f"00000000-0000-4000-8000-{i:012d}",
        "TimeGenerated": f"2024-03-01T12:{i % 60:02d}:00.123Z",
        "CreatedDateTime": f"2024-03-01T12:{i % 60:02d}:00Z",
        "UserPrincipalName": f"User{i}@Contoso.com",
        "UserDisplayName": f"User {i}",
        "UserId": f"uid-{i}",
        "ResultType": "50126" if i % 2 else "0",
        "ResultDescription": "Invalid username or password." if i % 2 else "",
        "IPAddress": f"203.0.113.{i % 250}",
        "Location": "US",
        "LocationDetails": {"countryOrRegion": "US", "state": "Illinois", "city": "Park Ridge",
                            "geoCoordinates": {"latitude": 42.0, "longitude": -87.8}},
        "DeviceDetail": {"deviceId": "", "displayName": f"LAPTOP-{i}", "operatingSystem": "Windows 10",
                         "browser": "Edge 120.0.0", "isCompliant": False, "isManaged": False,
                         "trustType": ""},
        "AppDisplayName": "Office 365 Exchange Online",
        "AppId": "00000002-0000-0ff1-ce00-000000000000",
        "ClientAppUsed": "Browser",
        "UserAgent": "Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like Gecko) "
                     "Chrome/120.0.0.0 Safari/537.36 Edg/120.0.0.0",
        "IsInteractive": True,
        "Status": {"errorCode": 50126 if i % 2 else 0, "failureReason": "Invalid password"},
        "Type": "SigninLogs",
        "Category": "SignInLogs",
    }
    rec.update(changes)
    return rec


def jsonl(recs) -> bytes:
    return b"".join(orjson.dumps(r) + b"\n" for r in recs)


def without_source(table: pa.Table) -> list[dict]:
    return sorted(table.drop_columns(["source"]).to_pylist(), key=lambda r: r["event_id"])


# ------------------------------------------------------------------------------------------------
# Real files
# ------------------------------------------------------------------------------------------------

M365_FILES = [  # (file, format, records, successes) as SOURCES.md describes them
    ("t1110.003_msolspray-powershell.json", "m365-jsonl", 11, 1),
    ("t1110.003_msolspray-python.json", "m365-jsonl", 9, 1),
    ("t1110.003_msolspraywithsuccess_1.csv", "m365-csv", 9, 1),
    ("t1110.003_o365spray_default.json", "m365-jsonl", 9, 0),
    ("t1110.003_o365spray_reporting.json", "m365-jsonl", 14, 2),
    ("t1110.003_o365spray_reporting.csv", "m365-csv", 9, 1),
    ("t1592.004_mfa_sweep.csv", "m365-csv", 8, 3),
]


@pytest.mark.parametrize("name, fmt, count, successes", M365_FILES)
def test_m365_files_read_with_sources_md_counts(name, fmt, count, successes):
    assert sniff_signin_format(M365 / name) == fmt
    table, report = parse([M365 / name])
    assert table.num_rows == count == report.records
    assert sum(table["success"].to_pylist()) == successes
    assert report.bad_count == 0 and not report.unreadable_files
    assert table["source"].unique().to_pylist() == [str(M365 / name)]
    for column in ("event_id", "time", "user", "result", "ip", "ip_prefix", "country", "app",
                   "user_agent", "browser"):
        assert table[column].null_count == 0, column


def test_m365_failed_json_record_has_every_field_mapped():
    table, _ = parse([M365 / "t1110.003_msolspray-powershell.json"])
    row = rows(table)["f8a2e606-c46c-40b7-9663-a12b467d0300"]
    assert row["time"] == datetime(2023, 7, 12, 12, 38, 43, tzinfo=UTC)
    assert row["user"] == "miriam@contoso.onmicrosoft.com"
    assert row["ip"] == "2a09:bac1:820:8::1a:9c"
    assert row["ip_prefix"] == "2a09:bac1:820::/48"
    assert (row["result"], row["success"]) == (50126, False)
    assert row["country"] == "US"  # not in the record: looked up by IP
    assert row["app"] == "1b730954-1685-4b74-9bfd-dac224a7b894"
    assert row["user_agent"] == ("Mozilla/5.0 (Windows NT; Windows NT 10.0; en-US) "
                                 "WindowsPowerShell/5.1.19041.3031")
    assert (row["browser"], row["os"]) == ("Other", "Windows 10")  # DeviceProperties win over UA


def test_m365_success_is_the_user_logged_in_record():
    table, _ = parse([M365 / "t1110.003_msolspray-powershell.json"])
    ok = [r for r in table.to_pylist() if r["success"]]
    assert len(ok) == 1 and ok[0]["result"] == 0
    assert (ok[0]["event_id"], ok[0]["user"]) == ("9401f4f5-c86c-402d-a892-3a0b78392300",
                                                  "lidia@contoso.onmicrosoft.com")
    chrome = rows(table)["b181c852-f4c5-463e-851a-e9faf8692600"]
    assert (chrome["user"], chrome["browser"], chrome["success"]) == (
        "alex@contoso.onmicrosoft.com", "Chrome", False)


def test_m365_csv_audit_data_record_fields():
    table, _ = parse([M365 / "t1592.004_mfa_sweep.csv"])
    got = rows(table)
    row = got["5b3b1d1a-0b7f-44b7-be72-3966d4dc0500"]
    assert row["time"] == datetime(2023, 6, 18, 12, 2, 47, tzinfo=UTC)
    assert row["user"] == "lidia@contoso.onmicrosoft.com"
    assert (row["ip"], row["ip_prefix"]) == ("104.28.196.199", "104.28.196.0/24")
    # UserLoggedIn with ErrorNumber 50140 (the "stay signed in?" interrupt) is not a success.
    assert (row["result"], row["success"]) == (50140, False)
    assert (row["browser"], row["os"]) == ("Firefox", "Linux")
    assert row["app"] == "00000002-0000-0ff1-ce00-000000000000"
    assert row["user_agent"] == "Mozilla/5.0 (X11; Ubuntu; Linux i686; rv:24.0) Gecko/20100101 Firefox/24.0"
    assert (got["b1276991-10cd-447b-b3ed-9383a8ac0a00"]["browser"],
            got["b1276991-10cd-447b-b3ed-9383a8ac0a00"]["os"]) == ("Chrome", "Android 6")
    assert got["3d3400e3-543b-4598-be05-cf8415813800"]["success"] is True


def test_m365_json_and_csv_of_the_same_tool_map_alike():
    csv_table, _ = parse([M365 / "t1110.003_msolspraywithsuccess_1.csv"])
    row = rows(csv_table)["feb15f2c-3b1c-47da-a72c-aaf8451a1b00"]
    assert row["user"] == "adele@contoso.onmicrosoft.com"
    assert row["ip"] == "2a09:bac5:113:105::1a:a7"
    assert row["time"] == datetime(2023, 6, 14, 13, 14, 2, tzinfo=UTC)
    assert (row["result"], row["browser"], row["os"]) == (50126, "Other", "Windows 10")


def test_msticpy_signinlogs_rows_map_every_field():
    assert sniff_signin_format(AAD) == "signinlogs-jsonl"
    table, report = parse([AAD])
    assert table.num_rows == 86 and report.bad_count == 0
    assert sum(table["success"].to_pylist()) == 84
    assert sorted(set(table["result"].to_pylist())) == [0, 90072]
    assert len(set(table["user"].to_pylist())) == 6 and len(set(table["ip"].to_pylist())) == 6
    assert Counter(table["country"].to_pylist()) == {"BE": 61, "US": 25}
    row = next(r for r in table.to_pylist() if r["event_id"] == "f05079ed-f820-4531-ab26-498b53af3800")
    assert row == {
        "event_id": "f05079ed-f820-4531-ab26-498b53af3800",
        "time": datetime(2020, 5, 20, 18, 19, 4, 423000, tzinfo=UTC),
        "user": "ctfuser3@seccxp.ninja", "result": 0, "success": True,
        "ip": "24.13.212.221", "ip_prefix": "24.13.212.0/24",
        "country": "US", "state": "Illinois", "city": "Park Ridge",
        "app": "Azure Portal", "client_app": "Browser",
        "user_agent": "Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like Gecko) "
                      "Chrome/81.0.4044.138 Safari/537.36 Edg/81.0.416.72",
        "browser": "Edge 81.0.416", "os": "Windows 10", "device_name": None,
        "is_interactive": True, "source": str(AAD),
        "provider": "entra", "failure_kind": None, "asn": None, "is_proxy": None,
    }
    failed = [r for r in table.to_pylist() if r["result"] == 90072]
    assert {(r["user"], r["ip"], r["city"], r["app"], r["client_app"]) for r in failed} == {
        ("meganb@seccxp.ninja", "136.55.145.135", "Atlanta", "Office 365 SharePoint Online", None)}


def test_whole_dataset_folders_read_and_licences_are_reported_unreadable():
    table, report = parse([M365, AAD.parent])
    assert table.num_rows == 11 + 9 + 9 + 9 + 14 + 9 + 8 + 86
    assert report.files == 8
    assert report.formats == {"m365-jsonl": 4, "m365-csv": 3, "signinlogs-jsonl": 1}
    assert sorted(Path(u.file).name for u in report.unreadable_files) == ["LICENSE", "LICENSE"]


@pytest.mark.parity
def test_engine_parity_on_real_files(engine):
    """DuckDB and Spark return the same canonical table as the Arrow batches themselves."""
    expected, _ = parse([M365, AAD])
    table, report = read_signins([M365, AAD], engine)
    assert report.records == expected.num_rows
    got = engine.to_pandas(table)
    want = expected.to_pandas()
    assert list(got.columns) == SIGNINS.names and len(got) == len(want)

    def canonical_rows(df: pd.DataFrame) -> list[tuple]:
        df = df.astype(object).where(df.notna(), None)
        return sorted(map(tuple, df.itertuples(index=False)), key=repr)

    assert canonical_rows(got) == canonical_rows(want)


# ------------------------------------------------------------------------------------------------
# Formats and variants
# ------------------------------------------------------------------------------------------------

def test_nested_and_json_string_dynamic_fields_give_identical_tables(tmp_path):
    recs = [record(i) for i in range(6)]
    stringified = [dict(r, **{k: orjson.dumps(r[k]).decode() for k in
                              ("LocationDetails", "DeviceDetail", "Status")}) for r in recs]
    (tmp_path / "nested.json").write_bytes(jsonl(recs))
    (tmp_path / "strings.json").write_bytes(jsonl(stringified))
    nested, _ = parse([tmp_path / "nested.json"])
    strings, _ = parse([tmp_path / "strings.json"])
    assert nested.num_rows == 6
    assert without_source(nested) == without_source(strings)
    assert rows(nested)[recs[1]["Id"]]["device_name"] == "LAPTOP-1"


def test_result_type_as_int_or_string(tmp_path):
    (tmp_path / "a.jsonl").write_bytes(jsonl([record(1, ResultType=50126), record(2, ResultType="0"),
                                              record(3, ResultType=" 50074 "), record(4, ResultType=0)]))
    table, report = parse([tmp_path / "a.jsonl"])
    assert report.bad_count == 0
    assert table["result"].to_pylist() == [50126, 0, 50074, 0]
    assert table["success"].to_pylist() == [False, True, False, True]


def test_missing_result_type_falls_back_to_status_error_code(tmp_path):
    rec = record(1)
    del rec["ResultType"]
    (tmp_path / "a.jsonl").write_bytes(jsonl([rec]))
    table, _ = parse([tmp_path / "a.jsonl"])
    assert table["result"].to_pylist() == [50126]


@pytest.mark.parametrize("encode", [
    lambda b: codecs.BOM_UTF8 + b,
    lambda b: b.decode().encode("utf-16"),  # Python writes the BOM
    lambda b: codecs.BOM_UTF16_BE + b.decode().encode("utf-16-be"),
    lambda b: gzip.compress(codecs.BOM_UTF8 + b),
], ids=["utf8-bom", "utf16-le", "utf16-be", "gzip-utf8-bom"])
def test_byte_order_marks_and_utf16(tmp_path, encode):
    recs = [record(i, UserDisplayName="Zoë Ünïcode") for i in range(3)]
    recs[2]["LocationDetails"]["city"] = "Zürich"
    (tmp_path / "plain.jsonl").write_bytes(jsonl(recs))
    (tmp_path / "odd.jsonl").write_bytes(encode(jsonl(recs)))
    assert sniff_signin_format(tmp_path / "odd.jsonl") == "signinlogs-jsonl"
    plain, _ = parse([tmp_path / "plain.jsonl"])
    odd, report = parse([tmp_path / "odd.jsonl"])
    assert report.bad_count == 0
    assert without_source(odd) == without_source(plain)
    assert rows(odd)[recs[2]["Id"]]["city"] == "Zürich"


def test_records_longer_than_the_sniffed_head(tmp_path):
    policies = [{"id": f"policy-{k}", "displayName": "x" * 200, "result": "notApplied"} for k in range(1500)]
    recs = []
    for i in range(2):  # the key order of a real export: UserPrincipalName after the policies
        rec = record(i, ConditionalAccessPolicies=policies)
        rec["UserPrincipalName"] = rec.pop("UserPrincipalName")
        recs.append(rec)
    (tmp_path / "big.jsonl").write_bytes(jsonl(recs))
    (tmp_path / "big.json").write_bytes(orjson.dumps(recs))
    assert (tmp_path / "big.jsonl").stat().st_size > 2 * 262_144
    assert sniff_signin_format(tmp_path / "big.jsonl") == "signinlogs-jsonl"
    assert sniff_signin_format(tmp_path / "big.json") == "signinlogs-json"
    assert parse([tmp_path / "big.jsonl"])[0].num_rows == 2
    assert parse([tmp_path / "big.json"])[0].num_rows == 2


def test_json_array_file(tmp_path):
    recs = [record(i) for i in range(4)]
    (tmp_path / "export.json").write_bytes(orjson.dumps(recs, option=orjson.OPT_INDENT_2))
    (tmp_path / "lines.jsonl").write_bytes(jsonl(recs))
    assert sniff_signin_format(tmp_path / "export.json") == "signinlogs-json"
    array, _ = parse([tmp_path / "export.json"])
    lines, _ = parse([tmp_path / "lines.jsonl"])
    assert array.num_rows == 4 and without_source(array) == without_source(lines)


def test_m365_json_array_file(tmp_path):
    lines = (M365 / "t1110.003_msolspray-python.json").read_bytes().splitlines()
    (tmp_path / "ual.json").write_bytes(b"[" + b",\n".join(lines) + b"]")
    assert sniff_signin_format(tmp_path / "ual.json") == "m365-json"
    array, _ = parse([tmp_path / "ual.json"])
    original, _ = parse([M365 / "t1110.003_msolspray-python.json"])
    assert array.num_rows == 9 and without_source(array) == without_source(original)


def test_spark_output_folder_with_success_marker_reads_back(tmp_path, duckdb_engine):
    (tmp_path / "a.jsonl").write_bytes(jsonl([record(i) for i in range(3)]))
    out = tmp_path / "signins.parquet"
    out.mkdir()
    pq.write_table(parse([tmp_path / "a.jsonl"])[0], out / "part-00000-x.snappy.parquet")
    (out / "_SUCCESS").write_bytes(b"")
    table, report = read_signins([out], duckdb_engine)
    assert duckdb_engine.scalar(table.count()) == 3
    assert report.files == 1 and not report.unreadable_files


def _log_analytics_csv(recs, delimiter: str = ",") -> str:
    """The Log Analytics export: flat columns, dynamic ones as JSON text, ``[UTC]`` on datetimes."""
    cols = list(recs[0])
    out = io.StringIO()
    writer = csv.writer(out, delimiter=delimiter)
    writer.writerow([f"{c} [UTC]" if c in ("TimeGenerated", "CreatedDateTime") else c for c in cols])
    for r in recs:
        writer.writerow([orjson.dumps(r[c]).decode() if isinstance(r[c], (dict, list))
                         else ("True" if r[c] is True else "False" if r[c] is False else r[c])
                         for c in cols])
    return out.getvalue()


def test_log_analytics_csv_matches_jsonl(tmp_path):
    recs = [record(i) for i in range(5)]
    recs[3]["UserAgent"] = 'Agent, with "quotes"\nand a newline'
    (tmp_path / "export.csv").write_text(_log_analytics_csv(recs), encoding="utf-8-sig")
    (tmp_path / "export.jsonl").write_bytes(jsonl(recs))
    assert sniff_signin_format(tmp_path / "export.csv") == "signinlogs-csv"
    from_csv, report = parse([tmp_path / "export.csv"])
    from_json, _ = parse([tmp_path / "export.jsonl"])
    assert report.bad_count == 0
    assert without_source(from_csv) == without_source(from_json)


def test_excel_unicode_text_tsv_matches_jsonl(tmp_path):
    recs = [record(i) for i in range(4)]
    tsv = _log_analytics_csv(recs, delimiter="\t")
    (tmp_path / "export.txt").write_text(tsv, encoding="utf-16")
    (tmp_path / "export.jsonl").write_bytes(jsonl(recs))
    assert sniff_signin_format(tmp_path / "export.txt") == "signinlogs-csv"
    assert without_source(parse([tmp_path / "export.txt"])[0]) == \
        without_source(parse([tmp_path / "export.jsonl"])[0])


def test_signinlogs_parquet_matches_jsonl(tmp_path):
    recs = [record(i) for i in range(5)]
    flat = [{k: orjson.dumps(v).decode() if isinstance(v, dict) else v for k, v in r.items()}
            for r in recs]
    pq.write_table(pa.Table.from_pylist(flat), tmp_path / "export.parquet")
    (tmp_path / "export.jsonl").write_bytes(jsonl(recs))
    assert sniff_signin_format(tmp_path / "export.parquet") == "signinlogs-parquet"
    from_parquet, _ = parse([tmp_path / "export.parquet"])
    from_json, _ = parse([tmp_path / "export.jsonl"])
    assert without_source(from_parquet) == without_source(from_json)


@pytest.mark.parametrize("time_type", [pa.timestamp("ms", tz="UTC"), pa.timestamp("ns"),
                                       pa.timestamp("s", tz="Europe/Brussels")])
def test_signinlogs_parquet_with_timestamp_columns(tmp_path, time_type):
    recs = [record(i, TimeGenerated=f"2024-03-01T12:{i:02d}:07Z") for i in range(4)]
    flat = pa.Table.from_pylist([{k: orjson.dumps(v).decode() if isinstance(v, dict) else v
                                  for k, v in r.items()} for r in recs])
    times = pa.array([datetime(2024, 3, 1, 12, i, 7, tzinfo=UTC) for i in range(4)],
                     pa.timestamp("us", tz="UTC")).cast(time_type)
    flat = flat.set_column(flat.schema.get_field_index("TimeGenerated"), "TimeGenerated", times)
    flat = flat.append_column("Junk", pa.array([[1, 2]] * 4))  # unused columns are not converted
    pq.write_table(flat, tmp_path / "export.parquet")
    (tmp_path / "export.jsonl").write_bytes(jsonl(recs))
    from_parquet, report = parse([tmp_path / "export.parquet"])
    assert report.bad_count == 0
    assert without_source(from_parquet) == without_source(parse([tmp_path / "export.jsonl"])[0])


@pytest.mark.parity
def test_canonical_parquet_is_read_as_it_is(tmp_path, engine):
    (tmp_path / "a.jsonl").write_bytes(jsonl([record(i) for i in range(4)]))
    first, _ = parse([tmp_path / "a.jsonl"])
    pq.write_table(first, tmp_path / "signins.parquet")
    (tmp_path / "b.jsonl").write_bytes(jsonl([record(i) for i in range(10, 13)]))
    assert sniff_signin_format(tmp_path / "signins.parquet") == "signins-parquet"
    table, report = read_signins([tmp_path / "signins.parquet", tmp_path / "b.jsonl"], engine)
    assert report.records == 7 and report.formats["signins-parquet"] == 1
    got = engine.to_pandas(table.order_by("event_id"))
    assert got["event_id"].tolist() == sorted(record(i)["Id"] for i in [0, 1, 2, 3, 10, 11, 12])
    assert set(got["source"]) == {str(tmp_path / "a.jsonl"), str(tmp_path / "b.jsonl")}


def test_portal_csv_export(tmp_path):
    text = (
        "Date (UTC),Request ID,User agent,Correlation ID,User ID,User,Username,Application,"
        "IP address,Location,Status,Sign-in error code,Failure reason,Client app,Browser,"
        "Operating System\n"
        "2024-03-01T12:00:05Z,req-1,Mozilla/5.0,corr,uid,Adele Vance,AdeleV@Contoso.com,"
        "Azure Portal,198.51.100.7,\"Park Ridge, Illinois, US\",Failure,50126,Invalid password,"
        "Browser,Chrome 120.0.0,Windows10\n"
        "2024-03-01T12:00:09Z,req-2,Mozilla/5.0,corr,uid,Adele Vance,AdeleV@Contoso.com,"
        "Azure Portal,198.51.100.7,BE,Success,0,,Browser,Chrome 120.0.0,Windows10\n")
    (tmp_path / "InteractiveSignIns_2024-03-01.csv").write_text(text, encoding="utf-8")
    path = tmp_path / "InteractiveSignIns_2024-03-01.csv"
    assert sniff_signin_format(path) == "signinlogs-portal-csv"
    got = rows(parse([path])[0])
    assert got["req-1"]["user"] == "adelev@contoso.com"
    assert (got["req-1"]["city"], got["req-1"]["state"], got["req-1"]["country"]) == (
        "Park Ridge", "Illinois", "US")
    assert (got["req-1"]["result"], got["req-2"]["success"]) == (50126, True)
    assert got["req-2"]["country"] == "BE" and got["req-2"]["city"] is None
    assert got["req-1"]["time"] == datetime(2024, 3, 1, 12, 0, 5, tzinfo=UTC)


def test_m365_non_signin_operations_are_counted_not_read(tmp_path):
    good = orjson.loads((M365 / "t1110.003_msolspray-python.json").read_bytes().splitlines()[0])
    other = dict(good, Operation="MailItemsAccessed", Id="x-1")
    broken = dict(good, Operation=None, Id="x-2")
    (tmp_path / "ual.jsonl").write_bytes(jsonl([other, good, broken]))
    assert sniff_signin_format(tmp_path / "ual.jsonl") == "m365-jsonl"
    table, report = parse([tmp_path / "ual.jsonl"])
    # another audit operation is read and skipped (counted by reason); a record without one is bad
    assert table.num_rows == 1 and report.skipped == {"not a sign-in record (another M365 audit operation)": 1}
    assert report.bad_count == 1 and report.bad[0].line == 3 and "Operation 'None'" in report.bad[0].reason


def test_user_agent_parsed_when_no_device_detail(tmp_path):
    rec = record(1, UserAgent="Mozilla/5.0 (iPhone; CPU iPhone OS 17_1 like Mac OS X) AppleWebKit/605.1.15 "
                              "(KHTML, like Gecko) Version/17.1 Mobile/15E148 Safari/604.1")
    del rec["DeviceDetail"]
    del rec["Location"], rec["LocationDetails"]
    rec["IPAddress"] = "81.2.69.160"
    (tmp_path / "a.jsonl").write_bytes(jsonl([rec, record(2, IPAddress="not an ip")]))
    table, report = parse([tmp_path / "a.jsonl"])
    got = rows(table)
    row = got[rec["Id"]]
    assert (row["browser"], row["os"], row["device_name"]) == ("Mobile Safari 17", "iOS 17", None)
    assert row["country"] == "GB"  # by IP, offline
    # an address column holds addresses: text that is none is a reject naming the field
    assert record(2)["Id"] not in got
    assert report.bad_count == 1 and "'IPAddress': not an IP address" in report.bad[0].reason


# ------------------------------------------------------------------------------------------------
# Many files, bad input
# ------------------------------------------------------------------------------------------------

def test_thousand_gzipped_exports_with_one_corrupt_line(tmp_path, duckdb_engine):
    folder = tmp_path / "export"
    for f in range(1000):
        sub = folder / f"h={f // 100:02d}"
        sub.mkdir(parents=True, exist_ok=True)
        lines = [orjson.dumps(record(f * 2 + k)) for k in range(2)]
        if f == 617:
            lines.insert(1, b'{"Id": "broken", "TimeGenerated": ')
        (sub / f"PT05M-{f:04d}.json.gz").write_bytes(gzip.compress(b"\n".join(lines) + b"\n"))
    table, report = read_signins([folder], duckdb_engine)
    assert report.files == 1000 and report.formats == {"signinlogs-jsonl": 1000}
    assert duckdb_engine.scalar(table.count()) == 2000 == report.records
    assert duckdb_engine.scalar(table.event_id.nunique()) == 2000
    assert report.bad_count == 1
    bad = report.bad[0]
    assert (Path(bad.file).name, bad.line) == ("PT05M-0617.json.gz", 2)
    assert "invalid JSON" in bad.reason and bad.excerpt.startswith('{"Id": "broken"')


def test_batches_split_across_files_keep_each_row_with_its_source(tmp_path, monkeypatch):
    monkeypatch.setattr(signins_module, "BATCH_ROWS", 3)
    expected = {}
    for f, count in enumerate([2, 5, 1, 3, 0, 4]):
        recs = [record(100 * f + k) for k in range(count)]
        (tmp_path / f"{f}.jsonl").write_bytes(jsonl(recs) + b"{bad\n")
        expected.update({r["Id"]: str(tmp_path / f"{f}.jsonl") for r in recs})
    report = ReadReport()
    batches = list(parse_signins([tmp_path], report=report))
    assert [b.num_rows for b in batches] == [3, 3, 3, 3, 3]
    table = pa.Table.from_batches(batches)
    assert dict(zip(table["event_id"].to_pylist(), table["source"].to_pylist())) == expected
    assert report.records == 15 and report.bad_count == 5
    assert [Path(u.file).name for u in report.unreadable_files] == ["4.jsonl"]  # nothing but a bad line


def test_bad_records_are_set_aside_with_file_line_and_reason(tmp_path):
    bad_lines = [
        ("not json at all", "invalid JSON"),
        (orjson.dumps(record(3, UserPrincipalName="")).decode(), "missing user"),
        (orjson.dumps(record(4, TimeGenerated="yesterday-ish", CreatedDateTime=None)).decode(),
         "unparseable time"),
        (orjson.dumps(record(5, ResultType="fifty")).decode(), "ResultType"),
        (orjson.dumps(record(6, IPAddress=["1.2.3.4"])).decode(), "IPAddress"),
        (orjson.dumps(record(7, DeviceDetail="{not json")).decode(), "DeviceDetail"),
        (orjson.dumps(record(8, IsInteractive="sometimes")).decode(), "IsInteractive"),
        ("[1, 2, 3]", "expected a JSON object"),
        (orjson.dumps(record(10, ResultType="123456789012345678901234567890")).decode(), "ResultType"),
        ('{"Id": "a", "TimeGenerated": "2024-01-01T00:00:00Z", "UserPrincipalName": "u", '
         '"ResultType": 123456789012345678901234567890}', "ResultType"),
        (orjson.dumps(record(11, TimeGenerated="0001-01-01T00:00:00+01:00")).decode(), "out of range"),
    ]
    text = orjson.dumps(record(0)).decode() + "\n\n" + "\n".join(b for b, _ in bad_lines) + "\n" + \
        orjson.dumps(record(99)).decode() + "\n"
    path = tmp_path / "mixed.jsonl"
    path.write_text(text)
    table, report = parse([path])
    assert table["event_id"].to_pylist() == [record(0)["Id"], record(99)["Id"]]
    assert report.bad_count == len(bad_lines) and report.records == 2
    for (_, reason), bad, line in zip(bad_lines, report.bad, range(3, 3 + len(bad_lines))):
        assert (bad.file, bad.line) == (str(path), line)
        assert reason in bad.reason, (reason, bad.reason)


def test_record_without_id_gets_file_and_line_as_its_id(tmp_path):
    no_id = {k: v for k, v in record(2).items() if k != "Id"}
    (tmp_path / "x.jsonl").write_bytes(jsonl([record(1)]) + b"\n" + jsonl([no_id]))
    table, report = parse([tmp_path / "x.jsonl"])
    assert table["event_id"].to_pylist() == [record(1)["Id"], "x.jsonl:3"]
    assert report.bad_count == 0


def test_time_falls_back_to_created_date_time_and_offsets_become_utc(tmp_path):
    rec = record(1, TimeGenerated=None, CreatedDateTime="2024-03-01T14:00:00+02:00")
    (tmp_path / "a.jsonl").write_bytes(jsonl([rec, record(2, TimeGenerated="2024-03-01T12:00:00.1234567Z")]))
    table, _ = parse([tmp_path / "a.jsonl"])
    assert table["time"].to_pylist() == [datetime(2024, 3, 1, 12, 0, tzinfo=UTC),
                                         datetime(2024, 3, 1, 12, 0, 0, 123456, tzinfo=UTC)]


def test_truncated_gzip_keeps_what_came_before_the_cut(tmp_path):
    whole = gzip.compress(jsonl([record(i, UserAgent="x" * 2000 + str(i)) for i in range(200)]))
    path = tmp_path / "cut.json.gz"
    path.write_bytes(whole[: len(whole) * 2 // 3])
    (tmp_path / "ok.jsonl").write_bytes(jsonl([record(999)]))
    table, report = parse([path, tmp_path / "ok.jsonl"])
    from_cut = [r for r in table.to_pylist() if r["source"] == str(path)]
    assert 0 < len(from_cut) < 200
    assert [r["event_id"] for r in from_cut] == [record(i)["Id"] for i in range(len(from_cut))]
    assert [(d.file, "truncated" in d.reason, "lost" in d.reason) for d in report.damaged_files] == [
        (str(path), True, True)]
    assert report.partial and report.damaged_files[0].offset > 0
    assert record(999)["Id"] in table["event_id"].to_pylist()


def test_corrupt_gzip_is_reported_not_raised(tmp_path):
    rng = random.Random(3)  # incompressible agents, so the stream spans many deflate blocks
    whole = bytearray(gzip.compress(jsonl([record(i, UserAgent=rng.randbytes(300).hex())
                                           for i in range(300)])))
    for k in range(len(whole) // 2, len(whole) // 2 + 64):
        whole[k] ^= 0x5A
    path = tmp_path / "bad.json.gz"
    path.write_bytes(bytes(whole))
    table, report = parse([path])
    assert 0 < table.num_rows < 300
    assert [(d.file, "gzip data corrupt" in d.reason) for d in report.damaged_files] == [(str(path), True)]


def test_concatenated_gzip_members_are_all_read(tmp_path):
    path = tmp_path / "two.json.gz"
    path.write_bytes(gzip.compress(jsonl([record(1)])) + gzip.compress(jsonl([record(2), record(3)])))
    table, report = parse([path])
    assert table.num_rows == 3 and report.bad_count == 0


def test_empty_file_alone_is_a_clear_error_and_beside_others_is_reported(tmp_path):
    empty = tmp_path / "empty.json"
    empty.write_bytes(b"")
    with pytest.raises(InputFormatError, match=r"empty\.json.*empty file"):
        parse([empty])
    (tmp_path / "ok.jsonl").write_bytes(jsonl([record(1)]))
    table, report = parse([empty, tmp_path / "ok.jsonl"])
    assert table.num_rows == 1
    assert [(u.file, u.reason) for u in report.unreadable_files] == [(str(empty), "empty file (no records)")]


def test_an_empty_folder_is_a_clear_error(tmp_path, duckdb_engine):
    (tmp_path / "empty").mkdir()
    with pytest.raises(InputFormatError, match="no input files"):
        read_signins([tmp_path / "empty"], duckdb_engine)
    with pytest.raises(InputFormatError, match="no input files"):
        parse([tmp_path / "empty"])


def test_only_bad_records_give_an_empty_canonical_table(tmp_path, duckdb_engine):
    (tmp_path / "a.jsonl").write_bytes(jsonl([record(1, ResultType="x"), record(2, ResultType="y")]))
    table, report = read_signins([tmp_path / "a.jsonl"], duckdb_engine)
    assert duckdb_engine.scalar(table.count()) == 0 and report.bad_count == 2
    assert list(table.columns) == SIGNINS.names


def test_csv_with_wrong_columns_is_an_error_naming_the_file(tmp_path, duckdb_engine):
    path = tmp_path / "logons.csv"
    path.write_text("TimeCreated,Account,EventID\n2024-03-01,bob,4625\n")
    assert sniff_signin_format(path) is None
    with pytest.raises(InputFormatError, match=r"logons\.csv.*'TimeCreated', 'Account', 'EventID'"):
        read_signins([path], duckdb_engine)
    with pytest.raises(ValueError):  # callers catching the builtin keep working
        parse([path])


@pytest.mark.parametrize("content, why", [
    (b"\x89PNG\r\n\x1a\n\x00\x00\x00\rIHDR", "binary"),
    (b'{"EventID": 4625, "TargetUserName": "bob"}\n', "not sign-ins"),
    (b"PAR1garbage", "corrupt Parquet"),
])
def test_files_that_are_not_signin_logs(tmp_path, content, why):
    path = tmp_path / "thing.dat"
    path.write_bytes(content)
    assert sniff_signin_format(path) is None
    with pytest.raises(InputFormatError, match=why):
        parse([path])


def test_csv_row_with_wrong_field_count_is_rejected_with_its_line(tmp_path):
    text = _log_analytics_csv([record(i) for i in range(3)])
    lines = text.splitlines(keepends=True)
    lines.insert(2, "only,three,fields\n")
    (tmp_path / "e.csv").write_text("".join(lines))
    table, report = parse([tmp_path / "e.csv"])
    assert table.num_rows == 3
    assert (report.bad[0].line, report.bad[0].reason) == (3, f"3 CSV fields, the header has {len(record(0))}")


# ------------------------------------------------------------------------------------------------
# Properties
# ------------------------------------------------------------------------------------------------

texts = st.text(alphabet=st.characters(codec="utf-8", exclude_categories=("Cs",)), min_size=1,
                max_size=30).filter(lambda s: s.strip() == s and s)
ipv4 = st.tuples(*[st.integers(0, 255)] * 4).map(lambda t: ".".join(map(str, t)))
ipv6 = st.tuples(*[st.integers(0, 0xFFFF)] * 8).map(lambda t: ":".join(f"{x:x}" for x in t))
times = st.datetimes(min_value=datetime(1970, 1, 1), max_value=datetime(2025, 12, 31),
                     timezones=st.just(UTC))  # inside the default time bounds
generated = st.fixed_dictionaries({
    "time": times,
    "user": st.text(alphabet=string.ascii_lowercase + string.digits + "._-", min_size=1, max_size=20)
    .map(lambda s: s + "@contoso.com"),
    "result": st.integers(0, 2**53),
    "result_as_text": st.booleans(),
    "ip": st.one_of(ipv4, ipv6),
    "city": st.one_of(st.none(), texts),
    "app": st.one_of(st.none(), texts),
    "browser": texts,
    "interactive": st.one_of(st.none(), st.booleans()),
    "stringify": st.booleans(),
})


@settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(items=st.lists(generated, min_size=1, max_size=15))
def test_round_trip_generated_records(tmp_path_factory, items):
    recs = []
    for i, it in enumerate(items):
        dynamic = {"LocationDetails": {"countryOrRegion": "NZ", "city": it["city"]},
                   "DeviceDetail": {"browser": it["browser"], "operatingSystem": "Linux"}}
        if it["stringify"]:
            dynamic = {k: orjson.dumps(v).decode() for k, v in dynamic.items()}
        recs.append({
            "Id": f"id-{i}", "TimeGenerated": it["time"].isoformat().replace("+00:00", "Z"),
            "UserPrincipalName": it["user"].upper(),
            "ResultType": str(it["result"]) if it["result_as_text"] else it["result"],
            "IPAddress": it["ip"], "AppDisplayName": it["app"], "IsInteractive": it["interactive"],
            **dynamic})
    path = tmp_path_factory.mktemp("rt") / "gen.jsonl"
    path.write_bytes(jsonl(recs))
    table, report = parse([path])
    assert report.bad_count == 0
    got = table.to_pylist()
    assert len(got) == len(items)
    for i, (it, row) in enumerate(zip(items, got)):
        assert row["event_id"] == f"id-{i}"
        assert row["time"] == it["time"]
        assert row["user"] == it["user"]
        assert (row["result"], row["success"]) == (it["result"], it["result"] == 0)
        assert row["ip"] == it["ip"] and row["ip_prefix"] is not None
        assert (row["city"], row["app"], row["browser"]) == (it["city"], it["app"], it["browser"])
        assert (row["country"], row["os"], row["is_interactive"]) == ("NZ", "Linux", it["interactive"])


int64 = st.integers(-(2**63), 2**63 - 1)


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(garbage=st.lists(st.one_of(
    st.binary(max_size=80).map(lambda b: b.replace(b"\n", b"")),
    st.text(max_size=80).map(lambda s: s.replace("\n", "").encode("utf-8", "surrogatepass")),
    st.dictionaries(st.sampled_from(list(record(0))), st.one_of(
        st.none(), int64, st.text(max_size=10), st.booleans(), st.floats(allow_nan=True),
        st.lists(int64, max_size=2), st.dictionaries(st.text(max_size=5), int64, max_size=2),
    )).map(orjson.dumps),
), max_size=25))
def test_garbage_lines_never_crash_and_are_all_counted(tmp_path_factory, garbage):
    body = orjson.dumps(record(0)) + b"\n" + b"\n".join(garbage) + b"\n"
    path = tmp_path_factory.mktemp("junk") / "junk.jsonl"
    path.write_bytes(body)
    table, report = parse([path])
    nonblank = sum(1 for line in body.decode("utf-8", "replace").split("\n") if line.strip())
    assert report.records + report.bad_count + sum(report.skipped.values()) == nonblank
    assert table.num_rows == report.records >= 1
    assert all(b.line is not None and b.line >= 2 for b in report.bad)


@settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(garbage=st.lists(st.text(max_size=120).map(lambda t: t.replace("\n", "")), max_size=15),
       audit=st.booleans())
def test_garbage_csv_rows_never_crash(tmp_path_factory, garbage, audit):
    if audit:
        head = (M365 / "t1592.004_mfa_sweep.csv").read_text(encoding="utf-8-sig").splitlines()[:2]
    else:
        head = _log_analytics_csv([record(0)]).splitlines()
    body = "\n".join(head + garbage) + "\n"
    path = tmp_path_factory.mktemp("junkcsv") / "junk.csv"
    path.write_text(body, encoding="utf-8", errors="replace")
    table, report = parse([path])
    assert table.num_rows == report.records >= 1
    assert report.records + report.bad_count <= 1 + len(garbage)


# ------------------------------------------------------------------------------------------------
# CLI
# ------------------------------------------------------------------------------------------------

def test_cli_ingest_signins_writes_parquet_and_rejects(tmp_path, engine):
    inputs = tmp_path / "in"
    inputs.mkdir()
    (inputs / "a.jsonl").write_bytes(jsonl([record(1), record(2)]) + b"{oops\n")
    out = tmp_path / "out" / "signins.parquet"
    result = CliRunner().invoke(app, ["ingest", "signins", str(inputs), str(M365 / "t1592.004_mfa_sweep.csv"),
                                      "--out", str(out), "--engine", engine.name])
    assert result.exit_code == 0, result.output
    table = pq.read_table(out)  # a file on DuckDB, a folder of parts on Spark
    assert table.num_rows == 2 + 8 and table.schema.names == SIGNINS.names
    rejects = [orjson.loads(line) for line in (out.parent / "rejects.jsonl").read_bytes().splitlines()]
    assert [(Path(r["file"]).name, r["line"]) for r in rejects] == [("a.jsonl", 3)]
    assert "1 bad records set aside" in result.output


def test_read_signins_reports_progress_per_file(tmp_path, duckdb_engine):
    for k in range(3):
        (tmp_path / f"{k}.jsonl").write_bytes(jsonl([record(k)]))
    (tmp_path / "notes.txt").write_text("not a log\n")
    calls = []
    read_signins([tmp_path], duckdb_engine, progress=lambda done, total: calls.append((done, total)))
    assert calls == [(0, 4), (1, 4), (2, 4), (3, 4), (4, 4)]


def test_cli_ingest_non_signin_file_is_one_line_error(tmp_path):
    path = tmp_path / "notes.txt"
    path.write_text("hello\n")
    result = CliRunner().invoke(app, ["ingest", "signins", str(path), "--out", str(tmp_path / "o.parquet")])
    assert result.exit_code == 2
    assert "notes.txt" in result.output and "Traceback" not in result.output


def test_canonical_signins_saved_before_the_provider_columns_still_read(tmp_path, duckdb_engine):
    """Parquet written by `tracehound ingest` before provider / failure_kind / asn / is_proxy existed."""
    from tracehound.schema import ADDED

    batch = next(parse_signins([AAD]))
    old = pa.Table.from_batches([batch]).drop_columns(list(ADDED["signins"]))
    pq.write_table(old, tmp_path / "saved.parquet")
    assert sniff_signin_format(tmp_path / "saved.parquet") == "signins-parquet"
    table, report = read_signins([tmp_path / "saved.parquet"], duckdb_engine)
    frame = duckdb_engine.to_pandas(table)
    assert len(frame) == batch.num_rows and report.bad_count == 0 and not report.unreadable_files
    assert frame["provider"].isna().all() and list(frame.columns) == SIGNINS.names
