"""``course-grade grade``: the batch. Run submissions in sandboxed kernels, score them.

Pipeline for one topic (see docs/GRADING.md for the full story); each step is its own
module:

1. :mod:`._topic` loads the hidden spec ``grading/NN_topic.py`` (typed, validated
   :class:`._spec.QuestionSpec` objects) and releases the solution in memory: the
   released exercise is the *source* program (locked cells, answer placeholders).
2. :mod:`._sandbox` picks the isolation level (bubblewrap, a separate uid, or none with
   ``--no-sandbox``) and checks that a kernel sees no hidden path.
3. The solution runs through the same machinery to get the expected probe values;
   they stay in this process's memory, which no kernel can reach.
4. For each submission (in a pool of worker processes): :mod:`._assemble` builds the
   program (locked cells from the source, answer cells from the submission) and
   :mod:`._kernel` runs it, bringing back capped, validated plain data. A crash or
   timeout in question K gives K zero; a new kernel replays the earlier cells.
5. Once every kernel and every process it started are gone, :mod:`._score` compares
   and sanitises, and :mod:`._report` writes ``grades.csv``, ``results.json`` and
   ``feedback.md`` through a fresh staging directory.
"""

from __future__ import annotations

import concurrent.futures
import json
import multiprocessing
import multiprocessing.util
import os
import resource
import stat
import sys
import time
from dataclasses import asdict
from pathlib import Path

from .._validate import check_name, check_path
from . import GradingError
from ._assemble import END, SETUP, assemble
from ._kernel import PREIMPORT, Limits, run_program
from ._release import find_root, topics
from ._report import (
    OutputWriter,
    feedback_md,
    fmt,
    grades_csv,
    read_grades_csv,
    report_names,
    results_json,
)
from ._sandbox import Launcher, SandboxError, make_launcher, select_launcher
from ._score import Sanitizer, score
from ._spec import QuestionSpec, TestSpec, compare
from ._template import TemplateLauncher, template_preimports
from ._topic import Topic, secrets_of

__all__ = [
    "Limits",
    "Topic",
    "grade_submissions",
    "cli_grade",
    "assemble",
    "expected_values",
    "SETUP",
    "END",
]

MAX_SUBMISSION_BYTES = 50 * 2**20
MAX_LOG_CHARS = 1_000_000
_LAUNCHERS: dict[tuple, Launcher] = {}


KERNELS = ("template", "fresh")


# ---------------------------------------------------------------------- pool tasks
def _launcher(level: str, hidden: list[str], preimport: list[str] | None, quiet=True) -> Launcher:
    """This process's launcher for ``level``: forking from a template when
    ``preimport`` is given and the level allows it, else one launch per kernel."""
    key = (level, tuple(hidden), tuple(preimport) if preimport is not None else None)
    if key not in _LAUNCHERS:
        base = make_launcher(level, hidden)
        launcher = base
        if preimport is not None:
            try:
                launcher = TemplateLauncher(base, preimport, hidden, quiet=quiet)
            except SandboxError as exc:
                if not quiet:
                    print(f"course-grade: kernel template not used ({exc})", file=sys.stderr)
        if not _LAUNCHERS:  # pool workers exit through multiprocessing's finalizers
            multiprocessing.util.Finalize(None, _close_launchers, exitpriority=10)
        _LAUNCHERS[key] = launcher
    return _LAUNCHERS[key]


def _close_launchers() -> None:
    """Stop every kernel template of this process (its kernels are all closed)."""
    while _LAUNCHERS:
        _, launcher = _LAUNCHERS.popitem()
        if isinstance(launcher, TemplateLauncher):
            launcher.close()


