"""``ZeroRedundancyOptimizer``: ZeRO stage 1, each rank keeping only its shard of the optimizer state.

With data parallelism every rank holds the same parameters and, after the
all-reduce, the same gradients; a plain optimizer would then make every rank
keep the same Adam moments (twice the parameters' memory) and do the same
update. ZeRO-1 (Rajbhandari et al., 2020) splits the parameters among the ranks
instead: each rank keeps the state of, and updates, only its own share, then
each rank broadcasts its updated share to the others. Optimizer memory per rank
falls as 1 / world size; the price is one broadcast of the parameters per step.
"""

from __future__ import annotations

from itertools import chain
from typing import Any, Callable, Iterable

from ..autograd import no_grad
from ..optim.optimizer import Optimizer
from ..tensor import Tensor
from . import collectives as dist

__all__ = ["ZeroRedundancyOptimizer"]

_OWN_KEYS = ("params", "param_names")


class ZeroRedundancyOptimizer(Optimizer):
    """Wrap ``optimizer_class`` so that its state is sharded across ranks, as PyTorch's.

    Parameters are assigned to ranks greedily, largest first, each to the rank
    with the fewest elements so far. ``self.optim`` is the local optimizer over
    this rank's parameters; ``param_groups`` covers all parameters (a scheduler
    that changes ``lr`` there reaches the local optimizer at the next ``step``).

    Call ``consolidate_state_dict(to)`` on every rank before ``state_dict()`` on
    rank ``to``.

    >>> opt = ZeroRedundancyOptimizer(model.parameters(), optimizer_class=nnkit.optim.Adam, lr=1e-3)  # doctest: +SKIP
    """

    def __init__(self, params: Iterable, optimizer_class: type, process_group=None,
                 parameters_as_bucket_view: bool = False, overlap_with_ddp: bool = False, **defaults: Any):
        name = "ZeroRedundancyOptimizer"
        for option, value in (("parameters_as_bucket_view", parameters_as_bucket_view),
                              ("overlap_with_ddp", overlap_with_ddp)):
            if value:
                raise NotImplementedError(f"{name}: the option {option}=True is not supported")
        if not (isinstance(optimizer_class, type) and issubclass(optimizer_class, Optimizer)):
            raise TypeError(f"{name}: optimizer_class must be an nnkit optimizer class (nnkit.optim.Adam...), "
                            f"got {optimizer_class!r}")
        pg = dist._group(process_group, name)
        self.rank, self.world_size = pg.rank, pg.world_size
        super().__init__(params, defaults)
        everything = list(chain.from_iterable(g["params"] for g in self.param_groups))
        self._owner = self._partition(everything)
        local_groups = [{**{k: v for k, v in g.items() if k not in _OWN_KEYS},
                         "params": [p for p in g["params"] if self._owner[p] == self.rank]}
                        for g in self.param_groups]
        self.optim = optimizer_class(local_groups, **defaults)
        for group, local in zip(self.param_groups, self.optim.param_groups):
            for key, value in local.items():
                group.setdefault(key, value)  # the options optimizer_class filled in (betas, eps...)
        self._shards = [[p for p in everything if self._owner[p] == r] for r in range(self.world_size)]
        self._consolidated: dict | None = None

    def _partition(self, params: list) -> dict:
        load = [0] * self.world_size
        owner = {}
        for p in sorted(params, key=lambda p: -p.numel()):  # sorted() is stable: ties keep model order
            rank = min(range(self.world_size), key=load.__getitem__)
            owner[p] = rank
            load[rank] += p.numel()
        return owner

    def add_param_group(self, param_group: dict) -> None:
        if hasattr(self, "optim"):
            raise NotImplementedError("ZeroRedundancyOptimizer.add_param_group: adding groups after "
                                      "construction is not supported")
        super().add_param_group(param_group)

    def _sync_options(self, source: list, target: list) -> None:
        for src, dst in zip(source, target):
            for key, value in src.items():
                if key not in _OWN_KEYS:
                    dst[key] = value

    def step(self, closure: Callable[[], Any] | None = None):
        """Update this rank's shard with the local optimizer, then broadcast every shard from its owner."""
        self._sync_options(self.param_groups, self.optim.param_groups)
        loss = self.optim.step(closure)
        self._opt_called = True
        with no_grad():
            pending = []
            for rank, shard in enumerate(self._shards):
                by_dtype: dict = {}
                for p in shard:
                    by_dtype.setdefault((p.dtype, p.device.type), []).append(p)
                for group in by_dtype.values():
                    xp = group[0]._xp
                    flat = xp.concatenate([p.array.reshape(-1) for p in group])
                    pending.append((group, flat, dist.broadcast(Tensor._wrap(flat), src=rank, async_op=True)))
            for group, flat, work in pending:
                work.wait()
                offset = 0
                for p in group:
                    p.array[...] = flat[offset:offset + p.numel()].reshape(p.shape)
                    offset += p.numel()
        return loss

    # --- state dicts: gathered on one rank, in the layout a plain optimizer would have -------------------
    def consolidate_state_dict(self, to: int = 0) -> None:
        """Gather every rank's optimizer state onto rank ``to`` (a collective: call it on every rank)."""
        self._sync_options(self.param_groups, self.optim.param_groups)
        index = {p: i for i, p in enumerate(chain.from_iterable(g["params"] for g in self.param_groups))}
        local = self.optim.state_dict()
        mine = list(chain.from_iterable(g["params"] for g in self.optim.param_groups))
        state = {index[mine[i]]: {k: (v.array if isinstance(v, Tensor) else v) for k, v in s.items()}
                 for i, s in local["state"].items()}
        everyone = [None] * self.world_size
        dist.all_gather_object(everyone, state)
        if self.rank == to:
            merged = {}
            for part in everyone:
                merged.update(part)
            self._consolidated = {i: {k: Tensor(v) if hasattr(v, "shape") else v for k, v in s.items()}
                                  for i, s in sorted(merged.items())}
        else:
            self._consolidated = None

    def state_dict(self) -> dict[str, Any]:
        """The whole optimizer's state, as a plain ``optimizer_class`` over all parameters would give it."""
        if self._consolidated is None:
            raise RuntimeError("ZeroRedundancyOptimizer.state_dict: Optimizer state has not been consolidated "
                               "on this rank. Please call `consolidate_state_dict(to=...)` on all ranks "
                               "beforehand (and call state_dict() on rank `to`).")
        layout = super().state_dict()
        layout["state"] = self._consolidated
        return layout

    def load_state_dict(self, state_dict: dict[str, Any]) -> None:
        """Load a whole-optimizer state dict: each rank keeps the state of its own shard."""
        index = list(chain.from_iterable(g["params"] for g in self.param_groups))
        mine = list(chain.from_iterable(g["params"] for g in self.optim.param_groups))
        where = {p: i for i, p in enumerate(mine)}
        local_state = {where[index[i]]: s for i, s in state_dict["state"].items()
                       if i < len(index) and self._owner[index[i]] == self.rank}
        local_groups, start = [], 0
        for saved, group in zip(state_dict["param_groups"], self.optim.param_groups):
            local_groups.append({**{k: v for k, v in saved.items() if k not in _OWN_KEYS},
                                 "params": list(range(start, start + len(group["params"])))})
            start += len(group["params"])
        if len(state_dict["param_groups"]) != len(self.param_groups):
            raise ValueError(f"ZeroRedundancyOptimizer.load_state_dict: the state dict has "
                             f"{len(state_dict['param_groups'])} parameter groups, the optimizer "
                             f"{len(self.param_groups)}")
        self.optim.load_state_dict({"state": local_state, "param_groups": local_groups})
        self._sync_options(self.optim.param_groups, self.param_groups)
