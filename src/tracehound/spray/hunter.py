"""The spray hunt on the hunt contract: :class:`SprayHunter` (validate → fit → score → detect), its
presets, and :func:`spray_hunt`, the builder the pipeline calls with a ``[spray]`` config section.

``fit`` learns the per-field rarities from a baseline's successful sign-ins and the Bernoulli mixture
over the distinct anomaly bit-patterns of its failed ones; ``score`` measures a table under them —
every candidate cluster and campaign (size, users, span, evenness, fingerprint) judged against the
pruning rules — and returns it all as a :class:`~.scores.SprayScores`; ``detect`` turns the kept
campaigns of that value into findings with their raw event ids and the successes that match them.
Nothing from ``score`` stays on the hunter, so fitting on last quarter and scoring this week works,
and scoring another table in between never changes what ``detect`` reports. All row-level work is
Ibis on the engine; only aggregates and the findings' own event ids come back.
"""

from __future__ import annotations

import inspect
import math
from dataclasses import dataclass
from numbers import Integral, Real

import ibis
import numpy as np
import pandas as pd

from ..contract import check_fitted
from ..engine import Engine
from ..errors import ConfigError, InputFormatError
from ..findings import Finding
from .campaigns import cluster_table
from .evidence import plot_evidence
from .fingerprint import FingerprintRules
from .kinds import PASSWORD_SPRAY
from .mixture import BernoulliMixture, cluster_posterior, component_groups
from .narrative import finding
from .pruning import PruningRules
from .rarity import (DEFAULT_FEATURES, EMPTY, THRESHOLD_RULES, FieldRarity, canonical_counts, decode_patterns,
                     distinct_patterns, drop_retried, field_rarity, has_duplicates, scoped_signins, value_counts,
                     with_bits)
from .scores import SprayScores
from .stale import find_stale, stale_findings, stale_ids
from .successes import fingerprint_carriers, match_successes, new_to_user, success_span

#: Password-type failures: 50126 invalid username or password, 50055 password expired, 50053 locked
#: (Smart Lockout answers a locked account, and a sign-in from an address it deems malicious, with
#: 50053: a spray that keeps trying, and a brute force after its first ten guesses, get mostly that).
DEFAULT_FAILURE_CODES: tuple[int, ...] = (50126, 50055, 50053)
#: The codes the published notebook's method is run with here (the ``mstic`` preset).
MSTIC_FAILURE_CODES: tuple[int, ...] = (50126, 50055)
REQUIRED_COLUMNS = ("event_id", "time", "user", "result", "success", "ip")

#: ``mstic`` reproduces the published notebook: α = 2, mean − 2σ thresholds, one mixture start, and
#: pruning by size and anomalous fields only (the notebook applies no time, evenness or fingerprint
#: rule). ``default`` is what scored best in our evaluation (docs/spray.md).
PRESETS: dict[str, dict] = {
    "mstic": dict(
        features=("app", "client_app", "browser", "os", "device_name", "ip_prefix", "country",
                  "state", "city"),
        alpha=2.0, threshold_rule="mean-sd", k_sd=2.0, n_init=1, failure_codes=MSTIC_FAILURE_CODES,
        rules=PruningRules(min_attempts=20, min_anomalous_fields=2, min_confidence=0.0,
                           min_span_days=0, min_active_days=0, min_users=2,
                           max_attempts_per_user=math.inf, max_ks=1.0, min_invariant_fields=0),
        retry_window_hours=0.0,
    ),
    "default": dict(),
}


@dataclass(frozen=True, eq=False)
class _Staged:
    """A sign-in table scoped and given its anomaly bits, with the two aggregates ``score`` reads."""

    events: ibis.Table
    bits: ibis.Table
    #: Counts per (pattern, is_candidate, success).
    patterns: pd.DataFrame
    retried: int


