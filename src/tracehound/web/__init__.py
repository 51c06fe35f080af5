"""The web session hunt: sessions, request states, a distinct-client Markov model, risk and findings.

See ``docs/web.md``. :class:`WebSessionDetector` is the hunt (``fit`` → ``score`` → ``detect``);
:class:`WebScores` is what ``score`` returns, with the per-client view and the HIGH client IPs a
blocklist is made from. ``HUNTS`` declares it to the pipeline, ``KINDS`` its finding kind.
"""

from ..contract import HuntEntry
from .kinds import KINDS
from .scores import WebScores
from .scoring import WebSessionDetector

HUNTS = (
    HuntEntry(section="web", table="web_requests", build=WebSessionDetector, kinds=("web_session",),
              description="Scanners and exploit attempts in web access logs: request-to-request "
                          "transitions per client session that (almost) no other client made, "
                          "rated HIGH / MEDIUM / LOW"),
)

__all__ = ["HUNTS", "KINDS", "WebScores", "WebSessionDetector"]
