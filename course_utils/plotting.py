"""Figures the notebooks repeat: scatter plots, density heat maps, vector fields, paths.

Every function draws on ``ax`` (a new figure when None), sets a title and axis labels,
and returns the axes, so cells can combine panels and end with ``plt.show()``.
"""

from __future__ import annotations

from collections.abc import Callable

import matplotlib as mpl
import matplotlib.pyplot as plt
import numpy as np
import torch

from ._validate import NONFINITE, check_int
from .grid import evaluate_on_grid

__all__ = ["use_course_style", "scatter", "density", "vector_field", "trajectories", "loglog"]

COURSE_STYLE = {
    "figure.figsize": (5.0, 4.0),
    "figure.dpi": 80,
    "axes.grid": True,
    "grid.alpha": 0.3,
    "axes.titlesize": 11,
    "axes.labelsize": 10,
    "legend.fontsize": 9,
    "image.cmap": "viridis",
    "axes.spines.top": False,
    "axes.spines.right": False,
}


def use_course_style() -> None:
    """Apply the course's matplotlib defaults (called by ``cu.setup``)."""
    mpl.rcParams.update(COURSE_STYLE)


def _ax(ax):
    return plt.subplots()[1] if ax is None else ax


def _np(x) -> np.ndarray:
    if isinstance(x, torch.Tensor):
        x = x.detach().cpu().numpy()
    return np.asarray(x)


def _points(x, name="x") -> np.ndarray:
    arr = _np(x)
    if arr.ndim != 2 or arr.shape[1] != 2:
        raise ValueError(f"{name} must have shape (n, 2), got {arr.shape}")
    return arr


def scatter(
    x,
    ax=None,
    title: str = "samples",
    s: float = 2.0,
    alpha: float = 0.5,
    lim: float | None = 3.0,
    label: str | None = None,
    **kwargs,
):
    """Scatter plot of 2-D points ``x: (n, 2)`` with equal axes."""
    ax = _ax(ax)
    pts = _points(x)
    ax.scatter(pts[:, 0], pts[:, 1], s=s, alpha=alpha, label=label, **kwargs)
    if lim is not None:
        ax.set_xlim(-lim, lim)
        ax.set_ylim(-lim, lim)
    ax.set_aspect("equal")
    ax.set(title=title, xlabel="$x^{(1)}$", ylabel="$x^{(2)}$")
    return ax


def density(
    log_prob: Callable[[torch.Tensor], torch.Tensor],
    ax=None,
    lim=3.0,
    n: int = 150,
    title: str = "density",
    log: bool = False,
    colorbar: bool = False,
):
    """Heat map of ``exp(log_prob)`` (or of ``log_prob`` when ``log=True``) on a grid."""
    ax = _ax(ax)
    with torch.no_grad():
        xs, ys, logp, _ = evaluate_on_grid(log_prob, lim, n)
    values = logp if log else torch.exp(logp)
    extent = (float(xs[0]), float(xs[-1]), float(ys[0]), float(ys[-1]))
    im = ax.imshow(_np(values), origin="lower", extent=extent, aspect="equal")
    if colorbar:
        plt.colorbar(im, ax=ax, label="log density (nats)" if log else "density")
    ax.set(title=title, xlabel="$x^{(1)}$", ylabel="$x^{(2)}$")
    ax.grid(False)
    return ax


def vector_field(
    v: Callable[[torch.Tensor, torch.Tensor], torch.Tensor],
    t: float = 0.0,
    ax=None,
    lim: float = 3.0,
    n: int = 17,
    title: str | None = None,
):
    """Quiver plot of a field ``v(t, x)`` (torchdiffeq order) at time ``t``."""
    n = check_int(n, "n", 2)
    ax = _ax(ax)
    g = torch.linspace(-lim, lim, n, dtype=torch.float64)
    yy, xx = torch.meshgrid(g, g, indexing="ij")
    pts = torch.stack([xx.reshape(-1), yy.reshape(-1)], 1)
    with torch.no_grad():
        vel = v(torch.tensor(float(t), dtype=pts.dtype), pts)
    vel = _points(vel, "v(t, x)")
    ax.quiver(_np(pts[:, 0]), _np(pts[:, 1]), vel[:, 0], vel[:, 1], angles="xy", alpha=0.7)
    ax.set_aspect("equal")
    ax.set(title=title or f"vector field at t = {t:g}", xlabel="$x^{(1)}$", ylabel="$x^{(2)}$")
    return ax


def trajectories(
    path, ax=None, n_max: int = 50, title: str = "trajectories", lim: float | None = 3.0
):
    """Draw paths ``path: (T, batch, 2)``; start points in grey, end points in red."""
    n_max = check_int(n_max, "n_max", 1)
    ax = _ax(ax)
    arr = _np(path)
    if arr.ndim != 3 or arr.shape[2] != 2:
        raise ValueError(f"path must have shape (T, batch, 2), got {arr.shape}")
    arr = arr[:, :n_max]
    ax.plot(arr[:, :, 0], arr[:, :, 1], color="tab:blue", lw=0.8, alpha=0.6)
    ax.scatter(arr[0, :, 0], arr[0, :, 1], s=8, color="grey", label="start", zorder=3)
    ax.scatter(arr[-1, :, 0], arr[-1, :, 1], s=8, color="tab:red", label="end", zorder=3)
    if lim is not None:
        ax.set_xlim(-lim, lim)
        ax.set_ylim(-lim, lim)
    ax.set_aspect("equal")
    ax.legend(loc="upper right")
    ax.set(title=title, xlabel="$x^{(1)}$", ylabel="$x^{(2)}$")
    return ax


def loglog(x, y, ax=None, label: str | None = None, fit: bool = True, marker: str = "o"):
    """Log-log plot with a least-squares slope; returns ``(ax, slope)``.

    The slope is the measured exponent p in ``y ~ C x^p`` (e.g. a convergence order).
    """
    ax = _ax(ax)
    xa, ya = _np(x).astype(float), _np(y).astype(float)
    for name, arr in (("x", xa), ("y", ya)):
        if arr.ndim != 1 or arr.size < 2:
            raise ValueError(f"{name} must have shape (n,) with n >= 2, got {arr.shape}")
        if not np.isfinite(arr).all():
            raise ValueError(f"{name} {NONFINITE}")
    if xa.shape != ya.shape:
        raise ValueError(f"y must have the shape of x {xa.shape}, got {ya.shape}")
    if (xa <= 0).any() or (ya <= 0).any():
        raise ValueError("x and y must be positive for a log-log plot")
    slope = float(np.polyfit(np.log(xa), np.log(ya), 1)[0]) if fit else float("nan")
    text = f"{label} (slope {slope:.2f})" if (label and fit) else label
    ax.loglog(xa, ya, marker=marker, label=text)
    if label:
        ax.legend()
    return ax, slope
