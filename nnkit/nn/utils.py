"""Gradient clipping and flattening parameters into one vector (``torch.nn.utils``)."""

from __future__ import annotations

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

    The norm is taken over all gradients as if concatenated into one vector. When it
    exceeds ``max_norm``, every gradient is multiplied in place by
    max_norm / (norm + 1e-6). Returns that total norm (before clipping).

    >>> import nnkit
    >>> p = nnkit.nn.Parameter(nnkit.zeros(2))
    >>> p.grad = nnkit.tensor([3.0, 4.0])
    >>> clip_grad_norm_([p], max_norm=1.0)
    tensor(5.)
    >>> p.grad
    tensor([0.6, 0.8])
    """
    grads = [p.grad for p in _listed(parameters) if p.grad is not None]
    norm_type = float(norm_type)
    if not grads:
        return Tensor._wrap(backend.module_for(backend.get_default_device()).zeros((), dtype=backend.float32))
    xp = grads[0]._xp
    with no_grad():
        norms = xp.stack([backend.to_module(ops.norm(g.detach(), norm_type).array, xp) for g in grads])
        total = norms.max() if norm_type == float("inf") else (norms ** norm_type).sum() ** (1.0 / norm_type)
        if error_if_nonfinite and not bool(xp.isfinite(total)):
            raise RuntimeError(f"clip_grad_norm_: the total norm of order {norm_type} of the gradients is "
                               f"non-finite ({float(total)}), so it cannot be clipped; pass "
                               "error_if_nonfinite=False to clip anyway")
        coef = max_norm / (float(total) + 1e-6)
        if coef < 1:
            for g in grads:
                g.mul_(coef)
    return Tensor._wrap(xp.asarray(total, dtype=grads[0].dtype))


def clip_grad_value_(parameters: Tensor | Iterable[Tensor], clip_value: float, foreach: bool | None = None) -> None:
    """Clamp every gradient element to [−clip_value, clip_value], in place."""
    clip_value = float(clip_value)
    with no_grad():
        for p in _listed(parameters):
            if p.grad is not None:
                p.grad.clamp_(-clip_value, clip_value)


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
