# %% [markdown]
# # Problem set 04 · The SVD and numerical linear algebra (29 points)
#
# Six questions, from a $2\times2$ SVD by hand to a Woodbury update of a precision matrix.
# Write your code in place of the lines that raise `NotImplementedError`, run the cell, then
# run the **check cell** below it: it prints `[PASS]` or a `[FAIL]` line saying what is
# expected. The checks here are a first test only; the grader runs more tests on inputs you
# do not see, so make your functions correct for any valid input, not only for the checked
# one.
#
# Rules: work in `float64` (set below), keep the function names and signatures, and use
# `torch` operations. The lecture `notebooks/04_svd.ipynb` has everything you need. Where a
# question says "without `torch.linalg.svd`" (or `pinv`, `inv` of an $n\times n$ matrix), the
# point is to use the construction asked for; the grader tests the results.
#
# | Question | Topic | Points |
# |---|---|---|
# | 1 | SVD of a $2\times2$ matrix by hand, then from $A^\top A$ | 3 |
# | 2 | best rank-$k$ approximation and its error | 4 |
# | 3 | Woodbury: precision and log-determinant of "diagonal + low rank" | 4 |
# | 4 | condition number and a perturbation bound | 4 |
# | 5 | back-propagation through a two-layer network (M, Problem 1) | 4 |
# | 6 | minimum-norm least squares through the SVD | 3 |

# %%
import numpy as np
import torch
import matplotlib.pyplot as plt
import course_utils as cu

device = cu.setup(seed=0)

# %%
torch.set_default_dtype(torch.float64)


def amplification(A, b, db):
    # (relative change of the solution of A x = b) / (relative change of b)
    x = torch.linalg.solve(A, b)
    dx = torch.linalg.solve(A, b + db) - x
    return (dx.norm() / x.norm()) / (db.norm() / b.norm())


# %% [markdown]
# ## Question 1 (3 points, routine, about 10 min): SVD of a $2\times2$ matrix
#
# **(a) By hand.** For $A=\begin{pmatrix}3&0\\4&5\end{pmatrix}$ compute $A^\top A$, its
# eigenvalues and eigenvectors, and from them the singular values $\sigma_1\ge\sigma_2$
# and the first right and left singular vectors $v_1$, $u_1=Av_1/\sigma_1$. Enter them as
# exact expressions (for example `2 * 3**0.5`, `torch.tensor([1.0, 2.0]) / 5**0.5`):
# `sigma_hand` (a list of two numbers, descending), `v1_hand`, `u1_hand` (unit vectors;
# `v1_hand` of either sign, `u1_hand` then fixed by $u_1=Av_1/\sigma_1$).
#
# **(b) In general.** Write `svd_2x2(A)` returning `(U, s, Vt)` with `A = U @ diag(s) @ Vt`,
# `s` descending and `U`, `Vt` orthogonal, for any **invertible** $2\times2$ matrix `A`,
# **from the eigen-decomposition of $A^\top A$** (`torch.linalg.eigh`; not
# `torch.linalg.svd`). Careful with the order `eigh` returns, and do not use the
# eigenvalues of $A$ itself.

# %% course={"question": "q1", "role": "answer"}
### BEGIN SOLUTION
# A^T A = [[25, 20], [20, 25]]: eigenvalues 45 (v = (1, 1)/sqrt 2) and 5 (v = (1, -1)/sqrt 2)
sigma_hand = [45**0.5, 5**0.5]
v1_hand = torch.tensor([1.0, 1.0]) / 2**0.5
u1_hand = torch.tensor([3.0, 9.0]) / (2**0.5 * 45**0.5)   # A v1 / sigma_1 = (1, 3)/sqrt 10
### END SOLUTION

