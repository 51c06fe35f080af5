"""Step 8: the successful sign-ins that look like a campaign getting in — the likely compromised accounts.

:func:`new_to_user` marks, once per scored table, what is new about each successful sign-in (first
from this address for its user, first with this agent, a one-off, an address other accounts share);
:func:`match_successes` links a campaign's successes by its fingerprint, its span and one of three
routes of evidence (its docstring says which and why). Both read only the scored table and the
campaign's own attempts, so the successes linked are always the scored table's.
"""

from __future__ import annotations

import ibis
import numpy as np
import pandas as pd

from ..engine import Engine
from .fingerprint import FingerprintRules, carries, matches
from .mixture import BernoulliMixture, cluster_posterior
from .rarity import decode_patterns


def new_to_user(bits: ibis.Table,
                within: list[tuple[dict[str, list[str]], pd.Timestamp, pd.Timestamp]] | None = None) -> ibis.Table:
    """Successful sign-ins new to their user, with what step 8 asks of them (a small table, brought
    back once and shared by every campaign's success matching).

    ``within``: (fingerprint, first, last) of the campaigns whose successes are looked for; only
    sign-ins carrying one of those fingerprints inside that span are kept (``None``: every one).
    Success matching reads nothing else. Each flag is still judged against every success of
    ``bits`` (the aggregates are over all of them), so cutting the rows changes no flag; what is
    cached is the few sign-ins a campaign could have got in with, not every success of the input.

    New to the user: no earlier success of the user from this IP address. Columns added:

    ``known_user``: the user had signed in successfully before. A user's first success in the input
    has nothing to be new against; counting it as new everywhere would make every account's first
    sign-ins look like an intruder's, so route 1 (which is about what is new) never takes it; routes
    2 and 3 do, on evidence that does not look back (the address sprayed other accounts; the
    sign-in was a one-off the user never repeated): a dormant account's first sign-in may be the
    attacker's;

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
    # Only what success matching reads: the fingerprint's values, the pattern and the network's bit.
    s = bits.filter(bits.success)
    s = s.select("event_id", "time", "user", "ip", "ua_raw",
                 *[c for c in s.columns if c.startswith("f_") or c in ("pattern", "b_ip_prefix")])
    by_ip = s.group_by(i_user=s.user, i_ip=s.ip).agg(i_first=s.time.min(), i_n=s.count())
    by_ua = s.group_by(a_user=s.user, a_ua=s.ua_raw).agg(a_first=s.time.min(), a_n=s.count())
    by_user = s.group_by(u_user=s.user).agg(u_first=s.time.min(), u_last=s.time.max())
    # The first success from an address is an earlier one by another account iff it precedes this
    # one (this row is its own user's first from the address); one (user, IP) row = one account.
    by_addr = by_ip.group_by(o_ip=by_ip.i_ip).agg(o_first=by_ip.i_first.min(), o_users=by_ip.count())
    if within is not None:  # the rows looked at; the aggregates above keep every success
        kept = [matches(s, fp) & s.time.between(lo.to_pydatetime(), hi.to_pydatetime()) for fp, lo, hi in within]
        s = s.filter(ibis.or_(*kept) if kept else ibis.literal(False))
    t = s.join(by_ip, (s.user == by_ip.i_user) & (s.ip == by_ip.i_ip) & (s.time == by_ip.i_first))
    t = t.join(by_user, t.user == by_user.u_user)
    t = t.left_join(by_ua, (t.user == by_ua.a_user) & (t.ua_raw == by_ua.a_ua))
    t = t.join(by_addr, t.ip == by_addr.o_ip)
    later = t.u_last > t.time
    t = t.mutate(new_ua=(t.a_first == t.time).fill_null(False) | t.ua_raw.isnull(),
                 ip_once=(t.i_n == 1) & later, ua_once=((t.a_n == 1) & later).fill_null(False),
                 ip_shared=t.o_first < t.time, ip_alone=t.o_users == 1, known_user=t.u_first < t.time)
    return t.drop("i_user", "i_ip", "i_first", "i_n", "u_user", "u_first", "u_last", "a_user",
                  "a_ua", "a_first", "a_n", "o_ip", "o_first", "o_users")


def success_span(row, rules: FingerprintRules) -> tuple[pd.Timestamp, pd.Timestamp]:
    """When a success of the campaign of ``row`` (its row of the cluster table) may fall: its span
    widened each side by ``success_slack_days`` or by ``success_slack_gaps`` of the campaign's mean
    gap between attempts, whichever is longer.

    The span is that of the campaign's *failed* attempts, so an attempt that got in lies outside it
    when it came first or last: a spray that tries each account once gets in on its first try as
    often as on any other. How far outside is the campaign's own cadence, not a fixed day: one
    attempt a day puts the success before the first failure a day or two away, a burst of minutes
    puts it minutes away (the fixed slack still covers a guessed password used a little later).
    Three mean gaps hold 95 % of the gaps of attempts sent at random times (an exponential gap
    exceeds three means with probability e^-3)."""
    attempts = max(int(row.attempts) - 1, 1)
    gap = (row.last_seen - row.first_seen) / attempts
    # whole seconds: the engine's timestamps compare to microseconds, a mean gap is nanoseconds
    slack = max(pd.Timedelta(days=rules.success_slack_days), gap * rules.success_slack_gaps).ceil("s")
    return row.first_seen - slack, row.last_seen + slack


def fingerprint_carriers(bits: ibis.Table, fingerprints: dict[int, dict[str, list[str]]],
                         engine: Engine) -> dict[int, int]:
    """How many successful sign-ins of ``bits`` carry each campaign's fingerprint (``{campaign:
    fingerprint}``), in one engine query: what tells :func:`match_successes` that a fingerprint is
    common."""
    wanted = {k: fp for k, fp in fingerprints.items() if fp}
    if not wanted:
        return {}
    s = bits.filter(bits.success)
    row = engine.to_pandas(s.aggregate(**{f"c{k}": matches(s, fp).cast("int64").sum()
                                          for k, fp in wanted.items()})).iloc[0]
    return {k: 0 if pd.isna(row[f"c{k}"]) else int(row[f"c{k}"]) for k in wanted}


def match_successes(bits: ibis.Table, new_successes: pd.DataFrame, attempts: pd.DataFrame, row,
                    engine: Engine, *, carriers: int, success_patterns: pd.DataFrame, mixture: BernoulliMixture,
                    components: np.ndarray, features: tuple[str, ...],
                    fingerprint_rules: FingerprintRules) -> pd.DataFrame:
    """Successful sign-ins of ``bits`` that look like the campaign of ``row`` (its row of the
    cluster table) getting in; ``attempts`` holds the campaign's own attempts (user, ip, ua_raw,
    pattern), ``new_successes`` is :func:`new_to_user` of ``bits``, both brought back, and
    ``carriers`` how many successes in ``bits`` carry the campaign's fingerprint
    (:func:`fingerprint_carriers`).

    Every linked success carries the campaign's fingerprint values, falls in the campaign's
    span (widened by :func:`success_span`), and is new to its user: no earlier success of the
    user from this IP address (see :func:`new_to_user`). Route 1 also needs the user to have
    signed in before (a user's first sign-in in the input has nothing to be new against); routes 2
    and 3 do not — their evidence is the address's other accounts and what the user did *after*,
    and a dormant account, a favourite spray target, may have no sign-in but the attacker's.
    On top of that, one of three pieces of evidence that it is *this* campaign — each about what
    a sprayer does and a benign user does not:

    1. **it looks like the campaign's attempts**: it is also the user's first success with its
       user agent (a traveller brings a new address but their own phone, a new phone comes from
       the usual address, an attacker brings both), and its bit-pattern belongs to the campaign's
       clusters with posterior at least ``success_posterior`` and has at least one of the
       campaign's anomalous fields rare (a success rare only in its user agent is a new device,
       whichever cluster the campaign's stragglers share with it). When the fingerprint is common
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
    rules = fingerprint_rules
    succ = success_patterns
    if succ.empty or not row.fingerprint:
        return empty
    X = decode_patterns(succ.pattern.to_numpy(), len(features))
    resp = cluster_posterior(mixture, components, X)
    # Unusual the way the campaign is: a success whose only rare field is one the campaign does not
    # count as anomalous (a new phone's user agent) is a new device, even in a cluster the campaign
    # spilled into.
    own = [d for d, f in enumerate(features) if f in set(row.anomalous)]
    shaped = X[:, own].any(axis=1) if own else np.ones(len(X), bool)
    pats = [int(p) for p in succ.pattern[(resp[:, list(row.clusters)].sum(axis=1) >= rules.success_posterior)
                                         & shaped]]
    lo, hi = success_span(row, rules)
    s = new_successes[carries(new_successes, row.fingerprint) & (new_successes.time >= lo)
                      & (new_successes.time <= hi)]
    looks_like = s.pattern.isin(pats).to_numpy()
    if carriers > rules.success_specific_max:  # a common fingerprint: also targeted, or specific
        retried = bits.filter(bits.retried & matches(bits, row.fingerprint) &
                              (bits.time >= lo.to_pydatetime()) & (bits.time <= hi.to_pydatetime()))
        targeted = set(attempts.user.dropna()) | set(engine.to_pandas(retried.select("user").distinct()).user.dropna())
        fresh = s[s.new_ua & s.known_user].pattern.value_counts()
        rare = fresh[fresh <= rules.success_specific_max].index
        looks_like &= (s.user.isin(targeted) | (s.pattern.isin(attempts.pattern) & s.pattern.isin(rare))).to_numpy()
    # Route 2, infrastructure: the address sprayed *other* accounts, no other account had signed
    # in from it before, and its network is rare among successes or the address is the sprayer's.
    infra = _used_on_others(s.ip, s.user, attempts.ip, attempts.user) & ~s.ip_shared.to_numpy()
    if "b_ip_prefix" in s.columns:
        infra &= ((s.b_ip_prefix == 1) | (s.ip_once & s.ip_alone)).to_numpy()
    # Route 3, tool: a one-off from an address no other account used, with an agent the campaign
    # sprayed *other* accounts with.
    one_off = (s.ip_once & s.ua_once & s.ip_alone).to_numpy() & \
        _used_on_others(s.ua_raw, s.user, attempts.ua_raw, attempts.user)
    hit = ((s.known_user & s.new_ua).to_numpy() & looks_like) | one_off | infra
    return s.loc[hit, ["event_id", "user", "time"]].sort_values(["time", "event_id"]).reset_index(drop=True)


def _used_on_others(value: pd.Series, user: pd.Series, their_value: pd.Series, their_user: pd.Series
                    ) -> np.ndarray:
    """Whether each (value, user) has the value among the campaign's attempts on *another* account
    (an address it sprayed others from, an agent it sprayed others with). A missing value or user
    matches nothing, as in SQL."""
    known = pd.DataFrame({"v": their_value, "u": their_user}).dropna().drop_duplicates()
    users = known.groupby("v").u.agg(set).to_dict()
    return np.array([isinstance(v, str) and isinstance(u, str) and bool(users.get(v, set()) - {u})
                     for v, u in zip(value, user)], dtype=bool)
