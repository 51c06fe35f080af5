"""The rules that make a campaign whole, one at a time, each with the twin it must not merge.

- :func:`tracehound.spray.tools.partition` keeps one tool that rotates its fields whole and keeps two
  tools in the same weeks apart (shared values or not);
- the rotation tests (:mod:`tracehound.spray.rotation`) accept a rotation and reject two windows or
  values tied to accounts; :func:`label_fields` calls a field rotated only when they pass;
- bursts are units of source and window (:func:`tracehound.spray.bursts._units`);
- a stale credential's clock (:func:`tracehound.spray.stale._periods`).

The data are drawn at random here (seeded), with the structure each rule is about and nothing else.
"""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from tracehound.spray.bursts import _units
from tracehound.spray.fingerprint import FingerprintRules, label_fields, rotation_candidates
from tracehound.spray.pruning import PruningRules
from tracehound.spray.rarity import field_rarity
from tracehound.spray.rotation import independence_p, rotation_aggregates, target_test, time_test
from tracehound.spray.stale import _periods
from tracehound.spray.tools import (AGENT_CONCENTRATION, OWN_AGENTS_PRIOR, TOOL_ALPHA, _Model, _pattern_sums,
                                    field_priors, partition)

#: What the hunt partitions on (``campaigns.separate_tools``): ``list`` is the account when it was
#: tried more than once, and one shared value when it was tried once.
FIELDS = ["client_app", "app", "user_agent", "country", "week", "hour", "list"]


def priors(codes: np.ndarray) -> tuple[list, tuple]:
    return field_priors(codes, tool=3, agent=True, context=1)


def tool(rng, n, *, clients, agents, countries, weeks, users, app="Exchange", hours=range(6), tag=""):
    """``n`` attempts of one tool: every field drawn per attempt, independently, from its own set."""
    pick = lambda values: [values[i] for i in rng.integers(len(values), size=n)]  # noqa: E731
    return pd.DataFrame({"client_app": pick(list(clients)), "app": app, "user_agent": pick(list(agents)),
                         "country": pick(list(countries)), "week": pick(list(weeks)), "hour": pick(list(hours)),
                         "user": pick(list(users)), "truth": tag})


def groups(frame: pd.DataFrame) -> pd.Series:
    """Run the partition on ``frame``'s distinct patterns; each attempt's group."""
    tries = frame.user.map(frame.user.value_counts())
    frame = frame.assign(list=frame.user.where(tries > 1, ""))
    pats = frame.groupby(FIELDS, sort=True).size().reset_index(name="n")
    codes = np.stack([pd.factorize(pats[c], sort=True)[0] for c in FIELDS], axis=1)
    alpha, either = priors(codes)
    pats["group"] = partition(codes, pats.n.to_numpy(), alpha=alpha, either=either, conjoin=(0, 1, 2)).labels
    return frame.merge(pats[[*FIELDS, "group"]], on=FIELDS, how="left").group


def purity_and_coverage(frame: pd.DataFrame, got: pd.Series) -> dict[str, tuple[float, float]]:
    out = {}
    for tag, mine in frame.groupby("truth"):
        best = got[mine.index].value_counts().index[0]
        held = got == best
        out[tag] = ((frame.truth[held] == tag).mean(), (got[mine.index] == best).mean())
    return out


HOSTING = [f"C{i}" for i in range(12)]


def test_a_tool_working_through_its_list_once_is_one_group():
    """A sprayer tries each account once, in list order: its first weeks and its last target disjoint
    accounts. That is one tool (its fields and cadence agree), never two split by time."""
    rng = np.random.default_rng(4)
    first = tool(rng, 60, clients=["IMAP4"], agents=["ua-1", "ua-2"], countries=HOSTING[:5], weeks=range(0, 2),
                 users=[f"u{i}" for i in range(60)], tag="tool")
    second = tool(rng, 60, clients=["IMAP4"], agents=["ua-1", "ua-2"], countries=HOSTING[:5], weeks=range(2, 4),
                  users=[f"u{i}" for i in range(60, 120)], tag="tool")
    frame = pd.concat([first, second], ignore_index=True).assign(user=[f"u{i}" for i in range(120)])  # once each
    assert groups(frame).nunique() == 1


