"""The finding kinds the network package produces, declared once (``tracehound.registry`` collects them).

Every one names the internal host that did it as the actor (``ips``) and what it reached as targets
(``ips``, ``ports``). None is blockable: the actor is one of our own workstations or servers — its
address is internal, and a blocklist built from it would cut off the host being investigated, not
the attacker (an exfiltration's outside destinations are targets, for the watchlist). All four draw
the report's ``series`` plot: a count per bucket (bytes sent, peer groups reached, dead addresses
contacted, the longest session) against the finding's bound. ``tier`` places each on the incidents'
scale of consequence: data leaving the network is a compromise, a first contact between peer groups
lateral movement, a long session to an outside host an active attack, a dead-space probe
reconnaissance.
"""

from __future__ import annotations

from ..findings import Kind

KINDS: tuple[Kind, ...] = (
    Kind("exfiltration", "network.exfiltration", "connections", "Exfiltration by volume", "Exfiltration",
         "T1048", "Exfiltration Over Alternative Protocol", actors=("ips",), targets=("ips", "ports"),
         blockable=False, plot="series", tier="compromise"),
    Kind("new_peer_group", "network.peer-groups", "connections", "First contact between peer groups",
         "LateralMovement", "T1021", "Remote Services", actors=("ips",), targets=("ips", "ports"),
         blockable=False, plot="series", tier="lateral"),
    Kind("dead_space", "network.dead-space", "connections", "Connection to dead address space", "Discovery",
         "T1046", "Network Service Discovery", actors=("ips",), targets=("ips", "ports"), blockable=False,
         plot="series", tier="reconnaissance"),
    Kind("long_session", "network.long-session", "connections", "Unusually long session", "CommandAndControl",
         "T1572", "Protocol Tunneling", actors=("ips",), targets=("ips", "ports"), blockable=False,
         plot="series", tier="active_attack"),
)
