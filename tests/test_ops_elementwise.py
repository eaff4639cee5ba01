"""The elementwise ops: gradients against finite differences, second derivatives, and
PyTorch's semantics pinned without PyTorch (integer division, rounding, promotion,
gradients at zero and at ties, bitwise ops, errors).

The op tables (written once with names nnkit and PyTorch share) are reused by
``test_torch_elementwise.py``, which runs them against PyTorch.
"""

import math

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from hypothesis.extra import numpy as hnp

import nnkit
from test_ops_gradcheck import LAYOUTS, Case, assert_forward, check, check_second, leaves, lib, make_array

# NumPy warns about inf and NaN at the special inputs pinned below, where PyTorch is silent.
pytestmark = pytest.mark.filterwarnings("ignore::RuntimeWarning")


def make_input(rng, shape, domain: str, layout: str = "contiguous") -> np.ndarray:
    """``make_array``'s domains, plus u (the open interval (-0.9, 0.9)), q (inside (0, 1))
    and g (above 1, for acosh); the layout is kept by writing the values in place."""
    if domain in "rpn":
        return make_array(rng, shape, domain, layout)
    out = make_array(rng, shape, "r", layout)
    out[...] = {"u": lambda v: 0.9 * np.tanh(v), "q": lambda v: 0.5 + 0.45 * np.tanh(v),
                "g": lambda v: 1.5 + np.abs(v)}[domain](out)
    return out


def inputs(rng, shapes, domains: str, layout: str = "contiguous") -> list:
    return [make_input(rng, s, d, layout) for s, d in zip(shapes, domains)]


# --- NumPy references ----------------------------------------------------------------

def vectorized(fn):
    return lambda x: np.vectorize(fn, otypes=[np.float64])(x)


def erfinv_reference(y):
    """erfinv by Newton's method on math.erf (exact to float64)."""
    def solve(v):
        x = 0.0
        for _ in range(100):
            x -= (math.erf(x) - v) / (2 / math.sqrt(math.pi) * math.exp(-x * x))
        return x
    return vectorized(solve)(y)


def python_remainder(a, b):
    return a - np.floor(a / b) * b


def lerp_reference(s, e, w):
    return s + w * (e - s)


def logit_reference(x, eps=None):
    z = x if eps is None else np.clip(x, eps, 1 - eps)
    return np.log(z / (1 - z))


# --- the tables: name -> (op, NumPy reference, input domain) ----------------------------

# Differentiable twice.
UNARY = {
    "exp2": (lambda x: x.exp2(), np.exp2, "r"),
    "exp2_fn": (lambda x: lib(x).exp2(x), np.exp2, "r"),
    "expm1": (lambda x: x.expm1(), np.expm1, "r"),
    "log2": (lambda x: x.log2(), np.log2, "p"),
    "log10": (lambda x: lib(x).log10(x), np.log10, "p"),
    "log1p_fn": (lambda x: lib(x).log1p(x), np.log1p, "p"),
    "rsqrt": (lambda x: x.rsqrt(), lambda x: 1 / np.sqrt(x), "p"),
    "rsqrt_fn": (lambda x: lib(x).rsqrt(x), lambda x: 1 / np.sqrt(x), "p"),
    "reciprocal": (lambda x: x.reciprocal(), np.reciprocal, "n"),
    "square": (lambda x: x.square(), np.square, "r"),
    "square_fn": (lambda x: lib(x).square(x), np.square, "r"),
    "tan": (lambda x: x.tan(), np.tan, "u"),
    "asin": (lambda x: x.asin(), np.arcsin, "u"),
    "arcsin": (lambda x: lib(x).arcsin(x), np.arcsin, "u"),
    "acos": (lambda x: x.acos(), np.arccos, "u"),
    "arccos": (lambda x: x.arccos(), np.arccos, "u"),
    "atan": (lambda x: lib(x).atan(x), np.arctan, "r"),
    "arctan": (lambda x: x.arctan(), np.arctan, "r"),
    "sinh": (lambda x: x.sinh(), np.sinh, "r"),
    "cosh": (lambda x: lib(x).cosh(x), np.cosh, "r"),
    "asinh": (lambda x: x.asinh(), np.arcsinh, "r"),
    "arcsinh": (lambda x: lib(x).arcsinh(x), np.arcsinh, "r"),
    "acosh": (lambda x: x.acosh(), np.arccosh, "g"),
    "arccosh": (lambda x: x.arccosh(), np.arccosh, "g"),
    "atanh": (lambda x: x.atanh(), np.arctanh, "u"),
    "arctanh": (lambda x: lib(x).arctanh(x), np.arctanh, "u"),
    "sin_fn": (lambda x: lib(x).sin(x), np.sin, "r"),
    "cos_fn": (lambda x: lib(x).cos(x), np.cos, "r"),
    "erf_fn": (lambda x: lib(x).erf(x), vectorized(math.erf), "r"),
    "erfc": (lambda x: x.erfc(), vectorized(math.erfc), "r"),
    "erfc_fn": (lambda x: lib(x).erfc(x), vectorized(math.erfc), "r"),
    "erfinv": (lambda x: x.erfinv(), erfinv_reference, "u"),
    "sinc": (lambda x: x.sinc(), np.sinc, "n"),  # away from 0, where float32 cancels (tested at 0 below)
    "logit": (lambda x: x.logit(), logit_reference, "q"),
    "logit_eps": (lambda x: lib(x).logit(x, eps=0.2), lambda x: logit_reference(x, 0.2), "q"),
    "deg2rad": (lambda x: x.deg2rad(), np.deg2rad, "r"),
    "rad2deg": (lambda x: lib(x).rad2deg(x), np.rad2deg, "r"),
    "frac": (lambda x: x.frac(), lambda x: x - np.trunc(x), "r"),
    "negative": (lambda x: lib(x).negative(x), np.negative, "r"),
    "neg_fn": (lambda x: lib(x).neg(x), np.negative, "r"),
    "positive": (lambda x: x.positive() * 2, lambda x: 2 * x, "r"),
    "pos_operator": (lambda x: +x * 2, lambda x: 2 * x, "r"),
    "absolute": (lambda x: lib(x).absolute(x), np.abs, "n"),
    "abs_fn": (lambda x: lib(x).abs(x), np.abs, "n"),
    "relu_fn": (lambda x: lib(x).relu(x), lambda x: np.maximum(x, 0), "n"),
    "nan_to_num": (lambda x: x.nan_to_num(), lambda x: x, "r"),
    "clamp_min": (lambda x: lib(x).clamp_min(x, -0.3), lambda x: np.maximum(x, -0.3), "r"),
    "clamp_max": (lambda x: x.clamp_max(0.2), lambda x: np.minimum(x, 0.2), "r"),
    "clip_fn": (lambda x: lib(x).clip(x, -0.5, 0.5), lambda x: np.clip(x, -0.5, 0.5), "r"),
    "clamp_bounds_crossed": (lambda x: x.clamp(0.5, -0.5), lambda x: np.full_like(x, -0.5), "r"),
    "pow_half": (lambda x: x ** 0.5, np.sqrt, "p"),
    "pow_minus_half": (lambda x: x ** -0.5, lambda x: 1 / np.sqrt(x), "p"),
    "pow_minus_one": (lambda x: x.pow(-1), lambda x: 1 / x, "n"),
    "pow_one": (lambda x: x ** 1, lambda x: x, "r"),
    "pow_fn": (lambda x: lib(x).pow(x, 2.5), lambda x: x ** 2.5, "p"),
    "float_power_scalar": (lambda x: lib(x).float_power(x, 3), lambda x: x ** 3, "r"),
    "float_power_base": (lambda x: lib(x).float_power(2.5, x), lambda x: 2.5 ** x, "r"),
    "xlogy_scalar_first": (lambda x: lib(x).xlogy(2.0, x), lambda x: 2 * np.log(x), "p"),
    "xlogy_scalar_second": (lambda x: lib(x).xlogy(x, 3.0), lambda x: x * np.log(3.0), "r"),
    "remainder_scalar": (lambda x: x % 1.5, lambda x: python_remainder(x, 1.5), "r"),
    "fmod_scalar": (lambda x: lib(x).fmod(x, 0.7), lambda x: np.fmod(x, 0.7), "r"),
    "copysign_scalar": (lambda x: lib(x).copysign(x, -1.0), lambda x: -np.abs(x), "n"),
    "where_scalar_other": (lambda x: lib(x).where(x > 0, x, 0.0), lambda x: np.where(x > 0, x, 0.0), "r"),
    "where_scalar_input": (lambda x: lib(x).where(x > 0, 1.5, x), lambda x: np.where(x > 0, 1.5, x), "r"),
    "where_method": (lambda x: x.where(x > 0, -2 * x), lambda x: np.where(x > 0, x, -2 * x), "r"),
    "addcmul_self": (lambda x: x.addcmul(x, x, value=0.5), lambda x: x + 0.5 * x * x, "r"),
    "lerp_self": (lambda x: x.lerp(x * x, 0.75), lambda x: lerp_reference(x, x * x, 0.75), "r"),
}

