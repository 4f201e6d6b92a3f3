"""Static checks on the committed notebooks (nbval executes them separately)."""

import ast
import json
import re
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
EXECUTED = sorted((ROOT / "notebooks").glob("*.ipynb")) + sorted(
    (ROOT / "solutions").glob("*.ipynb")
)
EXERCISES = sorted((ROOT / "exercises").glob("*.ipynb"))


def _code_cells(path):
    nb = json.loads(path.read_text())
    return [c for c in nb["cells"] if c["cell_type"] == "code" and "".join(c["source"]).strip()]


def _ids(paths):
    return [f"{p.parent.name}/{p.name}" for p in paths]


def test_there_are_notebooks():
    assert (ROOT / "notebooks/00_start_here.ipynb").exists()
    assert len(EXECUTED) >= 3


@pytest.mark.parametrize("path", EXECUTED, ids=_ids(EXECUTED))
def test_executed_notebook_has_counts_and_no_errors(path):
    cells = _code_cells(path)
    unrun = [i for i, c in enumerate(cells) if c.get("execution_count") is None]
    assert not unrun, f"{path.name}: code cells {unrun} were never executed (nbval would skip them)"
    errors = [
        i
        for i, c in enumerate(cells)
        for o in c.get("outputs", [])
        if o.get("output_type") == "error"
    ]
    assert not errors, f"{path.name}: code cells {errors} have error outputs"
    counts = [c["execution_count"] for c in cells]
    assert counts == sorted(counts), f"{path.name}: cells were executed out of order"


@pytest.mark.parametrize("path", EXECUTED, ids=_ids(EXECUTED))
def test_first_code_cell_calls_setup(path):
    first = "".join(_code_cells(path)[0]["source"])
    assert "import course_utils as cu" in first and "cu.setup(" in first, first


STANDARD_IMPORTS = {
    "numpy": "np",
    "torch": "torch",
    "matplotlib.pyplot": "plt",
    "course_utils": "cu",
}


@pytest.mark.parametrize("path", EXECUTED, ids=_ids(EXECUTED))
def test_first_code_cell_is_the_standard_setup(path):
    """Imports (numpy, torch, matplotlib, course_utils under their usual names), then
    ``device = cu.setup(seed=0)``; nothing else but imports and simple constants."""
    tree = ast.parse("".join(_code_cells(path)[0]["source"]))
    imported = {
        a.name: a.asname or a.name
        for node in tree.body
        if isinstance(node, ast.Import)
        for a in node.names
    }
    assert STANDARD_IMPORTS.items() <= imported.items(), f"{path.name}: imports {imported}"
    calls = [ast.unparse(n) for n in tree.body if isinstance(n, ast.Assign | ast.Expr)]
    assert "device = cu.setup(seed=0)" in calls, f"{path.name}: no `device = cu.setup(seed=0)`"
    for node in tree.body:
        ok = isinstance(node, ast.Import | ast.ImportFrom) or (
            isinstance(node, ast.Assign)
            and (
                ast.unparse(node) == "device = cu.setup(seed=0)"
                or isinstance(node.value, ast.Attribute | ast.Constant)
            )
        )
        assert ok, f"{path.name}: the setup cell also runs `{ast.unparse(node)}`"


@pytest.mark.parametrize("path", EXECUTED, ids=_ids(EXECUTED))
def test_notebook_format_kernel_and_cell_ids(path):
    nb = json.loads(path.read_text())
    assert (nb["nbformat"], nb["nbformat_minor"]) == (4, 5), path.name
    assert nb["metadata"]["kernelspec"]["name"] == "python3", path.name
    ids = [c["id"] for c in nb["cells"]]
    assert len(ids) == len(set(ids)), f"{path.name}: repeated cell ids"
    for c in nb["cells"]:
        course = c["metadata"].get("course", {})
        if course.get("role") in ("answer", "check"):
            pattern = rf"^{course['question']}-{course['role']}(-[a-z0-9-]+)?$"
            assert re.match(pattern, c["id"]), (
                f"{path.name}: graded cell {c['id']!r} should be named "
                f"{course['question']}-{course['role']}[-suffix]"
            )


SOLUTIONS = [p for p in EXECUTED if p.parent.name == "solutions"]


@pytest.mark.parametrize("path", SOLUTIONS, ids=_ids(SOLUTIONS))
def test_check_cells_print_nothing_unexpected_under_nbval(path):
    """nbval's kernel ignores a trailing ``;``, so a check cell whose last statement is a
    bare expression (``cu.checks.check_close(...)``) would add a ``text/plain`` output
    (True/False) to compare. Bind it instead: ``_ = cu.checks.check_close(...)``."""
    nb = json.loads(path.read_text())
    for c in nb["cells"]:
        if c["metadata"].get("course", {}).get("role") == "check":
            last = ast.parse("".join(c["source"])).body[-1]
            assert not isinstance(last, ast.Expr), (
                f"{path.name}: check cell {c['id']} ends in a bare expression "
                f"`{ast.unparse(last)[:60]}`; write `_ = ...`"
            )


@pytest.mark.parametrize("path", EXERCISES, ids=_ids(EXERCISES))
def test_exercises_are_clean(path):
    nb = json.loads(path.read_text())
    for c in nb["cells"]:
        src = "".join(c["source"])
        assert "BEGIN SOLUTION" not in src and "END SOLUTION" not in src
        if c["cell_type"] == "code":
            assert c.get("outputs") == [] and c.get("execution_count") is None


@pytest.mark.parametrize("path", EXERCISES, ids=_ids(EXERCISES))
def test_every_exercise_has_a_solution(path):
    assert (ROOT / "solutions" / path.name).exists()