def _read_submission(path: str) -> dict:
    """The notebook JSON at ``path``: a regular file, size-capped, never a FIFO."""
    fd = os.open(path, os.O_RDONLY | os.O_NONBLOCK | os.O_CLOEXEC)
    with os.fdopen(fd, "rb") as f:
        st = os.fstat(f.fileno())
        if not stat.S_ISREG(st.st_mode):
            raise ValueError("it is not a regular file")
        if st.st_size > MAX_SUBMISSION_BYTES:
            raise ValueError(f"the file is larger than {MAX_SUBMISSION_BYTES // 2**20} MB")
        data = f.read(MAX_SUBMISSION_BYTES + 1)
    nb = json.loads(data.decode("utf-8"))
    if not isinstance(nb, dict) or not isinstance(nb.get("cells"), list):
        raise ValueError("it has no list of cells")
    return nb


def _run_submission(path: str | None, nb: dict | None, topic_data: dict, limits: dict) -> dict:
    """Pool task: read, assemble and run one submission (returns plain data only).

    Never raises for anything a submission does: an unexpected grader error becomes an
    ``invalid`` result, so one bad file cannot stop the batch. A kernel process that
    survives its sandbox (:class:`SandboxError`) is re-raised: then no result is final.
    """
    try:
        return _run_submission_unsafe(path, nb, topic_data, limits)
    except SandboxError:
        raise
    except Exception as exc:  # pragma: no cover - a grader bug, reported in the row
        return {"invalid": f"grader failure ({type(exc).__name__})"}


def _run_submission_unsafe(path, nb, topic_data, limits) -> dict:
    lim = Limits(**limits)
    t0 = time.monotonic()
    if nb is None:
        try:
            nb = _read_submission(path)
        except (OSError, UnicodeDecodeError, ValueError, RecursionError) as exc:
            why = exc.strerror if isinstance(exc, OSError) else str(exc)[:200]
            return {"invalid": f"not a readable notebook ({type(exc).__name__}: {why})"}
    questions = [
        QuestionSpec(q["id"], q["title"], q["points"], tuple(TestSpec(**t) for t in q["tests"]))
        for q in topic_data["questions"]
    ]
    steps, notes = assemble(topic_data["source"], nb["cells"], questions)
    launcher = _launcher(topic_data["isolation"], topic_data["hidden"], topic_data["preimport"])
    result = run_program(steps, lim, topic_data["forbidden"], launcher)
    if result["truncated"]:
        notes.append(
            f"Your notebook printed more than {lim.output_chars} characters; the rest of "
            "the output was discarded (this costs no points)."
        )
    result["notes"] = notes
    if isinstance(launcher, TemplateLauncher):
        result["launcher_events"] = launcher.take_events()
    result["time"] = time.monotonic() - t0
    result["grader_rss_mb"] = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    return result


# ---------------------------------------------------------------------------- the batch
def _topic_data(topic: Topic, isolation: str, hidden: list[str], kernels: str) -> dict:
    """What a pool worker needs: the program and the probes, never expected values."""
    preimport = template_preimports(topic.source, PREIMPORT) if kernels == "template" else None
    return {
        "preimport": preimport,
        "source": topic.source,
        "questions": [
            {
                "id": q.id,
                "title": q.title,
                "points": q.points,
                "tests": [asdict(t) for t in q.tests],
            }
            for q in topic.questions
        ],
        "forbidden": hidden,
        "hidden": hidden,
        "isolation": isolation,
    }


