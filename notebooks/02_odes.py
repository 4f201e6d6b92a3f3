# %% [markdown] slideshow={"slide_type": "slide"}
# # 02 · Ordinary differential equations and their solvers
#
# A continuous normalizing flow (notebook 06) and a flow-matching model (notebook 07) are
# *vector fields*: to sample, or to compute a likelihood, we move points along the field by
# solving an ordinary differential equation (ODE). Nothing in those models can be computed
# without a numerical ODE solver, and the solver decides how much every sample costs. This
# notebook builds the solvers from the simplest one up and measures everything they promise.
#
# **Learning objectives.** After this notebook you can
#
# 1. solve a linear ODE exactly with SymPy and numerically with Euler's method by hand;
# 2. derive the midpoint, Heun and classical Runge–Kutta (RK4) steps as better quadrature
#    rules, and *measure* their order of convergence from a log–log plot;
# 3. explain and predict the stability limit of explicit Euler ($h<1$ for $y'=-2y$) and why
#    it makes stiff problems expensive;
# 4. explain how an embedded Runge–Kutta pair (Dormand–Prince 5(4)) estimates its own error,
#    accepts or rejects steps and chooses the next step size, and read its cost (NFE);
# 5. solve systems and time-dependent vector fields $v(t,x)$ on batches of points, draw
#    phase portraits, integrate backwards in time and measure the round-trip error;
# 6. say why the cost of an adaptive solve varies from field to field and from batch to
#    batch — the reason CNF training time is hard to predict.
#
# **Prerequisites.** Calculus (Taylor series, the integral of a derivative), Python and
# torch tensors, `00_start_here` (course notation: time runs from $t=0$, noise, to $t=1$,
# data; a field is called as `v(t, x)` with `x` of shape `(batch, dim)`).
#
# **Estimated time.** 90 minutes (about 30 s to run all cells).
#
# **Sources.** R §2, R "Why do we need numerical ODE solvers?" and "Backpropagation through
# an ODE solver", G §2.1, K (the NFE remark); full titles in the references.
# **Pitfall** boxes state a tempting wrong claim, show the cell that exposes it and cite
# where it appears; the notes' misprints are listed in [`docs/ERRATA.md`](../docs/ERRATA.md).
#
# **Route.** Sections 1–4 and 6–9 are core; 5 and 10 are marked *(optional)*. Later
# notebooks link to two boxes here: [what NFE counts](#nfe) (section 6) and
# [the reverse-time sign](#reverse-time-sign) (section 8).
#
# **The solver in `course_utils`.** Everything taught here is also available, tested, as
# `cu.ode.odeint(v, x0, t, method=...)` with torchdiffeq's calling convention; later
# notebooks use it. We write each method by hand first and then check it against
# `cu.ode.odeint` and against scipy's independent solvers.

# %%
import numpy as np
import torch
import matplotlib.pyplot as plt
import course_utils as cu

device = cu.setup(seed=0)

# %%
import math

import sympy as sp
from scipy.integrate import solve_ivp

from course_utils.ode import last_stats, odeint

# Every result below is compared with an exact value, so we compute in float64.
torch.set_default_dtype(torch.float64)


def tt(*values):
    # A float64 tensor of times (or values): tt(0.0, 1.0).
    return torch.tensor(values, dtype=torch.float64)


# %% [markdown] slideshow={"slide_type": "slide"}
# ## 1. An ODE and its exact solution
#
# An ODE prescribes the velocity of a quantity $y(t)$ as a function of time and of the
# quantity itself:
#
# $$\frac{dy}{dt} = f(t, y), \qquad y(t_0) = y_0 .$$
#
# (R writes $f(y,t)$; the course, like torchdiffeq, puts time first: `f(t, y)`.) Our running
# example from R §2 is exponential decay,
#
# $$\frac{dy}{dt} = -2y, \qquad y(0) = 3 .$$
#
# SymPy solves it symbolically; we then check that the answer satisfies both the equation
# and the initial condition, and evaluate it at $t = 0.5$ (R: $3e^{-1}\approx 1.10$).

# %%
t_s = sp.symbols("t", real=True)
y_f = sp.Function("y")
ode_eq = sp.Eq(y_f(t_s).diff(t_s), -2 * y_f(t_s))
solution = sp.dsolve(ode_eq, y_f(t_s), ics={y_f(0): 3})
y_sym = solution.rhs
print("dsolve:", solution)
residual = sp.simplify(y_sym.diff(t_s) + 2 * y_sym)
print("residual dy/dt + 2y =", residual, "| y(0) =", y_sym.subs(t_s, 0))
print(f"y(0.5) = 3/e = {float(y_sym.subs(t_s, sp.Rational(1, 2))):.4f}")
assert residual == 0 and y_sym.subs(t_s, 0) == 3


def y_exact(t):
    return 3.0 * math.exp(-2.0 * t)


# %% [markdown] slideshow={"slide_type": "slide"}
# ## 2. Euler's method by hand
#
# Integrating the ODE over one step of length $h$ gives an *exact* update,
#
# $$y(t+h) = y(t) + \int_t^{t+h} f\big(s, y(s)\big)\, ds ,$$
#
# and every one-step solver is a way to approximate that integral. **Euler's method**
# freezes the integrand at the left end (a left Riemann sum):
#
# $$y_{n+1} = y_n + h\, f(t_n, y_n), \qquad t_n = t_0 + n h .$$
#
# For $f = -2y$ this is $y_{n+1} = (1 - 2h)\,y_n$. With $h = 0.1$: $y_1 = 3 - 0.6 = 2.4$,
# $y_2 = 2.4 - 0.48 = 1.92$ — the table of R §2. Five lines of Python reproduce it:

# %%
def f_decay(t, y):
    return -2.0 * y


h = 0.1
y_n = 3.0
euler_values = [y_n]
print(" n    t_n    Euler y_n   exact y(t_n)   error")
for n in range(6):
    t_n = n * h  # n * h, not a running sum of h's, so t_n carries no rounding drift
    print(f"{n:2d}  {t_n:5.2f}   {y_n:9.5f}   {y_exact(t_n):11.5f}   {y_n - y_exact(t_n):8.5f}")
    y_n = y_n + h * f_decay(t_n, y_n)
    euler_values.append(y_n)
assert abs(euler_values[1] - 2.4) < 1e-12 and abs(euler_values[2] - 1.92) < 1e-12

# %% [markdown] slideshow={"slide_type": "subslide"}
# The notes' numbers are right: $2.4$ and $1.92$. The package's solver, with one Euler step
# per interval of the output grid, gives the same numbers to the last bit:

# %%
grid = torch.linspace(0.0, 0.5, 6)
y_pkg = odeint(lambda t, y: -2.0 * y, tt(3.0), grid, method="euler")
print("cu.ode.odeint(method='euler'):", [f"{v:.5f}" for v in y_pkg[:, 0].tolist()])
assert max(abs(a - b) for a, b in zip(y_pkg[:, 0].tolist(), euler_values[:6], strict=True)) < 1e-14

# %% [markdown] slideshow={"slide_type": "subslide"}
# > **Pitfall.** *Common mistake:* writing the Euler update as $y_{t+1}=y_t-2\Delta t\,y_t$
# > and then reading $y_1$ as "the solution at $t=1$". The subscript counts **steps**, not
# > time: $y_1=2.4$ approximates $y(0.1)=2.456$, not $y(1)=0.406$. Write $y_{n+1}$ and
# > $t_n=n\,\Delta t$ to keep the two apart (the course's notation: subscripts of $y$ are step
# > numbers, times appear as arguments). *Check (next cell):* it prints both readings and
# > asserts that $y_1$ is within 0.06 of $y(0.1)$ and farther than that from $y(1)$; the
# > assertion fails for the reading "$y_1\approx y(1)$". *(R §2, Euler's method example.)*

# %%
print(f"y_1 (Euler, one step of 0.1) = {euler_values[1]:.4f}")
print(f"y(0.1) = {y_exact(0.1):.4f}   y(1) = {y_exact(1.0):.4f}")
assert abs(euler_values[1] - y_exact(0.1)) < 0.06 < abs(euler_values[1] - y_exact(1.0))

