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
