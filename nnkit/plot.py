"""Figures used throughout the course (introduced in chapter 01).

Every function draws on a matplotlib ``Axes`` (a new one unless ``ax`` is given),
labels its axes and returns the ``Axes`` (``image_grid`` returns the ``Figure``),
so a caller can adjust the figure afterwards. Nothing is printed.

matplotlib is imported inside each function, so ``import nnkit`` stays light and
works where matplotlib is not installed.

>>> from nnkit.plot import plot_loss_curves
>>> ax = plot_loss_curves({"train": [1.0, 0.5, 0.3], "val": [1.1, 0.7, 0.6]})
>>> ax.get_ylabel()
'loss'
"""

from __future__ import annotations

import math
from typing import TYPE_CHECKING, Callable, Mapping, Sequence

import numpy as np

from .extras import require

if TYPE_CHECKING:
    from matplotlib.axes import Axes
    from matplotlib.figure import Figure

__all__ = [
    "plot_activation",
    "plot_decision_boundary",
    "plot_loss_curves",
    "image_grid",
    "plot_loss_surface",
]

# Class colours for decision boundaries: the filled regions and the points share them.
_CLASS_COLORS = ["#1f77b4", "#ff7f0e", "#2ca02c", "#d62728", "#9467bd",
                 "#8c564b", "#e377c2", "#7f7f7f", "#bcbd22", "#17becf"]


def _new_axes(ax: Axes | None) -> Axes:
    if ax is not None:
        return ax
    plt = require("matplotlib.pyplot", "nnkit.plot")

    _, ax = plt.subplots()
    return ax


def _name_of(fn: Callable) -> str:
    name = getattr(fn, "__name__", "")
    return "f" if not name or name == "<lambda>" else name


def plot_activation(
    fn: Callable[[np.ndarray], np.ndarray],
    derivative: Callable[[np.ndarray], np.ndarray] | None = None,
    x: np.ndarray | None = None,
    ax: Axes | None = None,
    title: str | None = None,
) -> Axes:
    """Plot an activation function ``fn`` and, dashed, its ``derivative``.

    ``x`` is the grid of pre-activations (default ``linspace(-6, 6, 400)``); both
    callables take and return NumPy arrays. The title defaults to ``fn.__name__``.

    >>> import numpy as np
    >>> ax = plot_activation(np.tanh, lambda z: 1 - np.tanh(z) ** 2)
    >>> [t.get_text() for t in ax.get_legend().get_texts()]
    ['tanh(z)', "tanh'(z)"]
    """
    ax = _new_axes(ax)
    x = np.linspace(-6.0, 6.0, 400) if x is None else np.asarray(x, dtype=float)
    name = _name_of(fn)
    ax.axhline(0.0, color="0.8", linewidth=0.8, zorder=0)
    ax.axvline(0.0, color="0.8", linewidth=0.8, zorder=0)
    ax.plot(x, np.asarray(fn(x), dtype=float), label=f"{name}(z)")
    if derivative is not None:
        ax.plot(x, np.asarray(derivative(x), dtype=float), linestyle="--", label=f"{name}'(z)")
    ax.set_xlabel("pre-activation z")
    ax.set_ylabel("value")
    ax.set_title(name if title is None else title)
    ax.legend()
    return ax


def _grid_outputs(out: np.ndarray, m: int) -> tuple[np.ndarray, bool]:
    """Turn ``predict``'s output on ``m`` grid points into (values, is_probability)."""
    if out.ndim == 2 and out.shape[1] == 1:
        out = out[:, 0]
    if out.ndim not in (1, 2) or out.shape[0] != m:
        raise ValueError(
            f"plot_decision_boundary: predict returned shape {out.shape} for {m} points; "
            f"expected ({m},) labels or probabilities, or ({m}, k) class probabilities"
        )
    if out.ndim == 2:
        return out.argmax(axis=1), False
    if out.dtype.kind in "biu" or np.all(out == np.round(out)):
        if out.min() < 0:
            raise ValueError(f"plot_decision_boundary: class labels must be 0, 1, ..., got {out.min()}")
        return out.astype(np.int64), False
    if out.min() < 0.0 or out.max() > 1.0:
        raise ValueError(
            "plot_decision_boundary: predict returned non-integer values outside [0, 1] "
            f"(range {out.min():.3g} to {out.max():.3g}); return class labels, class "
            "probabilities, or the probability of class 1"
        )
    return out, True


