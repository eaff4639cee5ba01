"""Pooling layers (chapter 07): max, average and adaptive pooling over 1, 2 or 3 spatial dims
(``MaxPool2d``, ``AvgPool1d``, ``AdaptiveAvgPool2d``, ``AdaptiveMaxPool1d``...) and ``MaxUnpool1d/2d/3d``.

The computation is in :mod:`nnkit.nn.functional.pooling`. Each family is one
class per number of spatial dims over a shared base, which names its function.
"""

from __future__ import annotations

from typing import Sequence

from ..tensor import Tensor
from .functional.pooling import (adaptive_avg_pool1d, adaptive_avg_pool2d, adaptive_avg_pool3d, adaptive_max_pool1d,
                                 adaptive_max_pool2d, adaptive_max_pool3d, avg_pool1d, avg_pool2d, avg_pool3d,
                                 max_pool1d, max_pool2d, max_pool3d, max_unpool1d, max_unpool2d, max_unpool3d)
from .functional.conv import IntOrTuple, _tuple
from .module import Module, check_sizes


def _check_window(layer: str, kernel_size, stride, padding) -> None:
    """A pooling layer's window: positive kernel size and stride, non-negative padding (ints or tuples)."""
    for name, value, minimum in (("kernel_size", kernel_size, 1), ("stride", stride, 1), ("padding", padding, 0)):
        if value is not None:
            values = value if isinstance(value, (tuple, list)) else (value,)
            check_sizes(layer, minimum,
                        **{name if len(values) == 1 else f"{name}[{i}]": v for i, v in enumerate(values)})


class _MaxPoolNd(Module):
    """MaxPool1d, 2d and 3d: :func:`max_pool2d` and its kin as layers (no parameters)."""

    def __init__(self, kernel_size: IntOrTuple, stride: IntOrTuple | None = None, padding: IntOrTuple = 0,
                 dilation: IntOrTuple = 1, return_indices: bool = False, ceil_mode: bool = False):
        super().__init__()
        _check_window(type(self).__name__, kernel_size, stride, padding)
        self.kernel_size, self.padding = kernel_size, padding
        self.stride = stride if stride is not None else kernel_size
        self.dilation, self.return_indices, self.ceil_mode = dilation, return_indices, ceil_mode

    def forward(self, input: Tensor):
        return type(self)._function(input, self.kernel_size, self.stride, self.padding, self.dilation, self.ceil_mode,
                                    self.return_indices)

    def extra_repr(self) -> str:
        return (f"kernel_size={self.kernel_size}, stride={self.stride}, padding={self.padding}, "
                f"dilation={self.dilation}, ceil_mode={self.ceil_mode}")


class MaxPool1d(_MaxPoolNd):
    """:func:`max_pool1d` as a layer: the max of each window of an (N, C, L) sequence.

    >>> import nnkit
    >>> MaxPool1d(3, stride=2)(nnkit.randn(1, 4, 11)).shape
    (1, 4, 5)
    """

    _function = staticmethod(max_pool1d)


class MaxPool2d(_MaxPoolNd):
    """:func:`max_pool2d` as a layer (no parameters).

    >>> import nnkit
    >>> MaxPool2d(2)(nnkit.randn(1, 3, 8, 8)).shape
    (1, 3, 4, 4)
    """

    _function = staticmethod(max_pool2d)


class MaxPool3d(_MaxPoolNd):
    """:func:`max_pool3d` as a layer: the max of each window of an (N, C, D, H, W) volume.

    >>> import nnkit
    >>> MaxPool3d((1, 2, 2))(nnkit.randn(1, 3, 4, 8, 8)).shape
    (1, 3, 4, 4, 4)
    """

    _function = staticmethod(max_pool3d)


