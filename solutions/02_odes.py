# %% [markdown]
# # 02 · ODE solvers — problem set (31 points)
#
# Six questions on the lecture `notebooks/02_odes.ipynb`. For each question, write your code
# in the **answer cell** (replace the `raise NotImplementedError(...)` line; keep the function
# names and signatures), run it, then run the **check cell** below it: each check prints
# `[PASS]` or a `[FAIL]` line saying what was expected.
#
# * The check cells test your answer on the examples given here. Your notebook is graded by
#   hidden tests on *other* fields, times and step sizes, so make your functions correct in
#   general. Points per test are stated with each question.
# * Conventions: a vector field is called as `v(t, x)` with `t` a Python float (or a 0-d
#   tensor) and `x` a float64 tensor of shape `(batch, dim)`; it returns the same shape.
#   Steps `h` may be negative (integration backwards in time).
# * Write the solvers yourself with torch operations. Use `cu.ode.odeint` only where a
#   question asks for it (question 5b); the check cells use it as an independent reference.
# * Run the notebook top to bottom before submitting (Kernel → Restart and run all); the
#   whole notebook runs in a few seconds.

# %%
import numpy as np
import torch
import matplotlib.pyplot as plt
import course_utils as cu

device = cu.setup(seed=0)

# %%
# Given: fields, data and helpers used by the questions and checks (do not edit)
import math

from course_utils.ode import last_stats, odeint

torch.set_default_dtype(torch.float64)


def tt(*values):
    # A float64 tensor of times: tt(0.0, 1.0)
    return torch.tensor(values, dtype=torch.float64)


def decay(t, x):
    # dx/dt = -2 x (the lecture's example); x: (batch, dim)
    return -2.0 * x


def swirl(t, x):
    # A time-dependent 2-D field on a batch x: (batch, 2); t a float or a 0-d tensor
    t = torch.as_tensor(t)
    return torch.stack(
        [-x[:, 1] + 0.3 * torch.sin(3 * t) * x[:, 0], x[:, 0] - 0.2 * torch.cos(t) * x[:, 1]], dim=1
    )


def midpoint_step(v, t, x, h):
    # One explicit midpoint step (order 2), given for question 3
    return x + h * v(t + h / 2, x + h / 2 * v(t, x))


x_batch = torch.tensor([[1.0, 0.0], [0.5, -1.0], [-2.0, 0.3]])


# %% [markdown]
# ## Question 1 (4 points, routine, about 10 min): one Euler step and one RK4 step for batched fields
#
# Write `euler_step(v, t, x, h)` and `rk4_step(v, t, x, h)`: one step of size `h` of
# explicit Euler and of the classical Runge–Kutta method from the state `x` (shape
# `(batch, dim)`) at time `t`, returning the state at `t + h` (same shape):
#
# $$x_{\text{Euler}} = x + h\,v(t,x), \qquad
# x_{\text{RK4}} = x + \tfrac h6\,(k_1 + 2k_2 + 2k_3 + k_4),$$
#
# with $k_1 = v(t,x)$, $k_2 = v(t+\tfrac h2, x+\tfrac h2 k_1)$,
# $k_3 = v(t+\tfrac h2, x+\tfrac h2 k_2)$, $k_4 = v(t+h, x+hk_3)$. One call must move the whole
# batch (no loop over points).
#
# Tests: Euler on a hidden field (1 point); RK4 on a hidden time-dependent field
# (2 points); RK4 with a negative step (1 point).

# %% course={"question": "q1", "role": "answer"}
def euler_step(v, t, x, h):
    '''One explicit Euler step from x (batch, dim) at time t; returns x at t + h, (batch, dim).'''
    ### BEGIN SOLUTION
    return x + h * v(t, x)
    ### END SOLUTION


def rk4_step(v, t, x, h):
    '''One classical RK4 step from x (batch, dim) at time t; returns x at t + h, (batch, dim).'''
    ### BEGIN SOLUTION
    k1 = v(t, x)
    k2 = v(t + h / 2, x + h / 2 * k1)
    k3 = v(t + h / 2, x + h / 2 * k2)
    k4 = v(t + h, x + h * k3)
    return x + h / 6 * (k1 + 2 * k2 + 2 * k3 + k4)
    ### END SOLUTION


# %% course={"question": "q1", "role": "check"}
cu.checks.check_close("q1 Euler step on dx/dt = -2x", lambda: euler_step(decay, 0.0, torch.tensor([[3.0]]), 0.1),
                      [[2.4]], hint="x + h * v(t, x)")
