"""``Function``: a differentiable op with a forward and a backward of your own, as PyTorch's.

>>> import nnkit
>>> class Cube(Function):
...     @staticmethod
...     def forward(ctx, x):
...         ctx.save_for_backward(x)
...         return x ** 3
...     @staticmethod
...     def backward(ctx, g):
...         (x,) = ctx.saved_tensors
...         return g * 3 * x ** 2
>>> x = nnkit.tensor([1.0, 2.0], requires_grad=True)
>>> Cube.apply(x).sum().backward()
>>> x.grad
tensor([ 3., 12.])

``forward`` runs without recording (it may use any op, or raw arrays); ``apply``
then gives its outputs one node whose backward is yours. Your backward gets one
gradient per output and returns one per input of ``forward`` (None for inputs
that are not tensors or need none). Written with tensor ops, it is itself
recorded under ``create_graph=True``, so second derivatives work; decorate it
with :func:`once_differentiable` when it works on raw arrays instead.
"""

from __future__ import annotations

import functools

from .. import autograd
from . import Node, _GradMode, no_grad

__all__ = ["Function", "FunctionCtx", "once_differentiable"]


class FunctionCtx:
    """What ``forward`` leaves for ``backward`` (the ``ctx`` argument of both).

    Besides the methods below, any attribute may be set on it (``ctx.k = 3``).
    ``needs_input_grad`` says, for each input of ``forward``, whether it wants a gradient.
    """

    def __init__(self, needs_input_grad: tuple = ()):
        self.needs_input_grad = needs_input_grad
        self.materialize_grads = True
        self._to_save: tuple = ()
        self._non_differentiable: set = set()
        self._dirty: set = set()

    def save_for_backward(self, *tensors) -> None:
        """Keep tensors (inputs or outputs of ``forward``) for ``backward``; changing one in
        place before the backward runs makes it raise instead of using the new values."""
        for i, t in enumerate(tensors):
            if t is not None and not isinstance(t, autograd._Tensor):
                raise TypeError(f"save_for_backward can only save tensors (or None), but argument {i} is of "
                                f"type {type(t).__name__}; keep other values as attributes of ctx")
        self._to_save = tensors

    @property
    def saved_tensors(self) -> tuple:
        """What ``save_for_backward`` kept, in its order."""
        return self._to_save

    def mark_non_differentiable(self, *outputs) -> None:
        """Outputs of ``forward`` that get no gradient (indices, masks): they do not require grad,
        and ``backward`` receives zeros for them."""
        self._non_differentiable.update(id(t) for t in outputs)

    def mark_dirty(self, *inputs) -> None:
        """Inputs that ``forward`` changed in place (and returns): they take the op's node."""
        self._dirty.update(id(t) for t in inputs)

    def set_materialize_grads(self, value: bool) -> None:
        """True (the default): ``backward`` gets zeros for outputs that received no gradient;
        False: it gets None for them."""
        self.materialize_grads = bool(value)


class _OutputGradients:
    """The gradients of some outputs of one ``Function`` call, keyed by output, on their way to
    its node: the engine sums what reaches a node with ``+``, and this sums per output."""

    __slots__ = ("by_output",)

    def __init__(self, by_output: dict):
        self.by_output = by_output

    def __add__(self, other: "_OutputGradients") -> "_OutputGradients":
        merged = dict(self.by_output)
        for i, g in other.by_output.items():
            merged[i] = merged[i] + g if i in merged else g
        return _OutputGradients(merged)


class Function:
    """Subclass it with two static methods, ``forward(ctx, *args)`` and
    ``backward(ctx, *grad_outputs)``, and call ``YourFunction.apply(*args)``.

    (Or, as PyTorch also allows, ``forward(*args)`` without ``ctx`` plus
    ``setup_context(ctx, inputs, output)``, which fills ``ctx`` afterwards.)
    """

    @staticmethod
    def forward(ctx, *args, **kwargs):
        raise NotImplementedError("Function: subclasses must define forward(ctx, *args) as a staticmethod")

    @staticmethod
    def backward(ctx, *grad_outputs):
        raise NotImplementedError("Function: subclasses must define backward(ctx, *grad_outputs) as a staticmethod "
                                  "to be differentiated")

    @staticmethod
    def setup_context(ctx, inputs: tuple, output):
        raise NotImplementedError("Function.setup_context: define it to use forward(*args) without ctx")

    @classmethod
    def apply(cls, *args, **kwargs):
        """Run ``forward`` and, when an input requires grad, record it with ``backward`` as its gradient."""
        Tensor = autograd._Tensor
        ctx = FunctionCtx(tuple(isinstance(a, Tensor) and a.requires_grad for a in args))
        with no_grad():
            if cls.setup_context is not Function.setup_context:
                output = cls.forward(*args, **kwargs)
                cls.setup_context(ctx, args, output)
            else:
                output = cls.forward(ctx, *args, **kwargs)
        single = not isinstance(output, tuple)
        outputs = (output,) if single else output
        for t in outputs:
            if isinstance(t, Tensor) and id(t) in ctx._dirty:
                t._counter()[0] += 1  # changed in place: what was saved of its old value is stale
        if not (_GradMode.enabled and any(ctx.needs_input_grad)):
            return output
        outputs = tuple(_own(t, args, ctx) if isinstance(t, Tensor) else t for t in outputs)
        differentiable = [i for i, t in enumerate(outputs) if isinstance(t, Tensor) and id(t) not in
                          ctx._non_differentiable and (t.dtype.is_floating_point or t.dtype.is_complex)]
        node = Node(tuple(a for a in args if isinstance(a, Tensor)), _backward(cls, ctx, args, outputs),
                    cls.__name__, _versions(ctx.saved_tensors))
        if len(differentiable) == 1:
            (i,) = differentiable
            node.backward = functools.partial(_one_output, node.backward, i)
            _attach(outputs[i], node)
        elif differentiable:  # each output sends its gradient, keyed, to one hidden tensor owning the node
            hub = Tensor._wrap(outputs[differentiable[0]]._xp.empty(0))
            _attach(hub, node)
            for i in differentiable:
                _attach(outputs[i], Node((hub,), functools.partial(_keyed, i), cls.__name__))
        return outputs[0] if single else outputs


