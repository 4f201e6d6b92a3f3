# %% [markdown] slideshow={"slide_type": "slide"}
# # 05 · Normalizing flows: from a hand-built 2-D flow to RealNVP
#
# A **normalizing flow** is a density model built from an invertible map: draw a latent
# point $z$ from a simple base density $p_0=\mathcal N(0,I)$ and push it through a bijection
# $g$ to get a data point $x=g(z)$. Because $g$ is invertible, the change-of-variables formula
# of notebook 03 gives the **exact** log-density of every $x$, so the model can be trained by
# plain maximum likelihood (notebook 01) and sampled by one forward pass.
#
# **Learning objectives.** After this notebook you can
#
# 1. write the log-density of a chain of bijections as a sum of log-determinants, and check
#    it against an autograd Jacobian;
# 2. derive the inverse and the log-density of a hand-built flow (shear, then per-axis scale)
#    in closed form, and test it three independent ways;
# 3. explain why an affine coupling layer is invertible in closed form, why its Jacobian is
#    triangular, and which coordinates its log-determinant sums over;
# 4. train a RealNVP by maximum likelihood, report held-out negative log-likelihood in nats
#    next to the best reachable value (the entropy), and read density, sample and latent plots;
# 5. measure what a flow struggles with: separated modes, depth, and the topology it
#    cannot change.
#
# **Prerequisites.** `01_mle` (likelihood, NLL in nats, KL divergence) and
# `03_change_of_variables` (Jacobians, $\log p_X(x)=\log p_Z(z)-\log|\det J_g(z)|$).
#
# **Notation.** As in notebook 03, the latent variable is $z$ (the course's $x_0$), $d$ is the
# dimension and subscripts index coordinates ($z_1$, $z_2$); figure axes write coordinates as
# superscripts ($x^{(1)}$, $x^{(2)}$), the convention of the notebooks with time.
#
# **Estimated time.** 90 minutes. The notebook runs in well under a minute on a laptop CPU;
# training is kept tiny on purpose, and the text says how to scale it up.

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

flows = cu.flows  # the building blocks of this notebook, see course_utils/flows.py
F64 = torch.float64


def log_normal(z):
    # log N(0, I) for z: (batch, d) -> (batch,), in nats
    return -0.5 * (z**2).sum(1) - 0.5 * z.shape[1] * math.log(2 * math.pi)


def density_map(log_prob, ax, **kw):
    # heat map with a colour bar in density units (per unit area; nats for log=True)
    cu.plotting.density(log_prob, ax=ax, colorbar=True, **kw)
    if not kw.get("log"):
        ax.images[-1].colorbar.set_label("$p(x)$ (per unit area)")


def autograd_log_det(f, z):
    # log|det df/dz| per row from the full autograd Jacobian: slow, but independent
    jac = torch.func.vmap(torch.func.jacrev(lambda v: f(v[None])[0]))(z)
    return torch.linalg.slogdet(jac).logabsdet


# %% [markdown] slideshow={"slide_type": "slide"}
# ## 1. Flows as chains of bijections
#
# Write the map as a chain of $K$ simple bijections,
#
# $$x=g(z)=g_K\circ g_{K-1}\circ\dots\circ g_1(z),\qquad z_0=z,\quad z_k=g_k(z_{k-1}),\quad z_K=x .$$
#
# The Jacobian of a composition is the product of the layers' Jacobians (chain rule), and
# the determinant of a product is the product of determinants, so the log-determinant is a
# **sum** over layers and
#
# $$\log p(x)=\log p_0(z)-\sum_{k=1}^{K}\log\bigl|\det J_{g_k}(z_{k-1})\bigr| .$$
#
# In code every layer of `cu.flows` has two methods that return the point *and* the
# log-determinant of that step, shape `(batch,)`:
#
# * `forward(z) -> (x, log|det dx/dz|)` — latent to data (used for sampling);
# * `inverse(x) -> (z, log|det dz/dx|)` — data to latent (used for the density);
#
# and the inverse's log-determinant is minus the forward one. Evaluating the density only
# needs the inverse pass: $\log p(x)=\log p_0(z)+\sum_k\log|\det J_{g_k^{-1}}|$. Here is that
# loop written out, for a chain of three different layers; the library's `Compose` does the
# same. (Section 3 appends a neural coupling layer to this chain and repeats the check.)

# %%
torch.manual_seed(0)
layers = [
    flows.Shear(1.5),                                   # x2 += 1.5 x1
    flows.ElementwiseAffine([0.5, 2.0], [1.0, -1.0]),   # per-axis scale and shift
    flows.Permutation([1, 0]),                          # swap the coordinates
]
layers = [layer.to(F64) for layer in layers]


def chain_log_prob(layers, x):
    # invert the layers last to first, adding up log|det dz_{k-1}/dz_k|
    total = torch.zeros(x.shape[0], dtype=x.dtype)
    for layer in reversed(layers):
        x, log_det = layer.inverse(x)
        total = total + log_det
    return log_normal(x) + total


x = torch.randn(1000, 2, generator=torch.Generator().manual_seed(1), dtype=F64) * 2
chain = flows.Compose(*layers)
z = chain.inverse(x)[0]
by_autograd = log_normal(z) - autograd_log_det(lambda v: chain(v)[0], z)
# differences at round-off level vary from CPU to CPU: print the bound, not the number
err_ld = (chain_log_prob(layers, x) - by_autograd).abs().max()
err_flow = (chain_log_prob(layers, x) - flows.Flow(chain).log_prob(x)).abs().max()
err_rt = (chain.inverse(chain(z)[0])[0] - z).abs().max()
print(f"max |sum of layer log-dets - autograd log|det J|| < 1e-12:  {bool(err_ld < 1e-12)}")
print(f"max |our loop - flows.Flow(Compose(...)).log_prob| < 1e-12: {bool(err_flow < 1e-12)}")
print(f"round trip max |g^-1(g(z)) - z| in float64 < 1e-12:         {bool(err_rt < 1e-12)}")
assert max(err_ld, err_flow, err_rt) < 1e-12

