# %% [markdown] slideshow={"slide_type": "slide"}
# # 04 · The singular value decomposition and the numerical linear algebra behind flows
#
# Flows move probability mass with maps whose Jacobians we have to multiply, invert and take
# determinants of. This notebook collects the linear algebra that makes this work: the
# **singular value decomposition** (SVD), what it says about geometry, rank and volume,
# low-rank structure hidden in noise, matrix calculus for gradients, cheap updates of
# inverses, least squares, and what computers actually pay (time, digits) for all of it.
#
# **Learning objectives.** After this notebook you can
#
# 1. compute an SVD from the eigen-decomposition of $A^\top A$, explain its sign and order
#    ambiguities, and read rank, $|\det A|$ and the image of the unit ball from it;
# 2. build the best rank-$k$ approximation of a matrix and predict its error;
# 3. explain when the top eigenvector of a noisy matrix finds a planted signal (the BBP
#    transition of the spiked Wigner model);
# 4. differentiate scalar and vector expressions of vectors and matrices, and check the
#    result with autograd, including back-propagation through a two-layer network;
# 5. update an inverse after a low-rank change (Sherman–Morrison, Woodbury) with the
#    right sign, and solve least-squares problems with $n>p$ and $p>n$;
# 6. measure how the cost of dense linear algebra grows with $n$, and predict the digits
#    lost to ill-conditioning from the singular values.
#
# **Prerequisites.** `01_mle` (least squares, autograd) and `03_change_of_variables`
# (Jacobians, $|\det|$ as a volume factor); eigenvalues and eigenvectors of symmetric
# matrices.
#
# **Estimated time.** 90 minutes.
#
# **Source.** M = Miyamoto, *Machine Learning for Physicists: Recitation Notes* (2026),
# §1.1–1.3, §5.3 and Problem 1. **Pitfall** boxes state a tempting wrong claim, show the
# cell that exposes it and cite where it appears; M's misprints are listed in
# [`docs/ERRATA.md`](../docs/ERRATA.md).
#
# **Route.** Sections 1–3, 5, 6 (without its timing part), 7 and 9 are core; 4 (spiked
# Wigner) and 8 (what linear algebra costs) are marked *(optional)*. Notebook 01 links to
# [the sign of Sherman–Morrison and Woodbury](#woodbury-sign) (section 6); least squares
# with a noise covariance is treated once, in 01 §5, and linked from section 7.

# %%
import numpy as np
import torch
import matplotlib.pyplot as plt
import course_utils as cu

device = cu.setup(seed=0)

# %%
import scipy.linalg

torch.set_default_dtype(torch.float64)  # every comparison below is against exact values
L = cu.linalg  # the helpers this notebook ends up putting in the package

# %% [markdown] slideshow={"slide_type": "slide"}
# ## 1. Definitions: singular values from the eigenvalues of $A^\top A$
#
# Let $A\in\mathbb R^{m\times n}$. The matrix $A^\top A\in\mathbb R^{n\times n}$ is symmetric,
# so it has real eigenvalues and an orthonormal basis of eigenvectors. It is also
# **positive semi-definite**:
#
# $$x^\top A^\top A\,x=\|Ax\|^2\ \ge 0\quad\text{for every }x,$$
#
# so every eigenvalue is **$\ge 0$** (not necessarily $>0$: it is $0$ exactly for the
# directions $A$ sends to $0$). We sort them in **descending** order,
# $\lambda_1\ge\lambda_2\ge\dots\ge\lambda_n\ge 0$, and define the singular values
#
# $$\sigma_i=\sqrt{\lambda_i},\qquad \sigma_1\ge\sigma_2\ge\dots\ge 0 .$$
#
# Descending is the convention of `numpy.linalg.svd`, `torch.linalg.svd` and of the whole
# course; `eigh` returns **ascending** eigenvalues, so we flip.

# %%
g = torch.Generator().manual_seed(0)
A = torch.randn(5, 3, generator=g)

lam = torch.linalg.eigvalsh(A.T @ A)       # ascending, real, >= 0
sigma_from_eig = lam.flip(0).sqrt()         # descending
sigma_svd = torch.linalg.svdvals(A)         # what the library computes

print("eigenvalues of A^T A (eigh order):", np.round(lam.numpy(), 4))
print("sqrt, descending                  :", np.round(sigma_from_eig.numpy(), 4))
print("torch.linalg.svdvals(A)           :", np.round(sigma_svd.numpy(), 4))
assert torch.allclose(sigma_from_eig, sigma_svd, atol=1e-12)

# %% [markdown] slideshow={"slide_type": "subslide"}
# > **Pitfall.** *Common mistake:* "$A^\top A$ is symmetric, so its eigenvalues are
# > positive." Symmetry gives only **real** eigenvalues (the symmetric matrix in the next
# > cell has a negative one). What makes the eigenvalues of $A^\top A$ non-negative is
# > $x^\top A^\top A x=\|Ax\|^2\ge 0$, and they are **zero**, not positive, whenever
# > $\operatorname{rank}A<n$. *Check (next cell):* it asserts a negative eigenvalue for the
# > symmetric $\begin{pmatrix}1&2\\2&1\end{pmatrix}$ and two zero eigenvalues (to round-off)
# > of $B^\top B$ for a rank-2 $B$ with 4 columns; "positive" would fail both.
# > *(M §1.1, Definition 1; its ascending order of the singular values is a misprint, see
# > [ERRATA](../docs/ERRATA.md).)*

# %%
S_sym = torch.tensor([[1.0, 2.0], [2.0, 1.0]])
print("symmetric, eigenvalues:", np.round(torch.linalg.eigvalsh(S_sym).numpy(), 4))

B = torch.randn(5, 2, generator=g) @ torch.randn(2, 4, generator=g)   # 5 x 4, rank 2
lam_B = torch.linalg.eigvalsh(B.T @ B).flip(0)
print("A^T A for a rank-2 A (4 x 4), two largest eigenvalues:", np.round(lam_B[:2].numpy(), 4))
print("the other two are zero up to round-off (|lambda| < 1e-12 lambda_1):",
      bool(lam_B[2:].abs().max() < 1e-12 * lam_B[0]))
assert torch.linalg.eigvalsh(S_sym).min() < 0 and lam_B[2:].abs().max() < 1e-12 * lam_B[0]

# %% [markdown] slideshow={"slide_type": "subslide"}
# ### Rank
#
# The rank of $A$ is the number of **non-zero singular values**. Reason: $\ker A=\ker A^\top A$
# ($A^\top A v=0\Rightarrow v^\top A^\top A v=\|Av\|^2=0$), and $\ker A^\top A$ is spanned by
# the eigenvectors with eigenvalue $0$; rank–nullity gives
# $\operatorname{rank}A=n-\dim\ker A=\#\{i:\sigma_i>0\}$. In floating point, "non-zero"
# means "above a tolerance", typically $\max(m,n)\,\varepsilon\,\sigma_1$.

# %%
s_B = torch.linalg.svdvals(B)
tol = max(B.shape) * torch.finfo(B.dtype).eps * s_B[0]
print("singular values of B:", np.round(s_B.numpy(), 4))
print("rank from singular values:", int((s_B > tol).sum()),
      "| torch.linalg.matrix_rank:", int(torch.linalg.matrix_rank(B)))

# %% [markdown] slideshow={"slide_type": "subslide"}
# > **Pitfall.** *Common mistake:* "the dimension of the kernel of $A$ is the number of its
# > zero eigenvalues, so the rank is the number of non-zero eigenvalues." True for symmetric
# > (more generally diagonalisable) $A$, false in general: the nilpotent
# > $N=\begin{pmatrix}0&1\\0&0\end{pmatrix}$ has the eigenvalue $0$ twice, yet its kernel is
# > one-dimensional and its rank is 1. Counting non-zero **singular** values is always
# > right. *Check (next cell):* it asserts two zero eigenvalues, one non-zero singular value
# > and rank 1 for $N$. *(M §1.1, proof of Fact 1.)*

# %%
N = torch.tensor([[0.0, 1.0], [0.0, 0.0]])
print("eigenvalues of N      :", np.round(torch.linalg.eigvals(N).real.numpy(), 4))
print("singular values of N  :", np.round(torch.linalg.svdvals(N).numpy(), 4))
print("rank of N             :", int(torch.linalg.matrix_rank(N)))
assert torch.linalg.eigvals(N).abs().max() == 0 and int(torch.linalg.matrix_rank(N)) == 1
assert int((torch.linalg.svdvals(N) > 1e-12).sum()) == 1

# %% [markdown] slideshow={"slide_type": "subslide"}
# ### Computing $U$ and $V$ (M, Theorem 1)
#
# The full SVD is $A=U\Sigma V^\top$ with $U\in\mathbb R^{m\times m}$ and
# $V\in\mathbb R^{n\times n}$ orthogonal and $\Sigma\in\mathbb R^{m\times n}$ zero except
# $\Sigma_{ii}=\sigma_i$. A construction:
#
# 1. the columns $v_i$ of $V$ are orthonormal eigenvectors of $A^\top A$,
#    $A^\top A v_i=\sigma_i^2 v_i$, in descending order of $\sigma_i$;
# 2. for $\sigma_i>0$: $u_i=A v_i/\sigma_i$. These are orthonormal, since
#    $u_i^\top u_j=v_i^\top A^\top A v_j/(\sigma_i\sigma_j)=\delta_{ij}$;
# 3. the remaining $m-r$ columns of $U$ are *any* orthonormal basis of the complement.
#
# Here are the three steps in a few lines for a $5\times 3$ matrix ($r=3$, so step 3
# completes $U$ with two columns):

