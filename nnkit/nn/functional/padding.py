"""Padding: ``pad`` in constant, reflect, replicate and circular modes; negative amounts crop."""

from __future__ import annotations

from typing import Sequence

from ... import ops
from ...ops.base import _make
from ...tensor import Tensor

__all__ = ["pad"]

_MODES = ("constant", "reflect", "replicate", "circular")


def _source_positions(n: int, before: int, after: int, mode: str, xp):
    """For the modes that copy input values: the input index behind each output position along a dim
    of size ``n``. Reflect and replicate pad first and crop after (a negative amount crops the padded
    row), circular crops first and wraps around what is left, as PyTorch does."""
    if mode == "reflect" and (before >= n or after >= n):
        raise RuntimeError(f"pad: reflect padding ({before}, {after}) must be smaller than the dim size {n}")
    if mode == "circular":
        start = max(-before, 0)
        kept = n - start - max(-after, 0)
        if max(before, after) > kept:
            raise RuntimeError(f"pad: circular padding ({before}, {after}) wraps around more than once a dim "
                               f"of size {kept}")
        pos = xp.arange(-max(before, 0), kept + max(after, 0))
        return pos % max(kept, 1) + start
    pos = xp.arange(-before, n + after)
    if mode == "reflect":  # mirror at the first and the last element, which are not repeated
        return xp.where(pos < 0, -pos, xp.where(pos >= n, 2 * (n - 1) - pos, pos))
    return xp.clip(pos, 0, n - 1)


def _check_dims(input: Tensor, pad: tuple, mode: str) -> None:
    """PyTorch pads 1, 2 or 3 trailing dims in the copying modes, of an input with one or two more."""
    dims = len(pad) // 2
    if not 1 <= dims <= 3 or input.ndim not in (dims + 1, dims + 2):
        raise NotImplementedError(f"pad: padding size {len(pad)} is not supported for a {input.ndim}-D input in "
                                  f"mode {mode!r} (a 2-D or 3-D input takes 2 amounts, a 3-D or 4-D one 4, a 4-D "
                                  f"or 5-D one 6)")


def pad(input: Tensor, pad: Sequence[int], mode: str = "constant", value: float | None = None) -> Tensor:
    """Pad the last ``len(pad) // 2`` dims: ``pad = (left, right, top, bottom, ...)`` starting from the last dim.

    ``mode``: 'constant' (fill with ``value``), 'reflect', 'replicate' or 'circular' (which pad
    1, 2 or 3 trailing dims of an input with one or two more dims). A negative amount crops.
    Padding never changes values, only the size.

    >>> import nnkit
    >>> pad(nnkit.tensor([[1.0, 2.0]]), (1, 2)).tolist()
    [[0.0, 1.0, 2.0, 0.0, 0.0]]
    >>> pad(nnkit.tensor([[[1.0, 2.0, 3.0]]]), (2, -1), mode="reflect").tolist()
    [[[3.0, 2.0, 1.0, 2.0]]]
    """
    pad = tuple(int(p) for p in pad)
    if len(pad) % 2:
        raise RuntimeError(f"pad: the padding length must be divisible by 2, got {pad}")
    if len(pad) // 2 > input.ndim:
        raise RuntimeError(f"pad: the padding {pad} must have a length of at most 2 x {input.ndim} "
                           f"(the input has shape {tuple(input.shape)})")
    widths = [(0, 0)] * (input.ndim - len(pad) // 2) + [(pad[2 * i], pad[2 * i + 1])
                                                         for i in reversed(range(len(pad) // 2))]
    if mode not in _MODES:
        raise NotImplementedError(f"pad: mode {mode!r} is not supported (use 'constant', 'reflect', "
                                  "'replicate' or 'circular')")
    sizes = [n + before + after for n, (before, after) in zip(input.shape, widths)]
    overcropped = any(max(-before, 0) + max(-after, 0) > n for n, (before, after) in zip(input.shape, widths))
    if overcropped or min(sizes, default=1) < (0 if mode in ("constant", "circular") else 1):
        raise RuntimeError(f"pad: the input of shape {tuple(input.shape)} is too small for the padding {pad} "
                           f"(the output would be {tuple(sizes)})")
    if mode == "constant":
        crop = tuple(slice(-b if b < 0 else None, a if a < 0 else None) for b, a in widths)
        if any(b < 0 or a < 0 for b, a in widths):
            input = input[crop]
        grow = [(max(b, 0), max(a, 0)) for b, a in widths]
        out = input._xp.pad(input.array, grow, constant_values=0 if value is None else value)
        inner = tuple(slice(b, b + n) for (b, _), n in zip(grow, input.shape))
        return _make(out, (input,), lambda g: (g[inner],), "Pad", ())
    if value is not None and value != 0:
        raise RuntimeError(f"pad: padding mode {mode!r} doesn't take in value argument")
    _check_dims(input, pad, mode)
    out = input
    for d, (before, after) in enumerate(widths):
        if before or after:
            out = ops.index_select(out, d, Tensor._wrap(_source_positions(input.shape[d], before, after, mode,
                                                                           input._xp)))
    return out
