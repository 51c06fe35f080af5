"""Sessions, states, the distinct-client Markov model, risk rules, findings and blocklists."""

from __future__ import annotations

from datetime import datetime, timedelta, timezone

import pandas as pd
import pyarrow as pa
import pytest

from tracehound import schema
from tracehound.errors import ConfigError, NotFittedError
from tracehound.findings import Finding
from tracehound.report.blocklist import clean_ips, render, write_blocklist
from tracehound.web.markov import TransitionModel
from tracehound.web.scoring import HIGH, LOW, MEDIUM, WebSessionDetector, canaries_from_robots
from tracehound.web.sessions import session_stats, sessionize
from tracehound.web.states import END, START, state_transitions

T0 = datetime(2024, 3, 1, 12, tzinfo=timezone.utc)


def _requests(rows: list[tuple]) -> pa.Table:
    """rows: (ip, seconds after T0, method, path, status[, user agent])."""
    cols = {name: [] for name in schema.WEB_REQUESTS.names}
    for i, row in enumerate(rows):
        ip, sec, method, path, status, *ua = row
        cols["event_id"].append(f"t.log:{i + 1}")
        cols["time"].append(T0 + timedelta(seconds=sec))
        cols["client_ip"].append(ip)
        cols["method"].append(method)
        cols["path"].append(path)
        cols["status"].append(status)
        cols["user_agent"].append(ua[0] if ua else "Mozilla/5.0")
        for name in ("user", "query", "bytes", "referrer", "source"):
            cols[name].append(None)
    return pa.Table.from_pydict(cols, schema=schema.WEB_REQUESTS)


def _site(visitors: int = 30) -> list[tuple]:
    """Visitors browsing home → blog → a post → home, with assets, 20 s apart."""
    rows = []
    for v in range(visitors):
        ip = f"10.0.{v // 250}.{v % 250 + 1}"
        base = v * 10
        for k, (path, status) in enumerate([("/", 200), ("/static/site.css", 200), ("/blog/", 200),
                                            (f"/blog/posts/{v % 3 + 1}", 200), ("/", 200)]):
            rows.append((ip, base + 20 * k, "GET", path, status))
    return rows


@pytest.mark.parity
def test_sessions_split_on_gap_and_max_length(engine):
    rows = [("1.1.1.1", 0, "GET", "/", 200), ("1.1.1.1", 60, "GET", "/a", 200),
            ("1.1.1.1", 60 + 31 * 60, "GET", "/b", 200),             # > 30 min pause: new session
            ("2.2.2.2", 0, "GET", "/", 200)]
    rows += [("3.3.3.3", 600 * k, "GET", "/", 200) for k in range(12)]  # 110 min, never pausing 30 min
    t = engine.load(_requests(rows), "web_requests")
    s = sessionize(t, max_length=timedelta(hours=1))
    df = engine.to_pandas(s.group_by(["client_ip", "session_id"]).agg(n=s.count()))
    counts = sorted(df.groupby("client_ip")["n"].apply(lambda x: tuple(sorted(x))).items())
    assert counts == [("1.1.1.1", (1, 2)), ("2.2.2.2", (1,)), ("3.3.3.3", (6, 6))]


def test_client_key_separates_user_agents_unless_ip_only(duckdb_engine):
    rows = [("1.1.1.1", 0, "GET", "/", 200, "ua-a"), ("1.1.1.1", 5, "GET", "/", 200, "ua-b")]
    t = duckdb_engine.load(_requests(rows), "web_requests")
    assert duckdb_engine.scalar(sessionize(t).session_id.nunique()) == 2
    assert duckdb_engine.scalar(sessionize(t, client="ip").session_id.nunique()) == 1
    with pytest.raises(ConfigError):
        sessionize(t, client="cookie")


def test_session_stats_mark_machine_pacing(duckdb_engine):
    bot = [("9.9.9.9", 2 * k, "GET", f"/p{k}", 404) for k in range(20)]        # every 2 s exactly
    human = [("8.8.8.8", s, "GET", f"/h{k}", 200) for k, s in enumerate([0, 5, 70, 95, 400, 410, 900, 1000,
                                                                          1300, 1320, 1700])]
    t = duckdb_engine.load(_requests(bot + human), "web_requests")
    df = duckdb_engine.to_pandas(session_stats(sessionize(t))).set_index("client_ip")
    assert bool(df.loc["9.9.9.9", "machine_paced"]) and df.loc["9.9.9.9", "gap_cv"] == pytest.approx(0)
    assert not bool(df.loc["8.8.8.8", "machine_paced"]) and df.loc["8.8.8.8", "gap_cv"] > 0.5
    assert df.loc["9.9.9.9", "requests"] == 20


