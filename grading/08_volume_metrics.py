"""Hidden tests for 08_volume_metrics (instructor only).

Each ``expr`` runs in the student's namespace and in the solution's; values are compared
in the grader process. Inputs differ from the public checks.
"""

_G = "torch.Generator().manual_seed(11)"
_X = "torch.tensor([[0.7, -1.1], [2.0, 0.3], [-0.5, -0.5]], dtype=torch.float64)"
_B = "torch.tensor([[0.2, 0.9], [-0.7, 0.1]], dtype=torch.float64)"
_LIN = f"(lambda t, x: x @ {_B}.T)"
_X4 = "torch.tensor([[0.3, 0.2], [-1.0, 0.5], [1.5, -0.8], [0.0, -2.0]], dtype=torch.float64)"
# q7: the model log-density of the held-out points by the augmented Jacobian recursion
# (the limit of the student's circle areas as the radius goes to 0), and the log-volume change
_ZJ = "cu.volume.reverse_map_with_jacobian(v_e2e, x_e2e, N_E2E)"
_LOGDET = f"torch.linalg.slogdet({_ZJ}[1]).logabsdet"
_LOGP = (
    f"(lambda zj: -0.5 * (zj[0] ** 2).sum(1) - np.log(2 * np.pi)"
    f" + torch.linalg.slogdet(zj[1]).logabsdet)({_ZJ})"
)

