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
import math
import weakref
from typing import Any

import numpy

from . import _tensor_str, autograd, backend
from .backend import xp_of

__all__ = ["Tensor", "tensor", "from_numpy", "as_tensor", "asarray", "scalar_tensor", "zeros", "ones", "full",
           "empty", "zeros_like", "ones_like", "full_like", "empty_like", "rand_like", "randn_like", "randint_like",
           "arange", "linspace", "logspace", "eye", "randn", "rand", "randint", "randperm", "normal", "multinomial",
           "bernoulli", "poisson", "is_tensor", "is_floating_point", "is_complex", "is_nonzero", "numel"]


def _size(size: tuple) -> tuple:
    """Accept ``f(2, 3)`` and ``f((2, 3))`` as PyTorch does."""
    if len(size) == 1 and isinstance(size[0], (tuple, list)):
        size = tuple(size[0])
    for s in size:
        if not _is_integral(s) and not (isinstance(s, Tensor) and s.ndim == 0 and s.dtype.kind in "iu"):
            raise TypeError(f"size must be a tuple of ints, got {tuple(size)}")
        if s < 0:
            raise RuntimeError(f"Trying to create tensor with negative dimension {int(s)}: {list(map(int, size))}")
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
    def dtype(self) -> backend.dtype:
        return backend.dtype_of(self.array)

    def element_size(self) -> int:
        """Bytes per element."""
        return self.array.dtype.itemsize

    @property
    def itemsize(self) -> int:
        """Bytes per element."""
        return self.array.dtype.itemsize

    @property
    def nbytes(self) -> int:
        """Bytes the elements take: ``numel() * itemsize`` (a view counts what it shows)."""
        return self.array.size * self.array.dtype.itemsize

    def is_floating_point(self) -> bool:
        return self.dtype.is_floating_point

    def is_complex(self) -> bool:
        return self.dtype.is_complex

    def is_nonzero(self) -> bool:
        """The truth of a one-element tensor; more or fewer elements raise, as in PyTorch."""
        if self.array.size != 1:
            raise RuntimeError("is_nonzero: Boolean value of Tensor with "
                               + ("no values" if self.array.size == 0 else "more than one value") + " is ambiguous")
        return bool(self.item())

    def type(self, dtype=None, non_blocking: bool = False):
        """With no argument, the type's name (``'nnkit.FloatTensor'``, ``'nnkit.cuda.LongTensor'``);
        with a dtype, this tensor cast to it (itself when it already is); with such a name, cast
        and moved where the name says (``'nnkit.DoubleTensor'`` is on the CPU)."""
        if dtype is None:
            return "nnkit." + ("cuda." if self.device.type == "cuda" else "") + _TYPE_NAMES[self.dtype] + "Tensor"
        target, device = _parse_type(dtype)
        out = self if target == self.dtype else self.to(target)
        return out if device is None else out.to(device)

    def _reinterpret(self, dtype: backend.dtype) -> "Tensor":
        old, new = self.array.dtype, dtype.dtype
        what = f"as {dtype}"
        if old.itemsize != new.itemsize:
            what = f"to view {self.dtype} as {dtype} (different element sizes)"
            if self.ndim == 0:
                raise RuntimeError(f"view: a 0-d tensor cannot be viewed {what}")
            if self.shape[-1] != 1 and self.array.strides[-1] != old.itemsize:
                raise RuntimeError(f"view: the last dim must have stride 1 {what}, but its stride is "
                                   f"{self.array.strides[-1] // old.itemsize}")
            if new.itemsize > old.itemsize and self.shape[-1] * old.itemsize % new.itemsize:
                raise RuntimeError(f"view: the last dim ({self.shape[-1]}) must be divisible by "
                                   f"{new.itemsize // old.itemsize} {what}")
        try:
            array = self.array.view(new)
        except ValueError as e:
            raise RuntimeError(f"view: cannot view a tensor of shape {tuple(self.shape)} {what}: {e}") from None
        out = Tensor._wrap(array)
        out._vc, out._base = self._counter(), self._base if self._base is not None else self
        return out

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
        return _tensor_str.tensor_repr(self)

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

    def bernoulli(self, p=None, *, generator=None) -> "Tensor":
        """0s and 1s, each 1 with probability ``p`` (this tensor's values when not given)."""
        return bernoulli(self, p, generator=generator)

    def bernoulli_(self, p=0.5, *, generator=None) -> "Tensor":
        """Fill with 0s and 1s, each 1 with probability ``p`` (a number, or a tensor broadcast to this one)."""
        probs = _probabilities(p, "bernoulli_")
        draw = _random_array(lambda r: r.random(self.shape) < numpy.broadcast_to(probs, self.shape), self, generator)
        return self._fill_("bernoulli_", draw)

    def random_(self, *args, generator=None) -> "Tensor":
        """Fill with integers drawn uniformly: ``random_(to)`` from ``[0, to)``, ``random_(from, to)``
        from ``[from, to)``, and ``random_()`` from 0 to the largest integer the dtype holds exactly."""
        if len(args) > 2:
            raise TypeError(f"random_: expected at most 2 arguments (from, to), got {len(args)}")
        low, high = (0, args[0]) if len(args) == 1 else (tuple(args) + (0, None))[:2]
        top = _random_top(self.dtype)
        if high is None:
            high = top + 1
        if low >= high:
            raise RuntimeError(f"random_ expects 'from' to be less than 'to', but got from={low} >= to={high}")
        if high - 1 > top:
            raise RuntimeError(f"random_: to - 1 = {high - 1} is more than {self.dtype} holds exactly ({top})")
        return self._fill_("random_", _random_array(lambda r: r.integers(low, high - 1, self.shape, endpoint=True),
                                                    self, generator))

    def exponential_(self, lambd: float = 1.0, *, generator=None) -> "Tensor":
        """Fill with draws of the exponential distribution of rate ``lambd``."""
        _need_float(self, "exponential_")
        if not lambd > 0:
            raise RuntimeError(f"exponential_ expects lambda > 0.0, but found lambda={lambd}")
        return self._fill_("exponential_", _random_array(lambda r: r.exponential(1 / lambd, self.shape), self,
                                                         generator))

    def geometric_(self, p: float, *, generator=None) -> "Tensor":
        """Fill with the number of Bernoulli(``p``) trials up to the first success (1, 2, ...)."""
        if not 0 < p < 1:
            raise RuntimeError(f"geometric_ expects p to be in (0, 1), but got p={p}")
        return self._fill_("geometric_", _random_array(lambda r: r.geometric(p, self.shape), self, generator))

    def new_tensor(self, data, dtype=None, device=None, requires_grad: bool = False) -> "Tensor":
        """A new tensor of ``data``, with this tensor's dtype and device unless given."""
        return tensor(data, **self._new(dtype, device), requires_grad=requires_grad)

    def new_zeros(self, *args, size=None, dtype=None, device=None, requires_grad: bool = False) -> "Tensor":
        return zeros(*args, size=size, **self._new(dtype, device), requires_grad=requires_grad)

    def new_ones(self, *args, size=None, dtype=None, device=None, requires_grad: bool = False) -> "Tensor":
        return ones(*args, size=size, **self._new(dtype, device), requires_grad=requires_grad)

    def new_empty(self, *args, size=None, dtype=None, device=None, requires_grad: bool = False) -> "Tensor":
        return empty(*args, size=size, **self._new(dtype, device), requires_grad=requires_grad)

    def new_full(self, size, fill_value, dtype=None, device=None, requires_grad: bool = False) -> "Tensor":
        return full(size, fill_value, **self._new(dtype, device), requires_grad=requires_grad)

    def _new(self, dtype, device) -> dict:
        return {"dtype": self.dtype if dtype is None else dtype, "device": self.device if device is None else device}

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
    nnkit.int64
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


