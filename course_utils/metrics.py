"""Distances between point clouds, used to score generative models across the course.

All three compare two samples, ``x: (n, dim)`` and ``y: (m, dim)``:

* :func:`energy_distance` -- Székely's energy distance
  ``D^2(P, Q) = 2 E||X - Y|| - E||X - X'|| - E||Y - Y'||`` (zero iff ``P = Q``), as the
  V-statistic of the two samples. Used in ``07_flow_matching`` to score samples against
  held-out data: report it as a multiple of the *floor*, the value between two
  independent samples of the data themselves.
* :func:`mmd2` -- the squared maximum mean discrepancy with a Gaussian kernel.
* :func:`wasserstein2` -- the exact 2-Wasserstein distance between two equal-size clouds
  (uniform weights): the best pairing, found by linear assignment
  (``scipy.optimize.linear_sum_assignment``; by Birkhoff's theorem an optimal plan
  between two uniform clouds of the same size is a permutation).

Everything is computed in float64, in tiles of 512 x 512 pairs, so memory stays bounded
for clouds of any size and the cost is that of the plain ``cdist`` passes (fewer, as the
within-sample matrices are symmetric: only half of each is computed).

>>> import torch
>>> x = torch.tensor([[0.0, 0.0], [1.0, 0.0]], dtype=torch.float64)
>>> round(wasserstein2(x, x + torch.tensor([3.0, 4.0], dtype=torch.float64)), 6)
5.0
>>> round(energy_distance(x[:1], x[:1] + torch.tensor([3.0, 4.0], dtype=torch.float64)), 6)
10.0
"""

from __future__ import annotations

import numpy as np
import torch

from ._validate import check_int

__all__ = [
    "energy_distance",
    "energy_distance_floor",
    "mmd2",
    "pairwise_sq_dists",
    "optimal_matching",
    "wasserstein2",
]

_TILE = 512  # side of a tile of a distance matrix (512 x 512 float64 = 2 MB)
_DIRECT = "donot_use_mm_for_euclid_dist"


def _cloud(x, name: str, dim: int | None = None) -> torch.Tensor:
    if isinstance(x, np.ndarray):
        x = torch.from_numpy(x)
    if not isinstance(x, torch.Tensor):
        raise TypeError(
            f"{name} must be a torch.Tensor or numpy array of shape (n, dim), "
            f"got {type(x).__name__}"
        )
    if x.ndim != 2 or x.shape[0] < 1 or x.shape[1] < 1:
        raise ValueError(f"{name} must have shape (n, dim) with n, dim >= 1, got {tuple(x.shape)}")
    if dim is not None and x.shape[1] != dim:
        raise ValueError(f"{name} must have {dim} columns like the first cloud, got {x.shape[1]}")
    x = x.detach().to("cpu", torch.float64)
    if not bool(torch.isfinite(x).all()):
        raise ValueError(f"{name} contains NaN or infinite values")
    return x


