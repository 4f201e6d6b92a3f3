"""Written questions, graded by a person: ``course-grade review`` and ``course-grade merge``.

A written question is a markdown answer cell (``course.question = "qK"``,
``course.role = "answer"``) whose rubric sits in an instructor-only cell
(``course.role = "instructor"``) after it in the solution. Its points are declared in
the hidden spec ``grading/NN_topic.py`` under ``MANUAL``, not under ``QUESTIONS``, so the
automatic grader never scores it::

    MANUAL = [{"id": "q8", "title": "why the trained flow fails", "points": 3}]

Workflow (docs/GRADING.md, "Written questions"):

1. ``course-grade grade TOPIC SUBMISSIONS... --out graded`` (automatic points).
2. ``course-grade review TOPIC SUBMISSIONS... --out review`` writes one
   ``review/qK.md`` per written question (task, rubric, every student's answer side by
   side) and a score sheet ``review/scores.csv`` with one empty row per student and
   question.
3. A person fills in ``points`` (and ``comment``) in the sheet.
4. ``course-grade merge graded --scores review/scores.csv`` validates the sheet and adds
   the points and comments to ``graded/grades.csv``, every ``feedback.md`` and every
   ``results.json``; the previous files are first copied to ``graded/backup-N/``. Merging
   again (a corrected sheet) replaces the earlier hand-graded points.

This module only reads the solution, the spec and the grader's output files; it never
runs student code.
"""

from __future__ import annotations

import csv
import io
import json
import math
import os
import re
import runpy
import shutil
import tempfile
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from . import GradingError
from ._release import find_root, load_notebook, placeholder
from ._report import MANUAL_BEGIN, MANUAL_END, MANUAL_TAG, report_names
from ._report import fmt as _fmt

__all__ = [
    "ManualQuestion",
    "load_manual",
    "write_reviews",
    "merge_scores",
    "cli_review",
    "cli_merge",
]

SHEET_COLUMNS = ["topic", "submission", "question", "max_points", "points", "comment"]
_BEGIN, _END = MANUAL_BEGIN, MANUAL_END


@dataclass(frozen=True)
class ManualQuestion:
    """A written question of a topic: id, title, points, task text and rubric."""

    id: str
    number: int
    title: str
    points: float
    task: str
    rubric: str


def _course(cell: Any) -> dict:
    meta = cell.get("metadata", {}) if isinstance(cell, dict) else {}
    c = meta.get("course", {}) if isinstance(meta, dict) else {}
    return c if isinstance(c, dict) else {}


def _text(cell: dict) -> str:
    s = cell.get("source", "")
    if isinstance(s, list):
        s = "".join(x for x in s if isinstance(x, str))
    return s if isinstance(s, str) else ""


def _question_numbers(cells: list[dict]) -> dict[str, int]:
    order: list[str] = []
    for c in cells:
        q = _course(c).get("question")
        if isinstance(q, str) and q not in order:
            order.append(q)
    return {q: i + 1 for i, q in enumerate(order)}


def load_manual(root: str | Path, topic: str) -> list[ManualQuestion]:
    """The written questions of ``topic``, with their task text and rubric.

    Args:
        root: course root holding ``solutions/`` and ``grading/``.
        topic: topic stem ``NN_topic``.

    Returns:
        One :class:`ManualQuestion` per entry of the spec's ``MANUAL`` list (may be empty).

    Raises:
        GradingError: unknown topic, malformed ``MANUAL``, a written question without a
            markdown answer cell or without a rubric in an instructor cell.
    """
    root = Path(root)
    sol_path = root / "solutions" / f"{topic}.ipynb"
    spec_path = root / "grading" / f"{topic}.py"
    if not sol_path.exists() or not spec_path.exists():
        raise GradingError(f"unknown topic {topic!r}: need {sol_path} and {spec_path}")
    try:
        raw = runpy.run_path(str(spec_path)).get("MANUAL", [])
    except Exception as exc:
        raise GradingError(
            f"{spec_path}: could not be loaded ({type(exc).__name__}: {exc})"
        ) from None
    if not isinstance(raw, list):
        raise GradingError(f"{spec_path}: MANUAL must be a list of dicts")
    cells = load_notebook(sol_path)["cells"]
    numbers = _question_numbers(cells)
    out: list[ManualQuestion] = []
    for i, q in enumerate(raw):
        where = f"{spec_path}: MANUAL[{i}]"
        qid, title, points = _manual_entry(q, where, {m.id for m in out})
        task, rubric = _task_and_rubric(cells, qid, where, sol_path)
        out.append(
            ManualQuestion(
                id=qid,
                number=numbers.get(qid, 0),
                title=title,
                points=float(points),
                task=task,
                rubric=rubric,
            )
        )
    return out