# %% course={"question": "q1", "role": "answer"}
def svd_2x2(A):
    """SVD of an invertible 2 x 2 matrix from eigh(A^T A).

    Args:
        A: shape (2, 2), invertible.

    Returns:
        (U, s, Vt): U (2, 2) orthogonal, s (2,) descending and > 0, Vt (2, 2) orthogonal.
    """
    ### BEGIN SOLUTION
    lam, V = torch.linalg.eigh(A.T @ A)
    lam, V = lam.flip(0), V.flip(1)            # descending
    s = lam.clamp(min=0).sqrt()
    U = (A @ V) / s                            # u_i = A v_i / sigma_i
    return U, s, V.T
    ### END SOLUTION


# %% course={"question": "q1", "role": "check"}
A1 = torch.tensor([[3.0, 0.0], [4.0, 5.0]])
# properties only (the values are graded by the hidden tests): sigma_1 sigma_2 = |det A| and
# sigma_1^2 + sigma_2^2 = ||A||_F^2 hold for every 2 x 2 matrix
A1d = A1.double()
as_vec = lambda v: torch.as_tensor(v, dtype=torch.float64)
cu.checks.check_true("q1a sigma descending and positive", lambda: sigma_hand[0] >= sigma_hand[1] > 0,
                      "sigma_hand[0] >= sigma_hand[1] > 0")
cu.checks.check_close("q1a sigma_1 sigma_2 = |det A|, sigma_1^2 + sigma_2^2 = ||A||_F^2",
                      lambda: [sigma_hand[0] * sigma_hand[1], sigma_hand[0] ** 2 + sigma_hand[1] ** 2],
                      [torch.linalg.det(A1d).abs(), (A1d**2).sum()], rtol=1e-10,
                      hint="square roots of the eigenvalues of A^T A, largest first")
cu.checks.check_close("q1a |v1| and |u1|", lambda: torch.stack([as_vec(v1_hand).norm(), as_vec(u1_hand).norm()]),
                      [1.0, 1.0], rtol=1e-10, hint="singular vectors have unit length")
cu.checks.check_close("q1a A^T A v1 = sigma_1^2 v1", lambda: A1d.T @ A1d @ as_vec(v1_hand) - sigma_hand[0] ** 2 * as_vec(v1_hand),
                      [0.0, 0.0], atol=1e-9, hint="unit eigenvector of A^T A for the largest eigenvalue")
cu.checks.check_close("q1a u1 = A v1 / sigma_1", lambda: as_vec(u1_hand) * sigma_hand[0] - A1d @ as_vec(v1_hand),
                      [0.0, 0.0], atol=1e-9, hint="u1 = A v1 / sigma_1 (its sign follows v1)")
A1b = torch.tensor([[1.0, 2.0], [2.0, 1.0]])              # symmetric, eigenvalues 3 and -1
cu.checks.check_close("q1b singular values", lambda: svd_2x2(A1b)[1], [3.0, 1.0], rtol=1e-10,
                      hint="singular values are >= 0 and descending; they are not the eigenvalues of A")
cu.checks.check_close("q1b U diag(s) Vt == A", lambda: (lambda r: r[0] @ torch.diag(r[1]) @ r[2])(svd_2x2(A1)),
                      A1, rtol=1e-10, atol=1e-12)
_ = cu.checks.check_close("q1b U orthogonal", lambda: (lambda r: r[0].T @ r[0])(svd_2x2(A1)), torch.eye(2),
                      atol=1e-12)


# %% [markdown]
# ## Question 2 (4 points, core, about 15 min): best rank-$k$ approximation and its error
#
# **(a)** Write `best_rank_k(A, k)` returning the best rank-$k$ approximation
# $A_k=\sum_{i\le k}\sigma_iu_iv_i^\top$ of a matrix `A` of shape `(m, n)`, for
# $0\le k\le\min(m,n)$ (you may use `torch.linalg.svd` here).
#
# **(b)** Write `rank_k_error(s, k)` returning the Frobenius error $\|A-A_k\|_F$ computed
# **from the singular values `s` alone** (a 1-D tensor, descending), without forming any
# matrix.
#
# **(c)** Write `smallest_rank(A, rel_tol)`: the smallest $k$ (a Python `int`) such that
# $\|A-A_k\|_F\le$ `rel_tol` $\cdot\,\|A\|_F$.

