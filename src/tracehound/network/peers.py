"""New peer groups: "why is engineering trying to talk to HR?"

Internal hosts are grouped by subnet (``groups``: a CIDR → name map, the most specific network
wins; any other internal address falls into its own /24 or /64), and the baseline teaches which
groups reach which (directed: engineering → file servers is not file servers → engineering), from
the connections that were answered: an unanswered probe is no conversation, so a scan or a
dead-space probe in the baseline teaches nothing — and from pairs seen on at least ``known_days``
days: one contact last Tuesday (perhaps the intruder's first) is no habit. In the detection window,
a connection — answered or not — from one group to another that is not a known pair in that
direction is reported, with how rare the pair is: how many groups reach the destination's group,
how many its own group reaches, and whether the other direction is known.

Servers that everyone reaches are learned, not listed: a destination reached from at least
``shared_groups`` groups in the baseline (the domain controller, the proxy, a department printer
everyone uses) is a shared service: visits to it neither make two groups peers in the baseline nor
are a new peer in the detection window.
A group with less than ``min_history_days`` of baseline activity (a subnet brought up last night)
is not judged either way: its first contacts are a new network, not two groups that stopped being
strangers (the dead-space hunt and the scans still see it).
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Mapping

import ibis
import numpy as np
import pandas as pd

from ..contract import check_fitted
from ..engine import Engine
from ..fanout.detector import Windows
from ..findings import Finding, iso_utc
from .base import MAX_DETAIL_ROWS, NetworkHunt, bucket_index, carries_answers, integer, tagged
from .text import listing, series_evidence, window_text

#: Destination ports that move an intruder between hosts (SMB, RPC, NetBIOS, RDP, WinRM, SSH, VNC,
#: telnet): a first contact on one of them is the lateral-movement case.
LATERAL_PORTS = frozenset({22, 23, 135, 139, 445, 3389, 5900, 5985, 5986})
CANDIDATE_COLUMNS = ["src", "dst", "src_group", "dst_group", "port", "time", "b", "event_id", "answered"]


@dataclass(frozen=True, eq=False)
class PeerScores:
    """What :meth:`PeerGroups.score` measured; no verdict.

    ``candidates``: detection-window connections between two established groups whose directed pair
    had no connection in the baseline, to a destination that is not a shared service
    (:data:`CANDIDATE_COLUMNS`). ``groups``: per established group, how many groups reach it
    (``reached_by``) and how many it reaches (``reaches``); ``known``: the baseline's directed group
    pairs; ``shared``: the learned shared services; ``established``: how many groups were judged.
    """

    windows: Windows | None
    candidates: pd.DataFrame
    groups: pd.DataFrame
    known: pd.DataFrame
    shared: list[str]
    established: int
    edges: ibis.Table
    rows: ibis.Table | None


class PeerGroups(NetworkHunt):
    """Directed group-to-group reachability learned from the baseline; first contacts reported."""

    def __init__(self, *, bucket: str = "1h", detect_last: str = "1d", end: datetime | str | None = None,
                 baseline_days: float = 14, min_history_days: float = 3, shared_groups: int = 3,
                 known_days: int = 2, groups: Mapping[str, str] | None = None, prefix: int = 24,
                 internal: list[str] | None = None, max_listed: int = 50) -> None:
        self._store(bucket=bucket, detect_last=detect_last, end=end, baseline_days=baseline_days,
                    min_history_days=min_history_days, internal=internal, groups=groups, prefix=prefix,
                    max_listed=max_listed)
        self.shared_groups = shared_groups
        self.known_days = known_days

    def validate(self) -> None:
        """``ConfigError`` naming the parameter that is of the wrong type or out of range."""
        self._validate_common()
        integer("shared_groups", self.shared_groups, 2)
        integer("known_days", self.known_days, 1)

    def prepare(self, table: ibis.Table, engine: Engine) -> ibis.Table:
        """Connections between two different internal groups: :data:`CANDIDATE_COLUMNS`."""
        t = tagged(table, self.book().lookup(engine, table, ["src_ip", "dst_ip"]))
        t = t.filter(t.src_group.notnull() & t.dst_group.notnull() & (t.src_group != t.dst_group)
                     & ~t.dst_edge.fill_null(False))
        return t.select(src=t.src_ip.cast("string"), dst=t.dst_ip.cast("string"), src_group=t.src_group,
                        dst_group=t.dst_group, port=t.dst_port.fill_null(-1).cast("int64"), time=t.time,
                        b=bucket_index(t, self.width()), event_id=t.event_id.cast("string"),
                        answered=(t.bytes_in.fill_null(0) > 0) if self.answers_ else ibis.literal(True))

    @staticmethod
    def _edges(rows: ibis.Table) -> ibis.Table:
        return rows.group_by(["src", "src_group", "dst", "dst_group", "b"]).aggregate(
            n=rows.count(), answered=rows.answered.cast("int64").sum())

    def fit(self, baseline: ibis.Table, engine: Engine) -> "PeerGroups":
        """Keep ``edges_`` (``src, src_group, dst, dst_group, b, n, answered``: connections and how
        many were answered) over the last ``baseline_days + detect_last`` of ``baseline``, and
        ``answers_``: whether the table says which were (without byte counts every one counts)."""
        self.validate()
        self.answers_ = carries_answers(baseline, engine)
        span = self.fit_range(baseline, engine)
        rows = self.prepare(baseline, engine)
        if span is not None:
            rows = rows.filter((rows.b >= span[0]) & (rows.b < span[1]))
        self.edges_ = engine.materialize(self._edges(rows), "peer-edges")
        self.engine_ = engine
        return self

    def score(self, events: ibis.Table) -> PeerScores:
        """First contacts between established groups in the detection window of ``events``."""
        check_fitted(self)
        w = self.windows(events)
        none = PeerScores(w, pd.DataFrame(columns=CANDIDATE_COLUMNS), pd.DataFrame(
            columns=["group", "reached_by", "reaches", "first_b"]), pd.DataFrame(columns=["src_group", "dst_group"]),
            [], 0, self.edges_, None)
        if w is None:
            return none
        engine = self.engine_
        e = self.edges_
        base = e.filter((e.b >= w.baseline_start) & (e.b < w.detect_start) & (e.answered > 0))
        shared = base.group_by("dst").aggregate(groups=base.src_group.nunique())
        shared = shared.filter(shared.groups >= self.shared_groups).select("dst")
        sides = base.select(group=base.src_group, b=base.b).union(base.select(group=base.dst_group, b=base.b))
        first = sides.group_by("group").aggregate(first_b=sides.b.min())
        peer = base.anti_join(shared, "dst")  # a visit to a shared service is no peer relation
        known = peer.group_by(["src_group", "dst_group"]).aggregate(
            connections=peer.n.sum(), hosts=peer.src.nunique(), days=(peer.b * w.width // 86400).nunique())
        known = known.filter(known.days >= self.known_days)  # a one-off contact is no habit
        out_deg = known.group_by("src_group").aggregate(reaches=known.dst_group.nunique())
        in_deg = known.group_by("dst_group").aggregate(reached_by=known.src_group.nunique())
        groups = engine.to_pandas(first)
        groups = (groups.merge(engine.to_pandas(out_deg).rename(columns={"src_group": "group"}), on="group", how="left")
                  .merge(engine.to_pandas(in_deg).rename(columns={"dst_group": "group"}), on="group", how="left")
                  .fillna({"reaches": 0, "reached_by": 0}))
        cutoff = w.detect_start - self.history_buckets()
        established = sorted(groups.loc[groups["first_b"] <= cutoff, "group"].tolist())
        rows = self.prepare(events, engine)
        rows = rows.filter((rows.b >= w.detect_start) & (rows.b < w.detect_end)
                           & rows.src_group.isin(established) & rows.dst_group.isin(established))
        fresh = rows.anti_join(known, ["src_group", "dst_group"]).anti_join(shared, "dst")
        candidates = engine.to_pandas(fresh.select(*CANDIDATE_COLUMNS).limit(MAX_DETAIL_ROWS))
        known_pairs = engine.to_pandas(known.select("src_group", "dst_group"))
        return PeerScores(w, candidates.sort_values(["src", "time", "event_id"]).reset_index(drop=True),
                          groups[groups["group"].isin(established)].reset_index(drop=True), known_pairs,
                          sorted(engine.to_pandas(shared)["dst"].tolist()), len(established), self.edges_, rows)

    def detect(self, scores: PeerScores) -> list[Finding]:
        """One finding per source host with at least one first contact: the host is the actor, the
        hosts it reached in groups its own group never reached are the targets."""
        check_fitted(self)
        cands = scores.candidates
        if not len(cands):
            return []
        w, engine = scores.windows, self.engine_
        srcs = sorted(cands["src"].unique().tolist())
        e = scores.edges
        base = e.filter(e.src.isin(srcs) & (e.b >= w.baseline_start) & (e.b < w.detect_start))
        history = engine.to_pandas(base.group_by(["src", "b"]).aggregate(n=base.dst_group.nunique()))
        rows = scores.rows
        mine = rows.filter(rows.src.isin(srcs))
        now = engine.to_pandas(mine.group_by(["src", "b"]).aggregate(n=mine.dst_group.nunique()))
        series = pd.concat([history, now], ignore_index=True)
        known = set(zip(scores.known["src_group"], scores.known["dst_group"]))
        degree = scores.groups.set_index("group")
        return [self._finding(src, grp, series[series["src"] == src], degree, known, scores.established, w)
                for src, grp in cands.groupby("src", sort=True)]

    def _finding(self, src: str, rows: pd.DataFrame, series: pd.DataFrame, degree: pd.DataFrame,
                 known: set, established: int, w: Windows) -> Finding:
        group = str(rows["src_group"].iloc[0])
        pairs = (rows.groupby("dst_group", sort=True)
                 .agg(hosts=("dst", lambda d: sorted(set(d))), ports=("port", lambda p: sorted(set(int(x) for x in p))),
                      connections=("dst", "size"), answered=("answered", "any")).reset_index())
        lateral = any(set(p) & LATERAL_PORTS for p in pairs["ports"])
        answered = bool(rows["answered"].any())
        level = "high" if lateral and answered else "medium" if lateral or answered else "low"
        rarity = [float(-np.log10((degree.at[g, "reached_by"] + 1) / (established + 1))) if g in degree.index else 0.0
                  for g in pairs["dst_group"]]
        parts = []
        for (_, p), rare in zip(pairs.iterrows(), rarity):
            g = p["dst_group"]
            by = int(degree.at[g, "reached_by"]) if g in degree.index else 0
            back = "and its hosts do connect to" if (g, group) in known else "and its hosts never connected to"
            parts.append(f"{p['connections']} connection{'s' if p['connections'] != 1 else ''} to "
                         f"{listing(p['hosts'], 3)} in {g} on port{'s' if len(p['ports']) > 1 else ''} "
                         f"{listing([str(x) for x in p['ports']], 4)}"
                         f"{'' if p['answered'] else ' (none answered)'} — {g} is reached by {by} of "
                         f"{established} groups {back} {group}")
        reaches = int(degree.at[group, "reaches"]) if group in degree.index else 0
        start, end = rows["time"].min(), rows["time"].max()
        buckets = sorted(set(int(b) for b in rows["b"]))
        explanation = (f"{src} (group {group}) made first contact with {len(pairs)} group"
                       f"{'s' if len(pairs) > 1 else ''} no host of {group} reached on {self.known_days}+ days "
                       f"of the {self.baseline_days:g}-day baseline, "
                       f"{window_text(w.to_time(buckets[0]), w.to_time(buckets[-1] + 1))}: "
                       f"{'; '.join(parts[:5])}{' …' if len(parts) > 5 else ''}. {group} itself reaches "
                       f"{reaches} of {established} groups.")
        hosts = list(dict.fromkeys(h for hs in pairs["hosts"] for h in hs))
        ports = sorted({str(x) for ps in pairs["ports"] for x in ps if x >= 0}, key=int)
        evidence = {
            "source_group": group,
            "groups_established": established,
            "source_group_reaches": reaches,
            "new_pairs": [{"group": p["dst_group"], "hosts": p["hosts"][: self.max_listed], "ports": p["ports"],
                           "connections": int(p["connections"]), "answered": bool(p["answered"]),
                           "reached_by_groups": int(degree.at[p["dst_group"], "reached_by"])
                           if p["dst_group"] in degree.index else 0,
                           "reverse_known": (p["dst_group"], group) in known, "rarity": round(r, 4)}
                          for (_, p), r in zip(pairs.iterrows(), rarity)],
            "shared_groups": self.shared_groups, "known_days": self.known_days,
            **series_evidence(w, self.bucket, src, series, buckets, float(reaches),
                              "distinct peer groups reached per bucket"),
        }
        return Finding(
            kind="new_peer_group", id=f"new_peer_group:{src}:{iso_utc(w.to_time(buckets[0]))}",
            title=(f"{src} ({group}) reached {len(pairs)} group{'s' if len(pairs) > 1 else ''} "
                   "its group never talked to"),
            severity=level, score=round(sum(rarity), 4), first_seen=iso_utc(start), last_seen=iso_utc(end),
            actors={"ips": [src]},
            targets={"ips": hosts[: self.max_listed], **({"ports": ports} if ports else {})},
            event_ids=list(dict.fromkeys(str(x) for x in rows["event_id"] if x))[:10_000],
            explanation=explanation, evidence=evidence)
