"""The process group and its collectives, as ``torch.distributed``: MPI between processes, NCCL between GPUs.

Every process of a job runs the same script (``mpiexec -n 4 python train.py``);
:func:`init_process_group` joins it to the others. A *collective* is a call that
every rank makes, in the same order, on tensors of the same shape:
:func:`all_reduce` leaves the sum (or mean, max, ...) of all ranks' tensors in
each rank's tensor, :func:`broadcast` copies rank ``src``'s tensor to all,
:func:`all_gather` gives every rank everybody's tensor, :func:`reduce_scatter`
sums and hands each rank one piece of the sum. All of them work in place on
nnkit tensors, as PyTorch's do.

Nothing may hang. Every collective is started non-blocking (``Iallreduce``,
``Ibcast``...) and waited for by polling against a deadline (the ``timeout`` of
:func:`init_process_group`); past it, the wait raises :class:`DistBackendError`.
An exception that nobody catches, on any rank, prints the rank and the error
and calls ``MPI_Abort``, so ``mpiexec`` ends the whole job with a non-zero exit
status instead of leaving the other ranks waiting forever; a rank killed by a
signal ends the job too (``mpiexec`` sees to that). A rank that leaves quietly
while the others still wait for it (``sys.exit``, or a script that returns
early on one rank) is noticed by their timeout.
"""

from __future__ import annotations

import datetime
import enum
import pickle
import socket
import sys
import time
import traceback
from typing import Callable

import numpy

from .. import backend
from ..tensor import Tensor

__all__ = ["ReduceOp", "Work", "DistError", "DistBackendError", "GroupMember", "group", "init_process_group",
           "destroy_process_group", "is_initialized", "is_available", "is_mpi_available", "is_nccl_available",
           "get_rank", "get_world_size", "get_backend", "barrier", "all_reduce", "broadcast", "all_gather",
           "all_gather_into_tensor", "reduce_scatter", "reduce_scatter_tensor", "all_gather_object",
           "broadcast_object_list", "reduce", "send", "recv", "isend", "irecv"]

# PyTorch's default for its CPU backends: long enough for a slow first step.
DEFAULT_TIMEOUT = datetime.timedelta(minutes=30)


class DistError(RuntimeError):
    """Something went wrong in ``nnkit.distributed`` (as ``torch.distributed.DistError``)."""


class DistBackendError(DistError):
    """A collective failed or timed out in the backend (MPI or NCCL)."""


class ReduceOp(enum.Enum):
    """How :func:`all_reduce` and :func:`reduce_scatter` combine the ranks' tensors."""
    SUM = "sum"
    AVG = "avg"
    MAX = "max"
    MIN = "min"
    PRODUCT = "product"


class _World:
    """Stands for the default group (``group.WORLD``): the only group nnkit has."""

    def __repr__(self) -> str:
        return "<nnkit.distributed default group (WORLD)>"


class GroupMember:
    WORLD = _World()


group = GroupMember  # ``dist.group.WORLD``, as in PyTorch

_state: dict = {"pg": None}


# --- waiting with a deadline ----------------------------------------------------------
def _wait(done: Callable[[], bool], what: str, deadline: float) -> None:
    """Poll ``done()`` until it is true; raise :class:`DistBackendError` past ``deadline``.

    MPI moves a non-blocking collective on only while it is being tested, so
    the polls spin, as ``MPI_Wait`` itself does (a yield after every poll made a
    1 MB all-reduce 2x slower); every ``_POLLS`` polls the deadline is checked
    and the core yielded, since on an oversubscribed machine the rank we wait
    for may need it.
    """
    while True:
        for _ in range(_POLLS):
            if done():
                return
        if time.monotonic() > deadline:
            pg = _state["pg"]
            where = f"rank {pg.rank} of {pg.world_size}" if pg is not None else "this rank"
            raise DistBackendError(f"{what} timed out on {where} after {pg.timeout:.1f} s: another rank did not "
                                   "join this collective (did one rank skip it, fail, or call collectives in a "
                                   "different order?)")
        time.sleep(0)


