# %% [markdown] slideshow={"slide_type": "slide"}
# # 06 · Continuous normalizing flows: the instantaneous change of variables, Hutchinson and the adjoint
#
# A discrete normalizing flow (notebook 05) stacks a few invertible layers, each with a
# log-determinant we can afford. A **continuous normalizing flow (CNF)** replaces the stack by
# an ODE $\frac{dx}{dt}=v(t,x)$: a point $x(0)\sim p_0=\mathcal N(0,I)$ is carried to
# $x(1)\sim p_1$, and **any** network can play $v$. The price is paid in two places: the
# log-determinant becomes an integral of a **trace** (the divergence of $v$) along the path,
# and every likelihood and every gradient needs an **ODE solve**.
#
# **Learning objectives.** After this notebook you can
#
# 1. see a residual network as Euler's method and the ODE as its infinitely deep limit;
# 2. derive the instantaneous change of variables
#    $\frac{d}{dt}\log p_t(x(t))=-\nabla\!\cdot v(t,x(t))$ from
#    $\det(I+\varepsilon A)=1+\varepsilon\operatorname{tr}A+O(\varepsilon^2)$ and check both;
# 3. write the augmented ODE for $(x,\log p)$ and know in which **direction** to solve it for
#    sampling and for likelihood;
# 4. solve the 2-D linear-scaling CNF by hand (SymPy) and by the solver, and match them;
# 5. compute the divergence exactly (one backward pass per dimension) or with Hutchinson's
#    estimator, state the correct condition on the probes, and predict and measure the
#    variance and the cost of each as the dimension grows;
# 6. derive the adjoint method from back-propagation through Euler steps, and measure that it
#    gives the same gradients with memory that does not grow with the number of steps;
# 7. train a small CNF by maximum likelihood and report its held-out NLL in nats, and measure
#    its limitations (the solver's work grows during training).
#
# **Prerequisites.** `02_odes` (`cu.ode.odeint`, fixed-step and adaptive solvers, NFE),
# `03_change_of_variables` ($\log p_X(x)=\log p_Z(z)-\log|\det J_g(z)|$), `05_normalizing_flows`
# (maximum-likelihood training of a flow, NLL in nats).
#
# **Estimated time.** 90 minutes. The notebook runs in about half a minute on a laptop CPU:
# the training is tiny on purpose, and the text says how to scale it up.
#
# **Conventions.** Time runs from $t=0$ (base density $p_0=\mathcal N(0,I)$) to $t=1$
# (data, $p_1$); fields are called `v(t, x)` with `x: (batch, dim)`. The notes write the
# field as $f(z(t),t)$ and the state as $z(t)$; here it is $v(t,x)$ and $x(t)$.

# %%
import numpy as np
import torch
import matplotlib.pyplot as plt
import course_utils as cu

device = cu.setup(seed=0)

# %%
import math
import time

import sympy as sp

from course_utils.cnf import (
    CNF,
    LinearField,
    MLPField,
    divergence_exact,
    divergence_hutchinson,
    sample_probe,
    standard_normal_log_prob,
)
from course_utils.ode import last_stats, odeint, odeint_adjoint

F64 = torch.float64
T01 = torch.tensor([0.0, 1.0], dtype=F64)  # forwards: base (t = 0) -> data (t = 1)
T10 = torch.tensor([1.0, 0.0], dtype=F64)  # backwards: data -> base


def gen(seed):
    return torch.Generator().manual_seed(seed)


def density_map(log_prob, ax, **kw):
    # heat map of exp(log_prob) with a colour bar in density units (per unit area of the plane)
    cu.plotting.density(log_prob, ax=ax, colorbar=True, **kw)
    ax.images[-1].colorbar.set_label("$p(x)$ (per unit area)")


# %% [markdown] slideshow={"slide_type": "slide"}
# ## 1. From residual steps to an ODE
#
# A residual block updates its input by a small correction,
# $x_{k+1}=x_k+h\,v(t_k,x_k)$. That is exactly one **Euler step** of size $h$ for the ODE
# $\frac{dx}{dt}=v(t,x)$ (notebook 02). Stack $K$ blocks with $h=1/K$ and let $K\to\infty$:
# the composition converges to the **flow** of the ODE,
#
# $$x(1)=x(0)+\int_0^1 v\big(t,x(t)\big)\,dt ,$$
#
# a continuous-depth network (R, *From Discrete Flows to Continuous Normalizing Flows*). Two
# things come for free: the map $x(0)\mapsto x(1)$ is invertible (solve the ODE backwards), and
# $v$ can be any smooth network — no coupling structure, no triangular Jacobian. Euler's global
# error is $O(h)=O(1/K)$, so the deep residual stack approaches the ODE at rate $1/K$:

# %%
def v_toy(t, x):
    # a smooth, time-dependent 2-D field: a rotation plus non-linear shears
    return torch.stack(
        [-x[:, 1] + 0.5 * torch.sin(2 * x[:, 0]), x[:, 0] + 0.8 * t * torch.tanh(x[:, 1])], 1
    )


def residual_stack(x, K):
    h = 1.0 / K
    path = [x]
    for k in range(K):
        x = x + h * v_toy(torch.tensor(k * h, dtype=F64), x)  # one residual block = one Euler step
        path.append(x)
    return torch.stack(path)


x_start = torch.randn(300, 2, generator=gen(0), dtype=F64)
x_end = odeint(v_toy, x_start, T01, rtol=1e-10, atol=1e-12)[-1]  # the ODE's flow, accurately
Ks = [4, 8, 16, 32, 64, 128, 256]
errors = [float((residual_stack(x_start, K)[-1] - x_end).norm(dim=1).max()) for K in Ks]
for K, e in zip(Ks, errors):
    print(f"K = {K:3d} residual blocks: max |x_K - x(1)| = {e:.3e}")

fig, axes = plt.subplots(1, 2, figsize=(10, 4.2))
fine = odeint(v_toy, x_start[:12], torch.linspace(0, 1, 60, dtype=F64))
coarse = residual_stack(x_start[:12], 4)
axes[0].plot(fine[:, :, 0], fine[:, :, 1], color="tab:blue", lw=1)
axes[0].plot(coarse[:, :, 0], coarse[:, :, 1], "o--", color="tab:orange", ms=3, lw=0.8)
axes[0].plot([], [], color="tab:blue", label="ODE flow")
axes[0].plot([], [], "o--", color="tab:orange", label="4 residual blocks")
axes[0].set(title="residual blocks follow the ODE", xlabel="$x^{(1)}$", ylabel="$x^{(2)}$")
axes[0].set_aspect("equal")
axes[0].legend()
_, slope = cu.plotting.loglog(Ks, errors, ax=axes[1], label="max error")
axes[1].set(title="residual stack -> ODE flow", xlabel="number of blocks K",
            ylabel="max |x_K - x(1)|")
plt.tight_layout()
plt.show()
print(f"measured slope {slope:.2f} (Euler: -1)")
assert -1.15 < slope < -0.85

# %% [markdown] slideshow={"slide_type": "slide"}
# ## 2. The instantaneous change of variables
#
# ### 2.1 The determinant of a near-identity matrix
#
# For a $d\times d$ matrix $A$ with eigenvalues $\mu_i$,
# $\det(I+\varepsilon A)=\prod_i(1+\varepsilon\mu_i)=1+\varepsilon\sum_i\mu_i+O(\varepsilon^2)$, so
#
# $$\det(I+\varepsilon A)=1+\varepsilon\operatorname{tr}A+O(\varepsilon^2),\qquad
# \log\det(I+\varepsilon A)=\varepsilon\operatorname{tr}A-\tfrac{\varepsilon^2}{2}\operatorname{tr}(A^2)+O(\varepsilon^3).$$
#
# SymPy expands the determinant of a general $3\times3$ case exactly: the $\varepsilon$
# coefficient is the trace, the $\varepsilon^2$ coefficient the sum of the principal $2\times2$
# minors, the $\varepsilon^3$ coefficient $\det A$.

