"""Flow matching: conditional Gaussian paths, the CFM loss, couplings, the marginal field.

Taught in ``notebooks/07_flow_matching.ipynb``.

**Time convention of the course: noise at t = 0, data at t = 1.** A conditional
Gaussian path moves a noise point ``x0 ~ N(0, I)`` towards a data point ``x1``:

    x_t = sigma_t x0 + alpha_t x1,          p_t(x | x1) = N(x; alpha_t x1, sigma_t^2 I),

and the conditional vector field that generates it (Lipman et al. 2023, Thm 3; K Thm 10)
is

    u_t(x | x1) = (sigma_t' / sigma_t) (x - alpha_t x1) + alpha_t' x1,

which, evaluated at ``x = x_t``, is just the time derivative ``sigma_t' x0 + alpha_t' x1``
of the path (:meth:`GaussianPath.target`). Three paths share this interface:

=========  ===========================  ==========================================
path       alpha_t (mean = alpha_t x1)  sigma_t
=========  ===========================  ==========================================
``ot``     ``t``                        ``1 - (1 - sigma_min) t``
``vp``     ``exp(-T(1 - t) / 2)``       ``sqrt(1 - alpha_t^2)``,
                                        ``T(s) = b_min s + (b_max - b_min) s^2 / 2``
``ve``     ``1``                        ``s_min (s_max / s_min)^(1 - t)``
=========  ===========================  ==========================================

Conversions. Lipman et al. (and K, except in K §3.1 before it re-reverses time) use the
course's convention. Score-based diffusion (Song et al. 2021) runs time the other way,
data at ``s = 0`` and noise at ``s = 1``: its ``alpha(s), sigma(s)`` become the course's
``alpha_t = alpha(1 - t)``, ``sigma_t = sigma(1 - t)``, and every velocity changes sign
(``d/dt = -d/ds``). R's linear interpolation ``x_t = (1 - t) x0 + t x1`` is the ``ot`` path
with ``sigma_min = 0``; R writes fields as ``f(x, t)``, the course as ``v(t, x)``.

A finite data set has a closed-form *marginal* field (K Thm 11) -- :class:`MarginalField`
-- usable wherever a trained network is. Any field ``v(t, x)`` is sampled with
:func:`sample` (any :mod:`course_utils.ode` method) and has an exact log-likelihood by
:func:`log_prob` (through :mod:`course_utils.cnf`).

>>> import torch
>>> path = OTPath()
>>> x0 = torch.zeros(1, 2, dtype=torch.float64); x1 = torch.ones(1, 2, dtype=torch.float64)
>>> path.sample_xt(x0, x1, 0.25).tolist(), path.target(x0, x1, 0.25).tolist()
([[0.25, 0.25]], [[1.0, 1.0]])
"""

from __future__ import annotations

import copy
import math
import time
from collections.abc import Callable

import torch

from ._validate import check_batch, check_data, check_finite, check_int, check_tensor
from .metrics import optimal_matching

__all__ = [
    "GaussianPath",
    "OTPath",
    "VPPath",
    "VEPath",
    "PATHS",
    "get_path",
    "COUPLINGS",
    "couple",
    "cfm_loss",
    "fm_loss",
    "MarginalField",
    "VelocityMLP",
    "train",
    "sample",
    "log_prob",
    "straightness",
]

COUPLINGS = ("independent", "ot")


# --------------------------------------------------------------------------- checks


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


# --------------------------------------------------------------------------- paths


