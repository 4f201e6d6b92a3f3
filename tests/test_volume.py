import math

import pytest
import torch
from scipy.linalg import expm

from course_utils import volume as vol

G = lambda s=0: torch.Generator().manual_seed(s)
F64 = torch.float64


def _mlp_field(d=3, width=16, seed=0):
    torch.manual_seed(seed)
    net = (
        torch.nn.Sequential(
            torch.nn.Linear(d + 1, width), torch.nn.Tanh(), torch.nn.Linear(width, d)
        )
        .double()
        .requires_grad_(False)
    )

    def v(t, x):
        return net(torch.cat([x, t.expand(x.shape[0], 1)], 1))

    return v


def _linear_field(a):
    return lambda t, x: x @ a.T


A = torch.tensor([[0.3, -1.0, 0.2], [0.8, -0.2, 0.1], [0.0, 0.4, -0.5]], dtype=F64)


def test_cosine_l2_identities():
    x, y = (
        torch.randn(50, 6, generator=G(1), dtype=F64),
        torch.randn(50, 6, generator=G(2), dtype=F64),
    )
    sc, d = vol.cosine_similarity(x, y), vol.l2_distance(x, y)
    nx, ny = x.norm(dim=1), y.norm(dim=1)
    # G eq. 3-4
    assert torch.allclose(d**2, nx**2 + ny**2 - 2 * sc * nx * ny, atol=1e-12)
    # G eq. 5 for unit vectors
    xu, yu = x / nx[:, None], y / ny[:, None]
    assert torch.allclose(
        0.5 * vol.l2_distance(xu, yu) ** 2, 1 - vol.cosine_similarity(xu, yu), atol=1e-12
    )
    assert torch.allclose(sc, torch.nn.functional.cosine_similarity(x, y), atol=1e-12)
    with pytest.raises(ValueError, match="zero vector"):
        vol.cosine_similarity(torch.zeros(3), torch.ones(3))
    with pytest.raises(ValueError, match="same|shape"):
        vol.l2_distance(torch.zeros(3), torch.ones(4))


def test_linear_field_maps_match_closed_forms():
    v, n = _linear_field(A), 50
    h = 1.0 / n
    z = torch.randn(5, 3, generator=G(3), dtype=F64)
    eye = torch.eye(3, dtype=F64)
    fwd = torch.linalg.matrix_power(eye + h * A, n)
    rev = torch.linalg.matrix_power(eye - h * A, n)
    assert torch.allclose(vol.forward_map(v, z, n), z @ fwd.T, atol=1e-12)
    assert torch.allclose(vol.reverse_map(v, z, n), z @ rev.T, atol=1e-12)
    # as N grows both converge to the exact flow exp(+-A) at first order
    errs = []
    for n in (100, 200, 400):
        x = vol.forward_map(v, z, n)
        errs.append(float((x - z @ torch.from_numpy(expm(A.numpy())).T).abs().max()))
    assert 1.8 < errs[0] / errs[1] < 2.2 and 1.8 < errs[1] / errs[2] < 2.2
    x, jac = vol.reverse_map_with_jacobian(v, z, 50)
    assert torch.allclose(jac, rev.expand(5, 3, 3), atol=1e-12)


def test_augmented_jacobian_equals_autograd_through_euler():
    v = _mlp_field()
    x = torch.randn(4, 3, generator=G(4), dtype=F64)
    z, jac = vol.reverse_map_with_jacobian(v, x, 20)
    assert torch.allclose(z, vol.reverse_map(v, x, 20), atol=1e-14)
    for i in range(4):
        ref = torch.autograd.functional.jacobian(lambda y: vol.reverse_map(v, y[None], 20)[0], x[i])
        assert torch.allclose(jac[i], ref, atol=1e-10), (jac[i] - ref).abs().max()


def test_jvps_equal_jacobian_times_vector():
    v = _mlp_field()
    xc = torch.randn(3, generator=G(5), dtype=F64)
    u = torch.randn(7, 3, generator=G(6), dtype=F64)
    _, jac = vol.reverse_map_with_jacobian(v, xc[None], 15)
    z1, s1 = vol.reverse_map_jvp(v, xc, u, 15)
    z2, s2 = vol.reverse_map_jvp_autodiff(v, xc, u, 15)
    assert torch.allclose(s1, u @ jac[0].T, atol=1e-10)
    assert torch.allclose(s2, u @ jac[0].T, atol=1e-10)
    assert torch.allclose(z1, z2, atol=1e-14)
    # batched form: one direction per point
    xs = torch.randn(7, 3, generator=G(7), dtype=F64)
    _, jac_b = vol.reverse_map_with_jacobian(v, xs, 15)
    _, s3 = vol.reverse_map_jvp(v, xs, u, 15)
    assert torch.allclose(s3, torch.einsum("bij,bj->bi", jac_b, u), atol=1e-10)


