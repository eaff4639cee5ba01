"""Activation checkpointing: trade compute for memory, as ``torch.utils.checkpoint``.

Backward needs the activations that forward computed. A network of L blocks
keeps all of them, O(L) memory. ``checkpoint(block, x)`` keeps only the block's
inputs and outputs; during backward it runs the block's forward again (with the
random state it had the first time, so dropout draws the same mask) and
differentiates that fresh copy. Checkpointing every block of L costs one extra
forward pass (about a third more compute) and keeps one block's activations at
a time, plus the inputs of each block.

>>> import nnkit
>>> block = nnkit.nn.Sequential(nnkit.nn.Linear(4, 4), nnkit.nn.Tanh())
>>> x = nnkit.randn(2, 4, requires_grad=True)
>>> checkpoint(block, x, use_reentrant=False).sum().backward()
>>> x.grad.shape
(2, 4)
"""

from __future__ import annotations

from typing import Any, Callable

from .. import amp, autograd, backend, ops
from ..tensor import Tensor

__all__ = ["checkpoint"]


def _leaves(outputs: list, inputs: set) -> list:
    """The tensors requiring grad that ``outputs`` were computed from and that
    the graph cannot reach past: the function's arguments (``inputs``) and the
    leaves it read, such as a module's parameters (an explicit worklist)."""
    found, seen, stack = [], set(), list(outputs)
    while stack:
        t = stack.pop()
        if t in seen:
            continue
        seen.add(t)
        if t in inputs:
            continue
        if t.grad_fn is None:
            found.append(t)
        else:
            stack.extend(p for p in t.grad_fn.parents if p.requires_grad)
    return found


def _detached(args: tuple) -> list:
    """Fresh graph roots with the arguments' values (shared memory)."""
    return [a.detach().requires_grad_(a.requires_grad) if isinstance(a, Tensor) else a for a in args]


def checkpoint(function: Callable, *args: Any, use_reentrant: bool | None = None,
               preserve_rng_state: bool = True, **kwargs: Any) -> Any:
    """``function(*args, **kwargs)``, keeping no activations inside it: they are
    recomputed during backward. Gradients equal those of the plain call.

    ``function`` returns a tensor or a tuple/list of them (other values pass
    through). The tensors it reads besides its arguments should be leaves, as a
    module's parameters are; pass intermediate results as arguments. With
    ``preserve_rng_state=True`` (the default) the recomputation draws the same
    random numbers (dropout masks) as the first run; the autocast state is
    restored too. Only the non-reentrant form (``use_reentrant=False``, which
    PyTorch recommends) exists: it supports ``autograd.grad`` and inputs that need
    no gradient.
    """
    if use_reentrant:
        raise NotImplementedError("checkpoint: use_reentrant=True is not supported; use use_reentrant=False "
                                  "(the form PyTorch recommends)")
    if not callable(function):
        raise TypeError(f"checkpoint: function must be callable, got {type(function).__name__}")
    if not autograd.is_grad_enabled():
        return function(*args, **kwargs)  # no backward will come: nothing to recompute

    rng_state = backend.get_rng_state() if preserve_rng_state else None
    autocast_state = amp._state.dtypes
    roots = _detached(args)
    with autograd.enable_grad():
        result = function(*roots, **kwargs)
    many = isinstance(result, (tuple, list))
    outputs = list(result) if many else [result]
    graph_outputs = [o for o in outputs if isinstance(o, Tensor) and o.requires_grad]
    if not graph_outputs:
        return result
    given = [a for a in args if isinstance(a, Tensor) and a.requires_grad]
    roots_in_grad = {r for r in roots if isinstance(r, Tensor) and r.requires_grad}
    leaves = _leaves(graph_outputs, roots_in_grad)
    parents = tuple(given) + tuple(leaves)
    if not parents:
        return result
    received: dict = {}

    def recompute_backward(_):
        """Run the function again, this time keeping its graph, and differentiate it."""
        current_rng = backend.get_rng_state()
        if rng_state is not None:
            backend.set_rng_state(rng_state)
        previous_autocast, amp._state.dtypes = amp._state.dtypes, autocast_state
        create_graph = autograd.is_grad_enabled()  # a backward that builds a graph (second derivatives)
        # Fresh roots keep the recomputation's gradients local; for higher-order gradients the
        # recomputed graph must reach the original inputs instead.
        fresh = list(args) if create_graph else _detached(args)
        try:
            with autograd.enable_grad():
                again = function(*fresh, **kwargs)
        finally:
            amp._state.dtypes = previous_autocast
            backend.set_rng_state(current_rng)
        again = list(again) if many else [again]
        outs, grads = [], []
        for i, o in enumerate(again):
            if i in received and isinstance(o, Tensor) and o.requires_grad:
                outs.append(o)
                grads.append(received[i])
        received.clear()
        targets = [r for r in fresh if isinstance(r, Tensor) and r.requires_grad] + leaves
        return autograd.grad(outs, targets, grads, create_graph=create_graph, allow_unused=True)

    # One node runs the recomputation for all outputs: each output hands its gradient to
    # it (through a placeholder), and the graph walk calls it once all have arrived.
    joint = ops._make(graph_outputs[0]._xp.zeros(()), parents, recompute_backward, "Checkpoint")

    def handing_on(i: int):
        def backward(g):
            received[i] = g
            return (Tensor._wrap(g._xp.zeros(())),)
        return backward

    wrapped = [ops._make(o.array, (joint,), handing_on(i), "CheckpointOutput")
               if isinstance(o, Tensor) and o.requires_grad else o for i, o in enumerate(outputs)]
    if not many:
        return wrapped[0]
    return type(result)(wrapped)
