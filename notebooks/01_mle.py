# %% [markdown] slideshow={"slide_type": "slide"}
# # 01 · Maximum likelihood
#
# Every generative model in this course — normalizing flows, continuous flows, and the
# likelihood we compute for flow-matching models — is judged by one number: the
# **log-likelihood** of data. This notebook builds that idea from the ground up on models
# small enough to solve by hand, so that each formula can be checked exactly.
#
# **Learning objectives.** After this notebook you can
#
# 1. write the likelihood and log-likelihood of i.i.d. data and explain why we maximise the
#    logarithm (and which transformations leave the maximiser unchanged);
# 2. derive the Gaussian MLE $\hat\mu,\hat\sigma^2$ with SymPy, find it numerically with
#    autograd, and quantify the bias of $\hat\sigma^2$;
# 3. derive the squared-error and cross-entropy losses as negative log-likelihoods;
# 4. solve the linear-Gaussian model: generalised least squares, when it exists, and the
#    minimum-norm solution when it does not;
# 5. read ridge regression as a MAP estimate and compute the full Bayesian posterior and
#    predictive distribution of a linear model;
# 6. state the asymptotic theory of the MLE correctly (consistency, asymptotic normality
#    with the inverse Fisher information, Cramér–Rao) and check it by simulation;
# 7. see maximum likelihood as minimising $\mathrm{KL}(p_{\text{data}}\,\|\,p_\theta)$ and
#    compute KL, total variation and Wasserstein distances, and Pinsker's inequality.
#
# **Prerequisites.** Calculus (gradients, Hessians), linear algebra (rank, inverse,
# SVD), basic probability (densities, expectation, variance, the Gaussian), and
# `00_start_here` (course notation; we use $N$ data points, natural logarithms, nats).
#
# **Estimated time.** 90 minutes to work through; running all cells takes under 30 s.
#
# **Sources.** R §1, M §1.2.3–1.2.4, §3, §4, §10.1 (full titles in the references).
# **Pitfall** boxes state a tempting wrong claim, show the cell that exposes it and cite
# where it appears; the notes' misprints are listed in [`docs/ERRATA.md`](../docs/ERRATA.md).
#
# **Route.** Sections 1–6 and 9 are core; 7, 8 and 10 are marked *(optional)*: the rest
# of the course uses only their conclusions (restated in the summary).

# %%
import numpy as np
import torch
import matplotlib.pyplot as plt
import course_utils as cu

device = cu.setup(seed=0)

# %%
import scipy.integrate
import scipy.optimize
import scipy.stats
import sympy as sp

rng = np.random.default_rng(0)  # one generator for the whole notebook: reproducible draws


def below(err, tol=1e-10):
    # Round-off errors (1e-15, say) differ between CPUs, so we print and assert a bound.
    assert err < tol, f"error {err:.2e} is not below {tol:.0e}"
    return f"< {tol:.0e}"


# %% [markdown] slideshow={"slide_type": "slide"}
# ## 1. Likelihood and log-likelihood
#
# A **parametric model** is a family of densities $p(x;\theta)$. Given data
# $x_1,\dots,x_N$ drawn i.i.d. from some $p(x;\theta_0)$, the **likelihood** is the
# probability density of the observed data, read as a function of $\theta$:
#
# $$L(\theta)=\prod_{i=1}^N p(x_i;\theta),\qquad
# \ell(\theta)=\log L(\theta)=\sum_{i=1}^N\log p(x_i;\theta),\qquad
# \hat\theta_{\text{MLE}}=\arg\max_\theta \ell(\theta).$$
#
# We work with $\ell$ for two reasons. Numerically, a product of many densities under- or
# overflows; a sum of logs does not. Mathematically, $\log$ is strictly increasing, so
# $\arg\max_\theta L=\arg\max_\theta \ell$; the same holds for **any strictly increasing**
# map $g$: $\arg\max_\theta g(\ell(\theta))=\arg\max_\theta\ell(\theta)$.
#
# Our running example is the Gaussian $p(x;\mu,\sigma)=\frac{1}{\sqrt{2\pi}\sigma}
# \exp\!\big(-\frac{(x-\mu)^2}{2\sigma^2}\big)$, for which
#
# $$\ell(\mu,\sigma)=-N\log\sigma-\frac{N}{2}\log(2\pi)-\frac{1}{2\sigma^2}\sum_i (x_i-\mu)^2 .$$

# %%
def log_lik(mu, sigma, x):
    # ℓ(μ, σ) of i.i.d. N(μ, σ²) data x (shape (N,)); broadcasts over mu and sigma
    mu, sigma = np.asarray(mu)[..., None], np.asarray(sigma)[..., None]
    return np.sum(-np.log(sigma) - 0.5 * np.log(2 * np.pi) - (x - mu) ** 2 / (2 * sigma**2), axis=-1)


mu_true, sigma_true = 1.5, 0.8
x = rng.normal(mu_true, sigma_true, size=20)

# the formula agrees with scipy's log-density
ref = scipy.stats.norm(1.2, 0.7).logpdf(x).sum()
print(f"ℓ(1.2, 0.7) = {log_lik(1.2, 0.7, x):.6f}   scipy: {ref:.6f}")

# why logs: the product of 2000 densities underflows to 0 in float64, the sum of logs is fine
big = rng.normal(mu_true, sigma_true, size=2000)
dens = np.exp(-((big - mu_true) ** 2) / (2 * sigma_true**2)) / np.sqrt(2 * np.pi * sigma_true**2)
print(f"product of 2000 densities = {np.prod(dens)}   sum of their logs = {np.log(dens).sum():.2f}")

# %% [markdown] slideshow={"slide_type": "subslide"}
# **Argmax invariance, numerically.** On a grid of $\mu$ (with $\sigma$ fixed) we maximise
# $L$, $\ell$ and three strictly increasing functions of $\ell$. Since $\ell<0$ here,
# $\ell^3$ and $-1/\ell$ are increasing in $\ell$; $\ell^2$ is *decreasing* for $\ell<0$ and
# must move the maximiser.

# %%
mus = np.linspace(0.0, 3.0, 3001)
ell = log_lik(mus, sigma_true, x)
transforms = {
    "L = exp(ℓ)": np.exp(ell),
    "ℓ": ell,
    "3ℓ + 7": 3 * ell + 7,
    "ℓ³": ell**3,
    "-1/ℓ": -1 / ell,
    "ℓ² (not increasing)": ell**2,
}
for name, values in transforms.items():
    print(f"{name:20s} argmax over μ = {mus[np.argmax(values)]:.3f}")
print(f"{'sample mean':20s}               {x.mean():.3f}")
argmaxes = [mus[np.argmax(v)] for v in transforms.values()]
assert len(set(argmaxes[:5])) == 1 and argmaxes[5] != argmaxes[0]

# %% [markdown] slideshow={"slide_type": "subslide"}
# The likelihood surface over both parameters has a single peak. The figure shows the
# contours of $\ell(\mu,\sigma)$ for our 20 points, the maximiser (computed in section 2)
# and the true parameters, which differ from it because 20 points carry sampling noise.

# %%
mu_grid = np.linspace(0.8, 2.2, 201)
sigma_grid = np.linspace(0.4, 1.4, 201)
M, S = np.meshgrid(mu_grid, sigma_grid)
ell_grid = log_lik(M, S, x)
mu_hat, sigma_hat = x.mean(), x.std()  # the MLE (np.std divides by N: see section 2)

fig, axes = plt.subplots(1, 2, figsize=(11, 4))
levels = np.sort(ell_grid.max() - np.array([20, 10, 5, 3, 2, 1, 0.5, 0.1]))
cs = axes[0].contour(M, S, ell_grid, levels=levels, cmap="viridis")
axes[0].clabel(cs, fmt="%.0f", fontsize=7)
axes[0].plot(mu_hat, sigma_hat, "r*", ms=12, label="MLE $(\\hat\\mu,\\hat\\sigma)$")
axes[0].plot(mu_true, sigma_true, "kx", ms=9, label="true $(\\mu_0,\\sigma_0)$")
axes[0].set(xlabel="μ", ylabel="σ", title="log-likelihood ℓ(μ, σ), N = 20 (nats)")
axes[0].legend()
axes[1].plot(mus, ell - ell.max(), label="ℓ(μ) − max ℓ")
axes[1].plot(mus, np.exp(ell - ell.max()), label="L(μ) / max L")
axes[1].axvline(x.mean(), color="r", ls="--", lw=1, label="sample mean")
axes[1].set(xlabel="μ", ylabel="relative value", title="profile at σ = σ₀: same argmax",
            ylim=(-3, 1.1))
axes[1].legend()
plt.tight_layout()
plt.show()

# %% [markdown] slideshow={"slide_type": "slide"}
# ## 2. The Gaussian MLE: SymPy, then autograd
#
# Setting the **score** (the gradient of $\ell$) to zero gives the candidates for the
# maximum. With $s=\sigma^2$:
#
# $$\frac{\partial\ell}{\partial\mu}=\frac1s\sum_i(x_i-\mu)=0,\qquad
# \frac{\partial\ell}{\partial s}=-\frac{N}{2s}+\frac{1}{2s^2}\sum_i(x_i-\mu)^2=0
# \;\Longrightarrow\;
# \hat\mu=\frac1N\sum_i x_i,\quad \hat\sigma^2=\frac1N\sum_i(x_i-\hat\mu)^2 .$$
#
# SymPy solves these equations first for four explicit data points, then for general $N$
# using the sufficient statistics $S_1=\sum_i x_i$, $S_2=\sum_i x_i^2$ (because
# $\sum_i(x_i-\mu)^2=S_2-2\mu S_1+N\mu^2$), and checks that the Hessian is negative
# definite there, so the stationary point is a maximum.

# %%
mu_s = sp.Symbol("mu", real=True)
s = sp.Symbol("s", positive=True)  # s = σ²
xs = sp.symbols("x1:5", real=True)  # four data points
ell4 = sum(-sp.log(2 * sp.pi * s) / 2 - (xi - mu_s) ** 2 / (2 * s) for xi in xs)
(sol4,) = sp.solve([sp.diff(ell4, mu_s), sp.diff(ell4, s)], [mu_s, s], dict=True)
xbar = sum(xs) / 4
print("N = 4:   mu_hat =", sol4[mu_s])
print("         s_hat - (1/N) Σ (x_i - x̄)² =", sp.simplify(sol4[s] - sum((xi - xbar) ** 2 for xi in xs) / 4))

