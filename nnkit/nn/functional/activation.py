"""Activations and softmax, as functions."""

from __future__ import annotations

import math
import warnings

from ... import autograd, ops
from ...amp import autocast_op
from ...ops.base import _make
from ...tensor import Tensor

__all__ = ["relu", "leaky_relu", "elu", "gelu", "silu", "mish", "sigmoid", "tanh", "softplus", "softmax",
           "log_softmax", "prelu"]


def _maybe_in_place(input: Tensor, inplace: bool, op: str, fn) -> Tensor:
    """``fn(input)``, or with ``inplace=True`` written into ``input`` itself and recorded
    as PyTorch records ``relu_`` (see ``Tensor._inplace``)."""
    return input._inplace(op + "_", fn) if inplace else fn(input)


def relu(input: Tensor, inplace: bool = False) -> Tensor:
    """max(x, 0); its derivative at 0 is taken as 0."""
    return _maybe_in_place(input, inplace, "relu", ops.relu)


def leaky_relu(input: Tensor, negative_slope: float = 0.01, inplace: bool = False) -> Tensor:
    """x where x > 0, else negative_slope · x."""
    return _maybe_in_place(input, inplace, "leaky_relu", lambda x: ops.where(x > 0, x, x * negative_slope))


def elu(input: Tensor, alpha: float = 1.0, inplace: bool = False) -> Tensor:
    """x where x > 0, else α (eˣ − 1)."""
    # exp of the clamped input: exp(x) of a large unused x would overflow and poison the gradient.
    return _maybe_in_place(input, inplace, "elu",
                           lambda x: ops.where(x > 0, x, alpha * (ops.exp(ops.clamp(x, max=0.0)) - 1)))


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
    mask = Tensor._wrap(linear_part)

    def backward(g):
        return (g * ops.where(mask, 1.0, ops.sigmoid(x * beta)),)
    return _make(out, (x,), backward, "Softplus")


def _softmax_dim(ndim: int, op: str) -> int:
    warnings.warn(f"Implicit dimension choice for {op} has been deprecated. Change the call to include dim=X "
                  "as an argument.", UserWarning, stacklevel=3)
    return 0 if ndim in (0, 1, 3) else 1


def softmax(input: Tensor, dim: int | None = None, dtype=None) -> Tensor:
    """e^x / Σ e^x along ``dim`` (stable: shifted by the max).

    >>> import nnkit
    >>> softmax(nnkit.tensor([[0.0, 0.0]]), dim=1)
    tensor([[0.5, 0.5]])
    """
    if dim is None:
        dim = _softmax_dim(input.ndim, "softmax")
    return ops.softmax(input if dtype is None else input.to(dtype), dim)


def log_softmax(input: Tensor, dim: int | None = None, dtype=None) -> Tensor:
    """x − logsumexp(x) along ``dim``, computed stably (never log of a rounded-to-zero softmax)."""
    if dim is None:
        dim = _softmax_dim(input.ndim, "log_softmax")
    return ops.log_softmax(input if dtype is None else input.to(dtype), dim)


@autocast_op("prelu")
def prelu(input: Tensor, weight: Tensor) -> Tensor:
    """x where x > 0, else a · x, with a learned slope per channel (dim 1) or one for all."""
    if weight.numel() != 1:
        if input.ndim < 2 or input.shape[1] != weight.numel():
            raise RuntimeError(f"prelu: {weight.numel()} slopes do not fit the {input.shape[1] if input.ndim > 1 else 1} "
                               f"channels of an input of shape {tuple(input.shape)}")
        weight = ops.reshape(weight, (-1,) + (1,) * (input.ndim - 2))
    return ops.where(input > 0, input, input * weight)
