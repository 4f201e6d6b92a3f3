"""Tests of course_utils.ode against closed forms, scipy's solvers, autograd and finite differences."""

import math

import numpy as np
import pytest
import torch
import torchdiffeq  # a test dependency (pyproject [test]): the cross-checks always run
from scipy.integrate import solve_ivp

from course_utils import ode

F64 = torch.float64
FIXED = ode.FIXED_STEP_METHODS
ORDERS = {"euler": 1, "midpoint": 2, "heun": 2, "rk4": 4}


def assert_close(actual, expected, *, rtol, atol):
    # Like torch.testing.assert_close (whose first call costs seconds of imports).
    assert actual.shape == expected.shape, (actual.shape, expected.shape)
    diff = (actual - expected).abs()
    ok = bool((diff <= atol + rtol * expected.abs()).all())
    assert ok, f"max abs difference {float(diff.max()):.3g} (rtol={rtol}, atol={atol})"


def tt(*values):
    return torch.tensor(values, dtype=F64)


def decay(t, y):
    return -2.0 * y


ROT = torch.tensor([[0.0, -1.0], [1.0, 0.0]], dtype=F64)


def rotation(t, y):
    # y: (batch, 2); dy/dt = A y with A the generator of a counter-clockwise rotation.
    return y @ ROT.T


def rotate(y0, t):
    c, s = math.cos(t), math.sin(t)
    r = torch.tensor([[c, -s], [s, c]], dtype=F64)
    return y0 @ r.T


def cos_field(t, y):
    # Time-dependent: dy/dt = cos(t) y, so y(t) = y0 exp(sin t - sin t0).
    return torch.cos(t) * y


# ----------------------------------------------------------------------------- closed forms


@pytest.mark.parametrize("method", ode.METHODS)
def test_decay_matches_closed_form(method):
    t = torch.linspace(0, 1, 3, dtype=F64)
    kw = {} if method == "dopri5" else {"step_size": 1 / 256}
    y = ode.odeint(decay, tt(3.0, -1.0), t, method=method, rtol=1e-10, atol=1e-12, **kw)
    exact = tt(3.0, -1.0)[None] * torch.exp(-2 * t)[:, None]
    tol = {"euler": 2e-2, "midpoint": 5e-5, "heun": 5e-5, "rk4": 1e-10, "dopri5": 1e-9}[method]
    assert y.shape == (3, 2)
    assert_close(y, exact, rtol=0, atol=tol)


def test_euler_by_hand_table():
    # The notes' table: dy/dt = -2y, y(0) = 3, h = 0.1 gives 2.4, 1.92, 1.536.
    y = ode.odeint(decay, tt(3.0), torch.linspace(0, 0.3, 4, dtype=F64), method="euler")
    assert_close(y[:, 0], tt(3.0, 2.4, 1.92, 1.536), rtol=0, atol=1e-12)


@pytest.mark.parametrize("method", ode.METHODS)
def test_rotation_of_a_batch(method):
    y0 = torch.randn(5, 2, generator=torch.Generator().manual_seed(0), dtype=F64)
    t = torch.linspace(0, math.pi, 5, dtype=F64)
    kw = {} if method == "dopri5" else {"step_size": math.pi / 4 / 64}
    y = ode.odeint(rotation, y0, t, method=method, rtol=1e-10, atol=1e-12, **kw)
    exact = torch.stack([rotate(y0, float(s)) for s in t])
    tol = {"euler": 0.1, "midpoint": 1e-3, "heun": 1e-3, "rk4": 1e-8, "dopri5": 1e-8}[method]
    assert_close(y, exact, rtol=0, atol=tol)
    if method != "euler":  # Euler spirals outwards; the others nearly keep the radius
        assert_close(y[-1].norm(dim=1), y0.norm(dim=1), rtol=tol, atol=0)


