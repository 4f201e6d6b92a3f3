"""One class of mistake, one exception and one message shape, in every public function.

``CALLS`` gives, for every public function of every topic module (its ``__all__``), one
valid call. The test derives the bad calls from it: each floating-tensor argument is
replaced by a list (wrong type), an integer tensor (wrong dtype), a copy holding a NaN and
a tensor with one axis fewer (wrong shape); each count argument by ``0`` (non-positive)
and ``2.5`` (not an int). Every bad call must raise the exception of the table in
``course_utils/_validate.py`` with a message that starts with the argument's name:

    TypeError   x must be a torch.Tensor ..., got list
    TypeError   x must have a floating dtype, got torch.int64
    ValueError  x contains NaN or infinite values
    ValueError  x must have shape (batch, 2), got (2,)
    ValueError  n must be a positive int, got 0        (TypeError for 2.5)

A public function must appear in ``CALLS`` or in ``NO_CHECKED_ARGUMENT`` (with the reason
it takes no tensor or count), so a new function cannot slip past the table.
"""

from __future__ import annotations

import functools
import importlib
import inspect
import math
import re
from dataclasses import dataclass, field
from pathlib import Path

import pytest
import torch

import course_utils
from course_utils import _validate

# the topic modules, as the package lists them (``grading`` takes paths: IO_MODULES)
MODULES = [m for m in course_utils._SUBMODULES if m != "grading"]

# Classes whose methods are abstract (their subclasses' methods are in the table).
ABSTRACT = {"data.Toy2D", "flows.Bijection", "flow_matching.GaussianPath"}

# Argument names that hold a count (samples, steps, cells, layers, ...).
COUNT_NAMES = {
    "n", "m", "d", "dim", "k", "steps", "n_steps", "batch_size", "hidden", "depth",
    "n_layers", "n_hidden", "n_probes", "n_freq", "bins", "refine", "n_directions",
    "n_times", "max_iter", "repeat", "number", "n_max", "warmup", "n_classes", "n_test",
    "n_levels", "nrow",
}  # fmt: skip


def _g(seed=0):
    return torch.Generator().manual_seed(seed)


def _x(n=8, d=2, seed=0):
    return torch.randn(n, d, generator=_g(seed), dtype=torch.float64)


def _spd(d=3):
    a = torch.randn(d, d, generator=_g(1), dtype=torch.float64)
    return a @ a.T + d * torch.eye(d, dtype=torch.float64)


def _prob(seed=0):
    p = torch.rand(4, generator=_g(seed), dtype=torch.float64) + 0.1
    return p / p.sum()


_LEAF = torch.zeros(1, dtype=torch.float64, requires_grad=True)
_XG = _x().requires_grad_(True)


def _ARRAY_LIKE(*names):
    return tuple(f"{n}:{k}" for n in names for k in ("type", "dtype"))


def _INT_OK(*names):
    return tuple(f"{n}:dtype" for n in names)


@dataclass
class Call:
    """A valid call ``fn(*args, **kwargs)``; ``skip`` names arguments (or ``arg:kind``)
    whose bad versions are not errors by design (with the reason in a comment)."""

    args: tuple = ()
    kwargs: dict = field(default_factory=dict)
    skip: tuple[str, ...] = ()
    obj: object = None  # the instance, for a method ``module.Class.method``


def _field(t, x):
    return -x


def _lp(x):
    return -0.5 * (x**2).sum(1)


