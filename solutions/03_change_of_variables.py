# %% [markdown]
# # Problem set 03 · Change of variables (31 points)
#
# Eight questions on densities under transformations, from routine to demanding (one
# written, one end-to-end). Write your
# code between the lines that raise `NotImplementedError` (replace them), run the cell, then
# run the **check cell** below it: it prints `[PASS]` or a `[FAIL]` line saying what is
# expected. The checks in this notebook are a first test only; the grader runs more tests
# on inputs you do not see, so make your functions correct for any valid input, not only
# for the checked one.
#
# Rules: work in `float64` (set below), keep the function names and signatures, shapes are
# batch-first (`x: (batch, dim)`), and use `torch` operations so that autograd works. The
# lecture `notebooks/03_change_of_variables.ipynb` has everything you need. Do not use
# `torch.distributions` *inside* your answers (it is fine in your own tests).
#
# | Question | Topic | Points |
# |---|---|---|
# | 1 | density of an affine map | 3 |
# | 2 | a log-determinant by hand and by autograd | 4 |
# | 3 | the density of a non-linear diffeomorphism | 4 |
# | 4 | a polar-coordinate map | 4 |
# | 5 | spot the non-invertible maps and repair one | 5 |
# | 6 | a two-to-one map: sum over preimages | 3 |
# | 7 | forgetting a preimage (written, graded by hand) | 3 |
# | 8 | fit a 1-D flow by change of variables (end-to-end) | 5 |

# %%
import numpy as np
import torch
import matplotlib.pyplot as plt
import course_utils as cu

device = cu.setup(seed=0)

# %%
import math

from scipy import stats

cov = cu.change_of_variables          # helpers from the lecture (Jacobians, histogram_tv)
torch.set_default_dtype(torch.float64)


def log_normal(z):
    # log N(0, I_d) for z of shape (batch, d); returns (batch,)
    return -0.5 * (z**2).sum(dim=1) - 0.5 * z.shape[1] * math.log(2 * math.pi)


# %% [markdown]
# ## Question 1 (3 points, routine, about 10 min): the density of an affine map
#
# Let $z\sim\mathcal N(0,I_d)$ and $x=Az+b$ with an invertible $A\in\mathbb R^{d\times d}$
# (not necessarily symmetric, possibly with negative determinant). Write
# `affine_log_prob(x, A, b)` returning $\log p_X(x)$ for every row of `x`, **using the
# change-of-variables formula** $\log p_X(x)=\log p_Z(A^{-1}(x-b))-\log|\det A|$.
#
# Use `torch.linalg.solve` (not an explicit inverse) and `torch.linalg.slogdet`.

# %% course={"question": "q1", "role": "answer"}
def affine_log_prob(x, A, b):
    """log-density of x = A z + b, z ~ N(0, I_d).

    Args:
        x: points, shape (batch, d).
        A: invertible matrix, shape (d, d).
        b: shift, shape (d,).

    Returns:
        log p_X(x), shape (batch,).
    """
    ### BEGIN SOLUTION
    z = torch.linalg.solve(A, (x - b).T).T
    return log_normal(z) - torch.linalg.slogdet(A).logabsdet
    ### END SOLUTION


# %% course={"question": "q1", "role": "check"}
A1 = torch.tensor([[2.0, 1.0], [0.0, 3.0]])
b1 = torch.tensor([1.0, -1.0])
x1 = torch.tensor([[0.0, 0.0], [1.0, -1.0], [4.0, 2.5]])
# independent reference: x is Gaussian with mean b and covariance A A^T
reference = torch.distributions.MultivariateNormal(b1, A1 @ A1.T).log_prob(x1)
_ = cu.checks.check_close("q1 affine log-density", lambda: affine_log_prob(x1, A1, b1), reference,
                      rtol=1e-8, hint="log p_Z(A^{-1}(x - b)) - log|det A|")