@pytest.mark.parametrize("method", ode.METHODS)
def test_time_dependent_field(method):
    t = tt(0.5, 2.0, 4.0)
    kw = {} if method == "dopri5" else {"step_size": 1 / 200}
    y = ode.odeint(cos_field, tt(1.0, 2.0), t, method=method, rtol=1e-10, atol=1e-12, **kw)
    exact = tt(1.0, 2.0)[None] * torch.exp(torch.sin(t) - math.sin(0.5))[:, None]
    tol = {"euler": 5e-2, "midpoint": 1e-4, "heun": 1e-4, "rk4": 1e-9, "dopri5": 1e-8}[method]
    assert_close(y, exact, rtol=0, atol=tol)


@pytest.mark.parametrize(("method", "degree"), [("midpoint", 1), ("heun", 1), ("rk4", 3)])
def test_quadrature_exactness(method, degree):
    # For dy/dt = g(t) a Runge-Kutta step is a quadrature rule: midpoint/trapezoid are exact
    # for linear g, RK4 (Simpson) for cubic g; one degree higher is not exact.
    def field(p):
        return lambda t, y: (t**p) * torch.ones_like(y)

    t = tt(0.0, 1.0)
    exact = ode.odeint(field(degree), tt(0.0), t, method=method)[-1, 0]
    assert abs(float(exact) - 1 / (degree + 1)) < 1e-14
    inexact = ode.odeint(field(degree + 1), tt(0.0), t, method=method)[-1, 0]
    assert abs(float(inexact) - 1 / (degree + 2)) > 1e-3


# ----------------------------------------------------------------------------- orders


@pytest.mark.parametrize("method", FIXED)
def test_measured_convergence_order(method):
    hs = [1 / 8, 1 / 16, 1 / 32, 1 / 64]
    errors = []
    for h in hs:
        y = ode.odeint(cos_field, tt(1.0), tt(0.0, 2.0), method=method, step_size=h)
        errors.append(abs(float(y[-1, 0]) - math.exp(math.sin(2.0))))
    slope = np.polyfit(np.log(hs), np.log(errors), 1)[0]
    assert abs(slope - ORDERS[method]) < 0.2, (method, slope, errors)


def test_dopri5_local_error_is_fifth_order():
    # One step of size h has error O(h^6) (a 5th-order method): the log-log slope is ~6.
    hs = [0.4, 0.2, 0.1, 0.05]
    errors = []
    for h in hs:
        y = ode.odeint(cos_field, tt(1.0), tt(0.0, h), options={"first_step": h}, rtol=1, atol=1)
        assert ode.last_stats().n_accepted == 1
        errors.append(abs(float(y[-1, 0]) - math.exp(math.sin(h))))
    slope = np.polyfit(np.log(hs), np.log(errors), 1)[0]
    assert abs(slope - 6) < 0.3, (slope, errors)


# ----------------------------------------------------------------------------- dopri5 vs scipy


def lotka_volterra(t, y):
    a, b = y[..., 0], y[..., 1]
    return torch.stack([1.5 * a - a * b, -3.0 * b + a * b + 0.1 * torch.sin(t)], dim=-1)


def lotka_volterra_np(t, y):
    a, b = y
    return [1.5 * a - a * b, -3.0 * b + a * b + 0.1 * math.sin(t)]


def oscillator(t, y):
    # A damped oscillator with a time-dependent coefficient, y: (..., 2).
    p, q = y[..., 0], y[..., 1]
    return torch.stack([-q + 0.5 * torch.cos(t) * p, p - 0.1 * q], dim=-1)


def oscillator_np(t, y):
    p, q = y
    return [-q + 0.5 * math.cos(t) * p, p - 0.1 * q]


@pytest.mark.parametrize("tol", [1e-3, 1e-5, 1e-7, 1e-9])
def test_dopri5_against_dop853_reference(tol):
    t_eval = np.linspace(0.0, 2 * math.pi, 21)
    ref = solve_ivp(
        oscillator_np,
        (0, 2 * math.pi),
        [1.0, 0.0],
        method="DOP853",
        t_eval=t_eval,
        rtol=1e-12,
        atol=1e-12,
    ).y.T
    y = ode.odeint(oscillator, tt(1.0, 0.0), torch.from_numpy(t_eval), rtol=tol, atol=tol)
    err = np.abs(y.numpy() - ref).max()
    # Global error of a locally controlled solver: within a small factor of the tolerance.
    assert err < 10 * tol, (tol, err)
    assert err > 1e-2 * tol  # the tolerance is really used (not solved to round-off)


