"""``course-grade``: release exercises, grade submissions, build a Gradescope bundle.

Command line (also ``python -m course_utils.grading``)::

    course-grade release [TOPIC ...] [--check]
    course-grade grade TOPIC SUBMISSION.ipynb [...] --out DIR [--workers N] [--timeout S]
        [--sandbox auto|bubblewrap|uid | --no-sandbox] [--only NAME] [--kernels template|fresh]
    course-grade gradescope TOPIC --out autograder.zip
    course-grade review TOPIC SUBMISSION.ipynb [...] --out DIR [--force]
    course-grade merge GRADED_DIR --scores scores.csv [--topic TOPIC]

See ``docs/GRADING.md`` for the instructor's guide, the file formats and the threat
model. The Python API mirrors the commands: :func:`release_topics`,
:func:`grade_submissions` and :func:`build_gradescope_bundle`.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from .._validate import check_argv, check_path
from ._release import ReleaseError, find_root, release_notebook, release_topics, topics

__all__ = [
    "main",
    "ReleaseError",
    "GradingError",
    "find_root",
    "topics",
    "release_notebook",
    "release_topics",
    "grade_submissions",
    "build_gradescope_bundle",
]


class GradingError(ValueError):
    """Grading cannot start: bad spec, solution failing its own tests, bad arguments."""


def grade_submissions(*args, **kwargs):
    """Grade notebooks against a topic; see :func:`course_utils.grading._grader.grade_submissions`."""
    from ._grader import grade_submissions as _impl

    return _impl(*args, **kwargs)


def build_gradescope_bundle(*args, **kwargs):
    """Build a Gradescope autograder zip; see :mod:`course_utils.grading._gradescope`."""
    from ._gradescope import build_gradescope_bundle as _impl

    return _impl(*args, **kwargs)


def _positive_float(text: str) -> float:
    try:
        value = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected a number of seconds, got {text!r}") from None
    if not value > 0:
        raise argparse.ArgumentTypeError(f"expected a positive number of seconds, got {text!r}")
    return value


def _positive_int(text: str) -> int:
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected a positive integer, got {text!r}") from None
    if value < 1:
        raise argparse.ArgumentTypeError(f"expected a positive integer, got {text!r}")
    return value


def _parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(
        prog="course-grade",
        description="Release exercises from solutions, grade submissions, build a "
        "Gradescope autograder (docs/GRADING.md).",
    )
    p.add_argument(
        "--root",
        type=Path,
        default=None,
        help="course root holding solutions/, exercises/, grading/ "
        "(default: the current directory or its nearest parent with solutions/)",
    )
    sub = p.add_subparsers(dest="command", required=True, metavar="COMMAND")

    r = sub.add_parser("release", help="write exercises/NN_topic.ipynb from solutions/")
    r.add_argument("topics", nargs="*", metavar="TOPIC", help="topic stems (default: all)")
    r.add_argument(
        "--check",
        action="store_true",
        help="write nothing; exit 1 naming every exercise that is missing or out of date",
    )
    r.add_argument(
        "--force",
        action="store_true",
        help="replace exercises that hold work (outputs, edited answers) after copying each "
        "to exercises/backup/",
    )

    g = sub.add_parser("grade", help="grade submitted notebooks against a topic")
    g.add_argument("topic", metavar="TOPIC")
    g.add_argument("submissions", nargs="+", type=Path, metavar="SUBMISSION.ipynb")
    g.add_argument("--out", type=Path, required=True, help="output directory (new or empty)")
    g.add_argument("--force", action="store_true", help="allow a non-empty --out directory")
    g.add_argument("--workers", type=_positive_int, default=1, help="parallel submissions")
    g.add_argument(
        "--timeout",
        type=_positive_float,
        default=60.0,
        help="seconds per question (its cells and its tests), default 60",
    )
    g.add_argument(
        "--submission-timeout",
        type=_positive_float,
        default=600.0,
        help="seconds per submission in total, default 600",
    )
    g.add_argument(
        "--memory",
        type=_positive_int,
        default=4096,
        help="memory cap per submission process in MiB (RLIMIT_AS), default 4096",
    )
    g.add_argument("--quiet", action="store_true", help="print only errors")
    g.add_argument(
        "--sandbox",
        choices=("auto", "bubblewrap", "uid"),
        default="auto",
        help="isolation of each submission's kernel: auto (bubblewrap, else a separate "
        "uid when root, else refuse), or demand one level (docs/GRADING.md)",
    )
    g.add_argument(
        "--no-sandbox",
        action="store_true",
        help="grade WITHOUT isolation (trusted notebooks only); printed in the summary and "
        "recorded in grades.csv",
    )
    g.add_argument(
        "--kernels",
        choices=("template", "fresh"),
        default="template",
        help="template (default): fork each submission's kernel from a process that imported "
        "the libraries once (bubblewrap as root, or --no-sandbox; otherwise fresh); fresh: "
        "launch every kernel from scratch. grades.csv's isolation column says which ran",
    )
    g.add_argument(
        "--only",
        metavar="NAME",
        default=None,
        help="regrade the one submission named NAME (its file stem) into an existing --out "
        "dir: its folder and grades.csv row are replaced, the other rows kept",
    )

    z = sub.add_parser("gradescope", help="build a Gradescope autograder zip for a topic")
    z.add_argument("topic", metavar="TOPIC")
    z.add_argument("--out", type=Path, default=Path("autograder.zip"), help="zip file to write")
    z.add_argument("--force", action="store_true", help="overwrite an existing --out file")
    z.add_argument("--timeout", type=_positive_float, default=60.0, help="seconds per question")

    v = sub.add_parser("review", help="collect written answers for grading by hand")
    v.add_argument("topic", metavar="TOPIC")
    v.add_argument("submissions", nargs="+", type=Path, metavar="SUBMISSION.ipynb")
    v.add_argument("--out", type=Path, required=True, help="directory for qK.md and scores.csv")
    v.add_argument("--force", action="store_true", help="overwrite an earlier review in --out")

    m = sub.add_parser("merge", help="merge a filled-in score sheet into grade's output")
    m.add_argument("graded", type=Path, metavar="GRADED_DIR", help="the --out folder of grade")
    m.add_argument("--scores", type=Path, required=True, help="the filled-in scores.csv")
    m.add_argument("--topic", default=None, help="topic (default: the sheet's topic column)")

    a = sub.add_parser("autograde", help=argparse.SUPPRESS)  # what run_autograder calls
    a.add_argument("topic")
    a.add_argument("--submission-dir", type=Path, required=True)
    a.add_argument("--results", type=Path, required=True)
    a.add_argument("--timeout", type=_positive_float, default=60.0)
    return p


def _cmd_release(args) -> int:
    root = args.root.resolve() if args.root else find_root()
    done, stale = release_topics(root, args.topics or None, check=args.check, force=args.force)
    if args.check:
        for name in stale:
            print(
                f"stale: exercises/{name}.ipynb differs from what "
                f"'course-grade release {name}' writes (missing or out of date)",
                file=sys.stderr,
            )
        if not args.topics:
            known = set(topics(root))
            for path in sorted((root / "exercises").glob("*.ipynb")):
                if path.stem not in known:
                    stale.append(path.stem)
                    print(
                        f"stale: exercises/{path.name} has no solutions/{path.name}",
                        file=sys.stderr,
                    )
        if stale:
            print(f"release --check failed for: {', '.join(stale)}", file=sys.stderr)
            return 1
        print(f"release --check: {len(done)} exercise(s) up to date")
        return 0
    for name in done:
        print(f"wrote exercises/{name}.ipynb")
    return 0


def _check_root(args) -> None:
    """A ``--root`` that is no folder stops the command with a one-line error (autograde
    reports it in its results.json instead).

    Raises:
        GradingError: ``--root`` is given and is not an existing folder.
    """
    if args.root is None or args.command == "autograde":
        return
    try:
        check_path(args.root, "--root", kind="dir")
    except FileNotFoundError as exc:
        raise GradingError(str(exc)) from None


def main(argv: list[str] | None = None) -> int:
    """Entry point of ``course-grade``; returns the process exit status.

    Raises:
        TypeError: ``argv`` is not None or a list of str.
    """
    args = _parser().parse_args(check_argv(argv))
    try:
        _check_root(args)
        if args.command == "release":
            return _cmd_release(args)
        if args.command == "grade":
            from ._grader import cli_grade

            return cli_grade(args)
        if args.command == "gradescope":
            from ._gradescope import cli_gradescope

            return cli_gradescope(args)
        if args.command in ("review", "merge"):
            from ._manual import cli_merge, cli_review

            return (cli_review if args.command == "review" else cli_merge)(args)
        if args.command == "autograde":
            from ._gradescope import cli_autograde

            return cli_autograde(args)
    except (ReleaseError, GradingError) as exc:
        print(f"course-grade: error: {exc}", file=sys.stderr)
        return 2
    raise AssertionError(args.command)  # argparse rejects unknown commands
