"""Elementwise ops, in four groups: arithmetic (with broadcasting and PyTorch's type
promotion), math functions, comparisons and logic, and bitwise ops.

Each op computes its result on raw arrays and records a backward written with
tensor ops, so that gradients of gradients work. Integer and bool inputs to the
math functions give the default float dtype, as in PyTorch. Ops whose gradient is
zero (floor, sign, div with a rounding mode...) are recorded all the same, as in
PyTorch, so that ``requires_grad`` flows through them; and ``relu`` and ``abs``
keep their gradient attached to the input, so that a gradient penalty through
them (the gradient of a gradient) gives zeros where PyTorch gives zeros.
"""

from __future__ import annotations

import builtins
import math
import operator

import numpy

from .. import backend
from ..tensor import Tensor
from .base import (_KIND_RANK, _as, _broadcast_error, _float, _make, _operands, _promote_types, _saved, _sum_to,
                   expand, to, zeros_scalar)

_NUMBERS = (bool, int, float, numpy.number, numpy.bool_)


# --- operands, promotion and the shared pieces of every op ------------------------------

def _number_dtype(v) -> numpy.dtype:
    if isinstance(v, (bool, numpy.bool_)):
        return backend.bool_
    return backend.int64 if isinstance(v, (int, numpy.integer)) else backend.get_default_dtype()


def _combine(higher, lower):
    """A lower-priority operand's dtype counts only where its kind is higher (PyTorch's rule)."""
    if higher is None:
        return lower
    if lower is None or backend.is_floating(higher):
        return higher
    if higher.kind == "b" or backend.is_floating(lower):
        return _promote_types(higher, lower)
    return higher


def _result_type(*operands) -> numpy.dtype:
    """PyTorch's result dtype for any number of operands (None entries skipped): tensors
    with dims decide; 0-d tensors, then Python numbers, count only where their kind is
    higher (int64 with 0.5 gives float32; float32 with a 0-d float64 stays float32)."""
    dims = zeros = numbers = None
    for v in operands:
        if isinstance(v, Tensor):
            if v.ndim:
                dims = v.dtype if dims is None else _promote_types(dims, v.dtype)
            else:
                zeros = v.dtype if zeros is None else _promote_types(zeros, v.dtype)
        elif v is not None:
            d = _number_dtype(v)
            if numbers is None or _KIND_RANK[d.kind] > _KIND_RANK[numbers.kind]:
                numbers = d
    return _combine(dims, _combine(zeros, numbers))


def _prepare(op: str, *operands, like: Tensor | None = None) -> list:
    """Operands (Tensors or Python numbers; None stays None) as Tensors of their common
    dtype on one device; ``like`` gives the device when no operand is a Tensor."""
    tensors = [v for v in operands if isinstance(v, Tensor)]
    for v in operands:
        if v is not None and not isinstance(v, (Tensor,) + _NUMBERS):
            raise TypeError(f"{op}: unsupported operand of type {type(v).__name__}")
    like = tensors[0] if tensors else like
    for t in tensors:
        if t._xp is not like._xp:
            raise RuntimeError(f"{op}: expected all tensors on the same device, got {like.device} and {t.device}")
    dtype = _result_type(*operands)
    return [None if v is None else _as(v, dtype, like) for v in operands]


def _compute(op: str, fn, *tensors, quiet: bool = False):
    """``fn`` on the tensors' arrays, with a clear error when their shapes do not broadcast.
    ``quiet`` silences NumPy's warnings (PyTorch gives none) for ops whose results at the
    edges of their domain (log(0), sqrt(-1), x % 0) are expected; it is not the default,
    because it costs a few microseconds, as much as a small add itself."""
    arrays = [t.array for t in tensors]
    try:
        if quiet:
            with numpy.errstate(all="ignore"):
                return fn(*arrays)
        return fn(*arrays)
    except ValueError:
        if len(tensors) == 2:
            raise _broadcast_error(op, *tensors) from None
        shapes = [str(tuple(t.shape)) for t in tensors]
        raise RuntimeError(f"{op}: shapes {', '.join(shapes[:-1])} and {shapes[-1]} cannot be broadcast "
                           "together") from None


def _pair(input, other, op: str, floating: bool = False) -> tuple[Tensor, Tensor]:
    """Two operands promoted as PyTorch does; ``floating``: integers become the default float."""
    a, b = _operands(input, other, op)
    if floating and not backend.is_floating(a.dtype):
        a, b = _float(a), _float(b)
    return a, b


def _tensor_input(a, op: str) -> None:
    if not isinstance(a, Tensor):
        raise TypeError(f"{op}(): argument 'input' must be a Tensor, not {type(a).__name__}")


def _unsupported(op: str, dtype) -> NotImplementedError:
    return NotImplementedError(f"{op}: not implemented for {numpy.dtype(dtype)} tensors")


def _zeros(g: Tensor, shape: tuple | None = None) -> Tensor:
    """A zero gradient of ``shape`` (g's by default) and g's dtype, cut from the graph
    (PyTorch's zeros_like(grad))."""
    return expand(zeros_scalar(g), g.shape if shape is None else shape)


def _not_differentiable(op: str):
    """The backward of an op that PyTorch gives no derivative: it raises when reached."""
    def backward(g):
        raise RuntimeError(f"{op}: the derivative is not implemented (PyTorch has none either)")
    return backward


def _node_name(op: str) -> str:
    return op[0].upper() + op[1:]


def _wrap(array) -> Tensor:
    """A result without a gradient (a comparison, a mask), as a Tensor: NumPy's ufuncs
    return scalars for 0-d inputs, which are made 0-d arrays again."""
    return Tensor._wrap(numpy.asarray(array) if isinstance(array, numpy.generic) else array)


def _both(a: Tensor, b: Tensor, grad_a, grad_b) -> tuple:
    """A binary op's gradients, summed back to each operand's shape; ``grad_a()`` and
    ``grad_b()`` are called only for an operand that needs one."""
    return (_sum_to(grad_a(), a.shape) if a.requires_grad else None,
            _sum_to(grad_b(), b.shape) if b.requires_grad else None)


def _unary(op: str, a, forward, backward, of_output: bool = False, quiet: bool = False) -> Tensor:
    """A math function of one tensor: ``forward(xp, x)`` on its array (integer and bool
    inputs become the default float dtype first), and ``backward(g, x)``, which gets the
    input as a tensor, or the op's own output when ``of_output``. ``quiet``: as :func:`_compute`'s."""
    _tensor_input(a, op)
    a = _float(a)
    xp = a._xp
    out = _compute(op, lambda x: forward(xp, x), a, quiet=quiet)
    if of_output:
        return _of_output(out, a, lambda g, result: (backward(g, result),), _node_name(op))
    return _make(out, (a,), lambda g: (backward(g, a),), _node_name(op))


def _of_output(out, a: Tensor, backward, name: str) -> Tensor:
    """Record an op of ``a`` whose ``backward(g, result)`` reads only its output ``out``."""
    return _OutputBackward(out, a, backward, name).record()


class _OutputBackward:
    """The backward of an op that reads only its output. When a graph is being built
    (create_graph), the output is recorded again from its stored values, as an op of
    ``a`` with this same backward: so its own dependence on ``a`` is differentiated too,
    and this stays right after an in-place op (``exp_``) has overwritten ``a``'s memory,
    where computing the op again from ``a`` would not. (A class rather than two closures
    that name each other: their cycle would keep ``a`` alive after the graph is freed.)"""

    __slots__ = ("out", "a", "backward", "name")

    def __init__(self, out, a: Tensor, backward, name: str):
        self.out, self.a, self.backward, self.name = out, a, backward, name

    def record(self) -> Tensor:
        return _make(self.out, (self.a,), self, self.name, (), output=True)

    def __call__(self, g: Tensor) -> tuple:
        return self.backward(g, _saved(self.out, self.record))