# %%
eps = sp.symbols("epsilon")
A_sym = sp.Matrix(3, 3, lambda i, j: sp.Symbol(f"a{i + 1}{j + 1}"))
det = sp.expand((sp.eye(3) + eps * A_sym).det())
minors = sum(A_sym.extract([i, j], [i, j]).det() for i in range(3) for j in range(i + 1, 3))
print("coefficient of eps  :", det.coeff(eps, 1))
print("  equals tr A       :", sp.expand(det.coeff(eps, 1) - A_sym.trace()) == 0)
print("eps^2 = principal 2x2 minors:", sp.expand(det.coeff(eps, 2) - minors) == 0)
print("eps^3 = det A       :", sp.expand(det.coeff(eps, 3) - A_sym.det()) == 0)

# %% [markdown] slideshow={"slide_type": "subslide"}
# Numerically, for a random $5\times5$ matrix: the error of the first-order formula should
# fall like $\varepsilon^2$ (slope 2 on a log–log plot), for the determinant and its log alike.

# %%
A5 = torch.randn(5, 5, generator=gen(1), dtype=F64)
I5 = torch.eye(5, dtype=F64)
epsilons = 10.0 ** -np.arange(2, 6)  # much smaller eps: the error nears round-off
err_det = [abs(float(torch.linalg.det(I5 + e * A5) - (1 + e * torch.trace(A5)))) for e in epsilons]
err_log = [abs(float(torch.linalg.slogdet(I5 + e * A5)[1] - e * torch.trace(A5))) for e in epsilons]
print("    eps    |det - (1 + eps tr A)|   |log det - eps tr A|")
for e, d1, d2 in zip(epsilons, err_det, err_log):
    print(f"  {e:.0e}        {d1:.2e}               {d2:.2e}")

fig, ax = plt.subplots(figsize=(5.5, 4))
_, s_det = cu.plotting.loglog(epsilons, err_det, ax=ax, label="det")
_, s_log = cu.plotting.loglog(epsilons, err_log, ax=ax, label="log det", marker="s")
ax.set(title="first-order error of det(I + eps A)", xlabel="eps", ylabel="absolute error")
plt.show()
print(f"slopes: det {s_det:.2f}, log det {s_log:.2f} (expected 2)")
assert 1.9 < s_det < 2.1 and 1.9 < s_log < 2.1


# %% [markdown] slideshow={"slide_type": "subslide"}
# ### 2.2 Derivation
#
# Follow R's *Derivation of ODE* with the course's symbols. Over a short time $\Delta t$ the
# flow is, to first order, the map $g(x)=x+\Delta t\,v(t,x)$ with Jacobian
# $\frac{\partial g}{\partial x}=I+\Delta t\,J(t,x)$, where $J=\frac{\partial v}{\partial x}$. By the
# change of variables (notebook 03),
#
# $$\log p_{t+\Delta t}\big(g(x)\big)=\log p_t(x)-\log\Big|\det\big(I+\Delta t\,J\big)\Big|
# =\log p_t(x)-\Delta t\operatorname{tr}J+O(\Delta t^2).$$
#
# Divide by $\Delta t$ and let $\Delta t\to0$ along a trajectory $x(t)$:
#
# $$\boxed{\;\frac{d}{dt}\log p_t\big(x(t)\big)=-\operatorname{tr}\frac{\partial v}{\partial x}\big(t,x(t)\big)=-\nabla\!\cdot v\big(t,x(t)\big)\;}
# \qquad\Longrightarrow\qquad
# \log p_1\big(x(1)\big)=\log p_0\big(x(0)\big)-\int_0^1\nabla\!\cdot v\big(t,x(t)\big)\,dt .$$
#
# This is the **instantaneous change of variables** (Chen et al., 2018). The log-determinant of a
# discrete flow has become the time integral of a **trace**: no determinant, no structural
# constraint on $v$. It is also the continuity equation
# $\partial_t p_t+\nabla\!\cdot(p_t v)=0$ (K, §continuity equation) read along a trajectory:
# expanding the divergence gives $\partial_t p_t+v\cdot\nabla p_t=-p_t\,\nabla\!\cdot v$, and the
# left side is $\frac{d}{dt}p_t(x(t))$.
#
# The check: for one Euler step of the non-linear field above, compute the exact
# $\log|\det\partial g/\partial x|$ from the autograd Jacobian and compare it with
# $\Delta t\,\nabla\!\cdot v$. Their difference should be $O(\Delta t^2)$.

# %%
def exact_log_det_euler_step(x, h, t=0.3):
    # log|det d/dx (x + h v(t, x))| per row, from the full autograd Jacobian
    step = lambda y: y + h * v_toy(torch.tensor(t, dtype=F64), y[None])[0]
    jac = torch.func.vmap(torch.func.jacrev(step))(x)
    return torch.linalg.slogdet(jac).logabsdet


def div_v_toy(x, t=0.3):
    xg = x.clone().requires_grad_(True)
    return divergence_exact(v_toy(torch.tensor(t, dtype=F64), xg), xg)


pts = x_start[:50]
hs = [0.1, 0.05, 0.025, 0.0125, 0.00625]
gaps = [float((exact_log_det_euler_step(pts, h) - h * div_v_toy(pts)).abs().max()) for h in hs]
for h, g in zip(hs, gaps):
    print(f"dt = {h:<8g} max |log det(I + dt J) - dt div v| = {g:.3e}   / dt^2 = {g / h**2:.3f}")
slope = np.polyfit(np.log(hs), np.log(gaps), 1)[0]
print(f"slope {slope:.2f} (expected 2)")
assert 1.9 < slope < 2.1


# %% [markdown] slideshow={"slide_type": "slide"}
# ## 3. The augmented ODE, and which way to solve it
#
# The state and its log-density move together. Carry along the path a scalar $\lambda(t)$ that
# changes like the log-density, $\lambda(t)=\log p_t\big(x(t)\big)+\text{const}$ (the constant is
# set by the initial value); the **augmented ODE** is
#
# $$\frac{d}{dt}\begin{bmatrix}x\\ \lambda\end{bmatrix}=\begin{bmatrix}v(t,x)\\ -\nabla\!\cdot v(t,x)\end{bmatrix}.$$
#
# It is used in two directions:
#
# * **Sampling with densities** (forwards, $t: 0\to1$): start from $z\sim p_0$ with
#   $\lambda(0)=\log p_0(z)$; at $t=1$ you hold a sample $x=x(1)$ and $\lambda(1)=\log p_1(x)$.
# * **Likelihood of data** (backwards, $t: 1\to0$): start from a *data point* $x(1)=x$ with
#   $\lambda(1)=0$; at $t=0$ you hold its latent $x(0)$ and
#   $\lambda(0)=\log p_0(x(0))-\log p_1(x)$, so
#   $$\log p_1(x)=\log p_0\big(x(0)\big)-\lambda(0).$$
#
# Here is the whole method, with the exact divergence by autograd, in a few lines.
# `cu.cnf.CNF` does the same (plus Hutchinson, the adjoint and a counter of evaluations):

