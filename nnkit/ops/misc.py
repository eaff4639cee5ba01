"""The rest of PyTorch's top-level functions, written on the other families: number theory
(gcd, lcm), floating-point tools (ldexp, nextafter, result_type), index helpers
(tril_indices, unravel_index...), combinatorics (cartesian_prod, combinations,
block_diag, vander), distances (cdist, pdist), statistics (cov, corrcoef), calculus on
samples (diff, gradient, trapezoid), renorm and the deprecated ``range``; and the
``Tensor`` methods that describe memory (stride, storage_offset, data_ptr...) or fill it
(apply_, fill_diagonal_, log_normal_, cauchy_...).

Most are composites of the differentiable ops, and get their gradients (of any order)
from them.
"""

from __future__ import annotations

import builtins
import itertools
import math
import warnings

import numpy

from .. import backend
from ..tensor import Tensor, _need_float, _random_array, multinomial, tensor as _tensor
from .base import _broadcast_error, _dim, _float, _make, _operands, _promote_types, _result_dtype, _sum_to, to
from .elementwise import clamp, logical_xor, mul, pow, sqrt, where
from .indexing import getitem
from .linalg import matmul, multi_dot, vector_norm
from .reduction import cumsum, sum
from .shape import (_address, _element_strides, _int, _storage, broadcast_shapes, cat, clone, diagonal, flatten, flip,
                    meshgrid, narrow, reshape, stack, transpose, unsqueeze)

# --- integers and floats ---------------------------------------------------------------------------


def _integers(input, other, op: str) -> tuple:
    a, b = _operands(input, other, op)
    if a.dtype.kind not in "iu":
        raise NotImplementedError(f'"{op}" not implemented for {a.dtype} tensors (integers only)')
    try:
        broadcast_shapes(a.shape, b.shape)
    except RuntimeError:
        raise _broadcast_error(op, a, b) from None
    return a, b


def gcd(input: Tensor, other: Tensor) -> Tensor:
    """The greatest common divisor of each pair of integers (non-negative; gcd(0, 0) = 0)."""
    a, b = _integers(input, other, "gcd")
    return Tensor._wrap(a._xp.gcd(a.array, b.array))


def lcm(input: Tensor, other: Tensor) -> Tensor:
    """The least common multiple of each pair of integers (non-negative; 0 when either is 0)."""
    a, b = _integers(input, other, "lcm")
    return Tensor._wrap(a._xp.lcm(a.array, b.array))


def ldexp(input: Tensor, other: Tensor) -> Tensor:
    """input · 2^other, in the operands' common dtype (the default float dtype for integers);
    differentiable in both, as the product it is."""
    a, e = _operands(input, other, "ldexp")
    dtype = a.dtype if backend.is_floating(a.dtype) else backend.get_default_dtype()
    return mul(to(a, dtype), pow(2.0, to(e, dtype)))


def nextafter(input: Tensor, other: Tensor) -> Tensor:
    """The next floating-point value after ``input`` towards ``other``. Its gradient is taken
    as 1 for ``input`` (the step is below rounding) and none for ``other``, as PyTorch does."""
    a, b = _operands(input, other, "nextafter")
    if not backend.is_floating(a.dtype):
        raise NotImplementedError(f'"nextafter" not implemented for {a.dtype} tensors (floating point only)')
    try:
        out = a._xp.nextafter(a.array, b.array)
    except ValueError:
        raise _broadcast_error("nextafter", a, b) from None
    shape = a.shape
    return _make(out, (a, b), lambda g: (_sum_to(g, shape), None), "Nextafter", ())


def result_type(tensor, other) -> backend.dtype:
    """The dtype that an arithmetic op on ``tensor`` and ``other`` (tensors or numbers) gives."""
    if not isinstance(tensor, Tensor) and not isinstance(other, Tensor):
        tensor = _tensor(tensor)  # a number as a 0-d tensor of its default dtype
    return backend.dtype(_result_dtype(tensor, other))


def isin(elements, test_elements, *, assume_unique: bool = False, invert: bool = False) -> Tensor:
    """Whether each of ``elements`` is among ``test_elements`` (either may be a number), as a
    bool tensor of ``elements``' shape; ``invert`` negates it."""
    if not isinstance(elements, Tensor) and not isinstance(test_elements, Tensor):
        raise TypeError("isin(): expected elements or test_elements to be a Tensor, got two numbers")
    like = elements if isinstance(elements, Tensor) else test_elements
    arrays = [v.array if isinstance(v, Tensor) else like._xp.asarray(v) for v in (elements, test_elements)]
    return Tensor._wrap(like._xp.isin(arrays[0], arrays[1], assume_unique=assume_unique, invert=invert))


