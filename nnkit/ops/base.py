"""The plumbing every op uses: recording a result in the graph, dtype promotion,
dims, and the three ops that every backward needs (broadcasting with ``expand``,
its adjoint ``_sum_to``, and ``to``, which casts and moves).

An op computes its result on raw arrays (``x.array``), then hands
:func:`_make` the result, its inputs and a ``backward(g)`` that returns one
gradient per input.
"""

from __future__ import annotations

import builtins

import numpy

from .. import backend
from ..autograd import Node, _GradMode
from ..tensor import Tensor

__all__ = []


def _make(array, parents: tuple, backward, name: str, saved: tuple | None = None,
          output: bool = False) -> Tensor:
    """Wrap ``array``; record the op when grad mode is on and an input needs a gradient.

    ``saved`` lists the inputs whose values ``backward`` reads (all of them when
    not given), and ``output`` says that it reads the op's own output: their
    versions are recorded, so that changing one in place before the backward
    runs raises instead of giving a wrong gradient.
    """
    if isinstance(array, numpy.generic):  # NumPy's full reductions return scalars
        array = numpy.asarray(array)
    out = Tensor._wrap(array)
    if _GradMode.enabled:
        for p in parents:
            if p.requires_grad:
                if saved is None:
                    saved = parents
                versions = _versions(saved) if saved else ()
                if output:
                    out._vc = [0]
                    versions += ((out._vc, 0, array),)
                out.requires_grad = True
                out.grad_fn = Node(parents, backward, name, versions)
                break
    return out


def _versions(tensors) -> tuple:
    """(counter, version, array) of each tensor, for the check before its backward runs."""
    entries = []
    for t in tensors:
        counter = t._vc
        if counter is None:
            counter = t._vc = [0]
        entries.append((counter, counter[0], t.array))
    return tuple(entries)


def _view(array, a: Tensor, backward, name: str) -> Tensor:
    """Like :func:`_make` for ops that may return a view of ``a`` (reshape, transpose,
    slicing...): when NumPy did not copy, the result shares ``a``'s version counter,
    so that an in-place change through either is seen by both."""
    out = _make(array, (a,), backward, name, saved=())
    base = array.base
    if base is not None and (base is a.array or base is a.array.base
                             or getattr(base, "base", None) is a.array):  # as_strided wraps a in a holder
        out._vc = a._counter()
        out._base = a if a._base is None else a._base
    return out


def _saved(array, recompute) -> Tensor:
    """An op's output, for its backward: the stored values, or (when building a
    graph for higher-order gradients) the op applied again, so that the output's
    own dependence on the input is recorded too."""
    return recompute() if _GradMode.enabled else Tensor._wrap(array)


_KIND_RANK = {"b": 0, "u": 1, "i": 1, "f": 2, "V": 2, "c": 3}  # V: ml_dtypes' bfloat16, a float


def _promote_types(a: numpy.dtype, b: numpy.dtype) -> numpy.dtype:
    """PyTorch's promotion of two tensor dtypes: a higher kind wins as it is (int64 with
    float32 gives float32, where NumPy would give float64)."""
    ka, kb = _KIND_RANK[a.kind], _KIND_RANK[b.kind]
    if ka != kb:
        return a if ka > kb else b
    return numpy.promote_types(a, b)


def _result_dtype(a, b) -> numpy.dtype:
    """PyTorch's type promotion for two operands (Tensors or Python scalars)."""
    a_t, b_t = isinstance(a, Tensor), isinstance(b, Tensor)
    if a_t and b_t:
        if _KIND_RANK[a.dtype.kind] != _KIND_RANK[b.dtype.kind]:
            return _promote_types(a.dtype, b.dtype)
        if (a.ndim == 0) != (b.ndim == 0):  # a 0-d tensor acts like a scalar within its kind
            return b.dtype if a.ndim == 0 else a.dtype
        return numpy.promote_types(a.dtype, b.dtype)
    t, s = (a, b) if a_t else (b, a)
    ks = 0 if isinstance(s, (bool, numpy.bool_)) else 1 if isinstance(s, (int, numpy.integer)) else 2
    if ks <= _KIND_RANK[t.dtype.kind]:
        return t.dtype
    return backend.int64 if ks == 1 else backend.get_default_dtype()


