"""nnkit against PyTorch for the special functions, the misc family, the decompositions and
the memory methods.

``CASES`` of ``test_ops_misc.py`` (every differentiable op) must agree with torch in
float32: forward values, first and second derivatives. ``RESULTS`` below are calls (edge
cases and bad arguments included) whose results must agree in shape, dtype and values, or
that must raise the same kind of error in both libraries. Skipped without PyTorch.
"""

import math
import warnings

import numpy as np
import pytest

import nnkit
from test_ops_gradcheck import make_array
from test_ops_misc import CASES
from test_torch_parity_ops import dense
from test_torch_shape_linalg import assert_same_outcome, outcome

torch = pytest.importorskip("torch")
pytestmark = pytest.mark.torch

# PyTorch has no second derivative for these (cdist's and pdist's backward are not differentiable),
# and torch.vander has no working backward at all (an in-place cumprod): only nnkit's are checked,
# in test_ops_misc.py, and here what PyTorch has
TORCH_FIRST_ONLY = {"cdist", "cdist_p1_broadcast", "cdist_p3", "cdist_inf", "pdist", "pdist_p1_5"}
TORCH_FORWARD_ONLY = {"vander", "vander_increasing"}


def derivatives64(lib, fn, arrays, twice: bool) -> list:
    """[forward, first derivative, second derivative] of fn in float64, as arrays: the first is
    d<v, fn(x)>/dx for a random v, the second the gradient of <w, first> in x and v."""
    rng = np.random.default_rng(0)
    xs = [lib.tensor(a, requires_grad=True) for a in arrays]
    outs = fn(*xs)
    outs = list(outs) if isinstance(outs, (tuple, list)) else [outs]
    vs = [lib.tensor(rng.standard_normal(o.shape), requires_grad=True) for o in outs]
    first = lib.autograd.grad(outs, xs, vs, create_graph=twice, allow_unused=True)
    results = [[o.detach().numpy() for o in outs], [dense(g, x).astype(np.float64) for g, x in zip(first, xs)]]
    if twice:
        total = sum((g * lib.tensor(rng.standard_normal(x.shape))).sum() for g, x in zip(first, xs) if g is not None)
        second = lib.autograd.grad(total, xs + vs, allow_unused=True)
        results.append([dense(g, t).astype(np.float64) for g, t in zip(second, xs + vs)])
    return results


@pytest.mark.parametrize("name", CASES)
def test_op_matches_torch(name, rng):
    """In float64, where both libraries are accurate enough to agree closely (in float32
    PyTorch's own rounding in the special functions' tails and the decompositions' second
    derivatives is above 1e-4)."""
    case = CASES[name]
    domains = case.domains or "r" * len(case.shapes)
    arrays = [make_array(rng, s, d) for s, d in zip(case.shapes, domains)]
    twice = case.twice and name not in TORCH_FIRST_ONLY
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        if name in TORCH_FORWARD_ONLY:
            assert_same_outcome(outcome(lambda L: case.fn(*[L.tensor(a) for a in arrays]), nnkit),
                                outcome(lambda L: case.fn(*[L.tensor(a) for a in arrays]), torch))
            return
        mine, theirs = derivatives64(nnkit, case.fn, arrays, twice), derivatives64(torch, case.fn, arrays, twice)
    for order, (got, want) in enumerate(zip(mine, theirs)):
        for g, w in zip(got, want):
            assert g.shape == w.shape and (order or g.dtype == w.dtype)
            np.testing.assert_allclose(g, w, rtol=1e-7, atol=1e-9, err_msg=f"derivative of order {order}")


# --- special functions in float64, edge values included --------------------------------------------------

EDGES = [0.0, -0.0, -1.0, -2.0, -2.5, 1e-300, 1e-8, 0.5, 1.0, 2.0, 3.3, 29.9, 30.1, 171.5, 1e5, math.inf, -math.inf,
         math.nan]


@pytest.mark.parametrize("name", ["lgamma", "digamma", "i0", "special.i0e", "special.i1", "special.i1e",
                                  "special.ndtr", "special.log_ndtr", "special.entr", "special.gammaln",
                                  "special.psi", "special.expit", "special.erfc"])
