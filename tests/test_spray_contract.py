"""The spray hunt on the hunt contract: nothing per call on the hunter, fit on a baseline and score
later data, parameters checked before any data is read, and the pipeline's view (HUNTS, KINDS).

The score-twice test reproduces the bug the contract removed: the hunter used to keep the last
scored table's bits and campaign events on itself, so scoring another table between ``score`` and
building findings changed the findings' event counts.
"""

from __future__ import annotations

import inspect
from datetime import timedelta

import pandas as pd
import pytest
from test_spray_pipeline import START, build_tenant

from tracehound.contract import Hunt
from tracehound.errors import ConfigError
from tracehound.findings import dumps
from tracehound.spray import HUNTS, KINDS, PRESETS, SprayHunter, SprayScores, spray_hunt


@pytest.fixture(scope="module")
def tenant():
    return build_tenant()


def test_scoring_another_table_between_score_and_detect_changes_nothing(tenant, engine):
    table = engine.load(tenant.table(), "signins")
    hunter = SprayHunter().fit(table, engine)
    assert isinstance(hunter, Hunt)
    first = hunter.score(table)
    assert isinstance(first, SprayScores)
    assert first.bits is hunter.baseline_.bits  # the fitted table is scored from what fit staged
    clusters = first.clusters.copy()
    alone = hunter.detect(first)
    # the first 28 days: the planted campaign (days 2-42) is there with fewer attempts
    other = table.filter(table.time < START + timedelta(days=28))
    second = hunter.score(other)
    interleaved = hunter.detect(first)
    assert [dumps(f) for f in interleaved] == [dumps(f) for f in alone]
    assert [(f.id, len(f.event_ids), f.evidence["attempts"]) for f in interleaved] == \
        [(f.id, len(f.event_ids), f.evidence["attempts"]) for f in alone]
    pd.testing.assert_frame_equal(first.clusters, clusters)
    # ... although the other table really is different: had its state leaked, the counts would differ
    spray = next(f for f in alone if f.kind == "password_spray")
    later = [f for f in hunter.detect(second) if f.kind == "password_spray"]
    assert later and all(len(f.event_ids) < len(spray.event_ids) for f in later)
    when = {r["event_id"]: r["time"] for r in tenant.rows}
    assert all(when[e] < START + timedelta(days=28) for f in later for e in f.event_ids)


def test_fit_on_a_baseline_and_score_later_data(engine, tmp_path_factory):
    """Fit on the first two thirds of a simulated tenant, score all of it: every planted campaign
    is still found, with its attempts after the baseline, and the fit saw only the baseline."""
    from tracehound.evaluation.spray import score_findings
    from tracehound.readers.signins import read_signins
    from tracehound.simulate.signins import simulate_signins

    sim = simulate_signins(tmp_path_factory.mktemp("baseline-tenant"), users=300, days=70, seed=2,
                           difficulty="standard", fmt="parquet")
    table, _ = read_signins(list(sim.paths), engine)
    span = engine.to_pandas(table.aggregate(lo=table.time.min(), hi=table.time.max())).iloc[0]
    cut = (span.lo + (span.hi - span.lo) * 2 / 3).floor("s").to_pydatetime()
    baseline = table.filter(table.time < cut)
    hunter = SprayHunter().fit(baseline, engine)
    successes = engine.scalar(baseline.filter(baseline.success).count())
    assert {fr.n_baseline for fr in hunter.rarities_} == {successes}  # fitted on the baseline alone

    scores = hunter.score(table)
    findings = hunter.detect(scores)
    labels = pd.read_csv(sim.labels_path, dtype=str)
    result = score_findings(findings, labels, tenant="t", preset="default", seconds=0.0)
    planted = result.campaigns[result.campaigns.expected == "password_spray"]
    slow = [c for c in sim.campaigns if getattr(c, "kind", "") == "low_and_slow_spray"]
    assert len(planted) == len(slow) == 7 and planted.found.all(), planted
    assert result.summary["confounder_events_as_spray"] == {}
    times = engine.to_pandas(table.select("event_id", "time")).set_index("event_id").time
    for f in findings:
        if f.kind == "password_spray":
            assert (times[f.event_ids] >= pd.Timestamp(cut)).any(), f.id  # found beyond the baseline


