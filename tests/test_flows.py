"""Tests for course_utils.flows: invertibility, log-determinants against autograd, densities."""

import math

import pytest
import torch
from torch import nn

from course_utils import flows
from course_utils.grid import integrate_density_2d

F64 = torch.float64


def _randomise(module: nn.Module, seed: int, std: float = 0.5) -> nn.Module:
    """Give every parameter a random value (the couplings start as the identity)."""
    g = torch.Generator().manual_seed(seed)
    with torch.no_grad():
        for p in module.parameters():
            p.copy_(std * torch.randn(p.shape, generator=g, dtype=p.dtype))
    return module


def _coupling(dim=2, seed=0, dtype=F64, mask=None, **kw):
    torch.manual_seed(seed)
    mask = [1.0, 0.0] if mask is None else mask
    return _randomise(flows.AffineCoupling(mask, hidden=16, depth=2, **kw), seed).to(dtype)


def _layers(dtype=F64):
    """One of each bijection, with non-trivial parameters, in ``dtype``."""
    return {
        "affine": flows.ElementwiseAffine(
            torch.tensor([0.5, -3.0], dtype=dtype), torch.tensor([1.0, -2.0], dtype=dtype)
        ),
        "shear": flows.Shear(1.7),
        "perm": flows.Permutation([1, 0]),
        "coupling_tanh": _coupling(seed=1, dtype=dtype),
        "coupling_soft": _coupling(seed=2, dtype=dtype, mask=[0.0, 1.0], clamp="soft"),
        "coupling_free": _coupling(seed=3, dtype=dtype, clamp=None),
        "compose": flows.Compose(
            flows.Shear(-0.8),
            _coupling(seed=4, dtype=dtype),
            flows.Permutation([1, 0]),
            _coupling(seed=5, dtype=dtype, mask=[0.0, 1.0]),
            flows.ElementwiseAffine(torch.tensor([2.0, 0.3], dtype=dtype), trainable=True).to(
                dtype
            ),
        ),
    }


def _autograd_log_det(fn, z):
    """log|det J| per row from the full autograd Jacobian (an independent computation)."""
    rows = []
    for zi in z:
        jac = torch.autograd.functional.jacobian(lambda v: fn(v[None])[0], zi)
        rows.append(torch.linalg.slogdet(jac)[1])
    return torch.stack(rows)


@pytest.mark.parametrize("name", list(_layers()))
def test_round_trip_float64(name):
    layer = _layers()[name]
    z = torch.randn(500, 2, generator=torch.Generator().manual_seed(0), dtype=F64) * 2
    x, ld_f = layer(z)
    z_back, ld_i = layer.inverse(x)
    assert x.shape == z.shape and ld_f.shape == (500,) and ld_i.shape == (500,)
    assert (z_back - z).abs().max() < 1e-12
    # log|det dz/dx| at x = g(z) is minus log|det dx/dz| at z
    assert (ld_f + ld_i).abs().max() < 1e-12
    # the map is not the identity (otherwise the round trip would prove nothing)
    assert (x - z).abs().max() > 1e-2


@pytest.mark.parametrize("name", list(_layers()))
def test_round_trip_float32(name):
    layer = _layers(torch.float32)[name]
    z = torch.randn(500, 2, generator=torch.Generator().manual_seed(1))
    x, _ = layer(z)
    z_back, _ = layer.inverse(x)
    assert z_back.dtype == torch.float32
    assert (z_back - z).abs().max() < 1e-6 * max(1.0, float(z.abs().max()))


@pytest.mark.parametrize("name", list(_layers()))
def test_log_det_matches_autograd_jacobian(name):
    layer = _layers()[name]
    z = torch.randn(12, 2, generator=torch.Generator().manual_seed(2), dtype=F64) * 1.5
    x, ld_f = layer(z)
    ref_f = _autograd_log_det(lambda v: layer(v)[0], z)
    torch.testing.assert_close(ld_f, ref_f, rtol=0, atol=1e-12)
    ld_i = layer.inverse(x)[1]
    ref_i = _autograd_log_det(lambda v: layer.inverse(v)[0], x)
    torch.testing.assert_close(ld_i, ref_i, rtol=0, atol=1e-12)


