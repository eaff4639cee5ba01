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


def pdist(input: Tensor, p: float = 2.0) -> Tensor:
    """The p-norm distances between all pairs of rows i < j of an (N, M) input, in the order
    (0, 1), (0, 2), ..., (1, 2), ...: a vector of N (N − 1) / 2 values."""
    if input.ndim != 2:
        raise RuntimeError(f"pdist only supports 2D tensors, got: {input.ndim}D (shape {tuple(input.shape)})")
    if p < 0:
        raise RuntimeError(f"pdist only supports non-negative p values, got p={p}")
    first, second = input._xp.triu_indices(input.shape[0], 1)
    return ops.norm(input[Tensor._wrap(first)] - input[Tensor._wrap(second)], p, 1)