N_s, S1, S2 = sp.symbols("N S_1 S_2", positive=True)
ellN = -N_s / 2 * sp.log(2 * sp.pi * s) - (S2 - 2 * mu_s * S1 + N_s * mu_s**2) / (2 * s)
(solN,) = sp.solve([sp.diff(ellN, mu_s), sp.diff(ellN, s)], [mu_s, s], dict=True)
print("any N:   mu_hat =", solN[mu_s], "   s_hat =", sp.factor(solN[s]), " = S_2/N - (S_1/N)^2")
H = sp.simplify(sp.hessian(ellN, (mu_s, s)).subs(solN))
print("Hessian at the solution:", H)
# N S_2 - S_1^2 = N Σ (x_i - x̄)^2 > 0 for non-constant data, so both diagonal entries are < 0

# %% [markdown] slideshow={"slide_type": "subslide"}
# R parametrises by $\sigma$ instead of $\sigma^2$ and finds $\hat\sigma=\sqrt{\hat\sigma^2}$.
# This is the **invariance of the MLE under reparametrisation**: if $\eta=g(\theta)$ with
# $g$ a bijection, then $\hat\eta=g(\hat\theta)$, because the likelihood takes the same set
# of values. (Unbiasedness, by contrast, is *not* invariant: see section 3.)

# %%
sigma_s = sp.Symbol("sigma", positive=True)
ell_sigma = ellN.subs(s, sigma_s**2)
(sol_sigma,) = sp.solve([sp.diff(ell_sigma, mu_s), sp.diff(ell_sigma, sigma_s)], [mu_s, sigma_s], dict=True)
print("sigma_hat =", sol_sigma[sigma_s])
print("sigma_hat**2 - s_hat =", sp.simplify(sol_sigma[sigma_s] ** 2 - solN[s]))

# %% [markdown] slideshow={"slide_type": "subslide"}
# **Numerical maximisation with autograd.** For models without a closed form we maximise
# $\ell$ numerically. We optimise $(\mu,\log\sigma)$ so that $\sigma>0$ needs no
# constraint, let torch compute the gradient, and use L-BFGS, a quasi-Newton method that
# converges in a few dozen steps on smooth low-dimensional problems. Everything is in
# float64 so that we can compare with the closed form to ~10 digits.

# %%
x_t = torch.tensor(rng.normal(mu_true, sigma_true, size=500))  # float64
mu_p = torch.zeros((), dtype=torch.float64, requires_grad=True)
log_sigma_p = torch.zeros((), dtype=torch.float64, requires_grad=True)


def neg_log_lik():
    sigma = log_sigma_p.exp()
    return -(-torch.log(sigma) - 0.5 * np.log(2 * np.pi) - (x_t - mu_p) ** 2 / (2 * sigma**2)).sum()


opt = torch.optim.LBFGS([mu_p, log_sigma_p], max_iter=100, line_search_fn="strong_wolfe",
                        tolerance_grad=1e-12, tolerance_change=1e-15)


def closure():
    opt.zero_grad()
    loss = neg_log_lik()
    loss.backward()
    return loss


opt.step(closure)
mu_closed = x_t.mean().item()
var_closed = ((x_t - x_t.mean()) ** 2).mean().item()
print(f"autograd + L-BFGS: mu = {mu_p.item():.8f}  sigma² = {log_sigma_p.exp().item() ** 2:.8f}")
print(f"closed form:       mu = {mu_closed:.8f}  sigma² = {var_closed:.8f}")
assert abs(mu_p.item() - mu_closed) < 1e-8 and abs(log_sigma_p.exp().item() ** 2 - var_closed) < 1e-8

# the course helper does the same (and is what later notebooks call)
mu2 = torch.zeros((), dtype=torch.float64, requires_grad=True)
lv2 = torch.zeros((), dtype=torch.float64, requires_grad=True)
cu.mle.fit_mle(lambda: -cu.mle.gaussian_log_likelihood(x_t, mu2, lv2.exp()), [mu2, lv2])
print(f"cu.mle.fit_mle:    mu = {mu2.item():.8f}  sigma² = {lv2.exp().item():.8f}")

# %% [markdown] slideshow={"slide_type": "slide"}
# ## 3. The MLE of the variance is biased
#
# $\hat\sigma^2$ uses $\hat\mu$, which is fitted to the same data and is therefore closer
# to the points than the true $\mu_0$. On average it falls short:
#
# $$\mathbb E\big[\hat\sigma^2\big]=\frac{N-1}{N}\,\sigma_0^2,\qquad
# \mathbb E\Big[\tfrac{1}{N-1}\textstyle\sum_i(x_i-\hat\mu)^2\Big]=\sigma_0^2 .$$
#
# (Proof sketch: $\sum_i(x_i-\hat\mu)^2=\sum_i(x_i-\mu_0)^2-N(\hat\mu-\mu_0)^2$ and
# $\mathbb E(\hat\mu-\mu_0)^2=\sigma_0^2/N$.) The bias $-\sigma_0^2/N$ vanishes as
# $N\to\infty$, so the MLE is *asymptotically* unbiased. We check this with 20 000 simulated
# data sets per $N$; the printed uncertainty is the Monte Carlo standard error.

# %%
sigma2_0, reps = 4.0, 20_000
Ns = [2, 3, 5, 10, 20, 50, 100]
rows = []
print("  N   E[σ̂²] sim ± se     (N-1)/N σ²   E[s²] sim (unbiased)")
for N in Ns:
    data = rng.normal(0.0, np.sqrt(sigma2_0), size=(reps, N))
    v_mle, v_unb = data.var(axis=1, ddof=0), data.var(axis=1, ddof=1)
    m, se = v_mle.mean(), v_mle.std() / np.sqrt(reps)
    theory = (N - 1) / N * sigma2_0
    assert abs(m - theory) < 4 * se and abs(v_unb.mean() - sigma2_0) < 4 * se * N / (N - 1)
    rows.append((N, m, se, v_unb.mean()))
    print(f"{N:3d}   {m:.3f} ± {se:.3f}      {theory:.3f}        {v_unb.mean():.3f}")

# %%
rows_a = np.array(rows)
Nc = np.linspace(2, 100, 400)
fig, ax = plt.subplots(figsize=(7, 3.8))
ax.errorbar(rows_a[:, 0], rows_a[:, 1] / sigma2_0, yerr=2 * rows_a[:, 2] / sigma2_0, fmt="o",
            label="simulated E[σ̂²]/σ² (MLE, 1/N) ± 2 se")
ax.plot(Nc, (Nc - 1) / Nc, "k-", lw=1, label="theory (N−1)/N")
ax.plot(rows_a[:, 0], rows_a[:, 3] / sigma2_0, "s", mfc="none", label="simulated E[s²]/σ² (1/(N−1))")
ax.axhline(1.0, color="gray", ls=":")
ax.set(xscale="log", xlabel="sample size N", ylabel="mean estimate / true σ²",
       title="bias of the variance MLE vs N (20 000 data sets per N)")
ax.legend()
plt.show()

# %% [markdown] slideshow={"slide_type": "slide"}
# ## 4. Loss functions are negative log-likelihoods
#
# **Gaussian noise gives squared error.** If $y_i=f_\theta(x_i)+\varepsilon_i$ with
# $\varepsilon_i\sim\mathcal N(0,\sigma^2)$ i.i.d. and $\sigma$ known, then
#
# $$\ell(\theta)=-\frac{1}{2\sigma^2}\sum_i\big(y_i-f_\theta(x_i)\big)^2-\frac N2\log(2\pi\sigma^2),$$
#
# so maximising $\ell$ is *minimising* the sum of squared errors (SSE). The two differ by a
# negative factor and a constant: they are **not proportional**, but they have the same
# optimiser. Below: a line $f_\theta(x)=\theta_0+\theta_1x$, the log-likelihood from
# `torch.distributions`, and the identity $\ell+\mathrm{SSE}/(2\sigma^2)=\text{const}$.

# %%
n_pts, noise_sd = 30, 0.5
xr = rng.uniform(-2, 2, n_pts)
yr = 1.0 - 0.7 * xr + noise_sd * rng.normal(size=n_pts)
Xr = np.column_stack([np.ones(n_pts), xr])


def ell_line(theta):
    mean = torch.as_tensor(Xr @ theta)
    return torch.distributions.Normal(mean, noise_sd).log_prob(torch.as_tensor(yr)).sum().item()


def sse(theta):
    return float(np.sum((yr - Xr @ theta) ** 2))


print("   theta         ℓ(θ)        SSE(θ)    ℓ + SSE/(2σ²)    ℓ / SSE")
thetas_4 = [np.array([1.0, -0.7]), np.array([0.0, 0.0]), np.array([2.0, 1.0])]
for theta in thetas_4:
    print(f"{str(theta):14s} {ell_line(theta):9.3f} {sse(theta):10.3f} {ell_line(theta) + sse(theta) / (2 * noise_sd**2):12.4f}"
          f" {ell_line(theta) / sse(theta):10.4f}")
print(f"constant -N/2 log(2πσ²) = {-n_pts / 2 * np.log(2 * np.pi * noise_sd**2):.4f}")
offsets = [ell_line(t) + sse(t) / (2 * noise_sd**2) for t in thetas_4]  # ℓ = -SSE/(2σ²) + const
ratios = [ell_line(t) / sse(t) for t in thetas_4]  # constant iff ℓ ∝ SSE
assert np.ptp(offsets) < 1e-9, "ℓ + SSE/(2σ²) must not depend on θ"
assert np.ptp(ratios) > 0.1, "ℓ / SSE would be constant if ℓ were proportional to the SSE"

