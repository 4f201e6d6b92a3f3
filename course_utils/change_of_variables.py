"""Densities under transformations: Jacobians, log-determinants, push-forward log-densities.

Taught in ``notebooks/03_change_of_variables.ipynb``. If ``z ~ p_Z`` and ``x = g(z)`` with
``g`` a diffeomorphism, the push-forward density ``g_# p_Z`` is

    log p_X(x) = log p_Z(z) - log |det dg/dz (z)|,   z = g^{-1}(x)
               = log p_Z(g^{-1}(x)) + log |det dg^{-1}/dx (x)|.

The helpers compute the Jacobians with autograd, so they are meant for small dimensions
(one backward pass per output coordinate). Maps are written for batches: a transform
takes ``z: (batch, dim)`` and returns ``x: (batch, dim)``, acting on every row
separately (row ``b`` of the output may depend only on row ``b`` of the input).

>>> import torch
>>> A = torch.tensor([[2.0, 1.0], [1.0, 3.0]], dtype=torch.float64)
>>> z = torch.zeros(1, 2, dtype=torch.float64)
>>> round(float(log_abs_det_jacobian(lambda v: v @ A.T, z)[0].exp()), 6)
5.0
"""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence

import torch

from ._validate import check_batch as _check_batch
from ._validate import check_data as _check_data
from ._validate import check_positive_int, standard_normal_log_prob
from .grid import grid_2d

__all__ = [
    "standard_normal_log_prob",
    "batch_jacobian",
    "log_abs_det_jacobian",
    "log_prob_after",
    "log_prob_after_branches",
    "histogram_tv",
]

Map = Callable[[torch.Tensor], torch.Tensor]


def _check_callable(f, name: str) -> None:
    if not callable(f):
        raise TypeError(f"{name} must be a callable mapping (batch, dim) to (batch, ...)")


def _call_log_prob(log_prob: Map, z: torch.Tensor, name: str) -> torch.Tensor:
    out = log_prob(z)
    if not isinstance(out, torch.Tensor) or out.shape != (z.shape[0],):
        shape = tuple(out.shape) if isinstance(out, torch.Tensor) else type(out).__name__
        raise ValueError(f"{name} must map (batch, dim) to (batch,), got {shape}")
    return out


def batch_jacobian(f: Map, z: torch.Tensor, *, create_graph: bool = False) -> torch.Tensor:
    """Jacobian of a row-wise map at every point of a batch, by autograd.

    Because row ``b`` of ``f(z)`` depends only on row ``b`` of ``z``, the gradient of
    ``f(z)[:, i].sum()`` with respect to ``z`` holds ``d f_i / d z`` for every row at
    once: ``dim_out`` backward passes give all ``batch`` Jacobians.

    Args:
        f: row-wise map, ``(batch, dim_in) -> (batch, dim_out)``.
        z: points, shape ``(batch, dim_in)``, floating point.
        create_graph: keep the graph so the result can be differentiated again.

    Returns:
        ``J`` with ``J[b, i, j] = d f_i / d z_j`` at ``z[b]``, shape
        ``(batch, dim_out, dim_in)``.

    Raises:
        ValueError: if ``z`` or ``f(z)`` does not have shape ``(batch, dim)``.
    """
    _check_callable(f, "f")
    z = _check_data(z, "z")
    with torch.enable_grad():
        zr = z.detach().requires_grad_(True)
        out = f(zr)
        if not isinstance(out, torch.Tensor) or out.ndim != 2 or out.shape[0] != z.shape[0]:
            shape = tuple(out.shape) if isinstance(out, torch.Tensor) else type(out).__name__
            raise ValueError(f"f must map (batch, dim_in) to (batch, dim_out); got {shape}")
        rows = []
        for i in range(out.shape[1]):
            if not out.requires_grad:  # f ignores its input (a constant map)
                rows.append(torch.zeros_like(zr))
                continue
            (g,) = torch.autograd.grad(
                out[:, i].sum(), zr, retain_graph=True, create_graph=create_graph, allow_unused=True
            )
            rows.append(torch.zeros_like(zr) if g is None else g)
    jac = torch.stack(rows, dim=1)
    return jac if create_graph else jac.detach()


def log_abs_det_jacobian(f: Map, z: torch.Tensor, *, create_graph: bool = False) -> torch.Tensor:
    """``log |det df/dz|`` at every point of a batch (autograd Jacobian + ``slogdet``).

    Args:
        f: row-wise map ``(batch, dim) -> (batch, dim)`` (square Jacobian).
        z: points, shape ``(batch, dim)``.
        create_graph: keep the graph (for training through the log-determinant).

    Returns:
        Shape ``(batch,)``; ``-inf`` where the Jacobian is singular.

    Raises:
        ValueError: if ``f`` changes the dimension (no density formula then).
    """
    jac = batch_jacobian(f, z, create_graph=create_graph)
    if jac.shape[1] != jac.shape[2]:
        raise ValueError(
            f"f must map R^d to R^d for a change of variables; its Jacobian has shape "
            f"{tuple(jac.shape[1:])}"
        )
    return torch.linalg.slogdet(jac).logabsdet


