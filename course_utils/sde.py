"""Stochastic differential equations: Euler–Maruyama, Milstein and a reusable Brownian path.

Taught in ``notebooks/09_sde_diffusion.ipynb``. An Itô SDE

    dY_t = f(t, Y_t) dt + g(t, Y_t) dW_t

is solved by :func:`sdeint`, which follows torchsde's calling convention
(``torchsde.sdeint(sde, y0, ts, bm=None, method=..., dt=...)``): ``sde`` is any object
with methods ``f(t, y)`` (drift) and ``g(t, y)`` (diffusion) and attributes
``noise_type`` and ``sde_type = "ito"``; ``y0: (batch, d)``; the result holds the state at
every time of ``ts``: ``(len(ts), batch, d)``. The shape of ``g(t, y)`` depends on the
noise type (``m`` Brownian channels):

============  ==================  ==========  ==========================================
noise_type    g(t, y)             W           the noise term g dW
============  ==================  ==========  ==========================================
diagonal      ``(batch, d)``      ``(b, d)``  ``g * dW`` (channel i drives coordinate i)
scalar        ``(batch, d, 1)``   ``(b, 1)``  ``g[..., 0] * dW`` (one channel for all)
additive      ``(batch, d, m)``   ``(b, m)``  ``g @ dW``, g independent of y
general       ``(batch, d, m)``   ``(b, m)``  ``g @ dW``
============  ==================  ==========  ==========================================

Methods (both Itô): ``"euler"`` (Euler–Maruyama, strong order 1/2, weak order 1) and
``"milstein"`` (strong order 1 for diagonal, scalar and additive noise; it adds
``(1/2) g (dg/dy) (dW^2 - h)``, the derivative taken by autograd, so ``g`` must be
differentiable in ``y``). A :class:`BrownianPath` called as ``bm(ta, tb)`` returns the
increment ``W(tb) - W(ta)``; passing the same path to solves with different ``dt`` makes
them see the same Brownian motion, which is what strong convergence is measured on.
torchsde's ``BrownianInterval`` works here and a :class:`BrownianPath` works in
torchsde.

Grid: each interval ``[ts[i], ts[i+1]]`` is covered by steps of ``dt`` from its left
end, the last one shortened to land on ``ts[i+1]`` (torchsde instead steps across output
times and interpolates linearly; the two agree when every output time is on the ``dt``
grid).

>>> import torch
>>> sde = SDE(lambda t, y: -y, lambda t, y: 0.0 * y, noise_type="diagonal")
>>> ys = sdeint(sde, torch.ones(1, 1, dtype=torch.float64), torch.tensor([0.0, 1.0]), dt=0.5)
>>> ys.shape, round(float(ys[-1, 0, 0]), 6)  # two Euler steps of dy = -y dt: (1 - 0.5)^2
(torch.Size([2, 1, 1]), 0.25)
"""

from __future__ import annotations

import bisect
import math
from collections.abc import Callable

import torch

from ._validate import check_data, check_tensor

__all__ = ["METHODS", "NOISE_TYPES", "SDE", "BrownianPath", "sdeint"]

METHODS = ("euler", "milstein")
NOISE_TYPES = ("diagonal", "scalar", "additive", "general")
_MILSTEIN_NOISE = ("diagonal", "scalar", "additive")
_GRID_RTOL = 1e-9  # a remainder step shorter than this fraction of dt is rounding, not a step


# --------------------------------------------------------------------------- the SDE object


class SDE(torch.nn.Module):
    """An Itô SDE from two functions, with torchsde's interface (``f``, ``g``, ``noise_type``).

    Args:
        drift: ``f(t, y) -> (batch, d)``.
        diffusion: ``g(t, y)``, shaped as the module docstring's table says for
            ``noise_type``.
        noise_type: one of :data:`NOISE_TYPES`.

    >>> sde = SDE(lambda t, y: -y, lambda t, y: torch.ones_like(y))
    >>> sde.noise_type, sde.sde_type
    ('diagonal', 'ito')
    """

    sde_type = "ito"

    def __init__(self, drift: Callable, diffusion: Callable, noise_type: str = "diagonal"):
        super().__init__()
        if not callable(drift):
            raise TypeError(f"drift must be callable as drift(t, y), got {type(drift).__name__}")
        if not callable(diffusion):
            raise TypeError(
                f"diffusion must be callable as diffusion(t, y), got {type(diffusion).__name__}"
            )
        if noise_type not in NOISE_TYPES:
            raise ValueError(f"noise_type must be one of {list(NOISE_TYPES)}, got {noise_type!r}")
        self._drift = drift
        self._diffusion = diffusion
        self.noise_type = noise_type

    def f(self, t, y: torch.Tensor) -> torch.Tensor:
        """Drift ``f(t, y)``: ``(batch, d)``."""
        return self._drift(t, check_tensor(y, "y"))

    def g(self, t, y: torch.Tensor) -> torch.Tensor:
        """Diffusion ``g(t, y)``: shape by noise type."""
        return self._diffusion(t, check_tensor(y, "y"))


