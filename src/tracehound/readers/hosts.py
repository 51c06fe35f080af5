"""Host names and addresses as every logon reader writes them, so the same machine matches across formats.

Windows events, LANL records and Linux auth syslog name machines differently (``ws6.corp.local``,
``WS6``, ``C1065``, an IP address); the fan-out hunts count *distinct* hosts, so one machine spelled
two ways would count twice.
"""

from __future__ import annotations

import ipaddress

#: Names that mean "this machine itself": no source, no target.
LOCAL = ("localhost", "127.0.0.1", "::1")


def is_ip(text: str) -> bool:
    """Whether ``text`` is an IPv4 or IPv6 address (a zone index such as ``fe80::1%12`` included)."""
    try:
        ipaddress.ip_address(text)
    except ValueError:
        return False
    return True


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
