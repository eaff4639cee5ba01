"""Activations and softmax, as functions."""

from __future__ import annotations

import math
import warnings

from ... import autograd, backend, ops
from ...amp import autocast_op
from ...ops.base import _dim, _make
from ...tensor import Tensor, zeros_like

__all__ = ["relu", "relu_", "relu6", "leaky_relu", "leaky_relu_", "elu", "elu_", "selu", "selu_", "celu", "celu_",
           "gelu", "silu", "mish", "sigmoid", "tanh", "softplus", "softmax", "log_softmax", "softmin", "prelu",
           "rrelu", "rrelu_", "hardtanh", "hardtanh_", "hardsigmoid", "hardswish", "logsigmoid", "softsign",
           "tanhshrink", "softshrink", "hardshrink", "threshold", "threshold_", "glu"]


def _maybe_in_place(input: Tensor, inplace: bool, op: str, fn) -> Tensor:
    """``fn(input)``, or with ``inplace=True`` written into ``input`` itself and recorded
    as PyTorch records ``relu_`` (see ``Tensor._inplace``)."""
    return input._inplace(op + "_", fn) if inplace else fn(input)


def relu(input: Tensor, inplace: bool = False) -> Tensor:
    """max(x, 0); its derivative at 0 is taken as 0."""
    return _maybe_in_place(input, inplace, "relu", ops.relu)


def relu_(input: Tensor) -> Tensor:
    return relu(input, inplace=True)


def _piecewise_linear(x: Tensor, out, slope, name: str) -> Tensor:
    """One op for the ReLU family: its output is the array ``out`` and its derivative the
    array ``slope`` (constant between the kinks, and PyTorch's value at each kink).

    Under ``create_graph`` the slope is recorded as a function of x whose derivative is
    zero, so a gradient penalty through the op gets zeros, as in PyTorch, rather than a
    graph that does not reach x.
    """
    if x.dtype.kind == "f":
        out, slope = out.astype(x.dtype, copy=False), slope.astype(x.dtype, copy=False)

    def backward(g):
        if autograd.is_grad_enabled():
            return (g * _make(slope, (x,), lambda _: (zeros_like(x),), name + "Slope", ()),)
        return (g * Tensor._wrap(slope),)
    return _make(out, (x,), backward, name, ())


def _float_array(x: Tensor):
    return x.array if x.dtype.kind == "f" else x.array.astype(backend.get_default_dtype())


def hardtanh(input: Tensor, min_val: float = -1.0, max_val: float = 1.0, inplace: bool = False) -> Tensor:
    """x clipped to [min_val, max_val]; the gradient is 1 strictly inside, 0 at the bounds and
    beyond (``clamp`` passes it at the bounds), as in PyTorch."""
    if min_val > max_val:
        raise ValueError(f"hardtanh: min_val cannot be greater than max_val, got {min_val} > {max_val}")

    def fn(x):
        a = x.array
        return _piecewise_linear(x, x._xp.clip(a, min_val, max_val), (a > min_val) & (a < max_val), "Hardtanh")
    return _maybe_in_place(input, inplace, "hardtanh", fn)


def hardtanh_(input: Tensor, min_val: float = -1.0, max_val: float = 1.0) -> Tensor:
    return hardtanh(input, min_val, max_val, inplace=True)


def relu6(input: Tensor, inplace: bool = False) -> Tensor:
    """min(max(x, 0), 6): ``hardtanh`` on [0, 6], so the gradient is 0 at 0 and at 6."""
    return hardtanh(input, 0.0, 6.0, inplace)


def hardsigmoid(input: Tensor, inplace: bool = False) -> Tensor:
    """A piecewise-linear sigmoid: 0 for x ≤ −3, 1 for x ≥ 3, x/6 + 1/2 between."""
    def fn(x):
        a = _float_array(x)
        return _piecewise_linear(x, x._xp.clip(a / 6 + 0.5, 0, 1), ((a > -3) & (a < 3)) / 6, "Hardsigmoid")
    return _maybe_in_place(input, inplace, "hardsigmoid", fn)


def hardswish(input: Tensor, inplace: bool = False) -> Tensor:
    """x · hardsigmoid(x) (MobileNetV3): 0 for x ≤ −3, x for x ≥ 3, x (x + 3) / 6 between."""
    return _maybe_in_place(input, inplace, "hardswish", lambda x: x * hardsigmoid(x))


