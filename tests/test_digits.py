"""Tests of course_utils.digits against independent computations (autograd, scipy, numpy,
hand-computed discrete probabilities) and of the committed checkpoints' quality."""

import math
import re
from pathlib import Path

import numpy as np
import pytest
import torch
from scipy.stats import norm

from course_utils import cnf, flows
from course_utils import digits as D
from course_utils import flow_matching as fm

ROOT = Path(__file__).resolve().parents[1]
F64 = torch.float64


# ---------------------------------------------------------------------- data


def test_load_split_is_fixed_disjoint_and_complete():
    a, b, c = D.load(), D.load(), D.load(seed=1)
    assert a.train_images.shape == (1437, 64) and a.test_images.shape == (360, 64)
    assert a.train_images.dtype == torch.int64
    assert int(a.train_images.min()) == 0 and int(a.train_images.max()) == 16
    assert torch.equal(a.test_images, b.test_images) and torch.equal(a.test_labels, b.test_labels)
    assert not torch.equal(a.test_images, c.test_images)
    from sklearn.datasets import load_digits

    bunch = load_digits()
    every = torch.cat([a.train_images, a.test_images])
    # the split is a permutation of the 1,797 images: same multiset of rows and labels
    key = lambda x: sorted(map(tuple, x.tolist()))
    assert key(every) == key(torch.as_tensor(bunch.data, dtype=torch.int64))
    counts = torch.bincount(torch.cat([a.train_labels, a.test_labels]), minlength=10)
    assert counts.tolist() == np.bincount(bunch.target).tolist()


def test_load_rejects_bad_arguments():
    with pytest.raises(ValueError, match="n_test"):
        D.load(n_test=1797)
    with pytest.raises(ValueError, match="seed"):
        D.load(seed=-1)


def test_dequantize_stays_in_the_bins_and_is_uniform():
    k = torch.randint(0, 17, (4000, 64), generator=torch.Generator().manual_seed(0))
    x = D.dequantize(k, generator=torch.Generator().manual_seed(1), dtype=F64)
    assert torch.equal(D.quantize(x), k)
    u = x * 17 - k
    assert bool((u >= 0).all() and (u < 1).all())
    # U[0, 1): mean 1/2, variance 1/12 (256,000 draws: 5 standard errors)
    assert abs(float(u.mean()) - 0.5) < 5 * math.sqrt(1 / 12 / u.numel())
    assert abs(float(u.var()) - 1 / 12) < 5e-3
    with pytest.raises(ValueError, match="grey levels in 0..16"):
        D.dequantize(torch.tensor([[17]]))
    with pytest.raises(ValueError, match="integer"):
        D.dequantize(torch.tensor([[0.5]]))


# ---------------------------------------------------------------------- logit map


@pytest.mark.parametrize("alpha", [0.05, 0.2, 0.0])
def test_logit_log_det_matches_autograd(alpha):
    x = torch.rand(3, 64, generator=torch.Generator().manual_seed(2), dtype=F64) * 0.98 + 0.01
    y, log_det = D.logit_transform(x, alpha)
    for i in range(3):
        jac = torch.autograd.functional.jacobian(
            lambda r: D.logit_transform(r[None], alpha)[0][0], x[i]
        )
        sign, logabs = torch.linalg.slogdet(jac)
        assert float(sign) == 1.0
        assert float(logabs) == pytest.approx(float(log_det[i]), rel=1e-12, abs=1e-10)
    assert torch.allclose(D.inverse_logit_transform(y, alpha), x, atol=1e-12)


def test_logit_rejects_points_outside_the_cube_and_bad_alpha():
    with pytest.raises(ValueError, match=r"x must lie in \[0, 1\]"):
        D.logit_transform(torch.tensor([[1.5, 0.2]]))
    with pytest.raises(ValueError, match="alpha"):
        D.logit_transform(torch.tensor([[0.5]]), alpha=0.5)
    with pytest.raises(ValueError, match="open cube"):
        D.logit_transform(torch.tensor([[0.0]]), alpha=0.0)


# ---------------------------------------------------------------------- bits per dimension


def test_bits_per_dim_of_the_uniform_density_is_log2_of_the_levels():
    assert D.bits_per_dim(torch.zeros(5)) == pytest.approx(math.log2(17), rel=1e-12)
    assert D.bits_per_dim(torch.zeros(2), dim=3, n_levels=4) == pytest.approx(2.0, rel=1e-12)


