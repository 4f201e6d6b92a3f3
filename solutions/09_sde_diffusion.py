# %% [markdown]
# # Problem set 09 · SDEs, score matching and diffusion (23 points)
#
# Six questions: an Euler–Maruyama sampler, the Fokker–Planck right-hand side on a grid,
# the score of a Gaussian mixture, the conversion between velocity and score for Gaussian
# paths, an end-to-end diffusion model (train, then sample with the reverse SDE and with
# the probability-flow ODE), and a written question. Write your code in place of the lines
# that raise `NotImplementedError`, run the cell, then run the **check cell** below it: it
# prints `[PASS]` or a `[FAIL]` line saying what is expected. The checks are a first test
# only; the grader runs more tests on inputs you do not see. Questions 1–5 (20 points) are
# graded automatically, question 6 (3 points) by hand.
#
# Rules: work in `float64` (set below) except where a question says otherwise; keep the
# function names and signatures; shapes are batch-first (`x: (batch, d)`). Time runs from
# $t=0$ (noise) to $t=1$ (data); diffusion formulas written in $s=1-t$ are converted for
# you. Do **not** call `cu.sde` or `cu.flow_matching` inside your answers (the check cells
# may); everything you need is in `notebooks/09_sde_diffusion.ipynb`.
#
# | Question | Topic | Points |
# |---|---|---|
# | 1 | an Euler–Maruyama sampler | 3 |
# | 2 | the Fokker–Planck right-hand side on a grid | 4 |
# | 3 | the score of a Gaussian mixture | 3 |
# | 4 | velocity and score of a Gaussian path | 4 |
# | 5 | end to end: a small diffusion model, two samplers | 6 |
# | 6 | written: Langevin mixing and the two orders of Euler–Maruyama | 3 (by hand) |

# %%
import numpy as np
import torch
import matplotlib.pyplot as plt
import course_utils as cu

device = cu.setup(seed=0)

# %%
import copy
import math

torch.set_default_dtype(torch.float64)


def gen(seed):
    return torch.Generator().manual_seed(seed)


# %% [markdown]
# ## Question 1 (3 points): an Euler–Maruyama sampler
#
# Write `euler_maruyama(f, g, x0, dW, h)` for an Itô SDE with **diagonal** noise,
# $dX=f(t,X)\,dt+g(t,X)\odot dW$: starting from `x0: (batch, d)` at $t=0$, take
# `n_steps = dW.shape[0]` steps of size `h`, the $k$-th one at time $t_k=kh$ with the given
# Brownian increments `dW[k]: (batch, d)`, and return the final state `(batch, d)`. Call
# `f` and `g` as `f(t, x)` with a float `t`; both return `(batch, d)`.

# %% course={"question": "q1", "role": "answer"}
def euler_maruyama(f, g, x0, dW, h):
    """Euler-Maruyama with given increments dW: (n_steps, batch, d); returns (batch, d)."""
    ### BEGIN SOLUTION
    x = x0
    for k in range(dW.shape[0]):
        t = k * h
        x = x + f(t, x) * h + g(t, x) * dW[k]
    return x
    ### END SOLUTION


# %% course={"question": "q1", "role": "check"}
dW_q1 = torch.tensor([[[0.1, -0.2]], [[0.3, 0.0]]])
x0_q1 = torch.tensor([[1.0, 2.0]])
# dX = -X dt + X dW, two steps of h = 0.5: x <- x (1 - h + dW)
cu.checks.check_close("q1 GBM-like, two steps", lambda: euler_maruyama(lambda t, x: -x, lambda t, x: x, x0_q1, dW_q1, 0.5),
                      [[0.6 * 0.8, 2.0 * 0.3 * 0.5]], rtol=1e-12, hint="x_{k+1} = x_k + f h + g dW_k")
