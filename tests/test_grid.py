import math

import pytest
import torch

from course_utils import grid


def test_grid_layout():
    xs, ys, pts, area = grid.grid_2d((0.0, 1.0, 0.0, 2.0), n=4)
    assert torch.allclose(xs, torch.tensor([0.125, 0.375, 0.625, 0.875], dtype=torch.float64))
    assert torch.allclose(ys, torch.tensor([0.25, 0.75, 1.25, 1.75], dtype=torch.float64))
    assert area == pytest.approx(0.125)
    # row-major: y slowest, so reshape(n, n)[iy, ix]
    assert torch.equal(pts.reshape(4, 4, 2)[2, 1], torch.stack([xs[1], ys[2]]))


def test_integrates_gaussian_and_polynomial():
    logp = lambda x: -0.5 * (x**2).sum(1) - math.log(2 * math.pi)
    assert grid.integrate_density_2d(logp, lim=7.0, n=300) == pytest.approx(1.0, abs=1e-10)
    # midpoint rule integrates x^2 on [0,1]^2 with error -h^2/12 * (area): check the order
    f = lambda x: torch.log(x[:, 0] ** 2)
    for n in (10, 20):
        err = grid.integrate_density_2d(f, lim=(0.0, 1.0), n=n) - 1 / 3
        assert err == pytest.approx(-1 / (12 * n**2), rel=1e-9)


def test_bad_arguments():
    with pytest.raises(ValueError, match="lim must be"):
        grid.grid_2d((1.0, 0.0))
    with pytest.raises(ValueError, match="n must be an int >= 2"):
        grid.grid_2d(1.0, n=1)
    with pytest.raises(ValueError, match=r"log_prob must map \(batch, 2\) to \(batch,\)"):
        grid.integrate_density_2d(lambda x: x, lim=1.0, n=4)


GAUSS = lambda x: -0.5 * (x**2).sum(1) - math.log(2 * math.pi)  # noqa: E731


@pytest.mark.parametrize("lim", [math.nan, math.inf, (math.nan, 3.0), (0.0, 1.0, -math.inf, 1.0)])
def test_non_finite_lim_is_rejected(lim):
    with pytest.raises(ValueError, match="lim must be finite"):
        grid.grid_2d(lim)
    with pytest.raises(ValueError, match="lim must be finite"):
        grid.integrate_density_2d(GAUSS, lim=lim)


def test_lim_type_errors_are_clear():
    with pytest.raises(TypeError, match="lim must be a number L"):
        grid.grid_2d(None)
    with pytest.raises(TypeError, match="lim must be a number L"):
        grid.grid_2d("3")
    with pytest.raises(ValueError, match="lim must be a number L"):
        grid.grid_2d((0.0, 1.0, 2.0))
    # a 0-d tensor is a number, a 1-D tensor a tuple
    assert grid.grid_2d(torch.tensor(3.0), n=4)[3] == grid.grid_2d(3.0, n=4)[3]
    assert grid.grid_2d(torch.tensor([0.0, 1.0]), n=4)[3] == pytest.approx(1 / 16)


def test_dtype_must_be_floating():
    with pytest.raises(TypeError, match="dtype must be a floating torch dtype"):
        grid.evaluate_on_grid(GAUSS, 3.0, 4, dtype=torch.long)
    with pytest.raises(TypeError, match="dtype must be a floating torch dtype"):
        grid.grid_2d(3.0, 4, dtype=torch.int32)
    assert grid.grid_2d(3.0, 4, dtype=torch.float32)[2].dtype == torch.float32


def test_batch_size_must_be_a_positive_int():
    for bad in (0, -1):
        with pytest.raises(ValueError, match="batch_size must be a positive int"):
            grid.evaluate_on_grid(GAUSS, 3.0, 4, batch_size=bad)
    with pytest.raises(TypeError, match="batch_size must be a positive int"):
        grid.evaluate_on_grid(GAUSS, 3.0, 4, batch_size=2.5)
    a = grid.evaluate_on_grid(GAUSS, 3.0, 5, batch_size=3)[2]
    b = grid.evaluate_on_grid(GAUSS, 3.0, 5)[2]
    assert torch.equal(a, b)