def _own(t, args: tuple, ctx: FunctionCtx):
    """The tensor to return for output ``t``: a new one over the same memory when ``t`` is one of
    the inputs, or was made outside ``forward`` (the node must not replace theirs), unless it is
    an input that ``forward`` changed in place (marked dirty): that one takes the node."""
    if id(t) in ctx._dirty:
        if t.requires_grad and t.grad_fn is None:
            raise RuntimeError(f"Function: a leaf tensor that requires grad (shape {tuple(t.shape)}) was changed "
                               "in place by forward (marked dirty); change a clone instead")
        return t
    if t.requires_grad or any(t is a for a in args):
        alias = autograd._Tensor._wrap(t.array)
        alias._vc = t._counter()
        if id(t) in ctx._non_differentiable:
            ctx._non_differentiable.add(id(alias))
        return alias
    return t


def _attach(t, node: Node) -> None:
    t.grad_fn, t.requires_grad = node, True


def _versions(tensors) -> tuple:
    """(counter, version, array) of each saved tensor, for the engine's check before the backward."""
    return tuple((t._counter(), t._counter()[0], t.array) for t in tensors if t is not None)


def _one_output(backward, i: int, g):
    return backward(_OutputGradients({i: g}))


def _keyed(i: int, g) -> tuple:
    return (_OutputGradients({i: g}),)


def _backward(cls, ctx: FunctionCtx, args: tuple, outputs: tuple):
    """The node's backward: the user's, given one gradient per output and checked on the way back."""
    Tensor = autograd._Tensor
    name = cls.__name__ + "Backward"
    shapes = [(t.shape, t.array.dtype, t._xp) if isinstance(t, Tensor) else None for t in outputs]

    def backward(received: _OutputGradients) -> tuple:
        grads = [received.by_output.get(i) for i in range(len(outputs))]
        if ctx.materialize_grads:
            grads = [Tensor._wrap(s[2].zeros(s[0], s[1])) if g is None and s is not None else g
                     for g, s in zip(grads, shapes)]
        results = cls.backward(ctx, *grads)
        results = results if isinstance(results, tuple) else (results,)
        if len(results) != len(args):
            if len(results) < len(args) or any(r is not None for r in results[len(args):]):
                raise RuntimeError(f"function {name} returned an incorrect number of gradients "
                                   f"(expected {len(args)}, got {len(results)})")
            results = results[:len(args)]
        back = []
        for i, (a, r) in enumerate(zip(args, results)):
            if not isinstance(a, Tensor):
                if r is not None:
                    raise RuntimeError(f"function {name} returned a gradient different than None at position "
                                       f"{i + 1}, but the corresponding forward input was not a Tensor")
                continue
            back.append(_fit(r, a, i, name) if r is not None and a.requires_grad else None)
        return tuple(back)
    return backward


def _fit(g, a, i: int, name: str):
    """The gradient ``g`` returned for input ``a``: summed down when broadcast larger, cast to its dtype."""
    if not isinstance(g, autograd._Tensor):
        raise TypeError(f"function {name} returned a {type(g).__name__} as the gradient at index {i}; "
                        "expected a Tensor or None")
    if g.shape != a.shape:
        lead = g.ndim - a.ndim
        if lead < 0 or any(s not in (1, t) for s, t in zip(a.shape, g.shape[lead:])):
            raise RuntimeError(f"Function {name} returned an invalid gradient at index {i} - got {list(g.shape)} "
                               f"but expected shape compatible with {list(a.shape)}")
        dims = tuple(range(lead)) + tuple(lead + k for k, s in enumerate(a.shape) if s == 1 != g.shape[lead + k])
        g = g.sum(dim=dims).reshape(a.shape) if dims else g.reshape(a.shape)
    return g if g.dtype == a.dtype else g.to(a.dtype)


def once_differentiable(backward):
    """Mark a ``Function.backward`` that cannot itself be differentiated (it works on raw
    arrays, say): it runs without recording, and a second derivative through it raises."""
    @functools.wraps(backward)
    def wrapper(ctx, *grad_outputs):
        with no_grad():
            results = backward(ctx, *grad_outputs)
        Tensor = autograd._Tensor
        upstream = tuple(g for g in grad_outputs if isinstance(g, Tensor) and g.requires_grad)
        if not (_GradMode.enabled and upstream):  # no graph is being built (no create_graph)
            return results
        single = not isinstance(results, tuple)
        marked = tuple(_twice_marked(r, upstream) if isinstance(r, Tensor) else r
                       for r in ((results,) if single else results))
        return marked[0] if single else marked
    return wrapper


def _twice_marked(t, upstream: tuple):
    """``t`` again, recorded so that differentiating through it raises."""
    out = autograd._Tensor._wrap(t.array)
    _attach(out, Node(upstream, _differentiated_twice, "OnceDifferentiable"))
    return out


def _differentiated_twice(_g):
    raise RuntimeError("trying to differentiate twice a function that was marked with @once_differentiable")
