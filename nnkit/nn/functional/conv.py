"""Convolutions (chapter 07): ``conv1d``, ``conv2d``, ``conv3d``, their transposes, and ``unfold`` / ``fold``
(the layers are in :mod:`nnkit.nn.conv`).

One implementation serves every number of spatial dims. How a convolution is
computed: *im2col*. A strided view of the (padded) input lists, for every output
position, the ``C·Πkernel`` input values under the kernel (no copy yet); one
reshape copies those windows into a matrix ``cols`` with ``C·Πkernel`` rows and
one column per output position of every sample, and one matrix product
``W (O, C·Πkernel) @ cols`` gives all the outputs at once. No Python loop runs
over samples or positions.

The gradients are the same picture read backwards: ``dW = g @ colsᵀ`` and
``dcols = Wᵀ @ g``, and *col2im* adds each column of ``dcols`` back onto the
input positions it was copied from, by one strided add per kernel offset.

Three ops, each differentiating into the other two. A convolution is linear in
its input and in its weight, and both of its gradients are convolutions again:
the input gradient is the *transposed* convolution of ``g`` with the same
weight (col2im), the weight gradient the correlation of the input with ``g``
(im2col). So :func:`_convolve`, :func:`_conv_transposed` and :func:`_conv_weight`
are each one fused op on raw arrays (a graph of primitives would be many times
larger and slower), and the backward of each calls the other two. The family is
closed under differentiation: ``create_graph=True`` works through every
convolution to any order, while a plain backward runs the same array code as a
hand-written one. ``unfold`` (im2col) and ``fold`` (col2im) are each other's
backward in the same way.

Inside the ops the arrays are laid out ``(C, *spatial, N)``, the batch innermost:
the window copy and the strided adds of col2im then move runs of ``W·N``
contiguous values instead of rows of ``W``, which is several times faster for
small images. The product's result is already the output in that layout,
returned as an ``(N, C, *spatial)`` view: ReLU and pooling keep the layout, and
the next convolution makes its padded ``(C, *spatial, N)`` copy of it at the
speed of a plain copy.
"""

from __future__ import annotations

import math
import numbers
from itertools import product
from typing import NamedTuple, Sequence

from ... import backend, ops
from ...amp import autocast_op
from ...ops.base import _make
from ...tensor import Tensor

__all__ = ["conv_output_size", "conv1d", "conv2d", "conv3d", "conv_transpose1d", "conv_transpose2d",
           "conv_transpose3d", "unfold", "fold"]


IntOrTuple = int | Sequence[int]


def _tuple(value: IntOrTuple, n: int, name: str, op: str, error: type = RuntimeError) -> tuple:
    """``3`` -> ``(3,) * n``; a sequence of ``n`` ints stays (as a tuple)."""
    values = (value,) * n if isinstance(value, numbers.Integral) else tuple(value)
    if len(values) != n or not all(isinstance(v, numbers.Integral) and not isinstance(v, bool) for v in values):
        raise error(f"{op}: {name} must be an int or a tuple of {n} ints, got {value!r}")
    return tuple(int(v) for v in values)


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


class _Geometry(NamedTuple):
    """Where the windows of a convolution (or pooling) sit: an input of spatial size ``size_in``,
    padded by ``pads`` ((before, after) per dim), holds ``size_out`` windows per dim, ``stride``
    apart, each of ``kernel`` taps ``dilation`` apart; ``groups`` splits the channels."""
    kernel: tuple
    stride: tuple
    dilation: tuple
    pads: tuple
    size_in: tuple
    size_out: tuple
    groups: int = 1

    @property
    def padded(self) -> tuple:
        return tuple(n + before + after for n, (before, after) in zip(self.size_in, self.pads))

    @property
    def inner(self) -> tuple:
        """The slices of a padded (..., *padded) array that hold the input itself."""
        return tuple(slice(before, before + n) for n, (before, _) in zip(self.size_in, self.pads))


