"""Attention (chapter 08): ``scaled_dot_product_attention`` (``MultiheadAttention`` is in
:mod:`nnkit.nn.attention`).

Attention is written from differentiable primitives (two matrix products, a
softmax, a mask), so it needs no backward of its own and can be differentiated
twice; the big products dominate its cost, so a fused backward would gain little.

Masks. ``scaled_dot_product_attention`` takes a boolean ``attn_mask`` where True
means *may attend*, as PyTorch's does; ``MultiheadAttention`` takes boolean masks
where True means *may not attend* (``key_padding_mask`` and ``attn_mask``), as
PyTorch's does. Float masks are added to the scores in both. A query that may
attend to no key at all (a fully masked row) gets all-zero attention weights and
so an all-zero output, never NaN: that is what PyTorch's
``scaled_dot_product_attention`` does. (PyTorch's ``MultiheadAttention`` gives
zeros there with ``need_weights=False`` but NaN with ``need_weights=True``; nnkit
gives zeros either way, so that asking for the weights never changes the output.)
"""

from __future__ import annotations

import math

from ... import backend, ops
from ...amp import autocast_op
from ...tensor import Tensor
from .dropout import dropout

__all__ = ["scaled_dot_product_attention"]


def _additive(mask, like: Tensor, true_means_masked: bool, op: str) -> Tensor:
    """A boolean or float mask as a tensor to add to the scores: 0 where attending, −∞ where
    not. A float mask is added as it is (in the scores' dtype), so a mask that requires grad
    gets its gradient."""
    if isinstance(mask, Tensor) and mask.dtype.kind == "f":
        return mask if mask.dtype == like.dtype else mask.to(like.dtype)
    xp = like._xp
    array = backend.to_module(xp.asarray(mask.array if isinstance(mask, Tensor) else mask), xp)
    if array.dtype.kind == "b":
        blocked = array if true_means_masked else ~array
        return Tensor._wrap(xp.where(blocked, -math.inf, 0.0).astype(like.dtype))
    if array.dtype.kind != "f":
        raise RuntimeError(f"{op}: expected attn_mask dtype to be bool or float, got {array.dtype}")
    return Tensor._wrap(array.astype(like.dtype, copy=False))


def _attend(query: Tensor, key: Tensor, value: Tensor, mask: Tensor | None, dropout_p: float, scale: float,
            rows_may_be_blocked: bool = True) -> tuple:
    """softmax(q kᵀ · scale + mask) v and the attention weights, over the last two dims.

    ``mask`` is an additive tensor (or None). Rows that the mask blocks entirely get zero
    weights: their scores are replaced by zeros before the softmax (no NaN, in the forward
    or the backward) and their weights by zeros after it. (A causal mask blocks no row, so
    it skips that check.)"""
    scores = ops.matmul(query * scale, ops.transpose(key, -2, -1))
    dead = None
    if mask is not None:
        try:
            scores = scores + mask
        except RuntimeError:
            raise RuntimeError(f"attention: the mask of shape {tuple(mask.shape)} does not broadcast to the "
                               f"scores of shape {tuple(scores.shape)} (..., L, S)") from None
        blocked = (scores.array == -math.inf).all(axis=-1, keepdims=True) if rows_may_be_blocked else None
        if blocked is not None and blocked.any():
            dead = Tensor._wrap(blocked)
            scores = ops.where(dead, 0.0, scores)
    weights = ops.softmax(scores, -1)
    if dead is not None:
        weights = ops.where(dead, 0.0, weights)
    if dropout_p > 0.0:
        weights = dropout(weights, dropout_p, training=True)
    return ops.matmul(weights, value), weights


def _repeat_heads(t: Tensor, heads: int, name: str, op: str) -> Tensor:
    """Grouped-query attention: each of the key's (or value's) heads (dim −3) repeated for its
    group of ``heads`` query heads."""
    if t.ndim < 3 or heads % t.shape[-3]:
        raise RuntimeError(f"{op}: with enable_gqa=True the number of heads in {name} (dim -3 of "
                           f"{tuple(t.shape)}) must divide the number of heads in query ({heads})")
    return t if t.shape[-3] == heads else ops.repeat_interleave(t, heads // t.shape[-3], -3)


def _causal_mask(length: int, source_length: int, xp):
    """True where query i may attend to key j: j <= i (top-left aligned, as PyTorch)."""
    return xp.tri(length, source_length, dtype=bool)


@autocast_op("scaled_dot_product_attention")
def scaled_dot_product_attention(query: Tensor, key: Tensor, value: Tensor, attn_mask=None,
                                 dropout_p: float = 0.0, is_causal: bool = False, scale: float | None = None,
                                 enable_gqa: bool = False) -> Tensor:
    """softmax(Q Kᵀ / √E + mask) V for query (..., L, E), key (..., S, E) and value (..., S, Ev).

    ``attn_mask`` broadcasts to (..., L, S): boolean (True = may attend) or float (added to
    the scores, and differentiated: a learned bias gets its gradient). ``is_causal`` lets
    query i attend only to keys j <= i (instead of an ``attn_mask``). ``scale`` replaces
    1/√E. ``dropout_p`` drops attention weights (always: this function has no training
    flag, as in PyTorch). With ``enable_gqa`` the key and value may have fewer heads
    (dim −3) than the query, each shared by a group of query heads (grouped-query
    attention). A query that may attend to no key gets a zero output (see the module's
    docstring).

    >>> import nnkit
    >>> q = k = v = nnkit.randn(2, 4, 5, 8)     # (batch, heads, length, features)
    >>> scaled_dot_product_attention(q, k, v, is_causal=True).shape
    (2, 4, 5, 8)
    """
    op = "scaled_dot_product_attention"
    if query.ndim < 2 or key.ndim < 2 or value.ndim < 2:
        raise RuntimeError(f"{op}: query, key and value need at least 2 dims, got shapes "
                           f"{tuple(query.shape)}, {tuple(key.shape)}, {tuple(value.shape)}")
    if query.shape[-1] != key.shape[-1] or key.shape[-2] != value.shape[-2]:
        raise RuntimeError(f"{op}: query (..., L, E) {tuple(query.shape)}, key (..., S, E) {tuple(key.shape)} "
                           f"and value (..., S, Ev) {tuple(value.shape)} do not fit together")
    if not 0.0 <= dropout_p <= 1.0:
        raise RuntimeError(f"{op}: dropout probability has to be between 0 and 1, but got {dropout_p}")
    if is_causal and attn_mask is not None:
        raise RuntimeError(f"{op}: explicit attn_mask should not be set when is_causal=True; pass one or the "
                           "other, not both (as in PyTorch)")
    if enable_gqa and query.ndim >= 3:
        key = _repeat_heads(key, query.shape[-3], "key", op)
        value = _repeat_heads(value, query.shape[-3], "value", op)
    if is_causal:
        mask = _additive(_causal_mask(query.shape[-2], key.shape[-2], query._xp), query, False, op)
    else:
        mask = None if attn_mask is None else _additive(attn_mask, query, False, op)
    scale = 1.0 / math.sqrt(query.shape[-1]) if scale is None else scale
    return _attend(query, key, value, mask, dropout_p, scale, rows_may_be_blocked=not is_causal)[0]
