"""Benchmark of the CNF machinery: back-propagation vs adjoint, exact divergence vs Hutchinson.

Run:  .venv/bin/python benchmarks/cnf.py          (COURSE_THREADS=1 by default)

Prints two tables:

(a) Peak memory and wall time of one gradient (forward solve + backward pass) through
    10, 100 and 1000 fixed-step RK4 steps of a width-64 MLP field on 64 float32 points,
    back-propagating through ``course_utils.ode.odeint`` versus ``odeint_adjoint``. Each
    configuration runs in a fresh subprocess; the peak is the process's resident-set
    high-water mark (``VmHWM``, reset through ``/proc/self/clear_refs``) minus its resident
    set just before the solve. Target: adjoint peak memory within 1.5x from 10 to 1000
    steps (backprop grows linearly).
(b) Time of one divergence evaluation, exact (``d`` backward passes) versus Hutchinson with
    1 and 8 probes, for dimension 2 to 512 (MLP field of width 128, batch 64), and the
    variance of a one-probe estimate (Rademacher and Gaussian; averaged over the batch)
    next to the mean squared exact divergence, to read the relative noise. The notebook predicts that Hutchinson with K probes is cheaper than
    the exact trace once d > K (d >= 2 for one probe); the table shows where it is.
"""

from __future__ import annotations

import json
import os
import resource
import subprocess
import sys
import time

import torch

STEPS = (10, 100, 1000)
DIMS = (2, 4, 8, 16, 32, 64, 128, 256, 512)


def _rss_kb() -> int:
    with open("/proc/self/status") as fh:
        for line in fh:
            if line.startswith("VmRSS:"):
                return int(line.split()[1])
    return 0


def _hwm_kb() -> int:
    with open("/proc/self/status") as fh:
        for line in fh:
            if line.startswith("VmHWM:"):
                return int(line.split()[1])
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss


def _reset_hwm() -> bool:
    try:
        with open("/proc/self/clear_refs", "w") as fh:
            fh.write("5")
        return True
    except OSError:
        return False


def _one_gradient(mode: str, n_steps: int) -> dict:
    """Run in a child process: peak memory and time of one gradient."""
    from course_utils.cnf import MLPField
    from course_utils.ode import odeint, odeint_adjoint

    torch.manual_seed(0)
    field = MLPField(2, hidden=64)
    x0 = torch.randn(64, 2)
    t = torch.tensor([0.0, 1.0])
    solver = odeint if mode == "backprop" else odeint_adjoint

    def gradient():
        field.zero_grad()
        y = solver(field, x0, t, method="rk4", step_size=1.0 / n_steps)
        (y[-1] ** 2).sum().backward()

    for _ in range(2):  # warm-up: allocator pools and lazy initialisation
        solver(field, x0, t, method="rk4", step_size=0.5)[-1].sum().backward()
    reset = _reset_hwm()
    before = _rss_kb()
    start = time.perf_counter()
    gradient()
    seconds = time.perf_counter() - start
    peak = _hwm_kb()
    return {"peak_mb": (peak - before) / 1024, "seconds": seconds, "exact_peak": reset}


def _run_child(mode: str, n_steps: int) -> dict:
    env = dict(os.environ, COURSE_THREADS=os.environ.get("COURSE_THREADS", "1"))
    out = subprocess.run(
        [sys.executable, __file__, "--child", mode, str(n_steps)],
        capture_output=True,
        text=True,
        env=env,
        check=True,
    )
    return json.loads(out.stdout.strip().splitlines()[-1])


