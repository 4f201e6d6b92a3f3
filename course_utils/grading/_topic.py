"""Topic loading: the solution notebook, its released exercise and the hidden spec.

A :class:`Topic` is instructor data and lives only in the grader process; the parts a
kernel needs (the source program and the probe expressions) are handed out by
:meth:`Topic.program_data`, the expected values never.
"""

from __future__ import annotations

import sys
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from . import GradingError
from ._manual import load_manual
from ._release import ReleaseError, load_notebook, release_notebook, strip_instructor
from ._spec import QuestionSpec, load_spec

__all__ = ["Topic", "course_meta", "cell_source", "normalise", "secrets_of"]


@dataclass
class Topic:
    """Everything the grader needs about one topic (instructor data, grader-side only)."""

    name: str
    root: Path
    source: list[dict]  # released exercise cells (locked + placeholders)
    solution: list[dict]  # solution cells without instructor content
    questions: list[QuestionSpec]
    manual: list[Any] = field(default_factory=list)  # written questions (_manual.ManualQuestion)

    @property
    def numbers(self) -> dict[str, int]:
        """Question id -> its number in the notebook (automatic and written alike)."""
        order: list[str] = []
        for c in self.source:
            q = course_meta(c).get("question")
            if isinstance(q, str) and q not in order:
                order.append(q)
        return {q: i + 1 for i, q in enumerate(order)}

    @classmethod
    def load(cls, root: str | Path, name: str) -> Topic:
        """Load ``solutions/NAME.ipynb`` and ``grading/NAME.py`` under ``root``.

        Raises:
            GradingError: unknown topic, missing spec, malformed spec, or a spec whose
                question ids do not match the solution's ``course`` metadata.
        """
        root = Path(root)
        sol_path = root / "solutions" / f"{name}.ipynb"
        spec_path = root / "grading" / f"{name}.py"
        if not sol_path.exists():
            known = sorted(p.stem for p in (root / "solutions").glob("*.ipynb"))
            raise GradingError(
                f"unknown topic {name!r}: no {sol_path}; known topics: {', '.join(known) or '(none)'}"
            )
        if not spec_path.exists():
            raise GradingError(f"topic {name!r} has no hidden spec {spec_path}")
        try:
            questions = load_spec(spec_path)
            nb = load_notebook(sol_path)
            source = release_notebook(nb, where=str(sol_path))["cells"]
            solution = strip_instructor(nb, where=str(sol_path))
        except (ValueError, ReleaseError) as exc:
            raise GradingError(str(exc)) from None
        in_nb = {course_meta(c).get("question") for c in source} - {None}
        missing = [q.id for q in questions if q.id not in in_nb]
        if missing:
            raise GradingError(
                f"{spec_path}: question(s) {', '.join(missing)} have no cell with that "
                f"course.question in {sol_path}"
            )
        manual = load_manual(root, name)
        ungraded = sorted(in_nb - {q.id for q in questions} - {m.id for m in manual})
        if ungraded:
            print(
                f"course-grade: warning: {sol_path} has cells for {', '.join(ungraded)} "
                f"but {spec_path} has no tests for them (not graded)",
                file=sys.stderr,
            )
        return cls(
            name=name,
            root=root,
            source=source,
            solution=solution,
            questions=questions,
            manual=manual,
        )

    @property
    def forbidden(self) -> list[str]:
        """Paths the student's kernel must not read."""
        return [str(self.root / d) for d in ("solutions", "grading", ".git")]


def course_meta(cell: Any) -> dict:
    meta = cell.get("metadata", {}) if isinstance(cell, dict) else {}
    c = meta.get("course", {}) if isinstance(meta, dict) else {}
    return c if isinstance(c, dict) else {}


def cell_source(cell: dict) -> str | None:
    s = cell.get("source", "")
    if isinstance(s, str):
        return s
    if isinstance(s, list) and all(isinstance(x, str) for x in s):
        return "".join(s)
    return None


def normalise(code: str) -> str:
    return "\n".join(line.rstrip() for line in code.strip().splitlines())


def secrets_of(topic: Topic) -> list[str]:
    """Spec text that must never reach feedback: every hidden expression that is not
    also in the exercise (``slope`` is public), and every line of the spec file of 16+
    characters that is not in the exercise nor a test's public name or description."""
    public = "\n".join(c["source"] for c in topic.source if isinstance(c.get("source"), str))
    out = {t.expr for q in topic.questions for t in q.tests if t.expr not in public}
    try:
        text = (topic.root / "grading" / f"{topic.name}.py").read_text(encoding="utf-8")
    except OSError:
        text = ""
    shown = {t.expects for q in topic.questions for t in q.tests} | {
        t.name for q in topic.questions for t in q.tests
    }
    for line in text.splitlines():
        s = line.strip().strip(",")
        if len(s) >= 16 and s not in public and not any(s.strip("\"'") in x for x in shown):
            out.add(s)
    return sorted(out, key=len, reverse=True)
