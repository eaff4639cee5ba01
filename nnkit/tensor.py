"""``Tensor``: an array (NumPy or CuPy) plus what autograd needs to know about it.

The values live in ``tensor.array``. A tensor that ``requires_grad`` and was made
by an op has a ``grad_fn`` (a :class:`nnkit.autograd.Node`); a tensor without one
is a *leaf*, and after ``backward`` its gradient sits in ``.grad``. The operators
and the math, shape and indexing methods (``+``, ``@``, ``sum``, ``reshape``,
``t[i]``...) are the differentiable ops of :mod:`nnkit.ops`, each with its forward
and backward side by side; ``nnkit.ops`` attaches them to ``Tensor`` when it is
imported. The ops sit above this module: they import it, never the reverse.
"""

from __future__ import annotations

import builtins
import weakref
from typing import Any

import numpy

from . import autograd, backend
from .backend import xp_of

__all__ = ["Tensor", "tensor", "from_numpy", "as_tensor", "zeros", "ones", "full", "empty",
           "zeros_like", "ones_like", "full_like", "empty_like", "rand_like", "randn_like",
           "arange", "linspace", "eye", "randn", "rand", "randint", "randperm", "normal", "multinomial"]


def _size(size: tuple) -> tuple:
    """Accept ``f(2, 3)`` and ``f((2, 3))`` as PyTorch does."""
    if len(size) == 1 and isinstance(size[0], (tuple, list)):
        size = tuple(size[0])
    for s in size:
        if not isinstance(s, (int, numpy.integer)) or s < 0:
            raise ValueError(f"size must be non-negative integers, got {tuple(size)}")
    return tuple(int(s) for s in size)


def _infer_dtype(data) -> numpy.dtype:
    """PyTorch's rule: Python floats give the default dtype, ints int64, bools bool."""
    arr = numpy.asarray(data)
    if arr.dtype.kind == "f":
        return backend.get_default_dtype()
    if arr.dtype.kind in "iu":
        return backend.int64
    if arr.dtype.kind == "b":
        return backend.bool_
    raise TypeError(f"tensor: cannot make a tensor from data of type {arr.dtype}")


