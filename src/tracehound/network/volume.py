"""Exfiltration by volume: the bytes each internal host sends out of the network, against its own normal.

"An attacker exfiltrating a gig of data cannot be hidden": per internal host and bucket, the bytes it
sent to addresses outside the internal networks — as the originator (``bytes_out``) and as the
responder of a connection from outside (``bytes_in``: a host serving an outside peer) — are compared,
on a log scale, with the host's own active buckets in the baseline — per host × destination port
(its backup job's port, its browsing's 443, the SSH it never used), with the host's total reported
alongside. The port series is the one judged because a host's total is often two habits at once
(daytime browsing, a nightly off-site backup): its mean and σ then describe neither, the backup hour
sits far above the total's usual level, and σ is so inflated that a 2 GB upload at noon stays under
the total's bound; each habit on its own port is regular. A bucket is reported when the port's
bytes reach ``min_bytes`` and exceed the port series' bound, ``mean + k·max(σ, sigma_floor)`` of
log10(bytes) over its active baseline buckets — the seed's statistic on logs, σ floored so a very
regular host does not alert on a doubling. A host with less than ``min_history_days`` of history,
or a port with fewer than ``min_buckets`` active buckets, is compared with the population instead
(cold start): every established host's buckets on that port, or on all ports if none used it; the
host's total is compared with the established hosts' totals, and the evidence says whether it was
over that bound too (``host_over_bound``).

``scope="all"`` also counts bytes sent to internal addresses (a network whose web traffic all goes
through an internal proxy shows exfiltration as bytes to the proxy).
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

import ibis
import numpy as np
import pandas as pd

from ..contract import check_fitted
from ..engine import Engine
from ..errors import ConfigError
from ..fanout.detector import Windows
from ..findings import Finding, iso_utc
from .base import MAX_DETAIL_ROWS, NetworkHunt, bucket_index, number, integer, tagged
from .text import human_bytes, listing, moments, series_evidence, window_text

SCOPES = ("external", "all")
#: A destination is named as having taken the bytes when it took at least this share of them.
SHARE = 0.01
FRAME_COLUMNS = ["host", "port", "b", "bytes", "host_bytes", "host_n", "host_s1", "host_s2", "host_first",
                 "key_n", "key_s1", "key_s2", "key_first"]


@dataclass(frozen=True, eq=False)
class VolumeScores:
    """What :meth:`Exfiltration.score` measured; no verdict.

    ``frame``: one row per (host, port, bucket) of the detection window with bytes sent
    (``bytes``), the host's total in that bucket (``host_bytes``), and the baseline sums of
    log10(bytes) over the host's and the (host, port)'s active buckets (``*_n``, ``*_s1``, ``*_s2``,
    ``*_first``: the first active bucket). ``population``: pooled sums over established hosts'
    totals (``hosts``), per port (``ports``: DataFrame ``port, n, s1, s2``) and over every port
    (``keys``). ``rows`` / ``cells``: the scored rows and the fitted per-bucket cells, for the
    finding's destinations and plotted series.
    """

    windows: Windows | None
    frame: pd.DataFrame
    population: dict
    rows: ibis.Table | None
    cells: ibis.Table


class Exfiltration(NetworkHunt):
    """Bytes per internal host (and host × destination port) per bucket against its own baseline."""

    def __init__(self, *, bucket: str = "1h", detect_last: str = "1d", end: datetime | str | None = None,
                 baseline_days: float = 14, min_history_days: float = 3, k: float = 3.0,
                 sigma_floor: float = 0.5, min_bytes: int = 50_000_000, min_buckets: int = 5,
                 scope: str = "external", internal: list[str] | None = None, max_listed: int = 50) -> None:
        self._store(bucket=bucket, detect_last=detect_last, end=end, baseline_days=baseline_days,
                    min_history_days=min_history_days, internal=internal, max_listed=max_listed)
        self.k = k
        self.sigma_floor = sigma_floor
        self.min_bytes = min_bytes
        self.min_buckets = min_buckets
        self.scope = scope

    def validate(self) -> None:
        """``ConfigError`` naming the parameter that is of the wrong type or out of range."""
        self._validate_common()
        number("k", self.k, 0, strict=True)
        number("sigma_floor", self.sigma_floor, 0)
        integer("min_bytes", self.min_bytes, 1)
        integer("min_buckets", self.min_buckets, 1)
        if self.scope not in SCOPES:
            raise ConfigError(f"scope must be one of {', '.join(SCOPES)}, got {self.scope!r}")

    # -- rows ------------------------------------------------------------------------------------
    def prepare(self, table: ibis.Table, engine: Engine) -> ibis.Table:
        """Bytes each internal host sent: ``host, port, peer, bytes, time, b, event_id``."""
        t = tagged(table, self.book().lookup(engine, table, ["src_ip", "dst_ip"]))
        anywhere = self.scope == "all"
        out = t.filter(t.src_group.notnull() & (t.bytes_out > 0)
                       & (ibis.literal(anywhere) | t.dst_group.isnull()))
        back = t.filter(t.dst_group.notnull() & (t.bytes_in > 0)
                        & (ibis.literal(anywhere) | t.src_group.isnull()))
        width = self.width()

        def shape(s: ibis.Table, host, peer, sent) -> ibis.Table:
            return s.select(host=host.cast("string"), port=s.dst_port.fill_null(-1).cast("int64"),
                            peer=peer.cast("string"), bytes=sent.cast("int64"), time=s.time,
                            b=bucket_index(s, width), event_id=s.event_id.cast("string"))

        return shape(out, out.src_ip, out.dst_ip, out.bytes_out).union(
            shape(back, back.dst_ip, back.src_ip, back.bytes_in))

    @staticmethod
    def _cells(rows: ibis.Table) -> ibis.Table:
        return rows.group_by(["host", "port", "b"]).aggregate(bytes=rows.bytes.sum().cast("int64"))

    # -- fit / score / detect --------------------------------------------------------------------
    def fit(self, baseline: ibis.Table, engine: Engine) -> "Exfiltration":
        """Keep ``cells_`` (``host, port, b, bytes``) over the last ``baseline_days + detect_last``."""
        self.validate()
        span = self.fit_range(baseline, engine)
        rows = self.prepare(baseline, engine)
        if span is not None:
            rows = rows.filter((rows.b >= span[0]) & (rows.b < span[1]))
        self.cells_ = engine.materialize(self._cells(rows), "exfiltration-cells")
        self.engine_ = engine
        return self

    def score(self, events: ibis.Table) -> VolumeScores:
        """The detection window's cells of ``events`` with their hosts' and ports' baselines."""
        check_fitted(self)
        w = self.windows(events)
        empty = VolumeScores(w, pd.DataFrame(columns=FRAME_COLUMNS), _no_population(), None, self.cells_)
        if w is None:
            return empty
        engine = self.engine_
        rows = self.prepare(events, engine)
        rows = rows.filter((rows.b >= w.detect_start) & (rows.b < w.detect_end))
        det = self._cells(rows)
        totals = det.group_by(["host", "b"]).aggregate(host_bytes=det.bytes.sum())
        det = det.join(totals, ["host", "b"]).select("host", "port", "b", "bytes", "host_bytes")
        base = self.cells_.filter((self.cells_.b >= w.baseline_start) & (self.cells_.b < w.detect_start))
        host_b = base.group_by(["host", "b"]).aggregate(x=base.bytes.sum().cast("float64").log10())
        host_stats = host_b.group_by("host").aggregate(
            host_n=host_b.count(), host_s1=host_b.x.sum(), host_s2=(host_b.x * host_b.x).sum(),
            host_first=host_b.b.min())
        key_x = base.mutate(x=base.bytes.cast("float64").log10())
        key_stats = key_x.group_by(["host", "port"]).aggregate(
            key_n=key_x.count(), key_s1=key_x.x.sum(), key_s2=(key_x.x * key_x.x).sum(),
            key_first=key_x.b.min())
        frame = engine.to_pandas(det)
        if frame.empty:
            return empty
        hosts = engine.to_pandas(host_stats.semi_join(det, "host"))
        keys = engine.to_pandas(key_stats.semi_join(det, ["host", "port"]))
        frame = frame.merge(hosts, on="host", how="left").merge(keys, on=["host", "port"], how="left")
        cutoff = w.detect_start - self.history_buckets()
        established = host_stats.filter(host_stats.host_first <= cutoff)
        pooled_hosts = engine.to_pandas(established.aggregate(
            n=established.host_n.sum(), s1=established.host_s1.sum(), s2=established.host_s2.sum()))
        old_keys = key_stats.filter(key_stats.key_first <= cutoff)
        ports = engine.to_pandas(old_keys.group_by("port").aggregate(
            n=old_keys.key_n.sum(), s1=old_keys.key_s1.sum(), s2=old_keys.key_s2.sum()))
        population = {"hosts": _pooled(pooled_hosts), "ports": ports,
                      "keys": _pooled(ports.sum(numeric_only=True).to_frame().T if len(ports) else ports)}
        return VolumeScores(w, frame[FRAME_COLUMNS].sort_values(["host", "b", "port"]).reset_index(drop=True),
                            population, rows, self.cells_)

    def bounds(self, scores: VolumeScores) -> pd.DataFrame:
        """The frame with each series' basis and bound (log10 bytes), the bound test (``exceeds``, on
        the port series) and whether the host's total was over its bound too (``host_exceeds``)."""
        check_fitted(self)
        f = scores.frame.copy()
        if f.empty:
            return f.assign(host_basis=[], host_mean=[], host_sigma=[], host_bound=[], key_basis=[],
                            key_mean=[], key_sigma=[], key_bound=[], exceeds=[], host_exceeds=[])
        w, pop = scores.windows, scores.population
        cutoff = w.detect_start - self.history_buckets()
        host_ok = (f["host_first"] <= cutoff) & (f["host_n"] >= self.min_buckets)
        key_ok = host_ok & (f["key_first"] <= cutoff) & (f["key_n"] >= self.min_buckets)
        own_m, own_s = moments(f["host_n"].fillna(0), f["host_s1"].fillna(0), f["host_s2"].fillna(0))
        hp = pop["hosts"]
        usable = hp["n"] >= self.min_buckets
        f["host_basis"] = np.where(host_ok, "host", "population" if usable else "none")
        f["host_mean"] = np.where(host_ok, own_m, hp["mean"] if usable else np.nan)
        f["host_sigma"] = np.where(host_ok, own_s, hp["sigma"] if usable else np.nan)
        key_m, key_s = moments(f["key_n"].fillna(0), f["key_s1"].fillna(0), f["key_s2"].fillna(0))
        ports = pop["ports"]
        pm, ps = moments(ports["n"], ports["s1"], ports["s2"]) if len(ports) else (np.array([]), np.array([]))
        per_port = {int(p): (m, s) for p, n, m, s in zip(ports.get("port", []), ports.get("n", []), pm, ps)
                    if n >= self.min_buckets}
        kp = pop["keys"]
        basis, means, sigmas = [], [], []
        for ok, port, m, s in zip(key_ok, f["port"], key_m, key_s):
            if ok:
                basis.append("host"), means.append(m), sigmas.append(s)
            elif int(port) in per_port:
                basis.append("port population"), means.append(per_port[int(port)][0])
                sigmas.append(per_port[int(port)][1])
            elif kp["n"] >= self.min_buckets:
                basis.append("population"), means.append(kp["mean"]), sigmas.append(kp["sigma"])
            else:
                basis.append("none"), means.append(np.nan), sigmas.append(np.nan)
        f["key_basis"], f["key_mean"], f["key_sigma"] = basis, means, sigmas
        floor = self.sigma_floor
        for side in ("host", "key"):
            f[f"{side}_bound"] = f[f"{side}_mean"] + self.k * np.maximum(f[f"{side}_sigma"].fillna(0), floor)
        lx, hx = np.log10(f["bytes"].astype(float)), np.log10(f["host_bytes"].astype(float))
        f["exceeds"] = (f["bytes"] >= self.min_bytes) & ((f["key_basis"] == "none") | (lx > f["key_bound"]))
        f["host_exceeds"] = (f["host_basis"] == "none") | (hx > f["host_bound"])
        return f

    def detect(self, scores: VolumeScores) -> list[Finding]:
        """One finding per host with a port bucket over its bound: the host is the actor, the outside
        addresses that took the bytes its targets."""
        check_fitted(self)
        f = self.bounds(scores)
        flagged = f[f["exceeds"].astype(bool)] if len(f) else f
        if not len(flagged):
            return []
        w, engine = scores.windows, self.engine_
        hosts = sorted(flagged["host"].unique().tolist())
        rows = scores.rows
        buckets = sorted(int(b) for b in flagged["b"].unique())
        detail = engine.to_pandas(rows.filter(rows.host.isin(hosts) & rows.b.isin(buckets))
                                  .select("host", "port", "peer", "bytes", "time", "b", "event_id")
                                  .limit(MAX_DETAIL_ROWS))
        cells = scores.cells.filter(scores.cells.host.isin(hosts) & (scores.cells.b >= w.baseline_start)
                                    & (scores.cells.b < w.detect_start))
        history = engine.to_pandas(cells.group_by(["host", "b"]).aggregate(n=cells.bytes.sum()))
        now = f[f["host"].isin(hosts)].groupby(["host", "b"], as_index=False)["host_bytes"].first()
        series = pd.concat([history, now.rename(columns={"host_bytes": "n"})], ignore_index=True)
        return [self._finding(host, grp, detail[(detail["host"] == host)], series[series["host"] == host], w)
                for host, grp in flagged.groupby("host", sort=True)]

    def _finding(self, host: str, flagged: pd.DataFrame, detail: pd.DataFrame, series: pd.DataFrame,
                 w: Windows) -> Finding:
        buckets = sorted(set(int(b) for b in flagged["b"]))
        pairs = set(zip(flagged["b"].astype(int), flagged["port"].astype(int)))
        mine = detail[[(int(b), int(p)) in pairs for b, p in zip(detail["b"], detail["port"])]] \
            if len(detail) else detail
        by_peer = (mine.groupby(["peer", "port"], as_index=False)
                   .agg(bytes=("bytes", "sum"), connections=("bytes", "size"))
                   .sort_values(["bytes", "peer"], ascending=[False, True])) if len(mine) else mine
        if len(by_peer):  # the destinations that took the bytes, not every page the host also browsed
            share = by_peer["bytes"] >= SHARE * by_peer["bytes"].sum()
            others = by_peer[~share]
            by_peer = by_peer[share | (by_peer.index == by_peer.index[0])]
        else:
            others = by_peer
        total = int(flagged["bytes"].sum())
        top = flagged.loc[flagged["bytes"].idxmax()]
        excess = float(np.log10(top["bytes"]) - top["key_bound"]) if top["key_basis"] != "none" else 0.0
        level = "high" if total >= 1e9 or excess >= 2 else "medium" if total >= 1e8 or excess >= 1 else "low"
        peers = [f"{p}:{int(port) if port >= 0 else '?'} ({human_bytes(b)}, {int(c)} connection"
                 f"{'s' if c != 1 else ''})"
                 for p, port, b, c in zip(by_peer["peer"], by_peer["port"], by_peer["bytes"],
                                          by_peer["connections"])] if len(by_peer) else []
        rest = (f"; {len(others)} other destination{'s' if len(others) != 1 else ''} took "
                f"{human_bytes(others['bytes'].sum())}") if len(others) else ""
        start, end = w.to_time(buckets[0]), w.to_time(buckets[-1] + 1)
        where = "out of the network" if self.scope == "external" else "to other addresses"
        explanation = (f"{host} sent {human_bytes(total)} {where} {window_text(start, end)} "
                       f"({len(buckets)} {self.bucket} bucket{'s' if len(buckets) > 1 else ''} over its bound); "
                       f"{_basis(host, top, 'host', self.bucket, self.min_history_days)}; on port "
                       f"{int(top['port'])}, {_basis(host, top, 'key', self.bucket, self.min_history_days)}. "
                       f"The bytes went to {listing(peers) or 'addresses not listed'}{rest}.")
        ports = sorted({str(int(p)) for p in flagged["port"] if p >= 0})
        evidence = {
            "bytes": total,
            "flagged": [{"bucket": iso_utc(w.to_time(int(b))), "port": int(p), "bytes": int(x),
                         "host_bytes": int(hb), "basis": kb, "bound_bytes": _unlog(kbd),
                         "host_bound_bytes": _unlog(hbd), "host_over_bound": bool(he)}
                        for b, p, x, hb, kb, kbd, hbd, he in zip(
                            flagged["b"], flagged["port"], flagged["bytes"], flagged["host_bytes"],
                            flagged["key_basis"], flagged["key_bound"], flagged["host_bound"],
                            flagged["host_exceeds"])],
            "host_baseline": {"basis": top["host_basis"], "log10_mean": _round(top["host_mean"]),
                              "log10_sigma": _round(top["host_sigma"]), "active_buckets": _int(top["host_n"])},
            "port_baseline": {"basis": top["key_basis"], "log10_mean": _round(top["key_mean"]),
                              "log10_sigma": _round(top["key_sigma"]), "active_buckets": _int(top["key_n"])},
            "k": self.k, "sigma_floor": self.sigma_floor, "min_bytes": self.min_bytes, "scope": self.scope,
            "destinations": peers[: self.max_listed],
            **series_evidence(w, self.bucket, host, series, buckets, _unlog(top["host_bound"]),
                              "bytes sent per bucket", log_scale=True),
        }
        return Finding(
            kind="exfiltration", id=f"exfiltration:{host}:{iso_utc(start)}",
            title=f"{host} sent {human_bytes(total)} {where} in {len(buckets)} × {self.bucket}",
            severity=level, score=round(total / 1e6, 3),
            first_seen=iso_utc(mine["time"].min()) if len(mine) else iso_utc(start),
            last_seen=iso_utc(mine["time"].max()) if len(mine) else iso_utc(end),
            actors={"ips": [host]},
            targets={"ips": list(dict.fromkeys(str(p) for p in by_peer["peer"]))[: self.max_listed]
                     if len(by_peer) else [], **({"ports": ports} if ports else {})},
            event_ids=list(dict.fromkeys(str(e) for e in mine["event_id"] if e))[:10_000] if len(mine) else [],
            explanation=explanation, evidence=evidence)