def range(start=0, end=None, step=1, *, dtype=None, device=None, requires_grad: bool = False) -> Tensor:
    """Deprecated, as in PyTorch: ``start, start + step, ...`` up to ``end`` included, in the
    default float dtype unless ``dtype`` is given. Use ``arange`` (which stops before ``end``)."""
    warnings.warn("nnkit.range is deprecated and will be removed in a future release because its behavior is "
                  "inconsistent with Python's range builtin. Instead, use nnkit.arange, which produces values in "
                  "[start, end).", UserWarning, stacklevel=2)
    if end is None:
        start, end = 0, start
    if step == 0:
        raise RuntimeError("range: step must be nonzero")
    if (end - start) * step < 0:
        raise RuntimeError(f"range: upper bound ({end}) and lower bound ({start}) inconsistent with step sign "
                           f"({step})")
    count = math.floor((end - start) / step) + 1
    values = start + numpy.arange(count, dtype=numpy.float64) * step
    dtype = backend.get_default_dtype() if dtype is None else backend.dtype(dtype)
    out = backend.to_module(values.astype(dtype.dtype), backend.module_for(device or backend.get_default_device()))
    return Tensor._wrap(out).requires_grad_(requires_grad)


# --- indices -----------------------------------------------------------------------------------------

def _triangle_indices(op: str, which, row: int, col: int, offset: int, dtype, device) -> Tensor:
    for name, n in (("row", row), ("col", col)):
        if n < 0:
            raise RuntimeError(f"{op}: {name} must be non-negative, got {n}")
    dtype = backend.dtype(dtype)
    if dtype.kind not in "iu":
        raise NotImplementedError(f'"{op}" not implemented for {dtype}: the indices are integers')
    xp = backend.module_for(device or backend.get_default_device())
    return Tensor._wrap(xp.stack(which(xp)(row, offset, col)).astype(dtype.dtype))


def tril_indices(row: int, col: int, offset: int = 0, *, dtype=backend.int64, device=None, layout=None) -> Tensor:
    """The (row, column) indices of the lower triangle of a row × col matrix (diagonal
    ``offset`` and below), as a (2, N) tensor, row by row."""
    return _triangle_indices("tril_indices", lambda xp: xp.tril_indices, row, col, offset, dtype, device)


def triu_indices(row: int, col: int, offset: int = 0, *, dtype=backend.int64, device=None, layout=None) -> Tensor:
    """The (row, column) indices of the upper triangle (diagonal ``offset`` and above), as a (2, N) tensor."""
    return _triangle_indices("triu_indices", lambda xp: xp.triu_indices, row, col, offset, dtype, device)


def unravel_index(indices: Tensor, shape) -> tuple:
    """The coordinates in ``shape`` of flat ``indices``: one tensor per dim, each of
    ``indices``' shape. As PyTorch, the arithmetic is modular: -1 is the last place."""
    if not isinstance(indices, Tensor):
        raise TypeError(f"unravel_index(): indices must be a Tensor, got {type(indices).__name__}")
    if indices.dtype.kind not in "iu":
        raise TypeError(f"unravel_index(): expected 'indices' to be an integer dtype, but got {indices.dtype}")
    shape = (shape,) if isinstance(shape, (int, numpy.integer)) else tuple(shape)
    if builtins.any(n < 0 for n in shape):
        raise RuntimeError(f"unravel_index(): 'shape' cannot have negative values, but got {shape}")
    rest = indices.array.astype(numpy.int64)
    coords = []
    for n in reversed(shape):
        coords.append(rest % n if n else rest * 0)
        rest = rest // n if n else rest
    return tuple(Tensor._wrap(indices._xp.asarray(c)) for c in reversed(coords))


# --- combinatorics --------------------------------------------------------------------------------

def _vector(t: Tensor, op: str) -> None:
    if not isinstance(t, Tensor):
        raise TypeError(f"{op}: expected a Tensor, got {type(t).__name__}")
    if t.ndim != 1:
        raise RuntimeError(f"{op}: expects a 1-d tensor, got shape {tuple(t.shape)}")


def cartesian_prod(*tensors) -> Tensor:
    """Every combination of one entry of each 1-d tensor, as rows, the last tensor varying
    fastest (``itertools.product``); a single tensor is returned as it is."""
    for t in tensors:
        _vector(t, "cartesian_prod")
    if len(tensors) == 1:
        return tensors[0]
    grids = meshgrid(*tensors, indexing="ij")
    return stack([flatten(g) for g in grids], 1)


