"""The (conditional) flow-matching losses and the closed-form marginal field of a data set."""

from __future__ import annotations

import math
from collections.abc import Callable

import torch

from .._validate import check_data
from ._common import _check_points, _checked_output, _column_time
from .couplings import couple
from .paths import GaussianPath

__all__ = ["cfm_loss", "fm_loss", "MarginalField"]


def cfm_loss(
    field: Callable,
    path: GaussianPath,
    x1: torch.Tensor,
    *,
    x0: torch.Tensor | None = None,
    t: torch.Tensor | None = None,
    coupling: str = "independent",
    generator: torch.Generator | None = None,
) -> torch.Tensor:
    """Conditional flow matching loss ``mean_i ||v(t_i, x_t,i) - u_t(x_t,i | x1_i)||^2``.

    A Monte Carlo estimate of ``L_CFM = E_{t, (x0, x1), x_t} ||v_t(x_t) - u_t(x_t | x1)||^2``
    (squared norm summed over coordinates, mean over the batch).

    Args:
        field: the model, called as ``field(t, x)`` with ``t: (batch,)`` and
            ``x: (batch, dim)``.
        path: the conditional path.
        x1: ``(batch, dim)`` data points.
        x0: ``(batch, dim)`` noise points; drawn from ``N(0, I)`` when None.
        t: ``(batch,)`` times; drawn from ``U[0, 1)`` when None.
        coupling: how ``x0`` is paired with ``x1`` (see :func:`couple`).
        generator: random generator for ``x0`` and ``t``.

    Returns:
        0-d tensor, differentiable in the parameters of ``field``.
    """
    x1 = check_data(x1, "x1")
    if x0 is None:
        x0 = torch.randn(x1.shape, generator=generator, dtype=x1.dtype, device=x1.device)
    if t is None:
        t = torch.rand(x1.shape[0], generator=generator, dtype=x1.dtype, device=x1.device)
    x0, x1 = couple(x0, x1, coupling)
    t = _column_time(t, x1).expand(x1.shape[0], 1).reshape(-1)
    xt = path.sample_xt(x0, x1, t)
    ut = path.target(x0, x1, t)
    return ((_checked_output(field(t, xt), xt) - ut) ** 2).sum(1).mean()


def fm_loss(field: Callable, target_field: Callable, x: torch.Tensor, t) -> torch.Tensor:
    """Flow matching loss ``mean_i ||v(t_i, x_i) - u(t_i, x_i)||^2`` against a known field.

    Usable only when the marginal field ``u`` is known (e.g. :class:`MarginalField` for a
    finite data set) and ``x_i ~ p_{t_i}``; in practice it is not, hence :func:`cfm_loss`.

    Args:
        field: the model ``v(t, x)``.
        target_field: the marginal field ``u(t, x)``.
        x: ``(batch, dim)`` points, ``x_i ~ p_{t_i}``.
        t: ``(batch,)`` times or one number.

    Returns:
        0-d tensor.
    """
    x = check_data(x, "x")
    t = _column_time(t, x).expand(x.shape[0], 1).reshape(-1)
    with torch.no_grad():
        u = _checked_output(target_field(t, x), x, "target_field(t, x)")
    return ((_checked_output(field(t, x), x) - u) ** 2).sum(1).mean()


class MarginalField(torch.nn.Module):
    """The exact marginal field of a conditional path over a finite data set (K Thm 11).

    For data ``y_1..y_N`` with weights ``w_j`` the marginal path is the mixture
    ``p_t(x) = sum_j w_j N(x; alpha_t y_j, sigma_t^2 I)`` and the field that generates it is
    the posterior average of the conditional fields,

        u_t(x) = sum_j r_j(t, x) u_t(x | y_j),
        r_j = softmax_j(log w_j - ||x - alpha_t y_j||^2 / (2 sigma_t^2)),

    i.e. ``u_t(x) = (sigma_t'/sigma_t)(x - alpha_t m) + alpha_t' m`` with
    ``m = E[x1 | x_t = x] = sum_j r_j y_j`` (R's ``E[x1 - x0 | x_t = x]`` for the linear path).
    A drop-in replacement for a trained network: ``field(t, x)``.

    Args:
        path: the conditional path (needs ``sigma_t > 0`` where the field is evaluated).
        data: ``(N, dim)`` data points.
        weights: ``(N,)`` non-negative weights (normalised here); uniform when None.
    """

    def __init__(self, path: GaussianPath, data: torch.Tensor, weights: torch.Tensor | None = None):
        super().__init__()
        if not isinstance(path, GaussianPath):
            raise TypeError(f"path must be a GaussianPath, got {type(path).__name__}")
        data = check_data(data, "data")
        if weights is None:
            weights = torch.full((data.shape[0],), 1.0 / data.shape[0], dtype=data.dtype)
        weights = torch.as_tensor(weights, dtype=data.dtype)
        if (
            weights.shape != (data.shape[0],)
            or not bool(torch.isfinite(weights).all())
            or bool((weights < 0).any())
            or float(weights.sum()) <= 0
        ):
            raise ValueError(
                f"weights must be finite, non-negative, with shape ({data.shape[0]},) and a "
                "positive sum"
            )
        self.path = path
        self.register_buffer("data", data)
        self.register_buffer("log_weights", torch.log(weights / weights.sum()))

    def _log_components(self, t, x):
        # log w_j + log N(x; alpha_t y_j, sigma_t^2 I) for every (x_i, y_j): (batch, N)
        x = _check_points(x, "x", self.data.shape[1])
        tc = _column_time(t, x)
        a, s = self.path.alpha(tc), self.path.sigma(tc)
        if bool((s <= 0).any()):
            raise ValueError(
                f"the marginal field of the {self.path.name} path needs sigma_t > 0; it is "
                "singular where sigma_t = 0 (t = 1 with sigma_min = 0): use sigma_min > 0 or t < 1"
            )
        y = self.data.to(x.dtype)
        d2 = (x * x).sum(1, keepdim=True) - 2 * a * (x @ y.T) + a * a * (y * y).sum(1)[None]
        dim = x.shape[1]
        logn = (
            -0.5 * d2.clamp_min(0) / s**2 - dim * torch.log(s) - 0.5 * dim * math.log(2 * math.pi)
        )
        return self.log_weights.to(x.dtype)[None] + logn, tc, a, s

    def posterior(self, t, x: torch.Tensor) -> torch.Tensor:
        """Posterior weights ``r_j(t, x) = P(x1 = y_j | x_t = x)``: ``(batch, N)``."""
        logc, *_ = self._log_components(t, x)
        return torch.softmax(logc, dim=1)

    def forward(self, t, x: torch.Tensor) -> torch.Tensor:
        """``u_t(x)``: ``t`` a number, 0-d or ``(batch,)``; ``x: (batch, dim)`` -> ``(batch, dim)``."""
        logc, tc, a, s = self._log_components(t, x)
        m = torch.softmax(logc, dim=1) @ self.data.to(x.dtype)  # E[x1 | x_t = x]
        return self.path.d_sigma(tc) / s * (x - a * m) + self.path.d_alpha(tc) * m

    def log_prob(self, t, x: torch.Tensor) -> torch.Tensor:
        """Log-density of the marginal path ``log p_t(x)`` in nats: ``(batch,)``."""
        logc, *_ = self._log_components(t, x)
        return torch.logsumexp(logc, dim=1)
