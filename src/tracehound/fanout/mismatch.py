"""Protocol / port mismatch: well-known ports carrying the wrong protocol, and tunnelling services.

Zeek identifies a connection's protocol from its content (``service``), independently of the port.
Port 443 carrying SSH, or port 53 carrying something that is not DNS, is how tunnels and C2 channels
slip through firewalls that allow by port. Connections Zeek could not identify (``service`` unset)
are not flagged: most are failed handshakes, and flagging them would bury the real mismatches.
Findings are aggregated per source host.
"""

from __future__ import annotations

import ibis
import pandas as pd

from ..engine import Engine
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


class ProtocolMismatch:
    """Flags connections whose detected service does not belong on their port, per source host."""

    def __init__(self, expected: dict[int, frozenset[str]] | None = None, max_listed: int = 50) -> None:
        self.expected = expected
        self.max_listed = max_listed

    def detect(self, connections: ibis.Table, engine: Engine) -> list[Finding]:
        """Findings, one per source IP with at least one mismatched or tunnelling connection.

        The engine narrows the table to identified services on listed ports or tunnelling services
        and aggregates (src, dst, port, service); only those groups come back to Python.
        """
        expected = self.expected or EXPECTED_SERVICES
        t = connections.filter(connections.service.notnull() & (connections.service != "-"))
        lowered = t.service.lower()
        tunnel = ibis.literal(False)
        for name in sorted(TUNNEL_SERVICES):
            tunnel = tunnel | lowered.contains(name)
        candidates = t.filter(t.dst_port.isin(list(expected)) | tunnel)
        groups = candidates.group_by(["src_ip", "dst_ip", "dst_port", "service"]).aggregate(
            connections=candidates.count(), first=candidates.time.min(), last=candidates.time.max(),
            event_id=candidates.event_id.min())
        df = engine.to_pandas(groups)
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
            findings.append(Finding(
                kind="protocol_mismatch",
                id=f"protocol_mismatch:{src}",
                title=f"{src}: {total} connections with the wrong protocol for the port",
                severity=level,
                score=float(total * (2 if tunnel_hit else 1)),
                first_seen=iso_utc(grp["first"].min()),
                last_seen=iso_utc(grp["last"].max()),
                entities={"ips": [str(src), *dict.fromkeys(str(d) for d in grp["dst_ip"])][: self.max_listed + 1]},
                event_ids=[str(e) for e in grp["event_id"].tolist()[: self.max_listed]],
                explanation=(f"{src} made {total} connections where the protocol Zeek saw does not match "
                             f"the port: {'; '.join(reasons[:5])}. Destinations: "
                             f"{', '.join(pairs[:5])}{' …' if len(pairs) > 5 else ''}."),
                evidence={"connections": total, "reasons": reasons,
                          "destinations": pairs[: self.max_listed]},
            ))
        return findings
