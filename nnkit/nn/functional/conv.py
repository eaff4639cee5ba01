"""Convolutions (chapter 07): ``conv2d`` and ``conv_transpose2d`` (the layers are in :mod:`nnkit.nn.conv`).

How ``conv2d`` is computed: *im2col*. A strided view of the (padded) input
lists, for every output pixel, the ``C·kh·kw`` input values under the kernel
(no copy yet); one reshape copies those windows into a matrix ``cols`` with
``C·kh·kw`` rows and one column per output pixel of every image, and one matrix
product ``W (O, C·kh·kw) @ cols`` gives all the outputs at once. No Python loop runs over images or
pixels.

The backward is the same picture read backwards: ``dW = g @ colsᵀ`` and
``dcols = Wᵀ @ g``, and *col2im* adds each column of ``dcols`` back onto the
input pixels it was copied from, by one strided add per kernel offset
(``kh·kw`` adds). ``conv_transpose2d`` is the adjoint of ``conv2d``: its
forward is conv2d's input gradient (col2im) and its backward uses im2col.

Both are single ops with a fused backward written on raw arrays: the graph of
the same computation written from primitives would be many times larger and
slower. Their backward is therefore once differentiable (``create_graph=True``
through them raises).

Inside the op the arrays are laid out ``(C, H, W, N)``, the batch innermost: the
window copy and the strided adds of col2im then move runs of ``W·N`` contiguous
values instead of rows of ``W``, which is several times faster for small images.
The product's result is already the output in that layout, returned as an
``(N, C, H, W)`` view: ReLU and pooling keep the layout, and the next convolution
makes its padded ``(C, H, W, N)`` copy of it at the speed of a plain copy.
"""

from __future__ import annotations

from typing import Sequence

from ... import backend, ops
from ...amp import autocast_op
from ...ops.base import _make, _once_differentiable
from ...tensor import Tensor

__all__ = ["conv_output_size", "conv2d", "conv_transpose2d"]


IntOrPair = int | Sequence[int]


def _pair(value: IntOrPair, name: str, op: str) -> tuple[int, int]:
    """``3`` -> ``(3, 3)``; ``(2, 3)`` stays."""
    pair = (value, value) if isinstance(value, int) else tuple(value)
    if len(pair) != 2 or not all(isinstance(v, int) for v in pair):
        raise ValueError(f"{op}: {name} must be an int or a pair of ints, got {value!r}")
    return pair


def conv_output_size(n: int, kernel_size: int, stride: int = 1, padding: int = 0, dilation: int = 1) -> int:
    """The output length of a convolution or pooling along one dim:
    ``floor((n + 2·padding − dilation·(kernel_size − 1) − 1) / stride) + 1``.

    >>> conv_output_size(28, 5)               # a 5x5 kernel eats 2 pixels on each side
    24
    >>> conv_output_size(28, 5, padding=2)    # padding (k - 1) / 2 keeps the size
    28
    >>> conv_output_size(28, 3, stride=2, padding=1)
    14
    """
    return (n + 2 * padding - dilation * (kernel_size - 1) - 1) // stride + 1


def _offsets(kernel: tuple, stride: tuple, dilation: tuple, out_hw: tuple):
    """For each kernel offset (i, j): the (rows, cols) slices of the padded input that it touches
    for the ``Ho x Wo`` output pixels. The slices are what im2col, col2im and pooling share."""
    (kh, kw), (sh, sw), (dh, dw), (ho, wo) = kernel, stride, dilation, out_hw
    for i in range(kh):
        for j in range(kw):
            yield i, j, (slice(i * dh, i * dh + sh * (ho - 1) + 1, sh),
                         slice(j * dw, j * dw + sw * (wo - 1) + 1, sw))


def _im2col(a, kernel: tuple, stride: tuple, dilation: tuple, out_hw: tuple, groups: int):
    """The windows of a padded (C, Hp, Wp, N) array as a (groups, C/groups·kh·kw, Ho·Wo·N) matrix.

    The strided view costs nothing; the reshape makes the one copy."""
    c, n = a.shape[0], a.shape[3]
    sc, sh, sw, sn = a.strides
    view_shape = (c, kernel[0], kernel[1], out_hw[0], out_hw[1], n)
    view_strides = (sc, sh * dilation[0], sw * dilation[1], sh * stride[0], sw * stride[1], sn)
    windows = backend.xp_of(a).lib.stride_tricks.as_strided(a, view_shape, view_strides)  # read only, never written
    return windows.reshape(groups, -1, out_hw[0] * out_hw[1] * n)


