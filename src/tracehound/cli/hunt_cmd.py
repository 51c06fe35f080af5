"""``tracehound hunt``: every hunt that applies to the inputs, every output an analyst acts on."""

from __future__ import annotations

from pathlib import Path
from typing import Optional

import typer
from rich.progress import Progress, SpinnerColumn, TextColumn, TimeElapsedColumn

from .. import hunt as hunting
from ..report import write_outputs
from . import app
from .common import (ENGINE_OPTION, MASTER_OPTION, QUIET_OPTION, console, friendly_errors, open_engine, out,
                     report_reads, summary_table)


def run_and_report(paths: list[Path], out_dir: Path, *, engine_name: str, master: str | None,
                   config: Path | None, quiet: bool, title: str = "tracehound report") -> hunting.HuntResult:
    """Run the hunt with a progress display, write all outputs, print the end-of-run summary."""
    cfg = hunting.HuntConfig.load(config)
    with open_engine(engine_name, master) as engine, Progress(
            SpinnerColumn(finished_text="✓"), TextColumn("{task.description}"), TimeElapsedColumn(),
            console=console, disable=quiet) as progress:
        steps: list = []

        def step(message: str) -> None:
            """Close the running step (its line stays, with its time) and start the next one."""
            if steps:
                progress.update(steps[-1], total=1, completed=1)
            steps.append(progress.add_task(message, total=None))

        result = hunting.run(paths, engine, cfg, step=step)
        step("writing findings, incidents, watchlist, blocklists and report.html")
        reads = result.read_summary()
        summary = [("inputs", reads.summary()),
                   ("families", ", ".join(f"{k}: {len(v):,} files" for k, v in result.routing.files.items())
                    or "canonical Parquet only"),
                   ("findings", ", ".join(f"{k}: {n}" for k, n in sorted(result.counts().items())) or "none"),
                   ("engine", engine.name)]
        paths_out = write_outputs(result.findings, out_dir, summary, title=title)
        progress.update(steps[-1], total=1, completed=1)
    report_reads(reads, out_dir)
    rows = [*summary, *[(name, str(path)) for name, path in paths_out.items()]]
    out.print(summary_table("tracehound hunt", rows))
    return result


@app.command()
def hunt(
    paths: list[Path] = typer.Argument(..., help="Log files, folders or globs; each is routed by content."),
    out_dir: Path = typer.Option(Path("tracehound-out"), "--out", help="Folder for every output file."),
    config: Optional[Path] = typer.Option(None, "--config", help="TOML file of hunt parameters "
                                                                 "(docs/configuration.md)."),
    engine_name: str = ENGINE_OPTION,
    master: Optional[str] = MASTER_OPTION,
    quiet: bool = QUIET_OPTION,
) -> None:
    """Run every hunt that applies and write findings, incidents, watchlist, blocklists and report.html."""
    with friendly_errors():
        run_and_report(paths, out_dir, engine_name=engine_name, master=master, config=config, quiet=quiet)
