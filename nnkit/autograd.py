"""Reverse-mode automatic differentiation: the graph, ``backward`` and ``grad``.

Each op that sees an input requiring a gradient gives its output a ``Node``: the
inputs (``parents``) and a ``backward`` function that maps the gradient of the
output to one gradient per parent (``None`` where a parent needs none). The ops
live in :mod:`nnkit.ops`, each with its backward beside its forward.

``backward`` walks the graph in reverse topological order with an explicit
worklist (no recursion, so a chain of 10,000 ops is fine), sums the gradients that
reach a tensor along different paths, and accumulates into the ``.grad`` of
leaves as PyTorch does. Backward functions are written with tensor ops, so with
``create_graph=True`` they are themselves recorded and can be differentiated
again (higher-order gradients).
"""

from __future__ import annotations

import functools
import itertools
from typing import Callable, Iterable, Sequence

__all__ = ["Node", "no_grad", "enable_grad", "set_grad_enabled", "is_grad_enabled",
           "backward", "grad", "zero_grads", "RemovableHandle"]


class _GradMode:
    enabled = True


_Tensor = None  # nnkit.tensor.Tensor, set by that module (it imports this one)


def is_grad_enabled() -> bool:
    """Whether ops record the graph right now."""
    return _GradMode.enabled


class set_grad_enabled:
    """Turn graph recording on (``True``) or off; as a context manager, restore it on exit."""

    def __init__(self, mode: bool):
        self.prev = _GradMode.enabled
        _GradMode.enabled = bool(mode)

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        _GradMode.enabled = self.prev


class _ModeContext:
    mode: bool

    def __new__(cls, fn: Callable | None = None):
        # ``@no_grad`` without parentheses decorates ``fn`` directly, as in PyTorch.
        self = super().__new__(cls)
        return self if fn is None else self(fn)

    def __enter__(self):
        self.prev = _GradMode.enabled
        _GradMode.enabled = self.mode
        return self

    def __exit__(self, *exc):
        _GradMode.enabled = self.prev

    def __call__(self, fn: Callable) -> Callable:
        @functools.wraps(fn)
        def wrapper(*args, **kwargs):
            with type(self)():
                return fn(*args, **kwargs)
        return wrapper


class no_grad(_ModeContext):
    """Ops inside record no graph (evaluation, optimizer updates)."""
    mode = False


class enable_grad(_ModeContext):
    """Ops inside record the graph, even within ``no_grad``."""
    mode = True


class RemovableHandle:
    """What ``register_*_hook`` returns: ``handle.remove()`` takes the hook off."""

    _ids = itertools.count()

    def __init__(self, hooks: dict):
        self.hooks = hooks
        self.id = next(RemovableHandle._ids)

    def remove(self) -> None:
        """Take the hook off (doing it twice is harmless)."""
        self.hooks.pop(self.id, None)

    def __enter__(self) -> "RemovableHandle":
        return self

    def __exit__(self, *exc) -> None:
        self.remove()


class _TensorHooks:
    """A tensor's backward hooks (``Tensor.register_hook`` and
    ``register_post_accumulate_grad_hook``), in registration order."""

    __slots__ = ("grad", "post_accumulate")

    def __init__(self):
        self.grad: dict = {}
        self.post_accumulate: dict = {}

    def on_grad(self, t, g):
        """Give ``g`` (the tensor's fully summed gradient) to each hook; a hook may return a replacement."""
        for fn in tuple(self.grad.values()):
            new = fn(g)
            if new is not None:
                if tuple(new.shape) != tuple(g.shape):
                    raise RuntimeError(f"hook '{getattr(fn, '__name__', fn)}' has changed the size of the "
                                       f"gradient from {tuple(g.shape)} to {tuple(new.shape)}")
                g = new
        return g

    def after_accumulate(self, t) -> None:
        for fn in tuple(self.post_accumulate.values()):
            fn(t)


