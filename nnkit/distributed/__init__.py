"""``nnkit.distributed``: training on several processes or machines, as ``torch.distributed``.

Start the same script on every process with MPI's launcher, one machine or
many (``mpiexec -n 4 python train.py``; ``mpiexec -f hosts -n 8 ...``), and
join the job with :func:`init_process_group`. Then:

- the collectives (:func:`all_reduce`, :func:`broadcast`, :func:`all_gather`,
  :func:`reduce_scatter`, :func:`reduce`, :func:`barrier`) and point-to-point
  :func:`send` / :func:`recv` work in place on nnkit tensors, over
  MPI (``mpi4py``) or, between GPUs, NCCL (``cupy.cuda.nccl``);
- :class:`nnkit.nn.parallel.DistributedDataParallel` averages gradients across
  ranks during ``backward``;
- :class:`nnkit.data.DistributedSampler` gives each rank its share of a data set;
- :class:`nnkit.distributed.optim.ZeroRedundancyOptimizer` shards the optimizer's
  state across ranks (ZeRO stage 1).

``import nnkit`` does not need MPI: mpi4py is imported when a process group is made.
"""

from . import optim
from .collectives import (DistBackendError, DistError, GroupMember, ReduceOp, Work, all_gather, all_gather_into_tensor,
                          all_gather_object, all_reduce, barrier, broadcast, broadcast_object_list,
                          destroy_process_group, get_backend, get_rank, get_world_size, group, init_process_group,
                          irecv, is_available, is_initialized, is_mpi_available, is_nccl_available, isend, recv,
                          reduce, reduce_scatter, reduce_scatter_tensor, send)

__all__ = ["init_process_group", "destroy_process_group", "is_initialized", "is_available", "is_mpi_available",
           "is_nccl_available", "get_rank", "get_world_size", "get_backend", "ReduceOp", "Work", "DistError",
           "DistBackendError", "GroupMember", "group", "barrier", "all_reduce", "broadcast", "all_gather",
           "all_gather_into_tensor", "reduce_scatter", "reduce_scatter_tensor", "all_gather_object",
           "broadcast_object_list", "reduce", "send", "recv", "isend", "irecv", "optim"]
