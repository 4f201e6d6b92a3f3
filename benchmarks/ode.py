"""Benchmark of course_utils.ode.odeint (dopri5) against scipy's RK45 and torchdiffeq.

Run:  .venv/bin/python benchmarks/ode.py

Prints two tables:

1. For small problems and several tolerances, the number of function evaluations (NFE)
   and the max error (against scipy's DOP853 at rtol=atol=1e-12) of this package's
   dopri5 and of scipy's RK45 at the same rtol/atol. Target: NFE <= 1.2 x RK45's.
2. Wall time and NFE on a batch of 10,000 2-D points pushed through a small MLP field
   (float32, t from 0 to 1), for this package and for torchdiffeq's dopri5 if it is
   installed (target: within 1.5x of torchdiffeq). The time spent inside the field
   itself (NFE x the time of one evaluation) is printed too, so the solver's own
   overhead is visible even without torchdiffeq.
"""

from __future__ import annotations

import math
import time

import numpy as np
import torch
from scipy.integrate import solve_ivp

from course_utils import ode

F64 = torch.float64


def _problems():
    def decay(t, y):
        return -2.0 * y

    def lotka(t, y):
        a, b = y[..., 0], y[..., 1]
        return torch.stack([1.5 * a - a * b, -3.0 * b + a * b], -1)

    def oscillator(t, y):
        p, q = y[..., 0], y[..., 1]
        return torch.stack([-q + 0.5 * torch.cos(t) * p, p - 0.1 * q], -1)

    def stiffish(t, y):
        return -50.0 * (y - torch.cos(t))

    def vdp(t, y):
        p, q = y[..., 0], y[..., 1]
        return torch.stack([q, 2.0 * (1 - p**2) * q - p], -1)

    return [
        ("decay  dy/dt=-2y", decay, [3.0], 1.0),
        ("Lotka-Volterra", lotka, [1.0, 1.0], 10.0),
        ("oscillator cos(t)", oscillator, [1.0, 0.0], 2 * math.pi),
        ("stiff-ish -50(y-cos t)", stiffish, [0.0], 2.0),
        ("van der Pol mu=2", vdp, [2.0, 0.0], 10.0),
    ]


def _np_field(f):
    return lambda t, y: f(torch.tensor(t, dtype=F64), torch.from_numpy(np.asarray(y))).numpy()


def table_nfe() -> None:
    print("1) dopri5 vs scipy RK45 (same rtol = atol), error = max |y(T) - DOP853 reference|")
    header = f"{'problem':24s} {'tol':>7s} {'NFE ours':>9s} {'NFE RK45':>9s} {'ratio':>6s} {'err ours':>9s} {'err RK45':>9s}"
    print(header)
    print("-" * len(header))
    worst = 0.0
    for name, f, y0, T in _problems():
        fn = _np_field(f)
        ref = solve_ivp(fn, (0, T), y0, method="DOP853", rtol=1e-12, atol=1e-12).y[:, -1]
        for tol in (1e-3, 1e-6, 1e-9):
            sp = solve_ivp(fn, (0, T), y0, method="RK45", rtol=tol, atol=tol)
            y = ode.odeint(
                f,
                torch.tensor(y0, dtype=F64),
                torch.tensor([0.0, T], dtype=F64),
                rtol=tol,
                atol=tol,
            )
            nfe = ode.last_stats().nfe
            ratio = nfe / sp.nfev
            worst = max(worst, ratio)
            e_ours = float(np.abs(y[-1].numpy() - ref).max())
            e_sp = float(np.abs(sp.y[:, -1] - ref).max())
            print(
                f"{name:24s} {tol:7.0e} {nfe:9d} {sp.nfev:9d} {ratio:6.2f} {e_ours:9.2e} {e_sp:9.2e}"
            )
    print(f"worst NFE ratio: {worst:.2f} (target <= 1.2)\n")


def _mlp(seed: int = 0) -> torch.nn.Module:
    torch.manual_seed(seed)
    net = torch.nn.Sequential(
        torch.nn.Linear(3, 64),
        torch.nn.Tanh(),
        torch.nn.Linear(64, 64),
        torch.nn.Tanh(),
        torch.nn.Linear(64, 2),
    )

    class Field(torch.nn.Module):
        def __init__(self):
            super().__init__()
            self.net = net

        def forward(self, t, x):
            return self.net(torch.cat([x, t.expand(x.shape[0], 1)], 1))

    return Field()


class _Timed:
    """Wraps a field and accumulates the time spent inside it and the number of calls."""

    def __init__(self, field):
        self.field, self.seconds, self.calls = field, 0.0, 0

    def __call__(self, t, x):
        start = time.perf_counter()
        out = self.field(t, x)
        self.seconds += time.perf_counter() - start
        self.calls += 1
        return out


def _run(solve, field, repeats: int = 3) -> tuple[float, float, int]:
    """Best wall time of ``solve(timed_field)`` over repeats: (wall, time in field, NFE)."""
    best = (math.inf, 0.0, 0)
    for _ in range(repeats):
        timed = _Timed(field)
        start = time.perf_counter()
        solve(timed)
        wall = time.perf_counter() - start
        if wall < best[0]:
            best = (wall, timed.seconds, timed.calls)
    return best


def table_mlp() -> None:
    print(
        "2) batch of 10,000 2-D points through an MLP field (3-64-64-2, tanh), float32, t: 0 -> 1"
    )
    print("   overhead = share of the wall time spent outside the field (the solver's own work)")
    field = _mlp()
    x0 = torch.randn(10_000, 2, generator=torch.Generator().manual_seed(0))
    t = torch.tensor([0.0, 1.0])
    header = f"{'solver':24s} {'tol':>7s} {'NFE':>5s} {'wall s':>8s} {'in field s':>10s} {'overhead':>9s}"
    print(header)
    print("-" * len(header))
    solvers = [("course_utils.ode dopri5", ode.odeint)]
    try:
        import torchdiffeq
    except ImportError:
        torchdiffeq = None
    else:
        solvers.append(("torchdiffeq dopri5", torchdiffeq.odeint))
    walls = {}
    with torch.no_grad():
        for name, odeint in solvers:
            for tol in (1e-3, 1e-5, 1e-7):
                wall, inside, nfe = _run(
                    lambda f, odeint=odeint, tol=tol: odeint(
                        f, x0, t, rtol=tol, atol=tol, method="dopri5"
                    ),
                    field,
                )
                walls[name, tol] = wall
                extra = ""
                if name != solvers[0][0]:
                    extra = f"  ours/theirs {walls[solvers[0][0], tol] / wall:.2f}x"
                print(
                    f"{name:24s} {tol:7.0e} {nfe:5d} {wall:8.3f} {inside:10.3f} "
                    f"{1 - inside / wall:8.1%}{extra}"
                )
    if torchdiffeq is None:
        print("torchdiffeq dopri5: skipped (torchdiffeq is not installed)")
    print(f"threads: {torch.get_num_threads()}")


if __name__ == "__main__":
    table_nfe()
    table_mlp()