_POLLS = 1000  # MPICH's own default polls before a yield (MPIR_CVAR_POLLS_BEFORE_YIELD)


class Work:
    """A collective in flight, as ``torch.distributed.Work``: what ``async_op=True`` returns.

    ``wait()`` blocks until the collective has finished (and its result is in the
    tensors), raising :class:`DistBackendError` past the group's timeout.
    """

    def __init__(self, what: str, test: Callable[[], bool], finish: Callable[[], None] | None, timeout: float):
        self._what, self._test, self._finish = what, test, finish
        self._deadline = time.monotonic() + timeout
        self._done = False

    def is_completed(self) -> bool:
        """Whether the collective has finished (and, if so, its result is in place)."""
        if not self._done and self._test():
            self._complete()
        return self._done

    def wait(self, timeout: datetime.timedelta | float | None = None) -> bool:
        if not self._done:
            deadline = self._deadline if timeout is None else time.monotonic() + _seconds(timeout)
            _wait(self._test, self._what, deadline)
            self._complete()
        return True

    def _complete(self) -> None:
        self._done = True
        if self._finish is not None:
            self._finish()

    def __repr__(self) -> str:
        return f"<Work {self._what}: {'completed' if self._done else 'in flight'}>"


def _seconds(timeout) -> float:
    if isinstance(timeout, datetime.timedelta):
        return timeout.total_seconds()
    if isinstance(timeout, (int, float)) and timeout > 0:
        return float(timeout)
    raise ValueError(f"timeout must be a datetime.timedelta or a positive number of seconds, got {timeout!r}")


# --- the backends ----------------------------------------------------------------------
def _mpi():
    try:
        from mpi4py import MPI
    except ImportError as e:  # pragma: no cover - the dist extra installs it
        raise RuntimeError("nnkit.distributed needs mpi4py and an MPI library: pip install 'nnkit[dist]' "
                           "(mpi4py and the mpich wheel)") from e
    return MPI


class _MPIGroup:
    """Collectives over MPI (``mpi4py``), on host memory: CuPy arrays are staged through the host."""

    name = "mpi"

    def __init__(self, timeout: float):
        MPI = _mpi()
        self.MPI = MPI
        self.comm = MPI.COMM_WORLD
        self.rank, self.world_size = self.comm.Get_rank(), self.comm.Get_size()
        self.timeout = timeout
        self.ops = {ReduceOp.SUM: MPI.SUM, ReduceOp.AVG: MPI.SUM, ReduceOp.MAX: MPI.MAX,
                    ReduceOp.MIN: MPI.MIN, ReduceOp.PRODUCT: MPI.PROD}

    def _mpi_work(self, what: str, request) -> Work:
        return Work(what, request.Test, None, self.timeout)

    def all_reduce(self, array, op: ReduceOp, what: str) -> Work:
        MPI = self.MPI
        return self._mpi_work(what, self.comm.Iallreduce(MPI.IN_PLACE, array, op=self.ops[op]))

    def broadcast(self, array, src: int, what: str) -> Work:
        return self._mpi_work(what, self.comm.Ibcast(array.reshape(-1).view(numpy.uint8), root=src))

    def all_gather(self, out, array, what: str) -> Work:
        return self._mpi_work(what, self.comm.Iallgather(array.reshape(-1).view(numpy.uint8),
                                                         out.reshape(-1).view(numpy.uint8)))

    def reduce_scatter(self, out, array, op: ReduceOp, what: str) -> Work:
        return self._mpi_work(what, self.comm.Ireduce_scatter_block(array, out, op=self.ops[op]))

    def barrier(self, what: str) -> Work:
        return self._mpi_work(what, self.comm.Ibarrier())

    def reduce(self, array, dst: int, op: ReduceOp, what: str) -> Work:
        MPI = self.MPI
        send = MPI.IN_PLACE if self.rank == dst else array
        return self._mpi_work(what, self.comm.Ireduce(send, array if self.rank == dst else None,
                                                      op=self.ops[op], root=dst))

    def send(self, array, dst: int, tag: int, what: str) -> Work:
        return self._mpi_work(what, self.comm.Isend(array.reshape(-1).view(numpy.uint8), dest=dst, tag=tag))

    def recv(self, array, src: int, tag: int, what: str) -> Work:
        return self._mpi_work(what, self.comm.Irecv(array.reshape(-1).view(numpy.uint8), source=src, tag=tag))

    def abort(self, code: int) -> None:
        self.comm.Abort(code)

    def close(self) -> None:
        pass


