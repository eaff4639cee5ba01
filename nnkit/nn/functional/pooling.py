"""Pooling (chapter 07): ``max_pool2d``, ``avg_pool2d`` and ``adaptive_avg_pool2d`` (the layers are in
:mod:`nnkit.nn.pooling`).

Pooling has no parameters: it shrinks each channel of an (N, C, H, W) input (or
a (C, H, W) one) by taking the max or the mean of every window. Like
:func:`nnkit.nn.conv2d`, max and average pooling visit the ``kh·kw`` kernel
offsets one at a time: each offset is one strided slice of the padded input
covering every window at once, so the Python loop is over the kernel, never over
images or pixels. Both are single ops with a fused backward on raw arrays (the
max's gradient goes to the position of each window's max, the first one on ties,
as in PyTorch); their backward is once differentiable. The adaptive average is
written from differentiable primitives (a reshape and a mean, or two matrix
products), so it needs no backward of its own.
"""

from __future__ import annotations

from typing import Sequence

from ... import backend, ops
from ...ops.base import _make, _once_differentiable
from ...tensor import Tensor
from .conv import _offsets, _pair

__all__ = ["max_pool2d", "avg_pool2d", "adaptive_avg_pool2d"]


IntOrPair = int | Sequence[int]


def _pool_output_size(n: int, k: int, s: int, p: int, d: int, ceil_mode: bool) -> int:
    """floor (or ceil) of (n + 2p − d(k − 1) − 1) / s, plus 1; in ceil mode the last window
    must start inside the input or its left padding, as in PyTorch."""
    span = n + 2 * p - d * (k - 1) - 1
    out = (span + (s - 1 if ceil_mode else 0)) // s + 1
    if ceil_mode and (out - 1) * s >= n + p:
        out -= 1
    return out