class SprayHunter:
    """Find low-and-slow password spray campaigns in a canonical ``signins`` table.

    Parameters (stored as given, checked by :meth:`validate`; see docs/spray.md for the method):
    features: canonical columns (or ``hour``) whose rarity is measured.
    failure_codes: result codes of the failed sign-ins that are spray candidates.
    alpha: symmetric Dirichlet prior for the per-field probabilities.
    threshold_rule, k_sd, tail_mass: per-field anomaly threshold (``mean-sd``: log p < mean − k_sd·σ;
        ``tail``: the rarest values carrying < tail_mass of the successful sign-ins).
    retry_window_hours: a failure whose user got in from the same IP within this many hours is a
        typo, not a candidate (0 keeps them all, as the published method does).
    n_components, n_init, max_iter, random_state: the Bernoulli mixture.
    rules: :class:`PruningRules` (or a dict of its fields, from a config file);
    fingerprint_rules: :class:`FingerprintRules` (or a dict of its fields).

    Learned by :meth:`fit`: ``rarities_``, ``mixture_``, ``components_`` (each mixture component's
    representative), ``patterns_`` (the baseline's candidate patterns with cluster and confidence),
    ``features_``, ``rules_``, ``fingerprint_rules_``, ``engine_``, and ``baseline_``: the baseline
    as scoped for the hunt, reused when :meth:`score` is given the same table expression.
    """

    def __init__(self, *, features: tuple[str, ...] = DEFAULT_FEATURES,
                 failure_codes: tuple[int, ...] = DEFAULT_FAILURE_CODES, alpha: float = 1.0,
                 threshold_rule: str = "tail", k_sd: float = 2.0, tail_mass: float = 0.01,
                 retry_window_hours: float = 24.0,
                 n_components: int = 10, n_init: int = 5, max_iter: int = 1000,
                 random_state: int | None = 0, rules: PruningRules = PruningRules(),
                 fingerprint_rules: FingerprintRules = FingerprintRules()) -> None:
        self.features = features
        self.failure_codes = failure_codes
        self.alpha = alpha
        self.threshold_rule = threshold_rule
        self.k_sd = k_sd
        self.tail_mass = tail_mass
        self.retry_window_hours = retry_window_hours
        self.n_components = n_components
        self.n_init = n_init
        self.max_iter = max_iter
        self.random_state = random_state
        self.rules = rules
        self.fingerprint_rules = fingerprint_rules

    @classmethod
    def from_preset(cls, name: str = "default", **overrides) -> "SprayHunter":
        """A hunter with a preset's parameters, any of them overridden by keyword."""
        if not isinstance(name, str) or name not in PRESETS:
            raise ConfigError(f"unknown spray preset {name!r}; expected one of {', '.join(PRESETS)}")
        accepted = inspect.signature(cls).parameters
        unknown = sorted(set(overrides) - set(accepted))
        if unknown:
            raise ConfigError(f"unknown spray parameter(s) {', '.join(unknown)}; expected "
                              f"{', '.join(accepted)}")
        return cls(**{**PRESETS[name], **overrides})

    # -- validate ----------------------------------------------------------------------------------
    def validate(self) -> None:
        """Raise :class:`ConfigError` naming the parameter that is of the wrong type or out of range.

        Called by :meth:`fit` and by the pipeline before any data is read, so a bad ``[spray]``
        section is one clear line instead of a TypeError halfway through a hunt.
        """
        _names(self.features, "features")
        if not isinstance(self.failure_codes, (list, tuple)) or not self.failure_codes or \
                not all(_integer(c) for c in self.failure_codes):
            raise ConfigError(f"failure_codes must be a non-empty list of integer result codes, "
                              f"got {self.failure_codes!r}")
        _number(self.alpha, "alpha", low=0.0, low_open=True)
        if not isinstance(self.threshold_rule, str) or self.threshold_rule not in THRESHOLD_RULES:
            raise ConfigError(f"unknown threshold rule {self.threshold_rule!r}; expected one of "
                              f"{', '.join(THRESHOLD_RULES)}")
        _number(self.k_sd, "k_sd", low=0.0)
        _number(self.tail_mass, "tail_mass", low=0.0, low_open=True, high=1.0)
        _number(self.retry_window_hours, "retry_window_hours", low=0.0)
        for name in ("n_components", "n_init", "max_iter"):
            value = getattr(self, name)
            if not _integer(value) or value < 1:
                raise ConfigError(f"{name} must be an integer of at least 1, got {value!r}")
        if self.random_state is not None and not _integer(self.random_state):
            raise ConfigError(f"random_state must be an integer or None, got {self.random_state!r}")
        _as(PruningRules, self.rules, "rules")
        _as(FingerprintRules, self.fingerprint_rules, "fingerprint_rules")

    # -- fit ---------------------------------------------------------------------------------------
    def fit(self, baseline: ibis.Table, engine: Engine) -> "SprayHunter":
        """Learn field rarities from the baseline's successes and cluster its failed attempts' bit-patterns."""
        self.validate()
        rules = _as(PruningRules, self.rules, "rules")
        fingerprint_rules = _as(FingerprintRules, self.fingerprint_rules, "fingerprint_rules")
        features = tuple(self.features)
        _require_columns(baseline, features)
        scoped = self._scope(baseline, features, engine)
        retried = _check_population(scoped, engine, tuple(self.failure_codes), self.retry_window_hours)
        raw_counts = engine.to_pandas(value_counts(scoped, features))
        counts = canonical_counts(raw_counts)
        if counts[counts.value != EMPTY].empty:
            raise InputFormatError(f"every feature field ({', '.join(features)}) is empty in every "
                                   "sign-in; the hunt compares field values and has none to compare")
        rarities = [field_rarity(counts, f, alpha=self.alpha, rule=self.threshold_rule, k_sd=self.k_sd,
                                 tail_mass=self.tail_mass) for f in features]
        staged = _stage_bits(baseline, scoped, rarities, retried, engine, raw_counts)
        cand = distinct_patterns(staged.patterns[staged.patterns.is_candidate.astype(bool)])
        X = decode_patterns(cand.pattern.to_numpy(), len(features))
        mixture = BernoulliMixture(self.n_components, n_init=self.n_init, max_iter=self.max_iter,
                                   random_state=self.random_state).fit(X, cand.n.to_numpy())
        components = component_groups(mixture)
        resp = cluster_posterior(mixture, components, X)
        self.rules_, self.fingerprint_rules_ = rules, fingerprint_rules
        self.features_, self.rarities_ = features, rarities
        self.mixture_, self.components_ = mixture, components
        self.patterns_ = cand.assign(cluster=resp.argmax(axis=1), confidence=resp.max(axis=1))[
            ["pattern", "n", "cluster", "confidence"]]
        self.baseline_ = staged
        self.engine_ = engine
        return self

    def _scope(self, signins: ibis.Table, features: tuple[str, ...], engine: Engine) -> ibis.Table:
        """Successes and candidate failures with their feature columns, typos set aside (cached)."""
        scoped = scoped_signins(signins, features, tuple(self.failure_codes),
                                dedupe=has_duplicates(signins, engine))
        if self.retry_window_hours > 0:
            scoped = drop_retried(scoped, self.retry_window_hours)
        else:
            scoped = scoped.mutate(retried=ibis.literal(False))
        return engine.cache(scoped)

    # -- score -------------------------------------------------------------------------------------
    def score(self, events: ibis.Table) -> SprayScores:
        """Measure ``events`` (the baseline itself, or later sign-ins) with the fitted rarities and
        mixture: one row per campaign and per dropped mixture cluster, with what ``detect`` needs."""
        check_fitted(self)
        if not isinstance(events, ibis.Table):
            raise TypeError(f"score() takes a signins table, got {type(events).__name__}")
        engine = self.engine_
        staged = self.baseline_ if events.equals(self.baseline_.events) else self._staged(events, engine)
        pats = staged.patterns
        cand = distinct_patterns(pats[pats.is_candidate.astype(bool)])
        if cand.empty:
            cand = cand.assign(cluster=pd.Series(dtype="int64"), confidence=pd.Series(dtype=float))
        else:
            resp = cluster_posterior(self.mixture_, self.components_,
                                     decode_patterns(cand.pattern.to_numpy(), len(self.features_)))
            cand = cand.assign(cluster=resp.argmax(axis=1), confidence=resp.max(axis=1))
        stale = find_stale(staged.bits, engine, self.rules_)
        clusters, campaigns = cluster_table(
            staged.bits, cand, self.mixture_.theta_, engine, features=self.features_, rarities=self.rarities_,
            rules=self.rules_, fingerprint_rules=self.fingerprint_rules_,
            set_aside=stale_ids(staged.bits, stale, engine))
        return SprayScores(clusters=clusters, retried_excluded=staged.retried, bits=staged.bits,
                           campaigns=campaigns,
                           success_patterns=distinct_patterns(pats[pats.success.fillna(False).astype(bool)]),
                           stale=stale)

    def _staged(self, events: ibis.Table, engine: Engine) -> _Staged:
        """Another table than the baseline, scoped and given its bits under the fitted rarities."""
        _require_columns(events, self.features_)
        scoped = self._scope(events, self.features_, engine)
        retried = int(engine.scalar(scoped.retried.cast("int64").sum()) or 0)
        raw_values = engine.to_pandas(value_counts(scoped, self.features_))
        return _stage_bits(events, scoped, self.rarities_, retried, engine, raw_values)

    # -- detect ------------------------------------------------------------------------------------
    def detect(self, scores: SprayScores) -> list[Finding]:
        """Findings for the kept campaigns of ``scores``: their attempts, roles, matched successes and
        evidence. Finding ids follow the ranking (``password_spray-001`` is the best campaign)."""
        check_fitted(self)
        engine = self.engine_
        kept = scores.clusters[scores.clusters.kind.notna()]
        if kept.empty:
            return stale_findings(scores.bits, scores.stale, engine, first_rank=1)
        bits, campaign = scores.bits, scores.campaigns
        ids = engine.to_pandas(campaign.filter(campaign.campaign.isin([int(k) for k in kept.campaign]))
                               .select("campaign", "event_id", "user", "ip", "time", "ua_raw", "pattern"))
        plots = plot_evidence(kept, campaign, bits, engine, mixture=self.mixture_, components=self.components_,
                              features=self.features_, rarities=self.rarities_)
        sprays = kept[kept.kind == PASSWORD_SPRAY]
        if not sprays.empty:  # what every spray's success matching shares
            new_successes = engine.to_pandas(new_to_user(bits, [
                (r.fingerprint, *success_span(r, self.fingerprint_rules_))
                for r in sprays.itertuples(index=False) if r.fingerprint]))
            carriers = fingerprint_carriers(bits, dict(zip(sprays.campaign.astype(int), sprays.fingerprint)),
                                            engine)
        findings = []
        for rank, row in enumerate(kept.itertuples(index=False), start=1):
            # Counts come back as floats when dropped clusters (no counts) share the frame.
            row = row._replace(**{c: int(getattr(row, c)) for c in ("attempts", "users", "ips", "active_days")})
            ev = ids[ids.campaign == row.campaign].sort_values(["time", "event_id"])
            successes = pd.DataFrame(columns=["event_id", "user", "time"])
            if row.kind == PASSWORD_SPRAY:
                successes = match_successes(
                    bits, new_successes, ev, row, engine, carriers=carriers.get(int(row.campaign), 0),
                    success_patterns=scores.success_patterns,
                    mixture=self.mixture_, components=self.components_, features=self.features_,
                    fingerprint_rules=self.fingerprint_rules_)
            findings.append(finding(
                rank, row, ev, successes, plots[int(row.campaign)], retried_excluded=scores.retried_excluded,
                mixture=self.mixture_, features=self.features_, threshold_rule=self.threshold_rule,
                rarities=self.rarities_, rules=self.rules_))
        return findings + stale_findings(scores.bits, scores.stale, engine, first_rank=len(findings) + 1)


