"""OTRF purplesharp_ad_playbook_I: pgustavo's WinRM lateral movement is reported.

The capture lasts about two minutes (2020-10-22 08:29:47–08:30:xx UTC), so a 14-day baseline of
hourly buckets is impossible. The short baseline used here (and in docs/fanout.md): 1-minute
buckets, the last two minutes of the capture as the detection window, the hour before as the
baseline. Nobody except machine accounts and ANONYMOUS LOGON (dropped by the reader) logs on in
that hour, so pgustavo has no history and there is no population to fall back to: the bound is
the floor, ceil(0 + 2·1) = 2, and the finding says exactly that.
"""

from __future__ import annotations

import io
import json
import zipfile

import pytest

from tracehound.fanout import FanoutDetector
from tracehound.readers.logons import read_logons

OTRF_ZIP = "otrf-lateral/purplesharp_ad_playbook_I.zip"


def _pgustavo_network_hosts(path) -> set[str]:
    """Oracle from the raw JSON: hosts where pgustavo had a type 3/10 logon (4624)."""
    hosts = set()
    with zipfile.ZipFile(path) as zf, zf.open(zf.namelist()[0]) as fh:
        for line in io.TextIOWrapper(fh, encoding="utf-8"):
            rec = json.loads(line)
            if rec.get("EventID") == 4624 and rec.get("TargetUserName") == "pgustavo" \
                    and rec.get("LogonType") in ("3", "10"):
                hosts.add(rec["Hostname"].split(".")[0].upper())
    return hosts


@pytest.mark.parity
def test_pgustavo_lateral_movement_is_reported(engine, data_dir):
    table, report = read_logons(data_dir / OTRF_ZIP, engine)
    assert report.bad_count == 0
    det = FanoutDetector("lateral", bucket="1m", detect_last="2m", baseline_days=1 / 24)
    findings = det.fit(table, engine).detect(det.score(table))
    assert findings, "the lateral movement of pgustavo was not reported"
    assert {f.evidence["entity"] for f in findings} == {"pgustavo"}
    expected = _pgustavo_network_hosts(data_dir / OTRF_ZIP)
    assert len(expected) >= 3
    first = min(findings, key=lambda f: f.first_seen)
    assert set(first.targets["hosts"]) == expected and first.actors == {"users": ["pgustavo"]}
    assert first.kind == "lateral_movement" and first.evidence["baseline"] == "none"
    assert "no baseline" in first.explanation and first.first_seen.startswith("2020-10-22T08:29")
    assert all(eid.startswith("purplesharp_ad_playbook_I.zip/") for eid in first.event_ids)


def test_pgustavo_reported_with_machine_accounts_kept(duckdb_engine, data_dir):
    """With machine accounts kept (MORDORDC$ and others join the hunt) pgustavo is still reported."""
    from tracehound.readers.logons import LogonFilter

    table, _ = read_logons(data_dir / OTRF_ZIP, duckdb_engine, accounts=LogonFilter(False, False, False))
    det = FanoutDetector("lateral", bucket="1m", detect_last="2m", baseline_days=1 / 24)
    entities = {f.evidence["entity"] for f in det.fit(table, duckdb_engine).detect(det.score(table))}
    assert "pgustavo" in entities
