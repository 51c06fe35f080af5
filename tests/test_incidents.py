"""Incidents: one per actor or campaign across hunts, one priority scale by consequence."""

from __future__ import annotations

import random

from tracehound.findings import TIERS
from tracehound.report.incidents import group, incidents, tier


def _f(kind, id_, *, severity="medium", score=1.0, actors=None, targets=None, compromised=(), events=1):
    return {"kind": kind, "id": id_, "title": f"{kind} {id_}", "severity": severity, "score": score,
            "first_seen": "2024-03-01T00:00:00Z", "last_seen": "2024-03-01T01:00:00Z",
            "actors": actors or {}, "targets": targets or {}, "entities": {},
            "event_ids": [f"{id_}:{i}" for i in range(events)], "explanation": f"{id_} explained",
            "evidence": {"compromised_users": list(compromised)}}


def test_an_address_that_sprayed_and_probed_the_web_server_is_one_incident():
    rows = [_f("fast_spray", "fs-1", actors={"ips": ["45.1.2.3"]}, targets={"users": ["a", "b"]}),
            _f("web_session", "web-1", severity="high", actors={"ips": ["45.1.2.3"]}),
            _f("web_session", "web-2", severity="high", actors={"ips": ["62.1.1.1"]})]
    incs = incidents(rows)
    joint = [i for i in incs if "fs-1" in i["finding_ids"]][0]
    assert joint["finding_ids"] == ["fs-1", "web-1"] and joint["tier"] == "active_attack"
    assert joint["properties"]["additionalData"]["alertsCount"] == 2
    assert "web-1" in joint["properties"]["description"]
    # the unrelated prober folds on its own, below the attack
    assert [i["finding_ids"] for i in incs] == [["fs-1", "web-1"], ["web-2"]] and incs[1]["folded"]


def test_rotating_proxies_do_not_join_two_campaigns_but_a_strong_actor_joins_them():
    """Two low-and-slow sprays that once used the same residential proxy are two campaigns; the
    account one of them got into, moving laterally, is that campaign's incident."""
    spray_a = _f("password_spray", "ps-1", actors={"ips": ["77.1.1.1", "77.1.1.2"]},
                 targets={"users": ["carol@contoso.com"]}, compromised=["carol@contoso.com"])
    spray_b = _f("password_spray", "ps-2", actors={"ips": ["77.1.1.2", "77.9.9.9"]}, targets={"users": ["x"]})
    lateral = _f("lateral_movement", "lat-1", severity="high", actors={"users": ["CONTOSO\\Carol"]},
                 targets={"hosts": ["WS1", "WS2"]})
    groups = sorted(sorted(g) for g in group([spray_a, spray_b, lateral]))
    assert groups == [[0, 2], [1]]


def test_every_bucket_of_one_scan_is_one_incident_and_incident_one_is_the_most_urgent():
    rows = [_f("host_scan", f"hs:{h}", severity="high", score=50.0, actors={"ips": ["10.0.0.40"]},
               targets={"ips": [f"10.0.1.{i}" for i in range(h * 10)]}) for h in (3, 4)]
    rows += [_f("lateral_movement", "lat-1", severity="low", score=1.1, actors={"users": ["bob"]},
                targets={"hosts": ["A", "B", "C"]}),
             _f("protocol_mismatch", "pm-1", severity="high", score=90.0, actors={"ips": ["10.0.0.17"]}),
             _f("signin_brute_force", "bf-1", severity="low", score=0.1, actors={"ips": ["45.76.1.2"]},
                targets={"users": ["eve"]}),
             _f("password_spray", "ps-1", severity="high", score=2.0, actors={"ips": ["77.1.1.1"]},
                targets={"users": ["u1", "u2"]}, compromised=["u2"])]
    random.Random(4).shuffle(rows)
    incs = incidents(rows)
    assert [i["tier"] for i in incs] == ["compromise", "lateral", "active_attack", "reconnaissance",
                                         "hygiene"]
    assert incs[0]["finding_ids"] == ["ps-1"] and incs[0]["properties"]["severity"] == "High"
    scan = incs[3]
    assert sorted(scan["finding_ids"]) == ["hs:3", "hs:4"] and scan["finding_ids"][0] == "hs:4"  # larger first
    assert len(scan["targets"]["ips"]) == 40
    actors = {(k, v) for f in rows for k, vs in f["actors"].items() for v in vs}
    assert len(incs) <= len(actors)
    assert [i["incidentNumber"] for i in incs] == list(range(1, len(incs) + 1))


def test_within_a_tier_extent_orders_not_the_detector_score():
    small = _f("lateral_movement", "lat-small", severity="high", score=99.0, actors={"users": ["a"]},
               targets={"hosts": ["h1", "h2"]})
    wide = _f("lateral_movement", "lat-wide", severity="medium", score=1.0, actors={"users": ["b"]},
              targets={"hosts": [f"h{i}" for i in range(12)]})
    assert [i["finding_ids"] for i in incidents([small, wide])] == [["lat-wide"], ["lat-small"]]


def test_many_unrelated_web_probers_fold_into_one_low_priority_incident():
    rows = [_f("web_session", f"web-{i}", severity="high", score=300.0 - i, actors={"ips": [f"62.0.0.{i}"]})
            for i in range(1, 41)]
    rows.append(_f("port_scan", "ps:1", severity="low", actors={"ips": ["10.0.0.9"]}, targets={"ports": ["1"]}))
    incs = incidents(rows)
    assert len(incs) == 2 and incs[0]["kind"] == "port_scan"
    fold = incs[1]
    assert fold["folded"] and len(fold["finding_ids"]) == 40 and fold["properties"]["severity"] == "Low"
    assert "40 unrelated clients" in fold["properties"]["title"]


def test_a_linked_success_makes_any_finding_a_compromise():
    f = _f("fast_spray", "fs-1", compromised=["x@contoso.com"])
    assert tier(f) == "compromise" and tier(_f("fast_spray", "fs-2")) == "active_attack"
    assert tier(_f("some_future_kind", "z")) in TIERS