@pytest.mark.parametrize("params, match", [
    ({"alpha": "x"}, "alpha"), ({"alpha": 0}, "alpha"), ({"alpha": True}, "alpha"),
    ({"rules": {"nope": 1}}, "rules"), ({"rules": {"min_users": "x"}}, "min_users"), ({"rules": [1]}, "rules"),
    ({"fingerprint_rules": {"share": 2}}, "share"), ({"fingerprint_rules": "strict"}, "fingerprint_rules"),
    ({"features": "app"}, "features"), ({"features": ()}, "features"), ({"features": ("app", "app")}, "twice"),
    ({"features": ("app", 3)}, "features"), ({"failure_codes": ("50126",)}, "failure_codes"),
    ({"failure_codes": ()}, "failure_codes"), ({"threshold_rule": "median"}, "threshold rule"),
    ({"threshold_rule": None}, "threshold rule"), ({"k_sd": -1}, "k_sd"), ({"tail_mass": 0}, "tail_mass"),
    ({"tail_mass": 1.5}, "tail_mass"), ({"retry_window_hours": "24h"}, "retry_window_hours"),
    ({"n_components": 0}, "n_components"), ({"n_init": 2.5}, "n_init"), ({"max_iter": "10"}, "max_iter"),
    ({"random_state": "seed"}, "random_state"),
])
def test_validate_names_the_bad_parameter(params, match):
    hunter = SprayHunter(**params)
    with pytest.raises(ConfigError, match=match):
        hunter.validate()
    with pytest.raises(ConfigError, match=match):
        hunter.fit(None, None)  # before the table is touched
    with pytest.raises(ConfigError, match=match):
        HUNTS[0].make(params, "spray")


def test_presets_and_config_dicts_validate():
    for name in PRESETS:
        SprayHunter.from_preset(name).validate()
    SprayHunter(features=["app", "hour"], failure_codes=[50126], rules={"min_users": 5},
                fingerprint_rules={"expand": False}, random_state=None).validate()


def test_build_takes_every_parameter_and_keeps_the_presets_values():
    entry = HUNTS[0]
    assert entry.parameters() == set(inspect.signature(SprayHunter).parameters) | {"preset"}
    hunter = entry.make({"preset": "mstic", "alpha": 3.0}, "spray")
    assert hunter.alpha == 3.0 and hunter.threshold_rule == "mean-sd" and hunter.n_init == 1
    assert spray_hunt().threshold_rule == SprayHunter().threshold_rule
    for bad, match in (({"preset": "nope"}, "preset"), ({"bogus": 1}, "bogus"), ({"preset": ["mstic"]}, "preset")):
        with pytest.raises(ConfigError, match=match):
            entry.make(bad, "spray")
    with pytest.raises(ConfigError, match="bogus"):
        spray_hunt(bogus=1)


def test_kinds_declared_once_with_roles():
    kinds = {k.name: k for k in KINDS}
    assert tuple(kinds) == HUNTS[0].kinds == ("password_spray", "fast_spray", "signin_brute_force",
                                              "stale_credentials")
    assert {k.hunt for k in KINDS} == {HUNTS[0].section} and {k.table for k in KINDS} == {HUNTS[0].table}
    assert not kinds["password_spray"].blockable  # rotating residential proxies, shared with real users
    assert kinds["fast_spray"].blockable and kinds["signin_brute_force"].blockable
    assert kinds["signin_brute_force"].technique == "T1110.001"
    assert {kinds["password_spray"].technique, kinds["fast_spray"].technique} == {"T1110.003"}
    attacks = [k for k in KINDS if k.name != "stale_credentials"]
    assert all(k.targets == ("users",) and "users" not in k.actors for k in attacks)
    stale = kinds["stale_credentials"]  # its address is the tenant's own: a target, never blocked
    assert stale.actors == () and stale.targets == ("users", "ips") and not stale.blockable
    assert not stale.blockable_agents and stale.technique == "T1078"
