"""The numbers a report plots for a spray finding: the mixture, the campaign's rhythm against the
tenant's, and the probabilities of the values it used.

An analyst reads a campaign faster from pictures than from a table: a Hinton diagram of the mixture
shows which cluster the campaign is and how it differs from the others; daily, hour-of-day and
day-of-week counts against a baseline show "an even trickle, night hours, every day including
Sundays"; per-field probability bars show "these countries are ones this tenant never signs in from".
Every count here is an engine aggregate (per day, per hour, per weekday, per value); nothing row-level
comes back. Baselines:

- daily attempts: every password-type failed sign-in per day (the candidates, typos set aside by the
  retry rule included) — how much of the tenant's failure noise the campaign is;
- hour of day and day of week: successful sign-ins — the tenant's normal working rhythm.
"""

from __future__ import annotations

import ibis
import numpy as np
import pandas as pd

from ..engine import Engine
from .mixture import BernoulliMixture
from .rarity import FieldRarity

WEEKDAYS = ("Mon", "Tue", "Wed", "Thu", "Fri", "Sat", "Sun")
#: Values per field shown: the most probable among successes, plus the campaign's own most used.
TOP_BASELINE_VALUES = 15
TOP_CAMPAIGN_VALUES = 10


def mixture_evidence(mixture: BernoulliMixture, components: np.ndarray, cluster: int,
                     features: tuple[str, ...]) -> dict:
    """Cluster weights and P(field anomalous | cluster) for the Hinton diagrams.

    Components the hunt treats as one cluster (same per-field probabilities) have their weights
    added onto the representative, so ``cluster`` — the representative index — is the argmax of
    the campaign's patterns' posterior, as the hunt assigns them.
    """
    weights = np.zeros(len(mixture.weights_))
    np.add.at(weights, components, mixture.weights_)
    return {"weights": [round(float(w), 6) for w in weights], "cluster": int(cluster),
            "fields": list(features),
            "field_probabilities": [[round(float(p), 4) for p in row] for row in mixture.theta_]}


def _day(t: ibis.Table) -> ibis.Value:
    return t.time.date().name("day")


def _by_day(frame: pd.DataFrame) -> pd.Series:
    return pd.to_datetime(frame.day).dt.strftime("%Y-%m-%d")


def rhythm_evidence(campaign: ibis.Table, bits: ibis.Table, campaigns: list[int],
                    engine: Engine) -> dict[int, dict]:
    """``{campaign: {"daily_attempts", "hour_of_day", "day_of_week"}}``, each campaign vs baseline.

    Two engine queries, one over the scored sign-ins and one over the campaigns' attempts, each
    counting by (day, hour, weekday) at once; the three views are sums of those counts.
    """
    base = bits.filter(bits.is_candidate | bits.retried | bits.success)
    base = engine.to_pandas(base.group_by([base.success.fill_null(False).name("s"), _day(base),
                                           base.time.hour().name("h"),
                                           base.time.day_of_week.index().name("d")]).agg(n=base.count()))
    failed, succ = base[~base.s.astype(bool)], base[base.s.astype(bool)]
    base_day = failed.groupby("day", as_index=False).n.sum()
    base_hour, base_dow = succ.groupby("h", as_index=False).n.sum(), succ.groupby("d", as_index=False).n.sum()
    c = campaign.filter(campaign.campaign.isin(campaigns))
    counts = engine.to_pandas(c.group_by(["campaign", _day(c), c.time.hour().name("h"),
                                          c.time.day_of_week.index().name("d")]).agg(n=c.count()))
    day = counts.groupby(["campaign", "day"], as_index=False).n.sum()
    hour = counts.groupby(["campaign", "h"], as_index=False).n.sum()
    dow = counts.groupby(["campaign", "d"], as_index=False).n.sum()

    def hours(frame: pd.DataFrame) -> dict[str, int]:
        got = dict(zip(frame.h.astype(int), frame.n.astype(int)))
        return {str(h): int(got.get(h, 0)) for h in range(24)}

    def weekdays(frame: pd.DataFrame) -> dict[str, int]:
        got = dict(zip(frame.d.astype(int), frame.n.astype(int)))
        return {name: int(got.get(i, 0)) for i, name in enumerate(WEEKDAYS)}

    baseline_days = dict(sorted(zip(_by_day(base_day), base_day.n.astype(int).tolist())))
    out = {}
    for k in campaigns:
        d = day[day.campaign == k]
        out[k] = {
            "daily_attempts": {"campaign": dict(sorted(zip(_by_day(d), d.n.astype(int).tolist()))),
                               "baseline": baseline_days},
            "hour_of_day": {"campaign": hours(hour[hour.campaign == k]), "baseline": hours(base_hour)},
            "day_of_week": {"campaign": weekdays(dow[dow.campaign == k]), "baseline": weekdays(base_dow)},
        }
    return out


