"""Tests for course_utils.flow_matching: paths, targets, marginal field, couplings, losses.

Everything is compared with something independent: closed forms, autograd derivatives,
SymPy, brute force, numerical quadrature, the continuity equation.
"""

import itertools
import math

import pytest
import sympy as sp
import torch

from course_utils import flow_matching as fm

F64 = torch.float64
PATHS = [fm.OTPath(sigma_min=0.05), fm.OTPath(), fm.VPPath(), fm.VEPath(sigma_max=3.0)]
IDS = ["ot-0.05", "ot-0", "vp", "ve"]


def _g(seed):
    return torch.Generator().manual_seed(seed)


# --------------------------------------------------------------------------- schedules


def test_schedules_match_the_published_formulas():
    t = torch.linspace(0, 1, 11, dtype=F64)
    ot = fm.OTPath(sigma_min=0.1)
    assert torch.allclose(ot.alpha(t), t) and torch.allclose(ot.sigma(t), 1 - 0.9 * t)
    # VP (Lipman et al. eq. 19 with time reversed from Song et al.): alpha_t = exp(-T(1-t)/2)
    vp = fm.VPPath(beta_min=0.1, beta_max=20.0)
    s = 1 - t
    alpha = torch.exp(-0.5 * (0.1 * s + 0.5 * 19.9 * s**2))
    assert torch.allclose(vp.alpha(t), alpha, rtol=1e-14)
    assert torch.allclose(vp.alpha(t) ** 2 + vp.sigma(t) ** 2, torch.ones_like(t), rtol=1e-14)
    assert float(vp.alpha(t[-1:])) == 1.0 and float(vp.sigma(t[-1:])) == 0.0
    ve = fm.VEPath(sigma_min=0.01, sigma_max=3.0)
    assert torch.allclose(ve.sigma(t), 0.01 * (300.0 ** (1 - t)), rtol=1e-13)
    assert torch.allclose(ve.alpha(t), torch.ones_like(t))


@pytest.mark.parametrize("path", PATHS, ids=IDS)
def test_schedule_derivatives_by_autograd(path):
    t = torch.linspace(0.02, 0.98, 25, dtype=F64).requires_grad_(True)
    for f, df in ((path.alpha, path.d_alpha), (path.sigma, path.d_sigma)):
        (grad,) = torch.autograd.grad((f(t) + 0 * t).sum(), t)  # + 0 t: constant schedules
        assert torch.allclose(df(t.detach()), grad, rtol=1e-12, atol=1e-12)


# --------------------------------------------------------------------------- samples of the path


@pytest.mark.parametrize("path", PATHS, ids=IDS)
@pytest.mark.parametrize("t", [0.0, 0.3, 0.9])
def test_path_samples_have_the_stated_mean_and_variance(path, t):
    n = 100_000
    x1 = torch.tensor([[1.5, -0.5]], dtype=F64).expand(n, 2)
    x0 = torch.randn(n, 2, generator=_g(0), dtype=F64)
    xt = path.sample_xt(x0, x1, t)
    tt = torch.tensor(t, dtype=F64)
    mean, std = float(path.alpha(tt)) * x1[0], float(path.sigma(tt))
    se = std / math.sqrt(n)
    assert torch.allclose(xt.mean(0), mean, atol=5 * se)
    # sample variance: relative standard error sqrt(2/n)
    assert torch.allclose(xt.var(0), torch.full((2,), std**2, dtype=F64), rtol=5 * math.sqrt(2 / n))
    assert torch.allclose(path.mean(x1[:1], t), mean[None])


@pytest.mark.parametrize("path", PATHS, ids=IDS)
def test_target_is_the_time_derivative_of_the_path(path):
    x0 = torch.randn(40, 3, generator=_g(1), dtype=F64)
    x1 = torch.randn(40, 3, generator=_g(2), dtype=F64)
    t = torch.linspace(0.01, 0.97, 40, dtype=F64).requires_grad_(True)
    xt = path.sample_xt(x0, x1, t)
    # row i depends on t_i only, so d(sum_i xt[i, k])/dt_i = d xt[i, k] / dt_i
    grads = torch.stack(
        [torch.autograd.grad(xt[:, k].sum(), t, retain_graph=True)[0] for k in range(3)], 1
    )
    target = path.target(x0, x1, t.detach())
    assert torch.allclose(target, grads, rtol=1e-11, atol=1e-11)
    # and the conditional field (K Theorem 10) evaluated on the path is the same vector
    u = path.conditional_field(t.detach(), xt.detach(), x1)
    assert torch.allclose(u, target, rtol=1e-10, atol=1e-10)


