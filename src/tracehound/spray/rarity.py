"""Per-field rarity of sign-ins against the successful baseline, and the anomaly bit-patterns.

Steps 1–3 of the hunt. Everything row-level is an Ibis expression; only per-feature value counts come
back to numpy (a few thousand rows at most), where the Dirichlet-smoothed probabilities and the per-
field thresholds are computed, and then go back into the engine as small lookup tables that are
joined onto the events to give each sign-in its bit-pattern.

Why Dirichlet smoothing: a value seen once among 100,000 successes and a value never seen are both
"rare", but a raw frequency of 0 makes log p undefined and over-rewards a single sighting. The
posterior mean ``(n_c + α) / (N + α·K)`` of a symmetric Dirichlet(α) prior keeps every value's
probability positive and shrinks tiny counts towards uniform.
"""

from __future__ import annotations

import string
from dataclasses import dataclass

import ibis
import numpy as np
import pandas as pd
import pyarrow as pa

from ..engine import Engine
from ..errors import ConfigError

#: Canonical ``signins`` columns used as features by default.
DEFAULT_FEATURES: tuple[str, ...] = ("app", "client_app", "browser", "os", "device_name", "ip_prefix",
                                     "country", "state", "city", "user_agent")
#: Features computed from other columns rather than read as-is.
DERIVED_FEATURES = ("hour",)
#: The category that null and empty values share: "no device name" is itself informative.
EMPTY = "(empty)"
#: Threshold rules: MSTIC's ``mean-sd`` (mean − k·σ of log p, weighted by baseline counts) and
#: ``tail`` (a value is anomalous if the values at least as rare carry < ``tail_mass`` of successes).
THRESHOLD_RULES = ("mean-sd", "tail")
#: The whitespace trimmed off feature values: Python's ``string.whitespace``, on every engine.
_WHITESPACE = string.whitespace


def feature_column(t: ibis.Table, name: str) -> ibis.Value:
    """The *raw* string value of feature ``name`` for each row, nulls and empty text as :data:`EMPTY`.

    Raw: not yet trimmed. The category of a value is its text trimmed of whitespace (a padded
    ``" IMAP4"`` is ``IMAP4``, a blank is :data:`EMPTY`; :func:`canonical_value`), and trimming is
    done once per distinct value in :func:`with_bits` (whose lookups map every raw value to its
    category), not on every row here: a trim by character set on every value of every feature was
    the costliest part of scoping, on both engines, for values that almost never carry padding.
    """
    if name == "hour":
        return t.time.hour().cast("string")
    if name not in t.columns:
        raise ConfigError(f"unknown spray feature {name!r}; expected a signins column or one of "
                          f"{', '.join(DERIVED_FEATURES)}")
    col = t[name].cast("string")
    return ibis.ifelse(col.isnull() | (col == ""), ibis.literal(EMPTY), col)


def canonical_value(raw: str) -> str:
    """The category of a raw feature value: trimmed of whitespace, a blank as :data:`EMPTY`."""
    return raw.strip(_WHITESPACE) or EMPTY


def canonical_counts(counts: pd.DataFrame) -> pd.DataFrame:
    """:func:`value_counts` rows (raw values) summed per category (:func:`canonical_value`)."""
    out = counts.assign(value=counts.value.map(canonical_value))
    return out.groupby(["feature", "value"], as_index=False, sort=True)[["n_success", "n_failed"]].sum()


def has_duplicates(signins: ibis.Table, engine: Engine) -> bool:
    """Whether some ``event_id`` occurs more than once (overlapping exports read together).

    One cheap aggregate; it lets :func:`scoped_signins` skip the de-duplicating window, which costs a
    sort of every row, on the usual input that has no repeats.
    """
    row = engine.to_pandas(signins.aggregate(n=signins.count(), ids=signins.event_id.nunique())).iloc[0]
    return int(row.n) != int(row.ids)