cu.checks.check_close("q1 Euler step, batched field", lambda: euler_step(swirl, 0.5, x_batch, 0.1),
                      odeint(swirl, x_batch, tt(0.5, 0.6), method="euler")[-1])
_ = cu.checks.check_close("q1 RK4 step, batched field", lambda: rk4_step(swirl, 0.5, x_batch, 0.1),
                      odeint(swirl, x_batch, tt(0.5, 0.6), method="rk4")[-1], rtol=1e-10, atol=1e-12,
                      hint="the stages are evaluated at t, t + h/2, t + h/2 and t + h")


# %% [markdown]
# ## Question 2 (4 points, routine, about 10 min): a fixed-step solver, forwards and backwards
#
# Write `solve(step, v, x0, t0, t1, n)`: starting from `x0` at time `t0`, take `n` steps of
# size $h = (t_1 - t_0)/n$ with `step(v, t, x, h)` (a function like those of question 1)
# and return the state at `t1`. The $k$-th step starts at time $t_0 + kh$ (compute it like
# that, not by adding up $h$'s). If `t1 < t0`, then $h < 0$ and the same code integrates
# backwards in time.
#
# Tests: Euler on $dx/dt=-2x$ (1 point); RK4 on a hidden time-dependent field forwards
# (1 point) and backwards (1 point); Euler backwards on a time-dependent field (1 point).

# %% course={"question": "q2", "role": "answer"}
def solve(step, v, x0, t0, t1, n):
    '''n steps of step(v, t, x, h), h = (t1 - t0) / n, from x0 (batch, dim) at t0; returns x at t1.'''
    ### BEGIN SOLUTION
    h = (t1 - t0) / n
    x = x0
    for k in range(n):
        x = step(v, t0 + k * h, x, h)
    return x
    ### END SOLUTION


# %% course={"question": "q2", "role": "check"}
cu.checks.check_close("q2 Euler, two steps of 0.1 (the lecture's table)",
                      lambda: solve(euler_step, decay, torch.tensor([[3.0]]), 0.0, 0.2, 2), [[1.92]])
cu.checks.check_close("q2 RK4 forwards on swirl", lambda: solve(rk4_step, swirl, x_batch, 0.0, 1.0, 20),
                      odeint(swirl, x_batch, tt(0.0, 1.0), method="rk4", step_size=0.05)[-1], rtol=1e-10, atol=1e-12)
_ = cu.checks.check_close("q2 Euler backwards on swirl", lambda: solve(euler_step, swirl, x_batch, 1.0, 0.0, 10),
                      odeint(swirl, x_batch, tt(1.0, 0.0), method="euler", step_size=0.1)[-1], rtol=1e-10, atol=1e-12,
                      hint="h is negative; the k-th step starts at t0 + k h")


# %% [markdown]
# ## Question 3 (4 points, core, about 15 min): measure an order of convergence
#
# Write `measured_order(step, v, x0, t1, x_exact, ns)`: for every `n` in the list `ns`, solve
# from $t=0$ to `t1` with `n` steps (use your `solve`), compute the error
# $\max|x_n - x_{\text{exact}}|$ over all entries, and return the least-squares slope of
# $\log(\text{error})$ against $\log(h)$, $h = t_1/n$ (a float; `np.polyfit` of degree 1
# does it).
#
# Tests: the slope returned for the given `midpoint_step` on a hidden problem, compared with
# the reference implementation (2 points); Euler's and RK4's measured orders on a hidden
# problem are within 0.2 of 1 and 4 (1 point each).

# %% course={"question": "q3", "role": "answer"}
def measured_order(step, v, x0, t1, x_exact, ns):
    '''Slope of log(max |x_n - x_exact|) against log(t1 / n) over n in ns (a float).'''
    ### BEGIN SOLUTION
    hs, errors = [], []
    for n in ns:
        x = solve(step, v, x0, 0.0, t1, n)
        errors.append(float((x - x_exact).abs().max()))
        hs.append(t1 / n)
    return float(np.polyfit(np.log(hs), np.log(errors), 1)[0])
    ### END SOLUTION


# %% course={"question": "q3", "role": "check"}
x0_decay = torch.tensor([[3.0]])
exact_decay = 3.0 * math.exp(-2.0)
ns_demo = [10, 20, 40, 80]
cu.checks.check_true("q3 Euler's order", lambda: abs(measured_order(euler_step, decay, x0_decay, 1.0, exact_decay, ns_demo) - 1) < 0.1,
                     "Euler's measured order on dx/dt = -2x is within 0.1 of 1")
