"""Training a velocity field with the CFM loss (AdamW, cosine schedule, EMA)."""

from __future__ import annotations

import copy
import math
import time
from collections.abc import Callable

import torch

from .._validate import check_choice, check_data, check_int
from .couplings import COUPLINGS
from .losses import cfm_loss
from .paths import GaussianPath, OTPath

__all__ = ["train"]


def _check_train_args(field, steps, batch_size, warmup, schedule, coupling, ema) -> None:
    if not isinstance(field, torch.nn.Module):
        raise TypeError(f"field must be a torch.nn.Module, got {type(field).__name__}")
    check_int(steps, "steps", 1)
    check_int(batch_size, "batch_size", 1)
    check_int(warmup, "warmup", 0)
    check_choice(schedule, ("constant", "cosine"), "schedule")
    if coupling not in COUPLINGS:
        raise ValueError(f"unknown coupling {coupling!r}; choose one of {list(COUPLINGS)}")
    if ema is not None and not 0.0 <= float(ema) < 1.0:
        raise ValueError(f"ema must be a decay in [0, 1) or None, got {ema!r}")


def _sampler(data) -> Callable:
    """``draw(n, generator) -> (n, dim)`` from a data tensor (with replacement) or a sampler."""
    if isinstance(data, torch.Tensor):
        data = check_data(data, "data")

        def draw(n, g):
            return data[torch.randint(0, data.shape[0], (n,), generator=g)]

        return draw
    if callable(data):
        return data
    raise TypeError(
        "data must be a torch.Tensor of shape (n, dim) or a callable sample(n, generator), "
        f"got {type(data).__name__}"
    )


def _lr_factor(schedule: str, warmup: int, steps: int) -> Callable[[int], float]:
    """The learning-rate multiplier per step: linear warm-up, then constant or cosine."""

    def lr_at(step):
        if step < warmup:
            return (step + 1) / warmup
        if schedule == "constant":
            return 1.0
        return 0.5 * (1 + math.cos(math.pi * (step - warmup) / max(1, steps - warmup)))

    return lr_at


def _ema_update(averaged: torch.nn.Module, field: torch.nn.Module, ema: float, step: int):
    with torch.no_grad():
        # short warm-up of the average so early steps do not dominate it
        d = min(ema, (1 + step) / (10 + step))
        for pa, pf in zip(averaged.parameters(), field.parameters(), strict=True):
            pa.lerp_(pf, 1.0 - d)


def train(
    field: torch.nn.Module,
    data,
    path: GaussianPath | None = None,
    *,
    steps: int = 2000,
    batch_size: int = 256,
    lr: float = 3e-3,
    schedule: str = "cosine",
    warmup: int = 0,
    coupling: str = "independent",
    ema: float | None = 0.999,
    weight_decay: float = 0.0,
    generator: torch.Generator | None = None,
    time_budget: float | None = None,
    callback: Callable[[int, float, torch.nn.Module], None] | None = None,
) -> dict:
    """Train a velocity field with the CFM loss and Adam(W).

    Args:
        field: the model ``v(t, x)`` (an ``nn.Module``; trained in place).
        data: ``(n, dim)`` training points (mini-batches drawn with replacement) or a
            callable ``data(batch_size, generator) -> (batch_size, dim)``.
        path: conditional path; default ``OTPath()``.
        steps: optimisation steps.
        batch_size: points per step.
        lr: peak learning rate.
        schedule: ``"constant"`` or ``"cosine"`` (decay to 0 over ``steps``, after a
            linear warm-up of ``warmup`` steps).
        warmup: warm-up steps.
        coupling: ``"independent"`` or ``"ot"`` (see :func:`couple`).
        ema: decay of an exponential moving average of the weights (``None``: no EMA).
        weight_decay: AdamW weight decay.
        generator: random generator (mini-batches, noise, times).
        time_budget: stop after this many seconds of training (wall clock), if given.
        callback: called as ``callback(step, loss, model)`` after every step.

    Returns:
        ``{"model": the EMA copy (or ``field`` itself without EMA), "loss": [per-step
        losses], "seconds": training time, "steps": steps done}``.
    """
    _check_train_args(field, steps, batch_size, warmup, schedule, coupling, ema)
    path = OTPath() if path is None else path
    params = [p for p in field.parameters() if p.requires_grad]
    dtype = params[0].dtype
    draw = _sampler(data)
    opt = torch.optim.AdamW(params, lr=lr, weight_decay=weight_decay)
    sched = torch.optim.lr_scheduler.LambdaLR(opt, _lr_factor(schedule, warmup, steps))
    averaged = copy.deepcopy(field).requires_grad_(False) if ema is not None else field
    losses: list[float] = []
    start = time.perf_counter()
    done = 0
    for step in range(steps):
        x1 = draw(batch_size, generator).to(dtype)
        loss = cfm_loss(field, path, x1, coupling=coupling, generator=generator)
        opt.zero_grad(set_to_none=True)
        loss.backward()
        opt.step()
        sched.step()
        if ema is not None:
            _ema_update(averaged, field, float(ema), step)
        losses.append(float(loss.detach()))
        done = step + 1
        if callback is not None:
            callback(step, losses[-1], averaged)
        if time_budget is not None and time.perf_counter() - start > time_budget:
            break
    return {
        "model": averaged,
        "loss": losses,
        "seconds": time.perf_counter() - start,
        "steps": done,
    }
