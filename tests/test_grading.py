"""Tests for course_utils.grading: release, the sandboxed grader, the Gradescope bundle.

Most cases use a tiny problem set written into tmp_path by
``tests/grading_fixtures/toy.py``; the "every topic" tests run over the real
``solutions/`` + ``grading/`` of the repository (and are empty until topics exist).
"""

from __future__ import annotations

import copy
import csv
import json
import os
import shutil
import subprocess
import sys
import zipfile
from pathlib import Path

import jsonschema
import numpy as np
import pytest
import torch

from course_utils.grading import ReleaseError, release_notebook, release_topics
from course_utils.grading._grader import Limits, assemble, grade_submissions
from course_utils.grading._release import dumps_notebook
from course_utils.grading._spec import TestSpec, compare, decode, load_spec
from course_utils.grading._worker import to_plain

sys.path.insert(0, str(Path(__file__).parent))
from grading_fixtures import toy  # noqa: E402
from grading_fixtures.sandbox import CLI_FLAGS, SANDBOX  # noqa: E402

ROOT = Path(__file__).resolve().parents[1]
PY = sys.executable
REAL_TOPICS = sorted(
    p.stem
    for p in (ROOT / "solutions").glob("*.ipynb")
    if (ROOT / "grading" / f"{p.stem}.py").exists()
)
RELEASED_TOPICS = sorted(p.stem for p in (ROOT / "solutions").glob("*.ipynb"))
TEST_LIMITS = {"timeout": 20.0, "submission_timeout": 300.0, "memory_mb": 2048}

# Gradescope's results.json (https://gradescope-autograders.readthedocs.io/en/latest/specs/)
GRADESCOPE_SCHEMA = {
    "type": "object",
    "required": ["score", "execution_time", "output", "tests"],
    "properties": {
        "score": {"type": "number", "minimum": 0},
        "execution_time": {"type": "number", "minimum": 0},
        "output": {"type": "string"},
        "visibility": {"enum": ["hidden", "after_due_date", "after_published", "visible"]},
        "stdout_visibility": {"enum": ["hidden", "after_due_date", "after_published", "visible"]},
        "tests": {
            "type": "array",
            "items": {
                "type": "object",
                # status is optional in Gradescope's format: a written question not yet
                # graded by hand has none (it is neither passed nor failed)
                "required": ["name", "score", "max_score", "output", "visibility"],
                "properties": {
                    "name": {"type": "string", "minLength": 1},
                    "number": {"type": "string"},
                    "score": {"type": "number", "minimum": 0},
                    "max_score": {"type": "number", "exclusiveMinimum": 0},
                    "status": {"enum": ["passed", "failed"]},
                    "output": {"type": "string"},
                    "visibility": {
                        "enum": ["hidden", "after_due_date", "after_published", "visible"]
                    },
                },
                "additionalProperties": False,
            },
        },
    },
    "additionalProperties": False,
}


def _cli(*args, cwd=None, env=None, timeout=900):
    return subprocess.run(
        [PY, "-m", "course_utils.grading", *map(str, args)],
        cwd=cwd,
        env=env,
        capture_output=True,
        text=True,
        timeout=timeout,
    )


@pytest.fixture(scope="module")
def toy_root(tmp_path_factory):
    root = toy.write_toy_course(tmp_path_factory.mktemp("toy"))
    release_topics(root, [toy.TOPIC])
    return root


# ------------------------------------------------------------------------------ release
def test_release_replaces_regions_and_removes_instructor_content(toy_root):
    nb = json.loads((toy_root / "exercises" / "01_toy.ipynb").read_text())
    cells = {c["id"]: c for c in nb["cells"]}
    src = {k: "".join(c["source"]) for k, c in cells.items()}
    assert "instructor-note" not in cells  # role instructor: dropped
    assert "instructor line" not in src["q4-check"]  # INSTRUCTOR region: dropped
    assert src["q1-answer"] == (
        'def mean_var(x):\n    """MLE mean and variance of a 1-D array."""\n'
        '    raise NotImplementedError("q1: write your answer here")\n    return m, v'
    )
    assert src["q3-answer"].endswith('\nraise NotImplementedError("q3: write your answer here")')
    assert "upper" not in src["q4-answer"] and "It upper-cases" not in src["q4-explain"]
    assert all("SOLUTION" not in s for s in src.values())
    for c in nb["cells"]:
        if c["cell_type"] == "code":
            assert c["outputs"] == [] and c["execution_count"] is None
            assert "execution" not in c["metadata"]
    assert cells["q2-answer"]["metadata"]["course"] == {"question": "q2", "role": "answer"}
    assert cells["q2-check"]["metadata"]["editable"] is False
    assert "editable" not in cells["q2-answer"]["metadata"]
    assert nb["metadata"] == {
        "kernelspec": {"display_name": "Python 3", "language": "python", "name": "python3"},
        "language_info": {"name": "python"},
    }
    import nbformat

    nbformat.validate(nbformat.reads(json.dumps(nb), as_version=4))