# --- arithmetic ---------------------------------------------------------------------

def _alpha(alpha, like: Tensor, op: str) -> Tensor:
    """``alpha`` in the operands' dtype; a float alpha with integer tensors is refused, as in PyTorch."""
    if not backend.is_floating(like.dtype) and isinstance(alpha, (float, numpy.floating)):
        raise RuntimeError(f"{op}: for integral input tensors, argument alpha must not be a floating point number, "
                           f"got {alpha}")
    return _as(alpha, like.dtype, like)


def add(input, other, *, alpha=1) -> Tensor:
    """``input + alpha * other`` with broadcasting."""
    a, b = _operands(input, other, "add")
    if alpha != 1:
        b = mul(b, _alpha(alpha, b, "add"))
    out = _compute("add", operator.add, a, b)
    sa, sb = a.shape, b.shape
    return _make(out, (a, b), lambda g: (_sum_to(g, sa), _sum_to(g, sb)), "Add", ())


def sub(input, other, *, alpha=1) -> Tensor:
    """``input - alpha * other`` with broadcasting; bool operands are refused, as in PyTorch."""
    if builtins.any(isinstance(v, (bool, numpy.bool_)) or isinstance(v, Tensor) and v.dtype.kind == "b"
                    for v in (input, other)):
        raise RuntimeError("sub: subtraction, the `-` operator, with a bool tensor is not supported; to invert a "
                           "mask, use the `~` or `logical_not()` operator instead")
    a, b = _operands(input, other, "sub")
    if alpha != 1:
        b = mul(b, _alpha(alpha, b, "sub"))
    out = _compute("sub", operator.sub, a, b)
    sa, sb = a.shape, b.shape
    return _make(out, (a, b), lambda g: (_sum_to(g, sa), _sum_to(-g, sb)), "Sub", ())


def rsub(input, other, *, alpha=1) -> Tensor:
    """``other - alpha * input``."""
    return sub(other, input, alpha=alpha)


def mul(input, other) -> Tensor:
    """``input * other`` with broadcasting: d/dinput = other, d/dother = input."""
    a, b = _operands(input, other, "mul")
    out = _compute("mul", operator.mul, a, b)
    # Each gradient needs the other operand: save (and compute) only what is needed.
    need_a, need_b = a.requires_grad, b.requires_grad
    saved = (b,) if not need_b else (a,) if not need_a else (a, b)
    return _make(out, (a, b), lambda g: _both(a, b, lambda: g * b, lambda: g * a), "Mul", saved)


def div(input, other, *, rounding_mode=None) -> Tensor:
    """``input / other``: true division (integers give floats), d/dinput = 1/other,
    d/dother = -input/other². With ``rounding_mode`` "trunc" or "floor" the quotient is
    rounded (integers stay integers) and the gradient is zero, as in PyTorch."""
    if rounding_mode is not None:
        a, b, out = _rounded_division(input, other, rounding_mode, "div")
        return _make(out, (a, b), lambda g: _both(a, b, lambda: _zeros(g, a.shape), lambda: _zeros(g, b.shape)),
                     "Div", ())
    a, b = _pair(input, other, "div", floating=True)
    out = _compute("div", operator.truediv, a, b)
    need_b = b.requires_grad
    return _make(out, (a, b), lambda g: _both(a, b, lambda: g / b, lambda: -g * a / (b * b)), "Div",
                 (a, b) if need_b else (b,))


def _rounded_division(input, other, mode, op: str) -> tuple:
    """The operands and their quotient rounded toward zero ("trunc") or down ("floor");
    an integer divisor of zero raises, as in PyTorch."""
    if mode not in ("trunc", "floor"):
        raise RuntimeError(f"{op}: expected rounding_mode to be one of None, 'trunc', or 'floor' but found {mode!r}")
    a, b = _operands(input, other, op)
    xp = a._xp
    if a.dtype.kind == "b":
        raise _unsupported(op, a.dtype)
    if backend.is_floating(a.dtype):
        fn = xp.floor_divide if mode == "floor" else lambda x, y: xp.trunc(x / y)
    else:
        _check_divisor(b, op)
        fn = xp.floor_divide if mode == "floor" else lambda x, y: _trunc_divide_integers(xp, x, y)
    return a, b, _compute(op, fn, a, b, quiet=True)


def _trunc_divide_integers(xp, x, y):
    q = xp.floor_divide(x, y)
    return q + ((q < 0) & (q * y != x))  # an inexact negative quotient was rounded down: one up


def _check_divisor(b: Tensor, op: str) -> None:
    if bool((b.array == 0).any()):
        raise RuntimeError(f"{op}: integer division by zero (ZeroDivisionError)")


def floor_divide(input, other) -> Tensor:
    """``input // other``: the quotient rounded down. PyTorch gives it no derivative;
    ``div(input, other, rounding_mode="floor")`` is the same with a zero gradient."""
    a, b, out = _rounded_division(input, other, "floor", "floor_divide")
    return _make(out, (a, b), _not_differentiable("floor_divide"), "FloorDivide", ())


def _python_remainder(xp, x, y):
    """PyTorch's float remainder: fmod, moved by one divisor where its sign differs from the divisor's."""
    r = xp.fmod(x, y)
    return xp.where((r != 0) & ((y < 0) != (r < 0)), r + y, r)


def _modulo(input, other, op: str, float_fn, int_fn, rounding: str) -> Tensor:
    """remainder and fmod: input - q·other for q the quotient rounded by ``rounding``;
    d/dinput = 1, d/dother = -q."""
    a, b = _operands(input, other, op)
    xp = a._xp
    if a.dtype.kind == "b":
        raise _unsupported(op, a.dtype)
    if not backend.is_floating(a.dtype):
        _check_divisor(b, op)
    fn = float_fn if backend.is_floating(a.dtype) else int_fn
    out = _compute(op, lambda x, y: fn(xp, x, y), a, b, quiet=True)
    return _make(out, (a, b), lambda g: _both(a, b, lambda: g, lambda: -g * div(a, b, rounding_mode=rounding)),
                 _node_name(op))


def remainder(input, other) -> Tensor:
    """Python's ``%``: the remainder has the divisor's sign."""
    return _modulo(input, other, "remainder", _python_remainder, lambda xp, x, y: xp.remainder(x, y), "floor")


def fmod(input, other) -> Tensor:
    """C's fmod: the remainder has the dividend's sign."""
    return _modulo(input, other, "fmod", lambda xp, x, y: xp.fmod(x, y), lambda xp, x, y: xp.fmod(x, y), "trunc")


def neg(input) -> Tensor:
    _tensor_input(input, "neg")
    if input.dtype.kind == "b":
        raise RuntimeError("neg: negation, the `-` operator, on a bool tensor is not supported; to invert a mask, "
                           "use the `~` or `logical_not()` operator instead")
    return _make(-input.array, (input,), lambda g: (-g,), "Neg", ())


def positive(input) -> Tensor:
    """``+input``: the tensor itself, as in PyTorch."""
    _tensor_input(input, "positive")
    if input.dtype.kind == "b":
        raise RuntimeError("positive: the `+` operator, on a bool tensor is not supported")
    return input


def abs(input) -> Tensor:
    """|x|; the gradient is sign(x) (0 at 0), kept attached to x as PyTorch's is."""
    _tensor_input(input, "abs")
    if input.dtype.kind == "b":
        raise _unsupported("abs", input.dtype)
    return _make(input._xp.abs(input.array), (input,), lambda g: (g * sign(input),), "Abs")


