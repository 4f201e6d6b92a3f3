"""Real data in 64 dimensions: scikit-learn's 8x8 handwritten digits as a density.

Taught in ``notebooks/10_digits.ipynb``. The 1,797 images ship inside scikit-learn
(``sklearn.datasets.load_digits``: no download). Each pixel holds one of
``N_LEVELS = 17`` grey levels ``k in {0, ..., 16}``; an image is a point ``k`` of
``{0..16}^64`` (rows of the 8x8 image concatenated, ``DIM = 64``).

The pipeline from a discrete image to a point a flow can model, with the notation of the
lecture (course time: noise at t = 0, data at t = 1; batches first, ``(batch, 64)``):

1. **uniform dequantization** ``x = (k + u) / 17``, ``u ~ U[0, 1)^64``: a point of
   ``[0, 1)^64``. For any density ``p`` of ``x``, Jensen's inequality gives the bound

       log P(k) = log int_{[0,1)^D} q(k + u) du >= E_u[log q(k + u)]
                = E_u[log p_x((k + u) / 17)] - D log 17,

   where ``q(k + u) = p_x((k + u) / 17) / 17^D`` is the density of ``k + u`` and
   ``P(k)`` the probability it gives the bin of ``k``. So a continuous
   model's dequantized log-likelihood lower-bounds a discrete model's log-probability;
2. **logit preprocessing** ``y = logit(alpha + (1 - 2 alpha) x)``, an invertible map
   ``(0, 1)^64 -> R^64`` with log-determinant (:func:`logit_transform`)

       log |det dy/dx| = sum_i [log(1 - 2 alpha) - log s_i - log(1 - s_i)],  s = alpha + (1 - 2 alpha) x;

3. a model of ``y`` (a Gaussian, a RealNVP, a flow-matching CNF; its latent at t = 0 is
   ``z ~ N(0, I)``) gives ``log p_x(x) = log p_y(y) + log |det dy/dx|`` and
   **bits per dimension** (:func:`bits_per_dim`)

       bpd = -(log p_x(x) - D log 17) / (D log 2),

   an upper bound (through step 1) on the discrete model's code length in bits per
   pixel. The uniform density on ``[0, 1)^64`` scores exactly ``log2 17 = 4.087``.

>>> import torch
>>> round(bits_per_dim(torch.zeros(3)), 4)        # uniform density on [0, 1)^64
4.0875
"""

from __future__ import annotations

import json
import math
import subprocess
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch
from torch import nn

from . import flows, training
from ._validate import (
    check_batch,
    check_data,
    check_finite,
    check_int,
    check_number,
    check_path,
    check_positive_int,
    check_shape,
)
from .flow_matching import GaussianPath, OTPath

__all__ = [
    "N_LEVELS",
    "DIM",
    "SHAPE",
    "Digits",
    "load",
    "dequantize",
    "quantize",
    "logit_transform",
    "inverse_logit_transform",
    "preprocess",
    "bits_per_dim",
    "fit_gaussian",
    "gaussian_log_prob",
    "checkerboard_mask",
    "half_mask",
    "image_masks",
    "image_realnvp",
    "ConditionalVelocityMLP",
    "guided_field",
    "cfg_loss",
    "train_conditional",
    "DigitClassifier",
    "nearest_distances",
    "image_grid",
    "show_grid",
    "save_checkpoint",
    "load_checkpoint",
    "CHECKPOINT_DIR",
]

N_LEVELS = 17
DIM = 64
SHAPE = (8, 8)
CHECKPOINT_DIR = Path(__file__).resolve().parent / "data" / "digits"
_LN2 = math.log(2.0)


def _alpha(alpha) -> float:
    if isinstance(alpha, bool) or not isinstance(alpha, (int, float)):
        raise TypeError(f"alpha must be a number in [0, 0.5), got {type(alpha).__name__}")
    if not 0.0 <= float(alpha) < 0.5:
        raise ValueError(f"alpha must be in [0, 0.5), got {alpha!r}")
    return float(alpha)


