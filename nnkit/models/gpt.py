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
from ..tensor import Tensor, arange, multinomial

__all__ = ["GPTConfig", "GPT", "Block", "CausalSelfAttention", "MLP"]


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

    def forward(self, x: Tensor) -> Tensor:
        b, t, c = x.shape
        heads = lambda u: ops.transpose(ops.reshape(u, (b, t, self.n_head, c // self.n_head)), 1, 2)  # noqa: E731
        q, k, v = (heads(u) for u in ops.split(self.c_attn(x), self.n_embd, 2))
        y = F.scaled_dot_product_attention(q, k, v, dropout_p=self.dropout if self.training else 0.0, is_causal=True)
        y = ops.reshape(ops.transpose(y, 1, 2), (b, t, c))
        return self.resid_dropout(self.c_proj(y))


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

    def forward(self, x: Tensor) -> Tensor:
        x = x + self.attn(self.ln_1(x))
        return x + self.mlp(self.ln_2(x))


class GPT(Module):
    """A GPT language model: token and position embeddings, ``n_layer`` causal :class:`Block`\\ s,
    a final LayerNorm, and an output head whose weight *is* the token embedding (tied).

    Initialised as GPT-2: weights N(0, 0.02²), biases zero, and the projections that feed the
    residual stream (``c_proj``) N(0, (0.02/√(2·n_layer))²), so the residual sum does not grow
    with depth. At initialisation the predictions are nearly uniform: the loss is close to
    ln(vocab_size).

    ``forward(idx, targets=None)``: ``idx`` (B, T) token ids with T <= block_size; returns
    ``(logits, loss)``, logits (B, T, vocab_size) and the mean cross-entropy against
    ``targets`` (B, T) (entries −1 are ignored), or None without targets.

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

    def forward(self, idx: Tensor, targets: Tensor | None = None) -> tuple:
        if idx.ndim != 2:
            raise RuntimeError(f"GPT: expected token ids of shape (B, T), got {tuple(idx.shape)}")
        t = idx.shape[1]
        if t > self.config.block_size:
            raise RuntimeError(f"GPT: cannot forward a sequence of length {t}: block_size is "
                               f"{self.config.block_size}")
        positions = arange(t, device=idx.device)
        x = self.transformer.drop(self.transformer.wte(idx) + self.transformer.wpe(positions))
        for block in self.transformer.h:
            x = block(x)
        logits = self.lm_head(self.transformer.ln_f(x))
        if targets is None:
            return logits, None
        loss = F.cross_entropy(ops.reshape(logits, (-1, logits.shape[-1])), ops.reshape(targets, (-1,)),
                               ignore_index=-1)
        return logits, loss

    @no_grad()
    def generate(self, idx: Tensor, max_new_tokens: int, temperature: float = 1.0, top_k: int | None = None,
                 generator=None) -> Tensor:
        """Extend ``idx`` (B, T) by ``max_new_tokens`` tokens, each drawn from the model's
        distribution for the next token (logits / ``temperature``, restricted to the ``top_k``
        most likely tokens when given), seeing at most the last ``block_size`` tokens.
        ``top_k=1`` is greedy decoding. Call ``model.eval()`` first if the model has dropout.
        """
        if temperature <= 0:
            raise ValueError(f"GPT.generate: temperature must be positive, got {temperature} (use top_k=1 for "
                             "greedy decoding)")
        for _ in range(max_new_tokens):
            logits, _ = self(idx[:, -self.config.block_size:])
            logits = logits[:, -1, :] / temperature
            if top_k is not None:
                kth = ops.topk(logits, min(top_k, logits.shape[-1])).values[:, -1:]
                logits = ops.where(logits < kth, float("-inf"), logits)
            next_token = multinomial(ops.softmax(logits, -1), 1, generator=generator)
            idx = ops.cat([idx, next_token], 1)
        return idx
