# %% [markdown]
# # 08 · Volume metrics — problem set (22 points)
#
# Seven questions on `notebooks/08_volume_metrics.ipynb`. Write your code between the lines
# the exercise marks, run the cell, then run the check cell below it: it prints `[PASS]`, or
# `[FAIL]` with what was expected. The grader runs further hidden tests on other inputs, so
# write general code, not code that only passes the visible check. Use float64 tensors.
# Time convention: latent at $t=0$, data at $t=1$; one ODE $\dot x=v(t,x)$ for both directions.
#
# | Question | Topic | Points |
# |---|---|---|
# | 1 | uniform points on a sphere in $d$ dimensions | 3 |
# | 2 | the reverse map by Euler | 3 |
# | 3 | one Euler step of the augmented Jacobian ODE | 3 |
# | 4 | the latent-space metrics | 3 |
# | 5 | ℓ2 distance from cosine similarity | 2 |
# | 6 | when does the linearised map tell the truth? (written) | 3 |
# | 7 | which group does the flow model badly? (end-to-end) | 5 |

# %%
import numpy as np
import torch
import matplotlib.pyplot as plt
import course_utils as cu

device = cu.setup(seed=0)
F64 = torch.float64

# %%
# Given (do not edit): a linear field and a small non-linear field used by the checks
A_lin = torch.tensor([[0.5, -1.0], [1.0, 0.2]], dtype=F64)
linear_field = lambda t, x: x @ A_lin.T


def tanh_field(t, x):
    # v(t, x) = tanh(W x + b t): smooth, non-linear, time dependent
    W = torch.tensor([[0.8, -0.6], [0.4, 0.9]], dtype=x.dtype)
    b = torch.tensor([0.3, -0.5], dtype=x.dtype)
    return torch.tanh(x @ W.T + b * t)


# %% [markdown]
# ## Question 1 (3 points, routine, about 10 min): uniform points on a sphere in $d$ dimensions
#
# Write `sample_sphere(n, d, radius, generator)` returning an `(n, d)` float64 tensor of points
# distributed **uniformly** on the sphere of the given radius centred at 0. Use only
# `torch.randn(..., generator=generator, dtype=torch.float64)` for randomness.

# %% course={"question": "q1", "role": "answer"}
def sample_sphere(n, d, radius, generator):
    ### BEGIN SOLUTION
    g = torch.randn(n, d, generator=generator, dtype=torch.float64)
    return radius * g / g.norm(dim=1, keepdim=True)
    ### END SOLUTION


# %% course={"question": "q1", "role": "check"}
pts = lambda: sample_sphere(50_000, 4, 2.0, torch.Generator().manual_seed(0))
cu.checks.check_close("q1 shape", lambda: list(pts().shape), [50_000, 4])
cu.checks.check_close("q1 norms equal the radius", lambda: pts().norm(dim=1).max(), 2.0, rtol=1e-10)
cu.checks.check_close("q1 covariance r^2/d I", lambda: pts().T @ pts() / 50_000,
                      torch.eye(4, dtype=F64), atol=0.03,
                      hint="a uniform point on the r-sphere has covariance r^2/d I; did you scale by the radius?")
# the covariance cannot see directions piling up along the axes; the fourth moment along any
# unit vector a can: E[(a.u)^4] = 3 / (d (d + 2)) for u uniform on the unit sphere
axis_diag = torch.stack([torch.eye(4, dtype=F64)[0], torch.full((4,), 0.5, dtype=F64)])
_ = cu.checks.check_close("q1 fourth moment along an axis and a diagonal",
                      lambda: ((pts() / 2.0 @ axis_diag.T) ** 4).mean(0), [3 / 24, 3 / 24], atol=0.005,
                      hint="normalise a standard normal vector: other distributions favour some directions")


