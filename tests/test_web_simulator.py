"""The web simulator's ground truth, and detection quality on it: fitted on everything, and fitted on
earlier days to score a later day (the CLI end to end is in ``test_web_cli.py``)."""

from __future__ import annotations

from pathlib import Path

import pytest

from tracehound.evaluation.web import evaluate_sessions, load_labels
from tracehound.readers.weblogs import read_weblogs, sniff_weblog_format
from tracehound.simulate.weblogs import simulate_weblogs
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
    sessions = duckdb_engine.to_pandas(detector.score(requests).sessions.select("client_ip", "user_agent", "risk"))
    metrics = evaluate_sessions(sessions, load_labels(info["labels"]))
    assert metrics["unlabelled_sessions"] == 0
    assert metrics["scanner_sessions"]["sessions"] >= 9
    assert metrics["scanner_sessions"]["share_high"] == 1.0
    assert metrics["benign_sessions"]["sessions"] > 1000
    assert metrics["benign_sessions"]["share_high"] <= 0.01


def _split_days(log: Path, out: Path, first_day: str) -> tuple[Path, Path]:
    """The log's lines before ``first_day`` (like ``[06/Mar/2024``) and from it, as two files."""
    out.mkdir()
    before, later = out / "days-1-2.log", out / "day-3.log"
    with log.open(encoding="utf-8") as src, before.open("w", encoding="utf-8") as a, \
            later.open("w", encoding="utf-8") as b:
        seen = False
        for line in src:  # the simulator writes lines in time order
            seen = seen or first_day in line
            (b if seen else a).write(line)
    return before, later


def test_fit_on_two_days_then_score_the_third_finds_its_scanners(engine, tmp_path):
    info = simulate_weblogs(tmp_path / "sim", visitors=600, scanners=12, days=3, seed=2)
    baseline_log, day3_log = _split_days(Path(info["log"]), tmp_path / "split", "[06/Mar/2024")
    baseline, _ = read_weblogs([baseline_log], engine)
    day3, _ = read_weblogs([day3_log], engine)
    detector = WebSessionDetector().fit(baseline, engine)
    scores = detector.score(day3)
    labels = load_labels(info["labels"])
    day3_ips = set(engine.to_pandas(day3.select("client_ip").distinct())["client_ip"])
    scanners = set(labels.loc[labels["role"] == "scanner", "ip"])
    assert len(scanners & day3_ips) >= 5 and scanners - day3_ips      # some scanners struck earlier only
    findings = detector.detect(scores)
    found = {f.actors["ips"][0] for f in findings}
    assert scanners & day3_ips <= found and scanners & day3_ips <= set(scores.high_ips())
    assert found <= day3_ips
    sessions = engine.to_pandas(scores.sessions.select("client_ip", "user_agent", "risk"))
    metrics = evaluate_sessions(sessions, labels)
    assert metrics["unlabelled_sessions"] == 0 and metrics["scanner_sessions"]["share_high"] == 1.0
    assert metrics["benign_sessions"]["sessions"] > 300 and metrics["benign_sessions"]["share_high"] <= 0.01
