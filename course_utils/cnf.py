"""Continuous normalizing flows (CNFs): exact log-densities of an ODE flow.

Taught in ``notebooks/06_cnf.ipynb``. Course convention: time runs from ``t = 0``
(base density ``p_0 = N(0, I)``) to ``t = 1`` (data, ``p_1``); the vector field is
called as ``v(t, x)`` with ``x: (batch, dim)``.

Along a trajectory ``dx/dt = v(t, x)`` the log-density obeys the instantaneous change
of variables ``d/dt log p_t(x(t)) = -div v(t, x(t))``. :class:`CNF` integrates the
augmented state ``(x, log p)`` with :func:`course_utils.ode.odeint` (or
:func:`course_utils.ode.odeint_adjoint`), computing the divergence exactly (``dim``
backward passes) or with Hutchinson's unbiased estimator (one backward pass per probe).

>>> import torch
>>> cnf = CNF(LinearField(torch.diag(torch.tensor([0.5, -0.2], dtype=torch.float64))), dim=2,
...           rtol=1e-9, atol=1e-9)
>>> x = torch.tensor([[1.0, 2.0]], dtype=torch.float64)
>>> round(cnf.log_prob(x).item(), 6)      # closed form: log N(e^{-A} x; 0, I) - tr A
-5.305466
"""

from __future__ import annotations

import functools
from collections.abc import Callable

import torch

from . import training as _t
from ._validate import (
    check_batch,
    check_data,
    check_finite,
    check_like,
    check_shape,
    check_tensor,
    standard_normal_log_prob,
)
from ._validate import check_choice as _check_choice
from ._validate import check_positive_int as _check_positive_int
from .training import TrainResult

__all__ = [
    "CNF",
    "MLPField",
    "LinearField",
    "standard_normal_log_prob",
    "sample_probe",
    "divergence_exact",
    "divergence_hutchinson",
    "divergence",
    "train_ml",
    "nll",
    "ESTIMATORS",
    "PROBES",
]

ESTIMATORS = ("exact", "hutchinson")
PROBES = ("rademacher", "gaussian")


# --------------------------------------------------------------------------- checks


def _check_points(x, dim: int | None = None, label: str = "x") -> torch.Tensor:
    return check_batch(x, label, dim)


def _check_pair(v: torch.Tensor, x: torch.Tensor) -> None:
    _check_points(x)
    check_like(v, x, "v", "x")
    if not x.requires_grad or v.grad_fn is None:
        raise ValueError(
            "v must be computed from x with autograd recording: call x.requires_grad_(True) "
            "(inside torch.enable_grad()) before v = field(t, x)"
        )


# --------------------------------------------------------------------------- densities and fields


class LinearField(torch.nn.Module):
    """The linear field ``v(t, x) = A x`` (time-independent); ``A: (dim, dim)``.

    Its flow is ``x(t) = expm(t A) x(0)`` and its divergence is ``tr A`` everywhere, so
    it is the course's closed-form test case. ``A`` is a trainable parameter.
    """

    def __init__(self, A: torch.Tensor):
        super().__init__()
        A = check_finite(check_shape(A, (None, None), "A", "(dim, dim)"), "A")
        if A.shape[0] != A.shape[1]:
            raise ValueError(f"A must have shape (dim, dim), got {tuple(A.shape)}")
        self.A = torch.nn.Parameter(A.clone())

    @property
    def dim(self) -> int:
        return self.A.shape[0]

    def forward(self, t: torch.Tensor, x: torch.Tensor) -> torch.Tensor:
        """``x: (batch, dim)`` -> ``A x: (batch, dim)``; ``t`` is ignored."""
        _check_points(x, self.A.shape[1])
        return x @ self.A.T


