"""Blocklists of client IPs: plain text, an nftables ruleset, or ``ipset restore`` commands.

The addresses come from log lines, which attackers write: every entry is parsed with
:mod:`ipaddress` and written in its canonical form, and anything that is not an IP address is
skipped and counted — a "client address" like ``1.2.3.4;reboot`` must never reach a firewall script.
"""

from __future__ import annotations

import ipaddress
from datetime import datetime, timezone
from pathlib import Path
from typing import Iterable

from ..errors import ConfigError

FORMATS = ("plain", "nftables", "ipset")
DEFAULT_SET = "tracehound_block"


def clean_ips(values: Iterable[str]) -> tuple[list[str], int]:
    """Canonical, de-duplicated, sorted IPs (IPv4 first) and the number of invalid values skipped."""
    good: set[ipaddress.IPv4Address | ipaddress.IPv6Address] = set()
    bad = 0
    for value in values:
        try:
            good.add(ipaddress.ip_address(str(value).strip()))
        except ValueError:
            bad += 1
    ordered = sorted(good, key=lambda a: (a.version, int(a)))
    return [str(a) for a in ordered], bad


def render(ips: list[str], fmt: str = "plain", set_name: str = DEFAULT_SET) -> str:
    """The blocklist text for already-clean IPs in one of :data:`FORMATS`."""
    if fmt not in FORMATS:
        raise ConfigError(f"blocklist format must be one of {', '.join(FORMATS)}, got {fmt!r}")
    if not set_name.replace("_", "").isalnum():
        raise ConfigError(f"set name must be letters, digits and '_', got {set_name!r}")
    stamp = datetime.now(timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ")
    header = f"# tracehound: {len(ips)} attacker addresses to block, written {stamp}\n"
    v4 = [ip for ip in ips if ":" not in ip]
    v6 = [ip for ip in ips if ":" in ip]
    if fmt == "plain":
        return header + "".join(f"{ip}\n" for ip in ips)
    if fmt == "ipset":
        lines = [f"create {set_name}_v4 hash:ip family inet -exist",
                 f"create {set_name}_v6 hash:ip family inet6 -exist"]
        lines += [f"add {set_name}_v4 {ip} -exist" for ip in v4]
        lines += [f"add {set_name}_v6 {ip} -exist" for ip in v6]
        return header + "# load with: ipset restore < FILE\n" + "\n".join(lines) + "\n"

    def nft_set(name: str, kind: str, members: list[str]) -> str:
        elements = f" elements = {{ {', '.join(members)} }};" if members else ""
        return f"    set {name} {{ type {kind};{elements} }}\n"

    return (header + "# load with: nft -f FILE\n"
            f"table inet {set_name} {{\n"
            + nft_set("v4", "ipv4_addr", v4) + nft_set("v6", "ipv6_addr", v6) +
            "    chain input {\n"
            "        type filter hook input priority -10; policy accept;\n"
            "        ip saddr @v4 drop\n"
            "        ip6 saddr @v6 drop\n"
            "    }\n"
            "}\n")


def write_blocklist(ips: Iterable[str], path: str | Path, fmt: str = "plain",
                    set_name: str = DEFAULT_SET) -> tuple[Path, int, int]:
    """Write a blocklist; returns (path, addresses written, invalid values skipped)."""
    clean, bad = clean_ips(ips)
    text = render(clean, fmt, set_name)
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(text, encoding="utf-8")
    return path, len(clean), bad
