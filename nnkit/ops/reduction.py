"""Reductions and scans: sums and means, spread, extremes, norms, softmax, cumulative
ops, sorting and selection, quantiles, and counting.

PyTorch's conventions throughout: ``dim`` is an int, a tuple, or None for every dim (an
empty tuple also means every dim, except in ``all`` and ``any``), a dim named twice
raises, and the NumPy-style keywords ``axis=`` and ``keepdims=`` are accepted too.

Where the gradient goes: ops that return indices (``max(dim)``, ``sort``, ``topk``,
``kthvalue``, ``median(dim)``, ``mode``, ``cummax``...) take their values with
``gather`` at those indices, so the gradient goes to exactly the elements picked;
ops that return a value alone (``max()``, ``amax``, ``median()``) share it evenly
among the elements equal to it, as PyTorch does.
"""

from __future__ import annotations

import builtins
import functools
import inspect
import math
import warnings
from typing import NamedTuple

import numpy

from .. import backend
from ..amp import autocast_op
from ..autograd import _GradMode
from ..tensor import Tensor
from .base import _dim, _dims, _float, _kept_shape, _make, _saved, expand, to, zeros_scalar
from .elementwise import abs, exp, isnan, log, logical_and, logical_not, maximum, minimum, sign, sqrt, where
from .indexing import gather
from .shape import cat, flip, movedim, narrow, reshape, squeeze, unsqueeze


# --- plumbing ---------------------------------------------------------------------------

def _public(op):
    """The checks every public reduction shares: its input must be a tensor, and PyTorch's
    NumPy-style keywords ``axis`` and ``keepdims`` stand for ``dim`` and ``keepdim``."""
    name = op.__name__

    @functools.wraps(op)
    def call(input=None, *args, **kwargs):
        if not isinstance(input, Tensor):
            raise TypeError(f"{name}: expected a Tensor as input, got {type(input).__name__}")
        if kwargs:
            for alias, keyword in (("axis", "dim"), ("keepdims", "keepdim")):
                if alias in kwargs:
                    if keyword in kwargs:
                        raise TypeError(f"{name}: got both {keyword}= and its alias {alias}=")
                    kwargs[keyword] = kwargs.pop(alias)
        return op(input, *args, **kwargs)
    return call


def _accumulates_in_float32(op):
    """16-bit float inputs are reduced in float32 and the result rounded back, as PyTorch
    does on the CPU: summing 4,096 values of 20 in float16 would pass 65,504, its largest
    finite value, and give inf (and a softmax over 70,000 equal logits, zeros). (``sum``
    itself accumulates in float32 without a copy.) An explicit ``dtype`` wins."""
    names = list(inspect.signature(op).parameters)[1:]
    at = names.index("dtype") if "dtype" in names else len(names)  # where dtype comes among the arguments

    @functools.wraps(op)
    def reduce(a, *args, **kwargs):
        dtype = args[at] if len(args) > at else kwargs.get("dtype")
        if a.dtype.itemsize == 2 and backend.is_floating(a.dtype) and dtype is None:
            out = op(to(a, backend.float32), *args, **kwargs)
            if isinstance(out, Tensor):
                return to(out, a.dtype)
            return tuple(to(o, a.dtype) for o in out)
        return op(a, *args, **kwargs)
    return reduce


def _reduce_dims(dim, ndim: int, op: str, empty_is_all: bool = True):
    """``dim`` as a sorted tuple, or None for every dim. An empty tuple means every dim,
    as in PyTorch's sum (``empty_is_all=False``: none, as in ``all``); a dim named twice raises."""
    if isinstance(dim, (tuple, list)):
        if not dim:
            return None if empty_is_all else ()
        named = [_dim(d, ndim, op) for d in dim]
        if len(set(named)) < len(named):
            raise RuntimeError(f"{op}: dim {builtins.max(named, key=named.count)} appears more than once in "
                               f"dim={tuple(dim)}")
    return _dims(dim, ndim, op)


def _count(shape: tuple, dims) -> int:
    """How many elements each output of a reduction over ``dims`` gathers."""
    return math.prod(shape if dims is None else (shape[d] for d in dims))


def _reduced_shape(shape: tuple, dims) -> tuple:
    return () if dims is None else tuple(s for i, s in enumerate(shape) if i not in dims)


def _grad_of_reduction(g: Tensor, shape: tuple, dims, keepdim: bool) -> Tensor:
    """Spread a reduction's gradient back over the reduced dims."""
    if not keepdim:
        g = reshape(g, _kept_shape(shape, dims))
    return expand(g, shape)


def _check_not_empty(a: Tensor, dims, op: str) -> None:
    """Reductions without an identity (max, min, kthvalue...) refuse to reduce nothing, as PyTorch."""
    if dims is None:
        if a.numel() == 0:
            raise RuntimeError(f"{op}: the tensor is empty (shape {tuple(a.shape)}) and the op has no identity; "
                               "give dim to reduce along one dim only")
        return
    for d in dims:
        if a.shape[d] == 0:
            raise IndexError(f"{op}: expected reduction dim {d} to have non-zero size (shape {tuple(a.shape)})")


def _need_float(a: Tensor, op: str) -> None:
    if not backend.is_floating(a.dtype):
        raise RuntimeError(f"{op}: expected a floating-point tensor, got {a.dtype}")


def _int_arg(value, op: str, what: str) -> int:
    if isinstance(value, (bool, numpy.bool_)) or not isinstance(value, (int, numpy.integer)):
        raise TypeError(f"{op}: {what} must be an int, got {value!r}")
    return int(value)


def _plain(xp, array) -> Tensor:
    """A result without a gradient (indices, counts, booleans)."""
    return Tensor._wrap(xp.asarray(array))


def _rows(a: Tensor):
    """``a``'s array, a 0-d one seen as one element along dim 0."""
    return a.array.reshape(a.shape or (1,))


def _share_among_ties(g: Tensor, a: Tensor, value: Tensor, dims) -> Tensor:
    """``g`` split evenly among the elements of ``a`` equal to ``value`` (the NaN ones when it
    is NaN): the gradient of an op that returns an extreme value without its index. ``g``
    and ``value`` have ``a``'s rank with the reduced ``dims`` kept."""
    hit = a.array == value.array
    if backend.is_floating(a.dtype):
        hit |= a._xp.isnan(a.array) & a._xp.isnan(value.array)
    hit = Tensor._wrap(hit)
    return where(hit, g / sum(hit, dims, keepdim=True), 0.0)


class MaxMin(NamedTuple):
    """What ``max(dim)``, ``sort``, ``topk``, ``median(dim)``... return, as PyTorch: the
    values and their indices."""
    values: Tensor
    indices: Tensor


class AminMax(NamedTuple):
    """What ``aminmax`` returns, as PyTorch."""
    min: Tensor
    max: Tensor


