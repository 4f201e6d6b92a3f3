"""Visible checks never reveal the answer.

For every released exercise, collect the reference answer's values: the numbers the
solution's answer cells print (their committed outputs) and the literal values the
solution code assigns between ``### BEGIN SOLUTION`` / ``### END SOLUTION`` (numbers with
at least three significant digits, dict/list/tuple literals). Then fail if any of them
appears in a check cell of the exercise. Numbers already given in the task text or in a
locked cell are public and do not count.
"""

from __future__ import annotations

import ast
import json
import re
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
TOPICS = sorted(p.stem for p in (ROOT / "exercises").glob("*.ipynb"))
NUMBER = re.compile(r"(?<![\w.])-?\d+\.\d+(?:[eE][-+]?\d+)?|(?<![\w.])-?\d{3,}(?![\w.])")
SOLUTION = re.compile(r"#+\s*BEGIN SOLUTION(.*?)#+\s*END SOLUTION", re.S)


def _cells(path: Path) -> list[dict]:
    return json.loads(path.read_text())["cells"]


def _src(cell: dict) -> str:
    s = cell.get("source", "")
    return "".join(s) if isinstance(s, list) else s


def _role(cell: dict) -> str | None:
    return cell.get("metadata", {}).get("course", {}).get("role")


def _significant(text: str) -> bool:
    digits = text.lstrip("-").replace(".", "").split("e")[0].split("E")[0].strip("0")
    return len(digits) >= 3


def _numbers(text: str) -> set[str]:
    return {m for m in NUMBER.findall(text) if _significant(m)}


def _canon(text: str) -> str:
    """A number written canonically (so 0.7071 and 0.70710 compare equal)."""
    try:
        return repr(float(text))[:8]
    except ValueError:
        return text


def _literal_nodes(code: str) -> set[str]:
    """Dict, list and tuple literals holding only constants, by value (``repr``)."""
    out = set()
    try:
        tree = ast.parse(code)
    except SyntaxError:
        return out
    for node in ast.walk(tree):
        if isinstance(node, (ast.Dict, ast.List, ast.Tuple)):
            try:
                value = ast.literal_eval(node)
            except ValueError:
                continue
            flat = list(value.values()) if isinstance(value, dict) else list(value)
            trivial = not isinstance(value, dict) and all(
                isinstance(v, (int, float)) and v in (-1, 0, 1) for v in flat
            )
            if len(flat) >= 2 and not trivial:
                out.add(repr(value))
    return out


def _literals(code: str) -> set[str]:
    """Literal structures in the solution regions of ``code``."""
    out = set()
    for region in SOLUTION.findall(code):
        out |= _literal_nodes("\n".join(line.strip() for line in region.splitlines()))
    return out


def _printed_literals(text: str) -> set[str]:
    """Printed Python values (one per line) such as ``{'ot': True, 'vp': False}``."""
    out = set()
    for line in text.splitlines():
        line = line.split(":", 1)[1] if re.match(r"^[\w ]+: [\[{(]", line) else line
        out |= _literal_nodes(line.strip())
    return out


def reference_values(topic: str) -> tuple[set[str], set[str]]:
    """(numbers, literal structures) of the reference answer of ``topic``."""
    numbers, literals = set(), set()
    for cell in _cells(ROOT / "solutions" / f"{topic}.ipynb"):
        if cell["cell_type"] != "code" or _role(cell) != "answer":
            continue
        for out in cell.get("outputs", []):
            text = "".join(out.get("text", "")) + "".join(out.get("data", {}).get("text/plain", ""))
            numbers |= _numbers(text)
            literals |= _printed_literals(text)
        for region in SOLUTION.findall(_src(cell)):
            numbers |= _numbers(region)
        literals |= _literals(_src(cell))
    return numbers, literals


def leaks(topic: str) -> list[str]:
    """What of the reference answer appears in the exercise's check cells."""
    numbers, literals = reference_values(topic)
    cells = _cells(ROOT / "exercises" / f"{topic}.ipynb")
    public, public_literals = set(), set()
    for cell in cells:
        if _role(cell) != "check":
            public |= {_canon(n) for n in _numbers(_src(cell))}
            if cell["cell_type"] == "code":
                public_literals |= _literal_nodes(_src(cell))
    secret = {_canon(n) for n in numbers} - public
    found = []
    for cell in cells:
        if _role(cell) != "check":
            continue
        src = _src(cell)
        for n in _numbers(src):
            if _canon(n) in secret:
                found.append(f"{cell.get('id')}: the number {n} of the reference answer")
        for lit in _literal_nodes(src) & (literals - public_literals):
            found.append(f"{cell.get('id')}: the literal {lit} of the reference answer")
    return found


@pytest.mark.parametrize("topic", TOPICS)
def test_check_cells_do_not_contain_the_answer(topic):
    assert not leaks(topic), "\n".join(leaks(topic))


def test_the_scan_finds_a_planted_leak(tmp_path, monkeypatch):
    """The scan is able to fail: plant 07 q2b's old check (the expected dict) and 04's u1."""
    import test_exercise_checks as me

    fake = tmp_path / "exercises"
    fake.mkdir()
    sols = tmp_path / "solutions"
    sols.mkdir()
    (sols / "04_svd.ipynb").symlink_to(ROOT / "solutions" / "04_svd.ipynb")
    sol07 = json.loads((ROOT / "solutions" / "07_flow_matching.ipynb").read_text())
    answer = next(c for c in sol07["cells"] if c.get("id") == "q2-answer")
    answer["outputs"] = [  # what the answer cell printed before the fix
        {
            "output_type": "stream",
            "name": "stdout",
            "text": "{'ot': True, 'vp': False, 've': True}\n",
        }
    ]
    (sols / "07_flow_matching.ipynb").write_text(json.dumps(sol07))
    nb07 = json.loads((ROOT / "exercises" / "07_flow_matching.ipynb").read_text())
    check = next(c for c in nb07["cells"] if c.get("id") == "q2-check")
    check["source"] = _src(check) + '\nassert straight == {"ot": True, "vp": False, "ve": True}\n'
    (fake / "07_flow_matching.ipynb").write_text(json.dumps(nb07))
    nb04 = json.loads((ROOT / "exercises" / "04_svd.ipynb").read_text())
    check = next(c for c in nb04["cells"] if c.get("id") == "q1-check")
    check["source"] = _src(check) + "\nu1_ref = torch.tensor([3.0, 9.0]) / 90**0.5\n"
    (fake / "04_svd.ipynb").write_text(json.dumps(nb04))
    monkeypatch.setattr(me, "ROOT", tmp_path)
    assert any("'vp': False" in x for x in me.leaks("07_flow_matching"))
    assert any("[3.0, 9.0]" in x for x in me.leaks("04_svd"))
