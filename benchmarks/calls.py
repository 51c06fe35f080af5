"""Where a hunt's time goes, engine call by engine call: for the benchmarks' ``--calls`` option.

Why this and not only a sampling profiler: a hunt is a few dozen engine queries, each paying Ibis to
compile it and the engine to run it, and the Python around them. Timing every ``Engine`` call, and
inside it the time Ibis spends translating the expression into SQL (``compiler.to_sqlglot``, most of a
compile), says which step's queries cost what and how much of that is compiling, without changing
what runs. The clock around each call costs microseconds; a call's caller is the hunt code line that
made it (the first frame outside ``tracehound/engine.py``).
"""

from __future__ import annotations

import collections
import time
import traceback
from pathlib import Path

#: The ``Engine`` methods that run a query (or stage a table) on the engine.
CALLS = ("cache", "to_pandas", "scalar", "materialize", "load", "write_parquet")


class EngineCalls:
    """A context that times every :data:`CALLS` call of ``tracehound.engine.Engine`` and the Ibis
    compiling inside it, per (method, caller); :meth:`rows` gives them, costliest first."""

    def __init__(self) -> None:
        #: per (method, caller): [calls, wall seconds, of which compiling]
        self._totals: dict[str, list] = collections.defaultdict(lambda: [0, 0.0, 0.0])
        self._current: list[str] = []
        self._compiling = False
        self._saved: list[tuple[type, str, object]] = []

    def __enter__(self) -> "EngineCalls":
        from ibis.backends.sql.compilers.base import SQLGlotCompiler

        from tracehound.engine import Engine

        for name in CALLS:
            self._patch(Engine, name, self._timed_call)
        self._patch(SQLGlotCompiler, "to_sqlglot", self._timed_compile)
        return self

    def __exit__(self, *exc) -> None:
        for owner, name, original in reversed(self._saved):
            setattr(owner, name, original)
        self._saved.clear()

    def _patch(self, owner: type, name: str, wrap) -> None:
        original = getattr(owner, name)
        self._saved.append((owner, name, original))
        setattr(owner, name, wrap(name, original))

    def _timed_call(self, name: str, original):
        def call(engine, *args, **kwargs):
            key = f"{name} {_caller()}"
            self._current.append(key)
            start = time.perf_counter()
            try:
                return original(engine, *args, **kwargs)
            finally:
                totals = self._totals[key]
                totals[0] += 1
                totals[1] += time.perf_counter() - start
                self._current.pop()
        return call

    def _timed_compile(self, name: str, original):
        def compile_(compiler, *args, **kwargs):
            # Only the outermost compile is timed (Ibis compiles some nodes by a nested call), and
            # only inside an engine call (a hunt compiles nowhere else).
            if self._compiling or not self._current:
                return original(compiler, *args, **kwargs)
            self._compiling, start = True, time.perf_counter()
            try:
                return original(compiler, *args, **kwargs)
            finally:
                self._compiling = False
                self._totals[self._current[-1]][2] += time.perf_counter() - start
        return compile_

    def rows(self) -> list[dict]:
        """One row per (method, caller): calls, wall seconds, of which Ibis compiling; costliest first."""
        return [{"call": key, "n": n, "wall_s": round(wall, 4), "compile_s": round(compiled, 4)}
                for key, (n, wall, compiled) in sorted(self._totals.items(), key=lambda kv: -kv[1][1])]


def _caller() -> str:
    """``module:line`` of the code that called the engine (the frame just outside the engine module)."""
    for frame in reversed(traceback.extract_stack()[:-2]):
        if not frame.filename.endswith(("tracehound/engine.py", "benchmarks/calls.py")):
            return f"{Path(frame.filename).stem}:{frame.lineno}"
    return "?"


def summary(rows: list[dict], top: int = 15) -> str:
    """The rows as a small table: totals first, then the ``top`` costliest calls."""
    wall = sum(r["wall_s"] for r in rows)
    compiled = sum(r["compile_s"] for r in rows)
    lines = [f"engine calls: {sum(r['n'] for r in rows)}, {wall:.2f} s in all, of which Ibis compiling "
             f"{compiled:.2f} s", f"{'wall s':>8} {'compile s':>9} {'n':>3}  call (method, caller)"]
    lines += [f"{r['wall_s']:8.3f} {r['compile_s']:9.3f} {r['n']:3d}  {r['call']}" for r in rows[:top]]
    return "\n".join(lines)
