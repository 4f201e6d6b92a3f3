# %% [markdown] slideshow={"slide_type": "slide"}
# # 03 · Change of variables: densities under transformations
#
# If you push samples $z\sim p_Z$ through a map $x=g(z)$, what is the density of $x$? The
# answer, the **change-of-variables formula**, is the engine of normalizing flows (notebook
# 05), of continuous flows (06) and of exact likelihoods in flow matching (07). This notebook
# derives it, checks every instance of it three ways (a closed form, an integral over a grid,
# a histogram of samples) and shows what breaks when its assumptions fail.
#
# **Learning objectives.** After this notebook you can
#
# 1. derive the density of $X=g(Z)$ from the CDF in 1-D and state the $d$-dimensional formula,
#    its log form and the push-forward notation $g_\# p_Z$;
# 2. say what a *diffeomorphism* is, why the formula needs one, and give a smooth bijection
#    that is not one;
# 3. compute Jacobians by hand, with SymPy and with autograd, and a log-density with them;
# 4. read off the ellipse of equal density of a linear map from its SVD (not from its
#    eigenvectors);
# 5. repair a non-invertible map by restricting its domain, or sum over its preimages;
# 6. verify Box–Muller as a change of variables.
#
# **Prerequisites.** `01_mle` (log-likelihood, Gaussian densities); Jacobian matrix and
# determinant from multivariable calculus; `torch.autograd` basics.
#
# **Estimated time.** 75 minutes.
#
# **Notation.** In this notebook the base (latent) variable is written $z\sim p_Z=p_0=
# \mathcal N(0,I)$ (the course's $x_0$) and the data-side variable is $x=g(z)$; subscripts
# index coordinates ($z_1$, $z_2$); figure axes write coordinates as superscripts
# ($x^{(1)}$, $x^{(2)}$). $J_g(z)=\partial g/\partial z$ is the Jacobian
# ($J_{ij}=\partial g_i/\partial z_j$); batches come first, `x: (batch, dim)`.
# Logs are natural. The helpers of this topic live in `cu.change_of_variables` (imported
# below as `cov`); section 1 writes the two that carry the lesson in a few lines first.
#
# **Route.** Sections 1–3 and 6 are core; 4 (a map that folds the plane) and 5 (Box–Muller)
# are marked *(optional)*. **Pitfall** boxes state a tempting wrong claim, show the cell
# that exposes it and cite where it appears; the notes' misprints are listed in
# [`docs/ERRATA.md`](../docs/ERRATA.md). Later notebooks link to two boxes here:
# [$z^3$, a smooth bijection that is not a diffeomorphism](#cube-not-diffeomorphism)
# (section 2) and [the folding map](#folding-map) (section 4).

# %%
import numpy as np
import torch
import matplotlib.pyplot as plt
import course_utils as cu

device = cu.setup(seed=0)

# %%
import math

import sympy as sp
from scipy import integrate

cov = cu.change_of_variables
torch.set_default_dtype(torch.float64)  # every result below is compared with a closed form
log_normal = cov.standard_normal_log_prob  # log N(0, I) for (batch, dim) inputs


def integrate_1d(log_prob, lo, hi, n=20_000):
    # midpoint rule on [lo, hi] for a 1-D log-density written for (batch, 1) inputs
    h = (hi - lo) / n
    xs = torch.linspace(lo + h / 2, hi - h / 2, n)[:, None]
    return float(log_prob(xs).exp().sum() * h)


# %% [markdown] slideshow={"slide_type": "slide"}
# ## 1. One dimension: $X = 2Z + 3$
#
# Let $Z\sim\mathcal N(0,1)$ with density $\varphi$ and CDF $\Phi$, and $X=g(Z)=2Z+3$. The
# safest route to the density of $X$ goes through probabilities, which do not change when we
# rename the variable:
#
# $$F_X(x)=P(2Z+3\le x)=P\!\left(Z\le \tfrac{x-3}{2}\right)=\Phi\!\left(\tfrac{x-3}{2}\right)
# \quad\Longrightarrow\quad p_X(x)=F_X'(x)=\tfrac12\,\varphi\!\left(\tfrac{x-3}{2}\right).$$
#
# The factor $\tfrac12$ is the whole story: the map stretches the line by 2, so the same
# probability is spread over twice the length and the density halves. SymPy confirms that
# the derivative of the CDF is the $\mathcal N(3, 2^2)$ density.

# %%
x, z = sp.symbols("x z", real=True)
Phi = lambda s: (1 + sp.erf(s / sp.sqrt(2))) / 2  # standard normal CDF
F_X = Phi((x - 3) / 2)
p_X = sp.diff(F_X, x)
normal_3_2 = sp.exp(-((x - 3) ** 2) / (2 * 2**2)) / sp.sqrt(2 * sp.pi * 2**2)
print("p_X(x) =", sp.simplify(p_X))
print("p_X - N(3, 2^2) pdf simplifies to", sp.simplify(p_X - normal_3_2))

# %% [markdown] slideshow={"slide_type": "subslide"}
# **The general 1-D formula.** For a differentiable, strictly monotone $g$ with
# differentiable inverse: if $g$ increases, $F_X(x)=F_Z(g^{-1}(x))$; if it decreases,
# $F_X(x)=1-F_Z(g^{-1}(x))$. Differentiating both cases gives one formula with an absolute
# value,
#
# $$p_X(x)=p_Z\big(g^{-1}(x)\big)\,\left|\frac{d g^{-1}}{dx}(x)\right|
# =\frac{p_Z(z)}{|g'(z)|}\Big|_{z=g^{-1}(x)} .$$
#
# The absolute value matters only for decreasing maps. To see it, take a base that is not
# symmetric, $Z\sim\mathrm{Exp}(1)$, and $X=3-2Z$ (decreasing): the CDF route gives a
# positive density, while the formula without $|\cdot|$ gives its negative.

# %%
zpos = sp.symbols("z_pos", positive=True)
g_dec = 3 - 2 * zpos                      # decreasing map
g_inv = (3 - x) / 2                       # its inverse, valid for x < 3
F_exp = lambda s: 1 - sp.exp(-s)          # CDF of Exp(1)
p_exp = lambda s: sp.exp(-s)              # density of Exp(1)
p_cdf = sp.diff(1 - F_exp(g_inv), x)      # F_X(x) = P(Z >= g^{-1}(x))
p_no_abs = p_exp(g_inv) * sp.diff(g_inv, x)
p_abs = p_exp(g_inv) * sp.Abs(sp.diff(g_inv, x))
print("from the CDF:        ", sp.simplify(p_cdf))
print("formula without |.|: ", sp.simplify(p_no_abs))
print("formula with |.|:    ", sp.simplify(p_abs))
print("integral over x < 3 of the CDF answer:", sp.integrate(p_cdf, (x, -sp.oo, 3)))

# %% [markdown] slideshow={"slide_type": "subslide"}
# Now the numerical check that every density in this notebook gets: it must **integrate to
# 1** on a grid, and it must **match a histogram** of pushed-forward samples. We measure the
# match with the total-variation distance between the histogram and the density's bin
# probabilities, `cov.histogram_tv` ($\tfrac12\sum_{\text{bins}}|\hat p_b-p_b|$, plus the
# mass outside the window). With $N$ samples and $B$ occupied bins, exact samples give a
# distance of order $\tfrac12\sqrt{2B/(\pi N)}$ (sampling noise), so we print that level
# too, and the distance of a *wrong* formula (the density of $Z$ moved to mean 3 but
# forgetting the factor $\tfrac12$ and the stretch) for contrast.
#
# The log-density is $\log p_Z(g^{-1}(x))-\log|\det J_g(g^{-1}(x))|$, written here for
# batches in any dimension $d$ (section 2 states the $d$-dimensional formula): the Jacobian
# comes from autograd, one backward pass per output coordinate, and the log-determinant
# from `slogdet`. The package's `cov.batch_jacobian` and `cov.log_prob_after` do the same
# (with argument checks); the cell checks that they agree, and the notebook uses them
# from then on.