# %%
lam, V = torch.linalg.eigh(A.T @ A)
lam, V = lam.flip(0), V.flip(1)                     # descending order
sigma = lam.sqrt()
U_r = (A @ V) / sigma                               # u_i = A v_i / sigma_i (columns)
U_full = torch.linalg.qr(U_r, mode="complete")[0]   # orthonormal completion ...
U = torch.cat([U_r, U_full[:, 3:]], dim=1)          # ... keeping u_1..u_3 themselves

Sigma = torch.zeros(5, 3)
Sigma[:3, :3] = torch.diag(sigma)
print("U orthogonal      :", bool(torch.allclose(U.T @ U, torch.eye(5), atol=1e-12)))
print("U Sigma V^T == A  :", bool(torch.allclose(U @ Sigma @ V.T, A, atol=1e-12)))

# %% [markdown] slideshow={"slide_type": "subslide"}
# Now compare with the library. The singular values agree, but the vectors may not:
# $(u_i,v_i)$ and $(-u_i,-v_i)$ give the same $A$, so each pair is only defined up to a
# sign (and for a repeated $\sigma_i$, up to a rotation inside its eigenspace; the columns
# of $U$ beyond $r$ are only defined up to a rotation of the complement). To compare two
# SVDs column by column we fix a convention: flip each pair so that the
# largest-magnitude entry of $v_i$ is positive (`cu.linalg.canonical_signs`).

# %%
U_np, s_np, Vh_np = np.linalg.svd(A.numpy())
U_np, Vh_np = torch.tensor(U_np), torch.tensor(Vh_np)
k = 3
same_raw = torch.allclose(V.T, Vh_np, atol=1e-10)
signs = torch.sign((V.T * Vh_np).sum(1))
print("raw V^T equal to numpy's Vh     :", same_raw)
print("sign of v_i . v_i(numpy)        :", signs.int().tolist())

U1, Vh1 = L.canonical_signs(U, V.T, k=k)
U2, Vh2 = L.canonical_signs(U_np, Vh_np, k=k)
print("after canonical_signs, V equal  :", bool(torch.allclose(Vh1, Vh2, atol=1e-10)))
print("after canonical_signs, U[:, :3] :", bool(torch.allclose(U1[:, :k], U2[:, :k], atol=1e-10)))
print("U[:, 3:] spans the same space   :",
      bool(torch.allclose(U1[:, k:] @ U1[:, k:].T, U2[:, k:] @ U2[:, k:].T, atol=1e-10)))

# %% [markdown] slideshow={"slide_type": "subslide"}
# `cu.linalg.svd_via_eig` packages these steps (with a rank tolerance and the sign
# convention) for later notebooks. It is a teaching construction, not how libraries compute
# the SVD, because forming $A^\top A$ **squares the condition number**: its round-off is
# about $\varepsilon\sigma_1^2$, so any $\sigma_i\lesssim\sqrt\varepsilon\,\sigma_1\approx
# 10^{-8}\sigma_1$ is lost. Libraries work on $A$ directly (Golub–Kahan bidiagonalisation).

# %%
Q1 = torch.linalg.qr(torch.randn(4, 4, generator=g))[0]
Q2 = torch.linalg.qr(torch.randn(4, 4, generator=g))[0]
true_sigma = torch.tensor([1.0, 1e-3, 1e-6, 1e-10])
C = Q1 @ torch.diag(true_sigma) @ Q2.T
S_eig, S_svd = L.svd_via_eig(C)[1], torch.linalg.svdvals(C)
print("true            :", [f"{s:.1e}" for s in true_sigma.tolist()])
print("svd_via_eig     :", [f"{s:.1e}" for s in S_eig.tolist()])
print("torch.linalg.svd:", [f"{s:.1e}" for s in S_svd.tolist()])
rel = lambda S: ((S - true_sigma).abs() / true_sigma)
print("within 1% of the truth:  via A^T A", (rel(S_eig) < 1e-2).tolist(),
      "| library", (rel(S_svd) < 1e-2).tolist())

# %% [markdown] slideshow={"slide_type": "slide"}
# ## 2. Geometry: rotate, stretch, rotate
#
# Read $Ax=U\Sigma V^\top x$ right to left: $V^\top$ rotates (or reflects) the input so that
# $v_i$ lands on the axis $e_i$; $\Sigma$ stretches axis $i$ by $\sigma_i$; $U$ rotates the
# result so that $e_i$ lands on $u_i$. So $A$ maps the unit circle to an **ellipse with
# semi-axes $\sigma_1u_1$ and $\sigma_2u_2$**, and $Av_i=\sigma_iu_i$. The colours below
# follow individual points of the circle through the three steps.

# %%
A2 = torch.tensor([[1.5, 1.0], [-0.5, 1.0]])
U2_, s2, Vh2_ = torch.linalg.svd(A2)
U2_, Vh2_ = L.canonical_signs(U2_, Vh2_)
theta = torch.linspace(0, 2 * torch.pi, 401)[:-1]
circle = torch.stack([theta.cos(), theta.sin()], 1)          # (400, 2), batch first
stages = [
    (circle, Vh2_.T, r"unit circle, $v_1$, $v_2$"),
    (circle @ Vh2_.T * s2, torch.diag(s2), r"$\Sigma V^\top x$: axes stretched by $\sigma_i$"),
    (circle @ A2.T, U2_ * s2, r"$Ax=U\Sigma V^\top x$: axes $\sigma_i u_i$"),
]
fig, axes = plt.subplots(1, 3, figsize=(12, 4))
for ax, (pts, arrows, title) in zip(axes, stages, strict=True):
    ax.scatter(pts[:, 0], pts[:, 1], c=theta, cmap="hsv", s=4)
    for j, color in enumerate(["black", "tab:gray"]):
        ax.arrow(0, 0, float(arrows[0, j]), float(arrows[1, j]), color=color,
                 width=0.02, length_includes_head=True)
    ax.set(xlim=(-2.2, 2.2), ylim=(-2.2, 2.2), aspect="equal", title=title,
           xlabel="$x^{(1)}$ (arbitrary units)", ylabel="$x^{(2)}$")
plt.tight_layout()
plt.show()
print("sigma =", np.round(s2.numpy(), 4))
print("A v_i == sigma_i u_i:", bool(torch.allclose(A2 @ Vh2_.T, U2_ * s2, atol=1e-12)))

# %% [markdown] slideshow={"slide_type": "subslide"}
# ### $|\det A|=\prod_i\sigma_i$: the volume factor
#
# $\det U,\det V=\pm1$, so $|\det A|=|\det U|\,|\det\Sigma|\,|\det V^\top|=\prod_i\sigma_i$
# for square $A$. In two dimensions: the ellipse has area $\pi\sigma_1\sigma_2=\pi|\det A|$.
# This is the factor $|\det J|$ of the change-of-variables formula in
# `03_change_of_variables`, and in `08_volume_metrics` the same picture is applied to the
# Jacobian of a trained flow: a small ball around a data point is mapped to an ellipsoid
# with semi-axes $\sigma_i(J)$.

# %%
D = torch.randn(6, 6, generator=g)
print(f"|det D|         = {abs(torch.linalg.det(D).item()):.6f}")
print(f"prod sigma_i(D) = {torch.linalg.svdvals(D).prod().item():.6f}")

def polygon_area(p):
    # shoelace formula for a closed polygon p: (k, 2)
    return 0.5 * abs(float((p[:, 0] * p[:, 1].roll(-1) - p[:, 1] * p[:, 0].roll(-1)).sum()))

ellipse = circle @ A2.T
print(f"area of the mapped circle (400-gon) = {polygon_area(ellipse):.4f}")
print(f"pi * sigma_1 * sigma_2              = {torch.pi * s2.prod().item():.4f}")
print(f"pi * |det A|                        = {torch.pi * abs(torch.linalg.det(A2).item()):.4f}")

# %% [markdown] slideshow={"slide_type": "slide"}
# ## 3. Low-rank approximation (Eckart–Young)
#
# Write the SVD as a sum of rank-one pieces, $A=\sum_i\sigma_iu_iv_i^\top$, and keep the
# first $k$: $A_k=\sum_{i\le k}\sigma_iu_iv_i^\top$. **Eckart–Young:** no matrix of rank
# $\le k$ is closer to $A$, in Frobenius or spectral norm, and
#
# $$\|A-A_k\|_F^2=\sum_{i>k}\sigma_i^2,\qquad \|A-A_k\|_2=\sigma_{k+1}.$$
#
# Storing $A_k$ takes $k(m+n+1)$ numbers instead of $mn$. We try it on a $96\times 96$
# grey-scale "image" made in code: a disc, a band of tilted stripes, a bright square and a
# thin ridge along a diagonal.

