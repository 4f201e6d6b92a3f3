"""Slide boundaries of the lectures (RISE recitation mode): the rule and the lectures."""

from __future__ import annotations

import re
from pathlib import Path

import nbformat
import pytest

from course_utils import authoring, site

ROOT = Path(__file__).resolve().parents[1]
LECTURES = sorted((ROOT / "notebooks").glob("[0-9][0-9]_*.ipynb"))


def test_rule_on_a_small_notebook():
    md, code = nbformat.v4.new_markdown_cell, nbformat.v4.new_code_cell
    nb = nbformat.v4.new_notebook(
        cells=[
            md("# Title"),
            code("setup"),
            md("## 1. A"),
            md("$$x$$"),
            code("check"),
            md("### detail"),
            md("## 2. B"),
            code("x"),
        ]
    )
    assert site.slide_types(nb) == [
        "slide",
        "-",
        "slide",
        "subslide",
        "-",
        "subslide",
        "slide",
        "-",
    ]


@pytest.mark.parametrize("path", LECTURES, ids=lambda p: p.stem)
def test_every_section_heading_starts_a_slide(path):
    nb = nbformat.read(path, as_version=4)
    kinds = [c.metadata.get("slideshow", {}).get("slide_type", "-") for c in nb.cells]
    assert kinds == site.slide_types(nb), (
        f"{path.name} does not follow the slide rule: run python -m course_utils.site slides"
    )
    headings = [
        i
        for i, c in enumerate(nb.cells)
        if c.cell_type == "markdown" and c.source.startswith("## ")
    ]
    assert len(headings) >= 3 and all(kinds[i] == "slide" for i in headings)
    # a section's check cells are on its slide: a code cell never starts one
    assert all(
        k == "-" for c, k in zip(nb.cells[1:], kinds[1:], strict=True) if c.cell_type == "code"
    )
    # the text source carries the same boundaries (what authors edit)
    text = path.with_suffix(".py").read_text(encoding="utf-8")
    assert len(re.findall(r'^# %%.*"slide_type": "slide"', text, re.MULTILINE)) == kinds.count(
        "slide"
    )


def test_lecture_pairs_still_agree():
    pairs = [p for p in authoring.find_pairs(ROOT) if p.notebook.parent.name == "notebooks"]
    assert pairs and not [q for p in pairs for q in authoring.pair_problems(p)]


@pytest.mark.parametrize("path", LECTURES, ids=lambda p: p.stem)
def test_lectures_use_an_offline_theme_and_scroll(path):
    rise = nbformat.read(path, as_version=4).metadata.get("rise", {})
    # reveal.js's 'simple' default loads web fonts; 'white' ships its fonts with RISE
    assert rise.get("theme") == "white" and rise.get("scroll") is True, rise
