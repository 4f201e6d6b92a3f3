"""Release: turn a solved problem set (``solutions/NN_topic.ipynb``) into the exercise.

The transformation is a pure function of the solution's bytes, so re-running it gives
byte-identical output (the test suite relies on this through ``release --check``).
"""

from __future__ import annotations

import copy
import json
import re
from pathlib import Path
from typing import Any

from .._validate import check_names, check_notebook, check_path

__all__ = [
    "ReleaseError",
    "find_root",
    "topics",
    "release_notebook",
    "strip_instructor",
    "dumps_notebook",
    "load_notebook",
    "release_topics",
]

_MARKER = re.compile(
    r"^(?P<indent>[ \t]*)#+[ \t]*(?P<what>BEGIN|END)[ \t]+(?P<kind>SOLUTION|INSTRUCTOR)\b"
)
_TOPIC = re.compile(r"^\d\d_[A-Za-z0-9_]+$")
# Cell metadata kept in a released exercise: the grader needs ``course``; ``tags`` are
# the author's (nbval, slideshow). Everything else (execution timings, collapsed state,
# scroll, widgets...) is volatile and dropped. Release adds JupyterLab's ``editable`` /
# ``deletable`` flags so students do not change locked cells by accident.
_KEPT_CELL_META = ("course", "tags")


class ReleaseError(ValueError):
    """A solution notebook cannot be released (bad markers, missing cell ids, ...)."""


def find_root(start: str | Path | None = None) -> Path:
    """The course root: the first of ``start`` and its parents holding ``solutions/``.

    Args:
        start: where to start looking (default: the current directory); an existing
            folder or file.

    Raises:
        TypeError: ``start`` is not a path.
        FileNotFoundError: ``start`` does not exist.
        ReleaseError: if no such directory exists.
    """
    here = (Path.cwd() if start is None else check_path(start, "start", kind="any")).resolve()
    for d in (here, *here.parents):
        if (d / "solutions").is_dir():
            return d
    pkg_root = Path(__file__).resolve().parents[2]
    if (pkg_root / "solutions").is_dir():
        return pkg_root
    raise ReleaseError(
        f"no course root found: neither {here} nor its parents contain a solutions/ "
        "directory; run from the course checkout or pass --root"
    )


def topics(root: str | Path) -> list[str]:
    """Sorted topic stems ``NN_topic`` that have ``solutions/NN_topic.ipynb``.

    Raises:
        TypeError: ``root`` is not a path.
        FileNotFoundError: ``root`` is not an existing folder.
    """
    root = check_path(root, "root", kind="dir")
    return sorted(p.stem for p in (root / "solutions").glob("*.ipynb") if _TOPIC.match(p.stem))


def load_notebook(path: str | Path) -> dict[str, Any]:
    """Read a notebook file as plain JSON (dict), with a clear error if it is not one."""
    path = Path(path)
    try:
        nb = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise ReleaseError(f"{path}: not a readable notebook ({exc})") from None
    if not isinstance(nb, dict) or not isinstance(nb.get("cells"), list):
        raise ReleaseError(f"{path}: not a notebook (no 'cells' list)")
    return nb


def _source(cell: dict[str, Any]) -> str:
    src = cell.get("source", "")
    return "".join(src) if isinstance(src, list) else str(src)


def _cell_name(cell: dict[str, Any], index: int) -> str:
    return f"cell {index} (id {cell.get('id', '?')!r})"


def _course(cell: dict[str, Any]) -> dict[str, Any]:
    meta = cell.get("metadata", {}).get("course", {})
    return meta if isinstance(meta, dict) else {}


def _rewrite(src: str, where: str, *, kind: str, replace) -> str:
    """Remove every ``BEGIN kind``..``END kind`` region of ``src``, calling
    ``replace(indent)`` for the lines that take its place (markers included)."""
    out: list[str] = []
    open_at: int | None = None
    indent = ""
    lines = src.split("\n")
    for n, line in enumerate(lines, start=1):
        m = _MARKER.match(line)
        if m and m["kind"] == kind:
            if m["what"] == "BEGIN":
                if open_at is not None:
                    raise ReleaseError(
                        f"{where}: line {n} opens a second '### BEGIN {kind}' before the "
                        f"one on line {open_at} was closed"
                    )
                open_at, indent = n, m["indent"]
            else:
                if open_at is None:
                    raise ReleaseError(
                        f"{where}: line {n} has '### END {kind}' without a matching BEGIN"
                    )
                out.extend(replace(indent))
                open_at = None
            continue
        if open_at is None:
            if f"BEGIN {kind}" in line or f"END {kind}" in line:
                raise ReleaseError(
                    f"{where}: line {n} mentions '{kind}' markers but is not a marker line "
                    f"(write '### BEGIN {kind}' / '### END {kind}' on their own line)"
                )
            out.append(line)
    if open_at is not None:
        raise ReleaseError(f"{where}: '### BEGIN {kind}' on line {open_at} is never closed")
    return "\n".join(out)


