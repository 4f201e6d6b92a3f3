"""course_utils.sde: moments against closed forms, measured convergence orders, the
Brownian path, torchsde cross-checks and the error messages.

Closed forms used (Itô calculus, e.g. Kloeden & Platen ch. 4; Øksendal ch. 5):

* Ornstein–Uhlenbeck ``dX = -theta X dt + s dW``: ``E X_t = x0 e^{-theta t}``,
  ``Var X_t = s^2 (1 - e^{-2 theta t}) / (2 theta)``.
* geometric Brownian motion ``dX = mu X dt + s X dW``:
  ``X_t = x0 exp((mu - s^2/2) t + s W_t)``, so ``E X_t = x0 e^{mu t}``,
  ``E X_t^2 = x0^2 e^{(2 mu + s^2) t}``.
* ``dX = -X dt + b s(t) dW`` with one channel ``W`` for both coordinates:
  ``Cov X_t = b b^T int_0^t e^{-2(t - u)} s(u)^2 du`` (integral by SymPy).

torchsde is a test dependency: its tests are never skipped.
"""

import math

import numpy as np
import pytest
import sympy as sp
import torch
import torchsde
from scipy import stats

from course_utils import sde as S

F64 = torch.float64


def gen(seed):
    return torch.Generator().manual_seed(seed)


class OU(torch.nn.Module):
    noise_type, sde_type = "diagonal", "ito"

    def __init__(self, theta=1.5, s=0.8):
        super().__init__()
        self.theta, self.s = theta, s

    def f(self, t, y):
        return -self.theta * y

    def g(self, t, y):
        return self.s * torch.ones_like(y)


class GBM(torch.nn.Module):
    noise_type, sde_type = "diagonal", "ito"

    def __init__(self, mu=1.0, s=1.0):
        super().__init__()
        self.mu, self.s = mu, s

    def f(self, t, y):
        return self.mu * y

    def g(self, t, y):
        return self.s * y


class Nonlinear(torch.nn.Module):
    """A drift and a diffusion that both depend on t and y (no closed form)."""

    noise_type, sde_type = "diagonal", "ito"

    def f(self, t, y):
        return torch.sin(y) - y + t

    def g(self, t, y):
        return 0.5 + 0.3 * torch.cos(y) * (1 + t)


def _slope(hs, errs):
    return float(np.polyfit(np.log(hs), np.log(errs), 1)[0])


# ---------------------------------------------------------------------- moments


def test_ou_mean_and_variance_match_the_closed_form():
    theta, s, x0, t1 = 1.5, 0.8, 2.0, 1.0
    n, dt = 20_000, 2e-3
    ys = S.sdeint(
        OU(theta, s), torch.full((n, 1), x0, dtype=F64), [0.0, 0.5, t1], dt=dt, generator=gen(0)
    )
    for k, t in enumerate([0.0, 0.5, t1]):
        mean = x0 * math.exp(-theta * t)
        var = s**2 * (1 - math.exp(-2 * theta * t)) / (2 * theta)
        m, v = float(ys[k].mean()), float(ys[k].var())
        # 5 standard errors plus the O(dt) bias of Euler-Maruyama (about theta * dt * value)
        assert abs(m - mean) <= 5 * math.sqrt(var / n) + 2 * theta * dt * abs(mean) + 1e-12
        assert abs(v - var) <= 5 * var * math.sqrt(2 / n) + 2 * theta * dt * var + 1e-12


@pytest.mark.parametrize("method", ["euler", "milstein"])
def test_gbm_first_two_moments_match_the_closed_form(method):
    mu, s, x0, t1, n = 0.5, 0.4, 1.0, 1.0, 20_000
    y = S.sdeint(
        GBM(mu, s),
        torch.full((n, 1), x0, dtype=F64),
        [0.0, t1],
        dt=4e-3,
        method=method,
        generator=gen(1),
    )[-1]
    m1, m2 = x0 * math.exp(mu * t1), x0**2 * math.exp((2 * mu + s**2) * t1)
    var = m2 - m1**2
    var2 = x0**4 * math.exp((4 * mu + 6 * s**2) * t1) - m2**2  # Var of X^2 (4th moment)
    assert abs(float(y.mean()) - m1) <= 5 * math.sqrt(var / n) + 0.01 * m1
    assert abs(float((y**2).mean()) - m2) <= 5 * math.sqrt(var2 / n) + 0.02 * m2