# %% [markdown]
# ## Question 2 (4 points, routine, about 15 min): a log-determinant by hand and by autograd
#
# Consider the map $g:\mathbb R^2\to\mathbb R^2$,
#
# $$g(z)=\big(z_1e^{z_2},\ z_2^3+z_2\big).$$
#
# **(a)** Compute its Jacobian $J_g(z)$ and $\log|\det J_g(z)|$ by hand, and write
# `log_det_by_hand(z)` returning it for every row of `z` (a closed-form expression, no
# autograd).
#
# **(b)** Write a **generic** function `log_det_autograd(f, z)` that returns
# $\log|\det J_f(z)|$ for *any* row-wise map `f: (batch, d) -> (batch, d)` and every row of
# `z: (batch, d)`, using `torch.autograd` (for example
# `torch.autograd.functional.jacobian` on one point at a time) and `torch.linalg.slogdet`.
# Do not call `cu.change_of_variables` here (use it to test yourself if you like). The
# grader also tries your function on other maps, in other dimensions.

# %% course={"question": "q2", "role": "answer"}
def g2(z):
    """The map of question 2, row-wise: (batch, 2) -> (batch, 2)."""
    return torch.stack([z[:, 0] * torch.exp(z[:, 1]), z[:, 1] ** 3 + z[:, 1]], dim=1)


def log_det_by_hand(z):
    """log|det J_g2(z)| in closed form; z: (batch, 2) -> (batch,)."""
    ### BEGIN SOLUTION
    # J = [[e^{z2}, z1 e^{z2}], [0, 3 z2^2 + 1]] is upper triangular
    return z[:, 1] + torch.log(3 * z[:, 1] ** 2 + 1)
    ### END SOLUTION


def log_det_autograd(f, z):
    """log|det J_f(z)| for a row-wise map f, by autograd; z: (batch, d) -> (batch,)."""
    ### BEGIN SOLUTION
    jacobians = [torch.autograd.functional.jacobian(lambda v: f(v[None])[0], zb) for zb in z]
    return torch.linalg.slogdet(torch.stack(jacobians)).logabsdet
    ### END SOLUTION


# %% course={"question": "q2", "role": "check"}
z2_pts = torch.tensor([[0.0, 0.0], [1.0, 1.0], [-0.5, -2.0]])
# at (0, 0) the Jacobian is the identity; at (1, 1) it is [[e, e], [0, 4]]
known = torch.tensor([0.0, 1.0 + math.log(4.0), -2.0 + math.log(13.0)])
cu.checks.check_close("q2a by hand", lambda: log_det_by_hand(z2_pts), known, rtol=1e-10,
                      hint="the Jacobian is triangular: multiply its diagonal")
cu.checks.check_close("q2b autograd on g2", lambda: log_det_autograd(g2, z2_pts), known, rtol=1e-10)
rot = lambda z: 3.0 * z @ torch.tensor([[0.0, -1.0], [1.0, 0.0]]).T   # 3 x a rotation: det 9
_ = cu.checks.check_close("q2b autograd on a linear map", lambda: log_det_autograd(rot, z2_pts),
                      torch.full((3,), math.log(9.0)), rtol=1e-10)


# %% [markdown]
# ## Question 3 (4 points, core, about 15 min): the density of a non-linear diffeomorphism
#
# The map `g2` of question 2 is a diffeomorphism of $\mathbb R^2$: $t\mapsto t^3+t$ is a
# strictly increasing bijection of $\mathbb R$, and for fixed $z_2$ the map
# $z_1\mapsto z_1e^{z_2}$ is one too; $\det J>0$ everywhere. Let $z\sim\mathcal N(0,I_2)$ and
# $x=g_2(z)$.
#
# **(a)** Write `g2_inverse(x)`. The given function `solve_cubic(c)` returns the real
# solution $t$ of $t^3+t=c$ (elementwise).
#
# **(b)** Write `log_prob_x(x)` $=\log p_X(x)$ for every row of `x`, with the change-of-variables
# formula (you may use your `log_det_by_hand` from question 2).

# %%
def solve_cubic(c):
    """Real root of t^3 + t = c, elementwise (Cardano; stable for both signs of c)."""
    a = c.abs()
    u = torch.pow(a / 2 + torch.sqrt(a**2 / 4 + 1 / 27), 1 / 3)
    return torch.sign(c) * (u - 1 / (3 * u))


