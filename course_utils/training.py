"""The one training convention of the course: flows, CNFs and flow matching.

:func:`course_utils.flows.train_flow`, :func:`course_utils.cnf.train_ml` and
:func:`course_utils.flow_matching.train` take the same arguments for the same things and
return the same :class:`TrainResult`::

    result = train_xxx(model, data, val_data=None, *, steps=..., batch_size=256, lr=...,
                       schedule=..., warmup=0, ema=None, generator=None, device=None,
                       callback=None, print_every=None, ...)

==============  ===========================================================================
argument        meaning (the same in all three)
==============  ===========================================================================
``model``       what is trained, in place (a ``Flow``, a ``CNF``, a velocity field)
``data``        training points ``(n, dim)``, mini-batches drawn with replacement, or a
                sampler ``data(batch_size, generator) -> (batch_size, dim)``
``val_data``    held-out points ``(n_val, dim)`` for the validation curve (optional)
``steps``       optimisation steps (one mini-batch each)
``batch_size``  points per step
``lr``          peak learning rate of Adam(W)
``schedule``    ``"constant"`` or ``"cosine"`` (decay to 0 over ``steps`` after the warm-up)
``warmup``      linear warm-up steps
``ema``         decay of an exponential moving average of the weights; ``None``: none.
                With EMA, ``result.model`` is the averaged copy
``generator``   ``torch.Generator`` for mini-batches (and noise, times, probes)
``device``      where to train (default: where the model is)
``callback``    ``callback(step, loss, model)`` after every step, ``step`` = 1..steps
``print_every`` print one progress line every this many steps (``None``/0: silent); the
                validation loss is measured at the same steps (every ``steps // 10``
                when silent)
==============  ===========================================================================

Each trainer adds the arguments only it has (``grad_clip`` for flows; ``optimizer`` for
CNFs; ``path``, ``coupling``, ``weight_decay``, ``time_budget`` for flow matching) and keeps
its own defaults (a CNF trains with a constant rate, flow matching with EMA).

The three share one loop, :func:`fit` (public, so a benchmark or a lecture's own loss
can use it too): draw a batch and compute its loss, ``zero_grad``, ``backward``, an
optional gradient clip, the optimiser's and the scheduler's step, the EMA update, then the
bookkeeping (losses, callback, validation curve, progress line, time budget).

Older call forms still work, documented in each trainer: ``train_flow(..., cosine=False)``,
``flow_matching.train(field, data, path)`` with the path third, and dictionary access
``result["model"]``, ``result["loss"]``, ``result["steps"]``, ``result["seconds"]``.
"""

from __future__ import annotations

import copy
import math
import sys
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import torch

from ._validate import (
    check_callable,
    check_choice,
    check_data,
    check_generator,
    check_int,
    check_number,
)

__all__ = ["TrainResult", "fit"]

SCHEDULES = ("constant", "cosine")


