"""report.html and power.png: written for every session, self-contained, escaped, and they look right."""

from __future__ import annotations

import copy
import json
import re
import shutil
import subprocess
from html import escape, unescape
from pathlib import Path
from typing import Any

import numpy as np
import numpy.typing as npt
import pytest
from matplotlib.image import imread

from reports.build.session_report import write_report
from reports.model.report import SessionReport
from reports.render.html import REPORT_HTML, render_html
from reports.render.html_page import check_label, headline_text
from reports.render.plot import PNG_SIZE_PX, POWER_PNG, find_gaps, power_limits
from tests.conftest import session_dirs

HOSTILE = '<script>alert("x")</script>'
SCREEN_WIDTH_PX, SCREEN_HEIGHT_PX = 1200, 2000


def _report(session: Path) -> dict[str, Any]:
    report: dict[str, Any] = json.loads((session / "report.json").read_text(encoding="utf-8"))
    return report


def _distinct_colours(path: Path) -> tuple[tuple[int, ...], int]:
    """The image's shape and how many distinct RGB colours it has."""
    pixels: npt.NDArray[np.float32] = imread(path)
    rgb = (pixels[..., :3] * 255).round().astype(np.uint32).reshape(-1, 3)
    packed = (rgb[:, 0] << 16) | (rgb[:, 1] << 8) | rgb[:, 2]  # np.unique on rows is slow
    return pixels.shape, len(np.unique(packed))


def test_every_session_gets_html_and_png(demo_run) -> None:  # type: ignore[no-untyped-def]
    _, out = demo_run
    for session in session_dirs(out).values():
        report = _report(session)
        page = (session / REPORT_HTML).read_text(encoding="utf-8")
        text = headline_text(SessionReport.from_json(report))
        assert text in page and "±" in text
        assert escape(report["analyzer"]["name"]) in page
        for check in report["checks"]:
            assert escape(check["name"]) in page and escape(check["reason"]) in page
        assert "Power by both methods" in page and "data:image/png;base64," in page
        assert "http://" not in page and "https://" not in page  # opens offline
        shape, colours = _distinct_colours(session / POWER_PNG)
        assert shape[:2] == (PNG_SIZE_PX[1], PNG_SIZE_PX[0])
        assert colours > 20


def test_every_string_from_the_report_is_escaped(demo_run) -> None:  # type: ignore[no-untyped-def]
    _, out = demo_run
    report = copy.deepcopy(_report(next(iter(session_dirs(out).values()))))
    report["session"] = report["label"] = HOSTILE
    report["problems"] = [HOSTILE]
    report["checks"][0]["reason"] = HOSTILE
    report["analyzer"]["name"] = HOSTILE
    report["uncertainty"] = {HOSTILE: 0.01, "sources": {"analyzer": HOSTILE}}
    page = render_html(SessionReport.from_json(report), None)
    assert "<script" not in page
    assert escape(HOSTILE) in page


def test_error_budget_is_rendered_whatever_its_shape(demo_run) -> None:  # type: ignore[no-untyped-def]
    _, out = demo_run
    report = _report(next(iter(session_dirs(out).values())))
    budget = {"relative": 0.0123, "sources": {"analyzer_fraction": 0.01, "gaps_fraction": 0.002}}
    page = render_html(SessionReport.from_json({**report, "uncertainty": budget}), None)
    assert "Error budget" in page
    # Known keys with labels and units, unknown ones as they are.
    assert all(text in page for text in ("Relative to the result", "± 1.230\u202f%", "analyzer_fraction",
                                         "gaps_fraction", "0.002"))
    assert "Error budget" in render_html(SessionReport.from_json(report), None)  # the demo's own budget
    assert "Error budget" not in render_html(SessionReport.from_json({**report, "uncertainty": None}), None)


def test_find_gaps_finds_time_gaps_and_sentinels() -> None:
    t_ns = np.array([0, 1, 2, 5, 6, 7], dtype=np.int64) * 200_000_000
    watts = np.array([100.0, -1.0, 100.0, 100.0, np.nan, -2.0])
    gaps = find_gaps(t_ns, watts, 200_000_000)
    assert gaps.begin_ns.tolist() == [400_000_000] and gaps.end_ns.tolist() == [1_000_000_000]
    assert gaps.invalid_ns.tolist() == [200_000_000, 1_200_000_000, 1_400_000_000]


