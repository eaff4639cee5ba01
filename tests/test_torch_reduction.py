"""Reductions and scans against PyTorch: the table of ``test_ops_reduction.py`` (forward,
first and second derivatives), then values, indices, dtypes and shapes of results
without gradients, gradients at ties and zeros, empty tensors, errors and 16-bit inputs.
Skipped where PyTorch is not installed.
"""

import numpy as np
import pytest

import nnkit
from test_ops_gradcheck import make_array
from test_ops_reduction import CASES
from test_torch_parity_ops import assert_same

torch = pytest.importorskip("torch")
pytestmark = pytest.mark.torch

NAN, INF = float("nan"), float("inf")


@pytest.mark.parametrize("name", CASES)
def test_case_matches_torch(name, rng):
    case = CASES[name]
    domains = case.domains or "r" * len(case.shapes)
    assert_same(case.fn, [make_array(rng, s, d) for s, d in zip(case.shapes, domains)], case.twice)


# --- results without gradients: values, indices, dtypes, shapes -------------------------------

def as_list(out) -> list:
    return list(out) if isinstance(out, tuple) else [out]


def assert_same_results(op, *arrays) -> None:
    """``op`` gives equal values (NaN where torch has NaN), dtypes and shapes in both libraries."""
    mine = as_list(op(nnkit, *[nnkit.tensor(a) for a in arrays]))
    theirs = as_list(op(torch, *[torch.tensor(a) for a in arrays]))
    assert len(mine) == len(theirs)
    for got, want in zip(mine, theirs):
        got, want = got.numpy(), want.numpy()
        assert got.shape == want.shape and str(got.dtype) == str(want.dtype)
        np.testing.assert_allclose(got.astype(np.float64), want.astype(np.float64), rtol=1e-5, atol=1e-6)


TIED = np.array([[3.0, 1.0, 3.0, 2.0, 1.0, 3.0], [2.0, 1.0, 1.0, 2.0, 5.0, 0.0]], dtype=np.float32)
WITH_NAN = np.array([[1.0, NAN, 3.0, 0.5], [2.0, 4.0, 1.0, 3.0], [NAN, NAN, NAN, NAN]], dtype=np.float32)
DISTINCT = np.array([[0.3, -1.2, 2.5, 0.9, -0.4], [1.1, 0.2, -2.0, 0.7, 1.9]], dtype=np.float32)
INTS = np.array([[3, 0, 2], [1, 1, 0]], dtype=np.int32)

