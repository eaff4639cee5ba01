"""The Transformer encoder (chapter 08): ``TransformerEncoderLayer``, ``TransformerEncoder`` and
positional encodings.

Attention treats its inputs as a set: permute the positions and the outputs are
permuted the same way. Word order reaches the model only through a positional
encoding added to the embeddings: a fixed one (:class:`SinusoidalPositionalEncoding`,
as in "Attention Is All You Need") or a learned one
(:class:`LearnedPositionalEmbedding`, as in BERT and GPT).
"""

from __future__ import annotations

import copy
from typing import Callable

from .. import backend, ops
from ..tensor import Tensor, empty
from . import functional as F
from . import init
from .attention import MultiheadAttention
from .dropout import Dropout
from .linear import Linear
from .module import Module, ModuleList, Parameter
from .normalization import LayerNorm

__all__ = ["TransformerEncoderLayer", "TransformerEncoder", "SinusoidalPositionalEncoding",
           "LearnedPositionalEmbedding"]

_ACTIVATIONS = {"relu": F.relu, "gelu": F.gelu}


class TransformerEncoderLayer(Module):
    """Self-attention, then a two-layer feed-forward network, each wrapped in a residual
    connection and a LayerNorm, as PyTorch's (same submodule names, so state dicts move):

    - ``norm_first=False`` (post-LN, the original): x = norm1(x + SA(x)); x = norm2(x + FF(x))
    - ``norm_first=True`` (pre-LN, easier to train deep): x = x + SA(norm1(x)); x = x + FF(norm2(x))

    where FF(x) = linear2(dropout(activation(linear1(x)))). ``forward(src, src_mask=None,
    src_key_padding_mask=None, is_causal=False)``: the masks as for :class:`MultiheadAttention`
    (True = may not attend).

    >>> import nnkit
    >>> layer = TransformerEncoderLayer(d_model=32, nhead=4, dim_feedforward=64, batch_first=True)
    >>> layer(nnkit.randn(2, 10, 32)).shape
    (2, 10, 32)
    """

    def __init__(self, d_model: int, nhead: int, dim_feedforward: int = 2048, dropout: float = 0.1,
                 activation: str | Callable[[Tensor], Tensor] = "relu", layer_norm_eps: float = 1e-5,
                 batch_first: bool = False, norm_first: bool = False, bias: bool = True, device=None, dtype=None):
        super().__init__()
        if isinstance(activation, str):
            if activation not in _ACTIVATIONS:
                raise RuntimeError(f"TransformerEncoderLayer: activation should be 'relu' or 'gelu' (or a callable), "
                                   f"not {activation!r}")
            activation = _ACTIVATIONS[activation]
        kw = {"device": device, "dtype": dtype}
        self.self_attn = MultiheadAttention(d_model, nhead, dropout=dropout, bias=bias, batch_first=batch_first, **kw)
        self.linear1 = Linear(d_model, dim_feedforward, bias=bias, **kw)
        self.dropout = Dropout(dropout)
        self.linear2 = Linear(dim_feedforward, d_model, bias=bias, **kw)
        self.norm_first = norm_first
        self.norm1 = LayerNorm(d_model, eps=layer_norm_eps, bias=bias, **kw)
        self.norm2 = LayerNorm(d_model, eps=layer_norm_eps, bias=bias, **kw)
        self.dropout1 = Dropout(dropout)
        self.dropout2 = Dropout(dropout)
        self.activation = activation

    def forward(self, src: Tensor, src_mask=None, src_key_padding_mask=None, is_causal: bool = False) -> Tensor:
        x = src
        if self.norm_first:
            x = x + self._sa_block(self.norm1(x), src_mask, src_key_padding_mask, is_causal)
            return x + self._ff_block(self.norm2(x))
        x = self.norm1(x + self._sa_block(x, src_mask, src_key_padding_mask, is_causal))
        return self.norm2(x + self._ff_block(x))

    def _sa_block(self, x: Tensor, attn_mask, key_padding_mask, is_causal: bool) -> Tensor:
        out, _ = self.self_attn(x, x, x, attn_mask=attn_mask, key_padding_mask=key_padding_mask,
                                need_weights=False, is_causal=is_causal)
        return self.dropout1(out)

    def _ff_block(self, x: Tensor) -> Tensor:
        return self.dropout2(self.linear2(self.dropout(self.activation(self.linear1(x)))))


