"""Tests for course_utils.change_of_variables against closed forms, scipy and torch."""

import math

import numpy as np
import pytest
import torch
from scipy import stats

from course_utils import change_of_variables as cov
from course_utils.grid import integrate_density_2d

D64 = torch.float64
A = torch.tensor([[2.0, 1.0], [1.0, 3.0]], dtype=D64)


def _points(n=7, dim=2, seed=0):
    g = torch.Generator().manual_seed(seed)
    return torch.randn(n, dim, generator=g, dtype=D64)


def _nonlinear(z):
    return torch.stack([2 * z[:, 0] + torch.sin(z[:, 1]), z[:, 1] ** 2], dim=1)


def _box_muller(u):
    r = torch.sqrt(-2 * torch.log(u[:, 0]))
    th = 2 * math.pi * u[:, 1]
    return torch.stack([r * torch.cos(th), r * torch.sin(th)], dim=1)


def _box_muller_inv(z):
    u1 = torch.exp(-0.5 * (z**2).sum(1))
    u2 = torch.remainder(torch.atan2(z[:, 1], z[:, 0]), 2 * math.pi) / (2 * math.pi)
    return torch.stack([u1, u2], dim=1)


def test_standard_normal_matches_scipy():
    z = _points(5, 3)
    want = stats.multivariate_normal(np.zeros(3), np.eye(3)).logpdf(z.numpy())
    np.testing.assert_allclose(cov.standard_normal_log_prob(z).numpy(), want, rtol=1e-13)


def test_batch_jacobian_linear_is_the_matrix():
    jac = cov.batch_jacobian(lambda z: z @ A.T, _points())
    assert jac.shape == (7, 2, 2)
    torch.testing.assert_close(jac, A.expand(7, 2, 2), rtol=0, atol=1e-14)


def test_batch_jacobian_nonlinear_closed_form_and_per_sample_autograd():
    z = _points(6)
    jac = cov.batch_jacobian(_nonlinear, z)
    want = torch.zeros(6, 2, 2, dtype=D64)
    want[:, 0, 0] = 2
    want[:, 0, 1] = torch.cos(z[:, 1])
    want[:, 1, 1] = 2 * z[:, 1]
    torch.testing.assert_close(jac, want, rtol=1e-14, atol=1e-14)
    for b in range(6):  # independent: torch's per-point Jacobian
        one = torch.autograd.functional.jacobian(lambda v: _nonlinear(v[None])[0], z[b])
        torch.testing.assert_close(jac[b], one, rtol=1e-14, atol=1e-14)


def test_batch_jacobian_rectangular_and_constant():
    z = _points(3, 2)
    jac = cov.batch_jacobian(lambda v: torch.stack([v[:, 0] * v[:, 1]] * 3, 1), z)
    assert jac.shape == (3, 3, 2)
    torch.testing.assert_close(jac[:, 2, 0], z[:, 1])
    zero = cov.batch_jacobian(lambda v: torch.ones(v.shape[0], 2, dtype=D64), z)
    assert torch.equal(zero, torch.zeros(3, 2, 2, dtype=D64))


def test_create_graph_gives_parameter_gradients():
    # training a flow needs d/dtheta of log|det|: f(z) = theta * z in 2-D has
    # log|det| = 2 log|theta| and derivative 2 / theta
    theta = torch.tensor(1.7, dtype=D64, requires_grad=True)
    ld = cov.log_abs_det_jacobian(lambda v: theta * v, _points(4), create_graph=True)
    (grad,) = torch.autograd.grad(ld.sum(), theta)
    torch.testing.assert_close(grad, torch.tensor(4 * 2 / 1.7, dtype=D64))
    ld_plain = cov.log_abs_det_jacobian(lambda v: theta * v, _points(4))
    assert not ld_plain.requires_grad


def test_log_abs_det_closed_forms():
    z = _points()
    ld = cov.log_abs_det_jacobian(lambda v: v @ A.T, z)
    torch.testing.assert_close(ld, torch.full((7,), math.log(5.0), dtype=D64))
    ld = cov.log_abs_det_jacobian(_nonlinear, z)
    torch.testing.assert_close(ld, torch.log(4 * z[:, 1].abs()), rtol=1e-13, atol=1e-13)
    ld = cov.log_abs_det_jacobian(_nonlinear, torch.tensor([[0.3, 0.0]], dtype=D64))
    assert ld.item() == -math.inf


@pytest.mark.parametrize("jacobian_of", ["forward", "inverse"])
def test_affine_pushforward_is_gaussian(jacobian_of):
    b = torch.tensor([1.0, -2.0], dtype=D64)
    B = torch.tensor([[2.0, 1.0], [0.0, 3.0]], dtype=D64)  # not symmetric on purpose
    fwd = lambda z: z @ B.T + b  # noqa: E731
    inv = lambda x: torch.linalg.solve(B, (x - b).T).T  # noqa: E731
    x = 3 * _points(9)
    got = cov.log_prob_after(
        fwd, cov.standard_normal_log_prob, x, inverse=inv, jacobian_of=jacobian_of
    )
    want = stats.multivariate_normal(b.numpy(), (B @ B.T).numpy()).logpdf(x.numpy())
    np.testing.assert_allclose(got.numpy(), want, rtol=1e-12)


