# %% [markdown]
# # 08 · Volume metrics — problem set (17 points)
#
# Five questions on `notebooks/08_volume_metrics.ipynb`. Write your code between the lines
# the exercise marks, run the cell, then run the check cell below it: it prints `[PASS]`, or
# `[FAIL]` with what was expected. The grader runs further hidden tests on other inputs, so
# write general code, not code that only passes the visible check. Use float64 tensors.
# Time convention: latent at $t=0$, data at $t=1$; one ODE $\dot x=v(t,x)$ for both directions.

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
# **Done.** Re-run the whole notebook (Kernel → Restart and Run All) and check that every
# check prints `[PASS]` before you hand it in.
