"""Tests for course_utils.cnf.

References: the trace of the full autograd Jacobian, closed-form means and variances of
Hutchinson's estimator, the closed-form density of a linear CNF (matrix exponential),
back-propagation versus the adjoint, and normalisation on a grid.
"""

import math

import pytest
import torch

import course_utils as cu
from course_utils.cnf import (
    CNF,
    LinearField,
    MLPField,
    divergence,
    divergence_exact,
    divergence_hutchinson,
    nll,
    sample_probe,
    standard_normal_log_prob,
    train_ml,
)

F64 = torch.float64
TIGHT = {"rtol": 1e-10, "atol": 1e-10}


def _gen(seed=0):
    return torch.Generator().manual_seed(seed)


def _field(dim, seed=0):
    torch.manual_seed(seed)
    return MLPField(dim, hidden=16).to(F64)


def _jacobian_traces(field, t, x):
    traces = []
    for xb in x:
        jac = torch.autograd.functional.jacobian(lambda z: field(t, z[None])[0], xb)
        traces.append(torch.trace(jac))
    return torch.stack(traces)


@pytest.mark.parametrize("dim", [1, 2, 5])
def test_exact_divergence_is_trace_of_jacobian(dim):
    field = _field(dim)
    x = torch.randn(7, dim, generator=_gen(1), dtype=F64)
    t = torch.tensor(0.3, dtype=F64)
    _, div = divergence(field, t, x)
    torch.testing.assert_close(div, _jacobian_traces(field, t, x), rtol=1e-12, atol=1e-12)


def test_hutchinson_with_all_basis_sign_patterns_is_exact():
    # averaging e^T J e over all 2^d Rademacher vectors gives tr J exactly
    dim = 3
    field = _field(dim, seed=2)
    x = torch.randn(4, dim, generator=_gen(3), dtype=F64).requires_grad_(True)
    t = torch.tensor(0.7, dtype=F64)
    signs = torch.tensor(
        [[(k >> i & 1) * 2 - 1 for i in range(dim)] for k in range(2**dim)], dtype=F64
    )
    eps = signs[:, None, :].expand(2**dim, 4, dim)
    v = field(t, x)
    est = divergence_hutchinson(v, x, eps)
    torch.testing.assert_close(est, divergence_exact(v, x), rtol=1e-12, atol=1e-12)


def _linear_estimates(A, kind, n, seed=0):
    """n independent one-probe Hutchinson estimates of tr A (one probe per batch row)."""
    x = torch.zeros(n, A.shape[0], dtype=F64, requires_grad=True)
    v = LinearField(A)(0.0, x)
    eps = sample_probe((n, A.shape[0]), kind, generator=_gen(seed), dtype=F64)
    return divergence_hutchinson(v, x, eps).detach()


@pytest.mark.parametrize("kind", ["rademacher", "gaussian"])
def test_hutchinson_mean_and_variance_match_closed_forms(kind):
    A = torch.randn(4, 4, generator=_gen(5), dtype=F64)  # not symmetric
    n = 200_000
    est = _linear_estimates(A, kind, n)
    sym = 0.5 * ((A + A.T) ** 2).sum()
    var = sym - 2 * (torch.diagonal(A) ** 2).sum() if kind == "rademacher" else sym
    # mean within 4 standard errors of the exact trace
    assert abs(float(est.mean() - torch.trace(A))) < 4 * math.sqrt(float(var) / n)
    assert abs(float(est.var()) / float(var) - 1) < 0.03


def test_rademacher_variance_of_symmetric_matrix():
    # the formula 2 (||A||_F^2 - sum a_ii^2) for a symmetric A
    B = torch.randn(5, 5, generator=_gen(6), dtype=F64)
    A = B + B.T
    est = _linear_estimates(A, "rademacher", 200_000, seed=1)
    expected = 2 * (float((A**2).sum()) - float((torch.diagonal(A) ** 2).sum()))
    assert abs(float(est.var()) / expected - 1) < 0.03


def test_probes_have_zero_mean_and_identity_covariance():
    for kind in ("rademacher", "gaussian"):
        e = sample_probe((100_000, 3), kind, generator=_gen(7), dtype=F64)
        assert float(e.mean(0).abs().max()) < 0.02
        cov = e.T @ e / e.shape[0]
        assert float((cov - torch.eye(3, dtype=F64)).abs().max()) < 0.03
    r = sample_probe((1000, 3), "rademacher", generator=_gen(8), dtype=F64)
    assert set(r.unique().tolist()) == {-1.0, 1.0}


def _linear_log_prob(x, A):
    """Closed form: x = expm(A) z, so log p1(x) = log N(expm(-A) x) - tr A."""
    z = x @ torch.linalg.matrix_exp(-A).T
    return standard_normal_log_prob(z) - torch.trace(A)


