"""Elementwise ops: arithmetic with broadcasting, math functions, comparisons and logic."""

from __future__ import annotations

import builtins

import numpy

from .. import backend
from ..tensor import Tensor
from .base import (_broadcast_error, _float, _make, _ones_of, _operands, _saved, _sum_to, to, zeros_scalar)


def add(a, b) -> Tensor:
    """``a + b`` with broadcasting."""
    a, b = _operands(a, b, "add")
    try:
        out = a.array + b.array
    except ValueError:
        raise _broadcast_error("add", a, b) from None
    sa, sb = a.shape, b.shape
    return _make(out, (a, b), lambda g: (_sum_to(g, sa), _sum_to(g, sb)), "Add", ())


def sub(a, b) -> Tensor:
    """``a - b`` with broadcasting."""
    a, b = _operands(a, b, "sub")
    try:
        out = a.array - b.array
    except ValueError:
        raise _broadcast_error("sub", a, b) from None
    sa, sb = a.shape, b.shape
    return _make(out, (a, b), lambda g: (_sum_to(g, sa), _sum_to(-g, sb)), "Sub", ())


def mul(a, b) -> Tensor:
    """``a * b`` with broadcasting: d/da = b, d/db = a."""
    a, b = _operands(a, b, "mul")
    try:
        out = a.array * b.array
    except ValueError:
        raise _broadcast_error("mul", a, b) from None
    # Each gradient needs the other operand: save (and compute) only what is needed.
    need_a, need_b = a.requires_grad, b.requires_grad
    saved = (b,) if not need_b else (a,) if not need_a else (a, b)
    return _make(out, (a, b), lambda g: (_sum_to(g * b, a.shape) if need_a else None,
                                         _sum_to(g * a, b.shape) if need_b else None), "Mul", saved)


def div(a, b) -> Tensor:
    """``a / b`` (true division: integers give floats): d/da = 1/b, d/db = -a/b²."""
    a, b = _operands(a, b, "div")
    if a.dtype.kind in "biu":
        a, b = to(a, backend.get_default_dtype()), to(b, backend.get_default_dtype())
    try:
        out = a.array / b.array
    except ValueError:
        raise _broadcast_error("div", a, b) from None
    need_b = b.requires_grad
    return _make(out, (a, b), lambda g: (_sum_to(g / b, a.shape) if a.requires_grad else None,
                                         _sum_to(-g * a / (b * b), b.shape) if need_b else None),
                 "Div", (a, b) if need_b else (b,))


def neg(a: Tensor) -> Tensor:
    return _make(-a.array, (a,), lambda g: (-g,), "Neg", ())


def pow(a, b) -> Tensor:
    """``a ** b``: d/da = b·a^(b-1), d/db = a^b·log(a) (taken as 0 where a = 0)."""
    if not isinstance(b, Tensor) and isinstance(a, Tensor):
        if a.dtype.kind in "biu" and isinstance(b, float):
            a = to(a, backend.get_default_dtype())
        if b == 2:  # the most common power, without the generic power's cost
            return mul(a, a)
        out = a.array ** b
        if b == 0:  # a⁰ = 1 has gradient 0 everywhere, also at a = 0 where 0·a⁻¹ would be nan
            return _make(out.astype(a.dtype, copy=False), (a,), lambda g: (zeros_scalar(g).expand(g.shape),), "Pow",
                         ())
        return _make(out.astype(a.dtype, copy=False), (a,), lambda g: (g * (b * a ** (b - 1)),), "Pow")
    a, b = _operands(a, b, "pow")
    try:
        out = a.array ** b.array
    except ValueError:
        raise _broadcast_error("pow", a, b) from None

    def backward(g):
        result = _saved(out, lambda: pow(a, b))
        log_a = log(where(a == 0, _ones_of(a), a))
        return _sum_to(g * b * a ** (b - 1), a.shape), _sum_to(g * result * log_a, b.shape)
    return _make(out, (a, b), backward, "Pow", output=True)


