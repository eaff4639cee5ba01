"""The special functions, the misc family, the decompositions and the memory methods.

``CASES`` holds every differentiable op, written once with the names nnkit and PyTorch
share (``lib(x)`` is the library of ``x``), with a NumPy (or mpmath) reference. Each is
checked in float64: forward values, the gradient on contiguous, transposed and strided
inputs, and the second derivative. ``test_torch_misc.py`` runs the same table against
PyTorch. The rest of this file pins accuracy, edge values, errors and what has no gradient.
"""

import itertools
import math
import warnings

import numpy as np
import pytest

import nnkit
from test_ops_gradcheck import LAYOUTS, Case, assert_forward, case_arrays, check, check_second, lib

mpmath = pytest.importorskip("mpmath")

M = (4, 5)


def vectorize(f):
    return np.vectorize(lambda v: float(f(v)), otypes=[np.float64])


np_lgamma = vectorize(math.lgamma)
np_digamma = vectorize(mpmath.digamma)


def np_polygamma(n):
    return vectorize(lambda v: mpmath.polygamma(n, v))


def np_besseli(order, scaled=False):
    return vectorize(lambda v: mpmath.besseli(order, v) * (mpmath.exp(-abs(v)) if scaled else 1))


def np_ndtr(x):
    return vectorize(lambda v: mpmath.ncdf(v))(x)


def np_log_ndtr(x):
    def one(v):
        with mpmath.workdps(40):  # log(1 - tiny) on the right needs the digits
            return mpmath.log(mpmath.ncdf(v))
    return vectorize(one)(x)


def spd(x):
    """x xᵀ + 4 I: symmetric positive definite, well conditioned."""
    return x @ x.mT + 4 * lib(x).eye(x.shape[-1], dtype=x.dtype)


def np_spd(x):
    return x @ np.swapaxes(x, -1, -2) + 4 * np.eye(x.shape[-1])


def symmetric(x):
    return x + x.mT


def np_gradient_coords(x, coords, axis, edge_order):
    return np.gradient(x, coords, axis=axis, edge_order=edge_order)


def np_trapezoid(y, x=None, dx=1.0, axis=-1):
    return np.trapezoid(y, x, dx=dx, axis=axis)


def np_cumulative_trapezoid(y, dx=1.0, axis=-1):
    y = np.moveaxis(y, axis, -1)
    out = np.cumsum((y[..., 1:] + y[..., :-1]) * dx / 2, -1)
    return np.moveaxis(out, -1, axis)


def np_renorm(x, p, dim, maxnorm):
    axes = tuple(i for i in range(x.ndim) if i != dim)
    norms = np.sum(np.abs(x) ** p, axis=axes, keepdims=True) ** (1 / p)
    return x * np.where(norms > maxnorm, maxnorm / (norms + 1e-7), 1.0)


def np_cdist(a, b, p):
    diff = np.abs(a[..., :, None, :] - b[..., None, :, :])
    return diff.max(-1) if p == math.inf else (diff ** p).sum(-1) ** (1 / p)


def np_pdist(x, p):
    i, j = np.triu_indices(x.shape[0], 1)
    return (np.abs(x[i] - x[j]) ** p).sum(-1) ** (1 / p)


def np_block_diag(*blocks):
    blocks = [np.atleast_2d(b) for b in blocks]
    out = np.zeros((sum(b.shape[0] for b in blocks), sum(b.shape[1] for b in blocks)))
    r = c = 0
    for b in blocks:
        out[r:r + b.shape[0], c:c + b.shape[1]] = b
        r, c = r + b.shape[0], c + b.shape[1]
    return out


def np_expm(a):
    """e^a by a long Taylor series after scaling (a reference independent of nnkit's)."""
    s = 8
    x = a / 2 ** s
    total, term = np.eye(a.shape[-1]) + 0 * a, np.eye(a.shape[-1]) + 0 * a
    for k in range(1, 30):
        term = term @ x / k
        total = total + term
    for _ in range(s):
        total = total @ total
    return total


def np_svd_product(a):
    u, s, vh = np.linalg.svd(a, full_matrices=False)
    return (u * s[..., None, :]) @ vh


def np_pinv(a):
    return np.linalg.pinv(a)


def np_strided(x, shape, strides, offset=0):
    flat = np.ascontiguousarray(x).reshape(-1)
    return np.lib.stride_tricks.as_strided(flat[offset:], shape, tuple(s * 8 for s in strides)).copy()


def qr_invariant(L, a, mode="reduced"):
    """Q and R with each sign-ambiguous pair (column of Q, row of R) squared: gauge-free."""
    q, r = L.linalg.qr(a, mode=mode)
    return q * q, r * r


def np_qr_invariant(a, mode="reduced"):
    q, r = np.linalg.qr(a, mode)
    return q * q, r * r


def np_eigh_vectors_squared(a):
    _, v = np.linalg.eigh(a)
    return v * v


def svd_squares(L, a, full_matrices=False):
    u, s, vh = L.linalg.svd(a, full_matrices=full_matrices)
    k = s.shape[-1]
    return u[..., :, :k] ** 2, s, vh[..., :k, :] ** 2


def np_svd_squares(a):
    u, s, vh = np.linalg.svd(a, full_matrices=False)
    return u ** 2, s, vh ** 2


COORDS = [0.0, 1.0, 3.0, 3.5]
FWEIGHTS = [1, 2, 1, 3, 1, 1]
AWEIGHTS = [0.5, 1.0, 2.0, 0.25, 1.5, 1.0]

