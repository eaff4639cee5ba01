"""nnkit against PyTorch: dtypes, creation functions, printing, custom Functions and
``autograd.functional``.

Each call is written once for both libraries (``lib`` is ``nnkit`` or ``torch``);
results must agree in dtype (by name), shape and values, errors in their kind, and
printed tensors character for character once ``torch.`` reads ``nnkit.``.
"""

import numpy as np
import pytest
from test_torch_parity_ops import assert_same

import nnkit

torch = pytest.importorskip("torch")
pytestmark = pytest.mark.torch

DTYPES = ["bool", "uint8", "int8", "int16", "int32", "int64", "float16", "bfloat16", "float32", "float64"]


def name_of(dtype) -> str:
    return str(dtype).replace("torch.", "nnkit.")


def values(t) -> np.ndarray:
    return t.detach().double().numpy() if t.dtype.is_floating_point else t.detach().numpy()


def assert_same_tensor(mine, theirs, rtol: float = 0.0) -> None:
    assert name_of(mine.dtype) == name_of(theirs.dtype) and tuple(mine.shape) == tuple(theirs.shape)
    assert mine.requires_grad == theirs.requires_grad
    np.testing.assert_allclose(values(mine), values(theirs), rtol=rtol, atol=0)


# --- dtypes ------------------------------------------------------------------------------------

@pytest.mark.parametrize("name", DTYPES)
def test_dtype_names_and_attributes(name):
    mine, theirs = getattr(nnkit, name), getattr(torch, name)
    assert str(mine) == name_of(theirs) and repr(mine) == name_of(repr(theirs))
    assert (mine.is_floating_point, mine.is_complex, mine.is_signed, mine.itemsize) == \
           (theirs.is_floating_point, theirs.is_complex, theirs.is_signed, theirs.itemsize)
    assert nnkit.zeros(1, dtype=mine).type() == torch.zeros(1, dtype=theirs).type().replace("torch.", "nnkit.")


@pytest.mark.parametrize("alias", ["half", "float", "double", "short", "int", "long"])
def test_dtype_aliases(alias):
    assert str(getattr(nnkit, alias)) == name_of(getattr(torch, alias))


@pytest.mark.parametrize("source", ["float32", "float64", "int32", "int16", "uint8"])
@pytest.mark.parametrize("target", ["float32", "int32", "float64", "int16", "uint8", "float16", "bool"])
@pytest.mark.parametrize("shape, transpose", [((4, 8), False), ((8, 4), True), ((3,), False), ((), False)])
def test_view_as_a_dtype(source, target, shape, transpose, rng):
    array = rng.integers(0, 2, np.prod(shape, dtype=int)).reshape(shape).astype(source)
    if target == "bool":
        array = (array > 0).astype(source)  # bytes that read as valid bools
    results = []
    for lib in (nnkit, torch):
        t = lib.tensor(array, dtype=getattr(lib, source))
        t = t.t() if transpose else t
        try:
            results.append(t.view(getattr(lib, target)))
        except RuntimeError:
            results.append(RuntimeError)
    mine, theirs = results
    if theirs is RuntimeError or mine is RuntimeError:
        assert mine is theirs
    else:
        assert_same_tensor(mine, theirs)


# --- creation ------------------------------------------------------------------------------------

LINSPACE = [(0, 1, 5), (0, 10, 5), (-3.7, 3.7, 7), (0.6, 1.4, 3), (10, 0, 4), (0, 100, 33), (1, 1, 3),
            (5, -5, 11), (0, 1, 1), (2, 3, 0), (-7.9, 100.3, 77), (0.1, 0.9, 50)]


# Integers exactly; floats within an ulp (PyTorch's vectorised loop rounds some steps differently).
TOLERANCES = [("int64", 0), ("int32", 0), ("int16", 0), ("float32", 1e-6), ("float64", 1e-14), ("float16", 1e-3),
              ("bfloat16", 1e-2)]


@pytest.mark.parametrize("dtype, rtol", TOLERANCES)
@pytest.mark.parametrize("args", LINSPACE, ids=str)
def test_linspace(args, dtype, rtol):
    assert_same_tensor(nnkit.linspace(*args, dtype=getattr(nnkit, dtype)),
                       torch.linspace(*args, dtype=getattr(torch, dtype)), rtol)