RESULTS = {
    # ties: the index PyTorch documents or always gives on the CPU
    "max_dim_ties": (lambda m, x: tuple(x.max(1)), TIED),
    "min_dim_keepdim_ties": (lambda m, x: tuple(m.min(x, 1, keepdim=True)), TIED),
    "argmax_ties": (lambda m, x: x.argmax(), TIED),
    "argmin_keepdim_no_dim": (lambda m, x: x.argmin(keepdim=True), TIED),
    "argmax_axis": (lambda m, x: x.argmax(axis=0, keepdims=True), TIED),
    "cummax_ties": (lambda m, x: tuple(x.cummax(1)), TIED),
    "cummin_ties": (lambda m, x: tuple(m.cummin(x, dim=-1)), TIED),
    "sort_stable_ties": (lambda m, x: tuple(x.sort(dim=1, stable=True)), TIED),
    "sort_stable_descending_ties": (lambda m, x: tuple(x.sort(dim=1, descending=True, stable=True)), TIED),
    "argsort_stable": (lambda m, x: m.argsort(x, dim=0, stable=True), TIED),
    "mode_ties": (lambda m, x: tuple(x.mode(1)), TIED),
    "unique": (lambda m, x: m.unique(x, return_inverse=True, return_counts=True), TIED),
    "unique_dim": (lambda m, x: m.unique(x, dim=1, return_inverse=True, return_counts=True), TIED),
    "unique_consecutive": (lambda m, x: m.unique_consecutive(x, return_inverse=True, return_counts=True), TIED),
    "unique_consecutive_dim": (lambda m, x: x[:, [0, 0, 1, 1]].unique_consecutive(dim=1, return_counts=True), TIED),
    "msort": (lambda m, x: x.msort(), TIED),
    # distinct values: every index is determined
    "median_dim": (lambda m, x: tuple(x.median(1)), DISTINCT),
    "kthvalue": (lambda m, x: tuple(x.kthvalue(2, 1, True)), DISTINCT),
    "topk_smallest": (lambda m, x: tuple(x.topk(3, largest=False)), DISTINCT),
    "nanmedian_dim": (lambda m, x: tuple(x.nanmedian(1)), DISTINCT),
    "aminmax": (lambda m, x: tuple(m.aminmax(x, dim=0)), DISTINCT),
    "searchsorted": (lambda m, x: m.searchsorted(x.sort().values, x[:, :3].contiguous()), DISTINCT),
    "searchsorted_right_1d": (lambda m, x: m.searchsorted(x[0].sort().values, x, side="right"), DISTINCT),
    "bucketize": (lambda m, x: m.bucketize(x, m.tensor([-1.0, 0.0, 1.0]), right=True, out_int32=True), DISTINCT),
    "histc": (lambda m, x: m.histc(x, bins=6), DISTINCT),
    "histc_range": (lambda m, x: x.histc(bins=4, min=-1, max=1), DISTINCT),
    "quantile_q_tensor": (lambda m, x: x.quantile(m.tensor([0.1, 0.5, 1.0]), dim=0, keepdim=True), DISTINCT),
    # NaNs
    "median_nan": (lambda m, x: tuple(x.median(1)), WITH_NAN),
    "nanmedian_nan": (lambda m, x: tuple(x.nanmedian(dim=1)), WITH_NAN[:2]),  # all-NaN rows: index unspecified
    "median_all_nan": (lambda m, x: x.median(), WITH_NAN),
    "nanmedian_all": (lambda m, x: x.nanmedian(), WITH_NAN),
    "sort_nan": (lambda m, x: tuple(x.sort(1)), WITH_NAN),
    "sort_nan_descending": (lambda m, x: tuple(x.sort(1, descending=True)), WITH_NAN),
    "max_nan": (lambda m, x: tuple(x.max(1)), WITH_NAN[:2]),
    "cummax_nan": (lambda m, x: tuple(x.cummax(1)), WITH_NAN[:2]),
    "quantile_nan": (lambda m, x: x.quantile(0.5, dim=1), WITH_NAN),
    "nanquantile_nan": (lambda m, x: x.nanquantile(0.25, dim=1), WITH_NAN),
    "nansum_nan": (lambda m, x: x.nansum(1), WITH_NAN),
    "nanmean_nan": (lambda m, x: m.nanmean(x, dim=1), WITH_NAN[:2]),
    "amax_nan": (lambda m, x: x.amax(1), WITH_NAN),
    # dtypes
    "sum_int32": (lambda m, x: x.sum(1), INTS),
    "sum_bool": (lambda m, x: (x > 0).sum(), INTS),
    "sum_dtype": (lambda m, x: x.sum(dtype=m.float64), INTS),
    "prod_int32": (lambda m, x: x.prod(0), INTS),
    "cumsum_int32": (lambda m, x: x.cumsum(1), INTS),
    "cumprod_bool": (lambda m, x: (x > 0).cumprod(1), INTS),
    "cumsum_dtype": (lambda m, x: x.cumsum(0, dtype=m.float32), INTS),
    "mean_dtype": (lambda m, x: x.mean(1, dtype=m.float64), INTS),
    "nansum_int": (lambda m, x: x.nansum(), INTS),
    "count_nonzero": (lambda m, x: x.count_nonzero((0, 1)), INTS),
    "count_nonzero_dim": (lambda m, x: m.count_nonzero(x, dim=-1), INTS),
    "all_uint8": (lambda m, x: x.to(m.uint8).all(1), INTS),
    "any_tuple": (lambda m, x: x.any(dim=(0, 1), keepdim=True), INTS),
    "max_int": (lambda m, x: tuple(x.max(0)), INTS),
    "amin_bool": (lambda m, x: (x > 0).amin(), INTS),
    "mode_int": (lambda m, x: tuple(x.mode(1)), INTS),
    "median_int": (lambda m, x: x.median(), INTS),
    "kthvalue_int": (lambda m, x: tuple(x.kthvalue(1, 0)), INTS),
    "bincount": (lambda m, x: x.flatten().bincount(minlength=5), INTS),
    "bincount_weights": (lambda m, x: m.bincount(x.flatten(), weights=x.flatten().to(m.float16)), INTS),
    "bincount_float_weights": (lambda m, x: m.bincount(x.flatten(), weights=x.flatten().float()), INTS),
    "unique_int": (lambda m, x: x.unique(return_counts=True), INTS),
}