def pairwise_sq_dists(x: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
    """Squared Euclidean distances ``C[i, j] = ||x_i - y_j||^2`` in float64.

    Args:
        x: ``(n, dim)`` points.
        y: ``(m, dim)`` points.

    Returns:
        ``(n, m)`` float64 tensor.
    """
    x = _cloud(x, "x")
    y = _cloud(y, "y", x.shape[1])
    # the direct (x_i - y_j) formula, not |x|^2 - 2 x.y + |y|^2: the expansion loses
    # digits to cancellation and leaves sqrt(rounding) ~ 1e-8 on the diagonal
    return torch.cdist(x, y, compute_mode=_DIRECT) ** 2


def _mean_pairwise(x: torch.Tensor, y: torch.Tensor, kernel=None, *, same: bool = False) -> float:
    # mean over all (i, j) of kernel(||x_i - y_j||) (identity when kernel is None), in
    # _TILE x _TILE tiles: memory stays bounded for any n, and small tiles are faster than
    # one big cdist (no 100 MB allocation, the tile stays in cache). same=True (y is x):
    # the matrix is symmetric, so only tiles on or above the diagonal are computed.
    n, m = x.shape[0], y.shape[0]
    total = 0.0
    for i in range(0, n, _TILE):
        xi = x[i : i + _TILE]
        for j in range(i if same else 0, m, _TILE):
            # cdist's direct (x_i - y_j) formula (see pairwise_sq_dists): exact zeros on
            # the diagonal, no cancellation
            d = torch.cdist(xi, y[j : j + _TILE], compute_mode=_DIRECT)
            if kernel is not None:
                d = kernel(d)
            s = float(d.sum())
            total += 2.0 * s if (same and j != i) else s
    return total / (n * m)


def energy_distance(x: torch.Tensor, y: torch.Tensor) -> float:
    """Squared energy distance ``D^2`` between two samples (V-statistic), in data units.

    ``D^2 = 2 mean_ij ||x_i - y_j|| - mean_ij ||x_i - x_j|| - mean_ij ||y_i - y_j||``,
    the plug-in value of Székely's ``2 E||X - Y|| - E||X - X'|| - E||Y - Y'||`` for the two
    empirical distributions (self-pairs included). It is ``>= 0``, zero only for equal
    empirical distributions, and invariant under rotations and translations. Between two
    independent samples of the *same* distribution it is not zero but about
    ``(1/n + 1/m) E||X - X'||``: compare a model against that floor.

    ``scipy.stats.energy_distance`` (1-D only) returns the square root of this value.

    Args:
        x: ``(n, dim)`` first sample.
        y: ``(m, dim)`` second sample (same ``dim``).

    Returns:
        ``D^2`` as a Python float (units of distance).

    >>> import torch
    >>> x = torch.zeros(3, 2, dtype=torch.float64)
    >>> round(energy_distance(x, x + torch.tensor([0.0, 2.0], dtype=torch.float64)), 6)
    4.0
    """
    x = _cloud(x, "x")
    y = _cloud(y, "y", x.shape[1])
    value = (
        2.0 * _mean_pairwise(x, y)
        - _mean_pairwise(x, x, same=True)
        - _mean_pairwise(y, y, same=True)
    )
    return max(value, 0.0)  # the exact value is >= 0; clip rounding error


def energy_distance_floor(data: torch.Tensor, n: int, m: int) -> float:
    """Expected :func:`energy_distance` between two independent samples of the same law.

    For samples of sizes ``n`` and ``m`` from one distribution the V-statistic is not 0
    but has mean exactly ``(1/n + 1/m) E||X - X'||``: the diagonal terms ``i = j`` of the
    within-sample means are zero. This returns that value with ``E||X - X'||`` estimated
    from ``data`` (all pairs ``i != j``). A single draw of ``energy_distance`` between two
    held-out samples fluctuates around it by tens of percent, so this is the stabler
    denominator for "ED as a multiple of the floor".

    Args:
        data: ``(N, dim)`` sample of the distribution (``N >= 2``; a few thousand points).
        n, m: the sample sizes the floor is for.

    Returns:
        The floor, a Python float.
    """
    data = _cloud(data, "data")
    for name, value in (("n", n), ("m", m)):
        check_int(value, name, 1)
    size = data.shape[0]
    if size < 2:
        raise ValueError(f"data must have at least 2 points, got {size}")
    # the diagonal of the distance matrix is 0, so the mean over i != j is a rescaling
    mean_dist = _mean_pairwise(data, data, same=True) * size / (size - 1)
    return (1.0 / n + 1.0 / m) * mean_dist


def mmd2(
    x: torch.Tensor, y: torch.Tensor, bandwidth: float = 1.0, *, unbiased: bool = True
) -> float:
    """Squared maximum mean discrepancy with the Gaussian kernel ``exp(-|a-b|^2 / (2 h^2))``.

    ``MMD^2 = E k(X, X') + E k(Y, Y') - 2 E k(X, Y)``. The unbiased estimator (default)
    leaves out the self-pairs ``i = j`` of each sample (it can be slightly negative); the
    biased one (V-statistic) keeps them and is ``>= 0``.

    Args:
        x: ``(n, dim)`` first sample (``n >= 2`` when unbiased).
        y: ``(m, dim)`` second sample (``m >= 2`` when unbiased).
        bandwidth: kernel width ``h > 0``, in data units.
        unbiased: leave out self-pairs.

    Returns:
        The estimate as a Python float (dimensionless, at most 2).
    """
    x = _cloud(x, "x")
    y = _cloud(y, "y", x.shape[1])
    h = float(bandwidth)
    if not (np.isfinite(h) and h > 0):
        raise ValueError(f"bandwidth must be a positive number, got {bandwidth!r}")

    def kernel(d):  # of distances, in place on the tile
        return d.square_().mul_(-0.5 / (h * h)).exp_()

    n, m = x.shape[0], y.shape[0]
    kxx = _mean_pairwise(x, x, kernel, same=True)
    kyy = _mean_pairwise(y, y, kernel, same=True)
    kxy = _mean_pairwise(x, y, kernel)
    if unbiased:
        if n < 2 or m < 2:
            raise ValueError(f"the unbiased MMD needs at least 2 points per sample, got {n}, {m}")
        # remove the diagonal (k(a, a) = 1) from the within-sample means
        kxx = (kxx * n * n - n) / (n * (n - 1))
        kyy = (kyy * m * m - m) / (m * (m - 1))
    return kxx + kyy - 2.0 * kxy


def optimal_matching(x: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
    """The pairing of two equal-size clouds with the least total squared distance.

    Solves ``min over permutations s of sum_i ||x_i - y_{s(i)}||^2`` exactly with
    ``scipy.optimize.linear_sum_assignment``.

    Args:
        x: ``(n, dim)`` points.
        y: ``(n, dim)`` points (same ``n`` and ``dim``).

    Returns:
        ``perm``: ``(n,)`` int64 tensor, a permutation of ``0..n-1``; ``x[i]`` is paired
        with ``y[perm[i]]``.
    """
    from scipy.optimize import linear_sum_assignment

    x = _cloud(x, "x")
    y = _cloud(y, "y", x.shape[1])
    if x.shape[0] != y.shape[0]:
        raise ValueError(
            f"x and y must have the same number of points for a one-to-one matching, "
            f"got {x.shape[0]} and {y.shape[0]}"
        )
    rows, cols = linear_sum_assignment(pairwise_sq_dists(x, y).numpy())
    perm = np.empty(x.shape[0], dtype=np.int64)
    perm[rows] = cols
    return torch.from_numpy(perm)


def wasserstein2(x: torch.Tensor, y: torch.Tensor) -> float:
    """Exact 2-Wasserstein distance between two equal-size clouds with uniform weights.

    ``W_2(x, y) = sqrt(min_s (1/n) sum_i ||x_i - y_{s(i)}||^2)`` over permutations ``s``
    (see :func:`optimal_matching`). Cost ``O(n^3)``: fine up to a few thousand points.

    Args:
        x: ``(n, dim)`` points.
        y: ``(n, dim)`` points.

    Returns:
        ``W_2`` in data units, a Python float.
    """
    x = _cloud(x, "x")
    y = _cloud(y, "y", x.shape[1])
    perm = optimal_matching(x, y)
    return float(((x - y[perm]) ** 2).sum(1).mean().sqrt())
