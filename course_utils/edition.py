"""The student edition: a copy of the course without solutions, hidden tests or
instructor content, ready to publish as its own repository.

Command line (``python3 course.py edition OUT_DIR`` runs it in the course environment)::

    python -m course_utils.edition OUT_DIR [--force] [--root COURSE_ROOT]

What goes in: the lectures (``notebooks/``, instructor cells and ``### BEGIN/END
INSTRUCTOR`` regions removed), the released exercises (``exercises/*.ipynb``, which must
be up to date with ``course-grade release --check``), the ``course_utils`` package,
``course.py``, ``pyproject.toml``, ``environment.yml``, ``.gitignore``, ``LICENSE``,
``conftest.py`` with ``tests/nbval_sanitize.cfg`` (so that ``python3 course.py test`` there
runs the lectures under nbval) and the README without its instructor-only parts (between ``<!-- instructor -->`` and
``<!-- /instructor -->``). Everything else stays out: ``solutions/``, ``grading/``
(hidden tests), the rest of ``tests/``, ``docs/``, ``tools/``, ``benchmarks/``, ``.ci/``, and any
file git does not track (``my_work/``, grades, submissions).
"""

from __future__ import annotations

import argparse
import json
import re
import shutil
import subprocess
import sys
from pathlib import Path

from ._validate import check_argv, check_bool, check_path
from .grading._release import ReleaseError, dumps_notebook, release_topics, strip_instructor
from .outputs import warn_if_inside_repo

__all__ = ["EditionError", "build_edition", "edition_problems", "main"]

MARKER = ".course-edition"
TOP_FILES = (
    "README.md",
    "LICENSE",
    "course.py",
    "pyproject.toml",
    "environment.yml",
    ".gitignore",
    "conftest.py",
)
# the one file of tests/ the lectures' nbval run needs (python3 course.py test there)
EXTRA_FILES = ("tests/nbval_sanitize.cfg",)
FOLDERS = ("course_utils", "notebooks")
_INSTRUCTOR_BLOCK = re.compile(r"<!-- instructor -->.*?<!-- /instructor -->\n?", re.S)
_FORBIDDEN_TEXT = ("BEGIN SOLUTION", "END SOLUTION", "BEGIN INSTRUCTOR", "END INSTRUCTOR")


class EditionError(ValueError):
    """The student edition cannot be written (bad output folder, stale exercises, ...)."""


def _tracked_files(root: Path) -> list[Path]:
    """Files git tracks under ``root`` (all files when ``root`` is no git checkout)."""
    try:
        out = subprocess.run(
            ["git", "-C", str(root), "ls-files", "-z"],
            capture_output=True,
            check=True,
            timeout=60,
        ).stdout.decode()
        files = [root / p for p in out.split("\0") if p]
    except (OSError, subprocess.SubprocessError):
        files = [p for p in root.rglob("*") if p.is_file() and ".git" not in p.parts]
    return [p for p in files if p.is_file()]


def _wanted(rel: Path) -> bool:
    parts = rel.parts
    if len(parts) == 1:
        return parts[0] in TOP_FILES
    if rel.as_posix() in EXTRA_FILES:
        return True
    if parts[0] in FOLDERS:
        return "__pycache__" not in parts
    return parts[0] == "exercises" and len(parts) == 2 and rel.suffix == ".ipynb"


def _has_instructor(nb: dict) -> bool:
    for cell in nb.get("cells", []):
        course = cell.get("metadata", {}).get("course", {})
        src = cell.get("source", "")
        src = "".join(src) if isinstance(src, list) else str(src)
        if (isinstance(course, dict) and course.get("role") == "instructor") or (
            "INSTRUCTOR" in src
        ):
            return True
    return False


def student_readme(text: str) -> str:
    """The README without its ``<!-- instructor -->`` ... ``<!-- /instructor -->`` parts."""
    if text.count("<!-- instructor -->") != text.count("<!-- /instructor -->"):
        raise EditionError("README.md: unbalanced <!-- instructor --> / <!-- /instructor -->")
    return _INSTRUCTOR_BLOCK.sub("", text)


def build_edition(root: str | Path, out: str | Path, *, force: bool = False) -> list[Path]:
    """Write the student edition of the course at ``root`` into the folder ``out``.

    Args:
        root: the course checkout (holding ``solutions/`` and ``exercises/``).
        out: the folder to write; must be new or empty, or (with ``force``) an edition
            written earlier by this function, which is replaced.
        force: replace an earlier edition in ``out``.

    Returns:
        The files written (paths inside ``out``), sorted.

    Raises:
        EditionError: ``out`` is not empty (and not an earlier edition with ``force``),
            lies inside ``root``'s course folders, an exercise is out of date, or the
            written copy still contains instructor material.
    """
    root = check_path(root, "root", kind="dir").resolve()
    out = check_path(out, "out").resolve()
    check_bool(force, "force")
    _check_destination(root, out, force=force)
    _check_exercises_current(root)
    warn_if_inside_repo(out, what="the student edition")
    written = _copy_edition(root, out)
    (out / MARKER).write_text(
        "Student edition written by 'python3 course.py edition'; safe to replace with --force.\n",
        encoding="utf-8",
    )
    problems = edition_problems(out)
    if problems:
        raise EditionError(
            "the edition still holds instructor material:\n  " + "\n  ".join(problems)
        )
    return sorted(written)


