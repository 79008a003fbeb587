"""The report in a real browser: headless Chromium draws every chart, logs no script error, fetches nothing.

Needs Debian's ``chromium`` package (``.ci/run`` installs it); without a Chromium binary the test
skips and says so. The browser runs with a fresh profile, no network (every host name resolves to
nothing) and no GPU; a probe injected into a copy of the page records console errors, uncaught
exceptions, failed loads and every resource the page requested.
"""

from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
from pathlib import Path

import pytest

from screener.report.page import write_report

from .report_fixtures import figures_of, write_fixture

CHROMIUM_NAMES = ("chromium", "chromium-browser", "google-chrome", "google-chrome-stable")
FLAGS = (
    "--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
    "--disable-background-networking", "--disable-component-update", "--disable-sync",
    "--hide-scrollbars", "--enable-logging=stderr", "--v=0", "--host-resolver-rules=MAP * ~NOTFOUND",
    "--virtual-time-budget=15000",
)  # fmt: skip
#: where the test keeps the screenshot it takes, for a person to look at (the README's is in docs/).
SCREENSHOT = os.environ.get("SCREENER_REPORT_SCREENSHOT")

PROBE = """<script>(function () {
  var errors = [];
  var original = console.error;
  console.error = function () { errors.push(Array.prototype.join.call(arguments, ' ')); original.apply(console, arguments); };
  window.addEventListener('error', function (e) {
    errors.push(e.message ? 'uncaught: ' + e.message : 'failed to load: ' + (e.target && (e.target.src || e.target.href)));
  }, true);
  window.addEventListener('unhandledrejection', function (e) { errors.push('unhandled rejection: ' + e.reason); });
  window.addEventListener('load', function () {
    setTimeout(function () {
      var body = document.body;
      body.setAttribute('data-probe-errors', JSON.stringify(errors));
      body.setAttribute('data-probe-resources', JSON.stringify(performance.getEntriesByType('resource').map(function (r) { return r.name; })));
      body.setAttribute('data-probe-svg', String(document.querySelectorAll('svg.main-svg').length));
      body.setAttribute('data-probe-canvas', String(document.querySelectorAll('canvas').length));
      body.setAttribute('data-probe-points', String(document.querySelectorAll('g.points path.point').length));
    }, 1000);
  });
})();</script>"""


def chromium() -> str | None:
    for name in CHROMIUM_NAMES:
        path = shutil.which(name)
        if path:
            return path
    return None


def run_chromium(binary: str, profile: Path, *args: str) -> subprocess.CompletedProcess:
    return subprocess.run(
        [binary, *FLAGS, f"--user-data-dir={profile}", *args], capture_output=True, text=True, timeout=180, check=False
    )


@pytest.fixture(scope="module")
def browser() -> str:
    binary = chromium()
    if binary is None:
        pytest.skip("no Chromium binary on PATH (install Debian's 'chromium' package, as .ci/run does, to run the browser check)")
    return binary


def test_report_draws_in_headless_chromium(browser: str, tmp_path: Path) -> None:
    results = write_fixture(tmp_path / "results", 60)
    page, _, _ = write_report([results], tmp_path / "report.html")
    html = page.read_text(encoding="utf-8")
    probed = tmp_path / "probed.html"
    probed.write_text(html.replace("<head>", "<head>" + PROBE, 1), encoding="utf-8")

    dom = run_chromium(browser, tmp_path / "profile-dom", "--dump-dom", probed.as_uri())
    assert dom.returncode == 0, dom.stderr[-2000:]
    body = re.search(r"<body([^>]*)>", dom.stdout)
    assert body, dom.stdout[:500]
    attrs = dict(re.findall(r'(data-[\w-]+)="([^"]*)"', body.group(1)))
    figures = len(figures_of(html))
    assert attrs.get("data-charts-drawn") == str(figures), attrs  # drawCharts ran to the end
    assert int(attrs["data-probe-svg"]) >= figures  # plotly drew an SVG for every figure
    assert int(attrs["data-probe-points"]) >= 60  # the scatter's markers are in the SVG
    errors = json.loads(attrs["data-probe-errors"].replace("&quot;", '"'))
    assert errors == [], errors
    resources = json.loads(attrs["data-probe-resources"].replace("&quot;", '"'))
    assert [r for r in resources if not r.startswith(("data:", "blob:"))] == [], resources  # fetched nothing
    uncaught = [line for line in dom.stderr.splitlines() if "CONSOLE" in line and ("Uncaught" in line or "Error" in line)]
    assert uncaught == []

    shot = Path(SCREENSHOT) if SCREENSHOT else tmp_path / "report.png"
    taken = run_chromium(browser, tmp_path / "profile-shot", "--window-size=1400,2400", f"--screenshot={shot}", page.as_uri())
    assert taken.returncode == 0 and shot.is_file(), taken.stderr[-2000:]
    from PIL import Image

    with Image.open(shot) as image:
        assert image.size == (1400, 2400)
        colours = image.convert("RGB").resize((350, 600)).getcolors(maxcolors=1_000_000)
    assert colours is not None and len(colours) > 200  # charts, not a blank page