def test_one_tool_rotating_several_fields_is_one_group():
    rng = np.random.default_rng(1)
    spray = tool(rng, 400, clients=("IMAP4", "Authenticated SMTP"), agents=("curl/8", "okhttp/4", "Go/1.1"),
                 countries=("NL", "SE", "CH", "MD", "PA"), weeks=range(2, 14),
                 users=[f"u{i}" for i in range(250)], tag="spray")
    got = groups(spray)
    assert got.nunique() == 1


def test_two_tools_in_the_same_weeks_stay_two_even_sharing_a_protocol():
    """The twin: IMAP4 is both tools', but each has its own agents, target list and exit countries."""
    rng = np.random.default_rng(2)
    a = tool(rng, 300, clients=("IMAP4",), agents=("python-requests/2.25",), countries=HOSTING,
             weeks=range(2, 12), users=[f"a{i}" for i in range(120)], tag="a")
    b = tool(rng, 220, clients=("IMAP4", "POP3", "Exchange Web Services"), agents=("axios/1.2", "Java/1.8", "curl/7"),
             countries=("NL", "SE", "CH", "MD"), weeks=range(3, 13), users=[f"b{i}" for i in range(200)], tag="b")
    frame = pd.concat([a, b], ignore_index=True)
    got = groups(frame)
    for tag, (purity, coverage) in purity_and_coverage(frame, got).items():
        assert purity >= 0.95 and coverage >= 0.95, (tag, purity, coverage)


def test_two_tools_that_differ_in_agent_and_cadence_only_stay_two():
    """Same client app, same exit countries, same app, the same weeks: one hits its short list again
    and again at night, the other sweeps a long list in office hours. Two tools."""
    rng = np.random.default_rng(3)
    a = tool(rng, 250, clients=("Authenticated SMTP",), agents=("BAV2ROPC",), countries=HOSTING, weeks=range(4, 14),
             hours=(0, 1), users=[f"a{i}" for i in range(60)], tag="a")
    b = tool(rng, 150, clients=("Authenticated SMTP",), agents=("Go-http-client/2.0",), countries=HOSTING,
             weeks=range(4, 14), hours=(2, 3), users=[f"b{i}" for i in range(150)], tag="b")
    frame = pd.concat([a, b], ignore_index=True)
    got = groups(frame)
    assert got.nunique() == 2
    for tag, (purity, coverage) in purity_and_coverage(frame, got).items():
        assert purity >= 0.95 and coverage >= 0.95, tag


def test_no_spurious_split_of_a_homogeneous_tool():
    """A small campaign re-hitting its accounts by chance: the search must not carve noise into tools."""
    for seed in range(4):
        rng = np.random.default_rng(10 + seed)
        frame = tool(rng, 120, clients=("Other clients",), agents=("BAV2ROPC",), countries=("NL", "DE", "RO", "BR"),
                     weeks=range(6), users=[f"u{i}" for i in range(100)])
        assert groups(frame).nunique() == 1, seed


@pytest.mark.parametrize("seed", range(5))
def test_a_group_scored_on_its_own_cells_scores_the_same_to_the_bit(seed):
    """The search scores groups and moves on the cells the groups use, not on every (field,
    value) cell (one per account tried twice: thousands in a large hunt). That must change no
    score, not even in the last bit, or a large hunt would pick other moves than a small one."""
    rng = np.random.default_rng(seed)
    n = int(rng.integers(50, 400))
    sizes = rng.integers(2, 60, size=len(FIELDS))
    codes = np.stack([rng.integers(s, size=n) for s in sizes], axis=1)
    model = _Model(codes, rng.integers(1, 40, size=n).astype(float), *priors(codes))
    for _ in range(20):
        mask = rng.random(n) < rng.uniform(0.02, 0.9)
        counts = model.counts(mask)
        used = np.flatnonzero(counts)
        extra = rng.choice(model.width, size=int(rng.integers(0, model.width)), replace=False)
        for cells in (used, np.union1d(used, extra)):
            assert model.cells(cells).score(counts[cells]) == model.score(counts)
        flat = model.flat[mask]
        local = np.searchsorted(used, flat)
        assert np.array_equal(model.cells(used).counts(local, model.weights[mask]), counts[used])
        logp = rng.normal(size=model.width)
        assert np.array_equal(_pattern_sums(logp, np.ascontiguousarray(flat.T)), logp[flat].sum(axis=1))