def strip_instructor(nb: dict[str, Any], *, where: str = "notebook") -> list[dict[str, Any]]:
    """Cells of ``nb`` without instructor-only content (deep copies).

    Drops cells whose ``course.role`` is ``"instructor"`` and the lines between
    ``### BEGIN INSTRUCTOR`` and ``### END INSTRUCTOR`` in the other cells.
    """
    cells = []
    for i, cell in enumerate(nb["cells"]):
        if _course(cell).get("role") == "instructor":
            continue
        cell = copy.deepcopy(cell)
        src = _source(cell)
        if "INSTRUCTOR" in src:
            src = _rewrite(
                src, f"{where}, {_cell_name(cell, i)}", kind="INSTRUCTOR", replace=lambda _: []
            )
        cell["source"] = src
        cells.append(cell)
    return cells


def placeholder(question: str | None, indent: str = "", *, markdown: bool = False) -> str:
    """The line that replaces a solution region (what an unanswered question raises)."""
    what = f"{question}: write your answer here" if question else "write your answer here"
    if markdown:
        return f"{indent}_{what}._"
    return f'{indent}raise NotImplementedError("{what}")'


def release_notebook(nb: dict[str, Any], *, where: str = "notebook") -> dict[str, Any]:
    """The exercise released from a solution notebook (a new dict; ``nb`` is unchanged).

    Solution regions become a ``raise NotImplementedError("qK: write your answer here")``
    line at the region's indentation (markdown regions become an italic prompt);
    instructor cells and regions are removed; outputs, execution counts and volatile
    metadata are cleared; cell ids and ``course`` metadata are kept.

    Args:
        nb: the solution notebook as a JSON dict (nbformat 4.5, with cell ids).
        where: a name for error messages (usually the file path).

    Raises:
        TypeError: ``nb`` is not a notebook (a dict with a ``cells`` list).
        ReleaseError: unbalanced or malformed markers, missing/duplicate cell ids,
            or an instructor marker inside a question's answer.
    """
    check_notebook(nb)
    if nb.get("nbformat") != 4:
        raise ReleaseError(f"{where}: expected an nbformat 4 notebook, got {nb.get('nbformat')!r}")
    cells = []
    seen: set[str] = set()
    for i, cell in enumerate(strip_instructor(nb, where=where)):
        name = f"{where}, {_cell_name(cell, i)}"
        cid = cell.get("id")
        if not isinstance(cid, str) or not cid:
            raise ReleaseError(f"{name}: cell has no id (save the solution as nbformat 4.5)")
        if cid in seen:
            raise ReleaseError(f"{name}: duplicate cell id {cid!r}")
        seen.add(cid)
        course = _course(cell)
        question = course.get("question") if isinstance(course.get("question"), str) else None
        ctype = cell.get("cell_type")
        markdown = ctype != "code"
        src = _rewrite(
            cell["source"],
            name,
            kind="SOLUTION",
            replace=lambda ind, q=question, md=markdown: [placeholder(q, ind, markdown=md)],
        )
        meta = {
            k: copy.deepcopy(v) for k, v in cell.get("metadata", {}).items() if k in _KEPT_CELL_META
        }
        if ctype == "code":
            role = course.get("role")
            if role != "answer":
                # given and check cells are restored at grading time anyway; the flags
                # only save students from editing them by accident in JupyterLab
                meta["editable"] = False
            meta["deletable"] = False
            new = {
                "cell_type": "code",
                "execution_count": None,
                "id": cid,
                "metadata": meta,
                "outputs": [],
                "source": src,
            }
        elif ctype in ("markdown", "raw"):
            new = {"cell_type": ctype, "id": cid, "metadata": meta, "source": src}
        else:
            raise ReleaseError(f"{name}: unknown cell type {ctype!r}")
        cells.append(new)
    meta = nb.get("metadata", {})
    out_meta = {
        "kernelspec": meta.get(
            "kernelspec", {"display_name": "Python 3", "language": "python", "name": "python3"}
        ),
        "language_info": {"name": "python"},
    }
    return {"cells": cells, "metadata": out_meta, "nbformat": 4, "nbformat_minor": 5}


def dumps_notebook(nb: dict[str, Any]) -> str:
    """Serialise like Jupyter does (sorted keys, indent 1, sources as line lists), plus a
    trailing newline, so a released file is stable and diff-friendly."""

    def lines(src: Any) -> list[str]:
        text = "".join(src) if isinstance(src, list) else str(src)
        return text.splitlines(keepends=True)

    nb = copy.deepcopy(nb)
    for cell in nb["cells"]:
        cell["source"] = lines(cell.get("source", ""))
    return json.dumps(nb, sort_keys=True, indent=1, ensure_ascii=False) + "\n"