def _manual_entry(q: Any, where: str, seen: set[str]) -> tuple[str, str, float]:
    """``(id, title, points)`` of one validated ``MANUAL`` entry."""
    if not isinstance(q, dict) or set(q) - {"id", "title", "points"}:
        raise GradingError(f"{where} must be a dict with keys id, title, points")
    qid, title, points = q.get("id"), q.get("title"), q.get("points")
    if not isinstance(qid, str) or not qid or qid in seen:
        raise GradingError(f"{where}: 'id' must be a new question id like 'q8', got {qid!r}")
    if not isinstance(title, str) or not title:
        raise GradingError(f"{where}: 'title' must be a non-empty string")
    if isinstance(points, bool) or not isinstance(points, (int, float)) or not points > 0:
        raise GradingError(f"{where}: 'points' must be a positive number, got {points!r}")
    return qid, title, points


def _task_and_rubric(cells: list[dict], qid: str, where: str, sol_path: Path) -> tuple[str, str]:
    """The task (the markdown before the answer) and the rubric (instructor cells after)."""
    idx = [
        k
        for k, c in enumerate(cells)
        if _course(c).get("question") == qid and _course(c).get("role") == "answer"
    ]
    if not idx or any(cells[k]["cell_type"] != "markdown" for k in idx):
        raise GradingError(
            f"{where}: {sol_path} needs markdown answer cell(s) with course.question {qid!r}"
        )
    task = ""
    for c in reversed(cells[: idx[0]]):
        if c["cell_type"] == "markdown" and not _course(c):
            task = _text(c).strip()
            break
    rubric = []
    for c in cells[idx[-1] + 1 :]:
        cm = _course(c)
        if cm.get("role") == "instructor":
            rubric.append(_text(c).strip())
        elif cm.get("question") not in (None, qid) or re.match(r"#+ ", _text(c)):
            break
    if not rubric:
        raise GradingError(
            f"{where}: {sol_path} needs an instructor cell (course.role 'instructor') "
            f"with the rubric right after the answer cell of {qid}"
        )
    return task, "\n\n".join(rubric)


def _answers(path: Path, qids: list[str], released: list[dict]) -> dict[str, str]:
    """The student's text per written question (matched by cell id, then metadata)."""
    try:
        nb = json.loads(path.read_text(encoding="utf-8"))
        cells = [c for c in nb["cells"] if isinstance(c, dict)]
    except Exception as exc:
        return {q: f"*(the notebook could not be read: {type(exc).__name__})*" for q in qids}
    ids = {
        q: [c["id"] for c in released if _course(c).get("question") == q and "id" in c]
        for q in qids
    }
    out = {}
    for q in qids:
        got = [c for c in cells if c.get("id") in ids[q]]
        if not got:
            got = [
                c
                for c in cells
                if _course(c).get("question") == q and _course(c).get("role") == "answer"
            ]
        text = "\n\n".join(_text(c).strip() for c in got).strip()
        if not text or text == placeholder(q, markdown=True):
            text = "*(not answered)*"
        out[q] = text
    return out