_ = cu.checks.check_close("q1 time enters as t_k = k h",
                          lambda: euler_maruyama(lambda t, x: t + 0 * x, lambda t, x: 0 * x, x0_q1, torch.zeros(4, 1, 2), 0.25),
                          x0_q1 + 0.25 * (0 + 0.25 + 0.5 + 0.75), rtol=1e-12, hint="evaluate f at the start of each step")

# %% [markdown]
# ## Question 2 (4 points): the Fokker–Planck right-hand side on a grid
#
# For a 1-D SDE $dX=\mu(X)\,dt+\sigma\,dW$ (constant $\sigma$) the density obeys
# $\partial_tp=-\partial_x(\mu p)+\frac{\sigma^2}{2}\partial_x^2p$. Write
# `fp_rhs(p, x, mu, sigma)` for values on a uniform grid, `p, x, mu: (n,)` tensors and a
# float `sigma`: return `(n,)` with, at the interior points $i=1,\dots,n-2$,
#
# $$-\frac{\mu_{i+1}p_{i+1}-\mu_{i-1}p_{i-1}}{2\Delta x}+\frac{\sigma^2}{2}\,\frac{p_{i+1}-2p_i+p_{i-1}}{\Delta x^2},$$
#
# and $0$ at the two end points ($\Delta x=x_1-x_0$).

# %% course={"question": "q2", "role": "answer"}
def fp_rhs(p, x, mu, sigma):
    """Central-difference Fokker-Planck right-hand side: (n,), zero at both ends."""
    ### BEGIN SOLUTION
    dx = float(x[1] - x[0])
    out = torch.zeros_like(p)
    flux = mu * p
    out[1:-1] = -(flux[2:] - flux[:-2]) / (2 * dx) + 0.5 * sigma**2 * (p[2:] - 2 * p[1:-1] + p[:-2]) / dx**2
    return out
    ### END SOLUTION


# %% course={"question": "q2", "role": "check"}
x_q2 = torch.linspace(-5, 5, 401)
theta_q2, sig_q2 = 1.5, 0.9
var_q2 = sig_q2**2 / (2 * theta_q2)
p_stat = torch.exp(-x_q2**2 / (2 * var_q2)) / math.sqrt(2 * math.pi * var_q2)
cu.checks.check_true("q2 the OU stationary density is stationary",
                     lambda: float(fp_rhs(p_stat, x_q2, -theta_q2 * x_q2, sig_q2).abs().max()) < 1e-3,
                     "N(0, sigma^2 / (2 theta)) makes the right-hand side vanish (up to O(dx^2))")
cu.checks.check_close("q2 pure diffusion of N(0, 1)", lambda: fp_rhs(torch.exp(-x_q2**2 / 2), x_q2, 0 * x_q2, 1.0)[200],
                      -0.5, rtol=1e-3, hint="at x = 0: (sigma^2 / 2) p''(0) = -1/2 for p = exp(-x^2 / 2)")
_ = cu.checks.check_close("q2 zero at the ends", lambda: fp_rhs(p_stat, x_q2, -theta_q2 * x_q2, sig_q2)[[0, -1]], [0.0, 0.0])

# %% [markdown]
# ## Question 3 (3 points): the score of a Gaussian mixture
#
# Write `mixture_score(x, means, std, weights)`: the score $\nabla_x\log p(x)$ of the
# mixture $p=\sum_jw_j\,\mathcal N(\mu_j,\text{std}^2I)$ at `x: (batch, d)`, with
# `means: (k, d)`, a float `std` and `weights: (k,)` summing to 1; return `(batch, d)`.
# Use the posterior weights $r_j(x)\propto w_j\exp(-\|x-\mu_j\|^2/(2\,\text{std}^2))$ computed
# with `torch.softmax` so that points far from every mean give finite values:
# $\nabla\log p(x)=\sum_jr_j(x)\,(\mu_j-x)/\text{std}^2$.

