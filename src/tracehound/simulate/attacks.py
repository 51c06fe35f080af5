"""Planted attacks, each a dataclass of documented knobs, and the named difficulty presets.

A campaign's *fingerprint* is what it keeps fixed (client app, app, a handful of user agents, a set of
hosting ranges); what it randomises (IP per attempt, user agent, app) is exactly what makes a per-field
rarity hunt hard. The knobs say which is which, so the evaluation can tell whether a hunt recovers the
fixed part and sees through the randomised part. Successes (ResultType 0) share the campaign's fingerprint:
they are the accounts whose password was guessed.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import asdict, dataclass, field

import numpy as np

from ..errors import ConfigError
from . import catalog, devices
from .events import KIND, Events, Tables
from .tenant import DAY_MS, Tenant, _random_ip

MINUTE_MS = 60_000


@dataclass(frozen=True)
class LowAndSlowSpray:
    """A spray that trickles a few attempts a day for weeks, rotating what it can.

    name: the label its events get in ``labels.csv``.
    start_day, end_day: window, in days after the tenant's first day (fractions allowed).
    attempts_per_day: mean attempts per active day (e.g. 1–10).
    jitter: 0 = attempts on an exact clock, 1 = each attempt anywhere in its slot (stratified uniform).
    dormant_gaps: number of pauses inside the window; dormant_days: (min, max) length of each pause.
    targets: distinct tenant users targeted; attempts cycle through them so each sees few attempts.
    ip_pool: distinct attacker IPs, drawn from hosting/VPN ranges outside the tenant's home countries;
        1 means one fixed IP. ip_ranges: how many hosting /16s the pool spans (0 = all of them).
    home_ip_share: share of attempts from residential IPs in the tenant's main country instead
        (drawn from ``home_ip_pool`` addresses): the sprayer hiding among the users' own ISPs.
    ua_source: "odd" (tool user agents: python-requests, old IE, BAV2ROPC …) or "browsers" (ordinary current
        browsers); ua_pool: how many distinct user agents it rotates (1 = fixed).
    client_app / app: fixed ClientAppUsed / AppDisplayName, or None to draw each attempt from the tenant's
        ordinary mix (randomised).
    locked_share, expired_share: share of attempts answered 50053 (locked) and 50055 (expired); rest 50126.
    successes: number of targeted accounts whose password is guessed (one ResultType 0 each, same fingerprint).
    """

    name: str
    start_day: float = 10.0
    end_day: float = 100.0
    attempts_per_day: float = 4.0
    jitter: float = 1.0
    dormant_gaps: int = 0
    dormant_days: tuple[float, float] = (3.0, 8.0)
    targets: int = 200
    ip_pool: int = 1000
    ip_ranges: int = 0
    home_ip_share: float = 0.0
    home_ip_pool: int = 50
    ua_source: str = "odd"
    ua_pool: int = 1
    client_app: str | None = "IMAP4"
    app: str | None = "Office 365 Exchange Online"
    locked_share: float = 0.03
    expired_share: float = 0.02
    successes: int = 2
    kind: str = field(default="low_and_slow_spray", init=False)

    def randomised_fields(self) -> list[str]:
        """Sign-in fields whose value changes from attempt to attempt (besides time and user)."""
        out = []
        if self.ip_pool > 1 or self.home_ip_share > 0:
            out += ["ip", "ip_prefix", "country", "city"]
        if self.ua_pool > 1:
            out += ["user_agent", "browser", "os"]
        if self.client_app is None:
            out.append("client_app")
        if self.app is None:
            out.append("app")
        return out


@dataclass(frozen=True)
class FastSpray:
    """Hundreds of users tried once each within minutes from one IP and one tool (a noisy spray).

    start_day: when, in days after the tenant's first day; duration_minutes: how long it lasts;
    targets: users tried; user_agent / client_app / app: fixed; successes: accounts guessed.
    """

    name: str
    start_day: float = 30.3
    duration_minutes: float = 15.0
    targets: int = 300
    user_agent: str = "python-requests/2.31.0"
    client_app: str = "Browser"
    app: str = "Office 365 Exchange Online"
    successes: int = 1
    kind: str = field(default="fast_spray", init=False)


@dataclass(frozen=True)
class BruteForce:
    """One user, hundreds of passwords in minutes from one IP; the account locks after a few.

    attempts: per burst, within duration_minutes. lockout_after: attempts answered 50126 before Smart
    Lockout answers 50053 (with occasional 50126). bursts: how many such bursts, burst_gap_days apart
    (same user, IP and tool; the lockout has expired by the next one).
    """

    name: str
    start_day: float = 50.6
    duration_minutes: float = 10.0
    attempts: int = 300
    lockout_after: int = 10
    bursts: int = 1
    burst_gap_days: float = 1.0
    user_agent: str = "Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like Gecko) " \
                      "Chrome/74.0.3729.169 Safari/537.36"
    client_app: str = "Browser"
    app: str = "OfficeHome"
    kind: str = field(default="brute_force", init=False)


Campaign = LowAndSlowSpray | FastSpray | BruteForce


@dataclass
class Planted:
    """A campaign's events and what was realised (targets, successes, window), for ``campaigns.json``."""

    events: Events
    realised: dict


