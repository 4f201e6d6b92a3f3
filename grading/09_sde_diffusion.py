"""Hidden tests for 09_sde_diffusion (instructor only).

Every probe uses inputs that differ from the public checks (other drifts, grids,
mixtures, schedules, times). Values are compared with the same expression evaluated in
the solution notebook. Question 6 is written and graded by hand with the rubric in the
solution's instructor cell; it has no tests here.
"""

_DW = (
    "torch.tensor([[[0.2, -0.1, 0.05], [0.0, 0.3, -0.2]], [[-0.4, 0.1, 0.0], [0.1, 0.1, 0.1]],"
    " [[0.05, -0.3, 0.2], [-0.2, 0.0, 0.4]]])"
)
_X0 = "torch.tensor([[1.0, -0.5, 2.0], [0.3, 0.0, -1.0]])"
_GRID = "torch.linspace(-3.0, 4.0, 57)"
_P = "torch.exp(-(torch.linspace(-3.0, 4.0, 57) - 0.5) ** 2 / 1.7) * (1 + 0.2 * torch.sin(torch.linspace(-3.0, 4.0, 57)))"
_MEANS = "torch.tensor([[1.0, 1.0, 0.0], [-2.0, 0.5, 1.0], [0.0, -1.0, -1.5], [3.0, 0.0, 0.5]])"
_W = "torch.tensor([0.1, 0.4, 0.3, 0.2])"
_XQ = "torch.tensor([[0.2, 0.1, -0.3], [2.5, -1.0, 0.0], [-1.0, 1.0, 1.0]])"
_SCORE = "torch.tensor([[0.5, -1.0, 0.2], [1.5, 0.0, -0.7], [-0.3, 0.4, 2.0]])"
_VP_T03 = "(0.07753, 0.99699, 0.71352, -0.05549)"  # alpha, sigma, their derivatives (made up)