# %% [markdown] slideshow={"slide_type": "subslide"}
# > **Pitfall.** <a id="ell-vs-sse"></a> *Common mistake:* "with Gaussian noise the log-likelihood is proportional to
# > the sum of squared errors, $\ell(\theta)\propto\sum_i(y_i-f_\theta(x_i))^2$, so maximum
# > likelihood maximises (or, with the sign fixed by hand, minimises) the SSE." Both halves
# > are off. The log-likelihood is a **decreasing affine** function of the SSE,
# > $\ell(\theta)=-\frac{1}{2\sigma^2}\mathrm{SSE}(\theta)-\frac N2\log(2\pi\sigma^2)$: not
# > proportional (the constant depends on $\sigma$, which matters as soon as $\sigma$ is
# > fitted too), and with a **minus** sign, so the MLE *minimises* the SSE.
# > *Check:* in the table the last column $\ell/\mathrm{SSE}$ changes with $\theta$ (the
# > cell asserts it, and the assertion would fail if $\ell\propto\mathrm{SSE}$), the column
# > before it is the same for every $\theta$, and $\ell$ is largest where the SSE is
# > smallest. Read with the plus sign, "maximise $\sum_i(y_i-\hat y_i)^2$" has no solution:
# > the next cell shows it grows without bound. *(M eqs. (1.41), (3.8); the dropped minus
# > sign is also listed in [ERRATA](../docs/ERRATA.md).)*

# %%
theta_ls = np.linalg.lstsq(Xr, yr, rcond=None)[0]
print(f"argmax ℓ = argmin SSE = {np.round(theta_ls, 4)},   ℓ = {ell_line(theta_ls):.3f}")
sse_far = [sse(scale * theta_ls + np.array([0, 5])) for scale in (1, 10, 100)]
for scale, value in zip((1, 10, 100), sse_far, strict=True):
    print(f"SSE at {scale:3d}·θ_LS + (0, 5): {value:12.1f}  (the objective 'maximise the SSE' keeps growing)")
assert sse_far[0] < sse_far[1] < sse_far[2] and sse(theta_ls) < min(sse(t) for t in thetas_4)

# %% [markdown] slideshow={"slide_type": "subslide"}
# **Bernoulli labels give binary cross-entropy** (M §3.2 is empty; here is its content).
# For $y_i\in\{0,1\}$ with $P(y_i=1)=\pi_i$, $p(y_i)=\pi_i^{y_i}(1-\pi_i)^{1-y_i}$, so
#
# $$-\frac1N\ell=-\frac1N\sum_i\big[y_i\log\pi_i+(1-y_i)\log(1-\pi_i)\big]
# =\text{binary cross-entropy}.$$
#
# With a constant $\pi$ the MLE is the fraction of ones, $\hat\pi=\bar y$ (set the
# derivative $\sum_i y_i/\pi-\sum_i(1-y_i)/(1-\pi)$ to zero). In logistic regression
# $\pi_i=\operatorname{sigmoid}(z_i)$ with a logit $z_i=w^\top x_i+b$;
# `binary_cross_entropy_with_logits` is exactly this NLL, computed stably.
#
# **Categorical labels give cross-entropy.** For $y_i\in\{1,\dots,K\}$ with probabilities
# $\pi_{i}=\operatorname{softmax}(z_i)$, $p(y_i)=\prod_k\pi_{ik}^{[y_i=k]}$ and
#
# $$-\frac1N\ell=-\frac1N\sum_i\log\pi_{i,y_i}
# =-\frac1N\sum_i\sum_k [y_i=k]\log\pi_{ik},$$
#
# the cross-entropy between the one-hot labels and the predicted probabilities. With
# shared logits, the MLE of the class probabilities is the vector of class frequencies.

# %%
import torch.nn.functional as F

# Bernoulli: hand-written NLL vs torch's BCE, and the MLE = fraction of ones
y_b = torch.tensor((rng.random(200) < 0.3).astype(float))
z_b = torch.tensor(rng.normal(size=200))  # some logits
pi_b = torch.sigmoid(z_b)
nll_hand = -(y_b * torch.log(pi_b) + (1 - y_b) * torch.log(1 - pi_b)).mean()
print(f"Bernoulli NLL by hand {nll_hand.item():.10f}   BCE-with-logits {F.binary_cross_entropy_with_logits(z_b, y_b).item():.10f}")
pis = np.linspace(0.01, 0.99, 9801)
nll_pi = [-(y_b.numpy() * np.log(p) + (1 - y_b.numpy()) * np.log(1 - p)).mean() for p in pis]
print(f"argmin over constant π = {pis[np.argmin(nll_pi)]:.4f}   fraction of ones = {y_b.mean().item():.4f}")

# categorical: hand-written NLL vs torch's cross_entropy, and the MLE = class frequencies
K = 4
y_c = torch.tensor(rng.choice(K, size=300, p=[0.1, 0.2, 0.3, 0.4]))
z_c = torch.tensor(rng.normal(size=(300, K)))
nll_c = -torch.log_softmax(z_c, dim=1)[torch.arange(300), y_c].mean()
print(f"categorical NLL by hand {nll_c.item():.10f}   F.cross_entropy {F.cross_entropy(z_c, y_c).item():.10f}")
logits = torch.zeros(K, dtype=torch.float64, requires_grad=True)
cu.mle.fit_mle(lambda: F.cross_entropy(logits.expand(300, K), y_c), [logits])
freq = torch.bincount(y_c, minlength=K) / 300
print("softmax(fitted logits):", np.round(torch.softmax(logits, 0).detach().numpy(), 4),
      "  class frequencies:", np.round(freq.numpy(), 4))

# %% [markdown] slideshow={"slide_type": "slide"}
# ## 5. The linear-Gaussian model: least squares, and when it breaks
#
# Data $y\in\mathbb R^N$, a design matrix $X\in\mathbb R^{N\times p}$ (rows $x_i^\top$),
# parameters $\beta\in\mathbb R^p$ and $y=X\beta+\varepsilon$ with
# $\varepsilon\sim\mathcal N(0,\Sigma)$, $\Sigma$ known and positive definite (M §1.2.4,
# §4.1; with $\Sigma=\operatorname{diag}(\sigma_i^2)$ the observations are independent but
# *not* identically distributed). Then
#
# $$\ell(\beta)=-\tfrac12(y-X\beta)^\top\Sigma^{-1}(y-X\beta)+\text{const},\qquad
# \nabla_\beta\ell=X^\top\Sigma^{-1}(y-X\beta),$$
#
# and the score equations are the **normal equations** $X^\top\Sigma^{-1}X\,\beta=X^\top\Sigma^{-1}y$.
# If $X^\top\Sigma^{-1}X$ is invertible there is a unique maximiser, the **generalised
# least squares** (GLS, Aitken) estimator
#
# $$\hat\beta=(X^\top\Sigma^{-1}X)^{-1}X^\top\Sigma^{-1}y .$$
#
# Three independent checks: autograd gives the same score; the score vanishes at
# $\hat\beta$; and "whitening" (divide row $i$ by $\sigma_i$, then ordinary least squares
# with `np.linalg.lstsq`) gives the same $\hat\beta$.

# %%
n, p = 40, 3
X = np.column_stack([np.ones(n), rng.uniform(-2, 2, n), rng.uniform(-2, 2, n)])
beta_0 = np.array([0.5, -1.0, 2.0])
sd = rng.uniform(0.2, 1.5, n)  # heteroscedastic noise: Σ = diag(sd²)
y = X @ beta_0 + sd * rng.normal(size=n)
Sigma_inv = np.diag(1 / sd**2)

beta_gls = np.linalg.solve(X.T @ Sigma_inv @ X, X.T @ Sigma_inv @ y)
beta_white = np.linalg.lstsq(X / sd[:, None], y / sd, rcond=None)[0]


def ell_lin(beta):  # torch, differentiable
    r = torch.as_tensor(y) - torch.as_tensor(X) @ beta
    return -0.5 * r @ torch.as_tensor(Sigma_inv) @ r


b_rand = torch.tensor(rng.normal(size=p), requires_grad=True)
ell_lin(b_rand).backward()
score_formula = X.T @ Sigma_inv @ (y - X @ b_rand.detach().numpy())
b_hat = torch.tensor(beta_gls, requires_grad=True)
ell_lin(b_hat).backward()
print("GLS estimate     ", np.round(beta_gls, 4), "  (true", beta_0, ")")
print(f"|GLS - whitened lstsq|_max      {below(np.abs(beta_gls - beta_white).max())}")
print(f"|autograd score - formula|_max  {below(np.abs(b_rand.grad.numpy() - score_formula).max())}")
print(f"|score at GLS|_max              {below(np.abs(b_hat.grad.numpy()).max())}")

# %% [markdown] slideshow={"slide_type": "subslide"}
# **When does $\hat\beta$ exist?** $X^\top\Sigma^{-1}X$ is $p\times p$ with rank equal to
# $\operatorname{rank}X\le\min(N,p)$. It is invertible exactly when $X$ has full column
# rank $p$, which **requires $N\ge p$** (at least as many observations as parameters) and
# no exactly collinear columns.

# %%
print(" N   p   rank(X^T Σ^-1 X)   invertible?")
for n_small in (2, 3, 5, 40):
    Xs, Si = X[:n_small], Sigma_inv[:n_small, :n_small]
    r = np.linalg.matrix_rank(Xs.T @ Si @ Xs)
    print(f"{n_small:2d}   {p}        {r}               {r == p}")
    assert (r == p) == (n_small >= p)  # here the columns are in general position

# %% [markdown] slideshow={"slide_type": "subslide"}
# With $N=2<p=3$ the matrix has rank 2 and is singular; from $N=p=3$ on it is invertible.
# (M eq. (1.43) prints the condition the wrong way round, "$n<p$": see
# [ERRATA](../docs/ERRATA.md).)

# %% [markdown] slideshow={"slide_type": "subslide"}
# **More parameters than data ($p>N$): the minimum-norm solution.** If $X$ has full *row*
# rank $N<p$, the system $X\beta=y$ has infinitely many solutions, an affine subspace of
# dimension $p-N$. Every one of them has zero residual and therefore attains the largest
# possible likelihood, **whatever $\Sigma$ is**. A canonical choice is the one with the
# smallest Euclidean norm,
#
# $$\beta^{+}=X^\top(XX^\top)^{-1}y=X^{+}y,$$
#
# where $X^{+}$ is the Moore–Penrose pseudo-inverse (computed from the SVD, it also covers
# rank-deficient $X$ of any shape). It is orthogonal to the null space of $X$, which is
# why it has the smallest norm. It is also the limit of ridge regression
# (section 6) as the penalty $\lambda\to0$, for any $\Sigma$. (Notebook 04 computes
# $X^+$ from the SVD and times the ways of solving least squares.)

