# %% [markdown]
# # Problem set 07 · Flow matching (30 points)
#
# Eight questions that rebuild the pieces of flow matching: the OT conditional path and its
# target, which conditional trajectories are straight, the conditional flow matching loss,
# the closed-form marginal field of a small data set, an Euler sampler, and the
# optimal-transport pairing with a straightness measure; a written question on curved
# marginal paths; and an end-to-end task that trains two models and measures quality
# against the number of sampling steps. Write your code in place of the
# lines that raise `NotImplementedError`, run the cell, then run the **check cell** below
# it: it prints `[PASS]` or a `[FAIL]` line saying what is expected. The checks here are a
# first test only; the grader runs more tests on inputs you do not see, so make your
# functions correct for any valid input.
#
# Rules: work in `float64` (set below); keep the function names and signatures; shapes are
# batch-first (`x: (batch, d)`), times `t: (batch,)`. Fields are called `v(t, x)`. Time runs
# from $t=0$ (noise $x_0\sim\mathcal N(0,I)$) to $t=1$ (data $x_1$). Do **not** call
# `cu.flow_matching`, `cu.metrics` or `cu.ode` inside your answers (the check cells may);
# everything you need is in `notebooks/07_flow_matching.ipynb`.
#
# | Question | Topic | Points |
# |---|---|---|
# | 1 | the OT conditional path and its regression target | 3 |
# | 2 | which conditional trajectories are straight? | 4 |
# | 3 | the conditional flow matching loss | 3 |
# | 4 | the closed-form marginal field of a small data set | 5 |
# | 5 | an Euler sampler | 3 |
# | 6 | mini-batch OT pairing and straightness | 4 |
# | 7 | straight conditional paths, curved marginal paths (written) | 3 |
# | 8 | independent versus OT coupling: quality against NFE (end-to-end) | 5 |

# %%
import numpy as np
import torch
import matplotlib.pyplot as plt
import course_utils as cu

device = cu.setup(seed=0)

# %%
import math

from scipy.optimize import linear_sum_assignment

torch.set_default_dtype(torch.float64)


def vp_alpha(t, beta_min=0.1, beta_max=20.0):
    # the VP schedule in course time: alpha_t = exp(-T(1 - t) / 2), T(s) = int_0^s beta
    s = 1.0 - t
    return torch.exp(-0.5 * (beta_min * s + 0.5 * (beta_max - beta_min) * s**2))


def ve_sigma(t, sigma_min=0.01, sigma_max=5.0):
    # the VE schedule in course time: sigma_t = sigma_min (sigma_max / sigma_min)^(1 - t)
    return sigma_min * (sigma_max / sigma_min) ** (1.0 - t)


# %% [markdown]
# ## Question 1 (3 points, routine, about 10 min): the OT conditional path and its regression target
#
# For the optimal-transport path with parameter $\sigma_\min$,
# $x_t=\big(1-(1-\sigma_\min)t\big)x_0+t\,x_1$. Write `sample_xt(x0, x1, t, sigma_min)`
# returning $x_t$ for every row, and `target(x0, x1, t, sigma_min)` returning the CFM
# regression target $\frac{d}{dt}x_t$ at that point. `x0, x1: (batch, d)`, `t: (batch,)`,
# outputs `(batch, d)`.

# %% course={"question": "q1", "role": "answer"}
def sample_xt(x0, x1, t, sigma_min):
    """Point of the OT path at times t: (batch,) -> (batch, d)."""
    ### BEGIN SOLUTION
    t = t[:, None]
    return (1 - (1 - sigma_min) * t) * x0 + t * x1
    ### END SOLUTION


def target(x0, x1, t, sigma_min):
    """d x_t / dt of the OT path: (batch, d)."""
    ### BEGIN SOLUTION
    return x1 - (1 - sigma_min) * x0 + 0 * t[:, None]
    ### END SOLUTION


