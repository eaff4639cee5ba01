"""dtypes, the creation functions, a tensor's own methods, and how tensors print.

Each behaviour here is PyTorch's (``test_torch_construction_autograd.py`` checks
the same calls against torch itself); these tests pin the values without torch.
"""

import copy
import pickle

import numpy as np
import pytest

import nnkit

DTYPES = ["bool", "uint8", "int8", "int16", "int32", "int64", "float16", "bfloat16", "float32", "float64"]


# --- dtypes -------------------------------------------------------------------------------------

@pytest.mark.parametrize("name", DTYPES)
def test_a_dtype_prints_as_nnkit_and_stands_for_its_numpy_dtype(name):
    dtype = getattr(nnkit, name)
    assert str(dtype) == repr(dtype) == f"nnkit.{name}"
    assert isinstance(dtype, nnkit.dtype) and nnkit.dtype(name) is dtype
    numpy_dtype = np.dtype(dtype)
    assert dtype == numpy_dtype and numpy_dtype == dtype and hash(dtype) == hash(numpy_dtype)
    assert {numpy_dtype: "found"}[dtype] == "found" and {dtype: "found"}[numpy_dtype] == "found"
    assert np.zeros(2, dtype).dtype == numpy_dtype and np.ones(2).astype(dtype).dtype == numpy_dtype
    t = nnkit.zeros(2, dtype=dtype)
    assert t.dtype is dtype and t.array.dtype == t.dtype
    assert pickle.loads(pickle.dumps(dtype)) is dtype and copy.deepcopy(dtype) is dtype
    assert dtype.itemsize == numpy_dtype.itemsize == t.element_size() == t.itemsize


def test_dtype_attributes_and_comparisons():
    assert nnkit.float32.is_floating_point and nnkit.bfloat16.is_floating_point and not nnkit.int64.is_floating_point
    assert nnkit.int8.is_signed and not nnkit.uint8.is_signed and not nnkit.bool.is_signed
    assert not nnkit.float64.is_complex and nnkit.float16.kind == "f" and nnkit.int32.name == "int32"
    assert nnkit.float32 == np.float32 and nnkit.float32 == "float32"
    assert nnkit.float32 != nnkit.float64 and nnkit.float32 != None  # noqa: E711  (numpy.dtype(None) is float64)
    assert nnkit.float32 != "not a dtype"


def test_pytorch_aliases_of_the_dtypes():
    assert nnkit.half is nnkit.float16 and nnkit.float is nnkit.float32 and nnkit.double is nnkit.float64
    assert nnkit.short is nnkit.int16 and nnkit.int is nnkit.int32 and nnkit.long is nnkit.int64
    t = nnkit.ones(2)
    assert t.short().dtype is nnkit.int16 and t.char().dtype is nnkit.int8 and t.byte().dtype is nnkit.uint8


def test_the_default_dtype_may_be_any_float_but_not_an_integer():
    try:
        nnkit.set_default_dtype(nnkit.bfloat16)
        assert nnkit.tensor(1.5).dtype is nnkit.bfloat16 and nnkit.get_default_dtype() is nnkit.bfloat16
        nnkit.set_default_dtype(np.float64)
        assert nnkit.get_default_dtype() is nnkit.float64 and nnkit.zeros(1).dtype is nnkit.float64
    finally:
        nnkit.set_default_dtype(nnkit.float32)
    with pytest.raises(TypeError, match="only floating-point types are supported as the default type"):
        nnkit.set_default_dtype(nnkit.int32)


# --- Tensor.type and view(dtype) ---------------------------------------------------------------

@pytest.mark.parametrize("name, legacy", [
    ("float32", "Float"), ("float64", "Double"), ("float16", "Half"), ("bfloat16", "BFloat16"),
    ("int8", "Char"), ("uint8", "Byte"), ("int16", "Short"), ("int32", "Int"), ("int64", "Long"), ("bool", "Bool")])