# Gradient zero (floor, sign...) or not differentiable twice: first derivatives only.
UNARY_ONCE = {
    "floor": (lambda x: x.floor(), np.floor, "r"),
    "ceil": (lambda x: lib(x).ceil(x), np.ceil, "r"),
    "trunc": (lambda x: x.trunc(), np.trunc, "r"),
    "fix": (lambda x: lib(x).fix(x), np.trunc, "r"),
    "round": (lambda x: x.round(), np.round, "r"),
    "round_decimals": (lambda x: lib(x).round(x, decimals=2), lambda x: np.round(x, 2), "r"),
    "sign": (lambda x: x.sign(), np.sign, "n"),
    "sgn": (lambda x: lib(x).sgn(x), np.sign, "n"),
    "pow_zero": (lambda x: x ** 0, np.ones_like, "r"),
    "div_floor": (lambda x: lib(x).div(x, 0.7, rounding_mode="floor"), lambda x: np.floor(x / 0.7), "r"),
    "div_trunc_method": (lambda x: x.div(0.3, rounding_mode="trunc"), lambda x: np.trunc(x / 0.3), "r"),
}

# name: (op, NumPy reference, domains of the two inputs); run on broadcast pairs.
BINARY = {
    "atan2": (lambda a, b: lib(a).atan2(a, b), np.arctan2, "rr"),
    "arctan2": (lambda a, b: a.arctan2(b), np.arctan2, "rr"),
    "hypot": (lambda a, b: a.hypot(b), np.hypot, "nn"),
    "logaddexp": (lambda a, b: lib(a).logaddexp(a, b), np.logaddexp, "rr"),
    "logaddexp2": (lambda a, b: a.logaddexp2(b), np.logaddexp2, "rr"),
    "copysign": (lambda a, b: a.copysign(b), np.copysign, "nn"),
    "xlogy": (lambda a, b: lib(a).xlogy(a, b), lambda a, b: a * np.log(b), "rp"),
    "remainder": (lambda a, b: a % b, python_remainder, "rn"),
    "remainder_fn": (lambda a, b: lib(a).remainder(a, b), python_remainder, "rn"),
    "fmod": (lambda a, b: lib(a).fmod(a, b), np.fmod, "rn"),
    "fmax": (lambda a, b: lib(a).fmax(a, b), np.fmax, "rr"),
    "fmin": (lambda a, b: a.fmin(b), np.fmin, "rr"),
    "maximum_method": (lambda a, b: a.maximum(b), np.maximum, "rr"),
    "minimum_method": (lambda a, b: a.minimum(b), np.minimum, "rr"),
    "float_power": (lambda a, b: lib(a).float_power(a, b), np.power, "pr"),
    "pow_fn": (lambda a, b: lib(a).pow(a, b), np.power, "pr"),
    "add_alpha": (lambda a, b: lib(a).add(a, b, alpha=-0.5), lambda a, b: a - 0.5 * b, "rr"),
    "sub_alpha": (lambda a, b: a.sub(b, alpha=2.5), lambda a, b: a - 2.5 * b, "rr"),
    "subtract": (lambda a, b: lib(a).subtract(a, b), np.subtract, "rr"),
    "rsub": (lambda a, b: lib(a).rsub(a, b, alpha=2), lambda a, b: b - 2 * a, "rr"),
    "multiply": (lambda a, b: a.multiply(b), np.multiply, "rr"),
    "div_fn": (lambda a, b: lib(a).div(a, b), np.divide, "rn"),
    "divide": (lambda a, b: a.divide(b), np.divide, "rn"),
    "true_divide": (lambda a, b: lib(a).true_divide(a, b), np.divide, "rn"),
    "lerp_scalar_weight": (lambda a, b: lib(a).lerp(a, b, 0.3), lambda a, b: lerp_reference(a, b, 0.3), "rr"),
    "lerp_weight_above_half": (lambda a, b: a.lerp(b, 0.8), lambda a, b: lerp_reference(a, b, 0.8), "rr"),
    "clamp_tensor_min": (lambda a, b: lib(a).clamp(a, min=b), np.maximum, "rr"),
    "clamp_tensor_max": (lambda a, b: a.clamp(max=b), np.minimum, "rr"),
    "clamp_min_tensor": (lambda a, b: a.clamp_min(b), np.maximum, "rr"),
    "addcdiv_pair": (lambda a, b: lib(a).addcdiv(a, a, b, value=0.5), lambda a, b: a + 0.5 * a / b, "rn"),
}