def sign(input) -> Tensor:
    """-1, 0 or 1 (0 for NaN and for ±0, as in PyTorch); bool stays bool. The gradient is zero."""
    _tensor_input(input, "sign")
    x, dtype = input.array, input.dtype
    if dtype.kind == "b":
        return _wrap(x.copy())
    out = (x > 0).astype(dtype) - (x < 0).astype(dtype)
    return _make(out, (input,), lambda g: (_zeros(g),), "Sign", ())


def _rounded(op: str, a, forward) -> Tensor:
    """floor, ceil, trunc and round: integers come back as they are (a copy), bool is
    refused, as in PyTorch; the gradient is zero."""
    _tensor_input(a, op)
    if a.dtype.kind == "b":
        raise _unsupported(op, a.dtype)
    if not backend.is_floating(a.dtype):
        return _wrap(a.array.copy())
    xp = a._xp
    out = _compute(op, lambda x: forward(xp, x), a, quiet=True)
    return _make(out, (a,), lambda g: (_zeros(g),), _node_name(op), ())


def floor(input) -> Tensor:
    """The largest integer <= x."""
    return _rounded("floor", input, lambda xp, x: xp.floor(x))


def ceil(input) -> Tensor:
    """The smallest integer >= x."""
    return _rounded("ceil", input, lambda xp, x: xp.ceil(x))


def trunc(input) -> Tensor:
    """x rounded toward zero."""
    return _rounded("trunc", input, lambda xp, x: xp.trunc(x))


def round(input, *, decimals: int = 0) -> Tensor:
    """x rounded half to even, as PyTorch: to ``decimals`` places (negative: to tens,
    hundreds...), by scaling by 10^decimals, rounding, and scaling back."""
    if decimals and isinstance(input, Tensor) and not backend.is_floating(input.dtype):
        raise _unsupported("round with decimals", input.dtype)
    return _rounded("round", input, lambda xp, x: _round_array(xp, x, decimals))


def _round_array(xp, x, decimals: int):
    if decimals == 0:
        return xp.rint(x)
    wide = x.astype(backend.float32) if x.dtype.itemsize == 2 else x  # PyTorch rounds 16-bit floats in float32
    scale = wide.dtype.type(10.0 ** builtins.abs(decimals))
    out = xp.rint(wide * scale) / scale if decimals > 0 else xp.rint(wide / scale) * scale
    return out.astype(x.dtype, copy=False)


def frac(input) -> Tensor:
    """x - trunc(x), with the sign of x; the gradient is 1."""
    _tensor_input(input, "frac")
    if not backend.is_floating(input.dtype):
        raise _unsupported("frac", input.dtype)
    xp = input._xp
    return _make(_compute("frac", lambda x: x - xp.trunc(x), input, quiet=True), (input,), lambda g: (g,), "Frac", ())


def _integer_power(xp, x, y):
    """x ** y for integer arrays, where PyTorch gives a negative exponent a result
    (1 for a base of 1, ±1 for -1, 0 for any other base) and NumPy raises."""
    negative = y < 0
    if not bool(negative.any()):
        return xp.power(x, y)
    out = xp.power(x, xp.where(negative, 0, y))
    of_minus_one = xp.where(y % 2 == 0, 1, -1)
    special = xp.where(x == 1, 1, xp.where(x == -1, of_minus_one, 0))
    return xp.where(negative, special, out).astype(out.dtype, copy=False)


def _power_of_scalar(xp, x, e):
    """x ** e for a number e, with PyTorch's special cases (sqrt, rsqrt, reciprocal, the
    square and cube as products): their results differ from pow's at -0.0."""
    if e == 0.5:
        return xp.sqrt(x)
    if e == -0.5:
        return 1 / xp.sqrt(x)
    if e == 3:
        return x * x * x
    if e == -1:
        return 1 / x
    if e == -2:
        return 1 / (x * x)
    return xp.power(x, e)


def pow(input, exponent) -> Tensor:
    """``input ** exponent``, as PyTorch: d/dinput = exponent · input^(exponent-1), 0 where
    the exponent is 0 (x⁰ = 1 has gradient 0 even at x = 0); d/dexponent =
    input^exponent · log(input), 0 where input is 0 and the exponent >= 0 (NaN for a
    negative base, whose log is NaN)."""
    if isinstance(input, Tensor) and not isinstance(exponent, Tensor):
        return _pow_scalar(input, exponent)
    a, b = _operands(input, exponent, "pow")
    xp = a._xp
    power = xp.power if backend.is_floating(a.dtype) else lambda x, y: _integer_power(xp, x, y)
    out = _compute("pow", power, a, b, quiet=True)

    def backward(g):
        return _both(a, b, lambda: where(b == 0, 0.0, g * (b * pow(a, b - 1))),
                     lambda: g * where((a == 0) & (b >= 0), 0.0, _saved(out, lambda: pow(a, b)) * log(a)))
    return _make(out, (a, b), backward, "Pow", output=True)


def _pow_scalar(a: Tensor, e) -> Tensor:
    dtype = _result_type(a, e)
    if not backend.is_floating(dtype) and e < 0:
        raise RuntimeError(f"pow: integers to negative integer powers are not allowed (exponent {e})")
    if a.dtype != dtype:
        a = to(a, dtype)
    if e == 2:  # the most common power, without the generic power's cost
        return mul(a, a)
    out = _compute("pow", lambda x: _power_of_scalar(a._xp, x, e), a, quiet=True)
    if e == 0:
        return _make(out, (a,), lambda g: (_zeros(g),), "Pow", ())
    return _make(out, (a,), lambda g: (g * (e * pow(a, e - 1)),), "Pow")


def float_power(input, exponent) -> Tensor:
    """``input ** exponent`` computed in float64 (the result is float64), as in PyTorch."""
    def wide(v):
        return to(v, backend.float64) if isinstance(v, Tensor) else float(v)
    return pow(wide(input), wide(exponent))


def square(input) -> Tensor:
    """x²; integers stay integers (bool gives int64), as in PyTorch."""
    _tensor_input(input, "square")
    return pow(input, 2)


def reciprocal(input) -> Tensor:
    """1/x; d/dx = -1/x²."""
    return _unary("reciprocal", input, lambda xp, x: 1 / x, lambda g, r: -g * (r * r), of_output=True,
                  quiet=True)


def copysign(input, other) -> Tensor:
    """|input| with the sign of ``other`` (a float result). d/dinput = ±1, 0 where input
    is 0; d/dother = 0."""
    a, b = _pair(input, other, "copysign", floating=True)
    out = _compute("copysign", a._xp.copysign, a, b)

    def backward(g):
        return _both(a, b, lambda: g * where(a == 0, 0.0, _saved(out, lambda: copysign(a, b)) / a),
                     lambda: _zeros(g, b.shape))
    return _make(out, (a, b), backward, "Copysign", output=True)


def lerp(input, end, weight) -> Tensor:
    """``input + weight * (end - input)`` (weight a number or a tensor), computed as PyTorch
    does, from whichever end is nearer, so that weight 1 gives ``end`` exactly.
    d/dinput = 1 - weight, d/dend = weight, d/dweight = end - input."""
    _tensor_input(input, "lerp")
    for name, v in (("end", end), ("weight", weight)):
        if isinstance(v, Tensor) and v.dtype != input.dtype:
            raise RuntimeError(f"lerp: expected dtype {input.dtype} for `{name}` but got dtype {v.dtype}")
    if not backend.is_floating(input.dtype):
        raise _unsupported("lerp", input.dtype)
    s, e, w = _prepare("lerp", input, end, weight)
    xp = s._xp
    out = _compute("lerp", lambda x, y, z: xp.where(xp.abs(z) < 0.5, x + z * (y - x), y - (y - x) * (1 - z)),
                   s, e, w)

    def backward(g):
        return (_sum_to(g * (1 - w), s.shape) if s.requires_grad else None,
                _sum_to(g * w, e.shape) if e.requires_grad else None,
                _sum_to(g * (e - s), w.shape) if w.requires_grad else None)
    return _make(out, (s, e, w), backward, "Lerp")