def _selected(a: Tensor, d: int, idx, keepdim: bool = True) -> MaxMin:
    """(values, indices) of ``a`` at ``idx`` along ``d`` (``idx`` has ``a``'s rank); the values
    come through ``gather``, so that the gradient goes to exactly those elements."""
    if a.ndim == 0:
        return MaxMin(reshape(gather(reshape(a, (1,)), 0, Tensor._wrap(idx)), ()), _plain(a._xp, idx.reshape(())))
    values = gather(a, d, Tensor._wrap(idx))
    if not keepdim:
        values, idx = squeeze(values, d), idx.squeeze(d)
    return MaxMin(values, Tensor._wrap(idx))


# --- sums and means ----------------------------------------------------------------------

@_public
@autocast_op("sum")
def sum(input: Tensor, dim=None, keepdim: bool = False, *, dtype=None) -> Tensor:
    """Σ over ``dim`` (all dims by default); the gradient is spread back. Integers and
    booleans sum to int64; ``dtype`` casts the input first.

    >>> import nnkit
    >>> nnkit.tensor([[1, 2], [3, 4]]).sum(dim=0)
    tensor([4, 6])
    """
    a = input if dtype is None else to(input, dtype)
    dims = _reduce_dims(dim, a.ndim, "sum")
    if a.dtype.itemsize == 2 and backend.is_floating(a.dtype):
        # float32 accumulation, as PyTorch's: NumPy's would stay in 16 bits (bfloat16: 256 + 1 == 256)
        out = a.array.sum(axis=dims, keepdims=keepdim, dtype=backend.float32).astype(a.dtype)
    elif a.dtype.kind in "biu" and dtype is None:
        out = a.array.sum(axis=dims, keepdims=keepdim, dtype=backend.int64)
    else:
        out = a.array.sum(axis=dims, keepdims=keepdim, dtype=a.dtype)
    shape = a.shape
    return _make(out, (a,), lambda g: (_grad_of_reduction(g, shape, dims, keepdim),), "Sum", ())


@_public
def nansum(input: Tensor, dim=None, keepdim: bool = False, *, dtype=None) -> Tensor:
    """Σ over ``dim`` with NaNs counted as zero (and given no gradient)."""
    a = input
    if backend.is_floating(a.dtype):
        a = where(isnan(a), 0.0, a)
    return sum(a, dim, keepdim, dtype=dtype)


@_public
@autocast_op("mean")
@_accumulates_in_float32
def mean(input: Tensor, dim=None, keepdim: bool = False, *, dtype=None) -> Tensor:
    """The average over ``dim``: NaN over no elements, as in PyTorch."""
    a = input if dtype is None else to(input, dtype)
    if not backend.is_floating(a.dtype):
        raise RuntimeError(f"mean: could not infer the output dtype: the input is {a.dtype}, not floating point; "
                           "pass dtype= or call .float() first")
    dims = _reduce_dims(dim, a.ndim, "mean")
    return sum(a, dims, keepdim) / (_count(a.shape, dims) or float("nan"))


@_public
@_accumulates_in_float32
def nanmean(input: Tensor, dim=None, keepdim: bool = False, *, dtype=None) -> Tensor:
    """The average of the non-NaN values over ``dim`` (NaN where there are none)."""
    a = input if dtype is None else to(input, dtype)
    _need_float(a, "nanmean")
    with numpy.errstate(invalid="ignore"):  # 0/0: no values, NaN, as in PyTorch
        return nansum(a, dim, keepdim) / sum(logical_not(isnan(a)), dim, keepdim)


@_public
@autocast_op("prod")
@_accumulates_in_float32
def prod(input: Tensor, dim: int | None = None, keepdim: bool = False, *, dtype=None) -> Tensor:
    """Π over ``dim`` (an int), or over all elements.

    The gradient of each element is the product of the *others*, made from prefix and
    suffix products (no division), so zeros are exact: with one zero only the zero gets
    a gradient, with two none does. It is written with ``cumprod`` and so has second
    derivatives too.
    """
    a = input if dtype is None else to(input, dtype)
    if dim is None:
        out = reshape(prod(reshape(a, (-1,)), 0), ())
        return reshape(out, (1,) * a.ndim) if keepdim else out
    d = _dim(dim, a.ndim, "prod")
    if a.ndim == 0:
        return reshape(prod(reshape(a, (1,)), 0), ())
    out = a.array.prod(axis=d, keepdims=keepdim, dtype=backend.int64 if a.dtype.kind in "biu" else a.dtype)
    shape = a.shape
    return _make(out, (a,), lambda g: (_grad_of_reduction(g, shape, (d,), keepdim) * _product_of_others(a, d),),
                 "Prod")


def _product_of_others(a: Tensor, d: int) -> Tensor:
    """For each element, the product of all the others along ``d``: the product of those
    before it times the product of those after it."""
    if a.shape[d] == 0:
        return a
    return _exclusive_cumprod(a, d) * flip(_exclusive_cumprod(flip(a, d), d), d)


def _exclusive_cumprod(a: Tensor, d: int) -> Tensor:
    """The product of the elements before each one along ``d`` (1 for the first)."""
    one = Tensor._wrap(a._xp.ones(_kept_shape(a.shape, (d,)), dtype=a.dtype))
    return cumprod(cat([one, narrow(a, d, 0, a.shape[d] - 1)], d), d)


@_public
def count_nonzero(input: Tensor, dim=None) -> Tensor:
    """How many elements are not zero, over ``dim`` (an int or a tuple; all by default), as int64."""
    xp = input._xp
    dims = _reduce_dims(dim, input.ndim, "count_nonzero")
    return _plain(xp, xp.count_nonzero(input.array, axis=dims)).to(backend.int64)


# --- spread: variance and standard deviation --------------------------------------------

def _spread_arguments(a: Tensor, dim, unbiased, correction, op: str) -> tuple:
    """PyTorch's forms of var's and std's arguments, ``(dim, unbiased, keepdim)``,
    ``(unbiased)`` and ``(dim, correction=)``, as (dims, correction)."""
    if isinstance(dim, (bool, numpy.bool_)):  # var(True): the unbiased form
        dim, unbiased = None, bool(dim)
    if unbiased is not None and correction is not None:
        raise TypeError(f"{op}: give unbiased or correction, not both")
    if not backend.is_floating(a.dtype):
        raise RuntimeError(f"{op}: std and var only support floating-point tensors, got {a.dtype}")
    if correction is None:
        correction = 1 if unbiased is None or unbiased else 0
    return _reduce_dims(dim, a.ndim, op), correction


def _var_and_mean(a: Tensor, dims, correction, keepdim: bool, op: str) -> tuple:
    """Variance with ``correction`` (divide by N - correction; 1 is Bessel's) and mean.

    In two passes, the mean first and then the squared deviations, which avoids the
    catastrophic cancellation of E[x²] - E[x]².
    """
    m = mean(a, dims, keepdim=True)
    centred = a - m
    dof = builtins.max(_count(a.shape, dims) - correction, 0)
    if dof == 0:
        warnings.warn(f"{op}: degrees of freedom <= 0 (correction {correction} for {_count(a.shape, dims)} "
                      "elements per result): the result is inf or nan", UserWarning, stacklevel=4)
    with numpy.errstate(divide="ignore", invalid="ignore"):
        v = sum(centred * centred, dims, keepdim) / dof
    return v, (m if keepdim else reshape(m, _reduced_shape(a.shape, dims)))


