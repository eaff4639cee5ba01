"""Losses, as functions with PyTorch's signatures (the deprecated ``size_average`` and
``reduce`` included: given, they set ``reduction`` as in PyTorch, with its warning).

Most are written from differentiable primitives, so they can be differentiated twice;
``binary_cross_entropy`` and ``binary_cross_entropy_with_logits`` are single ops with a
fused backward (written with tensor ops), and ``ctc_loss`` is the forward (alpha)
recursion of the CTC paper in log space, differentiated by autograd.
"""

from __future__ import annotations

import math
import warnings

import numpy

from ... import backend, ops
from ...amp import autocast_op
from ...ops.base import _make
from ...tensor import Tensor, full, ones_like
from .activation import logsigmoid, softplus
from .distance import _at_least, pairwise_distance
from .embedding import _constant, _integer_array

__all__ = ["mse_loss", "l1_loss", "smooth_l1_loss", "huber_loss", "nll_loss", "cross_entropy",
           "binary_cross_entropy", "binary_cross_entropy_with_logits", "kl_div", "poisson_nll_loss",
           "gaussian_nll_loss", "cosine_embedding_loss", "margin_ranking_loss", "hinge_embedding_loss",
           "triplet_margin_loss", "triplet_margin_with_distance_loss", "soft_margin_loss",
           "multilabel_soft_margin_loss", "multi_margin_loss", "ctc_loss"]


def _legacy_reduction(size_average: bool | None, reduce: bool | None, reduction: str) -> str:
    """``reduction``, or what PyTorch's deprecated ``size_average`` and ``reduce`` say instead."""
    if size_average is None and reduce is None:
        return reduction
    size_average = True if size_average is None else size_average
    reduce = True if reduce is None else reduce
    reduction = ("mean" if size_average else "sum") if reduce else "none"
    warnings.warn(f"size_average and reduce args will be deprecated, please use reduction='{reduction}' instead.",
                  UserWarning, stacklevel=3)
    return reduction


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


def _weighted(loss: Tensor, weight: Tensor | None, reduction: str, op: str) -> Tensor:
    """An elementwise loss times ``weight`` (the input's shape); its 'mean' divides by Σ weight."""
    if weight is None:
        return _reduce(loss, reduction, op)
    if weight.shape != loss.shape:
        raise ValueError(f"{op}: weights and input must have the same size, got {tuple(weight.shape)} and "
                         f"{tuple(loss.shape)}")
    loss = loss * weight
    return ops.sum(loss) / ops.sum(weight) if reduction == "mean" else _reduce(loss, reduction, op)


@autocast_op("mse_loss")
def mse_loss(input: Tensor, target: Tensor, size_average: bool | None = None, reduce: bool | None = None,
             reduction: str = "mean", weight: Tensor | None = None) -> Tensor:
    """(x − y)², averaged (or summed) over all elements; with ``weight``, w (x − y)² and a
    'mean' that divides by Σ w.

    >>> import nnkit
    >>> mse_loss(nnkit.tensor([1.0, 2.0]), nnkit.tensor([1.0, 4.0]))
    tensor(2.)
    """
    _warn_broadcast(input, target, "mse_loss")
    diff = input - target
    return _weighted(diff * diff, weight, _legacy_reduction(size_average, reduce, reduction), "mse_loss")


@autocast_op("l1_loss")
def l1_loss(input: Tensor, target: Tensor, size_average: bool | None = None, reduce: bool | None = None,
            reduction: str = "mean", weight: Tensor | None = None) -> Tensor:
    """|x − y|, averaged (or summed) over all elements; with ``weight``, as ``mse_loss``."""
    _warn_broadcast(input, target, "l1_loss")
    return _weighted(ops.abs(input - target), weight, _legacy_reduction(size_average, reduce, reduction), "l1_loss")


