"""Tests for course_utils.mle against scipy and closed forms (float64, tight tolerances)."""

import math

import numpy as np
import pytest
import scipy.stats
import torch

from course_utils import mle


@pytest.fixture
def rng():
    return np.random.default_rng(1234)


# --- gaussian_log_likelihood ---------------------------------------------------------


def test_gaussian_log_likelihood_matches_scipy(rng):
    x = rng.normal(1.0, 2.0, size=50)
    got = mle.gaussian_log_likelihood(torch.tensor(x), 0.7, 3.1)
    ref = scipy.stats.norm(0.7, np.sqrt(3.1)).logpdf(x).sum()
    assert got.dtype == torch.float64
    assert float(got) == pytest.approx(ref, rel=1e-12)


def test_gaussian_log_likelihood_gradient_is_the_score(rng):
    x = torch.tensor(rng.normal(size=30))
    mu = torch.tensor(0.3, dtype=torch.float64, requires_grad=True)
    var = torch.tensor(1.7, dtype=torch.float64, requires_grad=True)
    mle.gaussian_log_likelihood(x, mu, var).backward()
    n = x.numel()
    d_mu = ((x - 0.3).sum() / 1.7).item()
    d_var = (-n / (2 * 1.7) + ((x - 0.3) ** 2).sum() / (2 * 1.7**2)).item()
    assert mu.grad.item() == pytest.approx(d_mu, rel=1e-12)
    assert var.grad.item() == pytest.approx(d_var, rel=1e-12)


@pytest.mark.parametrize(
    "x, var, match",
    [([[1.0, 2.0]], 1.0, "shape"), ([], 1.0, "shape"), ([1.0], 0.0, "var"), ([1.0], -1, "var")],
)
def test_gaussian_log_likelihood_bad_input(x, var, match):
    with pytest.raises(ValueError, match=match):
        mle.gaussian_log_likelihood(x, 0.0, var)


# --- fit_mle -------------------------------------------------------------------------


def test_fit_mle_recovers_closed_form_gaussian_mle(rng):
    x = torch.tensor(rng.normal(-2.0, 0.5, size=200))
    mu = torch.zeros((), dtype=torch.float64, requires_grad=True)
    log_var = torch.zeros((), dtype=torch.float64, requires_grad=True)
    loss = mle.fit_mle(lambda: -mle.gaussian_log_likelihood(x, mu, log_var.exp()), [mu, log_var])
    mu_hat = x.mean().item()
    var_hat = ((x - x.mean()) ** 2).mean().item()  # the 1/N estimator
    assert mu.item() == pytest.approx(mu_hat, abs=1e-9)
    assert log_var.exp().item() == pytest.approx(var_hat, rel=1e-9)
    ref = -scipy.stats.norm(mu_hat, np.sqrt(var_hat)).logpdf(x.numpy()).sum()
    assert loss == pytest.approx(ref, rel=1e-12)


def test_fit_mle_rejects_bad_params():
    p = torch.zeros(2)
    with pytest.raises(ValueError, match="requires_grad"):
        mle.fit_mle(lambda: (p**2).sum(), [p])
    with pytest.raises(ValueError, match="at least one"):
        mle.fit_mle(lambda: torch.zeros(()), [])
    q = torch.zeros(2, requires_grad=True)
    with pytest.raises(ValueError, match="0-d"):
        mle.fit_mle(lambda: q**2, [q])


# --- KL and TV -----------------------------------------------------------------------


def _random_prob(rng, k):
    w = rng.random(k)
    return w / w.sum()


def test_kl_matches_scipy_entropy(rng):
    for _ in range(5):
        p, q = _random_prob(rng, 7), _random_prob(rng, 7)
        assert mle.kl_divergence(p, q) == pytest.approx(scipy.stats.entropy(p, q), rel=1e-12)


def test_kl_zero_and_infinite_cases():
    p = np.array([0.5, 0.5, 0.0])
    q = np.array([0.25, 0.25, 0.5])
    assert mle.kl_divergence(p, q) == pytest.approx(np.log(2), rel=1e-14)  # 0 log 0 = 0
    assert mle.kl_divergence(q, p) == np.inf
    assert mle.kl_divergence(p, p) == 0.0


