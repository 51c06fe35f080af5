"""Okta System Log events into ``signins``, and the spray evaluation on an Okta tenant.

The record below follows the public System Log ``LogEvent`` schema (developer.okta.com, System Log
API) field for field, as the API returns a failed primary authentication.
"""

from __future__ import annotations

import copy
from datetime import datetime, timezone

import orjson
import pandas as pd
import pyarrow as pa
import pytest
from typer.testing import CliRunner

from tracehound.badrecords import ReadReport
from tracehound.cli import app
from tracehound.readers.okta import endpoint_class, failure_kind
from tracehound.readers.signins import parse_signins, sniff_signin_format
from tracehound.schema import SIGNINS
from tracehound.simulate.formats import to_okta

OKTA_EVENT = {
    "actor": {"id": "00u1qw2e3r4T5y6U7i8o", "type": "User", "alternateId": "Isabella.Garcia@example.com",
              "displayName": "Isabella Garcia", "detailEntry": None},
    "client": {"userAgent": {"rawUserAgent": "Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 "
                                             "(KHTML, like Gecko) Chrome/119.0.0.0 Safari/537.36",
                             "os": "Windows 10", "browser": "CHROME"},
               "zone": "null", "device": "Computer", "id": None, "ipAddress": "185.220.101.4",
               "geographicalContext": {"city": "Frankfurt am Main", "state": "Hesse", "country": "Germany",
                                       "postalCode": "60313",
                                       "geolocation": {"lat": 50.1153, "lon": 8.6823}}},
    "device": None,
    "authenticationContext": {"authenticationProvider": None, "credentialProvider": None, "credentialType": None,
                              "issuer": None, "interface": None, "authenticationStep": 0,
                              "rootSessionId": "unknown", "externalSessionId": "unknown"},
    "displayMessage": "User login to Okta",
    "eventType": "user.session.start",
    "outcome": {"result": "FAILURE", "reason": "INVALID_CREDENTIALS"},
    "published": "2024-02-12T03:17:45.671Z",
    "securityContext": {"asNumber": 60729, "asOrg": "zwiebelfreunde e.v.", "isp": "zwiebelfreunde e.v.",
                        "domain": "torproject.org", "isProxy": True},
    "severity": "INFO",
    "debugContext": {"debugData": {"loginResult": "INVALID_CREDENTIALS", "requestId": "ZcmN2Qx3x1fWk2vC5qZ0BgAAA2Q",
                                   "requestUri": "/idp/idx/challenge/answer", "threatSuspected": "true",
                                   "url": "/idp/idx/challenge/answer?"}},
    "legacyEventType": "core.user_auth.login_failed",
    "transaction": {"type": "WEB", "id": "ZcmN2Qx3x1fWk2vC5qZ0BgAAA2Q", "detail": {}},
    "uuid": "5b1b7a3e-c955-11ee-8f7e-8f5b3cbd3a5f",
    "version": "0",
    "request": {"ipChain": [{"ip": "185.220.101.4", "geographicalContext": {"city": "Frankfurt am Main",
                                                                            "state": "Hesse", "country": "Germany",
                                                                            "postalCode": "60313"},
                             "version": "V4", "source": None}]},
    "target": [{"id": "0oa1gjh63g214q0Hq0g4", "type": "AppInstance", "alternateId": "Salesforce.com",
                "displayName": "Salesforce.com", "detailEntry": {"signOnModeType": "SAML_2_0"}}],
}


def _read(tmp_path, events, name="okta.json", lines=False):
    path = tmp_path / name
    path.write_bytes(b"".join(orjson.dumps(e) + b"\n" for e in events) if lines else orjson.dumps(events))
    report = ReadReport()
    table = pa.Table.from_batches(list(parse_signins([path], report=report)), schema=SIGNINS)
    return path, table, report


@pytest.mark.parametrize("lines", [False, True])
def test_a_real_shaped_okta_event_round_trips_into_signins(tmp_path, lines):
    path, table, report = _read(tmp_path, [OKTA_EVENT], lines=lines)
    assert sniff_signin_format(path) == ("okta-jsonl" if lines else "okta-json")
    assert report.bad_count == 0 and table.num_rows == 1
    assert table.to_pylist()[0] == {
        "event_id": "5b1b7a3e-c955-11ee-8f7e-8f5b3cbd3a5f",
        "time": datetime(2024, 2, 12, 3, 17, 45, 671000, tzinfo=timezone.utc),
        "user": "isabella.garcia@example.com", "result": 50126, "success": False,
        "ip": "185.220.101.4", "ip_prefix": "185.220.101.0/24",
        "country": "Germany", "state": "Hesse", "city": "Frankfurt am Main",
        "app": "Salesforce.com", "client_app": "Identity Engine",
        "user_agent": OKTA_EVENT["client"]["userAgent"]["rawUserAgent"],
        "browser": "Chrome 119", "os": "Windows 10", "device_name": None, "is_interactive": None,
        "source": str(path), "provider": "okta", "failure_kind": "bad_password", "asn": 60729, "is_proxy": True,
    }