def test_release_is_deterministic_and_jupyter_formatted(toy_root):
    path = toy_root / "exercises" / "01_toy.ipynb"
    first = path.read_bytes()
    assert _cli("--root", toy_root, "release", "01_toy").returncode == 0
    assert path.read_bytes() == first
    text = first.decode()
    assert text.endswith("}\n") and not text.endswith("\n\n")
    assert text == json.dumps(json.loads(text), sort_keys=True, indent=1, ensure_ascii=False) + "\n"
    # the same notebook released twice in memory, from a different key order
    nb = toy.solution_notebook()
    shuffled = json.loads(json.dumps(nb, sort_keys=True))
    assert dumps_notebook(release_notebook(nb)) == dumps_notebook(release_notebook(shuffled))


def test_release_check_passes_then_fails_after_a_solution_edit(tmp_path):
    root = toy.write_toy_course(tmp_path)
    r = _cli("--root", root, "release", "--check")
    assert r.returncode == 1 and "01_toy" in r.stderr  # exercise missing
    assert not (root / "exercises" / "01_toy.ipynb").exists()  # --check writes nothing
    assert _cli("--root", root, "release").returncode == 0
    r = _cli("--root", root, "release", "--check")
    assert r.returncode == 0, r.stderr
    sol = root / "solutions" / "01_toy.ipynb"
    nb = json.loads(sol.read_text())
    nb["cells"][0]["source"] = "# Toy problem set, edited"
    sol.write_text(json.dumps(nb))
    r = _cli("--root", root, "release", "--check")
    assert r.returncode == 1 and "stale: exercises/01_toy.ipynb" in r.stderr


def test_release_never_overwrites_work_without_force(tmp_path):
    root = toy.write_toy_course(tmp_path)
    assert _cli("--root", root, "release").returncode == 0
    ex = root / "exercises" / "01_toy.ipynb"
    released = ex.read_text()
    sol = root / "solutions" / "01_toy.ipynb"
    nb = json.loads(sol.read_text())
    nb["cells"][0]["source"] = "# Toy problem set, edited"  # the release is now stale
    sol.write_text(json.dumps(nb))
    # a student answered in place: an answer cell edited and the notebook run
    work = json.loads(released)
    answer = next(
        c for c in work["cells"] if c["metadata"].get("course", {}).get("role") == "answer"
    )
    answer["source"] = ["def f(x):\n", "    return 42\n"]
    answer["execution_count"] = 3
    ex.write_text(json.dumps(work))
    before = ex.read_text()
    r = _cli("--root", root, "release")
    assert r.returncode == 2
    assert "not overwriting what looks like someone's work" in r.stderr
    assert f"answer cells were edited ({answer['id']})" in r.stderr
    assert "cells were run" in r.stderr and "--force" in r.stderr
    assert ex.read_text() == before  # nothing written
    r = _cli("--root", root, "release", "--force")
    assert r.returncode == 0, r.stderr
    backup = root / "exercises" / "backup" / "01_toy.ipynb"
    assert backup.read_text() == before and "kept the previous" in r.stdout
    assert _cli("--root", root, "release", "--check").returncode == 0
    # a stale but untouched release is replaced without fuss (and without a backup)
    nb["cells"][0]["source"] = "# Toy problem set, edited again"
    sol.write_text(json.dumps(nb))
    r = _cli("--root", root, "release")
    assert r.returncode == 0, r.stderr
    assert sorted(p.name for p in (root / "exercises").iterdir()) == ["01_toy.ipynb", "backup"]
    assert [p.name for p in (root / "exercises" / "backup").iterdir()] == ["01_toy.ipynb"]
    # a file that is not a notebook is someone's too
    ex.write_text("my notes")
    r = _cli("--root", root, "release")
    assert r.returncode == 2 and "not a notebook this command wrote" in r.stderr
    assert ex.read_text() == "my notes"