class MLPField(torch.nn.Module):
    """A small time-dependent vector field ``v(t, x) = MLP([x, t])``.

    Smooth activations (``tanh``, ``softplus``) are used because training a CNF
    differentiates the divergence, a first derivative of the network, once more.

    Args:
        dim: dimension of ``x``.
        hidden: width of the hidden layers.
        n_hidden: number of hidden layers (>= 1).
        activation: ``"tanh"`` or ``"softplus"``.
    """

    def __init__(self, dim: int, hidden: int = 64, n_hidden: int = 2, activation: str = "tanh"):
        super().__init__()
        self.dim = _check_positive_int(dim, "dim")
        _check_positive_int(hidden, "hidden")
        _check_positive_int(n_hidden, "n_hidden")
        act = {"tanh": torch.nn.Tanh, "softplus": torch.nn.Softplus}
        _check_choice(activation, act, "activation")
        layers: list[torch.nn.Module] = []
        width = dim + 1
        for _ in range(n_hidden):
            layers += [torch.nn.Linear(width, hidden), act[activation]()]
            width = hidden
        layers.append(torch.nn.Linear(width, dim))
        self.net = torch.nn.Sequential(*layers)

    def forward(self, t: torch.Tensor | float, x: torch.Tensor) -> torch.Tensor:
        """``t``: a number, a 0-d tensor or ``(batch,)``; ``x: (batch, dim)`` -> ``(batch, dim)``."""
        x = _check_points(x, self.dim)
        t = torch.as_tensor(t, dtype=x.dtype, device=x.device)
        t = t.expand(x.shape[0]) if t.ndim == 0 else t.reshape(x.shape[0])
        return self.net(torch.cat([x, t[:, None]], dim=1))


# --------------------------------------------------------------------------- divergence


def sample_probe(
    shape: tuple[int, ...],
    kind: str = "rademacher",
    *,
    generator: torch.Generator | None = None,
    dtype: torch.dtype | None = None,
    device: torch.device | str | None = None,
) -> torch.Tensor:
    """Random probe vectors for Hutchinson's estimator: zero mean, identity covariance.

    Args:
        shape: e.g. ``(batch, dim)`` or ``(n_probes, batch, dim)``.
        kind: ``"rademacher"`` (entries +-1 with probability 1/2) or ``"gaussian"``
            (entries ``N(0, 1)``). Both satisfy ``E[eps] = 0`` and ``E[eps eps^T] = I``,
            which is what unbiasedness needs.
        generator, dtype, device: passed to torch's samplers.

    Returns:
        A tensor of the given shape.
    """
    _check_choice(kind, PROBES, "kind")
    dtype = torch.get_default_dtype() if dtype is None else dtype
    if kind == "gaussian":
        return torch.randn(shape, generator=generator, dtype=dtype, device=device)
    bits = torch.randint(0, 2, shape, generator=generator, device=device)
    return (2 * bits - 1).to(dtype)


def divergence_exact(
    v: torch.Tensor, x: torch.Tensor, *, create_graph: bool = False
) -> torch.Tensor:
    """Exact divergence ``sum_i dv_i/dx_i`` by ``dim`` backward passes.

    Pass ``i`` computes ``grad_x sum_b v[b, i]``, whose row ``b`` is row ``i`` of the
    Jacobian of sample ``b`` (rows of the batch must not interact, as in any per-sample
    network), and keeps its ``i``-th entry.

    Args:
        v: ``(batch, dim)``, computed from ``x`` with autograd recording.
        x: ``(batch, dim)`` with ``requires_grad=True``.
        create_graph: keep the graph so that the result can be differentiated again
            (needed to train through the divergence).

    Returns:
        ``(batch,)`` divergences.
    """
    _check_pair(v, x)
    div = torch.zeros(x.shape[0], dtype=x.dtype, device=x.device)
    for i in range(x.shape[1]):
        (g,) = torch.autograd.grad(
            v[:, i].sum(), x, create_graph=create_graph, retain_graph=True, allow_unused=True
        )
        if g is not None:  # None: v_i does not depend on x (e.g. a learned constant)
            div = div + g[:, i]
    return div


