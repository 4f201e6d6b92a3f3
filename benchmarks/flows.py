"""Benchmark: course flows against zuko's at equal training time (CPU, one thread).

    COURSE_THREADS=1 .venv/bin/python benchmarks/flows.py [--seconds 8] [--seeds 3] [--quick]
    COURSE_THREADS=1 .venv/bin/python benchmarks/flows.py --ablate [--seconds 4]

DOCSTRING_TABLES
"""

from __future__ import annotations

import argparse
import math
import os
import statistics
import time

import torch
from torch import nn

import course_utils as cu
from course_utils import flows, splines

try:
    import zuko

    HAVE_ZUKO, WHY = True, ""
except ImportError as exc:
    HAVE_ZUKO, WHY = False, f"zuko is not installed ({exc}); pip install zuko"

N_TRAIN, N_VAL = 20_000, 100_000


def _data(name):
    mix = cu.data.get(name)
    g = torch.Generator().manual_seed(2024)
    x_train, x_val = mix.sample(N_TRAIN, generator=g), mix.sample(N_VAL, generator=g)
    return x_train, x_val, -mix.log_prob(x_val.double())


def _realnvp(**kw):
    # the course's RealNVP at zuko's width: 6 couplings, 2 x 32 conditioners, the
    # package's defaults unless an ablation overrides one of them
    scale_data = kw.pop("scale_data", True)
    zero_init = kw.pop("zero_init", True)
    even = torch.tensor([1.0, 0.0])
    layers: list[flows.Bijection] = [
        flows.AffineCoupling(even if k % 2 == 0 else 1 - even, 32, 2, zero_init=zero_init, **kw)
        for k in range(6)
    ]
    if scale_data:
        layers.append(flows.ElementwiseAffine(torch.ones(2), torch.zeros(2), trainable=True))
    return flows.Flow(flows.Compose(*layers))


MODELS = {
    "zuko RealNVP": lambda: zuko.flows.RealNVP(features=2, transforms=6, hidden_features=(32, 32)),
    "course RealNVP (defaults)": lambda: flows.realnvp(2, n_layers=6, hidden=32),
    "zuko NSF": lambda: zuko.flows.NSF(features=2, transforms=3, hidden_features=(32, 32)),
    "course spline flow": lambda: splines.neural_spline_flow(2, n_layers=4, bins=16, hidden=32),
}

# one factor at a time
ZUKO_BOUND = math.log(1e3)  # zuko's soft clip of the log-scale: bound log(1 / slope)
ABLATIONS = {
    "course RealNVP (defaults: ReLU, tanh 3)": {},
    "activation SiLU (the old default)": {"activation": nn.SiLU},
    "SiLU and clamp soft 6.9": {"activation": nn.SiLU, "clamp": "soft", "bound": ZUKO_BOUND},
    "clamp soft 6.9 (zuko's)": {"clamp": "soft", "bound": ZUKO_BOUND},
    "no final ElementwiseAffine": {"scale_data": False},
    "random init of the last layer": {"zero_init": False},
    "both (zuko's layout)": {"scale_data": False, "zero_init": False},
}


def _log_prob(model, x):
    return model.log_prob(x) if isinstance(model, flows.Flow) else model().log_prob(x)


def _train(make, x_train, seconds, seed, lr=1e-2):
    """Train for exactly ``seconds`` of this process's CPU time; returns the model and steps.

    The learning rate follows a cosine of the *elapsed CPU time* (``lr * (1 + cos(pi u)) / 2``
    with ``u`` the fraction of the budget used, checked every step), so every model gets the
    same budget to within one step and finishes its schedule at the budget, however much
    a step costs it and whatever the machine's load does meanwhile.
    """
    torch.manual_seed(seed)
    model = make()
    opt = torch.optim.Adam(model.parameters(), lr=lr)
    g = torch.Generator().manual_seed(seed)
    t0 = time.process_time()
    steps, used = 0, 0.0
    while used < seconds:
        for group in opt.param_groups:
            group["lr"] = lr * 0.5 * (1 + math.cos(math.pi * used / seconds))
        idx = torch.randint(0, x_train.shape[0], (256,), generator=g)
        loss = -_log_prob(model, x_train[idx]).mean()
        opt.zero_grad()
        loss.backward()
        torch.nn.utils.clip_grad_norm_(model.parameters(), 1.0)
        opt.step()
        steps += 1
        used = time.process_time() - t0
    return model, steps, used