def test_time_dependent_scalar_noise_covariance_matches_sympy():
    u, t = sp.symbols("u t", positive=True)
    integral = sp.integrate(sp.exp(-2 * (t - u)) * (1 + u) ** 2, (u, 0, t))
    t1 = 1.2
    c = float(integral.subs(t, t1))
    b = torch.tensor([1.0, -0.5], dtype=F64)
    sde = S.SDE(
        lambda t, y: -y,
        lambda t, y: ((1 + t) * b).expand(y.shape[0], 2)[..., None],
        noise_type="scalar",
    )
    n = 20_000
    y = S.sdeint(sde, torch.zeros(n, 2, dtype=F64), [0.0, t1], dt=4e-3, generator=gen(2))[-1]
    cov = torch.cov(y.T)
    want = c * torch.outer(b, b)
    assert torch.allclose(cov, want, atol=5 * c * math.sqrt(2 / n) * 1.25 + 0.01 * c)
    # one channel drives both coordinates: they are perfectly (anti-)correlated
    corr = float(torch.corrcoef(y.T)[0, 1])
    assert corr == pytest.approx(-1.0, abs=1e-9)


def test_general_noise_covariance_is_b_b_transpose_t():
    bmat = torch.tensor([[1.0, 0.5, 0.0], [0.0, 0.3, -0.8]], dtype=F64)  # d = 2, m = 3
    sde = S.SDE(
        lambda t, y: 0 * y, lambda t, y: bmat.expand(y.shape[0], 2, 3), noise_type="general"
    )
    n, t1 = 40_000, 0.7
    y = S.sdeint(sde, torch.zeros(n, 2, dtype=F64), [0.0, t1], dt=0.1, generator=gen(3))[-1]
    want = bmat @ bmat.T * t1
    assert torch.allclose(torch.cov(y.T), want, atol=5 * 1.25 * t1 * math.sqrt(2 / n) * 2)


# ---------------------------------------------------------------------- convergence orders


def _gbm_errors(method, mu=1.0, s=1.0, ks=range(3, 9), n=4000, seed=4):
    """Strong and weak errors of a solver on GBM at T = 1 against the exact solution
    driven by the same Brownian path."""
    x0 = torch.ones(n, 1, dtype=F64)
    bm = S.BrownianPath(0.0, 1.0, (n, 1), dtype=F64, generator=gen(seed))
    exact = torch.exp((mu - s**2 / 2) + s * bm(0.0, 1.0))
    hs, strong, weak = [], [], []
    for k in ks:
        h = 2.0**-k
        y = S.sdeint(GBM(mu, s), x0, [0.0, 1.0], dt=h, bm=bm, method=method)[-1]
        hs.append(h)
        strong.append(float((y - exact).abs().mean()))
        # weak error of the mean: E[Y] - E[X] estimated as the mean of Y - X (the same
        # path as control variate makes the estimate far less noisy than mean(Y) - e^mu)
        weak.append(abs(float((y - exact).mean())))
    return hs, strong, weak


def test_euler_maruyama_has_strong_order_one_half_and_weak_order_one():
    hs, strong, _ = _gbm_errors("euler")
    assert 0.4 < _slope(hs, strong) < 0.6
    # the weak error is smaller than its Monte Carlo noise unless the noise is small:
    # less volatility and more paths
    hs, _, weak = _gbm_errors("euler", s=0.5, n=20_000)
    assert 0.8 < _slope(hs, weak) < 1.2
    # EM's mean on GBM is exactly x0 (1 + mu h)^(1/h): the weak errors agree with it
    for h, w in zip(hs, weak, strict=True):
        assert w == pytest.approx(math.e - (1 + h) ** (1 / h), rel=0.1)


def test_milstein_has_strong_order_one():
    hs, strong, _ = _gbm_errors("milstein")
    assert 0.85 < _slope(hs, strong) < 1.15
    _, strong_em, _ = _gbm_errors("euler")
    assert strong[-1] < strong_em[-1] / 4  # and beats Euler-Maruyama at the finest step


def test_additive_noise_milstein_equals_euler():
    sde = S.SDE(
        lambda t, y: -y,
        lambda t, y: torch.ones(y.shape[0], 2, 1, dtype=y.dtype),
        noise_type="additive",
    )
    bm = S.BrownianPath(0.0, 1.0, (50, 1), dtype=F64, generator=gen(5))
    y0 = torch.randn(50, 2, dtype=F64, generator=gen(6))
    a = S.sdeint(sde, y0, [0.0, 1.0], dt=0.05, bm=bm, method="euler")
    b = S.sdeint(sde, y0, [0.0, 1.0], dt=0.05, bm=bm, method="milstein")
    assert torch.equal(a, b)


# ---------------------------------------------------------------------- Brownian path


