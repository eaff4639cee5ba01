"""Synthetic data sets and scikit-learn's bundled digits (introduced in chapter 02).

Everything here is NumPy in, NumPy out, and deterministic given ``seed``: the same
call gives the same arrays on every machine. Features are ``float32`` and labels
``int64``, the dtypes a PyTorch-style model expects. The two-dimensional sets come
shuffled, so any slice of them holds every class.

>>> X, y = make_moons(n_samples=100, noise=0.1, seed=0)
>>> X.shape, X.dtype, y.shape, y.dtype
((100, 2), dtype('float32'), (100,), dtype('int64'))
"""

from __future__ import annotations

import math
import numbers

import numpy as np

from ..extras import require

__all__ = [
    "make_moons",
    "make_circles",
    "make_spirals",
    "make_xor",
    "make_sine_waves",
    "load_digits",
    "train_test_split",
]


def _check_int(name: str, value: object, minimum: int) -> None:
    if isinstance(value, bool) or not isinstance(value, numbers.Integral) or value < minimum:
        raise ValueError(f"{name} must be an integer >= {minimum}, got {value!r}")


def _check_noise(noise: object) -> None:
    if isinstance(noise, bool) or not isinstance(noise, numbers.Real) or not noise >= 0 or math.isinf(noise):
        raise ValueError(f"noise must be a finite number >= 0, got {noise!r}")


