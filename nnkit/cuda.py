"""``nnkit.cuda``: is a GPU there? (Decided by ``cupy.is_available()``, not by an import.)"""

from .backend import cuda_is_available as is_available

__all__ = ["is_available"]
