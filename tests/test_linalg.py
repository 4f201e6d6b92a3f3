"""Tests for course_utils.linalg against numpy/scipy/torch references (float64, tight)."""

import math

import numpy as np
import pytest
import scipy.linalg
import torch

from course_utils import linalg

F64 = torch.float64


@pytest.fixture
def gen():
    return torch.Generator().manual_seed(1234)


def _randn(*shape, gen):
    return torch.randn(*shape, generator=gen, dtype=F64)


# --- svd_via_eig / canonical_signs -----------------------------------------------------


@pytest.mark.parametrize("shape", [(5, 3), (3, 5), (4, 4), (1, 3), (3, 1)])
def test_svd_via_eig_matches_numpy_svd(shape, gen):
    A = _randn(*shape, gen=gen)
    U, S, Vh = linalg.svd_via_eig(A)
    m, n = shape
    k = min(m, n)
    assert U.shape == (m, m) and S.shape == (k,) and Vh.shape == (n, n)
    U_np, S_np, Vh_np = np.linalg.svd(A.numpy())
    np.testing.assert_allclose(S.numpy(), S_np, rtol=1e-12, atol=1e-13)
    assert torch.all(S[:-1] >= S[1:])  # descending
    U_ref, Vh_ref = linalg.canonical_signs(torch.tensor(U_np), torch.tensor(Vh_np))
    np.testing.assert_allclose(U[:, :k].numpy(), U_ref[:, :k].numpy(), atol=1e-12)
    np.testing.assert_allclose(Vh[:k].numpy(), Vh_ref[:k].numpy(), atol=1e-12)
    np.testing.assert_allclose(U.T @ U, np.eye(m), atol=1e-12)
    np.testing.assert_allclose(Vh @ Vh.T, np.eye(n), atol=1e-12)
    np.testing.assert_allclose(((U[:, :k] * S) @ Vh[:k]).numpy(), A.numpy(), atol=1e-12)


def test_svd_via_eig_rank_deficient_completes_u(gen):
    A = _randn(6, 2, gen=gen) @ _randn(2, 4, gen=gen)  # rank 2
    U, S, Vh = linalg.svd_via_eig(A)
    assert int((S > 0).sum()) == 2 == np.linalg.matrix_rank(A.numpy())
    np.testing.assert_allclose(U.T @ U, np.eye(6), atol=1e-12)
    np.testing.assert_allclose(((U[:, :4] * S) @ Vh).numpy(), A.numpy(), atol=1e-12)
    np.testing.assert_allclose(S[:2].numpy(), np.linalg.svd(A.numpy())[1][:2], rtol=1e-12)


def test_svd_via_eig_zero_matrix():
    U, S, Vh = linalg.svd_via_eig(torch.zeros(3, 2, dtype=F64))
    assert torch.all(S == 0)
    np.testing.assert_allclose(U.T @ U, np.eye(3), atol=1e-15)
    np.testing.assert_allclose(Vh @ Vh.T, np.eye(2), atol=1e-15)


def test_svd_via_eig_squares_the_condition_number():
    # sigma = 1e-10 is invisible through A^T A (1e-20 << eps) but fine for a real SVD
    Q1, _ = np.linalg.qr(np.random.default_rng(0).normal(size=(4, 4)))
    Q2, _ = np.linalg.qr(np.random.default_rng(1).normal(size=(4, 4)))
    A = torch.tensor(Q1 @ np.diag([1.0, 0.5, 1e-3, 1e-10]) @ Q2.T)
    S_eig = linalg.svd_via_eig(A)[1]
    S_svd = torch.linalg.svdvals(A)
    assert float(S_eig[-1]) == 0.0
    assert float(S_svd[-1]) == pytest.approx(1e-10, rel=1e-4)
    assert float(S_eig[2]) == pytest.approx(1e-3, rel=1e-8)


def test_canonical_signs_makes_largest_entry_positive_and_keeps_product(gen):
    A = _randn(4, 3, gen=gen)
    U, S, Vh = torch.linalg.svd(A, full_matrices=False)
    flips = torch.tensor([-1.0, 1.0, -1.0], dtype=F64)
    U2, Vh2 = linalg.canonical_signs(U * flips, Vh * flips[:, None])
    idx = Vh2.abs().argmax(dim=1)
    assert torch.all(Vh2[torch.arange(3), idx] > 0)
    np.testing.assert_allclose(((U2 * S) @ Vh2).numpy(), A.numpy(), atol=1e-13)
    U3, Vh3 = linalg.canonical_signs(U, Vh)
    np.testing.assert_allclose(U2.numpy(), U3.numpy(), atol=0)