class _AvgPoolNd(Module):
    """AvgPool2d and 3d: :func:`avg_pool2d` and its kin as layers (no parameters). AvgPool1d, which has
    no ``divisor_override``, changes the constructor."""

    def __init__(self, kernel_size: IntOrTuple, stride: IntOrTuple | None = None, padding: IntOrTuple = 0,
                 ceil_mode: bool = False, count_include_pad: bool = True, divisor_override: int | None = None):
        super().__init__()
        _check_window(type(self).__name__, kernel_size, stride, padding)
        self.kernel_size, self.padding = kernel_size, padding
        self.stride = stride if stride is not None else kernel_size
        self.ceil_mode, self.count_include_pad, self.divisor_override = ceil_mode, count_include_pad, divisor_override

    def forward(self, input: Tensor) -> Tensor:
        return type(self)._function(input, self.kernel_size, self.stride, self.padding, self.ceil_mode,
                                    self.count_include_pad, self.divisor_override)

    def extra_repr(self) -> str:
        return f"kernel_size={self.kernel_size}, stride={self.stride}, padding={self.padding}"


class AvgPool1d(_AvgPoolNd):
    """:func:`avg_pool1d` as a layer: the mean of each window of an (N, C, L) sequence. As PyTorch's,
    it keeps its sizes as 1-tuples.

    >>> import nnkit
    >>> AvgPool1d(2)(nnkit.randn(1, 4, 10)).shape
    (1, 4, 5)
    """

    def __init__(self, kernel_size: IntOrTuple, stride: IntOrTuple | None = None, padding: IntOrTuple = 0,
                 ceil_mode: bool = False, count_include_pad: bool = True):
        super().__init__(kernel_size, stride, padding, ceil_mode, count_include_pad)
        name = type(self).__name__
        self.kernel_size = _tuple(kernel_size, 1, "kernel_size", name, ValueError)
        self.stride = _tuple(self.stride, 1, "stride", name, ValueError)
        self.padding = _tuple(padding, 1, "padding", name, ValueError)

    def forward(self, input: Tensor) -> Tensor:
        return avg_pool1d(input, self.kernel_size, self.stride, self.padding, self.ceil_mode, self.count_include_pad)


class AvgPool2d(_AvgPoolNd):
    """:func:`avg_pool2d` as a layer (no parameters).

    >>> import nnkit
    >>> AvgPool2d(2)(nnkit.randn(1, 3, 8, 8)).shape
    (1, 3, 4, 4)
    """

    _function = staticmethod(avg_pool2d)


class AvgPool3d(_AvgPoolNd):
    """:func:`avg_pool3d` as a layer: the mean of each window of an (N, C, D, H, W) volume.

    >>> import nnkit
    >>> AvgPool3d(2)(nnkit.randn(1, 3, 4, 8, 8)).shape
    (1, 3, 2, 4, 4)
    """

    _function = staticmethod(avg_pool3d)


class _AdaptiveAvgPoolNd(Module):
    """AdaptiveAvgPool1d, 2d and 3d: pooling to a fixed output size, whatever the input's."""

    def __init__(self, output_size: int | Sequence[int | None]):
        super().__init__()
        self.output_size = output_size

    def forward(self, input: Tensor) -> Tensor:
        return type(self)._function(input, self.output_size)

    def extra_repr(self) -> str:
        return f"output_size={self.output_size}"


class AdaptiveAvgPool1d(_AdaptiveAvgPoolNd):
    """:func:`adaptive_avg_pool1d` as a layer.

    >>> import nnkit
    >>> AdaptiveAvgPool1d(4)(nnkit.randn(2, 3, 10)).shape
    (2, 3, 4)
    """

    _function = staticmethod(adaptive_avg_pool1d)


class AdaptiveAvgPool2d(_AdaptiveAvgPoolNd):
    """:func:`adaptive_avg_pool2d` as a layer: ``AdaptiveAvgPool2d(1)`` is global average pooling.

    >>> import nnkit
    >>> AdaptiveAvgPool2d((2, 3))(nnkit.randn(1, 4, 9, 10)).shape
    (1, 4, 2, 3)
    """

    _function = staticmethod(adaptive_avg_pool2d)


class AdaptiveAvgPool3d(_AdaptiveAvgPoolNd):
    """:func:`adaptive_avg_pool3d` as a layer.

    >>> import nnkit
    >>> AdaptiveAvgPool3d((1, None, 2))(nnkit.randn(1, 4, 3, 5, 6)).shape
    (1, 4, 1, 5, 2)
    """

    _function = staticmethod(adaptive_avg_pool3d)


