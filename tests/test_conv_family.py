"""The convolution family over 1, 2 and 3 spatial dims, in float64 and without PyTorch.

Every op is an entry of one table (``CASES``): the op written once with names
that nnkit and PyTorch share (``test_torch_conv_family.py`` runs the same table
against torch) and a NumPy reference written by definition, one output position
at a time. For each entry: the forward against the reference, a gradcheck with a
random upstream gradient on contiguous, transposed and strided inputs, and a
second-derivative check (the first derivative built with ``create_graph=True``
gradchecked in the inputs and the upstream gradient), which conv and pooling pass
because each backward is itself made of differentiable ops.

Then the rules that the table cannot show: max pooling's indices and integer
inputs, unpooling, negative padding in every mode, the layers' parameters, and
the errors.
"""

import doctest
import importlib
import itertools
import math

import numpy as np
import pytest

import nnkit
import nnkit.nn as nn
import nnkit.nn.functional as NF
from nnkit.gradcheck import gradcheck
from test_ops_gradcheck import LAYOUTS, Case, assert_forward, case_arrays, check, check_second, lib


def F(t):
    """The functional module of ``t``'s library (nnkit's or torch's)."""
    return lib(t).nn.functional


# --- references, by definition ----------------------------------------------------------------

def _window(pos, stride, start, dilation, kernel):
    """The slices of one window (starting at pos·stride − start) along every spatial dim."""
    return tuple(slice(p * s + b, p * s + b + d * (k - 1) + 1, d)
                 for p, s, b, d, k in zip(pos, stride, start, dilation, kernel))


