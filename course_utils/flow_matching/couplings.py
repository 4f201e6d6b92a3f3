"""Couplings of noise and data points in a batch: independent or mini-batch OT."""

from __future__ import annotations

import torch

from .._ot import ot_permutation
from ._common import _check_pair

__all__ = ["COUPLINGS", "couple"]

COUPLINGS = ("independent", "ot")


def couple(x0: torch.Tensor, x1: torch.Tensor, coupling: str = "independent"):
    """Pair noise points with data points.

    * ``"independent"``: keep the pairs as drawn (``(x0, x1) ~ p_0 x p_1``, R's choice).
    * ``"ot"``: mini-batch optimal transport (Tong et al. 2023; Pooladian et al. 2023):
      re-pair the batch by the permutation that minimises ``sum_i ||x0_i - x1_i||^2``,
      found exactly by POT's network simplex (``ot.emd``; scipy's
      ``linear_sum_assignment`` as a fallback).

    Args:
        x0: ``(batch, dim)`` noise points.
        x1: ``(batch, dim)`` data points.
        coupling: ``"independent"`` or ``"ot"``.

    Returns:
        ``(x0_paired, x1)``: ``x0`` reordered (for ``"ot"``) so that row ``i`` of both is a
        pair; ``x1`` is returned unchanged.
    """
    _check_pair(x0, x1, finite=True)
    if coupling == "independent":
        return x0, x1
    if coupling == "ot":
        perm = ot_permutation(x1, x0).to(x0.device)  # x1[i] <-> x0[perm[i]]
        return x0[perm], x1
    raise ValueError(f"unknown coupling {coupling!r}; choose one of {list(COUPLINGS)}")
