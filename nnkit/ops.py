"""The differentiable primitives: each op's forward and backward, side by side.

An op computes its result on raw arrays (``x.array``), then hands
:func:`_make` the result, its inputs and a ``backward(g)`` that returns one
gradient per input. Backward functions are written with tensor ops, so that
with ``create_graph=True`` they are recorded too (higher-order gradients).
Where a backward needs the op's own output (``exp``, ``tanh``, ``softmax``...),
:func:`_saved` gives the stored values, or recomputes them as part of the graph
when one is being built.

Composite ops (``mean``, ``var``, ``stack``, ``masked_fill``...) are written from
the primitives and need no backward of their own. Every op asks its inputs for
their array module (``x._xp``), never for NumPy by name, so CuPy works too.
"""

from __future__ import annotations

import builtins  # sum, max, min, abs, any and all are ops in this module
import functools
from typing import NamedTuple, Sequence

import numpy

from . import backend
from .amp import autocast_op
from .autograd import Node, _GradMode
from .tensor import Tensor

# ---------------------------------------------------------------------------
# Plumbing: building outputs, operands and broadcasting
# ---------------------------------------------------------------------------


def _make(array, parents: tuple, backward, name: str, saved: tuple | None = None,
          output: bool = False) -> Tensor:
    """Wrap ``array``; record the op when grad mode is on and an input needs a gradient.

    ``saved`` lists the inputs whose values ``backward`` reads (all of them when
    not given), and ``output`` says that it reads the op's own output: their
    versions are recorded, so that changing one in place before the backward
    runs raises instead of giving a wrong gradient.
    """
    if isinstance(array, numpy.generic):  # NumPy's full reductions return scalars
        array = numpy.asarray(array)
    out = Tensor._wrap(array)
    if _GradMode.enabled:
        for p in parents:
            if p.requires_grad:
                if saved is None:
                    saved = parents
                versions = _versions(saved) if saved else ()
                if output:
                    out._vc = [0]
                    versions += ((out._vc, 0, array),)
                out.requires_grad = True
                out.grad_fn = Node(parents, backward, name, versions)
                break
    return out


def _versions(tensors) -> tuple:
    """(counter, version, array) of each tensor, for the check before its backward runs."""
    entries = []
    for t in tensors:
        counter = t._vc
        if counter is None:
            counter = t._vc = [0]
        entries.append((counter, counter[0], t.array))
    return tuple(entries)


def _view(array, a: Tensor, backward, name: str) -> Tensor:
    """Like :func:`_make` for ops that may return a view of ``a`` (reshape, transpose,
    slicing...): when NumPy did not copy, the result shares ``a``'s version counter,
    so that an in-place change through either is seen by both."""
    out = _make(array, (a,), backward, name, saved=())
    base = array.base
    if base is not None and (base is a.array or base is a.array.base):
        out._vc = a._counter()
        out._base = a if a._base is None else a._base
    return out


def _saved(array, recompute) -> Tensor:
    """An op's output, for its backward: the stored values, or (when building a
    graph for higher-order gradients) the op applied again, so that the output's
    own dependence on the input is recorded too."""
    return recompute() if _GradMode.enabled else Tensor._wrap(array)


def _once_differentiable(name: str) -> None:
    """Called by backward functions written on raw arrays (no graph)."""
    if _GradMode.enabled:
        raise NotImplementedError(f"{name}: higher-order gradients (create_graph=True) are not supported")


_KIND_RANK = {"b": 0, "u": 1, "i": 1, "f": 2, "V": 2, "c": 3}  # V: ml_dtypes' bfloat16, a float


def _promote_types(a: numpy.dtype, b: numpy.dtype) -> numpy.dtype:
    """PyTorch's promotion of two tensor dtypes: a higher kind wins as it is (int64 with
    float32 gives float32, where NumPy would give float64)."""
    ka, kb = _KIND_RANK[a.kind], _KIND_RANK[b.kind]
    if ka != kb:
        return a if ka > kb else b
    return numpy.promote_types(a, b)


def _result_dtype(a, b) -> numpy.dtype:
    """PyTorch's type promotion for two operands (Tensors or Python scalars)."""
    a_t, b_t = isinstance(a, Tensor), isinstance(b, Tensor)
    if a_t and b_t:
        if _KIND_RANK[a.dtype.kind] != _KIND_RANK[b.dtype.kind]:
            return _promote_types(a.dtype, b.dtype)
        if (a.ndim == 0) != (b.ndim == 0):  # a 0-d tensor acts like a scalar within its kind
            return b.dtype if a.ndim == 0 else a.dtype
        return numpy.promote_types(a.dtype, b.dtype)
    t, s = (a, b) if a_t else (b, a)
    ks = 0 if isinstance(s, (bool, numpy.bool_)) else 1 if isinstance(s, (int, numpy.integer)) else 2
    if ks <= _KIND_RANK[t.dtype.kind]:
        return t.dtype
    return backend.int64 if ks == 1 else backend.get_default_dtype()


def _operands(a, b, op: str) -> tuple[Tensor, Tensor]:
    """Make both operands Tensors of one dtype on one device."""
    if isinstance(a, Tensor) and isinstance(b, Tensor):
        if a.array.dtype == b.array.dtype and type(a.array) is type(b.array):
            return a, b  # the common case, kept fast
        if a._xp is not b._xp:
            raise RuntimeError(f"{op}: expected both tensors on the same device, got {a.device} and {b.device}")
    for v in (a, b):
        if not isinstance(v, (Tensor, bool, int, float, numpy.number, numpy.bool_)):
            if isinstance(v, numpy.ndarray):
                raise TypeError(f"{op}: got a NumPy array; wrap it with nnkit.tensor() or nnkit.from_numpy()")
            raise TypeError(f"{op}: unsupported operand of type {type(v).__name__}")
    dtype = _result_dtype(a, b)
    like = a if isinstance(a, Tensor) else b
    return _as(a, dtype, like), _as(b, dtype, like)