def expected_values(topic: Topic, limits: Limits, launcher: Launcher | None = None) -> dict:
    """Run the solution in a kernel; return ``{qid: [plain values]}``.

    Args:
        topic: the loaded topic.
        limits: resource limits of the kernel.
        launcher: how to start it (default: the bubblewrap/uid/none level that works).

    Raises:
        GradingError: if the solution crashes, a probe fails on it, or it fails one of
            its own ``max``/``min`` tests (the spec and the solution disagree).
    """
    if launcher is None:
        try:
            launcher, _ = select_launcher("auto", [])
        except SandboxError:
            launcher = make_launcher("none", [])  # the solution is trusted
    steps, _ = assemble(topic.source, topic.solution, topic.questions)
    run = run_program(steps, limits, [], launcher)
    problems = [f"{seg}: {why}" for seg, why in run["failed"].items()]
    expected = {}
    for q in topic.questions:
        vals = run["probes"].get(q.id)
        if vals is None:
            continue
        expected[q.id] = []
        for t, v in zip(q.tests, vals, strict=True):
            if not v["ok"]:
                problems.append(f"{q.id} / {t.name}: the solution raised {v['error'].strip()}")
                expected[q.id].append(None)
                continue
            ok, msg = compare(t, v["value"], v["value"])
            if not ok:
                problems.append(f"{q.id} / {t.name}: the solution fails this test ({msg})")
            expected[q.id].append(v["value"])
    bad_cells = [f"cell {c['cell']}: {c['error'].strip()}" for c in run["cells"] if c["error"]]
    if problems or bad_cells:
        raise GradingError(
            f"the solution of {topic.name} does not pass its own hidden tests:\n  "
            + "\n  ".join(problems + bad_cells)
        )
    return expected


class _Progress:
    """``graded 12/200 (1 failed), 3.1 s/submission, ETA 9 min`` on stderr."""

    def __init__(self, total: int, quiet: bool):
        self.total, self.quiet = total, quiet
        self.done = self.failed = 0
        self.t0 = time.monotonic()

    def tick(self, name: str, run: dict) -> None:
        self.done += 1
        for event in run.get("launcher_events", ()):  # the instructor's to know, always
            print(f"course-grade: while grading {name}: {event}", file=sys.stderr, flush=True)
        if "invalid" in run or run.get("failed"):
            self.failed += 1
        if self.quiet:
            return
        spent = time.monotonic() - self.t0
        per = spent / self.done
        eta = per * (self.total - self.done)
        eta_s = f"{eta / 60:.1f} min" if eta >= 90 else f"{eta:.0f} s"
        print(
            f"graded {self.done}/{self.total} ({self.failed} with errors), "
            f"{per:.1f} s/submission, ETA {eta_s}: {name}",
            file=sys.stderr,
            flush=True,
        )


def grade_submissions(
    topic: str,
    submissions: list[str | Path],
    out: str | Path,
    *,
    root: str | Path | None = None,
    workers: int = 1,
    limits: Limits | None = None,
    force: bool = False,
    quiet: bool = True,
    sandbox: str = "auto",
    only: str | None = None,
    kernels: str = "template",
) -> list[dict]:
    """Grade notebooks and write ``grades.csv``, ``<name>/results.json``, ``feedback.md``.

    Args:
        topic: topic stem ``NN_topic`` (needs ``solutions/`` and ``grading/`` files).
        submissions: notebook paths; unreadable files are graded zero, status invalid.
        out: output directory; must be new or empty unless ``force`` or ``only``.
        root: course root (default: found from the current directory).
        workers: submissions graded in parallel (a process pool).
        limits: resource limits (:class:`Limits`).
        force: allow a non-empty ``out``; files the grader writes are replaced.
        quiet: do not print progress.
        sandbox: ``"auto"`` (bubblewrap, else a separate uid when root, else refuse),
            ``"bubblewrap"`` or ``"uid"`` to demand that level, or ``"none"`` to grade
            without isolation (``--no-sandbox``).
        only: regrade the one submission with this name (its stem) into the existing
            ``out``: its folder and its ``grades.csv`` row are replaced, other rows kept.
        kernels: ``"template"`` to fork each kernel from a template process that has
            imported the libraries once (bubblewrap as root, or no sandbox; the other
            cases fall back to one launch per kernel), ``"fresh"`` to launch every
            kernel from scratch. ``isolation`` in the reports says which was used.

    Returns:
        One report dict per submission (``name``, ``total``, ``max_total``, ``status``,
        ``isolation``, ``questions``, ``notes``), in the order given.

    Raises:
        TypeError: ``root`` or ``out`` is not a path, ``topic`` not a str.
        FileNotFoundError: ``root`` is not an existing folder.
        GradingError: bad arguments, unknown topic, bad spec, no sandbox available, a
            solution that fails its own tests, or a kernel process that outlived its
            sandbox. Nothing a submission does raises.
    """
    root, out, topic = _checked_arguments(root, out, topic)
    out = out.resolve()
    limits = limits or Limits()
    if kernels not in KERNELS:
        raise GradingError(f"kernels must be one of {', '.join(KERNELS)}; got {kernels!r}")
    if not isinstance(workers, int) or workers < 1:
        raise GradingError(f"workers must be a positive int, got {workers!r}")
    if not submissions:
        raise GradingError("no submissions given")
    paths, names, old_rows = _select(submissions, out, only, force)
    t = Topic.load(root, topic)
    subs = sorted({str(p.resolve()) for p in paths} | {str(p.resolve().parent) for p in paths})
    hidden = [*t.forbidden, str(out), *subs]
    hidden = [h for h in hidden if not _contains(h, Path(__file__).resolve().parents[1])]
    try:
        base, skipped = select_launcher(sandbox, hidden)
    except SandboxError as exc:
        raise GradingError(str(exc)) from None
    data = _topic_data(t, base.level, hidden, kernels)
    try:
        # this process's launcher: the solution's kernel, and every kernel if workers == 1
        launcher = _launcher(base.level, hidden, data["preimport"], quiet)
        if not quiet:
            for why in skipped:
                print(f"course-grade: sandbox level skipped: {why}", file=sys.stderr)
            print(f"course-grade: isolation: {launcher.describe()}", file=sys.stderr)
        t0 = time.monotonic()
        try:
            expected = expected_values(t, limits, launcher)
        except SandboxError as exc:
            raise GradingError(f"the sandbox failed: {exc}") from None
        if not quiet:
            print(f"solution run: {time.monotonic() - t0:.1f} s", file=sys.stderr)
        runs = _run_all(paths, names, data, asdict(limits), workers, quiet)
    finally:
        _close_launchers()
    # every kernel is closed and every process it started is gone: results are final
    return _write_results(t, names, runs, expected, out, base.level, only, old_rows)