def table_memory() -> None:
    print("(a) one gradient through n RK4 steps (MLP width 64, 64 points, float32)")
    print("  steps | backprop: peak MB   time s | adjoint: peak MB   time s")
    peaks = {"backprop": [], "adjoint": []}
    for n_steps in STEPS:
        row = {mode: _run_child(mode, n_steps) for mode in peaks}
        for mode in peaks:
            peaks[mode].append(row[mode]["peak_mb"])
        bp, adj = row["backprop"], row["adjoint"]
        print(
            f"  {n_steps:5d} | {bp['peak_mb']:16.1f} {bp['seconds']:8.3f} |"
            f" {adj['peak_mb']:15.1f} {adj['seconds']:8.3f}"
        )
    floor = 1.0  # MB: below this the high-water mark is allocator noise
    ratio_adj = max(peaks["adjoint"][-1], floor) / max(peaks["adjoint"][0], floor)
    ratio_bp = max(peaks["backprop"][-1], floor) / max(peaks["backprop"][0], floor)
    verdict = "PASS" if ratio_adj <= 1.5 else "FAIL"
    print(
        f"  peak memory 10 -> 1000 steps: backprop x{ratio_bp:.1f}, adjoint x{ratio_adj:.2f}"
        f" (target adjoint <= 1.5x, values below {floor:g} MB counted as {floor:g} MB): {verdict}"
    )


def _best_time(fn, reps: int = 3) -> float:
    fn()
    best = float("inf")
    for _ in range(reps):
        start = time.perf_counter()
        fn()
        best = min(best, time.perf_counter() - start)
    return best


def table_divergence() -> None:
    from course_utils.cnf import (
        MLPField,
        divergence_exact,
        divergence_hutchinson,
        sample_probe,
    )

    print("\n(b) one divergence evaluation (MLP width 128, batch 64, float32)")
    print(
        "     d | exact ms | Hutch K=1 ms | Hutch K=8 ms | exact/K=1 |"
        " Var_rad | Var_gauss | mean div^2"
    )
    first_cheaper = {1: None, 8: None}
    for d in DIMS:
        torch.manual_seed(d)
        field = MLPField(d, hidden=128)
        x = torch.randn(64, d, requires_grad=True)
        t = torch.tensor(0.5)
        e1, e8 = sample_probe((1, 64, d)), sample_probe((8, 64, d))
        t_exact = _best_time(lambda f=field, t=t, x=x: divergence_exact(f(t, x), x))
        t_h1 = _best_time(lambda f=field, t=t, x=x, e=e1: divergence_hutchinson(f(t, x), x, e))
        t_h8 = _best_time(lambda f=field, t=t, x=x, e=e8: divergence_hutchinson(f(t, x), x, e))
        for k, t_h in ((1, t_h1), (8, t_h8)):
            if first_cheaper[k] is None and t_h < t_exact:
                first_cheaper[k] = d
        # variance of one-probe estimates: 64 probes per point, averaged over the batch
        v = field(t, x)
        exact = divergence_exact(v, x).detach()
        rel = {}
        for kind in ("rademacher", "gaussian"):
            probes = sample_probe((64, 64, d), kind, generator=torch.Generator().manual_seed(1))
            ests = torch.stack([divergence_hutchinson(v, x, p).detach() for p in probes])
            rel[kind] = float(ests.var(0).mean())
        print(
            f"  {d:4d} | {t_exact * 1e3:8.2f} | {t_h1 * 1e3:12.2f} | {t_h8 * 1e3:12.2f} |"
            f" {t_exact / t_h1:9.1f} | {rel['rademacher']:7.3g} | {rel['gaussian']:9.3g} |"
            f" {float(exact.pow(2).mean()):10.3g}"
        )
    print(
        f"  Hutchinson first cheaper than the exact trace at d = {first_cheaper[1]} with 1 probe"
        f" (predicted: d >= 2) and at d = {first_cheaper[8]} with 8 probes (predicted: d > 8)"
    )


def main() -> None:
    torch.set_num_threads(int(os.environ.get("COURSE_THREADS", "1")))
    print(f"torch {torch.__version__}, {torch.get_num_threads()} thread(s)")
    table_memory()
    table_divergence()


if __name__ == "__main__":
    if len(sys.argv) == 4 and sys.argv[1] == "--child":
        torch.set_num_threads(int(os.environ.get("COURSE_THREADS", "1")))
        print(json.dumps(_one_gradient(sys.argv[2], int(sys.argv[3]))))
    else:
        main()
