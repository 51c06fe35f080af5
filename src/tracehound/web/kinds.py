"""The finding kinds the web hunt produces, declared once for the registry and every reporter."""

from __future__ import annotations

from ..findings import Kind

KINDS: tuple[Kind, ...] = (
    # A session walking rare transitions into refused pages: the client's own address and user agent
    # are the scanner's, so they may be blocked; there is no target entity (the site is implied).
    # Many unrelated clients probing a public site are background noise: those that share no
    # actor with another finding fold into one low-priority incident.
    Kind("web_session", hunt="web", table="web_requests", title="Anomalous web session",
         tactic="Reconnaissance", technique="T1595", technique_name="Active Scanning",
         actors=("ips", "user_agents"), targets=(), blockable=True, plot="path",
         tier="reconnaissance", fold="Opportunistic probing of the web server"),
)