def _threshold(x: Tensor, threshold: float, value: float) -> Tensor:
    a = x.array
    return _piecewise_linear(x, x._xp.where(a > threshold, a, value), a > threshold, "Threshold")


def threshold(input: Tensor, threshold: float, value: float, inplace: bool = False) -> Tensor:
    """x where x > threshold, else ``value``."""
    return _maybe_in_place(input, inplace, "threshold", lambda x: _threshold(x, threshold, value))


def threshold_(input: Tensor, threshold: float, value: float) -> Tensor:
    return _maybe_in_place(input, True, "threshold", lambda x: _threshold(x, threshold, value))


def _leaky(x: Tensor, slope, name: str) -> Tensor:
    """x where x > 0, else slope · x (slope a number or an array of x's shape)."""
    a = x.array
    positive = a > 0
    return _piecewise_linear(x, x._xp.where(positive, a, a * slope), x._xp.where(positive, 1, slope), name)


def leaky_relu(input: Tensor, negative_slope: float = 0.01, inplace: bool = False) -> Tensor:
    """x where x > 0, else negative_slope · x."""
    return _maybe_in_place(input, inplace, "leaky_relu", lambda x: _leaky(x, negative_slope, "LeakyRelu"))


def leaky_relu_(input: Tensor, negative_slope: float = 0.01) -> Tensor:
    return leaky_relu(input, negative_slope, inplace=True)


def rrelu(input: Tensor, lower: float = 1.0 / 8, upper: float = 1.0 / 3, training: bool = False,
          inplace: bool = False) -> Tensor:
    """Randomized leaky ReLU: in training each element x ≤ 0 gets its own slope drawn
    uniformly from [lower, upper] (nnkit's seeded generator); otherwise the slope is
    (lower + upper) / 2 for all."""
    if lower > upper:
        raise RuntimeError(f"rrelu: lower bound {lower} should be less than or equal to the upper bound {upper}")
    if not training:
        return leaky_relu(input, (lower + upper) / 2, inplace)
    slopes = backend.to_module(backend.rng(None).uniform(lower, upper, input.shape).astype(input.dtype),
                               input._xp)
    return _maybe_in_place(input, inplace, "rrelu", lambda x: _leaky(x, slopes, "Rrelu"))


def rrelu_(input: Tensor, lower: float = 1.0 / 8, upper: float = 1.0 / 3, training: bool = False) -> Tensor:
    return rrelu(input, lower, upper, training, inplace=True)


def _elu(x: Tensor, alpha: float, scale: float = 1.0, input_scale: float = 1.0) -> Tensor:
    """scale · (x where x > 0, else α (e^(x · input_scale) − 1)): ELU, SELU and CELU."""
    # exp of the clamped input: exp(x) of a large unused x would overflow and poison the gradient.
    out = ops.where(x > 0, x, alpha * (ops.exp(ops.clamp(x * input_scale, max=0.0)) - 1))
    return out if scale == 1.0 else out * scale


def elu(input: Tensor, alpha: float = 1.0, inplace: bool = False) -> Tensor:
    """x where x > 0, else α (eˣ − 1)."""
    return _maybe_in_place(input, inplace, "elu", lambda x: _elu(x, alpha))


def elu_(input: Tensor, alpha: float = 1.0) -> Tensor:
    return elu(input, alpha, inplace=True)


_SELU_ALPHA = 1.6732632423543772848170429916717
_SELU_SCALE = 1.0507009873554804934193349852946


def selu(input: Tensor, inplace: bool = False) -> Tensor:
    """λ · ELU(x, α) with the self-normalising constants α ≈ 1.6733, λ ≈ 1.0507."""
    return _maybe_in_place(input, inplace, "selu", lambda x: _elu(x, _SELU_ALPHA, _SELU_SCALE))


def selu_(input: Tensor) -> Tensor:
    return selu(input, inplace=True)


def celu(input: Tensor, alpha: float = 1.0, inplace: bool = False) -> Tensor:
    """x where x > 0, else α (e^(x/α) − 1): an ELU whose slope at 0 is 1 for every α."""
    if alpha == 0:
        raise RuntimeError("celu: alpha cannot be 0 (it divides the input)")
    return _maybe_in_place(input, inplace, "celu", lambda x: _elu(x, alpha, input_scale=1.0 / alpha))