BINARY_ONCE = {
    "div_trunc": (lambda a, b: lib(a).div(a, b, rounding_mode="trunc"), lambda a, b: np.trunc(a / b), "rn"),
}

PAIRS = [((3, 4), (3, 4)), ((3, 1), (1, 4)), ((2, 1, 4), (3, 1)), ((), (2, 3)), ((2, 3), ())]

CASES = {
    "lerp_tensor_weight": Case(lambda s, e, w: lib(s).lerp(s, e, w), lerp_reference, [(3, 1), (4,), (3, 4)]),
    "lerp_method": Case(lambda s, e, w: s.lerp(e, w), lerp_reference, [(2, 3), (2, 3), (3,)]),
    "clamp_tensor_bounds": Case(lambda x, lo, hi: lib(x).clamp(x, lo, hi),
                                lambda x, lo, hi: np.minimum(np.maximum(x, lo), hi), [(3, 4), (4,), (3, 1)]),
    "clip_tensor_bounds": Case(lambda x, lo, hi: x.clip(lo, hi), lambda x, lo, hi: np.minimum(np.maximum(x, lo), hi),
                               [(3, 4), (4,), ()]),
    "addcmul": Case(lambda x, a, b: lib(x).addcmul(x, a, b, value=-0.5), lambda x, a, b: x - 0.5 * a * b,
                    [(3, 4), (4,), (3, 1)]),
    "addcdiv": Case(lambda x, a, b: x.addcdiv(a, b, value=2), lambda x, a, b: x + 2 * a / b, [(4,), (3, 4), (3, 1)],
                    "rrn"),
    "where_three": Case(lambda c, a, b: lib(a).where(c > 0, a, b), lambda c, a, b: np.where(c > 0, a, b),
                        [(3, 1), (4,), (2, 1, 1)]),
}


# --- forward values ----------------------------------------------------------------------

@pytest.mark.parametrize("shape", [(3, 4), ()], ids=str)
@pytest.mark.parametrize("name", {**UNARY, **UNARY_ONCE})
def test_unary_forward_matches_numpy(name, shape, rng):
    fn, ref, domain = {**UNARY, **UNARY_ONCE}[name]
    tolerance = 2e-7 if "erf" in name else 1e-12  # the erf fallback (no SciPy) is float32-accurate
    assert_forward(fn, ref, [make_input(rng, shape, domain)], tolerance)


@pytest.mark.parametrize("shapes", PAIRS, ids=str)
@pytest.mark.parametrize("name", {**BINARY, **BINARY_ONCE})
def test_binary_forward_matches_numpy(name, shapes, rng):
    fn, ref, domains = {**BINARY, **BINARY_ONCE}[name]
    assert_forward(fn, ref, inputs(rng, shapes, domains))


@pytest.mark.parametrize("name", CASES)
def test_forward_matches_numpy(name, rng):
    case = CASES[name]
    assert_forward(case.fn, case.ref, inputs(rng, case.shapes, case.domains or "rrr"))


# --- first and second derivatives ------------------------------------------------------------

@pytest.mark.parametrize("layout", LAYOUTS)
@pytest.mark.parametrize("name", {**UNARY, **UNARY_ONCE})
def test_unary_gradcheck(name, layout, rng):
    fn, _, domain = {**UNARY, **UNARY_ONCE}[name]
    check(fn, [make_input(rng, (3, 4), domain, layout)])


@pytest.mark.parametrize("layout", LAYOUTS)
@pytest.mark.parametrize("shapes", PAIRS, ids=str)
@pytest.mark.parametrize("name", {**BINARY, **BINARY_ONCE})
def test_binary_gradcheck_with_broadcasting(name, shapes, layout, rng):
    fn, _, domains = {**BINARY, **BINARY_ONCE}[name]
    check(fn, inputs(rng, shapes, domains, layout))


@pytest.mark.parametrize("layout", LAYOUTS)
@pytest.mark.parametrize("name", CASES)
def test_gradcheck(name, layout, rng):
    case = CASES[name]
    check(case.fn, inputs(rng, case.shapes, case.domains or "rrr", layout))


@pytest.mark.parametrize("name", UNARY)
def test_unary_second_derivative(name, rng):
    fn, _, domain = UNARY[name]
    check_second(fn, [make_input(rng, (3, 4), domain)], rng)


@pytest.mark.parametrize("name", BINARY)
def test_binary_second_derivative(name, rng):
    fn, _, domains = BINARY[name]
    check_second(fn, inputs(rng, ((3, 1), (4,)), domains), rng)


@pytest.mark.parametrize("name", CASES)
def test_second_derivative(name, rng):
    case = CASES[name]
    check_second(case.fn, inputs(rng, case.shapes, case.domains or "rrr"), rng)


SMALL = settings(max_examples=25, deadline=None)


@SMALL
@given(st.sampled_from(sorted(BINARY)), hnp.mutually_broadcastable_shapes(num_shapes=2, max_dims=3, max_side=3),
       st.integers(0, 2 ** 32 - 1))
def test_binary_ops_on_any_broadcastable_pair(name, broadcast, seed):
    fn, ref, domains = BINARY[name]
    arrays = inputs(np.random.default_rng(seed), broadcast.input_shapes, domains, "transposed")
    out = fn(*leaves(arrays))
    assert out.shape == broadcast.result_shape
    np.testing.assert_allclose(out.detach().numpy(), ref(*arrays), rtol=1e-10, atol=1e-12)
    check(fn, arrays)


@SMALL
@given(st.sampled_from(sorted(CASES)), hnp.mutually_broadcastable_shapes(num_shapes=3, max_dims=3, max_side=3),
       st.integers(0, 2 ** 32 - 1))
def test_three_operand_ops_on_any_broadcastable_shapes(name, broadcast, seed):
    case = CASES[name]
    arrays = inputs(np.random.default_rng(seed), broadcast.input_shapes, case.domains or "rrr", "strided")
    out = case.fn(*leaves(arrays))
    assert out.shape == np.broadcast_shapes(*broadcast.input_shapes)
    np.testing.assert_allclose(out.detach().numpy(), case.ref(*arrays), rtol=1e-10, atol=1e-12)
    check(case.fn, arrays)


