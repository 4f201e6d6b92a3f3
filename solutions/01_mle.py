# %% [markdown]
# # 01 · Maximum likelihood — problem set (37 points)
#
# Seven questions on the lecture `notebooks/01_mle.ipynb`. For each question, write your
# code in the **answer cell** (replace the `raise NotImplementedError(...)` line; keep the
# function names and signatures), run it, then run the **check cell** below it: each check
# prints `[PASS]` or a `[FAIL]` line saying what was expected.
#
# * The check cells test your answer on the examples given here. Your notebook is graded by
#   hidden tests on *other* inputs, so make your functions correct in general, not just on
#   the examples. Points per test are stated with each question.
# * Use NumPy (and SciPy where it helps). Do **not** call `cu.mle`, which solves several of
#   these questions for you.
# * Functions return Python floats or NumPy arrays; they must not modify their inputs.
# * Run the notebook top to bottom before submitting (Kernel → Restart and run all); the
#   whole notebook runs in a few seconds.

# %%
import numpy as np
import torch
import matplotlib.pyplot as plt
import course_utils as cu

device = cu.setup(seed=0)

# %%
# Given: data and a helper used by the checks (do not edit)
import scipy.integrate
import scipy.optimize
import scipy.stats


def make_regression(n, p, seed, noise="hetero"):
    # A random linear-Gaussian problem: X (n, p), y (n,), Sigma (n, n) diagonal
    r = np.random.default_rng(seed)
    X = r.normal(size=(n, p))
    sd = r.uniform(0.3, 1.5, n) if noise == "hetero" else np.ones(n)
    y = X @ r.normal(size=p) + sd * r.normal(size=n)
    return X, y, np.diag(sd**2)


x_obs = np.array([2.1, -0.3, 1.7, 0.4, 3.2, 1.1, 0.9, 2.6])


# %% [markdown]
# ## Question 1 (4 points, routine, about 10 min): the Gaussian MLE
#
# Write `gaussian_mle(x)` returning the maximum-likelihood estimates `(mu_hat, var_hat)` of a
# 1-D Gaussian $\mathcal N(\mu,\sigma^2)$ from data `x` of shape `(N,)`, and
# `gaussian_avg_nll(x, mu, var)` returning the **average negative log-likelihood**
# $-\frac1N\ell(\mu,\sigma^2)$ in nats, *with* all constants
# ($\frac12\log(2\pi\sigma^2)+\frac{1}{2\sigma^2N}\sum_i(x_i-\mu)^2$).
#
# Tests (1 point each): $\hat\mu$ and $\hat\sigma^2$ on a hidden sample; the average NLL at
# hidden parameters; the NLL at your MLE is not larger than at nearby parameters.

# %% course={"question": "q1", "role": "answer"}
def gaussian_mle(x):
    ### BEGIN SOLUTION
    x = np.asarray(x, dtype=float)
    mu = x.mean()
    return float(mu), float(np.mean((x - mu) ** 2))
    ### END SOLUTION


def gaussian_avg_nll(x, mu, var):
    ### BEGIN SOLUTION
    x = np.asarray(x, dtype=float)
    return float(0.5 * np.log(2 * np.pi * var) + np.mean((x - mu) ** 2) / (2 * var))
    ### END SOLUTION


# %% course={"question": "q1", "role": "check"}
cu.checks.check_close("q1 mu_hat", lambda: gaussian_mle(x_obs)[0], np.mean(x_obs))
cu.checks.check_close("q1 var_hat", lambda: gaussian_mle(x_obs)[1], np.var(x_obs),
                      hint="the MLE divides by N, not N - 1")
_ = cu.checks.check_close("q1 average NLL", lambda: gaussian_avg_nll(x_obs, 1.0, 2.0),
                      -scipy.stats.norm(1.0, np.sqrt(2.0)).logpdf(x_obs).mean(),
                      hint="include the constant 0.5 log(2 pi var) and divide by N")


