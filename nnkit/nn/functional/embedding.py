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

    ``tensor`` holds int64 class indices, as in PyTorch; ``num_classes=-1`` means one more
    than the largest index (which an empty tensor cannot tell).

    >>> import nnkit
    >>> one_hot(nnkit.tensor([0, 2]), 3)
    tensor([[1, 0, 0],
            [0, 0, 1]])
    """
    idx = tensor.array if isinstance(tensor, Tensor) else numpy.asarray(tensor)
    if idx.dtype != backend.int64:
        raise RuntimeError(f"one_hot is only applicable to index tensor of type LongTensor (int64), got {idx.dtype}")
    xp = backend.xp_of(idx)
    if idx.size and int(idx.min()) < 0:
        raise RuntimeError(f"one_hot: class values must be non-negative, got {int(idx.min())}")
    if not idx.size and num_classes <= 0:
        raise RuntimeError("one_hot: can not infer the total number of classes from an empty tensor; "
                           "pass num_classes")
    if num_classes == -1:
        num_classes = int(idx.max()) + 1
    elif idx.size and int(idx.max()) >= num_classes:
        raise RuntimeError(f"one_hot: class values must be smaller than num_classes: class value {int(idx.max())} "
                           f"is out of range for num_classes={num_classes}")
    return Tensor._wrap((idx[..., None] == xp.arange(num_classes)).astype(backend.int64))
