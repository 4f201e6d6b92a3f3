"""Sampling a field by an ODE solve, its exact log-likelihood, and path straightness."""

from __future__ import annotations

from collections.abc import Callable

import torch

from .._validate import check_data, check_finite, check_int, check_tensor

__all__ = ["sample", "log_prob", "straightness"]


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
    from .. import ode

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
    from ..cnf import CNF

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
