"""Adam and AdamW: moving averages of the gradient and its square, with bias correction."""

from __future__ import annotations

from typing import Iterable

from ..backend import xp_of
from .optimizer import (Optimizer, _check_nonnegative, _check_unsupported, _count_step, _direction, _scratch,
                        _zeros_state)

__all__ = ["Adam", "AdamW"]


class Adam(Optimizer):
    r"""Adam (Kingma and Ba, 2015), as ``torch.optim.Adam``.

    With gradient :math:`g` (plus ``weight_decay * p`` unless the decay is
    decoupled) at step :math:`t`:

    .. math::
        m \leftarrow \beta_1 m + (1 - \beta_1) g, \quad
        v \leftarrow \beta_2 v + (1 - \beta_2) g^2, \quad
        p \leftarrow p - \frac{\mathrm{lr}}{1 - \beta_1^t}
            \frac{m}{\sqrt{v} / \sqrt{1 - \beta_2^t} + \epsilon}

    ``amsgrad`` uses the largest :math:`v` seen so far instead of :math:`v`.
    ``decoupled_weight_decay=True`` shrinks ``p *= 1 - lr * weight_decay``
    before the step instead (that is :class:`AdamW`).
    """

    def __init__(self, params: Iterable, lr: float = 1e-3, betas: tuple[float, float] = (0.9, 0.999),
                 eps: float = 1e-8, weight_decay: float = 0, amsgrad: bool = False, *,
                 foreach: bool | None = None, maximize: bool = False, capturable: bool = False,
                 differentiable: bool = False, fused: bool | None = None, decoupled_weight_decay: bool = False):
        name = type(self).__name__
        _check_nonnegative(name, lr=lr, eps=eps, weight_decay=weight_decay)
        _check_unsupported(name, foreach=foreach, capturable=capturable, differentiable=differentiable, fused=fused)
        for i, beta in enumerate(betas):
            if not 0.0 <= beta < 1.0:
                raise ValueError(f"{name}: invalid betas[{i}]={beta!r} (must be in [0, 1))")
        super().__init__(params, dict(lr=lr, betas=tuple(betas), eps=eps, weight_decay=weight_decay,
                                      amsgrad=amsgrad, maximize=maximize,
                                      decoupled_weight_decay=decoupled_weight_decay))

    def _update(self, param, grad, state, group):
        if not state:
            state.update(_zeros_state(param, "exp_avg", "exp_avg_sq",
                                      *(["max_exp_avg_sq"] if group["amsgrad"] else [])))
        lr, eps, weight_decay = float(group["lr"]), float(group["eps"]), float(group["weight_decay"])
        beta1, beta2 = (float(b) for b in group["betas"])
        step = _count_step(state)
        if group["decoupled_weight_decay"]:
            param *= 1 - lr * weight_decay
            weight_decay = 0.0
        d = _direction(param, grad, weight_decay, group["maximize"])
        exp_avg, exp_avg_sq = state["exp_avg"].array, state["exp_avg_sq"].array
        xp = xp_of(param)
        tmp = _scratch(param)

        xp.subtract(d, exp_avg, out=tmp)  # m += (1 - beta1) (d - m): PyTorch's lerp
        tmp *= 1 - beta1
        exp_avg += tmp
        xp.multiply(d, 1 - beta2, out=tmp)  # v = beta2 v + (1 - beta2) d^2
        tmp *= d
        exp_avg_sq *= beta2
        exp_avg_sq += tmp
        if group["amsgrad"]:
            max_sq = state["max_exp_avg_sq"].array
            xp.maximum(max_sq, exp_avg_sq, out=max_sq)
            exp_avg_sq = max_sq

        # p -= lr / (1 - beta1^t) * m / (sqrt(v) / sqrt(1 - beta2^t) + eps)
        xp.sqrt(exp_avg_sq, out=tmp)
        tmp /= (1 - beta2 ** step) ** 0.5
        tmp += eps
        xp.divide(exp_avg, tmp, out=tmp)
        tmp *= lr / (1 - beta1 ** step)
        param -= tmp


class AdamW(Adam):
    r"""Adam with decoupled weight decay (Loshchilov and Hutter, 2019), as ``torch.optim.AdamW``.

    The decay shrinks the parameters directly, ``p *= 1 - lr * weight_decay``,
    instead of entering the gradient (where Adam's scaling would weaken it
    for parameters with large gradients). Note the default ``weight_decay=1e-2``.
    """

    def __init__(self, params: Iterable, lr: float = 1e-3, betas: tuple[float, float] = (0.9, 0.999),
                 eps: float = 1e-8, weight_decay: float = 1e-2, amsgrad: bool = False, *,
                 maximize: bool = False, foreach: bool | None = None, capturable: bool = False,
                 differentiable: bool = False, fused: bool | None = None):
        super().__init__(params, lr, betas, eps, weight_decay, amsgrad, foreach=foreach, maximize=maximize,
                         capturable=capturable, differentiable=differentiable, fused=fused,
                         decoupled_weight_decay=True)
