"""Matrix products and linear algebra: matmul, einsum, mm, bmm, the add* family, cross, kron, inverse...

Most products are written with ``matmul`` or ``einsum`` and need no backward of their own.
``einsum``'s backward is an einsum too, so it is differentiable any number of times.
"""

from __future__ import annotations

import string
import warnings

import numpy

from .. import backend
from ..amp import autocast_op
from ..tensor import Tensor
from .base import _dim, _dims, _make, _operands, _saved, _sum_to, expand, to
from .elementwise import mul, where
from .reduction import amax, amin, sum
from .shape import broadcast_shapes, diagonal, permute, reshape, roll, squeeze, transpose, unsqueeze


class LinAlgError(RuntimeError):
    """A matrix that the operation cannot handle (a singular matrix to invert, say), as
    ``torch.linalg.LinAlgError``."""


def _mT(a: Tensor) -> Tensor:
    return transpose(a, -1, -2)


def _same_dtype(op: str, *tensors: Tensor) -> None:
    """PyTorch's products do not promote: mixing dtypes is an error."""
    for t in tensors[1:]:
        if t.dtype != tensors[0].dtype:
            raise RuntimeError(f"{op}: expected all inputs to have the same dtype, got "
                               f"{', '.join(str(t.dtype) for t in tensors)}")


def _need_dims(op: str, t: Tensor, ndim: int, name: str) -> None:
    if t.ndim != ndim:
        raise RuntimeError(f"{op}: {name} must be a {ndim}-d tensor, got shape {tuple(t.shape)}")


@autocast_op("matmul")
def matmul(a: Tensor, b: Tensor) -> Tensor:
    """Matrix product with NumPy's rules: 1-d operands and batch broadcasting.

    For 2-d and batched operands: dL/da = g @ bᵀ, dL/db = aᵀ @ g.
    """
    a, b = _operands(a, b, "matmul")
    if a.ndim == 0 or b.ndim == 0:
        raise RuntimeError(f"matmul: both arguments need at least 1 dim, got shapes {tuple(a.shape)} and {tuple(b.shape)}")
    if a.shape[-1] != b.shape[-2 if b.ndim > 1 else 0]:
        raise RuntimeError(f"matmul: shapes {tuple(a.shape)} and {tuple(b.shape)} cannot be multiplied "
                           f"({a.shape[-1]} != {b.shape[-2 if b.ndim > 1 else 0]})")
    if a.ndim == 1:  # a row vector, dropped again (for 1-d @ 1-d, the inner call already dropped b's column)
        return squeeze(matmul(unsqueeze(a, 0), b), -2 if b.ndim > 1 else -1)
    if b.ndim == 1:
        return squeeze(matmul(a, unsqueeze(b, -1)), -1)
    try:
        out = backend.matmul(a.array, b.array)
    except ValueError:
        raise RuntimeError(f"matmul: batch shapes of {tuple(a.shape)} and {tuple(b.shape)} cannot be broadcast") from None

    def backward(g):
        ga = _sum_to(matmul(g, _mT(b)), a.shape) if need_a else None
        if not need_b:
            gb = None
        elif b.ndim == 2 and a.ndim > 2:
            # Fold the batch into rows: one big product instead of a batch then a sum.
            gb = matmul(_mT(reshape(a, (-1, a.shape[-1]))), reshape(g, (-1, g.shape[-1])))
        else:
            gb = _sum_to(matmul(_mT(a), g), b.shape)
        return ga, gb
    need_a, need_b = a.requires_grad, b.requires_grad
    saved = (b,) if not need_b else (a,) if not need_a else (a, b)
    return _make(out, (a, b), backward, "Matmul", saved)


# --- einsum ------------------------------------------------------------------------------------

_LABELS = string.ascii_uppercase + string.ascii_lowercase  # sublist label k is _LABELS[k], as PyTorch numbers them