def _col2im(cols, padded_hw: tuple, kernel: tuple, stride: tuple, dilation: tuple):
    """The adjoint of im2col: add each window column of ``cols`` (C, kh, kw, Ho, Wo, N) back onto
    the pixels it came from, giving a (C, Hp, Wp, N) array (one strided add per kernel offset)."""
    c, kh, kw, ho, wo, n = cols.shape
    out = backend.xp_of(cols).zeros((c,) + tuple(padded_hw) + (n,), dtype=cols.dtype)
    for i, j, (rows, columns) in _offsets(kernel, stride, dilation, (ho, wo)):
        out[:, rows, columns] += cols[:, i, j]
    return out


def _batch_last(a, pads: tuple):
    """An (N, C, H, W) array as a new (C, H + top + bottom, W + left + right, N) array, zero-padded."""
    n, c, h, w = a.shape
    (top, bottom), (left, right) = pads
    xp = backend.xp_of(a)
    allocate = xp.zeros if top or bottom or left or right else xp.empty
    out = allocate((c, h + top + bottom, w + left + right, n), dtype=a.dtype)
    out[:, top:top + h, left:left + w] = a.transpose(1, 2, 3, 0)
    return out


def _batched(input: Tensor, op: str) -> tuple[Tensor, bool]:
    """A 4-D (N, C, H, W) input, and whether it was an unbatched 3-D one."""
    if not isinstance(input, Tensor):
        raise TypeError(f"{op}: expected a Tensor input, got {type(input).__name__}")
    if input.ndim == 3:
        return ops.unsqueeze(input, 0), True
    if input.ndim != 4:
        raise RuntimeError(f"{op}: expected a 3-D (unbatched) or 4-D (batched) input, got shape "
                           f"{tuple(input.shape)}")
    return input, False


def _check_params(input: Tensor, weight: Tensor, bias: Tensor | None, groups: int, op: str,
                  transposed: bool) -> None:
    if weight.ndim != 4:
        raise RuntimeError(f"{op}: expected a 4-D weight, got shape {tuple(weight.shape)}")
    if not isinstance(groups, int) or groups < 1:
        raise ValueError(f"{op}: groups must be a positive int, got {groups!r}")
    expected = weight.shape[0] if transposed else weight.shape[1] * groups
    if input.shape[1] != expected:
        raise RuntimeError(f"{op}: expected input with {expected} channels (weight shape "
                           f"{tuple(weight.shape)}{f', groups={groups}' if groups > 1 else ''}), "
                           f"got {input.shape[1]}")
    grouped = ("in_channels", weight.shape[0]) if transposed else ("out_channels", weight.shape[0])
    if grouped[1] % groups:
        raise RuntimeError(f"{op}: {grouped[0]} ({grouped[1]}) must be divisible by groups={groups}")
    out_channels = weight.shape[1] * groups if transposed else weight.shape[0]
    if bias is not None and tuple(bias.shape) != (out_channels,):
        raise RuntimeError(f"{op}: expected a bias of shape ({out_channels},), got {tuple(bias.shape)}")
    for name, t in (("weight", weight), ("bias", bias)):
        if t is not None and (t.dtype != input.dtype or t._xp is not input._xp):
            raise RuntimeError(f"{op}: input ({input.dtype}, {input.device}) and {name} ({t.dtype}, "
                               f"{t.device}) must have the same dtype and device")


