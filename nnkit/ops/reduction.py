"""Reductions and scans: sum, mean, var, max, softmax, cumsum, sort..."""

from __future__ import annotations

import builtins
import functools
from typing import NamedTuple

import numpy

from .. import backend
from ..amp import autocast_op
from ..tensor import Tensor
from .base import (_dim, _dims, _float, _kept_shape, _make, _ones_of, _once_differentiable, _saved, expand, to,
                   zeros_scalar)
from .elementwise import abs, exp, maximum, minimum, neg, sqrt, where
from .indexing import gather, getitem
from .shape import flip, reshape, squeeze


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


def _grad_of_reduction(g: Tensor, shape: tuple, dims, keepdim: bool) -> Tensor:
    """Spread a reduction's gradient back over the reduced dims."""
    if not keepdim:
        g = reshape(g, _kept_shape(shape, dims))
    return expand(g, shape)


def _reduced_shape(shape: tuple, dims) -> tuple:
    return () if dims is None else tuple(s for i, s in enumerate(shape) if i not in dims)


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


__all__ = ["sum", "mean", "var", "std", "prod", "max", "min", "amax", "amin", "argmax", "argmin", "all", "any",
           "logsumexp", "softmax", "log_softmax", "cumsum", "norm", "sort", "topk"]

METHODS = {name: globals()[name] for name in __all__}
