"""The Transformer (chapter 08): encoder and decoder layers and stacks, ``Transformer``, and
positional encodings.

The layers are PyTorch's, with the same submodule names (so state dicts move both ways),
options and default initialisation. Attention treats its inputs as a set: permute the
positions and the outputs are permuted the same way. Word order reaches the model only
through a positional encoding added to the embeddings: a fixed one
(:class:`SinusoidalPositionalEncoding`, as in "Attention Is All You Need") or a learned
one (:class:`LearnedPositionalEmbedding`, as in BERT and GPT).
"""

from __future__ import annotations

import copy
import math
from typing import Callable

from .. import backend, ops
from ..tensor import Tensor, empty, full
from . import functional as F
from . import init
from .attention import MultiheadAttention
from .dropout import Dropout
from .linear import Linear
from .module import Module, ModuleList, Parameter
from .normalization import LayerNorm

__all__ = ["Transformer", "TransformerEncoderLayer", "TransformerEncoder", "TransformerDecoderLayer",
           "TransformerDecoder", "SinusoidalPositionalEncoding", "LearnedPositionalEmbedding"]

_ACTIVATIONS = {"relu": F.relu, "gelu": F.gelu}


def _activation(activation: str | Callable[[Tensor], Tensor]) -> Callable[[Tensor], Tensor]:
    """The feed-forward nonlinearity: 'relu', 'gelu', or any callable (a module is kept as a submodule)."""
    if isinstance(activation, str):
        if activation not in _ACTIVATIONS:
            raise RuntimeError(f"activation should be relu/gelu, not {activation}")
        return _ACTIVATIONS[activation]
    return activation


class _FeedForward(Module):
    """What the encoder and decoder layers share: the feed-forward block
    linear2(dropout(activation(linear1(x)))) and its options."""

    def _build_feed_forward(self, d_model: int, dim_feedforward: int, dropout: float, bias: bool, kw: dict) -> None:
        self.linear1 = Linear(d_model, dim_feedforward, bias=bias, **kw)
        self.dropout = Dropout(dropout)
        self.linear2 = Linear(dim_feedforward, d_model, bias=bias, **kw)

    def _ff(self, x: Tensor) -> Tensor:
        return self.linear2(self.dropout(self.activation(self.linear1(x))))


class TransformerEncoderLayer(_FeedForward):
    """Self-attention, then a two-layer feed-forward network, each wrapped in a residual
    connection and a LayerNorm, as PyTorch's (same submodule names, so state dicts move):

    - ``norm_first=False`` (post-LN, the original): x = norm1(x + SA(x)); x = norm2(x + FF(x))
    - ``norm_first=True`` (pre-LN, easier to train deep): x = x + SA(norm1(x)); x = x + FF(norm2(x))

    where FF(x) = linear2(dropout(activation(linear1(x)))); ``activation`` is 'relu', 'gelu'
    or any callable. ``forward(src, src_mask=None, src_key_padding_mask=None,
    is_causal=False)``: the masks as for :class:`MultiheadAttention` (True = may not attend).

    >>> import nnkit
    >>> layer = TransformerEncoderLayer(d_model=32, nhead=4, dim_feedforward=64, batch_first=True)
    >>> layer(nnkit.randn(2, 10, 32)).shape
    (2, 10, 32)
    """

    def __init__(self, d_model: int, nhead: int, dim_feedforward: int = 2048, dropout: float = 0.1,
                 activation: str | Callable[[Tensor], Tensor] = F.relu, layer_norm_eps: float = 1e-5,
                 batch_first: bool = False, norm_first: bool = False, bias: bool = True, device=None, dtype=None):
        super().__init__()
        activation = _activation(activation)
        kw = {"device": device, "dtype": dtype}
        self.self_attn = MultiheadAttention(d_model, nhead, dropout=dropout, bias=bias, batch_first=batch_first, **kw)
        self._build_feed_forward(d_model, dim_feedforward, dropout, bias, kw)
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
        return self.dropout2(self._ff(x))


