"""Padding: ``pad`` in constant, reflect, replicate and circular modes."""

from __future__ import annotations

from typing import Sequence

from ... import ops
from ...ops.base import _make
from ...tensor import Tensor

__all__ = ["pad"]


def _pad_indices(n: int, before: int, after: int, mode: str, xp):
    """For padding modes that copy input values: the input index behind each output position."""
    if mode == "reflect" and (before >= n or after >= n):
        raise RuntimeError(f"pad: reflect padding ({before}, {after}) must be smaller than the dim size {n}")
    if mode == "circular" and (before > n or after > n):
        raise RuntimeError(f"pad: circular padding ({before}, {after}) must be at most the dim size {n}")
    pos = xp.arange(-before, n + after)
    if mode == "reflect":  # mirror at the first and the last element, which are not repeated
        return xp.where(pos < 0, -pos, xp.where(pos >= n, 2 * (n - 1) - pos, pos))
    if mode == "replicate":
        return xp.clip(pos, 0, n - 1)
    return pos % n


def pad(input: Tensor, pad: Sequence[int], mode: str = "constant", value: float | None = None) -> Tensor:
    """Pad the last ``len(pad) // 2`` dims: ``pad = (left, right, top, bottom, ...)`` starting from the last dim.

    ``mode``: 'constant' (fill with ``value``; negative amounts crop), 'reflect',
    'replicate' or 'circular'. Padding never changes values, only the size.

    >>> import nnkit
    >>> pad(nnkit.tensor([[1.0, 2.0]]), (1, 2)).tolist()
    [[0.0, 1.0, 2.0, 0.0, 0.0]]
    """
    pad = tuple(int(p) for p in pad)
    if len(pad) % 2 or len(pad) // 2 > input.ndim:
        raise ValueError(f"pad: the padding {pad} must have an even length of at most 2 x {input.ndim} "
                         f"(the input has shape {tuple(input.shape)})")
    widths = [(0, 0)] * (input.ndim - len(pad) // 2) + [(pad[2 * i], pad[2 * i + 1])
                                                         for i in reversed(range(len(pad) // 2))]
    if mode == "constant":
        crop = tuple(slice(-b if b < 0 else None, a if a < 0 else None) for b, a in widths)
        if any(b < 0 or a < 0 for b, a in widths):
            input = input[crop]
        grow = [(max(b, 0), max(a, 0)) for b, a in widths]
        out = input._xp.pad(input.array, grow, constant_values=0 if value is None else value)
        inner = tuple(slice(b, b + n) for (b, _), n in zip(grow, input.shape))
        return _make(out, (input,), lambda g: (g[inner],), "Pad")
    if mode not in ("reflect", "replicate", "circular"):
        raise NotImplementedError(f"pad: mode {mode!r} is not supported (use 'constant', 'reflect', "
                                  "'replicate' or 'circular')")
    if value is not None and value != 0:
        raise ValueError(f"pad: padding mode {mode!r} doesn't take in value argument")
    if any(b < 0 or a < 0 for b, a in widths):
        raise NotImplementedError(f"pad: negative padding is only supported in 'constant' mode, got {pad}")
    out = input
    for d, (before, after) in enumerate(widths):
        if before or after:
            out = ops.index_select(out, d, Tensor._wrap(_pad_indices(input.shape[d], before, after, mode,
                                                                      input._xp)))
    return out