# --- best_rank_k -----------------------------------------------------------------------


def test_best_rank_k_error_is_sum_of_discarded_sigma2(gen):
    A = _randn(7, 5, gen=gen)
    S = np.linalg.svd(A.numpy(), compute_uv=False)
    for k in range(6):
        Ak = linalg.best_rank_k(A, k)
        assert np.linalg.matrix_rank(Ak.numpy(), tol=1e-10) == k
        err2 = float(((A - Ak) ** 2).sum())
        assert err2 == pytest.approx(float((S[k:] ** 2).sum()), rel=1e-12, abs=1e-24)
        spec = np.linalg.norm((A - Ak).numpy(), 2)
        assert spec == pytest.approx(S[k] if k < 5 else 0.0, rel=1e-12, abs=1e-12)


def test_best_rank_k_beats_random_rank_k(gen):
    A = _randn(6, 6, gen=gen)
    best = float((A - linalg.best_rank_k(A, 2)).norm())
    for _ in range(20):
        B = _randn(6, 2, gen=gen) @ _randn(2, 6, gen=gen)
        # least-squares fit of A within the column space of B: still rank <= 2
        Q = torch.linalg.qr(B)[0][:, :2]
        assert float((A - Q @ (Q.T @ A)).norm()) >= best - 1e-12


# --- spiked_wigner ---------------------------------------------------------------------


def test_spiked_wigner_shapes_symmetry_and_noise_variance():
    g = torch.Generator().manual_seed(0)
    n = 400
    Y, x = linalg.spiked_wigner(n, 0.0, generator=g)
    assert Y.shape == (n, n) and x.shape == (n,) and Y.dtype == F64
    assert torch.equal(Y, Y.T)
    assert set(x.unique().tolist()) == {-1.0, 1.0}
    W = Y * n**0.5
    off = W[torch.triu_indices(n, n, 1).unbind()]
    # var of the off-diagonal entries: 79800 samples, std error of the variance ~0.005
    assert float(off.var()) == pytest.approx(1.0, abs=0.03)
    assert float(W.diagonal().var()) == pytest.approx(2.0, abs=0.4)


def test_spiked_wigner_signal_part_and_bbp_overlap():
    g = torch.Generator().manual_seed(1)
    n, lam = 300, 3.0
    Y, x = linalg.spiked_wigner(n, lam, generator=g)
    Y0, _ = linalg.spiked_wigner(n, 0.0, generator=torch.Generator().manual_seed(1))
    np.testing.assert_allclose((Y - Y0).numpy(), (lam / n * torch.outer(x, x)).numpy(), atol=1e-14)
    evals, evecs = torch.linalg.eigh(Y)
    overlap2 = float((evecs[:, -1] @ x) ** 2 / n)
    assert overlap2 == pytest.approx(1 - 1 / lam**2, abs=0.05)
    # the outlier sits at lam + 1/lam (= 3.33), far above the bulk edge 2; its
    # fluctuation at n = 300 is about 0.1
    assert float(evals[-1]) == pytest.approx(lam + 1 / lam, abs=0.4)
    assert float(evals[-2]) < 2.2


def test_spiked_wigner_is_reproducible_and_validates():
    a = linalg.spiked_wigner(5, 1.0, generator=torch.Generator().manual_seed(3))
    b = linalg.spiked_wigner(5, 1.0, generator=torch.Generator().manual_seed(3))
    assert torch.equal(a[0], b[0]) and torch.equal(a[1], b[1])
    with pytest.raises(ValueError, match="n must be"):
        linalg.spiked_wigner(1, 1.0)
    with pytest.raises(ValueError, match="snr must be"):
        linalg.spiked_wigner(5, -1.0)


# --- Sherman-Morrison / Woodbury -------------------------------------------------------


def test_sherman_morrison_matches_fresh_inverse_and_sign(gen):
    n = 6
    A = _randn(n, n, gen=gen) + n * torch.eye(n, dtype=F64)
    u, v = _randn(n, gen=gen), _randn(n, gen=gen)
    A_inv = torch.linalg.inv(A)
    ref = np.linalg.inv((A + torch.outer(u, v)).numpy())
    got = linalg.sherman_morrison(A_inv, u, v)
    np.testing.assert_allclose(got.numpy(), ref, rtol=1e-12, atol=1e-13)
    # the plus sign printed in the notes is measurably wrong
    plus = A_inv + torch.outer(A_inv @ u, v @ A_inv) / (1 + v @ A_inv @ u)
    assert np.abs(plus.numpy() - ref).max() > 1e-3


