"""Linear algebra the flows rely on: SVD, low rank, rank-k inverse updates (topic 04_svd).

Notebook ``04_svd`` derives each of these in a few visible lines first; later notebooks
(and the problem set) call them instead of repeating the code:

* :func:`svd_via_eig` -- the SVD built from the eigen-decomposition of ``A^T A``
  (the textbook construction; fine for teaching, squares the condition number);
* :func:`canonical_signs` -- fix the sign ambiguity of singular vector pairs so two
  SVDs of the same matrix can be compared column by column;
* :func:`best_rank_k` -- the Eckart--Young best rank-``k`` approximation;
* :func:`spiked_wigner` -- a sample of the spiked Wigner model ``Y = (snr/n) x x^T + W/sqrt(n)``;
* :func:`sherman_morrison`, :func:`woodbury` -- inverse of a rank-one / rank-``k``
  update from a known inverse (note the **minus** sign);
* :func:`min_norm_lstsq` -- least squares through the SVD, minimum-norm when the
  solution is not unique (``p > n`` or rank-deficient ``X``);
* :func:`condition_number` -- ``sigma_max / sigma_min`` (not an eigenvalue ratio);
* :func:`best_time` -- best-of-``repeat`` wall time of a call, for the cost sweeps.

All functions take and return ``torch.Tensor`` (use float64 when comparing with a
closed form). Singular values are always in **descending** order, as in
``torch.linalg.svd`` and ``numpy.linalg.svd``.

>>> A = torch.tensor([[3.0, 0.0], [4.0, 5.0]], dtype=torch.float64)
>>> U, S, Vh = svd_via_eig(A)
>>> [round(float(s) ** 2, 6) for s in S]
[45.0, 5.0]
>>> round(condition_number(A), 6)
3.0
"""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import Any

import torch

from ._validate import check_finite, check_int, check_shape, check_tensor

__all__ = [
    "svd_via_eig",
    "canonical_signs",
    "best_rank_k",
    "spiked_wigner",
    "sherman_morrison",
    "woodbury",
    "min_norm_lstsq",
    "condition_number",
    "best_time",
]


def _matrix(A: Any, name: str, *, square: bool = False) -> torch.Tensor:
    """A finite floating matrix ``(m, n)``, m, n >= 1 (square: ``(n, n)``)."""
    want = "(n, n)" if square else "(m, n)"
    A = check_tensor(A, name, want)
    if A.ndim != 2 or A.shape[0] == 0 or A.shape[1] == 0:
        raise ValueError(f"{name} must have shape {want} with m, n >= 1, got {tuple(A.shape)}")
    if square and A.shape[0] != A.shape[1]:
        raise ValueError(f"{name} must have shape (n, n) (square), got {tuple(A.shape)}")
    return check_finite(A, name)


def _vector(x: Any, name: str, n: int | None = None) -> torch.Tensor:
    want = f"({n},)" if n is not None else "(n,)"
    x = check_shape(x, (n,), name, want)
    return check_finite(x, name)


def _check_rank(k: Any, kmax: int) -> int:
    k = check_int(k, "k", 0)
    if k > kmax:
        raise ValueError(f"k must be an int in [0, {kmax}], got {k!r}")
    return k


def _same_dtype(**tensors: torch.Tensor) -> None:
    """Raise a TypeError naming the arguments if the tensors do not share one dtype."""
    if len({t.dtype for t in tensors.values()}) > 1:
        got = ", ".join(f"{name} {t.dtype}" for name, t in tensors.items())
        raise TypeError(
            f"{', '.join(tensors)} must all have the same dtype, got {got}; "
            "convert them first, e.g. with .to(torch.float64)"
        )


def _default_rtol(A: torch.Tensor) -> float:
    return max(A.shape) * torch.finfo(A.dtype).eps


def _complete_basis(Q: torch.Tensor, m: int) -> torch.Tensor:
    """Extend the ``r`` orthonormal columns of ``Q: (m, r)`` to an orthonormal basis."""
    r = Q.shape[1]
    if r == m:
        return Q
    if r == 0:
        return torch.eye(m, dtype=Q.dtype)
    # A complete QR of Q: its last m - r columns are an orthonormal basis of the
    # orthogonal complement of span(Q).
    full, _ = torch.linalg.qr(Q, mode="complete")
    return torch.cat([Q, full[:, r:]], dim=1)


