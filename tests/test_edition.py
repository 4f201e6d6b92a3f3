"""course_utils.edition: the student edition holds no solution, hidden test or
instructor cell, and its README's lab command works in it; course_utils.outputs warns
about instructor outputs written inside a repository."""

from __future__ import annotations

import io
import json
import shutil
import signal
import subprocess
import sys
from pathlib import Path

import pytest

from course_utils.edition import EditionError, build_edition, edition_problems, student_readme
from course_utils.outputs import warn_if_inside_repo

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(Path(__file__).parent))
from test_lab_lifecycle import Lab  # noqa: E402 - the real lab start of that test


def _hidden_test_snippets() -> list[str]:
    """Distinctive lines of the hidden tests (grading/*.py): none may reach students."""
    lines = []
    for path in sorted((ROOT / "grading").glob("*.py")):
        lines += [ln.strip() for ln in path.read_text().splitlines() if len(ln.strip()) > 40]
    return lines


@pytest.fixture(scope="module")
def edition(tmp_path_factory) -> Path:
    out = tmp_path_factory.mktemp("edition") / "flows-course"
    build_edition(ROOT, out)
    return out


def test_edition_has_lectures_exercises_package_and_readme(edition):
    for lecture in (ROOT / "notebooks").glob("*.ipynb"):
        assert (edition / "notebooks" / lecture.name).exists(), lecture.name
    for ex in (ROOT / "exercises").glob("*.ipynb"):
        assert (edition / "exercises" / ex.name).read_bytes() == ex.read_bytes()
    for f in ("README.md", "LICENSE", "course.py", "pyproject.toml", "course_utils/__init__.py"):
        assert (edition / f).is_file(), f


def test_edition_has_no_solutions_hidden_tests_or_instructor_cells(edition):
    files = [p for p in edition.rglob("*") if p.is_file()]
    assert not [p for p in files if p.relative_to(edition).parts[0] in ("solutions", "grading")]
    assert [p.name for p in (edition / "tests").iterdir()] == ["nbval_sanitize.cfg"]
    assert not (edition / "docs").exists()
    hidden = _hidden_test_snippets()
    assert hidden, "no hidden tests found to look for"
    solutions = {
        c["id"]: "".join(c["source"])
        for p in (ROOT / "solutions").glob("*.ipynb")
        for c in json.loads(p.read_text())["cells"]
        if "BEGIN SOLUTION" in "".join(c["source"])
    }
    assert solutions, "no solution cells found to look for"
    for path in files:
        try:
            text = path.read_text(encoding="utf-8")
        except UnicodeDecodeError:
            continue
        rel = path.relative_to(edition)
        assert not [h for h in hidden if h in text], f"{rel} holds hidden-test lines"
        if rel.parts[0] != "course_utils":
            assert "BEGIN SOLUTION" not in text and "BEGIN INSTRUCTOR" not in text, rel
        if path.suffix == ".ipynb":
            for cell in json.loads(text)["cells"]:
                role = cell.get("metadata", {}).get("course", {}).get("role")
                assert role != "instructor", f"{rel}: instructor cell {cell.get('id')}"
                assert "".join(cell["source"]) != solutions.get(cell.get("id")), rel
    readme = (edition / "README.md").read_text()
    assert "course-grade" not in readme and "solutions/" not in readme
    assert "python3 course.py lab" in readme
    assert edition_problems(edition) == []


def test_instructor_content_of_a_lecture_is_removed(tmp_path):
    course = tmp_path / "course"
    for d in ("notebooks", "exercises", "solutions"):
        (course / d).mkdir(parents=True)
    (course / "README.md").write_text(
        "Open: python3 course.py lab\n<!-- instructor -->\nsecret\n<!-- /instructor -->\nend\n"
    )
    nb = {
        "cells": [
            {"cell_type": "markdown", "id": "a", "metadata": {}, "source": "lecture"},
            {
                "cell_type": "markdown",
                "id": "b",
                "metadata": {"course": {"role": "instructor"}},
                "source": "teaching note",
            },
            {
                "cell_type": "code",
                "id": "c",
                "metadata": {},
                "outputs": [],
                "execution_count": None,
                "source": "x = 1\n### BEGIN INSTRUCTOR\nprint('key')\n### END INSTRUCTOR\n",
            },
        ],
        "metadata": {},
        "nbformat": 4,
        "nbformat_minor": 5,
    }
    (course / "notebooks" / "01_x.ipynb").write_text(json.dumps(nb))
    (course / "notebooks" / "01_x.py").write_text("# teaching note\n")
    build_edition(course, tmp_path / "out")
    got = json.loads((tmp_path / "out" / "notebooks" / "01_x.ipynb").read_text())
    assert [c["id"] for c in got["cells"]] == ["a", "c"]
    assert "".join(got["cells"][1]["source"]).strip() == "x = 1"
    assert not (tmp_path / "out" / "notebooks" / "01_x.py").exists()
    assert (tmp_path / "out" / "README.md").read_text() == "Open: python3 course.py lab\nend\n"


