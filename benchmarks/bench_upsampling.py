"""``F.interpolate`` in nnkit against PyTorch (CPU, one thread), forward and backward, in one run.

nnkit resizes each axis with a dense (out, in) matrix (see ``nnkit/nn/upsampling.py``), so its
cost per image line grows with in·out, where PyTorch's kernels read a fixed 1, 2 or 4 taps per
output. The cases go from the small feature maps of the course to a 256x256 image, to show where
that choice stops being cheap. Reported: the fastest of ``--repeats`` forward+backward passes
(interference on a shared machine only adds time, so the minimum is the steadiest estimate).

    python benchmarks/bench_upsampling.py [--repeats 5]
"""

from __future__ import annotations

import argparse
import os
import time

os.environ.setdefault("OPENBLAS_NUM_THREADS", "1")
os.environ.setdefault("OMP_NUM_THREADS", "1")

CASES = [  # (shape, mode, scale_factor)
    ((64, 16, 8, 8), "nearest", 2),
    ((64, 16, 8, 8), "bilinear", 2),
    ((16, 32, 32, 32), "nearest", 2),
    ((16, 32, 32, 32), "bilinear", 2),
    ((4, 3, 256, 256), "bilinear", 2),
    ((4, 3, 256, 256), "bicubic", 2),
]


def fastest(step, repeats: int) -> float:
    step()  # warm-up
    times = []
    for _ in range(repeats):
        start = time.perf_counter()
        step()
        times.append(time.perf_counter() - start)
    return min(times)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeats", type=int, default=5)
    args = parser.parse_args()
    import numpy as np
    import torch

    import nnkit
    import nnkit.nn.functional as F

    torch.set_num_threads(1)
    print(f"{'input shape':>20s} {'mode':>9s}   nnkit ms   torch ms   ratio")
    for shape, mode, scale in CASES:
        x = np.random.default_rng(0).standard_normal(shape).astype(np.float32)
        ours, theirs = nnkit.tensor(x, requires_grad=True), torch.tensor(x, requires_grad=True)

        def step_nnkit():
            F.interpolate(ours, scale_factor=scale, mode=mode).sum().backward()

        def step_torch():
            torch.nn.functional.interpolate(theirs, scale_factor=scale, mode=mode).sum().backward()
        a, b = fastest(step_nnkit, args.repeats), fastest(step_torch, args.repeats)
        print(f"{str(shape):>20s} {mode:>9s} {a * 1e3:10.2f} {b * 1e3:10.2f} {a / b:7.1f}x")


if __name__ == "__main__":
    main()
