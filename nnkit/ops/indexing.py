"""Indexing: ``a[index]`` and its writing twin, gather and scatter, the ``index_*`` and
``masked_*`` families, take and put, nonzero (whose other spelling, ``where(condition)``,
lives with ``where`` in elementwise).

Three primitives carry every op here, each the others' adjoint:

* :func:`_take` reads ``a`` at a place (``a[index]``);
* :func:`_index_add` adds ``g`` at a place into zeros (repeated places accumulate), the
  backward of reading;
* :func:`_place` writes (or adds) values at a place of a copy of ``a``.

A place is a :class:`_Where`. The public ops turn their arguments (dims, index tensors,
masks) into one, check them as PyTorch does, and call the primitives, so their gradients
(and second derivatives) come from the primitives' backward functions.
"""

from __future__ import annotations

import inspect
import warnings
from typing import NamedTuple

import numpy

from .. import backend
from ..autograd import _GradMode
from ..tensor import Tensor
from . import elementwise
from .base import _dim, _make, _saved, _sum_to, _view, expand, to, zeros_scalar


class _IndexError(IndexError, RuntimeError):
    """An index out of range, or one that does not fit its tensor. PyTorch raises IndexError
    from indexing and RuntimeError from most of its index kernels (gather, scatter, index_add...):
    this is both, so code written for either catches it."""


class _Where(NamedTuple):
    """A place in an array, as PyTorch reads an index: first ``basic`` (ints, slices, None: a
    view), then ``advanced`` (a NumPy index of integer arrays, boolean masks and slices) on that
    view. Either may be None. PyTorch applies ints before the advanced indices, so
    ``x[0, :, idx]`` keeps the indexed dim where it is, where NumPy (which counts the int as
    advanced) moves it first."""
    basic: tuple | None
    advanced: object  # a tuple, or one array; None when the place is basic

    def read(self, array):
        view = array if self.basic is None else array[self.basic]
        return view if self.advanced is None else view[self.advanced]


def _write(target, where: _Where, values, accumulate: bool) -> None:
    """``target[where] = values`` (or ``+=``, where repeated places accumulate), in place."""
    view = target if where.basic is None else target[where.basic]  # basic ends with ..., so a view
    if where.advanced is None:
        if accumulate:
            view[...] += values
        else:
            view[...] = values
    elif accumulate:
        backend.scatter_add(backend.xp_of(target), view, where.advanced, values)
    else:
        view[where.advanced] = values


# --- reading PyTorch's indices ----------------------------------------------------

def _index_parts(index) -> tuple:
    """``index`` as a tuple of parts. As in PyTorch (and old NumPy), a short list that holds a
    tensor, a sequence, a slice, None or ... is a tuple; any other list is one index tensor."""
    if isinstance(index, tuple):
        return index
    if isinstance(index, list) and len(index) < 32 and any(
            isinstance(p, (Tensor, list, tuple, slice)) or hasattr(p, "shape") or p is None or p is Ellipsis
            for p in index):
        warnings.warn("index: using a non-tuple sequence for multidimensional indexing is deprecated (as in "
                      "PyTorch); use x[tuple(seq)] instead of x[seq]", UserWarning, stacklevel=5)
        return tuple(index)
    return (index,)


def _index_part(part, xp):
    """One part of an index as an int, a bool, a slice, None, ... or an integer or boolean array."""
    if isinstance(part, (bool, numpy.bool_)):
        return bool(part)
    if isinstance(part, (int, numpy.integer)):
        return int(part)
    if part is None or part is Ellipsis or isinstance(part, slice):
        return part
    if isinstance(part, Tensor):
        array = part.array
    elif isinstance(part, list):
        array = numpy.asarray(part) if part else numpy.zeros(0, dtype=numpy.int64)
    elif hasattr(part, "dtype"):
        array = part
    else:
        raise IndexError("index: only integers, slices (`:`), ellipsis (`...`), None and integer or boolean "
                         f"tensors are valid indices (got {type(part).__name__})")
    if array.dtype == numpy.uint8:  # PyTorch's old byte masks
        array = array.astype(bool)
    if array.dtype.kind not in "biu":
        raise IndexError(f"index: tensors used as indices must be long, int, byte or bool tensors, got {array.dtype}")
    if array.ndim == 0:  # a 0-d tensor is a number, as in PyTorch
        return bool(array) if array.dtype.kind == "b" else int(array)
    return backend.to_module(array, xp)


def _check_bounds(idx, size: int, dim: int, op: str, negative: bool = True) -> None:
    """Raise naming the first index outside ``[-size, size)`` (``[0, size)`` without ``negative``)."""
    if idx.size == 0:
        return
    low, high = int(idx.min()), int(idx.max())
    if high >= size or low < (-size if negative else 0):
        raise _IndexError(f"{op}: index {high if high >= size else low} is out of bounds for dimension {dim} "
                          f"with size {size}")


_PLAIN = (int, slice, type(None), type(Ellipsis))  # read by NumPy as by PyTorch