def combinations(input: Tensor, r: int = 2, with_replacement: bool = False) -> Tensor:
    """The ``r``-element combinations of the entries of a 1-d tensor (``itertools.combinations``,
    or ``combinations_with_replacement``), as rows: shape (count, r)."""
    _vector(input, "combinations")
    r = _int(r, "combinations", "r")
    if r < 0:
        raise RuntimeError(f"combinations: expect a non-negative number for r, but got {r}")
    if r == 0:
        return Tensor._wrap(input._xp.zeros(0, dtype=input.dtype))
    choose = itertools.combinations_with_replacement if with_replacement else itertools.combinations
    rows = numpy.array(list(choose(builtins.range(input.shape[0]), r)), dtype=numpy.int64).reshape(-1, r)
    return getitem(input, Tensor._wrap(backend.to_module(rows, input._xp)))


def block_diag(*tensors) -> Tensor:
    """The tensors (0-d, 1-d as rows, 2-d) along the diagonal of one matrix, zeros elsewhere,
    in their common dtype."""
    if not tensors:
        return Tensor._wrap(numpy.zeros((1, 0), dtype=backend.get_default_dtype()))
    for i, t in enumerate(tensors):
        if t.ndim > 2:
            raise RuntimeError(f"block_diag: input tensors must have 2 or fewer dimensions, input {i} has {t.ndim} "
                               "dimensions")
    dtype = tensors[0].dtype
    for t in tensors[1:]:
        dtype = _promote_types(dtype, t.dtype)
    blocks = [reshape(to(t, dtype), (1, -1) if t.ndim < 2 else t.shape) for t in tensors]
    width = builtins.sum(b.shape[1] for b in blocks)
    rows, left = [], 0
    for b in blocks:
        xp = b._xp
        before = Tensor._wrap(xp.zeros((b.shape[0], left), dtype=dtype))
        after = Tensor._wrap(xp.zeros((b.shape[0], width - left - b.shape[1]), dtype=dtype))
        rows.append(cat([before, b, after], 1))
        left += b.shape[1]
    return cat(rows, 0)


def vander(x: Tensor, N: int | None = None, increasing: bool = False) -> Tensor:
    """The Vandermonde matrix of a 1-d tensor: columns x^(N-1), ..., x, 1 (or the other way
    round with ``increasing``); ``N`` defaults to len(x). Written with cumprod, so that the
    gradient is exact at x = 0."""
    if x.ndim != 1:
        raise RuntimeError(f"vander: x must be a one-dimensional tensor, got shape {tuple(x.shape)}")
    n = x.shape[0] if N is None else _int(N, "vander", "N")
    if n < 0:
        raise RuntimeError(f"vander: N must be non-negative, got {n}")
    if x.dtype.kind in "biu":
        x = to(x, backend.int64)
    ones = Tensor._wrap(x._xp.ones((x.shape[0], builtins.min(n, 1)), dtype=x.dtype))
    if n <= 1:
        return ones
    powers = cat([ones, x.unsqueeze(-1).expand(x.shape[0], n - 1).cumprod(-1)], 1)
    return powers if increasing else flip(powers, (1,))


# --- distances ------------------------------------------------------------------------------------

_COMPUTE_MODES = ("use_mm_for_euclid_dist_if_necessary", "use_mm_for_euclid_dist", "donot_use_mm_for_euclid_dist")


def cdist(x1: Tensor, x2: Tensor, p: float = 2.0, compute_mode: str = "use_mm_for_euclid_dist_if_necessary") -> Tensor:
    """The p-norm distance between each row of ``x1`` (…, P, M) and each row of ``x2``
    (…, R, M), batch dims broadcast: shape (…, P, R). Computed from the differences for
    every ``compute_mode`` (exact, and a gradient of 0 at a distance of 0, as PyTorch's)."""
    if compute_mode not in _COMPUTE_MODES:
        raise ValueError(f"cdist: {compute_mode!r} is not a valid value for compute_mode, expected one of "
                         f"{_COMPUTE_MODES}")
    for name, t in (("X1", x1), ("X2", x2)):
        if t.ndim < 2:
            raise RuntimeError(f"cdist only supports at least 2D tensors, {name} got: {t.ndim}D")
        if not backend.is_floating(t.dtype):
            raise RuntimeError(f"cdist only supports floating-point dtypes, {name} got: {t.dtype}")
    if x1.shape[-1] != x2.shape[-1]:
        raise RuntimeError(f"cdist: X1 and X2 must have the same number of columns. X1: {x1.shape[-1]} "
                           f"X2: {x2.shape[-1]}")
    if p < 0:
        raise RuntimeError(f"cdist only supports non-negative p values, got p={p}")
    x1, x2 = _operands(x1, x2, "cdist")
    return vector_norm(x1.unsqueeze(-2) - x2.unsqueeze(-3), p, -1)


