"""The labelled sign-in simulator: valid SigninLogs, complete labels, campaigns that do what their knobs say."""

from __future__ import annotations

import datetime as dt
import gzip
import re
from pathlib import Path

import numpy as np
import orjson
import pandas as pd
import pyarrow.parquet as pq
import pytest
from scipy import stats
from typer.testing import CliRunner

from tracehound.cli import app
from tracehound.errors import ConfigError
from tracehound.simulate.attacks import BruteForce, FastSpray, LowAndSlowSpray
from tracehound.simulate.confounders import StaleCredential
from tracehound.simulate.presets import default_campaigns
from tracehound.simulate.signins import ExtraRecord, simulate_signins, tenant_user_names

START = dt.datetime(2024, 1, 1, tzinfo=dt.timezone.utc)
DAYS, USERS, SEED = 30, 150, 3
CAMPAIGNS = [
    LowAndSlowSpray("only-ip", start_day=3, end_day=27, attempts_per_day=6, dormant_gaps=1, dormant_days=(2, 4),
                    targets=40, ip_pool=300, ua_source="odd", ua_pool=1, client_app="IMAP4",
                    app="Office 365 Exchange Online", successes=2),
    LowAndSlowSpray("browsers-home", start_day=5.5, end_day=20.25, attempts_per_day=8, targets=30, ip_pool=100,
                    home_ip_share=0.4, home_ip_pool=20, ua_source="browsers", ua_pool=12, client_app="Browser",
                    app=None, successes=3),
    LowAndSlowSpray("one-a-day", start_day=1, end_day=29, attempts_per_day=1, targets=10, ip_pool=50,
                    ua_source="odd", ua_pool=2, client_app="Authenticated SMTP", successes=1),
    FastSpray("fast", start_day=12.4, duration_minutes=10, targets=60),
    BruteForce("brute", start_day=17.7, duration_minutes=5, attempts=120, lockout_after=8, bursts=2,
               burst_gap_days=3),
    LowAndSlowSpray("rotating", start_day=2, end_day=28, attempts_per_day=12, targets=80, ip_pool=60,
                    exit_countries=("NL", "SE", "CH", "MD", "PA"), ua_source="odd", ua_pool=4,
                    client_app=("IMAP4", "Authenticated SMTP", "POP3"),
                    app=("Microsoft Azure CLI", "Graph Explorer"), successes=1),
    BruteForce("brute-three", start_day=9.2, duration_minutes=8, attempts=90, victims=3, interleaved=True,
               ip_count=3, lockout_after=6),
    StaleCredential("svc-printer", change_day=12.0, success_days=3.0, fail_days=6.0, period_minutes=15.0,
                    jitter_seconds=10.0, missed_share=0.05, retry_share=0.05, source="office",
                    client_app="Authenticated SMTP"),
]
REQUIRED = ("Id", "TimeGenerated", "CreatedDateTime", "UserPrincipalName", "UserDisplayName", "UserId", "ResultType",
            "ResultDescription", "IPAddress", "Location", "LocationDetails", "DeviceDetail", "AppDisplayName", "AppId",
            "ClientAppUsed", "UserAgent", "IsInteractive", "Status", "Type", "Category")
ISO = re.compile(r"^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z$")
GUID = re.compile(r"^[0-9a-f]{8}-[0-9a-f]{4}-4[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}$")


def _records(paths: list[Path]) -> list[dict]:
    out = []
    for path in paths:
        raw = gzip.decompress(path.read_bytes()) if path.suffix == ".gz" else path.read_bytes()
        out += [orjson.loads(line) for line in raw.splitlines()]
    return out


def _frame(records: list[dict]) -> pd.DataFrame:
    df = pd.DataFrame({
        "id": [r["Id"] for r in records], "time": pd.to_datetime([r["TimeGenerated"] for r in records], utc=True),
        "user": [r["UserPrincipalName"] for r in records], "result": [int(r["ResultType"]) for r in records],
        "ip": [r["IPAddress"] for r in records], "country": [r["Location"] for r in records],
        "ua": [r["UserAgent"] for r in records], "client": [r["ClientAppUsed"] for r in records],
        "app": [r["AppDisplayName"] for r in records],
    })
    return df