def _where_of(index, shape: tuple, xp, check: bool | None = None) -> _Where:
    """Where ``index`` points in a tensor of ``shape``, the way PyTorch reads it. Index arrays
    are checked against their dims' sizes with ``check``, by default only on a GPU: NumPy checks
    them itself as it reads (then see :func:`_numpy_checked`), CuPy wraps them silently."""
    check = xp is not numpy if check is None else check
    if not check:  # the common indices, without reading each part
        if type(index) is int or type(index) is slice:
            return _Where((index, Ellipsis), None)  # the ... keeps a 0-d result a view
        if _is_index_array(index):
            return _Where(None, index.array)
        if type(index) is tuple:
            if all([type(p) in _PLAIN for p in index]) and index.count(Ellipsis) <= 1:
                return _Where(index if Ellipsis in index else index + (Ellipsis,), None)
            if all([type(p) is slice or _is_index_array(p) for p in index]):
                return _Where(None, tuple(p if type(p) is slice else p.array for p in index))
    try:
        return _read_index(index, shape, xp, check)
    except IndexError as err:
        raise type(err)(f"{err} (tensor of shape {tuple(shape)})") from None


def _is_index_array(part) -> bool:
    """A NumPy index tensor (integers, or a boolean mask) that NumPy reads as PyTorch does."""
    return (type(part) is Tensor and type(part.array) is numpy.ndarray and part.array.ndim > 0
            and part.array.dtype.kind in "biu" and part.array.dtype != numpy.uint8)


def _numpy_checked(run, index, shape: tuple, xp):
    """``run()``, which reads or writes at ``index``; if NumPy finds the index out of range, the
    index is checked in full, to raise PyTorch's error naming the dim and its size."""
    try:
        return run()
    except IndexError:
        _where_of(index, shape, xp, check=True)
        raise


def _dims_taken(part) -> int:
    """How many dims of the tensor an index part uses up (a boolean mask: as many as it has)."""
    if hasattr(part, "dtype"):
        return part.ndim if part.dtype.kind == "b" else 1
    return 1 if isinstance(part, (int, slice)) and not isinstance(part, bool) else 0


def _read_index(index, shape: tuple, xp, check: bool) -> _Where:
    parts = [_index_part(p, xp) for p in _index_parts(index)]
    used = sum(_dims_taken(p) for p in parts)
    if used > len(shape):
        raise IndexError(f"index: too many indices for tensor of dimension {len(shape)}")
    basic, together = [], []  # basic: ints, slices, None (a slice(None) over each advanced dim)
    advanced = []             # (dim of the basic view, array)
    dim = out = 0             # the dim of the input, of the basic view
    seen_ellipsis = two_steps = False
    for position, p in enumerate(parts):
        if p is Ellipsis:
            n = 0 if seen_ellipsis else len(shape) - used  # PyTorch lets later ellipses match nothing
            seen_ellipsis = True
            basic += [slice(None)] * n
            together += [slice(None)] * n
            dim, out = dim + n, out + n
        elif p is None:
            basic.append(None)
            out += 1
            two_steps = True
        elif isinstance(p, bool):  # PyTorch: a new dim of size 1, indexed by [0] (True) or [] (False)
            basic.append(None)
            advanced.append((out, xp.arange(int(p))))
            out += 1
            two_steps = True
        elif isinstance(p, int):
            if not -shape[dim] <= p < shape[dim]:
                raise _IndexError(f"index: index {p} is out of bounds for dimension {dim} with size {shape[dim]}")
            basic.append(p)
            dim += 1
            two_steps = True
        elif isinstance(p, slice):
            basic.append(p)
            together.append(p)
            dim, out = dim + 1, out + 1
        else:
            k = _dims_taken(p)
            if p.dtype.kind == "b" and p.shape != tuple(shape[dim:dim + k]):
                raise _IndexError(f"index: the shape of the mask {list(p.shape)} at index {position} does not "
                                  f"match the shape of the indexed tensor at index {dim}")
            if check and p.dtype.kind != "b":
                _check_bounds(p, shape[dim], dim, "index")
            advanced.append((out, p))
            basic += [slice(None)] * k
            together.append(p)
            dim, out = dim + k, out + k
    if not advanced:
        return _Where(tuple(basic) + (Ellipsis,), None)
    if not two_steps:  # only slices and arrays: NumPy places the indexed dims as PyTorch does
        return _Where(None, tuple(together))
    second, at = [], 0
    for place, array in advanced:
        second += [slice(None)] * (place - at) + [array]
        at = place + _dims_taken(array)
    return _Where(tuple(basic) + (Ellipsis,), tuple(second))


# --- the three primitives -------------------------------------------------------------

def _take(a: Tensor, where: _Where) -> Tensor:
    """``a`` read at ``where`` (a view when the place is basic); the gradient is added back there."""
    try:
        out = where.read(a.array)
    except IndexError as err:  # index arrays that do not broadcast together
        raise IndexError(f"index: {str(err).strip()} (tensor of shape {tuple(a.shape)})") from None
    shape = a.shape
    return _view(out, a, lambda g: (_index_add(g, where, shape),), "Index")