def maximum(a, b) -> Tensor:
    """Elementwise max; at ties each input gets half of the gradient, as in PyTorch."""
    a, b = _operands(a, b, "maximum")
    try:
        out = a._xp.maximum(a.array, b.array)
    except ValueError:
        raise _broadcast_error("maximum", a, b) from None

    def backward(g):
        share = Tensor._wrap((a.array > b.array) + 0.5 * (a.array == b.array)).to(g.dtype)
        return _sum_to(g * share, a.shape), _sum_to(g * (1 - share), b.shape)
    return _make(out, (a, b), backward, "Maximum")


def minimum(a, b) -> Tensor:
    """Elementwise min; at ties each input gets half of the gradient, as in PyTorch."""
    a, b = _operands(a, b, "minimum")
    return neg(maximum(neg(a), neg(b)))


def where(condition, a, b) -> Tensor:
    """``a`` where ``condition`` holds, else ``b`` (all three broadcast)."""
    cond = condition.array if isinstance(condition, Tensor) else condition
    a, b = _operands(a, b, "where")
    try:
        out = a._xp.where(cond, a.array, b.array)
    except ValueError:
        raise RuntimeError(f"where: shapes {tuple(numpy.shape(cond))}, {tuple(a.shape)} and {tuple(b.shape)} "
                           "cannot be broadcast together") from None
    c = Tensor._wrap(cond)
    zero = Tensor._wrap(a._xp.zeros((), dtype=a.dtype))

    def backward(g):
        return _sum_to(where(c, g, zero), a.shape), _sum_to(where(c, zero, g), b.shape)
    return _make(out, (a, b), backward, "Where", ())


def clamp(a: Tensor, min=None, max=None) -> Tensor:
    """Limit values to ``[min, max]``; the gradient passes where min <= a <= max."""
    if min is None and max is None:
        raise ValueError("clamp: at least one of min and max must be given")
    lo = min.array if isinstance(min, Tensor) else min
    hi = max.array if isinstance(max, Tensor) else max
    out = a._xp.clip(a.array, lo, hi).astype(a.dtype, copy=False)
    inside = a._xp.ones(a.shape, dtype=bool)
    if lo is not None:
        inside &= a.array >= lo
    if hi is not None:
        inside &= a.array <= hi
    return _make(out, (a,), lambda g: (g * Tensor._wrap(inside.astype(g.dtype)),), "Clamp", ())


def exp(a: Tensor) -> Tensor:
    """e^a; its derivative is itself."""
    out = a._xp.exp(_float(a).array)
    return _make(out, (a,), lambda g: (g * _saved(out, lambda: exp(a)),), "Exp", (), output=True)


def log(a: Tensor) -> Tensor:
    """Natural logarithm; d/da = 1/a."""
    a = _float(a)
    with numpy.errstate(divide="ignore", invalid="ignore"):
        out = a._xp.log(a.array)
    return _make(out, (a,), lambda g: (g / a,), "Log")


def log1p(a: Tensor) -> Tensor:
    """log(1 + a), accurate for small a."""
    a = _float(a)
    return _make(a._xp.log1p(a.array), (a,), lambda g: (g / (a + 1),), "Log1p")


def sqrt(a: Tensor) -> Tensor:
    """√a; d/da = 1 / (2√a)."""
    a = _float(a)
    with numpy.errstate(invalid="ignore"):
        out = a._xp.sqrt(a.array)
    return _make(out, (a,), lambda g: (g / (2 * _saved(out, lambda: sqrt(a))),), "Sqrt", (), output=True)


def rsqrt(a: Tensor) -> Tensor:
    return 1 / sqrt(a)


def abs(a: Tensor) -> Tensor:
    """|a|; the gradient is sign(a), which is 0 at 0 as in PyTorch."""
    return _make(a._xp.abs(a.array), (a,), lambda g: (g * sign(a),), "Abs")


def sign(a: Tensor) -> Tensor:
    return Tensor._wrap(a._xp.sign(a.array))


def sin(a: Tensor) -> Tensor:
    a = _float(a)
    return _make(a._xp.sin(a.array), (a,), lambda g: (g * cos(a),), "Sin")


def cos(a: Tensor) -> Tensor:
    a = _float(a)
    return _make(a._xp.cos(a.array), (a,), lambda g: (-g * sin(a),), "Cos")


