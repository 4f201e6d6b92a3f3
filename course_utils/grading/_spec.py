"""Hidden grading specs (``grading/NN_topic.py``) and the grader-side comparison.

The spec is instructor code, loaded only in the grader process. Comparisons run here
on plain data (see ``_worker.to_plain``): the student's kernel never sees expected
values, bounds or tolerances.
"""

from __future__ import annotations

import math
import runpy
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

__all__ = ["TestSpec", "QuestionSpec", "load_spec", "compare", "decode"]

_KINDS = ("close", "equal", "max", "min")


@dataclass(frozen=True)
class TestSpec:
    """One hidden test: an expression evaluated in the student's namespace."""

    __test__ = False  # not a pytest class, despite the name

    name: str
    points: float
    expr: str
    kind: str = "close"
    rtol: float = 1e-6
    atol: float = 1e-8
    bound: float | None = None
    expects: str = ""


@dataclass(frozen=True)
class QuestionSpec:
    """A question: its id (``q1``), title, points and tests."""

    id: str
    title: str
    points: float
    tests: tuple[TestSpec, ...] = field(default_factory=tuple)


def _number(value: Any, what: str, *, positive: bool = False) -> float:
    if isinstance(value, bool) or not isinstance(value, (int, float)) or not math.isfinite(value):
        raise ValueError(f"{what} must be a finite number, got {value!r}")
    if value < 0 or (positive and value == 0):
        raise ValueError(f"{what} must be {'> 0' if positive else '>= 0'}, got {value!r}")
    return float(value)


def load_spec(path: str | Path) -> list[QuestionSpec]:
    """Load and validate a hidden spec file.

    Raises:
        ValueError: with the file name and the offending entry, if the spec is malformed
            (missing keys, unknown kind, points that do not add up, an ``expr`` that is
            not a Python expression, duplicate ids, ...).
    """
    path = Path(path)
    try:
        data = runpy.run_path(str(path))
    except Exception as exc:
        raise ValueError(f"{path}: could not be loaded ({type(exc).__name__}: {exc})") from None
    raw = data.get("QUESTIONS")
    if not isinstance(raw, list) or not raw:
        raise ValueError(f"{path}: QUESTIONS must be a non-empty list of dicts")
    questions: list[QuestionSpec] = []
    for qi, q in enumerate(raw):
        questions.append(_question(q, f"{path}: QUESTIONS[{qi}]", path, questions))
    return questions


def _question(q: Any, where: str, path: Path, before: list[QuestionSpec]) -> QuestionSpec:
    """One validated entry of ``QUESTIONS`` (``before``: the entries above it)."""
    if not isinstance(q, dict):
        raise ValueError(f"{where} must be a dict, got {type(q).__name__}")
    qid = q.get("id")
    if not isinstance(qid, str) or not qid:
        raise ValueError(f"{where}: 'id' must be a non-empty string like 'q1'")
    if qid in {b.id for b in before}:
        raise ValueError(f"{where}: duplicate question id {qid!r}")
    where = f"{path}: question {qid}"
    points = _number(q.get("points"), f"{where}: 'points'", positive=True)
    tests_raw = q.get("tests")
    if not isinstance(tests_raw, list) or not tests_raw:
        raise ValueError(f"{where}: 'tests' must be a non-empty list")
    tests: list[TestSpec] = []
    for ti, t in enumerate(tests_raw):
        tests.append(_test(t, f"{where}, tests[{ti}]", {x.name for x in tests}))
    total = sum(t.points for t in tests)
    if not math.isclose(total, points, rel_tol=1e-9, abs_tol=1e-9):
        raise ValueError(f"{where}: 'points' is {points:g} but its tests add up to {total:g}")
    title = q.get("title", qid)
    if not isinstance(title, str):
        raise ValueError(f"{where}: 'title' must be a string")
    return QuestionSpec(id=qid, title=title, points=points, tests=tuple(tests))


_TEST_KEYS = {"name", "points", "expr", "kind", "rtol", "atol", "bound", "expects"}