@pytest.mark.parametrize("dtype, rtol", [("int64", 0), ("int32", 0), ("float32", 1e-6), ("float64", 1e-13),
                                         ("float16", 1e-3), ("bfloat16", 1e-2)])
@pytest.mark.parametrize("args", [(0, 3, 4), (-2, 2, 5), (0.5, 2.5, 3), (0, 2, 3, 2.5), (-1.3, 1.7, 9, 2.0),
                                  (1, 0, 6, 3.0)], ids=str)
def test_logspace(args, dtype, rtol):
    assert_same_tensor(nnkit.logspace(*args, dtype=getattr(nnkit, dtype)),
                       torch.logspace(*args, dtype=getattr(torch, dtype)), rtol)


ARANGE = [(5,), (0, 5, 1.5), (0.5, 5.9, 1), (-2.5, 2.5, 1), (5, 0, -1.5), (0, 1, 0.1), (-1.5, 3, 0.7), (1, 2.5, 0.5),
          (0, 2 ** 40, 2 ** 39), (0, 10, 3), (3, 3), (0, 5, 0.5), (0, 5, -1), (0, 5, 0)]


@pytest.mark.parametrize("dtype", [None, "int64", "int32", "int16", "float32", "float64", "float16", "bfloat16"])
@pytest.mark.parametrize("args", ARANGE, ids=str)
def test_arange(args, dtype):
    outcomes = []
    for lib in (nnkit, torch):
        try:
            outcomes.append(lib.arange(*args, dtype=dtype and getattr(lib, dtype)))
        except (RuntimeError, ValueError) as e:
            outcomes.append(type(e))
    mine, theirs = outcomes
    if isinstance(theirs, type) or isinstance(mine, type):
        assert mine is theirs
    else:
        assert_same_tensor(mine, theirs, 1e-7 if dtype in (None, "float32", "float64") else 0)


def fixed(lib):
    return lib.tensor([[1.5, -2.0, 0.25]], dtype=lib.float64)


CREATION = {
    "zeros_size_keyword": lambda lib: lib.zeros(size=(2, 3)),
    "ones_tuple_dtype": lambda lib: lib.ones((2,), dtype=lib.int32),
    "full_int": lambda lib: lib.full((2,), 3),
    "full_bool": lambda lib: lib.full((2,), True),
    "full_keywords": lambda lib: lib.full(size=(1, 2), fill_value=2.5, requires_grad=True),
    "zeros_like": lambda lib: lib.zeros_like(fixed(lib)),
    "ones_like_dtype": lambda lib: lib.ones_like(fixed(lib), dtype=lib.int16),
    "full_like_int_truncates": lambda lib: lib.full_like(lib.ones(2, dtype=lib.int64), 2.7),
    "full_like_grad": lambda lib: lib.full_like(fixed(lib), 7, requires_grad=True),
    "new_zeros": lambda lib: fixed(lib).new_zeros(2, 2),
    "new_ones_size": lambda lib: fixed(lib).new_ones(size=(3,)),
    "new_full": lambda lib: fixed(lib).new_full((2,), 3),
    "new_full_dtype": lambda lib: fixed(lib).new_full((2,), 3.9, dtype=lib.int32),
    "new_tensor": lambda lib: lib.ones(1, dtype=lib.int32).new_tensor([1.5, 2.7]),
    "new_tensor_grad": lambda lib: fixed(lib).new_tensor([1, 2], requires_grad=True),
    "new_empty_shape": lambda lib: fixed(lib).new_empty(0, 2),
    "scalar_tensor": lambda lib: lib.scalar_tensor(3),
    "scalar_tensor_bool": lambda lib: lib.scalar_tensor(True),
    "scalar_tensor_int": lambda lib: lib.scalar_tensor(4, dtype=lib.int64),
    "asarray_list": lambda lib: lib.asarray([[1, 2], [3, 4]]),
    "asarray_float": lambda lib: lib.asarray(2.5),
    "asarray_numpy": lambda lib: lib.asarray(np.arange(3.0)),
    "asarray_cast": lambda lib: lib.asarray(np.arange(3.0), dtype=lib.float32),
    "tensor_int_to_float": lambda lib: lib.tensor([1, 2], dtype=lib.float64, requires_grad=True),
    "tensor_float_to_int": lambda lib: lib.tensor([1.7, -1.7], dtype=lib.int64),
    "tensor_bools": lambda lib: lib.tensor([True, False]),
    "tensor_empty": lambda lib: lib.tensor([]),
    "tensor_empty_rows": lambda lib: lib.tensor([[]]),
    "as_tensor": lambda lib: lib.as_tensor(np.ones(2, np.float32), dtype=lib.float64),
    "from_numpy_half": lambda lib: lib.from_numpy(np.ones(2, np.float16)),
    "eye": lambda lib: lib.eye(3),
    "eye_rect_int": lambda lib: lib.eye(2, 3, dtype=lib.int64),
    "empty_like_int": lambda lib: lib.zeros_like(lib.empty_like(lib.ones(2, dtype=lib.int32))),
    "type_cast": lambda lib: fixed(lib).type(lib.int32),
    "type_name": lambda lib: fixed(lib).type(lib.float32) if lib is torch else fixed(lib).type("nnkit.FloatTensor"),
    "type_same": lambda lib: fixed(lib).requires_grad_().type(lib.float64),
}