def test_theorem_10_symbolically():
    # psi_t(x) = sigma(t) x + mu(t) has velocity u_t(psi_t(x)) with
    # u_t(y) = sigma'/sigma (y - mu) + mu', for arbitrary functions sigma, mu
    t, x = sp.symbols("t x", real=True)
    sigma, mu = sp.Function("sigma")(t), sp.Function("mu")(t)
    psi = sigma * x + mu

    def u(y):
        return sp.diff(sigma, t) / sigma * (y - mu) + sp.diff(mu, t)

    assert sp.simplify(sp.diff(psi, t) - u(psi)) == 0
    # the OT target is constant along a conditional trajectory: x1 - (1 - s) x0
    s, x1 = sp.symbols("sigma_min x_1", real=True)
    ot_u = sp.diff(1 - (1 - s) * t, t) / (1 - (1 - s) * t) * (psi - t * x1) + x1
    ot_u = ot_u.subs({sigma: 1 - (1 - s) * t, mu: t * x1}).doit()
    assert sp.simplify(ot_u - (x1 - (1 - s) * x)) == 0


def test_which_conditional_trajectories_are_straight():
    # x_t = sigma_t x0 + alpha_t x1 lies on a line iff (sigma_t, alpha_t) does: OT and VE yes,
    # VP (sigma^2 + alpha^2 = 1, a circle) no. Only OT runs at constant speed.
    x0 = torch.tensor([[1.0, -1.0]], dtype=F64)
    x1 = torch.tensor([[2.0, 1.0]], dtype=F64)
    t = torch.linspace(0, 0.999, 1000, dtype=F64)
    for path, straight, constant_speed in (
        (fm.OTPath(0.1), True, True),
        (fm.VEPath(), True, False),
        (fm.VPPath(), False, False),
    ):
        xt = torch.cat([path.sample_xt(x0, x1, float(s)) for s in t])
        d, e = xt - xt[0], xt[-1] - xt[0]
        off_line = float((d[:, 0] * e[1] - d[:, 1] * e[0]).abs().max() / e.norm())
        assert (off_line < 1e-12) == straight, (path, off_line)
        speed = (xt[1:] - xt[:-1]).norm(dim=1)
        assert bool(torch.allclose(speed, speed.mean(), rtol=1e-9)) == constant_speed, path


# --------------------------------------------------------------------------- marginal field


DATA = torch.tensor([[1.0, 0.5], [-1.0, 1.0], [0.2, -1.5]], dtype=F64)
WEIGHTS = torch.tensor([0.5, 0.3, 0.2], dtype=F64)
MARGINAL_PATHS = [fm.OTPath(sigma_min=0.05), fm.VPPath(), fm.VEPath(sigma_max=3.0)]


@pytest.mark.parametrize("path", MARGINAL_PATHS, ids=["ot", "vp", "ve"])
def test_marginal_field_satisfies_the_continuity_equation(path):
    field = fm.MarginalField(path, DATA, WEIGHTS)
    t = torch.rand(30, generator=_g(4), dtype=F64).mul(0.9).add(0.05)
    # test points drawn from p_t itself, so that the density is not negligible there
    x = path.sample_xt(
        torch.randn(30, 2, generator=_g(3), dtype=F64), DATA[torch.arange(30) % 3], t
    )
    x, t = x.requires_grad_(True), t.requires_grad_(True)
    p = field.log_prob(t, x).exp()
    (dp_dt,) = torch.autograd.grad(p.sum(), t, create_graph=True)
    flux = p[:, None] * field(t, x)  # j = p u
    div = sum(
        torch.autograd.grad(flux[:, k].sum(), x, create_graph=True)[0][:, k] for k in range(2)
    )
    scale = dp_dt.abs() + div.abs()
    assert float(((dp_dt + div).abs() / scale).max().detach()) < 1e-9


@pytest.mark.parametrize("path", MARGINAL_PATHS, ids=["ot", "vp", "ve"])
def test_marginal_field_is_the_posterior_average_of_conditional_fields(path):
    field = fm.MarginalField(path, DATA, WEIGHTS)
    x = torch.randn(7, 2, generator=_g(5), dtype=F64)
    t = 0.6
    a, s = (
        float(path.alpha(torch.tensor(t, dtype=F64))),
        float(path.sigma(torch.tensor(t, dtype=F64))),
    )
    slow = []
    for xi in x:
        dens = [
            float(w)
            * math.exp(-float(((xi - a * y) ** 2).sum()) / (2 * s * s))
            / (2 * math.pi * s * s)
            for y, w in zip(DATA, WEIGHTS, strict=True)
        ]
        us = [path.conditional_field(t, xi[None], y[None])[0] for y in DATA]
        slow.append(sum(d * u for d, u in zip(dens, us, strict=True)) / sum(dens))
        # and the marginal density is the mixture
    assert torch.allclose(field(t, x), torch.stack(slow), rtol=1e-12, atol=1e-12)
    mix = torch.distributions.MixtureSameFamily(
        torch.distributions.Categorical(WEIGHTS),
        torch.distributions.Independent(torch.distributions.Normal(a * DATA, s), 1),
    )
    assert torch.allclose(field.log_prob(t, x), mix.log_prob(x), rtol=1e-12)
    assert torch.allclose(field.posterior(t, x).sum(1), torch.ones(7, dtype=F64))