# %% course={"question": "q1", "role": "check"}
x0_q1 = torch.tensor([[1.0, 0.0], [0.0, -2.0]])
x1_q1 = torch.tensor([[0.0, 2.0], [3.0, 1.0]])
t_q1 = torch.tensor([0.5, 0.25])
cu.checks.check_close("q1 x_t", lambda: sample_xt(x0_q1, x1_q1, t_q1, 0.2),
                      [[0.6, 1.0], [0.75, -1.35]], rtol=1e-12,
                      hint="sigma_t = 1 - (1 - sigma_min) t multiplies x0, t multiplies x1")
_ = cu.checks.check_close("q1 target", lambda: target(x0_q1, x1_q1, t_q1, 0.2),
                      [[-0.8, 2.0], [3.0, 2.6]], rtol=1e-12,
                      hint="differentiate x_t in t; the result does not depend on t")


# %% [markdown]
# ## Question 2 (4 points, core, about 15 min): which conditional trajectories are straight?
#
# **(a)** Write `max_off_chord(traj)`: for a 2-D curve sampled as `traj: (T, 2)`, the largest
# Euclidean distance of its points from the straight line through its first and last points
# (a Python float; 0 for a straight segment).
#
# **(b)** For $x_0=(1,-1)$, $x_1=(2,1)$ and 500 times $t$ equally spaced in $[0, 0.999]$, build
# the conditional trajectories $x_t=\sigma_tx_0+\alpha_tx_1$ of the three paths — OT with
# $\sigma_\min=0.05$; VP with $\alpha_t$ = `vp_alpha(t)`, $\sigma_t=\sqrt{1-\alpha_t^2}$; VE with
# $\alpha_t=1$, $\sigma_t$ = `ve_sigma(t)` — and set `straight` to a dict
# `{"ot": ..., "vp": ..., "ve": ...}` of booleans: is the trajectory a straight segment
# (off-chord distance below $10^{-9}$)?

# %% course={"question": "q2", "role": "answer"}
def max_off_chord(traj):
    """Largest distance of the points of traj: (T, 2) from the line through its end points."""
    ### BEGIN SOLUTION
    d = traj - traj[0]
    e = traj[-1] - traj[0]
    cross = d[:, 0] * e[1] - d[:, 1] * e[0]  # |d x e| = distance * |e|
    return float(cross.abs().max() / e.norm())
    ### END SOLUTION


x0_q2 = torch.tensor([1.0, -1.0])
x1_q2 = torch.tensor([2.0, 1.0])
t_q2 = torch.linspace(0, 0.999, 500)
### BEGIN SOLUTION
schedules = {
    "ot": (t_q2, 1 - 0.95 * t_q2),
    "vp": (vp_alpha(t_q2), torch.sqrt(1 - vp_alpha(t_q2) ** 2)),
    "ve": (torch.ones_like(t_q2), ve_sigma(t_q2)),
}
straight = {}
for name, (alpha, sigma) in schedules.items():
    traj = sigma[:, None] * x0_q2 + alpha[:, None] * x1_q2
    straight[name] = max_off_chord(traj) < 1e-9
### END SOLUTION
print("classified:", sorted(straight))

# %% course={"question": "q2", "role": "check"}
theta = torch.linspace(0, math.pi / 2, 1001)
arc = torch.stack([torch.cos(theta), torch.sin(theta)], 1)
cu.checks.check_close("q2a quarter circle", lambda: max_off_chord(arc), 1 - 1 / math.sqrt(2),
                      rtol=1e-6, hint="the farthest point of the arc is at 45 degrees")
cu.checks.check_close("q2a straight segment",
                      lambda: max_off_chord(torch.linspace(0, 1, 7)[:, None] * torch.tensor([3.0, -1.0])),
                      0.0, atol=1e-12)
# the hidden tests grade the three values; this check only tests the format
_ = cu.checks.check_true("q2b straight is a dict of booleans", lambda: set(straight) == {"ot", "vp", "ve"}
                     and all(isinstance(v, bool) for v in straight.values()),
                     "keys 'ot', 'vp', 've'; the values are graded by the hidden tests",
                     hint="a path is straight when sigma_t and alpha_t are affine in one common "
                     "function of t; print max_off_chord for each")


