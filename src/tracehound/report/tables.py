"""Writers for the per-hunt tables some commands hand over besides findings.

``clusters.jsonl`` (``tracehound spray``: every mixture cluster and campaign with its statistics and
the rules it failed — how a hunter sees why something was *not* reported) and ``ips.csv``
(``tracehound web``: every client address with its worst session). Both take the hunt's own frame;
every text cell of the CSV is neutralised against spreadsheet formulas, since it came from a log.
"""

from __future__ import annotations

import csv
from pathlib import Path

import orjson
import pandas as pd

from .safety import csv_cell


def write_records(frame: pd.DataFrame, path: str | Path) -> Path:
    """One JSON object per row (numpy scalars and timestamps as JSON values)."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    with path.open("wb") as fh:
        for row in frame.to_dict(orient="records"):
            fh.write(orjson.dumps(row, default=str, option=orjson.OPT_SERIALIZE_NUMPY) + b"\n")
    return path


def write_csv(frame: pd.DataFrame, path: str | Path) -> Path:
    """A CSV a spreadsheet shows as typed: numbers as numbers, every text cell formula-safe."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    with path.open("w", newline="", encoding="utf-8") as fh:
        writer = csv.writer(fh)
        writer.writerow([csv_cell(c) for c in frame.columns])
        for row in frame.itertuples(index=False):
            writer.writerow(["" if pd.isna(v) else v if isinstance(v, (int, float)) else csv_cell(v)
                             for v in row])
    return path
