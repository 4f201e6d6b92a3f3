"""Argument checks shared by the flow-matching modules (private)."""

from __future__ import annotations

import math

import torch

from .._validate import check_batch, check_data, check_finite


def _check_points(x, name: str, dim: int | None = None) -> torch.Tensor:
    return check_batch(x, name, dim)


def _check_pair(x0, x1, finite: bool = False) -> None:
    check = check_data if finite else _check_points
    check(x0, "x0")
    check(x1, "x1")
    if x0.shape != x1.shape:
        raise ValueError(
            f"x0 and x1 must have the same shape, got {tuple(x0.shape)} and {tuple(x1.shape)}"
        )


def _column_time(t, x: torch.Tensor) -> torch.Tensor:
    """``t`` (number, 0-d, ``(batch,)`` or ``(batch, 1)``) as a column broadcastable to ``x``."""
    t = torch.as_tensor(t, dtype=x.dtype, device=x.device)
    check_finite(t, "t")
    if t.ndim == 0:
        return t.reshape(1, 1)
    if t.shape in ((x.shape[0],), (x.shape[0], 1)):
        return t.reshape(-1, 1)
    raise ValueError(
        f"t must be a number, a 0-d tensor or have shape ({x.shape[0]},), got {tuple(t.shape)}"
    )


def _path_time(t, x: torch.Tensor) -> torch.Tensor:
    """:func:`_column_time`, checked to lie in [0, 1] (where the paths are defined)."""
    tc = _column_time(t, x)
    if not bool(((tc >= 0) & (tc <= 1)).all()):  # also False for NaN
        raise ValueError(
            f"t must be in [0, 1], got values from {float(tc.min())} to {float(tc.max())}"
        )
    return tc


def _checked_output(out, like: torch.Tensor, who: str = "field(t, x)") -> torch.Tensor:
    if not isinstance(out, torch.Tensor) or out.shape != like.shape:
        got = tuple(out.shape) if isinstance(out, torch.Tensor) else type(out).__name__
        raise ValueError(f"{who} must return shape {tuple(like.shape)}, got {got}")
    return out


def _positive(value, name: str) -> float:
    value = float(value)
    if not (math.isfinite(value) and value > 0):
        raise ValueError(f"{name} must be a positive number, got {value!r}")
    return value