class Tensor:
    """A multi-dimensional array that records the ops applied to it.

    >>> import nnkit
    >>> x = nnkit.tensor([1.0, 2.0, 3.0], requires_grad=True)
    >>> (x * x).sum().backward()
    >>> x.grad
    tensor([2., 4., 6.])
    """

    # _vc: the version counter, a one-element list shared with views (made on first use);
    # _base: the tensor this one is a view of, if any; _hooks: its backward hooks, if any.
    __slots__ = ("array", "requires_grad", "grad", "grad_fn", "_vc", "_base", "_hooks", "__weakref__")
    __array_ufunc__ = None  # NumPy defers to our reflected operators: ndarray + Tensor -> Tensor

    def __init__(self, data: Any = None, requires_grad: bool = False, *, dtype=None, device=None):
        self._vc = self._base = None
        if isinstance(data, Tensor):
            array = data.array
            self._vc = data._counter()  # the same memory: one version counter, as in PyTorch
        else:
            array = _to_array(data, dtype, device)
        if dtype is not None and array.dtype != numpy.dtype(dtype):
            array = array.astype(dtype)
        self.array = array
        self.grad = None
        self.grad_fn = None
        self._hooks = None
        self.requires_grad = False
        if requires_grad:
            self.requires_grad_(True)

    @classmethod
    def _wrap(cls, array) -> "Tensor":
        """A tensor around ``array`` with no checks: the ops' fast path."""
        t = object.__new__(cls)
        t.array = array
        t.requires_grad = False
        t.grad = None
        t.grad_fn = None
        t._vc = t._base = t._hooks = None
        return t

    # --- what it is -------------------------------------------------------
    @property
    def _xp(self):
        return xp_of(self.array)

    @property
    def shape(self) -> tuple:
        return self.array.shape

    def size(self, dim: int | None = None):
        return self.array.shape if dim is None else self.array.shape[dim]

    @property
    def ndim(self) -> int:
        return self.array.ndim

    def dim(self) -> int:
        return self.array.ndim

    def numel(self) -> int:
        return int(self.array.size)

    @property
    def dtype(self) -> numpy.dtype:
        return self.array.dtype

    @property
    def device(self) -> backend.device:
        return backend.device_of(self.array)

    @property
    def is_leaf(self) -> bool:
        return self.grad_fn is None

    @property
    def is_cuda(self) -> bool:
        return self.device.type == "cuda"

    def __len__(self) -> int:
        if self.array.ndim == 0:
            raise TypeError("len() of a 0-d tensor")
        return self.array.shape[0]

    def __iter__(self):
        if self.array.ndim == 0:
            raise TypeError("iteration over a 0-d tensor")
        return (self[i] for i in range(self.array.shape[0]))

    __hash__ = object.__hash__

    def __repr__(self) -> str:
        body = numpy.array2string(numpy.asarray(self._host()), separator=", ", precision=4,
                                  prefix="tensor(")
        extras = []
        if self.dtype not in (backend.get_default_dtype(), backend.int64, backend.bool_):
            extras.append(f"dtype=nnkit.{self.dtype}")
        if self.device.type != "cpu":
            extras.append(f"device='{self.device}'")
        if self.grad_fn is not None:
            extras.append(f"grad_fn={self.grad_fn!r}")
        elif self.requires_grad:
            extras.append("requires_grad=True")
        return "tensor(" + body + "".join(", " + e for e in extras) + ")"

    # --- getting values out -------------------------------------------------
    def _host(self):
        return backend.to_module(self.array, numpy)

    def numpy(self) -> numpy.ndarray:
        """The values as a NumPy array that shares memory (CPU tensors without grad)."""
        if self.requires_grad:
            raise RuntimeError("numpy(): can't call numpy() on a tensor that requires grad; "
                               "use tensor.detach().numpy()")
        if self.device.type != "cpu":
            raise TypeError("numpy(): the tensor is on cuda; call .cpu() first")
        return self.array

    def __array__(self, dtype=None, copy=None):
        arr = self.detach().numpy()
        return arr if dtype is None else arr.astype(dtype)

    def item(self):
        if self.array.size != 1:
            raise ValueError(f"item(): only one-element tensors can be converted to Python scalars, "
                             f"got shape {tuple(self.shape)}")
        return self.array.reshape(()).item()

    def tolist(self):
        return self._host().tolist()

    def __float__(self) -> float:
        return float(self.item())

    def __int__(self) -> int:
        return int(self.item())

    def __index__(self) -> int:
        if self.dtype.kind not in "iu":
            raise TypeError(f"only integer tensors can be used as an index, got {self.dtype}")
        return int(self.item())

    def __bool__(self) -> bool:
        if self.array.size != 1:
            raise RuntimeError(f"the truth value of a tensor with {self.array.size} elements is ambiguous")
        return bool(self.item())

    # --- autograd -----------------------------------------------------------
    def requires_grad_(self, requires_grad: bool = True) -> "Tensor":
        if requires_grad and not (backend.is_floating(self.dtype) or self.dtype.kind == "c"):
            raise RuntimeError(f"requires_grad_: only floating-point tensors can require gradients, got {self.dtype}")
        if not requires_grad and self.grad_fn is not None:
            raise RuntimeError("requires_grad_: cannot turn off gradients of a non-leaf tensor; use detach()")
        self.requires_grad = bool(requires_grad)
        return self

    def retain_grad(self) -> None:
        """Keep ``.grad`` for this non-leaf tensor too."""
        if not self.requires_grad:
            raise RuntimeError("retain_grad: the tensor does not require grad")
        if self.grad_fn is not None:
            self.grad_fn.retained = weakref.ref(self)

    @property
    def retains_grad(self) -> bool:
        node = self.grad_fn
        return node is not None and node.retained is not None and node.retained() is self

    def register_hook(self, hook) -> autograd.RemovableHandle:
        """Call ``hook(grad)`` each time the gradient of this tensor is computed, as PyTorch.

        The hook sees the fully summed gradient; if it returns a tensor, that
        replaces the gradient (what reaches ``.grad`` and the inputs further back).

        >>> import nnkit
        >>> x = nnkit.tensor([1.0, 2.0], requires_grad=True)
        >>> handle = x.register_hook(lambda g: g * 10)
        >>> (x * 3).sum().backward()
        >>> x.grad
        tensor([30., 30.])
        >>> handle.remove()
        """
        if not self.requires_grad:
            raise RuntimeError("register_hook: cannot register a hook on a tensor that doesn't require gradient")
        return self._add_hook("grad", hook)

    def register_post_accumulate_grad_hook(self, hook) -> autograd.RemovableHandle:
        """Call ``hook(tensor)`` on this leaf right after ``backward`` accumulated its ``.grad``.

        What an optimizer-in-backward or a data-parallel gradient all-reduce hangs on;
        not called by ``autograd.grad``, which accumulates nothing.
        """
        if not self.is_leaf:
            raise RuntimeError("register_post_accumulate_grad_hook: post accumulate grad hooks cannot be "
                               "registered on non-leaf tensors")
        if not self.requires_grad:
            raise RuntimeError("register_post_accumulate_grad_hook: cannot register a hook on a tensor "
                               "that doesn't require gradient")
        return self._add_hook("post_accumulate", hook)

    def _add_hook(self, kind: str, hook) -> autograd.RemovableHandle:
        if not callable(hook):
            raise TypeError(f"register hook: expected a callable, got {type(hook).__name__}")
        if self._hooks is None:
            self._hooks = autograd._TensorHooks()
        if self.grad_fn is not None:  # a non-leaf: its node runs the hooks, as PyTorch's does
            self.grad_fn.hooks = self._hooks
        hooks = getattr(self._hooks, kind)
        handle = autograd.RemovableHandle(hooks)
        hooks[handle.id] = hook
        return handle

    def detach(self) -> "Tensor":
        """The same values (shared memory and version counter), cut from the graph."""
        t = Tensor._wrap(self.array)
        t._vc = self._counter()
        return t

    def detach_(self) -> "Tensor":
        self.grad_fn = None
        self.requires_grad = False
        return self

    @property
    def data(self) -> "Tensor":
        """A detached tensor sharing this tensor's memory, as PyTorch's ``.data``."""
        return Tensor._wrap(self.array)

    @data.setter
    def data(self, value) -> None:
        self.array = value.array if isinstance(value, Tensor) else value

    def backward(self, gradient=None, retain_graph: bool | None = None, create_graph: bool = False) -> None:
        """Accumulate the gradient of this tensor into every leaf's ``.grad``."""
        autograd.backward(self, gradient, retain_graph, create_graph)

    # --- in place ---------------------------------------------------------------
    @property
    def _version(self) -> int:
        """How many in-place changes this tensor's memory has seen (shared with its views)."""
        return 0 if self._vc is None else self._vc[0]

    def _counter(self) -> list:
        """The version counter itself, made on first use."""
        if self._vc is None:
            self._vc = [0]
        return self._vc

    def _inplace(self, op: str, compute, *others) -> "Tensor":
        """Change this tensor's values in place to ``compute(self, *others)``, as PyTorch does.

        ``compute`` is the out-of-place op. Outside the graph its result is simply
        written into ``self.array``. When gradients are recorded (this tensor or an
        operand requires grad), the op is applied to a stand-in for the old value
        (same memory, the old ``grad_fn``), and this tensor takes the result's
        node: later ops see the new value and its gradient flows through the op,
        while ops that used the old value keep sending theirs to the old node. The
        version counter goes up either way, so that a backward that needs the old
        values raises instead of computing a wrong gradient.
        """
        # Arrays are accepted as operands, as before (an optimizer's buffers, say).
        others = tuple(Tensor._wrap(backend.to_module(o, self._xp)) if hasattr(o, "dtype") and
                       not isinstance(o, (Tensor, numpy.generic)) else o for o in others)
        record = autograd._GradMode.enabled and (
            self.requires_grad or builtins.any(isinstance(o, Tensor) and o.requires_grad for o in others))
        if record:
            if self.requires_grad and self.grad_fn is None:
                raise RuntimeError(f"{op}: a leaf tensor that requires grad is being used in an in-place "
                                   f"operation (tensor of shape {tuple(self.shape)}); wrap the change in "
                                   "nnkit.no_grad(), as an optimizer update does")
            if self._base is not None:
                raise RuntimeError(
                    f"{op}: in-place change of a view (shape {tuple(self.shape)}) of another tensor while "
                    "recording gradients is not supported; change the tensor itself (base[index] = value), "
                    "or clone() the view first")
            old = self._stand_in(self.array, self._counter())
            result = compute(old, *others)
            if result.grad_fn is not None and builtins.any(c is old._vc for c, *_ in result.grad_fn.saved):
                # Its backward reads the old values (mul_ by a tensor that requires grad):
                # keep a copy of them, as PyTorch keeps "original_self".
                old = self._stand_in(self.array.copy(), [0])
                result = compute(old, *others)
            if result.dtype != self.dtype:
                result = result.to(self.dtype)
            if result.shape != self.shape:
                result = _fit(result, self, op)
        else:
            with autograd.no_grad():
                result = compute(self, *others)
        try:
            self.array[...] = result.array
        except ValueError:
            if not getattr(self.array.flags, "writeable", True):
                raise RuntimeError(f"{op}: the tensor of shape {tuple(self.shape)} is read-only (a broadcast "
                                   "view made by expand shares one value between many places); clone() it "
                                   "first") from None
            raise RuntimeError(f"{op}: a result of shape {tuple(result.shape)} cannot be written into a tensor "
                               f"of shape {tuple(self.shape)}") from None
        except TypeError as e:
            raise TypeError(f"{op}: {e}") from None
        counter = self._counter()
        counter[0] += 1
        if record:
            node = result.grad_fn
            if result._vc is not None:  # the op saved its own output: that is now this tensor's value
                node.saved = tuple((counter, counter[0], a) if c is result._vc else (c, v, a) for c, v, a in node.saved)
            old_node = self.grad_fn
            if old_node is not None:  # retain_grad and the hooks follow the tensor to its new value
                node.retained, node.hooks = old_node.retained, old_node.hooks
                old_node.retained = old_node.hooks = None
            self.grad_fn, self.requires_grad = node, True
        return self

    def _stand_in(self, array, counter: list) -> "Tensor":
        """The tensor's old value in the graph: its old ``grad_fn``, over ``array``."""
        old = Tensor._wrap(array)
        old.requires_grad, old.grad_fn, old._vc = self.requires_grad, self.grad_fn, counter
        return old

    def zero_(self) -> "Tensor":
        return self._fill_("zero_", 0)

    def fill_(self, value) -> "Tensor":
        return self._fill_("fill_", value)

    def copy_(self, src) -> "Tensor":
        """Copy ``src``'s values (broadcast, cast, moved to this tensor's device) into this tensor."""
        if not isinstance(src, Tensor):
            src = src if hasattr(src, "shape") else self._xp.asarray(src)
            src = Tensor._wrap(backend.to_module(src, self._xp))
        elif src._xp is not self._xp:
            src = src.to(self.device)
        return self._fill_("copy_", src)

    def uniform_(self, a: float = 0.0, b: float = 1.0, generator=None) -> "Tensor":
        return self._fill_("uniform_", _random_array(lambda r: r.uniform(a, b, self.shape), self, generator))

    def normal_(self, mean: float = 0.0, std: float = 1.0, generator=None) -> "Tensor":
        return self._fill_("normal_", _random_array(lambda r: r.normal(mean, std, self.shape), self, generator))

    def add_(self, other, alpha: float = 1.0) -> "Tensor":
        return self._inplace("add_", lambda t, o: t + (o if alpha == 1 else alpha * o), other)

    def sub_(self, other, alpha: float = 1.0) -> "Tensor":
        return self._inplace("sub_", lambda t, o: t - (o if alpha == 1 else alpha * o), other)

    def mul_(self, other) -> "Tensor":
        return self._inplace("mul_", Tensor.mul, other)

    def div_(self, other) -> "Tensor":
        return self._inplace("div_", Tensor.div, other)

    def pow_(self, exponent) -> "Tensor":
        return self._inplace("pow_", Tensor.pow, exponent)

    def clamp_(self, min=None, max=None) -> "Tensor":
        return self._inplace("clamp_", lambda t: t.clamp(min, max))

    clip_ = clamp_

    def masked_fill_(self, mask, value) -> "Tensor":
        return self._inplace("masked_fill_", lambda t, v: t.masked_fill(mask, v), value)

    def __iadd__(self, other) -> "Tensor":
        return self.add_(other)

    def __isub__(self, other) -> "Tensor":
        return self.sub_(other)

    def __imul__(self, other) -> "Tensor":
        return self.mul_(other)

    def __itruediv__(self, other) -> "Tensor":
        return self.div_(other)

    def __ipow__(self, other) -> "Tensor":
        return self.pow_(other)


