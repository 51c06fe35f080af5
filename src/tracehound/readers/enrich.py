"""Fill the derived sign-in fields: IP prefix, country by IP, browser and OS from the user agent.

Why a class with caches: a tenant's 10 million sign-ins carry perhaps 50,000 distinct user agents and
a few hundred thousand distinct IPs. ua-parser costs about a millisecond per string, so each distinct
value is parsed once and remembered; the caches are bounded because every value is attacker-controlled
(a spray that randomises its user agent per request must not grow memory without limit).
"""

from __future__ import annotations

import ipaddress
from typing import Iterable

import iptocc
from ua_parser import parse_os, parse_user_agent

#: Distinct values remembered per cache before it is emptied and starts again.
CACHE_LIMIT = 200_000


def ip_prefix(ip: str | None) -> str | None:
    """The network an address sits in: IPv4 /24 ("203.0.113.0/24"), IPv6 /48 ("2a09:bac5:111::/48").

    A spray that rotates addresses usually rotates within a provider's block, so the prefix is the
    field that stays put. Anything that is not an IP address gives ``None``.
    """
    if not ip:
        return None
    octets = ip.split(".")
    if len(octets) == 4 and all(o.isascii() and o.isdigit() and len(o) <= 3 and int(o) <= 255
                                and (o == "0" or o[0] != "0") for o in octets):
        return f"{octets[0]}.{octets[1]}.{octets[2]}.0/24"  # the common case, without ipaddress
    try:
        addr = ipaddress.ip_address(ip.strip())
    except ValueError:
        return None
    if addr.version == 6 and addr.ipv4_mapped is not None:
        addr = addr.ipv4_mapped
    bits = 24 if addr.version == 4 else 48
    return str(ipaddress.ip_network(f"{addr}/{bits}", strict=False))


def _version(family: str, major: str | None) -> str:
    return f"{family} {major}" if major else family


def browser_and_os(user_agent: str | None) -> tuple[str | None, str | None]:
    """``("Chrome 120", "Windows 10")`` from a user-agent string: family plus major version.

    The major version only, because minor versions change weekly and would make every ordinary
    browser update look like a new, rare value. An unrecognised agent gives ``None`` for that part.
    """
    if not user_agent:
        return None, None
    ua = parse_user_agent(user_agent)
    os_ = parse_os(user_agent)
    browser = _version(ua.family, ua.major) if ua is not None and ua.family != "Other" else None
    system = _version(os_.family, os_.major) if os_ is not None and os_.family != "Other" else None
    return browser, system


class Enricher:
    """Fills ``ip_prefix``, missing ``country`` and missing ``browser`` / ``os`` in column lists.

    One instance lives for one read, so its caches serve every batch of every file.
    """

    def __init__(self) -> None:
        self._prefix: dict[str, str | None] = {}
        self._country: dict[str, str | None] = {}
        self._agent: dict[str, tuple[str | None, str | None]] = {}

    def prefixes(self, ips: list[str | None]) -> list[str | None]:
        cache = self._prefix
        if len(cache) > CACHE_LIMIT:
            cache.clear()
        # Each distinct new address once, then one C-level lookup per row (None is never a key).
        for ip in dict.fromkeys(ips):
            if ip is not None and ip not in cache:
                cache[ip] = ip_prefix(ip)
        return list(map(cache.get, ips))

    def fill_countries(self, countries: list[str | None], ips: list[str | None]) -> None:
        """Look up, by IP, the countries the source did not give; one iptocc call per batch."""
        cache = self._country
        if len(cache) > CACHE_LIMIT:
            cache.clear()
        wanted = {ip for c, ip in zip(countries, ips) if c is None and ip and ip not in cache}
        if wanted:
            ordered = list(wanted)
            cache.update(zip(ordered, iptocc.country_code(ordered)))
        for i, (country, ip) in enumerate(zip(countries, ips)):
            if country is None and ip:
                countries[i] = cache.get(ip)

    def fill_agents(self, browsers: list[str | None], systems: list[str | None],
                    agents: Iterable[str | None]) -> None:
        """Parse the user agent once per distinct string where the source gave no browser or OS."""
        cache = self._agent
        if len(cache) > CACHE_LIMIT:
            cache.clear()
        for i, agent in enumerate(agents):
            if not agent or (browsers[i] is not None and systems[i] is not None):
                continue
            parsed = cache.get(agent)
            if parsed is None:
                parsed = cache[agent] = browser_and_os(agent)
            if browsers[i] is None:
                browsers[i] = parsed[0]
            if systems[i] is None:
                systems[i] = parsed[1]
