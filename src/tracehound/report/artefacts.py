"""The files an analyst acts on: a watchlist of accounts, IP and user-agent blocklists, hosts to isolate.

Each is derived from findings (and the incidents made of them) only, so it can be rebuilt from
``findings.jsonl`` alone, and from *roles* only (``actors`` / ``targets``, see the findings contract):

- an address goes to the IP blocklist only as the actor of a kind the registry marks ``blockable``,
  from the kind's ``block_from`` severity up, so a scanned host, a sprayed account's office or a
  victim is never blocked by the file meant to protect them; internal actor addresses and actor host
  names go to ``isolate_hosts.txt`` instead (:mod:`.blocklist` says what else is refused);
- a user agent goes to the user-agent blocklist only as the actor of a kind marked
  ``blockable_agents`` *and* when the finding's evidence shows it is rare among successful sign-ins
  (``evidence.anomalous_values.user_agent``): blocking a campaign's Chrome string would lock out
  everyone who uses that Chrome.
"""

from __future__ import annotations

import csv
import re
from collections import defaultdict
from pathlib import Path
from typing import Iterable

from .. import registry
from ..findings import SEVERITIES
from .blocklist import BlockPolicy, Cleaned, clean, parse_entry
from .incidents import compromised
from .safety import csv_cell, one_line

_RANK = {"targeted": 0, "suspicious": 1, "compromised": 2}
#: What a host name may hold (RFC 1123 labels, NetBIOS names): anything else is log text, not a host.
_HOST = re.compile(r"[A-Za-z0-9](?:[A-Za-z0-9._-]{0,252})")
#: Longest user agent written to the user-agent blocklist.
MAX_AGENT = 512


def _roles(f: dict) -> tuple[dict, dict]:
    return f.get("actors") or {}, f.get("targets") or {}


def _naming(incidents: Iterable[dict]) -> dict[str, list[int]]:
    """Account → the numbers of the incidents that name it (as actor, target or compromised)."""
    named: dict[str, list[int]] = defaultdict(list)
    for inc in incidents:
        users = {*inc.get("compromised_users", []), *(inc.get("actors") or {}).get("users", []),
                 *(inc.get("targets") or {}).get("users", [])}
        for user in users:
            named[user].append(int(inc["incidentNumber"]))
    return named


def watchlist_rows(findings: list[dict], incidents: Iterable[dict] = ()) -> list[dict]:
    """One row per account: the worst status seen, the incidents and findings that name it, and why.

    ``compromised``: a success linked to the finding (``evidence.compromised_users``), whether or not
    the account also had a failed attempt; ``suspicious``: the account is an actor (an intruder moves
    with it); ``targeted``: it was tried.
    """
    acc: dict[str, dict] = defaultdict(lambda: {"status": "targeted", "reasons": [], "finding_ids": [],
                                                 "first_seen": None, "last_seen": None})
    for f in findings:
        actors, targets = _roles(f)
        statuses = {**{u: "targeted" for u in targets.get("users", [])},
                    **{u: "suspicious" for u in actors.get("users", [])},
                    **{u: "compromised" for u in compromised(f)}}
        for user, status in statuses.items():
            row = acc[user]
            if _RANK[status] > _RANK[row["status"]]:
                row["status"] = status
            row["reasons"].append(f"{status} in {f['kind']} {f['id']}")
            row["finding_ids"].append(f["id"])
            for key, pick in (("first_seen", min), ("last_seen", max)):
                values = [v for v in (row[key], f.get(key)) if v]
                row[key] = pick(values) if values else None
    named = _naming(incidents)
    return [{"account": user, **row, "incidents": sorted(set(named.get(user, [])))} for user, row in
            sorted(acc.items(), key=lambda kv: (-_RANK[kv[1]["status"]], kv[0]))]


def write_watchlist(findings: list[dict], path: str | Path, incidents: Iterable[dict] = ()) -> Path:
    """``watchlist_accounts.csv``: account, status, incidents, reasons, finding ids, first/last seen
    (every text cell formula-safe)."""
    path = Path(path)
    with path.open("w", newline="", encoding="utf-8") as fh:
        writer = csv.writer(fh)
        writer.writerow(["account", "status", "incidents", "reasons", "finding_ids", "first_seen", "last_seen"])
        for row in watchlist_rows(findings, incidents):
            writer.writerow([csv_cell(row["account"]), row["status"], " ".join(map(str, row["incidents"])),
                             csv_cell(" | ".join(row["reasons"])), csv_cell(" ".join(row["finding_ids"])),
                             csv_cell(row["first_seen"] or ""), csv_cell(row["last_seen"] or "")])
    return path


def _blockable(f: dict) -> bool:
    """A finding whose actor addresses may be blocked: a blockable kind, at or above its kind's
    ``block_from`` severity."""
    declared = registry.kind(f["kind"])
    return bool(declared and declared.blockable
                and SEVERITIES.index(f["severity"]) >= SEVERITIES.index(declared.block_from))


def _actor_hosts(findings: list[dict]) -> list[str]:
    return [str(h) for f in findings if _blockable(f) for h in _roles(f)[0].get("hosts", [])]


def address_lists(findings: list[dict], policy: BlockPolicy = BlockPolicy()) -> Cleaned:
    """The actor addresses of blockable findings (a "host" that is an address counts as one), split
    into what to block (canonical, external unless the policy says otherwise), internal ones to
    isolate, and refused values."""
    hosts = [h for h in _actor_hosts(findings) if parse_entry(h, policy)[0] is not None]
    return clean([*(ip for f in findings if _blockable(f) for ip in _roles(f)[0].get("ips", [])), *hosts],
                 policy)


def blocklist_ips(findings: list[dict], policy: BlockPolicy = BlockPolicy()) -> list[str]:
    """Canonical addresses / networks to block (see :func:`address_lists`)."""
    return address_lists(findings, policy).block


def isolate_hosts(findings: list[dict], policy: BlockPolicy = BlockPolicy()) -> list[str]:
    """Internal attacking hosts: internal actor addresses of blockable findings, then actor host names
    (lower case; a name that is not a host name is log text and is left out)."""
    names = sorted({h.lower() for h in _actor_hosts(findings)
                    if parse_entry(h, policy)[0] is None and _HOST.fullmatch(h)})
    return [*address_lists(findings, policy).internal, *names]


def blocklist_user_agents(findings: list[dict]) -> list[str]:
    """User agents that are a tool's fingerprint: actor agents of kinds the registry marks
    ``blockable_agents`` that the finding's evidence shows to be rare among successful sign-ins.
    One line each: control characters become spaces; overlong or blank agents are left out."""
    values = set()
    for f in findings:
        declared = registry.kind(f["kind"])
        if declared is None or not declared.blockable_agents:
            continue
        rare = set(((f.get("evidence") or {}).get("anomalous_values") or {}).get("user_agent") or [])
        values.update(str(ua) for ua in _roles(f)[0].get("user_agents", []) if str(ua) in rare)
    lines = {one_line(v).strip() for v in values}
    return sorted(v for v in lines if v and len(v) <= MAX_AGENT)


def write_lines(lines: list[str], path: str | Path) -> Path:
    """One entry a line; entries come from the functions above and hold no line breaks."""
    path = Path(path)
    if any("\n" in line or "\r" in line for line in lines):
        raise ValueError("an entry of a line-per-entry file holds a line break")
    path.write_text("".join(f"{line}\n" for line in lines), encoding="utf-8")
    return path
