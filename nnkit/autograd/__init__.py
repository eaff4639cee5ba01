"""Reverse-mode automatic differentiation: the graph, ``backward`` and ``grad``.

Each op that sees an input requiring a gradient gives its output a ``Node``: the
inputs (``parents``) and a ``backward`` function that maps the gradient of the
output to one gradient per parent (``None`` where a parent needs none). The ops
live in :mod:`nnkit.ops`, each with its backward beside its forward.

A node also remembers where each parent's gradient goes (``edges``): the
parent's own node, or the parent itself when it is a leaf, as they were when
the op ran. An in-place op gives its tensor a new node, and the ops that used
the old value still send their gradients to the old one.

``backward`` walks the graph in reverse topological order with an explicit
worklist (no recursion, so a chain of 10,000 ops is fine), sums the gradients that
reach a tensor along different paths, and accumulates into the ``.grad`` of
leaves as PyTorch does. Backward functions are written with tensor ops, so with
``create_graph=True`` they are themselves recorded and can be differentiated
again (higher-order gradients).

Every tensor has a version counter, shared with its views, that each in-place
op increases. A node records the versions of the tensors its backward needs
(``saved``); if one of them has changed by the time the backward runs, its
values are no longer the ones the op saw and ``backward`` raises instead of
returning a wrong gradient, as PyTorch does.

The modes (grad mode, inference mode, anomaly detection) belong to the thread
that sets them, as in PyTorch: a ``no_grad`` block in one thread leaves another
thread's training alone.

Two submodules build on the engine: :mod:`.function` (``Function``: an op with a
forward and a backward of your own) and :mod:`.functional` (``jacobian``,
``hessian``, ``vjp``, ``jvp``, ``hvp``, ``vhp``).
"""

from __future__ import annotations

import functools
import inspect
import itertools
import os
import threading
import traceback
from typing import Callable, Iterable, Sequence

__all__ = ["Node", "no_grad", "enable_grad", "set_grad_enabled", "is_grad_enabled",
           "inference_mode", "is_inference_mode_enabled",
           "detect_anomaly", "set_detect_anomaly", "is_anomaly_enabled",
           "backward", "grad", "zero_grads", "RemovableHandle",
           "Function", "FunctionCtx", "once_differentiable"]


class _ThreadModes(threading.local):
    """The modes of the current thread; each new thread starts from these defaults."""
    enabled = True     # grad mode: ops record the graph
    inference = False  # inference mode: grad mode off, and is_inference_mode_enabled() says so
    anomaly = False    # anomaly detection: nodes keep their forward traceback, backward checks for NaN


_GradMode = _ThreadModes()

_Tensor = None  # nnkit.tensor.Tensor, set by that module (it imports this one)


def is_grad_enabled() -> bool:
    """Whether ops record the graph right now (in this thread)."""
    return _GradMode.enabled


class _ModeContext:
    """A mode switch usable as ``with ...:`` and as a decorator (of functions and generator functions)."""

    def _set(self) -> None:
        raise NotImplementedError

    def __enter__(self):
        self.prev = _modes()
        self._set()
        return self

    def __exit__(self, *exc):
        _GradMode.enabled, _GradMode.inference, _GradMode.anomaly = self.prev

    def _copy(self) -> "_ModeContext":
        return self

    def __call__(self, fn: Callable) -> Callable:
        if inspect.isgeneratorfunction(fn):
            return self._wrap_generator(fn)

        @functools.wraps(fn)
        def wrapper(*args, **kwargs):
            with self._copy():
                return fn(*args, **kwargs)
        return wrapper

    def _wrap_generator(self, fn: Callable) -> Callable:
        """The mode holds while the generator's own code runs, and not in its caller between items."""
        @functools.wraps(fn)
        def wrapper(*args, **kwargs):
            gen = fn(*args, **kwargs)
            try:
                with self._copy():
                    response = gen.send(None)
                while True:
                    try:
                        request = yield response
                    except GeneratorExit:
                        with self._copy():
                            gen.close()
                        raise
                    except BaseException as error:
                        with self._copy():
                            response = gen.throw(error)
                    else:
                        with self._copy():
                            response = gen.send(request)
            except StopIteration as stop:
                return stop.value
        return wrapper