# %%
def batch_jacobian_inline(g, z):
    # J[b, i, j] = ∂g_i/∂z_j at z[b]; z: (batch, d). Row b of g(z) depends on row b of z only.
    z = z.detach().requires_grad_(True)
    out = g(z)
    rows = [torch.autograd.grad(out[:, i].sum(), z, retain_graph=True)[0] for i in range(out.shape[1])]
    return torch.stack(rows, dim=1)  # (batch, d, d)


def log_prob_after_inline(g, log_p_z, x, inverse):
    # log p_X(x) = log p_Z(z) - log|det J_g(z)| at z = g^{-1}(x); x: (batch, d) -> (batch,)
    z = inverse(x)
    return log_p_z(z) - torch.linalg.slogdet(batch_jacobian_inline(g, z)).logabsdet


g_test = lambda z: torch.stack([z[:, 0] + 0.5 * torch.tanh(z[:, 1]), 2 * z[:, 1]], 1)  # a 2-D bijection
g_test_inv = lambda x: torch.stack([x[:, 0] - 0.5 * torch.tanh(x[:, 1] / 2), x[:, 1] / 2], 1)
x_test = torch.randn(7, 2, generator=torch.Generator().manual_seed(0))
print("inline Jacobian == cov.batch_jacobian:",
      torch.allclose(batch_jacobian_inline(g_test, x_test), cov.batch_jacobian(g_test, x_test), atol=1e-14))
print("inline log p_X == cov.log_prob_after:",
      torch.allclose(log_prob_after_inline(g_test, log_normal, x_test, g_test_inv),
                     cov.log_prob_after(g_test, log_normal, x_test, inverse=g_test_inv), atol=1e-12))

# %%
g = lambda z: 2 * z + 3
g_inv = lambda x: (x - 3) / 2
log_p_x = lambda x: cov.log_prob_after(g, log_normal, x, inverse=g_inv)
log_p_wrong = lambda x: log_normal(x - 3)  # no stretch, no Jacobian

gen = torch.Generator().manual_seed(1)
N, bins, lim = 100_000, 60, (-7.0, 13.0)
xs_samples = g(torch.randn(N, 1, generator=gen))
closed = torch.distributions.Normal(3.0, 2.0).log_prob(torch.tensor([[0.5], [3.0], [8.0]]))[:, 0]
print("formula == N(3, 2^2) log-pdf at 3 points:",
      torch.allclose(log_p_x(torch.tensor([[0.5], [3.0], [8.0]])), closed, atol=1e-12))
assert torch.allclose(log_prob_after_inline(g, log_normal, torch.tensor([[0.5], [3.0], [8.0]]), g_inv), closed)
print(f"integral of p_X on [-7, 13]: {integrate_1d(log_p_x, *lim):.4f}")
print(f"integral of the wrong density: {integrate_1d(log_p_wrong, *lim):.4f}")
log_p_no_jac = lambda x: log_normal(g_inv(x))  # right inverse, Jacobian factor 1/2 missing
print(f"integral of the density without the Jacobian only: {integrate_1d(log_p_no_jac, *lim):.4f}")
noise = 0.5 * math.sqrt(2 * bins / (math.pi * N))
print(f"TV(histogram, p_X) = {cov.histogram_tv(xs_samples, log_p_x, lim, bins):.3f}"
      f"   (sampling noise ~ {noise:.3f})")
print(f"TV(histogram, wrong density) = {cov.histogram_tv(xs_samples, log_p_wrong, lim, bins):.3f}")

# %% [markdown] slideshow={"slide_type": "subslide"}
# The wrong density still integrates to 1 (it is a density, just not the right one): its two
# errors, the wrong inverse $x-3$ instead of $(x-3)/2$ and the missing Jacobian factor
# $\tfrac12$, cancel in the total mass. So the integral alone cannot catch *this* mistake;
# the histogram distance does. A missing Jacobian on its own, $\varphi\big((x-3)/2\big)$,
# integrates to $|\det J_g|=2\ne1$ and is caught by the integral (printed above).
# Both checks are needed.

# %%
grid = torch.linspace(-7, 13, 400)[:, None]
fig, ax = plt.subplots(figsize=(7, 3.5))
ax.hist(xs_samples[:, 0].numpy(), bins=bins, range=lim, density=True, alpha=0.4,
        label=f"histogram of 2Z+3 (N={N:,})")
ax.plot(grid[:, 0], log_p_x(grid).exp(), "C0", lw=2, label=r"$\frac{1}{2}\varphi((x-3)/2)$")
ax.plot(grid[:, 0], log_p_wrong(grid).exp(), "C3--", label="wrong: no factor 1/2, no stretch")
ax.set(title="X = 2Z + 3: formula against samples", xlabel="x", ylabel="density (1/unit x)")
ax.legend()
plt.show()

# %% [markdown] slideshow={"slide_type": "subslide"}
# ### A map with a parameter: where $g$ stretches, the density drops
#
# For a non-linear map the factor $1/|g'|$ changes from point to point. Take the family
#
# $$g_a(z)=z+a\tanh z,\qquad g_a'(z)=1+a\,\operatorname{sech}^2 z,$$
#
# strictly increasing (a diffeomorphism of $\mathbb R$) for every $a>-1$: $g_a'\ge\min(1,1+a)>0$.
# The log form of the formula reads, for $x=g_a(z)$,
#
# $$\log p_X(x)=\log p_Z(z)-\log|g_a'(z)| ,$$
#
# so the **log-det update** $-\log|g_a'(z)|$ is what the map adds to the base log-density at
# each point. With $a>0$ the map stretches the centre ($g_a'(0)=1+a>1$): the density there
# drops, and for $a>1$ the centre becomes a shallow dip between two bumps (the second
# derivative of $\log p_Z(z)-\log g_a'(z)$ at $z=0$ is $-1+2a/(1+a)$). With $-1<a<0$ it compresses
# the centre ($g_a'(0)=1+a<1$): a spike of height $\varphi(0)/(1+a)$, unbounded as $a\to-1$,
# where $g_{-1}'(0)=0$ and $g_{-1}$ stops being a diffeomorphism (the $z^3$ problem of
# section 2). The forward form needs no inverse: the curve
# $z\mapsto\big(g_a(z),\,p_Z(z)/|g_a'(z)|\big)$ *is* the graph of $p_X$. The figure shows
# three values of $a$, each checked against a histogram of $g_a(Z)$ (bin probabilities from
# the CDF $F_X(x)=\Phi(g_a^{-1}(x))$, with $g_a^{-1}$ by interpolation of the monotone curve).

# %%
def tanh_map(a, z):
    # g_a(z) = z + a tanh z and log g_a'(z) = log(1 + a sech^2 z); z: (n,) -> both (n,)
    return z + a * torch.tanh(z), torch.log1p(a / torch.cosh(z) ** 2)


z_line = torch.linspace(-6, 6, 4001)
z_draws = torch.randn(200_000, generator=torch.Generator().manual_seed(3))
edges = torch.linspace(-5, 5, 81)
phi = lambda s: torch.exp(-0.5 * s**2) / math.sqrt(2 * math.pi)


def pushed_density(a):
    # the graph of p_X as a curve (x, p_X(x)) from the forward form, and TV against samples
    x_line, log_dg = tanh_map(a, z_line)
    log_px = log_normal(z_line[:, None]) - log_dg    # log p_Z(z) - log|g'(z)| at x = g(z)
    z_edges = torch.from_numpy(np.interp(edges.numpy(), x_line.numpy(), z_line.numpy()))
    bin_p = torch.diff(torch.special.ndtr(z_edges))   # P(X in bin) = Phi(g^-1) differences
    counts = torch.histc(tanh_map(a, z_draws)[0], bins=80, min=-5, max=5) / len(z_draws)
    return x_line, log_px, log_dg, float(0.5 * (counts - bin_p).abs().sum())


