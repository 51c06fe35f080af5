"""Write an engine expression to Parquet in the staging area and read it back.

Parsing an access log is the expensive step (a dozen regular expressions per line); the hunt queries
the parsed table several times (counts, rejects, model fit, scoring), so it is computed once and kept
as Parquet rather than re-parsed by every query. DuckDB writes one file, Spark a folder of parts;
this hides the difference.
"""

from __future__ import annotations

import ibis

from ..engine import Engine


def materialize(engine: Engine, expr: ibis.Table, name: str) -> ibis.Table:
    """Execute ``expr`` into the engine's staging folder and return the stored table."""
    folder = engine.staging_folder(name)
    if engine.name == "duckdb":
        engine.con.to_parquet(expr, folder / "part-0.parquet")
        return engine.read_parquet(folder)
    target = folder / "data"
    engine.con.to_parquet(expr, target)
    return engine.read_parquet(target)
