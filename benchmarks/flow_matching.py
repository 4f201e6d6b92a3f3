"""Benchmark: flow matching on 2-D toy data (N(0, I) -> data), CPU, one thread.

    COURSE_THREADS=1 .venv/bin/python benchmarks/flow_matching.py [--quick]

Prints markdown tables:

1. sample quality against training steps and CPU training time, for the torchcfm 2-D
   tutorial configuration (re-implemented here when ``torchcfm`` is not installed:
   MLP 3 x 64 SELU on ``[x, t]``, batch 256, Adam 1e-3, constant learning rate, no EMA,
   linear path with sigma = 0; independent and exact-OT couplings, as
   ``ConditionalFlowMatcher`` and ``ExactOptimalTransportConditionalFlowMatcher``) and for
   the course's recipe (MLP 3 x 128 SiLU, AdamW 3e-3 with a cosine schedule, EMA 0.999);
2. quality against the number of function evaluations (NFE) for each solver;
3. independent versus OT coupling: straightness of the learned flow and few-step Euler;
4. exact negative log-likelihood against the true entropy on ``gaussian_mixture``;
5. the cost of the exact mini-batch OT pairing of a 256-point batch: the course's
   (``flow_matching.couple(..., "ot")``, POT's network simplex), scipy's
   ``linear_sum_assignment`` (the course's pairing before issue 25) and torchcfm's
   ``OTPlanSampler`` (``ot.emd`` then sampling pairs from the plan; re-implemented when
   torchcfm is not installed), interleaved, CPU time per batch, min-max over rounds.

Quality is the squared energy distance (ED, ``course_utils.metrics.energy_distance``)
between 4000 model samples and 4000 held-out data points, reported as a multiple of the
floor: the expected ED between two independent held-out draws of 4000
(``metrics.energy_distance_floor``; one such draw is printed too, it fluctuates).
A perfect model scores about 1. Samples for the quality
tables use RK4 with 5 steps (NFE 20) unless stated.

CPU times are process times of the training loop alone (no evaluation), with one torch
thread; on a shared machine wall times are longer.
"""

from __future__ import annotations

import argparse
import time

import torch

import course_utils as cu
from course_utils import flow_matching as fm
from course_utils import metrics

try:  # the reference implementation, when available
    import torchcfm  # noqa: F401

    HAVE_TORCHCFM = True
except ImportError:
    HAVE_TORCHCFM = False

N_EVAL = 4000


class TorchCFMTutorialMLP(torch.nn.Module):
    """torchcfm's ``MLP(dim=2, time_varying=True, w=64)``: 3 hidden SELU layers on ``[x, t]``."""

    def __init__(self, dim: int = 2, w: int = 64):
        super().__init__()
        self.net = torch.nn.Sequential(
            torch.nn.Linear(dim + 1, w),
            torch.nn.SELU(),
            torch.nn.Linear(w, w),
            torch.nn.SELU(),
            torch.nn.Linear(w, w),
            torch.nn.SELU(),
            torch.nn.Linear(w, dim),
        )

    def forward(self, t, x):
        t = torch.as_tensor(t, dtype=x.dtype).reshape(-1, 1).expand(x.shape[0], 1)
        return self.net(torch.cat([x, t], 1))


def _torchcfm_run(ds, coupling, steps, checkpoints, evaluate, seed=0):
    """The tutorial's loop, with torchcfm itself when installed, else re-implemented."""
    torch.manual_seed(seed)
    gen = torch.Generator().manual_seed(seed)
    model = TorchCFMTutorialMLP()
    opt = torch.optim.Adam(model.parameters(), lr=1e-3)
    path = fm.OTPath(0.0)
    if HAVE_TORCHCFM:
        from torchcfm.conditional_flow_matching import (
            ConditionalFlowMatcher,
            ExactOptimalTransportConditionalFlowMatcher,
        )

        matcher = (
            ExactOptimalTransportConditionalFlowMatcher(sigma=0.0)
            if coupling == "ot"
            else ConditionalFlowMatcher(sigma=0.0)
        )
    rows, cpu = [], 0.0
    for step in range(1, steps + 1):
        t0 = time.process_time()
        x1 = ds.sample(256, generator=gen)
        if HAVE_TORCHCFM:
            x0 = torch.randn(x1.shape, generator=gen)
            t, xt, ut = matcher.sample_location_and_conditional_flow(x0, x1)
            loss = ((model(t, xt) - ut) ** 2).mean()
        else:
            loss = fm.cfm_loss(model, path, x1, coupling=coupling, generator=gen)
        opt.zero_grad()
        loss.backward()
        opt.step()
        cpu += time.process_time() - t0
        if step in checkpoints:
            rows.append((step, cpu, evaluate(model)))
    return rows, model


