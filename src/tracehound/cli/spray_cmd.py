"""``tracehound spray`` (options mapped onto the ``[spray]`` section of the one pipeline) and
``tracehound evaluate spray``."""

from __future__ import annotations

import contextlib
import tempfile
from pathlib import Path
from typing import Optional

import typer

from .. import registry
from ..config import HuntConfig
from ..errors import ConfigError
from . import app, evaluate_app
from .common import ENGINE_OPTION, MASTER_OPTION, QUIET_OPTION, console, friendly_errors, open_engine, out
from .hunt_cmd import print_top, run_and_report


#: The hunt section this command runs.
SECTION = "spray"


@app.command()
def spray(
    paths: list[Path] = typer.Argument(..., help="SigninLogs exports (JSON Lines, CSV, Parquet), files, "
                                                 "folders or globs."),
    out_dir: Path = typer.Option(Path("spray-out"), "--out", help="Folder for findings.jsonl, "
                                                                  "clusters.jsonl and the other outputs."),
    preset: str = typer.Option("default", "--preset", help="default, or mstic (the published settings)."),
    failure_codes: Optional[str] = typer.Option(None, "--failure-codes",
                                                help="Comma-separated result codes of spray candidates "
                                                     "(default 50126,50055; e.g. add 50053)."),
    seed: int = typer.Option(0, "--seed", help="Random state of the mixture's restarts."),
    engine_name: str = ENGINE_OPTION,
    master: Optional[str] = MASTER_OPTION,
    quiet: bool = QUIET_OPTION,
) -> None:
    """Find low-and-slow password spray campaigns and the accounts they got into (`hunt --only spray`)."""
    with friendly_errors():
        params: dict = {"preset": preset, "random_state": seed}
        if failure_codes:
            params["failure_codes"] = tuple(_codes(failure_codes))
        result = run_and_report(paths, out_dir, engine_name=engine_name, master=master,
                                config=HuntConfig({SECTION: params}), only=[SECTION], quiet=quiet,
                                extra=_clusters, extra_names=("clusters.jsonl",),
                                title="tracehound spray report")
        print_top(result)


def _clusters(result, write_dir: Path, out_dir: Path) -> list[tuple[str, str]]:
    """``clusters.jsonl`` and the spray's own summary rows."""
    from ..report.tables import write_records

    scores = result.scores.get(SECTION)
    if scores is None:
        return []
    write_records(scores.clusters, write_dir / "clusters.jsonl")
    path = out_dir / "clusters.jsonl"
    counts = result.counts()
    compromised = sorted({u for f in result.findings for u in f.evidence.get("compromised_users", [])})
    rows = [("set aside as typos", f"{scores.retried_excluded:,}")]
    rows += [(kind.title, str(counts.get(name, 0))) for name, kind in registry.kinds().items()
             if kind.hunt == SECTION]
    return rows + [("likely compromised accounts", str(len(compromised))), ("clusters.jsonl", str(path))]


def _status(message: str, quiet: bool):
    """A spinner on stderr for a long step, or nothing with --quiet."""
    return contextlib.nullcontext() if quiet else console.status(message)


def _codes(text: str) -> list[int]:
    try:
        return [int(c) for c in text.split(",") if c.strip()]
    except ValueError:
        raise ConfigError(f"--failure-codes must be comma-separated integers, got {text!r}") from None


@evaluate_app.command("spray")
def evaluate_spray(
    tenants: int = typer.Option(5, help="Simulated tenants (seeds first-seed, first-seed+1, ...)."),
    users: int = typer.Option(2000, help="Users per tenant."),
    days: int = typer.Option(120, help="Days per tenant."),
    difficulty: list[str] = typer.Option(["standard", "hard"], help="Difficulties, used in turn; "
                                                                    "repeatable."),
    preset: list[str] = typer.Option(["default", "mstic"], help="Presets to compare; repeatable."),
    first_seed: int = typer.Option(1, help="Seed of the first tenant."),
    work_dir: Optional[Path] = typer.Option(None, help="Where simulated tenants are written "
                                                       "(default: a temporary folder, removed)."),
    markdown: Optional[Path] = typer.Option(None, "--markdown", help="Also write the tables here."),
    real_m365: Optional[Path] = typer.Option(None, "--real-m365", help="Instead of simulated campaigns: "
                                             "replay the real M365 runs in this folder (UAL *.json / *.csv; "
                                             "t1110.003_* = sprays, others = negatives) low and slow inside "
                                             "benign simulated tenants (one per seed; --difficulty unused)."),
    replays: int = typer.Option(10, help="With --real-m365: copies of each run, one after another."),
    weeks: float = typer.Option(2.5, help="With --real-m365: weeks each run's copies are spread over."),
    one_run_per_tenant: bool = typer.Option(False, "--one-run-per-tenant",
                                            help="With --real-m365: each run in its own tenant instead of "
                                                 "all runs in one."),
    fmt: str = typer.Option("signinlogs", "--format", help="signinlogs (the simulator's SigninLogs), or okta: "
                            "each simulated tenant written as an Okta System Log, read back and hunted."),
    engine_name: str = ENGINE_OPTION,
    master: Optional[str] = MASTER_OPTION,
    quiet: bool = QUIET_OPTION,
) -> None:
    """Run the spray hunt on labelled tenants and print found / coverage / purity / precision / recall."""
    from ..evaluation.spray import markdown_tables, real_and_evaluate, simulate_and_evaluate

    with friendly_errors():
        if fmt not in ("signinlogs", "okta"):
            raise ConfigError(f"--format must be signinlogs or okta, got {fmt!r}")
        if fmt == "okta" and real_m365 is not None:
            raise ConfigError("--format okta simulates its tenants; it cannot be combined with --real-m365")
    with friendly_errors(), open_engine(engine_name, master) as engine:
        with tempfile.TemporaryDirectory(prefix="tracehound-eval-") as tmp:
            folder = work_dir or Path(tmp)
            with _status("evaluating", quiet) as status:
                progress = status.update if status is not None else None
                if real_m365 is not None:
                    scores = real_and_evaluate(
                        real_m365, folder, engine, seeds=tuple(range(first_seed, first_seed + tenants)),
                        users=users, days=days, replays=replays, weeks=weeks, presets=tuple(preset),
                        separate=one_run_per_tenant, progress=progress)
                else:
                    scores = simulate_and_evaluate(
                        folder, engine, tenants=tenants, users=users, days=days,
                        difficulties=tuple(difficulty), presets=tuple(preset), first_seed=first_seed,
                        export=None if fmt == "signinlogs" else fmt, progress=progress)
        text = markdown_tables(scores)
        out.print(text, highlight=False, markup=False)
        if markdown:
            markdown.write_text(text, encoding="utf-8")
