"""The elementwise ops against PyTorch: every op of ``test_ops_elementwise.py``'s tables
(forward, first and second derivatives), the values and gradients at exact special
inputs (±0, ±inf, NaN, negative bases, ties), result dtypes and errors, and which
gradients stay attached to the graph under ``create_graph``.
"""

import math

import numpy as np
import pytest

import nnkit
from test_ops_elementwise import BINARY, BINARY_ONCE, CASES, PAIRS, UNARY, UNARY_ONCE, inputs, make_input
from test_torch_parity_ops import assert_same, dense

torch = pytest.importorskip("torch")
# NumPy warns about inf and NaN at the special inputs, where PyTorch is silent.
pytestmark = [pytest.mark.torch, pytest.mark.filterwarnings("ignore::RuntimeWarning")]

inf, nan = math.inf, math.nan


# --- the tables: forward, first and second derivatives in float32 ---------------------------

@pytest.mark.parametrize("shape", [(3, 4), ()], ids=str)
@pytest.mark.parametrize("name", {**UNARY, **UNARY_ONCE})
def test_unary_op_matches_torch(name, shape, rng):
    fn, _, domain = {**UNARY, **UNARY_ONCE}[name]
    assert_same(fn, [make_input(rng, shape, domain)], twice=name in UNARY)


@pytest.mark.parametrize("shapes", PAIRS, ids=str)
@pytest.mark.parametrize("name", {**BINARY, **BINARY_ONCE})
def test_binary_op_matches_torch(name, shapes, rng):
    fn, _, domains = {**BINARY, **BINARY_ONCE}[name]
    assert_same(fn, inputs(rng, shapes, domains), twice=name in BINARY)


@pytest.mark.parametrize("name", CASES)
def test_op_matches_torch(name, rng):
    case = CASES[name]
    assert_same(case.fn, inputs(rng, case.shapes, case.domains or "rrr"))


# --- exact special inputs, in float64 ---------------------------------------------------------

def assert_same_values(got, want, what: str) -> None:
    """Equal shapes and dtypes; NaN where the other has NaN, the same infinities, the
    same sign of zero, and other values within rounding (a few units in the last place
    of float32, 1e-12 in float64, where the two libraries' math functions differ)."""
    got, want = np.asarray(got), np.asarray(want)
    assert got.shape == want.shape and got.dtype == want.dtype, what
    rtol = 1e-12 if want.dtype == np.float64 else 4 * np.finfo(want.dtype).eps if want.dtype.kind == "f" else 0
    g, w = got.astype(np.float64).ravel(), want.astype(np.float64).ravel()
    assert (np.isnan(g) == np.isnan(w)).all(), f"{what}: NaN at different places: {g} vs {w}"
    finite = ~np.isnan(w)
    np.testing.assert_allclose(g[finite], w[finite], rtol=rtol, atol=0, err_msg=what)
    zeros = finite & (w == 0)
    assert (np.signbit(g[zeros]) == np.signbit(w[zeros])).all(), f"{what}: signs of zero differ: {g} vs {w}"


def values_and_grads(lib, fn, columns):
    xs = [lib.tensor(c, dtype=lib.float64, requires_grad=True) for c in columns]
    out = fn(*xs)
    gs = lib.autograd.grad(out, xs, lib.ones_like(out), allow_unused=True)
    return out.detach().numpy(), [np.zeros(len(c)) if g is None else g.numpy() for g, c in zip(gs, columns)]


SPECIAL = [-inf, -2.0, -1.0, -0.5, -0.0, 0.0, 0.5, 1.0, 2.0, inf, nan]
UNIT = [-1.5, -1.0, -0.5, -0.0, 0.0, 0.5, 1.0, 1.5, nan]

