"""One error root for everything tracehound raises on purpose.

Each subclass also inherits the builtin that callers already catch (``ValueError`` for bad input,
``ImportError`` for a missing optional extra), so code written against the standard library keeps
working. Messages name the file, line, field, the value received and the value expected, because the
person reading them is usually looking at a 40 GB export and needs to know where to look.
"""

from __future__ import annotations


class TracehoundError(Exception):
    """Root of every error tracehound raises deliberately."""


class InputFormatError(TracehoundError, ValueError):
    """An input file is not what the reader expected (wrong format, wrong columns, empty)."""

    def __init__(self, message: str, *, path: str | None = None, line: int | None = None,
                 field: str | None = None) -> None:
        where = ""
        if path is not None:
            where = f"{path}" + (f", line {line}" if line is not None else "")
            where += (f", field {field!r}" if field is not None else "") + ": "
        super().__init__(where + message)
        self.path, self.line, self.field = path, line, field


class MissingExtraError(TracehoundError, ImportError):
    """An optional dependency group is not installed; the message says the install command."""

    def __init__(self, extra: str, package: str) -> None:
        super().__init__(
            f"the {extra!r} engine needs the optional package {package!r}; "
            f"install it with: pip install 'tracehound[{extra}]'"
        )
        self.extra, self.package = extra, package


class NotFittedError(TracehoundError, ValueError, AttributeError):
    """A detector was asked to score before it was fitted (scikit-learn's convention)."""


class ConfigError(TracehoundError, ValueError):
    """A parameter or preset is out of range or unknown."""
