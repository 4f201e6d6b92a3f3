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

import copy
import csv
import json
import os
import subprocess
import sys
import sysconfig
import time
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).parent))
from adversarial import SOLUTION, attacks  # noqa: E402
from grading_fixtures import toy  # noqa: E402
from grading_fixtures.sandbox import LEVEL, TEMPLATE_LEVEL  # noqa: E402

from course_utils.grading import release_topics  # noqa: E402

PY = sys.executable
MARKER = "advx" + str(os.getpid())
POINTS = {"q1": 3, "q2": 3, "q3": 2, "q4": 2}
ATTACKS = attacks()
HONEST = {  # name -> questions answered correctly (others keep the placeholder)
    "honest_solution": {"q1", "q2", "q3", "q4"},
    "honest_partial": {"q1", "q4"},
    "honest_blank": set(),
}
DAEMON_WAKE_S = 6.0  # the daemon attack writes after 4 s


pytestmark = pytest.mark.skipif(LEVEL is None, reason="no sandbox (bubblewrap) available")


def _notebook(exercise: dict, answers: dict[str, str]) -> dict:
    nb = copy.deepcopy(exercise)
    for c in nb["cells"]:
        course = c.get("metadata", {}).get("course", {})
        if c["cell_type"] == "code" and course.get("role") == "answer":
            if course["question"] in answers:
                c["source"] = answers[course["question"]]
    return nb


def _snapshot(*dirs: Path) -> dict[str, tuple]:
    """Every file under ``dirs``: (size, mtime, mode); what an attack could change."""
    state = {}
    for d in dirs:
        if not d.exists():
            state[str(d)] = ("absent",)
            continue
        for p in [d, *d.rglob("*")]:
            try:
                st = p.lstat()
            except OSError:
                continue
            state[str(p)] = (st.st_size, st.st_mtime_ns, st.st_mode)
    return state


def _startup_files(site: Path) -> dict[str, tuple]:
    """What Python runs at start-up from site-packages: ``*.pth`` and ``*customize.py``.

    (The rest of the shared environment may legitimately change while the tests run:
    other sessions install packages into it.)
    """
    state = {}
    for p in sorted(site.glob("*.pth")) + sorted(site.glob("*customize.py")):
        state[str(p)] = (p.read_bytes(),)
    return state


def _marked(where: Path) -> list[str]:
    try:
        return sorted(n for n in os.listdir(where) if MARKER in n)
    except OSError:
        return []


def _survivors() -> list[str]:
    """Processes anywhere on the machine carrying the attacks' marker."""
    found = []
    me = os.getpid()
    for d in os.listdir("/proc"):
        if not d.isdigit() or int(d) == me:
            continue
        try:
            cmd = Path(f"/proc/{d}/cmdline").read_bytes()
            status = Path(f"/proc/{d}/status").read_text()
        except OSError:
            continue
        state = next(line.split()[1] for line in status.splitlines() if line.startswith("State:"))
        if state != "Z" and MARKER.encode() in cmd:
            found.append(f"{d} {cmd[:120]!r}")
    return found


# The grading process is a child subreaper: every orphaned descendant (a daemon that
# double-forked out of its kernel) is re-parented to it, so its children after grading
# are exactly the processes that survived.
_GRADE = """
import ctypes, json, os, resource, sys, time
ctypes.CDLL(None).prctl(36, 1, 0, 0, 0)  # PR_SET_CHILD_SUBREAPER
from course_utils.grading._grader import Limits, grade_submissions
args = json.loads(sys.argv[1])
reports = grade_submissions(
    "01_toy", args["subs"], args["out"], root=args["root"], workers=2,
    limits=Limits(timeout=15, submission_timeout=200, memory_mb=2048), quiet=True,
)
def children():
    out = []
    for d in os.listdir("/proc"):
        try:
            stat = open(f"/proc/{d}/stat").read().rsplit(")", 1)[1].split()
        except (OSError, IndexError):
            continue
        if int(stat[1]) == os.getpid() and stat[0] != "Z":
            cmd = open(f"/proc/{d}/cmdline", "rb").read()[:200].decode(errors="replace")
            if "resource_tracker" not in cmd:  # multiprocessing's own helper
                out.append(cmd)
    return out
now = children()
time.sleep(float(args["wait"]))
print(json.dumps({
    "rss_mb": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024,
    "pool_rss_mb": max(r.get("grader_rss_mb", 0) for r in reports),
    "isolation": reports[0]["isolation"],
    "children_now": now,
    "children_later": children(),
}))
"""


