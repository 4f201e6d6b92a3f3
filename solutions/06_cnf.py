# %% [markdown]
# # Problem set 06 · Continuous normalizing flows (31 points)
#
# Eight questions on the machinery of a CNF: the divergence, Hutchinson's estimator and its
# variance, the augmented ODE, the linear CNF in closed form, the adjoint, a written question
# on the trace estimators, and an end-to-end task that trains a CNF with each of them. Write your code
# in place of the lines that raise `NotImplementedError`, run the cell, then run the **check
# cell** below it: it prints `[PASS]` or a `[FAIL]` line saying what is expected. The checks
# here are a first test only; the grader runs more tests on inputs you do not see (other
# fields, other dimensions), so make your functions correct for any valid input.
#
# Rules: work in `float64` (set below); keep the function names and signatures; shapes are
# batch-first (`x: (batch, d)`); use `torch` operations. Fields are called `v(t, x)` with `t`
# a number or a 0-d tensor and return `(batch, d)`. Time runs from $t=0$ (base
# $\mathcal N(0,I)$) to $t=1$ (data). Do **not** call `cu.cnf` or `cu.ode` inside your
# answers to questions 1–6 (they are fine in your own tests; question 8 uses `cu.cnf`); everything you need is in
# `notebooks/06_cnf.ipynb`.
#
# | Question | Topic | Points |
# |---|---|---|
# | 1 | the divergence, by hand and by autograd | 3 |
# | 2 | Hutchinson's estimator | 4 |
# | 3 | the variance of Hutchinson's estimator | 3 |
# | 4 | the augmented ODE: an Euler step and a log-likelihood | 4 |
# | 5 | the linear CNF in closed form | 4 |
# | 6 | the adjoint of Euler steps, by hand | 5 |
# | 7 | exact trace or Hutchinson? (written, graded by hand) | 3 |
# | 8 | a CNF trained with each trace estimator (end-to-end) | 5 |

# %%
import numpy as np
import torch
import matplotlib.pyplot as plt
import course_utils as cu

device = cu.setup(seed=0)

# %%
import math

torch.set_default_dtype(torch.float64)


def log_normal(z):
    # log N(0, I_d) for z: (batch, d) -> (batch,), in nats
    return -0.5 * (z**2).sum(dim=1) - 0.5 * z.shape[1] * math.log(2 * math.pi)


def v_q(t, x):
    # the field of questions 1 and 4: v(t, x) = (x1^2 x2 + t, sin(x1) - x2^3)
    return torch.stack([x[:, 0] ** 2 * x[:, 1] + t, torch.sin(x[:, 0]) - x[:, 1] ** 3], dim=1)


class SmallField(torch.nn.Module):
    # a tiny time-dependent MLP field in d dimensions (question 6); seeded weights
    def __init__(self, d=2, hidden=8, seed=0):
        super().__init__()
        g = torch.Generator().manual_seed(seed)
        self.w1 = torch.nn.Parameter(torch.randn(d + 1, hidden, generator=g))
        self.b1 = torch.nn.Parameter(0.1 * torch.randn(hidden, generator=g))
        self.w2 = torch.nn.Parameter(0.5 * torch.randn(hidden, d, generator=g))

    def forward(self, t, x):
        tt = torch.full((x.shape[0], 1), float(t))
        return torch.tanh(torch.cat([x, tt], dim=1) @ self.w1 + self.b1) @ self.w2


# %% [markdown]
# ## Question 1 (3 points, routine, about 10 min): the divergence, by hand and by autograd
#
# **(a)** For the given field $v(t,x)=\big(x_1^2x_2+t,\ \sin x_1-x_2^3\big)$ (`v_q`), derive
# $\nabla\!\cdot v=\partial v_1/\partial x_1+\partial v_2/\partial x_2$ by hand and write
# `div_by_hand(x)` returning it for every row of `x: (batch, 2)` (no autograd).
#
# **(b)** Write a **generic** `divergence(v, t, x)` returning the exact divergence of any
# row-wise field `v` at time `t` for every row of `x: (batch, d)`, with `torch.autograd.grad`:
# one backward pass per dimension (pass $i$ differentiates $\sum_b v_i(t,x_b)$ and keeps the
# $i$-th entry of the gradient). Return a `(batch,)` tensor. It must work whether or not `x`
# already requires grad (hint: `x.detach().requires_grad_(True)` inside
# `torch.enable_grad()`).

