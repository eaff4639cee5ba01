"""``nnkit.nn.functional``: the layers and losses as plain functions of tensors (``torch.nn.functional``).

Most are written from the differentiable primitives of :mod:`nnkit.ops`, so
they need no backward of their own. A few are single ops with a fused
backward, each saying why (stability, a correct gradient at a kink, or a much
shorter graph): ``gelu``, ``softplus``, ``binary_cross_entropy``,
``binary_cross_entropy_with_logits``, the normalisation shared by ``batch_norm``
and ``layer_norm``, and ``embedding`` (whose padding row gets no gradient).
Their backward functions are written with tensor ops too, so
``create_graph=True`` works through them.
"""

from __future__ import annotations

import math
import warnings
from typing import Sequence

import numpy

from .. import autograd, backend, ops
from ..amp import autocast_op
from ..ops.base import _make
from ..tensor import Tensor

__all__ = [
    "linear", "bilinear", "relu", "leaky_relu", "elu", "gelu", "silu", "mish", "sigmoid", "tanh", "softplus",
    "softmax", "log_softmax", "prelu", "dropout", "batch_norm", "layer_norm", "embedding", "one_hot", "pad",
    "normalize", "mse_loss", "l1_loss", "smooth_l1_loss", "huber_loss", "nll_loss", "cross_entropy",
    "binary_cross_entropy", "binary_cross_entropy_with_logits",
]


def _maybe_in_place(input: Tensor, inplace: bool, op: str, fn) -> Tensor:
    """``fn(input)``, or with ``inplace=True`` written into ``input`` itself and recorded
    as PyTorch records ``relu_`` (see ``Tensor._inplace``)."""
    return input._inplace(op + "_", fn) if inplace else fn(input)


# ---------------------------------------------------------------------------
# Linear maps
# ---------------------------------------------------------------------------


@autocast_op("linear")
def linear(input: Tensor, weight: Tensor, bias: Tensor | None = None) -> Tensor:
    """y = x Wᵀ + b, for ``input`` (*, in), ``weight`` (out, in) and ``bias`` (out,).

    >>> import nnkit
    >>> linear(nnkit.ones(2, 3), nnkit.ones(4, 3), nnkit.zeros(4)).shape
    (2, 4)
    """
    if input.ndim == 0 or input.shape[-1] != weight.shape[-1]:
        raise RuntimeError(f"linear: input of shape {tuple(input.shape)} does not fit weight of shape "
                           f"{tuple(weight.shape)} (expected input (*, {weight.shape[-1]}))")
    if input.dtype != weight.dtype or (bias is not None and bias.dtype != weight.dtype):
        raise RuntimeError(f"linear: input ({input.dtype}), weight ({weight.dtype})"
                           + (f" and bias ({bias.dtype})" if bias is not None else "") + " must share one dtype")
    lead = input.shape[:-1]
    x = ops.reshape(input, (-1, input.shape[-1])) if input.ndim != 2 else input  # one 2-d product
    out = backend.matmul(x.array, weight.array.T)
    if bias is not None:
        out += bias.array

    # A fused op rather than matmul(x, weight.T) + bias: the weight's gradient
    # comes out as gᵀx, already in the weight's own (out, in) layout, instead of
    # the transpose of xᵀg, whose strided memory makes every optimizer step slow.
    def backward(g):
        gx = ops.matmul(g, weight) if x.requires_grad else None
        gw = ops.matmul(ops.transpose(g, 0, 1), x) if weight.requires_grad else None
        return (gx, gw) if bias is None else (gx, gw, ops.sum(g, 0))
    parents = (x, weight) if bias is None else (x, weight, bias)
    out = ops._make(out, parents, backward, "Linear")
    return ops.reshape(out, lead + (weight.shape[0],)) if input.ndim != 2 else out


