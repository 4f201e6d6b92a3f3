"""Hidden tests for 03_change_of_variables (instructor only).

Every probe uses inputs that differ from the public checks. Values are compared with the
same expression evaluated in the solution notebook; ``max`` tests are property checks of
randomised answers (seeded inside the expression).
"""

# q8: the held-out NLL of the given sinh-arcsinh flow at parameters th, from the given map
# alone (its derivative by autograd), so that it does not depend on the student's formula
_REF_NLL = (
    "(lambda x, th: -float((log_normal(sinh_arcsinh(x, th)) + torch.log(torch.func.vmap("
    "torch.func.grad(lambda v: sinh_arcsinh(v.reshape(1, 1), th).sum()))(x[:, 0]))).mean()))"
)
_SOURCE_THETA = "torch.tensor([0.5, math.log(1.2), 0.8, math.log(0.7)])"

QUESTIONS = [
    {
        "id": "q1",
        "title": "the density of an affine map",
        "points": 3,
        "tests": [
            {
                "name": "3-D non-symmetric A",
                "points": 1.5,
                "expr": (
                    "affine_log_prob(torch.tensor([[0.5, -1.0, 2.0], [3.0, 0.0, -0.7]]),"
                    " torch.tensor([[1.0, 0.5, 0.0], [0.0, 2.0, -1.0], [0.3, 0.0, 1.5]]),"
                    " torch.tensor([0.1, -0.2, 0.3]))"
                ),
                "rtol": 1e-8,
                "atol": 1e-10,
                "expects": "log N(A^{-1}(x - b); 0, I) - log|det A| for every row, shape (batch,)",
            },
            {
                "name": "negative determinant",
                "points": 1,
                "expr": (
                    "affine_log_prob(torch.tensor([[1.0, 2.0], [-1.0, 0.0]]),"
                    " torch.tensor([[0.0, 2.0], [1.0, 0.0]]), torch.tensor([0.5, 0.5]))"
                ),
                "rtol": 1e-8,
                "atol": 1e-10,
                "expects": "the formula uses |det A| (A may have a negative determinant)",
            },
            {
                "name": "one dimension",
                "points": 0.5,
                "expr": (
                    "affine_log_prob(torch.tensor([[0.0], [4.0]]), torch.tensor([[-3.0]]),"
                    " torch.tensor([1.0]))"
                ),
                "rtol": 1e-8,
                "atol": 1e-10,
                "expects": "works for d = 1 (x of shape (batch, 1), A of shape (1, 1))",
            },
        ],
    },
    {
        "id": "q2",
        "title": "a log-determinant by hand and by autograd",
        "points": 4,
        "tests": [
            {
                "name": "by hand at new points",
                "points": 1.5,
                "expr": "log_det_by_hand(torch.tensor([[0.7, -0.3], [-2.0, 1.5], [0.0, 3.0]]))",
                "rtol": 1e-10,
                "atol": 1e-12,
                "expects": "log|det J_g2(z)| in closed form for every row, shape (batch,)",
            },
            {
                "name": "autograd on g2",
                "points": 1,
                "expr": "log_det_autograd(g2, torch.tensor([[0.7, -0.3], [-2.0, 1.5]]))",
                "rtol": 1e-10,
                "atol": 1e-12,
                "expects": "the autograd log|det| of g2 at every row, shape (batch,)",
            },
            {
                "name": "autograd on another 3-D map",
                "points": 1.5,
                "expr": (
                    "log_det_autograd(lambda z: torch.stack([z[:, 0] + z[:, 1] ** 2,"
                    " torch.sinh(z[:, 1]), z[:, 2] * torch.exp(z[:, 0])], dim=1),"
                    " torch.tensor([[0.2, -0.4, 1.0], [1.0, 0.5, -2.0]]))"
                ),
                "rtol": 1e-10,
                "atol": 1e-12,
                "expects": "a generic function: any row-wise map f, any dimension d",
            },
        ],
    },
    {
        "id": "q3",
        "title": "the density of a non-linear diffeomorphism",
        "points": 4,
        "tests": [
            {
                "name": "inverse at new points",
                "points": 1.5,
                "expr": "g2_inverse(torch.tensor([[1.5, -20.0], [-0.2, 0.01], [7.0, 3.0]]))",
                "rtol": 1e-9,
                "atol": 1e-12,
                "expects": "z with g2(z) = x for every row, shape (batch, 2)",
            },
            {
                "name": "log-density at new points",
                "points": 1.5,
                "expr": "log_prob_x(torch.tensor([[1.5, -2.0], [-0.2, 0.01], [3.0, 3.0]]))",
                "rtol": 1e-9,
                "atol": 1e-12,
                "expects": "log N(g2^{-1}(x); 0, I) - log|det J_g2(g2^{-1}(x))|, shape (batch,)",
            },
            {
                "name": "log-density far from the origin",
                "points": 1,
                "expr": "log_prob_x(torch.tensor([[40.0, 30.0], [-0.01, -12.0]]))",
                "rtol": 1e-8,
                "atol": 1e-10,
                "expects": "the same formula, accurate for large |x| too",
            },
        ],
    },
    {
        "id": "q4",
        "title": "a polar-coordinate map",
        "points": 4,
        "tests": [
            {
                "name": "log-determinant of the polar map",
                "points": 0.5,
                "expr": "polar_log_abs_det(torch.tensor([[0.1, 1.0], [3.0, 5.0]]))",
                "rtol": 1e-10,
                "atol": 1e-12,
                "expects": "log|det| of (r, t) -> (r cos t, r sin t) for every row",
            },
            {
                "name": "closed-form log-density",
                "points": 1.5,
                "expr": "polar_log_prob(torch.tensor([[0.3, -0.4], [-2.0, 5.0], [10.0, 0.0]]))",
                "rtol": 1e-10,
                "atol": 1e-12,
                "expects": "log p_X(x) for every row, shape (batch,)",
            },
            {
                "name": "sample shape",
                "points": 0.5,
                "expr": "list(sample_polar(7, torch.Generator().manual_seed(5)).shape)",
                "kind": "equal",
                "expects": "a tensor of shape (n, 2)",
            },
            {
                "name": "samples follow the density",
                "points": 1.5,
                # + 1 unless the shape is right and another seed gives other samples
                # (replaying one fixed sample passes the histogram alone)
                "expr": (
                    "(lambda s: cov.histogram_tv(s,"
                    " lambda x: -x.norm(dim=1) - math.log(2 * math.pi), 8.0, bins=20)"
                    " + (0.0 if tuple(s.shape) == (40_000, 2) and not torch.equal(s[:100],"
                    " sample_polar(100, torch.Generator().manual_seed(12))) else 1.0))"
                    "(sample_polar(40_000, torch.Generator().manual_seed(11)))"
                ),
                "kind": "max",
                "bound": 0.035,
                "expects": (
                    "40 000 samples (shape (40000, 2), depending on the generator) whose "
                    "histogram is within TV 0.035 of the true density"
                ),
            },
        ],
    },
    {
        "id": "q5",
        "title": "spot the non-invertible maps, then repair one",
        "points": 5,
        "tests": [
            {
                "name": "maps that are not one-to-one",
                "points": 1,
                "expr": "sorted(not_injective)",
                "kind": "equal",
                "expects": "the set of letters of the maps that are not injective on R^2",
            },
            {
                "name": "maps that are not diffeomorphisms",
                "points": 1,
                "expr": "sorted(not_diffeomorphism)",
                "kind": "equal",
                "expects": "the set of letters of the maps that are not diffeomorphisms onto "
                "their image (bijective with a differentiable inverse)",
            },
            {
                "name": "inverse of the repaired map",
                "points": 1,
                "expr": "inverse_c(torch.tensor([[-1.0, 1e-3], [0.5, -0.5], [0.0, 2.0]]))",
                "rtol": 1e-9,
                "atol": 1e-12,
                "expects": "z with g_c(z) = x and z2 in (-pi, pi] for every row, shape (batch, 2)",
            },
            {
                "name": "log-density of the repaired map",
                "points": 2,
                "expr": (
                    "log_prob_c(torch.tensor([[-1.0, 1e-3], [0.5, -0.5], [0.0, 2.0], [-2.4, -3.2]]))"
                ),
                "rtol": 1e-9,
                "atol": 1e-12,
                "expects": "log p_Z(z) - log|det J_c(z)| with z = inverse_c(x), shape (batch,)",
            },
        ],
    },
    {
        "id": "q6",
        "title": "a two-to-one map",
        "points": 3,
        "tests": [
            {
                "name": "log-density at new points",
                "points": 2,
                "expr": "log_prob_square(torch.tensor([[0.01], [0.5], [2.5], [16.0]]))",
                "rtol": 1e-8,
                "atol": 1e-10,
                "expects": "the sum over both preimages +-sqrt(x), in log space, shape (batch,)",
            },
            {
                "name": "near zero and far out",
                "points": 1,
                "expr": "log_prob_square(torch.tensor([[1e-6], [30.0]]))",
                "rtol": 1e-8,
                "atol": 1e-10,
                "expects": "accurate for very small and large x",
            },
        ],
    },
    {
        "id": "q8",
        "title": "fit a 1-D flow by change of variables",
        "points": 5,
        "tests": [
            {
                "name": "the change of variables at hidden parameters",
                "points": 1,
                "expr": (
                    "flow_log_prob(torch.tensor([[-3.0], [0.2], [1.5], [40.0]]),"
                    " torch.tensor([0.3, -0.4, -0.6, 0.2]))"
                ),
                "rtol": 1e-8,
                "atol": 1e-10,
                "expects": "log N(f(x); 0, 1) + log f'(x) for every row, shape (batch,)",
            },
            {
                "name": "the fitted density integrates to one, and mass is measured",
                "points": 1,
                "expr": (
                    "(lambda g: (lambda m: max(abs(m - 1), abs(mass - m)))(float(torch.trapezoid("
                    "torch.exp(flow_log_prob(g, theta_hat.detach())), g[:, 0]))))"
                    "(torch.linspace(-50.0, 50.0, 20001)[:, None])"
                ),
                "kind": "max",
                "bound": 2e-3,
                "expects": "the integral of exp(flow_log_prob) at theta_hat over [-50, 50] is 1 "
                "within 0.002, and mass is that integral",
            },
            {
                "name": "nll_flow is measured on x_test8",
                "points": 1,
                "expr": f"abs({_REF_NLL}(x_test8, theta_hat.detach()) - nll_flow)",
                "kind": "max",
                "bound": 1e-6,
                "expects": "nll_flow = - mean log p(x) over x_test8 at your fitted theta_hat",
            },
            {
                "name": "the fit is close to the source's own density",
                "points": 1,
                "expr": (
                    f"{_REF_NLL}(x_test8, theta_hat.detach()) - {_REF_NLL}(x_test8, {_SOURCE_THETA})"
                ),
                "kind": "max",
                "bound": 0.05,
                "expects": "held-out NLL at theta_hat within 0.05 nats of the source's own density "
                "(maximise the likelihood of x_train8, derivative term included)",
            },
            {
                "name": "the Gaussian baseline and the gain",
                "points": 1,
                "expr": (
                    "float(gain) if max(abs(nll_gauss + float(stats.norm(float(x_train8.mean()),"
                    " float(x_train8.std(unbiased=False))).logpdf(x_test8.numpy()).mean())),"
                    " abs(gain - (nll_gauss - nll_flow))) < 1e-6 else -1.0"
                ),
                "kind": "min",
                "bound": 0.2,
                "expects": "nll_gauss: the Gaussian MLE of x_train8 scored on x_test8; "
                "gain = nll_gauss - nll_flow, at least 0.2 nats",
            },
        ],
    },
]


# Written questions, graded by hand (course-grade review / merge, docs/GRADING.md).
MANUAL = [{"id": "q7", "title": "forgetting a preimage", "points": 3}]
