# %% [markdown] slideshow={"slide_type": "slide"}
# # 09 · Stochastic differential equations, score matching, diffusion models and stochastic interpolants
#
# Flow matching (notebook 07) learns a velocity field whose ODE carries noise to data.
# Diffusion models learn a **score** $\nabla_x\log p_t(x)$ and generate by running a
# **stochastic** differential equation. This notebook builds SDEs from random steps,
# checks the Fokker–Planck equation numerically, trains a score model on 2-D data, samples
# it with the reverse-time SDE and with its probability-flow ODE (whose exact likelihood
# comes from notebook 06's machinery), and shows that for Gaussian paths the velocity of
# 07 and the score are affine functions of each other: one trained model, two samplers.
#
# **Learning objectives.** After this notebook you can
#
# 1. explain why a Brownian increment scales as $\sqrt h$ and check the Wiener process's
#    defining properties on samples;
# 2. implement Euler–Maruyama, measure its strong order 1/2 and weak order 1, and say why
#    Milstein reaches strong order 1;
# 3. derive the Fokker–Planck equation by the test-function argument (and state what it
#    assumes), and check it against closed forms and a finite-difference PDE solution;
# 4. write the probability-flow ODE that has the same marginals as an SDE;
# 5. train a score model by denoising score matching and sample it with Langevin dynamics,
#    the reverse-time SDE and the probability-flow ODE;
# 6. convert between velocity and score for any Gaussian path, and place flow matching and
#    diffusion inside the family of stochastic interpolants.
#
# **Prerequisites.** `02_odes` (solvers, NFE), `06_cnf` (continuity equation, exact
# likelihood), `07_flow_matching` (Gaussian paths, the marginal field, CFM).
#
# **Estimated time.** 150 minutes.
#
# **Notation and time convention.** As everywhere in the course: **noise at $t=0$, data at
# $t=1$**, fields $v(t,x)$, `x: (batch, dim)`. The diffusion literature (Song et al. 2021,
# K §3.1) runs time the other way, **data at $s=0$**, noise at $s=1$. We write the forward
# (noising) SDE in $s$ because that is where its formulas are standard, and convert with
#
# $$t=1-s,\qquad p^{\text{course}}_t=p^{\text{diff}}_{1-t},\qquad \frac{d}{dt}=-\frac{d}{ds},$$
#
# so a schedule $\beta(s)$ appears as $\beta(1-t)$ and every drift of a time-reversed
# equation changes sign. **All code runs in course time $t$.** An SDE is
# $dX_t=\mu(t,X_t)\,dt+\sigma(t,X_t)\,dW_t$; the package's solver `cu.sde.sdeint` calls the
# drift `f(t, y)` and the diffusion `g(t, y)` (torchsde's names). M = Miyamoto's
# recitation notes (§12–14), K = Khungurn's notes on flow matching (§3.1).

# %%
import numpy as np
import torch
import matplotlib.pyplot as plt
import course_utils as cu

device = cu.setup(seed=0)

# %%
import copy
import math

import sympy as sp
from scipy import stats

fm = cu.flow_matching
metrics = cu.metrics
F64 = torch.float64


def gen(seed):
    return torch.Generator().manual_seed(seed)


# %% [markdown] slideshow={"slide_type": "slide"}
# ## 1. Brownian motion from random steps
#
# M's heuristic for a pollen grain: $X_{t+h}=X_t+h^\alpha z$ with independent
# $z\sim\mathcal N(0,1)$ at every step. After $t/h$ steps from $X_0=0$,
#
# $$X_t=h^\alpha\sum_{n=1}^{t/h}z_n\sim\mathcal N\!\big(0,\;h^{2\alpha}\cdot t/h\big)
# =\mathcal N\big(0,\;t\,h^{2\alpha-1}\big),$$
#
# because variances of independent terms add. As $h\to0$ the variance goes to $0$ for
# $\alpha>1/2$ (the grain freezes), to $\infty$ for $\alpha<1/2$ (it explodes), and stays
# $t$ only for $\alpha=1/2$. The cell checks the variance sum with SymPy and by simulation.

# %%
h_, t_, a_, n_ = sp.symbols("h t alpha n", positive=True)
var_sum = sp.summation(h_ ** (2 * a_), (n_, 1, t_ / h_))  # sum of t/h variances h^(2 alpha)
assert sp.simplify(var_sum - t_ * h_ ** (2 * a_ - 1)) == 0
print("Var X_t =", sp.simplify(var_sum))

g = gen(0)
rows = []
for alpha in (0.25, 0.5, 0.75):
    for h in (1e-1, 1e-2, 1e-3):
        steps = round(1 / h)
        x1 = (h**alpha * torch.randn(4000, steps, generator=g, dtype=F64)).sum(1)
        rows.append((alpha, h, float(x1.var()), h ** (2 * alpha - 1)))
print("alpha      h    Var X_1 (sim)   t h^(2 alpha - 1)")
for alpha, h, v, th in rows:
    print(f"{alpha:5.2f}  {h:6.0e}  {v:12.4g}  {th:14.4g}")
    assert abs(v / th - 1) < 0.1

# %% [markdown] slideshow={"slide_type": "subslide"}
# > **Pitfall.** It is tempting to copy M's (12.6) as written: "$h^\alpha\sum_{n=1}^{t/h+1}
# > z_{t-nh}\sim\mathcal N((0,h^{2\alpha-1}t))$". The sum there has $t/h+1$ terms, one more
# > than the recursion (12.5) produces, and with $t/h+1$ terms the variance would be
# > $h^{2\alpha}(t/h+1)=t\,h^{2\alpha-1}+h^{2\alpha}$, not $t\,h^{2\alpha-1}$. The correct
# > statement is the one above: $t/h$ terms $z_{t-nh}$, $n=1,\dots,t/h$, and variance
# > exactly $t\,h^{2\alpha-1}$ (times $I$ in $d$ dimensions). The SymPy sum in the cell
# > above is the check; the one below counts the terms of the recursion. (M §12, eqs.
# > 12.5–12.6.)

# %%
# unroll X_{k+1} = X_k + h^alpha z_k from X_0 = 0 for t/h steps and count the z's used
h, t_end = 0.125, 1.0
used = []
for k in range(round(t_end / h)):
    used.append(k)
print(f"t/h = {t_end / h:.0f} steps use {len(used)} noise terms (not t/h + 1 = {t_end / h + 1:.0f})")
assert len(used) == t_end / h

# %% [markdown] slideshow={"slide_type": "subslide"}
# ### The Wiener process
#
# The $\alpha=1/2$ limit is the **Wiener process** (Brownian motion) $W_t$:
#
# 1. $W_0=0$;
# 2. for $0\le s\le t$, $W_t-W_s\sim\mathcal N(0,(t-s)I)$;
# 3. increments over **non-overlapping** intervals are independent: for
#    $0\le t_0\le t_1\le\dots\le t_k$, the $W_{t_i}-W_{t_{i-1}}$ are independent;
# 4. $t\mapsto W_t$ is continuous (almost surely).
#
# `cu.sde.BrownianPath` samples one path at any times asked for (between two stored times
# it draws from the Brownian bridge), so the same path can be queried on a coarse and a
# fine grid. The cell checks the four properties on 20 000 paths.

# %%
n = 20_000
bm = cu.sde.BrownianPath(0.0, 1.0, (n, 1), dtype=F64, generator=gen(1))
d1, d2 = bm(0.0, 0.3)[:, 0], bm(0.3, 1.0)[:, 0]
ks = stats.kstest((d2 / math.sqrt(0.7)).numpy(), "norm").pvalue
print(f"W_0 = {float(bm(0.0).abs().max()):.1f};  Var(W_0.3 - W_0) = {float(d1.var()):.4f} (0.3), "
      f"Var(W_1 - W_0.3) = {float(d2.var()):.4f} (0.7), KS p-value {ks:.2f}")
print(f"corr of disjoint increments = {float(torch.corrcoef(torch.stack([d1, d2]))[0, 1]):+.4f}")
e1, e2 = bm(0.0, 0.5)[:, 0], bm(0.25, 1.0)[:, 0]  # overlapping on [0.25, 0.5]
r_over = float(torch.corrcoef(torch.stack([e1, e2]))[0, 1])
print(f"corr of W_0.5 - W_0 and W_1 - W_0.25 = {r_over:.3f} "
      f"(overlap / sqrt(len1 len2) = {0.25 / math.sqrt(0.5 * 0.75):.3f})")