def _floating_pair(input, other, op: str) -> tuple[Tensor, Tensor]:
    a, b = _pair(input, other, op)
    if not backend.is_floating(a.dtype):
        raise _unsupported(op, a.dtype)
    return a, b


def logaddexp(input, other) -> Tensor:
    """log(e^input + e^other), without overflow. d/dinput = 1 / (1 + e^(other - input))."""
    a, b = _floating_pair(input, other, "logaddexp")
    out = _compute("logaddexp", a._xp.logaddexp, a, b)
    return _make(out, (a, b), lambda g: _both(a, b, lambda: g / (1 + exp(b - a)), lambda: g / (1 + exp(a - b))),
                 "Logaddexp")


def logaddexp2(input, other) -> Tensor:
    """log2(2^input + 2^other), without overflow. d/dinput = 1 / (1 + 2^(other - input))."""
    a, b = _floating_pair(input, other, "logaddexp2")
    out = _compute("logaddexp2", a._xp.logaddexp2, a, b)
    return _make(out, (a, b), lambda g: _both(a, b, lambda: g / (1 + exp2(b - a)), lambda: g / (1 + exp2(a - b))),
                 "Logaddexp2")


def hypot(input, other) -> Tensor:
    """√(input² + other²), without overflow. d/dinput = input / hypot."""
    a, b = _floating_pair(input, other, "hypot")
    out = _compute("hypot", a._xp.hypot, a, b)

    def backward(g):
        h = _saved(out, lambda: hypot(a, b))
        return _both(a, b, lambda: g * a / h, lambda: g * b / h)
    return _make(out, (a, b), backward, "Hypot", output=True)


def atan2(input, other) -> Tensor:
    """The angle of the point (other, input), in [-π, π]. d/dinput = other / (input² + other²),
    d/dother = -input / (input² + other²), both 0 at the origin, as in PyTorch."""
    a, b = _pair(input, other, "atan2", floating=True)
    out = _compute("atan2", a._xp.arctan2, a, b)

    def backward(g):
        r = reciprocal(a * a + b * b)
        r = where(isinf(r), 0.0, r)
        return _both(a, b, lambda: g * b * r, lambda: -g * a * r)
    return _make(out, (a, b), backward, "Atan2")


def xlogy(input, other) -> Tensor:
    """input · log(other), and 0 where input is 0 (unless other is NaN), as in PyTorch.
    d/dinput = log(other) (0 where input is 0), d/dother = input / other."""
    a, b = _pair(input, other, "xlogy", floating=True)
    xp = a._xp
    out = _compute("xlogy", lambda x, y: xp.where((x == 0) & ~xp.isnan(y), 0, x * xp.log(y)), a, b, quiet=True)
    return _make(out, (a, b), lambda g: _both(a, b, lambda: g * xlogy(to(a != 0, g.dtype), b), lambda: g * a / b),
                 "Xlogy")


def addcmul(input, tensor1, tensor2, *, value=1) -> Tensor:
    """input + value · tensor1 · tensor2, broadcast together."""
    x, t1, t2 = _prepare("addcmul", input, tensor1, tensor2)
    if value != 1:
        t1 = mul(t1, _as(value, x.dtype, x))
    return add(x, mul(t1, t2))


def addcdiv(input, tensor1, tensor2, *, value=1) -> Tensor:
    """input + value · tensor1 / tensor2, broadcast together (true division; integer
    tensor1 and tensor2 are refused, as in PyTorch)."""
    if builtins.all(isinstance(t, Tensor) and not backend.is_floating(t.dtype) for t in (tensor1, tensor2)):
        raise RuntimeError("addcdiv: integer division with addcdiv is not supported; use "
                           "input + value * torch.div(tensor1, tensor2, rounding_mode='trunc') for the old behaviour")
    x, t1, t2 = _prepare("addcdiv", input, tensor1, tensor2)
    if value != 1:
        t1 = mul(t1, _as(value, x.dtype, x))
    return add(x, div(t1, t2))


def _pick(xp, pick: str, x, y):
    """NumPy's maximum or minimum (NaN wins), keeping x at a tie as PyTorch does: the
    two zeros tie, and max(-0.0, 0.0) is -0.0."""
    out = getattr(xp, pick)(x, y)
    return xp.where(x == y, x, out) if backend.is_floating(out.dtype) else out


def _extremum(input, other, op: str, pick: str, a_loses, b_loses) -> Tensor:
    """maximum and minimum. The gradient goes to the operand picked; at a tie each gets
    half of it, and where either is NaN both get all of it, as in PyTorch."""
    a, b = _operands(input, other, op)
    xp = a._xp
    out = _compute(op, lambda x, y: _pick(xp, pick, x, y), a, b)

    def backward(g):
        x, y = a.array, b.array
        share = where(_wrap(x == y), g / 2, g)
        return _both(a, b, lambda: where(_wrap(a_loses(x, y)), 0.0, share),
                     lambda: where(_wrap(b_loses(x, y)), 0.0, share))
    return _make(out, (a, b), backward, _node_name(op))


def maximum(input, other) -> Tensor:
    """The larger of each pair (NaN where either is NaN)."""
    return _extremum(input, other, "maximum", "maximum", lambda x, y: x < y, lambda x, y: x > y)


def minimum(input, other) -> Tensor:
    """The smaller of each pair (NaN where either is NaN)."""
    return _extremum(input, other, "minimum", "minimum", lambda x, y: x > y, lambda x, y: x < y)


def _nan_ignoring(input, other, op: str, pick: str, input_wins) -> Tensor:
    """fmax and fmin: NaN counts as missing. The gradient goes to input where it wins or
    ties or other is NaN, else to other, as in PyTorch."""
    a, b = _operands(input, other, op)
    xp = a._xp
    out = _compute(op, getattr(xp, pick), a, b)

    def backward(g):
        wins = _wrap(input_wins(a.array, b.array) | xp.isnan(b.array))
        return _both(a, b, lambda: where(wins, g, 0.0), lambda: where(wins, 0.0, g))
    return _make(out, (a, b), backward, _node_name(op))


def fmax(input, other) -> Tensor:
    """The larger of each pair, ignoring NaN (NaN only where both are)."""
    return _nan_ignoring(input, other, "fmax", "fmax", lambda x, y: x >= y)


def fmin(input, other) -> Tensor:
    """The smaller of each pair, ignoring NaN (NaN only where both are)."""
    return _nan_ignoring(input, other, "fmin", "fmin", lambda x, y: x <= y)


