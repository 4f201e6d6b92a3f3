"""The course website and the lectures' slide boundaries.

Two commands, both run from the course root::

    python3 course.py site [--solutions]     # = python -m course_utils.site build
    python -m course_utils.site slides       # (re)apply the slide rule to every lecture

**Website.** Sphinx with myst-nb renders the *executed, committed* notebooks (nothing is
re-executed) with the book theme. The build lays out a staging folder ``build/site-src/``:
a front page made from the README (course map, how to use the course), every lecture,
every exercise (each with a download link to its ``.ipynb``), an errata page collected
from the lectures' **Pitfall** boxes, the docs pages, and the solutions only when
``--solutions`` is given. The result, ``build/site/``, is a folder of static files that
loads nothing from the network (MathJax and the fonts are bundled); open
``build/site/index.html`` or serve it with ``python -m http.server -d build/site``.

**Slides.** :func:`slide_types` is the one rule that sets the RISE slide boundaries of a
lecture: the title cell and every ``## `` section heading start a slide, every other
markdown cell (an equation, a Pitfall box, a sub-heading) starts a sub-slide below it, and
a code cell stays on the slide of the text before it, so a section's equation and its
check cell are shown together. :func:`apply_slides` writes the rule into the notebooks and
their text sources (with :data:`RISE_SETTINGS` in the notebook metadata); it is idempotent, so it can be re-run after any merge.
"""

from __future__ import annotations

import argparse
import os
import re
import shutil
import subprocess
import sys
import time
from pathlib import Path

import nbformat

from ._validate import check_argv, check_notebook, check_path

__all__ = ["build_site", "slide_types", "apply_slides", "main"]

_SECTIONS_FROM_README = ("Notebook map", "How to use the course", "Sources and references")
_LINK = re.compile(r"(?<!!)\[([^\]]+)\]\(([^)\s]+)\)")
# RISE options stored in each lecture: a long slide scrolls instead of shrinking, and the
# "white" theme uses reveal.js's bundled fonts (the default "simple" theme fetches its fonts
# from a web font service, which a classroom without network cannot reach).
RISE_SETTINGS = {"scroll": True, "theme": "white"}
_PITFALL = re.compile(r"^> \*\*Pitfall", re.MULTILINE)


def _root() -> Path:
    return Path(__file__).resolve().parents[1]


def _readme_front_page(readme: str) -> str:
    """The front page: the README's title and introduction plus the sections students need."""
    # instructors' paragraphs (grading, the student edition) are not for the public site
    readme = re.sub(r"<!-- instructor -->.*?<!-- /instructor -->", "", readme, flags=re.DOTALL)
    parts = re.split(r"^## ", readme, flags=re.MULTILINE)
    head, sections = parts[0], parts[1:]
    keep = [s for s in sections if s.splitlines()[0].strip() in _SECTIONS_FROM_README]
    if not keep:
        raise ValueError(f"README has none of the sections {_SECTIONS_FROM_README}")
    intro = (
        "This website shows every lecture with its outputs, figures and formulas, and every "
        "problem set (download the `.ipynb` to solve it in JupyterLab). To run the course, "
        "clone the repository and run `python3 course.py lab` (README, *Quick start*)."
    )
    return head.rstrip() + "\n\n" + intro + "\n\n" + "\n".join("## " + s for s in keep)


def _fix_links(text: str, here: Path, stage: Path) -> str:
    """Keep links to staged pages; turn links to files outside the site into plain text.

    A relative link is resolved from ``here`` (the staged page's folder); a link to a page
    that the site does not contain (a module, a test, the grading folder, the solutions in
    the default build) would be a dead link on the site, so only its text is kept.
    """

    def repl(m: re.Match[str]) -> str:
        label, target = m.group(1), m.group(2)
        if re.match(r"^[a-z]+:", target) or target.startswith("#"):
            return m.group(0)
        path = target.split("#", 1)[0]
        if path and (here / path).resolve().is_file():
            return m.group(0)
        return label

    return _LINK.sub(repl, text)


def _download_cell(name: str) -> nbformat.NotebookNode:
    return nbformat.v4.new_markdown_cell(
        f"**Problem set.** {{download}}`Download {name} <{name}>` and open it in JupyterLab "
        "(`python3 course.py lab`); each check cell prints `[PASS]` or `[FAIL]`."
    )


def _section_of(cells: list[nbformat.NotebookNode], i: int) -> str:
    for c in reversed(cells[: i + 1]):
        if c.cell_type == "markdown":
            m = re.search(r"^#{1,3} (.+)$", c.source, flags=re.MULTILINE)
            if m:
                return m.group(1).strip()
    return ""


