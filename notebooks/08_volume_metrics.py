# %% [markdown] slideshow={"slide_type": "slide"}
# # 08 · Volume mapping around a data point
#
# How does a trained flow-matching model deform a small ball around a data point when it
# maps the ball back to the latent space? This notebook works through note G in full,
# in the course's conventions: the reverse map, the exact and the linearised image of a
# sphere, six metrics that compare them, the Jacobian and Jacobian–vector products from
# augmented ODEs, and the singular values that turn the ball into an ellipsoid.
#
# **Learning objectives.** After this notebook you can
# 1. relate cosine similarity and ℓ2 distance (G §1) and say when they rank pairs alike;
# 2. write the forward map ψ and the reverse map φ of a flow as Euler recursions in one time
#    convention, and explain why the note's reverse-time ODE needs care;
# 3. sample uniformly on spheres and in balls in $d$ dimensions;
# 4. compute G's metrics $D_0, C_0, S_0, D_1, C_1, S_1$ exactly and by linearisation, and
#    predict how they scale with the radius $r$;
# 5. derive the augmented Jacobian ODE and the JVP ODE, check them against autograd, and
#    choose between them by cost;
# 6. read the SVD of the Jacobian as the shape of the mapped ball and $\log|\det J|$ as the
#    volume change of notebook 06.
#
# **Prerequisites.** 02 (Euler), 04 (SVD), 06 (instantaneous change of variables),
# 07 (flow matching). **Estimated time:** 90 minutes.
#
# **Notation.** Time runs from $t=0$ (latent, $\mathcal N(0,I)$) to $t=1$ (data), as everywhere.
# Following G, time is written as an argument and the subscript numbers the points of a
# sphere: $x_i(1)$ is the $i$-th point of the sphere around the centre $x^c$ and $x_i(0)$ its
# image in latent space. In the Euler recursions the subscript is the step number, $x_k$ at
# time $t_k=kh$. Coordinates are superscripts, $x^{(1)},x^{(2)}$, as on the figures' axes.

# %%
import math
import time

import matplotlib.pyplot as plt
import numpy as np
import sympy as sp
import torch
from torch.func import jacrev, jvp, vmap

import course_utils as cu
from course_utils import volume as vol

device = cu.setup(seed=0)
F64 = torch.float64

# %% [markdown] slideshow={"slide_type": "slide"}
# ## 1. Cosine similarity and ℓ2 distance (G §1)
#
# For $x, y\in\mathbb R^d$,
# $$S_C(x,y)=\frac{x^\top y}{\|x\|\,\|y\|},\qquad d_{\ell_2}(x,y)=\|x-y\|.$$
# Expanding the square gives (G eq. 3–4)
# $$d_{\ell_2}^2(x,y)=\|x\|^2+\|y\|^2-2\,S_C(x,y)\,\|x\|\,\|y\|,$$
# and for unit vectors (G eq. 5) $\tfrac12 d_{\ell_2}^2 = 1-S_C$. SymPy confirms the expansion
# for symbolic vectors, and a numerical check confirms both identities.

# %%
xs = sp.Matrix(sp.symbols("x1:4", real=True))
ys = sp.Matrix(sp.symbols("y1:4", real=True))
lhs = (xs - ys).dot(xs - ys)
nx, ny = sp.sqrt(xs.dot(xs)), sp.sqrt(ys.dot(ys))
rhs = xs.dot(xs) + ys.dot(ys) - 2 * (xs.dot(ys) / (nx * ny)) * nx * ny
print("G eq. 4 holds symbolically:", sp.simplify(lhs - rhs) == 0)

g = torch.Generator().manual_seed(0)
x, y = torch.randn(1000, 8, generator=g, dtype=F64), torch.randn(1000, 8, generator=g, dtype=F64)
sc, d2 = vol.cosine_similarity(x, y), vol.l2_distance(x, y) ** 2
err4 = (d2 - (x.norm(dim=1) ** 2 + y.norm(dim=1) ** 2 - 2 * sc * x.norm(dim=1) * y.norm(dim=1))).abs().max()
xu, yu = x / x.norm(dim=1, keepdim=True), y / y.norm(dim=1, keepdim=True)
err5 = (0.5 * vol.l2_distance(xu, yu) ** 2 - (1 - vol.cosine_similarity(xu, yu))).abs().max()
print(f"eq. 4 max error < 1e-12: {bool(err4 < 1e-12)}; "
      f"eq. 5 max error < 1e-12: {bool(err5 < 1e-12)}")

# %% [markdown] slideshow={"slide_type": "subslide"}
# So on **normalised** vectors ℓ2 distance is a decreasing function of cosine similarity:
# both rank pairs identically (nearest neighbours agree). On raw vectors they do not, because
# the norms enter eq. 4. The next cell counts how often the two disagree on which of two
# candidates is closer to a query.

# %%
q, a, c = (torch.randn(5000, 8, generator=g, dtype=F64) * torch.rand(5000, 1, generator=g, dtype=F64) * 3
           for _ in range(3))
same_raw = ((vol.cosine_similarity(q, a) > vol.cosine_similarity(q, c))
            == (vol.l2_distance(q, a) < vol.l2_distance(q, c))).double().mean()
n = lambda z: z / z.norm(dim=1, keepdim=True)
same_unit = ((vol.cosine_similarity(n(q), n(a)) > vol.cosine_similarity(n(q), n(c)))
             == (vol.l2_distance(n(q), n(a)) < vol.l2_distance(n(q), n(c)))).double().mean()
print(f"rankings agree: raw vectors {float(same_raw):.3f}, unit vectors {float(same_unit):.3f}")