# %% [markdown]
# ## Question 3 (3 points, routine, about 10 min): the conditional flow matching loss
#
# Write `cfm_loss(model, x0, x1, t, sigma_min)`: the Monte Carlo CFM loss of the OT path,
# $\frac1B\sum_i\big\|v(t_i,x_{t_i})-u_i\big\|^2$ with $x_{t_i}$ and $u_i$ from question 1,
# for a model called as `model(t, x)` with `t: (batch,)`. Return a 0-d tensor that
# back-propagates into the model's parameters.

# %% course={"question": "q3", "role": "answer"}
def cfm_loss(model, x0, x1, t, sigma_min):
    """Mean over the batch of |v(t, x_t) - target|^2 (sum over coordinates)."""
    ### BEGIN SOLUTION
    xt = sample_xt(x0, x1, t, sigma_min)
    return ((model(t, xt) - target(x0, x1, t, sigma_min)) ** 2).sum(dim=1).mean()
    ### END SOLUTION


# %% course={"question": "q3", "role": "check"}
x0_q3 = torch.tensor([[1.0, 0.0], [0.0, 1.0]])
x1_q3 = torch.tensor([[2.0, 2.0], [0.0, 0.0]])
t_q3 = torch.tensor([0.5, 0.5])
# zero model: mean of |x1 - x0|^2 = (5 + 1) / 2; identity model v(t, x) = x: (1.25 + 2.25) / 2
cu.checks.check_close("q3 zero model", lambda: cfm_loss(lambda t, x: 0 * x, x0_q3, x1_q3, t_q3, 0.0), 3.0)
cu.checks.check_close("q3 identity model", lambda: cfm_loss(lambda t, x: x, x0_q3, x1_q3, t_q3, 0.0), 1.75)
lin_q3 = torch.nn.Linear(2, 2)
_ = cu.checks.check_true("q3 differentiable",
                     lambda: cfm_loss(lambda t, x: lin_q3(x), x0_q3, x1_q3, t_q3, 0.1).requires_grad,
                     "the loss carries gradients to the model's parameters")


# %% [markdown]
# ## Question 4 (5 points, challenge, about 25 min): the closed-form marginal field of a small data set
#
# For data points $y_1,\dots,y_N$ (uniform weights) and the OT path, the marginal field is
#
# $$u_t(x)=\sum_j r_j(t,x)\,u_t(x\mid y_j),\qquad
# r_j\propto\exp\!\Big(-\frac{\|x-t\,y_j\|^2}{2\sigma_t^2}\Big),\qquad
# u_t(x\mid y)=\frac{\sigma_t'}{\sigma_t}(x-t\,y)+y,$$
#
# with $\sigma_t=1-(1-\sigma_\min)t$. Write `marginal_field(t, x, data, sigma_min)` for a
# scalar `t` (a float), `x: (batch, d)`, `data: (N, d)`, returning `(batch, d)`. It must be
# **numerically stable**: for points far from every $t\,y_j$ all the exponentials underflow
# to 0 — compute the weights with a softmax of the exponents (`torch.softmax`) rather than
# by normalising `exp` values. The grader also evaluates it far from the data and close to
# $t=1$.

# %% course={"question": "q4", "role": "answer"}
def marginal_field(t, x, data, sigma_min):
    """Marginal OT-path field of the data points at time t (float): (batch, d)."""
    ### BEGIN SOLUTION
    sigma = 1 - (1 - sigma_min) * t
    d_sigma = -(1 - sigma_min)
    logits = -((x[:, None, :] - t * data[None]) ** 2).sum(-1) / (2 * sigma**2)  # (batch, N)
    mean = torch.softmax(logits, dim=1) @ data  # E[x1 | x_t = x]
    return d_sigma / sigma * (x - t * mean) + mean
    ### END SOLUTION


# %% course={"question": "q4", "role": "check"}
three = torch.tensor([[1.0, 0.0], [-1.0, 1.0], [0.0, -2.0]])
x_q4 = torch.tensor([[0.2, 0.3], [-1.0, -1.0], [2.0, 0.5]])
one = three[:1]
cu.checks.check_close("q4 one point = the conditional field",
                      lambda: marginal_field(0.4, x_q4, one, 0.1),
                      -0.9 / 0.64 * (x_q4 - 0.4 * one) + one, rtol=1e-10)
