"""Indexing: ``a[index]`` and its writing twin, gather and friends."""

from __future__ import annotations

import builtins

from .. import backend
from ..autograd import _GradMode
from ..tensor import Tensor
from .base import _dim, _make, _operands, _sum_to, _view, zeros_scalar
from .elementwise import where


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


def setitem(a: Tensor, index, value) -> None:
    """``a[index] = value``: in place; with gradients recorded, the graph follows (as PyTorch's index_put_)."""
    if not isinstance(value, Tensor):
        value = Tensor._wrap(a._xp.asarray(value, dtype=a.dtype))
    if not (_GradMode.enabled and (a.requires_grad or value.requires_grad)):
        a.array[_index(index)] = value.array  # no graph: write just the selected places
        a._counter()[0] += 1
        return
    a._inplace("__setitem__", lambda t, v: index_put(t, index, v), value)


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


def masked_fill(a: Tensor, mask, value) -> Tensor:
    """``a`` with ``value`` wherever ``mask`` is True."""
    return where(mask, value, a)


__all__ = ["gather", "index_select", "masked_fill"]

METHODS = {"__getitem__": getitem, "__setitem__": setitem, "_fill_": _fill, "gather": gather,
           "index_select": index_select, "masked_fill": masked_fill}