def _kl(model, x_val, true_nll):
    # KL(p || model) estimate on the held-out points and its standard error (nats)
    with torch.no_grad():
        gap = -_log_prob(model, x_val).double() - true_nll
    return float(gap.mean()), float(gap.std() / math.sqrt(gap.shape[0]))


def _warm_up(makes, x_train):
    # one-off costs (first calls of each kernel) are paid here, outside every budget
    for make in makes:
        _train(make, x_train, 0.3, seed=99)


def _fmt(values, digits=3):
    lo, med, hi = min(values), statistics.median(values), max(values)
    return f"{med:.{digits}f} ({lo:.{digits}f}-{hi:.{digits}f})"


def run(labels, makes, refs, data_names, seconds, seeds):
    print("| data | model | steps | KL est. median (range), nats | s.e. | / zuko's median |")
    print("|---|---|---:|---:|---:|---:|")
    for name in data_names:
        x_train, x_val, true_nll = _data(name)
        _warm_up([makes[label] for label in labels], x_train)
        steps = {label: [] for label in labels}
        kls = {label: [] for label in labels}
        ses = {label: [] for label in labels}
        # seeds outermost: the models take turns, so a change of the machine's load during
        # the run falls on all of them alike
        for seed in range(seeds):
            for label in labels:
                model, n, _ = _train(makes[label], x_train, seconds, seed)
                k, s = _kl(model, x_val, true_nll)
                steps[label].append(n), kls[label].append(k), ses[label].append(s)
        for label in labels:
            kl, ref = kls[label], refs.get(label)
            if ref in kls and ref != label:
                zmed = statistics.median(kls[ref])
                rel = f"{statistics.median(kl) / zmed:.2f} ({min(kl) / zmed:.2f}-{max(kl) / zmed:.2f})"
            else:
                rel = "1" if label == ref else "-"
            print(
                f"| {name} | {label} | {min(steps[label])}-{max(steps[label])} | {_fmt(kl, 4)} | "
                f"{statistics.median(ses[label]):.4f} | {rel} |",
                flush=True,
            )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seconds", type=float, default=None, help="CPU budget per model")
    parser.add_argument("--seeds", type=int, default=3, help="seeds per model (init, batches)")
    parser.add_argument("--quick", action="store_true", help="3 s per model, 2 seeds")
    parser.add_argument("--ablate", action="store_true", help="the RealNVP ablation table")
    parser.add_argument("--data", default="eight_gaussians,gaussian_mixture")
    args = parser.parse_args()
    cu.setup(0, threads=1, verbose=False)
    torch.set_num_threads(1)
    seconds = args.seconds or (4.0 if args.ablate else 8.0)
    seeds = args.seeds
    if args.quick:
        seconds, seeds = 3.0, 2
    print(f"load average {os.getloadavg()[0]:.1f}; {seconds:g} s of CPU per model, {seeds} seeds")
    if not HAVE_ZUKO:
        print(f"zuko rows skipped: {WHY}")
    makes = dict(MODELS)
    if args.ablate:
        for label, kw in ABLATIONS.items():
            makes[label] = lambda kw=kw: _realnvp(**kw)
        labels = ["zuko RealNVP", *ABLATIONS]
        refs = {label: "zuko RealNVP" for label in labels}
    else:
        labels = list(MODELS)
        refs = {
            label: "zuko NSF" if "spline" in label or "NSF" in label else "zuko RealNVP"
            for label in labels
        }
    if not HAVE_ZUKO:
        labels = [label for label in labels if "zuko" not in label]
    run(labels, makes, refs, args.data.split(","), seconds, seeds)
    print(f"load average at the end {os.getloadavg()[0]:.1f}")


if __name__ == "__main__":
    main()
