"""``DistributedDataParallel``: the same model on every rank, gradients averaged during backward.

Data parallelism: each rank runs the model on its own slice of the global batch,
then the ranks average their gradients, so every rank takes the same optimizer
step as one process on the whole batch would. The average is an all-reduce, and
it need not wait for the end of backward: a layer's gradient is final as soon
as backward has passed it. So the parameters are grouped into *buckets*, in the
reverse of the order the model registers them (roughly the order backward
reaches them); when every parameter of a bucket has its gradient (a
post-accumulate-grad hook on each parameter counts them), the bucket's
gradients are packed into one buffer and a non-blocking all-reduce starts,
while backward carries on into the earlier layers. The last parameter's hook
waits for all buckets and writes the averages back into ``.grad``.

Buckets start in the same order on every rank (MPI matches collectives by
order), whatever order their gradients arrive in.
"""

from __future__ import annotations

import contextlib
from typing import Any, Iterator

import numpy

from .. import backend
from .. import distributed as dist
from ..autograd import no_grad
from ..tensor import Tensor
from .module import Module

__all__ = ["DistributedDataParallel"]

_FIRST_BUCKET_BYTES = 1024 * 1024  # PyTorch's: a small first bucket starts communication early


class _Bucket:
    __slots__ = ("params", "offsets", "size", "dtype", "pending", "work", "buffer")

    def __init__(self, params: list):
        self.params = params
        self.offsets = numpy.cumsum([0] + [p.numel() for p in params]).tolist()
        self.size = self.offsets[-1]
        self.dtype = params[0].dtype
        self.pending = len(params)
        self.work = None
        self.buffer = None