# %%
n_w, p_w = 5, 12
Xw = rng.normal(size=(n_w, p_w))
yw = rng.normal(size=n_w)
beta_mn = Xw.T @ np.linalg.solve(Xw @ Xw.T, yw)
print(f"|X^T(XX^T)^-1 y - pinv(X) y|_max {below(np.abs(beta_mn - np.linalg.pinv(Xw) @ yw).max())}")
print(f"|... - lstsq (min-norm)|_max     {below(np.abs(beta_mn - np.linalg.lstsq(Xw, yw, rcond=None)[0]).max())}")
print(f"residual |X β+ - y|              {below(np.linalg.norm(Xw @ beta_mn - yw))}")

# another maximiser: add a null-space direction (rows N.. of V^T from the SVD)
null_basis = np.linalg.svd(Xw)[2][n_w:]  # (p - N, p), orthonormal, X @ v = 0
beta_other = beta_mn + 2.0 * null_basis[0] - 1.0 * null_basis[3]
Sw_inv = np.diag(rng.uniform(0.5, 2.0, n_w))  # some noise covariance: irrelevant here
for name, bb in [("β+ (min norm)", beta_mn), ("β+ + null vector", beta_other)]:
    r = yw - Xw @ bb
    print(f"{name:18s} residual {below(np.linalg.norm(r))}   |ℓ - max ℓ| {below(0.5 * r @ Sw_inv @ r)}   |β| = {np.linalg.norm(bb):.4f}")

# ridge limit, with a non-identity Σ: (X^T Σ^-1 X + λ I)^-1 X^T Σ^-1 y -> β+
for lam in (1e-1, 1e-2, 1e-4, 1e-6):
    b_lam = np.linalg.solve(Xw.T @ Sw_inv @ Xw + lam * np.eye(p_w), Xw.T @ Sw_inv @ yw)
    print(f"λ = {lam:.0e}: |β_ridge - β+|_max = {np.abs(b_lam - beta_mn).max():.1e}")
assert np.abs(b_lam - beta_mn).max() < 1e-4

# %% [markdown] slideshow={"slide_type": "subslide"}
# > **Pitfall.** <a id="min-norm-sigma"></a> *Common mistake:* "for $p>N$, weight the minimum-norm solution by the noise
# > covariance, as GLS does for $N>p$: $\hat\beta=\Sigma^{-1}X^\top(X\Sigma^{-1}X^\top)^{-1}y$."
# > This does not even type-check: $\Sigma^{-1}$ is $N\times N$ and $X^\top$ is $p\times N$,
# > so $\Sigma^{-1}X^\top$ is undefined unless $N=p$. And the idea behind it is wrong too:
# > when $p>N$ every interpolating $\beta$ has zero residual, so **the noise covariance plays
# > no role**; the minimum-norm maximiser is $X^\top(XX^\top)^{-1}y=X^+y$ for every
# > $\Sigma$. The formula has the shape of the *minimum $\Omega$-norm* interpolant
# > $\Omega^{-1}X^\top(X\Omega^{-1}X^\top)^{-1}y$, which minimises $\beta^\top\Omega\beta$ over
# > the interpolants for a $p\times p$ positive definite $\Omega$ (a prior precision on
# > $\beta$, not the noise covariance). *Check (next cell):* the product raises a shape
# > error; the minimum-norm GLS solution $(\Sigma^{-1/2}X)^+\Sigma^{-1/2}y$ equals $\beta^+$
# > for two different $\Sigma$ (it would differ if $\Sigma$ mattered); and the
# > $\Omega$-formula agrees with a direct minimisation over the null space.
# > *(M eq. (1.44).)*

# %%
try:
    np.diag(np.ones(n_w)) @ Xw.T  # Σ^-1 (N×N) times X^T (p×N), as in the tempting formula
    raise AssertionError("Σ^-1 X^T should not be defined for p != N")
except ValueError:
    print(f"Σ^-1 X^T is undefined: shapes {(n_w, n_w)} and {Xw.T.shape} do not chain")

for name, Sw in [("Σ = I", np.eye(n_w)), ("Σ = diag(random)", np.linalg.inv(Sw_inv))]:
    W_half = np.diag(np.diag(Sw) ** -0.5)  # Σ^{-1/2} (diagonal here)
    beta_gls_mn = np.linalg.pinv(W_half @ Xw) @ (W_half @ yw)  # minimum-norm GLS solution
    print(f"{name:17s}: |min-norm GLS - β+|_max {below(np.abs(beta_gls_mn - beta_mn).max())}")

Omega = np.diag(rng.uniform(0.5, 3.0, p_w))  # a p×p weight on β
Oi = np.linalg.inv(Omega)
beta_omega = Oi @ Xw.T @ np.linalg.solve(Xw @ Oi @ Xw.T, yw)
# independent check: minimise (β+ + B c)^T Ω (β+ + B c) over c, a least-squares problem in c
B = null_basis.T
c = np.linalg.solve(B.T @ Omega @ B, -B.T @ Omega @ beta_mn)
print(f"interpolates: |X β_Ω - y| {below(np.linalg.norm(Xw @ beta_omega - yw))};"
      f"  |β_Ω - argmin over null space|_max {below(np.abs(beta_omega - (beta_mn + B @ c)).max())}")

# %% [markdown] slideshow={"slide_type": "subslide"}
# The passage from the $N\times N$ form $X^\top(XX^\top)^{-1}$ to the $p\times p$ forms of
# GLS and ridge is the Woodbury identity, derived and checked (with the sign that is easy
# to get wrong) in notebook 04, [§6 Sherman–Morrison and Woodbury](04_svd.ipynb#woodbury-sign).

# %% [markdown] slideshow={"slide_type": "subslide"}
# **Rank-deficient tall designs.** $N\ge p$ is necessary but not sufficient: a duplicated
# (or collinear) column makes $X^\top X$ singular even with many data points. The
# maximisers again form an affine set, and `pinv` picks the one with the smallest norm,
# splitting the weight equally between the two identical columns.

# %%
Xd = np.column_stack([np.ones(n), X[:, 1], X[:, 1]])  # third column duplicates the second
yd = 0.5 + 1.0 * X[:, 1] + 0.3 * rng.normal(size=n)
print(f"N = {n}, p = 3, rank(X^T X) = {np.linalg.matrix_rank(Xd.T @ Xd)}")
beta_pinv = np.linalg.pinv(Xd) @ yd
shifted = beta_pinv + np.array([0.0, 0.4, -0.4])  # same fitted values
print("pinv solution   ", np.round(beta_pinv, 4), f" |β| = {np.linalg.norm(beta_pinv):.4f}")
print("another solution", np.round(shifted, 4), f" |β| = {np.linalg.norm(shifted):.4f}",
      f"  same fit: {np.allclose(Xd @ shifted, Xd @ beta_pinv)}")


# %% [markdown] slideshow={"slide_type": "slide"}
# ## 6. MAP with a Gaussian prior is ridge regression
#
# Bayes' rule turns a prior $p(\beta)$ and the likelihood into the posterior
# $p(\beta\mid y)\propto p(y\mid\beta)\,p(\beta)$. Its maximiser is the **MAP** estimate.
# With noise $\mathcal N(0,\sigma^2 I)$ and prior $\beta\sim\mathcal N(0,\tau^2 I)$:
#
# $$-\log p(\beta\mid y)=\frac{1}{2\sigma^2}\|y-X\beta\|^2+\frac{1}{2\tau^2}\|\beta\|^2+\text{const}
# \;\Longrightarrow\;
# \hat\beta_{\text{MAP}}=(X^\top X+\lambda I)^{-1}X^\top y,\quad \lambda=\frac{\sigma^2}{\tau^2}.$$
#
# A strong prior (small $\tau$) means a large penalty. The matrix $X^\top X+\lambda I$ is
# invertible for every $\lambda>0$, even when $p>N$. We use a polynomial model with
# features $\phi(x)=(1,x,\dots,x^7)$ fitted to $N=10$ noisy points of $\sin(3x)$ and check
# the closed form against (a) L-BFGS on the negative log-posterior and (b) ordinary least
# squares on the augmented system $\begin{pmatrix}X\\ \sqrt\lambda I\end{pmatrix}\beta
# \approx\begin{pmatrix}y\\0\end{pmatrix}$, whose SSE is exactly the ridge objective.

# %%
def features(x, degree=7):
    return np.vander(np.asarray(x), degree + 1, increasing=True)  # (N, degree+1)


def f_true(x):
    return np.sin(3 * x)


noise_var, prior_var = 0.1**2, 1.0
x_tr = np.sort(rng.uniform(-1, 1, 10))
y_tr = f_true(x_tr) + np.sqrt(noise_var) * rng.normal(size=10)
Phi = features(x_tr)
lam = noise_var / prior_var
beta_map = np.linalg.solve(Phi.T @ Phi + lam * np.eye(Phi.shape[1]), Phi.T @ y_tr)

beta_t = torch.zeros(Phi.shape[1], dtype=torch.float64, requires_grad=True)
Phi_t, y_t = torch.tensor(Phi), torch.tensor(y_tr)
cu.mle.fit_mle(lambda: ((y_t - Phi_t @ beta_t) ** 2).sum() / (2 * noise_var)
               + (beta_t**2).sum() / (2 * prior_var), [beta_t], max_iter=500)
aug = np.linalg.lstsq(np.vstack([Phi, np.sqrt(lam) * np.eye(Phi.shape[1])]),
                      np.concatenate([y_tr, np.zeros(Phi.shape[1])]), rcond=None)[0]
print("β_MAP (closed form):", np.round(beta_map, 3))
print(f"|closed form - L-BFGS|_max {below(np.abs(beta_map - beta_t.detach().numpy()).max(), 1e-5)}"
      "  (the polynomial features are ill-conditioned, so L-BFGS stops earlier)")
print(f"|closed form - augmented lstsq|_max {below(np.abs(beta_map - aug).max())}")
beta_ml = np.linalg.lstsq(Phi, y_tr, rcond=None)[0]
print(f"|β_MLE| = {np.linalg.norm(beta_ml):.2f}  vs  |β_MAP| = {np.linalg.norm(beta_map):.2f}  (the prior shrinks)")