def _main_country(tenant: Tenant) -> str:
    codes, counts = np.unique(tenant.country, return_counts=True)
    return str(codes[np.argmax(counts)])


def _hosting_pool(tenant: Tenant, rng: np.random.Generator, size: int, n_ranges: int) -> tuple[np.ndarray, np.ndarray]:
    home = set(tenant.country.tolist())
    ranges = [r for r in catalog.HOSTING if r.country not in home] or list(catalog.HOSTING)
    if n_ranges:
        ranges = [ranges[i] for i in rng.choice(len(ranges), min(n_ranges, len(ranges)), replace=False)]
    t = tenant.tables
    ips, places = [], []
    for _ in range(size):
        r = ranges[int(rng.integers(len(ranges)))]
        ips.append(t.ip(_random_ip(rng, r.prefix16)))
        places.append(t.place(r.country, r.city))
    return np.array(ips, np.int32), np.array(places, np.int32)


def _home_pool(tenant: Tenant, rng: np.random.Generator, size: int) -> tuple[np.ndarray, np.ndarray]:
    code = _main_country(tenant)
    cities = [c for c in catalog.CITIES if c.country == code]
    ips, places = [], []
    for _ in range(size):
        prefixes = catalog.RESIDENTIAL[code]
        ips.append(tenant.tables.ip(_random_ip(rng, prefixes[int(rng.integers(len(prefixes)))])))
        places.append(tenant.tables.place(code, cities[int(rng.integers(len(cities)))].city))
    return np.array(ips, np.int32), np.array(places, np.int32)


def _active_intervals(c: LowAndSlowSpray, rng: np.random.Generator, days: int) -> list[tuple[float, float]]:
    """The campaign window in days minus its dormant gaps."""
    lo, hi = max(0.0, c.start_day), min(float(days), c.end_day)
    if hi <= lo:
        raise ConfigError(f"campaign {c.name!r}: window {c.start_day}–{c.end_day} days lies outside the "
                          f"simulated {days} days")
    gaps = []
    for _ in range(c.dormant_gaps):
        length = rng.uniform(*c.dormant_days)
        begin = rng.uniform(lo, max(lo, hi - length))
        gaps.append((begin, min(hi, begin + length)))
    intervals, cursor = [], lo
    for g0, g1 in sorted(gaps):
        if g0 > cursor:
            intervals.append((cursor, g0))
        cursor = max(cursor, g1)
    if hi > cursor:
        intervals.append((cursor, hi))
    if not intervals:
        raise ConfigError(f"campaign {c.name!r}: its dormant gaps cover its whole window")
    return intervals


