"""LoRA, low-rank adaptation (chapter 09): fine-tune a big model by training two thin matrices per layer.

A pretrained ``Linear`` keeps its weight W (out × in) frozen and learns a low-rank
update ΔW = (α / r) · B A, with A (r × in) and B (out × r) and a rank r much
smaller than in and out:

    y = x Wᵀ + b + (α / r) · dropout(x) Aᵀ Bᵀ

B starts at zero, so at the first step the model is exactly the pretrained one;
A starts as a ``Linear`` weight would (Kaiming-uniform, as PEFT does). Only A and
B are trained: r · (in + out) numbers instead of in · out. For inference,
:meth:`LoRALinear.merge` folds ΔW into W, so the adapted layer costs nothing
extra; :meth:`LoRALinear.unmerge` takes it out again.

The names follow Hugging Face PEFT: the wrapped layer is ``base_layer``, the
adapter is ``lora_A`` and ``lora_B`` (bias-free ``Linear`` layers), and
:func:`apply_lora` picks layers with PEFT's ``target_modules`` rule.

>>> import nnkit
>>> model = nnkit.nn.Sequential(nnkit.nn.Linear(16, 16), nnkit.nn.ReLU(), nnkit.nn.Linear(16, 2))
>>> model = apply_lora(model, target_modules=["0"], r=2, alpha=4)
>>> [name for name, p in model.named_parameters() if p.requires_grad]
['0.lora_A.weight', '0.lora_B.weight']
>>> sorted(lora_state_dict(model))
['0.lora_A.weight', '0.lora_B.weight']
"""

from __future__ import annotations

import math
import re
from collections import OrderedDict
from typing import Iterable

from ..autograd import no_grad
from ..tensor import Tensor
from . import init
from .dropout import Dropout
from .linear import Identity, Linear
from .module import Module

__all__ = ["LoRALinear", "apply_lora", "lora_state_dict", "merge_lora", "unmerge_lora"]


class LoRALinear(Module):
    """A frozen ``Linear`` plus a trainable low-rank update: y = base(x) + (α / r) · dropout(x) Aᵀ Bᵀ.

    ``base`` is the layer to adapt (its weight and bias are frozen here, in place);
    ``r`` the rank, ``alpha`` the scale numerator (the update is multiplied by
    ``scaling = alpha / r``), ``dropout`` the probability of dropping the adapter's
    input. ``A`` (r, in) is ``lora_A.weight``, ``B`` (out, r) is ``lora_B.weight``.

    >>> import nnkit
    >>> layer = LoRALinear(nnkit.nn.Linear(8, 4), r=2, alpha=4)
    >>> layer.A.shape, layer.B.shape, layer.scaling
    ((2, 8), (4, 2), 2.0)
    >>> x = nnkit.randn(3, 8)
    >>> bool(nnkit.allclose(layer(x), layer.base_layer(x)))   # B = 0: the pretrained layer, unchanged
    True
    """

    def __init__(self, base: Linear, r: int = 8, alpha: float = 16, dropout: float = 0.0):
        super().__init__()
        if not isinstance(base, Linear):
            raise TypeError(f"LoRALinear: base must be an nnkit.nn.Linear, got {type(base).__name__}")
        if not isinstance(r, int) or r <= 0:
            raise ValueError(f"LoRALinear: the rank r must be a positive integer, got {r!r}")
        if not 0.0 <= dropout < 1.0:
            raise ValueError(f"LoRALinear: dropout must be in [0, 1), got {dropout}")
        self.base_layer = base.requires_grad_(False)
        self.r, self.alpha, self.scaling = r, alpha, alpha / r
        weight = base.weight
        self.lora_dropout = Dropout(dropout) if dropout > 0 else Identity()
        self.lora_A = Linear(base.in_features, r, bias=False, device=weight.device, dtype=weight.dtype)
        self.lora_B = Linear(r, base.out_features, bias=False, device=weight.device, dtype=weight.dtype)
        self.reset_lora_parameters()
        self.merged = False

    def reset_lora_parameters(self) -> None:
        """A ~ Kaiming-uniform(a = √5) as a ``Linear`` weight (PEFT's default), B = 0."""
        init.kaiming_uniform_(self.lora_A.weight, a=math.sqrt(5))
        init.zeros_(self.lora_B.weight)

    @property
    def A(self) -> Tensor:
        return self.lora_A.weight

    @property
    def B(self) -> Tensor:
        return self.lora_B.weight

    @property
    def weight(self) -> Tensor:
        return self.base_layer.weight

    @property
    def bias(self) -> Tensor | None:
        return self.base_layer.bias

    @property
    def in_features(self) -> int:
        return self.base_layer.in_features

    @property
    def out_features(self) -> int:
        return self.base_layer.out_features

    def delta_weight(self) -> Tensor:
        """ΔW = scaling · B A, of the base weight's shape (out, in)."""
        return (self.B @ self.A) * self.scaling

    def forward(self, input: Tensor) -> Tensor:
        out = self.base_layer(input)
        if self.merged:
            return out
        return out + self.lora_B(self.lora_A(self.lora_dropout(input))) * self.scaling

    def merge(self) -> "LoRALinear":
        """Fold ΔW into the base weight (W ← W + scaling · B A); forward then skips the adapter."""
        if self.merged:
            raise RuntimeError("LoRALinear.merge: the adapter is already merged (call unmerge() first)")
        with no_grad():
            self.weight.add_(self.delta_weight())
        self.merged = True
        return self

    def unmerge(self) -> "LoRALinear":
        """Undo :meth:`merge` (W ← W − scaling · B A), equal to the original W up to float rounding."""
        if not self.merged:
            raise RuntimeError("LoRALinear.unmerge: the adapter is not merged")
        with no_grad():
            self.weight.sub_(self.delta_weight())
        self.merged = False
        return self

    def extra_repr(self) -> str:
        return (f"in_features={self.in_features}, out_features={self.out_features}, r={self.r}, "
                f"alpha={self.alpha}, merged={self.merged}")


