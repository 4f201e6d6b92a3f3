"""The sandbox levels, the fallback rules, safe output writing, ``--only``, the progress
line and the Gradescope bundle in a simulated ``/autograder`` (issue 17)."""

from __future__ import annotations

import copy
import csv
import json
import os
import shutil
import stat
import subprocess
import sys
import tempfile
import time
import zipfile
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).parent))
from grading_fixtures import toy  # noqa: E402
from grading_fixtures.sandbox import LEVEL, TEMPLATE_LEVEL  # noqa: E402

from course_utils.grading import (
    _sandbox,  # noqa: E402
    release_topics,  # noqa: E402
)
from course_utils.grading._sandbox import (  # noqa: E402
    PlainLauncher,
    SandboxError,
    select_launcher,
    self_test,
)

PY = sys.executable
FAST = ["--timeout", "20", "--memory", "2048"]


needs_sandbox = pytest.mark.skipif(LEVEL is None, reason="no sandbox (bubblewrap) available")


def _cli(*args, env=None, timeout=600):
    return subprocess.run(
        [PY, "-m", "course_utils.grading", *map(str, args)],
        capture_output=True,
        text=True,
        timeout=timeout,
        env=env,
    )


@pytest.fixture(scope="module")
def toy_root(tmp_path_factory):
    root = toy.write_toy_course(tmp_path_factory.mktemp("toy"))
    release_topics(root, [toy.TOPIC])
    return root


def _exercise(root: Path) -> dict:
    return json.loads((root / "exercises" / f"{toy.TOPIC}.ipynb").read_text())


def _with_answer(nb: dict, q: str, code: str) -> dict:
    nb = copy.deepcopy(nb)
    for c in nb["cells"]:
        course = c.get("metadata", {}).get("course", {})
        if c["cell_type"] == "code" and course == {"question": q, "role": "answer"}:
            c["source"] = code
    return nb


# ----------------------------------------------------------------------------- levels
@needs_sandbox
def test_a_sandboxed_kernel_cannot_see_hidden_paths_that_a_plain_one_can(toy_root, tmp_path):
    hidden = [str(toy_root / "solutions"), str(toy_root / "grading"), str(tmp_path)]
    launcher, _ = select_launcher("auto", hidden)
    report = self_test(launcher, hidden)
    assert report["seen"] == [] and report["uid"] != os.getuid()
    with pytest.raises(SandboxError, match="could read"):
        self_test(PlainLauncher(), hidden)


def test_without_any_sandbox_grading_is_refused_unless_no_sandbox(monkeypatch):
    monkeypatch.setattr(_sandbox.shutil, "which", lambda name: None)  # no bwrap, no setpriv
    monkeypatch.setattr(_sandbox.os, "getuid", lambda: 1000)  # not root: no uid level
    with pytest.raises(SandboxError, match="--no-sandbox") as err:
        select_launcher("auto", [])
    assert "bubblewrap" in str(err.value) and "uid" in str(err.value)
    assert select_launcher("none", [])[0].level == "none"
    with pytest.raises(SandboxError, match="sandbox must be one of"):
        select_launcher("chroot", [])


def test_uid_level_refuses_a_kernel_that_can_read_hidden_files(monkeypatch, tmp_path):
    # what the uid fallback checks before grading: the test kernel may not read them
    (tmp_path / "secret").write_text("x")
    with pytest.raises(SandboxError, match="chmod o-rwx"):
        self_test(PlainLauncher(), [str(tmp_path / "secret")])


def _slot_is_free(slot) -> bool:
    import fcntl

    path = Path(tempfile.gettempdir()) / f"course-grade-uids-{os.getuid()}"
    fd = os.open(path / f"{slot.uid - _sandbox.UID_BASE}.lock", os.O_RDWR)
    try:
        fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        return True
    except BlockingIOError:
        return False
    finally:
        os.close(fd)


@pytest.mark.skipif(os.getuid() != 0, reason="per-kernel uids need root")
def test_finishing_a_uid_slot_kills_its_processes_and_releases_it(monkeypatch, capsys):
    slot = _sandbox._UidSlot()
    proc = subprocess.Popen(["sleep", "600"], user=slot.uid, group=slot.uid, extra_groups=[])
    assert not _slot_is_free(slot)
    assert slot.finish() == []
    assert proc.wait(timeout=10) == -9 and _slot_is_free(slot)
    # a process that cannot be killed is reported as a survivor; the slot is still released
    slot = _sandbox._UidSlot()
    stuck = SandboxError(f"processes of uid {slot.uid} could not be killed")
    monkeypatch.setattr(slot, "kill_all", lambda: (_ for _ in ()).throw(stuck))
    assert slot.finish() == [-1] and _slot_is_free(slot)
    assert "course-grade: processes of uid" in capsys.readouterr().err