def spray_hunt(preset: str = "default", **overrides) -> SprayHunter:
    """A fresh, unfitted :class:`SprayHunter` of ``preset`` with any parameter overridden: what the
    pipeline builds from a ``[spray]`` config section. Its signature (below) lists every parameter,
    with the ``default`` preset's value; an unknown preset or parameter is a :class:`ConfigError`."""
    return SprayHunter.from_preset(preset, **overrides)


# The accepted config parameters are read from the signature, so it names every one of them;
# omitted ones keep the *preset's* value, which is why the function itself takes ``**overrides``.
spray_hunt.__signature__ = inspect.Signature(
    [inspect.Parameter("preset", inspect.Parameter.POSITIONAL_OR_KEYWORD, default="default", annotation=str),
     *inspect.signature(SprayHunter).parameters.values()],
    return_annotation=SprayHunter)


def _stage_bits(events: ibis.Table, scoped: ibis.Table, rarities: list[FieldRarity], retried: int,
                engine: Engine, raw_values: pd.DataFrame) -> _Staged:
    """The bits of ``scoped`` (cached: every later step reads them) and their pattern counts;
    ``raw_values``: its raw feature values (see :func:`.rarity.with_bits`)."""
    bits = engine.cache(with_bits(scoped, rarities, engine, raw_values))
    patterns = engine.to_pandas(bits.group_by(["pattern", "is_candidate", "success"]).agg(n=bits.count()))
    return _Staged(events=events, bits=bits, patterns=patterns, retried=retried)