def test_coupling_in_higher_dimension_against_autograd_and_triangular_structure():
    # mask with 2 copied and 3 transformed coordinates: s has 3 entries, not 2
    mask = [1.0, 0.0, 1.0, 0.0, 0.0]
    layer = _coupling(dim=5, seed=7, mask=mask)
    z = torch.randn(6, 5, generator=torch.Generator().manual_seed(3), dtype=F64)
    x, ld = layer(z)
    torch.testing.assert_close(ld, _autograd_log_det(lambda v: layer(v)[0], z), rtol=0, atol=1e-12)
    jac = torch.autograd.functional.jacobian(lambda v: layer(v[None])[0][0], z[0])
    copied, free = [0, 2], [1, 3, 4]
    # copied rows are rows of the identity; the free block is diagonal exp(s)
    torch.testing.assert_close(jac[copied], torch.eye(5, dtype=F64)[copied], rtol=0, atol=0)
    block = jac[free][:, free]
    torch.testing.assert_close(block, torch.diag(torch.diagonal(block)), rtol=0, atol=0)
    s, _ = layer.scale_and_shift(layer.mask.to(F64) * z[:1])
    torch.testing.assert_close(torch.diagonal(block), s[0, free].exp(), rtol=1e-14, atol=0)
    assert torch.equal(x[:, copied], z[:, copied])


def test_closed_form_of_the_notes_shear_then_scale_example():
    a, sig, b = 1.5, torch.tensor([0.5, 2.0], dtype=F64), torch.tensor([1.0, -1.0], dtype=F64)
    flow = flows.Flow(flows.Compose(flows.Shear(a), flows.ElementwiseAffine(sig, b)))
    x = torch.randn(200, 2, generator=torch.Generator().manual_seed(4), dtype=F64) * 3
    z1 = (x[:, 0] - b[0]) / sig[0]
    z2 = (x[:, 1] - b[1]) / sig[1] - a * z1
    closed = -0.5 * (z1**2 + z2**2) - math.log(2 * math.pi) - math.log(float(sig.prod()))
    torch.testing.assert_close(flow.log_prob(x), closed, rtol=0, atol=1e-12)
    # and against torch.distributions: x = A z + b is N(b, A A^T)
    A = torch.diag(sig) @ torch.tensor([[1.0, 0.0], [a, 1.0]], dtype=F64)
    mvn = torch.distributions.MultivariateNormal(b, covariance_matrix=A @ A.T)
    torch.testing.assert_close(flow.log_prob(x), mvn.log_prob(x), rtol=0, atol=1e-12)


def test_realnvp_log_prob_integrates_to_one_on_a_grid():
    torch.manual_seed(0)
    flow = flows.realnvp(2, n_layers=4, hidden=16).to(F64)
    _randomise(flow, 5, std=0.3)
    total = integrate_density_2d(flow.log_prob, lim=10.0, n=300)
    assert total == pytest.approx(1.0, abs=2e-3)
    # the density really is non-Gaussian after randomising (not a trivial check)
    x = torch.randn(50, 2, dtype=F64)
    assert (flow.log_prob(x) - flows.standard_normal_log_prob(x)).abs().max() > 0.05


def test_standard_normal_log_prob_matches_torch_distributions():
    x = torch.randn(30, 3, generator=torch.Generator().manual_seed(5), dtype=F64)
    ref = torch.distributions.Normal(0.0, 1.0).log_prob(x).sum(1)
    torch.testing.assert_close(flows.standard_normal_log_prob(x), ref, rtol=0, atol=1e-13)


