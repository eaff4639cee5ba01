"""nnkit.Tensor: creation, dtypes and promotion, attributes, values out, in-place
methods, item assignment, the API's names, stable functions and error messages.

Gradients of the ops are in test_ops_gradcheck.py; the engine in test_autograd.py.
"""

import numpy as np
import pytest

import nnkit

# --- creation and dtypes -----------------------------------------------------------------

@pytest.mark.parametrize("data, dtype", [
    ([1.0, 2.0], nnkit.float32),
    (3.5, nnkit.float32),
    ([1, 2], nnkit.int64),
    ([1, 2.5], nnkit.float32),
    ([True, False], nnkit.bool),
    ([], nnkit.float32),
    (np.array([1.0, 2.0]), nnkit.float64),
    (np.array([1, 2], dtype=np.int32), nnkit.int32),
    (np.float64(1.0), nnkit.float64),
    ([nnkit.tensor(1.0), nnkit.tensor(2.0)], nnkit.float32),
], ids=["floats", "float", "ints", "mixed", "bools", "empty", "float64_array", "int32_array", "numpy_scalar",
        "list_of_tensors"])
def test_tensor_infers_the_dtype_as_pytorch(data, dtype):
    assert nnkit.tensor(data).dtype == dtype


def test_tensor_copies_and_from_numpy_shares_memory():
    array = np.array([1.0, 2.0])
    copied, shared = nnkit.tensor(array), nnkit.from_numpy(array)
    array[0] = 9.0
    assert copied.tolist() == [1.0, 2.0]
    assert shared.tolist() == [9.0, 2.0]
    shared.array[1] = 7.0
    assert array[1] == 7.0
    with pytest.raises(TypeError, match="from_numpy: expected a numpy.ndarray, got list"):
        nnkit.from_numpy([1.0])


def test_tensor_of_a_tensor_copies_it():
    t = nnkit.tensor([1.0, 2.0])
    u = nnkit.tensor(t)
    u.array[0] = 5.0
    assert t.tolist() == [1.0, 2.0]


def test_as_tensor_shares_when_it_can():
    array = np.zeros(2, dtype=np.float32)
    t = nnkit.tensor([1.0])
    assert nnkit.as_tensor(t) is t
    assert nnkit.as_tensor(array).array is array
    assert nnkit.as_tensor(array, dtype=nnkit.float64).dtype == nnkit.float64


def test_tensor_accepts_dtype_and_requires_grad():
    t = nnkit.tensor([1, 2], dtype=nnkit.float64, requires_grad=True)
    assert t.dtype == nnkit.float64 and t.requires_grad and t.is_leaf and t.grad is None


@pytest.mark.parametrize("make, shape, dtype", [
    (lambda: nnkit.zeros(2, 3), (2, 3), nnkit.float32),
    (lambda: nnkit.zeros((2, 3)), (2, 3), nnkit.float32),
    (lambda: nnkit.ones([4]), (4,), nnkit.float32),
    (lambda: nnkit.ones(2, dtype=nnkit.int64), (2,), nnkit.int64),
    (lambda: nnkit.empty(3, 1), (3, 1), nnkit.float32),
    (lambda: nnkit.zeros(()), (), nnkit.float32),
    (lambda: nnkit.full((2,), 3), (2,), nnkit.int64),
    (lambda: nnkit.full((2,), 3.0), (2,), nnkit.float32),
    (lambda: nnkit.full((2,), True), (2,), nnkit.bool),
    (lambda: nnkit.arange(5), (5,), nnkit.int64),
    (lambda: nnkit.arange(0, 1, 0.25), (4,), nnkit.float32),
    (lambda: nnkit.linspace(0, 1, 5), (5,), nnkit.float32),
    (lambda: nnkit.eye(3), (3, 3), nnkit.float32),
    (lambda: nnkit.eye(2, 3), (2, 3), nnkit.float32),
    (lambda: nnkit.randn(2, 3), (2, 3), nnkit.float32),
    (lambda: nnkit.rand(4, dtype=nnkit.float64), (4,), nnkit.float64),
    (lambda: nnkit.randint(0, 10, (3, 2)), (3, 2), nnkit.int64),
    (lambda: nnkit.randint(10, (5,)), (5,), nnkit.int64),
    (lambda: nnkit.randperm(6), (6,), nnkit.int64),
    (lambda: nnkit.zeros_like(nnkit.ones(2, 2, dtype=nnkit.int64)), (2, 2), nnkit.int64),
    (lambda: nnkit.ones_like(nnkit.ones(2), dtype=nnkit.float64), (2,), nnkit.float64),
    (lambda: nnkit.full_like(nnkit.ones(3), 7), (3,), nnkit.float32),
    (lambda: nnkit.randn_like(nnkit.ones(2, dtype=nnkit.float64)), (2,), nnkit.float64),
], ids=["zeros", "zeros_tuple", "ones_list", "ones_int", "empty", "zeros_0d", "full_int", "full_float",
        "full_bool", "arange_int", "arange_float", "linspace", "eye", "eye_rect", "randn", "rand_float64",
        "randint", "randint_high_size", "randperm", "zeros_like", "ones_like_dtype", "full_like", "randn_like"])