def clamp(input, min=None, max=None) -> Tensor:
    """Limit values to [min, max] (numbers or tensors, broadcast; where min > max the result
    is max), as PyTorch: min(max(input, min), max). The gradient goes to input where
    min <= input <= max, to a tensor ``min`` where it is active (input < min < max), and
    to a tensor ``max`` where it is (input > max, or max < min)."""
    if min is None and max is None:
        raise RuntimeError("clamp: at least one of 'min' or 'max' must not be None")
    x, lo, hi = _prepare("clamp", input, min, max)
    bounds = [t for t in (lo, hi) if t is not None]
    xp = x._xp

    def forward(v, *limits):
        out = v
        if lo is not None:
            out = _pick(xp, "maximum", out, limits[0])
        if hi is not None:
            out = _pick(xp, "minimum", out, limits[-1])
        return out
    out = _compute("clamp", forward, x, *bounds)

    def backward(g):
        v = x.array
        inside = xp.ones((), dtype=bool)
        if lo is not None:
            inside = inside & (v >= lo.array)
        if hi is not None:
            inside = inside & (v <= hi.array)
        grads = [_sum_to(where(_wrap(inside), g, 0.0), x.shape) if x.requires_grad else None]
        if lo is not None:
            active = v < lo.array
            if hi is not None:
                active = active & (lo.array < hi.array)
            grads.append(_sum_to(where(_wrap(active), g, 0.0), lo.shape) if lo.requires_grad else None)
        if hi is not None:
            active = v > hi.array
            if lo is not None:
                active = active | (hi.array < lo.array)
            grads.append(_sum_to(where(_wrap(active), g, 0.0), hi.shape) if hi.requires_grad else None)
        return tuple(grads)
    return _make(out, (x, *bounds), backward, "Clamp")


def clamp_min(input, min) -> Tensor:
    return clamp(input, min=min)


def clamp_max(input, max) -> Tensor:
    return clamp(input, max=max)


def where(condition, input=None, other=None):
    """``input`` where ``condition`` holds, else ``other``: all three broadcast, and either
    branch may be a Python number (the result dtype is PyTorch's: ``where(c, x, 0)`` keeps
    x's). ``where(condition)`` alone gives the indices of its True entries, one tensor
    per dim, as ``nonzero(as_tuple=True)``."""
    if not isinstance(condition, Tensor):
        raise TypeError(f"where: condition must be a bool Tensor, got {type(condition).__name__}")
    xp = condition._xp
    if input is None and other is None:
        return tuple(_wrap(i.astype(backend.int64)) for i in xp.nonzero(xp.atleast_1d(condition.array)))
    if input is None or other is None:
        raise TypeError("where: expected both input and other (or neither)")
    if condition.dtype.kind != "b":
        raise RuntimeError(f"where: expected condition to be a bool tensor, got a tensor with dtype {condition.dtype}")
    a, b = _prepare("where", input, other, like=condition)
    if a._xp is not xp:
        raise RuntimeError(f"where: expected all tensors on the same device, got {condition.device} and {a.device}")
    out = _compute("where", xp.where, condition, a, b)

    def backward(g):
        zero = zeros_scalar(g)
        return _both(a, b, lambda: where(condition, g, zero), lambda: where(condition, zero, g))
    return _make(out, (a, b), backward, "Where", ())


# --- math functions -------------------------------------------------------------------

_LN2, _LN10 = math.log(2.0), math.log(10.0)
_TWO_OVER_SQRT_PI = 2 / math.sqrt(math.pi)


def exp(input) -> Tensor:
    """e^x; its derivative is itself."""
    return _unary("exp", input, lambda xp, x: xp.exp(x), lambda g, e: g * e, of_output=True)


def exp2(input) -> Tensor:
    """2^x; d/dx = 2^x · ln 2."""
    return _unary("exp2", input, lambda xp, x: xp.exp2(x), lambda g, e: g * e * _LN2, of_output=True)


def expm1(input) -> Tensor:
    """e^x - 1, accurate for small x; d/dx = e^x."""
    return _unary("expm1", input, lambda xp, x: xp.expm1(x), lambda g, e: g * (e + 1), of_output=True)


def log(input) -> Tensor:
    """Natural logarithm; d/dx = 1/x."""
    return _unary("log", input, lambda xp, x: xp.log(x), lambda g, x: g / x, quiet=True)


def log2(input) -> Tensor:
    """Base-2 logarithm; d/dx = 1 / (x ln 2)."""
    return _unary("log2", input, lambda xp, x: xp.log2(x), lambda g, x: g / (x * _LN2), quiet=True)


def log10(input) -> Tensor:
    """Base-10 logarithm; d/dx = 1 / (x ln 10)."""
    return _unary("log10", input, lambda xp, x: xp.log10(x), lambda g, x: g / (x * _LN10), quiet=True)


def log1p(input) -> Tensor:
    """log(1 + x), accurate for small x; d/dx = 1 / (1 + x)."""
    return _unary("log1p", input, lambda xp, x: xp.log1p(x), lambda g, x: g / (x + 1), quiet=True)


def sqrt(input) -> Tensor:
    """√x; d/dx = 1 / (2√x)."""
    return _unary("sqrt", input, lambda xp, x: xp.sqrt(x), lambda g, s: g / (2 * s), of_output=True,
                  quiet=True)


def rsqrt(input) -> Tensor:
    """1/√x; d/dx = -1/(2 x√x)."""
    return _unary("rsqrt", input, lambda xp, x: 1 / xp.sqrt(x), lambda g, r: -0.5 * g * (r * r * r),
                  of_output=True, quiet=True)


def sin(input) -> Tensor:
    return _unary("sin", input, lambda xp, x: xp.sin(x), lambda g, x: g * cos(x))


def cos(input) -> Tensor:
    return _unary("cos", input, lambda xp, x: xp.cos(x), lambda g, x: g * -sin(x))


def tan(input) -> Tensor:
    """tan x; d/dx = 1 + tan² x."""
    return _unary("tan", input, lambda xp, x: xp.tan(x), lambda g, t: g * (1 + t * t), of_output=True)


def asin(input) -> Tensor:
    """arcsin x; d/dx = 1 / √(1 - x²)."""
    return _unary("asin", input, lambda xp, x: xp.arcsin(x), lambda g, x: g * rsqrt(1 - x * x), quiet=True)


def acos(input) -> Tensor:
    """arccos x; d/dx = -1 / √(1 - x²)."""
    return _unary("acos", input, lambda xp, x: xp.arccos(x), lambda g, x: g * -rsqrt(1 - x * x), quiet=True)


def atan(input) -> Tensor:
    """arctan x; d/dx = 1 / (1 + x²)."""
    return _unary("atan", input, lambda xp, x: xp.arctan(x), lambda g, x: g / (x * x + 1))


def sinh(input) -> Tensor:
    return _unary("sinh", input, lambda xp, x: xp.sinh(x), lambda g, x: g * cosh(x))


def cosh(input) -> Tensor:
    return _unary("cosh", input, lambda xp, x: xp.cosh(x), lambda g, x: g * sinh(x))


def tanh(input) -> Tensor:
    """tanh x; d/dx = 1 - tanh² x."""
    return _unary("tanh", input, lambda xp, x: xp.tanh(x), lambda g, t: g * (1 - t * t), of_output=True)


def asinh(input) -> Tensor:
    """arsinh x; d/dx = 1 / √(x² + 1)."""
    return _unary("asinh", input, lambda xp, x: xp.arcsinh(x), lambda g, x: g * rsqrt(x * x + 1))


def acosh(input) -> Tensor:
    """arcosh x; d/dx = 1 / √(x² - 1)."""
    return _unary("acosh", input, lambda xp, x: xp.arccosh(x), lambda g, x: g * rsqrt(x * x - 1), quiet=True)


def atanh(input) -> Tensor:
    """artanh x; d/dx = 1 / (1 - x²)."""
    return _unary("atanh", input, lambda xp, x: xp.arctanh(x), lambda g, x: g / (1 - x * x), quiet=True)


def _sigmoid_array(xp, x):
    e = xp.exp(-xp.abs(x))  # never overflows: the exponent is <= 0
    return xp.where(x >= 0, 1 / (1 + e), e / (1 + e)).astype(x.dtype, copy=False)


