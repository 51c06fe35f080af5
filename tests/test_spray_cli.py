"""``tracehound spray`` and ``tracehound evaluate spray`` end to end on a tiny simulated tenant."""

from __future__ import annotations

import pandas as pd
import pytest
from typer.testing import CliRunner

from tracehound.cli import app
from tracehound.findings import read_jsonl

simulate = pytest.importorskip("tracehound.simulate.signins")

runner = CliRunner()


@pytest.fixture(scope="module")
def tenant(tmp_path_factory):
    return simulate.simulate_signins(tmp_path_factory.mktemp("tenant"), users=150, days=40, seed=3,
                                     difficulty="easy")


@pytest.fixture(scope="module")
def sprayed(tenant, tmp_path_factory):
    """One default ``tracehound spray`` run of the tenant, read (never written) by the tests below:
    a spray run is most of this module's time, and two of them would write the very same folder."""
    out = tmp_path_factory.mktemp("sprayed")
    result = runner.invoke(app, ["spray", *map(str, tenant.paths), "--out", str(out), "--quiet"])
    return out, result


def test_spray_command_writes_findings_that_point_at_attacks(tenant, sprayed):
    out, result = sprayed
    assert result.exit_code == 0, result.output
    findings = read_jsonl(out / "findings.jsonl")
    sprays = [f for f in findings if f["kind"] == "password_spray"]
    assert sprays, result.output
    labels = pd.read_csv(tenant.labels_path, dtype=str).set_index("event_id")
    reported = [e for f in sprays for e in f["event_ids"]]
    assert (labels.loc[reported, "kind"] == "low_and_slow_spray").mean() >= 0.9
    assert (out / "clusters.jsonl").exists()


def test_spray_and_hunt_write_byte_identical_findings(tenant, sprayed, tmp_path):
    """``tracehound spray`` is ``hunt --only spray``: one pipeline, the same findings to the byte."""
    a, spray_run = sprayed
    assert spray_run.exit_code == 0, spray_run.output
    result = runner.invoke(app, ["hunt", *map(str, tenant.paths), "--out", str(tmp_path / "b"), "--quiet"])
    assert result.exit_code == 0, result.output
    spray = (a / "findings.jsonl").read_bytes()
    assert spray and spray == (tmp_path / "b" / "findings.jsonl").read_bytes()
    assert (a / "report.html").exists() and not (tmp_path / "b" / "clusters.jsonl").exists()


def test_mstic_preset_runs(tenant, tmp_path):
    result = runner.invoke(app, ["spray", *map(str, tenant.paths), "--out", str(tmp_path),
                                 "--preset", "mstic", "--quiet"])
    assert result.exit_code == 0, result.output
    assert (tmp_path / "findings.jsonl").exists()


@pytest.mark.parametrize("content, message", [
    ("when,who\n2024-01-01,alice\n", "not a sign-in log"),
])
def test_wrong_columns_one_line_error(tmp_path, content, message):
    bad = tmp_path / "export.csv"
    bad.write_text(content)
    result = runner.invoke(app, ["spray", str(bad), "--out", str(tmp_path / "out"), "--quiet"])
    assert result.exit_code == 2
    assert "Traceback" not in result.output and "error" in result.output


def test_unknown_preset_and_codes_one_line_error(tenant, tmp_path):
    result = runner.invoke(app, ["spray", str(tenant.paths[0]), "--preset", "nope", "--quiet"])
    assert result.exit_code == 2 and "preset" in result.output
    result = runner.invoke(app, ["spray", str(tenant.paths[0]), "--failure-codes", "50126,x", "--quiet"])
    assert result.exit_code == 2 and "failure-codes" in result.output


def test_export_without_failures_clear_message(tmp_path):
    sim = simulate.simulate_signins(tmp_path / "quiet", users=20, days=5, seed=1, difficulty="none",
                                    confounders=False)
    result = runner.invoke(app, ["spray", *map(str, sim.paths), "--out", str(tmp_path / "o"), "--quiet"])
    assert result.exit_code == 2
    assert "no failed sign-ins" in result.output and "Traceback" not in result.output


def test_evaluate_spray_small(tmp_path):
    md = tmp_path / "eval.md"
    result = runner.invoke(app, ["evaluate", "spray", "--tenants", "1", "--users", "150", "--days", "40",
                                 "--difficulty", "easy", "--preset", "default", "--markdown", str(md),
                                 "--work-dir", str(tmp_path / "work"), "--quiet"])
    assert result.exit_code == 0, result.output
    text = md.read_text()
    assert "event_precision" in text and "spray-1" in text