def _pooled(frame: pd.DataFrame) -> dict:
    """``n, mean, sigma`` of pooled sums (one row ``n, s1, s2``; zeros when empty)."""
    if frame is None or not len(frame) or pd.isna(frame["n"].iloc[0]) or float(frame["n"].iloc[0]) == 0:
        return {"n": 0, "mean": np.nan, "sigma": np.nan}
    n, s1, s2 = (float(frame[c].iloc[0]) for c in ("n", "s1", "s2"))
    m, s = moments([n], [s1], [s2])
    return {"n": int(n), "mean": float(m[0]), "sigma": float(s[0])}


def _no_population() -> dict:
    return {"hosts": {"n": 0, "mean": np.nan, "sigma": np.nan},
            "ports": pd.DataFrame(columns=["port", "n", "s1", "s2"]),
            "keys": {"n": 0, "mean": np.nan, "sigma": np.nan}}


def _unlog(x) -> int | None:
    return None if pd.isna(x) else int(round(10 ** float(x)))


def _round(x) -> float | None:
    return None if pd.isna(x) else round(float(x), 4)


def _int(x) -> int:
    return 0 if pd.isna(x) else int(x)


def _basis(host: str, row, side: str, bucket: str, history: float) -> str:
    """How one series' bound was set, in words."""
    basis, mean, sigma, bound = row[f"{side}_basis"], row[f"{side}_mean"], row[f"{side}_sigma"], row[f"{side}_bound"]
    what = "its total" if side == "host" else "its bytes on that port"
    if basis == "none":
        return f"{what} has no baseline to compare with"
    level = (f"{human_bytes(10 ** mean)} per active {bucket} (log10 {mean:.2f} ± {sigma:.2f}), "
             f"bound {human_bytes(10 ** bound)}")
    if basis == "host":
        return f"the usual for {what} is {level}"
    if side == "host":
        return (f"{host} has less than {history:g} days of history, so its total is compared with the "
                f"established hosts (cold start): {level}")
    return f"{what} have too little history of their own, so they are compared with the {basis}: {level}"