def write_reviews(
    topic: str,
    submissions: list[str | Path],
    out: str | Path,
    *,
    root: str | Path | None = None,
    force: bool = False,
) -> list[Path]:
    """Write one review file per written question and an empty score sheet.

    Args:
        topic: topic stem ``NN_topic``.
        submissions: the submitted notebooks (the same list as given to ``grade``).
        out: directory to write ``qK.md`` files and ``scores.csv`` into (new or empty
            unless ``force``).
        root: course root (default: found from the current directory).
        force: overwrite the files of an earlier review in ``out``.

    Returns:
        The paths written, review files first, the score sheet last.

    Raises:
        GradingError: no submissions, a topic without written questions, a non-empty
            ``out`` without ``force``.
    """
    root = Path(root).resolve() if root else find_root()
    paths = [Path(s) for s in submissions]
    if not paths:
        raise GradingError("no submissions given")
    questions = load_manual(root, topic)
    if not questions:
        raise GradingError(f"topic {topic!r} has no written questions (MANUAL in its spec)")
    out = Path(out)
    if out.exists() and (not out.is_dir() or (any(out.iterdir()) and not force)):
        raise GradingError(f"--out {out} is not an empty directory; pass --force to overwrite")
    out.mkdir(parents=True, exist_ok=True)
    released = json.loads((root / "exercises" / f"{topic}.ipynb").read_text(encoding="utf-8"))
    names = report_names(paths)
    answers = {
        n: _answers(p, [q.id for q in questions], released["cells"])
        for n, p in zip(names, paths, strict=True)
    }
    written = []
    for q in questions:
        lines = [
            f"# {topic} · Question {q.number} ({q.id}): {q.title} — {_fmt(q.points)} points",
            "",
            f"{len(names)} submission(s). Score each one in `scores.csv` "
            f"(column `points`, 0 to {_fmt(q.points)}; `comment` is shown to the student).",
            "",
            "## Task",
            "",
            q.task,
            "",
            "## Rubric (instructor only)",
            "",
            q.rubric,
            "",
            "## Answers",
            "",
        ]
        for n in names:
            lines += [f"### {n}", "", answers[n][q.id], "", "---", ""]
        path = out / f"{q.id}.md"
        path.write_text("\n".join(lines), encoding="utf-8")
        written.append(path)
    buf = io.StringIO()
    w = csv.writer(buf, lineterminator="\n")
    w.writerow(SHEET_COLUMNS)
    for n in names:
        for q in questions:
            w.writerow([topic, n, q.id, _fmt(q.points), "", ""])
    sheet = out / "scores.csv"
    sheet.write_text(buf.getvalue(), encoding="utf-8")
    written.append(sheet)
    return written


def _read_sheet(path: Path) -> list[dict]:
    try:
        text = path.read_text(encoding="utf-8-sig")
    except OSError as exc:
        raise GradingError(f"--scores {path}: cannot be read ({exc.strerror})") from None
    rows = list(csv.DictReader(io.StringIO(text)))
    header = next(csv.reader(io.StringIO(text)), [])
    missing = [c for c in ("submission", "question", "points") if c not in header]
    if missing:
        raise GradingError(
            f"--scores {path}: missing column(s) {', '.join(missing)} "
            f"(expected the header {','.join(SHEET_COLUMNS)})"
        )
    return rows


def _strip_manual_feedback(text: str) -> str:
    if _BEGIN in text:
        head, _, rest = text.partition(_BEGIN)
        _, _, tail = rest.partition(_END)
        text = head.rstrip("\n") + "\n" + tail.lstrip("\n")
    return text


