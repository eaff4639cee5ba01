"""nnkit.distributed measured: DDP step times at 1, 2 and 4 processes, and all-reduce against raw mpi4py.

Two parts, each run as MPI jobs (``mpiexec -n N``) started from here:

- **DDP steps.** One training step (forward, backward, SGD) of the MLP
  (784-512-256-10) and of a GPT block (pre-LN TransformerEncoderLayer, d=128,
  4 heads, 64 tokens) on a fixed *global* batch split over the ranks. Reported:
  the step with DistributedDataParallel; the same step under ``no_sync()``
  (compute only, no communication); their difference (the communication that
  backward could not hide); and a blocking all-reduce of all the gradients
  alone (what the communication would cost with no overlap).
- **All-reduce bandwidth.** ``nnkit.distributed.all_reduce`` on float32 tensors
  from 4 KB to 16 MB against mpi4py's blocking ``Allreduce`` on the same
  buffers, alternating, median of many calls. Bus bandwidth is
  2 (n - 1) / n x bytes / time, the ring all-reduce's traffic per rank.

Medians after warm-up. On a machine with fewer cores than processes (-n 4 on 2
cores) the ranks take turns on the cores: those figures measure correctness
and overhead, not scaling.

    python benchmarks/bench_distributed.py [--worlds 1,2,4] [--steps 30] [--only ddp|allreduce]
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import statistics
import subprocess
import sys
import time
from pathlib import Path

MPIEXEC = Path(sys.executable).with_name("mpiexec")  # where the mpich wheel puts it; else the PATH's
if not MPIEXEC.exists() and shutil.which("mpiexec"):
    MPIEXEC = Path(shutil.which("mpiexec"))
SIZES = [4 << 10, 64 << 10, 256 << 10, 1 << 20, 4 << 20, 16 << 20]  # bytes


# --- run inside the MPI job ----------------------------------------------------------------
def _model(lib, name: str, global_batch: int, world: int, rank: int):
    nn, F = lib.nn, lib.nn.functional
    lib.manual_seed(0)
    per_rank = global_batch // world
    lib.manual_seed(100 + rank)  # each rank its own data
    if name == "mlp":
        lib.manual_seed(0)
        model = nn.Sequential(nn.Linear(784, 512), nn.ReLU(), nn.Linear(512, 256), nn.ReLU(), nn.Linear(256, 10))
        lib.manual_seed(100 + rank)
        x, y = lib.randn(per_rank, 784), lib.randint(0, 10, (per_rank,))
        return model, lambda m: F.cross_entropy(m(x), y)
    lib.manual_seed(0)
    model = nn.TransformerEncoderLayer(128, 4, dim_feedforward=512, dropout=0.0, activation="gelu",
                                       batch_first=True, norm_first=True)
    lib.manual_seed(100 + rank)
    x = lib.randn(per_rank, 64, 128)
    mask = lib.ones(64, 64, dtype=lib.bool).triu(1)
    return model, lambda m: m(x, src_mask=mask).pow(2).mean()


def _median_time(fn, steps: int, warmup: int = 3) -> float:
    import nnkit.distributed as dist
    for _ in range(warmup):
        fn()
    times = []
    for _ in range(steps):
        dist.barrier()  # every rank starts the step together
        start = time.perf_counter()
        fn()
        times.append(time.perf_counter() - start)
    return statistics.median(times)


def worker_ddp(steps: int) -> None:
    import nnkit
    import nnkit.distributed as dist
    from nnkit.nn.parallel import DistributedDataParallel

    dist.init_process_group("mpi")
    rank, world = dist.get_rank(), dist.get_world_size()
    results = {}
    for name, global_batch in (("mlp", 128), ("gpt_block", 16)):
        model, loss_of = _model(nnkit, name, global_batch, world, rank)
        ddp = DistributedDataParallel(model)
        opt = nnkit.optim.SGD(ddp.parameters(), lr=1e-3)

        def step():
            opt.zero_grad()
            loss_of(ddp).backward()
            opt.step()

        def compute_only():
            with ddp.no_sync():
                step()

        grads = nnkit.zeros(sum(p.numel() for p in model.parameters()))
        full = _median_time(step, steps)
        compute = _median_time(compute_only, steps)
        reduce = _median_time(lambda: dist.all_reduce(grads), steps)
        results[name] = {"step_ms": full * 1e3, "compute_ms": compute * 1e3, "allreduce_alone_ms": reduce * 1e3,
                         "params": grads.numel()}
    if rank == 0:
        print("RESULT " + json.dumps(results), flush=True)
    dist.destroy_process_group()


def worker_allreduce(reps: int) -> None:
    import numpy as np
    from mpi4py import MPI

    import nnkit
    import nnkit.distributed as dist

    dist.init_process_group("mpi")
    comm = MPI.COMM_WORLD
    results = []
    for size in SIZES:
        t = nnkit.ones(size // 4)
        arr = t.numpy()  # the same memory: both libraries reduce the same buffer
        n = max(5, min(reps, int(reps * (1 << 20) / size)))
        ours, raw = [], []
        for i in range(n + 3):
            comm.Barrier()
            start = time.perf_counter()
            dist.all_reduce(t)
            mid = time.perf_counter()
            comm.Barrier()
            mid2 = time.perf_counter()
            comm.Allreduce(MPI.IN_PLACE, arr, op=MPI.SUM)
            end = time.perf_counter()
            arr[...] = 1.0
            if i >= 3:
                ours.append(mid - start)
                raw.append(end - mid2)
        if comm.Get_rank() == 0:
            results.append({"bytes": size, "nnkit_us": statistics.median(ours) * 1e6,
                            "mpi4py_us": statistics.median(raw) * 1e6})
        assert np.all(arr == 1.0)
    if comm.Get_rank() == 0:
        print("RESULT " + json.dumps(results), flush=True)
    dist.destroy_process_group()


# --- the launcher --------------------------------------------------------------------------------
def launch(world: int, part: str, count: int) -> dict | list:
    command = [str(MPIEXEC), "-n", str(world), sys.executable, __file__, "--worker", part, "--steps", str(count)]
    env = {**os.environ, "OPENBLAS_NUM_THREADS": "1", "OMP_NUM_THREADS": "1"}
    out = subprocess.run(command, capture_output=True, text=True, timeout=1200, env=env)
    if out.returncode != 0:
        raise RuntimeError(f"{' '.join(command)} failed:\n{out.stdout}\n{out.stderr}")
    line = next(line for line in out.stdout.splitlines() if line.startswith("RESULT "))
    return json.loads(line[len("RESULT "):])


def main() -> None:
    parser = argparse.ArgumentParser(description="nnkit.distributed benchmarks")
    parser.add_argument("--worlds", default="1,2,4")
    parser.add_argument("--steps", type=int, default=30)
    parser.add_argument("--only", choices=["ddp", "allreduce"])
    parser.add_argument("--worker", choices=["ddp", "allreduce"], help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.worker == "ddp":
        return worker_ddp(args.steps)
    if args.worker == "allreduce":
        return worker_allreduce(args.steps)

    worlds = [int(w) for w in args.worlds.split(",")]
    cores = os.cpu_count()
    print(f"{cores} CPU cores; one BLAS thread per process; worlds with more processes than cores are "
          "oversubscribed (correctness and overhead, not scaling)\n")
    if args.only in (None, "ddp"):
        print("DDP training step, fixed global batch (MLP 128, GPT block 16 x 64 tokens), median ms")
        print(f"{'model':10s} {'world':>5s} {'step':>8s} {'compute':>8s} {'exposed comm':>13s} "
              f"{'all-reduce alone':>17s} {'speed-up':>9s}")
        base = {}
        for world in worlds:
            res = launch(world, "ddp", args.steps)
            for name, r in res.items():
                base.setdefault(name, r["step_ms"])
                print(f"{name:10s} {world:5d} {r['step_ms']:8.2f} {r['compute_ms']:8.2f} "
                      f"{r['step_ms'] - r['compute_ms']:13.2f} {r['allreduce_alone_ms']:17.2f} "
                      f"{base[name] / r['step_ms']:8.2f}x")
        print()
    if args.only in (None, "allreduce"):
        for world in [w for w in worlds if w > 1]:
            res = launch(world, "allreduce", 10 * args.steps)
            print(f"all-reduce, {world} processes, float32, median of many calls")
            print(f"{'size':>8s} {'nnkit us':>10s} {'mpi4py us':>10s} {'nnkit GB/s':>11s} {'mpi4py GB/s':>12s} "
                  f"{'overhead':>9s}")
            for r in res:
                factor = 2 * (world - 1) / world * r["bytes"] / 1e9
                print(f"{_size(r['bytes']):>8s} {r['nnkit_us']:10.1f} {r['mpi4py_us']:10.1f} "
                      f"{factor / (r['nnkit_us'] * 1e-6):11.2f} {factor / (r['mpi4py_us'] * 1e-6):12.2f} "
                      f"{100 * (r['nnkit_us'] / r['mpi4py_us'] - 1):8.1f}%")
            print()


def _size(n: int) -> str:
    return f"{n >> 20} MB" if n >= 1 << 20 else f"{n >> 10} KB"


if __name__ == "__main__":
    main()