def test_bits_per_dim_is_exact_for_a_histogram_density():
    # Independent pixels with known level probabilities P (3 levels, 2 pixels). The
    # density that is constant on every dequantization bin, p_y(y) = P(floor y), makes the
    # bound tight: bits/dim must equal -log2 P(k) / D computed by hand.
    P = [0.5, 0.3, 0.2]
    k = torch.tensor([[0, 2], [1, 1]])
    x = D.dequantize(k, n_levels=3, generator=torch.Generator().manual_seed(0), dtype=F64)
    levels = torch.floor(3 * x).long()
    log_px = torch.log(torch.tensor(P, dtype=F64))[levels].sum(1) + 2 * math.log(3)
    hand = (-(math.log2(0.5) + math.log2(0.2)) / 2 - (2 * math.log2(0.3)) / 2) / 2
    assert D.bits_per_dim(log_px, dim=2, n_levels=3) == pytest.approx(hand, rel=1e-12)


def test_dequantization_bound_holds_and_is_nearly_tight():
    # A continuous model of y = k + u: independent N(mu, s^2) per pixel. Its discrete
    # probability P(k) = prod [Phi((k + 1 - mu)/s) - Phi((k - mu)/s)] is exact (scipy); the
    # dequantized bits/dim (Monte Carlo over u) must not be below -log2 P(k) / D (Jensen).
    mu, s, dim, levels = 7.3, 3.0, 4, 17
    k = torch.tensor([[3, 7, 9, 12]])
    p_k = np.prod(norm.cdf((k.numpy() + 1 - mu) / s) - norm.cdf((k.numpy() - mu) / s))
    discrete_bpd = -math.log2(p_k) / dim
    g = torch.Generator().manual_seed(3)
    kk = k.repeat(20000, 1)
    x = D.dequantize(kk, generator=g, dtype=F64)
    y = x * levels
    log_py = torch.as_tensor(norm.logpdf(y.numpy(), mu, s)).sum(1)
    log_px = log_py + dim * math.log(levels)  # p_x(x) = 17^D p_y(17 x)
    bound = D.bits_per_dim(log_px, dim=dim, n_levels=levels)
    se = float(log_px.std()) / math.sqrt(len(log_px)) / (dim * math.log(2))
    assert bound > discrete_bpd - 3 * se
    assert bound - discrete_bpd < 0.05  # the Gaussian is nearly flat across a bin


def test_bits_per_dim_rejects_bad_input():
    with pytest.raises(ValueError, match="log_px"):
        D.bits_per_dim(torch.zeros(2, 2))
    with pytest.raises(ValueError, match="NaN"):
        D.bits_per_dim(torch.tensor([float("nan")]))


# ---------------------------------------------------------------------- Gaussian baseline


def test_gaussian_fit_and_log_prob_match_numpy_and_torch():
    z = torch.randn(200, 5, generator=torch.Generator().manual_seed(4), dtype=F64) @ torch.randn(
        5, 5, generator=torch.Generator().manual_seed(5), dtype=F64
    )
    mean, cov = D.fit_gaussian(z)
    assert np.allclose(mean.numpy(), z.numpy().mean(0))
    assert np.allclose(cov.numpy(), np.cov(z.numpy().T, bias=True))
    ref = torch.distributions.MultivariateNormal(mean, cov).log_prob(z)
    assert torch.allclose(D.gaussian_log_prob(z, mean, cov), ref, rtol=1e-10)
    with pytest.raises(ValueError, match="positive definite"):
        D.gaussian_log_prob(z, mean, torch.zeros(5, 5, dtype=F64))


# ---------------------------------------------------------------------- masks and RealNVP


def test_checkerboard_masks_alternate_with_the_neighbours():
    m0, m1 = D.checkerboard_mask(0).reshape(8, 8), D.checkerboard_mask(1).reshape(8, 8)
    assert torch.equal(m0 + m1, torch.ones(8, 8)) and int(m0.sum()) == 32
    # every transformed pixel of m0 has only copied horizontal and vertical neighbours
    assert torch.equal(m0[:, 1:] + m0[:, :-1], torch.ones(8, 7))
    assert torch.equal(m0[1:] + m0[:-1], torch.ones(7, 8))
    top = D.half_mask("top").reshape(8, 8)
    assert int(top[:4].sum()) == 32 and int(top[4:].sum()) == 0
    assert len(D.image_masks(7, "mixed")) == 7
    with pytest.raises(ValueError, match="kind"):
        D.half_mask("middle")


