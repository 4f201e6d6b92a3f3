"""Tests for course_utils._adjoint.odeint_adjoint (exposed as course_utils.ode.odeint_adjoint).

References: back-propagation through course_utils.ode.odeint ("discretise then
differentiate"), closed forms of a linear ODE, and central finite differences.
"""

import math

import pytest
import torch

from course_utils._adjoint import odeint_adjoint
from course_utils.ode import odeint

F64 = torch.float64
TIGHT = {"rtol": 1e-11, "atol": 1e-12}


class MLPField(torch.nn.Module):
    """A small time-dependent field with a (batch, 2) state."""

    def __init__(self, seed=0, dim=2, hidden=16):
        super().__init__()
        g = torch.Generator().manual_seed(seed)
        self.w1 = torch.nn.Parameter(0.8 * torch.randn(dim + 1, hidden, generator=g, dtype=F64))
        self.b1 = torch.nn.Parameter(0.1 * torch.randn(hidden, generator=g, dtype=F64))
        self.w2 = torch.nn.Parameter(0.5 * torch.randn(hidden, dim, generator=g, dtype=F64))

    def forward(self, t, x):
        h = torch.tanh(torch.cat([x, t.expand(x.shape[0], 1)], 1) @ self.w1 + self.b1)
        return h @ self.w2


def _weights(shape, seed=1):
    return torch.randn(shape, generator=torch.Generator().manual_seed(seed), dtype=F64)


def _loss(ys, w):
    # depends on every output time, so the adjoint's jumps at t_i are exercised
    return sum(((y**2) * w).sum() * (k + 1) for k, y in enumerate(ys[1:]))


def _grads(solver, func, y0, t, params, **kw):
    ys = solver(func, y0, t, **kw)
    loss = _loss(ys, _weights(ys.shape[1:]))
    return torch.autograd.grad(loss, (y0, *params))


@pytest.mark.parametrize(
    "kw",
    [TIGHT, {"method": "rk4", "step_size": 0.005}],
    ids=["dopri5", "rk4"],
)
@pytest.mark.parametrize("times", [[0.0, 0.4, 1.0], [1.0, 0.3, 0.0]], ids=["forward", "backward"])
def test_adjoint_gradients_equal_backprop(kw, times):
    func = MLPField()
    y0 = _weights((6, 2), seed=3).requires_grad_(True)
    t = torch.tensor(times, dtype=F64)
    params = tuple(func.parameters())
    ref = _grads(odeint, func, y0, t, params, **kw)
    got = _grads(odeint_adjoint, func, y0, t, params, **kw)
    for r, g in zip(ref, got, strict=True):
        torch.testing.assert_close(g, r, rtol=1e-6, atol=1e-8)


def test_forward_values_are_odeint_values():
    func = MLPField()
    y0 = _weights((4, 2))
    t = torch.tensor([0.0, 0.5, 1.0], dtype=F64)
    ref = odeint(func, y0, t, rtol=1e-7, atol=1e-9)
    got = odeint_adjoint(func, y0, t, rtol=1e-7, atol=1e-9)
    assert torch.equal(got, ref)


def test_tuple_state_gradients_equal_backprop():
    # augmented state (x, s) with ds/dt = -sum(x^2): the CNF-like tuple case
    field = MLPField(seed=5)

    class Aug(torch.nn.Module):
        def __init__(self):
            super().__init__()
            self.field = field

        def forward(self, t, state):
            x, _ = state
            return self.field(t, x), -(x**2).sum(1)

    func = Aug()
    x0 = _weights((5, 2), seed=7).requires_grad_(True)
    s0 = torch.zeros(5, dtype=F64, requires_grad=True)
    t = torch.tensor([0.0, 1.0], dtype=F64)
    params = tuple(func.parameters())

    def grads(solver):
        xs, ss = solver(func, (x0, s0), t, **TIGHT)
        loss = (xs[-1] ** 3).sum() + (ss[-1] * torch.arange(5, dtype=F64)).sum()
        return torch.autograd.grad(loss, (x0, s0, *params))

    for r, g in zip(grads(odeint), grads(odeint_adjoint), strict=True):
        torch.testing.assert_close(g, r, rtol=1e-6, atol=1e-8)


def test_closed_form_linear_decay():
    # y' = -k y, y(0) = y0: y(T) = y0 exp(-k T); gradients in k, y0 and T
    k = torch.tensor(1.3, dtype=F64, requires_grad=True)
    y0 = torch.tensor([3.0], dtype=F64, requires_grad=True)
    big_t = torch.tensor(0.8, dtype=F64, requires_grad=True)
    t = torch.stack([torch.zeros((), dtype=F64), big_t])
    y = odeint_adjoint(lambda t, y: -k * y, y0, t, adjoint_params=(k,), **TIGHT)
    gk, gy0, gT = torch.autograd.grad(y[-1, 0], (k, y0, big_t))
    e = math.exp(-1.3 * 0.8)
    assert abs(float(y.detach()[-1, 0]) - 3 * e) < 1e-9
    assert abs(float(gk) - (-3 * 0.8 * e)) < 1e-8
    assert abs(float(gy0[0]) - e) < 1e-9
    assert abs(float(gT) - (-1.3 * 3 * e)) < 1e-8


