"""nnkit against PyTorch, op by op: forward values, gradients and second derivatives.

The ops are the tables of ``test_ops_gradcheck.py``, written once with the
method names both libraries share; here each runs on float32 inputs through
nnkit and through torch, and the results must agree within float32 tolerance.
Skipped where PyTorch is not installed (CI); every behaviour is also pinned
without torch in the other test files.
"""

import numpy as np
import pytest

import nnkit
from test_ops_gradcheck import BINARY, BROADCAST_PAIRS, CASES, UNARY, make_array

torch = pytest.importorskip("torch")
pytestmark = pytest.mark.torch

RTOL, ATOL = 1e-5, 1e-6
RTOL2, ATOL2 = 1e-4, 1e-5  # second derivatives go through more float32 roundings


def outputs(out) -> list:
    return list(out) if isinstance(out, (tuple, list)) else [out]


def leaf(lib, array, grad: bool = True):
    return lib.tensor(array, requires_grad=grad)


def dense(g, like) -> np.ndarray:
    """A gradient as an array; None (an unused input) as zeros."""
    if g is None:
        return np.zeros(like.shape, np.float32)
    return g.detach().numpy(force=True) if torch.is_tensor(g) else g.detach().numpy()  # force: torch's lazy zeros


def derivatives(lib, fn, arrays, twice: bool) -> list:
    """[forward, first derivative, second derivative] of fn in one library, as arrays.

    The first derivative is d<v, fn(x)>/dx for a random v; the second is the
    gradient of <w, first derivative> with respect to x and v, for a random w.
    """
    rng = np.random.default_rng(0)
    xs = [leaf(lib, a) for a in arrays]
    outs = outputs(fn(*xs))
    vs = [leaf(lib, rng.standard_normal(o.shape).astype(np.float32)) for o in outs]
    first = lib.autograd.grad(outs, xs, vs, create_graph=twice, allow_unused=True)
    results = [[o.detach().numpy() for o in outs], [dense(g, x) for g, x in zip(first, xs)]]
    if twice:
        ws = [leaf(lib, rng.standard_normal(x.shape).astype(np.float32), grad=False) for x in xs]
        total = sum((g * w).sum() for g, w in zip(first, ws) if g is not None)
        second = lib.autograd.grad(total, xs + vs, allow_unused=True)
        results.append([dense(g, t) for g, t in zip(second, xs + vs)])
    return results


def assert_same(fn, arrays, twice: bool = True) -> None:
    """nnkit and torch agree on fn at float32 ``arrays``: forward, first and (where nnkit
    supports create_graph for the op) second derivatives."""
    arrays = [a.astype(np.float32) for a in arrays]
    mine, theirs = derivatives(nnkit, fn, arrays, twice), derivatives(torch, fn, arrays, twice)
    for got, want in zip(mine[0], theirs[0]):
        assert got.shape == want.shape and got.dtype == want.dtype
        np.testing.assert_allclose(got, want, rtol=RTOL, atol=ATOL, err_msg="forward")
    for got, want in zip(mine[1], theirs[1]):
        np.testing.assert_allclose(got, want, rtol=RTOL, atol=ATOL, err_msg="first derivative")
    for got, want in zip(mine[2:] and mine[2], theirs[2:] and theirs[2]):
        np.testing.assert_allclose(got, want, rtol=RTOL2, atol=ATOL2, err_msg="second derivative")


@pytest.mark.parametrize("shape", [(3, 4), ()], ids=str)
@pytest.mark.parametrize("name", UNARY)
def test_unary_op_matches_torch(name, shape, rng):
    fn, _, domain = UNARY[name]
    assert_same(fn, [make_array(rng, shape, domain)])


@pytest.mark.parametrize("shapes", BROADCAST_PAIRS, ids=str)
@pytest.mark.parametrize("name", BINARY)
def test_binary_op_matches_torch(name, shapes, rng):
    fn, _, domains = BINARY[name]
    assert_same(fn, [make_array(rng, s, d) for s, d in zip(shapes, domains)])


@pytest.mark.parametrize("name", CASES)
def test_op_matches_torch(name, rng):
    case = CASES[name]
    domains = case.domains or "r" * len(case.shapes)
    assert_same(case.fn, [make_array(rng, s, d) for s, d in zip(case.shapes, domains)], case.twice)


# --- results without gradients: indices, comparisons, dtypes -------------------------------

def both(array):
    return nnkit.tensor(array), torch.tensor(array)


def assert_equal_results(mine, theirs) -> None:
    mine, theirs = mine.numpy(), theirs.numpy()
    assert mine.shape == theirs.shape and mine.dtype == theirs.dtype
    np.testing.assert_allclose(mine, theirs, rtol=RTOL, atol=0)


