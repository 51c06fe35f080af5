"""``tracehound hunt``: route every input to the hunts that apply, run them, collect the findings.

Routing is by content (each reader's ``sniff_*``), so a folder mixing sign-in exports, EVTX, Zeek logs
and access logs just works; files no reader recognises are reported, not guessed at. Parameters come
from a TOML file whose sections map 1:1 onto the hunts' constructor arguments (see
``docs/configuration.md``); no config at all gives the documented defaults.
"""

from __future__ import annotations

import inspect
import tomllib
from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable, Iterable

import pyarrow.parquet as pq

from . import schema
from .badrecords import ReadReport
from .engine import Engine
from .errors import ConfigError, InputFormatError
from .fanout import FanoutDetector, ProtocolMismatch
from .findings import Finding
from .readers.connections import read_connections, sniff_connection_format
from .readers.files import expand
from .readers.logons import read_logons, sniff_logon_format
from .readers.signins import read_signins, sniff_signin_format
from .readers.weblogs import read_weblogs, sniff_weblog_format
from .spray.hunt import PRESETS as SPRAY_PRESETS
from .spray.hunt import SprayHunter
from .web.scoring import WebSessionDetector

#: Log families in routing order: the first sniffer that recognises a file wins.
FAMILIES = ("signins", "logons", "connections", "web_requests")
SNIFFERS: dict[str, Callable[[Path], str | None]] = {
    "signins": sniff_signin_format,
    "logons": sniff_logon_format,
    "connections": sniff_connection_format,
    "web_requests": sniff_weblog_format,
}
FANOUT_PRESETS = {"logons": ("lateral", "password-guessing", "brute-force"),
                  "connections": ("host-scan", "port-scan")}


@dataclass
class HuntConfig:
    """Parameters per hunt, exactly the keyword arguments of each hunt's constructor."""

    spray: dict = field(default_factory=dict)
    fanout: dict[str, dict] = field(default_factory=dict)
    web: dict = field(default_factory=dict)
    mismatch: dict = field(default_factory=dict)

    @classmethod
    def load(cls, path: str | Path | None) -> "HuntConfig":
        """Read a TOML config; unknown sections or parameters are errors that name them."""
        if path is None:
            return cls()
        try:
            data = tomllib.loads(Path(path).read_text(encoding="utf-8"))
        except (OSError, tomllib.TOMLDecodeError) as exc:
            raise ConfigError(f"cannot read config {path}: {exc}") from None
        unknown = set(data) - {"spray", "fanout", "web", "mismatch"}
        if unknown:
            raise ConfigError(f"{path}: unknown section(s) {', '.join(sorted(unknown))}; "
                              "expected spray, fanout, web, mismatch")
        config = cls(spray=dict(data.get("spray", {})), fanout=dict(data.get("fanout", {})),
                     web=dict(data.get("web", {})), mismatch=dict(data.get("mismatch", {})))
        config.validate(str(path))
        return config

    def validate(self, where: str = "config") -> None:
        spray = {k: v for k, v in self.spray.items() if k != "preset"}
        _check_kwargs(SprayHunter, spray, f"{where} [spray]")
        if self.spray.get("preset", "default") not in SPRAY_PRESETS:
            raise ConfigError(f"{where} [spray]: unknown preset {self.spray['preset']!r}; "
                              f"expected one of {', '.join(SPRAY_PRESETS)}")
        for name, params in self.fanout.items():
            if not isinstance(params, dict):
                raise ConfigError(f"{where} [fanout.{name}] must be a table of parameters")
            _check_kwargs(FanoutDetector, params, f"{where} [fanout.{name}]")
        _check_kwargs(WebSessionDetector, self.web, f"{where} [web]")
        _check_kwargs(ProtocolMismatch, self.mismatch, f"{where} [mismatch]")

    def fanout_presets(self, family: str) -> dict[str, dict]:
        """Preset → parameters for a family: the defaults, plus any preset the config adds or tunes."""
        presets = {p: {} for p in FANOUT_PRESETS.get(family, ())}
        for name, params in self.fanout.items():
            table = params.get("table", "logons" if name in (*FANOUT_PRESETS["logons"], "av-sustained")
                               else "connections")
            if table == family or name in presets:
                presets[name] = {k: v for k, v in params.items() if k != "table"}
        return presets


def _check_kwargs(cls: type, params: dict, where: str) -> None:
    accepted = set(inspect.signature(cls.__init__).parameters) - {"self"}
    unknown = set(params) - accepted
    if unknown:
        raise ConfigError(f"{where}: unknown parameter(s) {', '.join(sorted(unknown))}; "
                          f"accepted: {', '.join(sorted(accepted))}")


