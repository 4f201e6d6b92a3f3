"""Maximum likelihood helpers and discrepancies between distributions (topic 01_mle).

Notebook ``01_mle`` derives every quantity here in a few visible lines first; later
notebooks call these functions instead of repeating them:

* :func:`gaussian_log_likelihood` -- the log-likelihood of i.i.d. Gaussian data (torch,
  differentiable, so it can be maximised with autograd);
* :func:`fit_mle` -- numerical maximum likelihood with L-BFGS on torch parameters;
* :func:`kl_divergence`, :func:`total_variation` -- between two discrete distributions
  on the same support (nats; TV with the factor 1/2, so ``0 <= TV <= 1``);
* :func:`wasserstein1_1d` -- the 1-D Wasserstein-1 distance between two weighted samples
  (equal to the area between their CDFs).

>>> import numpy as np
>>> p, q = np.array([0.5, 0.5]), np.array([0.9, 0.1])
>>> round(total_variation(p, q), 4), round(kl_divergence(p, q), 4)
(0.4, 0.5108)
"""

from __future__ import annotations

import math
from collections.abc import Callable, Iterable, Sequence
from typing import Any

import numpy as np
import torch

from ._validate import check_int

__all__ = [
    "gaussian_log_likelihood",
    "fit_mle",
    "kl_divergence",
    "total_variation",
    "wasserstein1_1d",
]


def gaussian_log_likelihood(x: torch.Tensor, mean: Any, var: Any) -> torch.Tensor:
    r"""Log-likelihood of i.i.d. data under a univariate Gaussian, in nats.

    .. math:: \ell(\mu,\sigma^2)=-\tfrac N2\log(2\pi\sigma^2)-\tfrac1{2\sigma^2}\sum_i(x_i-\mu)^2

    Args:
        x: data, shape ``(N,)`` (a tensor, array or list of numbers).
        mean: :math:`\mu`, a scalar or a tensor broadcastable against ``x``.
        var: :math:`\sigma^2 > 0`, a scalar or a tensor broadcastable against ``x``.

    Returns:
        A 0-d tensor, differentiable with respect to ``mean`` and ``var`` when they
        are tensors that require grad.

    Raises:
        ValueError: if ``x`` is not 1-D and non-empty, if ``mean`` or ``var`` has a shape
            that would enlarge ``x`` when broadcast (e.g. ``(N, 1)``: the result would
            sum ``N * N`` terms), if any value is NaN or infinite, or if ``var <= 0``.
        TypeError: if an argument is not numeric.

    >>> float(gaussian_log_likelihood(torch.zeros(1, dtype=torch.float64), 0.0, 1.0))
    -0.9189385332046727
    """
    x = _as_tensor(x, "x")
    if x.ndim != 1 or x.numel() == 0:
        raise ValueError(f"x must have shape (N,) with N >= 1, got {tuple(x.shape)}")
    if not bool(torch.isfinite(x).all()):
        raise ValueError("x contains NaN or infinite values")
    mean = _param(mean, "mean", x)
    var = _param(var, "var", x)
    if not bool(torch.isfinite(mean.detach()).all()):
        raise ValueError("mean contains NaN or infinite values")
    v = var.detach()
    if not bool(torch.isfinite(v).all()) or bool((v <= 0).any()):
        raise ValueError(f"var must be positive and finite, got {_show(v)}")
    return (-0.5 * torch.log(2 * math.pi * var) - (x - mean) ** 2 / (2 * var)).sum()


def _param(value: Any, name: str, x: torch.Tensor) -> torch.Tensor:
    """``value`` as a tensor of ``x``'s dtype that broadcasts to ``x.shape`` without enlarging it."""
    try:
        t = torch.as_tensor(value, dtype=x.dtype)
    except (TypeError, ValueError, RuntimeError) as exc:
        raise TypeError(f"{name} must be a number or a tensor, got {type(value).__name__}") from exc
    try:
        ok = torch.broadcast_shapes(t.shape, x.shape) == x.shape
    except RuntimeError:
        ok = False
    if not ok:
        raise ValueError(
            f"{name} must be a scalar or broadcastable to x's shape {tuple(x.shape)} without "
            f"enlarging it, got shape {tuple(t.shape)}"
        )
    return t


