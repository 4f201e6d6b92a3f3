# %% [markdown]
# # Problem set 10 · Digits in 64 dimensions (21 points)
#
# Six questions on real data: the logit preprocessing and its log-determinant, bits per
# dimension, a Gaussian baseline, classifier-free guidance, an end-to-end flow-matching
# model scored as a CNF, and a written question. Write your code in place of the lines
# that raise `NotImplementedError`, run the cell, then run the **check cell** below it: it
# prints `[PASS]` or a `[FAIL]` line saying what is expected. The checks are a first test
# only; the grader runs more tests on inputs you do not see.
#
# Rules: keep the function names and signatures; shapes are batch-first (`x: (batch, 64)`).
# Time runs from $t=0$ (noise $z\sim\mathcal N(0,I)$) to $t=1$ (data); fields are called
# `v(t, x)`. In questions 1–3 do **not** call `cu.digits.logit_transform`,
# `cu.digits.bits_per_dim`, `cu.digits.fit_gaussian` or `cu.digits.gaussian_log_prob`
# (the check cells may); in questions 4–5 you may use everything in `course_utils`.
# Everything you need is in `notebooks/10_digits.ipynb`.
#
# | Question | Topic | Kind, time | Points |
# |---|---|---|---|
# | 1 | the logit map and its log-determinant | routine, 10 min | 3 |
# | 2 | bits per dimension through dequantization and preprocessing | routine, 10 min | 3 |
# | 3 | the full-covariance Gaussian baseline | core, 15 min | 4 |
# | 4 | classifier-free guidance, measured by a classifier | core, 15 min | 3 |
# | 5 | end to end: train flow matching, score it as a CNF | challenge, 30 min | 5 |
# | 6 | written: Hutchinson at d = 64 (graded by hand) | core, 15 min | 3 |

# %%
import numpy as np
import torch
import matplotlib.pyplot as plt
import course_utils as cu

device = cu.setup(seed=0)

# %%
import math

from course_utils import digits as D

F64 = torch.float64
data = D.load(n_test=360, seed=0)
# one fixed dequantization of each split, in logit space (alpha = 0.05), as in the lecture;
# float64 for questions 1-3, while the models of questions 4-5 are float32
x_train = D.dequantize(data.train_images, generator=torch.Generator().manual_seed(0), dtype=F64)
x_test = D.dequantize(data.test_images, generator=torch.Generator().manual_seed(1), dtype=F64)
y_train, ld_train = D.logit_transform(x_train, 0.05)
y_test, ld_test = D.logit_transform(x_test, 0.05)
print(f"train {tuple(y_train.shape)}, test {tuple(y_test.shape)}, dtype {y_train.dtype}")

# %% [markdown]
# ## Question 1 (3 points): the logit map and its log-determinant
#
# Write `logit_map(x, alpha)` for `x: (batch, d)` in $[0,1]^d$: return
# `(y, log_det)` with $y=\operatorname{logit}(s)$, $s=\alpha+(1-2\alpha)x$, and
# `log_det: (batch,)` $=\log\lvert\det\partial y/\partial x\rvert$ for every row.

# %% course={"question": "q1", "role": "answer"}
def logit_map(x, alpha):
    """(y (batch, d), log|det dy/dx| (batch,)) of the squeezed logit."""
    ### BEGIN SOLUTION
    s = alpha + (1 - 2 * alpha) * x
    y = torch.log(s) - torch.log1p(-s)
    log_det = (math.log(1 - 2 * alpha) - torch.log(s) - torch.log1p(-s)).sum(1)
    return y, log_det
    ### END SOLUTION


# %% course={"question": "q1", "role": "check"}
x_q1 = torch.tensor([[0.5, 0.25], [0.9, 0.1]], dtype=F64)
cu.checks.check_close("q1 y at x = 1/2 is 0", lambda: logit_map(x_q1, 0.05)[0][0, 0], 0.0, atol=1e-12)
cu.checks.check_close("q1 y is odd about 1/2", lambda: logit_map(x_q1, 0.05)[0][1].sum(), 0.0, atol=1e-12,
                      hint="logit(1 - s) = -logit(s)")
jac_q1 = torch.autograd.functional.jacobian(lambda r: logit_map(r[None], 0.2)[0][0], x_q1[0])
_ = cu.checks.check_close("q1 log-det against autograd", lambda: logit_map(x_q1, 0.2)[1][0],
                          torch.linalg.slogdet(jac_q1)[1], rtol=1e-10,
                          hint="the map is coordinate-wise: sum the logs of the diagonal")


