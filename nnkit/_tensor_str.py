"""How a tensor prints: PyTorch's layout and its print options.

``repr(t)`` reads as PyTorch's does, with ``nnkit`` where PyTorch says ``torch``:
one format for every element of a tensor (fixed point with ``precision``
digits, whole numbers as ``1.``, or scientific when the magnitudes span more
than a factor of 1000, pass 1e8 or fall below 1e-4), right-aligned columns,
rows wrapped at ``linewidth``, and tensors of more than ``threshold`` elements
summarised with ``edgeitems`` entries at each end of each dim.
"""

from __future__ import annotations

import contextlib
import dataclasses
import math

import numpy

from . import backend

__all__ = ["set_printoptions", "get_printoptions", "printoptions"]


@dataclasses.dataclass
class _PrintOptions:
    precision: int = 4
    threshold: float = 1000
    edgeitems: int = 3
    linewidth: int = 80
    sci_mode: bool | None = None


_OPTIONS = _PrintOptions()
_PROFILES = {"default": dict(precision=4, threshold=1000, edgeitems=3, linewidth=80),
             "short": dict(precision=2, threshold=1000, edgeitems=2, linewidth=80),
             "full": dict(precision=4, threshold=math.inf, edgeitems=3, linewidth=80)}


def set_printoptions(precision=None, threshold=None, edgeitems=None, linewidth=None, profile=None,
                     sci_mode=None) -> None:
    """Set how tensors print, as ``torch.set_printoptions``.

    ``precision``: digits after the point (4); ``threshold``: more elements than
    this are summarised (1000); ``edgeitems``: entries shown at each end of a
    summarised dim (3); ``linewidth``: characters per line (80); ``profile``:
    ``'default'``, ``'short'`` or ``'full'`` (never summarise), applied first;
    ``sci_mode``: True or False forces scientific notation on or off, None
    (the default) lets each tensor's values decide.

    >>> import nnkit
    >>> nnkit.set_printoptions(precision=2)
    >>> nnkit.tensor([1.12345])
    tensor([1.12])
    >>> nnkit.set_printoptions(profile="default")
    """
    if profile is not None:
        if profile not in _PROFILES:
            raise ValueError(f"set_printoptions: profile must be one of {sorted(_PROFILES)}, got {profile!r}")
        for name, value in _PROFILES[profile].items():
            setattr(_OPTIONS, name, value)
    for name, value in (("precision", precision), ("threshold", threshold), ("edgeitems", edgeitems),
                        ("linewidth", linewidth)):
        if value is not None:
            setattr(_OPTIONS, name, value)
    _OPTIONS.sci_mode = sci_mode


def get_printoptions() -> dict:
    """The current print options, as keyword arguments for :func:`set_printoptions`."""
    return dataclasses.asdict(_OPTIONS)


@contextlib.contextmanager
def printoptions(**options):
    """Print with ``options`` inside the block (the arguments of :func:`set_printoptions`)."""
    saved = get_printoptions()
    set_printoptions(**options)
    try:
        yield
    finally:
        set_printoptions(**saved)


class _Formatter:
    """One format for all of a tensor's elements, chosen from the values shown."""

    def __init__(self, values: numpy.ndarray, floating: bool):
        self.floating = floating
        self.int_mode, self.sci_mode, self.width = True, False, 1
        flat = values.reshape(-1)
        if not floating:
            self.width = max((len(str(v)) for v in flat.tolist()), default=1)
            return
        shown = flat[numpy.isfinite(flat) & (flat != 0)]
        if shown.size == 0:
            return
        magnitude = numpy.abs(shown)
        low, high = magnitude.min(), magnitude.max()
        self.int_mode = bool((shown == numpy.ceil(shown)).all())
        if _OPTIONS.sci_mode is None:
            self.sci_mode = bool(high / low > 1000.0 or high > 1.0e8 or low < 1.0e-4)
        else:
            self.sci_mode = bool(_OPTIONS.sci_mode)
        if self.sci_mode:
            texts = (f"{v:.{_OPTIONS.precision}e}" for v in shown.tolist())
        elif self.int_mode:
            texts = (f"{v:.0f}." for v in shown.tolist())  # the point marks a floating tensor
        else:
            texts = (f"{v:.{_OPTIONS.precision}f}" for v in shown.tolist())
        self.width = max(len(t) for t in texts)

    def format(self, value) -> str:
        if not self.floating:
            text = str(value)
        elif self.sci_mode:
            text = f"{value:{self.width}.{_OPTIONS.precision}e}"
        elif self.int_mode:
            text = f"{value:.0f}" + ("" if math.isinf(value) or math.isnan(value) else ".")
        else:
            text = f"{value:.{_OPTIONS.precision}f}"
        return text.rjust(self.width)


