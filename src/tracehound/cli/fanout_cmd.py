"""``tracehound fanout`` (options mapped onto one ``[fanout.PRESET]`` or ``[mismatch]`` section of the
one pipeline), ``simulate logons|connections`` and ``evaluate fanout``."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Optional

import typer

from .. import registry
from ..config import HuntConfig
from ..errors import ConfigError
from . import app, evaluate_app, simulate_app
from .common import (ENGINE_OPTION, MASTER_OPTION, QUIET_OPTION, console, friendly_errors, open_engine,
                     summary_table)
from .hunt_cmd import print_top, run_and_report

#: ``--preset protocol-mismatch`` runs the ``[mismatch]`` hunt.
MISMATCH, MISMATCH_SECTION = "protocol-mismatch", "mismatch"


def _mapping(items: list[str]) -> dict[str, str] | None:
    result = {}
    for item in items:
        canon, sep, column = item.partition("=")
        if not sep:
            raise ConfigError(f"--map {item!r} is not canonical_column=CSV header")
        result[canon.strip()] = column.strip()
    return result or None


@app.command()
def fanout(
    paths: list[Path] = typer.Argument(..., help="Log files, folders, globs or canonical Parquet."),
    preset_name: str = typer.Option("lateral", "--preset",
                                    help="lateral, password-guessing, brute-force, host-scan, port-scan, av-sustained, "
                                         "protocol-mismatch or custom (with --entity/--target)."),
    out_dir: Path = typer.Option(Path("fanout-out"), "--out", help="Folder for findings.jsonl and the other "
                                                                   "outputs."),
    baseline_days: Optional[float] = typer.Option(None, help="Baseline window before the detection window, "
                                                             "days (default 14)."),
    detect_last: Optional[str] = typer.Option(None, help="Detection window (default: the preset's, 1h; "
                                                            "password-guessing and brute-force 1d)."),
    end: Optional[str] = typer.Option(None, help="End of the detection window, ISO-8601 UTC "
                                                 "(default: end of the newest bucket)."),
    bucket: Optional[str] = typer.Option(None, help="Bucket width: 10m, 1h, 1d ..."),
    k: Optional[float] = typer.Option(None, help="Bound = ceil(mean + k·σ) (default 2)."),
    seed_only: bool = typer.Option(False, "--seed-only",
                                   help="The seed statistic alone: no cold start, no new-target rule, "
                                        "no half-shifted buckets, detection window inside the "
                                        "baseline."),
    entity: Optional[str] = typer.Option(None, help="custom: column with one baseline per value."),
    target: Optional[str] = typer.Option(None, help="custom: column counted distinct per bucket."),
    table: str = typer.Option("logons", help="custom: logons or connections."),
    where: list[str] = typer.Option([], help="custom: keep rows with column=value[,value]; repeatable."),
    map_: list[str] = typer.Option([], "--map", help="Firewall CSV: canonical=header, repeatable."),
    keep_machine: bool = typer.Option(False, "--keep-machine-accounts", help="Keep NAME$ accounts."),
    keep_anonymous: bool = typer.Option(False, "--keep-anonymous", help="Keep ANONYMOUS LOGON."),
    keep_system: bool = typer.Option(False, "--keep-system", help="Keep SYSTEM / service logons."),
    engine_name: str = ENGINE_OPTION,
    master: Optional[str] = MASTER_OPTION,
    quiet: bool = QUIET_OPTION,
) -> None:
    """Find entities that reached unusually many distinct targets (`hunt --only fanout.PRESET`)."""
    from ..fanout import SEED_ONLY
    from ..readers.logons import LogonFilter
    from ..windows import utc

    with friendly_errors():
        section, params = _section(preset_name, entity=entity, target=target, table=table, where=where)
        if section != MISMATCH_SECTION:
            given = {"baseline_days": baseline_days, "detect_last": detect_last, "bucket": bucket, "k": k,
                     "end": utc(end, "--end")}
            params.update({key: value for key, value in given.items() if value is not None})
            if seed_only:
                params.update(SEED_ONLY)
        read_options = {"logons": {"accounts": LogonFilter(not keep_machine, not keep_anonymous, not keep_system)},
                        "connections": {"mapping": _mapping(map_)}}
        result = run_and_report(paths, out_dir, engine_name=engine_name, master=master,
                                config=HuntConfig({section: params}), only=[section], quiet=quiet,
                                read_options=read_options, extra=lambda r, _write, _final: _windows(r, section),
                                title="tracehound fan-out report")
        print_top(result)


def _section(preset_name: str, *, entity, target, table, where) -> tuple[str, dict]:
    """The hunt section and its parameters for ``--preset``."""
    if preset_name == MISMATCH:
        return MISMATCH_SECTION, {}
    if preset_name == "custom":
        if not entity or not target:
            raise ConfigError("--preset custom needs --entity and --target")
        return "fanout.custom", {"table": table, "entity": entity, "target": target, "where": list(where)}
    section = f"fanout.{preset_name}"
    if section not in registry.hunts():
        raise ConfigError(f"unknown fan-out preset {preset_name!r}; expected one of "
                          + ", ".join(s.split(".", 1)[1] for s in registry.hunts() if s.startswith("fanout."))
                          + f" or {MISMATCH}")
    return section, {}


def _windows(result, section: str) -> list[tuple[str, str]]:
    """The windows the hunt searched: an analyst must know which hours "no finding" speaks for."""
    scores = result.scores.get(section)
    w = getattr(scores, "windows", None)
    if w is None:
        return [("hunt", section)]
    return [("hunt", section), ("entities with a baseline", f"{scores.baseline_entities:,}"),
            ("baseline", f"{w.to_time(w.baseline_start):%Y-%m-%d %H:%M} – "
                         f"{w.to_time(w.baseline_end):%Y-%m-%d %H:%M} UTC"),
            ("detection", f"{w.to_time(w.detect_start):%Y-%m-%d %H:%M} – "
                          f"{w.to_time(w.detect_end):%Y-%m-%d %H:%M} UTC")]


@simulate_app.command("logons")
def simulate_logons_cmd(
    out_dir: Path = typer.Argument(..., help="Folder to write logons.*.gz and truth.jsonl into."),
    users: int = typer.Option(1000, help="Users, including ~2% admins and ~1% service accounts."),
    days: int = typer.Option(30),
    seed: int = typer.Option(0),
    bursts: int = typer.Option(5, help="Planted lateral-movement bursts."),
    attack_after_day: int = typer.Option(15, help="Bursts happen on this day or later."),
    fmt: str = typer.Option("lanl", "--format", help="lanl or windows-json."),
) -> None:
    """An enterprise's logons with planted lateral movement (ground truth in truth.jsonl)."""
    from ..simulate.logons import LogonSimConfig, simulate_logons

    with friendly_errors():
        if fmt not in ("lanl", "windows-json"):
            raise ConfigError(f"--format {fmt!r}: expected lanl or windows-json")
        result = simulate_logons(out_dir, LogonSimConfig(users=users, days=days, seed=seed,
                                                         lateral_bursts=bursts,
                                                         attack_after_day=attack_after_day, fmt=fmt))
        console.print(f"{result['events']:,} logon events, {len(result['truth'])} planted bursts → "
                      f"{result['path']}")