# %% [markdown] slideshow={"slide_type": "subslide"}
# On this problem Euler can be solved in closed form too: $y_n = 3(1-2h)^n$. At a fixed time
# $T = nh$ this is $3\,(1-2h)^{T/h}$, and SymPy confirms that it tends to the exact
# $3e^{-2T}$ as $h\to 0$ — Euler *converges*. How fast is the next question.

# %%
h_s, T_s = sp.symbols("h T", positive=True)
euler_closed = 3 * (1 - 2 * h_s) ** (T_s / h_s)
limit = sp.limit(euler_closed, h_s, 0)
print("lim_{h->0} 3(1-2h)^(T/h) =", limit)
assert sp.simplify(limit - 3 * sp.exp(-2 * T_s)) == 0
# the same formula reproduces the table: 3 * 0.8^2 = 1.92
assert abs(float(euler_closed.subs({h_s: sp.Rational(1, 10), T_s: sp.Rational(2, 10)})) - 1.92) < 1e-12

# %% [markdown] slideshow={"slide_type": "slide"}
# ## 3. Global error versus step size
#
# Euler's *local* error — the error made in one step from the exact value — is the
# remainder of a first-order Taylor expansion, $\tfrac{h^2}{2}y''(\xi)$. Reaching a fixed
# time $T$ takes $T/h$ steps, so the *global* error at $T$ is of order $(T/h)\cdot h^2 = h$:
# Euler is a **first-order** method. A method of order $p$ has global error $\approx C h^p$,
# a straight line of slope $p$ on a log–log plot. We measure both slopes.

# %%
steps = [2 ** k for k in range(2, 11)]  # 4 ... 1024 steps on [0, 1]
global_err, local_err = [], []
for n in steps:
    h = 1.0 / n
    y_n = 3.0
    for k in range(n):
        y_n = y_n + h * f_decay(k * h, y_n)
    global_err.append(abs(y_n - y_exact(1.0)))
    local_err.append(abs(3.0 + h * f_decay(0.0, 3.0) - y_exact(h)))  # one step from the exact y(0)

hs = np.array([1.0 / n for n in steps])
fig, ax = plt.subplots(figsize=(5.5, 4))
_, slope_global = cu.plotting.loglog(hs, global_err, ax=ax, label="global error at t = 1")
_, slope_local = cu.plotting.loglog(hs, local_err, ax=ax, label="local error of one step", marker="s")
ax.set(title="Euler on dy/dt = -2y", xlabel="step size h", ylabel="absolute error")
plt.show()
print(f"measured slopes: global {slope_global:.3f} (order 1), local {slope_local:.3f} (order 2)")
assert abs(slope_global - 1) < 0.1 and abs(slope_local - 2) < 0.1


# %% [markdown] slideshow={"slide_type": "subslide"}
# Halving $h$ halves the error and doubles the work: to gain six digits Euler needs a
# million times more steps. Better quadrature rules do much better.

# %% [markdown] slideshow={"slide_type": "slide"}
# ## 4. Midpoint, Heun and RK4: better quadrature rules
#
# Approximate $\int_t^{t+h} f\,ds$ by a better rule, estimating the unknown $y$ inside the
# interval by Euler-type predictor steps. Each evaluation of $f$ is a *stage* $k_i$:
#
# | method | quadrature | step | stages | order |
# |---|---|---|---|---|
# | Euler | left rectangle | $y + h k_1$, $k_1 = f(t,y)$ | 1 | 1 |
# | midpoint | midpoint rule | $y + h k_2$, $k_2 = f(t+\tfrac h2, y+\tfrac h2 k_1)$ | 2 | 2 |
# | Heun | trapezoid rule | $y + \tfrac h2(k_1 + k_2)$, $k_2 = f(t+h, y+h k_1)$ | 2 | 2 |
# | RK4 | Simpson's rule | $y + \tfrac h6(k_1 + 2k_2 + 2k_3 + k_4)$ | 4 | 4 |
#
# with, for RK4, $k_2 = f(t+\tfrac h2, y+\tfrac h2 k_1)$, $k_3 = f(t+\tfrac h2, y+\tfrac h2
# k_2)$, $k_4 = f(t+h, y+hk_3)$. Here they are for **batched** fields: `x` has shape
# `(batch, dim)`, `v(t, x)` returns the same shape, and one call moves the whole batch.

# %%
def euler_step(v, t, x, h):
    return x + h * v(t, x)


def midpoint_step(v, t, x, h):
    return x + h * v(t + h / 2, x + h / 2 * v(t, x))


def heun_step(v, t, x, h):
    k1 = v(t, x)
    k2 = v(t + h, x + h * k1)
    return x + h / 2 * (k1 + k2)


def rk4_step(v, t, x, h):
    k1 = v(t, x)
    k2 = v(t + h / 2, x + h / 2 * k1)
    k3 = v(t + h / 2, x + h / 2 * k2)
    k4 = v(t + h, x + h * k3)
    return x + h / 6 * (k1 + 2 * k2 + 2 * k3 + k4)


STEPS = {"euler": euler_step, "midpoint": midpoint_step, "heun": heun_step, "rk4": rk4_step}
STAGES = {"euler": 1, "midpoint": 2, "heun": 2, "rk4": 4}
ORDER = {"euler": 1, "midpoint": 2, "heun": 2, "rk4": 4}


def solve_fixed(step, v, x0, t0, t1, n):
    # n steps of size h = (t1 - t0) / n; t1 < t0 integrates backwards (h < 0).
    h = (t1 - t0) / n
    x = x0
    for k in range(n):
        x = step(v, torch.tensor(t0 + k * h), x, h)
    return x


# %% [markdown] slideshow={"slide_type": "subslide"}
# **Why the orders are 1, 2, 2, 4.** Apply one step to the test equation $y' = \lambda y$,
# $y(0)=1$. The step returns $R(z)$ with $z = h\lambda$, while the exact solution is $e^{z}$;
# a method of order $p$ matches the Taylor series of $e^z$ up to $z^p$, so its local error
# starts at $z^{p+1}$. The step functions above are plain arithmetic, so we can feed them
# SymPy symbols:

# %%
z = sp.symbols("z")
for name, step in STEPS.items():
    R = sp.expand(step(lambda t, y: y, 0, sp.Integer(1), z))  # lambda = 1, h = z
    local = sp.Poly(sp.series(sp.exp(z) - R, z, 0, 7).removeO(), z)
    (power,), coeff = local.terms()[-1]  # lowest power of z in exp(z) - R(z)
    print(f"{name:8s} R(z) = {str(R):34s} exp(z) - R(z) = {coeff}*z**{power} + ...")
    assert power == ORDER[name] + 1

# %% [markdown] slideshow={"slide_type": "subslide"}
# For a field that depends on time only, $y' = g(t)$, the stages do not depend on $y$ and a
# step *is* the quadrature rule of the table: midpoint and Heun integrate linear $g$
# exactly, RK4 (Simpson) integrates cubics exactly, and none of them is exact one degree
# higher.

# %%
print("degree p of g(t) = t^p, one step on [0, 1]:  error of each rule")
for p in range(5):
    row = []
    for name, step in STEPS.items():
        approx = float(step(lambda t, y, p=p: torch.as_tensor(t) ** p, torch.tensor(0.0), tt(0.0), 1.0)[0])
        row.append(f"{name} {abs(approx - 1 / (p + 1)):.4f}")
    print(f"p = {p}: " + " | ".join(row))


# %% [markdown] slideshow={"slide_type": "subslide"}
# **Measured orders.** Now the global error at $t = 2$ on a time-dependent problem,
# $y' = \cos(t)\,y$, $y(0) = 1$, exact solution $y = e^{\sin t}$ (on $y'=-2y$ midpoint and
# Heun would coincide, since they share $R(z)$). The left panel is error against step
# size; the right panel is error against the *work*, the number of function evaluations
# $\mathrm{NFE} = \text{stages}\times\text{steps}$ — what a fair comparison counts.

# %%
def v_cos(t, y):
    return torch.cos(t) * y


T_end = 2.0
exact_cos = math.exp(math.sin(T_end))
ns = [20, 40, 80, 160, 320]
fig, (ax1, ax2) = plt.subplots(1, 2, figsize=(10, 4))
slopes = {}
for name, step in STEPS.items():
    errs = [abs(float(solve_fixed(step, v_cos, tt(1.0), 0.0, T_end, n)[0]) - exact_cos) for n in ns]
    _, slopes[name] = cu.plotting.loglog([T_end / n for n in ns], errs, ax=ax1, label=name)
    cu.plotting.loglog([STAGES[name] * n for n in ns], errs, ax=ax2, label=name, fit=False)
