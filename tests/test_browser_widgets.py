"""Interactive figures: a lecture's widget in JupyterLab redraws its figure when a slider moves.

Opens a lecture in JupyterLab (a copy, own settings and HOME, offline), runs the cells the
widget needs and the widget cell, moves its slider with the keyboard and checks that the
slider's value and the drawn figure both change: ``02_odes`` (the Euler step size across
the stability limit; only the set-up cell is needed) and ``03_change_of_variables`` (the
parameter ``a`` of the map ``z + a tanh z``; every code cell up to the widget, since it
reuses the helpers of the static figure before it). Also checks, without a browser, that
every widget cell follows the lectures' rules. Screenshots go to ``test-artifacts/widgets/``.
"""

from __future__ import annotations

import time

import nbformat
import pytest
from lab_helpers import CHROMIUM, ROOT, jupyter_lab, offline_browser, shot

SHOTS = ROOT / "test-artifacts" / "widgets"
LECTURES = sorted((ROOT / "notebooks").glob("[0-9][0-9]_*.ipynb"))
WIDGET_TOPICS = {"02_odes", "03_change_of_variables", "07_flow_matching", "08_volume_metrics"}
# lecture, which cells to run before the widget ("setup": the first code cell only, "all":
# every code cell above it), slider readout before and after four ArrowRight presses
SLIDERS = [
    ("02_odes", "setup", "0.90", "1.10"),  # across the stability limit h = 1
    ("03_change_of_variables", "all", "1.00", "1.20"),
]


def _widget_cells(nb):
    return [c for c in nb.cells if "widget" in c.metadata.get("tags", [])]


@pytest.mark.parametrize("path", LECTURES, ids=lambda p: p.stem)
def test_widget_cells_follow_the_rules(path):
    nb = nbformat.read(path, as_version=4)
    cells = _widget_cells(nb)
    if path.stem in WIDGET_TOPICS:
        assert cells, f"{path.name} lost its interactive figure"
    for c in cells:
        i = nb.cells.index(c)
        assert not c.metadata.get("course"), "a widget in a graded cell"
        assert {"nbval-ignore-output", "remove-output"} <= set(c.metadata["tags"])
        assert "assert " in c.source, "a widget cell asserts the lesson it shows"
        # a static figure just before it stands for it on the website and under nbval
        before = nb.cells[i - 1]
        assert before.cell_type == "code" and any(
            "image/png" in o.get("data", {}) for o in before.get("outputs", [])
        ), f"{path.name}: no static figure before the widget cell"


@pytest.mark.browser
@pytest.mark.parametrize(("topic", "run", "start", "end"), SLIDERS, ids=[s[0] for s in SLIDERS])
def test_slider_redraws_the_figure(tmp_path, topic, run, start, end):
    if CHROMIUM is None:
        pytest.skip("browser tests need Debian's chromium; .ci/run installs it")
    sync_api = pytest.importorskip("playwright.sync_api", reason="needs playwright")
    lecture = f"notebooks/{topic}.ipynb"
    with jupyter_lab(tmp_path, [lecture]) as url, offline_browser(sync_api) as (ctx, left):
        page = ctx.new_page()
        page.set_default_timeout(120_000)
        page.goto(f"{url}/lab/tree/{lecture}?reset")
        page.wait_for_function(
            "() => window.jupyterapp && window.jupyterapp.shell.currentWidget"
            " && window.jupyterapp.shell.currentWidget.sessionContext"
            " && window.jupyterapp.shell.currentWidget.sessionContext.session"
            " && window.jupyterapp.shell.currentWidget.sessionContext.session.kernel"
        )
        page.wait_for_selector(".jp-Notebook .jp-Cell", state="attached")
        # run the set-up cell (or every code cell above the widget) and the widget cell
        idx = page.evaluate(
            """async (run) => {
            const panel = window.jupyterapp.shell.currentWidget, nb = panel.content;
            const cells = nb.widgets;
            const setup = cells.findIndex(c => c.model.type === 'code');
            const widget = cells.findIndex(c => (c.model.getMetadata('tags') || []).includes('widget'));
            const order = run === 'all'
                ? cells.map((c, i) => i).filter(i => i <= widget && cells[i].model.type === 'code')
                : [setup, widget];
            for (const i of order) {
                nb.activeCellIndex = i;
                await window.jupyterapp.commands.execute('notebook:run-cell');
            }
            return widget;
        }""",
            run,
        )
        cell = page.locator(".jp-Notebook .jp-Cell").nth(idx)
        slider = cell.locator(".widget-slider").first
        slider.wait_for(state="visible", timeout=180_000)
        img = cell.locator(".jp-OutputArea-output img").first
        img.wait_for(state="visible", timeout=120_000)
        cell.scroll_into_view_if_needed()
        before_src = img.get_attribute("src")
        before_val = cell.locator(".widget-readout").first.inner_text()
        shot(page, SHOTS, f"{topic}_widget_{start}")
        cell.locator(".noUi-handle, .ui-slider-handle").first.focus()
        for _ in range(4):  # four steps of the slider
            page.keyboard.press("ArrowRight")
            page.wait_for_timeout(300)
        # wait until the kernel has drawn every update (idle twice in a row), then compare
        deadline, idle = time.time() + 90, 0
        while time.time() < deadline and idle < 2:
            page.wait_for_timeout(500)
            status = page.evaluate(
                "() => window.jupyterapp.shell.currentWidget.sessionContext.session.kernel.status"
            )
            idle = idle + 1 if status == "idle" else 0
        after_src = cell.locator(".jp-OutputArea-output img").first.get_attribute("src")
        after_val = cell.locator(".widget-readout").first.inner_text()
        shot(page, SHOTS, f"{topic}_widget_{end}")
        assert before_val.strip() == start and after_val.strip() == end, (before_val, after_val)
        assert after_src and after_src != before_src, "the figure did not change with the slider"
        assert not left, f"the lab tried to load from the network: {left[:5]}"