def celu_(input: Tensor, alpha: float = 1.0) -> Tensor:
    return celu(input, alpha, inplace=True)


_SQRT_2_OVER_PI = math.sqrt(2.0 / math.pi)


def gelu(input: Tensor, approximate: str = "none") -> Tensor:
    """x · Φ(x), Φ the standard normal CDF: 0.5 x (1 + erf(x / √2)); with
    ``approximate='tanh'``, 0.5 x (1 + tanh(√(2/π) (x + 0.044715 x³))).

    One op with a fused backward (its graph would otherwise be seven ops deep) that
    reuses the forward's Φ(x): d/dx = Φ(x) + x φ(x).
    """
    if approximate not in ("none", "tanh"):
        raise ValueError(f"gelu: approximate must be 'none' or 'tanh', got {approximate!r}")
    x = input if input.dtype.kind == "f" else input.float()
    a = x.array
    xp = x._xp
    if approximate == "none":
        cdf = 0.5 * (1 + ops.elementwise._erf_array(a * (1 / math.sqrt(2))))
    else:
        cdf = 0.5 * (1 + xp.tanh(_SQRT_2_OVER_PI * (a + 0.044715 * a ** 3)))

    def backward(g):
        if autograd.is_grad_enabled():  # building a graph: the derivative as ops of x
            if approximate == "none":
                phi = 0.5 * (1 + ops.erf(x * (1 / math.sqrt(2))))
                return (g * (phi + x * ops.exp(-0.5 * x * x) * (1 / math.sqrt(2 * math.pi))),)
            t = ops.tanh(_SQRT_2_OVER_PI * (x + 0.044715 * x * x * x))
            return (g * (0.5 * (1 + t) + 0.5 * x * (1 - t * t) * _SQRT_2_OVER_PI * (1 + 3 * 0.044715 * x * x)),)
        if approximate == "none":
            slope = cdf + a * xp.exp(-0.5 * a * a) * (1 / math.sqrt(2 * math.pi))
        else:
            t = 2 * cdf - 1
            slope = cdf + 0.5 * a * (1 - t * t) * _SQRT_2_OVER_PI * (1 + 3 * 0.044715 * a * a)
        return (g * Tensor._wrap(slope.astype(a.dtype, copy=False)),)
    return _make((a * cdf).astype(a.dtype, copy=False), (x,), backward, "Gelu")


def silu(input: Tensor, inplace: bool = False) -> Tensor:
    """x · σ(x) (also called swish)."""
    return _maybe_in_place(input, inplace, "silu", lambda x: x * ops.sigmoid(x))


def mish(input: Tensor, inplace: bool = False) -> Tensor:
    """x · tanh(softplus(x))."""
    return _maybe_in_place(input, inplace, "mish", lambda x: x * ops.tanh(softplus(x)))


def sigmoid(input: Tensor) -> Tensor:
    """σ(x) = 1 / (1 + e⁻ˣ)."""
    return ops.sigmoid(input)


def tanh(input: Tensor) -> Tensor:
    """tanh(x) = (eˣ − e⁻ˣ) / (eˣ + e⁻ˣ)."""
    return ops.tanh(input)


def softplus(input: Tensor, beta: float = 1.0, threshold: float = 20.0) -> Tensor:
    """log(1 + e^(βx)) / β, and x itself where βx > threshold (as PyTorch).

    One op with a fused backward, σ(βx): the stable form max(βx, 0) + log1p(e^-|βx|)
    written with ops would give a wrong gradient at exactly 0 (|x| has slope 0 there).
    """
    x = input if input.dtype.kind == "f" else input.float()
    xp = x._xp
    bx = x.array * beta
    linear_part = bx > threshold
    soft = (xp.maximum(bx, 0) + xp.log1p(xp.exp(-xp.abs(bx)))) / beta
    out = xp.where(linear_part, x.array, soft).astype(x.dtype, copy=False)
    linear, below = Tensor._wrap(linear_part), Tensor._wrap(bx < threshold)

    def backward(g):
        # The slope σ(βx) depends on x only below the threshold, so the second
        # derivative is 0 from the threshold on, as PyTorch's.
        x_below = ops.where(below, x, x.detach())
        return (g * ops.where(linear, 1.0, ops.sigmoid(x_below * beta)),)
    return _make(out, (x,), backward, "Softplus")