def _checked_arguments(root, out, topic: str) -> tuple[Path, Path, str]:
    """The checks shared by grade and gradescope: ``(root, out, topic)`` with ``root``
    an existing folder, resolved (default: found from the current directory), ``out``
    a path and ``topic`` one of the root's topics.

    Raises:
        TypeError: ``root`` or ``out`` is not a path, ``topic`` not a str.
        FileNotFoundError: ``root`` is not an existing folder.
        GradingError: ``topic`` is not a topic of ``root``.
    """
    root = find_root() if root is None else check_path(root, "root", kind="dir").resolve()
    topic = check_name(topic, topics(root), "topic", error=GradingError)
    return root, check_path(out, "out"), topic


def _select(submissions, out: Path, only: str | None, force: bool):
    """The submission paths, their names, and the earlier rows kept by ``--only``."""
    if os.path.lexists(out) and (out.is_symlink() or not out.is_dir()):
        raise GradingError(f"--out {out} exists and is not a directory")
    paths = [Path(s) for s in submissions]
    names = report_names(paths)
    old_rows: list[list[str]] = []
    if only is not None:
        if only not in names:
            raise GradingError(f"--only {only!r} names none of the submissions: {names}")
        try:
            old_rows = read_grades_csv(out / "grades.csv")
        except ValueError as exc:
            raise GradingError(f"--only needs an earlier run's out dir: {exc}") from None
        keep = names.index(only)
        paths, names = [paths[keep]], [names[keep]]
    elif out.exists() and any(out.iterdir()) and not force:
        raise GradingError(
            f"--out {out} is not empty; choose a new directory or pass --force to replace "
            "the grader's files in it"
        )
    return paths, names, old_rows