# %% course={"question": "q1", "role": "answer"}
def div_by_hand(x):
    """Divergence of v_q at x: (batch, 2) -> (batch,), in closed form."""
    ### BEGIN SOLUTION
    return 2 * x[:, 0] * x[:, 1] - 3 * x[:, 1] ** 2
    ### END SOLUTION


def divergence(v, t, x):
    """Exact divergence of v(t, .) at every row of x: (batch, d) -> (batch,)."""
    ### BEGIN SOLUTION
    with torch.enable_grad():
        x = x.detach().requires_grad_(True)
        out = v(t, x)
        div = torch.zeros(x.shape[0])
        for i in range(x.shape[1]):
            (g,) = torch.autograd.grad(out[:, i].sum(), x, retain_graph=True)
            div = div + g[:, i]
    return div.detach()
    ### END SOLUTION


# %% course={"question": "q1", "role": "check"}
x_q1 = torch.tensor([[0.0, 0.0], [1.0, 2.0], [-0.5, 1.5]])
known = torch.tensor([0.0, 4.0 - 12.0, -1.5 - 6.75])  # 2 x1 x2 - 3 x2^2, worked out by hand
cu.checks.check_close("q1a by hand", lambda: div_by_hand(x_q1), known, rtol=1e-10,
                      hint="differentiate the first component in x1 and the second in x2")
cu.checks.check_close("q1b autograd on v_q", lambda: divergence(v_q, 0.3, x_q1), known, rtol=1e-10)
M3 = torch.tensor([[1.0, 2.0, 0.0], [0.5, -3.0, 1.0], [2.0, 0.0, 0.25]])
_ = cu.checks.check_close("q1b a linear field in 3-D (trace)",
                      lambda: divergence(lambda t, x: x @ M3.T, 0.0, torch.randn(4, 3)),
                      torch.full((4,), -1.75), rtol=1e-10)


# %% [markdown]
# ## Question 2 (4 points, core, about 15 min): Hutchinson's estimator
#
# Write `hutchinson(v, t, x, n_probes, kind="rademacher", generator=None)` returning, for every
# row of `x: (batch, d)`, the average over `n_probes` independent probe vectors $u$ of
# $u^\top Ju$, where $J=\partial v/\partial x$ at that row. Use **one
# vector–Jacobian product per probe** (`torch.autograd.grad` with the probe as `grad_outputs`),
# never the full Jacobian. `kind="rademacher"`: entries $\pm1$ with probability $\tfrac12$;
# `kind="gaussian"`: entries $\mathcal N(0,1)$; any other `kind` raises `ValueError`. Draw
# the probes with `generator` (a `torch.Generator` or `None`), each row its own probes.
#
# The grader checks the shape, that the estimate is **exact** for Rademacher probes when $J$
# is diagonal (why?), and that the mean over many probes is within Monte-Carlo error of the
# exact divergence, for both kinds.

# %% course={"question": "q2", "role": "answer"}
def hutchinson(v, t, x, n_probes, kind="rademacher", generator=None):
    """Hutchinson estimate of div v(t, .) at every row of x: (batch, d) -> (batch,)."""
    ### BEGIN SOLUTION
    if kind not in ("rademacher", "gaussian"):
        raise ValueError(f"kind must be 'rademacher' or 'gaussian', got {kind!r}")
    with torch.enable_grad():
        x = x.detach().requires_grad_(True)
        out = v(t, x)
        total = torch.zeros(x.shape[0])
        for _ in range(n_probes):
            if kind == "rademacher":
                eps = 2.0 * torch.randint(0, 2, x.shape, generator=generator) - 1.0
            else:
                eps = torch.randn(x.shape, generator=generator)
            (vjp,) = torch.autograd.grad(out, x, grad_outputs=eps, retain_graph=True)
            total = total + (vjp * eps).sum(dim=1)
    return (total / n_probes).detach()
    ### END SOLUTION