# %% course={"question": "q2", "role": "answer"}
def best_rank_k(A, k):
    """Best rank-k approximation of A: (m, n) -> (m, n)."""
    ### BEGIN SOLUTION
    U, s, Vt = torch.linalg.svd(A, full_matrices=False)
    return (U[:, :k] * s[:k]) @ Vt[:k]
    ### END SOLUTION


def rank_k_error(s, k):
    """||A - A_k||_F from the singular values s (descending, shape (r,)); a 0-d tensor."""
    ### BEGIN SOLUTION
    return (s[k:] ** 2).sum().sqrt()
    ### END SOLUTION


def smallest_rank(A, rel_tol):
    """Smallest k with ||A - A_k||_F <= rel_tol * ||A||_F (a Python int)."""
    ### BEGIN SOLUTION
    s = torch.linalg.svdvals(A)
    total = (s**2).sum().sqrt()
    for k in range(len(s) + 1):
        if rank_k_error(s, k) <= rel_tol * total:
            return k
    return len(s)
    ### END SOLUTION


# %% course={"question": "q2", "role": "check"}
g2 = torch.Generator().manual_seed(2)
A2 = torch.randn(7, 5, generator=g2)
s2 = torch.linalg.svdvals(A2)
cu.checks.check_close("q2a rank of A_2", lambda: torch.linalg.matrix_rank(best_rank_k(A2, 2)), 2)
cu.checks.check_close("q2a error of A_2 (Eckart-Young)", lambda: torch.linalg.norm(A2 - best_rank_k(A2, 2)),
                      (s2[2:] ** 2).sum().sqrt(), rtol=1e-10, hint="keep the k largest singular triplets")
cu.checks.check_close("q2a k = 0 and k = 5", lambda: [float(best_rank_k(A2, 0).abs().max()),
                                                     float((best_rank_k(A2, 5) - A2).abs().max())],
                      [0.0, 0.0], atol=1e-12)
cu.checks.check_close("q2b error from singular values", lambda: rank_k_error(torch.tensor([4.0, 3.0, 2.0, 1.0]), 2),
                      5**0.5, rtol=1e-12, hint="sqrt of the sum of the discarded sigma_i^2")
# diag(3, 2, 1): ||A||_F = sqrt 14; error of A_1 = sqrt 5 (0.60 ||A||_F), of A_2 = 1 (0.27 ||A||_F)
_ = cu.checks.check_equal("q2c smallest rank", lambda: smallest_rank(torch.diag(torch.tensor([3.0, 2.0, 1.0])), 0.5), 2)


# %% [markdown]
# ## Question 3 (4 points, core, about 20 min): Woodbury update of a precision matrix
#
# A Gaussian with covariance "diagonal plus low rank", $\Sigma=D+BB^\top$ with
# $D=\operatorname{diag}(d)$, $d>0$, $B\in\mathbb R^{n\times k}$ and $k\ll n$, appears in factor
# analysis and in flows with a few learned directions. Its precision $\Sigma^{-1}$ and
# $\log\det\Sigma$ can be computed from a $k\times k$ matrix only.
#
# **(a)** Write `factor_precision(d, B)` returning $\Sigma^{-1}$ with the Woodbury identity
# (mind the sign!). Invert only $D$ (elementwise) and a $k\times k$ matrix; do not call
# `torch.linalg.inv` or `solve` on an $n\times n$ matrix.
#
# **(b)** Write `factor_logdet(d, B)` returning $\log\det\Sigma$ with the matrix determinant
# lemma $\det(D+BB^\top)=\det D\,\det(I_k+B^\top D^{-1}B)$.
#
# **(c)** A new observation adds a rank-one term: $\Sigma'=\Sigma+ww^\top$. Write
# `precision_rank_one_update(P, w)` that returns $\Sigma'^{-1}$ given $P=\Sigma^{-1}$, with
# Sherman–Morrison ($O(n^2)$, no inverse).