def test_states_template_volatile_parts_drop_query_and_fold_assets(duckdb_engine):
    paths = ["/orders/1234/items/56", "/u/0f8fad5b-d9cb-469f-a165-70867728950e", "/c/9f86d081884c7d659a2feaa0",
             "/archive/2024-03-01/x", "/logo.PNG", "/a/b3/c"]
    rows = [("1.1.1.1", k, "GET", p, 200) for k, p in enumerate(paths)]
    t = duckdb_engine.load(_requests(rows), "web_requests")
    tr = duckdb_engine.to_pandas(state_transitions(sessionize(t)).order_by("step"))
    assert tr["state"].tolist() == ["GET /orders/{n}/items/{n}", "GET /u/{uuid}", "GET /c/{hex}",
                                    "GET /archive/{date}/x", "GET /a/b3/c", END]
    assert tr["prev"].iloc[0] == START and tr["prev"].iloc[-1] == "GET /a/b3/c"
    unfolded = duckdb_engine.to_pandas(state_transitions(sessionize(t), fold_static=False))
    assert "GET /logo.PNG" in set(unfolded["state"])


@pytest.mark.parity
def test_support_counts_distinct_clients_not_hits(engine):
    rows = _site(10)
    rows += [("6.6.6.6", k, "GET", "/blog/", 200) for k in range(0, 50, 2)]  # one client, 25 self-loops
    t = engine.load(_requests(rows), "web_requests")
    model = TransitionModel().fit(state_transitions(sessionize(t)), engine)
    counts = model.transition_counts().set_index(["prev", "state"])["support"]
    assert counts[("GET /blog/", "GET /blog/")] == 1
    assert counts[(START, "GET /")] == 10
    assert counts[("GET /", "GET /blog/")] == 10
    assert model.n_clients_ == 11
    assert sorted(model.transition_counts()["support"].tolist()) == \
        sorted(engine.to_pandas(model.support_)["support"].tolist())


def test_clients_never_served_do_not_vouch_for_transitions(duckdb_engine):
    rows = _site(10) + [(f"7.7.7.{k}", k, "GET", "/wp-login.php", 404) for k in range(1, 21)]
    t = duckdb_engine.load(_requests(rows), "web_requests")
    trans = state_transitions(sessionize(t))
    served = TransitionModel().fit(trans, duckdb_engine).transition_counts()
    everyone = TransitionModel(vouch="all").fit(trans, duckdb_engine).transition_counts()
    assert "GET /wp-login.php" not in set(served["state"])
    assert everyone.set_index(["prev", "state"])["support"][(START, "GET /wp-login.php")] == 20


def test_scoring_is_leave_one_out_and_smoothed(duckdb_engine):
    rows = _site(20) + [("6.6.6.6", 0, "GET", "/", 200), ("6.6.6.6", 30, "GET", "/secret/", 200)]
    t = duckdb_engine.load(_requests(rows), "web_requests")
    trans = state_transitions(sessionize(t))
    model = TransitionModel(alpha=1.0).fit(trans, duckdb_engine)
    scored = duckdb_engine.to_pandas(model.score(trans))
    odd = scored[scored["state"] == "GET /secret/"].iloc[0]
    common = scored[(scored["prev"] == "GET /") & (scored["state"] == "GET /blog/")].iloc[0]
    assert odd["support"] == 0 and common["support"] == 19
    assert 0 < odd["prob"] < common["prob"] < 1
    assert odd["surprisal"] > common["surprisal"] > 0


def test_score_before_fit_raises_not_fitted(duckdb_engine):
    t = duckdb_engine.load(_requests(_site(2)), "web_requests")
    with pytest.raises(NotFittedError):
        TransitionModel().score(t)
    with pytest.raises(NotFittedError):
        WebSessionDetector().score(t)
    with pytest.raises(ConfigError):
        TransitionModel(alpha=0).fit(state_transitions(sessionize(t)), duckdb_engine)