def _calls():
    from course_utils import cnf, flow_matching, flows

    lin = torch.nn.Linear(2, 2).double()
    path = flow_matching.OTPath()
    cnf_model = cnf.CNF(cnf.LinearField(-torch.eye(2, dtype=torch.float64)), 2)
    flow = flows.realnvp(2, n_layers=2, hidden=4)
    vel = flow_matching.VelocityMLP(2, hidden=4, n_hidden=1)
    seq = torch.nn.Sequential(torch.nn.Linear(2, 3), torch.nn.Tanh(), torch.nn.Linear(3, 2))
    seq = seq.double()
    x = _x()
    calls = {
        # data
        "data.get": Call(("two_moons",)),
        "data.TwoMoons": Call(),
        "data.EightGaussians": Call(),
        "data.Rings": Call(),
        "data.GaussianMixture2D": Call(),
        # grid
        "grid.grid_2d": Call(kwargs={"n": 4}),
        "grid.integrate_density_2d": Call((_lp,), {"n": 4}),
        "grid.evaluate_on_grid": Call((_lp,), {"n": 4, "batch_size": 5}),
        # mle
        # mle takes numbers, lists and integer arrays by design (notebook 01 passes lists)
        "mle.gaussian_log_likelihood": Call((x[:, 0], 0.0, 1.0), skip=("x:type", "x:dtype")),
        "mle.wasserstein1_1d": Call((x[:, 0], x[:, 1]), skip=_ARRAY_LIKE("x", "y")),
        "mle.kl_divergence": Call((_prob(), _prob(1)), skip=_ARRAY_LIKE("p", "q")),
        "mle.total_variation": Call((_prob(), _prob(1)), skip=_ARRAY_LIKE("p", "q")),
        "mle.fit_mle": Call(
            (lambda: ((_LEAF - 1) ** 2).sum(), [_LEAF]), {"max_iter": 2}, skip=("params",)
        ),
        # ode (any state shape is allowed: no shape case)
        # any state shape is allowed (no shape case); times may be a list or integers,
        # converted as torch.as_tensor would
        "ode.odeint": Call(
            (_field, x, torch.linspace(0, 1, 3, dtype=torch.float64)),
            skip=("y0:shape", "t:dtype", "t:type"),
        ),
        "ode.odeint_adjoint": Call(
            (_field, x, torch.linspace(0, 1, 3, dtype=torch.float64)),
            {"adjoint_params": ()},
            skip=("y0:shape", "t:dtype"),
        ),
        "ode.odeint_adjoint[tuple]": Call(
            (lambda t, y: (-y[0], -y[1]), (x, x[:, 0]), torch.linspace(0, 1, 3).double()),
            {"adjoint_params": ()},
            skip=("t",),
        ),
        # change of variables
        # a density evaluated in every training step: NaN in, NaN out (as torch.distributions)
        "change_of_variables.standard_normal_log_prob": Call((x,), skip=("z:nan",)),
        "change_of_variables.batch_jacobian": Call((torch.tanh, x)),
        "change_of_variables.log_abs_det_jacobian": Call((torch.tanh, x)),
        "change_of_variables.log_prob_after": Call(
            (torch.exp, _lp, x.abs() + 0.5), {"inverse": torch.log}
        ),
        "change_of_variables.log_prob_after_branches": Call(
            (torch.square, _lp, x.abs() + 0.5), {"inverses": [torch.sqrt, lambda y: -torch.sqrt(y)]}
        ),
        "change_of_variables.histogram_tv": Call((x, _lp, 3.0), {"bins": 4, "refine": 2}),
        # linalg
        "linalg.svd_via_eig": Call((_spd(),)),
        # k = 0 is a valid rank (the zero matrix)
        "linalg.canonical_signs": Call((torch.eye(3, dtype=torch.float64),) * 2, skip=("k:zero",)),
        "linalg.best_rank_k": Call((_spd(), 1), skip=("k:zero",)),
        "linalg.spiked_wigner": Call((4, 1.0)),
        "linalg.condition_number": Call((_spd(),)),
        "linalg.min_norm_lstsq": Call((_spd(), x[:3, 0])),
        "linalg.sherman_morrison": Call((_spd(), x[:3, 0], x[:3, 1])),
        "linalg.woodbury": Call((_spd(), x[:3], torch.eye(2, dtype=torch.float64), x[:3].T)),
        "linalg.best_time": Call((lambda: None,), {"repeat": 1}),
        # flows
        "flows.realnvp": Call((2,), {"n_layers": 2, "hidden": 4}),
        "flows.standard_normal_log_prob": Call((x,), skip=("z:nan",)),
        # numbers and lists are accepted (stored in float64)
        "flows.ElementwiseAffine": Call(
            (torch.ones(2), torch.zeros(2)), skip=_ARRAY_LIKE("scale", "shift")
        ),
        "flows.Shear": Call((0.5,)),
        "flows.Permutation": Call(([1, 0],)),
        "flows.nll": Call((flow, x.float())),
        "flows.train_flow": Call(
            (flow, x.float(), x.float()),
            {"steps": 1, "batch_size": 4, "print_every": None},
            skip=("warmup:zero",),  # no warm-up
        ),
        # the mask is any 1-D sequence of 0s and 1s; anything else is "mask must be ..."
        "flows.AffineCoupling": Call(
            (torch.tensor([1.0, 0.0]),), {"hidden": 4, "depth": 1}, skip=("mask",)
        ),
        # cnf
        "cnf.CNF": Call((lin, 2)),
        "cnf.MLPField": Call((2,), {"hidden": 4}),
        "cnf.standard_normal_log_prob": Call((x,), skip=("z:nan",)),
        "cnf.LinearField": Call((-torch.eye(2, dtype=torch.float64),)),
        # evaluated inside every solver step: no NaN scan there
        "cnf.divergence_exact": Call((torch.tanh(_XG), _XG), skip=("v:nan", "x:nan")),
        "cnf.divergence_hutchinson": Call(
            (torch.tanh(_XG), _XG, torch.ones(8, 2, dtype=torch.float64)),
            skip=("v:nan", "x:nan", "eps:nan"),
        ),
        "cnf.divergence": Call((cnf_model.field, 0.0, x)),
        "cnf.nll": Call((cnf_model, x)),
        "cnf.train_ml": Call(
            (cnf_model, x), {"steps": 1, "batch_size": 4}, skip=("data:type", "warmup:zero")
        ),  # data may also be a sampler: own test below
        "cnf.sample_probe": Call(((4, 2),)),
        # flow matching
        "flow_matching.couple": Call((x, _x(seed=1))),
        "flow_matching.cfm_loss": Call((vel, path, x.float()), {"generator": _g()}),
        "flow_matching.MarginalField": Call((path, x)),
        # n_freq = 0: no Fourier features
        "flow_matching.VelocityMLP": Call(
            (2,), {"hidden": 4, "n_hidden": 1}, skip=("n_freq:zero",)
        ),
        # warmup = 0: no warm-up
        "flow_matching.train": Call(
            (vel, x.float(), path),
            {"steps": 1, "batch_size": 4, "ema": None},
            skip=("warmup:zero", "data:type"),  # data may also be a sampler: own test below
        ),
        "flow_matching.OTPath": Call(),
        "flow_matching.VPPath": Call(),
        "flow_matching.VEPath": Call(),
        "flow_matching.fm_loss": Call((_field, _field, x, 0.5)),
        "flow_matching.sample": Call((vel, x.float()), {"steps": 2}),
        "flow_matching.log_prob": Call((_field, x), {"method": "rk4", "step_size": 0.5}),
        "flow_matching.straightness": Call((torch.stack([x, x + 1, x + 2]),)),
        # metrics take numpy arrays and integer samples, computed in float64
        "metrics.energy_distance": Call((x, _x(seed=1)), skip=_INT_OK("x", "y")),
        "metrics.energy_distance_floor": Call((x, 3, 3), skip=_INT_OK("data")),
        "metrics.mmd2": Call((x, _x(seed=1)), skip=_INT_OK("x", "y")),
        "metrics.pairwise_sq_dists": Call((x, _x(seed=1)), skip=_INT_OK("x", "y")),
        "metrics.optimal_matching": Call((x, _x(seed=1)), skip=_INT_OK("x", "y")),
        "metrics.wasserstein2": Call((x, _x(seed=1)), skip=_INT_OK("x", "y")),
        # volume
        # (d,) or (batch, d): one axis fewer is still valid
        "volume.cosine_similarity": Call((x, _x(seed=1)), skip=("x:shape", "y:shape")),
        "volume.l2_distance": Call((x, _x(seed=1)), skip=("x:shape", "y:shape")),
        "volume.forward_map": Call((_field, x, 2)),
        "volume.reverse_map": Call((_field, x, 2)),
        "volume.sample_sphere": Call((4, 2)),
        "volume.sample_ball": Call((4, 2)),
        "volume.field_jacobian": Call((_field, 0.0, x)),
        "volume.reverse_map_with_jacobian": Call((_field, x, 2)),
        "volume.sequential_jvp": Call((seq, x, _x(seed=1))),
        "volume.reverse_map_jvp": Call((_field, x, _x(seed=1), 2), skip=("x:shape",)),
        "volume.reverse_map_jvp_autodiff": Call((_field, x[0], _x(seed=1), 2)),
        "volume.volume_metrics": Call(
            (_field, x[0], 0.1, 2), {"n_directions": 3, "generator": _g()}
        ),
        "data.names": Call(),
        # plots take any array-like, as matplotlib does, and leave NaN points out (but
        # loglog fits a slope: NaN is an error there)
        "plotting.scatter": Call((x,), skip=_ARRAY_LIKE("x") + ("x:nan",)),
        "plotting.density": Call((_lp,), {"n": 4}),
        "plotting.vector_field": Call((_field,), {"n": 3}),
        "plotting.trajectories": Call(
            (torch.stack([x, x + 1]),), {"n_max": 2}, skip=_ARRAY_LIKE("path") + ("path:nan",)
        ),
        "plotting.loglog": Call((x[:, 0].abs() + 1, x[:, 1].abs() + 1), skip=_ARRAY_LIKE("x", "y")),
    }
    return {**calls, **_more_calls()}


