"""Normalisation: batch, instance, group, layer and RMS norm, local response norm, and
``normalize`` (vectors to unit norm)."""

from __future__ import annotations

import math
from typing import Sequence

from ... import autograd, backend, ops
from ...amp import autocast_op
from ...ops.base import _make
from ...tensor import Tensor, zeros

__all__ = ["batch_norm", "instance_norm", "group_norm", "layer_norm", "rms_norm", "local_response_norm", "normalize"]


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
    _check_channels("batch_norm", input, running_mean=running_mean, running_var=running_var, weight=weight,
                    bias=bias)
    dims = (0,) + tuple(range(2, input.ndim))
    if training:
        count = input.numel() // channels
        if count <= 1:
            raise ValueError(f"Expected more than 1 value per channel when training, got input size "
                             f"{list(input.shape)}")
        out, mean, var = _normalize(input, dims, eps)
        _update_running(running_mean, running_var, mean.reshape(-1), var.reshape(-1), count, momentum)
    else:
        out = _normalize_with(input, running_mean, running_var, eps, "batch_norm")
    return _affine(out, weight, bias)


def _update_running(running_mean: Tensor | None, running_var: Tensor | None, mean, var, count: int,
                    momentum: float) -> None:
    """running = (1 − momentum) · running + momentum · batch, in place, with the *unbiased*
    variance of the ``count`` values behind each biased ``var``."""
    with autograd.no_grad():
        if running_mean is not None:
            running_mean.mul_(1 - momentum).add_(mean, alpha=momentum)
        if running_var is not None:
            running_var.mul_(1 - momentum).add_(var * (count / (count - 1)), alpha=momentum)


def _normalize_with(input: Tensor, running_mean: Tensor | None, running_var: Tensor | None, eps: float,
                    op: str) -> Tensor:
    """(x − running_mean) / √(running_var + eps), per channel (dim 1): evaluation mode."""
    if running_mean is None or running_var is None:
        raise ValueError(f"{op}: running_mean and running_var are needed when the input's own statistics "
                         "are not used")
    inv_std = 1 / ops.sqrt(running_var.detach() + eps)
    return (input - _channel_view(running_mean.detach(), input.ndim)) * _channel_view(inv_std, input.ndim)


def _affine(out: Tensor, weight: Tensor | None, bias: Tensor | None) -> Tensor:
    """out · weight + bias, both per channel (dim 1)."""
    if weight is not None:
        out = out * _channel_view(weight, out.ndim)
    if bias is not None:
        out = out + _channel_view(bias, out.ndim)
    return out


def _check_channels(op: str, input: Tensor, **tensors) -> None:
    channels = input.shape[1]
    for name, t in tensors.items():
        if t is not None and t.shape != (channels,):
            raise RuntimeError(f"{op}: {name} of shape {tuple(t.shape)} does not fit the {channels} "
                               f"channels of an input of shape {tuple(input.shape)}")


def instance_norm(input: Tensor, running_mean: Tensor | None = None, running_var: Tensor | None = None,
                  weight: Tensor | None = None, bias: Tensor | None = None, use_input_stats: bool = True,
                  momentum: float = 0.1, eps: float = 1e-5) -> Tensor:
    """Normalise each channel of each sample of an (N, C, *) input over its own spatial dims
    (biased variance), then scale by ``weight`` and shift by ``bias`` (per channel).

    With ``use_input_stats`` the running statistics, when given, move towards the batch
    average of the per-sample statistics (unbiased variance), as ``batch_norm``'s do;
    without it they are used instead, as ``batch_norm`` in evaluation.
    """
    if input.ndim < 2:
        raise RuntimeError(f"instance_norm: expected an input of shape (N, C, *), got {tuple(input.shape)}")
    _check_channels("instance_norm", input, running_mean=running_mean, running_var=running_var, weight=weight,
                    bias=bias)
    if not use_input_stats:
        return _affine(_normalize_with(input, running_mean, running_var, eps, "instance_norm"), weight, bias)
    count = math.prod(input.shape[2:])
    if count <= 1:
        raise ValueError(f"instance_norm: expected more than 1 spatial element when training, got input size "
                         f"{list(input.shape)}")
    out, mean, var = _normalize(input, tuple(range(2, input.ndim)), eps)
    n, channels = input.shape[:2]
    batch_mean = mean.reshape(n, channels).mean(axis=0)
    batch_var = var.reshape(n, channels).mean(axis=0)
    _update_running(running_mean, running_var, batch_mean, batch_var, count, momentum)
    return _affine(out, weight, bias)