def test_brownian_increments_mean_variance_independence():
    n = 20_000
    bm = S.BrownianPath(0.0, 2.0, (n, 1), dtype=F64, generator=gen(7))
    d1, d2 = bm(0.0, 0.5)[:, 0], bm(0.5, 2.0)[:, 0]
    for d, var in ((d1, 0.5), (d2, 1.5)):
        assert abs(float(d.mean())) < 5 * math.sqrt(var / n)
        assert abs(float(d.var()) - var) < 5 * var * math.sqrt(2 / n)
    assert abs(float(torch.corrcoef(torch.stack([d1, d2]))[0, 1])) < 5 / math.sqrt(n)
    assert stats.kstest((d2 / math.sqrt(1.5)).numpy(), "norm").pvalue > 1e-3


def test_brownian_refinement_is_consistent_and_has_bridge_statistics():
    n = 20_000
    bm = S.BrownianPath(0.0, 1.0, (n, 1), dtype=F64, generator=gen(8))
    coarse = bm(0.0, 1.0)
    # refine afterwards, out of order: the values between are drawn from the bridge
    grid = [0.0, 0.25, 0.5, 0.75, 1.0]
    for t in (0.5, 0.25, 0.75):
        bm(t)
    fine = [bm(a, b) for a, b in zip(grid[:-1], grid[1:], strict=True)]
    assert torch.allclose(sum(fine), coarse, atol=1e-12)
    stacked = torch.cat(fine, 1)  # (n, 4) increments over 0.25-long intervals
    assert torch.allclose(
        stacked.var(0), torch.full((4,), 0.25, dtype=F64), atol=5 * 0.25 * math.sqrt(2 / n)
    )
    off = torch.corrcoef(stacked.T) - torch.eye(4, dtype=F64)
    assert float(off.abs().max()) < 5 / math.sqrt(n)
    # queries repeat exactly, and W(s), W(t) have covariance min(s, t)
    assert torch.equal(bm(0.0, 0.25), fine[0])
    w = torch.cat([bm(t) for t in (0.3, 0.8)], 1)
    assert float(torch.cov(w.T)[0, 1]) == pytest.approx(0.3, abs=5 * 0.8 / math.sqrt(n))


def test_brownian_path_is_reproducible_and_checks_arguments():
    a = S.BrownianPath(0.0, 1.0, (3, 2), dtype=F64, generator=gen(9))(0.2, 0.9)
    b = S.BrownianPath(0.0, 1.0, (3, 2), dtype=F64, generator=gen(9))(0.2, 0.9)
    assert torch.equal(a, b)
    with pytest.raises(ValueError, match="outside"):
        S.BrownianPath(0.0, 1.0, (3, 2))(0.5, 1.5)
    with pytest.raises(ValueError, match="t1 must be > t0"):
        S.BrownianPath(1.0, 1.0, (3, 2))
    with pytest.raises(ValueError, match="size"):
        S.BrownianPath(0.0, 1.0, (3,))


# ---------------------------------------------------------------------- torchsde


class _TorchsdeScalar(torch.nn.Module):
    noise_type, sde_type = "scalar", "ito"

    def f(self, t, y):
        return -y + torch.sin(t)

    def g(self, t, y):
        return (0.4 + 0.2 * torch.tanh(y))[..., None]


class _TorchsdeGeneral(torch.nn.Module):
    noise_type, sde_type = "general", "ito"

    def f(self, t, y):
        return -y

    def g(self, t, y):
        return torch.stack([torch.cos(y), 0.5 * torch.sin(y), 0 * y + 0.3], -1)  # (b, 2, 3)


@pytest.mark.parametrize(
    "sde, method, m",
    [
        (Nonlinear(), "euler", 2),
        (Nonlinear(), "milstein", 2),
        (_TorchsdeScalar(), "euler", 1),
        (_TorchsdeScalar(), "milstein", 1),
        (_TorchsdeGeneral(), "euler", 3),
    ],
)
def test_same_brownian_path_gives_torchsdes_solution(sde, method, m):
    y0 = torch.randn(64, 2, dtype=F64, generator=gen(10))
    ts = torch.tensor([0.0, 0.25, 1.0], dtype=F64)
    for bm in (
        S.BrownianPath(0.0, 1.0, (64, m), dtype=F64, generator=gen(11)),
        torchsde.BrownianInterval(0.0, 1.0, size=(64, m), dtype=F64, entropy=12),
    ):
        ours = S.sdeint(sde, y0, ts, bm=bm, method=method, dt=2**-6)
        theirs = torchsde.sdeint(sde, y0, ts, bm=bm, method=method, dt=2**-6).detach()
        assert ours.shape == theirs.shape == (3, 64, 2)
        assert torch.allclose(ours, theirs, atol=1e-6, rtol=0)


