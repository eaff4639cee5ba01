"""Convolution layers (chapter 07): ``Conv1d``, ``Conv2d``, ``Conv3d``, ``ConvTranspose1d``,
``ConvTranspose2d``, ``ConvTranspose3d``, and ``Unfold`` / ``Fold`` (im2col and col2im as layers).

The computation (im2col, and why) is in :mod:`nnkit.nn.functional.conv`.
"""

from __future__ import annotations

import math
from typing import Sequence

from ..tensor import Tensor, empty
from . import functional as F
from . import init
from .functional.conv import (IntOrTuple, _padding, _tuple, conv1d, conv2d, conv3d, conv_transpose1d, conv_transpose2d,
                              conv_transpose3d, fold, unfold)
from .module import Module, Parameter, check_sizes


class _ConvNd(Module):
    """What every convolution layer shares: the hyper-parameters, PyTorch's initialisation, the repr.
    A subclass names its number of spatial dims (``_dims``) and its function (``_function``)."""

    _dims: int

    def __init__(self, in_channels: int, out_channels: int, kernel_size: IntOrTuple, stride: IntOrTuple,
                 padding, dilation: IntOrTuple, groups: int, bias: bool, padding_mode: str, transposed: bool,
                 output_padding: IntOrTuple, device, dtype):
        super().__init__()
        name, dims = type(self).__name__, self._dims
        check_sizes(name, in_channels=in_channels, out_channels=out_channels)
        check_sizes(name, 1, groups=groups)
        if in_channels % groups or out_channels % groups:
            raise ValueError(f"{name}: in_channels ({in_channels}) and out_channels ({out_channels}) must be "
                             f"divisible by groups ({groups})")
        if padding_mode not in ("zeros", "reflect", "replicate", "circular"):
            raise ValueError(f"{name}: padding_mode must be 'zeros', 'reflect', 'replicate' or 'circular', "
                             f"got {padding_mode!r}")
        self.in_channels, self.out_channels, self.groups = in_channels, out_channels, groups
        self.kernel_size = _tuple(kernel_size, dims, "kernel_size", name, ValueError)
        check_sizes(name, 1, **{f"kernel_size[{i}]": k for i, k in enumerate(self.kernel_size)})
        self.stride = _tuple(stride, dims, "stride", name, ValueError)
        self.dilation = _tuple(dilation, dims, "dilation", name, ValueError)
        if isinstance(padding, str):
            _padding(padding, self.kernel_size, self.stride, self.dilation, name, ValueError)  # validate now
            self.padding = padding
        else:
            self.padding = _tuple(padding, dims, "padding", name, ValueError)
        self.output_padding = _tuple(output_padding, dims, "output_padding", name, ValueError)
        self.padding_mode, self.transposed = padding_mode, transposed
        shape = (in_channels, out_channels // groups) if transposed else (out_channels, in_channels // groups)
        self.weight = Parameter(empty(shape + self.kernel_size, dtype=dtype, device=device))
        if bias:
            self.bias = Parameter(empty(out_channels, dtype=dtype, device=device))
        else:
            self.register_parameter("bias", None)
        self.reset_parameters()

    def reset_parameters(self) -> None:
        """PyTorch's default: weight and bias from U(−1/√fan_in, 1/√fan_in), where fan_in is
        ``weight.shape[1]·Πkernel_size`` (kaiming_uniform_ with a = √5 gives that bound)."""
        init.kaiming_uniform_(self.weight, a=math.sqrt(5))
        if self.bias is not None:
            fan_in = self.weight.shape[1] * math.prod(self.kernel_size)
            bound = 1 / math.sqrt(fan_in) if fan_in > 0 else 0
            init.uniform_(self.bias, -bound, bound)

    def extra_repr(self) -> str:
        """As PyTorch's: the options that differ from their defaults."""
        s = f"{self.in_channels}, {self.out_channels}, kernel_size={self.kernel_size}, stride={self.stride}"
        if self.padding != (0,) * len(self.padding):
            s += f", padding={self.padding}"
        if self.dilation != (1,) * len(self.dilation):
            s += f", dilation={self.dilation}"
        if self.output_padding != (0,) * len(self.output_padding):
            s += f", output_padding={self.output_padding}"
        if self.groups != 1:
            s += f", groups={self.groups}"
        if self.bias is None:
            s += ", bias=False"
        if self.padding_mode != "zeros":
            s += f", padding_mode={self.padding_mode}"
        return s


class _Conv(_ConvNd):
    """Conv1d, Conv2d and Conv3d: the same layer over 1, 2 or 3 spatial dims."""

    def __init__(self, in_channels: int, out_channels: int, kernel_size: IntOrTuple, stride: IntOrTuple = 1,
                 padding: IntOrTuple | str = 0, dilation: IntOrTuple = 1, groups: int = 1, bias: bool = True,
                 padding_mode: str = "zeros", device=None, dtype=None):
        super().__init__(in_channels, out_channels, kernel_size, stride, padding, dilation, groups, bias,
                         padding_mode, False, 0, device, dtype)

    def forward(self, input: Tensor) -> Tensor:
        convolve = type(self)._function
        if self.padding_mode == "zeros":
            return convolve(input, self.weight, self.bias, self.stride, self.padding, self.dilation, self.groups)
        pads = _padding(self.padding, self.kernel_size, self.stride, self.dilation, type(self).__name__)
        amounts = tuple(amount for before_after in reversed(pads) for amount in before_after)  # last dim first
        padded = F.pad(input, amounts, mode=self.padding_mode)
        return convolve(padded, self.weight, self.bias, self.stride, 0, self.dilation, self.groups)


class Conv1d(_Conv):
    """A 1-d convolution layer over (N, C, L) sequences: :func:`conv1d` with a learned weight
    (out, in/groups, k) and bias. The options are :class:`Conv2d`'s.

    >>> import nnkit
    >>> Conv1d(4, 8, kernel_size=3, padding="same")(nnkit.randn(2, 4, 50)).shape
    (2, 8, 50)
    """

    _dims, _function = 1, staticmethod(conv1d)


class Conv2d(_Conv):
    """A 2-d convolution layer: :func:`conv2d` with a learned weight (out, in/groups, kh, kw) and bias.

    ``padding_mode`` ('zeros', 'reflect', 'replicate' or 'circular') says what the padding
    is filled with; it never changes the output size, only ``padding`` does.

    >>> import nnkit
    >>> Conv2d(3, 8, kernel_size=3, padding=1)(nnkit.randn(2, 3, 16, 16)).shape
    (2, 8, 16, 16)
    """

    _dims, _function = 2, staticmethod(conv2d)


class Conv3d(_Conv):
    """A 3-d convolution layer over (N, C, D, H, W) volumes (or videos): :func:`conv3d` with a
    learned weight (out, in/groups, kd, kh, kw) and bias. The options are :class:`Conv2d`'s.

    >>> import nnkit
    >>> Conv3d(2, 4, kernel_size=3, stride=2, padding=1)(nnkit.randn(1, 2, 8, 8, 8)).shape
    (1, 4, 4, 4, 4)
    """

    _dims, _function = 3, staticmethod(conv3d)


class _ConvTranspose(_ConvNd):
    """ConvTranspose1d, 2d and 3d: the same layer over 1, 2 or 3 spatial dims."""

    def __init__(self, in_channels: int, out_channels: int, kernel_size: IntOrTuple, stride: IntOrTuple = 1,
                 padding: IntOrTuple = 0, output_padding: IntOrTuple = 0, groups: int = 1, bias: bool = True,
                 dilation: IntOrTuple = 1, padding_mode: str = "zeros", device=None, dtype=None):
        name = type(self).__name__
        if padding_mode != "zeros":
            raise ValueError(f'Only "zeros" padding mode is supported for {name}, got {padding_mode!r}')
        if isinstance(padding, str):
            raise ValueError(f"{name}: padding must be an int or a tuple, got {padding!r}")
        super().__init__(in_channels, out_channels, kernel_size, stride, padding, dilation, groups, bias,
                         padding_mode, True, output_padding, device, dtype)

    def _output_padding(self, input: Tensor, output_size) -> tuple:
        """The output_padding that gives ``output_size`` (the spatial sizes, or with the batch and
        channel dims in front), as PyTorch's: it must lie within a stride of the smallest size."""
        if output_size is None:
            return self.output_padding
        dims, name = self._dims, type(self).__name__
        size = tuple(output_size)
        non_spatial = 2 if input.ndim == dims + 2 else 1
        if len(size) == non_spatial + dims:
            size = size[non_spatial:]
        if len(size) != dims:
            raise ValueError(f"{name}: output_size must have {dims} or {non_spatial + dims} elements, got "
                             f"{tuple(output_size)}")
        smallest = tuple((n - 1) * s - 2 * p + d * (k - 1) + 1 for n, s, p, d, k in
                         zip(input.shape[-dims:], self.stride, self.padding, self.dilation, self.kernel_size))
        largest = tuple(m + s - 1 for m, s in zip(smallest, self.stride))
        if any(not lo <= o <= hi for o, lo, hi in zip(size, smallest, largest)):
            raise ValueError(f"{name}: requested an output size of {size}, but valid sizes range from "
                             f"{smallest} to {largest} (for an input of shape {tuple(input.shape)})")
        return tuple(o - m for o, m in zip(size, smallest))

    def forward(self, input: Tensor, output_size: Sequence[int] | None = None) -> Tensor:
        return type(self)._function(input, self.weight, self.bias, self.stride, self.padding,
                                    self._output_padding(input, output_size), self.groups, self.dilation)


class ConvTranspose1d(_ConvTranspose):
    """A 1-d transposed convolution layer (learned upsampling of sequences): :func:`conv_transpose1d`
    with a learned weight (in, out/groups, k) and bias. The options are :class:`ConvTranspose2d`'s.

    >>> import nnkit
    >>> ConvTranspose1d(8, 4, kernel_size=4, stride=2, padding=1)(nnkit.randn(2, 8, 25)).shape
    (2, 4, 50)
    """

    _dims, _function = 1, staticmethod(conv_transpose1d)


class ConvTranspose2d(_ConvTranspose):
    """A transposed convolution layer (learned upsampling): :func:`conv_transpose2d` with a
    learned weight (in, out/groups, kh, kw) and bias.

    ``forward(input, output_size=None)``: ``output_size`` (H, W), or (N, C, H, W), picks the
    output size among those a strided conv2d would map back to the input's size.

    >>> import nnkit
    >>> ConvTranspose2d(8, 3, kernel_size=2, stride=2)(nnkit.randn(1, 8, 7, 7)).shape
    (1, 3, 14, 14)
    """

    _dims, _function = 2, staticmethod(conv_transpose2d)


class ConvTranspose3d(_ConvTranspose):
    """A 3-d transposed convolution layer: :func:`conv_transpose3d` with a learned weight
    (in, out/groups, kd, kh, kw) and bias. The options are :class:`ConvTranspose2d`'s.

    >>> import nnkit
    >>> ConvTranspose3d(4, 2, kernel_size=2, stride=2)(nnkit.randn(1, 4, 3, 3, 3)).shape
    (1, 2, 6, 6, 6)
    """

    _dims, _function = 3, staticmethod(conv_transpose3d)


class Unfold(Module):
    """:func:`unfold` (im2col) as a layer: every ``kernel_size`` window of an (N, C, H, W) input
    as a column of an (N, C·kh·kw, L) output.

    >>> import nnkit
    >>> Unfold(kernel_size=3, padding=1)(nnkit.randn(2, 5, 4, 6)).shape
    (2, 45, 24)
    """

    def __init__(self, kernel_size: IntOrTuple, dilation: IntOrTuple = 1, padding: IntOrTuple = 0,
                 stride: IntOrTuple = 1):
        super().__init__()
        self.kernel_size, self.dilation, self.padding, self.stride = kernel_size, dilation, padding, stride

    def forward(self, input: Tensor) -> Tensor:
        return unfold(input, self.kernel_size, self.dilation, self.padding, self.stride)

    def extra_repr(self) -> str:
        return (f"kernel_size={self.kernel_size}, dilation={self.dilation}, padding={self.padding}, "
                f"stride={self.stride}")


class Fold(Module):
    """:func:`fold` (col2im) as a layer: columns (N, C·kh·kw, L) added back onto their windows of
    an (N, C, *output_size) output.

    >>> import nnkit
    >>> Fold(output_size=(4, 5), kernel_size=2)(nnkit.randn(1, 12, 12)).shape
    (1, 3, 4, 5)
    """

    def __init__(self, output_size: IntOrTuple, kernel_size: IntOrTuple, dilation: IntOrTuple = 1,
                 padding: IntOrTuple = 0, stride: IntOrTuple = 1):
        super().__init__()
        self.output_size, self.kernel_size = output_size, kernel_size
        self.dilation, self.padding, self.stride = dilation, padding, stride

    def forward(self, input: Tensor) -> Tensor:
        return fold(input, self.output_size, self.kernel_size, self.dilation, self.padding, self.stride)

    def extra_repr(self) -> str:
        return (f"output_size={self.output_size}, kernel_size={self.kernel_size}, dilation={self.dilation}, "
                f"padding={self.padding}, stride={self.stride}")