CASES = {
    # special functions
    "lgamma": Case(lambda x: x.lgamma(), np_lgamma, [M], "p"),
    "lgamma_negative": Case(lambda x: lib(x).lgamma(x * -0.4 - 0.05), lambda x: np_lgamma(x * -0.4 - 0.05), [M], "p"),
    "lgamma_large": Case(lambda x: lib(x).special.gammaln(x * 30), lambda x: np_lgamma(x * 30), [M], "p"),
    "digamma": Case(lambda x: x.digamma(), np_digamma, [M], "p"),
    "digamma_negative": Case(lambda x: lib(x).special.psi(x * -0.4 - 1.05), lambda x: np_digamma(x * -0.4 - 1.05),
                             [M], "p"),
    "polygamma1": Case(lambda x: lib(x).polygamma(1, x), np_polygamma(1), [M], "p"),
    "polygamma2_method": Case(lambda x: x.polygamma(2), np_polygamma(2), [M], "p"),
    "polygamma3_negative": Case(lambda x: lib(x).special.polygamma(3, x * -0.4 - 2.05),
                                lambda x: np_polygamma(3)(x * -0.4 - 2.05), [M], "p"),
    "mvlgamma": Case(lambda x: lib(x).mvlgamma(x + 1, 3),
                     lambda x: sum(np_lgamma(x + 1 - i / 2) for i in range(3)) + 1.5 * math.log(math.pi), [M], "p"),
    "multigammaln": Case(lambda x: lib(x).special.multigammaln(x, 1), np_lgamma, [M], "p"),
    "i0": Case(lambda x: x.i0(), np_besseli(0), [M]),
    "i0_wide": Case(lambda x: lib(x).i0(x * 4), lambda x: np_besseli(0)(x * 4), [M]),
    "i1": Case(lambda x: lib(x).special.i1(x * 4), lambda x: np_besseli(1)(x * 4), [M]),
    "i0e": Case(lambda x: lib(x).special.i0e(x * 20), lambda x: np_besseli(0, True)(x * 20), [M]),
    "i1e": Case(lambda x: lib(x).special.i1e(x * 3), lambda x: np_besseli(1, True)(x * 3), [M]),
    "ndtr": Case(lambda x: lib(x).special.ndtr(x * 2), lambda x: np_ndtr(x * 2), [M]),
    "ndtri": Case(lambda x: lib(x).special.ndtri(x / 2.5),
                  lambda x: vectorize(lambda p: mpmath.sqrt(2) * mpmath.erfinv(2 * p - 1))(x / 2.5), [M], "p"),
    "log_ndtr": Case(lambda x: lib(x).special.log_ndtr(x * 3), lambda x: np_log_ndtr(x * 3), [M]),
    "log_ndtr_tail": Case(lambda x: lib(x).special.log_ndtr(x * -10 - 2), lambda x: np_log_ndtr(x * -10 - 2), [M],
                          "p"),
    "entr": Case(lambda x: lib(x).special.entr(x), lambda x: -x * np.log(x), [M], "p"),
    "xlog1py": Case(lambda x, y: lib(x).special.xlog1py(x, y), lambda x, y: x * np.log1p(y), [M, (5,)], "rp"),
    "zeta_q": Case(lambda q: lib(q).special.zeta(lib(q).full_like(q, 3.0), q),
                   lambda q: vectorize(lambda v: mpmath.zeta(3, v))(q), [M], "p"),
    # numbers
    "ldexp": Case(lambda a, e: lib(a).ldexp(a, e), lambda a, e: a * 2.0 ** e, [M, (5,)]),
    "renorm": Case(lambda x: x.renorm(2, 0, 1.5), lambda x: np_renorm(x, 2, 0, 1.5), [M]),
    "renorm_p1_dim1": Case(lambda x: lib(x).renorm(x, 1, 1, 2.0), lambda x: np_renorm(x, 1, 1, 2.0), [(3, 4, 2)]),
    # combinatorics
    "vander": Case(lambda x: lib(x).vander(x), lambda x: np.vander(x), [(4,)]),
    "vander_increasing": Case(lambda x: lib(x).vander(x, 3, True), lambda x: np.vander(x, 3, True), [(5,)]),
    "cartesian_prod": Case(lambda a, b: lib(a).cartesian_prod(a, b),
                           lambda a, b: np.array(list(itertools.product(a, b))), [(3,), (4,)]),
    "combinations": Case(lambda x: lib(x).combinations(x),
                         lambda x: np.array(list(itertools.combinations(x, 2))), [(5,)]),
    "combinations_replacement": Case(lambda x: lib(x).combinations(x, 3, with_replacement=True),
                                     lambda x: np.array(list(itertools.combinations_with_replacement(x, 3))), [(3,)]),
    "block_diag": Case(lambda a, b, c: lib(a).block_diag(a, b, c), np_block_diag, [(2, 3), (3,), ()]),
    "chain_matmul": Case(lambda a, b, c: lib(a).chain_matmul(a, b, c), lambda a, b, c: a @ b @ c,
                         [(2, 3), (3, 4), (4, 2)]),
    # distances
    "cdist": Case(lambda a, b: lib(a).cdist(a, b), lambda a, b: np_cdist(a, b, 2), [(2, 3, 4), (2, 5, 4)]),
    "cdist_p1_broadcast": Case(lambda a, b: lib(a).cdist(a, b, 1.0), lambda a, b: np_cdist(a, b, 1),
                               [(1, 3, 4), (2, 5, 4)]),
    "cdist_p3": Case(lambda a, b: lib(a).cdist(a, b, p=3.0), lambda a, b: np_cdist(a, b, 3), [(3, 4), (5, 4)]),
    "cdist_inf": Case(lambda a, b: lib(a).cdist(a, b, math.inf), lambda a, b: np_cdist(a, b, math.inf),
                      [(3, 4), (5, 4)]),
    "pdist": Case(lambda x: lib(x).pdist(x), lambda x: np_pdist(x, 2), [(5, 3)]),
    "pdist_p1_5": Case(lambda x: lib(x).nn.functional.pdist(x, 1.5), lambda x: np_pdist(x, 1.5), [(5, 3)]),
    # statistics
    "cov": Case(lambda x: x.cov(), np.cov, [(3, 6)]),
    "cov_1d": Case(lambda x: lib(x).cov(x), np.cov, [(6,)]),
    "cov_weights": Case(lambda x: lib(x).cov(x, correction=0, fweights=lib(x).tensor(FWEIGHTS),
                                              aweights=lib(x).tensor(AWEIGHTS, dtype=x.dtype)),
                        lambda x: np.cov(x, ddof=0, fweights=FWEIGHTS, aweights=AWEIGHTS), [(3, 6)]),
    "cov_aweights_correction": Case(lambda x: lib(x).cov(x, aweights=lib(x).tensor(AWEIGHTS, dtype=x.dtype)),
                                    lambda x: np.cov(x, aweights=AWEIGHTS), [(2, 6)]),
    "corrcoef": Case(lambda x: x.corrcoef(), np.corrcoef, [(3, 6)]),
    # calculus on samples
    "diff": Case(lambda x: x.diff(), lambda x: np.diff(x), [M]),
    "diff_n2_dim0": Case(lambda x: lib(x).diff(x, 2, 0), lambda x: np.diff(x, 2, 0), [M]),
    "diff_prepend_append": Case(lambda x, p, a: lib(x).diff(x, 1, -1, p, a),
                                lambda x, p, a: np.diff(x, 1, -1, prepend=p, append=a), [M, (4, 2), (4, 1)]),
    "gradient": Case(lambda x: lib(x).gradient(x), lambda x: tuple(np.gradient(x)), [M]),
    "gradient_spacing": Case(lambda x: lib(x).gradient(x, spacing=[2.0, 0.5]),
                             lambda x: tuple(np.gradient(x, 2.0, 0.5)), [M]),
    "gradient_dim_edge2": Case(lambda x: lib(x).gradient(x, spacing=3.0, dim=1, edge_order=2),
                               lambda x: (np.gradient(x, 3.0, axis=1, edge_order=2),), [M]),
    "gradient_coords": Case(lambda x: lib(x).gradient(x, spacing=[lib(x).tensor(COORDS, dtype=x.dtype)], dim=0),
                            lambda x: (np_gradient_coords(x, COORDS, 0, 1),), [M]),
    "gradient_coords_edge2": Case(lambda x: lib(x).gradient(x, spacing=[lib(x).tensor(COORDS, dtype=x.dtype)],
                                                            dim=[0], edge_order=2),
                                  lambda x: (np_gradient_coords(x, COORDS, 0, 2),), [M]),
    "trapezoid": Case(lambda y: lib(y).trapezoid(y), np_trapezoid, [M]),
    "trapezoid_dx_dim": Case(lambda y: lib(y).trapezoid(y, dx=0.5, dim=0), lambda y: np_trapezoid(y, dx=0.5, axis=0),
                             [M]),
    "trapezoid_x": Case(lambda y, x: lib(y).trapezoid(y, x), lambda y, x: np_trapezoid(y, x), [M, (5,)]),
    "trapezoid_x_full": Case(lambda y, x: lib(y).trapz(y, x, dim=0), lambda y, x: np_trapezoid(y, x, axis=0), [M, M]),
    "cumulative_trapezoid": Case(lambda y: lib(y).cumulative_trapezoid(y, dx=2.0),
                                 lambda y: np_cumulative_trapezoid(y, 2.0), [M]),
    "cumulative_trapezoid_x": Case(lambda y, x: lib(y).cumulative_trapezoid(y, x, dim=0),
                                   lambda y, x: np.cumsum((y[1:] + y[:-1]) * np.diff(x)[:, None] / 2, 0), [M, (4,)]),
    # views and copies of parts
    "as_strided": Case(lambda x: lib(x).as_strided(x.contiguous(), (3, 3), (1, 1)),
                       lambda x: np_strided(x, (3, 3), (1, 1)), [M]),
    "as_strided_offset_method": Case(lambda x: x.contiguous().as_strided((2, 4), (5, 2), 3),
                                     lambda x: np_strided(x, (2, 4), (5, 2), 3), [M]),
    "diagonal_scatter": Case(lambda x, s: lib(x).diagonal_scatter(x, s, 1),
                             lambda x, s: np_diagonal_scatter(x, s, 1), [M, (4,)]),
    "select_scatter": Case(lambda x, s: x.select_scatter(s, 1, -2), lambda x, s: np_select_scatter(x, s, 1, -2),
                           [M, (4,)]),
    "slice_scatter": Case(lambda x, s: lib(x).slice_scatter(x, s, 1, 1, None, 2),
                          lambda x, s: np_slice_scatter(x, s), [M, (4, 2)]),
    "narrow_copy": Case(lambda x: x.narrow_copy(1, 1, 3), lambda x: x[:, 1:4], [M]),
    "sum_to_size": Case(lambda x: x.sum_to_size(1, 5), lambda x: x.sum(0, keepdims=True), [M]),
    "sum_to_size_lead": Case(lambda x: x.sum_to_size((3, 1)), lambda x: x.sum((0, 2))[:, None], [(2, 3, 4)]),
    "reshape_as": Case(lambda x, y: x.reshape_as(y), lambda x, y: x.reshape(y.shape), [M, (10, 2)]),
    "fill_diagonal_": Case(lambda x: (x * 1).fill_diagonal_(2.0), lambda x: np_fill_diagonal(x, 2.0), [M]),
    "tril_": Case(lambda x: (x * 1).tril_(1), lambda x: np.tril(x, 1), [M]),
    "triu_": Case(lambda x: (x * 1).triu_(), np.triu, [M]),
    "t_": Case(lambda x: (x * 1).t_(), lambda x: x.T, [M]),
    "transpose_squeeze_unsqueeze_": Case(lambda x: (x * 1).unsqueeze_(0).transpose_(0, 2).squeeze_(2),
                                         lambda x: x.T, [M]),
    # linear algebra
    "det": Case(lambda x: x.det(), np.linalg.det, [(4, 4)]),
    "det_batch": Case(lambda x: lib(x).linalg.det(x), np.linalg.det, [(2, 3, 3)]),
    "slogdet": Case(lambda x: lib(x).slogdet(x).logabsdet, lambda x: np.linalg.slogdet(x)[1], [(4, 4)]),
    "logdet": Case(lambda x: lib(x).logdet(spd(x)), lambda x: np.log(np.linalg.det(np_spd(x))), [(3, 3)]),
    "svd_product": Case(lambda x: (lambda r: r.U @ lib(x).diag_embed(r.S) @ r.Vh)(lib(x).linalg.svd(x, False)),
                        np_svd_product, [(5, 3)]),
    "svd_tall_squares": Case(lambda x: svd_squares(lib(x), x), np_svd_squares, [(5, 3)]),
    "svd_wide_squares": Case(lambda x: svd_squares(lib(x), x), np_svd_squares, [(3, 5)]),
    "svd_full_matrices": Case(lambda x: svd_squares(lib(x), x, True), np_svd_squares, [(2, 5, 3)]),
    "svd_values_only": Case(lambda x: lib(x).linalg.svd(x).S, lambda x: np.linalg.svd(x)[1], [(4, 3)]),
    "svdvals": Case(lambda x: lib(x).linalg.svdvals(x), lambda x: np.linalg.svd(x)[1], [(3, 5)]),
    "svd_v": Case(lambda x: (lambda r: r.U * r.S @ r.V.mT)(x.svd()), np_svd_product, [(4, 4)]),
    "pinv_tall": Case(lambda x: lib(x).linalg.pinv(x), np_pinv, [(5, 3)]),
    "pinverse_wide": Case(lambda x: x.pinverse(), np_pinv, [(3, 5)]),
    "eigvalsh": Case(lambda x: lib(x).linalg.eigvalsh(symmetric(x)), lambda x: np.linalg.eigvalsh(x + x.T), [(4, 4)]),
    "eigh_vectors": Case(lambda x: lib(x).linalg.eigh(symmetric(x)).eigenvectors ** 2,
                         lambda x: np_eigh_vectors_squared(x + x.T), [(4, 4)]),
    # The gradient is symmetric, as PyTorch's: right for the symmetric matrices eigh is meant for.
    "eigh_upper": Case(lambda x: (lambda r: r.eigenvectors ** 2 * r.eigenvalues)(lib(x).linalg.eigh(symmetric(x), "U")),
                       lambda x: np_eigh_vectors_squared(x + x.T) * np.linalg.eigvalsh(x + x.T), [(4, 4)]),
    "qr_tall": Case(lambda x: qr_invariant(lib(x), x), np_qr_invariant, [(5, 3)]),
    "qr_square_batch": Case(lambda x: qr_invariant(lib(x), x), np_qr_invariant, [(2, 4, 4)]),
    "qr_wide": Case(lambda x: qr_invariant(lib(x), x), np_qr_invariant, [(3, 5)]),
    "qr_wide_complete": Case(lambda x: qr_invariant(lib(x), x, "complete"), lambda x: np_qr_invariant(x, "complete"),
                             [(3, 5)]),
    "cholesky": Case(lambda x: lib(x).linalg.cholesky(spd(x)), lambda x: np.linalg.cholesky(np_spd(x)), [(4, 4)]),
    "cholesky_upper": Case(lambda x: lib(x).linalg.cholesky(spd(x), upper=True),
                           lambda x: np.linalg.cholesky(np_spd(x)).T, [(3, 3)]),
    "matrix_exp": Case(lambda x: x.matrix_exp(), np_expm, [(4, 4)]),
    "matrix_exp_batch": Case(lambda x: lib(x).linalg.matrix_exp(x * 3), lambda x: np_expm(x * 3), [(2, 3, 3)]),
    "lstsq": Case(lambda a, b: lib(a).linalg.lstsq(a, b).solution, lambda a, b: np.linalg.lstsq(a, b)[0],
                  [(5, 3), (5, 2)]),
}


