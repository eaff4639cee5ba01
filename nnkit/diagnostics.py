"""Training diagnostics: look inside a network while it trains.

A loss curve says *that* training goes badly, rarely *why*. :class:`TrainingMonitor`
records, for each watched layer, at every step:

- the **activations** it outputs (mean, std, the fraction saturated or dead, a histogram);
- the **gradient** of its weight (std, a histogram);
- the **update-to-data ratio** of its weight, :math:`\\mathrm{std}(\\Delta W) / \\mathrm{std}(W)`,
  the size of one optimizer step relative to the weights. Around :math:`10^{-3}` is healthy for
  Adam or SGD; :math:`10^{-5}` means the layer barely learns, :math:`10^{-1}` that it is thrashed.

Use ``monitor.step(optimizer)`` in place of ``optimizer.step()``; it records the
gradients, takes the step, and measures the update it made:

>>> import nnkit
>>> from nnkit import nn, optim
>>> model = nn.Sequential(nn.Linear(4, 8), nn.Tanh(), nn.Linear(8, 2))
>>> monitor = TrainingMonitor(model)
>>> opt = optim.SGD(model.parameters(), lr=0.1)
>>> loss = model(nnkit.randn(16, 4)).pow(2).mean()
>>> loss.backward(); monitor.step(opt)
>>> sorted(monitor.layers), len(monitor.records["0"])
(['0', '2'], 1)
"""

from __future__ import annotations

import math
from typing import TYPE_CHECKING, Sequence

import numpy as np

from .autograd import no_grad
from .extras import require
from .nn.linear import Linear
from .nn.module import Module

if TYPE_CHECKING:
    from matplotlib.figure import Figure

__all__ = ["TrainingMonitor", "layer_stats"]


def _host(t) -> np.ndarray:
    return np.asarray(t.detach().cpu().numpy(), dtype=np.float64)


def layer_stats(values: np.ndarray, saturation: float = 0.97, bins: np.ndarray | None = None) -> dict:
    """Summary of one array of values: mean, std, fraction with ``|v| > saturation``, fraction exactly 0,
    and a histogram over ``bins`` (default: 41 edges from -1 to 1 for activations).

    >>> s = layer_stats(np.array([0.0, 0.5, -0.99, 0.99]))
    >>> round(s["saturated"], 2), round(s["zero"], 2)
    (0.5, 0.25)
    """
    values = np.asarray(values, dtype=np.float64).ravel()
    bins = np.linspace(-1, 1, 41) if bins is None else bins
    counts, _ = np.histogram(np.clip(values, bins[0], bins[-1]), bins=bins)
    return {"mean": float(values.mean()), "std": float(values.std()),
            "saturated": float(np.mean(np.abs(values) > saturation)), "zero": float(np.mean(values == 0)),
            "hist": counts, "bins": bins}