class GaussianPath:
    """A conditional Gaussian path ``x_t = sigma_t x0 + alpha_t x1`` (course time: noise at 0).

    Subclasses define the scalar schedules :meth:`alpha`, :meth:`sigma` and their time
    derivatives :meth:`d_alpha`, :meth:`d_sigma`; each takes a tensor ``t`` of any shape
    and returns a tensor of the same shape. The rest is common.
    """

    name = "gaussian"

    def alpha(self, t: torch.Tensor) -> torch.Tensor:  # pragma: no cover - abstract
        """Mean scale ``alpha_t`` (the conditional mean is ``alpha_t x1``)."""
        raise NotImplementedError

    def sigma(self, t: torch.Tensor) -> torch.Tensor:  # pragma: no cover - abstract
        """Standard deviation ``sigma_t`` of the conditional path."""
        raise NotImplementedError

    def d_alpha(self, t: torch.Tensor) -> torch.Tensor:  # pragma: no cover - abstract
        """``d alpha_t / dt``."""
        raise NotImplementedError

    def d_sigma(self, t: torch.Tensor) -> torch.Tensor:  # pragma: no cover - abstract
        """``d sigma_t / dt``."""
        raise NotImplementedError

    # -- the interface used by the losses and the marginal field

    def mean(self, x1: torch.Tensor, t) -> torch.Tensor:
        """Conditional mean ``mu_t(x1) = alpha_t x1``; ``x1: (batch, dim)`` -> ``(batch, dim)``."""
        x1 = _check_points(x1, "x1")
        return self.alpha(_column_time(t, x1)) * x1

    def std(self, t) -> torch.Tensor:
        """Conditional standard deviation ``sigma_t`` (same shape as ``t``)."""
        if not isinstance(t, torch.Tensor):
            t = torch.tensor(float(t), dtype=torch.get_default_dtype())
        return self.sigma(t)

    def sample_xt(self, x0: torch.Tensor, x1: torch.Tensor, t) -> torch.Tensor:
        """A point of the path: ``x_t = sigma_t x0 + alpha_t x1``.

        Args:
            x0: ``(batch, dim)`` noise points (``N(0, I)`` samples).
            x1: ``(batch, dim)`` data points.
            t: a number, a 0-d tensor or ``(batch,)`` times in ``[0, 1]``.

        Returns:
            ``(batch, dim)``; for ``x0 ~ N(0, I)`` its law is ``N(alpha_t x1, sigma_t^2 I)``.
        """
        _check_pair(x0, x1)
        tc = _path_time(t, x0)
        return self.sigma(tc) * x0 + self.alpha(tc) * x1

    def target(self, x0: torch.Tensor, x1: torch.Tensor, t) -> torch.Tensor:
        """The conditional velocity at ``x_t``: ``d x_t / dt = sigma_t' x0 + alpha_t' x1``.

        Equals :meth:`conditional_field` evaluated at ``x = sample_xt(x0, x1, t)``.

        Args:
            x0, x1, t: as in :meth:`sample_xt`.

        Returns:
            ``(batch, dim)`` regression target of the CFM loss.
        """
        _check_pair(x0, x1)
        tc = _path_time(t, x0)
        return self.d_sigma(tc) * x0 + self.d_alpha(tc) * x1

    def conditional_field(self, t, x: torch.Tensor, x1: torch.Tensor) -> torch.Tensor:
        """``u_t(x | x1) = (sigma_t'/sigma_t)(x - alpha_t x1) + alpha_t' x1`` (K Theorem 10).

        Args:
            t: a number, 0-d tensor or ``(batch,)``; needs ``sigma_t > 0``.
            x: ``(batch, dim)`` positions.
            x1: ``(batch, dim)`` or ``(1, dim)`` conditioning data points.

        Returns:
            ``(batch, dim)`` velocities.
        """
        x = _check_points(x, "x")
        x1 = _check_points(x1, "x1", x.shape[1])
        tc = _path_time(t, x)
        s = self.sigma(tc)
        if bool((s <= 0).any()):
            raise ValueError(f"the conditional field of the {self.name} path needs sigma_t > 0")
        a = self.alpha(tc)
        return self.d_sigma(tc) / s * (x - a * x1) + self.d_alpha(tc) * x1

    def __repr__(self) -> str:
        return f"{type(self).__name__}()"