def _show(t: torch.Tensor) -> str:
    return repr(float(t)) if t.numel() == 1 else f"a tensor of shape {tuple(t.shape)}"


def fit_mle(
    neg_log_lik: Callable[[], torch.Tensor],
    params: Sequence[torch.Tensor],
    *,
    max_iter: int = 200,
    tol: float = 1e-10,
) -> float:
    """Minimise a negative log-likelihood over torch parameters with L-BFGS (in place).

    L-BFGS with a strong-Wolfe line search converges in a few dozen iterations on the
    smooth, low-dimensional likelihoods of this course; use float64 parameters when the
    result is compared with a closed form.

    Args:
        neg_log_lik: zero-argument function returning the scalar loss (a 0-d tensor)
            computed from ``params``.
        params: leaf tensors with ``requires_grad=True``; updated in place.
        max_iter: maximum number of L-BFGS iterations (>= 1).
        tol: stop when the largest gradient entry is below ``tol`` (L-BFGS also stops
            when the loss or the parameters stop changing in floating point).

    Returns:
        The final value of the loss, a float.

    Raises:
        TypeError: if ``params`` is not a list (or tuple) of tensors, e.g. a bare tensor
            ``mu`` instead of ``[mu]``.
        ValueError: if ``params`` is empty, a parameter does not require grad, or the
            loss is not a finite scalar.

    >>> mu = torch.zeros((), dtype=torch.float64, requires_grad=True)
    >>> data = torch.tensor([1.0, 2.0, 6.0], dtype=torch.float64)
    >>> _ = fit_mle(lambda: ((data - mu) ** 2).sum(), [mu])
    >>> round(mu.item(), 6)
    3.0
    """
    if isinstance(params, torch.Tensor) or not isinstance(params, Iterable):
        raise TypeError(
            "params must be a list of tensors, e.g. [mu], "
            f"got {'a tensor' if isinstance(params, torch.Tensor) else type(params).__name__}"
        )
    params = list(params)
    if not params:
        raise ValueError("params must contain at least one tensor")
    for i, p in enumerate(params):
        if not isinstance(p, torch.Tensor) or not p.requires_grad or not p.is_leaf:
            raise ValueError(f"params[{i}] must be a leaf tensor with requires_grad=True")
    check_int(max_iter, "max_iter", 1)
    opt = torch.optim.LBFGS(
        params,
        lr=1.0,
        max_iter=max_iter,
        tolerance_grad=tol,
        # tiny on purpose: the loss is flat near the optimum, so a loss-change test
        # with a moderate threshold stops early with the parameters still ~1e-8 off
        tolerance_change=1e-15,
        history_size=20,
        line_search_fn="strong_wolfe",
    )

    def closure():
        opt.zero_grad()
        loss = neg_log_lik()
        if not isinstance(loss, torch.Tensor) or loss.ndim != 0:
            raise ValueError("neg_log_lik must return a 0-d tensor")
        if not torch.isfinite(loss):
            raise ValueError(f"neg_log_lik returned {loss.item()} (not finite)")
        loss.backward()
        return loss

    opt.step(closure)
    with torch.no_grad():
        return float(neg_log_lik())


def kl_divergence(p: Any, q: Any) -> float:
    r"""KL divergence :math:`\mathrm{KL}(p\|q)=\sum_k p_k\log(p_k/q_k)` in nats.

    Terms with :math:`p_k=0` contribute 0; if :math:`q_k=0<p_k` for some k the result is
    ``inf`` (``p`` is not absolutely continuous with respect to ``q``).

    Args:
        p, q: probability vectors of the same shape ``(K,)`` (non-negative, sum to 1
            within 1e-6); arrays, lists or tensors.

    Returns:
        A float >= 0 (possibly ``inf``).

    Raises:
        ValueError: if an input is not a probability vector or the shapes differ.
    """
    p, q = _prob_pair(p, q)
    mask = p > 0
    with np.errstate(divide="ignore"):
        terms = p[mask] * (np.log(p[mask]) - np.log(q[mask]))
    return float(max(terms.sum(), 0.0))