QUESTIONS = [
    {
        "id": "q1",
        "title": "an Euler-Maruyama sampler",
        "points": 3,
        "tests": [
            {
                "name": "nonlinear time-dependent drift and diffusion in 3-D, 3 steps",
                "points": 2,
                "expr": (
                    f"euler_maruyama(lambda t, x: torch.sin(x) - t * x, lambda t, x: 0.5 + t * torch.cos(x),"
                    f" {_X0}, {_DW}, 0.2)"
                ),
                "rtol": 1e-10,
                "atol": 1e-12,
                "expects": "x_{k+1} = x_k + f(kh, x_k) h + g(kh, x_k) * dW[k], shape (batch, d)",
            },
            {
                "name": "one evaluation of f and of g per step",
                "points": 1,
                "expr": (
                    "(lambda c: (euler_maruyama(lambda t, x: (c.append(t), 0 * x)[1],"
                    " lambda t, x: 0 * x + 1, torch.zeros(2, 2), torch.zeros(5, 2, 2), 0.1), c)[1])([])"
                ),
                "rtol": 1e-12,
                "atol": 1e-12,
                "expects": "f called once per step, at t = 0, h, 2h, ...",
            },
        ],
    },
    {
        "id": "q2",
        "title": "the Fokker-Planck right-hand side on a grid",
        "points": 4,
        "tests": [
            {
                "name": "a skewed density with a nonlinear drift",
                "points": 2.5,
                "expr": f"fp_rhs({_P}, {_GRID}, {_GRID} - {_GRID} ** 3 / 4, 0.7)",
                "rtol": 1e-9,
                "atol": 1e-10,
                "expects": "central differences of -(mu p)' + (sigma^2 / 2) p'' at interior points",
            },
            {
                "name": "end points are zero and the input is not modified",
                "points": 1.5,
                "expr": (
                    f"(lambda p: [*fp_rhs(p, {_GRID}, 0 * {_GRID} + 1.0, 1.3)[[0, -1]].tolist(),"
                    f" float((p - {_P}).abs().max()),"
                    # and the interior depends on sigma (zeros or a fixed array do not)
                    f" float((fp_rhs(p, {_GRID}, 0 * {_GRID} + 1.0, 1.3)[1:-1]"
                    f" - fp_rhs(p, {_GRID}, 0 * {_GRID} + 1.0, 0.7)[1:-1]).abs().max() > 1e-8)])({_P})"
                ),
                "rtol": 0,
                "atol": 1e-14,
                "expects": "0 at both ends, interior values that depend on sigma; p itself left unchanged",
            },
        ],
    },
    {
        "id": "q3",
        "title": "the score of a Gaussian mixture",
        "points": 3,
        "tests": [
            {
                "name": "four components in 3-D with unequal weights",
                "points": 2,
                "expr": f"mixture_score({_XQ}, {_MEANS}, 0.8, {_W})",
                "rtol": 1e-9,
                "atol": 1e-12,
                "expects": "sum_j r_j(x) (mu_j - x) / std^2 with softmax posterior weights",
            },
            {
                "name": "far from every mean (underflow)",
                "points": 1,
                "expr": f"mixture_score(torch.tensor([[80.0, -60.0, 10.0]]), {_MEANS}, 0.05, {_W})",
                "rtol": 1e-9,
                "atol": 1e-6,
                "expects": "finite, correct values when every exp(...) underflows",
            },
        ],
    },
    {
        "id": "q4",
        "title": "velocity and score of a Gaussian path",
        "points": 4,
        "tests": [
            {
                "name": "velocity from score, VP-like schedule values",
                "points": 1.5,
                "expr": f"velocity_from_score({_XQ}, {_SCORE}, *{_VP_T03})",
                "rtol": 1e-10,
                "atol": 1e-12,
                "expects": "(a'/a) x + ((a'/a) sigma^2 - sigma sigma') score",
            },
            {
                "name": "score from velocity, VE-like schedule (alpha = 1)",
                "points": 1.5,
                "expr": f"score_from_velocity({_XQ}, {_SCORE}, 1.0, 0.8, 0.0, -1.3)",
                "rtol": 1e-10,
                "atol": 1e-12,
                "expects": "the inverse of velocity_from_score",
            },
            {
                "name": "the two are inverse to each other",
                "points": 1,
                "expr": (
                    f"score_from_velocity({_XQ}, velocity_from_score({_XQ}, {_SCORE}, 0.3, 0.7, 1.0, -1.0),"
                    " 0.3, 0.7, 1.0, -1.0)"
                ),
                "rtol": 1e-10,
                "atol": 1e-12,
                "expects": "score_from_velocity(velocity_from_score(s)) = s",
            },
        ],
    },
    {
        "id": "q5",
        "title": "end to end: a small diffusion model, two samplers",
        "points": 6,
        "tests": [
            {
                "name": "noise-prediction loss of a fixed linear model",
                "points": 1.5,
                "expr": (
                    "float(eps_loss(lambda t, x: x @ torch.tensor([[0.3, -0.2], [0.1, 0.6]]) + t[:, None],"
                    " torch.tensor([[1.0, -1.0], [0.5, 2.0], [-1.5, 0.0]]),"
                    " torch.tensor([0.1, 0.6, 0.95]), torch.tensor([[0.2, 0.3], [-1.0, 0.5], [0.0, -0.4]])))"
                ),
                "rtol": 1e-10,
                "atol": 1e-12,
                "expects": "mean over the batch of |model(t, alpha_t x1 + sigma_t eps) - eps|^2",
            },
            {
                "name": "reverse drift and probability-flow velocity with a nonlinear score",
                "points": 1.5,
                "expr": (
                    "[reverse_drift(0.7, torch.tensor([[0.5, -1.0], [2.0, 0.3]]), lambda t, x: torch.tanh(x) - t * x),"
                    " pf_velocity(0.7, torch.tensor([[0.5, -1.0], [2.0, 0.3]]), lambda t, x: torch.tanh(x) - t * x)]"
                ),
                "rtol": 1e-10,
                "atol": 1e-12,
                "expects": "(beta(1 - t) / 2) (x + 2 score) and (beta(1 - t) / 2) (x + score)",
            },
            {
                "name": "reverse-SDE samples within 6x the floor",
                "points": 1.5,
                "expr": "float(ed_sde) if tuple(x_sde.shape) == (1000, 2) else 1e9",
                "kind": "max",
                "bound": 6.0,
                "expects": "1000 reverse-SDE samples whose ED / floor is at most 6",
            },
            {
                "name": "probability-flow ODE samples within 6x the floor",
                "points": 1.5,
                "expr": "float(ed_ode) if tuple(x_ode.shape) == (1000, 2) else 1e9",
                "kind": "max",
                "bound": 6.0,
                "expects": "1000 probability-flow samples whose ED / floor is at most 6",
            },
        ],
    },
]

# written questions, graded by hand (course-grade review / merge; docs/GRADING.md)
MANUAL = [
    {"id": "q6", "title": "Langevin mixing and the two orders of Euler-Maruyama", "points": 3}
]
