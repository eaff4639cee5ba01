"""Indexing ops: forward against NumPy, gradients against finite differences.

``CASES`` lists every differentiable indexing op (gather, scatter and scatter_reduce,
the index_* family, masks, take and put, advanced indexing and assignment) with method
names that nnkit and PyTorch share, so that ``test_torch_indexing.py`` runs the same
table against PyTorch. Each entry is checked in float64: forward values against a
NumPy reference, the gradient on contiguous, transposed and strided inputs, and the
second derivative. Repeated indices appear throughout: their gradients must
accumulate. Then PyTorch's placement of the indexed dims, the errors, and the ops
without gradients (nonzero, argwhere, where with one argument).
"""

from collections import defaultdict

import numpy as np
import pytest

import nnkit
from test_ops_gradcheck import LAYOUTS, Case, assert_forward, case_arrays, check, check_second, lib

# --- NumPy references ----------------------------------------------------------------

COMBINE = {"sum": np.sum, "prod": np.prod, "mean": np.mean, "amax": np.max, "amin": np.min}


def np_scatter(x, dim, index, src, reduce=None, include_self=True):
    """PyTorch's scatter and scatter_reduce, one element at a time: each value of ``src`` goes to
    ``index`` along ``dim`` and stays in place in the other dims."""
    index = np.asarray(index)
    src = np.broadcast_to(src, index.shape)
    arrivals = defaultdict(list)
    for pos in np.ndindex(*index.shape):
        place = list(pos)
        place[dim] = index[pos]
        arrivals[tuple(place)].append(src[pos])
    out = x.copy()
    for place, values in arrivals.items():
        if reduce is None:
            out[place] = values[-1]
        else:
            out[place] = COMBINE[reduce](([x[place]] if include_self else []) + values)
    return out


def np_index_add(x, dim, index, source, alpha=1.0):
    out = x.copy()
    np.add.at(out, (slice(None),) * dim + (np.asarray(index),), alpha * source)
    return out


def np_assigned(x, index, value):
    out = x.copy()
    out[index] = value
    return out


def np_index_copy(x, dim, index, source):
    return np_assigned(x, (slice(None),) * dim + (np.asarray(index),), source)


def np_put(x, index, source, accumulate=False):
    out = x.copy().reshape(-1)
    if accumulate:
        np.add.at(out, np.asarray(index), source)
    else:
        out[np.asarray(index)] = source
    return out.reshape(x.shape)


def np_masked_scatter(x, mask, source):
    out = np.broadcast_to(x, np.broadcast_shapes(x.shape, np.shape(mask))).copy()
    mask = np.broadcast_to(mask, out.shape)
    out[mask] = source.reshape(-1)[:mask.sum()]
    return out


def assigned(x, index, value):
    """``x`` with ``x[index] = value``, leaving ``x`` alone (for tensors: the graph records it)."""
    y = x * 1
    y[index] = value
    return y


# --- the table -------------------------------------------------------------------------

M = (3, 4)
B = (2, 3, 4)
ROWS = [2, 0, 2]                            # repeated: gradients must accumulate
ROWS_2D = [[0, 1, 0], [2, 2, 1]]            # gather/scatter along dim 0, index smaller than input in dim 1
COLS_2D = [[1, 3, 1], [0, 0, 2]]            # along dim 1, with repeats
COLS_UNIQUE = [[1, 3, 0], [2, 0, 3]]        # along dim 1, no repeats (scatter writes: the last one would win)
GROUPS = [[0, 0, 1, 1, 2, 2]]               # scatter_reduce: two values for each of three places
MASK = [[True, False, True, False], [False, False, False, False], [True, True, False, True]]
MASK_ROW = [True, False, False, True]
FLAT = [[0, 11], [-1, 5]]
COL = [2, 0, 2]


def t(x, values):
    """An index (or mask) tensor in the library of ``x``."""
    return lib(x).tensor(values)


