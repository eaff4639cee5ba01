"""Shapes and views: reshape, transpose, permute, squeeze, cat, split, diagonal, unfold...

Ops that PyTorch implements as views (reshape where possible, transpose, permute,
diagonal, narrow, select, movedim, unfold, expand) go through ``_view``: when the
array is a view of the input's memory, the result shares the input's version
counter, so that an in-place change through either is seen by both.
"""

from __future__ import annotations

import builtins
import warnings
from typing import Sequence

import numpy

from ..autograd import _GradMode
from ..tensor import Tensor
from .base import (_dim, _make, _promote_types, _shape_arg, _sum_to, _view, expand, to, zeros_scalar)
from .elementwise import where
from .indexing import getitem, index_add, take


def _int(value, op: str, what: str) -> int:
    """An int argument, also given as a 0-d integer tensor (as PyTorch accepts)."""
    if isinstance(value, Tensor):
        if value.ndim != 0 or value.dtype.kind not in "iu":
            raise RuntimeError(f"{op}: {what} must be an int or a 0-d integer tensor, got a tensor of shape "
                               f"{tuple(value.shape)} and dtype {value.dtype}")
        return int(value.item())
    if isinstance(value, (bool, numpy.bool_)) or not isinstance(value, (int, numpy.integer)):
        raise TypeError(f"{op}: {what} must be an int, got {value!r}")
    return int(value)


def _ints(value, op: str, what: str) -> tuple:
    """An int or a sequence of ints, as a tuple."""
    if isinstance(value, (tuple, list)):
        return tuple(_int(v, op, what) for v in value)
    return (_int(value, op, what),)


def _distinct_dims(dims, ndim: int, op: str) -> tuple:
    """Normalised dims in the given order; a dim named twice raises, as in PyTorch."""
    out = tuple(_dim(d, ndim, op) for d in dims)
    for i, d in enumerate(out):
        if d in out[:i]:
            raise RuntimeError(f"{op}: dim {d} appears multiple times in the list of dims {tuple(dims)}")
    return out


def _writable(array, source) -> None:
    """NumPy's ``diagonal`` returns a read-only view; PyTorch's diagonal can be written
    through, like any view (CuPy arrays have no such flag)."""
    flags = array.flags
    if not getattr(flags, "writeable", True) and getattr(source.flags, "writeable", False):
        flags.writeable = True


# --- reshaping -----------------------------------------------------------------------

def reshape(a: Tensor, *shape) -> Tensor:
    """The same values in a new shape (one entry may be -1); a view where the layout allows."""
    shape = _shape_arg(shape)
    if not builtins.all(isinstance(s, (int, numpy.integer)) and not isinstance(s, bool) for s in shape):
        raise TypeError(f"reshape: the shape must be ints, got {tuple(shape)}")
    try:
        if builtins.any(s < -1 for s in shape):  # NumPy would take any negative size for -1
            raise ValueError
        out = a.array.reshape(shape)
    except (ValueError, TypeError):
        raise RuntimeError(f"reshape: cannot reshape a tensor of shape {tuple(a.shape)} ({a.numel()} elements) "
                           f"into {tuple(shape)}") from None
    old = a.shape
    return _view(out, a, lambda g: (reshape(g, old),), "Reshape")


def view(a: Tensor, *shape) -> Tensor:
    """``reshape`` that never copies: where the layout does not allow a view (a transposed
    matrix flattened, say), it raises, as PyTorch does."""
    out = reshape(a, *shape)
    if a.numel() and not a._xp.may_share_memory(out.array, a.array):
        raise RuntimeError(f"view: a tensor of shape {tuple(a.shape)} and strides {a.array.strides} cannot be "
                           f"viewed as {tuple(out.shape)} without a copy; use reshape(...) instead")
    return out


def ravel(input: Tensor) -> Tensor:
    """Flattened to 1-d (a view when the layout allows, a copy otherwise)."""
    return reshape(input, -1)


def squeeze(a: Tensor, dim=None) -> Tensor:
    """Drop dims of size 1 (only those in ``dim``, an int or a tuple, when given)."""
    if dim is None:
        shape = tuple(s for s in a.shape if s != 1)
    else:
        dims = _distinct_dims(dim if isinstance(dim, (tuple, list)) else (dim,), a.ndim, "squeeze")
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


def unflatten(input: Tensor, dim: int, sizes: Sequence[int]) -> Tensor:
    """Split dim ``dim`` into ``sizes`` (one of them may be -1, inferred)."""
    d = _dim(dim, input.ndim, "unflatten")
    sizes = _ints(sizes, "unflatten", "sizes")
    n = input.shape[d]
    if not sizes:
        raise RuntimeError("unflatten: sizes must be non-empty")
    known = int(numpy.prod([s for s in sizes if s != -1]))
    if sizes.count(-1) > 1 or builtins.any(s < -1 for s in sizes) or (-1 in sizes and known == 0):
        raise RuntimeError(f"unflatten: sizes {sizes} are invalid: at most one -1 (which must be inferable) "
                           "and no other negative size")
    if (n % known if -1 in sizes else n != known):
        raise RuntimeError(f"unflatten: provided sizes {sizes} don't multiply up to the size of dim {dim} ({n}) "
                           f"of the input of shape {tuple(input.shape)}")
    return reshape(input, input.shape[:d] + sizes + input.shape[d + 1:])


def contiguous(a: Tensor) -> Tensor:
    out = a._xp.ascontiguousarray(a.array)
    if out is a.array:  # already contiguous: the tensor itself, as in PyTorch
        return a
    return _make(out, (a,), lambda g: (g,), "Contiguous", ())


def clone(a: Tensor) -> Tensor:
    """A copy that stays in the graph."""
    return _make(a.array.copy(), (a,), lambda g: (g,), "Clone", ())


def atleast_1d(*tensors):
    """Each tensor with at least 1 dim (0-d becomes shape (1,)); one tensor in, one out."""
    return _atleast(tensors, lambda t: reshape(t, (1,)) if t.ndim == 0 else t)


