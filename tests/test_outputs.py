"""Outputs never hurt the one who deploys them: no input overwritten, nothing half-written, no stale
artefact, no old findings read back as input, staging gone after SIGTERM, and a partial run said so."""

from __future__ import annotations

import os
import shutil
import signal
import subprocess
import sys
import time

import pytest
from typer.testing import CliRunner

from tracehound.cli import app
from tracehound.outputs import MARKER

from conftest import DATA

runner = CliRunner()
APACHE = DATA / "elastic-apache" / "apache_logs"


@pytest.fixture
def site(tmp_path):
    folder = tmp_path / "site"
    folder.mkdir()
    shutil.copy(APACHE, folder / "access.log")
    return folder


def _one_line_refusal(result, *names: str) -> None:
    assert result.exit_code == 2, result.output
    assert "refusing" in result.output and "Traceback" not in result.output
    assert all(n in result.output for n in names)


def test_a_blocklist_naming_the_input_log_is_refused_before_work(site, tmp_path):
    before = (site / "access.log").read_bytes()
    result = runner.invoke(app, ["web", str(site / "access.log"), "--out", str(tmp_path / "out"),
                                 "--blocklist", str(site / "access.log"), "--quiet"])
    _one_line_refusal(result, "access.log")
    assert (site / "access.log").read_bytes() == before and not (tmp_path / "out").exists()


@pytest.mark.parametrize("where", ["inside", "same"])
def test_an_output_folder_inside_or_equal_to_an_input_folder_is_refused(site, where):
    out = site / "results" if where == "inside" else site
    result = runner.invoke(app, ["hunt", str(site), "--out", str(out), "--quiet"])
    _one_line_refusal(result, str(site.resolve()))
    assert sorted(p.name for p in site.iterdir()) == ["access.log"]


def test_ingest_out_naming_the_export_or_inside_its_folder_is_refused(tmp_path):
    export = tmp_path / "exports"
    export.mkdir()
    shutil.copy(DATA / "msticpy-aad" / "aad_logons.derived.jsonl", export / "signins.jsonl")
    before = (export / "signins.jsonl").read_bytes()
    for out in (export / "signins.jsonl", export / "canonical.parquet"):
        result = runner.invoke(app, ["ingest", "signins", str(export), "--out", str(out), "--quiet"])
        _one_line_refusal(result)
    assert (export / "signins.jsonl").read_bytes() == before and sorted(os.listdir(export)) == ["signins.jsonl"]


def test_simulating_into_a_folder_of_real_exports_is_refused(tmp_path):
    real = tmp_path / "real"
    real.mkdir()
    (real / "SigninLogs-2024-01-01.json").write_text('{"not": "simulated"}\n')
    result = runner.invoke(app, ["simulate", "signins", "--out", str(real), "--users", "20", "--days", "3"])
    _one_line_refusal(result, "SigninLogs-2024-01-01.json")
    assert (real / "SigninLogs-2024-01-01.json").read_text() == '{"not": "simulated"}\n'


def test_outputs_are_moved_into_place_and_a_stale_rejects_file_is_removed(site, tmp_path):
    out = tmp_path / "out"
    out.mkdir()
    (out / "rejects.jsonl").write_text('{"file": "from an earlier run"}\n')
    result = runner.invoke(app, ["web", str(site / "access.log"), "--out", str(out), "--quiet"])
    assert result.exit_code == 0, result.output
    names = sorted(os.listdir(out))
    assert "rejects.jsonl" not in names and "ips.csv" in names and "findings.jsonl" in names
    assert MARKER in names and not [n for n in names if n.startswith(".staging")]


def test_an_output_folder_is_never_routed_as_input(site, tmp_path):
    """A later hunt over a parent folder skips the earlier run's outputs (findings, CSVs, report)."""
    parent = tmp_path / "cases"
    parent.mkdir()
    shutil.copytree(site, parent / "site")
    first = runner.invoke(app, ["web", str(parent / "site" / "access.log"), "--out", str(tmp_path / "r"), "--quiet"])
    assert first.exit_code == 0, first.output
    shutil.copytree(tmp_path / "r", parent / "old-results")
    again = runner.invoke(app, ["hunt", str(parent), "--out", str(tmp_path / "r2"), "--quiet"])
    assert again.exit_code == 0, again.output
    assert (tmp_path / "r" / "findings.jsonl").read_bytes() == (tmp_path / "r2" / "findings.jsonl").read_bytes()
    assert "old-results" not in again.output


def test_sigterm_leaves_no_staging_behind(tmp_path):
    """A run killed with SIGTERM unwinds like Ctrl-C: the engine's staging folder is removed."""
    temp = tmp_path / "tmp"
    temp.mkdir()
    logs = tmp_path / "logs"
    subprocess.run([sys.executable, "-m", "tracehound", "simulate", "signins", "--out", str(logs), "--users", "600",
                    "--days", "60", "--quiet"], check=True, capture_output=True)
    env = {**os.environ, "TMPDIR": str(temp)}
    proc = subprocess.Popen([sys.executable, "-m", "tracehound", "hunt", str(logs), "--out", str(tmp_path / "o"),
                             "--quiet"], env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    deadline = time.monotonic() + 60
    while not any(temp.glob("tracehound-*")) and time.monotonic() < deadline and proc.poll() is None:
        time.sleep(0.05)
    assert proc.poll() is None, "the hunt finished before it could be interrupted; make the input larger"
    proc.send_signal(signal.SIGTERM)
    proc.wait(timeout=60)
    assert proc.returncode != 0
    assert not list(temp.glob("tracehound-*")), list(temp.iterdir())
    assert not (tmp_path / "o" / "findings.jsonl").exists()
