"""The spray hunt end to end on small tenants built here (canonical ``signins`` tables via pyarrow).

The tenant builder plants one low-and-slow campaign with one successful guess, plus confounders
(travellers, a brute force, a fast spray, everyday typos), and records which event ids are which, so
the tests check recovery, purity and the confounders by id, not by hard-coded outputs.
"""

from __future__ import annotations

from datetime import datetime, timedelta, timezone

import numpy as np
import pyarrow as pa
import pytest

from tracehound.errors import ConfigError, InputFormatError, NotFittedError, TracehoundError
from tracehound.schema import SIGNINS
from tracehound.spray import KINDS, SprayHunter

START = datetime(2024, 3, 1, tzinfo=timezone.utc)
BROWSERS = [("Chrome 120", "Windows 10", "Mozilla/5.0 (Windows NT 10.0) Chrome/120"),
            ("Edge 120", "Windows 10", "Mozilla/5.0 (Windows NT 10.0) Edg/120"),
            ("Safari 17", "macOS 14", "Mozilla/5.0 (Macintosh) Safari/17"),
            ("Mobile Safari 17", "iOS 17", "Mozilla/5.0 (iPhone) Mobile Safari/17")]
APPS = ["Office 365 Exchange Online", "Microsoft Teams", "Office 365 SharePoint Online"]
TRIPS = [("FR", "Paris"), ("GB", "London"), ("JP", "Tokyo"), ("DE", "Berlin"), ("MX", "Cancun"),
         ("ES", "Madrid"), ("IT", "Rome"), ("CA", "Toronto")]
CITIES = [("Chicago", "Illinois"), ("Park Ridge", "Illinois"), ("Austin", "Texas"), ("Seattle", "Washington")]


class Tenant:
    """Rows of a synthetic tenant plus the ground truth the tests check against."""

    def __init__(self) -> None:
        self.rows: list[dict] = []
        self.truth: dict[str, set[str]] = {}

    def add(self, label: str, **row) -> str:
        eid = f"{label}-{len(self.rows):06d}"
        row.setdefault("result", 0)
        row["success"] = row["result"] == 0
        self.rows.append({"event_id": eid, **row})
        self.truth.setdefault(label, set()).add(eid)
        return eid

    def table(self) -> pa.Table:
        cols = {name: [r.get(name) for r in self.rows] for name in SIGNINS.names}
        cols["source"] = ["synthetic.jsonl"] * len(self.rows)
        return pa.table(cols, schema=SIGNINS)


