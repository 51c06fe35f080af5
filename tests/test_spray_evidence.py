"""The evidence the HTML report plots for spray findings, checked against the tenant it came from.

The tenant is the one :mod:`test_spray_pipeline` builds (a low-and-slow campaign with one success, a
brute force, a fast spray, travellers, typos); every number is checked against what the finding or the
tenant's own rows say, not against stored values.
"""

from __future__ import annotations

import re
from collections import Counter

import numpy as np
import pytest

from tracehound.report.plots import model_plots, MAX_FIELD_PLOTS, _sort_key, plots_for
from tracehound.spray.mixture import cluster_posterior
from tracehound.spray.rarity import decode_patterns

from test_spray_pipeline import build_tenant, hunt

WEEKDAYS = ["Mon", "Tue", "Wed", "Thu", "Fri", "Sat", "Sun"]


@pytest.fixture(scope="module")
def tenant():
    return build_tenant()


@pytest.fixture(scope="module")
def hunted(tenant, engine):
    return hunt(engine.load(tenant.table(), "signins"), engine)


def _rows(tenant, ids):
    ids = set(ids)
    return [r for r in tenant.rows if r["event_id"] in ids]


def test_rhythm_counts_match_the_campaign_rows(hunted, tenant):
    findings, _, _ = hunted
    assert findings
    for f in findings:
        ev, rows = f.evidence, _rows(tenant, f.event_ids)
        days = Counter(r["time"].strftime("%Y-%m-%d") for r in rows)
        assert ev["daily_attempts"]["campaign"] == dict(days)
        assert sum(ev["daily_attempts"]["campaign"].values()) == len(f.event_ids) == ev["attempts"]
        hours = Counter(str(r["time"].hour) for r in rows)
        assert ev["hour_of_day"]["campaign"] == {str(h): hours.get(str(h), 0) for h in range(24)}
        dows = Counter(WEEKDAYS[r["time"].weekday()] for r in rows)
        assert ev["day_of_week"]["campaign"] == {d: dows.get(d, 0) for d in WEEKDAYS}


def test_baselines_are_successes_and_all_password_failures(hunted, tenant):
    findings, _, _ = hunted
    succ = [r for r in tenant.rows if r["result"] == 0]
    failed = [r for r in tenant.rows if r["result"] in (50126, 50055)]
    ev = findings[0].evidence
    assert ev["hour_of_day"]["baseline"] == {str(h): sum(r["time"].hour == h for r in succ) for h in range(24)}
    assert ev["day_of_week"]["baseline"] == {d: sum(WEEKDAYS[r["time"].weekday()] == d for r in succ)
                                             for d in WEEKDAYS}
    assert ev["daily_attempts"]["baseline"] == dict(Counter(r["time"].strftime("%Y-%m-%d") for r in failed))
    for f in findings:  # every campaign attempt is one of the baseline's failures
        base = f.evidence["daily_attempts"]["baseline"]
        assert all(n <= base[d] for d, n in f.evidence["daily_attempts"]["campaign"].items())


def test_mixture_cluster_is_the_argmax_for_the_campaign_patterns(hunted):
    findings, scores, hunter = hunted
    spray = next(f for f in findings if f.kind == "password_spray")
    mix = spray.evidence["mixture"]
    assert mix["fields"] == list(hunter.features_)
    assert len(mix["weights"]) == len(mix["field_probabilities"]) == hunter.mixture_.weights_.size
    assert sum(mix["weights"]) == pytest.approx(1.0, abs=1e-4)
    p = np.asarray(mix["field_probabilities"])
    assert p.shape[1] == len(mix["fields"]) and ((p >= 0) & (p <= 1)).all()
    # the patterns the campaign's attempts carry are assigned, by the hunter's posterior, to its cluster
    campaign = scores.campaigns
    mine = campaign.filter(campaign.event_id.isin(spray.event_ids))
    pats = hunter.engine_.to_pandas(mine.group_by("pattern").agg(n=mine.count()))
    resp = cluster_posterior(hunter.mixture_, hunter.components_,
                             decode_patterns(pats.pattern.to_numpy(), len(hunter.features_)))
    top = Counter(dict(zip(resp.argmax(axis=1).tolist(), pats.n.tolist()))).most_common(1)[0][0]
    assert mix["cluster"] == top == spray.evidence["clusters"][0]
    assert mix["weights"][mix["cluster"]] == max(mix["weights"][k] for k in spray.evidence["clusters"])


def test_field_values_probabilities_and_anomalous(hunted, tenant):
    findings, _, hunter = hunted
    rarities = {fr.feature: fr for fr in hunter.rarities_}
    spray = next(f for f in findings if f.kind == "password_spray")
    ev, rows = spray.evidence, _rows(tenant, spray.event_ids)
    assert set(ev["anomalous_fields"]) <= set(ev["field_value_probabilities"])
    assert set(ev["invariant_fields"]) <= set(ev["field_value_probabilities"])
    for field, probs in ev["field_value_probabilities"].items():
        values = list(probs.values())
        assert 0 < sum(values) <= 1 + 1e-6 and values == sorted(values, reverse=True)
        table = rarities[field].values.set_index("value")
        for v, p in probs.items():
            assert p == pytest.approx(table.at[v, "p"], rel=1e-5)
        used = {("(empty)" if r.get(field) in (None, "") else str(r.get(field))) for r in rows}
        assert set(ev["anomalous_values"][field]) <= used & set(probs)
        assert all(table.at[v, "anomalous"] for v in ev["anomalous_values"][field])
    # the campaign's countries are never seen among successes: all in red, all below the threshold
    assert set(ev["anomalous_values"]["country"]) == {r["country"] for r in rows}
    assert ev["anomalous_values"]["user_agent"] == ["BAV2ROPC"]


def test_plots_for_draws_every_evidence_block(hunted):
    findings, _, _ = hunted
    for f in findings:
        d = f.to_dict()
        ev = d["evidence"]
        fields = list(ev["field_value_probabilities"].values())[:MAX_FIELD_PLOTS]
        # the two whole-model charts (cluster weights, fields x clusters) are drawn once per run
        expected = 1 + 3 + sum(1 for probs in fields if probs)
        plots = plots_for(d)
        assert len(plots) == expected
        assert len(model_plots(d)) == 2
        week = [cap for cap, _ in plots if cap.startswith("Day of week")]
        assert len(week) == 1
        assert all(uri.startswith("data:image/png;base64,") for _, uri in plots)


def test_counts_print_as_integers(hunted):
    findings, _, _ = hunted
    for f in findings:
        text = f.title + " " + f.explanation
        assert not re.search(r"\d\.0 (failed|accounts?|IP|days?)", text), text
        assert f"{len(f.event_ids)} failed sign-ins" in f.title
        assert f"on {len(f.entities['users'])} account" in f.title


def test_weekday_and_hour_labels_sort_in_calendar_order():
    days = ["Sun", "Fri", "Mon", "Sat", "Tue", "Thu", "Wed"]
    assert sorted(days, key=_sort_key) == ["Mon", "Tue", "Wed", "Thu", "Fri", "Sat", "Sun"]
    assert sorted(["10", "2", "0"], key=_sort_key) == ["0", "2", "10"]
