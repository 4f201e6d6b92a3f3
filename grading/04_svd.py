"""Hidden tests for 04_svd (instructor only).

Every probe uses inputs that differ from the public checks (fixed, deterministic tensors,
so no seeding is needed). Values are compared with the same expression evaluated in the
solution notebook; answers that are only defined up to signs (singular vectors) are
probed through sign-invariant quantities (products, norms, amplifications).
"""

_A1 = "torch.tensor([[0.3, -2.0], [1.5, 0.7]])"
_A2 = "(torch.arange(48.0) ** 1.5).reshape(6, 8).sin()"  # full rank (sin(arange) has rank 2)
_D3 = "torch.linspace(0.5, 2.0, 7)"
_B3 = "torch.arange(21.0).reshape(7, 3).sin()"
_A4 = "torch.tensor([[2.0, 1.0, 0.0], [0.0, 1.0, 3.0], [1.0, 0.0, 1.0]])"
_NET = (
    "torch.linspace(-1.0, 1.0, 10).reshape(5, 2), torch.linspace(0.2, -0.3, 5),"
    " torch.tensor([1.0, -2.0, 0.5, 0.3, 1.2]), torch.tensor([0.7, -1.1]), torch.tensor(-0.4)"
)

QUESTIONS = [
    {
        "id": "q1",
        "title": "SVD of a 2x2 matrix",
        "points": 3,
        "tests": [
            {
                "name": "singular values by hand",
                "points": 0.5,
                "expr": "torch.as_tensor(sigma_hand, dtype=torch.float64)",
                "rtol": 1e-8,
                "expects": "sigma_hand = [sigma_1, sigma_2] of [[3, 0], [4, 5]], descending",
            },
            {
                "name": "v1 and u1 by hand (unit length, u1 = A v1 / sigma_1)",
                "points": 0.5,
                "expr": (
                    "(lambda v, u: [float((v @ torch.tensor([1.0, 1.0])).abs() / 2**0.5),"
                    " float(v.norm()), float(u.norm()),"
                    " float(u @ torch.tensor([[3.0, 0.0], [4.0, 5.0]]) @ v)])"
                    "(torch.as_tensor(v1_hand, dtype=torch.float64),"
                    " torch.as_tensor(u1_hand, dtype=torch.float64))"
                ),
                "rtol": 1e-8,
                "expects": (
                    "unit vectors v1 (eigenvector of A^T A, largest eigenvalue, either sign)"
                    " and u1 = A v1 / sigma_1 (so u1^T A v1 = +sigma_1)"
                ),
            },
            {
                "name": "singular values of a non-symmetric matrix",
                "points": 0.5,
                "expr": "svd_2x2(torch.tensor([[1.0, 2.0], [-3.0, 0.5]]))[1]",
                "rtol": 1e-9,
                "atol": 1e-12,
                "expects": "s = square roots of the eigenvalues of A^T A, descending",
            },
            {
                "name": "descending order, negative diagonal",
                "points": 0.5,
                "expr": "svd_2x2(torch.tensor([[-1.0, 0.0], [0.0, 4.0]]))[1]",
                "rtol": 1e-9,
                "atol": 1e-12,
                "expects": "for diag(-1, 4): s = (4, 1) (non-negative, largest first)",
            },
            {
                "name": "U diag(s) Vt reconstructs A",
                "points": 0.5,
                "expr": f"(lambda r: r[0] @ torch.diag(r[1]) @ r[2])(svd_2x2({_A1}))",
                "rtol": 1e-9,
                "atol": 1e-12,
                "expects": "U @ diag(s) @ Vt equal to A",
            },
            {
                "name": "U and Vt orthogonal",
                "points": 0.5,
                # with the reconstruction: orthogonal factors of another matrix do not pass
                "expr": (
                    "(lambda A: (lambda r: torch.stack([r[0].T @ r[0], r[2] @ r[2].T,"
                    f" r[0] @ torch.diag(r[1]) @ r[2] - A]))(svd_2x2(A)))({_A1})"
                ),
                "rtol": 1e-9,
                "atol": 1e-12,
                "expects": "U^T U = I and Vt Vt^T = I, for factors with U diag(S) Vt = A",
            },
        ],
    },
    {
        "id": "q2",
        "title": "best rank-k approximation and its error",
        "points": 4,
        "tests": [
            {
                "name": "rank-3 approximation of a 6x8 matrix",
                "points": 1,
                "expr": f"best_rank_k({_A2}, 3)",
                "rtol": 1e-8,
                "atol": 1e-10,
                "expects": "sum of the 3 leading sigma_i u_i v_i^T, shape (6, 8)",
            },
            {
                "name": "k = 0 and k = min(m, n)",
                "points": 0.5,
                "expr": (
                    "(lambda A: [float(best_rank_k(A, 0).abs().max()),"
                    " float((best_rank_k(A, 3) - A).abs().max())])"
                    "((torch.arange(12.0) ** 1.5).reshape(3, 4).cos())"
                ),
                "atol": 1e-10,
                "expects": "A_0 = 0 and A_{min(m,n)} = A",
            },
            {
                "name": "error from singular values",
                "points": 0.5,
                "expr": "rank_k_error(torch.tensor([5.0, 2.0, 1.5, 0.5, 0.1]), 1)",
                "rtol": 1e-10,
                "expects": "sqrt(sum of sigma_i^2 for i > k)",
            },
            {
                "name": "error is zero at full rank",
                "points": 0.5,
                # with k = 1 too: a function that always returns 0 does not pass
                "expr": "[float(rank_k_error(torch.tensor([5.0, 2.0]), k)) for k in (2, 1)]",
                "atol": 1e-12,
                "expects": "0 when nothing is discarded (and sigma_2 when it is)",
            },
            {
                "name": "smallest rank for 10% error",
                "points": 1,
                "expr": f"int(smallest_rank({_A2}, 0.1))",
                "kind": "equal",
                "expects": "the smallest k with ||A - A_k||_F <= 0.1 ||A||_F",
            },
            {
                "name": "smallest rank, diagonal matrix",
                "points": 0.5,
                # two tolerances with different answers: a constant rank does not pass
                "expr": (
                    "[int(smallest_rank(torch.diag(torch.tensor([4.0, 2.0, 1.0, 0.5])), tol))"
                    " for tol in (0.3, 0.1)]"
                ),
                "kind": "equal",
                "expects": "the smallest k with ||A - A_k||_F <= rel_tol ||A||_F",
            },
        ],
    },
    {
        "id": "q3",
        "title": "Woodbury update of a precision matrix",
        "points": 4,
        "tests": [
            {
                "name": "precision, n = 7, k = 3",
                "points": 1.5,
                "expr": f"factor_precision({_D3}, {_B3})",
                "rtol": 1e-8,
                "atol": 1e-10,
                "expects": "(diag(d) + B B^T)^{-1} (Woodbury: minus sign)",
            },
            {
                "name": "log-determinant, n = 7, k = 3",
                "points": 1.5,
                "expr": f"float(factor_logdet({_D3}, {_B3}))",
                "rtol": 1e-9,
                "atol": 1e-10,
                "expects": "log det(diag(d) + B B^T) = sum log d + log det(I + B^T D^{-1} B)",
            },
            {
                "name": "rank-one precision update",
                "points": 1,
                "expr": (
                    "precision_rank_one_update(torch.linalg.inv(2 * torch.eye(5) + torch.ones(5, 5)),"
                    " torch.linspace(-1.0, 1.0, 5))"
                ),
                "rtol": 1e-8,
                "atol": 1e-10,
                "expects": "(Sigma + w w^T)^{-1} = P - P w w^T P / (1 + w^T P w)",
            },
        ],
    },
    {
        "id": "q4",
        "title": "condition number and a perturbation bound",
        "points": 4,
        "tests": [
            {
                "name": "non-normal 3x3 matrix",
                "points": 1,
                "expr": (
                    "float(cond2(torch.tensor([[1.0, 50.0, 0.0], [0.0, 1.0, 50.0],"
                    " [0.0, 0.0, 1.0]])))"
                ),
                "rtol": 1e-6,
                "expects": "sigma_max / sigma_min (the eigenvalues are all 1)",
            },
            {
                "name": "symmetric indefinite matrix",
                "points": 0.5,
                "expr": "float(cond2(torch.tensor([[2.0, 0.0], [0.0, -0.5]])))",
                "rtol": 1e-9,
                "expects": "singular values are >= 0: kappa of diag(2, -0.5) is 4",
            },
            {
                "name": "perturbation bound",
                "points": 1,
                "expr": (
                    f"float(relative_error_bound({_A4}, torch.tensor([1.0, -1.0, 2.0]),"
                    " torch.tensor([1e-3, 0.0, -2e-3])))"
                ),
                "rtol": 1e-8,
                "expects": "kappa(A) * ||db|| / ||b||",
            },
            {
                "name": "worst case attains kappa",
                "points": 1.5,
                "expr": f"float(amplification({_A4}, *worst_case({_A4})))",
                "rtol": 1e-6,
                "expects": "b along u_1 and db along u_n (left singular vectors), unit norm",
            },
        ],
    },
    {
        "id": "q5",
        "title": "back-propagation through a two-layer network",
        "points": 4,
        "tests": [
            {
                "name": "dL/dW",
                "points": 2,
                "expr": f"two_layer_grads({_NET})[0]",
                "rtol": 1e-9,
                "atol": 1e-12,
                "expects": "dL/dW = delta x^T with delta_i = dL/dz_i, shape (N, d)",
            },
            {
                "name": "dL/db",
                "points": 1,
                "expr": f"two_layer_grads({_NET})[1]",
                "rtol": 1e-9,
                "atol": 1e-12,
                "expects": "dL/db_i = -(2/N)(y - y_hat) a_i (1 - tanh(z_i)^2), shape (N,)",
            },
            {
                "name": "dL/da",
                "points": 1,
                "expr": f"two_layer_grads({_NET})[2]",
                "rtol": 1e-9,
                "atol": 1e-12,
                "expects": "dL/da_i = -(2/N)(y - y_hat) tanh(z_i), shape (N,)",
            },
        ],
    },
    {
        "id": "q6",
        "title": "minimum-norm least squares through the SVD",
        "points": 3,
        "tests": [
            {
                "name": "p > n",
                "points": 1,
                "expr": (
                    "min_norm_solution(torch.arange(10.0).reshape(2, 5).cos(),"
                    " torch.tensor([1.0, -0.5]))"
                ),
                "rtol": 1e-8,
                "atol": 1e-10,
                "expects": "the interpolating solution of smallest norm, X^T (X X^T)^{-1} y",
            },
            {
                "name": "n > p",
                "points": 1,
                "expr": (
                    "min_norm_solution((torch.arange(24.0) ** 1.5).reshape(8, 3).sin(),"
                    " torch.linspace(-1.0, 1.0, 8))"
                ),
                "rtol": 1e-8,
                "atol": 1e-10,
                "expects": "the ordinary least-squares solution (X^T X)^{-1} X^T y",
            },
            {
                "name": "rank-deficient",
                "points": 1,
                "expr": (
                    "min_norm_solution(torch.outer(torch.tensor([1.0, -2.0, 0.5, 3.0]),"
                    " torch.tensor([1.0, 2.0, -1.0])), torch.tensor([1.0, 0.0, 2.0, -1.0]))"
                ),
                "rtol": 1e-8,
                "atol": 1e-10,
                "expects": "the minimum-norm least-squares solution (zero singular values dropped)",
            },
        ],
    },
    {
        "id": "q8",
        "title": "denoise a low-rank matrix",
        "points": 4,
        "tests": [
            {
                "name": "the error curve against the clean matrix",
                "points": 1,
                "expr": "max(abs(float(a) - b) for a, b in zip(err_curve, [float(((lambda r: (r[0][:, :k] * r[1][:k]) @ r[2][:k])(torch.linalg.svd(M_e2e, full_matrices=False)) - L_e2e).norm()) for k in range(16)], strict=True))",
                "kind": "max",
                "bound": 1e-8,
                "expects": "||M_k - L||_F for k = 0..15, M_k the rank-k approximation of the noisy M",
            },
            {
                "name": "the best rank",
                "points": 1,
                "expr": "(lambda c: abs(k_best - min(range(16), key=lambda k: c[k])))([float(((lambda r: (r[0][:, :k] * r[1][:k]) @ r[2][:k])(torch.linalg.svd(M_e2e, full_matrices=False)) - L_e2e).norm()) for k in range(16)])",
                "kind": "max",
                "bound": 0,
                "expects": "the k with the smallest error against L",
            },
            {
                "name": "the denoising gain",
                "points": 1,
                "expr": (
                    "(lambda c: float(denoise_gain) if abs(denoise_gain - float((M_e2e - L_e2e).norm())"
                    " / min(c)) < 1e-6 else -1.0)([float(((lambda r: (r[0][:, :k] * r[1][:k]) @ r[2][:k])(torch.linalg.svd(M_e2e, full_matrices=False)) - L_e2e).norm()) for k in range(16)])"
                ),
                "kind": "min",
                "bound": 1.5,
                "expects": "||M - L||_F / ||M_k_best - L||_F, above 1.5 here",
            },
            {
                "name": "the rank above the noise edge",
                "points": 1,
                "expr": "abs(k_edge - int((torch.linalg.svdvals(M_e2e) > noise_e2e * (60**0.5 + 40**0.5)).sum()))",
                "kind": "max",
                "bound": 0,
                "expects": "the number of singular values of M above noise * (sqrt(m) + sqrt(n))",
            },
        ],
    },
]


# Written questions, graded by hand (course-grade review / merge, docs/GRADING.md).
MANUAL = [{"id": "q7", "title": "why not the normal equations?", "points": 3}]