# %% [markdown] slideshow={"slide_type": "slide"}
# ## 2. A flow-matching model to study
#
# We need a trained velocity field $v(t,x)$. We train it with the recipe of notebook 07 §8,
# through the package's `fm.train`: the conditional flow-matching loss on the OT path
# ($x_t=(1-t)x_0+t x_1$, target $x_1-x_0$), noise at $t=0$ and data (two moons) at $t=1$, an MLP
# of width 128 on $[x,t]$, the learning rate $8\times10^{-3}$ with a cosine decay and an
# average of the weights, 1500 steps, and mini-batch optimal-transport pairing (batches of
# 128), whose nearly straight trajectories suit the fixed-step Euler maps used throughout
# this notebook (07 §7.2 explains the learning rate). Its quality is the energy distance to
# held-out data as a multiple of the floor
# (defined in [07 §7.1, "Measuring sample quality: the energy distance and its floor"](../notebooks/07_flow_matching.ipynb));
# notebook 07 shows what 1×, 3× and 30× look like. For a sharper model raise `steps`.
# **Training cell.**

# %% tags=["nbval-ignore-output"]
data = cu.data.get("two_moons")
g = torch.Generator().manual_seed(0)
torch.manual_seed(0)
model = cu.flow_matching.VelocityMLP(dim=2, hidden=128, n_hidden=3, n_freq=0)
start = time.process_time()
result = cu.flow_matching.train(
    model, lambda n, gen: data.sample(n, generator=gen), steps=1500, batch_size=128, lr=8e-3,
    schedule="cosine", ema=0.999, coupling="ot", weight_decay=0.01,
    generator=torch.Generator().manual_seed(0),
    callback=lambda k, loss, _: print(f"  step {k}/1500") if k % 500 == 0 else None,
)
cpu = time.process_time() - start
v = result.model.double().requires_grad_(False)  # float64 for all the analysis below
print(f"trained {result.steps} steps in {cpu:.1f} s CPU; "
      f"last 100 losses average {np.mean(result.losses[-100:]):.3f}")
g_eval = torch.Generator().manual_seed(1234)  # the held-out set and floor of notebook 07
held = data.sample(2000, generator=g_eval, dtype=F64)
floor = cu.metrics.energy_distance_floor(data.sample(4000, generator=g_eval, dtype=F64), 2000, 2000)
with torch.no_grad():
    z = torch.randn(2000, 2, generator=torch.Generator().manual_seed(2), dtype=F64)
    samples = vol.forward_map(v, z, 50)
    # one draw of the ratio fluctuates by several tenths (07 §7.1): average five draws
    draws = [samples] + [vol.forward_map(v, torch.randn(2000, 2, generator=torch.Generator().manual_seed(10 + k),
                                                        dtype=F64), 50) for k in range(4)]
ratios = [cu.metrics.energy_distance(x, held) / floor for x in draws]
print(f"energy distance to held-out data, 5 draws of 2000 samples (50 Euler steps): "
      f"mean {np.mean(ratios):.2f} x floor (draws {min(ratios):.2f}-{max(ratios):.2f}; plotted draw {ratios[0]:.2f})")
assert np.mean(ratios) < 2.0

# %%
fig, axes = plt.subplots(1, 2, figsize=(10, 4))
cu.plotting.scatter(held, ax=axes[0], lim=2.5, title="held-out data (two moons)")
cu.plotting.scatter(samples, ax=axes[1], lim=2.5, title="model samples: forward map ψ, 50 Euler steps")
plt.show()


# %% [markdown] slideshow={"slide_type": "slide"}
# ## 3. The forward map ψ and the reverse map φ
#
# One ODE, $\frac{d}{dt}x(t)=v(t,x(t))$, serves both directions. The **forward map**
# $\psi$ integrates it from $t=0$ (latent) to $t=1$ (data); the **reverse map** $\varphi$
# integrates *the same ODE* from $t=1$ down to $t=0$. With $N$ Euler steps, $h=1/N$,
# $t_k=kh$ (G eq. 9 and 11):
# $$\psi:\ x_{k+1}=x_k+h\,v(t_k,x_k),\ k=0,\dots,N-1;\qquad
#   \varphi:\ x_{k-1}=x_k-h\,v(t_k,x_k),\ k=N,\dots,1.$$
# These are the few lines `cu.volume.forward_map` / `reverse_map` implement; here they are
# written out and compared with the package.

# %%
def psi(z, n):
    h = 1.0 / n
    for k in range(n):
        z = z + h * v(torch.tensor(k * h, dtype=F64), z)
    return z


def phi(x, n):
    h = 1.0 / n
    for k in range(n, 0, -1):
        x = x - h * v(torch.tensor(k * h, dtype=F64), x)
    return x


x_test = data.sample(200, generator=torch.Generator().manual_seed(3), dtype=F64)
print("psi matches cu.volume.forward_map:", torch.allclose(psi(z[:200], 40), vol.forward_map(v, z[:200], 40), atol=1e-13))
print("phi matches cu.volume.reverse_map:", torch.allclose(phi(x_test, 40), vol.reverse_map(v, x_test, 40), atol=1e-13))

# %% [markdown] slideshow={"slide_type": "subslide"}
# *Reminder:* the reverse map integrates the **same** field from $t=1$ down to $t=0$; flipping
# the sign of the field *and* the direction of time moves the points the wrong way (G writes
# the reverse ODE in that doubly flipped form, eq. 10, 24, 27–29, 38–39, while its Euler
# recursions are right); see
# [02, "Integrating backwards in time, and the round trip"](../notebooks/02_odes.ipynb#reverse-time-sign).
# For a linear field $v=Ax$ the course's $\varphi$ must approach $e^{-A}x$:

