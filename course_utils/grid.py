"""Regular 2-D grids: evaluate a log-density on a grid and integrate it.

Used to check that a density integrates to 1 (every density in the course is checked
this way) and by the heat-map plots.
"""

from __future__ import annotations

import math
import numbers
from collections.abc import Callable

import torch

from ._validate import check_dtype, check_int, check_positive_int

__all__ = ["grid_2d", "integrate_density_2d", "evaluate_on_grid"]


_LIM_FORMS = "a number L (square [-L, L]^2), (lo, hi) or (xlo, xhi, ylo, yhi)"


def _check_lim(lim) -> tuple[float, float, float, float]:
    given = lim
    if isinstance(lim, torch.Tensor):
        lim = lim.item() if lim.ndim == 0 else lim.tolist()
    if isinstance(lim, bool) or isinstance(lim, (str, bytes)) or lim is None:
        raise TypeError(f"lim must be {_LIM_FORMS}; got {type(lim).__name__} {lim!r}")
    if isinstance(lim, numbers.Real):
        lim = (-float(lim), float(lim))
    try:
        lim = tuple(float(v) for v in lim)
    except (TypeError, ValueError):
        raise TypeError(f"lim must be {_LIM_FORMS}; got {lim!r}") from None
    if len(lim) == 2:
        lim = (lim[0], lim[1], lim[0], lim[1])
    if len(lim) != 4:
        raise ValueError(f"lim must be {_LIM_FORMS}; got {given!r}")
    if not all(math.isfinite(v) for v in lim):
        raise ValueError(f"lim must be finite (no NaN or inf), got {given!r}")
    if lim[0] >= lim[1] or lim[2] >= lim[3]:
        raise ValueError(f"lim must be {_LIM_FORMS} with lo < hi; got {given!r}")
    return lim  # type: ignore[return-value]


def grid_2d(lim=3.0, n: int = 200, dtype=torch.float64):
    """Cell-centred grid on a rectangle.

    Args:
        lim: half-width L of the square [-L, L]^2, or (lo, hi), or (xlo, xhi, ylo, yhi).
        n: number of cells per axis (>= 2).
        dtype: floating torch dtype of the returned points.

    Returns:
        ``(xs, ys, points, cell_area)``: ``xs`` (n,) and ``ys`` (n,) cell centres,
        ``points`` (n*n, 2) in row-major order (y varies slowest, so
        ``values.reshape(n, n)`` is indexed ``[iy, ix]`` as ``imshow`` expects), and the
        area of one cell.

    Raises:
        TypeError: ``lim`` is not a number or a sequence of numbers, or ``dtype`` is not
            a floating dtype.
        ValueError: ``lim`` has NaN/inf, the wrong length or ``lo >= hi``; ``n < 2``.
    """
    n = check_int(n, "n", 2)
    x0, x1, y0, y1 = _check_lim(lim)
    dtype = check_dtype(dtype)
    hx, hy = (x1 - x0) / n, (y1 - y0) / n
    xs = torch.linspace(x0 + hx / 2, x1 - hx / 2, n, dtype=dtype)
    ys = torch.linspace(y0 + hy / 2, y1 - hy / 2, n, dtype=dtype)
    yy, xx = torch.meshgrid(ys, xs, indexing="ij")
    points = torch.stack([xx.reshape(-1), yy.reshape(-1)], dim=1)
    return xs, ys, points, hx * hy


def evaluate_on_grid(
    log_prob: Callable[[torch.Tensor], torch.Tensor],
    lim=3.0,
    n: int = 200,
    batch_size: int = 20_000,
    dtype=torch.float64,
):
    """Evaluate ``log_prob`` on :func:`grid_2d`; returns ``(xs, ys, logp (n, n), cell_area)``.

    ``log_prob`` is called on chunks of at most ``batch_size`` (a positive int) points.
    """
    if not callable(log_prob):
        raise TypeError(f"log_prob must be a callable (batch, 2) -> (batch,), got {log_prob!r}")
    batch_size = check_positive_int(batch_size, "batch_size")
    xs, ys, points, area = grid_2d(lim, n, dtype=dtype)
    chunks = []
    for start in range(0, points.shape[0], batch_size):
        out = log_prob(points[start : start + batch_size])
        out = torch.as_tensor(out).detach()
        if out.shape != (min(batch_size, points.shape[0] - start),):
            raise ValueError(
                f"log_prob must map (batch, 2) to (batch,), got output shape {tuple(out.shape)}"
            )
        chunks.append(out.to(dtype))
    return xs, ys, torch.cat(chunks).reshape(n, n), area


def integrate_density_2d(
    log_prob: Callable[[torch.Tensor], torch.Tensor], lim=3.0, n: int = 200
) -> float:
    """Midpoint-rule integral of ``exp(log_prob)`` over the rectangle ``lim``.

    A normalised density whose mass lies inside the rectangle gives a value close to 1.

    >>> import math, torch
    >>> f = lambda x: -0.5 * (x ** 2).sum(1) - math.log(2 * math.pi)
    >>> round(integrate_density_2d(f, lim=6.0, n=200), 6)
    1.0
    """
    _, _, logp, area = evaluate_on_grid(log_prob, lim, n)
    return float(torch.exp(logp).sum() * area)