def pdist(input: Tensor, p: float = 2.0) -> Tensor:
    """The p-norm distances between all pairs of rows i < j of an (N, M) input, in the order
    (0, 1), (0, 2), ..., (1, 2), ...: a vector of N (N − 1) / 2 values."""
    if input.ndim != 2:
        raise RuntimeError(f"pdist only supports 2D tensors, got: {input.ndim}D (shape {tuple(input.shape)})")
    if not backend.is_floating(input.dtype):
        raise RuntimeError(f"pdist only supports floating-point dtypes, got: {input.dtype}")
    if p < 0:
        raise RuntimeError(f"pdist only supports non-negative p values, got p={p}")
    first, second = input._xp.triu_indices(input.shape[0], 1)
    return vector_norm(getitem(input, Tensor._wrap(first)) - getitem(input, Tensor._wrap(second)), p, 1)


# --- statistics ---------------------------------------------------------------------------------------

def _weights(w, name: str, n: int, integral: bool) -> Tensor:
    if w.ndim > 1:
        raise RuntimeError(f"cov(): expected {name} to have one or fewer dimensions but got {name} with {w.ndim} "
                           "dimensions")
    if (w.dtype.kind in "iu") != integral:
        kind = "integral" if integral else "floating point"
        raise RuntimeError(f"cov(): expected {name} to have {kind} dtype but got {name} with {w.dtype} dtype")
    if w.numel() != n:
        raise RuntimeError(f"cov(): expected {name} to have the same numel as there are observations in the input "
                           f"but got {w.numel()} != {n}")
    if bool((w.array < 0).any()):
        raise RuntimeError(f"cov(): {name} cannot be negative")
    return w


def cov(input: Tensor, *, correction: int = 1, fweights: Tensor | None = None,
        aweights: Tensor | None = None) -> Tensor:
    """The covariance matrix of the variables in the rows of ``input`` (observations in the
    columns; a 1-d input is one variable): Σ w (x - x̄)(y - ȳ) / (Σw - correction · Σ(w a)/Σw),
    with ``fweights`` (integer repeat counts) and ``aweights`` (importance) per observation."""
    if input.ndim > 2:
        raise RuntimeError(f"cov(): expected input to have two or fewer dimensions but got an input with "
                           f"{input.ndim} dimensions")
    x = reshape(_float(input), (1, -1)) if input.ndim < 2 else _float(input)
    n = x.shape[1]
    w = None
    if fweights is not None:
        w = _weights(fweights, "fweights", n, True)
    if aweights is not None:
        a = _weights(aweights, "aweights", n, False)
        w = a if w is None else w * a
    w_sum = n if w is None else sum(w)
    mean = sum(x if w is None else x * w, 1) / w_sum
    if w is not None and correction != 0:
        norm = w_sum - correction * (sum(w * aweights) / w_sum if aweights is not None else 1)
    else:
        norm = w_sum - correction
    if bool(norm <= 0):
        warnings.warn("cov(): degrees of freedom is <= 0. Correction should be strictly less than the number of "
                      "observations.", UserWarning, stacklevel=2)
        norm = norm * 0
    centred = x - unsqueeze(mean, 1)
    c = matmul(centred, transpose(centred if w is None else centred * w, 0, 1))
    with numpy.errstate(divide="ignore", invalid="ignore"):  # no degrees of freedom: inf and NaN, quietly
        out = c / norm
    return reshape(out, ()) if out.shape == (1, 1) else out


def corrcoef(input: Tensor) -> Tensor:
    """Pearson's correlation coefficients of the variables in the rows of ``input``:
    cov / (σ_i σ_j), clipped to [-1, 1] (NaN for a variable that does not vary)."""
    c = cov(input)
    if c.ndim == 0:
        return c / c
    std = sqrt(diagonal(c))
    return clamp(c / unsqueeze(std, 1) / unsqueeze(std, 0), -1, 1)


# --- calculus on samples -----------------------------------------------------------------------------