# %% [markdown] slideshow={"slide_type": "subslide"}
# The sum of per-layer log-determinants agrees with the log-determinant of the full
# autograd Jacobian of the composed map to rounding error, for a chain mixing a shear, a
# scaling and a permutation. This is the whole computational trick
# of discrete flows: the density of a deep model costs one inverse pass plus a sum, and no
# $d\times d$ determinant is ever formed.

# %% [markdown] slideshow={"slide_type": "slide"}
# ## 2. The notes' worked example: shear, then per-axis scale *(optional)*
#
# R ("Normalizing Flows", *An example*) builds a 2-D flow from $z\sim\mathcal N(0,I_2)$ in two
# steps:
#
# $$h=g_1(z):\ \begin{cases}h_1=z_1\\ h_2=z_2+a z_1\end{cases}\qquad
# x=g_2(h):\ \begin{cases}x_1=\sigma_1h_1+b_1\\ x_2=\sigma_2h_2+b_2\end{cases}$$
#
# The shear has Jacobian $\begin{pmatrix}1&0\\a&1\end{pmatrix}$ with determinant 1 (it moves
# area but does not change it); the scaling has determinant $\sigma_1\sigma_2$. Inverting step
# by step,
#
# $$z_1=\frac{x_1-b_1}{\sigma_1},\qquad z_2=\frac{x_2-b_2}{\sigma_2}-a\,\frac{x_1-b_1}{\sigma_1},
# \qquad \log p(x)=-\tfrac12(z_1^2+z_2^2)-\log(2\pi)-\log|\sigma_1\sigma_2| .$$
#
# First let SymPy redo the algebra: the Jacobian of the composition, its determinant, and the
# inverse.

# %%
z1, z2, x1, x2, a, b1, b2 = sp.symbols("z1 z2 x1 x2 a b1 b2", real=True)
s1, s2 = sp.symbols("sigma1 sigma2", positive=True)
h = sp.Matrix([z1, z2 + a * z1])                      # g1: shear
x_of_z = sp.Matrix([s1 * h[0] + b1, s2 * h[1] + b2])  # g2: scale and shift
J = x_of_z.jacobian([z1, z2])
print("J_g =", J.tolist(), "  det J_g =", sp.factor(J.det()))

sol = sp.solve([sp.Eq(x1, x_of_z[0]), sp.Eq(x2, x_of_z[1])], [z1, z2], dict=True)[0]
notes_z2 = (x2 - b2) / s2 - a * (x1 - b1) / s1        # R's closed form
print("z1 =", sol[z1], "  z2 - (notes' z2) =", sp.simplify(sol[z2] - notes_z2))
logp_expr = -(sol[z1] ** 2 + sol[z2] ** 2) / 2 - sp.log(2 * sp.pi) - sp.log(s1 * s2)
logp_closed = sp.lambdify((x1, x2, a, s1, s2, b1, b2), logp_expr, "numpy")

# %% [markdown] slideshow={"slide_type": "subslide"}
# The notes are right here. Now the same flow from the generic building blocks, checked
# against (i) the closed form, (ii) an independent fact: $x=Az+b$ with
# $A=\operatorname{diag}(\sigma)\begin{pmatrix}1&0\\a&1\end{pmatrix}$ is Gaussian,
# $\mathcal N(b, AA^\top)$, and (iii) the normalisation $\int p=1$ on a grid.

# %%
a_, sig_, b_ = 1.5, [1.0, 0.6], [0.5, -0.5]
notes_flow = flows.Flow(flows.Compose(
    flows.Shear(a_), flows.ElementwiseAffine(torch.tensor(sig_, dtype=F64), torch.tensor(b_, dtype=F64))
))
xt = torch.randn(2000, 2, generator=torch.Generator().manual_seed(2), dtype=F64) * 2
generic = notes_flow.log_prob(xt)
closed = torch.from_numpy(logp_closed(xt[:, 0].numpy(), xt[:, 1].numpy(), a_, *sig_, *b_))
A = torch.diag(torch.tensor(sig_, dtype=F64)) @ torch.tensor([[1.0, 0.0], [a_, 1.0]], dtype=F64)
gauss = torch.distributions.MultivariateNormal(torch.tensor(b_, dtype=F64), A @ A.T).log_prob(xt)
print(f"max |generic - closed form| < 1e-12:  {bool((generic - closed).abs().max() < 1e-12)}")
print(f"max |generic - N(b, A A^T)| < 1e-12:  {bool((generic - gauss).abs().max() < 1e-12)}")
print(f"integral of p over [-7, 7]^2      = {cu.grid.integrate_density_2d(notes_flow.log_prob, lim=7.0, n=300):.6f}")


# %% [markdown] slideshow={"slide_type": "subslide"}
# (iv) Against **samples**: sampling runs the flow forwards ($z\sim\mathcal N(0,I)$, then
# $x=g(z)$), the density runs it backwards, so they test different code. We histogram
# 200 000 samples on a $30\times30$ grid and compare the bin probabilities with the density
# integrated over each bin. The total-variation distance $\tfrac12\sum_{\text{bins}}|\hat p-p|$
# must be as small as for samples from an exact Gaussian sampler of the same size (pure
# Monte Carlo noise); a wrong sign or a missing Jacobian factor would be orders of magnitude
# larger.

# %%
def bin_probs(log_prob, lim=4.0, bins=30, sub=6):
    # integrate the density over each bin with a sub x sub midpoint rule
    _, _, logp, area = cu.grid.evaluate_on_grid(log_prob, lim, bins * sub)
    return (logp.exp() * area).reshape(bins, sub, bins, sub).sum((1, 3))


