"""Train an MLP on the handwritten digits with data parallelism, on as many processes as MPI starts.

    mpiexec -n 2 python examples/train_ddp.py                  # two processes on this machine
    mpiexec -n 4 python examples/train_ddp.py --zero           # Adam's state sharded across 4 ranks (ZeRO-1)
    mpiexec -n 2 python examples/train_ddp.py --accumulate 4   # 4 micro-batches per step, no_sync for the first 3
    mpiexec -f hosts -n 8 python examples/train_ddp.py         # across machines (a host file, one name per line)

Every rank builds the same model (DistributedDataParallel copies rank 0's
weights to all), reads its own share of each epoch through a
DistributedSampler, and takes the same optimizer step, since backward averages
the gradients over the ranks. The global batch is --batch-size, whatever the
number of processes: each rank computes batch-size / world-size samples.
Rank 0 prints the progress; test accuracy is counted on every rank's share of
the test set and summed with an all-reduce.
"""

from __future__ import annotations

import argparse
import time

import nnkit
import nnkit.distributed as dist
from nnkit import nn
from nnkit.data import DataLoader, DistributedSampler, TensorDataset, load_digits, train_test_split
from nnkit.distributed.optim import ZeroRedundancyOptimizer
from nnkit.nn.parallel import DistributedDataParallel


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--epochs", type=int, default=20)
    parser.add_argument("--batch-size", type=int, default=64, help="the global batch, over all ranks")
    parser.add_argument("--lr", type=float, default=3e-3)
    parser.add_argument("--accumulate", type=int, default=1, help="micro-batches per optimizer step")
    parser.add_argument("--zero", action="store_true", help="shard Adam's state across ranks (ZeRO-1)")
    parser.add_argument("--backend", default="mpi", choices=["mpi", "nccl"])
    parser.add_argument("--min-accuracy", type=float, default=0.9, help="exit non-zero below this test accuracy")
    args = parser.parse_args()

    dist.init_process_group(args.backend, timeout=300)
    rank, world = dist.get_rank(), dist.get_world_size()
    device = "cuda" if args.backend == "nccl" else "cpu"
    per_rank, leftover = divmod(args.batch_size, world * args.accumulate)
    if leftover:
        raise SystemExit(f"--batch-size {args.batch_size} must divide by world size x --accumulate "
                         f"({world} x {args.accumulate})")

    X, y = load_digits()
    X_train, X_test, y_train, y_test = train_test_split(X, y, test_size=0.2, seed=0)
    train = TensorDataset(nnkit.tensor(X_train), nnkit.tensor(y_train))
    sampler = DistributedSampler(train, shuffle=True, seed=0)
    loader = DataLoader(train, batch_size=per_rank, sampler=sampler, drop_last=True)

    nnkit.manual_seed(rank)  # different on purpose: wrapping makes every rank start from rank 0's weights
    net = nn.Sequential(nn.Linear(64, 128), nn.ReLU(), nn.Linear(128, 64), nn.ReLU(), nn.Linear(64, 10)).to(device)
    model = DistributedDataParallel(net)
    if args.zero:
        optimizer = ZeroRedundancyOptimizer(model.parameters(), optimizer_class=nnkit.optim.Adam, lr=args.lr)
    else:
        optimizer = nnkit.optim.Adam(model.parameters(), lr=args.lr)
    if rank == 0:
        print(f"{world} process(es), backend {args.backend}; global batch {args.batch_size} = {world} ranks x "
              f"{args.accumulate} micro-batches x {per_rank}; {len(train)} training samples")

    start = time.perf_counter()
    for epoch in range(args.epochs):
        sampler.set_epoch(epoch)  # a new shuffle each epoch, the same on every rank
        model.train()
        total = nnkit.zeros(2)  # loss sum and batch count, for the epoch's mean over all ranks
        batches = iter(loader)
        for step in range(len(loader) // args.accumulate):
            optimizer.zero_grad()
            for micro in range(args.accumulate):
                xb, yb = next(batches)
                loss = nn.functional.cross_entropy(model(xb.to(device)), yb.to(device)) / args.accumulate
                if micro < args.accumulate - 1:
                    with model.no_sync():  # only the last micro-batch's backward communicates
                        loss.backward()
                else:
                    loss.backward()
                total += nnkit.tensor([loss.item(), 1.0 / args.accumulate])
            optimizer.step()
        dist.all_reduce(total)
        if rank == 0 and (epoch % 5 == 4 or epoch == args.epochs - 1):
            print(f"epoch {epoch + 1:3d}  loss {float(total[0] / total[1]):.4f}  "
                  f"({time.perf_counter() - start:.1f} s)")

    # Each rank scores a disjoint slice of the test set; the counts are summed over ranks.
    model.eval()
    with nnkit.no_grad():
        mine = slice(rank, None, world)
        logits = model(nnkit.tensor(X_test[mine]).to(device))
        correct = (logits.argmax(dim=1).cpu().numpy() == y_test[mine]).sum()
    counts = nnkit.tensor([float(correct), float(len(y_test[mine]))])
    dist.all_reduce(counts)
    accuracy = float(counts[0] / counts[1])
    if rank == 0:
        print(f"test accuracy {accuracy:.3f} on {int(counts[1])} digits")
    dist.destroy_process_group()
    if accuracy < args.min_accuracy:
        raise SystemExit(f"test accuracy {accuracy:.3f} is below --min-accuracy {args.min_accuracy}")


if __name__ == "__main__":
    main()