@autocast_op("smooth_l1_loss")
def smooth_l1_loss(input: Tensor, target: Tensor, size_average: bool | None = None, reduce: bool | None = None,
                   reduction: str = "mean", beta: float = 1.0) -> Tensor:
    """0.5 d² / β where |d| < β, else |d| − 0.5 β, with d = x − y; β = 0 is ``l1_loss``."""
    _warn_broadcast(input, target, "smooth_l1_loss")
    reduction = _legacy_reduction(size_average, reduce, reduction)
    if beta < 0:
        raise RuntimeError(f"smooth_l1_loss: beta must be non-negative, got {beta}")
    if beta == 0:
        return l1_loss(input, target, reduction=reduction)
    d = input - target
    ad = ops.abs(d)
    return _reduce(ops.where(ad < beta, 0.5 * d * d / beta, ad - 0.5 * beta), reduction, "smooth_l1_loss")


@autocast_op("huber_loss")
def huber_loss(input: Tensor, target: Tensor, reduction: str = "mean", delta: float = 1.0,
               weight: Tensor | None = None) -> Tensor:
    """0.5 d² where |d| < δ, else δ (|d| − 0.5 δ): ``smooth_l1_loss`` times δ. With ``weight``
    each term is scaled and 'mean' stays the plain mean, as in PyTorch."""
    _warn_broadcast(input, target, "huber_loss")
    d = input - target
    ad = ops.abs(d)
    loss = ops.where(ad < delta, 0.5 * d * d, delta * (ad - 0.5 * delta))
    if weight is not None:
        if weight.shape != input.shape:
            raise ValueError(f"huber_loss: weights and input must have the same size, got {tuple(weight.shape)} "
                             f"and {tuple(input.shape)}")
        loss = loss * weight
    return _reduce(loss, reduction, "huber_loss")


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
def nll_loss(input: Tensor, target: Tensor, weight: Tensor | None = None, size_average: bool | None = None,
             ignore_index: int = -100, reduce: bool | None = None, reduction: str = "mean") -> Tensor:
    """The negative log-likelihood −w_y · input[y] of log-probabilities ``input`` (N, C) or (N, C, d1, ...)
    at class indices ``target`` (N,) or (N, d1, ...).

    'mean' divides by the sum of the weights of the targets that are not
    ``ignore_index`` (their count without ``weight``).
    """
    reduction = _legacy_reduction(size_average, reduce, reduction)
    q, divisor, class_dim = _class_coefficients(input, target, weight, ignore_index, 0.0, "nll_loss")
    return _weighted_nll(input, q, divisor, class_dim, reduction, "nll_loss")


@autocast_op("cross_entropy")
def cross_entropy(input: Tensor, target: Tensor, weight: Tensor | None = None, size_average: bool | None = None,
                  ignore_index: int = -100, reduce: bool | None = None, reduction: str = "mean",
                  label_smoothing: float = 0.0) -> Tensor:
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
    reduction = _legacy_reduction(size_average, reduce, reduction)
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
                         size_average: bool | None = None, reduce: bool | None = None,
                         reduction: str = "mean") -> Tensor:
    """−w (y log p + (1 − y) log(1 − p)) for probabilities ``input`` p in [0, 1].

    Each log is clamped to ≥ −100 as in PyTorch, so p = 0 or 1 gives a large
    finite loss. One op with a fused backward, w (p − y) / max(p (1 − p), 1e-12):
    the clamp would otherwise multiply an infinite slope by zero.
    """
    reduction = _legacy_reduction(size_average, reduce, reduction)
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
                                     size_average: bool | None = None, reduce: bool | None = None,
                                     reduction: str = "mean", pos_weight: Tensor | None = None) -> Tensor:
    """Binary cross-entropy of σ(x), computed stably from the logits x:
    (1 − y) x + (1 + (pw − 1) y) · softplus(−x), with ``pos_weight`` pw (1 by default)
    broadcast over the last (class) dim.

    One op with a fused backward, (1 − y) − (1 + (pw − 1) y) σ(−x): written with |x|
    (for stability) the gradient at exactly x = 0 would be wrong.
    """
    reduction = _legacy_reduction(size_average, reduce, reduction)
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


# --- divergences and likelihoods of distributions -------------------------------------------------