# continuity: the largest step on a grid of width h shrinks like sqrt(2 h log(1/h))
grid = torch.linspace(0, 1, 1025, dtype=F64)
w = torch.cat([bm(float(t)) for t in grid], 1)[:200]
for stride in (64, 8, 1):
    hh = stride / 1024
    jump = float((w[:, stride::stride] - w[:, :-stride:stride]).abs().max(1).values.mean())
    print(f"h = {hh:.5f}: mean max |W_t+h - W_t| = {jump:.3f}, sqrt(2 h log(1/h)) = "
          f"{math.sqrt(2 * hh * math.log(1 / hh)):.3f}")
assert abs(float(d1.var()) - 0.3) < 0.02 and abs(r_over - 0.408) < 0.03 and ks > 1e-3

# %% [markdown] slideshow={"slide_type": "subslide"}
# > **Pitfall.** M's Definition 7 reads "$W_{t_1}-W_{t_0}$ is independent from
# > $W_{t_i}-W_{t_j}$" with no condition on the times, and lists no continuity. Taken
# > literally the first claim is false: increments over **overlapping** intervals are
# > correlated, with correlation (overlap length)$/\sqrt{\text{len}_1\,\text{len}_2}$ —
# > $0.408$ for $[0,0.5]$ and $[0.25,1]$, measured above. Independence holds for
# > non-overlapping intervals. Continuity of the paths (property 4) is part of the
# > definition: without it, properties 1–3 are also satisfied by processes that jump.
# > (M §12, Definition 7.)
#
# ## 2. Euler–Maruyama, and how fast it converges
#
# An ODE step is $X_{t+h}=X_t+h\,\mu(t,X_t)+O(h^2)$. The SDE
# $dX_t=\mu(t,X_t)\,dt+\sigma(t,X_t)\,dW_t$ is *defined* through the Itô integral, and its
# simplest discretisation is **Euler–Maruyama** (EM):
#
# $$X_{k+1}=X_k+h\,\mu(t_k,X_k)+\sigma(t_k,X_k)\,\Delta W_k,\qquad
# \Delta W_k=W_{t_{k+1}}-W_{t_k}\sim\mathcal N(0,hI).$$
#
# The noise term is of size $\mathbb E|\Delta W|=\sqrt{2h/\pi}$, much larger than the drift
# term $h\mu$: per step the state moves $O(\sqrt h)$, which is why paths are nowhere
# differentiable. We test on **geometric Brownian motion** $dX=aX\,dt+bX\,dW$, whose
# solution is known: $X_t=X_0\exp\big((a-\tfrac{b^2}{2})t+bW_t\big)$. The loop below is all of
# EM; `cu.sde.sdeint` does the same with torchsde's interface.

# %%
a_gbm, b_gbm = 1.0, 1.0


class GBM(torch.nn.Module):
    noise_type, sde_type = "diagonal", "ito"  # torchsde's attributes

    def f(self, t, y):  # drift mu(t, y)
        return a_gbm * y

    def g(self, t, y):  # diffusion sigma(t, y), one channel per coordinate
        return b_gbm * y


def euler_maruyama(sde, y0, bm, n_steps, t1=1.0):
    h = t1 / n_steps
    y = y0
    for k in range(n_steps):
        t = k * h
        y = y + sde.f(t, y) * h + sde.g(t, y) * bm(t, t + h)
    return y


n = 4000
bm = cu.sde.BrownianPath(0.0, 1.0, (n, 1), dtype=F64, generator=gen(2))
y0 = torch.ones(n, 1, dtype=F64)
mine = euler_maruyama(GBM(), y0, bm, 64)
pkg = cu.sde.sdeint(GBM(), y0, torch.tensor([0.0, 1.0]), dt=1 / 64, bm=bm)[-1]
assert torch.allclose(mine, pkg, atol=1e-12)
print(f"hand-written EM = cu.sde.sdeint on the same path: max difference {float((mine - pkg).abs().max()):.1e}")

# %% [markdown] slideshow={"slide_type": "subslide"}
# **Strong error** measures paths: $\mathbb E|X^h_T-X_T|$ with the numerical and the exact
# solution driven by the *same* Brownian path (here one `BrownianPath` refined from
# $h=2^{-3}$ to $2^{-9}$). **Weak error** measures laws: $|\mathbb E\,\phi(X^h_T)-\mathbb
# E\,\phi(X_T)|$ for a test function $\phi$ (here $\phi(x)=x$; we estimate it as the mean of
# $X^h_T-X_T$ on the same paths, which cancels most of the Monte Carlo noise). Theory (Kloeden
# & Platen 1992): EM has strong order $1/2$ and weak order $1$; **Milstein**, which adds
# $\tfrac12\sigma\,\partial_x\sigma\,(\Delta W^2-h)$, has strong order 1.

# %%
def gbm_errors(method, b=1.0, n=4000, seed=3, ks=range(3, 10)):
    global b_gbm
    b_gbm = b
    bm = cu.sde.BrownianPath(0.0, 1.0, (n, 1), dtype=F64, generator=gen(seed))
    exact = torch.exp((a_gbm - b**2 / 2) + b * bm(0.0, 1.0))
    hs, strong, weak = [], [], []
    for k in ks:
        y = cu.sde.sdeint(GBM(), torch.ones(n, 1, dtype=F64), [0.0, 1.0], dt=2.0**-k,
                          bm=bm, method=method)[-1]
        hs.append(2.0**-k)
        strong.append(float((y - exact).abs().mean()))
        weak.append(abs(float((y - exact).mean())))
    b_gbm = 1.0
    return np.array(hs), np.array(strong), np.array(weak)


def slope(hs, errs):
    return float(np.polyfit(np.log(hs), np.log(errs), 1)[0])


hs, s_em, _ = gbm_errors("euler")
_, s_mil, _ = gbm_errors("milstein")
_, _, w_em = gbm_errors("euler", b=0.5, n=20_000)
print("     h      strong EM   strong Milstein   weak EM (b = 0.5)")
for row in zip(hs, s_em, s_mil, w_em, strict=True):
    print(f"{row[0]:8.5f}  {row[1]:10.4f}  {row[2]:12.5f}  {row[3]:14.5f}")
orders = {"EM strong": slope(hs, s_em), "Milstein strong": slope(hs, s_mil), "EM weak": slope(hs, w_em)}
print("measured orders: " + ", ".join(f"{k} {v:.2f}" for k, v in orders.items()))
assert 0.4 < orders["EM strong"] < 0.6 and 0.85 < orders["Milstein strong"] < 1.15
assert 0.85 < orders["EM weak"] < 1.15

fig, ax = plt.subplots(figsize=(5.5, 4))
ax.loglog(hs, s_em, "o-", label="EM strong")
ax.loglog(hs, s_mil, "s-", label="Milstein strong")
ax.loglog(hs, w_em, "^-", label="EM weak (b = 0.5)")
ax.loglog(hs, 0.6 * hs**0.5, "k:", label="slope 1/2")
ax.loglog(hs, 1.5 * hs, "k--", label="slope 1")
ax.set(title="Errors on geometric Brownian motion, T = 1", xlabel="step h", ylabel="error")
ax.legend()
plt.show()

# %% [markdown] slideshow={"slide_type": "subslide"}
# > **Pitfall.** M writes the SDE step as (12.9)
# > "$X_{t+h}=X_t+h\,u_t(X_t)+(W_{t+h}-W_t)\,\sigma_t(X_t)+\mathcal O(h^{3/2})$" and says the
# > remainder comes from terms of order $h\,\Delta W$. That holds only when $\sigma$ does
# > not depend on $X$ (additive noise). When it does, the first neglected term is Milstein's
# > $\tfrac12\sigma\,\partial_x\sigma\,(\Delta W^2-h)$, which is of order $h$: the one-step
# > remainder is $O(h)$, and that is why EM has strong order $1/2$ (the $1/h$ remainders of
# > size $h$, random with mean zero, add up like $\sqrt{1/h}\cdot h$). The cell measures the
# > one-step error against the exact solution on the same path: slope 1 for GBM
# > (multiplicative noise), 1.5 only for Ornstein–Uhlenbeck (additive noise). M also calls
# > the drift $\mu_t$ on the left of (12.8) and in (12.10)–(12.13), but $u_t$ on the right
# > of (12.8), in (12.9) and in (12.16)–(12.18): they are the same function. (M §12, eqs. 12.8–12.9.)