def merge_scores(
    graded: str | Path,
    scores: str | Path,
    *,
    root: str | Path | None = None,
    topic: str | None = None,
) -> list[dict]:
    """Merge a filled-in score sheet into the grader's output directory.

    Every problem in the sheet is reported at once, and nothing is written unless the
    whole sheet is valid. Before writing, ``grades.csv`` and every report folder's
    ``results.json`` and ``feedback.md`` are copied to ``graded/backup-N/``; each new file
    is written to a temporary file and renamed over the old one.

    Args:
        graded: output directory of ``course-grade grade`` (holds ``grades.csv``).
        scores: the score sheet written by :func:`write_reviews`, filled in.
        root: course root (default: found from the current directory).
        topic: topic stem; default: the sheet's ``topic`` column.

    Returns:
        One dict per submission: ``name``, ``total``, ``max_total``, ``manual``
        (question id to points).

    Raises:
        GradingError: unknown students or questions, missing or duplicate rows, points
            that are not numbers or outside ``0..max``, a sheet of another topic.
    """
    root = Path(root).resolve() if root else find_root()
    graded, scores = Path(graded), Path(scores)
    grades_path = graded / "grades.csv"
    if not grades_path.is_file():
        raise GradingError(f"{graded} has no grades.csv (the --out directory of 'grade')")
    rows = _read_sheet(scores)
    topic = _sheet_topic(rows, topic, scores)
    questions = {q.id: q for q in load_manual(root, topic)}
    if not questions:
        raise GradingError(f"topic {topic!r} has no written questions (MANUAL in its spec)")
    table = list(csv.reader(io.StringIO(grades_path.read_text(encoding="utf-8"))))
    header, body = table[0], table[1:]
    got = _validate_sheet(rows, [r[0] for r in body], questions, scores, grades_path, topic)
    new_files: dict[Path, str] = {}
    summary = []
    buf = io.StringIO()
    w = csv.writer(buf, lineterminator="\n")
    i_total, i_max, i_status = (header.index(c) for c in ("total", "max_total", "status"))
    qcols = header[1:i_total]  # the question columns; after status: isolation (kept)
    auto_cols = [c for c in qcols if c not in questions]
    manual_max = sum(q.points for q in questions.values())
    w.writerow(["submission", *auto_cols, *questions, *header[i_total : i_status + 1]]
               + header[i_status + 1 :])  # fmt: skip
    for r in body:
        who = r[0]
        old_manual = sum(float(r[header.index(q)]) for q in questions if q in header)
        old_manual_max = sum(questions[q].points for q in questions if q in header)
        pts = {q: got[(who, q)][0] for q in questions}
        total = float(r[i_total]) - old_manual + sum(pts.values())
        max_total = float(r[i_max]) - old_manual_max + manual_max
        w.writerow(
            [who, *(r[header.index(c)] for c in auto_cols), *(_fmt(p) for p in pts.values())]
            + [_fmt(total), _fmt(max_total), r[i_status], *r[i_status + 1 :]]
        )
        summary.append({"name": who, "total": total, "max_total": max_total, "manual": pts})
        comments = {q: got[(who, q)][1] for q in questions}
        d = graded / who
        if (d / "results.json").is_file():
            res = json.loads((d / "results.json").read_text(encoding="utf-8"))
            res = _merged_results(res, questions, pts, comments, total, max_total)
            new_files[d / "results.json"] = json.dumps(res, indent=1) + "\n"
        if (d / "feedback.md").is_file():
            fb = (d / "feedback.md").read_text(encoding="utf-8")
            new_files[d / "feedback.md"] = _merged_feedback(
                fb, questions, pts, comments, total, max_total
            )
    new_files[grades_path] = buf.getvalue()
    _replace_with_backup(graded, new_files)
    return summary


def _sheet_topic(rows: list[dict], topic: str | None, scores: Path) -> str:
    topics_in = {r.get("topic", "").strip() for r in rows} - {""}
    if topic is None:
        if len(topics_in) != 1:
            raise GradingError(
                f"--scores {scores}: the 'topic' column must name one topic, got "
                f"{sorted(topics_in) or 'none'}"
            )
        return topics_in.pop()
    if topics_in - {topic}:
        raise GradingError(f"--scores {scores} is for {sorted(topics_in)}, not {topic!r}")
    return topic


def _validate_sheet(rows, students, questions, scores: Path, grades_path: Path, topic: str):
    """``{(submission, question): (points, comment)}``; every problem reported at once.

    Raises:
        GradingError: listing every invalid, missing or duplicate row.
    """
    errors: list[str] = []
    got: dict[tuple[str, str], tuple[float, str]] = {}
    bad: set[tuple[str, str]] = set()
    for line, r in enumerate(rows, start=2):
        who, qid = (r.get("submission") or "").strip(), (r.get("question") or "").strip()
        where = f"{scores.name} line {line}"
        if who not in students:
            errors.append(f"{where}: unknown submission {who!r} (not in {grades_path})")
        elif qid not in questions:
            errors.append(
                f"{where}: unknown question {qid!r}; written questions of {topic}: "
                f"{', '.join(questions)}"
            )
        else:
            bad.add((who, qid))
            problems, pts = _row(r, questions[qid], who, where, (who, qid) in got)
            errors += problems
            if pts is not None:
                got[(who, qid)] = (pts, (r.get("comment") or "").strip())
    for who in students:
        for qid in questions:
            if (who, qid) not in got and (who, qid) not in bad:
                errors.append(f"{scores.name}: no score for {who} {qid}")
    if errors:
        raise GradingError(f"--scores {scores} is not valid:\n  " + "\n  ".join(errors))
    return got


