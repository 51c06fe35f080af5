"""``tracehound hunt`` over one mixed folder — sign-ins, Zeek connections, an access log — against the truth.

On top of what the simulators plant, the test plants two things at random: an *external* host sweep
(an internet address walking the internal network, in a second Zeek file) and web probes from the
fast spray's own address, so one actor is seen by two hunts. The issue's bars are then checked
(``bars.check_bars``), plus: the sprayer's sign-ins and its web probes are one incident.
"""

from __future__ import annotations

import json
from datetime import datetime, timedelta, timezone

import numpy as np
import orjson
import pytest
from typer.testing import CliRunner

from tracehound.cli import app
from tracehound.simulate.connections import ConnSimConfig, simulate_connections
from tracehound.simulate.signins import simulate_signins
from tracehound.simulate.weblogs import MONTHS, simulate_weblogs

from bars import check_bars, signin_ground_truth

# One mixed folder simulated and hunted whole (~25 s), once, on one worker; CI runs it.
pytestmark = [pytest.mark.slow, pytest.mark.xdist_group("mixed")]

SEED = 23
FIELDS = "ts uid id.orig_h id.orig_p id.resp_h id.resp_p proto service duration orig_bytes resp_bytes conn_state"


def _external_sweep(folder, rng: np.random.Generator, start: datetime) -> str:
    """A Zeek conn log of one internet address sweeping 80-160 internal addresses on one port within an hour."""
    source = f"{rng.choice([91, 151, 185, 195])}.{rng.integers(1, 255)}.{rng.integers(0, 256)}.{rng.integers(1, 255)}"
    t0 = (start + timedelta(days=int(rng.integers(16, 20)), hours=float(rng.uniform(0, 22)))).timestamp()
    port = int(rng.choice([22, 445, 3389]))
    lines = ["#separator \\x09", "#path\tconn", "#fields\t" + FIELDS.replace(" ", "\t"),
             "#types\ttime\tstring\taddr\tport\taddr\tport\tenum\tstring\tinterval\tcount\tcount\tstring"]
    for i, dst in enumerate(sorted({f"10.0.{rng.integers(0, 3)}.{rng.integers(2, 250)}"
                                    for _ in range(int(rng.integers(80, 161)))})):
        lines.append(f"{t0 + i * 7.5:.6f}\tCX{i:08d}\t{source}\t{int(rng.integers(1024, 65535))}\t{dst}\t{port}"
                     "\ttcp\t-\t0\t0\t0\tS0")
    (folder / "conn-external.log").write_text("\n".join(lines) + "\n", encoding="utf-8")
    return source


def _web_probes(log, ip: str, rng: np.random.Generator, start: datetime) -> None:
    """The sprayer probing the web server's admin pages (appended: the log need not be in order)."""
    when = start + timedelta(hours=float(rng.uniform(1, 20)))
    with log.open("a", encoding="utf-8") as fh:
        for k, path in enumerate(["/wp-login.php", "/administrator/", "/.env", "/owa/auth/logon.aspx"]):
            t = when + timedelta(seconds=2 * k)
            stamp = f"{t.day:02d}/{MONTHS[t.month - 1]}/{t.year}:{t:%H:%M:%S} +0000"
            fh.write(f'{ip} - - [{stamp}] "GET {path} HTTP/1.1" 404 0 "-" "python-requests/2.31.0"\n')


@pytest.fixture(scope="module")
def mixed(tmp_path_factory):
    root = tmp_path_factory.mktemp("mixed")
    folder = root / "logs"
    rng = np.random.default_rng(SEED)
    signins = simulate_signins(folder / "signins", users=400, days=45, seed=SEED, gzip=True, files=3)
    conn_start = datetime(2024, 3, 4, tzinfo=timezone.utc)
    conns = simulate_connections(folder / "zeek", ConnSimConfig(hosts=80, days=21, seed=SEED, attack_after_day=15,
                                                                 start=conn_start))
    sweep = _external_sweep(folder / "zeek", rng, conn_start)
    web = simulate_weblogs(folder / "web", visitors=400, scanners=6, days=1, seed=SEED)
    con, labels, truth = signin_ground_truth(folder / "signins")
    sprayer = sorted(truth["fast_spray_sources"])[0]
    _web_probes(folder / "web" / "access.log", sprayer, rng, datetime(2024, 3, 4, tzinfo=timezone.utc))
    config = root / "hunt.toml"
    config.write_text("".join(f'[fanout.{name}]\nbaseline_days = 14\ndetect_last = "168h"\n\n'
                              for name in ("host-scan", "port-scan")), encoding="utf-8")
    out = root / "out"
    result = CliRunner().invoke(app, ["hunt", str(folder / "signins"), str(folder / "zeek"),
                                      str(folder / "web" / "access.log"), "--out", str(out),
                                      "--config", str(config), "--quiet"])
    assert result.exit_code == 0, result.output
    findings = [orjson.loads(x) for x in (out / "findings.jsonl").read_bytes().splitlines()]
    scans = [json.loads(x) for x in (folder / "zeek" / "truth.jsonl").read_text().splitlines() if x.strip()]
    scans.append({"kind": "host_scan", "entity": sweep})
    return {"out": out, "findings": findings, "truth": truth, "sprayer": sprayer, "sweep": sweep,
            "web_labels": json.loads((folder / "web" / "labels.json").read_text())["clients"],
            "scans": scans, "signins": signins, "conns": conns, "web": web}


def test_done_when_bars_on_a_mixed_folder(mixed):
    check_bars(mixed["findings"], mixed["out"], mixed["truth"], web_labels=mixed["web_labels"],
               scans=mixed["scans"], extra_sources={mixed["sweep"], mixed["sprayer"]})


def test_the_sprayer_that_probed_the_web_server_is_one_incident(mixed):
    incidents = orjson.loads((mixed["out"] / "incidents.json").read_bytes())
    mine = [i for i in incidents if mixed["sprayer"] in i["actors"].get("ips", [])]
    assert len(mine) == 1
    assert {"fast_spray", "web_session"} <= set(mine[0]["kinds"]) and not mine[0]["folded"]


def test_the_external_sweep_is_blocked_and_its_victims_are_not(mixed):
    findings = mixed["findings"]
    sweep = [f for f in findings if f["kind"] == "host_scan" and f["actors"].get("ips") == [mixed["sweep"]]]
    assert sweep, "the planted external sweep is found"
    blocked = set((mixed["out"] / "blocklist_ips.txt").read_text().split())
    assert mixed["sweep"] in blocked and not blocked & set(sweep[0]["targets"]["ips"])
