"""The web hunt on a real Apache log (elastic/examples apache_logs, Apache-2.0, see LICENSE there).

The log has no labels. Known scanner probes are recognised by what they ask for (WordPress login,
Joomla administrator, FCKeditor, template-injection strings); the issue's bar: all of those clients
come out HIGH and at most 2% of the clients that made no probe at all get any HIGH.
"""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from tracehound.findings import dumps
from tracehound.readers.weblogs import read_weblogs
from tracehound.web.scoring import WebSessionDetector

# What the issue names as the known probes: wp-login, administrator, FCKeditor, templating probes.
KNOWN_PROBES = r"(?i)wp-login|/administrator|fckeditor|\$%7B|%22file://\$file"
# Anything that looks like a probe at all; clients with none of these are "the other clients".
ANY_PROBE = KNOWN_PROBES + r"|wp-admin|/admin\.php|xmlrpc"


@pytest.fixture(scope="module")
def apache_log():
    return Path(__file__).parent / "data" / "elastic-apache" / "apache_logs"


def _client_paths(engine, requests):
    df = engine.to_pandas(requests.select("client_ip", "path"))
    known = set(df.loc[df["path"].str.contains(KNOWN_PROBES, regex=True), "client_ip"])
    probing = set(df.loc[df["path"].str.contains(ANY_PROBE, regex=True), "client_ip"])
    return known, probing, set(df["client_ip"])


def test_known_scanners_high_and_at_most_two_percent_of_other_clients(duckdb_engine, apache_log):
    requests, report = read_weblogs([apache_log], duckdb_engine)
    assert report.records == 10_000 and report.bad_count == 0
    detector = WebSessionDetector().fit(requests, duckdb_engine)
    ips = detector.score(requests).per_client()
    high = set(ips.loc[ips["risk"] == "high", "client_ip"])
    known, probing, everyone = _client_paths(duckdb_engine, requests)
    assert len(known) >= 10  # the probes are really in the log
    assert known <= high, f"known scanners not HIGH: {sorted(known - high)}"
    # the stricter denominator: clients with at least one scored (non-asset) request, not every IP
    others = (everyone - probing) & set(ips["client_ip"])
    assert len(others) > 1000
    share = len(high & others) / len(others)
    assert share <= 0.02, f"{len(high & others)} of {len(others)} other clients HIGH ({share:.2%})"


def test_fckeditor_walk_is_explained_as_never_seen(duckdb_engine, apache_log):
    requests, _ = read_weblogs([apache_log], duckdb_engine)
    detector = WebSessionDetector().fit(requests, duckdb_engine)
    findings = [f for f in detector.detect(detector.score(requests)) if f.actors["ips"] == ["91.236.75.25"]]
    assert len(findings) == 1
    f = findings[0]
    assert f.severity == "high" and f.evidence["high_transitions"] >= 7
    assert f.actors == {"ips": ["91.236.75.25"]} and f.targets == {}  # its user agent was logged as "-"
    assert re.search(r"HEAD /blog/geekery/ec2-reserved-vs-ondemand\.html/\S*fckeditor\S* → HEAD \S+ "
                     r"\(HTTP 404\): never seen from any other of [\d,]+ clients", f.explanation, re.I)
    assert all(e.startswith("apache_logs:") for e in f.event_ids)


@pytest.mark.parity
def test_engines_agree_on_parsing_model_counts_high_ips_and_findings(engine, duckdb_engine, apache_log):
    results = {}
    for eng in (engine, duckdb_engine):
        requests, report = read_weblogs([apache_log], eng)
        status = eng.to_pandas(requests.group_by("status").agg(n=requests.count()).order_by("status"))
        detector = WebSessionDetector().fit(requests, eng)
        counts = detector.model_.transition_counts()
        scores = detector.score(requests)
        findings = b"".join(dumps(f) for f in detector.detect(scores))
        results[eng.name] = (report.records, report.formats, status.to_dict("list"),
                             counts.to_dict("list"), scores.high_ips(), findings)
    assert results[engine.name] == results["duckdb"]
    records, formats, status, _, high, findings = results["duckdb"]
    assert len(high) >= 14 and findings.count(b'"kind":"web_session"') >= len(high)  # >= 1 per HIGH IP
    raw = apache_log.read_text(encoding="utf-8").splitlines()
    expected_404 = sum(1 for line in raw if re.search(r'" 404 ', line))
    assert records == len(raw) and status["n"][status["status"].index(404)] == expected_404