def test_image_realnvp_inverts_and_its_log_det_matches_autograd():
    torch.manual_seed(0)
    flow = D.image_realnvp(n_layers=3, hidden=16).to(F64)
    with torch.no_grad():  # leave the identity start: random conditioner outputs
        for p in flow.parameters():
            p.add_(0.1 * torch.randn_like(p))
    z = torch.randn(2, 64, dtype=F64)
    x, log_det = flow.transform(z)
    assert torch.allclose(flow.transform.inverse(x)[0], z, atol=1e-10)
    jac = torch.autograd.functional.jacobian(lambda r: flow.transform(r[None])[0][0], z[0])
    assert float(torch.linalg.slogdet(jac)[1]) == pytest.approx(
        float(log_det[0].detach()), abs=1e-9
    )


# ---------------------------------------------------------------------- guidance


def _tiny_model():
    torch.manual_seed(1)
    return D.ConditionalVelocityMLP(dim=6, n_classes=3, hidden=16, n_hidden=2).to(F64)


def test_guided_field_interpolates_the_conditional_and_unconditional_fields():
    model = _tiny_model()
    x = torch.randn(4, 6, dtype=F64)
    t = torch.tensor(0.3, dtype=F64)
    v_null, v_y = model(t, x, None), model(t, x, 2)
    assert torch.allclose(model(t, x, torch.full((4,), 3)), v_null)  # class 3 = "no class"
    assert torch.allclose(D.guided_field(model, 2, 0.0)(t, x), v_null)
    assert torch.allclose(D.guided_field(model, 2, 1.0)(t, x), v_y)
    assert torch.allclose(D.guided_field(model, 2, 2.5)(t, x), v_null + 2.5 * (v_y - v_null))
    with pytest.raises(ValueError, match="classes 0..2"):
        model(t, x, 5)
    with pytest.raises(ValueError, match="scale"):
        D.guided_field(model, 1, float("inf"))


@pytest.mark.parametrize("p_uncond", [0.0, 1.0])
def test_label_dropout_decides_which_class_slots_learn(p_uncond):
    model = _tiny_model()
    x1 = torch.randn(64, 6, dtype=F64)
    y = torch.randint(0, 3, (64,))
    D.cfg_loss(
        model, x1, y, p_uncond=p_uncond, generator=torch.Generator().manual_seed(0)
    ).backward()
    w = model.net[0].weight.grad  # columns: x (6), t and 8 time features (9), one-hot (4)
    class_cols, null_col = w[:, 15:18], w[:, 18]
    if p_uncond == 0.0:
        assert float(null_col.abs().max()) == 0.0 and float(class_cols.abs().max()) > 0
    else:
        assert float(class_cols.abs().max()) == 0.0 and float(null_col.abs().max()) > 0


def test_cfg_loss_is_the_cfm_loss_of_the_unconditional_field_when_labels_are_dropped():
    model = _tiny_model()
    x1 = torch.randn(32, 6, dtype=F64)
    path = fm.OTPath()
    # the same noise and times as cfg_loss draws after its dropout coin flips
    g = torch.Generator().manual_seed(7)
    torch.rand(32, generator=g)
    x0 = torch.randn(x1.shape, generator=g, dtype=F64)
    t = torch.rand(32, generator=g, dtype=F64)
    want = fm.cfm_loss(lambda tt, xx: model(tt, xx, None), path, x1, x0=x0, t=t)
    got = D.cfg_loss(
        model,
        x1,
        torch.zeros(32, dtype=torch.long),
        path,
        p_uncond=1.0,
        generator=torch.Generator().manual_seed(7),
    )
    assert float(got) == pytest.approx(float(want), rel=1e-12)


# ---------------------------------------------------------------------- helpers


def test_nearest_distances_match_brute_force():
    g = torch.Generator().manual_seed(8)
    x, ref = torch.randn(7, 5, generator=g, dtype=F64), torch.randn(30, 5, generator=g, dtype=F64)
    dist, idx = D.nearest_distances(x, ref)
    full = torch.cdist(x, ref)
    assert torch.allclose(dist, full.min(1).values) and torch.equal(idx, full.argmin(1))


def test_image_grid_places_each_image():
    imgs = torch.arange(3 * 64, dtype=F64).reshape(3, 64)
    grid = D.image_grid(imgs, nrow=2)
    assert grid.shape == (17, 17)
    assert np.array_equal(grid[9:17, 0:8], imgs[2].reshape(8, 8).numpy())
    assert np.isnan(grid[8]).all() and np.isnan(grid[9:, 9:]).all()


