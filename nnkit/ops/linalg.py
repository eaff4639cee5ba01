"""Matrix products and linear algebra: matmul, einsum, mm, bmm, the add* family, cross, kron, inverse...

Most products are written with ``matmul`` or ``einsum`` and need no backward of their own.
``einsum``'s backward is an einsum too, so it is differentiable any number of times.
"""

from __future__ import annotations

import functools
import math
import string
import warnings
from typing import NamedTuple

import numpy

from .. import backend
from ..amp import autocast_op
from ..autograd import Node, _GradMode
from ..autograd.function import _keyed
from ..tensor import Tensor
from .base import _dim, _dims, _make, _operands, _saved, _sum_to, expand, to
from .elementwise import log, mul, where
from .reduction import amax, amin, sum
from .shape import (broadcast_shapes, cat, diag_embed, diagonal, narrow, permute, reshape, roll, squeeze, transpose,
                    tril, unsqueeze)


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


# --- decompositions: determinants, SVD, eigh, QR, Cholesky, the pseudo-inverse, matrix_exp ------------

class SlogdetResult(NamedTuple):
    sign: Tensor
    logabsdet: Tensor


class SVDResult(NamedTuple):
    """``linalg.svd``'s result: A = U diag(S) Vh."""
    U: Tensor
    S: Tensor
    Vh: Tensor


class SvdResult(NamedTuple):
    """``svd``'s (the older function's) result: A = U diag(S) Vᵀ."""
    U: Tensor
    S: Tensor
    V: Tensor


class EighResult(NamedTuple):
    eigenvalues: Tensor
    eigenvectors: Tensor


class QRResult(NamedTuple):
    Q: Tensor
    R: Tensor


class LstsqResult(NamedTuple):
    solution: Tensor
    residuals: Tensor
    rank: Tensor
    singular_values: Tensor


def _float_matrices(op: str, A: Tensor, square: bool = False) -> None:
    if not isinstance(A, Tensor):
        raise TypeError(f"{op}(): argument 'A' must be a Tensor, not {type(A).__name__}")
    if A.ndim < 2:
        raise RuntimeError(f"{op}: the input tensor A must have at least 2 dimensions, got shape {tuple(A.shape)}")
    if square:
        _square(op, A)
    if A.dtype not in (backend.float32, backend.float64):
        raise RuntimeError(f"{op}: expected a float32 or float64 tensor as input, got {A.dtype}")


def _lapack(op: str, fn, *arrays):
    """A NumPy (or CuPy) linalg call, its LinAlgError as nnkit's."""
    try:
        return fn(*arrays)
    except numpy.linalg.LinAlgError as error:
        raise LinAlgError(f"{op}: {error}") from None


def _several(arrays, parents: tuple, backward, name: str) -> tuple:
    """The outputs of one op that share its node: ``backward(grads)`` gets a dict from the
    index of each output that received a gradient to that gradient (an output that is not
    used gets none, so that the backward can leave its terms out, as PyTorch's does)."""
    outs = tuple(Tensor._wrap(a) for a in arrays)
    if _GradMode.enabled and any(p.requires_grad for p in parents):
        hub = _make(arrays[0].reshape(-1)[:0], parents, lambda received: backward(received.by_output), name)
        for i, out in enumerate(outs):
            out.grad_fn, out.requires_grad = Node((hub,), functools.partial(_keyed, i), name), True
    return outs


def _values(arrays, recompute) -> tuple:
    """An op's outputs for its backward, as :func:`_saved` gives one."""
    return recompute() if _GradMode.enabled else tuple(Tensor._wrap(a) for a in arrays)


def _det_backward(A: Tensor, g: Tensor, scale: Tensor) -> Tensor:
    """g · scale · A⁻ᵀ, the gradient of det (scale = det) and of log|det| (scale = 1)."""
    return _mT(inverse(A)) * unsqueeze(unsqueeze(g * scale, -1), -1)


def det(A: Tensor) -> Tensor:
    """The determinant of a square matrix (each in a batch); d det / dA = det · A⁻ᵀ (so the
    gradient needs an invertible matrix: a singular one raises LinAlgError)."""
    _float_matrices("linalg.det", A, square=True)
    out = _lapack("linalg.det", A._xp.linalg.det, A.array)

    def backward(g):
        return (_det_backward(A, g, _saved(out, lambda: det(A))),)
    return _make(out, (A,), backward, "LinalgDet", output=True)