def _grade(root: Path, subs: list[Path], out: Path, wait: float = 0.0) -> dict:
    args = json.dumps(
        {"root": str(root), "subs": [str(p) for p in subs], "out": str(out), "wait": wait}
    )
    r = subprocess.run([PY, "-c", _GRADE, args], capture_output=True, text=True, timeout=1800)
    assert r.returncode == 0, r.stdout[-3000:] + r.stderr[-3000:]
    return json.loads(r.stdout.strip().splitlines()[-1])


@pytest.fixture(scope="module")
def corpus(tmp_path_factory):
    base = tmp_path_factory.mktemp("adversarial")
    root = toy.write_toy_course(base / "course")
    release_topics(root, [toy.TOPIC])
    exercise = json.loads((root / "exercises" / f"{toy.TOPIC}.ipynb").read_text())
    subs_dir = base / "subs"
    subs_dir.mkdir()
    out = base / "out"
    site = Path(sysconfig.get_paths()["purelib"])
    victim = subs_dir / "honest_solution.ipynb"
    fields = {
        "root": str(root),
        "out": str(out),
        "subs": str(subs_dir),
        "victim": str(victim),
        "site": str(site),
        "marker": MARKER,
    }
    paths: dict[str, Path] = {}
    expected: dict[str, set] = {}
    for name, honest in HONEST.items():
        nb = _notebook(exercise, {q: SOLUTION[q] for q in honest})
        paths[name] = subs_dir / f"{name}.ipynb"
        paths[name].write_text(json.dumps(nb))
        expected[name] = honest
    for name, mod in ATTACKS.items():
        answers = {q: SOLUTION[q] for q in mod.HONEST}
        answers.update({q: code.format(**fields) for q, code in mod.ANSWERS.items()})
        for copy_no in range(getattr(mod, "COPIES", 1)):
            stem = name if copy_no == 0 else f"{name}_{copy_no + 1}"
            paths[stem] = subs_dir / f"{stem}.ipynb"
            paths[stem].write_text(json.dumps(_notebook(exercise, answers)))
            expected[stem] = set(mod.HONEST)
    texts = {name: p.read_text() for name, p in paths.items()}
    user_site = Path(os.path.expanduser("~/.local/lib"))
    watched = [root, subs_dir, user_site]
    before = {**_snapshot(*watched), **_startup_files(site)}
    # honest submissions alone (their reference scores), then the mixed batch
    alone = base / "alone"
    _grade(root, [paths[n] for n in HONEST], alone)
    assert {**_snapshot(*watched), **_startup_files(site)} == before
    t0 = time.monotonic()
    stats = _grade(root, list(paths.values()), out, wait=DAEMON_WAKE_S)
    seconds = time.monotonic() - t0  # a daemon that escaped has written by now
    rows = {r["submission"]: r for r in csv.DictReader((out / "grades.csv").open())}
    alone_rows = {r["submission"]: r for r in csv.DictReader((alone / "grades.csv").open())}
    return {
        "root": root,
        "out": out,
        "paths": paths,
        "texts": texts,
        "expected": expected,
        "rows": rows,
        "alone": alone_rows,
        "stats": stats,
        "seconds": seconds,
        "survivors": _survivors(),
        "before": before,
        "after": {**_snapshot(*watched), **_startup_files(site)},
        "out_files": sorted(str(p.relative_to(out)) for p in out.rglob("*")),
        "marked": _marked(Path("/tmp")) + _marked(Path("/dev/shm")) + _marked(site),
    }


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
    assert corpus["stats"]["isolation"] == TEMPLATE_LEVEL
    for name in corpus["paths"]:
        assert corpus["rows"][name]["isolation"] == TEMPLATE_LEVEL, name
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