def scoped_signins(signins: ibis.Table, features: tuple[str, ...],
                   failure_codes: tuple[int, ...], *, dedupe: bool = True) -> ibis.Table:
    """Baseline successes plus candidate failures, de-duplicated by ``event_id``, with feature columns.

    Adds ``is_candidate`` (a failed sign-in with a password-type result code), ``ua_raw`` (the user
    agent as logged, for the retry rule) and ``f_<feature>`` (the raw value, :func:`feature_column`;
    :func:`with_bits` replaces it by its category). ``dedupe=False`` is for a table known to
    hold each ``event_id`` once (:func:`has_duplicates`).
    """
    t = signins
    if dedupe:
        # Copies of one event normally agree; when they do not, the earliest wins and the other
        # scalar columns break ties, so the kept copy never depends on the engine's row order.
        ties = [c for c, dt in t.schema().items() if c not in ("event_id", "time")
                and (dt.is_string() or dt.is_integer() or dt.is_boolean() or dt.is_floating())]
        rn = ibis.row_number().over(group_by=t.event_id,
                                    order_by=[t.time, *(t[c].asc(nulls_first=True) for c in ties)])
        t = t.mutate(_rn=rn).filter(lambda r: r._rn == 0).drop("_rn")
    is_cand = t.result.isin(list(failure_codes)) & ~t.success.fill_null(False)
    t = t.filter(t.success.fill_null(False) | is_cand)
    ua = t.user_agent.cast("string") if "user_agent" in t.columns else ibis.null("string")
    return t.select(
        "event_id", "time", "user", "ip", "success",
        is_candidate=is_cand, ua_raw=ua,
        **{f"f_{name}": feature_column(t, name) for name in features},
    )


def drop_retried(scoped: ibis.Table, hours: float) -> ibis.Table:
    """Candidates whose user signed in successfully from the same IP within ``hours`` stop being
    candidates (``is_candidate`` false, ``retried`` true).

    That is what a real user does after a typo, abroad in a hotel or on a new phone, and what a spray
    does not: it rotates addresses and only gets in on the few accounts it cracks. The match is on
    the exact IP, not the user agent, because a spray using ordinary browsers shares its user agent
    with half the tenant.
    """
    window = ibis.interval(seconds=int(hours * 3600))
    cand = scoped.filter(scoped.is_candidate).select("event_id", "user", "ip", "time")
    succ = scoped.filter(scoped.success).select(s_user="user", s_ip="ip", s_time="time")
    hit = cand.join(succ, [cand.user == succ.s_user, cand.ip == succ.s_ip,
                           succ.s_time >= cand.time - window, succ.s_time <= cand.time + window])
    hit = hit.select(r_id=hit.event_id).distinct()
    out = scoped.left_join(hit, scoped.event_id == hit.r_id)
    retried = out.r_id.notnull()
    return out.mutate(is_candidate=out.is_candidate & ~retried, retried=retried).drop("r_id")


def value_counts(scoped: ibis.Table, features: tuple[str, ...]) -> ibis.Table:
    """One row per (feature, raw value): successes and candidate failures carrying it (one query);
    :func:`canonical_counts` sums them per category."""
    parts = [
        scoped.select(feature=ibis.literal(name), value=scoped[f"f_{name}"],
                      succ=scoped.success.cast("int64"), cand=scoped.is_candidate.cast("int64"))
        for name in features
    ]
    stacked = parts[0].union(*parts[1:]) if len(parts) > 1 else parts[0]
    return stacked.group_by(["feature", "value"]).agg(n_success=stacked.succ.sum(),
                                                      n_failed=stacked.cand.sum())


@dataclass
class FieldRarity:
    """One feature's smoothed probabilities, its threshold, and which values are anomalous."""

    feature: str
    values: pd.DataFrame      # value, n_success, n_failed, p, log_p, anomalous
    threshold_log_p: float
    n_baseline: int
    n_categories: int

    @property
    def anomalous_values(self) -> list[str]:
        return self.values.loc[self.values.anomalous, "value"].tolist()


def field_rarity(counts: pd.DataFrame, feature: str, *, alpha: float, rule: str, k_sd: float,
                 tail_mass: float) -> FieldRarity:
    """Dirichlet-smoothed probabilities and the dynamic threshold for one feature's value counts."""
    # Sorted by value: the engine returns groups in any order, and both the weighted mean and σ
    # (float sums) and the order of the values table (ties in later stable sorts) must not follow it.
    df = counts[counts.feature == feature][["value", "n_success", "n_failed"]] \
        .sort_values("value", kind="stable").copy()
    df[["n_success", "n_failed"]] = df[["n_success", "n_failed"]].fillna(0).astype("int64")
    N, K = int(df.n_success.sum()), len(df)
    df["p"] = (df.n_success + alpha) / (N + alpha * K)
    df["log_p"] = np.log(df.p)
    w = df.n_success.to_numpy(dtype=float)
    if rule == "mean-sd":
        mean = float(np.average(df.log_p, weights=w)) if w.sum() else float(df.log_p.mean())
        sd = float(np.sqrt(np.average((df.log_p - mean) ** 2, weights=w))) if w.sum() else 0.0
        threshold = mean - k_sd * sd
        df["anomalous"] = df.log_p < threshold
    elif rule == "tail":
        # Sort rarest first; a value is anomalous while the baseline share of values at least as rare
        # (itself included) stays below tail_mass. Never-seen values are always in the tail.
        order = df.sort_values(["log_p", "value"]).index
        share = (df.loc[order, "n_success"].cumsum() / max(N, 1)).reindex(df.index)
        df["anomalous"] = (share < tail_mass) | (df.n_success == 0)
        threshold = float(df.loc[df.anomalous, "log_p"].max()) if df.anomalous.any() else float("-inf")
    else:
        raise ConfigError(f"unknown threshold rule {rule!r}; expected one of {', '.join(THRESHOLD_RULES)}")
    return FieldRarity(feature, df.reset_index(drop=True), threshold, N, K)