@pytest.mark.parametrize("name", CREATION)
def test_creation_as_pytorch(name):
    assert_same_tensor(CREATION[name](nnkit), CREATION[name](torch))


ERRORS = {
    "negative_size": lambda lib: lib.zeros(2, -1),
    "float_size": lambda lib: lib.zeros(2.5),
    "linspace_negative_steps": lambda lib: lib.linspace(0, 1, -1),
    "eye_negative": lambda lib: lib.eye(-1),
    "int_requires_grad": lambda lib: lib.tensor([1, 2], requires_grad=True),
    "like_options_positional": lambda lib: lib.zeros_like(lib.ones(1), lib.float64),
    "default_dtype_int": lambda lib: lib.set_default_dtype(lib.int64),
    "type_invalid": lambda lib: lib.ones(1).type("float"),
    "is_nonzero_two": lambda lib: lib.is_nonzero(lib.ones(2)),
    "is_nonzero_none": lambda lib: lib.is_nonzero(lib.ones(0)),
    "is_floating_point_number": lambda lib: lib.is_floating_point(1.0),
    "randperm_negative": lambda lib: lib.randperm(-1),
    "multinomial_too_many": lambda lib: lib.multinomial(lib.tensor([1.0, 2.0]), 3),
    "multinomial_negative": lambda lib: lib.multinomial(lib.tensor([-1.0, 2.0]), 1),
    "multinomial_zero_sum": lambda lib: lib.multinomial(lib.zeros(3), 1),
    "multinomial_3d": lambda lib: lib.multinomial(lib.ones(2, 2, 2), 1),
    "multinomial_ints": lambda lib: lib.multinomial(lib.tensor([1, 2]), 1),
    "bernoulli_p_range": lambda lib: lib.bernoulli(lib.tensor([0.5, 2.0])),
    "bernoulli_ints": lambda lib: lib.bernoulli(lib.tensor([1, 0])),
    "bernoulli__p_range": lambda lib: lib.zeros(2).bernoulli_(1.5),
    "normal_negative_std": lambda lib: lib.normal(lib.zeros(2), -1.0),
    "normal_int_mean": lambda lib: lib.normal(lib.zeros(2, dtype=lib.int64), 1.0),
    "normal_no_size": lambda lib: lib.normal(0.0, 1.0),
    "normal_shapes": lambda lib: lib.normal(lib.zeros(4), lib.ones(2, 2)),
    "poisson_negative": lambda lib: lib.poisson(lib.tensor([-1.0])),
    "poisson_ints": lambda lib: lib.poisson(lib.tensor([3])),
    "random_from_to": lambda lib: lib.zeros(4).random_(5, 2),
    "exponential_lambda": lambda lib: lib.zeros(2).exponential_(-1.0),
    "exponential_ints": lambda lib: lib.zeros(2, dtype=lib.int64).exponential_(),
    "geometric_p": lambda lib: lib.zeros(2).geometric_(1.5),
    "view_dtype_0d": lambda lib: lib.tensor(1.0).view(lib.int16),
    "view_dtype_divisible": lambda lib: lib.zeros(2, 3).view(lib.float64),
}


def outcome(fn, lib):
    try:
        fn(lib)
    except Exception as e:  # noqa: BLE001 - the kind of error is what is compared
        return type(e)
    return None


@pytest.mark.parametrize("name", ERRORS)
def test_errors_of_the_same_kind_as_pytorch(name):
    try:
        theirs, mine = outcome(ERRORS[name], torch), outcome(ERRORS[name], nnkit)
    finally:
        torch.set_default_dtype(torch.float32)
        nnkit.set_default_dtype(nnkit.float32)
    assert theirs is not None and mine is theirs


