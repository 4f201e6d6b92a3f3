# %% [markdown]
# # Problem set 05 · Normalizing flows (22 points)
#
# Seven questions on discrete flows: invert a coupling layer, add up log-determinants along
# a chain, the notes' 2-D example in closed form, repair a layer that is not invertible,
# train a small RealNVP that beats a stated held-out negative log-likelihood, explain what it
# does between modes (written), and repair a flow that fails on separated modes (end-to-end). Write your code
# where a cell raises `NotImplementedError` (replace that line), run the cell, then run the
# **check cell** below it: it prints `[PASS]` or a `[FAIL]` line saying what is expected.
# The checks here are a first test only; the grader runs more tests on inputs you do not see
# (other masks, dimensions and networks), so write functions that work for any valid input.
#
# Rules: keep the function names and signatures; shapes are batch-first (`x: (batch, dim)`);
# log-determinants have shape `(batch,)`; use `torch` operations. Questions 1–4 work in
# `float64`, questions 5 and 7 train in `float32`. The lecture `notebooks/05_normalizing_flows.ipynb`
# has everything you need.
#
# | Question | Topic | Points |
# |---|---|---|
# | 1 | the inverse of an affine coupling layer and its log-determinant | 3 |
# | 2 | the log-density of a chain of bijections | 2 |
# | 3 | the notes' shear-then-scale flow in closed form | 2 |
# | 4 | spot and repair a non-invertible layer | 3 |
# | 5 | train a RealNVP that beats a held-out NLL of 2.62 nats | 4 |
# | 6 | what the flow does between the modes (written, graded by hand) | 3 |
# | 7 | repair a flow that fails on separated modes (end-to-end) | 5 |

# %%
import numpy as np
import torch
import matplotlib.pyplot as plt
import course_utils as cu

device = cu.setup(seed=0)

# %%
import math

F64 = torch.float64
flows = cu.flows


def log_normal(z):
    # log N(0, I_d) for z of shape (batch, d); returns (batch,), in nats
    return -0.5 * (z**2).sum(dim=1) - 0.5 * z.shape[1] * math.log(2 * math.pi)


def make_net(dim, hidden=16, seed=0):
    # a small conditioner (batch, dim) -> (batch, 2 * dim), float64, random weights
    torch.manual_seed(seed)
    return torch.nn.Sequential(
        torch.nn.Linear(dim, hidden), torch.nn.Tanh(), torch.nn.Linear(hidden, 2 * dim)
    ).to(F64)


def coupling_forward(z, mask, net):
    # affine coupling: copy the coordinates with mask == 1, scale and shift the others.
    #   (raw_s, t) = net(mask * z),  s = tanh(raw_s) on the free coordinates
    #   x = mask * z + (1 - mask) * (z * exp(s) + t),  log|det dx/dz| = sum of s
    raw_s, t = net(mask * z).chunk(2, dim=1)
    s, t = (1 - mask) * torch.tanh(raw_s), (1 - mask) * t
    x = mask * z + (1 - mask) * (z * torch.exp(s) + t)
    return x, s.sum(dim=1)


# %% [markdown]
# ## Question 1 (3 points, routine, about 15 min): invert a coupling layer
#
# `coupling_forward(z, mask, net)` above is an affine coupling layer: the coordinates with
# `mask == 1` are copied, the others are scaled by $e^{s}$ and shifted by $t$, where $(s,t)$ are
# computed by `net` from the copied coordinates only. Write `coupling_inverse(x, mask, net)`
# returning `(z, log_det)` with `z` such that `coupling_forward(z, mask, net)[0] == x`, and
# `log_det` $=\log|\det \partial z/\partial x|$ of the inverse map, shape `(batch,)`.
#
# Do not invert `net` (you cannot: it is an arbitrary network). Recompute $s$ and $t$ from
# the right input instead.

