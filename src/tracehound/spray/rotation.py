"""Is a field *rotated* by the campaign's tool — picked per attempt from a small set — or a sign of two?

A tool rotating its client app among IMAP4 and Authenticated SMTP picks one per attempt, whatever
the time and whoever the target; two tools that happen to use one protocol each do not. So a field
whose few values carry nearly all of a campaign's attempts is *rotated from a set of N* when both
tests below fail to reject that the value is independent of the attempt:

- **time** — every value spans the campaign's period at the same cadence: the counts of values ×
  equal-width time bins over the campaign's span are homogeneous (χ² test of independence; bins
  pooled so that each holds enough attempts to test, values with too few attempts left out). Two
  tools with different periods, dormant weeks or rates reject it.
- **target** — an account the campaign tried several times got whatever value came up: accounts
  whose attempts all carry one value are no more frequent than chance makes them (Σ_v p_v^k for an
  account tried k times, with p_v the values' shares). Travellers reject it — each is abroad in one
  country — and so do two tools working through separate target lists.

Both are computed from small aggregates (per campaign, field and value: counts per time bin; per
campaign, field and account: attempts and distinct values) of the campaigns' attempts, brought back.
"""

from __future__ import annotations

import numpy as np
import pandas as pd
from scipy.special import chdtrc, ndtr

#: Equal-width time bins over a campaign's span for the time test.
TIME_BINS = 8
_EPOCH = pd.Timestamp(0, tz="UTC")
#: Attempts a value needs to take part in the time test, and expected attempts per pooled bin.
MIN_VALUE_ATTEMPTS = 5
MIN_EXPECTED = 5.0


def rotation_aggregates(attempts: pd.DataFrame, pairs: pd.DataFrame, features: list[str]
                        ) -> tuple[pd.DataFrame, pd.DataFrame]:
    """For the (campaign, feature) pairs to test: counts per (campaign, feature, value, time bin) and per
    (campaign, feature, user) the attempts and distinct values. ``attempts``: the campaigns' attempts,
    brought back (columns campaign, time, user and ``f_<feature>``); ``pairs``: columns campaign,
    feature; ``features`` lists its features.

    A campaign's span is cut into :data:`TIME_BINS` equal bins on its epoch seconds with their
    microseconds, the same on every engine (Spark's ``unix_timestamp`` would drop them).
    """
    campaign = attempts.campaign.to_numpy()
    seconds = ((attempts.time - _EPOCH) // pd.Timedelta(microseconds=1)) / 1e6
    first = seconds.groupby(campaign).transform("min").to_numpy()
    length = seconds.groupby(campaign).transform("max").to_numpy() - first
    offset = seconds.to_numpy() - first
    tbin = np.where(length > 0, np.floor(offset * TIME_BINS / (length + 1.0)), 0).astype(np.int64)
    wanted = pairs.groupby("feature").campaign.agg(lambda c: set(c.astype("int64")))
    user = attempts.user.to_numpy()
    parts = []
    for f in features:
        keep = np.isin(campaign, list(wanted.get(f, ())))
        parts.append(pd.DataFrame({"campaign": campaign[keep], "feature": f,
                                   "value": attempts[f"f_{f}"].to_numpy()[keep], "user": user[keep],
                                   "tbin": tbin[keep]}))
    stacked = pd.concat(parts, ignore_index=True)
    by_bin = stacked.groupby(["campaign", "feature", "value", "tbin"], sort=False).size().rename("n").reset_index()
    by_user = stacked.groupby(["campaign", "feature", "user"], sort=False, dropna=False).agg(
        n=("value", "size"), values=("value", "nunique")).reset_index()
    return by_bin, by_user


def time_test(values: np.ndarray, tbins: np.ndarray, n: np.ndarray) -> float:
    """p-value that one campaign field's values share one distribution over the time bins (1.0 when
    there is too little to test). Parallel arrays: value code, time bin, attempts."""
    table = np.zeros((int(values.max()) + 1, TIME_BINS))
    np.add.at(table, (values, np.clip(tbins, 0, TIME_BINS - 1)), n)
    table = table[table.sum(axis=1) >= MIN_VALUE_ATTEMPTS]
    if len(table) < 2:
        return 1.0
    # Pool adjacent bins until each can hold MIN_EXPECTED of the rarest tested value.
    need = MIN_EXPECTED * table.sum() / table.sum(axis=1).min()
    pooled, current = [], np.zeros(len(table))
    for column in table.T:
        current = current + column
        if current.sum() >= need:
            pooled.append(current)
            current = np.zeros(len(table))
    if current.sum() > 0:
        if pooled:
            pooled[-1] = pooled[-1] + current
        else:
            pooled.append(current)
    if len(pooled) < 2:
        return 1.0
    return independence_p(np.stack(pooled, axis=1))


def independence_p(observed: np.ndarray) -> float:
    """p-value of Pearson's χ² test of independence of a table with no zero margin: the arithmetic of
    ``scipy.stats.chi2_contingency(observed, correction=False)``, step for step, without importing
    ``scipy.stats`` (0.7 s of every command's start)."""
    observed = np.asarray(observed, dtype=np.float64)
    expected = observed.sum(axis=1, keepdims=True) * observed.sum(axis=0, keepdims=True) / observed.sum()
    dof = expected.size - sum(expected.shape) + expected.ndim - 1
    if dof == 0:
        return 1.0
    return float(chdtrc(dof, ((observed - expected) ** 2 / expected).sum()))


def target_test(by_user: pd.DataFrame, shares: np.ndarray) -> float:
    """p-value that accounts tried more than once keep to one value no more often than chance
    (1.0 when no account was tried twice). ``by_user``: n, values per account; ``shares``: the
    values' shares of the campaign's attempts."""
    multi = by_user[by_user.n >= 2]
    if multi.empty:
        return 1.0
    k = multi.n.to_numpy(dtype=float)
    p_pure = (shares[None, :] ** k[:, None]).sum(axis=1)
    observed = float((multi["values"] == 1).sum())
    expected = float(p_pure.sum())
    variance = float((p_pure * (1 - p_pure)).sum())
    if variance <= 0:
        return 1.0 if observed <= expected else 0.0
    return float(ndtr(-(observed - expected - 0.5) / np.sqrt(variance)))  # the normal's upper tail


def rotation_tests(by_bin: pd.DataFrame, by_user: pd.DataFrame) -> dict[tuple[int, str], dict]:
    """``{(campaign, feature): {"p_time", "p_target"}}`` for every pair in the aggregates, each pair's
    rows taken in a fixed order (the engine returns them in any)."""
    out = {}
    by_bin = by_bin.sort_values(["campaign", "feature", "value", "tbin"], kind="stable")
    by_user = by_user.sort_values(["campaign", "feature", "user"], kind="stable")
    users = {(int(c), str(f)): g for (c, f), g in by_user.groupby(["campaign", "feature"], sort=True)}
    for (c, f), g in by_bin.groupby(["campaign", "feature"], sort=True):
        codes, uniques = pd.factorize(g.value, sort=True)
        n = g.n.to_numpy(dtype=float)
        totals = np.bincount(codes, weights=n)
        u = users.get((int(c), str(f)), pd.DataFrame(columns=["n", "values"]))
        out[(int(c), str(f))] = {"p_time": round(time_test(codes, g.tbin.to_numpy(dtype=np.int64), n), 6),
                                 "p_target": round(target_test(u, totals / totals.sum()), 6)}
    return out