def asarray(obj, *, dtype=None, device=None, copy: bool | None = None, requires_grad: bool = False) -> Tensor:
    """``obj`` as a tensor, sharing memory with a tensor or NumPy array when dtype and device allow.

    ``copy=True`` always copies; ``copy=False`` raises where sharing is impossible; a tensor
    that needs no conversion comes back itself (``requires_grad=True`` then sets its flag).
    """
    if isinstance(obj, (Tensor, numpy.ndarray)):
        array = obj.array if isinstance(obj, Tensor) else obj
        same = (dtype is None or array.dtype == dtype) and (device is None or backend.device_of(array) == device)
        if same and not copy:
            t = obj if isinstance(obj, Tensor) else Tensor._wrap(array)
            return t.requires_grad_(True) if requires_grad else t
        if copy is False:
            raise ValueError(f"asarray: copy=False, but the {type(obj).__name__} ({backend.dtype_of(array)} on "
                             f"{backend.device_of(array)}) cannot be shared as dtype={dtype}, device={device}")
    elif copy is False:
        raise ValueError(f"asarray: copy=False, but a {type(obj).__name__} has no memory a tensor can share")
    return tensor(obj, dtype, device, requires_grad)


def from_numpy(array: numpy.ndarray) -> Tensor:
    """A tensor sharing ``array``'s memory: writes to one show in the other."""
    if not isinstance(array, numpy.ndarray):
        raise TypeError(f"from_numpy: expected a numpy.ndarray, got {type(array).__name__}")
    if array.dtype.kind not in "biufc" and array.dtype != backend.bfloat16:
        raise TypeError(f"from_numpy: can't convert an array of dtype {array.dtype}; the supported dtypes are "
                        "bool, integers, and floats")
    return Tensor._wrap(array)


