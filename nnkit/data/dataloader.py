"""``DataLoader``: batches of a dataset, in order or shuffled, as ``torch.utils.data.DataLoader``.

A sampler decides the order of the sample indices, a :class:`BatchSampler`
cuts that order into batches, and ``collate_fn`` turns a list of samples into
one batch (:func:`default_collate` stacks them). With ``shuffle=True`` every
epoch gets a new permutation from ``generator`` (nnkit's default generator
when none is given, so ``nnkit.manual_seed`` makes runs repeatable).

>>> import nnkit
>>> from nnkit.data import TensorDataset
>>> ds = TensorDataset(nnkit.arange(10).float().reshape(5, 2), nnkit.tensor([0, 1, 0, 1, 1]))
>>> [(x.shape, y.tolist()) for x, y in DataLoader(ds, batch_size=2)]
[((2, 2), [0, 1]), ((2, 2), [0, 1]), ((1, 2), [1])]
"""

from __future__ import annotations

import collections.abc
import itertools
import math
import numbers
from typing import Any, Callable, Iterable, Iterator, Sequence

import numpy as np

from .. import backend
from ..ops import stack
from ..tensor import Tensor, as_tensor, tensor

__all__ = ["DataLoader", "default_collate", "default_convert", "Sampler", "SequentialSampler", "RandomSampler",
           "SubsetRandomSampler", "WeightedRandomSampler", "BatchSampler"]


# --- collate ------------------------------------------------------------------

def default_collate(batch: Sequence) -> Any:
    """Stack a list of samples into a batch, following the samples' structure (PyTorch's rules).

    Tensors and NumPy arrays are stacked along a new first dim (arrays keep
    their dtype); Python ints give an int64 tensor, Python floats a float64
    one, bools a bool one; NumPy scalars keep their dtype; strings stay a
    list. Dicts, tuples and lists are collated field by field (a tuple
    becomes a list, a namedtuple stays one).

    >>> default_collate([(1, 2.0), (3, 4.0)])
    [tensor([1, 3]), tensor([2., 4.], dtype=nnkit.float64)]
    """
    if len(batch) == 0:
        raise ValueError("default_collate: the batch is empty")
    elem = batch[0]
    if isinstance(elem, (Tensor, np.ndarray)):
        shapes = {tuple(b.shape) for b in batch}
        if len(shapes) > 1:
            raise RuntimeError(f"default_collate: samples have different shapes {sorted(shapes)}; "
                               "pass a collate_fn that pads or crops them to one shape")
        if isinstance(elem, Tensor):
            return stack(list(batch))
        if elem.dtype.kind in "USO":
            raise TypeError(f"default_collate: NumPy arrays of dtype {elem.dtype} cannot become tensors")
        return Tensor._wrap(np.stack(batch))
    if isinstance(elem, np.generic):  # before float: numpy.float64 is a float
        return as_tensor(np.array(batch))
    if isinstance(elem, float):
        return tensor(batch, dtype=backend.float64)
    if isinstance(elem, int):  # bools too: a batch of bools gives a bool tensor
        return tensor(batch)
    if isinstance(elem, (str, bytes)):
        return batch
    if isinstance(elem, collections.abc.Mapping):
        collated = {key: default_collate([sample[key] for sample in batch]) for key in elem}
        try:
            return type(elem)(collated)
        except TypeError:  # a mapping type that cannot be built from a dict
            return collated
    if isinstance(elem, tuple) and hasattr(elem, "_fields"):  # a namedtuple
        return type(elem)(*(default_collate(list(field)) for field in zip(*batch)))
    if isinstance(elem, collections.abc.Sequence):
        sizes = {len(sample) for sample in batch}
        if len(sizes) > 1:
            raise RuntimeError(f"default_collate: each element in list of batch should be of equal size, "
                               f"got sizes {sorted(sizes)}")
        return [default_collate(list(field)) for field in zip(*batch)]
    raise TypeError(f"default_collate: a batch must contain tensors, NumPy arrays, numbers, strings, dicts "
                    f"or lists; found {type(elem).__name__}")


