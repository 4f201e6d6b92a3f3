"""Training a velocity field with the CFM loss (AdamW, schedule, EMA).

The arguments and the result follow the course's training convention
(:mod:`course_utils.training`).
"""

from __future__ import annotations

from collections.abc import Callable

import torch

from .. import training as _t
from .._validate import check_data
from ..training import TrainResult
from .couplings import COUPLINGS
from .losses import cfm_loss
from .paths import GaussianPath, OTPath

__all__ = ["train"]

# validation noise and times: the same draw at every measurement, so the curve is smooth
_VAL_SEED = 0


def _validation_loss(model, path, val, coupling) -> float:
    g = torch.Generator().manual_seed(_VAL_SEED)
    with torch.no_grad():
        return float(cfm_loss(model, path, val, coupling=coupling, generator=g))


def train(
    field: torch.nn.Module,
    data,
    val_data: torch.Tensor | None = None,
    *,
    path: GaussianPath | None = None,
    steps: int = 2000,
    batch_size: int = 256,
    lr: float = 3e-3,
    schedule: str = "cosine",
    warmup: int = 0,
    ema: float | None = 0.999,
    generator: torch.Generator | None = None,
    device: torch.device | str | None = None,
    callback: Callable[[int, float, torch.nn.Module], None] | None = None,
    print_every: int | None = None,
    coupling: str = "independent",
    weight_decay: float = 0.0,
    time_budget: float | None = None,
) -> TrainResult:
    """Train a velocity field with the CFM loss and AdamW (the course's training convention).

    Args:
        field: the model ``v(t, x)`` (an ``nn.Module``; trained in place).
        data: ``(n, dim)`` training points (mini-batches drawn with replacement) or a
            callable ``data(batch_size, generator) -> (batch_size, dim)``.
        val_data: ``(n_val, dim)`` held-out points: the CFM loss of the (EMA) model on
            them, with one fixed draw of noise and times, forms the validation curve.
            For the older form ``train(field, data, path)`` a path given here is taken
            as ``path``.
        path: conditional path; default ``OTPath()``.
        steps, batch_size, lr, schedule, warmup, ema, generator, device, callback,
            print_every: as in :mod:`course_utils.training` (``schedule`` ``"cosine"``
            and ``ema`` 0.999 by default).
        coupling: ``"independent"`` or ``"ot"`` (see :func:`couple`).
        weight_decay: AdamW weight decay.
        time_budget: stop after this many seconds of training (wall clock), if given.

    Returns:
        A :class:`~course_utils.training.TrainResult`; ``model`` is the EMA copy (or
        ``field`` itself without EMA).
    """
    if isinstance(val_data, GaussianPath):  # older positional form train(field, data, path)
        path, val_data = val_data, None
    _check_train_args(field, coupling)
    _t.check_common(steps, batch_size, lr, schedule, warmup, ema, generator, callback, print_every)
    if device is not None:
        field.to(device)
    path = OTPath() if path is None else path
    params = [p for p in field.parameters() if p.requires_grad]
    dtype, where = params[0].dtype, params[0].device
    draw = _t.sampler(data)
    val = (
        None
        if val_data is None
        else check_data(val_data, "val_data", getattr(field, "dim", None)).to(where, dtype)
    )
    opt = torch.optim.AdamW(params, lr=lr, weight_decay=weight_decay)
    sched = torch.optim.lr_scheduler.LambdaLR(opt, _t.lr_factor(schedule, warmup, steps))

    def batch_loss(step: int) -> torch.Tensor:
        x1 = draw(batch_size, generator).to(where, dtype)
        return cfm_loss(field, path, x1, coupling=coupling, generator=generator)

    return _t.fit(
        field, batch_loss, opt, steps=steps, scheduler=sched, ema=ema, callback=callback,
        print_every=print_every,
        val_loss=None if val is None else (lambda m: _validation_loss(m, path, val, coupling)),
        time_budget=time_budget,
    )  # fmt: skip


def _check_train_args(field, coupling) -> None:
    if not isinstance(field, torch.nn.Module):
        raise TypeError(f"field must be a torch.nn.Module, got {type(field).__name__}")
    if coupling not in COUPLINGS:
        raise ValueError(f"unknown coupling {coupling!r}; choose one of {list(COUPLINGS)}")
