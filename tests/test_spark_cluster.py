"""A real Spark cluster, not only ``local[*]``: a standalone master and one worker started from the
installed PySpark wheel on 127.0.0.1, ``tracehound hunt --engine spark --spark-master spark://…`` run
against it, and its findings compared byte for byte with DuckDB's.

The hunts run as child processes: a test process can hold one Spark session only, and the other
Spark tests share a ``local[*]`` one.
"""

from __future__ import annotations

import importlib.util
import os
import shutil
import socket
import subprocess
import sys
import time
from pathlib import Path

import pytest

pytestmark = [pytest.mark.spark, pytest.mark.slow]

if "spark" not in os.environ.get("TRACEHOUND_TEST_ENGINES", "duckdb,spark").split(","):
    pytest.skip("Spark tests are switched off (TRACEHOUND_TEST_ENGINES)", allow_module_level=True)
if importlib.util.find_spec("pyspark") is None or shutil.which("java") is None:
    pytest.skip("needs the [spark] extra and Java 17 (CI installs both)", allow_module_level=True)


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _spark_home() -> Path:
    import pyspark

    return Path(pyspark.__file__).parent


@pytest.fixture(scope="module")
def cluster(tmp_path_factory):
    """``spark://127.0.0.1:PORT`` with one registered worker; both stopped afterwards."""
    home, logs = _spark_home(), tmp_path_factory.mktemp("spark-cluster")
    env = {**os.environ, "SPARK_HOME": str(home), "SPARK_LOCAL_IP": "127.0.0.1",
           "SPARK_LOG_DIR": str(logs), "SPARK_WORKER_DIR": str(logs / "work"), "PYSPARK_PYTHON": sys.executable}
    port = _free_port()
    master_url = f"spark://127.0.0.1:{port}"
    spark_class = str(home / "bin" / "spark-class")
    procs = []
    try:
        master_log = open(logs / "master.log", "wb")
        procs.append(subprocess.Popen([spark_class, "org.apache.spark.deploy.master.Master", "--host", "127.0.0.1",
                                       "--port", str(port), "--webui-port", str(_free_port())],
                                      env=env, stdout=master_log, stderr=subprocess.STDOUT))
        worker_log = open(logs / "worker.log", "wb")
        procs.append(subprocess.Popen([spark_class, "org.apache.spark.deploy.worker.Worker", master_url,
                                       "--host", "127.0.0.1", "--cores", "2", "--memory", "3g",
                                       "--webui-port", str(_free_port())],
                                      env=env, stdout=worker_log, stderr=subprocess.STDOUT))
        deadline = time.monotonic() + 120
        while b"Successfully registered with master" not in (logs / "worker.log").read_bytes():
            if time.monotonic() > deadline or any(p.poll() is not None for p in procs):
                pytest.fail("the standalone cluster did not come up:\n"
                            + (logs / "master.log").read_text(errors="replace")[-2000:]
                            + (logs / "worker.log").read_text(errors="replace")[-2000:])
            time.sleep(0.5)
        yield master_url
    finally:
        for p in procs:
            p.terminate()
        for p in procs:
            try:
                p.wait(timeout=30)
            except subprocess.TimeoutExpired:
                p.kill()


def _tracehound(*args: str, cwd: Path) -> subprocess.CompletedProcess:
    env = {**os.environ, "SPARK_LOCAL_IP": "127.0.0.1", "PYSPARK_PYTHON": sys.executable}
    done = subprocess.run([sys.executable, "-m", "tracehound", *args], cwd=cwd, env=env, capture_output=True,
                          text=True, timeout=1200, check=False)
    assert done.returncode == 0, f"{args}\n{done.stdout[-3000:]}\n{done.stderr[-3000:]}"
    return done


@pytest.mark.timeout(2700)  # two child hunts, one on a cold cluster (spray there is py4j round trips)
def test_hunt_on_a_standalone_cluster_matches_duckdb(cluster, tmp_path):
    _tracehound("simulate", "signins", "--users", "150", "--days", "40", "--seed", "4", "--difficulty", "easy",
                "--out", "tenant", "--quiet", cwd=tmp_path)
    _tracehound("simulate", "logons", "corp", "--users", "150", "--days", "16", "--bursts", "2", "--seed", "4",
                cwd=tmp_path)
    (tmp_path / "hunt.toml").write_text('[fanout.lateral]\ndetect_last = "2d"\n')
    inputs = ["tenant", "corp", "--config", "hunt.toml"]
    _tracehound("hunt", *inputs, "--out", "duck", "--quiet", cwd=tmp_path)
    on_cluster = _tracehound("hunt", *inputs, "--engine", "spark", "--spark-master", cluster, "--out", "spark",
                             "--quiet", cwd=tmp_path)
    duck = (tmp_path / "duck" / "findings.jsonl").read_bytes()
    assert duck.count(b"\n") >= 2 and b'"lateral_movement"' in duck and b'"password_spray"' in duck
    assert (tmp_path / "spark" / "findings.jsonl").read_bytes() == duck
    assert "spark" in on_cluster.stdout
