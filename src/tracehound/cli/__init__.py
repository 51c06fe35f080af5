"""The ``tracehound`` command: a thin layer over library calls.

Each command group lives in its own module and registers itself on the apps defined here when imported
at the bottom of this file. Library code never prints; this layer shows progress and summaries.
"""

from __future__ import annotations

import signal

import typer

app = typer.Typer(help="Hunt attackers who hide in the noise of ordinary logs.",
                  no_args_is_help=True, add_completion=False)
simulate_app = typer.Typer(help="Write realistic logs with planted attacks and ground-truth labels.",
                           no_args_is_help=True)
evaluate_app = typer.Typer(help="Measure a hunt's detection quality on labelled data.",
                           no_args_is_help=True)
app.add_typer(simulate_app, name="simulate")
app.add_typer(evaluate_app, name="evaluate")


def main() -> None:
    """Console-script entry point. SIGTERM ends a run like Ctrl-C does, so every ``with`` block unwinds
    and the engine's staging folder and any half-written output are removed."""
    signal.signal(signal.SIGTERM, _terminate)
    app()


def _terminate(signum, _frame) -> None:
    raise KeyboardInterrupt(f"signal {signum}")


# Command modules register themselves on the apps above.
from . import common  # noqa: E402,F401
from . import ingest_cmd  # noqa: E402,F401
from . import fanout_cmd  # noqa: E402,F401
from . import simulate_cmd  # noqa: E402,F401
from . import web_cmd  # noqa: E402,F401
from . import spray_cmd  # noqa: E402,F401
from . import hunt_cmd  # noqa: E402,F401
from . import demo_cmd  # noqa: E402,F401
from . import network_cmd  # noqa: E402,F401