def _split_evenly(n: int, parts: int) -> np.ndarray:
    """Sizes of ``parts`` groups of ``n`` items that differ by at most one."""
    return np.array([n // parts + (i < n % parts) for i in range(parts)])


def _finish(rng: np.random.Generator, X: np.ndarray, y: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Shuffle the rows (the generators build the data class by class) and set dtypes."""
    order = rng.permutation(len(y))
    return X[order].astype(np.float32), y[order].astype(np.int64)


def make_moons(n_samples: int = 200, noise: float = 0.1, seed: int = 0) -> tuple[np.ndarray, np.ndarray]:
    """Two interleaving half circles: class 0 on top, class 1 below and shifted.

    Points lie evenly along each arc, with Gaussian noise of standard deviation
    ``noise`` added to both coordinates. Returns ``X`` ``(n, 2)`` float32 and ``y``
    ``(n,)`` int64 with ``n // 2`` or ``n - n // 2`` points per class.

    >>> X, y = make_moons(6, noise=0.0)
    >>> sorted(y.tolist())
    [0, 0, 0, 1, 1, 1]
    """
    _check_int("n_samples", n_samples, 1)
    _check_noise(noise)
    rng = np.random.default_rng(seed)
    n0, n1 = _split_evenly(n_samples, 2)
    t0, t1 = np.linspace(0, np.pi, n0), np.linspace(0, np.pi, n1)
    X = np.concatenate([
        np.column_stack([np.cos(t0), np.sin(t0)]),
        np.column_stack([1 - np.cos(t1), 0.5 - np.sin(t1)]),
    ])
    y = np.repeat([0, 1], [n0, n1])
    X = X + noise * rng.standard_normal(X.shape)
    return _finish(rng, X, y)


def make_circles(
    n_samples: int = 200, noise: float = 0.05, factor: float = 0.5, seed: int = 0
) -> tuple[np.ndarray, np.ndarray]:
    """Two concentric circles: class 0 of radius 1, class 1 of radius ``factor``.

    ``factor`` must lie in (0, 1). Gaussian noise of standard deviation ``noise`` is
    added to both coordinates.

    >>> X, y = make_circles(8, noise=0.0, factor=0.5)
    >>> sorted(np.round(np.hypot(X[:, 0], X[:, 1]), 3).tolist())
    [0.5, 0.5, 0.5, 0.5, 1.0, 1.0, 1.0, 1.0]
    """
    _check_int("n_samples", n_samples, 1)
    _check_noise(noise)
    if not 0 < factor < 1:
        raise ValueError(f"factor must lie in (0, 1), got {factor!r}")
    rng = np.random.default_rng(seed)
    n0, n1 = _split_evenly(n_samples, 2)
    t0 = np.linspace(0, 2 * np.pi, n0, endpoint=False)
    t1 = np.linspace(0, 2 * np.pi, n1, endpoint=False)
    X = np.concatenate([
        np.column_stack([np.cos(t0), np.sin(t0)]),
        factor * np.column_stack([np.cos(t1), np.sin(t1)]),
    ])
    y = np.repeat([0, 1], [n0, n1])
    X = X + noise * rng.standard_normal(X.shape)
    return _finish(rng, X, y)


def make_spirals(
    n_samples: int = 300, n_classes: int = 3, noise: float = 0.2, seed: int = 0
) -> tuple[np.ndarray, np.ndarray]:
    """``n_classes`` interleaved spiral arms, one class per arm.

    Arm ``k`` winds from radius 0.1 out to radius 1 through 4 radians,
    starting at angle ``2 pi k / n_classes``. ``noise`` is the standard deviation of
    a Gaussian jitter of the angle (in radians), as in the CS231n spiral data.
    Classes get equal shares of ``n_samples`` (up to one point).

    >>> X, y = make_spirals(300, n_classes=3)
    >>> np.bincount(y).tolist()
    [100, 100, 100]
    """
    _check_int("n_samples", n_samples, 1)
    _check_int("n_classes", n_classes, 2)
    _check_noise(noise)
    rng = np.random.default_rng(seed)
    counts = _split_evenly(n_samples, n_classes)
    radius = np.concatenate([np.linspace(0.1, 1.0, c) for c in counts])
    y = np.repeat(np.arange(n_classes), counts)
    angle = 2 * np.pi * y / n_classes + 4.0 * radius + noise * rng.standard_normal(n_samples)
    X = radius[:, None] * np.column_stack([np.cos(angle), np.sin(angle)])
    return _finish(rng, X, y)


def make_xor(n_samples: int = 200, noise: float = 0.1, seed: int = 0) -> tuple[np.ndarray, np.ndarray]:
    """Points around the four corners (+-1, +-1) of a square, labelled by XOR.

    Each corner gets an equal share of the points (up to one), with Gaussian noise
    of standard deviation ``noise`` on both coordinates. The label of a point is 1
    where exactly one of its coordinates is positive: ``y = (x1 > 0) xor (x2 > 0)``.
    No straight line separates the classes; the rule ``x1 * x2 < 0`` does.

    >>> X, y = make_xor(8, noise=0.0)
    >>> bool(np.all(y == (X[:, 0] * X[:, 1] < 0)))
    True
    """
    _check_int("n_samples", n_samples, 1)
    _check_noise(noise)
    rng = np.random.default_rng(seed)
    corners = np.array([[1.0, 1.0], [-1.0, 1.0], [-1.0, -1.0], [1.0, -1.0]])
    X = np.repeat(corners, _split_evenly(n_samples, 4), axis=0)
    X = X + noise * rng.standard_normal(X.shape)
    y = (X[:, 0] > 0) ^ (X[:, 1] > 0)
    return _finish(rng, X, y)


def make_sine_waves(n_series: int = 64, length: int = 100, noise: float = 0.1, seed: int = 0) -> np.ndarray:
    """``n_series`` noisy sine waves of ``length`` steps, for forecasting.

    Series ``i`` is ``sin(2 pi f_i t + phi_i) + noise * eps`` for ``t = 0 .. length-1``,
    with frequency ``f_i`` uniform in [0.02, 0.1] cycles per step (a period of 10 to
    50 steps), phase ``phi_i`` uniform in [0, 2 pi) and ``eps`` standard normal.
    Returns a float32 array ``(n_series, length)``.

    >>> make_sine_waves(4, 50).shape
    (4, 50)
    """
    _check_int("n_series", n_series, 1)
    _check_int("length", length, 1)
    _check_noise(noise)
    rng = np.random.default_rng(seed)
    freq = rng.uniform(0.02, 0.1, size=(n_series, 1))
    phase = rng.uniform(0.0, 2 * np.pi, size=(n_series, 1))
    t = np.arange(length)
    waves = np.sin(2 * np.pi * freq * t + phase) + noise * rng.standard_normal((n_series, length))
    return waves.astype(np.float32)


def load_digits(images: bool = False) -> tuple[np.ndarray, np.ndarray]:
    """scikit-learn's bundled handwritten digits: 1,797 grey 8x8 images of 0-9.

    The data ship inside scikit-learn, so nothing is downloaded. Pixels (0 to 16 in
    the original) are scaled to [0, 1]. Returns ``X`` float32 ``(1797, 64)``, or
    ``(1797, 8, 8)`` when ``images=True``, and ``y`` int64 ``(1797,)``.

    >>> X, y = load_digits()
    >>> X.shape, float(X.max()), int(y.max())
    ((1797, 64), 1.0, 9)
    """
    # The 1797 images ship inside scikit-learn: no download.
    digits = require("sklearn.datasets", "nnkit.data.load_digits").load_digits()
    X = (digits.data / 16.0).astype(np.float32)
    if images:
        X = X.reshape(-1, 8, 8)
    return X, digits.target.astype(np.int64)


def train_test_split(*arrays: np.ndarray, test_size: float = 0.25, seed: int = 0) -> list[np.ndarray]:
    """Split arrays into random train and test parts along axis 0, all alike.

    One permutation is shared by every array, so rows stay paired (``X[i]`` with
    ``y[i]``). The test part has ``ceil(test_size * n)`` rows, as in scikit-learn,
    and the result comes in scikit-learn's order:
    ``[a_train, a_test, b_train, b_test, ...]``.

    >>> X, y = np.arange(10).reshape(5, 2), np.arange(5)
    >>> X_train, X_test, y_train, y_test = train_test_split(X, y, test_size=0.4)
    >>> len(X_train), len(X_test), bool(np.all(X_test[:, 0] == 2 * y_test))
    (3, 2, True)
    """
    if not arrays:
        raise ValueError("train_test_split: pass at least one array")
    if isinstance(test_size, bool) or not isinstance(test_size, numbers.Real) or not 0 < test_size < 1:
        raise ValueError(f"train_test_split: test_size must be a fraction in (0, 1), got {test_size!r}")
    arrays = tuple(np.asarray(a) for a in arrays)
    lengths = [a.shape[0] if a.ndim else None for a in arrays]
    if len(set(lengths)) != 1 or lengths[0] is None:
        raise ValueError(f"train_test_split: arrays must have the same length along axis 0, got {lengths}")
    n = lengths[0]
    n_test = math.ceil(test_size * n)
    if n_test >= n:
        raise ValueError(
            f"train_test_split: test_size={test_size} of {n} samples leaves no training data"
        )
    order = np.random.default_rng(seed).permutation(n)
    test, train = order[:n_test], order[n_test:]
    return [part for a in arrays for part in (a[train], a[test])]
