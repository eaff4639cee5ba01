"""nnkit.distributed, DistributedDataParallel, DistributedSampler and ZeRO-1 on real MPI jobs.

The scenarios in ``distributed_scenarios.py`` run under ``mpiexec -n 2`` and
``-n 3`` (an odd count: uneven shards, padding) and check their own results on
every rank; here each job must end with status 0 and every rank reporting.
Failures must end the whole job, non-zero, naming the rank and the error,
within seconds: the subprocess timeouts below are far above what a passing run
takes, so a hang fails the test instead of stalling the suite.
"""

import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

import nnkit
import nnkit.distributed as dist
from nnkit.data import DistributedSampler

SCENARIOS = Path(__file__).with_name("distributed_scenarios.py")
# The mpich wheel puts mpiexec beside the interpreter; a system MPI puts it on the PATH.
MPIEXEC = Path(sys.executable).with_name("mpiexec")
if not MPIEXEC.exists() and shutil.which("mpiexec"):
    MPIEXEC = Path(shutil.which("mpiexec"))

needs_mpi = pytest.mark.skipif(not (dist.is_mpi_available() and MPIEXEC.exists()),
                               reason=f"mpi4py or mpiexec missing (pip install 'nnkit[dist]')")


def launch(scenario: str, n: int | None, *extra: str, timeout: float = 240, env: dict | None = None):
    """Run a scenario on ``n`` processes (``None``: plain ``python``, a job of one)."""
    command = [sys.executable, str(SCENARIOS), scenario, *extra]
    if n is not None:
        command = [str(MPIEXEC), "-n", str(n)] + command
    environment = {**os.environ, "OPENBLAS_NUM_THREADS": "1", **(env or {})}
    return subprocess.run(command, capture_output=True, text=True, timeout=timeout, env=environment)


def assert_passed(result, scenario: str, n: int) -> None:
    assert result.returncode == 0, f"{scenario} on {n} ranks failed:\n{result.stdout}\n{result.stderr}"
    for rank in range(n):
        assert f"{scenario} ok on rank {rank} of {n}" in result.stdout, result.stdout + result.stderr


@needs_mpi
@pytest.mark.parametrize("n", [2, 3])
@pytest.mark.parametrize("scenario", ["collectives", "ddp", "unused", "zero", "sampler"])
def test_scenario_on_several_processes(scenario, n):
    """collectives: every op and dtype against its formula; ddp: equal to one process on the global batch
    (float32 and float64), no_sync accumulation equal to the large batch, buffers from rank 0; unused:
    find_unused_parameters and PyTorch's errors; zero: ZeRO-1 Adam equal to plain Adam, state sharded and
    consolidated; sampler: every sample seen once per epoch (padding only when the size does not divide)."""
    assert_passed(launch(scenario, n), scenario, n)


@needs_mpi
def test_a_job_of_one_needs_no_mpiexec():
    assert_passed(launch("ddp", None), "ddp", 1)


@needs_mpi
@pytest.mark.parametrize("n", [2, 3])
def test_a_rank_that_raises_ends_the_whole_job_naming_the_rank(n):
    result = launch("fail", n, "600", timeout=120)  # the group's timeout is long: only the abort can end the job
    assert result.returncode != 0
    assert f"rank {n - 1} of {n} failed with ValueError: boom on purpose" in result.stderr, result.stderr
    assert f"[rank {n - 1}] ValueError: boom on purpose" in result.stderr  # the traceback, prefixed


@needs_mpi
def test_a_collective_that_nobody_joins_times_out_and_ends_the_job():
    result = launch("timeout", 2, "3", timeout=120)  # rank 1 sleeps 60 s; rank 0 gives up after 3
    assert result.returncode != 0
    assert "all_reduce timed out on rank 0 of 2 after 3.0 s" in result.stderr, result.stderr


@needs_mpi
def test_models_that_differ_between_ranks_are_refused():
    result = launch("mismatch", 2, timeout=120)
    assert result.returncode != 0
    assert "the model differs between ranks" in result.stderr and "(3, 4)" in result.stderr, result.stderr


@pytest.mark.gpu
@needs_mpi
@pytest.mark.parametrize("backend", ["nccl", "mpi"])
def test_gpu_collectives_and_ddp(backend):
    """nccl: one rank per GPU (NCCL refuses two ranks on one GPU); mpi: CuPy arrays staged through the host."""
    import cupy
    n = cupy.cuda.runtime.getDeviceCount() if backend == "nccl" else 2
    assert_passed(launch("gpu", n, env={"NNKIT_TEST_BACKEND": backend}), "gpu", n)