ax1.set(title="global error at t = 2 vs step size", xlabel="step size h", ylabel="|y_N - y(2)|")
ax2.set(title="global error vs work", xlabel="NFE (function evaluations)", ylabel="|y_N - y(2)|")
plt.show()
for name, s in slopes.items():
    print(f"{name:8s} measured order {s:.2f} (theory {ORDER[name]})")
    assert abs(s - ORDER[name]) < 0.2

# %%
# The hand-written steps and the package's solver agree to round-off on every method.
for name, step in STEPS.items():
    mine = solve_fixed(step, v_cos, tt(1.0, -0.5), 0.0, T_end, 40)
    pkg = odeint(v_cos, tt(1.0, -0.5), tt(0.0, T_end), method=name, step_size=T_end / 40)[-1]
    same = torch.allclose(mine, pkg, rtol=1e-13, atol=1e-14)
    print(f"{name:8s} hand == cu.ode up to round-off (1e-13): {same}, NFE = {last_stats().nfe}")
    assert torch.allclose(mine, pkg, rtol=1e-13, atol=1e-14)

# %% [markdown] slideshow={"slide_type": "subslide"}
# At equal work RK4 wins by orders of magnitude, which is why higher-order methods are the
# default. But every explicit method has a second limit that accuracy does not reveal.

# %% [markdown] slideshow={"slide_type": "slide"}
# ## 5. The stability limit of explicit Euler *(optional)*
#
# On $y' = -2y$ Euler multiplies by $1 - 2h$ at every step. The exact solution decays, but
# the numerical one decays only if $|1 - 2h| < 1$, that is $0 < h < 1$. At $h = 1$ the iterates
# flip sign forever ($3, -3, 3, \dots$); for $h > 1$ they **grow** like $|1-2h|^n$, however
# smooth the exact solution is. In general, for $y'=\lambda y$ with $\lambda<0$ a method is
# stable when $|R(h\lambda)| \le 1$: Euler needs $h \le 2/|\lambda|$.

# %%
fig, ax = plt.subplots(figsize=(6, 4))
t_fine = np.linspace(0, 12, 200)
ax.plot(t_fine, 3 * np.exp(-2 * t_fine), "k-", lw=2, label="exact $3e^{-2t}$")
for h, marker in [(0.4, "o"), (0.9, "s"), (1.0, "^"), (1.1, "v")]:
    n = int(round(12 / h))
    y_h = 3.0 * (1 - 2 * h) ** np.arange(n + 1)
    ax.plot(h * np.arange(n + 1), y_h, marker=marker, ms=4, lw=0.8, label=f"Euler h = {h}")
    print(f"h = {h:3.1f}: multiplier 1-2h = {1 - 2 * h:5.2f}, |y| after {n:2d} steps = {abs(y_h[-1]):.4g}")
ax.set(title="explicit Euler on dy/dt = -2y: stable only for h < 1", xlabel="t", ylabel="y",
       ylim=(-8, 8))
ax.legend(fontsize=8, loc="lower left")
plt.show()
assert abs(3.0 * (1 - 2 * 1.1) ** 10) > 3 > abs(3.0 * (1 - 2 * 0.9) ** 10)

# %% tags=["widget", "nbval-ignore-output", "remove-output"]
# Interactive (in JupyterLab): drag the step size across the stability limit h = 1 and watch
# the multiplier 1 - 2h leave [-1, 1]. The figure above is this plot at four fixed h.
import ipywidgets as widgets
from IPython.display import display


def euler_stability(h=0.9):
    n_h = int(round(12 / h))
    t_h = h * np.arange(n_h + 1)
    y_h = 3.0 * (1 - 2 * h) ** np.arange(n_h + 1)
    fig, ax = plt.subplots(figsize=(6, 3.5))
    ax.plot(np.linspace(0, 12, 200), 3 * np.exp(-2 * np.linspace(0, 12, 200)), "k-", lw=2,
            label="exact $3e^{-2t}$")
    ax.plot(t_h, y_h, "o-", ms=4, lw=0.8, label=f"Euler h = {h:.2f}")
    verdict = "decays (stable)" if abs(1 - 2 * h) < 1 else "does not decay (unstable)"
    ax.set(title=f"1 - 2h = {1 - 2 * h:.2f}: Euler {verdict}", xlabel="t", ylabel="y", ylim=(-8, 8))
    ax.legend(fontsize=8, loc="lower left")
    plt.show()
    return abs(y_h[-1])


euler_ui = widgets.interactive(
    euler_stability, h=widgets.FloatSlider(value=0.9, min=0.05, max=1.5, step=0.05, description="step h")
)
display(euler_ui)
assert euler_stability(0.9) < 3 < euler_stability(1.1)  # the lesson the slider shows
plt.close("all")


# %% [markdown] slideshow={"slide_type": "subslide"}
# Higher-order explicit methods have larger, but still bounded, stability intervals. From
# $R(z)$ above, RK4 is stable on the negative real axis down to the root of $|R(z)| = 1$:

# %%
R_rk4 = sp.expand(rk4_step(lambda t, y: y, 0, sp.Integer(1), z))
z_rk4 = float(sp.nsolve(R_rk4 - 1, z, -2.8))
print(f"RK4 stability limit on the real axis: z = h*lambda >= {z_rk4:.4f}; for lambda = -2: h < {-z_rk4 / 2:.4f}")
for h in (1.35, 1.43):  # just inside and just outside the limit
    y_end = odeint(f_decay, tt(3.0), tt(0.0, 100 * h), method="rk4", step_size=h)[-1, 0]
    print(f"RK4, h = {h}: |y| after 100 steps = {abs(float(y_end)):.3g}")
assert abs(z_rk4 + 2.7853) < 1e-4


# %% [markdown] slideshow={"slide_type": "subslide"}
# **Stiffness.** On $y' = -50\,(y - \cos t)$ the solution quickly settles onto the slow curve
# $y\approx\cos t+\sin(t)/50$, yet Euler must keep $h < 2/50 = 0.04$ for the whole interval: the step is
# dictated by stability, not accuracy. Such problems are called *stiff*. If the step is too
# large the iterates overflow, and `cu.ode.odeint` stops with an error that says when:

# %%
def v_stiff(t, y):
    return -50.0 * (y - torch.cos(t))


# exact solution with y(0) = 0 (sympy's dsolve below): 2500/2501 (cos t - e^{-50t}) + 50/2501 sin t
y2_exact = (2500 * (math.cos(2) - math.exp(-100)) + 50 * math.sin(2)) / 2501
for h in (0.02, 0.05):
    y_end = odeint(v_stiff, tt(0.0), tt(0.0, 2.0), method="euler", step_size=h)[-1, 0]
    print(f"Euler h = {h}: y(2) = {float(y_end):.4g}   (exact y(2) = {y2_exact:.4f})")
# with h = 0.05 the error is multiplied by 1 - 50 h = -1.5 per step: it overflows near t = 87
try:
    odeint(v_stiff, tt(0.0), tt(0.0, 100.0), method="euler", step_size=0.05)
except FloatingPointError as err:
    print("FloatingPointError:", err)
else:
    raise AssertionError("expected the Euler iterates to overflow")