def bilinear(input1: Tensor, input2: Tensor, weight: Tensor, bias: Tensor | None = None) -> Tensor:
    """y_k = x1ᵀ W_k x2 + b_k, for inputs (*, in1) and (*, in2), ``weight`` (out, in1, in2)."""
    if input1.shape[:-1] != input2.shape[:-1] or input1.shape[-1] != weight.shape[1] or \
            input2.shape[-1] != weight.shape[2]:
        raise RuntimeError(f"bilinear: inputs of shapes {tuple(input1.shape)} and {tuple(input2.shape)} do not "
                           f"fit weight of shape {tuple(weight.shape)}")
    out_features, in1, in2 = weight.shape
    x1w = linear(input1, ops.reshape(ops.transpose(weight, 0, 1), (in1, out_features * in2)).T)
    out = ops.sum(ops.reshape(x1w, input1.shape[:-1] + (out_features, in2)) * ops.unsqueeze(input2, -2), -1)
    return out if bias is None else out + bias


# ---------------------------------------------------------------------------
# Activations
# ---------------------------------------------------------------------------


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


# ---------------------------------------------------------------------------
# Dropout and normalisation
# ---------------------------------------------------------------------------


def dropout(input: Tensor, p: float = 0.5, training: bool = True, inplace: bool = False) -> Tensor:
    """Inverted dropout: in training, zero each element with probability ``p`` and scale the
    rest by 1/(1 − p), so the expected value is unchanged; outside training, return ``input``.

    The mask comes from nnkit's seeded generator (``nnkit.manual_seed``).
    """
    if not 0.0 <= p <= 1.0:
        raise ValueError(f"dropout probability has to be between 0 and 1, but got {p}")
    if not training or p == 0.0:
        return input
    keep = backend.rng(None).random(input.shape) >= p
    scale = 0.0 if p == 1.0 else 1.0 / (1.0 - p)
    mask = Tensor._wrap(backend.to_module(numpy.multiply(keep, scale, dtype=input.dtype), input._xp))
    return _maybe_in_place(input, inplace, "dropout", lambda x: x * mask)


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


# ---------------------------------------------------------------------------
# Embeddings, one-hot codes, padding
# ---------------------------------------------------------------------------


def _constant(t: Tensor | None, op: str, name: str):
    """The array of an argument that nnkit does not differentiate (class weights), or None."""
    if t is None:
        return None
    if t.requires_grad:
        raise NotImplementedError(f"{op}: gradients with respect to {name} are not supported; pass {name}.detach()")
    return t.array


def _integer_array(t, op: str, what: str):
    array = t.array if isinstance(t, Tensor) else numpy.asarray(t)
    if array.dtype.kind not in "iu":
        raise TypeError(f"{op}: {what} must be an integer tensor, got {array.dtype}")
    return array


def embedding(input: Tensor, weight: Tensor, padding_idx: int | None = None, max_norm: float | None = None,
              norm_type: float = 2.0, scale_grad_by_freq: bool = False, sparse: bool = False) -> Tensor:
    """Rows of ``weight`` (num_embeddings, dim) picked by the integer ``input``: shape (*input, dim).

    The row at ``padding_idx`` receives no gradient.
    """
    for name, value, default in (("max_norm", max_norm, None), ("scale_grad_by_freq", scale_grad_by_freq, False),
                                 ("sparse", sparse, False)):
        if value != default:
            raise NotImplementedError(f"embedding: {name} is not supported")
    idx = backend.to_module(_integer_array(input, "embedding", "input"), weight._xp)
    n = weight.shape[0]
    if idx.size and (int(idx.min()) < 0 or int(idx.max()) >= n):
        bad = int(idx.min()) if int(idx.min()) < 0 else int(idx.max())
        raise IndexError(f"embedding: index {bad} is out of range for {n} embeddings")
    if padding_idx is not None and padding_idx < 0:
        padding_idx += n
    shape = weight.shape

    def backward(g):
        if padding_idx is not None:
            g = g * Tensor._wrap((idx != padding_idx)[..., None].astype(g.dtype))
        return (ops.indexing._index_add(g, idx, shape),)
    return _make(weight.array[idx], (weight,), backward, "Embedding")