@pytest.mark.parametrize("name", RESULTS)
def test_results_match_torch(name):
    op, array = RESULTS[name]
    assert_same_results(op, array)


# --- gradients at ties and zeros -------------------------------------------------------------

TIES = np.array([[1.0, 3.0, 3.0, 2.0], [4.0, 0.0, 4.0, 4.0], [0.5, 0.5, 0.5, 0.5]])
ZEROS = np.array([[2.0, 0.0, 3.0, -1.5], [0.0, 1.5, 0.0, 2.0], [1.0, 2.0, -0.5, 0.0]])

AT_TIES = {
    "max": lambda x: x.max(), "min": lambda x: x.min(), "amax_dim": lambda x: x.amax(1),
    "amin_all": lambda x: x.amin((0, 1)), "aminmax": lambda x: tuple(x.aminmax()),
    "median": lambda x: x.median(), "nanmedian": lambda x: x.nanmedian(),
    "max_dim": lambda x: x.max(1).values, "min_dim": lambda x: x.min(0).values,
    "cummax": lambda x: x.cummax(1).values, "cummin": lambda x: x.cummin(0).values,
    "sort_stable": lambda x: x.sort(dim=1, stable=True).values * torch_or_nnkit(x).arange(1.0, 5.0, dtype=x.dtype),
    "quantile": lambda x: x.quantile(torch_or_nnkit(x).tensor([0.25, 0.5, 0.9], dtype=x.dtype), dim=1),
    "quantile_all": lambda x: x.quantile(0.5),
    "norm_inf": lambda x: x.norm(INF, dim=1), "norm_neg_inf": lambda x: x.norm(-INF),
    "var_mean": lambda x: torch_or_nnkit(x).var_mean(x, 1), "var_constant_row": lambda x: x.var(1),
}


def torch_or_nnkit(x):
    return nnkit if isinstance(x, nnkit.Tensor) else torch


@pytest.mark.parametrize("name", AT_TIES)
def test_gradients_at_ties_match_torch(name):
    assert_same(AT_TIES[name], [TIES])


AT_ZEROS = {
    "prod_dim": lambda x: x.prod(1), "prod_dim0": lambda x: x.prod(0), "prod_all": lambda x: x.prod(),
    "prod_keepdim": lambda x: x.prod(-1, keepdim=True), "cumprod": lambda x: x.cumprod(1),
    "cumprod_dim0": lambda x: x.cumprod(0), "norm_rows": lambda x: (x * (x > 0)).norm(dim=0),
    "norm_p3": lambda x: x.norm(3, dim=1),
}


@pytest.mark.parametrize("name", AT_ZEROS)
def test_gradients_at_zeros_match_torch(name):
    assert_same(AT_ZEROS[name], [ZEROS])


# Norms and std where the result or an element is 0: the first derivatives are PyTorch's
# (0 there). PyTorch's second derivatives are NaN at those places (its backward divides
# by the result before masking); nnkit's are 0, which ``test_ops_reduction.py`` pins.
SECOND_DERIVATIVE_NAN_IN_TORCH = {
    "norm_zero_vector": (lambda x: (x * 0).norm(), ZEROS),
    "norm_p1_5_zero": (lambda x: (x * 0).norm(1.5, dim=1), ZEROS),
    "norm_fractional": (lambda x: x.norm(0.5, dim=1), ZEROS),
    "dist_equal": (lambda x: torch_or_nnkit(x).dist(x, x.detach()), ZEROS),
    "std_constant_row": (lambda x: x.std(1), TIES),
}


