"""Mixed precision: ``autocast`` and ``GradScaler``, with PyTorch's names and semantics.

Inside ``with nnkit.autocast("cpu", dtype=nnkit.bfloat16):`` the matmul-heavy ops
(``matmul``, ``F.linear``, ``F.conv2d``, ``F.scaled_dot_product_attention``...) cast
their floating inputs to the low dtype, and the precision-sensitive ones (softmax,
log-softmax, norms, reductions, losses) cast theirs to float32; every other op
runs in its inputs' dtype (``cat`` and the binary ops promote mixed inputs to the
wider dtype by themselves, as PyTorch's promote list asks). Casts are ordinary differentiable ``to`` ops, so
gradients reach the float32 master weights in float32; the weights themselves
are never changed. float64 tensors are left alone, as in PyTorch.

The policy lives here, in two sets of op names; an op joins it with one
decorator line, ``@autocast_op("name")``, where it is defined.

Where the lists differ from PyTorch's CPU lists: PyTorch's CPU kernels run
softmax, layer norm and sums over bfloat16 inputs with float32 accumulation and
round the result to bfloat16; NumPy's would accumulate in bfloat16 itself (a sum
of 10,000 ones is 256), so here those ops are float32 ops, as they are on
PyTorch's CUDA lists. Results differ from PyTorch's by at most that last
rounding.

``GradScaler`` multiplies the loss by a scale S before ``backward`` so that small
float16 gradients do not underflow to zero, divides the gradients by S before
the optimizer step, skips the step when any gradient is inf or NaN, and adapts
S: halved after an overflow, doubled after ``growth_interval`` clean steps.

>>> import nnkit
>>> with nnkit.autocast("cpu", dtype=nnkit.bfloat16):
...     y = nnkit.ones(2, 3) @ nnkit.ones(3, 4)
>>> y.dtype == nnkit.bfloat16
True
"""

from __future__ import annotations

import functools
import threading
import warnings
from typing import Any, Callable

import numpy

from . import backend
from .tensor import Tensor

__all__ = ["autocast", "autocast_op", "is_autocast_enabled", "get_autocast_dtype", "GradScaler",
           "LOWER_PRECISION_OPS", "FLOAT32_OPS"]

# The policy: which ops run in the low dtype, which in float32.
LOWER_PRECISION_OPS = frozenset({"matmul", "bmm", "linear", "prelu", "conv1d", "conv2d", "conv3d", "conv_transpose1d",
                                 "conv_transpose2d", "conv_transpose3d", "scaled_dot_product_attention"})
FLOAT32_OPS = frozenset({"sum", "mean", "var", "std", "prod", "cumsum", "logsumexp", "norm", "softmax",
                         "log_softmax", "layer_norm", "batch_norm", "group_norm", "mse_loss", "l1_loss",
                         "smooth_l1_loss", "huber_loss", "nll_loss", "cross_entropy", "binary_cross_entropy",
                         "binary_cross_entropy_with_logits", "kl_div"})

_SUPPORTED = {"cpu": ("bfloat16", "float16"), "cuda": ("float16", "bfloat16")}
_DEFAULT = {"cpu": "bfloat16", "cuda": "float16"}


class _State(threading.local):
    """Autocast's per-thread state: the low dtype per device type (None when off)
    and the cache of casted weights ({dtype: {weight: cast}}), kept for the outermost region."""

    def __init__(self):
        self.dtypes: dict = {}
        self.depth = 0
        self.cache_enabled = True
        self.cache: dict = {}


_state = _State()


def _dtype_named(name: str):
    dtype = getattr(backend, name)
    if dtype is None:
        raise RuntimeError("autocast: bfloat16 needs the ml_dtypes package (pip install ml_dtypes; it is in "
                           "nnkit's `course` extra)")
    return dtype


def is_autocast_enabled(device_type: str = "cpu") -> bool:
    """Whether autocast is on for ``device_type`` in this thread."""
    return _state.dtypes.get(device_type) is not None


