"""Monotone rational-quadratic splines and the spline coupling layer (neural spline flows).

Durkan, Bekasov, Murray & Papamakarios (2019), *Neural Spline Flows*. On ``[-bound, bound]``
a coordinate is mapped by a monotone piecewise rational-quadratic function through
``K + 1`` knots ``(x^k, y^k)`` with positive derivatives ``d^k`` at the knots; outside it
is the identity (the end derivatives are 1, so the map is C^1 at the ends). In bin ``k``,
with ``s = (y^{k+1} - y^k) / (x^{k+1} - x^k)`` and ``xi = (x - x^k) / (x^{k+1} - x^k)``:

    g(x)  = y^k + (y^{k+1} - y^k) [s xi^2 + d^k xi (1 - xi)] / [s + (d^{k+1} + d^k - 2 s) xi (1 - xi)]
    g'(x) = s^2 [d^{k+1} xi^2 + 2 s xi (1 - xi) + d^k (1 - xi)^2] / [s + (d^{k+1} + d^k - 2 s) xi (1 - xi)]^2

``g' > 0`` everywhere, and the inverse is the root in ``[0, 1]`` of a quadratic in ``xi``
(taken in the cancellation-free form ``xi = 2c / (-b - sqrt(b^2 - 4ac))``). Unlike an
affine coupling, whose map of a transformed coordinate is a straight line (one slope for
the whole axis), a spline coupling can bend one coordinate differently in different
places: it can split one mode of the latent into several of the data in a single layer.

>>> import torch
>>> x = torch.tensor([-5.0, -1.0, 0.3, 2.0], dtype=torch.float64)
>>> raw = torch.zeros(4, 3 * 8 - 1, dtype=torch.float64)  # all-zero parameters: identity
>>> y, log_det = rational_quadratic_spline(x, raw, bound=3.0)
>>> torch.allclose(y, x), torch.allclose(log_det, torch.zeros(4, dtype=torch.float64))
(True, True)
"""

from __future__ import annotations

import math

import torch
from torch import nn
from torch.nn import functional as F

from ._validate import check_int, check_number, check_shape
from .flows import Bijection, Compose, ElementwiseAffine, Flow, coupling_mask

__all__ = ["rational_quadratic_spline", "SplineCoupling", "neural_spline_flow"]

_MIN_WIDTH = 1e-3  # smallest bin width and height, as a fraction of 2 * bound
_MIN_DERIV = 1e-3  # smallest derivative at a knot
# softplus(_DERIV_SHIFT) + _MIN_DERIV = 1: zero raw parameters give the identity map
_DERIV_SHIFT = math.log(math.expm1(1.0 - _MIN_DERIV))


def _knots(raw: torch.Tensor, bound: float) -> tuple[torch.Tensor, torch.Tensor]:
    # (..., K) unnormalised -> (..., K + 1) increasing knots from -bound to bound
    k = raw.shape[-1]
    w = _MIN_WIDTH + (1 - _MIN_WIDTH * k) * torch.softmax(raw, dim=-1)
    knots = F.pad(torch.cumsum(w, dim=-1), (1, 0)) * (2 * bound) - bound
    # the ends exactly at +-bound (cumsum rounding), so the tails join the identity
    return torch.cat(
        [knots[..., :1] * 0 - bound, knots[..., 1:-1], knots[..., -1:] * 0 + bound], -1
    )


def rational_quadratic_spline(
    x: torch.Tensor, params: torch.Tensor, *, bound: float = 3.0, inverse: bool = False
) -> tuple[torch.Tensor, torch.Tensor]:
    """Monotone rational-quadratic spline on ``[-bound, bound]``, identity outside.

    Args:
        x: ``(n,)`` inputs (one scalar per row).
        params: ``(n, 3K - 1)`` unnormalised parameters per row: ``K`` bin widths, ``K``
            bin heights (through a softmax, each at least ``1e-3`` of the interval) and
            ``K - 1`` interior knot derivatives (through a softplus, at least ``1e-3``; the
            two end derivatives are 1). All zeros give the identity map.
        bound: half-width of the interval the spline acts on (> 0).
        inverse: evaluate ``g^{-1}`` instead of ``g``.

    Returns:
        ``(y, log_det)``, both ``(n,)``: ``y = g(x)`` (or ``g^{-1}(x)``) and
        ``log |dy/dx|``.
    """
    # a coupling layer calls this on every batch: shapes and types are checked, values not
    check_shape(x, (None,), "x", "(n,)")
    check_shape(params, (x.shape[0], None), "params", f"({x.shape[0]}, 3K - 1)")
    if (params.shape[1] + 1) % 3 or params.shape[1] < 2:
        raise ValueError(f"params must have 3K - 1 columns (K >= 1), got {params.shape[1]}")
    if not (isinstance(bound, (int, float)) and math.isfinite(bound) and bound > 0):
        raise ValueError(f"bound must be a finite positive number, got {bound!r}")
    k = (params.shape[1] + 1) // 3
    xs = _knots(params[:, :k], bound)
    ys = _knots(params[:, k : 2 * k], bound)
    d = _MIN_DERIV + F.softplus(params[:, 2 * k :] + _DERIV_SHIFT)
    ones = torch.ones_like(d[:, :1])
    d = torch.cat([ones, d, ones], dim=1)  # (n, K + 1), identity-matching ends

    inside = (x >= -bound) & (x <= bound)
    xc = x.clamp(-bound, bound)
    knots_in = ys if inverse else xs
    idx = torch.searchsorted(knots_in[:, 1:-1].contiguous(), xc[:, None], right=True)
    idx = idx.clamp(0, k - 1)  # bin of each input

    def at(t):
        return t.gather(1, idx)[:, 0]

    x0, y0 = at(xs), at(ys)
    w = at(xs[:, 1:]) - x0
    h = at(ys[:, 1:]) - y0
    d0, d1 = at(d), at(d[:, 1:])
    s = h / w
    if inverse:
        dy = xc - y0
        c2 = d1 + d0 - 2 * s
        a = h * (s - d0) + dy * c2
        b = h * d0 - dy * c2
        c = -s * dy
        disc = (b * b - 4 * a * c).clamp_min(0)
        xi = (2 * c) / (-b - torch.sqrt(disc))
        out = x0 + xi * w
    else:
        xi = (xc - x0) / w
    one_m = xi * (1 - xi)
    denom = s + (d1 + d0 - 2 * s) * one_m
    deriv = s * s * (d1 * xi * xi + 2 * s * one_m + d0 * (1 - xi) ** 2) / (denom * denom)
    log_det = torch.log(deriv)
    if not inverse:
        out = y0 + h * (s * xi * xi + d0 * one_m) / denom
    else:
        log_det = -log_det
    y = torch.where(inside, out, x)
    return y, torch.where(inside, log_det, torch.zeros_like(log_det))