# %% course={"question": "q3", "role": "answer"}
def factor_precision(d, B):
    """(diag(d) + B B^T)^{-1} by Woodbury; d: (n,), B: (n, k) -> (n, n)."""
    ### BEGIN SOLUTION
    Dinv_B = B / d[:, None]                                  # D^{-1} B, (n, k)
    core = torch.eye(B.shape[1]) + B.T @ Dinv_B              # I + B^T D^{-1} B, (k, k)
    return torch.diag(1 / d) - Dinv_B @ torch.linalg.solve(core, Dinv_B.T)
    ### END SOLUTION


def factor_logdet(d, B):
    """log det(diag(d) + B B^T) by the determinant lemma; a 0-d tensor."""
    ### BEGIN SOLUTION
    core = torch.eye(B.shape[1]) + B.T @ (B / d[:, None])
    return torch.log(d).sum() + torch.linalg.slogdet(core).logabsdet
    ### END SOLUTION


def precision_rank_one_update(P, w):
    """(Sigma + w w^T)^{-1} from P = Sigma^{-1}; P: (n, n), w: (n,) -> (n, n)."""
    ### BEGIN SOLUTION
    Pw = P @ w
    return P - torch.outer(Pw, Pw) / (1 + w @ Pw)
    ### END SOLUTION


# %% course={"question": "q3", "role": "check"}
g3 = torch.Generator().manual_seed(3)
d3 = torch.rand(6, generator=g3) + 0.5
B3 = torch.randn(6, 2, generator=g3)
Sigma3 = torch.diag(d3) + B3 @ B3.T
w3 = torch.randn(6, generator=g3)
cu.checks.check_close("q3a precision", lambda: factor_precision(d3, B3), torch.linalg.inv(Sigma3),
                      rtol=1e-9, atol=1e-11, hint="Woodbury has a MINUS sign in front of the correction")
cu.checks.check_close("q3b log det", lambda: factor_logdet(d3, B3), torch.linalg.slogdet(Sigma3).logabsdet,
                      rtol=1e-10, hint="sum(log d) + log det(I + B^T D^{-1} B)")
_ = cu.checks.check_close("q3c rank-one update", lambda: precision_rank_one_update(torch.linalg.inv(Sigma3), w3),
                      torch.linalg.inv(Sigma3 + torch.outer(w3, w3)), rtol=1e-9, atol=1e-11,
                      hint="P - P w w^T P / (1 + w^T P w)")


# %% [markdown]
# ## Question 4 (4 points, core, about 15 min): condition number and a perturbation bound
#
# **(a)** Write `cond2(A)`: the 2-norm condition number $\kappa(A)=\sigma_{\max}/\sigma_{\min}$
# of a square invertible `A`, as a float (not with `torch.linalg.cond` or `numpy.linalg.cond`).
#
# **(b)** Write `relative_error_bound(A, b, db)`: the upper bound $\kappa(A)\,\|\delta b\|/\|b\|$
# on the relative change $\|\delta x\|/\|x\|$ of the solution of $Ax=b$ when $b$ becomes
# $b+\delta b$ (a float).
#
# **(c)** The bound is attained. Write `worst_case(A)` returning unit vectors `(b, db)` for
# which the amplification $\dfrac{\|\delta x\|/\|x\|}{\|\delta b\|/\|b\|}$ equals $\kappa(A)$
# (the given function `amplification(A, b, db)` measures it). *Hint:* which $b$ gives the
# smallest $\|x\|$, which $\delta b$ the largest $\|\delta x\|$?

# %% course={"question": "q4", "role": "answer"}
def cond2(A):
    """sigma_max / sigma_min of a square invertible A (float)."""
    ### BEGIN SOLUTION
    s = torch.linalg.svdvals(A)
    return float(s[0] / s[-1])
    ### END SOLUTION


def relative_error_bound(A, b, db):
    """kappa(A) ||db|| / ||b|| (float)."""
    ### BEGIN SOLUTION
    return cond2(A) * float(db.norm() / b.norm())
    ### END SOLUTION