def get_autocast_dtype(device_type: str = "cpu"):
    """The low dtype autocast uses for ``device_type`` (its default when autocast is off)."""
    return _state.dtypes.get(device_type) or _dtype_named(_DEFAULT[device_type])


class autocast:
    """Run the ops inside in mixed precision, as ``torch.autocast``; a context manager or a decorator.

    ``device_type`` is ``"cpu"`` or ``"cuda"``; ``dtype`` defaults to bfloat16 on the
    CPU and float16 on the GPU. ``enabled=False`` turns autocast off inside (for a
    region that must run in float32). State is per thread; regions nest.

    Wrap the forward pass and the loss, not ``backward`` or the optimizer step:
    each weight is cast once per outermost region and the cast is reused, so
    (as in PyTorch) an update made inside the region is not seen by later
    forward passes in it. ``cache_enabled=False`` casts afresh at every use.

    >>> import nnkit
    >>> lin = nnkit.nn.Linear(3, 2)
    >>> with nnkit.autocast("cpu", dtype=nnkit.bfloat16):
    ...     out = lin(nnkit.ones(4, 3))
    ...     loss = out.float().pow(2).mean()
    >>> out.dtype == nnkit.bfloat16, loss.dtype == nnkit.float32, lin.weight.dtype == nnkit.float32
    (True, True, True)
    """

    def __init__(self, device_type: str = "cpu", dtype=None, enabled: bool = True,
                 cache_enabled: bool | None = None):
        if device_type not in _SUPPORTED:
            raise ValueError(f"autocast: device_type must be 'cpu' or 'cuda', got {device_type!r}")
        self.device_type = device_type
        self.fast_dtype = _dtype_named(_DEFAULT[device_type]) if dtype is None else numpy.dtype(dtype)
        self.cache_enabled = True if cache_enabled is None else bool(cache_enabled)
        self._enabled = bool(enabled)
        if self._enabled and self.fast_dtype.name not in _SUPPORTED[device_type]:
            # PyTorch's behaviour: a warning, and autocast off inside the region.
            warnings.warn(f"autocast: in {device_type} autocast the target dtype must be one of "
                          f"{', '.join(_SUPPORTED[device_type])}, got {self.fast_dtype}; disabling autocast",
                          UserWarning, stacklevel=2)
            self._enabled = False

    def __enter__(self) -> "autocast":
        self._previous = (_state.dtypes, _state.cache_enabled)
        dtypes = {**_state.dtypes, self.device_type: self.fast_dtype if self._enabled else None}
        _state.dtypes = {k: v for k, v in dtypes.items() if v is not None}  # empty: autocast is off
        _state.cache_enabled = self.cache_enabled
        _state.depth += 1
        return self

    def __exit__(self, *exc) -> None:
        _state.dtypes, _state.cache_enabled = self._previous
        _state.depth -= 1
        if _state.depth == 0:
            _state.cache = {}  # casted weights live as long as the outermost region, as in PyTorch

    def __call__(self, fn: Callable) -> Callable:
        @functools.wraps(fn)
        def wrapper(*args, **kwargs):
            with autocast(self.device_type, self.fast_dtype, self._enabled, self.cache_enabled):
                return fn(*args, **kwargs)
        return wrapper


def _cast(value: Any, dtypes: dict, target) -> Any:
    """``value`` with its eligible tensors cast: floating, not float64, on an autocast device.
    ``target`` is a dtype, or None for the device's low dtype."""
    if isinstance(value, Tensor):
        dtype = value.array.dtype
        if dtype == backend.float64 or not backend.is_floating(dtype):
            return value
        low = dtypes.get(value.device.type)
        if low is None:
            return value
        to = low if target is None else target
        if dtype == to:
            return value
        if _state.cache_enabled and value.requires_grad and value.grad_fn is None:
            # A weight is cast once per region however often it is used (PyTorch's cast cache).
            cache = _state.cache.setdefault(to, {})
            hit = cache.get(value)
            if hit is None:
                hit = cache[value] = value.to(to)
            return hit
        return value.to(to)
    if isinstance(value, (list, tuple)):
        return type(value)(_cast(v, dtypes, target) for v in value)
    return value