def _operands(a, b, op: str) -> tuple[Tensor, Tensor]:
    """Make both operands Tensors of one dtype on one device."""
    if isinstance(a, Tensor) and isinstance(b, Tensor):
        if a.array.dtype == b.array.dtype and type(a.array) is type(b.array):
            return a, b  # the common case, kept fast
        if a._xp is not b._xp:
            raise RuntimeError(f"{op}: expected both tensors on the same device, got {a.device} and {b.device}")
    for v in (a, b):
        if not isinstance(v, (Tensor, bool, int, float, numpy.number, numpy.bool_)):
            if isinstance(v, numpy.ndarray):
                raise TypeError(f"{op}: got a NumPy array; wrap it with nnkit.tensor() or nnkit.from_numpy()")
            raise TypeError(f"{op}: unsupported operand of type {type(v).__name__}")
    dtype = _result_dtype(a, b)
    like = a if isinstance(a, Tensor) else b
    return _as(a, dtype, like), _as(b, dtype, like)


def _as(v, dtype, like: Tensor) -> Tensor:
    if isinstance(v, Tensor):
        return v if v.dtype == dtype else to(v, dtype)
    return Tensor._wrap(like._xp.asarray(v, dtype=dtype))


def _broadcast_error(op: str, a: Tensor, b: Tensor) -> RuntimeError:
    return RuntimeError(f"{op}: shapes {tuple(a.shape)} and {tuple(b.shape)} cannot be broadcast together")


def _sum_to(g: Tensor, shape: tuple) -> Tensor:
    """Sum a broadcast gradient back to an input's ``shape``: the sum-back rule.
    It is the adjoint of :func:`expand`, and each is the other's backward."""
    if g.array.shape == shape:
        return g
    lead = g.ndim - len(shape)
    dims = tuple(range(lead)) + tuple(i + lead for i, s in enumerate(shape) if s == 1 and g.shape[i + lead] != 1)
    wide = backend.float32 if g.dtype.itemsize == 2 and backend.is_floating(g.dtype) else None  # as sum's
    out = g.array.sum(axis=dims, dtype=wide).astype(g.dtype, copy=False).reshape(shape)
    big = g.shape
    return _make(out, (g,), lambda gg: (expand(gg, big),), "SumTo", ())


def _dim(dim, ndim: int, op: str) -> int:
    """Normalise one ``dim`` (an int; negative allowed). A 0-d tensor accepts 0 and -1, as in PyTorch."""
    if isinstance(dim, (bool, numpy.bool_)) or not isinstance(dim, (int, numpy.integer)):
        raise TypeError(f"{op}: dim must be an int, got {dim!r}")
    if not -builtins.max(ndim, 1) <= dim < builtins.max(ndim, 1):
        raise IndexError(f"{op}: dim {dim} is out of range for a tensor with {ndim} dimensions")
    return int(dim) % builtins.max(ndim, 1)


def _dims(dim, ndim: int, op: str) -> tuple | None:
    """Normalise ``dim`` (None, an int or a tuple; negative allowed) to a sorted tuple
    (None, meaning every dim, for a 0-d tensor, whose arrays have no axis 0)."""
    if dim is None:
        return None
    if not isinstance(dim, (int, numpy.integer, tuple, list)):
        raise TypeError(f"{op}: dim must be an int or a tuple of ints, got {dim!r}")
    dims = {_dim(d, ndim, op) for d in ((dim,) if isinstance(dim, (int, numpy.integer)) else dim)}
    return tuple(sorted(dims)) if ndim else None