def hist_probs(x, lim=4.0, bins=30):
    counts, _, _ = np.histogram2d(x[:, 1].numpy(), x[:, 0].numpy(), bins=bins,
                                  range=[[-lim, lim], [-lim, lim]])
    return torch.from_numpy(counts) / x.shape[0]


n = 200_000
p_bins = bin_probs(notes_flow.log_prob)
x_flow = notes_flow.sample(n, generator=torch.Generator().manual_seed(3), dtype=F64)
x_exact = torch.tensor(b_, dtype=F64) + torch.randn(n, 2, generator=torch.Generator().manual_seed(4), dtype=F64) @ A.T
tv_flow = 0.5 * (hist_probs(x_flow) - p_bins).abs().sum()
tv_exact = 0.5 * (hist_probs(x_exact) - p_bins).abs().sum()
print(f"TV(flow samples, flow density)      = {tv_flow:.3f}")
print(f"TV(exact Gaussian samples, density) = {tv_exact:.3f}   (Monte Carlo noise level)")

fig, axes = plt.subplots(1, 3, figsize=(12, 3.6))
zs = torch.randn(1500, 2, generator=torch.Generator().manual_seed(5), dtype=F64)
cu.plotting.scatter(zs, ax=axes[0], lim=4, title="latent $z\\sim\\mathcal{N}(0,I)$")
h_pts, _ = notes_flow.transform[0](zs)
cu.plotting.scatter(h_pts, ax=axes[1], lim=4, title=f"after the shear (a = {a_})")
density_map(notes_flow.log_prob, axes[2], lim=4, title="density of x = g(z), samples on top")
cu.plotting.scatter(x_flow[:1000], ax=axes[2], lim=4, s=1, alpha=0.3, color="white",
                    title="density of $x=g(z)$ with samples (white)")
plt.tight_layout()
plt.show()


# %% [markdown] slideshow={"slide_type": "subslide"}
# *Reminder:* a map such as $x_1=2z_1+\sin z_2,\ x_2=z_2^2$ folds the plane (two latent points
# land on each $x$), so it is not a flow layer even though its Jacobian determinant is easy
# to compute; its density sums over both preimages. See
# [03, "A non-linear map: $x_1 = 2z_1 + \sin z_2,\ x_2 = z_2^2$"](../notebooks/03_change_of_variables.ipynb).
# Flow layers are built invertible by construction instead, like the coupling layers of the
# next section.

# %% [markdown] slideshow={"slide_type": "slide"}
# ## 3. Affine coupling layers (RealNVP)
#
# A useful flow needs layers that are flexible (a neural network inside) yet invertible in
# closed form with a cheap log-determinant. The **affine coupling** layer of RealNVP (Dinh
# et al., 2017) achieves this by splitting the coordinates with a binary mask $m$: the
# coordinates with $m_i=1$ are **copied**, the others are scaled and shifted by amounts that
# depend only on the copied ones. With $z_c$ the copied part and $z_f$ the free part,
#
# $$x_c=z_c,\qquad x_f=z_f\odot\exp\bigl(s(z_c)\bigr)+t(z_c),$$
#
# where $s,t:\mathbb R^{d_c}\to\mathbb R^{d-d_c}$ are arbitrary networks ($d$ is the dimension,
# $d_c$ the number of copied coordinates). **Inverse:** $x_c=z_c$ is known, so $s(x_c)$ and
# $t(x_c)$ can be recomputed and $z_f=(x_f-t(x_c))\odot\exp(-s(x_c))$ — the networks
# themselves are never inverted.
# **Jacobian:** ordering copied coordinates first,
#
# $$\frac{\partial x}{\partial z}=\begin{pmatrix} I & 0\\ \dfrac{\partial x_f}{\partial z_c} & \operatorname{diag}\bigl(e^{s(z_c)}\bigr)\end{pmatrix},
# \qquad \log\Bigl|\det\frac{\partial x}{\partial z}\Bigr|=\sum_{i\in f} s_i(z_c),$$
#
# block **triangular** (not diagonal: the lower-left block is a dense network Jacobian), so
# the determinant is the product of the diagonal, and the log-determinant sums over the
# **transformed** coordinates. In `cu.flows.AffineCoupling` the raw network output is passed
# through $s=B\tanh(\text{raw}/B)$ (here $B=3$), which keeps every scale in $[e^{-3},e^{3}]$ so
# one bad optimisation step cannot make the layer numerically singular.
#
# The layer is short enough to write out in full. We check it against `cu.flows.AffineCoupling`
# with the same network weights, in $d=5$ dimensions, copying $d_c=2$ coordinates and
# transforming the other $d-d_c=3$; from then on we use the package's layer.

# %%
class MyAffineCoupling(torch.nn.Module):
    # copy the coordinates with mask 1; scale and shift the others by functions of the copied ones
    def __init__(self, mask, hidden=16, bound=3.0):
        super().__init__()
        self.mask, self.bound = torch.as_tensor(mask, dtype=F64), bound
        d = len(mask)
        self.net = torch.nn.Sequential(  # s and t from one MLP: (batch, d) -> (batch, 2 d)
            torch.nn.Linear(d, hidden), torch.nn.SiLU(),
            torch.nn.Linear(hidden, hidden), torch.nn.SiLU(), torch.nn.Linear(hidden, 2 * d))

    def scale_and_shift(self, z_copied):
        raw_s, t = self.net(z_copied).chunk(2, dim=1)
        free = 1 - self.mask  # 1 on the transformed coordinates, 0 on the copied ones
        return free * self.bound * torch.tanh(raw_s / self.bound), free * t

    def forward(self, z):  # latent -> data, with log|det dx/dz| = sum of the free s_i
        s, t = self.scale_and_shift(self.mask * z)
        return self.mask * z + (1 - self.mask) * (z * torch.exp(s) + t), s.sum(1)

    def inverse(self, x):  # data -> latent: s and t are recomputed from x_c = z_c
        s, t = self.scale_and_shift(self.mask * x)
        return self.mask * x + (1 - self.mask) * (x - t) * torch.exp(-s), -s.sum(1)


