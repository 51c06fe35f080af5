"""The hunt contract: what every hunt (spray, each fan-out preset, protocol mismatch, web) implements.

Three calls, scikit-learn style, and nothing kept on the object between them:

- ``fit(baseline, engine) -> self`` learns from a baseline table; learned state lives in attributes
  ending in ``_`` (and the engine the hunt was fitted on, ``engine_``);
- ``score(events) -> Scores`` measures a table (the baseline itself, or later data) with what was
  learned and returns a small frozen dataclass of raw measurements: no verdict, no thresholds;
- ``detect(scores) -> list[Finding]`` applies the thresholds and builds the findings.

Because the per-call results travel in the ``Scores`` value instead of the hunter, scoring another
table between ``score`` and ``detect`` cannot change what ``detect`` reports, and fitting on last
fortnight's logs and scoring this hour's works for every hunt. ``validate()`` checks the
constructor's parameters and raises :class:`~tracehound.errors.ConfigError`, so a bad config section
is one clear line before any data is read.
"""

from __future__ import annotations

import inspect
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Callable, Protocol, runtime_checkable

from .errors import ConfigError, NotFittedError

if TYPE_CHECKING:  # the contract itself needs neither at run time; the CLI imports it on --help
    import ibis

    from .engine import Engine
    from .findings import Finding


@runtime_checkable
class Hunt(Protocol):
    """Every hunt: parameters in the constructor, then ``fit`` → ``score`` → ``detect``."""

    def validate(self) -> None:
        """Raise ``ConfigError`` naming the parameter when one is out of range or of the wrong type."""

    def fit(self, baseline: ibis.Table, engine: Engine) -> "Hunt":
        """Learn from ``baseline``; returns self."""

    def score(self, events: ibis.Table):
        """Raw measurements of ``events`` under what was learned (a frozen ``Scores`` dataclass)."""

    def detect(self, scores) -> list[Finding]:
        """Findings from one ``score`` result."""


def check_fitted(hunt: object, attribute: str = "engine_") -> None:
    """``NotFittedError`` when ``score`` / ``detect`` come before ``fit`` (scikit-learn's convention)."""
    if not hasattr(hunt, attribute):
        raise NotFittedError(f"this {type(hunt).__name__} is not fitted yet; call fit() first")


@dataclass(frozen=True)
class HuntEntry:
    """A hunt as the pipeline knows it: its config section, its table, how to build it, its kinds.

    ``section`` is the TOML section of its parameters (``spray``, ``web``, ``mismatch``,
    ``fanout.lateral`` …) and the name ``hunt.run(only=...)`` and the CLI use. ``build(**params)``
    returns a fresh, unfitted hunt; its keyword arguments are exactly the section's parameters.
    ``default``: runs in ``tracehound hunt`` whenever its table is among the inputs (a hunt that
    needs to be configured first, like a custom fan-out, is not).
    """

    section: str
    table: str
    build: Callable[..., Any]
    kinds: tuple[str, ...]
    default: bool = True
    description: str = ""
    #: A parameter that names the table instead (a custom fan-out over any canonical table).
    table_param: str | None = None

    def table_for(self, params: dict) -> str:
        """The canonical table this hunt reads with these parameters."""
        return str(params.get(self.table_param, self.table)) if self.table_param else self.table

    def parameters(self) -> set[str]:
        """The keyword arguments ``build`` accepts."""
        sig = inspect.signature(self.build)
        return {n for n, p in sig.parameters.items()
                if p.kind in (p.KEYWORD_ONLY, p.POSITIONAL_OR_KEYWORD) and n != "self"}

    def make(self, params: dict, where: str) -> Hunt:
        """A validated hunt from a config section's parameters; every mistake is a ``ConfigError``."""
        accepted = self.parameters()
        unknown = set(params) - accepted
        if unknown:
            raise ConfigError(f"{where}: unknown parameter(s) {', '.join(sorted(unknown))}; "
                              f"accepted: {', '.join(sorted(accepted))}")
        try:
            hunt = self.build(**params)
            hunt.validate()
        except ConfigError as exc:
            raise ConfigError(f"{where}: {exc}") from None
        except (TypeError, ValueError) as exc:
            raise ConfigError(f"{where}: {exc}") from None
        return hunt
