"""Exact mini-batch optimal-transport pairing (the ``"ot"`` coupling of flow matching).

Between two clouds of the same size with uniform weights an optimal plan can be taken to
be a permutation (Birkhoff's theorem), so the pairing is a linear assignment problem.
``scipy.optimize.linear_sum_assignment`` solves it exactly but, on the squared-Euclidean
costs of a 256-point batch in 2-D, it is about twice as slow as the network simplex of POT
(``ot.emd``, Bonneel et al. 2011), which torchcfm uses. The network simplex returns a
vertex of the transportation polytope; for uniform marginals the vertices are the
permutation matrices scaled by ``1/n`` (the constraint matrix is totally unimodular), so
each row of the plan holds one entry ``1/n`` and the permutation is its argmax. Should the
solver not converge, or the plan not be a permutation (round-off), the pairing falls back
to scipy: the result is always an exact optimum.
"""

from __future__ import annotations

import numpy as np
import torch

__all__: list[str] = []  # private: used through flow_matching.couple

_DIRECT = "donot_use_mm_for_euclid_dist"


def _permutation_of_plan(plan: np.ndarray) -> np.ndarray | None:
    n = plan.shape[0]
    perm = plan.argmax(1)
    if not np.allclose(plan[np.arange(n), perm], 1.0 / n, rtol=1e-6, atol=0.0):
        return None
    if np.bincount(perm, minlength=n).max() != 1:
        return None
    return perm


def ot_permutation(x: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
    """The permutation minimising ``sum_i ||x_i - y_{perm[i]}||^2``, exactly.

    Args:
        x: ``(n, dim)`` points.
        y: ``(n, dim)`` points (same shape; checked by the caller).

    Returns:
        ``perm``: ``(n,)`` int64 tensor on the CPU, a permutation of ``0..n-1``.
    """
    n = x.shape[0]
    a, b = x.detach().to("cpu", torch.float64), y.detach().to("cpu", torch.float64)
    cost = (torch.cdist(a, b, compute_mode=_DIRECT) ** 2).numpy()
    perm = None
    try:
        import ot
    except ImportError:  # pragma: no cover - POT is a dependency; scipy is exact too
        ot = None
    if ot is not None and n > 1:
        weights = np.full(n, 1.0 / n)
        # POT's iteration budget is for the simplex pivots; give large batches room
        plan, log = ot.emd(
            weights,
            weights,
            cost,
            numItermax=max(100_000, 20 * n * n),
            log=True,
            check_marginals=False,
        )
        if log.get("warning") is None:
            perm = _permutation_of_plan(plan)
    if perm is None:
        from scipy.optimize import linear_sum_assignment

        rows, cols = linear_sum_assignment(cost)
        perm = np.empty(n, dtype=np.int64)
        perm[rows] = cols
    return torch.from_numpy(np.asarray(perm, dtype=np.int64))