# %%
y_, x_ = torch.meshgrid(torch.linspace(-1, 1, 96), torch.linspace(-1, 1, 96), indexing="ij")
img = ((x_ + 0.3) ** 2 + (y_ - 0.2) ** 2 < 0.25).double()               # disc
img = img + 0.5 * torch.sin(12 * (x_ + 0.5 * y_)) * (y_ < -0.3)           # stripes
img = img + 0.8 * ((x_ - 0.55).abs() < 0.2) * ((y_ + 0.55).abs() < 0.2)  # square
img = img + 0.7 * torch.exp(-((x_ + y_) ** 2) / 0.01)                    # thin diagonal ridge

def best_rank_k_inline(A, k):  # A_k = sum_{i<=k} sigma_i u_i v_i^T
    U, S, Vh = torch.linalg.svd(A, full_matrices=False)
    return (U[:, :k] * S[:k]) @ Vh[:k]


print("inline truncation == cu.linalg.best_rank_k for k = 1, 5, 20:",
      all(torch.allclose(best_rank_k_inline(img, k), L.best_rank_k(img, k), atol=1e-12) for k in (1, 5, 20)))
s_img = torch.linalg.svdvals(img)
ranks = torch.arange(0, 61)
err2 = torch.stack([((img - L.best_rank_k(img, int(k))) ** 2).sum() for k in ranks])
tail2 = torch.stack([(s_img[int(k):] ** 2).sum() for k in ranks])
print("||A - A_k||_F^2 == sum_{i>k} sigma_i^2 for k = 0..60:",
      bool(torch.allclose(err2, tail2, rtol=1e-9, atol=1e-10)))
for k in (1, 5, 20):
    rel = (err2[k] / err2[0]).sqrt().item()
    print(f"k = {k:2d}: relative Frobenius error {rel:.4f}, storage {k * (96 + 96 + 1) / 96**2:.3f} of full")

# %%
fig, axes = plt.subplots(1, 5, figsize=(16, 3.4))
for ax, k in zip(axes[:4], (1, 5, 20, 96), strict=True):
    ax.imshow(L.best_rank_k(img, k), cmap="gray", vmin=-0.5, vmax=2.0)
    ax.set(title=f"rank {k}" + (" (original)" if k == 96 else ""), xlabel="pixel column",
           ylabel="pixel row")
    ax.grid(False)
axes[4].semilogy(ranks[:-1], (err2[:-1] / err2[0]).sqrt(), label="measured")
axes[4].semilogy(ranks[:-1], (tail2[:-1] / tail2[0]).sqrt(), "--", label=r"$\sqrt{\sum_{i>k}\sigma_i^2}$")
axes[4].set(title="error versus rank", xlabel="rank k", ylabel=r"$\|A-A_k\|_F / \|A\|_F$")
axes[4].legend()
plt.tight_layout()
plt.show()

# %% [markdown] slideshow={"slide_type": "subslide"}
# The square is a rank-one block and the stripes are rank two
# ($\sin(a+b)=\sin a\cos b+\cos a\sin b$), so they appear after a few terms; the disc
# needs about as many terms as it has distinct rows; the thin diagonal ridge is the
# expensive part (a diagonal line is the identity matrix in disguise: full rank). The
# error curve is exactly the tail sum of $\sigma_i^2$: that is a property of the SVD, not
# of this image.

# %% [markdown] slideshow={"slide_type": "slide"}
# ## 4. The spiked Wigner model: a signal hidden in noise *(optional)*
#
# M §1.1.3 plants a rank-one signal $x x^\top$ in a symmetric noise matrix and asks whether
# the SVD can recover $x$. We use the standard normalisation
#
# $$Y=\frac{\lambda}{n}\,x x^\top+\frac{1}{\sqrt n}\,W,\qquad x\in\{\pm1\}^n\ (\|x\|^2=n),$$
#
# with $W$ from the Gaussian orthogonal ensemble (GOE): symmetric, off-diagonal entries
# $\mathcal N(0,1)$, diagonal entries $\mathcal N(0,2)$. The signal part has one eigenvalue
# $\lambda$ (eigenvector $x/\sqrt n$); the eigenvalues of the noise part fill
# $[-2,2]$ with Wigner's semicircle density $\sqrt{4-t^2}/(2\pi)$.
#
# M's argument looks at $\mathbb E[A^\top A]$, where the noise averages out and $x$ is
# always an eigenvector. First a check of that expectation.

# %%
n_small, trials = 6, 20000
G = torch.randn(trials, n_small, n_small, generator=g)
W = (G + G.transpose(1, 2)) / 2**0.5                     # GOE: var 1 off-diagonal, 2 on it
EWtW = (W.transpose(1, 2) @ W).mean(0)
print("off-diagonal variance of W:", f"{W[:, 0, 1].var().item():.2f}",
      "| diagonal variance:", f"{W[:, 0, 0].var().item():.2f}")
print("diagonal of E[W^T W] (Monte Carlo):", np.round(EWtW.diagonal().numpy(), 1))
print("largest off-diagonal |entry|      :", f"{(EWtW - torch.diag(EWtW.diagonal())).abs().max().item():.1f}")
xs_ = torch.tensor([1.0, -1.0, 1.0, 1.0, -1.0, 1.0])                 # a +-1 signal, |x|^2 = 6
xxT = torch.outer(xs_, xs_)
print("x x^T x x^T == |x|^2 x x^T:", bool(torch.equal(xxT @ xxT, (xs_ @ xs_) * xxT)),
      "| eigenvalue along x:", f"{(xs_ @ xxT @ xxT @ xs_ / (xs_ @ xs_)).item():.1f}", "= |x|^4 =", f"{(xs_ @ xs_).item() ** 2:.1f}")
assert (EWtW.diagonal() - (n_small + 1)).abs().max() < 0.3  # E[(W^T W)_ii] = 2 + (n - 1) = n + 1

# %% [markdown] slideshow={"slide_type": "subslide"}
# > **Pitfall.** *Common mistake:* "in expectation the noise averages out,
# > $\mathbb E[Y^\top Y]=\lambda^2\|x\|^2xx^\top+\sigma^2 I$ has $x$ as its top eigenvector,
# > so the top eigenvector of $Y$ finds the signal." Two things go wrong. First, $\sigma^2$
# > is not a fixed constant: for the GOE, $(W^\top W)_{ii}=\sum_k W_{ik}^2$ has expectation
# > $2+(n-1)=n+1$, which grows with $n$ (7 for $n=6$; asserted above), while the signal term
# > depends on how $x$ is scaled, so whether the signal is visible is a competition of
# > scales. Second, with **one** noisy observation, which is all one ever has, the
# > expectation is the wrong object: the question is whether the top eigenvector of a
# > single $Y$ points along $x$. The answer is the Baik–Ben Arous–Péché (BBP) transition:
# > with the normalisation above, as $n\to\infty$,
# >
# > $$\frac{(v_1^\top x)^2}{n}\ \to\ \begin{cases}0,&\lambda\le 1,\\[2pt] 1-\dfrac1{\lambda^2},&\lambda>1,\end{cases}
# > \qquad \lambda_{\max}(Y)\to\begin{cases}2,&\lambda\le1,\\ \lambda+\dfrac1\lambda,&\lambda>1.\end{cases}$$
# >
# > Below $\lambda=1$ the top eigenvector is (asymptotically) orthogonal to the signal, no
# > matter how many entries the matrix has, although $x$ is the top eigenvector of
# > $\mathbb E[Y^\top Y]$ for every $\lambda>0$. *Check (cells below):* at $n=400$ the
# > squared overlap stays below 0.05 for $\lambda\le0.5$ and matches $1-1/\lambda^2$ above the
# > threshold (asserted). *(M §1.1.3, which leaves $\sigma^2$ unspecified and mentions BBP
# > without stating it; eq. (1.14) has a misprint, see [ERRATA](../docs/ERRATA.md).)*

# %%
def spiked_wigner_inline(n, lam, generator):  # Y = (λ/n) x x^T + W / √n, x ∈ {±1}^n, W from the GOE
    x = torch.randint(0, 2, (n,), generator=generator).double() * 2 - 1
    G = torch.randn(n, n, generator=generator)
    return lam / n * torch.outer(x, x) + (G + G.T) / 2**0.5 / n**0.5, x


Y_in, x_in = spiked_wigner_inline(50, 1.5, torch.Generator().manual_seed(9))
Y_pk, x_pk = L.spiked_wigner(50, 1.5, generator=torch.Generator().manual_seed(9))
print("inline model == cu.linalg.spiked_wigner (same seed):", bool(torch.allclose(Y_in, Y_pk) and torch.equal(x_in, x_pk)))