def with_bits(scoped: ibis.Table, rarities: list[FieldRarity], engine: Engine,
              raw_values: pd.DataFrame) -> ibis.Table:
    """Join each feature's raw value → (category, anomalous) lookup onto the events: ``f_<feature>``
    becomes the category, plus ``b_<feature>`` bits and ``pattern``.

    ``raw_values`` (columns ``feature``, ``value``) are the raw values of ``scoped`` (its
    :func:`value_counts`, which the fit has anyway). Each is trimmed here in
    Python (:func:`canonical_value`) — a few thousand values, not every row. The lookups are staged
    through :meth:`Engine.load` (Parquet read back by the engine), so the join runs the same on
    DuckDB and Spark. ``pattern`` packs the bits into one integer (bit i = feature i) so
    ``group_by(pattern)`` yields the distinct bit-patterns. A category missing from its rarity
    (a value the baseline never had) counts as anomalous.
    """
    lookups = []
    for fr in rarities:
        raw = sorted(set(raw_values.value[raw_values.feature == fr.feature].astype(str)))
        category = [canonical_value(v) for v in raw]
        anomalous = dict(zip(fr.values.value.astype(str), fr.values.anomalous.astype(bool)))
        lookups.append(engine.load(pa.table({
            f"v_{fr.feature}": pa.array(raw, pa.string()), f"c_{fr.feature}": pa.array(category, pa.string()),
            f"a_{fr.feature}": pa.array([anomalous.get(c, True) for c in category], pa.bool_())}),
            "spray_lookup"))
    # One chain of joins and one projection at its end: Ibis compiles a flat join chain far faster
    # than ten nested join-and-project steps, and the engine plans the same joins.
    t = scoped
    for fr, lookup in zip(rarities, lookups):
        t = t.left_join(lookup, t[f"f_{fr.feature}"] == lookup[f"v_{fr.feature}"])
    names = {f"f_{fr.feature}" for fr in rarities}
    bits = {f"b_{fr.feature}": t[f"a_{fr.feature}"].fill_null(True).cast("int64") for fr in rarities}
    pattern = ibis.literal(0, type="int64")
    for i, fr in enumerate(rarities):
        pattern = pattern + bits[f"b_{fr.feature}"] * (1 << i)
    columns = [t[f"c_{c[2:]}"].fill_null(t[c]).name(c) if c in names else t[c] for c in scoped.columns]
    return t.select(*columns, **bits, pattern=pattern)


def stage(engine: Engine, frame: pd.DataFrame) -> ibis.Table:
    """A small lookup table on the engine (staged as Parquet, so DuckDB and Spark join it alike).

    Timestamps are written in microseconds: pandas holds nanoseconds, which Spark cannot read from
    Parquet (a lookup carrying a campaign's first failure, say).
    """
    table = pa.Table.from_pandas(frame, preserve_index=False)
    schema = pa.schema([f.with_type(pa.timestamp("us", f.type.tz)) if pa.types.is_timestamp(f.type) else f
                        for f in table.schema])
    return engine.load(table.cast(schema), "spray_lookup")


def distinct_patterns(pats: pd.DataFrame) -> pd.DataFrame:
    """One row per ``pattern`` with its count ``n`` summed, in pattern order.

    The engine returns groups in any order, and the mixture's seeding and every later tie follow
    the row order of the patterns, so the order is fixed here; summing also keeps a pattern once
    when it came back in two groups (e.g. a null and a false ``success``).
    """
    if pats.empty:
        return pats[["pattern", "n"]].reset_index(drop=True)
    return pats.groupby("pattern", as_index=False, sort=True).n.sum()


def decode_patterns(codes: np.ndarray, n_fields: int) -> np.ndarray:
    """Integer pattern codes back to a (patterns, fields) 0/1 matrix."""
    codes = np.asarray(codes, dtype=np.int64)
    return ((codes[:, None] >> np.arange(n_fields)) & 1).astype(float)