def test_a_trace_with_gaps_and_sentinels_still_plots(demo_run, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    _, out = demo_run
    session = tmp_path / "gappy"
    shutil.copytree(session_dirs(out)["demo-offline"], session)
    spl = session / "run_1" / "spl.txt"
    lines = spl.read_text(encoding="utf-8").splitlines()
    for i in (len(lines) // 2, len(lines) // 2 + 3):  # PTDaemon's error sentinels
        fields = lines[i].split(",")
        fields[3] = "-1.000000"
        lines[i] = ",".join(fields)
    del lines[4:7]  # three samples lost: a time gap
    spl.write_text("\n".join(lines) + "\n", encoding="utf-8")
    write_report(session)
    shape, colours = _distinct_colours(session / POWER_PNG)
    assert shape[:2] == (PNG_SIZE_PX[1], PNG_SIZE_PX[0]) and colours > 20


def _chromium() -> str | None:
    return next(filter(None, (shutil.which(name) for name in ("chromium", "chromium-browser"))), None)


PROBE = """<script>
window.addEventListener("load", () => {
  const out = {};
  for (const id of ["verdict", "headline", "failures", "trace", "provenance", "repeat"]) {
    const e = document.getElementById(id);
    if (!e) { out[id] = null; continue; }
    const r = e.getBoundingClientRect(), st = getComputedStyle(e);
    out[id] = {top: r.top + window.scrollY, width: r.width, height: r.height,
               shown: st.display !== "none" && st.visibility !== "hidden" && r.width > 0 && r.height > 0};
  }
  out.first_check = document.querySelector("table.checks tr:nth-child(2) .badge").textContent;
  out.trace_px = document.getElementById("trace").naturalWidth;
  const pre = document.createElement("pre");
  pre.id = "probe";
  pre.textContent = JSON.stringify(out);
  document.body.appendChild(pre);
});
</script>"""


def _chromium_run(browser: str, page: Path, profile: Path, *flags: str) -> str:
    result = subprocess.run(
        [browser, "--headless", "--no-sandbox", "--disable-gpu", f"--user-data-dir={profile}",
         f"--window-size={SCREEN_WIDTH_PX},{SCREEN_HEIGHT_PX}", *flags, page.resolve().as_uri()],
        capture_output=True, text=True, timeout=120, check=False,
    )
    return result.stdout


def _probe(browser: str, page_html: str, tmp_path: Path) -> dict[str, Any]:
    """Where the page's key elements are, as laid out by Chromium."""
    probed = tmp_path / "probed.html"
    probed.write_text(page_html.replace("</body>", PROBE + "</body>"), encoding="utf-8")
    dom = _chromium_run(browser, probed, tmp_path / "profile-probe", "--dump-dom",
                        "--virtual-time-budget=10000")
    match = re.search(r'<pre id="probe">(.*?)</pre>', dom, re.S)
    assert match, dom[-2000:]
    found: dict[str, Any] = json.loads(unescape(match.group(1)))
    return found


def test_report_html_renders_in_headless_chromium(demo_run, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    """Screenshot the demo's report, and check where a person finds what matters: the verdict
    and headline at the top, the trace drawn, the failures (of a failing copy) above the fold."""
    browser = _chromium()
    if browser is None:
        pytest.skip("no chromium binary on PATH (Debian: apt-get install -y chromium)")
    _, out = demo_run
    page = session_dirs(out)["demo-singlestream"] / REPORT_HTML
    screenshot = tmp_path / "report.png"
    _chromium_run(browser, page, tmp_path / "profile", f"--screenshot={screenshot}")
    assert screenshot.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    shape, colours = _distinct_colours(screenshot)
    assert shape[:2] == (SCREEN_HEIGHT_PX, SCREEN_WIDTH_PX)
    assert colours > 50  # text, badges and the plot, not a blank page

    report = _report(page.parent)
    laid_out = _probe(browser, page.read_text(encoding="utf-8"), tmp_path)
    for key in ("verdict", "headline", "trace", "provenance"):
        assert laid_out[key] and laid_out[key]["shown"], (key, laid_out)
    assert laid_out["verdict"]["top"] < 120 and laid_out["headline"]["top"] < 200
    assert laid_out["trace_px"] == PNG_SIZE_PX[0] and laid_out["failures"] is None

    failing = copy.deepcopy(report)
    failing["valid"] = failing["mlperf_valid"] = False
    failing["problems"] = ["testing power 94.44 W is 5.3% below ranging 99.74 W (more than 5 %)"]
    broken = next(c for c in failing["checks"] if c["name"] == "testing_power_vs_ranging")
    broken.update(status="fail", reason=failing["problems"][0])
    png = (page.parent / POWER_PNG).read_bytes()
    laid_out = _probe(browser, render_html(SessionReport.from_json(failing), png), tmp_path)
    assert laid_out["failures"]["shown"] and laid_out["failures"]["top"] < 400, laid_out
    assert laid_out["first_check"] == "fail"
    assert check_label("testing_power_vs_ranging") == ("testing", "testing power not > 5 % below ranging")


def test_power_axis_has_a_minimum_span_and_covers_every_phase() -> None:
    """A plug's ±1 % noise around 100 W must not fill the axis; both phases share one scale."""
    noisy = np.array([99.0, 101.0, 100.0, 99.5])
    low, high = power_limits([noisy, np.array([100.5, -1.0, np.nan])])
    assert high - low >= 0.2 * 101.0 and low <= 99.0 and high >= 101.0
    wide_low, wide_high = power_limits([np.array([60.0, 130.0]), np.array([125.0])])
    assert wide_low <= 60.0 and wide_high >= 130.0 and wide_high - wide_low < 1.3 * 70
    assert power_limits([np.array([-1.0, np.nan])]) is None
