"""Risk levels for transitions, scores for sessions and client IPs, and ``web_session`` findings.

Risk of one transition ``prev → state`` (``support`` = distinct *other* clients that made it,
``N`` = clients in the fitted data, ``rare`` = ``support < max(min_support, rare_fraction * N)``):

- **HIGH**: the request hit a canary path; or the transition is *rare*, the server refused, lacked
  or failed on the page (status ≥ 400 except 408 and 416), and the client was *off the map* when it
  asked: it arrived straight on that page (``START →``) or came from another refused request; or
  the session holds at least two such rare refused transitions wherever they came from (one dead
  link is the site's bug, two is a visitor trying pages).
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
transitions. A client IP's aggregate is the maximum over its sessions, with session counts per risk.
"""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Iterable

import ibis
import pandas as pd

from ..engine import Engine
from ..errors import ConfigError, NotFittedError
from ..findings import Finding, iso_utc
from .markov import TransitionModel
from .sessions import MACHINE_MIN_REQUESTS, session_stats, sessionize
from .states import END, START, state_transitions

LOW, MEDIUM, HIGH = 0, 1, 2
RISK_NAMES = {LOW: "low", MEDIUM: "medium", HIGH: "high"}
HOME_PATHS = ("/", "/index.html", "/index.htm", "/index.php")
#: Error statuses that are not the server refusing or lacking a page: 416 (a download resumed past
#: the end of the file) and 408 (the client was too slow).
NOT_REFUSALS = (408, 416)
#: Rare refused transitions in one session that make each of them HIGH even from served pages.
DEAD_ENDS_FOR_HIGH = 2
#: Transitions listed per finding; the count of all rare transitions is always given.
MAX_LISTED = 10
#: Event ids per finding: those of its rare transitions, capped so a crawler session stays readable.
MAX_EVENT_IDS = 1000


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
    """Sessionise, model and rate web requests; the hunt behind ``tracehound web``.

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
        Lowest session risk that becomes a finding (``"high"`` or ``"medium"``).
    max_findings:
        Cap on findings returned by :meth:`detect` (highest scores first).
    """

    def __init__(self, *, gap_minutes: float = 30, max_session_hours: float = 12, client: str = "ip_ua",
                 fold_static: bool = True, alpha: float = 1.0, vouch: str = "served",
                 rare_fraction: float = 0.005,
                 min_support: int = 2, home_paths: Iterable[str] = HOME_PATHS,
                 canary_paths: Iterable[str] = (), window: int = 3, min_severity: str = "high",
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

    # -- pipeline pieces --------------------------------------------------------------------------
    def _staged_input(self, requests: ibis.Table, engine: Engine) -> tuple[ibis.Table, ibis.Table]:
        """Sessionised requests (only the columns the hunt uses) and their state transitions,
        staged once per input.

        Fitting and scoring the same requests is the common case, so what :meth:`fit` staged is
        reused when :meth:`score` / :meth:`detect` get the same expression.
        """
        cached = getattr(self, "_staged", None)
        if cached is not None and cached[0].equals(requests):
            return cached[1], cached[2]
        slim = requests.select("event_id", "time", "client_ip", "user_agent", "method", "path", "status")
        sessions = engine.materialize(sessionize(
            slim, gap=timedelta(minutes=self.gap_minutes), max_length=timedelta(hours=self.max_session_hours),
            client=self.client), "web-sessions")
        transitions = engine.materialize(state_transitions(sessions, fold_static=self.fold_static),
                                  "web-transitions")
        self._staged = (requests, sessions, transitions)
        return sessions, transitions

    def _validate(self) -> None:
        if self.min_severity not in ("high", "medium"):
            raise ConfigError(f"min_severity must be 'high' or 'medium', got {self.min_severity!r}")
        if not 0 <= self.rare_fraction < 1 or self.min_support < 1 or self.window < 1:
            raise ConfigError("rare_fraction must be in [0, 1), min_support and window at least 1")

    def fit(self, requests: ibis.Table, engine: Engine) -> "WebSessionDetector":
        """Learn the transition model from ``web_requests`` (a baseline window or all of it)."""
        self._validate()
        self._staged = self._scored = None
        _, transitions = self._staged_input(requests, engine)
        self.model_ = TransitionModel(alpha=self.alpha, vouch=self.vouch).fit(transitions, engine)
        self.n_clients_ = self.model_.n_clients_
        self.rare_support_ = max(float(self.min_support), self.rare_fraction * self.n_clients_)
        self.engine_ = engine
        return self

    def _check(self) -> None:
        if not hasattr(self, "model_"):
            raise NotFittedError("this WebSessionDetector is not fitted yet; call fit() first")

    def _evaluate(self, requests: ibis.Table) -> tuple[ibis.Table, ibis.Table]:
        """Scored transitions and scored sessions, each computed once per input and staged as Parquet."""
        self._check()
        cached = getattr(self, "_scored", None)
        if cached is not None and cached[0].equals(requests):
            return cached[1], cached[2]
        sessions, transitions = self._staged_input(requests, self.engine_)
        t = self.model_.score(transitions)
        homes = [f"{m} {p}" for m in ("GET", "HEAD") for p in self.home_paths]
        exempt = (t.state == t.prev) | t.state.isin(homes) | (t.state == END)
        failed = _refused(t.status)
        off_map = (t.prev == START) | _refused(t.prev_status)
        rare = t.support < self.rare_support_
        canary = ibis.literal(False)
        for prefix in self.canary_paths:
            canary = canary | t.path.fill_null("").startswith(prefix)
        dead = rare & failed & ~exempt
        t = t.mutate(failed=failed, canary=canary, dead=dead.cast("int64"), off_map=off_map,
                     rare=rare, exempt=exempt)
        dead_ends = t.dead.sum().over(ibis.window(group_by=t.session_id))
        probing = t.rare & t.failed & (t.off_map | (dead_ends >= DEAD_ENDS_FOR_HIGH))
        risk = ibis.cases((t.canary, HIGH), (t.exempt, LOW), (probing, HIGH), (t.rare, MEDIUM),
                          else_=LOW)
        t = t.mutate(risk=risk.cast("int64")).drop("dead", "off_map", "rare", "exempt")
        w = ibis.window(group_by=t.session_id, order_by=t.step, preceding=0, following=self.window - 1)
        t = self.engine_.materialize(t.mutate(window_mean=t.surprisal.mean().over(w)), "web-scored")
        per = t.group_by("session_id").agg(
            risk=t.risk.max(), score=t.window_mean.max(), mean_surprisal=t.surprisal.mean(),
            transitions=t.count(), high=(t.risk == HIGH).sum(), medium=(t.risk == MEDIUM).sum(),
            canary_hits=t.canary.cast("int64").sum(),
            evidence_bits=ibis.ifelse(t.risk >= MEDIUM, t.surprisal, 0.0).sum())
        scored = self.engine_.materialize(session_stats(sessions).join(per, "session_id"),
                             "web-session-scores")
        self._scored = (requests, t, scored)
        return t, scored

    def score_transitions(self, requests: ibis.Table) -> ibis.Table:
        """Every transition with ``support``, ``prob``, ``surprisal``, ``failed``, ``canary`` and
        ``risk`` (0 LOW, 1 MEDIUM, 2 HIGH), as an engine table."""
        return self._evaluate(requests)[0]

    def score(self, requests: ibis.Table) -> ibis.Table:
        """Per session: client, window, timing statistics, ``risk``, ``score`` (rarest window, bits),
        ``mean_surprisal`` and counts of HIGH / MEDIUM transitions (an engine table)."""
        return self._evaluate(requests)[1]

    def score_ips(self, requests: ibis.Table) -> ibis.Table:
        """Per client IP: highest session risk and score, and sessions by risk (an engine table)."""
        s = self.score(requests)
        return s.group_by("client_ip").agg(
            risk=s.risk.max(), score=s.score.max(), sessions=s.count(),
            high_sessions=(s.risk == HIGH).sum(), medium_sessions=(s.risk == MEDIUM).sum(),
            requests=s.requests.sum(), first_seen=s.first_seen.min(), last_seen=s.last_seen.max())

    def high_ips(self, requests: ibis.Table) -> list[str]:
        """Client IPs with at least one HIGH session, for a blocklist."""
        ips = self.score_ips(requests)
        df = self.engine_.to_pandas(ips.filter(ips.risk == HIGH).select("client_ip").order_by("client_ip"))
        return df["client_ip"].tolist()

    # -- findings ---------------------------------------------------------------------------------
    def detect(self, requests: ibis.Table) -> list[Finding]:
        """``web_session`` findings for sessions at or above ``min_severity``, highest score first."""
        self._check()
        self._validate()
        floor = HIGH if self.min_severity == "high" else MEDIUM
        trans, sessions = self._evaluate(requests)
        chosen = self.engine_.to_pandas(
            sessions.filter(sessions.risk >= floor)
            .order_by([ibis.desc("risk"), ibis.desc("evidence_bits"), "session_id"]).limit(self.max_findings))
        if chosen.empty:
            return []
        flagged = trans.filter(trans.session_id.isin(chosen["session_id"].tolist()) & (trans.risk >= MEDIUM))
        rows = self.engine_.to_pandas(flagged.select(
            "session_id", "step", "event_id", "time", "status", "prev", "state", "support", "prob",
            "surprisal", "risk", "canary").order_by(["session_id", "step"]))
        # every chosen session has at least one MEDIUM or HIGH transition, so each has rows here
        by_session = {sid: grp for sid, grp in rows.groupby("session_id", sort=False)}
        return [self._finding(i, rec, by_session[rec.session_id]) for i, rec in
                enumerate(chosen.itertuples(index=False), start=1)]

    def _finding(self, number: int, s, rare: pd.DataFrame) -> Finding:
        listed = rare.sort_values(["risk", "surprisal"], ascending=[False, False]).head(MAX_LISTED)
        transitions = [{
            "from": r.prev, "to": r.state, "status": None if pd.isna(r.status) else int(r.status),
            "other_clients": int(r.support), "probability": float(r.prob),
            "surprisal_bits": round(float(r.surprisal), 3), "risk": RISK_NAMES[int(r.risk)],
            "canary": bool(r.canary), "event_id": r.event_id,
        } for r in listed.itertuples(index=False)]
        risk = RISK_NAMES[int(s.risk)]
        ua = s.user_agent if isinstance(s.user_agent, str) else "-"
        return Finding(
            kind="web_session",
            id=f"web-{number:05d}",
            title=f"{risk.upper()} web session from {s.client_ip}: {int(s.high)} high-risk"
                  + (f" and {int(s.medium)} unusual" if int(s.medium) else "")
                  + f" transitions in {int(s.requests)} requests",
            severity=risk,
            score=round(float(s.evidence_bits), 4),
            first_seen=iso_utc(s.first_seen),
            last_seen=iso_utc(s.last_seen),
            entities={"ips": [s.client_ip], "user_agents": [ua]},
            event_ids=[e for e in rare["event_id"].tolist() if isinstance(e, str)][:MAX_EVENT_IDS],
            explanation=self._explain(s, ua, transitions),
            evidence={
                "session_id": s.session_id, "requests": int(s.requests),
                "transitions": int(s.transitions), "high_transitions": int(s.high),
                "medium_transitions": int(s.medium), "canary_hits": int(s.canary_hits),
                "rarest_window_bits": round(float(s.score), 4),
                "rare_transition_bits": round(float(s.evidence_bits), 4),
                "mean_surprisal_bits": round(float(s.mean_surprisal), 4),
                "requests_per_minute": round(float(s.rpm), 3),
                "pause_cv": None if pd.isna(s.gap_cv) else round(float(s.gap_cv), 3),
                "machine_paced": bool(s.machine_paced),
                "clients_in_model": self.n_clients_, "rare_support_below": self.rare_support_,
                "rare_transitions": transitions,
            },
        )

    def _explain(self, s, ua: str, transitions: list[dict]) -> str:
        n = self.n_clients_
        if int(s.requests) < MACHINE_MIN_REQUESTS:
            pace = "too few requests to judge pacing"
        else:
            pace = "machine-paced" if bool(s.machine_paced) else "human-paced"
        lines = []
        for tr in transitions[:3]:
            seen = ("never seen from any other of" if tr["other_clients"] == 0
                    else f"seen from only {tr['other_clients']:,} other of")
            status = f" (HTTP {tr['status']})" if tr["status"] is not None else ""
            why = "canary path; " if tr["canary"] else ""
            lines.append(f"{tr['from']} → {tr['to']}{status}: {why}{seen} {n:,} clients")
        more = len(transitions) - len(lines)
        listed = "; ".join(lines) + (f"; and {more} more" if more > 0 else "")
        action = ("It walked paths real visitors do not walk into pages the server does not have: "
                  "treat it as a scanner or exploit attempt and consider blocking the IP."
                  if int(s.risk) == HIGH else
                  "Its route through the site is unusual but the pages exist; review before acting.")
        return (f"Client {s.client_ip} (user agent {ua!r}) made {int(s.requests):,} requests between "
                f"{iso_utc(s.first_seen)} and {iso_utc(s.last_seen)} ({float(s.rpm):.1f}/min, {pace}). "
                f"Rare transitions: {listed}. {action}")


def split_baseline(requests: ibis.Table, until: datetime) -> ibis.Table:
    """The requests before ``until`` — a baseline window to fit on."""
    return requests.filter(requests.time < until)