def _as(v, dtype, like: Tensor) -> Tensor:
    if isinstance(v, Tensor):
        return v if v.dtype == dtype else to(v, dtype)
    return Tensor._wrap(like._xp.asarray(v, dtype=dtype))


def _broadcast_error(op: str, a: Tensor, b: Tensor) -> RuntimeError:
    return RuntimeError(f"{op}: shapes {tuple(a.shape)} and {tuple(b.shape)} cannot be broadcast together")


def _sum_to(g: Tensor, shape: tuple) -> Tensor:
    """Sum a broadcast gradient back to an input's ``shape``: the sum-back rule."""
    if g.array.shape == shape:
        return g
    lead = g.ndim - len(shape)
    dims = tuple(range(lead)) + tuple(i + lead for i, s in enumerate(shape) if s == 1 and g.shape[i + lead] != 1)
    g = sum(g, dims, keepdim=True) if dims else g
    return reshape(g, shape)


def _dim(dim, ndim: int, op: str) -> int:
    """Normalise one ``dim`` (an int; negative allowed). A 0-d tensor accepts 0 and -1, as in PyTorch."""
    if isinstance(dim, (bool, numpy.bool_)) or not isinstance(dim, (int, numpy.integer)):
        raise TypeError(f"{op}: dim must be an int, got {dim!r}")
    if not -builtins.max(ndim, 1) <= dim < builtins.max(ndim, 1):
        raise IndexError(f"{op}: dim {dim} is out of range for a tensor with {ndim} dimensions")
    return int(dim) % builtins.max(ndim, 1)


def _dims(dim, ndim: int, op: str) -> tuple | None:
    """Normalise ``dim`` (None, an int or a tuple; negative allowed) to a sorted tuple
    (None, meaning every dim, for a 0-d tensor, whose arrays have no axis 0)."""
    if dim is None:
        return None
    if not isinstance(dim, (int, numpy.integer, tuple, list)):
        raise TypeError(f"{op}: dim must be an int or a tuple of ints, got {dim!r}")
    dims = {_dim(d, ndim, op) for d in ((dim,) if isinstance(dim, (int, numpy.integer)) else dim)}
    return tuple(sorted(dims)) if ndim else None


def _kept_shape(shape: tuple, dims: tuple | None) -> tuple:
    """``shape`` with the reduced ``dims`` set to 1 (keepdim=True's shape)."""
    if dims is None:
        return (1,) * len(shape)
    return tuple(1 if i in dims else s for i, s in enumerate(shape))


def _grad_of_reduction(g: Tensor, shape: tuple, dims, keepdim: bool) -> Tensor:
    """Spread a reduction's gradient back over the reduced dims."""
    if not keepdim:
        g = reshape(g, _kept_shape(shape, dims))
    return expand(g, shape)


# ---------------------------------------------------------------------------
# Elementwise arithmetic
# ---------------------------------------------------------------------------


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


def _ones_of(t: Tensor) -> Tensor:
    return Tensor._wrap(t._xp.ones(t.shape, dtype=t.dtype))


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


# ---------------------------------------------------------------------------
# Elementwise functions
# ---------------------------------------------------------------------------


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


def _float(a: Tensor) -> Tensor:
    """Integer inputs to float functions give the default float dtype, as in PyTorch."""
    return a if backend.is_floating(a.dtype) else to(a, backend.get_default_dtype())


# ---------------------------------------------------------------------------
# Comparisons and logic (no gradients)
# ---------------------------------------------------------------------------


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


# ---------------------------------------------------------------------------
# Reductions
# ---------------------------------------------------------------------------


def _accumulates_in_float32(op):
    """16-bit float inputs are reduced in float32 and the result rounded back, as PyTorch
    does on the CPU: summing 4,096 values of 20 in float16 would pass 65,504, its largest
    finite value, and give inf (and a softmax over 70,000 equal logits, zeros). (``sum``
    itself accumulates in float32 without a copy.)"""
    @functools.wraps(op)
    def reduce(a, *args, **kwargs):
        if isinstance(a, Tensor) and a.dtype.itemsize == 2 and backend.is_floating(a.dtype):
            return to(op(to(a, backend.float32), *args, **kwargs), a.dtype)
        return op(a, *args, **kwargs)
    return reduce


@autocast_op("sum")
def sum(a: Tensor, dim=None, keepdim: bool = False) -> Tensor:
    """Sum over ``dim`` (an int, a tuple, or None for all); the gradient is spread back."""
    dims = _dims(dim, a.ndim, "sum")
    if a.dtype.itemsize == 2 and backend.is_floating(a.dtype):
        # float32 accumulation, as PyTorch's: NumPy's would stay in 16 bits (bfloat16: 256 + 1 == 256)
        out = a.array.sum(axis=dims, keepdims=keepdim, dtype=backend.float32).astype(a.dtype)
    else:
        out = a.array.sum(axis=dims, keepdims=keepdim)
    if a.dtype.kind == "b":
        out = out.astype(backend.int64)
    shape = a.shape
    return _make(out, (a,), lambda g: (_grad_of_reduction(g, shape, dims, keepdim),), "Sum", ())


