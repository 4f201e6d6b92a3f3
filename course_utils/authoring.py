"""Authoring: one text source per notebook, kept in sync with the executed ``.ipynb``.

Every lecture (``notebooks/NN_topic.ipynb``) and solved problem set
(``solutions/NN_topic.ipynb``) is paired by jupytext with a plain-text source in the
py:percent format (``notebooks/NN_topic.py``); ``notebooks/jupytext.toml`` and
``solutions/jupytext.toml`` declare the pairing, so JupyterLab saves both files. The
``.ipynb`` keeps the outputs (nbval compares them, students read them) and the cell ids
(the grader matches a submission's cells by id); the text file is what an author edits
and what a diff shows.

    python3 course.py build 01_mle [02_odes ...]   # sync, execute, re-release
    python3 course.py build --all
    python3 course.py build 01_mle --no-execute    # sync only
    python3 course.py build --check                # do the pairs agree? (what the tests ask)

``build`` syncs each pair (the side edited last is the source; ``--from text`` or
``--from notebook`` decides when both changed), gives new cells stable readable ids,
executes the notebook in place with the course's kernel, writes the text source back in
canonical form and, for a solution, re-releases ``exercises/NN_topic.ipynb``.
"""

from __future__ import annotations

import argparse
import copy
import os
import re
import sys
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import jupytext
import nbformat
from jupytext.combine import combine_inputs_with_outputs
from jupytext.config import load_jupytext_config

from ._validate import check_argv, check_int, check_names, check_notebook, check_path

__all__ = [
    "FOLDERS",
    "TEXT_FORMAT",
    "KERNELSPEC",
    "AuthoringError",
    "Pair",
    "find_pairs",
    "read_text",
    "text_of",
    "inputs_of",
    "pair_problems",
    "sync",
    "execute",
    "build",
    "main",
]

FOLDERS = ("notebooks", "solutions")
TEXT_FORMAT = "py:percent"
TEXT_SUFFIX = ".py"
KERNELSPEC = {"display_name": "Python 3", "language": "python", "name": "python3"}
_TOPIC = re.compile(r"^\d\d_[A-Za-z0-9_]+$")
# Cell metadata that belongs to one execution, not to the source: never compared.
_VOLATILE_CELL_META = ("execution", "ExecuteTime", "collapsed", "scrolled", "trusted")
# Ids of graded cells: ``q3-answer``, ``q3-check``, ``q5-answer-repair``.
_GRADED_ID = re.compile(r"^(?P<q>q\d+[a-z]?)-(?P<role>answer|check)(-[a-z0-9-]+)?$")
_MTIME_SLACK_S = 1.0


class AuthoringError(ValueError):
    """A pair cannot be synced or built (the message says why and what to run)."""


@dataclass(frozen=True)
class Pair:
    """A notebook and its text source (either may be missing)."""

    notebook: Path
    text: Path

    @property
    def name(self) -> str:
        return f"{self.notebook.parent.name}/{self.notebook.stem}"

    @property
    def topic(self) -> str:
        return self.notebook.stem


def _check_pair(pair: Any) -> None:
    if not isinstance(pair, Pair):
        raise TypeError(
            f"pair must be an authoring.Pair (see find_pairs), got {type(pair).__name__}"
        )


def find_root(start: str | Path | None = None) -> Path:
    """The course root: ``start`` (default: the current directory) or a parent of it
    that holds ``notebooks/`` and ``solutions/``."""
    here = Path(start or Path.cwd()).resolve()
    for d in (here, *here.parents):
        if all((d / f).is_dir() for f in FOLDERS):
            return d
    raise AuthoringError(
        f"no course root found: neither {here} nor its parents contain notebooks/ and "
        "solutions/; run from the course checkout"
    )


def find_pairs(root: str | Path) -> list[Pair]:
    """Every lecture and solution, paired or not, sorted (notebooks first)."""
    root = check_path(root, "root", kind="dir")
    pairs = []
    for folder in FOLDERS:
        d = root / folder
        stems = {p.stem for p in d.glob("*.ipynb")} | {p.stem for p in d.glob(f"*{TEXT_SUFFIX}")}
        for stem in sorted(s for s in stems if _TOPIC.match(s)):
            pairs.append(Pair(d / f"{stem}.ipynb", d / f"{stem}{TEXT_SUFFIX}"))
    return pairs