# %%
def one_step_error(multiplicative, h, n=20_000, seed=4):
    z = torch.randn(n, 1, generator=gen(seed), dtype=F64) * math.sqrt(h)  # Delta W
    if multiplicative:  # GBM, a = b = 1, from X_0 = 1
        exact, em = torch.exp(0.5 * h + z), 1 + h + z
    else:  # OU dX = -X dt + dW from X_0 = 1: exact X_h = e^{-h} + int_0^h e^{-(h-u)} dW_u
        # the Ito integral given Delta W: its conditional mean is z (1 - e^{-h}) / h, plus an
        # independent part; sample it exactly with a second normal
        var = (1 - math.exp(-2 * h)) / 2
        cov = (1 - math.exp(-h))  # Cov(integral, Delta W)
        cond_var = var - cov**2 / h
        extra = torch.randn(n, 1, generator=gen(seed + 1), dtype=F64) * math.sqrt(max(cond_var, 0))
        exact, em = math.exp(-h) + z * cov / h + extra, 1 - h + z
    return float((exact - em).abs().mean())


hs1 = np.array([0.1, 0.05, 0.02, 0.01, 0.005])
e_gbm = [one_step_error(True, h) for h in hs1]
e_ou = [one_step_error(False, h) for h in hs1]
print(f"one-step error slope: GBM {slope(hs1, e_gbm):.2f} (remainder O(h)), "
      f"OU {slope(hs1, e_ou):.2f} (remainder O(h^1.5))")
assert 0.9 < slope(hs1, e_gbm) < 1.1 and 1.35 < slope(hs1, e_ou) < 1.65

# %% [markdown] slideshow={"slide_type": "slide"}
# ## 3. The Fokker–Planck equation
#
# **Statement.** Let $dX_t=\mu(t,X_t)\,dt+\sigma(t,X_t)\,dW_t$ in $\mathbb R^d$ with $m$
# Brownian channels ($\sigma$ is $d\times m$), $D=\sigma\sigma^\top$, and let $X_t$ have a
# smooth density $p_t$. Then
#
# $$\partial_tp_t=-\sum_i\partial_i(\mu_ip_t)+\frac12\sum_{i,j}\partial_i\partial_j(D_{ij}p_t).$$
#
# For a scalar $\sigma(t)$ times $I$ this is $\partial_tp=-\nabla\!\cdot(\mu p)+\frac{\sigma^2}{2}\Delta p$;
# for diagonal noise $\sigma=\mathrm{diag}(\sigma_1,\dots,\sigma_d)$ the last term is
# $\frac12\sum_i\partial_i^2(\sigma_i^2p)$.
#
# **Derivation (test functions).** Take $\phi\in C^2_c$ (twice differentiable, compact
# support). Over one step, $\Delta X=\mu h+\sigma\Delta W+o(h)$ in mean square, with
# $\mathbb E[\Delta W]=0$ and $\mathbb E[\Delta W\Delta W^\top]=hI$. Taylor to second order,
#
# $$\mathbb E[\phi(X_{t+h})-\phi(X_t)]=\mathbb E\Big[\nabla\phi^\top\mu\,h+\tfrac12\operatorname{tr}\big(\nabla^2\phi\,D\big)h\Big]+o(h),$$
#
# the cross term $\mathbb E[\nabla\phi^\top\sigma\Delta W]$ vanishing because $\Delta W$ is
# independent of $X_t$. Divide by $h$, let $h\to0$, write the expectation as an integral
# against $p_t$ and integrate by parts (once for the drift, twice for the diffusion; the
# boundary terms vanish because $\phi$ has compact support):
#
# $$\int\phi\,\partial_tp_t\,dx=\int\phi\Big[-\nabla\!\cdot(\mu p_t)+\tfrac12\textstyle\sum_{ij}\partial_i\partial_j(D_{ij}p_t)\Big]dx .$$
#
# Since this holds for every $\phi\in C^2_c$, the brackets agree. **Assumptions used:**
# $\mu,\sigma$ regular enough for a unique solution (e.g. Lipschitz, linear growth),
# $p_t$ smooth enough to integrate by parts twice, and the $o(h)$ remainders controlled
# uniformly (true for bounded $\phi''$). Only the first two conditional moments of
# $\Delta X$ enter: the equation is a statement about **laws**, not paths.

# %%
x, y, t = sp.symbols("x y t", real=True)
th, s1, s2, m0, v0 = sp.symbols("theta sigma_1 sigma_2 m_0 v_0", positive=True)
# 2-D OU with diagonal noise dX_i = -theta X_i dt + sigma_i dW_i from N((m0, m0), v0 I):
# Gaussian p_t, written through log p (p_t / p = d_t log p, d_xx p / p = (d_x log p)^2 + d_xx log p)
mean = m0 * sp.exp(-th * t)
v1, v2 = [v0 * sp.exp(-2 * th * t) + s**2 * (1 - sp.exp(-2 * th * t)) / (2 * th) for s in (s1, s2)]
logp = -(x - mean) ** 2 / (2 * v1) - (y - mean) ** 2 / (2 * v2) - sp.log(2 * sp.pi * sp.sqrt(v1 * v2))
lx, ly = sp.diff(logp, x), sp.diff(logp, y)
dp_dt = sp.diff(logp, t)  # all terms divided by p
drift_term = 2 * th + th * x * lx + th * y * ly  # -div(mu p) / p with mu = -theta x
lap_x, lap_y = lx**2 + sp.diff(lx, x), ly**2 + sp.diff(ly, y)
forms = {
    "correct: sum_i sigma_i^2 d_ii p / 2": (s1**2 * lap_x + s2**2 * lap_y) / 2,
    "M, sigma^2 = |sigma|^2": (s1**2 + s2**2) / 2 * (lap_x + lap_y),
    "M, sigma^2 = sigma_1^2": s1**2 / 2 * (lap_x + lap_y),
    "M, sigma^2 = sigma_2^2": s2**2 / 2 * (lap_x + lap_y),
}
rng = np.random.default_rng(0)
args = (x, y, t, th, m0, v0, s1, s2)
vals = [rng.uniform(lo, hi, 2000) for lo, hi in ((-2, 2), (-2, 2), (0.1, 2), (0.5, 2), (-1, 1), (0.05, 1))]
fp_residual = {}
for name, diffusion_term in forms.items():
    residual = sp.lambdify(args, dp_dt - drift_term - diffusion_term, "numpy")(*vals, 1.0, 2.0)
    fp_residual[name] = float(np.abs(residual).max())
    print(f"{name:38s} max |residual| / p over 2000 points = {fp_residual[name]:.1e}")
assert fp_residual["correct: sum_i sigma_i^2 d_ii p / 2"] < 1e-9
assert min(fp_residual.values()) == fp_residual["correct: sum_i sigma_i^2 d_ii p / 2"]
assert all(v > 1 for k, v in fp_residual.items() if k.startswith("M"))

# %% [markdown] slideshow={"slide_type": "subslide"}
# > **Pitfall.** M's Theorem 2 takes $\sigma_t:[0,1]\to\mathbb R^d$ (a vector) and writes
# > $\partial_tp_t=-\nabla\!\cdot(\mu_tp_t)+\frac{\sigma_t^2}{2}\Delta p_t$. For a vector
# > $\sigma$ no reading of "$\sigma_t^2\,\Delta$" is right: with diagonal noise the diffusion
# > term is $\frac12\sum_i\sigma_i^2\partial_i^2p$, a different coefficient in each direction.
# > The cell above puts the exact density of a 2-D Ornstein–Uhlenbeck process with
# > $\sigma=(1,2)$ (SymPy derivatives, evaluated at 2000 random points and parameters) into
# > both: the correct equation holds to rounding error, M's form fails under every reading. The Laplacian form is right for a scalar $\sigma_t$ (times $I$). M also
# > calls $p_0$ a "boundary condition"; it is the initial condition. (M §12, Theorem 2.)
#
# ### Checked on particles
#
# **Ornstein–Uhlenbeck** $dX=-\theta X\,dt+\sigma\,dW$ started from $\mathcal N(2,0.1^2)$
# has Gaussian marginals with mean $2e^{-\theta t}$ and variance
# $0.01e^{-2\theta t}+\frac{\sigma^2}{2\theta}(1-e^{-2\theta t})$. **A double well**
# $dX=(X-X^3)\,dt+0.7\,dW$ from $\mathcal N(0,0.2^2)$ has no closed form: we solve the
# Fokker–Planck PDE by finite differences (conservative fluxes, explicit Euler in time, on
# $[-3,3]$ with zero flux at the ends) and compare with EM particle histograms. Errors are
# $L^1$ distances between the histogram density and the PDE density, next to the $L^1$
# distance between two independent particle sets of the same size (the Monte Carlo floor).