def _fit(result: Tensor, like: Tensor, op: str) -> Tensor:
    """``result`` broadcast to ``like``'s shape, for an in-place op whose result is smaller."""
    try:
        return result.expand(like.shape)
    except RuntimeError:
        raise RuntimeError(f"{op}: a result of shape {tuple(result.shape)} cannot be written into a tensor of "
                           f"shape {tuple(like.shape)}") from None


def _to_array(data, dtype=None, device=None):
    """Copy ``data`` (numbers, nested lists, arrays, tensors) into a new array on ``device``."""
    xp = backend.module_for(device if device is not None else backend.get_default_device())
    if isinstance(data, Tensor):
        data = data.array
    elif isinstance(data, (list, tuple)):
        data = _nested_values(data)
    if hasattr(data, "dtype"):  # arrays and NumPy scalars keep their dtype
        dtype = data.dtype if dtype is None else dtype
        return backend.to_module(data, xp).astype(dtype, copy=True)
    try:
        host = numpy.asarray(data)
    except ValueError:
        raise ValueError(f"tensor: {_ragged(data) or 'the nested lists do not form a rectangular array'}; "
                         "every row must have the same length") from None
    if host.dtype == object and dtype is None:
        _check_int64(host)
    try:
        return xp.asarray(host.astype(_infer_dtype(host) if dtype is None else dtype))
    except OverflowError:
        _check_int64(host, numpy.dtype(dtype))
        raise