class _NCCLGroup(_MPIGroup):
    """Collectives between GPUs with NCCL (``cupy.cuda.nccl``); MPI starts the job and carries NCCL's unique id.

    Each rank uses GPU ``rank % device_count``. NCCL runs on the current CuPy
    stream; a collective's completion is a CUDA event, polled against the deadline.
    """

    name = "nccl"

    def __init__(self, timeout: float):
        super().__init__(timeout)
        cupy = backend._load_cupy()
        if cupy is None:
            raise RuntimeError("init_process_group(backend='nccl'): needs CuPy and a CUDA GPU "
                               "(cupy.is_available() is False); use backend='mpi'")
        from cupy.cuda import nccl
        self.cupy, self.nccl = cupy, nccl
        gpu = self.rank % cupy.cuda.runtime.getDeviceCount()
        places = numpy.zeros((self.world_size, 65), dtype=numpy.uint8)
        mine = numpy.frombuffer(f"{socket.gethostname()[:60]}:{gpu}".encode().ljust(65), numpy.uint8)
        _MPIGroup.all_gather(self, places, mine, "init_process_group(nccl): where each rank runs").wait()
        if len({bytes(row) for row in places}) < self.world_size:
            raise RuntimeError(f"init_process_group(backend='nccl'): {self.world_size} ranks but only "
                               f"{cupy.cuda.runtime.getDeviceCount()} GPU(s) on this machine, and NCCL needs one GPU "
                               "per rank (it hangs rather than share one); start fewer ranks, or use backend='mpi'")
        cupy.cuda.Device(gpu).use()
        # NCCL_UNIQUE_ID_BYTES, then whether CuPy gave them as bytes (CuPy 14) or a tuple of ints (before)
        uid = numpy.zeros(129, dtype=numpy.int8)
        if self.rank == 0:
            given = nccl.get_unique_id()
            as_bytes = isinstance(given, bytes)
            uid[:128] = numpy.frombuffer(given, numpy.int8) if as_bytes else given
            uid[128] = as_bytes
        _MPIGroup.broadcast(self, uid, 0, "init_process_group(nccl): broadcast of NCCL's unique id").wait()
        unique_id = uid[:128].tobytes() if uid[128] else tuple(int(v) for v in uid[:128])
        self.nccl_comm = nccl.NcclCommunicator(self.world_size, unique_id, self.rank)
        self.nccl_ops = {ReduceOp.SUM: nccl.NCCL_SUM, ReduceOp.AVG: nccl.NCCL_SUM, ReduceOp.MAX: nccl.NCCL_MAX,
                         ReduceOp.MIN: nccl.NCCL_MIN, ReduceOp.PRODUCT: nccl.NCCL_PROD}
        self.types = {numpy.dtype(k): getattr(nccl, v) for k, v in
                      (("float16", "NCCL_FLOAT16"), ("float32", "NCCL_FLOAT32"), ("float64", "NCCL_FLOAT64"),
                       ("int32", "NCCL_INT32"), ("int64", "NCCL_INT64"), ("uint8", "NCCL_UINT8"),
                       ("int8", "NCCL_INT8"))}

    def _type(self, array, what: str):
        if not isinstance(array, self.cupy.ndarray):
            raise TypeError(f"{what}: the nccl backend works on GPU tensors; this one is on the CPU "
                            "(move it with .cuda(), or use backend='mpi')")
        if array.dtype not in self.types:
            raise TypeError(f"{what}: the nccl backend has no {array.dtype} type")
        return self.types[array.dtype]

    def _stream_work(self, what: str) -> Work:
        stream = self.cupy.cuda.get_current_stream()
        event = self.cupy.cuda.Event(disable_timing=True)
        event.record(stream)
        return Work(what, lambda: event.done, None, self.timeout)

    def _stream(self) -> int:
        return self.cupy.cuda.get_current_stream().ptr

    def all_reduce(self, array, op, what):
        t = self._type(array, what)
        self.nccl_comm.allReduce(array.data.ptr, array.data.ptr, array.size, t, self.nccl_ops[op], self._stream())
        return self._stream_work(what)

    def broadcast(self, array, src, what):
        self.nccl_comm.bcast(array.data.ptr, array.size, self._type(array, what), src, self._stream())
        return self._stream_work(what)

    def all_gather(self, out, array, what):
        self._type(out, what)
        self.nccl_comm.allGather(array.data.ptr, out.data.ptr, array.size, self._type(array, what), self._stream())
        return self._stream_work(what)

    def reduce_scatter(self, out, array, op, what):
        self.nccl_comm.reduceScatter(array.data.ptr, out.data.ptr, out.size, self._type(array, what),
                                     self.nccl_ops[op], self._stream())
        return self._stream_work(what)

    def reduce(self, array, dst, op, what):
        raise NotImplementedError(f"{what}: not supported on the nccl backend (use all_reduce)")

    def send(self, array, dst, tag, what):
        raise NotImplementedError(f"{what}: point-to-point is not supported on the nccl backend")

    recv = send

    def barrier(self, what):
        flag = self.cupy.zeros(1, dtype=self.cupy.float32)
        return self.all_reduce(flag, ReduceOp.SUM, what)

    def abort(self, code):
        try:
            self.nccl_comm.abort()
        finally:
            super().abort(code)

    def close(self):
        self.nccl_comm.destroy()