def np_diagonal_scatter(x, s, offset):
    out = x.copy()
    rows = np.arange(len(s))
    out[rows, rows + offset] = s
    return out


def np_select_scatter(x, s, dim, index):
    out = x.copy()
    np.moveaxis(out, dim, 0)[index] = s
    return out


def np_slice_scatter(x, s):
    out = x.copy()
    out[:, 1::2] = s
    return out


def np_fill_diagonal(x, value):
    out = x.copy()
    np.fill_diagonal(out, value)
    return out


def call(fn, *args):
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # chain_matmul's deprecation
        return fn(*args)


@pytest.mark.parametrize("name", CASES)
def test_forward_matches_reference(name, rng):
    case = CASES[name]
    assert_forward(lambda *xs: call(case.fn, *xs), case.ref, case_arrays(rng, case), atol=1e-11)


@pytest.mark.parametrize("layout", LAYOUTS)
@pytest.mark.parametrize("name", CASES)
def test_gradcheck(name, layout, rng):
    case = CASES[name]
    check(lambda *xs: call(case.fn, *xs), case_arrays(rng, case, layout))


@pytest.mark.parametrize("name", [n for n, c in CASES.items() if c.twice])
def test_second_derivative(name, rng):
    case = CASES[name]
    check_second(lambda *xs: call(case.fn, *xs), case_arrays(rng, case), rng)


