"""Dead space: connections to internal addresses nothing lives at — one packet is enough.

An intruder who does not know the network touches addresses no one ever uses; a defender who knows
which addresses are alive sees lateral movement and discovery in a single SYN. An internal address is
*alive* when, in the baseline or in the scored events up to the end of the detection window, it
originated a connection or answered one (sent bytes back; in a log without byte counts, when hosts
other than the sweepers kept using it on two or more days of the baseline). A connection in the detection window
from an internal host to an internal address that was never alive — or that lies in a configured
``unused`` range, alive or not — is a dead-space contact. Network and broadcast addresses of a group
network are never hosts and never count.

The sweepers a network runs on purpose are learned, not listed: a source whose unanswered contacts
reached at least ``sweep_addresses`` dead addresses on at least two days of the baseline (the
weekly vulnerability scan, an inventory tool) is not reported, and neither is a (source, address)
pair already seen in the baseline (a backup job still trying a decommissioned host, a stale
mapped drive). ``scanners`` lists sources to leave out as well. A scanning intruder's dead-space
finding names the same source as its host-scan finding, so both fold into one incident per actor.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Mapping

import ibis
import pandas as pd
import pyarrow as pa

from ..contract import check_fitted
from ..engine import Engine
from ..fanout.detector import Windows
from ..findings import Finding, iso_utc
from .addresses import contains, parse_address, parse_networks
from .base import MAX_DETAIL_ROWS, NetworkHunt, bucket_index, carries_answers, integer, tagged
from .peers import LATERAL_PORTS
from .text import listing, series_evidence, window_text

CONTACT_COLUMNS = ["src", "dst", "port", "proto", "time", "b", "event_id", "why"]
UNUSED, NEVER = "unused range", "never alive"


@dataclass(frozen=True, eq=False)
class DeadScores:
    """What :meth:`DeadSpace.score` measured; no verdict.

    ``contacts``: detection-window connections to dead addresses by sources that are neither
    learned sweepers nor configured scanners, minus pairs already seen in the baseline
    (:data:`CONTACT_COLUMNS`; ``why`` is ``never alive`` or ``unused range``). ``sweepers``: the
    learned sweepers with their baseline ``days`` and dead ``addresses``. ``alive``: how many
    internal addresses were alive. ``probes``: the fitted unanswered contacts, for the series.
    """

    windows: Windows | None
    contacts: pd.DataFrame
    sweepers: pd.DataFrame
    alive: int
    probes: ibis.Table


class DeadSpace(NetworkHunt):
    """Connections to internal addresses that never answered anyone (or lie in unused ranges)."""

    def __init__(self, *, bucket: str = "1h", detect_last: str = "1d", end: datetime | str | None = None,
                 baseline_days: float = 14, min_history_days: float = 3, sweep_addresses: int = 10,
                 unused: list[str] | None = None, scanners: list[str] | None = None,
                 groups: Mapping[str, str] | None = None, prefix: int = 24, internal: list[str] | None = None,
                 max_listed: int = 50) -> None:
        self._store(bucket=bucket, detect_last=detect_last, end=end, baseline_days=baseline_days,
                    min_history_days=min_history_days, internal=internal, groups=groups, prefix=prefix,
                    max_listed=max_listed)
        self.sweep_addresses = sweep_addresses
        self.unused = unused
        self.scanners = scanners

    def validate(self) -> None:
        """``ConfigError`` naming the parameter that is of the wrong type or out of range."""
        self._validate_common()
        integer("sweep_addresses", self.sweep_addresses, 1)
        parse_networks(self.unused, "unused")
        parse_networks(self.scanners, "scanners")

    # -- rows ------------------------------------------------------------------------------------
    def _tag(self, table: ibis.Table, engine: Engine) -> ibis.Table:
        t = tagged(table, self.book().lookup(engine, table, ["src_ip", "dst_ip"]))
        return t.mutate(b=bucket_index(t, self.width()))

    def _alive(self, t: ibis.Table) -> ibis.Table:
        """``address, b`` of every internal address that originated or answered a connection."""
        src = t.filter(t.src_group.notnull()).select(address=t.src_ip, b=t.b)
        if self.answers_:
            ans = t.filter(t.dst_group.notnull() & (t.bytes_in.fill_null(0) > 0)).select(address=t.dst_ip, b=t.b)
            src = src.union(ans)
        return src.select(address=src.address.cast("string"), b=src.b).distinct()

    def _sweepers(self, probes: ibis.Table, alive: ibis.Table, width: int) -> ibis.Table:
        """Sources whose contacts with addresses not in ``alive`` reached ``sweep_addresses`` of them
        on two or more days: ``src, days, addresses``."""
        dead = probes.anti_join(alive, probes.dst == alive.address)
        per = dead.group_by("src").aggregate(days=(dead.b * width // 86400).nunique(), addresses=dead.dst.nunique())
        return per.filter((per.days >= 2) & (per.addresses >= self.sweep_addresses))

    def _reached(self, probes: ibis.Table, alive: ibis.Table, width: int) -> ibis.Table:
        """Without byte counts nothing says who answered: an address that hosts other than the
        sweepers kept using, on two or more days, is taken to be alive (a sweeper alone proves nothing)."""
        regular = probes.anti_join(self._sweepers(probes, alive, width), "src")
        per = regular.group_by("dst").aggregate(days=(regular.b * width // 86400).nunique())
        return per.filter(per.days >= 2).select(address=per.dst)

    @staticmethod
    def _contacts(t: ibis.Table) -> ibis.Table:
        """Internal → internal connections to a host address (not the source itself)."""
        return t.filter(t.src_group.notnull() & t.dst_group.notnull() & ~t.dst_edge.fill_null(False)
                        & (t.src_ip != t.dst_ip))

    def fit(self, baseline: ibis.Table, engine: Engine) -> "DeadSpace":
        """Keep ``alive_`` (``address, b``) and ``probes_`` (unanswered internal contacts: ``src,
        dst, b, n``) over the last ``baseline_days + detect_last`` of ``baseline``, and ``answers_``:
        whether the table says which connections were answered."""
        self.validate()
        self.answers_ = carries_answers(baseline, engine)
        span = self.fit_range(baseline, engine)
        t = self._tag(baseline, engine)
        if span is not None:
            t = t.filter((t.b >= span[0]) & (t.b < span[1]))
        c = self._contacts(t)
        c = c.filter(c.bytes_in.fill_null(0) <= 0)
        probes = c.group_by([c.src_ip.cast("string").name("src"), c.dst_ip.cast("string").name("dst"), "b"]) \
            .aggregate(n=c.count())
        self.alive_ = engine.materialize(self._alive(t), "dead-alive")
        self.probes_ = engine.materialize(probes, "dead-probes")
        self.engine_ = engine
        return self

    def score(self, events: ibis.Table) -> DeadScores:
        """The detection window's contacts with dead addresses, after the learned exclusions."""
        check_fitted(self)
        w = self.windows(events)
        empty = DeadScores(w, pd.DataFrame(columns=CONTACT_COLUMNS),
                           pd.DataFrame(columns=["src", "days", "addresses"]), 0, self.probes_)
        if w is None:
            return empty
        engine = self.engine_
        t = self._tag(events, engine)
        a = self.alive_
        alive_base = a.filter((a.b >= w.baseline_start) & (a.b < w.detect_start)).select("address")
        own = self._alive(t)
        alive_now = own.filter((own.b >= w.baseline_start) & (own.b < w.detect_end)).select("address")
        p = self.probes_
        base = p.filter((p.b >= w.baseline_start) & (p.b < w.detect_start))
        if not self.answers_:
            alive_base = alive_base.union(self._reached(base, alive_base.distinct(), w.width))
        alive = alive_base.union(alive_now).distinct()
        n_alive = int(engine.scalar(alive.count()))
        c = self._contacts(t)
        c = c.filter((c.b >= w.detect_start) & (c.b < w.detect_end))
        det = c.select(src=c.src_ip.cast("string"), dst=c.dst_ip.cast("string"),
                       port=c.dst_port.fill_null(-1).cast("int64"), proto=c.proto, time=c.time, b=c.b,
                       event_id=c.event_id.cast("string"))
        targets = det.select("dst").distinct()
        live = alive.mutate(live=ibis.literal(True))
        dsts = engine.to_pandas(targets.left_join(live, targets.dst == live.address).select("dst", "live"))
        unused = parse_networks(self.unused, "unused")
        dsts["unused"] = [contains(unused, parse_address(d)) for d in dsts["dst"]]
        dead = dsts[dsts["unused"] | ~dsts["live"].eq(True)]
        if dead.empty:
            return empty
        dead_t = engine.load(pa.Table.from_pandas(
            pd.DataFrame({"dead": dead["dst"].astype(str),
                          "why": [UNUSED if u else NEVER for u in dead["unused"]]}), preserve_index=False),
            "dead-addresses")
        # baseline habits: sweepers and (source, dead address) pairs already seen
        known_alive = alive_base.distinct()
        sweepers = engine.to_pandas(self._sweepers(base, known_alive, w.width))
        dead_base = base.anti_join(known_alive, base.dst == known_alive.address)
        pairs = dead_base.select("src", "dst").distinct()
        hits = det.join(dead_t, det.dst == dead_t.dead).anti_join(pairs, ["src", "dst"])
        frame = engine.to_pandas(hits.select(*CONTACT_COLUMNS).limit(MAX_DETAIL_ROWS))
        scanners = parse_networks(self.scanners, "scanners")
        skip = set(sweepers["src"]) | {s for s in frame["src"].unique() if contains(scanners, parse_address(s))}
        frame = frame[~frame["src"].isin(skip)]
        return DeadScores(w, frame.sort_values(["src", "time", "event_id"]).reset_index(drop=True),
                          sweepers.sort_values("src").reset_index(drop=True), n_alive, self.probes_)

    def detect(self, scores: DeadScores) -> list[Finding]:
        """One finding per source with a dead-space contact: the source is the actor, the dead
        addresses its targets."""
        check_fitted(self)
        frame = scores.contacts
        if not len(frame):
            return []
        w, engine = scores.windows, self.engine_
        srcs = sorted(frame["src"].unique().tolist())
        p = scores.probes
        base = p.filter(p.src.isin(srcs) & (p.b >= w.baseline_start) & (p.b < w.detect_start))
        history = engine.to_pandas(base.group_by(["src", "b"]).aggregate(n=base.dst.nunique()))
        return [self._finding(src, grp, history[history["src"] == src], scores, w)
                for src, grp in frame.groupby("src", sort=True)]

    def _finding(self, src: str, rows: pd.DataFrame, history: pd.DataFrame, scores: DeadScores,
                 w: Windows) -> Finding:
        dead = list(dict.fromkeys(rows["dst"]))
        ports = sorted({int(x) for x in rows["port"] if x >= 0})
        why = rows.groupby("dst")["why"].first()
        level = "high" if len(dead) >= 3 or set(ports) & LATERAL_PORTS else "medium"
        now = rows.groupby("b", as_index=False)["dst"].nunique().rename(columns={"dst": "n"})
        series = pd.concat([history[["b", "n"]], now], ignore_index=True)
        buckets = sorted(set(int(b) for b in rows["b"]))
        unused = [d for d in dead if why[d] == UNUSED]
        described = [f"{d}{' (unused range)' if why[d] == UNUSED else ''}" for d in dead]
        explanation = (f"{src} made {len(rows)} connection{'s' if len(rows) != 1 else ''} to {len(dead)} internal "
                       f"address{'es' if len(dead) != 1 else ''} no host lives at "
                       f"{window_text(w.to_time(buckets[0]), w.to_time(buckets[-1] + 1))}: {listing(described)} "
                       f"on port{'s' if len(ports) != 1 else ''} {listing([str(x) for x in ports]) or '?'}. "
                       f"{scores.alive} internal addresses were alive in the baseline and the detection window; "
                       f"{src} is not one of the sweepers the baseline learned (sources reaching "
                       f"{self.sweep_addresses}+ "
                       f"dead addresses on 2+ days). Nothing legitimate lives at a dead address: this is "
                       f"discovery or lateral movement by a host that does not know the network.")
        evidence = {
            "dead_addresses": dead[: self.max_listed], "dead_count": len(dead),
            "unused_range": unused[: self.max_listed],
            "ports": ports, "connections": int(len(rows)), "alive_addresses": scores.alive,
            "learned_sweepers": scores.sweepers["src"].tolist()[: self.max_listed],
            "sweep_addresses": self.sweep_addresses,
            **series_evidence(w, self.bucket, src, series, buckets, 0.0, "dead addresses contacted per bucket"),
        }
        return Finding(
            kind="dead_space", id=f"dead_space:{src}:{iso_utc(w.to_time(buckets[0]))}",
            title=f"{src} contacted {len(dead)} dead internal address{'es' if len(dead) != 1 else ''}",
            severity=level, score=float(len(dead)), first_seen=iso_utc(rows["time"].min()),
            last_seen=iso_utc(rows["time"].max()), actors={"ips": [src]},
            targets={"ips": dead[: self.max_listed], **({"ports": [str(x) for x in ports]} if ports else {})},
            event_ids=list(dict.fromkeys(str(x) for x in rows["event_id"] if x))[:10_000],
            explanation=explanation, evidence=evidence)