class OTPath(GaussianPath):
    """The optimal-transport (linear) path: ``alpha_t = t``, ``sigma_t = 1 - (1 - sigma_min) t``.

    With ``sigma_min = 0`` it is R's (and rectified flow's) interpolation
    ``x_t = (1 - t) x0 + t x1`` with target ``x1 - x0``. Each conditional trajectory
    ``t -> (1 - (1 - sigma_min) t) x0 + t x1`` is a straight segment run at constant
    velocity ``x1 - (1 - sigma_min) x0``.

    Args:
        sigma_min: standard deviation at ``t = 1`` (``0 <= sigma_min < 1``).
    """

    name = "ot"

    def __init__(self, sigma_min: float = 0.0):
        sigma_min = float(sigma_min)
        if not 0.0 <= sigma_min < 1.0:
            raise ValueError(f"sigma_min must be in [0, 1), got {sigma_min!r}")
        self.sigma_min = sigma_min

    def alpha(self, t):
        return t

    def sigma(self, t):
        return 1.0 - (1.0 - self.sigma_min) * t

    def d_alpha(self, t):
        return torch.ones_like(t)

    def d_sigma(self, t):
        return torch.full_like(t, -(1.0 - self.sigma_min))

    def __repr__(self) -> str:
        return f"OTPath(sigma_min={self.sigma_min:g})"


class VPPath(GaussianPath):
    """Variance-preserving (DDPM / VP-SDE) path in course time (Lipman et al. eq. 19).

    ``alpha_t = exp(-T(1 - t) / 2)`` with ``T(s) = b_min s + (b_max - b_min) s^2 / 2`` and
    ``sigma_t = sqrt(1 - alpha_t^2)``, so ``alpha_t^2 + sigma_t^2 = 1``. At ``t = 0``,
    ``alpha_0 = exp(-T(1)/2)`` is small but not 0; at ``t = 1``, ``sigma_1 = 0`` and the
    conditional field is singular (``sigma_t'`` diverges like ``(1 - t)^(-1/2)``):
    evaluate it for ``t < 1``.

    Args:
        beta_min, beta_max: the linear noise schedule ``beta(s)`` of the diffusion
            (defaults 0.1 and 20, as in Song et al. 2021 and Lipman et al. 2023).
    """

    name = "vp"

    def __init__(self, beta_min: float = 0.1, beta_max: float = 20.0):
        self.beta_min = _positive(beta_min, "beta_min")
        self.beta_max = _positive(beta_max, "beta_max")
        if self.beta_max < self.beta_min:
            raise ValueError(f"beta_max must be >= beta_min, got {beta_max} < {beta_min}")

    def _T(self, s):
        return self.beta_min * s + 0.5 * (self.beta_max - self.beta_min) * s * s

    def _beta(self, s):
        return self.beta_min + (self.beta_max - self.beta_min) * s

    def alpha(self, t):
        return torch.exp(-0.5 * self._T(1.0 - t))

    def sigma(self, t):
        return torch.sqrt(-torch.expm1(-self._T(1.0 - t)))  # sqrt(1 - alpha^2), accurate near t=1

    def d_alpha(self, t):
        return 0.5 * self._beta(1.0 - t) * self.alpha(t)

    def d_sigma(self, t):
        a = self.alpha(t)
        return -a * self.d_alpha(t) / self.sigma(t)

    def __repr__(self) -> str:
        return f"VPPath(beta_min={self.beta_min:g}, beta_max={self.beta_max:g})"