def _std(v: Tensor) -> Tensor:
    """√v, whose gradient is 0 where v is 0 (constant values), as in PyTorch, rather than
    sqrt's 0/0. Where v is 0 the backward never reaches sqrt, so its own derivative is 0 too."""
    xp = v._xp
    out = xp.sqrt(v.array)

    def backward(g):
        zero = Tensor._wrap(out == 0)
        s = _saved(xp.where(out == 0, 1, out), lambda: sqrt(where(zero, 1.0, v)))
        return (where(zero, 0.0, g / (2 * s)),)
    return _make(out, (v,), backward, "Std", (), output=True)


@_public
@autocast_op("var")
@_accumulates_in_float32
def var(input: Tensor, dim=None, unbiased: bool | None = None, keepdim: bool = False, *, correction=None) -> Tensor:
    """The variance over ``dim``, divided by N - 1 by default (Bessel's correction), as PyTorch;
    ``correction=0`` (or ``unbiased=False``) divides by N.

    >>> import nnkit
    >>> nnkit.tensor([1.0, 2.0, 3.0, 4.0]).var(0, False)
    tensor(1.2500)
    """
    dims, correction = _spread_arguments(input, dim, unbiased, correction, "var")
    return _var_and_mean(input, dims, correction, keepdim, "var")[0]


@_public
@autocast_op("std")
@_accumulates_in_float32
def std(input: Tensor, dim=None, unbiased: bool | None = None, keepdim: bool = False, *, correction=None) -> Tensor:
    """The standard deviation: the square root of :func:`var` (same arguments)."""
    dims, correction = _spread_arguments(input, dim, unbiased, correction, "std")
    return _std(_var_and_mean(input, dims, correction, keepdim, "std")[0])


@_public
@_accumulates_in_float32
def var_mean(input: Tensor, dim=None, unbiased: bool | None = None, keepdim: bool = False, *,
             correction=None) -> tuple:
    """(:func:`var`, :func:`mean`) over ``dim``, in one pass over the data for the mean."""
    dims, correction = _spread_arguments(input, dim, unbiased, correction, "var_mean")
    return _var_and_mean(input, dims, correction, keepdim, "var_mean")


@_public
@_accumulates_in_float32
def std_mean(input: Tensor, dim=None, unbiased: bool | None = None, keepdim: bool = False, *,
             correction=None) -> tuple:
    """(:func:`std`, :func:`mean`) over ``dim``."""
    dims, correction = _spread_arguments(input, dim, unbiased, correction, "std_mean")
    v, m = _var_and_mean(input, dims, correction, keepdim, "std_mean")
    return _std(v), m


# --- extremes ------------------------------------------------------------------------------

def _extreme(a: Tensor, dim, keepdim: bool, largest: bool, op: str) -> Tensor:
    """The largest (smallest) values over ``dim``; ties share the gradient evenly."""
    dims = _reduce_dims(dim, a.ndim, op)
    _check_not_empty(a, dims, op)
    kept = (a.array.max if largest else a.array.min)(axis=dims, keepdims=True)
    out = kept if keepdim else kept.reshape(_reduced_shape(a.shape, dims))
    return _make(out, (a,), lambda g: (_share_among_ties(reshape(g, kept.shape), a, Tensor._wrap(kept), dims),),
                 op.capitalize())


def _extreme_along(a: Tensor, dim, keepdim: bool, largest: bool, op: str) -> MaxMin:
    """(values, indices) of the extremes along one dim: the first one where several tie
    (and the first NaN, which counts as the extreme), as PyTorch."""
    d = _dim(dim, a.ndim, op)
    _check_not_empty(a, (d,) if a.ndim else None, op)
    idx = (a._xp.argmax if largest else a._xp.argmin)(_rows(a), axis=d, keepdims=True)
    return _selected(a, d, idx, keepdim)


@_public
def max(input: Tensor, dim=None, keepdim: bool = False):
    """The largest value (its gradient shared evenly among ties); with ``dim``, the pair
    (values, indices) along it (the gradient goes to the index returned); ``max(a, b)``
    with a tensor ``b`` is :func:`maximum`, as in PyTorch.

    >>> import nnkit
    >>> nnkit.tensor([[1.0, 5.0], [7.0, 2.0]]).max(dim=1)
    MaxMin(values=tensor([5., 7.]), indices=tensor([1, 0]))
    """
    if isinstance(dim, Tensor):
        return maximum(input, dim)
    if dim is None:
        return _extreme(input, None, False, True, "max")
    return _extreme_along(input, dim, keepdim, True, "max")


@_public
def min(input: Tensor, dim=None, keepdim: bool = False):
    """The smallest value, or with ``dim`` the pair (values, indices): see :func:`max`."""
    if isinstance(dim, Tensor):
        return minimum(input, dim)
    if dim is None:
        return _extreme(input, None, False, False, "min")
    return _extreme_along(input, dim, keepdim, False, "min")


@_public
def amax(input: Tensor, dim=(), keepdim: bool = False) -> Tensor:
    """The largest values over ``dim`` (an int or a tuple; all by default); ties share the gradient evenly."""
    return _extreme(input, dim, keepdim, True, "amax")


@_public
def amin(input: Tensor, dim=(), keepdim: bool = False) -> Tensor:
    """The smallest values over ``dim``; ties share the gradient evenly."""
    return _extreme(input, dim, keepdim, False, "amin")


@_public
def aminmax(input: Tensor, *, dim: int | None = None, keepdim: bool = False) -> AminMax:
    """(min, max) over ``dim`` (or all elements), as a named pair."""
    if dim is None and input.numel() == 0:
        raise RuntimeError(f"aminmax: cannot compute aminmax over an empty tensor (shape {tuple(input.shape)}): "
                           "the operation has no identity")
    if dim is not None:
        dim = _dim(dim, input.ndim, "aminmax")
    return AminMax(_extreme(input, dim, keepdim, False, "aminmax"), _extreme(input, dim, keepdim, True, "aminmax"))


def _arg_extreme(a: Tensor, dim, keepdim: bool, largest: bool, op: str) -> Tensor:
    xp = a._xp
    pick = xp.argmax if largest else xp.argmin
    if dim is None:
        if a.numel() == 0:
            raise IndexError(f"{op}: expected a non-empty tensor, got shape {tuple(a.shape)} (give dim)")
        return _plain(xp, pick(a.array.reshape(-1)).reshape((1,) * a.ndim if keepdim else ())).to(backend.int64)
    d = _dim(dim, a.ndim, op)
    _check_not_empty(a, (d,) if a.ndim else None, op)
    shape = (_kept_shape if keepdim else _reduced_shape)(a.shape, (d,))
    return _plain(xp, pick(_rows(a), axis=d).reshape(shape)).to(backend.int64)


@_public
def argmax(input: Tensor, dim: int | None = None, keepdim: bool = False) -> Tensor:
    """The index of the largest value along ``dim`` (the first where several tie), or in
    the flattened tensor; ``keepdim`` without ``dim`` keeps every dim as size 1, as PyTorch."""
    return _arg_extreme(input, dim, keepdim, True, "argmax")