@functools.cache
def _digits():
    """The digits and a fitted classifier (made once: fitting takes a second)."""
    from course_utils import digits

    d = digits.load()
    return d, digits.DigitClassifier(d.train_images[:200], d.train_labels[:200], max_iter=20)


# Why a bad case is not an error, for the methods (the functions' reasons are above):
# a layer's or a field's forward, a density or a path point is evaluated on every
# training batch or solver step, so it does not scan its input for NaN (NaN in, NaN out,
# as torch.nn layers); the trainers and solvers check their inputs once.
HOT = "nan"
# times are a number, a 0-d tensor or (batch,), converted as torch.as_tensor converts
TIME = ("t:type", "t:dtype", "t:shape")
NO_CLOSED_FORM = ("TwoMoons", "Rings")  # log_prob raises NotImplementedError (data.py)


def _hot(*names):
    return tuple(f"{n}:{HOT}" for n in names)


def _more_calls():
    """Public methods of the public classes, and the modules splines, digits, sde, training."""
    from course_utils import cnf, data, flow_matching, flows, sde, splines

    x = _x()
    t = torch.rand(8, generator=_g(2), dtype=torch.float64) * 0.8 + 0.1
    calls = {}
    # --- data: every toy distribution's methods
    for name in ("GaussianMixture2D", "TwoMoons", "EightGaussians", "Checkerboard", "Rings"):
        toy = getattr(data, name)()
        calls[f"data.{name}.sample"] = Call((4,), {"generator": _g()}, obj=toy)
        if name not in NO_CLOSED_FORM:
            calls[f"data.{name}.log_prob"] = Call((x,), obj=toy, skip=_hot("x"))
            calls[f"data.{name}.entropy"] = Call(kwargs={"n": 1000}, obj=toy)
    # --- flows: every bijection's forward and inverse, the flow's methods
    mask = torch.tensor([1.0, 0.0])
    bijections = {
        "flows.ElementwiseAffine": flows.ElementwiseAffine(torch.ones(2), torch.zeros(2)),
        "flows.Shear": flows.Shear(0.5),
        "flows.Permutation": flows.Permutation([1, 0]),
        "flows.AffineCoupling": flows.AffineCoupling(mask, hidden=4, depth=1).double(),
        "flows.Compose": flows.Compose(flows.Shear(0.5), flows.Permutation([1, 0])),
        "splines.SplineCoupling": splines.SplineCoupling(mask, bins=4, hidden=4, depth=1).double(),
    }
    for name, layer in bijections.items():
        calls[f"{name}.forward"] = Call((x,), obj=layer, skip=_hot("z"))
        calls[f"{name}.inverse"] = Call((x,), obj=layer, skip=_hot("x"))
    calls["flows.AffineCoupling.scale_and_shift"] = Call(
        (x * mask,), obj=bijections["flows.AffineCoupling"], skip=_hot("z_masked")
    )
    flow = flows.realnvp(2, n_layers=2, hidden=4).double()
    for method in ("forward", "log_prob", "to_latent"):
        calls[f"flows.Flow.{method}"] = Call((x,), obj=flow, skip=_hot("x"))
    calls["flows.Flow.sample"] = Call((4,), {"generator": _g()}, obj=flow)
    calls["flows.Flow.sample_with_log_prob"] = Call((4,), {"generator": _g()}, obj=flow)
    # --- splines
    calls["splines.rational_quadratic_spline"] = Call(
        (x[:, 0].clamp(-2, 2), torch.randn(8, 11, generator=_g(4), dtype=torch.float64)),
        skip=_hot("x", "params"),
    )
    calls["splines.neural_spline_flow"] = Call((2,), {"n_layers": 1, "bins": 4, "hidden": 4})
    # --- cnf
    model = cnf.CNF(cnf.LinearField(-torch.eye(2, dtype=torch.float64)), 2, method="rk4",
                    step_size=0.5)  # fmt: skip
    for method in ("forward", "log_prob"):
        calls[f"cnf.CNF.{method}"] = Call((x,), obj=model)
    calls["cnf.CNF.sample"] = Call((4,), {"generator": _g(), "dtype": torch.float64}, obj=model)
    calls["cnf.CNF.sample_with_log_prob"] = Call(
        (4,), {"generator": _g(), "dtype": torch.float64}, obj=model
    )
    calls["cnf.MLPField.forward"] = Call(
        (0.5, x), obj=cnf.MLPField(2, hidden=4).double(), skip=_hot("x")
    )
    calls["cnf.LinearField.forward"] = Call(
        (0.5, x), obj=cnf.LinearField(-torch.eye(2, dtype=torch.float64)), skip=_hot("x")
    )
    # --- flow matching: every path's methods, the marginal field, the MLP
    for name in ("OTPath", "VPPath", "VEPath"):
        path = getattr(flow_matching, name)()
        calls[f"flow_matching.{name}.std"] = Call((t,), obj=path, skip=TIME)
        calls[f"flow_matching.{name}.mean"] = Call((x, t), obj=path, skip=TIME + _hot("x1"))
        for method in ("sample_xt", "target"):
            calls[f"flow_matching.{name}.{method}"] = Call(
                (_x(seed=1), x, t), obj=path, skip=TIME + _hot("x0", "x1")
            )
        calls[f"flow_matching.{name}.conditional_field"] = Call(
            (t, _x(seed=1), x), obj=path, skip=TIME + _hot("x", "x1")
        )
    marginal = flow_matching.MarginalField(flow_matching.OTPath(), x)
    for method in ("forward", "log_prob", "posterior"):
        calls[f"flow_matching.MarginalField.{method}"] = Call(
            (t, _x(seed=1)), obj=marginal, skip=TIME + _hot("t", "x")
        )
    vel = flow_matching.VelocityMLP(2, hidden=4, n_hidden=1).double()
    calls["flow_matching.VelocityMLP.forward"] = Call((t, x), obj=vel, skip=TIME + _hot("t", "x"))
    calls["flow_matching.VelocityMLP.jvp"] = Call(
        (t, x, _x(seed=1)), obj=vel, skip=TIME + _hot("t", "x", "s")
    )
    # --- training
    w = torch.nn.Linear(2, 1).double()
    calls["training.fit"] = Call(
        (w, lambda step: (w(x) ** 2).mean(), torch.optim.SGD(w.parameters(), lr=0.1)),
        {"steps": 1},
    )
    # --- sde
    ou = sde.SDE(lambda t, y: -y, lambda t, y: torch.ones_like(y))
    calls["sde.SDE"] = Call((lambda t, y: -y, lambda t, y: torch.ones_like(y)))
    # any state shape: no shape case
    calls["sde.SDE.f"] = Call((0.5, x), obj=ou, skip=("y:shape",) + _hot("y"))
    calls["sde.SDE.g"] = Call((0.5, x), obj=ou, skip=("y:shape",) + _hot("y"))
    bm = sde.BrownianPath(0.0, 1.0, (8, 2), dtype=torch.float64, generator=_g())
    calls["sde.BrownianPath"] = Call((0.0, 1.0, (8, 2)), {"generator": _g()})
    calls["sde.BrownianPath.__call__"] = Call((0.2, 0.5), obj=bm)
    calls["sde.BrownianPath.value"] = Call((0.3,), obj=bm)
    calls["sde.sdeint"] = Call((ou, x, [0.0, 0.5]), {"dt": 0.1, "generator": _g()})
    # --- digits
    d, classifier = _digits()
    images = d.test_images[:20].double()
    levels = d.test_images[:20].round().long()
    calls |= {
        "digits.load": Call(kwargs={"n_test": 100}),
        # k are integer grey levels (a tensor, not a count)
        "digits.dequantize": Call((levels,), {"generator": _g()}, skip=("k",)),
        "digits.quantize": Call((images / 17,)),
        "digits.logit_transform": Call((images / 17,)),
        # an elementwise map: NaN in, NaN out
        "digits.inverse_logit_transform": Call((torch.logit(images / 20 + 0.05),),
                                               skip=_hot("y")),
        "digits.preprocess": Call((levels,), {"generator": _g()}, skip=("k",)),
        "digits.bits_per_dim": Call((x[:, 0] - 100.0,), {"dim": 2}, skip=_ARRAY_LIKE("log_px")),
        "digits.fit_gaussian": Call((x,)),
        "digits.gaussian_log_prob": Call((x, x.mean(0), _spd(2)), skip=_hot("y")),
        "digits.checkerboard_mask": Call((1,)),
        "digits.half_mask": Call(("left",)),
        "digits.image_masks": Call((2,)),
        "digits.image_realnvp": Call((2,), {"hidden": 4, "depth": 1}),
        "digits.ConditionalVelocityMLP": Call(
            (), {"dim": 4, "n_classes": 3, "hidden": 4, "n_hidden": 1}, skip=("n_freq:zero",)
        ),
        "digits.guided_field": Call((_cond_mlp(), torch.tensor([0, 1, 2, 0]), 2.0)),
        "digits.cfg_loss": Call((_cond_mlp(), _x(4, 4), torch.tensor([0, 1, 2, 0])),
                                {"generator": _g()}),
        "digits.train_conditional": Call(
            (_cond_mlp(), lambda n, g: (torch.randn(n, 4, generator=g, dtype=torch.float64),
                                        torch.randint(0, 3, (n,), generator=g))),
            {"steps": 1, "batch_size": 4, "generator": _g()},
        ),
        "digits.ConditionalVelocityMLP.forward": Call(
            (t[:4], _x(4, 4), torch.tensor([0, 1, 2, 0])), obj=_cond_mlp(),
            skip=TIME + _hot("t", "x"),
        ),
        # the classifier takes integer grey levels (test_digits.py checks them)
        "digits.DigitClassifier": Call((levels, d.test_labels[:20]), {"max_iter": 5}),
        "digits.DigitClassifier.predict": Call((levels,), obj=classifier),
        "digits.DigitClassifier.accuracy": Call((levels, d.test_labels[:20]), obj=classifier),
        "digits.nearest_distances": Call((x, _x(seed=1))),
        # pictures take any array-like and draw NaN pixels blank, as matplotlib does
        "digits.image_grid": Call((images[:4],), {"nrow": 2},
                                  skip=_ARRAY_LIKE("images") + _hot("images")),
        "digits.show_grid": Call((images[:4],), {"nrow": 2},
                                 skip=_ARRAY_LIKE("images") + _hot("images")),
        # the mask is any 1-D sequence of 0s and 1s, as AffineCoupling's
        "splines.SplineCoupling": Call((mask,), {"bins": 4, "hidden": 4, "depth": 1},
                                       skip=("mask",)),
    }  # fmt: skip
    return calls


