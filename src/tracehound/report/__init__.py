"""Reporters: findings in, the artefacts an analyst acts on out (DESIGN.md §2).

Reporters know findings, the registry's kinds and roles — never a hunt package: everything they need
is in ``findings.jsonl`` and the kind declarations. See ``docs/report.md`` for every file.
"""

from __future__ import annotations

from pathlib import Path

import orjson

from ..badrecords import ReadReport
from ..findings import Finding, read_jsonl, write_jsonl
from . import artefacts, blocklist, html, rules
from .blocklist import BlockPolicy
from .incidents import incidents

OUTPUT_FILES = ("findings.jsonl", "incidents.json", "watchlist_accounts.csv", "blocklist_ips.txt",
                "blocklist_ips.nft", "blocklist_ips.ipset", "isolate_hosts.txt", "blocklist_user_agents.txt",
                "detection_rules.yml", "detection_rules.kql", "report.html")
REJECTS = "rejects.jsonl"


def write_rejects(reads: ReadReport, out_dir: str | Path) -> Path | None:
    """``rejects.jsonl`` when anything was set aside; a stale one from an earlier run is removed, so
    the folder never claims rejects this run did not have."""
    path = Path(out_dir) / REJECTS
    if reads.bad_count or reads.unreadable_files:
        path.parent.mkdir(parents=True, exist_ok=True)
        return reads.write_rejects(path)
    path.unlink(missing_ok=True)
    return None


def write_outputs(findings: list[Finding], out_dir: str | Path, summary: list[tuple[str, str]],
                  *, reads: ReadReport | None = None, title: str = "tracehound report",
                  block_policy: BlockPolicy = BlockPolicy()) -> dict[str, Path]:
    """Write every output file for one run into ``out_dir``; returns name → path.

    ``findings.jsonl`` is written first and everything else is derived from it, so the other files can
    always be rebuilt from the findings alone. ``block_policy`` says what the IP blocklists may hold
    (internal addresses, special ones, the widest network).
    """
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    paths = {"findings.jsonl": write_jsonl(findings, out / "findings.jsonl")}
    rows = read_jsonl(paths["findings.jsonl"])
    incs = incidents(rows)
    paths["incidents.json"] = out / "incidents.json"
    paths["incidents.json"].write_bytes(orjson.dumps(incs, option=orjson.OPT_INDENT_2))
    paths["watchlist_accounts.csv"] = artefacts.write_watchlist(rows, out / "watchlist_accounts.csv", incs)
    addresses = artefacts.address_lists(rows, block_policy)
    paths["blocklist_ips.txt"] = artefacts.write_lines(addresses.block, out / "blocklist_ips.txt")
    for name, fmt in (("blocklist_ips.nft", "nftables"), ("blocklist_ips.ipset", "ipset")):
        paths[name] = out / name
        paths[name].write_text(blocklist.render(addresses.block, fmt), encoding="utf-8")
    paths["isolate_hosts.txt"] = artefacts.write_lines(artefacts.isolate_hosts(rows, block_policy),
                                                       out / "isolate_hosts.txt")
    paths["blocklist_user_agents.txt"] = artefacts.write_lines(artefacts.blocklist_user_agents(rows),
                                                               out / "blocklist_user_agents.txt")
    paths["detection_rules.yml"], paths["detection_rules.kql"] = rules.write_rules(
        rows, out / "detection_rules.yml", out / "detection_rules.kql")
    paths["report.html"] = out / "report.html"
    paths["report.html"].write_text(html.render(rows, summary, title=title, incidents=incs), encoding="utf-8")
    if reads is not None and (rejects := write_rejects(reads, out)) is not None:
        paths[REJECTS] = rejects
    return paths