@pytest.mark.parametrize("name", UNARY_ONCE)
def test_zero_gradient_ops_are_recorded_with_zeros(name, rng):
    """floor, sign, rounding division...: requires_grad flows through and the gradient is
    zeros (not None), as in PyTorch."""
    fn, _, domain = UNARY_ONCE[name]
    x = nnkit.tensor(make_input(rng, (3, 4), domain), requires_grad=True)
    out = fn(x)
    assert out.requires_grad
    (g,) = nnkit.autograd.grad(out.sum(), x)
    assert g.shape == (3, 4) and not g.numpy().any()


# --- PyTorch's semantics, pinned ---------------------------------------------------------

def values(t):
    return t.tolist()


def grads(fn, *columns):
    """fn's output and its gradients (for an upstream gradient of ones), at float64 inputs given as lists."""
    xs = [nnkit.tensor(c, dtype=nnkit.float64, requires_grad=True) for c in columns]
    out = fn(*xs)
    gs = nnkit.autograd.grad(out, xs, nnkit.ones_like(out), allow_unused=True)
    return values(out), [None if g is None else values(g) for g in gs]


def same(got, want) -> bool:
    """Equal lists of floats, NaN equal to NaN and the sign of zero compared."""
    return len(got) == len(want) and all(
        (math.isnan(g) and math.isnan(w)) or (g == w and math.copysign(1, g) == math.copysign(1, w))
        for g, w in zip(got, want))


def test_pow_gradients_at_zero_and_negative_bases():
    inf, nan = math.inf, math.nan
    out, (ga, gb) = grads(lambda a, b: a ** b, [0.0, 0.0, 0.0, -0.0, -2.0, -2.0, 2.0],
                          [0.0, 2.0, -1.0, 3.0, 2.0, 0.5, 0.0])
    assert same(out, [1.0, 0.0, inf, -0.0, 4.0, nan, 1.0])
    assert same(ga, [0.0, 0.0, -inf, 0.0, -4.0, nan, 0.0])
    assert same(gb, [0.0, 0.0, -inf, 0.0, nan, nan, math.log(2)])


def test_pow_by_a_number_at_signed_zeros():
    inf = math.inf
    out, (g,) = grads(lambda a: a ** 0.5, [0.0, -0.0, 4.0])
    assert same(out, [0.0, -0.0, 2.0]) and same(g, [inf, -inf, 0.25])  # sqrt(-0.0) is -0.0
    out, (g,) = grads(lambda a: a ** -1, [0.0, -0.0])
    assert same(out, [inf, -inf]) and same(g, [-inf, -inf])
    out, (g,) = grads(lambda a: a ** 0, [0.0, -0.0, -1.0])
    assert same(out, [1.0, 1.0, 1.0]) and same(g, [0.0, 0.0, 0.0])


def test_pow_of_a_number_base():
    _, (g,) = grads(lambda b: 0.0 ** b, [0.0, 1.0, -1.0])
    assert same(g, [0.0, 0.0, -math.inf])
    _, (g,) = grads(lambda b: (-2.0) ** b, [1.0, 2.0])
    assert all(math.isnan(v) for v in g)


def test_integer_powers_as_pytorch():
    base = nnkit.tensor([0, 1, -1, 2, -1])
    assert values(base ** nnkit.tensor([-1, -3, -3, -2, -2])) == [0, 1, -1, 0, 1]
    assert values(2 ** nnkit.tensor([2, -2])) == [4, 0]
    assert (nnkit.tensor([1, 2]) ** 2).dtype == nnkit.int64
    assert (nnkit.tensor([True]) ** 2).dtype == nnkit.int64
    assert (nnkit.tensor([4]) ** 0.5).dtype == nnkit.float32
    with pytest.raises(RuntimeError, match="negative integer powers"):
        nnkit.tensor([2]) ** -1


def test_ties_split_the_gradient_of_maximum_and_minimum_and_nan_gives_both_all():
    _, (ga, gb) = grads(nnkit.maximum, [1.0, 2.0, 3.0, math.nan], [1.0, 1.0, 4.0, 1.0])
    assert ga == [0.5, 1.0, 0.0, 1.0] and gb == [0.5, 0.0, 1.0, 1.0]
    _, (ga, gb) = grads(nnkit.minimum, [1.0, 2.0, 3.0], [1.0, 1.0, 4.0])
    assert ga == [0.5, 0.0, 1.0] and gb == [0.5, 1.0, 0.0]


def test_fmax_and_fmin_ignore_nan_and_give_ties_to_the_input():
    nan = math.nan
    out, (ga, gb) = grads(nnkit.fmax, [1.0, 2.0, nan, 1.0, nan], [1.0, 1.0, 4.0, nan, nan])
    assert same(out, [1.0, 2.0, 4.0, 1.0, nan])
    assert ga == [1.0, 1.0, 0.0, 1.0, 1.0] and gb == [0.0, 0.0, 1.0, 0.0, 0.0]
    out, (ga, gb) = grads(nnkit.fmin, [1.0, 2.0, nan], [1.0, 1.0, 4.0])
    assert same(out, [1.0, 1.0, 4.0]) and ga == [1.0, 0.0, 0.0] and gb == [0.0, 1.0, 1.0]


def test_minimum_and_maximum_at_integer_extremes_and_on_bool():
    lo, hi = -2 ** 63, 2 ** 63 - 1
    assert values(nnkit.minimum(nnkit.tensor([lo, hi]), nnkit.tensor([hi, 0]))) == [lo, 0]
    assert values(nnkit.maximum(nnkit.tensor([lo, hi]), nnkit.tensor([hi, lo]))) == [hi, hi]
    a, b = nnkit.tensor([True, False]), nnkit.tensor([False, False])
    assert nnkit.maximum(a, b).dtype == nnkit.bool and values(nnkit.maximum(a, b)) == [True, False]
    assert values(nnkit.minimum(a, nnkit.tensor([True, True]))) == [True, False]


def test_clamp_with_tensor_bounds_sends_the_gradient_to_the_active_bound():
    out, (gx, glo, ghi) = grads(nnkit.clamp, [-2.0, -1.0, 0.0, 1.0, 2.0, 0.5, 0.5, 0.5],
                                [-1.0] * 5 + [1.0, 0.5, 0.6], [1.0] * 5 + [0.0, 0.5, 0.4])
    assert out == [-1.0, -1.0, 0.0, 1.0, 1.0, 0.0, 0.5, 0.4]
    assert gx == [0.0, 1.0, 1.0, 1.0, 0.0, 0.0, 1.0, 0.0]
    assert glo == [1.0, 0.0, 0.0, 0.0, 0.0, 0.0, 0.0, 0.0]
    assert ghi == [0.0, 0.0, 0.0, 0.0, 1.0, 1.0, 0.0, 1.0]