def ref_conv(x, w, b=None, stride=1, padding=0, dilation=1, groups=1):
    """out[n, o, pos] = b[o] + Σ w[o, c, taps] · x_padded[n, group's c, pos·s + taps·d]."""
    dims = x.ndim - 2
    stride, padding, dilation = ((v,) * dims if isinstance(v, int) else v for v in (stride, padding, dilation))
    xp = np.pad(x, ((0, 0), (0, 0)) + tuple((p, p) for p in padding))
    kernel = w.shape[2:]
    size = [(n - d * (k - 1) - 1) // s + 1 for n, k, s, d in zip(xp.shape[2:], kernel, stride, dilation)]
    out = np.zeros((x.shape[0], w.shape[0], *size))
    per_group_in, per_group_out = w.shape[1], w.shape[0] // groups
    for o in range(w.shape[0]):
        g = o // per_group_out
        for pos in itertools.product(*map(range, size)):
            window = xp[(slice(None), slice(g * per_group_in, (g + 1) * per_group_in))
                        + _window(pos, stride, (0,) * dims, dilation, kernel)]
            out[(slice(None), o) + pos] = (window * w[o]).sum(axis=tuple(range(1, dims + 2)))
    return out if b is None else out + b.reshape((-1,) + (1,) * dims)


def ref_conv_transpose(x, w, b=None, stride=1, padding=0, output_padding=0, groups=1, dilation=1):
    """Each input value times its kernel, added into the output at pos·s + taps·d; then the padding cut."""
    dims = x.ndim - 2
    stride, padding, output_padding, dilation = ((v,) * dims if isinstance(v, int) else v
                                                 for v in (stride, padding, output_padding, dilation))
    kernel, per_group_out, per_group_in = w.shape[2:], w.shape[1], x.shape[1] // groups
    full = [(n - 1) * s + d * (k - 1) + 1 + e for n, s, d, k, e in zip(x.shape[2:], stride, dilation, kernel,
                                                                        output_padding)]
    out = np.zeros((x.shape[0], per_group_out * groups, *full))
    for c in range(x.shape[1]):
        g = c // per_group_in
        for pos in itertools.product(*map(range, x.shape[2:])):
            for taps in itertools.product(*map(range, kernel)):
                at = tuple(p * s + t * d for p, s, t, d in zip(pos, stride, taps, dilation))
                out[(slice(None), slice(g * per_group_out, (g + 1) * per_group_out)) + at] += (
                    x[(slice(None), c) + pos][:, None] * w[(c, slice(None)) + taps])
    out = out[(Ellipsis,) + tuple(slice(p, n - p) for p, n in zip(padding, full))]
    return out if b is None else out + b.reshape((-1,) + (1,) * dims)


def pool_starts(n, k, s, p, d, ceil_mode):
    """The window starts (in the input's coordinates) along one dim, PyTorch's rule for ceil mode."""
    span = n + 2 * p - d * (k - 1) - 1
    count = -(-span // s) + 1 if ceil_mode else span // s + 1
    if ceil_mode and (count - 1) * s >= n + p:
        count -= 1
    return [i * s - p for i in range(count)]


def ref_pool(x, kernel, stride, padding, dilation, ceil_mode, reduce):
    """``reduce(values, (window start, end) per dim)`` over the in-range values of every window."""
    dims = len(kernel)
    starts = [pool_starts(n, k, s, p, d, ceil_mode)
              for n, k, s, p, d in zip(x.shape[-dims:], kernel, stride, padding, dilation)]
    out = np.zeros(x.shape[:-dims] + tuple(map(len, starts)))
    for pos in itertools.product(*(range(len(st)) for st in starts)):
        bounds = [(st[i], st[i] + d * (k - 1) + 1) for st, i, d, k in zip(starts, pos, dilation, kernel)]
        taps = [[t for t in range(lo, hi, d) if 0 <= t < n] for (lo, hi), d, n in zip(bounds, dilation,
                                                                                      x.shape[-dims:])]
        out[(Ellipsis,) + pos] = reduce(x[(Ellipsis,) + np.ix_(*taps)], bounds)
    return out


def ref_max_pool(x, kernel, stride=None, padding=0, dilation=1, ceil_mode=False):
    dims = len(kernel)
    stride, padding, dilation = ((v,) * dims if isinstance(v, int) else v
                                 for v in (stride or kernel, padding, dilation))
    return ref_pool(x, kernel, stride, padding, dilation, ceil_mode,
                    lambda v, _: v.max(axis=tuple(range(-dims, 0))))


def ref_avg_pool(x, kernel, stride=None, padding=0, ceil_mode=False, count_include_pad=True, divisor_override=None):
    dims = len(kernel)
    stride, padding = ((v,) * dims if isinstance(v, int) else v for v in (stride or kernel, padding))
    sizes = x.shape[-dims:]

    def mean(values, bounds):
        if divisor_override:
            count = divisor_override
        elif count_include_pad:  # the padding counts, the overhang of ceil mode does not
            count = math.prod(min(hi, n + p) - lo for (lo, hi), n, p in zip(bounds, sizes, padding))
        else:
            count = math.prod(min(hi, n) - max(lo, 0) for (lo, hi), n in zip(bounds, sizes))
        return values.sum(axis=tuple(range(-dims, 0))) / count
    return ref_pool(x, kernel, stride, padding, (1,) * dims, ceil_mode, mean)


def ref_adaptive(x, size, reduce):
    """Window i along a dim of n spans [floor(i·n/out), ceil((i+1)·n/out))."""
    dims = len(size)
    out = np.zeros(x.shape[:-dims] + tuple(size))
    for pos in itertools.product(*map(range, size)):
        window = tuple(slice(i * n // o, -(-(i + 1) * n // o)) for i, n, o in zip(pos, x.shape[-dims:], size))
        out[(Ellipsis,) + pos] = reduce(x[(Ellipsis,) + window], axis=tuple(range(-dims, 0)))
    return out


def ref_unfold(x, kernel, dilation=1, padding=0, stride=1):
    """Column l of sample n: the window at block l, channel-major then kernel offsets."""
    kernel, dilation, padding, stride = ((v, v) if isinstance(v, int) else v for v in (kernel, dilation, padding,
                                                                                        stride))
    xp = np.pad(x, ((0, 0), (0, 0)) + tuple((p, p) for p in padding))
    size = [(n - d * (k - 1) - 1) // s + 1 for n, k, s, d in zip(xp.shape[2:], kernel, stride, dilation)]
    columns = [xp[(slice(None), slice(None)) + _window(pos, stride, (0, 0), dilation, kernel)].reshape(x.shape[0], -1)
               for pos in itertools.product(*map(range, size))]
    return np.stack(columns, axis=-1)


def ref_fold(y, size, kernel, dilation=1, padding=0, stride=1):
    """The adjoint of unfold: each column added onto its window of the padded output, then the padding cut."""
    kernel, dilation, padding, stride = ((v, v) if isinstance(v, int) else v for v in (kernel, dilation, padding,
                                                                                        stride))
    n, ck, _ = y.shape
    channels = ck // math.prod(kernel)
    padded = [h + 2 * p for h, p in zip(size, padding)]
    blocks = [(h - d * (k - 1) - 1) // s + 1 for h, k, s, d in zip(padded, kernel, stride, dilation)]
    out = np.zeros((n, channels, *padded))
    for col, pos in enumerate(itertools.product(*map(range, blocks))):
        window = _window(pos, stride, (0, 0), dilation, kernel)
        out[(slice(None), slice(None)) + window] += y[:, :, col].reshape(n, channels, *kernel)
    return out[(Ellipsis,) + tuple(slice(p, p + h) for p, h in zip(padding, size))]


def ref_pixel_shuffle(x, r):
    """out[..., c, h·r + i, w·r + j] = x[..., c·r² + i·r + j, h, w]."""
    *lead, c, h, w = x.shape
    out = np.zeros((*lead, c // (r * r), h * r, w * r))
    for ch, i, j in itertools.product(range(c // (r * r)), range(r), range(r)):
        out[..., ch, i::r, j::r] = x[..., ch * r * r + i * r + j, :, :]
    return out


def ref_pixel_unshuffle(x, r):
    """out[..., c·r² + i·r + j, h, w] = x[..., c, h·r + i, w·r + j]."""
    *lead, c, h, w = x.shape
    out = np.zeros((*lead, c * r * r, h // r, w // r))
    for ch, i, j in itertools.product(range(c), range(r), range(r)):
        out[..., ch * r * r + i * r + j, :, :] = x[..., ch, i::r, j::r]
    return out


def ref_pad(x, amounts, mode, value=0.0):
    """Pad the trailing dims with NumPy, then crop the negative amounts; circular crops first, as PyTorch."""
    widths = [(0, 0)] * (x.ndim - len(amounts) // 2) + [(amounts[2 * i], amounts[2 * i + 1])
                                                         for i in reversed(range(len(amounts) // 2))]
    if mode == "circular":
        x = x[tuple(slice(max(-b, 0), n - max(-a, 0)) for (b, a), n in zip(widths, x.shape))]
        widths = [(max(b, 0), max(a, 0)) for b, a in widths]
    grow = [(max(b, 0), max(a, 0)) for b, a in widths]
    if mode == "constant":
        out = np.pad(x, grow, constant_values=value)
    else:
        out = np.pad(x, grow, mode={"reflect": "reflect", "replicate": "edge", "circular": "wrap"}[mode])
    return out[tuple(slice(max(-b, 0), n - max(-a, 0)) for (b, a), n in zip(widths, out.shape))]


def ref_unpool(x, indices, size):
    """Zeros of ``size`` per (sample, channel) plane, with each value of ``x`` at its flat index."""
    dims = len(size)
    lead = x.shape[:-dims]
    out = np.zeros((math.prod(lead), math.prod(size)))
    for row, (values, places) in enumerate(zip(x.reshape(len(out), -1), indices.reshape(len(out), -1))):
        out[row, places] = values
    return out.reshape(lead + tuple(size))


def _max_places(shape, kernel, seed):
    """Valid unpooling indices: for each window of a non-overlapping pooling, one of its positions."""
    rng = np.random.default_rng(seed)
    dims = len(kernel)
    windows = shape[-dims:]
    size = tuple(w * k for w, k in zip(windows, kernel))
    places = np.zeros(shape, dtype=np.int64)
    for pos in np.ndindex(*shape):
        at = [p * k + rng.integers(k) for p, k in zip(pos[-dims:], kernel)]
        places[pos] = np.ravel_multi_index(at, size)
    return places


UNPOOL_1D = _max_places((2, 3, 4), (2,), 1)
UNPOOL_2D = _max_places((2, 1, 2, 2), (2, 2), 2)
UNPOOL_3D = _max_places((1, 2, 1, 2, 1), (2, 2, 2), 3)


# --- the table ---------------------------------------------------------------------------------

CASES = {
    # convolutions: every option, each in one dim count or another; weights (O, C/groups, *kernel)
    "conv1d": Case(lambda x, w, b: F(x).conv1d(x, w, b), ref_conv, [(2, 3, 9), (4, 3, 3), (4,)]),
    "conv1d_stride_padding_dilation": Case(lambda x, w: F(x).conv1d(x, w, stride=2, padding=2, dilation=2),
                                           lambda x, w: ref_conv(x, w, None, 2, 2, 2), [(2, 2, 11), (3, 2, 3)]),
    "conv1d_groups_same": Case(lambda x, w, b: F(x).conv1d(x, w, b, padding="same", groups=2),
                               lambda x, w, b: ref_conv(x, w, b, 1, (1,), 1, 2), [(1, 4, 7), (6, 2, 3), (6,)]),
    "conv1d_same_even_kernel": Case(lambda x, w: F(x).conv1d(x, w, padding="same"),  # the extra pad at the end
                                    lambda x, w: ref_conv(np.pad(x, ((0, 0), (0, 0), (0, 1))), w),
                                    [(2, 2, 6), (3, 2, 2)]),
    "conv1d_unbatched": Case(lambda x, w: F(x).conv1d(x, w, padding=1),
                             lambda x, w: ref_conv(x[None], w, None, 1, 1)[0], [(3, 8), (2, 3, 3)]),
    "conv2d_groups_stride": Case(lambda x, w, b: F(x).conv2d(x, w, b, stride=(2, 1), padding=(1, 0), groups=2),
                                 lambda x, w, b: ref_conv(x, w, b, (2, 1), (1, 0), 1, 2),
                                 [(2, 4, 6, 5), (4, 2, 3, 2), (4,)]),
    "conv3d": Case(lambda x, w, b: F(x).conv3d(x, w, b), ref_conv, [(2, 2, 4, 3, 4), (3, 2, 2, 2, 3), (3,)]),
    "conv3d_stride_padding_dilation_groups": Case(
        lambda x, w: F(x).conv3d(x, w, stride=(1, 2, 2), padding=(1, 0, 1), dilation=(2, 1, 1), groups=2),
        lambda x, w: ref_conv(x, w, None, (1, 2, 2), (1, 0, 1), (2, 1, 1), 2), [(1, 4, 4, 4, 5), (2, 2, 2, 2, 2)]),
    "conv3d_unbatched": Case(lambda x, w: F(x).conv3d(x, w, padding=1),
                             lambda x, w: ref_conv(x[None], w, None, 1, 1)[0], [(2, 3, 3, 3), (2, 2, 2, 2, 2)]),
    # transposed convolutions: weights (C_in, C_out/groups, *kernel)
    "conv_transpose1d": Case(lambda x, w, b: F(x).conv_transpose1d(x, w, b), ref_conv_transpose,
                             [(2, 3, 5), (3, 2, 3), (2,)]),
    "conv_transpose1d_stride_padding_output_padding": Case(
        lambda x, w: F(x).conv_transpose1d(x, w, stride=3, padding=1, output_padding=2),
        lambda x, w: ref_conv_transpose(x, w, None, 3, 1, 2), [(2, 2, 4), (2, 3, 3)]),
    "conv_transpose1d_groups_dilation": Case(
        lambda x, w, b: F(x).conv_transpose1d(x, w, b, groups=2, dilation=2, output_padding=1),
        lambda x, w, b: ref_conv_transpose(x, w, b, 1, 0, 1, 2, 2), [(1, 4, 4), (4, 1, 3), (2,)]),
    "conv_transpose2d_everything": Case(
        lambda x, w, b: F(x).conv_transpose2d(x, w, b, stride=(2, 1), padding=(1, 0), output_padding=(1, 0),
                                              groups=2, dilation=(1, 2)),
        lambda x, w, b: ref_conv_transpose(x, w, b, (2, 1), (1, 0), (1, 0), 2, (1, 2)),
        [(2, 4, 3, 3), (4, 1, 3, 2), (2,)]),
    "conv_transpose3d": Case(lambda x, w, b: F(x).conv_transpose3d(x, w, b, stride=2, padding=(0, 1, 0),
                                                                   output_padding=(1, 0, 0)),
                             lambda x, w, b: ref_conv_transpose(x, w, b, 2, (0, 1, 0), (1, 0, 0)),
                             [(1, 2, 2, 3, 2), (2, 2, 2, 3, 2), (2,)]),
    # pooling: 1-d and 3-d here; 2-d has its own file (test_pooling.py) and is in the second-derivative list
    "max_pool1d": Case(lambda x: F(x).max_pool1d(x, 3, 2, 1), lambda x: ref_max_pool(x, (3,), (2,), 1), [(2, 3, 9)]),
    "max_pool1d_dilation_ceil": Case(lambda x: F(x).max_pool1d(x, 2, 2, 1, dilation=2, ceil_mode=True),
                                     lambda x: ref_max_pool(x, (2,), (2,), 1, 2, True), [(2, 2, 8)]),
    "max_pool2d": Case(lambda x: F(x).max_pool2d(x, 3, 2, 1), lambda x: ref_max_pool(x, (3, 3), (2, 2), 1),
                       [(2, 2, 6, 5)]),
    "max_pool3d": Case(lambda x: F(x).max_pool3d(x, (2, 2, 3), (1, 2, 2), (1, 0, 1)),
                       lambda x: ref_max_pool(x, (2, 2, 3), (1, 2, 2), (1, 0, 1)), [(1, 2, 3, 4, 5)]),
    "max_pool3d_unbatched_ceil": Case(lambda x: F(x).max_pool3d(x, 2, ceil_mode=True),
                                      lambda x: ref_max_pool(x, (2, 2, 2), ceil_mode=True), [(2, 3, 5, 3)]),
    "avg_pool1d": Case(lambda x: F(x).avg_pool1d(x, 3, 2, 1), lambda x: ref_avg_pool(x, (3,), (2,), 1), [(2, 3, 9)]),
    "avg_pool1d_ceil_exclude_pad": Case(lambda x: F(x).avg_pool1d(x, 3, 2, 1, ceil_mode=True, count_include_pad=False),
                                        lambda x: ref_avg_pool(x, (3,), (2,), 1, True, False), [(2, 2, 8)]),
    "avg_pool2d": Case(lambda x: F(x).avg_pool2d(x, 3, 2, 1, count_include_pad=False),
                       lambda x: ref_avg_pool(x, (3, 3), (2, 2), 1, count_include_pad=False), [(2, 2, 6, 5)]),
    "avg_pool3d": Case(lambda x: F(x).avg_pool3d(x, (2, 3, 2), (2, 1, 2), (1, 1, 0), ceil_mode=True),
                       lambda x: ref_avg_pool(x, (2, 3, 2), (2, 1, 2), (1, 1, 0), True), [(1, 2, 3, 4, 5)]),
    "avg_pool3d_divisor_override": Case(lambda x: F(x).avg_pool3d(x, 2, divisor_override=3),
                                        lambda x: ref_avg_pool(x, (2, 2, 2), divisor_override=3), [(1, 2, 4, 2, 4)]),
    "adaptive_avg_pool1d": Case(lambda x: F(x).adaptive_avg_pool1d(x, 4),
                                lambda x: ref_adaptive(x, (4,), np.mean), [(2, 3, 7)]),
    "adaptive_avg_pool1d_divisible": Case(lambda x: F(x).adaptive_avg_pool1d(x, 3),
                                          lambda x: ref_adaptive(x, (3,), np.mean), [(2, 3, 9)]),
    "adaptive_avg_pool2d": Case(lambda x: F(x).adaptive_avg_pool2d(x, (3, 2)),
                                lambda x: ref_adaptive(x, (3, 2), np.mean), [(2, 2, 5, 7)]),
    "adaptive_avg_pool3d": Case(lambda x: F(x).adaptive_avg_pool3d(x, (2, 3, 2)),
                                lambda x: ref_adaptive(x, (2, 3, 2), np.mean), [(1, 2, 3, 5, 4)]),
    "adaptive_max_pool1d": Case(lambda x: F(x).adaptive_max_pool1d(x, 4),
                                lambda x: ref_adaptive(x, (4,), np.max), [(2, 3, 7)]),
    "adaptive_max_pool2d": Case(lambda x: F(x).adaptive_max_pool2d(x, (3, 2)),
                                lambda x: ref_adaptive(x, (3, 2), np.max), [(2, 2, 5, 7)]),
    "adaptive_max_pool3d_unbatched": Case(lambda x: F(x).adaptive_max_pool3d(x, (2, 3, 2)),
                                          lambda x: ref_adaptive(x, (2, 3, 2), np.max), [(2, 3, 5, 4)]),
    # im2col and col2im, pixel shuffling
    "unfold": Case(lambda x: F(x).unfold(x, (2, 3), dilation=(2, 1), padding=1, stride=(1, 2)),
                   lambda x: ref_unfold(x, (2, 3), (2, 1), 1, (1, 2)), [(2, 3, 5, 6)]),
    "unfold_unbatched": Case(lambda x: F(x).unfold(x, 2), lambda x: ref_unfold(x[None], 2)[0], [(2, 3, 4)]),
    "fold": Case(lambda y: F(y).fold(y, (4, 5), (2, 3), stride=(2, 1)),
                 lambda y: ref_fold(y, (4, 5), (2, 3), stride=(2, 1)), [(2, 12, 6)]),
    "fold_dilation_padding_unbatched": Case(lambda y: F(y).fold(y, (3, 4), 2, dilation=2, padding=1),
                                            lambda y: ref_fold(y[None], (3, 4), 2, 2, 1)[0], [(8, 12)]),
    "pixel_shuffle": Case(lambda x: F(x).pixel_shuffle(x, 2), lambda x: ref_pixel_shuffle(x, 2), [(2, 8, 3, 2)]),
    "pixel_shuffle_extra_dims": Case(lambda x: F(x).pixel_shuffle(x, 3), lambda x: ref_pixel_shuffle(x, 3),
                                     [(2, 1, 9, 2, 2)]),
    "pixel_unshuffle": Case(lambda x: F(x).pixel_unshuffle(x, 2), lambda x: ref_pixel_unshuffle(x, 2),
                            [(2, 2, 4, 6)]),
    # unpooling: the values written at fixed indices (shared by the two libraries' tensors)
    "max_unpool1d": Case(lambda x: F(x).max_unpool1d(x, lib(x).tensor(UNPOOL_1D), 2),
                         lambda x: ref_unpool(x, UNPOOL_1D, (8,)), [(2, 3, 4)]),
    "max_unpool2d_output_size": Case(lambda x: F(x).max_unpool2d(x, lib(x).tensor(UNPOOL_2D), 2, output_size=(5, 5)),
                                     lambda x: ref_unpool(x, UNPOOL_2D, (5, 5)), [(2, 1, 2, 2)]),
    "max_unpool3d": Case(lambda x: F(x).max_unpool3d(x, lib(x).tensor(UNPOOL_3D), 2),
                         lambda x: ref_unpool(x, UNPOOL_3D, (2, 4, 2)), [(1, 2, 1, 2, 1)]),
}

# padding with negative amounts (cropping) in every mode, over 1, 2 and 3 trailing dims
PADS = {1: ((3, 8), (-2, 3)), 2: ((2, 3, 4, 5), (2, -1, -1, 3)), 3: ((1, 2, 3, 4, 5), (-1, 2, 1, -2, 2, 0))}
for _mode in ("constant", "reflect", "replicate", "circular"):
    for _dims, (_shape, _amounts) in PADS.items():
        CASES[f"pad_{_mode}_{_dims}d"] = Case(
            lambda x, mode=_mode, amounts=_amounts: F(x).pad(x, amounts, mode),
            lambda x, mode=_mode, amounts=_amounts: ref_pad(x, amounts, mode), [_shape])
CASES["pad_constant_value"] = Case(lambda x: F(x).pad(x, (1, -2, 0, 2), value=1.5),
                                   lambda x: ref_pad(x, (1, -2, 0, 2), "constant", 1.5), [(2, 4, 5)])


# --- the table's checks -----------------------------------------------------------------------

@pytest.mark.parametrize("name", CASES)
def test_forward_matches_the_definition(name, rng):
    case = CASES[name]
    assert_forward(case.fn, case.ref, case_arrays(rng, case))


@pytest.mark.parametrize("layout", LAYOUTS)
@pytest.mark.parametrize("name", CASES)
def test_gradcheck(name, layout, rng):
    case = CASES[name]
    check(case.fn, case_arrays(rng, case, layout))


@pytest.mark.parametrize("name", CASES)
def test_second_derivative(name, rng):
    case = CASES[name]
    check_second(case.fn, case_arrays(rng, case), rng)


def test_a_plain_backward_records_no_graph(rng):
    """The backward functions are differentiable ops, but without create_graph they record nothing."""
    x = nnkit.tensor(rng.standard_normal((2, 3, 6, 6)), requires_grad=True)
    w = nnkit.tensor(rng.standard_normal((4, 3, 3, 3)), requires_grad=True)
    NF.avg_pool2d(NF.max_pool2d(NF.conv2d(x, w, padding=1), 2), 2).sum().backward()
    for t in (x, w):
        assert t.grad is not None and t.grad.grad_fn is None and not t.grad.requires_grad


# --- max pooling: indices, integers, unpooling ----------------------------------------------------

@pytest.mark.parametrize("dims, shape, options", [
    (1, (2, 3, 9), {"kernel_size": 3, "stride": 2, "padding": 1, "dilation": 2}),
    (1, (3, 7), {"kernel_size": 2, "ceil_mode": True}),
    (3, (1, 2, 4, 5, 3), {"kernel_size": (2, 3, 2), "stride": (2, 1, 1), "padding": (1, 1, 0)}),
    (3, (2, 5, 4, 4), {"kernel_size": 2, "dilation": (1, 2, 1), "ceil_mode": True}),
])
def test_max_pool_indices_point_at_the_maxima(dims, shape, options, rng):
    x = rng.permutation(math.prod(shape)).reshape(shape) / 10.0  # distinct values
    out, idx = getattr(NF, f"max_pool{dims}d")(nnkit.tensor(x), return_indices=True, **options)
    assert idx.dtype == nnkit.int64 and idx.shape == out.shape
    planes = x.reshape(x.shape[:-dims] + (-1,))
    lead = planes.shape[:-1]
    np.testing.assert_array_equal(np.take_along_axis(planes, idx.numpy().reshape(lead + (-1,)), -1),
                                  out.numpy().reshape(lead + (-1,)))


def test_max_pool_gradient_goes_to_the_first_of_tied_maxima():
    x = nnkit.ones(1, 1, 2, 2, 2, dtype=nnkit.float64, requires_grad=True)
    out, idx = NF.max_pool3d(x, 2, return_indices=True)
    out.sum().backward()
    assert idx.item() == 0 and x.grad.numpy().ravel().tolist() == [1.0] + [0.0] * 7


@pytest.mark.parametrize("dtype", ["int64", "int32", "int16", "int8", "uint8"])
def test_max_pool_takes_integers_and_keeps_their_dtype(dtype):
    x = np.array([[[[-7, 3, -2], [5, -9, 1], [0, -4, -3]]]]).astype(dtype) if dtype != "uint8" else \
        np.array([[[[7, 3, 2], [5, 9, 1], [0, 4, 3]]]], dtype=dtype)
    out = NF.max_pool2d(nnkit.tensor(x), 2, stride=1, padding=1)
    assert out.dtype == x.dtype
    expected = ref_max_pool(x.astype(np.float64), (2, 2), (1, 1), 1)  # the padding never wins, even for ints
    np.testing.assert_array_equal(out.numpy(), expected.astype(dtype))
    assert NF.max_pool1d(nnkit.tensor(x[0, 0]), 3).dtype == x.dtype


def test_integer_average_pooling_truncates_toward_zero_as_pytorch():
    x = nnkit.tensor([[[-3, -2, 5, 2, -7, 0]]])
    assert NF.avg_pool1d(x, 2).tolist() == [[[-2, 3, -3]]]
    assert NF.avg_pool1d(x, 3, 1, 1).tolist() == [[[-1, 0, 1, 0, -1, -2]]]
    with pytest.raises(NotImplementedError, match=r"avg_pool1d: not implemented for (nnkit\.)?int32"):
        NF.avg_pool1d(x.int(), 2)
    with pytest.raises(NotImplementedError, match=r"max_pool2d: not implemented for (nnkit\.)?bool"):
        NF.max_pool2d(nnkit.zeros(1, 1, 2, 2, dtype=nnkit.bool), 2)
    with pytest.raises(NotImplementedError, match="adaptive_max_pool1d"):
        NF.adaptive_max_pool1d(x, 2)


@pytest.mark.parametrize("dims", [1, 2, 3])
def test_max_unpool_puts_each_max_back_in_its_place(dims, rng):
    shape = (2, 3) + (4,) * dims
    x = nnkit.tensor(rng.permutation(math.prod(shape)).reshape(shape) / 10.0)
    out, idx = getattr(NF, f"max_pool{dims}d")(x, 2, return_indices=True)
    back = getattr(NF, f"max_unpool{dims}d")(out, idx, 2)
    is_max = np.zeros(x.shape, bool).reshape(6, -1)
    np.put_along_axis(is_max, idx.numpy().reshape(6, -1), True, -1)
    is_max = is_max.reshape(x.shape)
    np.testing.assert_array_equal(back.numpy(), np.where(is_max, x.numpy(), 0.0))
    assert getattr(nn, f"MaxUnpool{dims}d")(2)(out, idx).shape == x.shape


def test_max_unpool_output_size_and_errors():
    out, idx = NF.max_pool2d(nnkit.randn(1, 1, 4, 4), 2, return_indices=True)
    assert NF.max_unpool2d(out, idx, 2).shape == (1, 1, 4, 4)
    out, idx = NF.max_pool2d(nnkit.randn(1, 1, 5, 5), 2, return_indices=True)  # flat indices in a 5 x 5 plane
    assert NF.max_unpool2d(out, idx, 2, output_size=(5, 5)).shape == (1, 1, 5, 5)
    assert NF.max_unpool2d(out, idx, 2, output_size=(1, 1, 5, 5)).shape == (1, 1, 5, 5)
    with pytest.raises(ValueError, match=r'invalid output_size "\(6, 6\)" \(dim 0 must be between 2 and 6\)'):
        NF.max_unpool2d(out, idx, 2, output_size=(6, 6))
    with pytest.raises(RuntimeError, match="invalid max index 99"):
        NF.max_unpool2d(out, nnkit.full((1, 1, 2, 2), 99), 2)
    with pytest.raises(RuntimeError, match="int64"):
        NF.max_unpool2d(out, idx.int(), 2)
    with pytest.raises(RuntimeError, match="indices of the input's shape"):
        NF.max_unpool2d(out, idx[..., :1], 2)


@pytest.mark.parametrize("dims, size, output_size", [(1, (7,), 3), (2, (5, 7), (2, None)), (3, (3, 5, 4), 2)])
def test_adaptive_max_pool_indices(dims, size, output_size, rng):
    x = rng.permutation(2 * math.prod(size)).reshape((2,) + size) / 10.0  # unbatched
    out, idx = getattr(NF, f"adaptive_max_pool{dims}d")(nnkit.tensor(x), output_size, return_indices=True)
    planes = x.reshape(2, -1)
    np.testing.assert_array_equal(np.take_along_axis(planes, idx.numpy().reshape(2, -1), -1),
                                  out.numpy().reshape(2, -1))
    sizes = (output_size,) * dims if isinstance(output_size, int) else output_size
    np.testing.assert_array_equal(out.numpy(), ref_adaptive(x, [s or n for s, n in zip(sizes, size)], np.max))


# --- padding, unfold and fold ---------------------------------------------------------------------

def test_pad_crops_with_negative_amounts_in_every_mode():
    row = nnkit.arange(6.0).reshape(1, 1, 6)
    expected = {"constant": [4.0, 5.0, 0.0, 0.0, 0.0], "reflect": [4.0, 5.0, 4.0, 3.0, 2.0],
                "replicate": [4.0, 5.0, 5.0, 5.0, 5.0]}
    for mode, values in expected.items():  # pad first, then crop
        assert NF.pad(row, (-4, 3), mode).tolist() == [[values]]
    # circular crops first, then wraps around what is left
    assert NF.pad(row, (2, -1), "circular").tolist() == [[[3.0, 4.0, 0.0, 1.0, 2.0, 3.0, 4.0]]]
    assert NF.pad(row, (-2, 4), "circular").tolist() == [[[2.0, 3.0, 4.0, 5.0, 2.0, 3.0, 4.0, 5.0]]]
    with pytest.raises(RuntimeError, match="wraps around more than once"):
        NF.pad(row, (-4, 3), "circular")
    with pytest.raises(RuntimeError, match="reflect padding"):
        NF.pad(row, (6, -6), "reflect")
    with pytest.raises(RuntimeError, match="too small"):
        NF.pad(row, (-7, 1), "replicate")
    with pytest.raises(RuntimeError, match="too small"):
        NF.pad(row, (-7, 1))


def test_pad_copying_modes_take_the_dims_pytorch_takes():
    assert NF.pad(nnkit.zeros(2, 5), (1, 1), "reflect").shape == (2, 7)
    assert NF.pad(nnkit.zeros(1, 2, 3, 4, 5), (1, 1, 1, 1, 1, 1), "circular").shape == (1, 2, 5, 6, 7)
    for shape, amounts in (((5,), (1, 1)), ((2, 3, 4, 5), (1, 1)), ((3, 4), (1, 1, 1, 1)),
                           ((1, 1, 2, 3, 4, 5), (1, 1, 1, 1, 1, 1))):
        with pytest.raises(NotImplementedError, match=f"padding size {len(amounts)} is not supported"):
            NF.pad(nnkit.zeros(*shape), amounts, "replicate")
    assert NF.pad(nnkit.zeros(3, 4), (1, 1, 1, 1, 1, 1, 1, 1)[:4]).shape == (5, 6)  # constant: any dims
    with pytest.raises(RuntimeError, match="divisible by 2"):
        NF.pad(nnkit.zeros(3, 4), (1,))
    with pytest.raises(RuntimeError, match="doesn't take in value"):
        NF.pad(nnkit.zeros(1, 3, 4), (1, 1), "reflect", value=2.0)


def test_fold_is_the_adjoint_of_unfold(rng):
    """<unfold(x), y> = <x, fold(y)>: col2im undoes im2col's layout and adds the overlaps."""
    options = {"kernel_size": (3, 2), "dilation": (1, 2), "padding": (1, 0), "stride": (2, 1)}
    x = rng.standard_normal((2, 3, 7, 6))
    cols = NF.unfold(nnkit.tensor(x), **options)
    y = rng.standard_normal(cols.shape)
    back = NF.fold(nnkit.tensor(y), (7, 6), **options)
    assert math.isclose((cols.numpy() * y).sum(), (x * back.numpy()).sum(), rel_tol=1e-12)
    weight = rng.standard_normal((4, 3, 3, 2))  # conv2d is a matrix product with unfold's columns
    conv = NF.conv2d(nnkit.tensor(x), nnkit.tensor(weight), stride=(2, 1), padding=(1, 0), dilation=(1, 2))
    np.testing.assert_allclose((weight.reshape(4, -1) @ cols.numpy()).reshape(conv.shape), conv.numpy(), atol=1e-12)


def test_fold_unfold_and_pixel_shuffle_errors():
    with pytest.raises(RuntimeError, match="3-D .* or 4-D"):
        NF.unfold(nnkit.zeros(1, 2, 3, 4, 5), 2)
    with pytest.raises(RuntimeError, match="must be at least one"):
        NF.unfold(nnkit.zeros(1, 2, 3, 3), 4)
    with pytest.raises(RuntimeError, match=r"number of sliding blocks 3 \* 4 = 12 .* got 11"):
        NF.fold(nnkit.zeros(1, 8, 11), (4, 5), 2)
    with pytest.raises(RuntimeError, match="divisible by the product of kernel_size"):
        NF.fold(nnkit.zeros(1, 7, 12), (4, 5), 2)
    with pytest.raises(RuntimeError, match="divisible by upscale_factor² = 4"):
        NF.pixel_shuffle(nnkit.zeros(1, 3, 4, 5), 2)
    with pytest.raises(RuntimeError, match="divisible by downscale_factor 2"):
        NF.pixel_unshuffle(nnkit.zeros(1, 2, 5, 6), 2)
    with pytest.raises(RuntimeError, match="at least 3 dims"):
        NF.pixel_shuffle(nnkit.zeros(4, 4), 2)
    x = nnkit.randn(2, 3, 4, 6)
    assert nn.PixelUnshuffle(2)(x).shape == (2, 12, 2, 3)
    np.testing.assert_array_equal(nn.PixelShuffle(2)(nn.PixelUnshuffle(2)(x)).numpy(), x.numpy())
    assert nn.Fold((4, 6), 2, stride=2)(nn.Unfold(2, stride=2)(x)).tolist() == x.tolist()


# --- convolutions: layers and errors ----------------------------------------------------------------

@pytest.mark.parametrize("layer, weight_shape", [
    (lambda: nn.Conv1d(4, 6, 3, groups=2), (6, 2, 3)),
    (lambda: nn.Conv3d(2, 4, (1, 2, 3)), (4, 2, 1, 2, 3)),
    (lambda: nn.ConvTranspose1d(4, 6, 3, groups=2), (4, 3, 3)),
    (lambda: nn.ConvTranspose3d(2, 4, 2), (2, 4, 2, 2, 2)),
])
def test_conv_layers_have_pytorchs_parameters_and_init(layer, weight_shape):
    nnkit.manual_seed(0)
    module = layer()
    assert list(module.state_dict()) == ["weight", "bias"]
    assert module.weight.shape == weight_shape and module.bias.shape == (module.out_channels,)
    bound = 1 / math.sqrt(math.prod(weight_shape[1:]))  # U(−1/√fan_in, 1/√fan_in), fan_in = weight.shape[1]·Πk
    for p in (module.weight, module.bias):
        values = p.detach().numpy()
        assert np.abs(values).max() <= bound and np.abs(values).max() > 0.5 * bound


def test_conv_layer_reprs_are_pytorchs():
    assert repr(nn.Conv1d(2, 4, 3)) == "Conv1d(2, 4, kernel_size=(3,), stride=(1,))"
    assert repr(nn.Conv1d(2, 4, 3, padding="same", padding_mode="reflect", bias=False)) == (
        "Conv1d(2, 4, kernel_size=(3,), stride=(1,), padding=same, bias=False, padding_mode=reflect)")
    assert repr(nn.Conv3d(2, 4, (1, 2, 3), stride=2, padding=1, dilation=2, groups=2)) == (
        "Conv3d(2, 4, kernel_size=(1, 2, 3), stride=(2, 2, 2), padding=(1, 1, 1), dilation=(2, 2, 2), groups=2)")
    assert repr(nn.ConvTranspose3d(2, 4, 3, stride=2, output_padding=1)) == (
        "ConvTranspose3d(2, 4, kernel_size=(3, 3, 3), stride=(2, 2, 2), output_padding=(1, 1, 1))")
    assert repr(nn.AvgPool1d(2)) == "AvgPool1d(kernel_size=(2,), stride=(2,), padding=(0,))"
    assert repr(nn.MaxUnpool2d(2, 1, 1)) == "MaxUnpool2d(kernel_size=(2, 2), stride=(1, 1), padding=(1, 1))"


@pytest.mark.parametrize("mode, numpy_mode", [("reflect", "reflect"), ("replicate", "edge"), ("circular", "wrap")])
@pytest.mark.parametrize("dims", [1, 3])
def test_conv_padding_modes_pad_then_convolve(mode, numpy_mode, dims, rng):
    layer = getattr(nn, f"Conv{dims}d")(2, 3, 3, padding=(1,) * (dims - 1) + (2,), padding_mode=mode).double()
    x = rng.standard_normal((2, 2) + (4,) * dims)
    padded = np.pad(x, ((0, 0), (0, 0)) + ((1, 1),) * (dims - 1) + ((2, 2),), mode=numpy_mode)
    expected = ref_conv(padded, layer.weight.detach().numpy(), layer.bias.detach().numpy())
    np.testing.assert_allclose(layer(nnkit.tensor(x)).detach().numpy(), expected, atol=1e-12)


def test_conv_transpose_layers_output_size(rng):
    layer = nn.ConvTranspose1d(3, 2, 3, stride=3, padding=1)
    x = nnkit.randn(2, 3, 5)
    assert layer(x).shape == (2, 2, 13)  # (5 − 1)·3 − 2 + 3
    assert layer(x, output_size=(15,)).shape == (2, 2, 15)
    assert layer(x, output_size=(2, 2, 14)).shape == (2, 2, 14)
    with pytest.raises(ValueError, match=r"valid sizes range from \(13,\) to \(15,\)"):
        layer(x, output_size=(16,))
    assert nn.ConvTranspose3d(2, 1, 2, stride=2)(nnkit.randn(2, 3, 3, 3), output_size=(7, 6, 7)).shape == (1, 7, 6, 7)


def test_conv_errors():
    with pytest.raises(RuntimeError, match=r"conv1d: expected a 2-D \(unbatched\) or 3-D \(batched\) input"):
        NF.conv1d(nnkit.zeros(1, 3, 5, 5), nnkit.zeros(4, 3, 3))
    with pytest.raises(RuntimeError, match="conv3d: expected a 5-D weight"):
        NF.conv3d(nnkit.zeros(1, 3, 4, 4, 4), nnkit.zeros(4, 3, 3, 3))
    with pytest.raises(RuntimeError, match="stride must be positive"):
        NF.conv1d(nnkit.zeros(1, 3, 5), nnkit.zeros(4, 3, 3), stride=0)
    with pytest.raises(RuntimeError, match="negative padding"):
        NF.conv3d(nnkit.zeros(1, 3, 4, 4, 4), nnkit.zeros(4, 3, 3, 3, 3), padding=-1)
    with pytest.raises(RuntimeError, match="stride must be an int or a tuple of 1 ints"):
        NF.conv1d(nnkit.zeros(1, 3, 5), nnkit.zeros(4, 3, 3), stride=(1, 1))
    with pytest.raises(RuntimeError, match="non-positive groups"):
        NF.conv1d(nnkit.zeros(1, 3, 5), nnkit.zeros(4, 3, 3), groups=0)
    with pytest.raises(RuntimeError, match="output_padding"):
        NF.conv_transpose1d(nnkit.zeros(1, 3, 2), nnkit.zeros(3, 1, 3), stride=2, output_padding=2)
    with pytest.raises(RuntimeError, match="not positive"):
        NF.conv_transpose3d(nnkit.zeros(1, 3, 1, 1, 1), nnkit.zeros(3, 1, 1, 1, 1), padding=1)
    with pytest.raises(ValueError, match="not supported for strided"):
        nn.Conv1d(3, 4, 3, stride=2, padding="same")
    with pytest.raises(ValueError, match='Only "zeros" padding mode is supported for ConvTranspose1d'):
        nn.ConvTranspose1d(3, 4, 3, padding_mode="reflect")
    with pytest.raises(RuntimeError, match="max_pool1d: padding .* at most half"):
        NF.max_pool1d(nnkit.zeros(1, 1, 9), 2, padding=2, dilation=3)


@pytest.mark.parametrize("name", ["pixelshuffle", "functional.vision"])  # the other files' run in test_nn_module
def test_docstring_examples_run(name):
    result = doctest.testmod(importlib.import_module(f"nnkit.nn.{name}"), verbose=False)
    assert result.failed == 0 and result.attempted > 0
