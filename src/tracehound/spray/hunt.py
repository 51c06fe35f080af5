"""The spray hunt end to end: :class:`SprayHunter` (fit → score → detect) and its presets.

``fit`` learns the per-field rarities from successful sign-ins and the Bernoulli mixture over the
distinct anomaly bit-patterns of failed ones; ``score`` measures every candidate cluster (size, users,
span, evenness, fingerprint) and judges it against the pruning rules; ``detect`` turns the kept
clusters into findings with their raw event ids and the successes that match them. All row-level
work is Ibis on the engine; only aggregates and the findings' own event ids come back.
"""

from __future__ import annotations

import math
import ibis
import numpy as np
import pandas as pd
import pyarrow as pa

from ..engine import Engine
from ..errors import ConfigError, InputFormatError, NotFittedError
from ..findings import Finding, iso_utc
from .evidence import mixture_evidence, rhythm_evidence, value_evidence
from .fingerprint import (KEY_SEP, NAME_SEP, TOP_VALUES, FingerprintRules, campaign_members,
                          distinctive, field_profiles, label_fields, matches, merge_campaigns,
                          merge_keys, parse_key, value_key)
from .mixture import BernoulliMixture
from .pruning import PruningRules, campaign_score, judge, ks_uniform
from .rarity import (DEFAULT_FEATURES, EMPTY, THRESHOLD_RULES, decode_patterns, distinct_patterns,
                     drop_retried, field_rarity, has_duplicates, scoped_signins, value_counts, with_bits)

#: Password-type failures: 50126 invalid username or password, 50055 password expired.
DEFAULT_FAILURE_CODES: tuple[int, ...] = (50126, 50055)
REQUIRED_COLUMNS = ("event_id", "time", "user", "result", "success", "ip")

#: ``mstic`` reproduces the published notebook: α = 2, mean − 2σ thresholds, one mixture start, and
#: pruning by size and anomalous fields only (the notebook applies no time, evenness or fingerprint
#: rule). ``default`` is what scored best in our evaluation (docs/spray.md).
PRESETS: dict[str, dict] = {
    "mstic": dict(
        features=("app", "client_app", "browser", "os", "device_name", "ip_prefix", "country",
                  "state", "city"),
        alpha=2.0, threshold_rule="mean-sd", k_sd=2.0, n_init=1,
        rules=PruningRules(min_attempts=20, min_anomalous_fields=2, min_confidence=0.0,
                           min_span_days=0, min_active_days=0, min_users=2,
                           max_attempts_per_user=math.inf, max_ks=1.0, min_invariant_fields=0),
        retry_window_hours=0.0,
    ),
    "default": dict(),
}