def test_checkpoint_round_trip(tmp_path):
    flow = D.image_realnvp(n_layers=2, hidden=8)
    with torch.no_grad():
        for p in flow.parameters():
            p.add_(0.01)
    cfg = {"kind": "realnvp", "n_layers": 2, "hidden": 8, "depth": 2, "masks": "mixed"}
    D.save_checkpoint(tmp_path / "r.pt", flow, cfg, {"seed": 3})
    back, prov = D.load_checkpoint(tmp_path / "r.pt")
    z = torch.randn(4, 64)
    assert torch.allclose(back.log_prob(z), flow.log_prob(z))
    assert prov["seed"] == 3 and "commit" in prov
    with pytest.raises(FileNotFoundError, match="train_digits"):
        D.load_checkpoint(tmp_path / "missing.pt")


# ---------------------------------------------------------------------- committed checkpoints


def _test_points():
    data = D.load()
    return data, D.preprocess(data.test_images, 0.05, generator=torch.Generator().manual_seed(1))


def _lecture_text() -> str:
    return (ROOT / "notebooks" / "10_digits.py").read_text()


def _stated(name: str) -> float:
    m = re.search(rf"<!-- {name}_bpd = ([0-9.]+) -->", _lecture_text())
    assert m, (
        f"notebooks/10_digits.py must state the {name} test bits/dim as <!-- {name}_bpd = X -->"
    )
    return float(m.group(1))


def test_realnvp_checkpoint_reaches_the_stated_test_bits_per_dim():
    flow, prov = D.load_checkpoint("realnvp")
    assert isinstance(flow, flows.Flow)
    _, (y, log_det) = _test_points()
    with torch.no_grad():
        bpd = D.bits_per_dim(flow.log_prob(y) + log_det)
    assert bpd == pytest.approx(prov["test_bpd"], abs=1e-3)
    assert bpd == pytest.approx(_stated("realnvp"), abs=6e-3)
    assert {"command", "seed", "wall_seconds", "commit"} <= set(prov)


@pytest.mark.slow
def test_fm_checkpoint_read_as_a_cnf_reaches_the_stated_test_bits_per_dim():
    field, prov = D.load_checkpoint("fm")
    _, (y, log_det) = _test_points()
    model = cnf.CNF(field, 64, estimator="exact", method="rk4", step_size=0.1)
    with torch.no_grad():
        bpd = D.bits_per_dim(model.log_prob(y) + log_det)
    assert bpd == pytest.approx(prov["test_bpd"], abs=1e-3)
    assert bpd == pytest.approx(_stated("fm"), abs=6e-3)
    # the targets of the topic: FM as a CNF at least as good as RealNVP, both well below
    # the full-covariance Gaussian
    assert _stated("fm") <= _stated("realnvp") < _stated("gaussian") - 0.1


def test_gaussian_baseline_matches_the_stated_figure():
    data, (y, log_det) = _test_points()
    y_train = D.preprocess(data.train_images, 0.05, generator=torch.Generator().manual_seed(0))[0]
    mean, cov = D.fit_gaussian(y_train.double())
    bpd = D.bits_per_dim(D.gaussian_log_prob(y.double(), mean, cov) + log_det.double())
    assert bpd == pytest.approx(_stated("gaussian"), abs=6e-3)


def test_cfm_checkpoint_guided_samples_are_classified_as_intended():
    model, _ = D.load_checkpoint("cfm")
    data = D.load()
    clf = D.DigitClassifier(data.train_images, data.train_labels)
    assert clf.accuracy(data.test_images, data.test_labels) > 0.93  # on real digits
    y = torch.arange(10).repeat_interleave(20)
    z0 = torch.randn(200, 64, generator=torch.Generator().manual_seed(5))
    z1 = fm.sample(D.guided_field(model, y, 2.0), z0, method="rk4", steps=10)
    k = D.quantize(D.inverse_logit_transform(z1))
    assert clf.accuracy(k, y) >= 0.9
    # without guidance (w = 0: the unconditional field) the intended class is chance
    z1 = fm.sample(D.guided_field(model, y, 0.0), z0, method="rk4", steps=10)
    k = D.quantize(D.inverse_logit_transform(z1))
    assert clf.accuracy(k, y) < 0.3