def test_predicates_and_sizes_as_pytorch():
    for lib_t, lib_n in ((torch.ones(2, 3, dtype=torch.float64), nnkit.ones(2, 3, dtype=nnkit.float64)),
                         (torch.tensor([1]), nnkit.tensor([1])), (torch.zeros(4, 6)[:, ::2], nnkit.zeros(4, 6)[:, ::2])):
        assert (lib_t.element_size(), lib_t.itemsize, lib_t.nbytes, lib_t.is_floating_point(), lib_t.is_complex()) == \
               (lib_n.element_size(), lib_n.itemsize, lib_n.nbytes, lib_n.is_floating_point(), lib_n.is_complex())
        assert torch.numel(lib_t) == nnkit.numel(lib_n) and torch.is_tensor(lib_t) == nnkit.is_tensor(lib_n)
    for v in ([0.0], [2], [True]):
        assert torch.is_nonzero(torch.tensor(v)) == nnkit.is_nonzero(nnkit.tensor(v))


SAMPLERS = {
    "bernoulli": lambda lib: lib.bernoulli(lib.full((3, 2), 0.5)),
    "bernoulli_p": lambda lib: lib.full((2,), 0.5, dtype=lib.float64).bernoulli(0.3),
    "bernoulli_int_inplace": lambda lib: lib.zeros(3, dtype=lib.int32).bernoulli_(0.5),
    "normal_tensors": lambda lib: lib.normal(lib.zeros(2, 1), lib.ones(3)),
    "normal_std_tensor": lambda lib: lib.normal(0.0, lib.ones(2, dtype=lib.float64)),
    "normal_numbers": lambda lib: lib.normal(2.0, 3.0, (2, 3), dtype=lib.float64),
    "poisson": lambda lib: lib.poisson(lib.ones(4, dtype=lib.float64)),
    "random_": lambda lib: lib.zeros(3, dtype=lib.int16).random_(0, 10),
    "exponential_": lambda lib: lib.zeros(3, dtype=lib.float16).exponential_(),
    "geometric_": lambda lib: lib.zeros(3, dtype=lib.int64).geometric_(0.5),
    "multinomial": lambda lib: lib.multinomial(lib.ones(2, 4), 3),
    "multinomial_replacement": lambda lib: lib.multinomial(lib.ones(4), 6, replacement=True),
    "randperm": lambda lib: lib.randperm(5, dtype=lib.float32),
    "randint_like": lambda lib: lib.randint_like(lib.ones(2, dtype=lib.float64), 2, 5),
    "rand_like": lambda lib: lib.rand_like(lib.ones(2, dtype=lib.float64)),
    "randn_grad": lambda lib: lib.randn(2, requires_grad=True),
}


@pytest.mark.parametrize("name", SAMPLERS)
def test_samplers_give_pytorchs_dtypes_and_shapes(name):
    mine, theirs = SAMPLERS[name](nnkit), SAMPLERS[name](torch)
    assert name_of(mine.dtype) == name_of(theirs.dtype) and tuple(mine.shape) == tuple(theirs.shape)
    assert mine.requires_grad == theirs.requires_grad


# --- printing ------------------------------------------------------------------------------------

def printed(rng):
    normal, cube = rng.standard_normal((4, 5)), rng.standard_normal((3, 40, 40))
    return [
        lambda lib: lib.tensor(normal), lambda lib: lib.tensor(normal, dtype=lib.float64),
        lambda lib: lib.tensor(normal * 1e5), lambda lib: lib.tensor(normal * 1e-5),
        lambda lib: lib.tensor([[1.0, 2.0], [300.0, 4.0]]), lambda lib: lib.tensor([1e9, 1.0]),
        lambda lib: lib.tensor([0.0, -0.0, 1.0]), lambda lib: lib.tensor([float("nan"), float("-inf"), 2.5]),
        lambda lib: lib.tensor([0.0, 0.0]), lambda lib: lib.tensor(-3.25), lambda lib: lib.tensor(7),
        lambda lib: lib.tensor([[-12, 3], [4, 1000]]), lambda lib: lib.tensor([True, False]),
        lambda lib: lib.tensor([1, 2], dtype=lib.uint8), lambda lib: lib.tensor([1.5, 2], dtype=lib.float16),
        lambda lib: lib.tensor([1.5, 2.25], dtype=lib.bfloat16), lambda lib: lib.tensor([[3]], dtype=lib.int32),
        lambda lib: lib.zeros(0), lambda lib: lib.zeros(0, 3, dtype=lib.int64), lambda lib: lib.zeros(2, 0, 1),
        lambda lib: lib.arange(100.0).reshape(4, 25), lambda lib: lib.arange(3000).reshape(30, 100),
        lambda lib: lib.tensor(cube), lambda lib: lib.arange(60.0).reshape(3, 4, 5),
        lambda lib: lib.tensor(normal, requires_grad=True), lambda lib: lib.ones(40, requires_grad=True),
        lambda lib: lib.tensor(normal[0] * 100, dtype=lib.float64, requires_grad=True),
    ]


