"""The course as a student sees it: JupyterLab in headless Chromium, end to end.

Starts JupyterLab from the installed course on a free local port, serving a *copy* of the
notebooks (running cells in the browser must never touch the committed files), and
drives Debian's Chromium with Playwright (no browser download). Skipped with a visible
reason when Chromium or Playwright is missing; `.ci/run` installs Chromium.

Everything JupyterLab and the kernels write goes to temporary folders: HOME, the Jupyter
config, data, runtime, settings and workspaces folders all point into the test's temp
dir, so a test run never changes the user's own JupyterLab (open tabs, settings).

Screenshots go to ``test-artifacts/browser/`` (printed at the end of each test).
"""

from __future__ import annotations

import difflib
import json
import time
from pathlib import Path

import pytest
from lab_helpers import CHROMIUM, CHROMIUM_ARGS, ROOT, jupyter_lab

SHOTS = ROOT / "test-artifacts" / "browser"

pytestmark = pytest.mark.browser

if CHROMIUM is None:
    pytest.skip(
        "browser tests need Debian's chromium (apt-get install chromium); .ci/run installs it",
        allow_module_level=True,
    )
sync_api = pytest.importorskip(
    "playwright.sync_api",
    reason="browser tests need the playwright package (pip install -e '.[browser]')",
)

TOPIC_LECTURE = "notebooks/01_mle.ipynb"
EXERCISE = "exercises/01_mle.ipynb"
SOLUTION = "solutions/01_mle.ipynb"


def _user_workspace_files() -> dict[str, float]:
    folder = Path.home() / ".jupyter" / "lab" / "workspaces"
    return {str(p): p.stat().st_mtime for p in folder.glob("*")} if folder.is_dir() else {}


@pytest.fixture(scope="module")
def lab(tmp_path_factory):
    """A JupyterLab server on a copy of the course; yields its base URL; always stopped."""
    work = tmp_path_factory.mktemp("lab")
    folders = [f for f in ("notebooks", "exercises", "solutions") if (ROOT / f).exists()]
    with jupyter_lab(work, folders) as url:
        yield url, work


@pytest.fixture(scope="module")
def browser():
    with sync_api.sync_playwright() as p:
        b = p.chromium.launch(executable_path=CHROMIUM, headless=True, args=CHROMIUM_ARGS)
        try:
            yield b
        finally:
            b.close()


def _open(browser, url: str, path: str):
    page = browser.new_page(viewport={"width": 1400, "height": 1000})
    page.set_default_timeout(60_000)
    page.goto(f"{url}/lab/tree/{path}?reset")  # ?reset: no tabs restored from earlier
    try:
        _wait_open(page)
    except Exception:
        _shot(page, f"failed_open_{Path(path).stem}")
        raise
    _wait_idle(page)
    return page


def _wait_open(page):
    page.wait_for_function(
        "() => window.jupyterapp && window.jupyterapp.shell.currentWidget"
        " && window.jupyterapp.shell.currentWidget.context"
        " && window.jupyterapp.shell.currentWidget.sessionContext"
        " && window.jupyterapp.shell.currentWidget.sessionContext.session"
        " && window.jupyterapp.shell.currentWidget.sessionContext.session.kernel"
    )
    page.wait_for_selector(".jp-Notebook .jp-Cell", state="attached")


def _wait_idle(page, timeout_s: float = 120):
    """Wait until the kernel is idle and no cell shows the running prompt [*]."""
    deadline = time.time() + timeout_s
    while time.time() < deadline:
        busy = page.evaluate(
            "() => { const w = window.jupyterapp.shell.currentWidget;"
            " const k = w.sessionContext.session && w.sessionContext.session.kernel;"
            " const prompts = [...document.querySelectorAll('.jp-InputPrompt')]"
            "   .map(e => e.textContent);"
            " return (!k || k.status !== 'idle') || prompts.some(t => t.includes('*')); }"
        )
        if not busy:
            return
        time.sleep(0.5)
    raise AssertionError(f"the notebook was still running after {timeout_s:.0f} s")


def _run_all(page):
    # The same command as the menu entry Run > Run All Cells.
    page.click("text=Run", timeout=10_000)
    page.click("text=Run All Cells", timeout=10_000)
    time.sleep(1.0)
    _wait_idle(page)