def _cond_mlp():
    from course_utils import digits

    torch.manual_seed(0)
    return digits.ConditionalVelocityMLP(dim=4, n_classes=3, hidden=4, n_hidden=1).double()


# Public names that take no tensor and no count, with the reason.
NO_CHECKED_ARGUMENT = {
    "checks.check_close": "student-facing check API: reports, never raises",
    "checks.check_true": "student-facing check API: reports, never raises",
    "checks.check_equal": "student-facing check API: reports, never raises",
    "checks.evaluate_answer": "student-facing check API: takes any answer",
    "checks.to_numpy": "converts any array-like",
    "data.Toy2D": "abstract base class",
    "data.Checkerboard": "no arguments",
    "plotting.use_course_style": "no arguments",
    "ode.OdeStats": "a record filled by odeint",
    "ode.last_stats": "no arguments",
    "flows.Bijection": "abstract base class",
    "flows.Compose": "takes Bijection layers",
    "flows.Flow": "takes a Bijection",
    "flows.TrainResult": "the record the trainers fill (training.TrainResult)",
    "training.TrainResult": "the record the trainers fill",
    "flow_matching.GaussianPath": "abstract base class",
    "flow_matching.get_path": "takes a name; the paths' numbers are checked by the paths",
    "digits.Digits": "a record filled by digits.load",
    **{
        f"data.{name}.{method}": "no closed-form density: raises NotImplementedError"
        for name in ("TwoMoons", "Rings")
        for method in ("log_prob", "entropy")
    },
    # a path's schedules are the formulas a subclass writes (elementwise, any shape of
    # t); the methods that take points (sample_xt, target, ...) check t and call them
    **{
        f"flow_matching.{path}.{method}": "a schedule formula; its callers check t"
        for path in ("OTPath", "VPPath", "VEPath")
        for method in ("alpha", "sigma", "d_alpha", "d_sigma")
    },
    # path arguments: in IO_CALLS below
    "digits.save_checkpoint": "takes a path: IO_CALLS",
    "digits.load_checkpoint": "takes a path: IO_CALLS",
}


