"""Protocol / port mismatch: well-known ports carrying the wrong protocol, and tunnels over allowed ports.

Zeek identifies a connection's protocol from its content (``service``), independently of the port.
Port 443 carrying SSH, or port 53 carrying something that is not DNS, is how tunnels and C2 channels
slip through firewalls that allow by port. Besides wrong protocols on listed ports this flags the
anonymisers, VPNs and peer-to-peer networks Zeek names wherever they appear (``tor``, ``openvpn``,
``wireguard``, ``bittorrent``, ``i2p``, ``socks`` …), SSH on any port but 22, connections that carried
data to an outside address on Tor's relay and SOCKS ports (:data:`TOR_PORTS`), and connections to a
configured ``tunnel_addresses`` list (Tor relays, VPN providers: exported by the user, never fetched
at run time). Connections Zeek could not identify (``service`` unset) are otherwise not flagged: most
are failed handshakes, and flagging them would bury the real mismatches. Findings are aggregated per
source host; ``evidence.techniques`` says which are tunnels (ATT&CK T1572, Tor also T1090.003) and
which only a non-standard port (T1571).
"""

from __future__ import annotations

from dataclasses import dataclass

import ibis
import pandas as pd

from ..contract import check_fitted
from ..engine import Engine
from ..errors import ConfigError
from ..findings import Finding, iso_utc
from ..network.addresses import AddressBook, contains, parse_address, parse_networks

#: Port → the Zeek service names that belong on it.
EXPECTED_SERVICES: dict[int, frozenset[str]] = {
    20: frozenset({"ftp-data"}), 21: frozenset({"ftp"}), 22: frozenset({"ssh"}),
    23: frozenset({"telnet"}), 25: frozenset({"smtp"}), 53: frozenset({"dns"}),
    80: frozenset({"http"}), 88: frozenset({"krb", "krb_tcp"}), 110: frozenset({"pop3"}),
    123: frozenset({"ntp"}), 143: frozenset({"imap"}), 389: frozenset({"ldap", "ldap_tcp", "ldap_udp"}),
    443: frozenset({"ssl", "tls", "quic", "http"}),  # http on 443: plaintext where TLS belongs is still odd
    445: frozenset({"smb", "gssapi", "ntlm", "dce_rpc"}), 465: frozenset({"smtp", "ssl"}),
    587: frozenset({"smtp", "ssl"}), 636: frozenset({"ssl", "ldap"}), 993: frozenset({"imap", "ssl"}),
    995: frozenset({"pop3", "ssl"}), 3389: frozenset({"rdp", "ssl"}),
}
#: Services that are tunnels, VPNs, anonymity or peer-to-peer networks wherever they appear.
TUNNEL_SERVICES = frozenset({"socks", "tor", "openvpn", "wireguard", "teredo", "ayiya", "gtpv1",
                             "irc", "dnscat", "iodine", "ssh-tunnel", "bittorrent", "bittorrenttracker",
                             "i2p"})
#: Tor's usual relay (ORPort, DirPort) and client (SOCKS, control) ports: a connection that carried
#: data to an outside address on one of them is a Tor flow whatever Zeek made of its content.
TOR_PORTS: dict[int, str] = {9001: "ORPort", 9030: "DirPort", 9050: "SOCKS port", 9051: "control port",
                             9150: "Tor Browser SOCKS port", 9151: "Tor Browser control port"}
#: Web and proxy ports outside :data:`EXPECTED_SERVICES` that egress filters usually allow.
WEB_PORTS = frozenset({3128, 8000, 8080, 8443, 8888})
#: Reason prefixes of the tunnel kind (the rest are wrong protocols on a listed port).
TUNNEL_REASONS = ("tunnelling", "SSH", "Tor", "destination on")


def _services(value: str) -> set[str]:
    """Zeek lists several detected services comma-separated (``ssl,http``)."""
    return {s.strip().lower() for s in str(value).split(",") if s.strip()}