@autocast_op("kl_div")
def kl_div(input: Tensor, target: Tensor, size_average: bool | None = None, reduce: bool | None = None,
           reduction: str = "mean", log_target: bool = False) -> Tensor:
    """The Kullback-Leibler divergence KL(target ‖ input) term by term, for log-probabilities
    ``input``: y (log y − x), taken as 0 where y = 0; with ``log_target`` the target is given
    as log y too: e^y (y − x).

    'batchmean' divides the sum by the batch size (``input.shape[0]``), which is the
    divergence per sample; 'mean' divides by the number of elements (and warns, as PyTorch).
    """
    if size_average is not None or reduce is not None:
        reduction = _legacy_reduction(size_average, reduce, reduction)
    elif reduction == "mean":
        warnings.warn("kl_div: reduction 'mean' divides the total loss by both the batch size and the support size. "
                      "'batchmean' divides only by the batch size, and aligns with the KL div math definition. "
                      "'mean' will be changed to behave the same as 'batchmean' in the next major release.",
                      UserWarning, stacklevel=3)  # the caller's line (this function is wrapped by autocast_op)
    if log_target:
        loss = ops.exp(target) * (target - input)
    else:
        positive = target > 0
        loss = ops.where(positive, target * ops.log(ops.where(positive, target, 1.0)), 0.0) - target * input
    if reduction == "batchmean":
        return ops.sum(loss) / input.shape[0] if input.ndim else ops.sum(loss)
    return _reduce(loss, reduction, "kl_div")


def poisson_nll_loss(input: Tensor, target: Tensor, log_input: bool = True, full: bool = False,
                     size_average: bool | None = None, eps: float = 1e-8, reduce: bool | None = None,
                     reduction: str = "mean") -> Tensor:
    """The negative log-likelihood of a Poisson ``target`` with rate λ: e^x − y x for
    ``log_input`` (x = log λ), else x − y log(x + eps) (x = λ). ``full`` adds Stirling's
    approximation of log(y!), y log y − y + ½ log(2π y), where y > 1."""
    reduction = _legacy_reduction(size_average, reduce, reduction)
    loss = ops.exp(input) - target * input if log_input else input - target * ops.log(input + eps)
    if full:
        large = target > 1
        y = ops.where(large, target, 1.0)  # log of the targets <= 1 is not needed and may be log 0
        loss = loss + ops.where(large, y * ops.log(y) - y + 0.5 * ops.log(2 * math.pi * y), 0.0)
    return _reduce(loss, reduction, "poisson_nll_loss")


def gaussian_nll_loss(input: Tensor, target: Tensor, var: Tensor | float, full: bool = False, eps: float = 1e-6,
                      reduction: str = "mean") -> Tensor:
    """The negative log-likelihood of ``target`` under a Gaussian of mean ``input`` and variance
    ``var``: ½ (log var + (x − y)² / var), plus ½ log 2π with ``full``.

    ``var`` has the input's shape, or one dim fewer, or a size-1 dim where the input has
    another size (one variance shared along it), or is a float. Variances below ``eps`` are
    raised to ``eps`` for the value only: their gradient is kept, as in PyTorch.
    """
    op = "gaussian_nll_loss"
    if not isinstance(var, Tensor):
        if var < 0:
            raise ValueError(f"{op}: var has negative entry/entries ({var})")
        var = ones_like(input) * float(var)
    elif bool((var.array < 0).any()):
        raise ValueError(f"{op}: var has negative entry/entries")
    if var.shape != input.shape:
        if var.shape == input.shape[:-1]:
            var = ops.unsqueeze(var, -1)
        elif not (var.ndim == input.ndim and
                  sum(v for i, v in zip(input.shape, var.shape) if i != v) == 1):
            raise ValueError(f"{op}: var is of incorrect size {tuple(var.shape)} for an input of shape "
                             f"{tuple(input.shape)}")
    if reduction not in ("mean", "sum", "none"):
        raise ValueError(f"{op}: {reduction!r} is not a valid value for reduction (use 'mean', 'sum' or 'none')")
    var = _at_least(var, eps)
    diff = input - target
    loss = 0.5 * (ops.log(var) + diff * diff / var)
    if full:
        loss = loss + 0.5 * math.log(2 * math.pi)
    return _reduce(loss, reduction, op)


# --- margins and embeddings -----------------------------------------------------------------------

