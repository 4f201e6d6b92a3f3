"""Produce the checkpoints of notebooks/10_digits: seeded, CPU, one thread.

    COURSE_THREADS=1 .venv/bin/python benchmarks/train_digits.py [--out DIR] [--quick]

Trains on the fixed train split of ``course_utils.digits.load()`` (seed 0; 1,437 images)
and writes to ``course_utils/data/digits/`` (about 2 MB in all):

* ``realnvp.pt``: RealNVP, 6 affine couplings with checkerboard/half-image masks,
  conditioners 2 x 64 SiLU, trained by maximum likelihood (``flows.train_flow``) on 32
  dequantized copies of the training images in logit space;
* ``fm.pt``: flow matching, ``flow_matching.VelocityMLP`` 3 x 256 SiLU, OT path with
  sigma_min = 0, fresh dequantization every batch (``flow_matching.train``);
* ``cfm.pt``: class-conditional field for classifier-free guidance
  (``digits.ConditionalVelocityMLP`` 3 x 256, label dropout 0.1).

Each file stores its provenance: the command, the seed, the training time (wall and CPU
seconds), the commit, the torch version, and the test bits/dim measured right after
training (fixed test dequantization, seed 1) that ``tests/test_digits.py`` checks again.
"""

from __future__ import annotations

import argparse
import platform
import sys
import time
from pathlib import Path

import torch

import course_utils as cu
from course_utils import digits as D
from course_utils import flow_matching as fm

SEED = 0
TEST_DEQUANT_SEED = 1
ALPHA = 0.05
REALNVP = {"kind": "realnvp", "n_layers": 6, "hidden": 64, "depth": 2, "masks": "mixed"}
FM = {"kind": "fm", "dim": 64, "hidden": 256, "n_hidden": 3, "n_freq": 4}
CFM = {"kind": "cfm", "dim": 64, "n_classes": 10, "hidden": 256, "n_hidden": 3, "n_freq": 4}
STEPS = {"realnvp": 1200, "fm": 6000, "cfm": 4000}
CNF_STEPS = 10  # RK4 steps for the exact CNF likelihood (40 NFE; dopri5 agrees to 1e-3 bpd)


def test_points(data: D.Digits) -> tuple[torch.Tensor, torch.Tensor]:
    """The fixed dequantized test set in logit space: ``(y (360, 64), log_det (360,))``."""
    return D.preprocess(
        data.test_images, ALPHA, generator=torch.Generator().manual_seed(TEST_DEQUANT_SEED)
    )


def fresh_batches(data: D.Digits, labels: bool = False):
    """``draw(n, g)``: n training images, freshly dequantized and logit-mapped (and labels)."""
    images, ys = data.train_images, data.train_labels

    def draw(n, g):
        idx = torch.randint(0, images.shape[0], (n,), generator=g)
        y = D.preprocess(images[idx], ALPHA, generator=g)[0]
        return (y, ys[idx]) if labels else y

    return draw


def realnvp_bpd(flow, y, log_det) -> float:
    with torch.no_grad():
        return D.bits_per_dim(flow.log_prob(y) + log_det)


def fm_bpd(field, y, log_det, steps: int = CNF_STEPS) -> tuple[float, int]:
    cnf = cu.cnf.CNF(field, D.DIM, estimator="exact", method="rk4", step_size=1.0 / steps)
    with torch.no_grad():
        lp = cnf.log_prob(y)
    return D.bits_per_dim(lp + log_det), cnf.last_nfe


def _clock():
    return time.perf_counter(), time.process_time()


def _since(start) -> tuple[float, float]:
    return time.perf_counter() - start[0], time.process_time() - start[1]


def train_realnvp(data: D.Digits, steps: int, seed: int = SEED):
    """Maximum likelihood on 32 dequantized copies; returns ``(flow, wall s, cpu s)``."""
    torch.manual_seed(seed)
    g = torch.Generator().manual_seed(seed)
    y_train = D.preprocess(data.train_images.repeat(32, 1), ALPHA, generator=g)[0]
    y_test = test_points(data)[0]
    cfg = {k: v for k, v in REALNVP.items() if k != "kind"}
    flow = D.image_realnvp(**cfg)
    start = _clock()
    cu.flows.train_flow(
        flow, y_train, y_test, steps=steps, batch_size=256, lr=1e-3, print_every=500, generator=g
    )
    return flow, *_since(start)


