"""Tiny helpers for the notebook build scripts in tools/ (deterministic cell ids)."""

from __future__ import annotations

import ast
import sys
from pathlib import Path

import nbformat

KERNEL = {
    "kernelspec": {"name": "python3", "display_name": "Python 3", "language": "python"},
    "language_info": {"name": "python"},
}


SETUP = """
import numpy as np
import torch
import matplotlib.pyplot as plt
import course_utils as cu

device = cu.setup(seed=0)
"""


class Builder:
    """Collect cells with readable, stable ids and write an nbformat 4.5 notebook."""

    def __init__(self, prefix: str):
        self.prefix = prefix
        self.cells = []

    def _id(self, cell_id):
        return cell_id or f"{self.prefix}-{len(self.cells):03d}"

    def md(self, text: str, cell_id: str | None = None, **meta):
        cell = nbformat.v4.new_markdown_cell(text.strip("\n"))
        cell["id"] = self._id(cell_id)
        cell.metadata.update(meta)
        self.cells.append(cell)

    def code(self, text: str, cell_id: str | None = None, **meta):
        cell = nbformat.v4.new_code_cell(text.strip("\n"))
        cell["id"] = self._id(cell_id)
        cell.metadata.update(meta)
        self.cells.append(cell)

    def setup(self, cell_id: str = "setup"):
        """The course's standard first code cell (imports and ``cu.setup(seed=0)``)."""
        self.code(SETUP, cell_id)

    def answer(self, question: str, text: str, cell_id: str):
        """An answer cell of a problem set (the student edits it)."""
        self.code(text, cell_id, course={"question": question, "role": "answer"})

    def check(self, question: str, text: str):
        """The locked check cell of ``question``, with id ``<question>-check``.

        nbval's kernel does not honour a trailing ";" (it runs cells without history), so
        the value of a last top-level expression (a check's True/False) is bound to ``_``
        instead of being echoed as output.
        """
        text = text.strip("\n")
        last = ast.parse(text).body[-1]
        if isinstance(last, ast.Expr) and last.col_offset == 0:
            lines = text.split("\n")
            lines[last.lineno - 1] = "_ = " + lines[last.lineno - 1]
            text = "\n".join(lines)
        self.code(text, f"{question}-check", course={"question": question, "role": "check"})

    def write(self, path: str | Path):
        nb = nbformat.v4.new_notebook(cells=self.cells, metadata=KERNEL)
        nb.nbformat_minor = 5
        nbformat.validate(nb)
        nbformat.write(nb, str(path))
        print(f"wrote {path} ({len(self.cells)} cells)", file=sys.stderr)
