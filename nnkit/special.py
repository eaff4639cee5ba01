"""``nnkit.special``: special functions under ``torch.special``'s names.

The functions themselves live with the ops (``nnkit.ops.special`` for the gamma and
Bessel families, the normal distribution and entropy; ``nnkit.ops.elementwise`` and
``nnkit.ops.reduction`` for the rest); this module gives them torch.special's names.
Accuracy and method of each are described in ``nnkit.ops.special``. Not here: the
Bessel functions J, Y and K, airy_ai, erfcx, gammainc/gammaincc and the orthogonal
polynomials (Chebyshev, Hermite, Laguerre, Legendre).
"""

from __future__ import annotations

from .ops.elementwise import erf, erfc, erfinv, exp2, expm1, log1p, logit, round, sigmoid, sinc, xlogy
from .ops.reduction import log_softmax, logsumexp, softmax
from .ops.special import (digamma, entr, i0, i0e, i1, i1e, lgamma, log_ndtr, mvlgamma, ndtr, ndtri, polygamma,
                          xlog1py, zeta)

expit = sigmoid
gammaln = lgamma
psi = digamma
multigammaln = mvlgamma
modified_bessel_i0 = i0
modified_bessel_i1 = i1

__all__ = ["digamma", "entr", "erf", "erfc", "erfinv", "exp2", "expit", "expm1", "gammaln", "i0", "i0e", "i1", "i1e",
           "log1p", "log_ndtr", "log_softmax", "logit", "logsumexp", "modified_bessel_i0", "modified_bessel_i1",
           "multigammaln", "ndtr", "ndtri", "polygamma", "psi", "round", "sinc", "softmax", "xlog1py", "xlogy",
           "zeta"]