# %% [markdown] slideshow={"slide_type": "subslide"}
# The log-posterior is *minus* half the ridge loss, up to a constant, so the MAP estimate
# **minimises** $\frac{1}{\sigma^2}\|y-X\beta\|^2+\frac{1}{\tau^2}\|\beta\|^2$. Writing it with a
# plus sign and "maximising" is the mistake of [the Pitfall in section 4](#ell-vs-sse), with a
# penalty added: the objective then has no maximiser. (M eq. (3.13) prints it so: see
# [ERRATA](../docs/ERRATA.md).)

# %% [markdown] slideshow={"slide_type": "slide"}
# ## 7. Bayesian linear regression: the whole posterior *(optional)*
#
# M §4.2 stops at Bayes' formula. Here is the rest. With prior $\beta\sim\mathcal N(m_0,S_0)$
# and likelihood $y\mid\beta\sim\mathcal N(X\beta,\sigma^2 I)$, the log-posterior is a
# quadratic in $\beta$, so the posterior is Gaussian; completing the square gives
#
# $$p(\beta\mid y)=\mathcal N(m_N,S_N),\qquad
# S_N=\Big(S_0^{-1}+\tfrac{1}{\sigma^2}X^\top X\Big)^{-1},\qquad
# m_N=S_N\Big(S_0^{-1}m_0+\tfrac{1}{\sigma^2}X^\top y\Big).$$
#
# For a new input $x_*$ the **posterior predictive** of $y_*=\phi(x_*)^\top\beta+\varepsilon_*$ is
#
# $$p(y_*\mid y)=\mathcal N\big(\phi(x_*)^\top m_N,\;\underbrace{\phi(x_*)^\top S_N\phi(x_*)}_{\text{parameter uncertainty}}+\underbrace{\sigma^2}_{\text{noise}}\big),$$
#
# and the evidence (marginal likelihood) is $p(y)=\mathcal N(y;\,Xm_0,\;\sigma^2I+XS_0X^\top)$.
# With $m_0=0$, $S_0=\tau^2I$ the posterior mean is the ridge/MAP estimate of section 6.
#
# Checks: (a) $m_N=\hat\beta_{\text{MAP}}$; (b) Bayes' rule pointwise:
# $\log p(\beta)+\log p(y\mid\beta)-\log\mathcal N(\beta;m_N,S_N)$ must be the same number for
# every $\beta$, namely $\log p(y)$; (c) calibration: when data are drawn from the prior
# and the model, the 95% predictive interval must contain the new $y_*$ 95% of the time.

# %%
def posterior(Phi, y, noise_var, prior_var):
    # Gaussian posterior N(m, S) of β under the prior N(0, prior_var I)
    S = np.linalg.inv(np.eye(Phi.shape[1]) / prior_var + Phi.T @ Phi / noise_var)
    m = S @ Phi.T @ y / noise_var
    return m, S


m_N, S_N = posterior(Phi, y_tr, noise_var, prior_var)
print(f"(a) |m_N - β_MAP|_max {below(np.abs(m_N - beta_map).max())}")

d = Phi.shape[1]
prior = scipy.stats.multivariate_normal(np.zeros(d), prior_var * np.eye(d))
post = scipy.stats.multivariate_normal(m_N, S_N)
evidence = scipy.stats.multivariate_normal(np.zeros(10), noise_var * np.eye(10) + prior_var * Phi @ Phi.T)
betas = rng.normal(size=(5, d))
log_lik_b = [scipy.stats.norm(Phi @ bb, np.sqrt(noise_var)).logpdf(y_tr).sum() for bb in betas]
consts = prior.logpdf(betas) + np.array(log_lik_b) - post.logpdf(betas)
print("(b) log p(β) + log p(y|β) - log N(β; m_N, S_N) at 5 random β:", np.round(consts, 6))
print(f"    log evidence log p(y) = {evidence.logpdf(y_tr):.6f}")
assert np.ptp(consts) < 1e-6 and abs(consts[0] - evidence.logpdf(y_tr)) < 1e-6

# %%
# (c) calibration: simulate 4000 worlds from the model itself (β from the prior, then data)
worlds, x_star = 4000, np.array([-0.9, 0.0, 0.5, 1.3])  # 1.3 lies outside the data range
phi_star = features(x_star)
beta_w = rng.normal(size=(worlds, d)) * np.sqrt(prior_var)
y_w = beta_w @ Phi.T + np.sqrt(noise_var) * rng.normal(size=(worlds, 10))
m_w = y_w @ (S_N @ Phi.T / noise_var).T  # posterior means, one per world (S_N depends on X only)
pred_sd = np.sqrt(np.einsum("kd,de,ke->k", phi_star, S_N, phi_star) + noise_var)
y_new = beta_w @ phi_star.T + np.sqrt(noise_var) * rng.normal(size=(worlds, 4))
covered = np.abs(y_new - m_w @ phi_star.T) <= 1.96 * pred_sd
for xs_, cov, sd_ in zip(x_star, covered.mean(axis=0), pred_sd, strict=True):
    print(f"x* = {xs_:4.1f}: predictive sd {sd_:7.3f}, 95% interval coverage {cov:.3f}")
assert np.all(np.abs(covered.mean(axis=0) - 0.95) < 0.02)

# %%
xg = np.linspace(-1.4, 1.4, 300)
fig, axes = plt.subplots(1, 2, figsize=(12, 4), sharey=True)
subset = np.random.default_rng(2).permutation(10)  # a random order of the 10 training points
for ax, n_obs in zip(axes, (4, 10), strict=True):
    idx = subset[:n_obs]
    m_, S_ = posterior(Phi[idx], y_tr[idx], noise_var, prior_var)
    Pg = features(xg)
    mean_g = Pg @ m_
    var_f = np.einsum("kd,de,ke->k", Pg, S_, Pg)
    ax.fill_between(xg, mean_g - 2 * np.sqrt(var_f + noise_var), mean_g + 2 * np.sqrt(var_f + noise_var),
                    color="C0", alpha=0.2, label="predictive ±2 sd (y*)")
    ax.fill_between(xg, mean_g - 2 * np.sqrt(var_f), mean_g + 2 * np.sqrt(var_f), color="C0", alpha=0.35,
                    label="parameter uncertainty ±2 sd (f)")
    draws = np.random.default_rng(1).multivariate_normal(m_, S_, size=3, method="cholesky")
    ax.plot(xg, Pg @ draws.T, color="C0", lw=0.7, alpha=0.8)
    ax.plot(xg, mean_g, "C0", lw=2, label="posterior mean")
    ax.plot(xg, f_true(xg), "k--", lw=1, label="true f = sin(3x)")
    ax.plot(x_tr[idx], y_tr[idx], "ko", label="data")
    ax.set(xlabel="x", ylim=(-3, 3), title=f"Bayesian polynomial regression (degree 7), N = {n_obs}")
axes[0].set_ylabel("y")
axes[1].legend(loc="lower right", fontsize=8)
plt.tight_layout()
plt.show()

# %% [markdown] slideshow={"slide_type": "subslide"}
# The band is narrow near the data and widens where there are none (the data cover
# $x\in[-1,1]$; the figure extends to $\pm1.4$). The inner band is the uncertainty about the
# function itself and shrinks as $N$ grows; the outer band adds the irreducible noise
# $\sigma^2$. Three thin lines are functions drawn from the posterior. (The prior variance
# $\tau^2$ and noise $\sigma^2$ were fixed; choosing them by maximising the evidence is
# "type-II maximum likelihood", beyond this notebook.)

# %% [markdown] slideshow={"slide_type": "slide"}
# ## 8. How good is the MLE? Fisher information, asymptotics, Cramér–Rao *(optional)*
#
# For one observation, the **score** is $s(\theta;x)=\partial_\theta\log p(x;\theta)$; it has
# mean zero under $p(\cdot;\theta)$, and its variance is the **Fisher information**
#
# $$I(\theta)=\mathbb E_\theta\big[s(\theta;X)^2\big]=-\mathbb E_\theta\big[\partial_\theta^2\log p(X;\theta)\big].$$
#
# $N$ i.i.d. observations carry information $N\,I(\theta)$. The classical results, under
# regularity conditions (identifiable model, true $\theta_0$ in the interior of the
# parameter set, smooth log-density, $0<I(\theta_0)<\infty$, support not depending on
# $\theta$):
#
# * **Consistency:** $\hat\theta_N\to\theta_0$ *in probability* as $N\to\infty$.
# * **Asymptotic normality:** $\sqrt N\,(\hat\theta_N-\theta_0)\xrightarrow{d}
#   \mathcal N\big(0,\,I(\theta_0)^{-1}\big)$, i.e. $\hat\theta_N\approx\mathcal N\big(\theta_0,
#   (N I(\theta_0))^{-1}\big)$ for large $N$ (matrix inverse for vector $\theta$).
# * **Cramér–Rao bound:** every **unbiased** estimator $T$ built from $N$ observations has
#   $\operatorname{Var}_\theta(T)\ge 1/(N I(\theta))$. The MLE attains it asymptotically
#   (**asymptotic efficiency**), not necessarily for finite $N$.
#
# Worked example: the exponential density $p(x;\lambda)=\lambda e^{-\lambda x}$, $x>0$.
# Then $\log p=\log\lambda-\lambda x$, $\hat\lambda=1/\bar x$, and SymPy computes $I(\lambda)$
# both ways:

# %%
lam_s, x_s = sp.symbols("lambda x", positive=True)
logp = sp.log(lam_s) - lam_s * x_s
density = sp.exp(logp)
score = sp.diff(logp, lam_s)
print("E[score]             =", sp.simplify(sp.integrate(score * density, (x_s, 0, sp.oo))))
print("E[score²]            =", sp.simplify(sp.integrate(score**2 * density, (x_s, 0, sp.oo))))
print("-E[∂² log p / ∂λ²]   =", sp.simplify(sp.integrate(-sp.diff(logp, lam_s, 2) * density, (x_s, 0, sp.oo))))
# MLE: solve the score equation for N observations with sum T
N_e, T = sp.symbols("N T", positive=True)
print("λ̂ =", sp.solve(sp.Eq(N_e / lam_s - T, 0), lam_s)[0], "= 1 / x̄")