# %% course={"question": "q2", "role": "check"}
x_q2 = torch.tensor([[0.3, -0.8], [1.2, 0.4], [-1.0, 2.0]])
g_q2 = torch.Generator().manual_seed(0)
cu.checks.check_equal("q2 shape", lambda: tuple(hutchinson(v_q, 0.0, x_q2, 3, generator=g_q2).shape), (3,))
diag_field = lambda t, x: torch.stack([torch.sin(x[:, 0]), x[:, 1] ** 2], dim=1)
cu.checks.check_close("q2 Rademacher is exact for a diagonal Jacobian",
                      lambda: hutchinson(diag_field, 0.0, x_q2, 1, generator=g_q2),
                      torch.cos(x_q2[:, 0]) + 2 * x_q2[:, 1], rtol=1e-10)
exact = 2 * x_q2[:, 0] * x_q2[:, 1] - 3 * x_q2[:, 1] ** 2
# Monte-Carlo error of a 4000-probe mean: one Gaussian probe has variance 2 ||S||_F^2 with
# S = (J + J^T) / 2 (lecture, section 5.3); each row may miss by 5 standard deviations
J_q2 = torch.stack([torch.stack([2 * x_q2[:, 0] * x_q2[:, 1], x_q2[:, 0] ** 2], 1),
                    torch.stack([torch.cos(x_q2[:, 0]), -3 * x_q2[:, 1] ** 2], 1)], 1)
S_q2 = 0.5 * (J_q2 + J_q2.transpose(1, 2))
tol_gauss = 5 * torch.sqrt(2 * (S_q2**2).sum((1, 2)) / 4000)  # about (0.24, 0.19, 1.42)
cu.checks.check_true(
    "q2 unbiased (rademacher, 4000 probes)",
    lambda: bool(((hutchinson(v_q, 0.0, x_q2, 4000, "rademacher", g_q2) - exact).abs() < 0.25).all()),
    "the mean over many probes is close to the exact divergence",
)
_ = cu.checks.check_true(
    "q2 unbiased (gaussian, 4000 probes)",
    lambda: bool(((hutchinson(v_q, 0.0, x_q2, 4000, "gaussian", g_q2) - exact).abs() < tol_gauss).all()),
    "the mean over many probes is close to the exact divergence",
)


# %% [markdown]
# ## Question 3 (3 points, core, about 15 min): the variance of Hutchinson's estimator
#
# For a fixed matrix $A\in\mathbb R^{d\times d}$ (not necessarily symmetric) and **one** probe,
# write `hutchinson_variance(A, kind)` returning $\operatorname{Var}[u^\top Au]$
# in closed form (a Python float): $2\|S\|_F^2$ for Gaussian probes and
# $2\|S\|_F^2-2\sum_iA_{ii}^2$ for Rademacher probes, with $S=\tfrac12(A+A^\top)$.
#
# Then write `probes_needed(A, std, kind)`: the smallest number $M$ of probes whose average has
# standard deviation at most `std` (an `int`).

# %% course={"question": "q3", "role": "answer"}
def hutchinson_variance(A, kind):
    """Variance of one-probe Hutchinson estimates of tr A; A: (d, d) -> float."""
    ### BEGIN SOLUTION
    S = 0.5 * (A + A.T)
    var = 2 * float((S**2).sum())
    if kind == "rademacher":
        var -= 2 * float((torch.diagonal(A) ** 2).sum())
    elif kind != "gaussian":
        raise ValueError(f"kind must be 'rademacher' or 'gaussian', got {kind!r}")
    return var
    ### END SOLUTION


def probes_needed(A, std, kind):
    """Smallest M with std of the M-probe average <= std."""
    ### BEGIN SOLUTION
    return max(1, math.ceil(hutchinson_variance(A, kind) / std**2 - 1e-12))
    ### END SOLUTION


