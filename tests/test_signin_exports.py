"""Entra sign-ins exported outside Sentinel read as their SigninLogs twin: same findings, id for id.

One small simulated tenant is written once as SigninLogs JSON Lines and once in each other shape
(Graph pages, the portal's JSON and CSV downloads, an Azure Monitor storage tree, Event Hub batches);
each copy is read and hunted like a user's file, and must give the very findings of the original with
nothing set aside. The JSON-document reader is also held to bounded memory on a large array.
"""

from __future__ import annotations

import tracemalloc

import orjson
import pyarrow as pa
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from tracehound.badrecords import ReadReport
from tracehound.readers.json_stream import json_document_records
from tracehound.readers.limits import Limits
from tracehound.readers.signins import parse_signins, read_signins, sniff_signin_format
from tracehound.readers.stream import TextStream
from tracehound.schema import SIGNINS
from tracehound.simulate.formats import FORMATS, write_format
from tracehound.simulate.signins import simulate_signins
from tracehound.spray import SprayHunter

from test_signin_readers import record

ENTRA_FORMATS = [f for f in FORMATS if f != "okta"]
SNIFFED = {"graph-pages": "graph-pages", "portal-json": "graph-json", "portal-csv": "signinlogs-portal-csv",
           "azure-monitor": "graph-jsonl", "event-hub": "graph-pages"}


def _findings(table, engine):
    hunter = SprayHunter().fit(table, engine)
    return [(f.kind, tuple(f.event_ids), tuple(f.success_event_ids or ()))
            for f in hunter.detect(hunter.score(table))]


def _rows(table) -> list[dict]:
    """The rows by id, without the file they came from (and the flag only some exports carry)."""
    rows = table.order_by("event_id").to_pyarrow().drop_columns(["source", "is_interactive"]).to_pylist()
    return rows


@pytest.fixture(scope="module")
def tenant(tmp_path_factory):
    root = tmp_path_factory.mktemp("exports")
    return root, simulate_signins(root / "signinlogs", users=60, days=24, seed=7)


@pytest.fixture(scope="module")
def original(tenant, duckdb_engine):
    _, sim = tenant
    table, report = read_signins(sim.paths, duckdb_engine)
    return table, _rows(table), report


@pytest.fixture(scope="module")
def exports(tenant, duckdb_engine):
    """Each Entra export of the tenant, read: (files written, table, report) by format."""
    root, sim = tenant
    out = {}
    for fmt in ENTRA_FORMATS:
        paths = write_format(sim.paths, root / fmt, fmt, page_size=500)
        out[fmt] = (paths, *read_signins([root / fmt], duckdb_engine))
    return out


@pytest.mark.parametrize("fmt", ENTRA_FORMATS)
def test_every_entra_export_reads_as_its_signinlogs_row_for_row(tenant, original, exports, fmt):
    _, sim = tenant
    paths, table, report = exports[fmt]
    assert {sniff_signin_format(p) for p in paths} == {SNIFFED[fmt]}
    assert _rows(table) == original[1]
    assert report.records == original[2].records == sim.n_events
    assert (report.bad_count, report.damaged_files, report.unreadable_files) == (0, [], [])
    assert not report.skipped


def test_the_same_tenant_in_every_entra_export_gives_the_same_findings(original, exports, duckdb_engine):
    """The hunt is a function of the rows (deterministic in any row order, tested elsewhere) and every
    export has the original's rows (above); hunting the export that differs most from the original
    (the portal CSV: another container, no interactive flag, text codes, places in one text) closes
    the argument."""
    found = _findings(original[0], duckdb_engine)
    assert any(kind == "password_spray" for kind, _, _ in found)  # something to compare
    assert _findings(exports["portal-csv"][1], duckdb_engine) == found