# %%
A = torch.tensor([[0.5, -1.0], [1.0, 0.2]], dtype=F64)
x_lin = torch.tensor([[1.0, 0.5]], dtype=F64)
err_lin = float((vol.reverse_map(lambda t, x: x @ A.T, x_lin, 200) - x_lin @ torch.linalg.matrix_exp(-A).T).norm())
print(f"|phi(x) - exp(-A) x| with 200 Euler steps: {err_lin:.1e}")
assert err_lin < 1e-2  # the doubly flipped ODE would give exp(+A) x, an O(1) error

# %% [markdown] slideshow={"slide_type": "subslide"}
# Euler is not exactly invertible: $\psi_N(\varphi_N(x))\ne x$. The round-trip error is the
# sum of two first-order discretisation errors, so it should fall like $1/N$: the measured
# log–log slope is close to −1.

# %% tags=["nbval-ignore-output"]
steps_list = [10, 20, 40, 80, 160]
rt = [float((vol.forward_map(v, vol.reverse_map(v, x_test, n), n) - x_test).norm(dim=1).mean())
      for n in steps_list]
fig, ax = plt.subplots()
ax, slope = cu.plotting.loglog(steps_list, rt, ax=ax, label="mean |ψ(φ(x)) − x|")
ax.set(title="Round trip ψ∘φ with N Euler steps", xlabel="N (Euler steps)", ylabel="error")
plt.show()
print(f"slope {slope:.2f}; error at N = 160: {rt[-1]:.1e}")
assert -1.2 < slope < -0.8

# %% [markdown] slideshow={"slide_type": "slide"}
# ## 4. A ball around a data point, mapped back to the latent space (G §2.1–2.3)
#
# Points on the sphere of radius $r$ around $x^c$ (G eq. 12, 15) are drawn uniformly:
# normalise standard normal vectors (the normal density depends only on the norm, so the
# direction is uniform), and for the *ball* scale the radius by $U^{1/d}$, since a uniform
# point has $P(\|x\|\le s)=(s/r)^d$. The checks: norms equal $r$; the covariance of a uniform
# point on the sphere is $\frac{r^2}{d}I$; a fraction $2^{-d}$ of the ball lies within $r/2$.

# %%
g = torch.Generator().manual_seed(4)
for d in (2, 5, 20):
    s = vol.sample_sphere(20_000, d, radius=2.0, generator=g)
    cov_err = (s.T @ s / s.shape[0] - 4.0 / d * torch.eye(d, dtype=F64)).abs().max()
    ball = vol.sample_ball(20_000, d, generator=g)
    inner = (ball.norm(dim=1) <= 0.5).double().mean()
    print(f"d = {d:2d}: norms = 2 exactly: {bool(torch.allclose(s.norm(dim=1), torch.tensor(2.0, dtype=F64)))}, "
          f"max |cov - r^2/d I| = {float(cov_err):.3f}, P(|x| <= r/2) = {float(inner):.4f} "
          f"(2^-d = {2.0 ** -d:.4f})")

# %% [markdown] slideshow={"slide_type": "subslide"}
# Each sphere point $x_i(1)=x^c+r\,u_i$ is mapped **exactly**, $x_i(0)=\varphi(x_i(1))$, and by
# the **linearisation** around the centre (G eq. 18)
# $$\tilde x_i(0)=x^c(0)+J_\varphi(x^c)\,(x_i(1)-x^c),\qquad x^c(0)=\varphi(x^c).$$
# Mapping $\tilde x_i(0)$ forward again gives $\tilde x_i(1)=\psi(\tilde x_i(0))$ (G eq. 21). We take
# one point in a dense region (on a moon) and one in a sparse region (between the moons).
# The figure reproduces the idea of G's Figures 1 and 2.

# %% tags=["nbval-ignore-output"]
N_STEPS = 50
points = {"dense": torch.tensor([-1.2, 0.9], dtype=F64), "sparse": torch.tensor([0.0, -1.4], dtype=F64)}
with torch.no_grad():
    logp = cu.flow_matching.log_prob(v, torch.stack(list(points.values())))
for (name, p), lp in zip(points.items(), logp):
    print(f"{name:6s} point {p.numpy()}: model log-density {float(lp):.2f} nats")
assert logp[0] > logp[1] + 1.0
u_dirs = vol.sample_sphere(64, 2, generator=torch.Generator().manual_seed(5))
fig, axes = plt.subplots(2, 3, figsize=(13, 8))
for row, (name, xc) in enumerate(points.items()):
    m = vol.volume_metrics(v, xc, 0.3, N_STEPS, directions=u_dirs)
    ax = axes[row, 0]
    cu.plotting.scatter(samples, ax=ax, s=1, alpha=0.2, title=f"{name}: sphere r = 0.3 in data space")
    ax.scatter(*m["x1"].T, s=6, color="tab:green", label="$x_i(1)$")
    ax.legend(loc="lower left")
    ax = axes[row, 1]
    ax.scatter(*m["x0"].T, s=8, color="tab:green", label="exact $\\varphi(x_i(1))$")
    ax.scatter(*m["x0_lin"].T, s=8, color="tab:blue", label="linear $\\tilde x_i(0)$")
    ax.scatter(*m["xc0"], marker="x", color="k", label="$x^c(0)$")
    ax.set(title=f"latent space (D0 = {m['D0']:.3f})", xlabel="$z^{(1)}$", ylabel="$z^{(2)}$", aspect="equal")
    ax.legend(loc="lower left", fontsize=7)
    ax = axes[row, 2]
    ax.scatter(*m["x1"].T, s=8, color="tab:green", label="$x_i(1)$")
    ax.scatter(*m["x1_lin"].T, s=8, color="tab:blue", label="$\\psi(\\tilde x_i(0))$")
    ax.set(title=f"back in data space (D1 = {m['D1']:.3f})", xlabel="$x^{(1)}$", ylabel="$x^{(2)}$", aspect="equal")
    ax.legend(loc="lower left", fontsize=7)
