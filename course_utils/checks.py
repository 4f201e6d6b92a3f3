"""Student-facing checks: compare an answer with a reference and print a short verdict.

Every check prints one line that starts with ``[PASS]`` or ``[FAIL]`` and returns a
bool. It never raises because of the *answer*: an answer that is missing, raises, has
the wrong shape, contains NaN or None, is text, a bool or complex where a real number is
expected, or is too large for float64 gives a friendly ``[FAIL]`` line saying what to do.
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


class _NotNumericError(TypeError):
    """A value is not a number or an array of numbers; the message is meant for the student."""


_NONE_MESSAGE = "your answer is None - did the function forget to return?"
_CONTAINS_NONE_MESSAGE = "your answer contains None - did a function forget to return?"


def _short(value: Any) -> str:
    text = repr(value)
    return text if len(text) <= 40 else text[:37] + "..."


def _is_tensor(value: Any) -> bool:
    """True for a torch.Tensor (duck-typed, so that torch is not imported here)."""
    return hasattr(value, "detach") and hasattr(value, "cpu") and hasattr(value, "numpy")


def _tensor_to_numpy(value: Any) -> np.ndarray:
    """Detach a tensor (requires_grad, GPU, conj/neg views, half precision) into NumPy."""
    t = value.detach().cpu()
    if t.is_complex():
        t = t.resolve_conj().cdouble()
    elif t.is_floating_point():
        t = t.double()  # float16 / bfloat16 have no (or a lossy) NumPy counterpart
    return t.resolve_neg().numpy()


def _plain(value: Any, flags: set[str]) -> Any:
    """Replace tensors by NumPy arrays inside (nested) lists and tuples.

    ``np.asarray`` would otherwise call ``Tensor.__array__``, which fails for tensors that
    require grad, and it silently turns None into NaN, "2.0" into 2.0 and True into 1.0.
    """
    if _is_tensor(value):
        return _tensor_to_numpy(value)
    if isinstance(value, (list, tuple)):
        items = []
        for item in value:
            if item is None:
                raise _NotNumericError(_CONTAINS_NONE_MESSAGE)
            if isinstance(item, (str, bytes)):
                raise _NotNumericError(
                    f"expected a number or an array, got a {type(value).__name__} that contains "
                    f"the string {_short(item)}: use numbers, not text"
                )
            if isinstance(item, (bool, np.bool_)):
                flags.add("bool")
            items.append(_plain(item, flags))
        return items
    return value


# noqa reason: one guard clause per kind of non-numeric student answer, each with its own
# message, read top to bottom; split up, the messages would scatter over helpers.
def _numeric_array(value: Any) -> tuple[np.ndarray, bool]:  # noqa: C901
    """Convert a number, list, NumPy array or tensor to a float64 or complex128 array.

    Returns the array and whether the value was (or contained) a bool.

    Raises:
        _NotNumericError: for None, text, values too large for float64 and anything that
            is not numeric; the message is meant for the student.
    """
    if value is None:
        raise _NotNumericError(_NONE_MESSAGE)
    if isinstance(value, (str, bytes)):
        raise _NotNumericError(
            f"expected a number or an array, got the string {_short(value)}: "
            "return the number itself, not text"
        )
    flags: set[str] = set()
    try:
        arr = np.asarray(_plain(value, flags))
    except _NotNumericError:
        raise
    except Exception as exc:  # ragged nested lists, objects with a broken __array__, ...
        raise _NotNumericError(
            f"expected a number or an array, got {type(value).__name__}"
        ) from exc
    kind = arr.dtype.kind
    if kind == "b":
        return arr.astype(np.float64), True
    if kind in "iuf":
        return arr.astype(np.float64), "bool" in flags
    if kind == "c":
        return arr.astype(np.complex128), "bool" in flags
    if kind in "US":
        raise _NotNumericError(
            f"expected a number or an array, got an array of strings (dtype {arr.dtype}): "
            "use numbers, not text"
        )
    if kind == "O":  # Python ints beyond int64, Fractions, Decimals, dicts, generators, ...
        if any(v is None for v in arr.flat):
            raise _NotNumericError(_CONTAINS_NONE_MESSAGE)
        try:
            converted = arr.astype(np.complex128 if _has_complex(arr) else np.float64)
        except OverflowError:
            raise _NotNumericError(
                "your answer (or a number in it) is too large for float64 (max about 1.8e308): "
                "work with logarithms, or convert to float earlier"
            ) from None
        except (TypeError, ValueError) as exc:
            raise _NotNumericError(
                f"expected a number or an array, got {type(value).__name__}"
            ) from exc
        return converted, "bool" in flags or any(isinstance(v, bool) for v in arr.flat)
    raise _NotNumericError(
        f"expected a number or an array, got {type(value).__name__} of dtype {arr.dtype}"
    )


def _has_complex(arr: np.ndarray) -> bool:
    return any(isinstance(v, (complex, np.complexfloating)) for v in arr.flat)


def to_numpy(value: Any) -> np.ndarray:
    """Convert a number, list, NumPy array or torch tensor to a float64 NumPy array.

    Tensors are detached first (also inside lists), so ``requires_grad`` does not matter.

    Raises:
        TypeError: if the value is not numeric (the message says what it is), or is
            complex with a nonzero imaginary part.
    """
    arr, _ = _numeric_array(value)
    if arr.dtype.kind == "c":
        if np.any(arr.imag != 0):
            raise TypeError(f"expected real numbers, got complex values {_fmt(arr)}")
        arr = arr.real.copy()
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
        value = arr.item()
        if isinstance(value, bool):
            return str(value)
        return f"{value:.6g}" if isinstance(value, complex) else f"{float(value):.6g}"
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


# noqa reason: a flat list of guard clauses, one per way a student answer can be wrong
# (each returns its own message), before the one comparison.
def check_close(  # noqa: C901
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

    Tensors are detached (``requires_grad`` does not matter), also inside lists. The
    answer fails with a message, never a traceback, when it is None (or contains None),
    text, a bool (unless ``expected`` is bool too), too large for float64, NaN or
    infinite, or complex while ``expected`` is real. Complex against complex ``expected``
    compares the complex values (``|answer - expected|`` is the complex modulus).

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
    try:
        exp, exp_is_bool = _numeric_array(expected)
    except _NotNumericError as exc:  # a mistake of the notebook author: raise
        raise TypeError(f"check_close: `expected` must be numeric, got {_short(expected)}") from exc
    tol = f"rtol={rtol:g}, atol={atol:g}"
    try:
        got, got_is_bool = _numeric_array(evaluate_answer(answer))
    except (_AnswerError, _NotNumericError) as exc:
        return _report(name, False, str(exc))
    if got_is_bool and not exp_is_bool:
        if got.ndim == 0:
            message = f"expected a number, got a bool ({_fmt(got.astype(bool))})"
        else:
            message = "expected numbers, but your answer contains bools (True/False)"
        return _report(name, False, message + ": return the value, not a comparison or a flag")
    if got.shape != exp.shape:
        return _report(name, False, f"expected shape {exp.shape}, got shape {got.shape}")
    if not np.all(np.isfinite(got)):
        return _report(name, False, "your answer contains NaN or infinity")
    if got.dtype.kind == "c" and exp.dtype.kind != "c":
        return _report(
            name,
            False,
            f"your answer is complex ({_fmt(got)}) but a real value is expected"
            + (
                ": its imaginary parts are all 0, so take .real"
                if not np.any(got.imag)
                else ": check for a square root or log of a negative number"
            ),
        )
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


def _as_condition(value: Any) -> bool:
    """Return the truth value of a check_true condition, or raise _AnswerError.

    Accepted: ``bool``, ``numpy.bool_``, the ints 0 and 1 (Python or NumPy), and bool
    NumPy arrays or torch tensors with exactly one element (``a < b`` on 0-d tensors).
    Everything else - NaN and other floats, strings, None, lists, arrays with more than
    one element - is rejected, because ``bool()`` of it says nothing about the property.
    """
    if isinstance(value, (bool, np.bool_)):
        return bool(value)
    if isinstance(value, (int, np.integer)) and value in (0, 1):
        return bool(value)
    if _is_tensor(value) and str(value.dtype) == "torch.bool" and value.numel() == 1:
        return bool(value.item())
    if isinstance(value, np.ndarray) and value.dtype == np.bool_ and value.size == 1:
        return bool(value.item())
    if value is None:
        got = "None - did the function forget to return?"
    elif _is_tensor(value) or isinstance(value, np.ndarray):
        kind = "tensor" if _is_tensor(value) else "NumPy array"
        shape = tuple(value.shape)
        if int(np.prod(shape)) == 1:
            got = f"{_short(value.item())} in a {kind} of dtype {value.dtype}"
        else:
            got = f"a {kind} of dtype {value.dtype} and shape {shape}"
            if len(shape) > 0:
                got += " (reduce it with .all() or .any())"
    else:
        got = f"{_short(value)} ({type(value).__name__})"
    raise _AnswerError(f"the condition must evaluate to True or False, got {got}")


def check_true(
    name: str, condition: bool | Callable[[], Any], requirement: str, *, hint: str | None = None
) -> bool:
    """Check a property of the answer; ``requirement`` says in words what must hold.

    The condition (or what the callable returns) must be a real truth value: ``True`` /
    ``False``, a NumPy bool, the ints 0 or 1, or a one-element bool array or tensor (what
    ``a < b`` gives for 0-d tensors). Anything else - NaN or another float, a string such
    as ``"False"``, None, an array with several elements - gives a ``[FAIL]`` line saying
    so, instead of being judged by Python's ``bool()``.

    >>> ok = check_true("q3 symmetric", lambda: True, "the matrix must equal its transpose")
    [PASS] q3 symmetric: the matrix must equal its transpose
    >>> ok = check_true("q3 small error", lambda: float("nan"), "the error is below 1e-6")
    [FAIL] q3 small error: the condition must evaluate to True or False, got nan (float)
    """
    try:
        ok = _as_condition(evaluate_answer(condition))
    except _AnswerError as exc:
        return _report(name, False, str(exc))
    except Exception as exc:  # bool() of an unusual object, for example
        return _report(name, False, f"could not evaluate the condition ({exc})")
    message = requirement if ok else f"not yet: {requirement}"
    if hint and not ok:
        message += f". Hint: {hint}"
    return _report(name, ok, message)