@pytest.mark.skipif(os.getuid() != 0, reason="per-kernel uids need root")
def test_a_uid_kernels_files_in_shared_places_are_removed_and_nothing_else(tmp_path):
    """What the uid level leaves behind in /tmp, /dev/shm, ...: the files of the uid,
    in the shared root and in world-writable folders below it, and nothing else."""
    uid, other = _sandbox.UID_BASE + _sandbox.UID_SLOTS - 1, 4242
    shared = tmp_path / "tmp"
    shared.mkdir(mode=0o777)
    shared.chmod(0o1777)
    target = tmp_path / "precious"
    target.write_text("keep")

    def make(path, owner, kind="file"):
        if kind == "dir":
            path.mkdir()
        elif kind == "link":
            path.symlink_to(target)
        else:
            path.write_text("x")
        os.lchown(path, owner, owner)
        return path

    mine = [make(shared / "fifo-like", uid), make(shared / "link", uid, "link")]
    tree = make(shared / "tree", uid, "dir")
    make(tree / "inside", uid)
    pub = make(shared / "public", 0, "dir")
    pub.chmod(0o1777)
    mine += [tree, make(pub / "deep", uid)]
    theirs = [make(shared / "theirs", other), pub]
    private = make(shared / "private", 0, "dir")  # 0755: the uid could not write here
    theirs += [private, make(private / "planted-by-root", uid)]
    assert _sandbox._remove_files_of_uid(uid, roots=(str(shared),)) == []
    assert [p for p in mine if os.path.lexists(p)] == []
    assert [p for p in theirs if not os.path.lexists(p)] == []
    assert target.read_text() == "keep"  # the symlink was removed, not followed
    assert _sandbox.SHARED_WRITABLE[:3] == ("/tmp", "/var/tmp", "/dev/shm")


@needs_sandbox
def test_no_sandbox_is_printed_and_recorded_and_auto_reports_its_level(toy_root, tmp_path):
    sub = tmp_path / "blank.ipynb"
    sub.write_text(json.dumps(_exercise(toy_root)))
    r = _cli(
        "--root", toy_root, "grade", toy.TOPIC, sub, "--out", tmp_path / "a", "--no-sandbox", *FAST
    )
    assert r.returncode == 0, r.stderr
    assert "WARNING: graded WITHOUT a sandbox" in r.stdout
    rows = list(csv.DictReader((tmp_path / "a" / "grades.csv").open()))
    assert rows[0]["isolation"] == "none+template"
    r = _cli("--root", toy_root, "grade", toy.TOPIC, sub, "--out", tmp_path / "b", *FAST)
    assert r.returncode == 0, r.stderr
    assert f"isolation: {TEMPLATE_LEVEL}" in r.stdout and "graded 1/1" in r.stderr
    assert "ETA" in r.stderr
    rows = list(csv.DictReader((tmp_path / "b" / "grades.csv").open()))
    assert rows[0]["isolation"] == TEMPLATE_LEVEL
    r = _cli(
        "--root", toy_root, "grade", toy.TOPIC, sub, "--out", tmp_path / "c", "--kernels",
        "fresh", *FAST,
    )  # fmt: skip
    assert r.returncode == 0, r.stderr
    rows = list(csv.DictReader((tmp_path / "c" / "grades.csv").open()))
    assert rows[0]["isolation"] == LEVEL


# ----------------------------------------------------------------------- writing files
@needs_sandbox
def test_fifos_and_symlinks_planted_in_the_out_dir_neither_block_nor_redirect(toy_root, tmp_path):
    sub = tmp_path / "blank.ipynb"
    sub.write_text(json.dumps(_exercise(toy_root)))
    out = tmp_path / "out"
    (out / "blank").mkdir(parents=True)
    os.mkfifo(out / "grades.csv")
    victim = tmp_path / "victim.txt"
    victim.write_text("untouched")
    (out / "blank" / "results.json").symlink_to(victim)
    os.mkfifo(out / "blank" / "feedback.md")
    r = _cli(
        "--root", toy_root, "grade", toy.TOPIC, sub, "--out", out, "--force", *FAST, timeout=300
    )
    assert r.returncode == 0, r.stderr
    assert victim.read_text() == "untouched"
    for p in (out / "grades.csv", out / "blank" / "results.json", out / "blank" / "feedback.md"):
        assert stat.S_ISREG(p.lstat().st_mode), p
    assert json.loads((out / "blank" / "results.json").read_text())["score"] == 0
    assert not [p for p in out.iterdir() if p.name.startswith(".course-grade-")]


@needs_sandbox
def test_only_regrades_one_submission_and_keeps_the_other_rows(toy_root, tmp_path):
    ex = _exercise(toy_root)
    a, b = tmp_path / "alice.ipynb", tmp_path / "bob.ipynb"
    a.write_text(json.dumps(ex))
    b.write_text(json.dumps(ex))
    out = tmp_path / "out"
    r = _cli("--root", toy_root, "grade", toy.TOPIC, a, b, "--out", out, *FAST)
    assert r.returncode == 0, r.stderr
    first = {row["submission"]: row for row in csv.DictReader((out / "grades.csv").open())}
    assert first["bob"]["total"] == "0"
    b.write_text(json.dumps(_with_answer(ex, "q4", "def shout(s):\n    return s.upper() + '!'")))
    r = _cli("--root", toy_root, "grade", toy.TOPIC, a, b, "--out", out, "--only", "bob", *FAST)
    assert r.returncode == 0, r.stderr
    rows = {row["submission"]: row for row in csv.DictReader((out / "grades.csv").open())}
    assert rows["alice"] == first["alice"]
    assert rows["bob"]["q4"] == "2" and rows["bob"]["total"] == "2"
    assert json.loads((out / "bob" / "results.json").read_text())["score"] == 2
    r = _cli("--root", toy_root, "grade", toy.TOPIC, a, "--out", out, "--only", "carol", *FAST)
    assert r.returncode == 2 and "--only 'carol'" in r.stderr


