"""Volume mapping around a data point (note G): maps, Jacobians, JVPs and metrics.

Time convention of the course: latent (noise) at t = 0, data at t = 1, and one ODE
``dx/dt = v(t, x)`` for both directions. The forward map psi (latent -> data) integrates it
from 0 to 1; the reverse map phi (data -> latent) integrates **the same ODE** from 1 down
to 0. With N explicit Euler steps of size h = 1/N and grid t_k = k h:

    forward:  x_{k+1} = x_k + h v(t_k, x_k),          k = 0, ..., N-1   (G eq. 9)
    reverse:  x_{k-1} = x_k - h v(t_k, x_k),          k = N, ..., 1     (G eq. 11, 31)

The Jacobian J(t) = dx(t)/dx(1) of the reverse map obeys dJ/dt = Dv(t, x(t)) J(t),
J(1) = I, integrated from 1 to 0; its Euler recursion, exactly the derivative of the
reverse Euler map, is J_{k-1} = (I - h Dv(t_k, x_k)) J_k (G eq. 32), so

    J_phi = M_1 M_2 ... M_N,   M_k = I - h Dv(t_k, x_k)     (the k = N factor acts first).

A JVP s(t) = J(t) u obeys the same linear ODE: s_{k-1} = s_k - h Dv(t_k, x_k) s_k
(G eq. 41), which never forms a d x d matrix.

Fields are called as ``v(t, x)`` with ``t`` a 0-d tensor and ``x: (batch, d)``; they must act
on each row independently (true of an MLP without batch normalisation). A field may also offer
``v.jvp(t, x, s) -> (v(t, x), Dv(t, x) s)`` (``course_utils.flow_matching.VelocityMLP`` does,
through :func:`sequential_jvp`); :func:`reverse_map_jvp` then uses it instead of ``torch.func``.
"""

from __future__ import annotations

import contextlib
import math
from collections.abc import Callable

import torch
import torch.autograd.forward_ad as fwAD
from torch.func import jacrev, jvp, vmap

from ._validate import (
    check_data,
    check_finite,
    check_int,
    check_positive_int,
    check_shape,
    check_tensor,
)

__all__ = [
    "cosine_similarity",
    "l2_distance",
    "forward_map",
    "reverse_map",
    "sample_sphere",
    "sample_ball",
    "field_jacobian",
    "reverse_map_with_jacobian",
    "sequential_jvp",
    "reverse_map_jvp",
    "reverse_map_jvp_autodiff",
    "volume_metrics",
]

Field = Callable[[torch.Tensor, torch.Tensor], torch.Tensor]


# ----------------------------------------------------------------------------- G §1
def _vectors(x, name: str) -> torch.Tensor:
    """A finite floating tensor of shape (d,) or (batch, d)."""
    x = check_tensor(x, name, "(d,) or (batch, d)")
    if x.ndim not in (1, 2):
        raise ValueError(f"{name} must have shape (d,) or (batch, d), got {tuple(x.shape)}")
    return check_finite(x, name)