@pytest.mark.parametrize("tol", [1e-3, 1e-6, 1e-9])
def test_dopri5_error_equals_rk45_error_on_lotka_volterra(tol):
    # On a long, growing solution the global error is many times tol, for scipy too.
    t_eval = np.linspace(0.0, 10.0, 21)
    ref = solve_ivp(
        lotka_volterra_np,
        (0, 10),
        [1.0, 1.0],
        method="DOP853",
        t_eval=t_eval,
        rtol=1e-12,
        atol=1e-12,
    ).y.T
    rk45 = solve_ivp(
        lotka_volterra_np, (0, 10), [1.0, 1.0], method="RK45", t_eval=t_eval, rtol=tol, atol=tol
    ).y.T
    y = ode.odeint(lotka_volterra, tt(1.0, 1.0), torch.from_numpy(t_eval), rtol=tol, atol=tol)
    ours, theirs = np.abs(y.numpy() - ref).max(), np.abs(rk45 - ref).max()
    assert abs(ours - theirs) < 1e-3 * theirs, (ours, theirs)


@pytest.mark.parametrize("tol", [1e-4, 1e-7, 1e-10])
def test_dopri5_takes_the_same_steps_as_scipy_rk45(tol):
    # Same tableau, error norm, controller and initial step: same NFE and steps as RK45.
    sol = solve_ivp(lotka_volterra_np, (0, 10), [1.0, 1.0], method="RK45", rtol=tol, atol=tol)
    y = ode.odeint(lotka_volterra, tt(1.0, 1.0), tt(0.0, 10.0), rtol=tol, atol=tol)
    stats = ode.last_stats()
    assert stats.n_accepted == len(sol.t) - 1
    assert stats.nfe == sol.nfev
    assert stats.nfe == 2 + 6 * (stats.n_accepted + stats.n_rejected)
    np.testing.assert_allclose(y[-1].numpy(), sol.y[:, -1], rtol=1e-10, atol=1e-12)
    assert all(e < 1 for e in stats.error_norms)


def test_dopri5_dense_output_matches_scipy_and_keeps_steps():
    t_eval = np.linspace(0.0, 10.0, 101)
    sol = solve_ivp(
        lotka_volterra_np, (0, 10), [1.0, 1.0], method="RK45", t_eval=t_eval, rtol=1e-6, atol=1e-8
    )
    y = ode.odeint(lotka_volterra, tt(1.0, 1.0), torch.from_numpy(t_eval))
    nfe_dense = ode.last_stats().nfe
    np.testing.assert_allclose(y.numpy(), sol.y.T, rtol=1e-9, atol=1e-11)
    ode.odeint(lotka_volterra, tt(1.0, 1.0), tt(0.0, 10.0))
    assert ode.last_stats().nfe == nfe_dense


def test_dopri5_rejects_steps_on_a_stiff_problem():
    # A fast transient then slow motion: the controller must shrink and regrow the step.
    def stiffish(t, y):
        return -50.0 * (y - torch.cos(t))

    ode.odeint(stiffish, tt(0.0), tt(0.0, 2.0), rtol=1e-6, atol=1e-8)
    stats = ode.last_stats()
    sol = solve_ivp(
        lambda t, y: -50.0 * (y - math.cos(t)), (0, 2), [0.0], method="RK45", rtol=1e-6, atol=1e-8
    )
    assert stats.n_rejected > 0
    assert stats.nfe == sol.nfev
    assert len(stats.rejected_steps) == stats.n_rejected
    assert len(stats.accepted_steps) == stats.n_accepted


# ----------------------------------------------------------------------------- tuples, backward


