"""Adadelta: step sizes from the ratio of recent update and gradient magnitudes."""

from __future__ import annotations

from typing import Iterable

from ..backend import xp_of
from .optimizer import (Optimizer, _check_nonnegative, _check_unsupported, _count_step, _direction, _scratch,
                        _zeros_state)

__all__ = ["Adadelta"]


class Adadelta(Optimizer):
    r"""Adadelta (Zeiler, 2012), as ``torch.optim.Adadelta``.

    With gradient :math:`g` (plus ``weight_decay * p``):

    .. math::
        v \leftarrow \rho v + (1 - \rho) g^2, \quad
        \Delta = \frac{\sqrt{u + \epsilon}}{\sqrt{v + \epsilon}} \, g, \quad
        u \leftarrow \rho u + (1 - \rho) \Delta^2, \quad
        p \leftarrow p - \mathrm{lr} \, \Delta
    """

    def __init__(self, params: Iterable, lr: float = 1.0, rho: float = 0.9, eps: float = 1e-6,
                 weight_decay: float = 0, foreach: bool | None = None, *, capturable: bool = False,
                 maximize: bool = False, differentiable: bool = False):
        _check_nonnegative("Adadelta", lr=lr, eps=eps, weight_decay=weight_decay)
        if not 0.0 <= rho <= 1.0:
            raise ValueError(f"Adadelta: invalid rho={rho!r} (must be in [0, 1])")
        _check_unsupported("Adadelta", foreach=foreach, capturable=capturable, differentiable=differentiable)
        super().__init__(params, dict(lr=lr, rho=rho, eps=eps, weight_decay=weight_decay, maximize=maximize))

    def _update(self, param, grad, state, group):
        if not state:
            state.update(_zeros_state(param, "square_avg", "acc_delta"))
        lr, rho, eps = float(group["lr"]), float(group["rho"]), float(group["eps"])
        _count_step(state)
        d = _direction(param, grad, float(group["weight_decay"]), group["maximize"])
        square_avg, acc_delta = state["square_avg"].array, state["acc_delta"].array
        xp = xp_of(param)
        tmp, delta = _scratch(param), _scratch(param)

        xp.multiply(d, 1 - rho, out=tmp)  # v = rho v + (1 - rho) d^2
        tmp *= d
        square_avg *= rho
        square_avg += tmp
        xp.add(square_avg, eps, out=tmp)  # std = sqrt(v + eps)
        xp.sqrt(tmp, out=tmp)
        xp.add(acc_delta, eps, out=delta)  # delta = sqrt(u + eps) / std * d
        xp.sqrt(delta, out=delta)
        delta /= tmp
        delta *= d
        xp.multiply(delta, 1 - rho, out=tmp)  # u = rho u + (1 - rho) delta^2
        tmp *= delta
        acc_delta *= rho
        acc_delta += tmp
        delta *= lr
        param -= delta