reference = cu.flow_matching.MarginalField(cu.flow_matching.OTPath(0.1), three)(0.7, x_q4)
cu.checks.check_close("q4 three points", lambda: marginal_field(0.7, x_q4, three, 0.1), reference,
                      rtol=1e-10, atol=1e-12)
_ = cu.checks.check_true("q4 stable far from the data",
                     lambda: bool(torch.isfinite(marginal_field(0.95, torch.tensor([[40.0, -40.0]]), three, 0.01)).all()),
                     "finite values even where every exp(...) underflows",
                     hint="torch.softmax subtracts the largest exponent before exponentiating")


# %% [markdown]
# ## Question 5 (3 points, routine, about 10 min): an Euler sampler
#
# Write `euler_sample(v, x0, n_steps)`: integrate $\dot x=v(t,x)$ from $t=0$ to $t=1$ with
# `n_steps` equal explicit Euler steps starting at `x0: (batch, d)`, and return the end
# points `(batch, d)`. Call `v` with a **float** time `t` (the fields here accept that). Use
# exactly one function evaluation per step (NFE = `n_steps`); the check counts the calls.

# %% course={"question": "q5", "role": "answer"}
def euler_sample(v, x0, n_steps):
    """Explicit Euler from t = 0 to 1 in n_steps equal steps; returns (batch, d)."""
    ### BEGIN SOLUTION
    h = 1.0 / n_steps
    x = x0
    for k in range(n_steps):
        x = x + h * v(k * h, x)
    return x
    ### END SOLUTION


# %% course={"question": "q5", "role": "check"}
x0_q5 = torch.tensor([[1.0, -2.0]])
cu.checks.check_close("q5 dx/dt = -x, 4 steps", lambda: euler_sample(lambda t, x: -x, x0_q5, 4),
                      0.75**4 * x0_q5, rtol=1e-12, hint="x_{k+1} = x_k + h v(t_k, x_k)")
cu.checks.check_close("q5 dx/dt = t, 10 steps", lambda: euler_sample(lambda t, x: t + 0 * x, x0_q5, 10),
                      x0_q5 + 0.45, rtol=1e-12, hint="evaluate v at the start of each step")
# one data point, OT path: the flow is straight with constant speed, so ONE Euler step is exact
cu.checks.check_close("q5 one step is exact for a straight flow",
                      lambda: euler_sample(lambda t, x: marginal_field(t, x, torch.tensor([[2.0, 1.0]]), 0.2),
                                           torch.tensor([[0.5, -0.5]]), 1),
                      [[2.1, 0.9]], rtol=1e-10)


def times_of_calls():
    calls = []
    euler_sample(lambda t, x: calls.append(float(t)) or -x, x0_q5, 5)
    return calls


_ = cu.checks.check_close("q5 NFE = n_steps, at t = 0, 0.2, ..., 0.8", times_of_calls, [0.0, 0.2, 0.4, 0.6, 0.8],
                      rtol=1e-12, atol=1e-12, hint="one call of v per step, at the start of the step")


# %% [markdown]
# ## Question 6 (4 points, core, about 20 min): mini-batch OT pairing and straightness
#
# **(a)** Write `ot_pairing(x0, x1)`: return `x0` with its rows reordered so that
# $\sum_i\|x_{0,i}-x_{1,i}\|^2$ is as small as possible over all reorderings. Use
# `scipy.optimize.linear_sum_assignment` on the matrix of squared distances (imported above).
#
# **(b)** Write `straightness(traj)`: Liu et al.'s
# $S=\int_0^1\mathbb E\,\big\|(x_1-x_0)-\dot x_t\big\|^2\,dt$ for trajectories
# `traj: (T, batch, d)` recorded at $T$ equally spaced times from 0 to 1: approximate
# $\dot x_t$ on each interval by the finite difference $(x_{k+1}-x_k)/\Delta t$, average the
# squared norm over the batch, and sum over intervals times $\Delta t$ (a float).