# %%
def augmented(v):
    # d/dt (x, lambda) = (v(t, x), -div v(t, x)); the divergence by d backward passes
    def f(t, state):
        with torch.enable_grad():
            x = state[0].detach().requires_grad_(True)
            vx = v(t, x)
            div = sum(
                torch.autograd.grad(vx[:, i].sum(), x, retain_graph=True)[0][:, i]
                for i in range(x.shape[1])
            )
        return vx.detach(), -div.detach()

    return f


def log_prob_backwards(v, x, **solver):
    # log p_1(x): integrate (x, 0) from t = 1 back to t = 0
    xs, ls = odeint(augmented(v), (x, torch.zeros(len(x), dtype=x.dtype)), T10, **solver)
    return standard_normal_log_prob(xs[-1]) - ls[-1]


def sample_forwards(v, n, seed, **solver):
    # (x(1), log p_1(x(1))) for n draws x(0) ~ N(0, I)
    z = torch.randn(n, 2, generator=gen(seed), dtype=F64)
    xs, ls = odeint(augmented(v), (z, standard_normal_log_prob(z)), T01, **solver)
    return xs[-1], ls[-1]


tight = dict(rtol=1e-9, atol=1e-9)
x_samp, logp_forward = sample_forwards(v_toy, 5, seed=3, **tight)
logp_backward = log_prob_backwards(v_toy, x_samp, **tight)
with torch.no_grad():  # no gradients needed: no graph through the solver
    logp_package = CNF(v_toy, 2, **tight).log_prob(x_samp)
print("log p_1 of 5 samples, carried forwards:", np.round(logp_forward.numpy(), 4))
print("the same points, solved backwards     :", np.round(logp_backward.numpy(), 4))
print("cu.cnf.CNF.log_prob                   :", np.round(logp_package.numpy(), 4))
assert torch.allclose(logp_forward, logp_backward, atol=1e-7)
assert torch.allclose(logp_package, logp_backward, atol=1e-7)

with torch.no_grad():
    mass = cu.grid.integrate_density_2d(CNF(v_toy, 2, rtol=1e-6, atol=1e-6).log_prob, lim=6.0, n=80)
print(f"integral of p_1 over [-6, 6]^2: {mass:.4f}")
assert abs(mass - 1) < 2e-3


# %% [markdown] slideshow={"slide_type": "subslide"}
# > **Pitfall.** *A tempting recipe:* "to train a CNF, integrate $(z(0),\log p_0(z(0)))$ forwards
# > from $t=0$ to $t=1$; the forward pass gives $x=z(1)$ and $\log p_1(x)$." That gives the
# > density of a point **the model generates**, not of a data point: maximum likelihood needs
# > $\log p_1(x)$ at a *given* $x$, whose latent $z(0)$ is unknown. The training pass starts at
# > the data point and integrates **backwards** from $t=1$ to $t=0$ (as in FFJORD). Running the
# > forward recipe from a data point computes the density of a different point, the point
# > $x(1)$ that $x$ flows to, and attributes it to $x$. The cell below shows both: the numbers
# > disagree with the correct ones, and they equal the correct log-density at $x(1)$.
# > (Source: R, *Solving the CNF ODE in Practice*.)

# %%
def wrong_forward_recipe(v, x, **solver):
    # the notes' recipe applied to data: treat x as z(0) and integrate forwards
    xs, ls = odeint(augmented(v), (x, standard_normal_log_prob(x)), T01, **solver)
    return ls[-1]


x_data = torch.tensor([[0.5, -1.0], [1.5, 0.3], [-0.7, 0.8]], dtype=F64)
print("correct (backwards) log p_1(x):", np.round(log_prob_backwards(v_toy, x_data, **tight).numpy(), 4))
print("forward recipe from x         :", np.round(wrong_forward_recipe(v_toy, x_data, **tight).numpy(), 4))
# what it computed: the correct log-density of the point x(1) that x flows to
x_moved = odeint(v_toy, x_data, T01, **tight)[-1]
print("correct log p_1 at x(1)       :", np.round(log_prob_backwards(v_toy, x_moved, **tight).numpy(), 4))
assert torch.allclose(wrong_forward_recipe(v_toy, x_data, **tight), log_prob_backwards(v_toy, x_moved, **tight), atol=1e-7)
assert (wrong_forward_recipe(v_toy, x_data, **tight) - log_prob_backwards(v_toy, x_data, **tight)).abs().min() > 0.1

# %% [markdown] slideshow={"slide_type": "slide"}
# ## 4. The 2-D linear-scaling CNF, by hand and by the solver *(optional)*
#
# R's worked example: $v(t,x)=Ax$ with $A=\operatorname{diag}(a_1,a_2)$. The ODE decouples,
# $x_i(t)=e^{a_it}x_i(0)$, the divergence is $\operatorname{tr}A=a_1+a_2$ everywhere, so
# $\lambda(t)=\log p_t(x(t))$ changes linearly in time at rate $-(a_1+a_2)$ (below,
# $a=(0.4,-0.6)$: the rate is $+0.2$, the flow contracts area and the density along a
# trajectory rises), and
#
# $$\log p_1(x)=-\tfrac12\big(e^{-2a_1}x_1^2+e^{-2a_2}x_2^2\big)-\log(2\pi)-(a_1+a_2),$$
#
# the same as the discrete linear flow with $\det=e^{a_1+a_2}$. The notes' derivation is right;
# SymPy re-derives it from the ODE:

# %%
t, a1, a2, x1, x2 = sp.symbols("t a_1 a_2 x_1 x_2", real=True)
c = sp.symbols("c")
z1 = sp.Function("z1")
sol = sp.dsolve(sp.Eq(z1(t).diff(t), a1 * z1(t)), z1(t), ics={z1(0): c}).rhs
print("z1(t) =", sol)
# invert at t = 1: z(0) = exp(-A) x, then log p_0(z(0)) - integral_0^1 tr A dt
z0 = (sp.solve(sp.Eq(sol.subs(t, 1), x1), c)[0], x2 * sp.exp(-a2))
log_p1 = -(z0[0] ** 2 + z0[1] ** 2) / 2 - sp.log(2 * sp.pi) - sp.integrate(a1 + a2, (t, 0, 1))
print("log p_1(x) =", sp.simplify(log_p1))
# the discrete change of variables with x = diag(e^{a1}, e^{a2}) z gives the same
discrete = -(z0[0] ** 2 + z0[1] ** 2) / 2 - sp.log(2 * sp.pi) - sp.log(sp.exp(a1) * sp.exp(a2))
print("equal to the discrete flow's formula:", sp.simplify(sp.expand_log(log_p1 - discrete)) == 0)

# %%
a_vals = (0.4, -0.6)
A_lin = torch.diag(torch.tensor(a_vals, dtype=F64))
closed_form = sp.lambdify((x1, x2), log_p1.subs({a1: a_vals[0], a2: a_vals[1]}), "numpy")
cnf_lin = CNF(LinearField(A_lin), dim=2, rtol=1e-10, atol=1e-10)

x_test = 2 * torch.randn(1000, 2, generator=gen(4), dtype=F64)
with torch.no_grad():
    numeric = cnf_lin.log_prob(x_test)
analytic = torch.as_tensor(closed_form(x_test[:, 0].numpy(), x_test[:, 1].numpy()))
print(f"max |solver - closed form| over 1000 points < 1e-8: {float((numeric - analytic).abs().max()) < 1e-8}")

