"""Stochastic gradient descent, with momentum, dampening, Nesterov and weight decay."""

from __future__ import annotations

from typing import Iterable

from ..backend import xp_of
from ..tensor import Tensor
from .optimizer import Optimizer, _check_nonnegative, _check_unsupported, _direction, _scratch

__all__ = ["SGD"]


class SGD(Optimizer):
    r"""Stochastic gradient descent, as ``torch.optim.SGD``.

    With gradient :math:`g` (plus ``weight_decay * p``), momentum :math:`\mu`
    and dampening :math:`\tau`, each step does

    .. math::
        b \leftarrow \mu b + (1 - \tau) g \quad (b = g \text{ at the first step}), \qquad
        p \leftarrow p - \mathrm{lr} \cdot (g + \mu b \text{ if nesterov else } b)

    and plain ``p -= lr * g`` when ``momentum`` is 0.

    >>> import nnkit
    >>> w = nnkit.tensor([1.0, -2.0], requires_grad=True)
    >>> opt = nnkit.optim.SGD([w], lr=0.1)
    >>> (w * w).sum().backward()
    >>> opt.step()
    >>> w
    tensor([ 0.8000, -1.6000], requires_grad=True)
    """

    def __init__(self, params: Iterable, lr: float = 1e-3, momentum: float = 0, dampening: float = 0,
                 weight_decay: float = 0, nesterov: bool = False, *, maximize: bool = False,
                 foreach: bool | None = None, differentiable: bool = False, fused: bool | None = None):
        _check_nonnegative("SGD", lr=lr, momentum=momentum, weight_decay=weight_decay)
        _check_unsupported("SGD", foreach=foreach, differentiable=differentiable, fused=fused)
        if nesterov and (momentum <= 0 or dampening != 0):
            raise ValueError(f"SGD: nesterov=True requires momentum > 0 and dampening = 0, "
                             f"got momentum={momentum!r}, dampening={dampening!r}")
        super().__init__(params, dict(lr=lr, momentum=momentum, dampening=dampening, weight_decay=weight_decay,
                                      nesterov=nesterov, maximize=maximize))

    def _update(self, param, grad, state, group):
        d = _direction(param, grad, float(group["weight_decay"]), group["maximize"])
        momentum, dampening = float(group["momentum"]), float(group["dampening"])
        if momentum != 0:
            buf = state.get("momentum_buffer")
            if buf is None:
                buf = state["momentum_buffer"] = Tensor._wrap(d.copy())
            else:
                buf.array *= momentum
                buf.array += d if dampening == 0 else d * (1 - dampening)
            if group["nesterov"]:
                xp = xp_of(param)
                step = xp.multiply(buf.array, momentum, out=_scratch(param))
                d = xp.add(d, step, out=step)  # d + momentum * buf
            else:
                d = buf.array
        param -= float(group["lr"]) * d