def cosine_embedding_loss(input1: Tensor, input2: Tensor, target: Tensor, margin: float = 0.0,
                          size_average: bool | None = None, reduce: bool | None = None,
                          reduction: str = "mean") -> Tensor:
    """1 − cos(x1, x2) for pairs labelled 1 (similar) and max(0, cos(x1, x2) − margin) for
    pairs labelled −1, with cos along the last dim of (N, D) inputs (a target (N,)) or of
    (D,) inputs (a 0-d target). The norms are √(Σx² + 1e-12), as in PyTorch."""
    op = "cosine_embedding_loss"
    reduction = _legacy_reduction(size_average, reduce, reduction)
    if target.ndim not in (0, 1):
        raise RuntimeError(f"{op}: 0D or 1D target tensor expected, multi-target not supported (got shape "
                           f"{tuple(target.shape)})")
    if input1.ndim != target.ndim + 1 or input2.ndim != target.ndim + 1:
        raise RuntimeError(f"{op}: {target.ndim}D target tensor expects {target.ndim + 1}D input tensors, but found "
                           f"inputs with sizes {tuple(input1.shape)} and {tuple(input2.shape)}")
    dim = target.ndim
    squares1 = ops.sum(input1 * input1, dim) + 1e-12
    squares2 = ops.sum(input2 * input2, dim) + 1e-12
    cos = ops.sum(input1 * input2, dim) / ops.sqrt(squares1 * squares2)
    loss = ops.where(target == 1, 1 - cos, 0.0) + ops.where(target == -1, ops.clamp(cos - margin, min=0.0), 0.0)
    return _reduce(loss, reduction, op)


def margin_ranking_loss(input1: Tensor, input2: Tensor, target: Tensor, margin: float = 0.0,
                        size_average: bool | None = None, reduce: bool | None = None,
                        reduction: str = "mean") -> Tensor:
    """max(0, −y (x1 − x2) + margin): x1 should rank above x2 (by the margin) where y = 1,
    below where y = −1."""
    reduction = _legacy_reduction(size_average, reduce, reduction)
    if not input1.ndim == input2.ndim == target.ndim:
        raise RuntimeError(f"margin_ranking_loss: all input tensors should have same dimension but got sizes: "
                           f"input1: {tuple(input1.shape)}, input2: {tuple(input2.shape)}, target: "
                           f"{tuple(target.shape)}")
    return _reduce(ops.clamp(-target * (input1 - input2) + margin, min=0.0), reduction, "margin_ranking_loss")


def hinge_embedding_loss(input: Tensor, target: Tensor, margin: float = 1.0, size_average: bool | None = None,
                         reduce: bool | None = None, reduction: str = "mean") -> Tensor:
    """x where y = 1 and max(0, margin − x) where y = −1, for distances x (e.g. L1 between pairs)."""
    reduction = _legacy_reduction(size_average, reduce, reduction)
    loss = ops.where(target != 1, ops.clamp(margin - input, min=0.0), 0.0) + ops.where(target != -1, input, 0.0)
    return _reduce(loss, reduction, "hinge_embedding_loss")


def _check_triplet(anchor: Tensor, positive: Tensor, negative: Tensor, op: str) -> None:
    if not anchor.ndim == positive.ndim == negative.ndim:
        raise RuntimeError(f"{op}: the anchor, positive, and negative tensors are expected to have the same number "
                           f"of dimensions, but got: anchor {anchor.ndim}D, positive {positive.ndim}D, and "
                           f"negative {negative.ndim}D inputs")


def _triplet(distance, anchor: Tensor, positive: Tensor, negative: Tensor, margin: float, swap: bool,
             reduction: str, op: str) -> Tensor:
    """max(0, margin + d(a, p) − d(a, n)); with ``swap``, d(a, n) becomes min(d(a, n), d(p, n))."""
    to_negative = distance(anchor, negative)
    if swap:
        to_negative = ops.minimum(to_negative, distance(positive, negative))
    return _reduce(ops.clamp(margin + distance(anchor, positive) - to_negative, min=0.0), reduction, op)


def triplet_margin_loss(anchor: Tensor, positive: Tensor, negative: Tensor, margin: float = 1.0, p: float = 2,
                        eps: float = 1e-6, swap: bool = False, size_average: bool | None = None,
                        reduce: bool | None = None, reduction: str = "mean") -> Tensor:
    """max(0, margin + ‖a − p‖ − ‖a − n‖) with ``pairwise_distance`` (p-norm, eps): the anchor
    should be nearer the positive than the negative by the margin."""
    op = "triplet_margin_loss"
    reduction = _legacy_reduction(size_average, reduce, reduction)
    _check_triplet(anchor, positive, negative, op)
    if margin <= 0:
        raise ValueError(f"{op}: margin must be greater than 0, got {margin}")
    return _triplet(lambda x1, x2: pairwise_distance(x1, x2, p, eps), anchor, positive, negative, margin, swap,
                    reduction, op)


