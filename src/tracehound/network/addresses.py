"""Which addresses are ours, and which group (subnet, department) each internal address belongs to.

Every network hunt asks the same two questions about an address: is it inside the network (an
internal host, a server) or outside (the internet), and which peer group is it in. Both are answered
once here, from configuration and never from the log: ``internal`` lists the internal networks
(RFC 1918, IPv6 unique-local and link-local by default), ``groups`` maps CIDRs to group names
(``{"10.0.1.0/24" = "engineering"}``; the most specific match wins), and an internal address no
listed network holds falls into its own /24 (IPv4) or /64 (IPv6) — the subnet is the group.

Addresses arrive as text from an attacker-controlled log. They are parsed with :mod:`ipaddress`
(a zone id or garbage is simply not an internal address), and only the *distinct* addresses a table
holds are classified: the engine first keeps the candidates (text that can lie in an internal
network: ``10.…``, ``192.168.…``, anything IPv6), Python classifies those, and the result goes
back to the engine as a small lookup table the hunts join on. The rows themselves never leave it.
"""

from __future__ import annotations

import ipaddress
from dataclasses import dataclass
from typing import Iterable, Mapping, Sequence

import ibis
import pandas as pd
import pyarrow as pa

from ..engine import Engine
from ..errors import ConfigError

Network = ipaddress.IPv4Network | ipaddress.IPv6Network
#: Internal unless configured otherwise: RFC 1918, IPv6 unique-local (fc00::/7) and link-local.
DEFAULT_INTERNAL = ("10.0.0.0/8", "172.16.0.0/12", "192.168.0.0/16", "fc00::/7", "fe80::/10")
#: Lookup-table columns: the address text, its group, and whether it is its group network's
#: network or broadcast address (never a host: a NetBIOS broadcast to .255 is not dead space).
LOOKUP_SCHEMA = pa.schema([("address", pa.string()), ("group", pa.string()), ("edge", pa.bool_())])


def parse_networks(values: Iterable[str] | None, name: str) -> tuple[Network, ...]:
    """CIDRs (``10.0.0.0/8``, ``192.0.2.7``: a single address) → networks, or ``ConfigError`` naming
    the value; host bits set (``10.0.0.1/8``) are an error, as they usually mean a typo."""
    if values is None:
        return ()
    if isinstance(values, str) or not isinstance(values, (list, tuple, set, frozenset)):
        raise ConfigError(f"{name} must be a list of networks like [\"10.0.0.0/8\"], got {values!r}")
    nets = []
    for value in values:
        if not isinstance(value, str):
            raise ConfigError(f"{name}: {value!r} is not a network like 10.0.0.0/8")
        try:
            nets.append(ipaddress.ip_network(value.strip(), strict=True))
        except ValueError as exc:
            raise ConfigError(f"{name}: {value!r} is not a network like 10.0.0.0/8 ({exc})") from None
    return tuple(nets)


def parse_address(text) -> ipaddress.IPv4Address | ipaddress.IPv6Address | None:
    """An address from log text, or None; an IPv4-mapped IPv6 address (``::ffff:10.0.0.1``) is IPv4."""
    if not isinstance(text, str):
        return None
    try:
        addr = ipaddress.ip_address(text.strip())
    except ValueError:
        return None
    if isinstance(addr, ipaddress.IPv6Address) and addr.ipv4_mapped is not None:
        return addr.ipv4_mapped
    return addr


def contains(networks: Sequence[Network], addr) -> bool:
    """Whether any of ``networks`` holds ``addr`` (of the same IP version)."""
    return addr is not None and any(addr.version == n.version and addr in n for n in networks)


def _v4_prefixes(networks: Sequence[Network]) -> set[str]:
    """Text prefixes every IPv4 address of ``networks`` starts with: the first octet and a dot (the
    first octet of a /8 or longer is fixed; a shorter network spans several)."""
    firsts: set[str] = set()
    for net in networks:
        if net.version == 4:
            lo, hi = int(net.network_address) >> 24, int(net.broadcast_address) >> 24
            firsts.update(f"{o}." for o in range(lo, hi + 1))
    return firsts