n = 400
fig, axes = plt.subplots(1, 2, figsize=(11, 3.6), sharey=True)
t = torch.linspace(-2, 2, 200)
for ax, lam_ in zip(axes, (0.5, 2.0), strict=True):
    Y, x = L.spiked_wigner(n, lam_, generator=torch.Generator().manual_seed(1))
    ev = torch.linalg.eigvalsh(Y)
    ax.hist(ev.numpy(), bins=40, density=True, alpha=0.6, label="eigenvalues of Y")
    ax.plot(t, (4 - t**2).sqrt() / (2 * torch.pi), color="black", label="semicircle")
    ax.axvline(ev[-1].item(), color="tab:red", label=f"top eigenvalue {ev[-1].item():.2f}")
    if lam_ > 1:
        ax.axvline(lam_ + 1 / lam_, color="tab:red", ls="--", label=r"$\lambda+1/\lambda$")
    ax.set(title=f"spectrum of Y, n = {n}, $\\lambda$ = {lam_}", xlabel="eigenvalue",
           ylabel="density")
    ax.legend(loc="upper left", fontsize=8)
plt.tight_layout()
plt.show()

# %% [markdown] slideshow={"slide_type": "subslide"}
# Now the phase transition: the squared overlap $(v_1^\top x)^2/n$ between the top
# eigenvector of $Y$ and the planted signal, averaged over 30 draws, for three sizes,
# against the BBP prediction; the last row is the standard error of the mean for the largest
# $n$ (one draw scatters by about $0.1$ near $\lambda=1$, so a handful of draws cannot show
# a trend). (The top *singular* vector of the symmetric $Y$ is the
# eigenvector of largest $|\text{eigenvalue}|$; above the threshold it is the same vector.)

# %%
lams = torch.tensor([0.25, 0.5, 0.75, 1.0, 1.25, 1.5, 2.0, 3.0])
sizes, reps = (50, 150, 400), 30
overlap, stderr = torch.zeros(len(sizes), len(lams)), torch.zeros(len(sizes), len(lams))
gw = torch.Generator().manual_seed(2)
for a, n in enumerate(sizes):
    for b_, lam_ in enumerate(lams.tolist()):
        vals = []
        for _ in range(reps):
            Y, x = L.spiked_wigner(n, lam_, generator=gw)
            v1 = torch.linalg.eigh(Y)[1][:, -1]
            vals.append((v1 @ x) ** 2 / n)
        overlap[a, b_] = torch.stack(vals).mean()
        stderr[a, b_] = torch.stack(vals).std() / reps**0.5
    print(f"[{a + 1}/{len(sizes)}] n = {n}: {reps} draws x {len(lams)} values of lambda done", flush=True)

theory = (1 - 1 / lams**2).clamp(min=0)
print("lambda    " + " ".join(f"{v:6.2f}" for v in lams.tolist()))
print("theory    " + " ".join(f"{v:6.3f}" for v in theory.tolist()))
for a, n in enumerate(sizes):
    print(f"n = {n:4d}  " + " ".join(f"{v:6.3f}" for v in overlap[a].tolist()))
print("std. err. " + " ".join(f"{v:6.3f}" for v in stderr[-1].tolist()) + f"   (n = {sizes[-1]})")
assert (overlap[-1, lams >= 2] - theory[lams >= 2]).abs().max() < 0.05
near = lams == 1.25                                    # just above the threshold
assert (overlap[-1, near] - theory[near]).abs().item() < 3 * stderr[-1, near].item()
assert overlap[-1, lams <= 0.5].max() < 0.05

# %%
fig, ax = plt.subplots(figsize=(6, 4))
lt = torch.linspace(0, 3, 301)
ax.plot(lt, (1 - 1 / lt.clamp(min=1e-9) ** 2).clamp(min=0), color="black",
        label=r"BBP limit $\max(0,1-1/\lambda^2)$")
for a, n in enumerate(sizes):
    ax.plot(lams, overlap[a], "o-", label=f"n = {n}")
ax.axvline(1.0, color="gray", ls=":")
ax.set(title="Spiked Wigner: top eigenvector versus planted signal",
       xlabel=r"signal strength $\lambda$", ylabel=r"squared overlap $(v_1^\top x)^2/n$")
ax.legend()
plt.show()

# %% [markdown] slideshow={"slide_type": "subslide"}
# Below $\lambda=1$ the overlap shrinks as $n$ grows (it is of order $1/n$). Above it the
# averages for $n=400$ agree with $1-1/\lambda^2$ within a few standard errors (at
# $\lambda=1.25$: $0.349\pm0.021$ against $0.360$, asserted in the cell); at $n=50$ the
# curve is still visibly smoothed out around the threshold ($0.42$ at $\lambda=1.25$,
# $0.49$ at $\lambda=1.5$). Finite-size effects are largest at $\lambda=1$, where the
# overlap falls from $0.28$ ($n=50$) to $0.10$ ($n=400$): the transition sharpens with $n$,
# but slowly, which is why the table needs 30 draws per point to show it. The top
# eigenvalue tells you which side you are on: it leaves the bulk edge $2$ only when
# $\lambda>1$.

# %% [markdown] slideshow={"slide_type": "slide"}
# ## 5. Matrix calculus, checked with autograd
#
# Conventions (M §1.2). For a scalar $\phi(x)$, M writes $\partial\phi/\partial x$ as a
# **row** vector $(\nabla\phi)^\top$ ("numerator layout"); for a vector function $y(x)$,
# $\partial y/\partial x$ is the Jacobian, $n\times d$. For a scalar function of a matrix,
# M's eq. (1.19) arranges $\partial t/\partial M_{ij}$ in the **shape of $M$**. Autograd
# returns `x.grad` in the shape of `x`, i.e. $\nabla\phi$ as a column and
# $\partial t/\partial M$ in the shape of $M$; `torch.autograd.functional.jacobian` returns
# the $n\times d$ Jacobian. So row/column is just a transpose of a vector; for matrices
# everything is in the shape of $M$.
#
# | identity (M) | value | check |
# |---|---|---|
# | (1.20) $\partial(a^\top x)/\partial x$ | $a^\top$ | grad $=a$ |
# | (1.21) $\partial(x^\top M x)/\partial x$ | $x^\top(M+M^\top)$ | grad $=(M+M^\top)x$ |
# | (1.22) $\partial(a^\top M b)/\partial M$ | $a b^\top$ | grad $=ab^\top$ |
# | (1.23) $\partial(a^\top M^\top b)/\partial M$ | $b a^\top$ (M prints "$b a$") | grad $=ba^\top$ |
# | (1.25) $\partial(Mx)/\partial x$ | $M$ | Jacobian $=M$ |
# | (extra) $\partial\log|\det M|/\partial M$ | $M^{-\top}$ | grad $=M^{-\top}$ |

# %%
gm = torch.Generator().manual_seed(3)
d = 4
a, b_vec, x0 = (torch.randn(d, generator=gm) for _ in range(3))
M = torch.randn(d, d, generator=gm)

def grad(f, wrt):
    wrt = wrt.clone().requires_grad_(True)
    return torch.autograd.grad(f(wrt), wrt)[0]

checks = {
    "(1.20) d(a^T x)/dx = a^T": (grad(lambda x: a @ x, x0), a),
    "(1.21) d(x^T M x)/dx = x^T (M + M^T)": (grad(lambda x: x @ M @ x, x0), (M + M.T) @ x0),
    "(1.21') ... = 2 M x ? (only if M = M^T)": (grad(lambda x: x @ M @ x, x0), 2 * M @ x0),
    "(1.22) d(a^T M b)/dM = a b^T": (grad(lambda m: a @ m @ b_vec, M), torch.outer(a, b_vec)),
    "(1.23) d(a^T M^T b)/dM = b a^T": (grad(lambda m: a @ m.T @ b_vec, M), torch.outer(b_vec, a)),
    "(1.23') ... = a b^T ?": (grad(lambda m: a @ m.T @ b_vec, M), torch.outer(a, b_vec)),
    "(1.25) d(Mx)/dx = M": (torch.autograd.functional.jacobian(lambda x: M @ x, x0), M),
    "(extra) d log|det M|/dM = M^{-T}": (grad(lambda m: torch.linalg.slogdet(m)[1], M),
                                         torch.linalg.inv(M).T),
}
for name, (auto, formula) in checks.items():
    print(f"{name:42s} {'matches autograd' if torch.allclose(auto, formula, atol=1e-10) else 'WRONG'}")
wrong = {name for name, (auto, formula) in checks.items() if not torch.allclose(auto, formula, atol=1e-10)}
assert wrong == {"(1.21') ... = 2 M x ? (only if M = M^T)", "(1.23') ... = a b^T ?"}

# %% [markdown] slideshow={"slide_type": "subslide"}
# > **Pitfall.** *Common mistake:* "$\partial(a^\top M^\top b)/\partial M=ab^\top$, just as
# > $\partial(a^\top Mb)/\partial M=ab^\top$." Since $a^\top M^\top b=b^\top M a$, the rule (1.22)
# > with $a$ and $b$ swapped gives **$ba^\top$**, the transpose. *Check (cell above):* autograd
# > rejects $ab^\top$ and accepts $ba^\top$; the cell asserts that exactly the two entries
# > marked "?" are wrong. The transpose bugs come from mixing layouts: M's vector
# > derivatives are rows (numerator layout) while (1.19) lays out a matrix derivative in the
# > shape of $M$ (denominator layout). The rule that never fails: write the scalar with
# > indices, differentiate one entry, reassemble, then check with autograd. *(M §1.2,
# > eq. (1.23), which prints "$b\,a$": see [ERRATA](../docs/ERRATA.md).)*