def default_convert(data: Any) -> Any:
    """Turn NumPy arrays and scalars inside ``data`` into tensors, without batching (``batch_size=None``)."""
    if isinstance(data, np.ndarray) and data.dtype.kind not in "USO":
        return as_tensor(data)
    if isinstance(data, np.generic):
        return as_tensor(np.asarray(data))
    if isinstance(data, collections.abc.Mapping):
        return {key: default_convert(value) for key, value in data.items()}
    if isinstance(data, tuple) and hasattr(data, "_fields"):
        return type(data)(*(default_convert(d) for d in data))
    if isinstance(data, (tuple, list)):
        return [default_convert(d) for d in data]
    return data


def fetch_batch(dataset, indices: np.ndarray) -> Any:
    """``default_collate([dataset[i] for i in indices])``, in one indexing operation where the dataset can.

    A dataset that holds its samples in arrays offers ``_fetch_batch(indices)``
    (``indices`` a 1-d int64 array) and returns the collated batch directly;
    any other dataset is read one sample at a time.
    """
    if hasattr(dataset, "_fetch_batch"):
        return dataset._fetch_batch(indices)
    return default_collate([dataset[i] for i in indices.tolist()])


# --- samplers -----------------------------------------------------------------

def _check_positive_int(owner: str, name: str, value: Any) -> None:
    if isinstance(value, bool) or not isinstance(value, numbers.Integral) or value <= 0:
        raise ValueError(f"{owner}: {name} should be a positive integer value, but got {name}={value!r}")


class Sampler:
    """The base class of samplers: iterating one gives the dataset indices of an epoch."""

    def __iter__(self) -> Iterator[int]:
        raise NotImplementedError(f"{type(self).__name__} must define __iter__")


class _ArraySampler(Sampler):
    """A sampler that draws a whole epoch's order as one array (``_indices``), which
    :class:`BatchSampler` slices instead of looping over indices in Python."""

    def __iter__(self) -> Iterator[int]:
        return iter(self._indices().tolist())

    def _indices(self) -> np.ndarray:
        raise NotImplementedError


class SequentialSampler(_ArraySampler):
    """``0, 1, ..., len(data_source) - 1``."""

    def __init__(self, data_source):
        self.data_source = data_source

    def _indices(self) -> np.ndarray:
        return np.arange(len(self.data_source), dtype=np.int64)

    def __len__(self) -> int:
        return len(self.data_source)


class RandomSampler(_ArraySampler):
    """A random permutation of the indices, new on every iteration.

    With ``replacement=True``, ``num_samples`` indices drawn uniformly with
    replacement; without, ``num_samples`` (default ``len(data_source)``) indices
    from as many fresh permutations as needed.
    """

    def __init__(self, data_source, replacement: bool = False, num_samples: int | None = None,
                 generator: backend.Generator | None = None):
        if not isinstance(replacement, bool):
            raise TypeError(f"RandomSampler: replacement should be a boolean value, "
                            f"but got replacement={replacement!r}")
        self.data_source = data_source
        self.replacement = replacement
        self._num_samples = num_samples
        self.generator = generator
        _check_positive_int("RandomSampler", "num_samples", self.num_samples)

    @property
    def num_samples(self) -> int:
        return len(self.data_source) if self._num_samples is None else self._num_samples

    def _indices(self) -> np.ndarray:
        n, rng = len(self.data_source), backend.rng(self.generator)
        if self.replacement:
            return rng.integers(0, n, self.num_samples, dtype=np.int64)
        perms = [rng.permutation(n) for _ in range(math.ceil(self.num_samples / n))]
        return np.concatenate(perms)[:self.num_samples].astype(np.int64, copy=False)

    def __len__(self) -> int:
        return self.num_samples


