"""Hidden tests that a constant passes are defects (issue 17, item 4).

For every question of every topic, the solution runs once; right after a question's
own probes, each of its answer cells is replaced in turn by stub answers, the
question's check cells run again, the question's hidden expressions are evaluated,
and the original definitions are put back. Every stub must score zero on its question:

* ``zero`` / ``one``: every function returns the constant, every variable is the constant;
* ``zeros_like``: every function returns zeros shaped like its first argument;
* ``echo``: every function returns its first argument unchanged;
* ``replay``: every function returns, whatever it is asked, the value of its first
  call, i.e. what the solution gives on the public check's inputs.

Variables set by an answer cell are 1 in the ``one`` stub and 0 in all others.

The names a stub replaces come from the solution's answer cells (top-level ``def``,
``class`` and assignments), so a new question is covered without editing this file.
"""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

from course_utils.grading._assemble import assemble
from course_utils.grading._kernel import Limits, run_program
from course_utils.grading._release import topics
from course_utils.grading._sandbox import SandboxError, make_launcher, select_launcher
from course_utils.grading._spec import compare
from course_utils.grading._topic import Topic, cell_source, course_meta

ROOT = Path(__file__).resolve().parents[1]
STUBS = ("zero", "one", "zeros_like", "echo", "replay")


def _defined(code: str) -> tuple[list[str], list[str]]:
    """Top-level function/class names and variable names an answer cell defines."""
    funcs, variables = [], []
    for node in ast.parse(code).body:
        if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef)):
            funcs.append(node.name)
        elif isinstance(node, (ast.Assign, ast.AnnAssign, ast.AugAssign)):
            targets = node.targets if isinstance(node, ast.Assign) else [node.target]
            for t in targets:
                for n in ast.walk(t):
                    if isinstance(n, ast.Name) and n.id not in variables:
                        variables.append(n.id)
    return funcs, variables


def _stub_code(kind: str, funcs: list[str], variables: list[str]) -> str:
    lines = []
    for f in funcs:
        if kind in ("zero", "one"):
            value = "0.0" if kind == "zero" else "1.0"
            lines.append(f"def {f}(*args, **kwargs):\n    return {value}")
        elif kind == "zeros_like":
            lines.append(
                f"def {f}(*args, **kwargs):\n"
                "    x = args[0] if args else 0.0\n"
                "    if isinstance(x, torch.Tensor):\n        return torch.zeros_like(x)\n"
                "    try:\n        return np.zeros_like(np.asarray(x, dtype=float))\n"
                "    except Exception:\n        return 0.0"
            )
        elif kind == "echo":
            lines.append(f"def {f}(*args, **kwargs):\n    return args[0] if args else None")
        elif kind == "replay":
            lines.append(
                f"def {f}(*args, _real={f}, _memo=[], **kwargs):\n"
                "    if not _memo:\n        _memo.append(_real(*args, **kwargs))\n"
                "    return _memo[0]"
            )
    # variables have no inputs to echo or replay: those stubs set them to zero
    lines += [f"{v} = {'1.0' if kind == 'one' else '0.0'}" for v in variables]
    return "import numpy as np\nimport torch\n" + "\n".join(lines) + "\n"


def _program(topic: Topic) -> tuple[list[dict], dict[str, list[str]]]:
    """The solution's program with stub trials after each question's probes."""
    steps, _ = assemble(topic.source, topic.solution, topic.questions)
    by_id = {c["id"]: c for c in topic.solution if isinstance(c.get("id"), str)}
    trials: dict[str, list[str]] = {}
    out: list[dict] = []
    for step in steps:
        out.append(step)
        if step["op"] != "probe":
            continue
        q = step["q"]
        cells = [c for c in topic.source if course_meta(c).get("question") == q]
        answers = [by_id[c["id"]] for c in cells if course_meta(c).get("role") == "answer"]
        checks = [
            c for c in cells if c["cell_type"] == "code" and course_meta(c).get("role") != "answer"
        ]
        funcs, variables = [], []
        for c in answers:
            f, v = _defined(cell_source(c))
            funcs += [x for x in f if x not in funcs]
            variables += [x for x in v if x not in variables and x not in funcs]
        names = funcs + variables
        save = f"__stub_saved = {{n: globals()[n] for n in {names!r} if n in globals()}}"
        for kind in STUBS:
            if kind not in ("zero", "one") and not funcs:
                continue
            key = f"{q}:{kind}"
            trials.setdefault(q, []).append(key)
            seg = step["seg"]
            out.append({"op": "exec", "cell": "stub-save", "code": save, "seg": seg})
            code = _stub_code(kind, funcs, variables)
            out.append({"op": "exec", "cell": f"stub-{kind}", "code": code, "seg": seg})
            for c in checks:  # the public check calls the stubs first (replay)
                out.append({"op": "exec", "cell": c["id"], "code": c["source"], "seg": seg})
            out.append({"op": "probe", "q": key, "exprs": step["exprs"], "seg": seg})
            restore = "globals().update(__stub_saved)"
            out.append({"op": "exec", "cell": "stub-restore", "code": restore, "seg": seg})
    return out, trials


def _launcher():
    try:
        return select_launcher("auto", [])[0]
    except SandboxError:
        return make_launcher("none", [])  # the solution is trusted code


@pytest.mark.parametrize("name", topics(ROOT))
def test_every_stub_answer_scores_zero_on_every_question(name):
    topic = Topic.load(ROOT, name)
    steps, trials = _program(topic)
    limits = Limits(timeout=600, submission_timeout=3000)
    run = run_program(steps, limits, [], _launcher())
    assert not run["failed"], run["failed"]
    defects = []
    for q in topic.questions:
        expected = run["probes"][q.id]
        assert all(v["ok"] for v in expected), (q.id, expected)
        assert trials.get(q.id), f"{name} {q.id}: no stub could be built"
        for key in trials[q.id]:
            got = run["probes"][key]
            for t, g, e in zip(q.tests, got, expected, strict=True):
                if g["ok"] and compare(t, g["value"], e["value"])[0]:
                    defects.append(f"{key} passes {t.name!r} ({t.points:g} points)")
    assert not defects, f"{name}: hidden tests passed by stub answers:\n  " + "\n  ".join(defects)