torch.manual_seed(0)
mask = [1.0, 1.0, 0.0, 0.0, 0.0]          # copy x_1, x_2; transform x_3, x_4, x_5
coupling = flows.AffineCoupling(mask, hidden=16, zero_init=False).to(F64)
mine = MyAffineCoupling(mask).to(F64)
mine.net.load_state_dict(coupling.net.state_dict())
zq = torch.randn(1000, 5, generator=torch.Generator().manual_seed(20), dtype=F64)
(x_m, ld_m), (x_p, ld_p) = mine(zq), coupling(zq)
checks = {
    "forward x": (x_m - x_p).abs().max(),
    "forward log-det": (ld_m - ld_p).abs().max(),
    "inverse z": (mine.inverse(x_p)[0] - coupling.inverse(x_p)[0]).abs().max(),
    "our round trip": (mine.inverse(x_m)[0] - zq).abs().max(),
    "our log-det vs autograd": (ld_m[:50] - autograd_log_det(lambda v: mine(v)[0], zq[:50])).abs().max(),
}
for name, err in checks.items():
    print(f"{name:24s} max difference below 1e-12: {bool(err < 1e-12)}")
assert all(err < 1e-12 for err in checks.values())

# %% [markdown] slideshow={"slide_type": "subslide"}
# With the coupling in hand, the chain of section 1 becomes a real (non-linear) flow: append a
# 2-D coupling and the sum of per-layer log-determinants still equals autograd's
# $\log|\det J|$ of the whole map.

# %%
torch.manual_seed(1)
layers4 = layers + [flows.AffineCoupling([1.0, 0.0], hidden=16, zero_init=False).to(F64)]
chain4 = flows.Compose(*layers4)
z4 = chain4.inverse(x)[0]
err4 = (chain_log_prob(layers4, x) - (log_normal(z4) - autograd_log_det(lambda v: chain4(v)[0], z4))).abs().max()
print(f"chain with a coupling: max |sum of log-dets - autograd| < 1e-12: {bool(err4 < 1e-12)}")
assert err4 < 1e-12

# %% [markdown] slideshow={"slide_type": "subslide"}
# Now the Jacobian of the 5-D coupling itself, which copies $d_c=2$ coordinates and
# transforms the other $d-d_c=3$.

# %%
z5 = torch.randn(1, 5, generator=torch.Generator().manual_seed(6), dtype=F64)
J5 = torch.func.jacrev(lambda v: coupling(v[None])[0][0])(z5[0]).detach()
print("Jacobian dx/dz (rows: x_1..x_5, columns: z_1..z_5):")
print(np.round(J5.numpy(), 3))
with torch.no_grad():
    s, t = coupling.scale_and_shift(z5 * torch.tensor(mask, dtype=F64))
s_free = s[0, 2:]                          # the d - d_c = 3 log-scales of the transformed coordinates
print("s(z_c) on the transformed coordinates:", np.round(s_free.numpy(), 4))
print(f"log|det J| by autograd             = {torch.linalg.slogdet(J5).logabsdet:.6f}")
print(f"sum of the d - d_c = 3 log-scales   = {s_free.sum():.6f}")
print(f"sum of only d_c = 2 of them (wrong)  = {s_free[:2].sum():.6f}")
print(f"layer's own log_det                 = {coupling(z5)[1][0]:.6f}")
ld_auto = torch.linalg.slogdet(J5).logabsdet
assert abs(ld_auto - s_free.sum()) < 1e-12 and abs(ld_auto - s_free[:2].sum()) > 1e-3

# %% [markdown] slideshow={"slide_type": "subslide"}
# > **Pitfall.** *A tempting formula:* "the log-determinant of a coupling layer that copies
# > $d_c$ coordinates is the sum of $d_c$ log-scales, $\sum_{i=1}^{d_c}[s(\mathbf z_{1:d_c})]_i$."
# > The scale network outputs one log-scale per **transformed** coordinate, and the Jacobian's
# > diagonal holds $e^{s_i}$ exactly there, so the sum runs over the $d-d_c$ transformed ones:
# > $\log|\det J|=\sum_{i=1}^{d-d_c}[s(\mathbf z_{1:d_c})]_i$. The two agree when $d_c=d-d_c$ (the
# > usual half split), which is why the slip goes unnoticed; the cell above, with $d=5$,
# > $d_c=2$, prints both next to autograd's value, and only the sum over the transformed
# > coordinates matches. Two related misreadings: the Jacobian is block **triangular**, not
# > diagonal (its lower-left block is a dense network Jacobian), and $s,t$ are not applied
# > element-wise: they map all $d_c$ copied coordinates to $d-d_c$ outputs, which is what makes
# > the layer expressive. (Source: M §11.1.1, eq. 11.12, which writes $D$ for our $d$ and $d$
# > for our $d_c$; R's version, $\sum_i s_i(u_1)$ over the entries of $s$, is correct.)

# %% [markdown] slideshow={"slide_type": "subslide"}
# **Invertibility in practice.** The inverse is exact in exact arithmetic; in floating point
# the round-trip error is at the level of the dtype's rounding (about $10^{-7}$ relative in
# float32, $10^{-16}$ in float64). The cell checks both, with the 5-D layer above.

# %%
zr = torch.randn(10_000, 5, generator=torch.Generator().manual_seed(7), dtype=F64) * 2
for dtype in (torch.float32, F64):
    layer = coupling.to(dtype)
    with torch.no_grad():
        err = (layer.inverse(layer(zr.to(dtype))[0])[0] - zr.to(dtype)).abs().max()
    tol = 1e-5 if dtype == torch.float32 else 1e-12
    print(f"{str(dtype):14s} max |g^-1(g(z)) - z| < {tol:.0e}: {bool(err < tol)}")
    assert err < tol