@pytest.mark.parametrize("name", SECOND_DERIVATIVE_NAN_IN_TORCH)
def test_first_derivatives_at_zeros_match_torch(name):
    fn, array = SECOND_DERIVATIVE_NAN_IN_TORCH[name]
    assert_same(fn, [array], twice=False)


def test_logcumsumexp_gradient_at_extremes_matches_torch():
    assert_same(lambda x: x.logcumsumexp(0), [np.array([1e4, -1e4, 0.0, 50.0, 50.0])])


# --- empty tensors ---------------------------------------------------------------------------

EMPTY_OPS = {
    "sum": lambda x: x.sum(), "sum_dim": lambda x: x.sum(0), "prod": lambda x: x.prod(),
    "prod_dim": lambda x: x.prod(0),
    "mean": lambda x: x.mean(), "mean_dim": lambda x: x.mean(0), "nansum": lambda x: x.nansum(),
    "logsumexp": lambda x: x.logsumexp(0), "norm": lambda x: x.norm(), "norm_0": lambda x: x.norm(0),
    "all": lambda x: x.all(), "any": lambda x: x.any(1), "cumsum": lambda x: x.cumsum(0),
    "cumprod": lambda x: x.cumprod(1), "sort": lambda x: tuple(x.sort(0)), "amax_other": lambda x: x.amax(1),
    "max_other": lambda x: tuple(x.max(1)), "argmax_other": lambda x: x.argmax(1), "median": lambda x: x.median(),
    "count_nonzero": lambda x: x.count_nonzero(0), "mode_other": lambda x: tuple(x.mode(1)),
    "softmax": lambda x: x.softmax(0), "cummax": lambda x: tuple(x.cummax(0)), "unique": lambda x: x.unique(),
    "histc": lambda x: x.histc(bins=3),
}


@pytest.mark.parametrize("name", EMPTY_OPS)
def test_empty_tensors_match_torch(name):
    assert_same_results(lambda m, x: EMPTY_OPS[name](x), np.zeros((0, 3), dtype=np.float32))


def raised(op, lib, array):
    try:
        op(lib.tensor(array))
    except Exception as e:  # noqa: BLE001 - the class is what is compared
        return type(e)
    return None


ERRORS = {
    "max_empty": (lambda x: x.max(), np.zeros((0, 3))), "amax_empty_dim": (lambda x: x.amax(0), np.zeros((0, 3))),
    "max_empty_dim": (lambda x: x.max(0), np.zeros((0, 3))), "argmax_empty": (lambda x: x.argmax(), np.zeros(0)),
    "aminmax_empty": (lambda x: x.aminmax(), np.zeros(0)), "median_empty_dim": (lambda x: x.median(0), np.zeros((0,))),
    "kthvalue_empty": (lambda x: x.kthvalue(1, 0), np.zeros((0, 2))), "mode_empty": (lambda x: x.mode(0), np.zeros(0)),
    "norm_inf_empty": (lambda x: x.norm(INF), np.zeros(0)), "quantile_empty": (lambda x: x.quantile(0.5), np.zeros(0)),
    "dim_out_of_range": (lambda x: x.sum(2), np.ones((2, 2))),
    "max_dim_out_of_range": (lambda x: x.max(-3), np.ones((2, 2))),
    "cumsum_dim_out_of_range": (lambda x: x.cumsum(2), np.ones((2, 2))),
    "sort_dim_out_of_range": (lambda x: x.sort(2), np.ones((2, 2))),
    "dim_twice": (lambda x: x.sum((0, -2)), np.ones((2, 2))),
    "mean_dim_twice": (lambda x: x.mean((1, 1)), np.ones((2, 2))),
    "dim_string": (lambda x: x.sum("a"), np.ones(2)), "max_dim_tuple": (lambda x: x.max(dim=(0, 1)), np.ones((2, 2))),
    "mean_int": (lambda x: x.mean(), np.ones(2, dtype=np.int64)),
    "var_int": (lambda x: x.var(), np.ones(2, dtype=np.int64)),
    "norm_int": (lambda x: x.norm(), np.ones(2, dtype=np.int64)),
    "kthvalue_k": (lambda x: x.kthvalue(3), np.ones(2)), "kthvalue_k_zero": (lambda x: x.kthvalue(0), np.ones(2)),
    "kthvalue_k_float": (lambda x: x.kthvalue(1.5), np.ones(2)),
    "topk_k": (lambda x: x.topk(3), np.ones(2)), "topk_negative": (lambda x: x.topk(-1), np.ones(2)),
    "quantile_q": (lambda x: x.quantile(1.5), np.ones(2, dtype=np.float32)),
    "quantile_interpolation": (lambda x: x.quantile(0.5, interpolation="x"), np.ones(2, dtype=np.float32)),
    "quantile_int": (lambda x: x.quantile(0.5), np.ones(2, dtype=np.int64)),
    "var_both_forms": (lambda x: x.var(0, True, correction=1), np.ones(2)),
    "logcumsumexp_int": (lambda x: x.logcumsumexp(0), np.ones(2, dtype=np.int64)),
    "bincount_negative": (lambda x: x.bincount(), np.array([-1, 1])),
    "bincount_2d": (lambda x: x.bincount(), np.ones((2, 2), dtype=np.int64)),
    "histc_range": (lambda x: x.histc(min=2, max=1), np.ones(2)),
    "median_bool": (lambda x: x.median(), np.ones(2, dtype=bool)),
    "topk_bool": (lambda x: x.topk(1), np.ones(2, dtype=bool)),
}


