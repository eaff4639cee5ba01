"""``nnkit.nn``: modules, layers, losses, initialisation and utilities, as ``torch.nn``.

A model is a tree of :class:`Module` objects holding :class:`Parameter` tensors;
the layers here are modules, and :mod:`nnkit.nn.functional` has each of them as
a plain function.
"""

from . import functional, init
from .module import Module, ModuleDict, ModuleList, Parameter, Sequential

# --- layers of chapters 07-08 (conv, pooling, recurrent, attention) ---
# --- end of layers of chapters 07-08 ---