class VEPath(GaussianPath):
    """Variance-exploding (SMLD / VE-SDE) path in course time (Lipman et al. eq. 17).

    ``alpha_t = 1`` and ``sigma_t = s_min (s_max / s_min)^(1 - t)``, from ``s_max`` at
    ``t = 0`` down to ``s_min`` at ``t = 1``. The start ``N(x1, s_max^2 I)`` depends on the
    data point: the path only *approximately* starts from a fixed noise law
    (``N(0, s_max^2 I)`` when ``s_max`` is much larger than the data), so the base of a VE
    model is not ``N(0, I)``: sample with ``x0 = s_max * randn``.

    Args:
        sigma_min: ``sigma_1 > 0``.
        sigma_max: ``sigma_0 > sigma_min``.
    """

    name = "ve"

    def __init__(self, sigma_min: float = 0.01, sigma_max: float = 5.0):
        self.sigma_min = _positive(sigma_min, "sigma_min")
        self.sigma_max = _positive(sigma_max, "sigma_max")
        if self.sigma_max <= self.sigma_min:
            raise ValueError(f"sigma_max must exceed sigma_min, got {sigma_max} <= {sigma_min}")
        self._log_ratio = math.log(self.sigma_max / self.sigma_min)

    def alpha(self, t):
        return torch.ones_like(t)

    def sigma(self, t):
        return self.sigma_min * torch.exp(self._log_ratio * (1.0 - t))

    def d_alpha(self, t):
        return torch.zeros_like(t)

    def d_sigma(self, t):
        return -self._log_ratio * self.sigma(t)

    def __repr__(self) -> str:
        return f"VEPath(sigma_min={self.sigma_min:g}, sigma_max={self.sigma_max:g})"


PATHS = {"ot": OTPath, "vp": VPPath, "ve": VEPath}


def get_path(name: str, **kwargs) -> GaussianPath:
    """Build a path by name: ``"ot"``, ``"vp"`` or ``"ve"`` (keyword arguments go to its class)."""
    if name not in PATHS:
        raise ValueError(f"unknown path {name!r}; choose one of {list(PATHS)}")
    return PATHS[name](**kwargs)


# --------------------------------------------------------------------------- couplings