# %% [markdown]
# ## Question 2 (4 points, routine, about 10 min): the bias of the variance MLE
#
# (a) Write `unbiased_var(x)`, the unbiased sample variance $\frac{1}{N-1}\sum_i(x_i-\bar x)^2$,
# and `mle_var_bias(n, sigma2)`, the exact bias $\mathbb E[\hat\sigma^2]-\sigma^2$ of the MLE
# for a sample of size `n` from $\mathcal N(\mu,\sigma^2)$.
#
# (b) Write `simulate_mle_var_mean(n, sigma2, reps, seed)`: draw `reps` independent data sets
# of size `n` from $\mathcal N(0,\sigma^2)$ with `np.random.default_rng(seed)` and return the
# average of the MLE $\hat\sigma^2$ over the data sets (a Monte Carlo estimate of
# $\mathbb E[\hat\sigma^2]$). Vectorise: one call with `reps=200_000` must take well under a
# second.
#
# Tests (1 point each): `unbiased_var` and `mle_var_bias` on hidden inputs; the simulation
# is within 5 Monte Carlo standard errors of the exact mean for hidden `(n, sigma2)`; the
# same seed gives the same number.

# %% course={"question": "q2", "role": "answer"}
def unbiased_var(x):
    ### BEGIN SOLUTION
    x = np.asarray(x, dtype=float)
    return float(np.sum((x - x.mean()) ** 2) / (x.size - 1))
    ### END SOLUTION


def mle_var_bias(n, sigma2):
    ### BEGIN SOLUTION
    return -sigma2 / n
    ### END SOLUTION


def simulate_mle_var_mean(n, sigma2, reps, seed):
    ### BEGIN SOLUTION
    r = np.random.default_rng(seed)
    data = r.normal(0.0, np.sqrt(sigma2), size=(reps, n))
    return float(data.var(axis=1).mean())
    ### END SOLUTION


# %% course={"question": "q2", "role": "check"}
cu.checks.check_close("q2 unbiased variance", lambda: unbiased_var(x_obs), np.var(x_obs, ddof=1))
cu.checks.check_close("q2 exact bias", lambda: mle_var_bias(4, 2.0), -0.5,
                      hint="E[var_hat] = (N - 1)/N sigma^2")
# E[var_hat] = 1.5 for n = 4, sigma2 = 2; sd(var_hat) = sqrt(2 (n-1)) sigma2 / n = 1.22, so the
# Monte Carlo standard error with 100 000 data sets is 0.0039 and 5 of them are 0.02
_ = cu.checks.check_true("q2 simulation", lambda: abs(simulate_mle_var_mean(4, 2.0, 100_000, 0) - 1.5) < 0.02,
                     "the simulated mean of var_hat is within 0.02 of 1.5 (n=4, sigma2=2)")


# %% [markdown]
# ## Question 3 (4 points, routine, about 10 min): Bernoulli likelihood and cross-entropy
#
# Labels $y_i\in\{0,1\}$ with $P(y_i=1)=\pi_i$.
#
# * `bernoulli_mle(y)`: the MLE of a constant $\pi$ from labels `y` (shape `(N,)`).
# * `bce(pi, y)`: the average negative log-likelihood
#   $-\frac1N\sum_i[y_i\log\pi_i+(1-y_i)\log(1-\pi_i)]$ for probabilities `pi` (shape `(N,)`
#   or a scalar) — the binary cross-entropy.
# * `bce_logits(z, y)`: the same loss for logits `z`, with $\pi_i=1/(1+e^{-z_i})$. It must be
#   **numerically stable**: finite and accurate for logits like $\pm800$, where computing
#   $\pi$ first gives `log(0)`. Hint: $-\log\pi=\log(1+e^{-z})$ and
#   $-\log(1-\pi)=\log(1+e^{z})$; use `np.logaddexp(0, t)` $=\log(1+e^{t})$.
#
# Tests (1 point each): `bernoulli_mle`, `bce`, `bce_logits` on moderate logits, and
# `bce_logits` on extreme logits.

