"""``Optimizer``: the base class of every optimizer, as ``torch.optim.Optimizer``.

An optimizer holds *parameter groups*: dicts with a list of tensors under
``'params'`` and the options (``'lr'``, ``'momentum'``...) that apply to them,
so a model's layers can train with different settings and a learning-rate
scheduler can change ``group['lr']`` between steps. ``state`` maps each
parameter to what its update remembers (a momentum buffer, Adam's moments).

A subclass says only how one parameter changes: :meth:`Optimizer._update`
receives the parameter's array, its gradient's array, its state and its group,
and changes the parameter in place (the model keeps its own tensors). The base
class does the rest: ``step``, ``zero_grad``, parameter groups and state dicts.
"""

from __future__ import annotations

from collections import defaultdict
from itertools import chain
from typing import Any, Callable, Iterable

import numpy

from .. import backend
from ..autograd import enable_grad, no_grad, zero_grads
from ..nn.module import Module
from ..tensor import Tensor

__all__ = ["Optimizer"]


class Optimizer:
    """Base class of the optimizers: parameter groups, state, ``step`` and state dicts.

    ``params`` is an iterable of tensors, of ``(name, tensor)`` pairs (as
    ``model.named_parameters()`` gives), or of dicts (parameter groups with
    their own options); ``defaults`` are the options of groups that do not
    set them.
    """

    def __init__(self, params: Iterable, defaults: dict[str, Any]):
        if isinstance(params, Tensor):
            raise TypeError(f"{type(self).__name__}: params should be an iterable of Tensors or dicts, "
                            "got a single Tensor (wrap it in a list)")
        if isinstance(params, Module):
            raise TypeError(f"{type(self).__name__}: got the module {type(params).__name__} itself; pass its "
                            f"parameters: {type(self).__name__}(model.parameters(), ...)")
        if not isinstance(params, Iterable):
            raise TypeError(f"{type(self).__name__}: params should be an iterable of Tensors or dicts, "
                            f"got {type(params).__name__}")
        self.defaults = defaults
        self.state: defaultdict[Tensor, dict] = defaultdict(dict)
        self.param_groups: list[dict[str, Any]] = []
        self._opt_called = False  # lets a scheduler warn when it is stepped before the optimizer
        groups = [{"params": params}] if isinstance(params, set) else list(params)  # a set is refused below
        if not groups:
            raise ValueError(f"{type(self).__name__}: got an empty parameter list")
        if not isinstance(groups[0], dict):
            groups = [{"params": groups}]
        for group in groups:
            self.add_param_group(group)

    def add_param_group(self, param_group: dict[str, Any]) -> None:
        """Add a group of parameters, with its own options (defaults fill the rest).

        Useful when fine-tuning: unfreeze a layer and hand it to the optimizer with
        a smaller ``lr``.
        """
        name = type(self).__name__
        if not isinstance(param_group, dict):
            raise TypeError(f"{name}.add_param_group: expected a dict, got {type(param_group).__name__}")
        params = param_group["params"]
        if isinstance(params, set):
            raise TypeError(f"{name}: parameters must be an ordered collection (a list), not a set: "
                            "a set's order changes between runs")
        params = [params] if isinstance(params, Tensor) else list(params)
        group = dict(param_group)
        if params and all(isinstance(p, tuple) for p in params):
            group["param_names"] = [n for n, _ in params]
            params = [p for _, p in params]
        for p in params:
            if not isinstance(p, Tensor):
                raise TypeError(f"{name} can only optimize Tensors, but one of the params is {type(p).__name__}")
            if not p.is_leaf:
                raise ValueError(f"{name}: can't optimize a non-leaf Tensor (one made by an op); "
                                 "optimize the leaf tensors it was computed from")
        if len(set(params)) != len(params):
            raise ValueError(f"{name}: a parameter group contains the same parameter more than once")
        if any(not set(params).isdisjoint(g["params"]) for g in self.param_groups):
            raise ValueError(f"{name}: some parameters appear in more than one parameter group")
        group["params"] = params
        for key, default in self.defaults.items():
            group.setdefault(key, default)
        self.param_groups.append(group)

    def zero_grad(self, set_to_none: bool = True) -> None:
        """Forget the gradients: ``.grad = None`` (the default), or fill them with zeros."""
        zero_grads((p for group in self.param_groups for p in group["params"]), set_to_none)

    def step(self, closure: Callable[[], Any] | None = None):
        """Update every parameter that has a gradient (those whose ``.grad`` is None are skipped).

        ``closure``, if given, recomputes the loss (with gradients) first; its result is returned.
        """
        loss = None
        if closure is not None:
            with enable_grad():
                loss = closure()
        self._check_step()
        self._opt_called = True
        with no_grad():
            for group in self.param_groups:
                for p in group["params"]:
                    if p.grad is not None:
                        self._update(p.array, p.grad.array, self.state[p], group)
        return loss

    def _check_step(self) -> None:
        """Check everything a step uses before changing anything, so that a bad gradient
        or option never leaves a step half done (some parameters updated, others not)."""
        name = f"{type(self).__name__}.step"
        for i, group in enumerate(self.param_groups):
            for key, default in self.defaults.items():
                _check_option(name, i, key, group.get(key), default)
            for p in group["params"]:
                g = p.grad
                if g is None:
                    continue
                where = f"a parameter of shape {tuple(p.shape)}" + (f" (group {i})" if i else "")
                if not isinstance(g, Tensor):
                    raise TypeError(f"{name}: {where} has a .grad of type {type(g).__name__}, not a Tensor")
                if p.dtype.kind == "c":
                    raise NotImplementedError(f"{name}: {where} is complex ({p.dtype}); nnkit's optimizers "
                                              "update real parameters only")
                if not backend.is_floating(p.dtype):
                    raise TypeError(f"{name}: {where} has dtype {p.dtype}; only floating-point parameters "
                                    "can be optimized")
                if g.shape != p.shape:
                    raise RuntimeError(f"{name}: {where} has a gradient of shape {tuple(g.shape)}")
                if g.dtype != p.dtype:
                    raise RuntimeError(f"{name}: {where} is {p.dtype} but its gradient is {g.dtype}")
                if g.device != p.device:
                    raise RuntimeError(f"{name}: {where} is on {p.device} but its gradient is on {g.device}")
                for key, value in self.state.get(p, {}).items():
                    if isinstance(value, Tensor) and key != "step" and (value.shape != p.shape
                                                                        or value.device != p.device):
                        raise RuntimeError(f"{name}: the state {key!r} of {where} has shape "
                                           f"{tuple(value.shape)} on {value.device}, not the parameter's")

    def _update(self, param, grad, state: dict, group: dict) -> None:
        """Change ``param`` (an array) in place, given its gradient, its state and its group."""
        raise NotImplementedError(f"{type(self).__name__} does not define its update")

    # --- saving and resuming ---------------------------------------------------
    def state_dict(self) -> dict[str, Any]:
        """The optimizer's state, in PyTorch's layout.

        ``{'state': {index: {...}}, 'param_groups': [{...options, 'params': [indices]}]}``,
        where a parameter's index is its position counting through the groups in
        order. As in PyTorch, the state's tensors are the live ones, not copies:
        save the dict (``nnkit.save``) or ``copy.deepcopy`` it to keep a snapshot.
        """
        index = {id(p): i for i, p in enumerate(chain.from_iterable(g["params"] for g in self.param_groups))}
        groups = [{**{k: v for k, v in g.items() if k != "params"}, "params": [index[id(p)] for p in g["params"]]}
                  for g in self.param_groups]
        state = {index[id(p)]: s for p, s in self.state.items() if s}
        return {"state": state, "param_groups": groups}

    def load_state_dict(self, state_dict: dict[str, Any]) -> None:
        """Restore what :meth:`state_dict` gave (the options of each group and the state).

        The optimizer must have been built on the same parameters, in the same
        groups; the state's tensors are copied onto each parameter's device and
        (floating-point ones) into its dtype.
        """
        name = f"{type(self).__name__}.load_state_dict"
        if not isinstance(state_dict, dict) or not {"state", "param_groups"} <= state_dict.keys():
            raise ValueError(f"{name}: expected a dict with 'state' and 'param_groups', as state_dict() gives")
        saved_groups = state_dict["param_groups"]
        if len(saved_groups) != len(self.param_groups):
            raise ValueError(f"{name}: the state dict has {len(saved_groups)} parameter groups, "
                             f"but the optimizer has {len(self.param_groups)}")
        for i, (group, saved) in enumerate(zip(self.param_groups, saved_groups)):
            missing = sorted(self.defaults.keys() - saved.keys())
            if missing:
                raise ValueError(f"{name}: parameter group {i} of the state dict lacks the options {missing}; "
                                 f"was it saved from another kind of optimizer?")
            if len(group["params"]) != len(saved["params"]):
                raise ValueError(f"{name}: parameter group {i} has {len(saved['params'])} parameters in the "
                                 f"state dict, but {len(group['params'])} in the optimizer")
        params = {i: p for g, s in zip(self.param_groups, saved_groups) for i, p in zip(s["params"], g["params"])}
        state: defaultdict[Tensor, dict] = defaultdict(dict)
        for i, values in state_dict["state"].items():
            if i not in params:
                raise ValueError(f"{name}: the state dict has state for parameter {i}, "
                                 "which none of its parameter groups lists")
            p = params[i]
            state[p] = {key: _copy_onto(value, p, key, f"{name}: state {key!r} of parameter {i}")
                        for key, value in values.items()}
        self.param_groups = [{**{k: v for k, v in saved.items() if k != "params"}, "params": group["params"]}
                             for group, saved in zip(self.param_groups, saved_groups)]
        self.state = state

    def __repr__(self) -> str:
        lines = [type(self).__name__ + " ("]
        for i, group in enumerate(self.param_groups):
            lines.append(f"Parameter Group {i}")
            lines += [f"    {key}: {group[key]}" for key in sorted(group) if key not in ("params", "param_names")]
        return "\n".join(lines + [")"])


