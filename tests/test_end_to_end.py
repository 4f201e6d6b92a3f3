"""End-to-end tasks: the solution passes for several seeds, typical mistakes lose points.

An end-to-end task (build, run, measure, interpret) is graded on measured outcomes with
``max``/``min`` tolerances. Its given cell holds ``seed = 0``; here the solution is
re-seeded (1..5) in a copy of the course, graded by the real grader, and must keep full
marks on the task. Then planted typical mistakes are graded against the real spec and must
lose points on the task.
"""

from __future__ import annotations

import shutil
from pathlib import Path

import nbformat
import pytest

from course_utils.grading._grader import Limits, grade_submissions

ROOT = Path(__file__).resolve().parents[1]
LIMITS = Limits(timeout=60.0, submission_timeout=600.0)
SEEDS = [1, 2, 3, 4, 5]

# topic -> (question id, the task's seed line, [(answer cell id, text in solution, mistake)])
TASKS = {
    "01_mle": (
        "q9",
        "seed = 0  # the hidden tests use other seeds",
        [
            # the Laplace scale taken as the standard deviation
            ("q9-answer", "float(np.mean(np.abs(x - mu)))", "float(np.std(x))"),
            # the location taken as the mean (not robust, not the MLE)
            ("q9-answer", "mu = float(np.median(x))", "mu = float(np.mean(x))"),
            # the likelihood measured on the training data instead of the held-out data
            (
                "q9-answer",
                "gaussian_avg_nll(x_test, *gaussian_mle(x_train))",
                "gaussian_avg_nll(x_train, *gaussian_mle(x_train))",
            ),
        ],
    ),
    "03_change_of_variables": (
        "q8",
        "seed = 0  # the hidden tests use other seeds",
        [
            # the derivative term forgotten: log N(f(x)) is not a density in x
            ("q8-answer", "math.log(2 * math.pi) + log_df", "math.log(2 * math.pi)"),
            # the derivative term with the wrong sign (the formula for x = f(z), not z = f(x))
            ("q8-answer", "math.log(2 * math.pi) + log_df", "math.log(2 * math.pi) - log_df"),
            # the held-out NLL measured on the training data
            (
                "q8-answer",
                "nll_flow = -float(flow_log_prob(x_test8, theta_hat).mean())",
                "nll_flow = -float(flow_log_prob(x_train8, theta_hat).mean())",
            ),
        ],
    ),
    "04_svd": (
        "q8",
        "seed = 0  # the hidden tests use other seeds",
        [
            # the error measured against the noisy matrix (it only falls: k_best = 15)
            (
                "q8-answer",
                "float((best_rank_k(M_e2e, k) - L_e2e).norm())",
                "float((best_rank_k(M_e2e, k) - M_e2e).norm())",
            ),
            # the noise edge of one dimension only
            (
                "q8-answer",
                "(M_e2e.shape[0] ** 0.5 + M_e2e.shape[1] ** 0.5)",
                "M_e2e.shape[0] ** 0.5",
            ),
        ],
    ),
    "05_normalizing_flows": (
        "q7",
        "seed = 0  # the hidden tests use other seeds",
        [
            # every mask flipped to [0, 1]: x1 given x2 is still one Gaussian
            (
                "q7-answer",
                "repaired_masks = [[1.0, 0.0], [0.0, 1.0], [1.0, 0.0], [0.0, 1.0]]",
                "repaired_masks = [[0.0, 1.0]] * 4",
            ),
            # more depth with the same mask: x1 is still never transformed
            (
                "q7-answer",
                "repaired_masks = [[1.0, 0.0], [0.0, 1.0], [1.0, 0.0], [0.0, 1.0]]",
                "repaired_masks = [[1.0, 0.0]] * 8",
            ),
            # the broken flow's NLL measured on the training data
            (
                "q7-answer",
                "nll_broken = flows.nll(broken, x_test7)",
                "nll_broken = flows.nll(broken, x_train7)",
            ),
        ],
    ),
    "06_cnf": (
        "q8",
        "seed = 0  # the hidden tests use other seeds",
        [
            # the Hutchinson model scored with its own noisy estimator and training solver
            (
                "q8-answer",
                "nll_hutch = cu.cnf.nll(cu.cnf.CNF(cnf_hutch.field, 2), x_test8)",
                "nll_hutch = cu.cnf.nll(cnf_hutch, x_test8)",
            ),
            # copy and paste: the "Hutchinson" model still uses the exact trace
            ("q8-answer", 'estimator="hutchinson"', 'estimator="exact"'),
            # the exact model's NLL measured on the training data
            (
                "q8-answer",
                "nll_exact = cu.cnf.nll(cu.cnf.CNF(cnf_exact.field, 2), x_test8)",
                "nll_exact = cu.cnf.nll(cu.cnf.CNF(cnf_exact.field, 2), x_train8)",
            ),
        ],
    ),
    "02_odes": (
        "q8",
        "seed = 0  # the hidden tests use other seeds",
        [
            # a first-order method: far from the target error
            (
                "q8-answer",
                'method="dopri5", rtol=1e-7, atol=1e-9',
                'method="euler", step_size=0.01',
            ),
            # target met, but a needlessly tight tolerance blows the evaluation budget
            ("q8-answer", "rtol=1e-7, atol=1e-9", "rtol=1e-11, atol=1e-13"),
            # the reported NFE is not what was measured (counted the steps of RK4 instead)
            ("q8-answer", "e2e_nfe = counter.n", "e2e_nfe = counter.n // 4"),
        ],
    ),
    "07_flow_matching": (
        "q8",
        "seed = 0  # the hidden tests use other seeds",
        [
            # the "ot" model trained without re-pairing the mini-batch (independent pairs twice)
            ("q8-answer", "x0 = ot_pairing(x0, x1)", "x0 = x0"),
            # noise and data swapped in the loss: the field flows from the data to the noise
            ("q8-answer", "cfm_loss(model, x0, x1, t, 0.0)", "cfm_loss(model, x1, x0, t, 0.0)"),
            # the curve not measured at each NFE (every entry sampled with 16 steps)
            (
                "q8-answer",
                "quality(euler_sample(m, z_e2e, n))",
                "quality(euler_sample(m, z_e2e, NFE_GRID[-1]))",
            ),
        ],
    ),
    "08_volume_metrics": (
        "q7",
        "seed = 0  # the hidden tests use other seeds",
        [
            # the log-det forgotten: the density of the latent point alone
            (
                "q7-answer",
                "logp_model = -0.5 * (z_e2e**2).sum(1) - np.log(2 * np.pi) + logvol_e2e",
                "logp_model = -0.5 * (z_e2e**2).sum(1) - np.log(2 * np.pi)",
            ),
            # the model compared with the law it was trained on instead of the true one
            ("q7-answer", "truth_e2e.log_prob(x_e2e)", "train_law_e2e.log_prob(x_e2e)"),
            # the circle mapped with the forward map (latent -> data) instead of the reverse map
            (
                "q7-answer",
                "reverse_map(v, ring.reshape(-1, 2), n_steps)",
                "cu.volume.forward_map(v, ring.reshape(-1, 2), n_steps)",
            ),
        ],
    ),
}