# %% course={"question": "q3", "role": "answer"}
def bernoulli_mle(y):
    ### BEGIN SOLUTION
    return float(np.mean(np.asarray(y, dtype=float)))
    ### END SOLUTION


def bce(pi, y):
    ### BEGIN SOLUTION
    pi, y = np.asarray(pi, dtype=float), np.asarray(y, dtype=float)
    return float(-np.mean(y * np.log(pi) + (1 - y) * np.log(1 - pi)))
    ### END SOLUTION


def bce_logits(z, y):
    ### BEGIN SOLUTION
    z, y = np.asarray(z, dtype=float), np.asarray(y, dtype=float)
    return float(np.mean(y * np.logaddexp(0, -z) + (1 - y) * np.logaddexp(0, z)))
    ### END SOLUTION


# %% course={"question": "q3", "role": "check"}
y_obs = np.array([1, 0, 0, 1, 1, 0, 1, 1, 1, 0])
z_obs = np.array([2.0, -1.0, 0.5, 3.0, -0.2, -2.5, 1.0, 0.0, 4.0, 1.5])
pi_obs = 1 / (1 + np.exp(-z_obs))
cu.checks.check_close("q3 Bernoulli MLE", lambda: bernoulli_mle(y_obs), 0.6)
cu.checks.check_close("q3 BCE", lambda: bce(pi_obs, y_obs),
                      -np.mean(scipy.stats.bernoulli(pi_obs).logpmf(y_obs)))
cu.checks.check_close("q3 BCE from logits", lambda: bce_logits(z_obs, y_obs),
                      -np.mean(scipy.stats.bernoulli(pi_obs).logpmf(y_obs)))
_ = cu.checks.check_close("q3 BCE from extreme logits", lambda: bce_logits(np.array([800.0, -800.0]), np.array([0, 1])),
                      800.0, hint="a logit of 800 with label 0 costs log(1 + e^800) = 800 nats")


# %% [markdown]
# ## Question 4 (5 points, core, about 20 min): least squares: GLS and the minimum-norm solution
#
# Linear-Gaussian model $y=X\beta+\varepsilon$, $\varepsilon\sim\mathcal N(0,\Sigma)$.
#
# * `gls(X, y, Sigma)`: the generalised least-squares estimator
#   $(X^\top\Sigma^{-1}X)^{-1}X^\top\Sigma^{-1}y$ (use `np.linalg.solve`, not an explicit inverse
#   of $X^\top\Sigma^{-1}X$).
# * `gls_exists(X, Sigma)`: `True` if the MLE of $\beta$ is unique, i.e.
#   $X^\top\Sigma^{-1}X$ is invertible (use `np.linalg.matrix_rank`).
# * `min_norm(X, y)`: the minimum-Euclidean-norm minimiser of $\|y-X\beta\|^2$, for **any**
#   $X$: tall or wide, full rank or not. (`np.linalg.pinv` is allowed; as a challenge, use the
#   SVD.)
#
# Tests: `gls` on two hidden problems (2 points); `gls_exists` on a tall and a wide design
# (1 point); `min_norm` on a wide design (1 point) and on a tall rank-deficient design
# (1 point).

# %% course={"question": "q4", "role": "answer"}
def gls(X, y, Sigma):
    ### BEGIN SOLUTION
    Si_X = np.linalg.solve(Sigma, X)  # Σ^-1 X without forming Σ^-1
    return np.linalg.solve(X.T @ Si_X, Si_X.T @ y)
    ### END SOLUTION


def gls_exists(X, Sigma):
    ### BEGIN SOLUTION
    return bool(np.linalg.matrix_rank(X.T @ np.linalg.solve(Sigma, X)) == X.shape[1])
    ### END SOLUTION


def min_norm(X, y):
    ### BEGIN SOLUTION
    U, s, Vt = np.linalg.svd(X, full_matrices=False)
    keep = s > s.max() * max(X.shape) * np.finfo(float).eps  # numerical rank
    return Vt[keep].T @ ((U[:, keep].T @ y) / s[keep])
    ### END SOLUTION


