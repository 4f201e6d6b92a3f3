import math

import pytest
import torch

import course_utils as cu
from course_utils import data


def gen(seed=0):
    return torch.Generator().manual_seed(seed)


@pytest.mark.parametrize("name", data.names())
def test_sample_shape_dtype_and_reproducible(name):
    ds = data.get(name)
    a = ds.sample(500, generator=gen(1))
    b = ds.sample(500, generator=gen(1))
    c = ds.sample(500, generator=gen(2))
    assert a.shape == (500, 2) and a.dtype == torch.float32
    assert torch.equal(a, b)
    assert not torch.equal(a, c)
    assert torch.isfinite(a).all()
    assert ds.sample(3, dtype=torch.float64).dtype == torch.float64


@pytest.mark.parametrize("name", ["gaussian_mixture", "eight_gaussians", "checkerboard"])
def test_log_prob_integrates_to_one(name):
    ds = data.get(name)
    # the checkerboard's density is piecewise constant on unit squares: a grid aligned
    # with the squares integrates it exactly
    total = cu.grid.integrate_density_2d(ds.log_prob, lim=5.0, n=400)
    assert abs(total - 1.0) < 1e-3, total


def test_mixture_log_prob_matches_closed_form_single_component():
    ds = data.GaussianMixture2D(means=[[1.0, -2.0]], stds=0.7)
    x = torch.tensor([[0.3, 0.1], [1.0, -2.0]], dtype=torch.float64)
    var = 0.49
    ref = -((x - torch.tensor([1.0, -2.0], dtype=torch.float64)) ** 2).sum(1) / (
        2 * var
    ) - math.log(2 * math.pi * var)
    assert torch.allclose(ds.log_prob(x), ref, atol=1e-12)


def test_mixture_log_prob_matches_sample_histogram():
    ds = data.get("gaussian_mixture")
    n = 200_000
    x = ds.sample(n, generator=gen(3), dtype=torch.float64)
    # probability of a box from samples versus from the density on a fine grid
    box = (x[:, 0] > -1.0) & (x[:, 0] < 0.5) & (x[:, 1] > -1.5) & (x[:, 1] < 0.0)
    frac = box.double().mean().item()
    xs, ys, pts, area = cu.grid.grid_2d((-1.0, 0.5, -1.5, 0.0), n=300)
    mass = float(torch.exp(ds.log_prob(pts)).sum() * area)
    se = math.sqrt(mass * (1 - mass) / n)
    assert abs(frac - mass) < 5 * se, (frac, mass, se)


def test_checkerboard_samples_lie_on_dark_squares():
    ds = data.get("checkerboard")
    x = ds.sample(10_000, generator=gen(4), dtype=torch.float64)
    assert torch.isfinite(ds.log_prob(x)).all()
    assert (x.abs() <= 2).all()
    # all 8 squares are used, roughly equally
    cells = torch.floor(x + 2.0)
    ids = (cells[:, 1] * 4 + cells[:, 0]).long()
    counts = torch.bincount(ids, minlength=16)
    assert (counts > 0).sum() == 8
    assert counts.max() < 1.15 * counts[counts > 0].min()


def test_entropy_of_single_gaussian():
    ds = data.GaussianMixture2D(means=[[0.0, 0.0]], stds=0.5)
    exact = 1 + math.log(2 * math.pi * 0.25)  # entropy of N(0, s^2 I_2): 1 + log(2 pi s^2)
    assert abs(ds.entropy(n=100_000) - exact) < 0.02


def test_checkerboard_entropy_is_log8():
    assert abs(data.get("checkerboard").entropy(n=10_000) - math.log(8)) < 1e-12


def test_rings_radii():
    ds = data.Rings(radii=(1.0, 2.0), noise=0.0)
    r = ds.sample(1000, generator=gen(5), dtype=torch.float64).norm(dim=1)
    assert torch.all(
        torch.isclose(r, torch.tensor(1.0, dtype=torch.float64))
        | torch.isclose(r, torch.tensor(2.0, dtype=torch.float64))
    )
    # rings chosen proportional to circumference: P(outer) = 2/3
    assert abs((r > 1.5).double().mean().item() - 2 / 3) < 0.05


def test_two_moons_roughly_centred():
    x = data.get("two_moons").sample(20_000, generator=gen(6), dtype=torch.float64)
    assert x.mean(0).abs().max() < 0.1
    assert 0.5 < x.std(0).min() and x.std(0).max() < 1.5


def test_bad_inputs_give_clear_errors():
    ds = data.get("gaussian_mixture")
    with pytest.raises(ValueError, match="n must be a positive int"):
        ds.sample(0)
    with pytest.raises(TypeError, match="generator must be a torch.Generator"):
        ds.sample(3, generator=0)
    with pytest.raises(ValueError, match=r"shape \(batch, 2\)"):
        ds.log_prob(torch.zeros(3))
    with pytest.raises(ValueError, match="unknown data set 'moons'"):
        data.get("moons")
    with pytest.raises(NotImplementedError, match="no closed-form density"):
        data.get("two_moons").log_prob(torch.zeros(2, 2))
    with pytest.raises(ValueError, match="stds must be positive"):
        data.GaussianMixture2D(means=[[0.0, 0.0]], stds=-1.0)


@pytest.mark.parametrize(
    "make, exc, match",
    [
        (
            lambda: data.GaussianMixture2D([[0, 0], [1, 1]], 0.5, [math.nan, 1.0]),
            ValueError,
            "weights contains NaN",
        ),
        (
            lambda: data.GaussianMixture2D([[0, math.nan], [1, 1]], 0.5),
            ValueError,
            "means contains NaN",
        ),
        (lambda: data.GaussianMixture2D([[0, 0]], math.inf), ValueError, "stds contains NaN"),
        (lambda: data.GaussianMixture2D([[0, 0]], "a"), TypeError, "stds must be numeric"),
        (lambda: data.TwoMoons(noise=math.nan), ValueError, "noise must be a finite number >= 0"),
        (lambda: data.TwoMoons(noise=-0.1), ValueError, "noise must be a finite number >= 0"),
        (
            lambda: data.TwoMoons(noise="0.1"),
            TypeError,
            "noise must be a finite number >= 0, got str",
        ),
        (lambda: data.Rings(noise=math.nan), ValueError, "noise must be a finite number >= 0"),
        (lambda: data.Rings(radii=()), ValueError, "radii must be a non-empty 1-D list"),
        (lambda: data.Rings(radii=(1.0, math.nan)), ValueError, "radii contains NaN"),
        (
            lambda: data.EightGaussians(radius=math.nan),
            ValueError,
            "radius must be a finite number > 0",
        ),
        (lambda: data.EightGaussians(std=0.0), ValueError, r"^std must be a finite number > 0"),
    ],
)
def test_bad_constructor_arguments_are_named(make, exc, match):
    with pytest.raises(exc, match=match):
        make()


@pytest.mark.parametrize("name", data.names())
def test_sample_requires_a_floating_dtype(name):
    with pytest.raises(TypeError, match="dtype must be a floating torch dtype"):
        data.get(name).sample(3, dtype=torch.long)


def test_valid_constructor_arguments_still_work():
    assert torch.isfinite(data.TwoMoons(noise=0).sample(5, generator=gen())).all()
    assert torch.isfinite(data.Rings(radii=[1.0], noise=torch.tensor(0.1)).sample(5)).all()
    e = data.EightGaussians(radius=3, std=0.1)
    assert torch.allclose(e.means.norm(dim=1), torch.full((8,), 3.0, dtype=torch.float64))
    assert e.sample(4, dtype=torch.float16).dtype == torch.float16
