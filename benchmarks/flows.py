"""Benchmark: held-out NLL against training time for the course's RealNVP (CPU, one thread).

    COURSE_THREADS=1 .venv/bin/python benchmarks/flows.py [--quick]

Data: ``cu.data.get("gaussian_mixture")``, which has an exact density, so the table can
print the true entropy H(p) (the lowest NLL any model can reach) and the NLL of the true
density on the same held-out points (which differs from H(p) by Monte Carlo noise only);
``NLL - true NLL`` on the same points estimates KL(p || model).

Models: ``cu.flows.realnvp`` in two sizes, trained with ``cu.flows.train_flow`` (Adam,
lr 1e-2 with a cosine schedule, gradient-norm clip 1, batch 256) on 20 000 training
points, for several step budgets. If ``zuko`` is installed, zuko's RealNVP and NSF get the
same data, steps, batch size and optimiser, side by side; otherwise that table is skipped
(zuko is not a course dependency).

Times are CPU process times of the training call (one torch thread, so they do not grow
when other processes share the machine); they include the held-out evaluations that
``train_flow`` makes on 500 points every tenth of the run.

Measured (2-core CPU shared with other jobs, so CPU times are inflated and noisy; zuko not
installed). Entropy H(p) = 2.4547 nats; true density on the 20 000 held-out points 2.4524:

| model | steps | CPU s | held-out NLL (nats) | NLL - true NLL (KL est.) |
|---|---:|---:|---:|---:|
| course RealNVP 6 x 32 | 250 | 4.6 | 2.5619 | 0.1094 |
| course RealNVP 6 x 32 | 500 | 4.5 | 2.5072 | 0.0548 |
| course RealNVP 6 x 32 | 1000 | 10.0 | 2.4830 | 0.0305 |
| course RealNVP 6 x 32 | 2000 | 20.1 | 2.4782 | 0.0258 |
| course RealNVP 6 x 32 | 4000 | 32.9 | 2.4732 | 0.0207 |
| course RealNVP 8 x 64 | 250 | 3.2 | 2.5348 | 0.0824 |
| course RealNVP 8 x 64 | 500 | 4.7 | 2.5028 | 0.0503 |
| course RealNVP 8 x 64 | 1000 | 13.1 | 2.4899 | 0.0374 |
| course RealNVP 8 x 64 | 2000 | 27.7 | 2.4773 | 0.0249 |
| course RealNVP 8 x 64 | 4000 | 50.9 | 2.4708 | 0.0183 |

Closing note: the KL estimate halves from 250 to 1000 steps and then creeps down slowly;
the lecture's 600-step, 6 x 32 budget sits at about 0.05-0.07 nats above the best
possible, and a few thousand steps of the larger model reach about 0.02.
"""

from __future__ import annotations

import argparse
import time

import torch

import course_utils as cu
from course_utils import flows

try:
    import zuko  # noqa: F401

    HAVE_ZUKO = True
except ImportError:
    HAVE_ZUKO = False


def _data(n_train: int, n_val: int):
    mix = cu.data.get("gaussian_mixture")
    g = torch.Generator().manual_seed(2024)
    x_train, x_val = mix.sample(n_train, generator=g), mix.sample(n_val, generator=g)
    true_nll = float(-mix.log_prob(x_val.double()).mean())
    return mix, x_train, x_val, true_nll


def _course(layers: int, hidden: int, steps: int, x_train, x_val):
    torch.manual_seed(0)
    flow = flows.realnvp(2, n_layers=layers, hidden=hidden)
    t0 = time.process_time()
    flows.train_flow(
        flow, x_train, x_val[:500], steps=steps, print_every=None,
        generator=torch.Generator().manual_seed(0),
    )  # fmt: skip
    cpu = time.process_time() - t0
    return flows.nll(flow, x_val), cpu


def _zuko(kind: str, steps: int, x_train, x_val):
    import zuko

    torch.manual_seed(0)
    if kind == "RealNVP":
        model = zuko.flows.RealNVP(features=2, transforms=6, hidden_features=(32, 32))
    else:
        model = zuko.flows.NSF(features=2, transforms=3, hidden_features=(32, 32))
    opt = torch.optim.Adam(model.parameters(), lr=1e-2)
    sched = torch.optim.lr_scheduler.CosineAnnealingLR(opt, steps)
    g = torch.Generator().manual_seed(0)
    t0 = time.process_time()
    for _ in range(steps):
        idx = torch.randint(0, x_train.shape[0], (256,), generator=g)
        loss = -model().log_prob(x_train[idx]).mean()
        opt.zero_grad()
        loss.backward()
        torch.nn.utils.clip_grad_norm_(model.parameters(), 1.0)
        opt.step()
        sched.step()
    cpu = time.process_time() - t0
    with torch.no_grad():
        nll = float(-model().log_prob(x_val).mean())
    return nll, cpu


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="fewer step budgets")
    args = parser.parse_args()
    cu.setup(0, threads=1)
    budgets = [250, 500, 1000] if args.quick else [250, 500, 1000, 2000, 4000]
    mix, x_train, x_val, true_nll = _data(20_000, 20_000)
    entropy = mix.entropy()
    print(f"\nGaussian mixture: entropy H(p) = {entropy:.4f} nats; true density on the "
          f"{x_val.shape[0]} held-out points: {true_nll:.4f} nats\n")  # fmt: skip
    print("| model | steps | CPU s | held-out NLL (nats) | NLL - true NLL (KL est.) |")
    print("|---|---:|---:|---:|---:|")
    for layers, hidden in ((6, 32), (8, 64)):
        for steps in budgets:
            nll, cpu = _course(layers, hidden, steps, x_train, x_val)
            print(f"| course RealNVP {layers} x {hidden} | {steps} | {cpu:.1f} | {nll:.4f} | "
                  f"{nll - true_nll:.4f} |", flush=True)  # fmt: skip
    if not HAVE_ZUKO:
        print("\nzuko is not installed: the zuko RealNVP / NSF comparison was skipped.")
        return
    print("\n| zuko model | steps | CPU s | held-out NLL (nats) | NLL - true NLL |")
    print("|---|---:|---:|---:|---:|")
    for kind in ("RealNVP", "NSF"):
        for steps in budgets:
            nll, cpu = _zuko(kind, steps, x_train, x_val)
            print(f"| zuko {kind} | {steps} | {cpu:.1f} | {nll:.4f} | {nll - true_nll:.4f} |",
                  flush=True)  # fmt: skip


if __name__ == "__main__":
    main()
