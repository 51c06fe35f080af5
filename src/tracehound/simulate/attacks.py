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
from .confounders import StaleCredential, plant_stale
from .events import KIND, Events, Tables
from .tenant import DAY_MS, Tenant, _random_ip

MINUTE_MS = 60_000


#: Most attempts a low-and-slow spray makes on one account: it stays under Entra ID's Smart Lockout
#: (10 failures), or it would lock its targets out and be noticed.
MAX_TRIES_PER_ACCOUNT = 8


@dataclass(frozen=True)
class LowAndSlowSpray:
    """A spray that trickles a few attempts a day for weeks, rotating what it can.

    name: the label its events get in ``labels.csv``.
    start_day, end_day: window, in days after the tenant's first day (fractions allowed).
    attempts_per_day: mean attempts per active day (e.g. 1–10).
    jitter: 0 = attempts on an exact clock, 1 = each attempt anywhere in its slot (stratified uniform).
    dormant_gaps: number of pauses inside the window; dormant_days: (min, max) length of each pause.
    targets: distinct tenant users targeted; attempts cycle through them so each sees few attempts —
        raised when needed so that no account sees more than :data:`MAX_TRIES_PER_ACCOUNT` (a sprayer
        stays under the lockout threshold; a small tenant's campaign reaches more of its users).
    ip_pool: distinct attacker IPs, drawn from hosting/VPN ranges outside the tenant's home countries;
        1 means one fixed IP. ip_ranges: how many hosting /16s the pool spans (0 = all of them).
    home_ip_share: share of attempts from residential IPs in the tenant's main country instead
        (drawn from ``home_ip_pool`` addresses): the sprayer hiding among the users' own ISPs.
    exit_countries: when given, the attacker's addresses sit in hosting / Tor-exit ranges of these
        countries only, and each attempt picks its exit country from them at random (the country is
        rotated among a small set instead of following the pool).
    ua_source: "odd" (tool user agents: python-requests, old IE, BAV2ROPC …, a random subset) or "browsers"
        (ordinary current browsers); ua_pool: how many distinct user agents it rotates (1 = fixed).
    client_app / app: a fixed ClientAppUsed / AppDisplayName; a tuple of values, one picked per attempt at
        random (rotated among a small set, e.g. IMAP4 and Authenticated SMTP); or None to draw each attempt
        from the tenant's ordinary mix (randomised).
    rotation_concentration: Dirichlet concentration of the per-campaign shares of a rotated field's values
        (large: even shares; small: some values much rarer than others).
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
    exit_countries: tuple[str, ...] = ()
    ua_source: str = "odd"
    ua_pool: int = 1
    client_app: str | tuple[str, ...] | None = "IMAP4"
    app: str | tuple[str, ...] | None = "Office 365 Exchange Online"
    rotation_concentration: float = 4.0
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
        if not isinstance(self.client_app, str):
            out.append("client_app")
        if not isinstance(self.app, str):
            out.append("app")
        return out

    def rotated_fields(self) -> dict[str, list[str]]:
        """Fields whose value each attempt picks from a small declared set, with that set."""
        out = {name: list(v) for name, v in (("client_app", self.client_app), ("app", self.app))
               if isinstance(v, tuple)}
        if self.exit_countries:
            out["country"] = list(self.exit_countries)
        return out


@dataclass(frozen=True)
class FastSpray:
    """Hundreds of users tried once each within minutes from one IP and one tool (a noisy spray).

    start_day: when, in days after the tenant's first day; duration_minutes: how long it lasts;
    targets: users tried; user_agent / client_app / app: fixed; successes: accounts guessed;
    ip_count: addresses it uses, all in one /24 (1 = a single address).
    """

    name: str
    start_day: float = 30.3
    duration_minutes: float = 15.0
    targets: int = 300
    ip_count: int = 1
    user_agent: str = "python-requests/2.31.0"
    client_app: str = "Browser"
    app: str = "Office 365 Exchange Online"
    successes: int = 1
    kind: str = field(default="fast_spray", init=False)


@dataclass(frozen=True)
class BruteForce:
    """A few accounts, hundreds of passwords in minutes from one source; each account locks after a few.

    attempts: per burst (all victims together), within duration_minutes. victims: accounts tried, each
    getting a random share of the attempts (at least ``lockout_after``), either one after another or
    interleaved (``interleaved``). ip_count: the source's addresses, all in one /24. lockout_after:
    attempts on an account answered 50126 before Smart Lockout answers 50053 (with occasional 50126).
    bursts: how many such bursts, burst_gap_days apart (same victims, source and tool; the lockout has
    expired by the next one).
    """

    name: str
    start_day: float = 50.6
    duration_minutes: float = 10.0
    attempts: int = 300
    victims: int = 1
    interleaved: bool = False
    ip_count: int = 1
    lockout_after: int = 10
    bursts: int = 1
    burst_gap_days: float = 1.0
    user_agent: str = "Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like Gecko) " \
                      "Chrome/74.0.3729.169 Safari/537.36"
    client_app: str = "Browser"
    app: str = "OfficeHome"
    kind: str = field(default="brute_force", init=False)


Campaign = LowAndSlowSpray | FastSpray | BruteForce | StaleCredential


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


def _one_net(tenant: Tenant, rng: np.random.Generator, count: int) -> tuple[np.ndarray, np.ndarray]:
    """``count`` addresses in one hosting /24 outside the home countries: a burst's source."""
    ip, place = _hosting_pool(tenant, rng, 1, 1)
    net = tenant.tables.ips[int(ip[0])].rsplit(".", 1)[0]
    hosts = rng.choice(np.arange(1, 255), max(1, count), replace=False)
    return np.array([tenant.tables.ip(f"{net}.{int(h)}") for h in hosts], np.int32), np.full(len(hosts), place[0])


