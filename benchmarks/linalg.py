"""Cost of dense linear algebra and of inverse updates (issue 7, note M §1.2.3 and §1.3.1).

Two tables, each with the best of ``--repeats`` wall times (float64, one torch thread
unless ``--threads`` says otherwise) and the least-squares log-log slope over the sizes:

  1. matmul, solve (one right-hand side), det, SVD (singular values only), versus n;
     the textbook exponent is 3 for all four (M's "2.6" for matmul/solve is not what
     BLAS/LAPACK run); small n give lower slopes because of fixed overheads.
  2. inverse after a rank-k change: fresh ``torch.linalg.inv`` versus
     ``course_utils.linalg.sherman_morrison`` (k = 1) and ``woodbury`` (k = ``--rank``),
     with the largest deviation from the fresh inverse as a correctness check.

Usage: python benchmarks/linalg.py [--sizes 128 256 512 1024] [--repeats 3] [--rank 8]
"""

from __future__ import annotations

import argparse

import numpy as np
import torch

from course_utils.linalg import best_time, sherman_morrison, woodbury


def slope(ns: list[int], ts: list[float]) -> float:
    return float(np.polyfit(np.log(ns), np.log(ts), 1)[0])


def cost_table(sizes: list[int], repeats: int) -> None:
    g = torch.Generator().manual_seed(0)
    ops = {
        "matmul": lambda A, B, b: A @ B,
        "solve": lambda A, B, b: torch.linalg.solve(A, b),
        "det": lambda A, B, b: torch.linalg.det(A),
        "svdvals": lambda A, B, b: torch.linalg.svdvals(A),
    }
    times: dict[str, list[float]] = {k: [] for k in ops}
    for n in sizes:
        A = torch.randn(n, n, generator=g, dtype=torch.float64)
        B = torch.randn(n, n, generator=g, dtype=torch.float64)
        b = torch.randn(n, generator=g, dtype=torch.float64)
        for name, op in ops.items():
            times[name].append(best_time(lambda op=op, A=A, B=B, b=b: op(A, B, b), repeat=repeats))
    print("\nTable 1: best wall time (ms) versus n; slope of log t against log n (textbook: 3)")
    print(f"{'op':8s}" + "".join(f"{n:>11d}" for n in sizes) + "    slope")
    for name, ts in times.items():
        print(
            f"{name:8s}" + "".join(f"{1e3 * t:11.3f}" for t in ts) + f"    {slope(sizes, ts):5.2f}"
        )


def _update_row(n: int, g: torch.Generator, repeats: int, rank: int) -> tuple:
    f64 = torch.float64
    A = torch.randn(n, n, generator=g, dtype=f64) + n**0.5 * torch.eye(n, dtype=f64)
    A_inv = torch.linalg.inv(A)
    u, v = torch.randn(n, generator=g, dtype=f64), torch.randn(n, generator=g, dtype=f64)
    U = torch.randn(n, rank, generator=g, dtype=f64)
    V = torch.randn(rank, n, generator=g, dtype=f64)
    C = torch.eye(rank, dtype=f64)
    t_fresh = best_time(lambda: torch.linalg.inv(A + torch.outer(u, v)), repeat=repeats)
    t_sm = best_time(lambda: sherman_morrison(A_inv, u, v), repeat=repeats)
    t_fresh_k = best_time(lambda: torch.linalg.inv(A + U @ C @ V), repeat=repeats)
    t_wb = best_time(lambda: woodbury(A_inv, U, C, V), repeat=repeats)
    err_sm = (sherman_morrison(A_inv, u, v) - torch.linalg.inv(A + torch.outer(u, v))).abs().max()
    err_wb = (woodbury(A_inv, U, C, V) - torch.linalg.inv(A + U @ C @ V)).abs().max()
    return n, t_fresh, t_sm, t_fresh_k, t_wb, float(max(err_sm, err_wb))


def update_table(sizes: list[int], repeats: int, rank: int) -> None:
    g = torch.Generator().manual_seed(1)
    rows = [_update_row(n, g, repeats, rank) for n in sizes]
    print(f"\nTable 2: inverse after a rank-one / rank-{rank} change, best wall time (ms)")
    print(
        f"{'n':>6s} {'fresh(1)':>10s} {'SM':>10s} {'ratio':>7s} {'fresh(k)':>10s} {'Woodbury':>10s} {'ratio':>7s} {'max|err|':>9s}"
    )
    for n, tf, ts, tfk, tw, err in rows:
        print(
            f"{n:6d} {1e3 * tf:10.3f} {1e3 * ts:10.3f} {tf / ts:7.1f} {1e3 * tfk:10.3f} {1e3 * tw:10.3f} {tfk / tw:7.1f} {err:9.1e}"
        )
    ns = [r[0] for r in rows]
    print(
        f"slopes: fresh {slope(ns, [r[1] for r in rows]):.2f}, Sherman-Morrison "
        f"{slope(ns, [r[2] for r in rows]):.2f}, Woodbury {slope(ns, [r[4] for r in rows]):.2f}"
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sizes", type=int, nargs="+", default=[128, 256, 512, 1024])
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--rank", type=int, default=8)
    parser.add_argument("--threads", type=int, default=1)
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    print(f"torch {torch.__version__}, {args.threads} thread(s), float64, best of {args.repeats}")
    cost_table(args.sizes, args.repeats)
    update_table(args.sizes, args.repeats, args.rank)


if __name__ == "__main__":
    main()