# %% course={"question": "q4", "role": "check"}
X1, y1, S1 = make_regression(30, 4, seed=0)
w = 1 / np.sqrt(np.diag(S1))  # whitening: divide each row by its noise sd, then OLS
cu.checks.check_close("q4 GLS", lambda: gls(X1, y1, S1), np.linalg.lstsq(X1 * w[:, None], y1 * w, rcond=None)[0])
cu.checks.check_equal("q4 GLS exists (N=30, p=4)", lambda: gls_exists(X1, S1), True)
X2, y2, S2 = make_regression(3, 6, seed=1)
cu.checks.check_equal("q4 GLS exists (N=3, p=6)", lambda: gls_exists(X2, S2), False,
                      hint="X^T Sigma^-1 X has rank at most N")
_ = cu.checks.check_close("q4 min-norm, wide X", lambda: min_norm(X2, y2), np.linalg.lstsq(X2, y2, rcond=None)[0])


# %% [markdown]
# ## Question 5 (4 points, core, about 15 min): ridge regression is a MAP estimate
#
# Model $y\mid\beta\sim\mathcal N(X\beta,\sigma^2I)$ with prior $\beta\sim\mathcal N(0,\tau^2I)$
# (`noise_var` $=\sigma^2$, `prior_var` $=\tau^2$).
#
# * `neg_log_joint(beta, X, y, noise_var, prior_var)`: $-\log p(y\mid\beta)-\log p(\beta)$,
#   **with** all normalising constants (it differs from $-\log p(\beta\mid y)$ by the constant
#   $\log p(y)$).
# * `ridge_map(X, y, noise_var, prior_var)`: the MAP estimate
#   $(X^\top X+\lambda I)^{-1}X^\top y$ with $\lambda=\sigma^2/\tau^2$.
#
# Tests (1 point each): `neg_log_joint` at a hidden point; `ridge_map` on a tall and on a
# wide ($p>N$) hidden problem; `ridge_map` with a huge prior variance is (almost) the
# minimum-norm solution.

# %% course={"question": "q5", "role": "answer"}
def neg_log_joint(beta, X, y, noise_var, prior_var):
    ### BEGIN SOLUTION
    n, p = X.shape
    r = y - X @ beta
    nll = 0.5 * n * np.log(2 * np.pi * noise_var) + r @ r / (2 * noise_var)
    nlp = 0.5 * p * np.log(2 * np.pi * prior_var) + beta @ beta / (2 * prior_var)
    return float(nll + nlp)
    ### END SOLUTION


def ridge_map(X, y, noise_var, prior_var):
    ### BEGIN SOLUTION
    lam = noise_var / prior_var
    return np.linalg.solve(X.T @ X + lam * np.eye(X.shape[1]), X.T @ y)
    ### END SOLUTION


# %% course={"question": "q5", "role": "check"}
X3, y3, _ = make_regression(20, 3, seed=2, noise="iid")
b3 = np.array([0.5, -1.0, 0.2])
ref = -(scipy.stats.norm(X3 @ b3, np.sqrt(0.5)).logpdf(y3).sum() + scipy.stats.norm(0, np.sqrt(2.0)).logpdf(b3).sum())
cu.checks.check_close("q5 -log p(y|β) - log p(β)", lambda: neg_log_joint(b3, X3, y3, 0.5, 2.0), ref)
# the MAP estimate must minimise neg_log_joint: compare with a numerical minimiser
num = scipy.optimize.minimize(lambda b: 0.5 * np.sum((y3 - X3 @ b) ** 2) / 0.5 + 0.5 * b @ b / 2.0,
                              np.zeros(3), method="BFGS", options={"gtol": 1e-10}).x
_ = cu.checks.check_close("q5 ridge MAP", lambda: ridge_map(X3, y3, 0.5, 2.0), num, rtol=1e-5, atol=1e-7)