def _copy_onto(value, param: Tensor, key: str, where: str):
    """A copy of a state value, on ``param``'s device (tensors) and in its dtype (float tensors).

    The ``step`` counter stays a float32 on the CPU, as PyTorch keeps it.
    """
    if not isinstance(value, Tensor):
        return value
    array = value.array
    if key == "step":
        return Tensor._wrap(backend.to_module(array, numpy).astype(numpy.float32))
    if array.shape != param.shape:
        raise ValueError(f"{where} has shape {tuple(array.shape)}, but the parameter has shape {tuple(param.shape)}")
    array = backend.to_module(array, param._xp)
    if array.dtype.kind == "f":
        array = array.astype(param.dtype, copy=False)
    return Tensor._wrap(array.copy() if array is value.array else array)


_NONNEGATIVE = ("lr", "eps", "weight_decay", "momentum", "dampening", "lr_decay", "alpha", "rho",
                "initial_accumulator_value")


def _check_option(name: str, group: int, key: str, value, default) -> None:
    """An option of a parameter group, as a scheduler or the user may have changed it since
    the optimizer was made: a finite number where the default is a number."""
    if isinstance(default, bool) or not isinstance(default, (int, float, tuple)):
        return
    values = value if isinstance(default, tuple) else (value,)
    if isinstance(default, tuple) and (not isinstance(value, (tuple, list)) or len(value) != len(default)):
        raise TypeError(f"{name}: option {key!r} of parameter group {group} should be a tuple of "
                        f"{len(default)} numbers, got {value!r}")
    for v in values:
        if isinstance(v, Tensor) and v.numel() == 1:
            v = v.item()
        if isinstance(v, bool) or not isinstance(v, (int, float, numpy.number)):
            raise TypeError(f"{name}: option {key!r} of parameter group {group} should be a number, got {v!r}")
        if not numpy.isfinite(v) or (key in _NONNEGATIVE and v < 0):
            raise ValueError(f"{name}: invalid {key}={v!r} in parameter group {group} (must be finite"
                             f"{' and >= 0' if key in _NONNEGATIVE else ''})")