def test_clamp_broadcasts_and_promotes_with_its_bounds():
    assert nnkit.clamp(nnkit.zeros(3), nnkit.zeros(2, 3)).shape == (2, 3)
    assert nnkit.tensor([1, 5]).clamp(0.5, 2.5).dtype == nnkit.float32
    assert values(nnkit.tensor([0.0, 5.0, 10.0]).clamp(6, 4)) == [4.0, 4.0, 4.0]
    with pytest.raises(RuntimeError, match="clamp: at least one"):
        nnkit.zeros(2).clamp()


def test_copysign_lerp_xlogy_sinc_logit_at_their_special_points():
    _, (ga, gb) = grads(nnkit.copysign, [1.0, -1.0, 0.0, -0.0], [-1.0, 1.0, -1.0, 1.0])
    assert ga == [-1.0, -1.0, 0.0, 0.0] and gb == [0.0] * 4
    out, (ga, gb) = grads(nnkit.xlogy, [0.0, 0.0, 2.0, 0.0], [0.0, 1.0, 0.0, math.nan])
    assert same(out, [0.0, 0.0, -math.inf, math.nan])
    assert same(ga, [0.0, 0.0, -math.inf, math.nan]) and same(gb, [math.nan, 0.0, math.inf, math.nan])
    out, (g,) = grads(nnkit.sinc, [0.0, 0.5])
    assert out[0] == 1.0 and g[0] == 0.0 and g[1] == pytest.approx(-4 / math.pi)
    out, (g,) = grads(lambda x: x.logit(), [0.0, 0.5, 1.5])
    assert same(out, [-math.inf, 0.0, math.nan]) and same(g, [math.inf, 4.0, math.nan])
    _, (g,) = grads(lambda x: x.logit(eps=0.1), [0.05, 0.1, 0.95])
    assert g == [0.0, pytest.approx(1 / 0.09), 0.0]
    assert values(nnkit.lerp(nnkit.tensor([1e8]), nnkit.tensor([1.0]), 1.0)) == [1.0]  # exact at weight 1


def test_atan2_and_hypot_at_the_origin():
    _, (ga, gb) = grads(nnkit.atan2, [0.0, 3.0], [0.0, 4.0])
    assert ga == [0.0, pytest.approx(0.16)] and gb == [0.0, pytest.approx(-0.12)]
    _, (ga, _) = grads(nnkit.hypot, [0.0, 3.0], [0.0, 4.0])
    assert math.isnan(ga[0]) and ga[1] == pytest.approx(0.6)