def test_type_names_the_legacy_tensor_type(name, legacy):
    t = nnkit.zeros(2, dtype=getattr(nnkit, name))
    assert t.type() == f"nnkit.{legacy}Tensor"
    assert nnkit.zeros(1).type(f"nnkit.{legacy}Tensor").dtype is getattr(nnkit, name)


def test_type_casts_and_keeps_the_gradient():
    x = nnkit.tensor([1.5, -2.5], requires_grad=True)
    assert x.type(nnkit.float32) is x
    y = x.type(nnkit.float64)
    assert y.dtype is nnkit.float64 and y.grad_fn is not None
    (y * y).sum().backward()
    assert x.grad.dtype is nnkit.float32 and x.grad.tolist() == [3.0, -5.0]
    assert x.type(nnkit.int64).tolist() == [1, -2]
    with pytest.raises(ValueError, match="invalid type: 'float'"):
        x.type("float")


def test_view_as_a_dtype_of_the_same_size_reinterprets_the_bytes():
    x = nnkit.tensor([[1.0, -2.0], [0.5, 0.0]])
    bits = x.view(nnkit.int32)
    assert bits.shape == (2, 2) and bits.dtype is nnkit.int32
    assert bits.tolist() == [[1065353216, -1073741824], [1056964608, 0]]
    bits[1, 1] = 1065353216  # the same memory: the write shows in x
    assert x[1, 1].item() == 1.0
    assert x.t().view(nnkit.int32).tolist() == [[1065353216, 1056964608], [-1073741824, 1065353216]]


def test_view_as_a_dtype_of_another_size_scales_the_last_dim():
    x = nnkit.arange(8, dtype=nnkit.float32).reshape(2, 4)
    assert x.view(nnkit.float64).shape == (2, 2) and x.view(nnkit.uint8).shape == (2, 16)
    assert x.view(nnkit.int16).view(nnkit.float32).tolist() == x.tolist()
    assert x.view(nnkit.float16).view(nnkit.float32).tolist() == x.tolist()
    with pytest.raises(RuntimeError, match=r"last dim \(3\) must be divisible by 2"):
        nnkit.zeros(2, 3).view(nnkit.float64)
    with pytest.raises(RuntimeError, match="stride 1"):
        x.t().view(nnkit.float64)
    with pytest.raises(RuntimeError, match="0-d tensor"):
        nnkit.tensor(1.0).view(nnkit.int16)


def test_view_as_a_dtype_records_no_gradient_and_shares_the_version():
    x = nnkit.ones(2, requires_grad=True)
    v = x.view(nnkit.int32)
    assert not v.requires_grad and v.grad_fn is None
    assert x.view(nnkit.float32).requires_grad is False
    y = nnkit.zeros(4)
    v = y.view(nnkit.int32)
    v.fill_(0)
    assert y._version == 1
    assert nnkit.ones(2, 3).view(6).shape == (6,)  # the shape form still works


# --- a tensor's own facts --------------------------------------------------------------------------

def test_sizes_in_bytes():
    t = nnkit.ones(2, 3, dtype=nnkit.float64)
    assert t.element_size() == 8 and t.itemsize == 8 and t.nbytes == 48
    assert t[:, ::2].nbytes == 32 and nnkit.ones(3, dtype=nnkit.bfloat16).nbytes == 6


def test_kind_predicates_as_functions_and_methods():
    assert nnkit.is_tensor(nnkit.ones(1)) and not nnkit.is_tensor(np.ones(1)) and not nnkit.is_tensor(1.0)
    assert nnkit.is_floating_point(nnkit.ones(1)) and nnkit.ones(1, dtype=nnkit.bfloat16).is_floating_point()
    assert not nnkit.is_floating_point(nnkit.arange(2)) and not nnkit.is_complex(nnkit.ones(1))
    assert not nnkit.ones(1).is_complex() and nnkit.numel(nnkit.ones(2, 3)) == 6
    with pytest.raises(TypeError, match="must be Tensor, not float"):
        nnkit.is_floating_point(1.0)