@pytest.mark.parametrize(
    "A",
    [
        torch.diag(torch.tensor([0.7, -0.4], dtype=F64)),  # the notes' linear scaling
        torch.tensor([[0.2, -1.0], [0.6, -0.3]], dtype=F64),  # rotation + shear
    ],
    ids=["scaling", "general"],
)
def test_linear_cnf_log_density_matches_closed_form(A):
    cnf = CNF(LinearField(A), dim=2, **TIGHT)
    x = torch.randn(9, 2, generator=_gen(9), dtype=F64) * 2
    torch.testing.assert_close(cnf.log_prob(x), _linear_log_prob(x, A), rtol=1e-8, atol=1e-8)
    # forward direction: samples and their log-densities carried from t = 0
    xs, logp = cnf.sample_with_log_prob(5, generator=_gen(10), dtype=F64)
    torch.testing.assert_close(logp, _linear_log_prob(xs, A), rtol=1e-8, atol=1e-8)


def test_linear_scaling_rademacher_is_exact_and_sampling_is_expm():
    # diagonal A: e^T A e = sum a_ii e_i^2 = tr A for every Rademacher e
    A = torch.diag(torch.tensor([0.5, -1.0], dtype=F64))
    cnf = CNF(LinearField(A), dim=2, estimator="hutchinson", **TIGHT)
    x = torch.randn(6, 2, generator=_gen(11), dtype=F64)
    torch.testing.assert_close(
        cnf.log_prob(x, generator=_gen(0)), _linear_log_prob(x, A), rtol=1e-8, atol=1e-8
    )
    samples = cnf.sample(4, generator=_gen(12), dtype=F64)
    z = torch.randn(4, 2, generator=_gen(12), dtype=F64)
    torch.testing.assert_close(samples, z * torch.exp(torch.diagonal(A)), rtol=1e-8, atol=1e-9)


def test_hutchinson_cnf_is_unbiased_for_a_nonlinear_field():
    # 400 copies of each point in one batch: each row gets its own probe
    field = _field(2, seed=4)
    x = torch.randn(3, 2, generator=_gen(13), dtype=F64)
    reps = x.repeat(400, 1)
    cnf = CNF(field, 2, estimator="hutchinson", probe="gaussian", method="rk4", step_size=0.1)
    with torch.no_grad():
        exact = CNF(field, 2, method="rk4", step_size=0.1).log_prob(x)
        draws = cnf.log_prob(reps, generator=_gen(0)).reshape(400, 3)
    se = draws.std(0) / math.sqrt(draws.shape[0])
    assert bool(((draws.mean(0) - exact).abs() < 4 * se).all())
    assert float(draws.std(0).min()) > 1e-3  # it really is random


def test_adjoint_and_backprop_give_the_same_gradients():
    def grads(adjoint):
        field = _field(2, seed=6)
        cnf = CNF(field, 2, adjoint=adjoint, **TIGHT)
        x = torch.randn(8, 2, generator=_gen(14), dtype=F64)
        cnf.log_prob(x).mean().backward()
        return [p.grad for p in field.parameters()]

    for r, g in zip(grads(False), grads(True), strict=True):
        torch.testing.assert_close(g, r, rtol=1e-6, atol=1e-9)


def test_trained_cnf_is_normalised_on_a_grid():
    # a short float32 training run (the way the notebook trains), checked in float64
    gen = _gen(15)
    torch.manual_seed(15)
    field = MLPField(2, hidden=16)
    data = cu.data.get("gaussian_mixture")
    train = CNF(field, 2, method="rk4", step_size=0.25)
    hist = train_ml(
        train,
        lambda n, g: data.sample(n, generator=g),
        steps=12,
        batch_size=128,
        lr=2e-2,
        generator=gen,
    )
    assert hist["loss"][-1] < hist["loss"][0] - 0.1  # it learned something
    assert hist["nfe_forward"] == [16] * 12 and hist["nfe_backward"] == [0] * 12
    evaluate = CNF(field.to(F64), 2, rtol=1e-6, atol=1e-6)
    with torch.no_grad():
        mass = cu.grid.integrate_density_2d(evaluate.log_prob, lim=7.0, n=50)
    assert abs(mass - 1) < 5e-3
    # the held-out NLL lies above the data entropy, the best any model can reach
    held_out = data.sample(400, generator=_gen(16), dtype=F64)
    assert data.entropy() < nll(evaluate, held_out) < 5.0