# %% course={"question": "q3", "role": "answer"}
def mixture_score(x, means, std, weights):
    """Score of an isotropic Gaussian mixture: (batch, d)."""
    ### BEGIN SOLUTION
    logits = torch.log(weights)[None] - ((x[:, None, :] - means[None]) ** 2).sum(-1) / (2 * std**2)
    r = torch.softmax(logits, dim=1)  # (batch, k)
    return (r @ means - x) / std**2
    ### END SOLUTION


# %% course={"question": "q3", "role": "check"}
mix_q3 = cu.data.GaussianMixture2D(torch.tensor([[2.0, 0.0], [-1.0, 1.0], [0.0, -2.0]]), 0.6, torch.tensor([0.5, 0.3, 0.2]))
x_q3 = torch.tensor([[0.1, 0.2], [1.5, -0.5], [-2.0, 2.0]], requires_grad=True)
auto = torch.autograd.grad(mix_q3.log_prob(x_q3).sum(), x_q3)[0]
cu.checks.check_close("q3 against autograd", lambda: mixture_score(x_q3.detach(), mix_q3.means, 0.6, mix_q3.weights), auto,
                      rtol=1e-8, atol=1e-10, hint="sum_j r_j (mu_j - x) / std^2")
_ = cu.checks.check_true("q3 finite far away",
                         lambda: bool(torch.isfinite(mixture_score(torch.tensor([[300.0, -400.0]]), mix_q3.means, 0.1, mix_q3.weights)).all()),
                         "use torch.softmax of the exponents, not exp(...) / sum(exp(...))")

# %% [markdown]
# ## Question 4 (4 points): velocity and score of a Gaussian path
#
# For a Gaussian path $x_t=\alpha_tx_1+\sigma_tx_0$ the marginal velocity and score satisfy
#
# $$u_t(x)=\frac{\dot\alpha_t}{\alpha_t}\,x+\Big(\frac{\dot\alpha_t}{\alpha_t}\sigma_t^2-\sigma_t\dot\sigma_t\Big)\nabla\log p_t(x).$$
#
# Write `velocity_from_score(x, score, alpha, sigma, d_alpha, d_sigma)` and its inverse
# `score_from_velocity(x, u, alpha, sigma, d_alpha, d_sigma)`; `x, score, u: (batch, d)`,
# the four schedule values are floats at one time $t$.

# %% course={"question": "q4", "role": "answer"}
def velocity_from_score(x, score, alpha, sigma, d_alpha, d_sigma):
    """u_t(x) from the score for a Gaussian path: (batch, d)."""
    ### BEGIN SOLUTION
    return d_alpha / alpha * x + (d_alpha / alpha * sigma**2 - sigma * d_sigma) * score
    ### END SOLUTION


def score_from_velocity(x, u, alpha, sigma, d_alpha, d_sigma):
    """grad log p_t(x) from the velocity for a Gaussian path: (batch, d)."""
    ### BEGIN SOLUTION
    return (u - d_alpha / alpha * x) / (d_alpha / alpha * sigma**2 - sigma * d_sigma)
    ### END SOLUTION


# %% course={"question": "q4", "role": "check"}
data_q4 = torch.tensor([[1.0, 0.5], [-1.0, -0.3], [0.2, 1.4]])
path_q4 = cu.flow_matching.OTPath(0.0)
field_q4 = cu.flow_matching.MarginalField(path_q4, data_q4)
x_q4 = torch.tensor([[0.3, -0.1], [1.0, 1.0]], requires_grad=True)
score_q4 = torch.autograd.grad(field_q4.log_prob(0.6, x_q4).sum(), x_q4)[0]
x_q4 = x_q4.detach()
sched_q4 = (0.6, 0.4, 1.0, -1.0)  # OT path at t = 0.6: alpha, sigma, d alpha, d sigma
cu.checks.check_close("q4 velocity from the score (OT path)", lambda: velocity_from_score(x_q4, score_q4, *sched_q4),
                      field_q4(0.6, x_q4), rtol=1e-9, atol=1e-12)
