"""`tracehound evaluate network`: the README table from a small run, every planted case found."""

from __future__ import annotations

import json

from typer.testing import CliRunner

from tracehound.cli import app

runner = CliRunner()


def test_evaluate_network_prints_the_table_and_finds_every_planted_case(tmp_path):
    out = tmp_path / "network.json"
    result = runner.invoke(app, ["evaluate", "network", "--seeds", "3", "--hosts", "40", "--days", "16",
                                 "--out", str(out), "--quiet"])
    assert result.exit_code == 0, result.output
    assert "| hunt | planted found |" in result.output and "`network.long-session`" in result.output
    numbers = json.loads(out.read_text())["results"]
    assert set(numbers) == {"exfiltration", "peer-groups", "dead-space", "long-session"}
    for name, s in numbers.items():
        assert s["planted"] >= 2 and s["found"] == s["planted"], (name, s["missed"])
        assert s["false_on_benign_servers"] == 0 and s["false_per_1000_host_days"] <= 1.0, (name, s["false_ids"])


def test_evaluate_network_rejects_bad_options():
    result = runner.invoke(app, ["evaluate", "network", "--hunt", "nope"])
    assert result.exit_code == 2 and "--hunt 'nope'" in result.output
    result = runner.invoke(app, ["evaluate", "network", "--days", "10", "--baseline-days", "14"])
    assert result.exit_code == 2
