"""Hidden tests for 06_cnf (instructor only).

Every probe uses inputs that differ from the public checks (other points, fields,
dimensions, matrices). Values are compared with the same expression evaluated in the
solution notebook; the Hutchinson tests are property checks (``max``) of seeded
randomised answers, so that any correct way of drawing the probes passes.
"""

_X4 = "torch.tensor([[0.3, -0.2, 1.0, 0.5], [-1.0, 0.4, 0.0, 2.0], [0.7, 0.7, -0.3, -1.2]])"
_M4 = (
    "torch.tensor([[0.5, -1.0, 0.2, 0.0], [1.5, 0.3, -0.7, 0.4],"
    " [0.0, 0.8, -0.6, 1.1], [-0.9, 0.1, 0.5, 0.2]])"
)
_A3 = "torch.tensor([[0.1, -0.8, 0.3], [0.6, -0.2, 0.0], [-0.4, 0.5, 0.25]])"
_X3 = "torch.tensor([[1.0, -0.5, 0.2], [-1.5, 0.3, 2.0]])"
_XQ2 = "torch.tensor([[0.4, -1.1], [1.3, 0.6]])"
_DIV_Q2 = f"(2 * {_XQ2}[:, 0] * {_XQ2}[:, 1] - 3 * {_XQ2}[:, 1] ** 2)"
_ADJ_X0 = "torch.tensor([[0.2, -0.4, 1.0], [1.5, 0.5, -0.5]])"
_ADJ_AN = "torch.tensor([[1.0, 0.0, -2.0], [0.3, 0.7, 0.1]])"