def test_creation_functions_give_pytorch_shapes_and_dtypes(make, shape, dtype):
    t = make()
    assert t.shape == shape and t.dtype == dtype
    assert not t.requires_grad


def test_creation_values():
    assert nnkit.arange(5).tolist() == [0, 1, 2, 3, 4]
    assert nnkit.arange(2, 8, 3).tolist() == [2, 5]
    assert nnkit.arange(5, 0, -2).tolist() == [5, 3, 1]
    assert nnkit.arange(0, 1, 0.25).tolist() == [0.0, 0.25, 0.5, 0.75]
    assert nnkit.linspace(0, 1, 5).tolist() == [0.0, 0.25, 0.5, 0.75, 1.0]
    assert nnkit.eye(2, 3).tolist() == [[1, 0, 0], [0, 1, 0]]
    assert nnkit.full((2, 2), 1.5).tolist() == [[1.5, 1.5], [1.5, 1.5]]
    assert sorted(nnkit.randperm(6).tolist()) == list(range(6))
    assert nnkit.zeros(2, requires_grad=True).requires_grad


def test_random_values_are_in_their_ranges():
    nnkit.manual_seed(0)
    u = nnkit.rand(10_000)
    assert 0.0 <= u.min().item() and u.max().item() < 1.0 and abs(u.mean().item() - 0.5) < 0.02
    z = nnkit.randn(10_000)
    assert abs(z.mean().item()) < 0.05 and abs(z.std().item() - 1.0) < 0.05
    r = nnkit.randint(3, 7, (1000,))
    assert set(r.tolist()) == {3, 4, 5, 6}
    assert set(nnkit.randint(2, (1000,)).tolist()) == {0, 1}


def test_creation_errors_are_clear():
    with pytest.raises(RuntimeError, match=r"negative dimension -1: \[-1\]"):
        nnkit.zeros(-1)
    with pytest.raises(RuntimeError, match="arange: step must be nonzero"):
        nnkit.arange(0, 1, 0)


# --- type promotion ------------------------------------------------------------------------