def _event(**changes) -> dict:
    event = copy.deepcopy(OKTA_EVENT)
    for dotted, value in changes.items():
        *parents, leaf = dotted.split("__")
        node = event
        for key in parents:
            node = node[key]
        node[leaf] = value
    return event


def test_outcomes_become_provider_neutral_failure_kinds(tmp_path):
    events = [
        _event(uuid="ok", outcome={"result": "SUCCESS", "reason": None}),
        _event(uuid="locked", outcome={"result": "FAILURE", "reason": "LOCKED_OUT"}),
        _event(uuid="nobody", actor__id="unknown", actor__displayName="unknown"),
        _event(uuid="mfa", eventType="user.authentication.auth_via_mfa",
               outcome={"result": "FAILURE", "reason": "INVALID_CREDENTIALS"}),
        _event(uuid="push", eventType="user.authentication.auth_via_mfa", outcome={"result": "CHALLENGE"}),
        _event(uuid="deny", outcome={"result": "DENY", "reason": "Sign-on policy evaluation resulted in DENY"}),
        _event(uuid="sso", eventType="user.authentication.sso", outcome={"result": "SUCCESS"}),
        _event(uuid="life", eventType="user.lifecycle.activate"),
        _event(uuid="bad-ip", client__ipAddress="fe80::1%eth0 } flush"),
        _event(uuid="no-outcome", outcome={}),
    ]
    _, table, report = _read(tmp_path, events)
    got = {r["event_id"]: (r["failure_kind"], r["result"], r["success"]) for r in table.to_pylist()}
    assert got == {"ok": (None, 0, True), "locked": ("locked", 50053, False),
                   "nobody": ("unknown_user", 50034, False), "mfa": ("mfa", 500121, False),
                   "push": ("mfa", 500121, False), "deny": ("other", 1, False), "sso": (None, 0, True)}
    assert report.skipped == {"not a sign-in event (another Okta event type)": 1}
    assert sorted(b.reason.split(":")[0] for b in report.bad) == ["field 'client.ipAddress'", "missing outcome.result"]
    assert table.num_rows + report.bad_count + sum(report.skipped.values()) == len(events)


def test_client_app_is_the_interface_else_the_kind_of_endpoint(tmp_path):
    """Okta's interface names the client; without it the request path's kind stands in, ids stripped."""
    active = "/app/office365/exk1fcia6d6EMsf331d8/sso/wsfed/active?client-request-id=8c4d3e2f"
    events = [
        _event(uuid="imap", authenticationContext__interface="IMAP4", debugContext__debugData__requestUri=active),
        _event(uuid="active", debugContext__debugData__requestUri=active),
        _event(uuid="passive", debugContext__debugData__requestUri="/app/office365/exk9/sso/wsfed/passive"),
        _event(uuid="saml", debugContext__debugData__requestUri="/app/salesforce/exk1a2b3/sso/saml"),
        _event(uuid="authn", debugContext__debugData__requestUri="/api/v1/authn"),
        _event(uuid="odd", debugContext__debugData__requestUri="/x/<script>alert(1)</script>/00u1qw2e3r"),
        _event(uuid="none", debugContext={"debugData": {}}),
        _event(uuid="bare", authenticationContext=None, debugContext=None),
        _event(uuid="bad", authenticationContext__interface=["IMAP4"]),
    ]
    _, table, report = _read(tmp_path, events)
    got = {r["event_id"]: r["client_app"] for r in table.to_pylist()}
    assert got == {"imap": "IMAP4", "active": "WS-Fed active", "passive": "WS-Fed passive", "saml": "SAML",
                   "authn": "authn API", "odd": "other", "none": None, "bare": None}
    assert [b.reason.split(":")[0] for b in report.bad] == ["field 'authenticationContext.interface'"]


def test_endpoint_class_keeps_no_text_from_the_path():
    assert endpoint_class(None) is None and endpoint_class("") is None
    assert endpoint_class("/APP/Office365/EXK1/SSO/WSFED/ACTIVE") == "WS-Fed active"
    assert endpoint_class("/oauth2/aus1/v1/token") == "OAuth/OIDC"
    assert endpoint_class("/api/v1/authn?x=/app/office365/k/sso/wsfed/active") == "authn API"
    assert endpoint_class("/login/" + "a" * 10_000) == "sign-in page"


def test_failure_kind_rules():
    assert failure_kind("user.session.start", "FAILURE", "INVALID_CREDENTIALS", "00u1") == "bad_password"
    assert failure_kind("user.session.start", "FAILURE", "INVALID_CREDENTIALS", "unknown") == "unknown_user"
    assert failure_kind("user.authentication.verify", "FAILURE", None, "00u1") == "mfa"
    assert failure_kind("user.session.start", "ALLOW", None, "00u1") is None