def atleast_2d(*tensors):
    """Each tensor with at least 2 dims: new dims go in front, (n,) becomes (1, n)."""
    return _atleast(tensors, lambda t: reshape(t, (1,) * (2 - t.ndim) + t.shape) if t.ndim < 2 else t)


def atleast_3d(*tensors):
    """Each tensor with at least 3 dims: (n,) becomes (1, n, 1) and (m, n) becomes (m, n, 1), as NumPy."""
    shapes = {0: lambda s: (1, 1, 1), 1: lambda s: (1,) + s + (1,), 2: lambda s: s + (1,)}
    return _atleast(tensors, lambda t: reshape(t, shapes[t.ndim](t.shape)) if t.ndim < 3 else t)


def _atleast(tensors: tuple, lift):
    if len(tensors) == 1 and isinstance(tensors[0], Tensor):
        return lift(tensors[0])
    if len(tensors) == 1 and isinstance(tensors[0], (tuple, list)):
        tensors = tuple(tensors[0])
    return tuple(lift(t) for t in tensors)


# --- reordering dims -------------------------------------------------------------------

def transpose(a: Tensor, dim0: int, dim1: int) -> Tensor:
    """Swap two dims (a view)."""
    n = builtins.max(a.ndim, 1)
    for d in (dim0, dim1):
        _dim(d, a.ndim, "transpose")
        if not -n <= d < n:
            raise IndexError(f"transpose: dim {d} is out of range for a tensor with {a.ndim} dimensions")
    if a.ndim == 0:
        return reshape(a, ())
    return _view(a._xp.swapaxes(a.array, dim0, dim1), a, lambda g: (transpose(g, dim0, dim1),), "Transpose")


def swapaxes(input: Tensor, axis0: int, axis1: int) -> Tensor:
    """NumPy's name for ``transpose``."""
    return transpose(input, axis0, axis1)


def swapdims(input: Tensor, dim0: int, dim1: int) -> Tensor:
    """Another name for ``transpose``."""
    return transpose(input, dim0, dim1)


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


def movedim(input: Tensor, source, destination) -> Tensor:
    """Move the dims ``source`` (an int or a tuple) to the positions ``destination``; the
    others keep their order (a view)."""
    source, destination = _ints(source, "movedim", "source"), _ints(destination, "movedim", "destination")
    if len(source) != len(destination):
        raise RuntimeError(f"movedim: source {source} and destination {destination} name different numbers of dims")
    source = _distinct_dims(source, input.ndim, "movedim")
    destination = _distinct_dims(destination, input.ndim, "movedim")
    order = [None] * input.ndim
    for s, d in zip(source, destination):
        order[d] = s
    rest = iter(d for d in range(input.ndim) if d not in source)
    return permute(input, tuple(next(rest) if d is None else d for d in order))


def moveaxis(input: Tensor, source, destination) -> Tensor:
    """NumPy's name for ``movedim``."""
    return movedim(input, source, destination)


def t(input: Tensor) -> Tensor:
    """The transpose of a matrix; 0-d and 1-d tensors are returned as they are."""
    if input.ndim > 2:
        raise RuntimeError(f"t: expects a tensor with <= 2 dimensions, but got shape {tuple(input.shape)}; "
                           "use transpose(dim0, dim1) or mT")
    return permute(input, tuple(reversed(range(input.ndim))))


def _matrix_transpose(input: Tensor, op: str) -> Tensor:
    if input.ndim < 2:
        raise RuntimeError(f"{op} is only supported on matrices or batches of matrices, got a {input.ndim}-d "
                           f"tensor of shape {tuple(input.shape)}")
    return transpose(input, -2, -1)


def adjoint(input: Tensor) -> Tensor:
    """The conjugate transpose of the last two dims. nnkit's tensors are real, so it is
    the transpose, ``mT``."""
    return _matrix_transpose(input, "adjoint()")


def _H(input: Tensor) -> Tensor:
    if input.ndim not in (0, 2):
        raise RuntimeError(f"tensor.H is only supported on matrices (2-d tensors), got shape {tuple(input.shape)}; "
                           "for batches of matrices, use tensor.mH")
    return t(input)


# --- diagonals and triangles -------------------------------------------------------------

def diagonal(input: Tensor, offset: int = 0, dim1: int = 0, dim2: int = 1) -> Tensor:
    """The diagonal of the matrices in dims ``dim1``, ``dim2`` (above it for ``offset`` > 0),
    as a new last dim: a view."""
    d1, d2 = _dim(dim1, input.ndim, "diagonal"), _dim(dim2, input.ndim, "diagonal")
    if d1 == d2:
        raise RuntimeError(f"diagonal: dim1 and dim2 cannot be the same dim ({dim1}, {dim2})")
    out = input.array.diagonal(offset, d1, d2)
    _writable(out, input.array)
    shape = input.shape
    return _view(out, input, lambda g: (_diagonal_embed(g, shape, offset, d1, d2),), "Diagonal")


def _diagonal_embed(src: Tensor, shape: tuple, offset: int, dim1: int, dim2: int) -> Tensor:
    """Zeros of ``shape`` with ``src`` on the diagonal ``(offset, dim1, dim2)``: the adjoint of
    :func:`diagonal`, and diagonal is its backward."""
    out = src._xp.zeros(shape, dtype=src.dtype)
    place = out.diagonal(offset, dim1, dim2)
    _writable(place, out)
    place[...] = src.array
    return _make(out, (src,), lambda g: (diagonal(g, offset, dim1, dim2),), "DiagonalEmbed", ())