CASES = {
    # gather: along any dim, an index smaller than the input, 0-d
    "gather_dim0": Case(lambda x: x.gather(0, t(x, ROWS_2D)),
                        lambda x: np.take_along_axis(x[:, :3], np.array(ROWS_2D), 0), [M]),
    "gather_dim1": Case(lambda x: lib(x).gather(x, -1, t(x, COLS_2D)),
                        lambda x: np.take_along_axis(x[:2], np.array(COLS_2D), 1), [M]),
    "gather_0d": Case(lambda x: x.gather(0, t(x, [0, 0])), lambda x: np.array([x, x]), [()]),
    # scatter: src, a number, a src bigger than the index, reduce=
    "scatter_src": Case(lambda x, s: x.scatter(1, t(x, COLS_UNIQUE), s), lambda x, s: np_scatter(x, 1, COLS_UNIQUE, s),
                        [M, (2, 3)]),
    "scatter_src_bigger": Case(lambda x, s: lib(x).scatter(x, 1, t(x, COLS_UNIQUE), s),
                               lambda x, s: np_scatter(x, 1, COLS_UNIQUE, s[:2, :3]), [M, (3, 5)]),
    "scatter_value": Case(lambda x: x.scatter(0, t(x, ROWS_2D), 1.5), lambda x: np_scatter(x, 0, ROWS_2D, 1.5), [M]),
    "scatter_reduce_add": Case(lambda x, s: x.scatter(1, t(x, COLS_2D), s, reduce="add"),
                               lambda x, s: np_scatter(x, 1, COLS_2D, s, "sum"), [M, (2, 3)]),
    "scatter_reduce_multiply": Case(lambda x, s: x.scatter(1, t(x, COLS_2D), s, reduce="multiply"),
                                    lambda x, s: np_scatter(x, 1, COLS_2D, s, "prod"), [M, (2, 3)]),
    "scatter_add": Case(lambda x, s: x.scatter_add(1, t(x, COLS_2D), s),
                        lambda x, s: np_scatter(x, 1, COLS_2D, s, "sum"), [M, (2, 3)]),
    "scatter_add_dim0_fn": Case(lambda x, s: lib(x).scatter_add(x, 0, t(x, ROWS_2D), s),
                                lambda x, s: np_scatter(x, 0, ROWS_2D, s[:2, :3], "sum"), [M, (2, 4)]),
    "scatter_0d": Case(lambda x, s: x.scatter(0, t(x, 0), s), lambda x, s: s, [(), ()]),
    # index_* along a dim
    "index_select": Case(lambda x: x.index_select(0, t(x, ROWS)), lambda x: x[ROWS], [M]),
    "index_select_dim1": Case(lambda x: lib(x).index_select(x, -1, t(x, [3, 3, 0])), lambda x: x[..., [3, 3, 0]], [B]),
    "index_select_0d_index": Case(lambda x: x.index_select(1, t(x, 2)), lambda x: x[:, [2]], [M]),
    "index_add": Case(lambda x, s: x.index_add(0, t(x, ROWS), s), lambda x, s: np_index_add(x, 0, ROWS, s),
                      [M, (3, 4)]),
    "index_add_alpha": Case(lambda x, s: lib(x).index_add(x, 1, t(x, COL), s, alpha=-2.0),
                            lambda x, s: np_index_add(x, 1, COL, s, -2.0), [B, B]),
    "index_copy": Case(lambda x, s: x.index_copy(1, t(x, [3, 0]), s), lambda x, s: np_index_copy(x, 1, [3, 0], s),
                       [M, (3, 2)]),
    "index_fill": Case(lambda x: x.index_fill(1, t(x, [1, -1]), -1.0),
                       lambda x: np_index_copy(x, 1, [1, 3], -1.0), [M]),
    "index_fill_tensor": Case(lambda x, v: lib(x).index_fill(x, 0, t(x, ROWS), v),
                              lambda x, v: np_index_copy(x, 0, ROWS, v), [M, ()]),
    "index_put": Case(lambda x, v: x.index_put((t(x, [0, 2]), t(x, [1, 3])), v),
                      lambda x, v: np_assigned(x, ([0, 2], [1, 3]), v), [M, (2,)]),
    "index_put_accumulate": Case(lambda x, v: lib(x).index_put(x, (t(x, ROWS),), v, accumulate=True),
                                 lambda x, v: np_index_add(x, 0, ROWS, np.broadcast_to(v, (3, 4))), [M, (4,)]),
    "index_put_mask": Case(lambda x, v: x.index_put((t(x, MASK),), v),
                           lambda x, v: np.where(np.array(MASK), v, x), [M, ()]),
    # masks
    "masked_fill": Case(lambda x: x.masked_fill(t(x, MASK), 0.5), lambda x: np.where(MASK, 0.5, x), [M]),
    "masked_fill_tensor_value": Case(lambda x, v: lib(x).masked_fill(x, t(x, MASK_ROW), v),
                                     lambda x, v: np.where(MASK_ROW, v, x), [M, ()]),
    "masked_fill_broadcast_input": Case(lambda x: x.masked_fill(t(x, MASK), -2.0), lambda x: np.where(MASK, -2.0, x),
                                        [(4,)]),
    "masked_select": Case(lambda x: x.masked_select(t(x, MASK)), lambda x: x[np.array(MASK)], [M]),
    "masked_select_broadcast": Case(lambda x: lib(x).masked_select(x, t(x, MASK_ROW)),
                                    lambda x: x[:, np.array(MASK_ROW)].reshape(-1), [M]),
    "masked_select_broadcast_input": Case(lambda x: x.masked_select(t(x, MASK)),
                                          lambda x: np.broadcast_to(x, M)[np.array(MASK)], [(4,)]),
    "masked_scatter": Case(lambda x, s: x.masked_scatter(t(x, MASK), s),
                           lambda x, s: np_masked_scatter(x, np.array(MASK), s), [M, (2, 4)]),
    "masked_scatter_broadcast": Case(lambda x, s: lib(x).masked_scatter(x, t(x, MASK_ROW), s),
                                     lambda x, s: np_masked_scatter(x, np.array(MASK_ROW), s), [M, (7,)]),
    # take and put, the tensor as if flattened
    "take": Case(lambda x: x.take(t(x, FLAT)), lambda x: x.reshape(-1)[np.array(FLAT)], [M]),
    "take_fn_0d": Case(lambda x: lib(x).take(x, t(x, [0, -1, 0])), lambda x: np.array([x, x, x]), [()]),
    "put": Case(lambda x, s: x.put(t(x, [[5, 0], [11, 1]]), s), lambda x, s: np_put(x, [5, 0, 11, 1], s.reshape(-1)),
                [M, (2, 2)]),
    "put_accumulate": Case(lambda x, s: lib(x).put(x, t(x, [5, -1, 5]), s, accumulate=True),
                           lambda x, s: np_put(x, [5, 11, 5], s, True), [M, (3,)]),
    "take_along_dim": Case(lambda x: x.take_along_dim(t(x, COLS_2D[:1] * 3), 1),
                           lambda x: np.take_along_axis(x, np.array(COLS_2D[:1] * 3), 1), [M]),
    "take_along_dim_broadcast": Case(lambda x: lib(x).take_along_dim(x, t(x, [[[0], [-1]]]), dim=2),
                                     lambda x: np.take_along_axis(np.broadcast_to(x, (2, 2, 4)),
                                                                  np.array([[[0], [3]]] * 2), 2), [(2, 1, 4)]),
    "take_along_dim_flat": Case(lambda x: lib(x).take_along_dim(x, t(x, [[11, 0], [3, 3]])),
                                lambda x: x.reshape(-1)[[11, 0, 3, 3]], [M]),
    # advanced indexing with PyTorch's placement: an int is not an advanced index
    "index_int_slice_tensor": Case(lambda x: x[0, :, t(x, COL)], lambda x: x[0][:, COL], [B]),
    "index_slice_int_slice_tensor": Case(lambda x: x[:, 1, t(x, [[1], [3]])], lambda x: x[:, 1][:, [[1], [3]]], [B]),
    "index_tensors_apart": Case(lambda x: x[t(x, [1, 0, 1]), :, t(x, COL)], lambda x: x[[1, 0, 1], :, COL], [B]),
    "index_mask_and_tensor": Case(lambda x: x[t(x, [True, False, True]), 1:, t(x, [0, 3])],
                                  lambda x: x[[0, 2], 1:, [0, 3]], [M + (4,)]),
    "index_ellipsis_tensor": Case(lambda x: x[..., t(x, [0, 0])], lambda x: x[..., [0, 0]], [B]),
    "index_none_tensor": Case(lambda x: x[None, t(x, [1, 1])], lambda x: x[None][:, [1, 1]], [B]),
    "index_0d_tensor": Case(lambda x: x[:, t(x, 2), t(x, [0, 1])], lambda x: x[:, 2][:, [0, 1]], [B]),
    "index_negative_tensor": Case(lambda x: x[t(x, [-1, -3, -1])], lambda x: x[[2, 0, 2]], [M]),
    "index_bool_scalar": Case(lambda x: x[t(x, [1, 0]), True], lambda x: x[[1, 0]], [B]),
    "index_empty_list": Case(lambda x: x[[]], lambda x: x[np.array([], dtype=int)], [M]),
    # assignment: x[...] = v records the graph (gradients to both; no place written twice, where the
    # gradient of each copy of a value is PyTorch's choice, not the derivative)
    "setitem_tensor": Case(lambda x, v: assigned(x, t(x, [2, -3]), v), lambda x, v: np_index_copy(x, 0, [2, 0], v),
                           [M, (4,)]),
    "setitem_int_slice_tensor": Case(lambda x, v: assigned(x, (0, slice(None), t(x, [3, 1])), v),
                                     lambda x, v: np_assigned(x, 0, np_index_copy(x[0], 1, [3, 1], v)), [B, (3, 2)]),
    "setitem_mask": Case(lambda x, v: assigned(x, t(x, MASK), v), lambda x, v: np.where(MASK, v, x), [M, ()]),
    "setitem_slice_broadcast": Case(lambda x, v: assigned(x, (slice(None), slice(1, 3)), v),
                                    lambda x, v: np.concatenate([x[:, :1], np.broadcast_to(v, (3, 2)), x[:, 3:]], 1),
                                    [M, (1, 2)]),
    # in-place forms on a copy (the graph follows the change)
    "scatter_": Case(lambda x, s: (x * 1).scatter_(1, t(x, COLS_UNIQUE), s),
                     lambda x, s: np_scatter(x, 1, COLS_UNIQUE, s), [M, (2, 3)]),
    "scatter_add_": Case(lambda x, s: (x * 1).scatter_add_(0, t(x, ROWS_2D), s),
                         lambda x, s: np_scatter(x, 0, ROWS_2D, s, "sum"), [M, (2, 3)]),
    "index_add_": Case(lambda x, s: (x * 1).index_add_(0, t(x, ROWS), s, alpha=3.0),
                       lambda x, s: np_index_add(x, 0, ROWS, s, 3.0), [M, M]),
    "index_copy_": Case(lambda x, s: (x * 1).index_copy_(1, t(x, [2]), s), lambda x, s: np_index_copy(x, 1, [2], s),
                        [M, (3, 1)]),
    "index_fill_": Case(lambda x, v: (x * 1).index_fill_(0, t(x, [1]), v), lambda x, v: np_index_copy(x, 0, [1], v),
                        [M, ()]),
    "index_put_": Case(lambda x, v: (x * 1).index_put_((t(x, ROWS),), v, accumulate=True),
                       lambda x, v: np_index_add(x, 0, ROWS, np.broadcast_to(v, (3, 4))), [M, (3, 1)]),
    "masked_scatter_": Case(lambda x, s: (x * 1).masked_scatter_(t(x, MASK_ROW), s),
                            lambda x, s: np_masked_scatter(x, np.array(MASK_ROW), s), [M, (6,)]),
    "masked_fill_": Case(lambda x, v: (x * 1).masked_fill_(t(x, MASK), v), lambda x, v: np.where(MASK, v, x), [M, ()]),
    "scatter_reduce_": Case(lambda x, s: (x * 1).scatter_reduce_(1, t(x, GROUPS), s, "prod"),
                            lambda x, s: np_scatter(x, 1, GROUPS, s, "prod"), [(1, 4), (1, 6)]),
    "index_reduce_": Case(lambda x, s: (x * 1).index_reduce_(1, t(x, [3, 3]), s, "amin", include_self=False),
                          lambda x, s: np_scatter(x, 1, [[3, 3]] * 3, s, "amin", False), [M, (3, 2)]),
    "put_": Case(lambda x, s: (x * 1).put_(t(x, [1, 1]), s, accumulate=True), lambda x, s: np_put(x, [1, 1], s, True),
                 [M, (2,)]),
}