def test_marginal_field_needs_positive_sigma():
    field = fm.MarginalField(fm.OTPath(0.0), DATA)
    with pytest.raises(ValueError, match="sigma_t > 0"):
        field(1.0, DATA)


# --------------------------------------------------------------------------- couplings


def test_ot_coupling_is_a_permutation_no_worse_than_the_identity():
    x0 = torch.randn(64, 2, generator=_g(6), dtype=F64)
    x1 = torch.randn(64, 2, generator=_g(7), dtype=F64) + 2.0
    p0, p1 = fm.couple(x0, x1, "ot")
    assert torch.equal(p1, x1)
    assert torch.equal(torch.sort(p0, 0)[0], torch.sort(x0, 0)[0])  # same points, reordered
    cost_ot = float(((p0 - p1) ** 2).sum())
    assert cost_ot <= float(((x0 - x1) ** 2).sum())
    # exact optimum on a small problem, by brute force
    a, b = x0[:6], x1[:6]
    q0, _ = fm.couple(a, b, "ot")
    best = min(float(((a[list(p)] - b) ** 2).sum()) for p in itertools.permutations(range(6)))
    assert float(((q0 - b) ** 2).sum()) == pytest.approx(best, rel=1e-12)
    i0, i1 = fm.couple(x0, x1, "independent")
    assert torch.equal(i0, x0) and torch.equal(i1, x1)


# --------------------------------------------------------------------------- losses


def test_cfm_loss_matches_its_definition():
    torch.manual_seed(0)
    model = fm.VelocityMLP(2, hidden=16, n_hidden=1, n_freq=2).double()
    path = fm.OTPath(0.1)
    x0 = torch.randn(32, 2, generator=_g(8), dtype=F64)
    x1 = torch.randn(32, 2, generator=_g(9), dtype=F64)
    t = torch.rand(32, generator=_g(10), dtype=F64)
    xt = (1 - 0.9 * t[:, None]) * x0 + t[:, None] * x1
    manual = ((model(t, xt) - (x1 - 0.9 * x0)) ** 2).sum(1).mean()
    got = fm.cfm_loss(model, path, x1, x0=x0, t=t)
    assert got.item() == pytest.approx(manual.item(), rel=1e-13)
    p0, _ = fm.couple(x0, x1, "ot")
    got_ot = fm.cfm_loss(model, path, x1, x0=x0, t=t, coupling="ot")
    assert got_ot.item() == pytest.approx(
        fm.cfm_loss(model, path, x1, x0=p0, t=t).item(), rel=1e-13
    )


def _quadrature_losses(model, path, t, lim=6.5, n=160):
    # L_FM and L_CFM at one time t by the midpoint rule on a grid (both integrands are
    # smooth Gaussians times polynomials, so the rule is accurate to rounding)
    h = 2 * lim / n
    g1 = torch.linspace(-lim + h / 2, lim - h / 2, n, dtype=F64)
    xx, yy = torch.meshgrid(g1, g1, indexing="ij")
    x = torch.stack([xx.reshape(-1), yy.reshape(-1)], 1)
    marginal = fm.MarginalField(path, DATA, WEIGHTS)
    tt = torch.full((x.shape[0],), t, dtype=F64)
    v = model(tt, x)
    with torch.no_grad():
        p = marginal.log_prob(t, x).exp()
        u = marginal(t, x)
    l_fm = (p * ((v - u) ** 2).sum(1)).sum() * h * h
    a, s = (
        float(path.alpha(torch.tensor(t, dtype=F64))),
        float(path.sigma(torch.tensor(t, dtype=F64))),
    )
    l_cfm = 0.0
    for y, w in zip(DATA, WEIGHTS, strict=True):
        with torch.no_grad():
            pj = torch.exp(-((x - a * y) ** 2).sum(1) / (2 * s * s)) / (2 * math.pi * s * s)
            uj = path.conditional_field(t, x, y[None])
        l_cfm = l_cfm + w * (pj * ((v - uj) ** 2).sum(1)).sum() * h * h
    return l_fm, l_cfm


