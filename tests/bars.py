"""The issue's "done when" bars for a run's outputs, checked against a simulator's ground truth.

Shared by the demo test and the mixed-folder test: the same bars on two different inputs.
"""

from __future__ import annotations

import csv
import ipaddress
from pathlib import Path

import orjson


def _lines(path: Path) -> set[str]:
    return {line for line in path.read_text().splitlines() if line and not line.startswith("#")}


def _internal(ip: str) -> bool:
    return ipaddress.ip_address(ip).is_private and not ipaddress.ip_address(ip) in ipaddress.ip_network("2001:db8::/32")


def check_bars(findings: list[dict], results: Path, signin_truth: dict, *, web_labels: list[dict],
               scans: list[dict], extra_sources: set[str] = frozenset()) -> None:
    blocked = _lines(results / "blocklist_ips.txt")
    isolated = _lines(results / "isolate_hosts.txt")
    # every attack source: the bursts' addresses, every web scanner, external scanners (+ planted extras)
    scanners = {c["ip"] for c in web_labels if c["role"] == "scanner"}
    sweeps = {t["entity"] for t in scans if t["kind"] in ("host_scan", "port_scan")}
    assert signin_truth["burst_sources"], "the simulator planted a fast spray and a brute force"
    assert signin_truth["burst_sources"] <= blocked, signin_truth["burst_sources"] - blocked
    assert scanners <= blocked, scanners - blocked
    assert {s for s in sweeps if not _internal(s)} | set(extra_sources) <= blocked
    assert {s for s in sweeps if _internal(s)} <= isolated  # our own scanning hosts: isolate, never block
    # no scanned host, no ordinary visitor, nothing internal
    scanned = {ip for f in findings for ip in (f.get("targets") or {}).get("ips", [])}
    visitors = {c["ip"] for c in web_labels if c["role"] != "scanner"} - scanners
    assert not blocked & scanned and not blocked & visitors
    assert not [ip for ip in blocked if "/" not in ip and _internal(ip)]
    # the watchlist marks every linked account compromised, and the hunt linked planted successes
    with (results / "watchlist_accounts.csv").open(newline="") as fh:
        status = {row["account"]: row for row in csv.DictReader(fh)}
    linked = {u for f in findings for u in (f.get("evidence") or {}).get("compromised_users", [])}
    assert linked & signin_truth["planted_successes"]
    assert all(status[u]["status"] == "compromised" and status[u]["incidents"] for u in linked)
    # incident 1 is a compromise; one incident per actor at most; one web finding per client
    incidents = orjson.loads((results / "incidents.json").read_bytes())
    assert incidents[0]["tier"] == "compromise" and incidents[0]["incidentNumber"] == 1
    actors = {(kind, v) for f in findings for kind, values in (f.get("actors") or {}).items()
              for v in values if kind in ("ips", "users", "hosts")}
    assert len(incidents) <= len(actors)
    assert sorted(i for inc in incidents for i in inc["finding_ids"]) == sorted(f["id"] for f in findings)
    web = [f for f in findings if f["kind"] == "web_session"]
    web_clients = {f["actors"]["ips"][0] for f in web}
    assert len(web) == len(web_clients) and scanners <= web_clients


def signin_ground_truth(folder: Path) -> tuple[object, dict[str, str], dict]:
    """A simulated tenant's sign-ins as a DuckDB table ``signins`` (canonical columns), each event's
    label (``benign`` or the attack kind) and the truth the bars need: the bursts' source addresses
    and the accounts planted successes got into."""
    import duckdb

    from tracehound import connect
    from tracehound.readers.families import read_family, route

    labels = {}
    with (folder / "labels.csv").open() as fh:
        for row in csv.DictReader(fh):
            labels[row["event_id"]] = row["kind"] if row["label"] != "benign" else "benign"
    with connect("duckdb") as engine:
        table, _ = read_family("signins", route([folder]).files["signins"], [], engine)
        frame = engine.to_pandas(table)
    con = duckdb.connect()
    con.register("signins", frame)
    rows = con.execute("SELECT event_id, ip, user, success FROM signins").fetchall()
    truth = {"burst_sources": {ip for e, ip, _, ok in rows if labels.get(e) in ("fast_spray", "brute_force") and not ok},
             "planted_successes": {u for e, _, u, ok in rows
                                   if ok and labels.get(e) in ("low_and_slow_spray", "fast_spray", "brute_force")},
             "fast_spray_sources": {ip for e, ip, _, ok in rows if labels.get(e) == "fast_spray" and not ok}}
    return con, labels, truth