# %% [markdown]
# ## Question 2 (3 points, routine, about 10 min): the reverse map by Euler
#
# Write `reverse_map(v, x, n_steps)`: the reverse map φ from data ($t=1$) to latent ($t=0$)
# for the field `v(t, x)`, with `n_steps` explicit Euler steps of size $h=1/N$ stepping the
# **same** ODE $\dot x = v$ backwards: $x_{k-1}=x_k-h\,v(t_k,x_k)$, $t_k=kh$, $k=N,\dots,1$.
# Call `v` with `t` as a 0-d float64 tensor. For the linear field the answer is
# $x\,((I-A/N)^N)^\top$.

# %% course={"question": "q2", "role": "answer"}
def reverse_map(v, x, n_steps):
    ### BEGIN SOLUTION
    h = 1.0 / n_steps
    for k in range(n_steps, 0, -1):
        x = x - h * v(torch.tensor(k * h, dtype=torch.float64), x)
    return x
    ### END SOLUTION


# %% course={"question": "q2", "role": "check"}
x_chk = torch.tensor([[1.0, 0.5], [-0.3, 2.0]], dtype=F64)
expected = x_chk @ torch.linalg.matrix_power(torch.eye(2, dtype=F64) - A_lin / 25, 25).T
cu.checks.check_close("q2 linear field, 25 steps", lambda: reverse_map(linear_field, x_chk, 25), expected,
                      hint="step backwards with x - h v(t_k, x), starting at t = 1")
_ = cu.checks.check_close("q2 agrees with cu.volume", lambda: reverse_map(tanh_field, x_chk, 10),
                      cu.volume.reverse_map(tanh_field, x_chk, 10))


# %% [markdown]
# ## Question 3 (3 points, core, about 15 min): one Euler step of the augmented Jacobian ODE
#
# The Jacobian $J(t)=\partial x(t)/\partial x(1)$ of the reverse flow solves $\dot J=Dv(t,x)J$.
# Write `augmented_step(v, t, x, J, h)` for **one** point: given `x` of shape `(d,)`, `J` of shape
# `(d, d)` at time `t` (a float), return `(x_new, J_new)` at time `t - h`:
# $x_{\text{new}}=x-h\,v(t,x)$ and $J_{\text{new}}=(I-h\,Dv(t,x))\,J$. Compute $Dv$ with
# `torch.autograd.functional.jacobian` (remember `v` takes a batch `(1, d)`).

# %% course={"question": "q3", "role": "answer"}
def augmented_step(v, t, x, J, h):
    ### BEGIN SOLUTION
    tt = torch.tensor(t, dtype=torch.float64)
    dv = torch.autograd.functional.jacobian(lambda y: v(tt, y[None])[0], x)
    x_new = x - h * v(tt, x[None])[0]
    J_new = (torch.eye(x.shape[0], dtype=torch.float64) - h * dv) @ J
    return x_new, J_new
    ### END SOLUTION


# %% course={"question": "q3", "role": "check"}
x3 = torch.tensor([0.4, -0.2], dtype=F64)
J3 = torch.tensor([[1.0, 0.2], [0.0, 1.5]], dtype=F64)
cu.checks.check_close("q3 x_new (linear field)", lambda: augmented_step(linear_field, 1.0, x3, J3, 0.1)[0],
                      x3 - 0.1 * A_lin @ x3)
cu.checks.check_close("q3 J_new (linear field)", lambda: augmented_step(linear_field, 1.0, x3, J3, 0.1)[1],
                      (torch.eye(2, dtype=F64) - 0.1 * A_lin) @ J3,
                      hint="J_new = (I - h Dv) J: the new factor multiplies from the left")


def chained(n):
    x, J, h = x3.clone(), torch.eye(2, dtype=F64), 1.0 / n
    for k in range(n, 0, -1):
        x, J = augmented_step(tanh_field, k * h, x, J, h)
    return J


_ = cu.checks.check_close("q3 chained steps = Jacobian of the Euler map", lambda: chained(8),
                      torch.autograd.functional.jacobian(lambda y: cu.volume.reverse_map(tanh_field, y[None], 8)[0], x3))


