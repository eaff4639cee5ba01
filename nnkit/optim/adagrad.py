"""Adagrad: per-coordinate step sizes that shrink with the sum of squared gradients."""

from __future__ import annotations

from typing import Iterable

from ..backend import xp_of
from .optimizer import (Optimizer, _check_nonnegative, _check_unsupported, _count_step, _direction, _scratch,
                        _zeros_state)

__all__ = ["Adagrad"]


class Adagrad(Optimizer):
    r"""Adagrad (Duchi, Hazan and Singer, 2011), as ``torch.optim.Adagrad``.

    With gradient :math:`g` (plus ``weight_decay * p``) at step :math:`t`:

    .. math::
        s \leftarrow s + g^2, \qquad
        p \leftarrow p - \frac{\mathrm{lr}}{1 + (t - 1)\,\mathrm{lr\_decay}} \, \frac{g}{\sqrt{s} + \epsilon}

    where :math:`s` starts at ``initial_accumulator_value``.
    """

    def __init__(self, params: Iterable, lr: float = 1e-2, lr_decay: float = 0, weight_decay: float = 0,
                 initial_accumulator_value: float = 0, eps: float = 1e-10, foreach: bool | None = None, *,
                 maximize: bool = False, differentiable: bool = False, fused: bool | None = None):
        _check_nonnegative("Adagrad", lr=lr, lr_decay=lr_decay, weight_decay=weight_decay,
                           initial_accumulator_value=initial_accumulator_value, eps=eps)
        _check_unsupported("Adagrad", foreach=foreach, differentiable=differentiable, fused=fused)
        super().__init__(params, dict(lr=lr, lr_decay=lr_decay, eps=eps, weight_decay=weight_decay,
                                      initial_accumulator_value=initial_accumulator_value, maximize=maximize))

    def _update(self, param, grad, state, group):
        if not state:
            state.update(_zeros_state(param, "sum"))
            state["sum"].array[...] = group["initial_accumulator_value"]
        step = _count_step(state)
        d = _direction(param, grad, float(group["weight_decay"]), group["maximize"])
        clr = float(group["lr"]) / (1 + (step - 1) * float(group["lr_decay"]))
        state_sum = state["sum"].array
        xp = xp_of(param)
        tmp = _scratch(param)

        xp.multiply(d, d, out=tmp)
        state_sum += tmp
        xp.sqrt(state_sum, out=tmp)
        tmp += float(group["eps"])
        xp.divide(d, tmp, out=tmp)
        tmp *= clr
        param -= tmp