def sigmoid(input) -> Tensor:
    """σ(x) = 1 / (1 + e^-x), computed without overflow; d/dx = σ(1 - σ)."""
    return _unary("sigmoid", input, _sigmoid_array, lambda g, s: g * s * (1 - s), of_output=True)


def logit(input, eps: float | None = None) -> Tensor:
    """log(x / (1 - x)), the inverse of sigmoid; with ``eps``, x is first clamped to
    [eps, 1 - eps] (and the gradient is 0 outside). d/dx = 1 / (x (1 - x)); without
    eps it is NaN outside [0, 1], as in PyTorch."""
    def forward(xp, x):
        z = x if eps is None else xp.clip(x, eps, 1 - eps)
        return xp.log(z / (1 - z))

    def backward(g, x):
        outside = logical_or(x < (0 if eps is None else eps), x > (1 if eps is None else 1 - eps))
        ends = logical_or(x == 0, x == 1)  # g / +0.0: ±inf with g's sign, as PyTorch's (1/-0.0 would give -inf)
        return where(outside, math.nan if eps is None else 0.0, g / where(ends, 0.0, x * (1 - x)))
    return _unary("logit", input, forward, backward, quiet=True)


def relu(input) -> Tensor:
    """max(x, 0); the gradient is 1 where x > 0 and 0 elsewhere (0 at x = 0).

    The backward reads the output (out > 0 exactly where x > 0), as PyTorch's does,
    so that ``relu_`` can overwrite the input."""
    _tensor_input(input, "relu")
    if input.dtype.kind == "b":
        raise RuntimeError("relu: bool inputs are not supported")
    x = input.array
    out = input._xp.where(x < 0, 0, x)  # max(x, 0) that keeps -0.0 and NaN, as PyTorch's
    return _of_output(out, input, lambda g, result: (_threshold_backward(g, result),), "Relu")


def _threshold_backward(g: Tensor, out: Tensor) -> Tensor:
    """0 where ``out`` <= 0, else ``g`` (also where out is NaN): relu's backward. It is an op
    of ``out`` too (with a zero gradient), as PyTorch's threshold_backward is, so that the
    gradient of relu's gradient reaches relu's input, as zeros, instead of finding no path
    there."""
    result = g._xp.where(out.array <= 0, 0, g.array)
    return _make(result, (g, out), lambda gg: (_threshold_backward(gg, out), _zeros(gg, out.shape)),
                 "ThresholdBackward", (out,))


def erf(input) -> Tensor:
    """The error function; d/dx = 2/√π · e^(-x²)."""
    return _unary("erf", input, lambda xp, x: _erf_array(x), lambda g, x: g * _TWO_OVER_SQRT_PI * exp(-(x * x)))


def erfc(input) -> Tensor:
    """1 - erf(x), accurate where it is small; d/dx = -2/√π · e^(-x²)."""
    return _unary("erfc", input, lambda xp, x: _special(xp, "erfc", x, _erfc_fallback),
                  lambda g, x: g * -_TWO_OVER_SQRT_PI * exp(-(x * x)))


def erfinv(input) -> Tensor:
    """The inverse of erf on (-1, 1) (±inf at ±1, and -0.0 at -0.0); d/dx = √π/2 · e^(erfinv(x)²)."""
    return _unary("erfinv", input, lambda xp, x: xp.copysign(_special(xp, "erfinv", x, _erfinv_fallback), x),
                  lambda g, y: g * (math.sqrt(math.pi) / 2) * exp(y * y), of_output=True, quiet=True)


def sinc(input) -> Tensor:
    """sin(πx) / (πx), and 1 at 0. d/dx = (πx cos πx - sin πx) / (πx²), 0 where πx² is 0."""
    def forward(xp, x):
        px = x * math.pi
        return xp.where(x == 0, 1, xp.sin(px) / px).astype(x.dtype, copy=False)

    def backward(g, x):
        px, sq = x * math.pi, x * x * math.pi
        return where(sq == 0, 0.0, g * (px * cos(px) - sin(px)) / sq)
    return _unary("sinc", input, forward, backward, quiet=True)


def deg2rad(input) -> Tensor:
    return _unary("deg2rad", input, lambda xp, x: x * (math.pi / 180), lambda g, x: g * (math.pi / 180))


def rad2deg(input) -> Tensor:
    return _unary("rad2deg", input, lambda xp, x: x * (180 / math.pi), lambda g, x: g * (180 / math.pi))


def nan_to_num(input, nan: float = 0.0, posinf: float | None = None, neginf: float | None = None) -> Tensor:
    """NaN, +inf and -inf replaced by ``nan``, ``posinf`` and ``neginf`` (by default the
    dtype's largest and lowest finite values); integers come back as they are. The
    gradient passes where x is finite."""
    _tensor_input(input, "nan_to_num")
    x, dtype, xp = input.array, input.dtype, input._xp
    if not backend.is_floating(dtype):
        return _wrap(x.copy())
    info = numpy.finfo(dtype)  # the dtype's limits, not an array op
    high = info.max if posinf is None else posinf
    low = info.min if neginf is None else neginf
    out = xp.where(xp.isnan(x), nan, xp.where(x == math.inf, high, xp.where(x == -math.inf, low, x)))
    finite = _wrap(xp.isfinite(x))
    return _make(out.astype(dtype, copy=False), (input,), lambda g: (g * to(finite, g.dtype),), "NanToNum", ())


def heaviside(input, values) -> Tensor:
    """0 where input < 0, ``values`` where it is 0, 1 where it is > 0. Not differentiable,
    as in PyTorch; input and values must have one dtype."""
    _tensor_input(input, "heaviside")
    if not isinstance(values, Tensor) or values.dtype != input.dtype:
        raise RuntimeError(f"heaviside: values must be a tensor of the input's dtype {input.dtype}, got "
                           f"{getattr(values, 'dtype', type(values).__name__)}")
    xp = input._xp
    out = _compute("heaviside", lambda x, v: xp.where(x == 0, v, x > 0).astype(x.dtype, copy=False), input, values)
    return _make(out, (input, values), _not_differentiable("heaviside"), "Heaviside", ())


# Special functions: SciPy's (CuPy's) where installed, exact in float32 and float64;
# otherwise NumPy-only formulas accurate to float32's resolution.

def _special(xp, name: str, x, fallback):
    """``name`` from scipy.special (or cupyx's) on ``x`` (16-bit floats in float32), or
    without SciPy ``fallback(xp, x)`` evaluated in float64, so that its own rounding
    stays below float32's resolution."""
    special = backend.special_functions(xp)
    if special is None:
        return fallback(xp, x.astype(backend.float64)).astype(x.dtype, copy=False)
    return getattr(special, name)(x.astype(backend.float32) if x.dtype.itemsize == 2 else x).astype(x.dtype,
                                                                                                  copy=False)


def _polynomial(t, coefficients):
    """Σ c_i t^i by Horner's rule, the coefficients listed from the highest power down."""
    out = coefficients[0]
    for c in coefficients[1:]:
        out = out * t + c
    return out


# erfc(z) = t · exp(-z² + P(t)) with t = 1 / (1 + z/2), for z >= 0: relative error
# below 1.2e-7 everywhere (Numerical Recipes' erfcc, after Chebyshev fitting).
_ERFC = (0.17087277, -0.82215223, 1.48851587, -1.13520398, 0.27886807, -0.18628806, 0.09678418, 0.37409196,
         1.00002368, -1.26551223)


def _erfc_fallback(xp, x):
    z = xp.abs(x)
    t = 1 / (1 + 0.5 * z)
    tail = t * xp.exp(-z * z + _polynomial(t, _ERFC))
    return xp.where(x >= 0, tail, 2 - tail).astype(x.dtype, copy=False)