@pytest.mark.parametrize("make, dtype", [
    (lambda: nnkit.tensor([1, 2]) * nnkit.tensor([0.5, 1.0]), nnkit.float32),
    (lambda: nnkit.tensor([1, 2]) * 1.5, nnkit.float32),
    (lambda: 1.5 * nnkit.tensor([1, 2]), nnkit.float32),
    (lambda: nnkit.tensor([1, 2]) + 1, nnkit.int64),
    (lambda: nnkit.tensor([1, 2]) + True, nnkit.int64),
    (lambda: nnkit.tensor([1, 2]) / nnkit.tensor([2, 4]), nnkit.float32),
    (lambda: nnkit.tensor([1, 2], dtype=nnkit.int32) + nnkit.tensor([1, 2]), nnkit.int64),
    (lambda: nnkit.tensor([1.0]) + nnkit.tensor([1.0], dtype=nnkit.float64), nnkit.float64),
    (lambda: nnkit.tensor([1.0]) * nnkit.tensor(2.0, dtype=nnkit.float64), nnkit.float32),
    (lambda: nnkit.tensor([1.0], dtype=nnkit.float16) + 1.0, nnkit.float16),
    (lambda: nnkit.tensor([True]) + nnkit.tensor([1]), nnkit.int64),
    (lambda: nnkit.tensor([True, True]).sum(), nnkit.int64),
    (lambda: nnkit.tensor([1, 2], dtype=nnkit.int32).sum(), nnkit.int64),
    (lambda: nnkit.tensor([1, 4]).sqrt(), nnkit.float32),
    (lambda: nnkit.tensor([1, 4]).exp(), nnkit.float32),
    (lambda: nnkit.tensor([4]) ** 0.5, nnkit.float32),
    (lambda: nnkit.tensor([3]) ** 2, nnkit.int64),
    (lambda: nnkit.tensor([1.0]) > 0, nnkit.bool),
    (lambda: nnkit.tensor([1.0]).argmax(), nnkit.int64),
    (lambda: nnkit.maximum(nnkit.tensor([1, 5]), nnkit.tensor([2.5, 2.5])), nnkit.float32),
    (lambda: nnkit.cat([nnkit.tensor([1]), nnkit.tensor([1.5])]), nnkit.float32),
], ids=["int_times_float", "int_times_python_float", "python_float_times_int", "int_plus_int", "int_plus_bool",
        "int_div_int", "int32_plus_int64", "f32_plus_f64", "f32_times_0d_f64", "f16_plus_float", "bool_plus_int",
        "sum_bool", "sum_int32", "sqrt_int", "exp_int", "int_pow_float", "int_pow_int", "comparison",
        "argmax", "maximum_int_float", "cat_int_float"])
def test_type_promotion_follows_pytorch(make, dtype):
    assert make().dtype == dtype


def test_integer_division_is_true_division():
    assert (nnkit.tensor([3]) / 2).tolist() == [1.5]


# --- what a tensor is ----------------------------------------------------------------------

def test_shape_attributes():
    t = nnkit.zeros(2, 3, 4)
    assert t.shape == (2, 3, 4) and t.size() == (2, 3, 4) and t.size(-1) == 4 and t.size(0) == 2
    assert t.ndim == 3 and t.dim() == 3 and t.numel() == 24 and len(t) == 2
    assert [row.shape for row in t] == [(3, 4), (3, 4)]
    with pytest.raises(TypeError, match="len\\(\\) of a 0-d tensor"):
        len(nnkit.tensor(1.0))


def test_device_of_a_cpu_tensor():
    t = nnkit.ones(2)
    assert t.device == nnkit.device("cpu") and t.device == "cpu" and not t.is_cuda
    assert t.cpu() is t


@pytest.mark.parametrize("make, text", [
    (lambda: nnkit.tensor([1.0, 2.0, 3.0]), "tensor([1., 2., 3.])"),
    (lambda: nnkit.tensor([[1, 2], [3, 4]]), "tensor([[1, 2],\n        [3, 4]])"),
    (lambda: nnkit.tensor(2.5), "tensor(2.5000)"),
    (lambda: nnkit.tensor([True, False]), "tensor([ True, False])"),
    (lambda: nnkit.tensor([1.5, 2.0], dtype=nnkit.float64), "tensor([1.5000, 2.0000], dtype=nnkit.float64)"),
    (lambda: nnkit.tensor([1.0], requires_grad=True), "tensor([1.], requires_grad=True)"),
    (lambda: nnkit.tensor([1.0], requires_grad=True) * 2, "tensor([2.], grad_fn=<MulBackward>)"),
    (lambda: nnkit.tensor([1], dtype=nnkit.int32), "tensor([1], dtype=nnkit.int32)"),
], ids=["floats", "matrix", "scalar", "bools", "float64", "requires_grad", "grad_fn", "int32"])
def test_repr(make, text):
    assert repr(make()) == text


# --- getting values out ----------------------------------------------------------------------