def test_sherman_morrison_singular_update_raises():
    A_inv = torch.eye(3, dtype=F64)
    u = torch.tensor([1.0, 0.0, 0.0], dtype=F64)
    with pytest.raises(ValueError, match="singular"):
        linalg.sherman_morrison(A_inv, u, -u)  # I - e1 e1^T is singular


def test_woodbury_matches_fresh_inverse(gen):
    n, k = 8, 3
    A = _randn(n, n, gen=gen) + n * torch.eye(n, dtype=F64)
    U, V = _randn(n, k, gen=gen), _randn(k, n, gen=gen)
    C = _randn(k, k, gen=gen) + 3 * torch.eye(k, dtype=F64)
    got = linalg.woodbury(torch.linalg.inv(A), U, C, V)
    ref = scipy.linalg.inv((A + U @ C @ V).numpy())
    np.testing.assert_allclose(got.numpy(), ref, rtol=1e-11, atol=1e-12)


def test_woodbury_rank_one_equals_sherman_morrison(gen):
    n = 5
    A_inv = torch.linalg.inv(_randn(n, n, gen=gen) + n * torch.eye(n, dtype=F64))
    u, v = _randn(n, gen=gen), _randn(n, gen=gen)
    one = torch.ones(1, 1, dtype=F64)
    np.testing.assert_allclose(
        linalg.woodbury(A_inv, u[:, None], one, v[None]).numpy(),
        linalg.sherman_morrison(A_inv, u, v).numpy(),
        atol=1e-13,
    )


@pytest.mark.parametrize(
    "args, match",
    [
        (
            (
                torch.eye(3, dtype=F64),
                torch.ones(3, 2, dtype=F64),
                torch.eye(2, dtype=F64),
                torch.ones(3, 2, dtype=F64),
            ),
            "V must have shape",
        ),
        (
            (
                torch.eye(3, dtype=F64),
                torch.ones(2, 2, dtype=F64),
                torch.eye(2, dtype=F64),
                torch.ones(2, 3, dtype=F64),
            ),
            "U must have shape",
        ),
        (
            (
                torch.eye(3, dtype=F64),
                torch.ones(3, 2, dtype=F64),
                torch.eye(3, dtype=F64),
                torch.ones(2, 3, dtype=F64),
            ),
            "C must have shape",
        ),
    ],
)
def test_woodbury_shape_errors(args, match):
    with pytest.raises(ValueError, match=match):
        linalg.woodbury(*args)


# --- least squares ---------------------------------------------------------------------


def test_min_norm_lstsq_overdetermined_solves_normal_equations(gen):
    X, y = _randn(20, 4, gen=gen), _randn(20, gen=gen)
    beta = linalg.min_norm_lstsq(X, y)
    ref = np.linalg.solve((X.T @ X).numpy(), (X.T @ y).numpy())
    np.testing.assert_allclose(beta.numpy(), ref, rtol=1e-11)


def test_min_norm_lstsq_underdetermined_is_min_norm_interpolant(gen):
    X, y = _randn(3, 7, gen=gen), _randn(3, gen=gen)
    beta = linalg.min_norm_lstsq(X, y)
    np.testing.assert_allclose((X @ beta).numpy(), y.numpy(), atol=1e-12)
    np.testing.assert_allclose(beta.numpy(), np.linalg.pinv(X.numpy()) @ y.numpy(), atol=1e-12)
    # adding any null-space direction keeps the fit and increases the norm
    null = scipy.linalg.null_space(X.numpy())
    z = torch.tensor(null @ np.ones(null.shape[1]))
    assert float((beta + z).norm()) > float(beta.norm())


def test_min_norm_lstsq_rank_deficient_matches_scipy(gen):
    X = _randn(10, 2, gen=gen) @ _randn(2, 5, gen=gen)
    y = _randn(10, gen=gen)
    ref = scipy.linalg.lstsq(X.numpy(), y.numpy(), lapack_driver="gelsd")[0]
    np.testing.assert_allclose(linalg.min_norm_lstsq(X, y).numpy(), ref, atol=1e-10)


def test_min_norm_lstsq_validates():
    with pytest.raises(ValueError, match="y must have shape"):
        linalg.min_norm_lstsq(torch.ones(3, 2, dtype=F64), torch.ones(2, dtype=F64))
    with pytest.raises(TypeError, match="X must be a torch.Tensor"):
        linalg.min_norm_lstsq(np.ones((3, 2)), torch.ones(3, dtype=F64))


# --- condition number ------------------------------------------------------------------


