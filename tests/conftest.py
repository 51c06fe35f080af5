"""Shared fixtures. The ``engine`` fixture runs a test on DuckDB always and on Spark where installed.

Spark starts once per test session (it takes ~15 s); set ``TRACEHOUND_TEST_ENGINES=duckdb`` to skip it
while iterating locally. CI runs both.

On Spark, only tests marked ``parity`` run by default: each hunt end to end through every reporter,
the engines' findings compared, every reader family and canonical Parquet, the SQL whose semantics an
engine could change (windows, distinct counts, time zones, row order). Running every logic test a
second time on Spark costs most of the suite's time (a spray hunt is ~60 s there) and checks nothing
the parity tests do not; ``TRACEHOUND_TEST_SPARK=all`` runs them all, which is worth doing before a
release. Deselected tests are counted in pytest's summary, never reported as passed.
"""

from __future__ import annotations

import importlib.util
import os
from pathlib import Path

import pytest

from tracehound.engine import connect

DATA = Path(__file__).parent / "data"


def _engines() -> list:
    wanted = os.environ.get("TRACEHOUND_TEST_ENGINES", "duckdb,spark").split(",")
    params = []
    for name in wanted:
        marks = []
        if name == "spark":
            marks.append(pytest.mark.spark)
            if importlib.util.find_spec("pyspark") is None:
                marks.append(pytest.mark.skip(reason="pyspark not installed (pip install '.[spark]')"))
        params.append(pytest.param(name, marks=marks, id=name))
    return params


def pytest_collection_modifyitems(config, items):
    """Drop the Spark run of tests not marked ``parity`` unless ``TRACEHOUND_TEST_SPARK=all``."""
    if os.environ.get("TRACEHOUND_TEST_SPARK", "parity") == "all":
        return
    keep, drop = [], []
    for item in items:
        spec = getattr(item, "callspec", None)
        on_spark = spec is not None and spec.params.get("engine") == "spark"
        (drop if on_spark and item.get_closest_marker("parity") is None else keep).append(item)
    if drop:
        config.hook.pytest_deselected(items=drop)
        items[:] = keep


@pytest.fixture(scope="session", params=_engines())
def engine(request, tmp_path_factory):
    """An engine, shared by the whole session (one Spark JVM for all tests)."""
    eng = connect(request.param, staging_dir=tmp_path_factory.mktemp(f"staging-{request.param}"))
    yield eng
    eng.close()


@pytest.fixture(scope="session")
def duckdb_engine(tmp_path_factory):
    """A DuckDB engine for tests that are about logic, not engine parity."""
    eng = connect("duckdb", staging_dir=tmp_path_factory.mktemp("staging-duckdb-only"))
    yield eng
    eng.close()


@pytest.fixture
def data_dir() -> Path:
    return DATA
