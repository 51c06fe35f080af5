"""The findings contract (DESIGN.md §4): one typed record per finding, consumed by every reporter.

Users' scripts and the evaluation read ``findings.jsonl``, so the keys here are stable. Detector-
specific numbers go in ``evidence``; everything an analyst needs to act goes in ``explanation``.

Every finding names its entities by *role*: ``actors`` are the attacking side (source addresses,
user agents, the account an intruder moves with), ``targets`` what they went for (accounts tried,
hosts scanned, compromised accounts). Both map an entity type from :data:`ENTITY_TYPES` to values;
``entities`` is their union, kept for scripts written against the first contract. Artefacts are
built from roles only, so a scanned host can never reach a blocklist.

A :class:`Kind` is the registry entry each hunt package declares for every finding kind it produces
(``tracehound.registry`` collects them): name, canonical table, ATT&CK mapping, which entity types
are actors and targets, whether actor addresses may be blocked, and the plot family the report draws.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, field
from datetime import datetime, timezone
from pathlib import Path
from typing import Iterable

import orjson

SEVERITIES = ("low", "medium", "high")
#: Entity types a finding's ``actors`` / ``targets`` / ``entities`` may hold.
ENTITY_TYPES = ("users", "ips", "hosts", "user_agents", "ports")
#: Plot families the report knows how to draw from a kind's evidence.
PLOT_FAMILIES = ("spray", "series", "path")
#: Consequence tiers, most urgent first: the one priority scale incidents are ordered on across
#: hunts (a detector's score compares only within its kind). A finding whose evidence names
#: ``compromised_users`` is a compromise whatever its kind's tier.
TIERS = ("compromise", "lateral", "active_attack", "reconnaissance", "hygiene")


@dataclass(frozen=True)
class Kind:
    """One finding kind, declared once by the hunt package that produces it.

    ``actors`` / ``targets``: the entity types a finding of this kind lists in each role.
    ``blockable``: its actors' addresses are an attacker's own and may go to a blocklist (a
    rotating residential proxy of a low-and-slow spray, or an internal account, is not).
    ``blockable_agents``: its actors' user agents are a tool's fingerprint (a spray campaign's
    invariant agent) and may go to the user-agent blocklist; a web visitor's browser string is not.
    ``plot``: the report's plot family for its evidence (one of :data:`PLOT_FAMILIES`), or None.
    ``tier``: the consequence of a finding of this kind (one of :data:`TIERS`), which orders
    incidents across hunts; a linked success raises any finding to ``compromise``.
    ``block_from``: the lowest finding severity whose actor addresses go to the blocklist. Severity
    says how much is at stake; for a burst on one account (a brute force) that is little, yet its
    source is no less hostile, so such kinds block from ``low``.
    ``fold``: when set, findings of this kind that share no actor with any other finding fold into
    one incident of this title (many unrelated clients probing a web server are one piece of
    internet background noise, not a hundred incidents).
    """

    name: str
    hunt: str
    table: str
    title: str
    tactic: str
    technique: str
    technique_name: str
    actors: tuple[str, ...] = ()
    targets: tuple[str, ...] = ()
    blockable: bool = False
    plot: str | None = None
    blockable_agents: bool = False
    tier: str = "active_attack"
    block_from: str = "medium"
    fold: str | None = None

    def __post_init__(self) -> None:
        bad = [t for t in (*self.actors, *self.targets) if t not in ENTITY_TYPES]
        if bad:
            raise ValueError(f"kind {self.name}: unknown entity type(s) {bad}; expected {ENTITY_TYPES}")
        if self.plot is not None and self.plot not in PLOT_FAMILIES:
            raise ValueError(f"kind {self.name}: unknown plot family {self.plot!r}")
        if self.tier not in TIERS:
            raise ValueError(f"kind {self.name}: unknown tier {self.tier!r}; expected one of {TIERS}")
        if self.block_from not in SEVERITIES:
            raise ValueError(f"kind {self.name}: block_from {self.block_from!r} is not one of {SEVERITIES}")


def rank_key(finding: "Finding | dict") -> tuple[int, float]:
    """Sort key for triage: severity first, then score. Scores are only comparable within a hunt, so
    a web session's large surprisal score must not bury a high-severity spray campaign."""
    data = finding.to_dict() if isinstance(finding, Finding) else finding
    return (-SEVERITIES.index(data["severity"]), -float(data["score"]))