for _reduce in COMBINE:
    for _include in (True, False):
        CASES[f"scatter_reduce_{_reduce}{'' if _include else '_exclude_self'}"] = Case(
            lambda x, s, r=_reduce, i=_include: x.scatter_reduce(1, t(x, GROUPS), s, r, include_self=i),
            lambda x, s, r=_reduce, i=_include: np_scatter(x, 1, GROUPS, s, r, i), [(1, 4), (1, 6)])
    if _reduce != "sum":
        CASES[f"index_reduce_{_reduce}{'' if _include else '_exclude_self'}"] = Case(
            lambda x, s, r=_reduce, i=_include: x.index_reduce(0, t(x, ROWS), s, r, include_self=i),
            lambda x, s, r=_reduce, i=_include: np_scatter(x, 0, np.broadcast_to(np.array(ROWS)[:, None], M), s, r, i),
            [M, M])
CASES["scatter_reduce_amax_fn_2d"] = Case(
    lambda x, s: lib(x).scatter_reduce(x, 0, t(x, ROWS_2D), s, reduce="amax"),
    lambda x, s: np_scatter(x, 0, ROWS_2D, s[:, :3], "amax"), [M, (2, 4)])


@pytest.mark.parametrize("name", CASES)
def test_forward_matches_numpy(name, rng):
    case = CASES[name]
    assert_forward(case.fn, case.ref, case_arrays(rng, case))


