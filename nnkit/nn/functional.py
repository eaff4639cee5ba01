"""``nnkit.nn.functional``: layers and losses as plain functions of tensors (``torch.nn.functional``)."""

from __future__ import annotations

# --- layers of chapters 07-08 (conv, pooling, recurrent, attention) ---
# --- end of layers of chapters 07-08 ---