def _risks(engine, detector, rows):
    t = engine.load(_requests(rows), "web_requests")
    detector.fit(t, engine)
    df = engine.to_pandas(detector.score(t).transitions)
    return t, df


def test_risk_rules_and_special_cases(duckdb_engine):
    rows = _site(200)
    rows += [("5.5.5.5", 5000 + k, "GET", p, 404) for k, p in enumerate(["/.env", "/.git/config", "/backup.zip"])]
    rows += [("4.4.4.4", 6000, "GET", "/blog/posts/2", 200), ("4.4.4.4", 6030, "GET", "/blog/posts/2", 200),
             ("4.4.4.4", 6060, "GET", "/", 200), ("4.4.4.4", 6090, "GET", "/blog/posts/3", 200),
             ("4.4.4.4", 6120, "GET", "/blog/typo", 404)]
    _, df = _risks(duckdb_engine, WebSessionDetector(), rows)
    scanner = df[df.client_ip == "5.5.5.5"].set_index("state")["risk"]
    assert scanner["GET /.env"] == HIGH and scanner["GET /.git/config"] == HIGH
    reader = df[df.client_ip == "4.4.4.4"].set_index(["prev", "state"])["risk"]
    assert reader[("GET /blog/posts/{n}", "GET /blog/posts/{n}")] == LOW      # page → itself
    assert reader[("GET /blog/posts/{n}", "GET /")] == LOW                    # any page → home
    assert reader[("GET /blog/posts/{n}", "GET /blog/typo")] == MEDIUM        # one dead link from a page
    visitors = df[df.client_ip.str.startswith("10.0.")]
    assert (visitors["risk"] == LOW).all()


def test_canary_paths_are_high_even_when_served(duckdb_engine):
    rows = _site(50) + [("3.3.3.3", 9000, "GET", "/", 200), ("3.3.3.3", 9010, "GET", "/private/x", 200)]
    canaries = canaries_from_robots("User-agent: *\nDisallow: /private/ # keep out\nDisallow: /\nDisallow:\n")
    assert canaries == ["/private/"]
    _, df = _risks(duckdb_engine, WebSessionDetector(canary_paths=canaries), rows)
    hit = df[df.path == "/private/x"].iloc[0]
    assert bool(hit["canary"]) and hit["risk"] == HIGH


def test_detect_returns_web_session_findings_with_rare_transitions(duckdb_engine):
    rows = _site(200) + [("5.5.5.5", 5000 + k, "HEAD", p, 404) for k, p in
                         enumerate(["/portfolio/FCKeditor/editor/fckeditor.html",
                                    "/componentes3.7/fckeditor/editor/fckeditor.html"])]
    t = duckdb_engine.load(_requests(rows), "web_requests")
    detector = WebSessionDetector().fit(t, duckdb_engine)
    findings = detector.detect(detector.score(t))
    assert len(findings) == 1
    f = findings[0]
    assert isinstance(f, Finding) and f.kind == "web_session" and f.severity == "high"
    assert f.actors == {"ips": ["5.5.5.5"], "user_agents": ["Mozilla/5.0"]} and f.targets == {}
    assert f.entities == f.actors
    assert f.first_seen.startswith("2024-03-01T13:23:20")
    assert set(f.event_ids) == {"t.log:1001", "t.log:1002"}
    pair = ("HEAD /portfolio/FCKeditor/editor/fckeditor.html", "HEAD /componentes3.7/fckeditor/editor/fckeditor.html")
    listed = {(r["from"], r["to"]): r for r in f.evidence["rare_transitions"]}
    # nobody else ever left the first probe page, so smoothing spreads its mass evenly over all states
    assert listed[pair]["other_clients"] == 0
    assert listed[pair]["probability"] == pytest.approx(1 / (detector.model_.n_states_ + 1))
    assert detector.n_clients_ == 200  # the scanner was never served a page, so it is not in the model
    assert f"{pair[0]} → {pair[1]} (HTTP 404): never seen from any other of 200 clients" in f.explanation