class TransformerDecoderLayer(_FeedForward):
    """Masked self-attention over the target, attention from the target to the encoder's
    output (``memory``), then the feed-forward network; each wrapped in a residual
    connection and a LayerNorm (``norm1``, ``norm2``, ``norm3``; before each block with
    ``norm_first``), as PyTorch's.

    ``forward(tgt, memory, tgt_mask=None, memory_mask=None, tgt_key_padding_mask=None,
    memory_key_padding_mask=None, tgt_is_causal=False, memory_is_causal=False)``; the masks
    as for :class:`MultiheadAttention` (True = may not attend).

    >>> import nnkit
    >>> layer = TransformerDecoderLayer(d_model=16, nhead=2, dim_feedforward=32, batch_first=True)
    >>> mask = Transformer.generate_square_subsequent_mask(7)
    >>> layer(nnkit.randn(2, 7, 16), nnkit.randn(2, 5, 16), tgt_mask=mask).shape
    (2, 7, 16)
    """

    def __init__(self, d_model: int, nhead: int, dim_feedforward: int = 2048, dropout: float = 0.1,
                 activation: str | Callable[[Tensor], Tensor] = F.relu, layer_norm_eps: float = 1e-5,
                 batch_first: bool = False, norm_first: bool = False, bias: bool = True, device=None, dtype=None):
        super().__init__()
        activation = _activation(activation)
        kw = {"device": device, "dtype": dtype}
        self.self_attn = MultiheadAttention(d_model, nhead, dropout=dropout, bias=bias, batch_first=batch_first, **kw)
        self.multihead_attn = MultiheadAttention(d_model, nhead, dropout=dropout, bias=bias, batch_first=batch_first,
                                                 **kw)
        self._build_feed_forward(d_model, dim_feedforward, dropout, bias, kw)
        self.norm_first = norm_first
        self.norm1 = LayerNorm(d_model, eps=layer_norm_eps, bias=bias, **kw)
        self.norm2 = LayerNorm(d_model, eps=layer_norm_eps, bias=bias, **kw)
        self.norm3 = LayerNorm(d_model, eps=layer_norm_eps, bias=bias, **kw)
        self.dropout1 = Dropout(dropout)
        self.dropout2 = Dropout(dropout)
        self.dropout3 = Dropout(dropout)
        self.activation = activation

    def forward(self, tgt: Tensor, memory: Tensor, tgt_mask=None, memory_mask=None, tgt_key_padding_mask=None,
                memory_key_padding_mask=None, tgt_is_causal: bool = False, memory_is_causal: bool = False) -> Tensor:
        x = tgt
        if self.norm_first:
            x = x + self._sa_block(self.norm1(x), tgt_mask, tgt_key_padding_mask, tgt_is_causal)
            x = x + self._mha_block(self.norm2(x), memory, memory_mask, memory_key_padding_mask, memory_is_causal)
            return x + self._ff_block(self.norm3(x))
        x = self.norm1(x + self._sa_block(x, tgt_mask, tgt_key_padding_mask, tgt_is_causal))
        x = self.norm2(x + self._mha_block(x, memory, memory_mask, memory_key_padding_mask, memory_is_causal))
        return self.norm3(x + self._ff_block(x))

    def _sa_block(self, x: Tensor, attn_mask, key_padding_mask, is_causal: bool) -> Tensor:
        out, _ = self.self_attn(x, x, x, attn_mask=attn_mask, key_padding_mask=key_padding_mask,
                                need_weights=False, is_causal=is_causal)
        return self.dropout1(out)

    def _mha_block(self, x: Tensor, memory: Tensor, attn_mask, key_padding_mask, is_causal: bool) -> Tensor:
        out, _ = self.multihead_attn(x, memory, memory, attn_mask=attn_mask, key_padding_mask=key_padding_mask,
                                     need_weights=False, is_causal=is_causal)
        return self.dropout2(out)

    def _ff_block(self, x: Tensor) -> Tensor:
        return self.dropout3(self._ff(x))


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


class TransformerDecoder(Module):
    """``num_layers`` copies of ``decoder_layer`` (``layers.0``, ...), each attending to the same
    ``memory``, then ``norm`` if given.

    >>> import nnkit
    >>> decoder = TransformerDecoder(TransformerDecoderLayer(16, 2, 32), num_layers=2)
    >>> decoder(nnkit.randn(7, 2, 16), nnkit.randn(5, 2, 16)).shape
    (7, 2, 16)
    """

    def __init__(self, decoder_layer: TransformerDecoderLayer, num_layers: int, norm: Module | None = None):
        super().__init__()
        self.layers = ModuleList([copy.deepcopy(decoder_layer) for _ in range(num_layers)])
        self.num_layers = num_layers
        self.norm = norm

    def forward(self, tgt: Tensor, memory: Tensor, tgt_mask=None, memory_mask=None, tgt_key_padding_mask=None,
                memory_key_padding_mask=None, tgt_is_causal: bool | None = None,
                memory_is_causal: bool = False) -> Tensor:
        x = tgt
        for layer in self.layers:
            x = layer(x, memory, tgt_mask=tgt_mask, memory_mask=memory_mask, tgt_key_padding_mask=tgt_key_padding_mask,
                      memory_key_padding_mask=memory_key_padding_mask, tgt_is_causal=bool(tgt_is_causal),
                      memory_is_causal=memory_is_causal)
        return x if self.norm is None else self.norm(x)