def triplet_margin_with_distance_loss(anchor: Tensor, positive: Tensor, negative: Tensor, *, distance_function=None,
                                      margin: float = 1.0, swap: bool = False, reduction: str = "mean") -> Tensor:
    """``triplet_margin_loss`` with any ``distance_function(x1, x2)`` (``pairwise_distance`` by default)."""
    op = "triplet_margin_with_distance_loss"
    if reduction not in ("mean", "sum", "none"):
        raise ValueError(f"{op}: {reduction!r} is not a valid value for reduction (use 'mean', 'sum' or 'none')")
    if margin <= 0:
        raise ValueError(f"{op}: margin must be greater than 0, got {margin}")
    _check_triplet(anchor, positive, negative, op)
    return _triplet(distance_function or pairwise_distance, anchor, positive, negative, margin, swap, reduction, op)


def soft_margin_loss(input: Tensor, target: Tensor, size_average: bool | None = None, reduce: bool | None = None,
                     reduction: str = "mean") -> Tensor:
    """log(1 + e^(−y x)) for labels y = ±1 (a logistic loss), computed stably."""
    reduction = _legacy_reduction(size_average, reduce, reduction)
    return _reduce(softplus(-target * input, 1.0, math.inf), reduction, "soft_margin_loss")


def multilabel_soft_margin_loss(input: Tensor, target: Tensor, weight: Tensor | None = None,
                                size_average: bool | None = None, reduce: bool | None = None,
                                reduction: str = "mean") -> Tensor:
    """Binary cross-entropy of the logits (N, C) against 0/1 targets, averaged over the C classes
    per sample (each class term times ``weight`` when given)."""
    reduction = _legacy_reduction(size_average, reduce, reduction)
    loss = -(target * logsigmoid(input) + (1 - target) * logsigmoid(-input))
    if weight is not None:
        loss = loss * weight
    return _reduce(ops.mean(loss, input.ndim - 1), reduction, "multilabel_soft_margin_loss")


def multi_margin_loss(input: Tensor, target: Tensor, p: int = 1, margin: float = 1.0, weight: Tensor | None = None,
                      size_average: bool | None = None, reduce: bool | None = None,
                      reduction: str = "mean") -> Tensor:
    """The multi-class hinge loss of scores (N, C) or (C,) at class indices y:
    Σ_{i ≠ y} max(0, margin − x_y + x_i)^p / C, times ``weight[y]`` when given."""
    op = "multi_margin_loss"
    reduction = _legacy_reduction(size_average, reduce, reduction)
    if p not in (1, 2):
        raise ValueError(f"{op}: only p == 1 and p == 2 supported, got p={p}")
    if weight is not None and weight.ndim != 1:
        raise ValueError(f"{op}: weight must be one-dimensional, got shape {tuple(weight.shape)}")
    if input.ndim not in (1, 2):
        raise RuntimeError(f"{op}: expected a 1D or 2D input (N, C), got shape {tuple(input.shape)}")
    scores = input if input.ndim == 2 else ops.unsqueeze(input, 0)
    n, classes = scores.shape
    y = backend.to_module(_integer_array(target, op, "target (class indices)"), input._xp).reshape(-1)
    if y.shape != (n,):
        raise RuntimeError(f"{op}: inconsistent target size {tuple(target.shape)} for an input of size "
                           f"{tuple(input.shape)}")
    if y.size and (int(y.min()) < 0 or int(y.max()) >= classes):
        raise IndexError(f"{op}: target {int(y.max()) if int(y.max()) >= classes else int(y.min())} is out of "
                         f"bounds for {classes} classes")
    others = Tensor._wrap(y[:, None] != input._xp.arange(classes))
    correct = ops.gather(scores, 1, Tensor._wrap(y[:, None]))
    hinge = ops.relu(margin - correct + scores)  # relu: no gradient where the hinge is exactly 0, as PyTorch
    terms = ops.where(others, hinge if p == 1 else hinge * hinge, 0.0)
    if weight is not None:
        terms = terms * ops.unsqueeze(weight[Tensor._wrap(y)], 1)
    loss = ops.sum(terms, 1) / classes
    return _reduce(loss if input.ndim == 2 else ops.squeeze(loss, 0), reduction, op)