def test_is_nonzero_needs_exactly_one_element():
    assert nnkit.is_nonzero(nnkit.tensor([1])) and not nnkit.is_nonzero(nnkit.tensor([0.0]))
    assert nnkit.tensor([[True]]).is_nonzero()
    with pytest.raises(RuntimeError, match="with no values is ambiguous"):
        nnkit.is_nonzero(nnkit.tensor([]))
    with pytest.raises(RuntimeError, match="more than one value is ambiguous"):
        nnkit.is_nonzero(nnkit.tensor([1.0, 2.0]))


# --- new_* -----------------------------------------------------------------------------------

def test_new_functions_keep_the_source_dtype_and_device_unless_given():
    t = nnkit.ones(2, dtype=nnkit.float64)
    z = t.new_zeros(2, 3)
    assert z.dtype is nnkit.float64 and z.shape == (2, 3) and z.tolist() == [[0.0] * 3] * 2
    assert t.new_ones((3,), dtype=nnkit.int32).tolist() == [1, 1, 1] and t.new_empty(4).shape == (4,)
    assert t.new_full((2,), 7).tolist() == [7.0, 7.0] and t.new_full((2,), 7).dtype is nnkit.float64
    assert t.new_zeros(size=(1, 2)).shape == (1, 2) and t.new_ones(2, requires_grad=True).requires_grad
    assert t.new_zeros(2).device == t.device
    ints = nnkit.tensor([1, 2], dtype=nnkit.int32)
    assert ints.new_tensor([1.5, 2.7]).tolist() == [1, 2] and ints.new_tensor([1.5]).dtype is nnkit.int32
    assert ints.new_full((2,), 2.7).tolist() == [2, 2]


def test_new_tensor_copies():
    source = np.zeros(2)
    t = nnkit.ones(1).new_tensor(source)
    source[0] = 5
    assert t.tolist() == [0.0, 0.0] and t.dtype is nnkit.float32


# --- creation ------------------------------------------------------------------------------------

@pytest.mark.parametrize("make", [nnkit.zeros, nnkit.ones, nnkit.empty, nnkit.rand, nnkit.randn])
def test_the_size_in_any_of_pytorchs_forms(make):
    assert make(2, 3).shape == make((2, 3)).shape == make([2, 3]).shape == make(size=(2, 3)).shape == (2, 3)
    assert make(()).shape == make([]).shape == () and make(size=()).shape == ()
    with pytest.raises(TypeError, match="both positionally"):
        make(2, size=(2,))
    with pytest.raises(RuntimeError, match=r"negative dimension -1: \[2, -1\]"):
        make(2, -1)
    with pytest.raises(TypeError, match="size must be a tuple of ints"):
        make(2.5)


def test_full_and_the_like_functions():
    assert nnkit.full(size=(2,), fill_value=1.0).dtype is nnkit.float32 and nnkit.full((2,), True).dtype is nnkit.bool
    ints = nnkit.ones(2, dtype=nnkit.int64)
    assert nnkit.full_like(ints, 2.5).tolist() == [2, 2]  # the input's dtype: truncated
    assert nnkit.zeros_like(ints, dtype=nnkit.float64).dtype is nnkit.float64
    assert nnkit.ones_like(nnkit.ones(2), requires_grad=True).requires_grad
    assert nnkit.empty_like(ints).dtype is nnkit.int64 and nnkit.empty(2, 3, dtype=nnkit.int32).dtype is nnkit.int32
    with pytest.raises(TypeError):
        nnkit.zeros_like(ints, nnkit.float64)  # the options are keywords, as in PyTorch
    with pytest.raises(RuntimeError, match="only floating-point tensors can require gradients"):
        nnkit.zeros(2, dtype=nnkit.int64, requires_grad=True)