# --- accuracy and edge values of the special functions ---------------------------------------------------

GRID = np.concatenate([np.geomspace(1e-8, 1e6, 60), -np.geomspace(1e-6, 300, 40) - 0.3])


@pytest.mark.parametrize("name, fn, ref", [
    ("lgamma", nnkit.lgamma, lambda v: mpmath.log(abs(mpmath.gamma(v)))),
    ("digamma", nnkit.digamma, mpmath.digamma),
    ("polygamma1", lambda t: nnkit.polygamma(1, t), lambda v: mpmath.polygamma(1, v)),
    ("polygamma4", lambda t: nnkit.polygamma(4, t), lambda v: mpmath.polygamma(4, v)),
])
def test_gamma_family_is_accurate_to_float64(name, fn, ref):
    x = GRID if name != "polygamma4" else GRID[GRID > -30]  # far left, the poles crowd out float64's accuracy
    got = fn(nnkit.tensor(x)).numpy()
    want = vectorize(ref)(x)
    np.testing.assert_allclose(got, want, rtol=5e-13, atol=5e-15)


@pytest.mark.parametrize("order", [0, 1])
@pytest.mark.parametrize("scaled", [False, True])
def test_bessel_functions_are_accurate_to_float64(order, scaled):
    x = np.concatenate([np.linspace(-40, 40, 81), [0.0, 1e-9, 29.999, 30.001, 300.0, 700.0]])
    fn = {(0, False): nnkit.i0, (1, False): nnkit.special.i1, (0, True): nnkit.special.i0e,
          (1, True): nnkit.special.i1e}[order, scaled]
    np.testing.assert_allclose(fn(nnkit.tensor(x)).numpy(), np_besseli(order, scaled)(x), rtol=1e-14, atol=1e-300)


def test_gamma_family_at_poles_and_infinities_as_pytorch():
    x = nnkit.tensor([0.0, -0.0, -1.0, -2.0, math.inf, -math.inf, math.nan])
    np.testing.assert_array_equal(nnkit.lgamma(x).numpy(), [math.inf] * 6 + [math.nan])
    np.testing.assert_array_equal(nnkit.digamma(x).numpy(),
                                  [-math.inf, math.inf, math.nan, math.nan, math.inf, math.nan, math.nan])
    np.testing.assert_array_equal(nnkit.polygamma(1, x[:1]).numpy(), [math.inf])
    np.testing.assert_array_equal(nnkit.polygamma(2, x[:1]).numpy(), [-math.inf])
    assert nnkit.i0(nnkit.tensor([800.0])).item() == math.inf