plt.tight_layout()
plt.show()

# %% [markdown] slideshow={"slide_type": "slide"}
# ## 5. The six metrics and how they scale with $r$ (G eq. 19–23)
#
# $$D_0=\tfrac1N\sum_i\|x_i(0)-\tilde x_i(0)\|,\quad C_0=\tfrac1N\sum_i\|x_i(0)-x^c(0)\|,\quad
# S_0=\tfrac1N\sum_i\|\tilde x_i(0)-x^c(0)\|,$$
# $$D_1=\tfrac1N\sum_i\|x_i(1)-\tilde x_i(1)\|,\quad C_1=\tfrac1N\sum_i\|x_i(1)-x^c\|=r,\quad
# S_1=\tfrac1N\sum_i\|\tilde x_i(1)-x^c\|.$$
#
# Predictions from Taylor's theorem: the linearisation error is second order, so
# $D_0=O(r^2)$, while $C_0$ and $S_0$ are $O(r)$ and agree to $O(r^2)$. In data space
# $D_1$ *would* be $O(r^2)$ too if $\psi$ inverted $\varphi$ exactly; with Euler it cannot fall
# below the round-trip error of section 3, so it flattens at small $r$ — a discretisation
# floor, not a property of the model. $C_1=r$ by construction (G eq. 23).

# %% tags=["nbval-ignore-output"]
radii = [0.4, 0.2, 0.1, 0.05, 0.025]
at_01 = {}
fig, axes = plt.subplots(1, 2, figsize=(11, 4))
for ax, (name, xc) in zip(axes, points.items()):
    rows = [vol.volume_metrics(v, xc, r, N_STEPS, directions=u_dirs) for r in radii]
    print(f"{name} point      r      D0      C0      S0      D1      C1      S1")
    for r, m in zip(radii, rows):
        print(f"{'':12s}{r:7.3f} " + " ".join(f"{m[k]:7.4f}" for k in ("D0", "C0", "S0", "D1", "C1", "S1")))
    _, s_d0 = cu.plotting.loglog(radii, [m["D0"] for m in rows], ax=ax, label="D0")
    cu.plotting.loglog(radii, [m["D1"] for m in rows], ax=ax, label="D1", fit=False)
    cu.plotting.loglog(radii, [abs(m["C0"] - m["S0"]) for m in rows], ax=ax, label="|C0 − S0|", fit=False)
    ax.set(title=f"{name} point: linearisation error vs radius", xlabel="r", ylabel="mean distance")
    ax.set_xticks(radii, [f"{r:g}" for r in radii])  # the measured radii; no overlapping minor labels
    ax.set_xticks([], minor=True)
    assert 1.7 < s_d0 < 2.3, s_d0
    assert all(abs(m["C1"] - r) < 1e-12 for r, m in zip(radii, rows))
    at_01[name] = rows[2]  # r = 0.1
plt.show()
assert at_01["sparse"]["C0"] > at_01["dense"]["C0"]  # the sparse point is stretched more
assert at_01["dense"]["D0"] / at_01["dense"]["C0"] > at_01["sparse"]["D0"] / at_01["sparse"]["C0"]

# %% [markdown] slideshow={"slide_type": "subslide"}
# Reading the tables: $C_0/r$ is the average stretch of the ball by $\varphi$ and $D_0/C_0$ the
# relative linearisation error. The sparse point (in the gap between the moons) is stretched
# more, while the map around the dense point bends more, so its linearisation error is
# larger at the same $r$ (both facts are asserted below the tables). $D_0$ falls with slope 2,
# and $D_1$ stops improving at the Euler round-trip floor.

# %% [markdown] slideshow={"slide_type": "subslide"}
# > **Pitfall.** *A tempting claim:* "the point between the moons has a low model density
# > because the reverse map stretches its neighbourhood over a large part of the latent
# > space." The change of variables says the opposite:
# > $\log p_1(x)=\log p_0(\varphi(x))+\log|\det J_\varphi(x)|$, so a larger stretch
# > ($|\det J_\varphi|>1$) *raises* the density. The sparse point's density is low because
# > $\varphi$ sends it into the **tail** of $\mathcal N(0,I)$. The cell below splits the two
# > terms: the sparse point has the larger log-determinant and still the lower density, which
# > the claim cannot explain. (Not a statement of the notes: a common misreading of pictures
# > such as G's Figures 1 and 2.)

# %% tags=["nbval-ignore-output"]
terms = {}  # name -> (log p0(phi(x)), log|det J_phi(x)|), Euler with N_STEPS steps
for name, xc in points.items():
    z_c, J_c = vol.reverse_map_with_jacobian(v, xc[None], N_STEPS)
    log_p0 = float(-0.5 * (z_c**2).sum() - math.log(2 * math.pi))
    log_det = float(torch.linalg.slogdet(J_c[0]).logabsdet)
    terms[name] = (log_p0, log_det)
    print(f"{name:6s}: |phi(x)| = {float(z_c.norm()):.2f}, log p0(phi(x)) = {log_p0:6.2f}, "
          f"log|det J_phi| = {log_det:5.2f}, sum = {log_p0 + log_det:6.2f} nats")
