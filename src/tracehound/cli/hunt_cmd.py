"""``tracehound hunt``: every hunt that applies to the inputs, every output an analyst acts on.

:func:`run_and_report` is the one path every hunting command takes (``hunt``, ``spray``, ``fanout``,
``web``, ``demo``): options become a :class:`~tracehound.config.HuntConfig` and a selection of hunt
sections, :func:`tracehound.hunt.run` does the work, :func:`tracehound.report.write_outputs` writes the
files. A command's own extra files are written by its ``extra`` hook while the engine is still open.
"""

from __future__ import annotations

from datetime import datetime
from pathlib import Path
from typing import TYPE_CHECKING, Callable, Optional

import typer
from rich.markup import escape
from rich.progress import Progress, SpinnerColumn, TextColumn, TimeElapsedColumn

from ..config import HuntConfig
from ..outputs import check_outputs, staged
from ..windows import RunWindow
from . import app
if TYPE_CHECKING:  # the pipeline and the reporters are imported when a run starts, not for --help
    from ..hunt import HuntResult

from .common import (ENGINE_OPTION, MASTER_OPTION, QUIET_OPTION, console, friendly_errors, open_engine, out,
                     report_reads, summary_table)

#: A command's extra outputs: called with the result, the folder to write into (a staging folder that
#: replaces the output folder's files when the run succeeds) and the final output folder, returns
#: summary rows.
Extra = Callable[["HuntResult", Path, Path], list[tuple[str, str]]]
#: Exit code of a run that finished but set input aside (damaged files, rejected records).
PARTIAL = 3


def run_and_report(paths: list, out_dir: Path, *, engine_name: str, master: str | None,
                   config: HuntConfig, quiet: bool, only: list[str] | None = None,
                   read_options: dict | None = None, window: RunWindow | None = None,
                   baseline_until: datetime | None = None, extra: Extra | None = None,
                   extra_files: tuple[Path, ...] = (), extra_names: tuple[str, ...] = (),
                   block_policy=None, title: str = "tracehound report") -> HuntResult:
    """Run the pipeline with a progress display, write all outputs, print the end-of-run summary.

    ``extra_files`` (a blocklist path outside the folder) and ``extra_names`` (files the ``extra`` hook
    writes into the folder) are checked against the inputs before any work starts. ``block_policy``: what
    the blocklists may hold (:class:`tracehound.report.blocklist.BlockPolicy`). Exits with
    :data:`PARTIAL` when input was set aside, after writing everything for the rest.
    """
    from .. import hunt as hunting
    from ..report import OUTPUT_FILES, REJECTS, write_outputs

    check_outputs(paths, out_dir, (*extra_files, *(out_dir / n for n in (*OUTPUT_FILES, REJECTS, *extra_names))))
    with open_engine(engine_name, master) as engine, Progress(
            SpinnerColumn(finished_text="✓"), TextColumn("{task.description}"), TimeElapsedColumn(),
            console=console, disable=quiet) as progress:
        steps: list = []

        def step(message: str) -> None:
            """Close the running step (its line stays, with its time) and start the next one."""
            if steps:
                progress.update(steps[-1], total=1, completed=1)
            steps.append(progress.add_task(message, total=None))

        result = hunting.run(paths, engine, config, only=only, read_options=read_options, window=window,
                             baseline_until=baseline_until, step=step)
        step("writing findings, incidents, watchlist, blocklists and report.html")
        reads = result.read_summary()
        summary = _summary(result, reads, engine.name)
        with staged(out_dir, owned=(*OUTPUT_FILES, REJECTS, *extra_names)) as stage:
            policy = {"block_policy": block_policy} if block_policy is not None else {}
            written = write_outputs(result.findings, stage, summary, reads=reads, title=title, **policy)
            extra_rows = extra(result, stage, out_dir) if extra else []
        paths_out = {name: out_dir / path.name for name, path in written.items()}
        progress.update(steps[-1], total=1, completed=1)
    report_reads(reads, paths_out.get(REJECTS))
    rows = [*summary, *extra_rows, *[(name, str(path)) for name, path in paths_out.items()]]
    out.print(summary_table("tracehound hunt", rows))
    if _partial(result):
        console.print(f"[yellow]partial:[/] input was set aside ({escape(reads.summary())}); every output "
                      f"was written for the rest — see {paths_out.get(REJECTS)} (exit code {PARTIAL})",
                      highlight=False, soft_wrap=True)
        raise typer.Exit(code=PARTIAL)
    return result


def _summary(result: HuntResult, reads, engine: str) -> list[tuple[str, str]]:
    """The rows every run states: what was read, which hunts ran on which windows, what they found."""
    rows = [("inputs", reads.summary()),
            ("families", ", ".join(f"{k}: {len(v):,} files" for k, v in result.routing.files.items())
             or "canonical Parquet only"),
            ("hunts", ", ".join(result.scores) or "none"),
            ("findings", ", ".join(f"{k}: {n}" for k, n in sorted(result.counts().items())) or "none"),
            ("engine", engine)]
    rows += [(f"searched by {section}", searched.text()) for section, searched in result.searched.items()]
    rows += [(f"not run: {section}", reason) for section, reason in result.skipped.items()]
    if result.unused_tables:
        rows.append(("not hunted", ", ".join(result.unused_tables) + " (no selected hunt reads these inputs)"))
    return rows


def _partial(result: HuntResult) -> bool:
    """Input a reader set aside: rejected records, damaged or unreadable files of a known family, or a
    file or folder that could not be opened (a file that is no log at all is named, but nothing of a
    log was lost)."""
    return any(r.partial for r in result.reports.values()) or bool(result.routing.unreadable)


def print_top(result: HuntResult, n: int = 10) -> None:
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
    since: Optional[str] = typer.Option(None, "--since", help="Only rows at or after this ISO-8601 time (UTC)."),
    until: Optional[str] = typer.Option(None, "--until", help="Only rows before this ISO-8601 time (UTC)."),
    detect_last: Optional[str] = typer.Option(None, "--detect-last",
                                              help="Every hunt learns from the rows before the last D (1h, "
                                                   "1d, 7d ...) and reports what is active in the last D."),
    block_internal: bool = typer.Option(False, "--block-internal",
                                        help="Put internal actor addresses in the blocklists too (default: "
                                             "isolate_hosts.txt)."),
    block_widest_v4: int = typer.Option(24, "--block-widest-v4", help="Widest IPv4 network a blocklist may hold."),
    block_widest_v6: int = typer.Option(48, "--block-widest-v6", help="Widest IPv6 network a blocklist may hold."),
    engine_name: str = ENGINE_OPTION,
    master: Optional[str] = MASTER_OPTION,
    quiet: bool = QUIET_OPTION,
) -> None:
    """Run every hunt that applies and write findings, incidents, watchlist, blocklists and report.html."""
    from ..report.blocklist import BlockPolicy

    with friendly_errors():
        policy = BlockPolicy(include_internal=block_internal, widest_v4=block_widest_v4, widest_v6=block_widest_v6)
        run_and_report(paths, out_dir, engine_name=engine_name, master=master,
                       config=HuntConfig.load(config), only=list(only) or None, quiet=quiet,
                       window=RunWindow.parse(since, until, detect_last), block_policy=policy)