def _require_columns(signins: ibis.Table, features: tuple[str, ...]) -> None:
    missing = [c for c in (*REQUIRED_COLUMNS, *[f for f in features if f != "hour"]) if c not in signins.columns]
    if missing:
        raise InputFormatError(
            f"the sign-in table lacks column(s) {', '.join(missing)}; expected the canonical "
            f"signins columns ({', '.join(signins.columns) or 'none'} received)")


def _check_population(scoped: ibis.Table, engine: Engine, failure_codes: tuple[int, ...],
                      retry_window_hours: float) -> int:
    """Clear messages for a baseline the method cannot learn from, before any heavy step; returns
    the number of failures set aside as typos."""
    row = engine.to_pandas(scoped.aggregate(
        successes=scoped.success.cast("int64").sum(), candidates=scoped.is_candidate.cast("int64").sum(),
        retried=scoped.retried.cast("int64").sum(), users=scoped.user.nunique())).iloc[0]
    retried = int(row.retried or 0)
    if row.users < 2:
        raise InputFormatError("every sign-in belongs to one user; a password spray targets many "
                               "users, so the input must cover more than one account")
    if not row.candidates or pd.isna(row.candidates):
        codes = ", ".join(map(str, failure_codes))
        typos = (f" ({retried:,} failures were followed by a successful sign-in from the same IP within "
                 f"{retry_window_hours:g} h and set aside as typos)" if retried else "")
        raise InputFormatError(f"no failed sign-ins with result codes {codes} in the input{typos}; "
                               "nothing to hunt (is this an export of successful sign-ins only?)")
    if not row.successes or pd.isna(row.successes):
        raise InputFormatError("no successful sign-ins (result 0) in the input; the hunt needs "
                               "them as the baseline of what normal looks like")
    return retried