def test_condition_number_matches_numpy_and_differs_from_eigen_ratio():
    A = torch.tensor([[1.0, 1e4], [0.0, 1.0]], dtype=F64)
    assert linalg.condition_number(A) == pytest.approx(np.linalg.cond(A.numpy()), rel=1e-10)
    assert linalg.condition_number(A) > 1e7  # eigenvalues are both 1
    H = torch.tensor(scipy.linalg.hilbert(6))
    assert linalg.condition_number(H) == pytest.approx(np.linalg.cond(H.numpy()), rel=1e-6)
    assert linalg.condition_number(torch.zeros(2, 2, dtype=F64)) == math.inf


def test_matrix_validation_errors():
    with pytest.raises(ValueError, match=r"A must have shape \(m, n\) with m, n >= 1, got \(3,\)"):
        linalg.condition_number(torch.ones(3, dtype=F64))
    with pytest.raises(TypeError, match="floating dtype"):
        linalg.svd_via_eig(torch.ones(2, 2, dtype=torch.int64))
    with pytest.raises(ValueError, match="k must be"):
        linalg.best_rank_k(torch.ones(2, 3, dtype=F64), 3)
    with pytest.raises(ValueError, match=r"A_inv must have shape \(n, n\) \(square\)"):
        linalg.sherman_morrison(torch.ones(2, 3, dtype=F64), torch.ones(2), torch.ones(2))


# --- best_time -------------------------------------------------------------------------


def test_best_time_counts_calls_and_validates():
    calls = []
    t = linalg.best_time(lambda: calls.append(1), repeat=3, number=4)
    assert len(calls) == 12 and t >= 0.0
    with pytest.raises(ValueError, match="repeat"):
        linalg.best_time(lambda: None, repeat=0)
    with pytest.raises(TypeError, match="callable"):
        linalg.best_time(3)


@pytest.mark.parametrize("bad", [math.nan, math.inf, -math.inf])
def test_svd_via_eig_rejects_non_finite_input(bad):
    A = torch.tensor([[bad, 1.0], [0.0, 1.0]], dtype=torch.float64)
    with pytest.raises(ValueError, match="A contains NaN or infinite"):
        linalg.svd_via_eig(A)


def test_svd_via_eig_reports_overflow_of_AtA():
    A = torch.tensor([[1e200, 1.0], [0.0, 1.0]], dtype=torch.float64)  # A^T A = inf
    with pytest.raises(ValueError, match=r"A\^T A overflowed.*torch\.linalg\.svd"):
        linalg.svd_via_eig(A)
    A32 = torch.tensor([[1e25, 1.0], [0.0, 1.0]], dtype=torch.float32)
    with pytest.raises(ValueError, match="overflowed"):
        linalg.svd_via_eig(A32)
    # large but representable: still fine
    S = linalg.svd_via_eig(torch.tensor([[1e100, 0.0], [0.0, 1e100]], dtype=torch.float64))[1]
    assert torch.allclose(S, torch.tensor([1e100, 1e100], dtype=torch.float64))


def test_mixed_dtypes_name_the_arguments():
    d, f = torch.float64, torch.float32
    with pytest.raises(
        TypeError, match=r"A_inv, u, v must all have the same dtype.*u torch\.float32"
    ):
        linalg.sherman_morrison(
            torch.eye(2, dtype=d), torch.ones(2, dtype=f), torch.ones(2, dtype=d)
        )
    with pytest.raises(
        TypeError, match=r"A_inv, U, C, V must all have the same dtype.*U torch\.float32"
    ):
        linalg.woodbury(
            torch.eye(2, dtype=d),
            torch.ones(2, 1, dtype=f),
            torch.ones(1, 1, dtype=d),
            torch.ones(1, 2, dtype=d),
        )
    with pytest.raises(TypeError, match=r"X, y must all have the same dtype.*y torch\.float32"):
        linalg.min_norm_lstsq(torch.eye(2, dtype=d), torch.ones(2, dtype=f))


def test_integer_k_accepts_numpy_integers_not_bool():
    A = torch.tensor([[3.0, 0.0], [4.0, 5.0]], dtype=torch.float64)
    assert torch.equal(linalg.best_rank_k(A, np.int64(1)), linalg.best_rank_k(A, 1))
    U, S, Vh = torch.linalg.svd(A)
    a = linalg.canonical_signs(U, Vh, k=np.int32(2))
    b = linalg.canonical_signs(U, Vh, k=2)
    assert all(torch.equal(p, q) for p, q in zip(a, b, strict=True))
    with pytest.raises(TypeError, match="k must be a non-negative int, got True"):
        linalg.best_rank_k(A, True)
    with pytest.raises(TypeError, match="k must be a non-negative int, got 1.0"):
        linalg.best_rank_k(A, 1.0)