def plot_decision_boundary(
    predict: Callable[[np.ndarray], np.ndarray],
    X: np.ndarray,
    y: np.ndarray,
    ax: Axes | None = None,
    resolution: int = 200,
    title: str | None = None,
) -> Axes:
    """Colour the plane by a classifier's prediction and scatter the data on top.

    ``predict`` takes an ``(m, 2)`` array of points and returns one of:
    class labels ``(m,)`` (integers), class probabilities ``(m, k)``, or the
    probability of class 1 ``(m,)`` (floats in [0, 1]; drawn as a shaded map with
    the 0.5 contour). ``X`` is ``(n, 2)`` and ``y`` its ``n`` labels. The grid covers
    the data with a margin, ``resolution`` points per side.

    >>> import numpy as np
    >>> X = np.array([[0.0, 0.0], [1.0, 1.0]]); y = np.array([0, 1])
    >>> ax = plot_decision_boundary(lambda P: (P.sum(axis=1) > 1).astype(int), X, y)
    >>> ax.get_xlabel()
    '$x_1$'
    """
    ListedColormap = require("matplotlib.colors", "nnkit.plot").ListedColormap

    X = np.asarray(X, dtype=float)
    y = np.asarray(y)
    if X.ndim != 2 or X.shape[1] != 2:
        raise ValueError(f"plot_decision_boundary: X must have shape (n, 2), got {X.shape}")
    if y.shape != (X.shape[0],):
        raise ValueError(f"plot_decision_boundary: y must have shape ({X.shape[0]},), got {y.shape}")
    if y.size and np.min(y) < 0:
        raise ValueError(f"plot_decision_boundary: class labels y must be 0, 1, ..., got {np.min(y)}")
    if resolution < 2:
        raise ValueError(f"plot_decision_boundary: resolution must be >= 2, got {resolution}")
    ax = _new_axes(ax)

    lo, hi = X.min(axis=0), X.max(axis=0)
    margin = np.maximum(0.1 * (hi - lo), 0.5)
    xs = np.linspace(lo[0] - margin[0], hi[0] + margin[0], resolution)
    ys = np.linspace(lo[1] - margin[1], hi[1] + margin[1], resolution)
    gx, gy = np.meshgrid(xs, ys)
    grid = np.column_stack([gx.ravel(), gy.ravel()])
    values, is_probability = _grid_outputs(np.asarray(predict(grid)), grid.shape[0])
    Z = values.reshape(gx.shape)

    if is_probability:
        cmap = "RdBu_r"
        filled = ax.contourf(gx, gy, Z, levels=np.linspace(0.0, 1.0, 11), cmap=cmap, alpha=0.6)
        if Z.min() < 0.5 < Z.max():  # a boundary exists on this grid
            ax.contour(gx, gy, Z, levels=[0.5], colors="k", linewidths=1.0)
        ax.figure.colorbar(filled, ax=ax, label="P(class 1)")
        points = ax.scatter(X[:, 0], X[:, 1], c=y, cmap=cmap, vmin=0, vmax=1,
                            edgecolors="k", s=20)
    else:
        k = int(max(y.max(initial=0), Z.max(initial=0))) + 1
        cmap = ListedColormap([_CLASS_COLORS[i % len(_CLASS_COLORS)] for i in range(max(k, 2))])
        ax.contourf(gx, gy, Z, levels=np.arange(k + 1) - 0.5, cmap=cmap,
                    vmin=-0.5, vmax=cmap.N - 0.5, alpha=0.3)
        points = ax.scatter(X[:, 0], X[:, 1], c=y, cmap=cmap, vmin=-0.5, vmax=cmap.N - 0.5,
                            edgecolors="k", s=20)
    ax.legend(*points.legend_elements(), title="class", loc="best", fontsize="small")
    ax.set_xlim(xs[0], xs[-1])
    ax.set_ylim(ys[0], ys[-1])
    ax.set_xlabel("$x_1$")
    ax.set_ylabel("$x_2$")
    if title is not None:
        ax.set_title(title)
    return ax


