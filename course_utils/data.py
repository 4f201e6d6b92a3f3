"""2-D toy distributions used throughout the course.

Every distribution has ``sample(n, generator=None)`` returning a ``(n, 2)`` tensor;
those with a known density also have an exact ``log_prob(x)`` (nats) and an
``entropy()`` estimate, the lowest negative log-likelihood any model can reach.

>>> import torch, course_utils as cu
>>> g = torch.Generator().manual_seed(0)
>>> cu.data.get("two_moons").sample(5, generator=g).shape
torch.Size([5, 2])
"""

from __future__ import annotations

import math

import torch

from ._validate import check_batch, check_dtype, check_generator, check_number
from ._validate import check_positive_int as _check_positive_int

__all__ = [
    "Toy2D",
    "GaussianMixture2D",
    "TwoMoons",
    "EightGaussians",
    "Checkerboard",
    "Rings",
    "get",
    "names",
]


def _float_tensor(value, name: str) -> torch.Tensor:
    """``value`` as a float64 tensor with only finite entries."""
    try:
        t = torch.as_tensor(value, dtype=torch.float64)
    except (TypeError, ValueError, RuntimeError) as exc:
        raise TypeError(f"{name} must be numeric, got {type(value).__name__}") from exc
    if not bool(torch.isfinite(t).all()):
        shown = t.tolist() if t.numel() <= 16 else f"shape {tuple(t.shape)}"
        raise ValueError(f"{name} contains NaN or infinite values: {shown}")
    return t


def _check_points(x) -> torch.Tensor:
    return check_batch(x, "x", 2)


class Toy2D:
    """Base class: a 2-D distribution with ``sample`` and, where known, ``log_prob``."""

    name = "toy"
    has_log_prob = False

    def sample(
        self, n: int, generator: torch.Generator | None = None, dtype: torch.dtype = torch.float32
    ) -> torch.Tensor:
        """Draw ``n`` points; returns a ``(n, 2)`` tensor of ``dtype`` (a floating dtype)."""
        n = _check_positive_int(n, "n")
        check_generator(generator)
        dtype = check_dtype(dtype)
        return self._sample(n, generator).to(dtype)

    def _sample(self, n: int, generator) -> torch.Tensor:  # pragma: no cover - abstract
        raise NotImplementedError

    def log_prob(self, x: torch.Tensor) -> torch.Tensor:
        """Exact log-density (nats) of points ``x: (batch, 2)``; returns ``(batch,)``."""
        raise NotImplementedError(
            f"{self.name} has no closed-form density; use one of "
            f"{[k for k, v in _REGISTRY.items() if v().has_log_prob]}"
        )

    def entropy(self, n: int = 200_000, seed: int = 12345) -> float:
        """Monte Carlo estimate of the differential entropy -E[log p(x)] in nats."""
        if not self.has_log_prob:
            self.log_prob(torch.zeros(1, 2))  # raises the explanatory error
        g = torch.Generator().manual_seed(seed)
        x = self.sample(n, generator=g, dtype=torch.float64)
        return float(-self.log_prob(x).mean())

    def __repr__(self) -> str:
        return f"{type(self).__name__}()"


class GaussianMixture2D(Toy2D):
    """Mixture of isotropic Gaussians with exact log-density.

    Args:
        means: (k, 2) component means.
        stds: (k,) component standard deviations (> 0), or one float for all.
        weights: (k,) non-negative weights (normalised here); uniform if None.
    """

    name = "gaussian_mixture"
    has_log_prob = True

    def __init__(self, means=None, stds=0.5, weights=None):
        if means is None:  # the course's default: three unequal, overlapping blobs
            means = [[-1.5, -0.5], [1.0, -1.0], [0.5, 1.5]]
            stds = [0.5, 0.35, 0.6]
            weights = [0.3, 0.3, 0.4]
        self.means = _float_tensor(means, "means")
        if self.means.ndim != 2 or self.means.shape[1] != 2 or self.means.shape[0] == 0:
            raise ValueError(f"means must have shape (k, 2), k >= 1, got {tuple(self.means.shape)}")
        k = self.means.shape[0]
        stds = _float_tensor(stds, "stds")
        self.stds = stds.expand(k).clone() if stds.ndim == 0 else stds
        if self.stds.shape != (k,) or not bool((self.stds > 0).all()):
            raise ValueError(f"stds must be positive with shape ({k},), got {self.stds.tolist()}")
        w = (
            torch.ones(k, dtype=torch.float64)
            if weights is None
            else _float_tensor(weights, "weights")
        )
        if w.shape != (k,) or bool((w < 0).any()) or float(w.sum()) <= 0:
            raise ValueError(f"weights must be non-negative with shape ({k},) and a positive sum")
        self.weights = w / w.sum()

    def _sample(self, n, generator):
        comp = torch.multinomial(self.weights, n, replacement=True, generator=generator)
        eps = torch.randn(n, 2, generator=generator, dtype=torch.float64)
        return self.means[comp] + self.stds[comp, None] * eps

    def log_prob(self, x):
        x = _check_points(x)
        xd = x.to(torch.float64)
        d2 = ((xd[:, None, :] - self.means[None]) ** 2).sum(-1)  # (batch, k)
        var = self.stds**2
        log_comp = -0.5 * d2 / var - torch.log(2 * math.pi * var)
        return torch.logsumexp(log_comp + torch.log(self.weights), dim=1).to(x.dtype)

    def __repr__(self):
        return f"GaussianMixture2D(k={self.means.shape[0]})"


