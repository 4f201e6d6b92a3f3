"""Hidden tests for 07_flow_matching (instructor only).

Every probe uses inputs that differ from the public checks (other points, dimensions,
times, sigma_min, data sets). Values are compared with the same expression evaluated in
the solution notebook.
"""

_X0 = "torch.tensor([[0.3, -1.2, 0.5], [2.0, 0.1, -0.7], [-0.4, 0.9, 1.5], [0.0, 0.0, 1.0]])"
_X1 = "torch.tensor([[1.0, 1.0, -1.0], [-0.5, 2.5, 0.2], [0.6, -0.3, 0.8], [3.0, 0.0, -2.0]])"
_T = "torch.tensor([0.0, 0.35, 0.8, 1.0])"
_DATA4 = "torch.tensor([[1.5, 0.5], [-1.0, -1.0], [0.3, 2.0], [-2.0, 0.7]])"
_XQ4 = "torch.tensor([[0.1, 0.1], [1.2, -0.4], [-2.5, 1.0], [0.0, 3.0], [0.5, 0.5]])"
_DATA3D = "torch.tensor([[1.0, 0.0, -1.0], [0.5, 2.0, 0.0], [-1.0, -1.0, 1.0]])"
_XQ3D = "torch.tensor([[0.2, -0.3, 0.4], [1.0, 1.0, 1.0]])"
_LIN = "(lambda t, x: x @ torch.tensor([[0.5, -1.0, 0.2], [0.3, 0.8, -0.4], [0.0, 0.1, 1.1]]) + t[:, None])"
_PAIR_A = "torch.tensor([[0.0, 0.0], [3.0, 1.0], [-2.0, 2.0], [1.0, -3.0], [0.5, 0.5], [4.0, 4.0], [-1.0, -1.0]])"
_PAIR_B = "torch.tensor([[3.5, 4.0], [-1.5, 1.5], [0.2, 0.1], [2.5, 1.5], [1.2, -2.0], [-0.5, -1.5], [0.0, 1.0]])"
_CURVE = (
    "torch.stack([torch.stack([torch.linspace(0, 1, 101), torch.linspace(0, 1, 101) ** 2], 1),"
    " torch.stack([torch.sin(torch.linspace(0, 1, 101)), torch.linspace(0, 2, 101)], 1)], 1)"
)

# q8: the grader samples the student's two models again with its own Euler loop (float
# times k / n, as in the task) and measures the quality with the given held-out set
_EULER = (
    "(lambda m, n: __import__('functools').reduce("
    "lambda x, k: (x + m(k / n, x) / n).detach(), range(n), z_e2e))"
)
_ED = f"(lambda m, n: cu.metrics.energy_distance({_EULER}(m, n), held_e2e) / floor_e2e)"
_CURVES = (
    f"(lambda ed: [[ed(m, n) for n in (1, 2, 4, 8, 16)] for m in (model_ind, model_ot)])({_ED})"
)
_NEEDED = (
    f"(lambda c: {{k: min([n for n, q in zip((1, 2, 4, 8, 16), row) if q <= 6.0], default=None)"
    f" for k, row in zip(('independent', 'ot'), c)}})({_CURVES})"
)