def _index_add(g: Tensor, where, shape: tuple) -> Tensor:
    """Zeros of ``shape`` with ``g`` added at ``where`` (a :class:`_Where`, or a NumPy index):
    the backward of reading, and reading is its backward."""
    if not isinstance(where, _Where):
        where = _Where(None, where)
    out = g._xp.zeros(shape, dtype=g.dtype)
    _write(out, where, g.array, accumulate=True)
    return _make(out, (g,), lambda gg: (_take(gg, where),), "IndexAdd", ())


def _place(a: Tensor, where: _Where, values: Tensor, accumulate: bool = False, op: str = "index_put") -> Tensor:
    """A copy of ``a`` with ``values`` (broadcast) written, or added, at ``where``. The gradient
    of ``a`` is ``g`` (with zeros at ``where`` when written); that of ``values`` is ``g[where]``."""
    out = a.array.copy()
    try:
        _write(out, where, values.array, accumulate)
    except ValueError:
        raise RuntimeError(f"{op}: shape mismatch: value tensor of shape {tuple(values.shape)} cannot be broadcast "
                           f"to indexing result of shape {tuple(where.read(a.array).shape)}") from None
    shape = values.shape

    def backward(g):
        grad_a = g if accumulate else _place(g, where, zeros_scalar(g))
        return grad_a, _sum_like(_take(g, where), shape)
    return _make(out, (a, values), backward, "IndexPut", ())


def _sum_like(g: Tensor, shape: tuple) -> Tensor:
    """Sum ``g`` back to the shape of the values that were broadcast to it (which may have
    extra leading dims of size 1, as ``x[0] = v`` with ``v`` of shape (1, n) allows)."""
    if len(shape) > g.ndim:
        g = expand(g, (1,) * (len(shape) - g.ndim) + tuple(g.shape))
    return _sum_to(g, shape)


# --- a[index], a[index] = value, index_put --------------------------------------------------

def getitem(a: Tensor, index) -> Tensor:
    """``a[index]``: ints, slices (with steps), None, ..., integer tensors, lists and boolean masks,
    with PyTorch's placement of the indexed dims."""
    where = _where_of(index, a.shape, a._xp)
    return _numpy_checked(lambda: _take(a, where), index, a.shape, a._xp)


def setitem(a: Tensor, index, value) -> None:
    """``a[index] = value``: in place; with gradients recorded, the graph follows (as PyTorch's index_put_)."""
    where = _where_of(index, a.shape, a._xp)
    if not isinstance(value, Tensor):
        value = Tensor._wrap(a._xp.asarray(value, dtype=a.dtype))
    elif value.dtype != a.dtype or value._xp is not a._xp:
        value = to(value, a.device, a.dtype)
    if _GradMode.enabled and (a.requires_grad or value.requires_grad):
        _numpy_checked(lambda: a._inplace("__setitem__", lambda t, v: _place(t, where, v, op="setitem"), value),
                       index, a.shape, a._xp)
        return
    try:  # no graph: write just the selected places
        _numpy_checked(lambda: _write(a.array, where, value.array, accumulate=False), index, a.shape, a._xp)
    except ValueError:
        raise RuntimeError(f"setitem: shape mismatch: value tensor of shape {tuple(value.shape)} cannot be "
                           f"broadcast to indexing result of shape {tuple(where.read(a.array).shape)}") from None
    a._counter()[0] += 1


def index_put(input: Tensor, indices, values: Tensor, accumulate: bool = False) -> Tensor:
    """A copy of ``input`` with ``values`` written at ``input[indices]`` (``indices``: a tuple of
    index tensors, one per leading dim); with ``accumulate``, added, repeated places summing."""
    if not isinstance(indices, (tuple, list)):
        raise TypeError(f"index_put: indices must be a tuple of tensors, got {type(indices).__name__}")
    for i, t in enumerate(indices):
        if not isinstance(t, Tensor):
            raise TypeError(f"index_put: expected a tensor as element {i} of indices, got {type(t).__name__}")
    _same_dtype("index_put", input, values, "values")
    indices = tuple(indices)
    where = _where_of(indices, input.shape, input._xp)
    return _numpy_checked(lambda: _place(input, where, values, accumulate), indices, input.shape, input._xp)


def _same_dtype(op: str, input: Tensor, other, name: str) -> None:
    if not isinstance(other, Tensor):
        raise TypeError(f"{op}: {name} must be a tensor, got {type(other).__name__}")
    if other.dtype != input.dtype:
        raise RuntimeError(f"{op}: expected input and {name} to have the same dtype, got {input.dtype} and "
                           f"{other.dtype}")


def _fill(a: Tensor, op: str, value) -> Tensor:
    """Overwrite all of ``a`` with ``value`` (broadcast), in place, as ``op`` (``fill_``,
    ``zero_``, ``copy_``...)."""
    if not isinstance(value, Tensor):
        value = Tensor._wrap(a._xp.asarray(value, dtype=a.dtype))
    return a._inplace(op, _replace, value)


