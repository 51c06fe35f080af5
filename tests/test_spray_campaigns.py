"""Whole campaigns end to end, on the small tenant of ``test_spray_pipeline`` with campaigns added here.

Each rule of the unit of output is planted with the twin that must come out otherwise:

- a spray rotating, per attempt, its client app among two legacy protocols, its user agent among three
  tool agents and its exit country among five is *one* finding, which says so; two tools working the
  same weeks — one protocol and agent each, different cadences and target lists — are two;
- a brute force on three accounts from one network is one finding listing every account with its
  count; a second burst from another source a week later is another;
- a service failing every 15 minutes for nine days from an address the tenant signs in from is
  ``stale_credentials``, never a brute force; the same clock from an address nobody here uses is.
"""

from __future__ import annotations

from datetime import timedelta

import numpy as np
import pytest
from test_spray_pipeline import START, build_tenant, hunt

LEGACY = dict(state=None, city=None, app="Office 365 Exchange Online", browser=None, os=None, device_name=None,
              is_interactive=False)


def at(day: float):
    return START + timedelta(days=float(day))


def trickle(t, rng, label, *, days, per_day, users, clients, agents, countries):
    """A low-and-slow tool: each attempt picks its client app, agent and exit country at random."""
    for d in range(*days):
        for _ in range(rng.poisson(per_day)):
            a, b = rng.integers(1, 250, size=2)
            t.add(label, time=at(d + rng.uniform(0, 1)), user=users[rng.integers(len(users))], result=50126,
                  ip=f"45.{a}.{b}.9", ip_prefix=f"45.{a}.{b}.0/24", country=str(rng.choice(countries)),
                  client_app=str(rng.choice(clients)), user_agent=str(rng.choice(agents)), **LEGACY)


def burst(t, rng, label, *, day, victims, per_victim, ips, agent):
    for k in range(per_victim * len(victims)):
        t.add(label, time=at(day + k * 20 / 86400), user=victims[k % len(victims)], result=50126,
              ip=str(rng.choice(ips)), ip_prefix=ips[0].rsplit(".", 1)[0] + ".0/24", country="RO",
              client_app="Browser", user_agent=agent, **{**LEGACY, "app": "OfficeHome", "is_interactive": True})


def clock(t, label, *, user, ip, first, fail_from, days, minutes, success=True):
    """A service on a fixed clock: successes until ``fail_from``, then the stale password's failures."""
    step = minutes / 1440
    for k in range(int(days / step)):
        when = first + k * step
        t.add(label, time=at(when), user=user, result=0 if (when < fail_from and success) else 50126, ip=ip,
              ip_prefix=ip.rsplit(".", 1)[0] + ".0/24", country="US", client_app="Authenticated SMTP",
              user_agent=None, **LEGACY)


@pytest.fixture(scope="module")
def tenant():
    t = build_tenant(seed=21, users=160, days=45)
    rng = np.random.default_rng(21)
    names = sorted({r["user"] for r in t.rows})
    trickle(t, rng, "rotating", days=(3, 43), per_day=3, users=names[60:140], clients=("IMAP4", "Authenticated SMTP"),
            agents=("curl/8.4.0", "okhttp/4.10.0", "Go-http-client/2.0"), countries=("SE", "CH", "MD", "PA", "SC"))
    trickle(t, rng, "tool_a", days=(5, 40), per_day=4, users=names[100:130], clients=("Exchange ActiveSync",),
            agents=("python-requests/2.25.1",), countries=("VN", "KR", "ID", "TR"))
    trickle(t, rng, "tool_b", days=(8, 44), per_day=1.5, users=names[10:60], clients=("POP3",),
            agents=("Java/1.8.0_292",), countries=("VN", "KR", "ID", "TR"))
    burst(t, rng, "burst_one", day=12.4, victims=names[3:6], per_victim=25, ips=["198.18.7.10", "198.18.7.11"],
          agent="Mozilla/5.0 (Windows NT 6.1; WOW64; rv:60.0) Gecko/20100101 Firefox/60.0")
    burst(t, rng, "burst_two", day=19.6, victims=names[7:9], per_victim=30, ips=["203.0.113.77"],
          agent="Mozilla/5.0 (X11; Linux x86_64) Chrome/70.0.3538.77 Safari/537.36")
    office = next(r["ip"] for r in t.rows if r["user"] == names[3] and r["event_id"] in t.truth["benign"])
    clock(t, "stale", user="scanner@contoso.com", ip=office.rsplit(".", 1)[0] + ".240", first=20, fail_from=23,
          days=12, minutes=15)
    clock(t, "clocked_attack", user=names[150], ip="185.199.1.15", first=30, fail_from=30, days=9, minutes=15,
          success=False)
    return t