def test_the_simulator_writes_okta_events_the_reader_maps_back(tmp_path):
    signin = {"Id": "3e6f2a71-0c1d-4b5e-9f00-0123456789ab", "TimeGenerated": "2024-01-05T08:00:00.000Z",
              "UserPrincipalName": "a.b@contoso.com", "UserId": "0f9a", "UserDisplayName": "A B",
              "ResultType": "50053", "IPAddress": "198.51.100.7", "AppDisplayName": "Office 365",
              "AppId": "4765445b", "UserAgent": "Mozilla/5.0 (Macintosh; Intel Mac OS X 10_15_7) Safari/605.1.15",
              "LocationDetails": {"countryOrRegion": "GB", "state": "England", "city": "London"}}
    assert to_okta({**signin, "ResultType": "50140"}) is None  # Okta has no "keep me signed in?" event
    _, table, report = _read(tmp_path, [to_okta(signin)], lines=True)
    row = table.to_pylist()[0]
    assert (row["event_id"], row["user"], row["failure_kind"], row["result"]) == (signin["Id"], "a.b@contoso.com",
                                                                                  "locked", 50053)
    assert (row["country"], row["city"], row["app"], row["client_app"]) == ("United Kingdom", "London",
                                                                            "Office 365", "authn API")
    assert row["asn"] is not None and row["is_proxy"] is False


@pytest.mark.parametrize("client", ["IMAP4", "Authenticated SMTP", "Other clients", "Exchange ActiveSync", "POP3"])
def test_the_simulator_writes_legacy_protocols_as_office_365_active_authentication(tmp_path, client):
    """A legacy-protocol sign-in comes to Okta relayed to the Office 365 app's active endpoint, with the
    client as its interface and no device Okta can tell; the reader gives the client app back."""
    signin = {"Id": "9d1c", "TimeGenerated": "2024-01-05T08:00:00.000Z", "UserPrincipalName": "a.b@contoso.com",
              "UserId": "0f9a", "ResultType": "50126", "IPAddress": "203.0.113.9", "ClientAppUsed": client,
              "AppDisplayName": "Office 365 Exchange Online", "AppId": "00000002", "UserAgent": "BAV2ROPC"}
    event = to_okta(signin)
    assert event["authenticationContext"]["interface"] == client and event["client"]["device"] == "Unknown"
    assert endpoint_class(event["debugContext"]["debugData"]["requestUri"]) == "WS-Fed active"
    browser = to_okta({**signin, "Id": "9d1d", "ClientAppUsed": "Browser"})
    assert browser["authenticationContext"]["interface"] is None and browser["client"]["device"] == "Computer"
    _, table, _ = _read(tmp_path, [event, browser], lines=True)
    rows = {r["event_id"]: r for r in table.to_pylist()}
    assert (rows["9d1c"]["client_app"], rows["9d1c"]["failure_kind"]) == (client, "bad_password")
    assert rows["9d1c"]["app"] == "Microsoft Office 365"  # the Okta app instance, not Microsoft's resource
    assert (rows["9d1d"]["client_app"], rows["9d1d"]["app"]) == ("authn API", "Office 365 Exchange Online")


def test_evaluate_spray_has_an_okta_variant(tmp_path, monkeypatch):
    """The CLI's --format okta simulates, writes Okta, and scores what the reader makes of that file
    (the hunt itself is replaced by a recorder here; its numbers on Okta are the README's table)."""
    from tracehound.evaluation import spray as spray_eval
    from tracehound.evaluation.spray import score_findings
    from tracehound.readers.signins import read_signins

    seen = []

    def evaluate(paths, labels_path, engine, *, tenant, preset):
        table, report = read_signins(paths, engine)
        seen.append((tenant, preset, [p.name for p in paths], report.formats, engine.scalar(table.count())))
        return score_findings([], pd.read_csv(labels_path, dtype=str), tenant=tenant, preset=preset, seconds=0)

    monkeypatch.setattr(spray_eval, "evaluate_tenant", evaluate)
    result = CliRunner().invoke(app, ["evaluate", "spray", "--format", "okta", "--tenants", "1", "--users", "40",
                                      "--days", "21", "--difficulty", "standard", "--preset", "default",
                                      "--quiet", "--work-dir", str(tmp_path)])
    assert result.exit_code == 0, result.output
    assert "okta-seed1-standard" in result.output and "campaigns_found" in result.output
    [(tenant, preset, names, formats, rows)] = seen
    assert (tenant, preset, names, dict(formats)) == ("okta-seed1-standard", "default", ["okta-systemlog.jsonl"],
                                                      {"okta-jsonl": 1})
    written = (tmp_path / "okta-seed1-standard" / "okta" / "okta-systemlog.jsonl").read_bytes().count(b"\n")
    assert rows == written > 0


def test_evaluate_spray_refuses_an_unknown_format():
    result = CliRunner().invoke(app, ["evaluate", "spray", "--format", "splunk"])
    assert result.exit_code == 2 and "--format must be signinlogs or okta" in result.output
