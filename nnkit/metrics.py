"""Classification metrics: accuracy, precision, recall, F1, the confusion matrix and a report.

Every function takes predictions and targets as tensors, NumPy arrays or
lists. Predictions are class labels with the target's shape, or scores
(logits or probabilities) with one more, last, dim of classes; scores are
turned into labels by ``argmax`` over that dim. Targets are class labels
``0 .. C-1``. Results are Python floats (NumPy arrays per class), computed
from the confusion matrix with scikit-learn's definitions.

>>> import nnkit
>>> logits = nnkit.tensor([[2.0, 0.1], [0.3, 1.2], [0.9, 0.2]])
>>> accuracy(logits, nnkit.tensor([0, 1, 1]))
0.6666666666666666
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any, Sequence

import numpy as np

from . import backend
from .extras import require
from .tensor import Tensor

if TYPE_CHECKING:
    from matplotlib.axes import Axes

__all__ = ["accuracy", "precision", "recall", "f1_score", "confusion_matrix", "classification_report",
           "plot_confusion_matrix"]


def _host(name: str, values: Any) -> np.ndarray:
    if isinstance(values, Tensor):
        return backend.to_module(values.array, np)
    array = np.asarray(values)
    if array.dtype.kind not in "biuf":
        raise TypeError(f"{name}: expected numbers, got an array of dtype {array.dtype}")
    return array


def _as_labels(name: str, what: str, values: np.ndarray) -> np.ndarray:
    if values.dtype.kind == "f":
        if not np.all(values == np.round(values)):
            raise ValueError(f"{name}: {what} must be class labels (whole numbers); got fractional values. "
                             "Pass scores with a class dimension (N, C), or threshold a single binary "
                             "output first: (logits > 0) or (probabilities > 0.5)")
    labels = values.astype(np.int64)
    if labels.size and labels.min() < 0:
        raise ValueError(f"{name}: {what} must be non-negative class labels, found {labels.min()}")
    return labels


def _labels(name: str, input: Any, target: Any) -> tuple[np.ndarray, np.ndarray]:
    """Predicted and true labels as flat int64 arrays of equal length."""
    pred, true = _host(name, input), _host(name, target)
    if pred.ndim == true.ndim + 1:
        if pred.shape[:-1] != true.shape:
            raise ValueError(f"{name}: scores of shape {pred.shape} do not fit targets of shape {true.shape}; "
                             "expected (..., C) scores for (...) targets")
        if pred.shape[-1] == 1:
            raise ValueError(f"{name}: scores of shape {pred.shape} have a single class column, so argmax is "
                             "always 0; threshold a binary output instead: (logits > 0) or (probabilities > 0.5)")
        pred = pred.argmax(-1)
    elif pred.shape != true.shape:
        raise ValueError(f"{name}: predictions of shape {pred.shape} do not fit targets of shape {true.shape}; "
                         "expected labels of the same shape, or scores with one more (class) dim")
    if true.size == 0:
        raise ValueError(f"{name}: no samples")
    return _as_labels(name, "predictions", pred).ravel(), _as_labels(name, "targets", true).ravel()


def accuracy(input: Any, target: Any) -> float:
    """The fraction of predictions equal to the target: ``mean(pred == target)``."""
    pred, true = _labels("accuracy", input, target)
    return float(np.mean(pred == true))


def confusion_matrix(input: Any, target: Any, num_classes: int | None = None) -> np.ndarray:
    """Counts ``cm[i, j]`` of samples of true class ``i`` predicted as ``j`` (scikit-learn's layout).

    ``num_classes`` defaults to the largest label + 1. The diagonal holds the
    correct predictions; row ``i`` sums to the number of samples of class ``i``.

    >>> confusion_matrix([0, 1, 1, 2], [0, 1, 2, 2]).tolist()
    [[1, 0, 0], [0, 1, 0], [0, 1, 1]]
    """
    pred, true = _labels("confusion_matrix", input, target)
    largest = int(max(pred.max(), true.max()))
    if num_classes is None:
        num_classes = largest + 1
    elif largest >= num_classes:
        raise ValueError(f"confusion_matrix: found label {largest}, but num_classes={num_classes}")
    counts = np.bincount(true * num_classes + pred, minlength=num_classes * num_classes)
    return counts.reshape(num_classes, num_classes)


def _divide(num: np.ndarray, den: np.ndarray, zero_division: float) -> np.ndarray:
    return np.where(den > 0, num / np.where(den > 0, den, 1), zero_division).astype(np.float64)


_AVERAGES = ("macro", "micro", "weighted", "binary", None)


def _score(name: str, input: Any, target: Any, average: str | None, num_classes: int | None,
           zero_division: float) -> float | np.ndarray:
    """Precision, recall or F1 per class from the confusion matrix, then averaged."""
    if average not in _AVERAGES:
        raise ValueError(f"{name}: average must be one of {_AVERAGES}, got {average!r}")
    cm = confusion_matrix(input, target, num_classes)
    tp = np.diag(cm)
    predicted, actual = cm.sum(0), cm.sum(1)

    def score(tp, predicted, actual):
        if name == "precision":
            return _divide(tp, predicted, zero_division)
        if name == "recall":
            return _divide(tp, actual, zero_division)
        return _divide(2 * tp, predicted + actual, zero_division)  # F1 = 2 tp / (2 tp + fp + fn)

    if average == "micro":
        return float(score(tp.sum(), predicted.sum(), actual.sum()))
    per_class = score(tp, predicted, actual)
    if average is None:
        return per_class
    if average == "binary":
        if len(cm) > 2:
            raise ValueError(f"{name}: average='binary' needs two classes, found {len(cm)}; "
                             "choose 'macro', 'micro', 'weighted' or None")
        return float(per_class[1]) if len(cm) == 2 else float(zero_division)
    if average == "weighted":
        return float(np.sum(per_class * actual) / actual.sum())
    return float(per_class.mean())


_SCORE_DOC = """{what}, per class or averaged.

    For class ``c``: {formula}, with ``tp``, ``fp``, ``fn`` its true
    positives, false positives and false negatives; ``zero_division`` where
    the denominator is 0. ``average``: ``'macro'`` (the plain mean over
    classes), ``'weighted'`` (weighted by each class's number of true
    samples), ``'micro'`` (from the counts summed over classes; for
    single-label multiclass data it equals accuracy), ``'binary'`` (class 1
    of two) or ``None`` (the array of per-class values). Classes are
    ``0 .. num_classes - 1``, ``num_classes`` defaulting to the largest
    label + 1, as scikit-learn with ``labels=range(num_classes)``.
    """


def precision(input: Any, target: Any, average: str | None = "macro", num_classes: int | None = None,
              zero_division: float = 0.0) -> float | np.ndarray:
    return _score("precision", input, target, average, num_classes, zero_division)


def recall(input: Any, target: Any, average: str | None = "macro", num_classes: int | None = None,
           zero_division: float = 0.0) -> float | np.ndarray:
    return _score("recall", input, target, average, num_classes, zero_division)


def f1_score(input: Any, target: Any, average: str | None = "macro", num_classes: int | None = None,
             zero_division: float = 0.0) -> float | np.ndarray:
    return _score("f1_score", input, target, average, num_classes, zero_division)


precision.__doc__ = _SCORE_DOC.format(what="Precision: of the samples predicted as a class, the fraction "
                                           "that belong to it", formula="``tp / (tp + fp)``")
recall.__doc__ = _SCORE_DOC.format(what="Recall: of the samples of a class, the fraction predicted as it",
                                   formula="``tp / (tp + fn)``")
f1_score.__doc__ = _SCORE_DOC.format(what="F1: the harmonic mean of precision and recall",
                                     formula="``2 tp / (2 tp + fp + fn)``")


def classification_report(input: Any, target: Any, num_classes: int | None = None,
                          target_names: Sequence[str] | None = None, digits: int = 2) -> str:
    """A text table of precision, recall, F1 and support per class, then accuracy and the averages.

    The layout is scikit-learn's ``classification_report``.
    """
    cm = confusion_matrix(input, target, num_classes)
    names = [str(c) for c in range(len(cm))] if target_names is None else [str(n) for n in target_names]
    if len(names) != len(cm):
        raise ValueError(f"classification_report: {len(names)} target_names for {len(cm)} classes")
    columns = [f(input, target, average=None, num_classes=len(cm)) for f in (precision, recall, f1_score)]
    support = cm.sum(1)
    width = max(max(len(n) for n in names), len("weighted avg"), digits)
    report = f"{'':>{width}s} " + "".join(f" {h:>9}" for h in ("precision", "recall", "f1-score", "support"))
    report += "\n\n"
    row = "{:>{width}s} " + " {:>9.{digits}f}" * 3 + " {:>9}\n"
    for i, name in enumerate(names):
        report += row.format(name, *(c[i] for c in columns), support[i], width=width, digits=digits)
    total = int(support.sum())
    report += "\n" + f"{'accuracy':>{width}s} " + f" {'':>9}" * 2 + f" {np.trace(cm) / total:>9.{digits}f}" \
        + f" {total:>9}\n"
    weights = support / total
    report += row.format("macro avg", *(c.mean() for c in columns), total, width=width, digits=digits)
    report += row.format("weighted avg", *(np.sum(c * weights) for c in columns), total, width=width,
                         digits=digits)
    return report


def plot_confusion_matrix(cm: Any, class_names: Sequence[str] | None = None, normalize: bool = False,
                          ax: Axes | None = None, cmap: str = "Blues") -> Axes:
    """Draw a confusion matrix (true class down, predicted class across) with each cell's value.

    ``normalize=True`` divides each row by its sum, so a cell reads "the
    fraction of class ``i`` predicted as ``j``" and the diagonal is each class's
    recall. Returns the matplotlib ``Axes``.
    """
    plt = require("matplotlib.pyplot", "nnkit.metrics.plot_confusion_matrix")

    cm = _host("plot_confusion_matrix", cm).astype(np.float64)
    if cm.ndim != 2 or cm.shape[0] != cm.shape[1]:
        raise ValueError(f"plot_confusion_matrix: expected a square matrix, got shape {cm.shape}")
    names = [str(c) for c in range(len(cm))] if class_names is None else list(class_names)
    if len(names) != len(cm):
        raise ValueError(f"plot_confusion_matrix: {len(names)} class_names for a {len(cm)}x{len(cm)} matrix")
    if normalize:
        rows = cm.sum(1, keepdims=True)
        cm = np.divide(cm, rows, out=np.zeros_like(cm), where=rows > 0)
    if ax is None:
        _, ax = plt.subplots(figsize=(1.0 + 0.6 * len(cm), 0.6 + 0.6 * len(cm)))
    image = ax.imshow(cm, cmap=cmap, vmin=0)
    ax.figure.colorbar(image, ax=ax)
    ticks = np.arange(len(cm))
    ax.set_xticks(ticks, names, rotation=45, ha="right")
    ax.set_yticks(ticks, names)
    ax.set_xlabel("predicted label")
    ax.set_ylabel("true label")
    threshold = cm.max() / 2
    for i in range(len(cm)):
        for j in range(len(cm)):
            text = f"{cm[i, j]:.2f}" if normalize else f"{int(cm[i, j])}"
            ax.text(j, i, text, ha="center", va="center", color="white" if cm[i, j] > threshold else "black")
    return ax
