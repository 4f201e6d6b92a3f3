"""Conditional Gaussian probability paths ``x_t = sigma_t x0 + alpha_t x1`` (OT, VP, VE).

See :mod:`course_utils.flow_matching` for the time convention and the table of paths.
"""

from __future__ import annotations

import math

import torch

from .._validate import check_finite
from ._common import _check_pair, _check_points, _column_time, _path_time, _positive

__all__ = ["GaussianPath", "OTPath", "VPPath", "VEPath", "PATHS", "get_path"]


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
            t = torch.as_tensor(t, dtype=torch.get_default_dtype())
        return self.sigma(check_finite(t, "t"))

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
