"""Benchmark: course_utils.sde against torchsde, convergence orders, diffusion sampling.

    COURSE_THREADS=1 .venv/bin/python benchmarks/sde.py [--quick]

Prints markdown tables:

1. Euler–Maruyama wall time and error of ``cu.sde.sdeint`` and ``torchsde.sdeint`` on
   10,000 2-D points (an Ornstein–Uhlenbeck process with state-dependent diagonal noise,
   ``dY = -Y dt + (0.5 + 0.3 sin Y) dW``, T = 1) at equal step ``dt``: each solver with its
   default noise (``torchsde`` builds a ``BrownianInterval``), best of 3 runs; the error
   is the difference in mean and standard deviation of ``Y_1`` between the two (it should
   be Monte Carlo noise), and, on one shared ``BrownianPath``, the largest pathwise
   difference (float64: rounding only).
2. Measured strong and weak orders of Euler–Maruyama and Milstein on geometric Brownian
   motion (exact solution on the same Brownian path), least-squares slopes of log error
   against log h over h = 2^-3 .. 2^-10.
3. Sample quality against NFE on two moons for the reverse-time VP SDE (Euler–Maruyama),
   its probability-flow ODE (Euler, RK4) and a flow-matching OT-path model (Euler, RK4;
   and sampled as an SDE with the same marginals): energy distance over its floor, 2000
   samples against 2000 held-out points. Both models: MLP 3 x 128 SiLU, AdamW 3e-3 with
   a cosine schedule, EMA, batch 256, the same number of steps.

Times are wall-clock on whatever machine runs this; on a shared machine they vary.
"""

from __future__ import annotations

import argparse
import time

import numpy as np
import torch
import torchsde

import course_utils as cu
from course_utils import flow_matching as fm
from course_utils import metrics

F64 = torch.float64


def gen(seed: int) -> torch.Generator:
    return torch.Generator().manual_seed(seed)


class _Mult(torch.nn.Module):
    noise_type, sde_type = "diagonal", "ito"

    def f(self, t, y):
        return -y

    def g(self, t, y):
        return 0.5 + 0.3 * torch.sin(y)


def timing_table(dt: float, n: int = 10_000, repeats: int = 3) -> None:
    y0 = torch.ones(n, 2)
    ts = torch.tensor([0.0, 1.0])
    sde = _Mult()

    def best(fn):
        times, out = [], None
        for _ in range(repeats):
            start = time.perf_counter()
            out = fn()
            times.append(time.perf_counter() - start)
        return min(times), out

    t_cu, y_cu = best(lambda: cu.sde.sdeint(sde, y0, ts, dt=dt, generator=gen(0))[-1])
    t_ts, y_ts = best(lambda: torchsde.sdeint(sde, y0, ts, dt=dt, method="euler")[-1].detach())
    bm = cu.sde.BrownianPath(0.0, 1.0, (n, 2), dtype=F64, generator=gen(1))
    same_cu = cu.sde.sdeint(sde, y0.double(), ts.double(), dt=dt, bm=bm)[-1]
    same_ts = torchsde.sdeint(sde, y0.double(), ts.double(), dt=dt, bm=bm, method="euler")[-1]
    print(f"\n### Euler–Maruyama on {n:,} 2-D points, T = 1, dt = {dt:g} ({round(1 / dt)} steps)\n")
    print("| solver | wall time (s) | mean Y_1 | std Y_1 |")
    print("| --- | --- | --- | --- |")
    for name, secs, y in (("cu.sde.sdeint", t_cu, y_cu), ("torchsde.sdeint", t_ts, y_ts)):
        print(f"| {name} | {secs:.3f} | {float(y.mean()):.4f} | {float(y.std()):.4f} |")
    print(
        f"\ntime ratio cu / torchsde = {t_cu / t_ts:.3f}; on one shared BrownianPath "
        f"(float64) the largest pathwise difference is {float((same_cu - same_ts).abs().max()):.1e}"
    )


class _GBM(torch.nn.Module):
    noise_type, sde_type = "diagonal", "ito"

    def __init__(self, mu: float, s: float):
        super().__init__()
        self.mu, self.s = mu, s

    def f(self, t, y):
        return self.mu * y

    def g(self, t, y):
        return self.s * y


def order_table(n_strong: int, n_weak: int) -> None:
    ks = range(3, 11)
    rows = {}
    for label, method, s, n in (
        ("EM strong", "euler", 1.0, n_strong),
        ("Milstein strong", "milstein", 1.0, n_strong),
        ("EM weak", "euler", 0.5, n_weak),
        ("Milstein weak", "milstein", 0.5, n_weak),
    ):
        bm = cu.sde.BrownianPath(0.0, 1.0, (n, 1), dtype=F64, generator=gen(3))
        exact = torch.exp((1.0 - s**2 / 2) + s * bm(0.0, 1.0))
        hs, errs = [], []
        for k in ks:
            y = cu.sde.sdeint(
                _GBM(1.0, s),
                torch.ones(n, 1, dtype=F64),
                [0.0, 1.0],
                dt=2.0**-k,
                bm=bm,
                method=method,
            )[-1]
            hs.append(2.0**-k)
            d = y - exact
            errs.append(float(d.abs().mean()) if "strong" in label else abs(float(d.mean())))
        rows[label] = (float(np.polyfit(np.log(hs), np.log(errs), 1)[0]), errs)
    print("\n### Convergence orders on GBM dX = X dt + s X dW, T = 1 (s = 1 strong, 0.5 weak)\n")
    print("| quantity | theory | measured | error at h = 2^-3 | error at h = 2^-10 |")
    print("| --- | --- | --- | --- | --- |")
    theory = {"EM strong": 0.5, "Milstein strong": 1.0, "EM weak": 1.0, "Milstein weak": 1.0}
    for label, (slope, errs) in rows.items():
        print(f"| {label} | {theory[label]} | {slope:.2f} | {errs[0]:.2e} | {errs[-1]:.2e} |")