def test_time_test_accepts_rotation_and_rejects_two_windows():
    rng = np.random.default_rng(4)
    tbins = rng.integers(0, 8, 400)
    rotated = rng.integers(0, 3, 400)
    assert time_test(rotated, tbins, np.ones(400)) > 0.01
    windows = np.where(tbins < 4, 0, 1)  # one value early, the other late: two tools, not a rotation
    windows[rng.random(400) < 0.1] ^= 1
    assert time_test(windows, tbins, np.ones(400)) < 1e-6
    assert time_test(np.zeros(10, np.int64), tbins[:10], np.ones(10)) == 1.0  # nothing to test


@pytest.mark.parametrize("seed", range(4))
def test_independence_p_is_scipys_chi2_contingency(seed):
    """The rotation time test's p-value, computed without scipy.stats, is scipy's to the last bit:
    tables of every shape the pooling makes, from uniform to strongly dependent."""
    from scipy import stats

    rng = np.random.default_rng(seed)
    for _ in range(200):
        rows, cols = int(rng.integers(1, 7)), int(rng.integers(1, 9))
        table = rng.integers(1, 60, size=(rows, cols)) * rng.integers(1, 4, size=(rows, 1))
        if rng.random() < 0.3:
            table[0] *= 20  # one value far commoner than the rest
        assert independence_p(table) == float(stats.chi2_contingency(table, correction=False)[1])
    for _ in range(50):  # and the target test's normal tail is scipy's
        shares = rng.dirichlet(np.ones(int(rng.integers(2, 6))))
        tries = rng.integers(2, 6, int(rng.integers(5, 200)))
        got = pd.DataFrame({"n": tries, "values": rng.integers(1, 3, len(tries))})
        p_pure = (shares[None, :] ** tries[:, None].astype(float)).sum(axis=1)
        z = (float((got["values"] == 1).sum()) - p_pure.sum() - 0.5) / np.sqrt((p_pure * (1 - p_pure)).sum())
        assert target_test(got, shares) == float(stats.norm.sf(z))


def test_rotation_aggregates_bin_the_span_on_microseconds_and_keep_only_the_wanted_pairs():
    """A campaign's time bins are cut on its epoch seconds with their microseconds, whatever the engine
    (on whole seconds the middle attempt below would fall in bin 5), only the (campaign, feature)
    pairs asked for are counted, and an attempt with no user is counted under no user."""
    t0 = pd.Timestamp("2026-03-01", tz="UTC")  # fractions of a second exact in binary at this epoch
    at = [t0 + pd.Timedelta(seconds=s) for s in (0.75, 5.0, 7.75, 0.0, 100.0)]
    attempts = pd.DataFrame({"campaign": [1, 1, 1, 2, 2], "time": pd.Series(at).astype("datetime64[us, UTC]"),
                             "user": ["a", "b", None, "a", "a"],
                             "f_client_app": ["IMAP4", "SMTP", "IMAP4", "X", "X"],
                             "f_country": ["FR", "FR", "DE", "US", "US"]})
    pairs = pd.DataFrame({"campaign": [1, 2], "feature": ["client_app", "country"]})
    by_bin, by_user = rotation_aggregates(attempts, pairs, ["client_app", "country"])
    # campaign 1 spans 7 s: bin floor(offset * 8 / 8); campaign 2 spans 100 s: floor(offset * 8 / 101)
    assert sorted(by_bin.itertuples(index=False, name=None)) == [
        (1, "client_app", "IMAP4", 0, 1), (1, "client_app", "IMAP4", 7, 1), (1, "client_app", "SMTP", 4, 1),
        (2, "country", "US", 0, 1), (2, "country", "US", 7, 1)]
    got = {(c, f, None if pd.isna(u) else u): (n, v) for c, f, u, n, v in by_user.itertuples(index=False, name=None)}
    assert got == {(1, "client_app", "a"): (1, 1), (1, "client_app", "b"): (1, 1),
                   (1, "client_app", None): (1, 1), (2, "country", "a"): (2, 1)}


