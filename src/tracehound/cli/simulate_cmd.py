"""``tracehound simulate signins``: write a labelled simulated tenant (thin layer over simulate_signins)."""

from __future__ import annotations

import contextlib

from pathlib import Path

import orjson
import typer

from ..errors import ConfigError
from . import simulate_app
from .common import QUIET_OPTION, console, friendly_errors, out, summary_table


def _refuse_real_exports(out_dir: Path) -> None:
    """The simulator replaces the ``SigninLogs*`` files of an earlier simulation; in a folder that holds
    sign-in files but no simulation's ``campaigns.json`` they are somebody's real exports: refuse."""
    if (out_dir / "campaigns.json").exists() or not out_dir.is_dir():
        return
    theirs = sorted(p.name for p in out_dir.iterdir() if p.name.startswith("SigninLogs"))
    if theirs:
        raise ConfigError(f"refusing to simulate into {out_dir}: it holds sign-in files that no simulation wrote "
                          f"({', '.join(theirs[:3])}{' …' if len(theirs) > 3 else ''}); choose an empty folder")


@simulate_app.command("signins")
def signins(
    out_dir: Path = typer.Option(..., "--out", help="Folder to write SigninLogs, labels.csv and campaigns.json into."),
    users: int = typer.Option(2000, "--users", help="Users in the tenant."),
    days: int = typer.Option(120, "--days", help="Days of sign-ins."),
    seed: int = typer.Option(0, "--seed", help="Same seed, same arguments → byte-identical output."),
    start: str = typer.Option("2024-01-01", "--start", help="First day (UTC), ISO date."),
    fmt: str = typer.Option("jsonl", "--format", help="jsonl (SigninLogs JSON Lines) or parquet."),
    gzip: bool = typer.Option(False, "--gzip", help="gzip the JSON Lines files."),
    files: int = typer.Option(1, "--files", help="Split into this many files by equal time windows."),
    file_minutes: float = typer.Option(None, "--file-minutes",
                                       help="Instead: one file per this many minutes, like a Sentinel export."),
    difficulty: str = typer.Option("standard", "--difficulty", help="Attack preset: none, easy, standard or hard."),
    no_confounders: bool = typer.Option(False, "--no-confounders",
                                        help="Leave out typos, travellers, new phones, the failing service account."),
    signins_per_day: float = typer.Option(3.0, "--signins-per-day", help="Mean sign-ins per user per working day."),
    quiet: bool = QUIET_OPTION,
) -> None:
    """Write a realistic Entra ID tenant's sign-ins with planted sprays, a fast spray and a brute force."""
    from ..simulate.signins import simulate_signins

    with friendly_errors():
        _refuse_real_exports(out_dir)
        with console.status("simulating sign-ins…", spinner="dots") if not quiet else contextlib.nullcontext():
            result = simulate_signins(out_dir, users=users, days=days, seed=seed, start=start, fmt=fmt, gzip=gzip,
                                      files=files, file_minutes=file_minutes, difficulty=difficulty,
                                      confounders=not no_confounders, signins_per_day=signins_per_day)
    meta = orjson.loads(result.campaigns_path.read_bytes())
    kinds = ", ".join(f"{k} {v:,}" for k, v in result.counts_by_kind.items())
    rows = [("events", f"{result.n_events:,}"), ("by kind", kinds),
            ("files", f"{len(result.paths)} ({result.paths[0] if result.paths else '-'}"
                      f"{' …' if len(result.paths) > 1 else ''})"),
            ("labels", str(result.labels_path)), ("campaigns", str(result.campaigns_path))]
    for c in meta["campaigns"]:
        rows.append((f"  {c['name']}", f"{c['kind']}: {c['attempts']:,} attempts, {c['successes']} successes, "
                                       f"{c['first_seen'][:10]} → {c['last_seen'][:10]}"))
    out.print(summary_table(f"simulated tenant: {users:,} users × {days} days, seed {seed}", rows))