def _modes() -> tuple:
    return _GradMode.enabled, _GradMode.inference, _GradMode.anomaly


class _GradSwitch(_ModeContext):
    mode: bool

    def __new__(cls, fn: Callable | None = None):
        # ``@no_grad`` without parentheses decorates ``fn`` directly, as in PyTorch.
        self = super().__new__(cls)
        return self if fn is None else self(fn)

    def _set(self) -> None:
        _GradMode.enabled = self.mode

    def _copy(self) -> "_GradSwitch":
        return type(self)()


class no_grad(_GradSwitch):
    """Ops inside record no graph (evaluation, optimizer updates), in this thread."""
    mode = False


class enable_grad(_GradSwitch):
    """Ops inside record the graph, even within ``no_grad``."""
    mode = True


class set_grad_enabled(_ModeContext):
    """Turn graph recording on (``True``) or off for this thread; as a context manager
    or decorator, restore the previous mode on exit."""

    def __init__(self, mode: bool):
        self.mode = bool(mode)
        self.prev = _modes()
        _GradMode.enabled = self.mode

    def _set(self) -> None:
        _GradMode.enabled = self.mode

    def __enter__(self):
        return self  # the mode was set when the object was made; __exit__ restores the one before

    def __call__(self, fn: Callable) -> Callable:
        _GradMode.enabled = self.prev[0]  # as a decorator it changes nothing until fn runs
        return super().__call__(fn)

    def _copy(self) -> "_ModeContext":
        return _Switch(self.mode)


class _Switch(_ModeContext):
    def __init__(self, mode: bool):
        self.mode = mode

    def _set(self) -> None:
        _GradMode.enabled = self.mode

    def _copy(self) -> "_ModeContext":
        return _Switch(self.mode)


class inference_mode(_ModeContext):
    """Ops inside record no graph, as under ``no_grad``: for serving a model, where nothing
    will ever call ``backward``. Usable as ``with inference_mode():``, as a decorator (with
    or without parentheses), and as ``inference_mode(False)``, which turns it off inside
    (and turns grad mode back on, as PyTorch's does).

    Tensors made inside have ``requires_grad=False``. (PyTorch also marks them as
    inference tensors that autograd refuses later; nnkit's are ordinary tensors.)

    >>> import nnkit
    >>> w = nnkit.ones(2, requires_grad=True)
    >>> with inference_mode():
    ...     y = w * 2
    >>> y.requires_grad, is_inference_mode_enabled()
    (False, False)
    """

    def __new__(cls, mode=True):
        self = super().__new__(cls)
        if callable(mode):  # @inference_mode, without parentheses
            self.mode = True
            return self(mode)
        return self

    def __init__(self, mode: bool = True):
        self.mode = bool(mode)

    def _set(self) -> None:
        _GradMode.enabled, _GradMode.inference = not self.mode, self.mode

    def _copy(self) -> "_ModeContext":
        return inference_mode(self.mode)


def is_inference_mode_enabled() -> bool:
    """Whether an ``inference_mode`` block is active (in this thread)."""
    return _GradMode.inference


def is_anomaly_enabled() -> bool:
    """Whether anomaly detection is on in this thread."""
    return _GradMode.anomaly


def set_detect_anomaly(mode: bool) -> None:
    """Turn anomaly detection on or off for this thread (see :class:`detect_anomaly`)."""
    _GradMode.anomaly = bool(mode)