# %% course={"question": "q3", "role": "check"}
A_q3 = torch.tensor([[1.0, 2.0, 0.0], [-1.0, 0.5, 3.0], [0.0, 1.0, -2.0]])
e_r = 2.0 * torch.randint(0, 2, (200_000, 3), generator=torch.Generator().manual_seed(1)) - 1.0
e_g = torch.randn(200_000, 3, generator=torch.Generator().manual_seed(2))
empirical = {kind: float(((e @ A_q3.T) * e).sum(1).var()) for kind, e in (("rademacher", e_r), ("gaussian", e_g))}
cu.checks.check_close("q3 variance (rademacher)", lambda: hutchinson_variance(A_q3, "rademacher"),
                      empirical["rademacher"], rtol=0.03, hint="S = (A + A^T) / 2")
cu.checks.check_close("q3 variance (gaussian)", lambda: hutchinson_variance(A_q3, "gaussian"),
                      empirical["gaussian"], rtol=0.03, hint="S = (A + A^T) / 2")
B_sym = torch.tensor([[2.0, 1.0], [1.0, -1.0]])  # symmetric: 2 (||B||_F^2 - sum b_ii^2) = 4
cu.checks.check_close("q3 symmetric case", lambda: hutchinson_variance(B_sym, "rademacher"), 4.0)
_ = cu.checks.check_equal("q3 probes for std 0.1", lambda: probes_needed(B_sym, 0.1, "rademacher"), 400)


# %% [markdown]
# ## Question 4 (4 points, core, about 20 min): the augmented ODE — an Euler step and a log-likelihood
#
# The augmented ODE is $\frac{d}{dt}(x,\lambda)=\big(v(t,x),\,-\nabla\!\cdot v(t,x)\big)$, where
# $\lambda$ changes like the log-density along the path (lecture, section 3).
#
# **(a)** Write `augmented_euler_step(v, t, x, ell, h)` (the argument `ell` holds $\lambda$)
# returning the pair `(x + h * v(t, x), ell - h * div v(t, x))` with the exact divergence
# (use your `divergence` from question 1). `h` may be negative (a step backwards in time).
#
# **(b)** Write `log_prob_euler(v, x, n_steps)`: the CNF log-density $\log p_1(x)$ of the
# data points `x: (batch, d)`, obtained by `n_steps` Euler steps of the augmented ODE
# **backwards** from $t=1$ (where $x(1)=x$, $\lambda(1)=0$) to $t=0$, then
# $\log p_1(x)=\log p_0(x(0))-\lambda(0)$ with $p_0=\mathcal N(0,I)$. Step $k=0,\dots,n-1$ evaluates
# the field at $t_k=1-k/n$ with $h=-1/n$.

# %% course={"question": "q4", "role": "answer"}
def augmented_euler_step(v, t, x, ell, h):
    """One Euler step of d/dt (x, ell) = (v, -div v); returns (x_new, ell_new)."""
    ### BEGIN SOLUTION
    return x + h * v(t, x).detach(), ell - h * divergence(v, t, x)
    ### END SOLUTION


def log_prob_euler(v, x, n_steps):
    """log p_1(x) by n_steps backward Euler steps of the augmented ODE; (batch, d) -> (batch,)."""
    ### BEGIN SOLUTION
    ell = torch.zeros(x.shape[0])
    h = -1.0 / n_steps
    for k in range(n_steps):
        x, ell = augmented_euler_step(v, 1.0 - k / n_steps, x, ell, h)
    return log_normal(x) - ell
    ### END SOLUTION


# %% course={"question": "q4", "role": "check"}
x_q4 = torch.tensor([[0.5, -1.0], [2.0, 0.3]])
cu.checks.check_close("q4a state", lambda: augmented_euler_step(v_q, 0.5, x_q4, torch.zeros(2), 0.1)[0],
                      x_q4 + 0.1 * v_q(0.5, x_q4), rtol=1e-12)
cu.checks.check_close("q4a log-density change",
                      lambda: augmented_euler_step(v_q, 0.5, x_q4, torch.zeros(2), 0.1)[1],
                      -0.1 * (2 * x_q4[:, 0] * x_q4[:, 1] - 3 * x_q4[:, 1] ** 2), rtol=1e-12)