@pytest.mark.parametrize("options", [{}, {"precision": 2}, {"precision": 6}, {"threshold": 10},
                                     {"threshold": 10, "edgeitems": 1}, {"threshold": 10, "edgeitems": 0},
                                     {"linewidth": 30}, {"sci_mode": True}, {"sci_mode": False},
                                     {"profile": "short"}, {"profile": "full"}], ids=str)
def test_repr_as_pytorch(options, rng):
    try:
        torch.set_printoptions(**options)
        nnkit.set_printoptions(**options)
        for make in printed(rng):
            assert repr(make(nnkit)) == repr(make(torch)).replace("torch.", "nnkit.")
    finally:
        torch.set_printoptions(profile="default")
        nnkit.set_printoptions(profile="default")


# --- custom Functions ---------------------------------------------------------------------------

def functions(lib):
    """The same custom Functions, built on ``lib.autograd.Function``."""

    class Cube(lib.autograd.Function):
        @staticmethod
        def forward(ctx, x):
            ctx.save_for_backward(x)
            return x ** 3

        @staticmethod
        def backward(ctx, g):
            (x,) = ctx.saved_tensors
            return g * 3 * x ** 2

    class ScaledProduct(lib.autograd.Function):
        @staticmethod
        def forward(ctx, x, y, alpha):
            ctx.save_for_backward(x, y)
            ctx.alpha = alpha
            return x * y * alpha + y

        @staticmethod
        def backward(ctx, g):
            x, y = ctx.saved_tensors
            return g * y * ctx.alpha, g * x * ctx.alpha + g, None

    class Exp(lib.autograd.Function):
        @staticmethod
        def forward(ctx, x):
            y = x.exp()
            ctx.save_for_backward(y)
            return y

        @staticmethod
        def backward(ctx, g):
            (y,) = ctx.saved_tensors
            return g * y

    class SinAndProduct(lib.autograd.Function):
        @staticmethod
        def forward(ctx, x, y):
            ctx.save_for_backward(x, y)
            return x.sin(), x * y

        @staticmethod
        def backward(ctx, g_sin, g_product):
            x, y = ctx.saved_tensors
            return g_sin * x.cos() + g_product * y, g_product * x

    return {"cube": Cube, "scaled_product": ScaledProduct, "exp": Exp, "sin_and_product": SinAndProduct}


def library(t):
    return nnkit if isinstance(t, nnkit.Tensor) else torch


FUNCTIONS = {
    "cube": (lambda x: functions(library(x))["cube"].apply(x), [(3, 4)]),
    "scaled_product_broadcast": (lambda x, y: functions(library(x))["scaled_product"].apply(x, y, 1.5),
                                 [(3, 1), (1, 4)]),
    "exp": (lambda x: functions(library(x))["exp"].apply(x), [(2, 3)]),
    "two_outputs": (lambda x, y: functions(library(x))["sin_and_product"].apply(x, y), [(3,), (3,)]),
    "two_outputs_one_used": (lambda x, y: functions(library(x))["sin_and_product"].apply(x, y)[1], [(3,), (3,)]),
}


@pytest.mark.parametrize("name", FUNCTIONS)
def test_custom_function_as_pytorch(name, rng):
    fn, shapes = FUNCTIONS[name]
    assert_same(fn, [rng.standard_normal(s) for s in shapes])


# --- autograd.functional ---------------------------------------------------------------------------

def as_arrays(result) -> list:
    """A nested result as a flat list of (shape, values), keeping the nesting's shape."""
    if isinstance(result, tuple):
        return [("tuple", len(result))] + [item for r in result for item in as_arrays(r)]
    return [(tuple(result.shape), result.detach().numpy())]