@pytest.mark.parametrize("method", ode.METHODS)
def test_tuple_state_equals_separate_solves(method):
    # Augmented state (x, log_p) of a linear CNF: dx/dt = -x, d log_p/dt = -div = +2.
    x0 = torch.randn(4, 2, generator=torch.Generator().manual_seed(1), dtype=F64)
    lp0 = torch.zeros(4, dtype=F64)

    def aug(t, state):
        x, lp = state
        return -x, torch.full_like(lp, 2.0)

    t = tt(0.0, 0.5, 1.0)
    kw = {} if method == "dopri5" else {"step_size": 0.05}
    x, lp = ode.odeint(aug, (x0, lp0), t, method=method, rtol=1e-10, atol=1e-12, **kw)
    assert x.shape == (3, 4, 2) and lp.shape == (3, 4)
    x_alone = ode.odeint(lambda t, x: -x, x0, t, method=method, rtol=1e-10, atol=1e-12, **kw)
    tol = 1e-8 if method == "dopri5" else 1e-13
    assert_close(x, x_alone, rtol=tol, atol=tol)
    assert_close(lp, 2.0 * t[:, None].expand(3, 4), rtol=0, atol=1e-12)


def test_tuple_error_norm_is_rms_over_all_components():
    # A tuple state and the same numbers concatenated in one tensor: identical steps.
    def split(t, s):
        a, b = s
        return lotka_volterra(t, torch.stack([a, b], -1)).unbind(-1)

    ode.odeint(split, (tt(1.0, 0.5), tt(1.0, 2.0)), tt(0.0, 5.0), rtol=1e-6, atol=1e-6)
    tuple_stats = ode.last_stats()
    ode.odeint(
        lotka_volterra,
        torch.stack([tt(1.0, 0.5), tt(1.0, 2.0)], -1),
        tt(0.0, 5.0),
        rtol=1e-6,
        atol=1e-6,
    )
    assert ode.last_stats().nfe == tuple_stats.nfe
    assert ode.last_stats().n_rejected == tuple_stats.n_rejected


@pytest.mark.parametrize("method", ode.METHODS)
def test_backward_integration_and_round_trip(method):
    y0 = torch.randn(6, 2, generator=torch.Generator().manual_seed(2), dtype=F64)
    kw = {} if method == "dopri5" else {"step_size": 0.01}
    back = ode.odeint(rotation, y0, tt(1.0, 0.5, 0.0), method=method, rtol=1e-10, atol=1e-12, **kw)
    tol = {"euler": 2e-2, "midpoint": 1e-4, "heun": 1e-4, "rk4": 1e-9, "dopri5": 1e-8}[method]
    assert_close(back[-1], rotate(y0, -1.0), rtol=0, atol=tol)
    assert all(h < 0 for _, h in ode.last_stats().accepted_steps)
    fwd = ode.odeint(cos_field, y0, tt(0.0, 1.0), method=method, rtol=1e-10, atol=1e-12, **kw)
    again = ode.odeint(
        cos_field, fwd[-1], tt(1.0, 0.0), method=method, rtol=1e-10, atol=1e-12, **kw
    )
    assert_close(again[-1], y0, rtol=0, atol=tol)


def test_single_time_returns_initial_state():
    y0 = tt(1.0, 2.0)
    y = ode.odeint(decay, y0, tt(0.3))
    assert y.shape == (1, 2) and torch.equal(y[0], y0)
    assert ode.last_stats().nfe == 0


# ----------------------------------------------------------------------------- steps and stats


@pytest.mark.parametrize("method", FIXED)
def test_fixed_step_grid_and_nfe(method):
    stages = {"euler": 1, "midpoint": 2, "heun": 2, "rk4": 4}[method]
    t = tt(0.0, 0.25, 1.0)
    ode.odeint(decay, tt(1.0), t, method=method, step_size=0.125)
    stats = ode.last_stats()
    assert stats.n_accepted == 8 and stats.nfe == 8 * stages and stats.n_rejected == 0
    starts = [s for s, _ in stats.accepted_steps]
    np.testing.assert_allclose(starts, np.arange(8) * 0.125, atol=1e-15)
    ode.odeint(decay, tt(1.0), t, method=method)  # step_size None: one step per interval
    assert ode.last_stats().n_accepted == 2


