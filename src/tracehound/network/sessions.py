"""Long sessions: a connection that stays up far longer than its host's sessions on that service do.

A reverse shell, a tunnel or a hands-on-keyboard session to an outside address holds one connection
for hours in a network whose sessions last seconds. Per internal source host and service (destination
port and transport), the baseline gives the sessions' log10(duration) mean and σ and their longest;
a session in the detection window is reported when it is longer than all of

- ``min_duration`` (default 1 h: nothing shorter is a "long session"),
- ``max_factor`` × the longest session of that host and service in the baseline (it has done this
  before: a chat client's workday-long connection is its normal), and
- ``10 ** (mean + k·σ)`` of that host and service's log10 durations, σ kept between ``sigma_floor``
  and ``sigma_cap``: a service whose sessions are two habits (second-long requests and a day-long
  chat) has a σ that describes neither, and uncapped it would put the bound days away; the longest
  session already stands for the long habit.

A host or service with less history (under ``min_history_days``, or fewer than ``min_sessions``
sessions) is compared with the population instead (cold start): every established host's sessions on
that service, or on every service when no one used it, with the longest session
:data:`POPULATION_HOSTS` hosts reached as the population's longest — or the host's own longest, on
that service or any other, when that is longer. Zeek logs a connection when it ends, with its
start time: a session belongs to the window it overlaps, so one that started yesterday and ended in
the detection window is judged there (the bucket where it ends as well as where it starts), and only
sessions that ended before the detection window are baseline.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

import ibis
import numpy as np
import pandas as pd

from ..contract import check_fitted
from ..durations import seconds
from ..engine import Engine
from ..errors import ConfigError
from ..fanout.detector import Windows
from ..findings import Finding, iso_utc
from .base import MAX_DETAIL_ROWS, NetworkHunt, bucket_index, integer, number, tagged
from .text import human_duration, listing, moments, series_evidence, window_text

#: The population's "longest" is the longest session at least this many established hosts have
#: had: one host's marathon (or an intruder's session last week) does not raise every host's bound.
POPULATION_HOSTS = 3
SESSION_COLUMNS = ["src", "dst", "port", "proto", "duration", "time", "b", "end_b", "event_id", "outside",
                   "key_n", "key_s1", "key_s2", "key_max", "key_first", "host_max"]


@dataclass(frozen=True, eq=False)
class SessionScores:
    """What :meth:`LongSessions.score` measured; no verdict.

    ``sessions``: the detection window's sessions of at least ``min_duration`` with their host and
    service's baseline sums (:data:`SESSION_COLUMNS`: ``key_n`` sessions, ``key_s1`` / ``key_s2`` sums
    of log10 seconds and squares, ``key_max`` seconds, ``key_first`` the first bucket one ended in;
    ``host_max``: the host's longest session on any service).
    ``services``: the population per service (``port, proto, n, s1, s2, max``) over established
    hosts, ``max`` being the longest session :data:`POPULATION_HOSTS` of them reached;
    ``population``: the same over every service. ``cells``: the fitted per-bucket sums, for
    the plotted series.
    """

    windows: Windows | None
    sessions: pd.DataFrame
    services: pd.DataFrame
    population: dict
    cells: ibis.Table


def _shared_longest(keys: ibis.Table, by: list[str], hosts: int) -> ibis.Table:
    """Per ``by`` group, the ``hosts``-th longest of the hosts' longest sessions (``key_max``); the
    shortest of them when fewer hosts used it: a duration that many hosts reached."""
    rank = ibis.row_number().over(group_by=[keys[c] for c in by], order_by=ibis.desc(keys.key_max))
    count = keys.count().over(group_by=[keys[c] for c in by])
    ranked = keys.mutate(rank=rank, hosts=count)
    pick = ranked.filter(ranked.rank == ibis.least(ranked.hosts, hosts) - 1)
    return pick.select(*by, max=pick.key_max)


class LongSessions(NetworkHunt):
    """Session durations per internal host and service against its baseline and the population's."""

    def __init__(self, *, bucket: str = "1h", detect_last: str = "1d", end: datetime | str | None = None,
                 baseline_days: float = 14, min_history_days: float = 3, min_duration: str = "1h",
                 max_factor: float = 1.5, k: float = 3.0, sigma_floor: float = 0.5, sigma_cap: float = 1.0,
                 min_sessions: int = 5, internal: list[str] | None = None, max_listed: int = 50) -> None:
        self._store(bucket=bucket, detect_last=detect_last, end=end, baseline_days=baseline_days,
                    min_history_days=min_history_days, internal=internal, max_listed=max_listed)
        self.min_duration = min_duration
        self.max_factor = max_factor
        self.k = k
        self.sigma_floor = sigma_floor
        self.sigma_cap = sigma_cap
        self.min_sessions = min_sessions

    def validate(self) -> None:
        """``ConfigError`` naming the parameter that is of the wrong type or out of range."""
        self._validate_common()
        if isinstance(self.min_duration, bool) or not isinstance(self.min_duration, (str, int, float)):
            raise ConfigError(f"min_duration must be a duration like 1h, got {self.min_duration!r}")
        try:
            seconds(self.min_duration)
        except ConfigError as exc:
            raise ConfigError(f"min_duration: {exc}") from None
        number("max_factor", self.max_factor, 1)
        number("k", self.k, 0, strict=True)
        number("sigma_floor", self.sigma_floor, 0)
        number("sigma_cap", self.sigma_cap, self.sigma_floor)
        integer("min_sessions", self.min_sessions, 1)

    def prepare(self, table: ibis.Table, engine: Engine) -> ibis.Table:
        """Sessions of internal sources with a duration: ``src, dst, port, proto, duration, time, b,
        end_b, event_id, outside`` (``end_b``: the bucket it ended in)."""
        t = tagged(table, self.book().lookup(engine, table, ["src_ip", "dst_ip"]))
        t = t.filter(t.src_group.notnull() & (t.duration > 0))
        width = self.width()
        ends = ((t.time.epoch_seconds() + t.duration) // width).cast("int64")
        return t.select(src=t.src_ip.cast("string"), dst=t.dst_ip.cast("string"),
                        port=t.dst_port.fill_null(-1).cast("int64"), proto=t.proto.fill_null("-").cast("string"),
                        duration=t.duration.cast("float64"), time=t.time, b=bucket_index(t, width), end_b=ends,
                        event_id=t.event_id.cast("string"), outside=t.dst_group.isnull())

    def fit(self, baseline: ibis.Table, engine: Engine) -> "LongSessions":
        """Keep ``cells_``: per (``src, port, proto``) and the bucket sessions ended in, their count,
        sums of log10(seconds) and squares, and longest, over the last ``baseline_days + detect_last``."""
        self.validate()
        span = self.fit_range(baseline, engine)
        rows = self.prepare(baseline, engine)
        if span is not None:
            rows = rows.filter((rows.end_b >= span[0]) & (rows.end_b < span[1]))
        x = rows.duration.log10()
        cells = rows.group_by(["src", "port", "proto", "end_b"]).aggregate(
            n=rows.count(), s1=x.sum(), s2=(x * x).sum(), mx=rows.duration.max())
        self.cells_ = engine.materialize(cells, "session-cells")
        self.engine_ = engine
        return self

    def score(self, events: ibis.Table) -> SessionScores:
        """Sessions of ``events`` overlapping the detection window, at least ``min_duration`` long."""
        check_fitted(self)
        w = self.windows(events)
        services_cols = ["port", "proto", "n", "s1", "s2", "max"]
        empty = SessionScores(w, pd.DataFrame(columns=SESSION_COLUMNS), pd.DataFrame(columns=services_cols),
                              {"n": 0, "s1": 0.0, "s2": 0.0, "max": 0.0}, self.cells_)
        if w is None:
            return empty
        engine = self.engine_
        c = self.cells_
        base = c.filter((c.end_b >= w.baseline_start) & (c.end_b < w.detect_start))
        keys = base.group_by(["src", "port", "proto"]).aggregate(
            key_n=base.n.sum(), key_s1=base.s1.sum(), key_s2=base.s2.sum(), key_max=base.mx.max(),
            key_first=base.end_b.min())
        rows = self.prepare(events, engine)
        long = rows.filter((rows.b < w.detect_end) & (rows.end_b >= w.detect_start)
                           & (rows.duration >= float(seconds(self.min_duration))))
        sessions = engine.to_pandas(long.limit(MAX_DETAIL_ROWS))
        if sessions.empty:
            return empty
        stats = engine.to_pandas(keys.semi_join(long, ["src", "port", "proto"]))
        hosts = keys.group_by("src").aggregate(host_max=keys.key_max.max())
        sessions = (sessions.merge(stats, on=["src", "port", "proto"], how="left")
                    .merge(engine.to_pandas(hosts.semi_join(long, "src")), on="src", how="left"))
        cutoff = w.detect_start - self.history_buckets()
        old = keys.filter(keys.key_first <= cutoff)
        services = engine.to_pandas(old.group_by(["port", "proto"]).aggregate(
            n=old.key_n.sum(), s1=old.key_s1.sum(), s2=old.key_s2.sum()))
        services = services.merge(engine.to_pandas(_shared_longest(old, ["port", "proto"], POPULATION_HOSTS)),
                                  on=["port", "proto"], how="left")
        per_host = old.group_by("src").aggregate(key_max=old.key_max.max())
        longest = engine.to_pandas(_shared_longest(per_host.mutate(all=ibis.literal(1)), ["all"], POPULATION_HOSTS))
        population = {"n": int(services["n"].sum()) if len(services) else 0,
                      "s1": float(services["s1"].sum()) if len(services) else 0.0,
                      "s2": float(services["s2"].sum()) if len(services) else 0.0,
                      "max": float(longest["max"].iloc[0]) if len(longest) else 0.0}
        order = ["src", "time", "event_id"]
        return SessionScores(w, sessions[SESSION_COLUMNS].sort_values(order).reset_index(drop=True),
                             services[services_cols], population, self.cells_)

    def bounds(self, scores: SessionScores) -> pd.DataFrame:
        """The sessions with their basis, baseline, bound (seconds) and the bound test."""
        check_fitted(self)
        s = scores.sessions.copy()
        cols = ["basis", "mean", "sigma", "longest", "bound", "exceeds"]
        if s.empty:
            return s.assign(**{c: [] for c in cols})
        cutoff = scores.windows.detect_start - self.history_buckets()
        own = (s["key_first"] <= cutoff) & (s["key_n"] >= self.min_sessions)
        km, ks = moments(s["key_n"].fillna(0), s["key_s1"].fillna(0), s["key_s2"].fillna(0))
        svc = {(int(p), str(q)): row for p, q, *row in scores.services.itertuples(index=False)}
        pop = scores.population
        basis, mean, sigma, longest = [], [], [], []
        for ok, port, proto, m, sd, mx, hx in zip(own, s["port"], s["proto"], km, ks, s["key_max"], s["host_max"]):
            ref = svc.get((int(port), str(proto)))
            # a cold key is held to the longest the host itself had (on it, or on any service) as well
            mine = max(0.0 if pd.isna(mx) else float(mx), 0.0 if pd.isna(hx) else float(hx))
            if ok:
                choice = ("host", m, sd, mx)
            elif ref is not None and ref[0] >= self.min_sessions:
                pm, ps = moments([ref[0]], [ref[1]], [ref[2]])
                choice = ("service population", pm[0], ps[0], max(ref[3], mine))
            elif pop["n"] >= self.min_sessions:
                pm, ps = moments([pop["n"]], [pop["s1"]], [pop["s2"]])
                choice = ("population", pm[0], ps[0], max(pop["max"], mine))
            else:
                choice = ("none", np.nan, np.nan, mine)
            for target, value in zip((basis, mean, sigma, longest), choice):
                target.append(value)
        s["basis"], s["mean"], s["sigma"], s["longest"] = basis, mean, sigma, longest
        statistical = np.where(np.isnan(s["mean"].astype(float)), 0.0,
                               10 ** (s["mean"].astype(float).fillna(0)
                                      + self.k * np.clip(s["sigma"].astype(float).fillna(0), self.sigma_floor,
                                                         self.sigma_cap)))
        s["bound"] = np.maximum.reduce([np.full(len(s), float(seconds(self.min_duration))),
                                        self.max_factor * s["longest"].astype(float).fillna(0), statistical])
        s["exceeds"] = s["duration"] > s["bound"]
        return s

    def detect(self, scores: SessionScores) -> list[Finding]:
        """One finding per source host with a session over its bound: the host is the actor, the
        addresses it held the sessions with its targets."""
        check_fitted(self)
        s = self.bounds(scores)
        flagged = s[s["exceeds"].astype(bool)] if len(s) else s
        if not len(flagged):
            return []
        w, engine, c = scores.windows, self.engine_, scores.cells
        srcs = sorted(flagged["src"].unique().tolist())
        base = c.filter(c.src.isin(srcs) & (c.end_b >= w.baseline_start) & (c.end_b < w.detect_start))
        history = engine.to_pandas(base.group_by(["src", "port", "proto", "end_b"]).aggregate(n=base.mx.max()))
        return [self._finding(src, grp, history[history["src"] == src], w)
                for src, grp in flagged.groupby("src", sort=True)]

    def _finding(self, src: str, rows: pd.DataFrame, history: pd.DataFrame, w: Windows) -> Finding:
        rows = rows.sort_values("duration", ascending=False)
        top = rows.iloc[0]
        ratio = float(top["duration"] / top["bound"])
        outside = bool(rows["outside"].any())
        level = "high" if ratio >= 3 or (outside and top["duration"] >= 12 * 3600) else \
            "medium" if ratio >= 1.5 or outside else "low"
        same = history[(history["port"] == top["port"]) & (history["proto"] == top["proto"])]
        series = pd.concat([same.rename(columns={"end_b": "b"})[["b", "n"]],
                            pd.DataFrame({"b": rows["end_b"].clip(upper=w.detect_end - 1), "n": rows["duration"]})],
                           ignore_index=True).groupby("b", as_index=False)["n"].max()
        items = [f"{d}:{int(p) if p >= 0 else '?'}/{q} for {human_duration(x)} "
                 f"({'outside' if o else 'internal'}, from {pd.Timestamp(t):%Y-%m-%d %H:%M} UTC)"
                 for d, p, q, x, o, t in zip(rows["dst"], rows["port"], rows["proto"], rows["duration"],
                                             rows["outside"], rows["time"])]
        basis = {"host": f"{src}'s own sessions on that service",
                 "service population": "every established host's sessions on that service (cold start)",
                 "population": "every established host's sessions (cold start: no one used that service)",
                 "none": "no baseline (the least long session counts)"}[top["basis"]]
        usual = "" if pd.isna(top["mean"]) else (f", typically {human_duration(10 ** top['mean'])} "
                                                 f"(log10 {top['mean']:.2f} ± {top['sigma']:.2f})")
        starts = sorted(set(int(b) for b in rows["b"]))
        ends = pd.Timestamp(rows["time"].max()) + pd.to_timedelta(float(rows["duration"].max()), unit="s")
        explanation = (f"{src} held {len(rows)} session{'s' if len(rows) != 1 else ''} far longer than usual "
                       f"{window_text(w.to_time(w.detect_start), w.to_time(w.detect_end))} (the window each "
                       f"overlaps): {listing(items)}. Compared with {basis}: longest "
                       f"{human_duration(top['longest'])}{usual}; bound {human_duration(top['bound'])} "
                       f"(the larger of {human_duration(seconds(self.min_duration))}, {self.max_factor:g}× "
                       f"the longest and mean + {self.k:g}·σ on log seconds, σ within "
                       f"{self.sigma_floor:g}–{self.sigma_cap:g}).")
        evidence = {
            "sessions": [{"dst": str(d), "port": int(p), "proto": str(q), "seconds": round(float(x), 3),
                          "start": iso_utc(t), "outside": bool(o), "basis": b, "bound_seconds": round(float(bd), 3)}
                         for d, p, q, x, t, o, b, bd in zip(rows["dst"], rows["port"], rows["proto"], rows["duration"],
                                                            rows["time"], rows["outside"], rows["basis"],
                                                            rows["bound"])][: self.max_listed],
            "baseline": top["basis"], "longest_seconds": round(float(top["longest"]), 3),
            "log10_mean": None if pd.isna(top["mean"]) else round(float(top["mean"]), 4),
            "log10_sigma": None if pd.isna(top["sigma"]) else round(float(top["sigma"]), 4),
            "min_duration": self.min_duration, "max_factor": self.max_factor, "k": self.k,
            "sigma_floor": self.sigma_floor, "sigma_cap": self.sigma_cap,
            **series_evidence(w, self.bucket, src, series, sorted(set(int(b) for b in series.loc[
                series["b"] >= w.detect_start, "b"])), float(top["bound"]),
                "longest session ending per bucket (seconds)", log_scale=True),
        }
        ports = sorted({str(int(p)) for p in rows["port"] if p >= 0}, key=int)
        return Finding(
            kind="long_session", id=f"long_session:{src}:{iso_utc(w.to_time(starts[0]))}",
            title=f"{src} held a {human_duration(top['duration'])} session to {top['dst']}:{int(top['port'])}",
            severity=level, score=round(ratio, 4), first_seen=iso_utc(rows["time"].min()), last_seen=iso_utc(ends),
            actors={"ips": [src]},
            targets={"ips": list(dict.fromkeys(str(d) for d in rows["dst"]))[: self.max_listed],
                     **({"ports": ports} if ports else {})},
            event_ids=list(dict.fromkeys(str(x) for x in rows["event_id"] if x))[:10_000],
            explanation=explanation, evidence=evidence)
