"""What tests/test_distributed.py runs on several processes: ``mpiexec -n N python distributed_scenarios.py NAME``.

Each scenario checks its results on every rank (an assertion error on any rank
aborts the whole job, non-zero, with the rank in the message) and prints
``NAME ok on rank R of N`` when it passes.
"""

import os
import sys
import time

import numpy as np

import nnkit
import nnkit.distributed as dist
from nnkit import nn
from nnkit.data import DataLoader, DistributedSampler, TensorDataset
from nnkit.distributed.optim import ZeroRedundancyOptimizer
from nnkit.nn.parallel import DistributedDataParallel

TOL = dict(rtol=1e-5, atol=1e-6)


def close(a, b, what, **tol):
    np.testing.assert_allclose(np.asarray(a), np.asarray(b), err_msg=what, **(tol or TOL))


def raises(fn, error, match):
    try:
        fn()
    except error as e:
        assert match in str(e), f"expected {match!r} in {e!r}"
        return
    raise AssertionError(f"expected {error.__name__} containing {match!r}")


# --- collectives --------------------------------------------------------------------------
def collectives(rank, world):
    ranks = np.arange(world, dtype=np.float64)
    for dtype in (nnkit.float32, nnkit.float64, nnkit.int64, nnkit.float16):
        t = nnkit.tensor([rank + 1, 2 * rank - 1, 3], dtype=dtype)
        dist.all_reduce(t)
        assert t.dtype == dtype
        close(t.numpy().astype(np.float64), [(ranks + 1).sum(), (2 * ranks - 1).sum(), 3 * world], f"SUM {dtype}")
        for op, expect in ((dist.ReduceOp.MAX, [world, 2 * world - 3]), (dist.ReduceOp.MIN, [1, -1]),
                           (dist.ReduceOp.PRODUCT, [np.prod(ranks + 1), np.prod(2 * ranks - 1)])):
            t = nnkit.tensor([rank + 1, 2 * rank - 1], dtype=dtype)
            dist.all_reduce(t, op=op)
            close(t.numpy().astype(np.float64), expect, f"{op} {dtype}")
    t = nnkit.tensor([float(rank), 1.0])
    dist.all_reduce(t, op=dist.ReduceOp.AVG)
    close(t.numpy(), [ranks.mean(), 1.0], "AVG")
    raises(lambda: dist.all_reduce(nnkit.tensor([1, 2]), op=dist.ReduceOp.AVG), TypeError, "floating-point")
    raises(lambda: dist.all_reduce(np.ones(2)), TypeError, "must be an nnkit Tensor")
    raises(lambda: dist.all_reduce(nnkit.ones(2), op="sum"), TypeError, "ReduceOp")
    if nnkit.bfloat16 is not None:  # ml_dtypes: MPI has no bfloat16, reduced in float32
        t = nnkit.tensor([1.5, float(rank)]).to(nnkit.bfloat16)
        dist.all_reduce(t)
        assert t.dtype == nnkit.bfloat16
        close(t.float().numpy(), [1.5 * world, ranks.sum()], "bfloat16 SUM")

    # In place on a non-contiguous view: the base array changes where the view points.
    base = nnkit.tensor(np.arange(12.0).reshape(3, 4) + rank)
    view = base.T[1:3]
    dist.all_reduce(view)
    expect = np.arange(12.0).reshape(3, 4) * world + ranks.sum()
    close(base.numpy()[:, 1:3], expect[:, 1:3], "strided all_reduce")
    close(base.numpy()[:, [0, 3]], np.arange(12.0).reshape(3, 4)[:, [0, 3]] + rank, "untouched columns")

    # Async: start two, wait in the opposite order.
    a, b = nnkit.full((1000,), float(rank)), nnkit.full((5,), 1.0)
    wa = dist.all_reduce(a, async_op=True)
    wb = dist.all_reduce(b, async_op=True)
    assert wb.wait() and wa.wait() and wa.is_completed()
    close(a.numpy(), np.full(1000, ranks.sum()), "async a")
    close(b.numpy(), np.full(5, float(world)), "async b")

    src = world - 1
    t = nnkit.tensor([[rank, -rank]], dtype=nnkit.float64)
    dist.broadcast(t, src=src)
    close(t.numpy(), [[src, -src]], "broadcast")
    raises(lambda: dist.broadcast(t, src=world), ValueError, "not a rank")

    outs = [nnkit.zeros(2, 3) for _ in range(world)]
    dist.all_gather(outs, nnkit.full((2, 3), float(rank)))
    for r, o in enumerate(outs):
        close(o.numpy(), np.full((2, 3), float(r)), "all_gather")
    raises(lambda: dist.all_gather([nnkit.zeros(2)] * world, nnkit.zeros(3)), ValueError, "must match")
    raises(lambda: dist.all_gather([nnkit.zeros(2)] * (world + 1), nnkit.zeros(2)), ValueError, "world_size")
    big = nnkit.zeros(world * 2, 2)
    dist.all_gather_into_tensor(big, nnkit.full((2, 2), float(rank)))
    close(big.numpy(), np.repeat(ranks, 4).reshape(world * 2, 2), "all_gather_into_tensor")

    out = nnkit.zeros(3)
    dist.reduce_scatter(out, [nnkit.full((3,), float(10 * i + rank)) for i in range(world)])
    close(out.numpy(), np.full(3, 10.0 * rank * world + ranks.sum()), "reduce_scatter")
    out = nnkit.zeros(2)
    full = nnkit.tensor(np.arange(2.0 * world) * (rank + 1), dtype=nnkit.float32)
    dist.reduce_scatter_tensor(out, full, op=dist.ReduceOp.AVG)
    close(out.numpy(), np.arange(2.0 * world)[2 * rank:2 * rank + 2] * (ranks + 1).mean(), "reduce_scatter_tensor")

    dst = world - 1
    t = nnkit.tensor([float(rank + 1), 2.0])
    dist.reduce(t, dst=dst)
    close(t.numpy(), [(ranks + 1).sum(), 2.0 * world] if rank == dst else [rank + 1.0, 2.0], "reduce")
    t = nnkit.tensor([float(rank)])
    dist.reduce(t, dst=0, op=dist.ReduceOp.AVG, async_op=True).wait()
    close(t.numpy(), [ranks.mean()] if rank == 0 else [float(rank)], "reduce AVG")
    # A ring of point-to-point messages: each rank sends to the next and receives from the previous.
    out_msg, in_msg = nnkit.full((3,), float(rank)), nnkit.zeros(3)
    receiving = dist.irecv(in_msg, src=(rank - 1) % world) if world > 1 else None
    sending = dist.isend(out_msg, dst=(rank + 1) % world) if world > 1 else None
    if world > 1:
        sending.wait()
        receiving.wait()
        close(in_msg.numpy(), np.full(3, float((rank - 1) % world)), "isend/irecv ring")
        if rank == 0:
            dist.send(nnkit.tensor([[7.0, 8.0]]).T, dst=1)  # non-contiguous: sent through a copy
        elif rank == 1:
            box = nnkit.zeros(2, 1)
            assert dist.recv(box, src=0) == 0
            close(box.numpy(), [[7.0], [8.0]], "send/recv")
        raises(lambda: dist.isend(out_msg, dst=rank), ValueError, "this rank itself")
    objs = [None] * world
    dist.all_gather_object(objs, {"rank": rank, "name": "x" * rank})
    assert objs == [{"rank": r, "name": "x" * r} for r in range(world)], objs
    box = [rank, "hello"] if rank == 1 else [None, None]
    dist.broadcast_object_list(box, src=1)
    assert box == [1, "hello"], box
    dist.barrier()
    dist.barrier(async_op=True).wait()
    assert dist.get_backend() == "mpi" and dist.is_initialized()