def test_tensor_as_tensor_asarray_and_from_numpy():
    assert nnkit.tensor(3.5, dtype=nnkit.int64).item() == 3
    t = nnkit.tensor([1, 2], dtype=nnkit.float64, requires_grad=True)
    assert t.requires_grad and t.dtype is nnkit.float64
    array = np.ones(3)
    shared, copied = nnkit.asarray(array), nnkit.asarray(array, copy=True)
    cast = nnkit.asarray(array, dtype=nnkit.float32)
    array[0] = 5
    assert shared.tolist() == [5.0, 1.0, 1.0] and copied.tolist() == [1.0] * 3 and cast.tolist() == [1.0] * 3
    assert nnkit.from_numpy(array).array is array and nnkit.as_tensor(array).array is array
    b = nnkit.ones(2)
    assert nnkit.asarray(b) is b and nnkit.asarray(b, copy=True) is not b
    assert nnkit.asarray(b, requires_grad=True) is b and b.requires_grad
    assert nnkit.asarray([1, 2]).dtype is nnkit.int64 and nnkit.asarray(3.5).dtype is nnkit.float32
    with pytest.raises(ValueError, match="copy=False"):
        nnkit.asarray(np.ones(2), dtype=nnkit.float32, copy=False)
    with pytest.raises(TypeError, match="can't convert an array of dtype object"):
        nnkit.from_numpy(np.array([None]))


def test_scalar_tensor_is_a_float_unless_told():
    assert nnkit.scalar_tensor(3).dtype is nnkit.float32 and nnkit.scalar_tensor(3).shape == ()
    assert nnkit.scalar_tensor(True).item() == 1.0 and nnkit.scalar_tensor(3, dtype=nnkit.int64).item() == 3
    assert nnkit.scalar_tensor(2.5, requires_grad=True).requires_grad


@pytest.mark.parametrize("args, dtype, values", [
    ((0, 10, 5), nnkit.int64, [0, 2, 5, 7, 10]),
    ((-3.7, 3.7, 7), nnkit.int64, [-3, -2, -1, 0, 1, 2, 3]),
    ((0.6, 1.4, 3), nnkit.int64, [0, 0, 1]),  # the ends are truncated first, then the steps
    ((10, 0, 4), nnkit.int32, [10, 6, 3, 0]),
    ((0, 1, 5), nnkit.int8, [0, 0, 0, 0, 1]),
    ((0, 1, 5), None, [0.0, 0.25, 0.5, 0.75, 1.0]),
    ((2, 3, 1), None, [2.0]),
    ((2, 3, 0), None, []),
])
def test_linspace_with_integer_dtypes_truncates_as_pytorch(args, dtype, values):
    t = nnkit.linspace(*args, dtype=dtype)
    assert t.tolist() == values and t.dtype is (dtype or nnkit.float32)


def test_linspace_reaches_both_ends_exactly_and_rejects_negative_steps():
    t = nnkit.linspace(-1.0, 3.3, 101)
    assert t[0].item() == np.float32(-1.0) and t[-1].item() == np.float32(3.3)
    assert np.allclose(t.numpy(), np.linspace(-1.0, 3.3, 101), atol=1e-6)
    assert nnkit.linspace(nnkit.tensor(0.0), nnkit.tensor(1.0), 3).tolist() == [0.0, 0.5, 1.0]
    with pytest.raises(RuntimeError, match="number of steps must be non-negative"):
        nnkit.linspace(0, 1, -1)


def test_logspace():
    assert nnkit.logspace(0, 3, 4).tolist() == [1.0, 10.0, 100.0, 1000.0]
    assert nnkit.logspace(0, 3, 4, base=2).tolist() == [1.0, 2.0, 4.0, 8.0]
    assert nnkit.logspace(-2, 2, 5, dtype=nnkit.int64).tolist() == [0, 0, 1, 10, 100]
    assert nnkit.logspace(0, 2, 3, base=2.5, dtype=nnkit.int64).tolist() == [1, 2, 6]  # 2.5 and 6.25 truncated
    assert nnkit.logspace(0.5, 2.5, 3, dtype=nnkit.int64).tolist() == [1, 10, 100]  # the ends truncated first