class SplineCoupling(Bijection):
    """Coupling layer with a rational-quadratic spline per transformed coordinate.

    Coordinates with ``mask == 1`` are copied and condition, through an MLP, the ``3K - 1``
    spline parameters of each coordinate with ``mask == 0``::

        x_i = z_i                            (mask_i = 1)
        x_i = g(z_i; theta_i(m * z))         (mask_i = 0)

    ``log |det dx/dz| = sum over transformed i of log g'(z_i)``.

    Args:
        mask: ``(dim,)`` zeros and ones, with at least one of each.
        bins: number of spline bins ``K`` (>= 1).
        hidden: width of the conditioner's hidden layers.
        depth: number of hidden layers (>= 1).
        bound: the spline acts on ``[-bound, bound]`` (identity outside).
    """

    def __init__(
        self, mask, bins: int = 8, hidden: int = 32, depth: int = 2, *, bound: float = 4.0
    ):
        super().__init__()
        m = coupling_mask(mask)
        for name, v in (("bins", bins), ("hidden", hidden), ("depth", depth)):
            check_int(v, name)
        check_number(bound, "bound", positive=True)
        self.dim, self.bins, self.bound = m.shape[0], bins, float(bound)
        self.register_buffer("mask", m)
        self.register_buffer("free", torch.nonzero(m == 0)[:, 0])
        self.register_buffer("kept", torch.nonzero(m == 1)[:, 0])
        n_out = len(self.free) * (3 * bins - 1)
        layers: list[nn.Module] = [nn.Linear(len(self.kept), hidden), nn.ReLU()]
        for _ in range(depth - 1):
            layers += [nn.Linear(hidden, hidden), nn.ReLU()]
        layers.append(nn.Linear(hidden, n_out))
        nn.init.zeros_(layers[-1].weight)  # start at the identity map
        nn.init.zeros_(layers[-1].bias)
        self.net = nn.Sequential(*layers)

    def _spline(self, z, inverse: bool):
        params = self.net(z[:, self.kept]).reshape(z.shape[0] * len(self.free), 3 * self.bins - 1)
        y, log_det = rational_quadratic_spline(
            z[:, self.free].reshape(-1), params, bound=self.bound, inverse=inverse
        )
        out = z.clone()
        out[:, self.free] = y.reshape(z.shape[0], len(self.free))
        return out, log_det.reshape(z.shape[0], -1).sum(1)

    def _forward(self, z):
        return self._spline(z, inverse=False)

    def _inverse(self, x):
        # the copied coordinates are equal in x and z: the same spline parameters
        return self._spline(x, inverse=True)


def neural_spline_flow(
    dim: int = 2,
    n_layers: int = 4,
    bins: int = 8,
    hidden: int = 32,
    depth: int = 2,
    *,
    bound: float = 4.0,
    scale_data: bool = True,
) -> Flow:
    """A coupling neural spline flow: :class:`SplineCoupling` layers with alternating masks.

    Args:
        dim: data dimension (>= 2).
        n_layers: number of coupling layers (>= 1).
        bins, hidden, depth, bound: see :class:`SplineCoupling`.
        scale_data: end with a trainable per-axis scale and shift, as in
            :func:`course_utils.flows.realnvp`.

    Returns:
        A :class:`~course_utils.flows.Flow` starting at the identity map.
    """
    check_int(dim, "dim", 2)
    check_int(n_layers, "n_layers")
    even = torch.tensor([float(i % 2 == 0) for i in range(dim)])
    layers: list[Bijection] = [
        SplineCoupling(even if k % 2 == 0 else 1 - even, bins, hidden, depth, bound=bound)
        for k in range(n_layers)
    ]
    if scale_data:
        layers.append(ElementwiseAffine(torch.ones(dim), torch.zeros(dim), trainable=True))
    return Flow(Compose(*layers))
