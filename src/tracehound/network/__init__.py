"""Network hunts: know what is normal for each host (docs/network.md).

Four baselines over the ``connections`` table, each a hunt on the contract in ``contract.py``:
bytes each internal host sends out of the network (``Exfiltration``), which groups of hosts reach
which (``PeerGroups``), which internal addresses are alive (``DeadSpace``) and how long each host's
sessions last per service (``LongSessions``). ``HUNTS`` declares them to the pipeline,
``kinds.KINDS`` their finding kinds.
"""

from ..contract import HuntEntry
from .addresses import DEFAULT_INTERNAL, AddressBook
from .deadspace import DeadScores, DeadSpace
from .kinds import KINDS
from .peers import PeerGroups, PeerScores
from .sessions import LongSessions, SessionScores
from .volume import Exfiltration, VolumeScores

HUNTS: tuple[HuntEntry, ...] = (
    HuntEntry("network.exfiltration", "connections", Exfiltration, ("exfiltration",),
              description="bytes each internal host sends out, per bucket, against its own baseline"),
    HuntEntry("network.peer-groups", "connections", PeerGroups, ("new_peer_group",),
              description="first contacts between groups of hosts that never talked"),
    HuntEntry("network.dead-space", "connections", DeadSpace, ("dead_space",),
              description="connections to internal addresses nothing lives at"),
    HuntEntry("network.long-session", "connections", LongSessions, ("long_session",),
              description="sessions far longer than the host's usual for the service"),
)

__all__ = ["HUNTS", "KINDS", "AddressBook", "DEFAULT_INTERNAL", "Exfiltration", "VolumeScores", "PeerGroups",
           "PeerScores", "DeadSpace", "DeadScores", "LongSessions", "SessionScores"]