def _ragged(data, where: str = "") -> str | None:
    """Where nested lists stop being rectangular, for the error message."""
    if not isinstance(data, (list, tuple)) or not data:
        return None
    nested = [isinstance(d, (list, tuple)) for d in data]
    if any(nested) and not all(nested):
        i = nested.index(not nested[0])
        what = lambda j: "a list" if nested[j] else "a number"  # noqa: E731
        return f"the nested list is ragged: element {where}[{i}] is {what(i)} but {where}[0] is {what(0)}"
    if all(nested):
        for i, d in enumerate(data):
            if len(d) != len(data[0]):
                return (f"the nested list is ragged: element {where}[{i}] has {len(d)} entries but "
                        f"{where}[0] has {len(data[0])}")
        for i, d in enumerate(data):
            found = _ragged(d, f"{where}[{i}]")
            if found:
                return found
    return None


def _check_int64(host: numpy.ndarray, dtype: numpy.dtype = numpy.dtype("int64")) -> None:
    """Raise naming the integer that does not fit (NumPy made an object array of it, or cannot cast it)."""
    info = numpy.iinfo(dtype) if dtype.kind in "iu" else None
    for v in host.reshape(-1):
        if isinstance(v, int) and not isinstance(v, bool) and info is not None and not info.min <= v <= info.max:
            raise OverflowError(f"tensor: the integer {v} does not fit in {dtype} (from {info.min} to {info.max}); "
                                "pass dtype=nnkit.float64 to store it as a float")