@autocast_op("mean")
@_accumulates_in_float32
def mean(a: Tensor, dim=None, keepdim: bool = False) -> Tensor:
    """Average over ``dim``."""
    if not backend.is_floating(a.dtype):
        raise TypeError(f"mean: needs a floating-point tensor, got {a.dtype}; use .float() first")
    dims = _dims(dim, a.ndim, "mean")
    count = a.numel() if dims is None else int(numpy.prod([a.shape[d] for d in dims]))
    return sum(a, dims, keepdim) / (count if count else float("nan"))


@autocast_op("var")
@_accumulates_in_float32
def var(a: Tensor, dim=None, *, correction: int = 1, keepdim: bool = False, unbiased: bool | None = None) -> Tensor:
    """Variance with Bessel's correction by default (divide by N - 1), as PyTorch.

    Computed in two passes (mean first, then squared deviations), which avoids
    the catastrophic cancellation of E[x²] - E[x]².
    """
    if unbiased is not None:
        correction = 1 if unbiased else 0
    dims = _dims(dim, a.ndim, "var")
    count = a.numel() if dims is None else int(numpy.prod([a.shape[d] for d in dims]))
    centred = a - mean(a, dims, keepdim=True)
    return sum(centred * centred, dims, keepdim) / builtins.max(count - correction, 0)


@autocast_op("std")
@_accumulates_in_float32
def std(a: Tensor, dim=None, *, correction: int = 1, keepdim: bool = False, unbiased: bool | None = None) -> Tensor:
    """Standard deviation: the square root of :func:`var`. Where it is 0 (constant
    values) its gradient is 0, as in PyTorch, rather than sqrt's 0/0."""
    v = var(a, dim, correction=correction, keepdim=keepdim, unbiased=unbiased)
    out = v._xp.sqrt(v.array)

    def backward(g):
        s = _saved(out, lambda: sqrt(v))
        zero = s == 0
        return (where(zero, zeros_scalar(g), g / (2 * where(zero, _ones_of(s), s))),)
    return _make(out, (v,), backward, "Std", (), output=True)


@autocast_op("prod")
@_accumulates_in_float32
def prod(a: Tensor, dim: int | None = None, keepdim: bool = False) -> Tensor:
    """Product over ``dim`` (or all). The gradient is the product of the *other*
    elements, from prefix and suffix products, so zeros are handled exactly."""
    xp = a._xp
    flat = dim is None
    x = a.array.reshape(-1) if flat else a.array
    d = 0 if flat else _dim(dim, a.ndim, "prod")
    out = x.prod(axis=d, keepdims=keepdim and not flat)

    def backward(g):
        _once_differentiable("prod")
        moved = xp.moveaxis(x, d, -1)
        ones = xp.ones(moved.shape[:-1] + (1,), dtype=x.dtype)
        before = xp.cumprod(xp.concatenate([ones, moved[..., :-1]], -1), -1)
        after = xp.flip(xp.cumprod(xp.concatenate([ones, xp.flip(moved, -1)[..., :-1]], -1), -1), -1)
        others = xp.moveaxis(before * after, -1, d)
        gg = g.array if (keepdim or flat) else xp.expand_dims(g.array, d)
        return (Tensor._wrap((gg * others).reshape(a.shape)),)
    return _make(out, (a,), backward, "Prod")


class MaxMin(NamedTuple):
    """What ``max(dim=...)`` and ``min(dim=...)`` return, as PyTorch: values and indices."""
    values: Tensor
    indices: Tensor


def _extreme(a: Tensor, dim, keepdim: bool, largest: bool, op: str):
    xp = a._xp
    if dim is None:
        if a.numel() == 0:
            raise RuntimeError(f"{op}: the tensor is empty")
        out = a.array.max() if largest else a.array.min()
        # The gradient is shared evenly among tied extremes, as in PyTorch.
        return _make(out, (a,), lambda g: (where(a == Tensor._wrap(out), g / sum(a == Tensor._wrap(out)),
                                                 zeros_scalar(g)),), op.capitalize())
    d = _dim(dim, a.ndim, op)
    idx = (xp.argmax if largest else xp.argmin)(a.array, axis=d, keepdims=True)
    values = gather(a, d, Tensor._wrap(idx))
    if not keepdim:
        values, idx = squeeze(values, d), idx.squeeze(d)
    return MaxMin(values, Tensor._wrap(idx))


def zeros_scalar(like: Tensor) -> Tensor:
    return Tensor._wrap(like._xp.zeros((), dtype=like.dtype))


def max(a: Tensor, dim=None, keepdim: bool = False):
    """The largest value, or with ``dim`` the pair (values, indices) along it.

    ``max(a, b)`` with a tensor ``b`` is :func:`maximum`, as in PyTorch.
    """
    if isinstance(dim, Tensor):
        return maximum(a, dim)
    return _extreme(a, dim, keepdim, True, "max")


def min(a: Tensor, dim=None, keepdim: bool = False):
    """The smallest value, or with ``dim`` the pair (values, indices) along it."""
    if isinstance(dim, Tensor):
        return minimum(a, dim)
    return _extreme(a, dim, keepdim, False, "min")


def amax(a: Tensor, dim=None, keepdim: bool = False) -> Tensor:
    """Largest values over ``dim`` (int or tuple); ties share the gradient evenly."""
    dims = _dims(dim, a.ndim, "amax")
    out = a.array.max(axis=dims, keepdims=True)
    hit = a == Tensor._wrap(out)
    result = out if keepdim else out.reshape(_reduced_shape(a.shape, dims))

    def backward(g):
        g = reshape(g, out.shape) if not keepdim else g
        return (where(hit, g / sum(hit, dims, keepdim=True), zeros_scalar(g)),)
    return _make(result, (a,), backward, "Amax", ())


