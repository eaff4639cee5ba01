"""Reshaping layers: ``Flatten`` and ``Unflatten``."""

from __future__ import annotations

import math
from typing import Sequence

from .. import ops
from ..tensor import Tensor
from .module import Module

__all__ = ["Flatten", "Unflatten"]


class Flatten(Module):
    """Merge dims ``start_dim..end_dim`` into one: (N, C, H, W) → (N, C·H·W) by default.

    >>> import nnkit
    >>> Flatten()(nnkit.zeros(2, 3, 4)).shape
    (2, 12)
    """

    def __init__(self, start_dim: int = 1, end_dim: int = -1):
        super().__init__()
        self.start_dim, self.end_dim = start_dim, end_dim

    def forward(self, input: Tensor) -> Tensor:
        return ops.flatten(input, self.start_dim, self.end_dim)

    def extra_repr(self) -> str:
        return f"start_dim={self.start_dim}, end_dim={self.end_dim}"


class Unflatten(Module):
    """Split dim ``dim`` into ``unflattened_size`` (one entry may be −1: inferred): the inverse of
    ``Flatten``, e.g. a decoder's (N, C·H·W) dense output back into (N, C, H, W) images.

    >>> import nnkit
    >>> Unflatten(1, (3, 4))(nnkit.zeros(2, 12)).shape
    (2, 3, 4)
    """

    def __init__(self, dim: int, unflattened_size: Sequence[int]):
        super().__init__()
        self.dim, self.unflattened_size = dim, tuple(unflattened_size)

    def forward(self, input: Tensor) -> Tensor:
        if not -input.ndim <= self.dim < input.ndim:
            raise IndexError(f"Unflatten: dim {self.dim} is out of range for an input of shape "
                             f"{tuple(input.shape)}")
        n, sizes = input.shape[self.dim], self.unflattened_size
        known = math.prod(s for s in sizes if s != -1)
        if sizes.count(-1) > 1 or (n != known if -1 not in sizes else known == 0 or n % known):
            raise RuntimeError(f"Unflatten: sizes {sizes} don't multiply up to the size of dim {self.dim} "
                               f"({n}) of the input of shape {tuple(input.shape)}")
        return ops.unflatten(input, self.dim, sizes)

    def extra_repr(self) -> str:
        return f"dim={self.dim}, unflattened_size={self.unflattened_size}"