def _config(path: Path):
    config = load_jupytext_config(str(path))
    if config is None:
        raise AuthoringError(
            f"{path}: no jupytext.toml in its folder or above; every folder in "
            f"{', '.join(FOLDERS)} has one declaring formats = 'ipynb,{TEXT_FORMAT}'"
        )
    return config


def read_text(path: str | Path) -> nbformat.NotebookNode:
    """Read a py:percent text source as a notebook (inputs only, ids not yet assigned)."""
    path = check_path(path, "path", kind="file")
    try:
        return jupytext.read(path, fmt=TEXT_FORMAT, config=_config(path))
    except OSError as exc:
        raise AuthoringError(f"{path}: cannot read ({exc})") from None


def text_of(nb: nbformat.NotebookNode, path: str | Path) -> str:
    """The canonical py:percent text of ``nb`` as ``path``'s jupytext config writes it."""
    check_notebook(nb)
    return jupytext.writes(nb, fmt=TEXT_FORMAT, config=_config(check_path(path, "path")))


def _clean_meta(meta: dict[str, Any]) -> dict[str, Any]:
    return {k: v for k, v in meta.items() if k not in _VOLATILE_CELL_META}


def inputs_of(nb: nbformat.NotebookNode) -> list[tuple[str, str, dict[str, Any]]]:
    """What a text source holds of each cell: type, source, non-volatile metadata."""
    check_notebook(nb)
    return [(c.cell_type, c.source, _clean_meta(dict(c.metadata))) for c in nb.cells]


def _first_difference(a, b) -> str:
    for i, (x, y) in enumerate(zip(a, b, strict=False)):
        if x != y:
            what = "type" if x[0] != y[0] else "source" if x[1] != y[1] else "metadata"
            return f"cell {i + 1} differs ({what})"
    return f"the notebook has {len(a)} cells, the text source {len(b)}"


def pair_problems(pair: Pair) -> list[str]:
    """Why ``pair`` is out of sync (empty list: it agrees), each with the fixing command."""
    _check_pair(pair)
    fix = f"run `python3 course.py build {pair.topic}`"
    if not pair.text.exists():
        return [f"{pair.notebook} has no text source {pair.text.name}: {fix}"]
    if not pair.notebook.exists():
        return [f"{pair.text} has no notebook {pair.notebook.name}: {fix}"]
    nb = nbformat.read(pair.notebook, as_version=4)
    a, b = inputs_of(nb), inputs_of(read_text(pair.text))
    if a != b:
        return [
            f"{pair.text} and {pair.notebook.name} disagree: {_first_difference(a, b)}; "
            f"{fix} (the file edited last is the source; add --from text or --from "
            "notebook to choose)"
        ]
    return []


def _slug(text: str) -> str:
    words = re.findall(r"[a-z0-9]+", text.lower())
    return "-".join(words[:4])[:40].strip("-")


def _assign_ids(nb: nbformat.NotebookNode, known: set[str]) -> None:
    """Give every cell whose id is not in ``known`` (a new cell) a readable unique id.

    Graded cells get ``<question>-<role>`` (the grader and release match on it); other
    new cells get a slug of their first words. Ids of existing cells never change.
    """
    taken = {c.id for c in nb.cells if c.get("id") in known}
    seen = set()
    for c in nb.cells:
        if c.get("id") in known and c.id not in seen:
            seen.add(c.id)
            continue
        course = c.metadata.get("course", {})
        if course.get("question") and course.get("role") in ("answer", "check"):
            base = f"{course['question']}-{course['role']}"
        else:
            first = next((ln for ln in c.source.splitlines() if ln.strip()), c.cell_type)
            base = _slug(first) or c.cell_type
        cid, k = base, 2
        while cid in taken:
            cid, k = f"{base}-{k}", k + 1
        c.id = cid
        taken.add(cid)
        seen.add(cid)