def amin(a: Tensor, dim=None, keepdim: bool = False) -> Tensor:
    return neg(amax(neg(a), dim, keepdim))


def _reduced_shape(shape: tuple, dims) -> tuple:
    return () if dims is None else tuple(s for i, s in enumerate(shape) if i not in dims)


def argmax(a: Tensor, dim: int | None = None, keepdim: bool = False) -> Tensor:
    """Index of the largest value (over the flattened tensor when ``dim`` is None)."""
    if dim is None:
        return Tensor._wrap(a._xp.asarray(a.array.argmax()))
    return Tensor._wrap(a.array.argmax(axis=_dim(dim, a.ndim, "argmax"), keepdims=keepdim))


def argmin(a: Tensor, dim: int | None = None, keepdim: bool = False) -> Tensor:
    if dim is None:
        return Tensor._wrap(a._xp.asarray(a.array.argmin()))
    return Tensor._wrap(a.array.argmin(axis=_dim(dim, a.ndim, "argmin"), keepdims=keepdim))


def all(a: Tensor, dim=None, keepdim: bool = False) -> Tensor:
    return Tensor._wrap(a.array.all(axis=_dims(dim, a.ndim, "all"), keepdims=keepdim))


def any(a: Tensor, dim=None, keepdim: bool = False) -> Tensor:
    return Tensor._wrap(a.array.any(axis=_dims(dim, a.ndim, "any"), keepdims=keepdim))


@autocast_op("logsumexp")
@_accumulates_in_float32
def logsumexp(a: Tensor, dim, keepdim: bool = False) -> Tensor:
    """log Σ e^a over ``dim``, shifted by the max so that it never overflows.

    Its gradient is softmax(a) along ``dim``.
    """
    a = _float(a)
    xp = a._xp
    dims = _dims(dim, a.ndim, "logsumexp")
    m = a.array.max(axis=dims, keepdims=True)
    m = xp.where(xp.isfinite(m), m, 0)  # all -inf (or inf) rows: no shift
    with numpy.errstate(divide="ignore"):  # log 0 = -inf is the right answer for all -inf rows
        out = xp.log(xp.exp(a.array - m).sum(axis=dims, keepdims=True)) + m
    result = out if keepdim else out.reshape(_reduced_shape(a.shape, dims))

    def backward(g):
        g = reshape(g, out.shape) if not keepdim else g
        return (g * exp(a - _saved(out, lambda: logsumexp(a, dims, keepdim=True))),)
    return _make(result, (a,), backward, "Logsumexp", output=True)


@autocast_op("softmax")
@_accumulates_in_float32
def softmax(a: Tensor, dim: int = -1) -> Tensor:
    """e^a / Σ e^a along ``dim``, stable for any input size (fused backward:
    dL/da = s ⊙ (g − Σ g ⊙ s))."""
    a = _float(a)
    xp = a._xp
    d = _dims(dim, a.ndim, "softmax")
    e = xp.exp(a.array - a.array.max(axis=d, keepdims=True))
    out = e / e.sum(axis=d, keepdims=True)

    def backward(g):
        s = _saved(out, lambda: softmax(a, d))
        gs = g * s
        return (gs - s * sum(gs, d, keepdim=True),)
    return _make(out, (a,), backward, "Softmax", (), output=True)


@autocast_op("log_softmax")
@_accumulates_in_float32
def log_softmax(a: Tensor, dim: int = -1) -> Tensor:
    """a − logsumexp(a) along ``dim`` (fused backward: g − softmax · Σ g)."""
    a = _float(a)
    xp = a._xp
    d = _dims(dim, a.ndim, "log_softmax")
    shifted = a.array - a.array.max(axis=d, keepdims=True)
    out = shifted - xp.log(xp.exp(shifted).sum(axis=d, keepdims=True))

    def backward(g):
        s = exp(_saved(out, lambda: log_softmax(a, d)))
        return (g - s * sum(g, d, keepdim=True),)
    return _make(out, (a,), backward, "LogSoftmax", (), output=True)


@autocast_op("cumsum")
@_accumulates_in_float32
def cumsum(a: Tensor, dim: int) -> Tensor:
    """Running sum along ``dim``; the gradient is the running sum from the other end."""
    d = _dim(dim, a.ndim, "cumsum")
    return _make(a._xp.cumsum(a.array, axis=d), (a,), lambda g: (flip(cumsum(flip(g, d), d), d),), "Cumsum", ())


@autocast_op("norm")
@_accumulates_in_float32
def norm(a: Tensor, p: float = 2, dim=None, keepdim: bool = False) -> Tensor:
    """The p-norm over ``dim`` (all elements by default)."""
    if p == 2:
        return sqrt(sum(a * a, dim, keepdim))
    if p == 1:
        return sum(abs(a), dim, keepdim)
    if p == float("inf"):
        return amax(abs(a), dim, keepdim)
    return sum(abs(a) ** p, dim, keepdim) ** (1.0 / p)


# ---------------------------------------------------------------------------
# Shapes and views
# ---------------------------------------------------------------------------


def _shape_arg(shape: tuple) -> tuple:
    if len(shape) == 1 and isinstance(shape[0], (tuple, list)):
        return tuple(shape[0])
    return shape


def reshape(a: Tensor, *shape) -> Tensor:
    """The same values in a new shape (one entry may be -1)."""
    shape = _shape_arg(shape)
    if not builtins.all(isinstance(s, (int, numpy.integer)) and not isinstance(s, bool) for s in shape):
        raise TypeError(f"reshape: the shape must be ints, got {tuple(shape)}")
    try:
        out = a.array.reshape(shape)
    except (ValueError, TypeError):
        raise RuntimeError(f"reshape: cannot reshape a tensor of shape {tuple(a.shape)} ({a.numel()} elements) "
                           f"into {tuple(shape)}") from None
    old = a.shape
    return _view(out, a, lambda g: (reshape(g, old),), "Reshape")