_ = cu.checks.check_true("q3 RK4's order", lambda: abs(measured_order(rk4_step, decay, x0_decay, 1.0, exact_decay, ns_demo) - 4) < 0.2,
                     "RK4's measured order on dx/dt = -2x is within 0.2 of 4",
                     hint="slope of log(error) against log(h), not against log(n)")


# %% [markdown]
# ## Question 4 (4 points, core, about 15 min): the stability limit of explicit Euler
#
# On a linear system $\dot x = Ax$ Euler multiplies each eigen-component by $1+h\lambda$,
# for every eigenvalue $\lambda$ of $A$ (possibly complex). The iterates stay bounded when
# $|1 + h\lambda| \le 1$ for all $\lambda$. For $\operatorname{Re}\lambda < 0$ this is
# $h \le -2\operatorname{Re}\lambda/|\lambda|^2$ (for $\dot y=-2y$: $h\le1$).
#
# (a) Write `euler_stability_limit(A)`: the largest stable step for a square matrix `A`
# (NumPy array or nested list) whose eigenvalues all have negative real part (a float).
#
# (b) Write `euler_grows(A, h, n_steps=200)`: run `n_steps` Euler steps of size `h` on
# $\dot x = Ax$ from $x_0 = (1, \dots, 1)$ (a batch of one point, shape `(1, dim)`; in
# row form the field is `x @ A.T`) and return `True` if the final state has a larger
# Euclidean norm than $x_0$, else `False` (a Python bool).
#
# Tests: (a) on a hidden stiff diagonal matrix and on a hidden matrix with complex
# eigenvalues (1 point each); (b) on hidden steps just below and just above the limit
# (2 points).

# %% course={"question": "q4", "role": "answer"}
def euler_stability_limit(A):
    '''Largest h with |1 + h lambda| <= 1 for every eigenvalue lambda of A (a float).'''
    ### BEGIN SOLUTION
    lam = np.linalg.eigvals(np.asarray(A, dtype=float))
    return float(np.min(-2 * lam.real / np.abs(lam) ** 2))
    ### END SOLUTION


def euler_grows(A, h, n_steps=200):
    '''True if n_steps Euler steps on dx/dt = A x from ones (1, dim) increase the norm.'''
    ### BEGIN SOLUTION
    A = torch.as_tensor(np.asarray(A, dtype=float))
    x0 = torch.ones(1, A.shape[0])
    x_end = solve(euler_step, lambda t, x: x @ A.T, x0, 0.0, n_steps * h, n_steps)
    return bool(x_end.norm() > x0.norm())
    ### END SOLUTION


# %% course={"question": "q4", "role": "check"}
cu.checks.check_close("q4 limit for dy/dt = -2y", lambda: euler_stability_limit([[-2.0]]), 1.0)
A_spiral = [[-0.1, -1.0], [1.0, -0.1]]
cu.checks.check_close("q4 limit for a slow spiral", lambda: euler_stability_limit(A_spiral), 2 * 0.1 / 1.01,
                      hint="the eigenvalues are -0.1 +- 1i: use Re and |.| of complex eigenvalues")
_ = cu.checks.check_true("q4 Euler on dy/dt = -2y", lambda: (euler_grows([[-2.0]], 1.1), euler_grows([[-2.0]], 0.9)) == (True, False),
                     "h = 1.1 grows, h = 0.9 does not")


# %% [markdown]
# ## Question 5 (4 points, core, about 15 min): backwards integration and the round-trip error
#
# (a) Write `round_trip_error(step, v, x0, n)`: integrate `x0` from $t=0$ to $t=1$ with `n`
# steps of `step` (your `solve`), then integrate the result from $t=1$ back to $t=0$ with `n`
# steps, and return $\max|\hat x_0 - x_0|$ (a float). Use the same field `v` both ways:
# going backwards is done by the decreasing time, not by changing the sign of `v`.
#
# (b) Write `round_trip_dopri5(v, x0, tol)` doing the same with the package's adaptive
# solver, `odeint(v, x, torch.tensor([...]), rtol=tol, atol=tol)` (default method dopri5).
# Return a tuple `(error, nfe)` where `nfe` is the total number of function evaluations of
# the two solves (read `last_stats().nfe` after each).
#
# Tests: (a) with Euler and with RK4 on a hidden field (1 point each); (b) the error and the
# NFE on a hidden field (1 point each).