def _from_text(pair: Pair, previous: nbformat.NotebookNode | None) -> nbformat.NotebookNode:
    src = read_text(pair.text)
    if previous is None:
        nb = nbformat.v4.new_notebook(cells=src.cells, metadata={"kernelspec": dict(KERNELSPEC)})
        known: set[str] = set()
    else:
        nb = combine_inputs_with_outputs(src, copy.deepcopy(previous), fmt=TEXT_FORMAT)
        known = {c.id for c in previous.cells}
    nb.metadata.pop("jupytext", None)  # the pairing lives in jupytext.toml, not here
    nb.metadata.setdefault("kernelspec", dict(KERNELSPEC))
    nb.nbformat, nb.nbformat_minor = 4, 5
    _assign_ids(nb, known)
    return nb


def _newer(a: Path, b: Path) -> bool:
    return a.stat().st_mtime > b.stat().st_mtime + _MTIME_SLACK_S


def sync(pair: Pair, *, source: str | None = None) -> tuple[nbformat.NotebookNode, str]:
    """Bring the two sides of ``pair`` into agreement; return the notebook and direction.

    Args:
        pair: the notebook and its text source.
        source: ``"text"`` or ``"notebook"`` to say which side wins when they differ;
            default: the side modified last (an error when that cannot be told).

    Returns:
        ``(notebook, what)`` where ``what`` says what was done. The text file is
        rewritten in canonical form; the notebook is returned, not written.
    """
    _check_pair(pair)
    if source not in (None, "text", "notebook"):
        raise AuthoringError(f"source must be 'text' or 'notebook', got {source!r}")
    has_nb, has_text = pair.notebook.exists(), pair.text.exists()
    if not has_nb and not has_text:
        raise AuthoringError(f"neither {pair.notebook} nor {pair.text} exists")
    previous = nbformat.read(pair.notebook, as_version=4) if has_nb else None
    if not has_text:
        what = "text source created from the notebook"
        nb = previous
    elif previous is None:
        what = "notebook created from the text source"
        nb = _from_text(pair, None)
    elif not pair_problems(pair):
        what = "already in sync"
        nb = previous
    else:
        if source is None:
            if _newer(pair.text, pair.notebook):
                source = "text"
            elif _newer(pair.notebook, pair.text):
                source = "notebook"
            else:
                raise AuthoringError(
                    f"{pair.text} and {pair.notebook.name} differ and neither was edited "
                    f"last; say which one holds the edit: python3 course.py build "
                    f"{pair.topic} --from text (or --from notebook); the other side is "
                    "overwritten (git diff shows both)"
                )
        if source == "text":
            what = "notebook updated from the text source"
            nb = _from_text(pair, previous)
        else:
            what = "text source updated from the notebook"
            nb = previous
    pair.text.write_text(text_of(nb, pair.text), encoding="utf-8")
    return nb, what


def execute(nb: nbformat.NotebookNode, cwd: Path, timeout: int = 600) -> float:
    """Run every cell of ``nb`` in place with the ``python3`` kernel (the current
    environment's), in ``cwd``; return the wall time in seconds."""
    check_notebook(nb)
    cwd = check_path(cwd, "cwd", kind="dir")
    check_int(timeout, "timeout")
    from nbclient import NotebookClient
    from nbclient.exceptions import CellExecutionError, CellTimeoutError, DeadKernelError

    # One torch thread, as under the test suite (two notebooks side by side on two cores):
    # the stored outputs then match what nbval sees, and run times are the suite's.
    os.environ.setdefault("COURSE_THREADS", "1")
    t0 = time.perf_counter()
    client = NotebookClient(
        nb,
        timeout=timeout,
        kernel_name=nb.metadata.get("kernelspec", KERNELSPEC).get("name", "python3"),
        resources={"metadata": {"path": str(cwd)}},
        record_timing=False,
    )
    try:
        client.execute()
    except CellExecutionError as exc:
        raise AuthoringError(f"a cell failed while executing the notebook:\n{exc}") from None
    except CellTimeoutError:
        raise AuthoringError(
            f"a cell ran longer than {timeout} s (every notebook must run in about a "
            "minute; is the machine busy?); the notebook was not written"
        ) from None
    except DeadKernelError as exc:
        raise AuthoringError(f"the kernel died while executing the notebook ({exc})") from None
    return time.perf_counter() - t0


