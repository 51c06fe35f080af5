"""Detection rules: Sigma from a campaign's invariant fields, KQL from pySigma, the predicate on data."""

from __future__ import annotations

import duckdb
import pandas as pd
import yaml

from tracehound.report.rules import canonical_sql, rules_for, signin_rule, web_rule, write_rules

UA = "python-requests/2.31.0"


def _spray(**evidence):
    ev = {"invariant_fields": {
        "user_agent": {"kind": "invariant", "values": [UA]},
        "client_app": {"kind": "invariant", "values": ["IMAP4"]},
        "os": {"kind": "invariant", "values": ["(empty)"]},
        "ip_prefix": {"kind": "invariant", "values": ["185.156.164.0/24"]},
        "country": {"kind": "invariant", "values": ["RO"]},
        "hour": {"kind": "invariant", "values": ["3"]}},
        "field_value_probabilities": {"user_agent": {UA: 2e-5}, "client_app": {"IMAP4": 0.002},
                                      "os": {"(empty)": 0.008}, "ip_prefix": {"185.156.164.0/24": 2e-5},
                                      "country": {"RO": 3e-5}},
        "compromised_users": ["dave@contoso.com"], **evidence}
    return {"kind": "fast_spray", "id": "fast_spray-001", "title": "Fast password spray", "severity": "high",
            "evidence": ev}


def test_a_spray_rule_converts_to_sentinel_kql_on_signinlogs_fields():
    rule = signin_rule(_spray())
    sel = rule.sigma["detection"]["fingerprint"]
    assert sel == {"UserAgent": [UA], "ClientAppUsed": ["IMAP4"], "DeviceDetail.operatingSystem": [None, ""],
                   "IPAddress|cidr": ["185.156.164.0/24"], "LocationDetails.countryOrRegion": ["RO"]}
    assert rule.sigma["level"] == "high" and rule.sigma["tags"] == ["attack.credential-access", "attack.t1110.003"]
    assert rule.error == "" and rule.kql.startswith("SigninLogs\n| extend ")
    for piece in ('UserAgent =~ "python-requests/2.31.0"', 'ClientAppUsed =~ "IMAP4"',
                  'ipv4_is_in_range(IPAddress, "185.156.164.0/24")', "tostring(DeviceDetail.operatingSystem)"):
        assert piece in rule.kql
    assert "ResultType" not in rule.kql  # the next *success* matches too
    assert "legacy authentication" in rule.hint and "named location" in rule.hint


def test_a_campaign_that_rotates_everything_but_a_common_app_gets_a_broad_hunting_rule():
    ev = {"invariant_fields": {"app": {"kind": "invariant", "values": ["OfficeHome"]}},
          "field_value_probabilities": {"app": {"OfficeHome": 0.14}}}
    rule = signin_rule({"kind": "password_spray", "id": "password_spray-004", "evidence": ev})
    assert rule.sigma["level"] == "low" and "hunting query" in rule.sigma["description"]


def test_the_rule_predicate_on_canonical_rows_matches_attempts_and_successes_not_the_rest():
    rows = pd.DataFrame([
        # the campaign: failures and its success, same tool, same /24, same country
        *({"event_id": f"a{i}", "user_agent": UA, "client_app": "IMAP4", "os": None, "ip": f"185.156.164.{i}",
           "country": "RO", "success": i == 9} for i in range(10)),
        # benign: same client app from the office, a browser with the same country, an empty OS elsewhere
        {"event_id": "b1", "user_agent": "Outlook", "client_app": "IMAP4", "os": None, "ip": "185.156.164.7",
         "country": "RO", "success": True},
        {"event_id": "b2", "user_agent": UA, "client_app": "Browser", "os": None, "ip": "185.156.164.8",
         "country": "RO", "success": True},
        {"event_id": "b3", "user_agent": UA, "client_app": "IMAP4", "os": "", "ip": "81.2.3.4",
         "country": "GB", "success": True}])
    sql = canonical_sql(signin_rule(_spray()).sigma, "signins")
    con = duckdb.connect()
    con.register("signins", rows)
    matched = {r[0] for r in con.execute(f"SELECT event_id FROM ({sql})").fetchall()}
    assert matched == {f"a{i}" for i in range(10)}


def test_hostile_values_are_left_out_or_escaped_never_a_different_rule(tmp_path):
    hostile = {"user_agent": {"kind": "invariant", "values": ["x\n| where true"]},
               "client_app": {"kind": "invariant", "values": ['IMAP4" or 1==1 //*?']}}
    rule = signin_rule(_spray(invariant_fields=hostile))
    assert "UserAgent" not in rule.sigma["detection"]["fingerprint"]  # a control character: left out
    assert rule.sigma["detection"]["fingerprint"]["ClientAppUsed"] == ['IMAP4" or 1==1 //\\*\\?']
    assert 'ClientAppUsed =~ "IMAP4\\" or 1==1 //*?"' in rule.kql
    yml, kql = write_rules([{**_spray(invariant_fields=hostile)}], tmp_path / "r.yml", tmp_path / "r.kql")
    assert len(list(yaml.safe_load_all(yml.read_text()))) == 1
    assert all(line.startswith(("//", "| ", "SigninLogs")) or not line for line in kql.read_text().splitlines())


def test_a_web_scanner_gets_a_path_rule_with_templated_parts_as_wildcards():
    f = {"kind": "web_session", "id": "web-00001", "evidence": {"probed_paths": [
        "GET /wp-login.php", "GET /backup.zip", "GET /products/{n}/x*y", "HEAD /.git/config"]}}
    rule = web_rule(f)
    assert rule.sigma["logsource"] == {"category": "webserver"}
    assert rule.sigma["detection"]["probe"]["cs-uri-stem"] == [
        "/.git/config", "/backup.zip", "/products/*/x\\*y", "/wp-login.php"]
    assert rule.kql.startswith("W3CIISLog\n| where ") and "csUriStem" in rule.kql
    rows = pd.DataFrame({"event_id": ["1", "2", "3"], "path": ["/wp-login.php", "/products/17/x*y", "/blog/"],
                         "method": ["GET"] * 3})
    con = duckdb.connect()
    con.register("web_requests", rows)
    got = {r[0] for r in con.execute(f"SELECT event_id FROM ({canonical_sql(rule.sigma, 'web_requests')})").fetchall()}
    assert got == {"1", "2"}


def test_identical_scanner_rules_are_written_once_naming_every_finding():
    a = {"kind": "web_session", "id": "web-1", "evidence": {"probed_paths": ["GET /wp-login.php"]}}
    b = {"kind": "web_session", "id": "web-2", "evidence": {"probed_paths": ["GET /wp-login.php"]}}
    rules = rules_for([a, b, {"kind": "host_scan", "id": "hs", "evidence": {}}])
    assert len(rules) == 1 and rules[0].finding_ids == ["web-1", "web-2"]