@dataclass
class TrainResult:
    """What every trainer of the course returns.

    Attributes:
        losses: the training loss of every step (nats for likelihood training, the CFM
            loss for flow matching).
        val_steps: the steps at which the validation loss was measured.
        val_losses: the validation loss at those steps (empty without ``val_data``).
        seconds: wall-clock training time.
        steps: steps done (fewer than asked if a time budget stopped the training).
        model: the trained model; the EMA average when ``ema`` was given.
        extras: per-step records particular to one trainer (``train_ml``:
            ``"nfe_forward"``, ``"nfe_backward"``).
    """

    losses: list[float] = field(default_factory=list)
    val_steps: list[int] = field(default_factory=list)
    val_losses: list[float] = field(default_factory=list)
    seconds: float = 0.0
    steps: int = 0
    model: Any = None
    extras: dict[str, list] = field(default_factory=dict)

    @property
    def final_val_loss(self) -> float:
        """The last validation loss (NaN without validation data)."""
        return self.val_losses[-1] if self.val_losses else math.nan

    # ---- older names, kept so existing notebooks run unchanged
    @property
    def final_val_nll(self) -> float:
        """``final_val_loss`` under the name ``train_flow`` used to return."""
        return self.final_val_loss

    @property
    def val_nll(self) -> list[float]:
        """``val_losses`` under the name ``train_flow`` used to return."""
        return self.val_losses

    @property
    def train_nll(self) -> list[float]:
        """Mean training loss over each interval ending at a step of ``val_steps``."""
        out, start = [], 0
        for stop in self.val_steps:
            chunk = self.losses[start:stop]
            out.append(sum(chunk) / len(chunk) if chunk else math.nan)
            start = stop
        return out

    def __getitem__(self, key: str):
        """Dictionary access as ``cnf.train_ml`` and ``flow_matching.train`` used to offer:
        ``"model"``, ``"loss"``, ``"steps"``, ``"seconds"`` and the ``extras``."""
        legacy = {"model": self.model, "loss": self.losses, "steps": self.steps}
        legacy["seconds"] = self.seconds
        if key in legacy:
            return legacy[key]
        if key in self.extras:
            return self.extras[key]
        raise KeyError(key)


# ------------------------------------------------------------------------------ the loop


def fit(
    model: torch.nn.Module,
    batch_loss: Callable[[int], torch.Tensor],
    optimizer: torch.optim.Optimizer,
    *,
    steps: int,
    scheduler: Any = None,
    ema: float | None = None,
    grad_clip: float | None = None,
    callback: Callable[[int, float, torch.nn.Module], None] | None = None,
    print_every: int | None = None,
    val_loss: Callable[[torch.nn.Module], float] | None = None,
    progress: Callable[[TrainResult, int, int], None] | None = None,
    after_backward: Callable[[], None] | None = None,
    time_budget: float | None = None,
) -> TrainResult:
    """The training loop every trainer of the course runs: ``steps`` gradient steps.

    Each step: ``loss = batch_loss(step)`` (``step`` = 1..steps; the function draws its
    own mini-batch), ``optimizer.zero_grad``, ``loss.backward()``, ``after_backward()``,
    the gradient-norm clip, ``optimizer.step()``, ``scheduler.step()``, the EMA update;
    then ``callback(step, loss, model)``, a point of the validation curve and a progress
    line as described in this module's table.

    Args:
        model: the module whose parameters ``optimizer`` updates (trained in place).
        batch_loss: ``batch_loss(step) -> loss``, a scalar tensor with a graph to ``model``.
        optimizer: a torch optimiser over ``model``'s trainable parameters.
        steps: number of steps.
        scheduler: a learning-rate scheduler stepped after every optimiser step, or None.
        ema: decay of the weights' moving average (``result.model`` is the averaged
            copy), or None.
        grad_clip: clip the norm of the gradient of ``model``'s trainable parameters to
            this value, or None.
        callback: called as ``callback(step, loss, model)`` after every step with the
            model of ``result.model``.
        print_every: progress line every this many steps (None or 0: silent).
        val_loss: ``val_loss(model) -> float`` on held-out data, for the validation curve.
        progress: ``progress(result, steps, print_every)`` prints the progress line
            (default :func:`print_progress`: the mean training loss over the last
            ``print_every`` steps and the held-out loss).
        after_backward: called after every ``backward`` (e.g. to count evaluations).
        time_budget: stop after this many seconds (wall clock), or None.

    Returns:
        A :class:`TrainResult` with ``losses``, the validation curve, ``seconds``,
        ``steps`` and ``model``.

    >>> import torch
    >>> w = torch.nn.Linear(1, 1, bias=False)
    >>> opt = torch.optim.SGD(w.parameters(), lr=0.1)
    >>> r = fit(w, lambda step: ((w.weight - 3.0) ** 2).sum(), opt, steps=50)
    >>> round(float(w.weight), 3), r.steps
    (3.0, 50)
    """
    _check_fit_args(model, batch_loss, optimizer, grad_clip, time_budget)
    check_common(steps, 1, None, "constant", 0, ema, None, callback, print_every)
    params = [p for p in model.parameters() if p.requires_grad]
    averaged = ema_copy(model, ema)
    result = TrainResult(model=averaged)
    measure = None if val_loss is None else (lambda: val_loss(averaged))
    progress = print_progress if progress is None else progress
    start = time.perf_counter()
    for step in range(1, steps + 1):
        loss = batch_loss(step)
        optimizer.zero_grad(set_to_none=True)
        loss.backward()
        if after_backward is not None:
            after_backward()
        if grad_clip is not None:
            torch.nn.utils.clip_grad_norm_(params, grad_clip)
        optimizer.step()
        if scheduler is not None:
            scheduler.step()
        if ema is not None:
            ema_update(averaged, model, float(ema), step - 1)
        result.losses.append(float(loss.detach()))
        result.steps = step
        if callback is not None:
            callback(step, result.losses[-1], averaged)
        after_step(result, steps, print_every, measure, progress)
        if time_budget is not None and time.perf_counter() - start > time_budget:
            break
    result.seconds = time.perf_counter() - start
    return result