# %% course={"question": "q5", "role": "answer"}
def round_trip_error(step, v, x0, n):
    '''max |x0_hat - x0| after n steps from t = 0 to 1 and n steps back (a float).'''
    ### BEGIN SOLUTION
    x1 = solve(step, v, x0, 0.0, 1.0, n)
    x0_hat = solve(step, v, x1, 1.0, 0.0, n)
    return float((x0_hat - x0).abs().max())
    ### END SOLUTION


def round_trip_dopri5(v, x0, tol):
    '''(round-trip error, total NFE) of odeint from t = 0 to 1 and back, rtol = atol = tol.'''
    ### BEGIN SOLUTION
    x1 = odeint(v, x0, tt(0.0, 1.0), rtol=tol, atol=tol)[-1]
    nfe = last_stats().nfe
    x0_hat = odeint(v, x1, tt(1.0, 0.0), rtol=tol, atol=tol)[-1]
    nfe += last_stats().nfe
    return float((x0_hat - x0).abs().max()), nfe
    ### END SOLUTION


# %% course={"question": "q5", "role": "check"}
ref_x1 = odeint(swirl, x_batch, tt(0.0, 1.0), method="euler", step_size=0.02)[-1]
ref_back = odeint(swirl, ref_x1, tt(1.0, 0.0), method="euler", step_size=0.02)[-1]
cu.checks.check_close("q5 Euler round trip on swirl, n = 50", lambda: round_trip_error(euler_step, swirl, x_batch, 50),
                      float((ref_back - x_batch).abs().max()), hint="integrate back from t = 1 to t = 0 with the same field")
cu.checks.check_true("q5 RK4 round trip is small", lambda: round_trip_error(rk4_step, swirl, x_batch, 50) < 1e-7,
                     "RK4 with 50 steps comes back to within 1e-7")
ref_nfe = []  # the NFE of each of the two solves, for comparison
dp_x1 = odeint(swirl, x_batch, tt(0.0, 1.0), rtol=1e-8, atol=1e-8)[-1]
ref_nfe.append(last_stats().nfe)
odeint(swirl, dp_x1, tt(1.0, 0.0), rtol=1e-8, atol=1e-8)
ref_nfe.append(last_stats().nfe)
cu.checks.check_true("q5 dopri5 round trip", lambda: round_trip_dopri5(swirl, x_batch, 1e-8)[0] < 1e-6,
                     "dopri5 at tol 1e-8 comes back to within 1e-6")
_ = cu.checks.check_close("q5 dopri5 NFE of both solves", lambda: round_trip_dopri5(swirl, x_batch, 1e-8)[1],
                      sum(ref_nfe), rtol=0, atol=0, hint=f"the two solves cost {ref_nfe[0]} and {ref_nfe[1]} NFE")


# %% [markdown]
# ## Question 6 (4 points, challenge, about 25 min): adaptive step-size control
#
# Build the lecture's adaptive Heun–Euler solver from two pieces.
#
# (a) `error_norm(err, x_old, x_new, rtol, atol)`: the RMS over **all** entries of
# $e_i / (\text{atol} + \text{rtol}\max(|x_{\text{old},i}|, |x_{\text{new},i}|))$ (a float).
#
# (b) `next_step_size(h, err_norm, p)`: for an error estimate that behaves like $h^{p+1}$,
# return $h\cdot\min\!\big(10, \max(0.2,\ 0.9\,\mathrm{err}^{-1/(p+1)})\big)$, and $10h$ when
# `err_norm == 0`.
#
# (c) `heun_euler_adaptive(v, x0, t0, t1, rtol, atol, h0)` for $t_1 > t_0$: start with step
# `h0`; at every attempt shorten the step to `min(h, t1 - t)`, compute the Heun step
# ($k_1 = v(t,x)$, $k_2 = v(t+h, x+hk_1)$, $x_{\text{new}} = x + \tfrac h2(k_1+k_2)$) and the
# error estimate $\tfrac h2(k_2 - k_1)$ (Heun minus Euler), accept the step if its
# `error_norm` is below 1, and in both cases continue with `next_step_size(h, norm, 1)`.
# Return `(x_end, n_accepted, n_rejected)`.
#
# Tests: (a) on hidden tensors (1 point); (b) on hidden values including the clipping and
# `err_norm == 0` (1 point); (c) the final state on a hidden problem (1 point) and the
# numbers of accepted and rejected steps, which must equal the reference implementation's
# (1 point).