@dataclass
class Routing:
    """Which files go to which family, and the ones nothing recognised."""

    files: dict[str, list[Path]] = field(default_factory=dict)
    canonical: dict[str, list[Path]] = field(default_factory=dict)
    unrecognised: list[Path] = field(default_factory=list)


def _canonical_table(path: Path) -> str | None:
    """The canonical table a Parquet file already is (tracehound's own output), if any."""
    try:
        names = set(pq.read_schema(path).names)
    except Exception:  # noqa: BLE001 - any unreadable or non-Parquet file simply is not canonical
        return None
    for table, sch in schema.TABLES.items():
        if set(sch.names) <= names:
            return table
    return None


def route(paths: Iterable[str | Path]) -> Routing:
    """Sniff every file's content and assign it to a log family."""
    routing = Routing()
    for path in expand(paths):
        if path.suffix == ".parquet" and (table := _canonical_table(path)) and table != "signins":
            routing.canonical.setdefault(table, []).append(path)
            continue
        for family in FAMILIES:
            try:
                fmt = SNIFFERS[family](path)
            except Exception:  # noqa: BLE001 - a sniffer that chokes on a file means "not mine"
                fmt = None
            if fmt:
                routing.files.setdefault(family, []).append(path)
                break
        else:
            routing.unrecognised.append(path)
    return routing


@dataclass
class HuntResult:
    """Everything one hunt run produced, for the reporters and the CLI summary."""

    findings: list[Finding]
    reports: dict[str, ReadReport]
    routing: Routing

    def read_summary(self) -> ReadReport:
        """All readers' reports in one, with the files no reader recognised as unreadable."""
        total = ReadReport()
        for report in self.reports.values():
            total.merge(report)
        for path in self.routing.unrecognised:
            total.unreadable(path, "not a log format tracehound reads")
        return total

    def counts(self) -> dict[str, int]:
        counts: dict[str, int] = {}
        for f in self.findings:
            counts[f.kind] = counts.get(f.kind, 0) + 1
        return counts


Step = Callable[[str], None]


def run(paths: Iterable[str | Path], engine: Engine, config: HuntConfig | None = None, *,
        step: Step | None = None) -> HuntResult:
    """Route inputs, read each family once, run every hunt that applies; ``step`` hears progress."""
    config = config or HuntConfig()
    config.validate()
    say = step or (lambda _msg: None)
    say("routing inputs")
    routing = route(paths)
    if not routing.files and not routing.canonical:
        raise InputFormatError("no input is a log tracehound reads (sign-ins, Windows logons, LANL auth, "
                               "Linux auth syslog, "
                               "Zeek/firewall connections, web access logs): "
                               + ", ".join(str(p) for p in routing.unrecognised[:10]))
    findings: list[Finding] = []
    reports: dict[str, ReadReport] = {}
    for family in FAMILIES:
        table = _read_family(family, routing, engine, reports, say)
        if table is None:
            continue
        report = reports.get(family)
        read = f" ({report.records:,} records, {report.bad_count:,} set aside)" if report else ""
        findings.extend(_hunt_family(family, table, engine, config, lambda m, r=read: say(m + r)))
    return HuntResult(findings, reports, routing)


def _read_family(family: str, routing: Routing, engine: Engine, reports: dict, say: Step):
    files, canonical = routing.files.get(family, []), routing.canonical.get(family, [])
    if not files and not canonical:
        return None
    tables = []
    if files:
        say(f"reading {len(files):,} {family} file(s)")
        reader = {"signins": read_signins, "logons": read_logons, "connections": read_connections,
                  "web_requests": read_weblogs}[family]
        table, reports[family] = reader(files, engine)
        tables.append(table)
    tables.extend(engine.read_parquet(p) for p in canonical)
    columns = schema.TABLES[family].names
    result = tables[0].select(*columns)
    for extra in tables[1:]:
        result = result.union(extra.select(*columns))
    return result


def _hunt_family(family: str, table, engine: Engine, config: HuntConfig, say: Step) -> list[Finding]:
    if family == "signins":
        say("spray hunt: rarity, mixture, pruning")
        params = {k: v for k, v in config.spray.items() if k != "preset"}
        hunter = SprayHunter.from_preset(config.spray.get("preset", "default"), **params)
        return hunter.fit(table, engine=engine).detect()
    if family == "web_requests":
        say("web hunt: sessions and transitions")
        detector = WebSessionDetector(**config.web).fit(table, engine)
        return detector.detect(table)
    found: list[Finding] = []
    for name, params in config.fanout_presets(family).items():
        say(f"fan-out hunt: {name}")
        found.extend(FanoutDetector(name, **params).fit(table, engine).detect(table, engine))
    if family == "connections":
        say("protocol / port mismatch")
        found.extend(ProtocolMismatch(**config.mismatch).detect(table, engine))
    return found