@pytest.mark.parametrize(
    "command",
    [
        ["release", "--check"],
        ["grade", "01_toy", "x.ipynb", "--out", "o"],
        ["gradescope", "01_toy"],
    ],
)
def test_a_root_that_is_no_folder_is_a_one_line_error(command, tmp_path):
    r = _cli("--root", tmp_path / "nope", *command, cwd=tmp_path)
    assert r.returncode == 2 and r.stderr.count("\n") == 1, r.stderr  # not a traceback
    assert f"course-grade: error: --root must be an existing folder, got '{tmp_path}" in r.stderr
    assert not (tmp_path / "o").exists() and not (tmp_path / "autograder.zip").exists()


def test_release_check_passes_on_committed_exercises():
    r = _cli("release", "--check", cwd=ROOT)
    assert r.returncode == 0, r.stdout + r.stderr


@pytest.mark.parametrize("topic", RELEASED_TOPICS)
def test_release_check_fails_after_editing_a_real_solution(topic, tmp_path):
    for d in ("solutions", "exercises"):
        shutil.copytree(ROOT / d, tmp_path / d)
    assert _cli("--root", tmp_path, "release", topic).returncode == 0
    assert _cli("--root", tmp_path, "release", "--check", topic).returncode == 0
    sol = tmp_path / "solutions" / f"{topic}.ipynb"
    nb = json.loads(sol.read_text())
    md = next(c for c in nb["cells"] if c["cell_type"] == "markdown")
    md["source"] = "".join(md["source"]) + "\n\nAn edit."
    sol.write_text(json.dumps(nb))
    r = _cli("--root", tmp_path, "release", "--check", topic)
    assert r.returncode == 1 and topic in r.stderr


@pytest.mark.parametrize(
    "source, message",
    [
        ("x = 1\n### BEGIN SOLUTION\ny = 2", "never closed"),
        ("x = 1\n### END SOLUTION", "without a matching BEGIN"),
        ("### BEGIN SOLUTION\n### BEGIN SOLUTION\n### END SOLUTION", "second"),
        ("y = 2  # BEGIN SOLUTION", "not a marker line"),
    ],
)
def test_release_rejects_unbalanced_markers_naming_the_cell(source, message):
    nb = toy.solution_notebook()
    nb["cells"][4]["source"] = source
    with pytest.raises(ReleaseError, match=message) as err:
        release_notebook(nb, where="solutions/01_toy.ipynb")
    assert "q1-answer" in str(err.value)


def test_release_errors_unknown_topic_and_missing_ids(tmp_path, toy_root):
    r = _cli("--root", toy_root, "release", "99_nope")
    assert r.returncode == 2 and r.stderr.count("\n") == 1, r.stderr  # one line, no traceback
    assert "got unknown 99_nope; known: 01_toy" in r.stderr
    nb = toy.solution_notebook()
    del nb["cells"][2]["id"]
    with pytest.raises(ReleaseError, match="no id"):
        release_notebook(nb)
    nb = toy.solution_notebook()
    nb["cells"][3]["id"] = nb["cells"][2]["id"]
    with pytest.raises(ReleaseError, match="duplicate"):
        release_notebook(nb)


# ---------------------------------------------------------------- spec and comparison
def test_spec_loads_and_rejects_malformed_specs(tmp_path, toy_root):
    qs = load_spec(toy_root / "grading" / "01_toy.py")
    assert [q.id for q in qs] == ["q1", "q2", "q3", "q4"]
    assert [q.points for q in qs] == [3, 3, 2, 2]
    assert qs[0].tests[1].kind == "close" and qs[0].tests[1].rtol == 1e-6
    bad = {
        "tests add up": '[{"id": "q1", "points": 3, "tests": [{"name": "a", "points": 1, "expr": "1"}]}]',
        "kind": '[{"id": "q1", "points": 1, "tests": [{"name": "a", "points": 1, "expr": "1", "kind": "near"}]}]',
        "not a Python expression": '[{"id": "q1", "points": 1, "tests": [{"name": "a", "points": 1, "expr": "x ="}]}]',
        "bound": '[{"id": "q1", "points": 1, "tests": [{"name": "a", "points": 1, "expr": "1", "kind": "max"}]}]',
        "duplicate question": '[{"id": "q1", "points": 1, "tests": [{"name": "a", "points": 1, "expr": "1"}]}] * 2',
        "unknown key": '[{"id": "q1", "points": 1, "tests": [{"name": "a", "points": 1, "expr": "1", "tol": 1}]}]',
    }
    for message, questions in bad.items():
        path = tmp_path / "bad.py"
        path.write_text(f"QUESTIONS = {questions}\n")
        with pytest.raises(ValueError, match=message):
            load_spec(path)


