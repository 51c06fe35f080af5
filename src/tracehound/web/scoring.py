"""The ``web`` hunt's detector: risk of every transition, scores for sessions, and which become findings.

Risk of one transition ``prev → state`` (``support`` = distinct *other* clients that made it,
``N`` = clients in the fitted data, ``rare`` = ``support < max(min_support, rare_fraction * N)``):

- **HIGH**: the request hit a canary path; or the transition is *rare*, the server refused, lacked
  or failed on the page (status ≥ 400 except 408 and 416), and the client was *off the map* when it
  asked: it arrived straight on that page (``START →``) or came from another refused request; or
  the session holds at least two such rare refused transitions wherever they came from (one dead
  link is the site's bug, two is a visitor trying pages). Except a *stale landing*: the session's
  only dead end is the page it arrived on and the site then served it at least ``BROWSED_AFTER``
  page(s) of content (not the home page) — a visitor from an old search result reads on, a probe
  does not (MEDIUM).
  Arriving on, and walking between, pages that do not exist along paths almost nobody walks is what
  directory brute force, CMS probes and injection walks look like.
- **MEDIUM**: any other rare transition — an unusual route through real content (new visitors,
  deep links, crawlers), or a single dead link followed from a page the site served (the site sent
  the visitor there).
- **LOW**: everything else, and always: a page → itself (reloads, pagination), any page → the home
  page, and → END. These are the published special cases: they are common in real traffic and
  say nothing about intent.

A session's risk is its highest transition risk; its score is the *rarest window* (the highest mean
surprisal over ``window`` consecutive transitions) and it also reports the mean surprisal of all its
transitions. A client IP's aggregate is the maximum over its sessions, with session counts per risk
(:meth:`WebScores.per_client`). The finding text is in :mod:`tracehound.web.findings`.
"""

from __future__ import annotations

import math
from datetime import datetime, timedelta
from typing import Sequence

import ibis

from ..contract import check_fitted
from ..engine import Engine
from ..errors import ConfigError
from ..findings import Finding
from .findings import client_finding
from .markov import VOUCHES, TransitionModel, vouches
from .scores import HIGH, LOW, MEDIUM, RISK_NAMES, WebScores
from .sessions import (CLIENT_KEYS, SESSION_KEYS, client_ids, client_names, session_pace, session_pages,
                       session_runs, session_totals, with_agent, with_session_id, with_session_names)
from .states import END, START, is_static, state_transitions

__all__ = ["HIGH", "HOME_PATHS", "LOW", "MEDIUM", "RISK_NAMES", "SEVERITIES", "WebScores",
           "WebSessionDetector", "canaries_from_robots", "split_baseline"]

HOME_PATHS = ("/", "/index.html", "/index.htm", "/index.php")
#: Error statuses that are not the server refusing or lacking a page: 416 (a download resumed past
#: the end of the file) and 408 (the client was too slow).
NOT_REFUSALS = (408, 416)
#: Rare refused transitions in one session that make each of them HIGH even from served pages.
DEAD_ENDS_FOR_HIGH = 2
#: Pages of content (the home page does not count) served after a session's only dead end, its
#: landing page, that make the landing a stale link (MEDIUM) rather than a probe: a visitor from an old
#: search result reads on into the site, a scanner does not.
BROWSED_AFTER = 1
#: The session risks ``min_severity`` may name, and the lowest risk each lets through.
SEVERITIES = {"high": HIGH, "medium": MEDIUM}


def canaries_from_robots(text: str) -> list[str]:
    """Path prefixes from the ``Disallow:`` lines of a robots.txt (wildcards cut, ``/`` skipped).

    A path a site tells crawlers to avoid is one no honest visitor has a reason to request without a
    link; requesting it is a cheap, strong signal. ``Disallow: /`` (everything) is ignored.
    """
    prefixes: list[str] = []
    for line in text.splitlines():
        key, _, value = line.partition(":")
        if key.strip().lower() != "disallow":
            continue
        value = value.split("#", 1)[0].strip()
        for cut in ("*", "$"):
            value = value.split(cut, 1)[0]
        if value and value != "/" and value not in prefixes:
            prefixes.append(value)
    return prefixes


def _refused(status: ibis.IntegerValue) -> ibis.BooleanValue:
    """The server refused, lacked or failed on the request (status >= 400 except NOT_REFUSALS)."""
    code = status.fill_null(0)
    return (code >= 400) & ~code.isin(NOT_REFUSALS)


