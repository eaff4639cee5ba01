"""A decoder-only Transformer language model in the style of GPT-2 (and of Karpathy's nanoGPT,
whose parameter names it keeps: ``transformer.wte``, ``transformer.h.0.attn.c_attn``, ...)."""

from __future__ import annotations

import math
from dataclasses import dataclass

from .. import ops
from ..autograd import no_grad
from ..nn import Dropout, Embedding, GELU, LayerNorm, Linear, Module, ModuleDict, ModuleList
from ..nn import functional as F
from ..nn import init
from ..backend import bool_
from ..tensor import Tensor, arange, multinomial, ones

__all__ = ["GPTConfig", "GPT", "Block", "CausalSelfAttention", "MLP", "KVCache"]


@dataclass
class GPTConfig:
    """The size of a :class:`GPT`: vocabulary, context length (``block_size``), layers, heads,
    embedding width, dropout, and whether Linear and LayerNorm layers have biases."""
    vocab_size: int = 256
    block_size: int = 128
    n_layer: int = 4
    n_head: int = 4
    n_embd: int = 128
    dropout: float = 0.0
    bias: bool = True


class KVCache:
    """The keys and values that a GPT's attention layers computed for the tokens seen so far.

    Generating token t+1 needs the keys and values of tokens 1..t in every layer; they do not
    change when a token is appended (causal attention: earlier positions never see later ones), so
    they are kept instead of recomputed. Each step then runs the model on the one new token:
    O(T) work per step instead of O(T²) (and the MLPs and projections on one position, not T).
    ``layers[i]`` is ``(k, v)`` of layer i, each (B, n_head, length, head_dim), or None before the
    first call; ``length`` is the number of cached positions.

    >>> import nnkit
    >>> model = GPT(GPTConfig(vocab_size=20, block_size=8, n_layer=2, n_head=2, n_embd=16)).eval()
    >>> cache = KVCache(model.config.n_layer)
    >>> _ = model(nnkit.randint(0, 20, (1, 5)), cache=cache)
    >>> cache.length, tuple(cache.layers[0][0].shape)
    (5, (1, 2, 5, 8))
    """

    def __init__(self, n_layer: int):
        self.layers: list = [None] * n_layer

    @property
    def length(self) -> int:
        return 0 if self.layers[0] is None else self.layers[0][0].shape[2]