def _replace(a: Tensor, value: Tensor) -> Tensor:
    """``value`` in the place of ``a``'s values (what ``fill_`` and ``copy_`` record): the
    gradient goes to ``value``, none to ``a``. Outside the graph, just ``value``."""
    if not _GradMode.enabled:
        return value
    return elementwise.where(Tensor._wrap(a._xp.zeros((), dtype=bool)), a, value)


# --- gather and scatter ----------------------------------------------------------------------

def _index_array(index, like: Tensor, op: str):
    """The integer array of the tensor ``index``, on ``like``'s device."""
    if not isinstance(index, Tensor):
        raise TypeError(f"{op}: index must be a tensor, got {type(index).__name__}")
    if index.dtype.kind not in "iu":
        raise RuntimeError(f"{op}: expected an int64 or int32 index tensor, got {index.dtype}")
    return backend.to_module(index.array, like._xp)


def _as_1d(t: Tensor) -> Tensor:
    """A 0-d tensor as shape (1,): PyTorch's gather, scatter and index ops treat it so."""
    return expand(t, (1,)) if t.ndim == 0 else t


def _shaped(out: Tensor, shape: tuple) -> Tensor:
    """A result computed on :func:`_as_1d` operands back to its 0-d ``shape`` (differentiably)."""
    return _sum_to(out, shape) if out.shape != shape else out


def _along(xp, idx, dim: int) -> tuple:
    """The coordinates that pick ``idx`` along ``dim`` and everything else in place."""
    parts = []
    for axis, n in enumerate(idx.shape):
        if axis == dim:
            parts.append(idx)
        else:
            view = [1] * idx.ndim
            view[axis] = n
            parts.append(xp.arange(n).reshape(view))
    return tuple(parts)


def _scatter_args(op: str, input: Tensor, dim, index, src: Tensor | None = None) -> tuple:
    """Check ``index`` (and ``src``) against ``input`` as PyTorch's gather and scatter do.
    Returns the dim and the index array (both as for :func:`_as_1d` operands)."""
    d = _dim(dim, input.ndim, op)
    idx = _index_array(index, input, op)
    shapes = {"input": input.shape or (1,), "index": idx.shape or (1,)}
    if src is not None:
        shapes["src"] = src.shape or (1,)
    if len({len(s) for s in shapes.values()}) > 1:
        raise RuntimeError(f"{op}: index tensor must have the same number of dimensions as input tensor"
                           + "".join(f", {name} shape {tuple(s)}" for name, s in shapes.items()))
    for k, n in enumerate(shapes["index"]):
        if (k != d and n > shapes["input"][k]) or (src is not None and n > shapes["src"][k]):
            raise RuntimeError(f"{op}: expected index {tuple(idx.shape)} to be no larger than input "
                               f"{tuple(input.shape)} apart from dimension {d}"
                               + (f" and no larger than src {tuple(src.shape)}" if src is not None else ""))
    _check_bounds(idx, shapes["input"][d], d, op, negative=False)
    return d, idx.reshape(shapes["index"])


def _part(src: Tensor, shape: tuple) -> Tensor:
    """The leading ``shape`` corner of ``src``: the values that a scatter with an index of ``shape`` uses."""
    if src.shape == shape:
        return src
    return _take(src, _Where(tuple(slice(0, n) for n in shape) + (Ellipsis,), None))


def gather(input: Tensor, dim: int, index: Tensor, *, sparse_grad: bool = False) -> Tensor:
    """``out[i][j] = input[i][index[i][j]]`` for ``dim=1`` (and likewise for any dim); ``index`` may
    be smaller than ``input`` in the other dims. The gradient is added back (``scatter_add``)."""
    if sparse_grad:
        raise NotImplementedError("gather: sparse_grad=True is not supported")
    d, idx = _scatter_args("gather", input, dim, index)
    out = _take(_as_1d(input), _Where(None, _along(input._xp, idx, d)))
    return _shaped(out, index.shape)


def scatter(input: Tensor, dim: int, index: Tensor, src=None, *, value=None, reduce: str | None = None) -> Tensor:
    """A copy of ``input`` with ``out[index[i][j]][j] = src[i][j]`` for ``dim=0`` (and likewise for
    any dim); ``src`` may be a number (or given as ``value=``). ``reduce="add"`` or ``"multiply"``
    combines instead of writing, as :func:`scatter_reduce` with ``"sum"`` or ``"prod"``."""
    if not isinstance(src, Tensor) and src is not None:
        src, value = None, src
    if (src is None) == (value is None):
        raise TypeError("scatter: give exactly one of src (a tensor) and value (a number)")
    if reduce is not None:
        if reduce not in ("add", "multiply"):
            raise RuntimeError(f"scatter: reduce argument must be either add or multiply, got {reduce!r}")
        if src is None:
            src = Tensor._wrap(input._xp.full(index.shape, value, dtype=input.dtype))
        return scatter_reduce(input, dim, index, src, "sum" if reduce == "add" else "prod")
    if src is not None:
        _same_dtype("scatter", input, src, "src")
    d, idx = _scatter_args("scatter", input, dim, index, src)
    values = _part(_as_1d(src), idx.shape) if src is not None else Tensor._wrap(input._xp.asarray(value, input.dtype))
    return _shaped(_place(_as_1d(input), _Where(None, _along(input._xp, idx, d)), values, op="scatter"), input.shape)