class SprayHunter:
    """Find low-and-slow password spray campaigns in a canonical ``signins`` table.

    Parameters (stored as given; see docs/spray.md for the method):
    features: canonical columns (or ``hour``) whose rarity is measured.
    failure_codes: result codes of the failed sign-ins that are spray candidates.
    alpha: symmetric Dirichlet prior for the per-field probabilities.
    threshold_rule, k_sd, tail_mass: per-field anomaly threshold (``mean-sd``: log p < mean − k_sd·σ;
        ``tail``: the rarest values carrying < tail_mass of the successful sign-ins).
    retry_window_hours: a failure whose user got in from the same IP within this many hours is a
        typo, not a candidate (0 keeps them all, as the published method does).
    n_components, n_init, max_iter, random_state: the Bernoulli mixture.
    rules: :class:`PruningRules`; fingerprint_rules: :class:`FingerprintRules`.
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
        if name not in PRESETS:
            raise ConfigError(f"unknown spray preset {name!r}; expected one of {', '.join(PRESETS)}")
        return cls(**{**PRESETS[name], **overrides})

    # -- fit ---------------------------------------------------------------------------------------
    def fit(self, signins: ibis.Table, *, engine: Engine) -> "SprayHunter":
        """Learn field rarities from successes and cluster the failed attempts' bit-patterns."""
        self._check_params()
        missing = [c for c in (*REQUIRED_COLUMNS, *[f for f in self.features if f != "hour"])
                   if c not in signins.columns]
        if missing:
            raise InputFormatError(
                f"the sign-in table lacks column(s) {', '.join(missing)}; expected the canonical "
                f"signins columns ({', '.join(signins.columns) or 'none'} received)")
        features = tuple(self.features)
        scoped = self._scope(signins, features, engine)
        self._check_population(scoped, engine)
        counts = engine.to_pandas(value_counts(scoped, features))
        self._check_fields(counts, features)
        self.rarities_ = [field_rarity(counts, f, alpha=self.alpha, rule=self.threshold_rule,
                                       k_sd=self.k_sd, tail_mass=self.tail_mass) for f in features]
        bits = with_bits(scoped, self.rarities_, engine).cache()
        pats = engine.to_pandas(bits.group_by(["pattern", "is_candidate", "success"]).agg(n=bits.count()))
        cand = distinct_patterns(pats[pats.is_candidate.astype(bool)])
        X = decode_patterns(cand.pattern.to_numpy(), len(features))
        self.mixture_ = BernoulliMixture(
            self.n_components, n_init=self.n_init, max_iter=self.max_iter,
            random_state=self.random_state).fit(X, cand.n.to_numpy())
        self.components_ = _component_groups(self.mixture_)
        resp = self._posterior(X)
        self.patterns_ = cand.assign(cluster=resp.argmax(axis=1), confidence=resp.max(axis=1))[
            ["pattern", "n", "cluster", "confidence"]]
        self.success_patterns_ = distinct_patterns(pats[pats.success.fillna(False).astype(bool)])
        self.features_ = features
        self._engine, self._bits = engine, bits
        return self

    def _posterior(self, X: np.ndarray) -> np.ndarray:
        """Posterior per cluster, duplicate components (see :func:`_component_groups`) summed."""
        resp = self.mixture_.predict_proba(X)
        out = np.zeros_like(resp)
        np.add.at(out.T, self.components_, resp.T)
        return out

    def _scope(self, signins: ibis.Table, features: tuple[str, ...], engine: Engine) -> ibis.Table:
        scoped = scoped_signins(signins, features, tuple(self.failure_codes),
                                dedupe=has_duplicates(signins, engine))
        if self.retry_window_hours > 0:
            scoped = drop_retried(scoped, self.retry_window_hours)
        else:
            scoped = scoped.mutate(retried=ibis.literal(False))
        return scoped.cache()

    def _check_params(self) -> None:
        """Validate parameters; rules may be given as dataclasses or as plain dicts (from a config file)."""
        self.rules_ = _as(PruningRules, self.rules, "rules")
        self.fingerprint_rules_ = _as(FingerprintRules, self.fingerprint_rules, "fingerprint_rules")
        if self.threshold_rule not in THRESHOLD_RULES:
            raise ConfigError(f"unknown threshold rule {self.threshold_rule!r}; expected one of "
                              f"{', '.join(THRESHOLD_RULES)}")
        if not self.features:
            raise ConfigError("at least one feature is needed")
        if not self.failure_codes:
            raise ConfigError("at least one failure result code is needed")
        if self.alpha <= 0:
            raise ConfigError(f"alpha must be positive, got {self.alpha}")

    def _check_population(self, scoped: ibis.Table, engine: Engine) -> None:
        """Clear messages for inputs the method cannot work on, before any heavy step."""
        row = engine.to_pandas(scoped.aggregate(
            successes=scoped.success.cast("int64").sum(), candidates=scoped.is_candidate.cast("int64").sum(),
            retried=scoped.retried.cast("int64").sum(), users=scoped.user.nunique())).iloc[0]
        self.retried_excluded_ = int(row.retried or 0)
        codes = ", ".join(map(str, self.failure_codes))
        if row.users < 2:
            raise InputFormatError("every sign-in belongs to one user; a password spray targets many "
                                   "users, so the input must cover more than one account")
        if not row.candidates or pd.isna(row.candidates):
            retried = (f" ({self.retried_excluded_:,} failures were followed by a successful sign-in "
                       f"from the same IP within {self.retry_window_hours:g} h and set aside as typos)"
                       if self.retried_excluded_ else "")
            raise InputFormatError(f"no failed sign-ins with result codes {codes} in the input{retried}; "
                                   "nothing to hunt (is this an export of successful sign-ins only?)")
        if not row.successes or pd.isna(row.successes):
            raise InputFormatError("no successful sign-ins (result 0) in the input; the hunt needs "
                                   "them as the baseline of what normal looks like")

    @staticmethod
    def _check_fields(counts: pd.DataFrame, features: tuple[str, ...]) -> None:
        filled = counts[counts.value != EMPTY]
        if filled.empty:
            raise InputFormatError(f"every feature field ({', '.join(features)}) is empty in every "
                                   "sign-in; the hunt compares field values and has none to compare")

    def _check_fitted(self) -> None:
        if not hasattr(self, "mixture_"):
            raise NotFittedError("this SprayHunter is not fitted yet; call fit() first")

    # -- score -------------------------------------------------------------------------------------
    def score(self, signins: ibis.Table | None = None, *, engine: Engine | None = None) -> pd.DataFrame:
        """One row per campaign (and per dropped mixture cluster) with its statistics, fingerprint,
        kind (``None`` when dropped), the rules it failed and its ranking score.

        ``signins`` defaults to the table the hunter was fitted on; another table is scored with the
        fitted rarities and mixture (e.g. fit on last quarter, score this week).
        """
        self._check_fitted()
        engine = engine or self._engine
        features = self.features_
        if signins is None:
            bits = self._bits
        else:
            bits = with_bits(self._scope(signins, features, engine), self.rarities_, engine).cache()
        cand_pats = self._assign(bits, engine)
        theta = self.mixture_.theta_  # a duplicate component's theta equals its representative's
        anomalous = {k: [f for d, f in enumerate(features) if theta[k, d] >= self.rules_.field_consistency]
                     for k in range(theta.shape[0])}
        sizes = cand_pats.groupby("cluster").n.sum()
        # Small clusters stay in: a campaign split over several clusters is merged back below, and
        # min_attempts is judged on the campaign.
        wanted = [int(k) for k in sizes.index if len(anomalous[int(k)]) >= self.rules_.min_anomalous_fields]
        rows = []
        for k, n in sizes.items():
            if int(k) not in wanted:
                rows.append(self._dropped_row(int(k), int(n), anomalous[int(k)]))
        if wanted:
            rows.extend(self._measure(bits, cand_pats, wanted, anomalous, engine))
        cols = ["cluster", "clusters", "campaign", "kind", "score", "failed_rules", "attempts", "users", "ips",
                "first_seen", "last_seen", "span_days", "active_days", "attempts_per_user", "ks",
                "confidence", "anomalous_fields", "invariant_fields", "anomalous", "fingerprint",
                "fields"]
        frame = pd.DataFrame(rows, columns=cols) if rows else pd.DataFrame(columns=cols)
        self._last_bits = bits
        return frame.sort_values("score", ascending=False, kind="stable").reset_index(drop=True)

    def _assign(self, bits: ibis.Table, engine: Engine) -> pd.DataFrame:
        """Distinct candidate patterns of ``bits`` with their cluster and posterior confidence."""
        cand = bits.filter(bits.is_candidate)
        pats = distinct_patterns(engine.to_pandas(cand.group_by("pattern").agg(n=cand.count())))
        if pats.empty:
            return pats.assign(cluster=pd.Series(dtype="int64"), confidence=pd.Series(dtype=float))
        resp = self._posterior(decode_patterns(pats.pattern.to_numpy(), len(self.features_)))
        return pats.assign(cluster=resp.argmax(axis=1), confidence=resp.max(axis=1))

    def _dropped_row(self, k: int, n: int, anomalous: list[str]) -> dict:
        failed = []
        if n < self.rules_.min_attempts:
            failed.append("min_attempts")
        if len(anomalous) < self.rules_.min_anomalous_fields:
            failed.append("min_anomalous_fields")
        return {"cluster": k, "kind": None, "score": 0.0, "failed_rules": failed, "attempts": n,
                "anomalous_fields": len(anomalous), "anomalous": anomalous}

    def _measure(self, bits, cand_pats, wanted, anomalous, engine) -> list[dict]:
        """Engine aggregates for the candidate clusters: fingerprints, sub-campaigns and their stats.

        1. profile each cluster's fields and find its distinctive invariant fields (up to
           ``TOP_VALUES`` values, as a cluster may hold several tools); keep only attempts carrying
           those values;
        2. split the cluster by value combination (and heavily hit users off on their own), merge
           combinations that differ only in what tools rotate, then merge campaigns that share their
           invariant values (:func:`merge_keys`, :func:`merge_campaigns`);
        3. measure each resulting campaign (size, users, span, evenness, its own fingerprint).
        """
        keep = cand_pats[(cand_pats.confidence >= self.rules_.min_confidence) &
                         cand_pats.cluster.isin(wanted)]
        if keep.empty:
            return [{**self._dropped_row(k, 0, anomalous[k]), "failed_rules": ["min_confidence"]}
                    for k in wanted]
        rarities = {fr.feature: fr for fr in self.rarities_}
        assign = _stage(engine, keep[["pattern", "cluster", "confidence"]].rename(
            columns={"pattern": "a_pattern"}).astype({"a_pattern": "int64", "cluster": "int64",
                                                      "confidence": "float64"}))
        events = bits.filter(bits.is_candidate)
        events = events.join(assign, events.pattern == assign.a_pattern).drop("a_pattern")
        summary, top = field_profiles(events, self.features_)
        labels = label_fields(engine.to_pandas(summary), engine.to_pandas(top), rarities,
                              self.fingerprint_rules_, max_values=TOP_VALUES)
        fps = {k: distinctive(labels.get(k, {}), lenient=True) for k in wanted}
        cond, key = ibis.literal(False), ibis.literal("")
        for k in wanted:
            in_k = events.cluster == k
            cond = cond | (in_k & matches(events, fps[k]))
            key = ibis.ifelse(in_k, value_key(events, sorted(fps[k])), key)
        sub = events.filter(cond).mutate(key=key)
        # A user hit far more often than a spray would is split off: a brute force inside the cluster.
        per_user = sub.count().over(group_by=[sub.cluster, sub.key, sub.user])
        heavy = per_user >= self.rules_.brute_force_min_attempts_per_user
        sub = sub.mutate(key=ibis.ifelse(heavy, sub.key.concat(KEY_SEP, "user", NAME_SEP, sub.user),
                                         sub.key)).cache()
        spans = engine.to_pandas(sub.group_by(["cluster", "key"]).agg(
            n=sub.count(), first=sub.time.min(), last=sub.time.max())) \
            .sort_values(["cluster", "key"], kind="stable").reset_index(drop=True)
        groups = merge_keys(spans, self.rules_.min_span_days)
        spans["campaign"] = [groups[(int(c), k)] for c, k in zip(spans.cluster, spans.key)]
        lookup = _stage(engine, spans[["cluster", "key", "campaign"]].rename(
            columns={"cluster": "l_cluster", "key": "l_key"}).astype({"l_cluster": "int64", "campaign": "int64"}))
        campaign = sub.join(lookup, (sub.cluster == lookup.l_cluster) & (sub.key == lookup.l_key)) \
            .drop("l_cluster", "l_key").cache()
        summary, top = field_profiles(campaign, self.features_, group="campaign")
        first_pass = label_fields(engine.to_pandas(summary), engine.to_pandas(top), rarities,
                                  self.fingerprint_rules_)
        alone = {int(c) for c, k in zip(spans.campaign, spans.key) if "user" in parse_key(k)}
        merged = merge_campaigns(first_pass, spans, self.rules_.min_span_days, alone)
        if any(k != v for k, v in merged.items()):
            spans["campaign"] = [merged.get(c, c) for c in spans.campaign]
            lookup = _stage(engine, spans[["cluster", "key", "campaign"]].rename(
                columns={"cluster": "l_cluster", "key": "l_key"}).astype(
                {"l_cluster": "int64", "campaign": "int64"}))
            campaign = sub.join(lookup, (sub.cluster == lookup.l_cluster) & (sub.key == lookup.l_key)) \
                .drop("l_cluster", "l_key").cache()
        self._campaign_events = campaign
        members = spans.groupby("campaign").apply(campaign_members, include_groups=False)
        rows = self._campaign_rows(campaign, members, anomalous, rarities, engine)
        if self.fingerprint_rules_.expand:
            expanded = self._expand(bits, campaign, rows, engine, alone)
            if expanded is not None:
                campaign = expanded
                self._campaign_events = campaign
                rows = self._campaign_rows(campaign, members, anomalous, rarities, engine)
        covered = {m for c in members for m in c}
        for k in wanted:
            if k not in covered:
                rows.append({**self._dropped_row(k, 0, anomalous[k]), "failed_rules": ["min_confidence"]})
        return rows

    def _campaign_rows(self, campaign, members, anomalous, rarities, engine) -> list[dict]:
        """Statistics, fingerprint and verdict of every campaign in ``campaign`` (engine aggregates)."""
        stats = engine.to_pandas(campaign.group_by("campaign").agg(
            attempts=campaign.count(), users=campaign.user.nunique(), ips=campaign.ip.nunique(),
            first_seen=campaign.time.min(), last_seen=campaign.time.max(),
            active_days=campaign.time.date().nunique()))
        # Mean posterior from (campaign, confidence) counts, summed here in a fixed order: an engine
        # float mean depends on the order its threads meet the rows. Expanded attempts have none.
        scored = campaign.filter(campaign.confidence.notnull())
        conf = engine.to_pandas(scored.group_by(["campaign", "confidence"]).agg(n=scored.count()))
        conf = conf.sort_values(["campaign", "confidence"]).assign(w=lambda f: f.n * f.confidence)
        conf = conf.groupby("campaign").agg(w=("w", "sum"), n=("n", "sum"))
        stats["confidence"] = stats.campaign.map(conf.w / conf.n)
        daily = engine.to_pandas(campaign.group_by(["campaign", campaign.time.truncate("D").name("day")])
                                 .agg(n=campaign.count()))
        summary, top = field_profiles(campaign, self.features_, group="campaign")
        own = label_fields(engine.to_pandas(summary), engine.to_pandas(top), rarities,
                           self.fingerprint_rules_)
        rows = []
        for s in stats.sort_values("campaign").itertuples(index=False):
            c = int(s.campaign)
            clusters = members[c]
            k = clusters[0]  # the cluster holding most of the campaign
            d = daily[daily.campaign == c]
            day_index = ((d.day - d.day.min()) / pd.Timedelta(days=1)).round().astype("int64").to_numpy()
            fields = own.get(c, {})
            fp = dict(sorted(distinctive(fields).items()))  # measured over the campaign's own attempts
            row = {
                "cluster": k, "clusters": clusters, "campaign": c, "attempts": int(s.attempts),
                "users": int(s.users), "ips": int(s.ips), "first_seen": s.first_seen,
                "last_seen": s.last_seen,
                "span_days": round((s.last_seen - s.first_seen) / pd.Timedelta(days=1), 3),
                "active_days": int(s.active_days),
                "attempts_per_user": round(float(s.attempts) / max(int(s.users), 1), 3),
                "ks": round(ks_uniform(day_index, d.n.to_numpy()), 4),
                "confidence": round(float(s.confidence), 4),
                "anomalous_fields": len(anomalous[k]), "invariant_fields": len(fp),
                "anomalous": anomalous[k], "fingerprint": fp, "fields": fields,
            }
            kind, failed = judge(row, self.rules_)
            row.update(kind=kind, failed_rules=failed, score=campaign_score(row) if kind else 0.0)
            rows.append(row)
        return rows

    def _expand(self, bits: ibis.Table, campaign: ibis.Table, rows: list[dict], engine: Engine,
                alone: set[int] = frozenset()) -> ibis.Table | None:
        """Move into each low-and-slow campaign the unclaimed failures in its span that carry its
        whole fingerprint and at least one anomalous field.

        The mixture places a campaign's attempts by which fields look rare, so a spray using ordinary
        browsers loses the attempts whose browser happened to be common into benign-looking clusters.
        Its fingerprint (e.g. always OfficeHome) finds them again; "at least one anomalous field"
        keeps ordinary typos that were not followed by a success out. Attempts of *reported*
        campaigns are claimed, and so are those of campaigns split off for one heavily hit account
        (``alone``: a failing service account or a brute force, explained by that account, never
        merged with anything either). An attempt in any other dropped campaign (e.g. a
        rare-user-agent cluster mixing two sprays, with no invariant field) is reported nowhere, so
        it moves to the campaign whose fingerprint it carries, and the dropped campaign is judged
        again without it (a fast spray that had one such straggler stretching its span is then a
        burst again).
        """
        kept = [r for r in rows if r["kind"] == "password_spray" and r["fingerprint"]]
        if not kept:
            return None
        cand = bits.filter(bits.is_candidate & (bits.pattern != 0))
        claimed = sorted({int(r["campaign"]) for r in rows if r["kind"] is not None} | set(alone))
        taken = campaign.filter(campaign.campaign.isin(claimed)).select(t_id=campaign.event_id)
        free = cand.anti_join(taken, cand.event_id == taken.t_id)
        parts = []
        for r in sorted(kept, key=lambda r: (-r["score"], r["campaign"])):
            hit = free.filter(matches(free, r["fingerprint"]) &
                              (free.time >= r["first_seen"].to_pydatetime()) &
                              (free.time <= r["last_seen"].to_pydatetime()))
            parts.append(hit.mutate(cluster=ibis.literal(-1, "int64"),
                                    confidence=ibis.null("float64"), key=ibis.literal(""),
                                    campaign=ibis.literal(int(r["campaign"]), "int64"),
                                    rank=ibis.literal(len(parts), "int64")))
        extra = parts[0].union(*parts[1:]) if len(parts) > 1 else parts[0]
        first = ibis.row_number().over(group_by=extra.event_id, order_by=extra["rank"])
        # Stored once (a few hundred rows): it is used twice below, and on Spark repeating its
        # lineage inside the cached campaign table makes every later query plan grow out of memory.
        extra = engine.materialize(extra.mutate(_n=first).filter(lambda t: t._n == 0).drop("_n", "rank")
                                   .select(*campaign.columns), "spray_expand").cast(campaign.schema())
        moved = extra.select(x_id=extra.event_id)
        rest = campaign.anti_join(moved, campaign.event_id == moved.x_id)
        return rest.union(extra).cache()

    # -- detect ------------------------------------------------------------------------------------
    def detect(self, signins: ibis.Table | None = None, *, engine: Engine | None = None) -> list[Finding]:
        """Findings for the kept clusters: their attempts, entities, matched successes, evidence."""
        return self.to_findings(self.score(signins, engine=engine), engine=engine)

    def to_findings(self, clusters: pd.DataFrame, *, engine: Engine | None = None) -> list[Finding]:
        """Findings for the kept rows of the table the last :meth:`score` call returned."""
        self._check_fitted()
        engine = engine or self._engine
        kept = clusters[clusters.kind.notna()]
        if kept.empty:
            return []
        bits = self._last_bits
        campaign = self._campaign_events
        ids = engine.to_pandas(campaign.filter(campaign.campaign.isin([int(k) for k in kept.campaign]))
                               .select("campaign", "event_id", "user", "ip", "time"))
        findings, new_successes = [], None
        plots = self._plot_evidence(kept, campaign, bits, engine)
        for rank, row in enumerate(kept.itertuples(index=False), start=1):
            # Counts come back as floats when dropped clusters (no counts) share the frame.
            row = row._replace(**{c: int(getattr(row, c)) for c in ("attempts", "users", "ips", "active_days")})
            ev = ids[ids.campaign == row.campaign].sort_values(["time", "event_id"])
            successes = pd.DataFrame(columns=["event_id", "user", "time"])
            if row.kind == "password_spray":
                if new_successes is None:
                    new_successes = _new_to_user(bits)
                successes = self._match_successes(bits, new_successes, row, engine)
            findings.append(self._finding(rank, row, ev, successes, plots[int(row.campaign)]))
        return findings

    def _plot_evidence(self, kept: pd.DataFrame, campaign: ibis.Table, bits: ibis.Table,
                       engine: Engine) -> dict[int, dict]:
        """Per kept campaign, the evidence the HTML report plots (see :mod:`.evidence`)."""
        ids = [int(c) for c in kept.campaign]
        fields = {int(r.campaign): list(dict.fromkeys(
            [*r.anomalous, *(f for f, d in r.fields.items() if d["kind"] == "invariant")]))
            for r in kept.itertuples(index=False)}
        rhythm = rhythm_evidence(campaign, bits, ids, engine)
        values = value_evidence(campaign, fields, {fr.feature: fr for fr in self.rarities_}, engine)
        return {int(r.campaign): {
            "mixture": mixture_evidence(self.mixture_, self.components_, int(r.cluster), self.features_),
            **rhythm[int(r.campaign)], **values[int(r.campaign)]} for r in kept.itertuples(index=False)}

    def _match_successes(self, bits: ibis.Table, new_successes: ibis.Table, row,
                         engine: Engine) -> pd.DataFrame:
        """Successful sign-ins that look like the campaign getting in.

        Every linked success carries the campaign's fingerprint values, falls in the campaign's
        span (± ``success_slack_days``), and is new to its user: no earlier success of the user from
        this IP address (see :func:`_new_to_user`). Routes 1 and 3 also need the user to have signed
        in before (a user's first sign-in in the input has nothing to be new against); route 2 does
        not — a dormant account, a favourite spray target, may have no sign-in but the attacker's.
        On top of that, one of three pieces of evidence that it is *this* campaign — each about what
        a sprayer does and a benign user does not:

        1. **it looks like the campaign's attempts**: it is also the user's first success with its
           user agent (a traveller brings a new address but their own phone, a new phone comes from
           the usual address, an attacker brings both), and its bit-pattern belongs to the campaign's
           clusters with posterior at least ``success_posterior``. When the fingerprint is common
           — more than ``success_specific_max`` successful sign-ins in the whole input carry it —
           that is not enough on its own, and the success must also either be on an account the
           campaign targeted (a failed attempt in the campaign, or one with its fingerprint set
           aside as a typo: an attacker who guesses right on the second try looks, to the retry
           rule, like a user fixing a typo), or carry a bit-pattern the campaign's own failed
           attempts carry that is itself specific (at most ``success_specific_max`` of the
           successes passing the checks above — fingerprint, span, new address and new agent —
           share that pattern): it is unusual in exactly the way the campaign's attempts are, and
           few new devices on new networks are. A spray that tries each account once often gets in
           on its *only* attempt on that account, which then has no failed attempt to be
           "targeted" by;
        2. **it comes from the campaign's infrastructure**: the campaign's failed attempts on
           *other* accounts came from its IP address, no other account had signed in successfully
           from that address before (an office or hotel address where users mistype their passwords
           is neither), and either its network (``ip_prefix``, when it is a feature) is anomalous
           among successful sign-ins, or the address is the sprayer's alone: the user signed in
           from it once and never again although they kept signing in, and no other account ever
           signed in from it. The second half covers a sprayer on residential proxies in the
           tenant's own country, whose networks are the users' own ISPs; a proxy exit that is
           really someone's home is used again by them, and a carrier (CGNAT) address is shared by
           many accounts. This route does not need a new user agent (an ordinary-browser spray may
           happen to use the victim's own browser string);
        3. **it is a one-off with the campaign's tool**: its user agent is one the campaign's failed
           attempts used on *other* accounts, and the sign-in is a one-off — the user's only success
           from that address *and* with that agent, although the user kept signing in afterwards —
           from an address no other account ever signed in from. A password guessed by a spray is
           tried once, from the tool and its proxy; the benign look-alikes are not one-offs: a new
           phone or laptop is used again, a traveller keeps their device, a hotel or carrier address
           is shared. This links an ordinary-browser spray's success from a home-country residential
           address it never sprayed from, whose bit-pattern has nothing rare and is shared by many
           benign new-device sign-ins (so route 1 cannot tell it apart).

        Routes 2 and 3 use only facts a hunter can check in the sign-in log (who else used the
        address, whether the account ever came back to it or to that agent), no labels and no
        tuned threshold: "once" is one, "no other account" is none.
        """
        empty = pd.DataFrame(columns=["event_id", "user", "time"])
        rules = self.fingerprint_rules_
        succ = self.success_patterns_
        if succ.empty or not row.fingerprint:
            return empty
        resp = self._posterior(decode_patterns(succ.pattern.to_numpy(), len(self.features_)))
        pats = [int(p) for p in succ.pattern[resp[:, list(row.clusters)].sum(axis=1) >= rules.success_posterior]]
        slack = pd.Timedelta(days=rules.success_slack_days)
        lo, hi = row.first_seen - slack, row.last_seen + slack
        in_span = (bits.time >= lo.to_pydatetime()) & (bits.time <= hi.to_pydatetime())
        all_succ = bits.filter(bits.success)
        common = engine.scalar(all_succ.filter(matches(all_succ, row.fingerprint)).count()) > \
            rules.success_specific_max
        events = self._campaign_events
        own = events.filter(events.campaign == int(row.campaign))
        s = new_successes.filter(matches(new_successes, row.fingerprint) &
                                 (new_successes.time >= lo.to_pydatetime()) &
                                 (new_successes.time <= hi.to_pydatetime()))
        looks_like = s.pattern.isin(pats) if pats else ibis.literal(False)
        if common:
            retried = bits.filter(bits.retried & matches(bits, row.fingerprint) & in_span).select("user")
            targeted = own.select("user").union(retried).user
            fresh = s.filter(s.new_ua & s.known_user)
            rare = fresh.group_by("pattern").agg(n=fresh.count())
            rare = rare.filter(rare.n <= rules.success_specific_max).pattern
            looks_like = looks_like & (s.user.isin(targeted) |
                                       (s.pattern.isin(own.pattern) & s.pattern.isin(rare)))
        # Route 2, infrastructure: the address sprayed *other* accounts, no other account had signed
        # in from it before, and its network is rare among successes or the address is the sprayer's.
        sprayed = own.select(c_ip=own.ip, c_user=own.user).distinct()
        sprayed = s.semi_join(sprayed, (s.ip == sprayed.c_ip) & (s.user != sprayed.c_user)) \
            .select(x_id="event_id")
        infra = s.event_id.isin(sprayed.x_id) & ~s.ip_shared
        if "b_ip_prefix" in s.columns:
            infra = infra & ((s.b_ip_prefix == 1) | (s.ip_once & s.ip_alone))
        # Route 3, tool: a one-off from an address no other account used, with an agent the campaign
        # sprayed *other* accounts with.
        tool = own.filter(own.ua_raw.notnull()).select(t_ua=own.ua_raw, t_user=own.user).distinct()
        tooled = s.semi_join(tool, (s.ua_raw == tool.t_ua) & (s.user != tool.t_user)).select(z_id="event_id")
        one_off = s.ip_once & s.ua_once & s.ip_alone & s.event_id.isin(tooled.z_id)
        s = s.filter((s.known_user & ((s.new_ua & looks_like) | one_off)) | infra)
        return engine.to_pandas(s.select("event_id", "user", "time")).sort_values(["time", "event_id"])

    def _finding(self, rank: int, row, ev: pd.DataFrame, successes: pd.DataFrame, plots: dict) -> Finding:
        users = sorted(ev.user.dropna().unique().tolist())
        ips = sorted(ev.ip.dropna().unique().tolist())
        got_in = sorted(successes.user.dropna().unique().tolist())
        severity = "high" if got_in else ("medium" if row.kind != "brute_force" or row.users > 1 else "low")
        score = row.score * (2.0 if got_in else 1.0)
        evidence = {
            "clusters": [int(c) for c in row.clusters], "attempts": row.attempts, "users": row.users, "ips": row.ips,
            "span_days": row.span_days, "active_days": row.active_days,
            "attempts_per_user": row.attempts_per_user, "ks_statistic": row.ks,
            "retried_failures_excluded": self.retried_excluded_,
            "mean_posterior": row.confidence, "anomalous_fields": row.anomalous,
            "fingerprint": row.fingerprint,
            "invariant_fields": {f: d for f, d in row.fields.items() if d["kind"] == "invariant"},
            "randomized_fields": {f: d for f, d in row.fields.items() if d["kind"] == "randomised"},
            "cluster_field_probabilities": {
                f: round(float(self.mixture_.theta_[int(row.cluster), i]), 4)
                for i, f in enumerate(self.features_)},
            "thresholds": {fr.feature: {"rule": self.threshold_rule, "log_p": round(fr.threshold_log_p, 4),
                                        "anomalous_values": int(fr.values.anomalous.sum()),
                                        "baseline_sign_ins": fr.n_baseline}
                           for fr in self.rarities_},
            "failed_slow_rules": list(row.failed_rules),
            "pruning_rules": self.rules_.to_dict(),
            "compromised_users": got_in,
            **plots,
        }
        return Finding(
            kind=row.kind, id=f"{row.kind}-{rank:03d}", title=self._title(row, got_in),
            severity=severity, score=float(score), first_seen=iso_utc(row.first_seen),
            last_seen=iso_utc(row.last_seen), entities={"users": users, "ips": ips},
            event_ids=ev.event_id.tolist(), explanation=self._explain(row, got_in),
            evidence=evidence,
            success_event_ids=successes.event_id.tolist() if row.kind == "password_spray" else None,
        )

    @staticmethod
    def _title(row, got_in: list[str]) -> str:
        what = {"password_spray": "Low-and-slow password spray", "fast_spray": "Fast password spray",
                "brute_force": "Password brute force"}[row.kind]
        tail = f", {len(got_in)} account(s) likely compromised" if got_in else ""
        return (f"{what}: {row.attempts} failed sign-ins on {_n(row.users, 'account')} over "
                f"{_n(round(row.span_days), 'day')}{tail}")

    @staticmethod
    def _explain(row, got_in: list[str]) -> str:
        per_day = row.attempts / max(row.active_days, 1)
        fixed = "; ".join(f"{f} always {' / '.join(map(str, v))}" for f, v in row.fingerprint.items())
        rand = [f for f, d in row.fields.items() if d["kind"] == "randomised"]
        text = (f"Between {iso_utc(row.first_seen)} and {iso_utc(row.last_seen)}, {row.attempts} failed "
                f"password sign-ins hit {_n(row.users, 'account')} from {_n(row.ips, 'IP address', 'es')}, "
                f"about {per_day:.1f} per active day on {_n(row.active_days, 'day')} "
                f"(KS statistic against an even trickle: {row.ks:.2f}). ")
        text += (f"They share a fingerprint that successful sign-ins in this tenant rarely have: {fixed}. "
                 if fixed else "They share the same unusual fields: " + ", ".join(row.anomalous) + ". ")
        if rand:
            text += f"The attacker rotates {', '.join(rand)}. "
        if row.kind == "password_spray":
            if got_in:
                text += (f"{len(got_in)} successful sign-in(s) match this fingerprint ({', '.join(got_in[:10])}"
                         f"{' …' if len(got_in) > 10 else ''}): treat these accounts as compromised — reset "
                         "their passwords, revoke sessions and review their activity. ")
            else:
                text += "No successful sign-in matches the fingerprint. "
            text += "Check the targeted accounts for weak passwords and block the fingerprint at the edge."
        elif row.kind == "fast_spray":
            text += "This is a fast spray (a short burst), reported on its own: block the source IPs."
        else:
            text += "Many attempts per account: a brute force on few accounts; check lockout and the sources."
        return text