class TransformerEncoder(Module):
    """``num_layers`` copies of ``encoder_layer`` (independent parameters, named ``layers.0``, ...),
    applied in turn, then ``norm`` if given.

    >>> import nnkit
    >>> encoder = TransformerEncoder(TransformerEncoderLayer(16, 2, 32), num_layers=3)
    >>> encoder(nnkit.randn(7, 2, 16)).shape
    (7, 2, 16)
    """

    def __init__(self, encoder_layer: TransformerEncoderLayer, num_layers: int, norm: Module | None = None,
                 enable_nested_tensor: bool = True, mask_check: bool = True):
        super().__init__()
        self.layers = ModuleList([copy.deepcopy(encoder_layer) for _ in range(num_layers)])
        self.num_layers = num_layers
        self.norm = norm

    def forward(self, src: Tensor, mask=None, src_key_padding_mask=None, is_causal: bool | None = None) -> Tensor:
        x = src
        for layer in self.layers:
            x = layer(x, src_mask=mask, src_key_padding_mask=src_key_padding_mask, is_causal=bool(is_causal))
        return x if self.norm is None else self.norm(x)


def _add_positions(x: Tensor, table: Tensor, batch_first: bool, name: str) -> Tensor:
    """x + table[:length], broadcast over the batch; x is (L, N, E), (N, L, E) or (L, E)."""
    time_dim = 1 if batch_first and x.ndim == 3 else 0
    length = x.shape[time_dim]
    if x.ndim not in (2, 3) or x.shape[-1] != table.shape[1]:
        raise RuntimeError(f"{name}: expected an input (L, N, {table.shape[1]}), (N, L, {table.shape[1]}) with "
                           f"batch_first, or (L, {table.shape[1]}), got shape {tuple(x.shape)}")
    if length > table.shape[0]:
        raise RuntimeError(f"{name}: the sequence length {length} exceeds max_len={table.shape[0]}")
    positions = table[:length]
    if x.ndim == 3 and time_dim == 0:
        positions = ops.unsqueeze(positions, 1)
    return x + positions


class SinusoidalPositionalEncoding(Module):
    """Add the fixed encoding PE[p, 2i] = sin(p / 10000^(2i/d)), PE[p, 2i+1] = cos(p / 10000^(2i/d))
    to an input (L, N, d_model) ((N, L, d_model) with ``batch_first``, or (L, d_model)), then
    apply dropout. The table is a buffer (``pe``, not saved in the state dict: it is a formula).

    Each pair of dims is a rotation at its own frequency, so PE[p + k] is a fixed linear
    function of PE[p]: relative offsets are easy for attention to read.

    >>> import nnkit
    >>> pe = SinusoidalPositionalEncoding(8, max_len=100, batch_first=True)
    >>> pe(nnkit.zeros(1, 3, 8))[0, 0].tolist()   # position 0: sin 0 = 0, cos 0 = 1
    [0.0, 1.0, 0.0, 1.0, 0.0, 1.0, 0.0, 1.0]
    """

    def __init__(self, d_model: int, max_len: int = 5000, dropout: float = 0.0, batch_first: bool = False,
                 device=None, dtype=None):
        super().__init__()
        self.d_model, self.max_len, self.batch_first = d_model, max_len, batch_first
        xp = backend.module_for(device if device is not None else backend.get_default_device())
        position = xp.arange(max_len, dtype="float64")[:, None]
        angle = position * 10000.0 ** (-xp.arange(0, d_model, 2, dtype="float64") / d_model)
        table = xp.empty((max_len, d_model), dtype=dtype or backend.get_default_dtype())
        table[:, 0::2] = xp.sin(angle)
        table[:, 1::2] = xp.cos(angle)[:, :d_model // 2]
        self.register_buffer("pe", Tensor._wrap(table), persistent=False)
        self.dropout = Dropout(dropout)

    def forward(self, x: Tensor) -> Tensor:
        return self.dropout(_add_positions(x, self.pe, self.batch_first, "SinusoidalPositionalEncoding"))

    def extra_repr(self) -> str:
        return f"{self.d_model}, max_len={self.max_len}, batch_first={self.batch_first}"


class LearnedPositionalEmbedding(Module):
    """Add a learned vector per position, ``weight`` (max_len, d_model) initialised N(0, 0.02²)
    (as BERT and GPT-2), to an input (L, N, d_model) ((N, L, d_model) with ``batch_first``, or
    (L, d_model)). It cannot handle sequences longer than ``max_len``.

    >>> import nnkit
    >>> LearnedPositionalEmbedding(16, 8)(nnkit.zeros(5, 2, 8)).shape
    (5, 2, 8)
    """

    def __init__(self, max_len: int, d_model: int, batch_first: bool = False, device=None, dtype=None):
        super().__init__()
        self.max_len, self.d_model, self.batch_first = max_len, d_model, batch_first
        self.weight = Parameter(empty(max_len, d_model, device=device, dtype=dtype))
        self.reset_parameters()

    def reset_parameters(self) -> None:
        init.normal_(self.weight, 0.0, 0.02)

    def forward(self, x: Tensor) -> Tensor:
        return _add_positions(x, self.weight, self.batch_first, "LearnedPositionalEmbedding")

    def extra_repr(self) -> str:
        return f"{self.max_len}, {self.d_model}, batch_first={self.batch_first}"