@pytest.mark.parametrize("name", ERRORS)
def test_errors_match_torch(name):
    op, array = ERRORS[name]
    mine, theirs = raised(op, nnkit, array), raised(op, torch, array)
    assert theirs is not None and mine is not None
    assert issubclass(mine, theirs), f"nnkit raised {mine.__name__}, torch {theirs.__name__}"


# --- NumPy-style keywords and 16-bit floats -------------------------------------------------------

@pytest.mark.parametrize("op", [
    lambda m, x: x.sum(axis=0, keepdims=True), lambda m, x: m.mean(x, axis=(0, 1)), lambda m, x: x.amax(axis=1),
    lambda m, x: tuple(x.max(axis=1, keepdims=True)), lambda m, x: x.cumsum(axis=1), lambda m, x: x.logsumexp(axis=0),
    lambda m, x: x.std(axis=1, keepdims=True), lambda m, x: x.softmax(axis=0), lambda m, x: tuple(x.sort(axis=0)),
    lambda m, x: x.argmax(axis=1), lambda m, x: x.norm(dim=1, keepdim=True), lambda m, x: x.prod(axis=1),
], ids=["sum", "mean", "amax", "max", "cumsum", "logsumexp", "std", "softmax", "sort", "argmax", "norm", "prod"])
def test_numpy_style_keywords_match_torch(op):
    assert_same_results(op, DISTINCT)


@pytest.mark.parametrize("op", [
    lambda x: x.sum(), lambda x: x.mean(1), lambda x: x.cumsum(1), lambda x: x.var(1), lambda x: x.std(),
    lambda x: x.norm(dim=1), lambda x: x.logsumexp(1), lambda x: x.softmax(1), lambda x: x.cumprod(1),
    lambda x: x.logcumsumexp(1), lambda x: x.nansum(1), lambda x: x.nanmean(), lambda x: x.amax(1),
    lambda x: x.median(1).values, lambda x: x.sort(1).values,
], ids=["sum", "mean", "cumsum", "var", "std", "norm", "logsumexp", "softmax", "cumprod", "logcumsumexp",
        "nansum", "nanmean", "amax", "median", "sort"])
@pytest.mark.parametrize("dtype", ["float16", "bfloat16"])
def test_16_bit_floats_match_torch(op, dtype, rng):
    """(Not prod: PyTorch multiplies 16-bit floats in 16 bits on the CPU, 7% off over 300
    factors in bfloat16; nnkit multiplies in float32, see test_ops_reduction.py.)"""
    x = rng.uniform(0.9, 1.1, (4, 300))
    mine = op(nnkit.tensor(x).to(getattr(nnkit, dtype)))
    theirs = op(torch.tensor(x).to(getattr(torch, dtype)))
    assert str(mine.dtype).removeprefix("nnkit.") == str(theirs.dtype).removeprefix("torch.")
    np.testing.assert_allclose(mine.float().numpy(), theirs.float().numpy(), rtol=1e-2)