def diff(input: Tensor, n: int = 1, dim: int = -1, prepend: Tensor | None = None,
         append: Tensor | None = None) -> Tensor:
    """The n-th forward difference along ``dim`` (out[i] = x[i+1] - x[i], n times; exclusive
    or for bools), after joining ``prepend`` and ``append`` on either side."""
    if input.ndim == 0:
        raise RuntimeError("diff expects input to be at least one-dimensional")
    n = _int(n, "diff", "n")
    if n < 0:
        raise RuntimeError(f"diff: order must be non-negative but got {n}")
    d = _dim(dim, input.ndim, "diff")
    parts = []
    for name, extra in (("prepend", prepend), ("append", append)):
        if extra is not None:
            if not isinstance(extra, Tensor):
                raise TypeError(f"diff(): argument '{name}' must be Tensor, not {type(extra).__name__}")
            if extra.ndim != input.ndim:
                raise RuntimeError(f"diff expects prepend or append to be the same dimension as input, got "
                                   f"{name} of shape {tuple(extra.shape)} for input of shape {tuple(input.shape)}")
    x = cat([t for t in (prepend, input, append) if t is not None], d) if prepend is not None or append is not None \
        else input
    for _ in builtins.range(n):
        length = builtins.max(x.shape[d] - 1, 0)
        later, earlier = narrow(x, d, builtins.min(1, x.shape[d]), length), narrow(x, d, 0, length)
        x = logical_xor(later, earlier) if x.dtype == backend.bool_ else later - earlier
    return x


def _along(t: Tensor, d: int, shape_ndim: int) -> Tensor:
    """A 1-d tensor shaped to broadcast along dim ``d`` of a ``shape_ndim``-d tensor."""
    return reshape(t, (1,) * d + (-1,) + (1,) * (shape_ndim - d - 1))


def gradient(input: Tensor, *, spacing=1, dim=None, edge_order: int = 1) -> tuple:
    """The derivative of sampled values along each dim in ``dim`` (all by default), as
    NumPy's gradient: central differences inside (second-order accurate, also for uneven
    coordinates) and one-sided ones of order ``edge_order`` (1 or 2) at the edges.
    ``spacing``: a number (the step in every dim), a list of numbers (one per dim), or a
    list of 1-d tensors (the coordinates of the samples in each dim)."""
    if edge_order not in (1, 2):
        raise RuntimeError(f"torch.gradient only supports edge_order=1 and edge_order=2, got {edge_order}")
    dims = list(builtins.range(input.ndim)) if dim is None else \
        [_dim(d, input.ndim, "gradient") for d in ((dim,) if isinstance(dim, (int, numpy.integer)) else dim)]
    if isinstance(spacing, Tensor) and spacing.ndim == 0:
        spacing = spacing.item()
    if isinstance(spacing, (tuple, list)):
        if len(spacing) != len(dims):
            raise RuntimeError(f"torch.gradient expected spacing to be unspecified, a scalar, or a list of length "
                               f"{len(dims)} (one per dim), but got a list of length {len(spacing)}")
        kinds = {isinstance(s, Tensor) for s in spacing}
        if len(kinds) > 1:
            raise TypeError("gradient(): spacing must be all numbers or all tensors, not a mix")
        steps = list(spacing)
    elif isinstance(spacing, Tensor):
        raise TypeError("gradient(): spacing as coordinates is a list of 1-d tensors, one per dim")
    else:
        steps = [spacing] * len(dims)
    x = _float(input)
    for d in dims:
        if x.shape[d] < edge_order + 1:
            raise RuntimeError(f"torch.gradient expected each dimension size to be at least edge_order+1, got size "
                               f"{x.shape[d]} in dim {d}")
    return tuple(_coordinate_gradient(x, d, s, edge_order) if isinstance(s, Tensor)
                 else _uniform_gradient(x, d, s, edge_order) for d, s in zip(dims, steps))


def _uniform_gradient(x: Tensor, d: int, h, edge_order: int) -> Tensor:
    n = x.shape[d]

    def at(i, length=1):
        return narrow(x, d, i, length)
    inside = (at(2, n - 2) - at(0, n - 2)) / (2 * h)
    if edge_order == 1:
        first, last = (at(1) - at(0)) / h, (at(n - 1) - at(n - 2)) / h
    else:
        first = (at(0) * -3 + at(1) * 4 - at(2)) / (2 * h)
        last = (at(n - 1) * 3 - at(n - 2) * 4 + at(n - 3)) / (2 * h)
    return cat([first, inside, last], d)