coupling = coupling.to(F64)

# %% [markdown] slideshow={"slide_type": "subslide"}
# **Alternating masks.** One coupling layer never changes its copied coordinates: with
# mask $[1,0]$ in 2-D, $x_1=z_1$ exactly, so the first marginal of the model is still
# $\mathcal N(0,1)$ however large the networks are. Stacking layers with **alternating**
# masks ($[1,0],[0,1],[1,0],\dots$), or permutations between layers, lets every coordinate be
# transformed conditioned on the others. `cu.flows.realnvp(dim, n_layers)` builds such a
# stack (plus a trainable per-axis scale and shift at the end). Section 5 measures how much
# depth the data need.

# %% [markdown] slideshow={"slide_type": "slide"}
# ## 4. Training a RealNVP by maximum likelihood
#
# Given data $x^{(1)},\dots,x^{(N)}$, maximum likelihood minimises the negative
# log-likelihood per point, in **nats**,
#
# $$\mathrm{NLL}(\theta)=-\frac1N\sum_{n=1}^{N}\log p_\theta\bigl(x^{(n)}\bigr),\qquad
# \log p_\theta(x)=\log p_0\bigl(g_\theta^{-1}(x)\bigr)+\log\Bigl|\det J_{g_\theta^{-1}}(x)\Bigr| .$$
#
# We report it on **held-out** points (fresh samples not used for training). Its expectation
# is the cross-entropy $\mathbb E_{p}[-\log p_\theta]=H(p)+\mathrm{KL}(p\,\|\,p_\theta)\ge H(p)$:
# no model can beat the entropy $H(p)$ of the data distribution, and the gap is the KL
# divergence. For the Gaussian mixture of `cu.data` we know $\log p$ exactly, so we can print
# $H(p)$ and even estimate the KL on the same held-out points.
#
# `cu.flows.train_flow` is a short Adam loop on minibatches of this loss (read it in
# `course_utils/flows.py`); it prints the training and held-out NLL every few hundred steps.

# %%
mix = cu.data.get("gaussian_mixture")
g = torch.Generator().manual_seed(10)
x_train, x_val = mix.sample(4000, generator=g), mix.sample(4000, generator=g)
entropy = mix.entropy()
true_nll_val = float(-mix.log_prob(x_val.double()).mean())
# baseline: the best single Gaussian (maximum-likelihood mean and covariance)
mu, cov = x_train.double().mean(0), torch.cov(x_train.double().T)
gauss_nll_val = float(-torch.distributions.MultivariateNormal(mu, cov).log_prob(x_val.double()).mean())
print(f"entropy H(p) (exact density, Monte Carlo) = {entropy:.3f} nats")
print(f"true model on the held-out points          = {true_nll_val:.3f} nats")
print(f"best single Gaussian, held-out             = {gauss_nll_val:.3f} nats")

# %% tags=["nbval-ignore-output"]
torch.manual_seed(0)
flow_gm = flows.realnvp(2, n_layers=6, hidden=32)   # 6 couplings with alternating masks
res_gm = flows.train_flow(flow_gm, x_train, x_val, steps=600, lr=1e-2, print_every=200,
                          generator=torch.Generator().manual_seed(0))
kl_hat = res_gm.final_val_nll - true_nll_val
print(f"RealNVP held-out NLL {res_gm.final_val_nll:.3f} nats | entropy {entropy:.3f} | "
      f"KL(p || p_theta) estimate {kl_hat:.3f} nats | {res_gm.seconds:.1f} s (timing)")
assert res_gm.final_val_nll < gauss_nll_val - 0.1  # clearly better than one Gaussian
assert 0.0 < kl_hat < 0.2                           # close to, but not below, the best possible


# %% [markdown] slideshow={"slide_type": "subslide"}
# The flow gets within about a tenth of a nat of the entropy after a few seconds of
# training (the exact figures vary slightly between CPUs; the cell asserts what must hold).
# For comparison, the best single Gaussian is far off. More steps, wider networks and more
# layers close the remaining gap (see `benchmarks/flows.py`).
#
# Now the pictures: the true and the learned density, samples from the flow, and the
# **latent picture** — the held-out data mapped back through $g^{-1}$, coloured by the mixture
# component each point most likely came from. A well-trained flow turns the data into
# something that looks like $\mathcal N(0,I)$: each component becomes a wedge of the latent
# Gaussian. Look also at the faint ridges of density that the flow draws *between* the
# blobs, where the true density is nearly zero: section 5 explains and measures them.

# %%
def nearest_component(x, mixture):
    return torch.cdist(x.double(), mixture.means).argmin(1).numpy()


def four_panels(flow, x_show, title, colors, cmap, lim=3.5, true_log_prob=None):
    fig, axes = plt.subplots(1, 4, figsize=(17, 3.6))
    if true_log_prob is not None:
        density_map(true_log_prob, axes[0], lim=lim, title=f"{title}: true density")
    else:
        cu.plotting.scatter(x_show, ax=axes[0], lim=lim, title=f"{title}: data")
    density_map(flow.log_prob, axes[1], lim=lim, title="flow density $p_\\theta$")
    cu.plotting.scatter(flow.sample(1500, generator=torch.Generator().manual_seed(11)), ax=axes[2],
                        lim=lim, title="flow samples")
    with torch.no_grad():
        z_show = flow.to_latent(x_show)
    axes[3].scatter(z_show[:, 0], z_show[:, 1], s=2, alpha=0.5, c=colors, cmap=cmap)
    circle = np.linspace(0, 2 * np.pi, 200)
    for r in (1, 2, 3):
        axes[3].plot(r * np.cos(circle), r * np.sin(circle), "k--", lw=0.7)
    axes[3].set(xlim=(-lim, lim), ylim=(-lim, lim), aspect="equal",
                title="latent picture $z=g^{-1}(x)$", xlabel="$z^{(1)}$", ylabel="$z^{(2)}$")
    plt.tight_layout()
    plt.show()