def _padding(padding, kernel: tuple, stride: tuple, dilation: tuple, op: str) -> tuple:
    """``padding`` (int, pair, 'valid' or 'same') as ((top, bottom), (left, right))."""
    if isinstance(padding, str):
        if padding == "valid":
            return (0, 0), (0, 0)
        if padding == "same":
            if stride != (1, 1):
                raise ValueError(f"{op}: padding='same' is not supported for strided convolutions "
                                 f"(stride={stride})")
            # The total d·(k − 1) is split with the extra pixel at the end, as PyTorch does.
            totals = [d * (k - 1) for k, d in zip(kernel, dilation)]
            return tuple((t // 2, t - t // 2) for t in totals)
        raise ValueError(f"{op}: padding must be an int, a pair, 'valid' or 'same', got {padding!r}")
    ph, pw = _pair(padding, "padding", op)
    if ph < 0 or pw < 0:
        raise ValueError(f"{op}: padding must be non-negative, got {padding!r}")
    return (ph, ph), (pw, pw)


@autocast_op("conv2d")
def conv2d(input: Tensor, weight: Tensor, bias: Tensor | None = None, stride: IntOrPair = 1,
           padding: IntOrPair | str = 0, dilation: IntOrPair = 1, groups: int = 1) -> Tensor:
    """2-d cross-correlation (what deep learning calls convolution) of an (N, C, H, W) input
    with a (O, C/groups, kh, kw) weight, plus ``bias`` (O,):

    out[n, o, y, x] = b[o] + Σ_{c, i, j} W[o, c, i, j] · in[n, c, y·s + i·d − p, x·s + j·d − p]

    summed over the channels ``c`` of ``o``'s group. The output is (N, O, Ho, Wo), with
    Ho = floor((H + 2p − d(kh − 1) − 1) / s) + 1 (see :func:`conv_output_size`).
    ``padding`` may be an int, a pair, ``'valid'`` (none) or ``'same'`` (output size = input
    size; stride 1 only). A 3-D (C, H, W) input gives a 3-D output.

    >>> import nnkit
    >>> conv2d(nnkit.ones(1, 1, 4, 4), nnkit.ones(2, 1, 3, 3), padding=1)[0, 0].tolist()[0]
    [4.0, 6.0, 6.0, 4.0]
    """
    x, unbatched = _batched(input, "conv2d")
    _check_params(x, weight, bias, groups, "conv2d", transposed=False)
    kernel = tuple(weight.shape[2:])
    stride, dilation = _pair(stride, "stride", "conv2d"), _pair(dilation, "dilation", "conv2d")
    if min(stride) < 1 or min(dilation) < 1:
        raise ValueError(f"conv2d: stride {stride} and dilation {dilation} must be positive")
    pads = _padding(padding, kernel, stride, dilation, "conv2d")
    padded_hw = tuple(n + before + after for n, (before, after) in zip(x.shape[2:], pads))
    reach = tuple(d * (k - 1) + 1 for k, d in zip(kernel, dilation))
    if reach[0] > padded_hw[0] or reach[1] > padded_hw[1]:
        raise RuntimeError(f"conv2d: the kernel {kernel} (spanning {reach} with dilation {dilation}) is larger "
                           f"than the padded input {padded_hw} (input shape {tuple(x.shape)})")
    out_hw = tuple((p - r) // s + 1 for p, r, s in zip(padded_hw, reach, stride))
    n, out_channels = x.shape[0], weight.shape[0]

    cols = _im2col(_batch_last(x.array, pads), kernel, stride, dilation, out_hw, groups)  # (G, C/G·kh·kw, Ho·Wo·N)
    w = weight.array.reshape(groups, out_channels // groups, -1)            # (G, O/G, C/G·kh·kw)
    out = backend.matmul(w, cols).reshape((out_channels,) + out_hw + (n,))               # (O, Ho, Wo, N)
    if bias is not None:
        out += bias.array[:, None, None, None]

    def backward(g):
        _once_differentiable("conv2d")
        gm = g.array.transpose(1, 2, 3, 0).reshape(groups, out_channels // groups, -1)  # (G, O/G, Ho·Wo·N)
        gx = gw = gb = None
        if x.requires_grad:
            dcols = backend.matmul(w.transpose(0, 2, 1), gm).reshape((x.shape[1],) + kernel + out_hw + (n,))
            da = _col2im(dcols, padded_hw, kernel, stride, dilation)
            (top, _), (left, _) = pads
            gx = Tensor._wrap(da[:, top:top + x.shape[2], left:left + x.shape[3]].transpose(3, 0, 1, 2))
        if weight.requires_grad:
            gw = Tensor._wrap(backend.matmul(gm, cols.transpose(0, 2, 1)).reshape(weight.shape))
        if bias is not None and bias.requires_grad:
            gb = ops.sum(g, (0, 2, 3))  # float32 accumulation for half-precision g
        return (gx, gw, gb) if bias is not None else (gx, gw)

    parents = (x, weight) if bias is None else (x, weight, bias)
    result = _make(out.transpose(3, 0, 1, 2), parents, backward, "Conv2d")
    return ops.squeeze(result, 0) if unbatched else result


@autocast_op("conv_transpose2d")
def conv_transpose2d(input: Tensor, weight: Tensor, bias: Tensor | None = None, stride: IntOrPair = 1,
                     padding: IntOrPair = 0, output_padding: IntOrPair = 0, groups: int = 1,
                     dilation: IntOrPair = 1) -> Tensor:
    """The transposed convolution: the adjoint (input gradient) of :func:`conv2d` with the same
    geometry, applied to an (N, C_in, H, W) input with a (C_in, C_out/groups, kh, kw) weight.

    Each input pixel scatters ``W[c_in]`` times its value into the output, which is
    (N, C_out, Ho, Wo) with Ho = (H − 1)·s − 2p + d·(kh − 1) + output_padding + 1: it undoes
    the size change of a conv2d with the same stride, padding and dilation (``output_padding``
    picks among the input sizes that a strided conv2d maps to the same size).

    >>> import nnkit
    >>> conv_transpose2d(nnkit.ones(1, 1, 2, 2), nnkit.ones(1, 1, 2, 2), stride=2).shape
    (1, 1, 4, 4)
    """
    x, unbatched = _batched(input, "conv_transpose2d")
    _check_params(x, weight, bias, groups, "conv_transpose2d", transposed=True)
    kernel = tuple(weight.shape[2:])
    op = "conv_transpose2d"
    stride, dilation = _pair(stride, "stride", op), _pair(dilation, "dilation", op)
    pad, extra = _pair(padding, "padding", op), _pair(output_padding, "output_padding", op)
    if min(stride) < 1 or min(dilation) < 1 or min(pad) < 0 or min(extra) < 0:
        raise ValueError(f"{op}: stride {stride} and dilation {dilation} must be positive, padding {pad} "
                         f"and output_padding {extra} non-negative")
    if any(e >= max(s, d) for e, s, d in zip(extra, stride, dilation)):
        raise ValueError(f"{op}: output_padding {extra} must be smaller than either stride {stride} "
                         f"or dilation {dilation}")
    n, in_hw = x.shape[0], tuple(x.shape[2:])
    full_hw = tuple((h - 1) * s + d * (k - 1) + 1 for h, s, d, k in zip(in_hw, stride, dilation, kernel))
    out_hw = tuple(f - 2 * p + e for f, p, e in zip(full_hw, pad, extra))
    if min(out_hw) < 1:
        raise RuntimeError(f"{op}: the output size {out_hw} is not positive (input shape {tuple(x.shape)}, "
                           f"kernel {kernel}, stride {stride}, padding {pad})")
    out_channels = weight.shape[1] * groups
    in_per_group = x.shape[1] // groups

    xm = x.array.transpose(1, 2, 3, 0).reshape(groups, in_per_group, -1)   # (G, C_in/G, H·W·N)
    w = weight.array.reshape(groups, in_per_group, -1)                      # (G, C_in/G, C_out/G·kh·kw)
    cols = backend.matmul(w.transpose(0, 2, 1), xm).reshape((out_channels,) + kernel + in_hw + (n,))
    # Scatter into the full extent, plus output_padding rows and columns that no input reaches.
    full = _col2im(cols, tuple(f + e for f, e in zip(full_hw, extra)), kernel, stride, dilation)
    out = full[:, pad[0]:pad[0] + out_hw[0], pad[1]:pad[1] + out_hw[1]]   # (C_out, Ho, Wo, N)
    if bias is not None:
        out += bias.array[:, None, None, None]
    pads = ((pad[0], pad[0]), (pad[1], pad[1]))

    def backward(g):
        _once_differentiable(op)
        gcols = _im2col(_batch_last(g.array, pads), kernel, stride, dilation, in_hw, groups)  # (G, ., H·W·N)
        gx = gw = gb = None
        if x.requires_grad:
            gx = Tensor._wrap(backend.matmul(w, gcols).reshape((x.shape[1],) + in_hw + (n,)).transpose(3, 0, 1, 2))
        if weight.requires_grad:
            gw = Tensor._wrap(backend.matmul(xm, gcols.transpose(0, 2, 1)).reshape(weight.shape))
        if bias is not None and bias.requires_grad:
            gb = ops.sum(g, (0, 2, 3))  # float32 accumulation for half-precision g
        return (gx, gw, gb) if bias is not None else (gx, gw)

    parents = (x, weight) if bias is None else (x, weight, bias)
    result = _make(out.transpose(3, 0, 1, 2), parents, backward, "ConvTranspose2d")
    return ops.squeeze(result, 0) if unbatched else result