# %%
def hist_density(x, edges):
    counts, _ = np.histogram(x, bins=edges)
    return counts / (len(x) * np.diff(edges))


def l1(pa, pb, edges):
    return float(np.sum(np.abs(pa - pb) * np.diff(edges)))


n_part, edges = 20_000, np.linspace(-3, 3, 61)
mids = 0.5 * (edges[1:] + edges[:-1])
theta, sig = 1.0, 0.8
ou = cu.sde.SDE(lambda t, y: -theta * y, lambda t, y: sig * torch.ones_like(y))
times_ou = [0.25, 1.0, 3.0]
x0 = 2 + 0.1 * torch.randn(2 * n_part, 1, generator=gen(5), dtype=F64)
traj = cu.sde.sdeint(ou, x0, [0.0, *times_ou], dt=1e-2, generator=gen(6))
fp_errors = {}
fig, axes = plt.subplots(1, 2, figsize=(12, 4))
for k, tt in enumerate(times_ou):
    m_t = 2 * math.exp(-theta * tt)
    v_t = 0.01 * math.exp(-2 * theta * tt) + sig**2 / (2 * theta) * (1 - math.exp(-2 * theta * tt))
    exact = stats.norm.pdf(mids, m_t, math.sqrt(v_t))
    xa, xb = traj[k + 1, :n_part, 0].numpy(), traj[k + 1, n_part:, 0].numpy()
    pa, pb = hist_density(xa, edges), hist_density(xb, edges)
    fp_errors["OU", tt] = (l1(pa, exact, edges), l1(pa, pb, edges))
    axes[0].plot(mids, pa, drawstyle="steps-mid", label=f"particles t = {tt}")
    axes[0].plot(mids, exact, "k--", lw=1)
axes[0].set(title="OU: EM particles vs closed-form p_t (dashed)", xlabel="x", ylabel="density")
axes[0].legend()

# double well: finite-difference Fokker-Planck, flux F = mu p - (sigma^2 / 2) dp/dx
sig_dw, dx = 0.7, 0.03
xs = np.arange(-3, 3 + dx / 2, dx)
mu_face = lambda xf: xf - xf**3  # noqa: E731
faces = 0.5 * (xs[1:] + xs[:-1])
pde = stats.norm.pdf(xs, 0, 0.2)
dt_pde, t_now = 0.4 * dx**2 / sig_dw**2, 0.0
times_dw = [0.5, 1.5, 3.0]
x0 = 0.2 * torch.randn(2 * n_part, 1, generator=gen(7), dtype=F64)
dw_sde = cu.sde.SDE(lambda t, y: y - y**3, lambda t, y: sig_dw * torch.ones_like(y))
traj = cu.sde.sdeint(dw_sde, x0, [0.0, *times_dw], dt=5e-3, generator=gen(8))
for k, tt in enumerate(times_dw):
    while t_now < tt - 1e-12:
        step = min(dt_pde, tt - t_now)
        p_face = 0.5 * (pde[1:] + pde[:-1])
        flux = mu_face(faces) * p_face - 0.5 * sig_dw**2 * (pde[1:] - pde[:-1]) / dx
        flux = np.concatenate([[0.0], flux, [0.0]])  # no flux through the ends
        pde = pde - step * (flux[1:] - flux[:-1]) / dx
        t_now += step
    pde_mid = np.interp(mids, xs, pde)
    xa, xb = traj[k + 1, :n_part, 0].numpy(), traj[k + 1, n_part:, 0].numpy()
    pa, pb = hist_density(xa, edges), hist_density(xb, edges)
    fp_errors["double well", tt] = (l1(pa, pde_mid, edges), l1(pa, pb, edges))
    axes[1].plot(mids, pa, drawstyle="steps-mid", label=f"particles t = {tt}")
    axes[1].plot(xs, pde, "k--", lw=1)
axes[1].set(title="double well: particles vs finite-difference PDE (dashed)", xlabel="x",
            ylabel="density")
axes[1].legend()
plt.tight_layout()
plt.show()
print(f"PDE mass at t = 3: {pde.sum() * dx:.6f}")
print("case            t    L1(particles, p_t)   L1(two particle sets)")
for (case, tt), (err, floor_) in fp_errors.items():
    print(f"{case:12s} {tt:5.2f}   {err:12.4f}         {floor_:12.4f}")
    assert err < 2 * floor_ + 0.01

# %% [markdown] slideshow={"slide_type": "subslide"}
# The particle histograms agree with the Fokker–Planck solutions to within the Monte Carlo
# noise (and the $O(h)$ weak error of EM, too small to see at this step).
#
# > **Pitfall.** After the proof, M adds: "this proof is typically done using Ito's lemma,
# > and (I think) it holds in weak-convergence. This proof uses the Euler Maruyama, and
# > taking $h\to0$ gives strong convergence (which in turn implies weak-convergence)." The
# > tempting reading is that the equation is only an approximate, limiting statement, and
# > that EM approximates laws no better than paths. Both are wrong. The Fokker–Planck
# > equation is an exact statement about the law of $X_t$; the derivation uses only the
# > first two conditional moments of one step (a weak property, which EM shares with the
# > exact solution to $o(h)$), not pathwise convergence. And EM's **weak order (1) is higher
# > than its strong order (1/2)**: §2 measured 0.97 and 0.49 on GBM, so "strong implies
# > weak" gives the wrong rate for laws. (M §12, remark after Theorem 2.)
#
# ## 4. Same marginals, different paths: the probability-flow ODE
#
# Write the diffusion term of a scalar-noise Fokker–Planck equation as a transport term:
# $\frac{\sigma^2}{2}\Delta p=\nabla\!\cdot\big(\frac{\sigma^2}{2}p\nabla\log p\big)$. Then
#
# $$\partial_tp_t=-\nabla\!\cdot\Big(p_t\underbrace{\big[\mu-\tfrac{\sigma^2}{2}\nabla\log p_t\big]}_{v_t}\Big),$$
#
# which is **06's continuity equation** for the velocity $v_t$. So the ODE
# $\dot x=\mu-\frac{\sigma^2}{2}\nabla\log p_t(x)$, the **probability-flow ODE**, has exactly
# the marginals $p_t$ of the SDE, with smooth deterministic trajectories. Going the other
# way, for any $\varepsilon(t)\ge0$ the SDEs $dx=[v_t+\frac{\varepsilon^2}{2}\nabla\log
# p_t]\,dt+\varepsilon\,dW$ all share the marginals of the ODE $\dot x=v_t$. The cell
# checks the identity with SymPy and then runs the OU process from a two-component mixture
# (whose $p_t$ and score stay in closed form) as an SDE and as an ODE.

# %%
pf = sp.Function("p", positive=True)(x, t)
mu_f, s_ = sp.Function("mu")(x, t), sp.symbols("sigma", positive=True)
lhs = -sp.diff(mu_f * pf, x) + s_**2 / 2 * sp.diff(pf, x, 2)
rhs = -sp.diff(pf * (mu_f - s_**2 / 2 * sp.diff(sp.log(pf), x)), x)
assert sp.simplify(lhs - rhs) == 0
print("Fokker-Planck right side = continuity equation with v = mu - sigma^2/2 d/dx log p: True")

# OU dX = -X dt + s dW from the mixture 0.5 N(-2, 0.3^2) + 0.5 N(2, 0.3^2) (1-D)
s_ou, comp_m, comp_v = 1.0, torch.tensor([-2.0, 2.0], dtype=F64), 0.09


def ou_mixture_logp(t, xq):
    t = torch.as_tensor(t, dtype=F64)
    m = comp_m * torch.exp(-t)
    v = comp_v * torch.exp(-2 * t) + s_ou**2 / 2 * (1 - torch.exp(-2 * t))
    logc = -0.5 * (xq - m) ** 2 / v - 0.5 * torch.log(2 * math.pi * v) + math.log(0.5)
    return torch.logsumexp(logc, dim=1, keepdim=True)


def ou_mixture_score(t, xq):
    xq = xq.detach().requires_grad_(True)
    with torch.enable_grad():
        return torch.autograd.grad(ou_mixture_logp(t, xq).sum(), xq)[0]