def test_time_gradients_match_finite_differences():
    func = MLPField(seed=2)
    y0 = _weights((3, 2), seed=4)
    w = _weights((3, 2), seed=5)
    t = torch.tensor([0.1, 0.5, 0.9], dtype=F64, requires_grad=True)
    ys = odeint_adjoint(func, y0, t, **TIGHT)
    (g,) = torch.autograd.grad(_loss(ys, w), t)
    h = 1e-5
    for i in range(3):
        e = torch.zeros(3, dtype=F64)
        e[i] = h
        with torch.no_grad():
            up = _loss(odeint(func, y0, t.detach() + e, **TIGHT), w)
            down = _loss(odeint(func, y0, t.detach() - e, **TIGHT), w)
        assert abs(float(g[i]) - float(up - down) / (2 * h)) < 1e-6


def _saved_bytes(solver, n_steps):
    """Bytes autograd keeps for the backward pass (saved tensors), and the gradient."""
    func = MLPField()
    y0 = _weights((16, 2))
    t = torch.tensor([0.0, 1.0], dtype=F64)
    total = 0

    def pack(x):
        nonlocal total
        total += x.numel() * x.element_size()
        return x

    with torch.autograd.graph.saved_tensors_hooks(pack, lambda x: x):
        ys = solver(func, y0, t, method="rk4", step_size=1.0 / n_steps)
    (ys[-1] ** 2).sum().backward()
    return total, func.w1.grad.clone()


def test_adjoint_memory_does_not_grow_with_steps():
    b10, g10 = _saved_bytes(odeint_adjoint, 10)
    b100, g100 = _saved_bytes(odeint_adjoint, 100)
    assert b10 == b100  # only the outputs and the parameters are kept
    p10, _ = _saved_bytes(odeint, 10)
    p100, _ = _saved_bytes(odeint, 100)
    assert p100 > 8 * p10 > 8 * b10  # back-propagation keeps every stage of every step
    torch.testing.assert_close(g10, g100, rtol=2e-3, atol=1e-6)  # rk4 at two step sizes


def test_unused_parameter_gets_zero_gradient():
    func = MLPField()
    extra = torch.nn.Parameter(torch.ones(3, dtype=F64))
    y0 = _weights((2, 2))
    t = torch.tensor([0.0, 1.0], dtype=F64)
    ys = odeint_adjoint(func, y0, t, adjoint_params=(*func.parameters(), extra), **TIGHT)
    ys[-1].sum().backward()
    assert torch.equal(extra.grad, torch.zeros(3, dtype=F64))
    assert float(func.w1.grad.abs().sum()) > 0


def test_bad_input_raises_clear_errors():
    t = torch.tensor([0.0, 1.0], dtype=F64)
    y0 = torch.ones(2, dtype=F64)
    with pytest.raises(ValueError, match="adjoint_params"):
        odeint_adjoint(lambda t, y: -y, y0, t)
    with pytest.raises(TypeError, match="t must be"):
        odeint_adjoint(lambda t, y: -y, y0, [0.0, 1.0], adjoint_params=())
    with pytest.raises(TypeError, match="y0"):
        odeint_adjoint(lambda t, y: -y, [1, 2], t, adjoint_params=())
    with pytest.raises(TypeError, match="adjoint_params"):
        odeint_adjoint(lambda t, y: -y, y0, t, adjoint_params=(1.0,))
    with pytest.raises(TypeError, match="func"):
        odeint_adjoint(3.0, y0, t, adjoint_params=())


def test_adjoint_params_as_one_tensor_or_listed_twice_give_the_true_gradient():
    t = torch.tensor([0.0, 1.0], dtype=F64)
    y0 = torch.tensor([1.0, 1.0], dtype=F64)
    p = torch.tensor([1.0, 2.0], dtype=F64, requires_grad=True)
    exact = -torch.exp(-p.detach())  # d/dp of y(1) = exp(-p) per component
    f = lambda t_, y: -p * y
    # one bare tensor (not an iterable of its rows)
    (g1,) = torch.autograd.grad(
        odeint_adjoint(f, y0, t, adjoint_params=p, rtol=1e-10, atol=1e-10)[-1].sum(), p
    )
    # the same tensor twice: its gradient must not be counted twice
    y = odeint_adjoint(f, y0, t, adjoint_params=(p, p), rtol=1e-10, atol=1e-10)[-1].sum()
    (g2,) = torch.autograd.grad(y, p)
    assert torch.allclose(g1, exact, atol=1e-7) and torch.allclose(g2, exact, atol=1e-7)


def test_backward_settings_are_checked_when_called_not_at_backward():
    t = torch.tensor([0.0, 1.0], dtype=F64)
    k = torch.tensor(0.5, dtype=F64, requires_grad=True)
    f = lambda t_, y: -k * y
    y0 = torch.ones(1, dtype=F64)
    with pytest.raises(ValueError, match="adjoint \\(backward\\) solver settings: .*rk45"):
        odeint_adjoint(f, y0, t, adjoint_params=(k,), adjoint_method="rk45")
    with pytest.raises(ValueError, match="adjoint \\(backward\\) solver settings: rtol must be"):
        odeint_adjoint(f, y0, t, adjoint_params=(k,), adjoint_rtol=-1.0)
    # a fixed forward step is not inherited by an adaptive backward solver
    y = odeint_adjoint(
        f,
        y0,
        t,
        method="rk4",
        step_size=0.1,
        adjoint_method="dopri5",
        adjoint_params=(k,),
        adjoint_rtol=1e-10,
        adjoint_atol=1e-10,
    )
    (g,) = torch.autograd.grad(y[-1].sum(), k)
    assert abs(float(g) + math.exp(-0.5)) < 1e-6  # d/dk exp(-k) at k = 0.5