def total_variation(p: Any, q: Any) -> float:
    r"""Total variation distance :math:`\tfrac12\sum_k|p_k-q_k|` (between 0 and 1).

    This is the convention of Pinsker's inequality
    :math:`\mathrm{TV}\le\sqrt{\mathrm{KL}/2}` (KL in nats).

    Args:
        p, q: probability vectors of the same shape ``(K,)``.

    Returns:
        A float in ``[0, 1]``.

    Raises:
        ValueError: if an input is not a probability vector or the shapes differ.
    """
    p, q = _prob_pair(p, q)
    return float(0.5 * np.abs(p - q).sum())


def wasserstein1_1d(
    x: Any, y: Any, x_weights: Any | None = None, y_weights: Any | None = None
) -> float:
    r"""Wasserstein-1 distance between two weighted samples on the real line.

    In one dimension the optimal coupling is monotone and
    :math:`W_1(P,Q)=\int_{-\infty}^{\infty}|F_P(t)-F_Q(t)|\,dt`, which this function
    evaluates exactly for the empirical (or weighted discrete) CDFs.

    Args:
        x: support points of the first distribution, shape ``(n,)``.
        y: support points of the second distribution, shape ``(m,)``.
        x_weights: probabilities of the points of ``x``, shape ``(n,)``
            (default: uniform). Normalised to sum to 1.
        y_weights: probabilities of the points of ``y``, shape ``(m,)``.

    Returns:
        A float >= 0, in the units of ``x``.

    Raises:
        ValueError: on empty or non-1-D input, non-finite values, or weights that are
            negative, all zero, or of the wrong shape.

    >>> wasserstein1_1d([0.0, 1.0], [0.0, 3.0])
    1.0
    """
    x = _vector(x, "x")
    y = _vector(y, "y")
    wx = _weights(x_weights, x.size, "x_weights")
    wy = _weights(y_weights, y.size, "y_weights")
    points = np.concatenate([x, y])
    order = np.argsort(points, kind="mergesort")
    points = points[order]
    # signed mass: +w for points of x, -w for points of y; cumulative sum = F_P - F_Q
    mass = np.concatenate([wx, -wy])[order]
    cdf_diff = np.cumsum(mass)[:-1]
    return float(np.sum(np.abs(cdf_diff) * np.diff(points)))


def _as_tensor(x: Any, name: str) -> torch.Tensor:
    if isinstance(x, torch.Tensor):
        return x if x.is_floating_point() else x.to(torch.get_default_dtype())
    try:
        return torch.as_tensor(np.asarray(x, dtype=np.float64))
    except (TypeError, ValueError) as exc:
        raise TypeError(f"{name} must be numeric, got {type(x).__name__}") from exc


def _vector(x: Any, name: str) -> np.ndarray:
    if isinstance(x, torch.Tensor):
        x = x.detach().cpu().numpy()
    try:
        arr = np.asarray(x, dtype=np.float64)
    except (TypeError, ValueError) as exc:
        raise TypeError(f"{name} must be numeric, got {type(x).__name__}") from exc
    if arr.ndim != 1 or arr.size == 0:
        raise ValueError(f"{name} must have shape (K,) with K >= 1, got {arr.shape}")
    if not np.all(np.isfinite(arr)):
        raise ValueError(f"{name} contains NaN or infinite values")
    return arr


def _weights(w: Any | None, n: int, name: str) -> np.ndarray:
    if w is None:
        return np.full(n, 1.0 / n)
    w = _vector(w, name)
    if w.shape != (n,):
        raise ValueError(f"{name} must have shape ({n},), got {w.shape}")
    if np.any(w < 0) or w.sum() <= 0:
        raise ValueError(f"{name} must be non-negative with a positive sum")
    return w / w.sum()


def _prob_pair(p: Any, q: Any) -> tuple[np.ndarray, np.ndarray]:
    p = _vector(p, "p")
    q = _vector(q, "q")
    if p.shape != q.shape:
        raise ValueError(f"p and q must have the same shape, got {p.shape} and {q.shape}")
    for name, v in (("p", p), ("q", q)):
        if np.any(v < 0) or abs(v.sum() - 1.0) > 1e-6:
            raise ValueError(
                f"{name} must be a probability vector (entries >= 0 summing to 1), "
                f"got sum {v.sum():.6g}"
            )
    return p, q