@pytest.mark.parametrize("layout", LAYOUTS)
@pytest.mark.parametrize("name", CASES)
def test_gradcheck(name, layout, rng):
    case = CASES[name]
    check(case.fn, case_arrays(rng, case, layout))


@pytest.mark.parametrize("name", CASES)
def test_second_derivative(name, rng):
    case = CASES[name]
    check_second(case.fn, case_arrays(rng, case), rng)


# --- gradients where they are subtle ------------------------------------------------------

def grads(fn, *values):
    leaves = [nnkit.tensor(v, requires_grad=True) for v in values]
    out = fn(*leaves)
    out.backward(nnkit.ones_like(out))
    return out, [x.grad.tolist() for x in leaves]


def test_repeated_indices_accumulate_in_every_op():
    rows = nnkit.tensor([0, 2, 0, 0])
    assert grads(lambda x: x[rows], [1.0, 2.0, 3.0])[1] == [[3.0, 0.0, 1.0]]
    assert grads(lambda x: x.index_select(0, rows), [1.0, 2.0, 3.0])[1] == [[3.0, 0.0, 1.0]]
    assert grads(lambda x: x.gather(0, rows), [1.0, 2.0, 3.0])[1] == [[3.0, 0.0, 1.0]]
    assert grads(lambda x: x.take(rows), [1.0, 2.0, 3.0])[1] == [[3.0, 0.0, 1.0]]
    out, _ = grads(lambda s: nnkit.zeros(3).index_add(0, rows, s), [1.0, 2.0, 3.0, 4.0])
    assert out.tolist() == [8.0, 0.0, 2.0]
    out, _ = grads(lambda s: nnkit.zeros(3).index_put((rows,), s, accumulate=True), [1.0, 2.0, 3.0, 4.0])
    assert out.tolist() == [8.0, 0.0, 2.0]


def test_scatter_reduce_prod_gradient_with_zeros_is_the_product_of_the_others():
    # place 0: 0 * 0 * 5, place 1: 2 * 0 * 7 (one zero), place 2: 3 * 0 * 0, place 3 receives nothing
    out, (gx, gs) = grads(lambda x, s: x.scatter_reduce(1, nnkit.tensor(GROUPS), s, "prod"),
                          [[0.0, 2.0, 3.0, 0.0]], [[0.0, 5.0, 0.0, 7.0, 0.0, 0.0]])
    assert out.tolist() == [[0.0, 0.0, 0.0, 0.0]]
    assert gx == [[0.0, 0.0, 0.0, 1.0]]
    assert gs == [[0.0, 0.0, 14.0, 0.0, 0.0, 0.0]]