def test_tv_closed_form_and_pinsker(rng):
    assert mle.total_variation([1.0, 0.0], [0.0, 1.0]) == 1.0
    assert mle.total_variation([0.5, 0.5], [0.9, 0.1]) == pytest.approx(0.4, abs=1e-15)
    for _ in range(20):
        p, q = _random_prob(rng, 5), _random_prob(rng, 5)
        assert mle.total_variation(p, q) <= np.sqrt(0.5 * mle.kl_divergence(p, q)) + 1e-15


def test_tv_and_kl_accept_tensors():
    p = torch.tensor([0.2, 0.8], dtype=torch.float64)
    q = torch.tensor([0.5, 0.5], dtype=torch.float64)
    assert mle.total_variation(p, q) == pytest.approx(0.3, abs=1e-15)
    ref = 0.2 * np.log(0.4) + 0.8 * np.log(1.6)
    assert mle.kl_divergence(p, q) == pytest.approx(ref, rel=1e-14)


@pytest.mark.parametrize(
    "p, q, match",
    [
        ([0.5, 0.5], [1.0], "same shape"),
        ([0.5, 0.6], [0.5, 0.5], "probability vector"),
        ([1.5, -0.5], [0.5, 0.5], "probability vector"),
        ([[0.5, 0.5]], [[0.5, 0.5]], "shape"),
        ([np.nan, 1.0], [0.5, 0.5], "NaN"),
    ],
)
def test_kl_tv_bad_input(p, q, match):
    for f in (mle.kl_divergence, mle.total_variation):
        with pytest.raises(ValueError, match=match):
            f(p, q)


# --- Wasserstein-1 -------------------------------------------------------------------


def test_w1_matches_scipy_on_samples(rng):
    x, y = rng.normal(size=40), rng.normal(0.5, 2.0, size=65)
    assert mle.wasserstein1_1d(x, y) == pytest.approx(
        scipy.stats.wasserstein_distance(x, y), rel=1e-12
    )


def test_w1_matches_scipy_with_weights(rng):
    x, y = rng.normal(size=9), rng.normal(size=4)
    wx, wy = rng.random(9), rng.random(4)
    got = mle.wasserstein1_1d(x, y, wx, wy)
    assert got == pytest.approx(scipy.stats.wasserstein_distance(x, y, wx, wy), rel=1e-12)


def test_w1_closed_forms():
    # a shift by c moves every unit of mass by c
    x = np.array([0.0, 1.0, 5.0])
    assert mle.wasserstein1_1d(x, x + 2.5) == pytest.approx(2.5, rel=1e-14)
    # sorted equal-size samples: mean absolute difference of order statistics
    a, b = np.array([3.0, -1.0, 0.5]), np.array([0.0, 10.0, 2.0])
    assert mle.wasserstein1_1d(a, b) == pytest.approx(
        np.abs(np.sort(a) - np.sort(b)).mean(), rel=1e-14
    )
    assert mle.wasserstein1_1d([1.0, 2.0], [2.0, 1.0]) == 0.0


@pytest.mark.parametrize(
    "kwargs, match",
    [
        ({"x": [], "y": [1.0]}, "x must have shape"),
        ({"x": [1.0], "y": [[1.0]]}, "y must have shape"),
        ({"x": [1.0, 2.0], "y": [1.0], "x_weights": [1.0]}, "x_weights must have shape"),
        ({"x": [1.0, 2.0], "y": [1.0], "x_weights": [1.0, -2.0]}, "non-negative"),
        ({"x": [1.0, np.inf], "y": [1.0]}, "NaN or infinite values"),
    ],
)
def test_w1_bad_input(kwargs, match):
    with pytest.raises(ValueError, match=match):
        mle.wasserstein1_1d(**kwargs)


def test_doctests():
    import doctest

    failures, _ = doctest.testmod(mle, optionflags=doctest.NORMALIZE_WHITESPACE)
    assert failures == 0