def test_round_trip_error_is_first_order():
    v = _mlp_field(d=2)
    x = torch.randn(20, 2, generator=G(8), dtype=F64)
    errs = [
        float((vol.forward_map(v, vol.reverse_map(v, x, n), n) - x).detach().norm(dim=1).max())
        for n in (20, 40, 80)
    ]
    slope = math.log(errs[0] / errs[2]) / math.log(4)
    assert 0.85 < slope < 1.15, (errs, slope)


def test_sphere_and_ball_samples():
    x = vol.sample_sphere(20_000, 5, radius=2.0, generator=G(9))
    assert torch.allclose(x.norm(dim=1), torch.full((20_000,), 2.0, dtype=F64), atol=1e-12)
    assert x.mean(0).abs().max() < 0.05
    # covariance of a uniform point on the r-sphere is r^2 / d I
    cov = x.T @ x / x.shape[0]
    assert torch.allclose(cov, 4.0 / 5 * torch.eye(5, dtype=F64), atol=0.05)
    b = vol.sample_ball(40_000, 3, radius=1.0, generator=G(10))
    assert (b.norm(dim=1) <= 1).all()
    frac = (b.norm(dim=1) <= 0.5).double().mean().item()
    assert abs(frac - 0.5**3) < 4 * math.sqrt(0.125 * 0.875 / 40_000)
    c = torch.tensor([1.0, -1.0, 2.0], dtype=F64)
    assert torch.allclose(
        vol.sample_sphere(10, 3, 0.5, c, G(1)).sub(c).norm(dim=1), torch.full((10,), 0.5, dtype=F64)
    )
    with pytest.raises(ValueError, match="d must be a positive int"):
        vol.sample_sphere(3, 0)
    for sampler in (vol.sample_sphere, vol.sample_ball):
        for bad in (0.0, -1.0, math.inf, math.nan):
            with pytest.raises(ValueError, match="radius must be a finite number > 0"):
                sampler(3, 2, radius=bad)
        with pytest.raises(TypeError, match="radius must be a number"):
            sampler(3, 2, radius="1")
        with pytest.raises(ValueError, match=r"center must have shape \(2,\), got \(1,\)"):
            sampler(3, 2, center=torch.zeros(1))  # would broadcast silently
    ball = vol.sample_ball(500, 3, radius=0.5, center=c, generator=G(12))
    assert (ball.sub(c).norm(dim=1) <= 0.5).all() and ball.sub(c).norm(dim=1).max() > 0.45


def test_metrics_for_linear_field_closed_form():
    v, n, r = _linear_field(A), 30, 0.3
    xc = torch.tensor([0.5, -0.2, 1.0], dtype=F64)
    u = vol.sample_sphere(64, 3, generator=G(11))
    m = vol.volume_metrics(v, xc, r, n, directions=u)
    rev = torch.linalg.matrix_power(torch.eye(3, dtype=F64) - A / n, n)
    fwd = torch.linalg.matrix_power(torch.eye(3, dtype=F64) + A / n, n)
    # linear maps: the linearisation is exact
    assert m["D0"] < 1e-12
    assert m["C0"] == pytest.approx(float((r * u @ rev.T).norm(dim=1).mean()), abs=1e-12)
    assert m["S0"] == pytest.approx(m["C0"], abs=1e-12)
    assert m["C1"] == pytest.approx(r, abs=1e-12)
    x1_lin = (xc + r * u) @ (fwd @ rev).T
    assert m["D1"] == pytest.approx(float((xc + r * u - x1_lin).norm(dim=1).mean()), abs=1e-12)
    m2 = vol.volume_metrics(v, xc, r, n, directions=u, method="jacobian")
    for key in ("D0", "C0", "S0", "D1", "C1", "S1"):
        assert m2[key] == pytest.approx(m[key], abs=1e-12)


def test_linearised_metrics_converge_quadratically():
    v = _mlp_field(d=2, width=32, seed=3)
    xc = torch.tensor([0.4, -0.3], dtype=F64)
    u = vol.sample_sphere(32, 2, generator=G(12))
    radii = [0.2, 0.1, 0.05]
    ms = [vol.volume_metrics(v, xc, r, 20, directions=u) for r in radii]
    d0 = [m["D0"] for m in ms]
    gap = [abs(m["C0"] - m["S0"]) for m in ms]
    slope = math.log(d0[0] / d0[2]) / math.log(4)
    assert 1.8 < slope < 2.2, d0  # D0 = O(r^2): the linearisation error is second order
    assert gap[2] < gap[0] / 3  # C0 - S0 shrinks faster than r