def test_distribution_matches_torchsde_with_independent_noise():
    n, ts = 4000, torch.tensor([0.0, 1.0], dtype=F64)
    y0 = torch.zeros(n, 2, dtype=F64)
    ours = S.sdeint(Nonlinear(), y0, ts, dt=0.02, generator=gen(13))[-1]
    bm = torchsde.BrownianInterval(0.0, 1.0, size=(n, 2), dtype=F64, entropy=14)
    theirs = torchsde.sdeint(Nonlinear(), y0, ts, bm=bm, dt=0.02, method="euler")[-1]
    for j in range(2):
        assert stats.ks_2samp(ours[:, j].numpy(), theirs[:, j].numpy()).pvalue > 1e-3
    se = (ours.var(0) / n + theirs.var(0) / n).sqrt()
    assert bool(((ours.mean(0) - theirs.mean(0)).abs() < 5 * se).all())


def test_a_torchsde_style_sde_with_defaults_runs_unchanged():
    # torchsde's own README example shape: batch 8, state 3, default dt, diagonal noise
    class Sde(torch.nn.Module):
        noise_type, sde_type = "diagonal", "ito"

        def __init__(self):
            super().__init__()
            self.lin = torch.nn.Linear(3, 3)

        def f(self, t, y):
            return self.lin(y)

        def g(self, t, y):
            return torch.sigmoid(y)

    ys = S.sdeint(Sde(), torch.full((8, 3), 0.1), torch.linspace(0, 0.1, 5))
    assert ys.shape == (5, 8, 3) and ys.dtype == torch.float32
    assert torch.equal(ys[0], torch.full((8, 3), 0.1))


# ---------------------------------------------------------------------- errors


def _ou_args():
    return OU(), torch.zeros(4, 2), torch.tensor([0.0, 1.0])


def test_errors_name_the_argument():
    sde, y0, ts = _ou_args()
    with pytest.raises(ValueError, match=r"unknown method 'heun'.*'euler', 'milstein'"):
        S.sdeint(sde, y0, ts, method="heun")
    with pytest.raises(ValueError, match="strictly increasing"):
        S.sdeint(sde, y0, torch.tensor([0.0, 0.5, 0.4]))
    with pytest.raises(ValueError, match="dt must be a positive"):
        S.sdeint(sde, y0, ts, dt=0.0)
    with pytest.raises(ValueError, match=r"y0 must have shape \(batch, dim\)"):
        S.sdeint(sde, torch.zeros(4), ts)
    with pytest.raises(ValueError, match="y0 contains NaN"):
        S.sdeint(sde, torch.full((4, 2), math.nan), ts)
    bad_f = S.SDE(lambda t, y: y[:, :1], lambda t, y: y)
    with pytest.raises(ValueError, match=r"sde.f\(t, y\) must return the shape of y0 \(4, 2\)"):
        S.sdeint(bad_f, y0, ts)
    bad_diag = S.SDE(lambda t, y: y, lambda t, y: y[..., None])
    with pytest.raises(ValueError, match=r"\(batch, d\) = \(4, 2\) for noise_type 'diagonal'"):
        S.sdeint(bad_diag, y0, ts)
    bad_scalar = S.SDE(lambda t, y: y, lambda t, y: y, noise_type="scalar")
    with pytest.raises(ValueError, match=r"\(batch, d, 1\) = \(4, 2, 1\) for noise_type 'scalar'"):
        S.sdeint(bad_scalar, y0, ts)
    general = S.SDE(lambda t, y: y, lambda t, y: torch.ones(4, 2, 3), noise_type="general")
    with pytest.raises(ValueError, match="milstein' needs noise_type"):
        S.sdeint(general, y0, ts, method="milstein")
    with pytest.raises(ValueError, match=r"bm must have shape \(batch, m\) = \(4, 3\)"):
        S.sdeint(general, y0, ts, bm=S.BrownianPath(0.0, 1.0, (4, 2)))
    with pytest.raises(ValueError, match="either bm"):
        S.sdeint(sde, y0, ts, bm=S.BrownianPath(0.0, 1.0, (4, 2)), generator=gen(0))
    with pytest.raises(ValueError, match="sde_type must be 'ito'"):
        strat = OU()
        strat.sde_type = "stratonovich"
        S.sdeint(strat, y0, ts)
    with pytest.raises(ValueError, match="noise_type must be one of"):
        S.SDE(lambda t, y: y, lambda t, y: y, noise_type="diag")
    with pytest.raises(TypeError, match="method f"):
        S.sdeint(object(), y0, ts)


def test_non_finite_state_names_the_time():
    # dy = y^2 dt from y0 = 1 blows up at t = 1; Euler with dt = 0.1 overflows after it
    blow = S.SDE(lambda t, y: y**2, lambda t, y: 0 * y)
    with pytest.raises(FloatingPointError, match=r"NaN or infinite at t=\d"):
        S.sdeint(blow, torch.ones(2, 1), torch.tensor([0.0, 5.0]), dt=0.1)
