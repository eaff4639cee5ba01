"""``DistributedSampler``: each rank's share of a data set, as ``torch.utils.data.distributed``.

In data-parallel training every rank must see different samples, the same
number of them (or the ranks would run different numbers of steps and wait on
each other's all-reduce forever), and, when shuffling, every rank must shuffle
the same way so that the shares do not overlap. So every rank draws the same
permutation (seeded with ``seed + epoch``), pads it by repeating its start until
it divides evenly (or, with ``drop_last``, cuts the tail), and takes every
``num_replicas``-th index starting at its ``rank``.
"""

from __future__ import annotations

import math

import numpy as np

from .dataloader import _ArraySampler

__all__ = ["DistributedSampler"]


class DistributedSampler(_ArraySampler):
    """The indices of ``dataset`` that rank ``rank`` of ``num_replicas`` uses this epoch.

    ``num_replicas`` and ``rank`` default to the process group's. Call
    ``set_epoch(epoch)`` at the start of every epoch, or each epoch repeats the
    first one's order. Every rank gets ``len(sampler)`` indices: the data set
    padded (some samples seen twice) or, with ``drop_last=True``, cut (some not
    seen this epoch) to a multiple of ``num_replicas``.

    >>> s = DistributedSampler(range(10), num_replicas=3, rank=1, shuffle=False)
    >>> list(s)  # indices 1, 4, 7 and, from the padding, 0 again
    [1, 4, 7, 0]
    """

    def __init__(self, dataset, num_replicas: int | None = None, rank: int | None = None, shuffle: bool = True,
                 seed: int = 0, drop_last: bool = False):
        if num_replicas is None or rank is None:
            from .. import distributed as dist  # data sits below distributed; asked only when needed
            if not dist.is_initialized():
                raise RuntimeError("DistributedSampler: pass num_replicas and rank, or call "
                                   "nnkit.distributed.init_process_group() first")
            num_replicas = dist.get_world_size() if num_replicas is None else num_replicas
            rank = dist.get_rank() if rank is None else rank
        if not isinstance(num_replicas, int) or num_replicas < 1:
            raise ValueError(f"DistributedSampler: num_replicas must be a positive integer, got {num_replicas!r}")
        if not isinstance(rank, int) or not 0 <= rank < num_replicas:
            raise ValueError(f"DistributedSampler: Invalid rank {rank}, rank should be in the interval "
                             f"[0, {num_replicas - 1}]")
        self.dataset = dataset
        self.num_replicas, self.rank = num_replicas, rank
        self.shuffle, self.seed, self.drop_last = shuffle, int(seed), drop_last
        self.epoch = 0
        n = len(dataset)
        if drop_last and n % num_replicas:
            self.num_samples = math.ceil((n - num_replicas) / num_replicas)
        else:
            self.num_samples = math.ceil(n / num_replicas)
        self.total_size = self.num_samples * num_replicas

    def _indices(self) -> np.ndarray:
        n = len(self.dataset)
        if self.shuffle:
            indices = np.random.default_rng(self.seed + self.epoch).permutation(n)
        else:
            indices = np.arange(n, dtype=np.int64)
        if self.total_size > n:  # pad: repeat the start (the whole order again if it is shorter than the pad)
            indices = np.resize(indices, self.total_size)
        else:
            indices = indices[:self.total_size]
        return indices[self.rank:self.total_size:self.num_replicas].astype(np.int64)

    def __len__(self) -> int:
        return self.num_samples

    def set_epoch(self, epoch: int) -> None:
        """Shuffle differently in epoch ``epoch`` (the same way on every rank)."""
        self.epoch = int(epoch)
