"""Typed field values for the row-by-row readers: checked, never coerced.

Why: every value in a log is attacker-controlled or exporter-mangled, and a coercion hides it.
``int(float("4624.7"))`` made a 4624; ``str({'nested': 'obj'})`` put a Python repr in a user column;
``True`` as an event id was neither kept nor rejected. Here a value is of the expected type or the
record is rejected with a ``ValueError`` naming the field, the value received and what was expected.
Absent values (``None``, empty text, ``-`` — Windows' and Zeek's "no value") are ``None``.
"""

from __future__ import annotations

import math

from .hosts import address

#: Text that means "no value" in the formats read here.
UNSET = frozenset({"", "-", "(empty)"})
#: What a row builder raises for a record it cannot read; readers reject the record with :func:`reason`.
ROW_ERRORS = (ValueError, KeyError, TypeError, AttributeError, OverflowError)


def reason(exc: Exception) -> str:
    """The reject reason for a row builder's exception: its type and message."""
    return f"{type(exc).__name__}: {exc}"


def _shown(value: object) -> str:
    return f"{type(value).__name__} {str(value)[:40]!r}"


_INT64 = (-(2**63), 2**63 - 1)


def integer(value: object, field: str) -> int | None:
    """A 64-bit integer: a JSON integer, an integral JSON number, or decimal / ``0x`` hex text."""
    number = _integer(value, field)
    if number is not None and not _INT64[0] <= number <= _INT64[1]:
        raise ValueError(f"field {field!r}: {number} does not fit a 64-bit integer")
    return number


def _integer(value: object, field: str) -> int | None:
    if value is None:
        return None
    if isinstance(value, bool):
        raise ValueError(f"field {field!r}: expected an integer, got a boolean {value!r}")
    if isinstance(value, int):
        return value
    if isinstance(value, float):
        if math.isfinite(value) and value.is_integer():
            return int(value)
        raise ValueError(f"field {field!r}: expected an integer, got {value!r}")
    if isinstance(value, str):
        if value.isascii() and value.isdigit():  # the common case: plain decimal digits
            return int(value)
        text = value.strip()
        if text in UNSET:
            return None
        try:
            return int(text, 16) if text.lower().startswith("0x") else int(text, 10)
        except ValueError:
            raise ValueError(f"field {field!r}: expected an integer, got {text[:40]!r}") from None
    raise ValueError(f"field {field!r}: expected an integer, got {_shown(value)}")


def real(value: object, field: str) -> float | None:
    """A finite number: a JSON number or decimal text."""
    if value is None:
        return None
    if isinstance(value, bool):
        raise ValueError(f"field {field!r}: expected a number, got a boolean {value!r}")
    if isinstance(value, str):
        text = value.strip()
        if text in UNSET:
            return None
        try:
            value = float(text)
        except ValueError:
            raise ValueError(f"field {field!r}: expected a number, got {text[:40]!r}") from None
    if isinstance(value, (int, float)):
        if not math.isfinite(value):
            raise ValueError(f"field {field!r}: expected a finite number, got {value!r}")
        return float(value)
    raise ValueError(f"field {field!r}: expected a number, got {_shown(value)}")


def text(value: object, field: str) -> str | None:
    """Text (stripped): a string, or an integer written as one; objects, lists, booleans and floats
    are rejected, so no Python repr ever becomes a value."""
    if value is None:
        return None
    if isinstance(value, str):
        stripped = value.strip()
        return None if stripped in UNSET else stripped
    if isinstance(value, int) and not isinstance(value, bool):
        return str(value)
    raise ValueError(f"field {field!r}: expected text, got {_shown(value)}")


def ip(value: object, field: str) -> str | None:
    """An IP address (see :func:`tracehound.readers.hosts.address`), ``None`` when absent."""
    raw = text(value, field)
    if raw is None:
        return None
    try:
        return address(raw)
    except ValueError as exc:
        raise ValueError(f"field {field!r}: {exc}") from None
