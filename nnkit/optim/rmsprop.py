"""RMSprop: divide the gradient by a moving root mean square of recent gradients."""

from __future__ import annotations

from typing import Iterable

from ..backend import xp_of
from .optimizer import (Optimizer, _check_nonnegative, _check_unsupported, _count_step, _direction, _scratch,
                        _zeros_state)

__all__ = ["RMSprop"]


class RMSprop(Optimizer):
    r"""RMSprop (Hinton's lecture notes, 2012), as ``torch.optim.RMSprop``.

    With gradient :math:`g` (plus ``weight_decay * p``):

    .. math::
        v \leftarrow \alpha v + (1 - \alpha) g^2, \qquad
        p \leftarrow p - \mathrm{lr} \, \frac{g}{\sqrt{v} + \epsilon}

    ``centered`` also tracks the mean gradient :math:`\bar g` and divides by
    :math:`\sqrt{v - \bar g^2} + \epsilon` (an estimate of the standard
    deviation); ``momentum`` accumulates :math:`b \leftarrow \mu b + g / (\cdot)`
    and steps ``p -= lr * b``.
    """

    def __init__(self, params: Iterable, lr: float = 1e-2, alpha: float = 0.99, eps: float = 1e-8,
                 weight_decay: float = 0, momentum: float = 0, centered: bool = False, capturable: bool = False,
                 foreach: bool | None = None, maximize: bool = False, differentiable: bool = False):
        _check_nonnegative("RMSprop", lr=lr, eps=eps, momentum=momentum, weight_decay=weight_decay, alpha=alpha)
        _check_unsupported("RMSprop", capturable=capturable, foreach=foreach, differentiable=differentiable)
        super().__init__(params, dict(lr=lr, momentum=momentum, alpha=alpha, eps=eps, centered=centered,
                                      weight_decay=weight_decay, maximize=maximize))

    def _update(self, param, grad, state, group):
        momentum, centered = float(group["momentum"]), group["centered"]
        if not state:
            state.update(_zeros_state(param, "square_avg", *(["momentum_buffer"] if momentum > 0 else []),
                                      *(["grad_avg"] if centered else [])))
        lr, alpha, eps = float(group["lr"]), float(group["alpha"]), float(group["eps"])
        _count_step(state)
        d = _direction(param, grad, float(group["weight_decay"]), group["maximize"])
        square_avg = state["square_avg"].array
        xp = xp_of(param)
        tmp = _scratch(param)

        xp.multiply(d, 1 - alpha, out=tmp)  # v = alpha v + (1 - alpha) d^2
        tmp *= d
        square_avg *= alpha
        square_avg += tmp
        if centered:
            grad_avg = state["grad_avg"].array
            xp.subtract(d, grad_avg, out=tmp)  # mean gradient: ga += (1 - alpha) (d - ga)
            tmp *= 1 - alpha
            grad_avg += tmp
            xp.multiply(grad_avg, grad_avg, out=tmp)
            xp.subtract(square_avg, tmp, out=tmp)
            xp.sqrt(tmp, out=tmp)
        else:
            xp.sqrt(square_avg, out=tmp)
        tmp += eps

        xp.divide(d, tmp, out=tmp)
        if momentum > 0:
            buf = state["momentum_buffer"].array
            buf *= momentum
            buf += tmp
            xp.multiply(buf, lr, out=tmp)
        else:
            tmp *= lr
        param -= tmp