def scalar_tensor(s, *, dtype=None, device=None, requires_grad: bool = False) -> Tensor:
    """A 0-d tensor of the number ``s``, of the default float dtype unless ``dtype`` is given."""
    return tensor(s, dtype if dtype is not None else backend.get_default_dtype(), device, requires_grad)


def is_tensor(obj) -> bool:
    return isinstance(obj, Tensor)


def _tensor_argument(input, op: str) -> Tensor:
    if not isinstance(input, Tensor):
        raise TypeError(f"{op}(): argument 'input' must be Tensor, not {type(input).__name__}")
    return input


def is_floating_point(input: Tensor) -> bool:
    return _tensor_argument(input, "is_floating_point").is_floating_point()


def is_complex(input: Tensor) -> bool:
    return _tensor_argument(input, "is_complex").is_complex()


def is_nonzero(input: Tensor) -> bool:
    return _tensor_argument(input, "is_nonzero").is_nonzero()


def numel(input: Tensor) -> int:
    return _tensor_argument(input, "numel").numel()


# The legacy type names of Tensor.type(): nnkit.FloatTensor is a float32 tensor.
_TYPE_NAMES = {backend.dtype(name): kind for name, kind in (
    ("float32", "Float"), ("float64", "Double"), ("float16", "Half"), ("int8", "Char"), ("uint8", "Byte"),
    ("int16", "Short"), ("int32", "Int"), ("int64", "Long"), ("bool", "Bool"))}
if backend.bfloat16 is not None:
    _TYPE_NAMES[backend.bfloat16] = "BFloat16"


def _parse_type(spec) -> tuple:
    """``Tensor.type``'s argument as (dtype, device or None): a dtype, or a name such as
    ``'nnkit.DoubleTensor'`` or ``'nnkit.cuda.FloatTensor'``."""
    if not isinstance(spec, str):
        return backend.dtype(spec), None
    by_name = {f"nnkit.{kind}Tensor": d for d, kind in _TYPE_NAMES.items()}
    cuda = spec.startswith("nnkit.cuda.")
    name = spec.replace("nnkit.cuda.", "nnkit.", 1)
    if name not in by_name:
        raise ValueError(f"type: invalid type: {spec!r} (expected a dtype or a name such as 'nnkit.FloatTensor')")
    return by_name[name], "cuda" if cuda else "cpu"  # a name says where, as PyTorch's legacy types do


