"""Normalisation: batch norm, layer norm, and ``normalize`` (vectors to unit norm)."""

from __future__ import annotations

from typing import Sequence

from ... import autograd, backend, ops
from ...amp import autocast_op
from ...ops.base import _make
from ...tensor import Tensor

__all__ = ["batch_norm", "layer_norm", "normalize"]


def _normalize(x: Tensor, dims: tuple, eps: float):
    """(x − mean) / √(var + eps) over ``dims`` (biased variance), and the batch mean and variance.

    One op with a fused backward, which is several times shorter than the graph of
    mean, var and sqrt: with x̂ the output and g its gradient,
    dx = (g − mean(g) − x̂ · mean(g · x̂)) / √(var + eps).
    """
    if x.dtype == backend.float16:  # statistics in float32, as PyTorch on the CPU: 300² overflows float16
        out, mean, var = _normalize(x.float(), dims, eps)
        return out.half(), mean, var
    a = x.array
    mean = a.mean(axis=dims, keepdims=True)
    centred = a - mean
    var = (centred * centred).mean(axis=dims, keepdims=True)
    inv_std = 1.0 / x._xp.sqrt(var + eps)
    out = centred * inv_std

    def backward(g):
        if autograd.is_grad_enabled():  # building a graph: recompute from x, so it depends on x
            c = x - ops.mean(x, dims, keepdim=True)
            istd = 1 / ops.sqrt(ops.mean(c * c, dims, keepdim=True) + eps)
            xhat = c * istd
        else:
            istd, xhat = Tensor._wrap(inv_std), Tensor._wrap(out)
        return (istd * (g - ops.mean(g, dims, keepdim=True) - xhat * ops.mean(g * xhat, dims, keepdim=True)),)
    return _make(out, (x,), backward, "Normalize"), mean, var


def _channel_view(t: Tensor | None, ndim: int) -> Tensor | None:
    """A per-channel (C,) tensor shaped (1, C, 1, ...) to broadcast against (N, C, ...)."""
    return None if t is None else ops.reshape(t, (1, -1) + (1,) * (ndim - 2))


@autocast_op("batch_norm")
def batch_norm(input: Tensor, running_mean: Tensor | None, running_var: Tensor | None,
               weight: Tensor | None = None, bias: Tensor | None = None, training: bool = False,
               momentum: float = 0.1, eps: float = 1e-5) -> Tensor:
    """Normalise each channel (dim 1) of an (N, C, *) input, then scale by ``weight`` and shift by ``bias``.

    In training, the statistics are the batch's (biased variance), and the running
    statistics, when given, are updated in place:
    running = (1 − momentum) · running + momentum · batch, with the *unbiased* batch variance.
    Otherwise the running statistics are used.
    """
    if input.ndim < 2:
        raise ValueError(f"batch_norm: expected an input of shape (N, C, *), got {tuple(input.shape)}")
    channels = input.shape[1]
    for name, t in (("running_mean", running_mean), ("running_var", running_var), ("weight", weight),
                    ("bias", bias)):
        if t is not None and t.shape != (channels,):
            raise RuntimeError(f"batch_norm: {name} of shape {tuple(t.shape)} does not fit the {channels} "
                               f"channels of an input of shape {tuple(input.shape)}")
    dims = (0,) + tuple(range(2, input.ndim))
    if training:
        count = input.numel() // channels
        if count <= 1:
            raise ValueError(f"Expected more than 1 value per channel when training, got input size "
                             f"{list(input.shape)}")
        out, mean, var = _normalize(input, dims, eps)
        if running_mean is not None:
            with autograd.no_grad():
                running_mean.mul_(1 - momentum).add_(mean.reshape(-1), alpha=momentum)
        if running_var is not None:
            with autograd.no_grad():
                running_var.mul_(1 - momentum).add_(var.reshape(-1) * (count / (count - 1)), alpha=momentum)
    else:
        if running_mean is None or running_var is None:
            raise ValueError("batch_norm: running_mean and running_var are needed when training=False")
        inv_std = 1 / ops.sqrt(running_var.detach() + eps)
        out = (input - _channel_view(running_mean.detach(), input.ndim)) * _channel_view(inv_std, input.ndim)
    if weight is not None:
        out = out * _channel_view(weight, input.ndim)
    if bias is not None:
        out = out + _channel_view(bias, input.ndim)
    return out


@autocast_op("layer_norm")
def layer_norm(input: Tensor, normalized_shape: Sequence[int] | int, weight: Tensor | None = None,
               bias: Tensor | None = None, eps: float = 1e-5) -> Tensor:
    """Normalise over the last ``len(normalized_shape)`` dims of each sample (biased variance),
    then scale by ``weight`` and shift by ``bias`` (both of shape ``normalized_shape``)."""
    shape = (normalized_shape,) if isinstance(normalized_shape, int) else tuple(normalized_shape)
    if input.shape[input.ndim - len(shape):] != shape or len(shape) > input.ndim:
        raise RuntimeError(f"layer_norm: normalized_shape {list(shape)} does not match the last dims of an "
                           f"input of shape {tuple(input.shape)}")
    out, _, _ = _normalize(input, tuple(range(input.ndim - len(shape), input.ndim)), eps)
    if weight is not None:
        out = out * weight
    if bias is not None:
        out = out + bias
    return out


def normalize(input: Tensor, p: float = 2.0, dim: int = 1, eps: float = 1e-12) -> Tensor:
    """x / max(‖x‖_p, eps) along ``dim``."""
    if p == 2:
        # √max(Σx², eps²) equals max(‖x‖, eps) and has a finite gradient at x = 0, where √ has none.
        norm = ops.sqrt(ops.maximum(ops.sum(input * input, dim, keepdim=True), eps * eps))
    else:
        norm = ops.clamp(ops.norm(input, p, dim, keepdim=True), min=eps)
    return input / norm