# %% [markdown] slideshow={"slide_type": "subslide"}
# ### Problem 1 (M): back-propagation through a two-layer network
#
# $$\mathcal L=(y-\hat y)^2,\qquad \hat y=\frac1N\sum_{i=1}^N a_i\,\sigma(z_i),\qquad z_i=w_i^\top x+b_i .$$
#
# Chain rule, one factor per arrow $w_i\to z_i\to\hat y\to\mathcal L$:
# $\partial\mathcal L/\partial\hat y=-2(y-\hat y)$,
# $\partial\hat y/\partial z_i=a_i\sigma'(z_i)/N$, $\partial z_i/\partial w_i=x^\top$. So
#
# $$\frac{\partial\mathcal L}{\partial w_i}=-\frac{2}{N}\,(y-\hat y)\,a_i\,\sigma'(z_i)\,x^\top,\qquad
# \frac{\partial\mathcal L}{\partial b_i}=-\frac{2}{N}(y-\hat y)a_i\sigma'(z_i),\qquad
# \frac{\partial\mathcal L}{\partial a_i}=-\frac{2}{N}(y-\hat y)\sigma(z_i).$$
#
# Stacking the $w_i^\top$ as rows of $W\in\mathbb R^{N\times d}$:
# $\nabla_W\mathcal L=\delta\,x^\top$ with $\delta_i=-\tfrac2N(y-\hat y)a_i\sigma'(z_i)$, an
# outer product: this is what `backward()` computes for every linear layer. (M's §5.3
# writes $\partial\,\mathrm{Linear}(x)/\partial W_{ij}=x_j$; in full it is
# $\partial z_k/\partial W_{ij}=\delta_{ki}x_j$: only output $i$ depends on row $i$ of $W$.)

# %%
gp = torch.Generator().manual_seed(4)
N, d = 8, 3
W = torch.randn(N, d, generator=gp)
bias = torch.randn(N, generator=gp)
a_out = torch.randn(N, generator=gp)
x_in = torch.randn(d, generator=gp)
y_obs = torch.tensor(0.7)
act, dact = torch.tanh, lambda z: 1 - torch.tanh(z) ** 2   # sigma and sigma'

# by hand
z = W @ x_in + bias
y_hat = (a_out * act(z)).mean()
delta = -2 / N * (y_obs - y_hat) * a_out * dact(z)
grads_hand = {"W": torch.outer(delta, x_in), "b": delta,
              "a": -2 / N * (y_obs - y_hat) * act(z)}

# autograd
params = {"W": W.clone().requires_grad_(), "b": bias.clone().requires_grad_(),
          "a": a_out.clone().requires_grad_()}
loss = (y_obs - (params["a"] * act(params["W"] @ x_in + params["b"])).mean()) ** 2
loss.backward()
for name in params:
    err = (params[name].grad - grads_hand[name]).abs().max().item()
    print(f"dL/d{name}: hand-derived == autograd: {err < 1e-12}")

# %% [markdown] slideshow={"slide_type": "slide"}
# ## 6. Sherman–Morrison and Woodbury: updating an inverse
#
# If $A^{-1}$ is known and $A$ changes by a rank-one term, the new inverse is a rank-one
# change of the old one (**Sherman–Morrison**), and likewise for rank $k$ (**Woodbury**):
#
# $$(A+uv^\top)^{-1}=A^{-1}-\frac{A^{-1}u\,v^\top A^{-1}}{1+v^\top A^{-1}u},\qquad
# (A+UCV)^{-1}=A^{-1}-A^{-1}U\,(C^{-1}+VA^{-1}U)^{-1}\,VA^{-1}.$$
#
# Costs: $O(n^2)$ and $O(n^2k+k^3)$ instead of $O(n^3)$ for a fresh inverse. Both need
# the update to keep the matrix invertible ($1+v^\top A^{-1}u\ne0$). Let us check the signs.

# %%
gs = torch.Generator().manual_seed(5)
n = 6
A6 = torch.randn(n, n, generator=gs) + n * torch.eye(n)
u, v = torch.randn(n, generator=gs), torch.randn(n, generator=gs)
A6_inv = torch.linalg.inv(A6)
fresh = torch.linalg.inv(A6 + torch.outer(u, v))
denom = 1 + v @ A6_inv @ u
plus = A6_inv + torch.outer(A6_inv @ u, v @ A6_inv) / denom     # the tempting sign
minus = A6_inv - torch.outer(A6_inv @ u, v @ A6_inv) / denom
print(f"Sherman-Morrison with '+': max error {(plus - fresh).abs().max().item():.3f}")
print(f"Sherman-Morrison with '-': max error < 1e-12: {(minus - fresh).abs().max().item() < 1e-12}")
print("cu.linalg.sherman_morrison agrees:", bool(torch.allclose(L.sherman_morrison(A6_inv, u, v), fresh, atol=1e-12)))
a1, c1 = 2.0, 0.5  # n = 1: 1/(a + c) = 1/a - (c/a²)/(1 + c/a)
print(f"n = 1: 1/(a+c) = {1 / (a1 + c1):.4f}, '-' gives {1 / a1 - (c1 / a1**2) / (1 + c1 / a1):.4f},"
      f" '+' gives {1 / a1 + (c1 / a1**2) / (1 + c1 / a1):.4f}")
assert (plus - fresh).abs().max() > 1e-2 and (minus - fresh).abs().max() < 1e-12

k = 3
U6, V6 = torch.randn(n, k, generator=gs), torch.randn(k, n, generator=gs)
C6 = torch.eye(k) + 0.1 * torch.randn(k, k, generator=gs)
fresh_k = torch.linalg.inv(A6 + U6 @ C6 @ V6)
core = torch.linalg.inv(torch.linalg.inv(C6) + V6 @ A6_inv @ U6)
wood_plus = A6_inv + A6_inv @ U6 @ core @ V6 @ A6_inv                # the tempting sign
wood_minus = A6_inv - A6_inv @ U6 @ core @ V6 @ A6_inv
print(f"Woodbury with '+'       : max error {(wood_plus - fresh_k).abs().max().item():.3f}")
print(f"Woodbury with '-'       : max error < 1e-12: {(wood_minus - fresh_k).abs().max().item() < 1e-12}")
print("cu.linalg.woodbury agrees:", bool(torch.allclose(L.woodbury(A6_inv, U6, C6, V6), fresh_k, atol=1e-12)))
assert (wood_plus - fresh_k).abs().max() > 1e-2 and (wood_minus - fresh_k).abs().max() < 1e-12

# %% [markdown] slideshow={"slide_type": "subslide"}
# > **Pitfall.** <a id="woodbury-sign"></a> *Common mistake:* a **plus** sign in front of
# > the correction, $(A+uv^\top)^{-1}=A^{-1}+\frac{A^{-1}uv^\top A^{-1}}{1+v^\top A^{-1}u}$ (and
# > likewise in Woodbury). Both identities have a **minus** sign. *Check (cell above):* the
# > plus versions are off by order one and the minus versions agree with a fresh inverse to
# > round-off (both asserted). A one-line sanity check that you can do in your head: for
# > $n=1$, $A=a$, $uv^\top=c$, the formula must give $\frac1{a+c}=\frac1a-\frac{c/a^2}{1+c/a}$
# > (printed: 0.4000 with the minus sign, 0.6000 with the plus). *(M §1.2.3, eqs. (1.29) and
# > (1.36) print the plus sign, while the note's own derivation ends with the minus in
# > eq. (1.35): see [ERRATA](../docs/ERRATA.md).)*

# %% [markdown] slideshow={"slide_type": "subslide"}
# **Where it is used.** A covariance "diagonal plus low rank", $\Sigma=D+BB^\top$ (a factor
# model, or a Gaussian with a few learned directions), has the precision matrix
# $\Sigma^{-1}=D^{-1}-D^{-1}B(I+B^\top D^{-1}B)^{-1}B^\top D^{-1}$ (Woodbury with $C=I$), and
# the *matrix determinant lemma* $\det(D+BB^\top)=\det D\,\det(I+B^\top D^{-1}B)$ gives its
# log-determinant, both from a $k\times k$ matrix. The problem set uses this.
#
# **Timing** *(optional)*. A Sherman–Morrison update is two matrix–vector products and an outer product,
# $O(n^2)$; a Woodbury update of rank $k$ costs $O(n^2k+k^3)$ (here $k=5$); a fresh inverse
# is $O(n^3)$ whatever the rank of the change. Measured (times vary between machines and
# runs, so this cell asserts only what must hold):

