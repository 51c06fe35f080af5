"""``tracehound ingest ...``: turn raw exports into a canonical table saved as Parquet.

Useful on its own (normalise months of exports once, hunt many times) and as the first step a hunt
runs. The command only wires options to :func:`tracehound.readers.signins.read_signins`.
"""

from __future__ import annotations

from pathlib import Path

import typer
from rich.progress import Progress

from ..outputs import atomic, check_outputs
from . import app
from .common import (ENGINE_OPTION, MASTER_OPTION, QUIET_OPTION, console, friendly_errors, open_engine,
                     report_reads)

ingest_app = typer.Typer(help="Read raw log exports into tracehound's canonical tables (Parquet).",
                         no_args_is_help=True)
app.add_typer(ingest_app, name="ingest")


@ingest_app.command("signins")
def ingest_signins(
    paths: list[str] = typer.Argument(..., help="Files, folders or globs: SigninLogs JSON Lines / "
                                      "CSV / Parquet, M365 audit sign-in records; gzip'd or not."),
    out: Path = typer.Option(..., "--out", "-o", help="Parquet file to write the signins table to "
                             "(with --engine spark, a folder of Parquet parts)."),
    engine: str = ENGINE_OPTION,
    spark_master: str = MASTER_OPTION,
    quiet: bool = QUIET_OPTION,
) -> None:
    """Read sign-in logs into the canonical signins table and write it as Parquet."""
    with friendly_errors():
        check_outputs(paths, files=[out])
        _ingest(paths, out, engine, spark_master, quiet)


def _ingest(paths: list[str], out: Path, engine: str, spark_master: str | None, quiet: bool) -> None:
    from ..readers.signins import read_signins
    from ..report import write_rejects

    with open_engine(engine, spark_master) as eng:
        with Progress(console=console, disable=quiet, transient=True) as bar:
            task = bar.add_task("reading sign-in files", total=None)
            table, report = read_signins(
                paths, eng, progress=lambda done, total: bar.update(task, completed=done, total=total))
        with atomic(out) as tmp:
            eng.write_parquet(table, tmp)
        report_reads(report, write_rejects(report, out.parent))
        formats = ", ".join(f"{n} {fmt}" for fmt, n in sorted(report.formats.items()))
        console.print(f"wrote {report.records:,} sign-ins to {out} ({formats})", highlight=False)