def _check_destination(root: Path, out: Path, *, force: bool) -> None:
    """``root`` is a course checkout and ``out`` may be written (emptied first with ``force``
    when it holds an earlier edition)."""
    if not (root / "exercises").is_dir() or not (root / "notebooks").is_dir():
        raise EditionError(f"root: {root} is not a course checkout (no notebooks/, exercises/)")
    course_folders = (*FOLDERS, "exercises", "solutions", "grading")
    if out == root or root in out.parents and out.relative_to(root).parts[0] in course_folders:
        raise EditionError(f"out: {out} is the course itself or one of its folders")
    if out.exists() and any(out.iterdir()):
        if not force:
            raise EditionError(f"out: {out} is not empty (pass --force to replace an edition)")
        if not (out / MARKER).exists():
            raise EditionError(
                f"out: {out} is not empty and holds no earlier student edition "
                f"({MARKER} missing); not deleting it"
            )
        shutil.rmtree(out)


def _check_exercises_current(root: Path) -> None:
    """Every exercise is what its solution releases (``EditionError`` naming the stale ones)."""
    try:
        _, stale = release_topics(root, check=True)
    except ReleaseError as exc:
        raise EditionError(str(exc)) from None
    if stale:
        raise EditionError(
            f"exercises out of date with their solutions: {', '.join(stale)}; "
            "run 'course-grade release' first"
        )


def _copy_edition(root: Path, out: Path) -> list[Path]:
    """Copy the student's files of ``root`` into ``out``; returns the files written."""
    files = [(src, src.relative_to(root)) for src in _tracked_files(root)]
    files = [(src, rel) for src, rel in files if _wanted(rel)]
    # lectures with instructor content: their .ipynb is stripped, their paired text
    # source (jupytext) is left out, since it would bring the instructor cells back
    stripped = {
        rel.with_suffix("")
        for src, rel in files
        if rel.parts[0] == "notebooks"
        and rel.suffix == ".ipynb"
        and _has_instructor(json.loads(src.read_text(encoding="utf-8")))
    }
    written = []
    for src, rel in files:
        if rel.with_suffix("") in stripped and rel.suffix == ".py":
            print(f"note: {rel} left out (its notebook has instructor content)")
            continue
        written.append(
            _write_student_copy(src, rel, out / rel, strip=rel.with_suffix("") in stripped)
        )
    return written


def _write_student_copy(src: Path, rel: Path, dst: Path, *, strip: bool) -> Path:
    """Write ``src`` to ``dst``: the README rewritten for students, a lecture with
    instructor cells stripped (``strip``), any other file copied as is."""
    dst.parent.mkdir(parents=True, exist_ok=True)
    if rel == Path("README.md"):
        dst.write_text(student_readme(src.read_text(encoding="utf-8")), encoding="utf-8")
    elif strip:
        nb = json.loads(src.read_text(encoding="utf-8"))
        nb["cells"] = strip_instructor(nb, where=str(rel))
        dst.write_text(dumps_notebook(nb), encoding="utf-8")
    else:
        shutil.copyfile(src, dst)
    return dst


def edition_problems(out: str | Path) -> list[str]:
    """What in the folder ``out`` should not be in a student edition (empty: none)."""
    out = check_path(out, "out", kind="dir")
    problems = [f"{d}/ is present" for d in ("solutions", "grading") if (out / d).exists()]
    if (out / "tests").exists():
        extra = sorted(
            p.relative_to(out).as_posix()
            for p in (out / "tests").rglob("*")
            if p.is_file() and p.relative_to(out).as_posix() not in EXTRA_FILES
        )
        problems += [f"{name}: no test files belong in the edition" for name in extra]
    for path in sorted(p for p in out.rglob("*") if p.is_file()):
        rel = path.relative_to(out)
        if rel.parts[0] == "course_utils":
            continue  # the package's release code names the markers it removes
        try:
            text = path.read_text(encoding="utf-8")
        except (UnicodeDecodeError, OSError):
            continue
        problems += [f"{rel}: contains '{t}'" for t in _FORBIDDEN_TEXT if t in text]
        if path.suffix == ".ipynb":
            try:
                nb = json.loads(text)
            except ValueError:
                problems.append(f"{rel}: not a notebook")
                continue
            if _has_instructor(nb):
                problems.append(f"{rel}: has instructor cells")
    return problems


def main(argv: list[str] | None = None) -> int:
    """Entry point of ``python -m course_utils.edition``; returns the exit status."""
    p = argparse.ArgumentParser(
        prog="course.py edition",
        description="Write the student edition of the course (no solutions, hidden tests "
        "or instructor cells) into OUT_DIR.",
    )
    p.add_argument("out", type=Path, metavar="OUT_DIR", help="new or empty folder")
    p.add_argument("--force", action="store_true", help="replace an earlier edition there")
    p.add_argument("--root", type=Path, default=Path(__file__).resolve().parents[1])
    args = p.parse_args(check_argv(argv))
    try:
        files = build_edition(args.root, args.out, force=args.force)
    except (EditionError, FileNotFoundError) as exc:
        print(f"course.py edition: error: {exc}", file=sys.stderr)
        return 2
    print(f"wrote the student edition ({len(files)} files) to {args.out.resolve()}")
    print(
        "publish it: cd there, 'git init && git add . && git commit -m \"Student edition\"', "
        "then push to the students' repository"
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