# %% [markdown] slideshow={"slide_type": "subslide"}
# So $I(\lambda)=1/\lambda^2$ and the theory predicts $\hat\lambda\approx\mathcal
# N(\lambda_0,\lambda_0^2/N)$. We simulate 20 000 data sets for each $N$ and compare the mean,
# the scaled variance $N\operatorname{Var}(\hat\lambda)$ (target $1/I=\lambda_0^2=4$) and the
# probability of missing $\lambda_0$ by more than 0.2 (which must go to 0). For finite $N$,
# $\hat\lambda$ is biased: $\mathbb E\hat\lambda=\frac{N}{N-1}\lambda_0$, and
# $N\operatorname{Var}\hat\lambda=\frac{N^3\lambda_0^2}{(N-1)^2(N-2)}$ (because $N\bar x$ is
# Gamma-distributed); both converge to the asymptotic values.

# %%
lam0, reps_a = 2.0, 20_000
lam_hats = {}
print("   N   mean λ̂ (exact)      N·Var λ̂ (exact)    1/I    P(|λ̂-λ0| > 0.2)")
for N in (5, 20, 100, 500):
    xs_ = rng.exponential(1 / lam0, size=(reps_a, N))
    lh = 1 / xs_.mean(axis=1)
    lam_hats[N] = lh
    exact_mean, exact_nvar = N / (N - 1) * lam0, N**3 * lam0**2 / ((N - 1) ** 2 * (N - 2))
    print(f"{N:4d}   {lh.mean():.3f} ({exact_mean:.3f})     {N * lh.var():6.3f} ({exact_nvar:6.3f})     "
          f"{lam0**2:.0f}      {np.mean(np.abs(lh - lam0) > 0.2):.4f}")
    assert abs(lh.mean() - exact_mean) < 4 * lh.std() / np.sqrt(reps_a)
# the scaled variance approaches 1/I(λ0) = λ0² = 4, not I(λ0) = 1/λ0² = 0.25
assert abs(N * lh.var() - lam0**2) < 0.5 and abs(N * lh.var() - 1 / lam0**2) > 3

# %%
fig, axes = plt.subplots(1, 4, figsize=(15, 3.4), sharey=True)
zz = np.linspace(-4, 4, 300)
for ax, (N, lh) in zip(axes, lam_hats.items(), strict=True):
    z = np.sqrt(N) * (lh - lam0) / lam0  # √(N I(λ0)) (λ̂ - λ0)
    ax.hist(z, bins=np.linspace(-4, 6, 81), density=True, color="C0", alpha=0.6, label="simulated")
    ax.plot(zz, scipy.stats.norm.pdf(zz), "k", lw=1.5, label="N(0, 1)")
    ax.set(title=f"N = {N}", xlabel="√(N·I(λ₀)) (λ̂ − λ₀)", xlim=(-4, 6))
axes[0].set_ylabel("density")
axes[0].legend()
fig.suptitle("sampling distribution of the exponential-rate MLE vs the normal with Fisher variance", y=1.03)
plt.show()

# %% [markdown] slideshow={"slide_type": "subslide"}
# **Cramér–Rao needs unbiasedness.** For Gaussian data the Fisher information matrix of
# $(\mu,\sigma^2)$ per observation is $\operatorname{diag}\big(1/\sigma^2,\,1/(2\sigma^4)\big)$, so
# every unbiased estimator of $\sigma^2$ from $N$ points has $\operatorname{Var}\ge2\sigma^4/N$
# (the matrix is diagonal, so not knowing $\mu$ does not change the bound). The unbiased
# $s^2$ has variance $2\sigma^4/(N-1)$, above the bound, while the *biased* MLE
# $\hat\sigma^2$ has variance $2(N-1)\sigma^4/N^2$, **below** it — no contradiction, because
# the bound does not apply to biased estimators. (It even has the smaller mean squared
# error: a little bias can buy a lot of variance.)

# %%
N, sig2 = 10, 4.0
data = rng.normal(0.0, np.sqrt(sig2), size=(50_000, N))
v_mle, v_unb = data.var(axis=1), data.var(axis=1, ddof=1)
crb = 2 * sig2**2 / N
print(f"Cramér–Rao bound for unbiased estimators: {crb:.3f}")
print(f"Var(s², unbiased)  sim {v_unb.var():.3f}   theory {2 * sig2**2 / (N - 1):.3f}  (above the bound)")
print(f"Var(σ̂², MLE)       sim {v_mle.var():.3f}   theory {2 * (N - 1) * sig2**2 / N**2:.3f}  (below the bound: biased)")
print(f"MSE(s²) = {np.mean((v_unb - sig2) ** 2):.3f}   MSE(σ̂²) = {np.mean((v_mle - sig2) ** 2):.3f}")
assert v_mle.var() < crb < v_unb.var()

# %% [markdown] slideshow={"slide_type": "subslide"}
# > **Pitfall.** *Common mistake:* "the MLE is consistent, $\lim_N\hat\theta_N=\theta$;
# > normal, $\hat\theta_N\sim\mathcal N(0,I(\theta))$; and efficient,
# > $\operatorname{Var}(\hat\theta)\ge1/I(\theta)$." Each part needs a correction.
# > (1) Consistency is convergence **in probability** to the **true** $\theta_0$, under
# > regularity conditions. (2) The MLE is centred at $\theta_0$, not 0; its covariance is
# > the **inverse** Fisher information and shrinks with $N$:
# > $\sqrt N(\hat\theta_N-\theta_0)\to\mathcal N(0,I(\theta_0)^{-1})$. (3) The Cramér–Rao
# > inequality $\operatorname{Var}\ge1/(N I(\theta))$ holds for **unbiased** estimators only,
# > and "efficiency" means that the MLE *attains* it asymptotically.
# > *Check:* in the exponential simulation $N\operatorname{Var}(\hat\lambda)\to\lambda_0^2=4=1/I$
# > (the cell asserts that it is within 0.5 of 4 at $N=500$), whereas $\mathcal N(0,I)$ would
# > give variance $I=1/\lambda_0^2=0.25$ for every $N$; the Gaussian-variance cell asserts that
# > the biased $\hat\sigma^2$ has variance *below* the bound, which a bound valid for all
# > estimators would forbid. *(M §4.1.)*

# %% [markdown] slideshow={"slide_type": "slide"}
# ## 9. The bridge: maximum likelihood minimises $\mathrm{KL}(p_{\text{data}}\,\|\,p_\theta)$
#
# Write $\hat p$ for the empirical distribution of the data. The average log-likelihood is an
# expectation under $\hat p$, and
#
# $$\frac1N\ell(\theta)=\mathbb E_{\hat p}[\log p_\theta]
# =-\underbrace{\mathbb E_{\hat p}[-\log\hat p]}_{H(\hat p)\text{, no }\theta}
# -\mathrm{KL}(\hat p\,\|\,p_\theta),
# \qquad \mathrm{KL}(p\,\|\,q)=\mathbb E_p\Big[\log\frac{p}{q}\Big]\ge0 .$$
#
# So **maximising the likelihood = minimising the forward KL from the data to the model**
# (and, as $N\to\infty$, $\mathrm{KL}(p_{\text{data}}\|p_\theta)$), which needs only samples
# of the data and the model's log-density — exactly what a normalizing flow provides.
# (R says flows and VAEs both use this principle: flows maximise the exact log-likelihood,
# VAEs maximise a lower bound on it, the ELBO.)
# Check on discrete data: a loaded die with faces $0,\dots,5$, fitted by a
# $\mathrm{Binomial}(5,\theta)$ model, whose MLE is $\hat\theta=\bar x/5$.

# %%
faces = np.arange(6)
rolls = rng.choice(faces, size=400, p=[0.05, 0.1, 0.2, 0.3, 0.25, 0.1])
p_hat = np.bincount(rolls, minlength=6) / rolls.size
thetas = np.linspace(0.01, 0.99, 981)
model = scipy.stats.binom.pmf(faces[None, :], 5, thetas[:, None])  # (n_theta, 6)
avg_ll = np.log(model[:, rolls]).mean(axis=1)


def kl_discrete(p, q):  # KL(p‖q) = Σ_k p_k log(p_k / q_k) in nats; terms with p_k = 0 are 0
    m = p > 0
    return float(np.sum(p[m] * np.log(p[m] / q[m])))


kl = np.array([kl_discrete(p_hat, q) for q in model])
print(f"max |inline KL - cu.mle.kl_divergence| over the grid {below(max(abs(k - cu.mle.kl_divergence(p_hat, q)) for k, q in zip(kl, model, strict=True)))}")
H_hat = -np.sum(p_hat * np.log(p_hat))
print(f"max |ℓ/N + H(p̂) + KL(p̂‖p_θ)| over the grid {below(np.abs(avg_ll + H_hat + kl).max())}")
print(f"argmax ℓ = {thetas[np.argmax(avg_ll)]:.4f}   argmin KL = {thetas[np.argmin(kl)]:.4f}   x̄/5 = {rolls.mean() / 5:.4f}")

# %% [markdown] slideshow={"slide_type": "subslide"}
# **Forward vs reverse KL.** KL is not symmetric. Fitting a single Gaussian $q$ to a
# bimodal $p$ by the forward $\mathrm{KL}(p\|q)$ (maximum likelihood) matches the mean and
# variance of $p$ and covers both modes (set the gradient to zero: the solution is moment
# matching). The reverse $\mathrm{KL}(q\|p)$ of variational inference (M eq. (10.6)) punishes
# $q$ for putting mass where $p$ has none, and locks onto one mode. Both are computed by
# quadrature on a grid and minimised with `scipy.optimize.minimize`.

# %%
grid = np.linspace(-8, 8, 4001)
dx = grid[1] - grid[0]
p_mix = 0.5 * scipy.stats.norm.pdf(grid, -2, 0.6) + 0.5 * scipy.stats.norm.pdf(grid, 2, 0.6)


def kl_grid(a, b_):  # ∫ a log(a/b) dx by the trapezoid rule (a, b on the grid)
    return scipy.integrate.trapezoid(np.where(a > 0, a * (np.log(a + 1e-300) - np.log(b_ + 1e-300)), 0.0), dx=dx)


def q_pdf(params):
    return scipy.stats.norm.pdf(grid, params[0], np.exp(params[1]))


fwd = scipy.optimize.minimize(lambda t: kl_grid(p_mix, q_pdf(t)), x0=[0.5, 0.0], method="Nelder-Mead",
                              options={"xatol": 1e-8, "fatol": 1e-12})