class detect_anomaly(_ModeContext):
    """Inside, every recorded op keeps the traceback of its forward call, and ``backward``
    raises as soon as an op's backward returns NaN, naming the op and showing where it
    was called. Slow: for debugging.

    >>> import nnkit
    >>> x = nnkit.tensor([0.0], requires_grad=True)
    >>> with detect_anomaly():  # doctest: +ELLIPSIS
    ...     nnkit.sqrt(x * 0 - 1).sum().backward()
    Traceback (most recent call last):
    ...
    RuntimeError: Function 'SqrtBackward' returned nan values in its 0th output. ...
    """

    def __init__(self, check_nan: bool = True):
        self.check_nan = check_nan

    def _set(self) -> None:
        _GradMode.anomaly = self.check_nan

    def _copy(self) -> "_ModeContext":
        return detect_anomaly(self.check_nan)


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
    """How an op's output sends its gradient back: its inputs and the rule.

    ``parents`` are the input tensors; ``edges`` where their gradients go (each
    parent's node as it was when the op ran, the parent itself for a leaf, None
    for an input that needs no gradient); ``saved`` the version counters of the
    tensors the backward will read, with the versions they had (and their arrays, for the message).
    """

    __slots__ = ("parents", "edges", "backward", "name", "saved", "retained", "hooks", "trace")

    def __init__(self, parents: tuple, backward: Callable, name: str, saved: tuple = ()):
        self.parents = parents
        if len(parents) == 1:  # the common cases written out: this runs once per recorded op
            p, = parents
            self.edges = ((p.grad_fn or p) if p.requires_grad else None,)
        elif len(parents) == 2:
            p, q = parents
            self.edges = ((p.grad_fn or p) if p.requires_grad else None, (q.grad_fn or q) if q.requires_grad else None)
        else:
            self.edges = tuple([(p.grad_fn or p) if p.requires_grad else None for p in parents])
        self.backward = backward
        self.name = name
        self.saved = saved
        # retained: the output tensor (weakly), when it keeps its gradient (retain_grad);
        # hooks: the output tensor's hooks (register_hook), which run even once it is gone.
        self.retained = self.hooks = None
        self.trace = traceback.format_stack()[:-2] if _GradMode.anomaly else None

    def __repr__(self) -> str:
        return f"<{self.name}Backward>"

    def next_functions(self) -> tuple:
        return tuple(e if isinstance(e, Node) else None for e in self.edges)


_FREED = ("Trying to backward through the graph a second time (or to use saved values after "
          "they were freed). Pass retain_graph=True to the first backward() or grad() call.")


def _freed(_g):
    raise RuntimeError(_FREED)


def _check_saved(node: Node) -> None:
    """Raise if a tensor that ``node``'s backward reads was changed in place since the op ran."""
    for counter, version, array in node.saved:
        if counter[0] != version:
            raise RuntimeError(
                f"one of the variables needed for gradient computation has been modified by an inplace "
                f"operation: [{array.dtype} {list(array.shape)}], which {node.name}Backward needs, is at version "
                f"{counter[0]}; expected version {version} instead. Hint: use the out-of-place op "
                "(h = h * 2 rather than h.mul_(2)), or .clone() the tensor before changing it.")


def _consumer_counts(roots: Sequence) -> dict:
    """For each node (or leaf) reachable from ``roots``: how many recorded ops send it a gradient.

    It is ready to pass its gradient on once all of them have sent theirs.
    (Dicts here are keyed by the nodes and leaf tensors themselves, hashed by
    identity, which also keeps them alive while the graph is being freed.)
    """
    counts: dict = {}
    seen = set()
    stack = list(roots)
    while stack:
        node = stack.pop()
        if not isinstance(node, Node) or node in seen:
            continue
        seen.add(node)
        for e in node.edges:
            if e is not None:
                counts[e] = counts.get(e, 0) + 1
                stack.append(e)
    return counts


def _owner(array):
    """The array that owns ``array``'s memory (NumPy and CuPy collapse chains of views)."""
    return array if array.base is None else array.base


def _writable(array) -> bool:
    return getattr(array.flags, "writeable", True)  # CuPy arrays are always writable