def test_item_tolist_and_python_numbers():
    assert nnkit.tensor([2.5]).item() == 2.5 and isinstance(nnkit.tensor([2.5]).item(), float)
    assert nnkit.tensor(3).item() == 3 and isinstance(nnkit.tensor(3).item(), int)
    assert nnkit.tensor([[1, 2], [3, 4]]).tolist() == [[1, 2], [3, 4]]
    assert float(nnkit.tensor(1.5)) == 1.5 and int(nnkit.tensor(7)) == 7
    assert [10, 20, 30][nnkit.tensor(1)] == 20  # integer tensors work as Python indices
    assert bool(nnkit.tensor([1.0])) and not bool(nnkit.tensor(0.0))
    with pytest.raises(ValueError, match=r"item\(\): only one-element tensors .* got shape \(2,\)"):
        nnkit.ones(2).item()
    with pytest.raises(RuntimeError, match="truth value of a tensor with 2 elements is ambiguous"):
        bool(nnkit.ones(2))


def test_numpy_shares_memory_and_refuses_tensors_that_require_grad():
    t = nnkit.zeros(2)
    t.numpy()[0] = 4.0
    assert t.tolist() == [4.0, 0.0]
    w = nnkit.ones(2, requires_grad=True)
    with pytest.raises(RuntimeError, match=r"numpy\(\).*requires grad.*detach\(\)"):
        w.numpy()
    assert w.detach().numpy().tolist() == [1.0, 1.0]
    assert np.asarray(w).tolist() == [1.0, 1.0]


def test_casts():
    x = nnkit.tensor([1.7, -1.7])
    assert x.long().tolist() == [1, -1] and x.long().dtype == nnkit.int64
    assert x.int().dtype == nnkit.int32 and x.double().dtype == nnkit.float64 and x.half().dtype == nnkit.float16
    assert x.bool().tolist() == [True, True] and nnkit.tensor([1]).float().dtype == nnkit.float32
    assert x.to(nnkit.float64).dtype == nnkit.float64 and x.to(dtype=nnkit.float64).dtype == nnkit.float64
    assert x.to("cpu", nnkit.float16).dtype == nnkit.float16
    assert x.to(nnkit.ones(1, dtype=nnkit.float64)).dtype == nnkit.float64
    assert x.to(nnkit.float32) is x and x.type_as(nnkit.ones(1, dtype=nnkit.int64)).dtype == nnkit.int64


def test_a_cast_passes_the_gradient_back_in_the_original_dtype():
    x = nnkit.tensor([1.0, 2.0], requires_grad=True)
    (x.double() * 3).sum().backward()
    assert x.grad.dtype == nnkit.float32 and x.grad.tolist() == [3.0, 3.0]
    assert not x.long().requires_grad  # integer results carry no gradient


# --- in place ----------------------------------------------------------------------------------

@pytest.mark.parametrize("op, expected", [
    (lambda t: t.zero_(), [[0.0, 0.0], [0.0, 0.0]]),
    (lambda t: t.fill_(7.0), [[7.0, 7.0], [7.0, 7.0]]),
    (lambda t: t.copy_(nnkit.tensor([5.0, 6.0])), [[5.0, 6.0], [5.0, 6.0]]),
    (lambda t: t.copy_(np.array([[1, 2], [3, 4]])), [[1.0, 2.0], [3.0, 4.0]]),
    (lambda t: t.add_(1.0), [[2.0, 3.0], [4.0, 5.0]]),
    (lambda t: t.add_(nnkit.tensor([1.0, 2.0]), alpha=10), [[11.0, 22.0], [13.0, 24.0]]),
    (lambda t: t.sub_(nnkit.ones(2, 2)), [[0.0, 1.0], [2.0, 3.0]]),
    (lambda t: t.mul_(2.0), [[2.0, 4.0], [6.0, 8.0]]),
    (lambda t: t.div_(nnkit.tensor([1.0, 2.0])), [[1.0, 1.0], [3.0, 2.0]]),
    (lambda t: t.clamp_(2.0, 3.0), [[2.0, 2.0], [3.0, 3.0]]),
], ids=["zero_", "fill_", "copy_broadcast", "copy_numpy", "add_", "add_alpha", "sub_", "mul_", "div_", "clamp_"])
def test_in_place_methods_change_the_tensor_and_return_it(op, expected):
    t = nnkit.tensor([[1.0, 2.0], [3.0, 4.0]])
    storage = t.array
    assert op(t) is t
    assert t.tolist() == expected
    assert t.array is storage and t.dtype == nnkit.float32