four_panels(flow_gm, x_val[:1500], "Gaussian mixture", nearest_component(x_val[:1500], mix),
            "tab10", true_log_prob=mix.log_prob)

# %% [markdown] slideshow={"slide_type": "subslide"}
# "Looks Gaussian" can be measured. If $g_\theta^{-1}$ maps the data to $\mathcal N(0,I_2)$, the
# latent points have mean 0, covariance $I$, and $|z|^2\sim\chi^2_2$, so a fraction
# $1-e^{-1/2}\approx0.393$ of them lies inside the unit circle. We also check the trained flow's
# round trip and its log-determinant against autograd (float32 training precision).

# %% tags=["nbval-ignore-output"]
with torch.no_grad():
    z_val = flow_gm.to_latent(x_val)
inside = float((z_val.pow(2).sum(1) < 1).float().mean())
c = torch.cov(z_val.T)
print(f"latent mean ({z_val[:, 0].mean():.3f}, {z_val[:, 1].mean():.3f}), covariance "
      f"[[{c[0, 0]:.3f}, {c[0, 1]:.3f}], [{c[1, 0]:.3f}, {c[1, 1]:.3f}]]")
print(f"fraction inside the unit circle: {inside:.3f} (N(0, I): {1 - math.exp(-0.5):.3f})")
x_back, _ = flow_gm.transform(z_val)
print(f"round trip max |g(g^-1(x)) - x| (float32): {(x_back - x_val).abs().max():.1e}")
ld = flow_gm.transform.inverse(x_val[:200])[1]
print(f"log-det vs autograd, max difference:       "
      f"{(ld - autograd_log_det(lambda v: flow_gm.transform.inverse(v)[0], x_val[:200])).abs().max():.1e}")
assert z_val.mean(0).abs().max() < 0.1 and abs(inside - 0.393) < 0.03
assert (x_back - x_val).abs().max() < 1e-4

# %% [markdown] slideshow={"slide_type": "subslide"}
# ### Two moons: no closed-form density
#
# The two-moons data set has no formula for its density, so the entropy is unknown; we can
# still compare held-out NLLs between models (lower is better, in the same nats) and look at
# the pictures.

# %% tags=["nbval-ignore-output"]
moons = cu.data.get("two_moons")
g = torch.Generator().manual_seed(12)
m_train, m_val = moons.sample(4000, generator=g), moons.sample(4000, generator=g)
mu_m, cov_m = m_train.double().mean(0), torch.cov(m_train.double().T)
gauss_m = float(-torch.distributions.MultivariateNormal(mu_m, cov_m).log_prob(m_val.double()).mean())
torch.manual_seed(0)
flow_moons = flows.realnvp(2, n_layers=6, hidden=32)
res_moons = flows.train_flow(flow_moons, m_train, m_val, steps=600, lr=1e-2, print_every=300,
                             generator=torch.Generator().manual_seed(0))
print(f"held-out NLL: RealNVP {res_moons.final_val_nll:.3f} nats | single Gaussian {gauss_m:.3f} nats")
assert res_moons.final_val_nll < gauss_m - 0.4

# %%
# colour = the data coordinate x_1, to see where each part of the moons goes in latent space
four_panels(flow_moons, m_val[:1500], "two moons", m_val[:1500, 0].numpy(), "coolwarm")

# %% [markdown] slideshow={"slide_type": "subslide"}
# The model density follows both moons, but look at the gap between them and at their
# tips: a thin film of density connects the moons, and the samples show a few points
# there. That is the subject of the next section.

# %% [markdown] slideshow={"slide_type": "slide"}
# ## 5. Limitations, measured *(optional)*
#
# R ("Limitations of NF") lists several. Two of them can be measured on 2-D data in seconds.
#
# **Separated modes and topology.** $g$ is continuous with a continuous inverse, so it maps
# the connected plane onto the connected plane, and $p_\theta(x)=p_0(z)\,|\det J_{g^{-1}}(x)|>0$
# everywhere: a flow can never put exactly zero density between two modes, and to make the
# gap nearly empty it must squeeze a band of latent space into it, i.e. make
# $|\det J_{g^{-1}}|$ tiny on the band and huge around it. **Depth** is what buys such
# extreme maps: each coupling can only move one half of the coordinates.
#
# We fit two well-separated Gaussians (means $(\pm2.5,0)$, standard deviation $0.35$, known
# entropy) with 1, 2, 4 and 8 coupling layers and record the held-out NLL and the **bridge
# mass** — the probability the model puts on the strip $|x_1|<0.75$ between the modes, where
# the true mass is about $3\times10^{-7}$.

# %% tags=["nbval-ignore-output"]
sep = cu.data.get("gaussian_mixture", means=[[-2.5, 0.0], [2.5, 0.0]], stds=0.35)
g = torch.Generator().manual_seed(13)
s_train, s_val = sep.sample(3000, generator=g), sep.sample(3000, generator=g)
sep_entropy, strip = sep.entropy(), (-0.75, 0.75, -4.0, 4.0)
true_bridge = cu.grid.integrate_density_2d(sep.log_prob, lim=strip, n=200)
sep_flows, rows = {}, []
for n_layers in (1, 2, 4, 8):
    torch.manual_seed(0)
    f = flows.realnvp(2, n_layers=n_layers, hidden=32)
    r = flows.train_flow(f, s_train, s_val, steps=400, batch_size=128, print_every=None,
                         generator=torch.Generator().manual_seed(0))
    bridge = cu.grid.integrate_density_2d(f.log_prob, lim=strip, n=200)
    sep_flows[n_layers] = f
    print(f"  trained {n_layers} layer(s): held-out NLL {r.final_val_nll:.3f}")
    rows.append((n_layers, r.final_val_nll, r.final_val_nll - sep_entropy, bridge, r.seconds))
