"""Optional dependencies: import one, or say which nnkit extra installs it.

The core install (``pip install nnkit``) needs only NumPy. Plots, the digits
data set and progress bars come with the ``course`` extra; when one of those is
missing, the error names the extra instead of a bare ``No module named ...``.

>>> require("math", "a doctest").sqrt(4.0)
2.0
"""

from __future__ import annotations

import importlib
from types import ModuleType

__all__ = ["require"]

# Which extra of nnkit's pyproject.toml provides each optional top-level package.
EXTRA_OF = {"matplotlib": "course", "sklearn": "course", "tqdm": "course", "IPython": "course",
            "nbclient": "course", "nbformat": "course", "cupy": "gpu", "torch": "torch"}
PIP_NAME = {"sklearn": "scikit-learn", "IPython": "ipython"}


def require(module: str, feature: str) -> ModuleType:
    """Import ``module``; if its package is missing, raise ModuleNotFoundError naming the extra.

    ``feature`` says what needs it, e.g. ``"nnkit.plot"``: the message reads
    ``nnkit.plot needs matplotlib, which the core install leaves out: pip install "nnkit[course]"``.
    """
    try:
        return importlib.import_module(module)
    except ModuleNotFoundError as err:
        top = module.partition(".")[0]
        if err.name is None or err.name.partition(".")[0] != top:
            raise  # something the package itself imports is missing: not ours to explain
        extra = EXTRA_OF.get(top, "course")
        raise ModuleNotFoundError(
            f"{feature} needs {PIP_NAME.get(top, top)}, which the core install leaves out: "
            f'pip install "nnkit[{extra}]"', name=err.name) from None