# erfinv(y) = y · P(w), w = -log(1 - y²), by two polynomials (M. Giles, "Approximating
# the erfinv function", GPU Computing Gems, 2011): within float32's resolution.
_ERFINV_CENTRAL = (2.81022636e-08, 3.43273939e-07, -3.5233877e-06, -4.39150654e-06, 0.00021858087,
                   -0.00125372503, -0.00417768164, 0.246640727, 1.50140941)
_ERFINV_TAIL = (-0.000200214257, 0.000100950558, 0.00134934322, -0.00367342844, 0.00573950773, -0.0076224613,
                0.00943887047, 1.00167406, 2.83297682)


def _erfinv_fallback(xp, y):
    w = -xp.log((1 - y) * (1 + y))
    central = w < 5
    p = xp.where(central, _polynomial(w - 2.5, _ERFINV_CENTRAL),
                 _polynomial(xp.sqrt(xp.where(central, 5, w)) - 3, _ERFINV_TAIL))
    return xp.where(xp.abs(y) == 1, y * math.inf, p * y).astype(y.dtype, copy=False)


_ERF_CHUNK = 1 << 15  # elements: a chunk's temporaries stay in the CPU's cache (about 3x faster on GELU-sized arrays)


def _erf_array(x):
    """erf of an array. NumPy has none: Abramowitz and Stegun's formula 7.1.26
    (within 1.5e-7, below float32's resolution, in place to spare memory
    traffic), except in float64, where SciPy's (or CuPy's) exact erf is used
    when installed. On the CPU the array is processed in cache-sized chunks;
    on a GPU in one piece (one kernel per step)."""
    xp = backend.xp_of(x)
    special = backend.special_functions(xp) if x.dtype == numpy.float64 else None
    if special is not None:
        return special.erf(x)
    flat = x.reshape(-1)  # 1-d: ufuncs on 0-d arrays return scalars, which out= refuses
    out = xp.empty(flat.shape, dtype=x.dtype)
    step = _ERF_CHUNK if backend.device_of(x).type == "cpu" else builtins.max(flat.size, 1)
    for start in range(0, flat.size, step):
        _erf_into(xp, flat[start:start + step], out[start:start + step])
    return out.reshape(x.shape)


def _erf_into(xp, x, out) -> None:
    """Write erf(x) into ``out`` (1-d arrays of one dtype) by formula 7.1.26."""
    z = xp.abs(x)
    t = z * 0.3275911
    t += 1
    xp.reciprocal(t, out=t)
    poly = t * 1.061405429
    for a in (-1.453152027, 1.421413741, -0.284496736, 0.254829592):
        poly += a
        poly *= t
    xp.multiply(z, z, out=z)
    xp.negative(z, out=z)
    xp.exp(z, out=z)
    poly *= z  # erfc(|x|)
    xp.subtract(1, poly, out=poly)
    xp.copysign(poly, x, out=out)


# --- comparisons and logic ---------------------------------------------------------------

def _comparison(op: str, ufunc: str):
    def compare(input, other) -> Tensor:
        a, b = _operands(input, other, op)
        return _wrap(_compute(op, getattr(a._xp, ufunc), a, b))
    compare.__name__ = compare.__qualname__ = op
    compare.__doc__ = f"Elementwise ``{ufunc}`` of the two operands (broadcast, promoted): a bool tensor."
    return compare


eq, ne, lt, le, gt, ge = (_comparison(op, ufunc) for op, ufunc in (
    ("eq", "equal"), ("ne", "not_equal"), ("lt", "less"), ("le", "less_equal"), ("gt", "greater"),
    ("ge", "greater_equal")))
not_equal, less, less_equal, greater, greater_equal = ne, lt, le, gt, ge
logical_and, logical_or, logical_xor = (_comparison(op, op) for op in ("logical_and", "logical_or", "logical_xor"))


def logical_not(input) -> Tensor:
    _tensor_input(input, "logical_not")
    return _wrap(input._xp.logical_not(input.array))


def equal(input, other) -> bool:
    """True when both have the same shape and the same values (NaN equals nothing)."""
    a, b = _operands(input, other, "equal")
    return a.shape == b.shape and bool(a._xp.all(a.array == b.array))


def isclose(input, other, rtol: float = 1e-05, atol: float = 1e-08, equal_nan: bool = False) -> Tensor:
    """|input - other| <= atol + rtol · |other|, elementwise (an infinity is close only to
    itself, NaN only to NaN and only with ``equal_nan``). Both must have one dtype."""
    if isinstance(input, Tensor) and isinstance(other, Tensor) and input.dtype != other.dtype:
        raise RuntimeError(f"isclose: {input.dtype} did not match {other.dtype}")
    if rtol < 0 or atol < 0:
        raise RuntimeError(f"isclose: rtol and atol must be greater than or equal to zero, got {rtol} and {atol}")
    a, b = _operands(input, other, "isclose")
    xp = a._xp

    def close(x, y):
        same = x == y
        if x.dtype.kind == "b":
            return same
        if not backend.is_floating(x.dtype):
            x, y = x.astype(backend.float64), y.astype(backend.float64)
        error = xp.abs(x - y)
        same = same | (xp.isfinite(error) & (error <= atol + rtol * xp.abs(y)))
        return same | (xp.isnan(x) & xp.isnan(y)) if equal_nan else same
    return _wrap(_compute("isclose", close, a, b, quiet=True))


def allclose(input, other, rtol: float = 1e-05, atol: float = 1e-08, equal_nan: bool = False) -> bool:
    """Whether :func:`isclose` holds everywhere."""
    return bool(isclose(input, other, rtol, atol, equal_nan).array.all())


def _predicate(op: str, fn):
    def predicate(input) -> Tensor:
        _tensor_input(input, op)
        return _wrap(fn(input._xp, input.array))
    predicate.__name__ = predicate.__qualname__ = op
    return predicate


isnan = _predicate("isnan", lambda xp, x: xp.isnan(x))
isinf = _predicate("isinf", lambda xp, x: xp.isinf(x))
isposinf = _predicate("isposinf", lambda xp, x: x == math.inf)
isneginf = _predicate("isneginf", lambda xp, x: x == -math.inf)
isfinite = _predicate("isfinite", lambda xp, x: xp.isfinite(x))
isreal = _predicate("isreal", lambda xp, x: xp.ones(x.shape, dtype=bool))  # no complex dtypes here
signbit = _predicate("signbit", lambda xp, x: xp.zeros(x.shape, dtype=bool) if x.dtype.kind == "b" else xp.signbit(x))


# --- bitwise ------------------------------------------------------------------------------

def _integral(a: Tensor, op: str) -> None:
    if backend.is_floating(a.dtype):
        raise _unsupported(op, a.dtype)


def _bitwise(op: str):
    def bitwise(input, other) -> Tensor:
        a, b = _operands(input, other, op)
        _integral(a, op)
        return _wrap(_compute(op, getattr(a._xp, op), a, b))
    bitwise.__name__ = bitwise.__qualname__ = op
    bitwise.__doc__ = "Bitwise on integer tensors, logical on bool tensors; floats are refused."
    return bitwise


bitwise_and, bitwise_or, bitwise_xor = (_bitwise(op) for op in ("bitwise_and", "bitwise_or", "bitwise_xor"))


def bitwise_not(input) -> Tensor:
    """~x on integer tensors, logical not on bool tensors; floats are refused."""
    _tensor_input(input, "bitwise_not")
    _integral(input, "bitwise_not")
    return _wrap(input._xp.invert(input.array))