def _geometry(input: Tensor, kernel_size, stride, padding, dilation, ceil_mode: bool, op: str):
    """Check the arguments; return kernel, stride, dilation, output size and the ((top, bottom),
    (left, right)) padding, which in ceil mode is extended so that the last window fits."""
    if not isinstance(input, Tensor):
        raise TypeError(f"{op}: expected a Tensor input, got {type(input).__name__}")
    if input.ndim not in (3, 4):
        raise RuntimeError(f"{op}: expected a 3-D (unbatched) or 4-D (batched) input, got shape "
                           f"{tuple(input.shape)}")
    if not backend.is_floating(input.dtype):
        raise TypeError(f"{op}: expected a floating-point input, got {input.dtype}")
    kernel = _pair(kernel_size, "kernel_size", op)
    stride = kernel if stride is None or stride == () else _pair(stride, "stride", op)
    pad, dilation = _pair(padding, "padding", op), _pair(dilation, "dilation", op)
    if min(kernel) < 1 or min(stride) < 1 or min(dilation) < 1 or min(pad) < 0:
        raise ValueError(f"{op}: kernel_size {kernel}, stride {stride} and dilation {dilation} must be "
                         f"positive and padding {pad} non-negative")
    if any(p > ((k - 1) * d + 1) // 2 for p, k, d in zip(pad, kernel, dilation)):
        raise ValueError(f"{op}: padding {pad} should be at most half of the effective kernel size "
                         f"(kernel_size {kernel}, dilation {dilation})")
    in_hw = tuple(input.shape[-2:])
    out_hw = tuple(_pool_output_size(n, k, s, p, d, ceil_mode)
                   for n, k, s, p, d in zip(in_hw, kernel, stride, pad, dilation))
    if min(out_hw) < 1:
        raise RuntimeError(f"{op}: the output size {out_hw} is too small (input shape {tuple(input.shape)}, "
                           f"kernel_size {kernel}, stride {stride}, padding {pad}, dilation {dilation})")
    # The far side may need more than `pad` when ceil_mode lets the last window hang over.
    pads = tuple((p, max(p, (o - 1) * s + d * (k - 1) + 1 - n - p))
                 for n, k, s, p, d, o in zip(in_hw, kernel, stride, pad, dilation, out_hw))
    return kernel, stride, dilation, out_hw, pads


def _pad(a, pads: tuple, value: float = 0.0):
    """``a`` (..., H, W) padded with ``value`` by ((top, bottom), (left, right)); no copy when no padding."""
    if not any(pads[0] + pads[1]):
        return a
    return backend.xp_of(a).pad(a, ((0, 0),) * (a.ndim - 2) + tuple(pads), constant_values=value)


def _scatter(parts, padded, pads: tuple, in_hw: tuple, kernel, stride, dilation, out_hw):
    """Add ``parts(q)`` onto the padded input's pixels that kernel offset ``q`` read, then cut the
    padding away: the backward that both poolings share."""
    da = backend.xp_of(padded).zeros_like(padded)  # in the input's memory layout
    for q, (_, _, (rows, cols)) in enumerate(_offsets(kernel, stride, dilation, out_hw)):
        da[..., rows, cols] += parts(q)
    (top, _), (left, _) = pads
    return Tensor._wrap(da[..., top:top + in_hw[0], left:left + in_hw[1]])


def max_pool2d(input: Tensor, kernel_size: IntOrPair, stride: IntOrPair | None = None, padding: IntOrPair = 0,
               dilation: IntOrPair = 1, ceil_mode: bool = False, return_indices: bool = False):
    """The max of each ``kernel_size`` window, the windows ``stride`` apart (``kernel_size`` by
    default); the padding counts as −∞. NaN wins, as in PyTorch.

    With ``return_indices`` also returns, for each output, the flat index ``h·W + w`` of the max
    in its (H, W) input plane.

    >>> import nnkit
    >>> max_pool2d(nnkit.arange(16.0).reshape(1, 1, 4, 4), 2).tolist()
    [[[[5.0, 7.0], [13.0, 15.0]]]]
    """
    kernel, stride, dilation, out_hw, pads = _geometry(input, kernel_size, stride, padding, dilation, ceil_mode,
                                                       "max_pool2d")
    xp = input._xp
    a = _pad(input.array, pads, float("-inf"))
    offsets = list(_offsets(kernel, stride, dilation, out_hw))
    best = a[(..., *offsets[0][2])].copy(order="K")  # keep the input's memory layout
    arg = xp.zeros_like(best, dtype="int8" if len(offsets) < 128 else "int32")  # offset of each window's max
    for q, (_, _, (rows, cols)) in enumerate(offsets[1:], start=1):
        v = a[..., rows, cols]
        take = (v > best) | (v != v)  # strictly greater: ties keep the first; NaN always wins
        xp.maximum(best, v, out=best)
        arg += take * (q - arg)  # select without a branch: masked writes are slow on random masks

    def backward(g):
        _once_differentiable("max_pool2d")
        ga = g.array
        return (_scatter(lambda q: ga * (arg == q), a, pads, input.shape[-2:], kernel, stride, dilation,
                         out_hw),)
    out = _make(best, (input,), backward, "MaxPool2d")
    if not return_indices:
        return out
    (top, _), (left, _) = pads
    rows = xp.arange(out_hw[0])[:, None] * stride[0] - top + (arg // kernel[1]) * dilation[0]
    cols = xp.arange(out_hw[1]) * stride[1] - left + (arg % kernel[1]) * dilation[1]
    return out, Tensor._wrap((rows * input.shape[-1] + cols).astype(backend.int64))


def _window_counts(n: int, k: int, s: int, p: int, out: int, count_include_pad: bool, xp):
    """How many positions each window covers along one dim, PyTorch's way: padding counts when
    ``count_include_pad`` (but not the extra reach of ceil mode), else only the input."""
    start = xp.arange(out) * s - p
    end = xp.minimum(start + k, n + p)
    if count_include_pad:
        return end - start
    return xp.minimum(end, n) - xp.maximum(start, 0)


def avg_pool2d(input: Tensor, kernel_size: IntOrPair, stride: IntOrPair | None = None, padding: IntOrPair = 0,
               ceil_mode: bool = False, count_include_pad: bool = True, divisor_override: int | None = None
               ) -> Tensor:
    """The mean of each ``kernel_size`` window, the windows ``stride`` apart (``kernel_size`` by
    default). The zero padding counts in the divisor when ``count_include_pad``;
    ``divisor_override`` replaces the divisor.

    >>> import nnkit
    >>> avg_pool2d(nnkit.arange(16.0).reshape(1, 1, 4, 4), 2).tolist()
    [[[[2.5, 4.5], [10.5, 12.5]]]]
    """
    kernel, stride, _, out_hw, pads = _geometry(input, kernel_size, stride, padding, 1, ceil_mode, "avg_pool2d")
    if divisor_override is not None and divisor_override <= 0:
        raise ValueError(f"avg_pool2d: divisor_override must be positive, got {divisor_override}")
    xp = input._xp
    a = _pad(input.array, pads, 0.0)
    total = None
    for _, _, (rows, cols) in _offsets(kernel, stride, (1, 1), out_hw):
        window = a[..., rows, cols]
        total = window.copy(order="K") if total is None else xp.add(total, window, out=total)
    if divisor_override is not None:
        divisor = xp.asarray(divisor_override, dtype=input.dtype)
    else:
        h, w = (_window_counts(n, k, s, p[0], o, count_include_pad, xp)
                for n, k, s, p, o in zip(input.shape[-2:], kernel, stride, pads, out_hw))
        divisor = (h[:, None] * w).astype(input.dtype)

    def backward(g):
        _once_differentiable("avg_pool2d")
        share = g.array / divisor
        return (_scatter(lambda q: share, a, pads, input.shape[-2:], kernel, stride, (1, 1), out_hw),)
    return _make(total / divisor, (input,), backward, "AvgPool2d")


def _adaptive_size(output_size, in_hw: tuple) -> tuple[int, int]:
    size = (output_size, output_size) if isinstance(output_size, int) or output_size is None else tuple(output_size)
    if len(size) != 2:
        raise ValueError(f"adaptive_avg_pool2d: output_size must be an int or a pair, got {output_size!r}")
    size = tuple(n if s is None else s for s, n in zip(size, in_hw))
    if min(size) < 1:
        raise ValueError(f"adaptive_avg_pool2d: output_size must be positive, got {output_size!r}")
    return size


def _averaging_matrix(n: int, out: int, like: Tensor) -> Tensor:
    """(out, n): row i averages the inputs from floor(i·n/out) to ceil((i+1)·n/out) (PyTorch's windows)."""
    xp = like._xp
    i = xp.arange(out)
    start, end = (i * n) // out, -((-(i + 1) * n) // out)
    j = xp.arange(n)
    inside = (j >= start[:, None]) & (j < end[:, None])
    return Tensor._wrap((inside / (end - start)[:, None]).astype(like.dtype))


def adaptive_avg_pool2d(input: Tensor, output_size: int | Sequence[int | None]) -> Tensor:
    """Average pooling to a fixed output size (H_out, W_out), whatever the input's size;
    ``None`` keeps that dim. Window i along a dim of size n spans [floor(i·n/out), ceil((i+1)·n/out)).

    >>> import nnkit
    >>> adaptive_avg_pool2d(nnkit.ones(2, 8, 7, 5), 1).shape
    (2, 8, 1, 1)
    """
    if not isinstance(input, Tensor) or input.ndim not in (3, 4):
        raise RuntimeError(f"adaptive_avg_pool2d: expected a 3-D or 4-D tensor input, got "
                           f"{tuple(getattr(input, 'shape', ())) or type(input).__name__}")
    (h, w), (oh, ow) = input.shape[-2:], _adaptive_size(output_size, tuple(input.shape[-2:]))
    lead = tuple(input.shape[:-2])
    if h % oh == 0 and w % ow == 0:  # equal windows: a reshape and a mean
        return ops.mean(ops.reshape(input, lead + (oh, h // oh, ow, w // ow)), (-3, -1))
    rows, cols = _averaging_matrix(h, oh, input), _averaging_matrix(w, ow, input)
    return ops.matmul(ops.matmul(rows, input), ops.transpose(cols, 0, 1))