def _test(t: Any, tw: str, names: set[str]) -> TestSpec:
    """One validated test (``names``: the question's test names so far)."""
    if not isinstance(t, dict):
        raise ValueError(f"{tw} must be a dict")
    unknown = set(t) - _TEST_KEYS
    if unknown:
        raise ValueError(f"{tw}: unknown key(s) {sorted(unknown)}")
    name = t.get("name")
    if not isinstance(name, str) or not name:
        raise ValueError(f"{tw}: 'name' must be a non-empty string")
    if name in names:
        raise ValueError(f"{tw}: duplicate test name {name!r}")
    expr = t.get("expr")
    if not isinstance(expr, str):
        raise ValueError(f"{tw}: 'expr' must be a string")
    try:
        compile(expr, "<probe>", "eval")
    except SyntaxError as exc:
        raise ValueError(f"{tw}: 'expr' is not a Python expression ({exc.msg})") from None
    kind, bound = _kind_and_bound(t, tw)
    expects = t.get("expects", "")
    if not isinstance(expects, str):
        raise ValueError(f"{tw}: 'expects' must be a string")
    return TestSpec(
        name=name,
        points=_number(t.get("points"), f"{tw}: 'points'", positive=True),
        expr=expr,
        kind=kind,
        rtol=_number(t.get("rtol", 1e-6), f"{tw}: 'rtol'"),
        atol=_number(t.get("atol", 1e-8), f"{tw}: 'atol'"),
        bound=bound,
        expects=expects,
    )


def _kind_and_bound(t: dict, tw: str) -> tuple[str, float | None]:
    kind = t.get("kind", "close")
    if kind not in _KINDS:
        raise ValueError(f"{tw}: 'kind' must be one of {', '.join(_KINDS)}, got {kind!r}")
    bound = t.get("bound")
    if kind in ("max", "min"):
        if isinstance(bound, bool) or not isinstance(bound, (int, float)):
            raise ValueError(f"{tw}: kind {kind!r} needs a numeric 'bound'")
        return kind, float(bound)
    if bound is not None:
        raise ValueError(f"{tw}: 'bound' only applies to kinds 'max' and 'min'")
    return kind, None


# ------------------------------------------------------------------------------ compare
class _Bad(Exception):
    """The student's plain value is not usable for this test (message for feedback)."""


# noqa reason: one flat dispatch on the plain format's tag, a line per type: the format's
# definition read top to bottom (splitting it would scatter that definition)
def decode(plain: Any) -> Any:  # noqa: C901
    """Plain data -> Python/NumPy value (``array`` entries become ndarrays).

    Raises:
        ValueError: if ``plain`` is not well-formed plain data (a corrupted reply).
    """
    if not isinstance(plain, dict) or "t" not in plain:
        raise ValueError("malformed value")
    t = plain["t"]
    v = plain.get("v")
    if t == "none":
        return None
    if t == "bool" and isinstance(v, bool):
        return v
    if t == "int" and isinstance(v, int) and not isinstance(v, bool):
        return v
    if t == "float" and isinstance(v, (int, float)) and not isinstance(v, bool):
        return float(v)
    if t == "complex" and isinstance(v, list) and len(v) == 2:
        return complex(float(v[0]), float(v[1]))
    if t == "str" and isinstance(v, str):
        return v
    if t in ("list", "tuple") and isinstance(v, list):
        items = [decode(x) for x in v]
        return items if t == "list" else tuple(items)
    if t == "dict" and isinstance(v, dict):
        return {str(k): decode(x) for k, x in v.items()}
    if t == "array" and isinstance(v, list):
        return _decode_array(plain, v)
    if t == "other":
        return _Other(str(plain.get("type", "?")))
    raise ValueError("malformed value")


def _decode_array(plain: dict, v: list) -> np.ndarray:
    shape = plain.get("shape")
    if not isinstance(shape, list) or not all(isinstance(s, int) and s >= 0 for s in shape):
        raise ValueError("malformed array shape")
    kind = plain.get("dtype")
    dtype = {"b": bool, "i": np.int64, "u": np.int64, "f": np.float64, "c": np.complex128}
    if kind not in dtype:
        raise ValueError("malformed array dtype")
    if kind == "c":
        flat = np.array([complex(a, b) for a, b in v], dtype=np.complex128)
    else:
        flat = np.array(v, dtype=dtype[kind])
    if flat.size != math.prod(shape):
        raise ValueError("array size does not match its shape")
    return flat.reshape(shape)


@dataclass(frozen=True)
class _Other:
    type: str