# --- connectionist temporal classification ----------------------------------------------------------

def _lengths(lengths, batch: int, op: str, name: str):
    """Per-sample lengths (a tensor, a list or a number) as a NumPy int64 array of shape (batch,)."""
    array = numpy.asarray(backend.to_module(lengths.array, numpy) if isinstance(lengths, Tensor) else lengths)
    if array.dtype.kind not in "iu":
        raise TypeError(f"{op}: {name} must hold integers, got {array.dtype}")
    array = array.astype(numpy.int64).reshape(-1)
    if array.shape != (batch,):
        raise RuntimeError(f"{op}: {name} must be of size batch_size ({batch}), got {array.size} values")
    return array


def _log_sum_exp(*terms: Tensor) -> Tensor:
    """log Σ e^term, elementwise over tensors of one shape, where −∞ terms (impossible paths)
    contribute nothing, and a sum of −∞ terms only is −∞ with a zero gradient (not NaN)."""
    stacked = ops.stack(terms, 0)
    peak = stacked.array.max(axis=0)
    peak = Tensor._wrap(stacked._xp.where(stacked._xp.isneginf(peak), 0.0, peak).astype(stacked.dtype))
    total = ops.sum(ops.exp(stacked - peak), 0)
    possible = total > 0
    return ops.where(possible, ops.log(ops.where(possible, total, 1.0)) + peak, -math.inf)


def _shift(alpha: Tensor, by: int) -> Tensor:
    """alpha moved ``by`` states to the right along dim 1, with −∞ (log 0) coming in."""
    n, states = alpha.shape
    if by >= states:
        return full((n, states), -math.inf, dtype=alpha.dtype, device=alpha.device)
    edge = full((n, by), -math.inf, dtype=alpha.dtype, device=alpha.device)
    return ops.cat([edge, ops.narrow(alpha, 1, 0, states - by)], 1)