@pytest.mark.parametrize("t", [0.3, 0.8])
def test_fm_and_cfm_have_equal_gradients(t):
    # K Theorem 12: L_FM = L_CFM + C(t), so the gradients in theta agree
    torch.manual_seed(1)
    model = fm.VelocityMLP(2, hidden=8, n_hidden=2, n_freq=1).double()
    path = fm.OTPath(0.05)
    l_fm, l_cfm = _quadrature_losses(model, path, t)
    g_fm = torch.autograd.grad(l_fm, list(model.parameters()), retain_graph=True)
    g_cfm = torch.autograd.grad(l_cfm, list(model.parameters()))
    g_fm, g_cfm = (
        torch.cat([g.reshape(-1) for g in g_fm]),
        torch.cat([g.reshape(-1) for g in g_cfm]),
    )
    assert torch.allclose(g_fm, g_cfm, rtol=1e-9, atol=1e-11)
    assert float(g_fm.norm()) > 1e-2  # a non-trivial gradient
    # the losses differ by a constant: the same for different parameters
    gap1 = (l_cfm - l_fm).item()
    with torch.no_grad():
        for prm in model.parameters():
            prm.add_(0.3 * torch.randn(prm.shape, generator=_g(11), dtype=F64))
    l_fm2, l_cfm2 = _quadrature_losses(model, path, t)
    assert (l_cfm2 - l_fm2).item() == pytest.approx(gap1, rel=1e-9)
    assert gap1 > 0  # L_CFM >= L_FM: the conditional target has extra variance
    assert l_fm2.item() != pytest.approx(l_fm.item(), rel=1e-3)


def test_fm_loss_is_zero_for_the_marginal_field_itself():
    marginal = fm.MarginalField(fm.OTPath(0.1), DATA)
    x = torch.randn(50, 2, generator=_g(12), dtype=F64)
    assert float(fm.fm_loss(marginal, marginal, x, 0.4)) == 0.0


# --------------------------------------------------------------------------- sampling and likelihood


def test_sampling_the_conditional_ot_field_reproduces_the_flow():
    # one data point: the marginal field is u_t(x | x1), whose flow at t = 1 is
    # psi_1(x0) = sigma_min x0 + x1
    x1 = torch.tensor([[1.0, -2.0]], dtype=F64)
    field = fm.MarginalField(fm.OTPath(0.2), x1)
    x0 = torch.randn(10, 2, generator=_g(13), dtype=F64)
    exact = 0.2 * x0 + x1
    for method, steps in (("euler", 1), ("rk4", 4), ("dopri5", None)):
        out = fm.sample(field, x0, method=method, steps=steps, rtol=1e-10, atol=1e-10)
        assert torch.allclose(out, exact, atol=1e-8), method  # straight, constant speed
    path = fm.sample(field, x0, method="rk4", steps=10, n_times=11)
    assert path.shape == (11, 10, 2)
    t = torch.linspace(0, 1, 11, dtype=F64)[:, None, None]
    assert torch.allclose(path, (1 - 0.8 * t) * x0 + t * x1, atol=1e-12)


def test_exact_likelihood_of_the_marginal_field_is_the_mixture_density():
    # K Theorem 11 + the CNF: the flow of the marginal field carries N(0, I) to p_1 =
    # sum_j w_j N(alpha_1 y_j, sigma_1^2 I), and log_prob recovers that density
    path = fm.OTPath(0.5)
    field = fm.MarginalField(path, DATA, WEIGHTS)
    x = torch.randn(12, 2, generator=_g(14), dtype=F64) * 0.7 + DATA[torch.arange(12) % 3]
    got = fm.log_prob(field, x, rtol=1e-7, atol=1e-7)
    assert torch.allclose(got, field.log_prob(1.0, x), atol=1e-5)


def test_straightness_of_known_curves():
    t = torch.linspace(0, 1, 2001, dtype=F64)
    line = (torch.tensor([1.0, 2.0], dtype=F64) * t[:, None])[:, None, :]
    assert fm.straightness(line) == pytest.approx(0.0, abs=1e-20)
    arc = torch.stack([torch.cos(math.pi * t / 2), torch.sin(math.pi * t / 2)], 1)[:, None, :]
    # int_0^1 |v - (x1 - x0)|^2 dt = pi^2/4 - 2 for the quarter circle
    assert fm.straightness(arc) == pytest.approx(math.pi**2 / 4 - 2, rel=1e-5)