# --- DistributedDataParallel ------------------------------------------------------------------
def _mlp(seed, dtype=nnkit.float32):
    nnkit.manual_seed(seed)
    return nn.Sequential(nn.Linear(8, 16), nn.Tanh(), nn.Linear(16, 16), nn.ReLU(), nn.Linear(16, 3)).to(dtype)


def _data(n, dtype=nnkit.float32):
    rng = np.random.default_rng(123)
    return (nnkit.tensor(rng.standard_normal((n, 8))).to(dtype), nnkit.tensor(rng.integers(0, 3, n)))


def _params(model):
    return [p.detach().numpy().copy() for p in model.parameters()]


def _train_single(X, y, steps, micro=1, dtype=nnkit.float32):
    model = _mlp(0, dtype)
    opt = nnkit.optim.SGD(model.parameters(), lr=0.1, momentum=0.9)
    for _ in range(steps):
        opt.zero_grad()
        for Xm, ym in zip(X.chunk(micro), y.chunk(micro)):
            (nn.functional.cross_entropy(model(Xm), ym) / micro).backward()
        opt.step()
    return _params(model)


def ddp(rank, world):
    per_rank, steps = 4, 5
    for dtype, tol in ((nnkit.float32, TOL), (nnkit.float64, dict(rtol=1e-12, atol=1e-13))):
        X, y = _data(per_rank * world, dtype)
        expect = _train_single(X, y, steps, dtype=dtype)
        # Each rank starts from different weights: wrapping copies rank 0's (seed 0) to all.
        model = DistributedDataParallel(_mlp(rank, dtype), bucket_cap_mb=0.0005)  # several buckets
        assert len(model._buckets) > 2
        close(_params(model.module)[0], _params(_mlp(0, dtype))[0], "weights broadcast from rank 0")
        opt = nnkit.optim.SGD(model.parameters(), lr=0.1, momentum=0.9)
        mine = slice(rank * per_rank, (rank + 1) * per_rank)
        for _ in range(steps):
            opt.zero_grad()
            nn.functional.cross_entropy(model(X[mine]), y[mine]).backward()
            opt.step()
        for i, (a, b) in enumerate(zip(_params(model.module), expect)):
            close(a, b, f"DDP {dtype} parameter {i} vs one process on the global batch", **tol)
    assert list(model.state_dict())[0] == "module.0.weight"

    # Overlap: by the time backward reaches the first layer, the last layers' buckets are already on the wire.
    net = _mlp(rank)
    launched = []
    net[0].weight.register_post_accumulate_grad_hook(  # registered before DDP's: runs first
        lambda p: launched.append([b.work is not None for b in wrapped._buckets]))
    wrapped = DistributedDataParallel(net, bucket_cap_mb=0.0005)
    Xo, yo = _data(4)
    nn.functional.cross_entropy(wrapped(Xo), yo).backward()
    assert launched and launched[0][0] and not launched[0][-1], launched  # first bucket started, last not yet

    # no_sync: k micro-batches, the first k - 1 without communication, equal the large batch.
    micro, per_micro = 3, 2
    X, y = _data(micro * per_micro * world)
    expect = _train_single(X, y, 3, micro=micro)
    model = DistributedDataParallel(_mlp(rank))
    opt = nnkit.optim.SGD(model.parameters(), lr=0.1, momentum=0.9)
    for _ in range(3):
        opt.zero_grad()
        for m in range(micro):
            # micro-batch m of the global batch, split across ranks
            rows = slice((m * world + rank) * per_micro, (m * world + rank + 1) * per_micro)
            loss = nn.functional.cross_entropy(model(X[rows]), y[rows]) / micro
            if m < micro - 1:
                with model.no_sync():
                    loss.backward()
            else:
                loss.backward()
        opt.step()
    for i, (a, b) in enumerate(zip(_params(model.module), expect)):
        close(a, b, f"no_sync accumulation parameter {i} vs the large batch")

    # Inside no_sync, gradients stay local: they differ between ranks.
    with model.no_sync():
        model.zero_grad()
        nn.functional.cross_entropy(model(X[rank:rank + 1]), y[rank:rank + 1]).backward()
    grads = [None] * world
    dist.all_gather_object(grads, model.module[0].bias.grad.numpy().copy())
    assert world == 1 or not np.allclose(grads[0], grads[1]), "no_sync still communicated"

    # Buffers follow rank 0 at every training forward (momentum 0: the forward itself leaves them as they are).
    bn = DistributedDataParallel(nn.Sequential(nn.Linear(8, 4), nn.BatchNorm1d(4, momentum=0.0)))
    with nnkit.no_grad():
        bn.module[1].running_mean.fill_(float(rank + 1))
    bn(X[:4]).sum().backward()
    close(bn.module[1].running_mean.numpy(), np.ones(4), "running_mean copied from rank 0")
    bn.eval()
    with nnkit.no_grad():
        bn.module[1].running_mean.fill_(float(rank + 1))
    bn(X[:4])  # evaluation: no copy (ranks may evaluate different data, or only rank 0 evaluates)
    close(bn.module[1].running_mean.numpy(), np.full(4, rank + 1.0), "eval forward leaves buffers alone")


