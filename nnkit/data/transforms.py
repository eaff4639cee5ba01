"""Image transforms and augmentation, with torchvision's names and arguments.

Images are channels-first: ``(C, H, W)``, or ``(H, W)`` for one grey channel,
as tensors or NumPy arrays; a transform returns the same kind it was given.
Every transform except :class:`ToTensor` and :class:`Lambda` also takes a
whole batch ``(N, C, H, W)`` at once, and the random ones then draw their
parameters independently for each image. That is how the image datasets
augment a batch in one vectorised step instead of a Python loop over images.

Random transforms take an optional ``generator`` (an :class:`nnkit.Generator`)
for reproducible augmentation; without one they use nnkit's default generator,
which ``nnkit.manual_seed`` seeds. Transforms are preprocessing: they work on
the values and record nothing for autograd.

>>> import nnkit
>>> augment = Compose([RandomCrop(8, padding=1), RandomHorizontalFlip(), Normalize((0.5,), (0.25,))])
>>> augment(nnkit.rand(16, 1, 8, 8)).shape
(16, 1, 8, 8)
"""

from __future__ import annotations

import numbers
from typing import Callable, Sequence

import numpy as np

from .. import backend
from ..tensor import Tensor

__all__ = ["Compose", "ToTensor", "Normalize", "RandomCrop", "RandomHorizontalFlip", "RandomVerticalFlip",
           "RandomRotation", "RandomAffine", "GaussianNoise", "Lambda"]


class Transform:
    """The base of the transforms here: ``_apply`` maps a ``(N, C, H, W)`` array to another.

    ``batched`` says that the transform accepts a batch; a dataset applies a
    transform to a whole batch only when it (and everything in a ``Compose``) does.
    """

    batched = True
    name = "Transform"

    def __call__(self, img):
        """Apply to one image ``(C, H, W)`` or ``(H, W)``, or to a batch ``(N, C, H, W)``."""
        array = img.array if isinstance(img, Tensor) else np.asarray(img)
        host = backend.to_module(array, np)
        if host.ndim not in (2, 3, 4):
            raise ValueError(f"{type(self).__name__}: expected an image (H, W) or (C, H, W), or a batch "
                             f"(N, C, H, W); got shape {tuple(host.shape)}")
        batch = host[(None,) * (4 - host.ndim)]  # a view: in-place transforms reach the input
        out = self._apply(batch)[(0,) * (4 - host.ndim)]
        if isinstance(img, Tensor):
            return Tensor._wrap(backend.to_module(out, backend.xp_of(array)))
        return out

    def _apply(self, x: np.ndarray) -> np.ndarray:
        raise NotImplementedError

    def _rng(self) -> np.random.Generator:
        return backend.rng(getattr(self, "generator", None))

    def __repr__(self) -> str:
        args = ", ".join(f"{k}={v!r}" for k, v in vars(self).items() if k != "generator")
        return f"{type(self).__name__}({args})"


class Compose(Transform):
    """Apply ``transforms`` one after another."""

    def __init__(self, transforms: Sequence[Callable]):
        self.transforms = list(transforms)

    @property
    def batched(self) -> bool:
        return all(getattr(t, "batched", False) for t in self.transforms)

    def __call__(self, img):
        for t in self.transforms:
            img = t(img)
        return img

    def __repr__(self) -> str:
        return "Compose(\n" + "".join(f"    {t!r}\n" for t in self.transforms) + ")"


class Lambda(Transform):
    """Apply a user function ``lambd`` (to one image; a dataset never hands it a batch)."""

    batched = False

    def __init__(self, lambd: Callable):
        if not callable(lambd):
            raise TypeError(f"Lambda: argument should be callable, got {type(lambd).__name__}")
        self.lambd = lambd

    def __call__(self, img):
        return self.lambd(img)