class SubsetRandomSampler(_ArraySampler):
    """The given ``indices`` in a random order, new on every iteration."""

    def __init__(self, indices: Sequence[int], generator: backend.Generator | None = None):
        self.indices = indices
        self.generator = generator

    def _indices(self) -> np.ndarray:
        return np.asarray(self.indices, dtype=np.int64)[backend.rng(self.generator).permutation(len(self.indices))]

    def __len__(self) -> int:
        return len(self.indices)


class WeightedRandomSampler(_ArraySampler):
    """``num_samples`` indices ``i`` drawn with probability ``weights[i] / sum(weights)``.

    With ``replacement=False`` an index is drawn at most once. Useful to
    balance classes: give each sample the weight ``1 / count(its class)``.
    """

    def __init__(self, weights: Sequence[float], num_samples: int, replacement: bool = True,
                 generator: backend.Generator | None = None):
        _check_positive_int("WeightedRandomSampler", "num_samples", num_samples)
        if not isinstance(replacement, bool):
            raise ValueError(f"WeightedRandomSampler: replacement should be a boolean value, "
                             f"but got replacement={replacement!r}")
        weights = np.asarray(weights.tolist() if isinstance(weights, Tensor) else weights, dtype=np.float64)
        if weights.ndim != 1:
            raise ValueError(f"WeightedRandomSampler: weights should be a 1d sequence but given weights have "
                             f"shape {weights.shape}")
        if not np.isfinite(weights).all() or (weights < 0).any() or weights.sum() <= 0:
            raise ValueError("WeightedRandomSampler: weights must be finite, non-negative, with a positive sum")
        if not replacement and num_samples > np.count_nonzero(weights):
            raise ValueError(f"WeightedRandomSampler: cannot draw {num_samples} samples without replacement "
                             f"from {np.count_nonzero(weights)} indices of non-zero weight")
        self.weights = weights
        self.num_samples = num_samples
        self.replacement = replacement
        self.generator = generator

    def _indices(self) -> np.ndarray:
        rng = backend.rng(self.generator)
        draws = rng.choice(len(self.weights), self.num_samples, replace=self.replacement,
                           p=self.weights / self.weights.sum())
        return draws.astype(np.int64, copy=False)

    def __len__(self) -> int:
        return self.num_samples


class BatchSampler(Sampler):
    """Cut the indices of ``sampler`` into lists of ``batch_size``; ``drop_last`` drops a short last one.

    >>> list(BatchSampler(SequentialSampler(range(10)), batch_size=3, drop_last=False))
    [[0, 1, 2], [3, 4, 5], [6, 7, 8], [9]]
    """

    def __init__(self, sampler: Sampler | Iterable[int], batch_size: int, drop_last: bool):
        _check_positive_int("BatchSampler", "batch_size", batch_size)
        if not isinstance(drop_last, bool):
            raise ValueError(f"BatchSampler: drop_last should be a boolean value, but got drop_last={drop_last!r}")
        self.sampler = sampler
        self.batch_size = batch_size
        self.drop_last = drop_last

    def __iter__(self) -> Iterator[list[int]]:
        return (batch.tolist() for batch in self._batches())

    def _batches(self) -> Iterator[np.ndarray]:
        """The batches as int64 arrays: slices of the whole order when the sampler can give it at once."""
        size = self.batch_size
        if isinstance(self.sampler, _ArraySampler):
            order = self.sampler._indices()
            stop = len(order) - len(order) % size if self.drop_last else len(order)
            return (order[start:start + size] for start in range(0, stop, size))
        return self._batches_of_iterable(iter(self.sampler))

    def _batches_of_iterable(self, indices: Iterator[int]) -> Iterator[np.ndarray]:
        while batch := list(itertools.islice(indices, self.batch_size)):
            if len(batch) < self.batch_size and self.drop_last:
                return
            yield np.asarray(batch, dtype=np.int64)

    def __len__(self) -> int:
        n = len(self.sampler)
        return n // self.batch_size if self.drop_last else math.ceil(n / self.batch_size)


# --- the loader -----------------------------------------------------------------