# --- the process group -----------------------------------------------------------------
def is_available() -> bool:
    """Whether ``nnkit.distributed`` can run here (mpi4py and an MPI library are installed)."""
    return is_mpi_available()


def is_mpi_available() -> bool:
    try:
        from mpi4py import MPI  # noqa: F401
    except ImportError:
        return False
    return True


def is_nccl_available() -> bool:
    if not backend.cuda_is_available():
        return False
    try:
        from cupy.cuda import nccl  # noqa: F401
    except ImportError:
        return False
    return True


def _excepthook(kind, value, tb) -> None:
    """An uncaught exception on one rank ends the whole job (``MPI_Abort``), naming the rank."""
    pg = _state["pg"]
    prefix = f"[rank {pg.rank}]" if pg is not None else "[rank ?]"
    text = "".join(traceback.format_exception(kind, value, tb))
    sys.stderr.write("".join(f"{prefix} {line}\n" for line in text.rstrip("\n").split("\n")))
    sys.stderr.write(f"nnkit.distributed: rank {pg.rank} of {pg.world_size} failed with "
                     f"{kind.__name__}: {value}; aborting the whole job\n")
    sys.stderr.flush()
    pg.abort(1)


def init_process_group(backend: str | None = None, init_method: str | None = None,
                       timeout: datetime.timedelta | float | None = None, world_size: int = -1, rank: int = -1,
                       **unsupported) -> None:
    """Join this process to the job that ``mpiexec`` started, as ``torch.distributed.init_process_group``.

    ``backend`` is ``"mpi"`` (the default; CPU tensors, CuPy tensors staged
    through the host) or ``"nccl"`` (CuPy tensors, one GPU per rank; MPI still
    starts the processes and hands out NCCL's unique id). MPI decides the
    ranks, so ``world_size`` and ``rank``, if given, must agree with it.
    ``timeout`` (a ``timedelta`` or seconds; 30 minutes by default) bounds every
    collective's wait.

    Run a script with ``mpiexec -n 2 python train.py``; run alone, it is a job of one.

    >>> import nnkit.distributed as dist
    >>> dist.init_process_group("mpi")  # doctest: +SKIP
    >>> dist.get_rank(), dist.get_world_size()  # doctest: +SKIP
    (0, 1)
    """
    if _state["pg"] is not None:
        raise RuntimeError("init_process_group: the default process group is already initialized "
                           "(call destroy_process_group() first)")
    for name, value in unsupported.items():
        if value is not None:
            raise NotImplementedError(f"init_process_group: the option {name!r} is not supported")
    if init_method not in (None, "env://"):
        raise NotImplementedError(f"init_process_group: init_method={init_method!r} is not supported: "
                                  "MPI's launcher (mpiexec, a host file) decides who joins")
    name = (backend or "mpi").lower()
    groups = {"mpi": _MPIGroup, "nccl": _NCCLGroup}
    if name not in groups:
        raise ValueError(f"init_process_group: unknown backend {backend!r}; nnkit has 'mpi' and 'nccl'")
    seconds = _seconds(DEFAULT_TIMEOUT if timeout is None else timeout)
    pg = groups[name](seconds)
    for what, given, actual in (("world_size", world_size, pg.world_size), ("rank", rank, pg.rank)):
        if given != -1 and given != actual:
            raise ValueError(f"init_process_group: {what}={given} but MPI started this process with "
                             f"{what}={actual} (mpiexec -n decides the world size)")
    _state["pg"] = pg
    _state["excepthook"] = sys.excepthook
    sys.excepthook = _excepthook