@dataclass(frozen=True)
class AddressBook:
    """Internal networks and peer groups, from configuration (see the module docstring)."""

    internal: tuple[Network, ...]
    groups: tuple[tuple[Network, str], ...] = ()
    prefix_v4: int = 24
    prefix_v6: int = 64

    @classmethod
    def build(cls, internal: Sequence[str] | None = None, groups: Mapping[str, str] | None = None,
              prefix: int = 24) -> "AddressBook":
        """From config values; ``ConfigError`` for a bad network, group name or prefix."""
        nets = parse_networks(DEFAULT_INTERNAL if internal is None else internal, "internal")
        if groups is not None and not isinstance(groups, Mapping):
            raise ConfigError(f"groups must map networks to group names, got {groups!r}")
        mapped = []
        for cidr, label in (groups or {}).items():
            (net,) = parse_networks([cidr], "groups")
            if not isinstance(label, str) or not label.strip():
                raise ConfigError(f"groups[{cidr!r}] must be a group name, got {label!r}")
            mapped.append((net, label.strip()))
        if isinstance(prefix, bool) or not isinstance(prefix, int) or not 8 <= prefix <= 32:
            raise ConfigError(f"prefix must be an IPv4 prefix length from 8 to 32, got {prefix!r}")
        mapped.sort(key=lambda item: -item[0].prefixlen)  # most specific first
        return cls(nets + tuple(n for n, _ in mapped if not contains(nets, n.network_address)),
                   tuple(mapped), prefix)

    def is_internal(self, text) -> bool:
        return contains(self.internal, parse_address(text))

    def network_of(self, addr) -> tuple[Network, str] | None:
        """The group network holding an internal address and its name, or None for an outside one."""
        if not contains(self.internal, addr):
            return None
        for net, label in self.groups:
            if addr.version == net.version and addr in net:
                return net, label
        net = ipaddress.ip_network(f"{addr}/{self.prefix_v4 if addr.version == 4 else self.prefix_v6}",
                                   strict=False)
        return net, str(net)

    def classify(self, addresses: Iterable[str]) -> pd.DataFrame:
        """``address, group, edge`` for the internal ones among ``addresses`` (text as in the log)."""
        rows = []
        for text in dict.fromkeys(addresses):
            addr = parse_address(text)
            found = self.network_of(addr) if addr is not None else None
            if found is None:
                continue
            net, label = found
            edge = net.prefixlen <= (30 if net.version == 4 else 126) and \
                addr in (net.network_address, net.broadcast_address)
            rows.append((text, label, bool(edge)))
        return pd.DataFrame(rows, columns=["address", "group", "edge"])

    def candidate(self, column: ibis.Value) -> ibis.Value:
        """An engine-side superset of the internal addresses in a string column."""
        prefixes = sorted(_v4_prefixes(self.internal))
        test = ibis.literal(False)
        for prefix in prefixes:
            test = test | column.startswith(prefix)
        if any(n.version == 6 for n in self.internal):
            test = test | column.contains(":")
        return test.fill_null(False)

    def lookup(self, engine: Engine, table: ibis.Table, columns: Sequence[str]) -> ibis.Table:
        """The internal addresses of ``columns`` in ``table`` as an engine table ``address, group,
        edge`` (only distinct candidate values come to Python)."""
        values: list[str] = []
        for col in columns:
            picked = table.filter(self.candidate(table[col])).select(address=table[col]).distinct()
            values.extend(engine.to_pandas(picked)["address"].dropna().tolist())
        frame = self.classify(values)
        return engine.load(pa.Table.from_pandas(frame, schema=LOOKUP_SCHEMA, preserve_index=False),
                           "network-addresses")