@_public
def argmin(input: Tensor, dim: int | None = None, keepdim: bool = False) -> Tensor:
    """The index of the smallest value: see :func:`argmax`."""
    return _arg_extreme(input, dim, keepdim, False, "argmin")


def _logical_reduction(a: Tensor, dim, keepdim: bool, op: str) -> Tensor:
    out = getattr(a.array, op)(axis=_reduce_dims(dim, a.ndim, op, empty_is_all=False), keepdims=keepdim)
    return _plain(a._xp, out.astype(backend.uint8) if a.dtype == backend.uint8 else out)  # uint8 stays, as torch


@_public
def all(input: Tensor, dim=None, keepdim: bool = False) -> Tensor:
    """Whether every element over ``dim`` (an int or a tuple) is nonzero."""
    return _logical_reduction(input, dim, keepdim, "all")


@_public
def any(input: Tensor, dim=None, keepdim: bool = False) -> Tensor:
    """Whether some element over ``dim`` (an int or a tuple) is nonzero."""
    return _logical_reduction(input, dim, keepdim, "any")


# --- log-sum-exp, norms, softmax ------------------------------------------------------------

def _max_kept(xp, x, dims):
    """The max over ``dims`` (kept), 0 where a slice is empty or not finite: a safe shift."""
    if x.size == 0:
        return xp.zeros(_kept_shape(x.shape, dims), dtype=x.dtype)
    m = x.max(axis=dims, keepdims=True)
    return xp.where(xp.isfinite(m), m, 0)


@_public
@autocast_op("logsumexp")
@_accumulates_in_float32
def logsumexp(input: Tensor, dim, keepdim: bool = False) -> Tensor:
    """log Σ e^x over ``dim``, shifted by the max so that it never overflows (-inf over no
    elements). Its gradient is softmax(x) along ``dim``."""
    a = _float(input)
    xp = a._xp
    dims = _reduce_dims(dim, a.ndim, "logsumexp")
    m = _max_kept(xp, a.array, dims)
    with numpy.errstate(divide="ignore"):  # log 0 = -inf is the right answer for all -inf rows
        kept = xp.log(xp.exp(a.array - m).sum(axis=dims, keepdims=True)) + m
    out = kept if keepdim else kept.reshape(_reduced_shape(a.shape, dims))

    def backward(g):
        return (reshape(g, kept.shape) * exp(a - _saved(kept, lambda: logsumexp(a, dims, keepdim=True))),)
    return _make(out, (a,), backward, "Logsumexp", output=True)


@_public
@autocast_op("norm")
@_accumulates_in_float32
def norm(input: Tensor, p="fro", dim=None, keepdim: bool = False, dtype=None) -> Tensor:
    """The p-norm (Σ|x|^p)^(1/p) over ``dim`` (an int or a tuple; all by default).

    ``p`` may be any number: 2 ("fro", the default), 1, ``inf`` (max |x|), ``-inf``
    (min |x|), 0 (how many are nonzero), or fractional. The gradient is PyTorch's: 0
    where the norm is 0, and for ±inf shared evenly among the elements that reach it.

    >>> import nnkit
    >>> nnkit.tensor([3.0, -4.0]).norm(), nnkit.tensor([3.0, -4.0]).norm(p=1)
    (tensor(5.), tensor(7.))
    """
    a = input if dtype is None else to(input, dtype)
    _need_float(a, "norm")
    if isinstance(p, str):
        if p == "nuc":
            raise NotImplementedError("norm: p='nuc' (the nuclear norm, a sum of singular values) is not supported")
        if p != "fro":
            raise RuntimeError(f"norm: order {p!r} is not supported; give a number, 'fro' or 'nuc'")
        if isinstance(dim, (tuple, list)) and len(dim) > 2:
            raise RuntimeError(f"norm: p='fro' takes at most 2 dims, got dim={tuple(dim)}")
        p = 2
    if isinstance(p, (bool, numpy.bool_)) or not isinstance(p, (int, float, numpy.number)):
        raise TypeError(f"norm: p must be a number, 'fro' or 'nuc', got {p!r}")
    return _vector_norm(a, float(p), _reduce_dims(dim, a.ndim, "norm"), keepdim)


def _vector_norm(a: Tensor, p: float, dims, keepdim: bool) -> Tensor:
    xp = a._xp
    x = xp.abs(a.array)
    if math.isinf(p):
        if dims is None and a.numel() == 0 or dims is not None and builtins.any(a.shape[d] == 0 for d in dims):
            raise RuntimeError(f"norm: cannot compute the {p} norm over no elements (shape {tuple(a.shape)}): "
                               "it has no identity")
        kept = (x.max if p > 0 else x.min)(axis=dims, keepdims=True)
    elif p == 0:
        kept = (x != 0).sum(axis=dims, keepdims=True).astype(a.dtype)
    elif p == 1:
        kept = x.sum(axis=dims, keepdims=True)
    elif p == 2:
        kept = xp.sqrt((x * x).sum(axis=dims, keepdims=True))
    else:
        kept = (x ** p).sum(axis=dims, keepdims=True) ** (1 / p)
    out = kept if keepdim else kept.reshape(_reduced_shape(a.shape, dims))

    def backward(g):
        n = _saved(kept, lambda: _vector_norm(a, p, dims, True))
        return (_norm_backward(reshape(g, kept.shape), a, n, p, dims),)
    return _make(out, (a,), backward, "Norm", output=True)


def _norm_backward(g: Tensor, a: Tensor, n: Tensor, p: float, dims) -> Tensor:
    """d‖a‖_p/da · g, with ``g`` and the norm ``n`` kept at ``a``'s rank; PyTorch's formulas,
    which give 0 where the norm is 0 (sqrt's and pow's derivatives would give 0/0 there)."""
    if p == 0:
        return zeros_scalar(a).expand(a.shape)
    if math.isinf(p):
        return sign(a) * _share_among_ties(g, abs(a), n, dims)
    if p == 1:
        return sign(a) * g
    zero = n == 0
    scale = where(zero, 0.0, g / where(zero, 1.0, n) ** (p - 1))
    if p == 2:
        return a * scale
    if p < 1:  # |a|^(p-1) is infinite at 0, where PyTorch takes the gradient as 0
        at_zero = a == 0
        return sign(a) * where(at_zero, 0.0, abs(where(at_zero, 1.0, a)) ** (p - 1)) * g * n ** (1 - p)
    # (where the norm is 0, |a|^(p-1) is taken at 1 so that its own derivative stays finite)
    return sign(a) * abs(where(zero, 1.0, a)) ** (p - 1) * scale


@_public
def dist(input: Tensor, other: Tensor, p: float = 2) -> Tensor:
    """The p-norm of ``input - other`` (broadcast), over all elements."""
    return norm(input - other, p)


