"""Embeddings and one-hot codes."""

from __future__ import annotations

import numpy

from ... import backend, ops
from ...ops.base import _make
from ...tensor import Tensor

__all__ = ["embedding", "one_hot"]


def _constant(t: Tensor | None, op: str, name: str):
    """The array of an argument that nnkit does not differentiate (class weights), or None."""
    if t is None:
        return None
    if t.requires_grad:
        raise NotImplementedError(f"{op}: gradients with respect to {name} are not supported; pass {name}.detach()")
    return t.array


def _integer_array(t, op: str, what: str):
    array = t.array if isinstance(t, Tensor) else numpy.asarray(t)
    if array.dtype.kind not in "iu":
        raise TypeError(f"{op}: {what} must be an integer tensor, got {array.dtype}")
    return array


def embedding(input: Tensor, weight: Tensor, padding_idx: int | None = None, max_norm: float | None = None,
              norm_type: float = 2.0, scale_grad_by_freq: bool = False, sparse: bool = False) -> Tensor:
    """Rows of ``weight`` (num_embeddings, dim) picked by the integer ``input``: shape (*input, dim).

    The row at ``padding_idx`` receives no gradient.
    """
    for name, value, default in (("max_norm", max_norm, None), ("scale_grad_by_freq", scale_grad_by_freq, False),
                                 ("sparse", sparse, False)):
        if value != default:
            raise NotImplementedError(f"embedding: {name} is not supported")
    idx = backend.to_module(_integer_array(input, "embedding", "input"), weight._xp)
    n = weight.shape[0]
    if idx.size and (int(idx.min()) < 0 or int(idx.max()) >= n):
        bad = int(idx.min()) if int(idx.min()) < 0 else int(idx.max())
        raise IndexError(f"embedding: index {bad} is out of range for {n} embeddings")
    if padding_idx is not None and padding_idx < 0:
        padding_idx += n
    shape = weight.shape

    def backward(g):
        if padding_idx is not None:
            g = g * Tensor._wrap((idx != padding_idx)[..., None].astype(g.dtype))
        return (ops.indexing._index_add(g, idx, shape),)
    return _make(weight.array[idx], (weight,), backward, "Embedding")


def one_hot(tensor: Tensor, num_classes: int = -1) -> Tensor:
    """An int64 tensor of shape (*tensor.shape, num_classes) with a 1 at each index.

    ``num_classes=-1`` means one more than the largest index.

    >>> import nnkit
    >>> one_hot(nnkit.tensor([0, 2]), 3)
    tensor([[1, 0, 0],
            [0, 0, 1]])
    """
    idx = _integer_array(tensor, "one_hot", "tensor")
    xp = backend.xp_of(idx)
    if idx.size and int(idx.min()) < 0:
        raise RuntimeError(f"one_hot: class values must be non-negative, got {int(idx.min())}")
    if num_classes == -1:
        num_classes = int(idx.max()) + 1 if idx.size else 0
    elif idx.size and int(idx.max()) >= num_classes:
        raise RuntimeError(f"one_hot: class value {int(idx.max())} is out of range for num_classes={num_classes}")
    return Tensor._wrap((idx[..., None] == xp.arange(num_classes)).astype(backend.int64))