def slogdet(A: Tensor) -> SlogdetResult:
    """The sign and the log of the absolute value of the determinant (-inf for a singular
    matrix, with sign 0); d log|det| / dA = A⁻ᵀ. The sign has no gradient."""
    _float_matrices("linalg.slogdet", A, square=True)
    sign, logabs = _lapack("linalg.slogdet", A._xp.linalg.slogdet, A.array)
    logabsdet = _make(logabs, (A,), lambda g: (_det_backward(A, g, 1.0),), "LinalgSlogdet")
    return SlogdetResult(Tensor._wrap(A._xp.asarray(sign)), logabsdet)


def logdet(input: Tensor) -> Tensor:
    """log det: NaN where the determinant is negative, -inf where it is 0."""
    sign, logabsdet = slogdet(input)
    with numpy.errstate(invalid="ignore", divide="ignore"):
        return logabsdet + log(sign)


def linalg_svd(A: Tensor, full_matrices: bool = True, *, driver: str | None = None) -> SVDResult:
    """A = U diag(S) Vh, the singular values largest first; with ``full_matrices`` U is m × m
    and Vh n × n, else m × k and k × n (k = min(m, n)). Gradients as PyTorch's (see
    :func:`_svd_backward`)."""
    return _svd(A, full_matrices)


def _svd(A: Tensor, full_matrices: bool) -> SVDResult:
    _float_matrices("linalg.svd", A)
    U, S, Vh = _lapack("linalg.svd", A._xp.linalg.svd, A.array, full_matrices)

    def backward(grads):
        u, s, vh = _values((U, S, Vh), lambda: _svd(A, False))
        k = s.shape[-1]
        gU, gS, gVh = grads.get(0), grads.get(1), grads.get(2)
        if full_matrices:  # only the first k columns of U and rows of Vh are determined by A
            u, vh = narrow(u, -1, 0, k), narrow(vh, -2, 0, k)
            gU = None if gU is None else narrow(gU, -1, 0, k)
            gVh = None if gVh is None else narrow(gVh, -2, 0, k)
        return (_svd_backward(A.shape, gU, gS, gVh, u, s, vh),)
    return SVDResult(*_several((U, S, Vh), (A,), backward, "LinalgSvd"))


def _svd_backward(shape: tuple, gU, gS, gVh, U: Tensor, S: Tensor, Vh: Tensor) -> Tensor:
    """The gradient of A = U diag(S) Vh (reduced: k = min(m, n) singular values, assumed
    distinct where U or Vh receive a gradient), with PyTorch's formula. The gauge (the sign
    of each singular vector pair) is arbitrary, so only gauge-invariant uses of U and Vh have
    meaningful gradients."""
    m, n = shape[-2], shape[-1]
    if gU is None and gVh is None:
        return matmul(U * unsqueeze(gS, -2), Vh)
    V, skew = _mT(Vh), (lambda X: X - _mT(X))
    S2 = S * S
    E = unsqueeze(S2, -2) - unsqueeze(S2, -1)  # E_ij = S_j² - S_i², with 1 on the diagonal (0/1 there)
    E = E + Tensor._wrap(U._xp.eye(S.shape[-1], dtype=S.dtype))
    if gU is not None and gVh is not None:
        gA = (skew(matmul(_mT(U), gU)) * unsqueeze(S, -2) + unsqueeze(S, -1) * skew(matmul(Vh, _mT(gVh)))) / E
    elif gU is not None:
        gA = skew(matmul(_mT(U), gU)) / E * unsqueeze(S, -2)
    else:
        gA = unsqueeze(S, -1) * (skew(matmul(Vh, _mT(gVh))) / E)
    if gS is not None:
        gA = gA + diag_embed(gS)
    if m > n and gU is not None:  # U's columns outside A's column space: (I - U Uᵀ) gU S⁻¹
        gUSinv = gU / unsqueeze(S, -2)
        return matmul(matmul(U, gA) + gUSinv - matmul(U, matmul(_mT(U), gUSinv)), Vh)
    if n > m and gVh is not None:
        SinvgVh = gVh / unsqueeze(S, -1)
        return matmul(U, matmul(gA, Vh) + SinvgVh - matmul(matmul(SinvgVh, V), Vh))
    return matmul(matmul(U, gA), Vh)


