"""``tracehound hunt`` over a folder mixing the real samples: routing, outputs, clean errors."""

from __future__ import annotations

import shutil

import orjson
import pytest
from typer.testing import CliRunner

from tracehound.cli import app
from tracehound.errors import ConfigError
from tracehound.config import HuntConfig
from tracehound.readers.families import route
from tracehound.report import OUTPUT_FILES

MIX = {
    "m365-spray/t1110.003_msolspray-python.json": "signins",
    "m365-spray/t1110.003_msolspraywithsuccess_1.csv": "signins",
    "msticpy-aad/aad_logons.derived.jsonl": "signins",
    "deepbluecli-evtx/password-spray.evtx": "logons",
    "otrf-lateral/purplesharp_ad_playbook_I.zip": "logons",
    "msticpy-aad-logons/host_logons.csv": "logons",
    "elastic-apache/apache_logs": "web_requests",
}


@pytest.fixture
def mixed(tmp_path, data_dir):
    folder = tmp_path / "mixed"
    folder.mkdir()
    for rel in MIX:
        shutil.copy(data_dir / rel, folder / rel.split("/")[1])
    (folder / "notes.txt").write_text("meeting at 10, bring the slides\n")
    (folder / "broken.evtx").write_bytes(b"ElfFile\x00" + b"\x00" * 100)
    return folder


def test_route_sends_each_real_sample_to_its_family(mixed):
    routing = route([mixed])
    got = {p.name: family for family, paths in routing.files.items() for p in paths}
    # A file with the EVTX magic is routed by content; the EVTX reader then reports it as corrupt.
    assert got == {**{rel.split("/")[1]: family for rel, family in MIX.items()}, "broken.evtx": "logons"}
    assert [p.name for p in routing.unrecognised] == ["notes.txt"]


def test_hunt_cli_writes_every_output_and_reports_unreadable_files(mixed, tmp_path):
    out = tmp_path / "out"
    result = CliRunner().invoke(app, ["hunt", str(mixed), "--out", str(out), "--quiet"])
    # broken.evtx is a damaged log: the run is partial (exit 3), and everything else is written.
    assert result.exit_code == 3, result.output
    assert "partial" in result.output
    for name in OUTPUT_FILES:
        assert (out / name).exists(), name
    rejects = [orjson.loads(line) for line in (out / "rejects.jsonl").read_bytes().splitlines()]
    assert {r["file"].rsplit("/", 1)[-1] for r in rejects if r["line"] is None} >= {"notes.txt", "broken.evtx"}
    findings = [orjson.loads(line) for line in (out / "findings.jsonl").read_bytes().splitlines()]
    kinds = {f["kind"] for f in findings}
    assert "lateral_movement" in kinds and "web_session" in kinds
    lateral = [f for f in findings if f["kind"] == "lateral_movement"]
    assert any("pgustavo" in " ".join(f["entities"].get("users", [])) for f in lateral)
    incidents = orjson.loads((out / "incidents.json").read_bytes())
    # one incident per actor / campaign: never more incidents than findings, and every finding in one
    assert 1 <= len(incidents) <= len(findings)
    assert sorted(i for inc in incidents for i in inc["finding_ids"]) == sorted(f["id"] for f in findings)
    assert "report.html" in result.output


def test_hunt_on_nothing_readable_is_one_clear_error(tmp_path):
    (tmp_path / "in").mkdir()
    (tmp_path / "in" / "a.txt").write_text("hello\n")
    result = CliRunner().invoke(app, ["hunt", str(tmp_path / "in"), "--out", str(tmp_path / "o"), "--quiet"])
    assert result.exit_code == 2
    assert "no input is a log tracehound reads" in result.output and "a.txt" in result.output
    assert "Traceback" not in result.output


def test_config_maps_onto_hunt_parameters_and_names_unknown_keys(tmp_path):
    good = tmp_path / "good.toml"
    good.write_text('[spray]\npreset = "mstic"\nn_init = 3\n\n[fanout.lateral]\nk = 3.0\n'
                    'baseline_days = 7\n\n[web]\ngap_minutes = 15\n')
    cfg = HuntConfig.load(good)
    assert cfg.sections == {"spray": {"preset": "mstic", "n_init": 3}, "web": {"gap_minutes": 15},
                            "fanout.lateral": {"k": 3.0, "baseline_days": 7}}
    assert cfg.build("fanout.lateral").k == 3.0 and cfg.build("spray").n_init == 3
    assert {e.section for e in cfg.selected()} >= {"spray", "web", "mismatch", "fanout.lateral",
                                                   "fanout.host-scan", "fanout.port-scan"}
    assert "fanout.custom" not in {e.section for e in cfg.selected()}  # needs configuring first
    bad = tmp_path / "bad.toml"
    bad.write_text("[web]\ngap_minuets = 15\n")
    with pytest.raises(ConfigError, match="gap_minuets"):
        HuntConfig.load(bad)
    with pytest.raises(ConfigError, match="unknown section"):
        (tmp_path / "s.toml").write_text("[sprya]\n")
        HuntConfig.load(tmp_path / "s.toml")


BAD_SECTIONS = [
    ('[fanout.lateral]\npreset = "port-scan"\n', "preset"),
    ('[fanout.lateral]\nk = "three"\n', "k"),
    ('[fanout.port-scan]\nbucket = "5q"\n', "5q"),
    ('[fanout.host-scan]\ndetect_last = "90m"\nbucket = "1h"\n', "detect_last"),
    ('[fanout.nope]\nk = 2\n', "fanout.nope"),
    ('[spray]\npreset = "nope"\n', "nope"),
    ('[spray]\nalpha = "x"\n', "alpha"),
    ('[spray]\nrules = { min_attempts = "many", nope = 1 }\n', "rules"),
    ('[web]\nmin_severity = "urgent"\n', "min_severity"),
    ('[web]\ngap_minutes = "soon"\n', "gap_minutes"),
    ('[mismatch]\nmax_listed = "all"\n', "max_listed"),
    ("[spray]\nn_init = 3\n[spray]\n", "cannot read config"),
    ('web = 3\n', "[web]"),
]


@pytest.mark.parametrize("text, names", BAD_SECTIONS)
def test_a_bad_section_is_one_red_line_and_exit_2(tmp_path, text, names):
    """Every mistake in a config is caught before any input is read, named, without a traceback."""
    config = tmp_path / "hunt.toml"
    config.write_text(text)
    (tmp_path / "in").mkdir()
    (tmp_path / "in" / "a.txt").write_text("hello\n")
    result = CliRunner().invoke(app, ["hunt", str(tmp_path / "in"), "--config", str(config), "--quiet",
                                      "--out", str(tmp_path / "out")])
    assert result.exit_code == 2, result.output
    assert "Traceback" not in result.output and names in result.output
    assert result.output.strip().startswith("error:") and len(result.output.strip().splitlines()) == 1
    assert not (tmp_path / "out").exists()