def einsum(*args) -> Tensor:
    """Einstein summation, as ``torch.einsum``: ``einsum("ij,jk->ik", a, b)``.

    The output is given after ``->`` or implied (the labels that appear once, sorted);
    ``...`` stands for broadcast dims; a label repeated in one operand takes a diagonal
    (``"ii->i"``), and labels missing from the output are summed over (``"ii"`` is the
    trace). Also the sublist form ``einsum(a, [0, 1], b, [1, 2], [0, 2])``, and the
    operands given as one list.
    """
    if args and isinstance(args[0], str):
        equation, operands = args[0], args[1:]
        if len(operands) == 1 and isinstance(operands[0], (tuple, list)):
            operands = tuple(operands[0])
    else:
        equation, operands = _sublist_equation(args)
    if not operands:
        raise ValueError("einsum(): must specify the equation string and at least one operand")
    for t in operands:
        if not isinstance(t, Tensor):
            raise TypeError(f"einsum(): operands must be tensors, got {type(t).__name__}")
    _same_dtype("einsum()", *operands)
    terms, out = _parse_einsum(equation.replace(" ", ""), operands)
    sizes = {}
    for i, (term, t) in enumerate(zip(terms, operands)):
        seen = {}
        for label, n in zip(term, t.shape):
            if seen.setdefault(label, n) != n:
                raise RuntimeError(f"einsum(): subscript {label} is repeated for operand {i} but the sizes don't "
                                   f"match, {seen[label]} != {n}")
            if sizes.get(label, 1) not in (1, n) and n != 1:
                raise RuntimeError(f"einsum(): subscript {label} has size {n} for operand {i} which does not "
                                   f"broadcast with previously seen size {sizes[label]}")
            sizes[label] = n if sizes.get(label, 1) == 1 else sizes[label]
    # Dims of size 1 against a bigger size are broadcast (a view); the gradient is summed back.
    operands = tuple(expand(t, tuple(sizes[label] for label in term)) for term, t in zip(terms, operands))
    return _einsum(terms, out, operands)


def _sublist_equation(args: tuple) -> tuple:
    """``(a, [0, 1], b, [1, 2], [0, 2])`` as ``("AB,BC->AC", (a, b))``."""
    if len(args) < 2:
        raise ValueError("einsum(): must specify the equation string and at least one operand, or at least one "
                         "operand and its subscripts list")

    def letters(sublist) -> str:
        return "".join("..." if s is Ellipsis else _LABELS[s] for s in sublist)
    operands, terms = args[0:len(args) - len(args) % 2:2], args[1::2]
    equation = ",".join(letters(s) for s in terms[:len(operands)])
    if len(args) % 2:
        equation += "->" + letters(args[-1])
    return equation, operands


def _parse_einsum(equation: str, operands: tuple) -> tuple:
    """The equation with ``...`` replaced by labels of their own: (terms, output)."""
    lhs, arrow, rhs = equation.partition("->")
    inputs = lhs.split(",")
    if len(inputs) != len(operands):
        which = "fewer" if len(operands) < len(inputs) else "more"
        raise RuntimeError(f"einsum(): {which} operands were provided than specified in the equation")
    for part in inputs + ([rhs] if arrow else []):
        bare = part.replace("...", "", 1)
        for c in bare:
            if c not in _LABELS:
                raise RuntimeError(f"einsum(): invalid subscript {c!r} in the equation {equation!r}; subscripts "
                                   "must be in [a-zA-Z], with at most one ellipsis '...' per operand")
    free = [c for c in _LABELS if c not in equation]
    widths = []
    for i, (part, t) in enumerate(zip(inputs, operands)):
        named = len(part.replace("...", ""))
        if ("..." in part and named > t.ndim) or ("..." not in part and named != t.ndim):
            raise RuntimeError(f"einsum(): the number of subscripts in the equation ({named}) does not match the "
                               f"number of dimensions ({t.ndim}) for operand {i}"
                               f"{'' if '...' in part else ' and no ellipsis was given'}")
        widths.append(t.ndim - named if "..." in part else 0)
    ellipsis = "".join(free[:max(widths)])
    terms = tuple(part.replace("...", ellipsis[len(ellipsis) - w:]) for part, w in zip(inputs, widths))
    if not arrow:
        counts = "".join(terms)
        out = ellipsis + "".join(sorted(c for c in set(counts) if counts.count(c) == 1 and c not in ellipsis))
    else:
        out = rhs.replace("...", ellipsis)
        for c in out:
            if out.count(c) > 1:
                raise RuntimeError(f"einsum(): output subscript {c} appears more than once in the output")
            if c not in "".join(terms):
                raise RuntimeError(f"einsum(): output subscript {c} does not appear in the equation for any input "
                                   "operand")
    return terms, out