def _kept_shape(shape: tuple, dims: tuple | None) -> tuple:
    """``shape`` with the reduced ``dims`` set to 1 (keepdim=True's shape)."""
    if dims is None:
        return (1,) * len(shape)
    return tuple(1 if i in dims else s for i, s in enumerate(shape))


def _shape_arg(shape: tuple) -> tuple:
    if len(shape) == 1 and isinstance(shape[0], (tuple, list)):
        return tuple(shape[0])
    return shape


def expand(a: Tensor, *sizes) -> Tensor:
    """Broadcast to ``sizes`` without copying (-1 keeps a dim); the gradient is summed back."""
    sizes = _shape_arg(sizes)
    lead = len(sizes) - a.ndim
    if lead < 0:
        raise RuntimeError(f"expand: cannot expand shape {tuple(a.shape)} to fewer dims {tuple(sizes)}")
    if -1 in sizes[:lead]:
        raise RuntimeError(f"expand: -1 is not allowed in a new leading dim (shape {tuple(a.shape)} to {tuple(sizes)})")
    target = tuple(a.shape[i - lead] if s == -1 else s for i, s in enumerate(sizes))
    if target == a.shape:
        return a
    try:
        out = a._xp.broadcast_to(a.array, target)
    except ValueError:
        raise RuntimeError(f"expand: cannot expand shape {tuple(a.shape)} to {tuple(sizes)}") from None
    shape = a.shape
    return _view(out, a, lambda g: (_sum_to(g, shape),), "Expand")


def zeros_scalar(like: Tensor) -> Tensor:
    return Tensor._wrap(like._xp.zeros((), dtype=like.dtype))


def _ones_of(t: Tensor) -> Tensor:
    return Tensor._wrap(t._xp.ones(t.shape, dtype=t.dtype))


def _float(a: Tensor) -> Tensor:
    """Integer inputs to float functions give the default float dtype, as in PyTorch."""
    return a if backend.is_floating(a.dtype) else to(a, backend.get_default_dtype())


def to_arguments(args: tuple, kwargs: dict) -> tuple:
    """``to``'s arguments, in any of PyTorch's forms, as (device or None, dtype or None)."""
    kwargs = dict(kwargs)
    dev, dtype = kwargs.pop("device", None), kwargs.pop("dtype", None)
    kwargs.pop("non_blocking", None), kwargs.pop("copy", None)
    if kwargs:
        raise TypeError(f"to: unexpected arguments {sorted(kwargs)}")
    for arg in args:
        if isinstance(arg, Tensor):
            dev, dtype = arg.device, arg.dtype
        elif isinstance(arg, (str, backend.device)):
            dev = arg
        else:
            dtype = arg
    return dev, (None if dtype is None else numpy.dtype(dtype))


def to(a: Tensor, *args, **kwargs) -> Tensor:
    """Cast and/or move: ``to(dtype)``, ``to(device)``, ``to(device, dtype)`` or ``to(other)``.

    The gradient goes back to the original dtype and device.
    """
    dev, dtype = to_arguments(args, kwargs)
    xp = backend.module_for(dev) if dev is not None else a._xp
    src_dtype, src_xp = a.dtype, a._xp
    out = backend.to_module(a.array, xp)
    if dtype is not None and dtype != out.dtype:
        out = out.astype(dtype)
    if out is a.array:
        return a
    if not backend.is_floating(out.dtype) and a.requires_grad:
        return Tensor._wrap(out)  # integer results carry no gradient

    def backward(g):
        return (to(g, src_dtype, "cpu" if src_xp is numpy else "cuda"),)
    return _make(out, (a,), backward, "To", ())


METHODS = {"expand": expand, "to": to, "expand_as": lambda self, other: expand(self, other.shape),
           "type_as": lambda self, other: to(self, other.dtype),
           "cpu": lambda self: to(self, "cpu"), "cuda": lambda self: to(self, "cuda")}