# --------------------------------------------------------------------------- Brownian motion


def _time(value, name: str) -> float:
    if isinstance(value, torch.Tensor):
        if value.numel() != 1:
            raise ValueError(f"{name} must be a number, got a tensor of shape {tuple(value.shape)}")
        value = value.item()
    try:
        value = float(value)
    except (TypeError, ValueError) as exc:
        raise TypeError(f"{name} must be a number, got {type(value).__name__}") from exc
    if not math.isfinite(value):
        raise ValueError(f"{name} must be finite, got {value}")
    return value


class BrownianPath:
    """One sample path of a Brownian motion on ``[t0, t1]``, consistent under any queries.

    ``bm(ta, tb)`` is the increment ``W(tb) - W(ta)`` (shape ``size``), ``bm(t)`` is
    ``W(t) - W(t0)``. Values at the times asked so far are stored; a new time between two
    stored ones is drawn from the Brownian bridge between them,

        W(s) | W(a), W(b) ~ N(W(a) + (s - a)/(b - a) (W(b) - W(a)), (s - a)(b - s)/(b - a)),

    and a time beyond the last stored one from an independent ``N(0, s - b)`` step, so
    increments over disjoint intervals are independent ``N(0, (tb - ta) I)`` whatever
    the order of the queries, and refining a grid never changes the values already seen
    (the sum of the fine increments equals the coarse increment exactly).

    Args:
        t0, t1: the time interval (``t0 < t1``).
        size: ``(batch, m)``, the shape of ``W(t)`` (``m`` Brownian channels).
        dtype, device: of the returned tensors.
        generator: a ``torch.Generator`` (on ``device``) for the draws; default a new
            one seeded from torch's global generator (reproducible after
            ``cu.setup(seed)``).

    >>> bm = BrownianPath(0.0, 1.0, (2, 1), dtype=torch.float64,
    ...                   generator=torch.Generator().manual_seed(0))
    >>> whole = bm(0.0, 1.0)
    >>> bool(torch.allclose(bm(0.0, 0.3) + bm(0.3, 1.0), whole))  # refinement is consistent
    True
    """

    def __init__(
        self,
        t0: float,
        t1: float,
        size: tuple[int, ...],
        *,
        dtype: torch.dtype = torch.float32,
        device=None,
        generator: torch.Generator | None = None,
    ):
        t0, t1 = _time(t0, "t0"), _time(t1, "t1")
        if not t1 > t0:
            raise ValueError(f"t1 must be > t0, got t0={t0}, t1={t1}")
        size = tuple(size)
        if len(size) != 2 or not all(isinstance(s, int) and s >= 1 for s in size):
            raise ValueError(f"size must be (batch, m) with positive ints, got {size!r}")
        if not (isinstance(dtype, torch.dtype) and dtype.is_floating_point):
            raise TypeError(f"dtype must be a floating torch.dtype, got {dtype!r}")
        if generator is not None and not isinstance(generator, torch.Generator):
            raise TypeError(f"generator must be a torch.Generator, got {type(generator).__name__}")
        self.t0, self.t1 = t0, t1
        self.shape = size
        self.levy_area_approximation = "none"  # read by torchsde's solvers
        self.dtype = dtype
        self.device = torch.device("cpu") if device is None else torch.device(device)
        if generator is None:
            generator = torch.Generator(device=self.device)
            generator.manual_seed(int(torch.randint(0, 2**62, (1,)).item()))
        self._gen = generator
        self._tol = 1e-12 * (t1 - t0)
        self._times = [t0]
        self._values = [torch.zeros(size, dtype=dtype, device=self.device)]

    def _normal(self) -> torch.Tensor:
        return torch.randn(self.shape, dtype=self.dtype, device=self.device, generator=self._gen)

    def value(self, t) -> torch.Tensor:
        """``W(t) - W(t0)``: ``(batch, m)``."""
        t = _time(t, "t")
        if t < self.t0 - self._tol or t > self.t1 + self._tol:
            raise ValueError(
                f"t={t:.6g} is outside the Brownian path's interval [{self.t0:.6g}, {self.t1:.6g}]"
            )
        times, values = self._times, self._values
        i = bisect.bisect_left(times, t)
        # a query within rounding of a stored time is that time (grids built as t0 + k h
        # and t0 + 2k (h / 2) differ in the last bits)
        for j in (i - 1, i):
            if 0 <= j < len(times) and abs(times[j] - t) <= self._tol:
                return values[j]
        if i == len(times):
            w = values[-1] + math.sqrt(t - times[-1]) * self._normal()
        else:
            a, b = times[i - 1], times[i]
            wa, wb = values[i - 1], values[i]
            frac = (t - a) / (b - a)
            w = wa + frac * (wb - wa) + math.sqrt((t - a) * (b - t) / (b - a)) * self._normal()
        times.insert(i, t)
        values.insert(i, w)
        return w

    def __call__(self, ta, tb=None) -> torch.Tensor:
        """``W(tb) - W(ta)``, or ``W(ta) - W(t0)`` when ``tb`` is None: ``(batch, m)``."""
        if tb is None:
            return self.value(ta)
        return self.value(tb) - self.value(ta)

    def __repr__(self) -> str:
        return (
            f"BrownianPath(t0={self.t0:g}, t1={self.t1:g}, size={self.shape}, "
            f"dtype={self.dtype}, stored times={len(self._times)})"
        )