class Node:
    """How an op's output sends its gradient back: its inputs and the rule."""

    __slots__ = ("parents", "backward", "name")

    def __init__(self, parents: tuple, backward: Callable, name: str):
        self.parents = parents
        self.backward = backward
        self.name = name

    def __repr__(self) -> str:
        return f"<{self.name}Backward>"

    def next_functions(self) -> tuple:
        return tuple(p.grad_fn for p in self.parents)


_FREED = ("Trying to backward through the graph a second time (or to use saved values after "
          "they were freed). Pass retain_graph=True to the first backward() or grad() call.")


def _freed(_g):
    raise RuntimeError(_FREED)


def _consumer_counts(roots: Sequence) -> dict:
    """For each tensor reachable from ``roots``: how many recorded ops use it.

    A tensor is ready to pass its gradient on once all of them have sent theirs.
    (Dicts here are keyed by the tensors themselves, hashed by identity, which
    also keeps them alive while the graph is being freed.)
    """
    counts: dict = {}
    seen = set()
    stack = list(roots)
    while stack:
        t = stack.pop()
        node = t.grad_fn
        if node is None or t in seen:
            continue
        seen.add(t)
        for p in node.parents:
            if p.requires_grad:
                counts[p] = counts.get(p, 0) + 1
                stack.append(p)
    return counts


def _owner(array):
    """The array that owns ``array``'s memory (NumPy and CuPy collapse chains of views)."""
    return array if array.base is None else array.base


def _accumulate(t, g, create_graph: bool, owned: set) -> None:
    """Add ``g`` into ``t.grad`` as PyTorch does: in place when no graph is being built."""
    if create_graph:
        t.grad = g if t.grad is None else t.grad + g
        return
    if t.grad is None:
        # The same memory may reach several leaves (add sends g to both inputs;
        # cat's backward sends views of one array): the first leaf keeps it, the
        # others get a copy, so that no two .grad share storage.
        memory = id(_owner(g.array))
        if memory in owned:
            g = _Tensor._wrap(g.array.copy())
            memory = id(g.array)
        owned.add(memory)
        t.grad = g
    elif t.grad.grad_fn is None and t.grad.array.shape == g.array.shape and t.grad.array.dtype == g.array.dtype:
        t.grad.array += g.array
    else:
        t.grad = _Tensor._wrap(t.grad.array + g.array)


def _run(roots, root_grads, retain_graph: bool, create_graph: bool, inputs=None):
    """Propagate gradients from ``roots`` in reverse topological order (Kahn's
    algorithm with an explicit worklist: no recursion); accumulate into leaves,
    or, when ``inputs`` is given, collect and return their gradients instead."""
    counts = _consumer_counts(roots)
    grads: dict = {}
    for r, g in zip(roots, root_grads):
        grads[r] = grads[r] + g if r in grads else g
    wanted = None if inputs is None else {t: i for i, t in enumerate(inputs)}
    found = [None] * (0 if inputs is None else len(inputs))
    owned = {id(_owner(g.array)) for g in root_grads}  # the caller's arrays are not ours to keep
    ready = [r for r in grads if r not in counts]  # any order of ready tensors is a valid order

    previous, _GradMode.enabled = _GradMode.enabled, create_graph
    try:
        while ready:
            t = ready.pop()
            g = grads.pop(t)
            node = t.grad_fn
            if t._hooks is not None:
                g = t._hooks.on_grad(t, g)
            if wanted is not None:
                if t in wanted:
                    found[wanted[t]] = g
            elif node is None or t._retains_grad:
                _accumulate(t, g, create_graph, owned)
                if node is None and t._hooks is not None:
                    t._hooks.after_accumulate(t)
            if node is None:
                continue
            parent_grads = node.backward(g)
            parents = node.parents
            if not retain_graph:  # drop the saved values and the inputs, as PyTorch frees its graph
                node.backward, node.parents = _freed, ()
            for p, pg in zip(parents, parent_grads):
                if pg is None or not p.requires_grad:
                    continue
                grads[p] = grads[p] + pg if p in grads else pg
                counts[p] -= 1
                if counts[p] == 0:
                    ready.append(p)
    finally:
        _GradMode.enabled = previous
    return found


