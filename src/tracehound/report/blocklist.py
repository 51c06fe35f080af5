"""Blocklists of attacker addresses: plain text, an nftables ruleset, or ``ipset restore`` commands.

The addresses come from log lines, which attackers write, and the files go into firewalls, so an entry
is never text: every value is parsed into an :mod:`ipaddress` object and written back from that object
in its canonical form. What is refused, and why:

- anything but hex digits, dots, colons and one ``/`` — so ``1.2.3.4;reboot``, a newline, a CR and an
  IPv6 zone id (``fe80::1%a } } flush ruleset``, which :mod:`ipaddress` itself would accept) never parse;
- a network wider than the policy's widest prefix (``1.2.3.4/0`` would block the internet), and one with
  host bits set (``1.2.3.4/24`` is not a network; guessing ``1.2.3.0/24`` would block its neighbours);
- addresses that are no one's to block at the edge: loopback, link-local, multicast, unspecified,
  reserved — unless the policy asks for them;
- internal addresses (RFC 1918, carrier-grade NAT, unique-local IPv6): blocking one at the firewall
  cuts off your own host, so they go to the list of hosts to isolate instead, unless asked.

IPv4-mapped IPv6 (``::ffff:10.0.0.5``) is judged and written as the IPv4 address it maps. Documentation
ranges (RFC 5737 / 3849) count as external: no real host has them, and examples and simulators use them.
"""

from __future__ import annotations

import ipaddress
import re
from dataclasses import dataclass, field
from datetime import datetime, timezone
from pathlib import Path
from typing import Iterable, Union

from ..errors import ConfigError

FORMATS = ("plain", "nftables", "ipset")
DEFAULT_SET = "tracehound_block"

Entry = Union[ipaddress.IPv4Address, ipaddress.IPv6Address, ipaddress.IPv4Network, ipaddress.IPv6Network]
#: The only characters an address or network may hold.
_ADDRESS_CHARS = re.compile(r"[0-9A-Fa-f.:]+(/[0-9]{1,3})?")
_INTERNAL = tuple(ipaddress.ip_network(n) for n in
                  ("10.0.0.0/8", "172.16.0.0/12", "192.168.0.0/16", "100.64.0.0/10", "fc00::/7"))
_DOCUMENTATION = tuple(ipaddress.ip_network(n) for n in
                       ("192.0.2.0/24", "198.51.100.0/24", "203.0.113.0/24", "2001:db8::/32"))
SCOPES = ("external", "internal", "special")


@dataclass(frozen=True)
class BlockPolicy:
    """What may go into a blocklist.

    ``include_internal``: block internal addresses too (default: they go to ``isolate_hosts.txt``).
    ``include_special``: keep loopback / link-local / multicast / unspecified / reserved addresses.
    ``widest_v4`` / ``widest_v6``: the shortest prefix a network entry may have.
    """

    include_internal: bool = False
    include_special: bool = False
    widest_v4: int = 24
    widest_v6: int = 48

    def __post_init__(self) -> None:
        for name, value, top in (("widest_v4", self.widest_v4, 32), ("widest_v6", self.widest_v6, 128)):
            if isinstance(value, bool) or not isinstance(value, int) or not 1 <= value <= top:
                raise ConfigError(f"{name} must be a prefix length from 1 to {top}, got {value!r}")


@dataclass
class Cleaned:
    """The outcome of cleaning candidate values: what to block, what to isolate, what was refused."""

    block: list[str] = field(default_factory=list)
    internal: list[str] = field(default_factory=list)
    #: ``(value as received, reason)`` for every refused value, in input order.
    refused: list[tuple[str, str]] = field(default_factory=list)


def parse_entry(value: object, policy: BlockPolicy = BlockPolicy()) -> tuple[Entry | None, str]:
    """``(address or network, "")``, or ``(None, why it was refused)``."""
    if isinstance(value, (ipaddress.IPv4Address, ipaddress.IPv6Address)):
        value = str(value)
    if not isinstance(value, str) or not _ADDRESS_CHARS.fullmatch(value):
        return None, "not an IP address or network (only digits, a-f, '.', ':' and one '/' are allowed)"
    try:
        entry: Entry = ipaddress.ip_network(value, strict=True) if "/" in value else ipaddress.ip_address(value)
    except ValueError as exc:
        return None, f"not an IP address or network: {exc}"
    entry = _unmapped(entry)
    if isinstance(entry, (ipaddress.IPv4Network, ipaddress.IPv6Network)):
        widest = policy.widest_v4 if entry.version == 4 else policy.widest_v6
        if entry.prefixlen < widest:
            return None, f"network wider than /{widest}"
        if entry.num_addresses == 1:
            entry = entry.network_address
    return entry, ""


def _unmapped(entry: Entry) -> Entry:
    """An IPv4-mapped IPv6 address (or /(96+n) network) as the IPv4 one it maps."""
    if isinstance(entry, ipaddress.IPv6Address) and entry.ipv4_mapped is not None:
        return entry.ipv4_mapped
    if isinstance(entry, ipaddress.IPv6Network) and entry.network_address.ipv4_mapped is not None \
            and entry.prefixlen >= 96:
        return ipaddress.ip_network(f"{entry.network_address.ipv4_mapped}/{entry.prefixlen - 96}")
    return entry


def scope(entry: Entry) -> str:
    """``external``, ``internal`` (your own network) or ``special`` (no one's to block)."""
    ends = ((entry.network_address, entry.broadcast_address)
            if isinstance(entry, (ipaddress.IPv4Network, ipaddress.IPv6Network)) else (entry, entry))
    kinds = {_address_scope(a) for a in ends}
    return kinds.pop() if len(kinds) == 1 else "special"


