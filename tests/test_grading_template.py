"""Kernels forked from a template (``_template.TemplateLauncher``): a template that dies
is replaced, failures in a row give it up, and the instructor is told why (issue 17).

A batch once lost its template for the rest of a worker's submissions after three
deaths counted over the whole batch; these tests pin the rule that replaced it:
restart whenever it dies, give up only after ``MAX_FAILURES`` failures with no kernel
forked in between, or at once when it is not safe to use.
"""

from __future__ import annotations

import os
import signal
import sys
import time
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).parent))
from grading_fixtures.sandbox import TEMPLATE_LEVEL  # noqa: E402

from course_utils.grading import _grader, _template  # noqa: E402
from course_utils.grading._kernel import Kernel, Limits  # noqa: E402
from course_utils.grading._sandbox import BwrapLauncher, PlainLauncher, SandboxError  # noqa: E402

LIMITS = Limits(timeout=30, memory_mb=2048)
LEVELS = ["none"] + (["bubblewrap"] if TEMPLATE_LEVEL == "bubblewrap+template" else [])


def _launcher(level: str) -> _template.TemplateLauncher:
    base = PlainLauncher() if level == "none" else BwrapLauncher([])
    return _template.TemplateLauncher(base, ["json"], [])


def _run(launcher) -> tuple[str, str]:
    """One kernel: run a cell, return (its output, how it was started)."""
    k = Kernel(LIMITS, [], time.monotonic() + 60, launcher)
    try:
        reply = k.request(
            {"op": "exec", "cell": "c", "code": "print(6 * 7)"}, time.monotonic() + 30
        )
        return reply["output"].strip(), k.box.level
    finally:
        k.close()


@pytest.fixture(params=LEVELS)
def launcher(request):
    tl = _launcher(request.param)
    yield tl
    tl.close()


def test_a_template_killed_between_kernels_is_replaced_and_the_reason_kept(launcher):
    assert _run(launcher) == ("42", f"{launcher.base.level}+template")
    first = launcher._template
    os.killpg(first.box.proc.pid, signal.SIGKILL)
    first.box.proc.wait(10)
    for _ in range(4):  # four more deaths: more than the old limit of three per batch
        assert _run(launcher) == ("42", f"{launcher.base.level}+template")
        assert launcher._template is not first and launcher.broken is None
        first = launcher._template
        os.killpg(first.box.proc.pid, signal.SIGKILL)
        first.box.proc.wait(10)
    events = launcher.take_events()
    assert len(events) == 4 and all("exit status -9" in e for e in events), events
    assert launcher.take_events() == []
    assert launcher.starts == 5


def test_failures_in_a_row_give_the_template_up_and_kernels_are_launched(launcher, monkeypatch):
    def refuse(*args, **kwargs):
        raise SandboxError("the template did not start (simulated)")

    monkeypatch.setattr(_template, "_Template", refuse)
    assert _run(launcher) == ("42", launcher.base.level)  # launched one by one
    events = launcher.take_events()
    assert events[:3] == ["the template did not start (simulated)"] * 3
    assert "3 failures in a row" in events[-1] and launcher.broken
    assert launcher.starts == _template.MAX_FAILURES


def test_a_forked_kernel_resets_the_count_of_failures(launcher, monkeypatch):
    real = _template._Template
    fail = {"left": 2}

    def sometimes(*args, **kwargs):
        if fail["left"]:
            fail["left"] -= 1
            raise SandboxError("the template did not start (simulated)")
        return real(*args, **kwargs)

    monkeypatch.setattr(_template, "_Template", sometimes)
    assert _run(launcher)[1].endswith("+template")  # two failures, then a template
    assert launcher.failures == 0
    fail["left"] = 1
    launcher._template.close()  # it dies (a failure), one more failure: still two
    assert _run(launcher)[1].endswith("+template")
    assert launcher.broken is None and launcher.starts == 5


def test_a_threaded_or_leaky_template_is_given_up_at_once(launcher, monkeypatch):
    def leaky(self, tmpl, limits):
        raise _template._Unusable("the template's probe kernel: it could read /secret")

    monkeypatch.setattr(_template.TemplateLauncher, "_probe", leaky)
    assert _run(launcher) == ("42", launcher.base.level)
    assert launcher.starts == 1 and "could read /secret" in launcher.broken
    assert any("not used any more" in e for e in launcher.take_events())


def test_the_grader_prints_template_events_to_the_instructor(capsys):
    progress = _grader._Progress(2, quiet=True)  # even a quiet grader says this
    progress.tick("alice", {"launcher_events": ["the kernel template died (exit status -9)"]})
    progress.tick("bob", {})
    err = capsys.readouterr().err
    assert err == "course-grade: while grading alice: the kernel template died (exit status -9)\n"


@pytest.mark.skipif("bubblewrap" not in LEVELS, reason="no bubblewrap template here")
def test_closing_a_kernel_with_live_children_needs_no_proc_scan_and_leaves_nothing(
    monkeypatch,
):
    """The template kills the namespace's init and reaps it: a reaped init means an
    empty namespace, so the grader's /proc scan-and-kill fallback is not needed."""
    tl = _launcher("bubblewrap")
    try:
        k = Kernel(LIMITS, [], time.monotonic() + 60, tl)
        code = (
            "import os, sys, multiprocessing.util as mu\n"
            "argv = [os.fsencode(a) for a in (sys.executable, '-c', "
            "'import os, time; os.setsid(); time.sleep(60)')]\n"
            "pids = [mu.spawnv_passfds(argv[0], argv, []) for _ in range(5)]\n"
            "print(len(pids))"
        )
        reply = k.request({"op": "exec", "cell": "c", "code": code}, time.monotonic() + 30)
        assert reply["output"].strip() == "5", reply
        ns = k.box.ns
        assert len(_template._pids_in_ns(ns)) >= 7  # sleep, the kernel, its five children

        def no_scan(ns):
            raise AssertionError("the fallback scan ran")

        monkeypatch.setattr(_template, "_pids_in_ns", no_scan)
        k.close()
        monkeypatch.undo()
        assert _template._pids_in_ns(ns) == []
        assert isinstance(k.box.status, int)  # the kernel was reaped (by the template)
    finally:
        tl.close()
