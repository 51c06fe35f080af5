"""The hunt contract, for every registered hunt: fit → score → detect on both engines, through the
pipeline with its config section, through every reporter, and unchanged by scoring another table.

Each hunt gets inputs on which it must find something (simulated logs with planted attacks, or the
real samples in ``tests/data``), so the kind and role checks below always have findings to check.
"""

from __future__ import annotations

import html
from datetime import datetime, timedelta, timezone

import orjson
import pyarrow as pa
import pytest

from tracehound import hunt, registry
from tracehound.config import HuntConfig
from tracehound.contract import Hunt
from tracehound.findings import ENTITY_TYPES, Finding
from tracehound.report import OUTPUT_FILES, write_outputs
from tracehound.readers.families import read_family
from tracehound.report.plots import PLOTS
from tracehound.simulate.connections import ConnSimConfig, simulate_connections
from tracehound.simulate.logons import LogonSimConfig, simulate_logons
from tracehound.simulate.signins import simulate_signins
from tracehound.simulate.weblogs import simulate_weblogs

from conftest import DATA

DAY0 = datetime(2024, 1, 1, tzinfo=timezone.utc)


@pytest.fixture(scope="module")
def inputs(tmp_path_factory):
    """Input paths and config parameters per hunt section."""
    root = tmp_path_factory.mktemp("contract")
    tenant = simulate_signins(root / "signins", users=150, days=40, seed=3, difficulty="easy")
    logons = simulate_logons(root / "logons", LogonSimConfig(users=150, days=16, lateral_bursts=2, seed=2,
                                                             attack_after_day=15))
    conns = simulate_connections(root / "conns", ConnSimConfig(hosts=30, days=3, seed=1, attack_after_day=2))
    web = simulate_weblogs(root / "web", visitors=120, scanners=3, days=1, seed=1)
    evtx = DATA / "deepbluecli-evtx"
    day = {"detect_last": "24h"}
    return {
        "spray": (list(tenant.paths), {}),
        "fanout.lateral": ([logons["path"]], day),
        "fanout.password-guessing": ([evtx / "password-spray.evtx"], {}),
        "fanout.brute-force": ([evtx / "smb-password-guessing-security.evtx"], {}),
        "fanout.host-scan": ([conns["path"]], day),
        "fanout.port-scan": ([conns["path"]], day),
        "mismatch": ([conns["path"]], {}),
        "fanout.custom": ([logons["path"]], {"table": "logons", "entity": "user", "target": "target_host",
                                             "where": ["event_code=4624", "logon_type=3,10"], **day}),
        "web": ([web["log"]], {}),
        **{f"network.{name}": ([conns["path"]], {**day, "min_history_days": 1})
           for name in ("exfiltration", "peer-groups", "dead-space", "long-session")},
    }


def detections(engine):
    """An antivirus table (no reader yet: canonical rows) where one user has three bad days."""
    schema = pa.schema([("event_id", pa.string()), ("time", pa.timestamp("us", tz="UTC")),
                        ("user", pa.string()), ("detection", pa.string())])
    recs = [(d, u, "EICAR") for d in range(10) for u in ("dave", "erin")]
    recs += [(d, "dave", f"Trojan.{i}") for d in (10, 11, 12) for i in range(5)]
    rows = [{"event_id": f"av:{i}", "time": DAY0 + timedelta(days=d, hours=10), "user": u, "detection": s}
            for i, (d, u, s) in enumerate(recs)]
    return engine.load(pa.Table.from_pylist(rows, schema=schema), "av")


AV_PARAMS = {"end": DAY0 + timedelta(days=13), "baseline_days": 10, "min_history_days": 1}


def test_every_hunt_is_covered_here():
    """A hunt added to the registry without inputs here would escape every check below."""
    covered = {"spray", "fanout.lateral", "fanout.password-guessing", "fanout.brute-force", "fanout.host-scan",
               "fanout.port-scan", "mismatch", "fanout.custom", "web", "fanout.av-sustained",
               "network.exfiltration", "network.peer-groups", "network.dead-space", "network.long-session"}
    assert set(registry.hunts()) == covered


def check_findings(section: str, findings: list[Finding], table: str) -> None:
    entry = registry.hunt(section)
    assert findings, f"{section} found nothing on inputs with planted attacks"
    for f in findings:
        assert f.kind in entry.kinds, (section, f.kind)
        kind = registry.kind(f.kind)
        assert kind is not None and kind.hunt == section
        assert kind.table == table or section == "fanout.custom"
        assert set(f.actors) <= set(kind.actors) and set(f.targets) <= set(kind.targets), (f.kind, f.actors)
        assert set(f.actors) | set(f.targets) <= set(ENTITY_TYPES)
        assert f.actors or f.targets, f.id
        assert all(isinstance(v, str) for role in (f.actors, f.targets) for vs in role.values() for v in vs)
        assert f.event_ids and len(set(f.event_ids)) == len(f.event_ids)
        assert kind.plot is None or kind.plot in PLOTS
    assert len({f.id for f in findings}) == len(findings)


def as_dicts(findings: list[Finding]) -> list[dict]:
    return [f.to_dict() for f in findings]