def test_flow_sample_matches_its_log_prob_and_is_reproducible():
    a, sig, b = -0.7, torch.tensor([1.5, 0.4], dtype=F64), torch.tensor([0.3, 2.0], dtype=F64)
    flow = flows.Flow(flows.Compose(flows.Shear(a), flows.ElementwiseAffine(sig, b)))
    x1 = flow.sample(20_000, generator=torch.Generator().manual_seed(6), dtype=F64)
    x2 = flow.sample(20_000, generator=torch.Generator().manual_seed(6), dtype=F64)
    assert torch.equal(x1, x2) and x1.shape == (20_000, 2) and x1.dtype == F64
    A = torch.diag(sig) @ torch.tensor([[1.0, 0.0], [a, 1.0]], dtype=F64)
    # sample mean and covariance within a few standard errors of the exact ones
    assert (x1.mean(0) - b).abs().max() < 0.05
    assert (torch.cov(x1.T) - A @ A.T).abs().max() < 0.05
    xs, lp = flow.sample_with_log_prob(100, generator=torch.Generator().manual_seed(7), dtype=F64)
    torch.testing.assert_close(lp, flow.log_prob(xs), rtol=0, atol=1e-12)


def test_train_flow_learns_a_gaussian_and_reports_nll(capsys):
    # target N(m, diag(v)); the best held-out NLL is its entropy
    torch.manual_seed(0)
    g = torch.Generator().manual_seed(8)
    m, sd = torch.tensor([1.0, -2.0]), torch.tensor([0.5, 2.0])
    x_train = m + sd * torch.randn(2000, 2, generator=g)
    x_val = m + sd * torch.randn(2000, 2, generator=g)
    flow = flows.realnvp(2, n_layers=2, hidden=8)
    before = flows.nll(flow, x_val)
    res = flows.train_flow(
        flow, x_train, x_val, steps=200, lr=2e-2, print_every=100, generator=g, batch_size=128
    )
    out = capsys.readouterr().out.strip().splitlines()
    assert len(out) == 2 and out[-1].startswith("step   200/200") and "nats" in out[-1]
    assert res.val_steps == [100, 200] and len(res.val_nll) == 2 and res.steps == 200
    assert len(res.losses) == 200 and res.train_nll == pytest.approx(
        [sum(res.losses[:100]) / 100, sum(res.losses[100:]) / 100]
    )
    entropy = float(torch.log(2 * math.pi * math.e * sd**2).sum() / 2)
    assert res.final_val_nll == pytest.approx(flows.nll(flow, x_val), abs=1e-6)
    assert before - entropy > 1.0  # the untrained flow is far off ...
    assert abs(res.final_val_nll - entropy) < 0.05  # ... the trained one is close


def test_compose_indexing_and_order():
    shear, perm = flows.Shear(2.0), flows.Permutation([1, 0])
    chain = flows.Compose(shear, perm)
    assert len(chain) == 2 and chain[0] is shear
    z = torch.tensor([[1.0, 1.0]])
    # shear first: (1, 3), then swap: (3, 1)
    assert chain(z)[0].tolist() == [[3.0, 1.0]]
    assert flows.Compose([perm, shear])(z)[0].tolist() == [[1.0, 3.0]]


def test_clamped_scales_are_bounded():
    layer = flows.AffineCoupling([1.0, 0.0], net=_Const(100.0), bound=2.0)
    z = torch.randn(4, 2)
    assert torch.allclose(layer(z)[1], torch.full((4,), 2.0 * math.tanh(50.0)))
    soft = flows.AffineCoupling([1.0, 0.0], net=_Const(100.0), bound=2.0, clamp="soft")
    assert torch.allclose(soft(z)[1], torch.full((4,), 100.0 / 51.0))
    free = flows.AffineCoupling([1.0, 0.0], net=_Const(3.0), clamp=None)
    assert torch.allclose(free(z)[1], torch.full((4,), 3.0))


class _Const(nn.Module):
    def __init__(self, value):
        super().__init__()
        self.value = value
        self.dummy = nn.Parameter(torch.zeros(()))

    def forward(self, x):
        return torch.full((x.shape[0], 2 * x.shape[1]), self.value) + 0 * self.dummy


