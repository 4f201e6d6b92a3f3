"""The notebook/text pairs (jupytext) and the build command (course_utils.authoring)."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

import nbformat
import pytest

from course_utils import authoring as A

ROOT = Path(__file__).resolve().parents[1]
PAIRS = A.find_pairs(ROOT)
IDS = [p.name for p in PAIRS]


def test_every_lecture_and_solution_is_paired():
    assert len(PAIRS) >= 17
    for folder in A.FOLDERS:
        assert (ROOT / folder / "jupytext.toml").exists()
    assert not list((ROOT / "exercises").glob("*.py")), "exercises are generated, never paired"


@pytest.mark.parametrize("pair", PAIRS, ids=IDS)
def test_pair_agrees(pair):
    problems = A.pair_problems(pair)
    assert not problems, "\n".join(problems)


@pytest.mark.parametrize("pair", PAIRS, ids=IDS)
def test_round_trip_keeps_ids_metadata_and_sources(pair):
    """text -> notebook (synced against the committed .ipynb) -> text changes nothing."""
    nb = nbformat.read(pair.notebook, as_version=4)
    again = A._from_text(pair, nb)
    assert [(c.id, c.cell_type, c.source, dict(c.metadata)) for c in again.cells] == [
        (c.id, c.cell_type, c.source, dict(c.metadata)) for c in nb.cells
    ]
    assert [c.get("outputs") for c in again.cells] == [c.get("outputs") for c in nb.cells]
    assert again.metadata == nb.metadata
    assert A.text_of(again, pair.text) == pair.text.read_text(encoding="utf-8"), (
        f"{pair.text} is not in canonical form: run `python3 course.py build {pair.topic}`"
    )


# ------------------------------------------------------------------ a copy to edit


@pytest.fixture
def course(tmp_path):
    """A course root holding copies of one lecture and one solution pair."""
    for folder, stem in (("notebooks", "01_mle"), ("solutions", "01_mle")):
        (tmp_path / folder).mkdir()
        for suffix in (".ipynb", ".py"):
            shutil.copy2(ROOT / folder / f"{stem}{suffix}", tmp_path / folder / f"{stem}{suffix}")
        shutil.copy(ROOT / folder / "jupytext.toml", tmp_path / folder / "jupytext.toml")
    (tmp_path / "exercises").mkdir()
    shutil.copy(ROOT / "exercises" / "01_mle.ipynb", tmp_path / "exercises" / "01_mle.ipynb")
    return tmp_path


def _pair(root, folder="solutions"):
    return next(p for p in A.find_pairs(root) if p.notebook.parent.name == folder)


def _touch_later(path):
    t = path.stat().st_mtime + 10
    os.utime(path, (t, t))


def test_editing_the_text_without_syncing_is_reported_with_the_fix(course):
    pair = _pair(course)
    text = pair.text.read_text()
    pair.text.write_text(text.replace("## Question 1 (", "## Question 1 (edited, "))
    (problem,) = A.pair_problems(pair)
    assert str(pair.text) in problem and "python3 course.py build 01_mle" in problem
    assert "source" in problem
    _touch_later(pair.text)
    _, what = A.sync(pair)
    assert what == "notebook updated from the text source"
    nbformat.write(_, str(pair.notebook))
    assert A.pair_problems(pair) == []


def test_sync_from_text_keeps_ids_of_edited_cells_and_names_new_ones(course):
    pair = _pair(course)
    before = nbformat.read(pair.notebook, as_version=4)
    text = pair.text.read_text()
    # Edit the q1 answer's code heavily, a markdown cell, and add a new graded question.
    start = text.index('# %% course={"question": "q1", "role": "answer"}')
    end = text.index('# %% course={"question": "q1", "role": "check"}')
    text = (
        text[:start]
        + '# %% course={"question": "q1", "role": "answer"}\n'
        + "def mle_gaussian(x):\n    return float(np.mean(x)), float(np.var(x))\n\n\n"
        + text[end:]
    )
    text += (
        "\n# %% [markdown]\n# ## Question 99 (1 point): new\n\n"
        '# %% course={"question": "q99", "role": "answer"}\nanswer99 = 1\n\n'
        '# %% course={"question": "q99", "role": "check"}\n_ = answer99 == 1\n'
    )
    pair.text.write_text(text)
    _touch_later(pair.text)
    nb, _ = A.sync(pair)
    old = {c.id: c for c in before.cells}
    assert [c.id for c in nb.cells[: len(before.cells)]] == [c.id for c in before.cells]
    q1 = next(c for c in nb.cells if c.id == "q1-answer")
    assert "np.var(x)" in q1.source and q1.metadata["course"] == old["q1-answer"].metadata["course"]
    assert [c.id for c in nb.cells[len(before.cells) :]] == [
        "question-99-1-point",
        "q99-answer",
        "q99-check",
    ]
    assert len({c.id for c in nb.cells}) == len(nb.cells)
    # unchanged cells keep their outputs; the text is rewritten in canonical form
    assert nb.cells[1].outputs == before.cells[1].outputs
    assert A.text_of(nb, pair.text) == pair.text.read_text()


def test_sync_from_notebook_updates_the_text(course):
    pair = _pair(course, "notebooks")
    nb = nbformat.read(pair.notebook, as_version=4)
    nb.cells[0].source += "\n\nAn added sentence."
    nbformat.write(nb, str(pair.notebook))
    _touch_later(pair.notebook)
    _, what = A.sync(pair)
    assert what == "text source updated from the notebook"
    assert "# An added sentence." in pair.text.read_text()
    assert A.pair_problems(pair) == []


def test_sync_refuses_to_guess_when_both_sides_changed(course):
    pair = _pair(course)
    pair.text.write_text(pair.text.read_text().replace("## Question 1 (", "## Question 1 (both, "))
    t = pair.notebook.stat().st_mtime
    os.utime(pair.text, (t, t))
    with pytest.raises(A.AuthoringError, match="--from text"):
        A.sync(pair)
    before = pair.notebook.read_bytes()
    assert pair.notebook.read_bytes() == before  # nothing was overwritten
    nb, _ = A.sync(pair, source="text")
    assert any("## Question 1 (both, " in c.source for c in nb.cells)


def test_orphans_are_reported(course):
    (course / "notebooks" / "01_mle.py").unlink()
    (course / "solutions" / "01_mle.ipynb").unlink()
    problems = [p for pair in A.find_pairs(course) for p in A.pair_problems(pair)]
    assert len(problems) == 2
    assert any("has no text source 01_mle.py" in p for p in problems)
    assert any("has no notebook 01_mle.ipynb" in p for p in problems)
    assert all("python3 course.py build 01_mle" in p for p in problems)


def test_a_folder_without_jupytext_config_is_an_error(course):
    (course / "notebooks" / "jupytext.toml").unlink()
    with pytest.raises(A.AuthoringError, match="no jupytext.toml"):
        A.read_text(course / "notebooks" / "01_mle.py")


def test_build_creates_executes_and_releases_a_new_topic(course):
    """A topic written only as text: build makes the executed notebook and the exercise."""
    text = (
        "# %% [markdown]\n# # 02 · Toy problem set\n\n"
        "# %%\nimport numpy as np\n\nx = np.arange(3)\nprint(f'{x.sum():.1f}')\n\n"
        "# %% [markdown]\n# ## Question 1 (1 point)\n\n"
        '# %% course={"question": "q1", "role": "answer"}\n'
        "def double(v):\n    ### BEGIN SOLUTION\n    return 2 * v\n    ### END SOLUTION\n\n\n"
        '# %% course={"question": "q1", "role": "check"}\n_ = double(2) == 4\n'
    )
    (course / "solutions" / "02_toy.py").write_text(text)
    r = subprocess.run(
        [sys.executable, "-m", "course_utils.authoring", "build", "02_toy", "--root", course],
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert r.returncode == 0, r.stderr
    assert "solutions/02_toy: notebook created from the text source, executed" in r.stdout
    nb = nbformat.read(course / "solutions" / "02_toy.ipynb", as_version=4)
    assert [c.id for c in nb.cells] == [
        "02-toy-problem-set",
        "import-numpy-as-np",
        "question-1-1-point",
        "q1-answer",
        "q1-check",
    ]
    assert nb.cells[1].outputs[0]["text"] == "3.0\n" and nb.cells[1].execution_count == 1
    assert nb.metadata["kernelspec"]["name"] == "python3" and "jupytext" not in nb.metadata
    ex = nbformat.read(course / "exercises" / "02_toy.ipynb", as_version=4)
    assert "NotImplementedError" in ex.cells[3].source and "2 * v" not in ex.cells[3].source
    # a second build changes nothing but re-executes
    r2 = subprocess.run(
        [sys.executable, "-m", "course_utils.authoring", "build", "02_toy", "--root", course],
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert r2.returncode == 0 and "already in sync" in r2.stdout


def test_build_names_unknown_topics_and_check_exit_codes(course):
    def run(*args):
        return subprocess.run(
            [sys.executable, "-m", "course_utils.authoring", *args, "--root", course],
            capture_output=True,
            text=True,
            timeout=120,
        )

    r = run("build", "99_nope")
    assert r.returncode == 2
    assert "topics must name topics of the course, got unknown 99_nope; known: 01_mle" in r.stderr
    assert run("build", "--check").returncode == 0
    (course / "notebooks" / "01_mle.py").write_text("# %%\nprint('edited')\n")
    r = run("build", "--check")
    assert r.returncode == 1 and "notebooks/01_mle.py and 01_mle.ipynb disagree" in r.stderr


def test_build_only_the_lecture_or_only_the_solution(course):
    (course / "exercises" / "01_mle.ipynb").unlink(missing_ok=True)
    lecture = A.build(course, ["01_mle"], run=False, only="lecture")
    assert [line.split(":")[0] for line in lecture] == ["notebooks/01_mle"]
    assert not (course / "exercises" / "01_mle.ipynb").exists()  # no solution, no release
    solution = A.build(course, ["01_mle"], run=False, only="solution")
    assert [line.split(":")[0] for line in solution] == [
        "solutions/01_mle",
        "exercises/01_mle.ipynb",
    ]
    both = A.build(course, ["01_mle"], run=False)
    assert [line.split(":")[0] for line in both] == [
        "notebooks/01_mle",
        "solutions/01_mle",
        "exercises/01_mle.ipynb",
    ]
    with pytest.raises(A.AuthoringError, match="only must be 'lecture' or 'solution', got 'b'"):
        A.build(course, ["01_mle"], run=False, only="b")
    for suffix in (".ipynb", ".py"):
        (course / "solutions" / f"01_mle{suffix}").unlink()
    with pytest.raises(A.AuthoringError, match="no solution to build for 01_mle"):
        A.build(course, ["01_mle"], run=False, only="solution")
    r = subprocess.run(
        [sys.executable, "-m", "course_utils.authoring", "build", "01_mle", "--only", "lecture",
         "--no-execute", "--root", course],
        capture_output=True, text=True, timeout=120,
    )  # fmt: skip
    assert r.returncode == 0 and "notebooks/01_mle" in r.stdout and "solutions" not in r.stdout


@pytest.mark.parametrize("pair", PAIRS, ids=IDS)
def test_sources_hold_no_control_characters(pair):
    """A tab or other control character in a source is almost always an escape gone
    wrong (e.g. "\\tanh" written in a Python string became TAB + "anh" in 05)."""
    bad = [
        (n, line)
        for n, line in enumerate(pair.text.read_text(encoding="utf-8").splitlines(), 1)
        if any(ord(ch) < 32 for ch in line)
    ]
    assert not bad, f"{pair.text}: control characters on lines {[n for n, _ in bad][:10]}"