noise = 0.5 * math.sqrt(2 * 80 / (math.pi * len(z_draws)))
fig, axes = plt.subplots(1, 3, figsize=(15, 3.8))
for a, color in [(-0.8, "C3"), (0.0, "k"), (3.0, "C0")]:
    x_line, log_px, log_dg, tv = pushed_density(a)
    mass = float(torch.trapezoid(log_px.exp(), x_line))
    peak = float(log_px[len(z_line) // 2].exp())      # p_X at x = g(0) = 0
    print(f"a = {a:4.1f}: integral {mass:.4f}, p_X(0) = {peak:.4f} "
          f"(phi(0) / (1 + a) = {float(phi(torch.tensor(0.0))) / (1 + a):.4f}), "
          f"TV(histogram, p_X) = {tv:.4f} (noise ~ {noise:.4f})")
    assert abs(mass - 1) < 1e-3 and abs(peak * (1 + a) - float(phi(torch.tensor(0.0)))) < 1e-9 and tv < 3 * noise
    assert (peak < float(log_px.exp().max())) == (a > 1)  # a dip at the centre exactly when a > 1
    axes[0].plot(z_line, x_line, color=color, label=f"a = {a}")
    axes[1].plot(z_line, -log_dg, color=color, label=f"a = {a}")
    axes[2].plot(x_line, log_px.exp(), color=color, label=f"a = {a}")
axes[0].set(title="the map $x=g_a(z)=z+a\\tanh z$", xlabel="z", ylabel="x", xlim=(-4, 4), ylim=(-6, 6))
axes[1].set(title="log-det update $-\\log|g_a'(z)|$", xlabel="z", ylabel="nats", xlim=(-4, 4))
axes[2].set(title="pushed density $p_X$", xlabel="x", ylabel="density (1/unit x)", xlim=(-5, 5))
for ax in axes:
    ax.legend(fontsize=8)
plt.tight_layout()
plt.show()

# %% tags=["widget", "nbval-ignore-output", "remove-output"]
# Interactive (in JupyterLab): move a and watch the three panels change together; the figure
# above is this plot at a = -0.8, 0 and 3. Near a = -1 the spike at 0 grows without bound.
import ipywidgets as widgets
from IPython.display import display


def tanh_map_figure(a=1.0):
    x_line, log_px, log_dg, tv = pushed_density(a)
    fig, axes = plt.subplots(1, 3, figsize=(15, 3.8))
    axes[0].plot(z_line, x_line, lw=2, label=f"$g_a$, a = {a:.2f}")
    axes[0].plot(z_line, z_line, "k--", lw=0.8, label="identity (a = 0)")
    axes[0].set(title="the map $x=g_a(z)$", xlabel="z", ylabel="x", xlim=(-4, 4), ylim=(-6, 6))
    axes[0].legend(fontsize=8)
    axes[1].plot(z_line, -log_dg, lw=2)
    axes[1].axhline(0, color="k", lw=0.8)
    axes[1].set(title="log-det update $-\\log|g_a'(z)|$", xlabel="z", ylabel="nats", xlim=(-4, 4))
    axes[2].hist(tanh_map(a, z_draws[:50_000])[0].numpy(), bins=80, range=(-5, 5), density=True,
                 alpha=0.4, label="histogram of $g_a(Z)$")
    axes[2].plot(x_line, log_px.exp(), lw=2, label="$p_Z(z)/|g_a'(z)|$ at $x=g_a(z)$")
    axes[2].plot(z_line, phi(z_line), "k--", lw=0.8, label="base $\\varphi$")
    axes[2].set(title=f"pushed density, TV to samples {tv:.3f}", xlabel="x",
                ylabel="density (1/unit x)", xlim=(-5, 5))
    axes[2].legend(fontsize=8)
    plt.tight_layout()
    plt.show()


tanh_ui = widgets.interactive(
    tanh_map_figure, a=widgets.FloatSlider(value=1.0, min=-0.95, max=4.0, step=0.05, description="a")
)
display(tanh_ui)
# the lesson the slider shows: compressing the centre raises the density there, stretching lowers it
p_centre = {a: float(pushed_density(a)[1][len(z_line) // 2].exp()) for a in (-0.5, 1.0)}  # p_X(0)
assert p_centre[-0.5] > float(phi(torch.tensor(0.0))) > p_centre[1.0]
plt.close("all")


# %% [markdown] slideshow={"slide_type": "slide"}
# ## 2. The $d$-dimensional formula, its log form and push-forward notation
#
# Let $g:U\to V$ ($U,V\subseteq\mathbb R^d$ open) be a **diffeomorphism**: a bijection that is
# continuously differentiable *and whose inverse is continuously differentiable too*. If
# $z\sim p_Z$ on $U$ and $x=g(z)$, then for every region $B\subseteq U$ the probability is
# conserved, $P(X\in g(B))=P(Z\in B)$, and the multivariable substitution rule turns this
# into a statement about densities:
#
# $$p_X(x)=p_Z\big(g^{-1}(x)\big)\,\big|\det J_{g^{-1}}(x)\big|
# =\frac{p_Z(z)}{|\det J_g(z)|}\Big|_{z=g^{-1}(x)},\qquad
# \log p_X(x)=\log p_Z(z)-\log|\det J_g(z)| .$$
#
# The two forms agree because $J_{g^{-1}}(x)=J_g(z)^{-1}$ (differentiate $g^{-1}(g(z))=z$)
# and $\det(M^{-1})=1/\det M$. $|\det J_g(z)|$ is the factor by which $g$ multiplies small
# volumes near $z$: where $g$ stretches, density drops.
#
# **Push-forward notation.** The distribution of $g(z)$ for $z\sim p$ is written $g_\# p$
# (K writes $[g]_*p$; R writes $p_X$; M writes $\pi$ for the target and $\nu$ for the base).
# Note K's Lemma 6 in the second form, $[g]_*p\,(g(z))=p(z)/|\det\nabla g(z)|$: it evaluates
# the new density at the *image point* $g(z)$, never at $z$. For a chain
# $g=g_K\circ\dots\circ g_1$ the chain rule $J_g=J_{g_K}\cdots J_{g_1}$ and
# $\det(MN)=\det M\det N$ give R's flow formula
# $\log p_X(x)=\log p_Z(z_0)-\sum_k\log|\det J_{g_k}(z_{k-1})|$ (checked in section 6).
#
# **What the formula needs, and the inverse function theorem.** If $g$ is $C^1$ near $z$
# and $\det J_g(z)\neq 0$, the inverse function theorem says $g$ is invertible near $z$ with a
# $C^1$ inverse whose Jacobian is $J_g(z)^{-1}$. So a $C^1$ **bijection** $U\to V$ with
# $\det J_g\ne0$ **everywhere** on $U$ is a diffeomorphism. Both halves are needed:
# bijectivity is global (section 4 breaks it), the determinant condition is pointwise
# (the next cell breaks it).

# %% [markdown] slideshow={"slide_type": "subslide"}
# > **Pitfall.** <a id="cube-not-diffeomorphism"></a> *Common mistake:* "a diffeomorphism
# > is a differentiable bijection; so its inverse is differentiable too, and
# > $\det J_g\ne0$ everywhere." Both conclusions fail under that definition.
# > Counterexample: $g(z)=z^3$ is smooth ($C^\infty$) and a bijection of $\mathbb R$, but
# > $g'(0)=0$, and its inverse $x\mapsto x^{1/3}$ is **not differentiable at 0** (vertical
# > tangent). The correct definition asks for a differentiable inverse as well;
# > equivalently, for a $C^1$ bijection, $\det J_g\ne0$ everywhere. *Check (next cell):*
# > SymPy finds $g'(0)=0$ and $(g^{-1})'(x)\to\infty$ as $x\to0^+$, and the difference
# > quotients of $g^{-1}$ at 0 grow without bound (the cell asserts both; a differentiable
# > inverse would have a finite limit). *(K, Definition 2; R's 1-D statement, "invertible
# > and differentiable", has the same gap.)*

# %%
xp = sp.symbols("x_p", positive=True)          # x > 0 (the inverse is odd, x < 0 mirrors it)
g3_inv = xp ** sp.Rational(1, 3)
print("g(z) = z^3 is a bijection of R with g'(z) =", sp.diff(z**3, z), " so g'(0) =", sp.diff(z**3, z).subs(z, 0))
print("(g^-1)'(x) =", sp.diff(g3_inv, xp), " for x > 0")
print("limit of (g^-1)'(x) as x -> 0+ :", sp.limit(sp.diff(g3_inv, xp), xp, 0, "+"))
quotients = [np.cbrt(h) / h for h in (1e-3, 1e-6, 1e-9)]
print("difference quotient of g^-1 at 0, h = 1e-3, 1e-6, 1e-9:", [f"{q:.3g}" for q in quotients])
assert sp.diff(z**3, z).subs(z, 0) == 0 and sp.limit(sp.diff(g3_inv, xp), xp, 0, "+") == sp.oo
assert quotients[0] < quotients[1] < quotients[2] and quotients[2] > 1e5

# %% [markdown] slideshow={"slide_type": "subslide"}
# What does this do to the density of $X=Z^3$? The formula gives
# $p_X(x)=\varphi(x^{1/3})\,/\,(3\,|x|^{2/3})$ for $x\ne0$: it is **unbounded at 0** and the
# forward form $p_Z(z)/|g'(z)|$ divides by zero at $z=0$. Here the damage is confined to a
# single point (a set of probability zero), so the formula still describes the distribution
# away from 0: it integrates to 1 and matches the histogram. But $\log|\det J|=-\infty$ at
# $z=0$, and a flow whose log-likelihood can hit $-\infty$, or whose inverse has infinite
# slope, is numerically useless; flow layers are built so that $\det J\ne0$ everywhere.
#
# (For the histogram check the bin probabilities come from the exact CDF
# $F_X(x)=\Phi(x^{1/3})$: midpoint sums converge slowly next to an infinite spike, and the
# cell prints how far off they are.)

# %%
cube = lambda z: z**3
cube_inv = lambda x: torch.sign(x) * x.abs() ** (1 / 3)
log_p_cube = lambda x: cov.log_prob_after(cube, log_normal, x, inverse=cube_inv)

print("log|g'(z)| at z = 0 by autograd:", float(cov.log_abs_det_jacobian(cube, torch.zeros(1, 1))[0]))
p_cube_np = lambda t: math.exp(float(log_p_cube(torch.tensor([[t]]))[0]))
mass = 2 * integrate.quad(p_cube_np, 0, 1000, limit=200)[0]  # p_X is even
print(f"integral of p_X over R (adaptive quadrature, singular at 0): {mass:.4f}")
gen = torch.Generator().manual_seed(2)
x_cube = cube(torch.randn(100_000, 1, generator=gen))
# midpoint sums converge slowly next to the singularity, so bin probabilities come from
# the CDF F_X(x) = Phi(x^(1/3)) here (P(X <= x) = P(Z <= x^(1/3)))
cdf_cube = lambda x: torch.special.ndtr(cube_inv(x)[:, 0])
noise = 0.5 * math.sqrt(2 * 60 / (math.pi * 100_000))
print(f"TV(histogram, p_X) on [-3, 3], 60 bins: exact bins {cov.histogram_tv(x_cube, log_p_cube, (-3.0, 3.0), 60, cdf=cdf_cube):.3f},"
      f" midpoint bins {cov.histogram_tv(x_cube, log_p_cube, (-3.0, 3.0), 60):.3f}   (sampling noise ~ {noise:.3f})")

t = torch.linspace(-2, 2, 801)[:, None]
fig, ax = plt.subplots(figsize=(7, 3.5))
ax.hist(x_cube[:, 0].numpy(), bins=80, range=(-2, 2), density=True, alpha=0.4, label="histogram of Z^3")
ax.plot(t[:, 0], log_p_cube(t).exp(), "C0", label=r"$\varphi(x^{1/3})/(3|x|^{2/3})$")
ax.set(ylim=(0, 3), title="X = Z^3: a smooth bijection whose inverse is not differentiable at 0",
       xlabel="x", ylabel="density (1/unit x)")
ax.legend()
plt.show()

# %% [markdown] slideshow={"slide_type": "slide"}
# ## 3. A linear map in 2-D: $x = Az$ with $A=\begin{pmatrix}2&1\\1&3\end{pmatrix}$
#
# R's worked example: $x_1=2z_1+z_2$, $x_2=z_1+3z_2$. For a linear map the Jacobian is the
# matrix itself, everywhere: $J_g(z)=A$, $\det A=2\cdot3-1\cdot1=5$, so every area is
# multiplied by 5 and $\log|\det A|=\log5\approx1.609$. The inverse is
# $A^{-1}=\tfrac15\begin{pmatrix}3&-1\\-1&2\end{pmatrix}$ and, for $z\sim\mathcal N(0,I)$,
#
# $$\log p_X(x)=\log\mathcal N\big(A^{-1}x;0,I\big)-\log 5
# =-\tfrac12\,x^\top(AA^\top)^{-1}x-\log(2\pi)-\log 5,$$
#
# which is the log-density of $\mathcal N(0, AA^\top)$ (note $\det(AA^\top)^{1/2}=|\det A|$).
# We check each of R's numbers with autograd.

# %%
A = torch.tensor([[2.0, 1.0], [1.0, 3.0]])
lin = lambda z: z @ A.T          # row-wise x = A z for z of shape (batch, 2)
lin_inv = lambda x: torch.linalg.solve(A, x.T).T

gen = torch.Generator().manual_seed(3)
z_pts = torch.randn(5, 2, generator=gen)
J = cov.batch_jacobian(lin, z_pts)                     # (5, 2, 2)
print("autograd Jacobian at 5 random points equals A:", torch.allclose(J, A.expand(5, 2, 2)))
print(f"det A = {torch.linalg.det(A):.4f}, log|det A| = {cov.log_abs_det_jacobian(lin, z_pts)[0]:.4f}")
print("A^-1 =\n", torch.linalg.inv(A).numpy(), "\nR's (1/5)[[3, -1], [-1, 2]] matches:",
      torch.allclose(torch.linalg.inv(A), torch.tensor([[3.0, -1.0], [-1.0, 2.0]]) / 5))

# %%
log_p_lin = lambda x: cov.log_prob_after(lin, log_normal, x, inverse=lin_inv)
log_p_lin_inv = lambda x: cov.log_prob_after(lin, log_normal, x, inverse=lin_inv, jacobian_of="inverse")
mvn = torch.distributions.MultivariateNormal(torch.zeros(2), covariance_matrix=A @ A.T)
x_pts = 3 * torch.randn(6, 2, generator=gen)
print("log p_X == log N(0, A A^T) (forward Jacobian):", torch.allclose(log_p_lin(x_pts), mvn.log_prob(x_pts), atol=1e-12))
print("log p_X == log N(0, A A^T) (inverse Jacobian):", torch.allclose(log_p_lin_inv(x_pts), mvn.log_prob(x_pts), atol=1e-12))
print(f"integral on [-12, 12]^2: {cu.grid.integrate_density_2d(log_p_lin, lim=12.0, n=300):.4f}")
print(f"integral without the Jacobian term: {cu.grid.integrate_density_2d(lambda x: log_normal(lin_inv(x)), lim=12.0, n=300):.4f}"
      "   (= |det A|: the missing factor)")
x_lin = lin(torch.randn(50_000, 2, generator=gen))
print(f"TV(histogram, p_X) = {cov.histogram_tv(x_lin, log_p_lin, 10.0, bins=30):.3f}"
      f"   (sampling noise ~ {0.5 * math.sqrt(2 * 30 * 30 / (math.pi * 50_000)):.3f} at most)")


# %% [markdown] slideshow={"slide_type": "subslide"}
# **The ellipse of equal density.** $\log p_X(x)$ depends on $x$ only through $|A^{-1}x|$,
# so the level set $\{x: |A^{-1}x|=c\}$ is the image $A\cdot\{z:|z|=c\}$ of a circle. Write
# the SVD $A=USV^\top$ ($U,V$ orthogonal, $S=\mathrm{diag}(\sigma_1,\sigma_2)$,
# $\sigma_1\ge\sigma_2>0$). $V^\top$ maps the circle to itself, $S$ stretches it along the
# coordinate axes, $U$ rotates the result, so
#
# $$A\cdot\{|z|=c\}=\Big\{c\,\big(\sigma_1\cos\theta\,u_1+\sigma_2\sin\theta\,u_2\big)\Big\}:$$
#
# an ellipse whose **semi-axes point along the left singular vectors** $u_1,u_2$ with
# **lengths $c\,\sigma_1, c\,\sigma_2$**. Equivalently, $u_i$ are the eigenvectors of the
# covariance $AA^\top=US^2U^\top$ with eigenvalues $\sigma_i^2$. The area of the ellipse is
# $\pi c^2\sigma_1\sigma_2=\pi c^2|\det A|$: the determinant again.
#
# For a **symmetric** $A=Q\Lambda Q^\top$ the SVD is $U=Q$, $\sigma_i=|\lambda_i|$, so the
# eigenvectors of $A$ happen to be the axes. That is the case in R's example, and it hides
# the general rule. Below: the symmetric $A$, then the non-symmetric
# $B=\begin{pmatrix}2&1\\0&3\end{pmatrix}$, whose eigenvectors $(1,0)$ and $(1,1)/\sqrt2$ are
# not even orthogonal, so they cannot be the axes of an ellipse.

# %%
def ellipse_report(M, name):
    # compare the SVD prediction with a brute-force scan of the level set |M^{-1} x| = 1
    U, S, Vh = torch.linalg.svd(M)
    theta = torch.linspace(0, 2 * math.pi, 20_001)[:-1]
    circle = torch.stack([theta.cos(), theta.sin()], 1)
    level = circle @ M.T                                   # the contour through c = 1
    radius = level.norm(dim=1)
    far = level[radius.argmax()] / radius.max()            # direction of the longest radius
    near = level[radius.argmin()] / radius.min()
    logp = cov.log_prob_after(lambda z: z @ M.T, log_normal, level, inverse=lambda x: torch.linalg.solve(M, x.T).T)
    evals, evecs = torch.linalg.eig(M)
    evecs = evecs[:, torch.argsort(evals.real, descending=True)]  # fixed order across LAPACKs
    print(f"{name}: log-density constant along the contour:", bool(logp.max() - logp.min() < 1e-12))
    print(f"  longest radius {radius.max():.4f} vs sigma_1 {S[0]:.4f}; shortest {radius.min():.4f} vs sigma_2 {S[1]:.4f}")
    print(f"  |cos| angle(longest direction, u_1) = {abs(float(far @ U[:, 0])):.4f}; "
          f"(shortest, u_2) = {abs(float(near @ U[:, 1])):.4f}")
    for k in range(2):
        v = evecs[:, k].real
        v = v / v.norm() * torch.sign(v[v.abs().argmax()])  # unit length, sign fixed
        print(f"  eigenvector {k + 1} of {name} ({v[0]:+.3f}, {v[1]:+.3f}): |cos| with u_1 = {abs(float(v @ U[:, 0])):.4f}")
    return U, S, evecs.real


U_A, S_A, E_A = ellipse_report(A, "A")
B = torch.tensor([[2.0, 1.0], [0.0, 3.0]])
U_B, S_B, E_B = ellipse_report(B, "B")
# the axes are the left singular vectors; the eigenvectors of B are not (both would pass for A)
cos_eig_u1 = [abs(float(E_B[:, k] @ U_B[:, 0])) / float(E_B[:, k].norm()) for k in range(2)]
assert max(cos_eig_u1) < 0.99 and abs(float(E_B[:, 0] @ E_B[:, 1])) > 0.1  # not axes, not orthogonal

# %% [markdown] slideshow={"slide_type": "subslide"}
# For $A$ the eigenvectors coincide with the singular vectors ($|\cos|=1$ and $0$). For $B$
# the longest radius of the equal-density ellipse lies along $u_1$ exactly, while neither
# eigenvector of $B$ is an axis. The figure shows the contours of both densities with the
# semi-axes $\sigma_iu_i$ (solid) and the eigenvector directions (dashed).

# %%
fig, axes = plt.subplots(1, 2, figsize=(10, 4.6))
for ax, M, U, S, E, name in ((axes[0], A, U_A, S_A, E_A, "A (symmetric)"),
                             (axes[1], B, U_B, S_B, E_B, "B (not symmetric)")):
    f = lambda x, M=M: log_normal(torch.linalg.solve(M, x.T).T) - torch.linalg.slogdet(M).logabsdet
    xs, ys, logp, _ = cu.grid.evaluate_on_grid(f, lim=6.0, n=200)
    ax.contour(xs, ys, logp.exp(), levels=8, cmap="viridis")
    for k in range(2):
        a = S[k] * U[:, k]
        ax.plot([-a[0], a[0]], [-a[1], a[1]], "C3", lw=2.5, label=r"$\pm\sigma_i u_i$ (axes)" if k == 0 else None)
        e = 4 * E[:, k] / E[:, k].norm()
        ax.plot([-e[0], e[0]], [-e[1], e[1]], "k--", lw=1, label="eigenvectors of the matrix" if k == 0 else None)
    ax.set(title=f"x = {name[0]} z, z ~ N(0, I); {name[2:]}", xlabel="$x^{(1)}$", ylabel="$x^{(2)}$", aspect="equal")
    ax.legend(loc="lower right", fontsize=8)
plt.show()

# %% [markdown] slideshow={"slide_type": "subslide"}
# > **Pitfall.** *Common mistake:* "the push-forward of $\mathcal N(0,I)$ by a matrix $A$
# > is an elliptical Gaussian stretched along the **eigenvectors** of $A$." That holds for a
# > symmetric $A$ only. In general the axes of the equal-density ellipses are the **left
# > singular vectors** of the matrix (the eigenvectors of $AA^\top$, the covariance of $x$),
# > with semi-axis lengths proportional to the **singular values**. *Check (cells above):*
# > for the non-symmetric $B$ the longest radius lies along $u_1$ ($|\cos|=1.0000$), while
# > neither eigenvector of $B$ is within $|\cos|=0.99$ of it and the two eigenvectors are not
# > orthogonal (both asserted), so they cannot be the axes of an ellipse. (A rotation by 90°
# > has no real eigenvectors at all, yet it maps the circle to a circle.) *(R, 2-D linear
# > example, which uses a symmetric $A$.)*

# %% [markdown] slideshow={"slide_type": "slide"}
# ## 4. A non-linear map: $x_1 = 2z_1 + \sin z_2,\ x_2 = z_2^2$ *(optional)*
#
# R's "non-linear extension". Its Jacobian depends on the point:
#
# $$J_g(z)=\begin{pmatrix}2&\cos z_2\\0&2z_2\end{pmatrix},\qquad \det J_g(z)=4z_2 .$$
#
# We compute it with SymPy and check the autograd Jacobian of the batched map against it.

# %%
z1, z2 = sp.symbols("z1 z2", real=True)
g_sym = sp.Matrix([2 * z1 + sp.sin(z2), z2**2])
J_sym = g_sym.jacobian([z1, z2])
print("J_g =", J_sym.tolist(), "  det J_g =", sp.factor(J_sym.det()))


def g_nl(z):
    return torch.stack([2 * z[:, 0] + torch.sin(z[:, 1]), z[:, 1] ** 2], dim=1)


J_fn = sp.lambdify((z1, z2), J_sym, "numpy")
z_pts = torch.randn(8, 2, generator=torch.Generator().manual_seed(4))
J_auto = cov.batch_jacobian(g_nl, z_pts)
J_exact = torch.tensor(np.array([np.array(J_fn(a, b), dtype=float) for a, b in z_pts.tolist()]))
print("autograd Jacobian == SymPy Jacobian at 8 points:", torch.allclose(J_auto, J_exact, atol=1e-13))
print("autograd log|det J| == log|4 z2|:",
      torch.allclose(cov.log_abs_det_jacobian(g_nl, z_pts), torch.log(4 * z_pts[:, 1].abs()), atol=1e-13))

# %% [markdown] slideshow={"slide_type": "subslide"}
# **Where is it invertible?** Locally, wherever $\det J_g=4z_2\ne0$: off the line $z_2=0$.
# On that line the map **folds** the plane: $\det J=0$, the formula would divide by zero,
# and $\log|\det J|=-\infty$. Globally, the map is **not injective**: $z_2$ and $-z_2$ give the
# same $x_2$, and choosing $z_1'=z_1+\sin z_2$ makes $x_1$ agree as well, so
# $(z_1,z_2)$ and $(z_1+\sin z_2,\,-z_2)$ have the same image. Every $x$ with $x_2>0$ has
# exactly two preimages, and no $x$ with $x_2<0$ has any.

# %%
zz = torch.tensor([[0.3, 1.2]])
zz_twin = torch.tensor([[0.3 + math.sin(1.2), -1.2]])
print("g(z)       =", g_nl(zz).numpy().round(4), "\ng(z twin)  =", g_nl(zz_twin).numpy().round(4))
print("log|det J| on the fold z2 = 0:", float(cov.log_abs_det_jacobian(g_nl, torch.tensor([[0.3, 0.0]]))[0]))


# %% [markdown] slideshow={"slide_type": "subslide"}
# > **Pitfall.** <a id="folding-map"></a> *Common mistake:* "any smooth map with a
# > computable $\log|\det J_g|$ can serve as a flow layer: here $\log|\det J_g|=\log|4z_2|$,
# > so $\log p_X(x)=\log p_Z(z)-\log|4z_2|$." This map is **not** a change of variables on
# > $\mathbb R^2$: it folds the plane along $z_2=0$ (where $\det J_g=0$), is two-to-one,
# > and reaches only the half-plane $x_2\ge0$. Plugging one inverse into the formula while
# > $z\sim\mathcal N(0,I)$ gives a function that integrates to **0.5**, not 1: half of the
# > probability arrives through the other preimage. *Check (cells below):* the one-branch
# > density integrates to 0.5 and its histogram distance is far above the noise level
# > (both asserted), while the two repairs integrate to 1. *(R, "non-linear extension" of
# > the 2-D example, presented as flows handling "local stretching/compression".)*

# %% [markdown] slideshow={"slide_type": "subslide"}
# **Repairing it.** Restrict the domain to $U=\mathbb R\times(0,\infty)$. On $U$ the map is a
# bijection onto $V=\mathbb R\times(0,\infty)$ with inverse
# $z_2=\sqrt{x_2},\ z_1=\tfrac12(x_1-\sin\sqrt{x_2})$, it is $C^\infty$ and $\det J_g=4z_2>0$:
# a diffeomorphism $U\to V$. Two correct ways to use it:
#
# * **Conditional base.** If $z\sim\mathcal N(0,I)$ *conditioned on* $z_2>0$ (density
#   $2\varphi(z_1)\varphi(z_2)$ on $U$; sample with $z_2=|\text{normal}|$), then
#   $p_X(x)=2\varphi(z_1)\varphi(z_2)/(4z_2)$ with $z=g^{-1}(x)$.
# * **Full base, sum over preimages.** If $z\sim\mathcal N(0,I)$ on all of $\mathbb R^2$, split
#   the domain into $z_2>0$ and $z_2<0$ (the fold line has probability 0), use the
#   diffeomorphism on each piece and add the contributions:
#   $p_X(x)=\sum_{k=1,2}p_Z(z^{(k)})/|\det J_g(z^{(k)})|$ over both preimages $z^{(k)}$
#   (`cov.log_prob_after_branches`).
#
# These are two *different* distributions ($\sin z_2$ changes sign between the branches),
# and each must integrate to 1. Near the fold the density behaves like $1/\sqrt{x_2}$, which
# a uniform midpoint grid under-counts; we integrate on strips in $x_2$ that shrink
# geometrically towards 0, each with `cu.grid.integrate_density_2d`.

# %%
def branch(sign):
    # inverse of g on the piece sign * z2 > 0
    def inv(x):
        z2 = sign * x[:, 1].clamp_min(0).sqrt()
        return torch.stack([(x[:, 0] - torch.sin(z2)) / 2, z2], dim=1)
    return inv


def on_image(logp):
    # the image is x2 > 0; outside it the density is 0
    return lambda x: torch.where(x[:, 1] > 0, logp(x), torch.tensor(-math.inf))


log_half_normal = lambda z: log_normal(z) + math.log(2.0)  # N(0, I) conditioned on z2 > 0
log_p_cond = on_image(lambda x: cov.log_prob_after(g_nl, log_half_normal, x, inverse=branch(1.0)))
log_p_full = on_image(lambda x: cov.log_prob_after_branches(g_nl, log_normal, x, inverses=[branch(1.0), branch(-1.0)]))
log_p_naive = on_image(lambda x: cov.log_prob_after(g_nl, log_normal, x, inverse=branch(1.0)))


def integrate_strips(logp, x1_lim=(-14.0, 14.0), top=40.0, n=60):
    # x2 in (0, 1e-12), (1e-12, 1e-11), ..., (10, 40): fine cells where 1/sqrt(x2) is steep
    edges = [0.0] + [10.0**k for k in range(-12, 2)] + [top]
    return sum(cu.grid.integrate_density_2d(logp, lim=(*x1_lim, lo, hi), n=n)
               for lo, hi in zip(edges[:-1], edges[1:], strict=True))


masses = {}
for name, f in (("conditional base, one branch", log_p_cond), ("full base, sum of 2 branches", log_p_full),
                ("full base, one branch (wrong)", log_p_naive)):
    uniform = cu.grid.integrate_density_2d(f, lim=(-14.0, 14.0, 0.0, 40.0), n=300)
    masses[name] = integrate_strips(f)
    print(f"{name:32s} integral: graded strips {masses[name]:.4f} | uniform 300x300 grid {uniform:.4f}")
m_ok1, m_ok2, m_naive = masses.values()
assert abs(m_ok1 - 1) < 0.01 and abs(m_ok2 - 1) < 0.01 and abs(m_naive - 0.5) < 0.01

# %%
gen = torch.Generator().manual_seed(5)
z_full = torch.randn(100_000, 2, generator=gen)
x_full = g_nl(z_full)
x_cond = g_nl(torch.stack([z_full[:, 0], z_full[:, 1].abs()], 1))   # z2 > 0 by folding the normal
# the window starts at x2 = 0.25: the singular strip 0 < x2 < 0.25 counts as one "outside" bin
# (its model mass is 1 minus the rest), so midpoint sums are only used where p_X is smooth
win, nb = (-9.0, 9.0, 0.25, 9.25), 30
print(f"noise level ~ {0.5 * math.sqrt(2 * nb * nb / (math.pi * 100_000)):.3f} at most")
print(f"samples of g(z | z2 > 0) vs conditional density: TV = {cov.histogram_tv(x_cond, log_p_cond, win, nb):.3f}")
print(f"samples of g(z), z ~ N(0, I) vs sum over branches: TV = {cov.histogram_tv(x_full, log_p_full, win, nb):.3f}")
tv_naive = cov.histogram_tv(x_full, log_p_naive, win, nb)
print(f"samples of g(z), z ~ N(0, I) vs one branch (wrong): TV = {tv_naive:.3f}")
assert tv_naive > 5 * 0.5 * math.sqrt(2 * nb * nb / (math.pi * 100_000))  # 5x the noise bound
print(f"samples of g(z), z ~ N(0, I) vs conditional density: TV = {cov.histogram_tv(x_full, log_p_cond, win, nb):.3f}")

# %%
fig, axes = plt.subplots(1, 3, figsize=(13, 4))
win = (-6.0, 6.0, 0.0, 3.0)
xs, ys, lp_full, _ = cu.grid.evaluate_on_grid(log_p_full, lim=win, n=200)
_, _, lp_cond, _ = cu.grid.evaluate_on_grid(log_p_cond, lim=win, n=200)
axes[0].hist2d(x_full[:, 0].numpy(), x_full[:, 1].numpy(), bins=100, range=[win[:2], win[2:]],
               density=True, vmax=0.25, cmap="magma")
axes[0].set_title("histogram of g(z), z ~ N(0, I)")
axes[1].imshow(lp_full.exp(), origin="lower", extent=win, vmin=0, vmax=0.25, cmap="magma", aspect="auto")
axes[1].set_title("sum over both preimages")
im = axes[2].imshow(lp_cond.exp(), origin="lower", extent=win, vmin=0, vmax=0.25, cmap="magma", aspect="auto")
axes[2].set_title("conditional base z2 > 0 (one branch)")
for ax in axes:
    ax.set(xlabel="$x^{(1)}$", ylabel="$x^{(2)}$")
fig.colorbar(im, ax=axes, label="density $p_X$ (1 / unit area), clipped at 0.25", shrink=0.9)
fig.suptitle("x = (2 z1 + sin z2, z2^2): histogram (left) and the two correct densities")
plt.show()

# %% [markdown] slideshow={"slide_type": "slide"}
# ## 5. Box–Muller as a change of variables *(optional)*
#
# M's example: $u=(u_1,u_2)\sim\nu=\mathrm{Unif}(0,1)^2$ and
#
# $$z=f(u)=\big(\sqrt{-2\log u_1}\cos 2\pi u_2,\ \sqrt{-2\log u_1}\sin 2\pi u_2\big).$$
#
# With $r=\sqrt{-2\log u_1}$ and $\theta=2\pi u_2$ the map is "polar coordinates after a
# radial warp". Chain rule: $\det\partial z/\partial(r,\theta)=r$, $dr/du_1=-1/(u_1r)$,
# $d\theta/du_2=2\pi$, so
#
# $$\det J_f(u)=r\cdot\Big(-\frac1{u_1r}\Big)\cdot2\pi=-\frac{2\pi}{u_1},\qquad
# \pi(z)=\frac{\nu(u)}{|\det J_f(u)|}=\frac{u_1}{2\pi}=\frac{e^{-|z|^2/2}}{2\pi},$$
#
# using $u_1=e^{-r^2/2}$: exactly $\mathcal N(0,I_2)$. SymPy confirms, then autograd, the
# grid and the histogram.

# %%
u1, u2 = sp.symbols("u1 u2", positive=True)
r = sp.sqrt(-2 * sp.log(u1))
f_sym = sp.Matrix([r * sp.cos(2 * sp.pi * u2), r * sp.sin(2 * sp.pi * u2)])
det_f = sp.simplify(f_sym.jacobian([u1, u2]).det())
print("det J_f(u) =", det_f)
density_z = 1 / sp.Abs(det_f)          # nu(u) = 1 on the unit square
target = sp.exp(-(f_sym[0] ** 2 + f_sym[1] ** 2) / 2) / (2 * sp.pi)
print("1/|det J_f| - N(0, I)(f(u)) simplifies to", sp.simplify(density_z - target))


# %%
def box_muller(u):
    r = torch.sqrt(-2 * torch.log(u[:, 0]))
    theta = 2 * math.pi * u[:, 1]
    return torch.stack([r * torch.cos(theta), r * torch.sin(theta)], dim=1)


def box_muller_inv(z):
    u1 = torch.exp(-0.5 * (z**2).sum(dim=1))
    u2 = torch.remainder(torch.atan2(z[:, 1], z[:, 0]), 2 * math.pi) / (2 * math.pi)
    return torch.stack([u1, u2], dim=1)


def log_uniform(u):
    inside = ((u > 0) & (u < 1)).all(dim=1)
    return torch.where(inside, 0.0, -math.inf)


log_p_bm = lambda z: cov.log_prob_after(box_muller, log_uniform, z, inverse=box_muller_inv)
gen = torch.Generator().manual_seed(6)
z_pts = 2 * torch.randn(6, 2, generator=gen)
print("M eq. 11.5 by autograd == log N(0, I):", torch.allclose(log_p_bm(z_pts), log_normal(z_pts), atol=1e-12))
print(f"integral of the Box-Muller density on [-7, 7]^2: {cu.grid.integrate_density_2d(log_p_bm, lim=7.0, n=300):.4f}")
u = torch.rand(100_000, 2, generator=gen)
z_bm = box_muller(u)
z_ref = torch.randn(100_000, 2, generator=gen)
print(f"TV(Box-Muller samples, density) = {cov.histogram_tv(z_bm, log_p_bm, 4.0, bins=30):.3f}; "
      f"same for torch.randn samples (reference) = {cov.histogram_tv(z_ref, log_p_bm, 4.0, bins=30):.3f}; "
      f"noise level ~ {0.5 * math.sqrt(2 * 900 / (math.pi * 100_000)):.3f} at most")

# %% [markdown] slideshow={"slide_type": "subslide"}
# > **Pitfall.** *Common mistake:* "from
# > $\int\pi(f(u))\,|\det J_f(u)|\,du=\int\nu(u)\,du$, cancel the integrals to get
# > $\pi(f(u))\,|\det J_f(u)|=\nu(u)$." Equal integrals over the whole space do **not** give
# > equal integrands: the first equation holds for *every* density $\pi$ whatsoever, because
# > both sides equal 1. The correct argument uses every region $B$ of the $u$-square:
# > $P(U\in B)=P(Z\in f(B))$ gives $\int_B\nu=\int_B\pi(f(u))|\det J_f|\,du$ for all $B$, and
# > only that forces the integrands to agree (almost everywhere). *Check (next cell):* the
# > **wrong** target $\tilde\pi=\mathcal N(0,\tfrac12I)$ satisfies the integral identity
# > (integral 1, asserted), yet $\tilde\pi(f(u))|\det J_f|=2u_1\ne1=\nu(u)$ pointwise
# > (asserted). The Box–Muller density itself is right, as checked above. Also, $f$ is a
# > bijection only up to sets of zero area: on $(0,1]^2$ the whole edge $u_1=1$ maps to the
# > origin; on the open square it is a diffeomorphism onto $\mathbb R^2$ minus the ray
# > $\{z_2=0,\ z_1\ge0\}$, which is enough. *(M §11, eqs. (11.3)–(11.4).)*

# %%
log_wrong = lambda z: -(z**2).sum(dim=1) - math.log(math.pi)   # N(0, I/2), a different density
abs_det = lambda u: 2 * math.pi / u[:, 0]                      # |det J_f(u)|
lhs = lambda u: torch.log(abs_det(u)) + log_wrong(box_muller(u))
mass_wrong = cu.grid.integrate_density_2d(lhs, lim=(0.0, 1.0), n=400)
print(f"integral identity with the wrong target: integral over the u-square = {mass_wrong:.4f}")
u_pts = torch.tensor([[0.1, 0.3], [0.3, 0.6], [0.9, 0.8]])
print("but pointwise pi~(f(u)) |det J_f(u)| =", lhs(u_pts).exp().numpy().round(4), "instead of nu(u) = 1")
assert abs(mass_wrong - 1) < 1e-3 and torch.allclose(lhs(u_pts).exp(), 2 * u_pts[:, 0])
print("edge u1 = 1 collapses to the origin:", box_muller(torch.tensor([[1.0, 0.2], [1.0, 0.7]])).abs().max().item() == 0.0)

# %% [markdown] slideshow={"slide_type": "slide"}
# ## 6. Composition: log-determinants add
#
# R's two-step example: a shear $h=(z_1,\ z_2+az_1)$ ($\det=1$) followed by a scale and shift
# $x=(\sigma_1h_1+b_1,\ \sigma_2h_2+b_2)$ ($\det=\sigma_1\sigma_2$). The chain rule gives
# $\log|\det J_g|=\log|\det J_{g_2}(h)|+\log|\det J_{g_1}(z)|=\log|\sigma_1\sigma_2|$: the
# shear moves mass around without changing any area. This sum over layers, M's eq. 11.7, is
# what notebook 05 trains.

# %%
a, s1, s2, b1, b2 = 1.5, 0.5, 3.0, 1.0, -1.0
g1 = lambda z: torch.stack([z[:, 0], z[:, 1] + a * z[:, 0]], 1)
g2 = lambda h: torch.stack([s1 * h[:, 0] + b1, s2 * h[:, 1] + b2], 1)
z_pts = torch.randn(5, 2, generator=torch.Generator().manual_seed(7))
whole = cov.log_abs_det_jacobian(lambda z: g2(g1(z)), z_pts)
parts = cov.log_abs_det_jacobian(g1, z_pts) + cov.log_abs_det_jacobian(g2, g1(z_pts))
print(f"log|det J_g| = {whole[0]:.4f} at every point: {torch.allclose(whole, whole[0].expand(5))}; "
      f"sum over layers {parts[0]:.4f}; log(s1 s2) = {math.log(s1 * s2):.4f}")

# %% [markdown] slideshow={"slide_type": "slide"}
# ## Summary
#
# * For a diffeomorphism $g$ and $x=g(z)$:
#   $\log p_X(x)=\log p_Z(z)-\log|\det J_g(z)|$, $z=g^{-1}(x)$; equivalently
#   $+\log|\det J_{g^{-1}}(x)|$. In 1-D it follows from the CDF; the absolute value handles
#   decreasing maps. Notation: $p_X=g_\#p_Z$. Where $g$ stretches ($|g'|>1$) the density
#   drops, where it compresses it rises: for $g_a(z)=z+a\tanh z$ the log-det update
#   $-\log g_a'(z)$ moves the centre's density from a spike ($a\to-1$) to a dip ($a>1$).
# * *Diffeomorphism* means a differentiable bijection **with a differentiable inverse**;
#   for a $C^1$ bijection that is the same as $\det J_g\ne0$ everywhere (inverse function
#   theorem). $z\mapsto z^3$ is a smooth bijection that is not one.
# * Linear maps: $J=A$, the push-forward of $\mathcal N(0,I)$ is $\mathcal N(0,AA^\top)$; its
#   equal-density ellipses have axes $\sigma_iu_i$ from the SVD, which are the eigenvectors
#   of $A$ only when $A$ is symmetric.
# * A map that is many-to-one needs either a restricted domain (with the base conditioned on
#   it) or a sum over all preimages; one branch alone loses probability.
# * Box–Muller is the change of variables with $|\det J_f|=2\pi/u_1$, and it produces
#   exactly $\mathcal N(0,I_2)$.
# * Always check a density twice: it integrates to 1, and it matches a histogram. A missing
#   Jacobian alone integrates to $|\det J|\ne1$ and fails the first test, but a missing
#   Jacobian combined with a wrong inverse (as $\varphi(x-3)$ for $2Z+3$) can pass it.
#
# ## Check yourself
#
# 1. $X=-3Z+1$ with $Z\sim\mathcal N(0,1)$: write $p_X$ from the CDF. Where does the absolute
#    value come from?
#
# <details><summary>Answer</summary>
#
# $F_X(x)=P(-3Z+1\le x)=P\big(Z\ge\frac{1-x}{3}\big)=1-\Phi\big(\frac{1-x}{3}\big)$, so
# $p_X(x)=\frac13\varphi\big(\frac{1-x}{3}\big)=\frac13\varphi\big(\frac{x-1}{3}\big)$, the
# $\mathcal N(1,9)$ density. The map decreases, so the CDF route brings a minus sign that
# cancels the negative $dg^{-1}/dx=-\frac13$: that is the absolute value.
# </details>
#
# 2. Why does $\tfrac12\varphi(x-3)$ integrate to $\tfrac12$ while $\varphi(x-3)$ integrates to 1,
#    and which of the two checks in section 1 catches the second mistake?
#
# <details><summary>Answer</summary>
#
# $\tfrac12\varphi(x-3)$ is half of the $\mathcal N(3,1)$ density, so it integrates to
# $\tfrac12$; $\varphi(x-3)$ *is* a density (of $\mathcal N(3,1)$), so it integrates to 1 and
# only the histogram distance catches it.
# </details>
#
# 3. Give a smooth bijection $\mathbb R^2\to\mathbb R^2$ that is not a diffeomorphism.
#
# <details><summary>Answer</summary>
#
# $g(z_1,z_2)=(z_1^3,z_2)$: a smooth bijection with $\det J_g=3z_1^2=0$ on the line
# $z_1=0$, where the inverse $(x_1^{1/3},x_2)$ is not differentiable.
# </details>
#
# 4. For $A=\begin{pmatrix}1&2\\0&1\end{pmatrix}$ (a shear): what is the area of the ellipse
#    $A\cdot\{|z|=1\}$, and along which vectors do its axes point? Does $A$ have two
#    independent eigenvectors?
#
# <details><summary>Answer</summary>
#
# $\det A=1$, so the area is $\pi$. The axes point along the left singular vectors:
# $\sigma_1=1+\sqrt2\approx2.414$ along $u_1\approx(0.924,0.383)$ (22.5° above the
# $x^{(1)}$-axis), $\sigma_2=\sqrt2-1\approx0.414$ along $u_2\perp u_1$; $\sigma_1\sigma_2=1$.
# $A$ has the eigenvalue 1 twice but only one independent eigenvector, $(1,0)$.
# </details>
#
# 5. For $x=(2z_1+\sin z_2,\,z_2^2)$ with $z\sim\mathcal N(0,I)$, how many preimages does
#    $x=(1,4)$ have? Write $p_X(1,4)$ as a sum.
#
# <details><summary>Answer</summary>
#
# Two: $z_2=\pm2$ and $z_1=\frac12(1-\sin z_2)$, i.e. $z^{(1)}=(\frac{1-\sin2}{2},2)$ and
# $z^{(2)}=(\frac{1+\sin2}{2},-2)$, each with $|\det J_g|=4|z_2|=8$. So
# $p_X(1,4)=\frac{\varphi(2)}{8}\big[\varphi\big(\frac{1-\sin2}{2}\big)+\varphi\big(\frac{1+\sin2}{2}\big)\big]\approx0.0044$.
# </details>
#
# 6. Box–Muller: which region of the $u$-square is mapped to the disc $|z|\le1$? Compute
#    its area and compare with $P(|Z|\le1)=1-e^{-1/2}$.
#
# <details><summary>Answer</summary>
#
# $|z|\le1$ means $-2\log u_1\le1$, i.e. $u_1\ge e^{-1/2}$: the strip
# $[e^{-1/2},1)\times(0,1)$, of area $1-e^{-1/2}\approx0.3935=P(|Z|\le1)$, as it must be.
# </details>
#
# 7. Which form of the formula (forward Jacobian or inverse Jacobian) would you use to
#    evaluate the likelihood of data if only $g^{-1}$ were cheap to differentiate?
#
# <details><summary>Answer</summary>
#
# The inverse form, $\log p_X(x)=\log p_Z(g^{-1}(x))+\log|\det J_{g^{-1}}(x)|$: it needs
# only $g^{-1}$ and its Jacobian at the data point, which is what a likelihood evaluation
# starts from anyway.
# </details>
#
# ## References
#
# * **R** — Ray, *Image Generation using Normalizing Flows and Flow Matching* (slides):
#   §3–4, the 1-D example $2Z+3$, the 2-D linear and non-linear examples, the two-layer flow.
# * **K** — Khungurn, notes on *Flow Matching for Generative Modeling*: Definitions 2 and 5,
#   Lemma 6 (push-forward).
# * **M** — Miyamoto, *Machine Learning for Physicists* recitation notes: §11, Box–Muller and
#   eq. 11.1–11.7.
# * G. E. P. Box and M. E. Muller, "A note on the generation of random normal deviates",
#   *Ann. Math. Statist.* 29 (1958) 610–611.
# * M. Spivak, *Calculus on Manifolds* (1965), ch. 2–3: inverse function theorem and the
#   change-of-variables theorem for integrals.
# * D. J. Rezende and S. Mohamed, "Variational inference with normalizing flows", ICML 2015.
# * L. Dinh, J. Sohl-Dickstein and S. Bengio, "Density estimation using Real NVP", ICLR 2017.
# * G. Papamakarios, E. Nalisnick, D. J. Rezende, S. Mohamed and B. Lakshminarayanan,
#   "Normalizing flows for probabilistic modeling and inference", JMLR 22 (2021).