def scatter_add(input: Tensor, dim: int, index: Tensor, src: Tensor) -> Tensor:
    """A copy of ``input`` with ``src`` added at the places ``index`` names along ``dim``;
    repeated places accumulate."""
    _same_dtype("scatter_add", input, src, "src")
    d, idx = _scatter_args("scatter_add", input, dim, index, src)
    out = _place(_as_1d(input), _Where(None, _along(input._xp, idx, d)), _part(_as_1d(src), idx.shape), True,
                 "scatter_add")
    return _shaped(out, input.shape)


# reduce: (NumPy ufunc that combines, the identity it starts from where include_self=False)
_REDUCTIONS = {"sum": ("add", 0), "mean": ("add", 0), "prod": ("multiply", 1),
               "amax": ("maximum", -numpy.inf), "amin": ("minimum", numpy.inf)}


def scatter_reduce(input: Tensor, dim: int, index: Tensor, src: Tensor, reduce: str, *,
                   include_self: bool = True) -> Tensor:
    """Combine the values of ``src`` into a copy of ``input`` at the places ``index`` names along
    ``dim``, by ``reduce``: "sum", "prod", "mean", "amax" or "amin". With ``include_self=False``
    the places that receive values forget ``input``'s. Integer "mean" rounds down, as PyTorch."""
    if reduce not in _REDUCTIONS:
        raise RuntimeError(f"scatter_reduce: reduce argument must be either sum, prod, mean, amax or amin, "
                           f"got {reduce!r}")
    _same_dtype("scatter_reduce", input, src, "src")
    d, idx = _scatter_args("scatter_reduce", input, dim, index, src)
    out = _scatter_reduce(_as_1d(input), _along(input._xp, idx, d), _part(_as_1d(src), idx.shape), reduce,
                          include_self)
    return _shaped(out, input.shape)


def _scatter_reduce(a: Tensor, full: tuple, part: Tensor, reduce: str, include_self: bool) -> Tensor:
    """scatter_reduce on checked operands: ``full`` are the coordinates in ``a`` of each value of
    ``part``. The gradients are PyTorch's (ties of amax/amin share evenly)."""
    xp, where = a._xp, _Where(None, full)
    ufunc, identity = _REDUCTIONS[reduce]
    out = a.array.copy()
    hit = xp.zeros(a.shape, dtype=bool)
    hit[full] = True  # the places that receive values
    if not include_self:
        if out.dtype.kind in "iu":
            info = numpy.iinfo(out.dtype)
            identity = info.min if identity == -numpy.inf else info.max if identity == numpy.inf else identity
        out[hit] = identity
    _reduce_at(xp, ufunc, out, full, part.array)
    count = None
    if reduce == "mean":
        count = xp.where(hit, int(include_self), 1).astype(out.dtype)
        backend.scatter_add(xp, count, full, xp.ones(part.shape, dtype=out.dtype))
        out = out // count if out.dtype.kind in "iu" else out / count

    def backward(g):
        if reduce == "sum":
            grad_a, grad_part = g, _take(g, where)
        elif reduce == "mean":
            n = Tensor._wrap(count)
            grad_a, grad_part = g / n, _take(g, where) / Tensor._wrap(count[full])
        elif reduce == "prod":
            grad_a, grad_part = _prod_grads(g, a, full, part, include_self, out)
        else:
            # PyTorch's rule: the gradient is shared among the values equal to the result, input's
            # counted even with include_self=False (where its share then goes nowhere).
            self_is = (a.array == out).astype(g.dtype)
            src_is = (part.array == out[full]).astype(g.dtype)
            n = self_is.copy()
            backend.scatter_add(xp, n, full, src_is)
            share = g / Tensor._wrap(n)
            grad_a, grad_part = share * Tensor._wrap(self_is), _take(share, where) * Tensor._wrap(src_is)
        if not include_self:
            grad_a = elementwise.where(Tensor._wrap(hit), zeros_scalar(g), grad_a)
        return grad_a, grad_part
    reads_values = reduce in ("prod", "amax", "amin")
    return _make(out, (a, part), backward, "ScatterReduce", (a, part) if reads_values else (), output=reads_values)


