"""The hunt's explicit rules, one at a time: smoothing, thresholds, evenness, verdicts, expansion."""

from __future__ import annotations

import math

import numpy as np
import pandas as pd
import pytest

from tracehound.errors import ConfigError
from tracehound.spray.fingerprint import FingerprintRules
from tracehound.spray.pruning import PruningRules, judge, ks_uniform
from tracehound.spray.rarity import decode_patterns, field_rarity


def counts(rows):
    return pd.DataFrame(rows, columns=["feature", "value", "n_success", "n_failed"])


def test_dirichlet_posterior_mean():
    c = counts([("app", "Teams", 90, 5), ("app", "Outlook", 10, 1), ("app", "IMAP", 0, 7)])
    fr = field_rarity(c, "app", alpha=2.0, rule="mean-sd", k_sd=2.0, tail_mass=0.01)
    p = fr.values.set_index("value").p
    assert p["Teams"] == pytest.approx((90 + 2) / (100 + 2 * 3))
    assert p["IMAP"] == pytest.approx(2 / 106)
    assert p.sum() == pytest.approx(1.0)


def test_mean_sd_threshold_weighted_by_baseline_counts():
    c = counts([("os", v, n, 1) for v, n in [("Win", 500), ("Mac", 300), ("iOS", 150), ("Linux", 5),
                                             ("Haiku", 0)]])
    fr = field_rarity(c, "os", alpha=1.0, rule="mean-sd", k_sd=2.0, tail_mass=0.01)
    v = fr.values
    mean = np.average(v.log_p, weights=v.n_success)
    sd = math.sqrt(np.average((v.log_p - mean) ** 2, weights=v.n_success))
    assert fr.threshold_log_p == pytest.approx(mean - 2 * sd)
    assert set(fr.anomalous_values) == set(v.value[v.log_p < mean - 2 * sd])
    assert "Haiku" in fr.anomalous_values and "Win" not in fr.anomalous_values


def test_tail_rule_flags_rarest_mass_and_unseen():
    c = counts([("ua", f"ua{i}", 1000 - i * 100, 0) for i in range(9)] + [("ua", "odd", 2, 5),
                                                                           ("ua", "never", 0, 9)])
    fr = field_rarity(c, "ua", alpha=1.0, rule="tail", k_sd=2.0, tail_mass=0.01)
    assert set(fr.anomalous_values) == {"odd", "never"}
    with pytest.raises(ConfigError):
        field_rarity(c, "ua", alpha=1.0, rule="median", k_sd=2.0, tail_mass=0.01)


def test_decode_patterns_round_trip():
    X = decode_patterns(np.array([0, 1, 5, 1023]), 10)
    assert X[2].tolist() == [1, 0, 1, 0, 0, 0, 0, 0, 0, 0] and X[3].sum() == 10


def test_ks_even_trickle_low_burst_high():
    days = np.arange(60)
    assert ks_uniform(days, np.full(60, 3)) < 0.02
    assert ks_uniform(np.array([0, 59]), np.array([100, 1])) > 0.9
    front_loaded = np.r_[np.full(10, 20), np.full(50, 1)]
    assert ks_uniform(days, front_loaded) > 0.4


SLOW = dict(attempts=200, users=80, attempts_per_user=2.5, span_days=60, active_days=50, ks=0.05,
            anomalous_fields=3, invariant_fields=2, confidence=1.0)


def test_verdicts():
    rules = PruningRules()
    assert judge(SLOW, rules) == ("password_spray", [])
    burst = {**SLOW, "span_days": 0.02, "active_days": 1, "ks": 0.0}
    assert judge(burst, rules)[0] == "fast_spray"
    brute = {**burst, "users": 1, "attempts_per_user": 200.0}
    assert judge(brute, rules)[0] == "signin_brute_force"
    broken_job = {**SLOW, "users": 1, "attempts_per_user": 200.0}  # weeks on one account
    assert judge(broken_job, rules)[0] is None
    uneven = {**SLOW, "ks": 0.8}
    assert judge(uneven, rules) == (None, ["max_ks"])  # long but lumpy: neither slow nor a burst
    ordinary = {**SLOW, "invariant_fields": 0}
    assert judge(ordinary, rules) == (None, ["min_invariant_fields"])
    assert judge(ordinary, PruningRules(min_invariant_fields=0))[0] == "password_spray"