def svd_via_eig(
    A: torch.Tensor, rtol: float | None = None
) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    r"""Full SVD ``A = U diag(S) Vh`` from the eigen-decomposition of ``A^T A`` (M, Theorem 1).

    The eigenvalues of the symmetric positive semi-definite matrix ``A^T A`` are real
    and ``>= 0``; sorted in **descending** order they are :math:`\sigma_1^2 \ge \dots`.
    The eigenvectors are the columns of ``V``; for every non-zero singular value the
    matching column of ``U`` is :math:`u_i = A v_i / \sigma_i`; the remaining columns of
    ``U`` complete an orthonormal basis of :math:`\mathbb{R}^m`. Signs follow
    :func:`canonical_signs`.

    Forming ``A^T A`` squares the condition number: singular values much smaller than
    ``sqrt(eps) * sigma_1`` (about ``1.5e-8 * sigma_1`` in float64) cannot be resolved
    and come out as 0. Use ``torch.linalg.svd`` in real code.

    Args:
        A: matrix, shape ``(m, n)``, floating dtype.
        rtol: eigenvalues of ``A^T A`` below ``rtol * sigma_1**2`` count as zero, i.e.
            singular values below ``sqrt(rtol) * sigma_1`` are returned as 0 (they set
            the rank and get no ``u_i = A v_i / sigma_i``). Default ``max(m, n) * eps``.

    Returns:
        ``(U, S, Vh)``: ``U: (m, m)`` and ``Vh: (n, n)`` orthogonal, ``S: (min(m, n),)``
        non-negative and descending, with ``A ~= U[:, :k] @ diag(S) @ Vh[:k]`` for
        ``k = min(m, n)``.

    Raises:
        TypeError, ValueError: if ``A`` is not a non-empty floating 2-D tensor or
            ``rtol`` is negative.
        ValueError: if ``A`` contains NaN or inf, or if ``A^T A`` overflows (entries of
            ``A`` beyond about ``1e154`` in float64, ``1e19`` in float32).
    """
    A = _matrix(A, "A")
    if not bool(torch.isfinite(A).all()):
        raise ValueError("A contains NaN or infinite values")
    if rtol is None:
        rtol = _default_rtol(A)
    if not (isinstance(rtol, (int, float)) and rtol >= 0):
        raise ValueError(f"rtol must be a number >= 0, got {rtol!r}")
    m, n = A.shape
    k = min(m, n)
    AtA = A.T @ A
    if not bool(torch.isfinite(AtA).all()):
        raise ValueError(
            f"A^T A overflowed in {A.dtype} (largest |A| entry {float(A.abs().max()):.3g}): "
            "svd_via_eig squares A; use torch.linalg.svd(A) instead"
        )
    evals, evecs = torch.linalg.eigh(AtA)  # ascending
    evals, V = evals.flip(0), evecs.flip(1)  # descending: the course's convention
    # Round-off can make a zero eigenvalue slightly negative: clip before the sqrt.
    # Round-off in A^T A is about eps * sigma_1^2, so an eigenvalue below
    # rtol * lambda_1 cannot be told from zero: it is set to zero (and so is sigma_i).
    lam = evals[:k]
    lam = torch.where(lam > rtol * lam[0].clamp(min=0), lam, torch.zeros_like(lam))
    S = lam.sqrt()
    r = int((S > 0).sum())
    U_r = (A @ V[:, :r]) / S[:r]
    U = _complete_basis(U_r, m)
    U, Vh = canonical_signs(U, V.T, k=r)
    return U, S, Vh


def canonical_signs(
    U: torch.Tensor, Vh: torch.Tensor, k: int | None = None
) -> tuple[torch.Tensor, torch.Tensor]:
    """Flip singular vector pairs so the largest-magnitude entry of each ``v_i`` is > 0.

    ``(u_i, v_i)`` and ``(-u_i, -v_i)`` give the same ``A``, so two correct SVDs may
    differ by these flips; after this function they agree column by column whenever
    the singular values are distinct (ties: the vectors are only defined up to a
    rotation inside the eigenspace).

    Args:
        U: left singular vectors, shape ``(m, m)`` or ``(m, r)``.
        Vh: right singular vectors as rows, shape ``(n, n)`` or ``(r, n)``.
        k: flip only the first ``k`` pairs (default ``min(U.shape[1], Vh.shape[0])``).

    Returns:
        ``(U, Vh)``, new tensors with the same shapes.
    """
    U = _matrix(U, "U")
    Vh = _matrix(Vh, "Vh")
    kk = min(U.shape[1], Vh.shape[0])
    k = kk if k is None else k
    k = _check_rank(k, kk)
    idx = Vh[:k].abs().argmax(dim=1)
    signs = torch.sign(Vh[:k].gather(1, idx[:, None]).squeeze(1))
    signs[signs == 0] = 1
    U, Vh = U.clone(), Vh.clone()
    U[:, :k] *= signs
    Vh[:k] *= signs[:, None]
    return U, Vh