SECTIONS = ["spray", "fanout.lateral", "fanout.password-guessing", "fanout.brute-force", "fanout.host-scan",
            "fanout.port-scan", "mismatch", "fanout.custom", "web", "network.exfiltration", "network.peer-groups",
            "network.dead-space", "network.long-session"]


def _config(section: str, params: dict) -> HuntConfig:
    return HuntConfig.from_dict({section.split(".")[0]: {section.split(".")[1]: params}}
                                if "." in section else {section: params})


@pytest.fixture(scope="module")
def runs() -> dict:
    """Pipeline runs by (engine name, section), each run once and only read after: the tests below
    all start from the same ``hunt.run`` of a section's inputs, and a run is most of their time."""
    return {}


def _pipeline(runs: dict, inputs: dict, section: str, engine):
    """The run of ``section`` on ``engine``'s kind of engine (results are plain findings and file
    routing, so a DuckDB run serves every DuckDB engine)."""
    key = (engine.name, section)
    if key not in runs:
        paths, params = inputs[section]
        runs[key] = hunt.run(paths, engine, _config(section, params), only=[section])
    return runs[key]


#: The pipeline test's sections. The spray hunt's Spark run takes ~50 s of the quick run's two
#: workers' ~290 s (Spark's cost per query, not the data: it runs ~50 small ones), so it is in
#: ``pytest -m slow`` beside the standalone cluster's spray hunt; DuckDB's run, and Spark's spray
#: determinism tests (the scoping, trimming and de-duplicating SQL), stay in the quick run.
PIPELINE_SECTIONS = [pytest.param(s, marks=pytest.mark.slow_on_spark) if s == "spray" else s for s in SECTIONS]


@pytest.mark.parametrize("section", PIPELINE_SECTIONS)
@pytest.mark.parity
def test_hunt_through_the_pipeline_and_every_reporter(section, inputs, runs, engine, tmp_path):
    _, params = inputs[section]
    result = _pipeline(runs, inputs, section, engine)
    assert list(result.scores) == [section]
    check_findings(section, result.findings, registry.hunt(section).table_for(params))
    written = write_outputs(result.findings, tmp_path, [("inputs", "contract test")],
                            reads=result.read_summary())
    assert set(OUTPUT_FILES) <= set(written)
    assert len(written["findings.jsonl"].read_bytes().splitlines()) == len(result.findings)
    assert len(orjson.loads(written["incidents.json"].read_bytes())) >= 1
    page = written["report.html"].read_text()
    assert all(html.escape(f.id, quote=True) in page for f in result.findings)


@pytest.mark.parametrize("section", SECTIONS)
@pytest.mark.parity
@pytest.mark.slow_on_spark
def test_the_protocol_gives_the_pipelines_findings(section, inputs, runs, engine):
    """The same section run directly on the protocol gives the same findings as the pipeline, and
    scoring another table between ``score`` and ``detect`` changes nothing about them.

    On Spark this is two more runs of each hunt (~2 minutes in all; a spray hunt there is ~25 s), so
    its Spark run is in ``pytest -m slow``; the pipeline run above stays in the quick run."""
    _, params = inputs[section]
    config = _config(section, params)
    result = _pipeline(runs, inputs, section, engine)
    table = _table(result, engine, registry.hunt(section).table_for(params))
    direct = config.build(section).fit(table, engine)
    assert isinstance(direct, Hunt)
    first = direct.score(table)
    assert as_dicts(direct.detect(first)) == as_dicts(result.findings)
    direct.score(table.filter(table.time < _midpoint(table, engine)))
    assert as_dicts(direct.detect(first)) == as_dicts(result.findings)


def _table(result, engine, name: str):
    """The canonical table the run read, read again for the direct calls."""
    table, _ = read_family(name, result.routing.files.get(name, []), result.routing.canonical.get(name, []),
                           engine)
    return table


def _midpoint(table, engine):
    lo, hi = engine.scalar(table.time.min()), engine.scalar(table.time.max())
    return lo + (hi - lo) / 2


@pytest.mark.parity
def test_av_sustained_on_the_protocol(engine, tmp_path):
    table = detections(engine)
    det = HuntConfig.from_dict({"fanout": {"av-sustained": AV_PARAMS}}).build("fanout.av-sustained")
    findings = det.detect(det.fit(table, engine).score(table))
    check_findings("fanout.av-sustained", findings, "detections")
    assert [f.targets["users"] for f in findings] == [["dave"]]
    assert set(write_outputs(findings, tmp_path, [])) >= set(OUTPUT_FILES)


def test_fit_on_a_baseline_and_score_later_data_runs_for_every_hunt(inputs, runs, duckdb_engine):
    """Fitting on the older part and scoring all of it is a supported call for every hunt (each hunt's
    own tests show what it finds that way)."""
    for section in SECTIONS:
        _, params = inputs[section]
        config = _config(section, params)
        result = _pipeline(runs, inputs, section, duckdb_engine)
        table = _table(result, duckdb_engine, registry.hunt(section).table_for(params))
        baseline = table.filter(table.time < _midpoint(table, duckdb_engine))
        h = config.build(section).fit(baseline, duckdb_engine)
        assert isinstance(h.detect(h.score(table)), list), section