def build_tenant(seed: int = 7, users: int = 120, days: int = 45, *, campaign: bool = True,
                 confounders: bool = True) -> Tenant:
    rng = np.random.default_rng(seed)
    t = Tenant()
    names = [f"user{i:03d}@contoso.com" for i in range(users)]
    profile = {}
    for i, u in enumerate(names):
        b = BROWSERS[rng.integers(len(BROWSERS))]
        city, state = CITIES[rng.integers(len(CITIES))]
        profile[u] = dict(browser=b[0], os=b[1], user_agent=b[2], city=city, state=state, country="US",
                          ip_prefix=f"10.{i % 20}.0.0/24", ip=f"10.{i % 20}.0.{i % 250 + 1}",
                          device_name=f"LAPTOP-{i:03d}", client_app="Browser", is_interactive=True)

    def when(day: float) -> datetime:
        return START + timedelta(days=float(day))

    for u in names:  # ordinary days: sign-ins in office hours and a typo now and then
        for d in range(days):
            for _ in range(rng.poisson(2)):
                at = when(d + rng.uniform(8, 18) / 24)
                app = APPS[rng.choice(3, p=[0.6, 0.3, 0.1])]
                result = 50126 if rng.random() < 0.04 else 0
                t.add("benign", time=at, user=u, app=app, result=result, **profile[u])
    if campaign:  # low and slow: ~3 attempts a day for 40 days, rotating IPs, one odd user agent
        for d in range(2, 42):
            for _ in range(3):
                a, b = rng.integers(1, 250, size=2)
                country = str(rng.choice(["NL", "DE", "RO", "BR"]))
                t.add("spray", time=when(d + rng.uniform(0, 1)), user=names[rng.integers(users)],
                      result=50126, ip=f"185.{a}.{b}.7", ip_prefix=f"185.{a}.{b}.0/24", country=country,
                      state=None, city=None, app="Office 365 Exchange Online",
                      client_app="Other clients", user_agent="BAV2ROPC", browser=None, os=None,
                      device_name=None, is_interactive=False)
        t.add("spray_success", time=when(30.5), user=names[5], result=0, ip="185.9.9.7",
              ip_prefix="185.9.9.0/24", country="NL", state=None, city=None,
              app="Office 365 Exchange Online", client_app="Other clients", user_agent="BAV2ROPC",
              browser=None, os=None, device_name=None, is_interactive=False)
    if confounders:
        for u in names[:12]:  # travellers: a few days abroad, a couple of typos there
            start = rng.integers(0, days - 4)
            for d in range(start, start + 3):
                for _ in range(3):
                    result = 50126 if rng.random() < 0.25 else 0
                    country, city = TRIPS[rng.integers(len(TRIPS))]
                    p = {**profile[u], "country": country, "city": city, "state": None,
                         "ip_prefix": f"90.{rng.integers(255)}.1.0/24", "ip": "90.1.1.1"}
                    t.add("traveller", time=when(d + rng.uniform(0.3, 0.8)), user=u,
                          app=APPS[0], result=result, **p)
        victim = names[50]  # brute force: one account, 150 attempts in two hours
        for i in range(150):
            t.add("brute", time=when(20 + i / (75 * 24)), user=victim, result=50126, ip="203.0.113.9",
                  ip_prefix="203.0.113.0/24", country="CN", state=None, city=None,
                  app="Office 365 Exchange Online", client_app="Browser", user_agent="hydra",
                  browser="hydra", os=None, device_name=None, is_interactive=True)
        for i, u in enumerate(names[:100]):  # fast spray: 100 accounts in 40 minutes
            t.add("fast", time=when(25 + i / (150 * 24)), user=u, result=50126, ip="198.51.100.4",
                  ip_prefix="198.51.100.0/24", country="RU", state=None, city=None,
                  app="Office 365 SharePoint Online", client_app="Browser",
                  user_agent="Mozilla/5.0 (X11; Linux) Firefox/60", browser="Firefox 60",
                  os="Linux", device_name=None, is_interactive=True)
    return t


def hunt(table, engine, preset: str = "default", **overrides):
    """Fit on ``table``, score it and detect: ``(findings, scores, fitted hunter)``."""
    hunter = SprayHunter.from_preset(preset, **overrides).fit(table, engine)
    scores = hunter.score(table)
    return hunter.detect(scores), scores, hunter


@pytest.fixture(scope="module")
def tenant() -> Tenant:
    return build_tenant()


@pytest.fixture(scope="module")
def hunted(tenant, engine):
    table = engine.load(tenant.table(), "signins")
    return hunt(table, engine)


def test_campaign_recovered_pure_with_its_success(hunted, tenant):
    findings, scores, _ = hunted
    clusters = scores.clusters
    sprays = [f for f in findings if f.kind == "password_spray"]
    assert len(sprays) == 1, clusters[["cluster", "kind", "failed_rules", "attempts", "users"]]
    f = sprays[0]
    got = set(f.event_ids)
    planted = tenant.truth["spray"]
    assert len(got & planted) / len(planted) >= 0.8
    assert len(got & planted) / len(got) >= 0.9
    assert set(f.success_event_ids) == tenant.truth["spray_success"]
    assert "client_app" in f.evidence["fingerprint"] or "user_agent" in f.evidence["fingerprint"]
    assert "ip_prefix" in f.evidence["randomized_fields"]
    assert f.severity == "high" and f.explanation and f.first_seen < f.last_seen


def test_confounders_never_low_and_slow(hunted, tenant):
    findings, _, _ = hunted
    sprayed = set().union(*(set(f.event_ids) for f in findings if f.kind == "password_spray"))
    for label in ("brute", "fast", "traveller"):
        assert not sprayed & tenant.truth[label], label
    kinds = {f.kind: set(f.event_ids) for f in findings if f.kind != "password_spray"}
    assert set(kinds) <= {"signin_brute_force", "fast_spray"}
    if "signin_brute_force" in kinds:
        assert kinds["signin_brute_force"] <= tenant.truth["brute"]
    if "fast_spray" in kinds:
        assert kinds["fast_spray"] <= tenant.truth["fast"]