# lambda(t) = log p_t(x(t)) along one trajectory changes linearly at rate -(a1 + a2) = +0.2:
# the flow contracts area (det e^A = e^{-0.2} < 1), so the density rises
ts = torch.linspace(0, 1, 6, dtype=F64)
z = torch.tensor([[1.0, 1.0]], dtype=F64)
_, ls = odeint(augmented(LinearField(A_lin)), (z, standard_normal_log_prob(z)), ts, **tight)
print("log p_t(x(t)) at t = 0, 0.2, ..., 1:", np.round(ls[:, 0].detach().numpy(), 4))
print("differences per 0.2 time units     :", np.round(np.diff(ls[:, 0].detach().numpy()), 4))
assert np.allclose(np.diff(ls[:, 0].detach().numpy()), -0.2 * sum(a_vals), atol=1e-7)

fig, axes = plt.subplots(1, 3, figsize=(15, 4))
density_map(standard_normal_log_prob, axes[0], title="p_0 = N(0, I)")
density_map(lambda x: torch.as_tensor(closed_form(x[:, 0].numpy(), x[:, 1].numpy())), axes[1],
            title="p_1, closed form")
with torch.no_grad():
    density_map(CNF(LinearField(A_lin), 2, rtol=1e-6, atol=1e-6).log_prob, axes[2],
                title="p_1, CNF (dopri5)")
plt.tight_layout()
plt.show()

# %% [markdown] slideshow={"slide_type": "slide"}
# ## 5. The divergence: exact trace versus Hutchinson's estimator
#
# ### 5.1 Exact, one backward pass per dimension
#
# Autograd gives vector–Jacobian products $u^\top J$ at the cost of about one evaluation of
# $v$. The exact trace needs the $d$ diagonal entries, one per product with a basis vector
# $e_i$: cost $\approx d$ backward passes (the code in section 3). The notes' "computing the
# full Jacobian is $O(D^2)$" undercounts: it is $d$ backward passes, each as expensive as a
# forward pass of the network — for an MLP of width $H$, $O(d\cdot dH)$ or more. Check against
# the trace of the full Jacobian:

# %%
torch.manual_seed(0)
field5 = MLPField(5, hidden=32).to(F64)
x5 = torch.randn(8, 5, generator=gen(5), dtype=F64)
t5 = torch.tensor(0.5, dtype=F64)
jac = torch.func.vmap(torch.func.jacrev(lambda y: field5(t5, y[None])[0]))(x5).detach()
x5g = x5.clone().requires_grad_(True)
div5 = divergence_exact(field5(t5, x5g), x5g).detach()
print("max |divergence_exact - trace of Jacobian| < 1e-12:",
      float((div5 - torch.diagonal(jac, dim1=1, dim2=2).sum(1)).abs().max()) < 1e-12)

# %% [markdown] slideshow={"slide_type": "subslide"}
# ### 5.2 Hutchinson's estimator and the right condition on the probe
#
# For a random probe vector $u$,
# $\mathbb E[u^\top Ju]=\mathbb E[\operatorname{tr}(Juu^\top)]
# =\operatorname{tr}\big(J\,\mathbb E[uu^\top]\big)$. So
#
# $$\operatorname{tr}J=\mathbb E_u\big[u^\top Ju\big]\quad\text{whenever}\quad
# \mathbb E[uu^\top]=I,$$
#
# e.g. for $u$ with **zero mean and identity covariance** — Rademacher entries
# ($\pm1$ with probability $\tfrac12$) or $\mathcal N(0,I)$. One probe costs **one** backward
# pass: $u^\top J$ is a vector–Jacobian product, then a dot product with $u$
# (`divergence_hutchinson`). The estimate is unbiased, so a CNF trained with it follows the
# right gradient on average (Grathwohl et al., 2019).

# %% [markdown] slideshow={"slide_type": "subslide"}
# > **Pitfall.** *A tempting condition:* "Hutchinson's estimator is unbiased when the probe
# > satisfies $\mathbb E[u^\top u]=I$." The left side is a **scalar** (for Rademacher and
# > Gaussian probes it equals $d$, not an identity matrix), and a scalar condition is not
# > enough. The condition is on the **outer** product, $\mathbb E[uu^\top]=I$, for example zero
# > mean and identity covariance (in general
# > $\mathbb E[uu^\top]=\operatorname{Cov}[u]+\mathbb E[u]\,\mathbb E[u]^\top$). Below, a probe whose $d$
# > entries share one random sign has $u^\top u=d$ exactly, like a Rademacher probe, yet
# > $\mathbb E[uu^\top]$ is the all-ones matrix and the "estimate" converges to the sum of
# > **all** entries of $J$, not to its trace. (Source: R, *Estimating the Trace Term
# > Efficiently*, which calls the probe $v$ and writes $\mathbb E[v^\top v]=I$.)

# %%
A4 = torch.randn(4, 4, generator=gen(6), dtype=F64)
n = 200_000
probes = {
    "rademacher": sample_probe((n, 4), "rademacher", generator=gen(7), dtype=F64),
    "gaussian": sample_probe((n, 4), "gaussian", generator=gen(8), dtype=F64),
    "one shared sign": sample_probe((n, 1), "rademacher", generator=gen(9), dtype=F64).expand(n, 4),
}
print(f"tr A = {float(torch.trace(A4)):.4f}, sum of all entries = {float(A4.sum()):.4f}")
print(f"{'probe':>16} | mean u^T u | max |E[uu^T] - I| | mean of u^T A u")
for name, e in probes.items():
    quad = ((e @ A4.T) * e).sum(1)  # u^T A u for every probe u
    cov_err = float((e.T @ e / n - torch.eye(4, dtype=F64)).abs().max())
    print(f"{name:>16} | {float((e * e).sum(1).mean()):10.3f} | {cov_err:17.3f} | {float(quad.mean()):10.4f}")
shared = ((probes["one shared sign"] @ A4.T) * probes["one shared sign"]).sum(1).mean()
assert abs(float(shared - A4.sum())) < 1e-9 and abs(float(shared - torch.trace(A4))) > 1

# %% [markdown] slideshow={"slide_type": "subslide"}
# ### 5.3 Variance *(optional)*
#
# Write $S=\tfrac12(J+J^\top)$. One Gaussian probe has
# $\operatorname{Var}[u^\top Ju]=2\|S\|_F^2$; one Rademacher probe has
# $u_i^2=1$, which removes the diagonal's share:
#
# $$\operatorname{Var}_{\text{Gauss}}=2\|S\|_F^2,\qquad
# \operatorname{Var}_{\text{Rad}}=2\|S\|_F^2-2\sum_i J_{ii}^2\;\Big(=2\big(\|J\|_F^2-\textstyle\sum_i J_{ii}^2\big)\text{ for symmetric }J\Big).$$
#
# Rademacher probes are never worse, and exact for a diagonal $J$ (the linear-scaling example).
# Averaging $M$ probes divides the variance by $M$: the standard error falls like
# $1/\sqrt M$. Measured on the matrix above:

# %%
S4 = 0.5 * (A4 + A4.T)
var_formula = {
    "rademacher": float(2 * (S4**2).sum() - 2 * (torch.diagonal(A4) ** 2).sum()),
    "gaussian": float(2 * (S4**2).sum()),
}
estimates = {}
for name in ("rademacher", "gaussian"):
    e = probes[name]
    estimates[name] = ((e @ A4.T) * e).sum(1)
    print(f"{name:>10}: mean {float(estimates[name].mean()):.3f} (tr A = {float(torch.trace(A4)):.3f}),"
          f" variance {float(estimates[name].var()):.3f} (formula {var_formula[name]:.3f})")
    assert abs(float(estimates[name].var()) / var_formula[name] - 1) < 0.03