def ctc_loss(log_probs: Tensor, targets: Tensor, input_lengths, target_lengths, blank: int = 0,
             reduction: str = "mean", zero_infinity: bool = False) -> Tensor:
    """The connectionist temporal classification loss: −log of the total probability of all
    alignments of each target sequence to its input, summed in log space.

    ``log_probs`` (T, N, C) are log-probabilities (``log_softmax`` over the C classes, one of
    them ``blank``); ``targets`` are (N, S) padded label sequences or their concatenation
    (sum of ``target_lengths``,); ``input_lengths`` and ``target_lengths`` give each sample's
    T_n and L_n. Unbatched: (T, C) and (S,). 'mean' divides each loss by its target length
    (at least 1), then averages over the batch; ``zero_infinity`` replaces the infinite loss
    of an impossible alignment (T_n too short) by 0, and its gradient by 0.

    The extended target l' = (blank, l1, blank, l2, ..., lL, blank) has 2L + 1 states; the
    forward variable α_t(s), the log-probability of all paths that emit l'_1..l'_s in the
    first t + 1 steps, follows α_t(s) = log_probs[t, l'_s] + logsumexp(α_{t−1}(s),
    α_{t−1}(s − 1), α_{t−1}(s − 2) when l'_s is not blank and differs from l'_{s−2}), one
    vectorised step per time step for the whole batch. The loss is −logsumexp of the last
    two states at t = T_n − 1. Autograd differentiates the recursion (the backward, beta,
    recursion of the paper is what it computes), so second derivatives work too. The
    gradient is the true derivative with respect to ``log_probs``; PyTorch's own returns the
    gradient with respect to the logits of a ``log_softmax`` instead, so the two agree once
    the gradient has gone through ``log_softmax``.
    """
    op = "ctc_loss"
    if log_probs.ndim not in (2, 3):
        raise RuntimeError(f"{op}: log_probs must be (T, N, C) or unbatched (T, C), got shape "
                           f"{tuple(log_probs.shape)}")
    unbatched = log_probs.ndim == 2
    if unbatched:
        log_probs, targets = ops.unsqueeze(log_probs, 1), ops.unsqueeze(targets, 0)
    steps, n, classes = log_probs.shape
    if not 0 <= blank < classes:
        raise RuntimeError(f"{op}: blank must be in label range [0, {classes}), got {blank}")
    in_len = _lengths(input_lengths, n, op, "input_lengths")
    tg_len = _lengths(target_lengths, n, op, "target_lengths")
    if (in_len < 0).any() or (in_len > steps).any():
        raise RuntimeError(f"{op}: expected input_lengths to have values in [0, {steps}], got {in_len.tolist()}")
    if (tg_len < 0).any():
        raise RuntimeError(f"{op}: expected target_lengths to have values at least 0, got {tg_len.tolist()}")
    labels = backend.to_module(targets.array if isinstance(targets, Tensor) else numpy.asarray(targets), numpy)
    labels = labels.astype(numpy.int64)
    longest = int(tg_len.max()) if n else 0
    padded = numpy.full((n, longest), blank, dtype=numpy.int64)
    if labels.ndim == 1:  # the targets one after another
        if labels.size < tg_len.sum():
            raise RuntimeError(f"{op}: {labels.size} concatenated targets are fewer than the sum of target_lengths, "
                               f"{int(tg_len.sum())}")
        starts = numpy.concatenate([[0], numpy.cumsum(tg_len)[:-1]])
        for i, (start, length) in enumerate(zip(starts, tg_len)):
            padded[i, :length] = labels[start:start + length]
    else:
        if labels.shape[0] != n or labels.shape[1] < longest:
            raise RuntimeError(f"{op}: targets of shape {labels.shape} do not hold {n} sequences of up to "
                               f"{longest} labels")
        for i, length in enumerate(tg_len):
            padded[i, :length] = labels[i, :length]
    if padded.size and (padded.min() < 0 or padded.max() >= classes):
        raise IndexError(f"{op}: target labels must be in [0, {classes}), got values from {padded.min()} to "
                         f"{padded.max()}")

    xp = log_probs._xp
    states = 2 * longest + 1
    extended = numpy.full((n, states), blank, dtype=numpy.int64)
    extended[:, 1::2] = padded
    may_skip = numpy.zeros((n, states), dtype=bool)
    may_skip[:, 2:] = (extended[:, 2:] != blank) & (extended[:, 2:] != extended[:, :-2])
    may_skip = Tensor._wrap(backend.to_module(may_skip, xp))
    index = Tensor._wrap(backend.to_module(numpy.broadcast_to(extended, (steps, n, states)), xp))
    emissions = ops.gather(log_probs, 2, index)  # (T, N, S): log_probs[t, n, l'_s]

    # α before the first step: all the probability in state 0 (nothing emitted yet).
    start = numpy.full((n, states), -math.inf)
    start[:, 0] = 0.0
    alpha = Tensor._wrap(backend.to_module(start.astype(log_probs.array.dtype), xp))
    alphas = [alpha]
    for emitted in ops.unbind(emissions, 0):
        skip = ops.where(may_skip, _shift(alpha, 2), -math.inf)
        alpha = emitted + _log_sum_exp(alpha, _shift(alpha, 1), skip)
        alphas.append(alpha)
    final = ops.stack(alphas, 0)[Tensor._wrap(backend.to_module(in_len, xp)), Tensor._wrap(xp.arange(n))]
    last = backend.to_module(2 * tg_len, xp)[:, None]
    end_blank = ops.gather(final, 1, Tensor._wrap(last))
    end_label = ops.where(Tensor._wrap(last > 0), ops.gather(final, 1, Tensor._wrap(xp.maximum(last - 1, 0))),
                          -math.inf)
    loss = -ops.squeeze(_log_sum_exp(end_blank, end_label), 1)
    if zero_infinity:
        loss = ops.where(loss == math.inf, 0.0, loss)
    if reduction == "mean":
        divisor = Tensor._wrap(backend.to_module(numpy.maximum(tg_len, 1), xp).astype(loss.dtype))
        return ops.mean(loss / divisor)
    loss = _reduce(loss, reduction, op)
    return ops.squeeze(loss, 0) if unbatched and reduction == "none" else loss
