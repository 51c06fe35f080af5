"""Which mixture clusters behave like a low-and-slow spray campaign, and how to rank them (step 5).

The mixture groups failed sign-ins by *which fields look unusual*; most clusters are benign noise
(typos from the office, travellers, a new phone). A cluster is kept as a ``password_spray`` only if it
passes every rule below; each rule is a named, documented parameter of :class:`PruningRules`, and
every finding carries the values it was judged on, so an analyst can see why it was kept.

A cluster that looks like an attack but not a *slow* one is reported under its own kind: many users in
a short burst is a ``fast_spray``; many attempts on few users is ``signin_brute_force``. They are
never reported as low-and-slow campaigns.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, fields

import numpy as np

from ..errors import ConfigError
from .kinds import BRUTE_FORCE, FAST_SPRAY, PASSWORD_SPRAY


@dataclass(frozen=True)
class PruningRules:
    """The published rules made explicit. Defaults are the ``default`` preset's.

    min_attempts: failed attempts in the cluster (a campaign of 5 attempts is not worth a page).
    min_anomalous_fields: fields whose cluster-mean anomaly probability (theta) is at least
        ``field_consistency`` — "consistently anomalous": the cluster is unusual in the same way.
    min_confidence: an attempt joins its cluster only if its pattern's posterior is at least this.
    min_span_days: days from first to last attempt (low-and-slow means weeks, not hours).
    min_active_days: distinct days with an attempt.
    min_users: distinct targeted users (a spray sprays).
    max_attempts_per_user: mean attempts per targeted user (a spray stays under lockout).
    max_ks: Kolmogorov–Smirnov statistic of the attempt times against uniform over the active period;
        low means the attempts trickle evenly, as a scheduled spray does. 1.0 disables the rule.
    min_invariant_fields: fields whose values are pinned to a few values that are rare among successful
        sign-ins (see :mod:`.fingerprint`); 0 disables the rule. Travellers and new phones fail here:
        they are unusual, but each in a different way.
    fast_spray_min_users / brute_force_min_attempts_per_user: when a campaign that fails the slow rules
        is reported as ``fast_spray`` / ``signin_brute_force`` instead of dropped (password-type failures
        per account: a locked account answers 50053, which is not one, so ten guesses is already many).
    heavy_attempts_per_user: an account a campaign hit this often is split off on its own (a brute
        force inside a spray's tool, a broken job) before the campaign is judged.
    burst_gap_hours: a source quiet for longer than this ends its burst window (:mod:`.bursts`).
    stale_min_attempts, stale_min_span_hours, stale_regularity, stale_tolerance: one account failing
        from one address at least this often, over at least this long, with at least this share of its
        gaps within ``stale_tolerance`` of a multiple of its period, from an address it or other
        accounts sign in from, is ``stale_credentials`` (:mod:`.stale`), not an attack.
    """

    min_attempts: int = 20
    min_anomalous_fields: int = 1
    field_consistency: float = 0.9
    min_confidence: float = 0.5
    min_span_days: float = 14.0
    min_active_days: int = 7
    min_users: int = 10
    max_attempts_per_user: float = 10.0
    max_ks: float = 0.35
    min_invariant_fields: int = 1
    fast_spray_min_users: int = 20
    brute_force_min_attempts_per_user: float = 10.0
    heavy_attempts_per_user: float = 20.0
    burst_gap_hours: float = 2.0
    stale_min_attempts: int = 20
    stale_min_span_hours: float = 24.0
    stale_regularity: float = 0.8
    stale_tolerance: float = 0.2

    def __post_init__(self) -> None:
        for f in fields(self):
            value = getattr(self, f.name)
            if not isinstance(value, (int, float)) or value < 0:
                raise ConfigError(f"pruning rule {f.name} must be a non-negative number, got {value!r}")
        if not 0 <= self.max_ks <= 1 or not 0 <= self.field_consistency <= 1 \
                or not 0 <= self.min_confidence <= 1 or not 0 <= self.stale_regularity <= 1 \
                or not 0 < self.stale_tolerance < 0.5:
            raise ConfigError("max_ks, field_consistency, min_confidence and stale_regularity must be within "
                              "[0, 1], stale_tolerance within (0, 0.5)")

    def to_dict(self) -> dict:
        return asdict(self)


def ks_uniform(day_index: np.ndarray, counts: np.ndarray) -> float:
    """KS statistic of daily attempt counts against uniform over the days from first to last attempt.

    Day resolution is what the evenness question needs ("a few a day for months") and keeps the input
    an aggregate. Within a day attempts are treated as spread evenly, so the statistic is measured at
    day boundaries: ``max_d |F_emp(end of d) - (d + 1) / L|``.
    """
    day_index = np.asarray(day_index, dtype=np.int64)
    counts = np.asarray(counts, dtype=float)
    if counts.sum() <= 0:
        return 1.0
    span = int(day_index.max() - day_index.min()) + 1
    daily = np.zeros(span)
    np.add.at(daily, day_index - day_index.min(), counts)
    emp = np.cumsum(daily) / daily.sum()
    uni = np.arange(1, span + 1) / span
    return float(np.max(np.abs(emp - uni)))


def judge(stats: dict, rules: PruningRules) -> tuple[str | None, list[str]]:
    """Decide a campaign's kind from its statistics: ``password_spray``, ``fast_spray``,
    ``signin_brute_force`` or ``None`` (dropped), with the names of the rules it failed.
    """
    checks = [
        ("min_attempts", stats["attempts"] >= rules.min_attempts),
        ("min_anomalous_fields", stats["anomalous_fields"] >= rules.min_anomalous_fields),
        ("min_invariant_fields", stats["invariant_fields"] >= rules.min_invariant_fields),
        ("min_users", stats["users"] >= rules.min_users),
        ("max_attempts_per_user", stats["attempts_per_user"] <= rules.max_attempts_per_user),
        ("min_span_days", stats["span_days"] >= rules.min_span_days),
        ("min_active_days", stats["active_days"] >= rules.min_active_days),
        ("max_ks", stats["ks"] <= rules.max_ks),
    ]
    failed = [name for name, ok in checks if not ok]
    if not failed:
        return PASSWORD_SPRAY, failed
    attack_like = stats["attempts"] >= rules.min_attempts and \
        stats["invariant_fields"] >= rules.min_invariant_fields and \
        stats["anomalous_fields"] >= rules.min_anomalous_fields
    slow_failures = {"min_span_days", "min_active_days", "max_ks"}
    burst = stats["span_days"] < rules.min_span_days
    if attack_like and burst and stats["users"] >= rules.fast_spray_min_users and \
            set(failed) <= slow_failures | {"max_attempts_per_user"}:
        return FAST_SPRAY, failed
    # Weeks of failures on one account are a broken job, not a brute force: bursts only.
    if attack_like and burst and stats["attempts_per_user"] >= rules.brute_force_min_attempts_per_user:
        return BRUTE_FORCE, failed
    return None, failed


def campaign_score(stats: dict) -> float:
    """Ranking score: more users, more even in time, longer, more confident, more distinctive — higher.

    It is a product of bounded factors so no single statistic dominates; matched successes double it
    because a campaign that got in is the one to look at first.
    """
    users = np.log10(1 + stats["users"])
    evenness = 1.0 - stats["ks"]
    length = min(1.0, stats["span_days"] / 30.0)
    distinct = min(1.0, 0.5 + 0.25 * stats["invariant_fields"])
    got_in = 2.0 if stats.get("successes", 0) else 1.0
    return float(round(users * evenness * (0.5 + 0.5 * length) * stats["confidence"] * distinct * got_in, 4))