def signs_of_work(current: str, released: str) -> list[str]:
    """Why the exercise file ``current`` looks like someone's work, not an old release.

    A released exercise has no outputs and its answer cells hold the placeholders of the
    release; a file with outputs, edited answer cells or content that is not a notebook
    was made by a person (a student answering in place, say) and must not be overwritten.
    Returns the reasons (empty: safe to replace).
    """
    try:
        nb = json.loads(current)
        cells = nb["cells"]
        by_id = {c.get("id"): c for c in cells}
    except (ValueError, KeyError, TypeError, AttributeError):
        return ["it is not a notebook this command wrote"]
    reasons = []
    ran = [c.get("id", "?") for c in cells if c.get("outputs") or c.get("execution_count")]
    if ran:
        reasons.append(
            f"cells were run ({', '.join(map(str, ran[:5]))}{', ...' if len(ran) > 5 else ''})"
        )
    stubs = [c for c in json.loads(released)["cells"] if _course(c).get("role") == "answer"]
    edited = [
        c["id"]
        for c in stubs
        if c["id"] in by_id and _source(by_id[c["id"]]).strip() != _source(c).strip()
    ]
    if edited:
        reasons.append(f"answer cells were edited ({', '.join(edited)})")
    return reasons


def _backup_path(dst: Path) -> Path:
    """``exercises/backup/NN_topic.ipynb`` (then ``NN_topic.2.ipynb``, ...): a free name."""
    folder = dst.parent / "backup"
    for i in range(1, 1000):
        cand = folder / (dst.name if i == 1 else f"{dst.stem}.{i}{dst.suffix}")
        if not cand.exists():
            return cand
    raise ReleaseError(f"{folder}: too many backups of {dst.name}; clean them up first")


def release_topics(
    root: str | Path, names: list[str] | None = None, *, check: bool = False, force: bool = False
) -> tuple[list[str], list[str]]:
    """Release (or with ``check``, compare) the exercises of ``names`` (default: all).

    An existing exercise that shows signs of work (outputs, edited answer cells; see
    :func:`signs_of_work`) is not overwritten: the call raises and writes nothing, unless
    ``force``, which first copies it to ``exercises/backup/NN_topic.ipynb``.

    Returns:
        ``(written_or_ok, stale)``: topics written (or up to date with ``check``) and,
        with ``check``, topics whose committed exercise is missing or differs.

    Raises:
        TypeError: ``root`` is not a path, or ``names`` is not a list of str (one
            string is refused rather than read as its letters).
        FileNotFoundError: ``root`` is not an existing folder.
        ReleaseError: unknown topic (the message lists the known ones), a solution
            that cannot be released, or (without ``force``) an exercise holding work.
    """
    root = check_path(root, "root", kind="dir")
    names = _known_names(root, names)
    texts = {}
    for name in names:  # build everything first: an error leaves no half-written set
        src = root / "solutions" / f"{name}.ipynb"
        texts[name] = dumps_notebook(
            release_notebook(load_notebook(src), where=f"solutions/{name}.ipynb")
        )
    currents = {}
    for name in texts:
        dst = root / "exercises" / f"{name}.ipynb"
        currents[name] = dst.read_text(encoding="utf-8") if dst.exists() else None
    if check:
        done = [n for n, text in texts.items() if currents[n] == text]
        return done, [n for n in texts if n not in done]
    if not force:  # refuse before writing anything
        _refuse_to_overwrite_work(texts, currents)
    for name, text in texts.items():
        if currents[name] != text:
            _write_exercise(root, name, text, currents[name])
    return list(texts), []


def _known_names(root: Path, names: list[str] | None) -> list[str]:
    """``names`` checked against the topics of ``root``; all of them for None or []."""
    known = topics(root)
    if names is None:
        return known
    return check_names(names, known, "names", error=ReleaseError) or known


def _refuse_to_overwrite_work(texts: dict, currents: dict) -> None:
    held = []
    for name, text in texts.items():
        if currents[name] is not None and currents[name] != text:
            reasons = signs_of_work(currents[name], text)
            if reasons:
                held.append(f"exercises/{name}.ipynb: {'; '.join(reasons)}")
    if held:
        raise ReleaseError(
            "not overwriting what looks like someone's work:\n  "
            + "\n  ".join(held)
            + "\nmove it away, or release with --force (it is copied to "
            "exercises/backup/ first); nothing was written"
        )


def _write_exercise(root: Path, name: str, text: str, current: str | None) -> None:
    """Write ``exercises/NAME.ipynb`` atomically, backing up a copy that holds work."""
    dst = root / "exercises" / f"{name}.ipynb"
    dst.parent.mkdir(parents=True, exist_ok=True)
    if current is not None and signs_of_work(current, text):
        backup = _backup_path(dst)
        backup.parent.mkdir(exist_ok=True)
        backup.write_text(current, encoding="utf-8")
        print(f"kept the previous exercises/{name}.ipynb as {backup.relative_to(root)}")
    tmp = dst.with_suffix(".ipynb.tmp")
    tmp.write_text(text, encoding="utf-8")
    tmp.replace(dst)