rev = scipy.optimize.minimize(lambda t: kl_grid(q_pdf(t), p_mix), x0=[0.5, 0.0], method="Nelder-Mead",
                              options={"xatol": 1e-8, "fatol": 1e-12})
mix_mean, mix_var = 0.0, 0.6**2 + 2**2  # moments of the mixture
print(f"forward KL(p‖q): μ = {round(fwd.x[0], 3) + 0.0:.3f}, σ² = {np.exp(2 * fwd.x[1]):.3f}   (moments of p: {mix_mean:.3f}, {mix_var:.3f})")
print(f"reverse KL(q‖p): μ = {rev.x[0]:.3f}, σ² = {np.exp(2 * rev.x[1]):.3f}   (one mode: 2, 0.36)")

fig, ax = plt.subplots(figsize=(7, 3.5))
ax.plot(grid, p_mix, "k", lw=2, label="p (bimodal target)")
ax.plot(grid, q_pdf(fwd.x), "C0", label="argmin KL(p‖q): maximum likelihood")
ax.plot(grid, q_pdf(rev.x), "C3", label="argmin KL(q‖p): mode seeking")
ax.set(xlim=(-6, 6), xlabel="x", ylabel="density", title="Gaussian fits to a mixture: forward vs reverse KL")
ax.legend(fontsize=8)
plt.show()

# %% [markdown] slideshow={"slide_type": "slide"}
# ## 10. KL, total variation, Wasserstein and Pinsker's inequality *(optional)*
#
# Three ways to compare distributions $P,Q$ with densities $p,q$ (M §10.1):
#
# $$\mathrm{TV}(P,Q)=\tfrac12\int|p-q|\,dx\in[0,1],\qquad
# \mathrm{KL}(P\|Q)=\int p\log\frac pq\,dx\in[0,\infty],\qquad
# W_1(P,Q)=\inf_{\gamma\in\Gamma(P,Q)}\int|x-y|\,d\gamma(x,y),$$
#
# where $\Gamma(P,Q)$ is the set of couplings (joint distributions with marginals $P$ and
# $Q$); more generally $W_r=\big(\inf_\gamma\int\|x-y\|^r d\gamma\big)^{1/r}$. In one
# dimension $W_1=\int|F_P-F_Q|\,dx$, the area between the CDFs (`cu.mle.wasserstein1_1d`).
# **Pinsker's inequality** links the first two (KL in nats):
#
# $$\mathrm{TV}(P,Q)\le\sqrt{\tfrac12\,\mathrm{KL}(P\|Q)} .$$
#
# Worked example: $P=\mathcal N(0,1)$, $Q=\mathcal N(\mu,1)$, where everything is known in
# closed form: $\mathrm{KL}=\mu^2/2$, $\mathrm{TV}=2\Phi(|\mu|/2)-1$, $W_1=|\mu|$. We check each
# by quadrature ($W_1$ as the area between the CDFs) and also estimate $W_1$ from 5 000
# samples of each distribution. For two samples of the same size $n$ with equal weights the
# optimal coupling is monotone (pair the $k$-th smallest points), so
# $W_1=\frac1n\sum_k|x_{(k)}-y_{(k)}|$; the next cell writes that and the discrete TV in two
# lines each and checks them against `cu.mle.wasserstein1_1d` (which handles unequal sizes
# and weights through the CDFs) and `cu.mle.total_variation`, used afterwards.

# %%
def w1_equal_samples(a, b_):  # W1 of two equal-size, equal-weight samples: pair sorted points
    return float(np.mean(np.abs(np.sort(a) - np.sort(b_))))


def tv_discrete(p, q):  # TV = ½ Σ_k |p_k - q_k|
    return 0.5 * float(np.abs(p - q).sum())


a_s, b_s = rng.normal(size=300), rng.normal(1.0, 2.0, size=300)
print(f"|inline W1 - cu.mle.wasserstein1_1d| {below(abs(w1_equal_samples(a_s, b_s) - cu.mle.wasserstein1_1d(a_s, b_s)))}")
p4, q4 = rng.dirichlet(np.ones(4)), rng.dirichlet(np.ones(4))
print(f"|inline TV - cu.mle.total_variation| {below(abs(tv_discrete(p4, q4) - cu.mle.total_variation(p4, q4)))}")

# %%
from scipy.special import ndtr  # the standard normal CDF Φ


def phi(t, m=0.0):  # N(m, 1) density
    return np.exp(-0.5 * (t - m) ** 2) / np.sqrt(2 * np.pi)


print("  μ     KL: closed  quad     TV: closed  quad     W1: closed  quad   5000 samples   √(KL/2)")
z_p, z_q = rng.normal(size=5000), rng.normal(size=5000)
for mu_q in (0.1, 0.5, 1.0, 2.0, 4.0):
    lo, hi = -12, 12 + mu_q
    # log p - log q = ((t - μ)² - t²) / 2 for p = N(0, 1), q = N(μ, 1)
    kl_q = scipy.integrate.quad(lambda t, m: phi(t) * (0.5 * (t - m) ** 2 - 0.5 * t**2), lo, hi, args=(mu_q,))[0]
    tv_q = 0.5 * scipy.integrate.quad(lambda t, m: abs(phi(t) - phi(t, m)), lo, hi, args=(mu_q,), points=[mu_q / 2])[0]
    w1_q = scipy.integrate.quad(lambda t, m: abs(ndtr(t) - ndtr(t - m)), lo, hi, args=(mu_q,))[0]
    w1_s = cu.mle.wasserstein1_1d(z_p, z_q + mu_q)
    kl_c, tv_c = mu_q**2 / 2, 2 * ndtr(mu_q / 2) - 1
    print(f"{mu_q:4.1f}   {kl_c:9.4f} {kl_q:8.4f}   {tv_c:9.4f} {tv_q:8.4f}   {mu_q:9.4f} {w1_q:6.4f}   {w1_s:8.2f}"
          f"     {np.sqrt(kl_c / 2):7.4f}")
    assert abs(kl_q - kl_c) < 1e-8 and abs(tv_q - tv_c) < 1e-8 and abs(w1_q - mu_q) < 1e-8
    assert abs(w1_s - mu_q) < 0.1 and tv_c <= np.sqrt(kl_c / 2)

# %% [markdown] slideshow={"slide_type": "subslide"}
# **Is the constant in Pinsker's inequality right?** M states
# $\|p-q\|_{TV}\le\sqrt{\tfrac12\mathrm{KL}(p\|q)}$ with $\|p-q\|_{TV}=\tfrac12\int|p-q|$: that is
# **correct**, and the constant cannot be improved. The next cell (1) checks it on 20 000
# random pairs of distributions on 5 points, (2) shows that the ratio
# $\mathrm{TV}/\sqrt{\mathrm{KL}/2}$ tends to 1 for $\mathrm{Bernoulli}(\tfrac12+\varepsilon)$
# vs $\mathrm{Bernoulli}(\tfrac12)$, so no smaller constant works, and (3) shows what goes
# wrong when the conventions are mixed.

# %%
g = np.random.default_rng(5)
P5, Q5 = g.dirichlet(np.ones(5), size=20_000), g.dirichlet(np.ones(5), size=20_000)
tv5 = 0.5 * np.abs(P5 - Q5).sum(axis=1)
kl5 = np.sum(P5 * np.log(P5 / Q5), axis=1)
print(f"(1) max TV/√(KL/2) over 20 000 random pairs = {np.max(tv5 / np.sqrt(kl5 / 2)):.4f}  (≤ 1)")
for eps in (0.2, 0.05, 0.01):
    p_, q_ = np.array([0.5 + eps, 0.5 - eps]), np.array([0.5, 0.5])
    ratio = cu.mle.total_variation(p_, q_) / np.sqrt(cu.mle.kl_divergence(p_, q_) / 2)
    print(f"(2) ε = {eps:.2f}: TV/√(KL/2) = {ratio:.5f}")
l1 = 2 * tv5
print(f"(3) with the L1 norm ∫|p-q| (no 1/2) in place of TV, the same constant fails for "
      f"{np.mean(l1 > np.sqrt(kl5 / 2)):.1%} of the pairs; the L1 form is ∫|p-q| ≤ √(2 KL)."
      f"  Violations of √(2 KL): {np.sum(l1 > np.sqrt(2 * kl5))}")
assert np.all(tv5 <= np.sqrt(kl5 / 2)) and np.mean(l1 > np.sqrt(kl5 / 2)) > 0.5
assert np.all(l1 <= np.sqrt(2 * kl5) + 1e-12)


# %% [markdown] slideshow={"slide_type": "subslide"}
# > **Pitfall.** *Common mistake:* "Pinsker's inequality is $\int|p-q|\le\sqrt{\tfrac12\mathrm{KL}}$"
# > — taking the constant $\tfrac12$ from one source and the $L^1$ norm (no factor
# > $\tfrac12$) from another. The constant depends on two conventions that sources mix: TV
# > with or without the $\tfrac12$, and KL in nats or bits. The valid forms are
# > $\tfrac12\int|p-q|\le\sqrt{\mathrm{KL}_{\text{nats}}/2}$, equivalently
# > $\int|p-q|\le\sqrt{2\,\mathrm{KL}_{\text{nats}}}$, or with KL in bits
# > $\tfrac12\int|p-q|\le\sqrt{(\ln 2/2)\,\mathrm{KL}_{\text{bits}}}$.
# > *Check (cell above):* the mixed form fails for most of the 20 000 random pairs (line 3,
# > and the cell asserts it), while the two correct forms hold for all of them. M states
# > the first form, with TV defined with the $\tfrac12$, and is right. *(M §10.1.)*

# %% [markdown] slideshow={"slide_type": "subslide"}
# **Wasserstein is an infimum over couplings.** For distributions on finitely many points
# the optimisation over couplings $\gamma_{jk}\ge0$ with row sums $p$ and column sums $q$ is
# a linear program. We solve it with `scipy.optimize.linprog`, compare with the CDF formula,
# and also compute the *supremum* over couplings, to see why the definition needs the
# infimum (M eq. (10.5) prints $\sup$: see [ERRATA](../docs/ERRATA.md)).

