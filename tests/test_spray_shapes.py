"""Whole campaigns on a tenant shape the evaluation tables do not use: many accounts, a short export.

3,000 accounts over 60 days put a wider spread of user agents among the unusual attempts than the
tables' 2,000 × 120 days, and under a per-value agent prior one tool's agents were cheap to share
between groups: two tools of different client apps merged, one tool's three protocols spread over
three findings. The agent field is now scored under a mixture of that prior and one of a fixed small
total (``tools.AGENT_CONCENTRATION``, ``OWN_AGENTS_PRIOR``). Seeds 101 and 104 are two of the tenants
that were merged or split before (5/7 each); the simulator draws every campaign's values at random
per seed.
"""

from __future__ import annotations

import pytest

from tracehound.evaluation.spray import simulate_and_evaluate

pytestmark = pytest.mark.slow


@pytest.mark.parametrize("seed", [101, 104])
def test_every_campaign_of_a_wide_short_tenant_is_one_whole_finding(duckdb_engine, tmp_path, seed):
    (score,) = simulate_and_evaluate(tmp_path, duckdb_engine, tenants=1, users=3000, days=60,
                                     difficulties=("standard",), presets=("default",), first_seed=seed)
    sprays = score.campaigns[score.campaigns.expected == "password_spray"]
    assert len(sprays) == 7
    missed = sprays[~sprays.found.astype(bool)]
    assert missed.empty, missed[["campaign", "coverage", "purity", "finding"]].to_string()
    assert score.summary["event_precision"] == 1.0