def errata_page(lectures: list[Path]) -> str:
    """Markdown of the errata page: every Pitfall box of every lecture, by lecture.

    Args:
        lectures: paths of executed lecture notebooks, in course order.

    Returns:
        The page's markdown; each box is quoted as the lecture states it, under the
        lecture's title and with the section it belongs to.
    """
    out = [
        "# Errata of the source notes",
        "",
        "Where one of the four source notes is wrong, the lecture says so in a **Pitfall** "
        "box next to the cell that exposes the error. This page collects the boxes of all "
        "lectures (it is generated from the notebooks when the site is built).",
        "",
    ]
    for path in lectures:
        nb = nbformat.read(path, as_version=4)
        boxes = []
        for i, c in enumerate(nb.cells):
            if c.cell_type != "markdown" or not _PITFALL.search(c.source):
                continue
            start = _PITFALL.search(c.source).start()
            quote = []
            for line in c.source[start:].splitlines():
                if not line.startswith(">"):
                    break
                quote.append(line)
            boxes.append((_section_of(nb.cells, i), "\n".join(quote)))
        if not boxes:
            continue
        title = nb.cells[0].source.splitlines()[0].lstrip("# ").strip()
        out += [f"## [{title}](notebooks/{path.name})", ""]
        for section, quote in boxes:
            out += [f"*In {section}:*", "", quote, ""]
    return "\n".join(out)


def stage_site(root: Path, stage: Path, *, solutions: bool = False) -> list[str]:  # noqa: C901 - one pass over the pages, read top to bottom
    """Lay out the Sphinx source folder ``stage``; return the page names in site order."""
    if stage.exists():
        shutil.rmtree(stage)
    stage.mkdir(parents=True)
    lectures = sorted((root / "notebooks").glob("[0-9][0-9]_*.ipynb"))
    exercises = sorted((root / "exercises").glob("[0-9][0-9]_*.ipynb"))
    if not lectures:
        raise FileNotFoundError(f"no lecture notebooks in {root / 'notebooks'}")
    (stage / "notebooks").mkdir()
    for p in lectures:
        shutil.copy2(p, stage / "notebooks" / p.name)
    (stage / "exercises").mkdir()
    for p in exercises:
        nb = nbformat.read(p, as_version=4)
        nb.cells.insert(
            1 if nb.cells and nb.cells[0].cell_type == "markdown" else 0, _download_cell(p.name)
        )
        nbformat.write(nb, stage / "exercises" / p.name)
    sols = sorted((root / "solutions").glob("[0-9][0-9]_*.ipynb")) if solutions else []
    if sols:
        (stage / "solutions").mkdir()
        for p in sols:
            shutil.copy2(p, stage / "solutions" / p.name)
    (stage / "docs").mkdir()
    docs = [p for p in sorted((root / "docs").glob("*.md"))]
    for p in docs:
        shutil.copy2(p, stage / "docs" / p.name)
    (stage / "errata.md").write_text(errata_page(lectures), encoding="utf-8")

    def toc(caption: str, entries: list[str]) -> str:
        body = "\n".join(entries)
        return f"```{{toctree}}\n:caption: {caption}\n:maxdepth: 1\n:hidden:\n\n{body}\n```\n"

    front = _readme_front_page((root / "README.md").read_text(encoding="utf-8"))
    tocs = [
        toc("Lectures", [f"notebooks/{p.stem}" for p in lectures]),
        toc("Problem sets", [f"exercises/{p.stem}" for p in exercises]),
    ]
    if sols:
        tocs.append(toc("Solutions (instructors)", [f"solutions/{p.stem}" for p in sols]))
    tocs.append(toc("Reference", ["errata"] + [f"docs/{p.stem}" for p in docs]))
    (stage / "index.md").write_text(front + "\n\n" + "\n".join(tocs), encoding="utf-8")
    for md in stage.rglob("*.md"):
        md.write_text(_fix_links(md.read_text(encoding="utf-8"), md.parent, stage), "utf-8")
    for nbp in stage.rglob("*.ipynb"):
        nb = nbformat.read(nbp, as_version=4)
        for c in nb.cells:
            if c.cell_type == "markdown":
                c.source = _fix_links(c.source, nbp.parent, stage)
        nbformat.write(nb, nbp)
    pages = ["index"] + [f"notebooks/{p.stem}" for p in lectures]
    pages += [f"exercises/{p.stem}" for p in exercises] + [f"solutions/{p.stem}" for p in sols]
    return pages + ["errata"] + [f"docs/{p.stem}" for p in docs]


