"""The one training convention: flows.train_flow, cnf.train_ml and flow_matching.train."""

import inspect
import math
import time

import pytest
import torch

from course_utils import cnf, flow_matching, flows, training
from course_utils.training import TrainResult

COMMON = [
    "data",
    "val_data",
    "steps",
    "batch_size",
    "lr",
    "schedule",
    "warmup",
    "ema",
    "generator",
    "device",
    "callback",
    "print_every",
]


def _g(seed):
    return torch.Generator().manual_seed(seed)


def _points(n, seed, dtype=torch.float32):
    return torch.randn(n, 2, generator=_g(seed), dtype=dtype) * 0.5 + 1.0


def _flow():
    torch.manual_seed(0)
    return flows.realnvp(2, n_layers=2, hidden=8)


def _cnf():
    torch.manual_seed(0)
    return cnf.CNF(cnf.MLPField(2, hidden=8), 2, method="rk4", step_size=0.5)


def _field():
    torch.manual_seed(0)
    return flow_matching.VelocityMLP(2, hidden=16, n_hidden=1)


TRAINERS = {
    "train_flow": (flows.train_flow, _flow),
    "train_ml": (cnf.train_ml, _cnf),
    "fm.train": (flow_matching.train, _field),
}


@pytest.mark.parametrize("name", list(TRAINERS))
def test_the_trainers_share_one_signature(name):
    fn, _ = TRAINERS[name]
    params = list(inspect.signature(fn).parameters)
    # the model first, then the shared arguments in the same order
    assert [p for p in params[1:] if p in COMMON] == COMMON
    assert params[1:3] == ["data", "val_data"]
    assert inspect.signature(fn).return_annotation in (TrainResult, "TrainResult")


@pytest.mark.parametrize("name", list(TRAINERS))
def test_the_trainers_return_one_result_type(name, capsys):
    fn, make = TRAINERS[name]
    model = make()
    seen = []
    result = fn(
        model,
        _points(256, 1),
        _points(64, 2),
        steps=6,
        batch_size=32,
        lr=1e-2,
        generator=_g(3),
        callback=lambda step, loss, m: seen.append((step, loss, m)),
        print_every=3,
    )
    assert isinstance(result, TrainResult)
    assert result.steps == 6 and len(result.losses) == 6
    assert all(math.isfinite(v) for v in result.losses)
    assert result.val_steps == [3, 6] and len(result.val_losses) == 2
    assert result.final_val_loss == result.val_losses[-1] and result.seconds > 0
    assert [s for s, _, _ in seen] == [1, 2, 3, 4, 5, 6]  # steps counted from 1
    assert [v for _, v, _ in seen] == result.losses
    assert all(m is result.model for _, _, m in seen)
    out = capsys.readouterr().out.strip().splitlines()
    assert len(out) == 2 and out[0].startswith("step     3/6") and "held-out" in out[0]
    # the older dictionary access
    assert result["loss"] is result.losses and result["model"] is result.model
    assert result["steps"] == 6 and result["seconds"] == result.seconds


@pytest.mark.parametrize("name", list(TRAINERS))
def test_validation_curve_is_the_validation_loss(name):
    fn, make = TRAINERS[name]
    val = _points(64, 2)
    result = fn(make(), _points(256, 1), val, steps=2, batch_size=32, generator=_g(3), ema=None)
    model = result.model
    if name == "train_flow":
        want = flows.nll(model, val)
    elif name == "train_ml":
        want = cnf.nll(model, val)
    else:  # the CFM loss with one fixed draw of noise and times
        with torch.no_grad():
            want = float(
                flow_matching.cfm_loss(model, flow_matching.OTPath(), val, generator=_g(0))
            )
    assert result.val_losses[-1] == pytest.approx(want, rel=1e-6)


@pytest.mark.parametrize("name", list(TRAINERS))
def test_ema_gives_an_averaged_copy(name):
    fn, make = TRAINERS[name]
    model = make()
    result = fn(model, _points(256, 1), steps=20, batch_size=32, lr=1e-2, ema=0.9, generator=_g(3))
    assert result.model is not model
    trained = torch.cat([p.detach().reshape(-1) for p in model.parameters()])
    averaged = torch.cat([p.detach().reshape(-1) for p in result.model.parameters()])
    assert not torch.equal(trained, averaged)
    assert not any(p.requires_grad for p in result.model.parameters())


@pytest.mark.parametrize("name", list(TRAINERS))
def test_schedules_and_warmup_change_the_run(name):
    fn, make = TRAINERS[name]

    def run(**kw):
        kw.setdefault("ema", None)
        return fn(make(), _points(256, 1), steps=8, batch_size=32, generator=_g(3), **kw).losses

    const = run(schedule="constant")
    assert run(schedule="constant") == const  # reproducible with a generator
    assert run(schedule="cosine") != const
    assert run(schedule="constant", warmup=4) != const