# %% course={"question": "q3", "role": "answer"}
def g2_inverse(x):
    """Inverse of g2: (batch, 2) -> (batch, 2)."""
    ### BEGIN SOLUTION
    z2 = solve_cubic(x[:, 1])
    return torch.stack([x[:, 0] * torch.exp(-z2), z2], dim=1)
    ### END SOLUTION


def log_prob_x(x):
    """log-density of x = g2(z), z ~ N(0, I_2); x: (batch, 2) -> (batch,)."""
    ### BEGIN SOLUTION
    z = g2_inverse(x)
    return log_normal(z) - log_det_by_hand(z)
    ### END SOLUTION


# %% course={"question": "q3", "role": "check"}
x3 = torch.tensor([[0.3, -1.0], [2.0, 10.0], [-5.0, 0.5]])
cu.checks.check_close("q3a g2(g2_inverse(x)) == x", lambda: g2(g2_inverse(x3)), x3, rtol=1e-10, atol=1e-12)
# g2 maps (0, 0) to (0, 0) with det J = 1, so p_X(0) = p_Z(0) = 1 / (2 pi)
cu.checks.check_close("q3b log p_X at the origin", lambda: log_prob_x(torch.zeros(1, 2)),
                      torch.tensor([-math.log(2 * math.pi)]), rtol=1e-10)
# independent check: the same density from the autograd helper of the lecture
reference = cov.log_prob_after(g2, log_normal, x3, inverse=lambda x: torch.stack(
    [x[:, 0] * torch.exp(-solve_cubic(x[:, 1])), solve_cubic(x[:, 1])], dim=1))
_ = cu.checks.check_close("q3b log p_X at three points", lambda: log_prob_x(x3), reference, rtol=1e-9)


# %% [markdown]
# ## Question 4 (4 points, core, about 15 min): a polar-coordinate map
#
# Let $r\sim\mathrm{Gamma}(2,1)$ (density $re^{-r}$ on $r>0$) and $\theta\sim\mathrm{Unif}(0,2\pi)$
# be independent, and $x=(r\cos\theta,\ r\sin\theta)$. The polar map
# $(r,\theta)\mapsto x$ is a diffeomorphism from $(0,\infty)\times(0,2\pi)$ onto the plane
# minus the ray $\{x_2=0,\ x_1\ge0\}$ (a set of zero area, which does not matter for densities).
#
# **(a)** Write `polar_log_abs_det(r_theta)`: $\log|\det J|$ of the polar map at every row
# $(r,\theta)$ of `r_theta: (batch, 2)`.
#
# **(b)** Write `polar_log_prob(x)` $=\log p_X(x)$ for every row of `x` (derive the closed form:
# it is surprisingly simple).
#
# **(c)** Write `sample_polar(n, generator)` returning `n` samples of $x$, shape `(n, 2)`, using
# only `torch.rand(..., generator=generator)` for randomness. Hint: the sum of two independent
# $\mathrm{Exp}(1)$ variables is $\mathrm{Gamma}(2,1)$, and $-\log U\sim\mathrm{Exp}(1)$ for
# $U\sim\mathrm{Unif}(0,1)$.

# %% course={"question": "q4", "role": "answer"}
def polar_log_abs_det(r_theta):
    """log|det d(r cos t, r sin t)/d(r, t)|; r_theta: (batch, 2) -> (batch,)."""
    ### BEGIN SOLUTION
    return torch.log(r_theta[:, 0].abs())
    ### END SOLUTION


def polar_log_prob(x):
    """log-density of x = r (cos t, sin t), r ~ Gamma(2, 1), t ~ U(0, 2 pi); (batch, 2) -> (batch,)."""
    ### BEGIN SOLUTION
    # p_X = p_R(r) p_T(t) / r = r e^{-r} / (2 pi r) = e^{-|x|} / (2 pi)
    return -x.norm(dim=1) - math.log(2 * math.pi)
    ### END SOLUTION


def sample_polar(n, generator):
    """n samples of x, shape (n, 2), using torch.rand with the given generator."""
    ### BEGIN SOLUTION
    u = torch.rand(n, 3, generator=generator)
    r = -torch.log(u[:, 0]) - torch.log(u[:, 1])
    theta = 2 * math.pi * u[:, 2]
    return torch.stack([r * torch.cos(theta), r * torch.sin(theta)], dim=1)
    ### END SOLUTION