def plot_loss_curves(
    history: Mapping[str, Sequence[float]],
    ax: Axes | None = None,
    logy: bool = False,
    title: str | None = None,
    xlabel: str = "epoch",
) -> Axes:
    """Plot one curve per entry of ``history`` (name -> list of numbers).

    Values are plotted against 1, 2, 3, ...; ``logy=True`` uses a log scale for the
    loss, which shows late progress that a linear scale flattens.

    >>> ax = plot_loss_curves({"train": [0.9, 0.4, 0.2]}, logy=True)
    >>> ax.get_yscale()
    'log'
    """
    if not history:
        raise ValueError("plot_loss_curves: history is empty; pass e.g. {'train': [...]}")
    ax = _new_axes(ax)
    for name, values in history.items():
        values = np.asarray(values, dtype=float)
        ax.plot(np.arange(1, len(values) + 1), values, label=str(name))
    if logy:
        ax.set_yscale("log")
    ax.set_xlabel(xlabel)
    ax.set_ylabel("loss")
    if title is not None:
        ax.set_title(title)
    ax.legend()
    return ax


def _as_display_images(images: np.ndarray) -> np.ndarray:
    """(n, h, w), (n, 1, h, w) or (n, 3, h, w) -> (n, h, w) or (n, h, w, 3)."""
    if images.ndim == 3:
        return images
    if images.ndim == 4 and images.shape[1] == 1:
        return images[:, 0]
    if images.ndim == 4 and images.shape[1] == 3:
        rgb = images.transpose(0, 2, 3, 1).astype(float)
        lo, hi = rgb.min(), rgb.max()
        if lo < 0.0 or hi > 1.0:
            # imshow clips RGB floats to [0, 1]; rescale instead so nothing is lost.
            rgb = (rgb - lo) / (hi - lo) if hi > lo else np.zeros_like(rgb)
        return rgb
    raise ValueError(
        f"image_grid: images must have shape (n, h, w), (n, 1, h, w) or (n, 3, h, w), got {images.shape}"
    )


def image_grid(
    images: np.ndarray,
    labels: Sequence | None = None,
    ncols: int = 8,
    cmap: str = "gray",
    title: str | None = None,
) -> Figure:
    """Show ``n`` images in a grid, ``ncols`` per row, each titled by its label.

    ``images`` is ``(n, h, w)``, ``(n, 1, h, w)`` or ``(n, 3, h, w)`` (channels first,
    as in PyTorch). Grey images share one colour scale, so brightness compares
    across the grid. Returns the ``Figure``.

    >>> import numpy as np
    >>> fig = image_grid(np.zeros((3, 8, 8)), labels=[0, 1, 2])
    >>> [ax.get_title() for ax in fig.axes[:3]]
    ['0', '1', '2']
    """
    plt = require("matplotlib.pyplot", "nnkit.plot")

    shown = _as_display_images(np.asarray(images))
    n = shown.shape[0]
    if n == 0:
        raise ValueError("image_grid: no images to show")
    if labels is not None and len(labels) != n:
        raise ValueError(f"image_grid: {len(labels)} labels for {n} images")
    if ncols < 1:
        raise ValueError(f"image_grid: ncols must be >= 1, got {ncols}")
    ncols = min(ncols, n)
    nrows = math.ceil(n / ncols)
    fig, axes = plt.subplots(nrows, ncols, figsize=(1.2 * ncols, 1.3 * nrows + (0.4 if title else 0.0)),
                             squeeze=False)
    vmin, vmax = (float(shown.min()), float(shown.max())) if shown.ndim == 3 else (None, None)
    for i, ax in enumerate(axes.ravel()):
        ax.set_axis_off()
        if i >= n:
            continue
        ax.imshow(shown[i], cmap=cmap, vmin=vmin, vmax=vmax)
        if labels is not None:
            ax.set_title(str(labels[i]), fontsize="small")
    if title is not None:
        fig.suptitle(title)
    fig.tight_layout()
    return fig