def worst_case(A):
    """Unit vectors (b, db), shape (n,) each, with amplification(A, b, db) == kappa(A)."""
    ### BEGIN SOLUTION
    U, s, Vt = torch.linalg.svd(A)
    # b along u_1 gives x = v_1 / sigma_1 (small); db along u_n gives dx = v_n / sigma_n (big)
    return U[:, 0], U[:, -1]
    ### END SOLUTION


# %% course={"question": "q4", "role": "check"}
A4 = torch.tensor([[1.0, 100.0], [0.0, 1.0]])     # both eigenvalues are 1
cu.checks.check_close("q4a cond2", lambda: cond2(A4), np.linalg.cond(A4.numpy()), rtol=1e-8,
                      hint="use singular values, not eigenvalues")
b4, db4 = torch.tensor([1.0, 1.0]), torch.tensor([0.0, 1e-6])
cu.checks.check_close("q4b bound", lambda: relative_error_bound(A4, b4, db4),
                      np.linalg.cond(A4.numpy()) * 1e-6 / 2**0.5, rtol=1e-8)
cu.checks.check_true("q4b bound holds", lambda: float(amplification(A4, b4, db4)) * 1e-6 / 2**0.5
                     <= relative_error_bound(A4, b4, db4) * (1 + 1e-9),
                     "the measured relative change of x must not exceed your bound")
_ = cu.checks.check_close("q4c worst case attains kappa", lambda: amplification(A4, *worst_case(A4)),
                      np.linalg.cond(A4.numpy()), rtol=1e-6, hint="b along u_1, db along u_n")


# %% [markdown]
# ## Question 5 (4 points, challenge, about 25 min): back-propagation through a two-layer network (M, Problem 1)
#
# With $\sigma=\tanh$, parameters $W\in\mathbb R^{N\times d}$ (row $i$ is $w_i^\top$),
# $b,a\in\mathbb R^N$, one input $x\in\mathbb R^d$ and target $y$:
#
# $$\hat y=\frac1N\sum_{i=1}^N a_i\tanh(w_i^\top x+b_i),\qquad \mathcal L=(y-\hat y)^2 .$$
#
# Write `two_layer_grads(W, b, a, x, y)` returning the tuple
# $(\partial\mathcal L/\partial W,\ \partial\mathcal L/\partial b,\ \partial\mathcal L/\partial a)$
# with shapes `(N, d)`, `(N,)`, `(N,)`, **derived by hand** (no `backward`, no
# `torch.autograd` in the answer; use $\tanh'=1-\tanh^2$). The check compares with autograd.

# %% course={"question": "q5", "role": "answer"}
def two_layer_grads(W, b, a, x, y):
    """Hand-derived gradients of L = (y - mean_i a_i tanh(w_i.x + b_i))^2.

    Returns:
        (dW, db, da) with shapes (N, d), (N,), (N,).
    """
    ### BEGIN SOLUTION
    N = W.shape[0]
    h = torch.tanh(W @ x + b)
    y_hat = (a * h).mean()
    dL_dyhat = -2 * (y - y_hat)
    delta = dL_dyhat * a * (1 - h**2) / N        # dL/dz_i
    return torch.outer(delta, x), delta, dL_dyhat * h / N
    ### END SOLUTION


# %% course={"question": "q5", "role": "check"}
def autograd_grads(W, b, a, x, y):
    # independent reference: let autograd differentiate the loss
    W, b, a = (t.clone().requires_grad_(True) for t in (W, b, a))
    loss = (y - (a * torch.tanh(W @ x + b)).mean()) ** 2
    return torch.autograd.grad(loss, (W, b, a))

g5 = torch.Generator().manual_seed(5)
W5, b5, a5, x5 = torch.randn(4, 3, generator=g5), torch.randn(4, generator=g5), torch.randn(4, generator=g5), torch.randn(3, generator=g5)
ref5 = autograd_grads(W5, b5, a5, x5, torch.tensor(0.3))
for j, name in enumerate(("dL/dW", "dL/db", "dL/da")):
    cu.checks.check_close(f"q5 {name}", lambda j=j: two_layer_grads(W5, b5, a5, x5, torch.tensor(0.3))[j],
                          ref5[j], rtol=1e-10, atol=1e-12, hint="chain rule: dL/dyhat * dyhat/dz_i * dz_i/dparam")