# %% course={"question": "q4", "role": "check"}
rt = torch.tensor([[0.5, 0.3], [2.0, 4.0]])
polar = lambda v: torch.stack([v[:, 0] * torch.cos(v[:, 1]), v[:, 0] * torch.sin(v[:, 1])], dim=1)
cu.checks.check_close("q4a log|det|", lambda: polar_log_abs_det(rt), cov.log_abs_det_jacobian(polar, rt),
                      rtol=1e-10)
cu.checks.check_true("q4b integrates to 1 on [-30, 30]^2",
                     lambda: abs(cu.grid.integrate_density_2d(polar_log_prob, lim=30.0, n=300) - 1) < 2e-3,
                     "the grid integral of exp(polar_log_prob) must be 1 within 0.002")
cu.checks.check_true("q4c samples look like r ~ Gamma(2, 1)",
                     lambda: abs(float(sample_polar(20_000, torch.Generator().manual_seed(0)).norm(dim=1).mean()) - 2) < 0.05,
                     "the mean radius of 20 000 samples must be 2 within 0.05")
_ = cu.checks.check_true("q4b/c density matches your samples",
                     lambda: cov.histogram_tv(sample_polar(20_000, torch.Generator().manual_seed(1)),
                                              polar_log_prob, 8.0, bins=20) < 0.05,
                     "the histogram distance between samples and density must be < 0.05")

# %% [markdown]
# ## Question 5 (5 points, challenge, about 25 min): spot the non-invertible maps, then repair one
#
# Four smooth maps $\mathbb R^2\to\mathbb R^2$:
#
# * (a) $g_a(z)=(2z_1+z_2,\ z_1-z_2)$
# * (b) $g_b(z)=(z_1+z_2^3,\ z_2)$
# * (c) $g_c(z)=(e^{z_1}\cos z_2,\ e^{z_1}\sin z_2)$
# * (d) $g_d(z)=(z_1^3,\ z_2)$
#
# **(i)** Set `not_injective` to the set of letters of the maps that are **not one-to-one** on
# $\mathbb R^2$, and `not_diffeomorphism` to the set of letters of the maps that are **not
# diffeomorphisms of $\mathbb R^2$ onto their image** (for example `{"a", "b"}`; use
# `set()` for none). Think about both conditions: bijectivity and a differentiable inverse
# ($\det J\ne0$).
#
# **(ii)** Repair map (c): restricted to $z_2\in(-\pi,\pi)$ it is a diffeomorphism onto the
# plane minus the ray $\{x_2=0,\ x_1\le0\}$. Write `inverse_c(x)` (use `torch.atan2`), and
# `log_prob_c(x)` $=\log p_X(x)$ for $x=g_c(z)$ with independent $z_1\sim\mathcal N(0,1)$ and
# $z_2\sim\mathrm{Unif}(-\pi,\pi)$.

# %% course={"question": "q5", "role": "answer"}
not_injective = None  # replace None by a set of letters, e.g. {"a", "b"}
not_diffeomorphism = None
### BEGIN SOLUTION
# (c) is 2 pi-periodic in z2 although det J = e^{2 z1} never vanishes (a local
# diffeomorphism only); (d) is a bijection but det J = 3 z1^2 vanishes at z1 = 0, so
# its inverse (cube root) is not differentiable there. (a) has det -3, (b) det 1 and
# inverse (x1 - x2^3, x2).
not_injective = {"c"}
not_diffeomorphism = {"c", "d"}
### END SOLUTION

# %% course={"question": "q5", "role": "answer"}
def g_c(z):
    """Map (c), row-wise: (batch, 2) -> (batch, 2)."""
    return torch.exp(z[:, :1]) * torch.stack([torch.cos(z[:, 1]), torch.sin(z[:, 1])], dim=1)


def inverse_c(x):
    """Inverse of g_c restricted to z2 in (-pi, pi]: (batch, 2) -> (batch, 2)."""
    ### BEGIN SOLUTION
    return torch.stack([torch.log(x.norm(dim=1)), torch.atan2(x[:, 1], x[:, 0])], dim=1)
    ### END SOLUTION