def _levels(k, name: str = "k", n_levels: int = N_LEVELS) -> torch.Tensor:
    if not isinstance(k, torch.Tensor):
        raise TypeError(f"{name} must be a torch.Tensor of grey levels, got {type(k).__name__}")
    if k.ndim != 2:
        raise ValueError(f"{name} must have shape (batch, dim), got {tuple(k.shape)}")
    if k.is_floating_point() and not bool((k == k.round()).all()):
        raise ValueError(f"{name} must hold integer grey levels, got non-integer values")
    if k.numel() and (int(k.min()) < 0 or int(k.max()) >= n_levels):
        raise ValueError(
            f"{name} must hold grey levels in 0..{n_levels - 1}, got values from "
            f"{int(k.min())} to {int(k.max())}"
        )
    return k


# --------------------------------------------------------------------------- data


@dataclass
class Digits:
    """The digits split into a training and a test set (fixed by a seed).

    Attributes:
        train_images: ``(n_train, 64)`` int64 grey levels in ``0..16``.
        train_labels: ``(n_train,)`` int64 classes ``0..9``.
        test_images: ``(n_test, 64)`` int64 grey levels.
        test_labels: ``(n_test,)`` int64 classes.
        seed: the seed of the split.
    """

    train_images: torch.Tensor
    train_labels: torch.Tensor
    test_images: torch.Tensor
    test_labels: torch.Tensor
    seed: int

    def __repr__(self) -> str:
        return (
            f"Digits(train={tuple(self.train_images.shape)}, test={tuple(self.test_images.shape)}, "
            f"levels=0..{N_LEVELS - 1}, seed={self.seed})"
        )


def load(n_test: int = 360, seed: int = 0) -> Digits:
    """scikit-learn's 1,797 digits, split at random into train and test (no download).

    Args:
        n_test: number of test images (``1 <= n_test < 1797``).
        seed: seed of the permutation that makes the split (same seed, same split on
            every machine: it uses NumPy's ``default_rng``).

    Returns:
        A :class:`Digits` with integer grey levels ``0..16``.

    >>> d = load()
    >>> d.train_images.shape, d.test_images.shape, int(d.train_images.max())
    (torch.Size([1437, 64]), torch.Size([360, 64]), 16)
    """
    from sklearn.datasets import load_digits

    bunch = load_digits()
    images = np.asarray(bunch.data, dtype=np.int64)
    labels = np.asarray(bunch.target, dtype=np.int64)
    n = images.shape[0]
    n_test = check_positive_int(n_test, "n_test")
    if n_test >= n:
        raise ValueError(f"n_test must be smaller than the {n} images, got {n_test}")
    if isinstance(seed, bool) or not isinstance(seed, int) or seed < 0:
        raise ValueError(f"seed must be a non-negative int, got {seed!r}")
    perm = np.random.default_rng(seed).permutation(n)
    test, train = perm[:n_test], perm[n_test:]
    t = torch.from_numpy
    return Digits(t(images[train]), t(labels[train]), t(images[test]), t(labels[test]), seed)


def dequantize(
    k: torch.Tensor,
    *,
    generator: torch.Generator | None = None,
    n_levels: int = N_LEVELS,
    dtype: torch.dtype | None = None,
) -> torch.Tensor:
    """Uniform dequantization ``x = (k + u) / n_levels``, ``u ~ U[0, 1)``, one draw per entry.

    Args:
        k: ``(batch, dim)`` integer grey levels in ``0..n_levels-1``.
        generator: random generator for ``u``.
        n_levels: number of grey levels (17 for the digits).
        dtype: floating dtype of the result (default dtype if None).

    Returns:
        ``(batch, dim)`` points of ``[0, 1)^dim``; ``quantize`` of them gives back ``k``.
    """
    n_levels = check_positive_int(n_levels, "n_levels")
    k = _levels(k, "k", n_levels)
    dtype = torch.get_default_dtype() if dtype is None else dtype
    u = torch.rand(k.shape, generator=generator, dtype=dtype)
    return (k.to(dtype) + u) / n_levels


def quantize(x: torch.Tensor, n_levels: int = N_LEVELS) -> torch.Tensor:
    """Grey levels ``floor(n_levels * x)`` clipped to ``0..n_levels-1``: ``(batch, dim)`` int64."""
    x = check_finite(check_batch(x, "x"), "x")  # floor(NaN) has no grey level
    n_levels = check_positive_int(n_levels, "n_levels")
    return torch.clamp(torch.floor(x * n_levels), 0, n_levels - 1).long()