class _AdaptiveMaxPoolNd(Module):
    """AdaptiveMaxPool1d, 2d and 3d: max pooling to a fixed output size."""

    def __init__(self, output_size: int | Sequence[int | None], return_indices: bool = False):
        super().__init__()
        self.output_size, self.return_indices = output_size, return_indices

    def forward(self, input: Tensor):
        return type(self)._function(input, self.output_size, self.return_indices)

    def extra_repr(self) -> str:
        return f"output_size={self.output_size}"


class AdaptiveMaxPool1d(_AdaptiveMaxPoolNd):
    """:func:`adaptive_max_pool1d` as a layer.

    >>> import nnkit
    >>> AdaptiveMaxPool1d(4)(nnkit.randn(2, 3, 10)).shape
    (2, 3, 4)
    """

    _function = staticmethod(adaptive_max_pool1d)


class AdaptiveMaxPool2d(_AdaptiveMaxPoolNd):
    """:func:`adaptive_max_pool2d` as a layer.

    >>> import nnkit
    >>> AdaptiveMaxPool2d((2, 3))(nnkit.randn(1, 4, 9, 10)).shape
    (1, 4, 2, 3)
    """

    _function = staticmethod(adaptive_max_pool2d)


class AdaptiveMaxPool3d(_AdaptiveMaxPoolNd):
    """:func:`adaptive_max_pool3d` as a layer.

    >>> import nnkit
    >>> AdaptiveMaxPool3d(2)(nnkit.randn(1, 4, 3, 5, 6)).shape
    (1, 4, 2, 2, 2)
    """

    _function = staticmethod(adaptive_max_pool3d)


class _MaxUnpoolNd(Module):
    """MaxUnpool1d, 2d and 3d: the partial inverse of max pooling. ``forward(input, indices,
    output_size=None)`` takes the indices that max pooling returned."""

    _dims: int

    def __init__(self, kernel_size: IntOrTuple, stride: IntOrTuple | None = None, padding: IntOrTuple = 0):
        super().__init__()
        name, dims = type(self).__name__, self._dims
        self.kernel_size = _tuple(kernel_size, dims, "kernel_size", name, ValueError)
        self.stride = _tuple(stride if stride is not None else kernel_size, dims, "stride", name, ValueError)
        self.padding = _tuple(padding, dims, "padding", name, ValueError)

    def forward(self, input: Tensor, indices: Tensor, output_size: Sequence[int] | None = None) -> Tensor:
        return type(self)._function(input, indices, self.kernel_size, self.stride, self.padding, output_size)

    def extra_repr(self) -> str:
        return f"kernel_size={self.kernel_size}, stride={self.stride}, padding={self.padding}"


class MaxUnpool1d(_MaxUnpoolNd):
    """:func:`max_unpool1d` as a layer.

    >>> import nnkit
    >>> out, idx = MaxPool1d(2, return_indices=True)(nnkit.randn(1, 2, 8))
    >>> MaxUnpool1d(2)(out, idx).shape
    (1, 2, 8)
    """

    _dims, _function = 1, staticmethod(max_unpool1d)


class MaxUnpool2d(_MaxUnpoolNd):
    """:func:`max_unpool2d` as a layer.

    >>> import nnkit
    >>> out, idx = MaxPool2d(2, return_indices=True)(nnkit.randn(1, 2, 5, 5))
    >>> MaxUnpool2d(2)(out, idx, output_size=(5, 5)).shape
    (1, 2, 5, 5)
    """

    _dims, _function = 2, staticmethod(max_unpool2d)


class MaxUnpool3d(_MaxUnpoolNd):
    """:func:`max_unpool3d` as a layer.

    >>> import nnkit
    >>> out, idx = MaxPool3d(2, return_indices=True)(nnkit.randn(1, 2, 4, 4, 4))
    >>> MaxUnpool3d(2)(out, idx).shape
    (1, 2, 4, 4, 4)
    """

    _dims, _function = 3, staticmethod(max_unpool3d)