# --- in this process: no process group ------------------------------------------------------
def test_without_a_process_group_the_errors_say_what_to_do():
    assert not dist.is_initialized()
    with pytest.raises(ValueError, match="call init_process_group"):
        dist.get_rank()
    with pytest.raises(ValueError, match="all_reduce: Default process group has not been initialized"):
        dist.all_reduce(nnkit.ones(2))
    with pytest.raises(ValueError, match="DistributedDataParallel: Default process group"):
        nnkit.nn.parallel.DistributedDataParallel(nnkit.nn.Linear(2, 2))
    with pytest.raises(RuntimeError, match="pass num_replicas and rank"):
        DistributedSampler(range(4))
    with pytest.raises(ValueError, match="unknown backend 'gloo'"):
        dist.init_process_group("gloo")
    with pytest.raises(NotImplementedError, match="init_method='tcp://h:1'"):
        dist.init_process_group("mpi", init_method="tcp://h:1")
    assert not dist.is_initialized()


@pytest.mark.parametrize("n", [1, 2, 3, 4, 7, 10, 11])
@pytest.mark.parametrize("replicas", [1, 2, 3, 4])
@pytest.mark.parametrize("drop_last", [False, True])
def test_sampler_shares_are_equal_disjoint_and_cover_the_data(n, replicas, drop_last):
    for epoch in (0, 1):
        shares = []
        for rank in range(replicas):
            s = DistributedSampler(range(n), num_replicas=replicas, rank=rank, shuffle=True, seed=3,
                                   drop_last=drop_last)
            s.set_epoch(epoch)
            shares.append(list(s))
            assert len(shares[-1]) == len(s)
        assert len({len(share) for share in shares}) == 1, "every rank must run the same number of steps"
        flat = [i for share in shares for i in share]
        if drop_last:
            assert len(flat) == n - n % replicas and len(set(flat)) == len(flat)  # cut, never repeated
        else:
            assert set(flat) == set(range(n)) and len(flat) == -(-n // replicas) * replicas
            if n % replicas == 0:
                assert sorted(flat) == list(range(n))


def test_sampler_shuffles_by_seed_and_epoch_the_same_on_every_rank():
    def order(seed, epoch):
        s = DistributedSampler(range(50), num_replicas=1, rank=0, seed=seed)
        s.set_epoch(epoch)
        return list(s)

    assert order(0, 0) == order(0, 0)
    assert order(0, 0) != order(0, 1) and order(0, 0) != order(1, 0)
    assert sorted(order(5, 2)) == list(range(50))
    with pytest.raises(ValueError, match=r"Invalid rank 3, rank should be in the interval \[0, 2\]"):
        DistributedSampler(range(5), num_replicas=3, rank=3)
    with pytest.raises(ValueError, match="num_replicas must be a positive integer"):
        DistributedSampler(range(5), num_replicas=0, rank=0)


def test_sampler_in_a_dataloader_gives_this_ranks_batches():
    data = nnkit.data.TensorDataset(nnkit.arange(10))
    s = DistributedSampler(data, num_replicas=3, rank=2, shuffle=False)
    batches = [b.tolist() for (b,) in nnkit.data.DataLoader(data, batch_size=2, sampler=s)]
    assert batches == [[2, 5], [8, 1]]  # 2, 5, 8 and the padding's second index


@pytest.mark.torch
@pytest.mark.parametrize("n,replicas,drop_last", [(10, 3, False), (10, 3, True), (2, 5, False), (12, 4, False)])
def test_sampler_unshuffled_matches_pytorch(n, replicas, drop_last):
    torch_data = pytest.importorskip("torch.utils.data")
    for rank in range(replicas):
        ours = DistributedSampler(range(n), replicas, rank, shuffle=False, drop_last=drop_last)
        theirs = torch_data.DistributedSampler(range(n), replicas, rank, shuffle=False, drop_last=drop_last)
        assert list(ours) == list(theirs) and len(ours) == len(theirs)


def test_reduce_op_names_are_pytorchs():
    assert {op.name for op in dist.ReduceOp} >= {"SUM", "AVG", "MAX", "MIN", "PRODUCT"}


@pytest.mark.gpu
@needs_mpi
def test_nccl_refuses_more_ranks_than_gpus_instead_of_hanging():
    import cupy
    n = cupy.cuda.runtime.getDeviceCount() + 1
    result = launch("gpu", n, timeout=120, env={"NNKIT_TEST_BACKEND": "nccl"})
    assert result.returncode != 0
    assert "NCCL needs one GPU per rank" in result.stderr, result.stderr


@needs_mpi
def test_the_example_trains_the_digits_on_two_processes():
    example = Path(__file__).resolve().parent.parent / "examples" / "train_ddp.py"
    result = subprocess.run([str(MPIEXEC), "-n", "2", sys.executable, str(example), "--epochs", "10",
                             "--accumulate", "2", "--min-accuracy", "0.9"], capture_output=True, text=True,
                            timeout=240, env={**os.environ, "OPENBLAS_NUM_THREADS": "1"})
    assert result.returncode == 0, result.stdout + result.stderr
    assert "2 process(es)" in result.stdout and "test accuracy" in result.stdout


def test_docstring_examples_run():
    import doctest

    import nnkit.data.distributed
    for module in (nnkit.data.distributed, nnkit.distributed.collectives, nnkit.nn.parallel,
                   nnkit.distributed.optim):
        result = doctest.testmod(module, verbose=False)
        assert result.failed == 0, module.__name__
