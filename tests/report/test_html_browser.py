"""The HTML report in a real headless Chromium: it renders, its script runs without a console
error, the index unfolds a finding, the copy button and the status filter work. Screenshots are
kept (LUNGE_TEST_ARTIFACTS, else the test's tmp dir) for a person to look at."""

from __future__ import annotations

import struct
from dataclasses import replace
from datetime import timedelta
from pathlib import Path

import pytest

from lunge.report import compare, write_reports
from lunge.store.models import RunState, TestRun
from tests.fixtures.browser import artefact_dir, browser_path, chromium
from tests.report.test_formats import NOW, _rich

pytestmark = pytest.mark.slow


def _report(tmp_path: Path) -> Path:
    data, sets = _rich()
    earlier = TestRun(5, "TestRun yesterday", "", 2, "default", RunState.FAILED, NOW - timedelta(days=1))
    gone = replace(data.findings[0], id=1, fingerprint="fp-gone", url="http://app/old", point="GET_x_value")
    data = replace(data, comparison=compare(earlier, [gone, replace(data.findings[0], id=2)], data.findings))
    (path,) = write_reports(data, tmp_path, ["html"], 1763920800, lambda: iter(sets))
    return path


def _png_size(path: Path) -> tuple[int, int]:
    head = path.read_bytes()[:24]
    assert head[:8] == b"\x89PNG\r\n\x1a\n", "not a PNG"
    width, height = struct.unpack(">II", head[16:24])
    return width, height


async def test_html_report_renders_and_works_in_chromium(tmp_path: Path) -> None:
    browser_path()
    report = _report(tmp_path)
    shots = artefact_dir(tmp_path)
    async with chromium() as page:
        await page.open(report.as_uri())
        assert await page.eval("document.title") == "lunge: TestRun Nov 23 18:00 UTC (run_0007) failed"
        assert await page.eval("document.querySelectorAll('details.finding').length") == 2
        assert await page.eval("document.querySelectorAll('details.finding[open]').length") == 2
        proof = await page.eval("document.querySelector('#fnd_6 pre.response mark').textContent")
        assert proof == "<script>alert(1)</script>"
        assert await page.eval("document.querySelector('#run-state').getBoundingClientRect().width") > 0
        # the recorded payload is shown, never run: no element was injected by it
        assert await page.eval("document.querySelectorAll('main script, pre script').length") == 0
        shot = await page.screenshot(shots / "html-report.png")
        assert _png_size(shot) == (1280, 2000)

        await page.eval("document.querySelector('#fnd_6').open = false")
        await page.eval("document.querySelector('#findings-index a[href=\"#fnd_6\"]').click()")
        assert await page.eval("new Promise(r => setTimeout(() => r(document.querySelector('#fnd_6').open), 100))")

        await page.eval("document.querySelector('button.copy').click()")
        assert await page.eval("document.querySelector('button.copy').textContent") in ("copied", "selected: Ctrl+C")
        assert "curl --path-as-is" in await page.eval("String(window.getSelection())")

        await page.eval("var s = document.getElementById('status-filter'); s.value = 'not_tested';"
                        "s.dispatchEvent(new Event('change'))")
        visible = await page.eval("[...document.querySelectorAll('#baselines tbody tr')].filter(r => !r.hidden)"
                                  ".map(r => r.textContent.replace(/\\s+/g, ' ').trim())")
        assert len(visible) == 1 and "not tested because 401 on replay (recorded 200)" in visible[0]
        await page.screenshot(shots / "html-report-filtered.png")
        assert page.problems == []


async def test_the_browser_fixture_sees_console_errors(tmp_path: Path) -> None:
    """The check above would be worthless if errors went unseen: a broken page must show them."""
    browser_path()
    page_file = tmp_path / "broken.html"
    page_file.write_text("<!DOCTYPE html><title>x</title><script>console.error('boom'); missingFunction();</script>")
    async with chromium() as page:
        await page.open(page_file.as_uri())
        await page.eval("new Promise(r => setTimeout(r, 50))")
        assert any("boom" in p for p in page.problems)
        assert any("missingFunction" in p for p in page.problems)
