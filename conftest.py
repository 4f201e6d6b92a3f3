"""Suite-wide pytest hooks: per-notebook execution time, budget and report.

nbval runs every code cell of a notebook as one test item. We add up the call
durations of each notebook's items (plus kernel start-up, which nbval charges to the
first cell's setup) and print a table at the end of the run. A notebook over its budget
fails the run with a message naming it.
"""

from __future__ import annotations

import os
from collections import defaultdict
from pathlib import Path

import pytest
import torch

NOTEBOOK_BUDGET_S = float(os.environ.get("COURSE_NOTEBOOK_BUDGET", "60"))
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
    if _failed_budget and session.exitstatus == 0:
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
        tr.write_line(
            f"FAILED: notebooks over the {NOTEBOOK_BUDGET_S:.0f} s budget: "
            f"{', '.join(sorted(_failed_budget))}",
            red=True,
        )