def test_older_call_forms_still_work():
    # train_flow(..., cosine=False) is schedule="constant"
    a = flows.train_flow(_flow(), _points(256, 1), _points(64, 2), steps=5, batch_size=32,
                         print_every=None, generator=_g(3), cosine=False)  # fmt: skip
    b = flows.train_flow(_flow(), _points(256, 1), _points(64, 2), steps=5, batch_size=32,
                         print_every=None, generator=_g(3), schedule="constant")  # fmt: skip
    assert a.losses == b.losses and a.final_val_nll == b.final_val_nll
    # flow_matching.train(field, data, path) with the path third
    path = flow_matching.VPPath()
    c = flow_matching.train(
        _field(), _points(256, 1), path, steps=3, batch_size=32, generator=_g(3)
    )
    d = flow_matching.train(
        _field(), _points(256, 1), path=path, steps=3, batch_size=32, generator=_g(3)
    )
    assert c.losses == d.losses and c.val_losses == []
    # train_ml's per-step solver counts, also by key
    e = cnf.train_ml(_cnf(), _points(256, 1), steps=2, batch_size=16, generator=_g(3))
    assert e["nfe_forward"] == e.extras["nfe_forward"] == [8, 8]


def test_train_nll_is_the_mean_loss_between_validation_points():
    r = TrainResult(losses=[1.0, 2.0, 3.0, 5.0], val_steps=[2, 4], val_losses=[0.0, 0.0])
    assert r.train_nll == [1.5, 4.0]
    assert math.isnan(TrainResult().final_val_loss)
    with pytest.raises(KeyError):
        r["nope"]


@pytest.mark.parametrize("name", list(TRAINERS))
def test_shared_argument_checks(name):
    fn, make = TRAINERS[name]
    data = _points(64, 1)
    with pytest.raises(ValueError, match=r"^schedule must be one of \['constant', 'cosine'\]"):
        fn(make(), data, steps=1, schedule="linear")
    with pytest.raises(ValueError, match=r"^ema must be a decay in \[0, 1\) or None, got 1\.0"):
        fn(make(), data, steps=1, ema=1.0)
    with pytest.raises(TypeError, match=r"^callback must be callable"):
        fn(make(), data, steps=1, callback=3)
    with pytest.raises(TypeError, match=r"^generator must be a torch\.Generator"):
        fn(make(), data, steps=1, generator=0)
    with pytest.raises(ValueError, match=r"^val_data must have shape \(batch, 2\)"):
        fn(make(), data, torch.zeros(3), steps=1)


def test_the_convention_is_documented_once():
    doc = training.__doc__
    for name in COMMON:
        assert f"``{name}``" in doc, name
    for fn, _ in TRAINERS.values():
        assert "course_utils.training" in fn.__doc__


# ------------------------------------------------------------------ the one loop: fit


def _hand_written_loop(steps, ema, clip):
    """The loop fit runs, written out (Adam, cosine schedule, EMA, gradient clip)."""
    torch.manual_seed(0)
    model = torch.nn.Sequential(torch.nn.Linear(2, 8), torch.nn.Tanh(), torch.nn.Linear(8, 1))
    averaged = training.ema_copy(model, ema)
    opt = torch.optim.Adam(model.parameters(), lr=1e-2)
    sched = torch.optim.lr_scheduler.CosineAnnealingLR(opt, steps)
    g, losses = _g(3), []
    for step in range(steps):
        x = torch.randn(16, 2, generator=g)
        loss = ((model(x).squeeze(1) - x.sum(1)) ** 2).mean()
        opt.zero_grad()
        loss.backward()
        if clip is not None:
            torch.nn.utils.clip_grad_norm_(list(model.parameters()), clip)
        opt.step()
        sched.step()
        if ema is not None:
            with torch.no_grad():
                d = min(ema, (1 + step) / (10 + step))
                for pa, pm in zip(averaged.parameters(), model.parameters(), strict=True):
                    pa.mul_(d).add_(pm, alpha=1 - d)
        losses.append(float(loss.detach()))
    return averaged, losses


@pytest.mark.parametrize(("ema", "clip"), [(None, None), (0.9, None), (0.9, 0.05)])
def test_fit_is_the_hand_written_loop(ema, clip):
    steps = 30
    want_model, want_losses = _hand_written_loop(steps, ema, clip)
    torch.manual_seed(0)
    model = torch.nn.Sequential(torch.nn.Linear(2, 8), torch.nn.Tanh(), torch.nn.Linear(8, 1))
    opt = torch.optim.Adam(model.parameters(), lr=1e-2)
    sched = torch.optim.lr_scheduler.CosineAnnealingLR(opt, steps)
    g, seen = _g(3), []

    def batch_loss(step):
        seen.append(step)
        x = torch.randn(16, 2, generator=g)
        return ((model(x).squeeze(1) - x.sum(1)) ** 2).mean()

    result = training.fit(
        model, batch_loss, opt, steps=steps, scheduler=sched, ema=ema, grad_clip=clip
    )
    assert seen == list(range(1, steps + 1))
    assert result.steps == steps and result.seconds > 0
    assert (result.model is model) == (ema is None)
    torch.testing.assert_close(result.losses, want_losses, rtol=1e-6, atol=1e-7)
    for p, q in zip(result.model.parameters(), want_model.parameters(), strict=True):
        torch.testing.assert_close(p, q, rtol=1e-5, atol=1e-6)