@pytest.mark.parametrize("args, dtype, values", [
    ((0, 5, 1.5), nnkit.int64, [0, 1, 2, 3, 4]),  # int64: start, end and step truncated first
    ((0.5, 5.9, 1), nnkit.int64, [0, 1, 2, 3, 4]),
    ((0.5, 5.9, 1), nnkit.int32, [0, 1, 2, 3, 4, 5]),  # other integers: the count from the floats
    ((-1.5, 3, 0.7), nnkit.int32, [-1] * 7),
    ((5, 0, -1.5), nnkit.int64, [5, 4, 3, 2, 1]),
    ((5, 0, -1.5), nnkit.int32, [5, 4, 3, 2]),
    ((0, 1, 0.25), None, [0.0, 0.25, 0.5, 0.75]),
    ((3,), None, [0, 1, 2]),
])
def test_arange_with_integer_dtypes_as_pytorch(args, dtype, values):
    t = nnkit.arange(*args, dtype=dtype)
    assert t.tolist() == values
    assert t.dtype is (dtype or (nnkit.int64 if all(isinstance(a, int) for a in args) else nnkit.float32))


def test_arange_dtypes_and_errors():
    assert nnkit.arange(5, dtype=nnkit.float64).dtype is nnkit.float64 and nnkit.arange(1, 2.5, 0.5).dtype is nnkit.float32
    assert nnkit.arange(nnkit.tensor(3)).tolist() == [0, 1, 2] and nnkit.arange(0, 1, 0.1).shape == (10,)
    with pytest.raises(RuntimeError, match="step must be nonzero"):
        nnkit.arange(0, 5, 0)
    with pytest.raises(RuntimeError, match="inconsistent with step sign"):
        nnkit.arange(0, 5, -1)
    with pytest.raises(ValueError, match="is 0 once truncated"):
        nnkit.arange(0, 5, 0.5, dtype=nnkit.int64)


def test_eye():
    assert nnkit.eye(2, 3, dtype=nnkit.int64).tolist() == [[1, 0, 0], [0, 1, 0]] and nnkit.eye(3).dtype is nnkit.float32
    assert nnkit.eye(2, requires_grad=True).requires_grad and nnkit.eye(0).shape == (0, 0)
    with pytest.raises(RuntimeError, match="n must be greater or equal to 0, got -1"):
        nnkit.eye(-1)


# --- randomness ----------------------------------------------------------------------------------

def test_bernoulli_draws_ones_with_the_given_probability():
    nnkit.manual_seed(0)
    p = nnkit.tensor([0.0, 1.0, 0.3]).expand(20_000, 3)
    draws = nnkit.bernoulli(p)
    assert draws.dtype is nnkit.float32 and set(draws.flatten().tolist()) == {0.0, 1.0}
    means = draws.mean(0).tolist()
    assert means[0] == 0.0 and means[1] == 1.0 and abs(means[2] - 0.3) < 0.015
    assert abs(nnkit.ones(20_000).bernoulli(0.8).mean().item() - 0.8) < 0.015
    assert abs(nnkit.bernoulli(nnkit.zeros(20_000), p=0.25).mean().item() - 0.25) < 0.015
    ints = nnkit.zeros(3, dtype=nnkit.int64).bernoulli_(nnkit.tensor([0.0, 1.0, 1.0]))
    assert ints.tolist() == [0, 1, 1] and ints.dtype is nnkit.int64
    with pytest.raises(RuntimeError, match=r"expects p to be in \[0, 1\]"):
        nnkit.bernoulli(nnkit.tensor([0.5, 2.0]))
    with pytest.raises(RuntimeError, match=r"expects p to be in \[0, 1\]"):
        nnkit.zeros(2).bernoulli_(1.5)