def _accumulate(t, g, create_graph: bool, owned: set) -> None:
    """Add ``g`` into ``t.grad`` as PyTorch does: in place when no graph is being built.

    A new ``.grad`` is always an array of its own, writable and contiguous, so that
    a second backward, ``zero_grad(set_to_none=False)``, gradient clipping and
    ``p.grad.mul_`` can change it in place. The gradient an op returns usually is
    one already, and is kept without a copy.
    """
    array = g.array
    if t.grad is None:
        # The same memory may reach several leaves (add sends g to both inputs;
        # cat's backward sends views of one array), or be read-only or strided (the
        # broadcast view of mean's backward): copy unless it is ours alone.
        memory = id(_owner(array))
        flags = array.flags
        if memory in owned or not flags.c_contiguous or not getattr(flags, "writeable", True):
            g = g.clone() if create_graph else _Tensor._wrap(g._xp.ascontiguousarray(array).copy())
            memory = id(_owner(g.array))
        owned.add(memory)
        t.grad = g
    elif create_graph:
        t.grad = t.grad + g
    elif t.grad.grad_fn is None and t.grad.array.shape == array.shape and t.grad.array.dtype == array.dtype \
            and _writable(t.grad.array):
        t.grad.array += array
    else:
        t.grad = _Tensor._wrap(t.grad.array + array)


def _key(t):
    """Where gradients for ``t`` gather in the engine: its node, or the leaf itself."""
    return t.grad_fn if t.grad_fn is not None else t


_PACKAGE = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))  # nnkit itself, not only autograd


def _check_anomaly(node: Node, parent_grads) -> None:
    for i, pg in enumerate(parent_grads):
        if isinstance(pg, _Tensor) and pg.dtype.kind in "fcV" and bool(pg._xp.isnan(pg.array).any()):  # V: bfloat16
            frames = [f for f in node.trace or () if not f.lstrip().startswith(f'File "{_PACKAGE}')]
            where = "".join(frames[-3:]) if frames else "(recorded outside detect_anomaly)\n"
            raise RuntimeError(f"Function '{node.name}Backward' returned nan values in its {i}th output. "
                               f"The forward call that made it:\n{where}")


def _release(k, counts: dict, ready: list) -> None:
    for e in (k.edges if isinstance(k, Node) else ()):
        if e is not None:
            counts[e] -= 1
            if counts[e] == 0:
                ready.append(e)


def _run(roots, root_grads, retain_graph: bool, create_graph: bool, inputs=None):
    """Propagate gradients from ``roots`` in reverse topological order (Kahn's
    algorithm with an explicit worklist: no recursion); accumulate into leaves,
    or, when ``inputs`` is given, collect and return their gradients instead."""
    keys = [_key(r) for r in roots]
    counts = _consumer_counts(keys)
    grads: dict = {}
    for k, g in zip(keys, root_grads):
        grads[k] = grads[k] + g if k in grads else g
    wanted = None if inputs is None else {_key(t): i for i, t in enumerate(inputs)}
    found = [None] * (0 if inputs is None else len(inputs))
    owned = {id(_owner(g.array)) for g in root_grads}  # the caller's arrays are not ours to keep
    ready = [k for k in grads if k not in counts]  # any order of ready entries is a valid order
    anomaly = _GradMode.anomaly

    previous, _GradMode.enabled = _GradMode.enabled, create_graph
    try:
        while ready:
            k = ready.pop()
            g = grads.pop(k, None)
            if g is None:  # every consumer sent None: nothing to pass on, but its inputs stop waiting
                _release(k, counts, ready)
                continue
            if not isinstance(k, Node):  # a leaf
                if k._hooks is not None:
                    g = k._hooks.on_grad(k, g)
                if wanted is None:
                    _accumulate(k, g, create_graph, owned)
                    if k._hooks is not None:
                        k._hooks.after_accumulate(k)
                elif k in wanted:
                    found[wanted[k]] = g
                continue
            if k.hooks is not None:
                g = k.hooks.on_grad(None, g)
            if wanted is not None:
                if k in wanted:
                    found[wanted[k]] = g
            elif k.retained is not None and k.retained() is not None:
                _accumulate(k.retained(), g, create_graph, owned)
            if k.saved:
                _check_saved(k)
            parent_grads = k.backward(g)
            if anomaly:
                _check_anomaly(k, parent_grads)
            edges = k.edges
            if not retain_graph:  # drop the saved values and the inputs, as PyTorch frees its graph
                k.backward, k.parents, k.saved = _freed, (), ()
            for e, pg in zip(edges, parent_grads):
                if e is None:
                    continue
                if pg is not None:
                    grads[e] = grads[e] + pg if e in grads else pg
                counts[e] -= 1
                if counts[e] == 0:
                    ready.append(e)
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


