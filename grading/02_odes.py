"""Hidden tests for 02_odes (instructor only).

Every ``expr`` is evaluated in the student's namespace and in the solution's; the values
are compared in the grader process. The probes use fields, times, step sizes and
matrices that differ from the public checks.
"""

_D = "dtype=torch.float64"
# A nonlinear time-dependent scalar field, a nonlinear time-dependent 2-D field, a batch.
_F1 = "(lambda t, x: torch.cos(torch.as_tensor(t)) * x ** 2 - 0.5 * x)"
_F2 = (
    "(lambda t, x: torch.stack([x[:, 1] * torch.exp(-torch.as_tensor(t)), "
    "-torch.sin(x[:, 0]) + 0.4 * torch.as_tensor(t)], dim=1))"
)
_X2 = f"torch.tensor([[0.3, -0.7], [1.2, 0.4], [-0.5, 2.0], [0.0, 0.1]], {_D})"
# A damped rotation x' = x A^T with its exact flow, for measured orders.
_A = f"torch.tensor([[0.0, 1.0], [-1.0, -0.2]], {_D})"
_LIN = f"(lambda t, x: x @ {_A}.T)"
_LIN_X0 = f"torch.tensor([[1.0, 0.0]], {_D})"
_LIN_EXACT = f"({_LIN_X0} @ torch.linalg.matrix_exp(1.5 * {_A}).T)"
_NS = "[20, 40, 80, 160]"
_HE = f"heun_euler_adaptive({_F2}, {_X2}, 0.0, 1.0, 1e-5, 1e-8, 0.5)"