class DistributedDataParallel(Module):
    """Wrap ``module`` so that ``backward`` averages its gradients over all ranks, as PyTorch's.

    At wrap time, rank 0's parameters and buffers are copied to every rank (so
    all start equal) and every rank checks that the models have the same
    parameters. In training, buffers (BatchNorm's running statistics) are copied
    from rank 0 at each forward when ``broadcast_buffers``.

    ``bucket_cap_mb`` caps a bucket's size (25 MB by default, as PyTorch; the
    first bucket holds at most 1 MB). Every parameter that requires a gradient
    must get one in every backward, or the next forward raises; with
    ``find_unused_parameters=True`` the forward's graph is searched for the
    parameters it does not reach, and those count as ready at once (they
    contribute zeros; a parameter that no rank used keeps its ``.grad``).

    ``no_sync()`` skips the averaging, for gradient accumulation: run the
    micro-batches but the last inside it, and the last outside.

    >>> model = DistributedDataParallel(net)  # doctest: +SKIP
    >>> loss_fn(model(x), y).backward()       # gradients are averaged over the ranks  # doctest: +SKIP
    """

    def __init__(self, module: Module, device_ids: list | None = None, output_device=None, dim: int = 0,
                 broadcast_buffers: bool = True, process_group=None, bucket_cap_mb: float | None = None,
                 find_unused_parameters: bool = False, check_reduction: bool = False,
                 gradient_as_bucket_view: bool = False, static_graph: bool = False):
        super().__init__()
        name = "DistributedDataParallel"
        if not isinstance(module, Module):
            raise TypeError(f"{name}: expected an nnkit.nn.Module, got {type(module).__name__}")
        for option, value, default in (("device_ids", device_ids, None), ("output_device", output_device, None),
                                       ("dim", dim, 0), ("check_reduction", check_reduction, False),
                                       ("static_graph", static_graph, False)):
            if value != default:
                raise NotImplementedError(f"{name}: the option {option}={value!r} is not supported (the module "
                                          "runs where its parameters are; nothing is scattered)")
        if bucket_cap_mb is not None and not bucket_cap_mb > 0:
            raise ValueError(f"{name}: bucket_cap_mb must be positive, got {bucket_cap_mb!r}")
        self.process_group = dist.collectives._group(process_group, name)
        self.module = module
        self.broadcast_buffers = broadcast_buffers
        self.find_unused_parameters = find_unused_parameters
        self.gradient_as_bucket_view = gradient_as_bucket_view
        self.bucket_cap_mb = 25.0 if bucket_cap_mb is None else float(bucket_cap_mb)
        self.require_backward_grad_sync = True
        named = [(n, p) for n, p in module.named_parameters() if p.requires_grad]
        if not named:
            raise RuntimeError(f"{name}: the module has no parameter that requires a gradient")
        self._names = {p: n for n, p in named}
        self._check_same_model(named)
        with no_grad():
            self._broadcast_coalesced([p for _, p in module.named_parameters()] + list(module.buffers()))
        self._buckets = self._make_buckets([p for _, p in named])
        self._bucket_of = {p: b for b in self._buckets for p in b.params}
        self._handles = [p.register_post_accumulate_grad_hook(self._grad_ready) for _, p in named]
        self._prepared = False
        self._ready: set = set()
        self._next_bucket = 0

    # --- wrap time ------------------------------------------------------------------------
    def _check_same_model(self, named: list) -> None:
        mine = [(n, tuple(p.shape), str(p.dtype)) for n, p in named]
        everyone = [None] * self.process_group.world_size
        dist.all_gather_object(everyone, mine)
        for rank, theirs in enumerate(everyone):
            if theirs != mine:
                diff = next(((a, b) for a, b in zip(mine, theirs) if a != b), None)
                detail = (f"parameter {diff[0][0]!r} is {diff[0][1:]} on rank {self.process_group.rank} but "
                          f"{diff[1][0]!r} is {diff[1][1:]} on rank {rank}" if diff else
                          f"{len(mine)} parameters on rank {self.process_group.rank}, {len(theirs)} on rank {rank}")
                raise RuntimeError(f"DistributedDataParallel: the model differs between ranks ({detail}); "
                                   "every rank must build the same model")

    def _broadcast_coalesced(self, tensors: list) -> None:
        """Copy rank 0's tensors to every rank: one broadcast per dtype, of all of them packed together."""
        by_dtype: dict = {}
        for t in tensors:
            by_dtype.setdefault((t.dtype, t.device.type), []).append(t)
        for group in by_dtype.values():
            xp = group[0]._xp
            flat = xp.concatenate([t.array.reshape(-1) for t in group])
            dist.broadcast(Tensor._wrap(flat), src=0)
            offset = 0
            for t in group:
                t.array[...] = flat[offset:offset + t.numel()].reshape(t.shape)
                offset += t.numel()

    def _make_buckets(self, params: list) -> list:
        buckets, current, size = [], [], 0
        cap = min(_FIRST_BUCKET_BYTES, self.bucket_cap_mb * 2**20)
        for p in reversed(params):
            nbytes = p.numel() * p.dtype.itemsize
            if current and (size + nbytes > cap or (p.dtype, p.device) != (current[0].dtype, current[0].device)):
                buckets.append(_Bucket(current))
                current, size, cap = [], 0, self.bucket_cap_mb * 2**20
            current.append(p)
            size += nbytes
        buckets.append(_Bucket(current))
        return buckets

    # --- forward: get ready for this iteration's backward ----------------------------------------
    def forward(self, *args, **kwargs) -> Any:
        if self._prepared:
            missing = [self._names[p] for p in self._names if p not in self._ready]
            raise RuntimeError(
                "DistributedDataParallel: Expected to have finished reduction in the prior iteration before "
                "starting a new one. This error indicates that your module has parameters that were not used in "
                f"producing loss (here: {missing}), or that backward was not called after the last forward. "
                "Pass find_unused_parameters=True to DistributedDataParallel if some parameters do not take "
                "part in every iteration.")
        if self.broadcast_buffers and self.training:
            buffers = list(self.module.buffers())
            if buffers:
                with no_grad():
                    self._broadcast_coalesced(buffers)
        output = self.module(*args, **kwargs)
        if self.require_backward_grad_sync and _records_graph(output):
            self._prepared = True
            if self.find_unused_parameters:
                reached = _leaves_reached(output)
                for p in self._names:
                    if p not in reached:
                        self._mark_ready(p)
        return output

    @contextlib.contextmanager
    def no_sync(self) -> Iterator[None]:
        """Inside, backward only accumulates gradients locally (no communication): gradient accumulation."""
        previous, self.require_backward_grad_sync = self.require_backward_grad_sync, False
        try:
            yield
        finally:
            self.require_backward_grad_sync = previous

    # --- backward: a bucket starts its all-reduce as soon as its gradients are in ---------------------
    def _grad_ready(self, p: Tensor) -> None:
        if not self._prepared:
            return  # forward ran under no_sync (or recorded no graph): nothing to average
        if p in self._ready:
            raise RuntimeError(f"DistributedDataParallel: Expected to mark a variable ready only once; parameter "
                               f"{self._names[p]!r} got a second gradient in this iteration (backward through "
                               "the same output twice, or two losses backward separately?): add the losses and "
                               "call backward once")
        self._mark_ready(p)

    def _mark_ready(self, p: Tensor) -> None:
        self._ready.add(p)
        self._bucket_of[p].pending -= 1
        for b in self._buckets[:self._next_bucket]:
            if b.work is not None:
                b.work.is_completed()  # MPI moves non-blocking collectives on only when called
        while self._next_bucket < len(self._buckets) and self._buckets[self._next_bucket].pending == 0:
            self._launch(self._buckets[self._next_bucket])
            self._next_bucket += 1
        if self._next_bucket == len(self._buckets):
            self._finish()

    def _launch(self, bucket: _Bucket) -> None:
        xp = bucket.params[0]._xp
        if bucket.buffer is None or backend.xp_of(bucket.buffer) is not xp:
            # One buffer per bucket for the whole run, as PyTorch: a fresh one every step paid for its page faults.
            bucket.buffer = xp.empty(bucket.size, dtype=bucket.dtype)
        buffer = bucket.buffer
        for p, start, stop in zip(bucket.params, bucket.offsets, bucket.offsets[1:]):
            if p.grad is None:
                buffer[start:stop] = 0
            else:
                buffer[start:stop] = p.grad.array.reshape(-1)
        bucket.work = dist.all_reduce(Tensor._wrap(buffer), op=dist.ReduceOp.AVG, async_op=True)

    def _finish(self) -> None:
        """Wait for every bucket, put the averages into ``.grad``, and reset for the next iteration."""
        used = None
        if self.find_unused_parameters:
            # A parameter some rank has a gradient for gets the average; one no rank has keeps .grad as it is.
            xp = self._buckets[0].params[0]._xp  # on the parameters' device: NCCL reduces GPU memory only
            flags = Tensor._wrap(xp.asarray([p.grad is not None for p in self._names], dtype=numpy.int32))
            dist.all_reduce(flags, op=dist.ReduceOp.MAX)
            used = dict(zip(self._names, flags.tolist()))
        for bucket in self._buckets:
            bucket.work.wait()
            for p, start, stop in zip(bucket.params, bucket.offsets, bucket.offsets[1:]):
                if used is not None and not used[p]:
                    continue
                average = bucket.buffer[start:stop].reshape(p.shape)
                if p.grad is None:
                    p.grad = Tensor._wrap(average if self.gradient_as_bucket_view else average.copy())
                elif self.gradient_as_bucket_view or not _writeable(p.grad.array):
                    p.grad.array = average
                else:
                    p.grad.array[...] = average
            bucket.work = None
            bucket.pending = len(bucket.params)
        self._ready.clear()
        self._next_bucket = 0
        self._prepared = False


def _writeable(array) -> bool:
    flags = array.flags
    return getattr(flags, "writeable", True) and flags.c_contiguous


def _tensors_in(output) -> list:
    if isinstance(output, Tensor):
        return [output]
    if isinstance(output, dict):
        output = list(output.values())
    if isinstance(output, (list, tuple)):
        return [t for item in output for t in _tensors_in(item)]
    return []


def _records_graph(output) -> bool:
    return any(t.requires_grad for t in _tensors_in(output))


def _leaves_reached(output) -> set:
    """The leaf tensors that the graph of ``output`` reaches (what a backward from it will give gradients)."""
    reached, seen = set(), set()
    stack = [t for t in _tensors_in(output) if t.requires_grad]
    while stack:
        t = stack.pop()
        if t in seen:
            continue
        seen.add(t)
        if t.grad_fn is None:
            reached.add(t)
        else:
            stack.extend(p for p in t.grad_fn.parents if p.requires_grad)
    return reached