def tanh(a: Tensor) -> Tensor:
    """tanh; d/da = 1 - tanh²."""
    a = _float(a)
    out = a._xp.tanh(a.array)

    def backward(g):
        t = _saved(out, lambda: tanh(a))
        return (g * (1 - t * t),)
    return _make(out, (a,), backward, "Tanh", (), output=True)


def sigmoid(a: Tensor) -> Tensor:
    """σ(a) = 1 / (1 + e^-a), computed without overflow; d/da = σ(1 - σ)."""
    a = _float(a)
    xp = a._xp
    e = xp.exp(-xp.abs(a.array))  # never overflows: the exponent is <= 0
    out = xp.where(a.array >= 0, 1 / (1 + e), e / (1 + e)).astype(a.dtype, copy=False)

    def backward(g):
        s = _saved(out, lambda: sigmoid(a))
        return (g * s * (1 - s),)
    return _make(out, (a,), backward, "Sigmoid", (), output=True)


def relu(a: Tensor) -> Tensor:
    """max(a, 0); the gradient is 1 where a > 0 and 0 elsewhere (0 at a = 0).

    The backward reads the output (out > 0 exactly where a > 0), as PyTorch's does,
    so that ``relu_`` can overwrite the input."""
    xp = a._xp
    out = xp.maximum(a.array, 0)
    return _make(out, (a,), lambda g: (g * Tensor._wrap((out > 0).astype(g.dtype)),), "Relu", (), output=True)


def erf(a: Tensor) -> Tensor:
    """The error function; d/da = 2/√π · e^(-a²)."""
    a = _float(a)
    out = _erf_array(a.array)
    return _make(out, (a,), lambda g: (g * (2 / numpy.sqrt(numpy.pi)) * exp(-(a * a)),), "Erf")


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


def _compare(fn_name: str):
    def compare(a, b) -> Tensor:
        a, b = _operands(a, b, fn_name)
        try:
            return Tensor._wrap(getattr(a._xp, fn_name)(a.array, b.array))
        except ValueError:
            raise _broadcast_error(fn_name, a, b) from None
    compare.__name__ = fn_name
    return compare


eq, ne, lt, le, gt, ge = (_compare(n) for n in ("equal", "not_equal", "less", "less_equal", "greater",
                                                 "greater_equal"))


logical_and, logical_or, logical_xor = (_compare(n) for n in ("logical_and", "logical_or", "logical_xor"))


def logical_not(a: Tensor) -> Tensor:
    return Tensor._wrap(a._xp.logical_not(a.array))


def isnan(a: Tensor) -> Tensor:
    return Tensor._wrap(a._xp.isnan(a.array))


def isfinite(a: Tensor) -> Tensor:
    return Tensor._wrap(a._xp.isfinite(a.array))


def allclose(a: Tensor, b, rtol: float = 1e-5, atol: float = 1e-8) -> bool:
    a, b = _operands(a, b, "allclose")
    return bool(a._xp.allclose(a.array, b.array, rtol=rtol, atol=atol))


def _reflected(fn):
    return lambda self, other: fn(other, self)


__all__ = ["add", "sub", "mul", "div", "neg", "pow", "maximum", "minimum", "where", "clamp", "clip", "exp", "log",
           "log1p", "sqrt", "rsqrt", "abs", "sign", "sin", "cos", "tanh", "sigmoid", "relu", "erf", "eq", "ne", "lt",
           "le", "gt", "ge", "logical_and", "logical_or", "logical_xor", "logical_not", "isnan", "isfinite",
           "allclose"]
clip = clamp

METHODS = {
    "__add__": add, "__radd__": _reflected(add), "__sub__": sub, "__rsub__": _reflected(sub),
    "__mul__": mul, "__rmul__": _reflected(mul), "__truediv__": div, "__rtruediv__": _reflected(div),
    "__pow__": pow, "__rpow__": _reflected(pow), "__neg__": neg, "__abs__": abs,
    "__eq__": eq, "__ne__": ne, "__lt__": lt, "__le__": le, "__gt__": gt, "__ge__": ge,
    "__and__": logical_and, "__or__": logical_or, "__xor__": logical_xor, "__invert__": logical_not,
    **{name: globals()[name] for name in __all__ if name not in ("where", "logical_and", "logical_or",
                                                                   "logical_xor", "logical_not")},
}