@pytest.mark.parametrize("op", [
    lambda x: x.max(1).indices, lambda x: x.max(dim=-1, keepdim=True).indices, lambda x: x.min(0).indices,
    lambda x: x.argmax(), lambda x: x.argmin(), lambda x: x.argmax(1), lambda x: x.argmin(dim=-1, keepdim=True),
    lambda x: x > 0, lambda x: x <= 0.5, lambda x: x == x[0], lambda x: x != 0.25, lambda x: (x > 0).sum(),
    lambda x: x.max(1).values, lambda x: x.min(dim=1, keepdim=True).values,
], ids=["max_indices", "max_indices_keepdim", "min_indices", "argmax", "argmin", "argmax_dim", "argmin_keepdim",
        "gt", "le", "eq", "ne", "count_true"] + ["max_values", "min_values_keepdim"])
def test_indices_and_comparisons_match_torch(op, rng):
    x = rng.standard_normal((4, 5)).astype(np.float32)
    x[1, 3] = x[1, 0]  # a tie: both libraries pick the first
    mine, theirs = both(x)
    assert_equal_results(op(mine), op(theirs))


@pytest.mark.parametrize("make", [
    lambda m: m.tensor([1.0, 2.0]), lambda m: m.tensor([1, 2]), lambda m: m.tensor(np.arange(3, dtype=np.int32)),
    lambda m: m.tensor(np.ones(2)), lambda m: m.tensor([True]), lambda m: m.full((2,), 3),
    lambda m: m.full((2,), 3.0), lambda m: m.arange(5), lambda m: m.arange(0, 1, 0.25), lambda m: m.zeros(2, 3),
    lambda m: m.ones((2,), dtype=m.int64), lambda m: m.linspace(0, 1, 5), lambda m: m.eye(3),
    lambda m: m.tensor([1, 2]) * m.tensor([0.5, 1.0]), lambda m: m.tensor([1, 2]) / m.tensor([2, 4]),
    lambda m: m.tensor([1, 2]) * 1.5, lambda m: m.tensor([1.0, 2.0]) * m.tensor(3.0, dtype=m.float64),
    lambda m: m.tensor([1.0], dtype=m.float64) + m.tensor([1.0]), lambda m: m.tensor([1, 2]) + True,
    lambda m: m.tensor([1, 2]).sum(), lambda m: m.tensor([True, True]).sum(),
    lambda m: m.tensor([1, 2], dtype=m.int32) + m.tensor([1, 2]), lambda m: m.tensor([1, 2]).exp(),
    lambda m: m.tensor([1.0, 2.0]).var(), lambda m: m.tensor([1.0, 2.0, 4.0]).std(),
    lambda m: m.zeros_like(m.tensor([1, 2])), lambda m: m.ones_like(m.tensor([1.0]), dtype=m.float64),
])
def test_creation_and_promotion_match_torch(make):
    assert_equal_results(make(nnkit), make(torch))


def test_dtypes_have_torch_names():
    for name in ["float16", "float32", "float64", "int64", "bool"]:
        assert str(getattr(nnkit, name)) == str(getattr(torch, name)).replace("torch.", "nnkit.")


def test_hessian_vector_product_matches_torch(rng):
    a = rng.standard_normal((4, 4)).astype(np.float32)
    x0, v0 = rng.standard_normal(4).astype(np.float32), rng.standard_normal(4).astype(np.float32)
    results = []
    for lib in (nnkit, torch):
        A, v = lib.tensor(a), lib.tensor(v0)
        x = lib.tensor(x0, requires_grad=True)
        f = ((A @ x).tanh() ** 2).sum() + (x * x * x).sum()
        (g,) = lib.autograd.grad(f, x, create_graph=True)
        (hv,) = lib.autograd.grad((g * v).sum(), x)
        results.append(hv.detach().numpy())
    np.testing.assert_allclose(results[0], results[1], rtol=1e-5, atol=1e-5)


@pytest.mark.parametrize("op", [
    lambda x: x.logsumexp(0), lambda x: x.softmax(0), lambda x: x.log_softmax(0), lambda x: x.sigmoid(),
    lambda x: x.tanh(), lambda x: x.reshape(3, 1).logsumexp(1),
], ids=["logsumexp", "softmax", "log_softmax", "sigmoid", "tanh", "logsumexp_rows"])
def test_stable_ops_match_torch_at_extreme_inputs(op):
    x = np.array([1e4, -1e4, 0.0], dtype=np.float32)
    results = []
    for lib in (nnkit, torch):
        t = lib.tensor(x, requires_grad=True)
        out = op(t)
        out.backward(lib.ones_like(out))
        results.append((out.detach().numpy(), t.grad.numpy()))
    for mine, theirs in zip(*results):
        assert np.isfinite(mine).all()
        np.testing.assert_allclose(mine, theirs, rtol=RTOL, atol=ATOL)