def test_fit_bookkeeping_hooks_and_budget(capsys):
    w = torch.nn.Linear(1, 1, bias=False)
    torch.nn.init.zeros_(w.weight)
    opt = torch.optim.SGD(w.parameters(), lr=0.1)
    calls, backward = [], []
    result = training.fit(
        w, lambda step: ((w.weight - 3.0) ** 2).sum(), opt, steps=20,
        callback=lambda s, loss, m: calls.append((s, loss, m)), print_every=10,
        val_loss=lambda m: float(m.weight), after_backward=lambda: backward.append(
            float(w.weight.grad)
        ),
    )  # fmt: skip
    assert [c[0] for c in calls] == list(range(1, 21)) and calls[0][2] is w
    assert [c[1] for c in calls] == result.losses
    # after_backward sees each step's gradient: d/dw (w - 3)^2 = 2 (w - 3), w = 0 at first
    assert len(backward) == 20 and backward[0] == pytest.approx(-6.0)
    assert result.val_steps == [10, 20]
    assert result.val_losses[-1] == pytest.approx(float(w.weight))
    out = capsys.readouterr().out.splitlines()
    assert [line.split("|")[0].strip() for line in out] == ["step    10/20", "step    20/20"]
    assert "held-out loss" in out[-1]

    # the time budget stops the run after the step that exceeds it
    def slow_loss(step):
        time.sleep(0.02)
        return (w.weight**2).sum()

    slow = training.fit(w, slow_loss, opt, steps=1000, time_budget=0.05)
    assert 1 <= slow.steps < 1000 and len(slow.losses) == slow.steps


def test_the_progress_lines_keep_their_format(capsys):
    # fit's default line and train_ml's, pinned character for character (means by hand:
    # (3 + 4) / 2 = 3.5; (2.5 - 0.00049 + 12345.678) / 3 = 4116.059170)
    r = TrainResult(losses=[1.0, 2.0, 3.0, 4.0], val_steps=[4], val_losses=[0.5], steps=4)
    no_val = TrainResult(losses=[1.23456, 2.5, -0.00049, 12345.678], val_steps=[2], steps=4)
    no_val.val_losses = [9.0]  # measured at step 2, not now: not printed
    for result, steps, every in ((r, 10, 2), (no_val, 4, 3)):
        training.print_progress(result, steps, every)
        cnf._print_progress(result, steps, every)
    assert capsys.readouterr().out.splitlines() == [
        "step     4/10 | train loss 3.5000 | held-out loss 0.5000",
        "step     4/10 | train NLL 3.500 nats | held-out NLL 0.500 nats",
        "step     4/4 | train loss 4116.0592",
        "step     4/4 | train NLL 4116.059 nats",
    ]
    assert training.progress_line(r, 10, 2, label="CFM loss", digits=2) == (
        "step     4/10 | train CFM loss 3.50 | held-out CFM loss 0.50"
    )


@pytest.mark.parametrize("name", ["train_ml", "fm.train"])
def test_the_trainers_print_the_lines_of_their_losses(name, capsys):
    fn, make = TRAINERS[name]
    res = fn(make(), _points(256, 1), _points(64, 2), steps=5, batch_size=32, generator=_g(3),
             print_every=2)  # fmt: skip
    if name == "train_ml":  # the NLL in nats, 3 decimals; fit's default: the loss, 4
        fmt = "step {:5d}/5 | train NLL {:.3f} nats | held-out NLL {:.3f} nats"
    else:
        fmt = "step {:5d}/5 | train loss {:.4f} | held-out loss {:.4f}"
    want = []
    for k, step in enumerate((2, 4, 5)):
        window = res.losses[max(step - 2, 0) : step]  # the last print_every steps
        want.append(fmt.format(step, sum(window) / len(window), res.val_losses[k]))
    assert res.val_steps == [2, 4, 5]
    assert capsys.readouterr().out.splitlines() == want


def test_fit_checks_its_arguments():
    w = torch.nn.Linear(1, 1)
    opt = torch.optim.SGD(w.parameters(), lr=0.1)

    def ok(step):
        return (w.weight**2).sum()

    with pytest.raises(TypeError, match=r"^model must be a torch\.nn\.Module, got function"):
        training.fit(ok, ok, opt, steps=1)
    with pytest.raises(TypeError, match=r"^batch_loss must be callable"):
        training.fit(w, 3, opt, steps=1)
    with pytest.raises(TypeError, match=r"^optimizer must be a torch\.optim\.Optimizer"):
        training.fit(w, ok, "adam", steps=1)
    with pytest.raises(ValueError, match=r"^steps must be a positive int, got 0"):
        training.fit(w, ok, opt, steps=0)
    with pytest.raises(ValueError, match=r"^grad_clip must be a finite number > 0"):
        training.fit(w, ok, opt, steps=1, grad_clip=0.0)
    with pytest.raises(ValueError, match=r"^time_budget must be a finite number > 0"):
        training.fit(w, ok, opt, steps=1, time_budget=-1.0)