def build_site(
    root: str | Path | None = None,
    out: str | Path | None = None,
    *,
    solutions: bool = False,
    quiet: bool = True,
) -> Path:
    """Build the static course website; return the folder that holds ``index.html``.

    Args:
        root: the course root (default: the folder above this package).
        out: where the site goes (default ``<root>/build/site``, replaced).
        solutions: include the solved problem sets (instructors only).
        quiet: pass ``-q`` to sphinx-build (warnings are still printed).

    Raises:
        RuntimeError: sphinx-build failed (its output says why).
    """
    root = check_path(root, "root", kind="dir") if root is not None else _root()
    out = check_path(out, "out") if out is not None else root / "build" / "site"
    stage = out.parent / (out.name + "-src")
    stage_site(root, stage, solutions=solutions)
    if out.exists():
        shutil.rmtree(out)
    conf = root / "docs" / "site"
    cmd = [sys.executable, "-m", "sphinx", "-b", "html", "-c", str(conf), "-j", "2"]
    cmd += ["-q"] if quiet else []
    cmd += [str(stage), str(out), "-d", str(out.parent / (out.name + "-doctrees"))]
    env = dict(os.environ, COURSE_SITE_SOLUTIONS="1" if solutions else "0")
    proc = subprocess.run(cmd, env=env)
    if proc.returncode != 0:
        raise RuntimeError(f"sphinx-build failed with exit status {proc.returncode}")
    shutil.rmtree(out / ".doctrees", ignore_errors=True)
    # the themes' Jinja macro files are copied as static files but never linked
    for macros in (out / "_static").glob("*webpack-macros.html"):
        macros.unlink()
    return out


def slide_types(nb: nbformat.NotebookNode) -> list[str]:
    """The RISE slide type of every cell of a lecture (see the module docstring).

    Args:
        nb: a notebook.

    Returns:
        One of ``"slide"``, ``"subslide"``, ``"-"`` (continue the slide: RISE's default,
        stored as no ``slideshow`` metadata) per cell, in order.
    """
    check_notebook(nb)
    types = []
    for i, c in enumerate(nb.cells):
        if i == 0 or (c.cell_type == "markdown" and c.source.startswith("## ")):
            types.append("slide")
        elif c.cell_type == "markdown":
            types.append("subslide")
        else:
            types.append("-")
    return types


def apply_slides(root: str | Path | None = None) -> list[str]:
    """Write :func:`slide_types` into every lecture and its text source; return changes."""
    from . import authoring

    root = check_path(root, "root", kind="dir") if root is not None else _root()
    changed = []
    for pair in authoring.find_pairs(root):
        if pair.notebook.parent.name != "notebooks" or not pair.notebook.exists():
            continue
        if authoring.pair_problems(pair):
            raise authoring.AuthoringError(
                f"{pair.name} is out of sync with its text source; run "
                f"python3 course.py build {pair.topic} first"
            )
        nb = nbformat.read(pair.notebook, as_version=4)
        n = 0
        for c, kind in zip(nb.cells, slide_types(nb), strict=True):
            have = c.metadata.get("slideshow", {}).get("slide_type", "-")
            if have == kind:
                continue
            n += 1
            if kind == "-":  # RISE's default: no metadata keeps the text source quiet
                c.metadata.pop("slideshow", None)
            else:
                c.metadata["slideshow"] = {"slide_type": kind}
        if nb.metadata.get("rise") != RISE_SETTINGS:
            nb.metadata["rise"] = dict(RISE_SETTINGS)
            n += 1
        if n:
            nbformat.write(nb, pair.notebook)
            authoring.sync(pair, source="notebook")
            changed.append(f"{pair.name}: {n} cells")
    return changed


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python3 course.py site", description=__doc__.split("\n")[0]
    )
    sub = parser.add_subparsers(dest="cmd", required=True)
    b = sub.add_parser("build", help="build the website into build/site")
    b.add_argument("--solutions", action="store_true", help="include the solutions (instructors)")
    b.add_argument("--out", type=Path, default=None, help="output folder (default build/site)")
    sub.add_parser("slides", help="set the slide boundaries of every lecture")
    args = parser.parse_args(check_argv(argv))
    if args.cmd == "slides":
        for line in apply_slides() or ["every lecture already follows the slide rule"]:
            print(line)
        return 0
    t0 = time.perf_counter()
    try:
        out = build_site(out=args.out, solutions=args.solutions)
    except (RuntimeError, FileNotFoundError, ValueError) as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 1
    size = sum(p.stat().st_size for p in out.rglob("*") if p.is_file())
    print(
        f"[site] built {out} in {time.perf_counter() - t0:.0f} s, {size / 1e6:.1f} MB"
        f"{' (with solutions)' if args.solutions else ''}; "
        f"serve it with: python3 -m http.server -d {out} 8000 --bind 127.0.0.1"
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