class ToTensor(Transform):
    """A NumPy image ``(H, W)`` or ``(H, W, C)`` -> a tensor ``(C, H, W)``; uint8 becomes float in [0, 1].

    As torchvision's ``ToTensor``: uint8 values are divided by 255, other dtypes
    are kept. A batch ``(N, H, W, C)`` becomes ``(N, C, H, W)``. Anything NumPy
    can read as an array (a PIL image too) is accepted; a tensor is refused,
    since it is already in the channels-first layout this transform produces.
    """

    def __call__(self, pic) -> Tensor:
        if isinstance(pic, Tensor):
            raise TypeError("ToTensor: the input is already a tensor (nnkit's datasets give (C, H, W) float "
                            "tensors); leave ToTensor out of the pipeline")
        array = np.asarray(pic)
        if array.ndim == 2:
            array = array[:, :, None]
        if array.ndim not in (3, 4):
            raise ValueError(f"ToTensor: expected an image (H, W) or (H, W, C), or a batch (N, H, W, C); "
                             f"got shape {array.shape}")
        array = np.ascontiguousarray(np.moveaxis(array, -1, -3))
        if array.dtype == np.uint8:
            array = array.astype(backend.get_default_dtype()) / np.array(255, backend.get_default_dtype())
        return Tensor._wrap(array)


def _float_image(owner: str, x: np.ndarray) -> None:
    if x.dtype.kind != "f":
        raise TypeError(f"{owner}: expected a float image, got dtype {x.dtype}; convert it first "
                        "(ToTensor turns uint8 into float in [0, 1])")


def _per_channel(owner: str, name: str, values: np.ndarray, channels: int) -> np.ndarray:
    if len(values) not in (1, channels):
        raise ValueError(f"{owner}: {name} has {len(values)} values for an image with {channels} channels")
    return values.reshape(-1, 1, 1)


class Normalize(Transform):
    """``(x - mean[c]) / std[c]`` for each channel ``c``: zero mean and unit spread when they are the data's.

    ``mean`` and ``std`` give one value per channel (or one for all).
    ``inplace=True`` overwrites the input.
    """

    def __init__(self, mean: float | Sequence[float], std: float | Sequence[float], inplace: bool = False):
        self.mean = tuple(float(m) for m in np.atleast_1d(mean))
        self.std = tuple(float(s) for s in np.atleast_1d(std))
        if any(s == 0 for s in self.std):
            raise ValueError(f"Normalize: std {self.std} contains a zero, which would divide by zero")
        self.inplace = inplace

    def _apply(self, x: np.ndarray) -> np.ndarray:
        _float_image("Normalize", x)
        mean = _per_channel("Normalize", "mean", np.asarray(self.mean, x.dtype), x.shape[1])
        std = _per_channel("Normalize", "std", np.asarray(self.std, x.dtype), x.shape[1])
        if self.inplace:
            x -= mean
            x /= std
            return x
        return (x - mean) / std


def _pair(owner: str, name: str, value) -> tuple[int, int]:
    """``size`` as torchvision reads it: an int, or a sequence of one or two ints (h, w)."""
    if isinstance(value, numbers.Integral):
        value = (value, value)
    value = tuple(value)
    if len(value) == 1:
        value = value * 2
    if len(value) != 2 or not all(isinstance(v, numbers.Integral) and v > 0 for v in value):
        raise ValueError(f"{owner}: {name} must be a positive int or a sequence of one or two, got {value!r}")
    return int(value[0]), int(value[1])


_PAD_MODES = {"constant": "constant", "edge": "edge", "reflect": "reflect", "symmetric": "symmetric"}


