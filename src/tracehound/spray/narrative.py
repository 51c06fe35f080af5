"""What a spray finding says: its title, its explanation, its roles and its evidence.

The finding is written for a tired analyst: the title gives the size and the outcome, the
explanation what the attempts share, what the attacker rotates and what to do, and the evidence every
number the campaign was judged on (so "why was this kept?" has an answer without re-running the
hunt). Roles follow the findings contract: the campaign's source addresses and, when its tool pins
its user agent, that agent are the actors; the accounts it tried are the targets.
"""

from __future__ import annotations

import pandas as pd

from ..findings import Finding, iso_utc
from .kinds import BRUTE_FORCE, FAST_SPRAY, KINDS, PASSWORD_SPRAY
from .mixture import BernoulliMixture
from .pruning import PruningRules
from .rarity import EMPTY, FieldRarity

_TITLES = {k.name: k.title for k in KINDS}


def finding(rank: int, row, ev: pd.DataFrame, successes: pd.DataFrame, plots: dict, *,
            retried_excluded: int, mixture: BernoulliMixture, features: tuple[str, ...],
            threshold_rule: str, rarities: list[FieldRarity], rules: PruningRules) -> Finding:
    """The finding of a kept campaign ``row`` (its row of the cluster table), ranked ``rank``.

    ``ev``: its attempts (event_id, user, ip, time) in time order; ``successes``: the successful
    sign-ins linked to it; ``plots``: the report's evidence blocks (:mod:`.evidence`).
    """
    users = sorted(ev.user.dropna().unique().tolist())
    ips = sorted(ev.ip.dropna().unique().tolist())
    got_in = sorted(successes.user.dropna().unique().tolist())
    severity = "high" if got_in else ("medium" if row.kind != BRUTE_FORCE or row.users > 1 else "low")
    score = row.score * (2.0 if got_in else 1.0)
    agents = invariant_agents(row.fields)
    plots = plots if row.kind == PASSWORD_SPRAY else {**plots, "attempts_per_account": per_account(ev)}
    return Finding(
        kind=row.kind, id=f"{row.kind}-{rank:03d}", title=title(row, got_in),
        severity=severity, score=float(score), first_seen=iso_utc(row.first_seen),
        last_seen=iso_utc(row.last_seen),
        actors={"ips": ips, **({"user_agents": agents} if agents else {})}, targets={"users": users},
        event_ids=ev.event_id.tolist(), explanation=explanation(row, got_in, ev),
        evidence=evidence(row, got_in, plots, retried_excluded=retried_excluded, mixture=mixture,
                          features=features, threshold_rule=threshold_rule, rarities=rarities, rules=rules),
        success_event_ids=successes.event_id.tolist() if row.kind == PASSWORD_SPRAY else None,
    )


def invariant_agents(fields: dict[str, dict]) -> list[str]:
    """The user agents a campaign keeps to: its one agent, or the few it rotates among.

    A tool that pins its agent names itself by it (``BAV2ROPC``, ``python-requests``), and a tool
    picking among four names itself by those four; a campaign randomising ordinary browsers has none
    to name. A missing agent (:data:`~.rarity.EMPTY`) names nothing.
    """
    described = fields.get("user_agent")
    if not described or described["kind"] not in ("invariant", "rotated"):
        return []
    return [str(v) for v in described["values"] if v != EMPTY]


def per_account(ev: pd.DataFrame) -> dict[str, int]:
    """Failed attempts per targeted account, most first (ties by account): a burst's victims."""
    counts = ev.user.dropna().value_counts()
    return {str(u): int(n) for u, n in sorted(counts.items(), key=lambda kv: (-kv[1], kv[0]))}


def describe_fields(fields: dict[str, dict], fingerprint: dict[str, list]) -> str:
    """``client_app always IMAP4; app rotated among Azure CLI and Graph Explorer``: the fingerprint."""
    parts = []
    for f, values in fingerprint.items():
        values = [str(v) for v in values]
        parts.append(f"{f} rotated among {_listed(values)}" if fields.get(f, {}).get("kind") == "rotated"
                     else f"{f} always {' / '.join(values)}")
    return "; ".join(parts)


def _listed(values: list[str]) -> str:
    """``A and B`` / ``A, B and C`` / ``6 values (A, B, C …)``."""
    if len(values) <= 3:
        return " and ".join([", ".join(values[:-1]), values[-1]]) if len(values) > 1 else values[0]
    return f"{len(values)} values ({', '.join(values[:3])} …)"