def test_findings_follow_contract(hunted, tenant):
    findings, _, _ = hunted
    declared = {k.name: k for k in KINDS}
    rows = {r["event_id"]: r for r in tenant.rows}
    for f in findings:
        d = f.to_dict()
        for key in ("kind", "id", "title", "severity", "score", "first_seen", "last_seen", "entities",
                    "actors", "targets", "event_ids", "explanation", "evidence"):
            assert key in d
        assert d["first_seen"].endswith("Z")
        assert ("success_event_ids" in d) == (f.kind == "password_spray")
        assert f.id.startswith(f.kind + "-")
        kind = declared[f.kind]
        assert set(f.actors) <= set(kind.actors) and set(f.targets) == set(kind.targets) == {"users"}
        attempts = [rows[e] for e in f.event_ids]
        assert f.actors["ips"] == sorted({r["ip"] for r in attempts})
        assert f.targets["users"] == sorted({r["user"] for r in attempts})
        invariant = f.evidence["invariant_fields"].get("user_agent", {"values": []})["values"]
        agents = [v for v in invariant if v != "(empty)"]
        if agents:  # the tool pins its agent: it is an actor, and (nearly) every attempt carries it
            assert f.actors["user_agents"] == agents
            assert sum(r["user_agent"] in agents for r in attempts) / len(attempts) >= 0.9
        else:
            assert "user_agents" not in f.actors
        assert set(f.entities["users"]) == set(f.targets["users"])
        assert set(f.entities["ips"]) == set(f.actors["ips"])
    assert len({f.id for f in findings}) == len(findings)
    spray = next(f for f in findings if f.kind == "password_spray")
    assert spray.actors["user_agents"] == ["BAV2ROPC"]  # the planted campaign's one odd agent


def test_no_campaign_no_spray_finding(engine):
    t = build_tenant(seed=3, users=80, days=30, campaign=False, confounders=False)
    findings, _, _ = hunt(engine.load(t.table(), "signins"), engine)
    assert [f for f in findings if f.kind == "password_spray"] == []


def test_mstic_preset_runs_and_differs(tenant, duckdb_engine):
    table = duckdb_engine.load(tenant.table(), "signins")
    hunter = SprayHunter.from_preset("mstic").fit(table, duckdb_engine)
    assert hunter.threshold_rule == "mean-sd" and hunter.alpha == 2.0 and hunter.n_init == 1
    clusters = hunter.score(table).clusters
    assert (clusters.kind.notna()).any()
    assert [fr.feature for fr in hunter.rarities_] == list(hunter.features_)
    assert "user_agent" not in hunter.features_


def test_score_before_fit_raises(tenant, duckdb_engine):
    table = duckdb_engine.load(tenant.table(), "signins")
    with pytest.raises(NotFittedError):
        SprayHunter().score(table)
    with pytest.raises(NotFittedError):
        SprayHunter().detect(None)


def test_deterministic(tenant, duckdb_engine):
    table = duckdb_engine.load(tenant.table(), "signins")
    a, _, _ = hunt(table, duckdb_engine)
    b, _, _ = hunt(table, duckdb_engine)
    assert [(f.kind, f.event_ids) for f in a] == [(f.kind, f.event_ids) for f in b]


def _rows(**over) -> dict:
    base = dict(event_id="x", time=START, user="a@x.com", result=0, success=True, ip="10.0.0.1",
                ip_prefix="10.0.0.0/24", country="US", state="Illinois", city="Chicago",
                app="Teams", client_app="Browser", user_agent="ua", browser="Chrome 120",
                os="Windows 10", device_name="PC", is_interactive=True, source="f")
    return {**base, **over}


def _table(rows) -> pa.Table:
    return pa.table({n: [r.get(n) for r in rows] for n in SIGNINS.names}, schema=SIGNINS)


