"""report.html rendered in a real headless Chromium: no console errors, no script from log content ran.

CI installs Debian's ``chromium`` (``.ci/run``); outside CI the test is skipped when it is missing. The
screenshot is saved to ``$TRACEHOUND_ARTIFACTS`` (CI keeps it) or the test's temp folder.
"""

from __future__ import annotations

import os
import shutil
import subprocess
from html.parser import HTMLParser
from pathlib import Path

import pytest

from tracehound.report import write_outputs

from test_report import hostile_findings

CHROMIUM = shutil.which("chromium") or shutil.which("chromium-browser")
FLAGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
         "--disable-background-networking", "--disable-component-update", "--disable-sync",
         "--enable-logging=stderr", "--v=0"]

pytestmark = pytest.mark.skipif(CHROMIUM is None and os.environ.get("CI") != "true",
                                reason="chromium not installed (apt-get install chromium)")
# (test_demo.py reuses CHROMIUM and _chromium to render the demo's report.)


def _chromium(args: list[str], profile: Path) -> subprocess.CompletedProcess:
    return subprocess.run([CHROMIUM, *FLAGS, f"--user-data-dir={profile}", *args],
                          capture_output=True, text=True, timeout=120, check=False)


class _Title(HTMLParser):
    def __init__(self) -> None:
        super().__init__()
        self.in_title, self.title, self.scripts = False, "", 0

    def handle_starttag(self, tag, attrs):
        self.in_title = tag == "title"
        self.scripts += tag == "script"

    def handle_endtag(self, tag):
        self.in_title = False

    def handle_data(self, data):
        if self.in_title:
            self.title += data


def test_report_renders_in_chromium_without_running_log_content(tmp_path):
    assert CHROMIUM, "CI must install chromium"
    paths = write_outputs(hostile_findings(), tmp_path / "out", [("inputs", "3 files")])
    url = paths["report.html"].resolve().as_uri()
    dom = _chromium(["--dump-dom", url], tmp_path / "p1")
    assert dom.returncode == 0, dom.stderr[-2000:]
    parsed = _Title()
    parsed.feed(dom.stdout)
    assert parsed.title == "tracehound report"  # a script from log content would have set it to PWNED
    assert parsed.scripts == 0
    assert "document.title='PWNED'" in dom.stdout.replace("&#x27;", "'").replace("&#39;", "'")
    console = [line for line in dom.stderr.splitlines() if "CONSOLE" in line or "Refused to" in line]
    assert console == []
    shots = Path(os.environ.get("TRACEHOUND_ARTIFACTS", tmp_path))
    shots.mkdir(parents=True, exist_ok=True)
    shot = _chromium([f"--screenshot={shots / 'report.png'}", "--window-size=1280,2400", url], tmp_path / "p2")
    assert shot.returncode == 0 and (shots / "report.png").stat().st_size > 10_000
