"""``tracehound evaluate network``: the network hunts on the connection simulator, as numbers."""

from __future__ import annotations

import json
from contextlib import nullcontext
from pathlib import Path
from typing import Optional

import typer

from ..errors import ConfigError
from . import evaluate_app
from .common import ENGINE_OPTION, MASTER_OPTION, QUIET_OPTION, console, friendly_errors, open_engine, out


@evaluate_app.command("network")
def evaluate_network_cmd(
    seeds: str = typer.Option("0,1,2", help="Comma-separated simulator seeds."),
    hosts: int = typer.Option(200, help="Workstations per simulated network (plus 20 servers)."),
    days: int = typer.Option(30, help="Days simulated; every day after the baseline is judged."),
    baseline_days: int = typer.Option(14, help="Baseline before each judged day."),
    hunt: list[str] = typer.Option([], "--hunt", help="Only these hunts (exfiltration, peer-groups, dead-space, "
                                                      "long-session); repeatable."),
    out_file: Optional[Path] = typer.Option(None, "--out", help="Write the numbers as JSON here."),
    engine_name: str = ENGINE_OPTION,
    master: Optional[str] = MASTER_OPTION,
    quiet: bool = QUIET_OPTION,
) -> None:
    """Planted exfiltration, new peer groups, dead-space probes and long sessions found, and false
    findings per 1,000 host-days (and on the backup / scanner / patch / proxy servers); prints the
    README table."""
    from ..evaluation.network import HUNTS, evaluate_network, markdown_table

    with friendly_errors(), open_engine(engine_name, master) as engine:
        try:
            seed_list = [int(s) for s in seeds.split(",") if s.strip()]
        except ValueError:
            raise ConfigError(f"--seeds {seeds!r} is not a comma-separated list of integers") from None
        unknown = [h for h in hunt if h not in HUNTS]
        if unknown:
            raise ConfigError(f"--hunt {unknown[0]!r}: expected one of {', '.join(HUNTS)}")
        if not seed_list or days <= baseline_days or hosts < 6:
            raise ConfigError("need at least one seed, --days above --baseline-days and --hosts of 6 or more")
        status = console.status(f"simulating and hunting {len(seed_list)} network(s)", spinner="dots")
        with status if not quiet else nullcontext():
            result = evaluate_network(engine, seeds=seed_list, hosts=hosts, days=days,
                                      baseline_days=baseline_days, hunts=list(dict.fromkeys(hunt)) or None)
        out.print(markdown_table(result), markup=False, highlight=False, soft_wrap=True)
        for name, s in result["results"].items():
            if s["missed"] or s["false_ids"]:
                console.print(f"{name}: missed {s['missed'] or 'none'}; false {s['false_ids'][:10] or 'none'}",
                              markup=False, highlight=False)
        if out_file:
            out_file.parent.mkdir(parents=True, exist_ok=True)
            out_file.write_text(json.dumps(result, indent=2))
            console.print(f"written to {out_file}")