def test_func_receives_time_tensor_with_state_dtype():
    seen = []

    def field(t, y):
        seen.append((t.dtype, t.ndim, float(t)))
        return -y

    ode.odeint(field, torch.ones(3, dtype=F64), torch.tensor([0.0, 0.5]), method="midpoint")
    assert seen[0] == (F64, 0, 0.0) and seen[1] == (F64, 0, 0.25)


def test_torchdiffeq_style_options_and_aliases():
    t = tt(0.0, 1.0)
    a = ode.odeint(decay, tt(1.0), t, method="heun2", options={"step_size": 0.1})
    b = ode.odeint(decay, tt(1.0), t, method="heun", step_size=0.1)
    assert torch.equal(a, b)
    ode.odeint(decay, tt(1.0), t, options={"first_step": 0.01})
    assert ode.last_stats().accepted_steps[0][1] == pytest.approx(0.01)


def test_float32_state():
    y = ode.odeint(decay, torch.tensor([3.0], dtype=torch.float32), tt(0.0, 1.0))
    assert y.dtype == torch.float32
    assert abs(float(y[-1, 0]) - 3 * math.exp(-2)) < 1e-5


# ----------------------------------------------------------------------------- gradients


@pytest.mark.parametrize("method", ode.METHODS)
def test_gradients_match_finite_differences(method):
    # d y(T) / d(y0, theta) by autograd against central differences of the same solver.
    def solve(y0, theta):
        def field(t, y):
            return -theta[0] * y + theta[1] * torch.sin(t) * y.flip(-1)

        # Fixed first step and no rejections keep the dopri5 map smooth in the inputs.
        kw = {"step_size": 0.1} if method != "dopri5" else {"options": {"first_step": 0.1}}
        return ode.odeint(field, y0, tt(0.0, 1.0), method=method, rtol=1e-3, atol=1e-3, **kw)[-1]

    y0 = tt(1.0, -0.5).requires_grad_()
    theta = tt(0.7, 0.3).requires_grad_()
    assert torch.autograd.gradcheck(solve, (y0, theta), eps=1e-6, atol=1e-7, rtol=1e-5)


def test_dopri5_gradient_matches_closed_form():
    # y(T) = y0 exp(-a T): dy/dy0 = exp(-a T), dy/da = -T y0 exp(-a T).
    a = torch.tensor(0.8, dtype=F64, requires_grad=True)
    y0 = torch.tensor([2.0], dtype=F64, requires_grad=True)
    y = ode.odeint(lambda t, y: -a * y, y0, tt(0.0, 1.5), rtol=1e-10, atol=1e-12)[-1, 0]
    g_y0, g_a = torch.autograd.grad(y, (y0, a))
    assert abs(float(g_y0) - math.exp(-1.2)) < 1e-8
    assert abs(float(g_a) + 1.5 * 2.0 * math.exp(-1.2)) < 1e-8


# ----------------------------------------------------------------------------- errors


def test_error_non_monotone_t():
    with pytest.raises(ValueError, match="strictly increasing .* or strictly decreasing"):
        ode.odeint(decay, tt(1.0), tt(0.0, 1.0, 0.5))
    with pytest.raises(ValueError, match="strictly"):
        ode.odeint(decay, tt(1.0), tt(0.0, 0.0))


def test_error_bad_t_shape_and_values():
    with pytest.raises(ValueError, match=r"t must have shape \(T,\)"):
        ode.odeint(decay, tt(1.0), torch.zeros(2, 2, dtype=F64))
    with pytest.raises(ValueError, match="NaN or infinite"):
        ode.odeint(decay, tt(1.0), tt(0.0, float("nan")))


def test_error_step_size_does_not_divide():
    with pytest.raises(ValueError, match="does not divide the interval .* step_size=None"):
        ode.odeint(decay, tt(1.0), tt(0.0, 1.0), method="rk4", step_size=0.3)
    with pytest.raises(ValueError, match=r"step_size must be a finite number > 0"):
        ode.odeint(decay, tt(1.0), tt(0.0, 1.0), method="rk4", step_size=-0.1)
    # Dividing up to rounding is accepted.
    ode.odeint(decay, tt(1.0), tt(0.0, 0.3), method="euler", step_size=0.1)
    assert ode.last_stats().n_accepted == 3


