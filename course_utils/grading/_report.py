"""Reports: ``feedback.md``, ``results.json`` (Gradescope format), ``grades.csv``, and
writing them so that nothing in the out dir can block or redirect the grader.

:class:`OutputWriter` writes every file into a fresh private staging directory
(``mkdtemp``) with ``O_CREAT | O_EXCL | O_NOFOLLOW`` and moves finished entries into
place with ``rename`` (atomic, never follows a symlink, never opens a FIFO); an entry
already in the way is renamed aside first and deleted with ``rmtree`` (which does not
follow symlinks).
"""

from __future__ import annotations

import contextlib
import csv
import io
import os
import shutil
import stat
import tempfile
from pathlib import Path

__all__ = ["feedback_md", "results_json", "grades_csv", "read_grades_csv", "OutputWriter"]

MAX_CSV_BYTES = 16 * 2**20
# written questions (graded by hand): how grade marks them and merge later replaces them
MANUAL_TAG = "(graded by hand)"
MANUAL_BEGIN = "<!-- written questions: begin -->"
MANUAL_END = "<!-- written questions: end -->"


def fmt(x: float) -> str:
    """A score as people write it: 3, 2.5, 0.25."""
    return f"{x:g}"


def _pending_md(manual: list[dict]) -> list[str]:
    """The feedback block of written questions before ``course-grade merge``."""
    out = [MANUAL_BEGIN, "## Written answers (graded by hand)", ""]
    for m in manual:
        out += [
            f"### Question {m['number']} ({m['id']}): {m['title']}: "
            f"0 / {fmt(m['max_points'])} points so far",
            "",
            "Graded by hand: your points and the grader's comment will appear here.",
            "",
        ]
    return [*out, MANUAL_END, ""]


def pending_test(m: dict) -> dict:
    """The Gradescope test of a written question before it is graded by hand."""
    return {
        "name": f"{m['id']} {m['title']}: written answer {MANUAL_TAG}",
        "number": f"{m['number']}.1",
        "score": 0.0,
        "max_score": m["max_points"],
        "output": f"Pending: graded by hand, 0 of {fmt(m['max_points'])} points so far.",
        "visibility": "visible",
    }


def feedback_md(name: str, topic: str, report: dict) -> str:
    out = [
        f"# Feedback for `{name}` ({topic})",
        "",
        f"**Total: {fmt(report['total'])} / {fmt(report['max_total'])} points**",
        "",
    ]
    if report["status"].startswith("invalid"):
        out += [f"Your file could not be graded: {report['status'][9:]}.", ""]
    for q in report["questions"]:
        out += [
            f"## Question {q['number']} ({q['id']}): {q['title']}: "
            f"{fmt(q['points'])} / {fmt(q['max_points'])} points",
            "",
        ]
        if q["failure"] and not report["status"].startswith("invalid"):
            out += [f"**Not graded:** {q['failure']}.", ""]
        for t in q["tests"]:
            mark = "passed" if t["passed"] else "failed"
            line = f"- {t['name']} ({fmt(t['points'])}/{fmt(t['max_points'])}, {mark})"
            if not t["passed"]:
                line += f": {t['message']}."
                if t["expects"]:
                    line += f" Expected: {t['expects']}."
            out.append(line)
        if q["errors"]:
            out += ["", "Errors while running this question's cells:"]
            out += [f"    {e[:300]}" for e in q["errors"][:5]]
        out.append("")
    if report["notes"]:
        out += ["## Notes", ""] + [f"- {n}" for n in report["notes"]] + [""]
    if report.get("manual"):
        out += _pending_md(report["manual"])
    return "\n".join(out)


def results_json(report: dict) -> dict:
    tests = []
    for q in report["questions"]:
        for t in q["tests"]:
            msg = t["message"] if t["passed"] else f"{t['message']}. Expected: {t['expects']}"
            tests.append(
                {
                    "name": f"{q['id']} {q['title']}: {t['name']}",
                    "number": f"{q['number']}.{len([x for x in tests if x['number'].startswith(str(q['number']) + '.')]) + 1}",
                    "score": t["points"],
                    "max_score": t["max_points"],
                    "status": "passed" if t["passed"] else "failed",
                    "output": msg,
                    "visibility": "visible",
                }
            )
    tests += [pending_test(m) for m in report.get("manual", [])]
    tests.sort(key=lambda t: [int(x) for x in t["number"].split(".")])
    summary = [f"Total: {fmt(report['total'])} / {fmt(report['max_total'])}"]
    if report.get("manual"):
        summary[0] += " (written answers not graded yet)"
    summary += [
        f"{q['id']}: not graded: {q['failure']}" for q in report["questions"] if q["failure"]
    ]
    summary += report["notes"]
    return {
        "score": report["total"],
        "execution_time": round(report["time"], 3),
        "output": "\n".join(summary),
        "visibility": "visible",
        "stdout_visibility": "hidden",
        "tests": tests,
    }