def _nested_values(data):
    if isinstance(data, (list, tuple)):
        return [_nested_values(d) for d in data]
    return data.item() if isinstance(data, Tensor) else data


def tensor(data, dtype=None, device=None, requires_grad: bool = False) -> Tensor:
    """A new tensor holding a copy of ``data``.

    Python floats give float32, ints int64, bools bool; a NumPy array keeps its dtype.

    >>> tensor([[1, 2], [3, 4]]).dtype
    dtype('int64')
    """
    # _wrap, not Tensor(...): the constructor would copy the array again, onto the default device.
    t = Tensor._wrap(_to_array(data, dtype, device))
    return t.requires_grad_(True) if requires_grad else t


def as_tensor(data, dtype=None, device=None) -> Tensor:
    """Like :func:`tensor`, but shares memory when ``data`` already fits."""
    if isinstance(data, Tensor) and (dtype is None or data.dtype == dtype) and (device is None or data.device == device):
        return data
    if isinstance(data, numpy.ndarray) and (dtype is None or data.dtype == dtype) and \
            backend.device(device or "cpu").type == "cpu":
        return Tensor._wrap(data)
    return tensor(data, dtype, device)


def from_numpy(array: numpy.ndarray) -> Tensor:
    """A tensor sharing ``array``'s memory: writes to one show in the other."""
    if not isinstance(array, numpy.ndarray):
        raise TypeError(f"from_numpy: expected a numpy.ndarray, got {type(array).__name__}")
    return Tensor._wrap(array)