# linear field v = A x: n backward Euler steps give x(0) = (I - A/n)^n x and lambda(0) = tr A exactly
A_q4 = torch.tensor([[0.3, -0.5], [0.2, -0.4]])
n = 50
z = x_q4 @ torch.linalg.matrix_power(torch.eye(2) - A_q4 / n, n).T
cu.checks.check_close("q4b linear field, 50 steps", lambda: log_prob_euler(lambda t, x: x @ A_q4.T, x_q4, n),
                      log_normal(z) - torch.trace(A_q4), rtol=1e-10,
                      hint="integrate backwards: h = -1/n, start at t = 1 with ell = 0")
# a time-dependent field v = (1 + t) A x + t c with divergence (1 + t) tr A; reference: the
# backward Euler steps written out, with the field evaluated at t_k = 1 - k/n
c_q4 = torch.tensor([1.0, -0.5])
v_time = lambda t, x: (1 + t) * x @ A_q4.T + t * c_q4
x_ref, lam_ref = x_q4.clone(), torch.zeros(2)
for k in range(n):
    t_k = 1 - k / n
    x_ref, lam_ref = x_ref - v_time(t_k, x_ref) / n, lam_ref + (1 + t_k) * torch.trace(A_q4) / n
_ = cu.checks.check_close("q4b time-dependent field, 50 steps", lambda: log_prob_euler(v_time, x_q4, n),
                      log_normal(x_ref) - lam_ref, rtol=1e-10,
                      hint="step k evaluates the field at t_k = 1 - k/n, k = 0, ..., n - 1")


# %% [markdown]
# ## Question 5 (4 points, core, about 15 min): the linear CNF in closed form
#
# For the linear field $v(t,x)=Ax$ with any $A\in\mathbb R^{d\times d}$ (not necessarily
# diagonal), the flow is $x(1)=e^{A}x(0)$ (`torch.linalg.matrix_exp`).
#
# **(a)** Write `linear_cnf_sample(z, A)` mapping base points `z: (batch, d)` (at $t=0$) to
# $x(1)$.
#
# **(b)** Write `linear_cnf_log_prob(x, A)`: the exact $\log p_1(x)$ in nats for every row of
# `x`, from the instantaneous change of variables (what is $\int_0^1\nabla\!\cdot v\,dt$ here?).

# %% course={"question": "q5", "role": "answer"}
def linear_cnf_sample(z, A):
    """x(1) = expm(A) z(0) for every row of z: (batch, d) -> (batch, d)."""
    ### BEGIN SOLUTION
    return z @ torch.linalg.matrix_exp(A).T
    ### END SOLUTION


def linear_cnf_log_prob(x, A):
    """Exact log p_1(x) of the linear CNF with base N(0, I); (batch, d) -> (batch,)."""
    ### BEGIN SOLUTION
    z = x @ torch.linalg.matrix_exp(-A).T
    return log_normal(z) - torch.trace(A)
    ### END SOLUTION


# %% course={"question": "q5", "role": "check"}
A_q5 = torch.tensor([[0.2, -1.0], [0.7, -0.5]])
z_q5 = torch.tensor([[1.0, 0.0], [0.5, -2.0]])
# independent references: the course's solver and the Gaussian N(0, e^A e^{A^T})
reference_x = cu.ode.odeint(lambda t, x: x @ A_q5.T, z_q5, torch.tensor([0.0, 1.0]), rtol=1e-10, atol=1e-12)[-1]
cu.checks.check_close("q5a samples", lambda: linear_cnf_sample(z_q5, A_q5), reference_x, rtol=1e-7)
E = torch.linalg.matrix_exp(A_q5)
gauss = torch.distributions.MultivariateNormal(torch.zeros(2), E @ E.T)
x_q5 = torch.tensor([[0.3, 0.3], [-1.0, 2.0], [2.5, 0.0]])
_ = cu.checks.check_close("q5b log-density", lambda: linear_cnf_log_prob(x_q5, A_q5), gauss.log_prob(x_q5),
                      rtol=1e-10, hint="the divergence of A x is tr A, at every point and time")