def test_edition_refuses_a_non_empty_folder_and_stale_exercises(tmp_path, edition):
    busy = tmp_path / "busy"
    busy.mkdir()
    (busy / "thesis.tex").write_text("mine")
    with pytest.raises(EditionError, match="is not empty"):
        build_edition(ROOT, busy)
    with pytest.raises(EditionError, match="holds no earlier student edition"):
        build_edition(ROOT, busy, force=True)
    assert (busy / "thesis.tex").read_text() == "mine"
    with pytest.raises(EditionError, match="is the course itself or one of its folders"):
        build_edition(ROOT, ROOT / "notebooks" / "x")
    copy = tmp_path / "course"
    for d in ("notebooks", "exercises", "solutions"):
        shutil.copytree(ROOT / d, copy / d, ignore=shutil.ignore_patterns("backup"))
    (copy / "exercises" / "01_mle.ipynb").write_text(
        (copy / "exercises" / "01_mle.ipynb").read_text().replace("write your answer", "WRITE")
    )
    with pytest.raises(EditionError, match="exercises out of date with their solutions: 01_mle"):
        build_edition(copy, tmp_path / "out")


def test_the_editions_lab_command_works(edition, tmp_path):
    """The README's lab command, run inside the edition (environment of this test)."""
    lab = Lab(edition, tmp_path)
    try:
        _, _, listing = lab.get("/api/contents")
        names = {c["name"] for c in json.loads(listing)["content"]}
        assert {"notebooks", "exercises", "my_work"} <= names and "solutions" not in names, names
        _, _, nb = lab.get("/api/contents/notebooks/00_start_here.ipynb")
        assert json.loads(nb)["content"]["cells"]
    except BaseException:
        lab.kill()
        raise
    rc, out = lab.stop(signal.SIGTERM)
    assert rc == 0, out[-2000:]


def test_edition_command_line(tmp_path):
    done = subprocess.run(
        [sys.executable, "-m", "course_utils.edition", str(tmp_path / "ed"), "--root", str(ROOT)],
        capture_output=True,
        text=True,
    )
    assert done.returncode == 0, done.stderr
    assert "wrote the student edition" in done.stdout and "git init" in done.stdout
    again = subprocess.run(
        [sys.executable, "-m", "course_utils.edition", str(tmp_path / "ed"), "--root", str(ROOT)],
        capture_output=True,
        text=True,
    )
    assert again.returncode == 2 and "is not empty (pass --force" in again.stderr


def test_output_inside_a_repository_is_warned_about(tmp_path):
    repo = tmp_path / "repo"
    repo.mkdir()
    subprocess.run(["git", "init", "-q", str(repo)], check=True)
    (repo / ".gitignore").write_text("/ignored.zip\n")
    err = io.StringIO()
    assert warn_if_inside_repo(repo / "autograder.zip", what="the autograder zip", stream=err)
    assert "the autograder zip is written inside the git repository" in err.getvalue()
    assert "'git add .' would commit it" in err.getvalue()
    err = io.StringIO()
    assert warn_if_inside_repo(repo / "ignored.zip", what="the zip", stream=err)
    assert "git ignores it" in err.getvalue()
    outside = tmp_path / "elsewhere"
    outside.mkdir()
    err = io.StringIO()
    assert not warn_if_inside_repo(outside / "autograder.zip", what="the zip", stream=err)
    assert err.getvalue() == ""
    with pytest.raises(ValueError, match="what must be a non-empty string"):
        warn_if_inside_repo(outside, what="")


def test_repository_ignores_instructor_outputs():
    def ignored(path: str) -> bool:
        return subprocess.run(["git", "-C", str(ROOT), "check-ignore", "-q", path]).returncode == 0

    for path in (
        "autograder.zip",
        "autograder_01.zip",
        "submissions/alice.ipynb",
        "grades/01_mle/grades.csv",
        "my_work/01_mle.ipynb",
        "student-edition/README.md",
    ):
        assert ignored(path), path
    assert not ignored("exercises/01_mle.ipynb")


def test_student_readme_refuses_unbalanced_markers():
    with pytest.raises(EditionError, match="unbalanced"):
        student_readme("<!-- instructor -->\nno end\n")


def test_edition_readme_links_resolve_in_the_edition(edition):
    from test_packaging import relative_links

    text = (edition / "README.md").read_text()
    assert "course.py site" not in text, "the edition has no docs/site: it must not offer the site"
    links = relative_links(text)
    assert links, "the student README links to its notebooks"
    missing = [t for t in links if not (edition / t).exists()]
    assert not missing, f"the student README links to files the edition lacks: {missing}"