def _outputs(page) -> list[dict]:
    """Outputs of every code cell, read from the notebook model in the browser."""
    return page.evaluate(
        "() => { const nb = window.jupyterapp.shell.currentWidget.content;"
        " return nb.widgets.filter(c => c.model.type === 'code').map(c => ({"
        "   count: c.model.executionCount, outputs: c.model.outputs.toJSON()})); }"
    )


def _errors(cells: list[dict]) -> list[str]:
    return [
        f"cell {i}: {o.get('ename')}: {o.get('evalue')}"
        for i, c in enumerate(cells)
        for o in c["outputs"]
        if o.get("output_type") == "error"
    ]


def _shot(page, name: str) -> Path:
    SHOTS.mkdir(parents=True, exist_ok=True)
    path = SHOTS / f"{name}.png"
    page.screenshot(path=str(path), full_page=False)
    print(f"screenshot: {path}")
    return path


@pytest.mark.parametrize("path", ["notebooks/00_start_here.ipynb", TOPIC_LECTURE])
def test_notebook_runs_in_jupyterlab(lab, browser, path):
    url, work = lab
    if not (work / path).exists():
        pytest.skip(f"{path} is not in this release")
    t0 = time.perf_counter()
    page = _open(browser, url, path)
    try:
        _run_all(page)
        cells = _outputs(page)
        assert cells and all(c["count"] is not None for c in cells), "not every cell ran"
        assert not _errors(cells), _errors(cells)
        # MathJax rendered the equations: rendered elements exist, no raw $$ left in text
        page.wait_for_function(
            "() => document.querySelectorAll('.jp-RenderedMarkdown mjx-container').length > 0",
            timeout=30_000,
        )
        n_math = page.evaluate(
            "() => document.querySelectorAll('.jp-RenderedMarkdown mjx-container').length"
        )
        raw = page.evaluate(
            "() => [...document.querySelectorAll('.jp-RenderedMarkdown')]"
            "  .filter(e => e.innerText.includes('$$')).length"
        )
        assert raw == 0, f"{raw} markdown cells still show raw $$"
        n_img = page.evaluate(
            "() => document.querySelectorAll("
            "'.jp-OutputArea-output img, .jp-RenderedImage img').length"
        )
        assert n_img >= 1, "no matplotlib figure was displayed"
        page.locator(".jp-RenderedImage img").first.scroll_into_view_if_needed()
        _shot(page, Path(path).stem)
    finally:
        page.close()
    print(
        f"{path}: {len(cells)} code cells ran in the browser, {n_math} rendered formulas, "
        f"{n_img} images, {time.perf_counter() - t0:.1f} s"
    )


def test_a_raising_cell_is_detected(lab, browser):
    """The detector above must be able to fail: a notebook whose cell raises."""
    url, work = lab
    nb = {
        "cells": [
            {
                "cell_type": "code",
                "execution_count": None,
                "id": "boom",
                "metadata": {},
                "outputs": [],
                "source": "1 / 0",
            }
        ],
        "metadata": {
            "kernelspec": {"name": "python3", "display_name": "Python 3", "language": "python"}
        },
        "nbformat": 4,
        "nbformat_minor": 5,
    }
    (work / "broken.ipynb").write_text(json.dumps(nb))
    page = _open(browser, url, "broken.ipynb")
    try:
        _run_all(page)
        assert _errors(_outputs(page)) == ["cell 0: ZeroDivisionError: division by zero"]
    finally:
        page.close()


def _cell_index(nb_path: Path, role: str, question: str | None = None) -> tuple[int, str]:
    cells = json.loads(nb_path.read_text())["cells"]
    for i, c in enumerate(cells):
        meta = c.get("metadata", {}).get("course", {})
        if meta.get("role") == role and (question is None or meta.get("question") == question):
            return i, c["id"]
    raise LookupError(f"no {role} cell in {nb_path}")


def _activate(page, index: int):
    """Select cell ``index`` and scroll it into view (what a click on the cell does)."""
    page.evaluate(
        "async (i) => { const nb = window.jupyterapp.shell.currentWidget.content;"
        " nb.activeCellIndex = i; nb.mode = 'command'; await nb.scrollToItem(i); }",
        index,
    )
    time.sleep(0.3)
    return page.locator(".jp-NotebookPanel:not(.lm-mod-hidden) .jp-Cell.jp-mod-active")


def _run_cell(page, index: int):
    """Run one cell with the keyboard shortcut Ctrl+Enter; returns the cell's locator."""
    cell = _activate(page, index)
    page.keyboard.press("Control+Enter")
    time.sleep(0.5)
    _wait_idle(page)
    return cell