def _train(loss_fn, data, steps: int, n_freq: int, seed: int = 0):
    # 09's recipe (07's: AdamW, cosine learning rate, EMA of the weights) on the course's loop
    torch.manual_seed(seed)
    g = gen(seed)
    model = fm.VelocityMLP(2, hidden=128, n_hidden=3, n_freq=n_freq)
    opt = torch.optim.AdamW(model.parameters(), lr=3e-3)
    sched = torch.optim.lr_scheduler.CosineAnnealingLR(opt, T_max=steps)

    def batch_loss(step):
        return loss_fn(model, data.sample(256, generator=g), g)

    return cu.training.fit(model, batch_loss, opt, steps=steps, scheduler=sched, ema=0.999).model


def quality_table(steps: int, nfes: tuple[int, ...]) -> None:  # noqa: C901 - six samplers side by side, read top to bottom
    beta_min, beta_max, delta = 0.1, 20.0, 1e-2
    vp = fm.VPPath(beta_min, beta_max)

    def beta(t):
        return beta_min + (beta_max - beta_min) * (1 - t)

    def eps_loss(model, x1, g):
        tb = (1 - delta) * torch.rand(x1.shape[0], generator=g)
        eps = torch.randn(x1.shape, generator=g)
        xt = vp.alpha(tb)[:, None] * x1 + vp.sigma(tb)[:, None] * eps
        return ((model(tb, xt) - eps) ** 2).sum(1).mean()

    def cfm_loss(model, x1, g):
        x0 = torch.randn(x1.shape, generator=g)
        tb = torch.rand(x1.shape[0], generator=g)
        xt = (1 - tb[:, None]) * x0 + tb[:, None] * x1
        return ((model(tb, xt) - (x1 - x0)) ** 2).sum(1).mean()

    moons = cu.data.get("two_moons")
    t0 = time.perf_counter()
    eps_model = _train(eps_loss, moons, steps, n_freq=4)
    fm_model = _train(cfm_loss, moons, steps, n_freq=0)
    train_secs = time.perf_counter() - t0
    g_eval = gen(1234)
    held = moons.sample(2000, generator=g_eval)
    floor = metrics.energy_distance_floor(moons.sample(4000, generator=g_eval), 2000, 2000)
    z = torch.randn(2000, 2, generator=gen(99))

    def score(t, x):
        t = torch.as_tensor(t, dtype=x.dtype)
        return -eps_model(t, x) / vp.sigma(t)

    class Reverse(torch.nn.Module):
        noise_type, sde_type = "diagonal", "ito"

        def f(self, t, y):
            return 0.5 * beta(t) * (y + 2 * score(t, y))

        def g(self, t, y):
            return torch.sqrt(beta(t)) * torch.ones_like(y)

    class FMSDE(torch.nn.Module):
        noise_type, sde_type = "diagonal", "ito"

        def f(self, t, y):
            v = fm_model(t, y)
            return v + (t * v - y)  # c = 1: eps_t^2 = 2 (1 - t)

        def g(self, t, y):
            return torch.sqrt(2 * (1 - t)) * torch.ones_like(y)

    def pf(t, x):
        return 0.5 * beta(t) * (x + score(t, x))

    def em(sde, k, t1):
        with torch.no_grad():
            return cu.sde.sdeint(sde, z, [0.0, t1], dt=t1 / k, generator=gen(5))[-1]

    samplers = {
        "reverse VP SDE (EM)": lambda k: em(Reverse(), k, 1 - delta),
        "VP probability-flow ODE (Euler)": lambda k: fm.sample(
            pf, z, method="euler", steps=k, t1=1 - delta
        ),
        "VP probability-flow ODE (RK4)": lambda k: fm.sample(
            pf, z, method="rk4", steps=k // 4, t1=1 - delta
        ),
        "flow matching ODE (Euler)": lambda k: fm.sample(fm_model, z, method="euler", steps=k),
        "flow matching ODE (RK4)": lambda k: fm.sample(fm_model, z, method="rk4", steps=k // 4),
        "flow matching as SDE, c = 1 (EM)": lambda k: em(FMSDE(), k, 1.0),
    }
    print(
        f"\n### Sample quality (ED / floor, 2000 samples) against NFE on two moons "
        f"({steps} training steps per model, {train_secs:.0f} s for both)\n"
    )
    print("| sampler | " + " | ".join(f"NFE {k}" for k in nfes) + " |")
    print("| --- |" + " --- |" * len(nfes))
    for name, fn in samplers.items():
        vals = [metrics.energy_distance(fn(k), held) / floor for k in nfes]
        print(f"| {name} | " + " | ".join(f"{v:.2f}" for v in vals) + " |")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="a smaller smoke run")
    args = parser.parse_args()
    cu.setup(seed=0)
    timing_table(dt=0.01, repeats=1 if args.quick else 3)
    order_table(n_strong=1000 if args.quick else 4000, n_weak=5000 if args.quick else 20_000)
    quality_table(
        steps=200 if args.quick else 800,
        nfes=(8, 32) if args.quick else (4, 8, 16, 32, 64, 128, 256, 512),
    )
    print(f"\n(torch threads: {torch.get_num_threads()})")


if __name__ == "__main__":
    main()