def test_integer_division_as_pytorch():
    a, b = nnkit.tensor([7, -7, 7, -7]), nnkit.tensor([2, 2, -2, -2])
    assert values(a // b) == [3, -4, -4, 3]
    assert values(a % b) == [1, 1, -1, -1]
    assert values(nnkit.fmod(a, b)) == [1, -1, 1, -1]
    assert values(nnkit.div(a, b, rounding_mode="trunc")) == [3, -3, -3, 3]
    assert values(a.div(b, rounding_mode="floor")) == [3, -4, -4, 3]
    assert (a / b).dtype == nnkit.float32 and values(a / b) == [3.5, -3.5, -3.5, 3.5]
    assert values(5 // b) == [2, 2, -3, -3] and values(5 % b) == [1, 1, -1, -1]
    assert (a // 2.5).dtype == nnkit.float32
    for op in (lambda: a // 0, lambda: a % 0, lambda: nnkit.fmod(a, 0), lambda: a.div(0, rounding_mode="trunc")):
        with pytest.raises(RuntimeError, match="ZeroDivisionError"):
            op()
    with pytest.raises(RuntimeError, match="rounding_mode"):
        a.div(b, rounding_mode="round")


def test_float_division_rounding_and_remainder_signs():
    a = nnkit.tensor([-0.0, 0.0, 3.0, -3.0, 7.0, 1.0, -1.0, 0.0])
    b = nnkit.tensor([3.0, -3.0, -3.0, 3.0, 0.1, 0.0, 0.0, 0.0])
    assert same(values(a // b), [-0.0, -0.0, -1.0, -1.0, 69.0, math.inf, -math.inf, math.nan])
    assert same(values(a.div(b, rounding_mode="trunc")), [-0.0, -0.0, -1.0, -1.0, 70.0, math.inf, -math.inf, math.nan])
    assert same(values(a % b)[:4], [-0.0, 0.0, 0.0, -0.0])  # fmod's zero keeps the dividend's sign
    assert same(values(nnkit.tensor([1.0, -1.0]) % math.inf), [1.0, math.inf])


def test_floor_divide_has_no_derivative_as_in_pytorch():
    x = nnkit.tensor([5.0, -5.0], requires_grad=True)
    out = x // 2
    assert out.requires_grad
    with pytest.raises(RuntimeError, match="floor_divide: the derivative is not implemented"):
        out.sum().backward()


def test_rounding_half_to_even_and_with_decimals():
    x = nnkit.tensor([0.5, 1.5, 2.5, -0.5, -1.5], dtype=nnkit.float64)
    assert same(values(x.round()), [0.0, 2.0, 2.0, -0.0, -2.0])
    assert values(nnkit.tensor([0.25, 0.35, 1.25, -0.15]).round(decimals=1)) == pytest.approx([0.2, 0.4, 1.2, -0.2])
    assert values(nnkit.tensor([15.0, 25.0, -15.0]).round(decimals=-1)) == [20.0, 20.0, -20.0]
    assert nnkit.tensor([2.345], dtype=nnkit.float16).round(decimals=2).dtype == nnkit.float16
    with pytest.raises(TypeError):
        nnkit.tensor([1.5]).round(1)  # decimals is keyword-only, as in PyTorch


def test_sign_frac_and_rounding_of_integers_and_bools():
    assert same(values(nnkit.tensor([math.nan, -0.0, -2.0, 3.0]).sign()), [0.0, 0.0, -1.0, 1.0])
    i = nnkit.tensor([7, -7])
    assert values(i.sign()) == [1, -1] and values(i.floor()) == [7, -7] and i.round().dtype == nnkit.int64
    assert nnkit.tensor([True, False]).sign().dtype == nnkit.bool
    assert values(nnkit.tensor([1.5, -1.5]).frac()) == [0.5, -0.5]
    for op in (lambda: i.frac(), lambda: i.round(decimals=1), lambda: nnkit.tensor([True]).floor(),
               lambda: nnkit.tensor([True]).abs()):
        with pytest.raises(NotImplementedError):
            op()


def test_bool_arithmetic_refused_as_in_pytorch():
    t = nnkit.tensor([True, False])
    for op in (lambda: t - t, lambda: t - 1, lambda: 1 - t, lambda: nnkit.tensor([1.0]) - True):
        with pytest.raises(RuntimeError, match="with a bool tensor is not supported"):
            op()
    with pytest.raises(RuntimeError, match="negation"):
        -t
    with pytest.raises(RuntimeError, match="bool tensor is not supported"):
        +t
    assert (t + t).dtype == nnkit.bool and (t * 2.5).dtype == nnkit.float32


def test_add_and_sub_with_alpha():
    a, b = nnkit.tensor([7, -7]), nnkit.tensor([2, 2])
    assert values(nnkit.add(a, b, alpha=2)) == [11, -3]
    assert values(a.sub(b, alpha=3)) == [1, -13]
    with pytest.raises(RuntimeError, match="alpha must not be a floating point number"):
        nnkit.add(a, b, alpha=0.5)
    assert nnkit.add(nnkit.tensor([True]), nnkit.tensor([True]), alpha=2).dtype == nnkit.bool


@pytest.mark.parametrize("op, dtype", [
    (lambda c, f, i: nnkit.where(c, f, 0), nnkit.float32),
    (lambda c, f, i: nnkit.where(c, i, 0.0), nnkit.float32),
    (lambda c, f, i: nnkit.where(c, i, 0), nnkit.int64),
    (lambda c, f, i: nnkit.where(c, 1, 0), nnkit.int64),
    (lambda c, f, i: nnkit.where(c, 1.0, 0), nnkit.float32),
    (lambda c, f, i: nnkit.where(c, True, False), nnkit.bool),
    (lambda c, f, i: nnkit.where(c, nnkit.tensor(1.0, dtype=nnkit.float64), f), nnkit.float32),
    (lambda c, f, i: nnkit.where(c, f.double(), f), nnkit.float64),
    (lambda c, f, i: nnkit.where(c, nnkit.tensor(1), f), nnkit.float32),
], ids=["float_int", "int_float", "int_int", "numbers_int", "numbers_float", "numbers_bool", "0d_double_float",
        "double_float", "0d_int_float"])
def test_where_result_dtype_as_pytorch(op, dtype):
    c, f, i = nnkit.tensor([True, False]), nnkit.tensor([1.0, 2.0]), nnkit.tensor([1, 2])
    out = op(c, f, i)
    assert out.dtype == dtype and out.shape == (2,)


def test_where_refuses_a_non_bool_condition_and_alone_gives_indices():
    with pytest.raises(RuntimeError, match="where: expected condition to be a bool tensor"):
        nnkit.where(nnkit.tensor([1, 0]), nnkit.ones(2), nnkit.zeros(2))
    rows, cols = nnkit.where(nnkit.tensor([[True, False], [False, True]]))
    assert values(rows) == [0, 1] and values(cols) == [0, 1] and rows.dtype == nnkit.int64


def test_float_functions_of_integers_and_bools_give_the_default_float():
    i, b = nnkit.tensor([1, 4]), nnkit.tensor([True, False])
    for op in (nnkit.sqrt, nnkit.exp, nnkit.log2, nnkit.sigmoid, nnkit.erfinv, nnkit.reciprocal, nnkit.sinc,
               nnkit.deg2rad, lambda t: nnkit.atan2(t, t), lambda t: nnkit.copysign(t, t),
               lambda t: nnkit.xlogy(t, t), lambda t: t / t):
        assert op(i).dtype == nnkit.float32 and op(b).dtype == nnkit.float32
    assert nnkit.float_power(i, 2).dtype == nnkit.float64
    for op in (lambda t: nnkit.hypot(t, t), lambda t: nnkit.logaddexp(t, t), lambda t: nnkit.lerp(t, t, 0.5)):
        with pytest.raises(NotImplementedError):
            op(i)


def test_bitwise_ops_on_integers_and_bools():
    a, b = nnkit.tensor([12, 10]), nnkit.tensor([10, 6])
    assert values(a & b) == [8, 2] and values(a | 3) == [15, 11] and values(a ^ b) == [6, 12]
    assert values(~nnkit.tensor([12, -1])) == [-13, 0] and values(3 & nnkit.tensor([5])) == [1]
    t, f = nnkit.tensor([True, False]), nnkit.tensor([True, True])
    assert values(t & f) == [True, False] and (t & f).dtype == nnkit.bool
    assert values(~t) == [False, True] and values(t ^ f) == [False, True]
    assert (t & 1).dtype == nnkit.int64
    assert values(nnkit.bitwise_or(t, nnkit.tensor([False, False]))) == [True, False]


def test_shifts_as_pytorch_also_beyond_the_width():
    assert values(nnkit.tensor([1, -1, 3]) << nnkit.tensor([2, 63, 64])) == [4, -2 ** 63, 0]
    assert values(nnkit.tensor([8, -8, -8, 8]) >> nnkit.tensor([2, 2, 64, 64])) == [2, -2, -1, 0]
    assert values(nnkit.tensor([-8, 8]) >> nnkit.tensor([-1, -1])) == [-1, 0]
    assert values(nnkit.tensor([8]) << nnkit.tensor([-1])) == [0]
    assert values(1 << nnkit.tensor([3])) == [8] and values(64 >> nnkit.tensor([3])) == [8]
    assert values(nnkit.tensor([1], dtype=nnkit.int32) << 31) == [-2 ** 31]
    assert values(nnkit.tensor([200], dtype=nnkit.uint8) >> 9) == [0]
    assert values(nnkit.bitwise_left_shift(nnkit.tensor([True]), 1)) == [2]


@pytest.mark.parametrize("op", [
    lambda a: a & a, lambda a: a | 1, lambda a: a ^ a, lambda a: a << 1, lambda a: a >> 1,
    lambda a: nnkit.bitwise_not(a), lambda a: nnkit.bitwise_and(a, nnkit.tensor([1])),
], ids=["and", "or", "xor", "lshift", "rshift", "not", "and_int"])
def test_bitwise_ops_refuse_floats_naming_the_op(op):
    with pytest.raises(NotImplementedError, match=r"bitwise|shift"):
        op(nnkit.tensor([1.5]))


def test_invert_of_a_float_tensor_is_a_type_error():
    with pytest.raises(TypeError, match="only implemented on integer and Boolean"):
        ~nnkit.tensor([1.5])


@pytest.mark.parametrize("op, name", [
    (lambda a, b: a + b, "add"), (lambda a, b: a * b, "mul"), (lambda a, b: nnkit.atan2(a, b), "atan2"),
    (lambda a, b: a // b, "floor_divide"), (lambda a, b: nnkit.maximum(a, b), "maximum"),
    (lambda a, b: a & b.long(), "bitwise_and"), (lambda a, b: nnkit.isclose(a, b), "isclose"),
    (lambda a, b: a % b, "remainder"), (lambda a, b: nnkit.hypot(a, b), "hypot"),
])
def test_broadcast_errors_name_the_op_and_the_shapes(op, name):
    a, b = nnkit.ones(2, 3).long() if name == "bitwise_and" else nnkit.ones(2, 3), nnkit.ones(4)
    with pytest.raises(RuntimeError, match=rf"{name}: shapes \(2, 3\) and \(4,\) cannot be broadcast"):
        op(a, b)


def test_three_operand_broadcast_errors_name_all_shapes():
    with pytest.raises(RuntimeError, match=r"lerp: shapes \(2,\), \(3,\) and \(\) cannot be broadcast"):
        nnkit.lerp(nnkit.ones(2), nnkit.ones(3), 0.5)
    with pytest.raises(RuntimeError, match=r"where: shapes \(3,\), \(2,\) and \(2,\)"):
        nnkit.where(nnkit.tensor([True, False, True]), nnkit.ones(2), nnkit.zeros(2))


def test_comparisons_aliases_and_equal():
    x = nnkit.tensor([1.0, 0.0])
    assert values(nnkit.greater(x, 0)) == [True, False] and values(nnkit.less_equal(x, 0)) == [False, True]
    assert values(x.not_equal(0)) == [True, False] and values(nnkit.greater_equal(x, 1)) == [True, False]
    assert nnkit.equal(x, nnkit.tensor([1.0, 0.0])) is True
    assert nnkit.equal(x, nnkit.tensor([[1.0, 0.0]])) is False
    assert nnkit.equal(x, nnkit.tensor([1, 0])) is True
    assert nnkit.equal(nnkit.tensor([math.nan]), nnkit.tensor([math.nan])) is False
    assert (x == None) is False and (x != None) is True  # noqa: E711  (PyTorch's answers)
    assert (nnkit.tensor(1.0) == nnkit.tensor(1.0)).shape == ()


def test_isclose_and_allclose_as_pytorch():
    a = nnkit.tensor([1.0, math.nan, math.inf, 1.0, math.inf])
    b = nnkit.tensor([1.0 + 1e-6, math.nan, math.inf, 2.0, -math.inf])
    assert values(nnkit.isclose(a, b)) == [True, False, True, False, False]
    assert values(a.isclose(b, equal_nan=True)) == [True, True, True, False, False]
    assert values(nnkit.isclose(nnkit.tensor([1, 2]), nnkit.tensor([1, 3]), rtol=0, atol=1)) == [True, True]
    assert nnkit.allclose(nnkit.tensor([1.0, 1.0]), nnkit.tensor([1.0])) is True
    assert nnkit.allclose(a, a) is False and nnkit.allclose(a, a, equal_nan=True) is True
    with pytest.raises(RuntimeError, match="did not match"):
        nnkit.isclose(nnkit.tensor([1]), nnkit.tensor([1.0]))
    with pytest.raises(RuntimeError, match="rtol and atol"):
        nnkit.isclose(a, a, rtol=-1)


def test_predicates():
    x = nnkit.tensor([1.0, math.inf, -math.inf, math.nan, -0.0])
    assert values(x.isinf()) == [False, True, True, False, False]
    assert values(nnkit.isposinf(x)) == [False, True, False, False, False]
    assert values(x.isneginf()) == [False, False, True, False, False]
    assert values(nnkit.isfinite(x)) == [True, False, False, False, True]
    assert values(x.isnan()) == [False, False, False, True, False]
    assert values(x.signbit()) == [False, False, True, False, True]
    assert values(nnkit.isreal(x)) == [True] * 5
    i = nnkit.tensor([1, -1])
    assert values(i.signbit()) == [False, True] and values(nnkit.isinf(i)) == [False, False]
    assert values(nnkit.signbit(nnkit.tensor([True]))) == [False]
    assert values(nnkit.logical_not(nnkit.tensor([1.0, 0.0, math.nan]))) == [False, True, False]
    assert values(nnkit.logical_xor(nnkit.tensor([1.0, 0.0]), nnkit.tensor([2, 2]))) == [False, True]


def test_nan_to_num_and_heaviside():
    x = nnkit.tensor([math.nan, math.inf, -math.inf, 1.0], requires_grad=True)
    out = x.nan_to_num()
    f32 = np.finfo(np.float32)
    assert values(out) == [0.0, float(f32.max), float(f32.min), 1.0]
    out.sum().backward()
    assert values(x.grad) == [0.0, 0.0, 0.0, 1.0]
    assert values(nnkit.nan_to_num(x.detach(), nan=1.0, posinf=2.0, neginf=-3.0)) == [1.0, 2.0, -3.0, 1.0]
    assert values(nnkit.heaviside(nnkit.tensor([-1.0, 0.0, 2.0]), nnkit.tensor([0.5]))) == [0.0, 0.5, 1.0]
    with pytest.raises(RuntimeError, match="heaviside"):
        nnkit.heaviside(nnkit.tensor([1]), nnkit.tensor([0.5]))
    y = nnkit.tensor([1.0], requires_grad=True)
    with pytest.raises(RuntimeError, match="heaviside: the derivative is not implemented"):
        nnkit.heaviside(y, nnkit.tensor([0.5])).sum().backward()


def test_addcmul_and_addcdiv_promote_and_broadcast():
    assert nnkit.addcmul(nnkit.zeros(3), nnkit.ones(2, 1), nnkit.ones(1)).shape == (2, 3)
    assert nnkit.addcmul(nnkit.zeros(3), nnkit.ones(2, 1, dtype=nnkit.float64), nnkit.ones(1)).dtype == nnkit.float64
    assert values(nnkit.addcmul(nnkit.tensor([1]), nnkit.tensor([2]), nnkit.tensor([3]), value=2)) == [13]
    with pytest.raises(RuntimeError, match="integer division"):
        nnkit.addcdiv(nnkit.zeros(1), nnkit.tensor([3]), nnkit.tensor([2]))


def test_lerp_refuses_mixed_dtypes():
    with pytest.raises(RuntimeError, match=r"lerp: expected dtype \S*float32 for `weight`"):
        nnkit.lerp(nnkit.ones(2), nnkit.ones(2), nnkit.ones(2, dtype=nnkit.float64))


# --- gradients of gradients through the ReLU family (a gradient penalty) ---------------------

@pytest.mark.parametrize("op", [nnkit.relu, nnkit.abs, lambda x: x.relu() * 3, lambda x: nnkit.abs(x).relu()],
                         ids=["relu", "abs", "relu_scaled", "abs_relu"])
def test_gradient_of_a_gradient_through_relu_and_abs_is_zeros_not_missing(op):
    x = nnkit.randn(5, dtype=nnkit.float64, requires_grad=True)
    (g,) = nnkit.autograd.grad(op(x).sum(), x, create_graph=True)
    assert g.requires_grad
    (gg,) = nnkit.autograd.grad(g.sum(), x)
    assert gg is not None and gg.shape == (5,) and not gg.numpy().any()


@pytest.mark.parametrize("op", [nnkit.sign, lambda x: x.clamp(-0.5, 0.5), lambda x: nnkit.maximum(x, nnkit.zeros(5)),
                                lambda x: nnkit.where(x > 0, x, 0.0), lambda x: x.floor()],
                         ids=["sign", "clamp", "maximum", "where", "floor"])
def test_gradient_that_does_not_depend_on_the_input_is_detached_as_in_pytorch(op):
    x = nnkit.randn(5, requires_grad=True)
    (g,) = nnkit.autograd.grad(op(x).sum(), x, create_graph=True)
    assert not g.requires_grad
    with pytest.raises(RuntimeError, match="does not require grad"):
        nnkit.autograd.grad(g.sum(), x)


def test_relu_in_place_keeps_second_derivatives_working():
    x = nnkit.randn(6, dtype=nnkit.float64, requires_grad=True)
    h = x * 2
    h.relu_()
    (g,) = nnkit.autograd.grad((h * h).sum(), x, create_graph=True)
    (gg,) = nnkit.autograd.grad(g.sum(), x)
    np.testing.assert_allclose(gg.numpy(), 8.0 * (x.detach().numpy() > 0))


@pytest.mark.parametrize("name, first, second", [
    ("exp_", np.exp, np.exp), ("sqrt_", lambda v: 0.5 / np.sqrt(v), lambda v: -0.25 * v ** -1.5),
    ("sigmoid_", lambda v: np.exp(-v) / (1 + np.exp(-v)) ** 2,
     lambda v: np.exp(-v) * (np.exp(-v) - 1) / (1 + np.exp(-v)) ** 3),
])
def test_in_place_op_that_saves_its_output_is_differentiable_twice(name, first, second):
    """exp_ overwrites its input; the gradient built with create_graph must still see exp(x)."""
    v = np.array([0.25, 0.5, 2.0])
    x = nnkit.tensor(v, requires_grad=True)
    h = x * 1
    getattr(h, name)()
    (g,) = nnkit.autograd.grad(h.sum(), x, create_graph=True)
    (gg,) = nnkit.autograd.grad(g.sum(), x)
    np.testing.assert_allclose(g.detach().numpy(), first(v), rtol=1e-12)
    np.testing.assert_allclose(gg.numpy(), second(v), rtol=1e-12)


# --- in-place variants -----------------------------------------------------------------------

@pytest.mark.parametrize("name, args", [
    ("floor_", ()), ("ceil_", ()), ("round_", ()), ("trunc_", ()), ("frac_", ()), ("sqrt_", ()), ("exp_", ()),
    ("sigmoid_", ()), ("reciprocal_", ()), ("square_", ()), ("clamp_min_", (0.5,)), ("fmod_", (0.7,)),
    ("remainder_", (0.7,)), ("lerp_", (3.0, 0.25)), ("atan2_", (1.5,)), ("copysign_", (-1.0,)), ("erfinv_", ()),
    ("nan_to_num_", ()), ("neg_", ()), ("abs_", ()), ("relu_", ()), ("logit_", ()), ("deg2rad_", ()),
])
def test_in_place_methods_match_the_out_of_place_ops(name, args):
    x = nnkit.tensor([0.25, 0.5, 0.75])
    args = tuple(nnkit.tensor([v] * 3) if name in ("lerp_", "atan2_") and i == 0 else v for i, v in enumerate(args))
    want = getattr(x, name[:-1])(*args)
    y = x.clone()
    assert getattr(y, name)(*args) is y
    np.testing.assert_array_equal(y.numpy(), want.numpy())


def test_in_place_ops_keep_the_dtype_and_refuse_a_float_result_in_an_integer_tensor():
    i = nnkit.tensor([5, 6])
    i //= 2
    assert values(i) == [2, 3] and i.dtype == nnkit.int64
    i %= 2
    assert values(i) == [0, 1]
    i |= 4
    i <<= 1
    assert values(i) == [8, 10]
    with pytest.raises(RuntimeError, match=r"sqrt_: result type \S*float32 can't be cast"):
        nnkit.tensor([1, 4]).sqrt_()
    with pytest.raises(RuntimeError, match="can't be cast"):
        i //= 2.5
    f = nnkit.tensor([1.0, 2.0])
    assert values(f.eq_(1)) == [1.0, 0.0] and f.dtype == nnkit.float32


def test_in_place_op_on_a_tensor_in_the_graph_records_its_gradient():
    x = nnkit.tensor([0.5, 2.0], dtype=nnkit.float64, requires_grad=True)
    h = x * 1
    h.sin_().sqrt_()  # sin's backward needs the old values, which sin_ overwrote: a copy is kept
    h.sum().backward()
    v = np.array([0.5, 2.0])
    np.testing.assert_allclose(x.grad.numpy(), np.cos(v) / (2 * np.sqrt(np.sin(v))))
    h = x * 1
    h.sqrt_().exp_()  # exp_ overwrites the output that sqrt's backward needs: refused, as in PyTorch
    with pytest.raises(RuntimeError, match="modified by an inplace operation"):
        h.sum().backward()


# --- erfc and erfinv without SciPy ----------------------------------------------------------------

@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_erfc_and_erfinv_without_scipy_are_accurate(dtype, monkeypatch):
    monkeypatch.setitem(nnkit.backend._special, np, None)
    x = np.linspace(-6, 6, 1201).astype(dtype)
    got = nnkit.tensor(x).erfc().numpy()
    want = np.array([math.erfc(v) for v in x.astype(np.float64)])
    assert got.dtype == dtype
    np.testing.assert_allclose(got, want, rtol=3e-7 if dtype == np.float64 else 2e-6, atol=0)
    y = np.concatenate([np.linspace(-0.999999, 0.999999, 2001), [0.0, 1e-8, -0.5]]).astype(dtype)
    got = nnkit.tensor(y).erfinv().numpy()
    assert got.dtype == dtype
    np.testing.assert_allclose(got, erfinv_reference(y.astype(np.float64)), rtol=2e-6, atol=1e-7)
    assert values(nnkit.tensor([1.0, -1.0, 1.5]).erfinv())[:2] == [math.inf, -math.inf]
    assert math.isnan(nnkit.tensor([1.5]).erfinv().item())