def svdvals(A: Tensor) -> Tensor:
    """The singular values, largest first; the gradient is U diag(g) Vh."""
    _float_matrices("linalg.svdvals", A)
    S = _lapack("linalg.svdvals", lambda a: A._xp.linalg.svd(a, compute_uv=False), A.array)

    def backward(g):
        U, _, Vh = _svd(A, False)
        return (_svd_backward(A.shape, None, g, None, U, None, Vh),)
    return _make(S, (A,), backward, "LinalgSvdvals", ())


def svd(input: Tensor, some: bool = True, compute_uv: bool = True) -> SvdResult:
    """The older ``svd``: U, S and V (not Vh), reduced unless ``some=False``; with
    ``compute_uv=False``, U and V are zeros (m × m and n × n) and only S is computed."""
    if not compute_uv:
        m, n = input.shape[-2:]
        zeros = input._xp.zeros
        return SvdResult(Tensor._wrap(zeros(input.shape[:-2] + (m, m), dtype=input.dtype)), svdvals(input),
                         Tensor._wrap(zeros(input.shape[:-2] + (n, n), dtype=input.dtype)))
    U, S, Vh = _svd(input, not some)
    return SvdResult(U, S, _mT(Vh))


def _tolerance(S: Tensor, m: int, n: int, atol, rtol):
    """The cutoff under which singular values count as 0, per matrix (shape (*, 1)):
    max(atol, rtol · σ_max), with rtol = eps · max(m, n) unless given, or 0 when atol > 0 is.
    Tensor tolerances have the batch's shape."""
    xp = S._xp
    if rtol is None:
        given = atol is not None and (isinstance(atol, Tensor) or atol > 0)
        rtol = 0.0 if given else float(numpy.finfo(S.dtype.dtype).eps) * max(m, n)

    def column(v):
        return xp.asarray(v.array if isinstance(v, Tensor) else v, dtype=S.dtype)[..., None]
    top = S.array[..., :1] if S.shape[-1] else xp.zeros(S.shape[:-1] + (1,), dtype=S.dtype)
    return xp.maximum(column(0.0 if atol is None else atol), column(rtol) * top)


def pinv(A: Tensor, *, atol=None, rtol=None, hermitian: bool = False) -> Tensor:
    """The Moore-Penrose pseudo-inverse, from the SVD: singular values at most
    max(atol, rtol · σ_max) count as 0. The gradient is the pseudo-inverse's own (Golub and
    Pereyra's), valid where the rank does not change. ``hermitian`` is accepted (the SVD is used
    either way)."""
    _float_matrices("linalg.pinv", A)
    xp = A._xp
    U, S, Vh = _lapack("linalg.pinv", xp.linalg.svd, A.array, False)
    cut = _tolerance(Tensor._wrap(S), A.shape[-2], A.shape[-1], atol, rtol)
    with numpy.errstate(divide="ignore"):
        inv_s = xp.where(S > cut, 1 / xp.where(S > cut, S, 1), 0).astype(A.dtype)
    out = xp.matmul(xp.swapaxes(Vh, -1, -2) * inv_s[..., None, :], xp.swapaxes(U, -1, -2))

    def backward(g):
        P = _saved(out, lambda: pinv(A, atol=atol, rtol=rtol))
        Pt, gt = _mT(P), _mT(g)
        eye_m = Tensor._wrap(xp.eye(A.shape[-2], dtype=A.dtype))
        eye_n = Tensor._wrap(xp.eye(A.shape[-1], dtype=A.dtype))
        grad = (-matmul(matmul(Pt, g), Pt) + matmul(matmul(eye_m - matmul(A, P), gt), matmul(P, Pt))
                + matmul(matmul(Pt, P), matmul(gt, eye_n - matmul(P, A))))
        return (grad,)
    return _make(out, (A,), backward, "LinalgPinv", output=True)


