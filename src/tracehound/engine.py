"""Where row-level work runs: DuckDB in-process by default, Apache Spark when the data outgrows a laptop.

Hunts build Ibis expressions against an :class:`Engine`'s tables and only ever pull *aggregates* back
with :meth:`Engine.to_pandas` — value counts, distinct bit-patterns, per-entity bucket counts — so the
same code runs on both engines and nothing collects all rows to the driver.

Readers hand over canonical Arrow tables; :meth:`Engine.load` stages them as Parquet in the engine's
work folder and reads them back through the engine, so large inputs never have to fit in the Python
process and Spark reads them with its own parallel Parquet reader.
"""

from __future__ import annotations

import os
import shutil
import tempfile
import uuid
from pathlib import Path

import ibis
import ibis.expr.datatypes as dt
from ibis.common.exceptions import IbisError
import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq

from .errors import ConfigError, MissingExtraError

ENGINES = ("duckdb", "spark")


class Engine:
    """An Ibis connection plus a private staging folder for Parquet it reads back."""

    def __init__(self, name: str, con: ibis.BaseBackend, *, staging_dir: str | Path | None = None,
                 spark_session=None) -> None:
        self.name = name
        self.con = con
        self.spark = spark_session
        self._own_staging = staging_dir is None
        # On a cluster the staged Parquet must be readable by every executor: TRACEHOUND_STAGING_ROOT
        # names a shared mount (NFS, /dbfs/...) to make the run's private staging folder in.
        root = os.environ.get("TRACEHOUND_STAGING_ROOT") or None
        self.staging = Path(staging_dir or tempfile.mkdtemp(prefix="tracehound-", dir=root))
        self.staging.mkdir(parents=True, exist_ok=True)

    # -- getting data in -------------------------------------------------------------------------
    def load(self, table: pa.Table, name: str | None = None) -> ibis.Table:
        """Stage an Arrow table as Parquet and return it as an engine table."""
        folder = self.staging / (name or "t") / uuid.uuid4().hex
        folder.mkdir(parents=True)
        pq.write_table(table, folder / "part-0.parquet")
        return self.read_parquet(folder)

    def read_parquet(self, path: str | Path) -> ibis.Table:
        """Read one Parquet file or a folder of ``*.parquet`` parts as an engine table."""
        path = Path(path)
        if self.name == "duckdb":
            target = str(path / "*.parquet") if path.is_dir() else str(path)
            return self.con.read_parquet(target)
        return self.con.read_parquet(str(path))

    def cache(self, expr: ibis.Table) -> ibis.Table:
        """``expr`` computed once and held by the engine (Ibis ``cache``), for a table several later
        queries read.

        On DuckDB the table is built without keeping its input's row order: the steps that cache
        read it only through aggregates, joins and explicit sorts (Spark never keeps an order
        either, and the parity tests hold both engines to the same findings), and an unordered
        build runs its threads without waiting on each other.
        """
        if self.name != "duckdb":
            return expr.cache()
        self.con.raw_sql("SET preserve_insertion_order = false")
        try:
            return expr.cache()
        finally:
            self.con.raw_sql("SET preserve_insertion_order = true")

    def materialize(self, expr: ibis.Table, name: str) -> ibis.Table:
        """Execute ``expr`` into the staging folder and return the stored table.

        For results that later steps query several times (a parsed access log, a transition model):
        computed once and kept as Parquet instead of being recomputed by every query. DuckDB writes
        one file, Spark a folder of parts; this hides the difference.
        """
        folder = self.staging_folder(name)
        target = folder / ("part-0.parquet" if self.name == "duckdb" else "data")
        self.con.to_parquet(expr, target)
        return self.read_parquet(folder if self.name == "duckdb" else target)

    def write_parquet(self, expr: ibis.Table, path: str | Path) -> Path:
        """Write a table as Parquet at ``path``: one file on DuckDB, a folder of parts on Spark.

        Spark's default INT96 timestamps read back as naive nanoseconds; the canonical schema is UTC
        microseconds, so Spark writes ``TIMESTAMP_MICROS``. The one place that knows either detail.
        """
        path = Path(path)
        path.parent.mkdir(parents=True, exist_ok=True)
        if self.name == "spark":
            self.spark.conf.set("spark.sql.parquet.outputTimestampType", "TIMESTAMP_MICROS")
            self.con.to_parquet(expr, str(path), mode="overwrite")
        else:
            self.con.to_parquet(expr, str(path))
        return path

    def staging_folder(self, name: str) -> Path:
        """A fresh folder in the staging area, for a reader that writes Parquet parts itself."""
        folder = self.staging / name / uuid.uuid4().hex
        folder.mkdir(parents=True)
        return folder

    # -- getting aggregates out ------------------------------------------------------------------
    def to_pandas(self, expr: ibis.Expr) -> pd.DataFrame:
        """Execute an (aggregated) expression and return it with UTC timestamps on every engine."""
        df = self.con.to_pandas(expr)
        if isinstance(df, pd.Series):
            df = df.to_frame()
        for col in df.columns:
            if pd.api.types.is_datetime64_any_dtype(df[col]):
                s = df[col]
                df[col] = s.dt.tz_convert("UTC") if s.dt.tz is not None else s.dt.tz_localize("UTC")
        return df

    def scalar(self, expr: ibis.Expr):
        """Execute a scalar expression (a count, a min) and return a plain Python value."""
        value = self.con.execute(expr)
        return value.item() if hasattr(value, "item") else value

    def close(self) -> None:
        """Drop the staging folder if this engine made it. The Spark session is left to its owner."""
        if self._own_staging:
            shutil.rmtree(self.staging, ignore_errors=True)

    def __enter__(self) -> "Engine":
        return self

    def __exit__(self, *exc) -> None:
        self.close()

    def __repr__(self) -> str:
        return f"Engine({self.name!r})"