def plot_loss_surface(
    f: Callable[[np.ndarray, np.ndarray], np.ndarray],
    xlim: tuple[float, float] = (-2, 2),
    ylim: tuple[float, float] = (-2, 2),
    paths: Mapping[str, np.ndarray] | None = None,
    levels: int = 30,
    ax: Axes | None = None,
    log_levels: bool = False,
    title: str | None = None,
) -> Axes:
    """Contour plot of a loss over two parameters, with optimisation paths on top.

    ``f(X, Y)`` is vectorised: it maps two arrays of the same shape to the loss at
    each point. ``paths`` maps a label to a ``(k, 2)`` array of visited points,
    drawn as a line with markers (the last point larger). ``log_levels=True``
    spaces the contour levels geometrically, for losses spanning many decades
    (the loss must then be positive somewhere; values at or below zero are drawn
    in the lowest level).

    >>> ax = plot_loss_surface(lambda X, Y: X**2 + 3 * Y**2,
    ...                        paths={"gd": [[1.5, 1.5], [0.9, 0.3], [0.5, 0.1]]})
    >>> ax.get_xlabel()
    '$w_1$'
    """
    require("matplotlib", "nnkit.plot")
    from matplotlib.colors import LogNorm
    from matplotlib.patheffects import withStroke
    from matplotlib.ticker import LogLocator

    ax = _new_axes(ax)
    gx, gy = np.meshgrid(np.linspace(*xlim, 200), np.linspace(*ylim, 200))
    Z = np.asarray(f(gx, gy), dtype=float)
    if Z.shape != gx.shape:
        raise ValueError(
            f"plot_loss_surface: f(X, Y) must return an array of shape {gx.shape} "
            f"like its inputs, got {Z.shape}; write f with NumPy operations so it is vectorised"
        )
    if log_levels:
        positive = Z[Z > 0]
        if positive.size == 0:
            raise ValueError("plot_loss_surface: log_levels needs f > 0 somewhere on the grid")
        floor = positive.min()
        Z = np.maximum(Z, floor)
        lv = np.geomspace(floor, Z.max(), levels)
        filled = ax.contourf(gx, gy, Z, levels=lv, norm=LogNorm(), cmap="viridis")
        ax.contour(gx, gy, Z, levels=lv, norm=LogNorm(), colors="w", linewidths=0.3, alpha=0.5)
    else:
        filled = ax.contourf(gx, gy, Z, levels=levels, cmap="viridis")
        ax.contour(gx, gy, Z, levels=levels, colors="w", linewidths=0.3, alpha=0.5)
    # Contour levels make poor log-scale ticks; ask for decades instead.
    ax.figure.colorbar(filled, ax=ax, label="loss", ticks=LogLocator() if log_levels else None)
    for label, points in (paths or {}).items():
        points = np.asarray(points, dtype=float)
        if points.ndim != 2 or points.shape[1] != 2:
            raise ValueError(f"plot_loss_surface: path {label!r} must have shape (k, 2), got {points.shape}")
        # A white outline keeps the path visible over dark and light contours alike.
        (line,) = ax.plot(points[:, 0], points[:, 1], "o-", markersize=3, linewidth=1.5, label=str(label),
                          path_effects=[withStroke(linewidth=3, foreground="w")])
        ax.plot(points[-1, 0], points[-1, 1], "o", markersize=8, color=line.get_color())
    if paths:
        ax.legend()
    ax.set_xlim(*xlim)
    ax.set_ylim(*ylim)
    ax.set_xlabel("$w_1$")
    ax.set_ylabel("$w_2$")
    if title is not None:
        ax.set_title(title)
    return ax
