"""Step 8 of the spray hunt: which successful sign-ins are linked to a campaign (the likely compromised
accounts), and which benign look-alikes are not.

``new_to_user`` is checked row by row on a tiny table. The linking routes are checked end to end on
the small tenant of ``test_spray_pipeline`` (one low-and-slow campaign: legacy client, one odd user
agent, rotating foreign addresses) with sign-ins added here, each built so that exactly one piece of
evidence separates the planted success from its benign twin.
"""

from __future__ import annotations

from datetime import timedelta

import pandas as pd
import pyarrow as pa
import pytest
from test_spray_pipeline import START, build_tenant, hunt

from tracehound.spray.successes import new_to_user

LEGACY = dict(result=0, state=None, city=None, country="US", app="Office 365 Exchange Online",
              client_app="Other clients", user_agent="BAV2ROPC", browser=None, os=None, device_name=None,
              is_interactive=False)


def at(day: float):
    return START + timedelta(days=day)


def test_new_to_user_flags(engine):
    """First success per (user, address); ``known_user`` (after the user's first success in the
    input: before it there is nothing to be new against); ``new_ua``, ``ip_once`` / ``ua_once`` (used once, and the
    user signed in again later), ``ip_shared`` (another account before) and ``ip_alone``."""
    rows = [  # event_id, day, user, ip, user agent, success
        ("a1", 0, "a", "ip1", "uaA", True), ("a2", 1, "a", "ip1", "uaA", True),
        ("a3", 2, "a", "ip2", "uaB", True), ("a4", 3, "a", "ip1", "uaA", True),
        ("a5", 2.5, "a", "ip9", "uaZ", False),                          # a failure: not a success
        ("b1", 0, "b", "ip3", "uaC", True), ("b2", 1, "b", "ip2", "uaC", True),
        ("b3", 4, "b", "ip3", "uaC", True),
        ("c1", 0, "c", "ip4", "uaD", True), ("c2", 5, "c", "ip7", "uaE", True),  # c2: the last, no follow-up
        ("d1", 0, "d", "ip5", "uaE", True), ("d2", 1, "d", "ip6", "uaF", True),  # d2: a new phone, kept
        ("d3", 2, "d", "ip5", "uaF", True), ("d4", 3, "d", "ip8", None, True),
        ("d5", 4, "d", "ip5", "uaE", True),
    ]
    table = pa.table({"event_id": [r[0] for r in rows], "time": [at(r[1]) for r in rows],
                      "user": [r[2] for r in rows], "ip": [r[3] for r in rows],
                      "ua_raw": [r[4] for r in rows], "success": [r[5] for r in rows]})
    got = engine.to_pandas(new_to_user(engine.load(table, "bits"))).set_index("event_id")
    assert set(got.index) == {"a1", "b1", "c1", "d1", "a3", "b2", "c2", "d2", "d4"}
    known = got["known_user"].astype(bool)
    assert set(got.index[known]) == {"a3", "b2", "c2", "d2", "d4"}  # the users' first sign-ins are not
    flags = got[["new_ua", "ip_once", "ua_once", "ip_shared", "ip_alone"]].astype(bool).to_dict("index")
    assert flags["a3"] == dict(new_ua=True, ip_once=True, ua_once=True, ip_shared=True, ip_alone=False)
    assert flags["b2"] == dict(new_ua=False, ip_once=True, ua_once=False, ip_shared=False, ip_alone=False)
    assert flags["c2"] == dict(new_ua=True, ip_once=False, ua_once=False, ip_shared=False, ip_alone=True)
    assert flags["d2"] == dict(new_ua=True, ip_once=True, ua_once=False, ip_shared=False, ip_alone=True)
    assert flags["d4"]["new_ua"] and flags["d4"]["ip_once"] and not flags["d4"]["ua_once"]
    # Kept to campaigns' spans (and fingerprints): the same rows with the same flags, judged against
    # every success — a3's ip_shared, d2's ip_once need sign-ins outside the span.
    table = table.append_column("f_app", pa.array(["x" if r[0] in ("a3", "d2", "b2") else "y" for r in rows]))
    bits = engine.load(table, "bits")
    cut = engine.to_pandas(new_to_user(bits, [({"app": ["x"]}, pd.Timestamp(at(1.5)), pd.Timestamp(at(2.5))),
                                                      ({}, pd.Timestamp(at(0.5)), pd.Timestamp(at(1.5)))]))
    cut = cut.set_index("event_id")
    assert set(cut.index) == {"a3", "d2", "b2"}  # d2, b2 (day 1) by the second span; a3 (day 2) by the first
    columns = ["new_ua", "ip_once", "ua_once", "ip_shared", "ip_alone", "known_user"]
    expected = got.loc[sorted(cut.index), columns].astype(bool).to_dict("index")
    assert cut[columns].astype(bool).to_dict("index") == expected
    assert engine.to_pandas(new_to_user(bits, [])).empty


