"""Pooling layers (chapter 07): ``MaxPool2d``, ``AvgPool2d`` and ``AdaptiveAvgPool2d``.

The computation is in :mod:`nnkit.nn.functional.pooling`.
"""

from __future__ import annotations

from typing import Sequence

from ..tensor import Tensor
from .functional.conv import IntOrPair
from .functional.pooling import adaptive_avg_pool2d, avg_pool2d, max_pool2d
from .module import Module, check_sizes


def _check_window(layer: str, kernel_size, stride, padding) -> None:
    """A pooling layer's window: positive kernel size and stride, non-negative padding (ints or pairs)."""
    for name, value, minimum in (("kernel_size", kernel_size, 1), ("stride", stride, 1), ("padding", padding, 0)):
        if value is not None:
            values = value if isinstance(value, (tuple, list)) else (value,)
            check_sizes(layer, minimum, **{name if len(values) == 1 else f"{name}[{i}]": v for i, v in enumerate(values)})


class MaxPool2d(Module):
    """:func:`max_pool2d` as a layer (no parameters).

    >>> import nnkit
    >>> MaxPool2d(2)(nnkit.randn(1, 3, 8, 8)).shape
    (1, 3, 4, 4)
    """

    def __init__(self, kernel_size: IntOrPair, stride: IntOrPair | None = None, padding: IntOrPair = 0,
                 dilation: IntOrPair = 1, return_indices: bool = False, ceil_mode: bool = False):
        super().__init__()
        _check_window(type(self).__name__, kernel_size, stride, padding)
        self.kernel_size, self.padding = kernel_size, padding
        self.stride = stride if stride is not None else kernel_size
        self.dilation, self.return_indices, self.ceil_mode = dilation, return_indices, ceil_mode

    def forward(self, input: Tensor):
        return max_pool2d(input, self.kernel_size, self.stride, self.padding, self.dilation, self.ceil_mode,
                          self.return_indices)

    def extra_repr(self) -> str:
        return (f"kernel_size={self.kernel_size}, stride={self.stride}, padding={self.padding}, "
                f"dilation={self.dilation}, ceil_mode={self.ceil_mode}")


class AvgPool2d(Module):
    """:func:`avg_pool2d` as a layer (no parameters).

    >>> import nnkit
    >>> AvgPool2d(2)(nnkit.randn(1, 3, 8, 8)).shape
    (1, 3, 4, 4)
    """

    def __init__(self, kernel_size: IntOrPair, stride: IntOrPair | None = None, padding: IntOrPair = 0,
                 ceil_mode: bool = False, count_include_pad: bool = True, divisor_override: int | None = None):
        super().__init__()
        _check_window(type(self).__name__, kernel_size, stride, padding)
        self.kernel_size, self.padding = kernel_size, padding
        self.stride = stride if stride is not None else kernel_size
        self.ceil_mode, self.count_include_pad, self.divisor_override = ceil_mode, count_include_pad, divisor_override

    def forward(self, input: Tensor) -> Tensor:
        return avg_pool2d(input, self.kernel_size, self.stride, self.padding, self.ceil_mode,
                          self.count_include_pad, self.divisor_override)

    def extra_repr(self) -> str:
        return f"kernel_size={self.kernel_size}, stride={self.stride}, padding={self.padding}"


class AdaptiveAvgPool2d(Module):
    """:func:`adaptive_avg_pool2d` as a layer: ``AdaptiveAvgPool2d(1)`` is global average pooling.

    >>> import nnkit
    >>> AdaptiveAvgPool2d((2, 3))(nnkit.randn(1, 4, 9, 10)).shape
    (1, 4, 2, 3)
    """

    def __init__(self, output_size: int | Sequence[int | None]):
        super().__init__()
        self.output_size = output_size

    def forward(self, input: Tensor) -> Tensor:
        return adaptive_avg_pool2d(input, self.output_size)

    def extra_repr(self) -> str:
        return f"output_size={self.output_size}"
