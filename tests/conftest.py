"""Shared fixtures. The ``engine`` fixture runs a test on DuckDB always and on Spark where installed.

Spark starts once per worker that runs a Spark test (it takes ~15 s); all Spark tests run on one
worker (an ``xdist`` group), the DuckDB tests on the other. Set ``TRACEHOUND_TEST_ENGINES=duckdb`` to
skip Spark while iterating locally. CI runs both.

On Spark, only tests marked ``parity`` run by default: each hunt end to end through every reporter,
the engines' findings compared, every reader family and canonical Parquet, the SQL whose semantics an
engine could change (windows, distinct counts, time zones, row order). Running every logic test a
second time on Spark costs most of the suite's time (a spray hunt is ~25 s there) and checks nothing
the parity tests do not; ``TRACEHOUND_TEST_SPARK=all`` runs them all, which is worth doing before a
release. ``pytest`` leaves out the tests marked ``slow`` (a whole simulated organisation, a
standalone cluster, a test's Spark run marked ``slow_on_spark``); ``pytest -m slow`` runs exactly
those, and CI runs both. Deselected tests are never reported as passed.
"""

from __future__ import annotations

import importlib.util
import os
from pathlib import Path

import pytest

from tracehound.engine import connect

DATA = Path(__file__).parent / "data"

# The tests' Spark JVMs (the shared local session, and the standalone cluster's master, worker and
# executors) run many small queries over small tables: the C2 compiler's warm-up and a parallel
# collector cost more CPU there than they return (about a quarter of a spray hunt's wall time on two
# cores). Only the tests' JVMs: a deployment keeps the JVM's defaults.
os.environ.setdefault("JAVA_TOOL_OPTIONS", "-XX:TieredStopAtLevel=1 -XX:+UseSerialGC")


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


def _on_spark(item) -> bool:
    spec = getattr(item, "callspec", None)
    return spec is not None and spec.params.get("engine") == "spark"


@pytest.hookimpl(tryfirst=True)
def pytest_collection_modifyitems(config, items):
    """Drop the Spark run of tests not marked ``parity`` unless ``TRACEHOUND_TEST_SPARK=all``; mark
    the Spark run of ``slow_on_spark`` tests ``slow`` (before ``-m`` selects); then put every Spark
    test on the in-process engine in one ``xdist`` group, first in line, so that one worker holds the
    one Spark JVM and the other runs the DuckDB tests beside it."""
    for item in filter(_on_spark, items):  # the cluster test's hunts are child processes, not in it
        item.add_marker(pytest.mark.xdist_group("spark"))
        if item.get_closest_marker("slow_on_spark") is not None:
            item.add_marker(pytest.mark.slow)
    if os.environ.get("TRACEHOUND_TEST_SPARK", "parity") != "all":
        keep, drop = [], []
        for item in items:
            (drop if _on_spark(item) and item.get_closest_marker("parity") is None else keep).append(item)
        if drop:
            config.hook.pytest_deselected(items=drop)
            items[:] = keep
    items.sort(key=lambda item: not _on_spark(item))  # stable: the Spark group first, each side in order


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