# %% course={"question": "q6", "role": "answer"}
def ot_pairing(x0, x1):
    """x0 reordered so that row i is paired with x1[i] at least total squared distance."""
    ### BEGIN SOLUTION
    cost = ((x0[:, None, :] - x1[None, :, :]) ** 2).sum(-1)
    rows, cols = linear_sum_assignment(cost.numpy())
    paired = torch.empty_like(x0)
    paired[torch.as_tensor(cols)] = x0[torch.as_tensor(rows)]
    return paired
    ### END SOLUTION


def straightness(traj):
    """Liu et al.'s straightness of trajectories traj: (T, batch, d) on [0, 1]."""
    ### BEGIN SOLUTION
    dt = 1.0 / (traj.shape[0] - 1)
    vel = (traj[1:] - traj[:-1]) / dt
    chord = traj[-1] - traj[0]
    return float((((vel - chord) ** 2).sum(-1).mean(-1) * dt).sum())
    ### END SOLUTION


# %% course={"question": "q6", "role": "check"}
x0_q6 = torch.tensor([[0.0, 0.0], [10.0, 0.0], [0.0, 10.0]])
x1_q6 = torch.tensor([[0.0, 11.0], [1.0, 0.0], [11.0, 0.0]])
cu.checks.check_close("q6a pairing", lambda: ot_pairing(x0_q6, x1_q6),
                      [[0.0, 10.0], [0.0, 0.0], [10.0, 0.0]],
                      hint="x1[0] = (0, 11) is closest to x0[2] = (0, 10)")
x0_r = torch.randn(64, 2, generator=torch.Generator().manual_seed(1))
x1_r = torch.randn(64, 2, generator=torch.Generator().manual_seed(2)) + 3
cu.checks.check_true("q6a no worse than the given order",
                     lambda: float(((ot_pairing(x0_r, x1_r) - x1_r) ** 2).sum()) <= float(((x0_r - x1_r) ** 2).sum()),
                     "the OT pairing costs at most as much as the identity pairing")
s_q6 = torch.linspace(0, 1, 2001)
arc_q6 = torch.stack([torch.cos(math.pi * s_q6 / 2), torch.sin(math.pi * s_q6 / 2)], 1)[:, None, :]
cu.checks.check_close("q6b quarter circle", lambda: straightness(arc_q6), math.pi**2 / 4 - 2, rtol=1e-4,
                      hint="int |v - (x1 - x0)|^2 dt = pi^2/4 - 2 for a quarter circle run at constant speed")
_ = cu.checks.check_close("q6b straight segment", lambda: straightness(s_q6[:, None, None] * torch.ones(1, 3, 2)),
                      0.0, atol=1e-12)

# %% [markdown]
# ## Question 7 (3 points, core, about 10 min): straight conditional paths, curved marginal paths (written)
#
# Every conditional path of the OT probability path is a straight line (Question 1), yet the
# trajectories of the learned marginal field are curved. **Explain** in your own words why, using
# the closed-form marginal field of Question 4 (what does it average?), then **predict** what
# happens to the curvature and to the number of Euler steps needed for a given sample quality
# when the independent coupling is replaced by mini-batch OT pairing (Question 6), and why
# (at most 150 words).
#
# Write your answer in the markdown cell below (double-click to edit). This question is
# graded by hand with a rubric; the checks and the automatic grader give it 0 points.

# %% [markdown] course={"question": "q7", "role": "answer"}
# ### BEGIN SOLUTION
# *Model answer: see the rubric (instructor only).*
# ### END SOLUTION

# %% [markdown] course={"role": "instructor"}
# **Rubric (3 points).**
# - 1 pt: the marginal field at $(t, x)$ is the posterior-weighted average of the conditional
#   velocities of all pairs whose straight lines pass through $x$ at time $t$; straight lines
#   cross, and the average changes direction along a trajectory (the trajectory follows the
#   average, not any one line), so marginal paths bend; they never cross each other (ODE
#   uniqueness).
# - 1 pt: mini-batch OT pairs nearby noise with nearby data, so fewer conditional lines cross,
#   the posterior averages fewer directions and marginal paths are straighter (lower
#   straightness measure of Question 6).
# - 1 pt: straighter paths are integrated accurately by Euler with few steps (Euler is exact on
#   a straight constant-speed path), so the same quality needs fewer NFE; the gain shrinks as
#   the mini-batch size becomes small relative to the data's structure. Half points allowed.

