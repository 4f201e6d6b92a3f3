"""Notebook assembly: the program a submission's kernel runs (cells and probes).

:func:`assemble` is pure: it takes the released exercise (locked cells and answer
placeholders), the submitted cells and the questions, and returns the steps to run
plus notes for the feedback. It never runs anything.
"""

from __future__ import annotations

from typing import Any

from ._spec import QuestionSpec
from ._topic import cell_source, course_meta, normalise

__all__ = ["assemble", "SETUP", "END"]

SETUP, END = "(setup)", "(end)"
MAX_EXTRA_CELLS = 200  # extra code cells of a student that are run (the rest are not)  # segments of cells before the first / after the last question


def assemble(
    source: list[dict], submitted: list[Any], questions: list[QuestionSpec]
) -> tuple[list[dict], list[str]]:
    """Build the program to run: a list of steps, and notes for the feedback.

    Steps are ``{"op": "exec", "cell", "code", "seg"}`` or ``{"op": "probe", "q",
    "exprs", "seg"}``; ``seg`` is the question a step's time is charged to. Locked cells
    come from ``source``; answer cells (``course.role == "answer"``) from ``submitted``
    (matched by id, else by ``course`` metadata in order); a missing answer keeps the
    placeholder. Extra code cells of the student run after the known cell that precedes
    them in the submission. Probes of question K follow K's last cell.
    """
    notes: list[str] = []
    src_by_id = {c["id"]: c for c in source}
    valid = [c for c in submitted if isinstance(c, dict) and isinstance(c.get("cell_type"), str)]
    by_id: dict[str, dict] = {}
    for c in valid:
        cid = c.get("id")
        if isinstance(cid, str) and cid in src_by_id and cid not in by_id:
            by_id[cid] = c
    fallback = _by_metadata(source, valid, by_id, src_by_id, notes)
    extras = _extras(valid, src_by_id, fallback, notes)
    order = [c.get("id") for c in valid if c.get("id") in src_by_id]
    if order != [c["id"] for c in source if c["id"] in by_id]:
        notes.append("Your cells were reordered; they were run in the exercise's order.")
    probes_after = _probes_after(source, questions)
    segs = _segments(source, [q.id for q in questions])
    steps: list[dict] = []
    for _, code in extras.get(None, []):
        steps.append({"op": "exec", "cell": "extra", "code": code, "seg": SETUP})
    for i, s in enumerate(source):
        if s["cell_type"] == "code":
            code = _cell_code(s, by_id.get(s["id"]) or fallback.get(s["id"]), notes)
            steps.append({"op": "exec", "cell": s["id"], "code": code, "seg": segs[i]})
        for cid, code in extras.get(s["id"], []):
            steps.append({"op": "exec", "cell": cid, "code": code, "seg": segs[i]})
        for q in probes_after.get(s["id"], []):
            exprs = [t.expr for t in q.tests]
            steps.append({"op": "probe", "q": q.id, "exprs": exprs, "seg": q.id})
    return steps, notes


def _probes_after(source: list[dict], questions: list[QuestionSpec]) -> dict[str, list]:
    """Cell id -> the questions whose probes run right after it (their last cell)."""
    last_of = {}
    for s in source:
        q = course_meta(s).get("question")
        if q:
            last_of[q] = s["id"]
    out: dict[str, list[QuestionSpec]] = {}
    for q in questions:
        out.setdefault(last_of[q.id], []).append(q)
    return out


def _by_metadata(source, valid, by_id, src_by_id, notes) -> dict[str, dict]:
    """Answers whose id changed (e.g. re-created by copy-paste), matched by metadata."""
    fallback: dict[str, dict] = {}
    for s in source:
        meta = course_meta(s)
        if s["cell_type"] != "code" or meta.get("role") != "answer" or s["id"] in by_id:
            continue
        for c in valid:
            cm = course_meta(c)
            if (
                c.get("cell_type") == "code"
                and c.get("id") not in src_by_id
                and cm.get("question") == meta.get("question")
                and cm.get("role") == "answer"
                and not any(c is f for f in fallback.values())
            ):
                fallback[s["id"]] = c
                notes.append(
                    f"Your answer cell for {meta.get('question')} has a different cell id "
                    f"than the exercise; it was matched by its metadata."
                )
                break
    return fallback


def _extras(valid, src_by_id, fallback, notes) -> dict[str | None, list[tuple[str, str]]]:
    """The student's extra code cells, anchored after the last known cell before them."""
    extras: dict[str | None, list[tuple[str, str]]] = {}
    anchor: str | None = None
    n_extra = 0
    for c in valid:
        cid = c.get("id")
        if isinstance(cid, str) and cid in src_by_id:
            anchor = cid
            continue
        if c.get("cell_type") != "code" or any(c is f for f in fallback.values()):
            continue
        code = cell_source(c)
        if code is None or not code.strip():
            continue
        n_extra += 1
        if n_extra <= MAX_EXTRA_CELLS:
            extras.setdefault(anchor, []).append((_safe_id(cid, n_extra), code))
    if n_extra > MAX_EXTRA_CELLS:
        notes.append(
            f"Your notebook has {n_extra} extra code cells; only the first "
            f"{MAX_EXTRA_CELLS} were run."
        )
    if n_extra:
        notes.append(
            f"{n_extra} code cell(s) of yours are not in the exercise; each was run right "
            "after the exercise cell that precedes it in your notebook."
        )
    return extras


def _segments(source: list[dict], qids: list[str]) -> list[str]:
    """The question each source cell's time is charged to (SETUP before the first
    question, END after the last, else the next question)."""
    qs = [course_meta(s).get("question") for s in source]
    out = []
    for i, q in enumerate(qs):
        if q in qids:
            out.append(q)
        elif not any(x in qids for x in qs[:i]):
            out.append(SETUP)
        else:
            out.append(next((x for x in qs[i + 1 :] if x in qids), END))
    return out


def _cell_code(s: dict, sub: dict | None, notes: list[str]) -> str:
    """The code run for source cell ``s``: the student's answer, or the locked original
    (with a note when the student's copy is missing or edited)."""
    meta = course_meta(s)
    code = s["source"]
    if meta.get("role") == "answer":
        got = cell_source(sub) if sub is not None and sub.get("cell_type") == "code" else None
        if got is None:
            notes.append(
                f"The answer cell `{s['id']}` ({meta.get('question', '?')}) is missing "
                "from your notebook (deleted, or turned into another cell type); the "
                "unanswered placeholder was run instead."
            )
            return code
        return got
    if sub is None:
        notes.append(f"The locked cell `{s['id']}` was missing; the original was restored.")
        return code
    got = cell_source(sub)
    if got is None or sub.get("cell_type") != "code" or normalise(got) != normalise(code):
        notes.append(
            f"The locked cell `{s['id']}` was edited; your changes were ignored "
            "and the original cell was run."
        )
    return code


def _safe_id(cid: Any, n: int) -> str:
    """A student's cell id as shown in feedback: at most 40 of ``[A-Za-z0-9_-]``."""
    text = cid if isinstance(cid, str) else ""
    text = "".join(ch for ch in text[:40] if ch.isascii() and (ch.isalnum() or ch in "-_"))
    return text or f"extra-{n}"