def test_box_muller_pushforward_of_uniform_is_standard_normal():
    def log_uniform(u):
        inside = ((u > 0) & (u < 1)).all(1)
        return torch.where(inside, 0.0, -math.inf).to(u.dtype)

    z = 2 * _points(8)
    for mode in ("forward", "inverse"):
        got = cov.log_prob_after(
            _box_muller, log_uniform, z, inverse=_box_muller_inv, jacobian_of=mode
        )
        want = stats.norm.logpdf(z.numpy()).sum(1)
        np.testing.assert_allclose(got.numpy(), want, rtol=1e-11)


def test_branches_give_chi_square_in_1d():
    x = torch.tensor([[0.05], [0.7], [2.0], [6.5]], dtype=D64)
    branches = [lambda v: v.sqrt(), lambda v: -v.sqrt()]
    got = cov.log_prob_after_branches(
        lambda z: z**2, cov.standard_normal_log_prob, x, inverses=branches
    )
    np.testing.assert_allclose(got.numpy(), stats.chi2(1).logpdf(x[:, 0].numpy()), rtol=1e-12)
    one = cov.log_prob_after(lambda z: z**2, cov.standard_normal_log_prob, x, inverse=branches[0])
    # one branch alone is off by exactly log 2 for a symmetric base: half the mass is missing
    np.testing.assert_allclose((got - one).numpy(), math.log(2.0), rtol=1e-12)


def test_branches_nonlinear_map_integrates_to_one():
    def inv(sign):
        def f(x):
            z2 = sign * x[:, 1].clamp_min(0).sqrt()
            return torch.stack([(x[:, 0] - torch.sin(z2)) / 2, z2], 1)

        return f

    def logp(x):
        out = cov.log_prob_after_branches(
            _nonlinear, cov.standard_normal_log_prob, x, inverses=[inv(1.0), inv(-1.0)]
        )
        return torch.where(x[:, 1] > 0, out, -math.inf)

    # the density behaves like 1/sqrt(x2) at x2 = 0: integrate graded strips in x2
    edges = [0.0] + [10.0**k for k in range(-12, 2)] + [40.0]
    total = sum(
        integrate_density_2d(logp, lim=(-14.0, 14.0, lo, hi), n=60)
        for lo, hi in zip(edges[:-1], edges[1:], strict=True)
    )
    assert abs(total - 1.0) < 2e-3


def test_histogram_tv_exact_cases():
    # 1-D uniform density on [0, 1]: samples at bin centres, equal counts -> distance 0
    logu = lambda x: torch.zeros(x.shape[0], dtype=D64)  # noqa: E731
    centres = (torch.arange(10, dtype=D64) + 0.5) / 10
    s = centres.repeat(3)[:, None]
    assert cov.histogram_tv(s, logu, (0.0, 1.0), bins=10) == pytest.approx(0.0, abs=1e-12)
    # all samples in one bin: TV = 1 - 1/10
    s = torch.full((50, 1), 0.05, dtype=D64)
    assert cov.histogram_tv(s, logu, (0.0, 1.0), bins=10) == pytest.approx(0.9, abs=1e-12)
    # half the samples outside the window: they meet the model's zero outside mass
    s = torch.cat([centres[:, None], torch.full((10, 1), 5.0, dtype=D64)])
    assert cov.histogram_tv(s, logu, (0.0, 1.0), bins=10) == pytest.approx(0.5, abs=1e-12)


def test_histogram_tv_exact_cdf_matches_midpoint_for_smooth_density():
    g = torch.Generator().manual_seed(2)
    s = torch.randn(5_000, 1, generator=g, dtype=D64)
    ncdf = lambda x: torch.special.ndtr(x[:, 0])  # noqa: E731
    mid = cov.histogram_tv(s, cov.standard_normal_log_prob, (-4.0, 4.0), bins=16, refine=64)
    exact = cov.histogram_tv(s, cov.standard_normal_log_prob, (-4.0, 4.0), bins=16, cdf=ncdf)
    assert exact == pytest.approx(mid, abs=1e-4)
    # a singular density: X = Z^3, CDF Phi(x^(1/3)); the exact bins beat the midpoint rule
    x = s**3
    cube_cdf = lambda v: torch.special.ndtr(torch.sign(v[:, 0]) * v[:, 0].abs() ** (1 / 3))  # noqa: E731
    model_at_edges = cube_cdf(torch.tensor([[-2.0], [2.0]], dtype=D64))
    assert float(model_at_edges[1] - model_at_edges[0]) == pytest.approx(
        math.erf(2 ** (1 / 3) / math.sqrt(2)), rel=1e-12
    )
    tv = cov.histogram_tv(x, cov.standard_normal_log_prob, (-2.0, 2.0), bins=20, cdf=cube_cdf)
    assert tv < 0.03
    with pytest.raises(ValueError, match="non-decreasing"):
        cov.histogram_tv(x, cov.standard_normal_log_prob, (-2.0, 2.0), cdf=lambda v: -v[:, 0])
    with pytest.raises(ValueError, match="only supported for 1-D"):
        cov.histogram_tv(torch.zeros(3, 2, dtype=D64), cov.standard_normal_log_prob, 2.0, cdf=ncdf)


