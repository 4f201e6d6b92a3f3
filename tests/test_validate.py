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

import importlib
import inspect
import math
import re
from dataclasses import dataclass, field

import pytest
import torch

from course_utils import _validate

MODULES = [
    "checks",
    "data",
    "grid",
    "plotting",
    "mle",
    "ode",
    "change_of_variables",
    "linalg",
    "flows",
    "cnf",
    "flow_matching",
    "metrics",
    "volume",
    "training",
]

# Argument names that hold a count (samples, steps, cells, layers, ...).
COUNT_NAMES = {
    "n", "m", "d", "dim", "k", "steps", "n_steps", "batch_size", "hidden", "depth",
    "n_layers", "n_hidden", "n_probes", "n_freq", "bins", "refine", "n_directions",
    "n_times", "max_iter", "repeat", "number", "n_max", "warmup",
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
    return {
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
}


def _public():
    names = []
    for mod in MODULES:
        module = importlib.import_module(f"course_utils.{mod}")
        for name in module.__all__:
            obj = getattr(module, name)
            if callable(obj) and not isinstance(obj, (str, tuple, dict)):
                names.append(f"{mod}.{name}")
    return names


def test_every_public_function_is_in_the_table():
    calls = _calls()
    missing = [n for n in _public() if n not in calls and n not in NO_CHECKED_ARGUMENT]
    assert not missing, f"add these public functions to CALLS or NO_CHECKED_ARGUMENT: {missing}"
    stale = [n for n in [*calls, *NO_CHECKED_ARGUMENT] if n.split("[")[0] not in _public()]
    assert not stale, f"no longer public: {stale}"


def _resolve(qualname):
    mod, name = qualname.split("[")[0].split(".")
    return getattr(importlib.import_module(f"course_utils.{mod}"), name)


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
        fn = _resolve(qualname)
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
    fn = _resolve(qualname)
    call = _calls()[qualname]
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
    _resolve(qualname)(*call.args, **call.kwargs)


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
        _resolve(qualname)(*args, **call.kwargs)
