"""``web_session`` findings: one scored session and its rare transitions, in words and numbers.

The explanation is written for an analyst who has never seen the model: which requests were rare,
how many of the site's clients ever made them, what the server answered, and what to do. The
client's address and user agent are the finding's *actors* (the scanner's own, so blockable); a web
session has no target entity — the site itself is implied.
"""

from __future__ import annotations

import pandas as pd

from ..findings import Finding, iso_utc
from .scores import HIGH, RISK_NAMES, WebScores
from .sessions import MACHINE_MIN_REQUESTS

#: Transitions listed per finding; the count of all rare transitions is always given.
MAX_LISTED = 10
#: Event ids per finding: those of its rare transitions, capped so a crawler session stays readable.
MAX_EVENT_IDS = 1000
#: Rare transitions spelled out in the explanation; the rest are counted.
EXPLAINED = 3


def session_finding(number: int, s, rare: pd.DataFrame, scores: WebScores) -> Finding:
    """The finding for session row ``s`` (from ``scores.sessions``) with its MEDIUM / HIGH
    transitions ``rare`` (rows of ``scores.transitions``), numbered ``number`` in this run."""
    listed = rare.sort_values(["risk", "surprisal"], ascending=[False, False]).head(MAX_LISTED)
    transitions = [{
        "from": r.prev, "to": r.state, "status": None if pd.isna(r.status) else int(r.status),
        "other_clients": int(r.support), "probability": float(r.prob),
        "surprisal_bits": round(float(r.surprisal), 3), "risk": RISK_NAMES[int(r.risk)],
        "canary": bool(r.canary), "event_id": r.event_id,
    } for r in listed.itertuples(index=False)]
    risk = RISK_NAMES[int(s.risk)]
    known_ua = isinstance(s.user_agent, str) and s.user_agent != "-"
    ua = s.user_agent if known_ua else "-"
    actors = {"ips": [s.client_ip], **({"user_agents": [ua]} if known_ua else {})}
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
        actors=actors,
        targets={},
        event_ids=[e for e in rare["event_id"].tolist() if isinstance(e, str)][:MAX_EVENT_IDS],
        explanation=_explain(s, ua, transitions, scores.n_clients),
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
            "clients_in_model": scores.n_clients, "rare_support_below": scores.rare_support,
            "rare_transitions": transitions,
        },
    )


def _explain(s, ua: str, transitions: list[dict], n_clients: int) -> str:
    """One paragraph: who, when, how fast, the rarest transitions and what to do about them."""
    if int(s.requests) < MACHINE_MIN_REQUESTS:
        pace = "too few requests to judge pacing"
    else:
        pace = "machine-paced" if bool(s.machine_paced) else "human-paced"
    lines = []
    for tr in transitions[:EXPLAINED]:
        seen = ("never seen from any other of" if tr["other_clients"] == 0
                else f"seen from only {tr['other_clients']:,} other of")
        status = f" (HTTP {tr['status']})" if tr["status"] is not None else ""
        why = "canary path; " if tr["canary"] else ""
        lines.append(f"{tr['from']} → {tr['to']}{status}: {why}{seen} {n_clients:,} clients")
    more = len(transitions) - len(lines)
    listed = "; ".join(lines) + (f"; and {more} more" if more > 0 else "")
    action = ("It walked paths real visitors do not walk into pages the server does not have: "
              "treat it as a scanner or exploit attempt and consider blocking the IP."
              if int(s.risk) == HIGH else
              "Its route through the site is unusual but the pages exist; review before acting.")
    return (f"Client {s.client_ip} (user agent {ua!r}) made {int(s.requests):,} requests between "
            f"{iso_utc(s.first_seen)} and {iso_utc(s.last_seen)} ({float(s.rpm):.1f}/min, {pace}). "
            f"Rare transitions: {listed}. {action}")
