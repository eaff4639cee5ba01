"""Matrix products."""

from __future__ import annotations

from .. import backend
from ..amp import autocast_op
from ..tensor import Tensor
from .base import _make, _operands, _sum_to
from .shape import reshape, squeeze, transpose, unsqueeze


def _mT(a: Tensor) -> Tensor:
    return transpose(a, -1, -2)


@autocast_op("matmul")
def matmul(a: Tensor, b: Tensor) -> Tensor:
    """Matrix product with NumPy's rules: 1-d operands and batch broadcasting.

    For 2-d and batched operands: dL/da = g @ bᵀ, dL/db = aᵀ @ g.
    """
    a, b = _operands(a, b, "matmul")
    if a.ndim == 0 or b.ndim == 0:
        raise RuntimeError(f"matmul: both arguments need at least 1 dim, got shapes {tuple(a.shape)} and {tuple(b.shape)}")
    if a.shape[-1] != b.shape[-2 if b.ndim > 1 else 0]:
        raise RuntimeError(f"matmul: shapes {tuple(a.shape)} and {tuple(b.shape)} cannot be multiplied "
                           f"({a.shape[-1]} != {b.shape[-2 if b.ndim > 1 else 0]})")
    if a.ndim == 1:  # a row vector, dropped again (for 1-d @ 1-d, the inner call already dropped b's column)
        return squeeze(matmul(unsqueeze(a, 0), b), -2 if b.ndim > 1 else -1)
    if b.ndim == 1:
        return squeeze(matmul(a, unsqueeze(b, -1)), -1)
    try:
        out = backend.matmul(a.array, b.array)
    except ValueError:
        raise RuntimeError(f"matmul: batch shapes of {tuple(a.shape)} and {tuple(b.shape)} cannot be broadcast") from None

    def backward(g):
        ga = _sum_to(matmul(g, _mT(b)), a.shape) if need_a else None
        if not need_b:
            gb = None
        elif b.ndim == 2 and a.ndim > 2:
            # Fold the batch into rows: one big product instead of a batch then a sum.
            gb = matmul(_mT(reshape(a, (-1, a.shape[-1]))), reshape(g, (-1, g.shape[-1])))
        else:
            gb = _sum_to(matmul(_mT(a), g), b.shape)
        return ga, gb
    need_a, need_b = a.requires_grad, b.requires_grad
    saved = (b,) if not need_b else (a,) if not need_a else (a, b)
    return _make(out, (a, b), backward, "Matmul", saved)


__all__ = ["matmul"]

METHODS = {"matmul": matmul, "__matmul__": matmul, "__rmatmul__": lambda self, other: matmul(other, self)}