def test_special_function_values_match_torch(name):
    def fn(L):
        f = L
        for part in name.split("."):
            f = getattr(f, part)
        return f(L.tensor(EDGES, dtype=L.float64))
    mine, theirs = fn(nnkit).numpy(), fn(torch).numpy()
    np.testing.assert_allclose(mine, theirs, rtol=1e-9, atol=1e-300)


@pytest.mark.parametrize("n", [1, 2, 3, 6])
def test_polygamma_matches_torch(n):
    x = [-2.5, -0.5, 1e-3, 0.5, 1.0, 2.0, 3.3, 12.0, 1e3]
    mine = nnkit.polygamma(n, nnkit.tensor(x, dtype=nnkit.float64)).numpy()
    theirs = torch.polygamma(n, torch.tensor(x, dtype=torch.float64)).numpy()
    np.testing.assert_allclose(mine, theirs, rtol=1e-8)  # torch's own error is ~1e-10 here


# --- strides and storage of views ----------------------------------------------------------------------

VIEWS = [lambda t: t, lambda t: t.t(), lambda t: t[1:], lambda t: t[:, ::2], lambda t: t[1:, 2:],
         lambda t: t.unsqueeze(1), lambda t: t[:, :1], lambda t: t[:1].expand(4, 4), lambda t: t.diagonal(),
         lambda t: t.reshape(2, 2, 4).permute(2, 0, 1), lambda t: t[2], lambda t: t[1, 1]]


@pytest.mark.parametrize("view", VIEWS, ids=lambda f: f"line{f.__code__.co_firstlineno}")
def test_strides_and_storage_match_torch(view):
    def describe(L):
        v = view(L.arange(16.0).reshape(4, 4))
        return v.stride(), v.storage_offset(), v.is_contiguous(), v.ndimension(), v.nelement()
    assert describe(nnkit) == describe(torch)


# --- results and errors of single calls -------------------------------------------------------------------

def name(dtype) -> str:
    """A dtype's name without its library (nnkit.float32 and torch.float32 are both float32)."""
    return str(dtype).rpartition(".")[2]


def mat(L):
    return L.tensor(np.array([[0.0, 1, 2, 4], [2, 1, 0.5, 3], [1, 1, 1, 1]], dtype=np.float32))


def ints(L):
    return L.tensor([4, -6, 0, 9])


def spd3(L):
    return L.tensor(np.array([[4.0, 1, 0.5], [1, 3, 0.2], [0.5, 0.2, 2]], dtype=np.float32))