# %%
def coupling_cost(a, b_, pts, sense=1):
    # min (sense=1) or max (sense=-1) of Σ γ_jk |x_j - x_k| over couplings γ of a and b_
    k = len(pts)
    cost = np.abs(pts[:, None] - pts[None, :]).ravel()
    A_eq = np.vstack([np.kron(np.eye(k), np.ones(k)), np.kron(np.ones(k), np.eye(k))])
    res = scipy.optimize.linprog(sense * cost, A_eq=A_eq, b_eq=np.concatenate([a, b_]), bounds=(0, None))
    return sense * res.fun


pts = np.array([0.0, 1.0, 2.0, 3.0])
pa, pb = np.array([0.4, 0.3, 0.2, 0.1]), np.array([0.1, 0.2, 0.3, 0.4])
print(f"W1 by linear program (inf) = {coupling_cost(pa, pb, pts):.4f}   CDF formula = {cu.mle.wasserstein1_1d(pts, pts, pa, pb):.4f}"
      f"   scipy = {scipy.stats.wasserstein_distance(pts, pts, pa, pb):.4f}")
self_inf, self_sup = coupling_cost(pa, pa, pts), coupling_cost(pa, pa, pts, sense=-1)
print(f"'distance' of pa to itself: inf over couplings = {self_inf:.4f},  sup over couplings = {self_sup:.4f}")
assert abs(self_inf) < 1e-9 and self_sup > 1.0  # only the infimum gives d(P, P) = 0

# %% [markdown] slideshow={"slide_type": "subslide"}
# With the supremum the "distance" of a distribution to itself is positive (1.6 above: the
# worst coupling moves mass as far as possible), so it would not be a distance at all. The
# definition is $W_p(P,Q)=\big(\inf_{\gamma\in\Gamma(P,Q)}\int\|x-y\|^p\,
# d\gamma(x,y)\big)^{1/p}$, with the power $1/p$ applied to the whole infimum.

# %% [markdown] slideshow={"slide_type": "subslide"}
# **What each distance sees.** Move a small mass $\varepsilon$ far away, to $x=M$. TV and KL
# register only *how much* mass moved, $W_1$ also *how far* — which is why M notes that TV
# cannot control moments while Wasserstein distances can. If the supports do not overlap,
# KL is infinite while TV saturates at 1 and $W_1$ stays finite and informative.

# %%
eps = 0.01
pts2 = np.array([0.0, 1000.0])
p_, q_ = np.array([1.0, 0.0]), np.array([1 - eps, eps])
print(f"mass {eps} moved to x = 1000: TV = {cu.mle.total_variation(p_, q_):.4f}, KL(q‖p) = {cu.mle.kl_divergence(q_, p_)},"
      f" KL(p‖q) = {cu.mle.kl_divergence(p_, q_):.5f}, W1 = {cu.mle.wasserstein1_1d(pts2, pts2, p_, q_):.2f},"
      f" |Δ mean| = {abs(pts2 @ (p_ - q_)):.2f}")
for shift in (0.5, 5.0):  # point masses δ_0 and δ_shift on the points (0, shift): disjoint supports
    d0, d1 = np.array([1.0, 0.0]), np.array([0.0, 1.0])
    print(f"δ_0 vs δ_{shift}: TV = {cu.mle.total_variation(d0, d1):.1f}, KL = {cu.mle.kl_divergence(d0, d1)},"
          f" W1 = {cu.mle.wasserstein1_1d([0.0, shift], [0.0, shift], d0, d1):.1f}")

# %% [markdown] slideshow={"slide_type": "slide"}
# ## Summary
#
# * The likelihood is the density of the observed data as a function of the parameters; we
#   maximise the log-likelihood, which has the same maximiser (any strictly increasing map
#   does) and avoids underflow.
# * Gaussian MLE: $\hat\mu=\bar x$, $\hat\sigma^2=\frac1N\sum(x_i-\bar x)^2$ (biased by
#   $-\sigma^2/N$); the MLE is invariant under reparametrisation, unbiasedness is not.
# * Squared error = Gaussian NLL; (binary) cross-entropy = Bernoulli/categorical NLL.
# * Linear-Gaussian model: GLS $\hat\beta=(X^\top\Sigma^{-1}X)^{-1}X^\top\Sigma^{-1}y$ iff
#   $\operatorname{rank}X=p$ (needs $N\ge p$); otherwise the maximisers form an affine set
#   and $X^+y$ is the minimum-norm one (the $\lambda\to0$ limit of ridge).
# * Gaussian prior ⇒ MAP = ridge with $\lambda=\sigma^2/\tau^2$; the full posterior is
#   Gaussian, $\mathcal N(m_N,S_N)$, and its predictive band is calibrated.
# * $\sqrt N(\hat\theta-\theta_0)\to\mathcal N(0,I^{-1})$; Cramér–Rao bounds *unbiased*
#   estimators by $1/(NI)$.
# * Maximum likelihood minimises $\mathrm{KL}(p_{\text{data}}\|p_\theta)$ — the training
#   principle of the flows in notebooks 05–07. TV $\le\sqrt{\mathrm{KL}/2}$;
#   $W_1$ is an infimum over couplings and sees distances between points.
#
# ## Check yourself
#
# 1. Why does maximising $\ell^2$ not give the MLE, while maximising $-1/\ell$ does (for
#    $\ell<0$)?
#
# <details><summary>Answer</summary>
#
# $x\mapsto x^2$ is decreasing on $x<0$, so it reverses the order of the $\ell$ values and
# moves the maximiser (section 1 prints it); $x\mapsto-1/x$ is increasing on $x<0$ and keeps it.
# </details>
#
# 2. You fit $\sigma$ instead of $\sigma^2$. Is $\hat\sigma$ unbiased for $\sigma$?
#
# <details><summary>Answer</summary>
#
# No: $\mathbb E\sqrt{\hat\sigma^2}<\sqrt{\mathbb E\hat\sigma^2}<\sigma$ (Jensen, then the
# bias of section 3). It is still the MLE of $\sigma$, by invariance under reparametrisation.
# </details>
#
# 3. A data set has $N=50$ points and you fit a polynomial of degree 60 by least squares.
#    How many maximisers does the likelihood have? What does `np.linalg.lstsq` return?
#
# <details><summary>Answer</summary>
#
# Infinitely many: 61 parameters and 50 equations give an 11-dimensional affine set of
# interpolants (if the design has full row rank), all with zero residual. `lstsq` returns the
# minimum-norm one, $X^+y$ (section 5).
# </details>
#
# 4. What happens to the ridge estimate as $\tau^2\to\infty$? As $\tau^2\to0$?
#
# <details><summary>Answer</summary>
#
# $\lambda=\sigma^2/\tau^2$. As $\tau^2\to\infty$, $\lambda\to0$ and the estimate tends to the
# minimum-norm least-squares solution $X^+y$ (the OLS estimate when it is unique). As
# $\tau^2\to0$, $\lambda\to\infty$ and $\beta\to0$, the prior mean.
# </details>
#
# 5. For a Poisson model $p(k;\lambda)=\lambda^ke^{-\lambda}/k!$, what is $I(\lambda)$ and
#    the approximate standard error of $\hat\lambda$ from $N$ counts?
#
# <details><summary>Answer</summary>
#
# $\partial_\lambda^2\log p=-k/\lambda^2$, so $I(\lambda)=\mathbb E[k]/\lambda^2=1/\lambda$ and
# $\operatorname{se}(\hat\lambda)\approx\sqrt{\hat\lambda/N}$, with $\hat\lambda=\bar k$.
# </details>
#
# 6. Two distributions have TV distance 0.3. What lower bound does Pinsker's inequality give
#    for their KL? Is it attained?
#
# <details><summary>Answer</summary>
#
# $\mathrm{KL}\ge2\,\mathrm{TV}^2=0.18$ nats. It is not attained: the smallest KL at TV 0.3
# is about 0.184 nats (two-point distributions with $p\approx0.70$, $q\approx0.40$); Pinsker's
# bound is tight only as TV $\to0$ (section 10, line 2 of the cell).
# </details>
#
# **Next:** `02_odes` (ordinary differential equations and their solvers). Practice: the
# problem set `exercises/01_mle.ipynb`.
#
# ## References
#
# * N. Ray, *Image Generation using Normalizing Flows and Flow Matching* (slides; source
#   **R**), §1 Maximum Likelihood Estimation.
# * C. Miyamoto, *Machine Learning for Physicists: Recitation Notes* (source **M**),
#   §1.2.3–1.2.4 (matrix inversions, MLE of the linear-Gaussian model), §3 (statistics and
#   loss functions), §4 (linear regression), §10.1 (distances between probability measures).
# * R. A. Fisher (1922), On the mathematical foundations of theoretical statistics,
#   *Phil. Trans. R. Soc. A* 222, 309–368.
# * A. C. Aitken (1935), On least squares and linear combination of observations,
#   *Proc. R. Soc. Edinburgh* 55, 42–48 (generalised least squares).
# * C. R. Rao (1945), Information and the accuracy attainable in the estimation of
#   statistical parameters, *Bull. Calcutta Math. Soc.* 37, 81–91.
# * H. Cramér (1946), *Mathematical Methods of Statistics*, Princeton University Press.
# * S. Kullback and R. A. Leibler (1951), On information and sufficiency, *Ann. Math.
#   Statist.* 22, 79–86.
# * R. Penrose (1955), A generalized inverse for matrices, *Proc. Cambridge Philos. Soc.*
#   51, 406–413.
# * M. S. Pinsker (1964), *Information and Information Stability of Random Variables and
#   Processes*, Holden-Day; A. B. Tsybakov (2009), *Introduction to Nonparametric
#   Estimation*, Springer, Lemma 2.5 (Pinsker's inequality with the sharp constant).
# * A. E. Hoerl and R. W. Kennard (1970), Ridge regression: biased estimation for
#   nonorthogonal problems, *Technometrics* 12, 55–67.
# * C. M. Bishop (2006), *Pattern Recognition and Machine Learning*, Springer, §3.3
#   (Bayesian linear regression).
# * A. W. van der Vaart (1998), *Asymptotic Statistics*, Cambridge University Press, ch. 5
#   (regularity conditions for consistency and asymptotic normality of the MLE).
# * C. Villani (2009), *Optimal Transport: Old and New*, Springer, ch. 6 (Wasserstein
#   distances).