def _reseeded_root(topic: str, seed_line: str, seed: int, dest: Path) -> Path:
    for sub in ("grading", "exercises"):
        shutil.copytree(ROOT / sub, dest / sub)
    (dest / "solutions").mkdir()
    nb = nbformat.read(ROOT / "solutions" / f"{topic}.ipynb", as_version=4)
    cells = [c for c in nb.cells if seed_line in c.source]
    assert len(cells) == 1, f"{topic}: the task's seed line {seed_line!r} is not in one cell"
    cells[0].source = cells[0].source.replace("seed = 0", f"seed = {seed}")
    nbformat.write(nb, dest / "solutions" / f"{topic}.ipynb")
    return dest


@pytest.mark.parametrize("topic", sorted(TASKS))
@pytest.mark.parametrize("seed", SEEDS)
def test_solution_passes_the_task_for_other_seeds(topic, seed, tmp_path):
    qid, seed_line, _ = TASKS[topic]
    root = _reseeded_root(topic, seed_line, seed, tmp_path / "course")
    sub = root / "solutions" / f"{topic}.ipynb"
    (report,) = grade_submissions(topic, [sub], tmp_path / "out", root=root, limits=LIMITS)
    q = {q["id"]: q for q in report["questions"]}[qid]
    assert q["points"] == q["max_points"], [t for t in q["tests"] if not t["passed"]]


def _plant(topic: str, cell_id: str, old: str, new: str, dest: Path) -> Path:
    nb = nbformat.read(ROOT / "solutions" / f"{topic}.ipynb", as_version=4)
    cells = [c for c in nb.cells if c.get("id") == cell_id]
    assert len(cells) == 1 and cells[0].source.count(old) == 1, (topic, cell_id, old)
    cells[0].source = cells[0].source.replace(old, new)
    nbformat.write(nb, dest)
    return dest


@pytest.mark.parametrize("topic", sorted(TASKS))
def test_typical_mistakes_lose_the_task_points(topic, tmp_path):
    qid, _, mistakes = TASKS[topic]
    subs = [
        _plant(topic, cell, old, new, tmp_path / f"wrong{i}.ipynb")
        for i, (cell, old, new) in enumerate(mistakes)
    ]
    reports = grade_submissions(topic, subs, tmp_path / "out", root=ROOT, workers=2, limits=LIMITS)
    for (_, _, new), report in zip(mistakes, reports, strict=True):
        q = {q["id"]: q for q in report["questions"]}[qid]
        assert q["points"] < q["max_points"], f"{topic} {qid}: {new!r} kept full marks"
        failed = [t for t in q["tests"] if not t["passed"]]
        # the feedback names the failing part and what was expected, not a hidden value
        assert all(t["expects"] and t["name"] for t in failed)