def _einsum(terms: tuple, out: str, operands: tuple) -> Tensor:
    """The einsum primitive, on labels of consistent sizes. The gradient of operand i is
    the einsum of the upstream gradient with the other operands, onto operand i's labels."""
    dtype = operands[0].dtype
    wide = backend.float32 if dtype.itemsize == 2 and backend.is_floating(dtype) else dtype  # as PyTorch on the CPU
    arrays = [t.array.astype(wide, copy=False) for t in operands]
    array = operands[0]._xp.einsum(",".join(terms) + "->" + out, *arrays, optimize=len(arrays) > 1)
    array = array.astype(dtype, copy=False)

    def backward(g):
        return tuple(_einsum_grad(g, i, terms, out, operands) if t.requires_grad else None
                     for i, t in enumerate(operands))
    return _make(array, operands, backward, "Einsum")


def _einsum_grad(g: Tensor, i: int, terms: tuple, out: str, operands: tuple) -> Tensor:
    term, t = terms[i], operands[i]
    unique = "".join(dict.fromkeys(term))
    sizes = dict(zip(term, t.shape))
    rest = [j for j in range(len(terms)) if j != i]
    reachable = set(out).union(*(terms[j] for j in rest))
    kept = "".join(c for c in unique if c in reachable)
    grad = _einsum((out,) + tuple(terms[j] for j in rest), kept, (g,) + tuple(operands[j] for j in rest))
    if kept != unique:  # labels summed in this operand alone: the gradient is the same all along them
        grad = expand(reshape(grad, tuple(sizes[c] if c in kept else 1 for c in unique)),
                      tuple(sizes[c] for c in unique))
    if unique != term:  # a repeated label took a diagonal: the gradient goes back onto it
        free = iter(c for c in _LABELS if c not in "".join(terms) + out)
        spread, eyes, eye_terms = [], [], []
        for k, c in enumerate(term):
            if c in term[:k]:
                spread.append(next(free))
                eyes.append(Tensor._wrap(t._xp.eye(sizes[c], dtype=t.dtype)))
                eye_terms.append(c + spread[-1])
            else:
                spread.append(c)
        grad = _einsum((unique,) + tuple(eye_terms), "".join(spread), (grad,) + tuple(eyes))
    return grad


# --- products of matrices and vectors ------------------------------------------------------------

def mm(input: Tensor, mat2: Tensor) -> Tensor:
    """The product of two matrices (2-d only; ``matmul`` broadcasts)."""
    _need_dims("mm", input, 2, "input")
    _need_dims("mm", mat2, 2, "mat2")
    _same_dtype("mm", input, mat2)
    if input.shape[1] != mat2.shape[0]:
        raise RuntimeError(f"mm: shapes {tuple(input.shape)} and {tuple(mat2.shape)} cannot be multiplied")
    return matmul(input, mat2)


@autocast_op("bmm")
def bmm(input: Tensor, mat2: Tensor) -> Tensor:
    """Batched matrix product of (b, n, m) and (b, m, p) (3-d only, no broadcasting)."""
    _check_batches("bmm", input, mat2)
    return matmul(input, mat2)


def _check_batches(op: str, batch1: Tensor, batch2: Tensor) -> None:
    _need_dims(op, batch1, 3, "the first batch")
    _need_dims(op, batch2, 3, "the second batch")
    _same_dtype(op, batch1, batch2)
    if batch2.shape[:2] != (batch1.shape[0], batch1.shape[2]):
        raise RuntimeError(f"{op}: batches of shapes {tuple(batch1.shape)} and {tuple(batch2.shape)} cannot be "
                           f"multiplied (the second's first two dims must be {(batch1.shape[0], batch1.shape[2])})")


def mv(input: Tensor, vec: Tensor) -> Tensor:
    """Matrix times vector."""
    _need_dims("mv", input, 2, "input")
    _need_dims("mv", vec, 1, "vec")
    _same_dtype("mv", input, vec)
    if input.shape[1] != vec.shape[0]:
        raise RuntimeError(f"mv: size mismatch, matrix {tuple(input.shape)} and vector {tuple(vec.shape)}")
    return matmul(input, vec)


def dot(input: Tensor, other: Tensor) -> Tensor:
    """The dot product of two 1-d tensors of the same size and dtype."""
    _need_dims("dot", input, 1, "input")
    _need_dims("dot", other, 1, "other")
    _same_dtype("dot", input, other)
    if input.shape != other.shape:
        raise RuntimeError(f"dot: inconsistent sizes {input.shape[0]} and {other.shape[0]}")
    return matmul(input, other)


