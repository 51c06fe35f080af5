"""``simulate_signins``: a labelled Entra ID tenant on disk (SigninLogs + labels.csv + campaigns.json).

The public entry point of the simulator. It builds the tenant (:mod:`.tenant`), its benign sign-ins, the
benign noise (:mod:`.confounders`) and the planted attacks (:mod:`.attacks`), merges any external records
(e.g. real spray runs spread over weeks), sorts everything by time and writes it (:mod:`.writer`).
Same arguments and seed → byte-identical files.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Sequence

import numpy as np
import orjson
import pyarrow.parquet as pq

from ..errors import ConfigError
from .attacks import DIFFICULTIES, BruteForce, Campaign, FastSpray, LowAndSlowSpray, describe, plant
from .confounders import NO_CONFOUNDERS, Confounders, StaleCredential, add_confounders
from .events import KIND, KINDS, Events
from .external import m365_to_signinlogs, spread_records
from .presets import default_campaigns
from .tenant import DAY_MS, benign_signins, build_tenant
from .writer import ChunkWriter, ExtraRecord, open_output, record_time, write_lines

__all__ = ["simulate_signins", "SimulationResult", "default_campaigns", "tenant_user_names", "ExtraRecord",
           "spread_records", "m365_to_signinlogs", "LowAndSlowSpray", "FastSpray", "BruteForce", "StaleCredential",
           "Confounders", "DIFFICULTIES"]

CHUNK_ROWS = 200_000
FORMATS = ("jsonl", "parquet")


@dataclass
class SimulationResult:
    """What :func:`simulate_signins` wrote.

    paths: the SigninLogs files, in time order. labels_path: ``labels.csv`` (event_id,label,kind,success),
    one row per event in the same order. campaigns_path: ``campaigns.json`` (knobs and realised facts).
    campaigns: the campaign specs planted. counts_by_kind: events per label kind.
    """

    paths: list[Path]
    labels_path: Path
    campaigns_path: Path
    n_events: int
    campaigns: list[Campaign]
    counts_by_kind: dict[str, int] = field(default_factory=dict)


def tenant_user_names(users: int = 2000, seed: int = 0, *, domain: str = "contoso.com") -> list[str]:
    """The UserPrincipalNames :func:`simulate_signins` gives the tenant for these arguments.

    Lets a caller re-target external records (a real spray run) at this tenant's users before injecting
    them with ``extra_records``.
    """
    return [u for u, _, _ in build_tenant(users, seed, domain=domain).tables.users]


def _extras_batch(extras: list[ExtraRecord], tables) -> Events:
    times, results, labels, kinds = [], [], [], []
    ids = [str(e.record.get("Id", "")) for e in extras]
    if "" in ids or len(set(ids)) != len(ids):
        raise ConfigError("every external record needs its own non-empty 'Id' (missing or duplicated)")
    for e in extras:
        if e.kind not in KIND:
            raise ConfigError(f"external record kind {e.kind!r} is not one of {', '.join(KINDS)}")
        try:
            times.append(int(record_time(e.record).timestamp() * 1000))
        except ValueError as exc:
            raise ConfigError(str(exc)) from None
        try:
            results.append(int(e.record.get("ResultType")))
        except (TypeError, ValueError):
            results.append(-1)
        labels.append(tables.label(e.label))
        kinds.append(KIND[e.kind])
    return Events.build(len(extras), time_ms=np.array(times, np.int64), result=np.array(results), label=labels,
                        kind=kinds, ext=np.arange(len(extras)))


def _file_windows(time_ms: np.ndarray, start_ms: int, days: int, files: int,
                  file_minutes: float | None) -> list[tuple[int, int, int]]:
    """(first row, end row, window start ms) of each non-empty output file; rows are sorted by time."""
    window = int(file_minutes * 60_000) if file_minutes else -(-days * DAY_MS // files)
    last = max(0, -(-days * DAY_MS // window) - 1)
    fidx = np.clip((time_ms - start_ms) // window, 0, last)
    cuts = np.flatnonzero(np.diff(fidx)) + 1
    starts = np.concatenate([[0], cuts]).astype(np.int64)
    ends = np.concatenate([cuts, [len(time_ms)]]).astype(np.int64)
    return [(int(a), int(b), start_ms + int(fidx[a]) * window) for a, b in zip(starts, ends) if b > a]


def _file_name(fmt: str, gzip: bool, window_ms: int | None) -> str:
    ext = ".parquet" if fmt == "parquet" else ".jsonl" + (".gz" if gzip else "")
    if window_ms is None:
        return "SigninLogs" + ext
    stamp = dt.datetime.fromtimestamp(window_ms / 1000, dt.timezone.utc).strftime("%Y%m%dT%H%M%SZ")
    return f"SigninLogs-{stamp}{ext}"


def _validate(users: int, days: int, seed: int, rate: float, fmt: str, files: int, file_minutes: float | None,
              campaigns: list[Campaign]) -> None:
    if users < 1 or days < 1:
        raise ConfigError(f"users and days must be at least 1 (got users={users}, days={days})")
    if seed < 0:
        raise ConfigError(f"seed must be a non-negative integer, got {seed}")
    if rate <= 0:
        raise ConfigError(f"signins_per_day must be positive, got {rate}")
    if fmt not in FORMATS:
        raise ConfigError(f"format must be one of {', '.join(FORMATS)}, got {fmt!r}")
    if files < 1 or files > days * 1440:
        raise ConfigError(f"files must be between 1 and one per minute ({days * 1440}), got {files}")
    if file_minutes is not None and file_minutes < 1:
        raise ConfigError(f"file_minutes must be at least 1, got {file_minutes}")
    names = [c.name for c in campaigns]
    if len(set(names)) != len(names) or "benign" in names:
        raise ConfigError(f"campaign names must be unique and not 'benign': {names}")


def _write(events: Events, writer: ChunkWriter, out: Path, fmt: str, gzip: bool,
           windows: list[tuple[int, int, int]], *, split: bool) -> tuple[list[Path], Path]:
    """Write the sorted events into one file per window, chunk by chunk, and labels.csv alongside.

    Earlier SigninLogs files in ``out`` (same naming scheme) are removed first: a reader pointed at the
    folder must not pick up a previous run's files next to this run's labels.
    """
    for stale in [*out.glob("SigninLogs.*"), *out.glob("SigninLogs-*")]:
        if stale.is_file() and stale.name.endswith((".jsonl", ".jsonl.gz", ".parquet")):
            stale.unlink()
    paths: list[Path] = []
    labels_path = out / "labels.csv"
    with open(labels_path, "wb") as labels:
        labels.write(b"event_id,label,kind,success\n")
        for a, b, window_ms in windows:
            path = out / _file_name(fmt, gzip, window_ms if split else None)
            paths.append(path)
            pq_writer = None
            with open_output(path, gzip and fmt == "jsonl") as stream:
                for lo in range(a, b, CHUNK_ROWS):
                    hi = min(b, lo + CHUNK_ROWS)
                    chunk, index = events.take(slice(lo, hi)), np.arange(lo, hi)
                    write_lines(labels, writer.label_lines(chunk, index))
                    if fmt == "jsonl":
                        write_lines(stream, writer.json_lines(chunk, index))
                    else:
                        table = writer.parquet_table(chunk, index)
                        pq_writer = pq_writer or pq.ParquetWriter(stream, table.schema, compression="zstd")
                        pq_writer.write_table(table)
                if pq_writer is not None:
                    pq_writer.close()
    return paths, labels_path


def simulate_signins(out_dir: str | Path, *, users: int = 2000, days: int = 120, seed: int = 0,
                     start: str = "2024-01-01", campaigns: Sequence[Campaign] | None = None,
                     confounders: bool | Confounders = True, fmt: str = "jsonl", gzip: bool = False,
                     files: int = 1, file_minutes: float | None = None, difficulty: str = "standard",
                     signins_per_day: float = 3.0, domain: str = "contoso.com",
                     extra_records: Sequence[ExtraRecord | dict] | None = None) -> SimulationResult:
    """Write a simulated tenant's SigninLogs with planted attacks and ground-truth labels into ``out_dir``.

    campaigns: the attacks to plant; None → :func:`default_campaigns` (seed, difficulty). confounders: True
    for the default benign noise, False for none, or a :class:`Confounders` with your own rates.
    fmt: "jsonl" (one JSON object per line, dynamic fields nested) or "parquet" (dynamic fields as JSON
    strings). files: split into this many files by equal time windows; file_minutes instead writes one
    file per that many minutes, like a Sentinel export (empty windows get no file). signins_per_day: mean
    sign-ins per user per working day. extra_records: ready-made SigninLogs records (dicts, or
    :class:`ExtraRecord` with their label and kind) merged in time order. SigninLogs files left in
    ``out_dir`` by an earlier run are replaced.
    """
    preset = difficulty if campaigns is None else None
    campaigns = list(default_campaigns(seed, difficulty, days=days, users=users) if campaigns is None else campaigns)
    _validate(users, days, seed, signins_per_day, fmt, files, file_minutes, campaigns)
    try:
        start_date = dt.date.fromisoformat(start)
    except ValueError:
        raise ConfigError(f"start must be an ISO date like 2024-01-01, got {start!r}") from None
    start_ms = int(dt.datetime(start_date.year, start_date.month, start_date.day,
                               tzinfo=dt.timezone.utc).timestamp() * 1000)
    knobs = confounders if isinstance(confounders, Confounders) else (Confounders() if confounders else NO_CONFOUNDERS)

    tenant = build_tenant(users, seed, domain=domain)
    benign = benign_signins(tenant, start=start_date, days=days, rate=signins_per_day, seed=seed)
    batches = [add_confounders(tenant, benign, knobs, start_ms=start_ms, days=days, seed=seed)]
    rng = np.random.default_rng([seed, 5])
    described = []
    for c in campaigns:
        planted = plant(c, tenant, rng, start_ms, days)
        batches.append(planted.events)
        described.append(describe(c, planted))
    extras = [e if isinstance(e, ExtraRecord) else ExtraRecord(e) for e in (extra_records or [])]
    if extras:
        batches.append(_extras_batch(extras, tenant.tables))
    events = Events.concat(batches)
    events = events.take(np.argsort(events.time_ms, kind="stable"))

    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    windows = _file_windows(events.time_ms, start_ms, days, files, file_minutes)
    paths, labels_path = _write(events, ChunkWriter(tenant.tables, extras, seed), out, fmt, gzip, windows,
                                split=files > 1 or file_minutes is not None)

    counts = np.bincount(events.kind, minlength=len(KINDS))
    counts_by_kind = {k: int(counts[i]) for i, k in enumerate(KINDS) if counts[i]}
    campaigns_path = out / "campaigns.json"
    meta = {"seed": seed, "users": users, "days": days, "start": start, "domain": domain,
            "difficulty": preset, "signins_per_day": signins_per_day,
            "n_events": len(events), "counts_by_kind": counts_by_kind, "confounders": asdict(knobs),
            "files": [p.name for p in paths], "campaigns": described}
    campaigns_path.write_bytes(orjson.dumps(meta, option=orjson.OPT_INDENT_2) + b"\n")
    return SimulationResult(paths=paths, labels_path=labels_path, campaigns_path=campaigns_path,
                            n_events=len(events), campaigns=campaigns, counts_by_kind=counts_by_kind)