def _n(count: int, word: str, plural: str = "s") -> str:
    """``count word`` with the plural ending when needed; counts always print as integers."""
    count = int(count)
    return f"{count} {word}{'' if count == 1 else plural}"


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


def _new_to_user(bits: ibis.Table) -> ibis.Table:
    """Successful sign-ins new to their user, with what step 8 asks of them (cached: a small table,
    shared by every campaign's success matching).

    New to the user: no earlier success of the user from this IP address. Columns added:

    ``known_user``: the user had signed in successfully before. A user's first success in the input
    has nothing to be new against; counting it as new everywhere would make every account's first
    sign-ins look like an intruder's, so only the infrastructure route (which needs the address to
    have sprayed other accounts) takes it: a dormant account's first sign-in may be the attacker's;

    ``new_ua``: no earlier success of the user with this user agent (or no user agent logged);
    ``ip_once`` / ``ua_once``: the user's *only* success from this address / with this agent, and
    the user went on signing in successfully afterwards — the owner kept working and never came
    back to it. A new phone or laptop is used again, a traveller keeps their own device, an office or
    home address recurs; a password guessed by a spray is tried once. Requiring a later sign-in
    keeps the last sign-ins before the export ends from looking like one-offs;
    ``ip_shared``: another account had signed in successfully from this address before;
    ``ip_alone``: no other account ever signed in successfully from this address.

    Per-(user, IP), per-(user, agent), per-user and per-IP aggregates joined back, not
    ``row_number`` windows: hash aggregates and joins instead of two sorts of every success. "First
    from this IP" is "no earlier success of the user from it" (two at the same instant are both first).
    """
    s = bits.filter(bits.success)
    by_ip = s.group_by(i_user=s.user, i_ip=s.ip).agg(i_first=s.time.min(), i_n=s.count())
    by_ua = s.group_by(a_user=s.user, a_ua=s.ua_raw).agg(a_first=s.time.min(), a_n=s.count())
    by_user = s.group_by(u_user=s.user).agg(u_first=s.time.min(), u_last=s.time.max())
    # The first success from an address is an earlier one by another account iff it precedes this
    # one (this row is its own user's first from the address); one (user, IP) row = one account.
    by_addr = by_ip.group_by(o_ip=by_ip.i_ip).agg(o_first=by_ip.i_first.min(), o_users=by_ip.count())
    t = s.join(by_ip, (s.user == by_ip.i_user) & (s.ip == by_ip.i_ip) & (s.time == by_ip.i_first))
    t = t.join(by_user, t.user == by_user.u_user)
    t = t.left_join(by_ua, (t.user == by_ua.a_user) & (t.ua_raw == by_ua.a_ua))
    t = t.join(by_addr, t.ip == by_addr.o_ip)
    later = t.u_last > t.time
    t = t.mutate(new_ua=(t.a_first == t.time).fill_null(False) | t.ua_raw.isnull(),
                 ip_once=(t.i_n == 1) & later, ua_once=((t.a_n == 1) & later).fill_null(False),
                 ip_shared=t.o_first < t.time, ip_alone=t.o_users == 1, known_user=t.u_first < t.time)
    return t.drop("i_user", "i_ip", "i_first", "i_n", "u_user", "u_first", "u_last", "a_user", "a_ua",
                  "a_first", "a_n", "o_ip", "o_first", "o_users").cache()


