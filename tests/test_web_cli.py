"""The web hunt from the command line: simulate, hunt with a blocklist, evaluate; one-line errors."""

from __future__ import annotations

import json

from typer.testing import CliRunner

from tracehound.cli import app
from tracehound.findings import read_jsonl


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