# %% tags=["nbval-ignore-output"]
ns, k = [100, 200, 400, 600], 5
t_inv, t_sm, t_wood = [], [], []
gt = torch.Generator().manual_seed(6)
for n in ns:
    An = torch.randn(n, n, generator=gt) + n**0.5 * torch.eye(n)
    An_inv = torch.linalg.inv(An)
    un, vn = torch.randn(n, generator=gt), torch.randn(n, generator=gt)
    Un, Vn, Ck = torch.randn(n, k, generator=gt), torch.randn(k, n, generator=gt), torch.eye(k)
    t_inv.append(L.best_time(lambda A_=An, u_=un, v_=vn: torch.linalg.inv(A_ + torch.outer(u_, v_))))
    t_sm.append(L.best_time(lambda P_=An_inv, u_=un, v_=vn: L.sherman_morrison(P_, u_, v_), repeat=5))
    t_wood.append(L.best_time(lambda P_=An_inv, U_=Un, V_=Vn: L.woodbury(P_, U_, Ck, V_), repeat=5))
    assert torch.allclose(L.sherman_morrison(An_inv, un, vn),
                          torch.linalg.inv(An + torch.outer(un, vn)), atol=1e-9)
    assert torch.allclose(L.woodbury(An_inv, Un, Ck, Vn), torch.linalg.inv(An + Un @ Ck @ Vn), atol=1e-9)
fig, ax = plt.subplots(figsize=(5.5, 4))
_, slope_inv = cu.plotting.loglog(ns, t_inv, ax=ax, label="fresh inverse")
_, slope_sm = cu.plotting.loglog(ns, t_sm, ax=ax, label="Sherman-Morrison update (rank 1)")
_, slope_wood = cu.plotting.loglog(ns, t_wood, ax=ax, label=f"Woodbury update (rank {k})")
ax.set(title="Inverse after a low-rank change", xlabel="n", ylabel="time (s)")
plt.show()
for n, ti, ts, tw in zip(ns, t_inv, t_sm, t_wood, strict=True):
    print(f"n = {n:4d}: fresh inverse {1e3 * ti:8.3f} ms | Sherman-Morrison {1e3 * ts:7.3f} ms, ratio {ti / ts:6.1f}"
          f" | Woodbury {1e3 * tw:7.3f} ms, ratio {ti / tw:6.1f}")
print(f"slopes: fresh inverse {slope_inv:.2f} (theory 3), Sherman-Morrison {slope_sm:.2f} (theory 2), "
      f"Woodbury {slope_wood:.2f} (theory 2 for fixed k)")
assert t_sm[-1] < t_inv[-1] and t_wood[-1] < t_inv[-1]
assert slope_sm < slope_inv

# %% [markdown] slideshow={"slide_type": "slide"}
# ## 7. Least squares with $n>p$ and $p>n$
#
# Fit $y\approx X\beta$ with $X\in\mathbb R^{n\times p}$ ($n$ observations, $p$ parameters).
# Minimising $\|y-X\beta\|^2$ gives the **normal equations** $X^\top X\beta=X^\top y$.
#
# * They **always have a solution**: $X^\top y$ lies in the range of $X^\top$, which equals
#   the range of $X^\top X$. The solution is **unique iff $\operatorname{rank}X=p$**, which
#   needs $n\ge p$; then $\hat\beta=(X^\top X)^{-1}X^\top y$.
# * If $\operatorname{rank}X<p$ (always when $p>n$) there is a whole affine space of
#   minimisers, $\hat\beta+\ker X$. The one of **minimum norm** is given by the
#   pseudo-inverse, computed from the SVD $X=U\Sigma V^\top$ (thin):
#
# $$\beta^+=X^+y=V\,\Sigma^+\,U^\top y,\qquad \Sigma^+=\operatorname{diag}(1/\sigma_i\text{ for }\sigma_i>0,\ 0\text{ otherwise}),$$
#
# which for full row rank ($p>n$) equals $X^\top(XX^\top)^{-1}y$ and fits the data exactly.
# (`01_mle` derives the same estimators from a likelihood; here we look at them through the SVD.)

# %%
def min_norm_inline(X, y, rtol=1e-12):  # β+ = V Σ^+ U^T y from the thin SVD
    U, S, Vh = torch.linalg.svd(X, full_matrices=False)
    s_inv = torch.where(S > rtol * S[0], 1 / S, torch.zeros_like(S))
    return Vh.T @ (s_inv * (U.T @ y))


gl = torch.Generator().manual_seed(7)
# n > p: unique solution
X, y = torch.randn(30, 4, generator=gl), torch.randn(30, generator=gl)
beta_ne = torch.linalg.solve(X.T @ X, X.T @ y)
print("n > p: normal equations == SVD solution:", bool(torch.allclose(beta_ne, min_norm_inline(X, y), atol=1e-12)),
      "| == cu.linalg.min_norm_lstsq:", bool(torch.allclose(min_norm_inline(X, y), L.min_norm_lstsq(X, y), atol=1e-12)))

# n > p but rank-deficient: normal equations singular, still consistent
Xd = torch.randn(30, 2, generator=gl) @ torch.randn(2, 4, generator=gl)
beta_d = L.min_norm_lstsq(Xd, y)
print("rank-deficient: rank(X^T X) =", int(torch.linalg.matrix_rank(Xd.T @ Xd)),
      "| normal equations satisfied:", bool(torch.allclose(Xd.T @ Xd @ beta_d, Xd.T @ y, atol=1e-10)))

# p > n: interpolation, infinitely many solutions
Xw, yw = torch.randn(5, 12, generator=gl), torch.randn(5, generator=gl)
beta_mn = L.min_norm_lstsq(Xw, yw)
null = torch.tensor(scipy.linalg.null_space(Xw.numpy()))         # (12, 7) basis of ker X
other = beta_mn + null @ torch.randn(null.shape[1], generator=gl)
print("p > n: X beta+ == y:", bool(torch.allclose(Xw @ beta_mn, yw, atol=1e-12)),
      "| another solution fits too:", bool(torch.allclose(Xw @ other, yw, atol=1e-12)))
print(f"       norms: beta+ {beta_mn.norm().item():.4f} < other {other.norm().item():.4f}")
print("       X^T (X X^T)^{-1} y == beta+:", bool(torch.allclose(Xw.T @ torch.linalg.solve(Xw @ Xw.T, yw), beta_mn, atol=1e-12)))
print("       numpy pinv == beta+        :", bool(np.allclose(np.linalg.pinv(Xw.numpy()) @ yw.numpy(), beta_mn.numpy(), atol=1e-12)))
for eps in (1e-1, 1e-2, 1e-3, 1e-4):
    ridge = torch.linalg.solve(Xw.T @ Xw + eps * torch.eye(12), Xw.T @ yw)
    print(f"       ridge eps = {eps:.0e}: |ridge - beta+| = {(ridge - beta_mn).norm().item():.1e}")

# %% [markdown] slideshow={"slide_type": "subslide"}
# The ridge estimator $(X^\top X+\epsilon I)^{-1}X^\top y$ tends to $\beta^+$ as $\epsilon\to0$.
# Applying Woodbury to it ("twice", as M says) is the *push-through identity*
# $(X^\top X+\epsilon I)^{-1}X^\top=X^\top(XX^\top+\epsilon I)^{-1}$, whose right side has a
# limit when $XX^\top$ is invertible, i.e. when $p>n$ with full row rank.
#
# **With a noise covariance.** If the noise has covariance $\Sigma$, maximum likelihood
# weights the residuals by $\Sigma^{-1}$ (generalised least squares). When that estimator
# exists ($n\ge p$, rank $p$), why the noise covariance drops out of the minimum-norm
# solution when $p>n$, and the tempting formula that does not type-check are all taught in
# `01_mle`, section 5 ([the Pitfall on the minimum-norm solution](01_mle.ipynb#min-norm-sigma)).
# Through the SVD the point is one line: GLS is least squares after whitening by
# $\Sigma^{-1/2}$, and for $p>n$ every whitened interpolant is still an interpolant, so the
# pseudo-inverse returns $\beta^+$ whatever $\Sigma$ is; for $n>p$ the weights change the fit.

# %%
Sig = torch.diag(torch.rand(5, generator=gl) + 0.5)        # n x n noise covariance
# GLS = OLS after whitening with Sigma^{-1/2}; the minimum-norm version uses the pseudo-inverse
whiten = lambda S_: torch.diag(S_.diagonal().rsqrt())             # Sigma^{-1/2} of a diagonal Sigma
gls = lambda X_, y_, S_: torch.linalg.pinv(whiten(S_) @ X_) @ (whiten(S_) @ y_)
same = torch.allclose(gls(Xw, yw, Sig), beta_mn, atol=1e-12)
assert same
print("p > n: min-norm GLS pinv(Sigma^-1/2 X) Sigma^-1/2 y == beta+ (no Sigma):", same)
Sig30 = torch.diag(torch.rand(30, generator=gl) + 0.5)         # n > p: Sigma matters
gap = (gls(X, y, Sig30) - L.min_norm_lstsq(X, y)).norm().item()
assert gap > 1e-2
print(f"n > p: |GLS - OLS| = {gap:.3f} (the weights change the fit)")