QUESTIONS = [
    {
        "id": "q1",
        "title": "the divergence, by hand and by autograd",
        "points": 3,
        "tests": [
            {
                "name": "by hand at new points",
                "points": 1,
                "expr": "div_by_hand(torch.tensor([[0.7, -0.3], [-2.0, 1.5], [0.0, 3.0]]))",
                "rtol": 1e-10,
                "atol": 1e-12,
                "expects": "2 x1 x2 - 3 x2^2 for every row, shape (batch,)",
            },
            {
                "name": "autograd on a 4-D non-linear field",
                "points": 1.5,
                "expr": f"divergence(lambda t, x: torch.tanh(x @ {_M4}.T) * (1 + t), 0.5, {_X4})",
                "rtol": 1e-9,
                "atol": 1e-12,
                "expects": "the exact divergence (sum of the Jacobian's diagonal) in any dimension",
            },
            {
                "name": "autograd in 1-D with an input that requires grad",
                "points": 0.5,
                "expr": (
                    "divergence(lambda t, x: x**3 - t * x, 2.0,"
                    " torch.tensor([[1.0], [-2.0]], requires_grad=True))"
                ),
                "rtol": 1e-10,
                "atol": 1e-12,
                "expects": "works for d = 1 and for x that already requires grad",
            },
        ],
    },
    {
        "id": "q2",
        "title": "Hutchinson's estimator",
        "points": 4,
        "tests": [
            {
                "name": "output shape in 3-D",
                "points": 1,
                "expr": (
                    "list(hutchinson(lambda t, x: x**2 * t, 1.0, torch.ones(5, 3), 2,"
                    " generator=torch.Generator().manual_seed(0)).shape)"
                ),
                "kind": "equal",
                "expects": "a tensor of shape (batch,)",
            },
            {
                "name": "Rademacher is exact for a diagonal Jacobian (3-D)",
                "points": 1,
                "expr": (
                    "hutchinson(lambda t, x: torch.sin(x) + t, 0.0,"
                    " torch.tensor([[0.1, 0.2, 0.3], [1.0, 2.0, 3.0]]), 1, 'rademacher',"
                    " torch.Generator().manual_seed(5))"
                ),
                "rtol": 1e-10,
                "atol": 1e-12,
                "expects": "the exact divergence: with +-1 probes u, u^T D u = tr D for diagonal D",
            },
            {
                "name": "Rademacher mean within Monte-Carlo error (2000 probes)",
                "points": 1,
                "expr": (
                    f"float((hutchinson(v_q, 0.0, {_XQ2}, 2000, 'rademacher',"
                    f" torch.Generator().manual_seed(7)) - {_DIV_Q2}).abs().max())"
                ),
                "kind": "max",
                "bound": 0.25,
                "expects": "an unbiased estimate: probes with zero mean and identity covariance",
            },
            {
                "name": "Gaussian mean within Monte-Carlo error (2000 probes)",
                "points": 1,
                "expr": (
                    f"float((hutchinson(v_q, 0.0, {_XQ2}, 2000, 'gaussian',"
                    f" torch.Generator().manual_seed(8)) - {_DIV_Q2}).abs().max())"
                ),
                "kind": "max",
                "bound": 0.8,
                "expects": "an unbiased estimate with N(0, I) probes",
            },
        ],
    },
    {
        "id": "q3",
        "title": "the variance of Hutchinson's estimator",
        "points": 3,
        "tests": [
            {
                "name": "Rademacher variance of a 4-D non-symmetric matrix",
                "points": 1,
                "expr": f"hutchinson_variance({_M4}, 'rademacher')",
                "rtol": 1e-10,
                "atol": 1e-12,
                "expects": "2 ||S||_F^2 - 2 sum_i A_ii^2 with S = (A + A^T) / 2",
            },
            {
                "name": "Gaussian variance of a 3-D non-symmetric matrix",
                "points": 1,
                "expr": f"hutchinson_variance({_A3}, 'gaussian')",
                "rtol": 1e-10,
                "atol": 1e-12,
                "expects": "2 ||S||_F^2 with S = (A + A^T) / 2",
            },
            {
                "name": "number of probes for a target standard deviation",
                "points": 1,
                "expr": (
                    "[probes_needed(torch.tensor([[1.0, 2.0], [0.0, -1.0]]), 0.03, k)"
                    " for k in ('gaussian', 'rademacher')]"
                ),
                "kind": "equal",
                "expects": "the smallest integer M with variance / M <= std^2",
            },
        ],
    },
    {
        "id": "q4",
        "title": "the augmented ODE: an Euler step and a log-likelihood",
        "points": 4,
        "tests": [
            {
                "name": "one backward Euler step of the augmented state",
                "points": 1,
                "expr": (
                    "torch.cat([s.reshape(-1) for s in augmented_euler_step(v_q, 0.2,"
                    " torch.tensor([[1.0, -0.5], [0.2, 0.9]]), torch.tensor([0.5, -1.0]), -0.05)])"
                ),
                "rtol": 1e-12,
                "atol": 1e-12,
                "expects": "(x + h v(t, x), ell - h div v(t, x)), also for negative h",
            },
            {
                "name": "log-likelihood under v_q, 20 steps",
                "points": 2,
                "expr": "log_prob_euler(v_q, torch.tensor([[0.3, 0.2], [-0.4, 0.5], [1.0, 0.0]]), 20)",
                "rtol": 1e-9,
                "atol": 1e-10,
                "expects": (
                    "Euler steps backwards from t = 1 (t_k = 1 - k/n, h = -1/n), then"
                    " log N(x(0)) - ell(0)"
                ),
            },
            {
                "name": "log-likelihood of a 3-D linear field, 30 steps",
                "points": 1,
                "expr": f"log_prob_euler(lambda t, x: x @ {_A3}.T, {_X3}, 30)",
                "rtol": 1e-9,
                "atol": 1e-10,
                "expects": "works in any dimension",
            },
        ],
    },
    {
        "id": "q5",
        "title": "the linear CNF in closed form",
        "points": 4,
        "tests": [
            {
                "name": "samples of a 3-D non-diagonal linear CNF",
                "points": 1.5,
                "expr": f"linear_cnf_sample({_X3}, {_A3})",
                "rtol": 1e-10,
                "atol": 1e-12,
                "expects": "expm(A) z for every row z",
            },
            {
                "name": "log-density of a 3-D non-diagonal linear CNF",
                "points": 1.5,
                "expr": f"linear_cnf_log_prob({_X3}, {_A3})",
                "rtol": 1e-10,
                "atol": 1e-12,
                "expects": "log N(expm(-A) x; 0, I) - tr A",
            },
            {
                "name": "log-density in 1-D",
                "points": 1,
                "expr": "linear_cnf_log_prob(torch.tensor([[0.5], [-2.0]]), torch.tensor([[0.7]]))",
                "rtol": 1e-10,
                "atol": 1e-12,
                "expects": "works for d = 1",
            },
        ],
    },
    {
        "id": "q6",
        "title": "the adjoint of Euler steps, by hand",
        "points": 5,
        "tests": [
            {
                "name": "dL/dx0 for a 3-D field, 15 steps",
                "points": 2,
                "expr": f"euler_adjoint(SmallField(d=3, hidden=6, seed=11), {_ADJ_X0}, 15, {_ADJ_AN})[0]",
                "rtol": 1e-9,
                "atol": 1e-12,
                "expects": "a_0 from a_k = a_{k+1} + h a_{k+1}^T J_k",
            },
            {
                "name": "parameter gradients for a 3-D field, 15 steps",
                "points": 2,
                "expr": (
                    "torch.cat([g.reshape(-1) for g in euler_adjoint(SmallField(d=3, hidden=6,"
                    f" seed=11), {_ADJ_X0}, 15, {_ADJ_AN})[1]])"
                ),
                "rtol": 1e-9,
                "atol": 1e-12,
                "expects": "one gradient per parameter, in field.parameters() order",
            },
            {
                "name": "a single step",
                "points": 1,
                "expr": (
                    "torch.cat([t.reshape(-1) for t in [euler_adjoint(SmallField(seed=4),"
                    " torch.tensor([[0.5, 1.5]]), 1, torch.tensor([[2.0, -1.0]]))[0],"
                    " *euler_adjoint(SmallField(seed=4), torch.tensor([[0.5, 1.5]]), 1,"
                    " torch.tensor([[2.0, -1.0]]))[1]]])"
                ),
                "rtol": 1e-9,
                "atol": 1e-12,
                "expects": "correct for n_steps = 1 (t_0 = 0, h = 1)",
            },
        ],
    },
    {
        "id": "q8",
        "title": "a CNF trained with each trace estimator",
        "points": 5,
        "tests": [
            {
                "name": "nll_exact is measured on x_test8",
                "points": 1,
                "expr": "abs(nll_exact - cu.cnf.nll(cu.cnf.CNF(cnf_exact.field, 2), x_test8))",
                "kind": "max",
                "bound": 1e-4,
                "expects": "the mean NLL of the exact-trace model on x_test8 (exact divergence, dopri5)",
            },
            {
                "name": "nll_hutch is measured with the exact divergence",
                "points": 1,
                "expr": "abs(nll_hutch - cu.cnf.nll(cu.cnf.CNF(cnf_hutch.field, 2), x_test8))",
                "kind": "max",
                "bound": 1e-4,
                "expects": "the Hutchinson-trained field scored on x_test8 with the exact divergence "
                "and dopri5, not with its own noisy estimator",
            },
            {
                "name": "both models learned the mixture",
                "points": 1,
                "expr": (
                    "max(cu.cnf.nll(cu.cnf.CNF(cnf_exact.field, 2), x_test8),"
                    " cu.cnf.nll(cu.cnf.CNF(cnf_hutch.field, 2), x_test8))"
                ),
                "kind": "max",
                "bound": 2.8,
                "expects": "held-out NLL at most 2.8 nats for each trained model",
            },
            {
                "name": "the costs are counted, and Hutchinson is cheaper",
                "points": 1,
                # the recount must agree, and one probe must make fewer products than d = 2 passes
                "expr": (
                    "(lambda e, h: float(e) / h if (vjps_exact, vjps_hutch) == (e, h) else 0.0)("
                    "count_vjps(lambda: cnf_exact.log_prob(x_train8[:128])),"
                    " count_vjps(lambda: cnf_hutch.log_prob(x_train8[:128])))"
                ),
                "kind": "min",
                "bound": 1.5,
                "expects": "vjps_exact, vjps_hutch counted with count_vjps on x_train8[:128]; "
                "the Hutchinson model really uses one probe",
            },
            {
                "name": "the gap between the estimators",
                "points": 1,
                "expr": (
                    "abs(nll_gap) if abs(nll_gap - (cu.cnf.nll(cu.cnf.CNF(cnf_hutch.field, 2), x_test8)"
                    " - cu.cnf.nll(cu.cnf.CNF(cnf_exact.field, 2), x_test8))) < 1e-4 else 1.0"
                ),
                "kind": "max",
                "bound": 0.25,
                "expects": "nll_gap = nll_hutch - nll_exact as measured, at most 0.25 nats in size",
            },
        ],
    },
]


# Written questions, graded by hand (course-grade review / merge, docs/GRADING.md).
MANUAL = [{"id": "q7", "title": "exact trace or Hutchinson?", "points": 3}]
