"""Activation layers: the elementwise nonlinearities and the softmax family, as modules.

Each holds its options and calls its function in :mod:`nnkit.nn.functional`; the
options, their defaults and the ``repr`` are PyTorch's.
"""

from __future__ import annotations

import warnings
from typing import Callable

from ..tensor import empty
from ..tensor import Tensor
from . import functional as F
from . import init
from .module import Module, Parameter

__all__ = ["ReLU", "ReLU6", "LeakyReLU", "PReLU", "RReLU", "ELU", "SELU", "CELU", "GELU", "SiLU", "Mish", "Sigmoid",
           "Tanh", "Softplus", "Hardtanh", "Hardsigmoid", "Hardswish", "LogSigmoid", "Softsign", "Tanhshrink",
           "Softshrink", "Hardshrink", "Threshold", "GLU", "Softmax", "Softmin", "LogSoftmax", "Softmax2d"]


class _Elementwise(Module):
    """An activation without options: ``forward`` applies the class's ``function``."""

    function: Callable

    def forward(self, input: Tensor) -> Tensor:
        return self.function(input)


class _InPlace(Module):
    """An activation whose one option is ``inplace`` (write the result into the input)."""

    function: Callable
    _shows_inplace = True  # PyTorch's repr of Hardsigmoid and Hardswish leaves it out

    def __init__(self, inplace: bool = False):
        super().__init__()
        self.inplace = inplace

    def forward(self, input: Tensor) -> Tensor:
        return self.function(input, inplace=self.inplace)

    def extra_repr(self) -> str:
        return "inplace=True" if self.inplace and self._shows_inplace else ""


class ReLU(_InPlace):
    """max(x, 0).

    >>> import nnkit
    >>> ReLU()(nnkit.tensor([-1.0, 2.0]))
    tensor([0., 2.])
    """

    function = staticmethod(F.relu)


class SELU(_InPlace):
    """λ · ELU(x, α) with the self-normalising constants α ≈ 1.6733, λ ≈ 1.0507."""

    function = staticmethod(F.selu)


class SiLU(_InPlace):
    """x · σ(x)."""

    function = staticmethod(F.silu)


class Mish(_InPlace):
    """x · tanh(softplus(x))."""

    function = staticmethod(F.mish)


class Hardsigmoid(_InPlace):
    """0 for x ≤ −3, 1 for x ≥ 3, x/6 + 1/2 between."""

    function = staticmethod(F.hardsigmoid)
    _shows_inplace = False


class Hardswish(_InPlace):
    """x · hardsigmoid(x)."""

    function = staticmethod(F.hardswish)
    _shows_inplace = False


class LeakyReLU(Module):
    """x where x > 0, else negative_slope · x."""

    def __init__(self, negative_slope: float = 0.01, inplace: bool = False):
        super().__init__()
        self.negative_slope, self.inplace = negative_slope, inplace

    def forward(self, input: Tensor) -> Tensor:
        return F.leaky_relu(input, self.negative_slope, self.inplace)

    def extra_repr(self) -> str:
        return f"negative_slope={self.negative_slope}" + (", inplace=True" if self.inplace else "")


class RReLU(Module):
    """Randomized leaky ReLU: in training a slope drawn from [lower, upper] for each element
    x ≤ 0, in evaluation the fixed slope (lower + upper) / 2."""

    def __init__(self, lower: float = 1.0 / 8, upper: float = 1.0 / 3, inplace: bool = False):
        super().__init__()
        self.lower, self.upper, self.inplace = lower, upper, inplace

    def forward(self, input: Tensor) -> Tensor:
        return F.rrelu(input, self.lower, self.upper, self.training, self.inplace)

    def extra_repr(self) -> str:
        return f"lower={self.lower}, upper={self.upper}" + (", inplace=True" if self.inplace else "")


class _WithAlpha(Module):
    """ELU and CELU: the options ``alpha`` and ``inplace``."""

    function: Callable

    def __init__(self, alpha: float = 1.0, inplace: bool = False):
        super().__init__()
        self.alpha, self.inplace = alpha, inplace

    def forward(self, input: Tensor) -> Tensor:
        return self.function(input, self.alpha, self.inplace)

    def extra_repr(self) -> str:
        return f"alpha={self.alpha}" + (", inplace=True" if self.inplace else "")


class ELU(_WithAlpha):
    """x where x > 0, else α (eˣ − 1)."""

    function = staticmethod(F.elu)


class CELU(_WithAlpha):
    """x where x > 0, else α (e^(x/α) − 1)."""

    function = staticmethod(F.celu)


class GELU(Module):
    """x · Φ(x) (exact, with erf) or its tanh approximation (``approximate='tanh'``)."""

    def __init__(self, approximate: str = "none"):
        super().__init__()
        self.approximate = approximate

    def forward(self, input: Tensor) -> Tensor:
        return F.gelu(input, self.approximate)

    def extra_repr(self) -> str:
        return f"approximate={self.approximate!r}"


class Sigmoid(_Elementwise):
    """σ(x) = 1 / (1 + e⁻ˣ)."""

    function = staticmethod(F.sigmoid)


class Tanh(_Elementwise):
    """tanh(x), in (−1, 1)."""

    function = staticmethod(F.tanh)


class LogSigmoid(_Elementwise):
    """log σ(x), computed stably."""

    function = staticmethod(F.logsigmoid)


class Softsign(_Elementwise):
    """x / (1 + |x|)."""

    function = staticmethod(F.softsign)


