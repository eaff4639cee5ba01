"""The array backend: which array module (NumPy or CuPy) holds a tensor's values.

Every tensor keeps its values in an array of one module, and every op asks its
inputs for that module (``xp``) instead of naming NumPy: this is what lets the
same code run on a GPU when CuPy is there. CuPy is optional. It imports fine on
a machine without a GPU driver and fails only when used, so availability is
decided by ``cupy.is_available()``, never by a successful import.

The default device is ``"cpu"``, or whatever the environment variable
``NNKIT_DEVICE`` says (``NNKIT_DEVICE=cuda`` runs every notebook on the GPU
unchanged).
"""

from __future__ import annotations

import ctypes
import os
import sys
import threading
from types import ModuleType

import numpy

__all__ = [
    "device", "get_default_device", "set_default_device", "xp_of", "module_for",
    "dtype", "float16", "bfloat16", "float32", "float64", "int8", "int16", "int32", "int64", "bool_", "uint8",
    "get_default_dtype", "set_default_dtype", "is_floating", "cuda_is_available",
    "Generator", "manual_seed", "default_generator", "get_rng_state", "set_rng_state",
]

def _keep_freed_buffers() -> None:
    """Let glibc keep large freed blocks for reuse instead of handing them back.

    A training step allocates and frees the same large arrays every step. By
    default glibc unmaps each freed block above 128 KiB, so the next step faults
    the memory in again, page by page: about half of a LeNet or Transformer
    step's time on a CPU. (PyTorch's allocators avoid the same cost.) Raising the
    thresholds keeps such blocks in the heap. ``NNKIT_MALLOC_TUNING=0`` leaves
    malloc alone.
    """
    if not sys.platform.startswith("linux") or os.environ.get("NNKIT_MALLOC_TUNING") == "0":
        return
    try:
        libc = ctypes.CDLL("libc.so.6")
    except OSError:  # not glibc (musl, for example): nothing to tune
        return
    m_trim_threshold, m_mmap_threshold = -1, -3
    libc.mallopt(m_mmap_threshold, 32 << 20)  # glibc's largest allowed value
    libc.mallopt(m_trim_threshold, 1 << 30)


_keep_freed_buffers()

class dtype:
    """A tensor's element type, as ``torch.dtype``: ``nnkit.float32`` prints as ``nnkit.float32``.

    Each one names a NumPy dtype, which it carries as ``.dtype``. NumPy and CuPy
    read that attribute wherever they accept a dtype (``numpy.zeros(3, nnkit.float32)``,
    ``array.astype(nnkit.int64)``), and an nnkit dtype compares and hashes equal to
    its NumPy dtype (``t.dtype == numpy.float32``, ``t.array.dtype == t.dtype``), so
    the two mix freely; NumPy's attributes (``kind``, ``name``, ``type``...) are
    there too. There is one object per dtype, so ``t.dtype is nnkit.float32`` holds,
    and ``nnkit.dtype(spec)`` gives it for any NumPy spelling (``'float32'``,
    ``numpy.float32``, ``numpy.dtype('f4')``).
    """

    __slots__ = ("dtype", "kind", "itemsize", "is_floating_point", "is_complex", "is_signed")

    def __new__(cls, spec):
        if isinstance(spec, dtype):
            return spec
        if spec is None:
            raise TypeError("dtype: expected a dtype, got None")
        np_dtype = numpy.dtype(spec)
        found = _DTYPES.get(np_dtype)
        if found is None:
            found = object.__new__(cls)
            found.dtype = np_dtype
            found.kind = np_dtype.kind
            found.itemsize = np_dtype.itemsize
            found.is_floating_point = np_dtype.kind == "f" or np_dtype.name == "bfloat16"
            found.is_complex = np_dtype.kind == "c"
            found.is_signed = np_dtype.kind in "ifc" or found.is_floating_point
            _DTYPES[np_dtype] = found
        return found

    def __getattr__(self, name):  # NumPy's attributes: name, type, char, str...
        if name == "dtype":
            raise AttributeError(name)
        return getattr(self.dtype, name)

    def __eq__(self, other) -> bool:
        if other is self:
            return True
        if other is None or isinstance(other, dtype):
            return False
        try:
            return self.dtype == numpy.dtype(other)
        except (TypeError, ValueError):  # not something NumPy reads as a dtype
            return False

    def __hash__(self) -> int:
        return hash(self.dtype)

    def __repr__(self) -> str:
        return f"nnkit.{self.dtype.name}"

    __str__ = __repr__

    def __reduce__(self):
        return dtype, (self.dtype,)


