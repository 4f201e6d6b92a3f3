"""Benchmark of topic 10: density models of the 8x8 digits in 64 dimensions, CPU.

    COURSE_THREADS=1 .venv/bin/python benchmarks/digits.py [--checkpoints] [--quick]

Trains each model with ``benchmarks/train_digits.py``'s recipes (CPU only: the models
are small; the lecture's last section says what changes on a GPU) or, with
``--checkpoints``, evaluates the committed checkpoints, and prints markdown tables:

1. results: test bits/dim (fixed test dequantization), training time, sampling NFE for
   the full-covariance Gaussian, RealNVP and flow matching read as a CNF;
2. the CNF likelihood at d = 64 with the exact divergence (64 backward passes per
   evaluation) against Hutchinson's estimator (1 probe): value, standard error, time;
3. solvers for flow-matching samples: NFE against the energy distance to the test images;
4. classifier-free guidance: accuracy of the intended class (logistic regression on real
   digits) and within-class diversity against the guidance scale;
5. memorisation: distance of samples to their nearest training image, against the same
   for test images;
6. volume metrics (G, notebook 08) of the flow-matching reverse map around test digits,
   the Jacobian's singular values, and full-Jacobian against JVP timing.

Times are wall-clock seconds with one torch thread on a shared machine.
"""

from __future__ import annotations

import argparse
import copy
import sys
import time
from pathlib import Path

import torch

sys.path.insert(0, str(Path(__file__).resolve().parent))

import train_digits as T  # noqa: E402

import course_utils as cu  # noqa: E402
from course_utils import digits as D  # noqa: E402
from course_utils import flow_matching as fm  # noqa: E402
from course_utils import volume  # noqa: E402


def _timed(fn):
    start = time.perf_counter()
    out = fn()
    return out, time.perf_counter() - start