def pinverse(input: Tensor, rcond: float = 1e-15) -> Tensor:
    """The pseudo-inverse, singular values at most ``rcond · σ_max`` counting as 0."""
    return pinv(input, rtol=rcond)


def matrix_rank(A: Tensor, *, atol=None, rtol=None, hermitian: bool = False) -> Tensor:
    """The number of singular values above max(atol, rtol · σ_max) (int64)."""
    _float_matrices("linalg.matrix_rank", A)
    S = svdvals(A.detach())
    cut = _tolerance(S, A.shape[-2], A.shape[-1], atol, rtol)
    return Tensor._wrap(A._xp.asarray((S.array > cut).sum(-1), dtype=numpy.int64))


def eigh(A: Tensor, UPLO: str = "L") -> EighResult:
    """The eigenvalues (ascending) and orthonormal eigenvectors of a symmetric matrix, read
    from its lower (``UPLO="L"``) or upper triangle. Gradient, for distinct eigenvalues:
    V (diag(gL) + skew(Vᵀ gV) / 2E) Vᵀ with E_ij = λ_j - λ_i and skew(X) = X - Xᵀ, a symmetric
    matrix as PyTorch's (eigenvectors' signs are arbitrary, so only sign-invariant uses of them
    have meaningful gradients)."""
    _float_matrices("linalg.eigh", A, square=True)
    if UPLO not in ("L", "U"):
        raise RuntimeError(f"linalg.eigh: UPLO must be 'L' or 'U', got {UPLO!r}")
    L, V = _lapack("linalg.eigh", A._xp.linalg.eigh, A.array, UPLO)

    def backward(grads):
        lam, vec = _values((L, V), lambda: eigh(A, UPLO))
        gL, gV = grads.get(0), grads.get(1)
        inner = 0 if gL is None else diag_embed(gL)
        if gV is not None:  # the skew part of Vᵀ gV (a symmetric gradient, as PyTorch's), 0 on the diagonal
            E = unsqueeze(lam, -2) - unsqueeze(lam, -1) + Tensor._wrap(A._xp.eye(A.shape[-1], dtype=A.dtype))
            X = matmul(_mT(vec), gV)
            inner = inner + (X - _mT(X)) / (2 * E)
        return (matmul(matmul(vec, inner), _mT(vec)),)
    return EighResult(*_several((L, V), (A,), backward, "LinalgEigh"))


def eigvalsh(A: Tensor, UPLO: str = "L") -> Tensor:
    """The eigenvalues of a symmetric matrix, ascending; the gradient is V diag(g) Vᵀ."""
    return eigh(A, UPLO).eigenvalues


def linalg_qr(A: Tensor, mode: str = "reduced") -> QRResult:
    """A = QR with orthonormal columns in Q and R upper triangular. ``mode``: "reduced"
    (Q m × k, R k × n, k = min(m, n)), "complete" (Q m × m), or "r" (R only; Q is empty).
    The gradient is PyTorch's (undefined for "r", and for "complete" with m > n)."""
    _float_matrices("linalg.qr", A)
    if mode not in ("reduced", "complete", "r"):
        raise RuntimeError(f"linalg.qr: mode must be 'reduced', 'complete' or 'r', got {mode!r}")
    Q, R = _lapack("linalg.qr", A._xp.linalg.qr, A.array, "complete" if mode == "complete" else "reduced")
    if mode == "r":
        Q = A._xp.zeros((0,), dtype=A.dtype)
    m, n = A.shape[-2:]

    def backward(grads):
        if mode == "r":
            raise RuntimeError("linalg.qr: the derivative depends on Q, which is not computed when mode='r'; use "
                               "mode='reduced'")
        if mode == "complete" and m > n:
            raise RuntimeError("linalg.qr: the QR decomposition is not differentiable when mode='complete' and "
                               "the matrix has more rows than columns")
        q, r = _values((Q, R), lambda: linalg_qr(A, mode))
        zeros = Tensor._wrap(A._xp.zeros((), dtype=A.dtype))
        gQ, gR = grads.get(0, zeros), grads.get(1, zeros)
        if m >= n:
            return (_qr_backward(expand(gQ, q.shape), expand(gR, r.shape), q, r),)
        # A = Q [R1 R2] with X = Q R1 square: Y = Q R2 sends Q gR2 to Y, and gQ a share.
        gR = expand(gR, r.shape)
        y, gR2 = narrow(A, -1, m, n - m), narrow(gR, -1, m, n - m)
        gX = _qr_backward(expand(gQ, q.shape) + matmul(y, _mT(gR2)), narrow(gR, -1, 0, m), q, narrow(r, -1, 0, m))
        return (cat([gX, matmul(q, gR2)], -1),)
    return QRResult(*_several((Q, R), (A,), backward, "LinalgQr"))