def _prod_grads(g: Tensor, a: Tensor, full: tuple, part: Tensor, include_self: bool, out) -> tuple:
    """The gradients of a scatter "prod": each factor's is the product of the others, computed
    without dividing by zero (PyTorch's way: zeros masked to 1, a lone zero per place apart)."""
    xp, where = a._xp, _Where(None, full)
    one = Tensor._wrap(xp.ones((), dtype=a.dtype))
    masked_a = elementwise.where(Tensor._wrap(a.array == 0), one, a)
    grad_a = g * _scatter_reduce(masked_a, full, part, "prod", include_self) / masked_a
    src_zero = part.array == 0
    zeros_at = xp.zeros(a.shape, dtype=numpy.int64)
    backend.scatter_add(xp, zeros_at, full, src_zero.astype(numpy.int64))
    lone_zero = Tensor._wrap(src_zero & (zeros_at[full] == 1))
    without_it = _scatter_reduce(a, full, elementwise.where(lone_zero, one, part), "prod", include_self)
    result = _saved(out, lambda: _scatter_reduce(a, full, part, "prod", include_self))
    others = _take(g * result, where) / elementwise.where(Tensor._wrap(src_zero), one, part)
    return grad_a, elementwise.where(lone_zero, _take(g * without_it, where), others)


def _reduce_at(xp, ufunc: str, target, full: tuple, values) -> None:
    """``target[full] = ufunc(target[full], values)`` where every value counts at repeated places
    (NumPy's ``ufunc.at``). CuPy has only an adding scatter; there the other ufuncs run in rounds,
    each round touching a place at most once."""
    if ufunc == "add":
        backend.scatter_add(xp, target, full, values)
        return
    if xp is numpy:
        getattr(numpy, ufunc).at(target, full, values)
        return
    place = xp.ravel_multi_index(tuple(xp.broadcast_to(c, values.shape) for c in full), target.shape).ravel()
    order = xp.argsort(place)
    place, values = place[order], values.ravel()[order]
    rank = xp.arange(place.size) - xp.searchsorted(place, place)  # how many earlier values share the place
    flat = target.reshape(-1)  # target is a fresh copy: contiguous, so this is a view
    for r in range(int(rank.max()) + 1 if rank.size else 0):
        now = rank == r
        flat[place[now]] = getattr(xp, ufunc)(flat[place[now]], values[now])


# --- the index_* family: one index per slice along a dim ---------------------------------------

def _index_args(op: str, input: Tensor, dim, index, negative: bool = False) -> tuple:
    """Check a 1-d (or 0-d) ``index`` along ``dim``; return the dim, the place the index names in
    ``input`` (as an :func:`_as_1d` operand), and the index array (negatives wrapped)."""
    d = _dim(dim, input.ndim, op)
    idx = _index_array(index, input, op)
    if idx.ndim > 1:
        raise _IndexError(f"{op}: index is supposed to be a vector, got shape {tuple(idx.shape)}")
    idx = idx.reshape(-1)
    size = (input.shape or (1,))[d]
    if input.ndim == 0 and idx.size > 1:
        raise _IndexError(f"{op}: index to a 0-d tensor can have only 1 value, got {idx.size}")
    _check_bounds(idx, size, d, op, negative)
    if negative:
        idx = idx % size
    return d, _Where(None, (slice(None),) * d + (idx,)), idx


def _check_source(op: str, input: Tensor, d: int, idx, source: Tensor) -> None:
    _same_dtype(op, input, source, "source")
    want = list(input.shape or (1,))
    want[d] = idx.size
    if list(source.shape or (1,)) != want:
        raise _IndexError(f"{op}: source of shape {tuple(source.shape)} does not fit input of shape "
                          f"{tuple(input.shape)} with {idx.size} indices along dimension {d} "
                          f"(expected shape {tuple(want)})")


def index_select(input: Tensor, dim: int, index: Tensor) -> Tensor:
    """The slices of ``input`` at ``index`` (1-d or 0-d) along ``dim``, in that order."""
    _, where, _ = _index_args("index_select", input, dim, index)
    out = _take(_as_1d(input), where)
    return _shaped(out, ()) if input.ndim == 0 else out


def index_add(input: Tensor, dim: int, index: Tensor, source: Tensor, *, alpha=1) -> Tensor:
    """A copy of ``input`` with ``alpha * source[i]`` added to slice ``index[i]`` along ``dim``;
    repeated indices accumulate."""
    d, where, idx = _index_args("index_add", input, dim, index)
    _check_source("index_add", input, d, idx, source)
    if alpha != 1:
        source = source * alpha
    return _shaped(_place(_as_1d(input), where, _as_1d(source), True, "index_add"), input.shape)


def index_copy(input: Tensor, dim: int, index: Tensor, source: Tensor) -> Tensor:
    """A copy of ``input`` with slice ``index[i]`` along ``dim`` replaced by ``source[i]``."""
    d, where, idx = _index_args("index_copy", input, dim, index)
    _check_source("index_copy", input, d, idx, source)
    return _shaped(_place(_as_1d(input), where, _as_1d(source), op="index_copy"), input.shape)