def vdot(input: Tensor, other: Tensor) -> Tensor:
    """The dot product with the first vector conjugated: for nnkit's real tensors, ``dot``."""
    return dot(input, other)


def inner(input: Tensor, other: Tensor) -> Tensor:
    """Sum over the last dims of both (a 0-d operand multiplies): shape ``input.shape[:-1] + other.shape[:-1]``."""
    _same_dtype("inner", input, other)
    if input.ndim == 0 or other.ndim == 0:
        return mul(input, other)
    if input.shape[-1] != other.shape[-1]:
        raise RuntimeError(f"inner: the last dims must match, got shapes {tuple(input.shape)} and "
                           f"{tuple(other.shape)}")
    return tensordot(input, other, ([-1], [-1]))


def outer(input: Tensor, vec2: Tensor) -> Tensor:
    """The outer product of two vectors: ``out[i, j] = input[i] * vec2[j]``."""
    _need_dims("outer", input, 1, "input")
    _need_dims("outer", vec2, 1, "vec2")
    return mul(unsqueeze(input, 1), unsqueeze(vec2, 0))


ger = outer


def kron(input: Tensor, other: Tensor) -> Tensor:
    """The Kronecker product: each entry of ``input`` times the whole of ``other``, laid out in blocks."""
    n = max(input.ndim, other.ndim)
    a = reshape(input, (1,) * (n - input.ndim) + input.shape)
    b = reshape(other, (1,) * (n - other.ndim) + other.shape)
    # a's dims at even places, b's at odd places: the product's dims pair up into blocks.
    spread_a = reshape(a, tuple(x for s in a.shape for x in (s, 1)))
    spread_b = reshape(b, tuple(x for s in b.shape for x in (1, s)))
    return reshape(mul(spread_a, spread_b), tuple(p * q for p, q in zip(a.shape, b.shape)))


def tensordot(a: Tensor, b: Tensor, dims=2) -> Tensor:
    """Sum over the last ``dims`` dims of ``a`` and the first of ``b`` (an int), or over
    the dims listed in a pair ``([a's dims], [b's dims])``."""
    _same_dtype("tensordot", a, b)
    if isinstance(dims, Tensor):
        dims = dims.item() if dims.ndim == 0 else dims.tolist()
    if isinstance(dims, (int, numpy.integer)):
        if dims < 0 or dims > min(a.ndim, b.ndim):
            raise RuntimeError(f"tensordot: dims must be between 0 and the smaller ndim ({min(a.ndim, b.ndim)}), "
                               f"got {dims}")
        dims_a, dims_b = list(range(a.ndim - dims, a.ndim)), list(range(dims))
    else:
        dims_a, dims_b = ([d] if isinstance(d, (int, numpy.integer)) else list(d) for d in dims)
    if len(dims_a) != len(dims_b):
        raise RuntimeError(f"tensordot: both dim lists must have the same length, got {dims_a} and {dims_b}")
    dims_a = [_dim(d, a.ndim, "tensordot") for d in dims_a]
    dims_b = [_dim(d, b.ndim, "tensordot") for d in dims_b]
    for dims_x, name in ((dims_a, "a"), (dims_b, "b")):
        if len(set(dims_x)) != len(dims_x):
            raise RuntimeError(f"tensordot: a dim appears more than once in {name}'s dims {dims_x}")
    for da, db in zip(dims_a, dims_b):
        if a.shape[da] != b.shape[db]:
            raise RuntimeError(f"tensordot: contracted dims must match, but a has size {a.shape[da]} in dim {da} "
                               f"and b has size {b.shape[db]} in dim {db}")
    labels = iter(_LABELS)
    term_a = [next(labels) for _ in range(a.ndim)]
    term_b = [next(labels) for _ in range(b.ndim)]
    for da, db in zip(dims_a, dims_b):
        term_b[db] = term_a[da]
    out = [c for k, c in enumerate(term_a) if k not in dims_a] + [c for k, c in enumerate(term_b) if k not in dims_b]
    return _einsum(("".join(term_a), "".join(term_b)), "".join(out), (a, b))


