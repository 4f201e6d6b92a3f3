"""A tiny problem set (solution notebook + hidden spec) for the grader's tests.

``write_toy_course(root)`` creates ``root/solutions/01_toy.ipynb`` and
``root/grading/01_toy.py``: four cheap questions covering the four test kinds
(close, equal, max, min), partial credit, a given cell between questions, a
markdown answer and an instructor-only cell.
"""

from __future__ import annotations

import json
from pathlib import Path

TOPIC = "01_toy"

SETUP = """import numpy as np
import torch
import matplotlib.pyplot as plt
import course_utils as cu

device = cu.setup(seed=0)"""

CELLS = [
    ("md", "title", "# Toy problem set (10 points)\n\nAnswer in the cells marked answer.", None),
    ("code", "setup", SETUP, None),
    ("code", "given-data", "x = np.array([1.0, 2.0, 4.0, 9.0])\nprint(f'{x.mean():.4f}')", None),
    ("md", "q1-task", "## Question 1 (3 points): mean and variance\n\nWrite `mean_var(x)`.", None),
    (
        "code",
        "q1-answer",
        'def mean_var(x):\n    """MLE mean and variance of a 1-D array."""\n'
        "    ### BEGIN SOLUTION\n    m = float(np.mean(x))\n    v = float(np.mean((x - m) ** 2))\n"
        "    ### END SOLUTION\n    return m, v",
        {"question": "q1", "role": "answer"},
    ),
    (
        "code",
        "q1-check",
        "cu.checks.check_close('q1 mean', lambda: mean_var(x)[0], 4.0)\n"
        "cu.checks.check_close('q1 var', lambda: mean_var(x)[1], 9.5)",
        {"question": "q1", "role": "check"},
    ),
    (
        "code",
        "instructor-note",
        "print('instructor only: expected 4.0, 9.5')",
        {"role": "instructor"},
    ),
    ("md", "q2-task", "## Question 2 (3 points): a matrix\n\nWrite `gram(a)`.", None),
    ("code", "given-a", "a = torch.arange(6, dtype=torch.float64).reshape(2, 3)", None),
    (
        "code",
        "q2-answer",
        "def gram(a):\n    ### BEGIN SOLUTION\n    return a @ a.T\n    ### END SOLUTION",
        {"question": "q2", "role": "answer"},
    ),
    (
        "code",
        "q2-check",
        "cu.checks.check_close('q2 gram', lambda: gram(a), [[5.0, 14.0], [14.0, 50.0]])",
        {"question": "q2", "role": "check"},
    ),
    ("md", "q3-task", "## Question 3 (2 points): fit a slope\n\nSet `slope` and `loss`.", None),
    (
        "code",
        "q3-answer",
        "g = torch.Generator().manual_seed(1)\nt = torch.linspace(0, 1, 50, dtype=torch.float64)\n"
        "y = 3 * t + 0.01 * torch.randn(50, generator=g, dtype=torch.float64)\n"
        "### BEGIN SOLUTION\nslope = float((t * y).sum() / (t * t).sum())\n"
        "loss = float(((slope * t - y) ** 2).mean())\n### END SOLUTION",
        {"question": "q3", "role": "answer"},
    ),
    (
        "code",
        "q3-check",
        "cu.checks.check_true('q3 loss', lambda: loss < 1e-3, 'loss below 1e-3')",
        {"question": "q3", "role": "check"},
    ),
    ("md", "q4-task", "## Question 4 (2 points): words\n\nWrite `shout(s)`; explain below.", None),
    (
        "code",
        "q4-answer",
        "def shout(s):\n    ### BEGIN SOLUTION\n    return s.upper() + '!'\n    ### END SOLUTION",
        {"question": "q4", "role": "answer"},
    ),
    (
        "md",
        "q4-explain",
        "Explain in one sentence.\n\n### BEGIN SOLUTION\nIt upper-cases.\n### END SOLUTION",
        {"question": "q4", "role": "answer"},
    ),
    (
        "code",
        "q4-check",
        "cu.checks.check_equal('q4', lambda: shout('hi'), 'HI!')\n"
        "### BEGIN INSTRUCTOR\nprint('instructor line')\n### END INSTRUCTOR",
        {"question": "q4", "role": "check"},
    ),
    ("md", "end", "Done.", None),
]