def log_prob_after(
    transform: Map,
    base_log_prob: Map,
    x: torch.Tensor,
    *,
    inverse: Map,
    jacobian_of: str = "forward",
) -> torch.Tensor:
    """Log-density of ``x = transform(z)``, ``z ~ base``, for a diffeomorphism ``transform``.

    With ``z = inverse(x)``:

    * ``jacobian_of="forward"``: ``log p_Z(z) - log |det d transform/dz (z)|``;
    * ``jacobian_of="inverse"``: ``log p_Z(z) + log |det d inverse/dx (x)|``.

    Both are the same number when ``inverse`` really inverts ``transform``; computing
    both is a check. The formula assumes ``transform`` is one-to-one on the support of
    the base density: for a many-to-one map use :func:`log_prob_after_branches`.

    Args:
        transform: the map ``g``, row-wise ``(batch, dim) -> (batch, dim)``.
        base_log_prob: ``log p_Z``, ``(batch, dim) -> (batch,)``.
        x: points where the push-forward density is wanted, shape ``(batch, dim)``.
        inverse: ``g^{-1}``, row-wise ``(batch, dim) -> (batch, dim)``.
        jacobian_of: ``"forward"`` or ``"inverse"``: which Jacobian to differentiate.

    Returns:
        ``log p_X(x)``, shape ``(batch,)``.

    >>> import torch
    >>> g, g_inv = (lambda z: 2 * z + 3), (lambda x: (x - 3) / 2)
    >>> x = torch.tensor([[3.0]], dtype=torch.float64)
    >>> round(float(log_prob_after(g, standard_normal_log_prob, x, inverse=g_inv)), 4)
    -1.6121
    """
    _check_callable(transform, "transform")
    _check_callable(base_log_prob, "base_log_prob")
    _check_callable(inverse, "inverse")
    x = _check_data(x, "x")
    if jacobian_of not in ("forward", "inverse"):
        raise ValueError(f"jacobian_of must be 'forward' or 'inverse', got {jacobian_of!r}")
    with torch.no_grad():
        z = inverse(x)
    z = _check_batch(z, "inverse(x)", x.shape[1])
    base = _call_log_prob(base_log_prob, z, "base_log_prob")
    if jacobian_of == "forward":
        return base - log_abs_det_jacobian(transform, z)
    return base + log_abs_det_jacobian(inverse, x)


def log_prob_after_branches(
    transform: Map,
    base_log_prob: Map,
    x: torch.Tensor,
    *,
    inverses: Sequence[Map],
) -> torch.Tensor:
    """Log-density of ``x = transform(z)`` for a map that is one-to-one on pieces.

    If the domain splits into pieces on each of which ``transform`` is a diffeomorphism
    with inverse ``inverses[k]`` (all defined on the same image), every ``x`` has one
    preimage per piece and the densities add up:

        p_X(x) = sum_k p_Z(z_k) / |det dg/dz (z_k)|,   z_k = inverses[k](x).

    The sum is done in log space (``logsumexp``).

    Args:
        transform: the map ``g``, row-wise ``(batch, dim) -> (batch, dim)``.
        base_log_prob: ``log p_Z``, ``(batch, dim) -> (batch,)``.
        x: points of the image, shape ``(batch, dim)``.
        inverses: one inverse per piece, each ``(batch, dim) -> (batch, dim)``.

    Returns:
        ``log p_X(x)``, shape ``(batch,)``.

    >>> import math, torch
    >>> sq = lambda z: z**2  # X = Z^2 is chi-square with 1 degree of freedom
    >>> x = torch.tensor([[1.0]], dtype=torch.float64)
    >>> branches = [lambda x: x.sqrt(), lambda x: -x.sqrt()]
    >>> lp = log_prob_after_branches(sq, standard_normal_log_prob, x, inverses=branches)
    >>> round(float(lp.exp()), 4), round(math.exp(-0.5) / math.sqrt(2 * math.pi), 4)
    (0.242, 0.242)
    """
    if isinstance(inverses, (str, bytes)) or not isinstance(inverses, Sequence) or not inverses:
        raise TypeError("inverses must be a non-empty list of callables, one per branch")
    terms = [
        log_prob_after(transform, base_log_prob, x, inverse=inv, jacobian_of="forward")
        for inv in inverses
    ]
    return torch.logsumexp(torch.stack(terms, dim=0), dim=0)


def _lim_1d(lim) -> tuple[float, float]:
    try:
        lo, hi = (float(v) for v in lim)
    except (TypeError, ValueError):
        raise ValueError(f"lim must be (lo, hi) for 1-D samples, got {lim!r}") from None
    if not (math.isfinite(lo) and math.isfinite(hi)):
        raise ValueError(f"lim must be finite (the histogram window), got {lim!r}")
    if not lo < hi:
        raise ValueError(f"lim must have lo < hi, got {lim!r}")
    return lo, hi