def _is_dtype(spec) -> bool:
    return isinstance(spec, (backend.dtype, numpy.dtype)) or (isinstance(spec, type) and issubclass(spec, numpy.generic))


def view_or_reinterpret(view_shape):
    """``Tensor.view``: the shape op ``view_shape``, plus PyTorch's ``view(dtype)``."""
    def view(self, *shape):
        """``view(*shape)``: the same memory in another shape.

        ``view(dtype)``: the same bytes read as another dtype. With the same element
        size the shape stays; otherwise the last dim (whose stride must be 1) grows or
        shrinks by the ratio of the sizes. The result shares memory (and the version
        counter) and records no gradient, as in PyTorch.
        """
        if len(shape) == 1 and _is_dtype(shape[0]):
            return self._reinterpret(backend.dtype(shape[0]))
        return view_shape(self, *shape)
    return view


# --- creation ---------------------------------------------------------------------------------

def _shape_of(args: tuple, size, op: str) -> tuple:
    """The shape given as ``f(2, 3)``, ``f((2, 3))`` or ``f(size=(2, 3))``, as PyTorch accepts."""
    if size is not None:
        if args:
            raise TypeError(f"{op}: the size was given both positionally {args} and as size={size}")
        args = (size,)
    return _size(args)


def _xp(device):
    return backend.module_for(device if device is not None else backend.get_default_device())


def _dtype_or_default(dtype) -> backend.dtype:
    return backend.dtype(dtype) if dtype is not None else backend.get_default_dtype()


def _finish(array, requires_grad: bool) -> Tensor:
    t = Tensor._wrap(array)
    return t.requires_grad_(True) if requires_grad else t


def _creation(fill, shape: tuple, dtype, device, requires_grad) -> Tensor:
    return _finish(fill(_xp(device), shape, _dtype_or_default(dtype).dtype), requires_grad)


def zeros(*args, size=None, dtype=None, device=None, requires_grad: bool = False) -> Tensor:
    """A tensor of zeros: ``zeros(2, 3)``, ``zeros((2, 3))`` or ``zeros(size=(2, 3))``."""
    return _creation(lambda xp, s, d: xp.zeros(s, d), _shape_of(args, size, "zeros"), dtype, device, requires_grad)


def ones(*args, size=None, dtype=None, device=None, requires_grad: bool = False) -> Tensor:
    return _creation(lambda xp, s, d: xp.ones(s, d), _shape_of(args, size, "ones"), dtype, device, requires_grad)


def empty(*args, size=None, dtype=None, device=None, requires_grad: bool = False) -> Tensor:
    """A tensor whose values are whatever the memory held (fast; fill it before reading)."""
    return _creation(lambda xp, s, d: xp.empty(s, d), _shape_of(args, size, "empty"), dtype, device, requires_grad)


def full(size, fill_value, *, dtype=None, device=None, requires_grad: bool = False) -> Tensor:
    """A tensor filled with ``fill_value``; its dtype follows the value (``full(.., 3)`` is int64)."""
    if dtype is None:
        dtype = _infer_dtype(fill_value)
    return _creation(lambda xp, s, d: xp.full(s, fill_value, d), _size((size,)), dtype, device, requires_grad)


def _like(input: Tensor, dtype, device) -> dict:
    return {"dtype": dtype if dtype is not None else input.dtype,
            "device": device if device is not None else input.device}


def zeros_like(input: Tensor, *, dtype=None, device=None, requires_grad: bool = False) -> Tensor:
    return zeros(input.shape, requires_grad=requires_grad, **_like(input, dtype, device))


def ones_like(input: Tensor, *, dtype=None, device=None, requires_grad: bool = False) -> Tensor:
    return ones(input.shape, requires_grad=requires_grad, **_like(input, dtype, device))


