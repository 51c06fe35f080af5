"""The fan-out package's hunts as the pipeline knows them: one entry per preset, protocol mismatch,
and a custom fan-out configured from column names.

``build`` has an explicit signature in every entry because its keyword arguments *are* the config
section's accepted parameters (``HuntEntry.parameters``): a preset's entry is
``functools.partial(FanoutDetector, name)``, whose signature no longer lists ``preset``, so a config
that names another preset is an unknown parameter, not a crash.
"""

from __future__ import annotations

import functools
from datetime import datetime
from typing import Sequence

from ..contract import HuntEntry
from ..errors import ConfigError
from .detector import FanoutDetector
from .mismatch import ProtocolMismatch
from .presets import PRESETS, custom_spec, parse_where


def custom_fanout(table: str, entity: str, target: str, *, where: Sequence[str] = (), bucket: str = "1h",
                  detect_last: str = "1h", sustained: int = 1, end: datetime | str | None = None,
                  baseline_days: float = 14, k: float = 2.0, sigma_floor: float = 1.0,
                  min_history_days: float = 3, exclude_detection: bool = True, cold_start: bool = True,
                  require_new: bool = True, overlap: bool = True, max_listed: int = 50) -> FanoutDetector:
    """A fan-out hunt over any canonical ``table``: distinct ``target`` values per ``entity`` and bucket,
    on the rows matching every ``where`` item (``column=v1,v2``; a single string is one item)."""
    for name, value in (("table", table), ("entity", entity), ("target", target)):
        if not isinstance(value, str) or not value.strip():
            raise ConfigError(f"{name} must be a column or table name, got {value!r}")
    items = [where] if isinstance(where, str) else list(where)
    if not all(isinstance(item, str) for item in items):
        raise ConfigError(f"where must be a list of column=value[,value...] strings, got {where!r}")
    spec = custom_spec(table, entity, target, bucket=bucket, detect_last=detect_last,
                       where=parse_where(items), sustained=sustained)
    return FanoutDetector(spec, end=end, baseline_days=baseline_days, k=k, sigma_floor=sigma_floor,
                          min_history_days=min_history_days, exclude_detection=exclude_detection,
                          cold_start=cold_start, require_new=require_new, overlap=overlap,
                          max_listed=max_listed)


def _description(name: str) -> str:
    spec = PRESETS[name]
    return f"{spec.entity} → {spec.target_noun} per {spec.bucket}, newest {spec.detect_last} against the baseline"


HUNTS: tuple[HuntEntry, ...] = (
    *(HuntEntry(section=f"fanout.{name}", table=spec.table, build=functools.partial(FanoutDetector, name),
                kinds=spec.kinds(), description=_description(name)) for name, spec in PRESETS.items()),
    HuntEntry("mismatch", "connections", ProtocolMismatch, ("protocol_mismatch",),
              description="well-known ports carrying the wrong protocol, and tunnels"),
    HuntEntry("fanout.custom", table="logons", build=custom_fanout, kinds=("custom_fanout",), default=False,
              description="user-defined entity → distinct targets", table_param="table"),
)