def test_blocklist_formats_and_injection_is_skipped(tmp_path):
    ips, bad = clean_ips(["45.0.0.2", "2001:db8::1", "45.0.0.2", "1.2.3.4;reboot", "$(rm -rf /)", "45.0.0.10",
                          "10.0.0.2"])
    assert ips == ["45.0.0.2", "45.0.0.10", "2001:db8::1"] and bad == 3  # two refused, one internal
    assert render(ips, "plain").splitlines()[1:] == ips
    nft = render(ips, "nftables")
    assert "type ipv4_addr; flags interval; elements = { 45.0.0.2, 45.0.0.10 };" in nft
    assert "ip6 saddr @v6 drop" in nft
    ipset = render(ips, "ipset").splitlines()
    assert "add tracehound_block_v6 2001:db8::1 -exist" in ipset
    path, written, skipped = write_blocklist(["1.1.1.1", "x"], tmp_path / "bl.txt")
    assert (written, skipped) == (1, 1) and path.read_text().endswith("1.1.1.1\n")
    with pytest.raises(ConfigError):
        render(ips, "iptables")
    with pytest.raises(ConfigError):
        render(ips, "plain", set_name="x; flush ruleset")
    with pytest.raises(ValueError):  # a firewall file is written from parsed values only
        render(["1.2.3.4 } flush ruleset"], "nftables")


def test_one_finding_per_client_with_every_session(duckdb_engine):
    """A scanner that comes back in three sessions is one finding that lists all three."""
    probes = ["/wp-login.php", "/.env", "/backup.zip"]
    rows = _site(200) + [("5.5.5.5", 5000 + 7200 * s + k, "GET", p, 404)
                         for s in range(3) for k, p in enumerate(probes)]
    t = duckdb_engine.load(_requests(rows), "web_requests")
    detector = WebSessionDetector().fit(t, duckdb_engine)
    findings = detector.detect(detector.score(t))
    assert [f.actors["ips"] for f in findings] == [["5.5.5.5"]]
    f = findings[0]
    assert f.evidence["sessions"] == 3 and len(f.evidence["session_list"]) == 3
    assert len(f.event_ids) == 9 and "over 3 sessions" in f.title
    assert sorted(f.evidence["probed_paths"]) == sorted(f"GET {p}" for p in probes)


def test_pacing_is_measured_on_pages_from_real_elapsed_time(duckdb_engine):
    """50 page requests in 22 s is far above a reader's pace; page assets do not count."""
    bot = [("9.9.9.9", round(22 * k / 49), "GET", f"/w{k}", 404) for k in range(50)]
    reader = []
    for k, start in enumerate([0, 20, 95, 110, 260, 300, 420, 430, 560, 600, 700]):
        reader += [("8.8.8.8", start, "GET", f"/page{k}", 200)]
        reader += [("8.8.8.8", start + 1, "GET", f"/static/{k}.{ext}", 200) for ext in ("css", "js", "png")]
    t = duckdb_engine.load(_requests(bot + reader), "web_requests")
    df = duckdb_engine.to_pandas(session_stats(sessionize(t))).set_index("client_ip")
    assert df.loc["9.9.9.9", "rpm"] == pytest.approx(49 * 60 / 22) and bool(df.loc["9.9.9.9", "machine_paced"])
    assert df.loc["8.8.8.8", "pages"] == 11 and df.loc["8.8.8.8", "requests"] == 44
    assert df.loc["8.8.8.8", "rpm"] == pytest.approx(10 * 60 / 700)
    assert not bool(df.loc["8.8.8.8", "machine_paced"])


def test_a_stale_landing_followed_by_reading_is_medium_a_lone_probe_high(duckdb_engine):
    rows = _site(200)
    rows += [("7.7.7.7", 9000, "GET", "/blog/2018/01/removed.html", 404),   # old search result, then reads
             ("7.7.7.7", 9030, "GET", "/blog/", 200), ("7.7.7.7", 9090, "GET", "/about/", 200)]
    rows += [("6.6.6.6", 9000, "GET", "/.git/config", 404), ("6.6.6.6", 9002, "GET", "/", 200)]
    t = duckdb_engine.load(_requests(rows), "web_requests")
    detector = WebSessionDetector().fit(t, duckdb_engine)
    per = detector.score(t).per_client().set_index("client_ip")
    assert per.loc["7.7.7.7", "risk"] == "medium"
    assert per.loc["6.6.6.6", "risk"] == "high"  # the home page afterwards is not reading the site