def destroy_process_group(group=None) -> None:
    """Leave the job: after this, collectives need a new :func:`init_process_group`."""
    pg = _group(group, "destroy_process_group")
    pg.close()
    _state["pg"] = None
    sys.excepthook = _state.pop("excepthook", sys.__excepthook__)


def is_initialized() -> bool:
    """Whether :func:`init_process_group` has been called (and not destroyed)."""
    return _state["pg"] is not None


def _group(group, caller: str):
    pg = _state["pg"]
    if pg is None:
        raise ValueError(f"{caller}: Default process group has not been initialized, "
                         "please make sure to call init_process_group.")
    if group is not None and group is not GroupMember.WORLD:
        raise NotImplementedError(f"{caller}: only the default group (group=None) is supported")
    return pg


def get_rank(group=None) -> int:
    """This process's number in the job, from 0 to ``get_world_size() - 1``."""
    return _group(group, "get_rank").rank


def get_world_size(group=None) -> int:
    """How many processes the job has."""
    return _group(group, "get_world_size").world_size


def get_backend(group=None) -> str:
    return _group(group, "get_backend").name


# --- the collectives -------------------------------------------------------------------
def _array(tensor, caller: str, name: str = "tensor"):
    if not isinstance(tensor, Tensor):
        raise TypeError(f"{caller}: {name} must be an nnkit Tensor, got {type(tensor).__name__}")
    return tensor.array


def _staged(pg, array):
    """A contiguous buffer for the backend, and how to put its result back into ``array``.

    MPI reads host memory: CuPy arrays go through the host. A non-contiguous
    array goes through a contiguous copy. Otherwise the collective works on
    ``array`` itself, in place.
    """
    if pg.name == "nccl":
        native = array.flags.c_contiguous
    else:
        native = backend.xp_of(array) is numpy and array.flags.c_contiguous and array.flags.writeable
    if native:
        return array, None
    buffer = array.copy() if pg.name == "nccl" else numpy.ascontiguousarray(backend.to_module(array, numpy))

    def back():
        array[...] = backend.to_module(buffer, backend.xp_of(array))
    return buffer, back


def _widened(pg, array, op: ReduceOp, caller: str) -> bool:
    """Whether to reduce in float32: MPI reduces float16 itself but not bfloat16 (ml_dtypes' types)."""
    if not isinstance(op, ReduceOp):
        raise TypeError(f"{caller}: op must be a ReduceOp (SUM, AVG, MAX, MIN, PRODUCT), got {op!r}")
    if op is ReduceOp.AVG and array.dtype.kind not in "fc":
        raise TypeError(f"{caller}: ReduceOp.AVG needs a floating-point tensor, got {array.dtype}")
    return pg.name == "mpi" and array.dtype.kind == "V"


def _finish_all(*steps):
    steps = [s for s in steps if s is not None]

    def run():
        for s in steps:
            s()
    return run if steps else None


def _start(work: Work, async_op: bool):
    if async_op:
        return work
    work.wait()
    return None


