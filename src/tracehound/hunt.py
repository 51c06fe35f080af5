"""The one pipeline: route inputs by content, read each canonical table once, run every hunt on it.

Every command that hunts — ``tracehound hunt``, ``spray``, ``fanout``, ``web``, ``demo`` — is a mapping
of its options onto :func:`run`'s config, so the same input gives the same findings whichever
command read it. A hunt is built from its config section (``config.py``), fitted on the baseline
(all of its table, or the part before ``baseline_until``), scored on its whole table, and asked for
its findings (the contract in ``contract.py``); its ``Scores`` are kept in the result for the writers
that need more than findings (``clusters.jsonl``, ``ips.csv``).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from typing import Any, Callable, Iterable

from . import registry
from .badrecords import ReadReport
from .config import HuntConfig
from .engine import Engine
from .errors import InputFormatError
from .findings import Finding
from .outputs import is_output
from .readers.families import FAMILIES, Routing, read_family, route
from .windows import RunWindow, Searched, active_in, searched_of, split

Step = Callable[[str], None]
#: What the error says tracehound reads, when nothing among the inputs is a log.
READABLE = ("sign-ins, Windows logons, LANL auth, Linux auth syslog, Zeek/firewall connections, "
            "web access logs, antivirus detections")


@dataclass
class HuntResult:
    """Everything one run produced, for the reporters and the CLI summary."""

    findings: list[Finding]
    reports: dict[str, ReadReport]
    routing: Routing
    #: Hunt section → its ``Scores`` (the raw measurements behind its findings).
    scores: dict[str, Any] = field(default_factory=dict)
    #: Canonical tables that were read but that no selected hunt uses, and the other way round.
    unused_tables: list[str] = field(default_factory=list)
    missing_tables: list[str] = field(default_factory=list)
    #: Hunt section → the baseline and detection windows it searched.
    searched: dict[str, Searched] = field(default_factory=dict)
    #: Hunt section → why it could not run on its input (the other hunts went on).
    skipped: dict[str, str] = field(default_factory=dict)

    def read_summary(self) -> ReadReport:
        """All readers' reports in one, with the files no reader recognised as unreadable."""
        total = ReadReport()
        for report in self.reports.values():
            total.merge(report)
        for path in self.routing.unrecognised:
            total.unreadable(path, "not a log format tracehound reads")
        for path, reason in self.routing.unreadable:
            total.unreadable(path, reason)
        return total

    def counts(self) -> dict[str, int]:
        counts: dict[str, int] = {}
        for f in self.findings:
            counts[f.kind] = counts.get(f.kind, 0) + 1
        return counts


def _table_order(tables: Iterable[str]) -> list[str]:
    """Tables in routing order, then any table only canonical Parquet provides (``detections``)."""
    known = [f.table for f in FAMILIES]
    wanted = list(dict.fromkeys(tables))
    return [t for t in known if t in wanted] + [t for t in wanted if t not in known]


def run(paths: Iterable[str | Path], engine: Engine, config: HuntConfig | None = None, *,
        only: list[str] | None = None, read_options: dict[str, dict] | None = None,
        window: RunWindow | None = None, baseline_until: datetime | None = None,
        step: Step | None = None) -> HuntResult:
    """Route, read and hunt; ``only`` limits the run to those hunt sections; ``step`` hears progress.

    ``read_options`` are passed to a table's reader (logons: ``accounts``; connections: ``mapping``).
    ``window``: ``--since`` / ``--until`` / ``--detect-last`` for every hunt (see ``windows.py``).
    ``baseline_until``: fit every hunt on its rows before this time, score and report all of them.
    A hunt that cannot work on its input (``InputFormatError``: a sign-in export without failures) is
    recorded in ``skipped`` and the others go on; when every selected hunt fails, the first error is
    raised, so a single-hunt command still ends in one clear line.
    """
    config = config or HuntConfig()
    window = window or RunWindow()
    config.validate()
    entries = config.selected(only)
    hunts = [(e, registry.hunt(e.section).make(window.params(e, config.params(e.section)),
                                               f"config [{e.section}]")) for e in entries]
    say = step or (lambda _msg: None)
    say("routing inputs")
    paths = list(paths)
    routing = _without_outputs(route(paths))
    if not routing.files and not routing.canonical:
        raise InputFormatError(f"no input is a log tracehound reads ({READABLE}): "
                               + ", ".join(str(p) for p in (routing.unrecognised or paths)[:10]))
    needed = {config.table_for(e) for e in entries}
    present = set(routing.files) | set(routing.canonical)
    result = HuntResult([], {}, routing, unused_tables=sorted(present - needed),
                        missing_tables=sorted(needed - present))
    if not needed & present:
        names = ", ".join(e.section for e in entries)
        raise InputFormatError(f"none of the inputs is a {' or '.join(sorted(needed))} log, which "
                               f"{names} read{'s' if len(entries) == 1 else ''}; the inputs are "
                               + (", ".join(f"{t} ({len(routing.files.get(t, [])) + len(routing.canonical.get(t, []))}"
                                            " files)" for t in sorted(present)) or "unrecognised"))
    options = read_options or {}
    errors: list[InputFormatError] = []
    for table in _table_order(needed & present):
        files, canonical = routing.files.get(table, []), routing.canonical.get(table, [])
        say(f"reading {len(files) + len(canonical):,} {table} file(s)")
        data, report = read_family(table, files, canonical, engine, **options.get(table, {}))
        result.reports[table] = report
        if data is None:
            continue
        data = window.rows(data)
        spans = split(window, data, engine)
        read = f" ({report.records:,} records, {report.bad_count:,} set aside)" if files else ""
        for entry, hunt in hunts:
            if config.table_for(entry) != table:
                continue
            say(f"{entry.section}: {entry.description or 'hunting'}{read}")
            try:
                result.findings.extend(_hunt_one(result, entry, hunt, data, spans, window, baseline_until,
                                                 engine))
            except InputFormatError as exc:
                errors.append(exc)
                result.skipped[entry.section] = str(exc)
    if errors and not result.scores:
        raise errors[0]
    return result


def _without_outputs(routing: Routing) -> Routing:
    """Routing minus files in a folder tracehound wrote its outputs to: a run never reads old findings."""
    def keep(files: list[Path]) -> list[Path]:
        return [f for f in files if not is_output(f)]
    return Routing({t: kept for t, fs in routing.files.items() if (kept := keep(fs))},
                   {t: kept for t, fs in routing.canonical.items() if (kept := keep(fs))},
                   keep(routing.unrecognised), list(routing.unreadable))


def _hunt_one(result: HuntResult, entry, hunt, data, spans, window: RunWindow, baseline_until: datetime | None,
              engine: Engine) -> list[Finding]:
    """Fit one hunt on its baseline, score its rows, keep its findings, record what it searched.

    ``spans``: the table's baseline rows and spans under the run's window (:func:`windows.split`); a hunt
    that cuts its own window is fitted on all rows and states the windows its scores carry."""
    baseline, base_span, detect_span = spans
    if window.owns_window(entry):
        baseline = data
    if baseline_until is not None:
        baseline = baseline.filter(baseline.time < baseline_until)
        base_span = (base_span[0], min(filter(None, (base_span[1], baseline_until))))
    scores = hunt.fit(baseline, engine).score(data)
    result.scores[entry.section] = scores
    searched = searched_of(scores, Searched(base_span, detect_span))
    result.searched[entry.section] = searched
    findings = hunt.detect(scores)
    return findings if window.owns_window(entry) else active_in(findings, searched.detection)