def empty_like(input: Tensor, *, dtype=None, device=None, requires_grad: bool = False) -> Tensor:
    return empty(input.shape, requires_grad=requires_grad, **_like(input, dtype, device))


def full_like(input: Tensor, fill_value, *, dtype=None, device=None, requires_grad: bool = False) -> Tensor:
    """``input``'s shape filled with ``fill_value``, in ``input``'s dtype (``full_like(ints, 2.5)`` holds 2s)."""
    return full(input.shape, fill_value, requires_grad=requires_grad, **_like(input, dtype, device))


def _number(v):
    """A Python number from a number or a one-element tensor (the ranges accept both)."""
    return v.item() if isinstance(v, Tensor) else v


def _is_integral(v) -> bool:
    return isinstance(v, (int, numpy.integer)) and not isinstance(v, (bool, numpy.bool_))


def arange(start, end=None, step=1, *, dtype=None, device=None, requires_grad: bool = False) -> Tensor:
    """``[start, end)`` in steps; int64 when every argument is an integer, as PyTorch.

    With an integer dtype the bounds and the step are truncated to integers first (so
    ``arange(0, 5, 1.5, dtype=int64)`` steps by 1), as PyTorch does; floats are computed
    in float64 (float32 for half precision) and rounded once.
    """
    start, end, step = _number(start), _number(end), _number(step)
    if end is None:
        start, end = 0, start
    if dtype is None:
        dtype = backend.int64 if all(_is_integral(v) for v in (start, end, step)) else backend.get_default_dtype()
    dtype = backend.dtype(dtype)
    if step == 0:
        raise RuntimeError("arange: step must be nonzero")
    if not ((step > 0 and end >= start) or (step < 0 and end <= start)):
        raise RuntimeError(f"arange: upper bound and lower bound inconsistent with step sign "
                           f"(start={start}, end={end}, step={step})")
    if dtype.is_floating_point:
        count = math.ceil((end - start) / step)
        wide = numpy.float32 if dtype.itemsize == 2 else numpy.float64
        values = numpy.asarray(start, wide) + numpy.asarray(step, wide) * numpy.arange(count, dtype=wide)
    else:
        first, last, delta = int(start), int(end), int(step)
        if dtype == backend.int64:
            if delta == 0:
                raise ValueError(f"arange: step {step} is 0 once truncated to an integer for dtype {dtype}")
            span = last - first + delta - (1 if delta > 0 else -1)
            count = abs(span) // abs(delta)  # C's truncating division: the signs agree (checked above)
        else:
            count = math.ceil((end - start) / step)
        values = first + delta * numpy.arange(count, dtype=numpy.int64)
    return _finish(_xp(device).asarray(values.astype(dtype.dtype)), requires_grad)