# %% [markdown]
# ## Question 6 (5 points, challenge, about 30 min): the adjoint of Euler steps, by hand
#
# Take $n$ Euler steps $x_{k+1}=x_k+h\,v(t_k,x_k;\theta)$ from $t=0$ to $t=1$ with $h=1/n$,
# $t_k=kh$, and a loss $L(x_n)$. Given the field `field` (a `torch.nn.Module`, parameters
# $\theta$ = `list(field.parameters())`), the start `x0: (batch, d)` and
# `a_n` $=\partial L/\partial x_n$ (same shape), write `euler_adjoint(field, x0, n_steps, a_n)`
# returning the pair `(a_0, grads)`: $a_0=\partial L/\partial x_0$ and the list of
# $\partial L/\partial\theta$ (one tensor per parameter), computed with the **backward
# recursion** of the lecture:
#
# $$a_k=a_{k+1}+h\,a_{k+1}^\top J_k,\qquad \frac{\partial L}{\partial\theta}=\sum_k h\,a_{k+1}^\top\frac{\partial v}{\partial\theta}(t_k,x_k).$$
#
# Store the forward states without a graph (under `torch.no_grad()`), then, step by step
# backwards, use `torch.autograd.grad` for the two vector–Jacobian products at **one** step.
# Do not back-propagate through the whole chain (the check does that, as the reference).

# %% course={"question": "q6", "role": "answer"}
def euler_adjoint(field, x0, n_steps, a_n):
    """Discrete adjoint of n Euler steps: returns (dL/dx0, [dL/dtheta, ...])."""
    ### BEGIN SOLUTION
    h = 1.0 / n_steps
    params = list(field.parameters())
    xs = [x0.detach()]
    with torch.no_grad():
        for k in range(n_steps):
            xs.append(xs[-1] + h * field(k * h, xs[-1]))
    a = a_n.detach()
    grads = [torch.zeros_like(p) for p in params]
    for k in reversed(range(n_steps)):
        xk = xs[k].clone().requires_grad_(True)
        with torch.enable_grad():
            vk = field(k * h, xk)
            aJ, *a_dtheta = torch.autograd.grad(vk, [xk, *params], grad_outputs=a)
        grads = [g + h * gp for g, gp in zip(grads, a_dtheta)]
        a = a + h * aJ
    return a, grads
    ### END SOLUTION


# %% course={"question": "q6", "role": "check"}
field_q6 = SmallField(d=2, hidden=8, seed=3)
x0_q6 = torch.tensor([[0.5, -0.5], [1.0, 1.0], [-2.0, 0.3]], requires_grad=True)
xs_q6 = x0_q6
for k in range(20):  # reference: back-propagation through the whole Euler chain
    xs_q6 = xs_q6 + (1 / 20) * field_q6(k / 20, xs_q6)
loss_q6 = (xs_q6**2).sum()
ref_x0, *ref_theta = torch.autograd.grad(loss_q6, [x0_q6, *field_q6.parameters()])
a_n_q6 = 2 * xs_q6.detach()
cu.checks.check_close("q6 dL/dx0", lambda: euler_adjoint(field_q6, x0_q6.detach(), 20, a_n_q6)[0],
                      ref_x0, rtol=1e-9, atol=1e-12, hint="a_k = a_{k+1} + h a_{k+1}^T J_k")
cu.checks.check_close("q6 dL/dW1", lambda: euler_adjoint(field_q6, x0_q6.detach(), 20, a_n_q6)[1][0],
                      ref_theta[0], rtol=1e-9, atol=1e-12)
_ = cu.checks.check_close("q6 all parameter gradients",
                      lambda: torch.cat([g.reshape(-1) for g in euler_adjoint(field_q6, x0_q6.detach(), 20, a_n_q6)[1]]),
                      torch.cat([g.reshape(-1) for g in ref_theta]), rtol=1e-9, atol=1e-12)