def _check_fit_args(model, batch_loss, optimizer, grad_clip, time_budget) -> None:
    if not isinstance(model, torch.nn.Module):
        raise TypeError(f"model must be a torch.nn.Module, got {type(model).__name__}")
    check_callable(batch_loss, "batch_loss", "(step)")
    if not isinstance(optimizer, torch.optim.Optimizer):
        raise TypeError(
            f"optimizer must be a torch.optim.Optimizer, got {type(optimizer).__name__}"
        )
    if grad_clip is not None:
        check_number(grad_clip, "grad_clip", positive=True)
    if time_budget is not None:
        check_number(time_budget, "time_budget", positive=True)


def progress_line(
    result: TrainResult,
    steps: int,
    print_every: int,
    *,
    label: str = "loss",
    unit: str = "",
    digits: int = 4,
    since_line: bool = False,
) -> str:
    """The progress line after ``result.steps`` of ``steps`` steps.

    The mean training loss over the last ``print_every`` steps (with ``since_line``:
    over the steps since the last multiple of ``print_every``, i.e. since the previous
    line, which differs only on a last, shorter interval), and the held-out loss
    if it was measured at this step, each as ``{label} {value:.{digits}f}`` followed by
    `` {unit}`` when a unit is given.

    Args:
        result: the run so far (``losses``, ``steps``, the validation curve).
        steps: the steps of the whole run.
        print_every: the length of the window the training loss is averaged over.
        label: the loss's name (``"NLL"`` for ``cnf.train_ml``).
        unit: the loss's unit (``"nats"``), or ``""``.
        digits: decimals of both numbers.
        since_line: average since the previous line (``flows.train_flow``'s lines).

    >>> r = TrainResult(losses=[1.0, 2.0, 3.0, 4.0], val_steps=[4], val_losses=[0.5], steps=4)
    >>> progress_line(r, 10, 2)
    'step     4/10 | train loss 3.5000 | held-out loss 0.5000'
    >>> progress_line(r, 10, 2, label="NLL", unit="nats", digits=3)
    'step     4/10 | train NLL 3.500 nats | held-out NLL 0.500 nats'
    >>> progress_line(r, 10, 3, since_line=True)  # the steps after step 3: only step 4
    'step     4/10 | train loss 4.0000 | held-out loss 0.5000'
    """
    unit = f" {unit}" if unit else ""
    if since_line:
        recent = result.losses[((result.steps - 1) // print_every) * print_every : result.steps]
    else:
        recent = result.losses[-print_every:]
    line = f"step {result.steps:5d}/{steps} | train {label} {sum(recent) / len(recent):.{digits}f}"
    line += unit
    if result.val_steps and result.val_steps[-1] == result.steps:
        line += f" | held-out {label} {result.val_losses[-1]:.{digits}f}{unit}"
    return line


def print_progress(result: TrainResult, steps: int, print_every: int, **style) -> None:
    """Print :func:`progress_line` (``style``: its ``label``, ``unit``, ``digits``) and
    flush, so that the line shows while training goes on; :func:`fit`'s default."""
    print(progress_line(result, steps, print_every, **style))
    sys.stdout.flush()


# --------------------------------------------------------------------------- shared pieces


def check_common(
    steps, batch_size, lr, schedule, warmup, ema, generator, callback, print_every
) -> None:
    """The argument checks every trainer shares (``lr=None``: not checked)."""
    check_int(steps, "steps", 1)
    check_int(batch_size, "batch_size", 1)
    if lr is not None:
        check_number(lr, "lr", positive=True)
    check_choice(schedule, SCHEDULES, "schedule")
    check_int(warmup, "warmup", 0)
    if ema is not None:
        check_number(ema, "ema", low=0.0)
        if not float(ema) < 1.0:
            raise ValueError(f"ema must be a decay in [0, 1) or None, got {ema!r}")
    check_generator(generator)
    if callback is not None and not callable(callback):
        raise TypeError(
            f"callback must be callable as callback(step, loss, model), got {callback!r}"
        )
    if print_every is not None:
        check_int(print_every, "print_every", 0)


def sampler(data, dim: int | None = None) -> Callable:
    """``draw(n, generator) -> (n, dim)`` from a data tensor (with replacement) or a sampler."""
    if isinstance(data, torch.Tensor):
        data = check_data(data, "data", dim)

        def draw(n, g):
            return data[torch.randint(0, data.shape[0], (n,), generator=g)]

        return draw
    if callable(data):
        return data
    raise TypeError(
        "data must be a torch.Tensor of shape (n, dim) or a callable sample(n, generator), "
        f"got {type(data).__name__}"
    )


def lr_factor(schedule: str, warmup: int, steps: int) -> Callable[[int], float]:
    """The learning-rate multiplier per step: linear warm-up, then constant or cosine."""

    def lr_at(step):
        if step < warmup:
            return (step + 1) / warmup
        if schedule == "constant":
            return 1.0
        return 0.5 * (1 + math.cos(math.pi * (step - warmup) / max(1, steps - warmup)))

    return lr_at


def ema_copy(model: torch.nn.Module, ema) -> torch.nn.Module:
    """The module that holds the average: a frozen copy with EMA, the model itself without."""
    return copy.deepcopy(model).requires_grad_(False) if ema is not None else model


def ema_update(averaged: torch.nn.Module, model: torch.nn.Module, ema: float, step: int):
    """One EMA step (``step`` from 0), with a short warm-up of the decay so that the first
    steps do not dominate the average."""
    with torch.no_grad():
        d = min(ema, (1 + step) / (10 + step))
        for pa, pf in zip(averaged.parameters(), model.parameters(), strict=True):
            pa.lerp_(pf, 1.0 - d)


def record_every(print_every: int | None, steps: int) -> int:
    """The period of the validation curve: ``print_every``, else a tenth of the run."""
    return print_every if print_every else max(steps // 10, 1)


def after_step(
    result: TrainResult,
    steps: int,
    print_every: int | None,
    val_loss: Callable[[], float] | None,
    progress: Callable[[TrainResult, int, int], None],
) -> None:
    """The bookkeeping after a step (``result.steps`` already counts it): a point of the
    validation curve every :func:`record_every` steps and at the end, and a progress line
    every ``print_every`` steps and at the end."""
    done = result.steps
    every = record_every(print_every, steps)
    if val_loss is not None and (done % every == 0 or done == steps):
        result.val_steps.append(done)
        result.val_losses.append(val_loss())
    if print_every and (done % print_every == 0 or done == steps):
        progress(result, steps, print_every)