QUESTIONS = [
    {
        "id": "q1",
        "title": "uniform points on a sphere",
        "points": 3,
        "tests": [
            {
                "name": "points lie on the sphere",
                "points": 1,
                "expr": f"float(sample_sphere(2000, 7, 0.5, {_G}).norm(dim=1).sub(0.5).abs().max())",
                "kind": "max",
                "bound": 1e-9,
                "expects": "every point at distance `radius` from the origin",
            },
            {
                "name": "shape and dtype",
                "points": 1,
                "expr": f"[list(sample_sphere(13, 5, 1.0, {_G}).shape), str(sample_sphere(3, 5, 1.0, {_G}).dtype)]",
                "kind": "equal",
                "expects": "an (n, d) float64 tensor",
            },
            {
                "name": "uniformity (mean 0, covariance r^2/d I, fourth moments 3/(d(d+2)))",
                "points": 1,
                # the fourth moments of u / r along an axis and along the diagonal catch
                # samplers that favour the axes (e.g. normalised randn**3: 0.27 against 0.2)
                "expr": (
                    f"(lambda s, u: float(max((s.T @ s / s.shape[0] - 0.25 / 3 * torch.eye(3, dtype=torch.float64)).abs().max(),"
                    f" s.mean(0).abs().max(), (u[:, 0] ** 4).mean().sub(0.2).abs(),"
                    f" (u.sum(1) ** 4 / 9).mean().sub(0.2).abs())))"
                    f"(sample_sphere(60000, 3, 0.5, {_G}), sample_sphere(60000, 3, 0.5, {_G}) / 0.5)"
                ),
                "kind": "max",
                "bound": 0.01,
                "expects": "uniform directions: mean 0, covariance radius^2/d I and fourth moments "
                "3/(d(d+2)) of u/radius along any unit vector, within Monte Carlo error",
            },
        ],
    },
    {
        "id": "q2",
        "title": "the reverse map by Euler",
        "points": 3,
        "tests": [
            {
                "name": "hidden linear field",
                "points": 1,
                "expr": f"reverse_map({_LIN}, {_X}, 17)",
                "rtol": 1e-10,
                "atol": 1e-12,
                "expects": "x ((I - B/N)^N)^T for the linear field v = B x",
            },
            {
                "name": "non-linear time-dependent field",
                "points": 2,
                "expr": f"reverse_map(lambda t, x: torch.sin(x.flip(1) * (1 + t)), {_X}, 12)",
                "rtol": 1e-10,
                "atol": 1e-12,
                "expects": "Euler steps x - h v(t_k, x) at t_k = 1, 1 - h, ..., h",
            },
        ],
    },
    {
        "id": "q3",
        "title": "one step of the augmented Jacobian ODE",
        "points": 3,
        "tests": [
            {
                "name": "x_new",
                "points": 1,
                "expr": f"augmented_step(tanh_field, 0.7, {_X}[0], {_B}, 0.05)[0]",
                "rtol": 1e-10,
                "atol": 1e-12,
                "expects": "x - h v(t, x)",
            },
            {
                "name": "J_new",
                "points": 2,
                "expr": f"augmented_step(tanh_field, 0.7, {_X}[0], {_B}, 0.05)[1]",
                "rtol": 1e-9,
                "atol": 1e-11,
                "expects": "(I - h Dv(t, x)) J, with Dv the Jacobian of v in x at time t",
            },
        ],
    },
    {
        "id": "q4",
        "title": "latent-space metrics",
        "points": 3,
        "tests": [
            {
                "name": "D0, C0, S0 on hidden points",
                "points": 3,
                "expr": (
                    "list(latent_metrics(torch.tensor([[1.0, 0.0], [0.0, 2.0], [1.0, 1.0]], dtype=torch.float64),"
                    " torch.tensor([[1.5, 0.0], [0.0, 1.0], [0.0, 1.0]], dtype=torch.float64),"
                    " torch.tensor([0.5, 0.5], dtype=torch.float64)))"
                ),
                "rtol": 1e-10,
                "atol": 1e-12,
                "expects": "means over points of |x0 - x0_lin|, |x0 - xc0|, |x0_lin - xc0|",
            },
        ],
    },
    {
        "id": "q5",
        "title": "l2 distance from cosine similarity",
        "points": 2,
        "tests": [
            {
                "name": "floats",
                "points": 1,
                "expr": "float(l2_from_cosine(-0.3, 2.0, 0.5))",
                "rtol": 1e-10,
                "expects": "sqrt(nx^2 + ny^2 - 2 s nx ny)",
            },
            {
                "name": "tensors",
                "points": 1,
                "expr": (
                    "l2_from_cosine(torch.tensor([1.0, 0.0, -1.0], dtype=torch.float64),"
                    " torch.tensor([1.0, 3.0, 2.0], dtype=torch.float64),"
                    " torch.tensor([1.0, 4.0, 2.0], dtype=torch.float64))"
                ),
                "rtol": 1e-10,
                "atol": 1e-10,
                "expects": "elementwise distances; identical vectors give 0",
            },
        ],
    },
    {
        "id": "q7",
        "title": "which group does the flow model badly?",
        "points": 5,
        "tests": [
            {
                "name": "log volume change, linear field",
                "points": 1,
                "expr": f"log_volume_change({_LIN}, {_X4}, 0.25, 10, 6)",
                "rtol": 1e-8,
                "atol": 1e-10,
                "expects": "log|det (I - B/N)^N| at every point: a linear map scales every area by |det|",
            },
            {
                "name": "log volume change against log|det J|, non-linear field",
                "points": 1,
                "expr": (
                    f"(lambda X: float((log_volume_change(tanh_field, X, 0.01, 64, 10) - torch.linalg.slogdet("
                    f"cu.volume.reverse_map_with_jacobian(tanh_field, X, 10)[1]).logabsdet).abs().max()))({_X4})"
                ),
                "kind": "max",
                "bound": 5e-3,
                "expects": "for a small circle the area ratio of the exact image is |det J_phi| to O(r^2)",
            },
            {
                "name": "the model log-densities of the held-out points",
                "points": 1,
                "expr": f"float((logp_model - {_LOGP}).abs().max())",
                "kind": "max",
                "bound": 0.05,
                "expects": "log N(phi(x); 0, I) + log volume change, shape (300,), within 0.05 nats",
            },
            {
                "name": "the worst modelled group, from the measured errors",
                "points": 1,
                "expr": (
                    f"(lambda e: int(worst) if max(abs(group_err[k] - float(e[group_e2e == k].mean()))"
                    f" for k in range(3)) < 0.05 else -1)({_LOGP} - truth_e2e.log_prob(x_e2e))"
                ),
                "kind": "equal",
                "expects": "group_err: mean model-minus-true log-density per group; worst: its argmin",
            },
            {
                "name": "does the reverse map shrink the badly modelled group?",
                "points": 1,
                "expr": (
                    "(lambda lv: shrinks if isinstance(shrinks, bool) and max(abs(group_logvol[k]"
                    f" - float(lv[group_e2e == k].mean())) for k in range(3)) < 0.05 else None)({_LOGDET})"
                ),
                "kind": "equal",
                "expects": "group_logvol: mean log volume change per group; shrinks: the bool read from it",
            },
        ],
    },
]


# Written questions, graded by hand (course-grade review / merge, docs/GRADING.md).
MANUAL = [{"id": "q6", "title": "when does the linearised map tell the truth?", "points": 3}]
