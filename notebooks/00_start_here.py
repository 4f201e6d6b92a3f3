# %% [markdown] slideshow={"slide_type": "slide"}
# # 00 · Start here: from maximum likelihood to flow matching
#
# Welcome. This course takes you from **maximum likelihood** to **flow matching** in eight
# runnable notebooks. Every formula is derived, checked in a cell, drawn in a figure and
# practised in a graded exercise. Everything runs on a laptop CPU: each notebook takes
# about a minute or less.
#
# **In this notebook** (10 minutes): the course map, the three ways to use the course, a
# check that your environment works, and the notation used in every notebook.

# %%
import time

import matplotlib.pyplot as plt
import numpy as np
import torch

import course_utils as cu

device = cu.setup(seed=0)

# %% [markdown] slideshow={"slide_type": "slide"}
# ## 1. Course map
#
# | # | Notebook | What you learn | Time |
# |---|----------|----------------|------|
# | 00 | `00_start_here` | course map, environment check, notation | 10 min |
# | 01 | `01_mle` | likelihood, Gaussian MLE by SymPy and autograd, least squares, MAP, Fisher information, KL | 90 min |
# | 02 | `02_odes` | Euler to adaptive Runge–Kutta, convergence order, stability, NFE | 90 min |
# | 03 | `03_change_of_variables` | densities under maps, Jacobians, Box–Muller | 75 min |
# | 04 | `04_svd` | SVD, low rank, spiked Wigner, matrix calculus, Woodbury, conditioning | 90 min |
# | 05 | `05_normalizing_flows` | bijections, coupling layers, RealNVP trained by maximum likelihood, spline couplings | 90 min |
# | 06 | `06_cnf` | continuous flows, instantaneous change of variables, Hutchinson, adjoint | 90 min |
# | 07 | `07_flow_matching` | probability paths, conditional flow matching, OT couplings, exact likelihood | 120 min |
# | 08 | `08_volume_metrics` | how a trained flow maps a ball around a data point: Jacobians, JVPs, SVD | 90 min |
# | 09 | `09_sde_diffusion` | SDEs, Euler–Maruyama, Fokker–Planck, score matching, diffusion models and how they meet flow matching | 150 min |
# | 10 | `10_digits` | capstone on real 64-D images: bits/dim, RealNVP vs flow matching, guidance, volume metrics | 90 min |
#
# Each topic `NN_topic` has three notebooks with the same name:
# `notebooks/NN_topic.ipynb` (the lecture), `exercises/NN_topic.ipynb` (the problem set you
# solve) and `solutions/NN_topic.ipynb` (the same problem set, solved). The helper package
# `course_utils` (imported as `cu`) holds what the notebooks would otherwise repeat: data
# sets, plots, checks, and the solvers *after* a notebook has taught them.

# %% [markdown] slideshow={"slide_type": "slide"}
# ## 2. Three ways to use the course
#
# **Self-study.** Read a lecture top to bottom, running each cell (Shift+Enter). Change a
# number and predict what the next output will do before you run it. Then open the matching
# `exercises/` notebook: every question ends with a check cell that prints `[PASS]` or a
# `[FAIL]` line telling you what was expected. Look at `solutions/` only after trying.
#
# **How the lectures are marked.** A section whose heading ends in *(optional)* can be
# skipped on a first pass: nothing later depends on it except other optional sections.
# Every other section is core. A **Pitfall** box states a tempting wrong claim, shows the
# cell that exposes it, and cites where the claim appears in the source notes; the notes'
# plain misprints are collected, with corrections, in [`docs/ERRATA.md`](../docs/ERRATA.md).
# Each "Check yourself" question has its answer folded under it (click *Answer*).
#
# **Recitation.** Each lecture is a sequence of short worked examples that can be run live
# (seeded, so the numbers on the projector match the students' screens). The figures have
# titles and labelled axes; the "Check yourself" list at the end of each lecture makes good
# discussion questions. Notation is the same in every notebook (section 4 below).
#
# **Graded problem sets.** Instructors release the exercise notebooks (generated from the
# solutions with `course-grade release`), collect the students' notebooks and grade the whole
# class with one command (`course-grade grade`), which produces per-question scores, feedback
# for every student, a CSV for the gradebook and Gradescope-format results. Student code
# runs in a sandboxed process with time and memory limits. See the README's instructor
# section.