class _Increments:
    """Fresh independent increments ``sqrt(h) N(0, I)`` (no path stored): the fast default."""

    def __init__(self, shape, dtype, device, generator):
        self.shape, self.dtype, self.device, self._gen = shape, dtype, device, generator

    def __call__(self, ta: float, tb: float) -> torch.Tensor:
        z = torch.randn(self.shape, dtype=self.dtype, device=self.device, generator=self._gen)
        return z.mul_(math.sqrt(tb - ta))


# --------------------------------------------------------------------------- checks


def _check_times(ts) -> list[float]:
    if not isinstance(ts, torch.Tensor):
        try:
            ts = torch.as_tensor(ts, dtype=torch.float64)
        except (TypeError, ValueError, RuntimeError) as exc:
            raise TypeError(f"ts must be a 1-D tensor of times, got {type(ts).__name__}") from exc
    if ts.ndim != 1 or ts.numel() < 2:
        raise ValueError(
            f"ts must be a 1-D tensor with at least two times, got shape {tuple(ts.shape)}"
        )
    times = [float(v) for v in ts.detach().cpu().double().tolist()]
    if not all(math.isfinite(v) for v in times):
        raise ValueError("ts contains NaN or infinite values")
    for a, b in zip(times[:-1], times[1:], strict=True):
        if not b > a:
            shown = ", ".join(f"{v:.6g}" for v in times[:6]) + (", ..." if len(times) > 6 else "")
            raise ValueError(
                f"ts must be strictly increasing, got [{shown}] ({a:.6g} followed by {b:.6g}); "
                "to run an SDE backwards in time write the reversed SDE in a forward time variable"
            )
    return times


def _noise_channels(noise_type: str, g0: torch.Tensor, y: torch.Tensor) -> int:
    """Check ``g(t0, y0)`` against the noise type; return the number of Brownian channels."""
    b, d = y.shape
    got = tuple(g0.shape) if isinstance(g0, torch.Tensor) else type(g0).__name__
    if not isinstance(g0, torch.Tensor):
        raise TypeError(f"sde.g(t, y) must return a torch.Tensor, got {got}")
    if noise_type == "diagonal":
        if g0.shape != y.shape:
            raise ValueError(
                f"sde.g(t, y) must return shape (batch, d) = {(b, d)} for noise_type "
                f"'diagonal', got {got}"
            )
        return d
    if noise_type == "scalar":
        if g0.shape != (b, d, 1):
            raise ValueError(
                f"sde.g(t, y) must return shape (batch, d, 1) = {(b, d, 1)} for noise_type "
                f"'scalar', got {got}"
            )
        return 1
    if g0.ndim != 3 or g0.shape[:2] != (b, d):
        raise ValueError(
            f"sde.g(t, y) must return shape (batch, d, m) = ({b}, {d}, m) for noise_type "
            f"{noise_type!r}, got {got}"
        )
    return g0.shape[2]