def unused(rank, world):
    class Branchy(nn.Module):
        def __init__(self):
            super().__init__()
            self.a, self.b, self.never = nn.Linear(4, 2), nn.Linear(4, 2), nn.Linear(4, 2)

        def forward(self, x, use_b):
            out = self.a(x)
            return out + self.b(x) if use_b else out

    x = nnkit.tensor(np.random.default_rng(rank).standard_normal((3, 4)), dtype=nnkit.float32)
    model = DistributedDataParallel(Branchy(), find_unused_parameters=True)
    use_b = rank == 0  # b is used on rank 0 only; `never` on no rank
    model(x, use_b).sum().backward()
    b_grads = [None] * world
    dist.all_gather_object(b_grads, model.module.b.weight.grad.numpy())
    # rank 0's gradient of b, averaged with zeros from the others
    local_b = (x.numpy().sum(0, keepdims=True).repeat(2, 0)) if use_b else np.zeros((2, 4))
    sums = [None] * world
    dist.all_gather_object(sums, local_b)
    for g in b_grads:
        close(g, np.mean(sums, axis=0), "b's gradient: the average with zeros from the ranks that did not use it")
    assert model.module.never.weight.grad is None, "a parameter no rank used keeps grad None"
    model(x, use_b).sum().backward()  # the next iteration works

    strict = DistributedDataParallel(Branchy())
    strict(x, False).sum().backward()  # b and `never` get no gradient: the reduction cannot finish
    raises(lambda: strict(x, False), RuntimeError, "Expected to have finished reduction")
    raises(lambda: strict(x, False), RuntimeError, "never.weight")

    class TwoHeads(Branchy):
        def forward(self, x, use_b):
            return self.a(x), self.b(x) + self.never(x)

    twice = DistributedDataParallel(TwoHeads())
    first, _ = twice(x, True)
    first.sum().backward(retain_graph=True)  # a is ready; b and never are not yet, so nothing has finished
    raises(lambda: first.sum().backward(), RuntimeError, "only once")