class CausalSelfAttention(Module):
    """Multi-head self-attention in which position t sees only positions <= t."""

    def __init__(self, config: GPTConfig):
        super().__init__()
        if config.n_embd % config.n_head:
            raise ValueError(f"GPT: n_embd ({config.n_embd}) must be divisible by n_head ({config.n_head})")
        self.c_attn = Linear(config.n_embd, 3 * config.n_embd, bias=config.bias)
        self.c_proj = Linear(config.n_embd, config.n_embd, bias=config.bias)
        self.resid_dropout = Dropout(config.dropout)
        self.n_head, self.n_embd, self.dropout = config.n_head, config.n_embd, config.dropout

    def forward(self, x: Tensor, past: tuple | None = None) -> tuple:
        """Attention over ``x`` (B, T, C); ``past`` is the (k, v) of earlier positions from a
        :class:`KVCache`. Returns the output and this layer's (k, v) including ``x``'s positions."""
        b, t, c = x.shape
        heads = lambda u: ops.transpose(ops.reshape(u, (b, t, self.n_head, c // self.n_head)), 1, 2)  # noqa: E731
        q, k, v = (heads(u) for u in ops.split(self.c_attn(x), self.n_embd, 2))
        dropout_p = self.dropout if self.training else 0.0
        if past is None:
            y = F.scaled_dot_product_attention(q, k, v, dropout_p=dropout_p, is_causal=True)
        else:
            k, v = ops.cat([past[0], k], 2), ops.cat([past[1], v], 2)
            # New position i (after s cached ones) sees keys 0..s+i: all the past, causal among the new.
            s = past[0].shape[2]
            mask = None if t == 1 else ops.tril(ones((t, s + t), dtype=bool_, device=x.device), diagonal=s)
            y = F.scaled_dot_product_attention(q, k, v, attn_mask=mask, dropout_p=dropout_p)
        y = ops.reshape(ops.transpose(y, 1, 2), (b, t, c))
        return self.resid_dropout(self.c_proj(y)), (k, v)


class MLP(Module):
    """The position-wise feed-forward network: Linear(C, 4C), GELU, Linear(4C, C), dropout."""

    def __init__(self, config: GPTConfig):
        super().__init__()
        self.c_fc = Linear(config.n_embd, 4 * config.n_embd, bias=config.bias)
        self.gelu = GELU()
        self.c_proj = Linear(4 * config.n_embd, config.n_embd, bias=config.bias)
        self.dropout = Dropout(config.dropout)

    def forward(self, x: Tensor) -> Tensor:
        return self.dropout(self.c_proj(self.gelu(self.c_fc(x))))


class Block(Module):
    """A pre-LN Transformer block: x + attn(ln_1(x)), then x + mlp(ln_2(x))."""

    def __init__(self, config: GPTConfig):
        super().__init__()
        self.ln_1 = LayerNorm(config.n_embd, bias=config.bias)
        self.attn = CausalSelfAttention(config)
        self.ln_2 = LayerNorm(config.n_embd, bias=config.bias)
        self.mlp = MLP(config)

    def forward(self, x: Tensor, cache: KVCache | None = None, layer: int = 0) -> Tensor:
        """``cache``: read layer ``layer``'s past keys and values from it and store the extended ones."""
        past = None if cache is None else cache.layers[layer]
        attended, kv = self.attn(self.ln_1(x), past)
        if cache is not None:
            cache.layers[layer] = kv
        x = x + attended
        return x + self.mlp(self.ln_2(x))


class GPT(Module):
    """A GPT language model: token and position embeddings, ``n_layer`` causal :class:`Block`\\ s,
    a final LayerNorm, and an output head whose weight *is* the token embedding (tied).

    Initialised as GPT-2: weights N(0, 0.02²), biases zero, and the projections that feed the
    residual stream (``c_proj``) N(0, (0.02/√(2·n_layer))²), so the residual sum does not grow
    with depth. At initialisation the predictions are nearly uniform: the loss is close to
    ln(vocab_size).

    ``forward(idx, targets=None, cache=None)``: ``idx`` (B, T) token ids with T <= block_size;
    returns ``(logits, loss)``, logits (B, T, vocab_size) and the mean cross-entropy against
    ``targets`` (B, T) (entries −1 are ignored), or None without targets. With a
    :class:`KVCache`, ``idx`` holds only the tokens after the cached ones (positions continue
    from ``cache.length``), and the cache is extended in place.

    >>> import nnkit
    >>> model = GPT(GPTConfig(vocab_size=50, block_size=16, n_layer=2, n_head=2, n_embd=32))
    >>> logits, loss = model(nnkit.randint(0, 50, (3, 16)), nnkit.randint(0, 50, (3, 16)))
    >>> logits.shape, round(float(loss), 1)   # ln 50 = 3.9
    ((3, 16, 50), 3.9)
    """

    def __init__(self, config: GPTConfig):
        super().__init__()
        self.config = config
        self.transformer = ModuleDict(dict(
            wte=Embedding(config.vocab_size, config.n_embd),
            wpe=Embedding(config.block_size, config.n_embd),
            drop=Dropout(config.dropout),
            h=ModuleList([Block(config) for _ in range(config.n_layer)]),
            ln_f=LayerNorm(config.n_embd, bias=config.bias),
        ))
        self.lm_head = Linear(config.n_embd, config.vocab_size, bias=False)
        self.transformer.wte.weight = self.lm_head.weight  # tied: one Parameter under two names
        self.apply(self._init_weights)
        for name, p in self.named_parameters():
            if name.endswith("c_proj.weight"):
                init.normal_(p, 0.0, 0.02 / math.sqrt(2 * config.n_layer))

    @staticmethod
    def _init_weights(module: Module) -> None:
        if isinstance(module, (Linear, Embedding)):
            init.normal_(module.weight, 0.0, 0.02)
        if isinstance(module, Linear) and module.bias is not None:
            init.zeros_(module.bias)

    def forward(self, idx: Tensor, targets: Tensor | None = None, cache: KVCache | None = None) -> tuple:
        if idx.ndim != 2:
            raise RuntimeError(f"GPT: expected token ids of shape (B, T), got {tuple(idx.shape)}")
        start = 0 if cache is None else cache.length
        t = start + idx.shape[1]
        if t > self.config.block_size:
            cached = f" ({start} cached + {idx.shape[1]} new)" if cache is not None else ""
            raise RuntimeError(f"GPT: cannot forward a sequence of length {t}{cached}: block_size is "
                               f"{self.config.block_size}")
        if cache is not None and len(cache.layers) != len(self.transformer.h):
            raise ValueError(f"GPT: the KVCache has {len(cache.layers)} layers, the model {len(self.transformer.h)}")
        positions = arange(start, t, device=idx.device)
        x = self.transformer.drop(self.transformer.wte(idx) + self.transformer.wpe(positions))
        for i, block in enumerate(self.transformer.h):
            x = block(x, cache, i)
        logits = self.lm_head(self.transformer.ln_f(x))
        if targets is None:
            return logits, None
        loss = F.cross_entropy(ops.reshape(logits, (-1, logits.shape[-1])), ops.reshape(targets, (-1,)),
                               ignore_index=-1)
        return logits, loss

    @no_grad()
    def generate(self, idx: Tensor, max_new_tokens: int, temperature: float = 1.0, top_k: int | None = None,
                 generator=None, use_cache: bool = True) -> Tensor:
        """Extend ``idx`` (B, T) by ``max_new_tokens`` tokens, each drawn from the model's
        distribution for the next token (logits / ``temperature``, restricted to the ``top_k``
        most likely tokens when given), seeing at most the last ``block_size`` tokens.
        ``top_k=1`` is greedy decoding. Call ``model.eval()`` first if the model has dropout.

        ``use_cache`` (default, as in Hugging Face's ``generate``) keeps a :class:`KVCache`, so each
        step runs the model on one new token; the tokens are the same as with ``use_cache=False``,
        which reruns the whole window every step. Once the sequence is longer than ``block_size``
        the window slides, every position shifts, and the cache is rebuilt from the window each step.
        """
        if temperature <= 0:
            raise ValueError(f"GPT.generate: temperature must be positive, got {temperature} (use top_k=1 for "
                             "greedy decoding)")
        cache = None
        for _ in range(max_new_tokens):
            if not use_cache:
                logits, _ = self(idx[:, -self.config.block_size:])
            elif cache is None or cache.length + 1 > self.config.block_size:
                cache = KVCache(len(self.transformer.h))  # first step, or the window slid: prefill it
                logits, _ = self(idx[:, -self.config.block_size:], cache=cache)
            else:
                logits, _ = self(idx[:, -1:], cache=cache)  # only the token appended last step
            logits = logits[:, -1, :] / temperature
            if top_k is not None:
                kth = ops.topk(logits, min(top_k, logits.shape[-1])).values[:, -1:]
                logits = ops.where(logits < kth, float("-inf"), logits)
            next_token = multinomial(ops.softmax(logits, -1), 1, generator=generator)
            idx = ops.cat([idx, next_token], 1)
        return idx