assert terms["sparse"][1] > terms["dense"][1]  # the sparse point is stretched more ...
assert terms["sparse"][0] < terms["dense"][0] - 1.0  # ... but lands far out in the Gaussian tail

# %% [markdown] slideshow={"slide_type": "slide"}
# ## 6. The Jacobian from an augmented ODE (G §2.4.1), in the course convention
#
# Let $x(t)$ solve $\dot x=v(t,x)$ with $x(1)=x^c$ and $J(t)=\partial x(t)/\partial x(1)$.
# Differentiating the ODE with respect to the initial value gives the **variational equation**
# $$\frac{d}{dt}J(t)=Dv\big(t,x(t)\big)\,J(t),\qquad J(1)=I,$$
# integrated together with $x$ from $t=1$ down to $t=0$; then $J(0)=J_\varphi(x^c)$. Its Euler step
# backwards (the derivative of the Euler step of $\varphi$, by the chain rule) is
# $$J_{k-1}=\big(I-h\,Dv(t_k,x_k)\big)\,J_k \quad\Longrightarrow\quad
# J_\varphi=M_1M_2\cdots M_N,\ \ M_k=I-h\,Dv(t_k,x_k).$$

# %% [markdown] slideshow={"slide_type": "subslide"}
# > **Pitfall.** *A tempting shortcut:* "the Jacobian of the Euler reverse map is
# > $\prod_{k}(I-h\,Dv(t_k,x_k))$, in whatever order the factors come." The factors do not
# > commute: the factor taken at $t=1$ acts **first** and stands rightmost,
# > $J_\varphi=M_1M_2\cdots M_N$. The cell below multiplies them in both orders: the right
# > order equals autograd through the Euler map to round-off, the reversed order differs at
# > the $10^{-4}$ level or more. (Source: G eq. 35 writes the product without fixing its
# > order.)

# %%
xc = points["dense"]
n = 30
h = 1.0 / n
x_k, factors = xc[None].clone(), []
for k in range(n, 0, -1):
    dv = vol.field_jacobian(v, k * h, x_k)[0]
    factors.append(torch.eye(2, dtype=F64) - h * dv)  # M_N, M_{N-1}, ..., M_1
    x_k = x_k - h * v(torch.tensor(k * h, dtype=F64), x_k)
J_right = torch.linalg.multi_dot(factors[::-1])  # M_1 M_2 ... M_N: M_N acts first
J_wrong = torch.linalg.multi_dot(factors)
J_autograd = torch.autograd.functional.jacobian(lambda y: vol.reverse_map(v, y[None], n)[0], xc)
_, J_aug = vol.reverse_map_with_jacobian(v, xc[None], n)
print("augmented recursion == autograd through Euler (1e-10):", torch.allclose(J_aug[0], J_autograd, atol=1e-10))
print("M_1...M_N == autograd (1e-10):", torch.allclose(J_right, J_autograd, atol=1e-10))
rel = float((J_wrong - J_right).norm() / J_right.norm())
print(f"reversed order differs by {rel:.1e} (relative):", rel > 1e-4)
assert torch.allclose(J_right, J_autograd, atol=1e-10) and rel > 1e-4

# %% [markdown] slideshow={"slide_type": "subslide"}
# ### Jacobian–vector products (G §2.4.2)
#
# To linearise $m$ sphere points we need only $J_\varphi u_i$, never $J_\varphi$ itself. With
# $s(t)=J(t)u$ the same variational equation gives $\dot s=Dv(t,x(t))\,s$, $s(1)=u$, stepped as
# $s_{k-1}=s_k-h\,Dv(t_k,x_k)s_k$ (G eq. 41). Each step needs a **JVP** of the field, which
# forward-mode AD gives at about the cost of one extra evaluation; all $m$ directions go in one
# batch. Forward-mode AD through the whole Euler map (`torch.func.jvp` under `vmap`, the
# batched form of the loop in the note) gives the same numbers.

# %%
u = vol.sample_sphere(16, 2, generator=torch.Generator().manual_seed(6))
_, s_ode = vol.reverse_map_jvp(v, xc, u, n)
_, s_ad = vol.reverse_map_jvp_autodiff(v, xc, u, n)
print("JVP recursion == J u (1e-10):", torch.allclose(s_ode, u @ J_aug[0].T, atol=1e-10))
print("torch.func.jvp == J u (1e-10):", torch.allclose(s_ad, u @ J_aug[0].T, atol=1e-10))

# %% [markdown] slideshow={"slide_type": "slide"}
# ## 7. The SVD of the Jacobian: ellipsoids and volume change
#
# Write $J_\varphi(x^c)=U\Sigma V^\top$ (notebook 04). The linearised image of the sphere of
# radius $r$ is $x^c(0)+r\,U\Sigma V^\top u$: an **ellipsoid with semi-axes $r\sigma_i$ along
# the columns of $U$**. For small $r$ the exact image is close to it, so the largest and smallest
# distances of $x_i(0)$ from $x^c(0)$ approach $r\sigma_1$ and $r\sigma_d$. The volume of the
# ellipsoid is $|\det J_\varphi|=\prod_i\sigma_i$ times the volume of the ball — the volume
# change of notebook 03 — and by the instantaneous change of variables (notebook 06)
# $$\log|\det J_\varphi(x^c)|=-\int_0^1 \operatorname{tr}Dv\big(t,x(t)\big)\,dt,$$
# which Euler turns into $\sum_k\log|\det M_k|\approx-h\sum_k\operatorname{tr}Dv(t_k,x_k)$.