def test_bad_inputs():
    v = _linear_field(A)
    with pytest.raises(ValueError, match=r"x must have shape \(batch, d\)"):
        vol.reverse_map(v, torch.zeros(3), 5)
    with pytest.raises(ValueError, match="n_steps must be a positive int"):
        vol.forward_map(v, torch.zeros(1, 3), 0)
    with pytest.raises(ValueError, match="must return the shape of x"):
        vol.forward_map(lambda t, x: x[:, :2], torch.zeros(1, 3), 2)
    with pytest.raises(ValueError, match="method must be"):
        vol.volume_metrics(v, torch.zeros(3, dtype=F64), 0.1, 5, method="exact")
    with pytest.raises(ValueError, match=r"u must have shape \(m, 3\)"):
        vol.reverse_map_jvp(v, torch.zeros(3), torch.zeros(4, 2), 5)


# ----------------------------------------------------------------- hand-written MLP JVP
ACTIVATIONS = [
    torch.nn.SiLU(),
    torch.nn.Tanh(),
    torch.nn.Sigmoid(),
    torch.nn.Softplus(beta=2.0, threshold=1.0),  # small threshold: both branches are hit
    torch.nn.SELU(),
    torch.nn.ReLU(),
    torch.nn.Identity(),
]


def _net(act, w=5, hidden=12, out=4, seed=0):
    torch.manual_seed(seed)
    return torch.nn.Sequential(
        torch.nn.Linear(w, hidden),
        act,
        torch.nn.Linear(hidden, hidden),
        act,
        torch.nn.Linear(hidden, out, bias=False),
    ).double()


def _func_jvp(net, x, s, per_input):
    """Reference: torch.func.jvp of each tangent row at its input row."""
    xi = x.repeat_interleave(per_input, dim=0) if x.shape[0] > 1 else x.expand(s.shape[0], -1)
    return torch.func.vmap(lambda a, b: torch.func.jvp(net, (a[None],), (b[None],))[1][0])(xi, s)