def grad(outputs, inputs, grad_outputs=None, retain_graph: bool | None = None, create_graph: bool = False,
         only_inputs: bool = True, allow_unused: bool | None = None, is_grads_batched: bool = False,
         materialize_grads: bool = False) -> tuple:
    """Return d(outputs)/d(inputs) without touching any ``.grad``.

    ``allow_unused=True`` gives None for an input the outputs do not depend on (an
    error otherwise), ``materialize_grads=True`` zeros instead. With
    ``is_grads_batched=True`` the first dim of each of ``grad_outputs`` is a batch
    of vectors, and each result gets that leading dim (one backward pass per vector).
    ``only_inputs`` is accepted and ignored, as in PyTorch.

    >>> import nnkit
    >>> x = nnkit.tensor(3.0, requires_grad=True)
    >>> (dx,) = nnkit.autograd.grad(x ** 3, x, create_graph=True)
    >>> (d2x,) = nnkit.autograd.grad(dx, x)
    >>> float(dx), float(d2x)
    (27.0, 18.0)
    """
    if materialize_grads and allow_unused is False:
        raise ValueError("grad: expected allow_unused to be True or not passed when materialize_grads=True")
    allow_unused = bool(allow_unused) or materialize_grads
    outs = _as_tuple(outputs)
    ins = _as_tuple(inputs)
    for i, t in enumerate(ins):
        if not isinstance(t, _Tensor):
            raise TypeError(f"grad: inputs must be Tensors, got {type(t).__name__} at position {i}")
        if not t.requires_grad:
            raise RuntimeError(f"grad: input {i} does not require grad")
    retain = create_graph if retain_graph is None else retain_graph
    if is_grads_batched:
        found = _batched(outs, ins, _as_tuple(grad_outputs), retain, create_graph)
    else:
        seeds = _seed_grads(outs, _as_tuple(grad_outputs), "grad")
        found = _run(outs, seeds, retain, create_graph, ins)
    for i, g in enumerate(found):
        if g is None and not allow_unused:
            raise RuntimeError(f"grad: input {i} was not used to compute the outputs "
                               "(pass allow_unused=True to get None for it)")
    if materialize_grads:
        found = [_Tensor._wrap(t._xp.zeros(t.shape, t.array.dtype)) if g is None else g for g, t in zip(found, ins)]
    return tuple(found)


def _batched(outs: tuple, ins: tuple, grad_outputs: tuple, retain: bool, create_graph: bool) -> list:
    """``grad`` for each vector of a batch of ``grad_outputs`` (their first dim), stacked."""
    if len(grad_outputs) != len(outs) or any(g is None for g in grad_outputs):
        raise RuntimeError("grad: is_grads_batched=True needs one batched gradient per output")
    sizes = {int(g.shape[0]) if g.ndim else None for g in grad_outputs}
    if len(sizes) != 1 or None in sizes or 0 in sizes:
        raise RuntimeError(f"grad: is_grads_batched=True needs grad_outputs sharing a first (batch) dim, got "
                           f"shapes {[tuple(g.shape) for g in grad_outputs]}")
    batch = sizes.pop()
    per_vector = []
    for b in range(batch):
        seeds = _seed_grads(outs, tuple(g[b] for g in grad_outputs), "grad")
        per_vector.append(_run(outs, seeds, retain or b < batch - 1, create_graph, ins))
    from ..ops import stack  # the ops sit above this module; grad runs long after they are loaded
    return [None if column[0] is None else stack(column) for column in zip(*per_vector)]


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
            if _writable(t.grad.array):
                t.grad.array[...] = 0
            else:  # a read-only gradient that the caller assigned
                t.grad = _Tensor._wrap(t.grad._xp.zeros_like(t.grad.array))


from .function import Function, FunctionCtx, once_differentiable  # noqa: E402  (they build on the engine above)
