"""Risk levels and :class:`WebScores`, what ``WebSessionDetector.score`` hands to ``detect``.

The scores carry the scored transitions and sessions as engine tables (the sessions staged Parquet,
the transitions an expression over staged tables), never the rows: a 10-million-line log stays in
the engine, and only the per-client aggregate or the chosen sessions come back to Python. Because
every per-call result lives here and not on the detector, scoring another table between ``score``
and ``detect`` cannot change what ``detect`` reports.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import ibis
import pandas as pd

from ..engine import Engine

LOW, MEDIUM, HIGH = 0, 1, 2
RISK_NAMES = {LOW: "low", MEDIUM: "medium", HIGH: "high"}


@dataclass(frozen=True, eq=False)
class WebScores:
    """One ``score`` result: raw measurements under the fitted model, no verdict yet.

    ``transitions``: every transition with ``support``, ``prob``, ``surprisal``, ``failed``,
    ``canary``, ``risk`` (0 LOW, 1 MEDIUM, 2 HIGH) and ``window_mean``. ``sessions``: per session,
    client, window, timing statistics, ``risk``, ``score`` (rarest window, bits), ``mean_surprisal``,
    counts of HIGH / MEDIUM transitions and ``evidence_bits``. Both are tables on ``engine``.
    ``n_clients`` / ``rare_support``: clients in the fitted model and the support a transition must
    reach not to be rare, which the findings quote.
    """

    transitions: ibis.Table = field(repr=False)
    sessions: ibis.Table = field(repr=False)
    n_clients: int
    rare_support: float
    engine: Engine = field(repr=False)

    def per_client(self) -> pd.DataFrame:
        """Per client IP, ordered by IP: highest session ``risk`` (``"high"`` / ``"medium"`` /
        ``"low"``) and ``score``, ``sessions`` by risk, ``requests``, ``first_seen`` / ``last_seen``.

        The per-IP view of the hunt (``ips.csv``): a client with 40 identical sessions is one row.
        """
        s = self.sessions
        per = s.group_by("client_ip").agg(
            risk=s.risk.max(), score=s.score.max(), sessions=s.count(),
            high_sessions=(s.risk == HIGH).sum(), medium_sessions=(s.risk == MEDIUM).sum(),
            requests=s.requests.sum(), first_seen=s.first_seen.min(), last_seen=s.last_seen.max())
        df = self.engine.to_pandas(per.order_by("client_ip"))
        df["risk"] = df["risk"].map(RISK_NAMES)
        return df

    def high_ips(self) -> list[str]:
        """Client IPs with at least one HIGH session, ordered: the blocklist's input."""
        s = self.sessions
        ips = s.filter(s.risk == HIGH).select("client_ip").distinct().order_by("client_ip")
        return self.engine.to_pandas(ips)["client_ip"].tolist()