def _check_sde(sde) -> str:
    for name in ("f", "g"):
        if not callable(getattr(sde, name, None)):
            raise TypeError(
                f"sde must have a method {name}(t, y) (torchsde's interface: f = drift, "
                f"g = diffusion), got {type(sde).__name__} without it"
            )
    noise_type = getattr(sde, "noise_type", None)
    if noise_type not in NOISE_TYPES:
        raise ValueError(f"sde.noise_type must be one of {list(NOISE_TYPES)}, got {noise_type!r}")
    sde_type = getattr(sde, "sde_type", None)
    if sde_type != "ito":
        raise ValueError(
            f"sde.sde_type must be 'ito' (the only type these solvers handle), got {sde_type!r}"
        )
    return noise_type


# --------------------------------------------------------------------------- steps


def _noise_term(noise_type: str, g: torch.Tensor, dw: torch.Tensor) -> torch.Tensor:
    if noise_type == "diagonal":
        return g * dw
    if noise_type == "scalar":
        return g[..., 0] * dw
    return torch.einsum("bdm,bm->bd", g, dw)


def _milstein_correction(sde, noise_type, tt, y, dw, h) -> tuple[torch.Tensor, torch.Tensor]:
    """``g dW`` and the Milstein term ``(1/2) (g . grad) g (dW^2 - h)``."""
    if noise_type == "additive":
        g = sde.g(tt, y)
        return _noise_term(noise_type, g, dw), torch.zeros_like(y)
    with torch.enable_grad():
        yg = y.detach().requires_grad_(True)
        g = sde.g(tt, yg)
        if noise_type == "diagonal":
            # diagonal noise: g_i depends on y_i only, so one vector-Jacobian product with
            # v = g (dW^2 - h) / 2 gives g_i dg_i/dy_i (dW_i^2 - h) / 2 coordinate by coordinate
            v = 0.5 * g.detach() * (dw * dw - h)
            (corr,) = torch.autograd.grad(g, yg, v, allow_unused=True)
        else:
            # scalar noise: the directional derivative (J_g g) by the double-vjp trick
            gs = g[..., 0]
            u = torch.zeros_like(gs, requires_grad=True)
            (vjp,) = torch.autograd.grad(gs, yg, u, create_graph=True, allow_unused=True)
            if vjp is None:
                corr = None
            else:
                (jg,) = torch.autograd.grad(vjp, u, gs.detach(), allow_unused=True)
                corr = None if jg is None else 0.5 * jg * (dw * dw - h)
    if corr is None:  # g does not depend on y
        corr = torch.zeros_like(y)
    return _noise_term(noise_type, g.detach(), dw), corr.detach()


def _check_method(sde, method: str, unused: dict) -> str:
    """The SDE's noise type, after checking it suits ``method`` and torchsde's keywords."""
    noise_type = _check_sde(sde)
    if method not in METHODS:
        raise ValueError(f"unknown method {method!r}; choose one of {list(METHODS)}")
    if method == "milstein" and noise_type not in _MILSTEIN_NOISE:
        raise ValueError(
            f"method 'milstein' needs noise_type in {list(_MILSTEIN_NOISE)} (general noise needs "
            f"Levy areas), got {noise_type!r}; use method='euler'"
        )
    if unused.get("adaptive", False):
        raise ValueError("adaptive=True is not supported: these solvers use a fixed step dt")
    known = {"adaptive", "rtol", "atol", "dt_min", "options", "names"}
    extra = set(unused) - known
    if extra:
        raise TypeError(f"sdeint got unexpected keyword arguments {sorted(extra)}")
    return noise_type


def _check_dt(dt) -> float:
    try:
        dt = float(dt)
    except (TypeError, ValueError) as exc:
        raise TypeError(f"dt must be a positive number, got {type(dt).__name__}") from exc
    if not (math.isfinite(dt) and dt > 0):
        raise ValueError(f"dt must be a positive number, got {dt!r}")
    return dt