def _exit_pool(tenant: Tenant, rng: np.random.Generator, size: int, countries: tuple[str, ...],
               concentration: float) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Exit addresses per country (Tor / VPS / hosting ranges) and the campaign's share of each country."""
    ranges = {code: [r for r in (*catalog.EXIT_RANGES, *catalog.HOSTING) if r.country == code] for code in countries}
    missing = [code for code, found in ranges.items() if not found]
    if missing:
        raise ConfigError(f"no exit ranges in {missing}; expected countries of "
                          f"{sorted({r.country for r in catalog.EXIT_RANGES})}")
    ips, places, country = [], [], []
    per = max(1, -(-size // len(countries)))
    for k, code in enumerate(countries):
        for _ in range(per):
            r = ranges[code][int(rng.integers(len(ranges[code])))]
            ips.append(tenant.tables.ip(_random_ip(rng, r.prefix16)))
            places.append(tenant.tables.place(r.country, r.city))
            country.append(k)
    shares = rng.dirichlet(np.full(len(countries), concentration))
    return np.array(ips, np.int32), np.array(places, np.int32), np.array(country), shares


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
        chosen = devices.odd_agents(rng, pool)
    elif source == "browsers":
        chosen = devices.ordinary_agents(rng, pool)
    else:
        raise ConfigError(f"ua_source must be 'odd' or 'browsers', got {source!r}")
    return np.array([tables.agent(a) for a in chosen], np.int32)


def _ordinary(rng: np.random.Generator, n: int, fixed: str | tuple[str, ...] | None, index: dict,
              mix: dict[str, float], concentration: float = 4.0) -> tuple[np.ndarray, dict[str, float]]:
    """One value per attempt: the fixed one, one of a rotated set (random shares per campaign), or the
    tenant's ordinary mix; with the shares a rotated set was drawn with (empty otherwise)."""
    if isinstance(fixed, tuple):
        unknown = [v for v in fixed if v not in index]
        if unknown or not fixed:
            raise ConfigError(f"unknown or no value(s) {unknown!r}; expected some of {sorted(index)}")
        shares = rng.dirichlet(np.full(len(fixed), concentration))
        values = np.array([index[v] for v in fixed])[rng.choice(len(fixed), n, p=shares)]
        return values, {v: round(float(p), 4) for v, p in zip(fixed, shares)}
    if fixed is not None:
        if fixed not in index:
            raise ConfigError(f"unknown value {fixed!r}; expected one of {sorted(index)}")
        return np.full(n, index[fixed]), {}
    names = list(mix)
    p = np.array([mix[k] for k in names])
    return np.array([index[k] for k in names])[rng.choice(len(names), n, p=p / p.sum())], {}


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

    n_targets = min(max(c.targets, -(-n // MAX_TRIES_PER_ACCOUNT)), tenant.n_users)
    targets = rng.choice(tenant.n_users, n_targets, replace=False).astype(np.int32)
    user = _target_cycle(rng, targets, n)
    rotation: dict[str, dict[str, float]] = {}
    if c.exit_countries:
        ip_pool, place_pool, pool_country, shares = _exit_pool(tenant, rng, c.ip_pool, tuple(c.exit_countries),
                                                               c.rotation_concentration)
        country = rng.choice(len(c.exit_countries), n, p=shares)
        members = [np.flatnonzero(pool_country == k) for k in range(len(c.exit_countries))]
        pick = np.array([members[k][int(rng.integers(len(members[k])))] for k in country], dtype=np.int64)
        rotation["country"] = {code: round(float(p), 4) for code, p in zip(c.exit_countries, shares)}
    else:
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
    client, shares = _ordinary(rng, n, c.client_app, catalog.CLIENT_INDEX,
                               {"Browser": 0.6, "Mobile Apps and Desktop clients": 0.4}, c.rotation_concentration)
    if shares:
        rotation["client_app"] = shares
    app, shares = _ordinary(rng, n, c.app, catalog.APP_INDEX, catalog.BROWSER_APPS, c.rotation_concentration)
    if shares:
        rotation["app"] = shares
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
                "randomised_fields": c.randomised_fields(), "rotated_shares": rotation,
                "user_agents": sorted({tenant.tables.agents[int(a)].user_agent for a in np.unique(agent)})
                if c.ua_pool <= 8 else []}
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
    ips, places = _hosting_pool(tenant, rng, 1, 1) if c.ip_count <= 1 else _one_net(tenant, rng, c.ip_count)
    agent = tenant.tables.agent(devices.agent_for(c.user_agent))
    result = np.full(n, 50126)
    won = rng.choice(n, min(c.successes, n), replace=False)
    result[won] = 0
    pick = rng.integers(0, len(ips), n)
    events = Events.build(n, time_ms=_burst_times(rng, start_ms, c.start_day, c.duration_minutes, n), user=user,
                          result=result, ip=ips[pick], place=places[pick], agent=agent,
                          app=catalog.APP_INDEX[c.app], client=catalog.CLIENT_INDEX[c.client_app],
                          label=tenant.tables.label(c.name), kind=KIND[c.kind])
    return Planted(events, {"attempts": n, "successes": len(won), "distinct_targets": n,
                            "ip": tenant.tables.ips[int(ips[0])],
                            "ips": sorted(tenant.tables.ips[int(i)] for i in np.unique(ips[pick])),
                            "compromised_users": sorted(tenant.tables.users[int(user[w])][0] for w in won)})


def plant_brute_force(c: BruteForce, tenant: Tenant, rng: np.random.Generator, start_ms: int, days: int) -> Planted:
    """``attempts`` passwords against ``victims`` accounts in minutes from one source, ``bursts`` times; each
    account is locked out after ``lockout_after`` attempts on it."""
    _check_start(c, days)
    if c.victims < 1 or c.attempts < c.victims * c.lockout_after:
        raise ConfigError(f"campaign {c.name!r}: {c.attempts} attempts cannot reach {c.victims} victim(s) "
                          f"{c.lockout_after} times each")
    victims = rng.choice(tenant.n_users, min(c.victims, tenant.n_users), replace=False).astype(np.int32)
    ips, places = _hosting_pool(tenant, rng, 1, 1) if c.ip_count <= 1 else _one_net(tenant, rng, c.ip_count)
    agent = tenant.tables.agent(devices.agent_for(c.user_agent))
    # Every victim gets at least its lockout's worth; the rest is shared at random.
    spare = c.attempts - len(victims) * c.lockout_after
    per_victim = c.lockout_after + rng.multinomial(spare, rng.dirichlet(np.full(len(victims), 2.0)))
    times, results, users = [], [], []
    for k in range(c.bursts):
        day = c.start_day + k * c.burst_gap_days
        if day >= days:
            break
        order = np.repeat(np.arange(len(victims)), per_victim)
        if c.interleaved:
            order = rng.permutation(order)
        times.append(_burst_times(rng, start_ms, day, c.duration_minutes, len(order)))
        result = np.where(rng.random(len(order)) < 0.9, 50053, 50126)
        for v in range(len(victims)):
            result[np.flatnonzero(order == v)[:c.lockout_after]] = 50126
        results.append(result)
        users.append(victims[order])
    n = sum(len(t) for t in times)
    pick = rng.integers(0, len(ips), n)
    events = Events.build(n, time_ms=np.concatenate(times), user=np.concatenate(users),
                          result=np.concatenate(results), ip=ips[pick], place=places[pick], agent=agent,
                          app=catalog.APP_INDEX[c.app], client=catalog.CLIENT_INDEX[c.client_app],
                          label=tenant.tables.label(c.name), kind=KIND[c.kind])
    names = [tenant.tables.users[int(v)][0] for v in victims]
    return Planted(events, {"attempts": n, "successes": 0, "bursts": len(times),
                            "victim": names[0], "victims": dict(sorted(zip(names, (per_victim * len(times)).tolist()))),
                            "ip": tenant.tables.ips[int(ips[0])],
                            "ips": sorted(tenant.tables.ips[int(i)] for i in np.unique(ips[pick]))})


def plant(c: Campaign, tenant: Tenant, rng: np.random.Generator, start_ms: int, days: int) -> Planted:
    """Dispatch on the campaign type."""
    if isinstance(c, LowAndSlowSpray):
        return plant_low_and_slow(c, tenant, rng, start_ms, days)
    if isinstance(c, FastSpray):
        return plant_fast_spray(c, tenant, rng, start_ms, days)
    if isinstance(c, BruteForce):
        return plant_brute_force(c, tenant, rng, start_ms, days)
    if isinstance(c, StaleCredential):
        events = plant_stale(c, tenant, rng, start_ms, days)
        failing = events.result != 0
        return Planted(events, {"attempts": int(failing.sum()), "successes": int((~failing).sum()),
                                "account": tenant.tables.users[int(events.user[0])][0] if len(events) else None,
                                "ip": tenant.tables.ips[int(events.ip[0])] if len(events) else None})
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


#: Named attack presets of :func:`~.presets.default_campaigns`.
DIFFICULTIES = ("none", "easy", "standard", "hard")