# %% [markdown] slideshow={"slide_type": "subslide"}
# <a id="weekend-path"></a>
# ### A weekend path to flow matching
#
# For a student with two days who wants to reach a trained flow-matching model and
# understand every line of it. Read only the core sections listed; skip 04 (linear algebra)
# and 08 (volume metrics) on this pass and come back later.
#
# | Day | Notebook | Sections | Why |
# |---|---|---|---|
# | 1 morning | `01_mle` | 1, 2, 4 (squared error part), 9 | the log-likelihood and why maximising it minimises $\mathrm{KL}(p_{\text{data}}\|p_\theta)$ |
# | 1 morning | `02_odes` | 1–4, 6–9 | Euler to RK4, adaptive steps and NFE, batched fields `v(t, x)`, integrating backwards |
# | 1 afternoon | `03_change_of_variables` | 1, 2, 3, 6 | the change-of-variables formula and its log form; log-determinants add |
# | 1 afternoon | `05_normalizing_flows` | 1, 3, 4 | coupling layers trained by maximum likelihood |
# | 2 morning | `06_cnf` | 1, 2, 3, 7 | the instantaneous change of variables and the augmented ODE |
# | 2 afternoon | `07_flow_matching` | 1–5, 7, 9, 10 | probability paths, the CFM loss, training, sampling, the likelihood |
#
# Then do the problem sets `exercises/01_mle` and `exercises/07_flow_matching`.

# %% [markdown] slideshow={"slide_type": "slide"}
# ## 3. Environment check
#
# The next cells print the versions in use, the device, and run a small computation. If
# something fails here, see *Troubleshooting* in the README.

# %%
import matplotlib
import scipy
import sympy

print(f"torch {torch.__version__}, numpy {np.__version__}, scipy {scipy.__version__}, "
      f"sympy {sympy.__version__}, matplotlib {matplotlib.__version__}")
print("CUDA available:", torch.cuda.is_available(), "| course device:", device.type)

# %% [markdown] slideshow={"slide_type": "subslide"}
# A two-second smoke test: fit a straight line by gradient descent with autograd and check
# it against the closed-form least-squares solution. The fitted numbers are seeded, so they
# are the same on every machine; the timing is not, so that cell only asserts a bound.

# %% tags=["nbval-ignore-output"]
g = torch.Generator().manual_seed(0)
x = torch.linspace(-1, 1, 200, dtype=torch.float64)
y = 2.0 * x - 0.5 + 0.1 * torch.randn(200, generator=g, dtype=torch.float64)

w = torch.zeros(2, dtype=torch.float64, requires_grad=True)
opt = torch.optim.SGD([w], lr=0.5)
t0 = time.perf_counter()
for _ in range(500):
    opt.zero_grad()
    loss = ((w[0] * x + w[1] - y) ** 2).mean()
    loss.backward()
    opt.step()
elapsed = time.perf_counter() - t0

X = torch.stack([x, torch.ones_like(x)], 1)
w_exact = torch.linalg.lstsq(X, y[:, None]).solution.squeeze()
print(f"gradient descent: slope {w[0].item():.4f}, intercept {w[1].item():.4f}")
print(f"closed form     : slope {w_exact[0].item():.4f}, intercept {w_exact[1].item():.4f}")
print(f"500 steps took {elapsed:.3f} s")
assert torch.allclose(w.detach(), w_exact, atol=1e-8)
assert elapsed < 2.0, "this machine is much slower than expected"

# %%
fig, ax = plt.subplots(figsize=(5, 3.5))
ax.scatter(x, y, s=6, alpha=0.5, label="data")
ax.plot(x, (X @ w_exact).detach(), color="tab:red", label="least-squares line")
ax.set(title="Smoke test: a line fitted by autograd", xlabel="x", ylabel="y")
ax.legend()
plt.show()

# %% [markdown] slideshow={"slide_type": "subslide"}
# The toy data sets used throughout the course live in `cu.data`; here is what they look like.

# %%
fig, axes = plt.subplots(1, 5, figsize=(15, 3.2))
g = torch.Generator().manual_seed(0)
for ax, name in zip(axes, cu.data.names()):
    cu.plotting.scatter(cu.data.get(name).sample(2000, generator=g), ax=ax, title=name)
plt.tight_layout()
plt.show()