def mismatch(rank, world):
    DistributedDataParallel(nn.Linear(4, 3 if rank == 0 else 5))


# --- ZeRO-1 --------------------------------------------------------------------------------------
def zero(rank, world):
    X, y = _data(12)
    plain_model, zero_model = _mlp(0), _mlp(0)
    plain = nnkit.optim.Adam(plain_model.parameters(), lr=0.01, weight_decay=0.1)
    sharded = ZeroRedundancyOptimizer(zero_model.parameters(), optimizer_class=nnkit.optim.Adam, lr=0.01,
                                      weight_decay=0.1)
    assert sharded.param_groups[0]["betas"] == (0.9, 0.999)
    mine = list(sharded.optim.param_groups[0]["params"])
    counts = [None] * world
    dist.all_gather_object(counts, sum(p.numel() for p in mine))
    total = sum(p.numel() for p in zero_model.parameters())
    assert sum(counts) == total, (counts, total)  # every parameter has exactly one owner
    for step in range(4):
        for model, opt in ((plain_model, plain), (zero_model, sharded)):
            opt.zero_grad()
            nn.functional.cross_entropy(model(X), y).backward()
            opt.step()
        if step == 1:
            for group in sharded.param_groups:
                group["lr"] = 0.005  # what a scheduler does: reaches the local optimizer
            for group in plain.param_groups:
                group["lr"] = 0.005
    for i, (a, b) in enumerate(zip(_params(zero_model), _params(plain_model))):
        np.testing.assert_array_equal(a, b, err_msg=f"ZeRO parameter {i} differs from plain Adam")
    # Each rank holds Adam's moments for its own shard only.
    held = {p for p, s in sharded.optim.state.items() if s}
    assert held == set(mine), "state kept for parameters of other ranks"
    raises(lambda: sharded.state_dict(), RuntimeError, "consolidate_state_dict")
    sharded.consolidate_state_dict(to=0)
    if rank == 0:
        ours, theirs = sharded.state_dict(), plain.state_dict()
        assert sorted(ours["state"]) == sorted(theirs["state"])
        for i in theirs["state"]:
            for key in ("exp_avg", "exp_avg_sq"):
                np.testing.assert_array_equal(ours["state"][i][key].numpy(), theirs["state"][i][key].numpy())
        assert ours["param_groups"][0]["lr"] == 0.005
    # A whole-optimizer state dict loads back shard by shard.
    fresh = ZeroRedundancyOptimizer(_mlp(0).parameters(), optimizer_class=nnkit.optim.Adam, lr=0.01)
    fresh.load_state_dict(plain.state_dict())
    for p, s in fresh.optim.state.items():
        assert s, "a loaded shard parameter has no state"
    assert {p for p, s in fresh.optim.state.items() if s} == set(fresh.optim.param_groups[0]["params"])

    # With DDP: the same as one process with Adam on the global batch (float64, tight).
    Xg, yg = _data(4 * world, nnkit.float64)
    ref = _mlp(0, nnkit.float64)
    ref_opt = nnkit.optim.Adam(ref.parameters(), lr=0.01)
    model = DistributedDataParallel(_mlp(rank, nnkit.float64))
    opt = ZeroRedundancyOptimizer(model.parameters(), optimizer_class=nnkit.optim.Adam, lr=0.01)
    rows = slice(4 * rank, 4 * rank + 4)
    for _ in range(3):
        ref_opt.zero_grad()
        nn.functional.cross_entropy(ref(Xg), yg).backward()
        ref_opt.step()
        opt.zero_grad()
        nn.functional.cross_entropy(model(Xg[rows]), yg[rows]).backward()
        opt.step()
    for i, (a, b) in enumerate(zip(_params(model.module), _params(ref))):
        close(a, b, f"DDP + ZeRO parameter {i}", rtol=1e-9, atol=1e-11)