def grades_csv(qids: list[str], rows: list[dict], manual_ids: list[str] = ()) -> str:
    """``grades.csv``: one row per submission; the last column is its isolation level
    (``bubblewrap+template`` for a kernel forked from a template)."""
    buf = io.StringIO()
    w = csv.writer(buf, lineterminator="\n")
    w.writerow(["submission", *qids, *manual_ids, "total", "max_total", "status", "isolation"])
    for r in rows:
        if "cells" in r:  # a stored row from an earlier run (--only)
            w.writerow(r["cells"])
            continue
        w.writerow(
            [r["name"], *(fmt(q["points"]) for q in r["questions"] + r.get("manual", []))]
            + [fmt(r["total"]), fmt(r["max_total"]), r["status"], r["isolation"]]
        )
    return buf.getvalue()


def read_grades_csv(path: Path) -> list[list[str]]:
    """Rows of an existing ``grades.csv`` (regular file only, size-capped, no symlink).

    Raises:
        ValueError: the file is missing, not a regular file, too large or malformed.
    """
    try:
        fd = os.open(path, os.O_RDONLY | os.O_NOFOLLOW | os.O_NONBLOCK | os.O_CLOEXEC)
    except OSError as exc:
        raise ValueError(f"{path} cannot be read ({exc.strerror})") from None
    with os.fdopen(fd, "rb") as f:
        st = os.fstat(f.fileno())
        if not stat.S_ISREG(st.st_mode) or st.st_size > MAX_CSV_BYTES:
            raise ValueError(f"{path} is not a regular file of at most 16 MB")
        text = f.read(MAX_CSV_BYTES).decode("utf-8")
    rows = list(csv.reader(io.StringIO(text)))
    if not rows or rows[0][:1] != ["submission"]:
        raise ValueError(f"{path} is not a grades.csv written by course-grade")
    return rows


class OutputWriter:
    """Stage files in a fresh directory, then move them into ``out`` atomically.

    Args:
        out: the output directory; created by :meth:`commit` when it does not exist
            (then by a single rename of the staging directory).
    """

    def __init__(self, out: Path):
        self.out = out
        self.fresh = not os.path.lexists(out)
        parent = out.parent if self.fresh else out
        parent.mkdir(parents=True, exist_ok=True)
        self.stage = Path(tempfile.mkdtemp(prefix=".course-grade-", dir=parent))
        self._names: list[str] = []

    def write(self, rel: str, text: str) -> None:
        """Create ``stage/rel`` (``rel`` is ``name`` or ``dir/name``) exclusively."""
        parts = rel.split("/")
        if not all(p and p not in (".", "..") for p in parts) or len(parts) > 2:
            raise ValueError(f"bad output name {rel!r}")
        d = self.stage
        if len(parts) == 2:
            d = self.stage / parts[0]
            if not d.is_dir():
                os.mkdir(d, 0o755)
        if parts[0] not in self._names:
            self._names.append(parts[0])
        fd = os.open(
            d / parts[-1],
            os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_NOFOLLOW | os.O_CLOEXEC,
            0o644,
        )
        with os.fdopen(fd, "w", encoding="utf-8") as f:
            f.write(text)

    def commit(self) -> None:
        """Move every staged entry into ``out``; replaces entries of the same name."""
        if self.fresh:
            os.chmod(self.stage, 0o755)
            os.rename(self.stage, self.out)  # fails if something appeared at out meanwhile
            return
        aside = self.stage / ".replaced"
        os.mkdir(aside, 0o700)
        try:
            for name in self._names:
                target = self.out / name
                if os.path.lexists(target):
                    os.rename(target, aside / name)
                os.rename(self.stage / name, target)
        finally:
            shutil.rmtree(self.stage, ignore_errors=True)

    def discard(self) -> None:
        """Remove the staging directory (after a failure)."""
        with contextlib.suppress(OSError):
            shutil.rmtree(self.stage, ignore_errors=True)


def report_names(paths: list[Path]) -> list[str]:
    """The folder name of each submission's report: its stem made safe, unique in the batch."""
    seen: dict[str, int] = {}
    out = []
    for p in paths:
        stem = p.stem if p.name.endswith(".ipynb") else p.name
        stem = "".join(ch if ch.isalnum() or ch in "-_." else "_" for ch in stem) or "submission"
        stem = stem.lstrip(".") or "submission"
        if stem in ("grades.csv",):
            stem = f"{stem}_"
        seen[stem] = seen.get(stem, 0) + 1
        out.append(stem if seen[stem] == 1 else f"{stem}-{seen[stem]}")
    return out
