"""The hunt configuration: one TOML section per hunt, each mapping one to one onto its parameters.

Sections are the registry's hunt sections (``[spray]``, ``[web]``, ``[mismatch]``, ``[fanout.lateral]``
…; see ``docs/configuration.md``). Every section is checked by building its hunt and calling its
``validate()`` before any input is read, so a typo, an unknown preset or a parameter of the wrong type
is one clear ``ConfigError`` that names the section — never a traceback half-way through a hunt.
"""

from __future__ import annotations

import tomllib
from dataclasses import dataclass, field
from pathlib import Path

from . import registry
from .contract import Hunt, HuntEntry
from .errors import ConfigError

#: TOML tables whose sub-tables are hunt sections: ``[fanout.lateral]`` is section ``fanout.lateral``.
NESTED = ("fanout", "network")


@dataclass
class HuntConfig:
    """Parameters per hunt section: exactly the keyword arguments of each hunt's ``build``."""

    sections: dict[str, dict] = field(default_factory=dict)

    @classmethod
    def load(cls, path: str | Path | None) -> "HuntConfig":
        """Read and validate a TOML config; no path gives the documented defaults."""
        if path is None:
            return cls()
        try:
            data = tomllib.loads(Path(path).read_text(encoding="utf-8"))
        except (OSError, UnicodeDecodeError, tomllib.TOMLDecodeError) as exc:
            raise ConfigError(f"cannot read config {path}: {exc}") from None
        return cls.from_dict(data, where=str(path))

    @classmethod
    def from_dict(cls, data: dict, *, where: str = "config") -> "HuntConfig":
        """Sections from a parsed TOML document (``{"fanout": {"lateral": {...}}}`` nests)."""
        sections: dict[str, dict] = {}
        for name, value in data.items():
            if name in NESTED and isinstance(value, dict) and all(isinstance(v, dict) for v in value.values()):
                sections.update({f"{name}.{sub}": dict(params) for sub, params in value.items()})
            else:
                sections[name] = value
        config = cls(sections)
        config.validate(where)
        return config

    def validate(self, where: str = "config") -> None:
        """Every section names a registered hunt and builds with valid parameters."""
        for section, params in self.sections.items():
            if section not in registry.hunts():
                raise ConfigError(f"{where}: unknown section [{section}]; expected one of "
                                  + ", ".join(f"[{s}]" for s in registry.hunts()))
            if not isinstance(params, dict):
                raise ConfigError(f"{where} [{section}] must be a table of parameters")
            self.build(section, where)

    def params(self, section: str) -> dict:
        return dict(self.sections.get(section, {}))

    def build(self, section: str, where: str = "config") -> Hunt:
        """A fresh, validated hunt for ``section`` with its configured parameters."""
        return registry.hunt(section).make(self.params(section), f"{where} [{section}]")

    def selected(self, only: list[str] | None = None) -> list[HuntEntry]:
        """The hunts a run uses: ``only`` if given, else every default hunt and every configured one."""
        entries = registry.hunts()
        if only:
            return [registry.hunt(s) for s in dict.fromkeys(only)]
        return [e for s, e in entries.items() if e.default or s in self.sections]

    def table_for(self, entry: HuntEntry) -> str:
        return entry.table_for(self.params(entry.section))
