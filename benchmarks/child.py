"""What every benchmark does around its measured child process: start it, and report its own peak memory.

Each benchmark runs the measured work in a fresh interpreter (so one run's caches and memory never help
the next) and, to compare with other code, on another tracehound source tree first on ``PYTHONPATH``.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path


def run_child(script: str, args: list[str], src: str | Path | None = None) -> dict:
    """Run ``script`` with ``args`` in a fresh interpreter (``src``, a tracehound ``src/`` folder, first
    on ``PYTHONPATH`` when given) and return the JSON object its last output line holds."""
    env = dict(os.environ)
    if src:
        env["PYTHONPATH"] = os.pathsep.join(filter(None, [str(Path(src).resolve()), env.get("PYTHONPATH")]))
    out = subprocess.run([sys.executable, script, *args], capture_output=True, text=True, check=True, env=env)
    return json.loads(out.stdout.strip().splitlines()[-1])


def peak_rss_mb() -> float | None:
    """This process's own peak resident memory (``VmHWM``), in MB; ``None`` where ``/proc`` has no
    such line. Not ``ru_maxrss``: across fork / exec a child inherits its parent's figure there, so a
    child started by a large parent would report the parent's size."""
    try:
        with open("/proc/self/status") as status:
            for line in status:
                if line.startswith("VmHWM:"):
                    return round(int(line.split()[1]) / 1024, 1)
    except OSError:
        pass
    return None