def _qr_backward(gQ: Tensor, gR: Tensor, Q: Tensor, R: Tensor) -> Tensor:
    """The gradient of A = QR (m >= n): (gQ + Q copyltu(M)) R⁻ᵀ with M = R gRᵀ - gQᵀ Q,
    where copyltu mirrors M's lower triangle onto its upper one."""
    M = matmul(R, _mT(gR)) - matmul(_mT(gQ), Q)
    lower = tril(M, -1)
    B = gQ + matmul(Q, lower + _mT(lower) + diag_embed(diagonal(M, 0, -2, -1)))
    return _mT(solve(R, _mT(B)))


def linalg_cholesky(A: Tensor, *, upper: bool = False) -> Tensor:
    """The lower triangular L with A = L Lᵀ (or Lᵀ with ``upper``) of a symmetric positive-definite
    matrix, read from its lower triangle; LinAlgError otherwise. Gradient (symmetric):
    sym(L⁻ᵀ Φ(Lᵀ gL) L⁻¹), Φ taking the lower triangle with the diagonal halved."""
    _float_matrices("linalg.cholesky", A, square=True)
    try:
        L = A._xp.linalg.cholesky(A._xp.tril(A.array) + A._xp.swapaxes(A._xp.tril(A.array, -1), -1, -2))
    except numpy.linalg.LinAlgError:
        raise LinAlgError(f"linalg.cholesky: the factorization could not be completed because the input (shape "
                          f"{tuple(A.shape)}) is not positive-definite") from None
    if A._xp is not numpy and not bool(A._xp.isfinite(L).all()):  # CuPy gives NaN instead of raising
        raise LinAlgError(f"linalg.cholesky: the input (shape {tuple(A.shape)}) is not positive-definite")

    def backward(g):
        low = _saved(L, lambda: linalg_cholesky(A))
        inv = inverse(low)
        phi = tril(matmul(_mT(low), g))
        phi = phi - diag_embed(diagonal(phi, 0, -2, -1)) / 2
        grad = matmul(matmul(_mT(inv), phi), inv)
        return ((grad + _mT(grad)) / 2,)
    out = _make(L, (A,), backward, "LinalgCholesky", output=True)
    return _mT(out) if upper else out


def cholesky(input: Tensor, upper: bool = False) -> Tensor:
    """``cholesky(input, upper=False)``, deprecated as in PyTorch for ``linalg.cholesky``."""
    warnings.warn("nnkit.cholesky is deprecated in favor of nnkit.linalg.cholesky and will be removed in a future "
                  "release", UserWarning, stacklevel=2)
    return linalg_cholesky(input, upper=upper)


def qr(input: Tensor, some: bool = True) -> QRResult:
    """``qr(input, some=True)``, deprecated as in PyTorch for ``linalg.qr`` (``some=False`` is
    mode "complete")."""
    warnings.warn("nnkit.qr is deprecated in favor of nnkit.linalg.qr and will be removed in a future release",
                  UserWarning, stacklevel=2)
    return linalg_qr(input, "reduced" if some else "complete")


def _expm_array(xp, a):
    """e^a by scaling and squaring: a / 2^s has norm <= 1/2, where 18 Taylor terms are exact
    to float64 (the remainder is below 1e-22); then s squarings."""
    norm = float(xp.abs(a).sum(-1).max()) if a.size else 0.0
    s = max(0, math.ceil(math.log2(norm / 0.5))) if 0 < norm < math.inf else 0
    x = a / 2.0 ** s
    term = xp.broadcast_to(xp.eye(a.shape[-1], dtype=a.dtype), a.shape)
    total = term.copy()
    for k in range(1, 19):
        term = xp.matmul(term, x) / k
        total = total + term
    for _ in range(s):
        total = xp.matmul(total, total)
    return total