# %% [markdown] slideshow={"slide_type": "slide"}
# ## 8. What linear algebra costs *(optional)*
#
# Dense $n\times n$ matrix multiplication, solving $Ax=b$ (LU: $\tfrac23n^3$ flops), the
# determinant (same LU, product of the pivots) and the SVD ($O(n^3)$, with a larger
# constant; $O(mn^2)$ for $m\times n$, $m\ge n$) all cost **$O(n^3)$** with the algorithms
# that libraries actually run. Measured here on small sizes with one thread, the slopes
# are rough: fixed per-call overheads pull them below 3, while the step out of the CPU
# caches (a $256\times256$ float64 matrix is already 0.5 MB) and a busy machine push them
# above. With $n$ up to 1024, `benchmarks/linalg.py` measured 3.05 (matmul), 3.04 (solve),
# 2.90 (det) and 3.20 (SVD) on the course's 2-core test machine; try it on yours.

# %% tags=["nbval-ignore-output"]
ns = [128, 256, 384, 512]
gc = torch.Generator().manual_seed(8)
ops = {
    "matmul": lambda A_, B_, b_: A_ @ B_,
    "solve": lambda A_, B_, b_: torch.linalg.solve(A_, b_),
    "det": lambda A_, B_, b_: torch.linalg.det(A_),
    "svd": lambda A_, B_, b_: torch.linalg.svdvals(A_),
}
times = {name: [] for name in ops}
for n in ns:
    An, Bn, bn = torch.randn(n, n, generator=gc), torch.randn(n, n, generator=gc), torch.randn(n, generator=gc)
    for name, op in ops.items():
        times[name].append(L.best_time(lambda op=op, A_=An, B_=Bn, b_=bn: op(A_, B_, b_), repeat=2))
fig, ax = plt.subplots(figsize=(6, 4.2))
slopes = {name: cu.plotting.loglog(ns, t_, ax=ax, label=name)[1] for name, t_ in times.items()}
ax.set(title="Cost of dense linear algebra (1 thread)", xlabel="n", ylabel="time (s)")
plt.show()
print("op      " + "".join(f"{n:>10d}" for n in ns) + "   slope")
for name, t_ in times.items():
    print(f"{name:7s} " + "".join(f"{1e3 * v:8.2f}ms" for v in t_) + f"   {slopes[name]:.2f}")
for name, s in slopes.items():
    assert 1.3 < s < 4.5, (name, s)   # loose: a loaded machine distorts timings

# %% [markdown] slideshow={"slide_type": "subslide"}
# > **Pitfall.** *Common mistake:* "matrix multiplication and `numpy.linalg.solve` cost
# > $O(n^{2.6})$ (and `solve` inverts the matrix)." The libraries run the classical
# > $O(n^3)$ algorithms: Strassen's $O(n^{2.81})$ and the theoretical $O(n^{2.37})$ methods
# > are not what `numpy`/`torch` call, and `solve` does not form an inverse at all: it
# > factorises $A=PLU$ ($O(n^3)$) and does two triangular solves ($O(n^2)$). *Check:* the
# > measurement that separates an exponent of 2.6 from 3 needs larger $n$ and a quiet
# > machine, so this notebook does not assert it (its cell asserts only a loose range, which
# > both exponents would pass); the course's benchmark, `benchmarks/linalg.py` with $n$ up to
# > 1024, measured 3.05 for matmul and 3.04 for solve, against 2.6 claimed. The practical
# > rules: never form $A^{-1}$ to solve a system; a factorisation can be reused for many
# > right-hand sides at $O(n^2)$ each. *(M §1.3.1.)*

# %% [markdown] slideshow={"slide_type": "slide"}
# ## 9. Condition number: how many digits you lose
#
# The (2-norm) **condition number** of a matrix is the ratio of its extreme *singular* values,
#
# $$\kappa(A)=\frac{\sigma_{\max}(A)}{\sigma_{\min}(A)}=\|A\|_2\,\|A^{-1}\|_2\ \ge 1 .$$
#
# If $Ax=b$ and $A(x+\delta x)=b+\delta b$, then
# $\dfrac{\|\delta x\|}{\|x\|}\le\kappa(A)\dfrac{\|\delta b\|}{\|b\|}$, with equality for the worst
# $b$ and $\delta b$ (along $u_1$ and $u_n$). Since floating point perturbs $b$ by about
# $\varepsilon\approx10^{-16}$, a solve loses about $\log_{10}\kappa$ of its 16 digits.
#
# > **Pitfall.** *Common mistake:* "the condition number is the ratio of the extreme
# > eigenvalues, $\max\lambda_i/\min\lambda_i$." That is right for symmetric positive definite
# > matrices only (for normal matrices, with $|\lambda|$). For a general matrix the
# > eigenvalues say nothing about conditioning: $A=\begin{pmatrix}1&10^4\\0&1\end{pmatrix}$ has
# > both eigenvalues equal to 1 ("condition 1") but $\kappa\approx10^8$. *Check (next
# > cell):* a change of $b$ of relative size $10^{-10}$ changes $x$ by a relative $10^{-2}$,
# > an amplification equal to $\kappa$ (asserted within 1%), where the eigenvalue ratio
# > predicts none. Likewise $A^{-1}=U\,\mathrm{diag}(1/\lambda_i)U^\top$ needs $A$ symmetric;
# > with the SVD, $A^{-1}=V\,\Sigma^{-1}U^\top$ holds for every invertible $A$. *(M §1.3.2,
# > eqs. (1.45)–(1.46).)*

# %%
A_nn = torch.tensor([[1.0, 1e4], [0.0, 1.0]])
print("eigenvalues               :", np.round(torch.linalg.eigvals(A_nn).real.numpy(), 4))
print(f"eigenvalue ratio          : {1.0:.1f}")
print(f"kappa = s_max / s_min     : {L.condition_number(A_nn):.4e}")
print(f"numpy.linalg.cond         : {np.linalg.cond(A_nn.numpy()):.4e}")

Uc, sc, Vhc = torch.linalg.svd(A_nn)
b_c = Uc[:, 0]                   # worst case: b along u_1 ...
db = 1e-10 * Uc[:, 1]            # ... perturbed along u_n
x_c = torch.linalg.solve(A_nn, b_c)
dx = torch.linalg.solve(A_nn, b_c + db) - x_c
amplification = (dx.norm() / x_c.norm()) / (db.norm() / b_c.norm())
print(f"relative change of b {db.norm().item() / b_c.norm().item():.1e} -> of x {dx.norm().item() / x_c.norm().item():.2e}"
      f" (amplification {amplification.item():.2e} = kappa)")
eig_ratio = (torch.linalg.eigvals(A_nn).abs().max() / torch.linalg.eigvals(A_nn).abs().min()).item()
assert abs(eig_ratio - 1) < 1e-12 and abs(amplification.item() / L.condition_number(A_nn) - 1) < 0.01

# %% [markdown] slideshow={"slide_type": "subslide"}
# **Digits lost on a Hilbert system.** The Hilbert matrix $H_{ij}=1/(i+j-1)$ is symmetric
# positive definite and notoriously ill-conditioned. Solve $Hx=b$ with $b=H\mathbf 1$, so
# the exact answer is $x=\mathbf 1$, and count the correct digits. The errors depend on
# round-off details of the CPU and library, so the cell asserts the bound instead of
# storing the numbers.

# %% tags=["nbval-ignore-output"]
eps = torch.finfo(torch.float64).eps
rows = []
for n in range(2, 13):
    H = torch.tensor(scipy.linalg.hilbert(n))
    x_true = torch.ones(n)
    x_hat = torch.linalg.solve(H, H @ x_true)
    rel_err = ((x_hat - x_true).norm() / x_true.norm()).item()
    rows.append((n, L.condition_number(H), rel_err))
print(" n   kappa(H)   rel. error   digits lost (log10 kappa)   correct digits")
for n, kap, err in rows:
    print(f"{n:2d}  {kap:9.2e}   {err:9.2e}   {np.log10(kap):5.1f}                       {max(0.0, -np.log10(max(err, eps))):5.1f}")
for n, kap, err in rows:
    assert err <= 10 * n * eps * kap, (n, err, kap)    # the bound, with a safety factor
assert rows[-1][2] > 1e-6                              # n = 12: most digits are gone

fig, ax = plt.subplots(figsize=(5.5, 4))
kap = np.array([r[1] for r in rows])
ax.loglog(kap, [max(r[2], eps) for r in rows], "o-", label="measured relative error")
ax.loglog(kap, eps * kap, "--", label=r"$\varepsilon\,\kappa(H)$")
ax.set(title="Hilbert systems: error grows with $\\kappa$", xlabel=r"condition number $\kappa(H_n)$",
       ylabel=r"$\|\hat x - x\| / \|x\|$")
ax.legend()
plt.show()

# %% [markdown] slideshow={"slide_type": "subslide"}
# ### Why $\det A$ is a bad test for near-singularity
#
# $\det A=0$ iff $A$ is singular, so it is tempting to call $A$ "nearly singular" when
# $|\det A|$ is small. But $\det(cA)=c^n\det A$ while $\kappa(cA)=\kappa(A)$: the determinant
# measures **scale** (volume), the condition number measures **shape** (how flat the
# ellipse of section 2 is). In floating point $\det$ also under- and overflows long before
# anything is wrong; use `slogdet` when you need it (as flows do).

