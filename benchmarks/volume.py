"""Full Jacobian versus batched JVPs for the reverse Euler map (issue 11, note G §2.4).

For a field whose width grows with d (``VelocityMLP(d, hidden=2d, n_hidden=2, n_freq=0)``:
a 3-layer SiLU MLP of width 2d with t as an extra input), 20 Euler steps and one data point,
time m = 16 sphere directions J_phi(x) u_i computed

  full Jacobian: (a) augmented Jacobian recursion (course_utils.volume),
                 (b) torch.func.jacrev and (c) jacfwd through the Euler map, then J @ U,
                 (d) d JVPs through the hand-written MLP JVP (the JVP route with U = I);
  JVPs:          (e) augmented JVP recursion with the field's hand-written JVP (route "field"),
                 (f) augmented JVP recursion with torch.func.jvp under vmap (route "autodiff"),
                 (g) torch.func.jvp through the whole Euler map under vmap.

Two ratios are printed next to d/m: ``func/JVP`` = best torch.func full Jacobian (a-c) over
best JVP route (e-g), the comparison the issue's reference figures use; ``same-kernel`` =
(d) over (e), full Jacobian and JVPs through the same hand-written kernel.

A second table (``--batch-dim``) batches B data points with m directions each: the JVP
products then have B(m+1) rows instead of m+1, so they stop being memory-bound and the
ratio moves towards d/m.

Usage: python benchmarks/volume.py [--dims 2 16 64 256 512 1024] [--repeats 3]
                                   [--batch-dim 256] [--batches 1 4 16 64]
"""

from __future__ import annotations

import argparse
import time

import torch
from torch.func import jacfwd, jacrev, vmap

from course_utils import volume as vol
from course_utils.flow_matching import VelocityMLP


def make_field(d: int, seed: int = 0) -> VelocityMLP:
    torch.manual_seed(seed)
    return VelocityMLP(d, hidden=2 * d, n_hidden=2, n_freq=0).float().requires_grad_(False)


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
    eye = torch.eye(d)
    t_aug, (_, jac) = best_time(
        lambda: vol.reverse_map_with_jacobian(v, x[None], args.steps), args.repeats
    )
    t_rev, jac_r = best_time(lambda: jacrev(phi)(x), args.repeats)
    t_fwd, _ = best_time(lambda: jacfwd(phi)(x), args.repeats)
    t_hand_j, (_, jac_t) = best_time(
        lambda: vol.reverse_map_jvp(v, x, eye, args.steps, route="field"), args.repeats
    )
    t_hand, (_, s) = best_time(
        lambda: vol.reverse_map_jvp(v, x, u, args.steps, route="field"), args.repeats
    )
    t_auto, (_, s1) = best_time(
        lambda: vol.reverse_map_jvp(v, x, u, args.steps, route="autodiff"), args.repeats
    )
    t_fjvp, (_, s2) = best_time(
        lambda: vol.reverse_map_jvp_autodiff(v, x, u, args.steps), args.repeats
    )
    ref = u @ jac[0].T
    diff = max(float((a - ref).abs().max()) for a in (s, s1, s2, u @ jac_r.T, u @ jac_t))
    ratio = min(t_aug, t_rev, t_fwd) / min(t_hand, t_auto, t_fjvp)
    same = t_hand_j / t_hand
    times = " ".join(f"{t:8.4f}" for t in (t_aug, t_rev, t_fwd, t_hand_j, t_hand, t_auto, t_fjvp))
    return f"{d:>5} {times} {ratio:8.1f}x {same:10.1f}x {d / args.m:6.1f} {diff:9.1e}"


def _batch_row(d: int, b: int, args) -> str:
    v = make_field(d)
    g = torch.Generator().manual_seed(2)
    x = torch.randn(b, d, generator=g)
    u = vol.sample_sphere(b * args.m, d, generator=g, dtype=torch.float32).reshape(b, args.m, d)
    phi = lambda y: vol.reverse_map(v, y[None], args.steps)[0]
    t_aug, (_, jac) = best_time(
        lambda: vol.reverse_map_with_jacobian(v, x, args.steps), args.repeats
    )
    t_rev, _ = best_time(lambda: vmap(jacrev(phi))(x), args.repeats)
    t_hand, (_, s) = best_time(
        lambda: vol.reverse_map_jvp(v, x, u, args.steps, route="field"), args.repeats
    )
    t_auto, (_, s1) = best_time(
        lambda: vol.reverse_map_jvp(v, x, u, args.steps, route="autodiff"), args.repeats
    )
    ref = torch.einsum("bij,bmj->bmi", jac, u)
    diff = max(float((a - ref).abs().max()) for a in (s, s1))
    ratio = min(t_aug, t_rev) / min(t_hand, t_auto)
    times = " ".join(f"{t:8.4f}" for t in (t_aug, t_rev, t_hand, t_auto))
    return f"{b:>5} {times} {ratio:8.1f}x {d / args.m:6.1f} {diff:9.1e}"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--dims", type=int, nargs="+", default=[2, 16, 64, 256, 512, 1024])
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--steps", type=int, default=20)
    parser.add_argument("--m", type=int, default=16)
    parser.add_argument(
        "--batch-dim", type=int, default=256, help="d of the batched table (0: skip)"
    )
    parser.add_argument("--batches", type=int, nargs="+", default=[1, 4, 16, 64])
    args = parser.parse_args()
    for name in ("repeats", "steps", "m"):
        if getattr(args, name) < 1:
            parser.error(f"--{name} must be >= 1")
    if min(args.dims + args.batches) < 1 or args.batch_dim < 0:
        parser.error("dimensions and batch sizes must be positive")
    torch.set_num_threads(max(1, torch.get_num_threads()))
    print(
        f"torch {torch.__version__}, threads {torch.get_num_threads()}, "
        f"{args.steps} Euler steps, m = {args.m} directions, float32, best of {args.repeats}"
    )
    header = (
        f"{'d':>5} {'aug-J':>8} {'jacrev':>8} {'jacfwd':>8} {'hand-J':>8} {'hand-JVP':>8} "
        f"{'aut-JVP':>8} {'func.jvp':>8} {'func/JVP':>9} {'same-kernel':>11} {'d/m':>6} "
        f"{'max|diff|':>9}"
    )
    print(header)
    print("-" * len(header))
    for d in args.dims:
        print(_row(d, args), flush=True)
    print(
        "times in seconds; func/JVP = best torch.func full Jacobian (aug-J, jacrev, jacfwd) over "
        "best JVP route;\nsame-kernel = hand-J (d JVPs) over hand-JVP (m JVPs), both through "
        "the hand-written MLP JVP"
    )
    if args.batch_dim:
        d = args.batch_dim
        print(f"\nB data points, m = {args.m} directions each, d = {d}")
        header = (
            f"{'B':>5} {'aug-J':>8} {'jacrev':>8} {'hand-JVP':>8} {'aut-JVP':>8} "
            f"{'full/JVP':>9} {'d/m':>6} {'max|diff|':>9}"
        )
        print(header)
        print("-" * len(header))
        for b in args.batches:
            print(_batch_row(d, b, args), flush=True)


if __name__ == "__main__":
    main()