# ------------------------------------------------------------------------- gradescope
_FAKE_PY = """#!/usr/bin/env bash
# stands in for the image's python3: logs pip calls, runs everything else
if [ "$1" = "-m" ] && [ "$2" = "pip" ]; then echo "pip $*" >> "$FAKE_LOG"; exit 0; fi
if [ -n "${FAKE_OLD:-}" ] && [ "$1" = "-c" ]; then exit 1; fi
if [ -n "${FAKE_OLD:-}" ] && [ "$1" = "-V" ]; then echo "Python 3.10.12"; exit 0; fi
exec "$REAL_PY" "$@"
"""

_DAEMON = """
import multiprocessing.util as mu, os, sys
script = ("import time\\ntime.sleep(4)\\n"
          "open({results!r}, 'w').write('{{\\"score\\": 100}}')\\n")
try:
    mu.spawnv_passfds(sys.executable, [sys.executable, '-c', script], [])
except OSError:
    pass
try:
    leaked = open({spec!r}).read()
except OSError:
    leaked = ''
def mean_var(x):
    if leaked:
        raise RuntimeError(leaked)
    return 0.0, 0.0
"""


@needs_sandbox
def test_gradescope_setup_and_run_autograder_in_a_simulated_autograder(toy_root, tmp_path):
    zpath = tmp_path / "autograder.zip"
    r = _cli("--root", toy_root, "gradescope", toy.TOPIC, "--out", zpath, "--timeout", 30)
    assert r.returncode == 0, r.stderr
    ag = tmp_path / "autograder"
    (ag / "source").mkdir(parents=True)
    with zipfile.ZipFile(zpath) as zf:
        zf.extractall(ag / "source")  # Gradescope unpacks the zip into source/ ...
    shutil.copy(ag / "source" / "run_autograder", ag / "run_autograder")  # ... and copies this
    setup = (ag / "source" / "setup.sh").read_text()
    assert "Ubuntu 24.04" in setup and "bubblewrap" in setup
    fake = tmp_path / "python3"
    fake.write_text(_FAKE_PY)
    fake.chmod(0o755)
    log = tmp_path / "pip.log"
    env = {
        **os.environ,
        "AUTOGRADER_ROOT": str(ag),
        "COURSE_GRADE_PYTHON": str(fake),
        "REAL_PY": PY,
        "FAKE_LOG": str(log),
        "PATH": "/nonexistent-apt:" + os.environ["PATH"],
    }
    env.pop("FAKE_OLD", None)
    old = subprocess.run(
        ["bash", str(ag / "source" / "setup.sh")],
        env={**env, "FAKE_OLD": "1"},
        capture_output=True,
        text=True,
    )
    assert old.returncode == 1 and "needs Python >= 3.11" in old.stderr and "3.10" in old.stderr
    r = subprocess.run(
        ["bash", str(ag / "source" / "setup.sh")], env=env, capture_output=True, text=True
    )
    assert r.returncode == 0, r.stderr
    pip = log.read_text()
    assert "-r requirements.txt" in pip and "download.pytorch.org/whl/cpu" in pip
    assert "--no-deps ." in pip
    for d in ("solutions", "grading"):
        assert stat.S_IMODE((ag / "source" / d).stat().st_mode) & 0o077 == 0, d
    assert stat.S_IMODE((ag / "source" / "course_utils").stat().st_mode) & 0o005 == 0o005
    # a hostile submission: reads the bundle's spec, leaves a daemon to rewrite results.json
    results = ag / "results" / "results.json"
    spec = ag / "source" / "grading" / f"{toy.TOPIC}.py"
    code = _DAEMON.format(results=str(results), spec=str(spec))
    (ag / "submission").mkdir()
    nb = _with_answer(_exercise(toy_root), "q1", code)
    nb = _with_answer(nb, "q4", "def shout(s):\n    return s.upper() + '!'")
    (ag / "submission" / f"{toy.TOPIC}.ipynb").write_text(json.dumps(nb))
    r = subprocess.run(
        ["bash", str(ag / "run_autograder")], env=env, capture_output=True, text=True, timeout=600
    )
    assert r.returncode == 0, r.stderr
    first = results.read_text()
    res = json.loads(first)
    assert res["score"] == 2, first + r.stderr[-3000:]  # q4 only: the spec could not be read
    assert "QUESTIONS" not in first and "mean_var(np.array" not in first
    time.sleep(6)  # the daemon would have rewritten results.json by now
    assert results.read_text() == first