def _stage(engine: Engine, frame: pd.DataFrame) -> ibis.Table:
    """A small lookup table on the engine (staged as Parquet, so DuckDB and Spark join it alike)."""
    return engine.load(pa.Table.from_pandas(frame, preserve_index=False), "spray_lookup")


def _component_groups(mixture: BernoulliMixture, tol: float = 0.05) -> np.ndarray:
    """Map each mixture component to a representative: components with (nearly) the same per-field
    probabilities are one cluster.

    Variational fits sometimes stop with one cluster shared by two components (each taking half of its
    patterns' posterior); counted apart, neither would reach a confidence threshold.
    """
    theta, weights = mixture.theta_, mixture.weights_
    order = np.argsort(-weights, kind="stable")
    rep = np.arange(len(weights))
    for pos, k in enumerate(order):
        for j in order[:pos]:
            if rep[j] == j and np.abs(theta[k] - theta[j]).max() < tol:
                rep[k] = j
                break
    return rep


def hunt_signins(signins: ibis.Table, engine: Engine, *, preset: str = "default",
                 **overrides) -> tuple[list[Finding], pd.DataFrame, SprayHunter]:
    """Fit and detect in one call: ``(findings, per-cluster table, fitted hunter)``."""
    hunter = SprayHunter.from_preset(preset, **overrides).fit(signins, engine=engine)
    clusters = hunter.score()
    return hunter.to_findings(clusters), clusters, hunter