RESULTS = [
    # numbers
    lambda L: L.gcd(ints(L), L.tensor([6, 4, 0, 0])),
    lambda L: L.lcm(ints(L), L.tensor([6, 4, 5, 0])),
    lambda L: L.gcd(ints(L), L.tensor(6)),
    lambda L: L.gcd(ints(L).int(), L.tensor([6, 4, 0, 0])),
    lambda L: L.gcd(mat(L), mat(L)),
    lambda L: L.gcd(L.tensor([True]), L.tensor([True])),
    lambda L: L.ldexp(L.tensor([1, 2]), L.tensor([1, 2])),
    lambda L: L.ldexp(mat(L).double(), L.tensor([1, 2, 3, 4])),
    lambda L: L.ldexp(mat(L).half(), L.tensor([1, 2, 3, 4])),
    lambda L: L.ldexp(mat(L).half(), L.tensor([1.0], dtype=L.float64)),
    lambda L: L.nextafter(mat(L), L.tensor(1.0)),
    lambda L: L.nextafter(ints(L), ints(L)),
    lambda L: mat(L).nextafter(mat(L).double()),
    lambda L: L.isin(ints(L), L.tensor([0, 9, 7])),
    lambda L: L.isin(ints(L), 9, invert=True),
    lambda L: L.isin(mat(L), L.tensor([1, 4])),
    lambda L: L.isin(3, ints(L)),
    lambda L: L.range(1, 4),
    lambda L: L.range(0, 1, 0.3),
    lambda L: L.range(4, 1, -1),
    lambda L: L.range(1, 4, dtype=L.int64),
    lambda L: L.range(4, 1),
    lambda L: L.range(0, 1, 0),
    # indices
    lambda L: L.tril_indices(3, 3),
    lambda L: L.tril_indices(3, 4, -1),
    lambda L: L.tril_indices(4, 3, 2),
    lambda L: L.triu_indices(4, 3, 1),
    lambda L: L.triu_indices(3, 5, -1),
    lambda L: L.triu_indices(0, 3),
    lambda L: L.tril_indices(3, 3, dtype=L.int32),
    lambda L: L.tril_indices(3, 3, dtype=L.float32),
    lambda L: L.unravel_index(L.tensor([4, 1, -1, 7, 100]), (2, 3)),
    lambda L: L.unravel_index(L.tensor(4), (2, 3)),
    lambda L: L.unravel_index(L.tensor([[5, 0]]), (3, 1, 2)),
    lambda L: L.unravel_index(L.tensor([1]), 3),
    lambda L: L.unravel_index(L.tensor([1.0]), (2, 3)),
    # combinatorics
    lambda L: L.vander(L.tensor([1, 2, 3])),
    lambda L: L.vander(L.tensor([1.0, 2, 3]), 2, True),
    lambda L: L.vander(L.tensor([1.0, 2, 3]), 0),
    lambda L: L.vander(L.tensor([1.0, 2, 3]), 1),
    lambda L: L.vander(mat(L)),
    lambda L: L.cartesian_prod(L.tensor([1, 2]), L.tensor([3, 4, 5])),
    lambda L: L.cartesian_prod(L.tensor([1, 2]), L.tensor([3, 4]), L.tensor([5, 6])),
    lambda L: L.cartesian_prod(L.tensor([1, 2])),
    lambda L: L.cartesian_prod(L.tensor([1, 2]), L.tensor([3.0, 4])),
    lambda L: L.combinations(L.tensor([1, 2, 3, 4])),
    lambda L: L.combinations(L.tensor([1, 2, 3]), 3, True),
    lambda L: L.combinations(L.tensor([1, 2, 3]), 0),
    lambda L: L.combinations(L.tensor([1, 2, 3]), 4),
    lambda L: L.combinations(L.tensor([1, 2, 3]), -1),
    lambda L: L.combinations(L.tensor([[1, 2, 3]])),
    lambda L: L.block_diag(L.tensor([[1, 2]]), L.tensor(3), L.tensor([4, 5]), L.ones(2, 0)),
    lambda L: L.block_diag(L.tensor([[1, 2]]), L.tensor([4.0, 5])),
    lambda L: L.block_diag(L.tensor([[1, 2]]), L.tensor([4, 5])),
    lambda L: L.block_diag(),
    lambda L: L.block_diag(L.ones(2, 2, 2)),
    lambda L: L.chain_matmul(L.ones(2, 3), L.ones(3, 2)),
    lambda L: L.chain_matmul(L.ones(2, 3)),
    lambda L: L.chain_matmul(L.ones(3)),
    # distances, statistics
    lambda L: L.cdist(mat(L), mat(L)[:2]),
    lambda L: L.cdist(mat(L), mat(L)[:2], 0),
    lambda L: L.cdist(mat(L), mat(L)[:2], 0.5),
    lambda L: L.cdist(mat(L).expand(2, 3, 4), mat(L)[:2]),
    lambda L: L.cdist(mat(L), mat(L)[:, :2]),
    lambda L: L.cdist(mat(L), mat(L), -1),
    lambda L: L.cdist(ints(L).reshape(2, 2), ints(L).reshape(2, 2)),
    lambda L: L.cdist(L.ones(3), L.ones(3)),
    lambda L: L.cdist(L.ones(0, 4), mat(L)),
    lambda L: L.pdist(mat(L)),
    lambda L: L.pdist(mat(L), 0),
    lambda L: L.pdist(mat(L), float("inf")),
    lambda L: L.pdist(mat(L)[:1]),
    lambda L: L.pdist(mat(L)[0]),
    lambda L: L.pdist(mat(L), -1),
    lambda L: L.nn.functional.pdist(mat(L), 3),
    lambda L: L.cov(mat(L)),
    lambda L: L.cov(mat(L)[0]),
    lambda L: L.cov(L.tensor([1, 2, 4])),
    lambda L: L.cov(mat(L), correction=0, fweights=L.tensor([1, 2, 1, 3]), aweights=L.tensor([0.5, 1, 2, 1])),
    lambda L: L.cov(mat(L), correction=2, aweights=L.tensor([0.5, 1, 2, 1])),
    lambda L: L.cov(mat(L), fweights=L.tensor([1.0, 2, 1, 1])),
    lambda L: L.cov(mat(L), fweights=L.tensor([-1, 2, 1, 1])),
    lambda L: L.cov(mat(L), aweights=L.tensor([-1.0, 2, 1, 1])),
    lambda L: L.cov(mat(L), aweights=L.tensor([1.0, 2, 1])),
    lambda L: L.cov(mat(L), fweights=L.ones(2, 4, dtype=L.int64)),
    lambda L: L.cov(L.ones(2, 1)),
    lambda L: L.cov(L.ones(2, 2, 2)),
    lambda L: L.cov(mat(L).double(), aweights=L.tensor([0.5, 1, 2, 1])),
    lambda L: L.cov(mat(L), aweights=L.tensor([0.5, 1, 2, 1], dtype=L.float64)),
    lambda L: L.corrcoef(mat(L)),
    lambda L: L.corrcoef(L.tensor([1, 2, 4])),
    lambda L: L.corrcoef(L.tensor([[1, 2, 4], [1, 1, 1.0]])),
    lambda L: mat(L).corrcoef(),
    # calculus on samples
    lambda L: L.diff(L.tensor([1, 4, 9, 16])),
    lambda L: L.diff(L.tensor([1, 4, 9, 16]), n=2, prepend=L.tensor([0]), append=L.tensor([25, 36])),
    lambda L: L.diff(L.tensor([True, False, False])),
    lambda L: L.diff(L.tensor([True, False, False]), 2),
    lambda L: L.diff(mat(L), dim=0),
    lambda L: L.diff(mat(L), n=0),
    lambda L: L.diff(mat(L), n=-1),
    lambda L: L.diff(mat(L), n=5),
    lambda L: L.diff(L.tensor(3.0)),
    lambda L: L.diff(mat(L), prepend=L.tensor([1.0, 2])),
    lambda L: L.diff(mat(L), prepend=L.tensor([[1.0], [2], [3]])),
    lambda L: L.diff(mat(L), dim=0, append=L.zeros(1, 4)),
    lambda L: L.diff(L.tensor([1, 2]), prepend=L.tensor([1.0])),
    lambda L: L.diff(mat(L), dim=2),
    lambda L: mat(L).diff(1, 0),
    lambda L: L.gradient(mat(L)),
    lambda L: L.gradient(L.tensor([1, 2, 4, 8])),
    lambda L: L.gradient(mat(L), spacing=2.0),
    lambda L: L.gradient(mat(L), spacing=2),
    lambda L: L.gradient(mat(L), spacing=[2.0, 3.0]),
    lambda L: L.gradient(mat(L), spacing=[2.0]),
    lambda L: L.gradient(mat(L), spacing=[L.tensor([0.0, 1, 3]), L.tensor([0.0, 1, 3, 4])]),
    lambda L: L.gradient(mat(L), spacing=[L.tensor([0.0, 1, 3]), L.tensor([0.0, 1, 3, 4])], edge_order=2),
    lambda L: L.gradient(mat(L), spacing=[L.tensor([0.0, 1, 3])], dim=0),
    lambda L: L.gradient(mat(L), spacing=[L.tensor([0.0, 1, 3]), L.tensor([0.0, 1, 3, 4])], dim=0),
    lambda L: L.gradient(mat(L), spacing=[2.0], dim=1),
    lambda L: L.gradient(mat(L), spacing=L.tensor(2.0)),
    lambda L: L.gradient(mat(L), spacing=[2.0, L.tensor(3.0)]),
    lambda L: L.gradient(mat(L), dim=1),
    lambda L: L.gradient(mat(L), dim=[1, 0]),
    lambda L: L.gradient(mat(L), edge_order=2),
    lambda L: L.gradient(mat(L), edge_order=3),
    lambda L: L.gradient(L.tensor([1.0])),
    lambda L: L.gradient(L.tensor([1.0, 2]), edge_order=2),
    lambda L: L.trapezoid(L.tensor([1.0, 2, 4])),
    lambda L: L.trapezoid(L.tensor([1, 2, 4])),
    lambda L: L.trapezoid(L.tensor([1.0, 2, 4]), dx=2),
    lambda L: L.trapezoid(L.tensor([1.0, 2, 4]), L.tensor([0.0, 1, 3])),
    lambda L: L.trapezoid(mat(L), L.tensor([0.0, 1, 3, 7])),
    lambda L: L.trapezoid(mat(L), L.tensor([0.0, 1, 3]), dim=0),
    lambda L: L.trapezoid(mat(L), mat(L)),
    lambda L: L.trapezoid(mat(L), mat(L)[0]),
    lambda L: L.trapezoid(mat(L), dim=0),
    lambda L: L.trapezoid(mat(L), L.tensor([0.0, 1])),
    lambda L: L.trapezoid(L.ones(0)),
    lambda L: L.trapezoid(L.ones(3, 0)),
    lambda L: L.trapz(mat(L), dx=2),
    lambda L: L.trapz(mat(L), L.tensor([0.0, 1, 3, 7])),
    lambda L: L.cumulative_trapezoid(L.tensor([1.0, 2, 4])),
    lambda L: L.cumulative_trapezoid(L.tensor([1, 2, 4])),
    lambda L: L.cumulative_trapezoid(mat(L), L.tensor([0.0, 1, 3, 4])),
    lambda L: L.cumulative_trapezoid(mat(L), dx=0.5, dim=0),
    lambda L: L.cumulative_trapezoid(L.ones(3, 0)),
    lambda L: L.cumulative_trapezoid(L.ones(3, 1)),
    lambda L: L.renorm(mat(L), 2, 0, 3),
    lambda L: L.renorm(mat(L), 1, 1, 2),
    lambda L: L.renorm(mat(L), float("inf"), 0, 2),
    lambda L: L.renorm(mat(L), 2, -1, 100),
    lambda L: L.renorm(mat(L), -1, 0, 3),
    lambda L: L.renorm(mat(L), 2, 0, -3),
    lambda L: L.renorm(L.tensor([1.0, 2]), 2, 0, 1),
    lambda L: mat(L).renorm(2, 1, 1),
    lambda L: name(L.result_type(L.tensor([1]), 1.0)),
    lambda L: name(L.result_type(2, 1.0)),
    lambda L: name(L.result_type(True, 2)),
    lambda L: name(L.result_type(L.tensor([1], dtype=L.int8), L.tensor(1000))),
    lambda L: name(L.result_type(L.tensor(1.0, dtype=L.float64), L.tensor([1], dtype=L.int32))),
    lambda L: name(L.result_type(L.tensor([1.0], dtype=L.float16), 1.0)),
    # copies of parts, views, memory methods
    lambda L: L.diagonal_scatter(L.zeros(3, 4), L.ones(3)),
    lambda L: L.diagonal_scatter(L.zeros(3, 4), L.ones(3), 1),
    lambda L: L.diagonal_scatter(L.zeros(3, 4), L.ones(2), -1),
    lambda L: L.diagonal_scatter(L.zeros(3, 4), L.ones(2), 1),
    lambda L: L.diagonal_scatter(L.zeros(2, 3, 4), L.ones(4, 2), 0, 0, 1),
    lambda L: L.diagonal_scatter(L.zeros(3, 4, dtype=L.int64), L.ones(3)),
    lambda L: L.select_scatter(L.zeros(3, 4), L.ones(4), 0, 1),
    lambda L: L.select_scatter(L.zeros(3, 4), L.ones(3), 1, -1),
    lambda L: L.select_scatter(L.zeros(3, 4), L.ones(1, 4), 0, 1),
    lambda L: L.select_scatter(L.zeros(3, 4), L.ones(4), 0, 5),
    lambda L: L.slice_scatter(L.zeros(3, 4), L.ones(3, 2), 1, 0, 4, 2),
    lambda L: L.slice_scatter(L.zeros(3, 4), L.ones(3, 2), 1, 2),
    lambda L: L.slice_scatter(L.zeros(3, 4), L.ones(1, 4), start=-1),
    lambda L: L.slice_scatter(L.zeros(3, 4), L.ones(3, 4)),
    lambda L: L.slice_scatter(L.zeros(3, 4), L.ones(2, 4)),
    lambda L: L.slice_scatter(L.zeros(3, 4), L.ones(0, 4), start=5),
    lambda L: L.slice_scatter(L.zeros(3, 4), L.ones(1, 4), start=1, end=2, step=0),
    lambda L: L.slice_scatter(L.zeros(3, 4), L.ones(3, 1), 1, -3, -2),
    lambda L: L.narrow_copy(mat(L), 1, 1, 2),
    lambda L: mat(L).narrow_copy(0, -1, 1),
    lambda L: mat(L).narrow_copy(0, 2, 2),
    lambda L: L.as_strided(mat(L), (2, 2), (1, 2)),
    lambda L: L.as_strided(mat(L)[1:], (2, 2), (1, 2)),
    lambda L: L.as_strided(mat(L)[1:], (2, 2), (1, 2), 0),
    lambda L: L.as_strided(mat(L).t(), (3, 2), (2, 1), 1),
    lambda L: L.as_strided(mat(L), (0, 3), (1, 1), 12),
    lambda L: L.as_strided(mat(L), (2, 2), (1, 2), 20),
    lambda L: L.as_strided(mat(L), (2,), (1, 2)),
    lambda L: L.as_strided(mat(L), (2, 2), (-1, 2)),
    lambda L: mat(L).as_strided((4,), (3,)),
    lambda L: mat(L).sum_to_size(1, 4),
    lambda L: mat(L).sum_to_size((4,)),
    lambda L: mat(L).sum_to_size(3, 1),
    lambda L: mat(L).sum_to_size(2, 4),
    lambda L: mat(L).sum_to_size(1, 1, 4),
    lambda L: mat(L).reshape_as(L.ones(2, 6)),
    lambda L: mat(L).reshape_as(L.ones(5)),
    lambda L: L.zeros(3, 3).fill_diagonal_(5),
    lambda L: L.zeros(7, 3).fill_diagonal_(5, wrap=True),
    lambda L: L.zeros(7, 3).fill_diagonal_(5),
    lambda L: L.zeros(3, 7).fill_diagonal_(5, True),
    lambda L: L.zeros(3, 3, 3).fill_diagonal_(5),
    lambda L: L.zeros(2, 3, 2).fill_diagonal_(5),
    lambda L: L.zeros(2).fill_diagonal_(5),
    lambda L: L.zeros(2, 2, dtype=L.int64).fill_diagonal_(5.7),
    lambda L: L.zeros(2, 2, dtype=L.bool).fill_diagonal_(True),
    lambda L: mat(L).tril_(),
    lambda L: mat(L).triu_(1),
    lambda L: mat(L).tril_(-1),
    lambda L: mat(L).t_(),
    lambda L: L.zeros(2, 3, 4).t_(),
    lambda L: L.zeros(2, 1, 3).squeeze_(),
    lambda L: L.zeros(2, 1, 3).squeeze_(1),
    lambda L: L.zeros(2, 1, 3).squeeze_(0),
    lambda L: L.zeros(2, 3).unsqueeze_(-1),
    lambda L: L.zeros(2, 3).unsqueeze_(3),
    lambda L: mat(L).transpose_(0, 1),
    lambda L: mat(L).transpose_(0, 2),
    lambda L: L.arange(6.0).resize_(2, 2),
    lambda L: L.arange(6.0).resize_((3, 2)),
    lambda L: L.arange(6.0).resize_(-1),
    lambda L: L.arange(6.0).apply_(lambda v: v * 2),
    lambda L: L.arange(6).apply_(lambda v: v / 2),
    lambda L: (mat(L).get_device(), mat(L).ndimension(), mat(L).nelement(), mat(L).is_pinned()),
    lambda L: L.tensor([0.0, 1.0, 0.0]).multinomial(2, True),
    lambda L: L.empty(3, dtype=L.int64).cauchy_(),
    lambda L: L.empty(3).log_normal_(1, 0),
    lambda L: L.empty(3).cauchy_(0, 0),
    # special functions: dtypes and errors
    lambda L: L.lgamma(L.tensor([1, 2, 5])),
    lambda L: L.digamma(L.tensor([1, 2, 5])),
    lambda L: L.mvlgamma(L.tensor([1, 2]), 2),
    lambda L: L.mvlgamma(L.tensor([1.0, 2.0]), 0),
    lambda L: L.polygamma(-1, L.tensor([1.0])),
    lambda L: L.polygamma(2, L.tensor([1, 2])),
    lambda L: L.i0(L.tensor([1, 2])),
    lambda L: L.i0(L.tensor([0.0, 1.0, -30.0], dtype=L.float64)),
    lambda L: L.tensor([0.5, 3.0]).lgamma_(),
    lambda L: L.tensor([0.5, 3.0]).mvlgamma_(1),
    lambda L: L.tensor([0.5, 3.0]).i0_(),
    lambda L: L.tensor([1, 2]).digamma_(),
    lambda L: L.special.zeta(L.tensor([2.0, 4.0, 1.0, 0.5, 3.0]), L.tensor([1.0, 1.0, 1.0, 1.0, -2.0])),
    lambda L: L.special.zeta(L.tensor([2.0, 4.0]), 2.0),
    lambda L: L.special.xlog1py(L.tensor([0.0, 2.0, 0.0]), L.tensor([-1.0, 1.0, math.nan])),
    lambda L: L.special.xlog1py(2.0, L.tensor([1.0, 3.0])),
    lambda L: L.special.ndtri(L.tensor([0.0, 0.1, 0.5, 0.975, 1.0])),
    lambda L: L.special.entr(L.tensor([0.0, -1.0, 0.5, math.nan])),
    lambda L: L.special.log_ndtr(L.tensor([-40.0, -10.0, 0.0, 10.0])),
    lambda L: L.special.multigammaln(L.tensor([2.5, 4.0]), 3),
    lambda L: L.special.logsumexp(mat(L), 1),
    lambda L: L.special.softmax(mat(L), 0),
    lambda L: L.special.log_softmax(mat(L), 1),
    lambda L: L.special.round(L.tensor([0.5, 1.5, 2.567])),
    lambda L: L.special.sinc(L.tensor([0.0, 0.5])),
    lambda L: L.special.exp2(L.tensor([3.0])),
    lambda L: L.special.expm1(L.tensor([1e-8])),
    lambda L: L.special.log1p(L.tensor([1e-8])),
    lambda L: L.special.logit(L.tensor([0.25, 0.5])),
    lambda L: L.special.erfinv(L.tensor([0.0, 0.5])),
    lambda L: L.special.modified_bessel_i0(L.tensor([1.0, 2.0])),
    lambda L: L.special.modified_bessel_i1(L.tensor([1.0, 2.0])),
    # linear algebra
    lambda L: L.det(spd3(L)),
    lambda L: L.linalg.det(L.stack([spd3(L), -spd3(L)])),
    lambda L: L.det(L.zeros(0, 0)),
    lambda L: L.det(mat(L)),
    lambda L: L.det(L.eye(2, dtype=L.int64)),
    lambda L: L.slogdet(-spd3(L)),
    lambda L: L.slogdet(L.zeros(2, 2)),
    lambda L: L.linalg.slogdet(L.stack([spd3(L), -spd3(L)])),
    lambda L: L.logdet(spd3(L)),
    lambda L: L.logdet(-spd3(L)),
    lambda L: L.logdet(L.zeros(2, 2)),
    lambda L: L.linalg.svdvals(mat(L)),
    lambda L: L.linalg.svdvals(L.zeros(0, 3)),
    lambda L: L.linalg.svdvals(L.ones(3)),
    lambda L: [t.shape for t in L.linalg.svd(mat(L))],
    lambda L: [t.shape for t in L.linalg.svd(mat(L), full_matrices=False)],
    lambda L: [t.shape for t in L.linalg.svd(mat(L).expand(2, 3, 4), False)],
    lambda L: [t.shape for t in L.svd(mat(L))],
    lambda L: [t.shape for t in L.svd(mat(L), some=False)],
    lambda L: L.svd(mat(L), compute_uv=False),
    lambda L: L.linalg.pinv(mat(L)),
    lambda L: L.linalg.pinv(mat(L).t()),
    lambda L: L.linalg.pinv(L.ones(3, 3)),
    lambda L: L.linalg.pinv(mat(L), atol=1.0),
    lambda L: L.linalg.pinv(mat(L), rtol=0.5),
    lambda L: L.linalg.pinv(spd3(L), hermitian=True),
    lambda L: L.pinverse(mat(L), 0.5),
    lambda L: L.linalg.matrix_rank(mat(L)),
    lambda L: L.linalg.matrix_rank(L.ones(3, 3)),
    lambda L: L.linalg.matrix_rank(mat(L), atol=1.0),
    lambda L: L.linalg.matrix_rank(mat(L), rtol=0.5),
    lambda L: L.linalg.matrix_rank(L.stack([mat(L), L.zeros(3, 4)])),
    lambda L: L.linalg.eigvalsh(spd3(L)),
    lambda L: L.linalg.eigvalsh(mat(L)[:, :3], "U"),
    lambda L: L.linalg.eigvalsh(mat(L)[:, :3]),
    lambda L: L.linalg.eigvalsh(mat(L)),
    lambda L: L.linalg.eigh(spd3(L), UPLO="X"),
    lambda L: L.linalg.eigh(spd3(L)).eigenvectors.abs(),
    lambda L: L.linalg.qr(mat(L)).R.abs(),
    lambda L: L.linalg.qr(mat(L).t()).Q.abs(),
    lambda L: [t.shape for t in L.linalg.qr(mat(L).t(), mode="complete")],
    lambda L: [t.shape for t in L.linalg.qr(mat(L).t(), mode="r")],
    lambda L: L.linalg.qr(mat(L), mode="full"),
    lambda L: L.qr(mat(L).t()).R.abs(),
    lambda L: [t.shape for t in L.qr(mat(L).t(), some=False)],
    lambda L: L.linalg.cholesky(spd3(L)),
    lambda L: L.linalg.cholesky(spd3(L), upper=True),
    lambda L: L.linalg.cholesky(-spd3(L)),
    lambda L: L.linalg.cholesky(mat(L)),
    lambda L: L.cholesky(spd3(L)),
    lambda L: L.cholesky(spd3(L), True),
    lambda L: L.linalg.matrix_exp(spd3(L) / 4),
    lambda L: L.matrix_exp(L.zeros(2, 2)),
    lambda L: L.matrix_exp(L.stack([spd3(L), -spd3(L)])),
    lambda L: L.matrix_exp(mat(L)),
    lambda L: L.linalg.lstsq(mat(L).t(), L.ones(4, 2)).solution,
    lambda L: L.linalg.lstsq(mat(L).t(), L.ones(4, 2)).rank,
    lambda L: [t.shape for t in L.linalg.lstsq(mat(L).t(), L.ones(4, 2))],
    lambda L: L.linalg.lstsq(mat(L).t(), L.ones(4, 2), driver="gelsd")[1:],
    lambda L: L.linalg.lstsq(mat(L).t(), L.ones(4, 2), driver="gelss")[1:],
    lambda L: [t.shape for t in L.linalg.lstsq(mat(L).t(), L.ones(4, 2), driver="gels")],
    lambda L: L.linalg.lstsq(mat(L), L.ones(3, 2)).solution,
    lambda L: L.linalg.lstsq(mat(L), L.ones(3)).solution,
    lambda L: L.linalg.lstsq(mat(L), L.ones(4, 2)),
    lambda L: L.linalg.lstsq(mat(L), L.ones(3, 2), driver="fast"),
]


@pytest.mark.parametrize("fn", RESULTS, ids=lambda fn: f"line{fn.__code__.co_firstlineno}")
def test_result_or_error_matches_torch(fn):
    assert_same_outcome(outcome(fn, nnkit), outcome(fn, torch))


def test_range_warns_as_torch():
    for L in (nnkit, torch):
        with pytest.warns(UserWarning, match="range is deprecated"):
            L.range(0, 2)