@_public
@autocast_op("softmax")
@_accumulates_in_float32
def softmax(input: Tensor, dim: int = -1, dtype=None) -> Tensor:
    """e^x / Σ e^x along ``dim``, stable for any input size (fused backward:
    dL/dx = s ⊙ (g − Σ g ⊙ s)). ``dtype`` casts the input first."""
    a = _float(input if dtype is None else to(input, dtype))
    xp = a._xp
    d = _reduce_dims(dim, a.ndim, "softmax")
    e = xp.exp(a.array - _max_kept(xp, a.array, d))
    out = e / e.sum(axis=d, keepdims=True)

    def backward(g):
        s = _saved(out, lambda: softmax(a, d))
        gs = g * s
        return (gs - s * sum(gs, d, keepdim=True),)
    return _make(out, (a,), backward, "Softmax", (), output=True)


@_public
@autocast_op("log_softmax")
@_accumulates_in_float32
def log_softmax(input: Tensor, dim: int = -1, dtype=None) -> Tensor:
    """x − logsumexp(x) along ``dim`` (fused backward: g − softmax · Σ g)."""
    a = _float(input if dtype is None else to(input, dtype))
    xp = a._xp
    d = _reduce_dims(dim, a.ndim, "log_softmax")
    shifted = a.array - _max_kept(xp, a.array, d)
    out = shifted - xp.log(xp.exp(shifted).sum(axis=d, keepdims=True))

    def backward(g):
        s = exp(_saved(out, lambda: log_softmax(a, d)))
        return (g - s * sum(g, d, keepdim=True),)
    return _make(out, (a,), backward, "LogSoftmax", (), output=True)


# --- scans ------------------------------------------------------------------------------------

def _scan(a: Tensor, d: int, accumulate):
    """``accumulate`` (a cumulative NumPy function) along ``d``; a 0-d tensor is its own scan.
    Integers and booleans accumulate in int64, as PyTorch."""
    if a.dtype.kind in "biu":
        return accumulate(_rows(a), axis=d, dtype=backend.int64).reshape(a.shape)
    return accumulate(_rows(a), axis=d).reshape(a.shape)


def _reverse_cumsum(t: Tensor, d: int) -> Tensor:
    """Σ_{k ≥ i} t_k along ``d``: the backward of a running sum."""
    return flip(cumsum(flip(t, d), d), d)


@_public
@autocast_op("cumsum")
@_accumulates_in_float32
def cumsum(input: Tensor, dim: int, *, dtype=None) -> Tensor:
    """The running sum along ``dim``; the gradient is the running sum from the other end.

    >>> import nnkit
    >>> nnkit.tensor([1, 2, 3]).cumsum(0)
    tensor([1, 3, 6])
    """
    a = input if dtype is None else to(input, dtype)
    d = _dim(dim, a.ndim, "cumsum")
    return _make(_scan(a, d, a._xp.cumsum), (a,), lambda g: (_reverse_cumsum(g, d),), "Cumsum", ())


@_public
@_accumulates_in_float32
def cumprod(input: Tensor, dim: int, *, dtype=None) -> Tensor:
    """The running product along ``dim``. Its gradient is exact where the input holds
    zeros (dividing the output by the input would give 0/0 there), and differentiable."""
    a = input if dtype is None else to(input, dtype)
    d = _dim(dim, a.ndim, "cumprod")
    out = _scan(a, d, a._xp.cumprod)
    return _make(out, (a,), lambda g: (_cumprod_backward(g, a, _saved(out, lambda: cumprod(a, d)), d),), "Cumprod",
                 output=True)


def _cumprod_backward(g: Tensor, a: Tensor, y: Tensor, d: int) -> Tensor:
    """dL/da_i = Σ_{k≥i} g_k · Π_{j≤k, j≠i} a_j for the running product ``y`` of ``a``."""
    if a.ndim == 0:
        return g
    zero = a.array == 0
    if not zero.any():
        return _reverse_cumsum(g * y, d) / a  # Π_{j≤k, j≠i} a_j = y_k / a_i
    if _GradMode.enabled:
        return _cumprod_backward_all_pairs(g, a, d)
    # Before each slice's first zero, the formula above; at the first zero, the running
    # product with that zero taken as 1; after it nothing (every product holds the zero).
    seen = cumsum(Tensor._wrap(zero), d)
    before, first = seen == 0, logical_and(Tensor._wrap(zero), seen == 1)
    at_first = _reverse_cumsum(g * cumprod(where(first, 1.0, a), d), d)
    return where(before, _reverse_cumsum(g * y, d) / where(before, a, 1.0), where(first, at_first, 0.0))


def _cumprod_backward_all_pairs(g: Tensor, a: Tensor, d: int) -> Tensor:
    """The same sum over every pair (i, k), without division, so that its own derivative is
    right where ``a`` holds zeros: used when a graph is built for second derivatives. It
    costs n² per slice of length n, as PyTorch's does in that case."""
    xp = a._xp
    x, gs = movedim(a, d, -1), movedim(g, d, -1)
    n = x.shape[-1]
    rows = expand(unsqueeze(x, -2), x.shape[:-1] + (n, n))  # rows[..., i, j] = a_j
    others = cumprod(where(Tensor._wrap(xp.eye(n, dtype=bool)), 1.0, rows), -1)  # [..., i, k] = Π_{j≤k, j≠i} a_j
    later = Tensor._wrap(xp.triu(xp.ones((n, n), dtype=bool)))  # k ≥ i
    return movedim(sum(where(later, others * unsqueeze(gs, -2), 0.0), -1), -1, d)


def _cumulative_extreme(a: Tensor, dim: int, largest: bool, op: str) -> MaxMin:
    """The running max (min) along ``dim`` and where it was reached: the latest index
    where several tie, and a NaN stays once seen, as in PyTorch."""
    xp = a._xp
    d = _dim(dim, a.ndim, op)
    x = _rows(a)
    values = (xp.maximum if largest else xp.minimum).accumulate(x, axis=d)
    reached = x == values
    if backend.is_floating(a.dtype):
        reached |= xp.isnan(x)
    positions = xp.arange(x.shape[d]).reshape((-1,) + (1,) * (x.ndim - d - 1))
    idx = xp.maximum.accumulate(xp.where(reached, positions, 0), axis=d)
    return _selected(a, d, idx.reshape(x.shape))


@_public
def cummax(input: Tensor, dim: int) -> MaxMin:
    """(values, indices) of the running max along ``dim``; the gradient goes to the indices."""
    return _cumulative_extreme(input, dim, True, "cummax")


@_public
def cummin(input: Tensor, dim: int) -> MaxMin:
    """(values, indices) of the running min along ``dim``; the gradient goes to the indices."""
    return _cumulative_extreme(input, dim, False, "cummin")