def histogram_tv(
    samples: torch.Tensor,
    log_prob: Map,
    lim,
    bins: int = 40,
    refine: int = 4,
    *,
    cdf: Map | None = None,
) -> float:
    """Total-variation distance between a sample histogram and a density, binned.

    The bin probabilities of the density are midpoint-rule integrals on ``refine``
    sub-cells per bin and axis; the mass outside the window (``1 -`` their sum) is
    compared with the fraction of samples outside it. The result is
    ``0.5 * sum_bins |empirical - model|`` (including the outside bin), between 0 and 1.
    For ``N`` exact samples it is of order ``0.5 * sqrt(2 * B / (pi * N))`` with ``B`` the
    number of occupied bins, so compare it with that noise level, not with 0.

    Args:
        samples: shape ``(N, 1)`` or ``(N, 2)``.
        log_prob: log-density, ``(batch, dim) -> (batch,)``.
        lim: the window: ``(lo, hi)`` in 1-D; in 2-D anything :func:`course_utils.grid.grid_2d`
            accepts (``L``, ``(lo, hi)`` or ``(xlo, xhi, ylo, yhi)``).
        bins: bins per axis.
        refine: sub-cells per bin and axis for the model's bin probabilities.
        cdf: 1-D only, optional: the CDF of the model, ``(batch, 1) -> (batch,)``. When
            given, bin probabilities are exact CDF differences instead of midpoint sums;
            use it for densities with an integrable singularity (``|x|^{-2/3}`` at 0, say),
            where the midpoint rule converges slowly.

    Returns:
        The distance, a float in ``[0, 1]``.

    Raises:
        ValueError: ``samples`` is empty or has NaN/inf rows (they are in no bin: they
            would count as mass outside the window), or ``lim`` is not a finite window.
    """
    samples = _check_data(samples, "samples")
    _check_callable(log_prob, "log_prob")
    dim = samples.shape[1]
    check_positive_int(bins, "bins")
    check_positive_int(refine, "refine")
    samples = samples.detach().to(torch.float64)
    n_fine = bins * refine
    if cdf is not None and dim != 1:
        raise ValueError("cdf is only supported for 1-D samples")
    if dim == 1:
        lo, hi = _lim_1d(lim)
        if cdf is not None:
            _check_callable(cdf, "cdf")
            edges = torch.linspace(lo, hi, bins + 1, dtype=torch.float64)[:, None]
            with torch.no_grad():
                c = _call_log_prob(cdf, edges, "cdf").to(torch.float64)
            model = c[1:] - c[:-1]
            if (model < -1e-12).any() or c[0] < -1e-12 or c[-1] > 1 + 1e-12:
                raise ValueError("cdf must be non-decreasing with values in [0, 1]")
        else:
            h = (hi - lo) / n_fine
            pts = torch.linspace(lo + h / 2, hi - h / 2, n_fine, dtype=torch.float64)[:, None]
            with torch.no_grad():
                dens = _call_log_prob(log_prob, pts, "log_prob").exp().to(torch.float64) * h
            model = dens.reshape(bins, refine).sum(1)
        counts = torch.histc(samples[:, 0], bins=bins, min=lo, max=hi)
        inside = (samples[:, 0] >= lo) & (samples[:, 0] <= hi)
    elif dim == 2:
        xs, ys, pts, area = grid_2d(lim, n_fine)
        with torch.no_grad():
            dens = _call_log_prob(log_prob, pts, "log_prob").exp().to(torch.float64) * area
        model = dens.reshape(bins, refine, bins, refine).sum((1, 3))  # [iy, ix]
        hx, hy = float(xs[1] - xs[0]), float(ys[1] - ys[0])
        xlo, xhi = float(xs[0]) - hx / 2, float(xs[-1]) + hx / 2
        ylo, yhi = float(ys[0]) - hy / 2, float(ys[-1]) + hy / 2
        counts = torch.histogramdd(
            samples[:, [1, 0]], bins=[bins, bins], range=[ylo, yhi, xlo, xhi]
        ).hist
        inside = (
            (samples[:, 0] >= xlo)
            & (samples[:, 0] <= xhi)
            & (samples[:, 1] >= ylo)
            & (samples[:, 1] <= yhi)
        )
    else:
        raise ValueError(f"samples must have 1 or 2 columns, got {dim}")
    if not torch.isfinite(model).all():
        raise ValueError("log_prob gave NaN or +inf inside the window")
    n = samples.shape[0]
    emp = counts.reshape(-1) / n
    model = model.reshape(-1)
    out_emp = 1.0 - float(inside.sum()) / n
    out_model = max(0.0, 1.0 - float(model.sum()))
    return 0.5 * (float((emp - model).abs().sum()) + abs(out_emp - out_model))
