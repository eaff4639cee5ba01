"""Distances and similarities between vectors: ``pairwise_distance``, ``cosine_similarity``, ``pdist``.

All are written from differentiable primitives (``norm``, products, sums), so they
need no backward of their own and can be differentiated twice.
"""

from __future__ import annotations

from ... import ops
from ...tensor import Tensor

__all__ = ["pairwise_distance", "cosine_similarity", "pdist"]


def _at_least(t: Tensor, low: float) -> Tensor:
    """``t`` with its values raised to ``low`` but its gradient untouched: what PyTorch gets by
    clamping a clone in place under ``no_grad`` (the clamp is not recorded)."""
    flat = t.detach()
    return t + (ops.clamp(flat, min=low) - flat)


def pairwise_distance(x1: Tensor, x2: Tensor, p: float = 2.0, eps: float = 1e-6, keepdim: bool = False) -> Tensor:
    """‖x1 − x2 + eps‖_p along the last dim (the inputs broadcast), as PyTorch computes it.

    >>> import nnkit
    >>> pairwise_distance(nnkit.tensor([[0.0, 0.0]]), nnkit.tensor([[3.0, 4.0]]), eps=0.0)
    tensor([5.])
    """
    diff = x1 - x2 + eps
    return ops.norm(diff, p, -1, keepdim)


def cosine_similarity(x1: Tensor, x2: Tensor, dim: int = 1, eps: float = 1e-8) -> Tensor:
    """x1 · x2 / (‖x1‖ ‖x2‖) along ``dim`` (the inputs broadcast first), each norm taken as at
    least ``eps``. Each input is divided by its own norm before the product, which keeps the
    result within [−1, 1], as PyTorch does.
    """
    x1, x2 = ops.broadcast_tensors(x1, x2)
    n1 = _at_least(ops.norm(x1, 2, dim, keepdim=True), eps)
    n2 = _at_least(ops.norm(x2, 2, dim, keepdim=True), eps)
    return ops.sum((x1 / n1) * (x2 / n2), dim)


pdist = ops.pdist  # the p-norm distances between all pairs of rows, as torch.pdist