def _creation(fill, size, dtype, device, requires_grad) -> Tensor:
    xp = backend.module_for(device if device is not None else backend.get_default_device())
    array = fill(xp, _size(size), numpy.dtype(dtype) if dtype is not None else backend.get_default_dtype())
    return Tensor._wrap(array).requires_grad_(requires_grad) if requires_grad else Tensor._wrap(array)


def zeros(*size, dtype=None, device=None, requires_grad: bool = False) -> Tensor:
    return _creation(lambda xp, s, d: xp.zeros(s, d), size, dtype, device, requires_grad)


def ones(*size, dtype=None, device=None, requires_grad: bool = False) -> Tensor:
    return _creation(lambda xp, s, d: xp.ones(s, d), size, dtype, device, requires_grad)


def empty(*size, dtype=None, device=None, requires_grad: bool = False) -> Tensor:
    return _creation(lambda xp, s, d: xp.empty(s, d), size, dtype, device, requires_grad)


def full(size, fill_value, dtype=None, device=None, requires_grad: bool = False) -> Tensor:
    """A tensor filled with ``fill_value``; its dtype follows the value (``full(.., 3)`` is int64)."""
    if dtype is None:
        dtype = _infer_dtype(fill_value)
    return _creation(lambda xp, s, d: xp.full(s, fill_value, d), (size,), dtype, device, requires_grad)


def _like(t: Tensor, dtype, device) -> dict:
    return {"dtype": dtype if dtype is not None else t.dtype,
            "device": device if device is not None else t.device}


def zeros_like(t: Tensor, dtype=None, device=None, requires_grad: bool = False) -> Tensor:
    return zeros(t.shape, requires_grad=requires_grad, **_like(t, dtype, device))


def ones_like(t: Tensor, dtype=None, device=None, requires_grad: bool = False) -> Tensor:
    return ones(t.shape, requires_grad=requires_grad, **_like(t, dtype, device))


def empty_like(t: Tensor, dtype=None, device=None, requires_grad: bool = False) -> Tensor:
    return empty(t.shape, requires_grad=requires_grad, **_like(t, dtype, device))


def full_like(t: Tensor, fill_value, dtype=None, device=None, requires_grad: bool = False) -> Tensor:
    return full(t.shape, fill_value, requires_grad=requires_grad, **_like(t, dtype, device))


def arange(start, end=None, step=1, dtype=None, device=None, requires_grad: bool = False) -> Tensor:
    """``[start, end)`` in steps; int64 when every argument is an integer, as PyTorch."""
    if end is None:
        start, end = 0, start
    if step == 0:
        raise ValueError("arange: step must be non-zero")
    if dtype is None:
        ints = all(isinstance(v, (int, numpy.integer)) for v in (start, end, step))
        dtype = backend.int64 if ints else backend.get_default_dtype()
    xp = backend.module_for(device if device is not None else backend.get_default_device())
    return Tensor._wrap(xp.arange(start, end, step, dtype=numpy.dtype(dtype))).requires_grad_(requires_grad)


def linspace(start, end, steps: int, dtype=None, device=None, requires_grad: bool = False) -> Tensor:
    xp = backend.module_for(device if device is not None else backend.get_default_device())
    array = xp.linspace(start, end, int(steps), dtype=numpy.dtype(dtype or backend.get_default_dtype()))
    return Tensor._wrap(array).requires_grad_(requires_grad)