def _coordinate_gradient(x: Tensor, d: int, coords: Tensor, edge_order: int) -> Tensor:
    n = x.shape[d]
    if coords.ndim != 1 or coords.shape[0] != n:
        raise RuntimeError(f"torch.gradient expected each tensor to be on the same device and to hold one "
                           f"coordinate per sample: dim {d} has {n} samples, the coordinates have shape "
                           f"{tuple(coords.shape)}")
    c = _along(_float(coords), d, x.ndim)

    def at(t, i, length=1):
        return narrow(t, d, i, length)
    h = at(c, 1, n - 1) - at(c, 0, n - 1)  # h[i] = c[i+1] - c[i]
    left, right = at(h, 0, n - 2), at(h, 1, n - 2)
    inside = (left * left * at(x, 2, n - 2) - right * right * at(x, 0, n - 2)
              + (right * right - left * left) * at(x, 1, n - 2)) / (left * right * (left + right))
    if edge_order == 1:
        first = (at(x, 1) - at(x, 0)) / at(h, 0)
        last = (at(x, n - 1) - at(x, n - 2)) / at(h, n - 2)
    else:
        a, b = at(h, 0), at(h, 1)
        first = (at(x, 0) * -(2 * a + b) / (a * (a + b)) + at(x, 1) * (a + b) / (a * b)
                 - at(x, 2) * a / (b * (a + b)))
        a, b = at(h, n - 3), at(h, n - 2)
        last = (at(x, n - 3) * b / (a * (a + b)) - at(x, n - 2) * (a + b) / (a * b)
                + at(x, n - 1) * (2 * b + a) / (b * (a + b)))
    return cat([first, inside, last], d)


def _intervals(y: Tensor, x, dx, dim: int, op: str) -> tuple:
    """(the widths of the intervals between samples along ``dim``, the dim): a number, or a
    tensor broadcasting against the interval sums."""
    if x is not None and dx is not None:
        raise TypeError(f"{op}(): give the sample points x or the spacing dx, not both")
    if y.ndim == 0:
        raise IndexError(f"{op}(): dim {dim} is out of range for a 0-d tensor")
    d = _dim(dim, y.ndim, op)
    if x is None:
        return (1 if dx is None else dx), d
    if not isinstance(x, Tensor):
        raise TypeError(f"{op}(): argument 'x' must be a Tensor, not {type(x).__name__} (use dx= for a spacing)")
    if x.ndim == 1:
        if x.shape[0] != y.shape[d]:
            raise RuntimeError(f"{op}: there must be one `x` value for each sample point, got {x.shape[0]} for "
                               f"{y.shape[d]} samples")
        x = _along(x, d, y.ndim)
    elif x.ndim < y.ndim:
        x = reshape(x, (1,) * (y.ndim - x.ndim) + x.shape)
    n = x.shape[d]
    return narrow(x, d, builtins.min(1, n), builtins.max(n - 1, 0)) - narrow(x, d, 0, builtins.max(n - 1, 0)), d


def _pair_sums(y: Tensor, d: int) -> Tensor:
    """y[i] + y[i+1] along dim d (one fewer entry)."""
    n = builtins.max(y.shape[d] - 1, 0)
    return narrow(y, d, builtins.min(1, y.shape[d]), n) + narrow(y, d, 0, n)


def trapezoid(y: Tensor, x: Tensor | None = None, *, dx=None, dim: int = -1) -> Tensor:
    """The integral of the samples ``y`` along ``dim`` by the trapezoidal rule, at the points
    ``x`` (1-d, or broadcasting against y) or ``dx`` apart (1 by default)."""
    y = _float(y)
    widths, d = _intervals(y, x, dx, dim, "trapezoid")
    return sum(_pair_sums(y, d) * widths, d) / 2


trapz = trapezoid


def cumulative_trapezoid(y: Tensor, x: Tensor | None = None, *, dx=None, dim: int = -1) -> Tensor:
    """The running trapezoidal integral along ``dim``: one fewer entry than the samples."""
    y = _float(y)
    widths, d = _intervals(y, x, dx, dim, "cumulative_trapezoid")
    return cumsum(_pair_sums(y, d) * widths / 2, d)


# --- renorm -----------------------------------------------------------------------------------------

