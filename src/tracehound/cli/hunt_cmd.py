"""``tracehound hunt``: every hunt that applies to the inputs, every output an analyst acts on.

:func:`run_and_report` is the one path every hunting command takes (``hunt``, ``spray``, ``fanout``,
``web``, ``demo``): options become a :class:`~tracehound.config.HuntConfig` and a selection of hunt
sections, :func:`tracehound.hunt.run` does the work, :func:`tracehound.report.write_outputs` writes the
files. A command's own extra files are written by its ``extra`` hook while the engine is still open.
"""

from __future__ import annotations

from datetime import datetime
from pathlib import Path
from typing import Callable, Optional

import typer
from rich.progress import Progress, SpinnerColumn, TextColumn, TimeElapsedColumn

from .. import hunt as hunting
from ..config import HuntConfig
from ..report import write_outputs
from . import app
from .common import (ENGINE_OPTION, MASTER_OPTION, QUIET_OPTION, console, friendly_errors, open_engine, out,
                     report_reads, summary_table)

#: A command's extra outputs: called with the result and the output folder, returns summary rows.
Extra = Callable[[hunting.HuntResult, Path], list[tuple[str, str]]]


def run_and_report(paths: list, out_dir: Path, *, engine_name: str, master: str | None,
                   config: HuntConfig, quiet: bool, only: list[str] | None = None,
                   read_options: dict | None = None, baseline_until: datetime | None = None,
                   extra: Extra | None = None, title: str = "tracehound report") -> hunting.HuntResult:
    """Run the pipeline with a progress display, write all outputs, print the end-of-run summary."""
    with open_engine(engine_name, master) as engine, Progress(
            SpinnerColumn(finished_text="✓"), TextColumn("{task.description}"), TimeElapsedColumn(),
            console=console, disable=quiet) as progress:
        steps: list = []

        def step(message: str) -> None:
            """Close the running step (its line stays, with its time) and start the next one."""
            if steps:
                progress.update(steps[-1], total=1, completed=1)
            steps.append(progress.add_task(message, total=None))

        result = hunting.run(paths, engine, config, only=only, read_options=read_options,
                             baseline_until=baseline_until, step=step)
        step("writing findings, incidents, watchlist, blocklists and report.html")
        reads = result.read_summary()
        summary = [("inputs", reads.summary()),
                   ("families", ", ".join(f"{k}: {len(v):,} files" for k, v in result.routing.files.items())
                    or "canonical Parquet only"),
                   ("hunts", ", ".join(result.scores) or "none"),
                   ("findings", ", ".join(f"{k}: {n}" for k, n in sorted(result.counts().items())) or "none"),
                   ("engine", engine.name)]
        if result.unused_tables:
            summary.append(("not hunted", ", ".join(result.unused_tables)
                            + " (no selected hunt reads these inputs)"))
        paths_out = write_outputs(result.findings, out_dir, summary, reads=reads, title=title)
        extra_rows = extra(result, out_dir) if extra else []
        progress.update(steps[-1], total=1, completed=1)
    report_reads(reads, paths_out.get("rejects.jsonl"))
    rows = [*summary, *extra_rows, *[(name, str(path)) for name, path in paths_out.items()]]
    out.print(summary_table("tracehound hunt", rows))
    return result


def print_top(result: hunting.HuntResult, n: int = 10) -> None:
    """The ``n`` highest-scoring findings, title and explanation, for the single-hunt commands."""
    for f in sorted(result.findings, key=lambda f: (-f.score, f.id))[:n]:
        out.print(f"[{f.severity}] {f.title}\n  {f.explanation}", highlight=False)


@app.command()
def hunt(
    paths: list[Path] = typer.Argument(..., help="Log files, folders or globs; each is routed by content."),
    out_dir: Path = typer.Option(Path("tracehound-out"), "--out", help="Folder for every output file."),
    config: Optional[Path] = typer.Option(None, "--config", help="TOML file of hunt parameters "
                                                                 "(docs/configuration.md)."),
    only: list[str] = typer.Option([], "--only", help="Run only this hunt section (spray, web, mismatch, "
                                                      "fanout.lateral, ...); repeatable."),
    engine_name: str = ENGINE_OPTION,
    master: Optional[str] = MASTER_OPTION,
    quiet: bool = QUIET_OPTION,
) -> None:
    """Run every hunt that applies and write findings, incidents, watchlist, blocklists and report.html."""
    with friendly_errors():
        run_and_report(paths, out_dir, engine_name=engine_name, master=master,
                       config=HuntConfig.load(config), only=list(only) or None, quiet=quiet)