def test_normal_in_each_of_pytorchs_forms():
    nnkit.manual_seed(0)
    z = nnkit.normal(nnkit.full((20_000,), 3.0), 2.0)
    assert z.shape == (20_000,) and abs(z.mean().item() - 3) < 0.05 and abs(z.std().item() - 2) < 0.05
    z = nnkit.normal(-1.0, nnkit.full((20_000,), 0.5))
    assert abs(z.mean().item() + 1) < 0.02 and abs(z.std().item() - 0.5) < 0.02
    assert nnkit.normal(nnkit.zeros(2, 1), nnkit.ones(3)).shape == (2, 3)
    z = nnkit.normal(2.0, 3.0, (20_000,), dtype=nnkit.float64)
    assert z.dtype is nnkit.float64 and abs(z.mean().item() - 2) < 0.1 and abs(z.std().item() - 3) < 0.1
    assert nnkit.normal(2.0, 3.0, size=(2,)).shape == (2,) and nnkit.normal(nnkit.zeros(2)).shape == (2,)
    with pytest.raises(RuntimeError, match="cannot be broadcast"):
        nnkit.normal(nnkit.zeros(4), nnkit.ones(2, 2))
    with pytest.raises(RuntimeError, match="normal expects std >= 0.0"):
        nnkit.normal(0.0, -1.0, (2,))
    with pytest.raises(TypeError, match="give the size"):
        nnkit.normal(0.0, 1.0)


def test_poisson_exponential_and_geometric():
    nnkit.manual_seed(0)
    counts = nnkit.poisson(nnkit.full((20_000,), 4.0))
    assert counts.dtype is nnkit.float32 and abs(counts.mean().item() - 4) < 0.1 and (counts == counts.round()).all()
    with pytest.raises(RuntimeError, match="invalid Poisson rate"):
        nnkit.poisson(nnkit.tensor([-1.0]))
    e = nnkit.zeros(20_000).exponential_(lambd=2.0)
    assert e.min().item() >= 0 and abs(e.mean().item() - 0.5) < 0.02
    with pytest.raises(RuntimeError, match=r"lambda > 0.0, but found lambda=-1"):
        nnkit.zeros(2).exponential_(-1.0)
    with pytest.raises(RuntimeError, match="continuous"):
        nnkit.zeros(2, dtype=nnkit.int64).exponential_()
    g = nnkit.zeros(20_000, dtype=nnkit.int64).geometric_(0.25)
    assert g.min().item() == 1 and abs(g.float().mean().item() - 4) < 0.15
    with pytest.raises(RuntimeError, match=r"p to be in \(0, 1\)"):
        nnkit.zeros(2).geometric_(1.5)


def test_random_draws_integers_in_the_ranges_pytorch_uses():
    nnkit.manual_seed(0)
    assert set(nnkit.zeros(2000).random_(0, 5).tolist()) == {0, 1, 2, 3, 4}
    assert set(nnkit.zeros(2000).random_(3).tolist()) == {0, 1, 2}
    assert set(nnkit.zeros(2000, dtype=nnkit.bool).random_().tolist()) == {False, True}
    byte = nnkit.zeros(5000, dtype=nnkit.uint8).random_()
    assert byte.max().item() == 255 and byte.min().item() == 0
    big = nnkit.zeros(1000).random_()
    assert big.max().item() <= 2 ** 24 and big.max().item() > 2 ** 23 and (big == big.round()).all()
    with pytest.raises(RuntimeError, match="'from' to be less than 'to', but got from=5 >= to=2"):
        nnkit.zeros(2).random_(5, 2)
    with pytest.raises(RuntimeError, match="more than nnkit.uint8 holds"):
        nnkit.zeros(2, dtype=nnkit.uint8).random_(0, 300)


def test_multinomial_without_replacement_draws_distinct_categories():
    nnkit.manual_seed(0)
    weights = nnkit.tensor([[1.0, 2.0, 3.0, 0.0], [0.0, 0.0, 5.0, 1.0]])
    draws = nnkit.multinomial(weights, 3)
    assert draws.shape == (2, 3) and draws.dtype is nnkit.int64
    for row, w in zip(draws.tolist(), weights.tolist()):
        assert len(set(row)) == 3 and all(w[c] > 0 for c in row[:sum(v > 0 for v in w)])
    firsts = nnkit.multinomial(nnkit.tensor([1.0, 3.0]).expand(4000, 2), 1)
    assert abs(firsts.float().mean().item() - 0.75) < 0.03  # category 1 first with probability 3/4
    assert nnkit.multinomial(nnkit.tensor([1.0, 0.0, 0.0]), 2)[0].item() == 0  # zero weights come last