def _public_methods(cls):
    """The public methods of ``cls`` written in course_utils (``__call__`` counts as
    public; ``forward`` is how an ``nn.Module`` is called)."""
    names = []
    for name in dir(cls):
        if name.startswith("_") and name != "__call__":
            continue
        impl = inspect.getattr_static(cls, name)
        impl = impl.__func__ if isinstance(impl, (staticmethod, classmethod)) else impl
        if inspect.isfunction(impl) and impl.__module__.startswith("course_utils"):
            names.append(name)
    return names


def _public():
    """Every public function and class of MODULES, and every public method of a public
    class (``module.Class.method``), so that a new method cannot slip past the table."""
    names = []
    for mod in MODULES:
        module = importlib.import_module(f"course_utils.{mod}")
        for name in module.__all__:
            obj = getattr(module, name)
            if callable(obj) and not isinstance(obj, (str, tuple, dict)):
                names.append(f"{mod}.{name}")
            if inspect.isclass(obj) and f"{mod}.{name}" not in ABSTRACT:
                names += [f"{mod}.{name}.{m}" for m in _public_methods(obj)]
    return names


def test_every_public_function_is_in_the_table():
    calls = _calls()
    public = _public()
    missing = [n for n in public if n not in calls and n not in NO_CHECKED_ARGUMENT]
    assert not missing, f"add these public functions to CALLS or NO_CHECKED_ARGUMENT: {missing}"
    stale = [n for n in [*calls, *NO_CHECKED_ARGUMENT] if n.split("[")[0] not in public]
    assert not stale, f"no longer public: {stale}"