class Tanhshrink(_Elementwise):
    """x − tanh(x)."""

    function = staticmethod(F.tanhshrink)


class Softplus(Module):
    """log(1 + e^(βx)) / β, linear above the threshold."""

    def __init__(self, beta: float = 1.0, threshold: float = 20.0):
        super().__init__()
        self.beta, self.threshold = beta, threshold

    def forward(self, input: Tensor) -> Tensor:
        return F.softplus(input, self.beta, self.threshold)

    def extra_repr(self) -> str:
        return f"beta={self.beta}, threshold={self.threshold}"


class Hardtanh(Module):
    """x clipped to [min_val, max_val] (gradient 0 at the bounds).

    ``min_value`` and ``max_value`` are PyTorch's deprecated names of the bounds.
    """

    def __init__(self, min_val: float = -1.0, max_val: float = 1.0, inplace: bool = False,
                 min_value: float | None = None, max_value: float | None = None):
        super().__init__()
        for old, new, value in (("min_value", "min_val", min_value), ("max_value", "max_val", max_value)):
            if value is not None:
                warnings.warn(f"keyword argument `{old}` is deprecated and renamed to `{new}`", FutureWarning,
                              stacklevel=2)
        min_val = min_val if min_value is None else min_value
        max_val = max_val if max_value is None else max_value
        if max_val <= min_val:
            raise AssertionError(f"Hardtanh: max_val ({max_val}) must be greater than min_val ({min_val})")
        self.min_val, self.max_val, self.inplace = min_val, max_val, inplace

    def forward(self, input: Tensor) -> Tensor:
        return F.hardtanh(input, self.min_val, self.max_val, self.inplace)

    def extra_repr(self) -> str:
        return f"min_val={self.min_val}, max_val={self.max_val}" + (", inplace=True" if self.inplace else "")


class ReLU6(Hardtanh):
    """min(max(x, 0), 6)."""

    def __init__(self, inplace: bool = False):
        super().__init__(0.0, 6.0, inplace)

    def extra_repr(self) -> str:
        return "inplace=True" if self.inplace else ""


class _Shrink(Module):
    """Softshrink and Hardshrink: the option ``lambd``."""

    function: Callable

    def __init__(self, lambd: float = 0.5):
        super().__init__()
        self.lambd = lambd

    def forward(self, input: Tensor) -> Tensor:
        return self.function(input, self.lambd)

    def extra_repr(self) -> str:
        return str(self.lambd)


class Softshrink(_Shrink):
    """x − λ where x > λ, x + λ where x < −λ, else 0."""

    function = staticmethod(F.softshrink)


class Hardshrink(_Shrink):
    """x where |x| > λ, else 0."""

    function = staticmethod(F.hardshrink)


class Threshold(Module):
    """x where x > threshold, else ``value``."""

    def __init__(self, threshold: float, value: float, inplace: bool = False):
        super().__init__()
        self.threshold, self.value, self.inplace = threshold, value, inplace

    def forward(self, input: Tensor) -> Tensor:
        return F.threshold(input, self.threshold, self.value, self.inplace)

    def extra_repr(self) -> str:
        return f"threshold={self.threshold}, value={self.value}" + (", inplace=True" if self.inplace else "")


class GLU(Module):
    """a · σ(b), where a and b are the halves of the input along ``dim``."""

    def __init__(self, dim: int = -1):
        super().__init__()
        self.dim = dim

    def forward(self, input: Tensor) -> Tensor:
        return F.glu(input, self.dim)

    def extra_repr(self) -> str:
        return f"dim={self.dim}"


class _AlongDim(Module):
    """The softmax family: the option ``dim``."""

    function: Callable

    def __init__(self, dim: int | None = None):
        super().__init__()
        self.dim = dim

    def forward(self, input: Tensor) -> Tensor:
        return self.function(input, self.dim)

    def extra_repr(self) -> str:
        return f"dim={self.dim}"


class Softmax(_AlongDim):
    """e^x / Σ e^x along ``dim``.

    >>> import nnkit
    >>> Softmax(dim=-1)(nnkit.zeros(1, 4))
    tensor([[0.2500, 0.2500, 0.2500, 0.2500]])
    """

    function = staticmethod(F.softmax)


class Softmin(_AlongDim):
    """softmax(−x) along ``dim``."""

    function = staticmethod(F.softmin)


class LogSoftmax(_AlongDim):
    """x − logsumexp(x) along ``dim`` (pair it with ``NLLLoss``)."""

    function = staticmethod(F.log_softmax)


class Softmax2d(Module):
    """Softmax over the channels (dim −3) at each location of a (N, C, H, W) or (C, H, W) input."""

    def forward(self, input: Tensor) -> Tensor:
        if input.ndim not in (3, 4):
            raise ValueError(f"Softmax2d: expected input to be 3D or 4D, got {input.ndim}D instead")
        return F.softmax(input, -3)


class PReLU(Module):
    """x where x > 0, else a · x, with a learned slope ``weight`` (one, or one per channel), initially ``init``."""

    def __init__(self, num_parameters: int = 1, init: float = 0.25, device=None, dtype=None):
        super().__init__()
        self.num_parameters, self.init = num_parameters, init
        self.weight = Parameter(empty(num_parameters, device=device, dtype=dtype))
        self.reset_parameters()

    def reset_parameters(self) -> None:
        init.constant_(self.weight, self.init)

    def forward(self, input: Tensor) -> Tensor:
        return F.prelu(input, self.weight)

    def extra_repr(self) -> str:
        return f"num_parameters={self.num_parameters}"
