"""Rearranging pixels: ``pixel_shuffle`` and ``pixel_unshuffle`` (sub-pixel convolution's upsampling).

Both are a reshape, a permutation and a reshape, so they need no backward of
their own, and each is the other's inverse.
"""

from __future__ import annotations

from ... import ops
from ...tensor import Tensor

__all__ = ["pixel_shuffle", "pixel_unshuffle"]


def _check(input: Tensor, factor: int, op: str, name: str) -> None:
    if not isinstance(input, Tensor):
        raise TypeError(f"{op}: expected a Tensor input, got {type(input).__name__}")
    if input.ndim < 3:
        raise RuntimeError(f"{op}: expected an input with at least 3 dims (*, C, H, W), got shape "
                           f"{tuple(input.shape)}")
    if isinstance(factor, bool) or not isinstance(factor, int) or factor < 1:
        raise RuntimeError(f"{op}: expected a positive int {name}, got {factor!r}")


def pixel_shuffle(input: Tensor, upscale_factor: int) -> Tensor:
    """(*, C·r², H, W) -> (*, C, H·r, W·r): each group of r² channels becomes an r x r block of
    pixels. out[c, h·r + i, w·r + j] = in[c·r² + i·r + j, h, w].

    >>> import nnkit
    >>> pixel_shuffle(nnkit.arange(4.0).reshape(1, 4, 1, 1), 2)[0, 0].tolist()
    [[0.0, 1.0], [2.0, 3.0]]
    """
    r = upscale_factor
    _check(input, r, "pixel_shuffle", "upscale_factor")
    *lead, c, h, w = input.shape
    if c % (r * r):
        raise RuntimeError(f"pixel_shuffle: the channel dim ({c}, shape {tuple(input.shape)}) must be divisible "
                           f"by upscale_factor² = {r * r}")
    n = len(lead)
    blocks = ops.reshape(input, (*lead, c // (r * r), r, r, h, w))
    out = ops.permute(blocks, *range(n), n, n + 3, n + 1, n + 4, n + 2)  # (*, C, H, r, W, r)
    return ops.reshape(out, (*lead, c // (r * r), h * r, w * r))


def pixel_unshuffle(input: Tensor, downscale_factor: int) -> Tensor:
    """(*, C, H·r, W·r) -> (*, C·r², H, W), the inverse of :func:`pixel_shuffle`: each r x r block
    of pixels becomes r² channels.

    >>> import nnkit
    >>> pixel_unshuffle(nnkit.arange(4.0).reshape(1, 1, 2, 2), 2).flatten().tolist()
    [0.0, 1.0, 2.0, 3.0]
    """
    r = downscale_factor
    _check(input, r, "pixel_unshuffle", "downscale_factor")
    *lead, c, h, w = input.shape
    if h % r or w % r:
        raise RuntimeError(f"pixel_unshuffle: the height and width ({h}, {w}) must be divisible by "
                           f"downscale_factor {r}")
    n = len(lead)
    blocks = ops.reshape(input, (*lead, c, h // r, r, w // r, r))
    out = ops.permute(blocks, *range(n), n, n + 2, n + 4, n + 1, n + 3)  # (*, C, r, r, H, W)
    return ops.reshape(out, (*lead, c * r * r, h // r, w // r))