_ = cu.checks.check_close("q4 score from the velocity (OT path)",
                          lambda: score_from_velocity(x_q4, field_q4(0.6, x_q4), *sched_q4), score_q4, rtol=1e-9, atol=1e-12)

# %% [markdown]
# ## Question 5 (6 points): end to end — a small diffusion model, two samplers
#
# Data: `eight_gaussians`. The VP schedule in course time is given below ($\alpha_t$,
# $\sigma_t$, $\beta(1-t)$), with the end time $t_1=1-\delta$.
#
# **(a)** Write `eps_loss(model, x1, t, eps)`: the noise-prediction (denoising score
# matching) loss $\frac1B\sum_i\|\hat\varepsilon(t_i,x_{t_i})-\varepsilon_i\|^2$ with
# $x_{t_i}=\alpha_{t_i}x_{1,i}+\sigma_{t_i}\varepsilon_i$, for `x1, eps: (batch, 2)` and
# `t: (batch,)`; the model is called as `model(t, x)`. The given cell then trains a model with it.
#
# **(b)** Write `reverse_drift(t, x, score)` and `pf_velocity(t, x, score)`: the drift of
# the reverse-time VP SDE in course time, $\frac12\beta(1-t)\,[x+2\,\text{score}(t,x)]$
# (its diffusion is $\sqrt{\beta(1-t)}$), and the probability-flow velocity
# $\frac12\beta(1-t)\,[x+\text{score}(t,x)]$; `t` is a float, `score(t, x)` a function.
#
# **(c)** With the trained model's score $-\hat\varepsilon/\sigma_t$, draw 1000 samples
# from `z_q5` with **Euler–Maruyama on the reverse SDE** (200 steps from $0$ to $t_1$, noise
# from `torch.randn(..., generator=gen(7))` drawn step by step) into `x_sde`, and with **RK4
# on the probability-flow ODE** (25 steps) into `x_ode` (you may use your Q1 function and
# the given `rk4`). Set `ed_sde` and `ed_ode` to the energy distance of each sample to
# `held_q5` divided by `floor_q5` (use `cu.metrics.energy_distance`). Both should be below 6.

# %%
beta_min, beta_max, delta = 0.1, 20.0, 1e-2


def beta(t):
    return beta_min + (beta_max - beta_min) * (1 - t)


def vp_alpha(t):
    s = 1 - t
    return torch.exp(-0.5 * (beta_min * s + 0.5 * (beta_max - beta_min) * s**2))


def vp_sigma(t):
    return torch.sqrt(1 - vp_alpha(t) ** 2)


def rk4(v, x, n_steps, t1):
    h = t1 / n_steps
    for k in range(n_steps):
        t = k * h
        k1 = v(t, x)
        k2 = v(t + h / 2, x + h / 2 * k1)
        k3 = v(t + h / 2, x + h / 2 * k2)
        k4 = v(t + h, x + h * k3)
        x = x + h / 6 * (k1 + 2 * k2 + 2 * k3 + k4)
    return x


data_q5 = cu.data.get("eight_gaussians")
held_q5 = data_q5.sample(2000, generator=gen(1234))
floor_q5 = cu.metrics.energy_distance_floor(data_q5.sample(4000, generator=gen(1235)), 1000, 2000)
z_q5 = torch.randn(1000, 2, generator=gen(99))

# %% course={"question": "q5", "role": "answer"}
def eps_loss(model, x1, t, eps):
    """Noise-prediction loss: mean over the batch of |eps_hat(t, x_t) - eps|^2."""
    ### BEGIN SOLUTION
    xt = vp_alpha(t)[:, None] * x1 + vp_sigma(t)[:, None] * eps
    return ((model(t, xt) - eps) ** 2).sum(1).mean()
    ### END SOLUTION