def test_error_unknown_method_lists_known_ones():
    with pytest.raises(
        ValueError, match=r"unknown method 'rk45'.*euler.*midpoint.*heun.*rk4.*dopri5"
    ):
        ode.odeint(decay, tt(1.0), tt(0.0, 1.0), method="rk45")
    with pytest.raises(ValueError, match="unknown options"):
        ode.odeint(decay, tt(1.0), tt(0.0, 1.0), options={"stepsize": 0.1})


def test_error_wrong_output_shape():
    with pytest.raises(ValueError, match=r"shape of y0 \(3, 2\), got \(3,\)"):
        ode.odeint(lambda t, y: y.sum(-1), torch.ones(3, 2, dtype=F64), tt(0.0, 1.0))
    with pytest.raises(TypeError, match="tuple of 2 tensors"):
        ode.odeint(lambda t, s: s[0], (tt(1.0), tt(2.0)), tt(0.0, 1.0), method="euler")


def test_error_bad_inputs():
    with pytest.raises(TypeError, match=r"y0\[0\] must be a torch.Tensor"):
        ode.odeint(decay, [1.0, 2.0], tt(0.0, 1.0))  # a list is read as a tuple state
    with pytest.raises(TypeError, match="y0 must be a torch.Tensor"):
        ode.odeint(decay, np.ones(2), tt(0.0, 1.0))
    with pytest.raises(TypeError, match="floating"):
        ode.odeint(decay, torch.ones(2, dtype=torch.int64), tt(0.0, 1.0))
    with pytest.raises(ValueError, match="y0 contains NaN"):
        ode.odeint(decay, tt(float("nan")), tt(0.0, 1.0))
    with pytest.raises(ValueError, match="rtol must be"):
        ode.odeint(decay, tt(1.0), tt(0.0, 1.0), rtol=-1.0)
    with pytest.raises(TypeError, match="callable"):
        ode.odeint(3.0, tt(1.0), tt(0.0, 1.0))


def test_error_non_finite_state_names_the_time():
    # Euler on dy/dt = y^2, y(0) = 1 blows up (exact solution 1 / (1 - t)).
    with pytest.raises(FloatingPointError, match=r"NaN or infinite at t=") as info:
        ode.odeint(lambda t, y: y**2, tt(1.0), tt(0.0, 5.0), method="euler", step_size=0.25)
    assert "step_size" in str(info.value)
    with pytest.raises(FloatingPointError, match=r"underflow at t=(1 |0\.99)"):
        ode.odeint(lambda t, y: y**2, tt(1.0), tt(0.0, 2.0))


def test_error_too_many_steps():
    with pytest.raises(RuntimeError, match="max_num_steps=5"):
        ode.odeint(rotation, tt(1.0, 0.0)[None], tt(0.0, 50.0), options={"max_num_steps": 5})


def test_last_stats_str():
    ode.odeint(decay, tt(1.0), tt(0.0, 1.0), method="rk4", step_size=0.5)
    assert str(ode.last_stats()) == "rk4: nfe=8, accepted=2, rejected=0"


def test_same_results_as_torchdiffeq():
    # Code written for torchdiffeq runs unchanged.

    def aug(t, s):
        x, lp = s
        return torch.stack([-x[:, 1] * torch.cos(t), x[:, 0]], 1), -0.1 * x.sum(1)

    x0 = torch.randn(5, 2, generator=torch.Generator().manual_seed(3), dtype=F64)
    state = (x0, torch.zeros(5, dtype=F64))
    t = torch.linspace(1, 0, 7, dtype=F64)
    for method, tol in (("euler", 1e-13), ("midpoint", 1e-13), ("dopri5", 1e-5)):
        kw = {} if method == "dopri5" else {"options": {"step_size": 1 / 6}}
        ours = ode.odeint(aug, state, t, method=method, rtol=1e-6, atol=1e-8, **kw)
        theirs = torchdiffeq.odeint(aug, state, t, method=method, rtol=1e-6, atol=1e-8, **kw)
        for a, b in zip(ours, theirs, strict=True):
            assert_close(a, b, rtol=0, atol=tol)