def cross(input: Tensor, other: Tensor, dim: int | None = None) -> Tensor:
    """The cross product of 3-vectors along ``dim``, with broadcasting.

    Without ``dim``, as documented for ``torch.cross``: the first dim of ``input`` of size 3
    (with a deprecation warning; ``linalg.cross`` defaults to the last dim instead).
    """
    if dim is None:
        warnings.warn("cross: using cross without specifying the dim arg is deprecated; pass the dim explicitly "
                      "or use linalg.cross (whose default is dim=-1)", UserWarning, stacklevel=2)
        dim = next((d for d, n in enumerate(input.shape) if n == 3), None)
        if dim is None:
            raise RuntimeError(f"cross: no dim of size 3 in input of shape {tuple(input.shape)}")
    return _cross(input, other, dim, "cross")


def _cross(input: Tensor, other: Tensor, dim: int, op: str) -> Tensor:
    _same_dtype(op, input, other)
    if input.ndim != other.ndim:
        raise RuntimeError(f"{op}: inputs must have the same number of dims, got shapes {tuple(input.shape)} and "
                           f"{tuple(other.shape)}")
    d = _dim(dim, input.ndim, op)
    if input.shape[d] != 3 or other.shape[d] != 3:
        raise RuntimeError(f"{op}: inputs dim {dim} must have length 3, got {input.shape[d]} and {other.shape[d]}")
    shape = broadcast_shapes(input.shape, other.shape)
    a, b = expand(input, shape), expand(other, shape)
    # Component i is a[i+1] b[i+2] - a[i+2] b[i+1]: rolling by -1 and -2 brings i+1 and i+2 to i.
    return roll(a, -1, d) * roll(b, -2, d) - roll(a, -2, d) * roll(b, -1, d)


def trace(input: Tensor) -> Tensor:
    """The sum of the main diagonal of a matrix (integers give int64)."""
    _need_dims("trace", input, 2, "input")
    return sum(diagonal(input))


# --- inverse and powers ----------------------------------------------------------------------------

def inverse(input: Tensor) -> Tensor:
    """The inverse of a square matrix (or of each in a batch): d(A⁻¹) = -A⁻¹ dA A⁻¹, so the
    gradient is -A⁻ᵀ g A⁻ᵀ."""
    _square("inverse", input)
    if not backend.is_floating(input.dtype):
        raise RuntimeError(f"inverse: expected a floating-point tensor, got {input.dtype}")
    try:
        out = input._xp.linalg.inv(input.array)
    except numpy.linalg.LinAlgError:  # CuPy raises NumPy's too
        raise LinAlgError(f"inverse: a matrix of the input of shape {tuple(input.shape)} is singular, it has no "
                           "inverse") from None

    def backward(g):
        inv_t = _mT(_saved(out, lambda: inverse(input)))
        return (-matmul(matmul(inv_t, g), inv_t),)
    return _make(out, (input,), backward, "Inverse", (), output=True)


def _square(op: str, input: Tensor) -> None:
    if input.ndim < 2 or input.shape[-1] != input.shape[-2]:
        raise RuntimeError(f"{op}: expected a square matrix or a batch of them, got shape {tuple(input.shape)}")


def matrix_power(input: Tensor, n: int) -> Tensor:
    """The matrix to the power ``n`` (each in a batch), by repeated squaring; ``n`` = 0
    gives the identity, a negative ``n`` the power of the inverse."""
    if isinstance(n, bool) or not isinstance(n, (int, numpy.integer)):
        raise TypeError(f"matrix_power: n must be an int, got {n!r}")
    _square("matrix_power", input)
    if n == 0:
        # A constant, as in PyTorch: the result does not require grad.
        eye = input._xp.eye(input.shape[-1], dtype=input.dtype)
        return Tensor._wrap(input._xp.broadcast_to(eye, input.shape).copy())
    base, n = (inverse(input), -n) if n < 0 else (input, n)
    result = None
    while n:
        if n & 1:
            result = base if result is None else matmul(result, base)
        n >>= 1
        if n:
            base = matmul(base, base)
    return result


# --- scaled sums with products: beta * input + alpha * product -----------------------------------

def _scaled_sum(op: str, input: Tensor, product: Tensor, beta, alpha) -> Tensor:
    """``beta * input + alpha * product``, with ``input`` broadcast to the product's shape;
    with ``beta == 0``, ``input`` is ignored (its NaNs do not spread), as in PyTorch."""
    try:
        fits = broadcast_shapes(input.shape, product.shape) == product.shape
    except RuntimeError:
        fits = False
    if not fits:
        raise RuntimeError(f"{op}: input of shape {tuple(input.shape)} cannot be broadcast to the product's shape "
                           f"{tuple(product.shape)}")
    scaled = product if alpha == 1 else product * alpha
    if beta == 0:
        return scaled
    return scaled + (input if beta == 1 else input * beta)