# %% tags=["nbval-ignore-output"]
sig = torch.linalg.svdvals(J_aug[0])
r = 0.004
dense_dirs = vol.sample_sphere(2000, 2, generator=torch.Generator().manual_seed(7))
m = vol.volume_metrics(v, xc, r, n, directions=dense_dirs)
dist = (m["x0"] - m["xc0"]).norm(dim=1)
print(f"singular values of J_phi: {sig.numpy().round(4)}")
print(f"exact image of the r = {r} circle: max/r = {float(dist.max()) / r:.4f}, min/r = {float(dist.min()) / r:.4f}")
logdet = torch.linalg.slogdet(J_aug[0]).logabsdet
x_k, trace_sum = xc[None].clone(), 0.0
for k in range(n, 0, -1):
    trace_sum += h * float(torch.diagonal(vol.field_jacobian(v, k * h, x_k)[0]).sum())
    x_k = x_k - h * v(torch.tensor(k * h, dtype=F64), x_k)
print(f"log|det J| = {float(logdet):.4f}, sum log sigma = {float(sig.log().sum()):.4f}, "
      f"-h sum tr Dv = {-trace_sum:.4f}")
assert abs(float(dist.max()) / r - float(sig[0])) < 0.03 * float(sig[0])
assert abs(float(dist.min()) / r - float(sig[1])) < 0.03 * float(sig[0])
assert abs(float(logdet) - float(sig.log().sum())) < 1e-10
assert abs(float(logdet) + trace_sum) < 0.1

# %%
fig, ax = plt.subplots(figsize=(5, 5))
U, S, Vh = torch.linalg.svd(J_aug[0])
ax.scatter(*((m["x0"] - m["xc0"]) / r).T, s=2, color="tab:green", label="exact image / r")
for i in range(2):
    axis = (S[i] * U[:, i]).numpy()
    ax.plot([0, axis[0]], [0, axis[1]], lw=2, label=f"σ{i + 1} u{i + 1}")
ax.set(title="The mapped circle is (nearly) an ellipse\nwith semi-axes σ_i along U's columns",
       xlabel="$z^{(1)}$ (scaled)", ylabel="$z^{(2)}$ (scaled)", aspect="equal", xlim=(-2, 2), ylim=(-2, 2))
ax.legend(loc="upper right", fontsize=8)  # away from the centre, where the axes start
plt.show()

# %% tags=["widget", "nbval-ignore-output", "remove-output"]
# Interactive (in JupyterLab): grow the radius r of the circle around x^c and turn the
# direction u. Left, data space; right, the exact reverse image phi and its linearisation
# x^c(0) + r J u. Small r: the two agree and u goes to r sigma along the ellipse; large r: they part.
import ipywidgets as widgets
from IPython.display import display

circle_dirs = vol.sample_sphere(400, 2, generator=torch.Generator().manual_seed(8))
xc0 = vol.reverse_map(v, xc[None], n)[0]


def ball(r=0.1, angle=0.0):
    u = torch.tensor([[math.cos(math.radians(angle)), math.sin(math.radians(angle))]], dtype=F64)
    pts = torch.cat([xc + r * circle_dirs, xc + r * u])
    exact = vol.reverse_map(v, pts, n)
    lin = xc0 + r * torch.cat([circle_dirs, u]) @ J_aug[0].T
    fig, (a1, a2) = plt.subplots(1, 2, figsize=(9, 4))
    a1.scatter(*pts[:-1].T, s=2)
    a1.plot(*pts[-1], "r*", ms=12)
    a1.set(title=f"data space: circle of radius {r:.2f}", aspect="equal")
    a2.scatter(*exact[:-1].T, s=2, label="exact φ")
    a2.scatter(*lin[:-1].T, s=2, label="linearised")
    a2.plot(*exact[-1], "r*", ms=12)
    a2.set(title="latent space", aspect="equal")
    a2.legend(fontsize=8)
    plt.show()
    return float((exact - lin).norm(dim=1).mean() / r)


ball_ui = widgets.interactive(
    ball,
    r=widgets.FloatLogSlider(value=0.1, base=10, min=-2.5, max=0, step=0.1, description="radius r"),
    angle=widgets.FloatSlider(value=0.0, min=0.0, max=360.0, step=15.0, description="direction °"),
)
display(ball_ui)
# the linearisation error relative to r shrinks with r (the lesson of §5)
assert ball(0.01) < ball(0.5)
plt.close("all")


# %% [markdown] slideshow={"slide_type": "slide"}
# ## 8. Don't compute what you don't need: full Jacobian versus JVPs *(optional)*
#
# The full Jacobian costs $d$ JVPs (or $d$ vector–Jacobian products) per step; $m$ directions
# cost $m$ JVPs. Counting multiply–adds, JVPs should win by $d/m$. Wall time does not count
# multiply–adds, and three things pull the measured ratio below $d/m$:
#
# 1. **Fixed costs per Euler step** that do not scale with $d$ or $m$: the Python loop, and
#    above all the bookkeeping of `torch.func` (every operation of the field is re-dispatched
#    through the `vmap` and `jvp` transforms, dual tensors are built and unpacked). For small
#    $d$ this *is* the run time, and `jacrev` — one vectorised reverse sweep over a handful of
#    tiny matrices — can beat $m$ JVPs outright.
# 2. **Memory-bound matrix products.** Per step and per layer, $m$ JVPs multiply an
#    $(m+1)\times w$ block (the point and its $m$ tangents) by a $w\times w$ weight matrix: each
#    weight is read from memory for only $m+1$ multiply–adds, so the product runs at the speed
#    of memory, not of the arithmetic units. The full Jacobian's $d$ rows reuse each weight
#    $d$ times and run near peak speed. Per JVP the full Jacobian is simply cheaper.
# 3. **Costs outside the JVPs** work the other way: the augmented Jacobian recursion also
#    multiplies $d\times d$ matrices ($O(d^3)$ per step) and reverse mode stores activations.
#
# The first point is the one we control. `VelocityMLP` has a hand-written JVP,
# `cu.volume.sequential_jvp`, with no AD machinery at all: it stacks the point and its
# tangents into one matrix, so each `Linear` layer is **one** product for all of them (the
# bias is added to the point's row only), and an activation $f$ sends the point's
# pre-activation $z$ to $f(z)$ and each tangent $\dot z$ to $f'(z)\odot\dot z$.
# `reverse_map_jvp` uses a field's own `jvp` method when it has one (`route="field"`) and
# forward-mode AD otherwise (`route="autodiff"`).

