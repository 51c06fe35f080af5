"""Findings → incidents: one per actor or campaign across hunts, ordered by consequence.

**Grouping.** Findings that share an actor are one incident: the address that sprayed sign-ins and
probed the web server, every bucket of one scan, every lateral-movement burst of one account, an account a
spray got into and then moved laterally with. Only *actor* entities link (two campaigns that tried the
same account are not one attacker). An actor address links strongly when the finding's kind says its
addresses are the attacker's own (``blockable``); a low-and-slow spray's rotating residential proxies
(and a linked success's account) link only to a group some strong key already formed, so two sprays
that happened to use one shared proxy stay two incidents. Findings of a kind that declares ``fold``
and share no actor with any other finding — unrelated internet clients probing a web server — fold
into one low-priority incident.

**Priority.** One scale across hunts, by consequence, never by a detector's score (scores compare only
within a kind): the tiers of :data:`~tracehound.findings.TIERS` — a finding with a linked success
(``evidence.compromised_users``) is a compromise, otherwise its kind's tier — then, within a tier, by
extent: accounts compromised, distinct targets, raw records; then severity. Incident 1 is the most urgent.

The shape follows Microsoft Sentinel's incident resource (``properties.title``, ``severity``,
``status``, ``firstActivityTimeUtc`` …) so it can be posted with little more than a PUT.
"""

from __future__ import annotations

from dataclasses import dataclass

from .. import registry
from ..findings import SEVERITIES, TIERS

_SENTINEL_SEVERITY = {"low": "Low", "medium": "Medium", "high": "High"}
#: Longest description written (Sentinel's limit is 5,000 characters).
MAX_DESCRIPTION = 4000
#: Related findings named in a multi-finding incident's description.
MAX_NAMED = 10


@dataclass(frozen=True)
class Technique:
    tactic: str
    id: str
    name: str


def technique(kind: str) -> Technique | None:
    """The ATT&CK technique the registry maps a finding kind to, or None for a kind it does not know."""
    declared = registry.kind(kind)
    return Technique(declared.tactic, declared.technique, declared.technique_name) if declared else None


def compromised(f: dict) -> list[str]:
    """Accounts a linked success got into, as the finding's evidence names them."""
    return [str(u) for u in (f.get("evidence") or {}).get("compromised_users") or []]


def tier(f: dict) -> str:
    """The finding's consequence: ``compromise`` with a linked success, else its kind's tier."""
    if compromised(f):
        return "compromise"
    declared = registry.kind(f.get("kind", ""))
    return declared.tier if declared else "active_attack"


def _account(name: str) -> str:
    """An account as one key whichever log spelled it: ``CONTOSO\\alice``, ``alice@contoso.com``,
    ``Alice`` → ``alice``."""
    return name.rsplit("\\", 1)[-1].split("@", 1)[0].strip().lower()


def _keys(f: dict) -> list[tuple[str, bool]]:
    """``(key, strong)`` for every actor entity that can tie the finding to another one."""
    declared = registry.kind(f.get("kind", ""))
    own_addresses = bool(declared and declared.blockable)
    actors = f.get("actors") or {}
    keys = [(f"ip:{str(ip).lower()}", own_addresses) for ip in actors.get("ips", [])]
    keys += [(f"user:{_account(str(u))}", True) for u in actors.get("users", []) if str(u).strip()]
    keys += [(f"host:{str(h).strip().lower()}", True) for h in actors.get("hosts", []) if str(h).strip()]
    keys += [(f"user:{_account(u)}", False) for u in compromised(f) if u.strip()]
    return keys


def group(findings: list[dict]) -> list[list[int]]:
    """Indexes of ``findings`` grouped by shared actor (see the module docstring)."""
    parent = list(range(len(findings)))

    def root(i: int) -> int:
        while parent[i] != i:
            parent[i] = parent[parent[i]]
            i = parent[i]
        return i

    members: dict[str, tuple[list[int], list[int]]] = {}
    for i, f in enumerate(findings):
        for key, strong in _keys(f):
            members.setdefault(key, ([], []))[0 if strong else 1].append(i)
    for strong, weak in members.values():
        if strong:
            for j in (*strong[1:], *weak):
                parent[root(j)] = root(strong[0])
    groups: dict[int, list[int]] = {}
    for i in range(len(findings)):
        groups.setdefault(root(i), []).append(i)
    return list(groups.values())


def _fold_title(findings: list[dict]) -> str | None:
    """The fold title shared by every finding of a group, when its kinds fold."""
    titles = {getattr(registry.kind(f.get("kind", "")), "fold", None) for f in findings}
    return titles.pop() if len(titles) == 1 and None not in titles else None


def _targets(f: dict) -> int:
    return sum(len(v) for v in (f.get("targets") or {}).values())


def _finding_rank(f: dict) -> tuple:
    """Most consequential finding first: tier, severity, extent, score, id."""
    return (TIERS.index(tier(f)), -len(compromised(f)), -SEVERITIES.index(f["severity"]), -_targets(f),
            -len(f.get("event_ids") or []), -float(f.get("score") or 0.0), str(f["id"]))