def _target_cycle(rng: np.random.Generator, targets: np.ndarray, n: int) -> np.ndarray:
    """``n`` targets cycling through shuffled rounds of the list: each user sees about n/len attempts."""
    rounds = -(-n // len(targets))
    return np.concatenate([rng.permutation(targets) for _ in range(rounds)])[:n]


def _agents(tables: Tables, rng: np.random.Generator, source: str, pool: int) -> np.ndarray:
    if source == "odd":
        first = int(rng.integers(len(devices.ODD_AGENTS)))
        chosen = [devices.odd_agent(first + k) for k in range(min(pool, len(devices.ODD_AGENTS)))]
    elif source == "browsers":
        chosen = devices.ordinary_agents(rng, pool)
    else:
        raise ConfigError(f"ua_source must be 'odd' or 'browsers', got {source!r}")
    return np.array([tables.agent(a) for a in chosen], np.int32)


def _ordinary(rng: np.random.Generator, n: int, fixed: str | None, index: dict, mix: dict[str, float]) -> np.ndarray:
    if fixed is not None:
        if fixed not in index:
            raise ConfigError(f"unknown value {fixed!r}; expected one of {sorted(index)}")
        return np.full(n, index[fixed])
    names = list(mix)
    p = np.array([mix[k] for k in names])
    return np.array([index[k] for k in names])[rng.choice(len(names), n, p=p / p.sum())]


def plant_low_and_slow(c: LowAndSlowSpray, tenant: Tenant, rng: np.random.Generator, start_ms: int,
                       days: int) -> Planted:
    """The attempts of one low-and-slow campaign (see :class:`LowAndSlowSpray` for the knobs)."""
    intervals = _active_intervals(c, rng, days)
    lengths = np.array([b - a for a, b in intervals])
    active = float(lengths.sum())
    n = max(1, int(round(c.attempts_per_day * active)))
    slot = active / n
    pos = (np.arange(n) + 0.5) * slot + c.jitter * rng.uniform(-0.5, 0.5, n) * slot
    pos = np.clip(pos, 0, np.nextafter(active, 0))
    which = np.searchsorted(np.cumsum(lengths), pos, side="right")
    offset = pos - np.concatenate([[0.0], np.cumsum(lengths)])[which]
    day_pos = np.array([a for a, _ in intervals])[which] + offset
    time_ms = start_ms + (day_pos * DAY_MS).astype(np.int64)

    n_targets = min(c.targets, tenant.n_users)
    targets = rng.choice(tenant.n_users, n_targets, replace=False).astype(np.int32)
    user = _target_cycle(rng, targets, n)
    ip_pool, place_pool = _hosting_pool(tenant, rng, c.ip_pool, c.ip_ranges)
    pick = rng.integers(0, len(ip_pool), n)
    ip, place = ip_pool[pick], place_pool[pick]
    if c.home_ip_share > 0:
        home_ip, home_place = _home_pool(tenant, rng, c.home_ip_pool)
        at_home = np.flatnonzero(rng.random(n) < c.home_ip_share)
        hp = rng.integers(0, len(home_ip), len(at_home))
        ip[at_home], place[at_home] = home_ip[hp], home_place[hp]
    agent_pool = _agents(tenant.tables, rng, c.ua_source, c.ua_pool)
    agent = agent_pool[rng.integers(0, len(agent_pool), n)]
    client = _ordinary(rng, n, c.client_app, catalog.CLIENT_INDEX, {"Browser": 0.6,
                                                                    "Mobile Apps and Desktop clients": 0.4})
    app = _ordinary(rng, n, c.app, catalog.APP_INDEX, catalog.BROWSER_APPS)
    u = rng.random(n)
    result = np.where(u < c.locked_share, 50053, np.where(u < c.locked_share + c.expired_share, 50055, 50126))
    # Successes: one attempt on each of a few distinct targeted users is the right password.
    attempted = np.unique(user)
    won = rng.choice(attempted, min(c.successes, len(attempted)), replace=False)
    success_rows = np.array([rng.choice(np.flatnonzero(user == w)) for w in won], dtype=np.int64)
    result[success_rows] = 0
    label = tenant.tables.label(c.name)
    events = Events.build(n, time_ms=time_ms, user=user, result=result, ip=ip, place=place, agent=agent,
                          app=app, client=client, interactive=True, label=label, kind=KIND[c.kind])
    realised = {"attempts": n, "successes": len(success_rows), "distinct_targets": int(len(attempted)),
                "active_intervals_days": [[round(a, 4), round(b, 4)] for a, b in intervals],
                "active_days": round(active, 4), "distinct_ips": int(len(np.unique(ip))),
                "distinct_user_agents": int(len(np.unique(agent))),
                "compromised_users": sorted(tenant.tables.users[int(w)][0] for w in won),
                "randomised_fields": c.randomised_fields()}
    return Planted(events, realised)


def _check_start(c: FastSpray | BruteForce, days: int) -> None:
    if not 0 <= c.start_day < days:
        raise ConfigError(f"campaign {c.name!r}: start_day {c.start_day} lies outside the simulated {days} days")


def _burst_times(rng: np.random.Generator, start_ms: int, day: float, minutes: float, n: int) -> np.ndarray:
    begin = start_ms + int(day * DAY_MS)
    return np.sort(begin + (rng.random(n) * minutes * MINUTE_MS).astype(np.int64))


def plant_fast_spray(c: FastSpray, tenant: Tenant, rng: np.random.Generator, start_ms: int, days: int) -> Planted:
    """One IP, one tool, each of ``targets`` users tried once within ``duration_minutes``."""
    _check_start(c, days)
    n = min(c.targets, tenant.n_users)
    user = rng.choice(tenant.n_users, n, replace=False).astype(np.int32)
    ip, place = _hosting_pool(tenant, rng, 1, 1)
    agent = tenant.tables.agent(devices.agent_for(c.user_agent))
    result = np.full(n, 50126)
    won = rng.choice(n, min(c.successes, n), replace=False)
    result[won] = 0
    events = Events.build(n, time_ms=_burst_times(rng, start_ms, c.start_day, c.duration_minutes, n), user=user,
                          result=result, ip=int(ip[0]), place=int(place[0]), agent=agent,
                          app=catalog.APP_INDEX[c.app], client=catalog.CLIENT_INDEX[c.client_app],
                          label=tenant.tables.label(c.name), kind=KIND[c.kind])
    return Planted(events, {"attempts": n, "successes": len(won), "distinct_targets": n,
                            "ip": tenant.tables.ips[int(ip[0])],
                            "compromised_users": sorted(tenant.tables.users[int(user[w])][0] for w in won)})


def plant_brute_force(c: BruteForce, tenant: Tenant, rng: np.random.Generator, start_ms: int, days: int) -> Planted:
    """``attempts`` passwords against one user in minutes, ``bursts`` times; locked out after ``lockout_after``."""
    _check_start(c, days)
    victim = int(rng.integers(tenant.n_users))
    ip, place = _hosting_pool(tenant, rng, 1, 1)
    agent = tenant.tables.agent(devices.agent_for(c.user_agent))
    times, results = [], []
    for k in range(c.bursts):
        day = c.start_day + k * c.burst_gap_days
        if day >= days:
            break
        times.append(_burst_times(rng, start_ms, day, c.duration_minutes, c.attempts))
        result = np.where(rng.random(c.attempts) < 0.9, 50053, 50126)
        result[:c.lockout_after] = 50126
        results.append(result)
    n = sum(len(t) for t in times)
    events = Events.build(n, time_ms=np.concatenate(times), user=victim, result=np.concatenate(results),
                          ip=int(ip[0]), place=int(place[0]), agent=agent, app=catalog.APP_INDEX[c.app],
                          client=catalog.CLIENT_INDEX[c.client_app], label=tenant.tables.label(c.name),
                          kind=KIND[c.kind])
    return Planted(events, {"attempts": n, "successes": 0, "bursts": len(times),
                            "victim": tenant.tables.users[victim][0], "ip": tenant.tables.ips[int(ip[0])]})


def plant(c: Campaign, tenant: Tenant, rng: np.random.Generator, start_ms: int, days: int) -> Planted:
    """Dispatch on the campaign type."""
    if isinstance(c, LowAndSlowSpray):
        return plant_low_and_slow(c, tenant, rng, start_ms, days)
    if isinstance(c, FastSpray):
        return plant_fast_spray(c, tenant, rng, start_ms, days)
    if isinstance(c, BruteForce):
        return plant_brute_force(c, tenant, rng, start_ms, days)
    raise ConfigError(f"not a campaign: {c!r}")


def describe(c: Campaign, planted: Planted) -> dict:
    """The campaigns.json entry: kind, knobs as given, and what was realised."""
    def iso(ms: int) -> str:
        when = dt.datetime(1970, 1, 1, tzinfo=dt.timezone.utc) + dt.timedelta(milliseconds=ms)
        return when.isoformat(timespec="milliseconds").replace("+00:00", "Z")

    times = planted.events.time_ms
    knobs = {k: v for k, v in asdict(c).items() if k not in ("name", "kind")}
    return {"name": c.name, "kind": c.kind, "knobs": knobs, "first_seen": iso(int(times.min())),
            "last_seen": iso(int(times.max())), **planted.realised}


DIFFICULTIES = ("none", "easy", "standard", "hard")


def default_campaigns(seed: int, difficulty: str = "standard", *, days: int = 120, users: int = 2000) -> list[Campaign]:
    """The campaigns planted for a named difficulty, varied by ``seed`` (windows, rates, pools, targets).

    none: no attacks (benign tenant, for false-positive counts).
    easy: three low-and-slow sprays from hosting IPs with one odd user agent and a legacy client, 6–10/day;
        plus a fast spray and a brute force.
    standard: (1) randomises only the IP; (2) IP + user agent from a few odd values; (3) user agent from
        dozens of ordinary current browsers and 30% home-country residential IPs; (4) about one attempt a
        day; plus a fast spray and a brute force.
    hard: like standard but slower (2–3/day), with dormant gaps, two ordinary-browser campaigns (one also
        randomising the app) with half their IPs at home, and a 0.7/day trickle.
    """
    if difficulty not in DIFFICULTIES:
        raise ConfigError(f"unknown difficulty {difficulty!r}; expected one of {', '.join(DIFFICULTIES)}")
    rng = np.random.default_rng([seed, 7])
    if difficulty == "none":
        return []

    def window() -> dict:
        return {"start_day": round(float(rng.uniform(0.04, 0.3)) * days, 2),
                "end_day": round(float(rng.uniform(0.72, 0.98)) * days, 2)}

    def targets(lo: float = 0.06, hi: float = 0.15) -> int:
        return max(8, int(users * rng.uniform(lo, hi)))

    def rate(lo: float, hi: float) -> float:
        return round(float(rng.uniform(lo, hi)), 2)

    dormant = (round(0.025 * days, 2), round(0.065 * days, 2))  # 3–7.8 days in 120

    bursts: list[Campaign] = [
        FastSpray("fast-spray", start_day=round(float(rng.uniform(0.1, 0.9)) * days, 3),
                  targets=max(10, min(400, users // 5))),
        BruteForce("brute-force", start_day=round(float(rng.uniform(0.1, 0.9)) * days, 3)),
    ]
    if difficulty == "easy":
        return [LowAndSlowSpray(f"spray-{k + 1}", **window(), attempts_per_day=rate(6, 10), targets=targets(),
                                ip_pool=500, ua_source="odd", ua_pool=1, client_app=client)
                for k, client in enumerate(("IMAP4", "Authenticated SMTP", "Other clients"))] + bursts
    if difficulty == "standard":
        return [
            LowAndSlowSpray("spray-ip-only", **window(), attempts_per_day=rate(4, 8), dormant_gaps=1,
                            dormant_days=dormant, targets=targets(), ip_pool=2000, ua_source="odd", ua_pool=1,
                            client_app="IMAP4"),
            LowAndSlowSpray("spray-ip-odd-ua", **window(), attempts_per_day=rate(3, 6), targets=targets(),
                            ip_pool=800, ua_source="odd", ua_pool=4, client_app="Other clients",
                            app="Office 365 Exchange Online"),
            LowAndSlowSpray("spray-browsers-home", **window(), attempts_per_day=rate(3, 5), targets=targets(),
                            ip_pool=600, home_ip_share=0.3, ua_source="browsers", ua_pool=40,
                            client_app="Browser", app="OfficeHome"),
            LowAndSlowSpray("spray-one-a-day", start_day=round(0.02 * days, 2), end_day=round(0.97 * days, 2),
                            attempts_per_day=1.0, targets=targets(0.03, 0.06), ip_pool=200, ua_source="odd",
                            ua_pool=2, client_app="Authenticated SMTP"),
        ] + bursts
    return [
        LowAndSlowSpray("spray-ip-only", **window(), attempts_per_day=rate(2, 3), dormant_gaps=2,
                        dormant_days=dormant, targets=targets(), ip_pool=3000, ua_source="odd", ua_pool=1,
                        client_app="IMAP4"),
        LowAndSlowSpray("spray-browsers-home", **window(), attempts_per_day=rate(2, 3), dormant_gaps=1,
                        dormant_days=dormant, targets=targets(), ip_pool=1000, home_ip_share=0.5,
                        ua_source="browsers", ua_pool=60, client_app="Browser", app="OfficeHome"),
        LowAndSlowSpray("spray-browsers-any-app", **window(), attempts_per_day=rate(2, 3), targets=targets(),
                        ip_pool=1000, home_ip_share=0.5, ua_source="browsers", ua_pool=40,
                        client_app="Browser", app=None),
        LowAndSlowSpray("spray-trickle", start_day=round(0.02 * days, 2), end_day=round(0.97 * days, 2),
                        attempts_per_day=0.7, dormant_gaps=3, dormant_days=dormant, targets=targets(0.03, 0.06),
                        ip_pool=300, ua_source="odd", ua_pool=3, client_app="Exchange ActiveSync"),
    ] + bursts
