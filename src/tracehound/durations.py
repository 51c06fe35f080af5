"""Durations as people write them in configs and on the command line: ``30s``, ``10m``, ``1h``, ``1d``, ``2w``."""

from __future__ import annotations

import re

from .errors import ConfigError

_DURATION = re.compile(r"^\s*(\d+(?:\.\d+)?)\s*([smhdw])\s*$")
_UNIT_SECONDS = {"s": 1, "m": 60, "h": 3600, "d": 86400, "w": 7 * 86400}


def seconds(duration: str | int | float) -> int:
    """``"1h"`` → 3600; also ``30s``, ``10m``, ``1d``, ``2w`` or a plain number of seconds."""
    if isinstance(duration, (int, float)) and not isinstance(duration, bool):
        value = int(duration)
    else:
        match = _DURATION.match(str(duration))
        if not match:
            raise ConfigError(f"duration {duration!r} is not like 30s, 10m, 1h, 1d or 2w")
        value = int(float(match.group(1)) * _UNIT_SECONDS[match.group(2)])
    if value <= 0:
        raise ConfigError(f"duration {duration!r} must be positive")
    return value