def logsigmoid(input: Tensor) -> Tensor:
    """log σ(x) = −softplus(−x), computed stably for any x (no threshold)."""
    return -softplus(-input, 1.0, math.inf)


def softsign(input: Tensor) -> Tensor:
    """x / (1 + |x|)."""
    return input / (1 + ops.abs(input))


def tanhshrink(input: Tensor) -> Tensor:
    """x − tanh(x)."""
    return input - ops.tanh(input)


def softshrink(input: Tensor, lambd: float = 0.5) -> Tensor:
    """x − λ where x > λ, x + λ where x < −λ, else 0."""
    if lambd < 0:
        raise RuntimeError(f"softshrink: lambda must be greater than or equal to 0, but found {lambd}")
    a = input.array
    kept = input._xp.abs(a) > lambd
    return _piecewise_linear(input, input._xp.where(kept, a - lambd * input._xp.sign(a), 0), kept, "Softshrink")


def hardshrink(input: Tensor, lambd: float = 0.5) -> Tensor:
    """x where |x| > λ, else 0."""
    kept = input._xp.abs(input.array) > lambd
    return _piecewise_linear(input, input._xp.where(kept, input.array, 0), kept, "Hardshrink")


def glu(input: Tensor, dim: int = -1) -> Tensor:
    """The gated linear unit a · σ(b), where a and b are the two halves of ``input`` along ``dim``."""
    if input.ndim == 0:
        raise RuntimeError("glu does not support scalars because halving size must be even")
    d = _dim(dim, input.ndim, "glu")
    if input.shape[d] % 2:
        raise RuntimeError(f"glu: Halving dimension must be even, but dimension {d} is size {input.shape[d]}")
    a, b = ops.split(input, input.shape[d] // 2, d)
    return a * ops.sigmoid(b)


def _softmax_dim(ndim: int, op: str) -> int:
    warnings.warn(f"Implicit dimension choice for {op} has been deprecated. Change the call to include dim=X "
                  "as an argument.", UserWarning, stacklevel=3)
    return 0 if ndim in (0, 1, 3) else 1


def softmax(input: Tensor, dim: int | None = None, dtype=None) -> Tensor:
    """e^x / Σ e^x along ``dim`` (stable: shifted by the max).

    >>> import nnkit
    >>> softmax(nnkit.tensor([[0.0, 0.0]]), dim=1)
    tensor([[0.5000, 0.5000]])
    """
    if dim is None:
        dim = _softmax_dim(input.ndim, "softmax")
    return ops.softmax(input if dtype is None else input.to(dtype), dim)


def softmin(input: Tensor, dim: int | None = None, _stacklevel: int = 3, dtype=None) -> Tensor:
    """softmax(−x) along ``dim``: the largest weight goes to the smallest value."""
    if dim is None:
        dim = _softmax_dim(input.ndim, "softmin")
    return ops.softmax(-(input if dtype is None else input.to(dtype)), dim)


def log_softmax(input: Tensor, dim: int | None = None, dtype=None) -> Tensor:
    """x − logsumexp(x) along ``dim``, computed stably (never log of a rounded-to-zero softmax)."""
    if dim is None:
        dim = _softmax_dim(input.ndim, "log_softmax")
    return ops.log_softmax(input if dtype is None else input.to(dtype), dim)


@autocast_op("prelu")
def prelu(input: Tensor, weight: Tensor) -> Tensor:
    """x where x > 0, else a · x, with a learned slope per channel (dim 1; an input of fewer
    than 2 dims has one channel) or one for all."""
    if weight.ndim > 1:
        raise RuntimeError(f"prelu: expected weight to be a scalar or 1-D tensor, got shape {tuple(weight.shape)}")
    if weight.numel() != 1:
        channels = input.shape[1] if input.ndim > 1 else 1
        if channels != weight.numel():
            raise RuntimeError(f"prelu: mismatch of parameter numbers and input channel size: {weight.numel()} "
                               f"slopes for the {channels} channels of an input of shape {tuple(input.shape)}")
        weight = ops.reshape(weight, (-1,) + (1,) * (input.ndim - 2))
    return ops.where(input > 0, input, input * weight)