# %% [markdown] slideshow={"slide_type": "slide"}
# ## 6. Adaptive step-size control
#
# A fixed step must be small enough for the *hardest* part of the interval. An adaptive
# solver estimates the local error of every step and adjusts $h$ as it goes.
#
# **Embedded pairs.** Two methods of orders $p$ and $p-1$ that share their stages give two
# answers $y^{[p]}$ and $y^{[p-1]}$ for the price of one; their difference estimates the
# local error of the lower-order one. Dormand and Prince (1980) built a pair of orders 5
# and 4 from 7 stages, the last of which is $f$ at the new point and is reused as the first
# stage of the next step ("first same as last", FSAL): 6 new evaluations per step.
#
# **Error norm.** With tolerances $\text{rtol}$ and $\text{atol}$, a step from $y$ to
# $y_{\text{new}}$ is accepted when
#
# $$\mathrm{err} = \sqrt{\frac1m\sum_{i=1}^{m}\left(\frac{e_i}{\text{atol} + \text{rtol}\,
# \max(|y_i|, |y_{\text{new},i}|)}\right)^2} < 1 ,$$
#
# an RMS over *all* $m$ numbers of the state (all points of a batch, all tuple components).
#
# **Controller.** Since $\mathrm{err}\propto h^5$, the step that would give
# $\mathrm{err}=1$ is $h\,\mathrm{err}^{-1/5}$; the next step is
#
# $$h_{\text{new}} = h\cdot\min\!\big(10,\ \max(0.2,\ 0.9\,\mathrm{err}^{-1/5})\big),$$
#
# with the safety factor $0.9$ and the bounds keeping the step from changing too fast. A
# rejected step is retried with the smaller $h$, and the step accepted right after a rejection
# may not grow (factor $\le 1$). The very first step is chosen from the
# sizes of $y_0$, $f(t_0,y_0)$ and one extra evaluation (Hairer, Nørsett & Wanner, §II.4).
#
# The whole idea fits in a dozen lines with the smallest embedded pair, Heun (order 2) with
# Euler (order 1) — the error estimate is the difference $\tfrac h2(k_2-k_1)$:

# %%
def heun_euler_adaptive(v, y0, t0, t1, rtol, atol, h=0.01):
    # Adaptive Heun (order 2) with embedded Euler (order 1); returns ts, ys, rejected (t, h).
    t, y = t0, y0
    ts, ys, rejected = [t], [y], []
    while t < t1:
        h = min(h, t1 - t)
        k1 = v(torch.tensor(t), y)
        k2 = v(torch.tensor(t + h), y + h * k1)
        y_new = y + h / 2 * (k1 + k2)
        err_vec = h / 2 * (k2 - k1)  # Heun minus Euler
        scale = atol + rtol * torch.maximum(y.abs(), y_new.abs())
        err = float((err_vec / scale).pow(2).mean().sqrt())
        if err < 1:
            t, y = t + h, y_new
            ts.append(t)
            ys.append(y)
        else:
            rejected.append((t, h))
        h = h * min(10.0, max(0.2, 0.9 * err ** (-1 / 2))) if err > 0 else 10 * h  # err ~ h^2
    return ts, ys, rejected


ts_he, ys_he, rej_he = heun_euler_adaptive(v_stiff, tt(0.0), 0.0, 2.0, rtol=1e-4, atol=1e-6)
print(f"adaptive Heun-Euler: {len(ts_he) - 1} accepted, {len(rej_he)} rejected steps, "
      f"NFE = {2 * (len(ts_he) - 1 + len(rej_he))}")

# %% [markdown] slideshow={"slide_type": "subslide"}
# The exact solution of the stiff-ish problem, from SymPy, lets us check every solver:

# %%
y_st = sp.Function("y")
sol_stiff = sp.dsolve(sp.Eq(y_st(t_s).diff(t_s), -50 * (y_st(t_s) - sp.cos(t_s))), y_st(t_s),
                      ics={y_st(0): 0}).rhs
print("y(t) =", sp.simplify(sol_stiff))
y_stiff_exact = sp.lambdify(t_s, sol_stiff, "numpy")
err_he = max(abs(float(y[0]) - y_stiff_exact(t)) for t, y in zip(ts_he, ys_he, strict=True))
print(f"Heun-Euler max error on its steps: {err_he:.2e}")
assert err_he < 1e-3

# %% [markdown] slideshow={"slide_type": "subslide"}
# Now the package's Dormand–Prince 5(4), `odeint(..., method="dopri5")`, on the same
# problem. `cu.ode.last_stats()` reports the cost of the last solve without wrapping the
# field: NFE, accepted and rejected steps, and the $(t, h)$ of every attempt.

# %%
odeint(v_stiff, tt(0.0), tt(0.0, 2.0), rtol=1e-4, atol=1e-6)
print(f"dopri5 at the same tolerance as Heun-Euler: NFE = {last_stats().nfe}")
y_dp = odeint(v_stiff, tt(0.0), tt(0.0, 2.0), rtol=1e-2, atol=1e-4)  # loose: stability shows
stats = last_stats()
print("rtol = 1e-2:", stats)
print(f"NFE = 2 (first step) + 6 x (accepted + rejected) = {2 + 6 * (stats.n_accepted + stats.n_rejected)}")
print(f"error at t = 2: {abs(float(y_dp[-1, 0]) - y_stiff_exact(2.0)):.1e}")

acc_t = np.array([s for s, _ in stats.accepted_steps])
acc_h = np.array([h for _, h in stats.accepted_steps])
rej = np.array(stats.rejected_steps)
fig, (ax1, ax2) = plt.subplots(1, 2, figsize=(10, 4))
t_fine = np.linspace(0, 2, 400)
ax1.plot(t_fine, y_stiff_exact(t_fine), "k-", lw=1, label="exact")
ends = np.append(acc_t[1:], 2.0)
ax1.plot(ends, [y_stiff_exact(s) for s in ends], "o", ms=4, label="accepted step ends")
ax1.plot(rej[:, 0], [y_stiff_exact(s) for s in rej[:, 0]], "rx", ms=8, label="rejected attempts start")
ax1.set(title="dopri5 on dy/dt = -50 (y - cos t)", xlabel="t", ylabel="y")
ax1.legend(fontsize=8)
ax2.semilogy(acc_t, acc_h, "o-", ms=3, label="accepted h")
ax2.semilogy(rej[:, 0], rej[:, 1], "rx", ms=8, label="rejected h")
ax2.axhline(3.3 / 50, color="grey", ls="--", lw=1, label="stability limit ~3.3/50")
ax2.set(title="step sizes chosen by the controller", xlabel="t", ylabel="step size h")
ax2.legend(fontsize=8)
plt.show()
assert stats.n_rejected > 0 and abs(float(y_dp[-1, 0]) - y_stiff_exact(2.0)) < 1e-2

# %% [markdown] slideshow={"slide_type": "subslide"}
# Read the right panel: tiny steps resolve the fast transient near $t=0$; then the step
# grows until it reaches dopri5's stability limit ($|h\lambda|\approx3.3$, so
# $h\approx0.066$) and hovers there. A step beyond the limit lets the error estimate grow
# quickly: the step is rejected or the next one shrinks, and the cycle repeats. The step is
# set by stability, not by the tolerance — the table below shows that loosening the
# tolerance barely reduces the cost. Implicit methods (not needed in this course) avoid that.
# Note also the first line: at equal tolerance the fifth-order pair needs far fewer
# evaluations than the second-order Heun–Euler pair.
#
# **An independent check.** scipy's `RK45` implements the same pair, norm, controller and
# initial step; our solver takes exactly the same steps and agrees to round-off.

# %%
ref = solve_ivp(lambda t, y: -50.0 * (y - np.cos(t)), (0, 2), [0.0], method="RK45",
                rtol=1e-2, atol=1e-4)
print(f"scipy RK45: nfev = {ref.nfev}, steps = {len(ref.t) - 1} | cu.ode dopri5: NFE = {stats.nfe}, "
      f"accepted = {stats.n_accepted}")
print(f"|difference at t = 2| < 1e-12: {abs(ref.y[0, -1] - float(y_dp[-1, 0])) < 1e-12}")
assert ref.nfev == stats.nfe and abs(ref.y[0, -1] - float(y_dp[-1, 0])) < 1e-12


# %% [markdown] slideshow={"slide_type": "subslide"}
# **NFE versus tolerance.** On a smooth, non-stiff problem the number of steps grows like
# $\text{tol}^{-1/5}$ (fifth order), while the error follows the tolerance. On the stiff-ish
# problem the cost hardly drops at loose tolerances: stability, not accuracy, sets the step.

# %%
def v_osc(t, y):
    # damped oscillator with a time-dependent coefficient; y: (..., 2)
    p, q = y[..., 0], y[..., 1]
    return torch.stack([-q + 0.5 * torch.cos(t) * p, p - 0.1 * q], dim=-1)


T_osc = 2 * math.pi
ref_osc = solve_ivp(lambda t, y: [-y[1] + 0.5 * math.cos(t) * y[0], y[0] - 0.1 * y[1]],
                    (0, T_osc), [1.0, 0.0], method="DOP853", rtol=1e-13, atol=1e-13).y[:, -1]