def _run_all(paths, names, data: dict, lim: dict, workers: int, quiet: bool) -> list[dict]:
    """Run every submission (in a pool when ``workers > 1``); plain data per submission.

    Raises:
        GradingError: a kernel's process outlived its sandbox (nothing is final then).
    """
    progress = _Progress(len(paths), quiet)
    runs: list[dict] = []
    try:
        if workers == 1:
            for p, name in zip(paths, names, strict=True):
                runs.append(_run_submission(str(p), None, data, lim))
                progress.tick(name, runs[-1])
            return runs
        ctx = multiprocessing.get_context("spawn")
        with concurrent.futures.ProcessPoolExecutor(max_workers=workers, mp_context=ctx) as pool:
            futures = [pool.submit(_run_submission, str(p), None, data, lim) for p in paths]
            for name, f in zip(names, futures, strict=True):
                try:
                    runs.append(f.result())
                except SandboxError:
                    raise
                except Exception as exc:  # a broken pool must not lose the batch
                    runs.append({"invalid": f"grader failure ({type(exc).__name__})"})
                progress.tick(name, runs[-1])
    except SandboxError as exc:
        raise GradingError(
            f"a submission's process outlived its sandbox ({exc}); no result was written"
        ) from None
    return runs


def _write_results(t, names, runs, expected, out: Path, level: str, only, old_rows) -> list[dict]:
    """Score every run and write all files through one staging directory."""
    clean = Sanitizer(secrets_of(t))
    reports = []
    writer = OutputWriter(out)
    try:
        for name, run in zip(names, runs, strict=True):
            report = score(t, run, expected, clean)
            report["name"] = name
            report["isolation"] = run.get("isolation") or level
            report["grader_rss_mb"] = run.get("grader_rss_mb", 0.0)
            reports.append(report)
            writer.write(f"{name}/results.json", json.dumps(results_json(report), indent=1) + "\n")
            writer.write(f"{name}/feedback.md", feedback_md(name, t.name, report))
            writer.write(f"{name}/output.log", clean.block(run.get("log", ""), MAX_LOG_CHARS))
        qids = [q.id for q in t.questions]
        rows: list[dict] = list(reports)
        if only is not None:
            rows = [{"cells": r} for r in old_rows[1:] if r[:1] != [only]]
            rows.append(reports[0])
            rows.sort(key=lambda r: r["cells"][0] if "cells" in r else r["name"])
        writer.write("grades.csv", grades_csv(qids, rows, [m.id for m in t.manual]))
        writer.commit()
    except BaseException:
        writer.discard()
        raise
    return reports


def _contains(path: str, inner: Path) -> bool:
    """True if ``path`` is ``inner`` or one of its parents (never hide the package)."""
    p = Path(path).resolve()
    return p == inner or p in inner.parents


def cli_grade(args) -> int:
    """``course-grade grade``: see :func:`grade_submissions`."""
    limits = Limits(
        timeout=args.timeout, submission_timeout=args.submission_timeout, memory_mb=args.memory
    )
    sandbox = "none" if args.no_sandbox else args.sandbox
    reports = grade_submissions(
        args.topic,
        args.submissions,
        args.out,
        root=args.root,
        workers=args.workers,
        limits=limits,
        force=args.force,
        quiet=args.quiet,
        sandbox=sandbox,
        only=args.only,
        kernels=args.kernels,
    )
    kinds: dict[str, int] = {}
    for r in reports:
        kinds[r["isolation"]] = kinds.get(r["isolation"], 0) + 1
    isolation = "; ".join(f"{k} ({n})" if len(kinds) > 1 else k for k, n in kinds.items())
    if not args.quiet:
        width = max(len(r["name"]) for r in reports)
        for r in reports:
            print(
                f"{r['name']:<{width}}  {fmt(r['total']):>5} / {fmt(r['max_total'])}  {r['status']}"
            )
        print(f"wrote {Path(args.out) / 'grades.csv'} and {len(reports)} report folder(s)")
    warning = (
        "WARNING: graded WITHOUT a sandbox (--no-sandbox): submissions ran as you"
        if any(k.split("+")[0] == "none" for k in kinds)
        else f"isolation: {isolation}"
    )
    print(warning, file=sys.stderr if args.quiet else sys.stdout)
    return 0