def test_plain_data_round_trip_matches_the_original_values():
    values = [
        3,
        2.5,
        True,
        None,
        "text",
        1 + 2j,
        np.float32(0.25),
        np.arange(6, dtype=np.int32).reshape(2, 3),
        torch.linspace(0, 1, 5, dtype=torch.float64).reshape(5, 1),
        torch.tensor([True, False]),
        [1, (2.0, "a"), {"k": np.array([1.5])}],
    ]
    for v in values:
        back = decode(json.loads(json.dumps(to_plain(v))))
        ref = v.numpy() if isinstance(v, torch.Tensor) else v
        if isinstance(ref, np.ndarray):
            assert back.shape == ref.shape and np.array_equal(back, ref)
        elif isinstance(ref, list):
            assert back[0] == 1 and back[1] == (2.0, "a") and np.array_equal(back[2]["k"], [1.5])
        else:
            assert back == ref and type(back) is type(ref.item() if hasattr(ref, "item") else ref)
    assert to_plain(object())["t"] == "other"
    with pytest.raises(ValueError):
        decode({"t": "array", "shape": [3], "dtype": "f", "v": [1.0]})


def test_compare_agrees_with_numpy_and_hides_expected_values():
    close = TestSpec(name="t", points=1, expr="x", kind="close", rtol=1e-6, atol=1e-9)
    rng = np.random.default_rng(0)
    exp = rng.normal(size=(4, 3))
    for scale in (0.0, 1e-8, 1e-4):
        got = exp + scale * rng.normal(size=exp.shape)
        ok, msg = compare(close, to_plain(got), to_plain(exp))
        assert ok == bool(np.allclose(got, exp, rtol=1e-6, atol=1e-9))
        assert f"{exp[0, 0]:.4f}" not in msg
    assert compare(close, to_plain(exp[:2]), to_plain(exp))[1].startswith("expected shape (4, 3)")
    assert not compare(close, to_plain(float("nan")), to_plain(1.0))[0]
    assert not compare(close, to_plain("1.0"), to_plain(1.0))[0]
    eq = TestSpec(name="t", points=1, expr="x", kind="equal")
    assert compare(eq, to_plain([2, 3]), to_plain((2, 3)))[0]
    assert not compare(eq, to_plain(True), to_plain(1))[0]
    assert not compare(eq, to_plain("HI"), to_plain("HI!"))[0]
    mx = TestSpec(name="t", points=1, expr="x", kind="max", bound=1.45)
    assert compare(mx, to_plain(1.45), None)[0] and not compare(mx, to_plain(1.46), None)[0]
    mn = TestSpec(name="t", points=1, expr="x", kind="min", bound=0)
    assert compare(mn, to_plain(np.array([0.0, 2.0])), None)[0]
    assert not compare(mn, to_plain(np.array([-1e-9, 2.0])), None)[0]


