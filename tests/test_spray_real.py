"""Real M365 spray runs replayed low and slow inside a benign simulated tenant, hunted and scored.

Uses the repo copies in tests/data/m365-spray (t1110.003_* are password sprays, t1592.004_mfa_sweep.csv is
MFASweep against one account: a negative). The tenant is small (300 users × 60 days); the issue-size numbers
are in docs/spray.md, measured with ``tracehound evaluate spray --real-m365``.
"""

from __future__ import annotations

from pathlib import Path

import pandas as pd
import pytest
from typer.testing import CliRunner

from tracehound.cli import app
from tracehound.findings import Finding
from tracehound.readers.signins import read_signins
from tracehound.evaluation.spray import (LOW_AND_SLOW, NEGATIVE, read_m365_runs, real_and_evaluate, replay_runs,
                                         score_findings)

simulate = pytest.importorskip("tracehound.simulate.signins")

USERS, DAYS, SEED, REPLAYS = 300, 60, 3, 6
RUNS = Path(__file__).parent / "data" / "m365-spray"


@pytest.fixture(scope="module")
def runs():
    return read_m365_runs(RUNS)


@pytest.fixture(scope="module")
def evaluated(engine, tmp_path_factory):
    work = tmp_path_factory.mktemp("real-spray")
    scores = real_and_evaluate(RUNS, work, engine, seeds=(SEED,), users=USERS, days=DAYS,
                               replays=REPLAYS, presets=("default",))
    return scores, work / f"real-seed{SEED}"


def test_reads_every_run_file_once_per_event_id(runs):
    files = sorted(p.name for p in RUNS.iterdir() if p.suffix in (".json", ".csv"))
    assert sorted(runs) == files
    for name, records in runs.items():
        ids = [r["Id"] for r in records]
        assert len(ids) == len(set(ids)), name
        assert {r["Operation"] for r in records} <= {"UserLoggedIn", "UserLoginFailed"}
    # this export repeats seven records under the same Id (the copies with mangled user names)
    assert len(runs["t1110.003_o365spray_reporting.json"]) == 7


def test_replays_keep_each_records_fingerprint_and_move_time_and_users(runs):
    users = simulate.tenant_user_names(USERS, SEED)
    extras = replay_runs(runs, users, days=DAYS, replays=REPLAYS, weeks=2.5, seed=SEED)
    assert len(extras) == REPLAYS * sum(map(len, runs.values()))
    assert len({e.record["Id"] for e in extras}) == len(extras)
    originals = {r["ClientIP"] for recs in runs.values() for r in recs}
    for name, recs in runs.items():
        mine = [e for e in extras if e.label == name]
        assert {e.kind for e in mine} == {NEGATIVE if name.startswith("t1592") else LOW_AND_SLOW}
        assert {e.record["IPAddress"] for e in mine} == {r["ClientIP"] for r in recs}
        assert sorted(e.record["ResultType"] for e in mine) == sorted(
            str(r.get("ErrorNumber") or "0") for r in recs for _ in range(REPLAYS))
        times = pd.to_datetime([e.record["TimeGenerated"] for e in mine])
        assert (times.max() - times.min()).days >= 14, f"{name} spread over weeks"
        assert times.normalize().nunique() >= 10, f"{name}: a few attempts a day, not one burst"
        assert {e.record["UserPrincipalName"] for e in mine} <= set(users)
    assert {e.record["IPAddress"] for e in extras} == originals
    sweep = {e.record["UserPrincipalName"] for e in extras if e.kind == NEGATIVE}
    assert len(sweep) == 1, "the MFA sweep keeps checking its one account"


def test_labels_cover_every_injected_event_and_the_reader_sees_them(evaluated, runs, engine):
    scores, folder = evaluated
    labels = pd.read_csv(folder / "labels.csv", dtype=str)
    injected = labels[labels.kind.isin([LOW_AND_SLOW, NEGATIVE])]
    assert len(injected) == REPLAYS * sum(map(len, runs.values()))
    assert set(injected.label) == set(runs)
    assert set(labels.kind) - {LOW_AND_SLOW, NEGATIVE} <= {"benign", "typo", "expired_password",
                                                           "mfa_interrupt", "traveller", "new_device",
                                                           "service_account"}, "a benign tenant"
    table, _ = read_signins(sorted(folder.glob("SigninLogs*")), engine)
    ids = set(engine.to_pandas(table.select("event_id")).event_id)
    assert set(injected.event_id) <= ids