def _check_nonnegative(owner: str, **values: float) -> None:
    """Raise ValueError naming each hyperparameter that is negative (or NaN)."""
    for key, value in values.items():
        if not value >= 0:
            raise ValueError(f"{owner}: invalid {key}={value!r} (must be >= 0)")


def _check_unsupported(owner: str, **options: Any) -> None:
    """PyTorch's implementation switches: accepted at their defaults, refused when turned on."""
    for key, value in options.items():
        if value:
            raise NotImplementedError(f"{owner}: {key}={value!r} is not supported; nnkit has one vectorised "
                                      "implementation of each optimizer (leave it at its default)")


def _direction(param, grad, weight_decay: float, maximize: bool):
    """The gradient an update follows: ``-grad`` when maximizing, plus the L2 term ``weight_decay * param``.

    Returns ``grad`` itself when there is nothing to add: callers must not write into the result.
    (Results are always arrays, written with ``out=``: ufuncs turn 0-d arrays into scalars otherwise.)
    """
    if weight_decay == 0:
        return backend.xp_of(grad).negative(grad, out=_scratch(grad)) if maximize else grad
    xp = backend.xp_of(param)
    d = xp.multiply(param, weight_decay, out=_scratch(param))
    return xp.subtract(d, grad, out=d) if maximize else xp.add(d, grad, out=d)


def _scratch(like):
    """An uninitialised array like ``like``, for an update's intermediate results (written with ``out=``)."""
    return backend.xp_of(like).empty_like(like)


def _zeros_state(param, *keys: str) -> dict:
    """A fresh state: a float32 step counter on the CPU (as PyTorch keeps it) and zero buffers like ``param``."""
    xp = backend.xp_of(param)
    state = {"step": Tensor._wrap(numpy.zeros((), dtype=numpy.float32))}
    state.update((k, Tensor._wrap(xp.zeros_like(param))) for k in keys)
    return state


def _count_step(state: dict) -> float:
    """Add one to the state's step counter and return it."""
    state["step"].array += 1
    return float(state["step"].array)
