"""Tests for course_utils.splines: inverse to round-off, log-det against autograd."""

import pytest
import torch

from course_utils import flows, splines

F64 = torch.float64


def _random(n=400, k=6, seed=0, scale=2.0):
    g = torch.Generator().manual_seed(seed)
    x = 5.0 * torch.rand(n, generator=g, dtype=F64) - 2.5  # inside and outside [-2, 2]
    params = scale * torch.randn(n, 3 * k - 1, generator=g, dtype=F64)
    return x, params


def test_spline_inverse_to_round_off_and_monotone():
    x, params = _random()
    y, ld = splines.rational_quadratic_spline(x, params, bound=2.0)
    back, ld_inv = splines.rational_quadratic_spline(y, params, bound=2.0, inverse=True)
    # round-off in y (1e-16) becomes 1e-16 / g'(x) in x: flat bins amplify it
    assert bool(((back - x).abs() <= 1e-12 + 1e-14 * torch.exp(-ld)).all())
    assert torch.allclose(ld_inv, -ld, atol=1e-8, rtol=0)
    again, _ = splines.rational_quadratic_spline(back, params, bound=2.0)
    assert torch.allclose(again, y, atol=1e-13, rtol=0)
    # one parameter row for all points: g must be increasing along a grid
    grid = torch.linspace(-3, 3, 2001, dtype=F64)
    gy, _ = splines.rational_quadratic_spline(grid, params[:1].expand(2001, -1), bound=2.0)
    assert bool((gy.diff() > 0).all())
    # identity outside [-bound, bound], and the interval onto itself
    out = x.abs() > 2.0
    assert torch.equal(y[out], x[out]) and bool((ld[out] == 0).all())
    assert bool((y[~out].abs() <= 2.0 + 1e-12).all())


def test_spline_log_det_matches_autograd():
    x, params = _random(seed=1)
    x = x.clone().requires_grad_(True)
    for inverse in (False, True):
        y, ld = splines.rational_quadratic_spline(x, params, bound=2.0, inverse=inverse)
        (grad,) = torch.autograd.grad(y.sum(), x)  # elementwise map: dy_i/dx_i
        assert torch.allclose(ld, grad.log(), atol=1e-10, rtol=0)


def test_spline_passes_through_its_knots():
    # K = 2 bins, raw widths (0, log 3): width fractions w = m + (1 - 2m) softmax
    params = torch.tensor([[0.0, 3.0, 0.0, 0.0, 0.0]], dtype=F64).log1p()
    # widths from softmax([0, log 4]) = (1/5, 4/5); heights uniform: knot x = -1 + 2(1/5)
    m = 1e-3
    x_knot = -1 + 2 * (m + (1 - 2 * m) / 5)
    y, ld = splines.rational_quadratic_spline(torch.tensor([x_knot], dtype=F64), params, bound=1.0)
    assert float(y[0]) == pytest.approx(0.0, abs=1e-12)  # the middle height knot
    # the derivative at an interior knot is softplus(0 + shift) + m = 1
    assert float(ld[0]) == pytest.approx(0.0, abs=1e-9)


def test_spline_coupling_is_a_bijection_with_the_autograd_log_det():
    torch.manual_seed(0)
    layer = splines.SplineCoupling([1.0, 0.0, 1.0], bins=5, hidden=16, bound=2.0).double()
    with torch.no_grad():  # leave the identity start
        for p in layer.parameters():
            p.add_(0.5 * torch.randn_like(p))
    z = 1.5 * torch.randn(64, 3, generator=torch.Generator().manual_seed(1), dtype=F64)
    x, ld = layer(z)
    assert torch.equal(x[:, [0, 2]], z[:, [0, 2]])
    assert not torch.allclose(x[:, 1], z[:, 1])
    back, ld_inv = layer.inverse(x)
    assert torch.allclose(back, z, atol=1e-12, rtol=0)
    assert torch.allclose(ld_inv, -ld, atol=1e-10)
    for i in range(0, 64, 16):
        jac = torch.autograd.functional.jacobian(lambda v: layer(v[None])[0][0], z[i])
        assert float(ld[i].detach()) == pytest.approx(
            float(torch.linalg.slogdet(jac)[1]), abs=1e-10
        )


def test_neural_spline_flow_log_prob_is_a_density_and_starts_at_identity():
    torch.manual_seed(0)
    flow = splines.neural_spline_flow(2, n_layers=2, bins=4, hidden=8).double()
    x = torch.randn(10, 2, generator=torch.Generator().manual_seed(2), dtype=F64)
    assert torch.allclose(flow.log_prob(x), flows.standard_normal_log_prob(x), atol=1e-12)
    with torch.no_grad():
        for p in flow.parameters():
            p.add_(0.3 * torch.randn_like(p))
    # integrates to 1 on a grid wide enough for the (perturbed) density
    t = torch.linspace(-9, 9, 361, dtype=F64)
    grid = torch.stack(torch.meshgrid(t, t, indexing="ij"), -1).reshape(-1, 2)
    mass = float(flow.log_prob(grid).exp().sum()) * float(t[1] - t[0]) ** 2
    assert mass == pytest.approx(1.0, abs=5e-3)


def test_bad_arguments_name_themselves():
    with pytest.raises(ValueError, match="params must have 3K - 1"):
        splines.rational_quadratic_spline(torch.zeros(3), torch.zeros(3, 4))
    with pytest.raises(ValueError, match="bound"):
        splines.rational_quadratic_spline(torch.zeros(3), torch.zeros(3, 5), bound=0.0)
    with pytest.raises(ValueError, match="mask"):
        splines.SplineCoupling([1.0, 1.0])
    with pytest.raises(ValueError, match="bins"):
        splines.SplineCoupling([1.0, 0.0], bins=0)