def test_train_ml_with_adjoint_counts_backward_evaluations():
    field = _field(2, seed=8)
    cnf = CNF(field, 2, method="rk4", step_size=0.5, adjoint=True)
    x = torch.randn(64, 2, generator=_gen(17), dtype=F64)
    hist = train_ml(cnf, x, steps=2, batch_size=16, generator=_gen(18))
    assert hist["nfe_forward"] == [8, 8] and hist["nfe_backward"] == [8, 8]


def test_bad_input_raises_clear_errors():
    field = _field(2)
    with pytest.raises(ValueError, match="estimator"):
        CNF(field, 2, estimator="trace")
    with pytest.raises(ValueError, match="probe"):
        CNF(field, 2, estimator="hutchinson", probe="uniform")
    with pytest.raises(ValueError, match=r"x must have shape \(batch, 2\)"):
        CNF(field, 2).log_prob(torch.zeros(3, dtype=F64))
    with pytest.raises(TypeError, match="field"):
        CNF(3, 2)
    with pytest.raises(ValueError, match="requires_grad"):
        x = torch.zeros(2, 2, dtype=F64)
        divergence_exact(x * 2, x)
    x = torch.zeros(2, 2, dtype=F64, requires_grad=True)
    with pytest.raises(ValueError, match="eps must have shape"):
        divergence_hutchinson(field(0.0, x), x, torch.ones(3, dtype=F64))
    with pytest.raises(TypeError, match="data must be"):
        train_ml(CNF(field, 2), "points", steps=1)
    with pytest.raises(ValueError, match=r"A must have shape \(dim, dim\), got \(2, 3\)"):
        LinearField(torch.ones(2, 3))


def test_dtype_mismatch_is_reported():
    cnf = CNF(MLPField(2, hidden=4), 2)  # float32 parameters
    with pytest.raises(TypeError, match="dtype"):
        cnf.log_prob(torch.zeros(3, 2, dtype=F64))


def test_training_and_scoring_refuse_bad_data_and_lr():
    cnf = CNF(_field(2), 2, method="rk4", step_size=0.25)
    x = torch.randn(8, 2, generator=_gen(1))
    bad = x.clone()
    bad[0, 1] = math.inf
    with pytest.raises(ValueError, match="x contains NaN or infinite values"):
        cu.cnf.nll(cnf, bad)
    with pytest.raises(ValueError, match="data contains NaN or infinite values"):
        train_ml(cnf, bad, steps=1)
    with pytest.raises(ValueError, match="x must have at least one row"):
        cu.cnf.nll(cnf, x[:0])
    for lr in (0, -1e-3, math.nan):
        with pytest.raises(ValueError, match="lr must be a finite number > 0"):
            train_ml(cnf, x, steps=1, lr=lr)


def test_divergence_of_fields_that_ignore_x_is_zero():
    x = torch.randn(5, 2, dtype=F64, generator=_gen(2))
    b = torch.nn.Parameter(torch.tensor([0.3, -0.2], dtype=F64))
    for field in (lambda t, y: b.expand_as(y), lambda t, y: torch.zeros_like(y)):
        for est in ("exact", "hutchinson"):
            v, div = divergence(field, 0.5, x, estimator=est, generator=_gen(3))
            assert torch.equal(div, torch.zeros(5, dtype=F64)), (est, div)

    class Drift(torch.nn.Module):  # a constant learned velocity: a pure translation
        def __init__(self):
            super().__init__()
            self.b = torch.nn.Parameter(torch.tensor([0.5, -1.0], dtype=F64))

        def forward(self, t, y):
            return self.b.expand_as(y)

    cnf = CNF(Drift(), 2, method="rk4", step_size=0.25)
    # x(1) = x(0) + b: log p_1(x) = log N(x - b; 0, I), no volume change
    expected = standard_normal_log_prob(x - torch.tensor([0.5, -1.0], dtype=F64))
    assert torch.allclose(cnf.log_prob(x), expected, atol=1e-12)


def test_cnf_checks_the_field_dimension_and_samples_in_its_dtype():
    with pytest.raises(ValueError, match="the field works in 2 dimensions but dim = 3"):
        CNF(MLPField(2), 3)
    with pytest.raises(ValueError, match="the field works in 2 dimensions but dim = 3"):
        CNF(LinearField(torch.eye(2, dtype=F64)), 3)
    cnf = CNF(LinearField(-torch.eye(2, dtype=F64)), 2, method="rk4", step_size=0.25)
    assert cnf.sample(3, generator=_gen(4)).dtype == F64  # not the default float32
    x, logp = cnf.sample_with_log_prob(3, generator=_gen(4))
    assert x.dtype == logp.dtype == F64
    with pytest.raises(TypeError, match="x has dtype torch.float32 but the field's parameters"):
        cnf.sample(3, dtype=torch.float32)