# --- the sampler, with real ranks ----------------------------------------------------------------
def sampler(rank, world):
    n = 10
    data = TensorDataset(nnkit.arange(n))
    for shuffle in (False, True):
        s = DistributedSampler(data, shuffle=shuffle, seed=7)
        assert s.num_replicas == world and s.rank == rank
        for epoch in range(2):
            s.set_epoch(epoch)
            seen = [int(v) for (batch,) in DataLoader(data, batch_size=3, sampler=s) for v in batch.tolist()]
            everyone = [None] * world
            dist.all_gather_object(everyone, seen)
            assert len({len(e) for e in everyone}) == 1, "ranks got different numbers of samples"
            flat = [i for e in everyone for i in e]
            assert set(flat) == set(range(n)), "a sample was never seen"
            assert len(flat) == -(-n // world) * world  # the padding repeats only as much as needed
            if n % world == 0:
                assert sorted(flat) == list(range(n)), "exactly once when the size divides evenly"


# --- failures -----------------------------------------------------------------------------------
def fail(rank, world):
    if rank == world - 1:
        raise ValueError("boom on purpose")
    t = nnkit.ones(3)
    dist.all_reduce(t)  # the others wait here: the failing rank's abort must end them


def timeout(rank, world):
    if rank == 1:
        time.sleep(60)  # never joins: rank 0's all_reduce must time out, and the abort end this rank too
    t = nnkit.ones(3)
    dist.all_reduce(t)


# --- on a GPU: the nccl backend, or mpi staging CuPy arrays through the host ----------------------------
def gpu(rank, world):
    cuda = nnkit.device("cuda")
    t = nnkit.tensor([rank + 1.0, 2.0]).to(cuda)
    dist.all_reduce(t)
    assert t.device == cuda
    close(t.cpu().numpy(), [world * (world + 1) / 2, 2.0 * world], "cuda SUM")
    t = nnkit.tensor([float(rank)] * 3).to(cuda)
    dist.all_reduce(t, op=dist.ReduceOp.AVG)
    close(t.cpu().numpy(), [(world - 1) / 2] * 3, "cuda AVG")
    strided = nnkit.tensor(np.arange(6.0).reshape(2, 3), dtype=nnkit.float32).to(cuda).T
    dist.all_reduce(strided, op=dist.ReduceOp.MAX)
    close(strided.cpu().numpy(), np.arange(6.0).reshape(2, 3).T, "cuda strided MAX")
    t = nnkit.tensor([float(rank)]).to(cuda)
    dist.broadcast(t, src=world - 1)
    close(t.cpu().numpy(), [world - 1.0], "cuda broadcast")
    outs = [nnkit.zeros(2).to(cuda) for _ in range(world)]
    dist.all_gather(outs, nnkit.full((2,), float(rank)).to(cuda))
    close(np.stack([o.cpu().numpy() for o in outs]), np.repeat(np.arange(float(world)), 2).reshape(world, 2),
          "cuda all_gather")
    out = nnkit.zeros(2).to(cuda)
    dist.reduce_scatter(out, [nnkit.full((2,), float(i)).to(cuda) for i in range(world)])
    close(out.cpu().numpy(), [float(rank * world)] * 2, "cuda reduce_scatter")
    work = dist.all_reduce(nnkit.ones(1 << 20).to(cuda), async_op=True)
    work.wait()
    dist.barrier()

    X, y = _data(4 * world)
    expect = _train_single(X, y, 3)
    model = DistributedDataParallel(_mlp(rank).to(cuda), bucket_cap_mb=0.0005)
    opt = nnkit.optim.SGD(model.parameters(), lr=0.1, momentum=0.9)
    rows = slice(4 * rank, 4 * rank + 4)
    for _ in range(3):
        opt.zero_grad()
        nn.functional.cross_entropy(model(X[rows].to(cuda)), y[rows].to(cuda)).backward()
        opt.step()
    for i, (a, b) in enumerate(zip(model.module.parameters(), expect)):
        close(a.detach().cpu().numpy(), b, f"cuda DDP parameter {i}", rtol=1e-4, atol=1e-5)


SCENARIOS = {f.__name__: f for f in (collectives, ddp, unused, mismatch, zero, sampler, fail, timeout, gpu)}

if __name__ == "__main__":
    name = sys.argv[1]
    dist.init_process_group(os.environ.get("NNKIT_TEST_BACKEND", "mpi"), timeout=float(sys.argv[2]) if len(sys.argv) > 2 else 60)
    rank, world = dist.get_rank(), dist.get_world_size()
    SCENARIOS[name](rank, world)
    dist.barrier()
    print(f"{name} ok on rank {rank} of {world}", flush=True)
    dist.destroy_process_group()
