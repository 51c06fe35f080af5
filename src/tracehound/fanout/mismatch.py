"""Protocol / port mismatch: well-known ports carrying the wrong protocol, and tunnelling services.

Zeek identifies a connection's protocol from its content (``service``), independently of the port.
Port 443 carrying SSH, or port 53 carrying something that is not DNS, is how tunnels and C2 channels
slip through firewalls that allow by port. Connections Zeek could not identify (``service`` unset)
are not flagged: most are failed handshakes, and flagging them would bury the real mismatches.
Findings are aggregated per source host.
"""

from __future__ import annotations

from dataclasses import dataclass

import ibis
import pandas as pd

from ..contract import check_fitted
from ..engine import Engine
from ..errors import ConfigError
from ..findings import Finding, iso_utc

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
#: Services that are tunnels or anonymity networks wherever they appear.
TUNNEL_SERVICES = frozenset({"socks", "tor", "openvpn", "wireguard", "teredo", "ayiya", "gtpv1",
                             "irc", "dnscat", "iodine", "ssh-tunnel"})


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
        return f"port {port} carries {', '.join(sorted(found))}, expected {'/'.join(sorted(expected[port]))}"
    return None


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
    identified services on listed ports, and tunnelling services anywhere, with ``connections,
    first, last, event_id`` (one example id per group). Which of them *are* is :meth:`detect`'s call."""

    groups: pd.DataFrame


class ProtocolMismatch:
    """Flags connections whose detected service does not belong on their port, per source host.

    ``expected`` replaces :data:`EXPECTED_SERVICES` (port → the service names that belong on it).
    There is nothing to learn: ``fit`` only records the engine, so the same instance scores any table.
    """

    def __init__(self, expected: dict[int, frozenset[str]] | None = None, max_listed: int = 50) -> None:
        self.expected = expected
        self.max_listed = max_listed

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
        """The candidate groups of ``events``: the engine narrows the table to identified services on
        listed ports or tunnelling services and aggregates (src, dst, port, service); only those
        groups come back to Python."""
        check_fitted(self)
        t = events.filter(events.service.notnull() & (events.service != "-"))
        lowered = t.service.lower()
        tunnel = ibis.literal(False)
        for name in sorted(TUNNEL_SERVICES):
            tunnel = tunnel | lowered.contains(name)
        candidates = t.filter(t.dst_port.isin(list(self._expected())) | tunnel)
        groups = candidates.group_by(["src_ip", "dst_ip", "dst_port", "service"]).aggregate(
            connections=candidates.count(), first=candidates.time.min(), last=candidates.time.max(),
            event_id=candidates.event_id.min())
        return MismatchScores(self.engine_.to_pandas(groups))

    def detect(self, scores: MismatchScores) -> list[Finding]:
        """Findings, one per source IP with at least one mismatched or tunnelling connection: the
        source is the actor, the destinations it reached that way the targets."""
        check_fitted(self)
        expected = self._expected()
        df = scores.groups.copy()
        if df.empty:
            return []
        df["reason"] = [classify(None if pd.isna(p) else int(p), s, expected)
                        for p, s in zip(df["dst_port"], df["service"])]
        df = df[df["reason"].notna()]
        findings = []
        for src, grp in df.groupby("src_ip"):
            grp = grp.sort_values("connections", ascending=False)
            total = int(grp["connections"].sum())
            reasons = list(dict.fromkeys(grp["reason"]))
            tunnel_hit = any(r.startswith("tunnelling") for r in reasons)
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
                evidence={"connections": total, "reasons": reasons,
                          "destinations": pairs[: self.max_listed]},
            ))
        return findings