def train_fm(data: D.Digits, steps: int, seed: int = SEED):
    """CFM training of ``VelocityMLP``; returns ``(EMA field, wall s, cpu s)``."""
    torch.manual_seed(seed)
    g = torch.Generator().manual_seed(seed)
    field = fm.VelocityMLP(**{k: v for k, v in FM.items() if k != "kind"})
    start = _clock()
    res = fm.train(field, fresh_batches(data), fm.OTPath(), steps=steps, lr=2e-3, generator=g)
    return res["model"], *_since(start)


def train_cfm(data: D.Digits, steps: int, seed: int = SEED):
    """Classifier-free-guidance training; returns ``(EMA model, wall s, cpu s)``."""
    torch.manual_seed(seed)
    g = torch.Generator().manual_seed(seed)
    model = D.ConditionalVelocityMLP(**{k: v for k, v in CFM.items() if k != "kind"})
    start = _clock()
    res = D.train_conditional(model, fresh_batches(data, labels=True), steps=steps, generator=g)
    return res["model"], *_since(start)


def main(argv=None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--out", type=Path, default=D.CHECKPOINT_DIR)
    parser.add_argument("--quick", action="store_true", help="10x fewer steps (smoke test)")
    parser.add_argument(
        "--only", choices=["realnvp", "fm", "cfm"], action="append", help="train only these"
    )
    args = parser.parse_args(argv)
    torch.set_num_threads(1)
    scale = 10 if args.quick else 1
    data = D.load(seed=SEED)
    y_test, ld_test = test_points(data)
    only = set(args.only or ["realnvp", "fm", "cfm"])
    command = "python benchmarks/train_digits.py" + (" --quick" if args.quick else "")
    command += "".join(f" --only {name}" for name in sorted(args.only or []))
    common = {
        "command": command,
        "seed": SEED,
        "alpha": ALPHA,
        "test_dequant_seed": TEST_DEQUANT_SEED,
        "torch": str(torch.__version__),
        "python": platform.python_version(),
        "threads": 1,
    }

    if "realnvp" in only:
        train_and_save_realnvp(args, data, scale, common, y_test, ld_test)
    if "fm" in only:
        train_and_save_fm(args, data, scale, common, y_test, ld_test)
    if "cfm" in only:
        train_and_save_cfm(args, data, scale, common)
    total = sum(p.stat().st_size for p in args.out.glob("*.pt"))
    print(f"checkpoints in {args.out}: {total / 1e6:.2f} MB")


def train_and_save_realnvp(args, data, scale, common, y_test, ld_test) -> None:
    flow, wall, cpu = train_realnvp(data, STEPS["realnvp"] // scale)
    bpd = realnvp_bpd(flow, y_test, ld_test)
    D.save_checkpoint(
        args.out / "realnvp.pt",
        flow,
        REALNVP,
        {
            **common,
            "steps": STEPS["realnvp"] // scale,
            "wall_seconds": wall,
            "cpu_seconds": cpu,
            "test_bpd": bpd,
        },
    )
    print(f"realnvp: test {bpd:.4f} bits/dim, {wall:.0f} s wall, {cpu:.0f} s CPU")
    sys.stdout.flush()


def train_and_save_fm(args, data, scale, common, y_test, ld_test) -> None:
    field, wall, cpu = train_fm(data, STEPS["fm"] // scale)
    bpd, nfe = fm_bpd(field, y_test, ld_test)
    D.save_checkpoint(
        args.out / "fm.pt",
        field,
        FM,
        {
            **common,
            "steps": STEPS["fm"] // scale,
            "wall_seconds": wall,
            "cpu_seconds": cpu,
            "test_bpd": bpd,
            "cnf_solver": f"rk4, {CNF_STEPS} steps, exact divergence",
            "cnf_nfe": nfe,
        },
    )
    print(f"fm: test {bpd:.4f} bits/dim (CNF, NFE {nfe}), {wall:.0f} s wall, {cpu:.0f} s CPU")
    sys.stdout.flush()


def train_and_save_cfm(args, data, scale, common) -> None:
    model, wall, cpu = train_cfm(data, STEPS["cfm"] // scale)
    D.save_checkpoint(
        args.out / "cfm.pt",
        model,
        CFM,
        {
            **common,
            "steps": STEPS["cfm"] // scale,
            "wall_seconds": wall,
            "cpu_seconds": cpu,
            "p_uncond": 0.1,
        },
    )
    print(f"cfm: {wall:.0f} s wall, {cpu:.0f} s CPU")


if __name__ == "__main__":
    main()
