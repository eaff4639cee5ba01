"""``nnkit.nn.functional``: the layers and losses as plain functions of tensors (``torch.nn.functional``).

Most are written from the differentiable primitives of :mod:`nnkit.ops`, so
they need no backward of their own. A few are single ops with a fused
backward, each saying why (stability, a correct gradient at a kink, or a much
shorter graph): ``gelu``, ``softplus``, ``binary_cross_entropy``,
``binary_cross_entropy_with_logits``, the normalisation shared by ``batch_norm``
and ``layer_norm``, ``embedding`` (whose padding row gets no gradient), the
convolutions and pooling. Their backward functions are written with tensor ops
where they can be, so ``create_graph=True`` works through them.

One file per family; the layers (:mod:`nnkit.nn`'s modules) are built on these
functions and sit above them: nothing here imports a layer.
"""

from . import (activation, attention, conv, distance, dropout, embedding, linear, loss, normalization, padding,
               pooling, upsampling, vision)

# Captured before the star imports: F.linear, F.dropout and F.embedding are then the functions, not the files.
_FAMILIES = (linear, activation, dropout, normalization, distance, embedding, padding, loss, conv, pooling, attention,
             upsampling, vision)
from .activation import *  # noqa: F401,F403
from .attention import *  # noqa: F401,F403
from .conv import *  # noqa: F401,F403
from .distance import *  # noqa: F401,F403
from .dropout import *  # noqa: F401,F403
from .embedding import *  # noqa: F401,F403
from .linear import *  # noqa: F401,F403
from .loss import *  # noqa: F401,F403
from .normalization import *  # noqa: F401,F403
from .padding import *  # noqa: F401,F403
from .pooling import *  # noqa: F401,F403
from .upsampling import *  # noqa: F401,F403
from .vision import *  # noqa: F401,F403

__all__ = [name for family in _FAMILIES for name in family.__all__]