def assert_same_nesting(mine, theirs) -> None:
    flat_mine, flat_theirs = as_arrays(mine), as_arrays(theirs)
    assert len(flat_mine) == len(flat_theirs)
    for (a, x), (b, y) in zip(flat_mine, flat_theirs):
        assert a == b
        if a != "tuple":
            np.testing.assert_allclose(x, y, rtol=1e-10, atol=1e-12)


def one(x):
    return (x.sin() * x.sum()).sum()


def many(x):
    return x.sin() * x.sum()


def pair_to_one(x, y):
    return (x.exp() * y.sum() + (x * x).sum()).sum()


def pair_to_pair(x, y):
    return x * y.sum(), (x.sin() * y[0]).sum()


CALLS = {
    "jacobian_tensor": ("jacobian", many, 1, None),
    "jacobian_tuple_in": ("jacobian", lambda x, y: x * y.sum(), 2, None),
    "jacobian_tuple_both": ("jacobian", pair_to_pair, 2, None),
    "jacobian_tuple_out": ("jacobian", lambda x: (x * 2, x.sum()), 1, None),
    "hessian_tensor": ("hessian", one, 1, None),
    "hessian_tuple": ("hessian", pair_to_one, 2, None),
    "vjp_tensor": ("vjp", many, 1, "out"),
    "vjp_tuple": ("vjp", pair_to_pair, 2, "out"),
    "vjp_scalar": ("vjp", one, 1, None),
    "jvp_tensor": ("jvp", many, 1, "in"),
    "jvp_tuple": ("jvp", pair_to_pair, 2, "in"),
    "hvp_tensor": ("hvp", one, 1, "in"),
    "hvp_tuple": ("hvp", pair_to_one, 2, "in"),
    "vhp_tensor": ("vhp", one, 1, "in"),
    "vhp_tuple": ("vhp", pair_to_one, 2, "in"),
}


@pytest.mark.parametrize("create_graph", [False, True])
@pytest.mark.parametrize("name", CALLS)
def test_autograd_functional_as_pytorch(name, create_graph, rng):
    op, fn, n_inputs, v_like = CALLS[name]
    arrays = [rng.standard_normal(3) for _ in range(n_inputs)]
    results = []
    for lib in (nnkit, torch):
        inputs = tuple(lib.tensor(a) for a in arrays)
        inputs = inputs if n_inputs > 1 else inputs[0]
        args = (fn, inputs)
        if v_like is not None:
            like = inputs if v_like == "in" else fn(*(inputs if n_inputs > 1 else (inputs,)))
            vrng = np.random.default_rng(1)
            v = tuple(lib.tensor(vrng.standard_normal(tuple(t.shape))) for t in (like if isinstance(like, tuple)
                                                                                  else (like,)))
            args += (v if isinstance(like, tuple) else v[0],)
        results.append(getattr(lib.autograd.functional, op)(*args, create_graph=create_graph))
    assert_same_nesting(*results)


def test_grad_options_as_pytorch(rng):
    array = rng.standard_normal(3)
    vs = rng.standard_normal((4, 3))
    results = []
    for lib in (nnkit, torch):
        x, unused = lib.tensor(array, requires_grad=True), lib.ones(2, dtype=lib.float64, requires_grad=True)
        y = x.sin() * 2
        materialized = lib.autograd.grad(y.sum(), (x, unused), retain_graph=True, materialize_grads=True)
        (batched,) = lib.autograd.grad(y, x, lib.tensor(vs), is_grads_batched=True)
        results.append([g.detach().numpy() for g in materialized] + [batched.detach().numpy()])
    for mine, theirs in zip(*results):
        np.testing.assert_allclose(mine, theirs, rtol=1e-12)


def test_inference_mode_as_pytorch():
    states = []
    for lib in (nnkit, torch):
        w = lib.ones(2, requires_grad=True)
        seen = []
        with lib.inference_mode():
            seen += [lib.is_inference_mode_enabled(), lib.is_grad_enabled(), (w * 2).requires_grad]
            with lib.inference_mode(False):
                seen += [lib.is_inference_mode_enabled(), lib.is_grad_enabled(), (w * 2).requires_grad]
        with lib.no_grad(), lib.inference_mode(False):
            seen.append(lib.is_grad_enabled())
        states.append(seen)
    assert states[0] == states[1]