@pytest.fixture(scope="module")
def hunted(tenant, duckdb_engine):
    findings, scores, _ = hunt(duckdb_engine.load(tenant.table(), "signins"), duckdb_engine)
    return findings, scores


def holding(findings, ids, kind=None):
    return [f for f in findings if set(f.event_ids) & ids and (kind is None or f.kind == kind)]


def whole(f, ids) -> bool:
    got = set(f.event_ids)
    return len(got & ids) / len(ids) >= 0.8 and len(got & ids) / len(got) >= 0.9


def test_a_rotating_spray_is_one_finding_that_names_its_rotations(hunted, tenant):
    findings, _ = hunted
    planted = tenant.truth["rotating"]
    sprays = holding(findings, planted, "password_spray")
    assert len(sprays) == 1 and whole(sprays[0], planted), [(f.id, len(f.event_ids)) for f in sprays]
    f = sprays[0]
    rotated = f.evidence["rotated_fields"]
    assert set(rotated["client_app"]["values"]) == {"IMAP4", "Authenticated SMTP"}
    assert set(rotated["user_agent"]["values"]) == {"curl/8.4.0", "okhttp/4.10.0", "Go-http-client/2.0"}
    assert rotated["country"]["distinct_values"] == 5 and not rotated["country"]["distinctive"]
    assert min(rotated["client_app"]["rotation_tests"].values()) >= 0.001
    assert "client_app rotated among" in f.explanation and "country among 5 values" in f.explanation
    assert sorted(f.actors["user_agents"]) == sorted(rotated["user_agent"]["values"])


def test_two_tools_in_the_same_weeks_are_two_findings(hunted, tenant):
    findings, _ = hunted
    for label in ("tool_a", "tool_b"):
        planted = tenant.truth[label]
        sprays = holding(findings, planted, "password_spray")
        assert len(sprays) == 1 and whole(sprays[0], planted), (label, [(f.id, len(f.event_ids)) for f in sprays])
    a, b = (holding(findings, tenant.truth[x], "password_spray")[0] for x in ("tool_a", "tool_b"))
    assert a.id != b.id


def test_a_brute_force_on_three_accounts_is_one_finding_with_every_account(hunted, tenant):
    findings, _ = hunted
    for label, accounts in (("burst_one", 3), ("burst_two", 2)):
        planted = tenant.truth[label]
        touching = holding(findings, planted)
        assert len(touching) == 1 and touching[0].kind == "signin_brute_force", (label, [f.id for f in touching])
        f = touching[0]
        assert whole(f, planted)
        counts = f.evidence["attempts_per_account"]
        assert len(counts) == accounts == len(f.targets["users"]) and sum(counts.values()) == len(f.event_ids)
        assert all(u in f.explanation for u in counts)
    one, two = (holding(findings, tenant.truth[x])[0] for x in ("burst_one", "burst_two"))
    assert one.id != two.id and set(one.actors["ips"]) == {"198.18.7.10", "198.18.7.11"}


def test_a_stale_password_is_stale_credentials_and_the_same_clock_from_outside_is_not(hunted, tenant):
    findings, scores = hunted
    stale_ids = {e for e in tenant.truth["stale"] if e.startswith("stale")}
    failing = {r["event_id"] for r in tenant.rows if r["event_id"] in stale_ids and r["result"] != 0}
    touching = holding(findings, failing)
    assert [f.kind for f in touching] == ["stale_credentials"]
    f = touching[0]
    assert set(f.event_ids) == failing and f.severity == "low" and not f.actors
    assert f.targets == {"users": ["scanner@contoso.com"], "ips": [next(iter({r["ip"] for r in tenant.rows
                                                                             if r["event_id"] in failing}))]}
    assert f.evidence["period_seconds"] == pytest.approx(900, rel=0.02) and f.evidence["regularity"] >= 0.9
    assert "retired password" in f.explanation
    attack = tenant.truth["clocked_attack"]
    assert [g.kind for g in holding(findings, attack)] == ["signin_brute_force"]
    assert len(scores.stale) == 1