def _describe(value: Any) -> str:
    """Short, safe description of a STUDENT value for feedback."""
    if isinstance(value, _Other):
        return f"an object of type {value.type}"
    if isinstance(value, np.ndarray):
        if value.ndim == 0 or value.size == 1 and value.ndim <= 1:
            return f"an array of shape {tuple(value.shape)} ({value.ravel()[0]!r})"
        return f"an array of shape {tuple(value.shape)}"
    if isinstance(value, (list, tuple)):
        return f"a {type(value).__name__} of length {len(value)}"
    if isinstance(value, str):
        return f"the string {value[:60]!r}" + ("..." if len(value) > 60 else "")
    if isinstance(value, float):
        return f"{value:.6g}"
    return repr(value)[:80]


def _numeric(value: Any) -> np.ndarray:
    if isinstance(value, _Other) or value is None or isinstance(value, (str, dict)):
        raise _Bad(f"expected a number or an array, got {_describe(value)}")
    try:
        arr = np.asarray(value)
        if arr.dtype == object or arr.dtype.kind not in "biufc":
            raise ValueError
        return arr.astype(np.complex128 if arr.dtype.kind == "c" else np.float64)
    except (ValueError, TypeError):
        raise _Bad(f"expected a number or an array, got {_describe(value)}") from None


def _equal(a: Any, b: Any) -> bool:
    if isinstance(a, np.ndarray) or isinstance(b, np.ndarray):
        if not (isinstance(a, np.ndarray) and isinstance(b, np.ndarray)):
            return False
        return a.shape == b.shape and bool(np.array_equal(a, b))
    if isinstance(a, (list, tuple)) and isinstance(b, (list, tuple)):
        return len(a) == len(b) and all(_equal(x, y) for x, y in zip(a, b, strict=True))
    if isinstance(a, dict) and isinstance(b, dict):
        return a.keys() == b.keys() and all(_equal(a[k], b[k]) for k in a)
    if isinstance(a, _Other) or isinstance(b, _Other):
        return False
    if isinstance(a, bool) != isinstance(b, bool):
        return False
    if type(a) is not type(b) and not (isinstance(a, (int, float)) and isinstance(b, (int, float))):
        return False
    return bool(a == b)


def compare(test: TestSpec, got_plain: Any, expected_plain: Any) -> tuple[bool, str]:
    """Compare a student's plain value with the solution's, in the grader process.

    Returns:
        ``(passed, message)``; the message is safe to show the student: it describes
        what was expected (``expects``, the kind, the tolerance) and what the student's
        value looks like, never the expected value or the test expression.
    """
    try:
        got = decode(got_plain)
    except ValueError:
        return False, "the value could not be read back from your kernel"
    try:
        if test.kind == "close":
            return _close(test, got, decode(expected_plain))
        if test.kind == "equal":
            if _equal(got, decode(expected_plain)):
                return True, "correct"
            raise _Bad(f"not equal to the expected value; your value: {_describe(got)}")
        return _bounded(test, got)
    except _Bad as exc:
        return False, str(exc)


def _close(test: TestSpec, got: Any, expected: Any) -> tuple[bool, str]:
    exp, arr = _numeric(expected), _numeric(got)
    if arr.shape != exp.shape:
        raise _Bad(
            f"expected shape {tuple(exp.shape)}, got {_describe(got)}"
            if exp.ndim
            else f"expected a single number, got {_describe(got)}"
        )
    if not np.all(np.isfinite(arr)):
        raise _Bad("your value contains NaN or infinity")
    if not np.allclose(arr, exp, rtol=test.rtol, atol=test.atol):
        raise _Bad(
            f"not within tolerance (rtol={test.rtol:g}, atol={test.atol:g}); "
            f"your value: {_describe(got)}"
        )
    return True, f"correct (within rtol={test.rtol:g}, atol={test.atol:g})"


def _bounded(test: TestSpec, got: Any) -> tuple[bool, str]:
    arr = _numeric(got)
    if arr.dtype.kind == "c":
        raise _Bad("expected real numbers, got complex ones")
    if arr.size == 0 or not np.all(np.isfinite(arr)):
        raise _Bad("your value is empty or contains NaN or infinity")
    if test.kind == "max" and not np.all(arr <= test.bound):
        raise _Bad(f"must be <= {test.bound:g}; your value: {_describe(got)}")
    if test.kind == "min" and not np.all(arr >= test.bound):
        raise _Bad(f"must be >= {test.bound:g}; your value: {_describe(got)}")
    return True, f"correct ({'<=' if test.kind == 'max' else '>='} {test.bound:g})"
