"""The benign tenant: who the users are, where and when they work, and the sign-ins that produces.

Users live mostly in one or two countries, go to an office some days (corporate egress IPs) and work from
home on others (their own residential IP), sign in from a laptop and often a phone, through a browser or
the Office clients, in working hours of their own time zone, much less at weekends and on holidays. A few
still use legacy mail protocols. This is the baseline a spray hunt compares failures against, so it has
to be varied the way real baselines are, not uniform noise.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass

import numpy as np

from . import catalog, devices
from .events import KIND, Events, Tables

DAY_MS = 86_400_000
HOUR_MS = 3_600_000

#: Offices per home country (cities from the catalog); each gets a /24 with three egress addresses.
OFFICES: dict[str, tuple[str, ...]] = {"US": ("Chicago", "New York", "San Francisco"), "GB": ("London", "Manchester"),
                                       "DE": ("Munich",), "IN": ("Bengaluru",)}

#: Legacy mail protocols a few users still use (weights in build_tenant).
LEGACY_CLIENTS = ("Exchange ActiveSync", "IMAP4", "Authenticated SMTP", "POP3")


@dataclass
class Tenant:
    """Per-user attributes as arrays (index = user number; the user's strings are ``tables.users[i]``)."""

    tables: Tables
    domain: str
    country: np.ndarray        # <U2 home country
    utc_offset: np.ndarray     # float hours
    home_place: np.ndarray     # → tables.places
    home_ip: np.ndarray        # (n, 2) → tables.ips: main and secondary residential address
    office_place: np.ndarray
    office_ip: np.ndarray      # (n, 3) egress addresses of the user's office
    laptop_agent: np.ndarray   # → tables.agents (browser agent; +1 is the same device's native client)
    phone_agent: np.ndarray    # -1 when the user has no phone
    legacy_client: np.ndarray  # catalog.CLIENTS index of a legacy protocol the user still uses, or -1
    legacy_agent: np.ndarray
    p_office: np.ndarray       # chance a working-hours sign-in on a workday comes from the office
    activity: np.ndarray       # multiplier on the tenant's sign-in rate
    admin: np.ndarray          # uses the Azure Portal
    mobile_pool: dict[str, tuple[np.ndarray, np.ndarray]]  # country → (ip indices, place indices)

    @property
    def n_users(self) -> int:
        return len(self.country)


def _random_ip(rng: np.random.Generator, prefix16: str) -> str:
    return f"{prefix16}.{int(rng.integers(0, 256))}.{int(rng.integers(1, 255))}"


def _names(rng: np.random.Generator, n: int, domain: str) -> list[tuple[str, str, str]]:
    seen: dict[str, int] = {}
    out = []
    for _ in range(n):
        first = catalog.FIRST_NAMES[int(rng.integers(len(catalog.FIRST_NAMES)))]
        last = catalog.LAST_NAMES[int(rng.integers(len(catalog.LAST_NAMES)))]
        base = f"{first}.{last}".lower()
        seen[base] = seen.get(base, 0) + 1
        local = base if seen[base] == 1 else f"{base}{seen[base]}"
        out.append((f"{local}@{domain}", f"{first} {last}", devices._guid(rng)))
    return out


def build_tenant(users: int, seed: int, *, domain: str = "contoso.com",
                 home_countries: dict[str, float] | None = None) -> Tenant:
    """The users of a tenant, deterministic under ``seed``. Cheap (a loop per user, not per sign-in)."""
    rng = np.random.default_rng([seed, 1])
    weights = home_countries or catalog.HOME_COUNTRIES
    tables = Tables()
    for row in _names(rng, users, domain):
        tables.users.append(row)
    codes = list(weights)
    p = np.array([weights[c] for c in codes], dtype=float)
    country = np.array(codes)[rng.choice(len(codes), size=users, p=p / p.sum())]

    offices: dict[str, list[tuple[int, list[int]]]] = {}
    for code in codes:
        names = OFFICES.get(code) or tuple(c.city for c in catalog.CITIES if c.country == code)[:1]
        offices[code] = []
        for city in names:
            net = f"{catalog.CORPORATE[code][int(rng.integers(len(catalog.CORPORATE[code])))]}." \
                  f"{int(rng.integers(0, 256))}"
            first = int(rng.integers(2, 240))
            offices[code].append((tables.place(code, city), [tables.ip(f"{net}.{first + k}") for k in range(3)]))
    mobile_pool = {}
    for code in codes:
        cities = [c for c in catalog.CITIES if c.country == code]
        ips, places = [], []
        for _ in range(max(50, users // 10)):
            ips.append(tables.ip(_random_ip(rng, catalog.MOBILE[code][int(rng.integers(len(catalog.MOBILE[code])))])))
            city = cities[int(rng.integers(len(cities)))]
            places.append(tables.place(code, city.city))
        mobile_pool[code] = (np.array(ips, dtype=np.int32), np.array(places, dtype=np.int32))

    n = users
    utc_offset = np.zeros(n)
    home_place = np.zeros(n, np.int32)
    home_ip = np.zeros((n, 2), np.int32)
    office_place = np.zeros(n, np.int32)
    office_ip = np.zeros((n, 3), np.int32)
    laptop_agent = np.zeros(n, np.int32)
    phone_agent = np.full(n, -1, np.int32)
    legacy_client = np.full(n, -1, np.int32)
    legacy_agent = np.full(n, -1, np.int32)
    for i in range(n):
        code = str(country[i])
        office = offices[code][int(rng.integers(len(offices[code])))]
        office_place[i], office_ip[i] = office[0], office[1]
        # Most people live near their office; some live elsewhere in the country.
        cities = [c for c in catalog.CITIES if c.country == code]
        home_city = tables.places[office[0]] if rng.random() < 0.6 else cities[int(rng.integers(len(cities)))]
        home_place[i] = tables.place(code, home_city.city)
        utc_offset[i] = home_city.utc_offset
        isp = catalog.RESIDENTIAL[code]
        home_ip[i] = [tables.ip(_random_ip(rng, isp[int(rng.integers(len(isp)))])) for _ in range(2)]
        platform = "windows" if rng.random() < 0.72 else "mac"
        browser_agent, client_agent = devices.make_device(rng, platform, managed=rng.random() < 0.65)
        laptop_agent[i] = tables.agent(browser_agent)
        tables.agent(client_agent)
        if rng.random() < 0.85:
            browser_agent, client_agent = devices.make_device(rng, "ios" if rng.random() < 0.55 else "android",
                                                              managed=rng.random() < 0.3)
            phone_agent[i] = tables.agent(browser_agent)
            tables.agent(client_agent)
        if rng.random() < 0.015:
            legacy = LEGACY_CLIENTS[int(rng.choice(len(LEGACY_CLIENTS), p=[.6, .25, .1, .05]))]
            legacy_client[i] = catalog.CLIENT_INDEX[legacy]
            legacy_agent[i] = tables.agent(devices.legacy_agent(rng, legacy))
    return Tenant(tables=tables, domain=domain, country=country, utc_offset=utc_offset, home_place=home_place,
                  home_ip=home_ip, office_place=office_place, office_ip=office_ip, laptop_agent=laptop_agent,
                  phone_agent=phone_agent, legacy_client=legacy_client, legacy_agent=legacy_agent,
                  p_office=rng.beta(2, 2, n), activity=rng.lognormal(0, 0.5, n) / np.exp(0.125),
                  admin=rng.random(n) < 0.05, mobile_pool=mobile_pool)


def day_factors(tenant: Tenant, start: dt.date, days: int) -> tuple[np.ndarray, np.ndarray]:
    """Per (home country, day): activity factor and whether it is a working day (weekends, holidays)."""
    codes = sorted(set(tenant.country.tolist()))
    factor = np.ones((len(codes), days))
    for d in range(days):
        date = start + dt.timedelta(days=d)
        for ci, code in enumerate(codes):
            if date.weekday() >= 5 or (date.month, date.day) in catalog.HOLIDAYS.get(code, ()):
                factor[ci, d] = 0.12
    return np.array(codes), factor


def _weighted_apps(rng: np.random.Generator, n: int, weights: dict[str, float]) -> np.ndarray:
    names = list(weights)
    p = np.array([weights[k] for k in names], dtype=float)
    idx = np.array([catalog.APP_INDEX[k] for k in names], dtype=np.int16)
    return idx[rng.choice(len(names), size=n, p=p / p.sum())]


def benign_signins(tenant: Tenant, *, start: dt.date, days: int, rate: float, seed: int) -> Events:
    """Ordinary successful sign-ins of every user over ``days`` days (vectorised; no per-event objects).

    ``rate`` is the mean number of sign-ins per user per working day; weekends and holidays see ~12% of it.
    """
    rng = np.random.default_rng([seed, 2])
    codes, factor = day_factors(tenant, start, days)
    cidx = np.searchsorted(codes, tenant.country)
    lam = rate * tenant.activity[:, None] * factor[cidx]
    counts = rng.poisson(lam).ravel()
    ud = np.repeat(np.arange(counts.size, dtype=np.int64), counts)
    user = (ud // days).astype(np.int32)
    day = (ud % days).astype(np.int64)
    n = len(user)
    workday = factor[cidx[user], day] == 1.0

    focused = rng.random(n) < 0.88
    hour = np.where(workday & focused, np.clip(rng.normal(12.8, 2.9, n), 6.0, 22.0),
                    np.where(workday, rng.uniform(0, 24, n), rng.uniform(8, 23, n)))
    start_ms = int(dt.datetime(start.year, start.month, start.day, tzinfo=dt.timezone.utc).timestamp() * 1000)
    time_ms = start_ms + day * DAY_MS + ((hour - tenant.utc_offset[user]) * HOUR_MS).astype(np.int64)

    has_phone = tenant.phone_agent[user] >= 0
    on_phone = has_phone & (rng.random(n) < 0.3)
    native = rng.random(n) < np.where(on_phone, 0.65, 0.4)
    agent = np.where(on_phone, tenant.phone_agent[user], tenant.laptop_agent[user]) + native
    client = native.astype(np.int8)
    app = np.where(native, _weighted_apps(rng, n, catalog.CLIENT_APPS_MIX),
                   _weighted_apps(rng, n, catalog.BROWSER_APPS)).astype(np.int16)
    portal = app == catalog.APP_INDEX["Azure Portal"]
    app[portal & ~tenant.admin[user]] = catalog.APP_INDEX["OfficeHome"]
    legacy = (tenant.legacy_client[user] >= 0) & (rng.random(n) < 0.6)
    client[legacy] = tenant.legacy_client[user[legacy]]
    agent[legacy] = tenant.legacy_agent[user[legacy]]
    app[legacy] = catalog.APP_INDEX["Office 365 Exchange Online"]
    interactive = rng.random(n) < np.where(client == 0, 0.97, 0.55)

    in_office = workday & (hour >= 8) & (hour < 18) & (rng.random(n) < tenant.p_office[user])
    mobile = on_phone & ~in_office & (rng.random(n) < 0.6)
    secondary = (rng.random(n) < 0.15).astype(np.int64)
    ip = np.where(in_office, tenant.office_ip[user, rng.integers(0, 3, n)], tenant.home_ip[user, secondary])
    place = np.where(in_office, tenant.office_place[user], tenant.home_place[user])
    for code, (pool_ip, pool_place) in tenant.mobile_pool.items():
        sel = np.flatnonzero(mobile & (tenant.country[user] == code))
        pick = rng.integers(0, len(pool_ip), len(sel))
        ip[sel], place[sel] = pool_ip[pick], pool_place[pick]
    return Events.build(n, time_ms=time_ms, user=user, result=0, ip=ip, place=place, agent=agent, app=app,
                        client=client, interactive=interactive, kind=KIND["benign"])
