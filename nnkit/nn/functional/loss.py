"""Losses."""

from __future__ import annotations

import warnings

import numpy

from ... import backend, ops
from ...amp import autocast_op
from ...ops.base import _make
from ...tensor import Tensor
from .activation import softplus
from .embedding import _constant, _integer_array

__all__ = ["mse_loss", "l1_loss", "smooth_l1_loss", "huber_loss", "nll_loss", "cross_entropy",
           "binary_cross_entropy", "binary_cross_entropy_with_logits"]


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