def test_rules_validated():
    with pytest.raises(ConfigError):
        PruningRules(max_ks=2.0)
    with pytest.raises(ConfigError):
        PruningRules(min_users=-1)
    with pytest.raises(ConfigError, match="min_users"):
        PruningRules(min_users="many")


@pytest.mark.parametrize("field, value", [("share", 1.5), ("share", "90%"), ("success_posterior", True),
                                          ("max_values", 0), ("max_values", 2.5), ("success_specific_max", -1),
                                          ("max_rotation", 0), ("rotation_p", 2),
                                          ("success_slack_days", -1), ("success_slack_gaps", "3"), ("expand", "yes")])
def test_fingerprint_rules_validated(field, value):
    with pytest.raises(ConfigError, match=field):
        FingerprintRules(**{field: value})
    assert FingerprintRules() == FingerprintRules(**FingerprintRules().to_dict())


def test_expand_moves_attempts_out_of_dropped_campaigns_only(duckdb_engine):
    """A failure carrying a kept campaign's fingerprint in its span joins it when no reported
    campaign holds it — free, or in a dropped campaign (which then loses it) — never when another
    reported campaign (a fast spray) or a campaign split off for one heavily hit account holds it,
    nor with no anomalous field or outside the span."""
    import pyarrow as pa

    from tracehound.spray.campaigns import expand

    t0 = pd.Timestamp("2024-02-01", tz="UTC")
    # event, campaign (None = in no campaign), app, pattern, day
    spec = [("k1", 0, "OfficeHome", 3, 1), ("k2", 0, "OfficeHome", 3, 20), ("k3", 0, "OfficeHome", 1, 40),
            ("dropped-fp", 1, "OfficeHome", 2, 10), ("dropped-other", 1, "Teams", 2, 11),
            ("fast-fp", 2, "OfficeHome", 2, 12), ("alone-fp", 3, "OfficeHome", 2, 13),
            ("free-fp", None, "OfficeHome", 4, 15),
            ("free-plain", None, "OfficeHome", 0, 16), ("free-late", None, "OfficeHome", 4, 60)]
    base = {"event_id": [e for e, *_ in spec], "time": [t0 + pd.Timedelta(days=d) for *_, d in spec],
            "user": [f"u{i}" for i in range(len(spec))], "is_candidate": [True] * len(spec),
            "pattern": [p for _, _, _, p, _ in spec], "f_app": [a for _, _, a, _, _ in spec]}
    bits = duckdb_engine.load(pa.table(base), "bits")
    held = [i for i, s in enumerate(spec) if s[1] is not None]
    campaign = duckdb_engine.load(pa.table({
        **{k: [v[i] for i in held] for k, v in base.items()},
        "cluster": pa.array([spec[i][1] for i in held], pa.int64()),
        "confidence": pa.array([0.9] * len(held), pa.float64()), "key": [""] * len(held),
        "campaign": pa.array([spec[i][1] for i in held], pa.int64())}), "campaign")
    rows = [{"campaign": 0, "kind": "password_spray", "fingerprint": {"app": ["OfficeHome"]}, "score": 1.0,
             "first_seen": t0 + pd.Timedelta(days=1), "last_seen": t0 + pd.Timedelta(days=40)},
            {"campaign": 1, "kind": None, "fingerprint": {}, "score": 0.0},
            {"campaign": 2, "kind": "fast_spray", "fingerprint": {"app": ["OfficeHome"]}, "score": 0.5},
            {"campaign": 3, "kind": None, "fingerprint": {"app": ["OfficeHome"]}, "score": 0.0}]
    expanded, changed = expand(bits, campaign, rows, duckdb_engine, alone={3})
    assert changed == {0, 1}  # the campaign that grew and the dropped one that lost an attempt
    out = duckdb_engine.to_pandas(expanded.select("event_id", "campaign"))
    assert out.event_id.is_unique
    got = dict(zip(out.event_id, out.campaign.astype(int)))
    assert got == {"k1": 0, "k2": 0, "k3": 0, "dropped-fp": 0, "free-fp": 0, "dropped-other": 1, "fast-fp": 2,
                   "alone-fp": 3}
