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


def page_height(page: Path, tmp: Path, tallest: int = 30_000) -> int:
    """The rendered height of a page in CSS px at 1280 px wide: a screenshot of a window taller than
    the page, and the last row that is not the page's background. (The report forbids scripts, so
    the height is read from pixels, not from the DOM.)"""
    import matplotlib.image as mpimg
    import numpy as np

    shot = tmp / "height.png"
    done = _chromium(["--hide-scrollbars", f"--screenshot={shot}", f"--window-size=1280,{tallest}",
                      page.resolve().as_uri()], tmp / "p-height")
    assert done.returncode == 0 and shot.exists(), done.stderr[-2000:]
    pixels = mpimg.imread(shot)[:, :, :3]
    background = np.array([0xFA, 0xFA, 0xFA]) / 255
    rows = np.where((np.abs(pixels - background).max(axis=2) > 0.02).any(axis=1))[0]
    return int(rows.max()) + 1


def _red_pixels(data_uri: str) -> int:
    """Pixels of the report's red (#c0392b) in a PNG data URI."""
    import base64
    import io

    import matplotlib.image as mpimg
    import numpy as np

    png = mpimg.imread(io.BytesIO(base64.b64decode(data_uri.split(",", 1)[1])), format="png")[:, :, :3]
    return int((np.abs(png - np.array([0xC0, 0x39, 0x2B]) / 255).max(axis=2) < 0.03).sum())


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


class _Images(HTMLParser):
    def __init__(self) -> None:
        super().__init__()
        self.images: list[tuple[str, str]] = []

    def handle_starttag(self, tag, attrs):
        if tag == "img":
            a = dict(attrs)
            self.images.append((a.get("alt", ""), a.get("src", "")))


def test_spray_field_chart_has_red_bars_in_the_rendered_page(tmp_path):
    """The field chart Chromium renders draws the campaign's anomalous values (p ~ 1e-6, a log axis
    makes them visible) as red bars; the same chart of a campaign with no anomalous value has none."""
    assert CHROMIUM, "CI must install chromium"
    from tracehound.findings import Finding

    def spray(fid: str, anomalous: list[str]) -> Finding:
        return Finding(kind="fast_spray", id=fid, title=f"Fast password spray {fid}", severity="medium",
                       score=1.0, first_seen="2024-01-03T00:00:00Z", last_seen="2024-01-03T01:00:00Z",
                       actors={"ips": ["185.156.164.81"]}, targets={"users": ["a@contoso.com"]},
                       event_ids=["e1"], explanation="x",
                       evidence={"field_value_probabilities": {"country": {
                           "US": 0.71, "GB": 0.2, "DE": 0.05, "RO": 1.2e-6, "MD": 9e-7}},
                           "anomalous_values": {"country": anomalous}})

    paths = write_outputs([spray("fast_spray-001", ["RO", "MD"]), spray("fast_spray-002", [])],
                          tmp_path / "out", [])
    dom = _chromium(["--dump-dom", paths["report.html"].resolve().as_uri()], tmp_path / "p3")
    assert dom.returncode == 0, dom.stderr[-2000:]
    parser = _Images()
    parser.feed(dom.stdout)
    charts = [src for alt, src in parser.images if alt.startswith("P(country)")]
    assert len(charts) == 2
    without, with_red = sorted(_red_pixels(src) for src in charts)
    assert with_red > 200 and without == 0