# %% course={"question": "q1", "role": "answer"}
def coupling_inverse(x, mask, net):
    """Inverse of coupling_forward.

    Args:
        x: points, shape (batch, dim).
        mask: (dim,) tensor of 0s and 1s (1 = copied coordinate).
        net: the conditioner used by coupling_forward, (batch, dim) -> (batch, 2 * dim).

    Returns:
        (z, log_det): z of shape (batch, dim), log|det dz/dx| of shape (batch,).
    """
    ### BEGIN SOLUTION
    raw_s, t = net(mask * x).chunk(2, dim=1)  # mask * x == mask * z: the copied part
    s, t = (1 - mask) * torch.tanh(raw_s), (1 - mask) * t
    z = mask * x + (1 - mask) * (x - t) * torch.exp(-s)
    return z, -s.sum(dim=1)
    ### END SOLUTION


# %% course={"question": "q1", "role": "check"}
net1 = make_net(2, seed=1)
mask1 = torch.tensor([1.0, 0.0], dtype=F64)
z1 = torch.tensor([[0.3, -1.2], [2.0, 0.5], [-1.0, 1.0]], dtype=F64)
x1, ld1 = coupling_forward(z1, mask1, net1)
cu.checks.check_close("q1 round trip", lambda: coupling_inverse(x1, mask1, net1)[0], z1,
                      rtol=1e-10, atol=1e-12, hint="recompute s and t from mask * x")
_ = cu.checks.check_close("q1 log-det", lambda: coupling_inverse(x1, mask1, net1)[1], -ld1,
                      rtol=1e-10, atol=1e-12, hint="the inverse's log-det is minus the forward one")


# %% [markdown]
# ## Question 2 (2 points, routine, about 10 min): sample a chain and score the samples
#
# A flow $x=g_K\circ\dots\circ g_1(z)$ with $z\sim\mathcal N(0,I)$ is given as a Python list
# `layers` of `cu.flows` bijections (`layers[0]` is applied first). Calling a layer,
# `layer(z) -> (x, log_det)`, runs it **forwards** with `log_det` $=\log|\det\partial x/\partial z|$.
# The lecture scored data by running the chain *backwards*; here go the other way, as a
# sampler does. Write `chain_sample(layers, z)` returning `(x, log_p)`: the images `x` of the
# base points `z: (batch, d)` and $\log p(x)$ of each image, computed **in the same forward
# pass** — only forward calls of the layers and `log_normal`, no `inverse`, no
# `cu.flows.Compose` or `cu.flows.Flow`.
#
# Tests: the images on a hidden chain (1 point); their log-densities on a 3-D chain (1 point).

# %% course={"question": "q2", "role": "answer"}
def chain_sample(layers, z):
    """x = layers[-1](...layers[0](z)) and log p(x); z: (batch, d) -> ((batch, d), (batch,))."""
    ### BEGIN SOLUTION
    log_p = log_normal(z)
    x = z
    for layer in layers:
        x, log_det = layer(x)
        log_p = log_p - log_det
    return x, log_p
    ### END SOLUTION


# %% course={"question": "q2", "role": "check"}
layers2 = [flows.Shear(0.8), flows.ElementwiseAffine(torch.tensor([2.0, 0.5], dtype=F64)),
           flows.Permutation([1, 0])]
z2 = torch.tensor([[0.5, 1.0], [-2.0, 0.3], [1.5, -0.7]], dtype=F64)
# independent reference: the chain is linear, x = A z with A = P diag(2, 0.5) S, so x ~ N(0, A A^T)
A2 = torch.tensor([[0.0, 1.0], [1.0, 0.0]], dtype=F64) @ torch.diag(torch.tensor([2.0, 0.5], dtype=F64)) \
    @ torch.tensor([[1.0, 0.0], [0.8, 1.0]], dtype=F64)
gauss2 = torch.distributions.MultivariateNormal(torch.zeros(2, dtype=F64), A2 @ A2.T)
cu.checks.check_close("q2 images", lambda: chain_sample(layers2, z2)[0], z2 @ A2.T, rtol=1e-10, atol=1e-12,
                      hint="apply layers[0] first")
_ = cu.checks.check_true("q2 log-densities of the images",
                         lambda: torch.allclose(chain_sample(layers2, z2)[1], gauss2.log_prob(chain_sample(layers2, z2)[0]),
                                                rtol=1e-10, atol=1e-12),
                         "log p(x) of each returned image under the chain's density",
                         hint="change of variables forwards: log p(x) = log N(z) - sum of the forward log-dets")


