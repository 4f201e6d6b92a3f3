"""The adversarial corpus (issue 17, item 7): hostile submissions graded in ONE batch
with honest ones, with the sandbox on.

Every module of ``tests/adversarial/`` is one attack class (its ``ATTACK`` line is
printed in assertion messages). The batch is graded once (2 workers, sandbox
``auto``); the tests then check what the issue lists:

* the batch completes, every submission has a row, ``results.json`` and feedback;
* honest submissions score exactly what they score alone;
* no hostile submission gains points for a question it did not honestly answer;
* nothing outside the out dir changes (the course tree, site-packages, the user site,
  the submissions, ``/tmp`` and ``/dev/shm``), even after the attacks' daemons would
  have woken up;
* no process started for a submission survives;
* no feedback contains a hidden expression or spec text;
* the grader's peak memory stays bounded.

Without a working sandbox these tests are skipped, unless ``COURSE_GRADE_REQUIRE_SANDBOX``
is set (``.ci/run`` sets it: CI must run them with the sandbox).
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).parent))
from adversarial import SOLUTION, attacks  # noqa: E402
from grading_fixtures import corpus as corpus_batch  # noqa: E402
from grading_fixtures.sandbox import LEVEL, TEMPLATE_LEVEL  # noqa: E402

ATTACKS = attacks()
MARKER, POINTS, HONEST = corpus_batch.MARKER, corpus_batch.POINTS, corpus_batch.HONEST


pytestmark = pytest.mark.skipif(LEVEL is None, reason="no sandbox (bubblewrap) available")


# The uid fallback (root without bubblewrap) does not isolate /tmp, /dev/shm or the
# network (docs/GRADING.md section 4) and has no template: those attacks are left out.
NOT_AT_UID = {"shm_socket", "resource_abuse", "template_escape"}
UID_WORLD = Path(__file__).parent / "grading_fixtures" / "uid_world.py"


def _uid_level_unavailable() -> str | None:
    if os.getuid() != 0:
        return "the uid level needs root"
    for tool in ("unshare", "mount"):
        if not shutil.which(tool):
            return f"{tool} is not installed"
    probe = subprocess.run(["unshare", "-m", "true"], capture_output=True, text=True)
    if probe.returncode:
        return f"no private mount namespace: {probe.stderr.strip()}"
    return None


@pytest.fixture(scope="module", params=["sandbox", "uid"])
def corpus(request, tmp_path_factory):
    """The batch graded at the best level (bubblewrap), and at the uid fallback: the
    grader forced to ``--sandbox uid``, run where the Python environment is readable by
    every user (``grading_fixtures/uid_world.py``), as a system-wide Python would be."""
    if request.param == "sandbox":
        got = corpus_batch.build(tmp_path_factory.mktemp("adversarial"), ATTACKS, SOLUTION)
        return {**got, "level": TEMPLATE_LEVEL}
    why = _uid_level_unavailable()
    if why and os.environ.get("COURSE_GRADE_REQUIRE_SANDBOX") and os.getuid() == 0:
        pytest.fail(f"COURSE_GRADE_REQUIRE_SANDBOX is set but the uid level cannot run: {why}")
    if why:
        pytest.skip(why)
    wrap = ("unshare", "-m", "--propagation", "private", sys.executable, str(UID_WORLD))
    some = {k: v for k, v in ATTACKS.items() if k not in NOT_AT_UID}
    base = tmp_path_factory.mktemp("adversarial-uid")
    got = corpus_batch.build(base, some, SOLUTION, sandbox="uid", wrap=wrap)
    return {**got, "level": "uid"}


def _why(name: str) -> str:
    mod = ATTACKS.get(name.rsplit("_", 1)[0]) or ATTACKS.get(name)
    return f"{name}: {mod.ATTACK}" if mod else name


def test_every_attack_class_of_the_issue_is_in_the_corpus():
    named = {
        "dirfd_open", "fspath_toggle", "audit_hook_gc", "daemon_rewrite", "proc_snoop",
        "pth_plant", "kill_grader", "fifo_block", "malformed_reply", "leak_feedback",
        "shadow_builtins", "shm_socket", "raw_memory", "resource_abuse",
    }  # fmt: skip
    named |= {"template_escape"}  # issue 25: kernels forked from a template
    assert named <= set(ATTACKS), sorted(named - set(ATTACKS))
    for mod in ATTACKS.values():
        assert mod.ATTACK and mod.ANSWERS and set(mod.ANSWERS).isdisjoint(mod.HONEST)


def test_the_batch_completes_with_a_row_results_and_feedback_for_everyone(corpus):
    assert sorted(corpus["rows"]) == sorted(corpus["paths"])
    events = corpus["stats"]["launcher_events"]
    assert corpus["stats"]["isolation"] == corpus["level"], events
    for name in corpus["paths"]:
        assert corpus["rows"][name]["isolation"] == corpus["level"], (name, events)
        res = json.loads((corpus["out"] / name / "results.json").read_text())
        assert isinstance(res["score"], float) and res["tests"], name
        assert (corpus["out"] / name / "feedback.md").read_text().startswith("# Feedback")
    allowed = {"grades.csv"} | {
        f"{n}{f}"
        for n in corpus["paths"]
        for f in ("", "/results.json", "/feedback.md", "/output.log")
    }
    assert set(corpus["out_files"]) == allowed


def test_the_attacks_ran_their_code(corpus):
    """An attack that dies of a bug in its own code tests nothing: its log must not
    show a TypeError from its own cells, and the template attack must report."""
    for name in corpus["paths"]:
        log = (corpus["out"] / name / "output.log").read_text()
        assert "TypeError: expected bytes" not in log, name
    for name in [n for n in corpus["paths"] if n.startswith("template_escape")]:
        log = (corpus["out"] / name / "output.log").read_text()
        assert "template attack found: []" in log, (name, log[-3000:])


def test_honest_submissions_score_exactly_what_they_score_alone(corpus):
    for name in HONEST:
        got, alone = corpus["rows"][name], corpus["alone"][name]
        assert {k: v for k, v in got.items()} == alone, name
        assert float(got["total"]) == sum(POINTS[q] for q in HONEST[name])


def test_no_hostile_submission_gains_points(corpus):
    wrong = []
    for name, honest in corpus["expected"].items():
        row = corpus["rows"][name]
        for q, pts in POINTS.items():
            want = pts if q in honest else 0
            if float(row[q]) != want:
                wrong.append(f"{_why(name)}: {q} scored {row[q]}, expected {want}")
    assert not wrong, "\n".join(wrong)


def test_nothing_outside_the_out_dir_changes(corpus):
    before, after = corpus["before"], corpus["after"]
    changed = sorted(k for k in before.keys() | after.keys() if before.get(k) != after.get(k))
    assert not changed, changed[:20]
    assert not corpus["marked"], corpus["marked"]  # /tmp, /dev/shm, site-packages
    for name, p in corpus["paths"].items():  # the victim included: as written
        assert p.read_text() == corpus["texts"][name], name
    for name in corpus["paths"]:  # the daemons' rewrites did not land
        for f in ("results.json", "feedback.md"):
            assert MARKER not in (corpus["out"] / name / f).read_text()
    assert MARKER not in (corpus["out"] / "grades.csv").read_text()


def test_no_process_survives_grading(corpus):
    assert not corpus["stats"]["children_now"], corpus["stats"]["children_now"]
    assert not corpus["stats"]["children_later"], corpus["stats"]["children_later"]
    assert not corpus["survivors"], corpus["survivors"]


def test_no_feedback_contains_hidden_expressions_or_spec_text(corpus):
    spec = (corpus["root"] / "grading" / "01_toy.py").read_text()
    exercise = (corpus["root"] / "exercises" / "01_toy.ipynb").read_text()
    # an expression that is public anyway (the variable ``slope`` of the exercise) is no leak
    exprs = [
        t["expr"]
        for q in _spec_questions(corpus["root"])
        for t in q["tests"]
        if json.dumps(t["expr"])[1:-1] not in exercise
    ]
    # spec lines a student never sees (not test names or 'expects' texts, which are public)
    public = {
        t[k]
        for q in _spec_questions(corpus["root"])
        for t in q["tests"]
        for k in ("name", "expects")
    }
    lines = [
        s.strip().strip(",")
        for s in spec.splitlines()
        if len(s.strip()) >= 20 and not any(p in s for p in public)
    ]
    leaks = []
    for name in corpus["paths"]:
        for f in ("feedback.md", "results.json", "output.log"):
            text = (corpus["out"] / name / f).read_text()
            if f == "results.json":
                text = json.dumps(json.loads(text), ensure_ascii=False)
            for e in exprs:
                if e in text or e[:30] in text:
                    leaks.append(f"{_why(name)}: {f} holds the hidden expression {e[:40]!r}")
            for line in lines:
                if line in text:
                    leaks.append(f"{_why(name)}: {f} holds spec text {line[:40]!r}")
    assert not leaks, "\n".join(leaks[:20])


def test_feedback_lines_from_students_are_capped_and_cannot_forge_structure(corpus):
    fb = (corpus["out"] / "leak_feedback" / "feedback.md").read_text()
    assert max(len(line) for line in fb.splitlines()) < 1000
    headers = [line for line in fb.splitlines() if line.startswith("#")]
    assert (
        headers[0].startswith("# Feedback for")
        and "q9" not in fb.split("## Notes")[0].split("\n## ")[0]
    )
    assert sum(h.startswith("# Total") for h in headers) == 0
    assert not any("q9" in h for h in headers)


def test_the_graders_peak_memory_stays_bounded(corpus):
    assert corpus["stats"]["rss_mb"] < 700, corpus["stats"]
    assert corpus["stats"]["pool_rss_mb"] < 700, corpus["stats"]


def _spec_questions(root: Path) -> list[dict]:
    import runpy

    return runpy.run_path(str(root / "grading" / "01_toy.py"))["QUESTIONS"]
