"""Resizing (chapter 10): ``interpolate``, as in PyTorch (the ``Upsample`` layers are in
:mod:`nnkit.nn.upsampling`).

Every mode here is *separable* and *linear*: resizing one spatial axis from ``n``
to ``m`` samples multiplies that axis by a fixed (m, n) matrix ``A`` whose row
``i`` holds the weights with which output sample ``i`` mixes the inputs (one 1
for nearest, two weights for linear, four for cubic, a window of 1/k for area).
An (N, C, H, W) image is resized by ``A_H · x · A_Wᵀ``. So the op's backward is
the same op with the transposed matrices: each output's gradient flows back to
the input samples it read, with the weights it read them with. That backward is
itself this op, so gradients of any order work.

The matrices are dense, which costs O(n·m) per image line rather than the
O(m · taps) of a gather, but it is one BLAS product per axis on NumPy or CuPy
alike; ``benchmarks/bench_upsampling.py`` times it against PyTorch up to
256x256 images.
"""

from __future__ import annotations

import math
from typing import Sequence

import numpy

from ... import backend
from ...ops.base import _make
from ...tensor import Tensor
from .pooling import _averaging_matrix

__all__ = ["interpolate"]


_MODES = {"nearest": None, "nearest-exact": None, "area": None,
          "linear": 1, "bilinear": 2, "bicubic": 2, "trilinear": 3}  # interpolating mode -> spatial dims


_CUBIC_A = -0.75  # PyTorch's (and OpenCV's) cubic convolution constant


def _source(dst: numpy.ndarray, n: int, m: int, scale: float | None, align_corners: bool) -> numpy.ndarray:
    """Where output samples ``dst`` (of ``m``) sit on the input axis (of ``n``), in input samples.

    With ``align_corners`` the first and last samples of both axes coincide: x = i·(n − 1)/(m − 1).
    Without it samples are pixel centres: x = (i + ½)·s − ½, where s = 1/scale_factor when one was
    given, else n/m.
    """
    if align_corners:
        return dst * ((n - 1) / (m - 1) if m > 1 else 0.0)
    step = 1.0 / scale if scale is not None and scale > 0 else n / m
    return (dst + 0.5) * step - 0.5


def _matrix(mode: str, n: int, m: int, scale: float | None, align_corners: bool) -> numpy.ndarray:
    """The (m, n) float64 matrix that resizes one axis from n to m samples in ``mode`` (not 'area')."""
    a = numpy.zeros((m, n))
    dst, rows = numpy.arange(m, dtype=numpy.float64), numpy.arange(m)
    if mode in ("nearest", "nearest-exact"):
        # PyTorch computes the nearest index in float32; so do we, to pick the same pixel on ties.
        step = numpy.float32(1.0 / scale if scale is not None and scale > 0 else n / m)
        offset = numpy.float32(0.5 if mode == "nearest-exact" else 0.0)
        src = numpy.floor((dst.astype(numpy.float32) + offset) * step).astype(numpy.int64)
        a[rows, numpy.minimum(src, n - 1)] = 1.0
    elif mode == "bicubic":
        x = _source(dst, n, m, scale, align_corners)
        i = numpy.floor(x)
        t = x - i
        # Keys' cubic convolution kernel at distances 1 + t, t, 1 − t and 2 − t from the four taps.
        w1 = lambda d: ((_CUBIC_A + 2) * d - (_CUBIC_A + 3)) * d * d + 1  # noqa: E731  |d| <= 1
        w2 = lambda d: ((_CUBIC_A * d - 5 * _CUBIC_A) * d + 8 * _CUBIC_A) * d - 4 * _CUBIC_A  # noqa: E731  1 < |d| < 2
        for k, w in zip((-1, 0, 1, 2), (w2(t + 1), w1(t), w1(1 - t), w2(2 - t))):
            numpy.add.at(a, (rows, numpy.clip(i + k, 0, n - 1).astype(numpy.int64)), w)  # edges repeat
    else:  # linear along this axis
        x = numpy.maximum(_source(dst, n, m, scale, align_corners), 0.0)
        i = numpy.minimum(numpy.floor(x).astype(numpy.int64), n - 1)
        t = numpy.clip(x - i, 0.0, 1.0)
        numpy.add.at(a, (rows, i), 1.0 - t)
        numpy.add.at(a, (rows, numpy.minimum(i + 1, n - 1)), t)
    return a


def _resample(input: Tensor, matrices: tuple) -> Tensor:
    """Multiply each of the last ``len(matrices)`` axes of ``input`` by its (m, n) matrix; the
    gradient is the same product with the transposed matrices."""
    a = input.array
    for axis, mat in enumerate(matrices, start=a.ndim - len(matrices)):
        if axis == a.ndim - 1:
            a = a @ mat.T
        else:  # (lead, n, trail) -> (lead, m, trail)
            lead, trail = a.shape[:axis], a.shape[axis + 1:]
            a = (mat @ a.reshape((-1, a.shape[axis], math.prod(trail)))).reshape(lead + (mat.shape[0],) + trail)

    def backward(g):
        return (_resample(g, tuple(mat.T for mat in matrices)),)
    return _make(a, (input,), backward, "Interpolate")