def diag_embed(input: Tensor, offset: int = 0, dim1: int = -2, dim2: int = -1) -> Tensor:
    """Matrices (in dims ``dim1``, ``dim2`` of the result) with the last dim of ``input`` on
    their diagonal ``offset``."""
    n = input.ndim + 1
    d1, d2 = _dim(dim1, n, "diag_embed"), _dim(dim2, n, "diag_embed")
    if d1 == d2:
        raise RuntimeError(f"diag_embed: dim1 and dim2 cannot be the same dim ({dim1}, {dim2})")
    if input.ndim == 0:
        raise IndexError("diag_embed: expects a tensor with at least 1 dim, got a 0-d tensor")
    size = input.shape[-1] + builtins.abs(offset)
    shape = list(input.shape[:-1])
    for d in sorted((d1, d2)):
        shape.insert(d, size)
    return _diagonal_embed(input, tuple(shape), offset, d1, d2)


def diag(input: Tensor, diagonal: int = 0) -> Tensor:
    """1-d: the square matrix with ``input`` on its diagonal ``diagonal``; 2-d: that
    diagonal of the matrix, as a new tensor (a copy)."""
    if input.ndim == 1:
        return diag_embed(input, diagonal)
    if input.ndim == 2:
        return clone(input.diagonal(diagonal))  # the method: the argument hides the function
    raise RuntimeError(f"diag: supports 1-d or 2-d tensors, got shape {tuple(input.shape)}")


def diagflat(input: Tensor, offset: int = 0) -> Tensor:
    """The square matrix with the flattened ``input`` on its diagonal ``offset``."""
    return diag_embed(flatten(input), offset)


def _triangle(a: Tensor, diagonal: int, op: str) -> Tensor:
    """The mask of the lower triangle (up to ``diagonal``) of ``a``'s matrices."""
    if a.ndim < 2:
        raise RuntimeError(f"{op}: input tensor must have at least 2 dimensions, got shape {tuple(a.shape)}")
    return Tensor._wrap(a._xp.tri(a.shape[-2], a.shape[-1], _int(diagonal, op, "diagonal"), dtype=bool))


def tril(input: Tensor, diagonal: int = 0) -> Tensor:
    """The lower triangle of each matrix (the last two dims), up to diagonal ``diagonal``; zeros above."""
    return where(_triangle(input, diagonal, "tril"), input, zeros_scalar(input))


def triu(input: Tensor, diagonal: int = 0) -> Tensor:
    """The upper triangle of each matrix, from diagonal ``diagonal`` on; zeros below."""
    return where(_triangle(input, diagonal - 1, "triu"), zeros_scalar(input), input)


# --- joining -------------------------------------------------------------------------------

def cat(tensors: Sequence[Tensor], dim: int = 0, *, axis: int | None = None) -> Tensor:
    """Join tensors along an existing dim; the gradient is cut back into pieces.

    As in PyTorch, 1-d empty tensors (shape ``(0,)``) are skipped whatever the others' shape.
    """
    tensors = list(tensors)
    dim = dim if axis is None else axis
    if not tensors:
        raise ValueError("cat: expected a non-empty list of tensors")
    dtype = tensors[0].dtype
    for t in tensors[1:]:
        dtype = _promote_types(dtype, t.dtype)
    for i, t in enumerate(tensors):
        if t.ndim == 0:
            raise RuntimeError(f"cat: a zero-dimensional tensor (at position {i}) cannot be concatenated")
    tensors = [t if t.dtype == dtype else to(t, dtype) for t in tensors]
    kept = [t for t in tensors if t.shape != (0,)] or tensors[:1]
    d = _dim(dim, kept[0].ndim, "cat") if kept[0].shape != (0,) else 0
    for i, t in enumerate(kept[1:], 1):
        if t.ndim != kept[0].ndim:
            raise RuntimeError(f"cat: tensors must have the same number of dims, got shapes {tuple(kept[0].shape)} "
                               f"and {tuple(t.shape)}")
        if t.shape[:d] + t.shape[d + 1:] != kept[0].shape[:d] + kept[0].shape[d + 1:]:
            raise RuntimeError(f"cat: shapes {[tuple(k.shape) for k in kept]} do not match outside dim {d}")
    out = kept[0]._xp.concatenate([t.array for t in kept], axis=d)
    bounds = numpy.cumsum([0] + [t.shape[d] for t in kept])

    def backward(g):
        index = [slice(None)] * g.ndim
        pieces = []
        for lo, hi in zip(bounds[:-1], bounds[1:]):
            index[d] = slice(int(lo), int(hi))
            pieces.append(getitem(g, tuple(index)))
        return tuple(pieces)
    return _make(out, tuple(kept), backward, "Cat", ())


concat = concatenate = cat


def stack(tensors: Sequence[Tensor], dim: int = 0, *, axis: int | None = None) -> Tensor:
    """Join same-shaped tensors along a new dim."""
    tensors = list(tensors)
    dim = dim if axis is None else axis
    if not tensors:
        raise RuntimeError("stack: expects a non-empty list of tensors")
    for i, t in enumerate(tensors[1:], 1):
        if t.shape != tensors[0].shape:
            raise RuntimeError(f"stack: all tensors must have the same shape, got {tuple(tensors[0].shape)} at "
                               f"entry 0 and {tuple(t.shape)} at entry {i}")
    d = _dim(dim, tensors[0].ndim + 1, "stack")
    return cat([unsqueeze(t, d) for t in tensors], d)


def hstack(tensors: Sequence[Tensor]) -> Tensor:
    """Join along dim 1 (dim 0 for 1-d tensors); 0-d tensors count as 1-d."""
    tensors = atleast_1d(tuple(tensors))
    return cat(tensors, 0 if builtins.all(t.ndim == 1 for t in tensors) else 1)


def vstack(tensors: Sequence[Tensor]) -> Tensor:
    """Join rows: 1-d tensors become rows (1, n), then they are joined along dim 0."""
    return cat(atleast_2d(tuple(tensors)), 0)


def dstack(tensors: Sequence[Tensor]) -> Tensor:
    """Join along dim 2 after ``atleast_3d``."""
    return cat(atleast_3d(tuple(tensors)), 2)