class DataLoader:
    """Iterate over ``dataset`` in batches of ``batch_size`` samples, collated by ``collate_fn``.

    - ``shuffle=True``: a new random order every epoch, drawn from ``generator``;
    - ``sampler``: any iterable of indices instead (exclusive with ``shuffle``);
    - ``batch_sampler``: an iterable of index lists instead (exclusive with
      ``batch_size``, ``shuffle``, ``sampler`` and ``drop_last``);
    - ``drop_last=True``: skip a last batch smaller than ``batch_size``;
    - ``batch_size=None``: no batching; samples come one by one, with NumPy
      arrays turned into tensors (``default_convert``).

    Batches are built in this process: ``num_workers`` must be 0. With the
    default ``collate_fn``, a dataset that holds its samples in arrays
    (:class:`TensorDataset`, the image datasets, subsets of them) gives each
    batch by one fancy-indexing operation rather than a Python loop.
    """

    def __init__(self, dataset, batch_size: int | None = 1, shuffle: bool = False, sampler=None, batch_sampler=None,
                 num_workers: int = 0, collate_fn: Callable[[list], Any] | None = None, pin_memory: bool = False,
                 drop_last: bool = False, timeout: float = 0, worker_init_fn=None, multiprocessing_context=None,
                 generator: backend.Generator | None = None, *, prefetch_factor: int | None = None,
                 persistent_workers: bool = False):
        if num_workers != 0:
            raise NotImplementedError(f"DataLoader: num_workers={num_workers} is not supported; nnkit builds "
                                      "batches in the main process (num_workers=0)")
        # torch's options for worker processes and pinned memory, with their defaults
        for name, value, default in (("pin_memory", pin_memory, False), ("timeout", timeout, 0),
                                     ("worker_init_fn", worker_init_fn, None),
                                     ("multiprocessing_context", multiprocessing_context, None),
                                     ("prefetch_factor", prefetch_factor, None),
                                     ("persistent_workers", persistent_workers, False)):
            if value != default:
                raise NotImplementedError(f"DataLoader: {name}={value!r} is not supported (nnkit has no worker "
                                          "processes or pinned memory); leave it at its default")
        if sampler is not None and shuffle:
            raise ValueError("DataLoader: sampler option is mutually exclusive with shuffle")
        if batch_sampler is not None:
            if batch_size != 1 or shuffle or sampler is not None or drop_last:
                raise ValueError("DataLoader: batch_sampler option is mutually exclusive with batch_size, "
                                 "shuffle, sampler, and drop_last")
            batch_size, drop_last = None, False
        elif batch_size is None and drop_last:
            raise ValueError("DataLoader: batch_size=None option disables auto-batching and is mutually "
                             "exclusive with drop_last")
        if sampler is None:
            sampler = RandomSampler(dataset, generator=generator) if shuffle else SequentialSampler(dataset)
        if batch_size is not None:
            batch_sampler = BatchSampler(sampler, batch_size, drop_last)
        self.dataset = dataset
        self.batch_size = batch_size
        self.drop_last = drop_last
        self.sampler = sampler
        self.batch_sampler = batch_sampler
        self.num_workers = num_workers
        self.generator = generator
        self._batched = batch_sampler is not None
        self.collate_fn = collate_fn or (default_collate if self._batched else default_convert)

    def __iter__(self) -> Iterator[Any]:
        if not self._batched:
            for index in self.sampler:
                yield self.collate_fn(self.dataset[index])
            return
        if isinstance(self.batch_sampler, BatchSampler):
            batches = self.batch_sampler._batches()
        else:
            batches = (np.asarray(batch, dtype=np.int64) for batch in self.batch_sampler)
        for indices in batches:
            if self.collate_fn is default_collate:
                yield fetch_batch(self.dataset, indices)
            else:
                yield self.collate_fn([self.dataset[i] for i in indices.tolist()])

    def __len__(self) -> int:
        return len(self.batch_sampler if self._batched else self.sampler)