def logit_transform(x: torch.Tensor, alpha: float = 0.05) -> tuple[torch.Tensor, torch.Tensor]:
    """``y = logit(alpha + (1 - 2 alpha) x)`` and ``log |det dz/dx|`` (nats) per row.

    The squeeze into ``[alpha, 1 - alpha]`` keeps the logit finite at ``x = 0`` (RealNVP's
    preprocessing, Dinh et al. 2017, with their ``alpha = 0.05``).

    Args:
        x: ``(batch, dim)`` points of ``[0, 1]^dim`` (dequantized images).
        alpha: squeeze in ``[0, 0.5)``; ``alpha = 0`` needs ``x`` in the open cube.

    Returns:
        ``(y, log_det)``: ``y (batch, dim)`` and ``log_det (batch,)`` with
        ``log p_x(x) = log p_y(y) + log_det``.
    """
    x = check_data(x, "x")
    alpha = _alpha(alpha)
    if bool((x < 0).any() or (x > 1).any()):
        raise ValueError(
            f"x must lie in [0, 1] (dequantized images), got values from {float(x.min())} "
            f"to {float(x.max())}"
        )
    s = alpha + (1 - 2 * alpha) * x
    if alpha == 0 and bool(((s == 0) | (s == 1)).any()):
        raise ValueError("with alpha = 0, x must lie in the open cube (0, 1)^dim")
    y = torch.log(s) - torch.log1p(-s)
    log_det = (math.log(1 - 2 * alpha) - torch.log(s) - torch.log1p(-s)).sum(1)
    return y, log_det


def inverse_logit_transform(y: torch.Tensor, alpha: float = 0.05) -> torch.Tensor:
    """Undo :func:`logit_transform`: ``x = (sigmoid(y) - alpha) / (1 - 2 alpha)``, ``(batch, dim)``.

    Model samples can fall slightly outside ``[0, 1]``; :func:`quantize` clips them.
    """
    y = check_batch(y, "y")
    alpha = _alpha(alpha)
    return (torch.sigmoid(y) - alpha) / (1 - 2 * alpha)


def preprocess(
    k: torch.Tensor, alpha: float = 0.05, *, generator: torch.Generator | None = None
) -> tuple[torch.Tensor, torch.Tensor]:
    """Dequantize grey levels and apply the logit map: ``k (batch, 64) -> (y, log_det)``.

    ``logit_transform(dequantize(k, generator=generator), alpha)``: ``y (batch, 64)`` in
    the default dtype and ``log_det (batch,)`` = ``log |det dy/dx|``, so that a model's
    ``log p_y(y) + log_det`` is ``log p_x(x)`` for :func:`bits_per_dim`.
    """
    return logit_transform(dequantize(k, generator=generator), alpha)


def bits_per_dim(log_px, dim: int = DIM, n_levels: int = N_LEVELS) -> float:
    """Mean bits per dimension of dequantized data from ``log p_x`` (nats) on ``[0, 1)^dim``.

    ``bpd = -mean(log p_x - dim * log(n_levels)) / (dim * log 2)``: the density of
    ``k + u = n_levels * x`` is ``p_x / n_levels^dim``; by the dequantization bound
    this upper-bounds the code length (bits per pixel) of a discrete model of ``k``.

    Args:
        log_px: ``(batch,)`` log-densities in nats of points ``x`` of ``[0, 1)^dim``.
        dim: dimension ``D`` of one point.
        n_levels: grey levels per pixel.

    Returns:
        The mean over the batch, a float (bits per pixel).
    """
    log_px = torch.as_tensor(log_px)
    if log_px.ndim != 1 or log_px.numel() == 0:
        raise ValueError(f"log_px must have shape (batch,), got {tuple(log_px.shape)}")
    if not bool(torch.isfinite(log_px).all()):
        raise ValueError("log_px contains NaN or infinite values")
    dim = check_positive_int(dim, "dim")
    n_levels = check_positive_int(n_levels, "n_levels")
    nats = -(log_px.double().mean() - dim * math.log(n_levels))
    return float(nats / (dim * _LN2))


# --------------------------------------------------------------------------- Gaussian baseline