# %%
# the hand-written JVP against forward-mode AD, on the trained field
xs_probe = torch.randn(3, 2, generator=torch.Generator().manual_seed(8), dtype=F64)
u_probe = torch.randn(3, 2, generator=torch.Generator().manual_seed(9), dtype=F64)
t_probe = torch.tensor(0.4, dtype=F64)
vel_hand, tan_hand = v.jvp(t_probe, xs_probe, u_probe)
vel_ad, tan_ad = torch.func.jvp(lambda y: v(t_probe, y), (xs_probe,), (u_probe,))
print("values agree:", torch.allclose(vel_hand, vel_ad, atol=1e-14))
print("tangents agree:", torch.allclose(tan_hand, tan_ad, atol=1e-12))


# %% [markdown] slideshow={"slide_type": "subslide"}
# Now the timing, for a field whose width grows with $d$ (two hidden layers of width $2d$,
# so three linear layers, as in the benchmark), 20 Euler steps, $m=16$ directions, one data
# point. The sweep is small so the notebook stays fast; `benchmarks/volume.py` goes to
# $d=1024$.

# %% tags=["nbval-ignore-output"]
def field_for(d):
    torch.manual_seed(0)
    return cu.flow_matching.VelocityMLP(d, hidden=2 * d, n_hidden=2, n_freq=0).float().requires_grad_(False)


def best(fn, repeats=3):
    times = []
    for _ in range(repeats):
        t0 = time.perf_counter()
        out = fn()
        times.append(time.perf_counter() - t0)
    return min(times), out


print(f"{'d':>4} {'jacrev (s)':>11} {'JVPs, AD (s)':>13} {'JVPs, hand (s)':>15} {'ratio AD':>9} {'ratio hand':>11} {'d/m':>5}")
ratios = {}
for d in (2, 8, 32, 128):
    f = field_for(d)
    xd = torch.randn(d)
    ud = vol.sample_sphere(16, d, dtype=torch.float32, generator=torch.Generator().manual_seed(0))
    t_full, J_d = best(lambda: jacrev(lambda y: vol.reverse_map(f, y[None], 20)[0])(xd))
    t_ad, (_, s_ad_d) = best(lambda: vol.reverse_map_jvp(f, xd, ud, 20, route="autodiff"))
    t_hand, (_, s_hand_d) = best(lambda: vol.reverse_map_jvp(f, xd, ud, 20, route="field"))
    assert torch.allclose(s_ad_d, ud @ J_d.T, atol=1e-4) and torch.allclose(s_hand_d, ud @ J_d.T, atol=1e-4)
    ratios[d] = (t_full / t_ad, t_full / t_hand)
    print(f"{d:4d} {t_full:11.4f} {t_ad:13.4f} {t_hand:15.4f} {t_full / t_ad:9.1f} {t_full / t_hand:11.1f} {d / 16:5.1f}")
# the hand-written route removes most of the fixed cost: it wins clearly at every size
assert all(hand > 1.5 * ad for ad, hand in ratios.values())

# %% [markdown] slideshow={"slide_type": "subslide"}
# **Measured at scale** (`python benchmarks/volume.py`, 2 CPU cores, float32, best of 3; your
# numbers will differ, the pattern should not):
#
# | $d$ | `jacrev` (s) | JVPs, AD (s) | JVPs, hand (s) | full / JVP, AD | full / JVP, hand | same kernel | $d/m$ |
# |---:|---:|---:|---:|---:|---:|---:|---:|
# | 64 | 0.0069 | 0.026 | 0.0038 | 0.3× | 1.8× | 1.3× | 4 |
# | 256 | 0.062 | 0.050 | 0.0105 | 1.2× | 5.9× | 5.4× | 16 |
# | 512 | 0.32 | 0.091 | 0.027 | 3.5× | 11.9× | 10.9× | 32 |
# | 1024 | 2.43 | 0.28 | 0.115 | 8.7× | 21.2× | 17.9× | 64 |
#
# "Full" is the fastest full-Jacobian route (`jacrev` here); "same kernel" computes the full
# Jacobian with the hand-written JVP too ($U=I$, i.e. $d$ tangents), so it compares like with
# like. Even then the ratio stays near $d/m\cdot\tfrac13$: the $m+1$-row products are
# memory-bound (point 2). At $d=1024$ one step moves about 34 MB of weights through memory for
# $17$ rows — about 6 ms per step — while the $1025$-row products of the full Jacobian run
# compute-bound.
#
# **Batching many data points** changes the picture: with $B$ points and $m$ directions each
# (`u` of shape $(B, m, d)$), every product has $B(m+1)$ rows, the weights are reused $B(m+1)$
# times and the JVPs become compute-bound too. At $d=256$ the full/JVP ratio (two runs of
# the benchmark's second table) grows from 5.5–6.6× for one point ($B=1$; the 5.9× above is
# the first table's timing of the same case) to 7.8–8.5×, 12.3–13.4× and 19.1–23.7× at
# $B=4, 16, 64$ — past $d/m=16$, because the full routes pay for point 3 as well. So: for a few directions at one point, the fixed and memory costs
# decide; for many points at once, the operation count $d/m$ does.