def test_multinomial_with_replacement_follows_the_weights():
    nnkit.manual_seed(0)
    draws = nnkit.multinomial(nnkit.tensor([1.0, 0.0, 3.0]), 8000, replacement=True)
    counts = np.bincount(draws.numpy(), minlength=3) / 8000
    assert counts[1] == 0 and abs(counts[0] - 0.25) < 0.02 and abs(counts[2] - 0.75) < 0.02


@pytest.mark.parametrize("make, message", [
    (lambda: nnkit.multinomial(nnkit.tensor([1.0, 2, 3]), 4), "without replacement"),
    (lambda: nnkit.multinomial(nnkit.tensor([-1.0, 2, 3]), 1), "element < 0"),
    (lambda: nnkit.multinomial(nnkit.tensor([1.0, float("nan")]), 1), "element < 0"),
    (lambda: nnkit.multinomial(nnkit.zeros(3), 1), "sum of probabilities <= 0"),
    (lambda: nnkit.multinomial(nnkit.ones(2, 2, 2), 1), "1 or 2 dim"),
    (lambda: nnkit.multinomial(nnkit.tensor([1, 2]), 1), "floating-point dtypes"),
    (lambda: nnkit.multinomial(nnkit.ones(2), 0), "n_sample <= 0"),
])
def test_multinomial_errors(make, message):
    with pytest.raises(RuntimeError, match=message):
        make()


def test_randperm_and_randint_like():
    nnkit.manual_seed(0)
    p = nnkit.randperm(10)
    assert sorted(p.tolist()) == list(range(10)) and p.dtype is nnkit.int64
    assert nnkit.randperm(4, dtype=nnkit.float32).dtype is nnkit.float32 and nnkit.randperm(0).shape == (0,)
    with pytest.raises(RuntimeError, match="non-negative"):
        nnkit.randperm(-1)
    like = nnkit.randint_like(nnkit.zeros(2000, dtype=nnkit.float64), 2, 5)
    assert like.dtype is nnkit.float64 and set(like.tolist()) == {2.0, 3.0, 4.0}
    assert set(nnkit.randint_like(nnkit.zeros(500, dtype=nnkit.int32), 3).tolist()) == {0, 1, 2}


def test_a_generator_makes_each_sampler_reproducible():
    def draws(seed):
        g = nnkit.Generator().manual_seed(seed)
        return [nnkit.bernoulli(nnkit.full((5,), 0.5), generator=g).tolist(),
                nnkit.normal(nnkit.zeros(3), 1.0, generator=g).tolist(),
                nnkit.poisson(nnkit.ones(3), generator=g).tolist(),
                nnkit.multinomial(nnkit.ones(5), 3, generator=g).tolist(),
                nnkit.zeros(3).random_(0, 100, generator=g).tolist(),
                nnkit.zeros(3).exponential_(generator=g).tolist()]
    assert draws(7) == draws(7) and draws(7) != draws(8)


# --- printing ------------------------------------------------------------------------------------

@pytest.mark.parametrize("make, text", [
    (lambda: nnkit.tensor([0.5, 0.25]), "tensor([0.5000, 0.2500])"),
    (lambda: nnkit.tensor([1e-5, 1.0]), "tensor([1.0000e-05, 1.0000e+00])"),
    (lambda: nnkit.tensor([1.0, float("nan"), float("inf")]), "tensor([1., nan, inf])"),
    (lambda: nnkit.tensor([-3, 12]), "tensor([-3, 12])"),
    (lambda: nnkit.zeros(2, 0), "tensor([], size=(2, 0))"),
    (lambda: nnkit.zeros(0, dtype=nnkit.int64), "tensor([], dtype=nnkit.int64)"),
    (lambda: nnkit.tensor([1.5], dtype=nnkit.float16), "tensor([1.5000], dtype=nnkit.float16)"),
    (lambda: nnkit.tensor(2.0, dtype=nnkit.bfloat16), "tensor(2., dtype=nnkit.bfloat16)"),
    (lambda: nnkit.arange(1200),
     "tensor([   0,    1,    2,  ..., 1197, 1198, 1199])"),
    (lambda: nnkit.ones(2, 2, 2), "tensor([[[1., 1.],\n         [1., 1.]],\n\n        [[1., 1.],\n         [1., 1.]]])"),
], ids=["fixed", "scientific", "nonfinite", "ints", "empty2d", "empty_int", "half", "bfloat16", "summary", "3d"])
def test_repr_as_pytorch(make, text):
    assert repr(make()) == text


