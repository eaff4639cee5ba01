"""Gradient clipping and flattening parameters into one vector (``torch.nn.utils``)."""

from __future__ import annotations

import math
import numbers
from typing import Iterable

from .. import backend, ops
from ..autograd import no_grad
from ..tensor import Tensor

__all__ = ["clip_grad_norm_", "clip_grad_value_", "parameters_to_vector", "vector_to_parameters"]


def _listed(parameters: Tensor | Iterable[Tensor]) -> list:
    return [parameters] if isinstance(parameters, Tensor) else list(parameters)


def clip_grad_norm_(parameters: Tensor | Iterable[Tensor], max_norm: float, norm_type: float = 2.0,
                    error_if_nonfinite: bool = False, foreach: bool | None = None) -> Tensor:
    """Scale all gradients together so that their joint norm is at most ``max_norm``.

    The norm is taken over all gradients as if concatenated into one vector (in
    float32 at least). Every gradient is multiplied in place by
    min(1, max_norm / (norm + 1e-6)), as in PyTorch. Returns that total norm
    (before clipping). ``max_norm=inf`` measures without clipping; a non-finite
    total norm raises with ``error_if_nonfinite=True``, and otherwise spreads
    NaN into the gradients as PyTorch does. ``foreach`` is accepted for
    compatibility (nnkit has one implementation).

    >>> import nnkit
    >>> p = nnkit.nn.Parameter(nnkit.zeros(2))
    >>> p.grad = nnkit.tensor([3.0, 4.0])
    >>> clip_grad_norm_([p], max_norm=1.0)
    tensor(5.)
    >>> p.grad
    tensor([0.6000, 0.8000])
    """
    max_norm, norm_type = _number(max_norm, "max_norm"), _number(norm_type, "norm_type")
    if math.isnan(max_norm) or max_norm < 0:
        raise ValueError(f"clip_grad_norm_: max_norm must be >= 0 (inf to measure without clipping), got {max_norm}")
    if not norm_type > 0:
        raise ValueError(f"clip_grad_norm_: norm_type must be positive (or inf), got {norm_type}")
    grads = [p.grad for p in _listed(parameters) if p.grad is not None]
    if not grads:
        return Tensor._wrap(backend.module_for(backend.get_default_device()).zeros((), dtype=backend.float32))
    xp = grads[0]._xp
    with no_grad():
        norms = xp.stack([backend.to_module(ops.norm(g.detach(), norm_type).array.astype(_at_least_float32(g.dtype)), xp)
                          for g in grads])
        total = norms.max() if norm_type == math.inf else (norms ** norm_type).sum() ** (1.0 / norm_type)
        if error_if_nonfinite and not bool(xp.isfinite(total)):
            raise RuntimeError(f"clip_grad_norm_: the total norm of order {norm_type} of the gradients is "
                               f"non-finite ({float(total)}), so it cannot be clipped; pass "
                               "error_if_nonfinite=False to scale the gradients by it anyway")
        coef = max_norm / (float(total) + 1e-6)
        if not coef >= 1:  # NaN too, as PyTorch's clamp(coef, max=1) keeps it
            for g in grads:
                g.mul_(coef)
    return Tensor._wrap(xp.asarray(total, dtype=grads[0].dtype))


def clip_grad_value_(parameters: Tensor | Iterable[Tensor], clip_value: float, foreach: bool | None = None) -> None:
    """Clamp every gradient element to [−clip_value, clip_value], in place."""
    clip_value = _number(clip_value, "clip_value")
    if not clip_value >= 0:
        raise ValueError(f"clip_grad_value_: clip_value must be >= 0, got {clip_value}")
    with no_grad():
        for p in _listed(parameters):
            if p.grad is not None:
                p.grad.clamp_(-clip_value, clip_value)


def _number(value, name: str) -> float:
    if isinstance(value, Tensor):
        value = value.item()
    if isinstance(value, bool) or not isinstance(value, (int, float, numbers.Real)):
        raise TypeError(f"{name} must be a number, got {value!r}")
    return float(value)


def parameters_to_vector(parameters: Iterable[Tensor]) -> Tensor:
    """All parameters flattened and joined into one 1-d tensor (in the graph)."""
    return ops.cat([ops.reshape(p, (-1,)) for p in parameters])


def vector_to_parameters(vec: Tensor, parameters: Iterable[Tensor]) -> None:
    """Copy consecutive slices of the 1-d ``vec`` into the parameters, in place."""
    if vec.ndim != 1:
        raise TypeError(f"vector_to_parameters: expected a 1-d vector, got shape {tuple(vec.shape)}")
    parameters = list(parameters)
    needed = sum(p.numel() for p in parameters)
    if vec.numel() != needed:
        raise ValueError(f"vector_to_parameters: the vector has {vec.numel()} elements, the parameters {needed}")
    start = 0
    with no_grad():
        for p in parameters:
            p.copy_(vec.array[start:start + p.numel()].reshape(p.shape))
            start += p.numel()


def _at_least_float32(dtype):
    return backend.float64 if dtype == backend.float64 else backend.float32