def transpose(a: Tensor, dim0: int, dim1: int) -> Tensor:
    """Swap two dims (a view)."""
    n = builtins.max(a.ndim, 1)
    for d in (dim0, dim1):
        _dim(d, a.ndim, "transpose")
        if not -n <= d < n:
            raise IndexError(f"transpose: dim {d} is out of range for a tensor with {a.ndim} dimensions")
    return _view(a._xp.swapaxes(a.array, dim0, dim1), a, lambda g: (transpose(g, dim0, dim1),), "Transpose")


def permute(a: Tensor, *dims) -> Tensor:
    """Reorder the dims (a view); the gradient is permuted back."""
    dims = _shape_arg(dims)
    for d in dims:
        _dim(d, a.ndim, "permute")
    if sorted(d % builtins.max(a.ndim, 1) for d in dims) != list(range(a.ndim)):
        raise RuntimeError(f"permute: {tuple(dims)} is not a permutation of the {a.ndim} dims of shape "
                           f"{tuple(a.shape)}")
    inverse = tuple(numpy.argsort([d % a.ndim for d in dims]))
    return _view(a.array.transpose(dims), a, lambda g: (permute(g, inverse),), "Permute")


def expand(a: Tensor, *sizes) -> Tensor:
    """Broadcast to ``sizes`` without copying (-1 keeps a dim); the gradient is summed back."""
    sizes = _shape_arg(sizes)
    lead = len(sizes) - a.ndim
    if lead < 0:
        raise RuntimeError(f"expand: cannot expand shape {tuple(a.shape)} to fewer dims {tuple(sizes)}")
    if -1 in sizes[:lead]:
        raise RuntimeError(f"expand: -1 is not allowed in a new leading dim (shape {tuple(a.shape)} to {tuple(sizes)})")
    target = tuple(a.shape[i - lead] if s == -1 else s for i, s in enumerate(sizes))
    if target == a.shape:
        return a
    try:
        out = a._xp.broadcast_to(a.array, target)
    except ValueError:
        raise RuntimeError(f"expand: cannot expand shape {tuple(a.shape)} to {tuple(sizes)}") from None
    shape = a.shape
    return _view(out, a, lambda g: (_sum_to(g, shape),), "Expand")


def repeat(a: Tensor, *sizes) -> Tensor:
    """Tile the tensor ``sizes`` times along each dim (copies, unlike expand)."""
    sizes = _shape_arg(sizes)
    if len(sizes) < a.ndim:
        raise RuntimeError(f"repeat: {len(sizes)} repeat counts for a tensor with {a.ndim} dims")
    shape = (1,) * (len(sizes) - a.ndim) + a.shape
    out = a._xp.tile(a.array.reshape(shape), sizes)

    def backward(g):
        # Split each dim into (repeats, size) and sum over the repeats.
        split = [x for pair in zip(sizes, shape) for x in pair]
        g = sum(reshape(g, split), tuple(range(0, len(split), 2)))
        return (reshape(g, a.shape),)
    return _make(out, (a,), backward, "Repeat", ())


def flip(a: Tensor, dims) -> Tensor:
    dims = _dims(dims, a.ndim, "flip")
    return _view(a._xp.flip(a.array, dims), a, lambda g: (flip(g, dims),), "Flip")


def squeeze(a: Tensor, dim=None) -> Tensor:
    """Drop dims of size 1 (only ``dim`` when given; a no-op if it is not 1)."""
    if dim is None:
        shape = tuple(s for s in a.shape if s != 1)
    else:
        dims = _dims(dim, a.ndim, "squeeze")
        shape = tuple(s for i, s in enumerate(a.shape) if not (i in dims and s == 1))
    return reshape(a, shape)


def unsqueeze(a: Tensor, dim: int) -> Tensor:
    """Insert a dim of size 1 at ``dim``."""
    _dim(dim, a.ndim + 1, "unsqueeze")
    if not -a.ndim - 1 <= dim <= a.ndim:
        raise IndexError(f"unsqueeze: dim {dim} is out of range for a tensor with {a.ndim} dimensions")
    d = dim % (a.ndim + 1)
    return reshape(a, a.shape[:d] + (1,) + a.shape[d:])


def flatten(a: Tensor, start_dim: int = 0, end_dim: int = -1) -> Tensor:
    """Merge dims ``start_dim..end_dim`` into one."""
    if a.ndim == 0:
        return reshape(a, (1,))
    s, e = _dim(start_dim, a.ndim, "flatten"), _dim(end_dim, a.ndim, "flatten")
    if s > e:
        raise RuntimeError(f"flatten: start_dim {start_dim} comes after end_dim {end_dim}")
    return reshape(a, a.shape[:s] + (-1,) + a.shape[e + 1:])


def unflatten(a: Tensor, dim: int, sizes: Sequence[int]) -> Tensor:
    d = dim % a.ndim
    return reshape(a, a.shape[:d] + tuple(sizes) + a.shape[d + 1:])


def contiguous(a: Tensor) -> Tensor:
    out = a._xp.ascontiguousarray(a.array)
    if out is a.array:  # already contiguous: the tensor itself, as in PyTorch
        return a
    return _make(out, (a,), lambda g: (g,), "Contiguous", ())


def clone(a: Tensor) -> Tensor:
    """A copy that stays in the graph."""
    return _make(a.array.copy(), (a,), lambda g: (g,), "Clone", ())


