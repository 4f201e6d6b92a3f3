"""Tests for course_utils._ot: the exact mini-batch OT pairing, against scipy."""

import numpy as np
import pytest
import torch
from scipy.optimize import linear_sum_assignment

from course_utils import _ot
from course_utils import flow_matching as fm

F64 = torch.float64


def _cost(x, y):
    return ((x[:, None, :] - y[None, :, :]) ** 2).sum(-1).numpy()


def _scipy_optimum(x, y):
    c = _cost(x, y)
    rows, cols = linear_sum_assignment(c)
    return float(c[rows, cols].sum())


def _batches():
    g = torch.Generator().manual_seed(0)
    for n, dim in [(1, 2), (2, 2), (7, 3), (64, 2), (256, 2), (256, 5), (300, 2)]:
        yield (
            torch.randn(n, dim, generator=g, dtype=F64),
            0.5 * torch.randn(n, dim, generator=g, dtype=F64) + 1.0,
        )
    # ties: points on a small integer grid, many equal costs and duplicates
    x = torch.randint(0, 3, (128, 2), generator=g).to(F64)
    yield x, torch.randint(0, 3, (128, 2), generator=g).to(F64)
    yield x, x.clone()


@pytest.mark.parametrize("batch", list(_batches()), ids=lambda b: f"n{b[0].shape[0]}")
def test_ot_permutation_is_an_exact_optimum(batch):
    x, y = batch
    perm = _ot.ot_permutation(x, y)
    assert perm.dtype == torch.int64 and sorted(perm.tolist()) == list(range(x.shape[0]))
    c = _cost(x, y)
    got = float(c[np.arange(x.shape[0]), perm.numpy()].sum())
    assert got == pytest.approx(_scipy_optimum(x, y), rel=1e-12, abs=1e-12)


def test_falls_back_to_scipy_when_the_plan_is_not_a_permutation(monkeypatch):
    ot = pytest.importorskip("ot")
    n = 50

    def bad_emd(a, b, cost, **kw):  # a feasible but non-vertex plan (uniform)
        return np.full((n, n), 1.0 / n**2), {"warning": None}

    monkeypatch.setattr(ot, "emd", bad_emd)
    g = torch.Generator().manual_seed(3)
    x, y = torch.randn(n, 2, generator=g, dtype=F64), torch.randn(n, 2, generator=g, dtype=F64)
    perm = _ot.ot_permutation(x, y)
    assert sorted(perm.tolist()) == list(range(n))
    got = float(_cost(x, y)[np.arange(n), perm.numpy()].sum())
    assert got == pytest.approx(_scipy_optimum(x, y), rel=1e-12)


def test_couple_ot_pairs_by_the_exact_optimum():
    g = torch.Generator().manual_seed(5)
    x0, x1 = torch.randn(256, 2, generator=g), 2 + torch.randn(256, 2, generator=g)
    p0, p1 = fm.couple(x0, x1, "ot")
    assert torch.equal(p1, x1)
    assert sorted(map(tuple, p0.tolist())) == sorted(map(tuple, x0.tolist()))
    got = float(((p0.double() - p1.double()) ** 2).sum())
    assert got == pytest.approx(_scipy_optimum(x1.double(), x0.double()), rel=1e-9)