# %% [markdown]
# ## Question 3 (2 points, core, about 15 min): the notes' example in closed form
#
# R builds $x=g_2(g_1(z))$ with the shear $g_1:\ h_1=z_1,\ h_2=z_2+a z_1$ and the per-axis
# affine map $g_2:\ x_i=\sigma_i h_i+b_i$ ($\sigma_i\neq0$, possibly negative). Write
# `shear_scale_log_prob(x, a, sigma, b)` returning $\log p(x)$ **in closed form**: invert the
# two steps by hand, evaluate $\log\mathcal N(z;0,I)$ and subtract the log-determinant. Do not
# use `cu.flows` here. (`sigma` and `b` are tensors of shape `(2,)`, `a` a float.)

# %% course={"question": "q3", "role": "answer"}
def shear_scale_log_prob(x, a, sigma, b):
    """log-density of the shear-then-scale flow at x: (batch, 2); returns (batch,)."""
    ### BEGIN SOLUTION
    z1 = (x[:, 0] - b[0]) / sigma[0]
    z2 = (x[:, 1] - b[1]) / sigma[1] - a * z1
    return log_normal(torch.stack([z1, z2], dim=1)) - torch.log(torch.abs(sigma[0] * sigma[1]))
    ### END SOLUTION


# %% course={"question": "q3", "role": "check"}
a3, sigma3, b3 = 1.5, torch.tensor([0.5, 2.0], dtype=F64), torch.tensor([1.0, -1.0], dtype=F64)
x3 = torch.tensor([[0.0, 0.0], [1.0, -1.0], [2.5, 3.0]], dtype=F64)
# independent reference: x = A z + b with A = diag(sigma) [[1, 0], [a, 1]] is N(b, A A^T)
A3 = torch.diag(sigma3) @ torch.tensor([[1.0, 0.0], [a3, 1.0]], dtype=F64)
reference = torch.distributions.MultivariateNormal(b3, A3 @ A3.T).log_prob(x3)
cu.checks.check_close("q3 closed form", lambda: shear_scale_log_prob(x3, a3, sigma3, b3), reference,
                      rtol=1e-10, atol=1e-12, hint="z1 = (x1 - b1)/s1, z2 = (x2 - b2)/s2 - a z1; det = s1 s2")
# one negative scale: sigma1 sigma2 < 0, the density needs |det|
sigma3n = torch.tensor([-0.8, 1.5], dtype=F64)
A3n = torch.diag(sigma3n) @ torch.tensor([[1.0, 0.0], [a3, 1.0]], dtype=F64)
reference_n = torch.distributions.MultivariateNormal(b3, A3n @ A3n.T).log_prob(x3)
_ = cu.checks.check_close("q3 a negative scale", lambda: shear_scale_log_prob(x3, a3, sigma3n, b3), reference_n,
                      rtol=1e-10, atol=1e-12, hint="a scale may be negative: subtract log|sigma1 sigma2|")


# %% [markdown]
# ## Question 4 (3 points, challenge, about 20 min): spot and repair a non-invertible layer
#
# Someone wrote a "coupling" layer with the scale factor $z_1$ instead of $e^{s(z_1)}$:
#
# $$x_1=z_1,\qquad x_2=z_2\,z_1+\sin z_1 .$$
#
# **(a)** Show that it is not invertible: set `collision` to a `(2, 2)` float64 tensor whose
# two rows are **different** points $z$ (at least 0.1 apart) that `broken_layer` maps to the
# **same** $x$.
#
# **(b)** Repair it by replacing the factor $z_1$ with $e^{z_1}$: $x_2=z_2\,e^{z_1}+\sin z_1$.
# Write `fixed_forward(z)` returning `(x, log|det dx/dz|)` and `fixed_inverse(x)` returning
# `(z, log|det dz/dx|)`, all batch-first.

# %%
def broken_layer(z):
    return torch.stack([z[:, 0], z[:, 1] * z[:, 0] + torch.sin(z[:, 0])], dim=1)


# %% course={"question": "q4", "role": "answer"}
### BEGIN SOLUTION
collision = torch.tensor([[0.0, 1.0], [0.0, -2.0]], dtype=F64)  # z1 = 0: every z2 gives x = (0, 0)
### END SOLUTION


