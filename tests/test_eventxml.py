"""Windows Event XML (wevtutil / Get-WinEvent / Splunk XmlWinEventLog) read like EVTX: the real samples
rendered as Event XML give the same rows and findings as the EVTX files; hostile XML is refused."""

from __future__ import annotations

import re

import pytest
from evtx import PyEvtxParser

from tracehound.fanout import FanoutDetector
from tracehound.readers.logons import read_logons, sniff_logon_format
from tracehound.simulate.dc import DcSimConfig, simulate_dc

SAMPLES = {"deepbluecli-evtx/password-spray.evtx": "password-guessing",
           "deepbluecli-evtx/smb-password-guessing-security.evtx": "brute-force",
           "evtx-attack-samples/kerberos_pwd_spray_4771.evtx": "password-guessing"}
LAYOUTS = ("per-line", "document", "one-line")
COLUMNS = ["time", "user", "domain", "target_host", "source_ip", "source_host", "logon_type", "event_code",
           "success", "auth_protocol", "failure_kind", "status"]


def _xml_events(evtx_path) -> list[str]:
    """Each record of an EVTX file as Event XML (what wevtutil renders), without the declaration."""
    return [re.sub(r"^<\?xml[^>]*\?>\s*", "", r["data"]) for r in PyEvtxParser(str(evtx_path)).records()]


def _write(events: list[str], layout: str, path):
    if layout == "per-line":       # Splunk XmlWinEventLog: one event per line
        text = "".join(re.sub(r">\s+<", "><", e).strip() + "\n" for e in events)
    elif layout == "document":     # wevtutil qe /e:Events, pretty-printed events
        text = "<?xml version='1.0' encoding='utf-8'?>\n<Events>\n" + "\n".join(events) + "\n</Events>\n"
    else:                          # wevtutil qe without /e: events run together
        text = "".join(re.sub(r">\s+<", "><", e).strip() for e in events)
    path.write_text(text, encoding="utf-8")
    return path


def _findings(table, engine, preset):
    detector = FanoutDetector(preset).fit(table, engine)
    return [(f.kind, f.actors, f.targets, f.severity, f.first_seen, f.last_seen, len(f.event_ids))
            for f in detector.detect(detector.score(table))]


@pytest.fixture(scope="module")
def originals(duckdb_engine):
    from pathlib import Path
    data = Path(__file__).parent / "data"
    out = {}
    for sample, preset in SAMPLES.items():
        table, report = read_logons(data / sample, duckdb_engine)
        out[sample] = (report, duckdb_engine.to_pandas(table), _findings(table, duckdb_engine, preset))
    return out


@pytest.mark.parametrize("layout", LAYOUTS)
def test_event_xml_of_real_samples_gives_the_evtx_rows_and_findings(originals, duckdb_engine, data_dir,
                                                                    tmp_path, layout):
    for sample, preset in SAMPLES.items():
        report, rows, findings = originals[sample]
        path = _write(_xml_events(data_dir / sample), layout, tmp_path / (sample.split("/")[-1] + ".xml"))
        assert sniff_logon_format(path) == "eventxml"
        table, xml_report = read_logons(path, duckdb_engine)
        assert xml_report.bad_count == 0 and xml_report.records == report.records > 0, sample
        assert xml_report.skipped == report.skipped
        xml_rows = duckdb_engine.to_pandas(table)
        key = ["time", "user", "event_code"]
        a = rows.sort_values(key)[COLUMNS].astype(str).values.tolist()
        b = xml_rows.sort_values(key)[COLUMNS].astype(str).values.tolist()
        assert a == b, sample
        # each row points at its event's own EventRecordID (EVTX ids are the parser's record-header ids)
        ids = [int(e.split(":")[-1]) for e in xml_rows["event_id"]]
        assert len(set(ids)) == len(ids) and min(ids) > 0
        if layout == "per-line":   # equal rows give equal findings; hunt once to show they are found
            assert findings and _findings(table, duckdb_engine, preset) == findings, sample


def test_simulated_dc_in_every_windows_format_gives_the_same_findings(duckdb_engine, tmp_path):
    results = {}
    for fmt in ("evtx-json", "eventxml", "eventxml-doc"):
        info = simulate_dc(tmp_path / fmt, DcSimConfig(users=40, days=9, seed=5, fmt=fmt))
        table, report = read_logons(info["path"], duckdb_engine)
        assert report.bad_count == 0
        detector = FanoutDetector("password-guessing", detect_last="2d").fit(table, duckdb_engine)
        # JSON Lines ids are line numbers, Event XML ids the record ids: compare the records by time
        results[fmt] = [(f.kind, f.actors, f.targets, len(f.event_ids), f.first_seen, f.last_seen)
                        for f in detector.detect(detector.score(table))]
    assert len(results["evtx-json"]) == 3
    assert results["evtx-json"] == results["eventxml"] == results["eventxml-doc"]


EVENT = ("<Event xmlns='http://schemas.microsoft.com/win/2004/08/events/event'><System><EventID>4625</EventID>"
         "<TimeCreated SystemTime='2024-05-01T10:00:0{n}Z'/><EventRecordID>{n}</EventRecordID>"
         "<Computer>srv1.corp.local</Computer></System><EventData><Data Name='TargetUserName'>{user}</Data>"
         "<Data Name='IpAddress'>10.0.0.{n}</Data><Data Name='SubStatus'>0xC000006A</Data></EventData></Event>")


def test_hostile_and_damaged_event_xml_is_rejected_and_the_rest_read(duckdb_engine, tmp_path):
    bomb = ('<!DOCTYPE lolz [<!ENTITY lol "lol"><!ENTITY lol2 "&lol;&lol;&lol;&lol;">]>'
            + EVENT.format(n=2, user="&lol2;"))
    lines = [EVENT.format(n=1, user="alice"), bomb, EVENT.format(n=3, user="bob").replace("</System>", ""),
             EVENT.format(n=4, user="<b>carol</b>"), EVENT.format(n=5, user="dave")[:-20]]
    path = tmp_path / "hostile.xml"
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")
    table, report = read_logons(path, duckdb_engine)
    users = sorted(duckdb_engine.to_pandas(table)["user"])
    assert users == ["alice"]
    reasons = [b.reason for b in report.bad]
    # the declaration is refused on its own; the event after it then names an undefined entity
    assert len(reasons) == 5 and report.records + report.bad_count == 6
    assert any("entity declaration refused" in r for r in reasons)
    assert any("not well-formed" in r for r in reasons)
    assert any("TargetUserName" in r for r in reasons)          # markup where a name belongs
    assert any("cut off" in r for r in reasons) and [b.line for b in report.bad] == [2, 2, 3, 4, 5]