def test_scatter_reduce_amax_shares_the_gradient_among_ties_as_pytorch():
    x, s = [[1.0, 2.0, 3.0, 0.0]], [[1.0, 1.0, 0.0, 7.0, 3.0, 3.0]]
    _, (gx, gs) = grads(lambda x, s: x.scatter_reduce(1, nnkit.tensor(GROUPS), s, "amax"), x, s)
    np.testing.assert_allclose(gx, [[1 / 3, 0.0, 1 / 3, 1.0]])
    np.testing.assert_allclose(gs, [[1 / 3, 1 / 3, 0.0, 1.0, 1 / 3, 1 / 3]])
    # include_self=False: input's equal value still takes its share, which goes nowhere (PyTorch's rule)
    _, (gx, gs) = grads(lambda x, s: x.scatter_reduce(1, nnkit.tensor(GROUPS), s, "amax", include_self=False), x, s)
    np.testing.assert_allclose(gx, [[0.0, 0.0, 0.0, 1.0]])
    np.testing.assert_allclose(gs, [[1 / 3, 1 / 3, 0.0, 1.0, 1 / 3, 1 / 3]])


def test_index_fill_counts_each_filled_place_once_for_the_value_gradient():
    _, (gx, gv) = grads(lambda x, v: x.index_fill(1, nnkit.tensor([1, 1, -1]), v), np.ones((3, 4)), 2.0)
    assert gv == 6.0  # two columns of three, the repeated index counted once
    assert gx == [[1.0, 0.0, 1.0, 0.0]] * 3


def test_assignment_sends_each_repeated_place_the_gradient_of_that_place_as_pytorch():
    _, (gx, gv) = grads(lambda x, v: assigned(x, nnkit.tensor([1, 1, 2]), v), np.ones(4), [1.0, 1.0, 1.0])
    assert gx == [1.0, 0.0, 0.0, 1.0]
    assert gv == [1.0, 1.0, 1.0]


def test_masked_fill_value_gradient_sums_over_the_broadcast_mask():
    mask = nnkit.tensor([[True, False, True], [True, True, False]])
    out, (gx, gv) = grads(lambda x, v: x.masked_fill(mask, v), [1.0, 1.0, 1.0], 2.0)
    assert out.tolist() == [[2.0, 1.0, 2.0], [2.0, 2.0, 1.0]]
    assert gx == [0.0, 1.0, 1.0] and gv == 4.0


def test_in_place_forms_send_the_gradient_to_the_source_when_only_it_requires_grad():
    src = nnkit.tensor([[1.0, 2.0]], requires_grad=True)
    x = nnkit.zeros(2, 3)
    x.scatter_(1, nnkit.tensor([[2, 0]]), src)
    assert x.tolist() == [[2.0, 0.0, 1.0], [0.0, 0.0, 0.0]] and x.requires_grad
    (x * nnkit.tensor([[1.0, 10.0, 100.0], [0.0, 0.0, 0.0]])).sum().backward()
    assert src.grad.tolist() == [[100.0, 1.0]]


def test_in_place_forms_change_the_tensor_and_its_version():
    x = nnkit.zeros(3)
    version = x._version
    assert x.index_add_(0, nnkit.tensor([0, 0]), nnkit.tensor([1.0, 2.0])) is x
    assert x.tolist() == [3.0, 0.0, 0.0] and x._version == version + 1
    x.put_(nnkit.tensor([-1]), nnkit.tensor([5.0]))
    x.index_fill_(0, nnkit.tensor([1]), 7)
    assert x.tolist() == [3.0, 7.0, 5.0]
    x.masked_scatter_(nnkit.tensor([True, False, True]), nnkit.tensor([8.0, 9.0, 10.0]))
    x.index_put_((nnkit.tensor([1]),), nnkit.tensor(1.0), accumulate=True)
    assert x.tolist() == [8.0, 8.0, 9.0]
    x.scatter_reduce_(0, nnkit.tensor([0, 0]), nnkit.tensor([2.0, 3.0]), "prod", include_self=False)
    x.index_copy_(0, nnkit.tensor([2]), nnkit.tensor([4.0]))
    assert x.tolist() == [6.0, 8.0, 4.0]


@pytest.mark.parametrize("ufunc", ["multiply", "maximum", "minimum"])
def test_the_rounds_used_on_cupy_combine_repeated_places_as_ufunc_at(ufunc, rng):
    """CuPy has no ufunc.at but for adding: scatter_reduce combines the other ufuncs in rounds there,
    each round touching a place at most once. Run on NumPy through a stand-in module."""
    class NotNumPy:
        def __getattr__(self, name):
            return getattr(np, name)
    target = rng.standard_normal((3, 4))
    rows, cols = np.array([[0, 0, 2], [1, 0, 0]]), np.array([[3, 3, 3], [1, 3, 1]])
    values = rng.standard_normal((2, 3))
    want = target.copy()
    getattr(np, ufunc).at(want, (rows, cols), values)
    nnkit.ops.indexing._reduce_at(NotNumPy(), ufunc, target, (rows, cols), values)
    np.testing.assert_allclose(target, want, rtol=1e-15)