def _strip_volatile(nb: nbformat.NotebookNode) -> None:
    for c in nb.cells:
        for k in _VOLATILE_CELL_META:
            c.metadata.pop(k, None)


ONLY = {"lecture": "notebooks", "solution": "solutions"}


def build(
    root: Path,
    topics: list[str],
    *,
    run: bool = True,
    source: str | None = None,
    only: str | None = None,
) -> list[str]:
    """Sync, execute and (for solutions) re-release each topic; return report lines.

    ``only``: ``"lecture"`` or ``"solution"`` builds just that notebook of each topic
    (None: both); a topic without it is an error.
    """
    pairs = find_pairs(root)
    check_names(topics, {p.topic for p in pairs}, "topics", error=AuthoringError)
    if source not in (None, "text", "notebook"):
        raise AuthoringError(f"source must be 'text' or 'notebook', got {source!r}")
    if only is not None and only not in ONLY:
        raise AuthoringError(f"only must be 'lecture' or 'solution', got {only!r}")
    chosen = [
        p
        for p in pairs
        if p.topic in topics and (only is None or p.notebook.parent.name == ONLY[only])
    ]
    if missing := sorted(set(topics) - {p.topic for p in chosen}):
        raise AuthoringError(f"no {only} to build for {', '.join(missing)}")
    lines, released = [], []
    for pair in chosen:
        t0 = time.perf_counter()
        nb, what = sync(pair, source=source)
        nbformat.validate(nb)
        if run:
            secs = execute(nb, pair.notebook.parent)
            _strip_volatile(nb)  # earlier runs' timestamps are stale now
            what += f", executed in {secs:.1f} s"
        if run or what.startswith("notebook"):
            nbformat.write(nb, str(pair.notebook))
        if pair.notebook.parent.name == "solutions":
            released.append(pair.topic)
        lines.append(f"{pair.name}: {what} ({time.perf_counter() - t0:.1f} s)")
    if released:
        from .grading import ReleaseError, release_topics

        try:
            done, _ = release_topics(root, released)
        except ReleaseError as exc:  # e.g. an exercise holding someone's answers
            raise AuthoringError(f"the notebooks were built, the exercise was not: {exc}") from None
        lines += [f"exercises/{t}.ipynb: released" for t in done]
    return lines


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python3 course.py build",
        description="Sync each notebook with its text source, execute it, re-release exercises.",
    )
    parser.add_argument("topics", nargs="*", help="topics such as 01_mle (see --all)")
    parser.add_argument("--all", action="store_true", help="every lecture and solution")
    parser.add_argument("--check", action="store_true", help="only report pairs that disagree")
    parser.add_argument("--no-execute", action="store_true", help="sync without executing")
    parser.add_argument(
        "--from", dest="source", choices=("text", "notebook"), help="which side wins"
    )
    parser.add_argument(
        "--only", choices=tuple(ONLY), help="build only the lecture or only the solution"
    )
    parser.add_argument("--root", help="course root (default: found from the current dir)")
    argv = list(sys.argv[1:] if argv is None else check_argv(argv))
    args = parser.parse_args(argv[1:] if argv[:1] == ["build"] else argv)
    try:
        root = find_root(args.root)
        if args.check:
            problems = [p for pair in find_pairs(root) for p in pair_problems(pair)]
            for p in problems:
                print(p, file=sys.stderr)
            print(f"{len(problems)} pair(s) out of sync")
            return 1 if problems else 0
        topics = sorted({p.topic for p in find_pairs(root)}) if args.all else args.topics
        if not topics:
            parser.error("name at least one topic (e.g. 01_mle) or pass --all")
        t0 = time.perf_counter()
        for line in build(
            root, topics, run=not args.no_execute, source=args.source, only=args.only
        ):
            print(line, flush=True)
        print(f"built {len(topics)} topic(s) in {time.perf_counter() - t0:.1f} s")
        return 0
    except AuthoringError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