def test_histogram_tv_2d_orientation_and_values():
    # density uniform on [0,1]^2; samples in the bottom-left bin only
    logu = lambda x: torch.zeros(x.shape[0], dtype=D64)  # noqa: E731
    s = torch.tensor([[0.1, 0.9]] * 4, dtype=D64)  # top-left cell of a 2x2 grid
    tv = cov.histogram_tv(s, logu, (0.0, 1.0, 0.0, 1.0), bins=2, refine=1)
    assert tv == pytest.approx(0.75, abs=1e-12)
    # exact samples of a Gaussian: small distance; a wrong scale: large distance
    g = torch.Generator().manual_seed(1)
    z = torch.randn(20_000, 2, generator=g, dtype=D64)
    good = cov.histogram_tv(z, cov.standard_normal_log_prob, 4.0, bins=20)
    bad = cov.histogram_tv(2 * z, cov.standard_normal_log_prob, 4.0, bins=20)
    assert good < 0.05 < 0.3 < bad


def test_errors_name_the_argument():
    z = _points()
    with pytest.raises(ValueError, match="z must have shape"):
        cov.batch_jacobian(_nonlinear, z[:, 0])
    with pytest.raises(TypeError, match="f must be a callable"):
        cov.batch_jacobian("not a map", z)
    with pytest.raises(TypeError, match="z must be a torch.Tensor"):
        cov.log_abs_det_jacobian(_nonlinear, z.numpy())
    with pytest.raises(ValueError, match="R\\^d to R\\^d"):
        cov.log_abs_det_jacobian(lambda v: v[:, :1], z)
    with pytest.raises(ValueError, match="jacobian_of"):
        cov.log_prob_after(
            _nonlinear, cov.standard_normal_log_prob, z, inverse=lambda x: x, jacobian_of="both"
        )
    with pytest.raises(ValueError, match="base_log_prob must map"):
        cov.log_prob_after(_nonlinear, lambda v: v, z, inverse=lambda x: x)
    with pytest.raises(TypeError, match="inverses"):
        cov.log_prob_after_branches(_nonlinear, cov.standard_normal_log_prob, z, inverses=[])
    with pytest.raises(ValueError, match="1 or 2 columns"):
        cov.histogram_tv(_points(5, 3), cov.standard_normal_log_prob, 3.0)
    with pytest.raises(ValueError, match="bins"):
        cov.histogram_tv(z, cov.standard_normal_log_prob, 3.0, bins=0)
    with pytest.raises(ValueError, match="lim"):
        cov.histogram_tv(z[:, :1], cov.standard_normal_log_prob, (1.0, 0.0))


def test_histogram_tv_rejects_nan_samples_and_empty_samples():
    g = torch.Generator().manual_seed(0)
    s = torch.randn(1000, 1, generator=g, dtype=torch.float64)
    s[::2] = math.nan  # used to count as mass outside the window (TV ~ 0.5)
    with pytest.raises(ValueError, match="samples contains NaN or infinite"):
        cov.histogram_tv(s, cov.standard_normal_log_prob, (-4.0, 4.0))
    s2 = torch.randn(100, 2, generator=g, dtype=torch.float64)
    s2[0, 1] = math.nan
    with pytest.raises(ValueError, match="samples contains NaN or infinite"):
        cov.histogram_tv(s2, cov.standard_normal_log_prob, 4.0)
    with pytest.raises(ValueError, match="samples must have at least one row"):
        cov.histogram_tv(
            torch.zeros(0, 1, dtype=torch.float64), cov.standard_normal_log_prob, (-4.0, 4.0)
        )


@pytest.mark.parametrize("lim", [(-math.inf, math.inf), (math.nan, 1.0), (0.0, math.inf)])
def test_histogram_tv_rejects_non_finite_window(lim):
    s = torch.randn(50, 1, dtype=torch.float64)
    with pytest.raises(ValueError, match="lim must be finite"):
        cov.histogram_tv(s, cov.standard_normal_log_prob, lim)
    with pytest.raises(ValueError, match="lim must be finite"):
        cov.histogram_tv(torch.randn(50, 2, dtype=torch.float64), cov.standard_normal_log_prob, lim)