EDGES = {
    "pow": (lambda a, b: a ** b, [[0.0, 0.0, 0.0, -0.0, -0.0, -2.0, -2.0, 2.0, inf, -inf, 0.5, 1.0, nan],
                                  [0.0, 2.0, -1.0, 3.0, -1.0, 2.0, 0.5, 0.0, -1.0, 3.0, inf, nan, 0.0]]),
    "pow_half": (lambda a: a ** 0.5, [SPECIAL]),
    "pow_minus_half": (lambda a: a ** -0.5, [SPECIAL]),
    "pow_minus_one": (lambda a: a ** -1, [SPECIAL]),
    "pow_minus_two": (lambda a: a ** -2, [SPECIAL]),
    "pow_two": (lambda a: a ** 2, [SPECIAL]),
    "pow_three": (lambda a: a ** 3, [SPECIAL]),
    "pow_zero": (lambda a: a ** 0, [SPECIAL]),
    "pow_one_and_a_half": (lambda a: a ** 1.5, [SPECIAL]),
    "rpow_zero": (lambda b: 0.0 ** b, [SPECIAL]),
    "rpow_negative": (lambda b: (-2.0) ** b, [SPECIAL]),
    "rpow_two": (lambda b: 2.0 ** b, [SPECIAL]),
    "maximum": (lambda a, b: a.maximum(b), [[1.0, 2.0, nan, 1.0, -0.0, 0.0], [1.0, 1.0, 1.0, nan, 0.0, -0.0]]),
    "minimum": (lambda a, b: a.minimum(b), [[1.0, 2.0, nan, 1.0, -0.0, 0.0], [1.0, 1.0, 1.0, nan, 0.0, -0.0]]),
    "fmax": (lambda a, b: a.fmax(b), [[1.0, 2.0, nan, 1.0, nan], [1.0, 1.0, 4.0, nan, nan]]),
    "fmin": (lambda a, b: a.fmin(b), [[1.0, 2.0, nan, 1.0, nan], [1.0, 1.0, 4.0, nan, nan]]),
    "clamp": (lambda x, lo, hi: x.clamp(lo, hi), [[-2.0, -1.0, 0.0, 1.0, 2.0, 0.5, 0.5, 0.5, nan, 0.0],
                                                  [-1.0, -1.0, -1.0, -1.0, -1.0, 1.0, 0.5, 0.6, 0.0, nan],
                                                  [1.0, 1.0, 1.0, 1.0, 1.0, 0.0, 0.5, 0.4, 1.0, 1.0]]),
    "clamp_min": (lambda x, lo: x.clamp(min=lo), [[-2.0, -1.0, 0.0, nan], [-1.0, -1.0, -1.0, 0.0]]),
    "clamp_scalars": (lambda x: x.clamp(-1.0, 1.0), [SPECIAL]),
    "relu": (lambda x: x.relu(), [SPECIAL]),
    "abs": (lambda x: x.abs(), [SPECIAL]),
    "sign": (lambda x: x.sign(), [SPECIAL]),
    "copysign": (lambda a, b: a.copysign(b), [[1.0, -1.0, 0.0, -0.0, 2.0, nan, inf],
                                              [-1.0, 1.0, -1.0, 1.0, -0.0, 1.0, -1.0]]),
    "xlogy": (lambda a, b: a.xlogy(b), [[0.0, 0.0, 1.0, 2.0, 0.0, -0.0, 1.0], [0.0, 1.0, 2.0, 0.0, nan, -1.0, inf]]),
    "sinc": (lambda x: x.sinc(), [SPECIAL]),
    "logit": (lambda x: x.logit(), [UNIT]),
    "logit_eps": (lambda x: x.logit(eps=0.1), [[0.0, 0.05, 0.1, 0.5, 0.9, 1.0, nan]]),
    "nan_to_num": (lambda x: x.nan_to_num(), [SPECIAL]),
    "nan_to_num_values": (lambda x: x.nan_to_num(nan=1.0, posinf=2.0, neginf=-3.0), [SPECIAL]),
    "hypot": (lambda a, b: a.hypot(b), [[0.0, 3.0, 1e-200, inf, nan], [0.0, 4.0, 1e-200, nan, inf]]),
    "atan2": (lambda a, b: a.atan2(b), [[0.0, 0.0, -0.0, 1e-30, 1e-200, 3.0, inf],
                                        [0.0, -0.0, -1.0, 0.0, 1e-200, 4.0, inf]]),
    "logaddexp": (lambda a, b: a.logaddexp(b), [[0.0, -inf, 1000.0, inf, -inf], [0.0, -inf, 1000.0, 1.0, 1.0]]),
    "logaddexp2": (lambda a, b: a.logaddexp2(b), [[0.0, -inf, 1000.0, inf], [0.0, -inf, 1000.0, 1.0]]),
    "sqrt": (lambda x: x.sqrt(), [SPECIAL]),
    "rsqrt": (lambda x: x.rsqrt(), [SPECIAL]),
    "reciprocal": (lambda x: x.reciprocal(), [SPECIAL]),
    "log": (lambda x: x.log(), [SPECIAL]),
    "log2": (lambda x: x.log2(), [SPECIAL]),
    "log10": (lambda x: x.log10(), [SPECIAL]),
    "log1p": (lambda x: x.log1p(), [SPECIAL]),
    "exp2": (lambda x: x.exp2(), [SPECIAL]),
    "expm1": (lambda x: x.expm1(), [SPECIAL]),
    "tan": (lambda x: x.tan(), [[-0.0, 0.0, 1.0, inf, nan]]),
    "asin": (lambda x: x.asin(), [UNIT]),
    "acos": (lambda x: x.acos(), [UNIT]),
    "atanh": (lambda x: x.atanh(), [UNIT]),
    "acosh": (lambda x: x.acosh(), [[0.5, 1.0, 2.0, inf, nan]]),
    "asinh": (lambda x: x.asinh(), [SPECIAL]),
    "erfc": (lambda x: x.erfc(), [SPECIAL + [5.0, -5.0, 26.0]]),
    "erfinv": (lambda x: x.erfinv(), [UNIT]),
    "sigmoid": (lambda x: x.sigmoid(), [SPECIAL]),
    "remainder": (lambda a, b: a % b, [[-0.0, 0.0, 3.0, -3.0, 1.0, -1.0, 5.5, 1.0, inf],
                                       [3.0, -3.0, -3.0, 3.0, inf, inf, -2.0, 0.0, 2.0]]),
    "fmod": (lambda a, b: a.fmod(b), [[-0.0, 0.0, 3.0, -3.0, 1.0, -1.0, 5.5, 1.0, inf],
                                      [3.0, -3.0, -3.0, 3.0, inf, inf, -2.0, 0.0, 2.0]]),
    "div_floor": (lambda a, b: a.div(b, rounding_mode="floor"), [[-0.0, 0.0, 3.0, -3.0, 7.0, 1.0, -1.0, 0.0, -1.0],
                                                                 [3.0, -3.0, -3.0, 3.0, 0.1, 0.0, 0.0, 0.0, inf]]),
    "div_trunc": (lambda a, b: a.div(b, rounding_mode="trunc"), [[-0.0, 0.0, 3.0, -3.0, 7.0, 1.0, -1.0, 0.0],
                                                                 [3.0, -3.0, -3.0, 3.0, 0.1, 0.0, 0.0, 0.0]]),
    "div": (lambda a, b: a / b, [[1.0, -1.0, 0.0, -0.0, inf], [0.0, 0.0, 0.0, 1.0, inf]]),
    "round": (lambda x: x.round(), [[0.5, 1.5, 2.5, -0.5, -1.5, -2.5, 2.675, -0.0, inf, nan]]),
    "round_decimals": (lambda x: x.round(decimals=2), [[0.125, 0.135, 2.675, -1.005, 1e300, 123.456, nan]]),
    "round_negative_decimals": (lambda x: x.round(decimals=-1), [[15.0, 25.0, -15.0, 123.456, 5.0, -5.0]]),
    "frac": (lambda x: x.frac(), [SPECIAL + [2.5, -2.5]]),
    "floor": (lambda x: x.floor(), [SPECIAL]),
    "ceil": (lambda x: x.ceil(), [SPECIAL]),
    "trunc": (lambda x: x.trunc(), [SPECIAL]),
    "lerp": (lambda s, e, w: s.lerp(e, w), [[1.0, 1.0, 1.0, 1.0, 1.0, 1e8], [3.0, 3.0, 3.0, 3.0, 3.0, 1.0],
                                            [0.0, 1.0, 0.5, -1.0, 2.0, 1.0]]),
    "where": (lambda c, a, b: a.where(c > 0, b), [[1.0, -1.0, nan], [2.0, inf, 1.0], [nan, 3.0, -0.0]]),
    "deg2rad": (lambda x: x.deg2rad(), [SPECIAL]),
}