def reverse_drift(t, x, score):
    """Drift of the reverse-time VP SDE in course time: (batch, d)."""
    ### BEGIN SOLUTION
    return 0.5 * beta(t) * (x + 2 * score(t, x))
    ### END SOLUTION


def pf_velocity(t, x, score):
    """Probability-flow ODE velocity of the VP SDE in course time: (batch, d)."""
    ### BEGIN SOLUTION
    return 0.5 * beta(t) * (x + score(t, x))
    ### END SOLUTION


# %% course={"question": "q5", "role": "check"}
lin_q5 = torch.nn.Linear(2, 2)
with torch.no_grad():
    lin_q5.weight.copy_(torch.tensor([[0.5, 0.0], [0.0, 0.5]]))
    lin_q5.bias.zero_()
x1_q5, eps_q5, t_q5 = torch.tensor([[1.0, 0.0], [0.0, 2.0]]), torch.tensor([[0.0, 1.0], [1.0, 0.0]]), torch.tensor([0.5, 0.5])
a5, s5 = float(vp_alpha(torch.tensor(0.5))), float(vp_sigma(torch.tensor(0.5)))
want_q5 = float(((0.5 * (a5 * x1_q5 + s5 * eps_q5) - eps_q5) ** 2).sum(1).mean())
cu.checks.check_close("q5a loss of a linear model", lambda: eps_loss(lambda t, x: lin_q5(x), x1_q5, t_q5, eps_q5), want_q5, rtol=1e-10)
cu.checks.check_close("q5b reverse drift with score = -x", lambda: reverse_drift(0.25, x1_q5, lambda t, x: -x),
                      -0.5 * beta(0.25) * x1_q5, rtol=1e-12, hint="(beta(1 - t) / 2) (x + 2 score)")
_ = cu.checks.check_close("q5b probability-flow velocity with score = -x", lambda: pf_velocity(0.25, x1_q5, lambda t, x: -x),
                          0 * x1_q5, atol=1e-12, hint="N(0, I) is stationary for the VP SDE: the flow is still")

# %%
# given: train a noise-prediction network with your eps_loss (1000 steps, a few seconds)
torch.manual_seed(0)
g_train = gen(0)
net_q5 = cu.flow_matching.VelocityMLP(2, hidden=64, n_hidden=3, n_freq=4).double()
ema_q5 = copy.deepcopy(net_q5).requires_grad_(False)
opt_q5 = torch.optim.AdamW(net_q5.parameters(), lr=3e-3)
sched_q5 = torch.optim.lr_scheduler.CosineAnnealingLR(opt_q5, T_max=1000)
for step in range(1000):
    xb = data_q5.sample(256, generator=g_train)
    tb = (1 - delta) * torch.rand(256, generator=g_train)
    loss = eps_loss(net_q5, xb, tb, torch.randn(256, 2, generator=g_train))
    opt_q5.zero_grad()
    loss.backward()
    opt_q5.step()
    sched_q5.step()
    with torch.no_grad():
        for pe, pm in zip(ema_q5.parameters(), net_q5.parameters(), strict=True):
            pe.lerp_(pm, 1 - min(0.999, (1 + step) / (10 + step)))


def score_q5(t, x):
    t = torch.as_tensor(t, dtype=x.dtype)
    with torch.no_grad():
        return -ema_q5(t, x) / vp_sigma(t)


# %% course={"question": "q5", "role": "answer"}
x_sde = x_ode = None
ed_sde = ed_ode = None
### BEGIN SOLUTION
n_sde = 200
h_sde = (1 - delta) / n_sde
dW_q5 = math.sqrt(h_sde) * torch.randn(n_sde, 1000, 2, generator=gen(7))
x_sde = euler_maruyama(lambda t, x: reverse_drift(t, x, score_q5),
                       lambda t, x: math.sqrt(beta(t)) * torch.ones_like(x), z_q5, dW_q5, h_sde)