# %% [markdown]
# ## Question 2 (3 points): bits per dimension
#
# A model gives `log_py: (batch,)`, the log-density (nats) of preprocessed points $y$; the
# preprocessing gives `log_det: (batch,)`. The images had `n_levels` grey levels and were
# dequantized as $x=(k+u)/n_\text{levels}$. Write `bits_per_dim(log_py, log_det, dim, n_levels)`:
# the mean over the batch of the bits-per-dimension bound of the lecture (a Python float).

# %% course={"question": "q2", "role": "answer"}
def bits_per_dim(log_py, log_det, dim, n_levels):
    """Mean bits/dim of dequantized images from log p_y (nats) and log|det dy/dx|."""
    ### BEGIN SOLUTION
    log_px = log_py + log_det
    return float(-(log_px.mean() - dim * math.log(n_levels)) / (dim * math.log(2)))
    ### END SOLUTION


# %% course={"question": "q2", "role": "check"}
cu.checks.check_close("q2 uniform density on the cube", lambda: bits_per_dim(torch.zeros(3, dtype=F64), torch.zeros(3, dtype=F64), 64, 17),
                      math.log2(17), rtol=1e-10, hint="log p_x = 0 must give log2(n_levels)")
_ = cu.checks.check_close("q2 the log-det counts", lambda: bits_per_dim(torch.zeros(2, dtype=F64), torch.full((2,), 64 * math.log(2), dtype=F64), 64, 17),
                          math.log2(17) - 1, rtol=1e-10,
                          hint="log p_x = log p_y + log|det dy/dx|")


# %% [markdown]
# ## Question 3 (4 points): the full-covariance Gaussian baseline
#
# Write `gaussian_test_bpd(y_tr, y_te, ld_te)`: fit the maximum-likelihood Gaussian (sample
# mean, covariance with the $1/n$ normalisation) to the rows of `y_tr`, and return the test
# bits/dim of `y_te` (with its log-determinants `ld_te`; 17 levels, $d=64$), using your
# `bits_per_dim`. Compute the log-density with a Cholesky factor
# (`torch.linalg.cholesky`, `torch.linalg.solve_triangular`). Then set `q3_bpd` to its value
# on the full `y_train`, `y_test`, `ld_test`.

# %% course={"question": "q3", "role": "answer"}
def gaussian_test_bpd(y_tr, y_te, ld_te):
    """Test bits/dim of the MLE Gaussian fitted to y_tr (n, 64)."""
    ### BEGIN SOLUTION
    mean = y_tr.mean(0)
    c = y_tr - mean
    cov = c.T @ c / y_tr.shape[0]
    chol = torch.linalg.cholesky(cov)
    w = torch.linalg.solve_triangular(chol, (y_te - mean).T, upper=False)
    d = y_te.shape[1]
    log_py = -0.5 * (w**2).sum(0) - torch.log(torch.diagonal(chol)).sum() - 0.5 * d * math.log(2 * math.pi)
    return bits_per_dim(log_py, ld_te, d, 17)
    ### END SOLUTION


q3_bpd = None
### BEGIN SOLUTION
q3_bpd = gaussian_test_bpd(y_train, y_test, ld_test)
### END SOLUTION
print(f"{q3_bpd:.4f}" if isinstance(q3_bpd, float) else q3_bpd)

# %% course={"question": "q3", "role": "check"}
cu.checks.check_true("q3 a float below log2(17)",
                     lambda: isinstance(q3_bpd, float) and 1.0 < q3_bpd < math.log2(17),
                     "q3_bpd is a float below the uniform density's log2(17) = 4.09")
m_q3, c_q3 = D.fit_gaussian(y_train[:200])
ref_q3 = D.bits_per_dim(D.gaussian_log_prob(y_test[:40], m_q3, c_q3) + ld_test[:40])
_ = cu.checks.check_close("q3 on 200 training and 40 test points",
                          lambda: gaussian_test_bpd(y_train[:200], y_test[:40], ld_test[:40]), ref_q3,
                          rtol=1e-8, hint="covariance with 1/n, not 1/(n-1)")