def test_azure_monitor_tree_is_laid_out_by_hour(tenant):
    root, sim = tenant
    paths = write_format(sim.paths, root / "tree", "azure-monitor")
    rel = paths[0].relative_to(root / "tree").as_posix()
    assert rel.startswith("insights-logs-signinlogs/resourceId=/tenants/") and rel.endswith("/m=00/PT1H.json")
    assert "/y=2024/m=01/d=" in rel and "/h=" in rel
    first = orjson.loads(paths[0].read_bytes().splitlines()[0])
    assert first["category"] in ("SignInLogs", "NonInteractiveUserSignInLogs") and "id" in first["properties"]


def test_writing_over_or_inside_the_folder_of_the_input_is_refused(tenant):
    _, sim = tenant
    for out in (sim.paths[0].parent, sim.paths[0].parent / "graph", sim.paths[0].parent.parent):
        with pytest.raises(ValueError, match="folder of the SigninLogs"):
            write_format(sim.paths, out, "graph-pages")


def test_other_azure_monitor_categories_are_skipped_not_lost(tmp_path):
    graph = {"id": "a1", "createdDateTime": "2024-03-01T12:00:00Z", "userPrincipalName": "a@contoso.com",
             "status": {"errorCode": 50126}, "ipAddress": "203.0.113.9"}
    lines = [{"time": "2024-03-01T12:00:00Z", "category": "SignInLogs", "properties": graph},
             {"time": "2024-03-01T12:00:00Z", "category": "AuditLogs", "properties": {"id": "x"}},
             {"time": "2024-03-01T12:00:00Z", "category": "ManagedIdentitySignInLogs",
              "properties": {**graph, "id": "a2", "userPrincipalName": None, "servicePrincipalName": "mi-backup",
                             "status": {"errorCode": 0}}},
             {"time": "2024-03-01T12:00:00Z", "category": "SignInLogs", "properties": {**graph, "id": "a3",
                                                                                       "status": "broken"}}]
    path = tmp_path / "PT1H.json"
    path.write_bytes(b"".join(orjson.dumps(x) + b"\n" for x in lines))
    report = ReadReport()
    table = pa.Table.from_batches(list(parse_signins([path], report=report)), schema=SIGNINS)
    rows = {r["event_id"]: r for r in table.to_pylist()}
    assert set(rows) == {"a1", "a2"} and rows["a2"]["user"] == "mi-backup" and rows["a2"]["success"]
    assert rows["a1"]["failure_kind"] == "bad_password" and rows["a1"]["provider"] == "entra"
    assert report.skipped == {"not a sign-in record (another Azure Monitor diagnostic category)": 1}
    assert [(b.line, b.reason) for b in report.bad] == [(4, "field 'status': not valid JSON text: 'broken'")]
    assert report.records + report.bad_count + sum(report.skipped.values()) == len(lines)


def test_a_json_array_is_streamed_in_bounded_memory(tmp_path):
    """A 16 MB array: the reader's peak is a few chunks, not the document (which a whole parse holds)."""
    path = tmp_path / "big.json"
    notes = "x]}{\\\"" * 4000  # brackets and escaped quotes inside strings, cut across chunks
    one = orjson.dumps(record(1, Notes=notes))
    count = 16_000_000 // len(one)
    with open(path, "wb") as fh:
        fh.write(b"[\n")
        fh.write(b",\n".join(orjson.dumps(record(i, Notes=notes)) for i in range(count)))
        fh.write(b"\n]")
    tracemalloc.start()
    try:
        seen = 0
        for number, rec, _ in json_document_records(TextStream(path)):
            assert isinstance(rec, dict)
            seen += 1
        peak = tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()
    assert seen == count
    assert path.stat().st_size > 15_000_000
    assert peak < 8 * (1 << 20), f"peak {peak:,} bytes for a {path.stat().st_size:,}-byte array"