# %% [markdown]
# ## Question 7 (3 points, challenge, about 15 min): exact trace or Hutchinson? (written)
#
# Hutchinson's estimator (Questions 2–3) is unbiased. **Explain** why a CNF trained with it
# still trains differently from one trained with the exact trace, **predict** how the cost per
# step of each grows with the dimension $d$ (count vector-Jacobian products), and say for which
# $d$ you would use which; include what the variance result of Question 3 implies about the
# number of probe vectors needed as $d$ grows (at most 150 words).
#
# Write your answer in the markdown cell below (double-click to edit). This question is
# graded by hand with a rubric; the checks and the automatic grader give it 0 points.

# %% [markdown] course={"question": "q7", "role": "answer"}
# ### BEGIN SOLUTION
# *Model answer: see the rubric (instructor only).*
# ### END SOLUTION

# %% [markdown] course={"role": "instructor"}
# **Rubric (3 points).**
# - 1 pt: unbiased gradient estimates still add noise: the loss/gradient has extra variance
#   (Question 3: variance $2\|S\|_F^2$, $S$ the symmetric part of $J$, for Gaussian probes;
#   Rademacher removes $2\sum_i J_{ii}^2$), so training is noisier/slower per step; the *evaluation*
#   log-likelihood should use the exact trace or many probes.
# - 1 pt: exact trace: $d$ vector-Jacobian products (or $d$ backward passes) per function
#   evaluation; Hutchinson: one (or $k$) per evaluation, independent of $d$.
# - 1 pt: small $d$ (2–10): exact is affordable and noise-free; large $d$ (images): Hutchinson;
#   relative standard error shrinks as $1/\sqrt{k}$, and since $\|J\|_F^2$ grows with $d$ while
#   the trace may too, the number of probes needed for a given relative accuracy does not have to
#   grow. Half points allowed.

# %% [markdown]
# ## Question 8 (5 points, challenge, about 25 min): a CNF trained with each trace estimator (end-to-end)
#
# Train the same small CNF twice on the course's three-blob mixture, once with the exact
# divergence and once with Hutchinson's estimator, and compare what each costs and what each
# learns. Use the lecture's tools here: `cu.cnf.MLPField`, `cu.cnf.CNF`, and the given `train8`
# (the budget of this question, in `float32`).
#
# 1. **Build and run**: `cnf_exact` and `cnf_hutch`, two `cu.cnf.CNF` models of a
#    `cu.cnf.MLPField(2, hidden=32).float()`, both with the training solver
#    `method="rk4", step_size=1 / 3`, the first with `estimator="exact"`, the second with
#    Hutchinson (one Rademacher probe). Start both fields from the same weights
#    (`torch.manual_seed(seed)` before each) and train each with `train8`; store the training
#    seconds in `sec_exact`, `sec_hutch` (floats, printed, not graded).
# 2. **Measure the cost**: `vjps_exact`, `vjps_hutch`, the number of vector–Jacobian products one
#    log-density evaluation of a training batch (`x_train8[:128]`) makes in each model, counted
#    with the given `count_vjps` (ints).
# 3. **Measure the result**: `nll_exact`, `nll_hutch`, the mean NLL of each trained model on
#    `x_test8`, in nats, both **evaluated with the exact divergence** and the adaptive solver
#    (`cu.cnf.CNF(model.field, 2)` is that evaluator on the same field; why not evaluate the
#    Hutchinson model with its own estimator?).
# 4. **Read the result**: `nll_gap = nll_hutch - nll_exact`. In 2-D, how much does Hutchinson
#    save per evaluation, and what would the ratio be in $d$ dimensions?
#
# Tests (other seeds): `nll_exact` is measured on `x_test8` (1 point); `nll_hutch` too, with
# the exact divergence (1 point); both trained models score at most 2.8 nats (the best single
# Gaussian: about 3.18) (1 point); the two counts are measured and Hutchinson makes fewer
# products (1 point); `nll_gap` is what you measured and at most 0.25 nats in size (1 point).
# Both trainings together take several seconds.