# %% [markdown]
# ## Question 4 (3 points, challenge, about 20 min): the latent-space metrics
#
# Given the exact latent images `x0` `(m, d)` of sphere points, their linearised images `x0_lin`
# `(m, d)` and the latent centre `xc0` `(d,)`, write `latent_metrics(x0, x0_lin, xc0)` returning the
# tuple of floats `(D0, C0, S0)` of G eq. 19–20 (means of Euclidean norms over the m points).

# %% course={"question": "q4", "role": "answer"}
def latent_metrics(x0, x0_lin, xc0):
    ### BEGIN SOLUTION
    D0 = float((x0 - x0_lin).norm(dim=1).mean())
    C0 = float((x0 - xc0).norm(dim=1).mean())
    S0 = float((x0_lin - xc0).norm(dim=1).mean())
    return D0, C0, S0
    ### END SOLUTION


# %% course={"question": "q4", "role": "check"}
m4 = cu.volume.volume_metrics(tanh_field, torch.tensor([0.2, 0.1], dtype=F64), 0.3, 10,
                              directions=cu.volume.sample_sphere(16, 2, generator=torch.Generator().manual_seed(1)))
_ = cu.checks.check_close("q4 (D0, C0, S0)", lambda: latent_metrics(m4["x0"], m4["x0_lin"], m4["xc0"]),
                      [m4["D0"], m4["C0"], m4["S0"]])


# %% [markdown]
# ## Question 5 (2 points, routine, about 5 min): ℓ2 distance from cosine similarity
#
# Write `l2_from_cosine(s, nx, ny)`: the Euclidean distance between two vectors with norms
# `nx`, `ny` and cosine similarity `s` (G eq. 3). Inputs may be floats or tensors of equal shape.

# %% course={"question": "q5", "role": "answer"}
def l2_from_cosine(s, nx, ny):
    ### BEGIN SOLUTION
    return (nx**2 + ny**2 - 2 * s * nx * ny) ** 0.5
    ### END SOLUTION


# %% course={"question": "q5", "role": "check"}
xa = torch.tensor([[1.0, 2.0, -1.0], [0.5, 0.0, 3.0]], dtype=F64)
ya = torch.tensor([[0.0, 1.0, 1.0], [-2.0, 1.0, 0.5]], dtype=F64)
_ = cu.checks.check_close("q5 distances", lambda: l2_from_cosine(cu.volume.cosine_similarity(xa, ya), xa.norm(dim=1), ya.norm(dim=1)),
                      (xa - ya).norm(dim=1))

# %% [markdown]
# ## Question 6 (3 points, core, about 10 min): when does the linearised map tell the truth? (written)
#
# In Question 4 you compared exact latent images of sphere points with their linearised
# images. **Explain** in your own words what the Jacobian of the reverse map measures about a
# small sphere around a data point, **predict** how the discrepancy between exact and linearised
# images changes when the sphere's radius is halved (give the order in the radius and why),
# and say what this implies for choosing the radius in a volume metric (at most 150 words).
#
# Write your answer in the markdown cell below (double-click to edit). This question is
# graded by hand with a rubric; the checks and the automatic grader give it 0 points.

# %% [markdown] course={"question": "q6", "role": "answer"}
# ### BEGIN SOLUTION
# *Model answer: see the rubric (instructor only).*
# ### END SOLUTION

# %% [markdown] course={"role": "instructor"}
# **Rubric (3 points).**
# - 1 pt: the Jacobian maps the small sphere to an ellipsoid: its singular values are the
#   stretch factors, $|\det J|$ the volume change (local density ratio), so the metrics read local
#   expansion/contraction of the flow.
# - 1 pt: Taylor: exact $f(x+r u) = f(x) + rJu + O(r^2)$, so the absolute discrepancy is
#   $O(r^2)$ and the relative one (compared to the $O(r)$ size of the image) is $O(r)$: halving the
#   radius about quarters the absolute gap and halves the relative gap (until round-off/solver
#   error dominates).
# - 1 pt: trade-off: small radius makes the linearisation faithful but, at finite solver
#   accuracy/float precision, the differences become noise; choose the radius where the
#   curvature term is small against the $O(r)$ signal yet above solver error. Half points
#   allowed.