def test_float32_time_grids_are_divided_within_their_resolution():
    # 0.1, 0.2, 0.3 are not exact in float32; the divisibility check must allow for that
    t32 = torch.tensor([0.0, 0.1, 0.2, 0.3])
    y = ode.odeint(lambda t, y: -y, torch.ones(1), t32, method="rk4", step_size=0.1)
    assert torch.allclose(y[:, 0], torch.exp(-t32), atol=1e-6)
    assert ode.last_stats().nfe == 12  # three steps of four stages
    with pytest.raises(ValueError, match="does not divide the interval"):
        ode.odeint(
            lambda t, y: -y, torch.ones(1), torch.tensor([0.0, 0.25]), method="rk4", step_size=0.1
        )


# ----------------------------------------------------------------------------- gradients:
# with respect to y0, the output times t and the field's parameters, for every method,
# against central differences (float64) and against torchdiffeq (odeint and odeint_adjoint).
# torchdiffeq's "rk4" is the 3/8 rule, ours the classic one: they agree to O(h^4) only, so
# rk4 is compared on a fine grid of output times; euler, midpoint and heun take the same
# steps in both libraries (one step per interval of t) and must agree to rounding.
# (One difference is deliberate: with options={"step_size": h}, torchdiffeq's step grid
# does not move with the intermediate output times, so it returns a zero gradient for
# them; ours builds the grid from t and returns the derivative of the solution.)

_TIMES = (0.1, 0.4, 0.9, 1.3)
_EXACT_IN_BOTH = {"euler", "midpoint", "heun"}  # same discretisation as torchdiffeq
_TD_NAME = {"heun": "heun2"}


def _field_module():
    torch.manual_seed(0)
    net = torch.nn.Linear(2, 2).double()
    net.weight.data.mul_(0.5)

    class Field(torch.nn.Module):
        def __init__(self):
            super().__init__()
            self.net = net

        def forward(self, t, y):  # non-autonomous, so d/dt_0 has an explicit-time part
            return torch.tanh(self.net(y)) * torch.cos(t) - 0.3 * y

    return Field()


def _solver_kwargs(method):
    return {"rtol": 1e-11, "atol": 1e-12} if method == "dopri5" else {}


def _times(fine=False):
    # fine: 61 output times, one rk4 step of 0.02 each
    return torch.linspace(_TIMES[0], _TIMES[-1], 61, dtype=F64) if fine else tt(*_TIMES)


def _loss_grads(solve, field, method, kwargs, adjoint=False, fine=False):
    y0 = torch.tensor([[1.0, -0.5], [0.3, 0.2]], dtype=F64, requires_grad=True)
    t = _times(fine).requires_grad_()
    extra = {"adjoint_params": tuple(field.parameters())} if adjoint else {}
    y = solve(field, y0, t, method=method, **kwargs, **extra)
    loss = (y**2).sum() + (y[1] * y[-1]).sum()
    return torch.autograd.grad(loss, (y0, t, *field.parameters()))


def _assert_grads_close(ours, theirs, atol):
    names = ["y0", "t", "weight", "bias"]
    for name, a, b in zip(names, ours, theirs, strict=True):
        diff = float((a - b).abs().max())
        assert diff <= atol * (1 + float(b.abs().max())), f"d/d{name}: max difference {diff:.3g}"


@pytest.mark.parametrize("method", ode.METHODS)
@pytest.mark.parametrize("adjoint", [False, True], ids=["odeint", "odeint_adjoint"])
def test_gradients_match_torchdiffeq(method, adjoint):
    field = _field_module()
    fine = method == "rk4"
    kw = _solver_kwargs(method)
    solve = ode.odeint_adjoint if adjoint else ode.odeint
    ours = _loss_grads(solve, field, method, kw, adjoint, fine)
    solve_td = torchdiffeq.odeint_adjoint if adjoint else torchdiffeq.odeint
    theirs = _loss_grads(solve_td, field, _TD_NAME.get(method, method), kw, adjoint, fine)
    atol = 1e-12 if method in _EXACT_IN_BOTH else 1e-6
    _assert_grads_close(ours, theirs, atol)
    assert float(ours[1].abs().min()) > 1e-3  # every output time gets a real gradient


