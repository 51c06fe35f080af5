"""The finding kinds the fan-out package produces, declared once (``tracehound.registry`` collects them).

Each preset's kind is derived from its :class:`~tracehound.fanout.presets.FanoutSpec` — name, table,
and which entity types are actors and targets — plus its ATT&CK mapping below, so a preset and its
kind cannot drift apart. ``blockable`` says whether the actors' addresses are the attacker's own: a
scanner's or a password guesser's source may go to a blocklist; an account moving laterally is no
address, and a custom hunt's entity may be anything. ``tier`` places each on the one scale of
consequence incidents are ordered by: lateral movement above an attack on credentials above a scan.
"""

from __future__ import annotations

from ..findings import Kind
from .presets import PRESETS, FanoutSpec

#: kind → (title, ATT&CK tactic, technique id, technique name, blockable, consequence tier,
#: lowest severity blocked). A burst of failed logons on one account is hostile at any severity.
_ATTACK: dict[str, tuple[str, str, str, str, bool, str, str]] = {
    "lateral_movement": ("Lateral movement", "LateralMovement", "T1021", "Remote Services", False,
                         "lateral", "medium"),
    "password_guessing": ("Password guessing across accounts", "CredentialAccess", "T1110.003",
                          "Brute Force: Password Spraying", True, "active_attack", "medium"),
    "logon_brute_force": ("Logon brute force on one account", "CredentialAccess", "T1110.001",
                          "Brute Force: Password Guessing", True, "active_attack", "low"),
    "user_enumeration": ("User enumeration", "Discovery", "T1087.002", "Account Discovery: Domain Account",
                         True, "reconnaissance", "medium"),
    "host_scan": ("Host scan", "Discovery", "T1046", "Network Service Discovery", True, "reconnaissance",
                  "medium"),
    "port_scan": ("Port scan", "Discovery", "T1046", "Network Service Discovery", True, "reconnaissance",
                  "medium"),
    "av_sustained": ("Sustained AV detections", "Execution", "T1204", "User Execution", False,
                     "active_attack", "medium"),
}


def _kind(spec: FanoutSpec, hunt: str, name: str) -> Kind:
    title, tactic, technique, technique_name, blockable, tier, block_from = _ATTACK[name]
    actors, targets = spec.role_types()
    return Kind(name, hunt, spec.table, title, tactic, technique, technique_name,
                actors=actors, targets=targets, blockable=blockable, plot="series", tier=tier,
                block_from=block_from)


KINDS: tuple[Kind, ...] = (
    *(_kind(spec, f"fanout.{name}", kind) for name, spec in PRESETS.items() for kind in spec.kinds()),
    # a custom hunt's columns are the user's: any type a column name can imply (presets.column_type)
    Kind("custom_fanout", "fanout.custom", "logons", "Custom fan-out", "Discovery", "T1046",
         "Network Service Discovery", actors=("users", "ips", "hosts", "ports"),
         targets=("users", "ips", "hosts", "ports"), blockable=False, plot="series", tier="reconnaissance"),
    # A service on the wrong port is first a hygiene finding (an SSH server on 443 is often an
    # admin's shortcut); its source stays blockable for when it is a tunnel.
    Kind("protocol_mismatch", "mismatch", "connections", "Protocol / port mismatch", "CommandAndControl",
         "T1571", "Non-Standard Port", actors=("ips",), targets=("ips",), blockable=True, plot=None,
         tier="hygiene"),
)
