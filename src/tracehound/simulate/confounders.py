"""Benign noise that looks like an attack to a naive hunt: the false positives a real tenant is full of.

Typos and expired passwords produce the same result codes a spray does; travellers bring foreign IPs and
cities; new phones bring never-seen devices and user agents; a misconfigured service account fails with
50126 on a clock for weeks from one server. A spray hunt that flags these is not ready for production,
so the simulator plants them, labelled, next to the attacks.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

from ..errors import ConfigError
from . import catalog, devices
from .events import KIND, Events
from .tenant import DAY_MS, Tenant, _random_ip

SECOND_MS = 1000


@dataclass(frozen=True)
class Confounders:
    """How much benign noise to plant. All rates are per eligible event or per user over the whole period.

    typo_rate: share of successful interactive sign-ins preceded by a mistyped password (50126, same
        device/IP/app, 3–120 s earlier; 15% of those have a second typo before it).
    expired_password_share: share of users who once hit an expired password (50055, then succeed minutes later).
    mfa_interrupt_rate: share of successful interactive sign-ins preceded by an MFA / KMSI interrupt
        (50074, 50140 or 500121).
    traveller_share: share of users who spend 5–9 days abroad (new country, hotel IPs, same devices).
    new_device_share: share of users who replace their phone (or laptop) mid-period and keep using the new one.
    service_accounts: number of misconfigured service accounts: each authenticates every
        ``service_interval_minutes`` from one server IP over SMTP, succeeds until its password is changed,
        then fails with 50126 on the same clock for weeks.
    """

    typo_rate: float = 0.015
    expired_password_share: float = 0.05
    mfa_interrupt_rate: float = 0.04
    traveller_share: float = 0.03
    new_device_share: float = 0.06
    service_accounts: int = 1
    service_interval_minutes: float = 30.0


NO_CONFOUNDERS = Confounders(typo_rate=0.0, expired_password_share=0.0, mfa_interrupt_rate=0.0,
                             traveller_share=0.0, new_device_share=0.0, service_accounts=0)


def _user_slices(events: Events, n_users: int) -> np.ndarray:
    """Row offsets: user ``u``'s rows are ``bounds[u]:bounds[u + 1]`` (benign batches are user-major)."""
    if len(events) and np.any(np.diff(events.user) < 0):
        raise ValueError("benign events must be ordered by user")
    return np.searchsorted(events.user, np.arange(n_users + 1))


def _travellers(tenant: Tenant, events: Events, rng: np.random.Generator, share: float, start_ms: int,
                days: int) -> None:
    bounds = _user_slices(events, tenant.n_users)
    chosen = np.flatnonzero(rng.random(tenant.n_users) < share)
    for u in chosen:
        home = str(tenant.country[u])
        options = [c for c in catalog.TRAVEL_COUNTRIES if c != home and c in catalog.RESIDENTIAL]
        dest = options[int(rng.integers(len(options)))]
        cities = [c for c in catalog.CITIES if c.country == dest]
        city = cities[int(rng.integers(len(cities)))]
        length = int(rng.integers(5, 10))
        first = start_ms + int(rng.integers(0, max(1, days - length))) * DAY_MS
        place = tenant.tables.place(dest, city.city)
        ips = np.array([tenant.tables.ip(_random_ip(rng, catalog.RESIDENTIAL[dest][int(rng.integers(
            len(catalog.RESIDENTIAL[dest])))])) for _ in range(int(rng.integers(1, 4)))], dtype=np.int32)
        lo, hi = bounds[u], bounds[u + 1]
        rows = lo + np.flatnonzero((events.time_ms[lo:hi] >= first) & (events.time_ms[lo:hi] < first + length * DAY_MS))
        events.ip[rows] = ips[rng.integers(0, len(ips), len(rows))]
        events.place[rows] = place
        events.kind[rows] = KIND["traveller"]