def cat(tensors: Sequence[Tensor], dim: int = 0) -> Tensor:
    """Join tensors along an existing dim; the gradient is cut back into pieces."""
    tensors = list(tensors)
    if not tensors:
        raise ValueError("cat: expected a non-empty list of tensors")
    dtype = tensors[0].dtype
    for t in tensors[1:]:
        dtype = _promote_types(dtype, t.dtype)
    tensors = [t if t.dtype == dtype else to(t, dtype) for t in tensors]
    d = _dim(dim, tensors[0].ndim, "cat")
    try:
        out = tensors[0]._xp.concatenate([t.array for t in tensors], axis=d)
    except ValueError:
        raise RuntimeError(f"cat: shapes {[tuple(t.shape) for t in tensors]} do not match outside dim {d}") from None
    bounds = numpy.cumsum([0] + [t.shape[d] for t in tensors])

    def backward(g):
        index = [slice(None)] * g.ndim
        pieces = []
        for lo, hi in zip(bounds[:-1], bounds[1:]):
            index[d] = slice(int(lo), int(hi))
            pieces.append(getitem(g, tuple(index)))
        return tuple(pieces)
    return _make(out, tuple(tensors), backward, "Cat", ())


def stack(tensors: Sequence[Tensor], dim: int = 0) -> Tensor:
    """Join same-shaped tensors along a new dim."""
    tensors = list(tensors)
    if not tensors:
        raise ValueError("stack: expected a non-empty list of tensors")
    shapes = {t.shape for t in tensors}
    if len(shapes) > 1:
        raise RuntimeError(f"stack: all tensors must have the same shape, got {sorted(shapes)}")
    return cat([unsqueeze(t, dim) for t in tensors], dim)