@_public
@_accumulates_in_float32
def logcumsumexp(input: Tensor, dim: int) -> Tensor:
    """log Σ_{j≤i} e^x_j along ``dim``, without overflow (a running ``logaddexp``)."""
    a = input
    if not backend.is_floating(a.dtype):
        raise NotImplementedError(f"logcumsumexp: not implemented for {a.dtype}; use a floating-point tensor")
    d = _dim(dim, a.ndim, "logcumsumexp")
    out = _scan(a, d, a._xp.logaddexp.accumulate)
    lowest = float(numpy.finfo(a.dtype).min)

    def backward(g):
        # dL/dx_i = Σ_{k≥i} g_k e^(x_i - y_k), a log-sum-exp itself: the positive and the
        # negative parts of g are summed apart, each in log space.
        if a.ndim == 0:
            return (g,)
        y = _saved(out, lambda: logcumsumexp(a, d))

        def part(mask, magnitude):
            log_g = where(mask, log(where(mask, magnitude, 1.0)), lowest)
            return exp(a + flip(logcumsumexp(flip(log_g - y, d), d), d))
        with numpy.errstate(over="ignore"):  # lowest + lowest is -inf, whose exp is the 0 wanted
            return (part(g > 0, g) - part(g < 0, -g),)
    return _make(out, (a,), backward, "Logcumsumexp", output=True)


# --- sorting and selection --------------------------------------------------------------------

def _sort_indices(xp, x, d: int, descending: bool):
    """Indices that sort ``x`` along ``d``, stably: equal values keep their order, both ways.
    NaN counts as the largest value, as in PyTorch."""
    if not descending:
        return xp.argsort(x, axis=d, kind="stable")
    # Sorting the reversed values ascending and reversing the result keeps ties in order.
    return xp.flip(x.shape[d] - 1 - xp.argsort(xp.flip(x, d), axis=d, kind="stable"), d)


def _at_ranks(xp, order, d: int, ranks):
    """The entries of ``order`` at positions ``ranks`` (size 1 along ``d``, broadcast)."""
    return xp.take_along_axis(order, xp.broadcast_to(ranks, _kept_shape(order.shape, (d,))), axis=d)


def _not_bool(a: Tensor, op: str) -> None:
    if a.dtype == backend.bool_:
        raise NotImplementedError(f"{op}: not implemented for bool tensors")


@_public
def sort(input: Tensor, dim: int = -1, descending: bool = False, *, stable: bool = False) -> MaxMin:
    """(values, indices) sorted along ``dim``. The sort is always stable (``stable=True``
    changes nothing): equal values keep their order. NaN sorts as the largest value.

    >>> import nnkit
    >>> nnkit.tensor([3.0, 1.0, 2.0]).sort(descending=True)
    MaxMin(values=tensor([3., 2., 1.]), indices=tensor([0, 2, 1]))
    """
    d = _dim(dim, input.ndim, "sort")
    return _selected(input, d, _sort_indices(input._xp, _rows(input), d, descending))


@_public
def argsort(input: Tensor, dim: int = -1, descending: bool = False, *, stable: bool = False) -> Tensor:
    """The indices that sort ``input`` along ``dim`` (stably, as :func:`sort`)."""
    d = _dim(dim, input.ndim, "argsort")
    return _plain(input._xp, _sort_indices(input._xp, _rows(input), d, descending).reshape(input.shape))


@_public
def msort(input: Tensor) -> Tensor:
    """The values sorted along dim 0."""
    return sort(input, 0).values


@_public
def topk(input: Tensor, k: int, dim: int = -1, largest: bool = True, sorted: bool = True) -> MaxMin:
    """The ``k`` largest (``largest=False``: smallest) values along ``dim`` and their indices,
    in sorted order (also with ``sorted=False``, whose order PyTorch leaves open)."""
    d = _dim(dim, input.ndim, "topk")
    k = _int_arg(k, "topk", "k")
    n = input.shape[d] if input.ndim else 1
    if not 0 <= k <= n:
        raise RuntimeError(f"topk: selected index k={k} is out of range for dim {d} of size {n}")
    if input.dtype == backend.bool_:
        raise RuntimeError("topk: bool tensors are not supported")
    order = _sort_indices(input._xp, _rows(input), d, largest)
    return _selected(input, d, order[(slice(None),) * d + (slice(0, k),)])


@_public
def kthvalue(input: Tensor, k: int, dim: int = -1, keepdim: bool = False) -> MaxMin:
    """The ``k``-th smallest value along ``dim`` (k counts from 1) and its index."""
    _not_bool(input, "kthvalue")
    d = _dim(dim, input.ndim, "kthvalue")
    _check_not_empty(input, (d,) if input.ndim else None, "kthvalue")
    k = _int_arg(k, "kthvalue", "k")
    n = input.shape[d] if input.ndim else 1
    if not 1 <= k <= n:
        raise RuntimeError(f"kthvalue: selected number k={k} is out of range for dim {d} of size {n}")
    xp = input._xp
    order = _sort_indices(xp, _rows(input), d, False)
    return _selected(input, d, _at_ranks(xp, order, d, xp.asarray(k - 1)), keepdim)