def _new_devices(tenant: Tenant, events: Events, rng: np.random.Generator, share: float, start_ms: int,
                 days: int) -> None:
    bounds = _user_slices(events, tenant.n_users)
    chosen = np.flatnonzero(rng.random(tenant.n_users) < share)
    for u in chosen:
        old = int(tenant.phone_agent[u]) if tenant.phone_agent[u] >= 0 else int(tenant.laptop_agent[u])
        platform = {"Ios": "ios", "Android": "android", "MacOs": "mac"}.get(
            tenant.tables.agents[old].device_detail["operatingSystem"], "windows")
        if platform in ("ios", "android") and rng.random() < 0.4:
            platform = "android" if platform == "ios" else "ios"  # switched phone brands
        browser_agent, client_agent = devices.make_device(rng, platform, managed=rng.random() < 0.5)
        new = tenant.tables.agent(browser_agent)
        tenant.tables.agent(client_agent)
        switch = start_ms + int(rng.integers(1, max(2, days - 1))) * DAY_MS
        lo, hi = bounds[u], bounds[u + 1]
        seg = slice(lo, hi)
        rows = lo + np.flatnonzero((events.time_ms[seg] >= switch)
                                   & ((events.agent[seg] == old) | (events.agent[seg] == old + 1)))
        events.agent[rows] = new + (events.agent[rows] - old)
        events.kind[rows] = KIND["new_device"]


def _failures_before(events: Events, rows: np.ndarray, codes: np.ndarray, kind: str, lo_s: float, hi_s: float,
                     rng: np.random.Generator) -> Events:
    """Failed attempts a few seconds before the given successes, from the same device, IP and app."""
    out = events.take(rows)
    out.time_ms -= (rng.uniform(lo_s, hi_s, len(rows)) * SECOND_MS).astype(np.int64)
    out.result[:] = codes
    out.kind[:] = KIND[kind]
    out.interactive[:] = True
    return out


def _service_accounts(tenant: Tenant, rng: np.random.Generator, count: int, interval_min: float, start_ms: int,
                      days: int) -> list[Events]:
    batches = []
    for k in range(count):
        t = tenant.tables
        name = "svc-scan2mail" if k == 0 else f"svc-app{k}"
        user = len(t.users)
        t.users.append((f"{name}@{tenant.domain}", f"{name} (service)", devices._guid(rng)))
        hq = int(np.flatnonzero(tenant.country == tenant.country[0])[0])
        office_ip = t.ips[int(tenant.office_ip[hq, 0])]
        server_ip = t.ip(office_ip.rsplit(".", 1)[0] + f".{int(rng.integers(241, 254))}")
        agent = t.agent(devices.bare_agent(""))
        begin = start_ms + int(days * rng.uniform(0.02, 0.15) * DAY_MS)
        changed = begin + int(days * rng.uniform(0.1, 0.2) * DAY_MS)
        end = min(start_ms + days * DAY_MS, changed + int(days * rng.uniform(0.35, 0.5) * DAY_MS))
        step = int(interval_min * 60 * SECOND_MS)
        times = np.arange(begin, end, step, dtype=np.int64)
        times += rng.integers(-20, 21, len(times)) * SECOND_MS
        batches.append(Events.build(len(times), time_ms=times, user=user, result=np.where(times < changed, 0, 50126),
                                    ip=server_ip, place=int(tenant.office_place[hq]), agent=agent,
                                    app=catalog.APP_INDEX["Office 365 Exchange Online"],
                                    client=catalog.CLIENT_INDEX["Authenticated SMTP"], interactive=False,
                                    kind=KIND["service_account"]))
    return batches


@dataclass(frozen=True)
class StaleCredential:
    """A service (a scanner, a mail relay, a sync job) whose password was changed and that keeps signing
    in with the old one on its clock: benign, and worth an operator's ticket, but not an attack.

    name: its label in ``labels.csv`` (kind ``stale_credential``). change_day: when the password changed,
    in days after the tenant's first day; success_days: days it signed in fine before that (0: only
    failures in the export); fail_days: how long it keeps failing. period_minutes: its clock, with
    ``jitter_seconds`` of noise per attempt; missed_share: cycles it skips (a host rebooting, a queue
    empty); retry_share: cycles it retries a few seconds later. source: ``office`` — the office egress
    address the tenant's users share — or ``server``, its own address in the office /24. client_app: the
    protocol it speaks.
    """

    name: str
    change_day: float = 40.0
    success_days: float = 5.0
    fail_days: float = 9.0
    period_minutes: float = 15.0
    jitter_seconds: float = 20.0
    missed_share: float = 0.0
    retry_share: float = 0.0
    source: str = "office"
    client_app: str = "Authenticated SMTP"
    kind: str = field(default="stale_credential", init=False)