def test_bad_inputs_give_clear_errors():
    layer = flows.Shear(1.0)
    with pytest.raises(ValueError, match=r"z must have shape \(batch, 2\), got \(3,\)"):
        layer(torch.zeros(3))
    with pytest.raises(ValueError, match=r"x must have shape \(batch, 2\), got \(4, 3\)"):
        layer.inverse(torch.zeros(4, 3))
    with pytest.raises(TypeError, match="z must be a torch.Tensor"):
        layer([[0.0, 1.0]])
    with pytest.raises(TypeError, match="floating dtype"):
        layer(torch.zeros(2, 2, dtype=torch.long))
    coupling = flows.AffineCoupling([1.0, 0.0]).to(torch.float32)
    with pytest.raises(TypeError, match="dtype torch.float64 but AffineCoupling"):
        coupling(torch.zeros(2, 2, dtype=F64))
    with pytest.raises(ValueError, match="scale must be non-zero"):
        flows.ElementwiseAffine([1.0, 0.0])
    with pytest.raises(ValueError, match=r"shift must have shape \(2,\)"):
        flows.ElementwiseAffine([1.0, 2.0], [1.0, 2.0, 3.0])
    with pytest.raises(ValueError, match="mask must contain both"):
        flows.AffineCoupling([1.0, 1.0])
    with pytest.raises(ValueError, match="mask must be a 1-D sequence of 0s and 1s"):
        flows.AffineCoupling([0.5, 1.0])
    with pytest.raises(ValueError, match="clamp must be"):
        flows.AffineCoupling([1.0, 0.0], clamp="sigmoid")
    with pytest.raises(ValueError, match=r"net must map \(batch, 2\) to \(batch, 4\)"):
        flows.AffineCoupling([1.0, 0.0], net=nn.Linear(2, 3))(torch.zeros(1, 2))
    with pytest.raises(ValueError, match="perm must be a permutation of 0..2"):
        flows.Permutation([0, 0, 2])
    with pytest.raises(ValueError, match="source and target must differ"):
        flows.Shear(1.0, source=1, target=1)
    with pytest.raises(ValueError, match="all layers must have the same dim"):
        flows.Compose(flows.Shear(1.0), flows.Permutation([2, 0, 1]))
    with pytest.raises(TypeError, match=r"layers\[1\] must be a course_utils.flows.Bijection"):
        flows.Compose(flows.Shear(1.0), nn.Linear(2, 2))
    with pytest.raises(TypeError, match="transform must be"):
        flows.Flow(nn.Linear(2, 2))
    flow = flows.realnvp(2, n_layers=2, hidden=4)
    with pytest.raises(ValueError, match="n must be a positive int"):
        flow.sample(0)
    with pytest.raises(ValueError, match=r"val_data must have shape \(batch, 2\)"):
        flows.train_flow(flow, torch.zeros(10, 2), torch.zeros(10, 3))
    with pytest.raises(TypeError, match="must have the flow's dtype"):
        flows.train_flow(flow, torch.zeros(10, 2, dtype=F64), torch.zeros(10, 2, dtype=F64))
    with pytest.raises(ValueError, match="steps must be a positive int"):
        flows.train_flow(flow, torch.zeros(10, 2), torch.zeros(10, 2), steps=0)


def test_training_divergence_is_reported_not_hidden():
    # an unbounded scale with a huge learning rate overflows; train_flow must say so
    torch.manual_seed(0)
    flow = flows.Flow(flows.AffineCoupling([1.0, 0.0], hidden=8, clamp=None, zero_init=False))
    x = torch.randn(64, 2) * 1e3
    with pytest.raises(FloatingPointError, match="training NLL became"):
        flows.train_flow(flow, x, x, steps=200, lr=1e4, print_every=0, grad_clip=None)


def test_flow_log_prob_converts_other_dtypes_to_its_own():
    # a float32 flow evaluated on float64 grid points (what the plotting helpers pass)
    torch.manual_seed(0)
    flow32 = _randomise(flows.realnvp(2, n_layers=2, hidden=8), 9, std=0.3)
    flow64 = _randomise(flows.realnvp(2, n_layers=2, hidden=8), 9, std=0.3).to(F64)
    x = torch.randn(100, 2, generator=torch.Generator().manual_seed(10), dtype=F64)
    out = flow32.log_prob(x)
    assert out.dtype == F64
    torch.testing.assert_close(out, flow64.log_prob(x), rtol=0, atol=1e-4)
    with pytest.raises(ValueError, match=r"x must have shape \(batch, 2\)"):
        flow32.log_prob(torch.zeros(5))