X3 = torch.tensor([1.0, 2.0, 3.0], dtype=torch.float64)


def test_gaussian_log_likelihood_rejects_shapes_that_enlarge_x():
    # (3, 1) broadcast against (3,) would sum 9 terms: -29.27 instead of -9.7568
    with pytest.raises(ValueError, match=r"mean must be a scalar or broadcastable.*\(3, 1\)"):
        mle.gaussian_log_likelihood(X3, torch.zeros(3, 1, dtype=torch.float64), 1.0)
    with pytest.raises(ValueError, match=r"var must be a scalar or broadcastable.*\(5, 1\)"):
        mle.gaussian_log_likelihood(X3, 0.0, torch.ones(5, 1, dtype=torch.float64))
    with pytest.raises(ValueError, match="mean must be a scalar or broadcastable"):
        mle.gaussian_log_likelihood(X3, torch.zeros(2, dtype=torch.float64), 1.0)
    # valid shapes: scalars, (1,), (N,); the result is a 0-d tensor
    want = float(scipy.stats.norm(0.0, 1.0).logpdf(X3.numpy()).sum())
    for mean, var in [
        (0.0, 1.0),
        (torch.zeros(1, dtype=torch.float64), torch.ones((), dtype=torch.float64)),
        (torch.zeros(3, dtype=torch.float64), torch.ones(3, dtype=torch.float64)),
    ]:
        out = mle.gaussian_log_likelihood(X3, mean, var)
        assert out.shape == () and float(out) == pytest.approx(want, rel=1e-12)
    assert want == pytest.approx(-9.7568, abs=1e-4)


@pytest.mark.parametrize(
    "x, mean, var, match",
    [
        ([1.0, math.nan], 0.0, 1.0, "x contains NaN"),
        ([1.0, math.inf], 0.0, 1.0, "x contains NaN"),
        (X3, math.nan, 1.0, "mean contains NaN"),
        (X3, -math.inf, 1.0, "mean contains NaN"),
        (X3, 0.0, math.nan, "var must be positive and finite"),
        (X3, 0.0, math.inf, "var must be positive and finite"),
        (X3, 0.0, 0.0, "var must be positive and finite"),
        (X3, 0.0, -1.0, "var must be positive and finite"),
    ],
)
def test_gaussian_log_likelihood_rejects_non_finite_and_non_positive(x, mean, var, match):
    with pytest.raises(ValueError, match=match):
        mle.gaussian_log_likelihood(x, mean, var)


def test_gaussian_log_likelihood_non_numeric_argument_is_named():
    with pytest.raises(TypeError, match="var must be a number or a tensor, got str"):
        mle.gaussian_log_likelihood(X3, 0.0, "1")


def test_gaussian_log_likelihood_still_differentiable():
    mu = torch.zeros((), dtype=torch.float64, requires_grad=True)
    lv = torch.zeros((), dtype=torch.float64, requires_grad=True)
    mle.fit_mle(lambda: -mle.gaussian_log_likelihood(X3, mu, lv.exp()), [mu, lv])
    assert mu.item() == pytest.approx(2.0, abs=1e-8)
    assert lv.exp().item() == pytest.approx(2.0 / 3.0, abs=1e-8)


@pytest.mark.parametrize("shape", [(), (2,)])
def test_fit_mle_bare_tensor_params_says_use_a_list(shape):
    mu = torch.zeros(shape, dtype=torch.float64, requires_grad=True)
    with pytest.raises(TypeError, match=r"params must be a list of tensors, e\.g\. \[mu\]"):
        mle.fit_mle(lambda: ((mu - 1) ** 2).sum(), mu)
    with pytest.raises(TypeError, match="params must be a list of tensors"):
        mle.fit_mle(lambda: ((mu - 1) ** 2).sum(), 3.0)
    # a tuple still works
    mle.fit_mle(lambda: ((mu - 1) ** 2).sum(), (mu,))
    assert torch.allclose(mu, torch.ones_like(mu))