# %% [markdown]
# ## Question 6 (4 points, core, about 15 min): Fisher information of the Poisson model
#
# For counts $k\in\{0,1,2,\dots\}$ with $p(k;\lambda)=\lambda^ke^{-\lambda}/k!$:
#
# * `poisson_score(lam, k)`: the score $\partial_\lambda\log p(k;\lambda)$, vectorised over
#   an array `k`;
# * `poisson_fisher(lam)`: the Fisher information $I(\lambda)$ of **one** observation, in
#   closed form (derive it: by hand or with SymPy);
# * `poisson_se(k)`: the asymptotic standard error $\sqrt{1/(N\,I(\hat\lambda))}$ of the MLE
#   $\hat\lambda=\bar k$ from an array of $N$ counts;
# * `poisson_fisher_mc(lam, n_samples, seed)`: a Monte Carlo estimate of $I(\lambda)$ as the
#   mean squared score over `n_samples` draws from `np.random.default_rng(seed).poisson`.
#
# Tests (1 point each): score and Fisher information at hidden values; the standard error
# on hidden counts; the Monte Carlo estimate within 0.01 of the truth for a hidden $\lambda$
# and 200 000 samples.

# %% course={"question": "q6", "role": "answer"}
def poisson_score(lam, k):
    ### BEGIN SOLUTION
    return np.asarray(k, dtype=float) / lam - 1.0
    ### END SOLUTION


def poisson_fisher(lam):
    ### BEGIN SOLUTION
    return 1.0 / lam
    ### END SOLUTION


def poisson_se(k):
    ### BEGIN SOLUTION
    k = np.asarray(k, dtype=float)
    return float(np.sqrt(1.0 / (k.size * poisson_fisher(k.mean()))))
    ### END SOLUTION


def poisson_fisher_mc(lam, n_samples, seed):
    ### BEGIN SOLUTION
    k = np.random.default_rng(seed).poisson(lam, size=n_samples)
    return float(np.mean(poisson_score(lam, k) ** 2))
    ### END SOLUTION


# %% course={"question": "q6", "role": "check"}
k_obs = np.array([3, 1, 4, 1, 5, 9, 2, 6])
cu.checks.check_close("q6 score", lambda: poisson_score(2.0, k_obs), k_obs / 2.0 - 1)
# I(λ) = -E[∂² log p] computed independently by summing over k (the pmf decays fast)
ks = np.arange(200)
cu.checks.check_close("q6 Fisher information at λ=2", lambda: poisson_fisher(2.0),
                      np.sum(scipy.stats.poisson(2.0).pmf(ks) * ks / 2.0**2), rtol=1e-9)
cu.checks.check_close("q6 standard error", lambda: poisson_se(k_obs), np.sqrt(k_obs.mean() / k_obs.size))
_ = cu.checks.check_true("q6 Monte Carlo Fisher information", lambda: abs(poisson_fisher_mc(2.0, 100_000, 0) - 0.5) < 0.01,
                     "the mean squared score is within 0.01 of I(2) = 0.5")


# %% [markdown]
# ## Question 7 (5 points, challenge, about 20 min): KL, total variation and Pinsker's inequality
#
# * `kl(p, q)`: $\mathrm{KL}(p\|q)=\sum_kp_k\log(p_k/q_k)$ in nats for probability vectors
#   of the same length, with the conventions $0\log(0/q)=0$ and $\mathrm{KL}=\infty$ (return
#   `np.inf`) if some $q_k=0<p_k$;
# * `tv(p, q)`: the total variation distance $\frac12\sum_k|p_k-q_k|$;
# * `kl_gauss(mu1, var1, mu2, var2)`: the closed form of
#   $\mathrm{KL}(\mathcal N(\mu_1,\sigma_1^2)\,\|\,\mathcal N(\mu_2,\sigma_2^2))
#   =\frac12\big[\log\frac{\sigma_2^2}{\sigma_1^2}+\frac{\sigma_1^2+(\mu_1-\mu_2)^2}{\sigma_2^2}-1\big]$.
#
# The check cell also verifies Pinsker's inequality $\mathrm{TV}\le\sqrt{\mathrm{KL}/2}$ with
# your functions on random pairs.
#
# Tests (1 point each): `kl` on hidden vectors, with a zero in $p$, and with a zero in $q$
# only; `tv` on hidden vectors; `kl_gauss` at hidden parameters.