def test_target_test_rejects_values_tied_to_accounts():
    rng = np.random.default_rng(5)
    tries = rng.integers(2, 5, 150)
    shares = np.array([0.4, 0.35, 0.25])
    # A rotation: each account gets whatever values came up.
    got = [len(set(rng.choice(3, k, p=shares))) for k in tries]
    assert target_test(pd.DataFrame({"n": tries, "values": got}), shares) > 0.01
    # Travellers (or one tool per list): every account always the same value.
    assert target_test(pd.DataFrame({"n": tries, "values": 1}), shares) < 1e-6
    assert target_test(pd.DataFrame({"n": [1, 1], "values": [1, 1]}), shares) == 1.0


def _labelled(values: dict[str, int], feature: str, baseline: dict[str, int], tests: dict | None):
    rarities = {feature: field_rarity(pd.DataFrame({"feature": feature, "value": list(baseline),
                                                    "n_success": list(baseline.values()), "n_failed": 0}),
                                      feature, alpha=1.0, rule="tail", k_sd=2.0, tail_mass=0.01)}
    vc = pd.DataFrame([(0, feature, v, n) for v, n in values.items()], columns=["cluster", "feature", "value", "n"])
    hist = vc.groupby(["cluster", "feature", "n"], as_index=False).agg(values=("value", "count"))
    rules = FingerprintRules()
    assert (not rotation_candidates(hist, vc, rules).empty) == (len(values) > 1)
    return label_fields(hist, vc, rarities, rules, {(0, feature): tests} if tests else None)[0][feature]


def test_label_fields_rotated_only_when_the_tests_pass():
    baseline = {"Browser": 9000, "Mobile Apps and Desktop clients": 6000, "IMAP4": 3, "Authenticated SMTP": 2}
    few = {"IMAP4": 60, "Authenticated SMTP": 45}
    rotated = _labelled(few, "client_app", baseline, {"p_time": 0.4, "p_target": 0.7})
    assert rotated["kind"] == "rotated" and rotated["distinctive"]
    assert rotated["values"] == ["IMAP4", "Authenticated SMTP"] and rotated["rotation_tests"]["p_time"] == 0.4
    tied = _labelled(few, "client_app", baseline, {"p_time": 0.4, "p_target": 1e-9})
    assert tied["kind"] == "mixed" and not tied["distinctive"]
    assert _labelled({"IMAP4": 99}, "client_app", baseline, None)["kind"] == "invariant"
    # A rotated place is reported, never a fingerprint: the proxies sit there, the attacker does not.
    place = _labelled({"NL": 30, "SE": 25, "CH": 20, "MD": 25}, "country", {"US": 9000, "GB": 2000, "NL": 3},
                      {"p_time": 0.5, "p_target": 0.5})
    assert place["kind"] == "rotated" and not place["distinctive"]


def test_burst_windows_of_one_campaign_are_one_unit_and_a_second_burst_another():
    t0 = pd.Timestamp("2024-03-01", tz="UTC")
    at = lambda h: t0 + pd.Timedelta(hours=h)  # noqa: E731
    spans = pd.DataFrame([
        # prefix, window, campaign (NaN: in no campaign), first, last, failures
        ("198.18.7.0/24", 1, 4.0, at(0), at(0.3), 30), ("198.18.7.0/24", 1, np.nan, at(0.1), at(0.2), 4),
        ("198.18.9.0/24", 1, 4.0, at(0.2), at(0.4), 9),    # a second network of the same burst, meanwhile
        ("198.18.7.0/24", 2, 4.0, at(30), at(30.2), 12),   # the same source a day later: another window
        ("203.0.113.0/24", 1, 6.0, at(50), at(50.1), 25),  # another burst altogether
        ("192.0.2.0/24", 1, np.nan, at(60), at(61), 3),    # no burst campaign reaches it, and it is thin
        ("100.64.0.0/24", 1, 9.0, at(70), at(70.2), 40),   # a dense window of a campaign that was dropped
    ], columns=["src", "window", "o_campaign", "first", "last", "n"])
    got = _units(spans, [4, 6], gap_hours=2.0, dense=20)
    assert got[("198.18.7.0/24", 1)] == got[("198.18.9.0/24", 1)]
    assert len({got[k] for k in [("198.18.7.0/24", 1), ("198.18.7.0/24", 2), ("203.0.113.0/24", 1),
                                 ("100.64.0.0/24", 1)]}) == 4
    assert ("192.0.2.0/24", 1) not in got
    assert _units(spans.sample(frac=1.0, random_state=1), [4, 6], gap_hours=2.0, dense=20) == got