class RandomCrop(Transform):
    """Crop a random ``size`` window (an int, or ``(h, w)``), after optional padding.

    ``padding`` is an int (all sides), ``(left/right, top/bottom)`` or
    ``(left, top, right, bottom)``, filled with ``fill`` or by ``padding_mode``
    (``'constant'``, ``'edge'``, ``'reflect'``, ``'symmetric'``).
    ``pad_if_needed`` pads an image smaller than ``size`` on both sides by the
    shortfall, as torchvision does. The classic augmentation for small images:
    ``RandomCrop(28, padding=2)`` shifts a digit by up to two pixels.
    """

    def __init__(self, size: int | Sequence[int], padding: int | Sequence[int] | None = None,
                 pad_if_needed: bool = False, fill: float = 0, padding_mode: str = "constant",
                 generator: backend.Generator | None = None):
        self.size = _pair("RandomCrop", "size", size)
        if padding is not None:
            padding = (padding,) * 4 if isinstance(padding, numbers.Integral) else tuple(padding)
            if len(padding) == 2:
                padding = padding * 2
            if len(padding) != 4 or not all(isinstance(p, numbers.Integral) and p >= 0 for p in padding):
                raise ValueError(f"RandomCrop: padding must be a non-negative int or a sequence of 2 or 4, "
                                 f"got {padding!r}")
        if padding_mode not in _PAD_MODES:
            raise ValueError(f"RandomCrop: padding_mode must be one of {sorted(_PAD_MODES)}, got {padding_mode!r}")
        self.padding = padding
        self.pad_if_needed = pad_if_needed
        self.fill = fill
        self.padding_mode = padding_mode
        self.generator = generator

    def _pad(self, x: np.ndarray, left: int, top: int, right: int, bottom: int) -> np.ndarray:
        widths = ((0, 0), (0, 0), (top, bottom), (left, right))
        if self.padding_mode == "constant":
            return np.pad(x, widths, constant_values=self.fill)
        return np.pad(x, widths, mode=_PAD_MODES[self.padding_mode])

    def _apply(self, x: np.ndarray) -> np.ndarray:
        if self.padding is not None:
            x = self._pad(x, *self.padding)
        th, tw = self.size
        if self.pad_if_needed and x.shape[3] < tw:
            x = self._pad(x, tw - x.shape[3], 0, tw - x.shape[3], 0)
        if self.pad_if_needed and x.shape[2] < th:
            x = self._pad(x, 0, th - x.shape[2], 0, th - x.shape[2])
        n, _, h, w = x.shape
        if h < th or w < tw:
            raise ValueError(f"RandomCrop: required crop size {(th, tw)} is larger than the (padded) image "
                             f"size {(h, w)}")
        rng = self._rng()
        top, left = rng.integers(0, h - th + 1, n), rng.integers(0, w - tw + 1, n)
        # Every window as a view (N, C, h - th + 1, w - tw + 1, th, tw); pick one per image.
        windows = np.lib.stride_tricks.sliding_window_view(x, (th, tw), axis=(2, 3))
        return windows[np.arange(n), :, top, left]


class _RandomFlip(Transform):
    axis = -1

    def __init__(self, p: float = 0.5, generator: backend.Generator | None = None):
        if not 0 <= p <= 1:
            raise ValueError(f"{type(self).__name__}: p must lie in [0, 1], got {p!r}")
        self.p = p
        self.generator = generator

    def _apply(self, x: np.ndarray) -> np.ndarray:
        flip = self._rng().random(x.shape[0]) < self.p
        out = x.copy()
        out[flip] = np.flip(x[flip], self.axis)
        return out


class RandomHorizontalFlip(_RandomFlip):
    """Mirror left-right with probability ``p``."""

    axis = -1


class RandomVerticalFlip(_RandomFlip):
    """Mirror top-bottom with probability ``p``."""

    axis = -2


def _range(owner: str, name: str, value, symmetric_from: float | None = None) -> tuple[float, float]:
    """A number ``d`` as ``(-d, d)`` (``d >= 0``), or a pair ``(lo, hi)``."""
    if isinstance(value, numbers.Real):
        if value < 0:
            raise ValueError(f"{owner}: if {name} is a single number, it must be non-negative, got {value!r}")
        return (-float(value), float(value))
    value = tuple(float(v) for v in value)
    if len(value) != 2 or value[0] > value[1]:
        raise ValueError(f"{owner}: {name} must be a number or a pair (min, max), got {value!r}")
    return value


def _interpolation(owner: str, interpolation) -> str:
    mode = str(getattr(interpolation, "value", interpolation)).lower()  # torchvision's InterpolationMode too
    if mode not in ("nearest", "bilinear"):
        raise NotImplementedError(f"{owner}: interpolation {interpolation!r} is not supported; "
                                  "use 'nearest' or 'bilinear'")
    return mode


