"""Tests for course_utils.metrics against closed forms, scipy and brute force."""

import itertools
import math

import numpy as np
import pytest
import torch
from scipy import stats

from course_utils import metrics

F64 = torch.float64


def _g(seed):
    return torch.Generator().manual_seed(seed)


# --------------------------------------------------------------------------- energy distance


def test_energy_distance_matches_scipy_in_1d():
    # scipy's energy_distance is sqrt(2 int (F - G)^2) = sqrt of our V-statistic D^2
    x = torch.randn(57, 1, generator=_g(0), dtype=F64)
    y = 0.7 * torch.randn(83, 1, generator=_g(1), dtype=F64) + 0.4
    ours = metrics.energy_distance(x, y)
    ref = stats.energy_distance(x[:, 0].numpy(), y[:, 0].numpy()) ** 2
    assert ours == pytest.approx(ref, rel=1e-10, abs=1e-14)


def test_energy_distance_of_point_masses():
    # all x at a, all y at b: D^2 = 2 |a - b| - 0 - 0
    a = torch.tensor([[1.0, -2.0]], dtype=F64)
    b = torch.tensor([[4.0, 2.0]], dtype=F64)
    assert metrics.energy_distance(a.repeat(3, 1), b.repeat(5, 1)) == pytest.approx(10.0, rel=1e-14)


def test_energy_distance_brute_force_and_invariances():
    x = torch.randn(20, 3, generator=_g(2), dtype=F64)
    y = torch.randn(15, 3, generator=_g(3), dtype=F64) + 0.5

    def mean_dist(a, b):
        return np.mean([float(torch.linalg.norm(p - q)) for p in a for q in b])

    brute = 2 * mean_dist(x, y) - mean_dist(x, x) - mean_dist(y, y)
    value = metrics.energy_distance(x, y)
    assert value == pytest.approx(brute, rel=1e-12)
    assert metrics.energy_distance(y, x) == pytest.approx(value, rel=1e-12)
    q, _ = torch.linalg.qr(torch.randn(3, 3, generator=_g(4), dtype=F64))
    shift = torch.tensor([1.0, -3.0, 2.0], dtype=F64)
    assert metrics.energy_distance(x @ q.T + shift, y @ q.T + shift) == pytest.approx(
        value, rel=1e-10
    )
    assert metrics.energy_distance(x, x) == pytest.approx(0.0, abs=1e-12)


def test_energy_distance_population_value_for_shifted_gaussians():
    # X ~ N(0,1), Y ~ N(mu,1): D^2 = 2 E|X-Y| - 2 E|X-X'|, with E|N(m, s^2)| in closed form
    def mean_abs(m, s):
        return s * math.sqrt(2 / math.pi) * math.exp(-(m**2) / (2 * s**2)) + m * (
            1 - 2 * stats.norm.cdf(-m / s)
        )

    mu, n = 1.0, 3000
    exact = 2 * mean_abs(mu, math.sqrt(2)) - 2 * mean_abs(0.0, math.sqrt(2))
    x = torch.randn(n, 1, generator=_g(5), dtype=F64)
    y = torch.randn(n, 1, generator=_g(6), dtype=F64) + mu
    # V-statistic bias (1/n + 1/n) E|X - X'| is removed; the rest is Monte Carlo error
    bias = 2 / n * mean_abs(0.0, math.sqrt(2))
    assert metrics.energy_distance(x, y) - bias == pytest.approx(exact, rel=0.05)


def test_energy_distance_floor_scales_like_one_over_n():
    # between two samples of the same law, E[D^2_V] = (1/n + 1/m) E||X - X'||
    exp_dist = 2 / math.sqrt(math.pi)  # E|X - X'| for N(0, 1)
    vals = []
    for seed in range(20):
        x = torch.randn(200, 1, generator=_g(100 + seed), dtype=F64)
        y = torch.randn(200, 1, generator=_g(200 + seed), dtype=F64)
        vals.append(metrics.energy_distance(x, y))
    assert np.mean(vals) == pytest.approx(2 / 200 * exp_dist, rel=0.2)
    big = torch.randn(3000, 1, generator=_g(300), dtype=F64)
    floor = metrics.energy_distance_floor(big, 200, 200)
    assert floor == pytest.approx(2 / 200 * exp_dist, rel=0.03)
    assert np.mean(vals) == pytest.approx(floor, rel=0.2)