def split(a: Tensor, split_size_or_sections, dim: int = 0) -> tuple:
    """Cut into pieces of ``split_size`` (the last may be smaller) or of the given sizes."""
    d = _dim(dim, a.ndim, "split")
    n = a.shape[d]
    if isinstance(split_size_or_sections, int):
        sizes = [split_size_or_sections] * (n // split_size_or_sections)
        if n % split_size_or_sections:
            sizes.append(n % split_size_or_sections)
    else:
        sizes = list(split_size_or_sections)
        if builtins.sum(sizes) != n:
            raise RuntimeError(f"split: sizes {sizes} do not add up to {n} along dim {d}")
    index = [slice(None)] * a.ndim
    pieces, start = [], 0
    for s in sizes:
        index[d] = slice(start, start + s)
        pieces.append(getitem(a, tuple(index)))
        start += s
    return tuple(pieces)


def chunk(a: Tensor, chunks: int, dim: int = 0) -> tuple:
    """Cut into ``chunks`` nearly equal pieces."""
    n = a.shape[_dim(dim, a.ndim, "chunk")]
    return split(a, -(-n // chunks), dim)


def unbind(a: Tensor, dim: int = 0) -> tuple:
    d = _dim(dim, a.ndim, "unbind")
    return tuple(squeeze(p, d) for p in split(a, 1, d))


def tril(a: Tensor, diagonal: int = 0) -> Tensor:
    mask = a._xp.tri(a.shape[-2], a.shape[-1], diagonal, dtype=bool)
    return where(Tensor._wrap(mask), a, zeros_scalar(a))


def triu(a: Tensor, diagonal: int = 0) -> Tensor:
    mask = a._xp.tri(a.shape[-2], a.shape[-1], diagonal - 1, dtype=bool)
    return where(Tensor._wrap(mask), zeros_scalar(a), a)


def masked_fill(a: Tensor, mask, value) -> Tensor:
    """``a`` with ``value`` wherever ``mask`` is True."""
    return where(mask, value, a)


# ---------------------------------------------------------------------------
# Indexing
# ---------------------------------------------------------------------------


def _index(index):
    """Replace tensors inside an index by their arrays."""
    if isinstance(index, Tensor):
        return index.array
    if isinstance(index, tuple):
        return tuple(_index(i) for i in index)
    if isinstance(index, list) and builtins.any(isinstance(i, Tensor) for i in index):
        return [_index(i) for i in index]
    return index


def _has_int_array(index) -> bool:
    parts = index if isinstance(index, tuple) else (index,)
    return builtins.any((hasattr(p, "dtype") and p.dtype.kind in "iu") or isinstance(p, list) for p in parts)


def getitem(a: Tensor, index) -> Tensor:
    """``a[index]``: ints, slices (with steps), None, ..., integer tensors and boolean masks."""
    index = _index(index)
    try:
        out = a.array[index]
    except IndexError as err:
        raise IndexError(f"index: {err} (tensor of shape {tuple(a.shape)})") from None
    shape = a.shape
    return _view(out, a, lambda g: (_index_add(g, index, shape),), "Index")


def _index_add(g: Tensor, index, shape: tuple) -> Tensor:
    """Zeros of ``shape`` with ``g`` added at ``index`` (repeated indices accumulate):
    the backward of indexing, and indexing is its backward."""
    xp = g._xp
    out = xp.zeros(shape, dtype=g.dtype)
    if _has_int_array(index):
        backend.scatter_add(xp, out, index, g.array)
    else:
        out[index] = g.array
    return _make(out, (g,), lambda gg: (getitem(gg, index),), "IndexAdd", ())


def index_put(a: Tensor, index, value) -> Tensor:
    """A copy of ``a`` with ``value`` (broadcast) written at ``index``: what ``a[index] = value``
    records. The gradient of ``a`` is ``g`` with zeros at ``index``; that of ``value`` is ``g[index]``."""
    a, value = _operands(a, value, "index_put")
    idx = _index(index)
    out = a.array.copy()
    try:
        out[idx] = value.array
    except IndexError as err:
        raise IndexError(f"index_put: {err} (tensor of shape {tuple(a.shape)})") from None
    except ValueError:
        raise RuntimeError(f"index_put: a value of shape {tuple(value.shape)} does not fit the selection "
                           f"{tuple(a.array[idx].shape)} of a tensor of shape {tuple(a.shape)}") from None
    shape = value.shape

    def backward(g):
        return index_put(g, index, zeros_scalar(g)), _sum_to(getitem(g, index), shape)
    return _make(out, (a, value), backward, "IndexPut", ())


def _replace(a: Tensor, value: Tensor) -> Tensor:
    """``value`` in the place of ``a``'s values (what ``fill_`` and ``copy_`` record): the
    gradient goes to ``value``, none to ``a``. Outside the graph, just ``value``."""
    if not _GradMode.enabled:
        return value
    return where(Tensor._wrap(a._xp.zeros((), dtype=bool)), a, value)


def gather(a: Tensor, dim: int, index: Tensor) -> Tensor:
    """``out[i][j] = a[i][index[i][j]]`` along ``dim`` (PyTorch's gather)."""
    d = _dim(dim, a.ndim, "gather")
    idx = index.array if isinstance(index, Tensor) else index
    if idx.dtype.kind not in "iu":
        raise TypeError(f"gather: index must be an integer tensor, got {idx.dtype}")
    full = _along(a._xp, idx, d)
    try:
        out = a.array[full]
    except IndexError as err:
        raise IndexError(f"gather: {err} (input shape {tuple(a.shape)}, index shape {tuple(idx.shape)})") from None
    shape = a.shape
    return _make(out, (a,), lambda g: (_index_add(g, full, shape),), "Gather", ())


def _along(xp, idx, dim: int) -> tuple:
    """The full index tuple that picks ``idx`` along ``dim`` and everything else in place."""
    parts = []
    for axis, n in enumerate(idx.shape):
        if axis == dim:
            parts.append(idx)
        else:
            view = [1] * idx.ndim
            view[axis] = n
            parts.append(xp.arange(n).reshape(view))
    return tuple(parts)


def index_select(a: Tensor, dim: int, index: Tensor) -> Tensor:
    d = _dim(dim, a.ndim, "index_select")
    return getitem(a, (slice(None),) * d + (index,))


def sort(a: Tensor, dim: int = -1, descending: bool = False) -> MaxMin:
    d = _dim(dim, a.ndim, "sort")
    key = -a.array if descending else a.array
    idx = a._xp.argsort(key, axis=d, kind="stable")
    return MaxMin(gather(a, d, Tensor._wrap(idx)), Tensor._wrap(idx))


def topk(a: Tensor, k: int, dim: int = -1, largest: bool = True, sorted: bool = True) -> MaxMin:
    """The ``k`` largest (or smallest) values along ``dim`` and their indices."""
    d = _dim(dim, a.ndim, "topk")
    if not 0 <= k <= a.shape[d]:
        raise RuntimeError(f"topk: k={k} is out of range for dim {d} of size {a.shape[d]}")
    values, idx = sort(a, d, descending=largest)
    keep = (slice(None),) * d + (slice(0, k),)
    return MaxMin(getitem(values, keep), Tensor._wrap(idx.array[keep]))


# ---------------------------------------------------------------------------
# Matrix products
# ---------------------------------------------------------------------------


def _mT(a: Tensor) -> Tensor:
    return transpose(a, -1, -2)


@autocast_op("matmul")
def matmul(a: Tensor, b: Tensor) -> Tensor:
    """Matrix product with NumPy's rules: 1-d operands and batch broadcasting.

    For 2-d and batched operands: dL/da = g @ bᵀ, dL/db = aᵀ @ g.
    """
    a, b = _operands(a, b, "matmul")
    if a.ndim == 0 or b.ndim == 0:
        raise RuntimeError(f"matmul: both arguments need at least 1 dim, got shapes {tuple(a.shape)} and {tuple(b.shape)}")
    if a.shape[-1] != b.shape[-2 if b.ndim > 1 else 0]:
        raise RuntimeError(f"matmul: shapes {tuple(a.shape)} and {tuple(b.shape)} cannot be multiplied "
                           f"({a.shape[-1]} != {b.shape[-2 if b.ndim > 1 else 0]})")
    if a.ndim == 1:  # a row vector, dropped again (for 1-d @ 1-d, the inner call already dropped b's column)
        return squeeze(matmul(unsqueeze(a, 0), b), -2 if b.ndim > 1 else -1)
    if b.ndim == 1:
        return squeeze(matmul(a, unsqueeze(b, -1)), -1)
    try:
        out = backend.matmul(a.array, b.array)
    except ValueError:
        raise RuntimeError(f"matmul: batch shapes of {tuple(a.shape)} and {tuple(b.shape)} cannot be broadcast") from None

    def backward(g):
        ga = _sum_to(matmul(g, _mT(b)), a.shape) if need_a else None
        if not need_b:
            gb = None
        elif b.ndim == 2 and a.ndim > 2:
            # Fold the batch into rows: one big product instead of a batch then a sum.
            gb = matmul(_mT(reshape(a, (-1, a.shape[-1]))), reshape(g, (-1, g.shape[-1])))
        else:
            gb = _sum_to(matmul(_mT(a), g), b.shape)
        return ga, gb
    need_a, need_b = a.requires_grad, b.requires_grad
    saved = (b,) if not need_b else (a,) if not need_a else (a, b)
    return _make(out, (a, b), backward, "Matmul", saved)


# ---------------------------------------------------------------------------
# dtype and device
# ---------------------------------------------------------------------------


def to_arguments(args: tuple, kwargs: dict) -> tuple:
    """``to``'s arguments, in any of PyTorch's forms, as (device or None, dtype or None)."""
    kwargs = dict(kwargs)
    dev, dtype = kwargs.pop("device", None), kwargs.pop("dtype", None)
    kwargs.pop("non_blocking", None), kwargs.pop("copy", None)
    if kwargs:
        raise TypeError(f"to: unexpected arguments {sorted(kwargs)}")
    for arg in args:
        if isinstance(arg, Tensor):
            dev, dtype = arg.device, arg.dtype
        elif isinstance(arg, (str, backend.device)):
            dev = arg
        else:
            dtype = arg
    return dev, (None if dtype is None else numpy.dtype(dtype))


def to(a: Tensor, *args, **kwargs) -> Tensor:
    """Cast and/or move: ``to(dtype)``, ``to(device)``, ``to(device, dtype)`` or ``to(other)``.

    The gradient goes back to the original dtype and device.
    """
    dev, dtype = to_arguments(args, kwargs)
    xp = backend.module_for(dev) if dev is not None else a._xp
    src_dtype, src_xp = a.dtype, a._xp
    out = backend.to_module(a.array, xp)
    if dtype is not None and dtype != out.dtype:
        out = out.astype(dtype)
    if out is a.array:
        return a
    if not backend.is_floating(out.dtype) and a.requires_grad:
        return Tensor._wrap(out)  # integer results carry no gradient

    def backward(g):
        return (to(g, src_dtype, "cpu" if src_xp is numpy else "cuda"),)
    return _make(out, (a,), backward, "To", ())


# ---------------------------------------------------------------------------
# Tensor methods and operators
# ---------------------------------------------------------------------------

def _reflected(fn):
    return lambda self, other: fn(other, self)


def _inplace_method(name: str, fn):
    return lambda self: self._inplace(name, fn)


def _dtype_method(dtype):
    return lambda self: to(self, dtype)


def install_methods(cls) -> None:
    """Give ``Tensor`` its operators and PyTorch's method names."""
    methods = {
        "__add__": add, "__radd__": _reflected(add), "__sub__": sub, "__rsub__": _reflected(sub),
        "__mul__": mul, "__rmul__": _reflected(mul), "__truediv__": div, "__rtruediv__": _reflected(div),
        "__pow__": pow, "__rpow__": _reflected(pow), "__matmul__": matmul, "__rmatmul__": _reflected(matmul),
        "__neg__": neg, "__abs__": abs, "__getitem__": getitem,
        "__eq__": eq, "__ne__": ne, "__lt__": lt, "__le__": le, "__gt__": gt, "__ge__": ge,
        "__and__": logical_and, "__or__": logical_or, "__xor__": logical_xor, "__invert__": logical_not,
        "add": add, "sub": sub, "mul": mul, "div": div, "pow": pow, "neg": neg, "matmul": matmul,
        "exp": exp, "log": log, "log1p": log1p, "sqrt": sqrt, "rsqrt": rsqrt, "abs": abs, "sign": sign,
        "sin": sin, "cos": cos, "tanh": tanh, "sigmoid": sigmoid, "relu": relu, "erf": erf, "clamp": clamp,
        "clip": clamp, "maximum": maximum, "minimum": minimum, "masked_fill": masked_fill,
        "sum": sum, "mean": mean, "var": var, "std": std, "prod": prod, "max": max, "min": min,
        "amax": amax, "amin": amin, "argmax": argmax, "argmin": argmin, "all": all, "any": any,
        "logsumexp": logsumexp, "softmax": softmax, "log_softmax": log_softmax, "cumsum": cumsum,
        "norm": norm, "reshape": reshape, "view": reshape, "transpose": transpose, "permute": permute,
        "expand": expand, "repeat": repeat, "flip": flip, "squeeze": squeeze, "unsqueeze": unsqueeze,
        "flatten": flatten, "unflatten": unflatten, "contiguous": contiguous, "clone": clone,
        "split": split, "chunk": chunk, "unbind": unbind, "tril": tril, "triu": triu, "gather": gather,
        "index_select": index_select, "sort": sort, "topk": topk, "isnan": isnan, "isfinite": isfinite,
        "eq": eq, "ne": ne, "lt": lt, "le": le, "gt": gt, "ge": ge, "allclose": allclose, "to": to,
        "float": _dtype_method(backend.float32), "double": _dtype_method(backend.float64),
        "half": _dtype_method(backend.float16), "long": _dtype_method(backend.int64),
        "int": _dtype_method(backend.int32), "bool": _dtype_method(backend.bool_),
    }
    if backend.bfloat16 is not None:  # ml_dtypes is installed
        methods["bfloat16"] = _dtype_method(backend.bfloat16)
    for name, fn in methods.items():
        setattr(cls, name, fn)
    for name in ("relu", "sigmoid", "tanh", "exp", "log", "sqrt", "abs", "neg"):
        setattr(cls, name + "_", _inplace_method(name + "_", methods[name]))
    cls.T = property(lambda self: permute(self, tuple(reversed(range(self.ndim)))))
    cls.mT = property(_mT)
    cls.view_as = lambda self, other: reshape(self, other.shape)
    cls.expand_as = lambda self, other: expand(self, other.shape)
    cls.type_as = lambda self, other: to(self, other.dtype)
    cls.cpu = lambda self: to(self, "cpu")
    cls.cuda = lambda self: to(self, "cuda")
