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