# %%
seed = 0  # the hidden tests use other seeds
mix8 = cu.data.get("gaussian_mixture")
g8 = torch.Generator().manual_seed(seed)
x_train8 = mix8.sample(4000, generator=g8, dtype=torch.float32)
x_test8 = mix8.sample(2000, generator=g8, dtype=torch.float32)
print(f"entropy of the data: {mix8.entropy():.3f} nats")


def count_vjps(fn):
    # run fn() and return how many vector-Jacobian products (calls of torch.autograd.grad) it made
    n, grad = [0], torch.autograd.grad

    def counted(*args, **kwargs):
        n[0] += 1
        return grad(*args, **kwargs)

    torch.autograd.grad = counted
    try:
        fn()
    finally:
        torch.autograd.grad = grad
    return n[0]


def train8(model):
    # the training budget of question 8: 60 Adam steps on batches of 128 points
    return cu.cnf.train_ml(model, x_train8, steps=60, batch_size=128, lr=1.5e-2,
                           generator=torch.Generator().manual_seed(seed))


# %% course={"question": "q8", "role": "answer"} tags=["nbval-ignore-output"]
cnf_exact = cnf_hutch = None
vjps_exact = vjps_hutch = 0
nll_exact = nll_hutch = nll_gap = sec_exact = sec_hutch = float("nan")
### BEGIN SOLUTION
torch.manual_seed(seed)
cnf_exact = cu.cnf.CNF(cu.cnf.MLPField(2, hidden=32).float(), 2, estimator="exact",
                       method="rk4", step_size=1 / 3)
torch.manual_seed(seed)
cnf_hutch = cu.cnf.CNF(cu.cnf.MLPField(2, hidden=32).float(), 2, estimator="hutchinson",
                       method="rk4", step_size=1 / 3)
sec_exact, sec_hutch = train8(cnf_exact).seconds, train8(cnf_hutch).seconds
vjps_exact = count_vjps(lambda: cnf_exact.log_prob(x_train8[:128]))  # d per field evaluation
vjps_hutch = count_vjps(lambda: cnf_hutch.log_prob(x_train8[:128]))  # one per probe and field evaluation
# evaluate both with the exact divergence: Hutchinson's noise belongs to training, not to the score
nll_exact = cu.cnf.nll(cu.cnf.CNF(cnf_exact.field, 2), x_test8)
nll_hutch = cu.cnf.nll(cu.cnf.CNF(cnf_hutch.field, 2), x_test8)
nll_gap = nll_hutch - nll_exact
### END SOLUTION
print(f"exact: {vjps_exact} VJPs per log-density of a batch, trained in {sec_exact:.1f} s (timing), "
      f"held-out NLL {nll_exact:.2f} nats")
print(f"Hutchinson: {vjps_hutch} VJPs per log-density of a batch, trained in {sec_hutch:.1f} s (timing), "
      f"held-out NLL {nll_hutch:.2f} nats (gap {nll_gap:+.2f})")

# %% course={"question": "q8", "role": "check"}
cu.checks.check_true("q8 two CNFs, exact and Hutchinson", lambda: isinstance(cnf_exact, cu.cnf.CNF)
                     and isinstance(cnf_hutch, cu.cnf.CNF) and cnf_exact.estimator == "exact"
                     and cnf_hutch.estimator == "hutchinson", "cu.cnf.CNF models with each estimator")
cu.checks.check_true("q8 counts are ints and Hutchinson is cheaper", lambda: isinstance(vjps_exact, int)
                     and isinstance(vjps_hutch, int) and 0 < vjps_hutch < vjps_exact,
                     "fewer vector-Jacobian products with one probe than with d backward passes")
cu.checks.check_true("q8 both trained", lambda: max(nll_exact, nll_hutch) < 3.0,
                     "both held-out NLLs below 3 nats (a single Gaussian scores about 3.18)")
_ = cu.checks.check_true("q8 gap", lambda: abs(nll_gap - (nll_hutch - nll_exact)) < 1e-12,
                         "nll_gap = nll_hutch - nll_exact")

# %% [markdown]
# ## Done
#
# Run the whole notebook from the top (Kernel → Restart & Run All) and check that every check
# prints `[PASS]`. Then submit this notebook.
