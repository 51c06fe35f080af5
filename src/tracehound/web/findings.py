"""``web_session`` findings: one per client address, its sessions and rare transitions, in words and numbers.

The unit of output is the unit of attack: a scanner that comes back forty times, or fires its word list
with three user agents, is one client and one finding, with every session it made listed in the
evidence. The explanation is written for an analyst who has never seen the model: which requests were
rare, how many of the site's clients ever made them, what the server answered, how fast the client
went, and what to do. The client's address and user agents are the finding's *actors* (the scanner's
own, so blockable); a web session has no target entity — the site itself is implied.
"""

from __future__ import annotations

import pandas as pd

from ..findings import Finding, iso_utc
from .scores import HIGH, RISK_NAMES, WebScores
from .sessions import MACHINE_MIN_REQUESTS

#: Transitions listed per finding (those of its worst session); the count of all is always given.
MAX_LISTED = 10
#: Event ids per finding: those of its rare transitions, capped so a crawler stays readable.
MAX_EVENT_IDS = 1000
#: Sessions listed per finding; ``sessions`` counts them all.
MAX_SESSIONS = 20
#: HIGH-risk refused request states listed (``probed_paths``: what a path rule is made of).
MAX_PROBED = 50
#: Rare transitions spelled out in the explanation; the rest are counted.
EXPLAINED = 3


def _transitions(rare: pd.DataFrame) -> list[dict]:
    listed = rare.sort_values(["risk", "surprisal"], ascending=[False, False]).head(MAX_LISTED)
    return [{
        "from": r.prev, "to": r.state, "status": None if pd.isna(r.status) else int(r.status),
        "other_clients": int(r.support), "probability": float(r.prob),
        "surprisal_bits": round(float(r.surprisal), 3), "risk": RISK_NAMES[int(r.risk)],
        "canary": bool(r.canary), "event_id": r.event_id,
    } for r in listed.itertuples(index=False)]


def _known(ua) -> bool:
    return isinstance(ua, str) and ua != "-" and ua != ""


def client_finding(number: int, sessions: pd.DataFrame, rare_by_session: dict[str, pd.DataFrame],
                   scores: WebScores) -> Finding:
    """The finding for one client address: ``sessions`` are its rows of ``scores.sessions`` at or
    above the hunt's severity (worst first), ``rare_by_session`` their MEDIUM / HIGH transitions."""
    worst = sessions.iloc[0]
    ip = worst.client_ip
    transitions = _transitions(rare_by_session[worst.session_id])
    risk = RISK_NAMES[int(sessions["risk"].max())]
    agents = list(dict.fromkeys(ua for ua in sessions["user_agent"] if _known(ua)))
    high, medium = int(sessions["high"].sum()), int(sessions["medium"].sum())
    requests = int(sessions["requests"].sum())
    events = [e for sid in sessions["session_id"] for e in rare_by_session[sid]["event_id"].tolist()
              if isinstance(e, str)]
    n = len(sessions)
    probed = list(dict.fromkeys(r.state for sid in sessions["session_id"]
                                for r in rare_by_session[sid].itertuples(index=False)
                                if int(r.risk) == HIGH and not pd.isna(r.status) and int(r.status) >= 400))
    return Finding(
        kind="web_session",
        id=f"web-{number:05d}",
        title=f"{risk.upper()} web client {ip}: {high} high-risk"
              + (f" and {medium} unusual" if medium else "")
              + f" transitions in {requests} requests" + (f" over {n} sessions" if n > 1 else ""),
        severity=risk,
        score=round(float(sessions["evidence_bits"].sum()), 4),
        first_seen=iso_utc(sessions["first_seen"].min()),
        last_seen=iso_utc(sessions["last_seen"].max()),
        actors={"ips": [ip], **({"user_agents": agents} if agents else {})},
        targets={},
        event_ids=events[:MAX_EVENT_IDS],
        explanation=_explain(worst, sessions, agents, transitions, scores.n_clients),
        evidence={
            "sessions": n, "requests": requests, "high_transitions": high, "medium_transitions": medium,
            "canary_hits": int(sessions["canary_hits"].sum()),
            "rare_transition_bits": round(float(sessions["evidence_bits"].sum()), 4),
            "worst_session": {
                "session_id": worst.session_id, "requests": int(worst.requests), "pages": int(worst.pages),
                "transitions": int(worst.transitions), "rarest_window_bits": round(float(worst.score), 4),
                "mean_surprisal_bits": round(float(worst.mean_surprisal), 4),
                "pages_per_minute": round(float(worst.rpm), 3),
                "pause_cv": None if pd.isna(worst.gap_cv) else round(float(worst.gap_cv), 3),
                "machine_paced": bool(worst.machine_paced),
            },
            "session_list": [{
                "session_id": s.session_id, "first_seen": iso_utc(s.first_seen), "last_seen": iso_utc(s.last_seen),
                "requests": int(s.requests), "risk": RISK_NAMES[int(s.risk)], "high_transitions": int(s.high),
                "rare_transition_bits": round(float(s.evidence_bits), 4),
                "user_agent": s.user_agent if _known(s.user_agent) else None,
            } for s in sessions.head(MAX_SESSIONS).itertuples(index=False)],
            "clients_in_model": scores.n_clients, "rare_support_below": scores.rare_support,
            "rare_transitions": transitions,
            "probed_paths": probed[:MAX_PROBED],
        },
    )


def _pace(s) -> str:
    if int(s.pages) < MACHINE_MIN_REQUESTS:
        return f"{int(s.pages)} page(s), too few to judge pacing"
    how = "machine-paced" if bool(s.machine_paced) else "human-paced"
    return f"{int(s.pages)} pages at {float(s.rpm):.1f} a minute, {how}"


def _explain(worst, sessions: pd.DataFrame, agents: list[str], transitions: list[dict], n_clients: int) -> str:
    """One paragraph: who, when, how fast, the rarest transitions and what to do about them."""
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
              if int(worst.risk) == HIGH else
              "Its route through the site is unusual but the pages exist; review before acting.")
    ua = ", ".join(repr(a) for a in agents[:3]) + (f" and {len(agents) - 3} more" if len(agents) > 3 else "") \
        if agents else "'-'"
    n = len(sessions)
    many = (f"{int(sessions['requests'].sum()):,} requests in {n} sessions between "
            f"{iso_utc(sessions['first_seen'].min())} and {iso_utc(sessions['last_seen'].max())}; the worst "
            if n > 1 else "")
    return (f"Client {worst.client_ip} (user agent {ua}) made {many}{int(worst.requests):,} requests between "
            f"{iso_utc(worst.first_seen)} and "
            f"{iso_utc(worst.last_seen)} ({_pace(worst)}). Rare transitions: {listed}. {action}")
