"""``nnkit.linalg``: linear algebra under ``torch.linalg``'s names and signatures.

The ops themselves live in ``nnkit.ops.linalg`` (and ``nnkit.ops.shape``); this module
gives them the names, defaults and keyword-only arguments they have in ``torch.linalg``.
Real float32 and float64 tensors only. Not here: the general eigendecomposition (eig,
eigvals, which are complex), the LU and LDL factorizations, solve_triangular, the
norms built on singular values ("nuc", 2, -2), and the ``out=`` arguments.
"""

from __future__ import annotations

from .ops import linalg as _ops
from .ops.linalg import (LinAlgError, det, eigh, eigvalsh, lstsq, matmul, matrix_exp, matrix_norm, matrix_power,
                         matrix_rank, multi_dot, pinv, slogdet, solve, svdvals, vecdot, vector_norm)
from .ops.shape import diagonal as _diagonal
from .tensor import Tensor

norm = _ops.linalg_norm
svd = _ops.linalg_svd
qr = _ops.linalg_qr
cholesky = _ops.linalg_cholesky


def inv(A: Tensor) -> Tensor:
    """The inverse of a square matrix (or of each in a batch); a singular one raises LinAlgError."""
    return _ops.inverse(A)


def cross(input: Tensor, other: Tensor, *, dim: int = -1) -> Tensor:
    """The cross product of 3-vectors along ``dim`` (the last dim by default, unlike ``nnkit.cross``)."""
    return _ops._cross(input, other, dim, "linalg.cross")


def diagonal(A: Tensor, *, offset: int = 0, dim1: int = -2, dim2: int = -1) -> Tensor:
    """The diagonal of each matrix in the last two dims (a view): ``nnkit.diagonal`` with other defaults."""
    return _diagonal(A, offset, dim1, dim2)


__all__ = ["LinAlgError", "cholesky", "cross", "det", "diagonal", "eigh", "eigvalsh", "inv", "lstsq", "matmul",
           "matrix_exp", "matrix_norm", "matrix_power", "matrix_rank", "multi_dot", "norm", "pinv", "qr", "slogdet",
           "solve", "svd", "svdvals", "vecdot", "vector_norm"]