def pf_field(t, xq):  # probability-flow velocity mu - s^2/2 score
    return -xq - s_ou**2 / 2 * ou_mixture_score(t, xq)


n_pf = 4000
side = torch.randint(0, 2, (n_pf, 1), generator=gen(9))
x0 = comp_m[side] + 0.3 * torch.randn(n_pf, 1, generator=gen(10), dtype=F64)
ts_pf = torch.linspace(0, 1.5, 31, dtype=F64)
ou1 = cu.sde.SDE(lambda t, y: -y, lambda t, y: s_ou * torch.ones_like(y))
sde_traj = cu.sde.sdeint(ou1, x0, ts_pf, dt=0.01, generator=gen(11))
ode_traj = cu.ode.odeint(pf_field, x0, ts_pf, method="rk4", step_size=0.05)
for k in (10, 30):
    ks_p = stats.ks_2samp(sde_traj[k, :, 0].numpy(), ode_traj[k, :, 0].numpy()).pvalue
    lp = ou_mixture_logp(float(ts_pf[k]), ode_traj[k]).mean()
    print(f"t = {float(ts_pf[k]):.1f}: SDE vs ODE particles KS p = {ks_p:.2f}; mean log p_t "
          f"of ODE particles {float(lp):.3f}, of SDE particles {float(ou_mixture_logp(float(ts_pf[k]), sde_traj[k]).mean()):.3f}")
    assert ks_p > 1e-3
fig, ax = plt.subplots(figsize=(7, 4))
for i in range(6):
    ax.plot(ts_pf, sde_traj[:, i, 0], color="C0", lw=0.8, label="SDE paths" if i == 0 else None)
    ax.plot(ts_pf, ode_traj[:, i, 0], color="C3", lw=1.5, label="probability-flow ODE" if i == 0 else None)
ax.set(title="Same marginals, different paths (OU from a mixture)", xlabel="t", ylabel="x")
ax.legend()
plt.show()

# %% [markdown] slideshow={"slide_type": "slide"}
# ## 5. Score matching
#
# The **score** of a density is $\nabla_x\log p(x)$; it does not need the normalising
# constant, and it is what the probability-flow ODE and (below) the reverse SDE need.
# **Explicit score matching** (ESM) fits $s_\theta$ to it,
# $J_{\text{ESM}}=\mathbb E_{x\sim p}\|s_\theta(x)-\nabla\log p(x)\|^2$, which needs the
# unknown score. **Denoising score matching** (DSM, Vincent 2011) perturbs a data point,
# $\tilde x=x+\sigma z$, and regresses on the score of the *conditional* density:
#
# $$J_{\text{DSM}}=\mathbb E_{x,z}\big\|s_\theta(\tilde x)-\nabla_{\tilde x}\log q(\tilde x\mid x)\big\|^2
# =\mathbb E\big\|s_\theta(\tilde x)+z/\sigma\big\|^2 .$$
#
# Exactly as CFM = FM + constant in 07 §5: expanding both squares, the $\|s_\theta\|^2$
# terms agree, and the cross terms agree because
# $\mathbb E[\nabla\log q(\tilde x\mid x)\mid\tilde x]=\nabla\log p_\sigma(\tilde x)$
# ($p_\sigma$ the perturbed density); what is left does not depend on $\theta$. So
# $J_{\text{DSM}}=J_{\text{ESM}}(p_\sigma)+C$. The cell evaluates both on a 2-D Gaussian
# mixture (its perturbed score is closed-form) for several models: the difference is the
# same constant up to Monte Carlo error, and the gradients agree.

# %%
mix = cu.data.get("gaussian_mixture")
sigma_dsm = 0.5
noisy = cu.data.GaussianMixture2D(mix.means, torch.sqrt(mix.stds**2 + sigma_dsm**2), mix.weights)


def true_score(xq):
    xq = xq.detach().requires_grad_(True)
    with torch.enable_grad():
        return torch.autograd.grad(noisy.log_prob(xq).sum(), xq)[0]


x_d = mix.sample(200_000, generator=gen(12)).to(F64)
z_d = torch.randn(x_d.shape, generator=gen(13), dtype=F64)
xt_d = x_d + sigma_dsm * z_d
score_xt = true_score(xt_d)
diffs, grads = [], []
for k in range(4):
    lin = torch.nn.Linear(2, 2).to(F64)
    torch.nn.init.normal_(lin.weight, std=0.5, generator=gen(20 + k))
    j_dsm = ((lin(xt_d) + z_d / sigma_dsm) ** 2).sum(1).mean()
    j_esm = ((lin(xt_d) - score_xt) ** 2).sum(1).mean()
    g_dsm = torch.autograd.grad(j_dsm, lin.weight)[0]
    g_esm = torch.autograd.grad(j_esm, lin.weight)[0]
    diffs.append(float(j_dsm.detach() - j_esm.detach()))
    grads.append(float((g_dsm - g_esm).abs().max() / g_esm.abs().max()))
print("J_DSM - J_ESM for 4 models:", ", ".join(f"{d:.4f}" for d in diffs))
print("relative gradient difference:", ", ".join(f"{r:.4f}" for r in grads))
assert max(diffs) - min(diffs) < 0.02 and max(grads) < 0.03

# %% [markdown] slideshow={"slide_type": "subslide"}
# ### Langevin dynamics, and where it fails
#
# With a score one can sample by **Langevin dynamics**,
# $x_{k+1}=x_k+\eta\,\nabla\log p(x_k)+\sqrt{2\eta}\,z_k$, the EM discretisation of
# $dx=\nabla\log p\,dt+\sqrt2\,dW$, whose stationary density is $p$ (Fokker–Planck: the
# drift and diffusion fluxes cancel). Its failure mode is **mixing between separated
# modes**: to go from one mode to another a chain must cross a region of tiny density,
# which takes exponentially long. Below, a 1-D mixture $0.8\,\mathcal N(-4,0.5^2)+
# 0.2\,\mathcal N(4,0.5^2)$ with the exact score, chains started uniformly on $[-8,8]$:
# the fraction in the right mode stays near the initial 1/2 instead of 0.2. **Annealed
# Langevin** (Song & Ermon 2019) runs the chains through the scores of the data perturbed
# by decreasing noise $\sigma=5\to0.1$; at large $\sigma$ the modes overlap and the chains
# find the right proportions.

# %%
w_l, m_l, s_l = torch.tensor([0.8, 0.2], dtype=F64), torch.tensor([-4.0, 4.0], dtype=F64), 0.5


def mix1d_score(xq, extra_var=0.0):
    v = s_l**2 + extra_var
    logc = torch.log(w_l) - 0.5 * (xq - m_l) ** 2 / v
    r = torch.softmax(logc, dim=1)
    return (r * (m_l - xq) / v).sum(1, keepdim=True)


g = gen(14)
x_plain = 16 * torch.rand(2000, 1, generator=g, dtype=F64) - 8
eta = 0.02
for _ in range(1000):
    x_plain = x_plain + eta * mix1d_score(x_plain) + math.sqrt(2 * eta) * torch.randn(x_plain.shape, generator=g, dtype=F64)
x_ann = 16 * torch.rand(2000, 1, generator=g, dtype=F64) - 8
for sig_a in np.geomspace(5, 0.1, 20):
    eta_a = 0.1 * (sig_a**2 + s_l**2)  # step proportional to the variance of the current level
    for _ in range(50):
        x_ann = x_ann + eta_a * mix1d_score(x_ann, sig_a**2) + math.sqrt(2 * eta_a) * torch.randn(x_ann.shape, generator=g, dtype=F64)
frac_plain, frac_ann = float((x_plain > 0).double().mean()), float((x_ann > 0).double().mean())
print(f"fraction in the right mode: target 0.200, plain Langevin {frac_plain:.3f}, annealed {frac_ann:.3f}")
assert abs(frac_plain - 0.5) < 0.06 and abs(frac_ann - 0.2) < 0.04