def _brownian(bm, generator, y: torch.Tensor, m: int, noise_type: str):
    """``bm`` checked against ``(batch, m)``, or fresh increments from ``generator``."""
    if bm is None:
        return _Increments((y.shape[0], m), y.dtype, y.device, generator)
    if not callable(bm) or not hasattr(bm, "shape"):
        raise TypeError("bm must be callable as bm(ta, tb) and have a shape (batch, m)")
    if tuple(bm.shape) != (y.shape[0], m):
        raise ValueError(
            f"bm must have shape (batch, m) = {(y.shape[0], m)} for noise_type "
            f"{noise_type!r} and y0 of shape {tuple(y.shape)}, got {tuple(bm.shape)}"
        )
    return bm


def sdeint(
    sde,
    y0: torch.Tensor,
    ts,
    bm: Callable | None = None,
    method: str = "euler",
    dt: float = 1e-3,
    *,
    generator: torch.Generator | None = None,
    **unused,
) -> torch.Tensor:
    """Solve an Itô SDE ``dY = f(t, Y) dt + g(t, Y) dW`` on the times ``ts`` (no gradients).

    Args:
        sde: an object with ``f(t, y)``, ``g(t, y)``, ``noise_type`` (one of
            :data:`NOISE_TYPES`) and ``sde_type = "ito"``, like a torchsde SDE. ``t`` is
            passed as a 0-d tensor of ``y0``'s dtype.
        y0: ``(batch, d)`` initial states.
        ts: ``(T,)`` strictly increasing times, ``T >= 2``; ``ts[0]`` is the time of ``y0``.
        bm: a Brownian motion ``bm(ta, tb) -> (batch, m)`` with a ``shape`` attribute
            (:class:`BrownianPath` or torchsde's ``BrownianInterval``); default fresh
            increments from ``generator``.
        method: ``"euler"`` (Euler–Maruyama) or ``"milstein"``.
        dt: step size (positive; the last step of each interval of ``ts`` is shortened to
            land on it).
        generator: ``torch.Generator`` for the default noise (not allowed with ``bm``).
        **unused: torchsde keywords that do not apply here (``adaptive``, ``rtol``, ...);
            only ``adaptive=False`` is accepted.

    Returns:
        ``(T, batch, d)``: the state at every time of ``ts``.

    Raises:
        ValueError: unknown method or noise type, shapes of ``f``/``g``/``bm`` that do not
            fit the noise type, non-monotone ``ts``, ``dt <= 0``; FloatingPointError when
            the state becomes NaN/inf (the message gives the time).
    """
    noise_type = _check_method(sde, method, unused)
    y = check_data(y0, "y0")
    times = _check_times(ts)
    dt = _check_dt(dt)
    if bm is not None and generator is not None:
        raise ValueError("pass either bm (a Brownian path) or generator, not both")

    dtype, device = y.dtype, y.device

    def tensor_time(t: float) -> torch.Tensor:
        return torch.tensor(t, dtype=dtype, device=device)

    with torch.no_grad():
        t_first = tensor_time(times[0])
        f0 = sde.f(t_first, y)
        if not isinstance(f0, torch.Tensor) or f0.shape != y.shape:
            got = tuple(f0.shape) if isinstance(f0, torch.Tensor) else type(f0).__name__
            raise ValueError(f"sde.f(t, y) must return the shape of y0 {tuple(y.shape)}, got {got}")
        m = _noise_channels(noise_type, sde.g(t_first, y), y)
    bm = _brownian(bm, generator, y, m, noise_type)

    out = [y]
    with torch.no_grad():
        for t_a, t_b in zip(times[:-1], times[1:], strict=True):
            length = t_b - t_a
            n = max(1, math.ceil(length / dt - _GRID_RTOL))
            for k in range(n):
                # t_a + k dt (not a running sum) keeps the grid free of accumulated rounding
                t = t_a + k * dt
                t_next = t_b if k == n - 1 else t + dt
                h = t_next - t
                dw = bm(t, t_next)
                tt = tensor_time(t)
                drift = sde.f(tt, y)
                if method == "euler":
                    y = y + drift * h + _noise_term(noise_type, sde.g(tt, y), dw)
                else:
                    noise, corr = _milstein_correction(sde, noise_type, tt, y, dw, h)
                    y = y + drift * h + noise + corr
                if not bool(torch.isfinite(y).all()):
                    raise FloatingPointError(
                        f"the state became NaN or infinite at t={t_next:.6g} ({method}, dt={h:.3g}): "
                        "reduce dt, or check that f and g are finite there"
                    )
            out.append(y)
    return torch.stack(out)