def test_random_in_place_fills_follow_the_seed():
    a = nnkit.zeros(3).uniform_(-1.0, 1.0, generator=nnkit.Generator().manual_seed(3))
    b = nnkit.zeros(3).uniform_(-1.0, 1.0, generator=nnkit.Generator().manual_seed(3))
    assert a.tolist() == b.tolist() and all(-1.0 <= v < 1.0 for v in a.tolist())
    n = nnkit.zeros(10_000).normal_(2.0, 0.5)
    assert abs(n.mean().item() - 2.0) < 0.02 and abs(n.std().item() - 0.5) < 0.02


def test_in_place_on_a_leaf_that_requires_grad_raises_except_under_no_grad():
    w = nnkit.ones(2, requires_grad=True)
    for op in (lambda: w.zero_(), lambda: w.add_(1.0), lambda: w.fill_(0.0), lambda: w.copy_(nnkit.zeros(2))):
        with pytest.raises(RuntimeError, match="leaf tensor that requires grad is being used in an in-place"):
            op()
    with nnkit.no_grad():
        w.mul_(3.0)
    assert w.tolist() == [3.0, 3.0] and w.is_leaf and w.requires_grad


@pytest.mark.parametrize("index, value, expected", [
    (0, 9.0, [[9.0, 9.0, 9.0], [4.0, 5.0, 6.0]]),
    ((slice(None), 1), 0.0, [[1.0, 0.0, 3.0], [4.0, 0.0, 6.0]]),
    ((1, slice(None, None, 2)), nnkit.tensor([7.0, 8.0]), [[1.0, 2.0, 3.0], [7.0, 5.0, 8.0]]),
    ("mask", -1.0, [[1.0, 2.0, 3.0], [-1.0, -1.0, -1.0]]),
    ((nnkit.tensor([0, 1]), nnkit.tensor([2, 0])), 0.5, [[1.0, 2.0, 0.5], [0.5, 5.0, 6.0]]),
    (Ellipsis, nnkit.tensor([1.0, 0.0, 1.0]), [[1.0, 0.0, 1.0], [1.0, 0.0, 1.0]]),
], ids=["int", "column", "row_step", "mask", "int_tensors", "ellipsis_broadcast"])
def test_setitem(index, value, expected):
    t = nnkit.tensor([[1.0, 2.0, 3.0], [4.0, 5.0, 6.0]])
    t[t > 3.5 if isinstance(index, str) else index] = value
    assert t.tolist() == expected


def test_setitem_on_a_tensor_that_requires_grad_raises_outside_no_grad():
    w = nnkit.ones(3, requires_grad=True)
    with pytest.raises(RuntimeError, match="__setitem__: a leaf tensor that requires grad is being used in an in-place"):
        w[0] = 2.0
    with nnkit.no_grad():
        w[0] = 2.0
    assert w.tolist() == [2.0, 1.0, 1.0]


# --- the API: PyTorch's names ---------------------------------------------------------------

TOP_LEVEL = """Tensor tensor zeros ones full zeros_like ones_like arange linspace eye randn rand randint
manual_seed no_grad enable_grad is_grad_enabled cat stack where maximum minimum matmul exp log sqrt tanh sigmoid
from_numpy float16 float32 float64 int64 bool cuda device gradcheck autograd __version__""".split()

METHODS = """exp log sqrt abs sin cos tanh sigmoid relu clamp pow sum mean max min var std prod logsumexp argmax
argmin softmax log_softmax reshape view transpose permute T flatten unsqueeze squeeze expand repeat backward grad
requires_grad requires_grad_ detach item numpy tolist to cpu cuda shape ndim dtype device zero_ size numel
__add__ __radd__ __sub__ __rsub__ __mul__ __rmul__ __truediv__ __rtruediv__ __pow__ __rpow__ __matmul__
__rmatmul__ __neg__ __lt__ __le__ __gt__ __ge__ __eq__ __ne__ __getitem__ __setitem__ is_leaf grad_fn
retain_grad add_ sub_ mul_ div_ fill_ copy_ clone contiguous""".split()


