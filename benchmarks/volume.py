"""Full Jacobian versus batched JVPs for the reverse Euler map (issue 11, note G §2.4).

For a field whose width grows with d (3-layer MLP of width 2d with a time input), 20 Euler
steps and one data point, time m = 16 sphere directions J_phi(x) u_i computed

  full Jacobian: (a) augmented Jacobian recursion (course_utils.volume),
                 (b) torch.func.jacrev and (c) jacfwd through the Euler map, then J @ U;
  JVPs:          (d) augmented JVP recursion, batched over directions (course_utils.volume),
                 (e) torch.func.jvp through the Euler map under vmap.

Prints the best of ``--repeats`` wall times and the ratio best-full / best-JVP next to d/m.
Usage: python benchmarks/volume.py [--dims 2 16 64 256 512 1024] [--repeats 3]
"""

from __future__ import annotations

import argparse
import time

import torch
from torch.func import jacfwd, jacrev

from course_utils import volume as vol


def make_field(d: int, seed: int = 0):
    torch.manual_seed(seed)
    w = 2 * d
    net = torch.nn.Sequential(
        torch.nn.Linear(d + 1, w),
        torch.nn.SiLU(),
        torch.nn.Linear(w, w),
        torch.nn.SiLU(),
        torch.nn.Linear(w, d),
    ).requires_grad_(False)

    def v(t, x):
        return net(torch.cat([x, t.to(x.dtype).expand(x.shape[0], 1)], 1))

    return v


def best_time(fn, repeats: int) -> tuple[float, torch.Tensor]:
    out, best = None, float("inf")
    for _ in range(repeats):
        t0 = time.perf_counter()
        out = fn()
        best = min(best, time.perf_counter() - t0)
    return best, out


def _row(d: int, args) -> str:
    v = make_field(d)
    g = torch.Generator().manual_seed(1)
    x = torch.randn(d, generator=g)
    u = vol.sample_sphere(args.m, d, generator=g, dtype=torch.float32)
    phi = lambda y: vol.reverse_map(v, y[None], args.steps)[0]
    t_aug, (_, jac) = best_time(
        lambda: vol.reverse_map_with_jacobian(v, x[None], args.steps), args.repeats
    )
    t_rev, jac_r = best_time(lambda: jacrev(phi)(x), args.repeats)
    t_fwd, _ = best_time(lambda: jacfwd(phi)(x), args.repeats)
    t_jvp, (_, s) = best_time(lambda: vol.reverse_map_jvp(v, x, u, args.steps), args.repeats)
    t_fjvp, (_, s2) = best_time(
        lambda: vol.reverse_map_jvp_autodiff(v, x, u, args.steps), args.repeats
    )
    ref = u @ jac[0].T
    diff = max(
        float((s - ref).abs().max()),
        float((s2 - ref).abs().max()),
        float((u @ jac_r.T - ref).abs().max()),
    )
    ratio = min(t_aug, t_rev, t_fwd) / min(t_jvp, t_fjvp)
    return (
        f"{d:>5} {t_aug:8.4f} {t_rev:8.4f} {t_fwd:8.4f} {t_jvp:8.4f} {t_fjvp:8.4f} "
        f"{ratio:8.1f}x {d / args.m:6.1f} {diff:10.2e}"
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--dims", type=int, nargs="+", default=[2, 16, 64, 256, 512, 1024])
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--steps", type=int, default=20)
    parser.add_argument("--m", type=int, default=16)
    args = parser.parse_args()
    torch.set_num_threads(max(1, torch.get_num_threads()))
    print(
        f"torch {torch.__version__}, threads {torch.get_num_threads()}, "
        f"{args.steps} Euler steps, m = {args.m} directions, float32, best of {args.repeats}"
    )
    header = (
        f"{'d':>5} {'aug-J':>8} {'jacrev':>8} {'jacfwd':>8} {'aug-JVP':>8} "
        f"{'func.jvp':>8} {'full/JVP':>9} {'d/m':>6} {'max|diff|':>10}"
    )
    print(header)
    print("-" * len(header))
    for d in args.dims:
        print(_row(d, args), flush=True)
    print("times in seconds; full/JVP = best full-Jacobian route over best JVP route")


if __name__ == "__main__":
    main()