tols = [1e-2, 1e-3, 1e-4, 1e-5, 1e-6, 1e-7, 1e-8, 1e-9]
nfe_osc, err_osc, steps_osc, nfe_stiff = [], [], [], []
print("   tol   | oscillator: NFE  steps  rejected   error   | stiff-ish: NFE  rejected")
for tol in tols:
    y_end = odeint(v_osc, tt(1.0, 0.0), tt(0.0, T_osc), rtol=tol, atol=tol)[-1]
    s = last_stats()
    nfe_osc.append(s.nfe)
    steps_osc.append(s.n_accepted)
    err_osc.append(float(np.abs(y_end.numpy() - ref_osc).max()))
    odeint(v_stiff, tt(0.0), tt(0.0, 2.0), rtol=tol, atol=tol)
    s2 = last_stats()
    nfe_stiff.append(s2.nfe)
    print(f"  {tol:.0e} | {s.nfe:15d} {s.n_accepted:6d} {s.n_rejected:9d} {err_osc[-1]:9.1e}  | "
          f"{s2.nfe:13d} {s2.n_rejected:9d}")

fig, (ax1, ax2) = plt.subplots(1, 2, figsize=(10, 4))
_, slope_steps = cu.plotting.loglog(tols, steps_osc, ax=ax1, label="oscillator: accepted steps")
cu.plotting.loglog(tols, nfe_osc, ax=ax1, label="oscillator: NFE", fit=False, marker="s")
cu.plotting.loglog(tols, nfe_stiff, ax=ax1, label="stiff-ish: NFE", fit=False, marker="^")
ax1.invert_xaxis()
ax1.set(title="cost of dopri5 vs tolerance", xlabel="rtol = atol (tighter to the right)", ylabel="count")
_, slope_err = cu.plotting.loglog(tols, err_osc, ax=ax2, label="oscillator: error at t = 2π")
ax2.loglog(tols, tols, "k--", lw=1, label="error = tol")
ax2.invert_xaxis()
ax2.set(title="achieved error vs tolerance", xlabel="rtol = atol (tighter to the right)", ylabel="max abs error")
ax2.legend(fontsize=8)
plt.show()
print(f"slope of steps vs tol: {slope_steps:.3f} (theory -1/5 = -0.2); slope of error vs tol: {slope_err:.2f}")
assert -0.3 < slope_steps < -0.15 and 0.8 < slope_err < 1.2
assert nfe_stiff[0] > 0.6 * nfe_stiff[2]  # loosening 1e-4 -> 1e-2 barely helps on the stiff problem

# %% [markdown] slideshow={"slide_type": "subslide"}
# > **Pitfall.** <a id="nfe"></a> *Common mistake:* "NFE is the number of Euler steps $N$
# > after which the samples stop changing between $N$ and $N+1$ steps, so measuring it
# > takes many solves." NFE — the **number of function evaluations** — is simpler: the
# > number of times the solver called the vector field (the neural network) during **one**
# > solve at a fixed tolerance. For the dopri5 of this package and of scipy it is
# > $2+6\times(\text{accepted}+\text{rejected steps})$; for a fixed-step method it is
# > stages $\times$ steps. It is a by-product of the solve, and it measures the cost of
# > sampling. *Check (next cell):* a field that counts its own calls agrees with
# > `last_stats().nfe` and with that formula, while "the number of Euler steps after which
# > the result stops changing" (to the same tolerance) is a different, much larger number.
# > *(K, notes on the experiments of Lipman et al., "Evaluation metrics".)*

# %%
calls = [0]


def v_counted(t, y):  # the oscillator field, counting its calls
    calls[0] += 1
    return v_osc(t, y)


y_end = odeint(v_counted, tt(1.0, 0.0), tt(0.0, T_osc), rtol=1e-6, atol=1e-6)[-1]
s = last_stats()


def euler_osc(n):  # Euler on the oscillator with n steps, in plain floats (fast)
    p_, q_, h_ = 1.0, 0.0, T_osc / n
    for k in range(n):
        c = math.cos(k * h_)
        p_, q_ = p_ + h_ * (-q_ + 0.5 * c * p_), q_ + h_ * (p_ - 0.1 * q_)
    return np.array([p_, q_])


n_euler = 1  # the misreading: Euler steps until N and N + 1 steps agree to 1e-6
while np.abs(euler_osc(n_euler) - euler_osc(n_euler + 1)).max() > 1e-6:
    n_euler = int(n_euler * 1.2) + 1
print(f"calls counted: {calls[0]}, last_stats().nfe: {s.nfe}, 2 + 6 x (accepted + rejected): "
      f"{2 + 6 * (s.n_accepted + s.n_rejected)}")
print(f"'Euler steps until N and N+1 agree to 1e-6': about {n_euler} (a different quantity)")
assert calls[0] == s.nfe == 2 + 6 * (s.n_accepted + s.n_rejected)
assert n_euler > 10 * s.nfe

# %% [markdown] slideshow={"slide_type": "subslide"}
# **Dense output.** dopri5 also provides a 4th-order interpolant inside each step (Shampine
# 1986), so asking for the solution at many times does not force extra steps: the package
# steps to the final time and reads intermediate times from the interpolant, as scipy and
# torchdiffeq do.

# %%
grid = torch.linspace(0.0, T_osc, 101)
path = odeint(v_osc, tt(1.0, 0.0), grid, rtol=1e-6, atol=1e-8)
nfe_dense = last_stats().nfe
odeint(v_osc, tt(1.0, 0.0), tt(0.0, T_osc), rtol=1e-6, atol=1e-8)
nfe_two = last_stats().nfe
ref_path = solve_ivp(lambda t, y: [-y[1] + 0.5 * math.cos(t) * y[0], y[0] - 0.1 * y[1]],
                     (0, T_osc), [1.0, 0.0], method="DOP853", t_eval=grid.numpy(), rtol=1e-13, atol=1e-13).y.T
print(f"NFE with 101 output times: {nfe_dense}, with 2: {nfe_two}; "
      f"max error over the grid: {np.abs(path.numpy() - ref_path).max():.1e}")
assert nfe_dense == nfe_two and np.abs(path.numpy() - ref_path).max() < 1e-5

# %% [markdown] slideshow={"slide_type": "slide"}
# ## 7. Systems and time-dependent vector fields on batches
#
# In the flows of this course the state is a **batch of points** $x\in\mathbb R^{B\times d}$,
# and the field depends on time, $\dot x = v(t, x)$. A solver never looks inside the
# state: the same code moves one number, one point or ten thousand.
#
# **A linear system.** $v(t,x) = Ax$ with $A = \begin{pmatrix}-0.1 & -1\\ 1 & -0.1
# \end{pmatrix}$ (a slow spiral); the exact flow is the matrix exponential,
# $x(t) = e^{tA}x_0$, applied to every point (a row of the batch) as $x_0 e^{tA^\top}$.

# %%
A = torch.tensor([[-0.1, -1.0], [1.0, -0.1]])


def v_spiral(t, x):
    return x @ A.T  # x: (batch, 2)


gen = torch.Generator().manual_seed(0)
x0 = 2.5 * torch.rand(8, 2, generator=gen) - 1.25 + torch.tensor([1.5, 0.0])
times = torch.linspace(0.0, 6.0, 61)
path = odeint(v_spiral, x0, times, rtol=1e-8, atol=1e-10)  # (61, 8, 2)
exact = torch.stack([x0 @ torch.linalg.matrix_exp(s * A).T for s in times])
print(f"path shape {tuple(path.shape)}; max |odeint - expm| = {float((path - exact).abs().max()):.1e}")
assert (path - exact).abs().max() < 1e-7

fig, ax = plt.subplots(figsize=(5, 5))
cu.plotting.vector_field(v_spiral, ax=ax, lim=3.0, n=15)
cu.plotting.trajectories(path, ax=ax, title="phase portrait of v(x) = A x", lim=3.0)
plt.show()