# %% course={"question": "q7", "role": "answer"}
def kl(p, q):
    ### BEGIN SOLUTION
    p, q = np.asarray(p, dtype=float), np.asarray(q, dtype=float)
    m = p > 0
    if np.any(q[m] == 0):
        return np.inf
    return float(np.sum(p[m] * np.log(p[m] / q[m])))
    ### END SOLUTION


def tv(p, q):
    ### BEGIN SOLUTION
    return float(0.5 * np.sum(np.abs(np.asarray(p, dtype=float) - np.asarray(q, dtype=float))))
    ### END SOLUTION


def kl_gauss(mu1, var1, mu2, var2):
    ### BEGIN SOLUTION
    return float(0.5 * (np.log(var2 / var1) + (var1 + (mu1 - mu2) ** 2) / var2 - 1))
    ### END SOLUTION


# %% course={"question": "q7", "role": "check"}
p7, q7 = np.array([0.1, 0.4, 0.5]), np.array([0.3, 0.3, 0.4])
cu.checks.check_close("q7 KL", lambda: kl(p7, q7), scipy.stats.entropy(p7, q7))
cu.checks.check_close("q7 KL with p_k = 0", lambda: kl([0.0, 0.5, 0.5], q7), scipy.stats.entropy([0.0, 0.5, 0.5], q7),
                      hint="terms with p_k = 0 contribute 0")
cu.checks.check_close("q7 TV", lambda: tv(p7, q7), 0.2)
n12, n01 = scipy.stats.norm(1, 2), scipy.stats.norm(0, 1)  # N(1, var 4) and N(0, 1)
quad = scipy.integrate.quad(lambda t: n12.pdf(t) * (n12.logpdf(t) - n01.logpdf(t)), -30, 30)[0]
cu.checks.check_close("q7 Gaussian KL", lambda: kl_gauss(1.0, 4.0, 0.0, 1.0), quad, rtol=1e-7)
g7 = np.random.default_rng(7)
pairs = [(g7.dirichlet(np.ones(4)), g7.dirichlet(np.ones(4))) for _ in range(200)]
_ = cu.checks.check_true("q7 Pinsker", lambda: all(tv(a, b) <= np.sqrt(kl(a, b) / 2) + 1e-12 for a, b in pairs),
                     "TV <= sqrt(KL/2) on 200 random pairs of distributions")

# %% [markdown]
# ## Question 8 (3 points, core, about 10 min): the bias of the variance MLE, in words (written)
#
# In Question 2 you computed the bias of $\hat\sigma^2 = \frac1n\sum_i (x_i-\bar x)^2$.
# Explain **in your own words** (no more than 150 words) *why* dividing by $n$ underestimates
# $\sigma^2$ — what does using $\bar x$ instead of the true $\mu$ do to the sum of squares? —
# then **predict** what happens to the bias and to the estimator's mean squared error as $n$
# grows, and say whether the bias matters when two models are compared by their maximised
# log-likelihood on the same data.
#
# Write your answer in the markdown cell below (double-click to edit). This question is
# graded by hand with a rubric; the checks and the automatic grader give it 0 points.

# %% [markdown] course={"question": "q8", "role": "answer"}
# ### BEGIN SOLUTION
# *Model answer: see the rubric (instructor only).*
# ### END SOLUTION

# %% [markdown] course={"role": "instructor"}
# **Rubric (3 points).**
# - 1 pt: $\bar x$ minimises $\sum (x_i - c)^2$ over $c$, so the sum of squares about $\bar x$
#   is never larger than about $\mu$ (equivalently: one degree of freedom is spent on $\bar x$;
#   $E\sum(x_i-\bar x)^2 = (n-1)\sigma^2$).
# - 1 pt: bias $-\sigma^2/n \to 0$; the estimator is consistent; MSE is dominated by the variance
#   $O(1/n)$ (bonus remark, not required: the MLE has *lower* MSE than the unbiased $n-1$ version).
# - 1 pt: for model comparison on the same data the factor is the same kind of $O(1/n)$ effect
#   for every model and does not change which maximised likelihood is larger; what matters is
#   held-out likelihood / number of parameters (AIC-style), not unbiasedness.
# - 0 pts for restating the formula without the reason. Half points allowed.