def fit_gaussian(y: torch.Tensor, ridge: float = 0.0) -> tuple[torch.Tensor, torch.Tensor]:
    """Closed-form MLE of a full-covariance Gaussian: sample mean and ``(1/n)`` covariance.

    Args:
        y: ``(n, dim)`` points.
        ridge: added to the diagonal of the covariance (0: the plain MLE).

    Returns:
        ``(mean (dim,), cov (dim, dim))``.
    """
    y = check_data(y, "y")
    if y.shape[0] < 2:
        raise ValueError(f"y needs at least 2 rows to fit a covariance, got {y.shape[0]}")
    mean = y.mean(0)
    c = y - mean
    cov = c.T @ c / y.shape[0]
    return mean, cov + ridge * torch.eye(y.shape[1], dtype=y.dtype)


def gaussian_log_prob(y: torch.Tensor, mean: torch.Tensor, cov: torch.Tensor) -> torch.Tensor:
    """``log N(y; mean, cov)`` in nats via a Cholesky factor: ``y (batch, dim) -> (batch,)``."""
    y = check_batch(y, "y")
    d = y.shape[1]
    mean = check_finite(check_shape(mean, (d,), "mean"), "mean")
    cov = check_finite(check_shape(cov, (d, d), "cov"), "cov")
    chol, info = torch.linalg.cholesky_ex(cov.to(y.dtype))
    if int(info) != 0:
        raise ValueError("cov must be symmetric positive definite (Cholesky failed)")
    w = torch.linalg.solve_triangular(chol, (y - mean.to(y.dtype)).T, upper=False)
    half_logdet = torch.log(torch.diagonal(chol)).sum()
    return -0.5 * (w**2).sum(0) - half_logdet - 0.5 * d * math.log(2 * math.pi)


# --------------------------------------------------------------------------- RealNVP for images


def checkerboard_mask(parity: int = 0, shape: tuple[int, int] = SHAPE) -> torch.Tensor:
    """Checkerboard mask of an image, flattened row by row: ``(h * w,)`` zeros and ones.

    Pixel ``(r, c)`` is copied (1) when ``(r + c) % 2 == parity``: every transformed pixel
    has its four neighbours among the copied ones (Dinh et al. 2017, Fig. 3).
    """
    if parity not in (0, 1):
        raise ValueError(f"parity must be 0 or 1, got {parity!r}")
    h, w = shape
    r, c = torch.meshgrid(torch.arange(h), torch.arange(w), indexing="ij")
    return (((r + c) % 2) == parity).to(torch.get_default_dtype()).reshape(-1)


