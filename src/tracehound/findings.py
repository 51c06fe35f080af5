"""The findings contract (DESIGN.md §4): one typed record per finding, consumed by every reporter.

Users' scripts and the evaluation read ``findings.jsonl``, so the keys here are stable. Detector-
specific numbers go in ``evidence``; everything an analyst needs to act goes in ``explanation``.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, field
from datetime import datetime, timezone
from pathlib import Path
from typing import Iterable

import orjson

SEVERITIES = ("low", "medium", "high")


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


@dataclass
class Finding:
    """One finding: what was seen, how bad, which raw records, and why."""

    kind: str
    id: str
    title: str
    severity: str
    score: float
    first_seen: str | None
    last_seen: str | None
    entities: dict[str, list[str]] = field(default_factory=dict)
    event_ids: list[str] = field(default_factory=list)
    explanation: str = ""
    evidence: dict = field(default_factory=dict)
    success_event_ids: list[str] | None = None

    def __post_init__(self) -> None:
        if self.severity not in SEVERITIES:
            raise ValueError(f"severity {self.severity!r} is not one of {SEVERITIES}")

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


def write_jsonl(findings: Iterable[Finding], path: str | Path) -> Path:
    """Write findings one JSON object per line, most severe first, then by score."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    ordered = sorted(findings, key=rank_key)
    with path.open("wb") as out:
        for f in ordered:
            out.write(dumps(f) + b"\n")
    return path


def read_jsonl(path: str | Path) -> list[dict]:
    """Read a ``findings.jsonl`` back as dicts (for reporters, evaluation and tests)."""
    with Path(path).open("rb") as fh:
        return [orjson.loads(line) for line in fh if line.strip()]
