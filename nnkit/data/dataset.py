"""Datasets: anything with ``__getitem__`` and ``__len__``, as ``torch.utils.data``.

A dataset maps an index to one sample, usually an ``(input, target)`` pair.
:class:`TensorDataset` wraps tensors that share their first dimension;
:class:`Subset` and :func:`random_split` take parts of a dataset, and
:class:`ConcatDataset` (or ``a + b``) chains datasets end to end.

Datasets that hold their samples in arrays also know how to fetch a whole
batch with one indexing operation (the ``_fetch_batch`` hook below): the
:class:`~nnkit.data.DataLoader` uses it instead of a Python loop over samples,
which is what makes an epoch over 60,000 images take a fraction of a second.

>>> import nnkit
>>> ds = TensorDataset(nnkit.arange(10).reshape(5, 2), nnkit.tensor([0, 1, 0, 1, 1]))
>>> x, y = ds[1]
>>> x.tolist(), y.item(), len(ds)
([2, 3], 1, 5)
"""

from __future__ import annotations

import bisect
import itertools
import math
import numbers
import warnings
from typing import Any, Sequence

import numpy as np

from .. import backend
from ..tensor import Tensor, as_tensor, randperm
from .dataloader import fetch_batch

__all__ = ["Dataset", "TensorDataset", "Subset", "ConcatDataset", "random_split"]


class Dataset:
    """The base class of map-style datasets: subclasses define ``__getitem__`` and ``__len__``.

    ``a + b`` is ``ConcatDataset([a, b])``.
    """

    def __getitem__(self, index: int) -> Any:
        raise NotImplementedError(f"{type(self).__name__} must define __getitem__")

    def __len__(self) -> int:
        raise NotImplementedError(f"{type(self).__name__} must define __len__")

    def __add__(self, other: "Dataset") -> "ConcatDataset":
        return ConcatDataset([self, other])


class TensorDataset(Dataset):
    """Samples are the rows of tensors of equal first dimension: ``ds[i] = (t[i] for t in tensors)``.

    NumPy arrays are accepted too and wrapped without a copy.
    """

    def __init__(self, *tensors: Tensor):
        if not tensors:
            raise ValueError("TensorDataset: pass at least one tensor")
        tensors = tuple(as_tensor(t) if isinstance(t, np.ndarray) else t for t in tensors)
        for t in tensors:
            if not isinstance(t, Tensor):
                raise TypeError(f"TensorDataset: expected tensors (or NumPy arrays), got {type(t).__name__}")
            if t.ndim == 0:
                raise ValueError("TensorDataset: a 0-d tensor has no first dimension to index")
        sizes = [t.shape[0] for t in tensors]
        if len(set(sizes)) > 1:
            raise ValueError(f"TensorDataset: size mismatch between tensors: their first dimensions are {sizes} "
                             f"(shapes {[tuple(t.shape) for t in tensors]})")
        self.tensors = tensors

    def __getitem__(self, index) -> tuple:
        return tuple(t[index] for t in self.tensors)

    def __len__(self) -> int:
        return self.tensors[0].shape[0]

    def _fetch_batch(self, indices: np.ndarray) -> list:
        # A list, as default_collate turns each sample's tuple into a list.
        return [t[backend.to_module(indices, t._xp)] for t in self.tensors]


class Subset(Dataset):
    """The samples of ``dataset`` at ``indices``, in that order: ``Subset(ds, idx)[i] = ds[idx[i]]``."""

    def __init__(self, dataset, indices: Sequence[int]):
        self.dataset = dataset
        self.indices = indices
        self._positions = np.asarray(indices.tolist() if isinstance(indices, Tensor) else indices,
                                     dtype=np.int64).reshape(-1)

    def __getitem__(self, index):
        if isinstance(index, list):
            return self.dataset[[self.indices[i] for i in index]]
        return self.dataset[self.indices[index]]

    def __len__(self) -> int:
        return len(self.indices)

    def _fetch_batch(self, indices: np.ndarray):
        return fetch_batch(self.dataset, self._positions[indices])


class ConcatDataset(Dataset):
    """Datasets one after another: indices ``0 .. len(a)-1`` are ``a``'s, the next ones ``b``'s, and so on."""

    def __init__(self, datasets):
        self.datasets = list(datasets)
        if not self.datasets:
            raise ValueError("ConcatDataset: datasets should not be an empty iterable")
        self.cumulative_sizes = list(itertools.accumulate(len(d) for d in self.datasets))

    def __len__(self) -> int:
        return self.cumulative_sizes[-1]

    def __getitem__(self, index: int):
        n = len(self)
        if index < 0:
            if -index > n:
                raise ValueError(f"ConcatDataset: absolute value of index {index} exceeds the length {n}")
            index += n
        if index >= n:
            raise IndexError(f"ConcatDataset: index {index} is out of range for length {n}")
        which = bisect.bisect_right(self.cumulative_sizes, index)
        start = self.cumulative_sizes[which - 1] if which else 0
        return self.datasets[which][index - start]


def random_split(dataset, lengths: Sequence[int | float], generator: backend.Generator | None = None) -> list[Subset]:
    """Split ``dataset`` into non-overlapping random :class:`Subset` s of the given ``lengths``.

    ``lengths`` are sample counts summing to ``len(dataset)``, or fractions
    summing to 1: then each part gets ``floor(fraction * len(dataset))``
    samples and the remainder is handed out one by one, round-robin, from the
    first part on (PyTorch's rule). ``generator`` fixes the permutation.

    >>> import nnkit
    >>> parts = random_split(range(10), [0.5, 0.3, 0.2], generator=nnkit.Generator().manual_seed(0))
    >>> [len(p) for p in parts]
    [5, 3, 2]
    """
    lengths = list(lengths)
    n = len(dataset)
    if math.isclose(sum(lengths), 1) and sum(lengths) <= 1:
        for i, frac in enumerate(lengths):
            if not 0 <= frac <= 1:
                raise ValueError(f"random_split: fraction at index {i} is {frac}, not between 0 and 1")
        counts = [math.floor(n * frac) for frac in lengths]
        for i in range(n - sum(counts)):
            counts[i % len(counts)] += 1
        for i, count in enumerate(counts):
            if count == 0:
                warnings.warn(f"random_split: the split at index {i} is empty", stacklevel=2)
        lengths = counts
    for i, length in enumerate(lengths):
        if isinstance(length, bool) or not isinstance(length, numbers.Integral) or length < 0:
            raise ValueError(f"random_split: lengths must be non-negative integers or fractions summing to 1, "
                             f"got {length!r} at index {i}")
    if sum(lengths) != n:
        raise ValueError(f"random_split: the lengths {lengths} sum to {sum(lengths)}, "
                         f"not to the length of the dataset ({n})")
    order = randperm(n, generator=generator, device="cpu").tolist()
    return [Subset(dataset, order[end - length:end])
            for end, length in zip(itertools.accumulate(lengths), lengths)]