# %% [markdown]
# ## Question 6 (3 points, core, about 15 min): minimum-norm least squares through the SVD
#
# Write `min_norm_solution(X, y)` returning $\beta^+=X^+y=V\Sigma^+U^\top y$ for any
# `X` of shape `(n, p)` and `y` of shape `(n,)`, from the thin SVD of `X`: invert the
# singular values larger than `1e-10 * sigma_1` and set the others to zero (no
# `torch.linalg.pinv`, `lstsq` or `inv`). It must work for $n>p$ (the ordinary least-squares
# solution), for $p>n$ (the interpolating solution of smallest norm) and for rank-deficient
# `X`.

# %% course={"question": "q6", "role": "answer"}
def min_norm_solution(X, y):
    """beta = X^+ y via the SVD; X: (n, p), y: (n,) -> (p,)."""
    ### BEGIN SOLUTION
    U, s, Vt = torch.linalg.svd(X, full_matrices=False)
    keep = s > 1e-10 * s[0]
    s_inv = torch.zeros_like(s)
    s_inv[keep] = 1 / s[keep]
    return Vt.T @ (s_inv * (U.T @ y))
    ### END SOLUTION


# %% course={"question": "q6", "role": "check"}
g6 = torch.Generator().manual_seed(6)
X6, y6 = torch.randn(3, 6, generator=g6), torch.randn(3, generator=g6)      # p > n
cu.checks.check_close("q6 p > n: X^T (X X^T)^{-1} y", lambda: min_norm_solution(X6, y6),
                      X6.T @ torch.linalg.solve(X6 @ X6.T, y6), rtol=1e-9, atol=1e-12)
X6b, y6b = torch.randn(10, 3, generator=g6), torch.randn(10, generator=g6)  # n > p
cu.checks.check_close("q6 n > p: normal equations", lambda: min_norm_solution(X6b, y6b),
                      torch.linalg.solve(X6b.T @ X6b, X6b.T @ y6b), rtol=1e-9, atol=1e-12)
X6c = torch.tensor([[1.0, 1.0], [2.0, 2.0], [3.0, 3.0]])                    # rank 1
_ = cu.checks.check_close("q6 rank-deficient", lambda: min_norm_solution(X6c, torch.tensor([1.0, 2.0, 3.0])),
                      [0.5, 0.5], rtol=1e-9, hint="drop singular values that are (numerically) zero")

# %% [markdown]
# ## Question 7 (3 points, core, about 10 min): why not the normal equations? (written)
#
# In Question 4 you bounded the relative error of a linear solve by the condition number.
# Least squares can be solved through the normal equations $X^\top X\beta = X^\top y$ or through
# the SVD (Question 6). **Explain** in your own words why the normal equations lose about twice
# as many digits as the SVD route on an ill-conditioned design, **predict** roughly how many
# correct digits each route gives in float64 for a design with $\kappa(X) = 10^6$, and say when
# the normal equations are nevertheless a reasonable choice (at most 150 words).
#
# Write your answer in the markdown cell below (double-click to edit). This question is
# graded by hand with a rubric; the checks and the automatic grader give it 0 points.

# %% [markdown] course={"question": "q7", "role": "answer"}
# ### BEGIN SOLUTION
# *Model answer: see the rubric (instructor only).*
# ### END SOLUTION

# %% [markdown] course={"role": "instructor"}
# **Rubric (3 points).**
# - 1 pt: $\kappa(X^\top X) = \kappa(X)^2$ (the singular values are squared), so rounding
#   errors of size $\epsilon$ are amplified by $\kappa^2$ instead of $\kappa$.
# - 1 pt: with $\epsilon \approx 10^{-16}$: about $16 - 6 = 10$ digits via the SVD/QR,
#   about $16 - 12 = 4$ digits via the normal equations (order-of-magnitude reasoning suffices).
# - 1 pt: normal equations are fine when $X$ is well conditioned (e.g. $\kappa \lesssim 10^3$)
#   and $n \gg p$, because they are cheaper ($O(np^2)$ with a small constant, a $p\times p$
#   system) and need less memory. Half points allowed.