QUESTIONS = [
    {
        "id": "q1",
        "title": "one Euler step and one RK4 step for batched fields",
        "points": 4,
        "tests": [
            {
                "name": "Euler step on a hidden nonlinear field",
                "points": 1,
                "expr": f"euler_step({_F1}, 0.3, torch.tensor([[0.5, -1.0, 2.0]], {_D}), 0.07)",
                "rtol": 1e-9,
                "atol": 1e-12,
                "expects": "x + h v(t, x), a tensor shaped like x",
            },
            {
                "name": "RK4 step on a hidden time-dependent 2-D field",
                "points": 2,
                "expr": f"rk4_step({_F2}, 0.4, {_X2}, 0.15)",
                "rtol": 1e-9,
                "atol": 1e-12,
                "expects": "the classical RK4 step, stages at t, t + h/2, t + h/2, t + h",
            },
            {
                "name": "RK4 step with a negative h",
                "points": 1,
                "expr": f"rk4_step({_F2}, 1.0, {_X2}, -0.2)",
                "rtol": 1e-9,
                "atol": 1e-12,
                "expects": "the same formula with h < 0 (a step backwards in time)",
            },
        ],
    },
    {
        "id": "q2",
        "title": "a fixed-step solver, forwards and backwards",
        "points": 4,
        "tests": [
            {
                "name": "Euler on dx/dt = -2x, a batch of two points",
                "points": 1,
                "expr": f"solve(euler_step, decay, torch.tensor([[1.5], [-2.0]], {_D}), 0.0, 0.7, 7)",
                "rtol": 1e-9,
                "atol": 1e-12,
                "expects": "n Euler steps of size (t1 - t0) / n",
            },
            {
                "name": "RK4 forwards on a hidden time-dependent field",
                "points": 1,
                "expr": f"solve(rk4_step, {_F2}, {_X2}, 0.2, 1.7, 30)",
                "rtol": 1e-9,
                "atol": 1e-12,
                "expects": "steps starting at t0 + k h, k = 0, ..., n - 1",
            },
            {
                "name": "RK4 backwards on a hidden time-dependent field",
                "points": 1,
                "expr": f"solve(rk4_step, {_F2}, {_X2}, 1.5, -0.5, 25)",
                "rtol": 1e-9,
                "atol": 1e-12,
                "expects": "with t1 < t0 the step h is negative and the times decrease",
            },
            {
                "name": "Euler backwards on a hidden nonlinear field",
                "points": 1,
                "expr": f"solve(euler_step, {_F1}, torch.tensor([[0.4, -0.3]], {_D}), 1.0, 0.0, 13)",
                "rtol": 1e-9,
                "atol": 1e-12,
                "expects": "Euler steps of size -1/13 starting at t = 1",
            },
        ],
    },
    {
        "id": "q3",
        "title": "measure an order of convergence",
        "points": 4,
        "tests": [
            {
                "name": "midpoint slope on y' = cos(t) y",
                "points": 2,
                "expr": (
                    "measured_order(midpoint_step, lambda t, x: torch.cos(torch.as_tensor(t)) * x, "
                    f"torch.tensor([[1.0]], {_D}), 2.0, math.exp(math.sin(2.0)), [10, 20, 40, 80])"
                ),
                "rtol": 1e-6,
                "atol": 1e-9,
                "expects": "the least-squares slope of log(max error) against log(h = t1 / n)",
            },
            {
                "name": "Euler's order on a damped rotation is within 0.2 of 1",
                "points": 1,
                # + 1 unless RK4 measures well above Euler: a constant order cannot pass
                "expr": (
                    f"abs(measured_order(euler_step, {_LIN}, {_LIN_X0}, 1.5, {_LIN_EXACT}, {_NS}) - 1)"
                    f" + float(not measured_order(rk4_step, {_LIN}, {_LIN_X0}, 1.5, {_LIN_EXACT}, "
                    f"{_NS}) > 2.5)"
                ),
                "kind": "max",
                "bound": 0.2,
                "expects": "a measured order close to 1 for Euler",
            },
            {
                "name": "RK4's order on a damped rotation is within 0.2 of 4",
                "points": 1,
                "expr": f"abs(measured_order(rk4_step, {_LIN}, {_LIN_X0}, 1.5, {_LIN_EXACT}, {_NS}) - 4)",
                "kind": "max",
                "bound": 0.2,
                "expects": "a measured order close to 4 for RK4",
            },
        ],
    },
    {
        "id": "q4",
        "title": "the stability limit of explicit Euler",
        "points": 4,
        "tests": [
            {
                "name": "limit for a stiff diagonal matrix",
                "points": 1,
                "expr": "euler_stability_limit(np.diag([-1.0, -50.0]))",
                "expects": "min over eigenvalues of -2 Re(lambda) / |lambda|^2, a float",
            },
            {
                "name": "limit for complex eigenvalues",
                "points": 1,
                "expr": "euler_stability_limit([[-1.0, 3.0], [-3.0, -1.0]])",
                "expects": "complex eigenvalues -1 +- 3i: use their real part and modulus",
            },
            {
                "name": "growth just below and above the stiff limit",
                "points": 1,
                "expr": "[euler_grows(np.diag([-1.0, -50.0]), h) for h in (0.038, 0.042)]",
                "kind": "equal",
                "expects": "[False, True]-style answers: bools from 200 Euler steps from ones",
            },
            {
                "name": "growth just below and above the complex limit",
                "points": 1,
                "expr": "[euler_grows([[-1.0, 3.0], [-3.0, -1.0]], h) for h in (0.19, 0.21)]",
                "kind": "equal",
                "expects": "bools: does the norm after 200 Euler steps exceed the initial norm?",
            },
        ],
    },
    {
        "id": "q5",
        "title": "backwards integration and the round-trip error",
        "points": 4,
        "tests": [
            {
                "name": "Euler round trip on a hidden field",
                "points": 1,
                "expr": f"round_trip_error(euler_step, {_F2}, {_X2}, 40)",
                "rtol": 1e-6,
                "atol": 1e-14,
                "expects": "max |x0_hat - x0| after n steps from 0 to 1 and n steps back",
            },
            {
                "name": "RK4 round trip on a hidden field",
                "points": 1,
                "expr": f"round_trip_error(rk4_step, {_F2}, {_X2}, 20)",
                "rtol": 1e-6,
                "atol": 1e-14,
                "expects": "the same with RK4 (a small number, not exactly 0)",
            },
            {
                "name": "dopri5 round-trip error",
                "points": 1,
                "expr": f"round_trip_dopri5({_F2}, {_X2}, 1e-6)[0]",
                "rtol": 1e-6,
                "atol": 1e-14,
                "expects": "odeint with rtol = atol = tol from t=0 to 1, then from t=1 to 0",
            },
            {
                "name": "dopri5 NFE of both solves",
                "points": 1,
                "expr": f"round_trip_dopri5({_F2}, {_X2}, 1e-6)[1]",
                "kind": "equal",
                "expects": "the sum of last_stats().nfe of the forward and the backward solve, an int",
            },
        ],
    },
    {
        "id": "q6",
        "title": "adaptive step-size control",
        "points": 4,
        "tests": [
            {
                "name": "error norm on hidden tensors",
                "points": 1,
                "expr": (
                    f"error_norm(torch.tensor([[3e-5, -1e-4], [0.0, 2e-5]], {_D}), "
                    f"torch.tensor([[2.0, -0.1], [0.0, 5.0]], {_D}), "
                    f"torch.tensor([[1.5, 0.3], [1e-3, -4.0]], {_D}), 1e-4, 1e-6)"
                ),
                "rtol": 1e-9,
                "expects": "sqrt(mean((err / (atol + rtol max(|x_old|, |x_new|)))^2)) over all entries",
            },
            {
                "name": "next step size, including clipping and err = 0",
                "points": 1,
                "expr": (
                    "[next_step_size(0.2, 0.5, 4), next_step_size(0.05, 1e-9, 2), "
                    "next_step_size(0.3, 1e4, 1), next_step_size(0.1, 0.0, 1), "
                    "next_step_size(0.25, 2.0, 2)]"
                ),
                "rtol": 1e-9,
                "expects": "h min(10, max(0.2, 0.9 err^(-1/(p+1)))), and 10 h when err = 0",
            },
            {
                "name": "adaptive Heun-Euler final state",
                "points": 1,
                "expr": f"{_HE}[0]",
                "rtol": 1e-4,
                "atol": 1e-6,
                "expects": "the state at t1 from accepted Heun steps",
            },
            {
                "name": "adaptive Heun-Euler accepted and rejected steps",
                "points": 1,
                "expr": f"[int(n) for n in {_HE}[1:]]",
                "kind": "equal",
                "expects": "[n_accepted, n_rejected] of the reference controller (accept when the norm is below 1)",
            },
        ],
    },
    {
        "id": "q8",
        "title": "reach a target error with the fewest evaluations",
        "points": 4,
        "tests": [
            {
                "name": "max error at t = 3 on hidden starting points",
                "points": 2,
                # two batches: an answer that returns one fixed result fails the second
                "expr": (
                    "max(float((integrate_to_target(swirl, X) - reference_end(X)).abs().max())"
                    " for X in (torch.randn(64, 2, generator=torch.Generator().manual_seed(1234)),"
                    " torch.randn(64, 2, generator=torch.Generator().manual_seed(4321))))"
                ),
                "kind": "max",
                "bound": 1e-6,
                "expects": "max |x(3) - reference| <= 1e-6 for any standard-normal batch",
            },
            {
                "name": "field evaluations within the budget",
                "points": 1,
                # counted only when the answer also meets the error target on that batch
                # (a constant calls the field 0 times)
                "expr": (
                    "(lambda c, X: (lambda out: c.n if float((out - reference_end(X)).abs().max())"
                    " <= 1e-6 else 10**9)(integrate_to_target(c, X)))(CountingField(swirl),"
                    " torch.randn(64, 2, generator=torch.Generator().manual_seed(99)))"
                ),
                "kind": "max",
                "bound": 320,
                "expects": "at most 320 calls of the field for a batch of 64 points, error target met",
            },
            {
                "name": "reported NFE and error are measured",
                "points": 1,
                "expr": (
                    "(lambda c: (lambda err: max(abs(e2e_nfe - c.n) / max(c.n, 1),"
                    " abs(e2e_error - err) / max(err, 1e-300)))"
                    "(float((integrate_to_target(c, x0_e2e) - reference_end(x0_e2e)).abs().max())))"
                    "(CountingField(swirl))"
                ),
                "kind": "max",
                "bound": 0.01,
                "expects": "e2e_nfe and e2e_error as measured for integrate_to_target on x0_e2e",
            },
        ],
    },
]


# Written questions, graded by hand (course-grade review / merge, docs/GRADING.md).
MANUAL = [{"id": "q7", "title": "predict a stiff experiment", "points": 3}]