def test_special_functions_of_integers_give_float32_and_keep_float_dtypes():
    assert nnkit.lgamma(nnkit.tensor([1, 2])).dtype == nnkit.float32
    assert nnkit.mvlgamma(nnkit.tensor([1, 2]), 2).dtype == nnkit.float32
    assert nnkit.i0(nnkit.tensor([1.0], dtype=nnkit.float64)).dtype == nnkit.float64
    half = nnkit.digamma(nnkit.tensor([1.0], dtype=nnkit.float16))
    assert half.dtype == nnkit.float16 and abs(half.item() + 0.5772) < 1e-3


def test_special_functions_in_place():
    x = nnkit.tensor([0.5, 3.0])
    assert x.lgamma_() is x
    np.testing.assert_allclose(x.numpy(), [math.lgamma(0.5), math.lgamma(3.0)], rtol=1e-6)
    y = nnkit.tensor([2.0])
    y.polygamma_(1)
    np.testing.assert_allclose(y.numpy(), [math.pi ** 2 / 6 - 1], rtol=1e-6)
    with pytest.raises(RuntimeError, match="can't be cast"):
        nnkit.tensor([1, 2]).digamma_()


def test_special_argument_errors():
    with pytest.raises(RuntimeError, match="negative n"):
        nnkit.polygamma(-1, nnkit.tensor([1.0]))
    with pytest.raises(TypeError):
        nnkit.polygamma(1.5, nnkit.tensor([1.0]))
    with pytest.raises(RuntimeError, match="p has to be greater than or equal to 1"):
        nnkit.mvlgamma(nnkit.tensor([1.0]), 0)
    with pytest.raises(TypeError, match="must be a Tensor"):
        nnkit.lgamma(1.0)


def test_zeta_and_its_gradient_in_x_is_refused():
    x = nnkit.tensor([2.0, 4.0, 1.0, 0.5], requires_grad=True)
    out = nnkit.special.zeta(x, 1.0)
    np.testing.assert_allclose(out.detach().numpy()[:2], [math.pi ** 2 / 6, math.pi ** 4 / 90], rtol=1e-6)
    assert out[2].item() == math.inf and math.isnan(out[3].item())
    with pytest.raises(RuntimeError, match="not implemented"):
        out[:2].sum().backward()


def test_log_ndtr_far_in_the_tail_and_the_special_names():
    x = nnkit.tensor([-40.0, -12.0, -10.0, 0.0, 5.0], dtype=nnkit.float64)
    np.testing.assert_allclose(nnkit.special.log_ndtr(x).numpy(), np_log_ndtr(x.numpy()), rtol=1e-12)
    special = nnkit.special
    assert special.expit is nnkit.sigmoid and special.gammaln is nnkit.lgamma and special.psi is nnkit.digamma
    assert special.multigammaln is nnkit.mvlgamma and special.erf is nnkit.erf and special.xlogy is nnkit.xlogy
    assert special.entr(nnkit.tensor([0.0, -1.0])).tolist() == [0.0, -math.inf]
    assert special.xlog1py(nnkit.tensor([0.0, 2.0]), nnkit.tensor([-1.0, 1.0])).tolist() == pytest.approx(
        [0.0, 2 * math.log(2)])


# --- numbers, indices and combinatorics --------------------------------------------------------------

def test_gcd_lcm_on_integers_only():
    a, b = nnkit.tensor([4, -6, 0, 9]), nnkit.tensor([6, 4, 0, 0])
    assert nnkit.gcd(a, b).tolist() == [2, 2, 0, 9]
    assert a.lcm(b).tolist() == [12, 12, 0, 0]
    c = nnkit.tensor([12, 18])
    c.gcd_(nnkit.tensor([8]))
    assert c.tolist() == [4, 2]
    with pytest.raises(NotImplementedError, match="gcd"):
        nnkit.gcd(nnkit.tensor([4.0]), nnkit.tensor([6.0]))
    with pytest.raises(RuntimeError, match="cannot be broadcast"):
        nnkit.lcm(nnkit.tensor([1, 2]), nnkit.tensor([1, 2, 3]))


def test_ldexp_dtypes_and_nextafter():
    assert nnkit.ldexp(nnkit.tensor([1, 2]), nnkit.tensor([1, 2])).tolist() == [2.0, 8.0]
    assert nnkit.ldexp(nnkit.tensor([1, 2]), nnkit.tensor([1, 2])).dtype == nnkit.float32
    assert nnkit.ldexp(nnkit.tensor([1.0], dtype=nnkit.float16), nnkit.tensor([3])).dtype == nnkit.float16
    x = nnkit.tensor([1.0, 2.0], dtype=nnkit.float64, requires_grad=True)
    out = nnkit.nextafter(x, nnkit.tensor([2.0, 1.0], dtype=nnkit.float64))
    np.testing.assert_array_equal(out.detach().numpy(), np.nextafter([1.0, 2.0], [2.0, 1.0]))
    out.sum().backward()
    assert x.grad.tolist() == [1.0, 1.0]
    with pytest.raises(NotImplementedError):
        nnkit.nextafter(nnkit.tensor([1]), nnkit.tensor([2]))


def test_result_type_and_isin():
    assert nnkit.result_type(nnkit.tensor([1]), 1.0) is nnkit.float32
    assert nnkit.result_type(2, 3) is nnkit.int64 and nnkit.result_type(2, 1.0) is nnkit.float32
    assert nnkit.result_type(nnkit.tensor(1.0, dtype=nnkit.float64), nnkit.tensor([1], dtype=nnkit.int32)) \
        is nnkit.float64
    assert nnkit.isin(nnkit.tensor([1, 2, 3]), nnkit.tensor([2, 5])).tolist() == [False, True, False]
    assert nnkit.isin(nnkit.tensor([[1, 2], [3, 4]]), 2, invert=True).tolist() == [[True, False], [True, True]]
    assert nnkit.isin(2, nnkit.tensor([1, 2])).item() is True


def test_range_includes_its_end_and_warns():
    with pytest.warns(UserWarning, match="deprecated"):
        r = nnkit.range(1, 4)
    assert r.tolist() == [1.0, 2.0, 3.0, 4.0] and r.dtype == nnkit.float32
    with pytest.warns(UserWarning):
        assert nnkit.range(4, 1, -1.5).tolist() == [4.0, 2.5, 1.0]
        assert nnkit.range(0, 3, dtype=nnkit.int64).tolist() == [0, 1, 2, 3]
        with pytest.raises(RuntimeError, match="inconsistent"):
            nnkit.range(4, 1)
        with pytest.raises(RuntimeError, match="nonzero"):
            nnkit.range(0, 1, 0)