def addmm(input: Tensor, mat1: Tensor, mat2: Tensor, *, beta=1, alpha=1) -> Tensor:
    """``beta * input + alpha * (mat1 @ mat2)``."""
    _same_dtype("addmm", input, mat1, mat2)
    return _scaled_sum("addmm", input, mm(mat1, mat2), beta, alpha)


def addmv(input: Tensor, mat: Tensor, vec: Tensor, *, beta=1, alpha=1) -> Tensor:
    """``beta * input + alpha * (mat @ vec)``."""
    _same_dtype("addmv", input, mat, vec)
    return _scaled_sum("addmv", input, mv(mat, vec), beta, alpha)


def addr(input: Tensor, vec1: Tensor, vec2: Tensor, *, beta=1, alpha=1) -> Tensor:
    """``beta * input + alpha * outer(vec1, vec2)``."""
    _same_dtype("addr", input, vec1, vec2)
    return _scaled_sum("addr", input, outer(vec1, vec2), beta, alpha)


def baddbmm(input: Tensor, batch1: Tensor, batch2: Tensor, *, beta=1, alpha=1) -> Tensor:
    """``beta * input + alpha * bmm(batch1, batch2)``, batch by batch."""
    _same_dtype("baddbmm", input, batch1, batch2)
    return _scaled_sum("baddbmm", input, bmm(batch1, batch2), beta, alpha)


def addbmm(input: Tensor, batch1: Tensor, batch2: Tensor, *, beta=1, alpha=1) -> Tensor:
    """``beta * input + alpha * (the sum over the batch of batch1[b] @ batch2[b])``."""
    _same_dtype("addbmm", input, batch1, batch2)
    _check_batches("addbmm", batch1, batch2)
    b, n, m = batch1.shape
    # The sum of the products is one product: (n, b*m) @ (b*m, p).
    rows = reshape(permute(batch1, (1, 0, 2)), (n, b * m))
    return _scaled_sum("addbmm", input, matmul(rows, reshape(batch2, (b * m, -1))), beta, alpha)


# --- torch.linalg's own functions (nnkit.linalg re-exports them) -------------------------------------

def solve(A: Tensor, B: Tensor, *, left: bool = True) -> Tensor:
    """The solution X of A X = B (or X A = B with ``left=False``), batched and broadcast;
    ``B`` of shape ``(*, n)`` (exactly A's batch and n) or 1-d is a vector.

    Gradients: with G the upstream gradient, dB = A⁻ᵀ G (another solve) and dA = -dB Xᵀ.
    """
    _square("linalg.solve", A)
    _same_dtype("linalg.solve", A, B)
    if not backend.is_floating(A.dtype):
        raise RuntimeError(f"linalg.solve: expected floating-point tensors, got {A.dtype}")
    if not left:  # X A = B is Aᵀ Xᵀ = Bᵀ
        return _mT(solve(_mT(A), _mT(B)))
    vector = B.ndim == 1 or B.shape == A.shape[:-1]
    columns = unsqueeze(B, -1) if vector else B
    if columns.ndim < 2 or columns.shape[-2] != A.shape[-1]:
        raise RuntimeError(f"linalg.solve: incompatible shapes of A {tuple(A.shape)} and B {tuple(B.shape)} for "
                           "the equation AX = B")
    try:
        broadcast_shapes(A.shape[:-2], columns.shape[:-2])
    except RuntimeError:
        raise RuntimeError(f"linalg.solve: the batch shapes of A {tuple(A.shape)} and B {tuple(B.shape)} cannot be "
                           "broadcast") from None
    out = _solve(A, columns)
    return squeeze(out, -1) if vector else out


def _solve(A: Tensor, B: Tensor) -> Tensor:
    try:
        out = A._xp.linalg.solve(A.array, B.array)
    except numpy.linalg.LinAlgError:
        raise LinAlgError(f"linalg.solve: a matrix of A (shape {tuple(A.shape)}) is singular") from None

    def backward(g):
        gB = _solve(_mT(A), g)
        X = _saved(out, lambda: _solve(A, B))
        return _sum_to(-matmul(gB, _mT(X)), A.shape), _sum_to(gB, B.shape)
    return _make(out, (A, B), backward, "Solve", (A,), output=True)