def test_a_clock_with_missed_cycles_is_regular_and_a_brute_force_is_not():
    rng = np.random.default_rng(6)
    rules = PruningRules()
    clock = 900 * np.where(rng.random(500) < 0.05, 2, 1) + rng.normal(0, 8, 500)   # every 15 min, a few skipped
    retries = rng.uniform(3, 12, 20)                                                # quick retries: not cycles
    burst = rng.exponential(40, 500) + 1
    rows = [("svc", "10.0.0.5", g) for g in np.r_[clock, retries]] + [("victim", "198.51.100.9", g) for g in burst]
    gaps = pd.DataFrame(rows, columns=["user", "ip", "gap"])
    gaps["bin"] = np.where(gaps.gap < 60, -1, np.round(np.log(gaps.gap) * 100)).astype(int)
    hist = gaps.groupby(["user", "ip", "bin"]).size().reset_index(name="n")
    got = _periods(hist, rules).set_index("user")
    assert got.loc["svc", "period_seconds"] == pytest.approx(900, rel=0.02)
    assert got.loc["svc", "regularity"] >= 0.9
    assert got.loc["victim", "regularity"] < rules.stale_regularity


def _slow_marginal(counts: np.ndarray, alpha: np.ndarray) -> float:
    """A Dirichlet-multinomial marginal likelihood the slow way: attempt by attempt, each value's
    predictive probability given the ones before (any order gives the same product)."""
    seen, logp = np.zeros(len(alpha)), 0.0
    for value in np.repeat(np.arange(len(alpha)), counts.astype(int)):
        logp += np.log((seen[value] + alpha[value]) / (seen.sum() + alpha.sum()))
        seen[value] += 1
    return logp


@pytest.mark.parametrize("seed", range(4))
def test_the_agent_field_is_scored_as_the_mixture_of_its_two_priors(seed):
    """A group's agent term is log((1 − w)·m₁ + w·m₂), m₁ under ``TOOL_ALPHA`` per value, m₂ under a
    total of ``AGENT_CONCENTRATION`` whatever the number of agents, w = ``OWN_AGENTS_PRIOR``; the other
    fields are scored as before. Checked against marginals computed attempt by attempt, for a few
    agents and for many."""
    rng = np.random.default_rng(seed)
    n = 40
    sizes = [3, 2, int(rng.choice([4, 60, 300])), 5, 4, 6, 9]
    codes = np.stack([rng.integers(k, size=n) for k in sizes], axis=1)
    codes[0] = [k - 1 for k in sizes]  # every value of every field exists
    weights = rng.integers(1, 4, size=n).astype(float)
    alpha, either = priors(codes)
    assert either == (2, pytest.approx(AGENT_CONCENTRATION / sizes[2]), OWN_AGENTS_PRIOR)
    model, plain = _Model(codes, weights, alpha, either), _Model(codes, weights, alpha)
    mask = rng.random(n) < 0.6
    mask[0] = True
    counts = model.counts(mask)
    lo = sum(sizes[:2])
    agents = counts[lo:lo + sizes[2]]
    one = _slow_marginal(agents, np.full(sizes[2], TOOL_ALPHA))
    two = _slow_marginal(agents, np.full(sizes[2], AGENT_CONCENTRATION / sizes[2]))
    mixed = np.logaddexp(one + np.log1p(-OWN_AGENTS_PRIOR), two + np.log(OWN_AGENTS_PRIOR))
    assert model.score(counts) - plain.score(counts) == pytest.approx(mixed - one, abs=1e-6)
    predictive = np.exp(model.every_cell.log_predictive(counts, counts[:sizes[0]].sum()))
    assert predictive[lo:lo + sizes[2]].sum() == pytest.approx(1.0)