def divergence_hutchinson(
    v: torch.Tensor, x: torch.Tensor, eps: torch.Tensor, *, create_graph: bool = False
) -> torch.Tensor:
    """Hutchinson's estimate ``eps^T (dv/dx) eps`` of the divergence, one backward pass per probe.

    ``grad_x (eps . v) = J^T eps`` is a vector-Jacobian product, and
    ``eps . J^T eps = eps^T J eps``. Averaged over probes with ``E[eps eps^T] = I`` its
    mean is ``tr J`` (unbiased). One probe has variance ``||J + J^T||_F^2 / 2`` if it is
    Gaussian and ``||J + J^T||_F^2 / 2 - 2 sum_i J_ii^2`` if it is Rademacher, i.e.
    ``2 (||J||_F^2 - sum_i J_ii^2)`` for a symmetric ``J``; averaging ``n_probes``
    probes divides it by ``n_probes``.

    Args:
        v: ``(batch, dim)``, computed from ``x`` with autograd recording.
        x: ``(batch, dim)`` with ``requires_grad=True``.
        eps: probes ``(batch, dim)`` or ``(n_probes, batch, dim)`` (see :func:`sample_probe`).
        create_graph: keep the graph for a further derivative.

    Returns:
        ``(batch,)`` estimates (the mean over the probes).
    """
    _check_pair(v, x)
    eps = check_tensor(eps, "eps", f"{tuple(x.shape)} or (n_probes, *x.shape)")
    if eps.shape[-2:] != x.shape or eps.ndim not in (2, 3):
        got = tuple(eps.shape)
        raise ValueError(
            f"eps must have shape {tuple(x.shape)} or (n_probes, {x.shape[0]}, {x.shape[1]}), got {got}"
        )
    probes = eps if eps.ndim == 3 else eps[None]
    est = torch.zeros(x.shape[0], dtype=x.dtype, device=x.device)
    for e in probes:
        (vjp,) = torch.autograd.grad(
            v, x, grad_outputs=e, create_graph=create_graph, retain_graph=True, allow_unused=True
        )
        if vjp is not None:  # None: v does not depend on x, its divergence is 0
            est = est + (vjp * e).sum(1)
    return est / probes.shape[0]


def divergence(
    field: Callable,
    t: torch.Tensor | float,
    x: torch.Tensor,
    *,
    estimator: str = "exact",
    probe: str = "rademacher",
    n_probes: int = 1,
    generator: torch.Generator | None = None,
) -> tuple[torch.Tensor, torch.Tensor]:
    """Evaluate ``v = field(t, x)`` and its divergence (exact or Hutchinson).

    Args:
        field: ``field(t, x) -> (batch, dim)``.
        t: time (a number or a 0-d tensor).
        x: ``(batch, dim)`` points.
        estimator: ``"exact"`` or ``"hutchinson"``.
        probe: ``"rademacher"`` or ``"gaussian"`` (Hutchinson only).
        n_probes: number of probes averaged (Hutchinson only).
        generator: random generator for the probes.

    Returns:
        ``(v: (batch, dim), div: (batch,))``, both detached from the graph.
    """
    x = check_data(x, "x")
    _check_choice(estimator, ESTIMATORS, "estimator")
    _check_positive_int(n_probes, "n_probes")
    with torch.enable_grad():
        xg = x.detach().requires_grad_(True)
        v = field(t, xg)
        if isinstance(v, torch.Tensor) and v.shape == x.shape and v.grad_fn is None:
            # computed with recording on, yet no graph: v does not depend on x at all
            return v.detach(), torch.zeros(x.shape[0], dtype=x.dtype, device=x.device)
        if estimator == "exact":
            div = divergence_exact(v, xg)
        else:
            eps = sample_probe(
                (n_probes, *x.shape), probe, generator=generator, dtype=x.dtype, device=x.device
            )
            div = divergence_hutchinson(v, xg, eps)
    return v.detach(), div.detach()


# --------------------------------------------------------------------------- the CNF


class _Dynamics(torch.nn.Module):
    """``(x, log p) -> (v(t, x), -div v(t, x))``: the augmented ODE, with an NFE counter."""

    def __init__(self, field, estimator: str, n_probes: int):
        super().__init__()
        self.field = field
        self.estimator = estimator
        self.n_probes = n_probes
        self.eps: torch.Tensor | None = None  # fixed for a whole solve (a deterministic ODE)
        self.nfe = 0

    def forward(self, t, state):
        x = state[0]
        self.nfe += 1
        # Record a graph only when the caller does (training, or the adjoint's backward
        # pass); under no_grad the divergence still needs a local graph of v(t, x).
        build = torch.is_grad_enabled()
        with torch.enable_grad():
            if not x.requires_grad:
                x = x.detach().requires_grad_(True)
            v = self.field(t, x)
            if v.grad_fn is None:  # recording was on: v does not depend on x or parameters
                div = torch.zeros(x.shape[0], dtype=x.dtype, device=x.device)
            elif self.estimator == "exact":
                div = divergence_exact(v, x, create_graph=build)
            else:
                div = divergence_hutchinson(v, x, self.eps, create_graph=build)
        if not build:
            v, div = v.detach(), div.detach()
        return v, -div


