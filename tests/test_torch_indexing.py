"""Indexing ops against PyTorch: values, shapes, dtypes, gradients and errors.

The tables of ``test_ops_indexing.py`` (every differentiable indexing op, and the
placements of indexed dims) run here through nnkit and through torch, forward,
first and second derivatives. Then reading and writing with every kind of index,
the ops without gradients, the gradients at zeros and ties, and the errors: nnkit
must raise where PyTorch raises, an exception of PyTorch's class.
"""

import numpy as np
import pytest

import nnkit
from test_ops_gradcheck import make_array
from test_ops_indexing import CASES, GROUPS, LIST_AS_TUPLE, PLACEMENTS, X
from test_torch_parity_ops import assert_same

torch = pytest.importorskip("torch")
pytestmark = [pytest.mark.torch,  # PyTorch's own warnings about its deprecated and beta arguments:
              pytest.mark.filterwarnings("ignore:The reduce argument of torch.scatter"),
              pytest.mark.filterwarnings("ignore:index_reduce.. is in beta")]


# PyTorch has no derivative for scatter with reduce=, and its scatter backward fails when src is
# bigger than the index (it returns a gradient of the index's shape): forward values only there
FORWARD_ONLY = {"scatter_reduce_add", "scatter_reduce_multiply", "scatter_src_bigger", "scatter_add_dim0_fn",
                "scatter_reduce_amax_fn_2d"}


@pytest.mark.parametrize("name", CASES)
def test_op_matches_torch(name, rng):
    case = CASES[name]
    domains = case.domains or "r" * len(case.shapes)
    arrays = [make_array(rng, s, d).astype(np.float32) for s, d in zip(case.shapes, domains)]
    if name in FORWARD_ONLY:
        mine, theirs = case.fn(*map(nnkit.tensor, arrays)), case.fn(*map(torch.tensor, arrays))
        np.testing.assert_allclose(mine.numpy(), theirs.numpy(), rtol=1e-6)
    else:
        assert_same(case.fn, arrays, case.twice)


def in_both(fn, *arrays, grad: bool = True):
    """fn on tensors of each library: [(output, [gradient of each input]) for nnkit, for torch],
    the gradients of sum(output * w) for a fixed random w."""
    results = []
    for lib in (nnkit, torch):
        xs = [lib.tensor(a, requires_grad=grad and a.dtype.kind == "f") for a in arrays]
        out = fn(lib, *xs)
        grads = []
        if grad:
            w = np.random.default_rng(0).standard_normal(tuple(out.shape)).astype(np.float32)
            (out * lib.tensor(w)).sum().backward()
            grads = [np.zeros(x.shape) if x.grad is None else x.grad.numpy() for x in xs]
        results.append((out.detach().numpy(), grads))
    return results


def assert_both_same(fn, *arrays, grad: bool = True) -> None:
    (mine, my_grads), (theirs, their_grads) = in_both(fn, *arrays, grad=grad)
    assert mine.shape == theirs.shape and mine.dtype == theirs.dtype
    np.testing.assert_allclose(mine, theirs, rtol=1e-6, atol=1e-6)
    for g, want in zip(my_grads, their_grads):
        np.testing.assert_allclose(g, want, rtol=1e-6, atol=1e-6)


XF = X.astype(np.float32)


@LIST_AS_TUPLE
@pytest.mark.parametrize("name", PLACEMENTS)
def test_reading_matches_torch(name):
    index, _ = PLACEMENTS[name]
    assert_both_same(lambda lib, x: x[index(x)], XF)


@LIST_AS_TUPLE
@pytest.mark.parametrize("name", PLACEMENTS)
def test_writing_matches_torch(name, rng):
    index, ref = PLACEMENTS[name]
    v = rng.standard_normal(ref(X).shape).astype(np.float32)

    def write(lib, x, v):
        y = x * 1
        y[index(y)] = v
        return y
    assert_both_same(write, XF, v)


# more indices (built for a tensor x of either library): lists, masks from values, negative ints,
# 0-d results; the first two name a place twice, where PyTorch's pick among the written values
# is unspecified, so they are only read
INDICES = [
    lambda x: [1, 1, 0], lambda x: (Ellipsis, -1, [0, 0]), lambda x: x > 50, lambda x: (0, x[0] > 20),
    lambda x: (1, 2, 3, 4), lambda x: (-1, Ellipsis, None, slice(1, None, 2)),
    lambda x: (slice(None), [True, False, True]), lambda x: ([0, 1], [2, 0], [3, 3], [4, 0]),
    lambda x: (None, Ellipsis, None), lambda x: (x > 10)[:, :, :, 0], lambda x: ([[0], [1]], slice(None), [1, 2, 3]),
]