def matrix_exp(A: Tensor) -> Tensor:
    """The matrix exponential e^A = Σ Aᵏ / k! (of each matrix in a batch). The gradient is the
    top-right block of exp([[Aᵀ, G], [0, Aᵀ]]): matrix_exp again, so every order works."""
    _float_matrices("linalg.matrix_exp", A, square=True)
    out = _expm_array(A._xp, A.array)
    n = A.shape[-1]

    def backward(g):
        At = _mT(A)
        top = cat([At, g], -1)
        bottom = cat([Tensor._wrap(A._xp.zeros(A.shape, dtype=A.dtype)).expand(g.shape), At], -1)
        return (narrow(narrow(matrix_exp(cat([top, bottom], -2)), -2, 0, n), -1, n, n),)
    return _make(out, (A,), backward, "LinalgMatrixExp", ())


def lstsq(A: Tensor, B: Tensor, rcond: float | None = None, *, driver: str | None = None) -> LstsqResult:
    """The least-squares solution X of A X ≈ B (the minimum-norm one), as pinv(A) @ B, so
    differentiable in A and B. As PyTorch's drivers: ``rank`` is given unless driver="gels",
    ``singular_values`` for "gelsd" and "gelss", ``residuals`` (the squared residual of
    each column) for those and "gels" when A is tall and of full rank; otherwise empty."""
    _float_matrices("linalg.lstsq", A)
    _same_dtype("linalg.lstsq", A, B)
    driver = "gelsy" if driver is None else driver
    if driver not in ("gels", "gelsy", "gelsd", "gelss"):
        raise RuntimeError(f"linalg.lstsq: parameter `driver` should be one of (gels, gelsy, gelsd, gelss), got "
                           f"{driver!r}")
    m, n = A.shape[-2:]
    vector = B.ndim == A.ndim - 1
    columns = unsqueeze(B, -1) if vector else B
    if columns.shape[-2] != m:
        raise RuntimeError(f"linalg.lstsq: incompatible shapes of A {tuple(A.shape)} and B {tuple(B.shape)}: A and "
                           "B must have the same number of rows")
    rtol = float(numpy.finfo(A.dtype.dtype).eps) * max(m, n) if rcond is None or rcond < 0 else rcond
    solution = matmul(pinv(A, rtol=rtol), columns)
    S = svdvals(A.detach())
    rank = matrix_rank(A, rtol=rtol)
    empty = Tensor._wrap(A._xp.zeros((0,), dtype=A.dtype))
    residuals = empty
    if driver != "gelsy" and m > n and bool((rank.array == n).all()):
        residuals = sum((matmul(A, solution) - columns) ** 2, -2)
        residuals = squeeze(residuals, -1) if vector else residuals
    return LstsqResult(squeeze(solution, -1) if vector else solution, residuals,
                       Tensor._wrap(A._xp.zeros((0,), dtype=numpy.int64)) if driver == "gels" else rank,
                       S if driver in ("gelsd", "gelss") else empty)


def _inplace(name: str, fn):
    """The in-place method ``name`` (``addmm_``...): ``self`` becomes ``fn(self, ...)``."""
    return lambda self, *args, **kwargs: self._inplace(name, lambda t, *o: fn(t, *o, **kwargs), *args)


__all__ = ["matmul", "einsum", "mm", "bmm", "mv", "dot", "vdot", "inner", "outer", "ger", "kron", "tensordot",
           "cross", "trace", "inverse", "matrix_power", "addmm", "addmv", "addr", "baddbmm", "addbmm", "det", "slogdet",
           "logdet", "svd", "pinverse", "matrix_exp", "qr", "cholesky"]

METHODS = {**{name: globals()[name] for name in __all__ if name not in ("einsum", "tensordot")},
           "__matmul__": matmul, "__rmatmul__": lambda self, other: matmul(other, self),
           **{name + "_": _inplace(name + "_", globals()[name]) for name in ("addmm", "addmv", "addr", "baddbmm",
                                                                               "addbmm")}}