def fixed_forward(z):
    """x1 = z1, x2 = z2 exp(z1) + sin(z1); returns (x, log|det dx/dz|)."""
    ### BEGIN SOLUTION
    x = torch.stack([z[:, 0], z[:, 1] * torch.exp(z[:, 0]) + torch.sin(z[:, 0])], dim=1)
    return x, z[:, 0].clone()
    ### END SOLUTION


def fixed_inverse(x):
    """Inverse of fixed_forward; returns (z, log|det dz/dx|)."""
    ### BEGIN SOLUTION
    z = torch.stack([x[:, 0], (x[:, 1] - torch.sin(x[:, 0])) * torch.exp(-x[:, 0])], dim=1)
    return z, -x[:, 0]
    ### END SOLUTION


# %% course={"question": "q4", "role": "check"}
cu.checks.check_true("q4a collision", lambda: bool(
    collision.shape == (2, 2)
    and (collision[0] - collision[1]).norm() >= 0.1
    and torch.allclose(broken_layer(collision)[0], broken_layer(collision)[1], atol=1e-9)),
    "two points at least 0.1 apart with the same image", hint="where is the factor z1 zero?")
z4 = torch.tensor([[0.4, -1.0], [-1.5, 2.0], [0.0, 0.7]], dtype=F64)
# properties of any correct repair (the hidden tests compare values): at z1 = 0 the map is the
# identity, inverse undoes forward, and each log-det matches autograd on your own map
jac4 = lambda f, z: torch.func.vmap(torch.func.jacrev(lambda v: f(v[None])[0][0]))(z)
cu.checks.check_close("q4b forward at z1 = 0 is the identity", lambda: fixed_forward(z4[2:])[0], z4[2:],
                      rtol=1e-12, atol=1e-12, hint="e^0 = 1 and sin 0 = 0")
cu.checks.check_close("q4b round trip", lambda: fixed_inverse(fixed_forward(z4)[0])[0], z4, rtol=1e-12, atol=1e-12)
cu.checks.check_true("q4b forward log-det agrees with autograd on fixed_forward", lambda: torch.allclose(
    fixed_forward(z4)[1], torch.linalg.slogdet(jac4(fixed_forward, z4)).logabsdet, rtol=1e-10, atol=1e-12),
    "log|det dx/dz| equals slogdet of the Jacobian of your own forward map")
_ = cu.checks.check_true("q4b inverse log-det = - forward log-det", lambda: torch.allclose(
    fixed_inverse(fixed_forward(z4)[0])[1], -fixed_forward(z4)[1], rtol=1e-10, atol=1e-12),
    "log|det dz/dx| at x = f(z) is minus log|det dx/dz| at z")

# %% [markdown]
# ## Question 5 (4 points, core, about 15 min): train a RealNVP that beats 2.62 nats
#
# The cell below draws 4000 training and 4000 held-out points from the course's Gaussian
# mixture (`cu.data.get("gaussian_mixture")`), whose entropy — the best NLL any model can
# reach — is about 2.455 nats, while the best single Gaussian scores about 3.18. Build a
# `cu.flows.Flow` named `model` (for example with `cu.flows.realnvp`), train it by maximum
# likelihood on `x_train` (for example with `cu.flows.train_flow`), and set `final_nll` to its
# held-out NLL on `x_val` in nats (`cu.flows.nll(model, x_val)`).
#
# To pass, the held-out NLL must be **at most 2.62 nats** on `x_val` *and* on a fresh held-out
# set the grader draws. Keep training under about 10 seconds on a laptop CPU (a few hundred
# steps of a small flow are enough); the grader stops notebooks that run too long.

# %%
mix = cu.data.get("gaussian_mixture")
g5 = torch.Generator().manual_seed(5)
x_train, x_val = mix.sample(4000, generator=g5), mix.sample(4000, generator=g5)  # float32
print(f"entropy of the data distribution: {mix.entropy():.3f} nats")

# %% course={"question": "q5", "role": "answer"}
# NBVAL_IGNORE_OUTPUT
### BEGIN SOLUTION
torch.manual_seed(0)
model = flows.realnvp(2, n_layers=6, hidden=32)
flows.train_flow(model, x_train, x_val, steps=600, lr=1e-2, print_every=300,
                 generator=torch.Generator().manual_seed(0))