def index_fill(input: Tensor, dim: int, index: Tensor, value) -> Tensor:
    """A copy of ``input`` with the slices at ``index`` along ``dim`` set to ``value`` (a number or a
    0-d tensor, which gets the gradient of every filled place, each counted once)."""
    _, where, idx = _index_args("index_fill", input, dim, index, negative=True)
    unique = _Where(None, where.advanced[:-1] + (input._xp.unique(idx),))
    return _shaped(_place(_as_1d(input), unique, _scalar("index_fill", value, input), op="index_fill"), input.shape)


def index_reduce(input: Tensor, dim: int, index: Tensor, source: Tensor, reduce: str, *,
                 include_self: bool = True) -> Tensor:
    """Combine slice ``i`` of ``source`` into slice ``index[i]`` of a copy of ``input`` along
    ``dim``, by ``reduce``: "prod", "mean", "amax" or "amin" (as :func:`scatter_reduce` does)."""
    if reduce not in ("prod", "mean", "amax", "amin"):
        raise RuntimeError(f"index_reduce: expected reduce to be one of prod, mean, amax or amin, got {reduce!r}")
    d, _, idx = _index_args("index_reduce", input, dim, index)
    _check_source("index_reduce", input, d, idx, source)
    source = _as_1d(source)
    along = [1] * source.ndim
    along[d] = idx.size
    full = _along(input._xp, input._xp.broadcast_to(idx.reshape(along), source.shape), d)
    return _shaped(_scatter_reduce(_as_1d(input), full, source, reduce, include_self), input.shape)


def _scalar(op: str, value, like: Tensor) -> Tensor:
    """``value`` (a number or a 0-d tensor) as a 0-d tensor of ``like``'s dtype."""
    if not isinstance(value, Tensor):
        return Tensor._wrap(like._xp.asarray(value, dtype=like.dtype))
    if value.ndim != 0:
        raise RuntimeError(f"{op}: only supports a 0-dimensional value tensor, but got tensor with "
                           f"{value.ndim} dimension(s)")
    return value if value.dtype == like.dtype and value._xp is like._xp else to(value, like.device, like.dtype)


# --- masks -----------------------------------------------------------------------------------

def _mask_array(op: str, mask, like: Tensor):
    array = mask.array if isinstance(mask, Tensor) else mask
    if getattr(array, "dtype", None) != numpy.bool_:
        raise RuntimeError(f"{op}: expected a boolean mask, got dtype {getattr(array, 'dtype', type(mask).__name__)}")
    return backend.to_module(array, like._xp)


def _broadcast(op: str, input: Tensor, mask) -> tuple:
    """``input`` and ``mask`` broadcast together (the input differentiably)."""
    xp = input._xp
    try:
        shape = numpy.broadcast_shapes(input.shape, mask.shape)
    except ValueError:
        raise RuntimeError(f"{op}: the shapes of input {tuple(input.shape)} and mask {tuple(mask.shape)} "
                           "cannot be broadcast together") from None
    return expand(input, shape), xp.broadcast_to(mask, shape)


def masked_fill(input: Tensor, mask: Tensor, value) -> Tensor:
    """``input`` with ``value`` (a number or a 0-d tensor, cast to input's dtype) wherever the
    boolean ``mask`` (broadcast) is True."""
    m = _mask_array("masked_fill", mask, input)
    return elementwise.where(Tensor._wrap(m), _scalar("masked_fill", value, input), input)


def masked_select(input: Tensor, mask: Tensor) -> Tensor:
    """The values of ``input`` where ``mask`` is True (the two broadcast), as a 1-d tensor."""
    a, m = _broadcast("masked_select", input, _mask_array("masked_select", mask, input))
    return _take(a, _Where(None, m))


def masked_scatter(input: Tensor, mask: Tensor, source: Tensor) -> Tensor:
    """A copy of ``input`` with the places where ``mask`` is True (the two broadcast) taking the
    first values of ``source``, in row-major order."""
    _same_dtype("masked_scatter", input, source, "source")
    a, m = _broadcast("masked_scatter", input, _mask_array("masked_scatter", mask, input))
    n = int(m.sum())
    if source.numel() < n:
        raise RuntimeError(f"masked_scatter: the number of elements of source ({source.numel()}) is smaller than "
                           f"the number of ones in the mask ({n})")
    values = _take(_as_1d(source), _Where(None, input._xp.unravel_index(input._xp.arange(n), source.shape or (1,))))
    return _place(a, _Where(None, m), values, op="masked_scatter")


# --- take and put: the tensor as if flattened --------------------------------------------------

def _flat_place(op: str, input: Tensor, index: Tensor) -> _Where:
    """The places in ``input`` of the flat indices in ``index`` (negatives count from the end)."""
    idx = _index_array(index, input, op)
    n = input.numel()
    if idx.size and (int(idx.max()) >= n or int(idx.min()) < -n):
        bad = int(idx.max()) if int(idx.max()) >= n else int(idx.min())
        raise _IndexError(f"{op}: out of range: tried to access index {bad} on a tensor of {n} elements")
    return _Where(None, input._xp.unravel_index(idx % max(n, 1), input.shape or (1,)))