def classify(port: int | None, service: str | None,
             expected: dict[int, frozenset[str]] = EXPECTED_SERVICES) -> str | None:
    """Why a (port, service) pair is suspicious, or None. Pure function, so it is tested directly."""
    if service is None or service in ("", "-"):
        return None
    found = _services(service)
    tunnels = found & TUNNEL_SERVICES
    if tunnels:
        return f"tunnelling/anonymity service {', '.join(sorted(tunnels))}"
    if port is not None and port in expected and not (found & expected[port]):
        what = " (an SSH tunnel over an allowed port)" if "ssh" in found else ""
        return (f"port {port} carries {', '.join(sorted(found))}{what}, expected "
                f"{'/'.join(sorted(expected[port]))}")
    if "ssh" in found and port in WEB_PORTS:
        return f"SSH on web port {port} (a tunnel over an allowed port)"
    return None


def tunnel_reason(port: int | None, outside: bool, carried: bool, listed: bool) -> str | None:
    """Why a connection that :func:`classify` passes is still a tunnel (a Tor port, a listed address)."""
    if listed:
        return "destination on the configured tunnel_addresses list"
    if outside and carried and port in TOR_PORTS:
        return f"Tor {TOR_PORTS[port]} {port} on an outside address"
    return None


def techniques(reasons: list[str]) -> list[str]:
    """ATT&CK techniques of a finding's reasons: T1572 for tunnels, T1090.003 for Tor, T1571 otherwise."""
    found: set[str] = set()
    for reason in reasons:
        found.add("T1572" if reason.startswith(TUNNEL_REASONS) or "tunnel" in reason else "T1571")
        if reason.startswith("Tor") or (reason.startswith("tunnelling")
                                        and "tor" in _services(reason.rsplit("service ", 1)[-1])):
            found.add("T1090.003")
    return sorted(found)


def _port(value) -> int | None:
    """A port number from an int or, as TOML table keys are, its decimal text; None if it is not one."""
    if isinstance(value, str) and value.strip().isdigit():
        value = int(value)
    if isinstance(value, bool) or not isinstance(value, int) or not 0 <= value <= 65535:
        return None
    return value


@dataclass(frozen=True, eq=False)
class MismatchScores:
    """The (src, dst, port, service) groups of one connections table that could be mismatches:
    identified services on listed ports, tunnelling services and SSH anywhere, Tor's ports and the
    listed tunnel addresses, with ``connections, first, last, event_id`` (one example id per group)
    and ``carried`` (connections that moved bytes). Which of them *are* is :meth:`detect`'s call."""

    groups: pd.DataFrame