def _offsets(geo: _Geometry):
    """For each kernel offset (a tuple of taps, in C order): the slices of the padded input
    that it reads for all the windows at once. im2col, col2im and pooling share them."""
    for taps in product(*(range(k) for k in geo.kernel)):
        yield taps, tuple(slice(t * d, t * d + s * (o - 1) + 1, s)
                          for t, d, s, o in zip(taps, geo.dilation, geo.stride, geo.size_out))


def _im2col(a, geo: _Geometry):
    """The windows of a padded (C, *padded, N) array as a (groups, C/groups·Πkernel, Πsize_out·N) matrix.

    The strided view costs nothing; the reshape makes the one copy."""
    inner = a.strides[1:-1]
    shape = a.shape[:1] + geo.kernel + geo.size_out + a.shape[-1:]
    strides = (a.strides[:1] + tuple(s * d for s, d in zip(inner, geo.dilation))
               + tuple(s * t for s, t in zip(inner, geo.stride)) + a.strides[-1:])
    windows = backend.xp_of(a).lib.stride_tricks.as_strided(a, shape, strides)  # read only, never written
    return windows.reshape(geo.groups, -1, math.prod(geo.size_out) * a.shape[-1])


def _col2im(cols, geo: _Geometry):
    """The adjoint of im2col: add each window column of ``cols`` (C, *kernel, *size_out, N) back onto
    the positions it came from, giving a (C, *padded, N) array (one strided add per kernel offset)."""
    everything = (slice(None),)
    out = backend.xp_of(cols).zeros(cols.shape[:1] + geo.padded + cols.shape[-1:], dtype=cols.dtype)
    for taps, window in _offsets(geo):
        out[everything + window] += cols[everything + taps]
    return out


def _batch_last(a, pads: tuple):
    """An (N, C, *spatial) array as a new (C, *padded, N) array, zero-padded by ``pads``."""
    n, c, *size = a.shape
    xp = backend.xp_of(a)
    allocate = xp.zeros if any(before or after for before, after in pads) else xp.empty
    out = allocate((c,) + tuple(s + before + after for s, (before, after) in zip(size, pads)) + (n,), dtype=a.dtype)
    inner = tuple(slice(before, before + s) for s, (before, _) in zip(size, pads))
    out[(slice(None),) + inner] = a.transpose(1, *range(2, a.ndim), 0)
    return out


def _batch_first(a):
    """A (C, *spatial, N) array as an (N, C, *spatial) view."""
    return a.transpose(a.ndim - 1, *range(a.ndim - 1))