def best_rank_k(A: torch.Tensor, k: int) -> torch.Tensor:
    r"""Best rank-``k`` approximation :math:`A_k = \sum_{i \le k} \sigma_i u_i v_i^T`.

    By Eckart--Young it minimises both the Frobenius and the spectral norm error over
    all matrices of rank ``<= k``; :math:`\|A - A_k\|_F^2 = \sum_{i>k} \sigma_i^2`.

    Args:
        A: matrix, shape ``(m, n)``.
        k: target rank, ``0 <= k <= min(m, n)``.

    Returns:
        ``A_k``, shape ``(m, n)``.
    """
    A = _matrix(A, "A")
    kmax = min(A.shape)
    k = _check_rank(k, kmax)
    U, S, Vh = torch.linalg.svd(A, full_matrices=False)
    return (U[:, :k] * S[:k]) @ Vh[:k]


def spiked_wigner(
    n: int,
    snr: float,
    generator: torch.Generator | None = None,
    dtype: torch.dtype = torch.float64,
) -> tuple[torch.Tensor, torch.Tensor]:
    r"""Sample the spiked Wigner model :math:`Y = \frac{\lambda}{n} x x^T + \frac{1}{\sqrt n} W`.

    ``x`` has i.i.d. entries :math:`\pm 1` (so :math:`\|x\|^2 = n`); ``W`` is GOE:
    symmetric, off-diagonal entries :math:`\mathcal N(0, 1)`, diagonal :math:`\mathcal N(0, 2)`.
    With this scaling the noise spectrum fills :math:`[-2, 2]` and, as ``n`` grows, the
    top eigenvector of ``Y`` correlates with ``x`` only when :math:`\lambda > 1` (BBP):
    :math:`(v_1 \cdot x)^2 / n \to \max(0, 1 - 1/\lambda^2)`.

    Args:
        n: size (>= 2).
        snr: signal strength :math:`\lambda \ge 0`.
        generator: torch random generator (for reproducibility).
        dtype: floating dtype of the result.

    Returns:
        ``(Y, x)`` with ``Y: (n, n)`` symmetric and ``x: (n,)``.
    """
    n = check_int(n, "n", 2)
    if not isinstance(snr, (int, float)) or not snr >= 0:
        raise ValueError(f"snr must be a number >= 0, got {snr!r}")
    x = torch.randint(0, 2, (n,), generator=generator).to(dtype) * 2 - 1
    G = torch.randn(n, n, generator=generator, dtype=dtype)
    W = (G + G.T) / 2**0.5  # off-diagonal variance 1, diagonal variance 2
    Y = (snr / n) * torch.outer(x, x) + W / n**0.5
    return Y, x


def sherman_morrison(A_inv: torch.Tensor, u: torch.Tensor, v: torch.Tensor) -> torch.Tensor:
    r"""Inverse of a rank-one update from a known inverse, in :math:`O(n^2)`.

    .. math:: (A + u v^T)^{-1} = A^{-1} - \frac{A^{-1} u\, v^T A^{-1}}{1 + v^T A^{-1} u}

    (minus sign; M's eq. 1.29 prints a plus).

    Args:
        A_inv: :math:`A^{-1}`, shape ``(n, n)``.
        u, v: vectors, shape ``(n,)``.

    Returns:
        :math:`(A + u v^T)^{-1}`, shape ``(n, n)``.

    Raises:
        ValueError: on bad shapes, or if :math:`1 + v^T A^{-1} u` is (numerically) zero,
            which means ``A + u v^T`` is singular.
        TypeError: if ``A_inv``, ``u`` and ``v`` do not share one floating dtype.
    """
    A_inv = _matrix(A_inv, "A_inv", square=True)
    n = A_inv.shape[0]
    u = _vector(u, "u", n)
    v = _vector(v, "v", n)
    _same_dtype(A_inv=A_inv, u=u, v=v)
    Au = A_inv @ u
    vA = v @ A_inv
    denom = 1 + v @ Au
    scale = 1 + (v.abs() @ Au.abs())
    if abs(float(denom)) <= 1e3 * torch.finfo(A_inv.dtype).eps * float(scale):
        raise ValueError("1 + v^T A^{-1} u is zero: A + u v^T is singular")
    return A_inv - torch.outer(Au, vA) / denom