class WebSessionDetector:
    """Sessionise, model and rate web requests; the ``web`` hunt.

    ``fit(baseline, engine)`` learns the transition model, ``score(events)`` rates every transition
    and session of ``events`` (:class:`WebScores`), ``detect(scores)`` turns the sessions at or
    above ``min_severity`` into findings. Fitting on a baseline window and scoring later traffic
    works the same as fitting and scoring one table.

    Parameters
    ----------
    gap_minutes, max_session_hours, client:
        Sessionising (see :func:`tracehound.web.sessions.sessionize`).
    fold_static:
        Drop static-asset requests from the state sequence (see :mod:`tracehound.web.states`).
    alpha, vouch:
        Smoothing pseudo-count and which clients count as support (see :class:`TransitionModel`).
    rare_fraction, min_support:
        A transition is rare when fewer than ``max(min_support, rare_fraction * clients)`` other
        clients made it.
    home_paths:
        Paths of the home page; transitions into them are never suspicious.
    canary_paths:
        Path prefixes no legitimate visitor requests (e.g. :func:`canaries_from_robots`); any
        request to one is HIGH.
    window:
        Transitions per window for the session's rarest-window score.
    min_severity:
        Lowest session risk that makes a client a finding (``"high"`` or ``"medium"``).
    max_findings:
        Cap on findings (clients) returned by :meth:`detect` (most evidence first).
    """

    def __init__(self, *, gap_minutes: float = 30, max_session_hours: float = 12, client: str = "ip_ua",
                 fold_static: bool = True, alpha: float = 1.0, vouch: str = "served",
                 rare_fraction: float = 0.005,
                 min_support: int = 2, home_paths: Sequence[str] = HOME_PATHS,
                 canary_paths: Sequence[str] = (), window: int = 3, min_severity: str = "high",
                 max_findings: int = 1000) -> None:
        self.gap_minutes = gap_minutes
        self.max_session_hours = max_session_hours
        self.client = client
        self.fold_static = fold_static
        self.alpha = alpha
        self.vouch = vouch
        self.rare_fraction = rare_fraction
        self.min_support = min_support
        self.home_paths = home_paths
        self.canary_paths = canary_paths
        self.window = window
        self.min_severity = min_severity
        self.max_findings = max_findings

    def validate(self) -> None:
        """``ConfigError`` naming the first parameter of the wrong type or out of range.

        Config files and the command line hand over whatever was typed (``gap_minutes = "x"``); a
        clear line here beats a failure deep inside an engine query after the logs were read.
        """
        _number("gap_minutes", self.gap_minutes, above=0)
        _number("max_session_hours", self.max_session_hours, above=0)
        _choice("client", self.client, CLIENT_KEYS)
        if not isinstance(self.fold_static, bool):
            raise ConfigError(f"fold_static must be true or false, got {self.fold_static!r}")
        _number("alpha", self.alpha, above=0)
        _choice("vouch", self.vouch, VOUCHES)
        _number("rare_fraction", self.rare_fraction, at_least=0, below=1)
        _integer("min_support", self.min_support)
        _paths("home_paths", self.home_paths)
        _paths("canary_paths", self.canary_paths)
        _integer("window", self.window)
        _choice("min_severity", self.min_severity, tuple(SEVERITIES))
        _integer("max_findings", self.max_findings)

    # -- pipeline pieces --------------------------------------------------------------------------
    def _stage(self, requests: ibis.Table, engine: Engine) -> tuple[ibis.Table, ibis.Table, ibis.Table]:
        """The clients (numbered), the sessionised requests (only the columns the hunt uses) and
        their state transitions, each staged once as Parquet because fitting and scoring query them
        several times.

        Sessions and transitions are keyed by :data:`~tracehound.web.sessions.SESSION_KEYS` (client
        number, run, chunk), never by address, user agent or the ``session_id`` text, which is built
        only for the sessions shown. Both also carry ``vouches_client`` (the client made a transition
        the server answered below 400), the leave-one-out test for scoring these very transitions,
        computed on the window that numbers the runs.
        """
        slim = with_agent(requests.select("event_id", "time", "client_ip", "user_agent", "method", "path",
                                          "status"), self.client)
        names = client_names(self.client)
        clients = engine.materialize(client_ids(slim, self.client), "web-clients")
        slim = slim.join(clients.select("cid", *names), names).drop(*names)
        if self.client != "ip":  # the client's user agent is on its row of ``clients``
            slim = slim.drop("user_agent")
        page = ~is_static(slim.path) if self.fold_static else ibis.literal(True)
        slim = slim.mutate(vouches=page & vouches(slim.status))
        runs = session_runs(slim, gap=timedelta(minutes=self.gap_minutes),
                            max_length=timedelta(hours=self.max_session_hours), by=["cid"], mark="vouches")
        sessions = engine.materialize(runs.drop("vouches"), "web-sessions")
        moves = state_transitions(sessions, fold_static=self.fold_static, keys=SESSION_KEYS,
                                  carry=(*SESSION_KEYS, "vouches_client"))
        return clients, sessions, engine.materialize(moves, "web-transitions")

    def fit(self, baseline: ibis.Table, engine: Engine) -> "WebSessionDetector":
        """Learn the transition model from ``web_requests`` (a baseline window or all of it).

        The staged clients, sessions and transitions of ``baseline`` are kept (``baseline_*_``) so
        that scoring the same expression — the common case, fit and score on one log — does not
        sessionise it twice; they are a pure function of ``baseline``, so reusing them cannot
        change any result.
        """
        self.validate()
        clients, sessions, transitions = self._stage(baseline, engine)
        self.model_ = TransitionModel(alpha=self.alpha, vouch=self.vouch).fit(transitions, engine, client=("cid",))
        self.n_clients_ = self.model_.n_clients_
        self.rare_support_ = max(float(self.min_support), self.rare_fraction * self.n_clients_)
        self.baseline_ = baseline
        self.baseline_clients_ = clients
        self.baseline_sessions_ = sessions
        self.baseline_transitions_ = transitions
        self.engine_ = engine
        return self

    def score(self, events: ibis.Table) -> WebScores:
        """Rate every transition and session of ``events`` (``web_requests``) under the fitted model.

        Everything is computed in the engine: the sessions are staged as Parquet, the transitions
        stay an expression over the staged transitions and model (only the per-session aggregate
        reads all of them; ``detect`` asks for its few clients' rows). Nothing is kept on the
        detector, so each call's :class:`WebScores` is its own.
        """
        check_fitted(self)
        self.validate()
        if events.equals(self.baseline_):
            clients, sessions = self.baseline_clients_, self.baseline_sessions_
            transitions = self.baseline_transitions_
            t = self.model_.score(transitions, own="vouches_client")
        else:
            clients, sessions, transitions = self._stage(events, self.engine_)
            # the model knows the baseline's client numbers: look each client up by name
            names = client_names(self.client)
            known = self.baseline_clients_.select(*names, base_cid="cid")
            ids = clients.left_join(known, names).select("cid", "base_cid")
            transitions = transitions.left_join(ids, "cid").select(transitions, "base_cid")
            t = self.model_.score(transitions, client=("base_cid",)).drop("base_cid")
        keys = list(SESSION_KEYS)
        homes = [f"{m} {p}" for m in ("GET", "HEAD") for p in self.home_paths]
        exempt = (t.state == t.prev) | t.state.isin(homes) | (t.state == END)
        failed = _refused(t.status)
        off_map = (t.prev == START) | _refused(t.prev_status)
        rare = t.support < self.rare_support_
        canary = ibis.literal(False)
        for prefix in self.canary_paths:
            canary = canary | t.path.fill_null("").startswith(prefix)
        dead = rare & failed & ~exempt
        served = (t.status.fill_null(999) < 400) & (t.state != END) & ~t.state.isin(homes)
        t = t.mutate(failed=failed, canary=canary, dead=dead.cast("int64"), off_map=off_map,
                     rare=rare, exempt=exempt, served=served.cast("int64"))
        # the whole session, ordered as the rarest window below is, so both share one sort
        whole = ibis.window(group_by=[t[k] for k in keys], order_by=t.step, preceding=None, following=None)
        dead_ends = t.dead.sum().over(whole)
        # A visitor from a stale search result: the only dead end is where it landed, then it read
        # the site. A probe is not followed by browsing.
        stale_landing = (t.prev == START) & (dead_ends == 1) & (t.served.sum().over(whole) >= BROWSED_AFTER)
        probing = t.rare & t.failed & (t.off_map | (dead_ends >= DEAD_ENDS_FOR_HIGH)) & ~stale_landing
        risk = ibis.cases((t.canary, HIGH), (t.exempt, LOW), (probing, HIGH), (t.rare, MEDIUM),
                          else_=LOW)
        t = t.mutate(risk=risk.cast("int64")).drop("dead", "off_map", "rare", "exempt", "served", "vouches_client",
                                                   "ts", "pause")
        w = ibis.window(group_by=[t[k] for k in keys], order_by=t.step, preceding=0, following=self.window - 1)
        # Not staged: only the per-session aggregate below reads every row, and ``detect`` reads the
        # rows of its few chosen clients, which the engine filters before the windows.
        t = t.mutate(window_mean=t.surprisal.mean().over(w))
        per = t.group_by(keys).agg(
            risk=t.risk.max(), score=t.window_mean.max(), mean_surprisal=t.surprisal.mean(),
            transitions=t.count(), high=(t.risk == HIGH).sum(), medium=(t.risk == MEDIUM).sum(),
            canary_hits=t.canary.cast("int64").sum(),
            evidence_bits=ibis.ifelse(t.risk >= MEDIUM, t.surprisal, 0.0).sum())
        # with assets folded, the transitions into pages are the session's pages, pauses and all
        pages = transitions.filter(transitions.state != END) if self.fold_static else session_pages(sessions, keys)
        totals = session_totals(sessions, keys)
        if "user_agent" not in sessions.columns:
            totals = totals.join(clients.select("cid", "user_agent"), "cid")
        stats = session_pace(totals, pages, keys).join(per, keys).join(
            clients.select("cid", *client_names(self.client)), "cid")
        stats = with_session_id(stats, self.client)
        shown = ("session_id", "client_ip")
        hidden = {*shown, "run", "chunk", "agent", "client"}
        stats = stats.select(*shown, *(c for c in stats.columns if c not in hidden))
        scored = self.engine_.materialize(stats, "web-session-scores")
        return WebScores(transitions=with_session_names(t, clients, self.client), sessions=scored,
                         n_clients=self.n_clients_,
                         rare_support=self.rare_support_, engine=self.engine_)

    # -- findings ---------------------------------------------------------------------------------
    def detect(self, scores: WebScores) -> list[Finding]:
        """``web_session`` findings, one per client address with a session at or above
        ``min_severity`` (all its sessions of that risk in one finding), most rare-transition
        evidence first (at most ``max_findings``)."""
        check_fitted(self)
        self.validate()
        if not isinstance(scores, WebScores):
            raise TypeError(f"detect() takes the WebScores that score() returns, got {type(scores).__name__}; "
                            "call detector.detect(detector.score(requests))")
        sessions, trans, engine = scores.sessions, scores.transitions, scores.engine
        hot = sessions.filter(sessions.risk >= SEVERITIES[self.min_severity])
        per = hot.group_by("client_ip").agg(bits=hot.evidence_bits.sum(), worst=hot.risk.max())
        clients = per.order_by([ibis.desc("worst"), ibis.desc("bits"), "client_ip"]).limit(self.max_findings)
        chosen = engine.to_pandas(hot.semi_join(clients, "client_ip").order_by(
            ["client_ip", ibis.desc("risk"), ibis.desc("evidence_bits"), "session_id"]))
        if chosen.empty:
            return []
        order = engine.to_pandas(clients)["client_ip"].tolist()
        # by client number first: it filters the stored rows before their names are joined on
        flagged = trans.filter(trans.cid.isin(chosen["cid"].unique().tolist())
                               & trans.session_id.isin(chosen["session_id"].tolist()) & (trans.risk >= MEDIUM))
        rows = engine.to_pandas(flagged.select(
            "session_id", "step", "event_id", "time", "status", "prev", "state", "support", "prob",
            "surprisal", "risk", "canary").order_by(["session_id", "step"]))
        # every chosen session has at least one MEDIUM or HIGH transition, so each has rows here
        by_session = {sid: grp for sid, grp in rows.groupby("session_id", sort=False)}
        by_client = {ip: grp for ip, grp in chosen.groupby("client_ip", sort=False)}
        return [client_finding(i, by_client[ip], by_session, scores)
                for i, ip in enumerate(order, start=1)]


