"""``fit`` and ``evaluate``: the training loop of chapter 06, with its bookkeeping done for you.

The loop inside :func:`fit` is the one you write by hand (zero the gradients,
forward, loss, backward, step); around it ``fit`` averages the loss over each
epoch, computes metrics, validates, steps a scheduler, stops early, shows a
progress bar (tqdm, a widget in Jupyter) and, if asked, a live plot. It returns
a :class:`History` of per-epoch values. The loss function is assumed to
average over its batch (``reduction='mean'``, the default).

>>> from nnkit import nn, optim
>>> from nnkit.data import DataLoader, TensorDataset, make_moons
>>> from nnkit.metrics import accuracy
>>> X, y = make_moons(200)
>>> model = nn.Linear(2, 2)
>>> loader = DataLoader(TensorDataset(X, y), batch_size=32, shuffle=True)
>>> history = fit(model, loader, optim.SGD(model.parameters(), lr=0.1), nn.CrossEntropyLoss(), epochs=3,
...               metrics={"acc": accuracy}, progress=False)
>>> list(history), len(history["train_loss"])
(['train_loss', 'train_acc', 'lr'], 3)
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any, Callable

from . import backend
from .autograd import no_grad
from .extras import require
from .ops import cat
from .optim.lr_scheduler import ReduceLROnPlateau

if TYPE_CHECKING:
    from matplotlib.figure import Figure

__all__ = ["fit", "evaluate", "History", "EarlyStopping"]


class History(dict):
    """Per-epoch values by name (``'train_loss'``, ``'val_loss'``, ``'val_acc'``, ``'lr'``...), one list entry
    per epoch; ``best_epoch`` is the index of the best epoch by the monitored value."""

    best_epoch: int | None = None

    def plot(self) -> Figure:
        """Loss curves (train and validation) and one panel per metric; the best epoch is marked."""
        plt = require("matplotlib.pyplot", "History.plot")

        from .plot import plot_loss_curves

        metrics = sorted({k.split("_", 1)[1] for k in self if k.startswith(("train_", "val_")) and k[-4:] != "loss"})
        fig, axes = plt.subplots(1, 1 + len(metrics), figsize=(4.5 * (1 + len(metrics)), 3.2), squeeze=False)
        for ax, name in zip(axes[0], ["loss"] + metrics):
            plot_loss_curves({k: self[k] for k in (f"train_{name}", f"val_{name}") if k in self}, ax=ax)
            ax.set_ylabel(name)
            if self.best_epoch is not None:
                ax.axvline(self.best_epoch + 1, color="gray", linestyle=":")
        fig.tight_layout()
        return fig


class EarlyStopping:
    """Stop when ``monitor`` has not improved by more than ``min_delta`` for ``patience`` epochs.

    ``mode`` is ``'min'`` or ``'max'``; by default ``'min'`` for names ending in
    ``loss`` and ``'max'`` otherwise. With ``restore_best_weights`` the model
    gets back the weights of its best epoch when training ends.
    """

    def __init__(self, patience: int = 5, monitor: str = "val_loss", mode: str | None = None,
                 min_delta: float = 0.0, restore_best_weights: bool = True):
        if not isinstance(patience, int) or patience < 0:
            raise ValueError(f"EarlyStopping: patience must be a non-negative integer, got {patience!r}")
        if mode not in (None, "min", "max"):
            raise ValueError(f"EarlyStopping: mode must be 'min' or 'max', got {mode!r}")
        self.patience, self.monitor, self.min_delta = patience, monitor, min_delta
        self.mode = mode or ("min" if monitor.endswith("loss") else "max")
        self.restore_best_weights = restore_best_weights

    def improves(self, value: float, best: float | None) -> bool:
        if best is None:
            return True
        return value < best - self.min_delta if self.mode == "min" else value > best + self.min_delta


def _batch(batch: Any, device) -> tuple:
    if not isinstance(batch, (list, tuple)) or len(batch) != 2:
        raise ValueError(f"fit/evaluate: each batch must be a pair (inputs, targets), got {type(batch).__name__}"
                         + (f" of length {len(batch)}" if isinstance(batch, (list, tuple)) else ""))
    return batch[0].to(device), batch[1].to(device)


def _device(model, device) -> backend.device:
    if device is not None:
        model.to(device)
        return backend.device(device)
    first = next(iter(model.parameters()), None)
    return first.device if first is not None else backend.get_default_device()


def evaluate(model, loader, loss_fn: Callable | None = None, metrics: dict[str, Callable] | None = None,
             device=None) -> dict[str, float]:
    """The mean loss (``'loss'``) and each metric over ``loader``, in eval mode and without gradients.

    Metrics see the whole set's outputs and targets at once. The model's
    train/eval mode is restored afterwards.
    """
    device, metrics, was_training = _device(model, device), metrics or {}, model.training
    total, count, outputs, targets = 0.0, 0, [], []
    model.eval()
    try:
        with no_grad():
            for batch in loader:
                x, y = _batch(batch, device)
                output = model(x)
                if loss_fn is not None:
                    total += loss_fn(output, y).item() * y.shape[0]
                count += y.shape[0]
                if metrics:
                    outputs.append(output)
                    targets.append(y)
    finally:
        model.train(was_training)
    if count == 0:
        raise ValueError("evaluate: the loader gave no batches")
    result = {"loss": total / count} if loss_fn is not None else {}
    result.update({name: fn(cat(outputs), cat(targets)) for name, fn in metrics.items()})
    return result


def fit(model, train_loader, optimizer, loss_fn: Callable, epochs: int, val_loader=None,
        metrics: dict[str, Callable] | None = None, scheduler=None, early_stopping: EarlyStopping | None = None,
        device=None, progress: bool = True, live_plot: bool = False) -> History:
    """Train ``model`` for ``epochs`` passes over ``train_loader``; return the :class:`History`.

    Each epoch records ``train_loss`` and ``train_<name>`` for each of
    ``metrics`` (e.g. ``{'acc': nnkit.metrics.accuracy}``), then ``val_loss``
    and ``val_<name>`` on ``val_loader`` if given, and the learning rate
    ``lr`` it used. ``scheduler.step()`` runs after every epoch
    (``ReduceLROnPlateau`` gets the monitored value; build a per-batch
    schedule such as ``OneCycleLR`` with ``total_steps=epochs``).
    ``early_stopping`` (an :class:`EarlyStopping`) ends training when its
    value stops improving.
    Batches are moved to ``device`` (default: where the model's parameters
    are). ``progress`` shows a tqdm bar; ``live_plot`` redraws the curves after
    every epoch when running in Jupyter.
    """
    if not isinstance(epochs, int) or epochs < 1:
        raise ValueError(f"fit: epochs must be a positive integer, got {epochs!r}")
    device, metrics, history = _device(model, device), metrics or {}, History()
    monitor = early_stopping.monitor if early_stopping else "val_loss" if val_loader is not None else "train_loss"
    rule = early_stopping or EarlyStopping(monitor=monitor)
    best, best_state, waited = None, None, 0
    bar = _progress_bar(epochs * len(train_loader)) if progress else None
    display = _live_display() if live_plot else None
    for epoch in range(epochs):
        if bar is not None:
            bar.set_description(f"epoch {epoch + 1}/{epochs}")
        model.train()
        total, count, outputs, targets = 0.0, 0, [], []
        lr = optimizer.param_groups[0]["lr"]
        for batch in train_loader:
            x, y = _batch(batch, device)
            optimizer.zero_grad()
            output = model(x)
            loss = loss_fn(output, y)
            loss.backward()
            optimizer.step()
            total, count = total + loss.item() * y.shape[0], count + y.shape[0]
            if metrics:
                outputs.append(output.detach())
                targets.append(y)
            if bar is not None:
                bar.update()
        if count == 0:
            raise ValueError("fit: the training loader gave no batches")
        record = {"train_loss": total / count}
        record.update({f"train_{name}": fn(cat(outputs), cat(targets)) for name, fn in metrics.items()})
        if val_loader is not None:
            scores = evaluate(model, val_loader, loss_fn, metrics, device)
            record.update({f"val_{name}": value for name, value in scores.items()})
        record["lr"] = lr
        for name, value in record.items():
            history.setdefault(name, []).append(value)
        if monitor not in record:
            raise ValueError(f"fit: early_stopping monitors {monitor!r}, but the epoch recorded only {sorted(record)}")
        if rule.improves(record[monitor], best):
            best, history.best_epoch, waited = record[monitor], epoch, 0
            if early_stopping and early_stopping.restore_best_weights:
                best_state = {k: v.clone() for k, v in model.state_dict().items()}
        else:
            waited += 1
        if isinstance(scheduler, ReduceLROnPlateau):
            scheduler.step(record[monitor])
        elif scheduler is not None:
            scheduler.step()
        if bar is not None:
            bar.set_postfix({k: f"{v:.4g}" for k, v in record.items() if k == "train_loss" or k.startswith("val_")},
                            refresh=False)
        if display is not None:
            display(history)
        if early_stopping and waited and waited >= early_stopping.patience:
            break
    if bar is not None:
        bar.close()
    if best_state is not None:
        model.load_state_dict(best_state)
    return history


def _progress_bar(total: int):
    """A tqdm bar (a widget in Jupyter), or None when tqdm is not installed."""
    try:
        from tqdm.auto import tqdm
    except ImportError:
        return None
    return tqdm(total=total, unit="batch")


def _in_notebook() -> bool:
    """True inside a Jupyter kernel (where figures can be displayed and updated)."""
    try:
        from IPython import get_ipython
    except ImportError:
        return False
    shell = get_ipython()
    return shell is not None and "IPKernelApp" in shell.config


def _live_display() -> Callable[[History], None] | None:
    """A function that redraws the history's figure in place in Jupyter, or None elsewhere.

    It updates one display (``display_id``) rather than clearing the cell's
    output, so the progress bar above it stays.
    """
    if not _in_notebook():
        return None
    import matplotlib.pyplot as plt
    from IPython.display import display

    handle = None

    def show(history: History) -> None:
        nonlocal handle
        fig = history.plot()
        if handle is None:
            handle = display(fig, display_id=True)
        else:
            handle.update(fig)
        plt.close(fig)  # shown once, through the handle, and not again when the cell ends

    return show