# --- values and dtypes ------------------------------------------------------------------

def test_scatter_reduce_on_integers_means_round_down_and_max_starts_from_the_values():
    x = nnkit.tensor([[1, 2, 3, 4]])
    idx = nnkit.tensor([[0, 0, 1]])
    assert x.scatter_reduce(1, idx, nnkit.tensor([[-2, -4, 5]]), "mean").tolist() == [[-2, 3, 3, 4]]
    assert x.scatter_reduce(1, idx, nnkit.tensor([[2, 5, 5]]), "mean", include_self=False).tolist() == [[3, 5, 3, 4]]
    assert x.scatter_reduce(1, idx, nnkit.tensor([[-2, -4, 5]]), "amax", include_self=False).tolist() == [[-2, 5, 3, 4]]
    assert x.scatter_reduce(1, idx, nnkit.tensor([[-2, -4, 5]]), "amin").tolist() == [[-4, 2, 3, 4]]


def test_scatter_with_reduce_and_a_number():
    idx = nnkit.tensor([[0, 1], [2, 0]])
    out = nnkit.ones(3, 4).scatter(1, idx, 3.0, reduce="multiply")
    assert out.tolist() == [[3.0, 3.0, 1.0, 1.0], [3.0, 1.0, 3.0, 1.0], [1.0] * 4]
    assert nnkit.zeros(2, 2).scatter(0, nnkit.tensor([[1, 1]]), value=5).tolist() == [[0.0, 0.0], [5.0, 5.0]]


def test_masked_fill_and_index_fill_keep_the_input_dtype():
    x = nnkit.tensor([1, 2])
    assert x.masked_fill(nnkit.tensor([True, False]), 1.5).tolist() == [1, 2]
    assert x.index_fill(0, nnkit.tensor([1]), 7.9).tolist() == [1, 7]
    y = nnkit.tensor([1.0, 2.0]).masked_fill(nnkit.tensor([True, False]), nnkit.tensor(0.5, dtype=nnkit.float64))
    assert y.dtype == nnkit.float32 and y.tolist() == [0.5, 2.0]


def test_nonzero_argwhere_and_one_argument_where():
    x = nnkit.tensor([[0, 1, 2], [3, 0, 0]])
    assert x.nonzero().tolist() == [[0, 1], [0, 2], [1, 0]] and x.nonzero().dtype == nnkit.int64
    rows, cols = nnkit.nonzero(x, as_tuple=True)
    assert rows.tolist() == [0, 0, 1] and cols.tolist() == [1, 2, 0]
    assert [t.tolist() for t in nnkit.where(x > 0)] == [[0, 0, 1], [1, 2, 0]]
    assert nnkit.argwhere(x).tolist() == x.argwhere().tolist() == [[0, 1], [0, 2], [1, 0]]
    assert nnkit.tensor(3).nonzero().shape == (1, 0) and nnkit.tensor(0).nonzero().shape == (0, 0)
    assert [t.tolist() for t in nnkit.tensor(1.5).nonzero(as_tuple=True)] == [[0]]


def test_zero_dim_inputs_of_the_index_ops():
    x = nnkit.tensor(5.0)
    assert x.index_select(0, nnkit.tensor([0])).shape == ()
    assert x.index_add(0, nnkit.tensor(0), nnkit.tensor(2.0)).item() == 7.0
    assert x.scatter_add(0, nnkit.tensor(0), nnkit.tensor(1.0)).item() == 6.0
    assert x.take(nnkit.tensor(0)).shape == () and x.masked_select(nnkit.tensor(True)).tolist() == [5.0]
    assert x[None].shape == (1,) and x[...].shape == () and x[nnkit.tensor(True)].shape == (1,)


# --- PyTorch's placement of the indexed dims ---------------------------------------------------

X = np.arange(2 * 3 * 4 * 5, dtype=np.float64).reshape(2, 3, 4, 5)
I, J = [[1], [0]], [1, 0, 2]  # together they name six different places