def build_planted():
    """The pipeline tenant plus: ordinary users of the campaign's legacy client (so its fingerprint is
    common among successes and a success needs more than the fingerprint), and pairs of successes —
    one the campaign's, one a benign twin — for the tool and infrastructure routes."""
    t = build_tenant(seed=11, users=120, days=45, confounders=False)
    spray_rows = [r for r in t.rows if r["event_id"] in t.truth["spray"]]
    sprayed = {r["user"] for r in spray_rows}
    users = sorted({r["user"] for r in t.rows if r["event_id"] in t.truth["benign"]})
    home = {r["user"]: r["ip"] for r in t.rows if r["event_id"] in t.truth["benign"]}
    fresh = [u for u in users if u not in sprayed]
    assert len(fresh) >= 31, "the tenant needs accounts the campaign never tried"
    ids: dict[str, str] = {}
    legacy_users = fresh[6:31]  # more than success_specific_max (20): the fingerprint's pattern is common
    for k, u in enumerate(legacy_users):  # a new mail client at a new address, kept from then on
        ip = f"10.{k % 20}.0.{150 + k}"
        for day in (8 + k / 2, 35 + k / 10):
            t.add("legacy", time=at(day), user=u, ip=ip, **{**LEGACY, "ip_prefix": f"10.{k % 20}.0.0/24"})

    def one(label: str, day: float, user: str, ip: str, **over) -> str:
        return t.add(label, time=at(day), user=user, ip=ip,
                     **{**LEGACY, "ip_prefix": ip.rsplit(".", 1)[0] + ".0/24", **over})

    # Tool route: the campaign's agent, from a home-country address in a common network, used once.
    ids["tool_hit"] = one("tool_hit", 20.5, fresh[0], "10.3.0.200")
    # Its twins: a new mail client kept afterwards; a one-off from an address other accounts use too.
    ids["kept_agent"] = one("kept_agent", 21.5, fresh[1], "10.4.0.201")
    one("kept_agent_again", 22.5, fresh[1], home[fresh[1]])
    ids["shared_address"] = one("shared_address", 23.5, fresh[2], "10.5.0.202")
    t.add("other_account", time=at(30.5), user=fresh[3], ip="10.5.0.202", ip_prefix="10.5.0.0/24",
          result=0, app="Microsoft Teams", client_app="Browser", country="US", state="Illinois",
          city="Chicago", user_agent="Mozilla/5.0 (Windows NT 10.0) Chrome/120", browser="Chrome 120",
          os="Windows 10", device_name="LAPTOP-X", is_interactive=True)
    # Infrastructure route: an address in a common network the campaign sprayed two other accounts
    # from; the success uses the victim's own legacy client (so its agent is not new).
    victims = (fresh[4], fresh[5])
    for k, (ip, victim) in enumerate((("10.6.0.230", victims[0]), ("10.7.0.231", victims[1]))):
        for j, target in enumerate(sorted(sprayed)[2 * k:2 * k + 2]):
            # spread over three weeks, so they trickle like the rest of the campaign and join it
            t.add("spray", time=at(5.3 + 3 * k + 21 * j), user=target, ip=ip,
                  **{**LEGACY, "result": 50126, "ip_prefix": ip.rsplit(".", 1)[0] + ".0/24"})
        one("earlier_own_client", 0.2, victim, "203.0.113.50", ip_prefix="203.0.113.0/24", country="NL")
    ids["infra_hit"] = one("infra_hit", 24.5, victims[0], "10.6.0.230")
    # Its twin: the user keeps signing in from that address (it is their home; the proxy is theirs).
    ids["infra_home"] = one("infra_home", 25.5, victims[1], "10.7.0.231")
    for day in (26.5, 28.5, 33.5):
        t.add("infra_home_again", time=at(day), user=victims[1], ip="10.7.0.231", ip_prefix="10.7.0.0/24",
              result=0, app="Microsoft Teams", client_app="Browser", country="US", state="Illinois",
              city="Chicago", user_agent="Mozilla/5.0 (Windows NT 10.0) Chrome/120", browser="Chrome 120",
              os="Windows 10", device_name="LAPTOP-Y", is_interactive=True)
    # A dormant account: no sign-in in the export but one, from an address in a rare (foreign)
    # network that the campaign sprayed other accounts from. Its twin: a new joiner's first sign-in,
    # from an address of the same kind the campaign never used.
    sprayed_ip = next(r for r in spray_rows if r["user"] != fresh[31])["ip"]
    ids["dormant_hit"] = one("dormant_hit", 26.5, "dormant@contoso.com", sprayed_ip, country="RU",
                             ip_prefix=sprayed_ip.rsplit(".", 1)[0] + ".0/24")
    ids["joiner_first"] = one("joiner_first", 27.5, "joiner@contoso.com", "198.51.100.77", country="RU")
    # Tool route on an account's first success in the export: a one-off with the campaign's agent
    # from an address no one else used, after which the owner signs in with their own browser. Its
    # twin: a first success with the same legacy client, which its user then keeps using.
    ids["first_tool_hit"] = one("first_tool_hit", 19.5, "returner@contoso.com", "10.8.0.240")
    ids["first_kept_client"] = one("first_kept_client", 19.7, "mailer@contoso.com", "10.9.0.241")
    for day in (24.2, 29.2, 36.2):
        t.add("returner_own", time=at(day), user="returner@contoso.com", ip="10.8.0.9", ip_prefix="10.8.0.0/24",
              result=0, app="Microsoft Teams", client_app="Browser", country="US", state="Illinois",
              city="Chicago", user_agent="Mozilla/5.0 (Windows NT 10.0) Chrome/120", browser="Chrome 120",
              os="Windows 10", device_name="LAPTOP-Z", is_interactive=True)
        one("mailer_again", day, "mailer@contoso.com", "10.9.0.241")
    return t, ids


