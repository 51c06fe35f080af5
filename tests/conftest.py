"""Shared fixtures. The ``engine`` fixture runs a test on DuckDB always and on Spark where installed.

Spark starts once per test session (it takes ~15 s); set ``TRACEHOUND_TEST_ENGINES=duckdb`` to skip it
while iterating locally. CI runs both.
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