def evidence(row, got_in: list[str], plots: dict, *, retried_excluded: int, mixture: BernoulliMixture,
             features: tuple[str, ...], threshold_rule: str, rarities: list[FieldRarity],
             rules: PruningRules) -> dict:
    """Every number the campaign was judged on, the thresholds it was judged against, and the plots."""
    return {
        "clusters": [int(c) for c in row.clusters], "attempts": row.attempts, "users": row.users, "ips": row.ips,
        "span_days": row.span_days, "active_days": row.active_days,
        "attempts_per_user": row.attempts_per_user, "ks_statistic": row.ks,
        "retried_failures_excluded": retried_excluded,
        "mean_posterior": row.confidence, "anomalous_fields": row.anomalous,
        "fingerprint": row.fingerprint,
        "invariant_fields": {f: d for f, d in row.fields.items() if d["kind"] == "invariant"},
        "rotated_fields": {f: d for f, d in row.fields.items() if d["kind"] == "rotated"},
        "randomized_fields": {f: d for f, d in row.fields.items() if d["kind"] == "randomised"},
        "cluster_field_probabilities": {
            f: round(float(mixture.theta_[int(row.cluster), i]), 4) for i, f in enumerate(features)},
        "thresholds": {fr.feature: {"rule": threshold_rule, "log_p": round(fr.threshold_log_p, 4),
                                    "anomalous_values": int(fr.values.anomalous.sum()),
                                    "baseline_sign_ins": fr.n_baseline}
                       for fr in rarities},
        "failed_slow_rules": list(row.failed_rules),
        "pruning_rules": rules.to_dict(),
        "compromised_users": got_in,
        **plots,
    }


def title(row, got_in: list[str]) -> str:
    """``<kind title>: N failed sign-ins on M accounts over D days[, K account(s) likely compromised]``."""
    tail = f", {len(got_in)} account(s) likely compromised" if got_in else ""
    return (f"{_TITLES[row.kind]}: {row.attempts} failed sign-ins on {_n(row.users, 'account')} over "
            f"{_n(round(row.span_days), 'day')}{tail}")


def explanation(row, got_in: list[str], ev: pd.DataFrame | None = None) -> str:
    """One paragraph: when, how many, how even, what is fixed, what rotates, and what to do."""
    per_day = row.attempts / max(row.active_days, 1)
    fixed = describe_fields(row.fields, row.fingerprint)
    rand = [f for f, d in row.fields.items() if d["kind"] == "randomised"]
    rotated = [f"{f} among {_listed([str(v) for v in d['values']])}" for f, d in row.fields.items()
               if d["kind"] == "rotated" and f not in row.fingerprint]
    text = (f"Between {iso_utc(row.first_seen)} and {iso_utc(row.last_seen)}, {row.attempts} failed "
            f"password sign-ins hit {_n(row.users, 'account')} from {_n(row.ips, 'IP address', 'es')}, "
            f"about {per_day:.1f} per active day on {_n(row.active_days, 'day')} "
            f"(KS statistic against an even trickle: {row.ks:.2f}). ")
    text += (f"They share a fingerprint that successful sign-ins in this tenant rarely have: {fixed}. "
             if fixed else "They share the same unusual fields: " + ", ".join(row.anomalous) + ". ")
    if rotated:
        text += f"Each attempt picks its {'; '.join(rotated)}. "
    if rand:
        text += f"The attacker rotates {', '.join(rand)}. "
    if row.kind == PASSWORD_SPRAY:
        if got_in:
            text += (f"{len(got_in)} successful sign-in(s) match this fingerprint ({', '.join(got_in[:10])}"
                     f"{' …' if len(got_in) > 10 else ''}): treat these accounts as compromised — reset "
                     "their passwords, revoke sessions and review their activity. ")
        else:
            text += "No successful sign-in matches the fingerprint. "
        text += "Check the targeted accounts for weak passwords and block the fingerprint at the edge."
    elif row.kind == FAST_SPRAY:
        text += "This is a fast spray (a short burst from one source), reported on its own: block the source IPs."
    else:
        hit = per_account(ev) if ev is not None else {}
        listed = ", ".join(f"{u} ({n})" for u, n in list(hit.items())[:10]) + (" …" if len(hit) > 10 else "")
        text += (f"Many attempts per account from one source: a brute force on {_n(len(hit), 'account')}"
                 f"{' — ' + listed if listed else ''}; check their lockout and block the source.")
    return text


def _n(count: int, word: str, plural: str = "s") -> str:
    """``count word`` with the plural ending when needed; counts always print as integers."""
    count = int(count)
    return f"{count} {word}{'' if count == 1 else plural}"