SPEC = '''"""Hidden tests for 01_toy (instructor only)."""

QUESTIONS = [
    {
        "id": "q1",
        "title": "mean and variance",
        "points": 3,
        "tests": [
            {"name": "mean", "points": 1, "expr": "mean_var(np.array([0.3, -1.2, 5.0, 2.2]))[0]",
             "kind": "close", "rtol": 1e-9, "atol": 1e-12, "expects": "the sample mean, a float"},
            {"name": "variance", "points": 2, "expr": "mean_var(np.array([0.3, -1.2, 5.0, 2.2]))[1]",
             "expects": "the MLE variance (divide by N), a float"},
        ],
    },
    {
        "id": "q2",
        "title": "Gram matrix",
        "points": 3,
        "tests": [
            {"name": "values", "points": 2, "expr": "gram(torch.tensor([[1.0, 2.0], [0.5, -1.0], [3.0, 0.0]], dtype=torch.float64))",
             "expects": "a (3, 3) tensor equal to a @ a.T"},
            {"name": "shape", "points": 1, "expr": "list(gram(torch.zeros(4, 2)).shape)", "kind": "equal",
             "expects": "shape (batch, batch)"},
        ],
    },
    {
        "id": "q3",
        "title": "fit a slope",
        "points": 2,
        "tests": [
            {"name": "slope", "points": 1, "expr": "slope", "kind": "close", "atol": 0.05, "rtol": 0,
             "expects": "the least-squares slope through the origin"},
            {"name": "loss small", "points": 1, "expr": "(lambda mse: loss if abs(loss - mse) <= 1e-9 + 1e-6 * mse else 1.0)(float(((slope * t - y) ** 2).mean()))", "kind": "max", "bound": 1e-3,
             "expects": "a mean squared error <= 1e-3"},
        ],
    },
    {
        "id": "q4",
        "title": "words",
        "points": 2,
        "tests": [
            {"name": "shout", "points": 1, "expr": "shout('abc')", "kind": "equal",
             "expects": "the upper-cased word followed by '!'"},
            {"name": "length", "points": 1, "expr": "len(shout('hello'))", "kind": "min", "bound": 6,
             "expects": "at least one character more than the input"},
        ],
    },
]
'''


def solution_notebook() -> dict:
    """The toy solution notebook as a JSON dict (outputs empty: the grader ignores them)."""
    cells = []
    for kind, cid, src, course in CELLS:
        meta = {"course": course} if course else {}
        if kind == "md":
            cells.append({"cell_type": "markdown", "id": cid, "metadata": meta, "source": src})
        else:
            cells.append(
                {
                    "cell_type": "code",
                    "execution_count": 1,
                    "id": cid,
                    "metadata": {**meta, "execution": {"iopub.status.busy": "2024-01-01"}},
                    "outputs": [{"name": "stdout", "output_type": "stream", "text": "x\n"}],
                    "source": src,
                }
            )
    return {
        "cells": cells,
        "metadata": {
            "kernelspec": {"display_name": "Python 3", "language": "python", "name": "python3"},
            "language_info": {"name": "python", "version": "3.11.7"},
        },
        "nbformat": 4,
        "nbformat_minor": 5,
    }


def write_toy_course(root: str | Path) -> Path:
    """Write the toy topic's solution and spec under ``root``; returns ``root``."""
    root = Path(root)
    (root / "solutions").mkdir(parents=True, exist_ok=True)
    (root / "grading").mkdir(parents=True, exist_ok=True)
    (root / "exercises").mkdir(parents=True, exist_ok=True)
    (root / "solutions" / f"{TOPIC}.ipynb").write_text(json.dumps(solution_notebook(), indent=1))
    (root / "grading" / f"{TOPIC}.py").write_text(SPEC)
    return root