# --------------------------------------------------------------------------- model, training, errors


def test_velocity_mlp_accepts_scalar_and_batched_times():
    model = fm.VelocityMLP(3, hidden=8, n_hidden=1, n_freq=2)
    x = torch.randn(5, 3)
    a = model(0.3, x)
    b = model(torch.full((5,), 0.3), x)
    assert a.shape == (5, 3) and torch.allclose(a, b)


def test_training_lowers_the_loss_and_returns_an_average():
    torch.manual_seed(2)
    data = torch.randn(512, 2, generator=_g(15)) * 0.3 + torch.tensor([2.0, 0.0])
    model = fm.VelocityMLP(2, hidden=32, n_hidden=2, n_freq=2)
    out = fm.train(model, data, steps=150, batch_size=64, lr=5e-3, ema=0.9, generator=_g(16))
    first, last = sum(out["loss"][:20]) / 20, sum(out["loss"][-20:]) / 20
    assert last < 0.7 * first
    assert out["steps"] == 150 and out["model"] is not model
    out_ot = fm.train(
        model, data, steps=5, batch_size=16, coupling="ot", ema=None, generator=_g(17)
    )
    assert out_ot["model"] is model and len(out_ot["loss"]) == 5


def test_bad_inputs_raise_clear_errors():
    path = fm.OTPath()
    x = torch.zeros(4, 2)
    with pytest.raises(ValueError, match="same shape"):
        path.sample_xt(x, torch.zeros(3, 2), 0.5)
    with pytest.raises(ValueError, match="t must be"):
        path.sample_xt(x, x, torch.zeros(3))
    with pytest.raises(ValueError, match="sigma_min"):
        fm.OTPath(1.0)
    with pytest.raises(ValueError, match="unknown coupling"):
        fm.couple(x, x, "sinkhorn")
    with pytest.raises(ValueError, match="unknown path"):
        fm.get_path("cosine")
    with pytest.raises(ValueError, match="unknown method"):
        fm.sample(lambda t, y: y, x, method="rk45")
    with pytest.raises(ValueError, match="multiple"):
        fm.sample(lambda t, y: y, x, method="rk4", steps=10, n_times=4)
    with pytest.raises(TypeError, match="torch.Tensor"):
        fm.cfm_loss(lambda t, y: y, path, [[0.0, 0.0]])
    with pytest.raises(ValueError, match="sigma_max"):
        fm.VEPath(sigma_min=1.0, sigma_max=0.5)
    assert isinstance(fm.get_path("vp"), fm.VPPath)


def test_bad_inputs_are_refused_not_broadcast():
    x1 = torch.tensor([[1.0, 0.0], [0.0, 3.0]], dtype=F64)
    x0, t = torch.zeros(2, 2, dtype=F64), torch.full((2,), 0.5, dtype=F64)
    path = fm.OTPath()
    # a field returning the wrong shape used to broadcast into a number
    for bad_field in (lambda t_, x: x.sum(1), lambda t_, x: x[:, :1]):
        with pytest.raises(ValueError, match=r"field\(t, x\) must return shape \(2, 2\)"):
            fm.cfm_loss(bad_field, path, x1, x0=x0, t=t)
        with pytest.raises(ValueError, match=r"field\(t, x\) must return shape \(2, 2\)"):
            fm.fm_loss(bad_field, lambda t_, x: x, x1, 0.5)
    for bad_t in (1.5, -0.1):
        with pytest.raises(ValueError, match=r"t must be in \[0, 1\]"):
            path.sample_xt(x0, x1, bad_t)
    with pytest.raises(ValueError, match=r"^t contains NaN or infinite values$"):
        path.sample_xt(x0, x1, math.nan)  # the table's message for NaN (_validate)
    with pytest.raises(ValueError, match=r"t must be in \[0, 1\]"):
        fm.VEPath().target(x0, x1, -1.0)
    for w in ([math.nan, 1.0], [math.inf, 1.0], [-1.0, 2.0]):
        with pytest.raises(ValueError, match="weights must be finite, non-negative"):
            fm.MarginalField(path, x1, torch.tensor(w, dtype=F64))
    with pytest.raises(ValueError, match="data must have at least one row"):
        fm.MarginalField(path, x1[:0])
    with pytest.raises(ValueError, match="x1 must have at least one row"):
        fm.cfm_loss(lambda t_, x: x, path, x1[:0])
    with pytest.raises(ValueError, match="s must have a multiple of x's 3 rows"):
        fm.VelocityMLP(2).double().jvp(
            0.5, torch.zeros(3, 2, dtype=F64), torch.zeros(2, 2, dtype=F64)
        )