# %% [markdown]
# ## Question 7 (5 points, challenge, about 30 min): which group does the flow model badly? Read it from the volumes (end-to-end)
#
# The cell below trains a small flow-matching field `v_e2e` on a sample of three Gaussian
# groups in which **one group is rare** (3 % of the training points instead of a third), and
# draws 100 held-out points `x_e2e` from each group of the true, equal-weight law
# `truth_e2e` (`group_e2e[i]` is the group of `x_e2e[i]`). Change of variables
# (notebook 08 §5) gives the model's density from the reverse map and the **volume change** of
# a small neighbourhood: $\log p_\text{model}(x)=\log\mathcal N(\varphi(x);0,I)+\log|\det J_\varphi(x)|$,
# and in 2-D the volume change is the ratio of the areas of a small circle's exact image and the
# circle.
#
# 1. **Build**: write `log_volume_change(v, x, radius, n_dirs, n_steps)`: for each row of
#    `x: (batch, 2)`, put `n_dirs` points on the circle of `radius` around it at the angles
#    $2\pi k/n_\text{dirs}$, map them **exactly** with your `reverse_map` (one call for all
#    points) and return `(batch,)` values $\log(A_\text{image}/A_\text{circle})$, with $A$ the area
#    of the polygon through the points in order (shoelace formula
#    $A=\tfrac12\big|\sum_k x_k y_{k+1}-x_{k+1}y_k\big|$, indices mod $n_\text{dirs}$).
# 2. **Run and measure**: with `N_E2E` Euler steps, radius 0.05 and 64 directions, compute
#    the model log-density `logp_model` `(300,)` of every held-out point, its error
#    `err_e2e = logp_model - truth_e2e.log_prob(x_e2e)` (nats), and per group (0, 1, 2) the
#    mean error `group_err` and the mean log volume change `group_logvol` (lists of 3 floats).
# 3. **Read the result**: `worst`, the group (an `int`) whose density the model
#    underestimates most (lowest mean error), and `shrinks` (a `bool`): does the reverse map
#    **shrink** the neighbourhoods of that group (mean log volume change below 0) while it
#    expands those of both other groups (above 0)?
#
# Tests (other seeds, hidden fields): `log_volume_change` for a linear field (1 point) and
# against $\log|\det J_\varphi|$ for a non-linear field (1 point); `logp_model` (1 point);
# `worst`, with `group_err` as measured (1 point); `shrinks`, with `group_logvol` as measured
# (1 point). The training takes a few seconds.

# %% tags=["nbval-ignore-output"]
seed = 0  # the hidden tests use other seeds
means_e2e = torch.tensor([[-2.0, -1.0], [2.0, -1.0], [0.0, 2.0]], dtype=F64)
truth_e2e = cu.data.GaussianMixture2D(means_e2e, 0.45)  # three equal groups
rare_e2e = (seed + 2) % 3  # the group that is rare in the training sample
train_law_e2e = cu.data.GaussianMixture2D(means_e2e, 0.45, weights=[0.03 if k == rare_e2e else 0.485 for k in range(3)])
torch.manual_seed(seed)
v_e2e = cu.flow_matching.train(
    cu.flow_matching.VelocityMLP(dim=2, hidden=64, n_hidden=2, n_freq=0),
    lambda n, gen: train_law_e2e.sample(n, generator=gen), steps=400, batch_size=128, lr=5e-3,
    schedule="cosine", ema=None, generator=torch.Generator().manual_seed(seed),
).model.double().requires_grad_(False)
group_e2e = torch.arange(300) % 3
x_e2e = means_e2e[group_e2e] + 0.45 * torch.randn(300, 2, generator=torch.Generator().manual_seed(100 + seed),
                                                  dtype=F64)
