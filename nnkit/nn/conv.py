"""Convolution layers (chapter 07): ``Conv2d`` and ``ConvTranspose2d``.

The computation (im2col, and why) is in :mod:`nnkit.nn.functional.conv`.
"""

from __future__ import annotations

import math
from typing import Sequence

from ..tensor import Tensor, empty
from . import functional as F
from . import init
from .functional.conv import IntOrPair, _pair, _padding, conv2d, conv_transpose2d
from .module import Module, Parameter, check_sizes


class _ConvBase(Module):
    """What Conv2d and ConvTranspose2d share: the hyper-parameters, PyTorch's initialisation, the repr."""

    def __init__(self, in_channels: int, out_channels: int, kernel_size: IntOrPair, stride: IntOrPair,
                 padding, dilation: IntOrPair, groups: int, bias: bool, padding_mode: str, transposed: bool,
                 output_padding: IntOrPair, device, dtype):
        super().__init__()
        name = type(self).__name__
        check_sizes(name, in_channels=in_channels, out_channels=out_channels)
        check_sizes(name, 1, groups=groups)
        if in_channels % groups or out_channels % groups:
            raise ValueError(f"{name}: in_channels ({in_channels}) and out_channels ({out_channels}) must be "
                             f"divisible by groups ({groups})")
        if padding_mode not in ("zeros", "reflect", "replicate", "circular"):
            raise ValueError(f"{name}: padding_mode must be 'zeros', 'reflect', 'replicate' or 'circular', "
                             f"got {padding_mode!r}")
        self.in_channels, self.out_channels, self.groups = in_channels, out_channels, groups
        self.kernel_size = _pair(kernel_size, "kernel_size", name)
        check_sizes(name, 1, **{f"kernel_size[{i}]": k for i, k in enumerate(self.kernel_size)})
        self.stride, self.dilation = _pair(stride, "stride", name), _pair(dilation, "dilation", name)
        if isinstance(padding, str):
            _padding(padding, self.kernel_size, self.stride, self.dilation, name)  # validate now
            self.padding = padding
        else:
            self.padding = _pair(padding, "padding", name)
        self.output_padding = _pair(output_padding, "output_padding", name)
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
        ``weight.shape[1]·kh·kw`` (kaiming_uniform_ with a = √5 gives that bound)."""
        init.kaiming_uniform_(self.weight, a=math.sqrt(5))
        if self.bias is not None:
            fan_in = self.weight.shape[1] * self.kernel_size[0] * self.kernel_size[1]
            bound = 1 / math.sqrt(fan_in) if fan_in > 0 else 0
            init.uniform_(self.bias, -bound, bound)

    def extra_repr(self) -> str:
        s = f"{self.in_channels}, {self.out_channels}, kernel_size={self.kernel_size}, stride={self.stride}"
        if self.padding != (0, 0):
            s += f", padding={self.padding!r}"
        if self.dilation != (1, 1):
            s += f", dilation={self.dilation}"
        if self.output_padding != (0, 0):
            s += f", output_padding={self.output_padding}"
        if self.groups != 1:
            s += f", groups={self.groups}"
        if self.bias is None:
            s += ", bias=False"
        if self.padding_mode != "zeros":
            s += f", padding_mode={self.padding_mode!r}"
        return s


class Conv2d(_ConvBase):
    """A 2-d convolution layer: :func:`conv2d` with a learned weight (out, in/groups, kh, kw) and bias.

    ``padding_mode`` ('zeros', 'reflect', 'replicate' or 'circular') says what the padding
    is filled with; it never changes the output size, only ``padding`` does.

    >>> import nnkit
    >>> Conv2d(3, 8, kernel_size=3, padding=1)(nnkit.randn(2, 3, 16, 16)).shape
    (2, 8, 16, 16)
    """

    def __init__(self, in_channels: int, out_channels: int, kernel_size: IntOrPair, stride: IntOrPair = 1,
                 padding: IntOrPair | str = 0, dilation: IntOrPair = 1, groups: int = 1, bias: bool = True,
                 padding_mode: str = "zeros", device=None, dtype=None):
        super().__init__(in_channels, out_channels, kernel_size, stride, padding, dilation, groups, bias,
                         padding_mode, False, 0, device, dtype)

    def forward(self, input: Tensor) -> Tensor:
        if self.padding_mode == "zeros":
            return conv2d(input, self.weight, self.bias, self.stride, self.padding, self.dilation, self.groups)
        (top, bottom), (left, right) = _padding(self.padding, self.kernel_size, self.stride, self.dilation,
                                                "Conv2d")
        padded = F.pad(input, (left, right, top, bottom), mode=self.padding_mode)
        return conv2d(padded, self.weight, self.bias, self.stride, 0, self.dilation, self.groups)


class ConvTranspose2d(_ConvBase):
    """A transposed convolution layer (learned upsampling): :func:`conv_transpose2d` with a
    learned weight (in, out/groups, kh, kw) and bias.

    ``forward(input, output_size=None)``: ``output_size`` (H, W), or (N, C, H, W), picks the
    output size among those a strided conv2d would map back to the input's size.

    >>> import nnkit
    >>> ConvTranspose2d(8, 3, kernel_size=2, stride=2)(nnkit.randn(1, 8, 7, 7)).shape
    (1, 3, 14, 14)
    """

    def __init__(self, in_channels: int, out_channels: int, kernel_size: IntOrPair, stride: IntOrPair = 1,
                 padding: IntOrPair = 0, output_padding: IntOrPair = 0, groups: int = 1, bias: bool = True,
                 dilation: IntOrPair = 1, padding_mode: str = "zeros", device=None, dtype=None):
        if padding_mode != "zeros":
            raise ValueError(f'Only "zeros" padding mode is supported for ConvTranspose2d, got {padding_mode!r}')
        if isinstance(padding, str):
            raise ValueError(f"ConvTranspose2d: padding must be an int or a pair, got {padding!r}")
        super().__init__(in_channels, out_channels, kernel_size, stride, padding, dilation, groups, bias,
                         padding_mode, True, output_padding, device, dtype)

    def _output_padding(self, input: Tensor, output_size) -> tuple[int, int]:
        if output_size is None:
            return self.output_padding
        size = tuple(output_size)[-2:]
        smallest = tuple((n - 1) * s - 2 * p + d * (k - 1) + 1 for n, s, p, d, k in
                         zip(input.shape[-2:], self.stride, self.padding, self.dilation, self.kernel_size))
        largest = tuple(m + max(s, d) - 1 for m, s, d in zip(smallest, self.stride, self.dilation))
        if any(not lo <= o <= hi for o, lo, hi in zip(size, smallest, largest)):
            raise ValueError(f"ConvTranspose2d: requested an output size of {size}, but valid sizes range from "
                             f"{smallest} to {largest} (for an input of shape {tuple(input.shape)})")
        return tuple(o - m for o, m in zip(size, smallest))

    def forward(self, input: Tensor, output_size: Sequence[int] | None = None) -> Tensor:
        return conv_transpose2d(input, self.weight, self.bias, self.stride, self.padding,
                                self._output_padding(input, output_size), self.groups, self.dilation)