def test_triangle_indices_and_unravel_index():
    assert nnkit.tril_indices(3, 4, -1).tolist() == [[1, 2, 2], [0, 0, 1]]
    assert nnkit.triu_indices(4, 3, 1).tolist() == [[0, 0, 1], [1, 2, 2]]
    assert nnkit.triu_indices(0, 3).shape == (2, 0)
    assert nnkit.tril_indices(3, 3, dtype=nnkit.int32).dtype == nnkit.int32
    with pytest.raises(NotImplementedError):
        nnkit.tril_indices(3, 3, dtype=nnkit.float32)
    rows, cols = nnkit.unravel_index(nnkit.tensor([4, 1, -1]), (2, 3))
    assert rows.tolist() == [1, 0, 1] and cols.tolist() == [1, 1, 2]
    assert [t.shape for t in nnkit.unravel_index(nnkit.tensor(4), (2, 3))] == [(), ()]
    with pytest.raises(TypeError, match="integer"):
        nnkit.unravel_index(nnkit.tensor([1.0]), (2, 3))


def test_combinatorics_edge_cases():
    x = nnkit.tensor([1, 2, 3])
    assert nnkit.combinations(x, 0).shape == (0,) and nnkit.combinations(x, 4).shape == (0, 4)
    assert nnkit.cartesian_prod(x) is x
    assert nnkit.block_diag().shape == (1, 0)
    assert nnkit.block_diag(nnkit.tensor([[1, 2]]), nnkit.tensor([3.0])).dtype == nnkit.float32
    assert nnkit.vander(x).dtype == nnkit.int64 and nnkit.vander(x, 0).shape == (3, 0)
    for bad in (lambda: nnkit.combinations(nnkit.ones(1, 3)), lambda: nnkit.block_diag(nnkit.ones(2, 2, 2)),
                lambda: nnkit.vander(nnkit.ones(2, 2)), lambda: nnkit.combinations(x, -1)):
        with pytest.raises(RuntimeError):
            bad()


def test_vander_gradient_is_exact_at_zero():
    x = nnkit.tensor([0.0, 2.0], dtype=nnkit.float64, requires_grad=True)
    nnkit.vander(x, 4).sum().backward()
    assert x.grad.tolist() == [1.0, 1 + 4 + 12]  # d/dx (x³ + x² + x + 1) = 3x² + 2x + 1


# --- statistics and calculus: errors and warnings ------------------------------------------------------

def test_cov_checks_its_weights_and_warns_without_degrees_of_freedom():
    x = nnkit.ones(2, 3)
    for kwargs, message in [({"fweights": nnkit.tensor([1.0, 2.0, 1.0])}, "integral"),
                            ({"fweights": nnkit.tensor([-1, 2, 1])}, "negative"),
                            ({"aweights": nnkit.tensor([1, 2, 1])}, "floating point"),
                            ({"aweights": nnkit.tensor([1.0, 2.0])}, "same numel")]:
        with pytest.raises(RuntimeError, match=message):
            nnkit.cov(x, **kwargs)
    with pytest.raises(RuntimeError, match="two or fewer"):
        nnkit.cov(nnkit.ones(2, 2, 2))
    with pytest.warns(UserWarning, match="degrees of freedom"):
        assert np.isnan(nnkit.cov(nnkit.ones(2, 1)).numpy()).all()
    assert nnkit.cov(nnkit.tensor([1, 2, 4])).item() == pytest.approx(7 / 3)
    assert nnkit.corrcoef(nnkit.tensor([1.0, 2.0, 4.0])).item() == 1.0


def test_diff_of_bools_is_exclusive_or_and_its_errors():
    assert nnkit.diff(nnkit.tensor([True, False, False])).tolist() == [True, False]
    assert nnkit.diff(nnkit.tensor([1, 2]), prepend=nnkit.tensor([1.0])).dtype == nnkit.float32
    assert nnkit.diff(nnkit.ones(2, 3), n=5).shape == (2, 0)
    with pytest.raises(RuntimeError, match="at least one-dimensional"):
        nnkit.diff(nnkit.tensor(1.0))
    with pytest.raises(RuntimeError, match="non-negative"):
        nnkit.diff(nnkit.ones(3), n=-1)
    with pytest.raises(RuntimeError, match="same dimension"):
        nnkit.diff(nnkit.ones(2, 3), prepend=nnkit.ones(2))
    with pytest.raises(TypeError):
        nnkit.diff(nnkit.ones(3), prepend=3)


def test_gradient_argument_errors():
    x = nnkit.ones(3, 4)
    assert nnkit.gradient(nnkit.tensor([1, 2, 4, 8]))[0].tolist() == [1.0, 1.5, 3.0, 4.0]
    for kwargs, error in [({"edge_order": 3}, RuntimeError), ({"spacing": [2.0]}, RuntimeError),
                          ({"spacing": [2.0, nnkit.tensor(3.0)]}, TypeError),
                          ({"spacing": nnkit.tensor([1.0, 2.0, 3.0])}, TypeError)]:
        with pytest.raises(error):
            nnkit.gradient(x, **kwargs)
    with pytest.raises(RuntimeError, match="edge_order"):
        nnkit.gradient(nnkit.ones(2), edge_order=2)


def test_trapezoid_edge_cases():
    assert nnkit.trapezoid(nnkit.tensor([1, 2, 4])).item() == 4.5
    assert nnkit.trapezoid(nnkit.ones(0)).item() == 0.0
    assert nnkit.cumulative_trapezoid(nnkit.ones(3, 1)).shape == (3, 0)
    with pytest.raises(RuntimeError, match="one `x` value for each sample"):
        nnkit.trapezoid(nnkit.ones(2, 3), nnkit.tensor([0.0, 1.0]))
    with pytest.raises(TypeError):
        nnkit.trapezoid(nnkit.ones(3), 2)
    with pytest.raises(TypeError):
        nnkit.trapezoid(nnkit.ones(3), nnkit.ones(3), dx=1.0)