def test_every_module_of_the_package_is_checked():
    # MODULES comes from the package's list: a module missing from that list would be
    # missing here too, so the files decide
    package = ROOT / "course_utils"
    files = {p.stem for p in package.glob("*.py") if not p.name.startswith("_")}
    files |= {p.name for p in package.iterdir() if (p / "__init__.py").is_file()}
    assert files == {*MODULES, *IO_MODULES}, sorted(files ^ {*MODULES, *IO_MODULES})


def test_the_completeness_check_sees_methods():
    # the check above is only as good as this enumeration
    public = _public()
    for name in (
        "flows.Flow.log_prob",
        "flows.Flow.sample",
        "flow_matching.OTPath.sample_xt",
        "flow_matching.MarginalField.forward",
        "sde.BrownianPath.__call__",
        "cnf.CNF.forward",
        "flow_matching.VelocityMLP.forward",
        "splines.SplineCoupling.inverse",
        "splines.rational_quadratic_spline",
    ):
        assert name in public, name  # fmt: skip
    assert not any(n.startswith("flows.Bijection.") for n in public)  # abstract


def _resolve(qualname, call=None):
    mod, *names = qualname.split("[")[0].split(".")
    obj = getattr(importlib.import_module(f"course_utils.{mod}"), names[0])
    if len(names) == 2:  # a method: of the call's instance
        obj = getattr(call.obj, names[1])
    return obj


def _named_arguments(fn, call):
    try:
        params = list(inspect.signature(fn).parameters)
    except (TypeError, ValueError):
        params = []
    bound = dict(zip(params, call.args, strict=False))
    return {**bound, **call.kwargs}


def _count_arguments(fn):
    """The count parameters of ``fn`` (given in the call or left at their default)."""
    return [name for name in inspect.signature(fn).parameters if name in COUNT_NAMES]


def _bad_cases():
    cases = []
    for qualname, call in _calls().items():
        fn = _resolve(qualname, call)
        named = _named_arguments(fn, call)
        mine = []
        for arg, value in named.items():
            if isinstance(value, torch.Tensor) and value.is_floating_point():
                kinds = ["type", "dtype", "nan"] + (["shape"] if value.ndim >= 1 else [])
                mine += [(qualname, arg, k) for k in kinds]
            elif isinstance(value, tuple) and value and isinstance(value[-1], torch.Tensor):
                # a tuple state: spoil its last tensor; the message names y0[i]
                mine += [(qualname, arg, f"last-{k}") for k in ("type", "dtype", "nan")]
        for arg in _count_arguments(fn):
            mine += [(qualname, arg, "zero"), (qualname, arg, "float")]
        cases += [c for c in mine if f"{c[1]}:{c[2]}" not in call.skip and c[1] not in call.skip]
    return cases


def _bad_value(value, kind):
    if kind.startswith("last-"):
        return (*value[:-1], _bad_value(value[-1], kind[5:]))
    if kind == "type":
        return value.tolist()
    if kind == "dtype":
        return value.round().long()
    if kind == "nan":
        bad = value.detach().clone().contiguous()
        bad.view(-1)[0] = math.nan
        return bad
    if kind == "shape":
        return value[0] if value.ndim >= 2 else value.reshape(1, -1)
    if kind == "zero":
        return 0
    if kind == "float":
        return 2.5
    raise AssertionError(kind)


EXPECTED = {
    "type": (TypeError, r"must be a torch\.Tensor"),
    "dtype": (TypeError, r"must have a floating dtype, got torch\.int64"),
    "nan": (ValueError, r"contains NaN or infinite values"),
    "shape": (ValueError, r"must have (the )?shape .*got \("),
    "zero": (ValueError, r"must be (a positive int|an int >= \d+), got 0"),
    "float": (TypeError, r"must be (a positive int|a non-negative int|an int >= \d+), got 2\.5"),
}


@pytest.mark.parametrize(("qualname", "arg", "kind"), _bad_cases())
def test_bad_input_gets_the_same_error_everywhere(qualname, arg, kind):
    call = _calls()[qualname]
    fn = _resolve(qualname, call)
    params = list(inspect.signature(fn).parameters)
    args, kwargs = list(call.args), dict(call.kwargs)
    if arg in kwargs or params.index(arg) >= len(args):
        current = kwargs.get(arg)
        kwargs[arg] = _bad_value(current, kind) if current is not None else _bad_value(1, kind)
    else:
        i = params.index(arg)
        args[i] = _bad_value(args[i], kind)
    exc, pattern = EXPECTED[kind.removeprefix("last-")]
    # the argument's name (or an element of it, y0[0]) starts the message
    with pytest.raises(exc, match=rf"^{re.escape(arg)}(\[\d+\])? {pattern}"):
        fn(*args, **kwargs)


@pytest.mark.parametrize("qualname", list(_calls()))
def test_the_valid_call_succeeds(qualname):
    # otherwise a bad call could "pass" by failing for another reason
    call = _calls()[qualname]
    _resolve(qualname, call)(*call.args, **call.kwargs)


def test_the_shared_checks_give_the_documented_messages():
    with pytest.raises(ValueError, match=r"^x must have shape \(batch, 2\), got \(3,\)$"):
        _validate.check_batch(torch.zeros(3), "x", 2)
    with pytest.raises(TypeError, match=r"^n must be a positive int, got 2\.5$"):
        _validate.check_positive_int(2.5, "n")
    with pytest.raises(ValueError, match=r"^n must be a positive int, got 0$"):
        _validate.check_positive_int(0, "n")
    with pytest.raises(TypeError, match=r"^n must be a positive int, got True$"):
        _validate.check_positive_int(True, "n")
    with pytest.raises(ValueError, match=r"^lr must be a finite number > 0, got -1\.0$"):
        _validate.check_number(-1.0, "lr", positive=True)
    with pytest.raises(ValueError, match=r"^y0\[1\] contains NaN or infinite values$"):
        _validate.check_state((torch.zeros(2), torch.tensor([math.nan])))
    with pytest.raises(ValueError, match="share one dtype"):
        _validate.check_state((torch.zeros(2), torch.zeros(2, dtype=torch.float64)))