# %% [markdown] slideshow={"slide_type": "subslide"}
# **A time-dependent field.** A small "flow" in the spirit of the course: for $t$ near $0$ the
# field swirls, for $t$ near $1$ it pushes every coordinate towards $\pm1.5$, so a Gaussian
# cloud at $t=0$ ends in four clusters at $t=1$:
#
# $$v(t,x) = (1-t)\begin{pmatrix}-x^{(2)}\\ x^{(1)}\end{pmatrix} + 8t\,\big(1.5\tanh(3x) - x\big)$$
#
# (superscripts are coordinates, subscripts times: $x_0$ is the state at $t=0$).
#
# The arrows change with time, so a single quiver plot cannot show the dynamics; we draw the
# field at three times with the trajectories.

# %%
def v_four(t, x):
    swirl = torch.stack([-x[:, 1], x[:, 0]], dim=1)
    return (1 - t) * swirl + 8 * t * (1.5 * torch.tanh(3 * x) - x)


x0_cloud = torch.randn(300, 2, generator=torch.Generator().manual_seed(1))
times = torch.linspace(0.0, 1.0, 41)
cloud = odeint(v_four, x0_cloud, times, rtol=1e-6, atol=1e-8)
print(f"trajectories {tuple(cloud.shape)}, NFE = {last_stats().nfe}")
fig, axes = plt.subplots(1, 3, figsize=(13, 4.3))
for ax, k in zip(axes, [0, 20, 40], strict=True):
    cu.plotting.vector_field(v_four, t=float(times[k]), ax=ax, lim=3.0, n=13)
    cu.plotting.trajectories(cloud[: k + 1], ax=ax, n_max=60, title=f"t = {float(times[k]):.1f}", lim=3.0)
plt.show()
quadrant_counts = torch.stack([(cloud[-1] > 0).all(1), (cloud[-1] < 0).all(1)]).sum(1)
print("points ending near (1.5, 1.5) and near (-1.5, -1.5):", quadrant_counts.tolist())
assert ((cloud[-1].abs() - 1.5).abs() < 0.3).float().mean() > 0.9

# %% [markdown] slideshow={"slide_type": "subslide"}
# **A batch shares one step size.** The error norm is an RMS over the whole batch, so
# dopri5 chooses *one* step sequence for all points. Solving each point on its own gives
# slightly different steps, hence answers that differ — within the tolerance. A fixed-step
# method, in contrast, does exactly the same arithmetic for each row of the batch.

# %%
batch = x0_cloud[:10]
together = odeint(v_four, batch, tt(0.0, 1.0), rtol=1e-6, atol=1e-8)[-1]
nfe_batch = last_stats().nfe
alone, nfes = [], []
for row in batch:
    alone.append(odeint(v_four, row[None], tt(0.0, 1.0), rtol=1e-6, atol=1e-8)[-1, 0])
    nfes.append(last_stats().nfe)
alone = torch.stack(alone)
print(f"dopri5: batch NFE {nfe_batch}; single points NFE from {min(nfes)} to {max(nfes)}; "
      f"max |batch - single| = {float((together - alone).abs().max()):.1e}")
fixed_b = odeint(v_four, batch, tt(0.0, 1.0), method="rk4", step_size=0.05)[-1]
fixed_s = torch.cat([odeint(v_four, r[None], tt(0.0, 1.0), method="rk4", step_size=0.05)[-1] for r in batch])
print(f"rk4: max |batch - single| = {float((fixed_b - fixed_s).abs().max()):.1e}")
assert 0 < (together - alone).abs().max() < 1e-4 and (fixed_b - fixed_s).abs().max() < 1e-14

# %% [markdown] slideshow={"slide_type": "slide"}
# ## 8. Integrating backwards in time, and the round trip
#
# A flow maps latent points at $t=0$ to data at $t=1$. To map data back (for a likelihood,
# notebook 06, or to look at the latent code of a data point, notebook 08) we solve **the
# same ODE** from $t=1$ down to $t=0$: the time grid decreases and every step has $h<0$. In
# code, only the time grid changes: `odeint(v, x1, torch.tensor([1.0, 0.0]))`.
#
# With exact arithmetic the round trip $x_0 \to x_1 \to \hat x_0$ returns the starting
# point, since the flow map of an ODE is invertible. A solver's backward steps are *not*
# the exact inverses of its forward steps, so $\hat x_0 \ne x_0$: the round-trip error
# measures the solver's error, and shrinks with the step or the tolerance.

# %%
x_start = x0_cloud[:100]
print("method     h        NFE (there and back)   round-trip error max |x0_hat - x0|")
ns_rt = (40, 80, 160)
x1_ref = odeint(v_four, x_start, tt(0.0, 1.0), rtol=1e-11, atol=1e-13)[-1]  # for section 8b
round_trip, forward = {}, {}
for name in STEPS:
    round_trip[name], forward[name] = [], []
    for n in ns_rt:
        x1 = odeint(v_four, x_start, tt(0.0, 1.0), method=name, step_size=1 / n)[-1]
        forward[name].append(float((x1 - x1_ref).abs().max()))
        x0_hat = odeint(v_four, x1, tt(1.0, 0.0), method=name, step_size=1 / n)[-1]
        round_trip[name].append(float((x0_hat - x_start).abs().max()))
        if n in (40, 160):
            print(f"{name:8s} 1/{n:<4d} {2 * STAGES[name] * n:14d}   {round_trip[name][-1]:24.2e}")
for tol in (1e-4, 1e-6, 1e-8):
    x1 = odeint(v_four, x_start, tt(0.0, 1.0), rtol=tol, atol=tol)[-1]
    nfe = last_stats().nfe
    x0_hat = odeint(v_four, x1, tt(1.0, 0.0), rtol=tol, atol=tol)[-1]
    nfe += last_stats().nfe
    print(f"dopri5   tol {tol:.0e} {nfe:9d}   {float((x0_hat - x_start).abs().max()):24.2e}")
for name, p in ORDER.items():
    slope = np.polyfit(np.log([1 / n for n in ns_rt]), np.log(round_trip[name]), 1)[0]
    expected = p + 1 if p % 2 == 0 else p
    print(f"{name:8s} (order {p}): round-trip error ~ h^{slope:.2f}")
    assert abs(slope - expected) < 0.15

# %% [markdown] slideshow={"slide_type": "subslide"}
# Euler comes back with an error of order 1, like its global error — but midpoint and Heun
# come back at order 3 and RK4 at order 5, one better than their order. The reason: one
# step makes a local error $C(t,x)\,h^{p+1}+O(h^{p+2})$; the backward step from the new
# point makes $C(t,x)\,(-h)^{p+1}+O(h^{p+2})$ with the same leading coefficient. For even
# $p$ the two cancel, for odd $p$ they add. The round-trip error and the forward error are
# therefore different quantities that shrink at different rates; a small round-trip error
# certifies that the discrete map is nearly invertible, not that the forward solution is
# accurate:

# %%
ratios = []
for k, n in enumerate(ns_rt):
    fwd_err = forward["rk4"][k]
    ratios.append(round_trip["rk4"][k] / fwd_err)
    print(f"rk4, h = 1/{n:<3d}: forward error at t = 1 = {fwd_err:.2e}, round-trip error = {round_trip['rk4'][k]:.2e}")
assert ratios[0] > 1 > ratios[-1] and ratios[0] / ratios[-1] > 2.5  # h^5 / h^4: 2x per halving

# %% [markdown] slideshow={"slide_type": "subslide"}
# > **Pitfall.** <a id="reverse-time-sign"></a> *Common mistake:* "to run the flow
# > backwards, flip the sign of the field, $\frac{d}{dt}x_t=-v(t,x_t)$, and integrate from
# > $t=1$ down to $t=0$." That reverses the direction **twice**: integrating from 1 down to
# > 0 already makes every step $h<0$, i.e. moves by $-|h|\,v$. Taken literally the recipe
# > moves the points *further forward* along the flow. Either of two statements is right:
# > (a) the **same** ODE $\dot x=v(t,x)$ integrated from $t=1$ to $t=0$ (what `odeint` does
# > with a decreasing time grid), or (b) the reversed time $s=1-t$ with
# > $\frac{d}{ds}x=-v(1-s,x)$ integrated from $s=0$ to $s=1$ — a minus sign **and** the time
# > argument $1-s$, never one without the other. The Euler form of (a) is
# > $x_{(k+1)/N}^{\leftarrow}=x^{\leftarrow}_{k/N}-\tfrac1N v\big(1-\tfrac kN,x^{\leftarrow}_{k/N}\big)$,
# > starting from the data point at $t=1$.
# > *Check (next cell):* (a) and (b) return to the starting points (the cell asserts an
# > error below $10^{-6}$), the doubly reversed recipe misses them by more than 1 (asserted),
# > and the explicit Euler form agrees with `odeint(..., method="euler")` on the decreasing
# > grid. Notebook 08 applies the same rule to the Jacobian ODE. *(G eq. (10); G's Euler
# > formula (11) is correct, i.e. form (a).)*

