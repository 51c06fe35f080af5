"""``tracehound fanout``, ``simulate logons|connections`` and ``evaluate fanout``: thin CLI wrappers."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Optional

import typer

from ..errors import ConfigError
from ..fanout import SEED_ONLY, FanoutDetector, ProtocolMismatch, custom_spec, parse_where, preset
from ..findings import write_jsonl
from ..readers.connections import read_connections
from ..readers.logons import LogonFilter, parse_time, read_logons
from . import app, evaluate_app, simulate_app
from .common import (ENGINE_OPTION, MASTER_OPTION, console, friendly_errors, open_engine, out,
                     report_reads, summary_table)

MISMATCH = "protocol-mismatch"


def _mapping(items: list[str]) -> dict[str, str] | None:
    result = {}
    for item in items:
        canon, sep, column = item.partition("=")
        if not sep:
            raise ConfigError(f"--map {item!r} is not canonical_column=CSV header")
        result[canon.strip()] = column.strip()
    return result or None


def _read(paths: list[Path], table: str, engine, out_dir: Path, mapping, accounts: LogonFilter):
    """Parquet inputs are taken as already-canonical tables; anything else goes through a reader."""
    if paths and all(p.suffix == ".parquet" or (p.is_dir() and any(p.glob("*.parquet"))) for p in paths):
        tables = [engine.read_parquet(p) for p in paths]
        result = tables[0]
        for extra in tables[1:]:
            result = result.union(extra)
        return result
    if table == "logons":
        result, report = read_logons(paths, engine, accounts=accounts)
    elif table == "connections":
        result, report = read_connections(paths, engine, mapping)
    else:
        raise ConfigError(f"the {table} table has no log reader; pass it as Parquet files")
    report_reads(report, out_dir)
    return result


@app.command()
def fanout(
    paths: list[Path] = typer.Argument(..., help="Log files, folders, globs or canonical Parquet."),
    preset_name: str = typer.Option("lateral", "--preset",
                                    help="lateral, password-guessing, brute-force, host-scan, port-scan, av-sustained, "
                                         "protocol-mismatch or custom (with --entity/--target)."),
    out_dir: Path = typer.Option(Path("fanout-out"), "--out", help="Folder for findings.jsonl."),
    baseline_days: float = typer.Option(14, help="Baseline window before the detection window, days."),
    detect_last: Optional[str] = typer.Option(None, help="Detection window (default: the preset's, 1h; "
                                                            "password-guessing and brute-force 1d)."),
    end: Optional[str] = typer.Option(None, help="End of the detection window, ISO-8601 UTC "
                                                 "(default: end of the newest bucket)."),
    bucket: Optional[str] = typer.Option(None, help="Bucket width: 10m, 1h, 1d ..."),
    k: float = typer.Option(2.0, help="Bound = ceil(mean + k·σ)."),
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
) -> None:
    """Find entities that reached unusually many distinct targets (lateral movement, scans)."""
    with friendly_errors(), open_engine(engine_name, master) as engine:
        accounts = LogonFilter(not keep_machine, not keep_anonymous, not keep_system)
        if preset_name == MISMATCH:
            conns = _read(paths, "connections", engine, out_dir, _mapping(map_), accounts)
            findings = ProtocolMismatch().detect(conns, engine)
            rows = [("hunt", MISMATCH)]
        else:
            if preset_name == "custom":
                if not entity or not target:
                    raise ConfigError("--preset custom needs --entity and --target")
                spec = custom_spec(table, entity, target, where=parse_where(where))
            else:
                spec = preset(preset_name)
            options = SEED_ONLY if seed_only else {}
            detector = FanoutDetector(spec, bucket=bucket, detect_last=detect_last,
                                      end=parse_time(end) if end else None,
                                      baseline_days=baseline_days, k=k, **options)
            data = _read(paths, spec.table, engine, out_dir, _mapping(map_), accounts)
            findings = detector.fit(data, engine).detect(data, engine)
            w = detector.windows_
            rows = [("hunt", spec.name), ("entities with a baseline", f"{len(detector.stats_):,}")]
            if w is not None:
                rows += [("baseline", f"{w.to_time(w.baseline_start):%Y-%m-%d %H:%M} – "
                                      f"{w.to_time(w.baseline_end):%Y-%m-%d %H:%M} UTC"),
                         ("detection", f"{w.to_time(w.detect_start):%Y-%m-%d %H:%M} – "
                                       f"{w.to_time(w.detect_end):%Y-%m-%d %H:%M} UTC")]
        path = write_jsonl(findings, out_dir / "findings.jsonl")
        rows += [("findings", str(len(findings))), ("written to", str(path))]
        console.print(summary_table("fan-out", rows))
        for f in sorted(findings, key=lambda f: -f.score)[:10]:
            out.print(f"[{f.severity}] {f.explanation}", highlight=False)


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
    from ..fanout.evaluate import evaluate_fanout

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