def _pair(x: torch.Tensor, y: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    x, y = _vectors(x, "x"), _vectors(y, "y")
    if x.shape != y.shape:
        raise ValueError(
            f"x and y must both have shape (d,) or (batch, d); got "
            f"{tuple(x.shape)} and {tuple(y.shape)}"
        )
    return x, y


def cosine_similarity(x: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
    """Cosine similarity x.y / (|x| |y|) along the last axis (G eq. 1).

    Args:
        x, y: (d,) or (batch, d), non-zero vectors.

    Returns:
        () or (batch,) values in [-1, 1].
    """
    x, y = _pair(x, y)
    nx, ny = x.norm(dim=-1), y.norm(dim=-1)
    if bool((nx == 0).any() or (ny == 0).any()):
        raise ValueError("cosine similarity is undefined for a zero vector")
    return (x * y).sum(-1) / (nx * ny)


def l2_distance(x: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
    """Euclidean distance |x - y| along the last axis (G eq. 2); () or (batch,)."""
    x, y = _pair(x, y)
    return (x - y).norm(dim=-1)


# ----------------------------------------------------------------------------- maps
def _check_points(x, name: str = "x") -> torch.Tensor:
    # (batch, d) points, floating and finite
    return check_data(x, name, want="(batch, d)")


def _velocity(v: Field, t: float | torch.Tensor, x: torch.Tensor) -> torch.Tensor:
    out = v(torch.as_tensor(t, dtype=x.dtype), x)
    if out.shape != x.shape:
        raise ValueError(
            f"v(t, x) must return the shape of x {tuple(x.shape)}, got {tuple(out.shape)}"
        )
    return out


def forward_map(v: Field, z: torch.Tensor, n_steps: int) -> torch.Tensor:
    """psi: latent (t = 0) to data (t = 1) by ``n_steps`` explicit Euler steps.

    Args:
        v: field ``v(t, x)``, ``x: (batch, d)``.
        z: (batch, d) latent points.
        n_steps: number of Euler steps N (step h = 1/N).

    Returns:
        (batch, d) data-space points.
    """
    x = _check_points(z, "z")
    n = check_positive_int(n_steps, "n_steps")
    h = 1.0 / n
    for k in range(n):
        x = x + h * _velocity(v, k * h, x)
    return x


def reverse_map(v: Field, x: torch.Tensor, n_steps: int) -> torch.Tensor:
    """phi: data (t = 1) to latent (t = 0) by ``n_steps`` Euler steps backwards in time.

    The step from t_k to t_{k-1} is x - h v(t_k, x): the same ODE as :func:`forward_map`,
    integrated with a negative step (not the field -v integrated forwards with the same
    time labels; see the pitfall in notebook 08).

    Returns:
        (batch, d) latent points.
    """
    x = _check_points(x)
    n = check_positive_int(n_steps, "n_steps")
    h = 1.0 / n
    for k in range(n, 0, -1):
        x = x - h * _velocity(v, k * h, x)
    return x


# ----------------------------------------------------------------------------- samples
def _scale_and_shift(unit: torch.Tensor, radius, center) -> torch.Tensor:
    """``center + radius * unit`` after checking radius > 0 (finite) and center's shape (d,)."""
    if isinstance(radius, bool) or not isinstance(radius, (int, float)):
        raise TypeError(f"radius must be a number, got {type(radius).__name__}")
    if not (math.isfinite(radius) and radius > 0):
        raise ValueError(f"radius must be a finite number > 0, got {radius}")
    out = radius * unit
    if center is None:
        return out
    center = torch.as_tensor(center, dtype=unit.dtype)
    if center.shape != unit.shape[1:]:
        raise ValueError(f"center must have shape ({unit.shape[1]},), got {tuple(center.shape)}")
    return out + center


def sample_sphere(
    n: int,
    d: int,
    radius: float = 1.0,
    center: torch.Tensor | None = None,
    generator: torch.Generator | None = None,
    dtype: torch.dtype = torch.float64,
) -> torch.Tensor:
    """Uniform points on the sphere of ``radius`` around ``center`` in R^d: (n, d).

    A standard normal vector divided by its norm is uniform on the unit sphere because
    the normal density depends on the norm only (rotation invariance).
    """
    check_positive_int(n, "n")
    check_positive_int(d, "d")
    g = torch.randn(n, d, generator=generator, dtype=dtype)
    return _scale_and_shift(g / g.norm(dim=1, keepdim=True), radius, center)


def sample_ball(
    n: int,
    d: int,
    radius: float = 1.0,
    center: torch.Tensor | None = None,
    generator: torch.Generator | None = None,
    dtype: torch.dtype = torch.float64,
) -> torch.Tensor:
    """Uniform points in the ball of ``radius`` in R^d: (n, d).

    The radius of a uniform point has P(R <= s) = (s / radius)^d, so R = radius U^(1/d).
    """
    direction = sample_sphere(n, d, 1.0, None, generator, dtype)
    u = torch.rand(n, 1, generator=generator, dtype=dtype)
    return _scale_and_shift(u ** (1.0 / d) * direction, radius, center)


# ----------------------------------------------------------------------------- Jacobians
def field_jacobian(v: Field, t: float, x: torch.Tensor) -> torch.Tensor:
    """Dv(t, x) for every row of ``x: (batch, d)``; returns (batch, d, d)."""
    x = _check_points(x)
    tt = torch.tensor(t, dtype=x.dtype)
    return vmap(jacrev(lambda xi: v(tt, xi[None])[0]))(x)


def reverse_map_with_jacobian(v: Field, x: torch.Tensor, n_steps: int):
    """Reverse map and its Jacobian from the augmented Euler recursion (G eq. 29-35).

    Args:
        v: field ``v(t, x)``.
        x: (batch, d) data points x(1).
        n_steps: Euler steps N.

    Returns:
        ``(z, J)``: z (batch, d) = phi(x), J (batch, d, d) = d phi / d x, equal to the
        derivative of :func:`reverse_map` (same discretisation) up to round-off.
    """
    x = _check_points(x)
    n = check_positive_int(n_steps, "n_steps")
    h = 1.0 / n
    batch, d = x.shape
    jac = torch.eye(d, dtype=x.dtype).expand(batch, d, d).clone()
    for k in range(n, 0, -1):
        dv = field_jacobian(v, k * h, x)
        jac = jac - h * dv @ jac  # J_{k-1} = (I - h Dv(t_k, x_k)) J_k
        x = x - h * _velocity(v, k * h, x)
    return x, jac


def _tangent_map(v: Field, t: torch.Tensor, x: torch.Tensor):
    """u -> Dv(t, x) u for one point ``x: (1, d)`` and one direction ``u: (d,)``."""
    return lambda u: jvp(lambda y: v(t, y), (x,), (u[None],))[1][0]


def _silu_prime(layer, z):
    sig = torch.sigmoid(z)
    return sig * (1 + z * (1 - sig))


def _sigmoid_prime(layer, z):
    sig = torch.sigmoid(z)
    return sig * (1 - sig)


def _softplus_prime(layer, z):
    bz = layer.beta * z
    return torch.where(bz > layer.threshold, torch.ones_like(z), torch.sigmoid(bz))


def _selu_prime(layer, z):
    alpha, scale = 1.6732632423543772848170429916717, 1.0507009873554804934193349852946
    return scale * torch.where(z > 0, torch.ones_like(z), alpha * torch.exp(z))


# Elementwise activations f and their derivatives f'(z) (the tangent is f'(z) * dz).
_ACTIVATION_PRIMES = {
    torch.nn.SiLU: _silu_prime,
    torch.nn.Tanh: lambda layer, z: 1 - torch.tanh(z) ** 2,
    torch.nn.Sigmoid: _sigmoid_prime,
    torch.nn.Softplus: _softplus_prime,
    torch.nn.SELU: _selu_prime,
    torch.nn.ReLU: lambda layer, z: (z > 0).to(z.dtype),
    torch.nn.Identity: lambda layer, z: torch.ones_like(z),
}


def sequential_jvp(
    net: torch.nn.Sequential, x: torch.Tensor, s: torch.Tensor
) -> tuple[torch.Tensor, torch.Tensor]:
    """Forward-mode JVP through an MLP written out by hand: ``(net(x), J_net(x) s)``.

    The primal rows and the tangent rows are stacked, so each ``Linear`` layer is **one**
    matrix product for all of them (its bias added to the primal rows only); an activation
    f maps the primal z to f(z) and each tangent dz to f'(z) * dz. This avoids the per-call
    overhead of ``torch.func`` and reads each weight matrix once per evaluation instead of
    twice, which matters when the m tangents make the product memory-bound.

    Args:
        net: ``torch.nn.Sequential`` of ``Linear`` layers and the elementwise activations
            SiLU, Tanh, Sigmoid, Softplus, SELU, ReLU, Identity.
        x: (b, w) inputs.
        s: (m, w) tangents, m a multiple of b: rows ``i*k .. i*k + k - 1`` (k = m / b) are
            directions at input i. So m directions at one input (b = 1), one direction per
            input (m = b), or k directions at each of b inputs.

    Returns:
        ``(y, t)`` with y = net(x) (b, out) and t (m, out) the tangents J_net s.

    >>> net = torch.nn.Sequential(torch.nn.Linear(3, 5), torch.nn.Tanh(), torch.nn.Linear(5, 2))
    >>> x, s = torch.randn(1, 3), torch.randn(4, 3)
    >>> y, t = sequential_jvp(net, x, s)
    >>> ref = torch.func.vmap(lambda u: torch.func.jvp(net, (x,), (u[None],))[1][0])(s)
    >>> bool(torch.allclose(y, net(x))), bool(torch.allclose(t, ref, atol=1e-6))
    (True, True)
    """
    if not isinstance(net, torch.nn.Sequential):
        raise TypeError(f"net must be a torch.nn.Sequential, got {type(net).__name__}")
    x = check_data(x, "x", want="(rows, width)")
    s = check_data(s, "s", want="(m, width)")
    b, m = x.shape[0], s.shape[0]
    if s.shape[1] != x.shape[1] or b == 0 or m % b:
        raise ValueError(
            f"s must have shape (m, {x.shape[1]}) with m a multiple of x's {b} rows; "
            f"got x {tuple(x.shape)} and s {tuple(s.shape)}"
        )
    per_input = m // b
    h = torch.cat([x, s.to(x.dtype)])
    for layer in net:
        if isinstance(layer, torch.nn.Linear):
            out = h @ layer.weight.T
            if layer.bias is not None:
                out[:b] += layer.bias
            h = out
        elif type(layer) in _ACTIVATION_PRIMES:
            z = h[:b]
            slope = _ACTIVATION_PRIMES[type(layer)](layer, z)
            if b > 1 and per_input > 1:
                slope = slope.repeat_interleave(per_input, dim=0)
            h = torch.cat([layer(z), h[b:] * slope])
        else:
            supported = ", ".join(["Linear"] + [c.__name__ for c in _ACTIVATION_PRIMES])
            raise TypeError(
                f"sequential_jvp supports {supported}; got a {type(layer).__name__} layer "
                "(use reverse_map_jvp(..., route='autodiff') for other fields)"
            )
    return h[:b], h[b:]


_ROUTES = ("auto", "field", "autodiff")


def _field_jvp(v: Field, route: str):
    """The hand-written ``v.jvp`` when the route asks for it (or allows it), else None."""
    if route not in _ROUTES:
        raise ValueError(f"route must be one of {_ROUTES}, got {route!r}")
    has = callable(getattr(v, "jvp", None))
    if route == "field" and not has:
        raise TypeError(
            f"route='field' needs a field with a method jvp(t, x, s); "
            f"{type(v).__name__} has none (use route='auto' or 'autodiff')"
        )
    return v.jvp if has and route != "autodiff" else None


def _jvp_route(v: Field, field_jvp, single: bool, s: torch.Tensor, d: int):
    """The Euler-step function of :func:`reverse_map_jvp` for its route.

    Returns ``(step, context, s)``: ``step(t, xs, s) -> (v(t, xs), Dv(t, xs) s)``, the
    context to run the steps in, and the tangents ``s`` in the layout ``step`` expects.
    """
    context = contextlib.nullcontext()
    if field_jvp is not None:
        # The field pushes the points and all their directions through each layer together;
        # rows of s are grouped by point.
        s = s.reshape(-1, d)

        def step(tt, xs, s):
            vel, dv_s = field_jvp(tt, xs, s)
            if vel.shape != xs.shape or dv_s.shape != s.shape:
                raise ValueError(
                    f"v.jvp(t, x, s) must return shapes {tuple(xs.shape)} and "
                    f"{tuple(s.shape)}, got {tuple(vel.shape)} and {tuple(dv_s.shape)}"
                )
            return vel, dv_s

    elif single or s.ndim == 3:
        # m directions per point: evaluate the primal once per step and push the tangents
        # through a vmapped forward-mode JVP (1.6x faster than m dual copies).
        def tangents(tt, xi, si):
            return vmap(_tangent_map(v, tt, xi[None]))(si)

        def step(tt, xs, s):
            if single:
                dv_s = tangents(tt, xs[0], s)
            else:
                dv_s = vmap(lambda xi, si: tangents(tt, xi, si))(xs, s)
            return _velocity(v, tt, xs), dv_s

    else:
        # One direction per point: dual numbers carry v(t_k, x_k) and Dv(t_k, x_k) s_k in
        # one evaluation of v per step.
        context = fwAD.dual_level()

        def step(tt, xs, s):
            vel, dv_s = fwAD.unpack_dual(v(tt, fwAD.make_dual(xs, s)))
            if vel.shape != xs.shape:
                raise ValueError(
                    f"v(t, x) must return the shape of x {tuple(xs.shape)}, got {tuple(vel.shape)}"
                )
            # None: the field ignores x, its Jacobian is zero
            return vel, torch.zeros_like(s) if dv_s is None else dv_s

    return step, context, s


def _check_directions(u, x: torch.Tensor) -> torch.Tensor:
    """Tangents ``u`` for :func:`reverse_map_jvp`: ``(m, d)`` for ``x: (d,)``; ``(batch, d)``
    or ``(batch, m, d)`` for ``x: (batch, d)``."""
    single = x.ndim == 1
    batch, d = (1, x.shape[0]) if single else x.shape
    shapes = f"(m, {d})" if single else f"({batch}, {d}) or ({batch}, m, {d})"
    u = check_finite(check_tensor(u, "u", shapes), "u")
    ok = u.shape[-1:] == (d,)
    ok = ok and (u.ndim == 2 if single else u.ndim in (2, 3) and u.shape[0] == batch)
    if not ok:
        raise ValueError(
            f"u must have shape {shapes} for x of shape {tuple(x.shape)}, got {tuple(u.shape)}"
        )
    return u


def reverse_map_jvp(v: Field, x: torch.Tensor, u: torch.Tensor, n_steps: int, route: str = "auto"):
    """Reverse map and Jacobian-vector products from the augmented JVP recursion (G eq. 41).

    Args:
        v: field ``v(t, x)``.
        x: (d,) one point, or (batch, d) points.
        u: directions: (m, d) at the single point x (d,); (batch, d) one per row of x; or
            (batch, m, d), m directions at each row of x.
        n_steps: Euler steps N.
        route: how Dv(t_k, x_k) s_k is evaluated: ``"field"`` by the field's own
            ``v.jvp(t, x, s)`` (e.g. :func:`sequential_jvp` inside ``VelocityMLP``),
            ``"autodiff"`` by forward-mode AD (``torch.func.jvp`` under ``vmap``, or dual
            numbers for one direction per point), ``"auto"`` the first when the field has
            ``jvp``, else the second.

    Returns:
        ``(z, s)``: z = phi(x) with x's shape and s = J_phi(x) u with u's shape, computed
        with one forward-mode evaluation of v per step and never a d x d matrix.
    """
    x = _vectors(x, "x")
    single = x.ndim == 1
    xs = x[None] if single else x
    d = xs.shape[1]
    u = _check_directions(u, x)
    n = check_positive_int(n_steps, "n_steps")
    field_jvp = _field_jvp(v, route)
    h = 1.0 / n
    s = u.to(xs.dtype)
    # Each route gives (v(t_k, x_k), Dv(t_k, x_k) s_k) for one Euler step.
    step, context, s = _jvp_route(v, field_jvp, single, s, d)
    with context:
        for k in range(n, 0, -1):
            vel, dv_s = step(torch.tensor(k * h, dtype=xs.dtype), xs, s)
            s = s - h * dv_s
            xs = xs - h * vel
    return (xs[0] if single else xs), s.reshape(u.shape)


def reverse_map_jvp_autodiff(v: Field, x: torch.Tensor, u: torch.Tensor, n_steps: int):
    """J_phi(x) u by forward-mode AD through :func:`reverse_map` (``torch.func.jvp``).

    Same signature and result as :func:`reverse_map_jvp` with ``x: (d,)`` and
    ``u: (m, d)``; the m directions are batched with ``vmap``.
    """
    x = check_finite(check_shape(x, (None,), "x", "(d,)"), "x")
    u = check_finite(check_shape(u, (None, x.shape[0]), "u", f"(m, {x.shape[0]})"), "u")
    check_positive_int(n_steps, "n_steps")
    phi = lambda y: reverse_map(v, y[None], n_steps)[0]
    s = vmap(lambda ui: jvp(phi, (x,), (ui,))[1])(u)
    return phi(x), s


# ----------------------------------------------------------------------------- metrics
def volume_metrics(
    v: Field,
    x_c: torch.Tensor,
    radius: float,
    n_steps: int,
    directions: torch.Tensor | None = None,
    n_directions: int = 64,
    method: str = "jvp",
    generator: torch.Generator | None = None,
) -> dict:
    """The six metrics of G §2.3 for the sphere of ``radius`` around the data point ``x_c``.

    Points x_i(1) = x_c + radius u_i on the sphere (u_i unit vectors) are mapped to the
    latent space exactly, x_i(0) = phi(x_i(1)), and by the linearisation
    x~_i(0) = phi(x_c) + J_phi(x_c)(x_i(1) - x_c); then x~_i(1) = psi(x~_i(0)). With means
    over i:

        D0 = mean |x_i(0) - x~_i(0)|,  C0 = mean |x_i(0) - x_c(0)|,  S0 = mean |x~_i(0) - x_c(0)|
        D1 = mean |x_i(1) - x~_i(1)|,  C1 = mean |x_i(1) - x_c| (= radius),
        S1 = mean |x~_i(1) - x_c|

    Args:
        v: field ``v(t, x)``.
        x_c: (d,) centre in data space.
        radius: sphere radius r > 0.
        n_steps: Euler steps for both maps.
        directions: (m, d) unit vectors; drawn uniformly when None.
        n_directions: m when ``directions`` is None.
        method: "jvp" (augmented JVP recursion) or "jacobian" (full augmented Jacobian).
        generator: for the random directions.

    Returns:
        dict with float values D0, C0, S0, D1, C1, S1 and tensors ``x1`` (m, d) sphere
        points, ``x0`` exact and ``x0_lin`` linearised latent points, ``x1_lin``, ``xc0``.
    """
    x_c = check_finite(check_shape(x_c, (None,), "x_c", "(d,)"), "x_c")
    check_positive_int(n_steps, "n_steps")
    check_int(n_directions, "n_directions", 1)
    if method not in ("jvp", "jacobian"):
        raise ValueError(f"method must be 'jvp' or 'jacobian', got {method!r}")
    if not (isinstance(radius, (int, float)) and radius > 0 and math.isfinite(radius)):
        raise ValueError(f"radius must be a positive number, got {radius!r}")
    d = x_c.shape[0]
    if directions is None:
        directions = sample_sphere(n_directions, d, 1.0, generator=generator, dtype=x_c.dtype)
    elif not isinstance(directions, torch.Tensor):
        raise TypeError(
            f"directions must be a torch.Tensor (m, {d}), got {type(directions).__name__}"
        )
    elif directions.ndim != 2 or directions.shape[1] != d:
        raise ValueError(f"directions must have shape (m, {d}), got {tuple(directions.shape)}")
    else:
        tol = 1e-4 if directions.dtype == torch.float32 else 1e-9
        if not bool(((directions.norm(dim=1) - 1).abs() < tol).all()):
            raise ValueError(
                "directions must be unit vectors (rows of norm 1), e.g. from sample_sphere"
            )
    disp = radius * directions
    x1 = x_c + disp
    x0 = reverse_map(v, x1, n_steps)
    if method == "jvp":
        xc0, jv = reverse_map_jvp(v, x_c, disp, n_steps)
    else:
        xc0, jac = reverse_map_with_jacobian(v, x_c[None], n_steps)
        xc0, jv = xc0[0], disp @ jac[0].T
    x0_lin = xc0 + jv
    x1_lin = forward_map(v, x0_lin, n_steps)
    mean = lambda a: float(a.detach().norm(dim=1).mean())
    return {
        "D0": mean(x0 - x0_lin),
        "C0": mean(x0 - xc0),
        "S0": mean(x0_lin - xc0),
        "D1": mean(x1 - x1_lin),
        "C1": mean(x1 - x_c),
        "S1": mean(x1_lin - x_c),
        "x1": x1,
        "x0": x0,
        "x0_lin": x0_lin,
        "x1_lin": x1_lin,
        "xc0": xc0,
    }