@pytest.mark.parametrize("name", TOP_LEVEL)
def test_top_level_names_exist(name):
    assert hasattr(nnkit, name)


@pytest.mark.parametrize("name", METHODS)
def test_tensor_methods_exist(name):
    assert hasattr(nnkit.ones(2, 2, requires_grad=True), name)


def test_grad_function_and_cuda_namespace():
    assert callable(nnkit.autograd.grad) and callable(nnkit.cuda.is_available)


# --- comparisons and logic --------------------------------------------------------------------

def test_comparisons_give_bool_tensors_with_broadcasting():
    x = nnkit.tensor([[1.0, 2.0, 3.0]])
    col = nnkit.tensor([[2.0], [3.0]])
    assert (x > col).tolist() == [[False, False, True], [False, False, False]]
    assert (x <= 2).tolist() == [[True, True, False]] and (2 < x).tolist() == [[False, False, True]]
    assert (x == col).tolist() == [[False, True, False], [False, False, True]]
    assert (x != 2.0).dtype == nnkit.bool and (x >= nnkit.tensor(3.0)).tolist() == [[False, False, True]]
    assert x.eq(x).all().item() and x.lt(2).tolist() == [[True, False, False]]
    a, b = nnkit.tensor([True, True, False]), nnkit.tensor([True, False, False])
    assert (a & b).tolist() == [True, False, False] and (a | b).tolist() == [True, True, False]
    assert (a ^ b).tolist() == [False, True, False] and (~a).tolist() == [False, False, True]


# --- values of the reductions and their PyTorch conventions ------------------------------------

def test_max_and_min_along_a_dim_return_values_and_indices():
    x = nnkit.tensor([[1.0, 5.0, 5.0], [7.0, 0.0, 2.0]])
    result = x.max(dim=1)
    values, indices = result
    assert result.values.tolist() == [5.0, 7.0] and result.indices.tolist() == [1, 0]
    assert values is result.values and indices is result.indices
    assert indices.dtype == nnkit.int64
    low = nnkit.min(x, 0, keepdim=True)
    assert low.values.tolist() == [[1.0, 0.0, 2.0]] and low.indices.tolist() == [[0, 1, 1]]
    assert x.max().item() == 7.0 and x.min().item() == 0.0  # no dim: one value


def test_argmax_and_argmin():
    x = nnkit.tensor([[1.0, 9.0], [3.0, 2.0]])
    assert x.argmax().item() == 1 and x.argmin().item() == 0  # over the flattened tensor
    assert x.argmax(0).tolist() == [1, 0] and x.argmin(dim=1, keepdim=True).tolist() == [[0], [1]]


def test_var_and_std_use_bessels_correction_by_default():
    x = nnkit.tensor([1.0, 2.0, 3.0, 4.0])
    assert x.var().item() == pytest.approx(5 / 3)
    assert x.var(correction=0).item() == pytest.approx(1.25)
    assert x.var(unbiased=False).item() == pytest.approx(1.25)
    assert x.std().item() == pytest.approx(np.sqrt(5 / 3))
    m = nnkit.tensor([[1.0, 2.0], [3.0, 5.0]])
    assert m.var(1).tolist() == [0.5, 2.0] and m.std(0, keepdim=True).shape == (1, 2)


def test_var_is_accurate_for_a_large_offset():
    # E[x^2] - E[x]^2 would lose every digit here; two passes keep them.
    x = nnkit.tensor(1e8 + np.array([1.0, 2.0, 3.0, 4.0]), dtype=nnkit.float64)
    assert x.var().item() == pytest.approx(5 / 3, rel=1e-12)


def test_reductions_over_tuples_of_dims_and_negative_dims():
    x = nnkit.arange(24).reshape(2, 3, 4).float()
    np.testing.assert_array_equal(x.sum((0, -1)).numpy(), np.arange(24).reshape(2, 3, 4).sum((0, 2)))
    assert x.mean((0, 1, 2)).item() == pytest.approx(11.5)
    assert x.sum(-1, keepdim=True).shape == (2, 3, 1)
    assert x.amax((1, 2)).tolist() == [11.0, 23.0]


