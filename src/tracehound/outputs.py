"""Where a run's files go, and how they get there without hurting anything (library side of the CLI).

- **Never over an input.** Before any work starts, an output folder that is, or lies inside, an input
  folder, and an output file that is an input, are refused: ``web --blocklist access.log`` cannot
  replace the log, and ``hunt logs/ --out logs/results`` cannot feed its own findings back next run.
- **Never half-written.** Everything is written into a staging folder inside the output folder and
  moved into place file by file with ``os.replace`` (atomic on one file system), so a crash or Ctrl-C
  leaves the previous run's files or the new ones, never a truncated blocklist.
- **Never routed as input.** The output folder carries a marker file; routing skips every file below
  a folder that has it, so pointing a later hunt at a parent folder does not read old findings.
"""

from __future__ import annotations

import contextlib
import os
import shutil
import uuid
from pathlib import Path
from typing import Iterable, Iterator

from .errors import ConfigError

#: Present in every folder tracehound writes its outputs to.
MARKER = ".tracehound-output"


def _resolved(path: Path) -> Path:
    return Path(os.path.abspath(path)).resolve()


def check_outputs(inputs: Iterable[str | Path], out_dir: Path | None = None,
                  files: Iterable[Path] = ()) -> None:
    """Refuse outputs that are, or lie inside, an input (``ConfigError`` naming both)."""
    targets = [(_resolved(out_dir), "output folder")] if out_dir is not None else []
    targets += [(_resolved(f), "output file") for f in files]
    for raw in inputs:
        text = str(raw)
        if any(ch in text for ch in "*?[") and not Path(text).exists():
            text = text.split("*")[0].split("?")[0].split("[")[0] or "."
            source = Path(text) if Path(text).is_dir() else Path(text).parent
        else:
            source = Path(text)
        if not source.exists():
            continue
        src = _resolved(source)
        for target, what in targets:
            if target == src or (src.is_dir() and src in target.parents):
                raise ConfigError(f"refusing to write the {what} {target}: it is "
                                  f"{'the input' if target == src else 'inside the input folder'} {src}; "
                                  "choose an output outside the inputs")


def is_output(path: Path) -> bool:
    """Whether ``path`` lies in a folder tracehound wrote its outputs to (carries :data:`MARKER`)."""
    return any((parent / MARKER).exists() for parent in _resolved(path).parents)


@contextlib.contextmanager
def staged(out_dir: Path, owned: Iterable[str] = ()) -> Iterator[Path]:
    """A staging folder whose files replace those of ``out_dir`` only when the block succeeds.

    ``owned``: names of files a run may write; one this run did not write (a ``rejects.jsonl`` from an
    earlier run whose input was bad) is removed, so the folder never shows a stale artefact.
    """
    out_dir.mkdir(parents=True, exist_ok=True)
    (out_dir / MARKER).write_text("tracehound writes its outputs here; hunts do not read this folder\n",
                                  encoding="utf-8")
    staging = out_dir / f".staging-{uuid.uuid4().hex}"
    staging.mkdir()
    try:
        yield staging
        written = {item.name for item in staging.iterdir()}
        for item in sorted(staging.iterdir()):
            os.replace(item, out_dir / item.name)
        for name in set(owned) - written:
            (out_dir / name).unlink(missing_ok=True)
    finally:
        shutil.rmtree(staging, ignore_errors=True)


@contextlib.contextmanager
def atomic(path: Path) -> Iterator[Path]:
    """A temporary name next to ``path`` that replaces it when the block succeeds (a file, or the folder
    of parts Spark writes)."""
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".{path.name}.{uuid.uuid4().hex}.tmp")
    try:
        yield tmp
        if tmp.is_dir() and path.is_dir():
            shutil.rmtree(path)
        os.replace(tmp, path)
    finally:
        if tmp.is_dir():
            shutil.rmtree(tmp, ignore_errors=True)
        else:
            tmp.unlink(missing_ok=True)
