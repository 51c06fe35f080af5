"""``tracehound demo``: simulate an organisation's logs with planted attacks, then hunt them.

It is the shortest path from a fresh install to a report: every log family tracehound reads is
simulated (sign-ins, Windows-style logons, Zeek connections, a web server's access log), the ground
truth is kept next to each log, and ``hunt`` runs on the logs alone — exactly as on real exports.
"""

from __future__ import annotations

from contextlib import nullcontext
from pathlib import Path
from typing import Optional

import typer

from ..config import HuntConfig
from . import app
from .common import ENGINE_OPTION, MASTER_OPTION, QUIET_OPTION, console, friendly_errors, out, summary_table
from .hunt_cmd import run_and_report

#: Days of logon / connection history: a 14-day baseline, then the days attacks are planted in.
FANOUT_DAYS, ATTACK_AFTER_DAY = 21, 15


def demo_config(path: Path) -> Path:
    """The hunt config the demo uses: fan-out hunts look at every day after the 14-day baseline."""
    detect = f"{(FANOUT_DAYS - ATTACK_AFTER_DAY + 1) * 24}h"
    path.write_text(
        "# Written by `tracehound demo`: fan-out hunts alert over the days after a 14-day baseline\n"
        "# (each hour compared with the entity's own history), instead of only the newest hour.\n"
        + "".join(f'[fanout.{name}]\nbaseline_days = 14\ndetect_last = "{detect}"\n\n'
                  for name in ("lateral", "host-scan", "port-scan")),
        encoding="utf-8")
    return path


@app.command()
def demo(
    out_dir: Path = typer.Option(Path("tracehound-demo"), "--out", help="Folder for the logs and results."),
    users: int = typer.Option(2000, help="Users in the simulated sign-in tenant."),
    days: int = typer.Option(120, help="Days of sign-in history."),
    seed: int = typer.Option(7, help="Random seed: the same seed gives the same logs."),
    engine_name: str = ENGINE_OPTION,
    master: Optional[str] = MASTER_OPTION,
    quiet: bool = QUIET_OPTION,
) -> None:
    """Simulate sign-ins, logons, connections and web logs with planted attacks, then run `hunt`."""
    from ..simulate.connections import ConnSimConfig, simulate_connections
    from ..simulate.logons import LogonSimConfig, simulate_logons
    from ..simulate.signins import simulate_signins
    from ..simulate.weblogs import simulate_weblogs

    with friendly_errors():
        logs = out_dir / "logs"
        with console.status("simulating an organisation's logs", spinner="dots") if not quiet else nullcontext():
            signins = simulate_signins(logs / "signins", users=users, days=days, seed=seed, gzip=True,
                                       files=min(days, 120), difficulty="standard")
            logons = simulate_logons(logs / "logons", LogonSimConfig(
                users=max(200, users // 2), days=FANOUT_DAYS, seed=seed, attack_after_day=ATTACK_AFTER_DAY))
            conns = simulate_connections(logs / "connections", ConnSimConfig(
                days=FANOUT_DAYS, seed=seed, attack_after_day=ATTACK_AFTER_DAY))
            web = simulate_weblogs(logs / "web", seed=seed)
        planted = [
            ("sign-ins", f"{signins.n_events:,} events, {len(signins.campaigns)} planted attacks "
                         f"(truth: {signins.labels_path})"),
            ("logons", f"{logons['events']:,} events, {len(logons['truth'])} lateral-movement bursts"),
            ("connections", f"{conns['connections']:,} connections, {len(conns['truth'])} planted scans/tunnels"),
            ("web", f"{web['lines']:,} requests, {web['scanners']} scanners (truth: {web['labels']})"),
        ]
        out.print(summary_table("tracehound demo: simulated", planted))
        inputs = [*signins.paths, Path(logons["path"]), Path(conns["path"]), Path(web["log"])]
        run_and_report(inputs, out_dir / "results", engine_name=engine_name, master=master,
                       config=HuntConfig.load(demo_config(out_dir / "demo.toml")), quiet=quiet,
                       title="tracehound demo report")
        out.print(f"Open {out_dir / 'results' / 'report.html'} in a browser.")