QUESTIONS = [
    {
        "id": "q1",
        "title": "the OT conditional path and its regression target",
        "points": 3,
        "tests": [
            {
                "name": "x_t in 3-D, sigma_min = 0.1, t from 0 to 1",
                "points": 1.5,
                "expr": f"sample_xt({_X0}, {_X1}, {_T}, 0.1)",
                "rtol": 1e-10,
                "atol": 1e-12,
                "expects": "(1 - (1 - sigma_min) t) x0 + t x1 row by row, shape (batch, d)",
            },
            {
                "name": "target in 3-D, sigma_min = 0",
                "points": 1.5,
                "expr": f"target({_X0}, {_X1}, {_T}, 0.0)",
                "rtol": 1e-10,
                "atol": 1e-12,
                "expects": "x1 - (1 - sigma_min) x0, shape (batch, d)",
            },
        ],
    },
    {
        "id": "q2",
        "title": "which conditional trajectories are straight?",
        "points": 4,
        "tests": [
            {
                "name": "off-chord distance of a parabola",
                "points": 1.5,
                "expr": (
                    "max_off_chord(torch.stack([torch.linspace(0, 1, 101),"
                    " torch.linspace(0, 1, 101) ** 2], 1))"
                ),
                "rtol": 1e-8,
                "atol": 1e-12,
                "expects": "the largest distance from the line through the first and last points",
            },
            {
                "name": "a straight segment with uneven spacing",
                "points": 0.5,
                # with a bent path: a function that always returns 0 does not pass
                "expr": (
                    "[max_off_chord(torch.tensor([[1.0, 2.0], [1.3, 1.4], [2.0, 0.0],"
                    " [1.1, 1.8], [3.0, -2.0]])), max_off_chord(torch.tensor([[0.0, 0.0],"
                    " [1.0, 1.0], [2.0, 0.0]]))]"
                ),
                "atol": 1e-10,
                "expects": (
                    "0 for points on one line, even if unevenly spaced or not in order "
                    "(and not 0 for a bent path)"
                ),
            },
            {
                "name": "which paths are straight",
                "points": 2,
                "expr": "[bool(straight['ot']), bool(straight['vp']), bool(straight['ve'])]",
                "kind": "equal",
                "expects": "the correct verdict for each of the three conditional trajectories",
            },
        ],
    },
    {
        "id": "q3",
        "title": "the conditional flow matching loss",
        "points": 3,
        "tests": [
            {
                "name": "loss of a linear model in 3-D",
                "points": 2,
                "expr": f"float(cfm_loss({_LIN}, {_X0}, {_X1}, {_T}, 0.05))",
                "rtol": 1e-10,
                "atol": 1e-12,
                "expects": "mean over the batch of the squared norm of v(t, x_t) - target",
            },
            {
                "name": "gradient with respect to a weight matrix",
                "points": 1,
                "expr": (
                    "(lambda W: torch.autograd.grad(cfm_loss(lambda t, x: x @ W, "
                    f"{_X0}, {_X1}, {_T}, 0.05), W)[0])"
                    "(torch.tensor([[0.5, -1.0, 0.2], [0.3, 0.8, -0.4], [0.0, 0.1, 1.1]],"
                    " requires_grad=True))"
                ),
                "rtol": 1e-9,
                "atol": 1e-12,
                "expects": "a loss that back-propagates into the model's parameters",
            },
        ],
    },
    {
        "id": "q4",
        "title": "the closed-form marginal field of a small data set",
        "points": 5,
        "tests": [
            {
                "name": "four 2-D points at t = 0.5",
                "points": 1.5,
                "expr": f"marginal_field(0.5, {_XQ4}, {_DATA4}, 0.05)",
                "rtol": 1e-9,
                "atol": 1e-12,
                "expects": "the softmax-weighted average of the conditional OT fields",
            },
            {
                "name": "three 3-D points at t = 0.2",
                "points": 1.5,
                "expr": f"marginal_field(0.2, {_XQ3D}, {_DATA3D}, 0.1)",
                "rtol": 1e-9,
                "atol": 1e-12,
                "expects": "works in any dimension",
            },
            {
                "name": "far from the data (underflow)",
                "points": 1,
                "expr": f"marginal_field(0.9, torch.tensor([[50.0, -60.0], [-80.0, 5.0]]), {_DATA4}, 0.01)",
                "rtol": 1e-9,
                "atol": 1e-10,
                "expects": "finite, correct values where every exp(...) underflows (use a softmax)",
            },
            {
                "name": "close to t = 1",
                "points": 1,
                "expr": f"marginal_field(0.999, {_XQ4}, {_DATA4}, 0.001)",
                "rtol": 1e-8,
                "atol": 1e-9,
                "expects": "correct values when sigma_t is tiny",
            },
        ],
    },
    {
        "id": "q5",
        "title": "an Euler sampler",
        "points": 3,
        "tests": [
            {
                "name": "a time-dependent nonlinear field, 7 steps",
                "points": 2,
                "expr": (
                    "euler_sample(lambda t, x: math.sin(3 * t) * torch.tanh(x) + t,"
                    " torch.tensor([[0.5, -1.0, 2.0], [0.0, 0.3, -0.2]]), 7)"
                ),
                "rtol": 1e-10,
                "atol": 1e-12,
                "expects": "x_{k+1} = x_k + h v(k h, x_k) with h = 1 / n_steps",
            },
            {
                "name": "one evaluation per step (NFE = n_steps)",
                "points": 1,
                "expr": (
                    "(lambda c: (euler_sample(lambda t, x: (c.append(t), 0 * x)[1],"
                    " torch.ones(2, 2), 6), len(c))[1])([])"
                ),
                "kind": "equal",
                "expects": "exactly n_steps calls of the field",
            },
        ],
    },
    {
        "id": "q6",
        "title": "mini-batch OT pairing and straightness",
        "points": 4,
        "tests": [
            {
                "name": "optimal total cost on 7 pairs",
                "points": 1.5,
                "expr": f"float(((ot_pairing({_PAIR_A}, {_PAIR_B}) - {_PAIR_B}) ** 2).sum())",
                "rtol": 1e-10,
                "atol": 1e-12,
                "expects": "the smallest total squared distance over all reorderings of x0",
            },
            {
                "name": "the result is a reordering of x0",
                "points": 0.5,
                # the last row is 1 if x0 comes back unchanged (not reordered) for this input
                "expr": (
                    "(lambda r: torch.cat([torch.sort(r, dim=0).values, torch.full((1, r.shape[1]),"
                    f" float(torch.equal(r, {_PAIR_A})), dtype=r.dtype)]))"
                    f"(ot_pairing({_PAIR_A}, {_PAIR_B}))"
                ),
                "rtol": 0,
                "atol": 0,
                "expects": "the same rows as x0, in the order that pairs them with x1",
            },
            {
                "name": "straightness of two curves",
                "points": 2,
                "expr": f"straightness({_CURVE})",
                "rtol": 1e-9,
                "atol": 1e-12,
                "expects": "Liu et al.'s S with finite-difference velocities, averaged over the batch",
            },
        ],
    },
    {
        "id": "q8",
        "title": "independent versus OT coupling: quality against NFE",
        "points": 5,
        "tests": [
            {
                "name": "the curve is what your two models give",
                "points": 1,
                "expr": (
                    f"(lambda c: max(abs(float(a) - b) / b for mine, row in zip((curve['independent'],"
                    f" curve['ot']), c, strict=True) for a, b in zip(mine, row, strict=True)))({_CURVES})"
                ),
                "kind": "max",
                "bound": 1e-6,
                "expects": "curve[k][i] = quality of the Euler samples of z_e2e with NFE_GRID[i] steps",
            },
            {
                "name": "both models reach the target with 16 Euler steps",
                "points": 1,
                "expr": f"(lambda ed: max(ed(model_ind, 16), ed(model_ot, 16)))({_ED})",
                "kind": "max",
                "bound": 6.0,
                "expects": "energy distance / floor <= TARGET for both trained models at NFE 16",
            },
            {
                "name": "at 2 Euler steps the OT-coupled model is far better",
                "points": 1,
                "expr": f"(lambda ed: ed(model_ind, 2) / ed(model_ot, 2))({_ED})",
                "kind": "min",
                "bound": 5.0,
                "expects": "quality(independent) / quality(ot) >= 5 at NFE 2 (OT pairs each mini-batch)",
            },
            {
                "name": "nfe_needed read from the measured curve",
                "points": 1,
                "expr": f"bool(dict(nfe_needed) == {_NEEDED})",
                "kind": "equal",
                "expects": "per coupling, the smallest NFE in NFE_GRID with quality <= TARGET",
            },
            {
                "name": "the speedup of the OT coupling",
                "points": 1,
                "expr": (
                    "(lambda d: float(speedup) if d['ot'] and d['independent'] and"
                    f" abs(speedup - d['independent'] / d['ot']) < 1e-9 else -1.0)({_NEEDED})"
                ),
                "kind": "min",
                "bound": 2.0,
                "expects": "speedup = nfe_needed['independent'] / nfe_needed['ot'], at least 2 here",
            },
        ],
    },
]


# Written questions, graded by hand (course-grade review / merge, docs/GRADING.md).
MANUAL = [{"id": "q7", "title": "straight conditional paths, curved marginal paths", "points": 3}]