class Transformer(Module):
    """The encoder-decoder Transformer of "Attention Is All You Need", as PyTorch's: an
    encoder of ``num_encoder_layers`` layers and a decoder of ``num_decoder_layers``, each
    followed by a LayerNorm (``encoder.norm``, ``decoder.norm``); or ``custom_encoder`` and
    ``custom_decoder``. Every weight matrix is initialised Xavier-uniform.

    ``forward(src, tgt, src_mask=None, tgt_mask=None, memory_mask=None,
    src_key_padding_mask=None, tgt_key_padding_mask=None, memory_key_padding_mask=None,
    src_is_causal=None, tgt_is_causal=None, memory_is_causal=False)`` takes src (S, N, E)
    and tgt (T, N, E) ((N, ·, E) with ``batch_first``) and returns (T, N, E). Embeddings,
    positional encodings and the output projection are the caller's.

    >>> import nnkit
    >>> model = Transformer(d_model=16, nhead=2, num_encoder_layers=1, num_decoder_layers=1, dim_feedforward=32)
    >>> tgt_mask = Transformer.generate_square_subsequent_mask(4)
    >>> model(nnkit.randn(6, 3, 16), nnkit.randn(4, 3, 16), tgt_mask=tgt_mask).shape
    (4, 3, 16)
    """

    def __init__(self, d_model: int = 512, nhead: int = 8, num_encoder_layers: int = 6, num_decoder_layers: int = 6,
                 dim_feedforward: int = 2048, dropout: float = 0.1,
                 activation: str | Callable[[Tensor], Tensor] = F.relu, custom_encoder: Module | None = None,
                 custom_decoder: Module | None = None, layer_norm_eps: float = 1e-5, batch_first: bool = False,
                 norm_first: bool = False, bias: bool = True, device=None, dtype=None):
        super().__init__()
        kw = {"device": device, "dtype": dtype}
        options = (d_model, nhead, dim_feedforward, dropout, activation, layer_norm_eps, batch_first, norm_first, bias)
        if custom_encoder is not None:
            self.encoder = custom_encoder
        else:
            self.encoder = TransformerEncoder(TransformerEncoderLayer(*options, **kw), num_encoder_layers,
                                              LayerNorm(d_model, eps=layer_norm_eps, bias=bias, **kw))
        if custom_decoder is not None:
            self.decoder = custom_decoder
        else:
            self.decoder = TransformerDecoder(TransformerDecoderLayer(*options, **kw), num_decoder_layers,
                                              LayerNorm(d_model, eps=layer_norm_eps, bias=bias, **kw))
        self._reset_parameters()
        self.d_model, self.nhead, self.batch_first = d_model, nhead, batch_first

    def _reset_parameters(self) -> None:
        for p in self.parameters():
            if p.ndim > 1:
                init.xavier_uniform_(p)

    def forward(self, src: Tensor, tgt: Tensor, src_mask=None, tgt_mask=None, memory_mask=None,
                src_key_padding_mask=None, tgt_key_padding_mask=None, memory_key_padding_mask=None,
                src_is_causal: bool | None = None, tgt_is_causal: bool | None = None,
                memory_is_causal: bool = False) -> Tensor:
        batch_dim = 0 if self.batch_first else 1
        if src.ndim == 3 and src.shape[batch_dim] != tgt.shape[batch_dim]:
            raise RuntimeError(f"Transformer: the batch number of src and tgt must be equal, got shapes "
                               f"{tuple(src.shape)} and {tuple(tgt.shape)}")
        if src.shape[-1] != self.d_model or tgt.shape[-1] != self.d_model:
            raise RuntimeError(f"Transformer: the feature number of src and tgt must be equal to d_model "
                               f"({self.d_model}), got shapes {tuple(src.shape)} and {tuple(tgt.shape)}")
        memory = self.encoder(src, mask=src_mask, src_key_padding_mask=src_key_padding_mask, is_causal=src_is_causal)
        return self.decoder(tgt, memory, tgt_mask=tgt_mask, memory_mask=memory_mask,
                            tgt_key_padding_mask=tgt_key_padding_mask,
                            memory_key_padding_mask=memory_key_padding_mask, tgt_is_causal=tgt_is_causal,
                            memory_is_causal=memory_is_causal)

    @staticmethod
    def generate_square_subsequent_mask(sz: int, device=None, dtype=None) -> Tensor:
        """The causal mask for a sequence of length ``sz``: a float (sz, sz) tensor, −∞ above the
        diagonal (position i may not attend to j > i) and 0 elsewhere.

        >>> Transformer.generate_square_subsequent_mask(3)
        tensor([[0., -inf, -inf],
                [0., 0., -inf],
                [0., 0., 0.]])
        """
        return ops.triu(full((sz, sz), -math.inf, dtype=dtype, device=device), 1)


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