def test_single_dim_ops_refuse_a_tuple_of_dims():
    x = nnkit.ones(2, 3)
    for op in (lambda: x.prod((0, 1)), lambda: x.max((0, 1)), lambda: x.argmax((0, 1)), lambda: x.cumsum((0,))):
        with pytest.raises(TypeError, match="dim must be an int"):
            op()


def test_dims_on_a_0d_tensor_as_pytorch():
    x = nnkit.tensor(2.5)
    assert x.sum(0).item() == 2.5 and x.mean(-1).item() == 2.5 and x.softmax(0).item() == 1.0
    assert x.logsumexp(0).item() == 2.5 and x.max(0).values.item() == 2.5 and x.argmax(0).item() == 0
    assert x.sum(0, keepdim=True).shape == ()
    with pytest.raises(IndexError, match="dim 1 is out of range for a tensor with 0 dimensions"):
        x.sum(1)


def test_prod_handles_zeros_exactly():
    x = nnkit.tensor([2.0, 0.0, 3.0], requires_grad=True)
    x.prod().backward()
    assert x.grad.tolist() == [0.0, 6.0, 0.0]


# --- numerically stable functions ----------------------------------------------------------------

BIG = [1e4, -1e4, 0.0]


def test_logsumexp_softmax_log_softmax_sigmoid_are_finite_at_extreme_inputs():
    x = nnkit.tensor(BIG)
    assert x.logsumexp(0).item() == 1e4
    assert x.softmax(0).tolist() == [1.0, 0.0, 0.0]
    assert x.log_softmax(0).tolist() == [0.0, -2e4, -1e4]
    assert x.sigmoid().tolist() == [1.0, 0.0, 0.5]
    assert x.tanh().tolist() == [1.0, -1.0, 0.0]


def test_their_gradients_are_finite_at_extreme_inputs():
    for op in (lambda t: t.logsumexp(0), lambda t: t.softmax(0)[0], lambda t: t.log_softmax(0)[1],
               lambda t: t.sigmoid().sum(), lambda t: t.tanh().sum()):
        x = nnkit.tensor(BIG, requires_grad=True)
        op(x).backward()
        assert np.isfinite(x.grad.numpy()).all()


def test_logsumexp_of_all_minus_infinity_rows_is_minus_infinity():
    x = nnkit.tensor([[-np.inf, -np.inf], [0.0, 0.0]])
    out = x.logsumexp(1).tolist()
    assert out[0] == -np.inf and out[1] == pytest.approx(np.log(2))


# --- errors name the op and the shapes -----------------------------------------------------------