def _affine(x: np.ndarray, angle: np.ndarray, tx: np.ndarray, ty: np.ndarray, scale: np.ndarray,
            center: tuple[float, float] | None, mode: str, fill: float) -> np.ndarray:
    """Rotate each image ``x[k]`` by ``angle[k]`` degrees counter-clockwise about ``center``, scale it by
    ``scale[k]`` and move it by ``(tx[k], ty[k])`` pixels (right, down), resampling by ``mode``.

    Each output pixel ``p`` reads the input at ``A^-1 (p - c - t) + c``, where
    ``A`` is the rotation-and-scale; pixels that read outside the image get
    ``fill``. Coordinates are pixel centres; the default centre is the image's
    middle, ``((W - 1) / 2, (H - 1) / 2)``, as in torchvision.
    """
    n, c, h, w = x.shape
    cx, cy = ((w - 1) / 2, (h - 1) / 2) if center is None else (center[0] - 0.5, center[1] - 0.5)
    theta = np.deg2rad(angle)
    cos, sin = (np.cos(theta) / scale)[:, None, None], (np.sin(theta) / scale)[:, None, None]
    px = np.arange(w)[None, None, :] - cx - tx[:, None, None]
    py = np.arange(h)[None, :, None] - cy - ty[:, None, None]
    src_x, src_y = cos * px - sin * py + cx, sin * px + cos * py + cy  # (N, H, W): where each pixel reads
    # Reads go through a one-pixel border (fill for nearest, zero for bilinear) around every image, and
    # positions outside are clipped onto it: no masks, and one flat `take` per read.
    border = fill if mode == "nearest" else 0
    pixels = np.moveaxis(np.pad(x, ((0, 0), (0, 0), (1, 1), (1, 1)), constant_values=border), 1, -1).reshape(-1, c)
    first = (np.arange(n) * (h + 2) * (w + 2))[:, None, None]

    def read(xi, yi):
        """The pixels at integer positions (N, H, W), as (N, H, W, C)."""
        return np.take(pixels, first + (np.clip(yi, -1, h) + 1) * (w + 2) + np.clip(xi, -1, w) + 1, axis=0)

    if mode == "nearest":
        out = read(np.rint(src_x).astype(np.int64), np.rint(src_y).astype(np.int64))
    else:
        x0, y0 = np.floor(src_x), np.floor(src_y)
        fx, fy = src_x - x0, src_y - y0
        x0, y0 = x0.astype(np.int64), y0.astype(np.int64)
        out, covered = 0.0, 0.0
        for xi, yi, weight in ((x0, y0, (1 - fx) * (1 - fy)), (x0 + 1, y0, fx * (1 - fy)),
                               (x0, y0 + 1, (1 - fx) * fy), (x0 + 1, y0 + 1, fx * fy)):
            out = out + weight[..., None] * read(xi, yi)
            if fill:
                covered = covered + weight * ((xi >= 0) & (xi < w) & (yi >= 0) & (yi < h))
        # A border pixel that reads partly outside blends towards fill by that part.
        out = out + (1 - np.asarray(covered)[..., None]) * fill if fill else out
    out = np.moveaxis(out, -1, 1)
    if x.dtype.kind != "f":
        out = np.rint(out)
    return out.astype(x.dtype, copy=False)