class CNF(torch.nn.Module):
    """A continuous normalizing flow built from a vector field ``v(t, x)``.

    ``x(0) ~ N(0, I)`` is carried to ``x(1)`` by ``dx/dt = v(t, x)``; the density of
    ``x(1)`` is ``p_1``. :meth:`log_prob` integrates the augmented state backwards from a
    data point at ``t = 1`` to ``t = 0``:

        d/dt [x, l] = [v(t, x), -div v(t, x)],   x(1) = x, l(1) = 0,

    so that ``l(0) = log p_0(x(0)) - log p_1(x)`` and
    ``log p_1(x) = log p_0(x(0)) - l(0)``.

    Args:
        field: the vector field ``field(t, x) -> (batch, dim)``; an ``nn.Module`` (its
            parameters are trained and, with ``adjoint=True``, get adjoint gradients).
        dim: dimension of ``x``.
        estimator: ``"exact"`` divergence (``dim`` backward passes per evaluation) or
            ``"hutchinson"`` (one per probe; unbiased, noisy). The probes are drawn once
            per solve and kept fixed during it, so the solver sees a deterministic ODE.
        probe: ``"rademacher"`` or ``"gaussian"`` Hutchinson probes.
        n_probes: probes per evaluation (Hutchinson).
        method, rtol, atol, step_size: the solver (see ``course_utils.ode.odeint``).
        adjoint: compute gradients with ``odeint_adjoint`` (memory independent of the
            number of solver steps) instead of back-propagating through the solver.

    Attributes:
        last_nfe: evaluations of the augmented field in the last solve (for the adjoint,
            the forward solve; the backward solve adds to :attr:`nfe`).
        nfe: running count of evaluations; reset it with ``cnf.nfe = 0``.
    """

    def __init__(
        self,
        field: Callable,
        dim: int,
        *,
        estimator: str = "exact",
        probe: str = "rademacher",
        n_probes: int = 1,
        method: str = "dopri5",
        rtol: float = 1e-5,
        atol: float = 1e-5,
        step_size: float | None = None,
        adjoint: bool = False,
    ):
        super().__init__()
        if not callable(field):
            raise TypeError(f"field must be callable as field(t, x), got {type(field).__name__}")
        self.dim = _check_positive_int(dim, "dim")
        field_dim = getattr(field, "dim", None)
        if isinstance(field_dim, int) and field_dim != self.dim:
            raise ValueError(f"the field works in {field_dim} dimensions but dim = {self.dim}")
        self.estimator = _check_choice(estimator, ESTIMATORS, "estimator")
        self.probe = _check_choice(probe, PROBES, "probe")
        self._dynamics = _Dynamics(field, estimator, _check_positive_int(n_probes, "n_probes"))
        self.solver = {"method": method, "rtol": rtol, "atol": atol, "step_size": step_size}
        self.adjoint = bool(adjoint)
        self.last_nfe = 0

    @property
    def field(self):
        """The vector field ``v(t, x)``."""
        return self._dynamics.field

    @property
    def nfe(self) -> int:
        return self._dynamics.nfe

    @nfe.setter
    def nfe(self, value: int) -> None:
        self._dynamics.nfe = int(value)

    def _param_dtype(self) -> torch.dtype:
        """The field's parameter dtype (the default dtype for a field without parameters)."""
        return next((p.dtype for p in self.parameters()), torch.get_default_dtype())

    def _check_matches_parameters(self, x: torch.Tensor) -> None:
        dtypes = {p.dtype for p in self.parameters()}
        if dtypes and x.dtype not in dtypes:
            (want,) = dtypes if len(dtypes) == 1 else (sorted(map(str, dtypes)),)
            raise TypeError(
                f"x has dtype {x.dtype} but the field's parameters are {want}: convert the "
                "points (x.to(dtype)) or the field (field.to(dtype)) so that they match"
            )

    def _solve(self, state, t0: float, t1: float, generator):
        x = state[0]
        self._check_matches_parameters(x)
        if self.estimator == "hutchinson":
            self._dynamics.eps = sample_probe(
                (self._dynamics.n_probes, *x.shape),
                self.probe,
                generator=generator,
                dtype=x.dtype,
                device=x.device,
            )
        t = torch.tensor([t0, t1], dtype=x.dtype, device=x.device)
        start = self._dynamics.nfe
        from . import ode
        from ._adjoint import odeint_adjoint

        if self.adjoint:
            params = tuple(p for p in self.parameters() if p.requires_grad)
            sol = odeint_adjoint(self._dynamics, state, t, adjoint_params=params, **self.solver)
        else:
            sol = ode.odeint(self._dynamics, state, t, **self.solver)
        self.last_nfe = self._dynamics.nfe - start
        return sol[0][-1], sol[1][-1]

    def log_prob(
        self,
        x: torch.Tensor,
        *,
        generator: torch.Generator | None = None,
        return_latent: bool = False,
    ):
        """Log-density ``log p_1(x)`` in nats.

        Args:
            x: ``(batch, dim)`` data points.
            generator: random generator for Hutchinson probes.
            return_latent: also return ``x(0)``, the point ``x`` is mapped back to.

        Returns:
            ``(batch,)`` log-densities, or ``(log_prob, z)`` with ``z: (batch, dim)``.
        """
        x = check_data(x, "x", self.dim)
        l1 = torch.zeros(x.shape[0], dtype=x.dtype, device=x.device)
        z, l0 = self._solve((x, l1), 1.0, 0.0, generator)
        logp = standard_normal_log_prob(z) - l0
        return (logp, z) if return_latent else logp

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """Same as :meth:`log_prob`."""
        return self.log_prob(x)

    def sample_with_log_prob(
        self,
        n: int,
        *,
        generator: torch.Generator | None = None,
        dtype: torch.dtype | None = None,
    ) -> tuple[torch.Tensor, torch.Tensor]:
        """Draw ``x(0) ~ N(0, I)`` and integrate ``(x, log p)`` forwards from ``t = 0`` to 1.

        ``dtype`` defaults to the field's parameter dtype.

        Returns:
            ``(x: (n, dim), log_prob: (n,))``: samples of ``p_1`` and their log-densities.
        """
        _check_positive_int(n, "n")
        dtype = self._param_dtype() if dtype is None else dtype
        z = torch.randn(n, self.dim, generator=generator, dtype=dtype)
        return self._solve((z, standard_normal_log_prob(z)), 0.0, 1.0, generator)

    @torch.no_grad()
    def sample(
        self,
        n: int,
        *,
        generator: torch.Generator | None = None,
        dtype: torch.dtype | None = None,
    ) -> torch.Tensor:
        """``n`` samples of ``p_1``, shape ``(n, dim)`` (no gradient; uses the same solver).

        Only the state is integrated (no divergence), so sampling costs one network
        evaluation per solver stage. ``dtype`` defaults to the field's parameter dtype.
        """
        from . import ode

        _check_positive_int(n, "n")
        dtype = self._param_dtype() if dtype is None else dtype
        z = torch.randn(n, self.dim, generator=generator, dtype=dtype)
        self._check_matches_parameters(z)
        t = torch.tensor([0.0, 1.0], dtype=dtype)
        return ode.odeint(self.field, z, t, **self.solver)[-1]