# %% [markdown]
# ## Question 9 (4 points, challenge, about 20 min): which model explains held-out data? (end-to-end)
#
# The cell below draws 1000 training and 1000 held-out values from a heavy-tailed source.
#
# 1. **Build**: write `fit_laplace(x)` returning the MLE `(mu, b)` of the Laplace density
#    $p(x)=\frac{1}{2b}e^{-|x-\mu|/b}$ (derive it: which statistic minimises
#    $\sum_i|x_i-\mu|$?), as two floats.
# 2. **Run and measure**: fit a Gaussian (your `gaussian_mle`) and a Laplace model to `x_train` and
#    measure each model's mean negative log-likelihood per point on `x_test`, in nats:
#    `nll_gauss`, `nll_laplace` (floats).
# 3. **Read the result**: set `better` to `"gauss"` or `"laplace"` (the lower held-out NLL)
#    and `gain = nll_gauss - nll_laplace`.
#
# Tests (other seeds and hidden data): `fit_laplace` on hidden data (1 point); your two NLLs
# are what the fitted models give on `x_test` (1 point); `better` (1 point); the gain is at
# least 0.05 nats (1 point).

# %%
seed = 0  # the hidden tests use other seeds
x_e2e = 0.7 + 1.5 * np.random.default_rng(seed).standard_t(3, size=2000)
x_train, x_test = x_e2e[:1000], x_e2e[1000:]

# %% course={"question": "q9", "role": "answer"}
def fit_laplace(x):
    """MLE (mu, b) of a Laplace density from a 1-D array x, as floats."""
    ### BEGIN SOLUTION
    x = np.asarray(x, dtype=float)
    mu = float(np.median(x))
    return mu, float(np.mean(np.abs(x - mu)))
    ### END SOLUTION


nll_gauss = nll_laplace = gain = float("nan")
better = None
### BEGIN SOLUTION
nll_gauss = gaussian_avg_nll(x_test, *gaussian_mle(x_train))
mu_l, b_l = fit_laplace(x_train)
nll_laplace = float(np.mean(np.log(2 * b_l) + np.abs(x_test - mu_l) / b_l))
better = "laplace" if nll_laplace < nll_gauss else "gauss"
gain = nll_gauss - nll_laplace
### END SOLUTION
print(f"held-out NLL: Gaussian {nll_gauss:.3f}, Laplace {nll_laplace:.3f} nats; better: {better}")

# %% course={"question": "q9", "role": "check"}
cu.checks.check_true("q9 fit_laplace returns two floats, b > 0", lambda: (lambda r: len(r) == 2
                     and all(isinstance(v, float) for v in r) and r[1] > 0)(fit_laplace([1.0, 2.0, 4.0])),
                     "(mu, b) with b > 0")
cu.checks.check_true("q9 fit_laplace ignores one huge outlier's size",
                     lambda: fit_laplace([0.0, 1.0, 2.0, 3.0, 1e6])[0] == fit_laplace([0.0, 1.0, 2.0, 3.0, 10.0])[0],
                     "the location estimate is robust", hint="which statistic minimises sum |x_i - mu|?")
_ = cu.checks.check_true("q9 measured and read", lambda: better in ("gauss", "laplace")
                         and abs(gain - (nll_gauss - nll_laplace)) < 1e-12 and nll_laplace > 0,
                         "better is 'gauss' or 'laplace', gain = nll_gauss - nll_laplace")


# %% [markdown]
# ## Done
#
# Run *Kernel → Restart and run all* and check that every check cell prints `[PASS]`.
# Then submit this notebook. Total: 37 points.