@pytest.mark.parametrize("k", range(len(INDICES)))
def test_more_reads_and_writes_match_torch(k, rng):
    index = INDICES[k]
    assert_both_same(lambda lib, x: x[index(x)], XF)
    if k < 2:
        return
    x = torch.tensor(XF)
    v = rng.standard_normal(tuple(x[index(x)].shape)).astype(np.float32)

    def write(lib, x, v):
        y = x * 1
        y[index(y)] = v
        return y
    assert_both_same(write, XF, v)


# --- ops without gradients, and integer inputs ---------------------------------------------------

INTEGER_OPS = [
    lambda lib, x: x.nonzero(), lambda lib, x: lib.argwhere(x), lambda lib, x: lib.nonzero(x[0, 0]),
    lambda lib, x: x.masked_select(x > 3), lambda lib, x: x.gather(1, lib.tensor([[[0, 1], [2, 2]]] * 3)),
    lambda lib, x: x.scatter_reduce(2, lib.tensor([[[0, 0, 1]]]), x[:1, :1, :3] * -2, "mean"),
    lambda lib, x: x.scatter_reduce(2, lib.tensor([[[0, 0, 1]]]), x[:1, :1, :3] - 7, "amax", include_self=False),
    lambda lib, x: x.scatter_reduce(0, lib.tensor([[[1]]]), x[:1, :1, :1] + 3, "prod"),
    lambda lib, x: x.masked_fill(x > 3, 1.5), lambda lib, x: x.index_fill(1, lib.tensor([0]), 2.7),
    lambda lib, x: x.take(lib.tensor([[-1, 0]])), lambda lib, x: x.index_select(-1, lib.tensor([4, 4])),
    lambda lib, x: x.put(lib.tensor([0, 0]), lib.tensor([5, 6]), accumulate=True),
    lambda lib, x: x.index_add(0, lib.tensor([1, 1]), x[:2], alpha=2),
    lambda lib, x: lib.take_along_dim(x, lib.tensor([[[3]]]), dim=-1),
]


@pytest.mark.parametrize("k", range(len(INTEGER_OPS)))
def test_integer_results_match_torch(k):
    x = (X[0] % 7).astype(np.int64)
    assert_both_same(INTEGER_OPS[k], x, grad=False)


@pytest.mark.parametrize("as_tuple", [False, True])
@pytest.mark.parametrize("values", [[[0, 1.5], [2, 0]], [[0, 0]], 3.0, 0.0, [True, False, True]])
def test_nonzero_and_one_argument_where_match_torch(values, as_tuple):
    mine, theirs = nnkit.tensor(values), torch.tensor(values)
    got, want = mine.nonzero(as_tuple=as_tuple), theirs.nonzero(as_tuple=as_tuple)
    if as_tuple:
        assert len(got) == len(want)
        got, want = nnkit.stack(list(got)), torch.stack(list(want))
        assert [t.tolist() for t in nnkit.where(mine)] == [t.tolist() for t in torch.where(theirs)]
    assert got.shape == tuple(want.shape) and got.tolist() == want.tolist()


@pytest.mark.parametrize("reduce", ["sum", "prod", "mean", "amax", "amin"])
@pytest.mark.parametrize("include_self", [True, False])
def test_scatter_reduce_at_zeros_and_ties_matches_torch(reduce, include_self):
    x = np.array([[0.0, 2.0, 3.0, 0.0, 1.0]], np.float32)
    src = np.array([[0.0, 5.0, 0.0, 7.0, 0.0, 0.0, 3.0, 3.0]], np.float32)
    index = GROUPS[0] + [2, 2]
    assert_both_same(lambda lib, x, s: x.scatter_reduce(1, lib.tensor([index]), s, reduce, include_self=include_self),
                     x, src)


@pytest.mark.parametrize("reduce", ["prod", "mean", "amax", "amin"])
@pytest.mark.parametrize("include_self", [True, False])
def test_index_reduce_at_zeros_and_ties_matches_torch(reduce, include_self):
    x = np.array([[1.0, 2.0, 3.0], [4.0, 5.0, 6.0], [7.0, 0.0, 9.0]], np.float32)
    source = np.array([[1.0, 1.0, 0.0], [2.0, 9.0, 3.0], [3.0, 0.0, 9.0], [7.0, 0.0, 1.0]], np.float32)
    assert_both_same(lambda lib, x, s: x.index_reduce(0, lib.tensor([0, 0, 2, 2]), s, reduce,
                                                      include_self=include_self), x, source)


# --- errors: where PyTorch raises, and of its class ------------------------------------------------