def renorm(input: Tensor, p: float, dim: int, maxnorm: float) -> Tensor:
    """Each slice along ``dim`` whose p-norm exceeds ``maxnorm`` scaled down to norm
    ``maxnorm`` (by maxnorm / (norm + 1e-7), as PyTorch); the others unchanged."""
    if input.ndim < 2:
        raise RuntimeError(f"renorm: input needs at least 2 dimensions, got {input.ndim} dimensions")
    if not p > 0:
        raise RuntimeError(f"renorm: non-positive-norm not supported, got p={p}")
    if maxnorm < 0:
        raise RuntimeError(f"renorm: expected maxnorm to be >= 0 but got {maxnorm}")
    if not backend.is_floating(input.dtype):
        raise RuntimeError(f"renorm: expected a floating-point tensor, got {input.dtype}")
    d = _dim(dim, input.ndim, "renorm")
    norms = vector_norm(input, p, tuple(i for i in builtins.range(input.ndim) if i != d), keepdim=True)
    return input * where(norms > maxnorm, maxnorm / (norms + 1e-7), 1.0)


# --- deprecated ----------------------------------------------------------------------------------------

def chain_matmul(*matrices, out=None) -> Tensor:
    """The product of a chain of matrices, deprecated as in PyTorch: use ``linalg.multi_dot``."""
    warnings.warn("nnkit.chain_matmul is deprecated and will be removed in a future release. Use "
                  "nnkit.linalg.multi_dot instead, which accepts a list of two or more tensors rather than "
                  "multiple parameters.", UserWarning, stacklevel=2)
    if out is not None:
        raise NotImplementedError("chain_matmul: out= is not supported")
    if not matrices:
        raise RuntimeError("chain_matmul(): Expected one or more matrices")
    for t in matrices:
        if t.ndim != 2:
            raise RuntimeError(f"chain_matmul: tensor dimension is {t.ndim}, expected 2 instead")
    return clone(matrices[0]) if len(matrices) == 1 else multi_dot(matrices)


# --- Tensor methods: memory ----------------------------------------------------------------------------

def stride(self, dim: int | None = None):
    """The step in elements between neighbours along each dim (a tuple), or along ``dim``."""
    strides = _element_strides(self.array)
    if dim is None:
        return strides
    return strides[_dim(dim, self.ndim, "stride")] if self.ndim else strides[dim]


def storage_offset(self) -> int:
    """Where the first element lies in the storage (the memory the tensor views), in elements."""
    return int(_storage(self.array)[1])


def data_ptr(self) -> int:
    """The address of the first element."""
    return int(_address(self.array))


def is_contiguous(self, memory_format=None) -> bool:
    """Whether the elements lie in memory in row-major order without gaps (dims of size 1
    do not count), as PyTorch's contiguous_format."""
    return bool(self.array.flags.c_contiguous)


def get_device(self) -> int:
    """The index of the GPU that holds the tensor, -1 on the CPU, as PyTorch."""
    return -1 if self._xp is numpy else int(self.array.device.id)


def pin_memory(self, device=None) -> Tensor:
    """The tensor itself: nnkit's host memory needs no pinning (CuPy copies from any)."""
    return self


def resize_(self, *sizes) -> Tensor:
    """Give the tensor a new shape in place, keeping its first elements (in row-major order);
    new places are zeros (PyTorch leaves them uninitialised)."""
    sizes = tuple(sizes[0]) if len(sizes) == 1 and isinstance(sizes[0], (tuple, list)) else sizes
    if self.requires_grad:
        raise RuntimeError("resize_: cannot resize variables that require grad")
    if builtins.any(n < 0 for n in sizes):
        raise RuntimeError(f"resize_: sizes must be non-negative, got {sizes}")
    count = int(numpy.prod(sizes))
    flat = self.array.reshape(-1)
    if count <= flat.shape[0] and self.array.flags.c_contiguous:
        self.array = flat[:count].reshape(sizes)  # the same memory, as PyTorch when it fits
    else:
        grown = self._xp.zeros(count, dtype=self.dtype)
        grown[:builtins.min(count, flat.shape[0])] = flat[:count]
        self.array = grown.reshape(sizes)
    self._counter()[0] += 1
    return self


def sum_to_size(self, *size) -> Tensor:
    """The sum of the tensor down to ``size``, which must broadcast to its shape (the adjoint
    of ``expand``)."""
    size = tuple(size[0]) if len(size) == 1 and isinstance(size[0], (tuple, list)) else size
    try:
        fits = len(size) <= self.ndim and broadcast_shapes(size, self.shape) == self.shape
    except RuntimeError:
        fits = False
    if not fits:
        raise RuntimeError(f"sum_to_size: size {list(size)} is not expandable to size {list(self.shape)}")
    return _sum_to(self, tuple(size))


