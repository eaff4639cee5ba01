"""Dropout."""

from __future__ import annotations

import numpy

from ... import backend
from ...tensor import Tensor
from .activation import _maybe_in_place

__all__ = ["dropout"]


def dropout(input: Tensor, p: float = 0.5, training: bool = True, inplace: bool = False) -> Tensor:
    """Inverted dropout: in training, zero each element with probability ``p`` and scale the
    rest by 1/(1 − p), so the expected value is unchanged; outside training, return ``input``.

    The mask comes from nnkit's seeded generator (``nnkit.manual_seed``).
    """
    if not 0.0 <= p <= 1.0:
        raise ValueError(f"dropout probability has to be between 0 and 1, but got {p}")
    if not training or p == 0.0:
        return input
    keep = backend.rng(None).random(input.shape) >= p
    scale = 0.0 if p == 1.0 else 1.0 / (1.0 - p)
    mask = Tensor._wrap(backend.to_module(numpy.multiply(keep, scale, dtype=input.dtype), input._xp))
    return _maybe_in_place(input, inplace, "dropout", lambda x: x * mask)
