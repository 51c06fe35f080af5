"""What :meth:`SprayHunter.score` returns: the measured clusters and campaigns of one table, no verdict
on the hunter.

Everything :meth:`SprayHunter.detect` needs travels here rather than on the hunter, so scoring
another table in between cannot change what ``detect`` reports for this one. The ibis tables are
cached on the engine that scored them; only aggregates are pandas frames.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import ibis
import pandas as pd

from .stale import STALE_COLUMNS

#: Columns of :attr:`SprayScores.clusters`, one row per campaign and per dropped mixture cluster (the
#: CLI writes it to ``clusters.jsonl``).
CLUSTER_COLUMNS = ["cluster", "clusters", "campaign", "kind", "score", "failed_rules", "attempts", "users",
                   "ips", "first_seen", "last_seen", "span_days", "active_days", "attempts_per_user", "ks",
                   "confidence", "anomalous_fields", "invariant_fields", "anomalous", "fingerprint", "fields"]


@dataclass(frozen=True, eq=False)
class SprayScores:
    """One scored sign-in table.

    clusters: every campaign (``kind`` set when the pruning rules keep it) and every dropped mixture
        cluster, with its statistics, fingerprint, failed rules and ranking score, best first.
    retried_excluded: failures set aside as typos by the retry rule (a success from the same address
        soon after).
    bits: the scored sign-ins in scope (baseline successes and candidate failures) with their
        anomaly bits and pattern.
    campaigns: the failed attempts of every measured campaign with its number (``campaign``); None
        when no cluster was unusual enough to measure.
    success_patterns: distinct bit-patterns of the scored table's successful sign-ins with their
        counts — the successes a campaign may be linked to are the scored table's, not the baseline's.
    stale: one row per (account, address) failing on a clock from an address it or its tenant
        uses (:mod:`.stale`): reported as ``stale_credentials``, never part of a campaign.
    """

    clusters: pd.DataFrame
    retried_excluded: int
    bits: ibis.Table
    campaigns: ibis.Table | None
    success_patterns: pd.DataFrame
    stale: pd.DataFrame = field(default_factory=lambda: pd.DataFrame(columns=STALE_COLUMNS))
