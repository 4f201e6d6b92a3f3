"""Static checks on the committed notebooks (nbval executes them separately)."""

import json
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