def all_reduce(tensor: Tensor, op: ReduceOp = ReduceOp.SUM, group=None, async_op: bool = False) -> Work | None:
    """Combine ``tensor`` across all ranks, in place: afterwards every rank holds the result.

    ``ReduceOp.AVG`` is the sum divided by the world size (what data-parallel
    training does to gradients).

    >>> t = nnkit.tensor([float(dist.get_rank())])  # doctest: +SKIP
    >>> dist.all_reduce(t)  # on 2 ranks: t == [0. + 1.] everywhere  # doctest: +SKIP
    """
    caller = "all_reduce"
    pg = _group(group, caller)
    array = _array(tensor, caller)
    widen = _widened(pg, array, op, caller)
    buffer, back = _staged(pg, array)
    if widen:
        narrow, buffer = buffer, numpy.ascontiguousarray(buffer, dtype=numpy.float32)
        back = _finish_all(lambda: numpy.copyto(narrow, buffer, casting="unsafe"), back)
    average = None
    if op is ReduceOp.AVG:
        def average():
            buffer[...] /= pg.world_size
    work = pg.all_reduce(buffer, op, caller)
    work._finish = _finish_all(average, back)
    return _start(work, async_op)


def broadcast(tensor: Tensor, src: int, group=None, async_op: bool = False) -> Work | None:
    """Copy rank ``src``'s ``tensor`` into ``tensor`` on every rank (in place)."""
    caller = "broadcast"
    pg = _group(group, caller)
    array = _array(tensor, caller)
    _check_rank(pg, src, caller, "src")
    buffer, back = _staged(pg, array)
    work = pg.broadcast(buffer, src, caller)
    work._finish = back
    return _start(work, async_op)


def _same(caller: str, array, other, what: str) -> None:
    if other.shape != array.shape or other.dtype != array.dtype:
        raise ValueError(f"{caller}: {what} has shape {tuple(other.shape)} and dtype {other.dtype}, but the input "
                         f"has shape {tuple(array.shape)} and dtype {array.dtype}; they must match")


def all_gather_into_tensor(output_tensor: Tensor, input_tensor: Tensor, group=None,
                           async_op: bool = False) -> Work | None:
    """Every rank's ``input_tensor``, concatenated along dim 0 in rank order, into ``output_tensor``."""
    caller = "all_gather_into_tensor"
    pg = _group(group, caller)
    out, array = _array(output_tensor, caller, "output_tensor"), _array(input_tensor, caller, "input_tensor")
    if out.dtype != array.dtype or out.size != array.size * pg.world_size:
        raise ValueError(f"{caller}: output_tensor must hold world_size ({pg.world_size}) x the input "
                         f"({tuple(array.shape)}, {array.dtype}); got {tuple(out.shape)}, {out.dtype}")
    send, _ = _staged(pg, array)
    recv, back = _staged(pg, out)
    work = pg.all_gather(recv, send, caller)
    work._finish = back
    return _start(work, async_op)


def all_gather(tensor_list: list, tensor: Tensor, group=None, async_op: bool = False) -> Work | None:
    """Fill ``tensor_list[r]`` with rank ``r``'s ``tensor``, on every rank.

    ``tensor_list`` holds ``world_size`` tensors shaped like ``tensor``.
    """
    caller = "all_gather"
    pg = _group(group, caller)
    array = _array(tensor, caller)
    if not isinstance(tensor_list, (list, tuple)) or len(tensor_list) != pg.world_size:
        raise ValueError(f"{caller}: tensor_list must be a list of world_size ({pg.world_size}) tensors, "
                         f"got {type(tensor_list).__name__} of {len(tensor_list) if hasattr(tensor_list, '__len__') else '?'}")
    outs = [_array(t, caller, f"tensor_list[{i}]") for i, t in enumerate(tensor_list)]
    for i, out in enumerate(outs):
        _same(caller, array, out, f"tensor_list[{i}]")
    gathered = Tensor._wrap(backend.xp_of(array).empty((pg.world_size,) + array.shape, dtype=array.dtype))
    work = all_gather_into_tensor(gathered, tensor, async_op=True)
    inner = work._finish

    def scatter_out():
        if inner is not None:
            inner()
        for out, piece in zip(outs, gathered.array):
            out[...] = piece
    work._finish = scatter_out
    return _start(work, async_op)