def one_hot(tensor: Tensor, num_classes: int = -1) -> Tensor:
    """An int64 tensor of shape (*tensor.shape, num_classes) with a 1 at each index.

    ``num_classes=-1`` means one more than the largest index.

    >>> import nnkit
    >>> one_hot(nnkit.tensor([0, 2]), 3)
    tensor([[1, 0, 0],
            [0, 0, 1]])
    """
    idx = _integer_array(tensor, "one_hot", "tensor")
    xp = backend.xp_of(idx)
    if idx.size and int(idx.min()) < 0:
        raise RuntimeError(f"one_hot: class values must be non-negative, got {int(idx.min())}")
    if num_classes == -1:
        num_classes = int(idx.max()) + 1 if idx.size else 0
    elif idx.size and int(idx.max()) >= num_classes:
        raise RuntimeError(f"one_hot: class value {int(idx.max())} is out of range for num_classes={num_classes}")
    return Tensor._wrap((idx[..., None] == xp.arange(num_classes)).astype(backend.int64))


def _pad_indices(n: int, before: int, after: int, mode: str, xp):
    """For padding modes that copy input values: the input index behind each output position."""
    if mode == "reflect" and (before >= n or after >= n):
        raise RuntimeError(f"pad: reflect padding ({before}, {after}) must be smaller than the dim size {n}")
    if mode == "circular" and (before > n or after > n):
        raise RuntimeError(f"pad: circular padding ({before}, {after}) must be at most the dim size {n}")
    pos = xp.arange(-before, n + after)
    if mode == "reflect":  # mirror at the first and the last element, which are not repeated
        return xp.where(pos < 0, -pos, xp.where(pos >= n, 2 * (n - 1) - pos, pos))
    if mode == "replicate":
        return xp.clip(pos, 0, n - 1)
    return pos % n