def half_mask(kind: str = "top", shape: tuple[int, int] = SHAPE) -> torch.Tensor:
    """Copy one half of the image: ``"top"``, ``"bottom"``, ``"left"`` or ``"right"``; ``(h * w,)``."""
    h, w = shape
    r, c = torch.meshgrid(torch.arange(h), torch.arange(w), indexing="ij")
    cond = {"top": r < h // 2, "bottom": r >= h // 2, "left": c < w // 2, "right": c >= w // 2}
    if kind not in cond:
        raise ValueError(f"kind must be one of {list(cond)}, got {kind!r}")
    return cond[kind].to(torch.get_default_dtype()).reshape(-1)


def image_masks(n_layers: int, kind: str = "checkerboard") -> list[torch.Tensor]:
    """Masks for ``n_layers`` couplings on 8x8 images.

    ``"checkerboard"`` alternates the two checkerboards; ``"mixed"`` cycles checkerboard,
    its complement, top, bottom, left, right (local and long-range dependencies);
    ``"even_odd"`` is :func:`course_utils.flows.realnvp`'s alternation of flat even/odd
    coordinates (on an 8-pixel row that copies whole columns).
    """
    n_layers = check_positive_int(n_layers, "n_layers")
    if kind == "checkerboard":
        cycle = [checkerboard_mask(0), checkerboard_mask(1)]
    elif kind == "mixed":
        cycle = [checkerboard_mask(0), checkerboard_mask(1)] + [
            half_mask(k) for k in ("top", "bottom", "left", "right")
        ]
    elif kind == "even_odd":
        even = torch.tensor([float(i % 2 == 0) for i in range(DIM)])
        cycle = [even, 1 - even]
    else:
        raise ValueError(f"kind must be 'checkerboard', 'mixed' or 'even_odd', got {kind!r}")
    return [cycle[i % len(cycle)] for i in range(n_layers)]


def image_realnvp(
    n_layers: int = 8, hidden: int = 128, depth: int = 2, masks: str = "mixed", bound: float = 3.0
) -> flows.Flow:
    """A RealNVP on 64-pixel images from the course's coupling layers.

    Affine couplings (:class:`course_utils.flows.AffineCoupling`, tanh-bounded log-scales,
    SiLU conditioners, started at the identity) with the masks of :func:`image_masks`, then a trainable
    per-pixel scale and shift.

    Args:
        n_layers: number of couplings.
        hidden, depth: width and hidden layers of each conditioner MLP.
        masks: see :func:`image_masks`.
        bound: the largest log-scale of a coupling.

    Returns:
        A :class:`course_utils.flows.Flow` of dimension 64 in the default dtype.
    """
    layers: list[flows.Bijection] = [
        # SiLU pinned: the shipped checkpoints were trained with it (flows' default is ReLU)
        flows.AffineCoupling(m, hidden, depth, bound=bound, activation=nn.SiLU)
        for m in image_masks(n_layers, masks)
    ]
    layers.append(flows.ElementwiseAffine(torch.ones(DIM), torch.zeros(DIM), trainable=True))
    return flows.Flow(flows.Compose(*layers))


# --------------------------------------------------------------------------- conditional field


class ConditionalVelocityMLP(nn.Module):
    """A class-conditional velocity field ``v(t, x, c)`` with a "no class" token.

    The input is ``[x, t, sin(2 pi k t), cos(2 pi k t), onehot(c)]`` where ``onehot`` has
    ``n_classes + 1`` slots; the last slot is the null class ``c = n_classes`` (written
    ``c = None``), which the training of :func:`train_conditional` uses for a fraction
    ``p_uncond`` of the batch, so that one network learns both the conditional field
    ``v(t, x, c)`` and the unconditional one ``v(t, x, None)`` (classifier-free guidance,
    Ho & Salimans 2022).

    Args:
        dim: data dimension.
        n_classes: number of classes.
        hidden, n_hidden: width and number of hidden layers.
        n_freq: time frequencies.
    """

    def __init__(
        self,
        dim: int = DIM,
        n_classes: int = 10,
        hidden: int = 256,
        n_hidden: int = 3,
        n_freq: int = 4,
    ):
        super().__init__()
        self.dim = check_positive_int(dim, "dim")
        self.n_classes = check_positive_int(n_classes, "n_classes")
        check_positive_int(hidden, "hidden")
        check_positive_int(n_hidden, "n_hidden")
        check_int(n_freq, "n_freq", 0)
        self.register_buffer(
            "freqs", 2 * math.pi * torch.arange(1, n_freq + 1, dtype=torch.float32)
        )
        width = dim + 1 + 2 * n_freq + n_classes + 1
        layers: list[nn.Module] = []
        for _ in range(n_hidden):
            layers += [nn.Linear(width, hidden), nn.SiLU()]
            width = hidden
        layers.append(nn.Linear(width, dim))
        self.net = nn.Sequential(*layers)

    def _labels(self, c, batch: int, device) -> torch.Tensor:
        if c is None:
            return torch.full((batch,), self.n_classes, dtype=torch.long, device=device)
        c = torch.as_tensor(c, device=device)
        if c.is_floating_point() or c.dtype == torch.bool:
            raise TypeError(f"c must hold integer classes, got dtype {c.dtype}")
        c = c.long()
        if c.ndim == 0:
            c = c.expand(batch)
        if c.shape != (batch,):
            raise ValueError(
                f"c must be None, an int or have shape ({batch},), got {tuple(c.shape)}"
            )
        if bool(((c < 0) | (c > self.n_classes)).any()):
            raise ValueError(
                f"c must hold classes 0..{self.n_classes - 1} (or {self.n_classes} = no class)"
            )
        return c

    def forward(self, t, x: torch.Tensor, c=None) -> torch.Tensor:
        """``t``: number, 0-d or ``(batch,)``; ``x: (batch, dim)``; ``c``: None, int or ``(batch,)``.

        Returns:
            ``(batch, dim)`` velocities; ``c = None`` gives the unconditional field.
        """
        x = check_batch(x, "x", self.dim)
        t = torch.as_tensor(t, dtype=x.dtype, device=x.device)
        tc = (t.expand(x.shape[0]) if t.ndim == 0 else t.reshape(x.shape[0]))[:, None]
        ang = tc * self.freqs.to(x.dtype)
        onehot = nn.functional.one_hot(
            self._labels(c, x.shape[0], x.device), self.n_classes + 1
        ).to(x.dtype)
        return self.net(torch.cat([x, tc, torch.sin(ang), torch.cos(ang), onehot], 1))


def guided_field(model: ConditionalVelocityMLP, c, scale: float) -> Callable:
    """The classifier-free guided field ``v_w = v(t, x, None) + w (v(t, x, c) - v(t, x, None))``.

    ``w = 0`` is the unconditional model, ``w = 1`` the conditional one, ``w > 1``
    extrapolates away from the unconditional field (Ho & Salimans write the same
    combination as ``(1 + w') v(c) - w' v(None)`` with ``w' = w - 1``).

    Args:
        model: a trained :class:`ConditionalVelocityMLP`.
        c: the class (an int, or ``(batch,)`` classes matching the batch being sampled).
        scale: the guidance scale ``w`` (a finite number).

    Returns:
        A field ``v(t, x)`` for :func:`course_utils.flow_matching.sample`.
    """
    if not isinstance(model, ConditionalVelocityMLP):
        raise TypeError(f"model must be a ConditionalVelocityMLP, got {type(model).__name__}")
    if isinstance(scale, bool) or not isinstance(scale, (int, float)) or not math.isfinite(scale):
        raise ValueError(f"scale must be a finite number, got {scale!r}")
    w = float(scale)

    def field(t, x):
        if w == 1.0:
            return model(t, x, c)
        v_null = model(t, x, None)
        if w == 0.0:
            return v_null
        return v_null + w * (model(t, x, c) - v_null)

    return field


def cfg_loss(
    model: ConditionalVelocityMLP,
    x1: torch.Tensor,
    c: torch.Tensor,
    path: GaussianPath | None = None,
    *,
    p_uncond: float = 0.1,
    generator: torch.Generator | None = None,
) -> torch.Tensor:
    """CFM loss of a conditional field with label dropout (classifier-free guidance training).

    Each label is replaced by the null class with probability ``p_uncond``; then the loss
    is :func:`course_utils.flow_matching.cfm_loss`'s ``mean ||v(t, x_t, c) - u_t(x_t | x1)||^2``.

    Args:
        model: the field.
        x1: ``(batch, dim)`` data points.
        c: ``(batch,)`` their classes.
        path: conditional path (default ``OTPath()``).
        p_uncond: label-dropout probability in ``[0, 1]``.
        generator: random generator for noise, times and dropout.

    Returns:
        0-d tensor.
    """
    x1 = check_data(x1, "x1", model.dim)
    if not 0.0 <= float(p_uncond) <= 1.0:
        raise ValueError(f"p_uncond must be in [0, 1], got {p_uncond!r}")
    path = OTPath() if path is None else path
    n = x1.shape[0]
    c = model._labels(c, n, x1.device)
    drop = torch.rand(n, generator=generator) < p_uncond
    c = torch.where(drop.to(c.device), torch.full_like(c, model.n_classes), c)
    x0 = torch.randn(x1.shape, generator=generator, dtype=x1.dtype)
    t = torch.rand(n, generator=generator, dtype=x1.dtype)
    xt = path.sample_xt(x0, x1, t)
    ut = path.target(x0, x1, t)
    return ((model(t, xt, c) - ut) ** 2).sum(1).mean()


def train_conditional(
    model: ConditionalVelocityMLP,
    draw: Callable[[int, torch.Generator | None], tuple[torch.Tensor, torch.Tensor]],
    *,
    steps: int = 2000,
    batch_size: int = 256,
    lr: float = 2e-3,
    p_uncond: float = 0.1,
    ema: float = 0.999,
    path: GaussianPath | None = None,
    generator: torch.Generator | None = None,
) -> training.TrainResult:
    """Train a :class:`ConditionalVelocityMLP` with :func:`cfg_loss` (Adam, cosine decay, EMA).

    Args:
        model: trained in place.
        draw: ``draw(n, generator) -> (x1 (n, dim), c (n,))``, a fresh batch (e.g. freshly
            dequantized images and their labels).
        steps, batch_size, lr: optimisation settings.
        p_uncond: label-dropout probability.
        ema: decay of the exponential moving average of the weights.
        path: conditional path (default ``OTPath()``).
        generator: random generator.

    Returns:
        A :class:`~course_utils.training.TrainResult` (run by :func:`training.fit`):
        ``model`` is the EMA copy, ``losses`` the per-step losses, ``seconds`` the
        training time; ``result["model"]``, ``["loss"]``, ``["seconds"]`` as before.
    """
    steps = check_positive_int(steps, "steps")
    batch_size = check_positive_int(batch_size, "batch_size")
    check_number(lr, "lr", positive=True)
    if not 0.0 <= float(ema) < 1.0:
        raise ValueError(f"ema must be in [0, 1), got {ema!r}")
    opt = torch.optim.Adam(model.parameters(), lr=lr)
    sched = torch.optim.lr_scheduler.CosineAnnealingLR(opt, steps)

    def batch_loss(step: int) -> torch.Tensor:
        x1, c = draw(batch_size, generator)
        return cfg_loss(model, x1, c, path, p_uncond=p_uncond, generator=generator)

    return training.fit(model, batch_loss, opt, steps=steps, scheduler=sched, ema=float(ema))


# --------------------------------------------------------------------------- evaluation helpers


class DigitClassifier:
    """A multinomial logistic regression on grey levels (scikit-learn), to judge samples.

    Fitted on real images ``(n, 64)`` of grey levels (scaled to ``[0, 1]``) with their
    classes. BLAS runs on one thread: on a shared CPU scikit-learn's default threading was
    50 times slower here (0.4 s against 20-35 s for the fit).

    Args:
        images: ``(n, 64)`` grey levels ``0..16`` (integer tensor).
        labels: ``(n,)`` classes.
        max_iter: L-BFGS iterations.
    """

    def __init__(self, images: torch.Tensor, labels: torch.Tensor, max_iter: int = 500):
        from sklearn.linear_model import LogisticRegression
        from threadpoolctl import threadpool_limits

        images = _levels(images, "images")
        max_iter = check_positive_int(max_iter, "max_iter")
        labels = torch.as_tensor(labels)
        if labels.shape != (images.shape[0],):
            raise ValueError(
                f"labels must have shape ({images.shape[0]},), got {tuple(labels.shape)}"
            )
        with threadpool_limits(1):
            self.model = LogisticRegression(max_iter=max_iter).fit(
                self._features(images), labels.numpy()
            )

    @staticmethod
    def _features(images: torch.Tensor) -> np.ndarray:
        return images.detach().cpu().numpy().astype(np.float64) / (N_LEVELS - 1)

    def predict(self, images: torch.Tensor) -> torch.Tensor:
        """Predicted classes ``(n,)`` of ``(n, 64)`` grey-level images (e.g. quantized samples)."""
        from threadpoolctl import threadpool_limits

        images = _levels(images, "images")
        with threadpool_limits(1):
            return torch.from_numpy(self.model.predict(self._features(images)))

    def accuracy(self, images: torch.Tensor, labels: torch.Tensor) -> float:
        """Fraction of ``images`` classified as ``labels`` (a float in [0, 1])."""
        return float((self.predict(images) == torch.as_tensor(labels)).double().mean())


def nearest_distances(
    x: torch.Tensor, reference: torch.Tensor
) -> tuple[torch.Tensor, torch.Tensor]:
    """Euclidean distance from each row of ``x`` to its nearest row of ``reference``.

    Args:
        x: ``(n, dim)`` query points (samples, or test images).
        reference: ``(m, dim)`` points (the training images).

    Returns:
        ``(dist (n,), index (n,))``: the distances and the indices of the nearest rows.
    """
    x = check_data(x, "x")
    reference = check_data(reference, "reference", x.shape[1])
    d2 = (x * x).sum(1, keepdim=True) - 2 * x @ reference.T + (reference * reference).sum(1)[None]
    best, idx = d2.clamp_min(0).min(1)
    return best.sqrt(), idx


def image_grid(images, nrow: int = 10, pad: int = 1, shape: tuple[int, int] = SHAPE) -> np.ndarray:
    """Tile ``(n, h * w)`` images into one ``(rows * (h + pad) - pad, nrow * (w + pad) - pad)`` array.

    Gaps are NaN (drawn as background by ``imshow``).
    """
    a = images.detach().cpu().numpy() if isinstance(images, torch.Tensor) else np.asarray(images)
    h, w = shape
    if a.ndim != 2 or a.shape[1] != h * w or a.shape[0] == 0:
        raise ValueError(f"images must have shape (n, {h * w}) with n >= 1, got {a.shape}")
    nrow = check_positive_int(nrow, "nrow")
    n = a.shape[0]
    ncol = min(nrow, n)
    rows = math.ceil(n / ncol)
    grid = np.full((rows * (h + pad) - pad, ncol * (w + pad) - pad), np.nan)
    for i in range(n):
        r, c = divmod(i, ncol)
        grid[r * (h + pad) : r * (h + pad) + h, c * (w + pad) : c * (w + pad) + w] = a[i].reshape(
            h, w
        )
    return grid


def show_grid(images, ax=None, nrow: int = 10, title: str | None = None, vmin=0, vmax=N_LEVELS - 1):
    """Draw :func:`image_grid` of ``images`` (grey levels, dark = ink) on ``ax``; returns ``ax``."""
    import matplotlib.pyplot as plt

    ax = plt.gca() if ax is None else ax
    ax.imshow(
        image_grid(images, nrow), cmap="gray_r", vmin=vmin, vmax=vmax, interpolation="nearest"
    )
    ax.set_xticks([])
    ax.set_yticks([])
    if title:
        ax.set_title(title)
    return ax


# --------------------------------------------------------------------------- checkpoints


def _git_commit() -> str:
    try:
        out = subprocess.run(
            ["git", "rev-parse", "--short", "HEAD"],
            capture_output=True,
            text=True,
            cwd=Path(__file__).resolve().parent,
            timeout=10,
        )
        return out.stdout.strip() or "unknown"
    except (OSError, subprocess.SubprocessError):
        return "unknown"


def save_checkpoint(path, model: nn.Module, config: dict, provenance: dict) -> Path:
    """Save ``model``'s weights with the ``config`` that rebuilds it and its ``provenance``.

    Args:
        path: file to write (``.pt``).
        model: the trained module.
        config: ``{"kind": "realnvp" | "fm" | "cfm", ...constructor arguments}``.
        provenance: what produced it (command, seed, training seconds, metrics); the git
            commit is added as ``"commit"`` when not given.

    Returns:
        The path written.
    """
    path = check_path(path, "path")
    if not isinstance(model, nn.Module):
        raise TypeError(f"model must be a torch.nn.Module, got {type(model).__name__}")
    for name, value in (("config", config), ("provenance", provenance)):
        if not isinstance(value, dict):
            raise TypeError(f"{name} must be a dict, got {type(value).__name__}")
    path.parent.mkdir(parents=True, exist_ok=True)
    # plain JSON-like values only, so that torch.load(..., weights_only=True) reads them
    prov = json.loads(json.dumps({"commit": _git_commit(), **provenance}, default=str))
    state = {k: v.detach().cpu().float() for k, v in model.state_dict().items()}
    torch.save({"config": dict(config), "provenance": prov, "state_dict": state}, path)
    return path


def _build(config: dict) -> nn.Module:
    from .flow_matching import VelocityMLP

    cfg = dict(config)
    kind = cfg.pop("kind", None)
    if kind == "realnvp":
        return image_realnvp(**cfg)
    if kind == "fm":
        return VelocityMLP(**cfg)
    if kind == "cfm":
        return ConditionalVelocityMLP(**cfg)
    raise ValueError(f"unknown checkpoint kind {kind!r}; expected 'realnvp', 'fm' or 'cfm'")


def load_checkpoint(name_or_path) -> tuple[nn.Module, dict]:
    """Rebuild a model saved by :func:`save_checkpoint` (e.g. ``"realnvp"`` from CHECKPOINT_DIR).

    Returns:
        ``(model in eval mode, provenance dict)``.
    """
    path = check_path(name_or_path, "name_or_path")
    if not path.suffix:
        path = CHECKPOINT_DIR / f"{path.name}.pt"
    if not path.is_file():
        raise FileNotFoundError(
            f"name_or_path must be an existing checkpoint file, got {str(path)!r} (produce "
            "it with `python benchmarks/train_digits.py`)"
        )
    blob = torch.load(path, map_location="cpu", weights_only=True)
    model = _build(blob["config"])
    model.load_state_dict(blob["state_dict"])
    model.eval()
    return model, {**blob["provenance"], "config": blob["config"]}
