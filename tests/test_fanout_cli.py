"""The fan-out CLI: hunts, simulators and evaluation end to end, errors as one line."""

from __future__ import annotations

import json

from typer.testing import CliRunner

from tracehound.cli import app
from tracehound.findings import read_jsonl

runner = CliRunner()


def test_fanout_on_otrf(data_dir, tmp_path):
    out = tmp_path / "out"
    result = runner.invoke(app, ["fanout", str(data_dir / "otrf-lateral" / "purplesharp_ad_playbook_I.zip"),
                                 "--preset", "lateral", "--bucket", "1m", "--detect-last", "2m",
                                 "--baseline-days", str(1 / 24), "--out", str(out)])
    assert result.exit_code == 0, result.output
    findings = read_jsonl(out / "findings.jsonl")
    assert findings and {f["evidence"]["entity"] for f in findings} == {"pgustavo"}
    assert "pgustavo logged on to 3 hosts" in result.output


def test_simulate_then_hunt(tmp_path):
    logs = tmp_path / "sim"
    result = runner.invoke(app, ["simulate", "logons", str(logs), "--users", "150", "--days", "16",
                                 "--bursts", "1", "--seed", "2"])
    assert result.exit_code == 0, result.output
    truth = [json.loads(x) for x in (logs / "truth.jsonl").read_text().splitlines()]
    end = truth[0]["start"][:10] + "T23:59:59Z"
    result = runner.invoke(app, ["fanout", str(logs / "logons.csv.gz"), "--detect-last", "1d",
                                 "--end", end, "--out", str(tmp_path / "out")])
    assert result.exit_code == 0, result.output
    users = {f["evidence"]["entity"] for f in read_jsonl(tmp_path / "out" / "findings.jsonl")}
    assert truth[0]["entity"] in users
    # The same hunt through `tracehound hunt` and its config section writes the same findings.
    config = tmp_path / "lateral.toml"
    config.write_text(f'[fanout.lateral]\ndetect_last = "1d"\nend = {end.replace("Z", "")}Z\n')
    result = runner.invoke(app, ["hunt", str(logs / "logons.csv.gz"), "--config", str(config),
                                 "--only", "fanout.lateral", "--out", str(tmp_path / "hunt")])
    assert result.exit_code == 0, result.output
    assert (tmp_path / "hunt" / "findings.jsonl").read_bytes() == (tmp_path / "out" / "findings.jsonl").read_bytes()

    conns = tmp_path / "conns"
    result = runner.invoke(app, ["simulate", "connections", str(conns), "--hosts", "20", "--days", "2",
                                 "--attack-after-day", "1"])
    assert result.exit_code == 0, result.output
    result = runner.invoke(app, ["fanout", str(conns / "conn.log.gz"), "--preset", "protocol-mismatch",
                                 "--out", str(tmp_path / "pm")])
    assert result.exit_code == 0, result.output
    tunnel = [json.loads(x) for x in (conns / "truth.jsonl").read_text().splitlines()
              if json.loads(x)["kind"] == "protocol_mismatch"]
    found = read_jsonl(tmp_path / "pm" / "findings.jsonl")
    assert [f["entities"]["ips"][0] for f in found] == [tunnel[0]["entity"]]


def test_evaluate_fanout_small(tmp_path):
    out = tmp_path / "eval.json"
    result = runner.invoke(app, ["evaluate", "fanout", "--seeds", "0", "--users", "100", "--hosts", "20",
                                 "--days", "17", "--out", str(out)])
    assert result.exit_code == 0, result.output
    data = json.loads(out.read_text())
    assert set(data["results"]) == {"seed", "improved"}
    for per in data["results"].values():
        assert set(per) == {"lateral", "host-scan", "port-scan"}
        assert all(s["planted"] >= 1 and 0 <= s["found"] <= s["planted"] for s in per.values())


def test_errors_are_one_line(tmp_path):
    result = runner.invoke(app, ["fanout", str(tmp_path / "missing.evtx"), "--out", str(tmp_path)])
    assert result.exit_code == 2 and "Traceback" not in result.output
    result = runner.invoke(app, ["fanout", str(tmp_path), "--preset", "custom", "--out", str(tmp_path)])
    assert result.exit_code == 2 and "--entity" in result.output
