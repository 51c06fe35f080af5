"""Findings → incidents an analyst (or a SIEM's incident API) can take over.

One incident per campaign / burst / attacker. The shape follows Microsoft Sentinel's incident resource
(``properties.title``, ``severity``, ``status``, ``firstActivityTimeUtc`` …) so it can be posted with
little more than a PUT, while staying readable on its own.
"""

from __future__ import annotations

from dataclasses import dataclass

from ..findings import rank_key

#: MITRE ATT&CK techniques per finding kind: (tactic, technique id, technique name).
ATTACK: dict[str, tuple[str, str, str]] = {
    "password_spray": ("CredentialAccess", "T1110.003", "Brute Force: Password Spraying"),
    "fast_spray": ("CredentialAccess", "T1110.003", "Brute Force: Password Spraying"),
    "brute_force": ("CredentialAccess", "T1110.001", "Brute Force: Password Guessing"),
    "password_guessing": ("CredentialAccess", "T1110.003", "Brute Force: Password Spraying"),
    "lateral_movement": ("LateralMovement", "T1021", "Remote Services"),
    "host_scan": ("Discovery", "T1046", "Network Service Discovery"),
    "port_scan": ("Discovery", "T1046", "Network Service Discovery"),
    "av_sustained": ("Execution", "T1204", "User Execution"),
    "protocol_mismatch": ("CommandAndControl", "T1571", "Non-Standard Port"),
    "web_session": ("Reconnaissance", "T1595", "Active Scanning"),
    "canary_access": ("Reconnaissance", "T1595", "Active Scanning"),
}
_SENTINEL_SEVERITY = {"low": "Low", "medium": "Medium", "high": "High"}


@dataclass(frozen=True)
class Technique:
    tactic: str
    id: str
    name: str


def technique(kind: str) -> Technique | None:
    """The ATT&CK technique a finding kind maps to, or None for kinds without a clear mapping."""
    entry = ATTACK.get(kind)
    return Technique(*entry) if entry else None


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
        "finding_ids": [finding["id"]],
        "event_count": len(finding.get("event_ids", [])),
    }


def incidents(findings: list[dict]) -> list[dict]:
    """Incidents for all findings, most severe first, numbered from 1."""
    ordered = sorted(findings, key=rank_key)
    return [incident(f, i) for i, f in enumerate(ordered, start=1)]