def take(input: Tensor, index: Tensor) -> Tensor:
    """The values of ``input``, read as if flattened, at ``index``; the result has index's shape."""
    return _take(_as_1d(input), _flat_place("take", input, index))


def put(input: Tensor, index: Tensor, source: Tensor, accumulate: bool = False) -> Tensor:
    """A copy of ``input``, read as if flattened, with ``source`` written (or added) at ``index``."""
    _same_dtype("put", input, source, "source")
    if index.numel() != source.numel():
        raise _IndexError(f"put: expected source and index to have the same number of elements, but got "
                          f"source.numel() = {source.numel()}, index.numel() = {index.numel()}")
    where = _flat_place("put", input, index)
    xp = input._xp
    values = _take(_as_1d(source), _Where(None, xp.unravel_index(xp.arange(source.numel()).reshape(index.shape),
                                                                 source.shape or (1,))))
    return _shaped(_place(_as_1d(input), where, values, accumulate, "put"), input.shape)


def take_along_dim(input: Tensor, indices: Tensor, dim: int | None = None) -> Tensor:
    """``gather`` with ``input`` and ``indices`` broadcast in every dim but ``dim`` (negative indices
    count from the end); without ``dim``, both are read as if flattened."""
    if dim is None:
        return _take(_as_1d(input), _flat_place("take_along_dim", input, _flat(indices)))
    d = _dim(dim, input.ndim, "take_along_dim")
    idx = _index_array(indices, input, "take_along_dim")
    if idx.ndim != input.ndim:
        raise RuntimeError(f"take_along_dim: input and indices should have the same number of dimensions, but got "
                           f"{input.ndim} dimensions for input, and {idx.ndim} dimensions for indices")
    if input.ndim == 0:
        return gather(input, 0, indices)
    try:
        common = numpy.broadcast_shapes(input.shape[:d] + (1,) + input.shape[d + 1:],
                                        idx.shape[:d] + (1,) + idx.shape[d + 1:])
    except ValueError:
        raise RuntimeError(f"take_along_dim: input of shape {tuple(input.shape)} and indices of shape "
                           f"{tuple(idx.shape)} cannot be broadcast apart from dimension {d}") from None
    size = input.shape[d]
    _check_bounds(idx, size, d, "take_along_dim")
    a = expand(input, common[:d] + (size,) + common[d + 1:])
    idx = input._xp.broadcast_to(idx % max(size, 1), common[:d] + (idx.shape[d],) + common[d + 1:])
    return _take(a, _Where(None, _along(input._xp, idx, d)))


def _flat(t: Tensor) -> Tensor:
    return Tensor._wrap(t.array.reshape(-1))


# --- where things are ----------------------------------------------------------------------------

def nonzero(input: Tensor, *, as_tuple: bool = False):
    """The indices of the nonzero values: an int64 tensor of shape (count, ndim), or with
    ``as_tuple`` one 1-d tensor per dim (a 0-d input counts as 1-d there, as in PyTorch)."""
    xp, array = input._xp, input.array
    if as_tuple:
        return tuple(Tensor._wrap(i.astype(numpy.int64)) for i in xp.nonzero(array.reshape(-1) if array.ndim == 0
                                                                            else array))
    return Tensor._wrap(xp.argwhere(array).astype(numpy.int64))


def argwhere(input: Tensor) -> Tensor:
    """The indices of the nonzero values, shape (count, ndim): ``nonzero(input)``."""
    return nonzero(input)


# --- in-place forms ------------------------------------------------------------------------------

def _in_place(fn):
    """``fn``'s in-place method (``scatter_`` of ``scatter``...): its result written into the tensor
    by ``Tensor._inplace``, which records the change when gradients are on. The tensor arguments
    go through as operands, so that a ``src`` that requires grad is seen."""
    signature = inspect.signature(fn)
    name = fn.__name__ + "_"

    def method(self, *args, **kwargs):
        arguments = dict(list(signature.bind(self, *args, **kwargs).arguments.items())[1:])
        tensors = [k for k, v in arguments.items() if isinstance(v, Tensor)]
        return self._inplace(name, lambda t, *values: fn(t, **{**arguments, **dict(zip(tensors, values))}),
                             *(arguments[k] for k in tensors))
    method.__name__ = name
    method.__doc__ = f"In-place :func:`{fn.__name__}`."
    return method


__all__ = ["gather", "scatter", "scatter_add", "scatter_reduce", "index_select", "index_add", "index_copy",
           "index_fill", "index_put", "index_reduce", "masked_fill", "masked_select", "masked_scatter", "take", "put",
           "take_along_dim", "nonzero", "argwhere"]

METHODS = {"__getitem__": getitem, "__setitem__": setitem, "_fill_": _fill,
           **{name: globals()[name] for name in __all__},
           **{fn.__name__ + "_": _in_place(fn) for fn in (scatter, scatter_add, scatter_reduce, index_add, index_copy,
                                                          index_fill, index_put, index_reduce, masked_scatter, put)}}
