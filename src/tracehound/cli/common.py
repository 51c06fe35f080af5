"""What every command shares: the console, clean error messages instead of tracebacks, engine options."""

from __future__ import annotations

import contextlib
from pathlib import Path
from typing import Iterator

import typer
from rich.console import Console
from rich.markup import escape
from rich.table import Table

from typing import TYPE_CHECKING

from .. import __version__
from ..errors import TracehoundError
from . import app

if TYPE_CHECKING:  # imported where used, so `tracehound --help` stays fast
    from ..badrecords import ReadReport
    from ..engine import Engine

console = Console(stderr=True)
out = Console()

ENGINE_OPTION = typer.Option("duckdb", "--engine", help="Where row-level work runs: duckdb or spark.")
MASTER_OPTION = typer.Option(None, "--spark-master",
                             help="Spark master (local[*], spark://host:7077, yarn); spark engine only.")
QUIET_OPTION = typer.Option(False, "--quiet", "-q", help="No progress bars; only the final summary.")


@contextlib.contextmanager
def friendly_errors() -> Iterator[None]:
    """Turn tracehound's own errors into one red line and exit code 2 — never a traceback."""
    try:
        yield
    except TracehoundError as exc:
        console.print(f"[bold red]error:[/] {escape(str(exc))}", highlight=False, markup=True, soft_wrap=True)
        raise typer.Exit(code=2) from None


@contextlib.contextmanager
def open_engine(name: str, master: str | None) -> Iterator[Engine]:
    """An engine for the duration of a command, closed (staging removed) afterwards."""
    from ..engine import connect

    engine = connect(name, master=master)
    try:
        yield engine
    finally:
        engine.close()


def report_reads(report: ReadReport, rejects: Path | None, label: str = "read") -> None:
    """Print what the readers did and where the set-aside records were written (``rejects``)."""
    console.print(f"{label}: {report.summary()}")
    if rejects is not None:
        console.print(f"  set-aside records and unreadable files: {rejects}")
    for rec in report.unreadable_files[:10]:
        console.print(f"  [yellow]unreadable[/] {escape(str(rec.file))}: {escape(rec.reason)}", highlight=False)
    for line in report.details():  # damaged files with what was lost, then warnings (e.g. events no hunt reads)
        console.print(f"  [yellow]{escape(line)}[/]", highlight=False, soft_wrap=True)


def summary_table(title: str, rows: list[tuple[str, str]]) -> Table:
    """A two-column end-of-run summary."""
    table = Table(title=title, show_header=False, title_justify="left")
    table.add_column(style="bold")
    table.add_column()
    for key, value in rows:
        table.add_row(key, value)
    return table


@app.command()
def version() -> None:
    """Print the tracehound version."""
    out.print(__version__)
