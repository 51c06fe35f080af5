"""The registry: every hunt and every finding kind, as each hunt package declares them.

Hunt packages declare their hunts (``HUNTS``: :class:`~tracehound.contract.HuntEntry`) in their
``__init__`` and their kinds (``KINDS``: :class:`~tracehound.findings.Kind`) in their ``kinds``
module. The pipeline routes by ``HuntEntry.table``; reporters look a finding's kind up here for its
ATT&CK mapping, roles, blockability and plot family. Nothing else in the code spells a kind.
"""

from __future__ import annotations

from functools import cache

from .contract import HuntEntry
from .errors import ConfigError
from .findings import Kind


@cache
def hunts() -> dict[str, HuntEntry]:
    """Config section → hunt, in the order the pipeline runs them."""
    from . import fanout, network, spray, web

    entries: dict[str, HuntEntry] = {}
    for entry in (*spray.HUNTS, *fanout.HUNTS, *network.HUNTS, *web.HUNTS):
        if entry.section in entries:
            raise RuntimeError(f"hunt section {entry.section!r} is declared twice")
        entries[entry.section] = entry
    return entries


@cache
def kinds() -> dict[str, Kind]:
    """Kind name → its declaration; names are unique across hunts."""
    from .fanout.kinds import KINDS as FANOUT
    from .network.kinds import KINDS as NETWORK
    from .spray.kinds import KINDS as SPRAY
    from .web.kinds import KINDS as WEB

    table: dict[str, Kind] = {}
    for k in (*SPRAY, *FANOUT, *NETWORK, *WEB):
        if k.name in table:
            raise RuntimeError(f"finding kind {k.name!r} is declared twice")
        table[k.name] = k
    return table


def kind(name: str) -> Kind | None:
    """The declaration of a kind, or None for a kind this version does not produce (an old file)."""
    return kinds().get(name)


def hunt(section: str) -> HuntEntry:
    """The hunt of a config section, or a ``ConfigError`` listing the sections there are."""
    try:
        return hunts()[section]
    except KeyError:
        raise ConfigError(f"unknown hunt {section!r}; expected one of {', '.join(hunts())}") from None