def test_exercise_feedback_in_the_browser(lab, browser):
    url, work = lab
    if not (work / EXERCISE).exists():
        pytest.skip(f"{EXERCISE} is not in this release")
    ex_path = work / EXERCISE
    answer_idx, answer_id = _cell_index(ex_path, "answer")
    question = json.loads(ex_path.read_text())["cells"][answer_idx]["metadata"]["course"][
        "question"
    ]
    check_idx, _ = _cell_index(ex_path, "check", question)
    sol_cells = {c["id"]: c for c in json.loads((ROOT / SOLUTION).read_text())["cells"]}
    solution_source = "".join(sol_cells[answer_id]["source"])

    page = _open(browser, url, EXERCISE)
    try:
        # run everything above the answer (setup, given cells)
        for i in range(answer_idx):
            _run_cell(page, i)
        # 1. no answer yet: the check prints a friendly [FAIL], not a traceback
        _run_cell(page, answer_idx)
        check = _run_cell(page, check_idx)
        text = check.locator(".jp-OutputArea").inner_text()
        assert "[FAIL]" in text and "not answered yet" in text, text
        assert "Traceback" not in text
        _shot(page, "exercise_unanswered")
        # 2. type the answer into the editor, run it, run the check: [PASS]
        editor = _activate(page, answer_idx).locator(".cm-content")
        editor.click()
        page.keyboard.press("Control+a")
        page.keyboard.press("Delete")
        page.keyboard.insert_text(solution_source)
        page.keyboard.press("Escape")
        _run_cell(page, answer_idx)
        check = _run_cell(page, check_idx)
        text = check.locator(".jp-OutputArea").inner_text()
        assert "[PASS]" in text and "[FAIL]" not in text, text
        _shot(page, "exercise_answered")
    finally:
        page.close()


def test_jupyterlab_state_stays_in_temporary_dirs(lab, browser):
    """Opening a notebook saves a workspace: it must land in the temp dir, not in ~."""
    url, work = lab
    before = _user_workspace_files()
    page = _open(browser, url, "notebooks/00_start_here.ipynb")
    try:
        # JupyterLab saves the workspace shortly after the layout changes
        deadline = time.time() + 30
        while not list((work / "_workspaces").glob("*")) and time.time() < deadline:
            time.sleep(0.5)
    finally:
        page.close()
    assert list((work / "_workspaces").glob("*")), "JupyterLab saved no workspace in the temp dir"
    assert _user_workspace_files() == before, "the user's own JupyterLab workspaces changed"


def test_a_jupyterlab_edit_reaches_the_text_source(lab, browser):
    """Editing a paired lecture in JupyterLab and saving updates its py:percent source
    (jupytext's contents manager), and the pair still agrees afterwards."""
    from course_utils import authoring

    url, work = lab
    text = work / "notebooks" / "01_mle.py"
    before = text.read_text()
    marker = "Edited in the browser test."
    assert marker not in before
    page = _open(browser, url, TOPIC_LECTURE)
    try:
        cell = _activate(page, 0)  # the title cell (markdown)
        page.keyboard.press("Enter")  # edit mode: the markdown source opens in the editor
        cell.locator(".cm-content").click()
        page.keyboard.press("Control+End")
        page.keyboard.insert_text(f"\n\n{marker}")
        page.keyboard.press("Shift+Enter")  # render the cell again
        page.keyboard.press("Control+s")
        deadline = time.time() + 30
        while marker not in text.read_text() and time.time() < deadline:
            time.sleep(0.5)
        _shot(page, "jupytext_edit_saved")
    finally:
        page.close()
    after = text.read_text()
    assert f"# {marker}" in after, "saving in JupyterLab did not update notebooks/01_mle.py"
    diff = list(difflib.ndiff(before.splitlines(), after.splitlines()))
    assert [ln for ln in diff if ln[:1] in "+-"] == ["+ #", f"+ # {marker}"], diff
    pair = next(p for p in authoring.find_pairs(work) if p.name == "notebooks/01_mle")
    assert authoring.pair_problems(pair) == []
    saved = json.loads((work / TOPIC_LECTURE).read_text())
    original = json.loads((ROOT / TOPIC_LECTURE).read_text())
    assert [c["id"] for c in saved["cells"]] == [c["id"] for c in original["cells"]]