def _spaced(start, end, steps: int, dtype: backend.dtype, op: str) -> numpy.ndarray:
    """``steps`` evenly spaced exponents (logspace) or values (linspace), as PyTorch computes them:
    from ``start`` up to the middle and from ``end`` back, so both ends are exact. For an integer
    dtype the ends are truncated first and the step is a float64; otherwise all is in ``dtype``."""
    if steps < 0:
        raise RuntimeError(f"{op}: number of steps must be non-negative, got {steps}")
    if dtype.is_floating_point:
        first, last, wide = numpy.asarray(start, dtype.dtype), numpy.asarray(end, dtype.dtype), dtype.dtype
    else:
        first, last, wide = numpy.asarray(int(start)), numpy.asarray(int(end)), numpy.float64
    if steps == 1:
        return first.reshape(1).astype(wide)
    step = ((last.astype(wide) - first.astype(wide)) / numpy.asarray(max(steps - 1, 1), wide)).astype(wide)
    index = numpy.arange(steps)
    low = first + step * index.astype(wide)
    high = last - step * (steps - 1 - index).astype(wide)
    return numpy.where(index < steps // 2, low, high).astype(wide)


def linspace(start, end, steps: int, *, dtype=None, device=None, requires_grad: bool = False) -> Tensor:
    """``steps`` evenly spaced values from ``start`` to ``end``, both included.

    With an integer dtype the values are truncated, as PyTorch:
    ``linspace(0, 10, 5, dtype=nnkit.int64)`` is ``[0, 2, 5, 7, 10]``.
    """
    dtype = _dtype_or_default(dtype)
    values = _spaced(_number(start), _number(end), int(steps), dtype, "linspace")
    return _finish(_xp(device).asarray(values.astype(dtype.dtype)), requires_grad)


def logspace(start, end, steps: int, base: float = 10.0, *, dtype=None, device=None,
             requires_grad: bool = False) -> Tensor:
    """``base ** linspace(start, end, steps)`` (the powers in float64, then cast to ``dtype``)."""
    dtype = _dtype_or_default(dtype)
    exponents = _spaced(_number(start), _number(end), int(steps), dtype, "logspace")
    values = numpy.power(numpy.float64(base), exponents.astype(numpy.float64))
    return _finish(_xp(device).asarray(values.astype(dtype.dtype)), requires_grad)


def eye(n: int, m: int | None = None, *, dtype=None, device=None, requires_grad: bool = False) -> Tensor:
    """The ``n`` x ``m`` identity matrix (square when ``m`` is not given)."""
    for name, v in (("n", n), ("m", m)):
        if v is not None and v < 0:
            raise RuntimeError(f"eye: {name} must be greater or equal to 0, got {v}")
    return _finish(_xp(device).eye(n, m, dtype=_dtype_or_default(dtype).dtype), requires_grad)


# --- randomness -------------------------------------------------------------------------------

def _random_array(draw, like: Tensor | None = None, generator=None, dtype=None, device=None):
    """Draw on the host with the (seeded) generator, then cast and move to the device."""
    host = draw(backend.rng(generator))
    dtype = dtype if dtype is not None else (like.dtype if like is not None else backend.get_default_dtype())
    dev = device if device is not None else (like.device if like is not None else backend.get_default_device())
    return backend.to_module(numpy.asarray(host).astype(backend.dtype(dtype).dtype), backend.module_for(dev))


def _random(draw, shape: tuple, generator, dtype, device, requires_grad) -> Tensor:
    return _finish(_random_array(lambda r: draw(r, shape), None, generator, dtype, device), requires_grad)


def randn(*args, size=None, generator=None, dtype=None, device=None, requires_grad: bool = False) -> Tensor:
    """Samples of the standard normal distribution."""
    return _random(lambda r, s: r.standard_normal(s), _shape_of(args, size, "randn"), generator, dtype, device,
                   requires_grad)


def rand(*args, size=None, generator=None, dtype=None, device=None, requires_grad: bool = False) -> Tensor:
    """Samples of the uniform distribution on [0, 1)."""
    return _random(lambda r, s: r.random(s), _shape_of(args, size, "rand"), generator, dtype, device,
                   requires_grad)


def _host_float(t: Tensor, op: str, what: str) -> numpy.ndarray:
    """A float tensor's values on the host in float64 (what the samplers read)."""
    if not t.dtype.is_floating_point:
        raise NotImplementedError(f"{op}: {what} must be a floating-point tensor, got {t.dtype}")
    return numpy.asarray(t.detach()._host(), dtype=numpy.float64)


def normal(mean, std=1.0, size=None, *, generator=None, dtype=None, device=None,
           requires_grad: bool = False) -> Tensor:
    """Samples of normal distributions, in PyTorch's forms: ``normal(mean_tensor, std_tensor)``
    (broadcast together), ``normal(mean_tensor, std=1.0)``, ``normal(mean, std_tensor)``,
    and ``normal(mean, std, size)`` for numbers."""
    tensors = [v for v in (mean, std) if isinstance(v, Tensor)]
    if not tensors:
        if size is None:
            raise TypeError("normal: with a number for both mean and std, give the size: normal(mean, std, size)")
        if std < 0:
            raise RuntimeError(f"normal expects std >= 0.0, but found std {std}")
        return _random(lambda r, s: r.normal(mean, std, s), _size((size,)), generator, dtype, device,
                       requires_grad)
    if size is not None:
        raise TypeError("normal: size is only given when mean and std are numbers")
    means = _host_float(mean, "normal", "mean") if isinstance(mean, Tensor) else numpy.float64(mean)
    stds = _host_float(std, "normal", "std") if isinstance(std, Tensor) else numpy.float64(std)
    if (stds < 0).any():
        raise RuntimeError(f"normal expects all elements of std >= 0.0, but found {stds.min()}")
    try:
        shape = numpy.broadcast_shapes(numpy.shape(means), numpy.shape(stds))
    except ValueError:
        raise RuntimeError(f"normal: the shapes of mean {tuple(mean.shape)} and std {tuple(std.shape)} cannot be "
                           "broadcast together") from None
    if dtype is None:
        dtype = numpy.result_type(*(t.array.dtype for t in tensors))
    return _finish(_random_array(lambda r: means + stds * r.standard_normal(shape), None, generator, dtype,
                                 tensors[0].device), requires_grad)


def _probabilities(p, op: str):
    """``p`` (a number or a tensor) as float64 probabilities on the host, checked to lie in [0, 1]."""
    probs = numpy.asarray(p.detach()._host() if isinstance(p, Tensor) else p, dtype=numpy.float64)
    if not ((probs >= 0) & (probs <= 1)).all():
        raise RuntimeError(f"{op} expects p to be in [0, 1], but got p={p}")
    return probs


def bernoulli(input: Tensor, p=None, *, generator=None) -> Tensor:
    """0s and 1s in ``input``'s shape and dtype, each 1 with the probability in ``input``
    (or with ``p`` when it is given)."""
    if p is None:
        if not input.dtype.is_floating_point:
            raise NotImplementedError(f"bernoulli: the probabilities must be a floating-point tensor, "
                                      f"got {input.dtype}")
        p = input
    probs = _probabilities(p, "bernoulli")
    return Tensor._wrap(_random_array(lambda r: r.random(input.shape) < probs, input, generator))


def poisson(input: Tensor, generator=None) -> Tensor:
    """Counts drawn from Poisson distributions of the rates in ``input`` (same shape and dtype)."""
    rates = _host_float(input, "poisson", "the rates")
    if (rates < 0).any() or numpy.isnan(rates).any():
        raise RuntimeError("poisson: invalid Poisson rate, expected rate to be non-negative")
    return Tensor._wrap(_random_array(lambda r: r.poisson(rates), input, generator))


def randint(low: int = 0, high: int | None = None, size=None, *, generator=None, dtype=None, device=None,
            requires_grad: bool = False) -> Tensor:
    """Integers drawn uniformly from ``[low, high)`` (int64): ``randint(low, high, size)``
    or, as in PyTorch, ``randint(high, size)``."""
    if isinstance(high, (tuple, list)):
        low, high, size = 0, low, high
    elif high is None:
        low, high = 0, low
    if size is None:
        raise TypeError("randint: the size is required, e.g. randint(0, 10, (3,))")
    if low >= high:
        raise RuntimeError(f"randint: expects 'from' to be less than 'to', but got from={low} >= to={high}")
    return _random(lambda r, s: r.integers(low, high, s), _size((size,)), generator,
                   dtype if dtype is not None else backend.int64, device, requires_grad)


def randint_like(input: Tensor, low: int = 0, high: int | None = None, *, generator=None, dtype=None,
                 device=None, requires_grad: bool = False) -> Tensor:
    """Integers from ``[low, high)`` in ``input``'s shape and dtype: ``randint_like(t, high)``
    or ``randint_like(t, low, high)``."""
    if high is None:
        low, high = 0, low
    return randint(low, high, input.shape, generator=generator, requires_grad=requires_grad,
                   **_like(input, dtype, device))


def rand_like(input: Tensor, *, generator=None, dtype=None, device=None, requires_grad: bool = False) -> Tensor:
    return rand(input.shape, generator=generator, requires_grad=requires_grad, **_like(input, dtype, device))


def randn_like(input: Tensor, *, generator=None, dtype=None, device=None, requires_grad: bool = False) -> Tensor:
    return randn(input.shape, generator=generator, requires_grad=requires_grad, **_like(input, dtype, device))


def randperm(n: int, *, generator=None, dtype=None, device=None, requires_grad: bool = False) -> Tensor:
    """A random permutation of ``0 .. n-1`` (int64 unless ``dtype`` says otherwise)."""
    if n < 0:
        raise RuntimeError(f"randperm: n must be non-negative, got {n}")
    return _random(lambda r, s: r.permutation(n), (), generator, dtype if dtype is not None else backend.int64,
                   device, requires_grad)


def multinomial(input: Tensor, num_samples: int, replacement: bool = False, *, generator=None) -> Tensor:
    """Draw category indices with probabilities proportional to each row of ``input``.

    ``input`` is (k,) or (n, k) non-negative float weights; the result is int64,
    (num_samples,) or (n, num_samples). Without replacement each row's draws are
    distinct: the categories with the largest ``weight / Exp(1)`` keys, which picks
    them one by one with probability proportional to the remaining weights (and
    zero-weight categories last, as PyTorch).
    """
    if input.ndim not in (1, 2):
        raise RuntimeError(f"multinomial: prob_dist must be 1 or 2 dim, got shape {tuple(input.shape)}")
    if not input.dtype.is_floating_point:
        raise RuntimeError(f"multinomial only supports floating-point dtypes for input, got: {input.dtype}")
    if num_samples <= 0:
        raise RuntimeError(f"multinomial: cannot sample n_sample <= 0 samples (num_samples={num_samples})")
    rows = numpy.asarray(input.detach()._host(), dtype=numpy.float64).reshape(-1, input.shape[-1])
    if (rows < 0).any() or not numpy.isfinite(rows).all():
        raise RuntimeError("multinomial: probability tensor contains either `inf`, `nan` or element < 0")
    if (rows.sum(-1) <= 0).any():
        raise RuntimeError("multinomial: invalid multinomial distribution (sum of probabilities <= 0)")
    if not replacement and num_samples > rows.shape[-1]:
        raise RuntimeError(f"multinomial: cannot sample n_sample > prob_dist.size(-1) samples without "
                           f"replacement ({num_samples} > {rows.shape[-1]})")
    r = backend.rng(generator)
    if replacement:
        cdf = numpy.cumsum(rows, -1)
        u = r.random((rows.shape[0], num_samples)) * cdf[:, -1:]
        draws = numpy.stack([numpy.searchsorted(c, row_u, side="right") for c, row_u in zip(cdf, u)])
    else:
        keys = rows / r.exponential(size=rows.shape)
        draws = numpy.argsort(-keys, axis=-1, kind="stable")[:, :num_samples]
    out = draws.reshape(tuple(input.shape[:-1]) + (num_samples,)).astype(numpy.int64)
    return Tensor._wrap(backend.to_module(out, input._xp))


# The largest integer random_() draws by default: what the dtype holds exactly (2**24 for float32).
_RANDOM_DIGITS = {"float16": 11, "bfloat16": 8, "float32": 24, "float64": 53}


def _random_top(dtype: backend.dtype) -> int:
    if dtype.is_floating_point:
        return 2 ** _RANDOM_DIGITS[dtype.name]
    return 1 if dtype == backend.bool_ else int(numpy.iinfo(dtype.dtype).max)


def _need_float(t: Tensor, op: str) -> None:
    if not t.dtype.is_floating_point:
        raise RuntimeError(f"{op}: the distribution is continuous, so the dtype must be floating point, "
                           f"got {t.dtype}")


autograd._Tensor = Tensor