def test_fitting_on_a_baseline_window_scores_later_traffic(duckdb_engine):
    from tracehound.web.scoring import split_baseline

    early = _site(100)                                                     # first 1,000 s
    late = [("9.9.9.9", 5000, "GET", "/", 200), ("9.9.9.9", 5010, "GET", "/blog/", 200),
            ("9.9.9.9", 5020, "GET", "/blog/posts/1", 200), ("9.9.9.9", 5030, "GET", "/admin/", 403),
            ("9.9.9.9", 5031, "GET", "/admin/login", 404)]
    t = duckdb_engine.load(_requests(early + late), "web_requests")
    detector = WebSessionDetector().fit(split_baseline(t, T0 + timedelta(seconds=4000)), duckdb_engine)
    assert detector.n_clients_ == 100                                      # the late client is not in the model
    scores = detector.score(t)
    df = duckdb_engine.to_pandas(scores.transitions)
    late_rows = df[df.client_ip == "9.9.9.9"].set_index("state")
    assert late_rows.loc["GET /blog/", "risk"] == LOW                      # a route the baseline knows
    # two rare refusals in one session: both are HIGH, the first although it followed a served page
    assert late_rows.loc["GET /admin/", "risk"] == HIGH
    assert late_rows.loc["GET /admin/login", "risk"] == HIGH
    assert scores.high_ips() == ["9.9.9.9"]


def _scanner(ip: str, start: int, ua: str | None = "Mozilla/5.0") -> list[tuple]:
    return [(ip, start + k, "GET", p, 404, ua) for k, p in enumerate(["/.env", "/.git/config", "/backup.zip"])]


def test_score_twice_then_detect_the_first_is_unchanged(engine):
    t = engine.load(_requests(_site(100) + _scanner("5.5.5.5", 5000)), "web_requests")
    other = engine.load(_requests(_site(20) + _scanner("6.6.6.6", 7000) + _scanner("7.7.7.7", 8000)),
                        "web_requests")
    detector = WebSessionDetector(min_severity="medium").fit(t, engine)
    first = detector.score(t)
    before = [f.to_dict() for f in detector.detect(first)]
    state = dict(vars(detector))
    second = detector.score(other)
    assert vars(detector).keys() == state.keys() and all(vars(detector)[k] is v for k, v in state.items())
    assert [f.to_dict() for f in detector.detect(first)] == before
    assert [f["actors"]["ips"] for f in before] == [["5.5.5.5"]]
    assert sorted(f.actors["ips"][0] for f in detector.detect(second)) == ["6.6.6.6", "7.7.7.7"]
    assert first.high_ips() == ["5.5.5.5"] and second.high_ips() == ["6.6.6.6", "7.7.7.7"]


def test_per_client_counts_sessions_by_risk_with_risk_names(engine):
    rows = _site(50) + _scanner("5.5.5.5", 5000)
    rows += [("5.5.5.5", 9000, "GET", "/", 200), ("5.5.5.5", 9020, "GET", "/blog/", 200)]  # later, benign
    t = engine.load(_requests(rows), "web_requests")
    scores = WebSessionDetector().fit(t, engine).score(t)
    ips = scores.per_client()
    assert ips.columns.tolist() == ["client_ip", "risk", "score", "sessions", "high_sessions", "medium_sessions",
                                    "requests", "first_seen", "last_seen"]
    assert ips["client_ip"].tolist() == sorted(ips["client_ip"])
    assert set(ips["risk"]) == {"high", "low"}
    row = ips.set_index("client_ip").loc["5.5.5.5"]
    assert (row["risk"], row["sessions"], row["high_sessions"], row["requests"]) == ("high", 2, 1, 5)
    assert row["last_seen"] - row["first_seen"] == timedelta(seconds=9020 - 5000)
    assert scores.high_ips() == ips.loc[ips["risk"] == "high", "client_ip"].tolist() == ["5.5.5.5"]


def test_findings_name_the_client_as_actor_without_a_missing_user_agent(duckdb_engine):
    t = duckdb_engine.load(_requests(_site(100) + _scanner("5.5.5.5", 5000, ua=None)), "web_requests")
    detector = WebSessionDetector().fit(t, duckdb_engine)
    (f,) = detector.detect(detector.score(t))
    assert f.actors == {"ips": ["5.5.5.5"]} and f.targets == {} and f.entities == {"ips": ["5.5.5.5"]}
    assert "(user agent '-')" in f.explanation
    with pytest.raises(TypeError, match="WebScores"):
        detector.detect(t)