# %% [markdown]
# ## Question 4 (3 points): classifier-free guidance, measured by a classifier
#
# The given `cond` is the lecture's class-conditional field (`cond(t, x, c)`, `c = None`
# for the unconditional field); `clf` is a logistic regression trained on real digits.
#
# **(a)** Write `guided_velocity(v_cond, v_null, w)`: the guided velocity
# $v_\varnothing+w\,(v_c-v_\varnothing)$ from the two velocities (tensors of equal shape).
#
# **(b)** Set `q4_accuracy` to the fraction of 100 guided samples at $w=2$ (ten of each class
# 0–9, in the order of `c_q4`, starting from `z0_q4`; RK4 with 5 steps from $t=0$ to $1$,
# e.g. `cu.flow_matching.sample`) that `clf.predict` assigns to their intended class. Map a
# sample $y$ back to grey levels with `D.quantize(D.inverse_logit_transform(y))`.

# %%
cond, _ = D.load_checkpoint("cfm")
clf = D.DigitClassifier(data.train_images, data.train_labels)
c_q4 = torch.arange(10).repeat_interleave(10)
z0_q4 = torch.randn(100, 64, generator=torch.Generator().manual_seed(4))

# %% course={"question": "q4", "role": "answer"}
def guided_velocity(v_cond, v_null, w):
    """Classifier-free guidance: v_null + w (v_cond - v_null)."""
    ### BEGIN SOLUTION
    return v_null + w * (v_cond - v_null)
    ### END SOLUTION


q4_accuracy = None
### BEGIN SOLUTION
field_q4 = lambda t, x: guided_velocity(cond(t, x, c_q4), cond(t, x, None), 2.0)
y_q4 = cu.flow_matching.sample(field_q4, z0_q4, method="rk4", steps=5)
q4_accuracy = clf.accuracy(D.quantize(D.inverse_logit_transform(y_q4)), c_q4)
### END SOLUTION
print(f"{q4_accuracy:.2f}" if isinstance(q4_accuracy, float) else q4_accuracy)

# %% course={"question": "q4", "role": "check"}
cu.checks.check_close("q4a w = 0 is unconditional", lambda: guided_velocity(torch.ones(2, 3), torch.zeros(2, 3), 0.0),
                      torch.zeros(2, 3), atol=1e-12)
cu.checks.check_close("q4a w = 1 is conditional", lambda: guided_velocity(torch.ones(2, 3), torch.zeros(2, 3), 1.0),
                      torch.ones(2, 3), atol=1e-12)
_ = cu.checks.check_true("q4b an accuracy", lambda: isinstance(q4_accuracy, float) and 0.0 <= q4_accuracy <= 1.0,
                         "q4_accuracy is a float in [0, 1]")


# %% [markdown]
# ## Question 5 (5 points): end to end — train flow matching and score it as a CNF
#
# **(a)** Write `cnf_test_bpd(field, y, ld)`: the test bits/dim of the points `y` (with
# log-determinants `ld`) under the flow of `field`, read as a CNF with the **exact**
# divergence and RK4 with step 0.2 (`cu.cnf.CNF(field, 64, estimator="exact",
# method="rk4", step_size=0.2)`), using your `bits_per_dim`. `y` and `ld` may be float64
# while the field is float32: convert `y` to the dtype of the field's parameters.
#
# **(b)** Train a flow-matching model on the training images (fresh dequantization every
# batch is better than the fixed `y_train`; `cu.flow_matching.train` and `VelocityMLP` are
# allowed) for **at most 600 steps** (the grader's time limit is about 10 s for this
# question) and set `q5_bpd` to `cnf_test_bpd` of your model on the first 100 test points
# `y_test[:100]`, `ld_test[:100]` (train in float32: the default dtype). Target: at most **2.9** bits/dim (the converged model
# of the lecture reaches 2.10 on the full test set; the uniform density 4.09).

# %%
fm_field, _ = D.load_checkpoint("fm")  # the lecture's converged model (float32), for your own checks

# %% course={"question": "q5", "role": "answer"} tags=["nbval-ignore-output"]
def cnf_test_bpd(field, y, ld):
    """Bits/dim of y under the CNF of field (exact divergence, RK4 with step 0.2)."""
    ### BEGIN SOLUTION
    dtype = next(field.parameters()).dtype
    cnf = cu.cnf.CNF(field, 64, estimator="exact", method="rk4", step_size=0.2)
    with torch.no_grad():
        log_py = cnf.log_prob(y.to(dtype))
    return bits_per_dim(log_py.to(ld.dtype), ld, 64, 17)
    ### END SOLUTION