@pytest.mark.parametrize("op, error, message", [
    (lambda: nnkit.ones(2, 3) @ nnkit.ones(2, 3), RuntimeError, r"matmul: shapes \(2, 3\) and \(2, 3\) cannot be multiplied"),
    (lambda: nnkit.ones(2, 3, 4) @ nnkit.ones(3, 4, 5), RuntimeError, r"matmul: batch shapes of \(2, 3, 4\) and \(3, 4, 5\)"),
    (lambda: nnkit.tensor(2.0) @ nnkit.ones(2), RuntimeError, "matmul: both arguments need at least 1 dim"),
    (lambda: nnkit.ones(2, 3).reshape(4, 2), RuntimeError, r"reshape: cannot reshape a tensor of shape \(2, 3\) \(6 elements\) into \(4, 2\)"),
    (lambda: nnkit.ones(2, 3).view(-1, -1), RuntimeError, r"reshape: cannot reshape .* into \(-1, -1\)"),
    (lambda: nnkit.ones(2, 3) + nnkit.ones(4), RuntimeError, r"add: shapes \(2, 3\) and \(4,\) cannot be broadcast"),
    (lambda: nnkit.ones(2) * nnkit.ones(3), RuntimeError, r"mul: shapes \(2,\) and \(3,\) cannot be broadcast"),
    (lambda: nnkit.ones(2) > nnkit.ones(3), RuntimeError, r"shapes \(2,\) and \(3,\) cannot be broadcast"),
    (lambda: nnkit.where(nnkit.tensor([True, False]), nnkit.ones(3), 0.0), RuntimeError, r"where: shapes \(2,\), \(3,\)"),
    (lambda: nnkit.ones(2, 3)[5], IndexError, r"index 5 is out of bounds .* \(tensor of shape \(2, 3\)\)"),
    (lambda: nnkit.ones(3)[nnkit.tensor([0, 7])], IndexError, r"index 7 is out of bounds .*shape \(3,\)"),
    (lambda: nnkit.ones(3)[0, 0], IndexError, r"too many indices .*shape \(3,\)"),
    (lambda: nnkit.ones(2, 3).sum(2), IndexError, "sum: dim 2 is out of range for a tensor with 2 dimensions"),
    (lambda: nnkit.ones(2, 3).softmax(-3), IndexError, "softmax: dim -3 is out of range"),
    (lambda: nnkit.ones(2, 3).transpose(0, 2), IndexError, "transpose: dim 2 is out of range"),
    (lambda: nnkit.ones(2).unsqueeze(3), IndexError, "unsqueeze: dim 3 is out of range"),
    (lambda: nnkit.ones(2, 3).permute(0, 0), RuntimeError, r"permute: \(0, 0\) is not a permutation"),
    (lambda: nnkit.ones(2, 3).expand(4, 3), RuntimeError, r"expand: cannot expand shape \(2, 3\) to \(4, 3\)"),
    (lambda: nnkit.ones(3).expand(-1, 3), RuntimeError, "expand: -1 is not allowed in a new leading dim"),
    (lambda: nnkit.ones(2, 3).repeat(2), RuntimeError, "repeat: 1 repeat counts for a tensor with 2 dims"),
    (lambda: nnkit.cat([nnkit.ones(2, 3), nnkit.ones(3, 2)]), RuntimeError, r"cat: shapes \[\(2, 3\), \(3, 2\)\] do not match"),
    (lambda: nnkit.cat([]), ValueError, "cat: expected a non-empty list"),
    (lambda: nnkit.stack([nnkit.ones(2), nnkit.ones(3)]), RuntimeError, "stack: all tensors must have the same shape"),
    (lambda: nnkit.ones(2).clamp(), RuntimeError, "clamp: at least one of 'min' or 'max'"),
    (lambda: nnkit.ones(2) + np.ones(2), TypeError, "add: got a NumPy array; wrap it with nnkit.tensor"),
    (lambda: nnkit.ones(2) * "a", TypeError, "mul: unsupported operand of type str"),
    (lambda: nnkit.tensor([1, 2]).mean(), RuntimeError, "mean: could not infer the output dtype"),
    (lambda: nnkit.ones(0).max(), RuntimeError, "max: the tensor is empty"),
    (lambda: nnkit.ones(2).item(), ValueError, "item"),
], ids=["matmul", "matmul_batch", "matmul_0d", "reshape", "view", "add", "mul", "compare", "where", "index_int",
        "index_tensor", "index_too_many", "sum_dim", "softmax_dim", "transpose_dim", "unsqueeze_dim", "permute",
        "expand", "expand_leading_minus_one", "repeat", "cat_shapes", "cat_empty", "stack", "clamp", "numpy_operand",
        "str_operand", "mean_int", "max_empty", "item"])
def test_errors_name_the_op_and_the_shapes(op, error, message):
    with pytest.raises(error, match=message):
        op()


@pytest.mark.gpu
def test_tensors_on_two_devices_cannot_be_combined():
    with pytest.raises(RuntimeError, match="add: expected both tensors on the same device, got cpu and cuda"):
        nnkit.ones(2) + nnkit.ones(2, device="cuda")


@pytest.mark.gpu
def test_tensor_and_as_tensor_place_data_on_the_device_they_name():
    for make in (nnkit.tensor, nnkit.as_tensor):
        t = make([1.0, 2.0], device="cuda")
        assert t.device.type == "cuda", make.__name__
    assert nnkit.tensor(np.ones(3), device="cuda", requires_grad=True).device.type == "cuda"
