"""Every command in the README's "Examples" section runs, in order, in a fresh folder (DESIGN §5).

Commands are split with shlex and run as ``python -m tracehound ...`` — never through a shell.
"""

from __future__ import annotations

import csv
import json
import re
import shlex
import subprocess
import sys
from pathlib import Path

import pytest

README = Path(__file__).resolve().parents[1] / "README.md"


def example_commands() -> list[str]:
    text = README.read_text(encoding="utf-8")
    section = re.search(r"^## Examples\n(.*?)(?=^## )", text, re.S | re.M)
    assert section, "README has no '## Examples' section"
    blocks = re.findall(r"```bash\n(.*?)```", section.group(1), re.S)
    commands = [line.strip() for block in blocks for line in block.splitlines()
                if line.strip().startswith("tracehound ")]
    assert len(commands) >= 5, commands
    return commands


def test_readme_starts_with_the_two_setup_commands():
    blocks = re.findall(r"```bash\n(.*?)```", README.read_text(encoding="utf-8"), re.S)
    assert "tracehound demo" in blocks[0] and "pip install -e ." in blocks[0]
    assert "pytest" in blocks[1] and "'.[test,spark]'" in blocks[1]
    ci = (README.parent / ".ci" / "run").read_text()
    assert blocks[1].strip() in ci, ".ci/run must run the README's test command verbatim"


@pytest.mark.slow
def test_readme_examples_run(tmp_path):
    for command in example_commands():
        args = shlex.split(command)[1:]
        done = subprocess.run([sys.executable, "-m", "tracehound", *args], cwd=tmp_path,
                              capture_output=True, text=True, timeout=900, check=False)
        assert done.returncode == 0, f"{command}\n{done.stdout[-3000:]}\n{done.stderr[-3000:]}"
        assert "Traceback" not in done.stderr, command
    _examples_find_what_the_readme_says(tmp_path)


def _jsonl(path: Path) -> list[dict]:
    return [json.loads(line) for line in path.read_text(encoding="utf-8").splitlines() if line.strip()]


def _examples_find_what_the_readme_says(root: Path) -> None:
    """Each example's claim in the README, checked against the simulators' ground truth."""
    labels = {row["event_id"]: row["kind"] for row in csv.DictReader((root / "tenant" / "labels.csv").open())}
    sprays = [f for f in _jsonl(root / "spray-results" / "findings.jsonl") if f["kind"] == "password_spray"]
    assert sprays and all(sum(labels.get(e) == "low_and_slow_spray" for e in f["event_ids"])
                          >= 0.9 * len(f["event_ids"]) for f in sprays)
    lateral = {t["entity"] for t in _jsonl(root / "corp" / "truth.jsonl") if t["kind"] == "lateral_movement"}
    scans = {t["entity"] for t in _jsonl(root / "net" / "truth.jsonl") if t["kind"] == "port_scan"}
    found = {f["evidence"]["entity"] for f in _jsonl(root / "lateral-results" / "findings.jsonl")}
    assert lateral and lateral <= found
    found = {f["evidence"]["entity"] for f in _jsonl(root / "scan-results" / "findings.jsonl")}
    assert scans and scans <= found
    clients = json.loads((root / "site" / "labels.json").read_text())["clients"]
    scanners = {c["ip"] for c in clients if c["role"] == "scanner"}
    high = {ip for f in _jsonl(root / "web-results" / "findings.jsonl") if f["severity"] == "high"
            for ip in f["actors"].get("ips", [])}
    assert scanners and scanners <= high
    nft = (root / "web-results" / "block.nft").read_text()
    assert all(ip in nft for ip in scanners)
    every = _jsonl(root / "hunt-results" / "findings.jsonl")
    by_kind = {}
    for f in every:
        by_kind.setdefault(f["kind"], set()).add(f["evidence"].get("entity"))
        by_kind.setdefault(f["kind"] + ":ips", set()).update(f["actors"].get("ips", []))
    assert "password_spray" in by_kind
    assert lateral <= by_kind.get("lateral_movement", set()) and scans <= by_kind.get("port_scan", set())
    assert scanners <= by_kind.get("web_session:ips", set())