final_nll = flows.nll(model, x_val)
print(f"held-out NLL {final_nll:.3f} nats")
### END SOLUTION

# %% course={"question": "q5", "role": "check"}
cu.checks.check_true("q5 model", lambda: isinstance(model, cu.flows.Flow), "model is a cu.flows.Flow")
cu.checks.check_true("q5 held-out NLL", lambda: flows.nll(model, x_val) <= 2.62,
                     "held-out NLL on x_val <= 2.62 nats", hint="more steps, more layers, or lr about 1e-2")
_ = cu.checks.check_true("q5 final_nll", lambda: abs(float(final_nll) - flows.nll(model, x_val)) < 1e-6,
                     "final_nll is the held-out NLL of model on x_val",
                     hint="final_nll = cu.flows.nll(model, x_val)")

# %% [markdown]
# ## Question 6 (3 points, core, about 10 min): what the flow does between the modes (written)
#
# Your RealNVP in Question 5 is a smooth bijection of $\mathbb R^2$ pushing a Gaussian onto a
# mixture of Gaussians with well separated modes. **Explain** in your own words why such a flow
# cannot put (near) zero density between the modes, **predict** what its density looks like on
# the segment joining two modes (sketch it in words), and name one change to the model or the
# training that reduces the problem, with the reason (at most 150 words).
#
# Write your answer in the markdown cell below (double-click to edit). This question is
# graded by hand with a rubric; the checks and the automatic grader give it 0 points.

# %% [markdown] course={"question": "q6", "role": "answer"}
# ### BEGIN SOLUTION
# *Model answer: see the rubric (instructor only).*
# ### END SOLUTION

# %% [markdown] course={"role": "instructor"}
# **Rubric (3 points).**
# - 1 pt: the image of the connected Gaussian under a continuous bijection is connected, and
#   the base density is positive everywhere, so the flow must stretch a thin region of base mass
#   across the gap: large Jacobian there means small but non-zero density; separating modes needs
#   very large $|\det J|$ variation (Lipschitz constants blow up).
# - 1 pt: prediction: low-density "bridges"/filaments joining the modes along the segment,
#   density dipping but not to the mixture's near-zero value; held-out NLL worse than the true
#   entropy.
# - 1 pt: a remedy with a reason: more/expressive layers (spline couplings), a mixture or
#   multi-modal base distribution, more training, or a continuous-time model; not "a bigger
#   learning rate". Half points allowed.

# %% [markdown]
# ## Question 7 (5 points, challenge, about 25 min): repair a flow that fails on separated modes (end-to-end)
#
# The data are the two separated Gaussians of the lecture's section 5 (means $(\pm2.5, 0)$,
# standard deviation 0.35). A colleague built the flow `coupling_flow(broken_masks)`: four
# affine couplings and a per-axis scale, every coupling with the mask $[1, 0]$. It trains
# without an error, yet its held-out NLL stays far above the data's entropy.
#
# 1. **Run and measure the failure**: build `broken = coupling_flow(broken_masks)`, train it
#    with `train7(broken)` (the budget of this question) and measure `nll_broken`, its mean
#    NLL on `x_test7` (nats), and `bridge_broken`, the probability it puts on the strip
#    `strip7` $=\{|x_1|<0.75\}$ between the modes
#    (`cu.grid.integrate_density_2d(model.log_prob, lim=strip7, n=200)`; the data put
#    about $3\times10^{-7}$ there).
# 2. **Repair**: find why it fails (what does a coupling with mask $[1,0]$ do to $x_1$?), set
#    `repaired_masks` to a list of masks that fixes it, build `repaired = coupling_flow(repaired_masks)`
#    and train it with the same `train7`. Measure `nll_repaired` and `bridge_repaired` the same way.
# 3. **Read the result**: `gain = nll_broken - nll_repaired` (nats). Would flipping every mask
#    to $[0,1]$, or stacking eight $[1,0]$ layers, have repaired it?
#
# Tests (other seeds and a fresh held-out set): both NLLs are measured on `x_test7` (1 point);
# the repaired flow's NLL is at most 2.2 nats on `x_test7` and on a fresh sample (1 point);
# both bridge masses are measured (1 point); the repaired flow puts at most three quarters
# of the broken flow's mass on the strip (1 point); `gain` is at least 0.4 nats
# (1 point). Both trainings together take a few seconds.