def test_fixed_layers_keep_float64_precision_of_python_numbers():
    # 0.8, 0.3 and 1.7 are not float32 numbers: stored in float32 they would be off by ~1e-8
    flow = flows.Flow(
        flows.Compose(flows.Shear(0.8), flows.ElementwiseAffine([0.3, 1.7], [0.1, 0.0]))
    )
    x = torch.tensor([[0.5, 1.0], [-2.0, 0.3]], dtype=F64)
    z1 = (x[:, 0] - 0.1) / 0.3
    z2 = x[:, 1] / 1.7 - 0.8 * z1
    closed = -0.5 * (z1**2 + z2**2) - math.log(2 * math.pi) - math.log(0.3 * 1.7)
    torch.testing.assert_close(flow.log_prob(x), closed, rtol=0, atol=1e-13)
    # and the same layers still work in float32
    assert flow.log_prob(x.float()).dtype == torch.float32


def test_bad_training_and_scoring_inputs_are_refused():
    flow = flows.realnvp(2, n_layers=2, hidden=8).double()
    x = torch.randn(10, 2, dtype=F64, generator=torch.Generator().manual_seed(0))
    bad = x.clone()
    bad[3, 0] = math.nan
    for b, exc in ((0, ValueError), (-1, ValueError), (2.5, TypeError), (True, TypeError)):
        with pytest.raises(exc, match="batch_size must be a positive int"):
            flows.nll(flow, x, batch_size=b)
    with pytest.raises(ValueError, match="x contains NaN or infinite values"):
        flows.nll(flow, bad)
    with pytest.raises(ValueError, match="x must have at least one row"):
        flows.nll(flow, x[:0])
    with pytest.raises(ValueError, match="data contains NaN"):
        flows.train_flow(flow, bad, x, steps=1, print_every=None)
    with pytest.raises(ValueError, match="val_data contains NaN"):
        flows.train_flow(flow, x, bad, steps=1, print_every=None)
    for clip in (0, -1.0, math.inf):
        with pytest.raises(ValueError, match="grad_clip must be a finite number > 0"):
            flows.train_flow(flow, x, x, steps=1, print_every=None, grad_clip=clip)
    with pytest.raises(ValueError, match="bound must be a finite positive number"):
        flows.AffineCoupling([1, 0], bound=math.inf)


def test_realnvp_passes_its_activation_to_every_conditioner():
    flow = flows.realnvp(2, n_layers=3, hidden=4, activation=torch.nn.ReLU)
    acts = [type(m) for m in flow.modules() if isinstance(m, (torch.nn.ReLU, torch.nn.SiLU))]
    assert acts == [torch.nn.ReLU] * 6  # 3 couplings x 2 hidden layers
    with pytest.raises(TypeError, match="activation must be an nn.Module class"):
        flows.realnvp(2, activation=torch.nn.ReLU())  # an instance, not the class


def test_train_flows_progress_line_averages_since_the_previous_line(capsys):
    """The lines 05, 07 and 10 print: the mean since the previous line (also on a last,
    shorter interval), three decimals, nats; the held-out NLL when measured."""
    from course_utils.training import TrainResult

    losses = [float(k * k % 7) for k in range(1, 11)]
    for done, every, val in ((10, 4, None), (8, 4, 0.25), (10, 3, 1.5), (1, 5, None)):
        r = TrainResult(
            losses=losses[:done],
            val_steps=[done] if val is not None else [],
            val_losses=[val] if val is not None else [],
            steps=done,
        )
        flows._print_progress(r, 10, every)
        since = losses[((done - 1) // every) * every : done]
        want = f"step {done:5d}/10 | train NLL {sum(since) / len(since):.3f} nats"
        if val is not None:
            want += f" | held-out NLL {val:.3f} nats"
        assert capsys.readouterr().out == want + "\n"