def _median(a: Tensor, dim, keepdim: bool, ignore_nan: bool, op: str):
    """The lower median (the smaller of the two middle values for an even count), as
    PyTorch. A NaN makes it NaN (``median``) or is left out (``nanmedian``, NaN only when
    all are NaN)."""
    _not_bool(a, op)
    xp = a._xp
    floating = backend.is_floating(a.dtype)
    if dim is None:
        x = a.array.reshape(-1)
        nan = int(xp.isnan(x).sum()) if floating else 0
        if x.size == 0:
            value = xp.full((), float("nan"), dtype=a.dtype)
        else:
            valid = x.size - nan
            rank = builtins.max((valid - 1) // 2, 0) if ignore_nan else (valid if nan else (x.size - 1) // 2)
            value = xp.asarray(x[xp.argsort(x, kind="stable")[rank]])
        return _make(value, (a,), lambda g: (_share_among_ties(g, a, Tensor._wrap(value), None),), op.capitalize())
    d = _dim(dim, a.ndim, op)
    _check_not_empty(a, (d,) if a.ndim else None, op)
    x = _rows(a)
    n = x.shape[d]
    order = _sort_indices(xp, x, d, False)
    nans = xp.isnan(x).sum(axis=d, keepdims=True) if floating else xp.zeros((), dtype=backend.int64)
    if ignore_nan:  # NaNs sort last: the median of the others; the first NaN when all are NaN
        ranks = xp.maximum((n - nans - 1) // 2, 0)
    else:  # the first NaN where there is one
        ranks = xp.where(nans > 0, n - nans, (n - 1) // 2)
    return _selected(a, d, _at_ranks(xp, order, d, ranks), keepdim)


@_public
def median(input: Tensor, dim: int | None = None, keepdim: bool = False):
    """The lower median of all elements (NaN if one is NaN; ties share the gradient), or
    with ``dim`` the pair (values, indices) along it (the gradient goes to the index).

    >>> import nnkit
    >>> nnkit.tensor([4.0, 1.0, 3.0, 2.0]).median()
    tensor(2.)
    """
    return _median(input, dim, keepdim, False, "median")


@_public
def nanmedian(input: Tensor, dim: int | None = None, keepdim: bool = False):
    """:func:`median` of the values that are not NaN."""
    return _median(input, dim, keepdim, True, "nanmedian")


@_public
def mode(input: Tensor, dim: int = -1, keepdim: bool = False) -> MaxMin:
    """The most frequent value along ``dim`` (the smallest of those equally frequent) and
    the index of its last occurrence, as PyTorch on the CPU."""
    xp = input._xp
    d = _dim(dim, input.ndim, "mode")
    _check_not_empty(input, (d,) if input.ndim else None, "mode")
    x = xp.moveaxis(_rows(input), d, -1)
    order = xp.argsort(x, axis=-1, kind="stable")
    s = xp.take_along_axis(x, order, axis=-1)
    edge = xp.ones(s.shape[:-1] + (1,), dtype=bool)
    starts = xp.concatenate([edge, s[..., 1:] != s[..., :-1]], axis=-1)  # where each run of equal values begins
    ends = xp.concatenate([starts[..., 1:], edge], axis=-1)
    positions = xp.arange(s.shape[-1])
    run_start = xp.maximum.accumulate(xp.where(starts, positions, 0), axis=-1)
    lengths = xp.where(ends, positions - run_start + 1, 0)
    # The first longest run holds the smallest most frequent value; its end is the value's
    # last occurrence, since the sort is stable.
    best = xp.take_along_axis(order, lengths.argmax(axis=-1)[..., None], axis=-1)
    return _selected(input, d, xp.moveaxis(best, -1, d), keepdim)


# --- quantiles ------------------------------------------------------------------------------------

_INTERPOLATIONS = ("linear", "lower", "higher", "midpoint", "nearest")


def _quantile(a: Tensor, q, dim, keepdim: bool, interpolation: str, ignore_nan: bool, op: str) -> Tensor:
    """PyTorch's quantile: sort, find the rank q·(n - 1), and interpolate between the values
    on either side. The gradient goes to those two values, through the sort."""
    xp = a._xp
    if a.dtype not in (backend.float32, backend.float64):
        raise RuntimeError(f"{op}: the input must be float32 or float64, got {a.dtype}")
    if a.numel() == 0:
        raise RuntimeError(f"{op}: the input must be non-empty (shape {tuple(a.shape)})")
    if isinstance(q, Tensor):
        if q.ndim > 1:
            raise RuntimeError(f"{op}: q must be a scalar or a 1-d tensor, got shape {tuple(q.shape)}")
        if q.dtype != a.dtype:
            raise RuntimeError(f"{op}: q ({q.dtype}) must have the input's dtype ({a.dtype})")
        qs = q.array
    else:
        qs = xp.asarray(q, dtype=a.dtype)
    if not bool(((qs >= 0) & (qs <= 1)).all()):
        raise RuntimeError(f"{op}: q must be in the range [0, 1], got {qs.tolist()}")
    if interpolation not in _INTERPOLATIONS:
        raise RuntimeError(f"{op}: interpolation must be one of {', '.join(_INTERPOLATIONS)}, got {interpolation!r}")
    if dim is None:
        x = reshape(a, (-1,))
    else:
        d = _dim(dim, a.ndim, op)
        x = movedim(a, d, -1) if a.ndim else reshape(a, (1,))
    values = sort(x, -1).values  # NaNs last
    n = values.shape[-1]
    qs = qs.reshape((-1,) + (1,) * values.ndim)  # one row of q per output, in front
    nans = xp.isnan(values.array).sum(axis=-1, keepdims=True)
    if ignore_nan:  # the rank among the values that are not NaN; 0 (a NaN) when none is
        ranks = xp.maximum(qs * (n - nans - 1).astype(a.dtype), 0)
    else:  # the last value (a NaN) where there is one
        ranks = xp.where(nans > 0, a.dtype.type(n - 1), qs * a.dtype.type(n - 1))
    ranks = {"lower": xp.floor, "higher": xp.ceil, "nearest": xp.round}.get(interpolation, lambda r: r)(ranks)
    every = expand(unsqueeze(values, 0), (qs.shape[0],) + values.shape)
    below = gather(every, -1, Tensor._wrap(ranks.astype(backend.int64)))
    if interpolation in ("linear", "midpoint"):
        weights = xp.full_like(ranks, 0.5) if interpolation == "midpoint" else ranks - xp.floor(ranks)
        above = gather(every, -1, Tensor._wrap(xp.ceil(ranks).astype(backend.int64)))
        below = below + Tensor._wrap(weights) * (above - below)
    out = squeeze(below, -1)  # (q, the other dims)
    if keepdim:
        out = reshape(out, out.shape[:1] + ((1,) * a.ndim if dim is None else _kept_shape(a.shape, (d,))))
    return reshape(out, out.shape[1:]) if qs.size == 1 and not (isinstance(q, Tensor) and q.ndim) else out


@_public
def quantile(input: Tensor, q, dim: int | None = None, keepdim: bool = False, *,
             interpolation: str = "linear") -> Tensor:
    """The ``q``-th quantiles (a number, or a 1-d tensor whose length becomes the first dim)
    over ``dim`` (all elements by default), interpolating as ``interpolation`` says
    (linear, lower, higher, midpoint or nearest). NaN where a NaN is present.

    >>> import nnkit
    >>> nnkit.tensor([1.0, 2.0, 3.0, 4.0]).quantile(0.5)
    tensor(2.5000)
    """
    return _quantile(input, q, dim, keepdim, interpolation, False, "quantile")


@_public
def nanquantile(input: Tensor, q, dim: int | None = None, keepdim: bool = False, *,
                interpolation: str = "linear") -> Tensor:
    """:func:`quantile` of the values that are not NaN."""
    return _quantile(input, q, dim, keepdim, interpolation, True, "nanquantile")


# --- counting, searching, histograms (no gradients) ------------------------------------------

@_public
def unique(input: Tensor, sorted: bool = True, return_inverse: bool = False, return_counts: bool = False,
           dim: int | None = None):
    """The distinct values in ascending order (``sorted=False`` sorts too, as PyTorch does on
    the CPU), or with ``dim`` the distinct slices along it; with ``return_inverse`` where each
    element (slice) went, with ``return_counts`` how often each occurs. NaNs are all distinct."""
    xp = input._xp
    nan_apart = {"equal_nan": False} if backend.is_floating(input.dtype) else {}
    if dim is None:
        values, inverse, counts = xp.unique(input.array.reshape(-1), return_inverse=True, return_counts=True,
                                            **nan_apart)
        inverse = inverse.reshape(input.shape)
    else:
        d = _dim(dim, input.ndim, "unique")
        values, inverse, counts = xp.unique(_rows(input), return_inverse=True, return_counts=True, axis=d)
        inverse = inverse.reshape(-1)
    return _unique_results(xp, values, inverse, counts, return_inverse, return_counts)


def _unique_results(xp, values, inverse, counts, return_inverse: bool, return_counts: bool):
    results = [_plain(xp, values)]
    if return_inverse:
        results.append(_plain(xp, inverse.astype(backend.int64)))
    if return_counts:
        results.append(_plain(xp, counts.astype(backend.int64)))
    return results[0] if len(results) == 1 else tuple(results)


@_public
def unique_consecutive(input: Tensor, return_inverse: bool = False, return_counts: bool = False,
                       dim: int | None = None):
    """One element (or slice along ``dim``) of each run of equal consecutive ones; with
    ``return_inverse`` each element's run, with ``return_counts`` each run's length."""
    xp = input._xp
    if dim is None:
        x = input.array.reshape(-1)
    else:
        x = xp.moveaxis(_rows(input), _dim(dim, input.ndim, "unique_consecutive"), 0)
    n = x.shape[0]
    differs = (x[1:] != x[:-1]).any(axis=tuple(range(1, x.ndim)))
    starts = xp.concatenate([xp.ones(builtins.min(n, 1), dtype=bool), differs])
    values = x[starts] if dim is None else xp.moveaxis(x[starts], 0, _dim(dim, input.ndim, "unique_consecutive"))
    inverse = xp.cumsum(starts) - 1
    counts = xp.diff(xp.concatenate([xp.flatnonzero(starts), xp.asarray([n])]))
    return _unique_results(xp, values, inverse.reshape(input.shape) if dim is None else inverse, counts,
                           return_inverse, return_counts)


@_public
def searchsorted(sorted_sequence: Tensor, input, *, out_int32: bool = False, right: bool = False,
                 side: str | None = None, sorter: Tensor | None = None) -> Tensor:
    """Where each value of ``input`` would go in ``sorted_sequence`` (along its last dim) to
    keep it sorted: before equal entries, or after them with ``right=True`` (``side="right"``).
    A sequence with more dims is searched row by row, its leading dims matching ``input``'s."""
    xp = sorted_sequence._xp
    if side is not None:
        if side not in ("left", "right"):
            raise RuntimeError(f"searchsorted: side must be 'left' or 'right', got {side!r}")
        if right and side == "left":
            raise RuntimeError("searchsorted: side='left' and right=True contradict each other")
        right = side == "right"
    side = "right" if right else "left"
    seq = sorted_sequence.array
    if sorter is not None:
        seq = xp.take_along_axis(seq, sorter.array, axis=-1)
    values = input.array if isinstance(input, Tensor) else xp.asarray(input)
    if seq.ndim <= 1:
        out = xp.searchsorted(seq.reshape(-1), values, side=side)
    else:
        if seq.shape[:-1] != values.shape[:-1]:
            raise RuntimeError(f"searchsorted: the leading dims of sorted_sequence {tuple(seq.shape)} and input "
                               f"{tuple(values.shape)} must match (or the sequence must be 1-d)")
        rows = zip(seq.reshape(-1, seq.shape[-1]), values.reshape(-1, values.shape[-1]))
        out = xp.stack([xp.searchsorted(s, v, side=side) for s, v in rows]).reshape(values.shape)
    return _plain(xp, out).to(backend.int32 if out_int32 else backend.int64)


def bucketize(input, boundaries: Tensor, *, out_int32: bool = False, right: bool = False) -> Tensor:
    """The bucket of each value of ``input`` among the sorted 1-d ``boundaries``: i such that
    boundaries[i-1] < x <= boundaries[i] (``right=True``: boundaries[i-1] <= x < boundaries[i])."""
    if not isinstance(boundaries, Tensor) or boundaries.ndim != 1:
        shape = tuple(boundaries.shape) if isinstance(boundaries, Tensor) else type(boundaries).__name__
        raise RuntimeError(f"bucketize: boundaries must be a 1-d tensor, got {shape}")
    return searchsorted(boundaries, input, out_int32=out_int32, right=right)


@_public
def histc(input: Tensor, bins: int = 100, min: float = 0, max: float = 0) -> Tensor:
    """A histogram of ``bins`` equal bins over [min, max] (the data's range when both are
    equal); values outside are ignored, those equal to max go into the last bin."""
    xp = input._xp
    if not backend.is_floating(input.dtype):
        raise NotImplementedError(f"histc: not implemented for {input.dtype}; use a floating-point tensor")
    bins = _int_arg(bins, "histc", "bins")
    if bins <= 0:
        raise RuntimeError(f"histc: bins must be > 0, got {bins}")
    x = input.array.reshape(-1)
    lo, hi = x.dtype.type(min), x.dtype.type(max)
    if lo == hi and x.size:
        lo, hi = x.min(), x.max()
    if lo == hi:
        lo, hi = lo - 1, hi + 1
    if not (numpy.isfinite(float(lo)) and numpy.isfinite(float(hi))):
        raise RuntimeError(f"histc: range of [{float(lo)}, {float(hi)}] is not finite")
    if lo > hi:
        raise RuntimeError(f"histc: max ({max}) must be larger than min ({min})")
    inside = x[(x >= lo) & (x <= hi)]
    pos = ((inside - lo) * bins / (hi - lo)).astype(backend.int64)  # PyTorch's formula, truncated
    counts = xp.bincount(xp.minimum(pos, bins - 1), minlength=bins)
    return _plain(xp, counts.astype(input.dtype))


@_public
def bincount(input: Tensor, weights: Tensor | None = None, minlength: int = 0) -> Tensor:
    """How often each value 0, 1, ... occurs in the 1-d non-negative integer ``input``
    (at least ``minlength`` counts), or the sum of ``weights`` at each value (float32
    weights give float32, any others float64, as PyTorch)."""
    xp = input._xp
    x = input.array
    if x.ndim != 1 or x.dtype.kind not in "iu" or (x.size and int(x.min()) < 0):
        raise RuntimeError(f"bincount: only supports 1-d non-negative integer inputs, got shape {tuple(x.shape)} "
                           f"of {x.dtype}")
    if minlength < 0:
        raise RuntimeError(f"bincount: minlength should be >= 0, got {minlength}")
    if weights is None:
        return _plain(xp, xp.bincount(x, minlength=minlength).astype(backend.int64))
    if weights.shape != input.shape:
        raise RuntimeError(f"bincount: weights of shape {tuple(weights.shape)} do not match the input's "
                           f"{tuple(input.shape)}")
    dtype = backend.float32 if weights.dtype == backend.float32 else backend.float64
    return _plain(xp, xp.bincount(x, weights=weights.array.astype(backend.float64), minlength=minlength)
                  .astype(dtype))


__all__ = ["sum", "nansum", "mean", "nanmean", "prod", "count_nonzero", "var", "std", "var_mean", "std_mean",
           "max", "min", "amax", "amin", "aminmax", "argmax", "argmin", "all", "any", "logsumexp", "norm", "dist",
           "softmax", "log_softmax", "cumsum", "cumprod", "cummax", "cummin", "logcumsumexp", "sort", "argsort",
           "msort", "topk", "kthvalue", "median", "nanmedian", "mode", "quantile", "nanquantile", "unique",
           "unique_consecutive", "searchsorted", "bucketize", "histc", "bincount"]


def _scan_in_place(name: str, scan):
    def method(self, dim: int, *, dtype=None) -> Tensor:
        return self._inplace(name, lambda t: scan(t, dim, dtype=dtype))
    method.__name__ = name
    return method


METHODS = {**{name: globals()[name] for name in __all__
              if name not in ("var_mean", "std_mean", "searchsorted", "bucketize")},  # functions only, as in torch
           "cumsum_": _scan_in_place("cumsum_", cumsum), "cumprod_": _scan_in_place("cumprod_", cumprod)}
