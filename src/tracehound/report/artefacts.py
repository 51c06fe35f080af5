"""The files an analyst acts on: a watchlist of accounts, IP and user-agent blocklists.

Each is derived from findings only, so it can be rebuilt from ``findings.jsonl`` alone, and from
*roles* only (``actors`` / ``targets``, see the findings contract): an address goes to the blocklist
only as the actor of a kind the registry marks ``blockable``, so a scanned host, a sprayed account's
office or a victim can never be blocked by the file meant to protect them.
"""

from __future__ import annotations

import csv
from collections import defaultdict
from pathlib import Path

from .. import registry
from .blocklist import clean_ips
from .safety import csv_cell

_RANK = {"targeted": 0, "suspicious": 1, "compromised": 2}


def _roles(f: dict) -> tuple[dict, dict]:
    return f.get("actors") or {}, f.get("targets") or {}


def watchlist_rows(findings: list[dict]) -> list[dict]:
    """One row per account: the worst status seen, why, and the findings that say so.

    ``compromised``: a success linked to the finding (``evidence.compromised_users``), whether or not
    the account also had a failed attempt; ``suspicious``: the account is an actor (an intruder moves
    with it); ``targeted``: it was tried.
    """
    acc: dict[str, dict] = defaultdict(lambda: {"status": "targeted", "reasons": [], "finding_ids": [],
                                                 "first_seen": None, "last_seen": None})
    for f in findings:
        actors, targets = _roles(f)
        compromised = list(f.get("evidence", {}).get("compromised_users", []))
        statuses = {**{u: "targeted" for u in targets.get("users", [])},
                    **{u: "suspicious" for u in actors.get("users", [])},
                    **{u: "compromised" for u in compromised}}
        for user, status in statuses.items():
            row = acc[user]
            if _RANK[status] > _RANK[row["status"]]:
                row["status"] = status
            row["reasons"].append(f"{status} in {f['kind']} {f['id']}: {f['title']}")
            row["finding_ids"].append(f["id"])
            for key, pick in (("first_seen", min), ("last_seen", max)):
                values = [v for v in (row[key], f.get(key)) if v]
                row[key] = pick(values) if values else None
    return [{"account": user, **row} for user, row in
            sorted(acc.items(), key=lambda kv: (-_RANK[kv[1]["status"]], kv[0]))]


def write_watchlist(findings: list[dict], path: str | Path) -> Path:
    """``watchlist_accounts.csv``: account, status, reasons, finding ids, first/last seen (injection-safe)."""
    path = Path(path)
    with path.open("w", newline="", encoding="utf-8") as fh:
        writer = csv.writer(fh)
        writer.writerow(["account", "status", "reasons", "finding_ids", "first_seen", "last_seen"])
        for row in watchlist_rows(findings):
            writer.writerow([csv_cell(row["account"]), row["status"], csv_cell(" | ".join(row["reasons"])),
                             csv_cell(" ".join(row["finding_ids"])), row["first_seen"] or "",
                             row["last_seen"] or ""])
    return path


def blocklist_ips(findings: list[dict]) -> list[str]:
    """Canonical IP addresses to block: the actor addresses of high-severity findings of blockable
    kinds. Anything that does not parse as an address is dropped; IPv4 first."""
    values: list[str] = []
    for f in findings:
        declared = registry.kind(f["kind"])
        if declared is not None and declared.blockable and f["severity"] == "high":
            values.extend(_roles(f)[0].get("ips", []))
    return clean_ips(values)[0]


def blocklist_user_agents(findings: list[dict]) -> list[str]:
    """User agents that are a tool's fingerprint: the actor user agents of kinds the registry marks
    ``blockable_agents`` (a spray campaign's invariant agent), never an ordinary visitor's browser."""
    values = set()
    for f in findings:
        declared = registry.kind(f["kind"])
        if declared is not None and declared.blockable_agents:
            values.update(str(ua) for ua in _roles(f)[0].get("user_agents", []) if ua)
    return sorted(v.replace("\n", " ").replace("\r", " ") for v in values)


def write_lines(lines: list[str], path: str | Path) -> Path:
    path = Path(path)
    path.write_text("".join(f"{line}\n" for line in lines), encoding="utf-8")
    return path