class RandomAffine(Transform):
    """A random rotation, translation and scaling of each image (torchvision's ``RandomAffine``).

    - ``degrees``: the angle is drawn from ``(-degrees, degrees)`` or from a
      pair ``(min, max)``; as in torchvision's ``affine``, positive is clockwise;
    - ``translate=(a, b)``: shifts of up to ``a * W`` horizontally and
      ``b * H`` vertically, rounded to whole pixels;
    - ``scale=(lo, hi)``: a zoom factor drawn from that range;
    - ``interpolation``: ``'nearest'`` (default) or ``'bilinear'``; pixels
      from outside the image get ``fill``.

    ``shear`` is not supported.
    """

    def __init__(self, degrees: float | Sequence[float], translate: Sequence[float] | None = None,
                 scale: Sequence[float] | None = None, shear=None, interpolation: str = "nearest",
                 fill: float = 0, center: Sequence[float] | None = None,
                 generator: backend.Generator | None = None):
        if shear is not None:
            raise NotImplementedError("RandomAffine: shear is not supported")
        self.degrees = _range("RandomAffine", "degrees", degrees)
        if translate is not None:
            translate = tuple(float(t) for t in translate)
            if len(translate) != 2 or not all(0 <= t <= 1 for t in translate):
                raise ValueError(f"RandomAffine: translate should be a pair of values in [0, 1], got {translate!r}")
        if scale is not None:
            scale = tuple(float(s) for s in scale)
            if len(scale) != 2 or not 0 < scale[0] <= scale[1]:
                raise ValueError(f"RandomAffine: scale should be a pair (min, max) of positive values, got {scale!r}")
        self.translate = translate
        self.scale = scale
        self.interpolation = _interpolation("RandomAffine", interpolation)
        self.fill = fill
        self.center = None if center is None else tuple(center)
        self.generator = generator

    def _apply(self, x: np.ndarray) -> np.ndarray:
        n, _, h, w = x.shape
        rng = self._rng()
        angle = rng.uniform(*self.degrees, n)
        tx, ty = np.zeros(n), np.zeros(n)
        if self.translate is not None:
            max_dx, max_dy = self.translate[0] * w, self.translate[1] * h
            tx, ty = np.rint(rng.uniform(-max_dx, max_dx, n)), np.rint(rng.uniform(-max_dy, max_dy, n))
        scale = rng.uniform(*self.scale, n) if self.scale is not None else np.ones(n)
        return _affine(x, -angle, tx, ty, scale, self.center, self.interpolation, self.fill)


class RandomRotation(Transform):
    """Rotate each image by an angle drawn from ``(-degrees, degrees)`` (or a pair ``(min, max)``).

    Positive angles turn counter-clockwise, about ``center`` (default: the
    image's middle); ``interpolation`` is ``'nearest'`` (default) or
    ``'bilinear'``, and corners that come from outside get ``fill``.
    ``expand=True`` is not supported: the output keeps the input's size.
    """

    def __init__(self, degrees: float | Sequence[float], interpolation: str = "nearest", expand: bool = False,
                 center: Sequence[float] | None = None, fill: float = 0,
                 generator: backend.Generator | None = None):
        if expand:
            raise NotImplementedError("RandomRotation: expand=True is not supported")
        self.degrees = _range("RandomRotation", "degrees", degrees)
        self.interpolation = _interpolation("RandomRotation", interpolation)
        self.center = None if center is None else tuple(center)
        self.fill = fill
        self.generator = generator

    def _apply(self, x: np.ndarray) -> np.ndarray:
        n = x.shape[0]
        angle = self._rng().uniform(*self.degrees, n)
        zeros = np.zeros(n)
        return _affine(x, angle, zeros, zeros, np.ones(n), self.center, self.interpolation, self.fill)


class GaussianNoise(Transform):
    """Add noise ``mean + sigma * N(0, 1)`` to every pixel, then clip to [0, 1] if ``clip`` (torchvision v2)."""

    def __init__(self, mean: float = 0.0, sigma: float = 0.1, clip: bool = True,
                 generator: backend.Generator | None = None):
        if sigma < 0:
            raise ValueError(f"GaussianNoise: sigma should be non-negative, got {sigma!r}")
        self.mean = mean
        self.sigma = sigma
        self.clip = clip
        self.generator = generator

    def _apply(self, x: np.ndarray) -> np.ndarray:
        _float_image("GaussianNoise", x)
        noise = self._rng().standard_normal(x.shape).astype(x.dtype, copy=False)
        out = x + (self.mean + self.sigma * noise).astype(x.dtype, copy=False)
        return np.clip(out, 0, 1) if self.clip else out
