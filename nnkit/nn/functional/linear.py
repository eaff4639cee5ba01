"""Linear maps: ``linear`` and ``bilinear``."""

from __future__ import annotations

from ... import backend, ops
from ...amp import autocast_op
from ...tensor import Tensor

__all__ = ["linear", "bilinear"]


@autocast_op("linear")
def linear(input: Tensor, weight: Tensor, bias: Tensor | None = None) -> Tensor:
    """y = x Wᵀ + b, for ``input`` (*, in), ``weight`` (out, in) and ``bias`` (out,).

    >>> import nnkit
    >>> linear(nnkit.ones(2, 3), nnkit.ones(4, 3), nnkit.zeros(4)).shape
    (2, 4)
    """
    if input.ndim == 0 or input.shape[-1] != weight.shape[-1]:
        raise RuntimeError(f"linear: input of shape {tuple(input.shape)} does not fit weight of shape "
                           f"{tuple(weight.shape)} (expected input (*, {weight.shape[-1]}))")
    if input.dtype != weight.dtype or (bias is not None and bias.dtype != weight.dtype):
        raise RuntimeError(f"linear: input ({input.dtype}), weight ({weight.dtype})"
                           + (f" and bias ({bias.dtype})" if bias is not None else "") + " must share one dtype")
    lead = input.shape[:-1]
    x = ops.reshape(input, (-1, input.shape[-1])) if input.ndim != 2 else input  # one 2-d product
    out = backend.matmul(x.array, weight.array.T)
    if bias is not None:
        out += bias.array

    # A fused op rather than matmul(x, weight.T) + bias: the weight's gradient
    # comes out as gᵀx, already in the weight's own (out, in) layout, instead of
    # the transpose of xᵀg, whose strided memory makes every optimizer step slow.
    def backward(g):
        gx = ops.matmul(g, weight) if x.requires_grad else None
        gw = ops.matmul(ops.transpose(g, 0, 1), x) if weight.requires_grad else None
        return (gx, gw) if bias is None else (gx, gw, ops.sum(g, 0))
    parents = (x, weight) if bias is None else (x, weight, bias)
    out = ops._make(out, parents, backward, "Linear")
    return ops.reshape(out, lead + (weight.shape[0],)) if input.ndim != 2 else out


def bilinear(input1: Tensor, input2: Tensor, weight: Tensor, bias: Tensor | None = None) -> Tensor:
    """y_k = x1ᵀ W_k x2 + b_k, for inputs (*, in1) and (*, in2), ``weight`` (out, in1, in2)."""
    if input1.shape[:-1] != input2.shape[:-1] or input1.shape[-1] != weight.shape[1] or \
            input2.shape[-1] != weight.shape[2]:
        raise RuntimeError(f"bilinear: inputs of shapes {tuple(input1.shape)} and {tuple(input2.shape)} do not "
                           f"fit weight of shape {tuple(weight.shape)}")
    out_features, in1, in2 = weight.shape
    x1w = linear(input1, ops.reshape(ops.transpose(weight, 0, 1), (in1, out_features * in2)).T)
    out = ops.sum(ops.reshape(x1w, input1.shape[:-1] + (out_features, in2)) * ops.unsqueeze(input2, -2), -1)
    return out if bias is None else out + bias