def log_prob_c(x):
    """log-density of g_c(z), z1 ~ N(0, 1), z2 ~ U(-pi, pi) independent; (batch, 2) -> (batch,)."""
    ### BEGIN SOLUTION
    z = inverse_c(x)
    log_base = -0.5 * z[:, 0] ** 2 - 0.5 * math.log(2 * math.pi) - math.log(2 * math.pi)
    return log_base - 2 * z[:, 0]  # det J_c = e^{2 z1}
    ### END SOLUTION


# %% course={"question": "q5", "role": "check"}
letters = {"a", "b", "c", "d"}
cu.checks.check_true("q5i answer format",
                     lambda: isinstance(not_injective, set) and isinstance(not_diffeomorphism, set)
                     and not_injective <= letters and not_diffeomorphism <= letters,
                     "two sets of letters among a, b, c, d")
x5 = torch.tensor([[1.0, 0.0], [-0.3, 0.4], [0.2, -2.0]])
cu.checks.check_close("q5ii g_c(inverse_c(x)) == x", lambda: g_c(inverse_c(x5)), x5, rtol=1e-10, atol=1e-12)
cu.checks.check_true("q5ii inverse lands in z2 in (-pi, pi]",
                     lambda: bool((inverse_c(x5)[:, 1].abs() <= math.pi).all()), "|z2| <= pi")
# x = (1, 0) comes from z = (0, 0): p = phi(0) * 1/(2 pi) / e^0
cu.checks.check_close("q5ii log p_X at (1, 0)", lambda: log_prob_c(x5[:1]),
                      torch.tensor([-1.5 * math.log(2 * math.pi)]), rtol=1e-10)
# x = (3, 4) comes from z = (log 5, atan2(4, 3)), where the Jacobian term is not zero;
# reference: log p_Z(z) minus log|det J_c(z)| by autograd (map (c) written out again here)
map_c = lambda z: torch.exp(z[:, :1]) * torch.stack([torch.cos(z[:, 1]), torch.sin(z[:, 1])], dim=1)
z34 = torch.tensor([[math.log(5.0), math.atan2(4.0, 3.0)]])
ref34 = -0.5 * z34[:, 0] ** 2 - 0.5 * math.log(2 * math.pi) - math.log(2 * math.pi) - cov.log_abs_det_jacobian(map_c, z34)
_ = cu.checks.check_close("q5ii log p_X at (3, 4)", lambda: log_prob_c(torch.tensor([[3.0, 4.0]])), ref34, rtol=1e-10,
                      hint="log p_Z(z) - log|det J_c(z)| with z = inverse_c(x): the Jacobian term matters")


# %% [markdown]
# ## Question 6 (3 points, core, about 15 min): a two-to-one map
#
# Let $Z\sim\mathcal N(1,1)$ (mean 1, variance 1) and $X=Z^2$. The map $z\mapsto z^2$ is not
# one-to-one, but it is a diffeomorphism on each of the pieces $z>0$ and $z<0$. Write
# `log_prob_square(x)` $=\log p_X(x)$ for `x` of shape `(batch, 1)` with positive entries,
# returning shape `(batch,)`, by adding the contributions of both preimages
# $z=\pm\sqrt x$. Use `torch.logsumexp` to add the two terms in log space.

# %% course={"question": "q6", "role": "answer"}
def log_prob_square(x):
    """log-density of X = Z^2, Z ~ N(1, 1); x: (batch, 1) with x > 0 -> (batch,)."""
    ### BEGIN SOLUTION
    s = torch.sqrt(x[:, 0])
    terms = []
    for z in (s, -s):
        log_pz = -0.5 * (z - 1) ** 2 - 0.5 * math.log(2 * math.pi)
        terms.append(log_pz - torch.log(2 * z.abs()))  # |dx/dz| = 2|z|
    return torch.logsumexp(torch.stack(terms), dim=0)
    ### END SOLUTION


# %% course={"question": "q6", "role": "check"}
x6 = torch.tensor([[0.05], [1.0], [4.0], [9.0]])
# independent reference: X = Z^2 is non-central chi-square, 1 degree of freedom, non-centrality 1
reference = torch.tensor(stats.ncx2(df=1, nc=1.0).logpdf(x6[:, 0].numpy()))
_ = cu.checks.check_close("q6 log p_X", lambda: log_prob_square(x6), reference, rtol=1e-8,
                      hint="two preimages, each with its own |dx/dz|")

