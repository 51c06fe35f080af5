"""Every command in the README's "Examples" section runs, in order, in a fresh folder (DESIGN §5).

Commands are split with shlex and run as ``python -m tracehound ...`` — never through a shell.
"""

from __future__ import annotations

import re
import shlex
import subprocess
import sys
from pathlib import Path

import pytest

README = Path(__file__).resolve().parents[1] / "README.md"


def example_commands() -> list[str]:
    text = README.read_text(encoding="utf-8")
    section = re.search(r"^## Examples\n(.*?)(?=^## )", text, re.S | re.M)
    assert section, "README has no '## Examples' section"
    blocks = re.findall(r"```bash\n(.*?)```", section.group(1), re.S)
    commands = [line.strip() for block in blocks for line in block.splitlines()
                if line.strip().startswith("tracehound ")]
    assert len(commands) >= 5, commands
    return commands


def test_readme_starts_with_the_two_setup_commands():
    blocks = re.findall(r"```bash\n(.*?)```", README.read_text(encoding="utf-8"), re.S)
    assert "tracehound demo" in blocks[0] and "pip install -e ." in blocks[0]
    assert "pytest" in blocks[1] and "'.[test,spark]'" in blocks[1]
    ci = (README.parent / ".ci" / "run").read_text()
    assert blocks[1].strip() in ci, ".ci/run must run the README's test command verbatim"


@pytest.mark.slow
def test_readme_examples_run(tmp_path):
    for command in example_commands():
        args = shlex.split(command)[1:]
        done = subprocess.run([sys.executable, "-m", "tracehound", *args], cwd=tmp_path,
                              capture_output=True, text=True, timeout=900, check=False)
        assert done.returncode == 0, f"{command}\n{done.stdout[-3000:]}\n{done.stderr[-3000:]}"
        assert "Traceback" not in done.stderr, command