print(f"entropy {sep_entropy:.3f} nats, true bridge mass {true_bridge:.1e}")
print("layers | held-out NLL | gap to entropy | bridge mass | seconds (timing)")
for L, v, gap, bridge, sec in rows:
    print(f"{L:6d} | {v:12.3f} | {gap:14.3f} | {bridge:11.1e} | {sec:.1f} s (timing)")
gaps = [row[2] for row in rows]
assert gaps[0] > 0.5 and gaps[-1] < gaps[0] / 3      # one layer cannot split x_1; depth helps
assert all(row[3] > 100 * true_bridge for row in rows)  # but every flow leaks mass into the gap

# %%
fig, axes = plt.subplots(1, 5, figsize=(21, 3.3))
# log-densities clipped below at -12 nats, so that "almost empty" shows as dark
density_map(lambda x: sep.log_prob(x).clamp_min(-12), axes[0], lim=4, n=100, log=True,
            title="true log-density")
for ax, (L, f) in zip(axes[1:], sep_flows.items()):
    density_map(lambda x, f=f: f.log_prob(x).clamp_min(-12), ax, lim=4, n=100,
                log=True, title=f"{L} coupling layer{'s' if L > 1 else ''}")
for ax in axes:
    ax.axvline(-0.75, color="w", lw=0.8, ls="--")
    ax.axvline(0.75, color="w", lw=0.8, ls="--")
plt.tight_layout()
plt.show()

# %% [markdown] slideshow={"slide_type": "subslide"}
# Reading the table and the log-density maps (dashed lines: the bridge strip):
#
# * **One coupling layer fails outright.** Its mask copies $x_1$, so the model's $x_1$
#   marginal is a single Gaussian: it cannot separate modes that differ in $x_1$. This is
#   the "alternating masks" argument of section 3, measured.
# * **Depth helps**, and the gap to the entropy shrinks as layers are added; with the
#   tiny training budget here even 8 layers remain above the entropy.
# * **The bridge never empties.** Every model keeps orders of magnitude more mass on the
#   strip than the true $3\times10^{-7}$: the mass that the continuous bijection has to drag
#   across the gap. This is what R's "Limited capacity for ... sharply separated modes"
#   means in numbers. Topology forbids exactly zero density in the gap; making the leak
#   small requires ever more extreme Jacobians, so it shrinks only slowly with depth and
#   training.
#
# The next cell shows where that mass comes from: the latent points that $g$ sends into
# the strip form a thin **band** of the Gaussian, which a continuous map has to keep.

# %% tags=["nbval-ignore-output"]
f8 = sep_flows[8]
zl = torch.randn(20_000, 2, generator=torch.Generator().manual_seed(14))
with torch.no_grad():
    xl = f8.sample(20_000, generator=torch.Generator().manual_seed(14))
in_strip = (xl[:, 0].abs() < 0.75).numpy()
print(f"fraction of latent draws sent into the strip: {in_strip.mean():.4f} "
      f"(model bridge mass from the grid: {rows[-1][3]:.4f})")
fig, axes = plt.subplots(1, 2, figsize=(9, 4))
show = np.arange(len(in_strip)) < 4000  # plot 4000 of the points, and every one in the strip
for ax, pts, name in ((axes[0], zl, "latent $z$"), (axes[1], xl, "data space $x=g(z)$")):
    ax.scatter(pts[~in_strip & show, 0], pts[~in_strip & show, 1], s=1, alpha=0.3, color="C0",
               label="elsewhere")
    ax.scatter(pts[in_strip, 0], pts[in_strip, 1], s=3, color="C3", label="lands in the strip")
    ax.set(xlim=(-4, 4), ylim=(-4, 4), aspect="equal", title=name)
axes[0].set(xlabel="$z^{(1)}$", ylabel="$z^{(2)}$")
axes[1].set(xlabel="$x^{(1)}$", ylabel="$x^{(2)}$")
axes[1].legend(loc="upper right", markerscale=4)
plt.tight_layout()
plt.show()
assert abs(in_strip.mean() - rows[-1][3]) < 0.01  # sampling and the density agree

# %% [markdown] slideshow={"slide_type": "subslide"}
# The other limitations in R concern high-dimensional data (many layers to mix 3072
# coordinates, memory, likelihood versus sample quality) and cannot be shown on 2-D toys.
# A good likelihood does not guarantee good samples (R's remark on Glow; the notes' wording
# has a slip, listed in [the errata](../docs/ERRATA.md)). Notebook 06 replaces the stack of
# layers by an ODE (a continuous flow), which removes the triangular-Jacobian restriction at
# the price of solving an ODE.
#
# **Scaling up.** For better fits than the tiny budget used here: 8–12 layers, 64–128 hidden
# units, 5 000–20 000 steps, more data (or fresh samples every step), and a learning rate of
# about $10^{-3}$; `benchmarks/flows.py` measures held-out NLL against training time.