def _course_run(ds, coupling, steps, seed=0, hidden=128):
    torch.manual_seed(seed)
    gen = torch.Generator().manual_seed(seed)
    model = fm.VelocityMLP(2, hidden=hidden, n_hidden=3, n_freq=0)
    t0 = time.process_time()
    out = fm.train(
        model,
        lambda n, g: ds.sample(n, generator=g),
        path=fm.OTPath(0.0),
        steps=steps,
        batch_size=256,
        lr=3e-3,
        schedule="cosine",
        ema=0.999,
        coupling=coupling,
        generator=gen,
    )
    return out.model, time.process_time() - t0


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="fewer steps (a smoke run)")
    parser.add_argument(
        "--sections", default="1,2,3,4,5", help="comma-separated table numbers to run (default all)"
    )
    args = parser.parse_args()
    sections = {int(k) for k in args.sections.split(",")}
    cu.setup(0, threads=1, verbose=False)
    ds = cu.data.get("two_moons")
    g = torch.Generator().manual_seed(1234)
    held, held2 = ds.sample(N_EVAL, generator=g), ds.sample(N_EVAL, generator=g)
    one_draw = metrics.energy_distance(held, held2)
    # the expected value of that floor (one draw fluctuates by tens of percent)
    floor = metrics.energy_distance_floor(ds.sample(N_EVAL, generator=g), N_EVAL, N_EVAL)
    z = torch.randn(N_EVAL, 2, generator=torch.Generator().manual_seed(99))

    def ratio(model, method="rk4", steps=5, **kw):
        x = fm.sample(model, z, method=method, steps=steps, **kw)
        return metrics.energy_distance(x, held) / floor, cu.ode.last_stats().nfe

    print(
        f"two_moons: floor = E[ED(held-out, held-out)] = {floor:.3e} ({N_EVAL} vs {N_EVAL} "
        f"points); one draw of ED(held-out, another held-out) = {one_draw:.3e} "
        f"= {one_draw / floor:.2f} x floor"
    )
    print(f"torchcfm installed: {HAVE_TORCHCFM}\n")

    # ---------------------------------------------------------------- 1. quality vs training
    models = _training_table(ds, ratio, args.quick) if 1 in sections else {}
    if sections & {2, 3}:
        for coupling in ("independent", "ot"):
            if (coupling, 1000) not in models:
                models[coupling, 1000] = _course_run(ds, coupling, 1000)[0]

    # ---------------------------------------------------------------- 2. quality vs NFE
    if 2 in sections:
        _nfe_table(models, ratio)
    if 3 in sections:
        _straightness_table(models, ratio, z)
    if 4 in sections:
        _nll_table(args.quick)
    if 5 in sections:
        _pairing_table()
    print(f"\nED floor {floor:.3e}.")


def _training_table(ds, ratio, quick):
    """Table 1: ED / floor against training steps; returns the course models by (coupling, steps)."""
    models = {}
    tc_steps = 2000 if quick else 8000
    checkpoints = {500, 1000, 2000, 4000, 8000} & set(range(1, tc_steps + 1))
    print("## 1. ED / floor against training (RK4, NFE 20)\n")
    print("| configuration | coupling | steps | CPU train (s) | ED / floor |")
    print("|---|---|---|---|---|")
    label = "torchcfm tutorial" + ("" if HAVE_TORCHCFM else " (re-implemented)")
    for coupling in ("independent", "ot"):
        rows, _ = _torchcfm_run(ds, coupling, tc_steps, checkpoints, lambda m: ratio(m)[0])
        for step, cpu, r in rows:
            print(f"| {label} | {coupling} | {step} | {cpu:.1f} | {r:.2f} |", flush=True)
    course_steps = [250, 500, 1000] if quick else [250, 500, 1000, 2000]
    for coupling in ("independent", "ot"):
        for steps in course_steps:
            model, cpu = _course_run(ds, coupling, steps)
            models[coupling, steps] = model
            print(
                f"| course recipe | {coupling} | {steps} | {cpu:.1f} | {ratio(model)[0]:.2f} |",
                flush=True,
            )
    return models


