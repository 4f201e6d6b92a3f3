"""Benchmark: the sample metrics against the plain pairwise-distance passes they need.

    COURSE_THREADS=1 .venv/bin/python benchmarks/metrics.py [--n 4000] [--repeats 3]

``metrics.energy_distance(x, y)`` needs the mean of three distance matrices (x-y, x-x,
y-y). The *plain passes* are those three ``torch.cdist`` calls (the direct formula, as the
metric uses) each followed by ``.mean()``; the *old definition* is what ``metrics`` did
before (distances squared, then square-rooted again, in row blocks). Prints the CPU time
(process time, one torch thread) of each, min-max over the repeats, interleaved so that a
change of machine load hits all of them alike, and the ratios. The target is
``energy_distance / plain passes <= 1.2``. ``mmd2`` is timed the same way against the
plain passes plus the Gaussian kernel.
"""

from __future__ import annotations

import argparse
import os
import time

import torch

from course_utils import metrics

DIRECT = "donot_use_mm_for_euclid_dist"


def plain_ed(x, y):
    return sum(
        float(torch.cdist(a, b, compute_mode=DIRECT).mean()) for a, b in ((x, y), (x, x), (y, y))
    )


def plain_mmd(x, y, h=1.0):
    return sum(
        float(torch.exp(-(torch.cdist(a, b, compute_mode=DIRECT) ** 2) / (2 * h * h)).mean())
        for a, b in ((x, y), (x, x), (y, y))
    )


def old_ed(x, y):
    # the definition before issue 25: 1024-row blocks of squared distances, then sqrt
    def mean(a, b):
        total = 0.0
        for s in range(0, a.shape[0], 1024):
            total += float(
                torch.sqrt(torch.cdist(a[s : s + 1024], b, compute_mode=DIRECT) ** 2).sum()
            )
        return total / (a.shape[0] * b.shape[0])

    return 2 * mean(x, y) - mean(x, x) - mean(y, y)


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--n", type=int, default=4000, help="points per cloud")
    parser.add_argument("--repeats", type=int, default=3)
    args = parser.parse_args()
    torch.set_num_threads(1)
    g = torch.Generator().manual_seed(0)
    x = torch.randn(args.n, 2, generator=g, dtype=torch.float64)
    y = torch.randn(args.n, 2, generator=g, dtype=torch.float64) + 0.1
    runs = {
        "plain passes (3 x cdist + mean)": lambda: plain_ed(x, y),
        "old energy_distance": lambda: old_ed(x, y),
        "metrics.energy_distance": lambda: metrics.energy_distance(x, y),
        "plain passes + Gaussian kernel": lambda: plain_mmd(x, y),
        "metrics.mmd2": lambda: metrics.mmd2(x, y, unbiased=False),
    }
    times = {k: [] for k in runs}
    for _ in range(args.repeats):
        for name, f in runs.items():
            t0 = time.process_time()
            f()
            times[name].append(time.process_time() - t0)
    load = os.getloadavg()[0] if hasattr(os, "getloadavg") else float("nan")
    print(f"{args.n} x {args.n} points in 2-D, float64, 1 thread; load average {load:.1f}\n")
    print("| computation | CPU time (s), min-max | / plain passes (min) |")
    print("|---|---|---|")
    for name, ts in times.items():
        base = (
            "plain passes + Gaussian kernel"
            if "mmd" in name or "kernel" in name
            else ("plain passes (3 x cdist + mean)")
        )
        ratio = min(ts) / min(times[base])
        print(f"| {name} | {min(ts):.3f}-{max(ts):.3f} | {ratio:.2f} |")
    ed, ref = metrics.energy_distance(x, y), old_ed(x, y)
    print(
        f"\nenergy distance {ed:.12e}, old definition {ref:.12e}, rel. diff {abs(ed - ref) / ref:.1e}"
    )


if __name__ == "__main__":
    main()