# %% [markdown] slideshow={"slide_type": "slide"}
# ## Summary
#
# * A normalizing flow is $x=g(z)$, $z\sim\mathcal N(0,I)$, with $g$ a chain of bijections;
#   $\log p(x)=\log p_0(z)-\sum_k\log|\det J_{g_k}(z_{k-1})|$, computed with one inverse pass.
# * The notes' shear-then-scale example has a closed-form inverse and log-density
#   $\log\mathcal N(z;0,I)-\log|\sigma_1\sigma_2|$; we checked it with SymPy, against the
#   generic layers, against $\mathcal N(b,AA^\top)$, by integration and against samples.
#   Non-injective maps such as $x_2=z_2^2$ are not flow layers.
# * An affine coupling copies some coordinates and scales/shifts the others by network
#   outputs; it inverts in closed form, its Jacobian is triangular, and
#   $\log|\det J|=\sum_{i\in\text{transformed}}s_i$ (not a sum over the copied ones).
#   Alternate the masks so every coordinate gets transformed.
# * Trained by maximum likelihood, a small RealNVP reaches a held-out NLL within about a
#   tenth of a nat of the entropy of a Gaussian mixture in 600 steps; NLL $-$ entropy estimates
#   $\mathrm{KL}(p\,\|\,p_\theta)$.
# * A flow cannot change topology: between separated modes it always leaves a bridge of
#   density, and it needs depth to approach such data at all.
#
# ## Check yourself
#
# 1. A chain has layers with log-determinants $0.3$, $-1.2$ and $0.5$ at the points a sample
#    passes through. By how much does the log-density of the data point differ from the base
#    log-density of its latent point?
#
# <details><summary>Answer</summary>
#
# The forward log-determinants add up to $0.3-1.2+0.5=-0.4$, and
# $\log p(x)=\log p_0(z)-\sum_k\log|\det J_{g_k}|=\log p_0(z)+0.4$: the data point's log-density
# is higher by 0.4 nats (the chain contracts volume there).
#
# </details>
#
# 2. In the shear-then-scale example, why does $a$ appear in $z_2$ but not in the
#    log-determinant? What would change if you applied the scaling *before* the shear?
#
# <details><summary>Answer</summary>
#
# The shear's Jacobian is triangular with ones on the diagonal: it moves points (so $a$
# enters the inverse) but keeps areas, so its log-determinant is 0. Scaling first gives
# $x_2=\sigma_2z_2+a(\sigma_1z_1+b_1)+b_2$: a different map (the shear now acts on scaled
# coordinates, so the inverse changes), with the same determinant $\sigma_1\sigma_2$.
#
# </details>
#
# 3. For a coupling in $d=7$ dimensions copying $d_c=3$ coordinates, how many outputs must the
#    scale network have, and over which indices does the log-determinant sum?
#
# <details><summary>Answer</summary>
#
# $d-d_c=4$ log-scales (and 4 shifts), one per transformed coordinate; the log-determinant
# is the sum of those 4 values, over the transformed indices, not over the 3 copied ones.
#
# </details>
#
# 4. Why can $s$ and $t$ be arbitrary non-invertible networks (with ReLUs, say) while the
#    layer stays invertible?
#
# <details><summary>Answer</summary>
#
# They are only ever evaluated at the copied coordinates, which pass through unchanged; to
# invert, recompute $s(x_c),t(x_c)$ from $x_c=z_c$ and undo the affine map of the others. The
# networks themselves are never inverted.
#
# </details>
#
# 5. A model reports a held-out NLL *below* the entropy of the data distribution. Name two
#    things that could explain it.
#
# <details><summary>Answer</summary>
#
# Sampling error of a finite test set (the inequality holds in expectation, so small
# dips are possible), or a bug: test points seen in training, a density that does not
# integrate to 1 (a missing log-determinant term, a wrong sign), or an entropy computed
# for a different distribution or in other units (bits versus nats).
#
# </details>
#
# 6. Why does one coupling layer with mask $[1,0]$ fail on the two separated Gaussians of
#    section 5, and would a single layer with mask $[0,1]$ succeed?
#
# <details><summary>Answer</summary>
#
# With mask $[1,0]$ the model's $x_1=z_1$, so its $x_1$ marginal is $\mathcal N(0,1)$, while the
# modes differ in $x_1$. Mask $[0,1]$ copies $x_2$ and transforms $x_1$ by an affine function
# of $z_2$: $x_1\mid z_2$ is still Gaussian, a single bump for each $z_2$, so it cannot make
# a bimodal $x_1$ marginal at fixed $x_2$ either. Neither succeeds; at least two layers are
# needed.
#
# </details>
#
# 7. Could any flow with a Gaussian base put exactly zero mass on the strip between the two
#    modes? What would change with a base density that is itself bimodal?
#
# <details><summary>Answer</summary>
#
# No: $p_\theta(x)=p_0(g^{-1}(x))|\det J_{g^{-1}}(x)|>0$ everywhere, since $p_0>0$ and the
# determinant never vanishes for a diffeomorphism. A bimodal base (for example a mixture with
# a gap of nearly zero density) lets even a simple map carry each mode to one data mode, so
# the bridge can be made small without extreme Jacobians (though still not exactly zero for
# a Gaussian mixture base).
#
# </details>
#
# ## References
#
# * R — N. Ray, *Image Generation using Normalizing Flows and Flow Matching* (course notes),
#   sections "Normalizing Flows", "An example", "Normalizing Flows with RealNVP" and
#   "Limitations of NF".
# * M — C. Miyamoto, *Machine Learning for Physicists: Recitation Notes*, §11 "Normalizing
#   Flows" and §11.1.1 "RealNVP".
# * L. Dinh, D. Krueger, Y. Bengio, *NICE: Non-linear Independent Components Estimation*,
#   ICLR workshop 2015 (additive coupling).
# * L. Dinh, J. Sohl-Dickstein, S. Bengio, *Density estimation using Real NVP*, ICLR 2017.
# * D. Rezende, S. Mohamed, *Variational Inference with Normalizing Flows*, ICML 2015.
# * D. Kingma, P. Dhariwal, *Glow: Generative Flow with Invertible 1x1 Convolutions*,
#   NeurIPS 2018.
# * G. Papamakarios, E. Nalisnick, D. Rezende, S. Mohamed, B. Lakshminarayanan,
#   *Normalizing Flows for Probabilistic Modeling and Inference*, JMLR 22 (2021).
# * R. Cornish, A. Caterini, G. Deligiannidis, A. Doucet, *Relaxing Bijectivity Constraints
#   with Continuously Indexed Normalising Flows*, ICML 2020 (the topology limitation).
# * E. Dupont, A. Doucet, Y. W. Teh, *Augmented Neural ODEs*, NeurIPS 2019 (the same
#   topological obstruction for continuous flows).