def _per_axis(value, dims: int, name: str) -> tuple:
    if isinstance(value, (list, tuple)):
        if len(value) != dims:
            raise ValueError(f"interpolate: {name} {tuple(value)} has {len(value)} entries but the input has "
                             f"{dims} spatial dimension{'s' * (dims != 1)}")
        return tuple(value)
    return (value,) * dims


def interpolate(input: Tensor, size: int | Sequence[int] | None = None,
                scale_factor: float | Sequence[float] | None = None, mode: str = "nearest",
                align_corners: bool | None = None, recompute_scale_factor: bool | None = None,
                antialias: bool = False) -> Tensor:
    """Resize the spatial dims of an (N, C, L), (N, C, H, W) or (N, C, D, H, W) input to ``size``, or
    by ``scale_factor`` (output size floor(n·scale)), as ``torch.nn.functional.interpolate``.

    Modes: ``'nearest'`` (input sample floor(i·n/m)), ``'nearest-exact'`` (floor((i + ½)·n/m)),
    ``'linear'`` (3-D), ``'bilinear'`` and ``'bicubic'`` (4-D; cubic convolution with a = −0.75,
    edges repeated), ``'trilinear'`` (5-D), and ``'area'`` (adaptive average pooling). For the
    interpolating modes ``align_corners=True`` puts input and output corner samples on each other;
    the default (False) aligns pixel centres, as ``torch`` does. A given ``scale_factor`` also sets
    the sampling step (1/scale) unless ``recompute_scale_factor=True``, which uses n/m instead.

    >>> import nnkit
    >>> interpolate(nnkit.tensor([[[1.0, 2.0]]]), scale_factor=2).tolist()
    [[[1.0, 1.0, 2.0, 2.0]]]
    >>> interpolate(nnkit.tensor([[[1.0, 2.0]]]), size=3, mode="linear", align_corners=True).tolist()
    [[[1.0, 1.5, 2.0]]]
    """
    if not isinstance(input, Tensor):
        raise TypeError(f"interpolate: expected a Tensor input, got {type(input).__name__}")
    if mode not in _MODES:
        raise NotImplementedError(f"interpolate: mode {mode!r} is not supported; use one of "
                                  f"{', '.join(repr(m) for m in _MODES)}")
    if input.ndim not in (3, 4, 5):
        raise ValueError(f"interpolate: expected a 3-D, 4-D or 5-D input (N, C, *spatial), got shape "
                         f"{tuple(input.shape)}")
    dims = input.ndim - 2
    if _MODES[mode] is not None and _MODES[mode] != dims:
        raise NotImplementedError(f"interpolate: got {input.ndim}D input, but {mode} mode needs "
                                  f"{_MODES[mode] + 2}D input")
    if _MODES[mode] is None and align_corners is not None:
        raise ValueError("interpolate: align_corners option can only be set with the interpolating modes: "
                         "linear | bilinear | bicubic | trilinear")
    if antialias:
        raise NotImplementedError("interpolate: antialias=True is not supported")
    if input.dtype.kind != "f":
        raise TypeError(f"interpolate: expected a floating-point input, got {input.dtype}")
    if (size is None) == (scale_factor is None):
        raise ValueError("interpolate: only one of size or scale_factor should be defined" if size is not None
                         else "interpolate: either size or scale_factor should be defined")
    in_sizes = tuple(input.shape[2:])
    if size is not None:
        out_sizes, scales = tuple(int(s) for s in _per_axis(size, dims, "size")), (None,) * dims
    else:
        factors = tuple(float(s) for s in _per_axis(scale_factor, dims, "scale_factor"))
        if min(factors) <= 0 or not all(math.isfinite(f) for f in factors):
            raise ValueError(f"interpolate: scale_factor must be positive and finite, got {scale_factor!r}")
        out_sizes = tuple(math.floor(n * f) for n, f in zip(in_sizes, factors))
        scales = (None,) * dims if recompute_scale_factor else factors
    if min(out_sizes) < 1 or min(in_sizes) < 1:
        raise ValueError(f"interpolate: input sizes {in_sizes} and output sizes {out_sizes} must be positive "
                         f"(input shape {tuple(input.shape)}, size={size!r}, scale_factor={scale_factor!r})")
    if mode == "area":  # adaptive average pooling's windows, shared with adaptive_avg_pool2d
        matrices = tuple(_averaging_matrix(n, m, input).array for n, m in zip(in_sizes, out_sizes))
    else:
        matrices = tuple(backend.to_module(_matrix(mode, n, m, s, bool(align_corners)).astype(input.dtype),
                                           input._xp) for n, m, s in zip(in_sizes, out_sizes, scales))
    return _resample(input, matrices)