# %% [markdown]
# ## Question 7 (3 points, core, about 10 min): forgetting a preimage (written)
#
# In Question 6 the map $x = z^2$ sends two points $\pm\sqrt{x}$ to the same $x$. Suppose a
# student keeps only the preimage $z = +\sqrt x$ in the change-of-variables formula. **Predict**,
# without computing, whether the resulting "density" integrates to more or less than 1 over
# $x > 0$, and by how much (for the base $N(1, 1)$ used in Question 6, give the number as a
# probability of $Z$). Then explain in your own words why the formula for an invertible map
# cannot simply be applied to a map that is not injective (at most 150 words).
#
# Write your answer in the markdown cell below (double-click to edit). This question is
# graded by hand with a rubric; the checks and the automatic grader give it 0 points.

# %% [markdown] course={"question": "q7", "role": "answer"}
# ### BEGIN SOLUTION
# *Model answer: see the rubric (instructor only).*
# ### END SOLUTION

# %% [markdown] course={"role": "instructor"}
# **Rubric (3 points).**
# - 1 pt: it integrates to **less** than 1: exactly $P(Z > 0) = \Phi(1) \approx 0.841$ for
#   $Z \sim N(1,1)$ — the mass of the dropped branch $z<0$ ($\approx 0.159$) is lost.
# - 1 pt: the density of $X$ at $x$ collects probability from *every* $z$ that maps to $x$;
#   $p_X(x) = \sum_{z: f(z)=x} p_Z(z)/|f'(z)|$. The single-term formula assumes one preimage.
# - 1 pt: a clear statement of the invertibility requirement (bijective, differentiable,
#   non-zero Jacobian determinant) and why normalising flows use invertible layers (exact
#   density from one term; also the Jacobian vanishes at $z=0$ here). Half points allowed.

# %% [markdown]
# ## Question 8 (5 points, challenge, about 25 min): fit a 1-D flow by change of variables (end-to-end)
#
# The cell below draws 1000 training and 1000 held-out values from a skewed, heavy-tailed
# source. The model is a one-dimensional flow given by its **normalizing** direction
# $z=f_\theta(x)$, the sinh-arcsinh map
#
# $$f_\theta(x)=\sinh\!\big(\delta\,\operatorname{asinh}(u)-\varepsilon\big),\qquad
# u=\frac{x-\mu}{\sigma},\qquad \theta=(\mu,\ \log\sigma,\ \varepsilon,\ \log\delta),$$
#
# (`sinh_arcsinh(x, theta)`), which is increasing in $x$ for every $\theta$, with base
# $z\sim\mathcal N(0,1)$. At $\theta=0$ it is the identity.
#
# 1. **Build**: write `flow_log_prob(x, theta)` $=\log p_\theta(x)$ for every row of
#    `x: (batch, 1)`, returning `(batch,)`, by the change-of-variables formula (the
#    derivative $f_\theta'(x)$ by hand or by autograd).
# 2. **Run**: fit $\theta$ by maximum likelihood on `x_train8` (any optimiser: Adam, L-BFGS,
#    `scipy.optimize`); store it as `theta_hat`, a float64 tensor of shape `(4,)`.
# 3. **Measure**: `nll_flow`, the mean NLL per point of your fitted flow on `x_test8`, and
#    `nll_gauss`, the same for the Gaussian fitted by MLE to `x_train8` (nats, floats);
#    `mass`, the integral of $p_{\hat\theta}$ over $[-50, 50]$ by the trapezoidal rule on
#    20 001 points (`torch.trapezoid`).
# 4. **Read the result**: `gain = nll_gauss - nll_flow`. Does the density integrate to one?
#    Would it without the derivative term?
#
# Tests (other seeds and hidden inputs): `flow_log_prob` at hidden $\theta$ (1 point);
# your fitted density integrates to one and `mass` is what it gives (1 point); `nll_flow`
# is measured on `x_test8` (1 point); the fit is within 0.05 nats of the source's own
# density on `x_test8` (1 point); `nll_gauss` is measured and `gain` is at least 0.2 nats
# (1 point). Runs in a few seconds.