# %%
I100 = 0.1 * torch.eye(100)
print(f"0.1 * I (100 x 100): det = {torch.linalg.det(I100).item():.1e}, kappa = {L.condition_number(I100):.1f}  -> perfectly conditioned")
Dd = torch.diag(torch.tensor([1e8, 1e-8]))
print(f"diag(1e8, 1e-8)    : det = {torch.linalg.det(Dd).item():.1f}, kappa = {L.condition_number(Dd):.1e} -> numerically singular")
I400 = 0.1 * torch.eye(400)
print(f"0.1 * I (400 x 400): det = {torch.linalg.det(I400).item():.1f} (underflow), "
      f"slogdet = {torch.linalg.slogdet(I400)[1].item():.2f} = 400 ln 0.1")

# %% [markdown] slideshow={"slide_type": "slide"}
# ## Summary
#
# * The eigenvalues of $A^\top A$ are real and **$\ge0$** (it is positive *semi*-definite);
#   their square roots, in **descending** order, are the singular values. Rank = number of
#   non-zero singular values (not of non-zero eigenvalues of $A$).
# * $A=U\Sigma V^\top$: $V$ from the eigenvectors of $A^\top A$, $u_i=Av_i/\sigma_i$; pairs are
#   defined up to a joint sign flip, so compare SVDs after fixing a sign convention. Building
#   the SVD through $A^\top A$ squares the condition number.
# * Geometry: $A$ maps the unit sphere to an ellipsoid with semi-axes $\sigma_iu_i$;
#   $|\det A|=\prod\sigma_i$ is the volume factor of `03` and `08`.
# * Eckart–Young: truncating the SVD is the best rank-$k$ approximation, with
#   $\|A-A_k\|_F^2=\sum_{i>k}\sigma_i^2$.
# * Spiked Wigner: with $Y=\frac\lambda n xx^\top+W/\sqrt n$, the top eigenvector finds $x$ only
#   for $\lambda>1$, with squared overlap $1-1/\lambda^2$ (BBP).
# * Matrix calculus: check every identity with autograd; $\partial(a^\top M^\top b)/\partial M=ba^\top$.
# * Sherman–Morrison/Woodbury have a **minus** sign and turn $O(n^3)$ into $O(n^2)$
#   ($O(n^2k)$ for a rank-$k$ change).
# * Least squares: normal equations always solvable; unique iff rank $X=p$; otherwise the
#   pseudo-inverse gives the minimum-norm solution ($X^\top(XX^\top)^{-1}y$ for $p>n$).
# * Dense matmul/solve/det/SVD are $O(n^3)$; $\kappa=\sigma_{\max}/\sigma_{\min}$ predicts the
#   digits lost; $\det$ measures scale, not closeness to singularity.
#
# ## Check yourself
#
# 1. Why can an eigenvalue of $A^\top A$ never be negative, and when is one of them zero?
#
# <details><summary>Answer</summary>
#
# For an eigenvector $v$ of unit length, $\lambda=v^\top A^\top Av=\|Av\|^2\ge0$. It is zero exactly when $Av=0$, so $A^\top A$ has a zero eigenvalue iff $A$ has a non-trivial kernel, i.e. $\operatorname{rank}A<n$.
# </details>
#
# 2. `np.linalg.svd` and your own construction return $V$ with one column of opposite sign.
#    Is one of them wrong? What happens to $U$?
#
# <details><summary>Answer</summary>
#
# Neither is wrong: $(u_i,v_i)$ and $(-u_i,-v_i)$ give the same $A$. If $v_i$ flips, $u_i=Av_i/\sigma_i$ flips with it (for $\sigma_i>0$); compare SVDs after a sign convention such as `cu.linalg.canonical_signs`.
# </details>
#
# 3. A $3\times3$ matrix maps the unit ball to an ellipsoid with semi-axes 4, 1 and 0.01.
#    What are $|\det A|$, $\kappa(A)$ and the rank-1 approximation error in Frobenius norm?
#
# <details><summary>Answer</summary>
#
# $|\det A|=4\cdot1\cdot0.01=0.04$; $\kappa(A)=4/0.01=400$; $\|A-A_1\|_F=\sqrt{1^2+0.01^2}\approx1.00005$.
# </details>
#
# 4. In the spiked Wigner model with $n=10^6$ and $\lambda=0.9$, roughly what overlap do
#    you expect between the top eigenvector and $x$? And with $\lambda=1.1$?
#
# <details><summary>Answer</summary>
#
# $\lambda=0.9$ is below the threshold: the squared overlap $(v_1^\top x)^2/n$ tends to 0 (it is of order $1/n$). For $\lambda=1.1$ it is about $1-1/1.1^2\approx0.174$.
# </details>
#
# 5. Derive $\partial\,\mathrm{tr}(AM)/\partial M$ with indices, then check it with autograd.
#
# <details><summary>Answer</summary>
#
# $\mathrm{tr}(AM)=\sum_{i,j}A_{ij}M_{ji}$, so $\partial/\partial M_{kl}=A_{lk}$ and $\partial\,\mathrm{tr}(AM)/\partial M=A^\top$ (in the shape of $M$). Check: `torch.allclose(grad(lambda m: torch.trace(A @ m), M), A.T)` with the `grad` helper of section 5.
# </details>
#
# 6. Why does Sherman–Morrison fail when $1+v^\top A^{-1}u=0$? What does the updated matrix
#    look like then?
#
# <details><summary>Answer</summary>
#
# The denominator vanishes, and then $A+uv^\top$ is singular: $(A+uv^\top)A^{-1}u=u\,(1+v^\top A^{-1}u)=0$ with $A^{-1}u\ne0$, so there is no inverse to update.
# </details>
#
# 7. For $p>n$, why does adding a vector from $\ker X$ to $\beta^+$ keep the fit but increase
#    the norm?
#
# <details><summary>Answer</summary>
#
# For $w\in\ker X$, $X(\beta^++w)=X\beta^+=y$: the fit is unchanged. $\beta^+$ lies in the row space of $X$, which is orthogonal to $\ker X$, so $\|\beta^++w\|^2=\|\beta^+\|^2+\|w\|^2>\|\beta^+\|^2$ for $w\ne0$.
# </details>
#
# 8. A matrix has $\det A=10^{-30}$. Is a linear solve with it accurate? What would you
#    compute instead to decide?
#
# <details><summary>Answer</summary>
#
# The determinant cannot tell: $0.1\,I_{30}$ has $\det=10^{-30}$ and $\kappa=1$ (perfectly conditioned). Compute the singular values, i.e. $\kappa=\sigma_{\max}/\sigma_{\min}$: a solve loses about $\log_{10}\kappa$ of its 16 digits.
# </details>
#
# ## References
#
# * **M** — C. Miyamoto, *Machine Learning for Physicists: Recitation Notes* (NYU, 2026),
#   §1.1 (SVD), §1.2 (matrix calculus, Sherman–Morrison, Woodbury), §1.3 (numerical linear
#   algebra), §5.3 and Problem 1 (back-propagation). Corrected in Pitfall boxes above:
#   Definition 1, the proof of Fact 1, §1.1.3 ($\mathbb E[W^\top W]$), eq. (1.23), eqs. (1.29)
#   and (1.36), the exponents of §1.3.1 and the definition (1.45); eqs. (1.43)–(1.44) in
#   `01_mle`; misprints in [`docs/ERRATA.md`](../docs/ERRATA.md).
# * The other course notes (**R** — N. Ray, *Image Generation using Normalizing Flows and Flow
#   Matching*; **K** — P. Khungurn, *Flow Matching for Generative Modeling*; **G** — the 2026
#   set of technical notes on ML topics) use these results (Jacobian determinants,
#   log-det gradients) from `05_normalizing_flows` on, without deriving them.
# * C. Eckart, G. Young, *The approximation of one matrix by another of lower rank*,
#   Psychometrika 1 (1936).
# * J. Baik, G. Ben Arous, S. Péché, *Phase transition of the largest eigenvalue for
#   nonnull complex sample covariance matrices*, Ann. Probab. 33 (2005); D. Féral,
#   S. Péché, *The largest eigenvalue of rank one deformation of large Wigner matrices*,
#   Comm. Math. Phys. 272 (2007); F. Benaych-Georges, R. R. Nadakuditi, *The eigenvalues and
#   eigenvectors of finite, low rank perturbations of large random matrices*, Adv. Math.
#   227 (2011).
# * J. Sherman, W. J. Morrison, *Adjustment of an inverse matrix corresponding to a change
#   in one element of a given matrix*, Ann. Math. Stat. 21 (1950); M. A. Woodbury,
#   *Inverting modified matrices*, Memo. Rep. 42, Princeton (1950).
# * G. H. Golub, C. F. Van Loan, *Matrix Computations*, 4th ed. (2013); L. N. Trefethen,
#   D. Bau, *Numerical Linear Algebra* (1997), Lectures 4–5 (SVD), 11 (least squares), 12
#   (conditioning); N. J. Higham, *Accuracy and Stability of Numerical Algorithms*, 2nd ed.
#   (2002).
# * K. B. Petersen, M. S. Pedersen, *The Matrix Cookbook* (2012), for matrix-calculus
#   identities (denominator layout).