@pytest.fixture(scope="module")
def planted(engine):
    t, ids = build_planted()
    findings, _, _ = hunt(engine.load(t.table(), "signins"), engine)
    sprays = [f for f in findings if f.kind == "password_spray"]
    assert len(sprays) == 1, [f.kind for f in findings]
    return t, ids, set(sprays[0].success_event_ids)


def test_one_off_with_the_campaigns_agent_linked(planted):
    """Not targeted, nothing rare about its address, a fingerprint shared by legitimate legacy
    clients: linked only because it is a one-off (address and agent used once) from an address no
    other account used, with an agent the campaign sprayed other accounts with."""
    t, ids, linked = planted
    assert ids["tool_hit"] in linked
    assert t.truth["spray_success"] <= linked


def test_benign_twins_of_the_tool_route_not_linked(planted):
    t, ids, linked = planted
    assert ids["kept_agent"] not in linked       # a new client the user goes on using
    assert ids["shared_address"] not in linked   # an address other accounts sign in from
    assert not linked & t.truth["legacy"]


def test_sprayed_address_in_a_common_network_linked_when_used_once(planted):
    """The address sprayed other accounts but its /24 is common among successes (a residential
    proxy at home in the tenant's country): linked when the user never comes back to it, not when
    the user keeps signing in from it."""
    _, ids, linked = planted
    assert ids["infra_hit"] in linked
    assert ids["infra_home"] not in linked


def test_dormant_accounts_first_sign_in_from_the_campaigns_address_linked(planted):
    """A first sign-in has no history to be new against, so route 1 (what is new) cannot link it;
    the infrastructure route does: the address sprayed other accounts and sits in a network rare
    among successes. A first sign-in from an address the campaign never used, by a user who never
    signs in again, is not linked."""
    _, ids, linked = planted
    assert ids["dormant_hit"] in linked
    assert ids["joiner_first"] not in linked


def test_first_sign_in_that_is_a_one_off_with_the_campaigns_agent_linked(planted):
    """The tool route judges a one-off on what the user did *after* it, so an account's first
    success in the export is linked when the owner then signs in only with their own browser; the
    same first success is not linked when its user keeps using that client from that address."""
    t, ids, linked = planted
    assert ids["first_tool_hit"] in linked
    assert ids["first_kept_client"] not in linked
    assert not linked & (t.truth["mailer_again"] | t.truth["returner_own"])


def test_success_span_widens_by_the_campaigns_cadence():
    """A success may be the attempt before the first failure: a campaign trickling one attempt
    every two days reaches three gaps (six days) back and forward, a burst keeps the fixed day."""
    from collections import namedtuple

    from tracehound.spray.fingerprint import FingerprintRules
    from tracehound.spray.successes import success_span
    Row = namedtuple("Row", "attempts first_seen last_seen")
    first = pd.Timestamp("2024-01-01", tz="UTC")
    rules = FingerprintRules()
    slow = Row(41, first, first + pd.Timedelta(days=80))
    assert success_span(slow, rules) == (first - pd.Timedelta(days=6), slow.last_seen + pd.Timedelta(days=6))
    burst = Row(500, first, first + pd.Timedelta(hours=2))
    assert success_span(burst, rules) == (first - pd.Timedelta(days=1), burst.last_seen + pd.Timedelta(days=1))
    fixed = FingerprintRules(success_slack_gaps=0)
    assert success_span(slow, fixed) == (first - pd.Timedelta(days=1), slow.last_seen + pd.Timedelta(days=1))


def test_a_missing_user_address_or_agent_links_to_nothing():
    """The routes' "used on another account" check keeps SQL's nulls: a missing value or user on
    either side matches nothing (pandas alone would match a missing address to a missing one), and
    the account's own use of a value never counts."""
    from tracehound.spray.successes import _used_on_others

    value = pd.Series(["1.2.3.4", "1.2.3.4", None, "5.6.7.8", "1.2.3.4"])
    user = pd.Series(["a", None, "c", "d", "x"])
    theirs = pd.Series(["1.2.3.4", None, "5.6.7.8", "1.2.3.4"])
    their_user = pd.Series(["x", "c", "d", None])
    assert _used_on_others(value, user, theirs, their_user).tolist() == [True, False, False, False, False]
