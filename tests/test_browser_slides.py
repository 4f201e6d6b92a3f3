"""Recitation mode: a lecture as live RISE slides inside JupyterLab, offline.

Opens ``02_odes`` in JupyterLab (a copy, own settings and HOME), starts the slideshow with
RISE's own command, checks that the slides follow the notebook's section boundaries,
advances a few slides, runs code cells from the slides and reads their outputs. Requests
to any other host are aborted and must not happen. Screenshots go to
``test-artifacts/slides/``.
"""

from __future__ import annotations

import time

import nbformat
import pytest
from lab_helpers import CHROMIUM, ROOT, jupyter_lab, offline_browser, shot

from course_utils import site

pytestmark = pytest.mark.browser

if CHROMIUM is None:
    pytest.skip(
        "browser tests need Debian's chromium; .ci/run installs it", allow_module_level=True
    )
sync_api = pytest.importorskip("playwright.sync_api", reason="needs playwright")
SHOTS = ROOT / "test-artifacts" / "slides"
LECTURE = "notebooks/02_odes.ipynb"


def _wait_output(frame, cell, timeout_s: float = 120) -> str:
    """Wait until ``cell`` (a code cell locator) shows an execution count; return its output."""
    deadline = time.time() + timeout_s
    while time.time() < deadline:
        prompt = cell.locator(".jp-InputPrompt").inner_text()
        if any(ch.isdigit() for ch in prompt):
            return cell.locator(".jp-OutputArea").inner_text()
        time.sleep(0.5)
    raise AssertionError(f"the cell did not finish in {timeout_s:.0f} s (prompt {prompt!r})")


def _run_slide(page, frame, slide) -> list[str]:
    """Run every code cell of ``slide`` from the slideshow (Ctrl+Enter); return outputs."""
    outs = []
    for i in range(slide.locator(".jp-CodeCell").count()):
        cell = slide.locator(".jp-CodeCell").nth(i)
        cell.locator(".jp-InputArea-editor").click()
        page.keyboard.press("Control+Enter")  # run and stay on this slide
        outs.append(_wait_output(frame, cell))
    return outs


def test_lecture_as_live_slides(tmp_path):
    nb = nbformat.read(ROOT / LECTURE, as_version=4)
    n_slides = site.slide_types(nb).count("slide")
    with jupyter_lab(tmp_path, [LECTURE]) as url, offline_browser(sync_api) as (ctx, left):
        page = ctx.new_page()
        page.set_default_timeout(120_000)
        page.goto(f"{url}/lab/tree/{LECTURE}?reset")
        page.wait_for_function(
            "() => window.jupyterapp && window.jupyterapp.shell.currentWidget"
            " && window.jupyterapp.shell.currentWidget.context"
            " && window.jupyterapp.commands.hasCommand('RISE:preview')"
        )
        page.wait_for_selector(".jp-Notebook .jp-Cell", state="attached")
        page.evaluate("() => window.jupyterapp.commands.execute('RISE:preview')")
        page.wait_for_selector("iframe[src*='/rise/']", state="attached")
        frame = page.frame_locator("iframe[src*='/rise/']")
        frame.locator(".reveal .slides > section").first.wait_for(state="attached")
        # the slideshow has exactly the lecture's slides (title + every ## section)
        assert frame.locator(".reveal .slides > section").count() == n_slides
        sections = frame.locator(".reveal .slides > section")
        present = sections.nth(0)
        assert "present" in present.get_attribute("class")
        title = nb.cells[0].source.splitlines()[0].lstrip("# ")
        assert title.lower() in present.inner_text().lower()  # the theme capitalises headings
        shot(page, SHOTS, "02_odes_title")
        # walk the slideshow as in a recitation: on every (sub-)slide, run its code cells
        # from the slide, then press Space for the next one, until section "2." is shown
        outputs, seen = [], []
        for _ in range(40):
            leaf = frame.locator("section.present:not(.stack)").first
            seen.append(leaf.inner_text().strip()[:40])
            outputs += _run_slide(page, frame, leaf)
            if "present" in (sections.nth(2).get_attribute("class") or ""):
                break
            page.keyboard.press("Escape")
            frame.locator(".reveal").first.focus()
            page.keyboard.press("Space")
            page.wait_for_timeout(800)
        else:
            raise AssertionError(f"section 2 was never reached; slides seen: {seen}")
        assert sections.nth(2).inner_text().lstrip().startswith("2."), seen
        assert len(seen) >= 3, seen
        assert outputs and any(o.strip() for o in outputs), "the slide's cells printed nothing"
        errors = [o for o in outputs if "Traceback" in o or "Error:" in o]
        assert not errors, errors[0][:800]
        shot(page, SHOTS, "02_odes_slide_2_ran")
        assert not left, f"the slideshow tried to load from the network: {left[:5]}"
