"""Scoring: compare a run's probe values with the expected ones, in the grader process.

Everything a submission sent is treated as hostile data: each test is scored inside
its own ``try`` (a malformed value fails that test only), and every string that came
from the kernel is passed through a :class:`Sanitizer` before it reaches a report.
"""

from __future__ import annotations

import unicodedata
from typing import Any

from ._assemble import END, SETUP
from ._spec import compare
from ._topic import Topic

__all__ = ["Sanitizer", "score", "failure_kind"]

WINDOW = 20  # a run of this many characters of spec text is redacted
MAX_LINE = 300  # a student-controlled line in feedback


class Sanitizer:
    """Makes student-controlled text safe for feedback: no spec text, one line, capped.

    Args:
        secrets: hidden expressions and spec lines (:func:`._topic.secrets_of`). Any
            run of :data:`WINDOW` characters of one of them is replaced by
            ``[hidden]``, so a truncated or partial copy is caught too.
    """

    def __init__(self, secrets: list[str]):
        self._windows: set[str] = set()
        self._short: list[str] = []  # shorter secrets are redacted where they occur whole
        for s in secrets:
            s = " ".join(s.split())
            if len(s) < WINDOW:
                if len(s) >= 6:
                    self._short.append(s)
                continue
            for i in range(len(s) - WINDOW + 1):
                self._windows.add(s[i : i + WINDOW])

    def redact(self, text: str) -> str:
        """``text`` with every window of spec text replaced by ``[hidden]``."""
        for s in self._short:
            if s in text:
                text = text.replace(s, "[hidden]")
        if not self._windows or len(text) < WINDOW:
            return text
        flat = " ".join(text.split()) if any(c in text for c in "\t\r\n  ") else text
        hit = bytearray(len(flat))
        found = False
        for i in range(len(flat) - WINDOW + 1):
            if flat[i : i + WINDOW] in self._windows:
                hit[i : i + WINDOW] = b"\1" * WINDOW
                found = True
        if not found:
            return text
        out, i = [], 0
        while i < len(flat):
            if hit[i]:
                while i < len(flat) and hit[i]:
                    i += 1
                out.append("[hidden]")
            else:
                out.append(flat[i])
                i += 1
        return "".join(out)

    def line(self, text: Any, limit: int = MAX_LINE) -> str:
        """One safe line: redacted, control characters and backticks removed, capped."""
        text = self.redact(str(text) if isinstance(text, str) else repr(type(text)))
        chars = []
        for ch in text:
            cat = unicodedata.category(ch)
            if cat[0] == "C" or cat in ("Zl", "Zp"):
                chars.append(" ")
            elif ch in "`<>|":
                chars.append("'")
            else:
                chars.append(ch)
        text = " ".join("".join(chars).split())
        return text if len(text) <= limit else text[: limit - 3] + "..."

    def block(self, text: str, limit: int) -> str:
        """Multi-line text (a log): redacted, control characters but newlines removed."""
        text = self.redact(text[:limit]) if isinstance(text, str) else ""
        return "".join(
            ch if ch in "\n\t" or unicodedata.category(ch)[0] != "C" else "?" for ch in text
        )


def score(topic: Topic, run: dict, expected: dict, clean: Sanitizer) -> dict:
    """Compare a run's probes with the expected ones (grader side); plain-data report."""
    questions = []
    numbers = topic.numbers
    for qi, q in enumerate(topic.questions):
        failure = run.get("failed", {}).get(q.id)
        failure = clean.line(failure) if failure else None
        values = run.get("probes", {}).get(q.id)
        errors = [
            clean.line(_last_line(c["error"]))
            for c in run.get("cells", [])
            if c["seg"] == q.id and c["error"]
        ][:5]
        tests = []
        for ti, t in enumerate(q.tests):
            if "invalid" in run:
                ok, msg = False, f"not graded: {clean.line(run['invalid'], 200)}"
            elif failure is not None or values is None:
                ok, msg = False, f"not graded: {failure or 'the tests could not run'}"
            elif not values[ti]["ok"]:
                last = _last_line(values[ti]["error"]) or "an error"
                unanswered = any(e.startswith("NotImplementedError") for e in errors)
                if last.startswith("NotImplementedError") or unanswered:
                    ok, msg = (
                        False,
                        "not answered yet (the placeholder still raises NotImplementedError)",
                    )
                else:
                    ok, msg = False, f"your code raised {last}"
            else:
                try:
                    ok, msg = compare(t, values[ti]["value"], expected[q.id][ti])
                except Exception:  # any malformed value fails this one test
                    ok, msg = False, "the value could not be read back from your kernel"
            msg = clean.line(msg)
            tests.append(
                {
                    "name": t.name,
                    "points": t.points if ok else 0.0,
                    "max_points": t.points,
                    "passed": ok,
                    "message": msg,
                    "expects": t.expects,
                }
            )
        questions.append(
            {
                "id": q.id,
                "number": numbers.get(q.id, qi + 1),
                "title": q.title,
                "points": sum(t["points"] for t in tests),
                "max_points": q.points,
                "failure": failure,
                "errors": errors,
                "tests": tests,
            }
        )
    # written questions: graded by hand later (course-grade merge); 0 of N so far
    manual = [
        {"id": m.id, "number": m.number, "title": m.title, "points": 0.0, "max_points": m.points}
        for m in topic.manual
    ]
    total = sum(q["points"] for q in questions)
    max_total = sum(q["max_points"] for q in questions) + sum(m["max_points"] for m in manual)
    general = [
        f"{'Setup' if seg == SETUP else 'Final'} cells: {clean.line(reason)}"
        for seg, reason in run.get("failed", {}).items()
        if seg in (SETUP, END)
    ]
    if "invalid" in run:
        status = f"invalid: {clean.line(run['invalid'], 200)}"
    elif run.get("failed"):
        status = "error: " + ", ".join(
            f"{seg.strip('()')} {failure_kind(reason)}" for seg, reason in run["failed"].items()
        )
    else:
        status = "ok"
    return {
        "questions": questions,
        "manual": manual,
        "total": total,
        "max_total": max_total,
        "status": status,
        "notes": run.get("notes", []) + general,
        "time": run.get("time", 0.0),
    }


def failure_kind(reason: str) -> str:
    if "submission time limit" in reason:
        return "submission-timeout"
    if "time limit" in reason:
        return "timeout"
    if "malformed" in reason or "too large" in reason:
        return "protocol-error"
    if "could not be restored" in reason:
        return "not-restored"
    return "crash"


def _last_line(text: str) -> str:
    lines = [x for x in text.strip().splitlines() if x.strip()]
    return lines[-1] if lines else ""