def couple(x0: torch.Tensor, x1: torch.Tensor, coupling: str = "independent"):
    """Pair noise points with data points.

    * ``"independent"``: keep the pairs as drawn (``(x0, x1) ~ p_0 x p_1``, R's choice).
    * ``"ot"``: mini-batch optimal transport (Tong et al. 2023; Pooladian et al. 2023):
      re-pair the batch by the permutation that minimises ``sum_i ||x0_i - x1_i||^2``,
      found exactly with ``scipy.optimize.linear_sum_assignment``.

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
        perm = optimal_matching(x1, x0).to(x0.device)  # x1[i] <-> x0[perm[i]]
        return x0[perm], x1
    raise ValueError(f"unknown coupling {coupling!r}; choose one of {list(COUPLINGS)}")


# --------------------------------------------------------------------------- losses


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


# --------------------------------------------------------------------------- marginal field


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


# --------------------------------------------------------------------------- model and training


class VelocityMLP(torch.nn.Module):
    """A small MLP velocity field ``v(t, x)`` for low-dimensional data.

    Time enters through ``n_freq`` sine/cosine features ``sin(2 pi k t), cos(2 pi k t)``
    (``k = 1..n_freq``) besides ``t`` itself, which lets a small network represent a field
    that changes quickly near ``t = 1``. SiLU activations keep the field smooth (its
    divergence is needed for the exact likelihood).

    Args:
        dim: data dimension.
        hidden: width of the hidden layers.
        n_hidden: number of hidden layers (>= 1).
        n_freq: number of time frequencies (0: only ``t``).
        activation: ``"silu"``, ``"selu"``, ``"tanh"`` or ``"softplus"``.
    """

    _ACTS = {
        "silu": torch.nn.SiLU,
        "selu": torch.nn.SELU,
        "tanh": torch.nn.Tanh,
        "softplus": torch.nn.Softplus,
    }

    def __init__(
        self,
        dim: int = 2,
        hidden: int = 128,
        n_hidden: int = 3,
        n_freq: int = 4,
        activation: str = "silu",
    ):
        super().__init__()
        for name, value, low in (
            ("dim", dim, 1),
            ("hidden", hidden, 1),
            ("n_hidden", n_hidden, 1),
            ("n_freq", n_freq, 0),
        ):
            check_int(value, name, low)
        if activation not in self._ACTS:
            raise ValueError(f"activation must be one of {list(self._ACTS)}, got {activation!r}")
        self.dim = dim
        self.register_buffer(
            "freqs", 2 * math.pi * torch.arange(1, n_freq + 1, dtype=torch.float32)
        )
        layers: list[torch.nn.Module] = []
        width = dim + 1 + 2 * n_freq
        for _ in range(n_hidden):
            layers += [torch.nn.Linear(width, hidden), self._ACTS[activation]()]
            width = hidden
        layers.append(torch.nn.Linear(width, dim))
        self.net = torch.nn.Sequential(*layers)

    def forward(self, t, x: torch.Tensor) -> torch.Tensor:
        """``t``: number, 0-d or ``(batch,)``; ``x: (batch, dim)`` -> ``(batch, dim)``."""
        x = _check_points(x, "x", self.dim)
        return self.net(self._features(t, x))

    def _features(self, t, x: torch.Tensor) -> torch.Tensor:
        """The network's input ``[x, t, sin(2 pi k t), cos(2 pi k t)]``: (batch, dim + 1 + 2 n_freq)."""
        tc = _column_time(t, x).expand(x.shape[0], 1)
        ang = tc * self.freqs.to(x.dtype)
        return torch.cat([x, tc, torch.sin(ang), torch.cos(ang)], dim=1)

    def jvp(self, t, x: torch.Tensor, s: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """``(v(t, x), Dv(t, x) s)``, the derivative in x with t held fixed, by hand.

        ``x: (batch, dim)`` and ``s: (batch, dim)`` (one direction per point), or
        ``x: (1, dim)`` and ``s: (m, dim)`` (m directions at one point). The time features
        have zero tangent; the network part is :func:`course_utils.volume.sequential_jvp`,
        which shares every matrix product between the point and its directions (used by
        ``course_utils.volume.reverse_map_jvp``).
        """
        from .volume import sequential_jvp

        x = _check_points(x, "x", self.dim)
        s = _check_points(s, "s", self.dim)
        if s.shape[0] % x.shape[0]:
            raise ValueError(
                f"s must have a multiple of x's {x.shape[0]} rows (k directions per point), "
                f"got {s.shape[0]}"
            )
        feats = self._features(t, x)
        tang = torch.cat([s.to(x.dtype), s.new_zeros(s.shape[0], feats.shape[1] - self.dim)], 1)
        return sequential_jvp(self.net, feats, tang)


def train(
    field: torch.nn.Module,
    data,
    path: GaussianPath | None = None,
    *,
    steps: int = 2000,
    batch_size: int = 256,
    lr: float = 3e-3,
    schedule: str = "cosine",
    warmup: int = 0,
    coupling: str = "independent",
    ema: float | None = 0.999,
    weight_decay: float = 0.0,
    generator: torch.Generator | None = None,
    time_budget: float | None = None,
    callback: Callable[[int, float, torch.nn.Module], None] | None = None,
) -> dict:
    """Train a velocity field with the CFM loss and Adam(W).

    Args:
        field: the model ``v(t, x)`` (an ``nn.Module``; trained in place).
        data: ``(n, dim)`` training points (mini-batches drawn with replacement) or a
            callable ``data(batch_size, generator) -> (batch_size, dim)``.
        path: conditional path; default ``OTPath()``.
        steps: optimisation steps.
        batch_size: points per step.
        lr: peak learning rate.
        schedule: ``"constant"`` or ``"cosine"`` (decay to 0 over ``steps``, after a
            linear warm-up of ``warmup`` steps).
        warmup: warm-up steps.
        coupling: ``"independent"`` or ``"ot"`` (see :func:`couple`).
        ema: decay of an exponential moving average of the weights (``None``: no EMA).
        weight_decay: AdamW weight decay.
        generator: random generator (mini-batches, noise, times).
        time_budget: stop after this many seconds of training (wall clock), if given.
        callback: called as ``callback(step, loss, model)`` after every step.

    Returns:
        ``{"model": the EMA copy (or ``field`` itself without EMA), "loss": [per-step
        losses], "seconds": training time, "steps": steps done}``.
    """
    if not isinstance(field, torch.nn.Module):
        raise TypeError(f"field must be a torch.nn.Module, got {type(field).__name__}")
    for name, value in (("steps", steps), ("batch_size", batch_size)):
        check_int(value, name, 1)
    check_int(warmup, "warmup", 0)
    if schedule not in ("constant", "cosine"):
        raise ValueError(f"schedule must be 'constant' or 'cosine', got {schedule!r}")
    if coupling not in COUPLINGS:
        raise ValueError(f"unknown coupling {coupling!r}; choose one of {list(COUPLINGS)}")
    if ema is not None and not 0.0 <= float(ema) < 1.0:
        raise ValueError(f"ema must be a decay in [0, 1) or None, got {ema!r}")
    path = OTPath() if path is None else path
    params = [p for p in field.parameters() if p.requires_grad]
    dtype = params[0].dtype
    if isinstance(data, torch.Tensor):
        data = check_data(data, "data")

        def draw(n, g):
            return data[torch.randint(0, data.shape[0], (n,), generator=g)]
    elif callable(data):
        draw = data
    else:
        raise TypeError(
            "data must be a torch.Tensor of shape (n, dim) or a callable sample(n, generator), "
            f"got {type(data).__name__}"
        )

    opt = torch.optim.AdamW(params, lr=lr, weight_decay=weight_decay)

    def lr_at(step):
        if step < warmup:
            return (step + 1) / warmup
        if schedule == "constant":
            return 1.0
        return 0.5 * (1 + math.cos(math.pi * (step - warmup) / max(1, steps - warmup)))

    sched = torch.optim.lr_scheduler.LambdaLR(opt, lr_at)
    averaged = copy.deepcopy(field).requires_grad_(False) if ema is not None else field
    losses: list[float] = []
    start = time.perf_counter()
    done = 0
    for step in range(steps):
        x1 = draw(batch_size, generator).to(dtype)
        loss = cfm_loss(field, path, x1, coupling=coupling, generator=generator)
        opt.zero_grad(set_to_none=True)
        loss.backward()
        opt.step()
        sched.step()
        if ema is not None:
            with torch.no_grad():
                # short warm-up of the average so early steps do not dominate it
                d = min(float(ema), (1 + step) / (10 + step))
                for pa, pf in zip(averaged.parameters(), field.parameters(), strict=True):
                    pa.lerp_(pf, 1.0 - d)
        losses.append(float(loss.detach()))
        done = step + 1
        if callback is not None:
            callback(step, losses[-1], averaged)
        if time_budget is not None and time.perf_counter() - start > time_budget:
            break
    return {
        "model": averaged,
        "loss": losses,
        "seconds": time.perf_counter() - start,
        "steps": done,
    }


# --------------------------------------------------------------------------- sampling, likelihood


def sample(
    field: Callable,
    x0: torch.Tensor,
    *,
    method: str = "rk4",
    steps: int | None = 20,
    rtol: float = 1e-5,
    atol: float = 1e-5,
    n_times: int | None = None,
    t0: float = 0.0,
    t1: float = 1.0,
) -> torch.Tensor:
    """Carry noise to data: solve ``dx/dt = v(t, x)`` from ``t0`` to ``t1`` (no gradients).

    Args:
        field: ``v(t, x)``.
        x0: ``(batch, dim)`` starting points (``N(0, I)`` samples for the OT/VP paths).
        method: any :data:`course_utils.ode.METHODS` name.
        steps: number of equal steps for the fixed-step methods (ignored by ``dopri5``).
        rtol, atol: tolerances of ``dopri5``.
        n_times: if given, return the state at ``n_times`` equally spaced times (for
            plotting trajectories); must be compatible with ``steps`` for fixed-step
            methods (``steps`` a multiple of ``n_times - 1``).
        t0, t1: start and end time.

    Returns:
        ``(batch, dim)`` end points, or ``(n_times, batch, dim)`` with ``n_times``. The
        number of field evaluations is ``course_utils.ode.last_stats().nfe``.
    """
    from . import ode

    x0 = check_data(x0, "x0")
    if method not in ode.METHODS:
        raise ValueError(f"unknown method {method!r}; choose one of {list(ode.METHODS)}")
    n_out = 2 if n_times is None else check_int(n_times, "n_times", 2)
    # float64 times: float32 grid points would not be multiples of the step to 1e-9
    times = torch.linspace(t0, t1, n_out, dtype=torch.float64, device=x0.device)
    kwargs: dict = {"method": method}
    if method == "dopri5":
        kwargs.update(rtol=rtol, atol=atol)
    else:
        check_int(steps, "steps", 1)
        if steps % (n_out - 1):
            raise ValueError(f"steps ({steps}) must be a multiple of n_times - 1 ({n_out - 1})")
        kwargs["step_size"] = (t1 - t0) / steps
    with torch.no_grad():
        traj = ode.odeint(field, x0, times, **kwargs)
    return traj[-1] if n_times is None else traj


def log_prob(
    field: Callable,
    x: torch.Tensor,
    *,
    method: str = "dopri5",
    rtol: float = 1e-6,
    atol: float = 1e-6,
    step_size: float | None = None,
    batch_size: int = 4096,
) -> torch.Tensor:
    """Exact log-likelihood ``log p_1(x)`` (nats) of the flow of ``field`` with base ``N(0, I)``.

    A flow-matching model is a CNF: this integrates ``(x, log p)`` from ``t = 1`` back to
    ``t = 0`` with the exact divergence (``course_utils.cnf.CNF``). Only the solver's
    error separates the result from the model's true log-density.

    Args:
        field: ``v(t, x)``.
        x: ``(batch, dim)`` points.
        method, rtol, atol, step_size: the solver (see ``course_utils.ode.odeint``).
        batch_size: points per solve.

    Returns:
        ``(batch,)`` log-densities (no gradient).
    """
    from .cnf import CNF

    x = check_data(x, "x")
    batch_size = check_int(batch_size, "batch_size", 1)
    cnf = CNF(
        field,
        x.shape[1],
        estimator="exact",
        method=method,
        rtol=rtol,
        atol=atol,
        step_size=step_size,
    )
    out = []
    with torch.no_grad():
        for start in range(0, x.shape[0], batch_size):
            out.append(cnf.log_prob(x[start : start + batch_size]))
    return torch.cat(out)


def straightness(traj: torch.Tensor, times: torch.Tensor | None = None) -> float:
    """Liu et al.'s straightness ``S = int_0^1 E||(x_1 - x_0) - dx_t/dt||^2 dt`` of trajectories.

    ``S = 0`` exactly when every trajectory is a straight segment run at constant speed
    (then one Euler step is exact). Velocities are finite differences of ``traj``, so use
    a fine, equally spaced grid.

    Args:
        traj: ``(T, batch, dim)`` states at the times ``times`` (``T >= 2``).
        times: ``(T,)`` increasing times; default ``linspace(0, 1, T)``.

    Returns:
        ``S`` in squared data units per unit time squared, a float.
    """
    traj = check_finite(check_tensor(traj, "traj", "(T, batch, dim)"), "traj")
    if traj.ndim != 3 or traj.shape[0] < 2:
        raise ValueError(
            f"traj must have shape (T, batch, dim) with T >= 2, got {tuple(traj.shape)}"
        )
    if times is None:
        times = torch.linspace(0, 1, traj.shape[0], dtype=traj.dtype)
    times = torch.as_tensor(times, dtype=traj.dtype)
    if times.shape != (traj.shape[0],) or not bool((times[1:] > times[:-1]).all()):
        raise ValueError(f"times must be increasing with shape ({traj.shape[0]},)")
    dt = (times[1:] - times[:-1])[:, None, None]
    vel = (traj[1:] - traj[:-1]) / dt
    chord = (traj[-1] - traj[0]) / (times[-1] - times[0])
    dev = ((vel - chord[None]) ** 2).sum(-1).mean(-1)  # (T-1,)
    return float((dev * dt[:, 0, 0]).sum() / (times[-1] - times[0]))