def plant_stale(c: StaleCredential, tenant: Tenant, rng: np.random.Generator, start_ms: int, days: int) -> Events:
    """The stale service's sign-ins: successes on its clock until ``change_day``, then failures (50126)."""
    if c.source not in ("office", "server"):
        raise ConfigError(f"stale credential {c.name!r}: source must be 'office' or 'server', got {c.source!r}")
    if c.period_minutes <= 0 or c.fail_days <= 0 or not 0 <= c.change_day < days:
        raise ConfigError(f"stale credential {c.name!r}: needs a positive period and fail_days, and a change "
                          f"day within the simulated {days} days")
    if c.client_app not in catalog.CLIENT_INDEX:
        raise ConfigError(f"unknown client app {c.client_app!r}; expected one of {sorted(catalog.CLIENT_INDEX)}")
    t = tenant.tables
    user = len(t.users)
    t.users.append((f"{c.name}@{tenant.domain}", f"{c.name} (service)", devices._guid(rng)))
    hq = int(rng.integers(tenant.n_users))
    office = int(tenant.office_ip[hq, int(rng.integers(3))])
    ip = office if c.source == "office" else \
        t.ip(t.ips[office].rsplit(".", 1)[0] + f".{int(rng.integers(241, 254))}")
    agent = t.agent(devices.bare_agent(""))
    changed = start_ms + int(c.change_day * DAY_MS)
    begin = max(start_ms, changed - int(c.success_days * DAY_MS))
    end = min(start_ms + days * DAY_MS, changed + int(c.fail_days * DAY_MS))
    step = int(c.period_minutes * 60 * SECOND_MS)
    times = np.arange(begin + int(rng.integers(step)), end, step, dtype=np.int64)
    times = times[rng.random(len(times)) >= c.missed_share]
    retried = times[rng.random(len(times)) < c.retry_share]
    retries = retried + rng.integers(2, 15, len(retried)) * SECOND_MS
    times = np.sort(np.concatenate([times, retries]))
    times += (rng.uniform(-1, 1, len(times)) * c.jitter_seconds * SECOND_MS).astype(np.int64)
    return Events.build(len(times), time_ms=times, user=user, result=np.where(times < changed, 0, 50126), ip=ip,
                        place=int(tenant.office_place[hq]), agent=agent,
                        app=catalog.APP_INDEX["Office 365 Exchange Online"],
                        client=catalog.CLIENT_INDEX[c.client_app], interactive=False, label=t.label(c.name),
                        kind=KIND[c.kind])


def add_confounders(tenant: Tenant, benign: Events, knobs: Confounders, *, start_ms: int, days: int,
                    seed: int) -> Events:
    """Benign sign-ins plus labelled benign noise (modifies ``benign`` in place for travel and new devices)."""
    rng = np.random.default_rng([seed, 3])
    _travellers(tenant, benign, rng, knobs.traveller_share, start_ms, days)
    _new_devices(tenant, benign, rng, knobs.new_device_share, start_ms, days)
    batches = [benign]
    ok = np.flatnonzero((benign.result == 0) & benign.interactive & (benign.client <= 1))
    typo = ok[rng.random(len(ok)) < knobs.typo_rate]
    batches.append(_failures_before(benign, typo, np.int32(50126), "typo", 3, 120, rng))
    twice = typo[rng.random(len(typo)) < 0.15]
    batches.append(_failures_before(benign, twice, np.int32(50126), "typo", 125, 300, rng))
    mfa = ok[rng.random(len(ok)) < knobs.mfa_interrupt_rate]
    codes = np.array([50074, 50140, 500121], dtype=np.int32)[rng.choice(3, len(mfa), p=[0.5, 0.35, 0.15])]
    batches.append(_failures_before(benign, mfa, codes, "mfa_interrupt", 5, 90, rng))
    if len(benign):
        bounds = _user_slices(benign, tenant.n_users)
        users = np.flatnonzero(rng.random(tenant.n_users) < knobs.expired_password_share)
        users = users[bounds[users + 1] > bounds[users]]
        rows = bounds[users] + (rng.random(len(users)) * (bounds[users + 1] - bounds[users])).astype(np.int64)
        batches.append(_failures_before(benign, rows, np.int32(50055), "expired_password", 30, 600, rng))
    batches.extend(_service_accounts(tenant, rng, knobs.service_accounts, knobs.service_interval_minutes,
                                     start_ms, days))
    return Events.concat(batches)