# %% [markdown] slideshow={"slide_type": "slide"}
# ## 6. Diffusion models: the VP SDE, its reverse and its probability-flow ODE
#
# The **variance-preserving** forward SDE (Song et al. 2021) noises data, in diffusion
# time $s\in[0,1]$ with data at $s=0$:
#
# $$dx=-\tfrac12\beta(s)\,x\,ds+\sqrt{\beta(s)}\,dW_s,\qquad \beta(s)=\beta_\min+(\beta_\max-\beta_\min)s .$$
#
# It is linear, so $x_s\mid x_{\text{data}}\sim\mathcal N\big(a(s)x_{\text{data}},(1-a(s)^2)I\big)$ with
# $a(s)=\exp(-\frac12\int_0^s\beta)$: in course time $t=1-s$ this is exactly 07's VP path,
# $\alpha_t=a(1-t)$, $\sigma_t=\sqrt{1-\alpha_t^2}$ (`fm.VPPath`, checked below).
# **Anderson (1982)**: the time reversal of $dx=f\,ds+g\,dW$ is again an SDE, with drift
# $f-g^2\nabla\log p_s$, run from $s=1$ down to $0$. In course time (forward in $t$, $ds=-dt$):
#
# $$dx=\tfrac12\beta(1-t)\big[x+2\nabla\log p_t(x)\big]dt+\sqrt{\beta(1-t)}\,dW_t,
# \qquad \dot x=\tfrac12\beta(1-t)\big[x+\nabla\log p_t(x)\big]\ \text{(probability flow).}$$
#
# We learn the score with DSM on every noise level at once, parametrised by the noise:
# $x_t=\alpha_tx_1+\sigma_t\varepsilon$, a network $\hat\varepsilon_\theta(t,x_t)$ regresses
# on $\varepsilon$ (DSM weighted by $\sigma_t^2$), and $\nabla\log p_t\approx-\hat\varepsilon_\theta/\sigma_t$.
# Time is restricted to $t\le1-\delta$, $\delta=10^{-2}$, where $\sigma_t\ge0.045$ and the
# score stays bounded (the samples carry that much extra blur, small next to the moons'
# own noise of 0.1). The training loop is the one of 07 (cosine learning rate, EMA).

# %%
beta_min, beta_max, delta = 0.1, 20.0, 1e-2
vp = fm.VPPath(beta_min, beta_max)


def beta(t):  # beta of the diffusion, in course time: beta(s = 1 - t)
    return beta_min + (beta_max - beta_min) * (1 - t)


# 07's VP path is the VP SDE's conditional law: alpha_t = exp(-int_0^{1-t} beta / 2)
tq = torch.tensor([0.1, 0.5, 0.9], dtype=F64)
integral = beta_min * (1 - tq) + 0.5 * (beta_max - beta_min) * (1 - tq) ** 2
assert torch.allclose(vp.alpha(tq), torch.exp(-0.5 * integral))
# and its ODE d alpha/dt = beta alpha / 2 is the mean of the forward SDE run backwards
assert torch.allclose(vp.d_alpha(tq), 0.5 * beta(tq) * vp.alpha(tq))

moons = cu.data.get("two_moons")
g_eval = gen(1234)
held = moons.sample(2000, generator=g_eval)
floor = metrics.energy_distance_floor(moons.sample(4000, generator=g_eval), 1000, 2000)
z_eval = torch.randn(1000, 2, generator=gen(99))  # 1000 samples per evaluation keep this fast
print(f"ED floor for 1000 samples vs 2000 held-out points: {floor:.3e}")


def train_model(loss_fn, steps=800, batch=256, seed=0, n_freq=4):
    # 07's recipe: MLP, AdamW, cosine learning rate, EMA of the weights
    torch.manual_seed(seed)
    g = gen(seed)
    model = fm.VelocityMLP(2, hidden=128, n_hidden=3, n_freq=n_freq)
    ema = copy.deepcopy(model).requires_grad_(False)
    opt = torch.optim.AdamW(model.parameters(), lr=3e-3)
    sched = torch.optim.lr_scheduler.CosineAnnealingLR(opt, T_max=steps)
    losses = []
    for step in range(steps):
        loss = loss_fn(model, moons.sample(batch, generator=g), g)
        opt.zero_grad()
        loss.backward()
        opt.step()
        sched.step()
        with torch.no_grad():
            decay = min(0.999, (1 + step) / (10 + step))
            for pe, pm in zip(ema.parameters(), model.parameters(), strict=True):
                pe.lerp_(pm, 1 - decay)
        losses.append(float(loss.detach()))
    return ema, losses


def eps_loss(model, x1, g):  # DSM on all noise levels, noise parametrisation
    tb = (1 - delta) * torch.rand(x1.shape[0], generator=g)
    eps = torch.randn(x1.shape, generator=g)
    xt = vp.alpha(tb)[:, None] * x1 + vp.sigma(tb)[:, None] * eps
    return ((model(tb, xt) - eps) ** 2).sum(1).mean()


# %% tags=["nbval-ignore-output"]
eps_model, eps_losses = train_model(eps_loss)
print(f"noise-prediction model: final loss (mean of last 50) {np.mean(eps_losses[-50:]):.3f}")
assert np.mean(eps_losses[-50:]) < 1.0


def score_vp(t, xq):
    t = torch.as_tensor(t, dtype=xq.dtype)
    return -eps_model(t, xq) / vp.sigma(t)


class ReverseVP(torch.nn.Module):
    """The reverse-time VP SDE in course time: noise at t = 0 to data at t = 1 - delta."""

    noise_type, sde_type = "diagonal", "ito"

    def f(self, t, y):
        return 0.5 * beta(t) * (y + 2 * score_vp(t, y))

    def g(self, t, y):
        return torch.sqrt(beta(t)) * torch.ones_like(y)


def pf_vp(t, xq):  # probability-flow ODE of the same model
    return 0.5 * beta(t) * (xq + score_vp(t, xq))


def sample_reverse_sde(n_steps, z=z_eval, seed=0):
    with torch.no_grad():
        return cu.sde.sdeint(ReverseVP(), z, [0.0, 1 - delta], dt=(1 - delta) / n_steps,
                             generator=gen(seed))[-1]


def sample_pf_ode(n_steps, method="rk4", z=z_eval):
    return fm.sample(pf_vp, z, method=method, steps=n_steps, t1=1 - delta)


def ed_ratio(xs):
    return metrics.energy_distance(xs, held) / floor


x_sde, x_ode = sample_reverse_sde(300), sample_pf_ode(25)
r_sde, r_ode = ed_ratio(x_sde), ed_ratio(x_ode)
print(f"ED / floor: reverse SDE (EM, 300 steps) {r_sde:.2f}; probability-flow ODE (RK4, NFE 100) {r_ode:.2f}")
assert r_sde < 6 and r_ode < 6
fig, axes = plt.subplots(1, 3, figsize=(13, 4))
cu.plotting.scatter(held, ax=axes[0], title="held-out two moons")
cu.plotting.scatter(x_sde, ax=axes[1], title="reverse SDE (Euler-Maruyama, 300 steps)")
cu.plotting.scatter(x_ode, ax=axes[2], title="probability-flow ODE (RK4, 25 steps)")
plt.tight_layout()
plt.show()

# %% [markdown] slideshow={"slide_type": "subslide"}
# ### Exact likelihood of the diffusion model
#
# The probability-flow ODE is a CNF: 06's instantaneous change of variables gives its exact
# log-density, integrating $\frac{d}{dt}\log p=-\nabla\!\cdot v$ backwards from the data.
# `fm.log_prob` does it for a field on $[0,1]$, so we rescale time to cover $[0,1-\delta]$.
# First a check where the answer is known: the exact VP marginal field of a 3-point data
# set (07's `MarginalField`, whose $\log p_t$ is a closed-form Gaussian mixture). Then the
# trained model's negative log-likelihood on held-out moons (the density at $t=1-\delta$,
# i.e. the data blurred by $\sigma_{1-\delta}\approx0.045$).

# %%
def rescaled(field):
    return lambda t, xq: (1 - delta) * field((1 - delta) * t, xq)


pts3 = torch.tensor([[1.0, 0.5], [-1.0, 0.0], [0.0, -1.2]], dtype=F64)
exact_field = fm.MarginalField(vp, pts3)
xq = pts3[[0, 1]] + 0.05 * torch.randn(2, 2, generator=gen(15), dtype=F64)
lp_cnf = fm.log_prob(rescaled(exact_field), xq, rtol=1e-9, atol=1e-9)
# the CNF's base is N(0, I); the true p_0 is the mixture with alpha_0 = 0.0066. Carry the
# points back to t = 0 and swap the base: log p_1 = log p_0(x(0)) - int div v
z_back = fm.sample(rescaled(exact_field), xq, method="dopri5", rtol=1e-9, atol=1e-9, t0=1.0, t1=0.0)
base_fix = exact_field.log_prob(0.0, z_back) + 0.5 * (z_back**2).sum(1) + math.log(2 * math.pi)
lp_true = exact_field.log_prob(1 - delta, xq)
print("log p via the CNF:", ", ".join(f"{v:.4f}" for v in lp_cnf.tolist()),
      "| with the exact base:", ", ".join(f"{v:.5f}" for v in (lp_cnf + base_fix).tolist()),
      "| closed form:", ", ".join(f"{v:.5f}" for v in lp_true.tolist()))