def _as_tuple(x) -> tuple:
    if x is None:
        return ()
    return tuple(x) if isinstance(x, (list, tuple)) else (x,)


def _seed_grads(outputs: tuple, grad_outputs: tuple, caller: str) -> list:
    Tensor = _Tensor
    if grad_outputs and len(grad_outputs) != len(outputs):
        raise ValueError(f"{caller}: got {len(outputs)} outputs but {len(grad_outputs)} gradients")
    seeds = []
    for i, out in enumerate(outputs):
        if not isinstance(out, Tensor):
            raise TypeError(f"{caller}: expected Tensors, got {type(out).__name__}")
        if not out.requires_grad:
            raise RuntimeError(f"{caller}: element {i} of tensors does not require grad and does not have a grad_fn")
        g = grad_outputs[i] if grad_outputs else None
        if g is None:
            if out.numel() != 1:
                raise RuntimeError(f"{caller}: grad can be implicitly created only for scalar outputs; "
                                   f"output {i} has shape {tuple(out.shape)}: pass a gradient of that shape")
            g = Tensor._wrap(out._xp.ones(out.shape, dtype=out.dtype))
        else:
            g = g if isinstance(g, Tensor) else Tensor._wrap(out._xp.asarray(g, dtype=out.dtype))
            if g.shape != out.shape:
                raise RuntimeError(f"{caller}: gradient of shape {tuple(g.shape)} does not match "
                                   f"output {i} of shape {tuple(out.shape)}")
        seeds.append(g)
    return seeds


def backward(tensors, grad_tensors=None, retain_graph: bool | None = None,
             create_graph: bool = False) -> None:
    """Accumulate d(tensors)/d(leaf) into every leaf's ``.grad`` (``Tensor.backward`` calls this)."""
    outputs = _as_tuple(tensors)
    seeds = _seed_grads(outputs, _as_tuple(grad_tensors), "backward")
    _run(outputs, seeds, create_graph if retain_graph is None else retain_graph, create_graph)


def grad(outputs, inputs, grad_outputs=None, retain_graph: bool | None = None,
         create_graph: bool = False, allow_unused: bool = False) -> tuple:
    """Return d(outputs)/d(inputs) without touching any ``.grad``.

    >>> import nnkit
    >>> x = nnkit.tensor(3.0, requires_grad=True)
    >>> (dx,) = nnkit.autograd.grad(x ** 3, x, create_graph=True)
    >>> (d2x,) = nnkit.autograd.grad(dx, x)
    >>> float(dx), float(d2x)
    (27.0, 18.0)
    """
    outs = _as_tuple(outputs)
    ins = _as_tuple(inputs)
    for i, t in enumerate(ins):
        if not t.requires_grad:
            raise RuntimeError(f"grad: input {i} does not require grad")
    seeds = _seed_grads(outs, _as_tuple(grad_outputs), "grad")
    found = _run(outs, seeds, create_graph if retain_graph is None else retain_graph, create_graph, ins)
    for i, g in enumerate(found):
        if g is None and not allow_unused:
            raise RuntimeError(f"grad: input {i} was not used to compute the outputs "
                               "(pass allow_unused=True to get None for it)")
    return tuple(found)


def zero_grads(tensors: Iterable, set_to_none: bool = True) -> None:
    """Reset each tensor's ``.grad``: to ``None``, or to zeros cut from any graph.

    What ``Module.zero_grad`` and ``Optimizer.zero_grad`` do to their parameters.
    """
    for t in tensors:
        if t.grad is None:
            continue
        if set_to_none:
            t.grad = None
        else:
            t.grad.detach_()
            t.grad.array[...] = 0