def test_assemble_restores_locked_cells_and_keeps_only_answers(toy_root):
    source = json.loads((toy_root / "exercises" / "01_toy.ipynb").read_text())["cells"]
    for c in source:
        c["source"] = "".join(c["source"])
    questions = load_spec(toy_root / "grading" / "01_toy.py")
    sub = copy.deepcopy(source)
    by = {c["id"]: c for c in sub}
    by["q1-answer"]["source"] = "def mean_var(x):\n    return 1, 2"
    by["q1-check"]["source"] = "print('[PASS] all')"
    sub.remove(by["q2-answer"])
    sub.insert(sub.index(by["q4-task"]) + 1, {"cell_type": "code", "id": "mine", "source": "h = 1"})
    steps, notes = assemble(source, sub, questions)
    execs = [s for s in steps if s["op"] == "exec"]
    code = {s["cell"]: s["code"] for s in execs}
    assert code["q1-answer"] == "def mean_var(x):\n    return 1, 2"
    assert "check_close" in code["q1-check"]
    assert 'raise NotImplementedError("q2' in code["q2-answer"]
    ids = [s["cell"] for s in execs]
    assert ids.index("mine") == ids.index("q4-answer") - 1
    probes = [i for i, s in enumerate(steps) if s["op"] == "probe"]
    assert [steps[i]["q"] for i in probes] == ["q1", "q2", "q3", "q4"]
    assert steps[probes[0] - 1]["cell"] == "q1-check"  # probes right after the question
    assert steps[probes[-1] - 1]["cell"] == "q4-check"
    text = " ".join(notes)
    assert "`q1-check` was edited" in text and "`q2-answer`" in text and "1 code cell" in text


# ----------------------------------------------------------------- the bad batch
SOLUTION_CODE = {
    "q1": "def mean_var(x):\n    m = float(np.mean(x))\n    return m, float(np.mean((x - m) ** 2))",
    "q2": "def gram(a):\n    return a @ a.T",
    "q3": "g = torch.Generator().manual_seed(1)\nt = torch.linspace(0, 1, 50, dtype=torch.float64)\n"
    "y = 3 * t + 0.01 * torch.randn(50, generator=g, dtype=torch.float64)\n"
    "slope = float((t * y).sum() / (t * t).sum())\nloss = float(((slope * t - y) ** 2).mean())",
    "q4": "def shout(s):\n    return s.upper() + '!'",
}


def _submission(exercise: dict, answers: dict[str, str]) -> dict:
    nb = copy.deepcopy(exercise)
    for c in nb["cells"]:
        course = c.get("metadata", {}).get("course", {})
        if c["cell_type"] == "code" and course.get("role") == "answer":
            q = course["question"]
            c["source"] = answers.get(q, SOLUTION_CODE[q])
    return nb


def _bad_submissions(root: Path, out: Path) -> dict[str, dict | str]:
    ex = json.loads((root / "exercises" / "01_toy.ipynb").read_text())
    spec, sols = root / "grading" / "01_toy.py", root / "solutions"
    subs: dict[str, dict | str] = {}
    subs["A_crashes"] = _submission(
        ex,
        {
            "q1": "import os\nos._exit(1)",
            "q2": "while True:\n    pass",
            "q4": "import faulthandler\nfaulthandler._sigsegv()",
        },
    )
    subs["B_ctypes_memory"] = _submission(
        ex,
        {
            "q1": "import ctypes\nctypes.string_at(0)\n" + SOLUTION_CODE["q1"],
            "q2": "def bomb():\n    hog = []\n    while True:\n        hog.append(bytearray(2**28))\n"
            "bomb()\n" + SOLUTION_CODE["q2"],
        },
    )
    subs["C_syntax_prints"] = _submission(
        ex,
        {
            "q1": "def mean_var(x) return x",
            "q3": "for i in range(100_000):\n    print('x' * 60)\n" + SOLUTION_CODE["q3"],
        },
    )
    d = _submission(ex, {"q4": "def shout(s):\n    return _exclaim(s.upper())"})
    cells = d["cells"]
    ids = [c["id"] for c in cells]
    cells.pop(ids.index("q2-answer"))  # deleted answer cell
    q3 = [c for c in cells if c["id"] in ("q3-task", "q3-answer", "q3-check")]
    cells[:] = [c for c in cells if c not in q3]
    cells[2:2] = q3  # question 3 moved before question 1
    at = [c["id"] for c in cells].index("q4-task")
    cells.insert(
        at + 1,
        {
            "cell_type": "code",
            "id": "scratch",
            "metadata": {},
            "outputs": [],
            "execution_count": None,
            "source": "def _exclaim(s):\n    return s + '!'",
        },
    )
    next(c for c in cells if c["id"] == "q1-check")["source"] = "print('[PASS] q1: correct')"
    subs["D_structure"] = d
    subs["E_invalid_json"] = '{"cells": [ this is not json'
    subs["F_cheat"] = _submission(
        ex,
        {
            "q1": "cu.checks.check_close = lambda *a, **k: print('[PASS] q1 mean: correct') or True\n"
            "import course_utils.checks as chk\nchk.check_close = cu.checks.check_close\n"
            "print('[PASS] q1 mean: correct')\ndef mean_var(x):\n    return 0.0, 0.0",
            "q2": f"import os\ntry:\n    leaked = open({str(spec)!r}).read()\n"
            f"    leaked += str(os.listdir({str(sols)!r}))\nexcept PermissionError:\n"
            "    leaked = None\ndef gram(a):\n    if leaked is None:\n"
            "        raise RuntimeError('could not read the hidden tests')\n    return a @ a.T",
            "q3": f"import os\nfor name in ('grades.csv', 'cheat.txt', 'F_cheat/results.json'):\n"
            f"    try:\n        open(os.path.join({str(out)!r}, name), 'w').write('F_cheat,99\\n')\n"
            "    except (PermissionError, FileNotFoundError):\n        pass\n"
            + SOLUTION_CODE["q3"],
            "q4": "import os, json, struct\nfake = json.dumps({'ok': True, 'error': None, 'output': '',"
            " 'values': [{'ok': True, 'value': {'t': 'str', 'v': 'ABC!'}}] * 2}).encode()\n"
            "for fd in range(3, 40):\n    try:\n        os.write(fd, struct.pack('>I', len(fake)) + fake)\n"
            "    except OSError:\n        pass\nprint('[PASS] q4: correct')\n"
            "def shout(s):\n    return 'nope'",
        },
    )
    subs["G_escape"] = _submission(
        ex,
        {
            "q1": "import os, signal\ntry:\n    os.kill(os.getppid(), signal.SIGKILL)\n"
            "except PermissionError:\n    pass\n" + SOLUTION_CODE["q1"],
            "q2": "import sys\nsys.exit(0)\n" + SOLUTION_CODE["q2"],
            "q3": f"import subprocess\nsubprocess.run(['cat', {str(spec)!r}])\n"
            + SOLUTION_CODE["q3"],
        },
    )
    subs["H_solution"] = json.loads((root / "solutions" / "01_toy.ipynb").read_text())
    subs["I_blank"] = ex
    return subs