assert torch.allclose(lp_cnf + base_fix, lp_true, atol=1e-5)

# %% tags=["nbval-ignore-output"]
x_nll = held[:200]
nll_vp = -float(fm.log_prob(rescaled(pf_vp), x_nll, method="rk4", step_size=1 / 50).mean())
print(f"diffusion model (probability-flow ODE): held-out NLL {nll_vp:.3f} nats on 200 points")
assert nll_vp < 3.0

# %% [markdown] slideshow={"slide_type": "slide"}
# ## 7. The bridge to 07: velocity and score are affine in each other
#
# For a Gaussian path $x_t=\alpha_tx_1+\sigma_tx_0$ (07 §3) the marginal velocity and the
# marginal score are both posterior averages given $x_t=x$:
# $u_t(x)=\frac{\dot\sigma_t}{\sigma_t}(x-\alpha_tm)+\dot\alpha_tm$ and
# $\nabla\log p_t(x)=-\frac{x-\alpha_tm}{\sigma_t^2}$, with $m=\mathbb E[x_1\mid x_t=x]$.
# Eliminating $m$:
#
# $$\boxed{u_t(x)=\frac{\dot\alpha_t}{\alpha_t}\,x+\Big(\frac{\dot\alpha_t}{\alpha_t}\sigma_t^2-\sigma_t\dot\sigma_t\Big)\nabla\log p_t(x)},
# \qquad \nabla\log p_t(x)=\frac{u_t(x)-\frac{\dot\alpha_t}{\alpha_t}x}{\frac{\dot\alpha_t}{\alpha_t}\sigma_t^2-\sigma_t\dot\sigma_t}.$$
#
# For the VP path ($\alpha^2+\sigma^2=1$, $\dot\alpha=\frac12\beta\alpha$) the coefficients are
# $\frac12\beta$ and $\frac12\beta$: the probability-flow ODE of §6. For the OT path
# ($\alpha=t,\sigma=1-t$): $u=\frac{x+(1-t)s}{t}$, i.e. $s=\frac{tu-x}{1-t}$. SymPy derives
# the formula, and 07's closed-form `MarginalField` checks it: its velocity against the
# autograd score of its own $\log p_t$.

# %%
al, sg, dal, dsg, xx, mm = sp.symbols("alpha sigma alpha_dot sigma_dot x m", real=True)
u_expr = dsg / sg * (xx - al * mm) + dal * mm
score_expr = -(xx - al * mm) / sg**2
m_of_score = sp.solve(sp.Eq(sp.Symbol("s"), score_expr), mm)[0]
u_of_score = sp.expand(u_expr.subs(mm, m_of_score))
claimed = dal / al * xx + (dal / al * sg**2 - sg * dsg) * sp.Symbol("s")
assert sp.simplify(u_of_score - claimed) == 0
print("u =", sp.collect(u_of_score, [xx, sp.Symbol("s")]))

data5 = moons.sample(5, generator=gen(16)).to(F64)
xq = torch.randn(6, 2, generator=gen(17), dtype=F64)
for path in (fm.OTPath(0.0), vp):
    field = fm.MarginalField(path, data5)
    worst = 0.0
    for tv in (0.2, 0.5, 0.9):
        tc = torch.tensor(tv, dtype=F64)
        xg = xq.clone().requires_grad_(True)
        score = torch.autograd.grad(field.log_prob(tv, xg).sum(), xg)[0]
        a, s, da, ds = path.alpha(tc), path.sigma(tc), path.d_alpha(tc), path.d_sigma(tc)
        u_from_score = da / a * xq + (da / a * s**2 - s * ds) * score
        worst = max(worst, float((u_from_score - field(tv, xq)).abs().max()))
    print(f"{path.name} path: max |u from the score - marginal field| = {worst:.1e}")
    assert worst < 1e-10

# %% [markdown] slideshow={"slide_type": "subslide"}
# ### One trained model, two samplers
#
# So a flow-matching model *is* a score model. Train 07's OT-path model
# ($v_\theta(t,x_t)\approx x_1-x_0$), read off $s_\theta=\frac{tv_\theta-x}{1-t}$, and choose
# $\varepsilon_t^2=2c(1-t)$, which makes the extra drift $\frac{\varepsilon^2}{2}s_\theta=c\,(tv_\theta-x)$
# regular at both ends. Every $c\ge0$ gives an SDE with the marginals of the model:
#
# $$dx=\big[v_\theta+c\,(tv_\theta-x)\big]\,dt+\sqrt{2c(1-t)}\,dW_t,$$
#
# $c=0$ being the ODE of 07.

# %%
def cfm_loss(model, x1, g):  # 07's OT path with sigma_min = 0
    x0 = torch.randn(x1.shape, generator=g)
    tb = torch.rand(x1.shape[0], generator=g)
    xt = (1 - tb[:, None]) * x0 + tb[:, None] * x1
    return ((model(tb, xt) - (x1 - x0)) ** 2).sum(1).mean()


class FMasSDE(torch.nn.Module):
    noise_type, sde_type = "diagonal", "ito"

    def __init__(self, model, c):
        super().__init__()
        self.model, self.c = model, c

    def f(self, t, y):
        v = self.model(t, y)
        return v + self.c * (t * v - y)

    def g(self, t, y):
        return torch.sqrt(2 * self.c * (1 - t)) * torch.ones_like(y)


def sample_fm_sde(model, c, n_steps, z=z_eval, seed=0):
    with torch.no_grad():
        return cu.sde.sdeint(FMasSDE(model, c), z, [0.0, 1.0], dt=1 / n_steps,
                             generator=gen(seed))[-1]


# %% tags=["nbval-ignore-output"]
fm_model, fm_losses = train_model(cfm_loss, n_freq=0)
for c in (0.0, 1.0, 3.0):
    r = ed_ratio(sample_fm_sde(fm_model, c, 100))
    print(f"flow-matching model as an SDE, c = {c:.0f}, 100 EM steps: ED / floor {r:.2f}")
    assert r < 6
nll_fm = -float(fm.log_prob(fm_model, x_nll, method="rk4", step_size=1 / 50).mean())
print(f"held-out NLL on the same 200 points: flow matching {nll_fm:.3f}, diffusion {nll_vp:.3f} nats")
assert nll_fm < 3.0

# %% [markdown] slideshow={"slide_type": "subslide"}
# ### Stochastic interpolants
#
# Albergo, Boffi & Vanden-Eijnden (2023) put both methods in one family. With $x_0\sim\rho_0$,
# $x_1\sim\rho_1$ and an independent $z\sim\mathcal N(0,I)$,
#
# $$x_t=\alpha_tx_0+\beta_tx_1+\gamma_tz,\qquad \alpha_0=\beta_1=1,\ \alpha_1=\beta_0=0,\ \gamma_0=\gamma_1=0,$$
#
# (here $\alpha_t$ multiplies the *noise* end, as in their paper: 07's $\sigma_t$ is this
# $\alpha_t$ and 07's $\alpha_t$ is this $\beta_t$). Its velocity
# $b_t(x)=\mathbb E[\dot\alpha_tx_0+\dot\beta_tx_1+\dot\gamma_tz\mid x_t=x]$ transports
# $\rho_0$ to $\rho_1$ (continuity equation), and with the score $\nabla\log\rho_t=-\mathbb
# E[z\mid x_t]/\gamma_t$ every SDE $dx=[b_t+\epsilon_t\nabla\log\rho_t]dt+\sqrt{2\epsilon_t}\,dW$
# has the same marginals (§4). Members:
#
# | method | $\alpha_t$ (noise end) | $\beta_t$ (data end) | $\gamma_t$ |
# | --- | --- | --- | --- |
# | flow matching, OT path (07) | $1-t$ | $t$ | $0$ |
# | VP diffusion (§6) | $\sqrt{1-a(1-t)^2}$ | $a(1-t)$ | $0$ |
# | a stochastic interpolant between two data sets | $1-t$ | $t$ | $\sqrt{2t(1-t)}$ |
#
# Flow matching is $\gamma=0$. With a **Gaussian** $\rho_0$, $\gamma$ adds nothing new:
# $\alpha_tx_0+\gamma_tz$ is Gaussian with standard deviation $\sqrt{\alpha_t^2+\gamma_t^2}$,
# so the interpolant has the marginals of the Gaussian path with $\sigma_t=\sqrt{\alpha_t^2+\gamma_t^2}$,
# and its velocity is that path's field: $\mathbb E[\dot\alpha x_0+\dot\gamma z\mid\alpha x_0+\gamma z]
# =\frac{\alpha\dot\alpha+\gamma\dot\gamma}{\sigma}\,\mathbb E[\varepsilon\mid\cdot]=\dot\sigma\,\mathbb E[\varepsilon\mid\cdot]$
# (SymPy below). The latent $z$ matters when $\rho_0$ is not Gaussian (data to data).

