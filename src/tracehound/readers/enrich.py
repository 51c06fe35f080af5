"""Fill the derived sign-in fields: IP prefix, country by IP, browser and OS from the user agent.

Why a class with caches: a tenant's 10 million sign-ins carry perhaps 50,000 distinct user agents and
a few hundred thousand distinct IPs. ua-parser costs about a millisecond per string, so each distinct
value is parsed once and remembered; the caches are bounded because every value is attacker-controlled
(a spray that randomises its user agent per request must not grow memory without limit).
"""

from __future__ import annotations

import ipaddress
from typing import Callable

import iptocc
import pyarrow as pa
import pyarrow.compute as pc
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
    """Fills ``ip_prefix``, missing ``country`` and missing ``browser`` / ``os`` of canonical batches.

    One instance lives for one read, so its caches serve every batch of every file. Work is per
    distinct value: each batch's distinct addresses and agents are looked up (once, thanks to the
    caches) and the answers spread back over the rows by Arrow's ``index_in`` / ``take``.
    """

    def __init__(self) -> None:
        self._prefix: dict[str, str | None] = {}
        self._country: dict[str, str | None] = {}
        self._agent: dict[str, tuple[str | None, str | None]] = {}

    def enrich(self, batch: pa.RecordBatch) -> pa.RecordBatch:
        """``batch`` (canonical ``signins`` columns) with ``ip_prefix`` computed and the country,
        browser and OS the source did not give filled in from the IP and the user agent."""
        ips = batch.column("ip")
        columns = {name: batch.column(name) for name in batch.schema.names}
        (columns["ip_prefix"],) = _spread(ips, self._prefixes)
        country = columns["country"]
        (looked_up,) = _spread(ips, self._countries, pc.is_null(country))
        columns["country"] = pc.coalesce(country, looked_up)
        browser, system = columns["browser"], columns["os"]
        missing = pc.or_(pc.is_null(browser), pc.is_null(system))
        parsed_browser, parsed_os = _spread(batch.column("user_agent"), self._agents, missing, width=2)
        columns["browser"] = pc.coalesce(browser, parsed_browser)
        columns["os"] = pc.coalesce(system, parsed_os)
        return pa.RecordBatch.from_arrays([columns[n] for n in batch.schema.names], schema=batch.schema)

    def _prefixes(self, ips: list[str]) -> list[tuple[str | None]]:
        cache = _bounded(self._prefix)
        for ip in ips:
            if ip not in cache:
                cache[ip] = ip_prefix(ip)
        return [(cache[ip],) for ip in ips]

    def _countries(self, ips: list[str]) -> list[tuple[str | None]]:
        """Countries by IP; the addresses not seen before go to iptocc in one call."""
        cache = _bounded(self._country)
        wanted = [ip for ip in ips if ip not in cache]
        if wanted:
            cache.update(zip(wanted, iptocc.country_code(wanted)))
        return [(cache[ip],) for ip in ips]

    def _agents(self, agents: list[str]) -> list[tuple[str | None, str | None]]:
        """(browser, OS) per user agent, ua-parser run once per agent not seen before."""
        cache = _bounded(self._agent)
        for agent in agents:
            if agent not in cache:
                cache[agent] = browser_and_os(agent)
        return [cache[agent] for agent in agents]


def _bounded(cache: dict) -> dict:
    """``cache``, emptied first when it has grown past :data:`CACHE_LIMIT` (values are attacker-chosen)."""
    if len(cache) > CACHE_LIMIT:
        cache.clear()
    return cache


def _spread(keys: pa.Array, lookup: Callable[[list[str]], list[tuple]], where: pa.Array | None = None,
            width: int = 1) -> list[pa.Array]:
    """``lookup`` of each row's key — ``width`` values per key — computed once per distinct non-empty
    key; one array per value (rows outside ``where`` and rows with a null or empty key get null)."""
    if where is not None:
        if not pc.any(where).as_py():  # nothing to look up (a source that gives every value)
            return [pa.nulls(len(keys), pa.string())] * width
        keys = pc.if_else(where, keys, pa.scalar(None, keys.type))
    distinct = pc.drop_null(pc.unique(keys))
    distinct = distinct.filter(pc.not_equal(distinct, ""))
    if len(distinct) == 0:
        return [pa.nulls(len(keys), pa.string())] * width
    found = lookup(distinct.to_pylist())
    rows = pc.index_in(keys, value_set=distinct)
    return [pa.array([v[i] for v in found], pa.string()).take(rows) for i in range(width)]
