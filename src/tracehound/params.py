"""Checks of hunt parameters that several hunts share: each raises one clear :class:`ConfigError`.

Why here: a hunt's ``validate`` runs before any input is read, so a bad ``[section]`` is one red line; the
fan-out and network hunts take the same kinds of numbers and the same ``end`` time, and must say the same
thing about them.
"""

from __future__ import annotations

import math
from datetime import datetime

from .errors import ConfigError
from .windows import utc


def number(name: str, value, minimum: float, strict: bool = False) -> None:
    """``ConfigError`` unless ``value`` is a real number above (``strict``) or at least ``minimum``."""
    if isinstance(value, bool) or not isinstance(value, (int, float)) or math.isnan(value):
        raise ConfigError(f"{name} must be a number, got {value!r}")
    if value < minimum or (strict and value == minimum):
        raise ConfigError(f"{name} must be {'>' if strict else '>='} {minimum:g}, got {value!r}")


def integer(name: str, value, minimum: int) -> None:
    """``ConfigError`` unless ``value`` is a whole number (not a bool) of at least ``minimum``."""
    if isinstance(value, bool) or not isinstance(value, int) or value < minimum:
        raise ConfigError(f"{name} must be a whole number >= {minimum}, got {value!r}")


def end_time(value) -> datetime | None:
    """``end`` as an aware UTC datetime (naive means UTC; ISO-8601 text accepted), or ConfigError."""
    if value is not None and not isinstance(value, (str, datetime)):
        raise ConfigError(f"end must be a date and time, got {value!r}")
    return utc(value, "end")