_DTYPES: dict = {}  # NumPy dtype -> its nnkit dtype

float16 = dtype("float16")
float32 = dtype("float32")
float64 = dtype("float64")
int8 = dtype("int8")
int16 = dtype("int16")
int32 = dtype("int32")
int64 = dtype("int64")
uint8 = dtype("uint8")
bool_ = dtype("bool")
try:  # NumPy has no bfloat16; the ml_dtypes package (in the `course` extra) gives it one arrays can carry
    import ml_dtypes
    bfloat16 = dtype(ml_dtypes.bfloat16)
except ImportError:
    bfloat16 = None


def dtype_of(array) -> dtype:
    """The nnkit dtype of an array."""
    return _DTYPES.get(array.dtype) or dtype(array.dtype)


class _ThreadDefaults(threading.local):
    """The default dtype and device belong to the thread that sets them (a thread that
    sets float64 for its work leaves the others alone); each thread starts from
    float32 and ``NNKIT_DEVICE`` (or the CPU)."""
    dtype = float32

    def __init__(self):
        self.device = device(os.environ.get("NNKIT_DEVICE", "cpu") or "cpu")


def get_default_dtype() -> dtype:
    """The dtype that Python floats and the float creation functions give (in this thread)."""
    return _defaults.dtype


def set_default_dtype(d) -> None:
    """Set the default floating dtype for this thread (float16, bfloat16, float32 or float64, as PyTorch)."""
    d = dtype(d)
    if not d.is_floating_point:
        raise TypeError(f"set_default_dtype: only floating-point types are supported as the default type, got {d}")
    _defaults.dtype = d


def is_floating(d) -> bool:
    return dtype(d).is_floating_point


def matmul(a, b):
    """``a @ b`` on raw arrays. Half-precision NumPy operands (float16, bfloat16)
    are multiplied in float32 and the product rounded back, as CPU libraries do:
    NumPy has no fast half-precision product (float16's is ~100x slower than
    float32's), and float32 accumulation is what PyTorch's CPU kernels give."""
    if (a.dtype == float16 or a.dtype == bfloat16) and xp_of(a) is numpy:
        return (a.astype(float32) @ b.astype(float32)).astype(a.dtype)
    return a @ b


# --- CuPy, if it is there and usable ---------------------------------------

_cupy: ModuleType | None = None
_cupy_checked = False


def _load_cupy() -> ModuleType | None:
    global _cupy, _cupy_checked
    if not _cupy_checked:
        _cupy_checked = True
        try:
            import cupy
            if cupy.is_available():
                _cupy = cupy
        except Exception:  # noqa: BLE001 - any failure means "no GPU here"
            _cupy = None
    return _cupy


def cuda_is_available() -> bool:
    """True when CuPy is installed and can reach a CUDA GPU."""
    return _load_cupy() is not None


class device:
    """Where a tensor lives: ``device("cpu")`` or ``device("cuda")`` (``"cuda:0"`` too)."""

    __slots__ = ("type", "index")

    def __init__(self, spec: "str | device" = "cpu", index: int | None = None):
        if isinstance(spec, device):
            spec, index = spec.type, spec.index
        kind, _, idx = str(spec).partition(":")
        if kind not in ("cpu", "cuda"):
            raise ValueError(f"device: expected 'cpu' or 'cuda', got {spec!r}")
        self.type = kind
        self.index = int(idx) if idx else index
        if kind == "cpu" and self.index not in (None, 0):
            raise ValueError(f"device: cpu has no index {self.index}")

    def __eq__(self, other) -> bool:
        if isinstance(other, str):
            try:
                other = device(other)
            except ValueError:
                return False
        return isinstance(other, device) and other.type == self.type and (other.index or 0) == (self.index or 0)

    def __hash__(self) -> int:
        return hash((self.type, self.index or 0))

    def __repr__(self) -> str:
        return f"device(type='{self.type}'" + (f", index={self.index})" if self.index is not None else ")")

    def __str__(self) -> str:
        return self.type + (f":{self.index}" if self.index is not None else "")


