"""A student's term: fresh clone, the lab command's workspace step, answers in my_work/,
``git pull`` of a newer course commit, the lab command again: the answers are intact,
and the course's own checks (pytest collection, ruff, release --check) do not see them."""

from __future__ import annotations

import importlib.util
import json
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from course_utils.grading import release_topics

ROOT = Path(__file__).resolve().parents[1]
_spec = importlib.util.spec_from_file_location("course_cli", ROOT / "course.py")
course = importlib.util.module_from_spec(_spec)
_spec.loader.exec_module(course)

pytestmark = pytest.mark.skipif(shutil.which("git") is None, reason="needs git")
TOPIC = "01_mle"


def git(cwd: Path, *args: str) -> str:
    done = subprocess.run(
        ["git", "-c", "user.name=t", "-c", "user.email=t@example.org", *args],
        cwd=cwd,
        capture_output=True,
        text=True,
    )
    assert done.returncode == 0, f"git {' '.join(args)}: {done.stdout}{done.stderr}"
    return done.stdout


def answer(nb_path: Path) -> None:
    """Answer the first question the way a student does: edit the answer cell, run it."""
    nb = json.loads(nb_path.read_text())
    cell = next(c for c in nb["cells"] if c["metadata"].get("course", {}).get("role") == "answer")
    # a student's style (E711 here, undefined names elsewhere) is no failure of the course
    cell["source"] = "my_answer = 42\nif my_answer == None:\n    pass\n"
    cell["execution_count"] = 1
    cell["outputs"] = [{"name": "stdout", "output_type": "stream", "text": "42\n"}]
    nb_path.write_text(json.dumps(nb, indent=1))


@pytest.fixture
def origin(tmp_path) -> Path:
    """A course repository (the instructor's) with one commit."""
    repo = tmp_path / "origin"
    repo.mkdir()
    for name in ("course.py", "pyproject.toml", ".gitignore", "conftest.py"):
        shutil.copy2(ROOT / name, repo)
    for folder in ("exercises", "solutions"):
        shutil.copytree(ROOT / folder, repo / folder, ignore=shutil.ignore_patterns("backup"))
    (repo / "tests").mkdir()
    shutil.copy2(ROOT / "tests" / "nbval_sanitize.cfg", repo / "tests")
    git(repo, "init", "-q", "-b", "main")
    git(repo, "add", "-A")
    git(repo, "commit", "-qm", "course")
    return repo


def test_answers_survive_git_pull_and_are_ignored_by_the_checks(origin, tmp_path):
    student = tmp_path / "student"
    git(tmp_path, "clone", "-q", str(origin), str(student))

    # 1. the lab command's first step fills the workspace from exercises/
    copied, updated = course.ensure_workspace(student)
    assert sorted(copied) == sorted(p.name for p in (student / "exercises").glob("*.ipynb"))
    assert updated == []
    mine = student / "my_work" / f"{TOPIC}.ipynb"
    answer(mine)
    answered = mine.read_bytes()
    assert git(student, "status", "--porcelain") == "", "my_work/ must be git-ignored"

    # 2. the instructor changes the problem set and releases it again
    sol = origin / "solutions" / f"{TOPIC}.ipynb"
    nb = json.loads(sol.read_text())
    md = next(c for c in nb["cells"] if c["cell_type"] == "markdown")
    md["source"] = "".join(md["source"]) + "\n\n(Updated: a clearer hint.)"
    sol.write_text(json.dumps(nb, indent=1))
    release_topics(origin, [TOPIC])
    git(origin, "commit", "-qam", "clearer hint in 01")

    # 3. the student updates the course: no conflict, the answers are untouched
    git(student, "pull", "-q")
    assert "clearer hint" in (student / "exercises" / f"{TOPIC}.ipynb").read_text()
    copied, updated = course.ensure_workspace(student)  # the lab command again
    assert copied == [] and updated == [f"{TOPIC}.ipynb"]
    assert mine.read_bytes() == answered
    assert git(student, "status", "--porcelain") == ""

    # 4. the test command's parts do not look at my_work/
    release = subprocess.run(
        [
            sys.executable,
            "-m",
            "course_utils.grading",
            "--root",
            str(student),
            "release",
            "--check",
        ],
        capture_output=True,
        text=True,
    )
    assert release.returncode == 0, release.stdout + release.stderr
    ruff = subprocess.run(
        [sys.executable, "-m", "ruff", "check", "."], cwd=student, capture_output=True, text=True
    )
    assert ruff.returncode == 0, ruff.stdout + ruff.stderr
    # the check above can fail: ruff does flag the answer when asked about it directly
    flagged = subprocess.run(
        [sys.executable, "-m", "ruff", "check", "--no-force-exclude", "--isolated", str(mine)],
        capture_output=True,
        text=True,
    )
    assert flagged.returncode == 1 and "my_work" in flagged.stdout, flagged.stdout
    collect = subprocess.run(
        [sys.executable, "-m", "pytest", "--collect-only", "-q", "."],
        cwd=student,
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert collect.returncode == 0, collect.stdout[-3000:] + collect.stderr[-3000:]
    ids = [ln for ln in collect.stdout.splitlines() if "::" in ln]
    assert any(i.startswith("solutions/") for i in ids), collect.stdout[-2000:]
    assert not [i for i in ids if i.startswith("my_work")], "pytest collected the workspace"


def test_workspace_never_overwrites_and_adds_new_exercises(tmp_path):
    (tmp_path / "exercises").mkdir()
    (tmp_path / "exercises" / "01_a.ipynb").write_text("v1")
    assert course.ensure_workspace(tmp_path) == (["01_a.ipynb"], [])
    (tmp_path / "my_work" / "01_a.ipynb").write_text("mine")
    (tmp_path / "exercises" / "01_a.ipynb").write_text("v2")
    (tmp_path / "exercises" / "02_b.ipynb").write_text("new")
    assert course.ensure_workspace(tmp_path) == (["02_b.ipynb"], ["01_a.ipynb"])
    assert (tmp_path / "my_work" / "01_a.ipynb").read_text() == "mine"
    # a student who deleted a copy on purpose gets a fresh one
    (tmp_path / "my_work" / "02_b.ipynb").unlink()
    assert course.ensure_workspace(tmp_path)[0] == ["02_b.ipynb"]