@pytest.mark.parametrize("name", EDGES)
def test_values_and_gradients_at_special_inputs_match_torch(name):
    fn, columns = EDGES[name]
    mine, theirs = values_and_grads(nnkit, fn, columns), values_and_grads(torch, fn, columns)
    assert_same_values(mine[0], theirs[0], "forward")
    for i, (g, w) in enumerate(zip(mine[1], theirs[1])):
        assert_same_values(g, w, f"gradient of input {i}")


def test_floor_divide_values_and_missing_derivative_match_torch():
    a, b = [-0.0, 0.0, 3.0, -3.0, 7.0, 1.0, -1.0, 0.0], [3.0, -3.0, -3.0, 3.0, 0.1, 0.0, 0.0, 0.0]
    assert_same_values((nnkit.tensor(a) // nnkit.tensor(b)).numpy(), (torch.tensor(a) // torch.tensor(b)).numpy(),
                       "floor_divide")
    for lib in (nnkit, torch):
        x = lib.tensor([1.0, 2.0], requires_grad=True)
        with pytest.raises(RuntimeError, match="floor_divide"):
            (x // 2).sum().backward()


# --- result dtypes, values and errors -------------------------------------------------------

def outcome(make, lib):
    """``make(lib)``'s result, or the exception it raised."""
    try:
        return make(lib)
    except Exception as error:  # noqa: BLE001  (compared with PyTorch's below)
        return error


i64 = lambda m: m.tensor([7, -7, 7, -7])  # noqa: E731
i64b = lambda m: m.tensor([2, 2, -2, -2])  # noqa: E731
f32 = lambda m: m.tensor([1.5, -2.5, 0.0, 4.0])  # noqa: E731
boo = lambda m: m.tensor([True, False, True, False])  # noqa: E731

RESULTS = {
    # integer and bool arithmetic
    "int_floordiv": lambda m: i64(m) // i64b(m), "int_mod": lambda m: i64(m) % i64b(m),
    "int_fmod": lambda m: m.fmod(i64(m), i64b(m)), "int_truediv": lambda m: i64(m) / i64b(m),
    "int_div_trunc": lambda m: m.div(i64(m), i64b(m), rounding_mode="trunc"),
    "int_div_floor": lambda m: i64(m).div(i64b(m), rounding_mode="floor"),
    "int_floordiv_zero": lambda m: i64(m) // 0, "int_mod_zero": lambda m: i64(m) % 0,
    "int_fmod_zero": lambda m: m.fmod(i64(m), 0), "int_floordiv_float": lambda m: i64(m) // 2.5,
    "int_mod_float": lambda m: i64(m) % 2.5, "rfloordiv": lambda m: 5 // i64b(m), "rmod": lambda m: 5 % i64b(m),
    "rmod_float": lambda m: 5.0 % i64b(m), "bool_floordiv": lambda m: boo(m) // boo(m),
    "bool_mod": lambda m: boo(m) % boo(m), "bool_add": lambda m: boo(m) + boo(m), "bool_mul": lambda m: boo(m) * boo(m),
    "bool_sub": lambda m: boo(m) - boo(m), "bool_sub_int": lambda m: boo(m) - 1, "bool_rsub": lambda m: 1 - boo(m),
    "bool_neg": lambda m: -boo(m), "bool_pos": lambda m: +boo(m), "bool_abs": lambda m: boo(m).abs(),
    "bool_div": lambda m: boo(m) / boo(m), "bool_times_float": lambda m: boo(m) * 2.5,
    "add_alpha": lambda m: m.add(i64(m), i64b(m), alpha=2),
    "add_float_alpha": lambda m: m.add(i64(m), i64b(m), alpha=0.5),
    "add_bool_alpha": lambda m: m.add(boo(m), boo(m), alpha=2), "sub_alpha": lambda m: m.sub(f32(m), 2, alpha=3),
    "rsub": lambda m: m.rsub(f32(m), 2, alpha=3), "positive": lambda m: m.positive(i64(m)),
    "negative": lambda m: m.negative(i64(m)), "div_bad_mode": lambda m: m.div(i64(m), i64b(m), rounding_mode="x"),
    "true_divide": lambda m: m.true_divide(i64(m), i64b(m)),
    # rounding, sign, powers
    "int_sign": lambda m: i64(m).sign(), "bool_sign": lambda m: boo(m).sign(), "int_floor": lambda m: i64(m).floor(),
    "int_round": lambda m: i64(m).round(), "int_round_decimals": lambda m: i64(m).round(decimals=1),
    "int_trunc": lambda m: i64(m).trunc(), "int_frac": lambda m: i64(m).frac(), "bool_floor": lambda m: boo(m).floor(),
    "bool_frac": lambda m: boo(m).frac(),
    "int_square": lambda m: i64(m).square(), "bool_square": lambda m: boo(m).square(),
    "int_pow": lambda m: i64(m) ** 2, "int_pow_negative": lambda m: i64(m) ** -1,
    "int_pow_negative_tensor": lambda m: i64(m) ** m.tensor(-1), "int_pow_float": lambda m: i64(m) ** 0.5,
    "int_rpow": lambda m: 2 ** i64b(m), "float_rpow_int": lambda m: 2.0 ** i64b(m), "bool_pow": lambda m: boo(m) ** 2,
    "int_pow_tensors": lambda m: m.tensor([0, 1, -1, 2, -1]) ** m.tensor([-1, -3, -3, -2, -2]),
    "float_power_int": lambda m: m.float_power(i64(m), 2), "float_power_float32": lambda m: m.float_power(f32(m), 2),
    "float_power_base": lambda m: m.float_power(2, i64b(m)), "float_pow_bool": lambda m: f32(m) ** boo(m),
    # float functions of integers and bools
    "int_sqrt": lambda m: i64(m).sqrt(),
    "bool_exp": lambda m: boo(m).exp(), "int_reciprocal": lambda m: i64(m).reciprocal(),
    "int_copysign": lambda m: m.copysign(i64(m), i64b(m)), "int_atan2": lambda m: m.atan2(i64(m), i64b(m)),
    "int_hypot": lambda m: m.hypot(i64(m), i64b(m)), "int_logaddexp": lambda m: m.logaddexp(i64(m), i64b(m)),
    "int_xlogy": lambda m: m.xlogy(i64(m), i64b(m)), "bool_xlogy": lambda m: m.xlogy(boo(m), i64b(m)),
    "int_lerp": lambda m: m.lerp(i64(m), i64b(m), 0.5), "int_sinc": lambda m: i64(m).sinc(),
    "int_deg2rad": lambda m: i64(m).deg2rad(), "int_logit": lambda m: i64(m).logit(),
    "int_logit_eps": lambda m: m.tensor([0, 1]).logit(eps=0.25), "int_erfinv": lambda m: m.tensor([0]).erfinv(),
    "int_exp2": lambda m: m.tensor([3]).exp2(),
    "int_relu": lambda m: i64(m).relu(), "bool_relu": lambda m: boo(m).relu(),
    "int_sigmoid": lambda m: i64(m).sigmoid(), "bool_reciprocal": lambda m: boo(m).reciprocal(),
    # lerp, clamp, maximum, addcmul
    "lerp_weight_double": lambda m: m.lerp(f32(m), f32(m), m.tensor([0.5] * 4, dtype=m.float64)),
    "lerp_end_double": lambda m: m.lerp(f32(m), f32(m).double(), 0.5),
    "lerp_int_weight": lambda m: m.lerp(f32(m), f32(m), m.tensor([1] * 4)),
    "maximum_bool": lambda m: m.maximum(boo(m), m.tensor([False] * 4)),
    "minimum_bool": lambda m: boo(m).minimum(~boo(m)),
    "maximum_int_float": lambda m: m.maximum(i64(m), m.tensor([0.5])), "fmax_int": lambda m: m.fmax(i64(m), i64b(m)),
    "fmax_bool": lambda m: m.fmax(boo(m), ~boo(m)),
    "maximum_0d_double": lambda m: m.maximum(f32(m), m.tensor(2.0, dtype=m.float64)),
    "minimum_int64_min": lambda m: m.minimum(m.tensor([-2 ** 63]), m.tensor([0])),
    "clamp_int_float": lambda m: i64(m).clamp(0.5, 2.5), "clamp_int_tensor": lambda m: i64(m).clamp(m.tensor(0.5)),
    "clamp_double_bound": lambda m: f32(m).clamp(m.tensor([0.5] * 4, dtype=m.float64)),
    "clamp_0d_double_bound": lambda m: f32(m).clamp(m.tensor(0.5, dtype=m.float64)),
    "clamp_bool": lambda m: boo(m).clamp(0, 1), "clamp_crossed": lambda m: f32(m).clamp(6, 4),
    "clamp_nothing": lambda m: f32(m).clamp(), "clamp_broadcast": lambda m: m.clamp(f32(m), m.zeros(2, 4)),
    "clamp_nan_bound": lambda m: f32(m).clamp(nan), "clip": lambda m: m.clip(f32(m), 0, 0.5),
    "clamp_min": lambda m: m.clamp_min(f32(m), 1), "clamp_max": lambda m: f32(m).clamp_max(1),
    "addcmul": lambda m: m.addcmul(f32(m), f32(m), f32(m), value=0.5),
    "addcmul_int": lambda m: m.addcmul(i64(m), i64(m), i64b(m), value=2),
    "addcmul_int_float_value": lambda m: m.addcmul(i64(m), i64(m), i64b(m), value=0.5),
    "addcdiv": lambda m: m.addcdiv(f32(m), f32(m), m.tensor([4.0]), value=0.5),
    "addcdiv_int": lambda m: m.addcdiv(i64(m), i64(m), i64b(m)),
    "addcdiv_int_tensors": lambda m: m.addcdiv(f32(m), i64(m), i64b(m)),
    # where
    "where_float_int": lambda m: m.where(boo(m), f32(m), 0), "where_int_float": lambda m: m.where(boo(m), i64(m), 0.0),
    "where_int_int": lambda m: m.where(boo(m), i64(m), 0), "where_numbers": lambda m: m.where(boo(m), 1, 0),
    "where_numbers_float": lambda m: m.where(boo(m), 1.0, 0), "where_bools": lambda m: m.where(boo(m), True, False),
    "where_0d_double": lambda m: m.where(boo(m), m.tensor(1.0, dtype=m.float64), f32(m)),
    "where_int_condition": lambda m: m.where(i64(m), f32(m), f32(m)),
    "where_float_condition": lambda m: m.where(f32(m), f32(m), f32(m)),
    "where_shapes": lambda m: m.where(m.tensor([True, False, True]), f32(m), f32(m)),
    "where_alone": lambda m: m.where(m.tensor([[True, False], [False, True]]))[1],
    # bitwise and logic
    "and_int": lambda m: m.tensor([12, 10]) & m.tensor([10, 6]), "or_int": lambda m: m.tensor([12, 10]) | 3,
    "xor_int": lambda m: m.tensor([12, 10]) ^ m.tensor([10, 6]), "not_int": lambda m: ~m.tensor([12, -1]),
    "not_bool": lambda m: ~boo(m), "and_bool": lambda m: boo(m) & ~boo(m), "and_bool_int": lambda m: boo(m) & i64(m),
    "and_bool_true": lambda m: boo(m) & True, "and_bool_one": lambda m: boo(m) & 1, "rand": lambda m: 3 & m.tensor([5]),
    "and_float": lambda m: f32(m) & f32(m), "and_int_float": lambda m: i64(m) & 1.5, "not_float": lambda m: ~f32(m),
    "bitwise_not_float": lambda m: m.bitwise_not(f32(m)), "bitwise_xor_bool": lambda m: m.bitwise_xor(boo(m), ~boo(m)),
    "lshift": lambda m: m.tensor([1, -1, 3]) << m.tensor([2, 63, 64]),
    "lshift_negative": lambda m: m.tensor([8]) << m.tensor([-1]),
    "rshift": lambda m: m.tensor([8, -8, -8, 8]) >> m.tensor([2, 2, 64, 64]),
    "rshift_negative": lambda m: m.tensor([-8, 8]) >> m.tensor([-1, -1]),
    "lshift_float": lambda m: f32(m) << 2,
    "lshift_by_float": lambda m: i64(m) << 2.0, "rlshift": lambda m: 1 << i64b(m).abs(),
    "rrshift": lambda m: 64 >> m.tensor([3]), "lshift_bool": lambda m: boo(m) << 1,
    "lshift_int32": lambda m: m.tensor([1], dtype=m.int32) << 31,
    "lshift_uint8": lambda m: m.tensor([1], dtype=m.uint8) << 9,
    "rshift_uint8": lambda m: m.tensor([200], dtype=m.uint8) >> 9,
    "left_shift_fn": lambda m: m.bitwise_left_shift(i64(m), 3),
    "right_shift_fn": lambda m: m.bitwise_right_shift(i64(m), 1),
    "logical_and": lambda m: m.logical_and(f32(m), i64(m)),
    "logical_not": lambda m: m.logical_not(m.tensor([1.0, 0.0, nan])),
    "logical_or": lambda m: i64(m).logical_or(boo(m)), "logical_xor": lambda m: m.logical_xor(f32(m), boo(m)),
    # comparisons and predicates
    "eq": lambda m: m.eq(f32(m), 0), "greater": lambda m: m.greater(f32(m), 0), "less": lambda m: m.less(i64(m), 1.5),
    "less_equal": lambda m: f32(m).less_equal(i64(m)), "greater_equal": lambda m: m.greater_equal(boo(m), False),
    "not_equal": lambda m: m.not_equal(i64(m), i64b(m)), "ge_bool": lambda m: boo(m) >= ~boo(m),
    "eq_0d": lambda m: m.tensor(1.0) == m.tensor(1.0),
    "isclose": lambda m: m.isclose(m.tensor([1.0, nan, inf, 1.0, inf]), m.tensor([1.0 + 1e-6, nan, inf, 2.0, -inf])),
    "isclose_equal_nan": lambda m: m.tensor([1.0, nan]).isclose(m.tensor([1.0, nan]), equal_nan=True),
    "isclose_int": lambda m: m.isclose(m.tensor([1, 2]), m.tensor([1, 3]), atol=1, rtol=0),
    "isclose_int_float": lambda m: m.isclose(i64(m), f32(m)), "isclose_bool": lambda m: m.isclose(boo(m), boo(m)),
    "isclose_negative_rtol": lambda m: m.isclose(f32(m), f32(m), rtol=-1),
    "isclose_broadcast": lambda m: m.isclose(m.tensor([1.0, 2.0]), m.tensor([1.0])),
    "isclose_float16": lambda m: m.isclose(m.tensor([1.0], dtype=m.float16), m.tensor([1.001], dtype=m.float16)),
    "isclose_big_ints": lambda m: m.isclose(m.tensor([2 ** 62]), m.tensor([2 ** 62 + 1])),
    "isinf": lambda m: m.isinf(m.tensor(SPECIAL)), "isposinf": lambda m: m.tensor(SPECIAL).isposinf(),
    "isneginf": lambda m: m.isneginf(m.tensor(SPECIAL)), "isfinite": lambda m: m.tensor(SPECIAL).isfinite(),
    "isnan": lambda m: m.isnan(m.tensor(SPECIAL)), "isreal": lambda m: m.isreal(f32(m)),
    "isposinf_int": lambda m: m.isposinf(i64(m)), "isfinite_int": lambda m: i64(m).isfinite(),
    "signbit": lambda m: m.signbit(m.tensor([-0.0, 0.0, -1.0, nan, -nan])), "signbit_int": lambda m: i64(m).signbit(),
    "signbit_bool": lambda m: m.signbit(boo(m)), "sign_uint8": lambda m: m.tensor([3, 0], dtype=m.uint8).sign(),
    "abs_int_min": lambda m: m.tensor([-2 ** 63]).abs(),
    # nan_to_num, heaviside
    "nan_to_num_int": lambda m: m.nan_to_num(i64(m)),
    "nan_to_num_float16": lambda m: m.nan_to_num(m.tensor([inf, nan, -inf], dtype=m.float16)),
    "heaviside": lambda m: m.heaviside(m.tensor([-1.0, 0.0, 2.0]), m.tensor([0.5])),
    "heaviside_int": lambda m: m.heaviside(i64(m), m.tensor([5])),
    "heaviside_mixed": lambda m: m.heaviside(i64(m), m.tensor([0.5])),
    "heaviside_bool": lambda m: m.heaviside(boo(m), m.tensor([True])),
    # broadcasting errors
    "add_shapes": lambda m: m.ones(2, 3) + m.ones(4), "atan2_shapes": lambda m: m.atan2(m.ones(2, 3), m.ones(4)),
    "lerp_shapes": lambda m: m.lerp(m.ones(2), m.ones(3), 0.5),
    # in place
    "sqrt_in_int": lambda m: i64(m).sqrt_(), "floor_divide_in_int": lambda m: i64(m).floor_divide_(2),
    "eq_in_float": lambda m: f32(m).eq_(0), "ifloordiv_float_in_int": lambda m: i64(m).__ifloordiv__(2.5),
    "round_in_decimals": lambda m: f32(m).round_(decimals=1), "clamp_min_in": lambda m: f32(m).clamp_min_(0),
    "lerp_in": lambda m: f32(m).lerp_(m.ones(4), 0.25), "bitwise_and_in": lambda m: i64(m).bitwise_and_(6),
    "logical_not_in_float": lambda m: f32(m).logical_not_(), "abs_in_int": lambda m: i64(m).abs_(),
    "nan_to_num_in": lambda m: m.tensor([nan, inf]).nan_to_num_(), "sign_in": lambda m: f32(m).sign_(),
}


@pytest.mark.parametrize("name", RESULTS)
def test_results_dtypes_and_errors_match_torch(name):
    mine, theirs = outcome(RESULTS[name], nnkit), outcome(RESULTS[name], torch)
    if isinstance(theirs, Exception):
        assert isinstance(mine, type(theirs)), f"PyTorch raised {theirs!r}; nnkit gave {mine!r}"
        return
    assert not isinstance(mine, Exception), f"nnkit raised {mine!r}; PyTorch gave {theirs}"
    assert_same_values(mine.numpy(), theirs.numpy(), name)


@pytest.mark.parametrize("name", ["equal", "equal_shape", "equal_dtype", "equal_nan", "allclose", "allclose_broadcast",
                                  "allclose_int"])
def test_python_bool_results_match_torch(name):
    make = {
        "equal": lambda m: m.equal(f32(m), f32(m)), "equal_shape": lambda m: m.equal(f32(m), f32(m)[None]),
        "equal_dtype": lambda m: m.equal(m.tensor([1.0, 0.0]), m.tensor([1, 0])),
        "equal_nan": lambda m: m.tensor([nan]).equal(m.tensor([nan])),
        "allclose": lambda m: m.allclose(m.tensor([1.0]), m.tensor([1.0 + 1e-6])),
        "allclose_broadcast": lambda m: m.tensor([1.0, 1.0]).allclose(m.tensor([1.0])),
        "allclose_int": lambda m: m.allclose(m.tensor([1]), m.tensor([1])),
    }[name]
    mine, theirs = make(nnkit), make(torch)
    assert type(mine) is bool and mine == theirs


# --- gradients of gradients: attached where PyTorch's are ------------------------------------

SECOND_ORDER = {
    "relu": lambda m, x: m.relu(x), "abs": lambda m, x: x.abs(), "sign": lambda m, x: x.sign(),
    "clamp": lambda m, x: x.clamp(-0.5, 0.5), "clamp_min": lambda m, x: x.clamp_min(0.0),
    "maximum": lambda m, x: m.maximum(x, m.zeros(5)), "where": lambda m, x: m.where(x > 0, x, 0.0),
    "floor": lambda m, x: x.floor(), "round": lambda m, x: x.round(), "sigmoid": lambda m, x: x.sigmoid(),
    "relu_of_abs": lambda m, x: x.abs().relu(), "square_of_relu": lambda m, x: x.relu() ** 2,
    "div_floor": lambda m, x: x.div(2, rounding_mode="floor"), "frac": lambda m, x: x.frac(),
    "fmax": lambda m, x: m.fmax(x, m.zeros(5)), "copysign": lambda m, x: x.copysign(-1.0),
}


@pytest.mark.parametrize("name", SECOND_ORDER)
def test_gradient_penalty_through_the_op_matches_torch(name):
    """grad(op(x).sum(), x, create_graph=True), then the gradient of its sum: the first
    gradient stays in the graph (and the second is zeros or more) exactly where PyTorch's does."""
    x0 = np.array([-1.5, -0.25, 0.3, 0.7, 2.0])
    results = []
    for lib in (nnkit, torch):
        x = lib.tensor(x0, requires_grad=True)
        (g,) = lib.autograd.grad(SECOND_ORDER[name](lib, x).sum(), x, create_graph=True)
        if not g.requires_grad:
            results.append(None)
            continue
        (gg,) = lib.autograd.grad(g.sum(), x, allow_unused=True)
        results.append(None if gg is None else dense(gg, x))
    mine, theirs = results
    assert (mine is None) == (theirs is None)
    if theirs is not None:
        np.testing.assert_allclose(mine, theirs, rtol=1e-12)


@pytest.mark.parametrize("name", ["exp_", "exp2_", "expm1_", "sigmoid_", "tanh_", "sqrt_", "rsqrt_", "relu_",
                                  "reciprocal_", "tan_", "erfinv_", "sin_", "log_", "abs_", "logit_"])
def test_in_place_ops_differentiated_twice_match_torch(name):
    """The first and second derivatives through an in-place op, which overwrote its input."""
    x0 = np.array([0.2, 0.45, 0.7])
    results = []
    for lib in (nnkit, torch):
        x = lib.tensor(x0, requires_grad=True)
        h = x * 1.5
        getattr(h, name)()
        (g,) = lib.autograd.grad((h * h).sum(), x, create_graph=True)
        (gg,) = lib.autograd.grad(g.sum(), x)
        results.append((g.detach().numpy(), gg.numpy()))
    for mine, theirs in zip(*results):
        np.testing.assert_allclose(mine, theirs, rtol=1e-12, atol=1e-15)


@pytest.mark.parametrize("name", ["floor", "sign", "round", "div_floor", "pow_zero", "frac", "relu", "abs"])
def test_gradient_through_zero_gradient_ops_is_attached_as_in_torch(name):
    """With an upstream gradient that is itself in the graph (d(h²)/dh = 2h), the zero
    gradients of floor, sign... stay detached, as PyTorch's zeros_like(grad) are."""
    op = {"floor": lambda t: t.floor(), "sign": lambda t: t.sign(), "round": lambda t: t.round(),
          "div_floor": lambda t: t.div(2, rounding_mode="floor"), "pow_zero": lambda t: t ** 0,
          "frac": lambda t: t.frac(), "relu": lambda t: t.relu(), "abs": lambda t: t.abs()}[name]
    attached = []
    for lib in (nnkit, torch):
        x = lib.tensor([0.2, -0.45], dtype=lib.float64, requires_grad=True)
        h = op(x * 1.5)
        (g,) = lib.autograd.grad((h * h).sum(), x, create_graph=True)
        attached.append(g.requires_grad)
    assert attached[0] == attached[1]