# %% course={"question": "q6", "role": "answer"}
def error_norm(err, x_old, x_new, rtol, atol):
    '''RMS over all entries of err / (atol + rtol max(|x_old|, |x_new|)) (a float).'''
    ### BEGIN SOLUTION
    scale = atol + rtol * torch.maximum(x_old.abs(), x_new.abs())
    return float((err / scale).pow(2).mean().sqrt())
    ### END SOLUTION


def next_step_size(h, err_norm, p):
    '''h min(10, max(0.2, 0.9 err_norm^(-1/(p+1)))); 10 h when err_norm == 0.'''
    ### BEGIN SOLUTION
    if err_norm == 0:
        return 10.0 * h
    return h * min(10.0, max(0.2, 0.9 * err_norm ** (-1.0 / (p + 1))))
    ### END SOLUTION


def heun_euler_adaptive(v, x0, t0, t1, rtol, atol, h0):
    '''Adaptive Heun (order 2) with embedded Euler from t0 to t1 > t0; (x_end, n_accepted, n_rejected).'''
    ### BEGIN SOLUTION
    t, x, h = t0, x0, h0
    n_accepted = n_rejected = 0
    while t < t1:
        h = min(h, t1 - t)
        k1 = v(t, x)
        k2 = v(t + h, x + h * k1)
        x_new = x + h / 2 * (k1 + k2)
        norm = error_norm(h / 2 * (k2 - k1), x, x_new, rtol, atol)
        if norm < 1:
            t, x = t + h, x_new
            n_accepted += 1
        else:
            n_rejected += 1
        h = next_step_size(h, norm, 1)
    return x, n_accepted, n_rejected
    ### END SOLUTION


# %% course={"question": "q6", "role": "check"}
cu.checks.check_close("q6 error norm", lambda: error_norm(torch.tensor([[1e-6, -2e-6]]), torch.tensor([[1.0, -1.0]]),
                                                          torch.tensor([[0.5, -3.0]]), 1e-3, 1e-6),
                      math.sqrt(((1e-6 / 1.001e-3) ** 2 + (2e-6 / 3.001e-3) ** 2) / 2))
cu.checks.check_close("q6 next step, err = 1/32, p = 4", lambda: next_step_size(0.1, 1 / 32, 4), 0.1 * 0.9 * 2)
cu.checks.check_close("q6 next step is clipped", lambda: [next_step_size(0.1, 1e-12, 1), next_step_size(0.1, 1e6, 1)],
                      [1.0, 0.02], hint="factor between 0.2 and 10")
_ = cu.checks.check_true("q6 adaptive Heun-Euler is accurate",
                     lambda: abs(float(heun_euler_adaptive(decay, torch.tensor([[3.0]]), 0.0, 1.0, 1e-6, 1e-9, 0.01)[0].squeeze()) - 3 * math.exp(-2)) < 1e-5,
                     "x(1) within 1e-5 of 3 exp(-2) at rtol = 1e-6")

# %% [markdown]
# ## Question 7 (3 points, challenge, about 15 min): predict a stiff experiment (written)
#
# A colleague integrates $x' = -50\,x$, $x(0)=1$ on $[0,1]$ with explicit Euler, first with
# $h = 0.05$, then with $h = 0.025$. Before running anything, **predict** (with numbers) what
# the final values look like in both runs and by what factor the error changes, then explain
# why this does not contradict the first-order convergence you measured in Question 3. Finally
# say which of the course's solvers (or which change of method) you would recommend for this
# problem and why (at most 150 words).
#
# Write your answer in the markdown cell below (double-click to edit). This question is
# graded by hand with a rubric; the checks and the automatic grader give it 0 points.

# %% [markdown] course={"question": "q7", "role": "answer"}
# ### BEGIN SOLUTION
# *Model answer: see the rubric (instructor only).*
# ### END SOLUTION

# %% [markdown] course={"role": "instructor"}
# **Rubric (3 points).**
# - 1 pt: the amplification factor is $1 + h\lambda$: $1 - 2.5 = -1.5$ for $h=0.05$ (unstable,
#   $|x_{20}| = 1.5^{20} \approx 3\cdot10^{3}$, oscillating sign) and $1-1.25 = -0.25$ for $h=0.025$
#   (stable, decays to about $10^{-24}$); the error falls by a factor of about $10^{3}$, not 2.
# - 1 pt: the order-$p$ statement is asymptotic: it holds once $h$ is inside the stability
#   region ($h < 2/50 = 0.04$); above that the error is governed by stability, not accuracy.
# - 1 pt: a sensible recommendation with a reason: an implicit method (backward Euler, stable for
#   all $h>0$ on this problem), or an adaptive solver whose step control will find $h<0.04$, or
#   simply the exact solution $e^{-50t}$. Half points allowed.

