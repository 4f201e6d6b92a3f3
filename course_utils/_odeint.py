"""The ODE solvers behind :mod:`course_utils.ode` (fixed-step Runge–Kutta, Dormand–Prince 5(4)).

Private: import them from :mod:`course_utils.ode`, which documents the calling convention.
Besides :func:`odeint` this module offers :func:`check_settings`, the validation of a solve's
settings, which :mod:`course_utils._adjoint` uses for its backward solve. Imports go one way:
``_validate`` <- ``_odeint`` <- ``_adjoint`` <- ``ode``.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any, NamedTuple

import torch

from ._validate import check_int, check_number, check_state

__all__ = ["odeint", "OdeStats", "last_stats", "METHODS", "FIXED_STEP_METHODS", "check_settings"]

State = torch.Tensor | tuple[torch.Tensor, ...]

# Butcher tableaus (a, b, c) of the explicit fixed-step methods: stage i evaluates
# func(t + c[i] h, y + h sum_j a[i][j] k_j); the step is y + h sum_i b[i] k_i.
_FIXED_TABLEAUS: dict[str, tuple[list[list[float]], list[float], list[float]]] = {
    "euler": ([[]], [1.0], [0.0]),
    "midpoint": ([[], [0.5]], [0.0, 1.0], [0.0, 0.5]),
    "heun": ([[], [1.0]], [0.5, 0.5], [0.0, 1.0]),
    "rk4": (
        [[], [0.5], [0.0, 0.5], [0.0, 0.0, 1.0]],
        [1 / 6, 1 / 3, 1 / 3, 1 / 6],
        [0.0, 0.5, 0.5, 1.0],
    ),
}
_ORDERS = {"euler": 1, "midpoint": 2, "heun": 2, "rk4": 4, "dopri5": 5}

FIXED_STEP_METHODS: tuple[str, ...] = tuple(_FIXED_TABLEAUS)
METHODS: tuple[str, ...] = (*FIXED_STEP_METHODS, "dopri5")
# torchdiffeq's names for the same methods, accepted so its code runs unchanged.
_ALIASES = {"heun2": "heun"}

# Dormand–Prince 5(4) (Dormand & Prince 1980; Hairer, Nørsett & Wanner, Table II.5.2).
# Stage 7 is evaluated at the new point and reused as stage 1 of the next step (FSAL).
_DP_C = [0.0, 1 / 5, 3 / 10, 4 / 5, 8 / 9, 1.0, 1.0]
_DP_A = [
    [],
    [1 / 5],
    [3 / 40, 9 / 40],
    [44 / 45, -56 / 15, 32 / 9],
    [19372 / 6561, -25360 / 2187, 64448 / 6561, -212 / 729],
    [9017 / 3168, -355 / 33, 46732 / 5247, 49 / 176, -5103 / 18656],
]
_DP_B = [35 / 384, 0.0, 500 / 1113, 125 / 192, -2187 / 6784, 11 / 84, 0.0]
# Difference between the 5th- and the embedded 4th-order weights: err = h sum_i E_i k_i.
_DP_E = [-71 / 57600, 0.0, 71 / 16695, -71 / 1920, 17253 / 339200, -22 / 525, 1 / 40]
# Continuous extension of order 4 (Shampine 1986, as in scipy's RK45):
# y(t0 + theta h) = y0 + h sum_i k_i sum_j P[i][j] theta^(j+1).
_DP_P = [
    [1.0, -8048581381 / 2820520608, 8663915743 / 2820520608, -12715105075 / 11282082432],
    [0.0, 0.0, 0.0, 0.0],
    [0.0, 131558114200 / 32700410799, -68118460800 / 10900136933, 87487479700 / 32700410799],
    [0.0, -1754552775 / 470086768, 14199869525 / 1410260304, -10690763975 / 1880347072],
    [0.0, 127303824393 / 49829197408, -318862633887 / 49829197408, 701980252875 / 199316789632],
    [0.0, -282668133 / 205662961, 2019193451 / 616988883, -1453857185 / 822651844],
    [0.0, 40617522 / 29380423, -110615467 / 29380423, 69997945 / 29380423],
]
# Step-size controller (Hairer, Nørsett & Wanner II.4; the constants of scipy's RK45).
_SAFETY = 0.9
_MIN_FACTOR = 0.2
_MAX_FACTOR = 10.0
_ERROR_EXPONENT = -1 / 5  # the error estimate is O(h^5): 4th-order embedded solution

_OPTION_KEYS = ("step_size", "first_step", "max_num_steps")
_DEFAULT_MAX_NUM_STEPS = 100_000
_GRID_RTOL = 1e-9


@dataclass
class OdeStats:
    """What the last call of :func:`odeint` did.

    Attributes:
        method: the method's name (``"euler"``, ..., ``"dopri5"``).
        nfe: number of evaluations of ``func`` (including the ones used to choose the
            first step of ``dopri5``).
        n_accepted: accepted steps (for fixed-step methods: all steps).
        n_rejected: steps rejected by the error control (always 0 for fixed-step methods).
        accepted_steps: ``(t_start, h)`` of every accepted step, ``h`` signed (negative
            when integrating backwards), as Python floats.
        rejected_steps: ``(t_start, h)`` of every rejected attempt.
        error_norms: error-control norm of every accepted ``dopri5`` step (below 1).
    """

    method: str
    nfe: int = 0
    n_accepted: int = 0
    n_rejected: int = 0
    accepted_steps: list[tuple[float, float]] = field(default_factory=list)
    rejected_steps: list[tuple[float, float]] = field(default_factory=list)
    error_norms: list[float] = field(default_factory=list)

    def __str__(self) -> str:
        return (
            f"{self.method}: nfe={self.nfe}, accepted={self.n_accepted}, rejected={self.n_rejected}"
        )


_LAST_STATS: OdeStats | None = None


def last_stats() -> OdeStats:
    """Statistics (NFE, accepted and rejected steps) of the most recent :func:`odeint` call.

    Returns:
        The :class:`OdeStats` of the last solve in this process. A later call of
        :func:`odeint` replaces it, so read it right after the solve you care about.

    Raises:
        RuntimeError: if :func:`odeint` has not been called yet.
    """
    if _LAST_STATS is None:
        raise RuntimeError("no ODE has been solved yet: call odeint(...) before last_stats()")
    return _LAST_STATS


# --------------------------------------------------------------------------- state helpers
# The solvers work on tuples of tensors; a plain tensor state is a 1-tuple.


def _lincomb(y: tuple[torch.Tensor, ...], h, coeffs, ks) -> tuple[torch.Tensor, ...]:
    """y + h * sum_j coeffs[j] * ks[j], componentwise, skipping zero coefficients.

    ``h`` is a float, or a 0-d tensor when gradients with respect to the times are wanted.
    """
    out = []
    for i, yi in enumerate(y):
        acc = yi
        for c, k in zip(coeffs, ks, strict=True):
            if c != 0.0:
                acc = acc.add(k[i], alpha=h * c) if isinstance(h, float) else acc + (h * c) * k[i]
        out.append(acc)
    return tuple(out)


def _all_finite(y: tuple[torch.Tensor, ...]) -> bool:
    return all(bool(torch.isfinite(yi).all()) for yi in y)


def _check_times(t: Any) -> list[float]:
    if not isinstance(t, torch.Tensor):
        try:
            t = torch.as_tensor(t, dtype=torch.float64)
        except (TypeError, ValueError, RuntimeError) as exc:
            raise TypeError(
                f"t must be a torch.Tensor of shape (T,), got {type(t).__name__}"
            ) from exc
    if t.ndim != 1 or t.numel() < 1:
        raise ValueError(f"t must have shape (T,) with T >= 1, got {tuple(t.shape)}")
    if not t.is_floating_point():
        t = t.to(torch.float64)
    times = [float(v) for v in t.detach().cpu().tolist()]
    if not all(math.isfinite(v) for v in times):
        raise ValueError("t contains NaN or infinite values")
    if len(times) > 1:
        diffs = [b - a for a, b in zip(times[:-1], times[1:], strict=True)]
        if not (all(d > 0 for d in diffs) or all(d < 0 for d in diffs)):
            raise ValueError(
                "t must be strictly increasing (forward in time) or strictly decreasing "
                f"(backward in time), got {_short(times)}"
            )
    return times


def _short(values: Sequence[float]) -> str:
    shown = ", ".join(f"{v:.6g}" for v in values[:6])
    return f"[{shown}{', ...' if len(values) > 6 else ''}]"


class _Func:
    """Wraps ``func``: tuple packing, a 0-d time tensor, shape checks and the NFE count."""

    def __init__(self, func: Callable, comps: tuple[torch.Tensor, ...], is_tuple: bool, stats):
        if not callable(func):
            raise TypeError(f"func must be callable as func(t, y), got {type(func).__name__}")
        self.func = func
        self.is_tuple = is_tuple
        self.shapes = [c.shape for c in comps]
        self.dtype = comps[0].dtype
        self.device = comps[0].device
        self.stats = stats

    def __call__(self, t, y: tuple[torch.Tensor, ...]) -> tuple[torch.Tensor, ...]:
        # t: a float, or a 0-d tensor that carries gradients with respect to the times
        self.stats.nfe += 1
        if isinstance(t, torch.Tensor):
            tt = t.to(dtype=self.dtype, device=self.device)
            t = float(t.detach())
        else:
            tt = torch.tensor(t, dtype=self.dtype, device=self.device)
        out = self.func(tt, y if self.is_tuple else y[0])
        if self.is_tuple:
            if not isinstance(out, (tuple, list)) or len(out) != len(y):
                raise TypeError(
                    f"func must return a tuple of {len(y)} tensors like y0, got "
                    f"{type(out).__name__}"
                    + (f" of length {len(out)}" if isinstance(out, (tuple, list)) else "")
                )
            out = tuple(out)
        else:
            if not isinstance(out, torch.Tensor):
                raise TypeError(f"func must return a torch.Tensor, got {type(out).__name__}")
            out = (out,)
        for i, (o, shape) in enumerate(zip(out, self.shapes, strict=True)):
            if not isinstance(o, torch.Tensor):
                raise TypeError(f"func output [{i}] must be a torch.Tensor, got {type(o).__name__}")
            if o.shape != shape:
                where = f"[{i}]" if self.is_tuple else ""
                raise ValueError(
                    f"func(t, y) must return dy/dt with the shape of y0{where} {tuple(shape)}, "
                    f"got {tuple(o.shape)} at t={t:.6g}"
                )
        return out


def _nonfinite_error(t: float, method: str, h: float) -> FloatingPointError:
    return FloatingPointError(
        f"the state became NaN or infinite at t={t:.6g} ({method}, step {abs(h):.3g}): "
        "the step is probably beyond the method's stability limit (use a smaller step_size "
        "or method='dopri5'), or func returns NaN/inf there"
    )


# --------------------------------------------------------------------------- fixed step


def _fixed_grid(times: list[float], step_size: float | None, rtol: float = _GRID_RTOL) -> list[int]:
    """Number of steps in each interval of ``times``; checks that step_size divides them
    (up to ``rtol`` relative: float32 times carry only about 7 digits)."""
    if step_size is None:
        return [1] * (len(times) - 1)
    counts = []
    for a, b in zip(times[:-1], times[1:], strict=True):
        length = abs(b - a)
        n = max(1, round(length / step_size))
        if abs(n * step_size - length) > rtol * length:
            raise ValueError(
                f"step_size={step_size:g} does not divide the interval [{a:.6g}, {b:.6g}] of t "
                f"(length {length:.6g} = {length / step_size:.6g} steps): choose a step_size "
                "that divides every interval of t (e.g. length / an integer), put the output "
                "times on the step grid, or pass step_size=None for one step per interval"
            )
        counts.append(n)
    return counts


def _fixed_solve(
    f: _Func, method: str, y0, times, counts, stats, t_grad: torch.Tensor | None = None
) -> list[tuple[torch.Tensor, ...]]:
    """The fixed-step solve; with ``t_grad`` (the times as a float64 tensor that requires
    grad) the step grid is built from it, so autograd differentiates the steps with
    respect to the output times as torchdiffeq does (same values as the float grid)."""
    a, b, c = _FIXED_TABLEAUS[method]
    ys = [y0]
    y = y0
    for k, ((t_a, t_b), n) in enumerate(
        zip(zip(times[:-1], times[1:], strict=True), counts, strict=True)
    ):
        h = (t_b - t_a) / n
        h_d = h if t_grad is None else (t_grad[k + 1] - t_grad[k]) / n
        for j in range(n):
            # t_a + j h (not a running sum) keeps the grid free of accumulated rounding.
            t = t_a + j * h
            t_d = t if t_grad is None else t_grad[k] + j * h_d
            ks = []
            for i in range(len(b)):
                yi = _lincomb(y, h_d, a[i], ks) if i > 0 else y
                ks.append(f(t_d + c[i] * h_d, yi))
            y = _lincomb(y, h_d, b, ks)
            stats.n_accepted += 1
            stats.accepted_steps.append((t, h))
            if not _all_finite(y):
                raise _nonfinite_error(t + h, method, h)
        ys.append(y)
    return ys


# --------------------------------------------------------------------------- dopri5


def _rms_norm(x: tuple[torch.Tensor, ...], scale: tuple[torch.Tensor, ...]) -> float:
    """RMS of x / scale over every element of every tuple component (a Python float)."""
    total = sum(float(((xi / si) ** 2).sum()) for xi, si in zip(x, scale, strict=True))
    count = sum(xi.numel() for xi in x)
    return math.sqrt(total / max(count, 1))


def _initial_step(f, t0, y0, f0, direction, rtol, atol, interval) -> float:
    """Hairer, Nørsett & Wanner (II.4) starting step, as in scipy; costs one evaluation."""
    with torch.no_grad():
        scale = tuple(atol + rtol * yi.abs() for yi in y0)
        d0 = _rms_norm(tuple(yi.detach() for yi in y0), scale)
        d1 = _rms_norm(tuple(fi.detach() for fi in f0), scale)
        h0 = 1e-6 if (d0 < 1e-5 or d1 < 1e-5) else 0.01 * d0 / d1
        h0 = min(h0, interval)
        y1 = tuple(
            yi.detach() + (h0 * direction) * fi.detach() for yi, fi in zip(y0, f0, strict=True)
        )
        f1 = f(t0 + h0 * direction, y1)
        d2 = _rms_norm(tuple(a - b.detach() for a, b in zip(f1, f0, strict=True)), scale) / h0
    if d1 <= 1e-15 and d2 <= 1e-15:
        h1 = max(1e-6, h0 * 1e-3)
    else:
        h1 = (0.01 / max(d1, d2)) ** (1 / 5)
    return min(100 * h0, h1, interval)


def _dense(y_old, h: float, ks, theta: float) -> tuple[torch.Tensor, ...]:
    weights = [sum(p * theta ** (j + 1) for j, p in enumerate(row)) for row in _DP_P]
    return _lincomb(y_old, h, weights, ks)


def _dopri5_trial(f: _Func, t: float, y, fy, t_new: float, rtol: float, atol: float):
    """One Dormand–Prince trial step from ``(t, y)`` to ``t_new``.

    Returns ``(y_new, f_new, stages, err_norm)``; ``err_norm < 1`` accepts the step.
    """
    h = t_new - t
    ks = [fy]
    for i in range(1, 6):
        ks.append(f(t + _DP_C[i] * h, _lincomb(y, h, _DP_A[i], ks)))
    y_new = _lincomb(y, h, _DP_B[:6], ks)
    f_new = f(t_new, y_new)
    ks.append(f_new)
    with torch.no_grad():
        err = tuple(
            sum((h * e) * k[i] for e, k in zip(_DP_E, ks, strict=True) if e != 0.0)
            for i in range(len(y))
        )
        scale = tuple(
            atol + rtol * torch.maximum(yi.abs(), yn.abs()) for yi, yn in zip(y, y_new, strict=True)
        )
        err_norm = _rms_norm(err, scale)
    return y_new, f_new, ks, err_norm


def _dopri5_step(f: _Func, t: float, y, fy, h_abs: float, direction: float, t_end, tol, stats):
    """Try steps from ``(t, y)``, shrinking ``h`` after each rejection, until one is accepted.

    Returns ``(t_new, y_new, f_new, h, stages, next_h_abs)``.
    """
    rtol, atol = tol
    min_step = 10 * abs(math.nextafter(t, direction * math.inf) - t)
    rejected = False
    while True:
        if h_abs < min_step:
            raise FloatingPointError(
                f"dopri5 step size underflow at t={t:.6g} (step {h_abs:.3g}): func is "
                "probably NaN/infinite or singular near this time, or the problem is very stiff"
            )
        t_new = t + direction * h_abs
        if direction * (t_new - t_end) > 0:
            t_new = t_end
        h = t_new - t
        y_new, f_new, ks, err_norm = _dopri5_trial(f, t, y, fy, t_new, rtol, atol)
        if err_norm < 1:  # NaN compares False: a non-finite trial step is rejected
            factor = (
                _MAX_FACTOR
                if err_norm == 0
                else min(_MAX_FACTOR, _SAFETY * err_norm**_ERROR_EXPONENT)
            )
            if rejected:
                factor = min(1.0, factor)
            stats.n_accepted += 1
            stats.accepted_steps.append((t, h))
            stats.error_norms.append(err_norm)
            return t_new, y_new, f_new, h, ks, abs(h) * factor
        stats.n_rejected += 1
        stats.rejected_steps.append((t, h))
        if math.isfinite(err_norm):
            h_abs = abs(h) * max(_MIN_FACTOR, _SAFETY * err_norm**_ERROR_EXPONENT)
        else:
            h_abs = abs(h) * _MIN_FACTOR
        rejected = True


def _emit_outputs(ys: list, times, n_out: int, t: float, y, last, direction: float) -> int:
    """Append the solution at every requested time already covered by the steps taken
    (dense output inside the last step); returns the new number of outputs."""
    while n_out < len(times) and direction * (times[n_out] - t) <= 0:
        target = times[n_out]
        if target == t:
            ys.append(y)
        else:
            ts, yst, hs, ks = last
            ys.append(_dense(yst, hs, ks, (target - ts) / hs))
        n_out += 1
    return n_out


def _dopri5_solve(f: _Func, y0, times, rtol, atol, first_step, max_num_steps, stats):
    t0, t_end = times[0], times[-1]
    direction = 1.0 if t_end >= t0 else -1.0
    interval = abs(t_end - t0)
    fy = f(t0, y0)
    if not _all_finite(fy):
        raise FloatingPointError(f"func returned NaN or infinite values at t={t0:.6g} (at y0)")
    if first_step is None:
        h_abs = _initial_step(f, t0, y0, fy, direction, rtol, atol, interval)
    else:
        h_abs = min(float(first_step), interval)

    ys = [y0]
    t, y = t0, y0
    # The last accepted step, kept for dense output: (t_start, y_start, h, stages).
    last = None
    n_out = 1
    steps = 0
    while True:
        n_out = _emit_outputs(ys, times, n_out, t, y, last, direction)
        if n_out == len(times):
            return ys
        if steps >= max_num_steps:
            raise RuntimeError(
                f"dopri5 reached max_num_steps={max_num_steps} at t={t:.6g} before t={t_end:.6g}: "
                "the problem may be stiff or the tolerances too tight; loosen rtol/atol or pass "
                "options={'max_num_steps': ...}"
            )
        t_new, y_new, fy, h, ks, h_abs = _dopri5_step(
            f, t, y, fy, h_abs, direction, t_end, (rtol, atol), stats
        )
        last = (t, y, h, ks)
        t, y = t_new, y_new
        steps += 1
        if not _all_finite(y):
            raise _nonfinite_error(t, "dopri5", h)


# --------------------------------------------------------------------------- public


# Gradients with respect to the output times for dopri5, whose steps are chosen on detached
# numbers: the exact flow satisfies dy(t_i)/dt_i = f(t_i, y(t_i)) and
# dy(t_i)/dt_0 = -(dy(t_i)/dy_0) f(t_0, y_0). Adding (t - stop_grad(t)) f, which is zero,
# gives autograd exactly these derivatives (odeint_adjoint computes the same ones).
def _shift_start(f: _Func, y0, t0: torch.Tensor):
    f0 = f(t0.detach(), y0)
    dt = t0.detach() - t0
    return tuple(yi + dt.to(yi.dtype) * fi for yi, fi in zip(y0, f0, strict=True))


def _shift_output(f: _Func, y, ti: torch.Tensor):
    fi = f(ti.detach(), y)
    dt = ti - ti.detach()
    return tuple(yk + dt.to(yk.dtype) * fk for yk, fk in zip(y, fi, strict=True))


def _check_method(method) -> str:
    if not isinstance(method, str):
        raise TypeError(f"method must be a string, one of {list(METHODS)}, got {method!r}")
    name = _ALIASES.get(method.lower(), method.lower())
    if name not in METHODS:
        raise ValueError(f"unknown method {method!r}: the known methods are {list(METHODS)}")
    return name


def _check_options(options, step_size):
    """torchdiffeq-style options; returns ``(step_size, first_step, max_num_steps)``."""
    options = dict(options or {})
    unknown = sorted(set(options) - set(_OPTION_KEYS))
    if unknown:
        raise ValueError(f"unknown options {unknown}: the known options are {list(_OPTION_KEYS)}")
    if "step_size" in options:
        if step_size is not None and options["step_size"] is not None:
            raise ValueError("give step_size either as an argument or in options, not both")
        step_size = options["step_size"] if step_size is None else step_size
    first_step = options.get("first_step")
    if first_step is not None:
        check_number(first_step, "options['first_step']", positive=True)
    max_num_steps = check_int(
        options.get("max_num_steps", _DEFAULT_MAX_NUM_STEPS), "options['max_num_steps']"
    )
    return step_size, first_step, max_num_steps


def _check_method_and_tolerances(method, rtol, atol, step_size, options):
    name = _check_method(method)
    step_size, first_step, max_num_steps = _check_options(options, step_size)
    rtol = check_number(rtol, "rtol", nonnegative=True)
    atol = check_number(atol, "atol", nonnegative=True)
    if name == "dopri5" and rtol == 0 and atol == 0:
        raise ValueError("rtol and atol cannot both be 0 for method='dopri5'")
    if step_size is not None:
        # its sign follows t
        step_size = check_number(step_size, "step_size", positive=True)
    return name, rtol, atol, step_size, first_step, max_num_steps


class Settings(NamedTuple):
    """Checked settings of one solve, as :func:`check_settings` returns them."""

    method: str
    rtol: float
    atol: float
    step_size: float | None
    first_step: float | None
    max_num_steps: int
    times: list[float]
    counts: list[int] | None  # steps per interval of ``times`` (fixed-step methods)


def check_settings(
    method: str,
    rtol: float,
    atol: float,
    step_size: float | None,
    options: dict | None,
    t: Any,
) -> Settings:
    """Validate the settings of a solve over the output times ``t`` (as :func:`odeint` does).

    ``odeint_adjoint`` calls it for its backward solve (over ``t.flip(0)``) before the
    forward solve, so a bad backward setting fails at once rather than in ``.backward()``.

    Raises:
        TypeError, ValueError: as :func:`odeint` for a bad ``method``, ``rtol``, ``atol``,
            ``step_size``, ``options`` or ``t``.
    """
    name, rtol, atol, step_size, first_step, max_num_steps = _check_method_and_tolerances(
        method, rtol, atol, step_size, options
    )
    times = _check_times(t)
    counts = _step_counts(name, times, step_size, t)
    return Settings(name, rtol, atol, step_size, first_step, max_num_steps, times, counts)


def _step_counts(name: str, times: list[float], step_size, t) -> list[int] | None:
    """Steps per interval of ``times`` for the fixed-step methods (None for dopri5)."""
    if len(times) == 1:
        return None
    if name == "dopri5":
        if step_size is not None:
            raise ValueError(
                "step_size is for the fixed-step methods; dopri5 chooses its own steps"
            )
        return None
    t_dtype = t.dtype if isinstance(t, torch.Tensor) and t.is_floating_point() else torch.float64
    return _fixed_grid(times, step_size, max(_GRID_RTOL, 16 * torch.finfo(t_dtype).eps))


def odeint(
    func: Callable[[torch.Tensor, State], State],
    y0: State,
    t: torch.Tensor,
    *,
    method: str = "dopri5",
    rtol: float = 1e-6,
    atol: float = 1e-8,
    step_size: float | None = None,
    options: dict | None = None,
) -> State:
    """Solve ``dy/dt = func(t, y)``, ``y(t[0]) = y0``, and return ``y`` at every time in ``t``.

    Args:
        func: the vector field, called as ``func(t, y)`` with ``t`` a 0-d tensor (dtype
            and device of ``y0``) and ``y`` shaped like ``y0``; returns ``dy/dt`` of the
            same shape (a tuple shaped like ``y0`` when ``y0`` is a tuple). Typically
            ``y: (batch, dim)``.
        y0: initial state at ``t[0]``: a floating tensor of any shape, e.g. a batch of
            points ``(batch, dim)``, or a tuple of such tensors (an augmented state such as
            ``(x, log_p)`` with shapes ``((batch, dim), (batch,))``), one dtype and device.
        t: output times, shape ``(T,)``, strictly increasing or strictly decreasing
            (decreasing integrates backwards). ``t[0]`` is the initial time.
        method: ``"euler"``, ``"midpoint"``, ``"heun"``, ``"rk4"`` (fixed step) or
            ``"dopri5"`` (adaptive Dormand–Prince 5(4)). ``"heun2"`` is accepted as
            torchdiffeq's name for ``"heun"``.
        rtol, atol: relative and absolute tolerance of ``dopri5``: a step is accepted when
            the RMS over all elements of ``err / (atol + rtol * max(|y_old|, |y_new|))`` is
            below 1. Ignored by the fixed-step methods.
        step_size: step of the fixed-step methods (positive; the sign follows ``t``). It
            must divide every interval of ``t`` (up to 1e-9 relative, or the resolution of
            ``t``'s dtype if coarser). ``None``: one step
            per interval of ``t``.
        options: torchdiffeq-style options, for code written for torchdiffeq:
            ``step_size``, ``first_step`` (first ``dopri5`` step; default: chosen as in
            Hairer–Nørsett–Wanner) and ``max_num_steps`` (``dopri5``; default 100000).

    Returns:
        The solution at the times ``t``, shape ``(T, *y0.shape)``, or a tuple of such
        tensors when ``y0`` is a tuple. ``dopri5`` steps exactly to ``t[-1]`` and
        obtains intermediate output times from its 4th-order continuous extension
        (dense output, as scipy and torchdiffeq do), so a dense ``t`` grid does not
        change the steps taken. The fixed-step methods land exactly on every ``t``.
        Statistics of the solve are available from :func:`last_stats`.

    Raises:
        TypeError: ``func`` not callable, ``y0``/``t`` not tensors, or ``func``'s output
            not shaped like ``y0``.
        ValueError: bad ``t`` (not 1-D, not strictly monotone, non-finite), unknown
            ``method``, bad tolerances, a ``step_size`` that does not divide ``t``'s
            intervals, non-finite ``y0``.
        FloatingPointError: the state became NaN/inf (the message gives the time).
        RuntimeError: ``dopri5`` needed more than ``max_num_steps`` steps.

    >>> import torch
    >>> t = torch.tensor([0.0, 1.0], dtype=torch.float64)
    >>> y = odeint(lambda t, y: -2 * y, torch.tensor([3.0], dtype=torch.float64), t)
    >>> abs(float(y[-1, 0]) - 3 * math.exp(-2)) < 1e-6
    True
    """
    global _LAST_STATS
    cfg = check_settings(method, rtol, atol, step_size, options, t)
    name, times = cfg.method, cfg.times
    comps, is_tuple = check_state(y0)
    stats = OdeStats(method=name)
    _LAST_STATS = stats
    f = _Func(func, comps, is_tuple, stats)

    t_grad = (
        t.to(torch.float64)
        if isinstance(t, torch.Tensor) and t.requires_grad and torch.is_grad_enabled()
        else None
    )
    if len(times) == 1:
        ys = [comps]
    elif name == "dopri5":
        start = comps if t_grad is None else _shift_start(f, comps, t_grad[0])
        ys = _dopri5_solve(
            f, start, times, cfg.rtol, cfg.atol, cfg.first_step, cfg.max_num_steps, stats
        )
        if t_grad is not None:
            ys = [comps] + [_shift_output(f, y, t_grad[i]) for i, y in enumerate(ys) if i]
    else:
        ys = _fixed_solve(f, name, comps, times, cfg.counts, stats, t_grad)

    stacked = tuple(torch.stack([y[i] for y in ys]) for i in range(len(comps)))
    return stacked if is_tuple else stacked[0]