q5_bpd = None
### BEGIN SOLUTION
def draw_q5(n, gen):
    idx = torch.randint(0, data.train_images.shape[0], (n,), generator=gen)
    x = D.dequantize(data.train_images[idx], generator=gen)
    return logit_map(x, 0.05)[0]


torch.manual_seed(0)
res_q5 = cu.flow_matching.train(cu.flow_matching.VelocityMLP(64, hidden=256, n_hidden=2), draw_q5,
                                steps=400, batch_size=128, lr=3e-3,
                                generator=torch.Generator().manual_seed(0))
q5_bpd = cnf_test_bpd(res_q5["model"], y_test[:100], ld_test[:100])
### END SOLUTION
print(f"{q5_bpd:.3f}" if isinstance(q5_bpd, float) else q5_bpd)

# %% course={"question": "q5", "role": "check"}
# a linear field v(t, x) = A x is cheap to differentiate and has divergence tr A everywhere
lin_q5 = cu.cnf.LinearField(0.05 * torch.randn(64, 64, generator=torch.Generator().manual_seed(5), dtype=F64))
with torch.no_grad():
    lp_q5 = cu.cnf.CNF(lin_q5, 64, method="rk4", step_size=0.2).log_prob(y_test[:5])
cu.checks.check_close("q5a a linear field on 5 test images", lambda: cnf_test_bpd(lin_q5, y_test[:5], ld_test[:5]),
                      D.bits_per_dim(lp_q5 + ld_test[:5]), rtol=1e-8,
                      hint="bits_per_dim of the CNF's log p_y plus the log-determinants")
_ = cu.checks.check_true("q5b trained below the target", lambda: isinstance(q5_bpd, float) and q5_bpd <= 2.9,
                         "q5_bpd <= 2.9 bits/dim on y_test[:100]",
                         hint="train longer (up to 600 steps), widen the field, or raise the learning rate")


# %% [markdown]
# ## Question 6 (3 points, graded by hand): Hutchinson at d = 64
#
# In the lecture, one Rademacher probe per solve gave a per-image standard deviation of
# about 0.15 bits/dim around the exact value, at a fraction of the exact divergence's time.
# In at most eight sentences: **(a)** how large is the standard error of a test-set mean of
# $n=360$ images with one probe each, and how does it change with $M$ probes per image?
# **(b)** Why is Hutchinson's estimator worth it at $d = 64$ but not at $d = 2$ (06)?
# **(c)** Name one reason to report the exact value anyway when comparing models.

# %% [markdown] course={"question": "q6", "role": "answer"}
# ### BEGIN SOLUTION
# (a) The probes are independent across images, so the standard error of the mean is
# $0.15/\sqrt{360}\approx 0.008$ bits/dim; with $M$ probes per image the per-image variance
# falls by $1/M$, so the standard error is $0.15/\sqrt{360M}$. (b) The exact divergence
# needs $d$ vector–Jacobian products per evaluation of the field (64 here, 2 in 06);
# Hutchinson needs one per probe, so its cost is nearly independent of $d$ while the exact
# cost grows linearly; at $d=2$ the saving is at most a factor 2 and not worth the noise.
# (c) Differences between models in the table are a few hundredths of a bit, the same size
# as Hutchinson's standard error over a small test set; an exact value removes that noise
# (and Hutchinson's estimate of $\log p$ is unbiased, but bits/dim averaged over images is
# still noisy).
# ### END SOLUTION

# %% [markdown] course={"role": "instructor"}
# **Rubric for question 6** (instructor only; 3 points, one per part):
#
# * (a) 1 point: standard error $0.15/\sqrt{360}\approx 0.008$ bits/dim (accept
#   0.005–0.01) **and** the $1/\sqrt M$ scaling (variance $1/M$). Half a point for only one.
# * (b) 1 point: the exact trace costs $d$ backward passes (VJPs) per field evaluation,
#   Hutchinson one per probe, so the saving grows with $d$; at $d = 2$ there is almost
#   nothing to save. No credit for "Hutchinson is more accurate".
# * (c) 1 point: any of: differences between models are comparable to the estimator's
#   noise; the exact value is reproducible without probe seeds; it is the quantity being
#   compared (Hutchinson adds variance to every entry of a table).

# %% [markdown]
# ## Done
#
# Run the whole notebook from the top (Kernel → Restart & Run All) and check that every
# check prints `[PASS]`. Then submit this notebook.