CPU = device("cpu")
CUDA = device("cuda")


def module_for(dev) -> ModuleType:
    """The array module for a device; a clear error when the GPU is missing."""
    dev = device(dev)
    if dev.type == "cpu":
        return numpy
    cupy = _load_cupy()
    if cupy is None:
        raise RuntimeError(
            "device 'cuda' requested, but no CUDA GPU is available "
            "(install the 'gpu' extra, cupy-cuda12x, on a machine with an NVIDIA GPU)"
        )
    return cupy


def xp_of(array) -> ModuleType:
    """The module (NumPy or CuPy) that owns ``array``."""
    if isinstance(array, numpy.ndarray) or _cupy is None:
        return numpy
    return _cupy if isinstance(array, _cupy.ndarray) else numpy


def device_of(array) -> device:
    return CPU if xp_of(array) is numpy else CUDA


_defaults = _ThreadDefaults()


def get_default_device() -> device:
    """Where creation functions put new tensors (in this thread)."""
    return _defaults.device


def set_default_device(dev) -> None:
    """Set the default device for this thread."""
    dev = device(dev)
    module_for(dev)  # fail now, not at the first tensor
    _defaults.device = dev


def to_module(array, xp: ModuleType):
    """Move ``array`` into module ``xp`` (a copy across devices, a no-op otherwise)."""
    if xp_of(array) is xp:
        return array
    if xp is numpy:
        return array.get()
    return xp.asarray(array)


_special: dict = {}


def special_functions(xp: ModuleType):
    """``scipy.special`` (or ``cupyx.scipy.special``) where installed, else None.

    Optional: nnkit needs only NumPy, but SciPy's erf is exact and fast.
    """
    if xp not in _special:
        try:
            if xp is numpy:
                import scipy.special as special
            else:
                import cupyx.scipy.special as special
        except ImportError:
            special = None
        _special[xp] = special
    return _special[xp]


def scatter_add(xp: ModuleType, target, index, values) -> None:
    """``target[index] += values`` where repeated indices accumulate (unbuffered)."""
    if xp is numpy:
        numpy.add.at(target, index, values)
    else:
        import cupyx
        cupyx.scatter_add(target, index, values)


# --- Randomness -------------------------------------------------------------

class Generator:
    """A seedable source of random numbers, as ``torch.Generator``.

    Draws are made with NumPy's PCG64 and moved to the device, so a seed gives
    the same numbers on the CPU and the GPU.
    """

    def __init__(self, device: "str | None" = None):
        self._seed = 0
        self.rng = numpy.random.default_rng(0)

    def manual_seed(self, seed: int) -> "Generator":
        self._seed = int(seed)
        self.rng = numpy.random.default_rng(self._seed)
        return self

    def seed(self) -> int:
        return self.manual_seed(numpy.random.SeedSequence().entropy % (2**63)).initial_seed()

    def initial_seed(self) -> int:
        return self._seed

    def get_state(self) -> dict:
        return self.rng.bit_generator.state

    def set_state(self, state: dict) -> None:
        self.rng.bit_generator.state = state


default_generator = Generator()


def manual_seed(seed: int) -> Generator:
    """Seed nnkit's default generator (every random op that is given no generator)."""
    return default_generator.manual_seed(seed)


def get_rng_state() -> dict:
    """The default generator's state (a dict of plain values: ``nnkit.save`` stores it)."""
    return default_generator.get_state()


def set_rng_state(state: dict) -> None:
    """Restore the default generator from :func:`get_rng_state`'s result."""
    default_generator.set_state(state)


def rng(generator: Generator | None) -> numpy.random.Generator:
    return (generator or default_generator).rng
