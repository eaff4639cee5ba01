"""nnkit against PyTorch CPU, in one run, on the same models and data.

Each workload is one training step (forward, backward, SGD update) written once
against the shared vocabulary (``lib`` is ``nnkit`` or ``torch``). Each
(framework, workload) pair runs in a fresh subprocess, pinned to the same
threads, so the two never share caches or allocators. Reported: the median
step time over many steps after warm-up, and the peak resident memory of the
model, its data and the steps, above what importing the library took.

    pip install torch==2.13.0       # the reference: for benchmarks only
    python benchmarks/bench_vs_torch.py [--only mlp,lstm] [--steps 50]
"""

from __future__ import annotations

import argparse
import importlib
import json
import statistics
import subprocess
import sys
import time

WORKLOADS = ("small_op", "mlp", "lenet", "lstm", "gru", "gpt_block")


def make_step(lib, name: str):
    """Build the model and data for ``name``; return a function doing one step."""
    nn, F = lib.nn, lib.nn.functional
    lib.manual_seed(0)
    if name == "small_op":
        a = lib.randn(8, requires_grad=True)
        b = lib.randn(8, requires_grad=True)
        g = lib.ones(8)

        def step():
            (a + b).backward(g)
        return step
    if name == "mlp":
        model = nn.Sequential(nn.Linear(784, 512), nn.ReLU(), nn.Linear(512, 256), nn.ReLU(), nn.Linear(256, 10))
        x, y = lib.randn(128, 784), lib.randint(0, 10, (128,))
        loss_fn = lambda: F.cross_entropy(model(x), y)  # noqa: E731
    elif name == "lenet":
        model = nn.Sequential(
            nn.Conv2d(1, 6, 5, padding=2), nn.ReLU(), nn.MaxPool2d(2),
            nn.Conv2d(6, 16, 5), nn.ReLU(), nn.MaxPool2d(2), nn.Flatten(),
            nn.Linear(16 * 5 * 5, 120), nn.ReLU(), nn.Linear(120, 84), nn.ReLU(), nn.Linear(84, 10))
        x, y = lib.randn(64, 1, 28, 28), lib.randint(0, 10, (64,))
        loss_fn = lambda: F.cross_entropy(model(x), y)  # noqa: E731
    elif name in ("lstm", "gru"):  # T 32, batch 32, hidden 128
        model = (nn.LSTM if name == "lstm" else nn.GRU)(64, 128)
        x = lib.randn(32, 32, 64)
        loss_fn = lambda: model(x)[0].pow(2).mean()  # noqa: E731
    elif name == "gpt_block":
        model = nn.TransformerEncoderLayer(128, 4, dim_feedforward=512, dropout=0.0, activation="gelu",
                                           batch_first=True, norm_first=True)
        x = lib.randn(16, 64, 128)
        mask = lib.ones(64, 64, dtype=lib.bool).triu(1)  # True above the diagonal: not allowed
        loss_fn = lambda: model(x, src_mask=mask).pow(2).mean()  # noqa: E731
    else:
        raise ValueError(f"unknown workload {name!r}; choose from {WORKLOADS}")
    opt = lib.optim.SGD(model.parameters(), lr=0.01)

    def step():
        opt.zero_grad()
        loss_fn().backward()
        opt.step()
    return step


def _rss_kib(field: str) -> int:
    with open("/proc/self/status") as f:
        for line in f:
            if line.startswith(field + ":"):
                return int(line.split()[1])
    return 0


def _reset_peak_rss() -> int:
    """Reset the kernel's peak-RSS mark, so that VmHWM from here on measures model, data and
    steps; return the resident KiB now, the base to subtract."""
    base = _rss_kib("VmRSS")
    try:
        with open("/proc/self/clear_refs", "w") as f:
            f.write("5")
    except OSError:
        pass
    return base


def measure(framework: str, name: str, steps: int, warmup: int) -> dict:
    """Run in the subprocess: time ``steps`` steps, and the peak memory above the import."""
    lib = importlib.import_module(framework)
    if framework == "torch":
        lib.set_num_threads(max(1, lib.get_num_threads()))
    base = _reset_peak_rss()
    step = make_step(lib, name)
    for _ in range(warmup):
        step()
    inner = 1000 if name == "small_op" else 1  # tiny steps are timed in batches
    times = []
    for _ in range(steps):
        t0 = time.perf_counter()
        for _ in range(inner):
            step()
        times.append((time.perf_counter() - t0) / inner)
    return {"median_s": statistics.median(times), "peak_mib": max(0, _rss_kib("VmHWM") - base) / 1024}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--only", default=",".join(WORKLOADS))
    parser.add_argument("--steps", type=int, default=50)
    parser.add_argument("--warmup", type=int, default=5)
    parser.add_argument("--child", nargs=2, metavar=("FRAMEWORK", "WORKLOAD"), help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.child:
        print(json.dumps(measure(*args.child, args.steps, args.warmup)))
        return
    print(f"{'workload':<11} {'nnkit':>11} {'torch':>11} {'ratio':>6}   {'nnkit MiB':>9} {'torch MiB':>9}")
    for name in args.only.split(","):
        row = {}
        for framework in ("nnkit", "torch"):
            out = subprocess.run([sys.executable, __file__, "--child", framework, name, "--steps", str(args.steps),
                                  "--warmup", str(args.warmup)], capture_output=True, text=True)
            if out.returncode != 0:
                row[framework] = None
                print(f"{name}: {framework} failed:\n{out.stderr[-2000:]}", file=sys.stderr)
            else:
                row[framework] = json.loads(out.stdout.strip().splitlines()[-1])
        n, t = row["nnkit"], row["torch"]
        fmt = lambda r: f"{r['median_s'] * 1e6:9.1f}us" if name == "small_op" else f"{r['median_s'] * 1e3:9.2f}ms"  # noqa: E731
        if n and t:
            print(f"{name:<11} {fmt(n):>11} {fmt(t):>11} {n['median_s'] / t['median_s']:6.2f}   "
                  f"{n['peak_mib']:9.1f} {t['peak_mib']:9.1f}", flush=True)


if __name__ == "__main__":
    main()