# name: (the index, built for a tensor x of either library; the same read in NumPy). An int is
# applied before the advanced indices, as PyTorch does (NumPy counts it as one of them).
PLACEMENTS = {
    "int_slice_tensor": (lambda x: (0, slice(None), t(x, J)), lambda x: x[0][:, J]),
    "slice_int_slice_tensor": (lambda x: (slice(None), 0, slice(None), t(x, J)), lambda x: x[:, 0][:, :, J]),
    "int_slice_tensor_int": (lambda x: (0, slice(None), t(x, J), 0), lambda x: x[0][:, J, 0]),
    "0d_tensor_as_int": (lambda x: (slice(None), t(x, 1), slice(None), t(x, J)), lambda x: x[:, 1][:, :, J]),
    "tensors_apart": (lambda x: (t(x, I), slice(None), t(x, J)), lambda x: x[I, :, J]),
    "tensors_apart_after_slice": (lambda x: (slice(None), t(x, I), slice(None), t(x, J)), lambda x: x[:, I, :, J]),
    "tensor_int_slice_tensor": (lambda x: (t(x, I), 0, slice(None), t(x, J)), lambda x: x[I, 0, :, J]),
    "ellipsis_tensor": (lambda x: (Ellipsis, t(x, J)), lambda x: x[..., J]),
    "none_tensor": (lambda x: (None, t(x, I)), lambda x: x[None, I]),
    "tensor_none_tensor": (lambda x: (t(x, I), None, t(x, J)), lambda x: x[I, None, J]),
    "mask_slice_tensor": (lambda x: (t(x, [True, False]), slice(None), t(x, J)), lambda x: x[[0], :, J]),
    "int_slice_mask": (lambda x: (0, slice(None), t(x, [True, False, True, True])), lambda x: x[0][:, [0, 2, 3]]),
    "mask_2d_slice_tensor": (lambda x: (t(x, np.ones((2, 3), bool)), slice(None), t(x, [0, 1, 2, 3, 0, 1])),
                             lambda x: x.reshape(6, 4, 5)[np.arange(6), :, [0, 1, 2, 3, 0, 1]]),
    "bool_true": (lambda x: True, lambda x: x[None]),
    "bool_false": (lambda x: False, lambda x: x[None][:0]),
    "tensor_bool_true": (lambda x: (t(x, [1, 0]), slice(None), True), lambda x: x[[1, 0]]),  # True indexes a new dim
    "list_of_lists_is_a_tuple": (lambda x: [[0, 1], [1, 2]], lambda x: x[[0, 1], [1, 2]]),
    "list_with_slice_is_a_tuple": (lambda x: [slice(None), 0], lambda x: x[:, 0]),
    "second_ellipsis_matches_nothing": (lambda x: (Ellipsis, 0, Ellipsis), lambda x: x[..., 0]),
    "steps_and_tensors": (lambda x: (slice(1, None), t(x, [2, 0]), slice(None, None, 2), t(x, [1, 1])),
                          lambda x: x[1:, [2, 0], ::2, [1, 1]]),
    "int_slice_tensors": (lambda x: (1, slice(1, None), t(x, [[2], [0]]), t(x, [1, 3])),
                          lambda x: x[1][1:, [[2], [0]], [1, 3]]),
    "empty_list": (lambda x: [], lambda x: x[np.array([], dtype=int)]),
}


LIST_AS_TUPLE = pytest.mark.filterwarnings("ignore:.*non-tuple sequence")  # nnkit warns as PyTorch does


@LIST_AS_TUPLE
@pytest.mark.parametrize("name", PLACEMENTS)
def test_indexed_dims_are_placed_as_pytorch_places_them(name):
    index, ref = PLACEMENTS[name]
    x = nnkit.tensor(X)
    got, want = x[index(x)], ref(X)
    assert got.shape == want.shape
    np.testing.assert_array_equal(got.numpy(), want)


@LIST_AS_TUPLE
@pytest.mark.parametrize("name", PLACEMENTS)
def test_assignment_writes_where_reading_reads(name):
    index, ref = PLACEMENTS[name]
    x = nnkit.tensor(X)
    v = np.arange(np.prod(ref(X).shape), dtype=np.float64).reshape(ref(X).shape) + 1000
    x[index(x)] = nnkit.tensor(v)
    np.testing.assert_array_equal(x[index(x)].numpy(), v)  # no place is indexed twice here
    assert (x.numpy() >= 1000).sum() == v.size


def test_a_list_holding_lists_is_read_as_a_tuple_with_pytorch_s_warning():
    x = nnkit.tensor(X)
    with pytest.warns(UserWarning, match="non-tuple sequence"):
        assert x[[[0, 1], [1, 2]]].shape == (2, 4, 5)
    assert x[[0, 1]].shape == (2, 3, 4, 5)  # a list of numbers is one index tensor


# --- errors, as PyTorch raises them ----------------------------------------------------------