def reduce_scatter_tensor(output: Tensor, input: Tensor, op: ReduceOp = ReduceOp.SUM, group=None,
                          async_op: bool = False) -> Work | None:
    """Reduce ``input`` across ranks and give rank ``r`` the ``r``-th of ``world_size`` equal pieces (dim 0)."""
    caller = "reduce_scatter_tensor"
    pg = _group(group, caller)
    out, array = _array(output, caller, "output"), _array(input, caller, "input")
    if out.dtype != array.dtype or out.size * pg.world_size != array.size:
        raise ValueError(f"{caller}: input must hold world_size ({pg.world_size}) x the output "
                         f"({tuple(out.shape)}, {out.dtype}); got {tuple(array.shape)}, {array.dtype}")
    widen = _widened(pg, array, op, caller)
    send, _ = _staged(pg, array)
    recv, back = _staged(pg, out)
    if widen:
        send = numpy.ascontiguousarray(send, dtype=numpy.float32)
        narrow, recv = recv, numpy.empty(recv.shape, numpy.float32)
        back = _finish_all(lambda: numpy.copyto(narrow, recv, casting="unsafe"), back)
    average = None
    if op is ReduceOp.AVG:
        def average():
            recv[...] /= pg.world_size
    work = pg.reduce_scatter(recv, send, op, caller)
    work._finish = _finish_all(average, back)
    return _start(work, async_op)


def reduce_scatter(output: Tensor, input_list: list, op: ReduceOp = ReduceOp.SUM, group=None,
                   async_op: bool = False) -> Work | None:
    """Reduce ``input_list[r]`` across ranks into rank ``r``'s ``output``.

    Each rank passes ``world_size`` tensors shaped like ``output``.
    """
    caller = "reduce_scatter"
    pg = _group(group, caller)
    array = _array(output, caller, "output")
    if not isinstance(input_list, (list, tuple)) or len(input_list) != pg.world_size:
        raise ValueError(f"{caller}: input_list must be a list of world_size ({pg.world_size}) tensors")
    ins = [_array(t, caller, f"input_list[{i}]") for i, t in enumerate(input_list)]
    for i, a in enumerate(ins):
        _same(caller, array, a, f"input_list[{i}]")
    stacked = Tensor._wrap(backend.xp_of(array).stack(ins))
    return reduce_scatter_tensor(output, stacked, op, async_op=async_op)


def reduce(tensor: Tensor, dst: int, op: ReduceOp = ReduceOp.SUM, group=None, async_op: bool = False) -> Work | None:
    """Combine ``tensor`` across ranks into rank ``dst``'s ``tensor`` (the others' are left as they were)."""
    caller = "reduce"
    pg = _group(group, caller)
    array = _array(tensor, caller)
    _check_rank(pg, dst, caller, "dst")
    widen = _widened(pg, array, op, caller)
    buffer, back = _staged(pg, array)
    if widen:
        narrow, buffer = buffer, numpy.ascontiguousarray(buffer, dtype=numpy.float32)
        back = _finish_all(lambda: numpy.copyto(narrow, buffer, casting="unsafe"), back)
    if pg.rank != dst:
        back = None  # MPI leaves the senders' buffers alone; so does PyTorch
    average = None
    if op is ReduceOp.AVG and pg.rank == dst:
        def average():
            buffer[...] /= pg.world_size
    work = pg.reduce(buffer, dst, op, caller)
    work._finish = _finish_all(average, back)
    return _start(work, async_op)


def isend(tensor: Tensor, dst: int, group=None, tag: int = 0) -> Work:
    """Start sending ``tensor`` to rank ``dst``; ``wait()`` on the result before changing ``tensor``."""
    pg = _group(group, "isend")
    array = _array(tensor, "isend")
    _check_rank(pg, dst, "isend", "dst", peer=True)
    buffer, _ = _staged(pg, array)
    work = pg.send(buffer, dst, tag, "isend")
    work._keep = buffer  # the buffer must outlive the send
    return work