def _row(r: dict, q: ManualQuestion, who: str, where: str, repeated: bool):
    """``(problems, points or None)`` of one sheet row for a known student and question."""
    problems = []
    if r.get("max_points") not in (None, "") and r["max_points"].strip() != _fmt(q.points):
        problems.append(
            f"{where}: max_points {r['max_points']!r} differs from {q.id}'s "
            f"{_fmt(q.points)} points in the spec"
        )
    raw = (r.get("points") or "").strip()
    if repeated:
        return [*problems, f"{where}: a second row for {who} {q.id}"], None
    if not raw:
        return [*problems, f"{where}: no points for {who} {q.id} (0 to {_fmt(q.points)})"], None
    try:
        pts = float(raw)
    except ValueError:
        return [
            *problems,
            f"{where}: points for {who} {q.id} must be a number from 0 to "
            f"{_fmt(q.points)}, got {raw!r}",
        ], None
    if not math.isfinite(pts) or not 0 <= pts <= q.points:
        return [
            *problems,
            f"{where}: points for {who} {q.id} must be from 0 to {_fmt(q.points)}, got {raw}",
        ], None
    return problems, pts


def _merged_results(res: dict, questions, pts, comments, total, max_total) -> dict:
    """``results.json`` with one hand-graded test per written question (replacing the
    pending or earlier ones) and the new score."""
    tests = [t for t in res.get("tests", []) if not t.get("name", "").endswith(MANUAL_TAG)]
    for q in questions.values():
        tests.append(
            {
                "name": f"{q.id} {q.title}: written answer {MANUAL_TAG}",
                "number": f"{q.number}.1",
                "score": pts[q.id],
                "max_score": q.points,
                "status": "passed" if pts[q.id] >= q.points else "failed",
                "output": comments[q.id] or "Graded by hand.",
                "visibility": "visible",
            }
        )
    tests.sort(key=lambda t: [int(x) for x in re.findall(r"\d+", t.get("number", "0"))])
    res["tests"] = tests
    res["score"] = total
    lines = [x for x in res.get("output", "").split("\n") if not x.startswith("Total: ")]
    res["output"] = "\n".join(
        [f"Total: {_fmt(total)} / {_fmt(max_total)} (written answers graded by hand)"] + lines
    )
    return res


def _merged_feedback(fb: str, questions, pts, comments, total, max_total) -> str:
    """``feedback.md`` with the new total and the written answers' section."""
    fb = _strip_manual_feedback(fb)
    fb = re.sub(
        r"^\*\*Total: .*\*\*$",
        f"**Total: {_fmt(total)} / {_fmt(max_total)} points** (written answers graded by hand)",
        fb,
        count=1,
        flags=re.M,
    )
    part = [_BEGIN, "## Written answers (graded by hand)", ""]
    for q in questions.values():
        part += [
            f"### Question {q.number} ({q.id}): {q.title}: "
            f"{_fmt(pts[q.id])} / {_fmt(q.points)} points",
            "",
            f"Grader's comment: {comments[q.id]}" if comments[q.id] else "No comment.",
            "",
        ]
    part.append(_END)
    return fb.rstrip("\n") + "\n\n" + "\n".join(part) + "\n"


def _replace_with_backup(graded: Path, new_files: dict[Path, str]) -> None:
    """Copy the current files to ``graded/backup-N/``, then rename the new ones in."""
    n = 1
    while (graded / f"backup-{n}").exists():
        n += 1
    backup = graded / f"backup-{n}"
    for path in new_files:
        dst = backup / path.relative_to(graded)
        dst.parent.mkdir(parents=True, exist_ok=True)
        shutil.copy2(path, dst)
    temps = []
    try:
        for path, text in new_files.items():
            fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.")
            with os.fdopen(fd, "w", encoding="utf-8") as f:
                f.write(text)
            temps.append((tmp, path))
    except BaseException:
        for tmp, _ in temps:
            os.unlink(tmp)
        raise
    for tmp, path in temps:
        os.replace(tmp, path)


def cli_review(args) -> int:
    """``course-grade review``: see :func:`write_reviews`."""
    written = write_reviews(
        args.topic, args.submissions, args.out, root=args.root, force=args.force
    )
    for p in written:
        print(f"wrote {p}")
    return 0


def cli_merge(args) -> int:
    """``course-grade merge``: see :func:`merge_scores`."""
    summary = merge_scores(args.graded, args.scores, root=args.root, topic=args.topic)
    for s in summary:
        print(f"{s['name']}  {_fmt(s['total'])} / {_fmt(s['max_total'])}")
    print(f"merged {len(summary)} submission(s) into {Path(args.graded) / 'grades.csv'}")
    return 0
