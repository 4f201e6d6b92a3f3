"""Hidden tests for 10_digits (instructor only).

Every probe uses inputs that differ from the public checks (other points, alphas,
dimensions, subsets, fields). Values are compared with the same expression evaluated in
the solution notebook; trained quantities are compared with bounds. Question 6 is
written and graded by hand with the rubric in the solution's instructor cell (it has no
automatic tests, so course-grade reports it as not graded).
"""

_X = "torch.tensor([[0.0, 0.5, 0.99, 0.3], [0.7, 0.01, 1.0, 0.25]], dtype=torch.float64)"
_X_OPEN = "torch.tensor([[0.2, 0.5, 0.9], [0.6, 0.05, 0.45]], dtype=torch.float64)"
_LIN = (
    "cu.cnf.LinearField(0.08 * torch.randn(64, 64, generator=torch.Generator().manual_seed(17),"
    " dtype=torch.float64))"
)

QUESTIONS = [
    {
        "id": "q1",
        "title": "the logit map and its log-determinant",
        "points": 3,
        "tests": [
            {
                "name": "y with alpha = 0.1, including x = 0 and x = 1",
                "points": 1,
                "expr": f"logit_map({_X}, 0.1)[0]",
                "rtol": 1e-10,
                "atol": 1e-12,
                "expects": "logit(alpha + (1 - 2 alpha) x) for every entry, shape (batch, d)",
            },
            {
                "name": "log-det with alpha = 0.1",
                "points": 1,
                "expr": f"logit_map({_X}, 0.1)[1]",
                "rtol": 1e-10,
                "atol": 1e-10,
                "expects": "sum over coordinates of log(1 - 2 alpha) - log s - log(1 - s), shape (batch,)",
            },
            {
                "name": "log-det with alpha = 0 on the open cube",
                "points": 1,
                "expr": f"logit_map({_X_OPEN}, 0.0)[1]",
                "rtol": 1e-10,
                "atol": 1e-10,
                "expects": "the log-determinant also for alpha = 0, shape (batch,)",
            },
        ],
    },
    {
        "id": "q2",
        "title": "bits per dimension",
        "points": 3,
        "tests": [
            {
                "name": "64 pixels, 17 levels",
                "points": 1.5,
                "expr": (
                    "bits_per_dim(torch.tensor([-50.0, 10.0, 3.5], dtype=torch.float64),"
                    " torch.tensor([120.0, 80.0, 95.0], dtype=torch.float64), 64, 17)"
                ),
                "rtol": 1e-10,
                "expects": "-(mean(log p_y + log_det) - D log n_levels) / (D log 2), a float",
            },
            {
                "name": "3 pixels, 4 levels",
                "points": 1.5,
                "expr": (
                    "bits_per_dim(torch.tensor([1.0, -2.0], dtype=torch.float64),"
                    " torch.tensor([2.0, 0.5], dtype=torch.float64), 3, 4)"
                ),
                "rtol": 1e-10,
                "expects": "the same formula for other dim and n_levels",
            },
        ],
    },
    {
        "id": "q3",
        "title": "the full-covariance Gaussian baseline",
        "points": 4,
        "tests": [
            {
                "name": "fit on training rows 500-999, test rows 100-179",
                "points": 2,
                "expr": "gaussian_test_bpd(y_train[500:1000], y_test[100:180], ld_test[100:180])",
                "rtol": 1e-7,
                "expects": "test bits/dim of the MLE Gaussian (1/n covariance) with the log-dets",
            },
            {
                "name": "q3_bpd on the full data",
                "points": 2,
                "expr": "q3_bpd",
                "rtol": 1e-7,
                "expects": "gaussian_test_bpd(y_train, y_test, ld_test), a float",
            },
        ],
    },
    {
        "id": "q4",
        "title": "classifier-free guidance, measured by a classifier",
        "points": 3,
        "tests": [
            {
                "name": "guided velocity at w = 3.5",
                "points": 1,
                "expr": (
                    "guided_velocity(torch.tensor([[1.0, -2.0], [0.5, 4.0]]),"
                    " torch.tensor([[0.2, 1.0], [-1.0, 0.0]]), 3.5)"
                ),
                "rtol": 1e-6,
                "expects": "v_null + w (v_cond - v_null), same shape",
            },
            {
                "name": "guided velocity at w = -0.5",
                "points": 1,
                "expr": "guided_velocity(torch.ones(1, 3), torch.full((1, 3), 3.0), -0.5)",
                "rtol": 1e-6,
                "expects": "v_null + w (v_cond - v_null) for any w",
            },
            {
                "name": "accuracy of the guided samples at w = 2",
                "points": 1,
                # counted only with a working guided_velocity (a constant is not guidance)
                "expr": (
                    "float(q4_accuracy) if bool(torch.allclose(torch.as_tensor(guided_velocity("
                    "torch.ones(2, 2), torch.zeros(2, 2), 2.0), dtype=torch.float32),"
                    " torch.full((2, 2), 2.0))) else 0.0"
                ),
                "kind": "min",
                "bound": 0.9,
                "expects": "at least 90% of the guided samples classified as intended",
            },
        ],
    },
    {
        "id": "q5",
        "title": "end to end: train flow matching, score it as a CNF",
        "points": 5,
        "tests": [
            {
                "name": "cnf_test_bpd of a linear field on test rows 20-27",
                "points": 2,
                "expr": f"cnf_test_bpd({_LIN}, y_test[20:28], ld_test[20:28])",
                "rtol": 1e-7,
                "expects": "bits/dim from the exact-divergence CNF (RK4, step 0.2) plus log-dets",
            },
            {
                "name": "trained model below 2.9 bits/dim",
                "points": 2,
                # an implausibly low value (a constant 0 or 1) counts as a failure here too
                "expr": "float(q5_bpd) if float(q5_bpd) >= 1.5 else 99.0",
                "kind": "max",
                "bound": 2.9,
                "expects": "q5_bpd <= 2.9 bits/dim on y_test[:100]",
            },
            {
                "name": "a plausible bits/dim (log-det and 17 levels included)",
                "points": 1,
                "expr": "float(q5_bpd)",
                "kind": "min",
                "bound": 1.5,
                "expects": "q5_bpd >= 1.5: the converged model of the lecture is at 2.10",
            },
        ],
    },
]

# written questions, graded by hand (course-grade review / merge; docs/GRADING.md)
MANUAL = [{"id": "q6", "title": "Hutchinson at d = 64", "points": 3}]