def value_evidence(campaign: ibis.Table, fields_by_campaign: dict[int, list[str]],
                   rarities: dict[str, FieldRarity], engine: Engine) -> dict[int, dict]:
    """``{campaign: {"field_value_probabilities", "anomalous_values"}}`` for each campaign's fields.

    For a field, the probabilities among successful sign-ins (the Dirichlet posterior mean the hunt
    thresholds) of the :data:`TOP_BASELINE_VALUES` most probable values and of the campaign's own
    :data:`TOP_CAMPAIGN_VALUES` most used ones, most probable first; ``anomalous_values`` are the
    campaign's values below the field's threshold (drawn red).
    """
    wanted = sorted({f for fs in fields_by_campaign.values() for f in fs})
    if not wanted:
        return {k: {"field_value_probabilities": {}, "anomalous_values": {}} for k in fields_by_campaign}
    c = campaign.filter(campaign.campaign.isin(list(fields_by_campaign)))
    parts = [c.select("campaign", feature=ibis.literal(f), value=c[f"f_{f}"]) for f in wanted]
    stacked = parts[0].union(*parts[1:]) if len(parts) > 1 else parts[0]
    vc = stacked.group_by(["campaign", "feature", "value"]).agg(n=stacked.count())
    rank = ibis.row_number().over(group_by=[vc.campaign, vc.feature], order_by=[ibis.desc(vc.n), vc.value])
    used = engine.to_pandas(vc.mutate(r=rank).filter(lambda t: t.r < TOP_CAMPAIGN_VALUES).drop("r"))
    # engine rows come in any order; equal probabilities below keep this one (stable sorts)
    used = used.sort_values(["campaign", "feature", "n", "value"], ascending=[True, True, False, True],
                            kind="stable")
    # Per field once (a hunt may keep hundreds of campaigns): its probabilities, top values, red values.
    p_by_value = {f: rarities[f].values.set_index("value").p for f in wanted}
    top = {f: p.sort_values(ascending=False, kind="stable").head(TOP_BASELINE_VALUES).index.tolist()
           for f, p in p_by_value.items()}
    red_values = {f: set(rarities[f].values.value[rarities[f].values.anomalous.astype(bool)]) for f in wanted}
    own_values = {(int(k), str(f)): g.value.tolist() for (k, f), g in used.groupby(["campaign", "feature"], sort=False)}
    out = {}
    for k, fields in fields_by_campaign.items():
        probs, red = {}, {}
        for f in fields:
            own = own_values.get((int(k), f), [])
            shown = p_by_value[f].reindex(list(dict.fromkeys(top[f] + own))).dropna()
            shown = shown.sort_values(ascending=False, kind="stable")
            probs[f] = {str(v): float(f"{p:.6g}") for v, p in shown.items()}
            red[f] = [str(v) for v in own if v in red_values[f]]
        out[k] = {"field_value_probabilities": probs, "anomalous_values": red}
    return out


def plot_evidence(kept: pd.DataFrame, campaign: ibis.Table, bits: ibis.Table, engine: Engine, *,
                  mixture: BernoulliMixture, components: np.ndarray, features: tuple[str, ...],
                  rarities: list[FieldRarity]) -> dict[int, dict]:
    """Per kept campaign (rows of the cluster table), every block the HTML report plots.

    The fields shown are the campaign's anomalous fields, then its invariant and rotated ones.
    """
    ids = [int(c) for c in kept.campaign]
    fields = {int(r.campaign): list(dict.fromkeys(
        [*r.anomalous, *(f for f, d in r.fields.items() if d["kind"] in ("invariant", "rotated"))]))
        for r in kept.itertuples(index=False)}
    rhythm = rhythm_evidence(campaign, bits, ids, engine)
    values = value_evidence(campaign, fields, {fr.feature: fr for fr in rarities}, engine)
    return {int(r.campaign): {
        "mixture": mixture_evidence(mixture, components, int(r.cluster), features),
        **rhythm[int(r.campaign)], **values[int(r.campaign)]} for r in kept.itertuples(index=False)}