@pytest.mark.parametrize("param, value", [
    ("gap_minutes", "x"), ("gap_minutes", 0), ("gap_minutes", float("nan")), ("max_session_hours", -1),
    ("client", "cookie"), ("fold_static", "yes"), ("alpha", 0), ("vouch", "everyone"),
    ("rare_fraction", 1.0), ("rare_fraction", "0.1"), ("min_support", 0), ("min_support", 1.5),
    ("home_paths", "/"), ("canary_paths", [""]), ("canary_paths", ["/private/", 3]), ("window", 0),
    ("window", True), ("min_severity", "urgent"), ("max_findings", 0),
])
def test_validate_names_the_bad_parameter(duckdb_engine, param, value):
    detector = WebSessionDetector(**{param: value})
    with pytest.raises(ConfigError, match=param):
        detector.validate()
    t = duckdb_engine.load(_requests(_site(2)), "web_requests")
    with pytest.raises(ConfigError, match=param):
        detector.fit(t, duckdb_engine)
    assert not hasattr(detector, "engine_")


def test_hunt_entry_builds_validated_unfitted_detectors_and_declares_the_kind():
    from tracehound.web import HUNTS, KINDS

    (entry,) = HUNTS
    assert (entry.section, entry.table, entry.kinds) == ("web", "web_requests", ("web_session",))
    assert entry.parameters() == set(vars(WebSessionDetector()))
    WebSessionDetector().validate()
    detector = entry.make({"gap_minutes": 10, "canary_paths": ["/private/"]}, "[web]")
    assert isinstance(detector, WebSessionDetector) and detector.gap_minutes == 10
    assert not hasattr(detector, "engine_")
    with pytest.raises(ConfigError, match=r"\[web\]: min_severity"):
        entry.make({"min_severity": "urgent"}, "[web]")
    (kind,) = KINDS
    assert kind.name == "web_session" and kind.hunt == entry.section and kind.table == entry.table
    assert kind.blockable and kind.actors == ("ips", "user_agents") and kind.targets == ()


@pytest.mark.parametrize("seed", [0, 1])
@pytest.mark.parametrize("client,fold_static", [("ip_ua", True), ("ip", True), ("ip_ua", False), ("ip", False)])
def test_the_hunts_sessions_equal_the_plain_per_session_reference(duckdb_engine, seed, client, fold_static):
    """The hunt keys sessions by client number and takes pacing from its transitions; its session
    table must hold exactly what sessionising by ``session_id`` text and measuring the pages gives,
    for both client keys and with assets folded or not (those take other paths in the hunt)."""
    import random

    rng = random.Random(seed)
    rows = []
    for v in range(rng.randint(20, 40)):
        ip = f"10.1.{v % 7}.{v // 7 + 1}"             # several clients share an address ...
        agent = rng.choice(["Mozilla/5.0", "curl/8.0", None])  # ... told apart (or not) by the agent
        t = rng.randint(0, 5000)
        for _ in range(rng.randint(1, 25)):
            t += rng.choice([0, 1, 5, 30, 400, 2500])  # ties, bursts, reading, and > 30 min pauses
            path = rng.choice(["/", "/blog/", f"/blog/posts/{rng.randint(1, 9)}", "/x.css", "/logo.png", "/.env"])
            rows.append((ip, t, "GET", path, 404 if path == "/.env" else 200, agent))
    t = duckdb_engine.load(_requests(rows), "web_requests")
    detector = WebSessionDetector(client=client, fold_static=fold_static, gap_minutes=20, max_session_hours=1)
    got = duckdb_engine.to_pandas(detector.fit(t, duckdb_engine).score(t).sessions).set_index("session_id")
    want = duckdb_engine.to_pandas(session_stats(sessionize(
        t, gap=timedelta(minutes=20), max_length=timedelta(hours=1), client=client))).set_index("session_id")
    # a session without pages has no transitions with assets folded, so no score
    want = want[want["pages"] > 0] if fold_static else want
    assert sorted(got.index) == sorted(want.index) and len(got) > 20
    cols = ["client_ip", "first_seen", "last_seen", "requests", "duration_s", "pages", "pause_mean", "pause_std",
            "rpm", "gap_cv", "machine_paced"]
    pd.testing.assert_frame_equal(got.loc[want.index, cols], want[cols], check_dtype=False)
    if client == "ip_ua":  # one agent per client: the client's agent is every request's
        assert got.loc[want.index, "user_agent"].fillna("-").tolist() == want["user_agent"].fillna("-").tolist()