def woodbury(
    A_inv: torch.Tensor, U: torch.Tensor, C: torch.Tensor, V: torch.Tensor
) -> torch.Tensor:
    r"""Inverse of a rank-``k`` update from a known inverse (Woodbury identity).

    .. math:: (A + U C V)^{-1} = A^{-1} - A^{-1} U (C^{-1} + V A^{-1} U)^{-1} V A^{-1}

    (minus sign; M's eq. 1.36 prints a plus). Costs :math:`O(n^2 k + k^3)` instead of
    :math:`O(n^3)`; only a ``k x k`` system is solved.

    Args:
        A_inv: :math:`A^{-1}`, shape ``(n, n)``.
        U: shape ``(n, k)``.
        C: invertible, shape ``(k, k)``.
        V: shape ``(k, n)``.

    Returns:
        :math:`(A + U C V)^{-1}`, shape ``(n, n)``.

    Raises:
        ValueError: on bad shapes.
        TypeError: if ``A_inv``, ``U``, ``C`` and ``V`` do not share one floating dtype.
    """
    A_inv = _matrix(A_inv, "A_inv", square=True)
    n = A_inv.shape[0]
    U = _matrix(U, "U")
    if U.shape[0] != n:
        raise ValueError(f"U must have shape ({n}, k), got {tuple(U.shape)}")
    k = U.shape[1]
    C = _matrix(C, "C", square=True)
    if C.shape[0] != k:
        raise ValueError(f"C must have shape ({k}, {k}), got {tuple(C.shape)}")
    V = _matrix(V, "V")
    if V.shape != (k, n):
        raise ValueError(f"V must have shape ({k}, {n}), got {tuple(V.shape)}")
    _same_dtype(A_inv=A_inv, U=U, C=C, V=V)
    AU = A_inv @ U
    VA = V @ A_inv
    inner = torch.linalg.inv(C) + V @ AU
    return A_inv - AU @ torch.linalg.solve(inner, VA)


def min_norm_lstsq(X: torch.Tensor, y: torch.Tensor, rtol: float | None = None) -> torch.Tensor:
    r"""Least squares :math:`\min_\beta \|X\beta - y\|` via the SVD, minimum-norm if not unique.

    Returns :math:`\beta = X^+ y = V \Sigma^+ U^T y`, where :math:`\Sigma^+` inverts the
    singular values above ``rtol * sigma_1`` and zeroes the others. For ``n >= p`` and
    full column rank this is the unique solution of the normal equations
    :math:`X^T X \beta = X^T y`; for ``p > n`` (full row rank) it is the interpolating
    solution of smallest norm, :math:`X^T (X X^T)^{-1} y`.

    Args:
        X: design matrix, shape ``(n, p)``.
        y: targets, shape ``(n,)``.
        rtol: relative cut-off for small singular values (default ``max(n, p) * eps``).

    Returns:
        ``beta``, shape ``(p,)``.

    Raises:
        ValueError: on bad shapes or a negative ``rtol``.
        TypeError: if ``X`` and ``y`` do not share one floating dtype.
    """
    X = _matrix(X, "X")
    y = _vector(y, "y", X.shape[0])
    _same_dtype(X=X, y=y)
    if rtol is None:
        rtol = _default_rtol(X)
    if not (isinstance(rtol, (int, float)) and rtol >= 0):
        raise ValueError(f"rtol must be a number >= 0, got {rtol!r}")
    U, S, Vh = torch.linalg.svd(X, full_matrices=False)
    keep = S > rtol * S[0]
    s_inv = torch.where(keep, 1 / torch.where(keep, S, torch.ones_like(S)), torch.zeros_like(S))
    return Vh.T @ (s_inv * (U.T @ y))


def condition_number(A: torch.Tensor) -> float:
    r"""2-norm condition number :math:`\kappa(A) = \sigma_{\max} / \sigma_{\min}`.

    For a square matrix it bounds how much a relative perturbation of ``b`` can grow in
    the solution of ``A x = b``; roughly :math:`\log_{10}\kappa` decimal digits are lost.
    It is **not** the ratio of eigenvalues unless ``A`` is normal (e.g. symmetric).

    Args:
        A: matrix, shape ``(m, n)``.

    Returns:
        ``kappa >= 1`` as a float; ``inf`` if the smallest singular value is 0.
    """
    A = _matrix(A, "A")
    S = torch.linalg.svdvals(A)
    smin = float(S[-1])
    return float("inf") if smin == 0.0 else float(S[0]) / smin


def best_time(fn: Callable[[], Any], repeat: int = 3, number: int = 1) -> float:
    """Best wall-clock time of ``fn()`` in seconds, over ``repeat`` runs of ``number`` calls.

    The minimum is the least noisy estimate on a shared machine (the noise only adds).

    Args:
        fn: zero-argument callable.
        repeat: how many measurements (>= 1).
        number: calls per measurement (>= 1); the time is divided by it.

    Returns:
        Seconds per call (float).
    """
    if not callable(fn):
        raise TypeError(f"fn must be callable, got {type(fn).__name__}")
    for name, val in (("repeat", repeat), ("number", number)):
        check_int(val, name, 1)
    repeat, number = int(repeat), int(number)
    best = float("inf")
    for _ in range(repeat):
        t0 = time.perf_counter()
        for _ in range(number):
            fn()
        best = min(best, (time.perf_counter() - t0) / number)
    return best