N_E2E = 20  # Euler steps of the reverse map

# %% course={"question": "q7", "role": "answer"} tags=["nbval-ignore-output"]
def log_volume_change(v, x, radius, n_dirs, n_steps):
    """log(area of the exact reverse image / area) of the circle polygon around each row: (batch,)."""
    ### BEGIN SOLUTION
    ang = 2 * torch.pi * torch.arange(n_dirs, dtype=torch.float64) / n_dirs
    ring = x[:, None, :] + radius * torch.stack([torch.cos(ang), torch.sin(ang)], 1)  # (batch, m, 2)
    image = reverse_map(v, ring.reshape(-1, 2), n_steps).reshape(ring.shape)

    def area(p):  # shoelace formula, polygons p: (batch, m, 2)
        return 0.5 * (p[..., 0] * p[..., 1].roll(-1, -1) - p[..., 1] * p[..., 0].roll(-1, -1)).sum(-1).abs()

    return torch.log(area(image) / area(ring))
    ### END SOLUTION


logp_model = err_e2e = None
group_err, group_logvol, worst, shrinks = [], [], None, None
### BEGIN SOLUTION
with torch.no_grad():
    z_e2e = reverse_map(v_e2e, x_e2e, N_E2E)
    logvol_e2e = log_volume_change(v_e2e, x_e2e, 0.05, 64, N_E2E)
logp_model = -0.5 * (z_e2e**2).sum(1) - np.log(2 * np.pi) + logvol_e2e
err_e2e = logp_model - truth_e2e.log_prob(x_e2e)
group_err = [float(err_e2e[group_e2e == k].mean()) for k in range(3)]
group_logvol = [float(logvol_e2e[group_e2e == k].mean()) for k in range(3)]
worst = min(range(3), key=lambda k: group_err[k])
shrinks = group_logvol[worst] < 0 and all(group_logvol[k] > 0 for k in range(3) if k != worst)
### END SOLUTION
print("group   mean error (nats)   mean log volume change")
for k in range(len(group_err)):
    print(f"{k:5d}   {group_err[k]:17.2f}   {group_logvol[k]:22.2f}")
print(f"worst modelled group: {worst}; its neighbourhoods shrink while the others grow: {shrinks}")

# %% course={"question": "q7", "role": "check"}
x_chk7 = torch.tensor([[0.5, -1.0], [2.0, 0.3], [-1.0, 1.0]], dtype=F64)
# a linear map sends a polygon to a polygon: the area ratio is |det (I - A/N)^N| exactly
lin_logdet = 9 * float(torch.linalg.slogdet(torch.eye(2, dtype=F64) - A_lin / 9).logabsdet)
cu.checks.check_close("q7 linear field: log|det (I - A/N)^N|",
                      lambda: log_volume_change(linear_field, x_chk7, 0.2, 16, 9), [lin_logdet] * 3, rtol=1e-9,
                      hint="map the circle points with reverse_map, then compare shoelace areas")
cu.checks.check_true("q7 measured values", lambda: tuple(logp_model.shape) == (300,)
                     and len(group_err) == len(group_logvol) == 3
                     and abs(group_err[1] - float(err_e2e[group_e2e == 1].mean())) < 1e-9,
                     "logp_model (300,); group_err[k] = mean of err_e2e over group k; 3 floats each")
_ = cu.checks.check_true("q7 reading", lambda: isinstance(worst, int) and isinstance(shrinks, bool)
                         and worst == min(range(3), key=lambda k: group_err[k]),
                         "worst: the group with the lowest mean error (an int); shrinks: a bool")

# %% [markdown]
# **Done.** Re-run the whole notebook (Kernel → Restart and Run All) and check that every
# check prints `[PASS]` before you hand it in.