def test_energy_distance_floor_formula():
    x = torch.randn(12, 2, generator=_g(301), dtype=F64)
    pairs = [float(torch.linalg.norm(x[i] - x[j])) for i in range(12) for j in range(12) if i != j]
    assert metrics.energy_distance_floor(x, 10, 40) == pytest.approx(
        (1 / 10 + 1 / 40) * np.mean(pairs), rel=1e-12
    )
    with pytest.raises(ValueError, match="n must be"):
        metrics.energy_distance_floor(x, 0, 5)


def _reference_mean(a, b, kernel):
    # the definition before the tiled version: one full cdist, squared, then the kernel
    d2 = torch.cdist(a, b, compute_mode="donot_use_mm_for_euclid_dist") ** 2
    return float(kernel(d2).mean())


@pytest.mark.parametrize(("n", "m", "dim"), [(1, 1, 1), (37, 1100, 3), (1300, 600, 2)])
def test_tiled_metrics_match_the_untiled_definition(n, m, dim):
    # sizes below, across and not multiples of the tile side (512)
    x = torch.randn(n, dim, generator=_g(400 + n), dtype=F64)
    y = 1.3 * torch.randn(m, dim, generator=_g(500 + m), dtype=F64) + 0.2
    ref = (
        2 * _reference_mean(x, y, torch.sqrt)
        - _reference_mean(x, x, torch.sqrt)
        - _reference_mean(y, y, torch.sqrt)
    )
    assert metrics.energy_distance(x, y) == pytest.approx(max(ref, 0.0), rel=1e-11, abs=1e-15)
    h = 0.7

    def k(d2):
        return torch.exp(-d2 / (2 * h * h))

    biased = _reference_mean(x, x, k) + _reference_mean(y, y, k) - 2 * _reference_mean(x, y, k)
    assert metrics.mmd2(x, y, h, unbiased=False) == pytest.approx(biased, rel=1e-11, abs=1e-15)
    if n >= 2:
        floor = (1 / 10 + 1 / 20) * _reference_mean(x, x, torch.sqrt) * n / (n - 1)
        assert metrics.energy_distance_floor(x, 10, 20) == pytest.approx(floor, rel=1e-11)


def test_sample_metrics_work_in_bounded_tiles(monkeypatch):
    # no distance matrix larger than a tile is ever built, whatever the cloud sizes
    shapes = []
    cdist = torch.cdist

    def spy(a, b, **kw):
        shapes.append((a.shape[0], b.shape[0]))
        return cdist(a, b, **kw)

    monkeypatch.setattr(torch, "cdist", spy)
    x = torch.randn(2100, 2, generator=_g(600), dtype=F64)
    y = torch.randn(1700, 2, generator=_g(601), dtype=F64)
    metrics.energy_distance(x, y)
    metrics.mmd2(x, y)
    metrics.energy_distance_floor(x, 5, 5)
    assert shapes and max(a * b for a, b in shapes) <= 512 * 512
    # the within-sample means use symmetry: about half the tiles of x-x are computed
    shapes.clear()
    metrics.energy_distance_floor(x, 5, 5)
    assert sum(a * b for a, b in shapes) < 0.65 * 2100 * 2100


# --------------------------------------------------------------------------- MMD


def test_mmd_of_point_masses():
    h, a, b = 0.8, torch.zeros(1, 2, dtype=F64), torch.tensor([[0.6, 0.8]], dtype=F64)
    value = metrics.mmd2(a.repeat(4, 1), b.repeat(3, 1), bandwidth=h, unbiased=False)
    assert value == pytest.approx(2 - 2 * math.exp(-1.0 / (2 * h * h)), rel=1e-13)


def test_mmd_unbiased_matches_double_loop():
    x = torch.randn(9, 2, generator=_g(7), dtype=F64)
    y = torch.randn(7, 2, generator=_g(8), dtype=F64) + 0.3
    h = 1.3

    def k(p, q):
        return math.exp(-float(((p - q) ** 2).sum()) / (2 * h * h))

    kxx = sum(k(x[i], x[j]) for i in range(9) for j in range(9) if i != j) / (9 * 8)
    kyy = sum(k(y[i], y[j]) for i in range(7) for j in range(7) if i != j) / (7 * 6)
    kxy = sum(k(p, q) for p in x for q in y) / 63
    assert metrics.mmd2(x, y, h) == pytest.approx(kxx + kyy - 2 * kxy, rel=1e-12)