# --------------------------------------------------------------------------- training


def _batches(data, batch_size: int, generator):
    if isinstance(data, torch.Tensor):  # checked once by the caller
        idx = torch.randint(0, data.shape[0], (batch_size,), generator=generator)
        return data[idx]
    if callable(data):
        return data(batch_size, generator)
    raise TypeError(
        "data must be a torch.Tensor of shape (n, dim) or a callable sample(n, generator), "
        f"got {type(data).__name__}"
    )


def nll(cnf: CNF, x: torch.Tensor, *, batch_size: int = 2048, generator=None) -> float:
    """Mean negative log-likelihood ``-mean log p_1(x)`` in nats, without gradients.

    Args:
        cnf: the model.
        x: ``(n, dim)`` held-out points.
        batch_size: points per solve.
        generator: random generator for Hutchinson probes.
    """
    x = check_data(x, "x", cnf.dim)
    _check_positive_int(batch_size, "batch_size")
    total = 0.0
    with torch.no_grad():
        for start in range(0, x.shape[0], batch_size):
            chunk = x[start : start + batch_size]
            total += float(cnf.log_prob(chunk, generator=generator).sum())
    return -total / x.shape[0]


def train_ml(
    cnf: CNF,
    data,
    val_data: torch.Tensor | None = None,
    *,
    steps: int = 300,
    batch_size: int = 256,
    lr: float = 5e-3,
    schedule: str = "constant",
    warmup: int = 0,
    ema: float | None = None,
    generator: torch.Generator | None = None,
    device: torch.device | str | None = None,
    callback: Callable[[int, float, torch.nn.Module], None] | None = None,
    print_every: int | None = None,
    optimizer: torch.optim.Optimizer | None = None,
) -> TrainResult:
    """Maximum-likelihood training: minimise ``-mean log p_1(x)`` over mini-batches with Adam.

    The arguments and the result follow the course's training convention
    (:mod:`course_utils.training`).

    Args:
        cnf: the model (its field's parameters are trained).
        data: training points ``(n, dim)`` (mini-batches drawn with replacement) or a
            callable ``data(batch_size, generator) -> (batch_size, dim)``, e.g.
            ``lambda n, g: cu.data.get("two_moons").sample(n, generator=g)``.
        val_data: ``(n_val, dim)`` held-out points; their NLL (:func:`nll`) forms the
            validation curve.
        steps, batch_size, lr, schedule, warmup, ema, generator, device, callback,
            print_every: as in :mod:`course_utils.training` (a constant rate and no EMA
            by default). ``lr`` and ``schedule`` are ignored when ``optimizer`` is given.
        optimizer: a ready optimiser over ``cnf.parameters()``.

    Returns:
        A :class:`~course_utils.training.TrainResult`: ``losses`` are the mini-batch NLLs
        (nats); ``extras["nfe_forward"]`` and ``extras["nfe_backward"]`` the evaluations
        of the augmented field per step in the forward solve and in the adjoint's backward
        solve (0 without adjoint). ``result["loss"]`` etc. still work (older form).
    """
    _check_train_ml_args(cnf, optimizer)
    _t.check_common(
        steps, batch_size, None if optimizer else lr, schedule, warmup, ema, generator,
        callback, print_every,
    )  # fmt: skip
    if device is not None:
        cnf.to(device)
    if isinstance(data, torch.Tensor):
        check_data(data, "data", cnf.dim)
    val = None if val_data is None else check_data(val_data, "val_data", cnf.dim)
    params = [p for p in cnf.parameters() if p.requires_grad]
    optimizer, sched = _optimizer(params, optimizer, lr, schedule, warmup, steps)
    extras = {"nfe_forward": [], "nfe_backward": []}
    before = [0]  # cnf.nfe when the backward solve starts

    def batch_loss(step: int) -> torch.Tensor:
        x = _batches(data, batch_size, generator)
        if not isinstance(data, torch.Tensor):  # a tensor was checked once, above
            check_data(x, "a batch of data", cnf.dim)
        x = x.to(next(iter(params)).dtype if params else x.dtype)
        loss = -cnf.log_prob(x, generator=generator).mean()
        if not bool(torch.isfinite(loss)):
            raise FloatingPointError(
                f"the loss became {float(loss.detach())} at step {step}: lower lr or use a "
                "finer solver"
            )
        extras["nfe_forward"].append(cnf.last_nfe)
        before[0] = cnf.nfe
        return loss

    def count_backward() -> None:
        extras["nfe_backward"].append(cnf.nfe - before[0])

    result = _t.fit(
        cnf, batch_loss, optimizer, steps=steps, scheduler=sched, ema=ema, callback=callback,
        print_every=print_every, val_loss=None if val is None else (lambda m: nll(m, val)),
        progress=_print_progress, after_backward=count_backward,
    )  # fmt: skip
    result.extras = extras
    return result


def _optimizer(params, optimizer, lr, schedule, warmup, steps):
    """Adam at ``lr`` with its schedule, or the given optimiser (and no schedule)."""
    if optimizer is not None:
        return optimizer, None
    optimizer = torch.optim.Adam(params, lr=lr)
    if schedule == "constant" and not warmup:  # no scheduler: the older behaviour exactly
        return optimizer, None
    factor = _t.lr_factor(schedule, warmup, steps)
    return optimizer, torch.optim.lr_scheduler.LambdaLR(optimizer, factor)


def _check_train_ml_args(cnf, optimizer) -> None:
    if not isinstance(cnf, CNF):
        raise TypeError(f"cnf must be a course_utils.cnf.CNF, got {type(cnf).__name__}")
    if optimizer is None and not any(p.requires_grad for p in cnf.parameters()):
        raise ValueError("cnf has no trainable parameters (is field an nn.Module?)")


# the progress line of likelihood training: the NLL in nats, 3 decimals
_print_progress = functools.partial(_t.print_progress, label="NLL", unit="nats", digits=3)
