"""The adversarial corpus as a batch: build the submissions, grade them in one batch
with honest ones, and record what the tests of ``test_grading_adversarial.py`` (every
sandbox level that isolates) and ``test_grading_uid.py`` (the uid fallback) check.

``build(base, attacks, sandbox=..., wrap=...)`` writes the toy course, one submission
per attack (``tests/adversarial/``) plus three honest ones, grades the honest ones
alone and then the whole batch, and returns the rows, the grader's statistics, the
files before and after, the processes left and the files marked by the attacks.
``wrap`` is a command prefix for the grading process (the uid test runs it in a
private mount namespace).
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

from course_utils.grading import release_topics

from . import toy

PY = sys.executable
MARKER = "advx" + str(os.getpid())
POINTS = {"q1": 3, "q2": 3, "q3": 2, "q4": 2}
HONEST = {  # name -> questions answered correctly (others keep the placeholder)
    "honest_solution": {"q1", "q2", "q3", "q4"},
    "honest_partial": {"q1", "q4"},
    "honest_blank": set(),
}
DAEMON_WAKE_S = 6.0  # the daemon attack writes after 4 s


def notebook(exercise: dict, answers: dict[str, str]) -> dict:
    """``exercise`` with the answer cells of ``answers`` (question -> code) filled in."""
    nb = copy.deepcopy(exercise)
    for c in nb["cells"]:
        course = c.get("metadata", {}).get("course", {})
        if c["cell_type"] == "code" and course.get("role") == "answer":
            if course["question"] in answers:
                c["source"] = answers[course["question"]]
    return nb


def snapshot(*dirs: Path) -> dict[str, tuple]:
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


def startup_files(site: Path) -> dict[str, tuple]:
    """What Python runs at start-up from site-packages: ``*.pth`` and ``*customize.py``.

    (The rest of the shared environment may legitimately change while the tests run:
    other sessions install packages into it.)
    """
    state = {}
    for p in sorted(site.glob("*.pth")) + sorted(site.glob("*customize.py")):
        state[str(p)] = (p.read_bytes(),)
    return state


def marked(where: Path) -> list[str]:
    """Names under ``where`` that carry the attacks' marker."""
    try:
        return sorted(n for n in os.listdir(where) if MARKER in n)
    except OSError:
        return []


def survivors() -> list[str]:
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
    sandbox=args["sandbox"],
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


def grade(
    root: Path,
    subs: list[Path],
    out: Path,
    wait: float = 0.0,
    *,
    sandbox: str = "auto",
    wrap: tuple[str, ...] = (),
) -> dict:
    """Grade ``subs`` in one batch in a child process; returns its statistics."""
    args = json.dumps(
        {
            "root": str(root),
            "subs": [str(p) for p in subs],
            "out": str(out),
            "wait": wait,
            "sandbox": sandbox,
        }
    )
    r = subprocess.run(
        [*wrap, PY, "-c", _GRADE, args], capture_output=True, text=True, timeout=1800
    )
    assert r.returncode == 0, r.stdout[-3000:] + r.stderr[-3000:]
    stats = json.loads(r.stdout.strip().splitlines()[-1])
    # what happened to the kernel templates (shown when an isolation assertion fails)
    stats["launcher_events"] = [
        line for line in r.stderr.splitlines() if line.startswith("course-grade: while grading")
    ]
    return stats


def build(
    base: Path,
    attacks: dict,
    solution: dict[str, str],
    *,
    sandbox: str = "auto",
    wrap: tuple[str, ...] = (),
) -> dict:
    """Write the course and the submissions under ``base``, grade, and record."""
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
        nb = notebook(exercise, {q: solution[q] for q in honest})
        paths[name] = subs_dir / f"{name}.ipynb"
        paths[name].write_text(json.dumps(nb))
        expected[name] = honest
    for name, mod in attacks.items():
        answers = {q: solution[q] for q in mod.HONEST}
        answers.update({q: code.format(**fields) for q, code in mod.ANSWERS.items()})
        for copy_no in range(getattr(mod, "COPIES", 1)):
            stem = name if copy_no == 0 else f"{name}_{copy_no + 1}"
            paths[stem] = subs_dir / f"{stem}.ipynb"
            paths[stem].write_text(json.dumps(notebook(exercise, answers)))
            expected[stem] = set(mod.HONEST)
    texts = {name: p.read_text() for name, p in paths.items()}
    user_site = Path(os.path.expanduser("~/.local/lib"))
    watched = [root, subs_dir, user_site]
    before = {**snapshot(*watched), **startup_files(site)}
    # honest submissions alone (their reference scores), then the mixed batch
    alone = base / "alone"
    grade(root, [paths[n] for n in HONEST], alone, sandbox=sandbox, wrap=wrap)
    assert {**snapshot(*watched), **startup_files(site)} == before
    t0 = time.monotonic()
    stats = grade(root, list(paths.values()), out, DAEMON_WAKE_S, sandbox=sandbox, wrap=wrap)
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
        "survivors": survivors(),
        "before": before,
        "after": {**snapshot(*watched), **startup_files(site)},
        "out_files": sorted(str(p.relative_to(out)) for p in out.rglob("*")),
        "marked": marked(Path("/tmp")) + marked(Path("/dev/shm")) + marked(site),
    }