def _shift(input, other, op: str, left: bool) -> Tensor:
    """A shift of integer tensors by ``other`` bits, as PyTorch: by a negative count or
    one of at least the width, left shifts give 0 and right shifts the sign (0 or -1)."""
    a, b = _operands(input, other, op)
    _integral(a, op)
    if a.dtype.kind == "b":
        raise _unsupported(op, a.dtype)
    xp, bits, dtype = a._xp, 8 * a.dtype.itemsize, a.dtype

    def shift(x, n):
        valid = (n >= 0) & (n < bits)
        n = xp.where(valid, n, 0)
        if left:
            return xp.where(valid, xp.left_shift(x, n), 0).astype(dtype, copy=False)
        return xp.where(valid, xp.right_shift(x, n), x >> (bits - 1) if dtype.kind == "i" else 0).astype(dtype,
                                                                                                        copy=False)
    return _wrap(_compute(op, shift, a, b))


def bitwise_left_shift(input, other) -> Tensor:
    return _shift(input, other, "bitwise_left_shift", left=True)


def bitwise_right_shift(input, other) -> Tensor:
    return _shift(input, other, "bitwise_right_shift", left=False)


def _invert(self) -> Tensor:
    if backend.is_floating(self.dtype):
        raise TypeError("~ (operator.invert) is only implemented on integer and Boolean-type tensors")
    return bitwise_not(self)


# --- names, methods and operators -----------------------------------------------------------

absolute, negative, sgn, fix, clip = abs, neg, sign, trunc, clamp
subtract, multiply, divide, true_divide = sub, mul, div, div
arcsin, arccos, arctan, arctan2, arcsinh, arccosh, arctanh = asin, acos, atan, atan2, asinh, acosh, atanh

__all__ = [
    # arithmetic
    "add", "sub", "subtract", "rsub", "mul", "multiply", "div", "divide", "true_divide", "floor_divide",
    "remainder", "fmod", "neg", "negative", "positive", "abs", "absolute", "sign", "sgn", "floor", "ceil", "trunc",
    "fix", "round", "frac", "pow", "float_power", "square", "reciprocal", "copysign", "lerp", "logaddexp",
    "logaddexp2", "hypot", "atan2", "arctan2", "xlogy", "addcmul", "addcdiv", "maximum", "minimum", "fmax", "fmin",
    "clamp", "clip", "clamp_min", "clamp_max", "where",
    # math functions
    "exp", "exp2", "expm1", "log", "log2", "log10", "log1p", "sqrt", "rsqrt", "sin", "cos", "tan", "asin", "acos",
    "atan", "arcsin", "arccos", "arctan", "sinh", "cosh", "tanh", "asinh", "acosh", "atanh", "arcsinh", "arccosh",
    "arctanh", "sigmoid", "logit", "relu", "erf", "erfc", "erfinv", "sinc", "deg2rad", "rad2deg", "nan_to_num",
    "heaviside",
    # comparisons and logic
    "eq", "ne", "lt", "le", "gt", "ge", "not_equal", "less", "less_equal", "greater", "greater_equal", "equal",
    "isclose", "allclose", "isnan", "isinf", "isposinf", "isneginf", "isfinite", "isreal", "signbit",
    "logical_and", "logical_or", "logical_xor", "logical_not",
    # bitwise
    "bitwise_and", "bitwise_or", "bitwise_xor", "bitwise_not", "bitwise_left_shift", "bitwise_right_shift",
]


def _in_place(name: str, fn):
    """The method ``name`` (say ``floor_``): ``fn``'s result written into the tensor, which
    keeps its dtype; a result of a higher kind (a float into an integer tensor) is refused,
    as in PyTorch."""
    def method(self, *args, **kwargs):
        def compute(t, *others):
            out = fn(t, *others, **kwargs)
            if _KIND_RANK[out.dtype.kind] > _KIND_RANK[t.dtype.kind]:
                raise RuntimeError(f"{name}: result type {out.dtype} can't be cast to the desired output type "
                                   f"{t.dtype}")
            return out
        return self._inplace(name, compute, *args)
    method.__name__ = method.__qualname__ = name
    return method


def _reflected(fn):
    return lambda self, other: fn(other, self)


def _equality(fn):
    """``==`` and ``!=``: an operand that is neither a tensor, a number nor an array is
    simply not equal (``t == None`` is False), as in PyTorch."""
    def operator(self, other):
        if not isinstance(other, (Tensor, numpy.ndarray) + _NUMBERS):
            return NotImplemented
        return fn(self, other)
    return operator


_IN_PLACE = (
    "abs", "absolute", "neg", "negative", "sign", "sgn", "floor", "ceil", "trunc", "fix", "round", "frac",
    "square", "reciprocal", "floor_divide", "remainder", "fmod", "true_divide", "divide", "multiply", "subtract",
    "copysign", "lerp", "hypot", "atan2", "arctan2", "xlogy", "addcmul", "addcdiv", "clamp_min", "clamp_max",
    "exp", "exp2", "expm1", "log", "log2", "log10", "log1p", "sqrt", "rsqrt", "sin", "cos", "tan", "asin", "acos",
    "atan", "arcsin", "arccos", "arctan", "sinh", "cosh", "tanh", "asinh", "acosh", "atanh", "arcsinh", "arccosh",
    "arctanh", "sigmoid", "logit", "relu", "erf", "erfc", "erfinv", "sinc", "deg2rad", "rad2deg", "nan_to_num",
    "heaviside", "eq", "ne", "lt", "le", "gt", "ge", "not_equal", "less", "less_equal", "greater", "greater_equal",
    "logical_and", "logical_or", "logical_xor", "logical_not", "bitwise_and", "bitwise_or", "bitwise_xor",
    "bitwise_not", "bitwise_left_shift", "bitwise_right_shift",
)

METHODS = {
    **{name: globals()[name] for name in __all__ if name not in ("where", "rsub")},
    "where": lambda self, condition, other: where(condition, self, other),
    **{name + "_": _in_place(name + "_", globals()[name]) for name in _IN_PLACE},
    "__add__": add, "__radd__": _reflected(add), "__sub__": sub, "__rsub__": _reflected(sub),
    "__mul__": mul, "__rmul__": _reflected(mul), "__truediv__": div, "__rtruediv__": _reflected(div),
    "__floordiv__": floor_divide, "__rfloordiv__": _reflected(floor_divide),
    "__mod__": remainder, "__rmod__": _reflected(remainder),
    "__pow__": pow, "__rpow__": _reflected(pow), "__neg__": neg, "__pos__": positive, "__abs__": abs,
    "__eq__": _equality(eq), "__ne__": _equality(ne), "__lt__": lt, "__le__": le, "__gt__": gt, "__ge__": ge,
    "__and__": bitwise_and, "__rand__": _reflected(bitwise_and), "__or__": bitwise_or,
    "__ror__": _reflected(bitwise_or), "__xor__": bitwise_xor, "__rxor__": _reflected(bitwise_xor),
    "__invert__": _invert, "__lshift__": bitwise_left_shift, "__rlshift__": _reflected(bitwise_left_shift),
    "__rshift__": bitwise_right_shift, "__rrshift__": _reflected(bitwise_right_shift),
    "__ifloordiv__": _in_place("floor_divide_", floor_divide), "__imod__": _in_place("remainder_", remainder),
    "__iand__": _in_place("bitwise_and_", bitwise_and), "__ior__": _in_place("bitwise_or_", bitwise_or),
    "__ixor__": _in_place("bitwise_xor_", bitwise_xor),
    "__ilshift__": _in_place("bitwise_left_shift_", bitwise_left_shift),
    "__irshift__": _in_place("bitwise_right_shift_", bitwise_right_shift),
}