def _union(findings: list[dict], role: str) -> dict[str, list[str]]:
    merged: dict[str, list[str]] = {}
    for f in findings:
        for kind, values in (f.get(role) or {}).items():
            bucket = merged.setdefault(kind, [])
            seen = set(bucket)
            for v in values:
                if v not in seen:
                    bucket.append(v)
                    seen.add(v)
    return {k: v for k, v in merged.items() if v}


def _build(findings: list[dict], fold: str | None) -> dict:
    """One incident (without its number) from its findings, most consequential first."""
    ordered = sorted(findings, key=_finding_rank)
    lead = ordered[0]
    got_in = list(dict.fromkeys(u for f in ordered for u in compromised(f)))
    level = tier(lead)
    techniques = [t for t in dict.fromkeys(technique(f["kind"]) for f in ordered) if t is not None]
    kinds = list(dict.fromkeys(f["kind"] for f in ordered))
    actors, targets = _union(ordered, "actors"), _union(ordered, "targets")
    if fold is not None:
        clients = len(actors.get("ips", [])) or len(ordered)
        title = f"{fold}: {clients:,} unrelated client{'s' if clients != 1 else ''}"
        description = (f"{len(ordered):,} findings from {clients:,} clients that share nothing with any "
                       "other finding: opportunistic internet probing, folded into one low-priority "
                       "incident. Their addresses are in the blocklist; the most extensive: "
                       + "; ".join(f["title"] for f in ordered[:MAX_NAMED]) + ".")
        severity = "low"
    else:
        title = lead["title"] if len(ordered) == 1 else \
            f"{lead['title']} — and {len(ordered) - 1} related finding(s) from the same actor"
        description = lead.get("explanation", "")
        if len(ordered) > 1:
            others = [f"{f['kind']} {f['id']}: {f['title']}" for f in ordered[1:MAX_NAMED + 1]]
            more = len(ordered) - 1 - len(others)
            description += (" Related findings sharing an actor: " + "; ".join(others)
                            + (f"; and {more} more" if more > 0 else "") + ".")
        severity = "high" if level == "compromise" else max((f["severity"] for f in ordered),
                                                            key=SEVERITIES.index)
    if len(description) > MAX_DESCRIPTION:
        description = description[: MAX_DESCRIPTION - 1] + "…"
    firsts = [f["first_seen"] for f in ordered if f.get("first_seen")]
    lasts = [f["last_seen"] for f in ordered if f.get("last_seen")]
    return {
        "name": f"tracehound-{'fold-' + lead['kind'] if fold else lead['id']}",
        "properties": {
            "title": title,
            "description": description,
            "severity": _SENTINEL_SEVERITY[severity],
            "status": "New",
            "firstActivityTimeUtc": min(firsts) if firsts else None,
            "lastActivityTimeUtc": max(lasts) if lasts else None,
            "labels": [{"labelName": "tracehound"}, {"labelName": level},
                       *({"labelName": k} for k in kinds)],
            "additionalData": {
                "tactics": list(dict.fromkeys(t.tactic for t in techniques)),
                "techniques": [t.id for t in techniques],
                "techniqueNames": [t.name for t in techniques],
                "alertsCount": len(ordered),
            },
        },
        "tier": level,
        "folded": fold is not None,
        "kind": lead["kind"],
        "kinds": kinds,
        "score": lead["score"],
        "compromised_users": got_in,
        "actors": actors,
        "targets": targets,
        "entities": _union(ordered, "entities"),
        "finding_ids": [f["id"] for f in ordered],
        "findings": [{"id": f["id"], "kind": f["kind"], "title": f["title"], "severity": f["severity"],
                      "tier": tier(f)} for f in ordered],
        "event_count": sum(len(f.get("event_ids") or []) for f in ordered),
    }


def _incident_rank(inc: dict, members: list[dict]) -> tuple:
    return (TIERS.index(inc["tier"]), inc["folded"], -len(inc["compromised_users"]),
            -sum(len(v) for v in inc["targets"].values()), -inc["event_count"],
            -max(SEVERITIES.index(f["severity"]) for f in members), inc["finding_ids"][0])


def incidents(findings: list[dict]) -> list[dict]:
    """Incidents for all findings (dicts as in ``findings.jsonl``), most urgent first, numbered from 1."""
    built: list[tuple[dict, list[dict]]] = []
    folds: dict[str, list[dict]] = {}
    for indexes in group(findings):
        members = [findings[i] for i in indexes]
        fold = _fold_title(members)
        if fold is not None:
            folds.setdefault(fold, []).extend(members)
        else:
            built.append((_build(members, None), members))
    built += [(_build(members, fold), members) for fold, members in folds.items()]
    built.sort(key=lambda pair: _incident_rank(*pair))
    out = []
    for number, (inc, _) in enumerate(built, start=1):
        out.append({**inc, "incidentNumber": number})
    return out
