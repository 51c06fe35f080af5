"""The shape of the code: readers → tables → hunts → findings → incidents → reporters.

Read from the source text (``ast``), so a layering mistake fails here instead of waiting for someone to
notice a circular import: hunts never reach for readers or simulators (evaluation joins them), reporters
never import a hunt (they read findings and the registry), no module outgrows 600 lines, and nothing
outside the hunt packages spells a finding kind — routing and reporters read the registry.
"""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

from tracehound import registry

SRC = Path(__file__).resolve().parents[1] / "src" / "tracehound"
HUNT_PACKAGES = ("spray", "fanout", "web", "network")
MODULES = sorted(SRC.rglob("*.py"))


def _imports(path: Path) -> set[str]:
    """Absolute ``tracehound.…`` names a module imports (relative imports resolved)."""
    package = ["tracehound", *path.relative_to(SRC).with_suffix("").parts[:-1]]
    names = set()
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
        if isinstance(node, ast.Import):
            names.update(a.name for a in node.names)
        elif isinstance(node, ast.ImportFrom):
            base = package[: len(package) - node.level + 1] if node.level else []
            module = ".".join([*base, *(node.module.split(".") if node.module else [])])
            names.add(module)
            names.update(f"{module}.{a.name}" for a in node.names)
    return {n for n in names if n.startswith("tracehound")}


def _in(path: Path, folder: str) -> bool:
    return path.relative_to(SRC).parts[0] == folder


@pytest.mark.parametrize("path", [p for p in MODULES if any(_in(p, pkg) for pkg in HUNT_PACKAGES)],
                         ids=lambda p: str(p.relative_to(SRC)))
def test_hunts_import_no_reader_and_no_simulator(path):
    bad = {n for n in _imports(path) if n.startswith(("tracehound.readers", "tracehound.simulate",
                                                      "tracehound.evaluation", "tracehound.cli"))}
    assert not bad, bad


@pytest.mark.parametrize("path", [p for p in MODULES if _in(p, "report")], ids=lambda p: p.name)
def test_reporters_import_no_hunt(path):
    bad = {n for n in _imports(path) if n.split(".")[1:2] and n.split(".")[1] in HUNT_PACKAGES}
    assert not bad, bad


def test_no_module_over_600_lines():
    long = {str(p.relative_to(SRC)): n for p in MODULES if (n := len(p.read_text().splitlines())) > 600}
    assert not long, long


def test_only_hunt_packages_spell_kind_names():
    """Routing, config, reporters and the CLI find kinds in the registry, never as string literals."""
    names = set(registry.kinds())
    spelled = {}
    for path in MODULES:
        if path.relative_to(SRC).parts[0] in (*HUNT_PACKAGES, "evaluation", "simulate"):
            continue
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
            if isinstance(node, ast.Constant) and isinstance(node.value, str) and node.value in names:
                spelled.setdefault(str(path.relative_to(SRC)), set()).add(node.value)
    assert not spelled, spelled


def test_kind_names_are_unique_and_every_hunt_declares_its_kinds():
    kinds = registry.kinds()
    for section, entry in registry.hunts().items():
        assert entry.kinds and all(kinds[k].hunt == section for k in entry.kinds), section
    assert {k.hunt for k in kinds.values()} <= set(registry.hunts())
    assert {"signin_brute_force", "logon_brute_force"} <= set(kinds) and "brute_force" not in kinds


def test_the_findings_contract_doc_lists_every_kind():
    doc = (SRC.parents[1] / "docs" / "findings.md").read_text(encoding="utf-8")
    missing = [name for name in registry.kinds() if f"| `{name}` |" not in doc]
    assert not missing, missing


def test_the_cli_imports_no_engine_library_until_a_command_runs():
    """``tracehound --help`` must not pay for Ibis, pandas, DuckDB or matplotlib (lazy imports)."""
    import subprocess
    import sys

    code = ("import sys, tracehound.cli; heavy = [m for m in ('ibis', 'pandas', 'duckdb', 'matplotlib', 'numpy', "
            "'pyarrow') if m in sys.modules]; print(','.join(heavy))")
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert done.stdout.strip() == "", done.stdout