# %%
seed = 0  # the hidden tests use other seeds
sep = cu.data.get("gaussian_mixture", means=[[-2.5, 0.0], [2.5, 0.0]], stds=0.35)
g7 = torch.Generator().manual_seed(seed)
x_train7, x_test7 = sep.sample(3000, generator=g7), sep.sample(3000, generator=g7)  # float32
strip7 = (-0.75, 0.75, -4.0, 4.0)  # x1 in (-0.75, 0.75), x2 in (-4, 4): the gap between the modes
print(f"entropy of the data: {sep.entropy():.3f} nats")


def coupling_flow(masks, hidden=32):
    # affine couplings with the given masks (1 = copied coordinate), then a per-axis scale and shift
    layers = [flows.AffineCoupling(m, hidden=hidden, activation=torch.nn.ReLU) for m in masks]
    layers.append(flows.ElementwiseAffine(torch.ones(2), torch.zeros(2), trainable=True))
    return flows.Flow(flows.Compose(*layers))


def train7(model):
    # the training budget of question 7: 250 Adam steps on batches of 128 points
    return flows.train_flow(model, x_train7, steps=250, batch_size=128, print_every=None,
                            generator=torch.Generator().manual_seed(seed))


broken_masks = [[1.0, 0.0]] * 4  # the colleague's flow: every coupling copies x1


# %% course={"question": "q7", "role": "answer"} tags=["nbval-ignore-output"]
broken = repaired = repaired_masks = None
nll_broken = nll_repaired = bridge_broken = bridge_repaired = gain = float("nan")
### BEGIN SOLUTION
torch.manual_seed(seed)
broken = coupling_flow(broken_masks)
train7(broken)
# a coupling with mask [1, 0] copies x1, and the final scale is affine: the model's x1 marginal
# stays a single Gaussian whatever the training. Alternate the masks so x1 is transformed too.
repaired_masks = [[1.0, 0.0], [0.0, 1.0], [1.0, 0.0], [0.0, 1.0]]
torch.manual_seed(seed)
repaired = coupling_flow(repaired_masks)
train7(repaired)
nll_broken = flows.nll(broken, x_test7)
nll_repaired = flows.nll(repaired, x_test7)
bridge_broken = cu.grid.integrate_density_2d(broken.log_prob, lim=strip7, n=200)
bridge_repaired = cu.grid.integrate_density_2d(repaired.log_prob, lim=strip7, n=200)
gain = nll_broken - nll_repaired
### END SOLUTION
print(f"held-out NLL: broken {nll_broken:.2f}, repaired {nll_repaired:.2f} nats (gain {gain:.2f}); "
      f"mass on the strip: broken {bridge_broken:.3f}, repaired {bridge_repaired:.3f}")

# %% course={"question": "q7", "role": "check"}
cu.checks.check_true("q7 two trained flows", lambda: isinstance(broken, flows.Flow)
                     and isinstance(repaired, flows.Flow) and broken is not repaired,
                     "broken and repaired are two cu.flows.Flow objects")
cu.checks.check_true("q7 NLLs measured on x_test7",
                     lambda: abs(nll_broken - flows.nll(broken, x_test7)) < 1e-6
                     and abs(nll_repaired - flows.nll(repaired, x_test7)) < 1e-6,
                     "flows.nll(model, x_test7) for each model", hint="held-out data, not x_train7")
cu.checks.check_true("q7 the repair helps", lambda: nll_repaired < nll_broken and bridge_repaired < bridge_broken,
                     "a lower held-out NLL and less mass on the strip after the repair",
                     hint="which coordinates does a coupling with mask [1, 0] leave unchanged?")
_ = cu.checks.check_true("q7 gain", lambda: abs(gain - (nll_broken - nll_repaired)) < 1e-12,
                         "gain = nll_broken - nll_repaired")

# %% [markdown]
# ## Done
#
# Run every cell from the top (Kernel → Restart and run all) and make sure each check cell
# prints `[PASS]` before you submit.