def _integer(value) -> bool:
    return isinstance(value, Integral) and not isinstance(value, (bool, np.bool_))


def _number(value, name: str, *, low: float, low_open: bool = False, high: float | None = None) -> None:
    """``ConfigError`` unless ``value`` is a real number (not a bool) within the given bounds."""
    ok = isinstance(value, Real) and not isinstance(value, (bool, np.bool_)) and not math.isnan(value) and \
        (value > low if low_open else value >= low) and (high is None or value <= high)
    if not ok:
        bounds = f"{'above' if low_open else 'at least'} {low:g}" + (f" and at most {high:g}" if high else "")
        raise ConfigError(f"{name} must be a number {bounds}, got {value!r}")


def _names(features, name: str) -> None:
    if not isinstance(features, (list, tuple)) or not features or \
            not all(isinstance(f, str) and f.strip() for f in features):
        raise ConfigError(f"{name} must be a non-empty list of column names, got {features!r}")
    if len(set(features)) != len(features):
        raise ConfigError(f"{name} lists a column twice: {list(features)!r}")


def _as(kind: type, value, name: str):
    """``value`` as a ``kind`` dataclass: itself, or built from a dict of its fields."""
    if isinstance(value, kind):
        return value
    if isinstance(value, dict):
        try:
            return kind(**value)
        except TypeError as exc:
            raise ConfigError(f"{name}: {exc}") from None
    raise ConfigError(f"{name} must be a {kind.__name__} or a dict of its fields, got {type(value).__name__}")