def iso_utc(value) -> str | None:
    """ISO-8601 UTC text (``2024-03-01T12:00:00Z``) from a datetime / pandas Timestamp / None."""
    if value is None:
        return None
    if hasattr(value, "to_pydatetime"):
        value = value.to_pydatetime()
    if isinstance(value, datetime):
        if value.tzinfo is None:
            value = value.replace(tzinfo=timezone.utc)
        return value.astimezone(timezone.utc).isoformat().replace("+00:00", "Z")
    return str(value)


def _union(*roles: dict[str, list[str]]) -> dict[str, list[str]]:
    """Entity type → values of every role, in order, without repeats."""
    merged: dict[str, list[str]] = {}
    for role in roles:
        for kind, values in role.items():
            merged.setdefault(kind, [])
            merged[kind].extend(v for v in values if v not in merged[kind])
    return merged


@dataclass
class Finding:
    """One finding: what was seen, how bad, who did it to whom, which raw records, and why."""

    kind: str
    id: str
    title: str
    severity: str
    score: float
    first_seen: str | None
    last_seen: str | None
    actors: dict[str, list[str]] = field(default_factory=dict)
    targets: dict[str, list[str]] = field(default_factory=dict)
    event_ids: list[str] = field(default_factory=list)
    explanation: str = ""
    evidence: dict = field(default_factory=dict)
    success_event_ids: list[str] | None = None
    entities: dict[str, list[str]] = field(default_factory=dict)

    def __post_init__(self) -> None:
        if self.severity not in SEVERITIES:
            raise ValueError(f"severity {self.severity!r} is not one of {SEVERITIES}")
        for role in (self.actors, self.targets):
            bad = [k for k in role if k not in ENTITY_TYPES]
            if bad:
                raise ValueError(f"finding {self.id}: unknown entity type(s) {bad}; expected {ENTITY_TYPES}")
        if not self.entities:
            self.entities = _union(self.actors, self.targets)

    def to_dict(self) -> dict:
        data = asdict(self)
        if data["success_event_ids"] is None:
            del data["success_event_ids"]
        return data


def _default(obj):
    """JSON for the numpy / pandas scalars that detector evidence naturally contains."""
    if hasattr(obj, "item"):
        return obj.item()
    if hasattr(obj, "tolist"):
        return obj.tolist()
    if isinstance(obj, datetime) or hasattr(obj, "to_pydatetime"):
        return iso_utc(obj)
    raise TypeError(f"cannot serialise {type(obj).__name__}")


def dumps(finding: Finding | dict) -> bytes:
    data = finding.to_dict() if isinstance(finding, Finding) else finding
    return orjson.dumps(data, default=_default, option=orjson.OPT_SERIALIZE_NUMPY)


def ordered(findings: Iterable[Finding]) -> list[Finding]:
    """Findings most severe first, then by score, then by id: the same order on every engine."""
    return sorted(findings, key=lambda f: (*rank_key(f), f.id))


def write_jsonl(findings: Iterable[Finding], path: str | Path) -> Path:
    """Write findings one JSON object per line, in :func:`ordered` order."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    with path.open("wb") as out:
        for f in ordered(findings):
            out.write(dumps(f) + b"\n")
    return path


def read_jsonl(path: str | Path) -> list[dict]:
    """Read a ``findings.jsonl`` back as dicts (for reporters, evaluation and tests)."""
    with Path(path).open("rb") as fh:
        return [orjson.loads(line) for line in fh if line.strip()]
