"""Student-facing checks: compare an answer with a reference and print a short verdict.

Every check prints one line that starts with ``[PASS]`` or ``[FAIL]`` and returns a
bool. It never raises because of the *answer*: an answer that is missing, raises, has
the wrong shape or contains NaN gives a friendly ``[FAIL]`` line saying what to do.
Bad arguments from the notebook author (a negative tolerance, say) do raise.

Pass the answer as a zero-argument callable (``lambda: my_function(x)``) so that a
missing or broken answer is reported instead of stopping the cell with a traceback:

>>> ok = check_close("q0 mean", lambda: 2.0 + 1e-12, 2.0)
[PASS] q0 mean: correct (within rtol=1e-06, atol=1e-08)
>>> ok = check_close("q0 mean", lambda: 2.5, 2.0, hint="divide by N")
[FAIL] q0 mean: expected 2 (rtol=1e-06, atol=1e-08), got 2.5. Hint: divide by N
"""

from __future__ import annotations

import math
from collections.abc import Callable
from typing import Any

import numpy as np

__all__ = ["check_close", "check_true", "check_equal", "evaluate_answer", "to_numpy"]

PASS = "[PASS]"
FAIL = "[FAIL]"


class _AnswerError(Exception):
    """The answer could not be evaluated; the message is meant for the student."""


def to_numpy(value: Any) -> np.ndarray:
    """Convert a number, list, NumPy array or torch tensor to a float64 NumPy array.

    Raises:
        TypeError: if the value is not numeric (the message names its type).
    """
    if hasattr(value, "detach") and hasattr(value, "cpu"):  # torch.Tensor without importing torch
        value = value.detach().cpu().numpy()
    try:
        arr = np.asarray(value, dtype=np.float64)
    except (TypeError, ValueError) as exc:
        raise TypeError(f"expected a number or an array, got {type(value).__name__}") from exc
    return arr


def evaluate_answer(answer: Any) -> Any:
    """Call ``answer`` if it is callable and turn failures into student-facing messages."""
    if not callable(answer):
        return answer
    try:
        return answer()
    except NotImplementedError:
        raise _AnswerError(
            "not answered yet: replace the `raise NotImplementedError` line in the answer "
            "cell above with your code, run that cell, then run this check again"
        ) from None
    except NameError as exc:
        raise _AnswerError(
            f"{exc}: run the answer cell above (and the cells before it) first"
        ) from None
    except Exception as exc:  # the student's code failed: report it in one line
        raise _AnswerError(f"your code raised {type(exc).__name__}: {exc}") from None


def _fmt(arr: np.ndarray) -> str:
    if arr.ndim == 0:
        return f"{float(arr):.6g}"
    if arr.size <= 6:
        return np.array2string(arr, precision=4, separator=", ")
    return f"array of shape {arr.shape}"


def _report(name: str, ok: bool, message: str) -> bool:
    print(f"{PASS if ok else FAIL} {name}: {message}")
    return ok


def _check_tolerances(rtol: float, atol: float) -> None:
    for label, tol in (("rtol", rtol), ("atol", atol)):
        if not (isinstance(tol, (int, float)) and math.isfinite(tol) and tol >= 0):
            raise ValueError(f"{label} must be a finite number >= 0, got {tol!r}")


def check_close(
    name: str,
    answer: Any,
    expected: Any,
    *,
    rtol: float = 1e-6,
    atol: float = 1e-8,
    hint: str | None = None,
) -> bool:
    """Check that a numeric answer matches ``expected`` elementwise within tolerance.

    The test is NumPy's ``|answer - expected| <= atol + rtol * |expected|``, on arrays of
    the same shape (a scalar and a shape-() array count as the same shape).

    Args:
        name: short label printed with the verdict, e.g. ``"q2 sigma_hat"``.
        answer: the student's value, or a zero-argument callable returning it.
        expected: the reference value (number, list, array or tensor).
        rtol, atol: relative and absolute tolerance (>= 0).
        hint: one sentence printed when the answer is wrong.

    Returns:
        True when the answer passes.
    """
    _check_tolerances(rtol, atol)
    exp = to_numpy(expected)
    tol = f"rtol={rtol:g}, atol={atol:g}"
    try:
        got = to_numpy(evaluate_answer(answer))
    except (_AnswerError, TypeError) as exc:
        return _report(name, False, str(exc))
    if got.shape != exp.shape:
        return _report(name, False, f"expected shape {exp.shape}, got shape {got.shape}")
    if not np.all(np.isfinite(got)):
        return _report(name, False, "your answer contains NaN or infinity")
    if np.allclose(got, exp, rtol=rtol, atol=atol):
        return _report(name, True, f"correct (within {tol})")
    message = f"expected {_fmt(exp)} ({tol}), got {_fmt(got)}"
    if exp.ndim > 0:
        worst = int(np.argmax(np.abs(got - exp) - rtol * np.abs(exp)))
        idx = np.unravel_index(worst, exp.shape)
        message += f"; largest miss at index {tuple(int(i) for i in idx)}"
    if hint:
        message += f". Hint: {hint}"
    return _report(name, False, message)


def check_equal(name: str, answer: Any, expected: Any, *, hint: str | None = None) -> bool:
    """Check exact equality of a plain value (int, str, bool, tuple, ...)."""
    try:
        got = evaluate_answer(answer)
    except _AnswerError as exc:
        return _report(name, False, str(exc))
    try:
        ok = bool(got == expected)
    except Exception:  # e.g. an array compared with a scalar
        ok = False
    if ok:
        return _report(name, True, "correct")
    message = f"expected {expected!r}, got {got!r}"
    if hint:
        message += f". Hint: {hint}"
    return _report(name, False, message)


def check_true(
    name: str, condition: bool | Callable[[], Any], requirement: str, *, hint: str | None = None
) -> bool:
    """Check a property of the answer; ``requirement`` says in words what must hold.

    >>> ok = check_true("q3 symmetric", lambda: True, "the matrix must equal its transpose")
    [PASS] q3 symmetric: the matrix must equal its transpose
    """
    try:
        ok = bool(evaluate_answer(condition))
    except _AnswerError as exc:
        return _report(name, False, str(exc))
    except Exception as exc:  # bool() of an array, for example
        return _report(name, False, f"could not evaluate the condition ({exc})")
    message = requirement if ok else f"not yet: {requirement}"
    if hint and not ok:
        message += f". Hint: {hint}"
    return _report(name, ok, message)