ERRORS = [
    lambda lib, x: x[5], lambda lib, x: x[:, -4], lambda lib, x: x[:, lib.tensor([0, 3])],
    lambda lib, x: x[lib.tensor([-3])], lambda lib, x: x[lib.tensor([True, False, True])],
    lambda lib, x: x[:, lib.ones(3, 5, dtype=lib.bool)], lambda lib, x: x[0, 0, 0],
    lambda lib, x: x[lib.tensor([0.5])], lambda lib, x: x[1.5],
    lambda lib, x: x[lib.tensor([0, 1]), lib.tensor([0, 1, 1])],
    lambda lib, x: lib.tensor(2.0)[0],
    lambda lib, x: x.gather(1, lib.tensor([0, 1])), lambda lib, x: x.gather(1, lib.zeros(3, 2, dtype=lib.int64)),
    lambda lib, x: x.gather(1, lib.tensor([[3]])), lambda lib, x: x.gather(1, lib.tensor([[-1]])),
    lambda lib, x: x.gather(1, lib.tensor([[1.0]])), lambda lib, x: x.gather(2, lib.tensor([[0]])),
    lambda lib, x: x.scatter(1, lib.tensor([[0, 1]]), lib.ones(1, 1)),
    lambda lib, x: x.scatter(1, lib.tensor([[3]]), lib.ones(1, 1)),
    lambda lib, x: x.scatter(1, lib.tensor([0]), lib.ones(1)),
    lambda lib, x: x.scatter(1, lib.tensor([[0]]), lib.ones(1, 1, dtype=lib.float64)),
    lambda lib, x: x.scatter(1, lib.tensor([[0]]), 1.0, reduce="sum"),
    lambda lib, x: x.scatter_add(1, lib.tensor([[0, 1, 2]]), lib.ones(1, 2)),
    lambda lib, x: x.scatter_reduce(1, lib.tensor([[0]]), lib.ones(1, 1), "average"),
    lambda lib, x: x.index_select(0, lib.tensor([[1]])), lambda lib, x: x.index_select(0, lib.tensor([2])),
    lambda lib, x: x.index_select(0, lib.tensor([-1])), lambda lib, x: x.index_select(0, lib.tensor([0.0])),
    lambda lib, x: x.index_select(-3, lib.tensor([0])),
    lambda lib, x: x.index_add(0, lib.tensor([0, 1]), lib.ones(3, 3)),
    lambda lib, x: x.index_add(0, lib.tensor([0, 2]), lib.ones(2, 3)),
    lambda lib, x: x.index_add(0, lib.tensor([0]), lib.ones(1, 3, dtype=lib.int64)),
    lambda lib, x: x.index_copy(0, lib.tensor([0, 1]), lib.ones(1, 3)),
    lambda lib, x: x.index_copy(0, lib.tensor([-1]), lib.ones(1, 3)),
    lambda lib, x: x.index_fill(0, lib.tensor([0]), lib.tensor([1.0])),
    lambda lib, x: x.index_reduce(0, lib.tensor([0]), lib.ones(1, 3), "sum"),
    lambda lib, x: x.index_reduce(0, lib.tensor([0]), lib.ones(2, 3), "amax"),
    lambda lib, x: x.index_fill(0, lib.tensor([2]), 1.0),
    lambda lib, x: x.index_put((lib.tensor([0]),), lib.tensor(1, dtype=lib.int64)),
    lambda lib, x: x.index_put((lib.tensor([0]),), lib.ones(2)),
    lambda lib, x: x.masked_fill(lib.ones(2, 3), 1.0), lambda lib, x: x.masked_fill(x > 0, lib.ones(2)),
    lambda lib, x: x.masked_fill(lib.ones(2, dtype=lib.bool), 1.0),
    lambda lib, x: x.masked_fill_(lib.ones(2, 2, 3, dtype=lib.bool), 1.0),
    lambda lib, x: x.masked_select(x), lambda lib, x: x.masked_select(lib.ones(3, 3, dtype=lib.bool)),
    lambda lib, x: x.masked_scatter(lib.ones(3, dtype=lib.bool), lib.ones(5)),
    lambda lib, x: x.masked_scatter(lib.ones(3, dtype=lib.bool), lib.ones(6, dtype=lib.float64)),
    lambda lib, x: x.take(lib.tensor([6])), lambda lib, x: x.take(lib.tensor([-7])),
    lambda lib, x: x.put(lib.tensor([0, 1]), lib.ones(3)), lambda lib, x: x.put(lib.tensor([6]), lib.ones(1)),
    lambda lib, x: x.take_along_dim(lib.tensor([0]), 1),
    lambda lib, x: x.take_along_dim(lib.tensor([[0], [1], [0]]), 1),
    lambda lib, x: x.index_put((None,), lib.tensor(1.0)),
]


@pytest.mark.parametrize("k", range(len(ERRORS)))
def test_errors_are_raised_as_torch_raises_them(k):
    bad = ERRORS[k]
    with pytest.raises(Exception) as theirs:
        bad(torch, torch.zeros(2, 3))
    with pytest.raises(Exception) as mine:
        bad(nnkit, nnkit.zeros(2, 3))
    assert isinstance(mine.value, type(theirs.value)), (mine.value, theirs.value)


def test_in_place_ops_on_leaves_that_require_grad_raise_as_torch():
    for lib in (nnkit, torch):
        x = lib.zeros(3, requires_grad=True)
        with pytest.raises(RuntimeError, match="leaf"):
            x.index_fill_(0, lib.tensor([0]), 1.0)
