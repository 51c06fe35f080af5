"""The files an analyst acts on: a watchlist of accounts, IP and user-agent blocklists.

Each is derived from findings only, so it can be rebuilt from ``findings.jsonl`` alone. Block entries
come only from findings whose evidence says the value is the attacker's (a scanner's IP, a campaign's
invariant user agent), never from every IP a randomising campaign happened to use once.
"""

from __future__ import annotations

import csv
import ipaddress
from collections import defaultdict
from pathlib import Path

from .safety import csv_cell

#: Kinds whose ``entities.ips`` are the attacker's own addresses when the finding is high severity.
ATTACKER_IP_KINDS = {"web_session", "fast_spray", "brute_force", "host_scan", "port_scan", "canary_access"}
_RANK = {"targeted": 0, "suspicious": 1, "compromised": 2}


def watchlist_rows(findings: list[dict]) -> list[dict]:
    """One row per account: the worst status seen, why, and the findings that say so."""
    acc: dict[str, dict] = defaultdict(lambda: {"status": "targeted", "reasons": [], "finding_ids": [],
                                                 "first_seen": None, "last_seen": None})
    for f in findings:
        compromised = set(f.get("evidence", {}).get("compromised_users", []))
        for user in f.get("entities", {}).get("users", []):
            row = acc[user]
            status = "compromised" if user in compromised else (
                "targeted" if f["kind"] in {"password_spray", "fast_spray", "brute_force"} else "suspicious")
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
                             " ".join(row["finding_ids"]), row["first_seen"] or "", row["last_seen"] or ""])
    return path


def blocklist_ips(findings: list[dict]) -> list[str]:
    """Valid IP addresses / networks to block: attackers' own IPs from high findings, and spray campaigns'
    invariant addresses (``evidence.blockable_ips``). Anything that does not parse as an IP is dropped."""
    values: set[str] = set()
    for f in findings:
        if f["kind"] in ATTACKER_IP_KINDS and f["severity"] == "high":
            values.update(f.get("entities", {}).get("ips", []))
        values.update(f.get("evidence", {}).get("blockable_ips", []))
    valid = []
    for v in values:
        try:
            valid.append(str(ipaddress.ip_network(str(v), strict=False)) if "/" in str(v)
                         else str(ipaddress.ip_address(str(v))))
        except ValueError:
            continue
    return sorted(set(valid), key=lambda s: (":" in s, s))


def blocklist_user_agents(findings: list[dict]) -> list[str]:
    """User agents a campaign always used and real users don't (``evidence.blockable_user_agents``)."""
    values = {ua for f in findings for ua in f.get("evidence", {}).get("blockable_user_agents", [])}
    return sorted(v.replace("\n", " ").replace("\r", " ") for v in values if v)


def write_lines(lines: list[str], path: str | Path) -> Path:
    path = Path(path)
    path.write_text("".join(f"{line}\n" for line in lines), encoding="utf-8")
    return path
