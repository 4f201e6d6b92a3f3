"""Argument checks shared by the topic modules (private: not part of the course API)."""

from __future__ import annotations

import torch


def check_batch(x, name: str = "x", dim: int | None = None) -> torch.Tensor:
    """Check that ``x`` is a floating tensor of shape ``(batch, dim)``; return it.

    Raises:
        TypeError: not a tensor, or not floating point (the message names ``name``).
        ValueError: wrong number of axes or wrong ``dim``.
    """
    want = "(batch, dim)" if dim is None else f"(batch, {dim})"
    if not isinstance(x, torch.Tensor):
        raise TypeError(f"{name} must be a torch.Tensor of shape {want}, got {type(x).__name__}")
    if x.ndim != 2 or (dim is not None and x.shape[1] != dim):
        raise ValueError(f"{name} must have shape {want}, got {tuple(x.shape)}")
    if not x.is_floating_point():
        raise TypeError(f"{name} must be a floating-point tensor, got dtype {x.dtype}")
    return x


def check_data(x, name: str = "x", dim: int | None = None) -> torch.Tensor:
    """:func:`check_batch`, plus at least one row and only finite values (data to fit or score).

    Raises:
        TypeError, ValueError: as :func:`check_batch`; ValueError for no rows or NaN/inf.
    """
    x = check_batch(x, name, dim)
    if x.shape[0] == 0:
        raise ValueError(f"{name} must have at least one row, got shape {tuple(x.shape)}")
    if not bool(torch.isfinite(x).all()):
        raise ValueError(f"{name} contains NaN or infinite values")
    return x