class TrainingMonitor:
    """Record activation, gradient and update statistics of ``model``'s layers during training.

    ``layers``: the module types to watch (default ``Linear``); for each one, the
    output of the module right after it is taken as its activation when that module
    is an activation function (``Tanh``, ``ReLU``, ...), else its own output.
    ``records[name]`` is a list with one dict per step: ``act`` and ``grad``
    (see :func:`layer_stats`) and ``update_ratio``. ``live_every=k`` redraws
    :meth:`plot` in place every ``k`` steps inside Jupyter.
    """

    def __init__(self, model: Module, layers: Sequence[type] = (Linear,), live_every: int | None = None,
                 saturation: float = 0.97):
        if not isinstance(model, Module):
            raise TypeError(f"TrainingMonitor: expected an nnkit.nn.Module, got {type(model).__name__}")
        modules = list(model.named_modules())
        self.layers: dict[str, Module] = {name: m for name, m in modules if isinstance(m, tuple(layers))}
        if not self.layers:
            raise ValueError(f"TrainingMonitor: the model has no layer of type "
                             f"{', '.join(t.__name__ for t in layers)} to watch")
        self.saturation = saturation
        self.records: dict[str, list[dict]] = {name: [] for name in self.layers}
        self._last_act: dict[str, np.ndarray] = {}
        self._handles = []
        # The activation of a layer: the output of the activation module right after it, if any.
        for i, (name, module) in enumerate(modules):
            if name not in self.layers:
                continue
            nxt = modules[i + 1][1] if i + 1 < len(modules) else None
            watched = nxt if nxt is not None and type(nxt).__module__.endswith("activation") else module
            self._handles.append(watched.register_forward_hook(self._recorder(name)))
        self.live_every = live_every
        self._display = None
        self.steps = 0

    def _recorder(self, name: str):
        def hook(module, inputs, output):
            if module.training:
                self._last_act[name] = _host(output.detach())
        return hook

    def step(self, optimizer) -> None:
        """Record gradients, call ``optimizer.step()``, then record activations and the update ratio."""
        before = {}
        grads = {}
        for name, layer in self.layers.items():
            w = layer.weight
            before[name] = _host(w).copy()
            grads[name] = _host(w.grad) if w.grad is not None else np.zeros_like(before[name])
        optimizer.step()
        with no_grad():
            for name, layer in self.layers.items():
                after = _host(layer.weight)
                scale = max(float(before[name].std()), 1e-12)
                g = grads[name]
                g_std = max(float(g.std()), 1e-30)
                act = self._last_act.get(name)
                self.records[name].append({
                    "act": layer_stats(act, self.saturation) if act is not None else None,
                    "grad": layer_stats(g, bins=np.linspace(-4 * g_std, 4 * g_std, 41)),
                    "update_ratio": float((after - before[name]).std()) / scale,
                })
        self.steps += 1
        if self.live_every and self.steps % self.live_every == 0:
            self._redraw()

    def update_ratios(self) -> dict[str, np.ndarray]:
        """``{layer: array over steps}`` of the update-to-data ratio."""
        return {name: np.array([r["update_ratio"] for r in recs]) for name, recs in self.records.items()}

    def summary(self) -> list[dict]:
        """One row per layer at the last step: activation std and saturated/dead fractions, gradient std,
        update ratio (log10)."""
        rows = []
        for name, recs in self.records.items():
            if not recs:
                continue
            last = recs[-1]
            act = last["act"] or {"std": math.nan, "saturated": math.nan, "zero": math.nan}
            rows.append({"layer": name, "type": type(self.layers[name]).__name__, "act_std": act["std"],
                         "saturated": act["saturated"], "dead": act["zero"], "grad_std": last["grad"]["std"],
                         "log10_update_ratio": math.log10(max(last["update_ratio"], 1e-30))})
        return rows

    def plot(self) -> Figure:
        """Three panels: activation histograms and gradient histograms at the last step (one line per
        layer), and log10 of the update-to-data ratio over the steps, with the 1e-3 guide."""
        plt = require("matplotlib.pyplot", "TrainingMonitor.plot")
        fig, axes = plt.subplots(1, 3, figsize=(13, 3.4))
        for name, recs in self.records.items():
            if not recs:
                continue
            last = recs[-1]
            if last["act"] is not None:
                b = last["act"]["bins"]
                axes[0].plot((b[1:] + b[:-1]) / 2, last["act"]["hist"], label=f"layer {name}")
            g = last["grad"]
            axes[1].plot((g["bins"][1:] + g["bins"][:-1]) / 2 / max(g["std"], 1e-30), g["hist"],
                         label=f"layer {name} (std {g['std']:.1e})")
            axes[2].plot(np.log10(np.maximum(self.update_ratios()[name], 1e-30)), lw=1, label=f"layer {name}")
        axes[0].set(title="activations (last step)", xlabel="value", ylabel="count")
        axes[1].set(title="weight gradients (last step)", xlabel="gradient / its std", ylabel="count")
        axes[2].axhline(-3, color="k", ls="--", lw=1, label="1e-3")
        axes[2].set(title="update-to-data ratio", xlabel="step", ylabel="log10 std(ΔW) / std(W)")
        for ax in axes:
            ax.legend(fontsize=7)
        fig.tight_layout()
        return fig

    def _redraw(self) -> None:
        try:
            from IPython import get_ipython
            from IPython.display import display
        except ImportError:
            return
        shell = get_ipython()
        if shell is None or "IPKernelApp" not in shell.config:
            return
        plt = require("matplotlib.pyplot", "TrainingMonitor")
        fig = self.plot()
        if self._display is None:
            self._display = display(fig, display_id=True)
        else:
            self._display.update(fig)
        plt.close(fig)

    def remove(self) -> None:
        """Detach the hooks (the records stay)."""
        for handle in self._handles:
            handle.remove()
        self._handles = []