@pytest.fixture(scope="module")
def sim(tmp_path_factory):
    out = tmp_path_factory.mktemp("sim")
    result = simulate_signins(out, users=USERS, days=DAYS, seed=SEED, campaigns=CAMPAIGNS, gzip=True, files=4)
    records = _records(result.paths)
    labels = pd.read_csv(result.labels_path, dtype={"event_id": str, "label": str, "kind": str})
    df = _frame(records).merge(labels, left_on="id", right_on="event_id", how="left", validate="1:1")
    return result, records, df, orjson.loads(result.campaigns_path.read_bytes())


def test_same_seed_gives_byte_identical_output_and_another_seed_does_not(tmp_path):
    def run(name, seed, **kw):
        r = simulate_signins(tmp_path / name, users=60, days=10, seed=seed, **kw)
        return [p.read_bytes() for p in [*r.paths, r.labels_path, r.campaigns_path]]

    assert run("a", 5, gzip=True, files=3) == run("b", 5, gzip=True, files=3)
    assert run("c", 5, fmt="parquet") == run("d", 5, fmt="parquet")
    assert run("e", 6, gzip=True, files=3) != run("a", 5, gzip=True, files=3)


def test_every_line_is_valid_signinlogs(sim):
    result, records, _, _ = sim
    assert len(records) == result.n_events > 0
    for rec in records:
        missing = [k for k in REQUIRED if k not in rec]
        assert not missing, missing
        assert ISO.match(rec["TimeGenerated"]) and rec["CreatedDateTime"] == rec["TimeGenerated"]
        assert GUID.match(rec["Id"])
        assert isinstance(rec["ResultType"], str) and rec["Status"]["errorCode"] == int(rec["ResultType"])
        assert rec["LocationDetails"]["countryOrRegion"] == rec["Location"]
        assert {"operatingSystem", "browser", "displayName"} <= set(rec["DeviceDetail"])
        assert rec["Type"] == "SigninLogs" and rec["Category"] == "SignInLogs"
        assert isinstance(rec["IsInteractive"], bool)
    times = [r["TimeGenerated"] for r in records]
    assert times == sorted(times), "records are in time order across files"
    assert len({r["Id"] for r in records}) == len(records)


def test_labels_cover_every_event_exactly_once(sim):
    result, records, df, _ = sim
    labels = pd.read_csv(result.labels_path, dtype={"event_id": str})
    assert list(labels.columns) == ["event_id", "label", "kind", "success"]
    assert labels.event_id.is_unique and set(labels.event_id) == {r["Id"] for r in records}
    assert (df.success == (df.result == 0)).all()
    assert set(df.label) == {"benign", *(c.name for c in CAMPAIGNS)}
    assert (df[df.label == "benign"].kind.isin(
        ["benign", "typo", "expired_password", "mfa_interrupt", "traveller", "new_device", "service_account"])).all()
    assert (df[df.label == "svc-printer"].kind == "stale_credential").all()