@autocast_op("group_norm")
def group_norm(input: Tensor, num_groups: int, weight: Tensor | None = None, bias: Tensor | None = None,
               eps: float = 1e-5) -> Tensor:
    """Split the C channels of an (N, C, *) input into ``num_groups`` groups and normalise each
    group of each sample (its channels and spatial dims together, biased variance), then scale
    by ``weight`` and shift by ``bias`` (per channel). One group is layer norm over (C, *);
    C groups are instance norm."""
    if input.ndim < 2:
        raise RuntimeError(f"group_norm: expected at least 2 dims (N, C, *), got shape {tuple(input.shape)}")
    n, channels = input.shape[:2]
    if channels % num_groups:
        raise RuntimeError(f"group_norm: expected the number of channels to be divisible by num_groups, but got "
                           f"an input of shape {list(input.shape)} and num_groups={num_groups}")
    _check_channels("group_norm", input, weight=weight, bias=bias)
    grouped = ops.reshape(input, (n, num_groups, -1))
    out = ops.reshape(_normalize(grouped, (2,), eps)[0], input.shape)
    return _affine(out, weight, bias)


def _normalized_dims(input: Tensor, normalized_shape, op: str) -> tuple:
    """The last ``len(normalized_shape)`` dims of ``input``, which must have those sizes."""
    shape = (normalized_shape,) if isinstance(normalized_shape, int) else tuple(normalized_shape)
    if len(shape) > input.ndim or input.shape[input.ndim - len(shape):] != shape:
        raise RuntimeError(f"{op}: normalized_shape {list(shape)} does not match the last dims of an "
                           f"input of shape {tuple(input.shape)}")
    return tuple(range(input.ndim - len(shape), input.ndim))


@autocast_op("layer_norm")
def layer_norm(input: Tensor, normalized_shape: Sequence[int] | int, weight: Tensor | None = None,
               bias: Tensor | None = None, eps: float = 1e-5) -> Tensor:
    """Normalise over the last ``len(normalized_shape)`` dims of each sample (biased variance),
    then scale by ``weight`` and shift by ``bias`` (both of shape ``normalized_shape``)."""
    out, _, _ = _normalize(input, _normalized_dims(input, normalized_shape, "layer_norm"), eps)
    if weight is not None:
        out = out * weight
    if bias is not None:
        out = out + bias
    return out


def rms_norm(input: Tensor, normalized_shape: Sequence[int] | int, weight: Tensor | None = None,
             eps: float | None = None) -> Tensor:
    """x / √(mean(x²) + eps) over the last ``len(normalized_shape)`` dims, times ``weight``:
    layer norm without the centring and the bias (as in T5 and LLaMA). ``eps=None`` is the
    machine epsilon of the input's dtype, as in PyTorch.

    Written from primitives (a mean, an rsqrt, two products), so it needs no backward of its own.
    """
    dims = _normalized_dims(input, normalized_shape, "rms_norm")
    if eps is None:
        eps = float(input._xp.finfo(input.array.dtype).eps)
    out = input * ops.rsqrt(ops.mean(input * input, dims, keepdim=True) + eps)
    return out if weight is None else out * weight


def local_response_norm(input: Tensor, size: int, alpha: float = 1e-4, beta: float = 0.75, k: float = 1.0) -> Tensor:
    """x / (k + α · mean of x² over ``size`` neighbouring channels)^β, for an (N, C, *) input
    (AlexNet's normalisation). The window is centred on each channel, with zeros beyond the
    first and last channel, and the mean always divides by ``size``, as in PyTorch."""
    if input.ndim < 3:
        raise ValueError(f"local_response_norm: expected 3D or higher dimensionality input (got {input.ndim} "
                         "dimensions)")
    n, channels = input.shape[:2]

    def zero_channels(count: int) -> Tensor:
        return zeros((n, count) + input.shape[2:], dtype=input.dtype, device=input.device)
    squares = ops.cat([zero_channels(size // 2), input * input, zero_channels((size - 1) // 2)], 1)
    window_sum = sum(ops.narrow(squares, 1, i, channels) for i in range(size))
    return input / (window_sum * (alpha / size) + k) ** beta


def normalize(input: Tensor, p: float = 2.0, dim: int = 1, eps: float = 1e-12, out=None) -> Tensor:
    """x / max(‖x‖_p, eps) along ``dim`` (``p=0`` counts the nonzero entries, as PyTorch's norm)."""
    if out is not None:
        raise NotImplementedError("normalize: out= is not supported; use the returned tensor")
    if p == 2:
        # √max(Σx², eps²) equals max(‖x‖, eps) and has a finite gradient at x = 0, where √ has none.
        norm = ops.sqrt(ops.maximum(ops.sum(input * input, dim, keepdim=True), eps * eps))
    else:
        norm = ops.clamp(ops.norm(input, p, dim, keepdim=True), min=eps)
    return input / norm
