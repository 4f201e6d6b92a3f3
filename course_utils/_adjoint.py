"""Gradients of an ODE solution by the adjoint method (torchdiffeq's ``odeint_adjoint``).

Exposed as ``course_utils.ode.odeint_adjoint``; taught in ``notebooks/06_cnf.ipynb``.

For ``dy/dt = f(t, y; theta)`` and a loss ``L`` of the solution at the output times
``t_0, ..., t_N``, the adjoint ``a(t) = dL/dy(t)`` obeys, backwards in time,

    da/dt = -a^T df/dy,      dL/dtheta = int_{t_0}^{t_N} a^T df/dtheta dt,

with a jump ``a <- a + dL/dy(t_i)`` at each output time. The forward solve runs without
recording a graph, so memory does not grow with the number of solver steps; the backward
pass re-solves the state backwards together with ``a`` and the running parameter
gradient, one interval ``[t_{i-1}, t_i]`` at a time, starting each interval from the
stored forward value ``y(t_i)``.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Sequence

import torch

from ._odeint import check_settings, odeint
from ._validate import check_callable, check_state

__all__ = ["odeint_adjoint"]


def _as_tuple(value) -> tuple[torch.Tensor, ...]:
    return tuple(value) if isinstance(value, (tuple, list)) else (value,)


def _check_params(func, adjoint_params) -> tuple[torch.Tensor, ...]:
    if adjoint_params is None:
        if not isinstance(func, torch.nn.Module):
            raise ValueError(
                "func is not a torch.nn.Module, so odeint_adjoint cannot find its parameters: "
                "pass them as adjoint_params=(tensor, ...), or adjoint_params=() if there are none"
            )
        adjoint_params = func.parameters()
    if isinstance(adjoint_params, torch.Tensor):  # one tensor, not an iterable of its rows
        adjoint_params = (adjoint_params,)
    params = tuple(adjoint_params)
    for k, p in enumerate(params):
        if not isinstance(p, torch.Tensor):
            raise TypeError(f"adjoint_params[{k}] must be a torch.Tensor, got {type(p).__name__}")
    # Parameters that need no gradient would only enlarge the backward state, and a tensor
    # listed twice would receive its gradient twice.
    unique, seen = [], set()
    for p in params:
        if p.requires_grad and id(p) not in seen:
            seen.add(id(p))
            unique.append(p)
    return tuple(unique)


class _AugmentedDynamics:
    """Right-hand side of the backward system for ``(y, a, a_theta[, a_t])``, a flat tuple.

    With ``with_t`` the last component ``a_t`` (a 0-d tensor) integrates ``-a^T df/dt``,
    the explicit time dependence of ``func``, for the gradient with respect to ``t[0]``
    (as torchdiffeq's adjoint does).
    """

    def __init__(
        self, func, n_y: int, is_tuple: bool, params: Sequence[torch.Tensor], with_t: bool
    ):
        self.func, self.n_y, self.is_tuple, self.params = func, n_y, is_tuple, tuple(params)
        self.with_t = with_t

    def __call__(self, t, state):
        n = self.n_y
        y, a = state[:n], state[n : 2 * n]
        with torch.enable_grad():
            y = tuple(part.detach().requires_grad_(True) for part in y)
            t = t.detach().requires_grad_(True) if self.with_t else t
            f = _as_tuple(self.func(t, y if self.is_tuple else y[0]))
            if len(f) != n:
                raise ValueError(f"func returned {len(f)} tensors for a state of {n} tensors")
            inputs = (*y, *self.params, *((t,) if self.with_t else ()))
            used = [k for k, fk in enumerate(f) if fk.requires_grad]
            if used:
                vjps = torch.autograd.grad(
                    [f[k] for k in used],
                    inputs,
                    grad_outputs=[a[k] for k in used],
                    allow_unused=True,
                )
            else:  # f ignores both y and theta
                vjps = (None,) * len(inputs)
        vjps = tuple(
            torch.zeros_like(x) if g is None else g for g, x in zip(vjps, inputs, strict=True)
        )
        # dy/dt = f, da/dt = -a^T df/dy, da_theta/dt = -a^T df/dtheta, da_t/dt = -a^T df/dt
        return (*(fk.detach() for fk in f), *(-g for g in vjps))


class _AdjointFunction(torch.autograd.Function):
    @staticmethod
    def forward(ctx, func, n_y, is_tuple, options, adjoint_options, *args):
        y0, t, params = args[:n_y], args[n_y], args[n_y + 1 :]
        with torch.no_grad():
            ys = _as_tuple(odeint(func, y0 if is_tuple else y0[0], t, **options))
        ctx.func, ctx.n_y, ctx.is_tuple, ctx.adjoint_options = func, n_y, is_tuple, adjoint_options
        ctx.save_for_backward(t, *ys, *params)
        return ys

    @staticmethod
    def backward(ctx, *grad_ys):
        t, *saved = ctx.saved_tensors
        n, func, is_tuple = ctx.n_y, ctx.func, ctx.is_tuple
        ys, params = tuple(saved[:n]), tuple(saved[n:])
        grad_ys = tuple(
            torch.zeros_like(y) if g is None else g for g, y in zip(grad_ys, ys, strict=True)
        )
        need_t = ctx.needs_input_grad[5 + n]

        def f_at(i):
            with torch.no_grad():
                state = tuple(y[i] for y in ys)
                return _as_tuple(func(t[i], state if is_tuple else state[0]))

        def dot(us, vs):
            return sum((u * v).sum() for u, v in zip(us, vs, strict=True))

        aug = _AugmentedDynamics(func, n, is_tuple, params, need_t)
        adj_y = tuple(g[-1] for g in grad_ys)
        adj_p = tuple(torch.zeros_like(p) for p in params)
        # dL/dt_0 = -sum_i g_i . f(t_i, y_i) + int a^T df/dt dt (torchdiffeq's bookkeeping;
        # on the exact solution it equals -a(t_0) . f(t_0, y_0))
        adj_t = (torch.zeros((), dtype=ys[0].dtype, device=ys[0].device),) if need_t else ()
        grad_t = torch.zeros_like(t) if need_t else None
        for i in range(len(t) - 1, 0, -1):
            if need_t:  # moving the output time t_i moves y(t_i) by f(t_i, y(t_i)) dt_i
                grad_t[i] = dot(tuple(g[i] for g in grad_ys), f_at(i))
                adj_t = (adj_t[0] - grad_t[i].to(adj_t[0].dtype),)
            state = (*(y[i] for y in ys), *adj_y, *adj_p, *adj_t)
            with torch.no_grad():
                sol = odeint(aug, state, torch.stack([t[i], t[i - 1]]), **ctx.adjoint_options)
            end = tuple(s[-1] for s in sol)
            adj_y, adj_p = end[n : 2 * n], end[2 * n : 2 * n + len(params)]
            adj_t = end[2 * n + len(params) :]
            adj_y = tuple(a + g[i - 1] for a, g in zip(adj_y, grad_ys, strict=True))
        if need_t:
            grad_t[0] = adj_t[0].to(t.dtype)
        return (None, None, None, None, None, *adj_y, grad_t, *adj_p)


def odeint_adjoint(
    func: Callable,
    y0: torch.Tensor | tuple[torch.Tensor, ...],
    t: torch.Tensor,
    *,
    method: str = "dopri5",
    rtol: float = 1e-6,
    atol: float = 1e-8,
    step_size: float | None = None,
    options: dict | None = None,
    adjoint_method: str | None = None,
    adjoint_rtol: float | None = None,
    adjoint_atol: float | None = None,
    adjoint_step_size: float | None = None,
    adjoint_options: dict | None = None,
    adjoint_params: Iterable[torch.Tensor] | None = None,
):
    """Solve ``dy/dt = func(t, y)`` like ``odeint``, with gradients from the adjoint ODE.

    Same call and same forward result as ``course_utils.ode.odeint``; only the backward
    pass differs. Instead of back-propagating through every solver step (memory grows
    with the number of steps) it integrates the adjoint system backwards, so the memory
    held for the backward pass is the solution at the output times ``t`` plus one
    evaluation of ``func``, whatever the number of steps. Gradients flow to ``y0``,
    to ``t`` and to ``adjoint_params``; the cost is one extra backward solve.

    Args:
        func: the vector field ``func(t, y)``; for a tuple state it takes and returns a
            tuple of tensors with the shapes of ``y0``. Usually a ``torch.nn.Module``.
        y0: initial state at ``t[0]``, a tensor of any shape (e.g. ``(batch, dim)``) or a
            tuple of tensors (e.g. ``(x: (batch, dim), logp: (batch,))``).
        t: 1-D tensor ``(T,)`` of output times, increasing or decreasing.
        method, rtol, atol, step_size, options: the forward solver, as in ``odeint``.
        adjoint_method, adjoint_rtol, adjoint_atol, adjoint_step_size, adjoint_options:
            the backward solver; each defaults to its forward counterpart.
        adjoint_params: the tensors that ``func`` depends on and that need gradients.
            Default: ``func.parameters()`` (``func`` must then be an ``nn.Module``);
            pass ``()`` for none. A tensor used by ``func`` but not listed here gets no
            gradient.

    Returns:
        The solution at every time of ``t``, stacked on a new first axis:
        ``(T, *y0.shape)``, or a tuple of such tensors for a tuple ``y0``.

    Raises:
        TypeError: if ``y0``, ``t`` or ``adjoint_params`` are not (floating) tensors.
        ValueError: if ``func`` is not a Module and ``adjoint_params`` is not given.

    Notes:
        The backward solve re-computes ``y(t)`` backwards from ``y(t_i)``; for unstable
        dynamics this reconstruction drifts and the gradient is then only approximate
        (the "adjoint is not free" limitation of the notes). Second derivatives through
        ``odeint_adjoint`` are not supported.

    >>> import torch
    >>> from course_utils.ode import odeint_adjoint
    >>> k = torch.tensor(2.0, dtype=torch.float64, requires_grad=True)
    >>> t = torch.tensor([0.0, 1.0], dtype=torch.float64)
    >>> y = odeint_adjoint(lambda t, y: -k * y, torch.tensor(3.0, dtype=torch.float64), t,
    ...                    rtol=1e-10, atol=1e-12, adjoint_params=(k,))
    >>> y[-1].backward()                      # d/dk 3 exp(-k) = -3 exp(-2)
    >>> round(k.grad.item(), 6)
    -0.406006
    """
    check_callable(func, "func", "(t, y)")
    parts, is_tuple = check_state(y0)
    if not isinstance(t, torch.Tensor):
        raise TypeError(f"t must be a torch.Tensor of shape (T,), got {type(t).__name__}")
    check_settings(method, rtol, atol, step_size, options, t)  # the forward solve's checks
    params = _check_params(func, adjoint_params)
    forward = {
        "method": method,
        "rtol": rtol,
        "atol": atol,
        "step_size": step_size,
        "options": options,
    }
    back_method = method if adjoint_method is None else adjoint_method
    inherit_step = adjoint_method is None or str(back_method).lower() != "dopri5"
    backward = {
        "method": back_method,
        "rtol": rtol if adjoint_rtol is None else adjoint_rtol,
        "atol": atol if adjoint_atol is None else adjoint_atol,
        # a fixed forward step is not carried over to an adaptive backward solver
        "step_size": adjoint_step_size
        if adjoint_step_size is not None
        else (step_size if inherit_step else None),
        "options": options if adjoint_options is None else adjoint_options,
    }
    # Check the backward settings now, with odeint's own checks over the same (reversed)
    # times, rather than only when .backward() runs after a possibly long forward solve.
    try:
        check_settings(**backward, t=t.flip(0))
    except (TypeError, ValueError) as exc:
        raise type(exc)(f"adjoint (backward) solver settings: {exc}") from None
    ys = _AdjointFunction.apply(func, len(parts), is_tuple, forward, backward, *parts, t, *params)
    return tuple(ys) if is_tuple else ys[0]
