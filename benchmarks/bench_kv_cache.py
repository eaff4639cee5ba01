"""GPT.generate with and without its key-value cache: the speed-up, measured.

A GPT of the course's size (4 layers, 4 heads, width 128, context 128) generates
from a 16-token prompt, greedily, with ``use_cache=True`` and ``use_cache=False``.
Reported: the median time over ``--repeats`` runs for each number of new tokens,
and their ratio. Both ways produce the same tokens (checked here on every run and
asserted in tests/test_gpt_kv_cache.py); speed is only measured, never asserted.

    python benchmarks/bench_kv_cache.py [--repeats 5] [--new 16,48,112]
"""

from __future__ import annotations

import argparse
import statistics
import time

import numpy as np

import nnkit
from nnkit.models.gpt import GPT, GPTConfig


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeats", type=int, default=5)
    parser.add_argument("--new", default="16,48,112", help="numbers of new tokens, comma-separated")
    parser.add_argument("--width", type=int, default=128)
    args = parser.parse_args()
    nnkit.manual_seed(0)
    config = GPTConfig(vocab_size=96, block_size=128, n_layer=4, n_head=4, n_embd=args.width)
    model = GPT(config).eval()
    prompt = nnkit.randint(0, config.vocab_size, (1, 16))
    model.generate(prompt, 4, top_k=1)  # warm-up
    print(f"GPT {config.n_layer} layers, width {config.n_embd}, context {config.block_size}; prompt 16 tokens, greedy")
    print(f"{'new tokens':>10s} {'no cache (ms)':>14s} {'KV cache (ms)':>14s} {'speed-up':>9s}")
    for new in (int(n) for n in args.new.split(",")):
        times = {}
        outputs = {}
        for use_cache in (False, True):
            runs = []
            for _ in range(args.repeats):
                start = time.perf_counter()
                outputs[use_cache] = model.generate(prompt, new, top_k=1, use_cache=use_cache)
                runs.append(time.perf_counter() - start)
            times[use_cache] = statistics.median(runs)
        same = np.array_equal(outputs[True].numpy(), outputs[False].numpy())
        print(f"{new:10d} {times[False] * 1e3:14.1f} {times[True] * 1e3:14.1f} {times[False] / times[True]:8.1f}x"
              + ("" if same else "   OUTPUTS DIFFER"))


if __name__ == "__main__":
    main()
