"""``python -m tracehound`` runs the CLI, for environments without the console script on PATH."""

from .cli import main

main()
