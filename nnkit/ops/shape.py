"""Shapes and views: reshape, transpose, permute, squeeze, cat, split..."""

from __future__ import annotations

import builtins
from typing import Sequence

import numpy

from ..tensor import Tensor
from .base import _dim, _dims, _make, _promote_types, _shape_arg, _sum_to, _view, to, zeros_scalar
from .elementwise import where
from .indexing import getitem


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


def repeat(a: Tensor, *sizes) -> Tensor:
    """Tile the tensor ``sizes`` times along each dim (copies, unlike expand)."""
    sizes = _shape_arg(sizes)
    if len(sizes) < a.ndim:
        raise RuntimeError(f"repeat: {len(sizes)} repeat counts for a tensor with {a.ndim} dims")
    shape = (1,) * (len(sizes) - a.ndim) + a.shape
    out = a._xp.tile(a.array.reshape(shape), sizes)

    def backward(g):
        # Split each dim into (repeats, size) and sum over the repeats.
        split = tuple(x for r, n in zip(sizes, shape) for x in (r, n))
        return (reshape(_sum_to(reshape(g, split), tuple(x for n in shape for x in (1, n))), a.shape),)
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


__all__ = ["reshape", "transpose", "permute", "flip", "squeeze", "unsqueeze", "flatten", "unflatten", "clone",
           "cat", "stack", "split", "chunk", "unbind", "tril", "triu"]

METHODS = {**{name: globals()[name] for name in __all__ if name not in ("cat", "stack")},
           "repeat": repeat, "contiguous": contiguous, "view": reshape,
           "view_as": lambda self, other: reshape(self, other.shape),
           "T": property(lambda self: permute(self, tuple(reversed(range(self.ndim))))),
           "mT": property(lambda self: transpose(self, -1, -2))}