# %% [markdown]
# ## Question 8 (5 points, challenge, about 30 min): independent versus OT coupling, quality against NFE (end-to-end)
#
# Does mini-batch OT pairing (Question 6) really buy cheaper sampling? Train the same small
# network twice on the eight-Gaussians data, once with independent pairs and once with
# OT-paired mini-batches, and measure sample quality against the number of Euler steps.
#
# 1. **Build**: write `train_fm(coupling, seed)` returning a trained `SmallField` (given
#    below). Start with `torch.manual_seed(seed)`, then build the model, an Adam optimiser
#    with learning rate `lr` and `torch.optim.lr_scheduler.CosineAnnealingLR(opt, steps)`, and a
#    `torch.Generator().manual_seed(seed)` for the batches. Each of the `steps` steps draws
#    `batch` data points `x1 = data_e2e.sample(batch, generator=g, dtype=torch.float64)`,
#    `batch` noise points $x_0\sim\mathcal N(0,I)$ and times $t\sim\mathcal U[0,1]$ (same
#    generator); for `coupling == "ot"` re-pairs the noise with your `ot_pairing(x0, x1)`;
#    and takes one optimiser step on your `cfm_loss` with $\sigma_\min=0$.
# 2. **Run and measure**: train `model_ind = train_fm("independent", seed)` and
#    `model_ot = train_fm("ot", seed)`. For each model and each `n` in `NFE_GRID`, sample
#    the given noise `z_e2e` with your `euler_sample(model, z_e2e, n)` (under
#    `torch.no_grad()`) and measure `quality(...)` (energy distance to held-out data in
#    multiples of its floor: about 1 is indistinguishable from data, lower is better).
#    Store `curve = {"independent": [...], "ot": [...]}`, one float per entry of `NFE_GRID`.
# 3. **Read the result**: `nfe_needed`, a dict with the same keys: the smallest NFE in
#    `NFE_GRID` whose quality is at most `TARGET` (`None` if none is), and
#    `speedup = nfe_needed["independent"] / nfe_needed["ot"]`, the factor of network
#    evaluations the OT coupling saves at this quality.
#
# Tests (other seeds; your models are sampled again by the grader): your `curve` is what your
# two models give (1 point); both models reach the target with 16 Euler steps (1 point); at 2
# Euler steps the OT-coupled model is at least 5 times better than the independent one
# (1 point); `nfe_needed` (1 point); `speedup` is at least 2 (1 point). The training takes a
# few seconds.

# %%
seed = 0  # the hidden tests use other seeds
data_e2e = cu.data.get("eight_gaussians")
g_e2e = torch.Generator().manual_seed(1000 + seed)
held_e2e = data_e2e.sample(1000, generator=g_e2e, dtype=torch.float64)
floor_e2e = cu.metrics.energy_distance_floor(data_e2e.sample(2000, generator=g_e2e, dtype=torch.float64),
                                             1000, 1000)
z_e2e = torch.randn(1000, 2, generator=g_e2e)
NFE_GRID = [1, 2, 4, 8, 16]
TARGET = 6.0  # quality bar, in multiples of the floor


def quality(x):
    # energy distance of samples x (1000, 2) to the held-out data, as a multiple of its floor
    return cu.metrics.energy_distance(x, held_e2e) / floor_e2e


class SmallField(torch.nn.Module):
    # v(t, x) = MLP([x, t]): two hidden layers of width 64, SiLU; t a float or (batch,)
    def __init__(self, width=64):
        super().__init__()
        self.net = torch.nn.Sequential(torch.nn.Linear(3, width), torch.nn.SiLU(), torch.nn.Linear(width, width),
                                       torch.nn.SiLU(), torch.nn.Linear(width, 2))

    def forward(self, t, x):
        t = torch.as_tensor(t, dtype=x.dtype).reshape(-1, 1).expand(x.shape[0], 1)
        return self.net(torch.cat([x, t], 1))