@pytest.mark.parametrize("fn, error, words", [
    (lambda x: x[5], IndexError, "index 5 is out of bounds for dimension 0 with size 3"),
    (lambda x: x[:, -6], IndexError, "index -6 is out of bounds for dimension 1 with size 4"),
    (lambda x: x[:, nnkit.tensor([0, 4])], IndexError, "index 4 is out of bounds for dimension 1 with size 4"),
    (lambda x: x[nnkit.tensor([True, False])], IndexError, "shape of the mask [2] at index 0"),
    (lambda x: x[0, 0, 0], IndexError, "too many indices for tensor of dimension 2 (tensor of shape (3, 4))"),
    (lambda x: x[nnkit.tensor([0.0])], IndexError, "long, int, byte or bool"),
    (lambda x: x[1.5], IndexError, "(got float)"),
    (lambda x: x[nnkit.tensor([0, 1]), nnkit.tensor([0, 1, 2])], IndexError, "shape (3, 4)"),
    (lambda x: x.gather(1, nnkit.tensor([0, 1])), RuntimeError, "gather: index tensor must have the same number"),
    (lambda x: x.gather(1, nnkit.zeros(4, 2, dtype=nnkit.int64)), RuntimeError, "gather: expected index (4, 2)"),
    (lambda x: x.gather(1, nnkit.tensor([[4]])), RuntimeError, "gather: index 4 is out of bounds for dimension 1"),
    (lambda x: x.gather(1, nnkit.tensor([[-1]])), RuntimeError, "gather: index -1 is out of bounds"),
    (lambda x: x.gather(1, nnkit.tensor([[1.0]])), RuntimeError, "gather: expected an int64 or int32 index"),
    (lambda x: x.scatter(1, nnkit.tensor([[0, 1]]), nnkit.ones(1, 1)), RuntimeError, "no larger than src (1, 1)"),
    (lambda x: x.scatter(1, nnkit.tensor([[0]]), nnkit.ones(1, 1, dtype=nnkit.float64)), RuntimeError,
     "same dtype"),
    (lambda x: x.scatter(1, nnkit.tensor([[0]]), 1.0, reduce="sum"), RuntimeError, "either add or multiply"),
    (lambda x: x.scatter_reduce(1, nnkit.tensor([[0]]), nnkit.ones(1, 1), "max"), RuntimeError,
     "sum, prod, mean, amax or amin"),
    (lambda x: x.index_select(0, nnkit.tensor([[1]])), IndexError, "index_select: index is supposed to be a vector"),
    (lambda x: x.index_select(0, nnkit.tensor([3])), IndexError, "index_select: index 3 is out of bounds"),
    (lambda x: x.index_select(0, nnkit.tensor([-1])), IndexError, "index_select: index -1 is out of bounds"),
    (lambda x: x.index_select(2, nnkit.tensor([0])), IndexError, "index_select: dim 2 is out of range"),
    (lambda x: x.index_add(0, nnkit.tensor([0, 1]), nnkit.ones(3, 4)), RuntimeError, "index_add: source of shape"),
    (lambda x: x.index_copy(0, nnkit.tensor([0, 1]), nnkit.ones(2, 3)), IndexError, "expected shape (2, 4)"),
    (lambda x: x.index_fill(0, nnkit.tensor([0]), nnkit.tensor([1.0])), RuntimeError, "0-dimensional value"),
    (lambda x: x.index_reduce(0, nnkit.tensor([0]), nnkit.ones(1, 4), "sum"), RuntimeError,
     "prod, mean, amax or amin, got 'sum'"),
    (lambda x: x.masked_fill(nnkit.ones(3, 4), 1.0), RuntimeError, "masked_fill: expected a boolean mask"),
    (lambda x: x.masked_fill(nnkit.ones(3, dtype=nnkit.bool), 1.0), RuntimeError, "cannot be broadcast"),
    (lambda x: x.masked_select(nnkit.ones(2, 4, dtype=nnkit.bool)), RuntimeError, "cannot be broadcast"),
    (lambda x: x.masked_scatter(nnkit.ones(4, dtype=nnkit.bool), nnkit.ones(5)), RuntimeError,
     "number of elements of source (5)"),
    (lambda x: x.take(nnkit.tensor([12])), IndexError, "take: out of range: tried to access index 12"),
    (lambda x: x.put(nnkit.tensor([0, 1]), nnkit.ones(3)), IndexError, "source.numel() = 3, index.numel() = 2"),
    (lambda x: x.take_along_dim(nnkit.tensor([0]), 1), RuntimeError, "same number of dimensions"),
    (lambda x: x.take_along_dim(nnkit.tensor([[0], [1]]), 1), RuntimeError, "cannot be broadcast"),
    (lambda x: x.index_put((nnkit.tensor([0]),), 1.0), TypeError, "values must be a tensor"),
    (lambda x: x.index_put((None,), nnkit.tensor(1.0)), TypeError, "element 0 of indices"),
], ids=lambda v: v if isinstance(v, str) else "")
def test_errors_name_the_op_and_the_shapes(fn, error, words):
    with pytest.raises(error) as info:
        fn(nnkit.zeros(3, 4))
    assert words in str(info.value)


def test_out_of_range_indices_raise_both_index_and_runtime_errors():
    """PyTorch raises IndexError from indexing and RuntimeError from its index kernels: either catches them."""
    x = nnkit.zeros(3)
    for bad in (lambda: x[nnkit.tensor([3])], lambda: x.gather(0, nnkit.tensor([3])),
                lambda: x.index_add(0, nnkit.tensor([3]), nnkit.ones(1))):
        with pytest.raises(IndexError):
            bad()
        with pytest.raises(RuntimeError):
            bad()


def test_assignment_of_a_value_that_does_not_fit_raises():
    x = nnkit.zeros(3, 4)
    with pytest.raises(RuntimeError, match=r"value tensor of shape \(2,\) cannot be broadcast to indexing result "
                                           r"of shape \(3, 4\)"):
        x[...] = nnkit.ones(2)
    with pytest.raises(RuntimeError, match="cannot be broadcast"):
        x.requires_grad_()
        (x * 1)[nnkit.tensor([0, 1])] = nnkit.ones(3)
