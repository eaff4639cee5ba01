"""Attention layers (chapter 08): ``MultiheadAttention``.

Masks. ``MultiheadAttention`` takes boolean masks where True means *may not attend*
(``key_padding_mask`` and ``attn_mask``), as PyTorch's does, while
``scaled_dot_product_attention`` (:mod:`nnkit.nn.functional.attention`) takes True as
*may attend*. Float masks are added to the scores in both.
"""

from __future__ import annotations

import math

from .. import ops
from ..tensor import Tensor, empty
from . import functional as F
from . import init
from .functional.attention import _additive, _attend
from .linear import Linear
from .module import Module, Parameter, check_sizes


class MultiheadAttention(Module):
    """Multi-head attention: project query, key and value, attend in ``num_heads`` heads of
    ``embed_dim / num_heads`` features each, concatenate the heads and project again.

    Parameters as PyTorch's: ``in_proj_weight`` (3E, E) and ``in_proj_bias`` (3E,) stacking
    the q, k, v projections (or ``q_proj_weight``, ``k_proj_weight``, ``v_proj_weight`` when
    ``kdim`` or ``vdim`` differ from ``embed_dim``), and ``out_proj`` (a Linear).

    ``forward(query, key, value, key_padding_mask=None, need_weights=True, attn_mask=None,
    average_attn_weights=True, is_causal=False)`` takes (L, N, E) queries and (S, N, E) keys and
    values ((N, L, E) with ``batch_first``; (L, E) unbatched) and returns ``(output, weights)``:
    output shaped as the query, weights (N, L, S) averaged over the heads (or
    (N, num_heads, L, S)), or None without ``need_weights``. In the masks True means *may not
    attend*: ``key_padding_mask`` (N, S) hides padding keys, ``attn_mask`` is (L, S) or
    (N·num_heads, L, S); float masks are added to the scores.

    >>> import nnkit
    >>> mha = MultiheadAttention(16, 4, batch_first=True)
    >>> x = nnkit.randn(2, 5, 16)
    >>> out, weights = mha(x, x, x)
    >>> out.shape, weights.shape
    ((2, 5, 16), (2, 5, 5))
    """

    def __init__(self, embed_dim: int, num_heads: int, dropout: float = 0.0, bias: bool = True,
                 add_bias_kv: bool = False, add_zero_attn: bool = False, kdim: int | None = None,
                 vdim: int | None = None, batch_first: bool = False, device=None, dtype=None):
        super().__init__()
        if add_bias_kv or add_zero_attn:
            raise NotImplementedError("MultiheadAttention: add_bias_kv and add_zero_attn are not supported")
        check_sizes("MultiheadAttention", 1, embed_dim=embed_dim, num_heads=num_heads)
        if embed_dim % num_heads:
            raise ValueError(f"MultiheadAttention: embed_dim ({embed_dim}) must be divisible by num_heads "
                             f"({num_heads})")
        self.embed_dim, self.num_heads, self.dropout, self.batch_first = embed_dim, num_heads, dropout, batch_first
        self.head_dim = embed_dim // num_heads
        self.kdim = kdim if kdim is not None else embed_dim
        self.vdim = vdim if vdim is not None else embed_dim
        self._qkv_same_embed_dim = self.kdim == embed_dim and self.vdim == embed_dim
        make = lambda *shape: Parameter(empty(*shape, device=device, dtype=dtype))  # noqa: E731
        if self._qkv_same_embed_dim:
            self.in_proj_weight = make(3 * embed_dim, embed_dim)
            for name in ("q_proj_weight", "k_proj_weight", "v_proj_weight"):
                self.register_parameter(name, None)
        else:
            self.q_proj_weight = make(embed_dim, embed_dim)
            self.k_proj_weight = make(embed_dim, self.kdim)
            self.v_proj_weight = make(embed_dim, self.vdim)
            self.register_parameter("in_proj_weight", None)
        if bias:
            self.in_proj_bias = make(3 * embed_dim)
        else:
            self.register_parameter("in_proj_bias", None)
        self.out_proj = Linear(embed_dim, embed_dim, bias=bias, device=device, dtype=dtype)
        self._reset_parameters()

    def _reset_parameters(self) -> None:
        """PyTorch's: Xavier-uniform projections, zero biases; out_proj.weight keeps Linear's init."""
        if self._qkv_same_embed_dim:
            init.xavier_uniform_(self.in_proj_weight)
        else:
            for w in (self.q_proj_weight, self.k_proj_weight, self.v_proj_weight):
                init.xavier_uniform_(w)
        if self.in_proj_bias is not None:
            init.zeros_(self.in_proj_bias)
            init.zeros_(self.out_proj.bias)

    def _project(self, query: Tensor, key: Tensor, value: Tensor) -> tuple:
        e, b = self.embed_dim, self.in_proj_bias
        bias = (None, None, None) if b is None else (b[:e], b[e:2 * e], b[2 * e:])
        if self._qkv_same_embed_dim and query is key and key is value:  # self-attention: one product
            qkv = F.linear(query, self.in_proj_weight, b)
            return ops.split(qkv, e, -1)
        if self._qkv_same_embed_dim:
            w = self.in_proj_weight
            weights = (w[:e], w[e:2 * e], w[2 * e:])
        else:
            weights = (self.q_proj_weight, self.k_proj_weight, self.v_proj_weight)
        return tuple(F.linear(x, w, bb) for x, w, bb in zip((query, key, value), weights, bias))

    def forward(self, query: Tensor, key: Tensor, value: Tensor, key_padding_mask=None, need_weights: bool = True,
                attn_mask=None, average_attn_weights: bool = True, is_causal: bool = False) -> tuple:
        op = "MultiheadAttention"
        if query.ndim not in (2, 3) or key.ndim != query.ndim or value.ndim != query.ndim:
            raise RuntimeError(f"{op}: expected query, key and value all 3-D (batched) or all 2-D (unbatched), "
                               f"got shapes {tuple(query.shape)}, {tuple(key.shape)}, {tuple(value.shape)}")
        if is_causal and attn_mask is None:
            raise RuntimeError(f"{op}: is_causal=True is only a hint that attn_mask is the causal mask, as in "
                               "PyTorch; pass that attn_mask too")
        batched = query.ndim == 3
        same = query is key, key is value
        if not batched:
            query, key, value = (ops.unsqueeze(t, 0) for t in (query, key, value))
        elif not self.batch_first:
            query, key, value = (ops.transpose(t, 0, 1) for t in (query, key, value))
        if same[0]:  # keep `query is key` for the one-product projection
            key = query
        if same[1]:
            value = key
        n, length, source = query.shape[0], query.shape[1], key.shape[1]
        if query.shape[-1] != self.embed_dim or key.shape[-1] != self.kdim or value.shape[-1] != self.vdim:
            raise RuntimeError(f"{op}: expected query, key and value with {self.embed_dim}, {self.kdim} and "
                               f"{self.vdim} features, got shapes {tuple(query.shape)}, {tuple(key.shape)}, "
                               f"{tuple(value.shape)}")
        if key.shape[:2] != value.shape[:2] or key.shape[0] != n:
            raise RuntimeError(f"{op}: key {tuple(key.shape)} and value {tuple(value.shape)} must have the same "
                               f"batch size and length, and the query's batch size {n}")

        h, d = self.num_heads, self.head_dim
        q, k, v = (ops.transpose(ops.reshape(t, (n, -1, h, d)), 1, 2) for t in self._project(query, key, value))
        mask = self._mask(attn_mask, key_padding_mask, query, n, length, source, batched)
        out, weights = _attend(q, k, v, mask, self.dropout if self.training else 0.0, 1.0 / math.sqrt(d))
        out = self.out_proj(ops.reshape(ops.transpose(out, 1, 2), (n, length, self.embed_dim)))
        if not batched:
            out = ops.squeeze(out, 0)
        elif not self.batch_first:
            out = ops.transpose(out, 0, 1)
        if not need_weights:
            return out, None
        if average_attn_weights:
            weights = ops.mean(weights, 1)
        return out, (ops.squeeze(weights, 0) if not batched else weights)

    def _mask(self, attn_mask, key_padding_mask, like: Tensor, n: int, length: int, source: int, batched: bool):
        """Both masks as one additive tensor that broadcasts to (N, heads, L, S), or None."""
        op = "MultiheadAttention"
        mask = None
        if attn_mask is not None:
            mask = _additive(attn_mask, like, True, op)
            if mask.shape == (length, source):
                pass
            elif mask.shape == (n * self.num_heads, length, source):
                mask = ops.reshape(mask, (n, self.num_heads, length, source))
            else:
                raise RuntimeError(f"{op}: attn_mask must be ({length}, {source}) or "
                                   f"({n * self.num_heads}, {length}, {source}), got {tuple(mask.shape)}")
        if key_padding_mask is not None:
            padding = _additive(key_padding_mask, like, True, op)
            expected = (n, source) if batched else (source,)
            if padding.shape != expected:
                raise RuntimeError(f"{op}: key_padding_mask must be {expected}, got {tuple(padding.shape)}")
            padding = ops.reshape(padding, (n, 1, 1, source))
            mask = padding if mask is None else mask + padding
        return mask

    def extra_repr(self) -> str:
        return f"embed_dim={self.embed_dim}, num_heads={self.num_heads}, batch_first={self.batch_first}"