def _address_scope(a: ipaddress.IPv4Address | ipaddress.IPv6Address) -> str:
    if a.is_loopback or a.is_multicast or a.is_unspecified or a.is_link_local or a.is_reserved:
        return "special"
    if any(a in net for net in _INTERNAL):
        return "internal"
    if a.is_global or any(a in net for net in _DOCUMENTATION):
        return "external"
    return "special"


def _order(entry: Entry) -> tuple[int, int, int]:
    if isinstance(entry, (ipaddress.IPv4Network, ipaddress.IPv6Network)):
        return entry.version, int(entry.network_address), entry.prefixlen
    return entry.version, int(entry), entry.max_prefixlen


def clean(values: Iterable[object], policy: BlockPolicy = BlockPolicy()) -> Cleaned:
    """Split candidate values into canonical entries to block, internal ones and refused ones.

    Entries are de-duplicated, those inside a listed network dropped, and sorted (IPv4 first, then
    by address)."""
    block: dict[str, Entry] = {}
    internal: dict[str, Entry] = {}
    out = Cleaned()
    for value in values:
        entry, why = parse_entry(value, policy)
        if entry is None:
            out.refused.append((repr(value)[:200], why))
            continue
        where = scope(entry)
        if where == "special" and not policy.include_special:
            out.refused.append((str(entry), "loopback, link-local, multicast, unspecified or reserved"))
        elif where == "internal" and not policy.include_internal:
            internal[str(entry)] = entry
        else:
            block[str(entry)] = entry
    out.block = [str(e) for e in _uncovered(block.values())]
    out.internal = [str(e) for e in _uncovered(internal.values())]
    return out


def _uncovered(entries: Iterable[Entry]) -> list[Entry]:
    """Sorted entries without those a listed network already covers: an nftables interval set
    refuses overlapping elements, and a covered address adds nothing."""
    nets = [e for e in entries if isinstance(e, (ipaddress.IPv4Network, ipaddress.IPv6Network))]

    def covered(e: Entry) -> bool:
        return any(n.version == e.version and n != e and
                   (e.subnet_of(n) if isinstance(e, type(n)) else e in n) for n in nets)

    return sorted((e for e in entries if not covered(e)), key=_order)


def clean_ips(values: Iterable[object], policy: BlockPolicy = BlockPolicy()) -> tuple[list[str], int]:
    """Canonical entries to block and the number of values not blocked (refused or internal)."""
    cleaned = clean(values, policy)
    return cleaned.block, len(cleaned.refused) + len(cleaned.internal)


def _checked(entries: list[str]) -> list[Entry]:
    """Entries re-parsed: a firewall file is written from parsed values only, so a caller passing
    anything but canonical addresses is a bug, refused loudly."""
    parsed = []
    for text in entries:
        entry, why = parse_entry(text, BlockPolicy(include_internal=True, include_special=True,
                                                   widest_v4=1, widest_v6=1))
        if entry is None or str(entry) != text:
            raise ValueError(f"blocklist entry {text!r} is not a canonical address or network ({why or 'not canonical'})")
        parsed.append(entry)
    return parsed


def render(ips: list[str], fmt: str = "plain", set_name: str = DEFAULT_SET) -> str:
    """The blocklist text for canonical entries (from :func:`clean`) in one of :data:`FORMATS`."""
    if fmt not in FORMATS:
        raise ConfigError(f"blocklist format must be one of {', '.join(FORMATS)}, got {fmt!r}")
    if not re.fullmatch(r"[A-Za-z][A-Za-z0-9_]{0,24}", set_name):
        raise ConfigError(f"set name must be a letter, then letters, digits and '_' (25 at most), got {set_name!r}")
    entries = _checked(ips)
    stamp = datetime.now(timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ")
    header = f"# tracehound: {len(entries)} attacker addresses to block, written {stamp}\n"
    v4 = [str(e) for e in entries if e.version == 4]
    v6 = [str(e) for e in entries if e.version == 6]
    if fmt == "plain":
        return header + "".join(f"{e}\n" for e in ips)
    if fmt == "ipset":
        lines = [f"create {set_name}_v4 hash:net family inet -exist",
                 f"create {set_name}_v6 hash:net family inet6 -exist"]
        lines += [f"add {set_name}_v4 {e} -exist" for e in v4]
        lines += [f"add {set_name}_v6 {e} -exist" for e in v6]
        return header + "# load with: ipset restore < FILE\n" + "\n".join(lines) + "\n"

    def nft_set(name: str, kind: str, members: list[str]) -> str:
        elements = f" elements = {{ {', '.join(members)} }};" if members else ""
        return f"    set {name} {{ type {kind}; flags interval;{elements} }}\n"

    return (header + "# load with: nft -f FILE\n"
            f"table inet {set_name} {{\n"
            + nft_set("v4", "ipv4_addr", v4) + nft_set("v6", "ipv6_addr", v6) +
            "    chain input {\n"
            "        type filter hook input priority -10; policy accept;\n"
            "        ip saddr @v4 drop\n"
            "        ip6 saddr @v6 drop\n"
            "    }\n"
            "}\n")


def write_blocklist(ips: Iterable[object], path: str | Path, fmt: str = "plain",
                    set_name: str = DEFAULT_SET, policy: BlockPolicy = BlockPolicy()) -> tuple[Path, int, int]:
    """Write a blocklist; returns (path, entries written, values not written: refused or internal)."""
    entries, skipped = clean_ips(ips, policy)
    text = render(entries, fmt, set_name)
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(text, encoding="utf-8")
    return path, len(entries), skipped