def column_stack(tensors: Sequence[Tensor]) -> Tensor:
    """Join columns: 0-d and 1-d tensors become columns (n, 1), then they are joined along dim 1."""
    return cat([reshape(t, (t.numel(), 1)) if t.ndim < 2 else t for t in tensors], 1)


# --- splitting --------------------------------------------------------------------------------

def _pieces(a: Tensor, d: int, bounds) -> tuple:
    """``a`` cut along dim ``d`` into ``a[lo:hi]`` for each (lo, hi) (views)."""
    head = (slice(None),) * d
    return tuple(getitem(a, head + (slice(lo, hi),)) for lo, hi in bounds)


def split(tensor: Tensor, split_size_or_sections, dim: int = 0) -> tuple:
    """Cut into pieces of ``split_size`` (the last may be smaller) or of the given sizes."""
    if tensor.ndim == 0:
        raise RuntimeError("split: expects at least a 1-dimensional tensor")
    d = _dim(dim, tensor.ndim, "split")
    n = tensor.shape[d]
    if isinstance(split_size_or_sections, (tuple, list)):
        sizes = _ints(split_size_or_sections, "split", "split sizes")
        if builtins.any(s < 0 for s in sizes) or builtins.sum(sizes) != n:
            raise RuntimeError(f"split: sizes {list(sizes)} must be non-negative and sum exactly to {n}, the "
                               f"size of dim {d}")
    else:
        size = _int(split_size_or_sections, "split", "split_size")
        if size < 0 or (size == 0 and n != 0):
            raise RuntimeError(f"split: split_size must be positive (0 only for an empty dim), got {size} "
                               f"for a dim of size {n}")
        count = builtins.max(-(-n // size), 1) if size else 1
        sizes = (size,) * (count - 1) + (n - size * (count - 1),)
    ends = numpy.cumsum(sizes).tolist()
    return _pieces(tensor, d, zip([0] + ends[:-1], ends))


def chunk(input: Tensor, chunks: int, dim: int = 0) -> tuple:
    """Cut into at most ``chunks`` pieces of ``ceil(n / chunks)`` (the last may be smaller)."""
    if input.ndim == 0:
        raise RuntimeError("chunk: expects at least a 1-dimensional tensor")
    if chunks <= 0:
        raise RuntimeError(f"chunk: expects `chunks` to be greater than 0, got {chunks}")
    d = _dim(dim, input.ndim, "chunk")
    n = input.shape[d]
    if n == 0:  # as PyTorch: `chunks` empty pieces
        return split(input, [0] * chunks, d)
    return split(input, -(-n // chunks), d)


def tensor_split(input: Tensor, indices_or_sections, dim: int = 0) -> tuple:
    """Cut into ``sections`` nearly equal pieces (the first ``n % sections`` one longer), or
    at the given indices (Python slicing rules: out-of-range indices give empty pieces)."""
    if input.ndim == 0:
        raise RuntimeError("tensor_split: expects at least a 1-dimensional tensor, got a 0-d tensor")
    d = _dim(dim, input.ndim, "tensor_split")
    spec = indices_or_sections
    if isinstance(spec, Tensor):
        if spec.dtype.kind not in "iu" or spec.ndim > 1:
            raise RuntimeError(f"tensor_split: a tensor of indices or sections must be 0-d or 1-d and integer, "
                               f"got shape {tuple(spec.shape)} and dtype {spec.dtype}")
        spec = spec.item() if spec.ndim == 0 else spec.tolist()
    if isinstance(spec, (tuple, list)):
        cuts = [None] + list(_ints(spec, "tensor_split", "indices")) + [None]
        return _pieces(input, d, zip(cuts[:-1], cuts[1:]))
    sections = _int(spec, "tensor_split", "sections")
    if sections <= 0:
        raise RuntimeError(f"tensor_split: number of sections must be larger than 0, got {sections}")
    n = input.shape[d]
    sizes = [n // sections + 1] * (n % sections) + [n // sections] * (sections - n % sections)
    ends = numpy.cumsum(sizes).tolist()
    return _pieces(input, d, zip([0] + ends[:-1], ends))


def _split_at(input: Tensor, indices_or_sections, dim: int, min_dims: int, op: str) -> tuple:
    """hsplit, vsplit and dsplit: tensor_split along ``dim``, where a number of sections must
    divide the dim evenly."""
    if input.ndim < min_dims:
        raise RuntimeError(f"{op}: requires a tensor with at least {min_dims} dims, got shape {tuple(input.shape)}")
    if not isinstance(indices_or_sections, (tuple, list)):
        sections = _int(indices_or_sections, op, "sections")
        if sections <= 0 or input.shape[dim] % sections:
            raise RuntimeError(f"{op}: the size {input.shape[dim]} of dim {dim} is not divisible by {sections}")
    return tensor_split(input, indices_or_sections, dim)


def hsplit(input: Tensor, indices_or_sections) -> tuple:
    """Split along dim 1 (dim 0 for 1-d tensors)."""
    return _split_at(input, indices_or_sections, 1 if input.ndim > 1 else 0, 1, "hsplit")


def vsplit(input: Tensor, indices_or_sections) -> tuple:
    """Split along dim 0 (at least 2-d)."""
    return _split_at(input, indices_or_sections, 0, 2, "vsplit")


def dsplit(input: Tensor, indices_or_sections) -> tuple:
    """Split along dim 2 (at least 3-d)."""
    return _split_at(input, indices_or_sections, 2, 3, "dsplit")


def narrow(input: Tensor, dim: int, start, length: int) -> Tensor:
    """``length`` entries of dim ``dim`` from ``start`` on (a view)."""
    if input.ndim == 0:
        raise RuntimeError("narrow: cannot be applied to a 0-d tensor")
    d = _dim(dim, input.ndim, "narrow")
    n = input.shape[d]
    start, length = _int(start, "narrow", "start"), _int(length, "narrow", "length")
    if not -n <= start <= n:
        raise IndexError(f"narrow: start {start} is out of range for dim {d} of size {n}")
    start %= builtins.max(n, 1)
    if length < 0 or start + length > n:
        raise RuntimeError(f"narrow: start ({start}) + length ({length}) exceeds the size {n} of dim {d}, or "
                           "length is negative")
    return _pieces(input, d, [(start, start + length)])[0]


def select(input: Tensor, dim: int, index: int) -> Tensor:
    """The slice at ``index`` of dim ``dim``, which disappears (a view): ``input[..., index, ...]``."""
    if input.ndim == 0:
        raise IndexError("select: cannot be applied to a 0-d tensor")
    d = _dim(dim, input.ndim, "select")
    index = _int(index, "select", "index")
    if not -input.shape[d] <= index < input.shape[d]:
        raise IndexError(f"select: index {index} is out of range for dim {d} of a tensor of shape "
                         f"{tuple(input.shape)}")
    return getitem(input, (slice(None),) * d + (index,))


def unbind(input: Tensor, dim: int = 0) -> tuple:
    """Every slice along ``dim``, which disappears."""
    if input.ndim == 0:
        raise IndexError("unbind: cannot be applied to a 0-d tensor")
    d = _dim(dim, input.ndim, "unbind")
    return tuple(select(input, d, i) for i in range(input.shape[d]))


# --- repeating ------------------------------------------------------------------------------

def repeat(a: Tensor, *sizes) -> Tensor:
    """Tile the tensor ``sizes`` times along each dim (copies, unlike expand)."""
    sizes = _shape_arg(sizes)
    if len(sizes) < a.ndim:
        raise RuntimeError(f"repeat: {len(sizes)} repeat counts for a tensor with {a.ndim} dims")
    if builtins.any(s < 0 for s in sizes):
        raise RuntimeError(f"repeat: repeat counts must be non-negative, got {tuple(sizes)}")
    shape = (1,) * (len(sizes) - a.ndim) + a.shape
    out = a._xp.tile(a.array.reshape(shape), sizes)

    def backward(g):
        # Split each dim into (repeats, size) and sum over the repeats.
        split = tuple(x for r, n in zip(sizes, shape) for x in (r, n))
        return (reshape(_sum_to(reshape(g, split), tuple(x for n in shape for x in (1, n))), a.shape),)
    return _make(out, (a,), backward, "Repeat", ())


def tile(input: Tensor, *dims) -> Tensor:
    """``repeat``, where fewer counts than dims repeat the last dims (the others once)."""
    dims = _shape_arg(dims)
    return repeat(input, (1,) * (input.ndim - len(dims)) + tuple(dims))


def repeat_interleave(input: Tensor, repeats=None, dim: int | None = None, *, output_size: int | None = None):
    """Repeat each entry (or slice along ``dim``) ``repeats`` times, in place: [a, b] -> [a, a, b, b].

    ``repeats`` is an int or an integer tensor (0-d or 1-d, one count per entry). With
    ``dim=None`` the input is flattened first. ``repeat_interleave(counts)`` alone gives the
    indices ``0, 0, 1, ...`` repeated by ``counts``.
    """
    if repeats is None:
        counts = _counts(input, input.shape[0] if input.ndim else 1, "repeat_interleave")
        return _repeated_indices(input._xp, counts, output_size)
    if dim is None:
        input, dim = flatten(input), 0
    d = _dim(dim, input.ndim, "repeat_interleave")
    if isinstance(repeats, Tensor):
        counts = _counts(repeats, input.shape[d], "repeat_interleave")
    else:
        count = _int(repeats, "repeat_interleave", "repeats")
        if count < 0:
            raise RuntimeError(f"repeat_interleave: repeats must be non-negative, got {count}")
        counts = input._xp.full(input.shape[d], count)
    index = _repeated_indices(input._xp, counts, output_size)
    return getitem(input, (slice(None),) * d + (index,))


def _counts(repeats: Tensor, n: int, op: str):
    """The repeat counts as an integer array of ``n`` entries (a 0-d or one-entry tensor is broadcast)."""
    if repeats.dtype.kind not in "iu":
        raise RuntimeError(f"{op}: repeats must be an integer tensor, got {repeats.dtype}")
    if repeats.ndim > 1:
        raise RuntimeError(f"{op}: repeats must be a 0-d or 1-d tensor, got shape {tuple(repeats.shape)}")
    counts = repeats.array.reshape(-1)
    if counts.shape[0] not in (1, n):
        raise RuntimeError(f"{op}: repeats must have the same size as the input along dim, got {counts.shape[0]} "
                           f"and {n}")
    if bool((counts < 0).any()):
        raise RuntimeError(f"{op}: repeats cannot be negative")
    return repeats._xp.broadcast_to(counts, (n,))


def _repeated_indices(xp, counts, output_size: int | None) -> Tensor:
    index = xp.repeat(xp.arange(counts.shape[0]), counts.tolist())  # CuPy's repeat takes counts as a list
    if output_size is not None and output_size != index.shape[0]:
        raise RuntimeError(f"repeat_interleave: output_size {output_size} does not match the repeated size "
                           f"{index.shape[0]}")
    return Tensor._wrap(index)


# --- flipping, rotating, rolling -----------------------------------------------------------

def flip(input: Tensor, *dims_args, dims=None) -> Tensor:
    """Reverse the order of the entries along ``dims`` (each dim at most once)."""
    dims = _shape_arg(dims_args) if dims is None else dims
    dims = _distinct_dims(dims if isinstance(dims, (tuple, list)) else (dims,), input.ndim, "flip")
    if input.ndim == 0 or not dims:
        return clone(input)
    return _view(input._xp.flip(input.array, dims), input, lambda g: (flip(g, dims),), "Flip")


def fliplr(input: Tensor) -> Tensor:
    """Reverse the columns (dim 1); at least 2-d."""
    if input.ndim < 2:
        raise RuntimeError(f"fliplr: input must be at least 2-d, got shape {tuple(input.shape)}")
    return flip(input, (1,))


def flipud(input: Tensor) -> Tensor:
    """Reverse the rows (dim 0); at least 1-d."""
    if input.ndim < 1:
        raise RuntimeError("flipud: input must be at least 1-d, got a 0-d tensor")
    return flip(input, (0,))


def rot90(input: Tensor, k: int = 1, dims=(0, 1)) -> Tensor:
    """Rotate by 90 degrees ``k`` times in the plane ``dims``, from the first dim towards the second."""
    dims = tuple(dims)
    if len(dims) != 2:
        raise RuntimeError(f"rot90: expects exactly 2 rotation dims, got {dims}")
    if input.ndim < 2:
        raise RuntimeError(f"rot90: expects a tensor with at least 2 dims, got shape {tuple(input.shape)}")
    d0, d1 = _dim(dims[0], input.ndim, "rot90"), _dim(dims[1], input.ndim, "rot90")
    if d0 == d1:
        raise RuntimeError(f"rot90: expects two different rotation dims, got {dims}")
    k = _int(k, "rot90", "k") % 4
    if k == 1:
        return transpose(flip(input, (d1,)), d0, d1)
    if k == 2:
        return flip(input, (d0, d1))
    if k == 3:
        return transpose(flip(input, (d0,)), d0, d1)
    return clone(input)


def roll(input: Tensor, shifts, dims=None) -> Tensor:
    """Shift the entries along ``dims`` by ``shifts`` (ints or tuples), wrapping around; with
    ``dims=None``, along the flattened tensor, keeping the shape."""
    shifts = _ints(shifts, "roll", "shifts")
    if dims is None:
        if len(shifts) != 1:
            raise RuntimeError(f"roll: shifts {shifts} and dims must align (one shift when dims is None)")
        return reshape(roll(flatten(input), shifts, 0), input.shape)
    dims = _ints(dims, "roll", "dims")
    if len(shifts) != len(dims):
        raise RuntimeError(f"roll: shifts {shifts} and dims {dims} must align")
    if input.ndim == 0:
        raise IndexError(f"roll: dims {dims} given for a 0-d tensor, which has no dims")
    dims = tuple(_dim(d, input.ndim, "roll") for d in dims)
    out = input._xp.roll(input.array, shifts, dims)
    back = tuple(-s for s in shifts)
    return _make(out, (input,), lambda g: (roll(g, back, dims),), "Roll", ())


# --- broadcasting ---------------------------------------------------------------------------

def broadcast_shapes(*shapes) -> tuple:
    """The shape that ``shapes`` (each a tuple or an int) broadcast to, as NumPy's rules give it."""
    shapes = [(s,) if isinstance(s, (int, numpy.integer)) else tuple(s) for s in shapes]
    for s in shapes:
        if builtins.any(n < 0 for n in s):
            raise ValueError(f"broadcast_shapes: a dim of negative length in {s}")
    out = [1] * builtins.max((len(s) for s in shapes), default=0)
    for s in shapes:
        for i, n in enumerate(s, len(out) - len(s)):
            if n != out[i] and 1 not in (n, out[i]):
                raise RuntimeError(f"broadcast_shapes: shapes {[tuple(x) for x in shapes]} cannot be broadcast "
                                   f"together (size {n} against {out[i]} at dim {i - len(out)})")
            out[i] = n if out[i] == 1 else out[i]
    return tuple(out)


def broadcast_tensors(*tensors) -> tuple:
    """The tensors expanded (as views) to their common broadcast shape."""
    if len(tensors) == 1 and isinstance(tensors[0], (tuple, list)):
        tensors = tuple(tensors[0])
    shape = broadcast_shapes(*(t.shape for t in tensors))
    return tuple(expand(t, shape) for t in tensors)


def broadcast_to(input: Tensor, size) -> Tensor:
    """``input`` expanded to ``size`` (-1 keeps a dim), a view."""
    return expand(input, tuple(size))


def meshgrid(*tensors, indexing: str | None = None) -> tuple:
    """Coordinate grids from 1-d tensors: with ``indexing="ij"`` output ``i`` varies along dim
    ``i``; with ``"xy"`` the first two dims are swapped (the Cartesian, NumPy default).
    Without ``indexing``, "ij" with a warning, as PyTorch."""
    if len(tensors) == 1 and isinstance(tensors[0], (tuple, list)):
        tensors = tuple(tensors[0])
    if indexing is None:
        warnings.warn("meshgrid: in an upcoming release, it will be required to pass the indexing argument "
                      "(\"ij\" is used now)", UserWarning, stacklevel=2)
        indexing = "ij"
    if indexing not in ("ij", "xy"):
        raise RuntimeError(f'meshgrid: indexing must be one of "xy" or "ij", got {indexing!r}')
    if not tensors:
        raise RuntimeError("meshgrid: expects a non-empty list of tensors")
    for t in tensors:
        if t.ndim > 1:
            raise RuntimeError(f"meshgrid: expects 0-d or 1-d tensors, got shape {tuple(t.shape)}")
        if t.dtype != tensors[0].dtype:
            raise RuntimeError(f"meshgrid: expects all tensors to have the same dtype, got {tensors[0].dtype} "
                               f"and {t.dtype}")
    swap = indexing == "xy" and len(tensors) > 1
    if swap:
        tensors = (tensors[1], tensors[0]) + tuple(tensors[2:])
    shape = tuple(t.numel() for t in tensors)
    k = len(tensors)
    grids = [expand(reshape(t, (1,) * i + (-1,) + (1,) * (k - i - 1)), shape) for i, t in enumerate(tensors)]
    if swap:
        grids[0], grids[1] = grids[1], grids[0]
    return tuple(grids)


# --- sliding windows -------------------------------------------------------------------------

def unfold(input: Tensor, dimension: int, size: int, step: int) -> Tensor:
    """``Tensor.unfold``: every window of ``size`` entries along ``dimension``, ``step`` apart,
    that fits; the windows take that dim's place and their entries a new last dim (a view:
    overlapping windows share memory). The gradient adds each window back where it came from."""
    if input.ndim == 0:
        return reshape(unfold(reshape(input, (1,)), 0, size, step), (size,))
    d = _dim(dimension, input.ndim, "unfold")
    n = input.shape[d]
    if size < 0 or size > n:
        raise RuntimeError(f"unfold: the window size {size} does not fit in dim {d} of size {n}")
    if step <= 0:
        raise RuntimeError(f"unfold: step must be > 0, got {step}")
    count = (n - size) // step + 1
    strides = input.array.strides
    out = input._xp.lib.stride_tricks.as_strided(
        input.array, input.shape[:d] + (count,) + input.shape[d + 1:] + (size,),
        strides[:d] + (strides[d] * step,) + strides[d + 1:] + (strides[d],))
    shape = input.shape
    return _view(out, input, lambda g: (_fold_windows(g, shape, d, size, step),), "Unfold")


def _fold_windows(windows: Tensor, shape: tuple, dim: int, size: int, step: int) -> Tensor:
    """The adjoint of :func:`unfold`: each window added back into zeros of ``shape`` at its
    place (overlaps add up); unfold is its backward."""
    out = windows._xp.zeros(shape, dtype=windows.dtype)
    count = windows.shape[dim]
    head = (slice(None),) * dim
    for j in range(size):  # entry j of every window at once
        out[head + (slice(j, j + step * (count - 1) + 1, step),)] += windows.array[..., j]
    return _make(out, (windows,), lambda g: (unfold(g, dim, size, step),), "FoldWindows", ())


# --- strides and storage -----------------------------------------------------------------------

def _address(array) -> int:
    """Where the array's first element lies in memory (CuPy's pointer or NumPy's)."""
    data = array.data
    return data.ptr if hasattr(data, "ptr") else array.__array_interface__["data"][0]


def _storage(array) -> tuple:
    """The memory the array views, as PyTorch's storage: (a flat array of the array's dtype
    over the whole buffer, the array's offset in it in elements). An array whose buffer is
    not an array (a bytes object, say) is its own storage."""
    root = array
    while True:
        base = getattr(root, "base", None)
        holder = getattr(base, "base", None)  # NumPy's as_strided puts a holder in between
        if isinstance(base, type(array)):
            root = base
        elif isinstance(holder, type(array)):
            root = holder
        else:
            break
    if not (root.flags.c_contiguous or root.flags.f_contiguous):
        root = array
    flat = root.reshape(-1, order="A")  # memory order, without a copy
    if flat.dtype != array.dtype:
        flat = flat.view(array.dtype)
    return flat, (_address(array) - _address(flat)) // array.dtype.itemsize


def _element_strides(array) -> tuple:
    return tuple(s // array.dtype.itemsize for s in array.strides)


def _storage_positions(xp, start: int, shape: tuple, strides: tuple):
    """The storage index of every element of a view (shape, strides in elements, start)."""
    if not builtins.all(shape):
        return xp.zeros(shape, dtype=numpy.int64)
    out = xp.full(shape, start, dtype=numpy.int64)
    for d, (n, s) in enumerate(zip(shape, strides)):
        out = out + (xp.arange(n, dtype=numpy.int64) * s).reshape((n,) + (1,) * (len(shape) - d - 1))
    return out


def as_strided(input: Tensor, size, stride, storage_offset=None) -> Tensor:
    """A view of ``input``'s storage (the whole buffer it views) with the given size, strides
    (in elements, non-negative) and storage offset (``input``'s own by default), as PyTorch.

    The gradient of an element of ``input`` is the sum of the gradients of the places of the
    result that read its memory (places outside ``input``'s own elements send theirs nowhere).
    """
    size, stride = _ints(size, "as_strided", "size"), _ints(stride, "as_strided", "stride")
    if len(size) != len(stride):
        raise RuntimeError(f"as_strided: mismatch in length of strides and shape, got size {size} and stride "
                           f"{stride}")
    if builtins.any(s < 0 for s in stride):
        raise RuntimeError(f"as_strided: negative strides are not supported, got strides {stride}")
    if builtins.any(n < 0 for n in size):
        raise RuntimeError(f"as_strided: negative sizes are not supported, got size {size}")
    flat, own = _storage(input.array)
    start = own if storage_offset is None else _int(storage_offset, "as_strided", "storage_offset")
    if start < 0:
        raise RuntimeError(f"as_strided: invalid storage offset {start}")
    need = start + (builtins.sum((n - 1) * s for n, s in zip(size, stride)) + 1 if builtins.all(size) else 0)
    if need > flat.shape[0]:
        raise RuntimeError(f"as_strided: size {size}, strides {stride} and storage offset {start} need a storage of "
                           f"{need} elements, out of bounds for the storage of {flat.shape[0]} elements")
    item = flat.dtype.itemsize
    out = input._xp.lib.stride_tricks.as_strided(flat[start:] if start < flat.shape[0] else flat[:0], size,
                                                 tuple(s * item for s in stride))
    xp, shape, strides = input._xp, input.shape, _element_strides(input.array)

    def backward(g):
        # Add the result's gradient into a storage-sized buffer, then read input's elements from it.
        read = Tensor._wrap(_storage_positions(xp, start, size, stride).reshape(-1))
        buffer = index_add(Tensor._wrap(xp.zeros(flat.shape[0], dtype=g.dtype)), 0, read, reshape(g, -1))
        return (take(buffer, Tensor._wrap(_storage_positions(xp, own, shape, strides))),)
    result = _make(out, (input,), backward, "AsStrided", ())
    result._vc = input._counter()  # a view: one version counter
    result._base = input if input._base is None else input._base
    return result


# --- copies with a part replaced: the out-of-place forms of writing into a view ---------------------

def _scatter_into(op: str, input: Tensor, src: Tensor, place) -> Tensor:
    """``input`` with the view ``place(input)`` replaced by ``src`` (cast to input's dtype), as a
    new tensor. The gradient of ``input`` is the upstream one with that part zeroed (the same op
    with zeros), and ``src``'s is that part of it."""
    if not isinstance(src, Tensor):
        raise TypeError(f"{op}(): argument 'src' must be a Tensor, not {type(src).__name__}")
    out = input.array.copy()
    region = place(Tensor._wrap(out)).array
    if region.shape != src.shape:
        raise RuntimeError(f"{op}: expected src to have a size equal to the slice of self. src size = "
                           f"{list(src.shape)}, slice size = {list(region.shape)}")
    _writable(region, out)
    region[...] = src.array
    src_dtype = src.dtype

    def backward(g):
        zeros = Tensor._wrap(g._xp.zeros(src.shape, dtype=g.dtype))
        return (_scatter_into(op, g, zeros, place) if input.requires_grad else None,
                to(place(g), src_dtype) if src.requires_grad else None)
    return _make(out, (input, src), backward, op.title().replace("_", ""), ())


def diagonal_scatter(input: Tensor, src: Tensor, offset: int = 0, dim1: int = 0, dim2: int = 1) -> Tensor:
    """``input`` with its diagonal ``(offset, dim1, dim2)`` replaced by ``src`` (a copy)."""
    return _scatter_into("diagonal_scatter", input, src, lambda v: diagonal(v, offset, dim1, dim2))


def select_scatter(input: Tensor, src: Tensor, dim: int, index: int) -> Tensor:
    """``input`` with ``input.select(dim, index)`` replaced by ``src`` (a copy)."""
    return _scatter_into("select_scatter", input, src, lambda v: select(v, dim, index))


def slice_scatter(input: Tensor, src: Tensor, dim: int = 0, start=None, end=None, step: int = 1) -> Tensor:
    """``input`` with the slice ``start:end:step`` of dim ``dim`` replaced by ``src`` (a copy)."""
    if input.ndim == 0:
        raise RuntimeError("slice_scatter: cannot be applied to a 0-d tensor")
    d = _dim(dim, input.ndim, "slice_scatter")
    if _int(step, "slice_scatter", "step") <= 0:
        raise RuntimeError(f"slice_scatter: slice step must be positive, got {step}")
    index = (slice(None),) * d + (slice(start, end, step),)
    return _scatter_into("slice_scatter", input, src, lambda v: getitem(v, index))


def narrow_copy(input: Tensor, dim: int, start: int, length: int) -> Tensor:
    """``narrow`` as a new tensor (a copy, not a view)."""
    return clone(narrow(input, dim, start, length))


# --- in-place changes of shape and strides ------------------------------------------------------

def _restride(name: str, view_op):
    """The method ``name`` (``squeeze_``, ``t_``...): the tensor itself takes the view that
    ``view_op`` gives, as its new shape and strides (its values and memory are the same)."""
    def method(self, *args, **kwargs):
        if self.requires_grad and self.grad_fn is None and _GradMode.enabled:
            raise RuntimeError(f"{name}: a leaf Variable that requires grad is being used in an in-place "
                               "operation.")
        out = view_op(self, *args, **kwargs)
        self.array = out.array
        if out.grad_fn is not None:
            self.grad_fn = out.grad_fn
        self._counter()[0] += 1
        return self
    method.__name__ = name
    return method


def _t_(self):
    if self.ndim > 2:
        raise RuntimeError(f"t_() expects a tensor with <= 2 dimensions, but self is {self.ndim}D")
    return t(self)


__all__ = ["reshape", "ravel", "transpose", "swapaxes", "swapdims", "permute", "movedim", "moveaxis", "t",
           "adjoint", "flip", "fliplr", "flipud", "rot90", "roll", "squeeze", "unsqueeze", "flatten", "unflatten",
           "clone", "atleast_1d", "atleast_2d", "atleast_3d", "cat", "concat", "concatenate", "stack", "hstack",
           "vstack", "dstack", "column_stack", "split", "chunk", "tensor_split", "hsplit", "vsplit", "dsplit",
           "narrow", "select", "unbind", "tile", "repeat_interleave", "diagonal", "diag", "diag_embed", "diagflat",
           "tril", "triu", "broadcast_to", "broadcast_tensors", "broadcast_shapes", "meshgrid", "as_strided",
           "diagonal_scatter", "select_scatter", "slice_scatter", "narrow_copy"]

_FUNCTIONS_ONLY = ("cat", "concat", "concatenate", "stack", "hstack", "vstack", "dstack", "column_stack",
                   "atleast_1d", "atleast_2d", "atleast_3d", "broadcast_tensors", "broadcast_shapes", "meshgrid")

METHODS = {**{name: globals()[name] for name in __all__ if name not in _FUNCTIONS_ONLY},
           "repeat": repeat, "contiguous": contiguous, "view": view, "unfold": unfold,
           "view_as": lambda self, other: view(self, other.shape),
           "reshape_as": lambda self, other: reshape(self, other.shape),
           "squeeze_": _restride("squeeze_", squeeze), "unsqueeze_": _restride("unsqueeze_", unsqueeze),
           "transpose_": _restride("transpose_", transpose), "t_": _restride("t_", _t_),
           "as_strided_": _restride("as_strided_", as_strided),
           "tril_": lambda self, diagonal=0: self._inplace("tril_", lambda a: tril(a, diagonal)),
           "triu_": lambda self, diagonal=0: self._inplace("triu_", lambda a: triu(a, diagonal)),
           "T": property(lambda self: permute(self, tuple(reversed(range(self.ndim))))),
           "mT": property(lambda self: _matrix_transpose(self, "tensor.mT")),
           "mH": property(lambda self: _matrix_transpose(self, "tensor.mH")),  # real tensors: mH is mT
           "H": property(_H)}
