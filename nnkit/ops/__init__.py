"""The differentiable primitives: each op's forward and backward, side by side.

An op computes its result on raw arrays (``x.array``), then hands
:func:`~nnkit.ops.base._make` the result, its inputs and a ``backward(g)`` that
returns one gradient per input. Backward functions are written with tensor ops,
so that with ``create_graph=True`` they are recorded too (higher-order
gradients). Where a backward needs the op's own output (``exp``, ``tanh``,
``softmax``...), ``_saved`` gives the stored values, or recomputes them as part of
the graph when one is being built.

Composite ops (``mean``, ``var``, ``stack``, ``masked_fill``...) are written from
the primitives and need no backward of their own. Every op asks its inputs for
their array module (``x._xp``), never for NumPy by name, so CuPy works too.

The ops live in one file per family, each layer importing only the ones above it
in this list:

=============  ===============================================================
base           recording an op (``_make``), dtype promotion, dims, and the ops
               every backward needs: ``expand``, its adjoint, and ``to``
elementwise    arithmetic with broadcasting, math functions, comparisons
indexing       ``a[index]``, ``a[index] = v``, gather, scatter, index_*, masked_*
shape          reshape, transpose, permute, squeeze, cat, split...
reduction      sum, mean, var, max, softmax, cumsum, sort...
special        lgamma, digamma, polygamma, the Bessel functions i0 and i1
linalg         matmul, solve, det, svd, eigh, qr, matrix_exp...
misc           gcd, cdist, cov, diff, gradient, trapezoid...; strides and storage
=============  ===============================================================

Each family lists its public functions in ``__all__`` (they are also
``nnkit.<name>``, as ``torch.<name>``) and the ``Tensor`` methods it provides in
``METHODS``; importing this package attaches them all to ``Tensor``.
"""

from .. import backend
from ..tensor import Tensor, view_or_reinterpret
from . import base, elementwise, indexing, linalg, misc, reduction, shape, special
from .base import _make, _saved, _sum_to, expand, to  # noqa: F401  (the names other layers build ops with)
from .elementwise import *  # noqa: F401,F403
from .indexing import *  # noqa: F401,F403
from .indexing import getitem  # noqa: F401
from .linalg import *  # noqa: F401,F403
from .misc import *  # noqa: F401,F403
from .reduction import *  # noqa: F401,F403
from .reduction import MaxMin  # noqa: F401
from .shape import *  # noqa: F401,F403
from .special import *  # noqa: F401,F403

_FAMILIES = (base, elementwise, indexing, shape, reduction, special, linalg, misc)
__all__ = [name for family in _FAMILIES for name in getattr(family, "__all__", ())]


def _dtype_method(dtype):
    return lambda self: to(self, dtype)


def _install_methods() -> None:
    """Give ``Tensor`` its operators and PyTorch's method names."""
    for family in _FAMILIES:
        for name, fn in family.METHODS.items():
            setattr(Tensor, name, fn)
    Tensor.view = view_or_reinterpret(Tensor.view)  # view(dtype) reads the bytes as another dtype
    dtypes = {"float": backend.float32, "double": backend.float64, "half": backend.float16, "long": backend.int64,
              "int": backend.int32, "short": backend.int16, "char": backend.int8, "byte": backend.uint8,
              "bool": backend.bool_}
    if backend.bfloat16 is not None:  # ml_dtypes is installed
        dtypes["bfloat16"] = backend.bfloat16
    for name, dtype in dtypes.items():
        setattr(Tensor, name, _dtype_method(dtype))


_install_methods()
