"""Findings → incidents an analyst (or a SIEM's incident API) can take over.

One incident per campaign / burst / attacker. The shape follows Microsoft Sentinel's incident resource
(``properties.title``, ``severity``, ``status``, ``firstActivityTimeUtc`` …) so it can be posted with
little more than a PUT, while staying readable on its own.
"""

from __future__ import annotations

from dataclasses import dataclass

from .. import registry
from ..findings import rank_key

_SENTINEL_SEVERITY = {"low": "Low", "medium": "Medium", "high": "High"}


@dataclass(frozen=True)
class Technique:
    tactic: str
    id: str
    name: str


def technique(kind: str) -> Technique | None:
    """The ATT&CK technique the registry maps a finding kind to, or None for a kind it does not know."""
    declared = registry.kind(kind)
    return Technique(declared.tactic, declared.technique, declared.technique_name) if declared else None


def incident(finding: dict, number: int) -> dict:
    """One incident from one finding dict (as written to ``findings.jsonl``)."""
    tech = technique(finding["kind"])
    return {
        "name": f"tracehound-{finding['id']}",
        "properties": {
            "title": finding["title"],
            "description": finding.get("explanation", ""),
            "severity": _SENTINEL_SEVERITY[finding["severity"]],
            "status": "New",
            "firstActivityTimeUtc": finding.get("first_seen"),
            "lastActivityTimeUtc": finding.get("last_seen"),
            "labels": [{"labelName": "tracehound"}, {"labelName": finding["kind"]}],
            "additionalData": {
                "tactics": [tech.tactic] if tech else [],
                "techniques": [tech.id] if tech else [],
                "techniqueNames": [tech.name] if tech else [],
                "alertsCount": 1,
            },
        },
        "incidentNumber": number,
        "kind": finding["kind"],
        "score": finding["score"],
        "entities": finding.get("entities", {}),
        "actors": finding.get("actors", {}),
        "targets": finding.get("targets", {}),
        "finding_ids": [finding["id"]],
        "event_count": len(finding.get("event_ids", [])),
    }


def incidents(findings: list[dict]) -> list[dict]:
    """Incidents for all findings, most severe first, numbered from 1."""
    ordered = sorted(findings, key=rank_key)
    return [incident(f, i) for i, f in enumerate(ordered, start=1)]