def autocast_op(name: str) -> Callable:
    """Decorator that puts op ``name`` under the autocast policy above.

    Outside autocast the op runs as written, after one check of a thread-local.
    """
    if name in LOWER_PRECISION_OPS:
        target = None  # the device's low dtype
    elif name in FLOAT32_OPS:
        target = backend.float32
    else:
        raise ValueError(f"autocast_op: {name!r} is on neither of autocast's lists")

    def decorate(fn: Callable) -> Callable:
        @functools.wraps(fn)
        def op(*args, **kwargs):
            dtypes = _state.dtypes
            if not dtypes:
                return fn(*args, **kwargs)
            args = tuple(_cast(a, dtypes, target) for a in args)
            kwargs = {k: _cast(v, dtypes, target) for k, v in kwargs.items()}
            return fn(*args, **kwargs)
        return op
    return decorate


# ---------------------------------------------------------------------------
# Loss scaling
# ---------------------------------------------------------------------------

_READY, _UNSCALED, _STEPPED = 0, 1, 2


class GradScaler:
    """Dynamic loss scaling, as ``torch.amp.GradScaler``.

    The usual loop::

        scaler = nnkit.amp.GradScaler()
        with nnkit.autocast("cpu", dtype=nnkit.float16):
            loss = loss_fn(model(x), y)
        scaler.scale(loss).backward()   # gradients of S·loss
        scaler.unscale_(optimizer)      # optional: true gradients, e.g. to clip them
        scaler.step(optimizer)          # skipped if any gradient is inf/NaN
        scaler.update()                 # S ← S·backoff_factor after an overflow,
                                        # S ← S·growth_factor after growth_interval clean steps

    ``device`` is accepted for PyTorch's signature (``"cpu"`` here by default,
    where PyTorch's is ``"cuda"``); the scale is a Python float.
    """

    def __init__(self, device: str = "cpu", init_scale: float = 2.0 ** 16, growth_factor: float = 2.0,
                 backoff_factor: float = 0.5, growth_interval: int = 2000, enabled: bool = True):
        if growth_factor <= 1.0:
            raise ValueError(f"GradScaler: growth_factor must be > 1, got {growth_factor}")
        if not 0.0 < backoff_factor < 1.0:
            raise ValueError(f"GradScaler: backoff_factor must be in (0, 1), got {backoff_factor}")
        if int(growth_interval) <= 0:
            raise ValueError(f"GradScaler: growth_interval must be a positive int, got {growth_interval}")
        self.device = device
        self._enabled = bool(enabled)
        self._scale = float(numpy.float32(init_scale))
        self._growth_factor = float(growth_factor)
        self._backoff_factor = float(backoff_factor)
        self._growth_interval = int(growth_interval)
        self._growth_tracker = 0
        self._per_optimizer: dict = {}  # id(optimizer) -> {"stage", "found_inf"}

    # --- the loop ---------------------------------------------------------
    def scale(self, outputs):
        """``outputs`` (a tensor, or nested lists/tuples of them) multiplied by the scale."""
        if not self._enabled:
            return outputs
        if isinstance(outputs, Tensor):
            return outputs * self._scale
        if isinstance(outputs, (list, tuple)):
            return type(outputs)(self.scale(o) for o in outputs)
        raise TypeError(f"GradScaler.scale: expected a Tensor or a list/tuple of Tensors, got "
                        f"{type(outputs).__name__}")

    def _state_of(self, optimizer) -> dict:
        return self._per_optimizer.setdefault(id(optimizer), {"stage": _READY, "found_inf": False})

    def unscale_(self, optimizer) -> None:
        """Divide ``optimizer``'s gradients by the scale, in place, and note whether any is inf/NaN."""
        if not self._enabled:
            return
        state = self._state_of(optimizer)
        if state["stage"] == _UNSCALED:
            raise RuntimeError("unscale_() has already been called on this optimizer since the last update().")
        if state["stage"] == _STEPPED:
            raise RuntimeError("unscale_() is being called after step().")
        # The reciprocal in float64 then float32, as PyTorch computes it.
        inv_scale = numpy.float32(1.0 / numpy.float64(numpy.float32(self._scale)))
        found_inf = False
        for group in optimizer.param_groups:
            for p in group["params"]:
                if p.grad is None:
                    continue
                g = p.grad.array
                if g.dtype == backend.float16:
                    raise ValueError("Attempting to unscale FP16 gradients.")
                xp = backend.xp_of(g)
                if not bool(xp.isfinite(g).all()):
                    found_inf = True
                g *= g.dtype.type(inv_scale)
        state["found_inf"] = found_inf
        state["stage"] = _UNSCALED

    def step(self, optimizer, *args, **kwargs):
        """``optimizer.step(*args, **kwargs)`` unless a gradient is inf/NaN; unscales first if needed.

        Returns what ``optimizer.step`` returned, or None when the step was skipped.
        """
        if not self._enabled:
            return optimizer.step(*args, **kwargs)
        if "closure" in kwargs:
            raise RuntimeError("Closure use is not currently supported if GradScaler is enabled.")
        state = self._state_of(optimizer)
        if state["stage"] == _STEPPED:
            raise RuntimeError("step() has already been called since the last update().")
        if state["stage"] == _READY:
            self.unscale_(optimizer)
        result = None if state["found_inf"] else optimizer.step(*args, **kwargs)
        state["stage"] = _STEPPED
        return result

    def update(self, new_scale: float | Tensor | None = None) -> None:
        """Adapt the scale from this iteration's overflow checks (or set it to ``new_scale``)."""
        if not self._enabled:
            return
        if new_scale is not None:
            self._scale = float(new_scale.item() if isinstance(new_scale, Tensor) else new_scale)
        else:
            if not self._per_optimizer:
                raise AssertionError("No inf checks were recorded prior to update.")
            if any(s["found_inf"] for s in self._per_optimizer.values()):
                self._scale = float(numpy.float32(self._scale * self._backoff_factor))
                self._growth_tracker = 0
            else:
                self._growth_tracker += 1
                if self._growth_tracker == self._growth_interval:
                    grown = numpy.float32(self._scale * self._growth_factor)
                    if numpy.isfinite(grown):
                        self._scale = float(grown)
                    self._growth_tracker = 0
        self._per_optimizer = {}

    # --- settings and state -------------------------------------------------
    def get_scale(self) -> float:
        return self._scale if self._enabled else 1.0

    def get_growth_factor(self) -> float:
        return self._growth_factor

    def set_growth_factor(self, new_factor: float) -> None:
        self._growth_factor = float(new_factor)

    def get_backoff_factor(self) -> float:
        return self._backoff_factor

    def set_backoff_factor(self, new_factor: float) -> None:
        self._backoff_factor = float(new_factor)

    def get_growth_interval(self) -> int:
        return self._growth_interval

    def set_growth_interval(self, new_interval: int) -> None:
        self._growth_interval = int(new_interval)

    def is_enabled(self) -> bool:
        return self._enabled

    def state_dict(self) -> dict:
        """PyTorch's keys: scale, growth_factor, backoff_factor, growth_interval, _growth_tracker
        (empty when disabled)."""
        if not self._enabled:
            return {}
        return {"scale": self.get_scale(), "growth_factor": self._growth_factor,
                "backoff_factor": self._backoff_factor, "growth_interval": self._growth_interval,
                "_growth_tracker": self._growth_tracker}

    def load_state_dict(self, state_dict: dict) -> None:
        if not self._enabled:
            return
        if len(state_dict) == 0:
            raise RuntimeError("The source state dict is empty, possibly because it was saved from a disabled "
                               "instance of GradScaler.")
        self._scale = float(state_dict["scale"])
        self._growth_factor = float(state_dict["growth_factor"])
        self._backoff_factor = float(state_dict["backoff_factor"])
        self._growth_interval = int(state_dict["growth_interval"])
        self._growth_tracker = int(state_dict["_growth_tracker"])
