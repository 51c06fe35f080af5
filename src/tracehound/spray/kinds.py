"""The finding kinds the spray hunt produces, declared once for the registry and every reporter.

The three attack kinds come from one sign-in campaign measured the same way; :func:`~.pruning.judge` decides
which one a campaign is. Actors are the campaign's source addresses and, when the tool pins its
user agent, that agent; targets are the accounts it tried. A low-and-slow spray rotates residential
proxies that real users share, so its addresses are not blockable; a burst comes from the
attacker's own few addresses, which are. All three are active attacks (a linked success makes
the finding a compromise); a brute force's few accounts make it low severity, but its source is
hostile all the same, so it is blocked from ``low``. ``stale_credentials`` (:mod:`.stale`) is an
account failing on a clock from its own or its tenant's address: hygiene, with no actor at all.
"""

from __future__ import annotations

from ..findings import Kind

PASSWORD_SPRAY = "password_spray"
FAST_SPRAY = "fast_spray"
#: The sign-in brute force (fan-out has its own ``logon_brute_force``).
BRUTE_FORCE = "signin_brute_force"
#: One account failing on a clock from an address it or its tenant uses: a retired password (hygiene).
STALE_CREDENTIALS = "stale_credentials"

KINDS: tuple[Kind, ...] = (
    Kind(PASSWORD_SPRAY, hunt="spray", table="signins", title="Low-and-slow password spray",
         tactic="CredentialAccess", technique="T1110.003", technique_name="Brute Force: Password Spraying",
         actors=("ips", "user_agents"), targets=("users",), blockable=False, plot="spray",
         blockable_agents=True, tier="active_attack"),
    Kind(FAST_SPRAY, hunt="spray", table="signins", title="Fast password spray",
         tactic="CredentialAccess", technique="T1110.003", technique_name="Brute Force: Password Spraying",
         actors=("ips", "user_agents"), targets=("users",), blockable=True, plot="spray",
         blockable_agents=True, tier="active_attack"),
    Kind(BRUTE_FORCE, hunt="spray", table="signins", title="Password brute force",
         tactic="CredentialAccess", technique="T1110.001", technique_name="Brute Force: Password Guessing",
         actors=("ips", "user_agents"), targets=("users",), blockable=True, plot="spray",
         blockable_agents=True, tier="active_attack", block_from="low"),
    # Not an attack: the address it fails from is the tenant's own, so it is a target, never an actor.
    Kind(STALE_CREDENTIALS, hunt="spray", table="signins", title="Stale credentials",
         tactic="InitialAccess", technique="T1078", technique_name="Valid Accounts",
         actors=(), targets=("users", "ips"), blockable=False, plot="spray", blockable_agents=False,
         tier="hygiene"),
)
