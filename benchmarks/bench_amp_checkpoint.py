"""Activation checkpointing and autocast in nnkit against PyTorch (CPU), in one run.

One model: 16 blocks of Linear(256, 256) + GELU on a batch of 1,024, a mean-square loss, SGD.
Three workloads, each a full training step:

- ``plain``: float32, every activation stored;
- ``checkpoint``: float32, each block under ``checkpoint(..., use_reentrant=False)``;
- ``autocast``: each step's forward under ``autocast("cpu", dtype=bfloat16)``.

Each (framework, workload) pair runs in a fresh subprocess (so that peak memory is its own);
reported are the fastest step after warm-up (interference on a shared machine only adds
time, so the minimum is the steadiest estimate) and the peak resident memory above what
importing the libraries and building the model took. Both frameworks get one thread.

    python benchmarks/bench_amp_checkpoint.py [--steps 5]
"""

from __future__ import annotations

import argparse
import importlib
import json
import os
import resource
import subprocess
import sys
import time

WORKLOADS = ("plain", "checkpoint", "autocast")
DEPTH, WIDTH, BATCH = 16, 256, 1024


def peak_rss_mib() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024  # KiB on Linux


def run(framework: str, workload: str, steps: int) -> dict:
    """The same step in either library: nnkit and PyTorch share every name it uses."""
    lib = importlib.import_module(framework)
    checkpoint = importlib.import_module(f"{framework}.utils.checkpoint").checkpoint
    if framework == "torch":
        lib.set_num_threads(1)
    lib.manual_seed(0)
    blocks = [lib.nn.Sequential(lib.nn.Linear(WIDTH, WIDTH), lib.nn.GELU()) for _ in range(DEPTH)]
    params = [p for b in blocks for p in b.parameters()]
    opt = lib.optim.SGD(params, lr=1e-3)
    x = lib.randn(BATCH, WIDTH)

    def step():
        with lib.autocast("cpu", dtype=lib.bfloat16, enabled=workload == "autocast"):
            h = x
            for b in blocks:
                h = checkpoint(b, h, use_reentrant=False) if workload == "checkpoint" else b(h)
            loss = (h.float() * h.float()).mean()
        opt.zero_grad()
        loss.backward()
        opt.step()
    return measure(step, steps)


def measure(step, steps: int) -> dict:
    base = peak_rss_mib()
    step()  # warm-up
    times = []
    for _ in range(steps):
        start = time.perf_counter()
        step()
        times.append(time.perf_counter() - start)
    return {"ms": 1000 * min(times), "peak_mib": peak_rss_mib() - base}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--steps", type=int, default=5)
    parser.add_argument("--child", nargs=2, metavar=("FRAMEWORK", "WORKLOAD"), help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.child:
        framework, workload = args.child
        result = run(framework, workload, args.steps)
        print(json.dumps(result))
        return
    env = {**os.environ, "OPENBLAS_NUM_THREADS": "1", "OMP_NUM_THREADS": "1", "MKL_NUM_THREADS": "1"}
    print(f"{DEPTH} blocks of Linear({WIDTH}, {WIDTH}) + GELU, batch {BATCH}; fastest of {args.steps} steps")
    print(f"{'workload':11s} {'nnkit ms':>9s} {'torch ms':>9s} {'ratio':>6s} {'nnkit MiB':>10s} {'torch MiB':>10s}")
    for workload in WORKLOADS:
        row = {}
        for framework in ("nnkit", "torch"):
            out = subprocess.run([sys.executable, __file__, "--steps", str(args.steps), "--child", framework, workload],
                                 capture_output=True, text=True, env=env, check=True).stdout
            row[framework] = json.loads(out.strip().splitlines()[-1])
        n, t = row["nnkit"], row["torch"]
        print(f"{workload:11s} {n['ms']:9.1f} {t['ms']:9.1f} {n['ms'] / t['ms']:6.2f} {n['peak_mib']:10.1f} "
              f"{t['peak_mib']:10.1f}")


if __name__ == "__main__":
    main()