def eye(n: int, m: int | None = None, dtype=None, device=None, requires_grad: bool = False) -> Tensor:
    xp = backend.module_for(device if device is not None else backend.get_default_device())
    array = xp.eye(n, m, dtype=numpy.dtype(dtype or backend.get_default_dtype()))
    return Tensor._wrap(array).requires_grad_(requires_grad)


def _random_array(draw, like: Tensor | None = None, generator=None, dtype=None, device=None):
    """Draw on the host with the (seeded) generator, then cast and move to the device."""
    host = draw(backend.rng(generator))
    dtype = dtype if dtype is not None else (like.dtype if like is not None else backend.get_default_dtype())
    dev = device if device is not None else (like.device if like is not None else backend.get_default_device())
    return backend.to_module(numpy.asarray(host, dtype=dtype), backend.module_for(dev))


def _random(draw, size, generator, dtype, device, requires_grad) -> Tensor:
    size = _size(size)
    t = Tensor._wrap(_random_array(lambda r: draw(r, size), None, generator, dtype, device))
    return t.requires_grad_(requires_grad) if requires_grad else t


def randn(*size, generator=None, dtype=None, device=None, requires_grad: bool = False) -> Tensor:
    """Samples of the standard normal distribution."""
    return _random(lambda r, s: r.standard_normal(s), size, generator, dtype, device, requires_grad)


def rand(*size, generator=None, dtype=None, device=None, requires_grad: bool = False) -> Tensor:
    """Samples of the uniform distribution on [0, 1)."""
    return _random(lambda r, s: r.random(s), size, generator, dtype, device, requires_grad)


def normal(mean: float, std: float, size, generator=None, dtype=None, device=None) -> Tensor:
    return _random(lambda r, s: r.normal(mean, std, s), (size,), generator, dtype, device, False)


def randint(low: int, high: int | None = None, size=(), generator=None, dtype=None, device=None) -> Tensor:
    """Integers drawn uniformly from ``[low, high)`` (int64): ``randint(low, high, size)``
    or, as in PyTorch, ``randint(high, size)``."""
    if isinstance(high, (tuple, list)):
        low, high, size = 0, low, high
    elif high is None:
        low, high = 0, low
    return _random(lambda r, s: r.integers(low, high, s), (size,), generator, dtype or backend.int64, device, False)


def multinomial(input: Tensor, num_samples: int, replacement: bool = False, generator=None) -> Tensor:
    """Draw category indices with probabilities proportional to each row of ``input``.

    ``input`` is (k,) or (n, k) non-negative weights; the result is int64,
    (num_samples,) or (n, num_samples).
    """
    probs = numpy.asarray(input.detach()._host(), dtype=numpy.float64)
    rows = probs.reshape(-1, probs.shape[-1])
    if (rows < 0).any() or not numpy.isfinite(rows).all() or (rows.sum(-1) <= 0).any():
        raise ValueError("multinomial: weights must be finite, non-negative, with a positive sum per row")
    if not replacement and num_samples > rows.shape[-1]:
        raise ValueError(f"multinomial: cannot draw {num_samples} samples without replacement "
                         f"from {rows.shape[-1]} categories")
    r = backend.rng(generator)
    draws = numpy.stack([r.choice(rows.shape[-1], num_samples, replace=replacement, p=row / row.sum())
                         for row in rows])
    out = draws.reshape(probs.shape[:-1] + (num_samples,)).astype(numpy.int64)
    return Tensor._wrap(backend.to_module(out, input._xp))


def randperm(n: int, generator=None, dtype=None, device=None) -> Tensor:
    """A random permutation of ``0 .. n-1``."""
    return _random(lambda r, s: r.permutation(n), (), generator, dtype or backend.int64, device, False)


def rand_like(t: Tensor, generator=None, dtype=None, device=None) -> Tensor:
    return rand(t.shape, generator=generator, **_like(t, dtype, device))


def randn_like(t: Tensor, generator=None, dtype=None, device=None) -> Tensor:
    return randn(t.shape, generator=generator, **_like(t, dtype, device))


autograd._Tensor = Tensor
