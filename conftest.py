"""Suite-wide pytest hooks: per-notebook execution time, budget and report; failure
messages a student can act on.

nbval runs every code cell of a notebook as one test item. We add up the call
durations of each notebook's items (plus kernel start-up, which nbval charges to the
first cell's setup) and print a table at the end of the run, flagging every notebook
over its budget. Wall time on a shared or throttled machine is no test of the course
(performance is measured, not asserted, here as in benchmarks/), so an overrun fails the
run only when ``COURSE_NOTEBOOK_BUDGET_STRICT=1`` asks for it (do that on a quiet machine
before a release).

nbval names a cell "Cell 3", counting code cells from 0, which is no number JupyterLab
shows. A failing cell's report starts with its id and its position among all the
notebook's cells, counted from 1 as a reader scrolls, and has no ANSI colour codes.

The students' workspace ``my_work/`` (and a student edition built inside the checkout)
is never collected: answers being worked on are no test of the course.
"""

from __future__ import annotations

import os
import re
from collections import defaultdict
from pathlib import Path

import pytest
import torch

collect_ignore = ["my_work", "student-edition", "submissions", "grades"]
_ANSI = re.compile(r"\x1b\[[0-9;?]*[A-Za-z]")

NOTEBOOK_BUDGET_S = float(os.environ.get("COURSE_NOTEBOOK_BUDGET", "60"))
BUDGET_STRICT = os.environ.get("COURSE_NOTEBOOK_BUDGET_STRICT", "") == "1"
_times: dict[str, float] = defaultdict(float)
_failed_budget: list[str] = []

# Two pytest workers on two cores: one torch thread each, in the workers themselves and
# in the notebook kernels they start (which inherit COURSE_THREADS). More threads than
# cores make torch's thread pool spin and can slow small tests down tenfold.
os.environ.setdefault("COURSE_THREADS", "1")
torch.set_num_threads(int(os.environ["COURSE_THREADS"]))


def _notebook_of(nodeid: str) -> str | None:
    path = nodeid.split("::", 1)[0]
    return path if path.endswith(".ipynb") else None


def pytest_runtest_logreport(report):
    nb = _notebook_of(report.nodeid)
    if nb is not None:
        _times[nb] += report.duration


@pytest.hookimpl(optionalhook=True)
def pytest_testnodedown(node, error):  # xdist: merge the worker's timings
    for nb, t in getattr(node, "workeroutput", {}).get("notebook_times", {}).items():
        _times[nb] = max(_times[nb], t)


def pytest_sessionfinish(session, exitstatus):
    workeroutput = getattr(session.config, "workeroutput", None)
    if workeroutput is not None:  # inside an xdist worker: hand the figures to the controller
        workeroutput["notebook_times"] = dict(_times)
        return
    _failed_budget.extend(nb for nb, t in _times.items() if t > NOTEBOOK_BUDGET_S)
    if _failed_budget and BUDGET_STRICT and session.exitstatus == 0:
        session.exitstatus = pytest.ExitCode.TESTS_FAILED


def pytest_terminal_summary(terminalreporter):
    if not _times:
        return
    tr = terminalreporter
    tr.section(f"notebook execution times (budget {NOTEBOOK_BUDGET_S:.0f} s each)")
    for nb in sorted(_times):
        flag = "  OVER BUDGET" if _times[nb] > NOTEBOOK_BUDGET_S else ""
        tr.write_line(f"{_times[nb]:7.1f} s  {Path(nb)}{flag}")
    tr.write_line(f"{sum(_times.values()):7.1f} s  total")
    if _failed_budget:
        verdict = "FAILED" if BUDGET_STRICT else "WARNING (COURSE_NOTEBOOK_BUDGET_STRICT=1 fails)"
        tr.write_line(
            f"{verdict}: notebooks over the {NOTEBOOK_BUDGET_S:.0f} s budget: "
            f"{', '.join(sorted(_failed_budget))}",
            red=True,
        )


def strip_ansi(text: str) -> str:
    """``text`` without ANSI escape sequences (the kernel's coloured tracebacks)."""
    return _ANSI.sub("", text)


def notebook_cell_location(item) -> str | None:
    """Where an nbval item's cell is in its notebook, in JupyterLab's terms, or None
    for an item that is no notebook cell."""
    cell = getattr(item, "cell", None)
    nb = getattr(getattr(item, "parent", None), "nb", None)
    if cell is None or nb is None:
        return None
    cells = list(nb.cells)
    position = next((i for i, c in enumerate(cells) if c is cell), None)
    if position is None:
        return None
    count = cell.get("execution_count")
    prompt = f"[{count}]" if count is not None else "[ ]"
    return (
        f"{Path(str(item.fspath)).name}: cell id {cell.get('id', '?')!r}, cell "
        f"{position + 1} of {len(cells)} counting every cell from the top (prompt "
        f"{prompt} in the saved notebook; nbval's 'Cell {item.cell_num}' counts code "
        f"cells from 0). In JupyterLab: open the notebook, re-run it top to bottom "
        f"(Kernel > Restart Kernel and Run All Cells) and save, or restore it with "
        f"'git checkout -- {item.fspath.relto(str(item.config.rootpath))}'."
    )


@pytest.hookimpl(wrapper=True)
def pytest_runtest_makereport(item, call):
    report = yield
    if report.failed and getattr(item, "cell", None) is not None:
        where = notebook_cell_location(item)
        text = strip_ansi(str(report.longrepr))
        report.longrepr = f"{where}\n\n{text}" if where else text
    return report
