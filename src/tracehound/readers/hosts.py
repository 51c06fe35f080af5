"""Host names and addresses as every reader writes them, so the same machine matches across formats.

Windows events, LANL records and Linux auth syslog name machines differently (``ws6.corp.local``,
``WS6``, ``C1065``, an IP address); the fan-out hunts count *distinct* hosts, so one machine spelled
two ways would count twice.

Address columns are typed: a value is an IP address or the record is rejected. ``ipaddress`` alone
is not enough — it accepts an IPv6 zone id of any text (``fe80::1%a } } flush ruleset``) — so a
zone id must be a plain interface name or number.
"""

from __future__ import annotations

import ipaddress
import re

#: Names that mean "this machine itself": no source, no target.
LOCAL = ("localhost", "127.0.0.1", "::1")
#: An interface name or index, the only zone ids real logs carry (``%12``, ``%eth0``).
_ZONE = re.compile(r"[0-9A-Za-z_.-]{1,32}")
_IPV4 = r"(?:(?:25[0-5]|2[0-4][0-9]|1[0-9][0-9]|[1-9]?[0-9])\.){3}(?:25[0-5]|2[0-4][0-9]|1[0-9][0-9]|[1-9]?[0-9])"
_H = "[0-9a-fA-F]{1,4}"
_IPV6 = "|".join([
    f"(?:{_H}:){{7}}{_H}", f"(?:{_H}:){{1,7}}:", f"(?:{_H}:){{1,6}}:{_H}", f"(?:{_H}:){{1,5}}(?::{_H}){{1,2}}",
    f"(?:{_H}:){{1,4}}(?::{_H}){{1,3}}", f"(?:{_H}:){{1,3}}(?::{_H}){{1,4}}", f"(?:{_H}:){{1,2}}(?::{_H}){{1,5}}",
    f"{_H}:(?::{_H}){{1,6}}", f":(?:(?::{_H}){{1,7}}|:)", f"::(?:ffff(?::0{{1,4}})?:)?{_IPV4}",
    f"(?:{_H}:){{1,4}}:{_IPV4}",
])
#: A plain IPv4 or IPv6 address (no zone, port or brackets), as one regular expression that Python,
#: RE2 (DuckDB) and Java (Spark) read alike; everything it matches is a valid address. Fast paths
#: take what matches it as it is and send the rest to :func:`address`.
PLAIN_IP = f"(?:{_IPV4}|{_IPV6})"


#: Addresses already checked (text → address): a log repeats few distinct addresses over many rows.
#: Bounded because the texts are attacker-chosen; emptied when full.
_CHECKED: dict[str, str] = {}
_CHECKED_LIMIT = 200_000


def address(text: str) -> str:
    """The IP address in ``text`` (stripped, without brackets or a port), or ``ValueError`` saying why.

    Accepted: IPv4, IPv6, IPv6 with a zone id that is an interface name or index, ``[v6]``,
    ``[v6]:port`` and ``v4:port`` (exports that keep the client port).
    """
    known = _CHECKED.get(text)
    if known is not None:
        return known
    core = _address(text)
    if len(_CHECKED) >= _CHECKED_LIMIT:
        _CHECKED.clear()
    _CHECKED[text] = core
    return core


def _address(text: str) -> str:
    core = text.strip()
    if core.startswith("["):
        close = core.find("]")
        if close < 0 or not re.fullmatch(r"(?::[0-9]{1,5})?", core[close + 1:]):
            raise ValueError(f"not an IP address: {text[:60]!r}")
        core = core[1:close]
    elif core.count(":") == 1 and "." in core:
        core, _, port = core.partition(":")
        if not port.isdigit() or len(port) > 5:
            raise ValueError(f"not an IP address: {text[:60]!r}")
    try:
        ipaddress.ip_address(core)
    except ValueError:
        raise ValueError(f"not an IP address: {text[:60]!r}") from None
    if "%" in core and not _ZONE.fullmatch(core.partition("%")[2]):
        raise ValueError(f"IPv6 zone id is not an interface name: {text[:60]!r}")
    return core


def unmapped(addr: str | None) -> str | None:
    """The IPv4 address of an IPv4-mapped IPv6 one (``::ffff:10.1.2.3`` → ``10.1.2.3``), else ``addr``.

    Why: a domain controller's Kerberos events (4768 / 4771) write IPv4 clients mapped, while the
    logon events and Zeek name the same machine plainly; counted apart they would be two sources.
    Applied by the logon and connection readers to addresses :func:`address` has checked."""
    if addr is None or ":" not in addr or "ffff" not in addr.lower():
        return addr
    mapped = getattr(ipaddress.ip_address(addr.partition("%")[0]), "ipv4_mapped", None)
    return str(mapped) if mapped is not None else addr


def is_ip(text: str) -> bool:
    """Whether ``text`` is an IPv4 or IPv6 address (a plain zone index such as ``fe80::1%12`` included)."""
    try:
        return address(text) == text.strip()
    except ValueError:
        return False


def host_name(text: str | None) -> str | None:
    """A host upper-cased without its DNS suffix (``ws6.corp.local`` → ``WS6``); an IP address whole;
    empty, ``-`` and the local machine's own names → ``None``."""
    if text is None:
        return None
    text = text.strip()
    if text in ("", "-") or text.lower() in LOCAL:
        return None
    if not is_ip(text):
        text = text.split(".")[0]
    return text.upper() or None
