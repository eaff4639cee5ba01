"""Reductions and scans: forward against NumPy, gradients against finite differences
(float64; contiguous, transposed and strided inputs; second derivatives), and the
behaviour PyTorch gives where one might guess otherwise: ties, zeros, NaNs, empty
tensors, dtypes, argument forms and errors.

``test_torch_reduction.py`` runs the same table against PyTorch.
"""

import math

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

import nnkit
from test_ops_gradcheck import LAYOUTS, Case, assert_forward, case_arrays, check, check_second, lib

S = (2, 3, 4)
INF = float("inf")


def np_lower_median(x, axis):
    return np.take(np.sort(x, axis), (x.shape[axis] - 1) // 2, axis)


def np_norm(x, p, axis=None, keepdims=False):
    a = np.abs(x)
    if p == INF:
        return a.max(axis, keepdims=keepdims)
    if p == -INF:
        return a.min(axis, keepdims=keepdims)
    return (a ** p).sum(axis, keepdims=keepdims) ** (1 / p)


def np_std(x, axis, correction):
    return np.sqrt(((x - x.mean(axis, keepdims=True)) ** 2).sum(axis) / (x.shape[axis] - correction))


def q_tensor(x, values):
    return lib(x).tensor(values, dtype=x.dtype)


# Differentiable ops, written with the names nnkit and PyTorch share (first derivatives on
# every layout, second derivatives, and the same table against torch).
CASES = {
    # sums and means
    "sum_axis_keepdims": Case(lambda x: x.sum(axis=(0, 2), keepdims=True), lambda x: x.sum((0, 2), keepdims=True),
                              [S]),
    "sum_empty_dims_means_all": Case(lambda x: x.sum(dim=()), np.sum, [S]),
    "sum_dtype": Case(lambda x: x.sum(1, dtype=lib(x).float64), lambda x: x.sum(1), [S]),
    "nansum": Case(lambda x: x.nansum(1), lambda x: np.nansum(x, 1), [S]),
    "nansum_fn": Case(lambda x: lib(x).nansum(x, (0, -1), keepdim=True),
                      lambda x: np.nansum(x, (0, 2), keepdims=True), [S]),
    "mean_dtype": Case(lambda x: x.mean(-1, dtype=lib(x).float64), lambda x: x.mean(-1), [S]),
    "nanmean": Case(lambda x: x.nanmean((0, 2)), lambda x: np.nanmean(x, (0, 2)), [S]),
    "prod_dim": Case(lambda x: x.prod(1), lambda x: x.prod(1), [S]),
    "prod_all": Case(lambda x: x.prod(), np.prod, [(3, 4)], "n"),
    "prod_keepdim_negative": Case(lambda x: lib(x).prod(x, -1, keepdim=True), lambda x: x.prod(-1, keepdims=True),
                                  [S]),
    "prod_0d": Case(lambda x: x.prod(), np.prod, [()]),
    "prod_0d_dim": Case(lambda x: x.prod(0), np.prod, [()]),
    "prod_single": Case(lambda x: x.prod(0), lambda x: x.prod(0), [(1, 3)]),
    "count_in_mean": Case(lambda x: x.sum(1) / (x > 0).count_nonzero(1).clamp(min=1),
                          lambda x: x.sum(1) / np.maximum((x > 0).sum(1), 1), [S]),
    # spread
    "var_unbiased_positional": Case(lambda x: x.var(1, True), lambda x: x.var(1, ddof=1), [S]),
    "var_keepdim_positional": Case(lambda x: x.var(0, False, True), lambda x: x.var(0, keepdims=True), [S]),
    "var_unbiased_only": Case(lambda x: x.var(False), np.var, [S]),
    "std_correction_half": Case(lambda x: x.std(2, correction=0.5), lambda x: np_std(x, 2, 0.5), [S]),
    "var_mean": Case(lambda x: lib(x).var_mean(x, 1), lambda x: (x.var(1, ddof=1), x.mean(1)), [S]),
    "var_mean_keepdim": Case(lambda x: lib(x).var_mean(x, (0, 2), correction=0, keepdim=True),
                             lambda x: (x.var((0, 2), keepdims=True), x.mean((0, 2), keepdims=True)), [S]),
    "std_mean": Case(lambda x: lib(x).std_mean(x, -1, unbiased=False), lambda x: (x.std(-1), x.mean(-1)), [S]),
    "std_mean_all": Case(lambda x: lib(x).std_mean(x), lambda x: (x.std(ddof=1), x.mean()), [S]),
    # extremes
    "max_dim_keepdim": Case(lambda x: x.max(1, True).values, lambda x: x.max(1, keepdims=True), [S]),
    "min_0d_dim": Case(lambda x: x.min(0).values, lambda x: x, [()]),
    "amax_axis": Case(lambda x: x.amax(axis=-1), lambda x: x.max(-1), [S]),
    "amin_all": Case(lambda x: x.amin(), np.min, [S]),
    "aminmax": Case(lambda x: tuple(x.aminmax()), lambda x: (x.min(), x.max()), [S]),
    "aminmax_dim": Case(lambda x: tuple(lib(x).aminmax(x, dim=1, keepdim=True)),
                        lambda x: (x.min(1, keepdims=True), x.max(1, keepdims=True)), [S]),
    # norms
    "norm_p1_dim": Case(lambda x: x.norm(1, dim=1), lambda x: np_norm(x, 1, 1), [S], "n"),
    "norm_inf": Case(lambda x: x.norm(INF), lambda x: np_norm(x, INF), [S]),
    "norm_neg_inf_dims": Case(lambda x: x.norm(-INF, dim=(0, 2)), lambda x: np_norm(x, -INF, (0, 2)), [S]),
    "norm_fractional": Case(lambda x: x.norm(0.5, dim=-1), lambda x: np_norm(x, 0.5, -1), [S], "n"),
    "norm_p1_5": Case(lambda x: x.norm(1.5), lambda x: np_norm(x, 1.5), [S], "n"),
    "norm_p3_keepdim": Case(lambda x: x.norm(3, 2, keepdim=True), lambda x: np_norm(x, 3, 2, True), [S], "n"),
    "norm_fro_dims": Case(lambda x: x.norm("fro", dim=(1, 2)), lambda x: np_norm(x, 2, (1, 2)), [S]),
    "norm_0d": Case(lambda x: x.norm(), np.abs, [()], "n"),
    "dist": Case(lambda a, b: lib(a).dist(a, b), lambda a, b: np_norm(a - b, 2), [(3, 4), (4,)]),
    "dist_p3": Case(lambda a, b: a.dist(b, 3), lambda a, b: np_norm(a - b, 3), [(2, 3), (2, 3)]),
    "logsumexp_axis": Case(lambda x: x.logsumexp(axis=(0, 1)),
                           lambda x: np.log(np.exp(x).sum((0, 1))), [S]),
    "softmax_dtype": Case(lambda x: x.softmax(1, dtype=lib(x).float64),
                          lambda x: np.exp(x) / np.exp(x).sum(1, keepdims=True), [S]),
    # scans
    "cumsum_0d": Case(lambda x: x.cumsum(0), lambda x: x, [()]),
    "cumsum_negative_dim": Case(lambda x: lib(x).cumsum(x, dim=-1), lambda x: x.cumsum(-1), [S]),
    "cumprod": Case(lambda x: x.cumprod(1), lambda x: np.cumprod(x, 1), [S]),
    "cumprod_last": Case(lambda x: lib(x).cumprod(x, -1), lambda x: np.cumprod(x, -1), [S]),
    "cumprod_0d": Case(lambda x: x.cumprod(0), lambda x: x, [()]),
    "cummax": Case(lambda x: x.cummax(1).values, lambda x: np.maximum.accumulate(x, 1), [S]),
    "cummin": Case(lambda x: lib(x).cummin(x, 0)[0], lambda x: np.minimum.accumulate(x, 0), [S]),
    "cummax_0d": Case(lambda x: x.cummax(0).values, lambda x: x, [()]),
    "logcumsumexp": Case(lambda x: x.logcumsumexp(2), lambda x: np.logaddexp.accumulate(x, 2), [S]),
    "logcumsumexp_dim0": Case(lambda x: lib(x).logcumsumexp(x, 0), lambda x: np.logaddexp.accumulate(x, 0), [S]),
    "logcumsumexp_0d": Case(lambda x: x.logcumsumexp(0), lambda x: x, [()]),
    # sorting and selection
    "sort": Case(lambda x: x.sort(1).values, lambda x: np.sort(x, 1), [S]),
    "sort_descending": Case(lambda x: x.sort(0, True)[0], lambda x: -np.sort(-x, 0), [S]),
    "sort_0d": Case(lambda x: x.sort().values, lambda x: x, [()]),
    "msort": Case(lambda x: x.msort(), lambda x: np.sort(x, 0), [S]),
    "topk": Case(lambda x: x.topk(2).values, lambda x: -np.sort(-x, -1)[..., :2], [S]),
    "topk_smallest": Case(lambda x: x.topk(2, 1, largest=False).values, lambda x: np.sort(x, 1)[:, :2], [S]),
    "kthvalue": Case(lambda x: x.kthvalue(2, 1).values, lambda x: np.sort(x, 1)[:, 1], [S]),
    "kthvalue_keepdim": Case(lambda x: x.kthvalue(4, -1, True)[0], lambda x: np.sort(x, -1)[..., 3:], [S]),
    "kthvalue_0d": Case(lambda x: x.kthvalue(1).values, lambda x: x, [()]),
    "median": Case(lambda x: x.median(), lambda x: np_lower_median(x.reshape(-1), 0), [S]),
    "median_dim": Case(lambda x: x.median(-1).values, lambda x: np_lower_median(x, -1), [S]),
    "median_dim_keepdim": Case(lambda x: x.median(1, keepdim=True).values,
                               lambda x: np_lower_median(x, 1)[:, None], [S]),
    "nanmedian": Case(lambda x: x.nanmedian(), lambda x: np_lower_median(x.reshape(-1), 0), [S]),
    "nanmedian_dim": Case(lambda x: x.nanmedian(0).values, lambda x: np_lower_median(x, 0), [S]),
    "mode": Case(lambda x: x.mode(1).values, lambda x: x.min(1), [S]),  # distinct values: each occurs once
    "mode_0d": Case(lambda x: x.mode().values, lambda x: x, [()]),
    "quantile": Case(lambda x: x.quantile(0.3), lambda x: np.quantile(x, 0.3), [S]),
    "quantile_q_tensor": Case(lambda x: x.quantile(q_tensor(x, [0.2, 0.75]), dim=1, keepdim=True),
                              lambda x: np.quantile(x, [0.2, 0.75], axis=1, keepdims=True), [S]),
    "quantile_0d_q": Case(lambda x: lib(x).quantile(x, q_tensor(x, 0.6), dim=-1),
                          lambda x: np.quantile(x, 0.6, axis=-1), [S]),
    "quantile_midpoint": Case(lambda x: x.quantile(0.4, 0, interpolation="midpoint"),
                              lambda x: np.quantile(x, 0.4, 0, method="midpoint"), [S]),
    "quantile_lower": Case(lambda x: x.quantile(0.4, 2, interpolation="lower"),
                           lambda x: np.quantile(x, 0.4, 2, method="lower"), [S]),
    "quantile_higher": Case(lambda x: x.quantile(0.4, interpolation="higher"),
                            lambda x: np.quantile(x, 0.4, method="higher"), [S]),
    "quantile_nearest": Case(lambda x: x.quantile(q_tensor(x, [0.1, 0.5, 0.9]), 1, interpolation="nearest"),
                             lambda x: np.quantile(x, [0.1, 0.5, 0.9], 1, method="nearest"), [S]),
    "quantile_0d": Case(lambda x: x.quantile(0.5), lambda x: x, [()]),
    "nanquantile": Case(lambda x: x.nanquantile(0.8, dim=0, keepdim=True),
                        lambda x: np.nanquantile(x, 0.8, axis=0, keepdims=True), [S]),
}


# --- forward, first and second derivatives ------------------------------------------------

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


def with_zeros(rng, shape, zeros) -> np.ndarray:
    x = rng.uniform(0.5, 2.0, shape) * rng.choice([-1.0, 1.0], shape)
    for index in zeros:
        x[index] = 0.0
    return x


# rows with no zero, one zero, two zeros (the products of the others are then all zero)
ZERO_PATTERNS = {"one_zero": [(0, 1)], "zero_per_row": [(0, 0), (1, 2), (2, 3)], "two_zeros": [(0, 1), (0, 3)],
                 "zero_first_and_last": [(1, 0), (1, 3), (2, 2)]}


@pytest.mark.parametrize("zeros", ZERO_PATTERNS)
@pytest.mark.parametrize("op", [lambda x: x.prod(1), lambda x: x.prod(), lambda x: x.cumprod(1),
                                lambda x: x.cumprod(0), lambda x: x.T.cumprod(0)],
                         ids=["prod_dim", "prod_all", "cumprod", "cumprod_dim0", "cumprod_transposed"])
def test_products_are_differentiable_twice_at_zeros(op, zeros, rng):
    arrays = [with_zeros(rng, (3, 4), ZERO_PATTERNS[zeros])]
    check(op, arrays)
    check_second(op, arrays, rng)


def test_prod_gradient_is_the_product_of_the_others_with_one_or_two_zeros():
    x = nnkit.tensor([[2.0, 0.0, 3.0], [0.0, 0.0, 3.0], [2.0, 5.0, 3.0]], requires_grad=True)
    x.prod(1).sum().backward()
    assert x.grad.tolist() == [[0.0, 6.0, 0.0], [0.0, 0.0, 0.0], [15.0, 6.0, 10.0]]
    # second derivatives: d²(x0·x1·x2)/dx0dx1 = x2, even where x0 = x1 = 0
    y = nnkit.tensor([0.0, 0.0, 3.0], requires_grad=True)
    (g,) = nnkit.autograd.grad(y.prod(), y, create_graph=True)
    (h,) = nnkit.autograd.grad(g[0], y)
    assert g.tolist() == [0.0, 0.0, 0.0] and h.tolist() == [0.0, 3.0, 0.0]


def test_cumprod_gradient_with_zeros_is_exact():
    x = nnkit.tensor([2.0, 0.0, 3.0, 0.0, 5.0], requires_grad=True)
    x.cumprod(0).sum().backward()
    # d/dx1 Σ_k Π_{j≤k} x_j = x0 + x0·x2 (+ terms holding x3 = 0)
    assert x.grad.tolist() == [1.0, 8.0, 0.0, 0.0, 0.0]


def test_products_of_integers_are_int64():
    x = nnkit.tensor([1, 2, 3], dtype=nnkit.int32)
    assert x.prod().dtype == nnkit.int64 and x.prod().item() == 6
    assert x.cumprod(0).dtype == nnkit.int64 and x.cumprod(0).tolist() == [1, 2, 6]
    assert nnkit.tensor([True, False]).prod().dtype == nnkit.int64
    assert nnkit.tensor([1.0, 2.0]).prod(0, dtype=nnkit.int64).tolist() == 2


# --- where the gradient goes at ties ---------------------------------------------------------

TIES = [[1.0, 3.0, 3.0, 2.0], [4.0, 0.0, 4.0, 4.0]]


@pytest.mark.parametrize("op, expected", [
    (lambda x: x.max(), [[0, 0, 0, 0], [1 / 3, 0, 1 / 3, 1 / 3]]),
    (lambda x: x.min(), [[0, 0, 0, 0], [0, 1, 0, 0]]),
    (lambda x: x.amax(1).sum(), [[0, 0.5, 0.5, 0], [1 / 3, 0, 1 / 3, 1 / 3]]),
    (lambda x: x.aminmax(dim=1).max.sum(), [[0, 0.5, 0.5, 0], [1 / 3, 0, 1 / 3, 1 / 3]]),
    (lambda x: x.median(), [[0, 0.5, 0.5, 0], [0, 0, 0, 0]]),
    (lambda x: x.norm(INF), [[0, 0, 0, 0], [1 / 3, 0, 1 / 3, 1 / 3]]),
], ids=["max", "min", "amax", "aminmax", "median", "norm_inf"])
def test_value_only_extremes_share_the_gradient_among_ties(op, expected):
    x = nnkit.tensor(TIES, requires_grad=True)
    op(x).backward()
    np.testing.assert_allclose(x.grad.numpy(), expected, rtol=1e-6)


@pytest.mark.parametrize("op, expected", [
    (lambda x: x.max(1).values, [[0, 1, 0, 0], [1, 0, 0, 0]]),
    (lambda x: x.sort(1, descending=True).values[:, 0], [[0, 1, 0, 0], [1, 0, 0, 0]]),
    (lambda x: x.topk(1).values[:, 0], [[0, 1, 0, 0], [1, 0, 0, 0]]),
    (lambda x: x.kthvalue(3, 1).values, [[0, 1, 0, 0], [0, 0, 1, 0]]),
    (lambda x: x.mode(1).values, [[0, 0, 1, 0], [0, 0, 0, 1]]),
    (lambda x: x.cummax(1).values[:, -1], [[0, 0, 1, 0], [0, 0, 0, 1]]),
], ids=["max_dim", "sort", "topk", "kthvalue", "mode", "cummax"])
def test_ops_with_indices_send_the_gradient_to_the_index_they_return(op, expected):
    x = nnkit.tensor(TIES, requires_grad=True)
    op(x).sum().backward()
    assert x.grad.tolist() == expected


def test_cummax_and_cummin_index_the_latest_tie_and_keep_a_nan():
    values, indices = nnkit.tensor([3.0, 1.0, 3.0, 2.0, 1.0, 3.0]).cummax(0)
    assert values.tolist() == [3.0] * 6 and indices.tolist() == [0, 0, 2, 2, 2, 5]
    assert nnkit.tensor([3.0, 1.0, 3.0, 2.0, 1.0, 3.0]).cummin(0).indices.tolist() == [0, 1, 1, 1, 4, 4]
    values, indices = nnkit.tensor([1.0, float("nan"), 3.0]).cummax(0)
    assert np.isnan(values.numpy()[1:]).all() and indices.tolist() == [0, 1, 1]


def test_mode_is_the_smallest_most_frequent_value_at_its_last_occurrence():
    values, indices = nnkit.tensor([[3.0, 1.0, 3.0, 2.0, 1.0, 3.0], [2.0, 1.0, 1.0, 2.0, 5.0, 0.0]]).mode(1)
    assert values.tolist() == [3.0, 1.0] and indices.tolist() == [5, 2]


def test_median_is_the_lower_median_and_nan_aware():
    assert nnkit.tensor([4.0, 1.0, 3.0, 2.0]).median().item() == 2.0
    values, indices = nnkit.tensor([[4.0, 1.0, 3.0, 2.0], [1.0, float("nan"), 3.0, 0.0]]).median(1)
    assert values.tolist()[0] == 2.0 and math.isnan(values.tolist()[1]) and indices.tolist() == [3, 1]
    assert math.isnan(nnkit.tensor([1.0, float("nan")]).median().item())
    assert nnkit.tensor([1.0, float("nan"), 3.0]).nanmedian().item() == 1.0
    values, indices = nnkit.tensor([[float("nan"), 2.0, float("nan"), 4.0], [float("nan")] * 4]).nanmedian(1)
    assert values.tolist()[0] == 2.0 and indices.tolist()[0] == 1 and math.isnan(values.tolist()[1])


def test_max_of_a_tensor_with_nans_is_nan_and_its_gradient_goes_to_them():
    x = nnkit.tensor([1.0, float("nan"), float("nan")], requires_grad=True)
    out = x.max()
    out.backward()
    assert math.isnan(out.item()) and x.grad.tolist() == [0.0, 0.5, 0.5]
    assert x.max(0).indices.item() == 1 and x.argmax().item() == 1


# --- sorting -----------------------------------------------------------------------------------

def test_sort_is_stable_both_ways_and_puts_nan_last_ascending():
    x = nnkit.tensor([2.0, 1.0, 2.0, float("nan"), 1.0, 2.0])
    assert x.sort().indices.tolist() == [1, 4, 0, 2, 5, 3]
    assert x.sort(descending=True).indices.tolist() == [3, 0, 2, 5, 1, 4]
    assert x.argsort(descending=True, stable=True).tolist() == [3, 0, 2, 5, 1, 4]
    assert nnkit.tensor([True, False, True]).sort(descending=True).indices.tolist() == [0, 2, 1]
    assert nnkit.tensor([1, 2], dtype=nnkit.uint8).sort(descending=True).values.tolist() == [2, 1]


def test_topk_and_kthvalue_on_integers():
    x = nnkit.tensor([[5, 1, 4], [2, 9, 9]])
    values, indices = x.topk(2)
    assert values.tolist() == [[5, 4], [9, 9]] and indices.tolist() == [[0, 2], [1, 2]]
    assert x.kthvalue(1, 0).values.tolist() == [2, 1, 4] and x.kthvalue(1, 0).values.dtype == nnkit.int64


# --- empty tensors --------------------------------------------------------------------------

EMPTY = (0, 3)


@pytest.mark.parametrize("op, expected", [
    (lambda x: x.sum(), 0.0), (lambda x: x.prod(), 1.0), (lambda x: x.nansum(), 0.0),
    (lambda x: x.sum(0).tolist(), [0.0] * 3), (lambda x: x.prod(0).tolist(), [1.0] * 3),
    (lambda x: x.logsumexp(0).tolist(), [-INF] * 3), (lambda x: x.norm(), 0.0),
    (lambda x: x.count_nonzero(), 0), (lambda x: x.all(), True), (lambda x: x.any(), False),
    (lambda x: x.max(1).values.shape, (0,)), (lambda x: x.amax(1).shape, (0,)), (lambda x: x.cumsum(0).shape, EMPTY),
    (lambda x: x.sort(0).values.shape, EMPTY), (lambda x: x.argmax(1).shape, (0,)),
    (lambda x: x.mode(1)[0].shape, (0,)),
], ids=["sum", "prod", "nansum", "sum_dim", "prod_dim", "logsumexp", "norm", "count_nonzero", "all", "any",
        "max_other_dim", "amax_other_dim", "cumsum", "sort", "argmax_other_dim", "mode_other_dim"])
def test_reductions_of_empty_tensors(op, expected):
    out = op(nnkit.zeros(EMPTY))
    assert (out.item() if isinstance(out, nnkit.Tensor) else out) == expected


def test_means_of_nothing_are_nan():
    x = nnkit.zeros(EMPTY)
    assert math.isnan(x.mean().item()) and np.isnan(x.mean(0).numpy()).all()
    assert math.isnan(x.median().item()) and math.isnan(x.nanmean().item())
    with pytest.warns(UserWarning, match="degrees of freedom"):
        assert math.isnan(x.var().item())


@pytest.mark.parametrize("op, error, name", [
    (lambda x: x.max(), RuntimeError, "max"), (lambda x: x.min(), RuntimeError, "min"),
    (lambda x: x.amax(), RuntimeError, "amax"), (lambda x: x.aminmax(), RuntimeError, "aminmax"),
    (lambda x: x.max(0), IndexError, "max"), (lambda x: x.amin(0), IndexError, "amin"),
    (lambda x: x.argmax(), IndexError, "argmax"), (lambda x: x.argmin(0), IndexError, "argmin"),
    (lambda x: x.median(0), IndexError, "median"), (lambda x: x.kthvalue(1, 0), IndexError, "kthvalue"),
    (lambda x: x.mode(0), IndexError, "mode"), (lambda x: x.norm(INF), RuntimeError, "norm"),
    (lambda x: x.quantile(0.5), RuntimeError, "quantile"),
], ids=["max", "min", "amax", "aminmax", "max_dim", "amin_dim", "argmax", "argmin_dim", "median_dim", "kthvalue",
        "mode", "norm_inf", "quantile"])
def test_reductions_without_identity_refuse_empty_tensors_naming_the_op(op, error, name):
    with pytest.raises(error, match=name):
        op(nnkit.zeros(EMPTY))


# --- arguments as PyTorch takes them ---------------------------------------------------------

@pytest.mark.parametrize("op", [
    lambda x, **k: x.sum(**k), lambda x, **k: x.mean(**k), lambda x, **k: x.amax(**k), lambda x, **k: x.var(**k),
    lambda x, **k: x.std(**k), lambda x, **k: x.logsumexp(**k), lambda x, **k: x.norm(**k),
    lambda x, **k: x.nansum(**k), lambda x, **k: x.any(**k), lambda x, **k: x.max(**k)[0],
    lambda x, **k: x.argmax(**k), lambda x, **k: x.median(**k)[0], lambda x, **k: nnkit.std_mean(x, **k)[0],
], ids=["sum", "mean", "amax", "var", "std", "logsumexp", "norm", "nansum", "any", "max", "argmax", "median",
        "std_mean"])
def test_numpy_style_axis_and_keepdims_are_accepted(op):
    x = nnkit.randn(3, 4, dtype=nnkit.float64)
    np.testing.assert_array_equal(op(x, axis=1, keepdims=True).numpy(), op(x, dim=1, keepdim=True).numpy())
    with pytest.raises(TypeError, match="axis"):
        op(x, axis=1, dim=1)


def test_scans_accept_axis_and_dtype():
    x = nnkit.tensor([[1, 2], [3, 4]])
    assert x.cumsum(axis=0).tolist() == [[1, 2], [4, 6]]
    out = x.cumsum(1, dtype=nnkit.float64)
    assert out.dtype == nnkit.float64 and out.tolist() == [[1.0, 3.0], [3.0, 7.0]]
    assert x.cumprod(dim=1, dtype=nnkit.float32).dtype == nnkit.float32
    assert nnkit.tensor(3).cumsum(0).tolist() == 3 and nnkit.tensor(2.5).cumprod(0).shape == ()


def test_var_and_std_take_torch_argument_forms():
    x = nnkit.tensor([[1.0, 2.0, 4.0], [0.0, 3.0, 3.0]])
    assert x.var(1, True).tolist() == x.var(1).tolist() == x.var(1, correction=1).tolist()
    assert x.var(1, False).tolist() == x.var(1, correction=0).tolist()
    assert x.var(0, False, True).shape == (1, 3)
    assert x.var(False).item() == pytest.approx(np.var([1, 2, 4, 0, 3, 3]))
    assert x.std(True).item() == pytest.approx(np.std([1, 2, 4, 0, 3, 3], ddof=1))
    with pytest.raises(TypeError, match="unbiased or correction"):
        x.var(0, True, correction=1)


def test_std_mean_and_var_mean_return_pairs_and_are_functions_only():
    x = nnkit.tensor([1.0, 2.0, 4.0])
    s, m = nnkit.std_mean(x)
    v, m2 = nnkit.var_mean(x, 0, False)
    assert (s.item(), m.item(), v.item(), m2.item()) == pytest.approx((np.std([1, 2, 4], ddof=1), 7 / 3,
                                                                      np.var([1, 2, 4]), 7 / 3))
    assert not hasattr(x, "std_mean") and not hasattr(x, "var_mean")


def test_argmax_keepdim_without_dim_keeps_every_dim():
    x = nnkit.tensor([[1.0, 5.0, 2.0], [7.0, 0.0, 7.0]])
    assert x.argmax(keepdim=True).shape == (1, 1) and x.argmax(keepdim=True).tolist() == [[3]]
    assert x.argmin(dim=1, keepdim=True).tolist() == [[0], [1]]


def test_all_and_any_over_tuples_of_dims():
    x = nnkit.tensor([[[1, 0], [1, 1]], [[1, 1], [1, 1]]])
    assert x.all((1, 2)).tolist() == [False, True] and x.any(dim=(0, 2)).tolist() == [True, True]
    assert x.all(dim=()).shape == x.shape  # no dims: nothing reduced, as PyTorch's all and any
    assert nnkit.tensor([1, 2], dtype=nnkit.uint8).all().dtype == nnkit.uint8


ZERO_ROW = [[0.0, 0.0, 0.0], [1.0, 1.0, 1.0], [0.5, 2.0, -1.0]]


@pytest.mark.parametrize("op, rows", [
    (lambda x: x.norm(dim=1), ZERO_ROW), (lambda x: x.norm(1.5, dim=1), ZERO_ROW), (lambda x: x.std(1), ZERO_ROW),
    (lambda x: x.norm(0.5, dim=1), [[1.0, 1.0, 1.0], [0.0, 2.0, -1.0]]),  # a zero element, where |x|^(p-1) is inf
], ids=["norm", "norm_p1_5", "std", "norm_fractional"])
def test_second_derivatives_where_the_result_or_an_element_is_zero_are_finite(op, rows):
    x = nnkit.tensor(rows, dtype=nnkit.float64, requires_grad=True)
    v = nnkit.ones(len(rows), dtype=nnkit.float64, requires_grad=True)
    (g,) = nnkit.autograd.grad(op(x), x, v, create_graph=True)
    second = nnkit.autograd.grad((g * g).sum(), [x, v])
    assert all(np.isfinite(s.numpy()).all() for s in second)


def test_norm_of_zeros_has_zero_gradient_and_p0_counts():
    for p in (2, 1.5, 3, "fro"):
        x = nnkit.zeros(3, requires_grad=True)
        x.norm(p).backward()
        assert x.grad.tolist() == [0.0] * 3
    x = nnkit.tensor([0.0, 1.0, -2.0], requires_grad=True)
    x.norm(0.5).backward()
    assert x.grad.tolist()[0] == 0.0 and np.isfinite(x.grad.numpy()).all()
    assert x.norm(0).item() == 2.0 and x.norm(p=0, dim=0).dtype == nnkit.float32
    with pytest.raises(NotImplementedError, match="nuc"):
        x.norm("nuc")


def test_count_nonzero_and_integer_sums_are_int64():
    x = nnkit.tensor([[1, 0], [2, 2]], dtype=nnkit.int32)
    assert x.count_nonzero(dim=-1).tolist() == [1, 2] and x.count_nonzero().dtype == nnkit.int64
    assert x.sum().dtype == nnkit.int64 and nnkit.tensor([True, True]).sum().item() == 2
    assert x.nansum(0).tolist() == [3, 2] and x.sum(dtype=nnkit.float32).dtype == nnkit.float32
    assert nnkit.tensor([1, 2]).mean(dtype=nnkit.float32).item() == 1.5
    assert nnkit.tensor([True, False]).cumsum(0).tolist() == [1, 1]


def test_nan_reductions_skip_nans_and_send_them_no_gradient():
    x = nnkit.tensor([[1.0, float("nan"), 3.0], [float("nan")] * 3], requires_grad=True)
    assert x.nansum(1).tolist() == [4.0, 0.0]
    means = x.nanmean(1)
    assert means.tolist()[0] == 2.0 and math.isnan(means.tolist()[1])
    x.nansum().backward()
    assert x.grad.tolist() == [[1.0, 0.0, 1.0], [0.0] * 3]


def test_in_place_scans():
    x = nnkit.tensor([1.0, 2.0, 3.0])
    assert x.cumsum_(0) is x and x.tolist() == [1.0, 3.0, 6.0]
    assert x.cumprod_(0).tolist() == [1.0, 3.0, 18.0]


def test_logcumsumexp_does_not_overflow():
    x = nnkit.tensor([1000.0, 1000.0, -1000.0, 0.0], dtype=nnkit.float64, requires_grad=True)
    out = x.logcumsumexp(0)
    np.testing.assert_allclose(out.detach().numpy(), [1000.0] + [1000.0 + math.log(2)] * 3)
    out.backward(nnkit.tensor([1.0, -2.0, 3.0, 0.5], dtype=nnkit.float64))
    assert np.isfinite(x.grad.numpy()).all()
    np.testing.assert_allclose(x.grad.numpy(), [1 - 1 + 1.5 + 0.25, -1 + 1.5 + 0.25, 0.0, 0.0], atol=1e-12)


# --- 16-bit floats accumulate in float32 ---------------------------------------------------------

@pytest.mark.parametrize("op, expected", [
    (lambda x: x.sum(), 4096 * 10.0), (lambda x: x.mean(), 10.0), (lambda x: x.nanmean(), 10.0),
    (lambda x: x.cumsum(0)[-1], 4096 * 10.0), (lambda x: x.norm(), 10.0 * 64), (lambda x: x.var(), 0.0),
    (lambda x: nnkit.var_mean(x)[1], 10.0), (lambda x: x.logsumexp(0), 10.0 + math.log(4096)),
    (lambda x: x.nansum(), 4096 * 10.0),
], ids=["sum", "mean", "nanmean", "cumsum", "norm", "var", "var_mean", "logsumexp", "nansum"])
@pytest.mark.parametrize("dtype", ["float16", "bfloat16"])
def test_16_bit_floats_accumulate_in_float32(op, expected, dtype):
    if getattr(nnkit, dtype, None) is None:
        pytest.skip(f"{dtype} needs ml_dtypes")
    out = op(nnkit.full((4096,), 10.0, dtype=getattr(nnkit, dtype)))  # a float16 running sum would stall at 32,768
    assert out.dtype == getattr(nnkit, dtype)
    assert float(out) == pytest.approx(expected, rel=1e-2, abs=1e-2)


def test_an_explicit_dtype_wins_over_float32_accumulation():
    x = nnkit.full((3,), 1.5, dtype=nnkit.float16)
    assert x.norm(2, 0, False, nnkit.float64).dtype == nnkit.float64
    assert x.softmax(0, nnkit.float32).dtype == nnkit.float32
    assert x.mean(dtype=nnkit.float64).dtype == x.cumsum(0, dtype=nnkit.float64).dtype == nnkit.float64


# --- errors ----------------------------------------------------------------------------------

@pytest.mark.parametrize("op, error, match", [
    (lambda x: x.sum(2), IndexError, "sum: dim 2"), (lambda x: x.cumprod(-3), IndexError, "cumprod: dim -3"),
    (lambda x: x.sort(5), IndexError, "sort"), (lambda x: x.max(dim=2), IndexError, "max"),
    (lambda x: x.sum((0, 0)), RuntimeError, "sum: dim 0 appears more than once"),
    (lambda x: x.mean((1, -1)), RuntimeError, "mean: dim 1 appears"),
    (lambda x: x.sum("a"), TypeError, "sum: dim"), (lambda x: x.sum(1.0), TypeError, "sum"),
    (lambda x: x.max(dim=(0, 1)), TypeError, "max"), (lambda x: x.kthvalue(1.5), TypeError, "kthvalue: k"),
    (lambda x: nnkit.sum([1, 2]), TypeError, "sum: expected a Tensor"),
    (lambda x: x.long().mean(), RuntimeError, "mean"), (lambda x: x.long().var(), RuntimeError, "var"),
    (lambda x: x.long().norm(), RuntimeError, "norm"), (lambda x: x.long().logcumsumexp(0), RuntimeError,
                                                        "logcumsumexp"),
    (lambda x: x.kthvalue(4), RuntimeError, "kthvalue: selected number k=4"),
    (lambda x: x.topk(4), RuntimeError, "topk: selected index k=4"),
    (lambda x: x.quantile(1.5), RuntimeError, r"quantile: q must be in the range \[0, 1\]"),
    (lambda x: x.quantile(0.5, interpolation="cubic"), RuntimeError, "interpolation"),
    (lambda x: x.quantile(nnkit.tensor([[0.5]])), RuntimeError, "scalar or a 1-d tensor"),
    (lambda x: x.quantile(nnkit.tensor(0.5, dtype=nnkit.float64)), RuntimeError, "dtype"),
    (lambda x: x.half().quantile(0.5), RuntimeError, "float32 or float64"),
    (lambda x: x.norm("abc"), RuntimeError, "norm: order 'abc'"),
    (lambda x: x.bool().median(), NotImplementedError, "median"),
], ids=lambda v: v if isinstance(v, str) else None)
def test_errors_name_the_op(op, error, match):
    with pytest.raises(error, match=match):
        op(nnkit.tensor([[1.0, 2.0, 3.0], [4.0, 5.0, 6.0]]))


# --- counting, searching, histograms ------------------------------------------------------------

def test_unique_and_unique_consecutive():
    x = nnkit.tensor([[3, 1], [3, 2]])
    values, inverse, counts = nnkit.unique(x, return_inverse=True, return_counts=True)
    assert values.tolist() == [1, 2, 3] and inverse.tolist() == [[2, 0], [2, 1]] and counts.tolist() == [1, 1, 2]
    rows, inverse = nnkit.tensor([[1, 2], [1, 2], [0, 5]]).unique(dim=0, return_inverse=True)
    assert rows.tolist() == [[0, 5], [1, 2]] and inverse.tolist() == [1, 1, 0]
    values, inverse, counts = nnkit.unique_consecutive(nnkit.tensor([3, 3, 1, 3]), return_inverse=True,
                                                       return_counts=True)
    assert values.tolist() == [3, 1, 3] and inverse.tolist() == [0, 0, 1, 2] and counts.tolist() == [2, 1, 1]
    rows, counts = nnkit.tensor([[1, 2], [1, 2], [0, 5]]).unique_consecutive(dim=0, return_counts=True)
    assert rows.tolist() == [[1, 2], [0, 5]] and counts.tolist() == [2, 1]
    assert nnkit.tensor([float("nan"), float("nan"), 1.0]).unique().numel() == 3  # NaNs are all distinct
    assert nnkit.unique_consecutive(nnkit.tensor([], dtype=nnkit.int64)).numel() == 0


def test_searchsorted_and_bucketize():
    seq = nnkit.tensor([1.0, 2.0, 2.0, 3.0])
    values = nnkit.tensor([[2.0, 0.5], [3.5, 2.5]])
    assert nnkit.searchsorted(seq, values).tolist() == [[1, 0], [4, 3]]
    assert nnkit.searchsorted(seq, values, right=True).tolist() == [[3, 0], [4, 3]]
    assert nnkit.searchsorted(seq, values, side="right").tolist() == [[3, 0], [4, 3]]
    assert nnkit.searchsorted(seq, 2.0).tolist() == 1 and nnkit.searchsorted(seq, 2.0).shape == ()
    batched = nnkit.searchsorted(nnkit.tensor([[1.0, 2.0, 3.0], [2.0, 3.0, 4.0]]), nnkit.tensor([[2.5], [2.5]]))
    assert batched.tolist() == [[2], [1]]
    unsorted = nnkit.tensor([3.0, 1.0, 2.0])
    assert nnkit.searchsorted(unsorted, nnkit.tensor([2.5]), sorter=nnkit.tensor([1, 2, 0])).tolist() == [2]
    assert nnkit.searchsorted(seq, values, out_int32=True).dtype == nnkit.int32
    assert nnkit.bucketize(values, seq).tolist() == [[1, 0], [4, 3]]
    assert nnkit.bucketize(nnkit.tensor([1.0, 2.0]), nnkit.tensor([1.0, 2.0, 3.0]), right=True).tolist() == [1, 2]
    with pytest.raises(RuntimeError, match="contradict"):
        nnkit.searchsorted(seq, values, side="left", right=True)
    with pytest.raises(RuntimeError, match="leading dims"):
        nnkit.searchsorted(nnkit.tensor([[1.0, 2.0]]), nnkit.tensor([1.0, 2.0]))
    with pytest.raises(RuntimeError, match="1-d"):
        nnkit.bucketize(values, nnkit.tensor([[1.0, 2.0]]))


def test_histc_and_bincount():
    x = nnkit.tensor([1.0, 2.0, 1.0, 7.0])
    assert nnkit.histc(x, bins=4, min=0, max=3).tolist() == [0.0, 2.0, 1.0, 0.0]
    assert x.histc(bins=3).tolist() == [3.0, 0.0, 1.0]  # the data's range; the max goes into the last bin
    assert nnkit.histc(nnkit.tensor([1.0, 1.0]), bins=4).tolist() == [0.0, 0.0, 2.0, 0.0]  # [min - 1, max + 1]
    with pytest.raises(RuntimeError, match="larger than min"):
        x.histc(min=3, max=1)
    with pytest.raises(NotImplementedError, match="histc"):
        x.long().histc()
    counts = nnkit.tensor([1, 1, 3]).bincount()
    assert counts.tolist() == [0, 2, 0, 1] and counts.dtype == nnkit.int64
    weighted = nnkit.bincount(nnkit.tensor([1, 1, 3]), weights=nnkit.tensor([0.5, 0.5, 1.0]), minlength=6)
    assert weighted.tolist() == [0.0, 1.0, 0.0, 1.0, 0.0, 0.0] and weighted.dtype == nnkit.float32
    assert nnkit.bincount(nnkit.tensor([0]), weights=nnkit.tensor([2])).dtype == nnkit.float64
    with pytest.raises(RuntimeError, match="non-negative"):
        nnkit.bincount(nnkit.tensor([-1, 1]))


# --- property-based: quantiles against NumPy ----------------------------------------------------

@pytest.mark.filterwarnings("ignore:All-NaN slice")  # NumPy's, for a 1x1 input made NaN
@settings(max_examples=30, deadline=None)
@given(st.integers(1, 6), st.integers(1, 5), st.sampled_from(["linear", "lower", "higher", "midpoint", "nearest"]),
       st.lists(st.floats(0, 1), min_size=1, max_size=3), st.integers(0, 2 ** 32 - 1))
def test_quantile_matches_numpy(rows, cols, interpolation, qs, seed):
    x = np.random.default_rng(seed).integers(0, 4, (rows, cols)).astype(np.float64)  # ties included
    got = nnkit.tensor(x).quantile(nnkit.tensor(qs, dtype=nnkit.float64), dim=1, interpolation=interpolation)
    np.testing.assert_allclose(got.numpy(), np.quantile(x, qs, axis=1, method=interpolation), rtol=1e-12)
    x[0, 0] = np.nan
    got = nnkit.tensor(x).nanquantile(qs[0], interpolation=interpolation)
    np.testing.assert_allclose(got.numpy(), np.nanquantile(x, qs[0], method=interpolation), rtol=1e-12)


def test_quantile_gradient_goes_to_the_two_values_around_the_rank():
    x = nnkit.tensor([4.0, 1.0, 3.0, 2.0], requires_grad=True)
    x.quantile(0.5).backward()  # rank 1.5: halfway between 2 and 3
    assert x.grad.tolist() == [0.0, 0.0, 0.5, 0.5]