# %% [markdown]
# ## Question 8 (4 points, challenge, about 20 min): denoise a low-rank matrix (end-to-end)
#
# The cell below builds a clean matrix `L_e2e` of rank 7 (60 × 40) and a noisy observation
# `M_e2e = L_e2e + noise`, with i.i.d. noise of standard deviation `noise_e2e`.
#
# 1. **Build and run**: for $k = 0, 1, \dots, 15$ compute the rank-$k$ approximation of the
#    *noisy* `M_e2e` (your `best_rank_k`) and its error against the *clean* matrix,
#    $\|M_k - L\|_F$: store the 16 errors as a list of floats `err_curve`.
# 2. **Measure**: `k_best`, the $k$ with the smallest error (an `int`), and
#    `denoise_gain` $=\|M - L\|_F / \|M_{k_\text{best}} - L\|_F$ (a float).
# 3. **Read the result without the clean matrix**: in practice $L$ is unknown. Singular
#    values of pure noise lie below about $\sigma_\text{noise}(\sqrt m+\sqrt n)$; set `k_edge`
#    to the number of singular values of `M_e2e` above that edge (an `int`), and compare it
#    with `k_best`. (Why are two of the seven components of $L$ not worth keeping?)
#
# Tests (other seeds): the error curve (1 point); `k_best` (1 point); `denoise_gain`, which
# must be at least 1.5 (1 point); `k_edge` (1 point).

# %%
seed = 0  # the hidden tests use other seeds
g_e2e = torch.Generator().manual_seed(seed)
U_e2e = torch.linalg.qr(torch.randn(60, 7, generator=g_e2e))[0]
V_e2e = torch.linalg.qr(torch.randn(40, 7, generator=g_e2e))[0]
L_e2e = U_e2e @ torch.diag(torch.tensor([10.0, 6.0, 3.5, 2.0, 1.2, 0.1, 0.05])) @ V_e2e.T
noise_e2e = 0.05
M_e2e = L_e2e + noise_e2e * torch.randn(60, 40, generator=g_e2e)

# %% course={"question": "q8", "role": "answer"}
err_curve, k_best, denoise_gain, k_edge = [], None, float("nan"), None
### BEGIN SOLUTION
err_curve = [float((best_rank_k(M_e2e, k) - L_e2e).norm()) for k in range(16)]
k_best = min(range(16), key=lambda k: err_curve[k])
denoise_gain = float((M_e2e - L_e2e).norm()) / err_curve[k_best]
edge = noise_e2e * (M_e2e.shape[0] ** 0.5 + M_e2e.shape[1] ** 0.5)
k_edge = int((torch.linalg.svdvals(M_e2e) > edge).sum())
### END SOLUTION
print(f"best rank {k_best}, rank above the noise edge {k_edge}, gain {denoise_gain:.2f}")

# %% course={"question": "q8", "role": "check"}
cu.checks.check_true("q8 err_curve: 16 floats", lambda: len(err_curve) == 16
                     and all(isinstance(e, float) for e in err_curve), "a list of 16 floats, k = 0..15")
cu.checks.check_close("q8 err_curve at k = 0 is ||L||_F", lambda: err_curve[0], L_e2e.norm(), rtol=1e-10,
                      hint="the rank-0 approximation is the zero matrix")
_ = cu.checks.check_true("q8 k_best, k_edge are ints; the gain is a real gain",
                         lambda: isinstance(k_best, int) and isinstance(k_edge, int) and denoise_gain > 1,
                         "ints, and a denoised matrix closer to L than M is")


# %% [markdown]
# ## Done
#
# Run every cell from the top (Kernel → Restart and run all) and make sure each check cell
# prints `[PASS]` before you submit.