# %% course={"question": "q8", "role": "answer"} tags=["nbval-ignore-output"]
def train_fm(coupling, seed, steps=200, batch=128, lr=1e-2):
    """A SmallField trained by CFM (sigma_min = 0) with "independent" or "ot" pairs."""
    ### BEGIN SOLUTION
    torch.manual_seed(seed)
    model = SmallField()
    opt = torch.optim.Adam(model.parameters(), lr=lr)
    sched = torch.optim.lr_scheduler.CosineAnnealingLR(opt, steps)
    g = torch.Generator().manual_seed(seed)
    for _ in range(steps):
        x1 = data_e2e.sample(batch, generator=g, dtype=torch.float64)
        x0 = torch.randn(batch, 2, generator=g)
        t = torch.rand(batch, generator=g)
        if coupling == "ot":
            x0 = ot_pairing(x0, x1)
        loss = cfm_loss(model, x0, x1, t, 0.0)
        opt.zero_grad()
        loss.backward()
        opt.step()
        sched.step()
    return model
    ### END SOLUTION


model_ind = model_ot = None
curve, nfe_needed, speedup = {}, {}, float("nan")
### BEGIN SOLUTION
model_ind = train_fm("independent", seed)
model_ot = train_fm("ot", seed)
with torch.no_grad():
    curve = {name: [quality(euler_sample(m, z_e2e, n)) for n in NFE_GRID]
             for name, m in (("independent", model_ind), ("ot", model_ot))}
nfe_needed = {name: min((n for n, q in zip(NFE_GRID, qs) if q <= TARGET), default=None)
              for name, qs in curve.items()}
speedup = nfe_needed["independent"] / nfe_needed["ot"]
### END SOLUTION
print("NFE          " + "".join(f"{n:8d}" for n in NFE_GRID))
for name, qs in curve.items():
    print(f"{name:12s} " + "".join(f"{q:8.2f}" for q in qs) + f"   needs NFE {nfe_needed[name]}")
print(f"speedup of the OT coupling at quality <= {TARGET:g}: {speedup:.1f}x")

# %% course={"question": "q8", "role": "check"}
cu.checks.check_true("q8 two trained fields", lambda: all(tuple(m(0.5, z_e2e[:3]).shape) == (3, 2)
                                                            for m in (model_ind, model_ot)),
                     "model_ind and model_ot are fields v(t, x) returning (batch, 2)")
cu.checks.check_true("q8 the curve's format", lambda: set(curve) == {"independent", "ot"}
                     and all(len(qs) == len(NFE_GRID) and all(isinstance(q, float) and q > 0 for q in qs)
                             for qs in curve.values()),
                     "one positive float per entry of NFE_GRID for each coupling")
with torch.no_grad():
    cu.checks.check_true("q8 the curve is measured (last point of the OT curve)",
                         lambda: abs(quality(euler_sample(model_ot, z_e2e, NFE_GRID[-1])) - curve["ot"][-1])
                         < 1e-9 * curve["ot"][-1], "curve['ot'][-1] = quality of your Euler samples of model_ot")
_ = cu.checks.check_true("q8 reading consistent with your curve",
                         lambda: set(nfe_needed) == set(curve) and all(
                             nfe_needed[k] == min((n for n, q in zip(NFE_GRID, curve[k]) if q <= TARGET), default=None)
                             for k in curve) and abs(speedup - nfe_needed["independent"] / nfe_needed["ot"]) < 1e-12,
                         "smallest NFE with quality <= TARGET per coupling, and their ratio")

# %%
if curve:
    fig, ax = plt.subplots(figsize=(5.5, 4))
    for name, qs in curve.items():
        ax.loglog(NFE_GRID, qs, "o-", label=f"{name} coupling")
    ax.axhline(TARGET, color="k", ls=":", label="target")
    ax.set(title="Sample quality against Euler steps", xlabel="NFE (Euler steps)",
           ylabel="energy distance / floor")
    ax.legend()
    plt.show()

# %% [markdown]
# ## Done
#
# Run the whole notebook from the top (Kernel → Restart & Run All) and check that every check
# prints `[PASS]`. Then submit this notebook.
