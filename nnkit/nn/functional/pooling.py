"""Pooling (chapter 07): max, average and adaptive pooling over 1, 2 or 3 spatial dims, and max
unpooling (the layers are in :mod:`nnkit.nn.pooling`).

Pooling has no parameters: it shrinks each channel of an (N, C, *spatial) input
(or a (C, *spatial) one) by taking the max or the mean of every window. Like the
convolutions of :mod:`nnkit.nn.functional.conv`, max and average pooling visit
the kernel offsets one at a time: each offset is one strided slice of the padded
input covering every window at once, so the Python loop is over the kernel,
never over samples or positions.

Each is a fused op whose backward is a fused op too, and the two are each
other's adjoint: average pooling's backward spreads ``g / divisor`` over each
window, and the backward of that spreading is average pooling again; max
pooling's backward sends each ``g`` to the position of its window's max (the
first on ties, as in PyTorch) and the backward of that is reading the same
positions back. So ``create_graph=True`` works through them to any order at the
cost of plain array code. The adaptive poolings are written from differentiable
primitives (a reshape and a mean, matrix products, or a gather) and need no
backward of their own.
"""

from __future__ import annotations

import math
import numbers
from typing import Sequence

from ... import backend, ops
from ...ops.base import _make
from ...tensor import Tensor
from .conv import IntOrTuple, _Geometry, _offsets, _tuple

__all__ = ["max_pool1d", "max_pool2d", "max_pool3d", "avg_pool1d", "avg_pool2d", "avg_pool3d",
           "adaptive_max_pool1d", "adaptive_max_pool2d", "adaptive_max_pool3d", "adaptive_avg_pool1d",
           "adaptive_avg_pool2d", "adaptive_avg_pool3d", "max_unpool1d", "max_unpool2d", "max_unpool3d"]


def _check_input(input: Tensor, dims: int, op: str, integers_allowed) -> None:
    """An (N, C, *spatial) or (C, *spatial) tensor of a dtype that PyTorch's kernels take: floats,
    and the integer dtypes for which ``integers_allowed(dtype)`` (never bool)."""
    if not isinstance(input, Tensor):
        raise TypeError(f"{op}: expected a Tensor input, got {type(input).__name__}")
    if input.ndim not in (dims + 1, dims + 2):
        raise RuntimeError(f"{op}: expected a {dims + 1}-D (unbatched) or {dims + 2}-D (batched) input, got shape "
                           f"{tuple(input.shape)}")
    dtype = input.dtype
    if not (backend.is_floating(dtype) or (dtype.kind in "iu" and integers_allowed(dtype))):
        raise NotImplementedError(f"{op}: not implemented for {dtype} input")


def _pool_output_size(n: int, k: int, s: int, p: int, d: int, ceil_mode: bool) -> int:
    """floor (or ceil) of (n + 2p − d(k − 1) − 1) / s, plus 1; in ceil mode the last window
    must start inside the input or its left padding, as in PyTorch."""
    span = n + 2 * p - d * (k - 1) - 1
    out = (span + (s - 1 if ceil_mode else 0)) // s + 1
    if ceil_mode and (out - 1) * s >= n + p:
        out -= 1
    return out