def vector_norm(x: Tensor, ord=2, dim=None, keepdim: bool = False, *, dtype=None) -> Tensor:
    """The ``ord``-norm of ``x`` over ``dim`` (all dims when None or empty), as a vector:
    (Σ|x|^ord)^(1/ord); ``inf`` and ``-inf`` give max and min |x|, 0 the count of nonzeros.

    As in PyTorch, the gradient is 0 where x is 0 or the norm is 0 (the formula is 0/0 there).
    """
    x = _norm_input(x, dtype, "linalg.vector_norm")
    if isinstance(ord, str):
        raise TypeError(f"linalg.vector_norm: ord must be a number, got {ord!r}")
    dims = _dims(dim, x.ndim, "linalg.vector_norm") if dim not in (None, (), []) else None
    if ord in (float("inf"), -float("inf")):
        if x.numel() == 0:
            raise RuntimeError(f"linalg.vector_norm: cannot compute the {ord} norm of an empty tensor")
        extreme = amax if ord > 0 else amin
        return extreme(x.abs(), tuple(range(x.ndim)) if dims is None else dims, keepdim)
    if ord == 0:  # a count: a constant, no gradient
        return to(sum(x != 0, dims, keepdim), x.dtype).detach()
    return _pnorm(x, float(ord), dims, keepdim)


def _norm_input(x: Tensor, dtype, op: str) -> Tensor:
    if dtype is not None:
        dtype = numpy.dtype(dtype)
        if not backend.is_floating(dtype):
            raise RuntimeError(f"{op}: dtype should be floating point, got {dtype}")
        if backend.is_floating(x.dtype) and dtype.itemsize < x.dtype.itemsize:
            raise RuntimeError(f"{op}: the dtype of the input ({x.dtype}) should be convertible without narrowing "
                               f"to the specified dtype ({dtype})")
        x = to(x, dtype)
    if not backend.is_floating(x.dtype):
        raise RuntimeError(f"{op}: expected a floating-point tensor as input, got {x.dtype}")
    return x


def _pnorm(x: Tensor, p: float, dims, keepdim: bool) -> Tensor:
    """(Σ|x|^p)^(1/p) for a finite p other than 0."""
    a = x._xp.abs(x.array)
    if p == 2:
        kept = x._xp.sqrt((a * a).sum(axis=dims, keepdims=True))
    elif p == 1:
        kept = a.sum(axis=dims, keepdims=True)
    else:
        with numpy.errstate(divide="ignore"):  # a negative order at 0: inf, and a norm of 0, as PyTorch
            kept = (a ** p).sum(axis=dims, keepdims=True) ** (1 / p)

    def backward(g):
        # d/dx = sign(x) (|x| / norm)^(p-1); the safe stand-ins keep 0/0 out of the graph, so that
        # the second derivative is finite too.
        norm = _saved(kept, lambda: _pnorm(x, p, dims, True))
        zero = (x == 0) | (norm == 0)
        ratio = where(zero, 1.0, x.abs()) / where(norm == 0, 1.0, norm)
        slope = where(zero, 0.0, x.sign() * (ratio if p == 2 else ratio ** (p - 1)))
        return (reshape(g, kept.shape) * slope,)
    out = kept if keepdim else kept.reshape(tuple(n for i, n in enumerate(kept.shape) if dims is not None
                                                  and i not in dims))
    return _make(out, (x,), backward, "VectorNorm", output=True)


_MATRIX_ORDS = ("fro", 1, -1, float("inf"), -float("inf"))