def _number(name: str, value: object, *, above: float | None = None, at_least: float | None = None,
            below: float | None = None) -> None:
    """A finite real number (not a bool) within the bounds given."""
    if isinstance(value, bool) or not isinstance(value, (int, float)) or not math.isfinite(value):
        raise ConfigError(f"{name} must be a finite number, got {value!r}")
    if above is not None and not value > above:
        raise ConfigError(f"{name} must be greater than {above}, got {value!r}")
    if at_least is not None and not value >= at_least:
        raise ConfigError(f"{name} must be at least {at_least}, got {value!r}")
    if below is not None and not value < below:
        raise ConfigError(f"{name} must be below {below}, got {value!r}")


def _integer(name: str, value: object) -> None:
    """A whole number of at least 1 (not a bool, not 2.0)."""
    if isinstance(value, bool) or not isinstance(value, int) or value < 1:
        raise ConfigError(f"{name} must be a whole number of at least 1, got {value!r}")


def _choice(name: str, value: object, choices: tuple[str, ...]) -> None:
    if value not in choices:
        raise ConfigError(f"{name} must be one of {', '.join(map(repr, choices))}, got {value!r}")


def _paths(name: str, value: object) -> None:
    """A list of non-empty path strings; a bare string would be read as its characters, and an
    empty prefix would match every request."""
    if isinstance(value, str) or not isinstance(value, (list, tuple)) or \
            not all(isinstance(p, str) and p for p in value):
        raise ConfigError(f"{name} must be a list of non-empty paths like ['/admin/'], got {value!r}")


def split_baseline(requests: ibis.Table, until: datetime) -> ibis.Table:
    """The requests before ``until`` — a baseline window to fit on."""
    return requests.filter(requests.time < until)