def _central_differences(fn, x, eps):
    x = x.detach()
    g = torch.zeros_like(x)
    for i in range(x.numel()):
        e = torch.zeros_like(x).view(-1)
        e[i] = eps
        e = e.view_as(x)
        g.view(-1)[i] = (fn(x + e) - fn(x - e)) / (2 * eps)
    return g


def _fd_grads(field, method, kwargs, fine=False):
    y0 = torch.tensor([[1.0, -0.5], [0.3, 0.2]], dtype=F64)
    t = _times(fine)
    weight, bias = (p.detach().clone() for p in field.parameters())

    def loss(y0=y0, t=t, weight=weight, bias=bias):
        with torch.no_grad():
            field.net.weight.copy_(weight)
            field.net.bias.copy_(bias)
            y = ode.odeint(field, y0, t, method=method, **kwargs)
        return float((y**2).sum() + (y[1] * y[-1]).sum())

    eps = 1e-5 if method == "dopri5" else 1e-6
    grads = [
        _central_differences(lambda v: loss(y0=v), y0, eps),
        _central_differences(lambda v: loss(t=v), t, eps),
        _central_differences(lambda v: loss(weight=v), weight, eps),
        _central_differences(lambda v: loss(bias=v), bias, eps),
    ]
    loss()  # restore the parameters
    return grads


@pytest.mark.parametrize("method", ode.METHODS)
def test_backprop_gradients_match_finite_differences(method):
    # Backprop differentiates the discrete solution, so it matches central differences of
    # the same solver (for dopri5: up to the tolerance, its steps being chosen adaptively).
    field = _field_module()
    kw = _solver_kwargs(method)
    ours = _loss_grads(ode.odeint, field, method, kw)
    _assert_grads_close(ours, _fd_grads(field, method, kw), 1e-6 if method == "dopri5" else 1e-7)


@pytest.mark.parametrize("method", ["rk4", "dopri5"])
def test_adjoint_gradients_match_finite_differences(method):
    # The adjoint is the continuous gradient, so it meets central differences where the
    # solver is accurate (a fine rk4 step, a tight dopri5 tolerance).
    field = _field_module()
    kw, fine = _solver_kwargs(method), method == "rk4"
    ours = _loss_grads(ode.odeint_adjoint, field, method, kw, adjoint=True, fine=fine)
    _assert_grads_close(ours, _fd_grads(field, method, kw, fine), 1e-6)


def test_time_gradient_of_a_closed_form():
    # y(t1) = y0 exp(-a (t1 - t0)): dy/dt1 = -a y(t1), dy/dt0 = a y(t1)
    a, y0 = 0.8, 2.0
    for solve in (ode.odeint, ode.odeint_adjoint):
        t = tt(0.2, 1.1).requires_grad_()
        extra = {"adjoint_params": ()} if solve is ode.odeint_adjoint else {}
        y = solve(lambda t, y: -a * y, tt(y0), t, rtol=1e-11, atol=1e-12, **extra)[-1, 0]
        (g,) = torch.autograd.grad(y, t)
        y1 = y0 * math.exp(-a * 0.9)
        assert abs(float(g[1]) + a * y1) < 1e-8 and abs(float(g[0]) - a * y1) < 1e-8


def test_time_gradient_does_not_change_the_solution():
    # dopri5's t-gradient bookkeeping adds zeros: the same values and steps; the fixed-step
    # methods build their grid from t as tensors, equal up to rounding
    field = _field_module()
    y0 = torch.tensor([[1.0, -0.5]], dtype=F64)
    for method in ode.METHODS:
        plain = ode.odeint(field, y0, tt(*_TIMES), method=method)
        steps = ode.last_stats().accepted_steps
        with_grad = ode.odeint(field, y0, tt(*_TIMES).requires_grad_(), method=method)
        if method == "dopri5":
            assert torch.equal(plain, with_grad.detach())
        else:
            assert_close(with_grad.detach(), plain, rtol=0, atol=1e-15)
        assert ode.last_stats().accepted_steps == steps