def matrix_norm(A: Tensor, ord="fro", dim=(-2, -1), keepdim: bool = False, *, dtype=None) -> Tensor:
    """The matrix norm of the matrices in ``dim``: ``"fro"`` (the entries as one vector),
    1 / -1 (the largest / smallest column sum of |A|), inf / -inf (the same for rows).
    The singular-value norms (``"nuc"``, 2, -2) are not supported."""
    A = _norm_input(A, dtype, "linalg.matrix_norm")
    if A.ndim < 2:
        raise RuntimeError(f"linalg.matrix_norm: the input must have at least 2 dims, got shape {tuple(A.shape)}")
    d0, d1 = (_dim(d, A.ndim, "linalg.matrix_norm") for d in dim)
    if d0 == d1:
        raise RuntimeError(f"linalg.matrix_norm: dims must be different, got {tuple(dim)}")
    if ord in ("nuc", 2, -2):
        raise NotImplementedError(f"linalg.matrix_norm: ord={ord!r} needs singular values, which nnkit does not "
                                  "compute; use 'fro', 1, -1, inf or -inf")
    if ord not in _MATRIX_ORDS:
        raise RuntimeError(f"linalg.matrix_norm: order {ord!r} is not supported")
    if ord == "fro":
        return _pnorm(A, 2.0, tuple(sorted((d0, d1))), keepdim)
    summed, across = (d0, d1) if ord in (1, -1) else (d1, d0)  # 1: sum down columns, then across them
    extreme = amax if ord > 0 else amin
    out = extreme(sum(A.abs(), summed, keepdim=True), across, keepdim=True)
    return out if keepdim else squeeze(out, (d0, d1))


def linalg_norm(A: Tensor, ord=None, dim=None, keepdim: bool = False, *, dtype=None) -> Tensor:
    """``torch.linalg.norm``: a vector norm over one dim (or all, with neither ``ord`` nor
    ``dim``), a matrix norm over two dims (string ``ord``s are matrix norms)."""
    if isinstance(dim, (int, numpy.integer)):
        dim = (dim,)
    if dim is None and ord is not None:
        if A.ndim not in (1, 2):
            raise RuntimeError(f"linalg.norm: if dim is not given but ord is, the input must be 1-d or 2-d, got "
                               f"shape {tuple(A.shape)}")
        dim = (0,) if A.ndim == 1 and not isinstance(ord, str) else (-2, -1)
    if dim is None or len(dim) == 1:
        if isinstance(ord, str):
            raise RuntimeError(f"linalg.norm: ord {ord!r} is a matrix norm, over 2 dims, got dim {dim}")
        return vector_norm(A, 2 if ord is None else ord, dim, keepdim, dtype=dtype)
    if len(dim) == 2:
        return matrix_norm(A, "fro" if ord is None else ord, dim, keepdim, dtype=dtype)
    raise RuntimeError(f"linalg.norm: if dim is given, it must name 1 or 2 dims, got {tuple(dim)}")


def vecdot(x: Tensor, y: Tensor, *, dim: int = -1) -> Tensor:
    """The dot products of the vectors along ``dim`` (with broadcasting)."""
    _same_dtype("linalg.vecdot", x, y)
    if not backend.is_floating(x.dtype):
        raise RuntimeError(f"linalg.vecdot: expected floating-point tensors, got {x.dtype}")
    return sum(mul(x, y), dim)


def multi_dot(tensors) -> Tensor:
    """The product of a chain of matrices; the first may be a row vector and the last a
    column vector (1-d), which are dropped from the result."""
    tensors = list(tensors)
    if len(tensors) < 2:
        raise RuntimeError(f"linalg.multi_dot: expected at least 2 tensors, got {len(tensors)}")
    _same_dtype("linalg.multi_dot", *tensors)
    for i, t in enumerate(tensors):
        allowed = (1, 2) if i in (0, len(tensors) - 1) else (2,)
        if t.ndim not in allowed:
            raise RuntimeError(f"linalg.multi_dot: tensor {i} must be {' or '.join(f'{n}-d' for n in allowed)}, "
                               f"got shape {tuple(t.shape)}")
    out = tensors[0]
    for t in tensors[1:]:
        out = matmul(out, t)
    return out


def _inplace(name: str, fn):
    """The in-place method ``name`` (``addmm_``...): ``self`` becomes ``fn(self, ...)``."""
    return lambda self, *args, **kwargs: self._inplace(name, lambda t, *o: fn(t, *o, **kwargs), *args)


__all__ = ["matmul", "einsum", "mm", "bmm", "mv", "dot", "vdot", "inner", "outer", "ger", "kron", "tensordot",
           "cross", "trace", "inverse", "matrix_power", "addmm", "addmv", "addr", "baddbmm", "addbmm"]

METHODS = {**{name: globals()[name] for name in __all__ if name not in ("einsum", "tensordot")},
           "__matmul__": matmul, "__rmatmul__": lambda self, other: matmul(other, self),
           **{name + "_": _inplace(name + "_", globals()[name]) for name in ("addmm", "addmv", "addr", "baddbmm",
                                                                               "addbmm")}}