def _as_matrix(t: Tensor, groups: int):
    """An (N, O, *spatial) tensor's values as a (groups, O/groups, Πspatial·N) matrix: a free
    reshape when ``t`` is laid out batch-last in memory, as the ops' outputs are."""
    a = t.array
    return a.transpose(1, *range(2, a.ndim), 0).reshape(groups, a.shape[1] // groups, -1)


def _with_bias(out, bias: Tensor | None):
    """Add ``bias`` (C,) in place to a (C, ...) array."""
    if bias is not None:
        out += bias.array.reshape((-1,) + (1,) * (out.ndim - 1))


def _bias_grad(g: Tensor, bias: Tensor | None) -> tuple:
    """The bias's gradient, as a tuple to append to the others: () when there is no bias."""
    if bias is None:
        return ()
    return (ops.sum(g, (0,) + tuple(range(2, g.ndim))) if bias.requires_grad else None,)  # float32 sum for halves


def _convolve(x: Tensor, weight: Tensor, bias: Tensor | None, geo: _Geometry, cols=None) -> Tensor:
    """The convolution of an (N, C, *size_in) ``x`` with an (O, C/groups, *kernel) weight, plus ``bias``:
    (N, O, *size_out). ``cols`` is ``x``'s im2col when the caller already has it."""
    if cols is None:
        cols = _im2col(_batch_last(x.array, geo.pads), geo)                      # (G, C/G·Πk, Πout·N)
    out_channels = weight.shape[0]
    w = weight.array.reshape(geo.groups, out_channels // geo.groups, -1)        # (G, O/G, C/G·Πk)
    out = backend.matmul(w, cols).reshape((out_channels,) + geo.size_out + (x.shape[0],))  # (O, *out, N)
    _with_bias(out, bias)

    def backward(g):
        gm = _as_matrix(g, geo.groups)  # shared by both gradients
        gx = _conv_transposed(g, weight, None, geo, gm) if x.requires_grad else None
        gw = _conv_weight(x, g, geo, cols, gm) if weight.requires_grad else None
        return (gx, gw) + _bias_grad(g, bias)

    parents = (x, weight) if bias is None else (x, weight, bias)
    return _make(_batch_first(out), parents, backward, "Convolution")


def _conv_transposed(y: Tensor, weight: Tensor, bias: Tensor | None, geo: _Geometry, ym=None) -> Tensor:
    """The transposed convolution, the adjoint of :func:`_convolve` in its input: an (N, O, *size_out) ``y``
    and an (O, C/groups, *kernel) weight give (N, C, *size_in), plus ``bias`` (C,). ``ym`` is
    ``_as_matrix(y)`` when the caller already has it."""
    if ym is None:
        ym = _as_matrix(y, geo.groups)
    channels = weight.shape[1] * geo.groups
    w = weight.array.reshape(geo.groups, weight.shape[0] // geo.groups, -1).transpose(0, 2, 1)  # (G, C/G·Πk, O/G)
    cols = backend.matmul(w, ym)                                                            # (G, C/G·Πk, Πout·N)
    full = _col2im(cols.reshape((channels,) + geo.kernel + geo.size_out + (y.shape[0],)), geo)
    out = full[(slice(None),) + geo.inner]                                                  # (C, *in, N)
    _with_bias(out, bias)

    def backward(g):
        needed = y.requires_grad or weight.requires_grad
        gcols = _im2col(_batch_last(g.array, geo.pads), geo) if needed else None  # shared by both gradients
        gy = _convolve(g, weight, None, geo, gcols) if y.requires_grad else None
        gw = _conv_weight(g, y, geo, gcols, ym) if weight.requires_grad else None
        return (gy, gw) + _bias_grad(g, bias)

    parents = (y, weight) if bias is None else (y, weight, bias)
    return _make(_batch_first(out), parents, backward, "ConvolutionTranspose")


def _conv_weight(x: Tensor, g: Tensor, geo: _Geometry, cols=None, gm=None) -> Tensor:
    """The gradient in the weight of ``<_convolve(x, w), g>``: the correlation of the input ``x``
    (N, C, *size_in) with ``g`` (N, O, *size_out), shaped like the weight (O, C/groups, *kernel).
    ``cols`` and ``gm`` are ``x``'s im2col and ``_as_matrix(g)`` when the caller has them."""
    if cols is None:
        cols = _im2col(_batch_last(x.array, geo.pads), geo)
    if gm is None:
        gm = _as_matrix(g, geo.groups)
    gw = backend.matmul(gm, cols.transpose(0, 2, 1))  # (G, O/G, C/G·Πk)

    def backward(h):  # the op is linear in x and in g: <conv(x, h), g> = <h, _conv_weight(x, g)>
        gx = _conv_transposed(g, h, None, geo, gm) if x.requires_grad else None
        gg = _convolve(x, h, None, geo, cols) if g.requires_grad else None
        return gx, gg

    shape = (g.shape[1], x.shape[1] // geo.groups) + geo.kernel
    return _make(gw.reshape(shape), (x, g), backward, "ConvolutionWeight")


# --- the public functions ------------------------------------------------------------------


def _batched(input: Tensor, dims: int, op: str) -> tuple[Tensor, bool]:
    """A batched (N, C, *spatial) input, and whether it was an unbatched (C, *spatial) one."""
    if not isinstance(input, Tensor):
        raise TypeError(f"{op}: expected a Tensor input, got {type(input).__name__}")
    if input.ndim == dims + 1:
        return ops.unsqueeze(input, 0), True
    if input.ndim != dims + 2:
        raise RuntimeError(f"{op}: expected a {dims + 1}-D (unbatched) or {dims + 2}-D (batched) input, got shape "
                           f"{tuple(input.shape)}")
    return input, False


def _check_params(input: Tensor, weight: Tensor, bias: Tensor | None, groups: int, op: str,
                  transposed: bool) -> None:
    if weight.ndim != input.ndim:
        raise RuntimeError(f"{op}: expected a {input.ndim}-D weight for a {input.ndim}-D (batched) input, got "
                           f"shape {tuple(weight.shape)}")
    if isinstance(groups, bool) or not isinstance(groups, numbers.Integral) or groups < 1:
        raise RuntimeError(f"{op}: non-positive groups is not supported (groups={groups!r})")
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


def _positive(op: str, **values: tuple) -> None:
    for name, value in values.items():
        if min(value) < 1:
            raise RuntimeError(f"{op}: {name} must be positive, got {value}")


def _padding(padding, kernel: tuple, stride: tuple, dilation: tuple, op: str, error: type = RuntimeError) -> tuple:
    """``padding`` (an int, a tuple, 'valid' or 'same') as ((before, after), ...) per spatial dim."""
    if isinstance(padding, str):
        if padding == "valid":
            return ((0, 0),) * len(kernel)
        if padding == "same":
            if any(s != 1 for s in stride):
                raise error(f"{op}: padding='same' is not supported for strided convolutions (stride={stride})")
            # The total d·(k − 1) is split with the extra position at the end, as PyTorch does.
            totals = [d * (k - 1) for k, d in zip(kernel, dilation)]
            return tuple((t // 2, t - t // 2) for t in totals)
        raise error(f"{op}: padding must be an int, a tuple, 'valid' or 'same', got {padding!r}")
    pads = _tuple(padding, len(kernel), "padding", op, error)
    if min(pads) < 0:
        raise error(f"{op}: negative padding is not supported, got {padding!r}")
    return tuple((p, p) for p in pads)


def _conv(input, weight, bias, stride, padding, dilation, groups, dims: int, op: str) -> Tensor:
    x, unbatched = _batched(input, dims, op)
    _check_params(x, weight, bias, groups, op, transposed=False)
    kernel = tuple(weight.shape[2:])
    stride, dilation = _tuple(stride, dims, "stride", op), _tuple(dilation, dims, "dilation", op)
    _positive(op, stride=stride, dilation=dilation)
    pads = _padding(padding, kernel, stride, dilation, op)
    size_in = tuple(x.shape[2:])
    padded = tuple(n + before + after for n, (before, after) in zip(size_in, pads))
    reach = tuple(d * (k - 1) + 1 for k, d in zip(kernel, dilation))
    if any(r > p for r, p in zip(reach, padded)):
        raise RuntimeError(f"{op}: the kernel {kernel} (spanning {reach} with dilation {dilation}) is larger "
                           f"than the padded input {padded} (input shape {tuple(x.shape)})")
    size_out = tuple((p - r) // s + 1 for p, r, s in zip(padded, reach, stride))
    out = _convolve(x, weight, bias, _Geometry(kernel, stride, dilation, pads, size_in, size_out, groups))
    return ops.squeeze(out, 0) if unbatched else out


@autocast_op("conv1d")
def conv1d(input: Tensor, weight: Tensor, bias: Tensor | None = None, stride: IntOrTuple = 1,
           padding: IntOrTuple | str = 0, dilation: IntOrTuple = 1, groups: int = 1) -> Tensor:
    """1-d cross-correlation of an (N, C, L) input (or (C, L)) with an (O, C/groups, k) weight, plus
    ``bias`` (O,): :func:`conv2d` with one spatial dim. The output is (N, O, L_out).

    >>> import nnkit
    >>> conv1d(nnkit.ones(1, 1, 5), nnkit.ones(1, 1, 3), padding=1).tolist()
    [[[2.0, 3.0, 3.0, 3.0, 2.0]]]
    """
    return _conv(input, weight, bias, stride, padding, dilation, groups, 1, "conv1d")


@autocast_op("conv2d")
def conv2d(input: Tensor, weight: Tensor, bias: Tensor | None = None, stride: IntOrTuple = 1,
           padding: IntOrTuple | str = 0, dilation: IntOrTuple = 1, groups: int = 1) -> Tensor:
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
    return _conv(input, weight, bias, stride, padding, dilation, groups, 2, "conv2d")


@autocast_op("conv3d")
def conv3d(input: Tensor, weight: Tensor, bias: Tensor | None = None, stride: IntOrTuple = 1,
           padding: IntOrTuple | str = 0, dilation: IntOrTuple = 1, groups: int = 1) -> Tensor:
    """3-d cross-correlation of an (N, C, D, H, W) input (or (C, D, H, W)) with an
    (O, C/groups, kd, kh, kw) weight, plus ``bias`` (O,): :func:`conv2d` with three spatial dims.

    >>> import nnkit
    >>> conv3d(nnkit.ones(1, 2, 4, 4, 4), nnkit.ones(3, 2, 3, 3, 3)).shape
    (1, 3, 2, 2, 2)
    """
    return _conv(input, weight, bias, stride, padding, dilation, groups, 3, "conv3d")


def _conv_transpose(input, weight, bias, stride, padding, output_padding, groups, dilation, dims: int,
                    op: str) -> Tensor:
    x, unbatched = _batched(input, dims, op)
    _check_params(x, weight, bias, groups, op, transposed=True)
    kernel = tuple(weight.shape[2:])
    stride, dilation = _tuple(stride, dims, "stride", op), _tuple(dilation, dims, "dilation", op)
    pad, extra = _tuple(padding, dims, "padding", op), _tuple(output_padding, dims, "output_padding", op)
    _positive(op, stride=stride, dilation=dilation)
    if min(pad) < 0 or min(extra) < 0:
        raise RuntimeError(f"{op}: negative padding {pad} or output_padding {extra} is not supported")
    if any(e >= max(s, d) for e, s, d in zip(extra, stride, dilation)):
        raise RuntimeError(f"{op}: output_padding {extra} must be smaller than either stride {stride} "
                           f"or dilation {dilation}")
    size_out = tuple(x.shape[2:])  # the convolution's output is this op's input
    size_in = tuple((n - 1) * s - 2 * p + d * (k - 1) + e + 1
                    for n, s, p, d, k, e in zip(size_out, stride, pad, dilation, kernel, extra))
    if min(size_in) < 1:
        raise RuntimeError(f"{op}: the output size {size_in} is not positive (input shape {tuple(x.shape)}, "
                           f"kernel {kernel}, stride {stride}, padding {pad})")
    # The adjoint of a convolution from size_in to size_out; the output_padding rows lie in the
    # padded extent after the last window, where nothing is scattered.
    geo = _Geometry(kernel, stride, dilation, tuple((p, p) for p in pad), size_in, size_out, groups)
    out = _conv_transposed(x, weight, bias, geo)
    return ops.squeeze(out, 0) if unbatched else out


@autocast_op("conv_transpose1d")
def conv_transpose1d(input: Tensor, weight: Tensor, bias: Tensor | None = None, stride: IntOrTuple = 1,
                     padding: IntOrTuple = 0, output_padding: IntOrTuple = 0, groups: int = 1,
                     dilation: IntOrTuple = 1) -> Tensor:
    """:func:`conv_transpose2d` with one spatial dim: (N, C_in, L) with a (C_in, C_out/groups, k)
    weight gives (N, C_out, (L − 1)·s − 2p + d·(k − 1) + output_padding + 1).

    >>> import nnkit
    >>> conv_transpose1d(nnkit.ones(1, 1, 3), nnkit.ones(1, 1, 2), stride=2).tolist()
    [[[1.0, 1.0, 1.0, 1.0, 1.0, 1.0]]]
    """
    return _conv_transpose(input, weight, bias, stride, padding, output_padding, groups, dilation, 1,
                           "conv_transpose1d")


@autocast_op("conv_transpose2d")
def conv_transpose2d(input: Tensor, weight: Tensor, bias: Tensor | None = None, stride: IntOrTuple = 1,
                     padding: IntOrTuple = 0, output_padding: IntOrTuple = 0, groups: int = 1,
                     dilation: IntOrTuple = 1) -> Tensor:
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
    return _conv_transpose(input, weight, bias, stride, padding, output_padding, groups, dilation, 2,
                           "conv_transpose2d")


@autocast_op("conv_transpose3d")
def conv_transpose3d(input: Tensor, weight: Tensor, bias: Tensor | None = None, stride: IntOrTuple = 1,
                     padding: IntOrTuple = 0, output_padding: IntOrTuple = 0, groups: int = 1,
                     dilation: IntOrTuple = 1) -> Tensor:
    """:func:`conv_transpose2d` with three spatial dims: (N, C_in, D, H, W) with a
    (C_in, C_out/groups, kd, kh, kw) weight.

    >>> import nnkit
    >>> conv_transpose3d(nnkit.ones(1, 2, 2, 2, 2), nnkit.ones(2, 1, 2, 2, 2), stride=2).shape
    (1, 1, 4, 4, 4)
    """
    return _conv_transpose(input, weight, bias, stride, padding, output_padding, groups, dilation, 3,
                           "conv_transpose3d")


# --- unfold and fold: im2col and col2im as ops ------------------------------------------------


def _unfold(x: Tensor, geo: _Geometry) -> Tensor:
    """(N, C, *size_in) -> (N, C·Πkernel, Πsize_out): every window as a column."""
    cols = _im2col(_batch_last(x.array, geo.pads), geo)  # (1, C·Πk, L·N)
    out = cols.reshape(cols.shape[1], -1, x.shape[0]).transpose(2, 0, 1)
    return _make(out, (x,), lambda g: (_fold(g, geo),), "Im2Col", ())


def _fold(y: Tensor, geo: _Geometry) -> Tensor:
    """(N, C·Πkernel, Πsize_out) -> (N, C, *size_in): each column added back onto its window."""
    a = y.array.transpose(1, 2, 0)  # (C·Πk, L, N)
    channels = a.shape[0] // math.prod(geo.kernel)
    full = _col2im(a.reshape((channels,) + geo.kernel + geo.size_out + (y.shape[0],)), geo)
    return _make(_batch_first(full[(slice(None),) + geo.inner]), (y,), lambda g: (_unfold(g, geo),), "Col2Im", ())


def _sliding_geometry(size_in: tuple, kernel_size, dilation, padding, stride, op: str) -> _Geometry:
    """The windows of unfold and fold (two spatial dims, as PyTorch's)."""
    kernel, dilation = _tuple(kernel_size, 2, "kernel_size", op), _tuple(dilation, 2, "dilation", op)
    pad, stride = _tuple(padding, 2, "padding", op), _tuple(stride, 2, "stride", op)
    _positive(op, kernel_size=kernel, dilation=dilation, stride=stride)
    if min(pad) < 0:
        raise RuntimeError(f"{op}: padding must be non-negative, got {pad}")
    size_out = tuple(conv_output_size(n, k, s, p, d) for n, k, s, p, d in zip(size_in, kernel, stride, pad, dilation))
    if min(size_out) < 1:
        raise RuntimeError(f"{op}: given spatial size {size_in}, kernel_size={kernel}, dilation={dilation}, "
                           f"padding={pad} and stride={stride}, the array of sliding blocks would be {size_out}, "
                           f"but each of its sizes must be at least one")
    return _Geometry(kernel, stride, dilation, tuple((p, p) for p in pad), tuple(size_in), size_out)


def unfold(input: Tensor, kernel_size: IntOrTuple, dilation: IntOrTuple = 1, padding: IntOrTuple = 0,
           stride: IntOrTuple = 1) -> Tensor:
    """im2col: every ``kernel_size`` window of an (N, C, H, W) input (or (C, H, W)) as one column of
    an (N, C·kh·kw, L) output, L the number of windows. ``conv2d`` is ``weight.view(O, -1) @ unfold``.

    >>> import nnkit
    >>> unfold(nnkit.arange(9.0).reshape(1, 1, 3, 3), 2)[0].tolist()
    [[0.0, 1.0, 3.0, 4.0], [1.0, 2.0, 4.0, 5.0], [3.0, 4.0, 6.0, 7.0], [4.0, 5.0, 7.0, 8.0]]
    """
    if not isinstance(input, Tensor) or input.ndim not in (3, 4):
        raise RuntimeError(f"unfold: expected a 3-D (unbatched) or 4-D (batched) input, got shape "
                           f"{tuple(getattr(input, 'shape', ())) or type(input).__name__}")
    x = input if input.ndim == 4 else ops.unsqueeze(input, 0)
    out = _unfold(x, _sliding_geometry(tuple(x.shape[2:]), kernel_size, dilation, padding, stride, "unfold"))
    return out if input.ndim == 4 else ops.squeeze(out, 0)


def fold(input: Tensor, output_size: IntOrTuple, kernel_size: IntOrTuple, dilation: IntOrTuple = 1,
         padding: IntOrTuple = 0, stride: IntOrTuple = 1) -> Tensor:
    """col2im, the adjoint of :func:`unfold`: an (N, C·kh·kw, L) input (or (C·kh·kw, L)) gives
    (N, C, *output_size), each column added onto the window it stands for (overlaps add up).

    >>> import nnkit
    >>> fold(nnkit.ones(1, 4, 4), (3, 3), 2)[0, 0].tolist()  # how many windows cover each pixel
    [[1.0, 2.0, 1.0], [2.0, 4.0, 2.0], [1.0, 2.0, 1.0]]
    """
    if not isinstance(input, Tensor) or input.ndim not in (2, 3):
        raise RuntimeError(f"fold: expected a 2-D (unbatched) or 3-D (batched) input, got shape "
                           f"{tuple(getattr(input, 'shape', ())) or type(input).__name__}")
    y = input if input.ndim == 3 else ops.unsqueeze(input, 0)
    geo = _sliding_geometry(_tuple(output_size, 2, "output_size", "fold"), kernel_size, dilation, padding, stride,
                            "fold")
    taps, blocks = math.prod(geo.kernel), math.prod(geo.size_out)
    if y.shape[1] % taps:
        raise RuntimeError(f"fold: expected the input's dim 1 ({y.shape[1]}) to be divisible by the product of "
                           f"kernel_size {geo.kernel}")
    if y.shape[2] != blocks:
        raise RuntimeError(f"fold: expected the input's last dim to be the number of sliding blocks "
                           f"{' * '.join(map(str, geo.size_out))} = {blocks} (output_size={geo.size_in}, "
                           f"kernel_size={geo.kernel}, dilation={geo.dilation}, "
                           f"padding={tuple(p for p, _ in geo.pads)}, stride={geo.stride}), got {y.shape[2]}")
    out = _fold(y, geo)
    return out if input.ndim == 3 else ops.squeeze(out, 0)