class EightGaussians(GaussianMixture2D):
    """Eight equal Gaussians on a circle of ``radius`` with standard deviation ``std``."""

    name = "eight_gaussians"

    def __init__(self, radius: float = 2.0, std: float = 0.2):
        radius = check_number(radius, "radius", positive=True)
        std = check_number(std, "std", positive=True)
        angles = torch.arange(8, dtype=torch.float64) * (2 * math.pi / 8)
        means = radius * torch.stack([torch.cos(angles), torch.sin(angles)], 1)
        super().__init__(means, std)

    def __repr__(self):
        return "EightGaussians()"


class TwoMoons(Toy2D):
    """Two interleaved half circles with Gaussian noise (no closed-form density)."""

    name = "two_moons"

    def __init__(self, noise: float = 0.1):
        self.noise = check_number(noise, "noise", nonnegative=True)

    def _sample(self, n, generator):
        upper = torch.rand(n, generator=generator, dtype=torch.float64) < 0.5
        theta = math.pi * torch.rand(n, generator=generator, dtype=torch.float64)
        x = torch.where(upper, torch.cos(theta), 1.0 - torch.cos(theta))
        y = torch.where(upper, torch.sin(theta), 0.5 - torch.sin(theta))
        pts = torch.stack([x, y], 1) + self.noise * torch.randn(
            n, 2, generator=generator, dtype=torch.float64
        )
        # centre and scale to roughly unit variance, like the other data sets
        return (pts - torch.tensor([0.5, 0.25], dtype=torch.float64)) * 1.5


class Checkerboard(Toy2D):
    """Uniform density on the 8 dark squares of a 4x4 board covering [-2, 2]^2.

    The density is exactly 1/8 on a dark square (each has area 1) and 0 elsewhere.
    """

    name = "checkerboard"
    has_log_prob = True

    def _sample(self, n, generator):
        cell = torch.randint(0, 8, (n,), generator=generator)
        row = cell // 2  # 0..3
        col = 2 * (cell % 2) + (row % 2)  # dark squares: (row + col) even
        u = torch.rand(n, 2, generator=generator, dtype=torch.float64)
        return torch.stack([col + u[:, 0], row + u[:, 1]], 1) - 2.0

    def log_prob(self, x):
        x = _check_points(x)
        shifted = x.to(torch.float64) + 2.0
        inside = ((shifted >= 0) & (shifted < 4)).all(1)
        col, row = torch.floor(shifted[:, 0]), torch.floor(shifted[:, 1])
        dark = ((row + col) % 2 == 0) & inside
        out = torch.full((x.shape[0],), -math.inf, dtype=torch.float64)
        out[dark] = -math.log(8.0)
        return out.to(x.dtype)


class Rings(Toy2D):
    """Concentric rings of radii ``radii`` with radial Gaussian noise ``noise``."""

    name = "rings"

    def __init__(self, radii=(1.0, 2.0), noise: float = 0.08):
        self.radii = _float_tensor(radii, "radii")
        if self.radii.ndim != 1 or self.radii.numel() == 0 or bool((self.radii <= 0).any()):
            raise ValueError(
                f"radii must be a non-empty 1-D list of positive numbers, got {radii!r}"
            )
        self.noise = check_number(noise, "noise", nonnegative=True)

    def _sample(self, n, generator):
        # pick a ring with probability proportional to its circumference: uniform on length
        probs = self.radii / self.radii.sum()
        ring = torch.multinomial(probs, n, replacement=True, generator=generator)
        theta = 2 * math.pi * torch.rand(n, generator=generator, dtype=torch.float64)
        r = self.radii[ring] + self.noise * torch.randn(n, generator=generator, dtype=torch.float64)
        return torch.stack([r * torch.cos(theta), r * torch.sin(theta)], 1)


_REGISTRY = {
    "gaussian_mixture": GaussianMixture2D,
    "eight_gaussians": EightGaussians,
    "two_moons": TwoMoons,
    "checkerboard": Checkerboard,
    "rings": Rings,
}


def names() -> list[str]:
    """Names accepted by :func:`get`."""
    return list(_REGISTRY)


def get(name: str, **kwargs) -> Toy2D:
    """Build a toy distribution by name (see :func:`names`)."""
    if name not in _REGISTRY:
        raise ValueError(f"unknown data set {name!r}; choose one of {names()}")
    return _REGISTRY[name](**kwargs)