def pad(input: Tensor, pad: Sequence[int], mode: str = "constant", value: float | None = None) -> Tensor:
    """Pad the last ``len(pad) // 2`` dims: ``pad = (left, right, top, bottom, ...)`` starting from the last dim.

    ``mode``: 'constant' (fill with ``value``; negative amounts crop), 'reflect',
    'replicate' or 'circular'. Padding never changes values, only the size.

    >>> import nnkit
    >>> pad(nnkit.tensor([[1.0, 2.0]]), (1, 2)).tolist()
    [[0.0, 1.0, 2.0, 0.0, 0.0]]
    """
    pad = tuple(int(p) for p in pad)
    if len(pad) % 2 or len(pad) // 2 > input.ndim:
        raise ValueError(f"pad: the padding {pad} must have an even length of at most 2 x {input.ndim} "
                         f"(the input has shape {tuple(input.shape)})")
    widths = [(0, 0)] * (input.ndim - len(pad) // 2) + [(pad[2 * i], pad[2 * i + 1])
                                                         for i in reversed(range(len(pad) // 2))]
    if mode == "constant":
        crop = tuple(slice(-b if b < 0 else None, a if a < 0 else None) for b, a in widths)
        if any(b < 0 or a < 0 for b, a in widths):
            input = input[crop]
        grow = [(max(b, 0), max(a, 0)) for b, a in widths]
        out = input._xp.pad(input.array, grow, constant_values=0 if value is None else value)
        inner = tuple(slice(b, b + n) for (b, _), n in zip(grow, input.shape))
        return _make(out, (input,), lambda g: (g[inner],), "Pad")
    if mode not in ("reflect", "replicate", "circular"):
        raise NotImplementedError(f"pad: mode {mode!r} is not supported (use 'constant', 'reflect', "
                                  "'replicate' or 'circular')")
    if value is not None and value != 0:
        raise ValueError(f"pad: padding mode {mode!r} doesn't take in value argument")
    if any(b < 0 or a < 0 for b, a in widths):
        raise NotImplementedError(f"pad: negative padding is only supported in 'constant' mode, got {pad}")
    out = input
    for d, (before, after) in enumerate(widths):
        if before or after:
            out = ops.index_select(out, d, Tensor._wrap(_pad_indices(input.shape[d], before, after, mode,
                                                                      input._xp)))
    return out


# ---------------------------------------------------------------------------
# Losses
# ---------------------------------------------------------------------------


def _reduce(loss: Tensor, reduction: str, op: str) -> Tensor:
    if reduction == "mean":
        return ops.mean(loss)
    if reduction == "sum":
        return ops.sum(loss)
    if reduction == "none":
        return loss
    raise ValueError(f"{op}: {reduction!r} is not a valid value for reduction (use 'mean', 'sum' or 'none')")


def _warn_broadcast(input: Tensor, target, op: str) -> None:
    shape = target.shape if isinstance(target, Tensor) else ()
    if shape != input.shape:
        warnings.warn(f"{op}: using a target size {tuple(shape)} that is different to the input size "
                      f"{tuple(input.shape)}. This will likely lead to incorrect results due to broadcasting. "
                      "Please ensure they have the same size.", UserWarning, stacklevel=3)


@autocast_op("mse_loss")
def mse_loss(input: Tensor, target: Tensor, reduction: str = "mean") -> Tensor:
    """(x − y)², averaged (or summed) over all elements.

    >>> import nnkit
    >>> mse_loss(nnkit.tensor([1.0, 2.0]), nnkit.tensor([1.0, 4.0]))
    tensor(2.)
    """
    _warn_broadcast(input, target, "mse_loss")
    diff = input - target
    return _reduce(diff * diff, reduction, "mse_loss")


@autocast_op("l1_loss")
def l1_loss(input: Tensor, target: Tensor, reduction: str = "mean") -> Tensor:
    """|x − y|, averaged (or summed) over all elements."""
    _warn_broadcast(input, target, "l1_loss")
    return _reduce(ops.abs(input - target), reduction, "l1_loss")


@autocast_op("smooth_l1_loss")
def smooth_l1_loss(input: Tensor, target: Tensor, reduction: str = "mean", beta: float = 1.0) -> Tensor:
    """0.5 d² / β where |d| < β, else |d| − 0.5 β, with d = x − y."""
    _warn_broadcast(input, target, "smooth_l1_loss")
    if beta == 0:
        return l1_loss(input, target, reduction)
    d = input - target
    ad = ops.abs(d)
    return _reduce(ops.where(ad < beta, 0.5 * d * d / beta, ad - 0.5 * beta), reduction, "smooth_l1_loss")


@autocast_op("huber_loss")
def huber_loss(input: Tensor, target: Tensor, reduction: str = "mean", delta: float = 1.0) -> Tensor:
    """0.5 d² where |d| < δ, else δ (|d| − 0.5 δ): ``smooth_l1_loss`` times δ."""
    _warn_broadcast(input, target, "huber_loss")
    d = input - target
    ad = ops.abs(d)
    return _reduce(ops.where(ad < delta, 0.5 * d * d, delta * (ad - 0.5 * delta)), reduction, "huber_loss")


def _class_coefficients(input: Tensor, target: Tensor, weight: Tensor | None, ignore_index: int,
                        label_smoothing: float, op: str):
    """For class-index targets: the coefficients q (input's shape) with loss_i = −Σ_c q_ic · input_ic,
    and the divisor of the 'mean' reduction.

    q_ic = w_{y_i} (1 − ε) [c = y_i] + (ε / C) w_c, and 0 for ignored samples; the
    mean divides by Σ w_{y_i} over the samples not ignored (their count without
    weights), as PyTorch does for both the plain and the smoothing part.
    """
    class_dim = 1 if input.ndim > 1 else 0
    n_classes = input.shape[class_dim]
    y = _integer_array(target, op, "target (class indices)")
    expected = input.shape[:1] + input.shape[2:] if input.ndim > 1 else ()
    if y.shape != expected:
        raise ValueError(f"{op}: input of shape {tuple(input.shape)} expects a target of shape {expected} "
                         f"(class indices) or {tuple(input.shape)} (class probabilities), got {tuple(y.shape)}")
    xp = input._xp
    y = backend.to_module(y, xp)
    ignored = y == ignore_index
    bad = (~ignored) & ((y < 0) | (y >= n_classes))
    if bad.any():
        raise IndexError(f"{op}: target {int(y[bad].reshape(-1)[0])} is out of bounds for {n_classes} classes "
                         f"(valid labels are 0..{n_classes - 1}, or ignore_index={ignore_index})")
    y_safe = xp.where(ignored, 0, y)
    classes = xp.arange(n_classes).reshape((-1,) + (1,) * (input.ndim - 1 - class_dim))
    hit = xp.expand_dims(y_safe, class_dim) == classes
    w = _constant(weight, op, "weight")
    if w is not None and w.shape != (n_classes,):
        raise RuntimeError(f"{op}: weight of shape {tuple(w.shape)} does not fit {n_classes} classes")
    if w is not None:
        w = backend.to_module(w, xp).astype(input.dtype, copy=False)
    w_y = (xp.ones(y.shape, dtype=input.dtype) if w is None else w[y_safe]) * ~ignored
    q = hit * xp.expand_dims(w_y * (1.0 - label_smoothing), class_dim)
    if label_smoothing:
        w_c = 1.0 if w is None else w.reshape(classes.shape)
        q = q + xp.expand_dims(~ignored, class_dim) * (w_c * (label_smoothing / n_classes))
    return Tensor._wrap(q.astype(input.dtype, copy=False)), w_y.sum(), class_dim


def _weighted_nll(logp: Tensor, q: Tensor, divisor, class_dim: int, reduction: str, op: str) -> Tensor:
    loss = -ops.sum(q * logp, class_dim)
    if reduction == "mean":
        return ops.sum(loss) / Tensor._wrap(logp._xp.asarray(divisor, dtype=logp.dtype))
    return _reduce(loss, reduction, op)


@autocast_op("nll_loss")
def nll_loss(input: Tensor, target: Tensor, weight: Tensor | None = None, ignore_index: int = -100,
             reduction: str = "mean") -> Tensor:
    """The negative log-likelihood −w_y · input[y] of log-probabilities ``input`` (N, C) or (N, C, d1, ...)
    at class indices ``target`` (N,) or (N, d1, ...).

    'mean' divides by the sum of the weights of the targets that are not
    ``ignore_index`` (their count without ``weight``).
    """
    q, divisor, class_dim = _class_coefficients(input, target, weight, ignore_index, 0.0, "nll_loss")
    return _weighted_nll(input, q, divisor, class_dim, reduction, "nll_loss")


@autocast_op("cross_entropy")
def cross_entropy(input: Tensor, target: Tensor, weight: Tensor | None = None, ignore_index: int = -100,
                  reduction: str = "mean", label_smoothing: float = 0.0) -> Tensor:
    """Cross-entropy of the logits ``input`` (N, C) or (N, C, d1, ...), computed through the
    stable ``log_softmax``.

    ``target`` is either class indices (N,) or (N, d1, ...) (integers; ``ignore_index``
    entries count for nothing), or class probabilities of the input's shape. With
    label smoothing ε the target becomes (1 − ε) · target + ε / C. Class weights
    ``weight`` (C,) scale each class's term; for class indices, 'mean' divides by the
    sum of the weights of the targets used.

    >>> import nnkit
    >>> logits = nnkit.tensor([[2.0, 0.0, 0.0]])
    >>> round(cross_entropy(logits, nnkit.tensor([0])).item(), 4)
    0.2395
    """
    if not 0.0 <= label_smoothing <= 1.0:
        raise ValueError(f"cross_entropy: label_smoothing must be between 0.0 and 1.0, got {label_smoothing}")
    class_dim = 1 if input.ndim > 1 else 0
    logp = ops.log_softmax(input, class_dim)
    if isinstance(target, Tensor) and target.shape == input.shape:
        if target.dtype.kind != "f":
            raise TypeError(f"cross_entropy: expected a floating-point target with class probabilities, "
                            f"got {target.dtype}")
        if ignore_index >= 0:
            raise ValueError("cross_entropy: ignore_index is not supported for class-probability targets")
        n_classes = input.shape[class_dim]
        q = target if not label_smoothing else target * (1 - label_smoothing) + label_smoothing / n_classes
        if weight is not None:
            q = q * ops.reshape(weight.to(input.dtype), (-1,) + (1,) * (input.ndim - 1 - class_dim))
        return _reduce(-ops.sum(q * logp, class_dim), reduction, "cross_entropy")
    q, divisor, class_dim = _class_coefficients(input, target, weight, ignore_index, label_smoothing,
                                                "cross_entropy")
    return _weighted_nll(logp, q, divisor, class_dim, reduction, "cross_entropy")


def _check_same_shape(input: Tensor, target: Tensor, op: str) -> None:
    if target.shape != input.shape:
        raise ValueError(f"{op}: target size {tuple(target.shape)} must be the same as input size "
                         f"{tuple(input.shape)}")


@autocast_op("binary_cross_entropy")
def binary_cross_entropy(input: Tensor, target: Tensor, weight: Tensor | None = None,
                         reduction: str = "mean") -> Tensor:
    """−w (y log p + (1 − y) log(1 − p)) for probabilities ``input`` p in [0, 1].

    Each log is clamped to ≥ −100 as in PyTorch, so p = 0 or 1 gives a large
    finite loss. One op with a fused backward, w (p − y) / max(p (1 − p), 1e-12):
    the clamp would otherwise multiply an infinite slope by zero.
    """
    _check_same_shape(input, target, "binary_cross_entropy")
    p, y = input.array, target.array
    xp = input._xp
    if ((p < 0) | (p > 1)).any():
        raise RuntimeError("binary_cross_entropy: all elements of input should be between 0 and 1")
    with numpy.errstate(divide="ignore"):
        log_p, log_1mp = xp.maximum(xp.log(p), -100), xp.maximum(xp.log1p(-p), -100)
    loss = -(y * log_p + (1 - y) * log_1mp)

    def backward(g):
        grad_p = (input - target) / ops.clamp(input * (1 - input), min=1e-12)
        grad_y = Tensor._wrap(log_1mp - log_p) if target.requires_grad else None
        return g * grad_p, None if grad_y is None else g * grad_y
    loss = _make(loss.astype(input.dtype, copy=False), (input, target), backward, "BinaryCrossEntropy")
    return _reduce(loss if weight is None else loss * weight, reduction, "binary_cross_entropy")


@autocast_op("binary_cross_entropy_with_logits")
def binary_cross_entropy_with_logits(input: Tensor, target: Tensor, weight: Tensor | None = None,
                                     reduction: str = "mean", pos_weight: Tensor | None = None) -> Tensor:
    """Binary cross-entropy of σ(x), computed stably from the logits x:
    (1 − y) x + (1 + (pw − 1) y) · softplus(−x), with ``pos_weight`` pw (1 by default)
    broadcast over the last (class) dim.

    One op with a fused backward, (1 − y) − (1 + (pw − 1) y) σ(−x): written with |x|
    (for stability) the gradient at exactly x = 0 would be wrong.
    """
    _check_same_shape(input, target, "binary_cross_entropy_with_logits")
    x, y = input.array, target.array
    xp = input._xp
    softplus_neg = xp.maximum(-x, 0) + xp.log1p(xp.exp(-xp.abs(x)))  # log(1 + e^-x), stably
    pw = _constant(pos_weight, "binary_cross_entropy_with_logits", "pos_weight")
    coef = 1 if pw is None else 1 + (pw - 1) * y
    loss = (1 - y) * x + coef * softplus_neg

    def backward(g):
        coef_t = 1 if pw is None else 1 + (Tensor._wrap(pw) - 1) * target
        grad_x = (1 - target) - coef_t * ops.sigmoid(-input)
        grad_y = None
        if target.requires_grad:
            grad_y = -input + (0 if pw is None else (Tensor._wrap(pw) - 1) * softplus(-input))
        return g * grad_x, None if grad_y is None else g * grad_y
    loss = _make(loss.astype(input.dtype, copy=False), (input, target), backward, "BinaryCrossEntropyWithLogits")
    return _reduce(loss if weight is None else loss * weight, reduction, "binary_cross_entropy_with_logits")


# --- layers of chapters 07-08 (conv, pooling, recurrent, attention) ---
# Imported last: these modules use the functions above.
from .attention import scaled_dot_product_attention  # noqa: E402
from .conv import conv2d, conv_transpose2d  # noqa: E402
from .pooling import adaptive_avg_pool2d, avg_pool2d, max_pool2d  # noqa: E402

__all__ += ["conv2d", "conv_transpose2d", "max_pool2d", "avg_pool2d", "adaptive_avg_pool2d",
            "scaled_dot_product_attention"]
# --- end of layers of chapters 07-08 ---

# --- chapter 10: resizing ---
from .upsampling import interpolate  # noqa: E402

__all__ += ["interpolate"]