def test_every_run_gets_a_row_and_the_mfa_sweep_is_not_a_password_spray(evaluated, runs):
    scores, folder = evaluated
    (score,) = scores
    frame = score.campaigns
    rows = frame[frame.expected.isin(["password_spray", "nothing"])].set_index("campaign")
    assert sorted(rows.index) == sorted(runs)
    # The benign tenant's failing service account is reported as stale credentials, not an attack.
    stale = frame[frame.expected == "stale_credentials"]
    assert list(stale.campaign) == ["service_account"] and stale.found.all() and (stale.in_attack_findings == 0).all()
    labels = pd.read_csv(folder / "labels.csv", dtype=str)
    for name, row in rows.iterrows():
        failed = labels[(labels.label == name) & labels.success.eq("false")]
        if row.expected == "password_spray":
            assert row.attempts == len(failed) > 0
            assert 0 <= row.coverage <= row.event_recall + 1e-3 <= 1.001 and 0 <= row.purity <= 1  # rounding
        else:
            assert name == "t1592.004_mfa_sweep.csv"
            assert row.attempts == (labels.label == name).sum()
    sweep = rows.loc["t1592.004_mfa_sweep.csv"]
    assert not sweep.found and sweep.coverage == 0
    assert "external" not in score.summary["confounder_events_as_spray"]


def test_score_per_campaign_precision_recall_and_negatives():
    labels = pd.DataFrame({
        "event_id": [f"a{i}" for i in range(10)] + [f"b{i}" for i in range(5)] + ["n0", "n1", "s0", "g0"],
        "label": ["A"] * 10 + ["B"] * 5 + ["N", "N", "A", "benign"],
        "kind": [LOW_AND_SLOW] * 15 + [NEGATIVE, NEGATIVE, LOW_AND_SLOW, "benign"],
        "success": ["false"] * 17 + ["true", "true"],
    })

    def finding(i, ids, succ):
        return Finding(kind="password_spray", id=f"f{i}", title="t", severity="high", score=1.0,
                       first_seen=None, last_seen=None, event_ids=ids, success_event_ids=succ)

    findings = [finding(1, [f"a{i}" for i in range(9)] + ["b0"], ["s0", "g0"]),
                finding(2, ["b1", "b2", "n0"], [])]
    score = score_findings(findings, labels, tenant="t", preset="p", seconds=1.0)
    rows = score.campaigns.set_index("campaign")
    a, b, n = rows.loc["A"], rows.loc["B"], rows.loc["N"]
    assert (a.found, a.coverage, a.purity, a.event_precision, a.event_recall) == (True, 0.9, 0.9, 0.9, 0.9)
    assert a.successes_linked == "1/1" and a.benign_successes_flagged == 1
    assert not b.found and b.event_recall == 0.6 and b.event_precision == round(3 / 13, 4)
    assert n.expected == "nothing" and n.found and n.coverage == 0.5
    assert score.summary["confounder_events_as_spray"] == {NEGATIVE: 1}
    assert score.summary["benign_successes_flagged"] == 1


def test_cli_real_mode_prints_both_presets_and_bad_folder_is_one_line(tmp_path):
    runner = CliRunner()
    result = runner.invoke(app, ["evaluate", "spray", "--real-m365", str(RUNS), "--tenants", "1",
                                 "--users", "200", "--days", "40", "--replays", "4", "--quiet",
                                 "--work-dir", str(tmp_path / "w"), "--markdown", str(tmp_path / "t.md")])
    assert result.exit_code == 0, result.output
    text = (tmp_path / "t.md").read_text()
    for name in ("t1110.003_msolspray-python.json", "t1592.004_mfa_sweep.csv"):
        assert text.count(name) == 2, "one row per preset"
    assert "| real-seed1 | mstic |" in text and "| real-seed1 | default |" in text
    empty = tmp_path / "empty"
    empty.mkdir()
    bad = runner.invoke(app, ["evaluate", "spray", "--real-m365", str(empty), "--quiet"])
    assert bad.exit_code == 2 and "Traceback" not in bad.output
    assert "no *.json" in " ".join(bad.output.split())  # the console wraps long lines


def test_one_run_per_tenant_puts_each_run_alone(duckdb_engine, tmp_path):
    import shutil

    runs_dir = tmp_path / "runs"
    runs_dir.mkdir()
    for name in ("t1110.003_msolspray-python.json", "t1592.004_mfa_sweep.csv"):
        shutil.copy(RUNS / name, runs_dir / name)
    scores = real_and_evaluate(runs_dir, tmp_path / "w", duckdb_engine, seeds=(2,), users=150, days=30,
                               replays=3, presets=("default",), separate=True)
    assert [s.tenant for s in scores] == ["real-seed2-t1110.003_msolspray-python.json",
                                          "real-seed2-t1592.004_mfa_sweep.csv"]
    for score in scores:
        labels = pd.read_csv(tmp_path / "w" / score.tenant / "labels.csv", dtype=str)
        injected = set(labels[labels.kind.isin([LOW_AND_SLOW, NEGATIVE])].label)
        runs_rows = score.campaigns[score.campaigns.expected.isin(["password_spray", "nothing"])]
        assert injected == set(runs_rows.campaign) and len(injected) == 1