@pytest.mark.parametrize("act", ACTIVATIONS, ids=lambda a: type(a).__name__)
@pytest.mark.parametrize("b,m", [(1, 7), (6, 6), (3, 12)])
def test_sequential_jvp_matches_torch_func(act, b, m):
    net = _net(act)
    x = 2 * torch.randn(b, 5, generator=G(20), dtype=F64)
    s = torch.randn(m, 5, generator=G(21), dtype=F64)
    y, t = vol.sequential_jvp(net, x, s)
    assert torch.allclose(y, net(x), atol=1e-14)
    assert torch.allclose(t, _func_jvp(net, x, s, m // b), atol=1e-12)


def test_sequential_jvp_gradients_flow_to_the_weights():
    net = _net(torch.nn.SiLU())
    x = torch.randn(2, 5, generator=G(22), dtype=F64)
    s = torch.randn(4, 5, generator=G(23), dtype=F64)
    y, t = vol.sequential_jvp(net, x, s)
    g_hand = torch.autograd.grad((y**2).sum() + (t**3).sum(), list(net.parameters()))
    ref_t = _func_jvp(net, x, s, 2)
    g_ref = torch.autograd.grad((net(x) ** 2).sum() + (ref_t**3).sum(), list(net.parameters()))
    for a, r in zip(g_hand, g_ref, strict=True):
        assert torch.allclose(a, r, atol=1e-11)


def test_sequential_jvp_bad_inputs():
    net = _net(torch.nn.Tanh())
    with pytest.raises(TypeError, match="net must be a torch.nn.Sequential"):
        vol.sequential_jvp(lambda x: x, torch.zeros(1, 5), torch.zeros(2, 5))
    odd = torch.nn.Sequential(torch.nn.Linear(5, 5), torch.nn.LayerNorm(5)).double()
    with pytest.raises(TypeError, match="supports Linear, SiLU.*got a LayerNorm layer"):
        vol.sequential_jvp(odd, torch.zeros(1, 5, dtype=F64), torch.zeros(2, 5, dtype=F64))
    with pytest.raises(ValueError, match="m a multiple of x's 3 rows"):
        vol.sequential_jvp(net, torch.zeros(3, 5, dtype=F64), torch.zeros(4, 5, dtype=F64))
    with pytest.raises(ValueError, match=r"s must have shape \(m, width\), got \(5,\)"):
        vol.sequential_jvp(net, torch.zeros(1, 5, dtype=F64), torch.zeros(5, dtype=F64))


def _velocity_mlp(activation="silu"):
    from course_utils.flow_matching import VelocityMLP

    torch.manual_seed(3)
    return VelocityMLP(3, hidden=16, n_hidden=2, n_freq=2, activation=activation).double()


@pytest.mark.parametrize("activation", ["silu", "selu", "tanh", "softplus"])
def test_velocity_mlp_jvp_is_the_x_derivative(activation):
    v = _velocity_mlp(activation)
    x = torch.randn(2, 3, generator=G(24), dtype=F64)
    s = torch.randn(6, 3, generator=G(25), dtype=F64)
    t = torch.tensor(0.7, dtype=F64)
    vel, dv_s = v.jvp(t, x, s)
    assert torch.allclose(vel, v(t, x), atol=1e-14)
    jac = torch.func.vmap(torch.func.jacrev(lambda y: v(t, y[None])[0]))(x)  # (2, 3, 3)
    ref = torch.einsum("bij,bmj->bmi", jac, s.reshape(2, 3, 3)).reshape(6, 3)
    assert torch.allclose(dv_s, ref, atol=1e-12)


def test_reverse_map_jvp_routes_agree_for_every_layout():
    v = _velocity_mlp()
    x = torch.randn(4, 3, generator=G(26), dtype=F64)
    _, jac = vol.reverse_map_with_jacobian(v, x, 12)
    layouts = [
        (x[0], torch.randn(5, 3, generator=G(27), dtype=F64), lambda u: u @ jac[0].T),
        (
            x,
            torch.randn(4, 3, generator=G(28), dtype=F64),
            lambda u: torch.einsum("bij,bj->bi", jac, u),
        ),
        (
            x,
            torch.randn(4, 5, 3, generator=G(29), dtype=F64),
            lambda u: torch.einsum("bij,bmj->bmi", jac, u),
        ),
    ]
    for xi, u, ref in layouts:
        z_f, s_f = vol.reverse_map_jvp(v, xi, u, 12, route="field")
        z_a, s_a = vol.reverse_map_jvp(v, xi, u, 12, route="autodiff")
        z_auto, s_auto = vol.reverse_map_jvp(v, xi, u, 12)
        assert s_f.shape == u.shape and z_f.shape == xi.shape
        assert torch.allclose(s_f, ref(u), atol=1e-11)
        assert torch.allclose(s_a, ref(u), atol=1e-11)
        assert torch.equal(s_auto, s_f)  # "auto" picks the field's own jvp
        assert torch.allclose(z_f, z_a, atol=1e-13)
        assert torch.allclose(
            z_f, vol.reverse_map(v, xi.reshape(-1, 3), 12).reshape(xi.shape), atol=1e-13
        )


def test_reverse_map_jvp_route_errors():
    closure = _mlp_field()
    x = torch.zeros(3, dtype=F64)
    with pytest.raises(TypeError, match="route='field' needs a field with a method jvp"):
        vol.reverse_map_jvp(closure, x, torch.zeros(2, 3, dtype=F64), 5, route="field")
    with pytest.raises(ValueError, match="route must be one of"):
        vol.reverse_map_jvp(closure, x, torch.zeros(2, 3, dtype=F64), 5, route="fast")
    with pytest.raises(ValueError, match=r"u must have shape \(2, 3\) or \(2, m, 3\)"):
        vol.reverse_map_jvp(closure, torch.zeros(2, 3, dtype=F64), torch.zeros(3, 4, 3), 5)

    class Bad:
        def __call__(self, t, x):
            return x

        def jvp(self, t, x, s):
            return x, s[:1]

    with pytest.raises(ValueError, match=r"v.jvp\(t, x, s\) must return shapes"):
        vol.reverse_map_jvp(Bad(), x, torch.zeros(2, 3, dtype=F64), 5)


def test_volume_metrics_needs_unit_directions():
    v = _linear_field(A)
    xc = torch.zeros(3, dtype=F64)
    for dirs in (torch.tensor([[3.0, 4.0, 0.0]], dtype=F64), torch.zeros(2, 3, dtype=F64)):
        with pytest.raises(ValueError, match="directions must be unit vectors"):
            vol.volume_metrics(v, xc, 0.1, 4, directions=dirs)
    with pytest.raises(TypeError, match="directions must be a torch.Tensor"):
        vol.volume_metrics(v, xc, 0.1, 4, directions=[[1.0, 0.0, 0.0]])
    m = vol.volume_metrics(v, xc, 0.1, 4, directions=vol.sample_sphere(5, 3, generator=G(1)))
    assert abs(m["C1"] - 0.1) < 1e-12  # C1 = radius holds for unit directions