def connect(engine: str = "duckdb", *, master: str | None = None, threads: int | None = None,
            staging_dir: str | Path | None = None) -> Engine:
    """Open an engine by name.

    ``duckdb`` runs in-process with zero set-up. ``spark`` starts (or reuses) a Spark session; ``master``
    is ``local[*]`` by default or any ``spark://`` / ``yarn`` master. Spark needs the ``[spark]`` extra;
    without it this raises :class:`MissingExtraError` with the install command.
    """
    arrow_memory_pool()
    if engine == "duckdb":
        import duckdb

        raw = duckdb.connect()
        if threads:
            raw.execute(f"SET threads = {int(threads)}")
        raw.execute("SET TimeZone = 'UTC'")
        return Engine("duckdb", ibis.duckdb.from_connection(raw), staging_dir=staging_dir)
    if engine == "spark":
        session = spark_session(master)
        return Engine("spark", ibis.pyspark.connect(session), staging_dir=staging_dir,
                      spark_session=session)
    raise ConfigError(f"unknown engine {engine!r}; expected one of {', '.join(ENGINES)}")


def arrow_memory_pool() -> None:
    """Arrow's buffers come from jemalloc where the pyarrow wheel has it (Linux, macOS), unless
    ``ARROW_DEFAULT_MEMORY_POOL`` names a pool.

    Why: pyarrow's default, mimalloc, hands freed pages back to the system almost at once, so a read
    that maps, joins and stages batch after batch faults fresh pages in for every one. Measured on the
    500k-sign-in benchmark: the read's system time 1.3 → 0.8 s, the read about 10 % faster; joining
    a read's batches in one go 1.0 → 0.12 s. jemalloc was pyarrow's own default on Linux until 13.0.
    """
    if os.environ.get("ARROW_DEFAULT_MEMORY_POOL"):
        return
    try:
        pa.set_memory_pool(pa.jemalloc_memory_pool())
    except NotImplementedError:  # a wheel built without it (Windows): keep the default
        pass


def spark_session(master: str | None = None):
    """Get or create a Spark session configured for tracehound (UTC, no UI, small shuffles locally)."""
    try:
        from pyspark.sql import SparkSession
    except ImportError as exc:  # the extra is not installed
        raise MissingExtraError("spark", "pyspark") from exc
    master = master or os.environ.get("TRACEHOUND_SPARK_MASTER", "local[*]")
    if master.startswith("local"):
        os.environ.setdefault("SPARK_LOCAL_IP", "127.0.0.1")
    builder = (
        SparkSession.builder.master(master)
        .appName("tracehound")
        .config("spark.sql.session.timeZone", "UTC")
        .config("spark.ui.enabled", "false")
        .config("spark.sql.execution.arrow.pyspark.enabled", "true")
        .config("spark.driver.extraJavaOptions", "-Duser.timezone=UTC")
        .config("spark.executor.extraJavaOptions", "-Duser.timezone=UTC")
    )
    if master.startswith("local"):
        builder = builder.config("spark.sql.shuffle.partitions", "4")
    session = builder.getOrCreate()
    session.sparkContext.setLogLevel("ERROR")
    return session


_UTC_TIME = dt.Timestamp(timezone="UTC")


@ibis.udf.scalar.builtin(name="epoch")
def _duckdb_epoch(time: _UTC_TIME) -> dt.float64:
    """DuckDB's ``epoch()`` applied to the UTC timestamp itself."""


def epoch_seconds(time: ibis.TimestampValue) -> ibis.FloatingValue:
    """Seconds since 1970 of a UTC timestamp column, the cheapest way the engine has.

    Ibis's ``epoch_seconds`` casts DuckDB's ``TIMESTAMP WITH TIME ZONE`` to a plain ``TIMESTAMP``
    first, a per-row time-zone conversion that cost 5 s of every 7 s scan of 50M logons
    (benchmarks/README.md, "Fan-out"); DuckDB's ``epoch`` gives the same seconds straight from the
    stored UTC microseconds. Other engines keep Ibis's expression.
    """
    try:
        backend = ibis.get_backend(time).name
    except IbisError:  # an unbound expression (no engine yet): Ibis's portable form
        backend = None
    return _duckdb_epoch(time) if backend == "duckdb" else time.epoch_seconds()
