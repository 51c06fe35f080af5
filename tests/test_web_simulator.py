"""The web simulator's ground truth, detection quality on it, and the CLI end to end."""

from __future__ import annotations

import json

import pytest
from typer.testing import CliRunner

from tracehound.cli import app
from tracehound.findings import read_jsonl
from tracehound.readers.weblogs import read_weblogs, sniff_weblog_format
from tracehound.simulate.weblogs import simulate_weblogs
from tracehound.web.evaluate import evaluate_sessions, load_labels
from tracehound.web.scoring import WebSessionDetector


def test_simulator_is_deterministic_and_labels_every_client(tmp_path):
    a = simulate_weblogs(tmp_path / "a", visitors=50, scanners=3, seed=7)
    b = simulate_weblogs(tmp_path / "b", visitors=50, scanners=3, seed=7)
    log_a = (tmp_path / "a" / "access.log").read_text()
    assert log_a == (tmp_path / "b" / "access.log").read_text() and a["lines"] == b["lines"]
    assert sniff_weblog_format(tmp_path / "a" / "access.log") == "combined"
    labels = load_labels(a["labels"])
    assert set(labels["role"]) == {"benign", "scanner", "crawler"}
    assert set(labels.loc[labels["role"] == "scanner", "kind"]) == {"dirbrute", "cms", "sqli"}
    logged_ips = {line.split(" ", 1)[0] for line in log_a.splitlines()}
    assert logged_ips <= set(labels["ip"])


@pytest.mark.parametrize("seed", [11, 12])
def test_every_scanner_session_high_and_at_most_one_percent_of_benign(duckdb_engine, tmp_path, seed):
    info = simulate_weblogs(tmp_path, visitors=700, scanners=9, seed=seed)
    requests, report = read_weblogs([info["log"]], duckdb_engine)
    assert report.bad_count == 0
    detector = WebSessionDetector().fit(requests, duckdb_engine)
    sessions = duckdb_engine.to_pandas(detector.score(requests).select("client_ip", "user_agent", "risk"))
    metrics = evaluate_sessions(sessions, load_labels(info["labels"]))
    assert metrics["unlabelled_sessions"] == 0
    assert metrics["scanner_sessions"]["sessions"] >= 9
    assert metrics["scanner_sessions"]["share_high"] == 1.0
    assert metrics["benign_sessions"]["sessions"] > 1000
    assert metrics["benign_sessions"]["share_high"] <= 0.01


def test_cli_simulate_hunt_blocklist_and_evaluate(tmp_path):
    runner = CliRunner()
    sim = tmp_path / "sim"
    result = runner.invoke(app, ["simulate", "weblogs", str(sim), "--visitors", "300", "--scanners", "6",
                                 "--seed", "5"])
    assert result.exit_code == 0, result.output
    out = tmp_path / "out"
    blocklist = tmp_path / "block.ipset"
    result = runner.invoke(app, ["web", str(sim / "access.log"), "--out", str(out), "--blocklist",
                                 str(blocklist), "--blocklist-format", "ipset", "--quiet"])
    assert result.exit_code == 0, result.output
    findings = read_jsonl(out / "findings.jsonl")
    assert findings and all(f["kind"] == "web_session" and f["severity"] == "high" for f in findings)
    labels = json.loads((sim / "labels.json").read_text())["clients"]
    scanner_ips = {c["ip"] for c in labels if c["role"] == "scanner"}
    blocked = {line.split()[2] for line in blocklist.read_text().splitlines() if line.startswith("add ")}
    assert scanner_ips <= blocked
    assert (out / "ips.csv").read_text().startswith("client_ip,")
    metrics_file = tmp_path / "metrics.json"
    result = runner.invoke(app, ["evaluate", "web", str(sim / "access.log"), "--labels",
                                 str(sim / "labels.json"), "--out", str(metrics_file)])
    assert result.exit_code == 0, result.output
    assert json.loads(metrics_file.read_text())["scanner_sessions"]["share_high"] == 1.0


def test_cli_errors_are_one_line(tmp_path):
    result = CliRunner().invoke(app, ["web", str(tmp_path / "missing.log"), "--out", str(tmp_path / "o")])
    assert result.exit_code == 2
    assert "missing.log" in result.output and "Traceback" not in result.output
    result = CliRunner().invoke(app, ["web", str(tmp_path), "--out", str(tmp_path / "o"),
                                      "--blocklist-format", "pf"])
    assert result.exit_code == 2 and "--blocklist-format" in result.output