x_ode = rk4(lambda t, x: pf_velocity(t, x, score_q5), z_q5, 25, 1 - delta)
ed_sde = cu.metrics.energy_distance(x_sde, held_q5) / floor_q5
ed_ode = cu.metrics.energy_distance(x_ode, held_q5) / floor_q5
### END SOLUTION
print(f"ED / floor: reverse SDE {ed_sde:.2f}, probability-flow ODE {ed_ode:.2f}")

# %% course={"question": "q5", "role": "check"}
cu.checks.check_true("q5c shapes", lambda: x_sde.shape == (1000, 2) and x_ode.shape == (1000, 2), "1000 samples each, (1000, 2)")
_ = cu.checks.check_true("q5c quality", lambda: ed_sde < 6 and ed_ode < 6,
                         "both samplers within 6x the floor: check the signs of the drift and the time direction")

# %% [markdown]
# ## Question 6 (3 points, graded by hand): Langevin mixing and the two orders of Euler–Maruyama
#
# Answer in the markdown cell below, in at most 8 sentences. **(a)** Langevin dynamics
# with the *exact* score of $0.8\,\mathcal N(-4,0.5^2)+0.2\,\mathcal N(4,0.5^2)$, started
# from points spread uniformly over $[-8,8]$, ends with about half of the chains in the
# right-hand mode after thousands of steps. Why, and what does annealing (or a diffusion
# model's reverse SDE) change? **(b)** Euler–Maruyama has strong order 1/2 but weak order 1.
# Explain in words what each order measures and why the weak one can be higher.

# %% [markdown] course={"question": "q6", "role": "answer"}
# ### BEGIN SOLUTION
# **(a)** Langevin dynamics has the mixture as its stationary law, but reaching it needs
# chains to cross the low-density gap between the modes, where the score pushes them back;
# the expected crossing time grows like $\exp(\Delta U)$ with the barrier height, so in
# practice each chain stays in the basin it started in and the weights reflect the
# initialisation (1/2), not 0.8/0.2. Annealing runs first with the score of the data
# blurred by a large noise, where the modes overlap and chains move freely, so they
# distribute in the right proportions before the noise is reduced; the reverse SDE of a
# diffusion model does the same continuously, starting from $\mathcal N(0,I)$.
# **(b)** Strong error compares paths ($\mathbb E|X^h_T-X_T|$ on the same Brownian path),
# weak error compares laws ($|\mathbb E\phi(X^h_T)-\mathbb E\phi(X_T)|$). EM's one-step
# error contains the mean-zero term $\frac12\sigma\sigma'(\Delta W^2-h)$ of size $h$: for
# paths these random errors add up like $\sqrt{1/h}\cdot h=\sqrt h$, but their means cancel,
# and the mean one-step error is $O(h^2)$, which sums to $O(h)$ for expectations.
# ### END SOLUTION

# %% course={"role": "instructor"}
# RUBRIC for question 6 (3 points; instructor only, removed on release)
# (a) 1.5 points: 0.5 the stationary law is right but mixing across the low-density gap is
#     exponentially slow (barrier / crossing time); 0.5 hence the weights come from the
#     initial basins (about 1/2 each); 0.5 annealing / noise levels make modes overlap so
#     chains redistribute before the noise is lowered (or the reverse SDE starts from noise).
# (b) 1.5 points: 0.5 strong = pathwise error on the same Brownian path, weak = error of
#     expectations of test functions; 0.5 the leading one-step error (order h, from the
#     Milstein term or Delta W^2 - h) is random with mean zero; 0.5 random errors add like a
#     sum of independent terms (sqrt(n) h = sqrt(h)) while their means cancel, leaving O(h)
#     for expectations. Deduct 0.5 for claiming that "strong convergence implies weak, so
#     the orders are equal".
print("rubric cell (instructor only)")

# %% [markdown]
# ## Done
#
# Run the whole notebook from the top (Kernel → Restart & Run All) and check that every check
# prints `[PASS]`. Then submit this notebook.