@pytest.mark.parametrize("case, message", [
    ("no_failures", "no failed sign-ins"),
    ("no_successes", "no successful sign-ins"),
    ("one_user", "one user"),
    ("all_empty", "empty"),
])
def test_bad_input_clear_message(case, message, duckdb_engine):
    rows = []
    for i in range(40):
        fail = i % 2 == 0
        row = _rows(event_id=f"e{i}", user=f"u{i % 5}@x.com", result=50126 if fail else 0,
                    success=not fail, time=START + timedelta(hours=i),
                    ip=f"198.51.100.{i}" if fail else "10.0.0.1")
        if case == "no_failures":
            row.update(result=0, success=True)
        if case == "no_successes":
            row.update(result=50126, success=False)
        if case == "one_user":
            row.update(user="only@x.com")
        if case == "all_empty":
            row.update({f: None for f in ("ip_prefix", "country", "state", "city", "app", "client_app",
                                          "user_agent", "browser", "os", "device_name")})
        rows.append(row)
    table = duckdb_engine.load(_table(rows), "signins")
    with pytest.raises(InputFormatError, match=message):
        SprayHunter().fit(table, duckdb_engine)


def test_wrong_columns_clear_message(duckdb_engine):
    table = duckdb_engine.load(pa.table({"when": [1, 2], "who": ["a", "b"]}), "bad")
    with pytest.raises(TracehoundError, match="lacks column"):
        SprayHunter().fit(table, duckdb_engine)


def test_duplicates_removed_by_event_id(duckdb_engine):
    t = build_tenant(seed=5, users=60, days=30, confounders=False)
    table = t.table()
    doubled = duckdb_engine.load(pa.concat_tables([table, table]), "signins")
    single = duckdb_engine.load(table, "signins")
    h1 = SprayHunter().fit(single, duckdb_engine)
    h2 = SprayHunter().fit(doubled, duckdb_engine)
    assert h1.patterns_.n.sum() == h2.patterns_.n.sum()
    assert h1.patterns_.equals(h2.patterns_)


def test_unknown_preset_and_rule():
    with pytest.raises(TracehoundError, match="preset"):
        SprayHunter.from_preset("nope")
    with pytest.raises(ConfigError, match="threshold rule"):
        SprayHunter(threshold_rule="median").fit(None, None)  # checked before the table is touched


def test_rules_from_a_config_dict(tenant, duckdb_engine):
    """A [spray] section of a config file gives rules as plain dicts; they must work like dataclasses."""
    table = duckdb_engine.load(tenant.table(), "signins")
    strict = SprayHunter(rules={"min_users": 10_000}).fit(table, duckdb_engine)
    assert not [f for f in strict.detect(strict.score(table)) if f.kind == "password_spray"]
    with pytest.raises(ConfigError, match="rules"):
        SprayHunter(rules={"no_such_rule": 1}).fit(table, duckdb_engine)


def test_success_from_campaign_ip_linked_even_with_users_own_agent(engine):
    """Two accounts the campaign never tried both sign in with its fingerprint from an address new to
    them, with an agent they already used: the one from an address the campaign sprayed from is
    linked (the campaign's infrastructure), the one from an unrelated address is not."""
    t = build_tenant(seed=11, users=120, days=45, confounders=False)
    sprayed = {r["user"] for r in t.rows if r["event_id"] in t.truth["spray"]}
    spray_ip = next(r["ip"] for r in t.rows if r["event_id"] in t.truth["spray"])
    fresh = [r["user"] for r in t.rows if r["user"] not in sprayed]
    victim, bystander = fresh[0], next(u for u in fresh if u != fresh[0])
    legacy = dict(result=0, state=None, city=None, app="Office 365 Exchange Online", client_app="Other clients",
                  user_agent="BAV2ROPC", browser=None, os=None, device_name=None, is_interactive=False)
    for u in (victim, bystander):  # each already used that legacy client once, before the campaign
        t.add("earlier", time=START + timedelta(hours=5), user=u, ip="203.0.113.50",
              ip_prefix="203.0.113.0/24", country="NL", **legacy)
    hit = t.add("via_campaign_ip", time=START + timedelta(days=20.5), user=victim, ip=spray_ip,
                ip_prefix=spray_ip.rsplit(".", 1)[0] + ".0/24", country="NL", **legacy)
    miss = t.add("unrelated_ip", time=START + timedelta(days=21.5), user=bystander, ip="185.250.250.7",
                 ip_prefix="185.250.250.0/24", country="NL", **legacy)
    findings, _, _ = hunt(engine.load(t.table(), "signins"), engine)
    linked = set().union(*(set(f.success_event_ids) for f in findings if f.kind == "password_spray"))
    assert hit in linked
    assert miss not in linked
    assert t.truth["spray_success"] <= linked