def _summarized(values: numpy.ndarray) -> numpy.ndarray:
    """Only the elements a summarised print shows (edgeitems at each end of every dim)."""
    k = _OPTIONS.edgeitems
    for axis, n in enumerate(values.shape):
        if n > 2 * k:
            values = numpy.concatenate([values.take(range(k), axis), values.take(range(n - k, n), axis)], axis)
    return values


def _lines(values: numpy.ndarray, indent: int, summarize: bool, fmt: _Formatter) -> str:
    """The bracketed text of ``values``, continuation lines indented by ``indent``."""
    k = _OPTIONS.edgeitems
    if values.ndim == 0:
        return fmt.format(values.item())
    n = values.shape[0]
    cut = summarize and n > 2 * k
    if values.ndim == 1:
        if summarize and not k:
            items = ["..."]
        elif cut:
            items = [fmt.format(v) for v in values[:k].tolist()] + [" ..."] + \
                    [fmt.format(v) for v in values[n - k:].tolist()]
        else:
            items = [fmt.format(v) for v in values.tolist()]
        per_line = max(1, (_OPTIONS.linewidth - indent) // (fmt.width + 2))
        rows = [", ".join(items[i:i + per_line]) for i in range(0, len(items), per_line)]
        return "[" + (",\n" + " " * (indent + 1)).join(rows) + "]"
    rows = [_lines(values[i], indent + 1, summarize, fmt) for i in (
        [*range(k), None, *range(n - k, n)] if cut else range(n)) if i is not None]
    if cut:
        rows.insert(k, "...")
    return "[" + ("," + "\n" * (values.ndim - 1) + " " * (indent + 1)).join(rows) + "]"


def _add_suffixes(text: str, suffixes: list, indent: int) -> str:
    """Append ``, key=value`` suffixes, starting a new line where one would pass the line width."""
    parts = [text]
    line = len(text) - text.rfind("\n") + 1
    for suffix in suffixes:
        if line + len(suffix) + 2 > _OPTIONS.linewidth:
            parts.append(",\n" + " " * indent + suffix)
            line = indent + len(suffix)
        else:
            parts.append(", " + suffix)
            line += len(suffix) + 2
    return "".join(parts) + ")"


def tensor_repr(t, prefix: str = "tensor(") -> str:
    """``repr(t)`` in PyTorch's layout."""
    indent = len(prefix)
    values = numpy.asarray(t._host())
    dtype, default = t.dtype, backend.get_default_dtype()
    suffixes = []
    if t.device.type != backend.get_default_device().type:
        suffixes.append(f"device='{t.device}'")
    if values.size == 0:
        if values.ndim != 1:
            suffixes.append(f"size={tuple(values.shape)}")
        if dtype != default:
            suffixes.append(f"dtype={dtype}")
        body = "[]"
    else:
        if not _OPTIONS.edgeitems:
            suffixes.append(f"size={tuple(values.shape)}")
        complex_default = numpy.complex128 if default == backend.float64 else numpy.complex64
        if dtype not in (default, complex_default, backend.int64, backend.bool_):
            suffixes.append(f"dtype={dtype}")
        summarize = values.size > _OPTIONS.threshold
        if dtype.is_complex:  # nnkit has no complex dtypes of its own: NumPy's layout
            body = numpy.array2string(values, separator=", ", precision=_OPTIONS.precision, prefix=prefix)
        else:
            if dtype.is_floating_point:  # Python floats format every width alike (bfloat16's scalars do not)
                values = values.astype(numpy.float64)
            fmt = _Formatter(_summarized(values) if summarize else values, dtype.is_floating_point)
            body = _lines(values, indent, summarize, fmt)
    if t.grad_fn is not None:
        suffixes.append(f"grad_fn={t.grad_fn!r}")
    elif t.requires_grad:
        suffixes.append("requires_grad=True")
    return _add_suffixes(prefix + body, suffixes, indent)