def test_low_and_slow_attempts_fall_in_their_window_at_the_configured_rate(sim):
    _, _, df, meta = sim
    described = {c["name"]: c for c in meta["campaigns"]}
    for c in CAMPAIGNS:
        if not isinstance(c, LowAndSlowSpray):
            continue
        ev = df[df.label == c.name]
        days = (ev.time - START).dt.total_seconds().to_numpy() / 86400
        assert (ev.kind == "low_and_slow_spray").all()
        assert days.min() >= c.start_day and days.max() <= c.end_day
        assert pd.Timestamp(described[c.name]["first_seen"]) == ev.time.min()
        assert pd.Timestamp(described[c.name]["last_seen"]) == ev.time.max()
        intervals = described[c.name]["active_intervals_days"]
        inside = np.zeros(len(days), bool)
        for a, b in intervals:
            inside |= (days >= a) & (days <= b)
        assert inside.all(), "no attempt during a dormant gap"
        gaps = [b0 - a1 for (_, a1), (b0, _) in zip(intervals, intervals[1:])]
        assert len(gaps) == c.dormant_gaps
        assert all(c.dormant_days[0] <= g <= c.dormant_days[1] for g in gaps)
        active = (c.end_day - c.start_day) - sum(gaps)
        assert len(ev) / active == pytest.approx(c.attempts_per_day, rel=0.05)
        # Evenly spread over the active time: KS against uniform on the active timeline.
        cum = np.cumsum([0] + [b - a for a, b in intervals])
        pos = np.array([cum[i] + d - intervals[i][0] for d in days
                        for i in [next(k for k, (a, b) in enumerate(intervals) if a <= d <= b)]])
        assert stats.kstest(pos / cum[-1], "uniform").statistic < 0.15
        per_user = ev.groupby("user").size()
        assert len(per_user) <= c.targets and per_user.max() <= -(-len(ev) // c.targets) + 1


def test_campaigns_randomise_exactly_the_fields_they_declare(sim):
    _, _, df, _ = sim
    column = {"ip": "ip", "user_agent": "ua", "client_app": "client", "app": "app", "country": "country"}
    for c in CAMPAIGNS:
        if not isinstance(c, LowAndSlowSpray):
            continue
        ev = df[df.label == c.name]
        declared = set(c.randomised_fields())
        for name, col in column.items():
            distinct = ev[col].nunique()
            assert (distinct > 1) == (name in declared), (c.name, name, distinct)
        assert ev.ua.nunique() <= c.ua_pool
        assert ev.ip.nunique() <= c.ip_pool + (c.home_ip_pool if c.home_ip_share else 0)
        if isinstance(c.client_app, str):
            assert set(ev.client) == {c.client_app}
        for name, values in c.rotated_fields().items():  # every value of the set is used, nothing else
            assert set(ev[column[name]]) == set(values), (c.name, name)
        if c.home_ip_share:
            assert (ev.country == "US").mean() == pytest.approx(c.home_ip_share, abs=0.12)
        elif c.exit_countries:
            assert set(ev.country) == set(c.exit_countries)
        else:
            assert not ev.country.isin(["US", "GB", "DE", "IN"]).any(), "hosting IPs outside the home countries"
    assert df[df.label == "browsers-home"].ua.str.startswith("Mozilla/5.0").all()


def test_successes_exist_carry_the_label_and_share_the_fingerprint(sim):
    _, _, df, meta = sim
    described = {c["name"]: c for c in meta["campaigns"]}
    for c in CAMPAIGNS:
        if isinstance(c, StaleCredential):
            continue  # its successes are its own, before the password changed
        ev = df[df.label == c.name]
        won = ev[ev.result == 0]
        assert len(won) == (c.successes if not isinstance(c, BruteForce) else 0)
        assert won.success.all()
        failed = ev[ev.result != 0]
        assert set(won.ua) <= set(failed.ua) and set(won.client) <= set(failed.client)
        assert sorted(won.user) == described[c.name]["compromised_users"] if len(won) else True
        assert won.user.is_unique
    spray = df[df.label == "only-ip"]
    assert set(spray.result) <= {0, 50126, 50053, 50055} and (spray.result == 50126).mean() > 0.8


def test_fast_spray_and_brute_force_have_their_shape(sim):
    _, records, df, _ = sim
    fast = df[df.label == "fast"]
    fast_records = [r for r in records if r["Id"] in set(fast.id)]
    assert {r["DeviceDetail"]["browser"] for r in fast_records} == {"Python Requests 2.31"}
    assert fast.ip.nunique() == 1 and fast.user.nunique() == len(fast) == 60
    assert (fast.time.max() - fast.time.min()) <= pd.Timedelta(minutes=10)
    brute = df[df.label == "brute"].sort_values("time")
    assert brute.user.nunique() == 1 and brute.ip.nunique() == 1 and len(brute) == 240
    for burst in (brute.iloc[:120], brute.iloc[120:]):
        assert (burst.result.iloc[:8] == 50126).all() and (burst.result.iloc[8:] == 50053).mean() > 0.7
        assert (burst.time.max() - burst.time.min()) <= pd.Timedelta(minutes=5)
    assert brute.time.iloc[120] - brute.time.iloc[0] >= pd.Timedelta(days=3) - pd.Timedelta(minutes=5)


def test_rotation_picks_each_value_per_attempt_at_random_over_the_whole_window(sim):
    """A rotating campaign's values are drawn per attempt: every value spans the window, the value does
    not depend on the time (χ² over four time quarters) and the realised shares are recorded."""
    _, _, df, meta = sim
    ev = df[(df.label == "rotating") & (df.result != 0)].sort_values("time")
    described = next(c for c in meta["campaigns"] if c["name"] == "rotating")
    assert set(described["rotated_shares"]) == {"client_app", "app", "country"}
    quarter = pd.cut(ev.time.rank(method="first"), 4, labels=False)
    for name, column in (("client_app", "client"), ("app", "app"), ("country", "country")):
        shares = described["rotated_shares"][name]
        assert sum(shares.values()) == pytest.approx(1.0, abs=1e-3)
        table = pd.crosstab(ev[column], quarter)
        assert stats.chi2_contingency(table)[1] > 1e-4, name
        assert (table > 0).sum(axis=1).min() >= 3, "every value comes back through the window"
    assert len(set(described["user_agents"])) == 4


def test_brute_force_on_several_accounts_comes_from_one_network(sim):
    _, _, df, meta = sim
    ev = df[df.label == "brute-three"].sort_values("time")
    described = next(c for c in meta["campaigns"] if c["name"] == "brute-three")
    assert ev.user.nunique() == 3 and set(described["victims"]) == set(ev.user)
    assert ev.ip.str.rsplit(".", n=1).str[0].nunique() == 1 and 1 <= ev.ip.nunique() <= 3
    assert ev.ua.nunique() == 1 and (ev.time.max() - ev.time.min()) <= pd.Timedelta(minutes=8)
    for _, mine in ev.groupby("user"):
        assert (mine.result.iloc[:6] == 50126).all() and len(mine) >= 6
    assert sorted(described["victims"].values()) == sorted(ev.groupby("user").size().tolist())


def test_stale_credential_fails_on_its_clock_from_the_office(sim):
    _, _, df, _ = sim
    ev = df[df.label == "svc-printer"].sort_values("time")
    assert ev.user.nunique() == 1 and ev.ip.nunique() == 1
    ok, failed = ev[ev.result == 0], ev[ev.result != 0]
    assert len(ok) and len(failed) > 300 and ok.time.max() < failed.time.min() and set(failed.result) == {50126}
    gaps = failed.time.diff().dt.total_seconds().dropna()
    cycles = gaps[gaps > 60]
    assert cycles.median() == pytest.approx(900, abs=30)
    office = df[(df.kind == "benign") & (df.ip == ev.ip.iloc[0])]
    assert office.user.nunique() >= 2, "the office address is the tenant's: other users sign in from it"


def test_confounders_are_present_and_behave_like_the_real_thing(sim):
    _, _, df, _ = sim
    kinds = set(df.kind)
    assert {"typo", "expired_password", "mfa_interrupt", "traveller", "new_device", "service_account"} <= kinds
    ordered = df.sort_values("time")
    typos = ordered[ordered.kind == "typo"]
    assert (typos.result == 50126).all()
    for _, t in typos.head(40).iterrows():
        after = ordered[(ordered.user == t.user) & (ordered.time > t.time)
                        & (ordered.time <= t.time + pd.Timedelta(minutes=6)) & (ordered.result == 0)]
        assert ((after.ip == t.ip) & (after.ua == t.ua)).any(), "a typo is followed by a success from the same place"
    svc = ordered[ordered.kind == "service_account"]
    assert svc.ip.nunique() == 1 and svc.user.nunique() == 1
    failing = svc[svc.result == 50126]
    assert len(failing) > 100 and (svc[svc.result == 0].time.max() < failing.time.min())
    gaps = failing.time.diff().dt.total_seconds().dropna()
    assert gaps.median() == pytest.approx(1800, abs=45) and gaps.max() < 1900
    home = df[df.kind == "benign"].groupby("user").country.agg(lambda s: s.mode()[0])
    travel = df[df.kind == "traveller"]
    assert (travel.country != travel.user.map(home)).all()
    assert set(df[df.kind == "expired_password"].result) == {50055}
    assert set(df[df.kind == "mfa_interrupt"].result) <= {50074, 50140, 500121}


def test_no_confounders_leaves_only_ordinary_sign_ins_and_attacks(tmp_path):
    r = simulate_signins(tmp_path, users=50, days=10, seed=1, confounders=False, difficulty="easy")
    assert set(r.counts_by_kind) == {"benign", "low_and_slow_spray", "fast_spray", "brute_force", "stale_credential"}
    labels = pd.read_csv(r.labels_path)
    assert not labels[labels.label == "benign"].success.eq(False).any(), "benign means success without noise"


def test_default_campaign_presets():
    std = default_campaigns(0, "standard")
    slow = [c for c in std if isinstance(c, LowAndSlowSpray)]
    assert len(slow) >= 3 and {type(c) for c in std} == {LowAndSlowSpray, FastSpray, BruteForce, StaleCredential}
    brutes = [c for c in std if isinstance(c, BruteForce)]
    assert len(brutes) == 2 and all(2 <= c.victims <= 5 for c in brutes)
    assert any(set(c.randomised_fields()) == {"ip", "ip_prefix", "country", "city"} for c in slow)
    assert any(c.ua_source == "odd" and c.ua_pool > 1 for c in slow)
    assert any(c.ua_source == "browsers" and c.ua_pool >= 24 and c.home_ip_share > 0 for c in slow)
    assert any(c.attempts_per_day <= 1.0 for c in slow)
    assert default_campaigns(0, "standard") == std and default_campaigns(1, "standard") != std
    # The rotating campaigns: their sets are the sizes and differ from seed to seed.
    sets = []
    for seed in range(6):
        rotating = {c.name: c.rotated_fields() for c in default_campaigns(seed, "standard")
                    if isinstance(c, LowAndSlowSpray) and c.rotated_fields()}
        assert 2 <= len(rotating["spray-rotate-legacy"]["client_app"]) <= 4
        assert 2 <= len(rotating["spray-rotate-admin"]["app"]) <= 3
        assert 4 <= len(rotating["spray-rotate-exit"]["country"]) <= 8
        assert all(3 <= c.ua_pool <= 6 for c in default_campaigns(seed, "standard") if c.name.startswith("spray-rot"))
        sets.append(tuple(sorted(map(str, rotating.items()))))
    assert len(set(sets)) == 6, "no one set of values to learn"
    assert default_campaigns(0, "none") == []
    assert all(default_campaigns(2, d) for d in ("easy", "hard"))
    with pytest.raises(ConfigError, match="difficulty"):
        default_campaigns(0, "impossible")


def test_external_records_are_merged_in_time_order_with_their_labels(tmp_path):
    users = tenant_user_names(40, 2)
    extras = [ExtraRecord({"Id": f"ext-{k}", "TimeGenerated": f"2024-01-0{k + 2}T10:00:00Z", "ResultType": rt,
                           "UserPrincipalName": users[k], "IPAddress": "2a09:bac5:111::1",
                           "DeviceDetail": {"browser": "Python Requests 2.28"}}, label="m365-run", kind="external")
              for k, rt in enumerate([50126, 50126, 0])]
    r = simulate_signins(tmp_path / "j", users=40, days=6, seed=2, difficulty="none", extra_records=extras)
    records = _records(r.paths)
    assert [x["Id"] for x in records if x["Id"].startswith("ext-")] == ["ext-0", "ext-1", "ext-2"]
    times = [pd.Timestamp(x["TimeGenerated"]) for x in records]
    assert times == sorted(times)
    assert next(x for x in records if x["Id"] == "ext-0")["DeviceDetail"] == {"browser": "Python Requests 2.28"}
    labels = pd.read_csv(r.labels_path).set_index("event_id")
    assert labels.loc[["ext-0", "ext-1", "ext-2"], "label"].tolist() == ["m365-run"] * 3
    assert labels.loc[["ext-0", "ext-1", "ext-2"], "success"].tolist() == [False, False, True]
    pq_run = simulate_signins(tmp_path / "p", users=40, days=6, seed=2, difficulty="none", extra_records=extras,
                              fmt="parquet")
    table = pq.read_table(pq_run.paths[0]).to_pandas().set_index("Id")
    assert orjson.loads(table.loc["ext-0", "DeviceDetail"]) == {"browser": "Python Requests 2.28"}
    assert table.loc["ext-2", "ResultType"] == "0"


def test_parquet_output_has_signinlogs_columns_with_dynamic_fields_as_json(tmp_path):
    r = simulate_signins(tmp_path, users=40, days=7, seed=4, fmt="parquet", files=2, difficulty="easy")
    table = pq.read_table(r.paths).to_pandas() if len(r.paths) == 1 else \
        pd.concat([pq.read_table(p).to_pandas() for p in r.paths])
    assert set(REQUIRED) <= set(table.columns) and len(table) == r.n_events
    labels = pd.read_csv(r.labels_path)
    assert list(table.Id) == list(labels.event_id)
    for col in ("LocationDetails", "DeviceDetail", "Status"):
        assert all(isinstance(orjson.loads(v), dict) for v in table[col].head(200))
    assert (table.ResultType.astype(int).eq(0) == labels.success.to_numpy()).all()


def test_split_by_minutes_writes_one_file_per_non_empty_window(tmp_path):
    r = simulate_signins(tmp_path, users=30, days=2, seed=0, difficulty="none", file_minutes=60, gzip=True)
    assert 10 < len(r.paths) <= 48 and all(p.name.endswith(".jsonl.gz") for p in r.paths)
    for p in r.paths[:5]:
        stamp = dt.datetime.strptime(p.name.split("-")[1].split(".")[0], "%Y%m%dT%H%M%SZ").replace(
            tzinfo=dt.timezone.utc)
        times = [pd.Timestamp(x["TimeGenerated"]) for x in _records([p])]
        assert all(stamp - pd.Timedelta(minutes=10) <= t < stamp + pd.Timedelta(hours=1) for t in times)


def test_bad_arguments_raise_config_errors(tmp_path):
    with pytest.raises(ConfigError, match="format"):
        simulate_signins(tmp_path, users=10, days=2, fmt="xml")
    with pytest.raises(ConfigError, match="unique"):
        simulate_signins(tmp_path, users=10, days=2, campaigns=[FastSpray("x"), FastSpray("x")])
    with pytest.raises(ConfigError, match="outside"):
        simulate_signins(tmp_path, users=10, days=2, campaigns=[LowAndSlowSpray("late", start_day=5, end_day=9)])


def test_cli_prints_what_it_wrote_and_errors_are_one_line(tmp_path):
    runner = CliRunner()
    res = runner.invoke(app, ["simulate", "signins", "--users", "40", "--days", "5", "--seed", "1",
                              "--out", str(tmp_path), "--files", "2", "--quiet"])
    assert res.exit_code == 0, res.output
    assert "events" in res.output and "spray-ip-only" in res.output
    assert (tmp_path / "labels.csv").exists() and len(list(tmp_path.glob("SigninLogs-*.jsonl"))) == 2
    bad = runner.invoke(app, ["simulate", "signins", "--out", str(tmp_path), "--difficulty", "nope", "--quiet"])
    assert bad.exit_code == 2 and "Traceback" not in bad.output


@pytest.mark.parametrize("fmt", ["jsonl", "parquet"])
@pytest.mark.parity
def test_output_reads_through_the_signin_reader_with_counts_matching_the_labels(engine, tmp_path, fmt):
    from tracehound.readers.signins import read_signins

    r = simulate_signins(tmp_path, users=60, days=20, seed=8, fmt=fmt, gzip=fmt == "jsonl", files=3,
                         campaigns=CAMPAIGNS[2:])
    table, report = read_signins(r.paths, engine)
    assert report.bad_count == 0 and not report.unreadable_files
    got = engine.to_pandas(table.aggregate(n=table.count(), ids=table.event_id.nunique(),
                                           failures=(~table.success).sum().cast("int64"),
                                           smtp=(table.client_app == "Authenticated SMTP").sum().cast("int64"),
                                           no_country=table.country.isnull().sum().cast("int64"))).iloc[0]
    labels = pd.read_csv(r.labels_path)
    spray_or_svc = labels.label.eq("one-a-day") | labels.kind.eq("service_account")
    assert got.n == got.ids == len(labels) == r.n_events
    assert got.failures == (~labels.success).sum()
    assert got.smtp >= spray_or_svc.sum() and got.no_country == 0


def test_a_real_m365_spray_run_spread_over_weeks_inside_the_tenant(tmp_path, data_dir):
    from tracehound.simulate.signins import m365_to_signinlogs, spread_records

    raw = [orjson.loads(line) for line in
           (data_dir / "m365-spray" / "t1110.003_msolspray-python.json").read_bytes().splitlines() if line.strip()]
    users = tenant_user_names(60, 4)
    extras = spread_records([m365_to_signinlogs(r) for r in raw], first_day=5, last_day=25, seed=1,
                            users=users, label="msolspray-python")
    r = simulate_signins(tmp_path, users=60, days=30, seed=4, difficulty="none", extra_records=extras)
    ids = {x["Id"] for x in raw}
    injected = [x for x in _records(r.paths) if x["Id"] in ids]
    assert len(injected) == len(raw)
    days = [(pd.Timestamp(x["TimeGenerated"]) - START).total_seconds() / 86400 for x in injected]
    assert 5 <= min(days) and max(days) < 25 and max(days) - min(days) > 10, "spread over weeks, not minutes"
    assert {x["UserPrincipalName"] for x in injected} <= set(users)
    assert {x["UserAgent"] for x in injected} == {"python-requests/2.28.2"}
    labels = pd.read_csv(r.labels_path)
    mine = labels[labels.event_id.isin(ids)]
    assert set(mine.label) == {"msolspray-python"} and set(mine.kind) == {"low_and_slow_spray"}
    assert mine.success.sum() == sum(x["Operation"] == "UserLoggedIn" for x in raw) == 1
    with pytest.raises(ConfigError, match="Id"):
        simulate_signins(tmp_path / "dup", users=20, days=5, difficulty="none", extra_records=extras + extras[:1])


def test_rerun_into_the_same_folder_replaces_the_previous_files(tmp_path):
    first = simulate_signins(tmp_path, users=30, days=4, seed=1, files=4, difficulty="none")
    (tmp_path / "notes.txt").write_text("mine")
    second = simulate_signins(tmp_path, users=30, days=4, seed=1, files=1, difficulty="none")
    assert len(first.paths) == 4 and [p.name for p in second.paths] == ["SigninLogs.jsonl"]
    assert sorted(p.name for p in tmp_path.iterdir()) == ["SigninLogs.jsonl", "campaigns.json", "labels.csv",
                                                           "notes.txt"]


def test_vectorised_time_and_id_formatting_match_the_standard_library():
    from tracehound.simulate.writer import guid_matrix, iso_matrix

    rng = np.random.default_rng(0)
    ms = np.concatenate([[0, 86_399_999, 253_402_300_799_999], rng.integers(0, 253_402_300_799_999, 5000)])
    got = [bytes(row).decode() for row in iso_matrix(ms)]
    epoch = dt.datetime(1970, 1, 1, tzinfo=dt.timezone.utc)
    want = [(epoch + dt.timedelta(milliseconds=int(t))).isoformat(timespec="milliseconds").replace("+00:00", "Z")
            for t in ms]
    assert got == want
    ids = [bytes(row).decode() for row in guid_matrix(7, np.arange(20_000))]
    assert len(set(ids)) == len(ids) and all(GUID.match(i) for i in ids[:500])
    assert ids[:10] == [bytes(row).decode() for row in guid_matrix(7, np.arange(10))]
    assert ids[:10] != [bytes(row).decode() for row in guid_matrix(8, np.arange(10))]