def test_long_rows_wrap_at_the_line_width():
    text = repr(nnkit.arange(30.0))
    assert text.splitlines()[1].startswith("        14., 15.") and max(map(len, text.splitlines())) <= 80


def test_print_options_change_the_repr_until_reset():
    try:
        nnkit.set_printoptions(precision=2)
        assert repr(nnkit.tensor([1.12345])) == "tensor([1.12])"
        nnkit.set_printoptions(threshold=5)
        assert repr(nnkit.arange(10)) == "tensor([0, 1, 2,  ..., 7, 8, 9])"
        nnkit.set_printoptions(threshold=5, edgeitems=1)
        assert repr(nnkit.arange(10)) == "tensor([0,  ..., 9])"
        nnkit.set_printoptions(sci_mode=True)  # the precision set above stays
        assert repr(nnkit.tensor([2.0])) == "tensor([2.00e+00])"
        nnkit.set_printoptions(profile="default", sci_mode=False)
        assert repr(nnkit.tensor([1e-5, 1.0])) == "tensor([0.0000, 1.0000])"
        nnkit.set_printoptions(linewidth=20)
        assert repr(nnkit.tensor([1.5, 2.5, 3.5, 4.5])) == "tensor([1.5000,\n        2.5000,\n        3.5000,\n        4.5000])"
        with nnkit.printoptions(precision=1):
            assert repr(nnkit.tensor([0.25])) == "tensor([0.2])"
        assert nnkit.get_printoptions()["linewidth"] == 20
    finally:
        nnkit.set_printoptions(profile="default")
    assert repr(nnkit.tensor([1.12345])) == "tensor([1.1235])"
    with pytest.raises(ValueError, match="profile must be one of"):
        nnkit.set_printoptions(profile="huge")


@pytest.mark.gpu
def test_creation_and_samplers_on_the_gpu():
    t = nnkit.ones(2, 4, device="cuda")
    made = [t.new_zeros(3), t.new_tensor([1, 2]), nnkit.zeros_like(t), nnkit.full_like(t, 2), nnkit.rand_like(t),
            nnkit.randint_like(t, 5), nnkit.bernoulli(t * 0.5), t.bernoulli(0.5), nnkit.normal(t, 1.0),
            nnkit.poisson(t), nnkit.multinomial(t, 2), nnkit.linspace(0, 1, 5, device="cuda"),
            nnkit.arange(0, 5, 1.5, dtype=nnkit.int64, device="cuda"), nnkit.eye(2, device="cuda"),
            nnkit.zeros(2, device="cuda").random_(0, 3), nnkit.zeros(2, device="cuda").exponential_()]
    assert all(m.device == "cuda" for m in made)
    bits = t.view(nnkit.int32)
    assert bits.device == "cuda" and bits.tolist() == [[1065353216] * 4] * 2 and t.view(nnkit.float64).shape == (2, 2)
    assert t.type() == "nnkit.cuda.FloatTensor" and t.type("nnkit.cuda.DoubleTensor").device == "cuda"
    assert t.type("nnkit.DoubleTensor").device == "cpu" and t.type(nnkit.float64).device == "cuda"
    assert repr(nnkit.ones(1, device="cuda")) == "tensor([1.], device='cuda')"
