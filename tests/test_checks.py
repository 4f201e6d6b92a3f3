import numpy as np
import pytest
import torch

from course_utils import checks


def test_close_pass_and_fail(capsys):
    assert checks.check_close("a", 1.0 + 1e-9, 1.0)
    assert "[PASS] a: correct" in capsys.readouterr().out
    assert not checks.check_close("b", 1.1, 1.0, hint="look again")
    out = capsys.readouterr().out
    assert out.startswith("[FAIL] b: expected 1") and "got 1.1" in out and "Hint: look again" in out


def test_close_accepts_tensors_and_callables(capsys):
    assert checks.check_close("t", lambda: torch.tensor([1.0, 2.0]), np.array([1.0, 2.0]))
    assert not checks.check_close("shape", lambda: torch.zeros(3), np.zeros(2))
    assert "expected shape (2,), got shape (3,)" in capsys.readouterr().out


def test_missing_answer_is_friendly(capsys):
    def unanswered():
        raise NotImplementedError

    assert not checks.check_close("q", unanswered, 1.0)
    out = capsys.readouterr().out
    assert "not answered yet" in out and "Traceback" not in out
    assert not checks.check_close("q", lambda: undefined_name, 1.0)  # noqa: F821
    assert "run the answer cell" in capsys.readouterr().out
    assert not checks.check_close("q", lambda: 1 / 0, 1.0)
    assert "ZeroDivisionError" in capsys.readouterr().out


def test_nan_and_non_numeric(capsys):
    assert not checks.check_close("n", float("nan"), 1.0)
    assert "NaN" in capsys.readouterr().out
    assert not checks.check_close("s", "hello", 1.0)
    assert "expected a number" in capsys.readouterr().out


def test_largest_miss_index(capsys):
    assert not checks.check_close("m", np.array([1.0, 5.0, 3.0]), np.array([1.0, 2.0, 3.0]))
    assert "index (1,)" in capsys.readouterr().out


def test_equal_and_true(capsys):
    assert checks.check_equal("e", lambda: 3, 3)
    assert not checks.check_equal("e", lambda: "x", "y")
    assert checks.check_true("t", lambda: 2 > 1, "two exceeds one")
    assert not checks.check_true("t", False, "must hold")
    out = capsys.readouterr().out
    assert "[FAIL] t: not yet: must hold" in out


def test_bad_tolerance_raises():
    with pytest.raises(ValueError, match="rtol must be a finite number >= 0"):
        checks.check_close("x", 1.0, 1.0, rtol=-1)


# --- audit fixes: each test below failed (false [PASS] or a traceback) on the old code ---


def test_complex_answer_against_real_expected_fails(capsys):
    rotation = np.array([[0.0, -1.0], [1.0, 0.0]])
    assert not checks.check_close("c", lambda: np.linalg.eigvals(rotation), [0.0, 0.0])
    out = capsys.readouterr().out
    assert out.startswith("[FAIL] c: your answer is complex") and "Traceback" not in out
    assert not checks.check_close("c0", lambda: torch.tensor(2.0 + 0j), 2.0)
    assert "take .real" in capsys.readouterr().out


def test_complex_against_complex_compares_imaginary_parts(capsys):
    assert checks.check_close("cc", lambda: torch.tensor([1j, -1j]), np.array([1j, -1j]))
    assert "[PASS] cc: correct" in capsys.readouterr().out
    assert not checks.check_close("cc", lambda: np.array([1j, 1j]), np.array([1j, -1j]))
    out = capsys.readouterr().out
    assert out.startswith("[FAIL] cc: expected") and "index (1,)" in out


def test_tensors_requiring_grad_inside_lists(capsys):
    mu = torch.tensor(1.0, requires_grad=True)
    sigma = torch.tensor(2.0, requires_grad=True)
    assert checks.check_close("g", lambda: [mu, sigma], [1.0, 2.0])
    assert "[PASS] g: correct" in capsys.readouterr().out
    assert not checks.check_close("g", lambda: (mu * 3, sigma), [1.0, 2.0])
    assert "got [3., 2.]" in capsys.readouterr().out


def test_integer_too_large_for_float_fails(capsys):
    import math

    assert not checks.check_close("big", lambda: math.factorial(200), 1.0)
    out = capsys.readouterr().out
    assert out.startswith("[FAIL] big: ") and "too large for float64" in out
    assert not checks.check_close("big", lambda: [1.0, 10**400], [1.0, 2.0])
    assert "too large for float64" in capsys.readouterr().out


def test_none_answer_is_named(capsys):
    assert not checks.check_close("none", None, 2.0)
    out = capsys.readouterr().out
    assert "[FAIL] none: your answer is None - did the function forget to return?" in out
    assert not checks.check_close("none", lambda: [1.0, None], [1.0, 2.0])
    out = capsys.readouterr().out
    assert "your answer contains None" in out and "NaN" not in out


@pytest.mark.parametrize(
    "condition, shown",
    [
        (lambda: float("nan"), "got nan (float)"),
        (lambda: torch.tensor(float("nan")), "got nan in a tensor"),
        (lambda: "False", "got 'False' (str)"),
        (lambda: 0.5, "got 0.5 (float)"),
        (lambda: 2, "got 2 (int)"),
        (lambda: None, "got None"),
        (lambda: torch.tensor([True, True]), "reduce it with .all() or .any()"),
    ],
)
def test_true_rejects_values_that_are_not_truth_values(capsys, condition, shown):
    assert not checks.check_true("t", condition, "must hold")
    out = capsys.readouterr().out
    assert out.startswith("[FAIL] t: the condition must evaluate to True or False") and shown in out


@pytest.mark.parametrize(
    "condition, expected",
    [
        (lambda: torch.tensor(1.0) < torch.tensor(2.0), True),  # 0-d bool tensor
        (lambda: torch.tensor([3.0]) > 4, False),  # one-element bool tensor
        (lambda: np.float64(1.0) < 2.0, True),  # numpy.bool_
        (lambda: np.array([1.0, 2.0]).sum() > 5, False),
        (lambda: isinstance(1.0, float) and {1} <= {1, 2}, True),  # `and` chain
        (lambda: 1, True),
        (lambda: np.int64(0), False),
    ],
)
def test_true_accepts_real_truth_values(capsys, condition, expected):
    assert checks.check_true("t", condition, "must hold") is expected
    out = capsys.readouterr().out
    assert out == ("[PASS] t: must hold\n" if expected else "[FAIL] t: not yet: must hold\n")


def test_strings_and_bools_are_not_numeric_answers(capsys):
    assert not checks.check_close("s", lambda: "2.0", 2.0)
    out = capsys.readouterr().out
    assert out.startswith("[FAIL] s: expected a number") and "string '2.0'" in out
    assert not checks.check_close("b", True, 1.0)
    assert "[FAIL] b: expected a number, got a bool (True)" in capsys.readouterr().out
    assert not checks.check_close("b", lambda: torch.tensor([True, False]), [1.0, 0.0])
    assert "contains bools" in capsys.readouterr().out
    assert not checks.check_close("s", lambda: ["1.0", 2.0], [1.0, 2.0])
    assert "[FAIL] s: expected a number" in capsys.readouterr().out


def test_bad_expected_raises():
    with pytest.raises(TypeError, match="`expected` must be numeric"):
        checks.check_close("x", 1.0, None)