@simulate_app.command("connections")
def simulate_connections_cmd(
    out_dir: Path = typer.Argument(..., help="Folder to write conn.log.gz and truth.jsonl into."),
    hosts: int = typer.Option(200),
    days: int = typer.Option(30),
    seed: int = typer.Option(0),
    host_scans: int = typer.Option(3),
    port_scans: int = typer.Option(3),
    attack_after_day: int = typer.Option(15),
) -> None:
    """A network's Zeek conn.log with planted host/port scans and a tunnel (truth in truth.jsonl)."""
    from ..simulate.connections import ConnSimConfig, simulate_connections

    with friendly_errors():
        result = simulate_connections(out_dir, ConnSimConfig(hosts=hosts, days=days, seed=seed,
                                                             host_scans=host_scans,
                                                             port_scans=port_scans,
                                                             attack_after_day=attack_after_day))
        console.print(f"{result['connections']:,} connections, {len(result['truth'])} planted attacks → "
                      f"{result['path']}")


@evaluate_app.command("fanout")
def evaluate_fanout_cmd(
    seeds: str = typer.Option("0,1,2", help="Comma-separated simulator seeds."),
    users: int = typer.Option(1000),
    hosts: int = typer.Option(200),
    days: int = typer.Option(30),
    baseline_days: int = typer.Option(14),
    out_file: Optional[Path] = typer.Option(None, "--out", help="Write the numbers as JSON here."),
    engine_name: str = ENGINE_OPTION,
    master: Optional[str] = MASTER_OPTION,
) -> None:
    """Recall and false findings per 1,000 entity-days on the simulators, seed vs improved."""
    from ..evaluation.fanout import evaluate_fanout

    with friendly_errors(), open_engine(engine_name, master) as engine:
        try:
            seed_list = [int(s) for s in seeds.split(",") if s.strip()]
        except ValueError:
            raise ConfigError(f"--seeds {seeds!r} is not a comma-separated list of integers") from None
        result = evaluate_fanout(engine, seeds=seed_list, users=users, hosts=hosts, days=days,
                                 baseline_days=baseline_days)
        rows = []
        for mode, per in result["results"].items():
            for hunt, s in per.items():
                rows.append((f"{mode} {hunt}", f"found {s['found']}/{s['planted']}, "
                                               f"{s['false_findings']} false "
                                               f"({s['false_per_1000_entity_days']} per 1,000 entity-days)"))
        console.print(summary_table(f"fan-out evaluation, seeds {seed_list}", rows))
        if out_file:
            out_file.parent.mkdir(parents=True, exist_ok=True)
            out_file.write_text(json.dumps(result, indent=2))
            console.print(f"written to {out_file}")