def test_one_standard_normal_log_prob():
    from course_utils import change_of_variables, cnf, flows

    assert change_of_variables.standard_normal_log_prob is _validate.standard_normal_log_prob
    assert flows.standard_normal_log_prob is _validate.standard_normal_log_prob
    assert cnf.standard_normal_log_prob is _validate.standard_normal_log_prob
    z = _x(5, 3)
    want = torch.distributions.Normal(0.0, 1.0).log_prob(z).sum(1)
    torch.testing.assert_close(_validate.standard_normal_log_prob(z), want)


@pytest.mark.parametrize("qualname", ["cnf.train_ml", "flow_matching.train"])
def test_training_data_of_the_wrong_type(qualname):
    # data is a tensor or a sampler; anything else gets one message in both trainers
    call = _calls()[qualname]
    args = (call.args[0], call.args[1].tolist(), *call.args[2:])
    pattern = r"^data must be a torch\.Tensor of shape \(n, dim\) or a callable sample"
    with pytest.raises(TypeError, match=pattern):
        _resolve(qualname, call)(*args, **call.kwargs)


# ------------------------------------------------------------- the modules that take paths
# authoring, edition, site, outputs, grading (and digits' checkpoints) take paths, topic
# names, notebooks and command lines. Each class of mistake has one exception and one
# message shape there too:
#
#     TypeError          root must be a path (str or os.PathLike), got int
#     FileNotFoundError  root must be an existing folder, got '/.../no-such-folder'
#     ValueError         topics must name topics of the course, got unknown 99_x; known: ...
#     TypeError          topics must be a list of topic names (str), got '01_mle'
#     TypeError          nb must be a notebook (nbformat.NotebookNode), got int
#     TypeError          argv must be a list of str or None, got 'build'

ROOT = Path(__file__).resolve().parents[1]
NOWHERE = ROOT / "no-such-folder" / "nothing-here"
IO_MODULES = ["authoring", "edition", "site", "outputs", "grading"]

IO_KINDS = {
    "type": (3, TypeError, r"must be a path \(str or os\.PathLike\), got int"),
    "missing": (
        NOWHERE,
        FileNotFoundError,
        r"must be an existing (folder|file|path|checkpoint file), got '",
    ),
    "topics": (["99_no_such"], ValueError, r"must name topics of the course, got unknown 99_no"),
    "names": ("01_mle", TypeError, r"must be a list of topic names \(str\), got '01_mle'"),
    "topic": ("99_no_such", ValueError, r"must name a topic of the course, got '99_no_such'"),
    "notebook": (3, TypeError, r"must be a notebook \(nbformat\.NotebookNode\), got int"),
    "pair": (3, TypeError, r"must be an authoring\.Pair \(see find_pairs\), got int"),
    "argv": ("build", TypeError, r"must be a list of str or None, got 'build'"),
    "zero": (0, ValueError, r"must be a positive int, got 0"),
}


def _nb():
    from course_utils import authoring

    return authoring.read_text(ROOT / "notebooks" / "01_mle.py")


def _pair():
    from course_utils import authoring

    return authoring.find_pairs(ROOT)[0]


def _io_calls(tmp):
    """``qualname -> (arguments of a valid call, {argument: kinds of bad value})``."""
    text = ROOT / "notebooks" / "01_mle.py"
    lin = torch.nn.Linear(2, 2)
    return {
        "authoring.find_pairs": ({"root": ROOT}, {"root": ("type", "missing")}),
        "authoring.read_text": ({"path": text}, {"path": ("type", "missing")}),
        "authoring.text_of": ({"nb": _nb, "path": text}, {"nb": ("notebook",), "path": ("type",)}),
        "authoring.inputs_of": ({"nb": _nb}, {"nb": ("notebook",)}),
        "authoring.pair_problems": ({"pair": _pair}, {"pair": ("pair",)}),
        "authoring.sync": ({"pair": _pair}, {"pair": ("pair",)}),
        "authoring.execute": (
            {"nb": _nb, "cwd": ROOT, "timeout": 60},
            {"nb": ("notebook",), "cwd": ("type", "missing"), "timeout": ("zero",)},
        ),
        "authoring.build": (
            {"root": ROOT, "topics": ["01_mle"], "run": False},
            {"root": ("type", "missing"), "topics": ("topics", "names")},
        ),
        "authoring.main": ({"argv": ["--check"]}, {"argv": ("argv",)}),
        "edition.build_edition": (
            {"root": ROOT, "out": tmp / "edition"},
            {"root": ("type", "missing"), "out": ("type",)},
        ),
        "edition.edition_problems": ({"out": tmp}, {"out": ("type", "missing")}),
        "edition.main": ({"argv": [str(tmp / "e")]}, {"argv": ("argv",)}),
        "site.build_site": (
            {"root": ROOT, "out": tmp / "site"}, {"root": ("type", "missing"), "out": ("type",)}
        ),
        "site.slide_types": ({"nb": _nb}, {"nb": ("notebook",)}),
        "site.apply_slides": ({"root": ROOT}, {"root": ("type", "missing")}),
        "site.main": ({"argv": ["slides"]}, {"argv": ("argv",)}),
        "outputs.repo_root_of": ({"path": tmp}, {"path": ("type",)}),
        "outputs.warn_if_inside_repo": ({"path": tmp, "what": "x"}, {"path": ("type",)}),
        "grading.find_root": ({"start": ROOT}, {"start": ("type", "missing")}),
        "grading.topics": ({"root": ROOT}, {"root": ("type", "missing")}),
        "grading.release_notebook": ({"nb": _nb}, {"nb": ("notebook",)}),
        "grading.release_topics": (
            {"root": ROOT, "names": ["01_mle"], "check": True},
            {"root": ("type", "missing"), "names": ("topics", "names")},
        ),
        "grading.grade_submissions": (
            {"topic": "01_mle", "submissions": [], "out": tmp / "g", "root": ROOT},
            {"topic": ("topic",), "root": ("type", "missing"), "out": ("type",)},
        ),
        "grading.build_gradescope_bundle": (
            {"topic": "01_mle", "out": tmp / "b.zip", "root": ROOT},
            {"topic": ("topic",), "root": ("type", "missing"), "out": ("type",)},
        ),
        "grading.main": ({"argv": ["release", "--check"]}, {"argv": ("argv",)}),
        "digits.save_checkpoint": (
            {"path": tmp / "c.pt", "model": lin, "config": {}, "provenance": {}},
            {"path": ("type",)},
        ),
        "digits.load_checkpoint": ({"name_or_path": tmp / "c.pt"}, {"name_or_path": ("type", "missing")}),
    }  # fmt: skip


