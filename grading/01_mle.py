"""Hidden tests for 01_mle (instructor only).

Every ``expr`` is evaluated in the student's namespace and in the solution's; the values
are compared in the grader process. Inputs differ from the public checks (other data,
other seeds for the given ``make_regression`` helper, edge cases).
"""

_X1 = "np.array([0.3, -1.2, 5.0, 2.2, 0.0, -0.7, 4.1])"

QUESTIONS = [
    {
        "id": "q1",
        "title": "the Gaussian MLE",
        "points": 4,
        "tests": [
            {
                "name": "mu_hat on a hidden sample",
                "points": 1,
                "expr": f"gaussian_mle({_X1})[0]",
                "expects": "the sample mean of the data, a float",
            },
            {
                "name": "var_hat on a hidden sample",
                "points": 1,
                "expr": f"gaussian_mle({_X1})[1]",
                "expects": "the MLE of the variance (divide by N), a float",
            },
            {
                "name": "average NLL at hidden parameters",
                "points": 1,
                "expr": f"gaussian_avg_nll({_X1}, -0.4, 3.7)",
                "expects": "0.5 log(2 pi var) + mean((x - mu)^2) / (2 var), a float",
            },
            {
                "name": "the NLL is smallest at the MLE",
                "points": 1,
                "expr": (
                    # and the NLL must change when the mean moves (a constant does not)
                    "(lambda x, m: max(gaussian_avg_nll(x, *m) - gaussian_avg_nll(x, m[0] + d, "
                    "m[1] * f) for d in (-0.1, 0.0, 0.1) for f in (0.9, 1.0, 1.1)) "
                    "if gaussian_avg_nll(x, m[0] + 0.1, m[1]) - gaussian_avg_nll(x, *m) > 1e-6 "
                    "else 1.0)"
                    "(np.linspace(-2.0, 3.0, 11) ** 2, gaussian_mle(np.linspace(-2.0, 3.0, 11) ** 2))"
                ),
                "kind": "max",
                "bound": 1e-12,
                "expects": "the average NLL at your MLE is not larger than at nearby parameters",
            },
        ],
    },
    {
        "id": "q2",
        "title": "the bias of the variance MLE",
        "points": 4,
        "tests": [
            {
                "name": "unbiased variance on a hidden sample",
                "points": 1,
                "expr": f"unbiased_var({_X1})",
                "expects": "sum((x - mean)^2) / (N - 1), a float",
            },
            {
                "name": "exact bias for hidden n, sigma2",
                "points": 1,
                "expr": "[mle_var_bias(7, 3.5), mle_var_bias(2, 0.4)]",
                "expects": "E[var_hat] - sigma2 = -sigma2 / n",
            },
            {
                "name": "simulation within 5 standard errors",
                "points": 1,
                # n = 3, sigma2 = 5: E = 10/3, sd of var_hat = sqrt(2 (n-1)) sigma2 / n,
                # se with 200 000 data sets = 0.0105; 5 se = 0.053
                "expr": "abs(simulate_mle_var_mean(3, 5.0, 200_000, 11) - 10 / 3)",
                "kind": "max",
                "bound": 0.053,
                "expects": "the Monte Carlo mean of var_hat is close to (n-1)/n * sigma2",
            },
            {
                "name": "same seed, same result",
                "points": 1,
                "expr": (
                    # ... and another seed, another result (a constant is not a simulation)
                    "bool(simulate_mle_var_mean(5, 1.0, 1000, 3) == "
                    "simulate_mle_var_mean(5, 1.0, 1000, 3) != simulate_mle_var_mean(5, 1.0, 1000, 4))"
                ),
                "kind": "equal",
                "expects": "the same seed gives the same result and another seed another one (use np.random.default_rng(seed))",
            },
        ],
    },
    {
        "id": "q3",
        "title": "Bernoulli likelihood and cross-entropy",
        "points": 4,
        "tests": [
            {
                "name": "Bernoulli MLE",
                "points": 1,
                "expr": "bernoulli_mle(np.array([0, 0, 1, 0, 1, 0, 0]))",
                "expects": "the fraction of ones, a float",
            },
            {
                "name": "BCE from probabilities",
                "points": 1,
                "expr": "bce(np.array([0.9, 0.2, 0.6, 0.35]), np.array([1, 0, 0, 1]))",
                "expects": "-mean(y log pi + (1 - y) log(1 - pi)), a float",
            },
            {
                "name": "BCE from moderate logits",
                "points": 1,
                "expr": "bce_logits(np.array([-3.0, 0.7, 2.2, -0.1, 5.0]), np.array([0, 1, 0, 1, 1]))",
                "expects": "the same loss with pi = sigmoid(z)",
            },
            {
                "name": "BCE from extreme logits",
                "points": 1,
                "expr": "bce_logits(np.array([-1000.0, 750.0, 40.0, -40.0]), np.array([0, 0, 1, 1]))",
                "rtol": 1e-9,
                "expects": "a finite, accurate loss for logits of size 1000 (use logaddexp)",
            },
        ],
    },
    {
        "id": "q4",
        "title": "least squares: GLS and the minimum-norm solution",
        "points": 5,
        "tests": [
            {
                "name": "GLS on a hidden problem (N=25, p=3)",
                "points": 1,
                "expr": "gls(*make_regression(25, 3, seed=101))",
                "expects": "(X^T Sigma^-1 X)^-1 X^T Sigma^-1 y, an array of shape (p,)",
            },
            {
                "name": "GLS on a hidden problem with correlated noise",
                "points": 1,
                "expr": (
                    "(lambda X, y: gls(X, y, 0.5 * np.eye(12) + 0.3 * np.ones((12, 12))))"
                    "(*make_regression(12, 4, seed=102)[:2])"
                ),
                "expects": "the GLS formula for a full (non-diagonal) Sigma",
            },
            {
                "name": "GLS exists: tall and wide designs",
                "points": 1,
                "expr": (
                    "[bool(gls_exists(*make_regression(8, 5, seed=103)[::2])), "
                    "bool(gls_exists(*make_regression(4, 5, seed=104)[::2]))]"
                ),
                "kind": "equal",
                "expects": "True iff X^T Sigma^-1 X has full rank p",
            },
            {
                "name": "min-norm solution, wide design",
                "points": 1,
                "expr": "min_norm(*make_regression(4, 9, seed=105)[:2])",
                "expects": "the minimum-norm solution of X beta = y, shape (p,)",
            },
            {
                "name": "min-norm solution, tall rank-deficient design",
                "points": 1,
                "expr": (
                    "(lambda X, y: min_norm(np.column_stack([X, X[:, 0] - 2 * X[:, 1]]), y))"
                    "(*make_regression(15, 3, seed=106)[:2])"
                ),
                "atol": 1e-7,
                "expects": "the minimum-norm least-squares solution when X^T X is singular",
            },
        ],
    },
    {
        "id": "q5",
        "title": "ridge regression is a MAP estimate",
        "points": 4,
        "tests": [
            {
                "name": "negative log-joint at a hidden point",
                "points": 1,
                "expr": (
                    "(lambda X, y: neg_log_joint(np.array([1.0, -0.5, 0.0, 2.0]), X, y, 0.3, 1.7))"
                    "(*make_regression(9, 4, seed=201)[:2])"
                ),
                "expects": "-log N(y; X beta, s2 I) - log N(beta; 0, t2 I), with all constants",
            },
            {
                "name": "MAP on a tall problem",
                "points": 1,
                "expr": "ridge_map(*make_regression(30, 5, seed=202)[:2], 0.8, 0.25)",
                "expects": "(X^T X + lambda I)^-1 X^T y with lambda = noise_var / prior_var",
            },
            {
                "name": "MAP on a wide problem (p > N)",
                "points": 1,
                "expr": "ridge_map(*make_regression(3, 7, seed=203)[:2], 1.0, 2.0)",
                "expects": "the ridge formula also works when p > N",
            },
            {
                "name": "huge prior variance gives the minimum-norm solution",
                "points": 1,
                "expr": "ridge_map(*make_regression(3, 6, seed=204)[:2], 1.0, 1e9)",
                "rtol": 1e-5,
                "atol": 1e-7,
                "expects": "lambda -> 0: the ridge estimate tends to the minimum-norm solution",
            },
        ],
    },
    {
        "id": "q6",
        "title": "Fisher information of the Poisson model",
        "points": 4,
        "tests": [
            {
                "name": "score at hidden values",
                "points": 1,
                "expr": "poisson_score(3.5, np.array([0, 2, 7, 12]))",
                "expects": "k / lam - 1, an array like k",
            },
            {
                "name": "Fisher information at hidden rates",
                "points": 1,
                "expr": "[poisson_fisher(0.25), poisson_fisher(7.0)]",
                "expects": "the Fisher information of one Poisson observation",
            },
            {
                "name": "standard error on hidden counts",
                "points": 1,
                "expr": "poisson_se(np.array([0, 4, 2, 2, 5, 1, 3, 0, 6, 2, 1, 3]))",
                "expects": "sqrt(1 / (N I(lam_hat))) with lam_hat the mean count",
            },
            {
                "name": "Monte Carlo Fisher information",
                "points": 1,
                # lam = 2.5: sd of score^2 is sqrt((1 + 2 lam) / lam^3) = 0.62, se = 0.0014
                "expr": "abs(poisson_fisher_mc(2.5, 200_000, 5) - 0.4)",
                "kind": "max",
                "bound": 0.01,
                "expects": "the mean squared score over 200 000 draws is close to I(lam)",
            },
        ],
    },
    {
        "id": "q7",
        "title": "KL, total variation and Pinsker's inequality",
        "points": 5,
        "tests": [
            {
                "name": "KL on hidden vectors",
                "points": 1,
                "expr": "kl(np.array([0.05, 0.15, 0.3, 0.5]), np.array([0.25, 0.25, 0.25, 0.25]))",
                "expects": "sum p log(p / q) in nats, a float",
            },
            {
                "name": "KL with zeros in p",
                "points": 1,
                "expr": "kl(np.array([0.0, 0.7, 0.0, 0.3]), np.array([0.1, 0.2, 0.3, 0.4]))",
                "expects": "terms with p_k = 0 contribute 0",
            },
            {
                "name": "KL is infinite when q_k = 0 < p_k",
                "points": 1,
                "expr": "bool(kl(np.array([0.5, 0.5, 0.0]), np.array([1.0, 0.0, 0.0])) == np.inf)",
                "kind": "equal",
                "expects": "return np.inf when some q_k = 0 < p_k",
            },
            {
                "name": "TV on hidden vectors",
                "points": 1,
                "expr": "tv(np.array([0.05, 0.15, 0.3, 0.5]), np.array([0.4, 0.1, 0.1, 0.4]))",
                "expects": "0.5 * sum |p - q|, between 0 and 1",
            },
            {
                "name": "Gaussian KL at hidden parameters",
                "points": 1,
                "expr": "[kl_gauss(-1.0, 0.5, 2.0, 3.0), kl_gauss(0.0, 2.0, 0.0, 2.0)]",
                "expects": "the closed form of KL(N(mu1, var1) || N(mu2, var2))",
            },
        ],
    },
    {
        "id": "q9",
        "title": "which model explains held-out data?",
        "points": 4,
        "tests": [
            {
                "name": "fit_laplace on hidden data",
                "points": 1,
                "expr": "list(fit_laplace(np.array([3.1, -0.4, 0.2, 7.5, 1.1, 0.9, -2.0])))",
                "rtol": 1e-9,
                "atol": 1e-12,
                "expects": "the Laplace MLE: location the median, scale the mean absolute deviation from it",
            },
            {
                "name": "the two held-out NLLs are measured on x_test",
                "points": 1,
                "expr": (
                    "max(abs(nll_gauss + scipy.stats.norm(x_train.mean(), x_train.std())"
                    ".logpdf(x_test).mean()), abs(nll_laplace + scipy.stats.laplace("
                    "*scipy.stats.laplace.fit(x_train)).logpdf(x_test).mean()))"
                ),
                "kind": "max",
                "bound": 1e-6,
                "expects": "mean NLL per point on x_test of the models fitted by MLE to x_train",
            },
            {
                "name": "the better model",
                "points": 1,
                "expr": "better",
                "kind": "equal",
                "expects": "the model with the lower held-out NLL",
            },
            {
                "name": "the gain is real",
                "points": 1,
                "expr": "float(gain) if abs(gain - (nll_gauss - nll_laplace)) < 1e-9 else -1.0",
                "kind": "min",
                "bound": 0.05,
                "expects": "gain = nll_gauss - nll_laplace, at least 0.05 nats on this source",
            },
        ],
    },
]


# Written questions, graded by hand (course-grade review / merge, docs/GRADING.md).
MANUAL = [{"id": "q8", "title": "the bias of the variance MLE, in words", "points": 3}]
