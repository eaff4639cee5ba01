"""Utilities with PyTorch's ``torch.utils`` names: ``checkpoint`` (activation checkpointing)
and ``data``, an alias of :mod:`nnkit.data` (PyTorch's ``torch.utils.data``)."""

import sys

from .. import data
from . import checkpoint

sys.modules[__name__ + ".data"] = data  # `from nnkit.utils.data import DataLoader` works, as in PyTorch

__all__ = ["checkpoint", "data"]
