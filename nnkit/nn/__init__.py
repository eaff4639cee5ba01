"""``nnkit.nn``: modules, layers, losses, initialisation and utilities, as ``torch.nn``.

A model is a tree of :class:`Module` objects holding :class:`Parameter` tensors;
the layers here are modules, and :mod:`nnkit.nn.functional` has each of them as
a plain function.
"""

# Re-exports: the public names of nnkit.nn.
from . import functional, init, utils  # noqa: F401
from .activation import ELU, GELU, LeakyReLU, LogSoftmax, Mish, PReLU, ReLU, Sigmoid, SiLU, Softmax, Softplus, Tanh
from .dropout import Dropout
from .embedding import Embedding
from .flatten import Flatten, Unflatten
from .linear import Bilinear, Identity, Linear
from .loss import BCELoss, BCEWithLogitsLoss, CrossEntropyLoss, HuberLoss, L1Loss, MSELoss, NLLLoss, SmoothL1Loss
from .module import Module, ModuleDict, ModuleList, Parameter, Sequential
from .normalization import BatchNorm1d, LayerNorm
from .summary import summary

# --- layers of chapters 07-08 (conv, pooling, recurrent, attention) ---
# --- end of layers of chapters 07-08 ---