class ProtocolMismatch:
    """Flags connections whose detected service does not belong on their port, and tunnels, per source.

    ``expected`` replaces :data:`EXPECTED_SERVICES` (port → the service names that belong on it).
    ``tunnel_addresses``: addresses / networks (``["192.0.2.7", "198.51.100.0/24"]``) whose every
    connection is a tunnel (a Tor relay or VPN provider list). ``internal``: the internal networks
    (default RFC 1918 and IPv6 unique-local / link-local), so only outside addresses count as Tor
    relays. There is nothing to learn: ``fit`` only records the engine.
    """

    def __init__(self, expected: dict[int, frozenset[str]] | None = None, max_listed: int = 50,
                 tunnel_addresses: list[str] | None = None, internal: list[str] | None = None) -> None:
        self.expected = expected
        self.max_listed = max_listed
        self.tunnel_addresses = tunnel_addresses
        self.internal = internal

    def validate(self) -> None:
        """``ConfigError`` for an ``expected`` that is not port → service names, or a bad ``max_listed``."""
        if self.expected is not None:
            if not isinstance(self.expected, dict):
                raise ConfigError(f"expected must map ports to service names, got {self.expected!r}")
            for port, names in self.expected.items():
                if _port(port) is None:
                    raise ConfigError(f"expected: {port!r} is not a port number (0-65535)")
                if isinstance(names, str) or not all(isinstance(n, str) for n in names):
                    raise ConfigError(f"expected[{port}] must be a list of service names, got {names!r}")
        if isinstance(self.max_listed, bool) or not isinstance(self.max_listed, int) or self.max_listed < 1:
            raise ConfigError(f"max_listed must be a whole number >= 1, got {self.max_listed!r}")
        parse_networks(self.tunnel_addresses, "tunnel_addresses")
        AddressBook.build(self.internal)

    def _expected(self) -> dict[int, frozenset[str]]:
        if not self.expected:
            return EXPECTED_SERVICES
        return {_port(p): frozenset(n.lower() for n in names) for p, names in self.expected.items()}

    def fit(self, baseline: ibis.Table, engine: Engine) -> "ProtocolMismatch":
        """Nothing to learn from a baseline; checks the parameters and records the engine."""
        self.validate()
        self.engine_ = engine
        return self

    def score(self, events: ibis.Table) -> MismatchScores:
        """The candidate groups of ``events``: the engine narrows the table to the candidates
        (:class:`MismatchScores`) and aggregates (src, dst, port, service); only those groups come
        back to Python."""
        check_fitted(self)
        t = events
        named = t.service.notnull() & (t.service != "-")
        lowered = t.service.lower()
        tunnel = ibis.literal(False)
        for name in sorted(TUNNEL_SERVICES | {"ssh"}):
            tunnel = tunnel | lowered.contains(name)
        listed = parse_networks(self.tunnel_addresses, "tunnel_addresses")
        candidates = t.filter((named & (t.dst_port.isin(list(self._expected())) | tunnel))
                              | t.dst_port.isin(list(TOR_PORTS))
                              | (AddressBook(listed).candidate(t.dst_ip) if listed else ibis.literal(False)))
        groups = candidates.group_by(["src_ip", "dst_ip", "dst_port", "service"]).aggregate(
            connections=candidates.count(), first=candidates.time.min(), last=candidates.time.max(),
            event_id=candidates.event_id.min(),
            carried=(candidates.bytes_out.fill_null(0) + candidates.bytes_in.fill_null(0) > 0)
            .cast("int64").sum())
        return MismatchScores(self.engine_.to_pandas(groups))

    def detect(self, scores: MismatchScores) -> list[Finding]:
        """Findings, one per source IP with at least one mismatched or tunnelling connection: the
        source is the actor, the destinations it reached that way the targets."""
        check_fitted(self)
        expected = self._expected()
        df = scores.groups.copy()
        if df.empty:
            return []
        book, listed = AddressBook.build(self.internal), parse_networks(self.tunnel_addresses, "tunnel_addresses")
        reasons = []
        for d, p, svc, carried in zip(df["dst_ip"], df["dst_port"], df["service"], df["carried"]):
            port = None if pd.isna(p) else int(p)
            addr = parse_address(d)
            reasons.append(classify(port, None if pd.isna(svc) else svc, expected)
                           or tunnel_reason(port, addr is not None and not book.is_internal(d), carried > 0,
                                            contains(listed, addr)))
        df["reason"] = reasons
        df = df[df["reason"].notna()]
        if df.empty:
            return []
        findings = []
        for src, grp in df.groupby("src_ip"):
            grp = grp.sort_values("connections", ascending=False)
            total = int(grp["connections"].sum())
            reasons = list(dict.fromkeys(grp["reason"]))
            tunnel_hit = any(r.startswith(TUNNEL_REASONS) or "tunnel" in r for r in reasons)
            level = "high" if tunnel_hit or grp["dst_ip"].nunique() > 1 else "medium"
            pairs = [f"{d}:{int(p) if not pd.isna(p) else '?'} ({s}, {int(c)}×)"
                     for d, p, s, c in zip(grp["dst_ip"], grp["dst_port"], grp["service"], grp["connections"])]
            destinations = list(dict.fromkeys(str(d) for d in grp["dst_ip"]))
            findings.append(Finding(
                kind="protocol_mismatch",
                id=f"protocol_mismatch:{src}",
                title=f"{src}: {total} connections with the wrong protocol for the port",
                severity=level,
                score=float(total * (2 if tunnel_hit else 1)),
                first_seen=iso_utc(grp["first"].min()),
                last_seen=iso_utc(grp["last"].max()),
                actors={"ips": [str(src)]},
                targets={"ips": destinations[: self.max_listed]},
                event_ids=[str(e) for e in grp["event_id"].tolist()[: self.max_listed]],
                explanation=(f"{src} made {total} connections where the protocol Zeek saw does not match "
                             f"the port: {'; '.join(reasons[:5])}. Destinations: "
                             f"{', '.join(pairs[:5])}{' …' if len(pairs) > 5 else ''}."),
                evidence={"connections": total, "reasons": reasons, "techniques": techniques(reasons),
                          "destinations": pairs[: self.max_listed]},
            ))
        return findings