# %%
tt_ = sp.symbols("t", positive=True)
A, G = 1 - tt_, sp.sqrt(2 * tt_ * (1 - tt_))
sig_eff = sp.sqrt(A**2 + G**2)
assert sp.simplify((A * sp.diff(A, tt_) + G * sp.diff(G, tt_)) / sig_eff - sp.diff(sig_eff, tt_)) == 0
print("effective sigma_t of the gamma = sqrt(2t(1-t)) interpolant:", sp.simplify(sig_eff))

# %% [markdown] slideshow={"slide_type": "slide"}
# ## 8. Sample quality against NFE
#
# The same held-out moons, 1000 samples from the same $z$, ED as a multiple of the floor.
# Reverse SDE: EM steps (NFE = steps). Probability-flow ODE and the flow-matching model:
# Euler (NFE = steps) and RK4 (NFE = 4 × steps). The flow-matching model as an SDE ($c=1$):
# EM. Training budgets are equal (800 steps each). `benchmarks/sde.py` runs a finer grid
# with 2000 samples.

# %% tags=["nbval-ignore-output"]
nfe_grid = (8, 32, 128)
table = {
    "reverse SDE (EM)": lambda k: sample_reverse_sde(k),
    "PF-ODE (Euler)": lambda k: sample_pf_ode(k, "euler"),
    "PF-ODE (RK4)": lambda k: sample_pf_ode(k // 4, "rk4"),
    "FM ODE (Euler)": lambda k: fm.sample(fm_model, z_eval, method="euler", steps=k),
    "FM ODE (RK4)": lambda k: fm.sample(fm_model, z_eval, method="rk4", steps=k // 4),
    "FM as SDE c=1 (EM)": lambda k: sample_fm_sde(fm_model, 1.0, k),
}
results = {name: [ed_ratio(fn(k)) for k in nfe_grid] for name, fn in table.items()}
print(f"{'sampler':22s}" + "".join(f"{'NFE ' + str(k):>9s}" for k in nfe_grid))
for name, vals in results.items():
    print(f"{name:22s}" + "".join(f"{v:9.2f}" for v in vals))
fig, ax = plt.subplots(figsize=(7, 4.5))
for name, vals in results.items():
    ax.loglog(nfe_grid, vals, "o-", label=name)
ax.axhline(1.0, color="k", ls=":", label="floor")
ax.set(title="Sample quality against NFE (two moons)", xlabel="NFE", ylabel="ED / floor")
ax.legend(fontsize=8)
plt.show()
assert min(results["PF-ODE (RK4)"]) < 5 and min(results["FM ODE (RK4)"]) < 5
assert results["reverse SDE (EM)"][0] > results["reverse SDE (EM)"][-1]
assert results["FM ODE (RK4)"][-1] < results["PF-ODE (RK4)"][-1]  # (i)
assert results["FM ODE (RK4)"][0] < results["FM as SDE c=1 (EM)"][0]  # (ii)

# %% [markdown] slideshow={"slide_type": "subslide"}
# **Reading the table.** (One seed, small models, 1000 samples: differences below about
# 20 % are noise; `benchmarks/sde.py` repeats the comparison with 2000 samples.) Three
# things hold up. (i) At equal training budget the flow-matching model reaches a lower
# plateau than the noise-prediction diffusion model: the diffusion model's score
# $-\hat\varepsilon/\sigma_t$ amplifies its errors near the data, where $\sigma_t$ is
# small, while the flow-matching target is bounded. That is a statement about these
# parametrisations and budgets, not about SDEs versus ODEs. (ii) For one trained model the
# ODE reaches its plateau with fewer evaluations than an SDE sampler: Euler–Maruyama has
# weak order 1 and its injected noise must be averaged out by many small steps; the
# flow-matching ODE is nearly straight (07 §8) and RK4 with two steps is already at its
# plateau, while the curved VP probability-flow ODE needs more. (iii) Adding noise to an
# accurate model ($c>0$) did not improve it here at these NFE; the claim, common in the
# diffusion literature, that stochastic sampling corrects accumulated errors concerns
# imperfect scores at high NFE and is not tested by this small experiment.
#
# ## Summary
#
# * A Brownian increment over $h$ has standard deviation $\sqrt h$; any other power of $h$
#   freezes or explodes the limit. Increments over non-overlapping intervals are independent
#   and paths are continuous.
# * Euler–Maruyama: strong order 1/2, weak order 1 (measured 0.5 and 1.0); Milstein adds
#   $\frac12\sigma\sigma'(\Delta W^2-h)$ and reaches strong order 1. With state-dependent
#   noise the EM step's remainder is $O(h)$, not $O(h^{3/2})$.
# * Fokker–Planck: $\partial_tp=-\nabla\!\cdot(\mu p)+\frac12\sum\partial_i\partial_j(D_{ij}p)$,
#   $D=\sigma\sigma^\top$; verified symbolically and against particles.
# * The probability-flow ODE $\dot x=\mu-\frac{\sigma^2}{2}\nabla\log p_t$ has the SDE's
#   marginals; it is a continuity equation, so 06's exact likelihood applies.
# * DSM = ESM + constant; Langevin sampling needs annealing to mix between modes.
# * For Gaussian paths $u=\frac{\dot\alpha}{\alpha}x+(\frac{\dot\alpha}{\alpha}\sigma^2-\sigma\dot\sigma)\nabla\log p$:
#   flow matching and diffusion learn the same object; stochastic interpolants contain both.
#
# ## Check yourself
#
# 1. Simulate $X_{t+h}=X_t+h^{0.6}z$. What happens to $\operatorname{Var}X_1$ as $h\to0$, and why?
# 2. Why is the weak error of EM on GBM's mean exactly $e^{a}-(1+ah)^{1/h}$?
# 3. Where in the Fokker–Planck derivation is the independence of $\Delta W$ from $X_t$ used?
# 4. Write the probability-flow ODE of $dX=-X\,dt+\sqrt2\,dW$ started from $\mathcal N(0,1)$. What are its trajectories?
# 5. For the VE path ($\alpha_t=1$, $\sigma_t$ decreasing) what is $u$ in terms of the score?
# 6. Why does plain Langevin dynamics give the wrong mode weights in §5, even with the exact score?
#
# ## References
#
# * M: C. Miyamoto, *Machine Learning for Physicists: Recitation Notes* (2026), §12 (SDE
#   review), §13–14 (headings only; filled here).
# * K: P. Khungurn, *Flow Matching for Generative Modeling* (2024), §3.1 (diffusion paths as
#   conditional vector fields).
# * P. Kloeden, E. Platen, *Numerical Solution of Stochastic Differential Equations* (1992).
# * B. Øksendal, *Stochastic Differential Equations* (6th ed., 2003).
# * B. Anderson, Reverse-time diffusion equation models, *Stoch. Proc. Appl.* 12 (1982).
# * P. Vincent, A connection between score matching and denoising autoencoders, *Neural Comp.* (2011).
# * Y. Song, S. Ermon, Generative modeling by estimating gradients of the data distribution, NeurIPS 2019.
# * Y. Song et al., Score-based generative modeling through SDEs, ICLR 2021.
# * Y. Lipman et al., Flow matching for generative modeling, ICLR 2023.
# * M. Albergo, N. Boffi, E. Vanden-Eijnden, Stochastic interpolants: a unifying framework for flows and diffusions (2023).
# * P. Kidger et al., torchsde (the reference solver `cu.sde` is tested against).