def test_array_records_keep_their_lines_and_limits(tmp_path):
    recs = [orjson.dumps(record(i)).decode() for i in range(4)]
    deep = "[" * 70 + "]" * 70
    text = ("[\n" + recs[0] + ",\n 7,\n" + recs[1].replace('"Type"', f'"Deep":{deep},"Type"') + ",\n"
            + recs[2].replace("Chrome", "C" * 5000) + ",\n" + recs[3] + "\n]\n")
    path = tmp_path / "a.json"
    path.write_text(text)
    report = ReadReport()
    table = pa.Table.from_batches(list(parse_signins([path], report=report, limits=Limits(max_line=4000))),
                                  schema=SIGNINS)
    assert table["event_id"].to_pylist() == [record(0)["Id"], record(3)["Id"]]
    assert [(b.line, b.reason.split(" (")[0]) for b in report.bad] == [
        (3, "expected a JSON object, got '7'"), (4, "JSON nested deeper than 64 levels"),
        (5, "record longer than 4,000 characters")]


def test_a_cut_array_keeps_what_precedes_the_cut(tmp_path):
    path = tmp_path / "cut.json"
    path.write_text("[" + ",".join(orjson.dumps(record(i)).decode() for i in range(3))[:-40])
    report = ReadReport()
    table = pa.Table.from_batches(list(parse_signins([path], report=report)), schema=SIGNINS)
    assert table.num_rows == 2 and report.bad_count == 1
    assert report.bad[0].reason == "the document ends inside a record or array"


def test_pages_one_per_line_and_pretty_printed(tmp_path):
    graph = lambda i: {"id": f"g{i}", "createdDateTime": "2024-03-01T12:00:00Z",  # noqa: E731
                       "userPrincipalName": f"u{i}@contoso.com", "status": {"errorCode": 0}}
    pages = [{"@odata.context": "x", "value": [graph(1), graph(2)], "@odata.nextLink": "y"},
             {"@odata.context": "x", "value": [graph(3)]}]
    (tmp_path / "lines.json").write_bytes(b"\n".join(orjson.dumps(p) for p in pages))
    (tmp_path / "pretty.json").write_bytes(b"\n".join(orjson.dumps(p, option=orjson.OPT_INDENT_2) for p in pages))
    for name in ("lines.json", "pretty.json"):
        assert sniff_signin_format(tmp_path / name) == "graph-pages"
        report = ReadReport()
        table = pa.Table.from_batches(list(parse_signins([tmp_path / name], report=report)), schema=SIGNINS)
        assert table["event_id"].to_pylist() == ["g1", "g2", "g3"] and report.bad_count == 0


_TEXT = st.text(alphabet='ab"\\{}[],: \n\u00e9', max_size=12)
_VALUES = st.recursive(st.one_of(_TEXT, st.integers(-5, 10**6), st.booleans(), st.none()),
                       lambda inner: st.one_of(st.lists(inner, max_size=3),
                                               st.dictionaries(_TEXT, inner, max_size=3)), max_leaves=12)


@settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(records=st.lists(st.dictionaries(_TEXT, _VALUES, min_size=1, max_size=3), max_size=5),
       wrapper=st.booleans(), pretty=st.booleans(), size=st.integers(1, 9), context=_TEXT)
def test_records_are_cut_right_wherever_the_chunks_end(tmp_path, monkeypatch, records, wrapper, pretty, size,
                                                        context):
    """Strings holding brackets, quotes and escapes, cut by chunk ends anywhere: the records of
    the document are exactly what a whole parse gives."""
    doc = {"@odata.context": context, "value": records, "@odata.nextLink": context} if wrapper else records
    path = tmp_path / "doc.json"
    path.write_bytes(orjson.dumps(doc, option=orjson.OPT_INDENT_2 if pretty else 0))
    whole = path.read_text(encoding="utf-8")
    monkeypatch.setattr(TextStream, "chunks", lambda self: (whole[i:i + size] for i in range(0, len(whole), size)))
    report = ReadReport()
    got = [rec for _, rec, _ in json_document_records(TextStream(path, report))]
    assert got == records and report.bad_count == 0
