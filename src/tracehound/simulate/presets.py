"""The named difficulty presets: which campaigns a simulated tenant gets, drawn at random per seed.

Every knob that a hunt could learn by heart — windows, rates, pools, target lists, which protocols,
admin tools, exit countries and user agents a campaign rotates among, how a brute force spreads over
its victims, a stale service's clock — is drawn from the seed, so two tenants never share one set of
values and a rule tuned to one tenant shows on the next.
"""

from __future__ import annotations

import numpy as np

from ..errors import ConfigError
from . import catalog, devices
from .attacks import DIFFICULTIES, BruteForce, Campaign, FastSpray, LowAndSlowSpray
from .confounders import StaleCredential


def default_campaigns(seed: int, difficulty: str = "standard", *, days: int = 120, users: int = 2000) -> list[Campaign]:
    """The campaigns planted for a named difficulty, varied by ``seed``.

    none: no attacks (benign tenant, for false-positive counts).
    easy: three low-and-slow sprays from hosting IPs with one odd user agent and a legacy client, 6–10/day.
    standard: (1) randomises only the IP; (2) IP + user agent from a few odd values; (3) user agent from
        dozens of ordinary current browsers and 30% home-country residential IPs; (4) about one attempt a
        day; and three that rotate, per attempt and at random, among a few values of several fields:
        (5) client app among 2–4 legacy protocols, (6) app among 2–3 admin tools, (7) about one attempt a
        day with its exit country among 4–8 Tor / VPS countries — each also rotating its user agent among
        3–6 odd values.
    hard: like standard's first four but slower (2–3/day), with dormant gaps, two ordinary-browser
        campaigns (one also randomising the app) with half their IPs at home, and a 0.7/day trickle.
    Every difficulty but none adds the bursts: a fast spray, two brute forces on 2–5 accounts each from
    one source, and a service with a stale password failing on its clock from an office address.
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
    fast_day, brute_day = (round(float(rng.uniform(0.1, 0.9)) * days, 3) for _ in range(2))
    if difficulty == "easy":
        slow = [LowAndSlowSpray(f"spray-{k + 1}", **window(), attempts_per_day=rate(6, 10), targets=targets(),
                                ip_pool=500, ua_source="odd", ua_pool=1, client_app=client)
                for k, client in enumerate(("IMAP4", "Authenticated SMTP", "Other clients"))]
    elif difficulty == "standard":
        slow = [
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
        ]
    else:
        slow = [
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
        ]
    if difficulty == "standard":
        slow += _rotating(rng, window, targets, rate, days)
    return slow + _bursts(rng, fast_day, brute_day, days, users)


def _pick(rng: np.random.Generator, values, k: int) -> tuple[str, ...]:
    """``k`` distinct values in random order."""
    return tuple(str(values[int(i)]) for i in rng.choice(len(values), k, replace=False))


def _rotating(rng: np.random.Generator, window, targets, rate, days: int) -> list[Campaign]:
    """Standard's campaigns that pick, per attempt and at random, among a few values of several fields."""
    exits = sorted({r.country for r in catalog.EXIT_RANGES})
    clients = _pick(rng, catalog.LEGACY_PROTOCOLS, int(rng.integers(1, 3)))
    exit_client = clients if len(clients) > 1 else clients[0]
    return [
        LowAndSlowSpray("spray-rotate-legacy", **window(), attempts_per_day=rate(2, 6), targets=targets(),
                        ip_pool=int(rng.integers(300, 1500)), ua_source="odd", ua_pool=int(rng.integers(3, 7)),
                        client_app=_pick(rng, catalog.LEGACY_PROTOCOLS, int(rng.integers(2, 5))),
                        app="Office 365 Exchange Online"),
        LowAndSlowSpray("spray-rotate-admin", **window(), attempts_per_day=rate(2, 5), targets=targets(),
                        ip_pool=int(rng.integers(300, 1500)), ua_source="odd", ua_pool=int(rng.integers(3, 7)),
                        client_app="Mobile Apps and Desktop clients",
                        app=_pick(rng, catalog.ADMIN_TOOLS, int(rng.integers(2, 4)))),
        LowAndSlowSpray("spray-rotate-exit", start_day=round(float(rng.uniform(0.01, 0.1)) * days, 2),
                        end_day=round(float(rng.uniform(0.9, 0.98)) * days, 2), attempts_per_day=rate(0.8, 1.5),
                        targets=targets(0.03, 0.06), ip_pool=int(rng.integers(100, 400)),
                        exit_countries=_pick(rng, exits, int(rng.integers(4, 9))), ua_source="odd",
                        ua_pool=int(rng.integers(3, 7)), client_app=exit_client),
    ]


def _tool_agent(rng: np.random.Generator) -> str:
    return devices.tool_agent(rng).user_agent


def _bursts(rng: np.random.Generator, fast_day: float, brute_day: float, days: int, users: int) -> list[Campaign]:
    """A fast spray, two brute forces on 2–5 accounts from one source each, and a stale service."""
    apps = sorted(catalog.BROWSER_APPS)

    def brute(name: str, day: float) -> BruteForce:
        victims = int(rng.integers(2, 6))
        return BruteForce(name, start_day=day, duration_minutes=round(float(rng.uniform(5, 30)), 1),
                          attempts=int(rng.integers(40, 100)) * victims, victims=victims,
                          interleaved=bool(rng.random() < 0.5), ip_count=int(rng.choice([1, 1, 2, 3])),
                          user_agent=_tool_agent(rng), app=apps[int(rng.integers(len(apps)))])

    second = round(float(rng.uniform(0.1, 0.9)) * days, 3)
    change = round(float(rng.uniform(0.1, 0.8)) * days, 2)
    period = float(rng.choice([5, 10, 15, 20, 30, 60]))
    return [
        FastSpray("fast-spray", start_day=fast_day, targets=max(10, min(400, users // 5)),
                  ip_count=int(rng.choice([1, 1, 2, 3])), user_agent=_tool_agent(rng),
                  app=apps[int(rng.integers(len(apps)))]),
        brute("brute-force", brute_day),
        brute("brute-force-2", second),
        StaleCredential("svc-stale-password", change_day=change,
                        success_days=0.0 if rng.random() < 0.3 else round(float(rng.uniform(1, 10)), 2),
                        fail_days=round(float(min(rng.uniform(3, 20), days - change)), 2),
                        period_minutes=period, jitter_seconds=round(float(rng.uniform(0.005, 0.05)) * period * 60, 1),
                        missed_share=round(float(rng.uniform(0, 0.1)), 3),
                        retry_share=round(float(rng.uniform(0, 0.1)), 3), source=str(rng.choice(["office", "server"])),
                        client_app=str(rng.choice(["Authenticated SMTP", "IMAP4", "Exchange ActiveSync",
                                                   "Exchange Web Services", "POP3"]))),
    ]