def test_cdist_pdist_renorm_errors():
    for bad in (lambda: nnkit.cdist(nnkit.ones(3), nnkit.ones(2, 3)),
                lambda: nnkit.cdist(nnkit.ones(2, 3), nnkit.ones(2, 4)),
                lambda: nnkit.cdist(nnkit.ones(2, 3, dtype=nnkit.int64), nnkit.ones(2, 3, dtype=nnkit.int64)),
                lambda: nnkit.pdist(nnkit.ones(3), 2), lambda: nnkit.renorm(nnkit.ones(3), 2, 0, 1),
                lambda: nnkit.renorm(nnkit.ones(2, 2), -1, 0, 1), lambda: nnkit.renorm(nnkit.ones(2, 2), 2, 0, -1)):
        with pytest.raises(RuntimeError):
            bad()
    with pytest.raises(ValueError, match="compute_mode"):
        nnkit.cdist(nnkit.ones(2, 3), nnkit.ones(2, 3), compute_mode="fast")
    with pytest.warns(UserWarning, match="deprecated"):
        with pytest.raises(RuntimeError):
            nnkit.chain_matmul(nnkit.ones(3))


def test_cdist_gradient_is_zero_at_zero_distance():
    x = nnkit.tensor([[1.0, 2.0]], dtype=nnkit.float64, requires_grad=True)
    nnkit.cdist(x, x.detach()).sum().backward()
    assert x.grad.tolist() == [[0.0, 0.0]]


# --- memory: strides, storage, views, in-place methods --------------------------------------------------

def test_strides_and_storage_offsets_in_elements():
    a = nnkit.arange(12.0).reshape(3, 4)
    assert a.stride() == (4, 1) and a.t().stride() == (1, 4) and a[:, ::2].stride() == (4, 2)
    assert a.stride(1) == 1 and a.stride(-2) == 4 and nnkit.tensor(1.0).stride() == ()
    assert nnkit.zeros(1, 3).expand(4, 3).stride() == (0, 1)
    assert a[1:].storage_offset() == 4 and a[1:, 2:].storage_offset() == 6 and a.storage_offset() == 0
    assert a[1:].data_ptr() == a.data_ptr() + 4 * a.element_size()
    assert a.is_contiguous() and not a.t().is_contiguous() and a[:1].is_contiguous()
    assert (a.get_device(), a.ndimension(), a.nelement(), a.is_pinned()) == (-1, 2, 12, False)
    assert a.pin_memory() is a
    with pytest.raises(IndexError):
        a.stride(2)


def test_as_strided_is_a_view_of_the_storage():
    a = nnkit.arange(12.0).reshape(3, 4)
    view = nnkit.as_strided(a[1:], (2, 2), (1, 2))
    assert view.tolist() == [[4.0, 6.0], [5.0, 7.0]]
    assert nnkit.as_strided(a[1:], (2, 2), (1, 2), 0).tolist() == [[0.0, 2.0], [1.0, 3.0]]
    view[0, 0] = 100.0
    assert a[1, 0].item() == 100.0 and a._version == view._version == 1
    for size, stride, offset in [((2, 2), (1, 2), 20), ((2,), (1, 2), None), ((2, 2), (-1, 2), None),
                                 ((2, 2), (1, 2), -1)]:
        with pytest.raises(RuntimeError):
            nnkit.as_strided(a, size, stride, offset)


def test_as_strided_gradient_adds_overlapping_reads():
    x = nnkit.arange(12.0).reshape(3, 4).requires_grad_()
    nnkit.as_strided(x, (3, 3), (1, 1)).backward(nnkit.arange(9.0).reshape(3, 3))
    assert x.grad.tolist() == [[0.0, 4.0, 12.0, 12.0], [8.0, 0.0, 0.0, 0.0], [0.0] * 4]
    x.grad = None
    nnkit.as_strided(x[1:], (2, 2), (1, 1), 0).backward(nnkit.ones(2, 2))  # reads outside x[1:]
    assert x.grad.tolist() == [[0.0] * 4] * 3


def test_scatter_copies_check_the_shape_of_src():
    z = nnkit.zeros(3, 4)
    out = nnkit.diagonal_scatter(z, nnkit.ones(3, dtype=nnkit.int64))
    assert out.dtype == nnkit.float32 and out.diagonal().tolist() == [1.0] * 3 and z.sum().item() == 0
    assert nnkit.slice_scatter(z, nnkit.ones(1, 4), start=-1)[2].tolist() == [1.0] * 4
    for bad, error in [(lambda: nnkit.diagonal_scatter(z, nnkit.ones(2), 1), RuntimeError),
                       (lambda: nnkit.select_scatter(z, nnkit.ones(1, 4), 0, 1), RuntimeError),
                       (lambda: nnkit.select_scatter(z, nnkit.ones(4), 0, 5), IndexError),
                       (lambda: nnkit.slice_scatter(z, nnkit.ones(2, 4)), RuntimeError),
                       (lambda: nnkit.slice_scatter(z, nnkit.ones(1, 4), 0, 1, 2, 0), RuntimeError)]:
        with pytest.raises(error):
            bad()


def test_in_place_view_methods_change_the_tensor_and_its_version():
    x = nnkit.zeros(2, 1, 3)
    assert x.squeeze_() is x and x.shape == (2, 3) and x._version == 1
    x.unsqueeze_(0).transpose_(0, 2)
    assert x.shape == (3, 2, 1) and x.stride() == (1, 3, 6)
    with pytest.raises(RuntimeError, match="<= 2 dimensions"):
        x.t_()
    leaf = nnkit.zeros(2, 1, requires_grad=True)
    with pytest.raises(RuntimeError, match="leaf"):
        leaf.squeeze_()


def test_resize_keeps_the_first_elements():
    b = nnkit.arange(6.0)
    assert b.resize_(2, 2).tolist() == [[0.0, 1.0], [2.0, 3.0]]
    assert nnkit.arange(6.0).resize_((2, 4)).reshape(-1)[:6].tolist() == [0.0, 1.0, 2.0, 3.0, 4.0, 5.0]
    with pytest.raises(RuntimeError, match="require grad"):
        nnkit.ones(2, requires_grad=True).resize_(1)


def test_sum_to_size_needs_an_expandable_size():
    assert nnkit.ones(3, 4).sum_to_size(4).tolist() == [3.0] * 4
    for size in [(2, 4), (1, 1, 4)]:
        with pytest.raises(RuntimeError, match="not expandable"):
            nnkit.ones(3, 4).sum_to_size(*size)


