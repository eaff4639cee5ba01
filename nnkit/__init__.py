"""nnkit: a neural-network framework built from scratch on NumPy, with PyTorch's vocabulary.

The library is layered, and imports only point down: the array backend, then
the tensor and autograd, then ``nn``, then the training tools. Each module is
introduced (its key code shown and explained) in exactly one chapter of the
course, and a chapter uses only modules introduced up to it
(``tests/test_library_map.py`` enforces this):

=========================  ==================================================  =======
module                     what lives there                                    chapter
=========================  ==================================================  =======
nnkit.plot                 figures used everywhere                             01
nnkit.grading              the exercises' self-checks                          01
nnkit.data.synthetic       moons, circles, spirals, xor, sine waves, digits    02
nnkit.backend, nnkit.cuda  the array module (NumPy or CuPy), devices, dtypes   04
nnkit.tensor, autograd     Tensor, the graph, backward, no_grad, grad          04
nnkit.ops                  the differentiable primitives                       04
nnkit.gradcheck            finite-difference checks of any function            05
=========================  ==================================================  =======
"""

__version__ = "0.1.0"

# tensor before ops: ops need Tensor, and tensor attaches the ops as its methods.
from . import tensor as _tensor_module  # noqa: F401
from . import autograd, backend, cuda, ops
from .autograd import enable_grad, is_grad_enabled, no_grad, set_grad_enabled
from .backend import (Generator, bool_ as bool, device, float16, float32, float64, get_default_dtype,
                      int32, int64, manual_seed, set_default_dtype, uint8)
from .ops import (abs, allclose, amax, amin, argmax, argmin, cat, chunk, clamp, cos, cumsum, erf, exp,
                  flatten, gather, log, log1p, log_softmax, logsumexp, matmul, max, maximum, mean, min,
                  minimum, norm, permute, prod, relu, reshape, sigmoid, sin, softmax, sort, split, sqrt, squeeze,
                  stack, std, sum, tanh, topk, transpose, tril, triu, unsqueeze, var, where)
from .tensor import (Tensor, arange, as_tensor, empty, empty_like, eye, from_numpy, full, full_like,
                     linspace, multinomial, normal, ones, ones_like, rand, rand_like, randint, randn, randn_like,
                     randperm, tensor, zeros, zeros_like)
from . import gradcheck as _gradcheck_module  # noqa: E402
from . import data, grading, plot  # noqa: E402,F401

gradcheck = _gradcheck_module.gradcheck
clip = clamp
