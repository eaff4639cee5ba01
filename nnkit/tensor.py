"""``Tensor``: an array (NumPy or CuPy) plus what autograd needs to know about it.

The values live in ``tensor.array``. A tensor that ``requires_grad`` and was made
by an op has a ``grad_fn`` (a :class:`nnkit.autograd.Node`); a tensor without one
is a *leaf*, and after ``backward`` its gradient sits in ``.grad``. Every method
here is a thin door into :mod:`nnkit.ops`, where each op's forward and backward
are written side by side.
"""

from __future__ import annotations

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

    __slots__ = ("array", "requires_grad", "grad", "grad_fn", "_retains_grad", "_hooks", "__weakref__")
    __array_ufunc__ = None  # NumPy defers to our reflected operators: ndarray + Tensor -> Tensor

    def __init__(self, data: Any = None, requires_grad: bool = False, *, dtype=None, device=None):
        if isinstance(data, Tensor):
            array = data.array
        else:
            array = _to_array(data, dtype, device)
        if dtype is not None and array.dtype != numpy.dtype(dtype):
            array = array.astype(dtype)
        self.array = array
        self.grad = None
        self.grad_fn = None
        self._retains_grad = False
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
        t._retains_grad = False
        t._hooks = None
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
        self._retains_grad = True

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
        hooks = getattr(self._hooks, kind)
        handle = autograd.RemovableHandle(hooks)
        hooks[handle.id] = hook
        return handle

    def detach(self) -> "Tensor":
        """The same values (shared memory), cut from the graph."""
        return Tensor._wrap(self.array)

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

    # --- in place: only outside the graph -----------------------------------
    def _check_inplace(self, op: str) -> None:
        if autograd.is_grad_enabled() and self.requires_grad:
            if self.grad_fn is None:
                raise RuntimeError(f"{op}: a leaf tensor that requires grad is being used in an in-place "
                                   "operation; wrap it in nnkit.no_grad()")
            # The graph's saved values would change under it: gradients would be silently wrong.
            raise RuntimeError(f"{op}: in-place operations on a tensor inside the graph are not supported; "
                               "use the out-of-place op (h = h * 2 rather than h.mul_(2))")

    def _set(self, op: str, array) -> "Tensor":
        self._check_inplace(op)
        if array.shape != self.array.shape:
            array = self._xp.broadcast_to(array, self.array.shape)
        self.array[...] = array
        return self

    def zero_(self) -> "Tensor":
        return self._set("zero_", self._xp.zeros((), dtype=self.dtype))

    def fill_(self, value) -> "Tensor":
        return self._set("fill_", self._xp.asarray(value, dtype=self.dtype))

    def copy_(self, src) -> "Tensor":
        src = src.array if isinstance(src, Tensor) else src
        src = src if hasattr(src, "shape") else self._xp.asarray(src)
        return self._set("copy_", backend.to_module(src, self._xp).astype(self.dtype, copy=False))

    def uniform_(self, a: float = 0.0, b: float = 1.0, generator=None) -> "Tensor":
        return self._set("uniform_", _random_array(lambda r: r.uniform(a, b, self.shape), self, generator))

    def normal_(self, mean: float = 0.0, std: float = 1.0, generator=None) -> "Tensor":
        return self._set("normal_", _random_array(lambda r: r.normal(mean, std, self.shape), self, generator))

    def _combine_(self, op: str, other, fn) -> "Tensor":
        """``self = fn(self, other)`` in place, keeping self's dtype."""
        other = other.array if isinstance(other, Tensor) else other
        return self._set(op, fn(self.array, other).astype(self.dtype, copy=False))

    def add_(self, other, alpha: float = 1.0) -> "Tensor":
        return self._combine_("add_", other, lambda a, b: a + alpha * b)

    def sub_(self, other, alpha: float = 1.0) -> "Tensor":
        return self._combine_("sub_", other, lambda a, b: a - alpha * b)

    def mul_(self, other) -> "Tensor":
        return self._combine_("mul_", other, lambda a, b: a * b)

    def div_(self, other) -> "Tensor":
        return self._combine_("div_", other, lambda a, b: a / b)

    def clamp_(self, min=None, max=None) -> "Tensor":
        return self._set("clamp_", self._xp.clip(self.array, min, max).astype(self.dtype, copy=False))

    # ``x -= y`` and the like change x in place, as in PyTorch (the usual parameter
    # update under no_grad); on a tensor inside the graph they record the
    # out-of-place op instead, and the name is rebound to its result.
    def _in_graph(self) -> bool:
        return autograd.is_grad_enabled() and self.grad_fn is not None

    def __iadd__(self, other) -> "Tensor":
        return self + other if self._in_graph() else self.add_(other)

    def __isub__(self, other) -> "Tensor":
        return self - other if self._in_graph() else self.sub_(other)

    def __imul__(self, other) -> "Tensor":
        return self * other if self._in_graph() else self.mul_(other)

    def __itruediv__(self, other) -> "Tensor":
        return self / other if self._in_graph() else self.div_(other)

    def __setitem__(self, index, value) -> None:
        if autograd.is_grad_enabled() and self.requires_grad:
            raise RuntimeError("__setitem__: in-place assignment into a tensor that requires grad is not "
                               "supported; build a new tensor (nnkit.where, nnkit.cat) or use nnkit.no_grad()")
        value = value.array if isinstance(value, Tensor) else value
        self.array[ops._index(index)] = value


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
    host = numpy.asarray(data)
    return xp.asarray(host.astype(_infer_dtype(host) if dtype is None else dtype))


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
    return Tensor(_to_array(data, dtype, device), requires_grad=requires_grad)


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

# The operators and methods (``+``, ``@``, ``sum``, ``reshape``, ...) are the
# differentiable ops of nnkit.ops, which need Tensor itself: attach them last.
from . import ops  # noqa: E402

ops.install_methods(Tensor)