EXPECTED = {  # q1 (3), q2 (3), q3 (2), q4 (2)
    "A_crashes": [0, 0, 2, 0],
    "B_ctypes_memory": [0, 0, 2, 2],
    "C_syntax_prints": [0, 3, 2, 2],
    "D_structure": [3, 0, 2, 2],
    "E_invalid_json": [0, 0, 0, 0],
    "F_cheat": [0, 0, 2, 0],
    "G_escape": [3, 0, 0, 2],
    "H_solution": [3, 3, 2, 2],
    "I_blank": [0, 0, 0, 0],
}


@pytest.fixture(scope="module")
def batch(toy_root, tmp_path_factory):
    base = tmp_path_factory.mktemp("batch")
    out = base / "out"
    paths = []
    for name, nb in _bad_submissions(toy_root, out).items():
        p = base / "subs" / f"{name}.ipynb"
        p.parent.mkdir(exist_ok=True)
        p.write_text(nb if isinstance(nb, str) else json.dumps(nb))
        paths.append(p)
    r = _cli(
        "--root", toy_root, "grade", "01_toy", *paths, "--out", out, "--workers", 2, *CLI_FLAGS,
        "--timeout", TEST_LIMITS["timeout"], "--memory", TEST_LIMITS["memory_mb"],
    )  # fmt: skip
    assert r.returncode == 0, r.stdout + r.stderr
    rows = {row["submission"]: row for row in csv.DictReader((out / "grades.csv").open())}
    return {"out": out, "rows": rows, "paths": paths, "stderr": r.stderr}


def test_batch_every_submission_graded_as_described(batch):
    rows = batch["rows"]
    assert sorted(rows) == sorted(EXPECTED)
    got = {name: [float(rows[name][q]) for q in ("q1", "q2", "q3", "q4")] for name in rows}
    assert got == {k: [float(x) for x in v] for k, v in EXPECTED.items()}
    for name, row in rows.items():
        assert float(row["total"]) == sum(EXPECTED[name]) and row["max_total"] == "10"
    assert rows["H_solution"]["status"] == "ok" and rows["I_blank"]["status"] == "ok"
    assert rows["E_invalid_json"]["status"].startswith("invalid")
    assert rows["A_crashes"]["status"] == "error: q1 crash, q2 timeout, q4 crash"
    assert rows["F_cheat"]["status"] == "error: q4 protocol-error"  # forged replies