def _nfe_table(models, ratio):
    print("\n## 2. ED / floor against NFE (course recipe, 1000 steps)\n")
    print("| coupling | solver | setting | NFE | ED / floor |")
    print("|---|---|---|---|---|")
    for coupling in ("independent", "ot"):
        model = models[coupling, 1000]
        for method, per_step in (("euler", 1), ("midpoint", 2), ("heun", 2), ("rk4", 4)):
            for nfe_target in (2, 4, 8, 16, 32, 64):
                steps = max(1, nfe_target // per_step)
                if steps * per_step != nfe_target:
                    continue
                r, nfe = ratio(model, method, steps)
                print(f"| {coupling} | {method} | {steps} steps | {nfe} | {r:.2f} |")
        for tol in (1e-2, 1e-3, 1e-4, 1e-5):
            r, nfe = ratio(model, "dopri5", None, rtol=tol, atol=tol)
            print(f"| {coupling} | dopri5 | tol {tol:g} | {nfe} | {r:.2f} |", flush=True)


def _straightness_table(models, ratio, z):
    print("\n## 3. Independent vs OT coupling (course recipe, 1000 steps)\n")
    print("| coupling | straightness S | Euler 1 step | Euler 2 | Euler 4 | Euler 8 |")
    print("|---|---|---|---|---|---|")
    for coupling in ("independent", "ot"):
        model = models[coupling, 1000]
        traj = fm.sample(model, z[:1000], method="rk4", steps=100, n_times=101)
        s = fm.straightness(traj)
        cells = [f"{ratio(model, 'euler', k)[0]:.2f}" for k in (1, 2, 4, 8)]
        print(f"| {coupling} | {s:.4f} | " + " | ".join(cells) + " |", flush=True)


def _nll_table(quick):
    print("\n## 4. Exact NLL on gaussian_mixture (dopri5, rtol = atol = 1e-5)\n")
    gm = cu.data.get("gaussian_mixture")
    entropy = gm.entropy()
    test = gm.sample(4000, generator=torch.Generator().manual_seed(7))
    print(f"true entropy (Monte Carlo, 200k points): {entropy:.4f} nats\n")
    print("| coupling | steps | CPU train (s) | NLL (nats) | NLL - entropy | NFE |")
    print("|---|---|---|---|---|---|")
    for coupling in ("independent", "ot"):
        for steps in [1000] if quick else [1000, 2000]:
            model, cpu = _course_run(gm, coupling, steps)
            nll = float(-fm.log_prob(model, test, rtol=1e-5, atol=1e-5).mean())
            nfe = cu.ode.last_stats().nfe
            print(
                f"| {coupling} | {steps} | {cpu:.1f} | {nll:.4f} | {nll - entropy:+.4f} | {nfe} |",
                flush=True,
            )


def _torchcfm_pairing(x0, x1):
    """torchcfm's exact ``OTPlanSampler.sample_plan`` (POT's ``ot.emd``, then sampling)."""
    import numpy as np
    import ot

    a, b = ot.unif(x0.shape[0]), ot.unif(x1.shape[0])
    cost = torch.cdist(x0, x1) ** 2
    cost = cost / cost.max()
    plan = ot.emd(a, b, cost.detach().cpu().numpy())
    p = plan.flatten()
    choices = np.random.choice(p.size, p=p / p.sum(), size=x0.shape[0], replace=True)
    i, j = np.divmod(choices, plan.shape[1])
    return x0[i], x1[j]


def _scipy_pairing(x0, x1):
    perm = metrics.optimal_matching(x1, x0)  # scipy's linear_sum_assignment
    return x0[perm], x1


def _pairing_table(rounds=5, n_batches=40):
    import os

    print("\n## 5. Exact OT pairing of a 256-point batch (CPU ms per batch)\n")
    g = torch.Generator().manual_seed(0)
    ds = cu.data.get("two_moons")
    batches = [
        (torch.randn(256, 2, generator=g), ds.sample(256, generator=g)) for _ in range(n_batches)
    ]
    runs = {"course (POT network simplex)": lambda a, b: fm.couple(a, b, "ot")}
    runs["scipy linear_sum_assignment"] = _scipy_pairing
    try:
        import ot  # noqa: F401

        runs["torchcfm OTPlanSampler" + ("" if HAVE_TORCHCFM else " (re-implemented)")] = (
            _torchcfm_pairing
        )
    except ImportError:
        print("(torchcfm's pairing skipped: POT is not installed; pip install pot)\n")
    times = {k: [] for k in runs}
    for _ in range(rounds):
        for name, f in runs.items():
            t0 = time.process_time()
            for x0, x1 in batches:
                f(x0, x1)
            times[name].append((time.process_time() - t0) / n_batches * 1e3)
    print(f"load average {os.getloadavg()[0]:.1f}; {rounds} rounds of {n_batches} batches\n")
    print("| pairing | ms per batch, min-max | median |")
    print("|---|---|---|")
    for name, ts in times.items():
        ts = sorted(ts)
        print(f"| {name} | {ts[0]:.2f}-{ts[-1]:.2f} | {ts[len(ts) // 2]:.2f} |")


if __name__ == "__main__":
    main()