# %%
x_start = x0_cloud[:100]
x1 = odeint(v_four, x_start, tt(0.0, 1.0), rtol=1e-8, atol=1e-10)[-1]
back_a = odeint(v_four, x1, tt(1.0, 0.0), rtol=1e-8, atol=1e-10)[-1]
back_b = odeint(lambda s, x: -v_four(1 - s, x), x1, tt(0.0, 1.0), rtol=1e-8, atol=1e-10)[-1]
back_g10 = odeint(lambda t, x: -v_four(t, x), x1, tt(1.0, 0.0), rtol=1e-8, atol=1e-10)[-1]
N = 200  # Euler backwards by hand, from t = 1: x <- x - (1/N) v(1 - k/N, x)
x_g11 = x1.clone()
for k in range(N):
    x_g11 = x_g11 - (1 / N) * v_four(torch.tensor(1 - k / N), x_g11)
euler_back = odeint(v_four, x1, tt(1.0, 0.0), method="euler", step_size=1 / N)[-1]
for label, xb in [("(a) same ODE, t from 1 to 0", back_a), ("(b) s = 1 - t, field -v(1 - s, x)", back_b),
                  ("-v and t from 1 to 0 (reversed twice)", back_g10), ("Euler form of (a), N = 200", x_g11)]:
    print(f"{label:42s} max |x0_hat - x0| = {float((xb - x_start).abs().max()):.2e}")
print(f"Euler by hand vs odeint(euler, t from 1 to 0): max difference < 1e-12: "
      f"{bool((x_g11 - euler_back).abs().max() < 1e-12)}")
assert (back_a - x_start).abs().max() < 1e-6 and (back_b - x_start).abs().max() < 1e-6
assert (back_g10 - x_start).abs().max() > 1.0
assert (x_g11 - euler_back).abs().max() < 1e-12


# %% [markdown] slideshow={"slide_type": "slide"}
# ## 9. Why the cost of an adaptive solve varies (and why CNFs care)
#
# R lists "adaptive solvers … cost measured in # of function evaluations of $f$". For a
# fixed-step method the cost is known in advance; for an adaptive one it depends on
#
# 1. **the tolerance** (section 6: about $\text{tol}^{-1/5}$ steps);
# 2. **the field**: the sharper it is (larger Lipschitz constant, faster time variation),
#    the smaller the steps. A CNF's field is a neural network whose sharpness *changes
#    during training*, so the NFE per iteration drifts, usually upwards (Grathwohl et al.
#    2019; Finlay et al. 2020 add regularisers precisely to keep it down);
# 3. **the batch**: one step size serves the whole batch, so a single point in a sharp
#    region makes every point pay.
#
# We measure 2 and 3 on a family of fields whose sharpness we control.

# %%
def make_field(kappa):
    # The four-cluster field with the tanh sharpened by kappa (kappa = 3 above).
    def v(t, x):
        swirl = torch.stack([-x[:, 1], x[:, 0]], dim=1)
        return (1 - t) * swirl + 8 * t * (1.5 * torch.tanh(kappa * x) - x)
    return v


kappas = [1, 3, 10, 30, 100]
nfe_kappa = []
for kappa in kappas:
    odeint(make_field(kappa), x0_cloud[:200], tt(0.0, 1.0), rtol=1e-5, atol=1e-7)
    nfe_kappa.append(last_stats().nfe)
print("sharpness kappa:", kappas)
print("NFE           :", nfe_kappa)
assert nfe_kappa[-1] > 2 * nfe_kappa[0]


# %%
def v_rate(t, x):
    # Relax towards cos(t), fast (rate 100) only where the first coordinate exceeds 3.
    rate = 1 + 99 * torch.sigmoid(10 * (x[:, :1] - 3))
    return -rate * (x - torch.cos(t))


calm = torch.randn(500, 2, generator=torch.Generator().manual_seed(2)).clamp(-2, 2)
odeint(v_rate, calm, tt(0.0, 1.0), rtol=1e-5, atol=1e-7)
nfe_calm = last_stats().nfe
with_outlier = torch.cat([calm, torch.tensor([[5.0, 0.0]])])
odeint(v_rate, with_outlier, tt(0.0, 1.0), rtol=1e-5, atol=1e-7)
nfe_outlier = last_stats().nfe
odeint(v_rate, with_outlier, tt(0.0, 1.0), method="rk4", step_size=0.05)
print(f"dopri5 on 500 calm points: NFE = {nfe_calm}; the same + 1 point in the fast region: NFE = {nfe_outlier}")
print(f"rk4 with h = 0.05: NFE = {last_stats().nfe} for any batch (fixed in advance)")
assert nfe_outlier > 2 * nfe_calm

# %% [markdown] slideshow={"slide_type": "subslide"}
# So a CNF's training step can take twice as long because one training point drifted into
# a sharp region of the current field, and sampling cost is not a fixed number. Flow
# matching (notebook 07) trains *without* solving ODEs and tends to learn straighter, more
# easily integrated fields — one reason it is cheaper.
#
# > **Pitfall.** <a id="adaptive-depth"></a> *Common mistake:* "in a neural ODE the network
# > defines the field and the solver defines the depth, so the number of steps is a fixed
# > architecture choice, like the number of layers of a ResNet." That holds for a
# > fixed-step solver only. With an adaptive solver the "depth" (NFE) is decided at run time
# > by the field, the batch and the tolerance. *Check (the two cells above):* sharpening the
# > field multiplies the NFE (asserted: more than 2× from $\kappa=1$ to $\kappa=100$), and
# > adding one point to a batch of 500 more than doubles it (asserted), while RK4 with a
# > fixed step costs the same for every batch. *(R, "Solving the CNF ODE in practice": "the neural network
# > defines $f$, and the ODE solver defines the depth".)*

# %% [markdown] slideshow={"slide_type": "slide"}
# ## 10. Differentiating through the solver *(optional)*
#
# A solver built from torch operations is differentiable: autograd runs backwards through
# every step ("discretise, then differentiate"). R's slide on Euler writes, for
# $z_{k+1} = z_k + \Delta t\,f(z_k,t_k;\theta)$ and a loss $L(z_N)$,
#
# $$\frac{\partial L}{\partial\theta} = \sum_{k=0}^{N-1}\frac{\partial L}{\partial z_{k+1}}
# \frac{\partial z_{k+1}}{\partial\theta}, \qquad
# \frac{\partial z_{k+1}}{\partial\theta} = \Delta t\,\frac{\partial f(z_k,t_k;\theta)}
# {\partial\theta}, \qquad
# \frac{\partial L}{\partial z_k} = \frac{\partial L}{\partial z_{k+1}}
# \frac{\partial z_{k+1}}{\partial z_k}.$$
#
# This is right when $\frac{\partial L}{\partial z_{k+1}}$ is the *total* sensitivity
# (the backward recursion) and $\frac{\partial z_{k+1}}{\partial\theta}$ the *explicit*
# partial derivative with $z_k$ held fixed. We check it on $f = -\theta z$ against
# autograd and against the exact derivative of the continuous solution $z(1) = z_0
# e^{-\theta}$, with $L = z(1)^2/2$.

# %%
theta = torch.tensor(0.7, requires_grad=True)
z0, N = 2.0, 20
dt = 1.0 / N
z_steps = odeint(lambda t, z: -theta * z, tt(z0), torch.linspace(0, 1, N + 1), method="euler")
loss = 0.5 * z_steps[-1, 0] ** 2
(g_autograd,) = torch.autograd.grad(loss, theta)