# %% [markdown] slideshow={"slide_type": "slide"}
# ## 4. Notation used in every notebook
#
# The source notes use different letters and, more importantly, **different directions of
# time**. The course uses one convention everywhere:
#
# > **Course convention.** Time runs from $t=0$ to $t=1$. At $t=0$ sits the simple
# > distribution (noise, latent, base) $p_0=\mathcal N(0,I)$; at $t=1$ sits the data
# > distribution $p_1\approx p_{\text{data}}$. A vector field is $v_t(x)=v(t,x)$ — in code
# > `v(t, x)` with `x` of shape `(batch, dim)`, the argument order of `torchdiffeq`. The flow
# > $\psi_t$ solves $\frac{d}{dt}\psi_t(x)=v_t(\psi_t(x))$, $\psi_0(x)=x$; the **forward map**
# > $\psi=\psi_1$ takes latent to data, the **reverse map** $\varphi=\psi_1^{-1}$ takes data
# > to latent and is computed by integrating *the same* ODE from $t=1$ down to $t=0$.
#
# | Quantity | Course | R (Ray, slides) | K (Khungurn, FM notes) | G (volume metrics notes) | M (Miyamoto) |
# |---|---|---|---|---|---|
# | base / noise | $x_0\sim p_0=\mathcal N(0,I)$ at $t=0$ | $z(0)\sim p_z$ at $t=0$ | $p_0=p_{\text{noise}}$ at $t=0$ throughout (§3.1 notes that diffusion papers run time the other way, and converts to this convention) | latent $X(0)\sim\pi_0$ | $z$, base of a flow |
# | data | $x_1\sim p_1$ at $t=1$ | $x=z(1)$ | $p_1=p_{\text{data}}$ | $X(1)\sim\pi_1$ | $x$ |
# | vector field | $v_t(x)$, code `v(t, x)` | $f(z(t),t;\theta)$ | $v_t(x)$, $u_t(x)$ target | $u_\theta(X(t),t)$ | — |
# | flow / maps | $\psi_t$; forward $\psi$, reverse $\varphi$ | ODESolve | $\phi_t$ (flow), $\psi_t$ (conditional flow) | $\psi_\theta$ (forward), $\varphi_\theta$ (reverse) | $f$ (bijection) |
# | conditional path | $x_t=\sigma_t x_0+\alpha_t x_1$, mean $\mu_t(x_1)=\alpha_t x_1$ (OT: $\sigma_t=1-(1-\sigma_{\min})t$, $\alpha_t=t$) | $x_t=(1-t)x_0+t x_1$ | $\psi_t(x)=\sigma_t(x_1)x+\mu_t(x_1)$ | — | — |
# | log-density along the flow | $\frac{d}{dt}\log p_t(x_t)=-\nabla\!\cdot v_t(x_t)$ | same | same | — | — |
#
# The reverse map integrates *the same* field from $t=1$ down to $t=0$; flipping the sign of
# the field as well moves the points the wrong way. Notebook 02 shows the check
# ([the reverse-time sign](02_odes.ipynb#reverse-time-sign)); notebook 08 applies it to the
# Jacobian ODE.
#
# Other symbols: $N$ data points, $d$ dimension, $\theta$ parameters, $\ell(\theta)$
# log-likelihood in nats (natural log), $\mathrm{NLL}=-\frac1N\ell$ per point, $J$ a Jacobian,
# $\sigma_i$ singular values (descending), NFE the number of function evaluations of a solver.
# Once time enters (notebooks 02 and 06–08), subscripts are times or step numbers: $x_t$ is a
# point at time $t$ and $x_1$ a data point. Coordinates then carry superscripts, $x=(x^{(1)},x^{(2)})$, as on the
# axes of every 2-D figure; notebooks 03–05, which have no time, index coordinates by
# subscripts ($z_1$, $z_2$) in their formulas and say so, and so does a formula that writes
# time as an argument ($x_i(t)$ is coordinate $i$ at time $t$, notebook 06).

# %%
# The course's OT conditional path, in code, as a first example of the convention
sigma_min = 1e-3
x0 = torch.tensor([[0.0, 0.0]], dtype=torch.float64)  # noise sample (t = 0)
x1 = torch.tensor([[2.0, 1.0]], dtype=torch.float64)  # data sample (t = 1)
for t in (0.0, 0.5, 1.0):
    xt = (1 - (1 - sigma_min) * t) * x0 + t * x1
    print(f"t = {t:.1f}: x_t = {xt.squeeze().tolist()}")

# %% [markdown] slideshow={"slide_type": "slide"}
# ## 5. How the notebooks are tested
#
# All lectures and solutions are executed by the test suite (`python3 course.py test`): every
# cell must run, and its printed output must equal the committed output (numbers are
# printed rounded so that they agree across CPUs; cells whose output varies, such as
# timings, carry the cell tag `nbval-ignore-output`, visible in JupyterLab's property
# inspector, and assert what must hold instead). So when
# you change a notebook and re-run it, your own results can be compared with the course's.
#
# **Next:** open `notebooks/01_mle.ipynb`. The errors of the source notes that are mere
# misprints are listed, with corrections, in [`docs/ERRATA.md`](../docs/ERRATA.md).
#
# ### References
# - N. Ray, *Image Generation using Normalizing Flows and Flow Matching* (slides; source R).
# - P. Khungurn, notes on *Flow Matching for Generative Modeling* (source K).
# - Miyamoto, *Machine learning for physicists*, recitation notes (source M).
# - Technical notes, *Cosine vs. ℓ2; volume mapping metrics* (source G).
# - Lipman et al., *Flow Matching for Generative Modeling*, ICLR 2023; Chen et al., *Neural
#   Ordinary Differential Equations*, NeurIPS 2018; Dinh et al., *Density estimation using
#   Real NVP*, ICLR 2017; Grathwohl et al., *FFJORD*, ICLR 2019; Tong et al., *Improving and
#   generalizing flow-based generative models with minibatch optimal transport*, TMLR 2024;
#   Liu et al., *Flow Straight and Fast: Rectified Flow*, ICLR 2023.