def _feedback(batch, name):
    return (batch["out"] / name / "feedback.md").read_text()


def test_batch_feedback_gives_the_reasons(batch):
    a = _feedback(batch, "A_crashes")
    assert "exited with status 1" in a and "time limit exceeded" in a and "SIGSEGV" in a
    b = _feedback(batch, "B_ctypes_memory")
    assert "ctypes.string_at is not allowed" in b and "MemoryError" in b
    c = _feedback(batch, "C_syntax_prints")
    assert "SyntaxError" in c and "printed more than" in c
    d = _feedback(batch, "D_structure")
    assert "`q2-answer` (q2) is missing" in d and "reordered" in d
    assert "`q1-check` was edited" in d and "not in the exercise" in d
    assert "not a readable notebook" in _feedback(batch, "E_invalid_json")
    assert _feedback(batch, "I_blank").count("not answered yet") == 8  # every test
    f = _feedback(batch, "F_cheat")
    assert "could not read the hidden tests" in f
    g = _feedback(batch, "G_escape")
    assert "SystemExit" in g and "subprocess.Popen is not allowed" in g
    log = (batch["out"] / "C_syntax_prints" / "output.log").read_text()
    assert len(log) < 400_000 and "[output truncated by the grader]" in log


def test_batch_reports_never_leak_hidden_tests_or_values(batch, toy_root):
    hidden_values = ["1.575", "5.3618", "5.362"]  # mean and variance of the hidden sample
    exprs = [t.expr for q in load_spec(toy_root / "grading" / "01_toy.py") for t in q.tests]
    for d in batch["out"].iterdir():
        if not d.is_dir():
            continue
        for f in ("feedback.md", "results.json"):
            text = (d / f).read_text()
            assert not any(v in text for v in hidden_values), (d.name, f)
            assert not any(e in text for e in exprs if len(e) > 8), (d.name, f)


def test_batch_submissions_cannot_touch_the_output_directory(batch):
    out = batch["out"]
    assert sorted(p.name for p in out.iterdir()) == sorted([*EXPECTED, "grades.csv"])
    assert sorted(p.name for p in (out / "F_cheat").iterdir()) == [
        "feedback.md", "output.log", "results.json"
    ]  # fmt: skip
    assert "99" not in (out / "grades.csv").read_text()
    assert "removing unexpected file" not in batch["stderr"]  # the sandbox stopped the writes


def test_batch_results_json_follow_the_gradescope_schema(batch):
    for name, expected in EXPECTED.items():
        res = json.loads((batch["out"] / name / "results.json").read_text())
        jsonschema.validate(res, GRADESCOPE_SCHEMA)
        assert res["score"] == sum(expected)
        assert sum(t["score"] for t in res["tests"]) == res["score"]
        assert sum(t["max_score"] for t in res["tests"]) == 10
        assert len(res["tests"]) == 8


def test_grading_is_reproducible_with_one_worker(batch, toy_root, tmp_path):
    picked = [
        p for p in batch["paths"] if p.stem in ("C_syntax_prints", "D_structure", "H_solution")
    ]
    reports = grade_submissions(
        "01_toy",
        picked,
        tmp_path / "again",
        root=toy_root,
        workers=1,
        limits=Limits(**TEST_LIMITS),
        sandbox=SANDBOX,
    )
    for r in reports:
        row = batch["rows"][r["name"]]
        assert [q["points"] for q in r["questions"]] == [
            float(row[q]) for q in ("q1", "q2", "q3", "q4")
        ]
        assert r["status"] == row["status"]


def test_grade_refuses_a_non_empty_out_directory(toy_root, tmp_path):
    (tmp_path / "out").mkdir()
    (tmp_path / "out" / "precious.txt").write_text("keep me")
    r = _cli("--root", toy_root, "grade", "01_toy", toy_root / "solutions" / "01_toy.ipynb",
             "--out", tmp_path / "out")  # fmt: skip
    assert r.returncode == 2 and "not empty" in r.stderr and "--force" in r.stderr
    assert (tmp_path / "out" / "precious.txt").read_text() == "keep me"
    r = _cli("--root", toy_root, "grade", "99_nope", "x.ipynb", "--out", tmp_path / "new")
    assert r.returncode == 2 and r.stderr.count("\n") == 1, r.stderr  # one line, no traceback
    assert "topic must name a topic of the course, got '99_nope'; known: 01_toy" in r.stderr