print("averaging M Rademacher probes:")
for M in (1, 4, 16, 64):
    means = estimates["rademacher"][: (n // M) * M].reshape(-1, M).mean(1)
    print(f"  M = {M:2d}: std {float(means.std()):.3f}  (formula {math.sqrt(var_formula['rademacher'] / M):.3f})")

fig, ax = plt.subplots(figsize=(6, 3.8))
bins = np.linspace(-25, 25, 101)
for name in ("gaussian", "rademacher"):
    ax.hist(estimates[name].numpy(), bins=bins, density=True, alpha=0.5, label=name)
ax.axvline(float(torch.trace(A4)), color="k", ls="--", label="tr A")
ax.set(title="one-probe Hutchinson estimates of tr A", xlabel="estimate", ylabel="density")
ax.legend()
plt.show()


# %% [markdown] slideshow={"slide_type": "subslide"}
# ### 5.4 Cost as the dimension grows: a prediction, then a measurement *(optional)*
#
# Count backward passes per evaluation of the divergence: exact $d$, Hutchinson with $M$
# probes $M$ (plus one shared forward pass). **Prediction:** Hutchinson is cheaper as soon as
# $d>M$ — from $d=2$ with one probe (where it saves one pass out of three, a margin that timing
# noise can hide), from about $d\approx8$ with eight — and the ratio of exact to one-probe cost
# grows roughly like $d$. The measurement uses an MLP field of width 128 on a
# batch of 64 points (times vary between machines; the assertions only check the trend):

# %% tags=["nbval-ignore-output"]
def best_time(fn, reps=3):
    fn()
    times = []
    for _ in range(reps):
        start = time.perf_counter()
        fn()
        times.append(time.perf_counter() - start)
    return min(times)


dims = [2, 4, 8, 16, 32, 64, 128]
cost = {"exact": [], "hutchinson M=1": [], "hutchinson M=8": []}
torch.manual_seed(0)
for d in dims:
    f_d = MLPField(d, hidden=128)
    x_d = torch.randn(64, d, requires_grad=True)
    t_d = torch.tensor(0.5)
    e1, e8 = sample_probe((1, 64, d)), sample_probe((8, 64, d))
    exact = lambda: divergence_exact(f_d(t_d, x_d), x_d)  # noqa: B023 (called at once)
    hutch = lambda e: (lambda: divergence_hutchinson(f_d(t_d, x_d), x_d, e))  # noqa: B023
    cost["exact"].append(best_time(exact))
    cost["hutchinson M=1"].append(best_time(hutch(e1)))
    cost["hutchinson M=8"].append(best_time(hutch(e8)))
print("   d |  exact (ms) | Hutch M=1 (ms) | Hutch M=8 (ms) | exact / M=1")
for i, d in enumerate(dims):
    ex, h1, h8 = (cost[k][i] * 1e3 for k in cost)
    print(f"{d:4d} | {ex:11.2f} | {h1:14.2f} | {h8:14.2f} | {ex / h1:8.1f}")

fig, ax = plt.subplots(figsize=(6, 4))
for name, values in cost.items():
    ax.loglog(dims, np.array(values) * 1e3, "o-", label=name)
ax.set(title="cost of one divergence evaluation", xlabel="dimension d", ylabel="time (ms)")
ax.legend()
plt.show()
assert cost["exact"][-1] > 8 * cost["hutchinson M=1"][-1]   # d = 128
assert cost["exact"][0] < cost["hutchinson M=8"][0]          # d = 2 < M: exact is cheaper
assert cost["exact"][-1] > cost["hutchinson M=8"][-1]        # d = 128 > M: Hutchinson is cheaper

# %% [markdown] slideshow={"slide_type": "subslide"}
# Hutchinson trades exactness for speed: its noise enters the loss (and its gradient), while
# the exact trace is free of noise but scales with $d$. In 2-D, as in the training below, the
# exact trace is the right choice; for images ($d$ in the thousands) only the estimator is
# affordable. `benchmarks/cnf.py` repeats this measurement up to $d=512$.

# %% [markdown] slideshow={"slide_type": "slide"}
# ## 6. Gradients: back-propagation through the solver versus the adjoint *(optional)*
#
# ### 6.1 From back-propagating Euler steps to the adjoint ODE
#
# Training needs $\partial L/\partial\theta$ for a loss of the solution. Back-propagating
# through $K$ Euler steps $x_{k+1}=x_k+h\,v(t_k,x_k;\theta)$ (R, *Backpropagation Through an
# ODE Solver*) runs the chain rule backwards. With $a_k=\partial L/\partial x_k$:
#
# $$a_k=a_{k+1}\big(I+h\,J_k\big),\qquad
# \frac{\partial L}{\partial\theta}=\sum_{k=0}^{K-1}h\,a_{k+1}\frac{\partial v}{\partial\theta}(t_k,x_k).$$
#
# Every step needs $x_k$ (and the network's activations at $x_k$), so all of them are stored:
# memory grows with the number of steps. As $h\to0$ these recursions become ODEs solved
# backwards from $a(1)=\partial L/\partial x(1)$:
#
# $$\frac{da}{dt}=-a^\top\frac{\partial v}{\partial x}\big(t,x(t)\big),\qquad
# \frac{\partial L}{\partial\theta}=\int_0^1 a^\top\frac{\partial v}{\partial\theta}\big(t,x(t)\big)\,dt .$$
#
# R states the first equation but not the second, which is the one training needs. The
# **adjoint method** (Pontryagin; Chen et al., 2018) integrates $x$, $a$ and the running
# parameter gradient together from $t=1$ back to $t=0$, recomputing $x(t)$ backwards instead
# of storing it. First, the discrete recursion written by hand reproduces autograd exactly:

# %%
torch.manual_seed(1)
field2 = MLPField(2, hidden=16).to(F64)
params = tuple(field2.parameters())
K, h = 50, 1.0 / 50
xs = [x_start[:20]]
for k in range(K):
    xs.append(xs[-1] + h * field2(torch.tensor(k * h, dtype=F64), xs[-1]))
loss = (xs[-1] ** 2).sum()
grads_autograd = torch.autograd.grad(loss, params)

a = 2 * xs[-1].detach()  # a_K = dL/dx_K
grads_hand = [torch.zeros_like(p) for p in params]
for k in reversed(range(K)):
    xk = xs[k].detach().requires_grad_(True)
    vk = field2(torch.tensor(k * h, dtype=F64), xk)
    aJ, *a_dv_dtheta = torch.autograd.grad(vk, (xk, *params), grad_outputs=a)
    grads_hand = [g + h * gp for g, gp in zip(grads_hand, a_dv_dtheta)]
    a = a + h * aJ  # a_k = a_{k+1} (I + h J_k)
gap = max(float((g1 - g2).abs().max()) for g1, g2 in zip(grads_autograd, grads_hand))
print(f"hand-written discrete adjoint vs autograd: max difference < 1e-12: {gap < 1e-12}")

# %% [markdown] slideshow={"slide_type": "subslide"}
# `cu.ode.odeint_adjoint` is the continuous version (torchdiffeq's calling convention: the
# forward solve runs without recording a graph; a `torch.autograd.Function` whose backward
# integrates $(x,a,a_\theta)$ backwards over each interval of `t`; the parameters are passed
# as `adjoint_params`, by default `func.parameters()`). Its gradients agree with
# back-propagation through `odeint` up to the solvers' tolerance — here for the CNF likelihood
# itself, in float64:

# %% tags=["nbval-ignore-output"]
x_batch = cu.data.get("gaussian_mixture").sample(64, generator=gen(10), dtype=F64)


def cnf_gradient(adjoint):
    torch.manual_seed(2)
    fld = MLPField(2, hidden=16).to(F64)
    loss = -CNF(fld, 2, adjoint=adjoint, rtol=1e-9, atol=1e-9).log_prob(x_batch).mean()
    loss.backward()
    return torch.cat([p.grad.reshape(-1) for p in fld.parameters()])


g_bp, g_adj = cnf_gradient(False), cnf_gradient(True)
rel = float((g_bp - g_adj).abs().max() / g_bp.abs().max())
print(f"max |g_adjoint - g_backprop| / max |g_backprop| = {rel:.1e}")
assert rel < 1e-6


# %% [markdown] slideshow={"slide_type": "subslide"}
# ### 6.2 Memory against the number of steps, measured
#
# What does each method keep for the backward pass? A `saved_tensors_hooks` context sees every
# tensor autograd stores; we add up the bytes of the distinct storages. Fixed-step RK4 with
# $n$ steps, a width-32 field, a batch of 128 points in float32:

# %% tags=["nbval-ignore-output"]
def saved_megabytes(solver, n_steps, fld, x0):
    storages = {}

    def pack(tensor):
        storage = tensor.untyped_storage()
        storages[storage.data_ptr()] = storage.nbytes()
        return tensor

    with torch.autograd.graph.saved_tensors_hooks(pack, lambda tensor: tensor):
        y = solver(fld, x0, T01.float(), method="rk4", step_size=1.0 / n_steps)
        nfe_forward = last_stats().nfe
    (y[-1] ** 2).sum().backward()
    nfe_total = nfe_forward + (last_stats().nfe if solver is odeint_adjoint else 0)
    return sum(storages.values()) / 2**20, nfe_total


torch.manual_seed(0)
fld32 = MLPField(2, hidden=32)
x128 = torch.randn(128, 2)
steps_list = [10, 30, 100, 200]
mem = {"backprop": [], "adjoint": []}
print("steps | backprop: MB saved, NFE | adjoint: MB saved, NFE")
for n_steps in steps_list:
    mb_bp, nfe_bp = saved_megabytes(odeint, n_steps, fld32, x128)
    mb_adj, nfe_adj = saved_megabytes(odeint_adjoint, n_steps, fld32, x128)
    mem["backprop"].append(mb_bp)
    mem["adjoint"].append(mb_adj)
    print(f"{n_steps:5d} | {mb_bp:9.2f} MB, {nfe_bp:5d}   | {mb_adj:8.3f} MB, {nfe_adj:5d}")

fig, ax = plt.subplots(figsize=(6, 4))
for name, values in mem.items():
    ax.loglog(steps_list, values, "o-", label=name)
ax.set(title="memory kept for the backward pass", xlabel="RK4 steps", ylabel="MB")
ax.legend()
plt.show()
growth_bp = mem["backprop"][-1] / mem["backprop"][0]
growth_adj = mem["adjoint"][-1] / mem["adjoint"][0]
per_step = (mem["backprop"][-1] - mem["backprop"][0]) / (steps_list[-1] - steps_list[0])
print(f"10 -> 200 steps: backprop memory x{growth_bp:.1f}, adjoint x{growth_adj:.2f}")
print(f"backprop keeps {per_step:.2f} MB per RK4 step")
assert growth_bp > 15 and growth_adj < 1.01
assert 0.08 < per_step < 0.2

# %% [markdown] slideshow={"slide_type": "subslide"}
# Back-propagation keeps about 0.13 MB per RK4 step here (the cell's last line; the table
# shows 1.3 MB at 10 steps and 26 MB at 200) — far more than the state itself (128 × 2
# floats = 1 KB): it stores every **activation** of every stage, not only the "intermediate
# states" the notes mention. The adjoint keeps the output and the parameters, whatever the
# number of steps, and pays with a second solve (twice the evaluations).
# `benchmarks/cnf.py` measures the peak memory of the whole process for 10 to 1000 steps.

# %% [markdown] slideshow={"slide_type": "slide"}
# ## 7. A small CNF trained by maximum likelihood
#
# The data: the course's three-blob Gaussian mixture (exact density, so its entropy — the
# lowest NLL any model can reach — is known). The model: `MLPField(2, hidden=32)` (two tanh
# layers, time as an extra input), base $\mathcal N(0,I)$. The loss: the NLL in nats,
# $-\frac1B\sum_{x\in\mathcal B}\log p_1(x)$ over a batch $\mathcal B$ of $B$ points, with
# the exact divergence.
#
# **Solver choices, stated.** For speed, training uses fixed-step RK4 with 3 steps (12
# evaluations of the augmented field per batch of 128 points, back-propagated through) and
# only 130 Adam steps. Evaluation uses the
# adaptive `dopri5` at `rtol = atol = 1e-6` on the *same* field. To scale up: more steps or
# `dopri5` in training, `adjoint=True` when memory runs out, Hutchinson when $d$ is large,
# more training steps and a wider network. The loop is written out below (the package's
# `cu.cnf.train_ml` is the same loop; notebook 07 §11 uses it). **Training cell** (it prints
# a progress line).

# %% tags=["nbval-ignore-output"]
data = cu.data.get("gaussian_mixture")
g = gen(11)
train_x, test_x = data.sample(4000, generator=g), data.sample(2000, generator=g)

torch.manual_seed(0)
field = MLPField(2, hidden=32)
model = CNF(field, 2, method="rk4", step_size=1 / 3)  # training solver: 3 RK4 steps
evaluator = CNF(field, 2, rtol=1e-6, atol=1e-6)  # the same field, adaptive dopri5
optimizer = torch.optim.Adam(field.parameters(), lr=1.5e-2)
nfe_probe = test_x[:256]
history = {"step": [], "loss": [], "nfe_dopri5": []}

start = time.perf_counter()
for step in range(130):
    batch = train_x[torch.randint(0, len(train_x), (128,), generator=g)]
    loss = -model.log_prob(batch).mean()  # maximum likelihood: minimise the NLL
    optimizer.zero_grad()
    loss.backward()
    optimizer.step()
    if step % 10 == 0 or step == 129:
        with torch.no_grad():
            evaluator.log_prob(nfe_probe)  # how hard is the field for an adaptive solver?
        history["step"].append(step)
        history["loss"].append(float(loss.detach()))
        history["nfe_dopri5"].append(evaluator.last_nfe)
    if (step + 1) % 65 == 0:
        print(f"  step {step + 1}/130  training NLL {float(loss.detach()):.3f} nats")
print(f"130 steps in {time.perf_counter() - start:.1f} s (timing)")
print(f"training loss: first {history['loss'][0]:.3f}, last {history['loss'][-1]:.3f} nats")
assert history["loss"][-1] < history["loss"][0] - 0.5

# %% tags=["nbval-ignore-output"]
test_nll = cu.cnf.nll(evaluator, test_x)
mean, cov = train_x.mean(0), torch.cov(train_x.T)  # the best single Gaussian (closed-form MLE)
gauss_nll = -float(torch.distributions.MultivariateNormal(mean, cov).log_prob(test_x).mean())
entropy = data.entropy()
print(f"held-out NLL: CNF {test_nll:.3f} nats | best Gaussian {gauss_nll:.3f} | data entropy {entropy:.3f}")
with torch.no_grad():
    mass = cu.grid.integrate_density_2d(lambda x: evaluator.log_prob(x.float()), lim=6.0, n=60)
print(f"integral of the trained p_1 over [-6, 6]^2: {mass:.4f}")
assert entropy - 0.05 < test_nll < min(gauss_nll, entropy + 0.2)
assert abs(mass - 1) < 1e-2

fig, axes = plt.subplots(1, 3, figsize=(13, 4))
cu.plotting.scatter(test_x[:1000], ax=axes[0], title="held-out data", lim=3.5)
with torch.no_grad():
    density_map(lambda x: evaluator.log_prob(x.float()), axes[1], lim=3.5, n=60,
                title="trained CNF density")
    samples = evaluator.sample(1000, generator=gen(12))
cu.plotting.scatter(samples, ax=axes[2], title="CNF samples", lim=3.5, color="tab:orange")
plt.tight_layout()
plt.show()

# %% [markdown] slideshow={"slide_type": "subslide"}
# **The path $p_t$ in time.** The model defines a density at every $t$, not only at $t=1$:
# $\log p_t(x)=\log p_0(x(0))-\lambda(0)$ from the augmented ODE of section 3 solved backwards
# from $x(t)=x$, $\lambda(t)=0$, down to $0$. Top row: these densities on a grid; bottom row:
# 1000 draws from $\mathcal N(0,I)$ carried forwards by the same ODE to the same times. The
# Gaussian is pulled apart into the three blobs, and the samples follow the density at every
# $t$ (the check: at each $t$ the grid density still integrates to 1).

# %% tags=["nbval-ignore-output"]
snap_t = [0.0, 0.25, 0.5, 0.75, 1.0]
solver_pt = dict(rtol=1e-5, atol=1e-5)


def log_p_t(x, t):
    # log p_t(x): integrate (x, 0) from t back to 0 with the augmented ODE of section 3
    if t == 0.0:
        return standard_normal_log_prob(x)
    xs, ls = odeint(augmented(field), (x, torch.zeros(len(x))), torch.tensor([t, 0.0]), **solver_pt)
    return standard_normal_log_prob(xs[-1]) - ls[-1]


with torch.no_grad():
    snaps = odeint(field, torch.randn(1000, 2, generator=gen(13)), torch.tensor(snap_t), **solver_pt)
fig, axes = plt.subplots(2, 5, figsize=(19, 7))
masses = []
for k, tt in enumerate(snap_t):
    lp = lambda x, tt=tt: log_p_t(x.float(), tt).double()
    masses.append(cu.grid.integrate_density_2d(lp, lim=4.5, n=50))
    density_map(lp, axes[0, k], lim=3.5, n=50, title=f"density $p_t$, t = {tt:.2f}")
    cu.plotting.scatter(snaps[k], ax=axes[1, k], lim=3.5, s=2, color="tab:orange",
                        title=f"samples, t = {tt:.2f}")
plt.tight_layout()
plt.show()
print("integral of p_t over [-4.5, 4.5]^2:", " ".join(f"{m:.3f}" for m in masses))
assert all(abs(m - 1) < 0.02 for m in masses)

# %% [markdown] slideshow={"slide_type": "slide"}
# ## 8. Limitations, measured *(optional)*
#
# R lists the limitations of CNFs; three of them can be seen on this tiny example.
#
# **The solver's work grows as training proceeds.** At initialisation the field is nearly
# constant and an adaptive solver needs few steps; as it learns to split the base into three
# blobs it bends, and `dopri5` needs more evaluations for the same tolerance — the likelihood,
# sampling and (with an adaptive training solver) every training step get slower. Regularising
# the field's kinetic energy or Jacobian (Finlay et al., 2020) fights this.

# %% tags=["nbval-ignore-output"]
print("training step :", history["step"])
print("dopri5 NFE    :", history["nfe_dopri5"])
fig, ax1 = plt.subplots(figsize=(6.5, 4))
ax1.plot(history["step"], history["nfe_dopri5"], "o-", color="tab:red")
ax1.set(title="work of the adaptive solver during training", xlabel="training step",
        ylabel="dopri5 NFE (rtol = atol = 1e-6)")
ax2 = ax1.twinx()
ax2.plot(history["step"], history["loss"], color="tab:blue", alpha=0.6)
ax2.set_ylabel("training NLL (nats)", color="tab:blue")
plt.tight_layout()
plt.show()
assert max(history["nfe_dopri5"][-5:]) > history["nfe_dopri5"][0]

# %% [markdown] slideshow={"slide_type": "subslide"}
# **The adjoint is not free.** It reconstructs $x(t)$ by solving backwards from $x(1)$. For a
# contracting field that backward solve is unstable: an error made at $t=1$ grows like the
# expansion of the reverse flow. Take $v(t,x)=(-k\,x_1,\;c\,x_1)$ with $k=25$, $c=1$, start
# $x(0)=(1,0)$ and the loss $L=x_2(1)=c\,(1-e^{-k})/k$, so $\partial L/\partial c=(1-e^{-k})/k=0.04$.
# The reverse flow expands $x_1$ by $e^{25}\approx7\times10^{10}$, so an absolute error of
# $10^{-9}$ in $x_1(1)$ — within the solver's tolerance — ruins the reconstruction, and with it
# the adjoint gradient, while back-propagation through the same forward solve is right:

# %%
k_rate, c_par = 25.0, torch.tensor(1.0, dtype=F64, requires_grad=True)
contracting = lambda t, x: torch.stack([-k_rate * x[:, 0], c_par * x[:, 0]], 1)
x0_c = torch.tensor([[1.0, 0.0]], dtype=F64)
solver_c = dict(rtol=1e-6, atol=1e-9)
with torch.no_grad():
    x1_c = odeint(contracting, x0_c, T01, **solver_c)[-1]
    x0_back = odeint(contracting, x1_c, T10, **solver_c)[-1]
print(f"x_1(1) = {float(x1_c[0, 0]):.1e} (exact {math.exp(-k_rate):.1e}, both below atol = 1e-9)")
print(f"x(0) reconstructed backwards: ({float(x0_back[0, 0]):.1f}, {float(x0_back[0, 1]):.2f}); true (1, 0)")

(g_bp,) = torch.autograd.grad(odeint(contracting, x0_c, T01, **solver_c)[-1][0, 1], c_par)
(g_adj,) = torch.autograd.grad(
    odeint_adjoint(contracting, x0_c, T01, adjoint_params=(c_par,), **solver_c)[-1][0, 1], c_par
)
g_exact = (1 - math.exp(-k_rate)) / k_rate
print(f"dL/dc: exact {g_exact:.4f}, back-propagation {float(g_bp):.4f}, adjoint {float(g_adj):.2f}")
assert abs(float(g_bp) - g_exact) < 1e-6 and abs(float(g_adj) - g_exact) > 0.1

# %% [markdown] slideshow={"slide_type": "subslide"}
# **Every evaluation is a solve.** A discrete flow evaluates its density in one pass; the CNF
# above needed tens of field evaluations (each with $d$ backward passes for the exact
# divergence) for every batch — in training, in evaluation and in sampling. Flow matching
# (notebook 07) keeps the continuous model but trains it **without** solving the ODE.
#
# ## Summary
#
# * A residual block is an Euler step; infinitely many small ones make an ODE flow, invertible
#   by integrating backwards, with any network as the field.
# * $\det(I+\varepsilon A)=1+\varepsilon\operatorname{tr}A+O(\varepsilon^2)$ turns the change of
#   variables into $\frac{d}{dt}\log p_t(x(t))=-\nabla\!\cdot v$: log-densities are integrals of
#   the divergence along the path.
# * The augmented ODE for $(x,\lambda)$ runs **forwards** to sample with densities and
#   **backwards** from a data point to evaluate its likelihood (the training direction).
# * The exact divergence costs $d$ backward passes; Hutchinson's $u^\top Ju$
#   costs one per probe $u$ and is unbiased when $\mathbb E[uu^\top]=I$; Rademacher
#   probes have the smaller variance, $2\|S\|_F^2-2\sum_iJ_{ii}^2$.
# * Back-propagation through the solver stores every stage of every step; the adjoint solves
#   $\dot a=-a^\top\partial_xv$ and $\partial_\theta L=\int a^\top\partial_\theta v\,dt$ backwards and
#   keeps constant memory, for twice the evaluations and some risk of drift.
# * A tiny CNF fits the three-blob mixture to within about a tenth of a nat of its entropy
#   (held-out NLL 2.51 against 2.455 in the run shown; the cell asserts less than 0.2);
#   the solver's work grows as it trains.
#
# ## Check yourself
#
# 1. Why is $\log\det(I+\varepsilon A)-\varepsilon\operatorname{tr}A$ of order $\varepsilon^2$, and
#    what is its leading term?
#
# <details><summary>Answer</summary>
#
# $\log\det(I+\varepsilon A)=\sum_i\log(1+\varepsilon\mu_i)=\sum_i(\varepsilon\mu_i-\tfrac12\varepsilon^2\mu_i^2+\dots)$
# over the eigenvalues $\mu_i$; the first-order terms are $\varepsilon\operatorname{tr}A$, so the
# remainder starts at $-\tfrac{\varepsilon^2}{2}\sum_i\mu_i^2=-\tfrac{\varepsilon^2}{2}\operatorname{tr}(A^2)$.
#
# </details>
#
# 2. You have a data point $x$ and a trained field. In which direction do you integrate, from
#    which initial values, to get $\log p_1(x)$? And to draw a sample with its density?
#
# <details><summary>Answer</summary>
#
# Likelihood: backwards from $t=1$ to $t=0$, starting at $(x,0)$; then
# $\log p_1(x)=\log p_0(x(0))-\lambda(0)$. Sampling: forwards from $t=0$, starting at
# $(z,\log p_0(z))$ with $z\sim\mathcal N(0,I)$; at $t=1$ you hold $x(1)$ and $\log p_1(x(1))$.
#
# </details>
#
# 3. For $v(t,x)=Ax$ with a **non-diagonal** $A$, what is $\log p_1(x)$? (Hint: `torch.linalg.matrix_exp`.)
#
# <details><summary>Answer</summary>
#
# The flow is $x(1)=e^{A}x(0)$ and $\nabla\cdot v=\operatorname{tr}A$, so
# $\log p_1(x)=\log\mathcal N(e^{-A}x;0,I)-\operatorname{tr}A$ (and indeed
# $\log\det e^{A}=\operatorname{tr}A$): $x\sim\mathcal N(0,e^{A}e^{A^\top})$.
#
# </details>
#
# 4. A probe has i.i.d. entries uniform on $[-\sqrt3,\sqrt3]$. Is Hutchinson's estimator still
#    unbiased? Is its variance larger or smaller than with Rademacher probes?
#
# <details><summary>Answer</summary>
#
# Unbiased: the entries have mean 0 and variance 1, so $\mathbb E[uu^\top]=I$. The variance is
# larger: for i.i.d. entries with fourth moment $m_4$,
# $\operatorname{Var}=2\|S\|_F^2+(m_4-3)\sum_iJ_{ii}^2$; $m_4=9/5$ here against 1 for Rademacher,
# so it lies between Rademacher ($m_4=1$) and Gaussian ($m_4=3$).
#
# </details>
#
# 5. With $M$ probes in dimension $d$, when is Hutchinson cheaper than the exact trace, and how
#    many probes make its standard error smaller than $0.01$ for the matrix of section 5.3?
#
# <details><summary>Answer</summary>
#
# When $M<d$ (it needs $M$ backward passes against $d$). The standard error is
# $\sqrt{\operatorname{Var}/M}$, so $M>\operatorname{Var}/10^{-4}$: with the Rademacher variance of about
# 14.7 printed in section 5.3, about 150 000 probes. That is why training uses one probe per
# step and lets the noise average out over the steps, instead of estimating each trace
# precisely.
#
# </details>
#
# 6. Which quantity does back-propagation through RK4 store per step, and why is it much more
#    than the state?
#
# <details><summary>Answer</summary>
#
# The inputs and activations of every layer of the network for each of the four stages of
# every step (what autograd needs for the backward pass). A width-32 MLP on a batch of 128
# has many more activations than the $128\times2$ numbers of the state.
#
# </details>
#
# 7. Why can the adjoint gradient be wrong even when every solve meets its tolerance? Give a
#    field for which it is exact.
#
# <details><summary>Answer</summary>
#
# It reconstructs $x(t)$ by solving backwards from $x(1)$; for a contracting flow the backward
# solve amplifies the small errors allowed by the tolerance (by $e^{25}$ in section 8), so the
# reconstructed path and the gradient are wrong. For a constant field $v(t,x)=c$ (or any
# field whose Euler or RK steps are exact, such as $v=b(t)$), the backward reconstruction is
# exact and so is the adjoint gradient, up to rounding.
#
# </details>
#
# ## References
#
# * **R** — N. Ray, *Image Generation using Normalizing Flows and Flow Matching* (lecture
#   notes): "From Discrete Flows to Continuous Normalizing Flows", "Continuous Flow Dynamics &
#   Instantaneous Change of Variables", "2D CNF: Simple Linear Scaling ODE", "Backpropagation
#   Through an ODE Solver", "The Adjoint Method", "Estimating the Trace Term Efficiently",
#   "Limitations of CNFs", "Derivation of ODE". Corrected here: the probe condition
#   ($\mathbb E[uu^\top]=I$ for the probe $u$, not R's $\mathbb E[v^\top v]=I$) and the direction of
#   the training solve.
# * **K** — P. Khungurn, *Flow Matching for Generative Modeling* (notes): flows, neural ODEs
#   and CNFs (§1.1), the continuity equation.
# * **M** and **G** (C. Miyamoto, *Machine Learning for Physicists: Recitation Notes*; the
#   technical notes on volume metrics) are not used in this notebook.
# * R. T. Q. Chen, Y. Rubanova, J. Bettencourt, D. Duvenaud. *Neural Ordinary Differential
#   Equations*. NeurIPS 2018.
# * W. Grathwohl, R. T. Q. Chen, J. Bettencourt, I. Sutskever, D. Duvenaud. *FFJORD: Free-form
#   Continuous Dynamics for Scalable Reversible Generative Models*. ICLR 2019.
# * M. F. Hutchinson. *A stochastic estimator of the trace of the influence matrix for Laplacian
#   smoothing splines*. Communications in Statistics – Simulation and Computation, 1990.
# * H. Avron, S. Toledo. *Randomized algorithms for estimating the trace of an implicit symmetric
#   positive semi-definite matrix*. Journal of the ACM, 2011.
# * L. S. Pontryagin et al. *The Mathematical Theory of Optimal Processes*, 1962 (the adjoint).
# * A. Gholami, K. Keutzer, G. Biros. *ANODE: Unconditionally Accurate Memory-Efficient
#   Gradients for Neural ODEs*. IJCAI 2019 (adjoint drift).
# * C. Finlay, J.-H. Jacobsen, L. Nurbekyan, A. Oberman. *How to train your neural ODE: the
#   world of Jacobian and kinetic regularization*. ICML 2020 (growing NFE).