# %% [markdown]
# ## Question 8 (4 points, challenge, about 25 min): reach a target error with the fewest evaluations (end-to-end)
#
# Integrate the given field `swirl` from $t=0$ to $t=3$ for a batch of 64 standard-normal
# starting points. **Goal:** a maximum absolute error at $t = 3$ of at most $10^{-6}$ (against
# the tight reference `reference_end`) with **as few field evaluations as you can**; the
# budget is 320 evaluations for the whole batch.
#
# 1. Build: write `integrate_to_target(v, x0)` returning $x(3)$, `(batch, 2)`. Use any of
#    your solvers (`solve` with `euler_step` or `rk4_step`, `heun_euler_adaptive`) or
#    `odeint` with a method and tolerances you choose.
# 2. Run and measure: count the evaluations with the given `CountingField` and measure the
#    error on `x0_e2e`; store them in `e2e_nfe` (an int) and `e2e_error` (a float).
# 3. Read the result: try at least two choices (two methods, or two step counts or
#    tolerances), print NFE and error for each, and keep the cheapest that meets the target.
#
# Tests (on other starting points, with other seeds): error at most $10^{-6}$ (2 points);
# at most 320 evaluations (1 point); `e2e_nfe` and `e2e_error` are what your
# `integrate_to_target` really does on `x0_e2e` (1 point). Runs in a few seconds.

# %%
seed = 0  # the hidden tests use other seeds: your choice must not depend on this one
x0_e2e = torch.randn(64, 2, generator=torch.Generator().manual_seed(seed))


class CountingField:
    """Wraps a field v(t, x) and counts how often it is called (attribute n)."""

    def __init__(self, v):
        self.v, self.n = v, 0

    def __call__(self, t, x):
        self.n += 1
        return self.v(t, x)


def reference_end(x0):
    # a much tighter solve than the target: its own error is below 1e-10
    return odeint(swirl, x0, tt(0.0, 3.0), rtol=1e-12, atol=1e-14)[-1]


# %% course={"question": "q8", "role": "answer"}
def integrate_to_target(v, x0):
    """x(3) of dx/dt = v(t, x) from x0: (batch, 2) at t = 0, max error <= 1e-6."""
    ### BEGIN SOLUTION
    return odeint(v, x0, tt(0.0, 3.0), method="dopri5", rtol=1e-7, atol=1e-9)[-1]
    ### END SOLUTION


e2e_nfe, e2e_error = 0, float("nan")
### BEGIN SOLUTION
x_ref = reference_end(x0_e2e)
for name, run in [("rk4, 50 steps", lambda v: solve(rk4_step, v, x0_e2e, 0.0, 3.0, 50)),
                  ("rk4, 70 steps", lambda v: solve(rk4_step, v, x0_e2e, 0.0, 3.0, 70)),
                  ("dopri5, rtol 1e-7", lambda v: integrate_to_target(v, x0_e2e))]:
    counter = CountingField(swirl)
    err = float((run(counter) - x_ref).abs().max())
    print(f"{name:18s} NFE {counter.n:4d}   max error {err:.1e}")
counter = CountingField(swirl)
e2e_error = float((integrate_to_target(counter, x0_e2e) - x_ref).abs().max())
e2e_nfe = counter.n
### END SOLUTION

# %% course={"question": "q8", "role": "check"}
cu.checks.check_true("q8 e2e_nfe is an int, e2e_error a float", lambda: isinstance(e2e_nfe, int)
                     and isinstance(e2e_error, float), "e2e_nfe: int, e2e_error: float")
cu.checks.check_true("q8 target met on x0_e2e", lambda: e2e_error <= 1e-6,
                     "max error <= 1e-6 against reference_end(x0_e2e)",
                     hint="a higher-order method, more steps or a tighter tolerance")
_ = cu.checks.check_true("q8 within the budget", lambda: 0 < e2e_nfe <= 320, "at most 320 evaluations",
                         hint="Euler needs far too many steps; compare the NFE of a fixed-step RK4 and dopri5")


# %% [markdown]
# ## Before you submit
#
# Restart the kernel and run all cells: every check should print `[PASS]`. The hidden tests
# call your functions with other fields, points and step sizes.