# %% [markdown] slideshow={"slide_type": "slide"}
# ## Summary
#
# - Cosine similarity and ℓ2 distance are tied by $d^2=\|x\|^2+\|y\|^2-2S_C\|x\|\|y\|$; on unit
#   vectors they rank pairs identically.
# - One ODE, two directions: $\psi$ integrates $\dot x=v$ from 0 to 1, $\varphi$ integrates the
#   *same* ODE from 1 to 0. Flipping the sign of $v$ **and** the direction of time is a
#   double negation (G eq. 10/24 versus eq. 11/31).
# - Linearising $\varphi$ around $x^c$ maps a sphere to an ellipsoid with semi-axes $r\sigma_i(J_\varphi)$;
#   its error $D_0$ is $O(r^2)$; $D_1$ has an Euler round-trip floor.
# - $J_\varphi$ solves the variational ODE $\dot J=Dv\,J$; Euler gives the ordered product
#   $M_1\cdots M_N$, equal to autograd through the same discretisation.
# - JVPs propagate $s=Ju$ without forming $J$: cheaper when $m\ll d$, by less than $d/m$ for one
#   point because of fixed per-step costs and memory-bound products; a hand-written JVP removes
#   most of the first, batching many points the second.
# - $\log|\det J_\varphi|=\sum\log\sigma_i=-\int\operatorname{tr}Dv\,dt$: the volume change is
#   the CNF log-density correction of notebook 06.
#
# ## Check yourself
# 1. Why does $\tfrac12 d_{\ell_2}^2=1-S_C$ fail for vectors that are not normalised? Give a
#    pair where cosine and ℓ2 disagree about which of two candidates is closer.
#
# <details><summary>Answer</summary>
#
# The general identity is $d^2=\|x\|^2+\|y\|^2-2S_C\|x\|\|y\|$; it reduces to $2-2S_C$ only when
# both norms are 1. Query $q=(1,0)$, candidates $a=(10,0)$ and $c=(1,1)$: cosine prefers $a$
# ($S_C=1$ against $0.71$), ℓ2 prefers $c$ (distance 1 against 9).
#
# </details>
#
# 2. Write one Euler step of $\varphi$ and of the augmented state $(x,J)$. Which matrix product
#    order does $J_\varphi$ have, and why?
#
# <details><summary>Answer</summary>
#
# $x_{k-1}=x_k-h\,v(t_k,x_k)$ and $J_{k-1}=(I-h\,Dv(t_k,x_k))\,J_k$, from $J_N=I$ at $t=1$. Each
# new factor multiplies from the left, so $J_\varphi=M_1M_2\cdots M_N$: the factor at $t=1$
# ($M_N$) acts first, by the chain rule for the composition of the steps.
#
# </details>
#
# 3. Why is $D_0=O(r^2)$? Why does $D_1$ stop decreasing as $r\to0$, and what would remove the floor?
#
# <details><summary>Answer</summary>
#
# $\varphi(x^c+ru)=\varphi(x^c)+rJ_\varphi u+O(r^2)$ (Taylor), and $D_0$ is the mean size of the
# remainder. $D_1$ compares with $\psi(\tilde x(0))$, and the Euler maps $\psi_N,\varphi_N$ are not
# exact inverses: their round-trip error (section 3, $O(1/N)$) does not depend on $r$. More
# steps or a higher-order solver lower the floor; an exactly invertible discretisation would
# remove it.
#
# </details>
#
# 4. For $m$ directions in dimension $d$, when is the full Jacobian the better choice?
#
# <details><summary>Answer</summary>
#
# When $m$ is comparable to $d$ or larger (then $m$ JVPs cost as much as $d$), when you need
# $J$ itself (its SVD, its determinant), or, for one point and few directions, at small $d$
# where the fixed per-step costs of the JVP route dominate (section 8).
#
# </details>
#
# 5. How are $\sigma_1,\dots,\sigma_d$ of $J_\varphi$ related to the metrics $C_0$ and $S_0$ for small $r$?
#
# <details><summary>Answer</summary>
#
# $S_0=\frac rN\sum_i\|J_\varphi u_i\|$ is $r$ times the mean length of $J_\varphi u$ over the
# sphere, a value between $r\sigma_d$ and $r\sigma_1$ (in 2-D, the mean radius of the
# ellipse with semi-axes $r\sigma_1,r\sigma_2$); $C_0$ agrees with it up to $O(r^2)$.
#
# </details>
#
# ## References
# - Source G: technical notes, *Link between cosine similarity and ℓ2 distance* and *Volume
#   mapping metrics* (§1–2, eq. 1–41).
# - Source K (Khungurn), notes on flow matching; source R (Ray), flows and flow-matching slides.
# - Lipman et al., *Flow Matching for Generative Modeling*, ICLR 2023.
# - Chen et al., *Neural Ordinary Differential Equations*, NeurIPS 2018 (variational/adjoint equations).
# - Grathwohl et al., *FFJORD*, ICLR 2019 (trace of the Jacobian, Hutchinson estimator).
# - Hairer, Nørsett, Wanner, *Solving Ordinary Differential Equations I*, §I.14 (variational equation).
