"""The peak memory a benchmark child reports: its own, not its parent's."""

from __future__ import annotations


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