def main(argv=None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--checkpoints", action="store_true", help="evaluate the saved models")
    parser.add_argument("--quick", action="store_true", help="10x fewer training steps")
    args = parser.parse_args(argv)
    torch.set_num_threads(1)
    data = D.load(seed=T.SEED)
    y_test, ld_test = T.test_points(data)
    scale = 10 if args.quick else 1

    # ------------------------------------------------------------------ models
    y_train = D.preprocess(data.train_images, T.ALPHA, generator=torch.Generator().manual_seed(0))[
        0
    ]
    (mean, cov), g_wall = _timed(lambda: D.fit_gaussian(y_train.double()))
    g_bpd = D.bits_per_dim(D.gaussian_log_prob(y_test.double(), mean, cov) + ld_test.double())
    if args.checkpoints:
        flow, prov_r = D.load_checkpoint("realnvp")
        field, prov_f = D.load_checkpoint("fm")
        cond, prov_c = D.load_checkpoint("cfm")
        r_wall, f_wall, c_wall = (p["wall_seconds"] for p in (prov_r, prov_f, prov_c))
        r_cpu, f_cpu = prov_r["cpu_seconds"], prov_f["cpu_seconds"]
    else:
        flow, r_wall, r_cpu = T.train_realnvp(data, T.STEPS["realnvp"] // scale)
        field, f_wall, f_cpu = T.train_fm(data, T.STEPS["fm"] // scale)
        cond, c_wall, _ = T.train_cfm(data, T.STEPS["cfm"] // scale)
    r_bpd = T.realnvp_bpd(flow, y_test, ld_test)
    (f_bpd, f_nfe), f_eval = _timed(lambda: T.fm_bpd(field, y_test, ld_test))
    dp = cu.cnf.CNF(field, 64, estimator="exact", method="dopri5", rtol=1e-5, atol=1e-5)
    with torch.no_grad():
        lp, dp_s = _timed(lambda: dp.log_prob(y_test))
    dp_bpd, dp_nfe = D.bits_per_dim(lp + ld_test), dp.last_nfe

    print("## 1. Results (test set: 360 images, one fixed dequantization)\n")
    print("| model | test bits/dim | training wall s | training CPU s | sampling NFE |")
    print("|---|---|---|---|---|")
    print(f"| Gaussian, full covariance (closed form) | {g_bpd:.3f} | {g_wall:.3f} | - | 1 |")
    print(f"| RealNVP (6 couplings) | {r_bpd:.3f} | {r_wall:.0f} | {r_cpu:.0f} | 1 |")
    print(
        f"| flow matching as a CNF (exact div, RK4 x10) | {f_bpd:.3f} | {f_wall:.0f} | "
        f"{f_cpu:.0f} | 20 (RK4 x5) |"
    )
    print(
        f"\nCNF likelihood: RK4 x10 (NFE {f_nfe}) {f_bpd:.4f} bits/dim in {f_eval:.1f} s; "
        f"dopri5 rtol 1e-5 (NFE {dp_nfe}) {dp_bpd:.4f} in {dp_s:.1f} s"
    )
    print(f"class-conditional field: trained in {c_wall:.0f} s\n")

    # ------------------------------------------------------------------ Hutchinson at d = 64
    print("## 2. Exact divergence against Hutchinson at d = 64 (100 test images, RK4 x10)\n")
    zs, lds = y_test[:100], ld_test[:100]
    exact = cu.cnf.CNF(field, 64, estimator="exact", method="rk4", step_size=0.1)
    with torch.no_grad():
        lp_e, t_e = _timed(lambda: exact.log_prob(zs))
    print("| estimator | bits/dim | standard error | seconds per solve |")
    print("|---|---|---|---|")
    print(
        f"| exact (64 VJPs per evaluation) | {D.bits_per_dim(lp_e + lds):.4f} | 0 (exact) | {t_e:.2f} |"
    )
    for probe in ("rademacher", "gaussian"):
        hut = cu.cnf.CNF(
            field, 64, estimator="hutchinson", probe=probe, method="rk4", step_size=0.1
        )
        g = torch.Generator().manual_seed(0)
        reps, times = [], []
        for _ in range(5):
            with torch.no_grad():
                lp_h, t_h = _timed(lambda hut=hut, g=g: hut.log_prob(zs, generator=g))
            reps.append(lp_h)
            times.append(t_h)
        lp_h = torch.stack(reps)  # (5, 100)
        err = (lp_h - lp_e) / (64 * 0.6931471805599453)  # per image and repeat, bits/dim
        se = float(err.std() / err.numel() ** 0.5)
        print(
            f"| Hutchinson, 1 {probe} probe (5 solves) | {D.bits_per_dim(lp_h.reshape(-1) + lds.repeat(5)):.4f} | "
            f"{se:.4f} (per image {float(err.std()):.3f}) | {sum(times) / 5:.2f} |"
        )
    print()

    # ------------------------------------------------------------------ solvers
    print("## 3. Flow-matching samples: solver, NFE and energy distance to the test images\n")
    test_px = data.test_images.double()
    floor = cu.metrics.energy_distance_floor(data.train_images.double(), 360, 360)
    print(f"floor (two independent samples of 360 from the data law): {floor:.2f}\n")
    print("| solver | steps | NFE | energy distance | seconds |")
    print("|---|---|---|---|---|")
    z0 = torch.randn(360, 64, generator=torch.Generator().manual_seed(11))
    for method, steps in (
        ("euler", 5),
        ("euler", 20),
        ("midpoint", 5),
        ("rk4", 5),
        ("rk4", 20),
        ("dopri5", None),
    ):
        x1, sec = _timed(lambda m=method, s=steps: fm.sample(field, z0, method=m, steps=s))
        nfe = cu.ode.last_stats().nfe
        px = D.quantize(D.inverse_logit_transform(x1)).double()
        print(
            f"| {method} | {steps or 'adaptive'} | {nfe} | {cu.metrics.energy_distance(px, test_px):.2f} | {sec:.2f} |"
        )
    ed_train = cu.metrics.energy_distance(data.train_images[:360].double(), test_px)
    print(f"| 360 training images (reference) | - | - | {ed_train:.2f} | - |")
    with torch.no_grad():
        r_px = D.quantize(
            D.inverse_logit_transform(flow.sample(360, torch.Generator().manual_seed(11)))
        ).double()
    g_z = torch.distributions.MultivariateNormal(mean, cov).sample((360,)).float()
    g_px = D.quantize(D.inverse_logit_transform(g_z)).double()
    print(f"| RealNVP samples | - | 1 | {cu.metrics.energy_distance(r_px, test_px):.2f} | - |")
    print(f"| Gaussian samples | - | 1 | {cu.metrics.energy_distance(g_px, test_px):.2f} | - |\n")

    # ------------------------------------------------------------------ guidance
    print("## 4. Classifier-free guidance (500 samples, 50 per class, RK4 x10)\n")
    clf = D.DigitClassifier(data.train_images, data.train_labels)
    print(
        f"logistic regression: test accuracy on real digits {clf.accuracy(data.test_images, data.test_labels):.3f}"
    )
    y = torch.arange(10).repeat_interleave(50)
    real = data.train_images.double()
    real_div = sum(float(torch.pdist(real[data.train_labels == c]).mean()) for c in range(10)) / 10
    print(
        f"within-class mean pairwise distance of real training digits: {real_div:.2f} grey levels\n"
    )
    print("| guidance scale w | intended-class accuracy | within-class diversity |")
    print("|---|---|---|")
    z0 = torch.randn(500, 64, generator=torch.Generator().manual_seed(5))
    for w in (0.0, 0.5, 1.0, 1.5, 2.0, 3.0, 4.0):
        px = D.quantize(
            D.inverse_logit_transform(
                fm.sample(D.guided_field(cond, y, w), z0, method="rk4", steps=10)
            )
        )
        acc = clf.accuracy(px, y)
        x = px.double()
        div = sum(float(torch.pdist(x[y == c]).mean()) for c in range(10)) / 10
        print(f"| {w:.1f} | {acc:.3f} | {div:.2f} |")
    print()

    # ------------------------------------------------------------------ memorisation
    print("## 5. Memorisation: distance to the nearest training image (grey levels)\n")
    z0 = torch.randn(360, 64, generator=torch.Generator().manual_seed(11))
    px = D.quantize(
        D.inverse_logit_transform(fm.sample(field, z0, method="rk4", steps=20))
    ).double()
    d_s, _ = D.nearest_distances(px, real)
    d_t, _ = D.nearest_distances(test_px, real)
    d_r, _ = D.nearest_distances(r_px, real)
    print("| points | median | 5th percentile | min |")
    print("|---|---|---|---|")
    for name, d in (("test images", d_t), ("FM samples", d_s), ("RealNVP samples", d_r)):
        q = torch.quantile(d, torch.tensor([0.5, 0.05], dtype=d.dtype))
        print(f"| {name} | {float(q[0]):.2f} | {float(q[1]):.2f} | {float(d.min()):.2f} |")
    print()

    # ------------------------------------------------------------------ volume metrics
    print("## 6. Volume metrics of the FM reverse map (logit space, Euler x20, 64 directions)\n")
    f64 = copy.deepcopy(field).double().requires_grad_(False)
    print("| test image | radius | D0 | C0 | S0 | D1 | C1 | S1 |")
    print("|---|---|---|---|---|---|---|---|")
    # three test digits of different classes
    picks = [int(torch.nonzero(data.test_labels == c)[0, 0]) for c in (0, 3, 6)]
    for i in picks:
        for r in (0.1, 0.5, 1.0):
            m = volume.volume_metrics(
                f64,
                y_test[i].double(),
                r,
                20,
                n_directions=64,
                generator=torch.Generator().manual_seed(i),
            )
            print(
                f"| {i} (class {int(data.test_labels[i])}) | {r} | "
                + " | ".join(f"{m[k]:.3f}" for k in ("D0", "C0", "S0", "D1", "C1", "S1"))
                + " |"
            )
    xc = y_test[0].double()
    (zc, jac), t_full = _timed(lambda: volume.reverse_map_with_jacobian(f64, xc[None], 20))
    eye = torch.eye(64, dtype=torch.float64)
    (_, jv), t_jvp = _timed(lambda: volume.reverse_map_jvp(f64, xc, eye, 20))
    (_, jv1), t_jvp1 = _timed(lambda: volume.reverse_map_jvp(f64, xc, eye[:1], 20))
    sv = torch.linalg.svdvals(jac[0])
    print(
        f"\nJacobian of the reverse map at test image 0: singular values max {float(sv[0]):.3f}, "
        f"median {float(sv[32]):.3f}, min {float(sv[-1]):.4f}; log|det| {float(torch.log(sv).sum()):.2f}"
    )
    print(
        f"full Jacobian (augmented recursion, jacrev per step): {t_full:.3f} s; "
        f"64 JVPs (the same matrix, hand JVP): {t_jvp:.3f} s; one JVP: {t_jvp1:.4f} s; "
        f"max |difference| {float((jv.T - jac[0]).abs().max()):.2e}"
    )


if __name__ == "__main__":
    main()