def _matches(name: str, targets: str | Iterable[str]) -> bool:
    """PEFT's ``target_modules`` rule: a string is a regular expression the whole name must match;
    a list matches a name equal to one of its entries or ending with ``"." + entry``."""
    if isinstance(targets, str):
        return re.fullmatch(targets, name) is not None
    return any(name == t or name.endswith("." + t) for t in targets)


def apply_lora(model: Module, target_modules: str | Iterable[str] = ("query", "value"), r: int = 8,
               alpha: float = 16, dropout: float = 0.0) -> Module:
    """Wrap, in place, every ``Linear`` of ``model`` that ``target_modules`` names in a :class:`LoRALinear`,
    freeze every other parameter, and return ``model``.

    ``target_modules`` follows PEFT: a list of names matches the layers whose qualified
    name equals an entry or ends with ``"." + entry`` (``"query"`` matches
    ``encoder.layer.0.attention.self.query``); a single string is a regular expression
    that must match the whole name. A named layer that is not a ``Linear`` is an
    error, and so is a list that names no layer at all. To train a new head as well,
    unfreeze it afterwards: ``model.classifier.requires_grad_(True)``.

    Load the pretrained weights first, then wrap: as in PEFT, a wrapped layer's own
    weight is named ``...query.base_layer.weight`` in the model's ``state_dict``.
    """
    if not isinstance(target_modules, str):
        target_modules = list(target_modules)
    model.requires_grad_(False)
    chosen = [(name, m) for name, m in model.named_modules() if name and _matches(name, target_modules)]
    for name, module in chosen:
        if isinstance(module, LoRALinear):
            raise ValueError(f"apply_lora: {name} already has a LoRA adapter")
        if not isinstance(module, Linear):
            raise TypeError(f"apply_lora: target module {name} is a {type(module).__name__}; "
                            "only nnkit.nn.Linear layers can be wrapped")
    if not chosen:
        raise ValueError(f"apply_lora: no module of {type(model).__name__} matches target_modules="
                         f"{target_modules!r}")
    for name, module in chosen:
        parent_name, _, child = name.rpartition(".")
        parent = model.get_submodule(parent_name) if parent_name else model
        setattr(parent, child, LoRALinear(module, r=r, alpha=alpha, dropout=dropout))
    return model


def _adapters(model: Module) -> list[LoRALinear]:
    return [m for m in model.modules() if isinstance(m, LoRALinear)]


def lora_state_dict(model: Module) -> "OrderedDict[str, Tensor]":
    """Only the adapter tensors of ``model`` (``...query.lora_A.weight``, ``...query.lora_B.weight``),
    detached, with the same names as in ``model.state_dict()``: a LoRA checkpoint of a
    few hundred kilobytes instead of the whole model. Load it back with
    ``model.load_state_dict(sd, strict=False)`` into a model prepared by the same
    :func:`apply_lora` call."""
    sd = OrderedDict()
    for name, m in model.named_modules():
        if isinstance(m, LoRALinear):
            prefix = name + "." if name else ""
            sd[prefix + "lora_A.weight"] = m.A.detach()
            sd[prefix + "lora_B.weight"] = m.B.detach()
    if not sd:
        raise ValueError(f"lora_state_dict: {type(model).__name__} has no LoRA adapter (call apply_lora first)")
    return sd


def merge_lora(model: Module) -> Module:
    """:meth:`LoRALinear.merge` for every adapter of ``model`` that is not merged yet; returns ``model``."""
    for m in _adapters(model):
        if not m.merged:
            m.merge()
    return model


def unmerge_lora(model: Module) -> Module:
    """:meth:`LoRALinear.unmerge` for every merged adapter of ``model``; returns ``model``."""
    for m in _adapters(model):
        if m.merged:
            m.unmerge()
    return model