def _window(input: Tensor, dims: int, kernel_size, stride, padding, dilation, ceil_mode: bool, op: str) -> _Geometry:
    """Check the arguments; return the windows, whose padding in ceil mode is extended on the far
    side so that the last window fits."""
    kernel = _tuple(kernel_size, dims, "kernel_size", op)
    no_stride = stride is None or (not isinstance(stride, numbers.Integral) and len(stride) == 0)
    stride = kernel if no_stride else _tuple(stride, dims, "stride", op)
    pad, dilation = _tuple(padding, dims, "padding", op), _tuple(dilation, dims, "dilation", op)
    if min(kernel) < 1 or min(stride) < 1 or min(dilation) < 1 or min(pad) < 0:
        raise RuntimeError(f"{op}: kernel_size {kernel}, stride {stride} and dilation {dilation} must be "
                           f"positive and padding {pad} non-negative")
    if any(p > k // 2 for p, k in zip(pad, kernel)):
        raise RuntimeError(f"{op}: padding {pad} should be at most half of kernel_size {kernel}")
    size_in = tuple(input.shape[-dims:])
    size_out = tuple(_pool_output_size(n, k, s, p, d, ceil_mode)
                     for n, k, s, p, d in zip(size_in, kernel, stride, pad, dilation))
    if min(size_out) < 1:
        raise RuntimeError(f"{op}: the output size {size_out} is too small (input shape {tuple(input.shape)}, "
                           f"kernel_size {kernel}, stride {stride}, padding {pad}, dilation {dilation})")
    pads = tuple((p, max(p, (o - 1) * s + d * (k - 1) + 1 - n - p))
                 for n, k, s, p, d, o in zip(size_in, kernel, stride, pad, dilation, size_out))
    return _Geometry(kernel, stride, dilation, pads, size_in, size_out)


def _pad(a, pads: tuple, value):
    """``a`` (..., *spatial) padded with ``value`` by ``pads``; no copy when there is no padding."""
    if not any(before or after for before, after in pads):
        return a
    return backend.xp_of(a).pad(a, ((0, 0),) * (a.ndim - len(pads)) + tuple(pads), constant_values=value)


def _memory_order(a) -> tuple:
    """``a``'s axes from the outermost in memory to the innermost."""
    return tuple(sorted(range(a.ndim), key=lambda i: a.strides[i], reverse=True))


def _spread(share, geo: _Geometry, order: tuple, part):
    """Add ``part(q)`` onto the padded input's positions that kernel offset ``q`` read, then cut the
    padding away: the backward that both poolings share. The result's axes lie in memory in
    ``order``, the input's: a gradient then has the layout of its activation (batch-last after a
    convolution), which the convolution's own backward reads without a copy."""
    shape = share.shape[:share.ndim - len(geo.kernel)] + geo.padded
    inverse = sorted(range(len(order)), key=order.__getitem__)
    da = backend.xp_of(share).zeros([shape[i] for i in order], dtype=share.dtype).transpose(inverse)
    for q, (_, window) in enumerate(_offsets(geo)):
        da[(Ellipsis,) + window] += part(q)
    return da[(Ellipsis,) + geo.inner]


# --- max pooling ---------------------------------------------------------------------------


def _max_pool(x: Tensor, geo: _Geometry):
    """The max of every window, and ``arg``: the kernel offset where each max was (the first on
    ties; NaN wins, as in PyTorch)."""
    xp = x._xp
    floating = backend.is_floating(x.dtype)
    a = _pad(x.array, geo.pads, float("-inf") if floating else xp.iinfo(x.dtype).min)
    offsets = list(_offsets(geo))
    best = a[(Ellipsis,) + offsets[0][1]].copy(order="K")  # keep the input's memory layout
    arg = xp.zeros_like(best, dtype=xp.int8 if len(offsets) < 128 else xp.int32)
    for q, (_, window) in enumerate(offsets[1:], start=1):
        v = a[(Ellipsis,) + window]
        take = v > best  # strictly greater: ties keep the first
        if floating:
            take |= v != v
        xp.maximum(best, v, out=best)
        arg += take * (q - arg)  # select without a branch: masked writes are slow on random masks
    order = _memory_order(x.array)
    return _make(best, (x,), lambda g: (_max_scatter(g, arg, geo, order),), "MaxPool", ()), arg


def _max_scatter(g: Tensor, arg, geo: _Geometry, order: tuple) -> Tensor:
    """Each window's ``g`` onto the position of the window's max (overlapping windows add up):
    max pooling's backward. It is linear in ``g``; its backward is :func:`_max_gather`."""
    ga = g.array
    da = _spread(ga, geo, order, lambda q: ga * (arg == q))
    return _make(da, (g,), lambda h: (_max_gather(h, arg, geo),), "MaxPoolBackward", ())


def _max_gather(h: Tensor, arg, geo: _Geometry) -> Tensor:
    """``h`` (shaped like the pooled input) read at each window's max: max pooling with the places of
    the maxima fixed, the adjoint of :func:`_max_scatter` (and so its backward, and it is this one's)."""
    xp = h._xp
    a = _pad(h.array, geo.pads, 0)
    out = xp.zeros(arg.shape, dtype=h.dtype)
    for q, (_, window) in enumerate(_offsets(geo)):
        out += xp.where(arg == q, a[(Ellipsis,) + window], 0)
    order = _memory_order(h.array)
    return _make(out, (h,), lambda g: (_max_scatter(g, arg, geo, order),), "MaxPoolGather", ())


def _flat_indices(arg, geo: _Geometry):
    """The flat index, in its input's spatial plane, of each window's max, from its kernel offset ``arg``."""
    xp = backend.xp_of(arg)
    arg = arg.astype(backend.int64)
    dims, taps = len(geo.kernel), math.prod(geo.kernel)
    index = 0
    for d, (k, s, dilation, (before, _), o, n) in enumerate(zip(geo.kernel, geo.stride, geo.dilation, geo.pads,
                                                                geo.size_out, geo.size_in)):
        taps //= k
        start = (xp.arange(o) * s - before).reshape((-1,) + (1,) * (dims - 1 - d))
        index = index * n + start + (arg // taps) % k * dilation
    return index


def _max_pool_nd(input, kernel_size, stride, padding, dilation, ceil_mode, return_indices, dims: int, op: str):
    _check_input(input, dims, op, lambda dtype: True)
    geo = _window(input, dims, kernel_size, stride, padding, dilation, ceil_mode, op)
    out, arg = _max_pool(input, geo)
    return (out, Tensor._wrap(_flat_indices(arg, geo))) if return_indices else out


def max_pool1d(input: Tensor, kernel_size: IntOrTuple, stride: IntOrTuple | None = None, padding: IntOrTuple = 0,
               dilation: IntOrTuple = 1, ceil_mode: bool = False, return_indices: bool = False):
    """:func:`max_pool2d` over one spatial dim: (N, C, L) or (C, L).

    >>> import nnkit
    >>> max_pool1d(nnkit.tensor([[[1.0, 3.0, 2.0, 0.0, 5.0]]]), 2).tolist()
    [[[3.0, 2.0]]]
    """
    return _max_pool_nd(input, kernel_size, stride, padding, dilation, ceil_mode, return_indices, 1, "max_pool1d")


def max_pool2d(input: Tensor, kernel_size: IntOrTuple, stride: IntOrTuple | None = None, padding: IntOrTuple = 0,
               dilation: IntOrTuple = 1, ceil_mode: bool = False, return_indices: bool = False):
    """The max of each ``kernel_size`` window, the windows ``stride`` apart (``kernel_size`` by
    default); the padding counts as −∞. NaN wins, as in PyTorch. Integer inputs work too (the
    result keeps their dtype).

    With ``return_indices`` also returns, for each output, the flat index ``h·W + w`` of the max
    in its (H, W) input plane (what :func:`max_unpool2d` takes).

    >>> import nnkit
    >>> max_pool2d(nnkit.arange(16.0).reshape(1, 1, 4, 4), 2).tolist()
    [[[[5.0, 7.0], [13.0, 15.0]]]]
    """
    return _max_pool_nd(input, kernel_size, stride, padding, dilation, ceil_mode, return_indices, 2, "max_pool2d")


def max_pool3d(input: Tensor, kernel_size: IntOrTuple, stride: IntOrTuple | None = None, padding: IntOrTuple = 0,
               dilation: IntOrTuple = 1, ceil_mode: bool = False, return_indices: bool = False):
    """:func:`max_pool2d` over three spatial dims: (N, C, D, H, W) or (C, D, H, W); the indices are
    flat in the (D, H, W) volume.

    >>> import nnkit
    >>> max_pool3d(nnkit.arange(8.0).reshape(1, 1, 2, 2, 2), 2).tolist()
    [[[[[7.0]]]]]
    """
    return _max_pool_nd(input, kernel_size, stride, padding, dilation, ceil_mode, return_indices, 3, "max_pool3d")


# --- average pooling ---------------------------------------------------------------------------


def _window_counts(n: int, k: int, s: int, p: int, out: int, count_include_pad: bool, xp):
    """How many positions each window covers along one dim, PyTorch's way: padding counts when
    ``count_include_pad`` (but not the extra reach of ceil mode), else only the input."""
    start = xp.arange(out) * s - p
    end = xp.minimum(start + k, n + p)
    if count_include_pad:
        return end - start
    return xp.minimum(end, n) - xp.maximum(start, 0)


def _avg_pool(x: Tensor, geo: _Geometry, divisor) -> Tensor:
    """The sum of every window over ``divisor`` (truncated toward zero for integers, as PyTorch)."""
    xp = x._xp
    a = _pad(x.array, geo.pads, 0)
    total = None
    for _, window in _offsets(geo):
        part = a[(Ellipsis,) + window]
        total = part.copy(order="K") if total is None else xp.add(total, part, out=total)
    if backend.is_floating(x.dtype):
        out = total / divisor
    else:
        out = xp.sign(total) * (xp.abs(total) // divisor)
    order = _memory_order(x.array)
    return _make(out, (x,), lambda g: (_avg_scatter(g, geo, divisor, order),), "AvgPool", ())


def _avg_scatter(g: Tensor, geo: _Geometry, divisor, order: tuple) -> Tensor:
    """``g / divisor`` spread over each window: average pooling's backward. Its adjoint, and so its
    backward, is average pooling itself."""
    share = g.array / divisor
    da = _spread(share, geo, order, lambda q: share)
    return _make(da, (g,), lambda h: (_avg_pool(h, geo, divisor),), "AvgPoolBackward", ())


def _avg_pool_nd(input, kernel_size, stride, padding, ceil_mode, count_include_pad, divisor_override, dims: int,
                 op: str) -> Tensor:
    _check_input(input, dims, op, lambda dtype: dtype == backend.int64)
    geo = _window(input, dims, kernel_size, stride, padding, 1, ceil_mode, op)
    xp = input._xp
    if divisor_override is not None:
        if divisor_override == 0:
            raise RuntimeError(f"{op}: divisor_override must not be zero")
        divisor = xp.asarray(divisor_override, dtype=input.dtype)
    else:
        divisor = 1
        for d, (n, k, s, (p, _), o) in enumerate(zip(geo.size_in, geo.kernel, geo.stride, geo.pads, geo.size_out)):
            counts = _window_counts(n, k, s, p, o, count_include_pad, xp)
            divisor = divisor * counts.reshape((-1,) + (1,) * (dims - 1 - d))
        divisor = divisor.astype(input.dtype)
    return _avg_pool(input, geo, divisor)


def avg_pool1d(input: Tensor, kernel_size: IntOrTuple, stride: IntOrTuple | None = None, padding: IntOrTuple = 0,
               ceil_mode: bool = False, count_include_pad: bool = True) -> Tensor:
    """:func:`avg_pool2d` over one spatial dim: (N, C, L) or (C, L).

    >>> import nnkit
    >>> avg_pool1d(nnkit.tensor([[[1.0, 3.0, 2.0, 0.0]]]), 2).tolist()
    [[[2.0, 1.0]]]
    """
    return _avg_pool_nd(input, kernel_size, stride, padding, ceil_mode, count_include_pad, None, 1, "avg_pool1d")


def avg_pool2d(input: Tensor, kernel_size: IntOrTuple, stride: IntOrTuple | None = None, padding: IntOrTuple = 0,
               ceil_mode: bool = False, count_include_pad: bool = True, divisor_override: int | None = None
               ) -> Tensor:
    """The mean of each ``kernel_size`` window, the windows ``stride`` apart (``kernel_size`` by
    default). The zero padding counts in the divisor when ``count_include_pad``;
    ``divisor_override`` replaces the divisor.

    >>> import nnkit
    >>> avg_pool2d(nnkit.arange(16.0).reshape(1, 1, 4, 4), 2).tolist()
    [[[[2.5, 4.5], [10.5, 12.5]]]]
    """
    return _avg_pool_nd(input, kernel_size, stride, padding, ceil_mode, count_include_pad, divisor_override, 2,
                        "avg_pool2d")


def avg_pool3d(input: Tensor, kernel_size: IntOrTuple, stride: IntOrTuple | None = None, padding: IntOrTuple = 0,
               ceil_mode: bool = False, count_include_pad: bool = True, divisor_override: int | None = None
               ) -> Tensor:
    """:func:`avg_pool2d` over three spatial dims: (N, C, D, H, W) or (C, D, H, W).

    >>> import nnkit
    >>> avg_pool3d(nnkit.arange(8.0).reshape(1, 1, 2, 2, 2), 2).tolist()
    [[[[[3.5]]]]]
    """
    return _avg_pool_nd(input, kernel_size, stride, padding, ceil_mode, count_include_pad, divisor_override, 3,
                        "avg_pool3d")


# --- adaptive pooling ---------------------------------------------------------------------------


def _adaptive_size(output_size, size_in: tuple, op: str) -> tuple:
    """``output_size`` as a tuple, ``None`` entries keeping the input's size."""
    dims = len(size_in)
    single = output_size is None or isinstance(output_size, int)
    size = (output_size,) * dims if single else tuple(output_size)
    if len(size) != dims:
        raise RuntimeError(f"{op}: output_size must be an int or a tuple of {dims}, got {output_size!r}")
    size = tuple(n if s is None else s for s, n in zip(size, size_in))
    if min(size) < 1:
        raise ValueError(f"{op}: output_size must be positive, got {output_size!r}")
    return size


def _window_bounds(n: int, out: int) -> list:
    """The adaptive windows along a dim of size n: window i spans [floor(i·n/out), ceil((i+1)·n/out))."""
    return [((i * n) // out, -(-(i + 1) * n // out)) for i in range(out)]


def _averaging_matrix(n: int, out: int, like: Tensor) -> Tensor:
    """(out, n): row i averages the inputs of adaptive window i (PyTorch's windows)."""
    xp = like._xp
    bounds = xp.asarray(_window_bounds(n, out))
    start, end = bounds[:, :1], bounds[:, 1:]
    j = xp.arange(n)
    inside = (j >= start) & (j < end)
    return Tensor._wrap((inside / (end - start)).astype(like.dtype))


def _adaptive_avg_pool_nd(input: Tensor, output_size, dims: int, op: str) -> Tensor:
    _check_input(input, dims, op, lambda dtype: False)
    size_in = tuple(input.shape[-dims:])
    size = _adaptive_size(output_size, size_in, op)
    lead = tuple(input.shape[:-dims])
    if all(n % o == 0 for n, o in zip(size_in, size)):  # equal windows: a reshape and a mean
        split = sum(((o, n // o) for n, o in zip(size_in, size)), ())
        return ops.mean(ops.reshape(input, lead + split), tuple(range(len(lead) + 1, len(lead) + 2 * dims, 2)))
    out = input
    for d, (n, o) in enumerate(zip(size_in, size)):  # one averaging matrix per dim
        axis = len(lead) + d
        along_last = ops.matmul(ops.movedim(out, axis, -1), ops.transpose(_averaging_matrix(n, o, input), 0, 1))
        out = ops.movedim(along_last, -1, axis)
    return out


def adaptive_avg_pool1d(input: Tensor, output_size: int | Sequence[int]) -> Tensor:
    """:func:`adaptive_avg_pool2d` over one spatial dim: (N, C, L) or (C, L).

    >>> import nnkit
    >>> adaptive_avg_pool1d(nnkit.tensor([[[1.0, 2.0, 3.0, 4.0, 5.0]]]), 2).tolist()
    [[[2.0, 4.0]]]
    """
    return _adaptive_avg_pool_nd(input, output_size, 1, "adaptive_avg_pool1d")


def adaptive_avg_pool2d(input: Tensor, output_size: int | Sequence[int | None]) -> Tensor:
    """Average pooling to a fixed output size (H_out, W_out), whatever the input's size;
    ``None`` keeps that dim. Window i along a dim of size n spans [floor(i·n/out), ceil((i+1)·n/out)).

    >>> import nnkit
    >>> adaptive_avg_pool2d(nnkit.ones(2, 8, 7, 5), 1).shape
    (2, 8, 1, 1)
    """
    return _adaptive_avg_pool_nd(input, output_size, 2, "adaptive_avg_pool2d")


def adaptive_avg_pool3d(input: Tensor, output_size: int | Sequence[int | None]) -> Tensor:
    """:func:`adaptive_avg_pool2d` over three spatial dims: (N, C, D, H, W) or (C, D, H, W).

    >>> import nnkit
    >>> adaptive_avg_pool3d(nnkit.ones(1, 2, 5, 6, 7), (2, None, 3)).shape
    (1, 2, 2, 6, 3)
    """
    return _adaptive_avg_pool_nd(input, output_size, 3, "adaptive_avg_pool3d")


def _adaptive_max_pool_nd(input: Tensor, output_size, return_indices: bool, dims: int, op: str):
    """The max of each adaptive window, as a gather at the maxima's flat indices (so differentiable
    to any order through gather's own backward)."""
    _check_input(input, dims, op, lambda dtype: False)
    size_in = tuple(input.shape[-dims:])
    size = _adaptive_size(output_size, size_in, op)
    xp = input._xp
    candidates = 0  # (*size, *widths): the flat input positions in each window
    for d, (n, o) in enumerate(zip(size_in, size)):
        bounds = _window_bounds(n, o)
        width = max(end - start for start, end in bounds)
        start, end = (xp.asarray(b).reshape(-1, 1) for b in zip(*bounds))
        positions = xp.minimum(start + xp.arange(width), end - 1)  # a window's last position repeats to fill
        shape = [1] * (2 * dims)
        shape[d], shape[dims + d] = o, width
        candidates = candidates * n + positions.reshape(shape)
    candidates = candidates.reshape(size + (-1,))
    lead = tuple(input.shape[:-dims])
    values = input.array.reshape(lead + (-1,))[..., candidates]                # (*lead, *size, window)
    best = values.argmax(-1)[..., None]  # the first max; NaN wins
    index = xp.take_along_axis(xp.broadcast_to(candidates, values.shape), best, -1)[..., 0]
    plane = ops.reshape(input, (-1, math.prod(size_in)))
    out = ops.reshape(ops.gather(plane, 1, Tensor._wrap(index.reshape(plane.shape[0], -1))), lead + size)
    return (out, Tensor._wrap(index.astype(backend.int64))) if return_indices else out


def adaptive_max_pool1d(input: Tensor, output_size: int | Sequence[int], return_indices: bool = False):
    """The max of each adaptive window (those of :func:`adaptive_avg_pool1d`) of an (N, C, L) or (C, L)
    input; ``return_indices`` also gives each max's position.

    >>> import nnkit
    >>> adaptive_max_pool1d(nnkit.tensor([[[1.0, 5.0, 3.0, 4.0, 2.0]]]), 2).tolist()
    [[[5.0, 4.0]]]
    """
    return _adaptive_max_pool_nd(input, output_size, return_indices, 1, "adaptive_max_pool1d")


def adaptive_max_pool2d(input: Tensor, output_size: int | Sequence[int | None], return_indices: bool = False):
    """Max pooling to a fixed output size (H_out, W_out), over the windows of
    :func:`adaptive_avg_pool2d`; ``return_indices`` also gives the flat index ``h·W + w`` of each max.

    >>> import nnkit
    >>> adaptive_max_pool2d(nnkit.arange(16.0).reshape(1, 1, 4, 4), 1).tolist()
    [[[[15.0]]]]
    """
    return _adaptive_max_pool_nd(input, output_size, return_indices, 2, "adaptive_max_pool2d")


def adaptive_max_pool3d(input: Tensor, output_size: int | Sequence[int | None], return_indices: bool = False):
    """:func:`adaptive_max_pool2d` over three spatial dims: (N, C, D, H, W) or (C, D, H, W).

    >>> import nnkit
    >>> adaptive_max_pool3d(nnkit.ones(1, 2, 5, 6, 7), 2).shape
    (1, 2, 2, 2, 2)
    """
    return _adaptive_max_pool_nd(input, output_size, return_indices, 3, "adaptive_max_pool3d")


# --- max unpooling ------------------------------------------------------------------------------


def _unpooled_size(size_in: tuple, kernel: tuple, stride: tuple, pad: tuple, output_size, op: str) -> tuple:
    """The size before max pooling: (n − 1)·s − 2p + k by default; ``output_size`` may pick another
    size that the pooling maps to the same one (strictly within a stride of the default)."""
    dims = len(kernel)
    default = tuple((n - 1) * s - 2 * p + k for n, s, p, k in zip(size_in, stride, pad, kernel))
    if output_size is None:
        return default
    size = tuple(output_size)
    if len(size) == dims + 2:
        size = size[2:]
    if len(size) != dims:
        raise ValueError(f"{op}: output_size should have {dims} or {dims + 2} elements, got {output_size!r}")
    for d, (n, base, s) in enumerate(zip(size, default, stride)):
        if not base - s < n < base + s:
            raise ValueError(f'{op}: invalid output_size "{size}" (dim {d} must be between {base - s} and '
                             f'{base + s})')
    return size


def _max_unpool_nd(input: Tensor, indices: Tensor, kernel_size, stride, padding, output_size, dims: int,
                   op: str) -> Tensor:
    """Each value of ``input`` written at its flat index in a zero plane: the inverse of max pooling
    where it can be (the non-maxima are gone). The gradient reads ``g`` back at the indices."""
    _check_input(input, dims, op, lambda dtype: True)
    idx = indices.array if isinstance(indices, Tensor) else indices
    if idx.dtype != backend.int64:
        raise RuntimeError(f"{op}: elements in indices should be of type int64, got {idx.dtype}")
    if tuple(idx.shape) != tuple(input.shape):
        raise RuntimeError(f"{op}: expected indices of the input's shape {tuple(input.shape)}, got "
                           f"{tuple(idx.shape)}")
    kernel = _tuple(kernel_size, dims, "kernel_size", op)
    stride = kernel if stride is None else _tuple(stride, dims, "stride", op)
    pad = _tuple(padding, dims, "padding", op)
    size = _unpooled_size(tuple(input.shape[-dims:]), kernel, stride, pad, output_size, op)
    plane = math.prod(size)
    flat = idx.reshape(-1, math.prod(input.shape[-dims:]))
    bad = (flat < 0) | (flat >= plane)
    if bad.any():
        raise RuntimeError(f"{op}: found an invalid max index {int(flat[bad][0])} (output planes are of size "
                           f"{'x'.join(map(str, size))})")
    return ops.reshape(_unpool(ops.reshape(input, flat.shape), flat, plane), tuple(input.shape[:-dims]) + size)


def _unpool(x: Tensor, flat, plane: int) -> Tensor:
    """Row r of ``x`` (rows, n) written at the columns ``flat[r]`` of a zero (rows, plane) array. The
    gradient is ``g`` gathered at the same places, and gather's own backward adds back into them."""
    out = x._xp.zeros((x.shape[0], plane), dtype=x.dtype)
    out[x._xp.arange(x.shape[0])[:, None], flat] = x.array
    return _make(out, (x,), lambda g: (ops.gather(g, 1, Tensor._wrap(flat)),), "MaxUnpool", ())


def max_unpool1d(input: Tensor, indices: Tensor, kernel_size: IntOrTuple, stride: IntOrTuple | None = None,
                 padding: IntOrTuple = 0, output_size: Sequence[int] | None = None) -> Tensor:
    """:func:`max_unpool2d` over one spatial dim.

    >>> import nnkit
    >>> x = nnkit.tensor([[[1.0, 3.0, 2.0, 0.0]]])
    >>> max_unpool1d(*max_pool1d(x, 2, return_indices=True), 2).tolist()
    [[[0.0, 3.0, 2.0, 0.0]]]
    """
    return _max_unpool_nd(input, indices, kernel_size, stride, padding, output_size, 1, "max_unpool1d")


def max_unpool2d(input: Tensor, indices: Tensor, kernel_size: IntOrTuple, stride: IntOrTuple | None = None,
                 padding: IntOrTuple = 0, output_size: Sequence[int] | None = None) -> Tensor:
    """The partial inverse of :func:`max_pool2d`: each value goes back to the place ``indices``
    (from ``max_pool2d(..., return_indices=True)``) says its max came from; all else is zero.
    ``output_size`` resolves the sizes that the pooling maps to the same one.

    >>> import nnkit
    >>> out, idx = max_pool2d(nnkit.arange(16.0).reshape(1, 1, 4, 4), 2, return_indices=True)
    >>> max_unpool2d(out, idx, 2)[0, 0].tolist()
    [[0.0, 0.0, 0.0, 0.0], [0.0, 5.0, 0.0, 7.0], [0.0, 0.0, 0.0, 0.0], [0.0, 13.0, 0.0, 15.0]]
    """
    return _max_unpool_nd(input, indices, kernel_size, stride, padding, output_size, 2, "max_unpool2d")


def max_unpool3d(input: Tensor, indices: Tensor, kernel_size: IntOrTuple, stride: IntOrTuple | None = None,
                 padding: IntOrTuple = 0, output_size: Sequence[int] | None = None) -> Tensor:
    """:func:`max_unpool2d` over three spatial dims.

    >>> import nnkit
    >>> out, idx = max_pool3d(nnkit.arange(8.0).reshape(1, 1, 2, 2, 2), 2, return_indices=True)
    >>> max_unpool3d(out, idx, 2).sum().item(), max_unpool3d(out, idx, 2)[0, 0, 1, 1, 1].item()
    (7.0, 7.0)
    """
    return _max_unpool_nd(input, indices, kernel_size, stride, padding, output_size, 3, "max_unpool3d")