def irecv(tensor: Tensor, src: int, group=None, tag: int = 0) -> Work:
    """Start receiving into ``tensor`` from rank ``src`` (same shape and dtype as what was sent)."""
    pg = _group(group, "irecv")
    array = _array(tensor, "irecv")
    _check_rank(pg, src, "irecv", "src", peer=True)
    buffer, back = _staged(pg, array)
    work = pg.recv(buffer, src, tag, "irecv")
    work._finish = back
    return work


def send(tensor: Tensor, dst: int, group=None, tag: int = 0) -> None:
    """Send ``tensor`` to rank ``dst`` (which calls :func:`recv`), waiting until it has left."""
    isend(tensor, dst, group, tag).wait()


def recv(tensor: Tensor, src: int, group=None, tag: int = 0) -> int:
    """Receive into ``tensor`` from rank ``src``; returns ``src``, as PyTorch."""
    irecv(tensor, src, group, tag).wait()
    return src


def _check_rank(pg, rank, caller: str, name: str, peer: bool = False) -> None:
    if isinstance(rank, bool) or not isinstance(rank, int) or not 0 <= rank < pg.world_size:
        raise ValueError(f"{caller}: {name}={rank!r} is not a rank of this job (0 to {pg.world_size - 1})")
    if peer and rank == pg.rank:
        raise ValueError(f"{caller}: {name}={rank} is this rank itself")


def barrier(group=None, async_op: bool = False, device_ids=None) -> Work | None:
    """Wait until every rank has reached this call."""
    pg = _group(group, "barrier")
    if device_ids is not None:
        raise NotImplementedError("barrier: device_ids is not supported (each nccl rank uses GPU rank % count)")
    return _start(pg.barrier("barrier"), async_op)


# --- Python objects (pickled: only between the job's own processes) -----------------------
def broadcast_object_list(object_list: list, src: int = 0, group=None) -> None:
    """Replace ``object_list``'s items with rank ``src``'s, on every rank (pickled, as PyTorch)."""
    pg = _group(group, "broadcast_object_list")
    if not isinstance(src, int) or not 0 <= src < pg.world_size:
        raise ValueError(f"broadcast_object_list: src={src!r} is not a rank of this job (0 to {pg.world_size - 1})")
    payload = numpy.frombuffer(pickle.dumps(list(object_list)), dtype=numpy.uint8) if pg.rank == src else None
    size = numpy.array([0 if payload is None else payload.size], dtype=numpy.int64)
    _MPIGroup.broadcast(pg, size, src, "broadcast_object_list").wait()
    data = payload.copy() if payload is not None else numpy.empty(int(size[0]), numpy.uint8)
    _MPIGroup.broadcast(pg, data, src, "broadcast_object_list").wait()  # objects travel through the host
    object_list[:] = pickle.loads(data.tobytes())


def all_gather_object(object_list: list, obj, group=None) -> None:
    """Fill ``object_list[r]`` with rank ``r``'s ``obj`` (pickled, as PyTorch)."""
    pg = _group(group, "all_gather_object")
    if len(object_list) != pg.world_size:
        raise ValueError(f"all_gather_object: object_list must have world_size ({pg.world_size}) items")
    payload = numpy.frombuffer(pickle.dumps(obj), dtype=numpy.uint8)
    sizes = numpy.empty(pg.world_size, dtype=numpy.int64)
    _MPIGroup.all_gather(pg, sizes, numpy.array([payload.size], dtype=numpy.int64), "all_gather_object").wait()
    padded = numpy.zeros(int(sizes.max()), dtype=numpy.uint8)
    padded[:payload.size] = payload
    gathered = numpy.empty((pg.world_size, padded.size), dtype=numpy.uint8)
    _MPIGroup.all_gather(pg, gathered, padded, "all_gather_object").wait()
    object_list[:] = [pickle.loads(gathered[r, :sizes[r]].tobytes()) for r in range(pg.world_size)]