z = z_steps[:, 0].detach().tolist()
th = theta.item()
a = z[-1]  # a_N = dL/dz_N
g_note, g_total = 0.0, 0.0
dz_dtheta = [0.0]  # total derivative dz_k/dtheta, forward recursion
for k in range(N):
    dz_dtheta.append(dz_dtheta[-1] * (1 - dt * th) + dt * (-z[k]))
for k in reversed(range(N)):  # a_{k+1} is the total sensitivity dL/dz_{k+1}
    g_note += a * dt * (-z[k])  # explicit partial of z_{k+1} wrt theta
    g_total += a * dz_dtheta[k + 1]  # misreading: total derivative in every term
    a = a * (1 - dt * th)  # a_k = a_{k+1} dz_{k+1}/dz_k
g_exact = -(z0**2) * math.exp(-2 * th)  # d/dtheta of (z0 e^{-theta})^2 / 2
print(f"autograd through {N} Euler steps: {float(g_autograd):.6f}")
print(f"R's sum, explicit partials     : {g_note:.6f}")
print(f"R's sum, total derivatives     : {g_total:.6f}   (double counts: wrong)")
print(f"exact gradient of the ODE      : {g_exact:.6f}   (differs by O(dt): the solver's error)")
assert abs(g_note - float(g_autograd)) < 1e-12 and abs(g_total - g_note) > 0.1

# %% [markdown] slideshow={"slide_type": "subslide"}
# > **Pitfall.** *Common mistake:* in the sum $\frac{\partial L}{\partial\theta}=\sum_k
# > \frac{\partial L}{\partial z_{k+1}}\frac{\partial z_{k+1}}{\partial\theta}$, reading
# > $\frac{\partial z_{k+1}}{\partial\theta}$ as the full derivative $\frac{dz_{k+1}}{d\theta}$
# > of the state after $k+1$ steps. It must be only the *explicit* dependence of step $k$
# > on $\theta$ with $z_k$ held fixed, $\Delta t\,\partial_\theta f(z_k,t_k;\theta)$: the full
# > derivative also carries $\frac{dz_k}{d\theta}$ through the earlier steps, so inserting it
# > counts every earlier step again. *Check (cell above):* the explicit-partial sum equals
# > autograd to $10^{-12}$ and the total-derivative version misses by more than 0.1 (both
# > asserted). Note also that autograd differentiates the *discrete* solver: its gradient is
# > exact for the Euler map and approximates the ODE's gradient only up to the solver error.
# > *(R, "Backpropagation through an ODE solver".)*
#
# Backpropagating through the solver stores every intermediate state (memory grows with the
# number of steps, as R says). The adjoint method of Chen et al. (2018) instead solves a
# second ODE backwards in time — using exactly the backward integration of section 8, with
# its round-trip error — and is the subject of notebook 06 (`cu.ode.odeint_adjoint`).

# %% [markdown] slideshow={"slide_type": "slide"}
# ## Summary
#
# * A one-step solver approximates $\int_t^{t+h} f\,ds$: Euler (left rectangle, order 1),
#   midpoint and Heun (order 2), RK4 (Simpson, order 4). Order $p$ means global error
#   $\approx Ch^p$ — a slope $p$ on a log–log plot — and local error $O(h^{p+1})$.
# * Compare methods at equal work (NFE), not equal step size.
# * Explicit methods are stable only for small $h|\lambda|$: Euler on $y'=-2y$ needs $h<1$,
#   RK4 $h<1.39$. Stiff problems force small steps even where the solution is smooth.
# * Dormand–Prince 5(4) estimates its local error with an embedded 4th-order solution,
#   accepts a step when the RMS error norm is below 1 and picks
#   $h_{\text{new}} = h\min(10,\max(0.2,0.9\,\mathrm{err}^{-1/5}))$ (no growth right after a
#   rejection). `cu.ode.odeint` takes
#   the same steps as scipy's RK45; `cu.ode.last_stats()` reports NFE and steps.
# * States can be batches (and tuples) of tensors; an adaptive solver uses one step size
#   for the whole batch.
# * Backwards integration uses the same field with a decreasing time grid. The round-trip
#   error is of order $p$ for odd $p$ and $p+1$ for even $p$ (Euler 1, midpoint and Heun 3,
#   RK4 5), or of the order of the tolerance for dopri5: it measures how nearly the discrete
#   map is invertible, not the forward error.
# * Adaptive cost (NFE) depends on tolerance, field sharpness and batch: it varies from
#   iteration to iteration of CNF training.
#
# ## Check yourself
#
# 1. Euler with $h=0.25$ on $y'=-2y$, $y(0)=3$: what are $y_1$ and $y_2$? Is the method
#    stable at this step?
#
# <details><summary>Answer</summary>
#
# $y_1=3(1-0.5)=1.5$, $y_2=0.75$ (they approximate $y(0.25)$ and $y(0.5)$); stable, since
# $|1-2h|=0.5<1$.
# </details>
#
# 2. You halve the step of RK4. By what factor does the global error drop? And the NFE?
#
# <details><summary>Answer</summary>
#
# By about $2^4=16$ (order 4, in the range where the error is not yet at round-off); the NFE
# doubles.
# </details>
#
# 3. For $y'=-100y$, what is the largest stable Euler step? Is an accurate answer at
#    $t=1$ possible with $h=0.05$?
#
# <details><summary>Answer</summary>
#
# $h<2/100=0.02$. With $h=0.05$ the multiplier is $1-5=-4$ and the iterates blow up,
# $|y_{20}|=4^{20}|y_0|$, although the exact solution is $e^{-100}y_0$.
# </details>
#
# 4. Why does dopri5 cost $6$, not $7$, evaluations per step?
#
# <details><summary>Answer</summary>
#
# FSAL ("first same as last"): the 7th stage is $f$ at the new point and is reused as the
# first stage of the next step.
# </details>
#
# 5. You integrate $\dot x = v(t,x)$ from $t=1$ to $t=0$ with `odeint(v, x1, torch.tensor([1.0, 0.0]))`.
#    Should you pass `-v`? What happens if you do?
#
# <details><summary>Answer</summary>
#
# No: the decreasing grid already reverses the direction. Passing `-v` reverses it a second
# time and moves the points forward along the flow ([the reverse-time
# sign](#reverse-time-sign), section 8).
# </details>
#
# 6. A CNF batch contains one point far out in the tail. Why can that slow the whole
#    training step?
#
# <details><summary>Answer</summary>
#
# The error norm is an RMS over the whole batch and one step size serves every point, so
# the hardest point sets the step; all points pay its NFE (section 9).
# </details>
#
# ## References
#
# * **R** — N. Ray, *Image Generation using Normalizing Flows and Flow Matching* (slides):
#   §2 "Ordinary Differential Equations", "Why do we need numerical ODE solvers?",
#   "Backpropagation through an ODE solver".
# * **G** — technical notes 2026, §2 "Volume mapping metrics", §2.1 "Flow maps and velocity
#   fields" (github.com/mgswiss15/technotes).
# * **K** — P. Khungurn, notes on *Flow Matching for Generative Modeling* (evaluation
#   metrics, NFE).
# * E. Hairer, S. P. Nørsett, G. Wanner, *Solving Ordinary Differential Equations I:
#   Nonstiff Problems*, 2nd ed., Springer 1993 (§II.1–II.6: Runge–Kutta methods, order,
#   step-size control, the starting step, dense output).
# * J. R. Dormand, P. J. Prince, "A family of embedded Runge–Kutta formulae", *J. Comput.
#   Appl. Math.* 6 (1980) 19–26.
# * L. F. Shampine, "Some practical Runge–Kutta formulas", *Math. Comp.* 46 (1986) 135–150
#   (the continuous extension used for dense output).
# * J. C. Butcher, *Numerical Methods for Ordinary Differential Equations*, Wiley 2016.
# * R. T. Q. Chen, Y. Rubanova, J. Bettencourt, D. Duvenaud, "Neural Ordinary Differential
#   Equations", NeurIPS 2018 (and the torchdiffeq library, whose calling convention
#   `cu.ode.odeint` follows).
# * W. Grathwohl et al., "FFJORD", ICLR 2019; C. Finlay et al., "How to train your neural
#   ODE: the world of Jacobian and kinetic regularization", ICML 2020.
# * P. Virtanen et al., "SciPy 1.0", *Nature Methods* 17 (2020) (`solve_ivp`, RK45, DOP853
#   used as references here).