def test_apply_and_fill_diagonal():
    assert nnkit.arange(4).apply_(lambda v: v * 3).tolist() == [0, 3, 6, 9]
    assert nnkit.arange(4).apply_(lambda v: v / 2).tolist() == [0, 0, 1, 1]  # cast back to int64
    with pytest.raises(RuntimeError, match="requires grad"):
        (nnkit.ones(2, requires_grad=True) * 1).apply_(abs)
    tall = nnkit.zeros(7, 3).fill_diagonal_(5, wrap=True)
    assert tall[:, 0].tolist() == [5.0, 0, 0, 0, 5.0, 0, 0]
    assert nnkit.zeros(7, 3).fill_diagonal_(5)[4:].sum().item() == 0
    cube = nnkit.zeros(2, 2, 2).fill_diagonal_(5)
    assert cube[0, 0, 0].item() == cube[1, 1, 1].item() == 5 and cube.sum().item() == 10
    assert nnkit.zeros(2, 2, dtype=nnkit.int64).fill_diagonal_(5.7).tolist() == [[5, 0], [0, 5]]
    with pytest.raises(RuntimeError):
        nnkit.zeros(2, 3, 2).fill_diagonal_(1)
    with pytest.raises(RuntimeError):
        nnkit.zeros(2).fill_diagonal_(1)


def test_log_normal_and_cauchy_samples():
    nnkit.manual_seed(0)
    logs = nnkit.empty(20000, dtype=nnkit.float64).log_normal_(1.0, 0.5).log()
    assert abs(logs.mean().item() - 1.0) < 0.02 and abs(logs.std().item() - 0.5) < 0.02
    draws = nnkit.empty(20000, dtype=nnkit.float64).cauchy_(2.0, 3.0)
    quartiles = np.quantile(draws.numpy(), [0.25, 0.5, 0.75])
    np.testing.assert_allclose(quartiles, [-1.0, 2.0, 5.0], atol=0.2)  # median ± sigma
    for bad in (lambda: nnkit.empty(3).log_normal_(1, 0), lambda: nnkit.empty(3).cauchy_(0, -1),
                lambda: nnkit.empty(3, dtype=nnkit.int64).cauchy_()):
        with pytest.raises(RuntimeError):
            bad()
    assert nnkit.tensor([0.0, 1.0]).multinomial(3, True).tolist() == [1, 1, 1]


# --- linear algebra: values and errors ---------------------------------------------------------------

def test_decomposition_results_are_named_and_shaped_as_pytorch():
    a = nnkit.randn(5, 3, dtype=nnkit.float64)
    U, S, Vh = nnkit.linalg.svd(a)
    assert (U.shape, S.shape, Vh.shape) == ((5, 5), (3,), (3, 3))
    np.testing.assert_allclose((U[:, :3] * S @ Vh).numpy(), a.numpy(), atol=1e-12)
    old = nnkit.svd(a, compute_uv=False)
    assert old.U.shape == (5, 5) and old.V.shape == (3, 3) and old.U.abs().sum().item() == 0
    q, r = nnkit.linalg.qr(a, mode="r")
    assert q.shape == (0,) and r.shape == (3, 3)
    sign, logabsdet = nnkit.slogdet(nnkit.zeros(2, 2))
    assert sign.item() == 0 and logabsdet.item() == -math.inf
    assert nnkit.logdet(-nnkit.eye(3)).isnan().item()
    assert nnkit.det(nnkit.zeros(0, 0)).item() == 1.0
    assert nnkit.linalg.matrix_rank(a).item() == 3 and nnkit.linalg.matrix_rank(a @ a.mT).item() == 3
    np.testing.assert_allclose(nnkit.linalg.matrix_exp(nnkit.zeros(2, 2)).numpy(), np.eye(2))


def test_lstsq_drivers_fill_their_fields():
    a, b = nnkit.randn(5, 3, dtype=nnkit.float64), nnkit.randn(5, 2, dtype=nnkit.float64)
    default = nnkit.linalg.lstsq(a, b)
    assert default.rank.item() == 3 and default.residuals.shape == (0,) and default.singular_values.shape == (0,)
    full = nnkit.linalg.lstsq(a, b, driver="gelsd")
    want_x, want_res, _, want_s = np.linalg.lstsq(a.numpy(), b.numpy(), rcond=None)
    np.testing.assert_allclose(full.solution.numpy(), want_x, atol=1e-12)
    np.testing.assert_allclose(full.residuals.numpy(), want_res, atol=1e-12)
    np.testing.assert_allclose(full.singular_values.numpy(), want_s, atol=1e-12)
    assert nnkit.linalg.lstsq(a, b[:, 0]).solution.shape == (3,)
    with pytest.raises(RuntimeError, match="driver"):
        nnkit.linalg.lstsq(a, b, driver="fast")


def test_linalg_errors():
    for bad in (lambda: nnkit.det(nnkit.ones(2, 3)), lambda: nnkit.det(nnkit.ones(3)),
                lambda: nnkit.linalg.svd(nnkit.ones(2, 2, dtype=nnkit.int64)),
                lambda: nnkit.linalg.eigh(nnkit.eye(2), "X"), lambda: nnkit.linalg.qr(nnkit.eye(2), "full")):
        with pytest.raises(RuntimeError):
            bad()
    with pytest.raises(nnkit.linalg.LinAlgError, match="positive-definite"):
        nnkit.linalg.cholesky(-nnkit.eye(2))
    with pytest.warns(UserWarning, match="deprecated"):
        nnkit.cholesky(nnkit.eye(2))
    a = nnkit.randn(3, 2, dtype=nnkit.float64, requires_grad=True)
    with pytest.raises(RuntimeError, match="mode='r'"):
        nnkit.linalg.qr(a, mode="r").R.sum().backward()
    with pytest.raises(RuntimeError, match="complete"):
        nnkit.linalg.qr(a, mode="complete").Q.sum().backward()


def test_only_used_outputs_of_a_decomposition_reach_its_backward():
    """svd's S alone has a gradient even for repeated singular values (U and Vh get none)."""
    x = nnkit.eye(3, dtype=nnkit.float64, requires_grad=True)
    nnkit.linalg.svd(x).S.sum().backward()
    np.testing.assert_allclose(x.grad.numpy(), np.eye(3), atol=1e-12)
