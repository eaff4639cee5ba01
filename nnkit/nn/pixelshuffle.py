"""``PixelShuffle`` and ``PixelUnshuffle``: :mod:`nnkit.nn.functional.vision`'s rearrangements as layers."""

from __future__ import annotations

from ..tensor import Tensor
from .functional.vision import pixel_shuffle, pixel_unshuffle
from .module import Module


class PixelShuffle(Module):
    """(*, C·r², H, W) -> (*, C, H·r, W·r): the upsampling of a sub-pixel convolution (a convolution
    to C·r² channels, then this).

    >>> import nnkit
    >>> PixelShuffle(3)(nnkit.randn(1, 18, 4, 4)).shape
    (1, 2, 12, 12)
    """

    def __init__(self, upscale_factor: int):
        super().__init__()
        self.upscale_factor = upscale_factor

    def forward(self, input: Tensor) -> Tensor:
        return pixel_shuffle(input, self.upscale_factor)

    def extra_repr(self) -> str:
        return f"upscale_factor={self.upscale_factor}"


class PixelUnshuffle(Module):
    """(*, C, H·r, W·r) -> (*, C·r², H, W): the inverse of :class:`PixelShuffle`.

    >>> import nnkit
    >>> PixelUnshuffle(2)(nnkit.randn(1, 3, 8, 8)).shape
    (1, 12, 4, 4)
    """

    def __init__(self, downscale_factor: int):
        super().__init__()
        self.downscale_factor = downscale_factor

    def forward(self, input: Tensor) -> Tensor:
        return pixel_unshuffle(input, self.downscale_factor)

    def extra_repr(self) -> str:
        return f"downscale_factor={self.downscale_factor}"