IO_NO_CHECKED_ARGUMENT = {
    "authoring.AuthoringError": "exception class",
    "authoring.Pair": "a record made by find_pairs",
    "edition.EditionError": "exception class",
    "grading.ReleaseError": "exception class",
    "grading.GradingError": "exception class",
}


def _io_cases():
    cases = []
    for qualname, (_, bad) in _io_calls(Path("/tmp")).items():
        for arg, kinds in bad.items():
            for kind in kinds:
                cases.append(pytest.param(qualname, arg, kind))
    return cases


def test_every_function_that_takes_a_path_is_in_the_table():
    public = []
    for mod in IO_MODULES:
        module = importlib.import_module(f"course_utils.{mod}")
        public += [f"{mod}.{n}" for n in module.__all__ if callable(getattr(module, n))]
    table = _io_calls(Path("/tmp"))
    missing = [n for n in public if n not in table and n not in IO_NO_CHECKED_ARGUMENT]
    assert not missing, f"add these public functions to _io_calls or IO_NO_CHECKED: {missing}"


@pytest.mark.parametrize(("qualname", "arg", "kind"), _io_cases())
def test_bad_paths_topics_and_notebooks_get_the_same_error_everywhere(
    qualname, arg, kind, tmp_path
):
    good, _ = _io_calls(tmp_path)[qualname]
    kwargs = {k: v() if callable(v) and not isinstance(v, torch.nn.Module) else v
              for k, v in good.items()}  # fmt: skip
    value, exc, pattern = IO_KINDS[kind]
    kwargs[arg] = value
    mod, name = qualname.split(".")
    fn = getattr(importlib.import_module(f"course_utils.{mod}"), name)
    with pytest.raises(exc, match=rf"^{re.escape(arg)} {pattern}"):
        fn(**kwargs)


def test_the_path_checks_give_the_documented_messages(tmp_path):
    with pytest.raises(TypeError, match=r"^root must be a path \(str or os\.PathLike\), got int$"):
        _validate.check_path(3, "root")
    with pytest.raises(FileNotFoundError, match=r"^root must be an existing folder, got '"):
        _validate.check_path(tmp_path / "nope", "root", kind="dir")
    (tmp_path / "f").write_text("")
    with pytest.raises(FileNotFoundError, match=r"^root must be an existing folder"):
        _validate.check_path(tmp_path / "f", "root", kind="dir")  # a file is no folder
    assert _validate.check_path(str(tmp_path / "f"), "p", kind="file") == tmp_path / "f"
    assert _validate.check_path(tmp_path / "later", "out") == tmp_path / "later"  # need not exist
    with pytest.raises(ValueError, match=r"^topics must name topics of the course, got unknown "
                       r"9_x; known: 01_a, 02_b$"):  # fmt: skip
        _validate.check_names(["01_a", "9_x"], ["02_b", "01_a"], "topics")
    assert _validate.check_names(("01_a",), ["01_a"], "topics") == ["01_a"]
    with pytest.raises(ValueError, match=r"^topic must name a topic of the course, got '9_x'; "
                       r"known: 01_a$"):  # fmt: skip
        _validate.check_name("9_x", ["01_a"], "topic")
    with pytest.raises(TypeError, match=r"^topic must be a topic name \(str\), got list$"):
        _validate.check_name(["01_a"], ["01_a"], "topic")
    with pytest.raises(TypeError, match=r"^argv must be a list of str or None, got \[1\]$"):
        _validate.check_argv([1])


@pytest.mark.parametrize(
    ("kwargs", "exc", "pattern"),
    [
        ({"seed": 2.5}, TypeError, r"^seed must be a non-negative int, got 2\.5$"),
        ({"seed": -1}, ValueError, r"^seed must be a non-negative int, got -1$"),
        ({"threads": 2.5}, TypeError, r"^threads must be a positive int, got 2\.5$"),
        ({"threads": 0}, ValueError, r"^threads must be a positive int, got 0$"),
    ],
)
def test_the_package_setup_checks_its_counts(kwargs, exc, pattern):
    # course_utils.setup and get_device are the package's own public functions
    import course_utils as cu

    with pytest.raises(exc, match=pattern):
        cu.setup(**{"seed": 0, "verbose": False, **kwargs})
