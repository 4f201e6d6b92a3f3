"""The hidden tests of every topic catch typical wrong answers.

Each case takes the solution notebook, plants one mistake a student could make in one
answer cell (a sign, an off-by-one, a missing Jacobian, a biased sampler, ...), grades it
with the real grader and hidden tests, and asserts that the question loses points while
the untouched solution keeps full marks. One batch per topic keeps this affordable.
"""

from __future__ import annotations

import sys
from pathlib import Path

import nbformat
import pytest

from course_utils.grading._grader import Limits, grade_submissions

sys.path.insert(0, str(Path(__file__).parent))
from grading_fixtures.sandbox import SANDBOX  # noqa: E402

ROOT = Path(__file__).resolve().parents[1]

# topic -> [(question id, answer cell id, text in the solution, wrong text)]
MISTAKES = {
    "01_mle": [
        ("q2", "q2-answer", "/ (x.size - 1)", "/ x.size"),  # the biased variance
        ("q7", "q7-answer", "np.log(p[m] / q[m])", "np.log(q[m] / p[m])"),  # KL sign
    ],
    "02_odes": [
        ("q2", "q2-answer", "t0 + k * h", "t0 + (k + 1) * h"),  # field evaluated at step ends
        # G eq. (10): flipping the field's sign *and* running time backwards
        (
            "q5",
            "q5-answer",
            "solve(step, v, x1, 1.0, 0.0, n)",
            "solve(step, lambda t, x: -v(t, x), x1, 1.0, 0.0, n)",
        ),
    ],
    "03_change_of_variables": [
        ("q1", "q1-answer", "log_normal(z) - torch.linalg.slogdet(A).logabsdet", "log_normal(z)"),
    ],
    "04_svd": [
        (
            "q2",
            "q2-answer",
            "(U[:, :k] * s[:k]) @ Vt[:k]",
            "(U[:, : k + 1] * s[: k + 1]) @ Vt[: k + 1]",
        ),
    ],
    "05_normalizing_flows": [
        ("q2", "q2-answer", "log_p = log_p - log_det", "log_p = log_p + log_det"),  # det sign
        (
            "q3",
            "q3-answer",
            "torch.log(torch.abs(sigma[0] * sigma[1]))",
            "torch.log(sigma[0] * sigma[1])",
        ),
    ],
    "06_cnf": [
        ("q4", "q4-answer", "ell - h * divergence(v, t, x)", "ell + h * divergence(v, t, x)"),
        ("q5", "q5-answer", "torch.linalg.matrix_exp(A)", "torch.linalg.matrix_exp(-A)"),
    ],
    "07_flow_matching": [
        ("q1", "q1-answer", "(1 - (1 - sigma_min) * t) * x0", "(1 - t) * x0"),  # sigma_min ignored
        ("q5", "q5-answer", "v(k * h, x)", "v((k + 1) * h, x)"),
    ],
    "08_volume_metrics": [
        ("q1", "q1-answer", "dtype=torch.float64)", "dtype=torch.float64) ** 3"),  # axis-biased
        ("q2", "q2-answer", "range(n_steps, 0, -1)", "range(n_steps)"),  # wrong time grid
    ],
    "09_sde_diffusion": [
        ("q1", "q1-answer", "g(t, x) * dW[k]", "g(t, x) * dW[k] * math.sqrt(h)"),  # dW scaled twice
        ("q5", "q5-answer", "x + 2 * score(t, x)", "x + score(t, x)"),  # reverse drift = PF drift
    ],
}


def _plant(topic: str, cell_id: str, old: str, new: str, dest: Path) -> Path:
    nb = nbformat.read(ROOT / "solutions" / f"{topic}.ipynb", as_version=4)
    cells = [c for c in nb.cells if c.get("id") == cell_id]
    assert len(cells) == 1, f"{topic}: no answer cell {cell_id!r}"
    assert cells[0].source.count(old) == 1, f"{topic}/{cell_id}: the solution no longer has {old!r}"
    cells[0].source = cells[0].source.replace(old, new)
    nbformat.write(nb, dest)
    return dest


@pytest.mark.parametrize("topic", sorted(MISTAKES))
def test_hidden_tests_catch_typical_mistakes(topic, tmp_path):
    mistakes = MISTAKES[topic]
    subs = [ROOT / "solutions" / f"{topic}.ipynb"]
    for i, (_, cell_id, old, new) in enumerate(mistakes):
        subs.append(_plant(topic, cell_id, old, new, tmp_path / f"wrong{i}.ipynb"))
    reports = grade_submissions(
        topic,
        subs,
        tmp_path / "out",
        root=ROOT,
        workers=2,
        limits=Limits(timeout=60.0),
        sandbox=SANDBOX,
    )
    full = reports[0]
    # every automatic point (written questions are graded by hand later)
    assert full["total"] == sum(q["max_points"] for q in full["questions"]), full["questions"]
    for (qid, cell_id, _, new), report in zip(mistakes, reports[1:], strict=True):
        assert report["status"] == "ok", (cell_id, report["status"])
        q = {q["id"]: q for q in report["questions"]}[qid]
        assert q["points"] < q["max_points"], f"{topic} {qid}: {new!r} kept full marks"