def test_mmd_population_value_for_gaussians():
    # N(a, s^2 I_d) vs N(b, s^2 I_d), Gaussian kernel of width h:
    # MMD^2 = 2 c (1 - exp(-|a-b|^2 / (2 (h^2 + 2 s^2)))), c = (h^2 / (h^2 + 2 s^2))^(d/2)
    d, s, h = 2, 1.0, 1.0
    shift = torch.tensor([1.0, 0.5], dtype=F64)
    c = (h * h / (h * h + 2 * s * s)) ** (d / 2)
    exact = 2 * c * (1 - math.exp(-float(shift @ shift) / (2 * (h * h + 2 * s * s))))
    x = torch.randn(3000, d, generator=_g(9), dtype=F64)
    y = torch.randn(3000, d, generator=_g(10), dtype=F64) + shift
    assert metrics.mmd2(x, y, h) == pytest.approx(exact, rel=0.05)


# --------------------------------------------------------------------------- W2


def test_optimal_matching_is_the_brute_force_optimum():
    x = torch.randn(6, 2, generator=_g(11), dtype=F64)
    y = torch.randn(6, 2, generator=_g(12), dtype=F64)
    perm = metrics.optimal_matching(x, y)
    assert sorted(perm.tolist()) == list(range(6))
    cost = float(((x - y[perm]) ** 2).sum())
    best = min(float(((x - y[list(p)]) ** 2).sum()) for p in itertools.permutations(range(6)))
    assert cost == pytest.approx(best, rel=1e-12)
    assert metrics.wasserstein2(x, y) == pytest.approx(math.sqrt(best / 6), rel=1e-12)


def test_w2_of_a_translated_shuffled_cloud_is_the_shift():
    x = torch.randn(300, 2, generator=_g(13), dtype=F64)
    c = torch.tensor([0.3, -0.4], dtype=F64)
    y = (x + c)[torch.randperm(300, generator=_g(14))]
    assert metrics.wasserstein2(x, y) == pytest.approx(0.5, rel=1e-10)


def test_w2_of_a_scaled_cloud():
    # y = a x is the gradient of the convex a|x|^2/2: the identity pairing is optimal
    x = torch.randn(200, 3, generator=_g(15), dtype=F64)
    a = 2.5
    y = (a * x)[torch.randperm(200, generator=_g(16))]
    exact = abs(1 - a) * float((x**2).sum(1).mean().sqrt())
    assert metrics.wasserstein2(x, y) == pytest.approx(exact, rel=1e-10)


def test_w2_in_1d_is_the_sorted_matching():
    x = torch.randn(250, 1, generator=_g(17), dtype=F64) ** 3
    y = torch.rand(250, 1, generator=_g(18), dtype=F64) * 4 - 1
    exact = float(((torch.sort(x[:, 0])[0] - torch.sort(y[:, 0])[0]) ** 2).mean().sqrt())
    assert metrics.wasserstein2(x, y) == pytest.approx(exact, rel=1e-10)


def test_pairwise_sq_dists_against_cdist():
    x = torch.randn(30, 4, generator=_g(19), dtype=F64)
    y = torch.randn(20, 4, generator=_g(20), dtype=F64)
    assert torch.allclose(metrics.pairwise_sq_dists(x, y), torch.cdist(x, y) ** 2, atol=1e-12)


# --------------------------------------------------------------------------- errors


def test_bad_inputs_raise_clear_errors():
    x = torch.zeros(5, 2)
    with pytest.raises(ValueError, match="shape"):
        metrics.energy_distance(torch.zeros(5), x)
    with pytest.raises(ValueError, match="columns"):
        metrics.energy_distance(x, torch.zeros(5, 3))
    with pytest.raises(TypeError, match="torch.Tensor"):
        metrics.wasserstein2([[0.0, 0.0]], x)
    with pytest.raises(ValueError, match="same number of points"):
        metrics.wasserstein2(x, torch.zeros(4, 2))
    with pytest.raises(ValueError, match="bandwidth"):
        metrics.mmd2(x, x, bandwidth=0.0)
    with pytest.raises(ValueError, match="NaN"):
        metrics.energy_distance(torch.full((3, 2), float("nan")), x)
    with pytest.raises(ValueError, match="at least 2"):
        metrics.mmd2(x[:1], x)