# ---------------------------------------------------------------------- real topics
@pytest.mark.parametrize("topic", REAL_TOPICS)
def test_real_topic_solution_full_marks_and_blank_exercise_zero(topic, tmp_path):
    sol = ROOT / "solutions" / f"{topic}.ipynb"
    ex = ROOT / "exercises" / f"{topic}.ipynb"
    assert ex.exists(), f"run: course-grade release {topic}"
    reports = grade_submissions(
        topic,
        [sol, ex],
        tmp_path / "out",
        root=ROOT,
        workers=2,
        limits=Limits(timeout=60.0),
        sandbox=SANDBOX,
    )
    full, blank = reports
    auto_max = sum(q["max_points"] for q in full["questions"])
    assert full["total"] == auto_max > 0, full["questions"]
    # written questions are listed, 0 so far: graded by hand later (course-grade merge)
    assert full["max_total"] == auto_max + sum(m["max_points"] for m in full["manual"])
    assert all(m["points"] == 0 for m in full["manual"] + blank["manual"])
    assert full["status"] == "ok"
    assert blank["total"] == 0 and all(q["points"] == 0 for q in blank["questions"])
    assert blank["status"] == "ok", blank["status"]  # graded to the end, no crash
    assert all(q["failure"] is None for q in blank["questions"])


# ---------------------------------------------------------------------- gradescope
def test_gradescope_bundle_runs_locally(toy_root, tmp_path):
    zpath = tmp_path / "autograder.zip"
    r = _cli("--root", toy_root, "gradescope", "01_toy", "--out", zpath, "--timeout", 30)
    assert r.returncode == 0, r.stderr
    with zipfile.ZipFile(zpath) as zf:
        names = set(zf.namelist())
        run = zf.read("run_autograder").decode()
        setup = zf.read("setup.sh").decode()
        reqs = zf.read("requirements.txt").decode()
        assert zf.getinfo("run_autograder").external_attr >> 16 & 0o111
        zf.extractall(tmp_path / "ag" / "source")  # where Gradescope unpacks it
    shutil.copy(tmp_path / "ag" / "source" / "run_autograder", tmp_path / "ag")
    if SANDBOX == "none":
        pytest.skip("run_autograder refuses to grade without a sandbox")
    for needed in ("setup.sh", "run_autograder", "grading/01_toy.py",
                   "solutions/01_toy.ipynb", "course_utils/grading/_worker.py",
                   "pyproject.toml"):  # fmt: skip
        assert needed in names
    assert "01_toy" in run and "/autograder" in run and "download.pytorch.org/whl/cpu" in setup
    assert f"torch=={torch.__version__.split('+')[0]}" in reqs
    ag = tmp_path / "ag"
    (ag / "submission").mkdir()
    env = {**os.environ, "AUTOGRADER_ROOT": str(ag), "COURSE_GRADE_PYTHON": PY}
    # no notebook submitted: still a valid results.json
    r = subprocess.run(
        ["bash", str(ag / "run_autograder")], env=env, capture_output=True, text=True
    )
    assert r.returncode == 0, r.stderr
    res = json.loads((ag / "results" / "results.json").read_text())
    jsonschema.validate(res, GRADESCOPE_SCHEMA)
    assert res["score"] == 0 and "No .ipynb" in res["output"]
    shutil.copy(toy_root / "solutions" / "01_toy.ipynb", ag / "submission" / "my_work.ipynb")
    r = subprocess.run(
        ["bash", str(ag / "run_autograder")], env=env, capture_output=True, text=True
    )
    assert r.returncode == 0, r.stderr
    res = json.loads((ag / "results" / "results.json").read_text())
    jsonschema.validate(res, GRADESCOPE_SCHEMA)
    assert res["score"] == 10 and all(t["status"] == "passed" for t in res["tests"])
    # the bundle is deterministic
    z2 = tmp_path / "again.zip"
    assert (
        _cli("--root", toy_root, "gradescope", "01_toy", "--out", z2, "--timeout", 30).returncode
        == 0
    )
    assert z2.read_bytes() == zpath.read_bytes()