# %%
seed = 0  # the hidden tests use other seeds
z_e2e = torch.randn(2000, 1, generator=torch.Generator().manual_seed(seed))
x_e2e = 0.5 + 1.2 * torch.sinh((torch.asinh(z_e2e) + 0.8) / 0.7)  # a skewed, heavy-tailed source
x_train8, x_test8 = x_e2e[:1000], x_e2e[1000:]


def sinh_arcsinh(x, theta):
    # z = f_theta(x) of question 8: (batch, 1) -> (batch, 1); theta = (mu, log sigma, eps, log delta)
    u = (x - theta[0]) / torch.exp(theta[1])
    return torch.sinh(torch.exp(theta[3]) * torch.asinh(u) - theta[2])


# %% course={"question": "q8", "role": "answer"}
def flow_log_prob(x, theta):
    """log p_theta(x) of the flow z = sinh_arcsinh(x, theta), z ~ N(0, 1); (batch, 1) -> (batch,)."""
    ### BEGIN SOLUTION
    u = (x[:, 0] - theta[0]) / torch.exp(theta[1])
    a = torch.exp(theta[3]) * torch.asinh(u) - theta[2]
    # f'(x) = delta cosh(a) / (sigma sqrt(1 + u^2)) > 0
    log_df = theta[3] + torch.log(torch.cosh(a)) - 0.5 * torch.log1p(u**2) - theta[1]
    return -0.5 * torch.sinh(a) ** 2 - 0.5 * math.log(2 * math.pi) + log_df
    ### END SOLUTION


theta_hat = torch.zeros(4)
nll_flow = nll_gauss = mass = gain = float("nan")
### BEGIN SOLUTION
theta = torch.tensor([float(x_train8.median()), float(x_train8.std().log()), 0.0, 0.0],
                     requires_grad=True)
opt = torch.optim.LBFGS([theta], lr=1.0, max_iter=200, line_search_fn="strong_wolfe")


def closure():
    opt.zero_grad()
    loss = -flow_log_prob(x_train8, theta).mean()
    loss.backward()
    return loss


opt.step(closure)
theta_hat = theta.detach()
nll_flow = -float(flow_log_prob(x_test8, theta_hat).mean())
m, v = float(x_train8.mean()), float(x_train8.var(unbiased=False))
nll_gauss = float(0.5 * math.log(2 * math.pi * v) + ((x_test8 - m) ** 2).mean() / (2 * v))
grid8 = torch.linspace(-50.0, 50.0, 20001)[:, None]
mass = float(torch.trapezoid(torch.exp(flow_log_prob(grid8, theta_hat)), grid8[:, 0]))
gain = nll_gauss - nll_flow
### END SOLUTION
print(f"held-out NLL: flow {nll_flow:.3f}, Gaussian {nll_gauss:.3f} nats (gain {gain:.3f}); "
      f"integral of the fitted density {mass:.4f}")

# %% course={"question": "q8", "role": "check"}
x8 = torch.tensor([[-2.0], [0.0], [0.7], [3.0]])
cu.checks.check_close("q8 at theta = 0 the flow is the standard normal",
                      lambda: flow_log_prob(x8, torch.zeros(4)), log_normal(x8), rtol=1e-10,
                      hint="f is the identity at theta = 0, so f' = 1")
cu.checks.check_true("q8 theta_hat: a float64 tensor of shape (4,)", lambda: isinstance(theta_hat, torch.Tensor)
                     and theta_hat.shape == (4,) and theta_hat.dtype == torch.float64, "shape (4,), float64")
cu.checks.check_true("q8 the fitted density integrates to one", lambda: abs(mass - 1) < 1e-2,
                     "mass within 0.01 of 1", hint="log p(x) = log N(f(x)) + log f'(x): the derivative term")
_ = cu.checks.check_true("q8 measured and read", lambda: nll_flow < nll_gauss
                         and abs(gain - (nll_gauss - nll_flow)) < 1e-12,
                         "the flow beats the Gaussian on x_test8; gain = nll_gauss - nll_flow")

# %% [markdown]
# ## Done
#
# Run every cell from the top (Kernel → Restart and run all) and make sure each check cell
# prints `[PASS]` before you submit.