# --- Tensor methods: filling -----------------------------------------------------------------------------

def apply_(self, callable) -> Tensor:
    """Replace each element x by ``callable(x)`` (a Python function of a number), in place;
    on the CPU only, outside the graph, and slowly, as in PyTorch."""
    if self._xp is not numpy:
        raise TypeError("apply_ is only implemented on CPU tensors")
    if self.requires_grad:
        raise RuntimeError("Can't call apply_() on a tensor that requires grad. Use t.detach().apply_() instead.")
    values = numpy.vectorize(callable, otypes=[self.dtype.dtype])(self.array) if self.numel() else self.array
    return self._fill_("apply_", Tensor._wrap(numpy.asarray(values, dtype=self.dtype.dtype)))


def fill_diagonal_(self, fill_value, wrap: bool = False) -> Tensor:
    """Write ``fill_value`` on the main diagonal (all dims of equal size beyond 2-d); for a
    tall matrix with ``wrap``, the diagonal starts again after every N + 1 rows, as NumPy's."""
    if self.ndim < 2:
        raise RuntimeError(f"fill_diagonal_: dimensions must be larger than 1, got shape {tuple(self.shape)}")
    if self.ndim > 2 and len(set(self.shape)) > 1:
        raise RuntimeError(f"fill_diagonal_: all dimensions of input must be of equal length, got shape "
                           f"{tuple(self.shape)}")
    mask = numpy.zeros(self.shape, dtype=bool)
    numpy.fill_diagonal(mask, True, wrap=wrap)
    mask = Tensor._wrap(backend.to_module(mask, self._xp))
    value = Tensor._wrap(self._xp.asarray(fill_value).astype(self.dtype.dtype))
    return self._inplace("fill_diagonal_", lambda t, v: where(mask, v, t), value)


def log_normal_(self, mean: float = 1.0, std: float = 2.0, *, generator=None) -> Tensor:
    """Fill with draws of exp(N(mean, std²)), the log-normal distribution."""
    _need_float(self, "log_normal_")
    if not std > 0:
        raise RuntimeError(f"log_normal_ expects std > 0.0, but found std={std}")
    return self._fill_("log_normal_", _random_array(lambda r: r.lognormal(mean, std, self.shape), self, generator))


def cauchy_(self, median: float = 0.0, sigma: float = 1.0, *, generator=None) -> Tensor:
    """Fill with draws of the Cauchy distribution: median + sigma · tan(π (u - 1/2))."""
    _need_float(self, "cauchy_")
    if not sigma > 0:
        raise RuntimeError(f"cauchy_ expects sigma > 0.0, but found sigma={sigma}")
    return self._fill_("cauchy_", _random_array(lambda r: median + sigma * r.standard_cauchy(self.shape), self,
                                                generator))


def _in_place(name: str, fn):
    """The method ``name``: ``fn(self, ...)`` written into the tensor."""
    def method(self, *args, **kwargs):
        return self._inplace(name, lambda t, *others: fn(t, *others, **kwargs), *args)
    method.__name__ = name
    return method


__all__ = ["gcd", "lcm", "ldexp", "nextafter", "result_type", "isin", "range", "tril_indices", "triu_indices",
           "unravel_index", "cartesian_prod", "combinations", "block_diag", "vander", "cdist", "pdist", "cov",
           "corrcoef", "diff", "gradient", "trapezoid", "trapz", "cumulative_trapezoid", "renorm", "chain_matmul"]

METHODS = {"gcd": gcd, "lcm": lcm, "ldexp": ldexp, "nextafter": nextafter, "cov": cov, "corrcoef": corrcoef,
           "diff": diff, "renorm": renorm, "multinomial": multinomial,
           **{name + "_": _in_place(name + "_", fn) for name, fn in
              (("gcd", gcd), ("lcm", lcm), ("ldexp", ldexp), ("nextafter", nextafter), ("renorm", renorm))},
           "stride": stride, "storage_offset": storage_offset, "data_ptr": data_ptr, "is_contiguous": is_contiguous,
           "get_device": get_device, "pin_memory": pin_memory, "is_pinned": lambda self: False,
           "ndimension": lambda self: self.ndim, "nelement": lambda self: self.numel(), "resize_": resize_,
           "sum_to_size": sum_to_size, "apply_": apply_, "fill_diagonal_": fill_diagonal_,
           "log_normal_": log_normal_, "cauchy_": cauchy_}
