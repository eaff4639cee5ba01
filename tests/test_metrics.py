"""nnkit.metrics: hand-computed values, and scikit-learn's metrics on random data as the reference."""

import doctest

import matplotlib

matplotlib.use("Agg")

import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402
import pytest  # noqa: E402
import sklearn.metrics as skm  # noqa: E402

import nnkit  # noqa: E402
import nnkit.metrics  # noqa: E402
from nnkit.metrics import (accuracy, classification_report, confusion_matrix, f1_score,  # noqa: E402
                           plot_confusion_matrix, precision, recall)

OURS_AND_SKLEARNS = [(precision, skm.precision_score), (recall, skm.recall_score), (f1_score, skm.f1_score)]


@pytest.fixture(autouse=True)
def close_figures():
    yield
    plt.close("all")


def random_labels(rng, n=300, classes=6):
    """Targets and noisy predictions, with one class never predicted (so some scores divide by zero)."""
    target = rng.integers(0, classes, n)
    pred = np.where(rng.random(n) < 0.5, target, rng.integers(0, classes, n))
    pred[pred == 2] = 3
    return pred, target


def test_accuracy_of_labels_and_of_logits():
    assert accuracy([0, 1, 2, 2], [0, 1, 1, 2]) == 0.75
    logits = nnkit.tensor([[2.0, 0.1, 0.0], [0.3, 1.2, 0.0], [0.9, 0.2, 3.0], [5.0, 0.0, 0.0]])
    assert accuracy(logits, nnkit.tensor([0, 1, 1, 0])) == 0.75
    assert accuracy(np.zeros((2, 3, 4)), np.zeros((2, 3))) == 1.0  # scores (..., C) for targets (...)
    assert accuracy(nnkit.tensor([True, False]), nnkit.tensor([1.0, 1.0])) == 0.5  # thresholded binary output


def test_labels_must_be_labels():
    with pytest.raises(ValueError, match="single class column"):
        accuracy(nnkit.zeros(4, 1), nnkit.zeros(4))
    with pytest.raises(ValueError, match="fractional"):
        accuracy(nnkit.tensor([0.2, 0.9]), nnkit.tensor([0, 1]))
    with pytest.raises(ValueError, match=r"shape \(3,\) do not fit targets of shape \(4,\)"):
        accuracy([0, 1, 1], [0, 1, 1, 0])
    with pytest.raises(ValueError, match=r"scores of shape \(4, 3\) do not fit targets of shape \(5,\)"):
        accuracy(np.zeros((4, 3)), np.zeros(5))
    with pytest.raises(ValueError, match="non-negative"):
        accuracy([0, -1], [0, 1])
    with pytest.raises(ValueError, match="no samples"):
        accuracy([], [])


def test_confusion_matrix_rows_are_true_classes_as_in_sklearn(rng):
    pred, target = random_labels(rng)
    cm = confusion_matrix(nnkit.tensor(pred), nnkit.tensor(target))
    np.testing.assert_array_equal(cm, skm.confusion_matrix(target, pred))
    assert confusion_matrix([0, 1], [1, 1]).tolist() == [[0, 0], [1, 1]]
    assert confusion_matrix([0], [0], num_classes=3).shape == (3, 3)
    with pytest.raises(ValueError, match="found label 3, but num_classes=3"):
        confusion_matrix([3], [0], num_classes=3)


@pytest.mark.parametrize("average", ["macro", "micro", "weighted", None])
@pytest.mark.parametrize("zero_division", [0.0, 1.0])
def test_precision_recall_f1_match_sklearn(rng, average, zero_division):
    pred, target = random_labels(rng)
    for ours, theirs in OURS_AND_SKLEARNS:
        expected = theirs(target, pred, average=average, labels=range(6), zero_division=zero_division)
        np.testing.assert_allclose(ours(pred, target, average=average, zero_division=zero_division), expected,
                                   rtol=1e-12)


def test_scores_accept_logits_and_a_larger_num_classes(rng):
    target = rng.integers(0, 4, 100)
    logits = rng.standard_normal((100, 4))
    pred = logits.argmax(1)
    for ours, theirs in OURS_AND_SKLEARNS:
        np.testing.assert_allclose(ours(nnkit.tensor(logits), nnkit.tensor(target), average=None, num_classes=6),
                                   theirs(target, pred, average=None, labels=range(6), zero_division=0))


def test_binary_average_scores_class_one(rng):
    target = rng.integers(0, 2, 200)
    pred = np.where(rng.random(200) < 0.7, target, 1 - target)
    for ours, theirs in OURS_AND_SKLEARNS:
        assert ours(pred, target, average="binary") == pytest.approx(theirs(target, pred))
    with pytest.raises(ValueError, match="needs two classes"):
        precision([0, 1, 2], [0, 1, 2], average="binary")
    with pytest.raises(ValueError, match="average must be one of"):
        recall([0, 1], [0, 1], average="samples")


def test_hand_computed_scores():
    pred, target = [0, 0, 1, 1, 1], [0, 1, 1, 1, 0]
    # class 0: tp 1, fp 1, fn 1; class 1: tp 2, fp 1, fn 1
    assert precision(pred, target, average=None).tolist() == [0.5, 2 / 3]
    assert recall(pred, target, average=None).tolist() == [0.5, 2 / 3]
    assert f1_score(pred, target, average="macro") == pytest.approx((0.5 + 2 / 3) / 2)
    assert f1_score(pred, target, average="micro") == pytest.approx(0.6)  # = accuracy
    assert precision([1, 1], [1, 1], average=None, num_classes=2, zero_division=1.0).tolist() == [1.0, 1.0]


@pytest.mark.parametrize("digits, names", [(2, None), (3, ["zero", "one", "two", "three", "four", "a long name"])])
def test_classification_report_is_sklearns_table(rng, digits, names):
    pred, target = random_labels(rng)
    expected = skm.classification_report(target, pred, labels=range(6), target_names=names, digits=digits,
                                         zero_division=0)
    assert classification_report(pred, target, target_names=names, digits=digits) == expected
    with pytest.raises(ValueError, match="2 target_names for 6 classes"):
        classification_report(pred, target, target_names=["a", "b"])


def test_plot_confusion_matrix_labels_cells_and_normalises_rows():
    cm = np.array([[3, 1], [0, 4]])
    ax = plot_confusion_matrix(cm, class_names=["cat", "dog"])
    assert ax.get_xlabel() == "predicted label" and ax.get_ylabel() == "true label"
    assert [t.get_text() for t in ax.texts] == ["3", "1", "0", "4"]
    assert [t.get_text() for t in ax.get_yticklabels()] == ["cat", "dog"]
    ax = plot_confusion_matrix(nnkit.tensor(cm), normalize=True)
    assert [t.get_text() for t in ax.texts] == ["0.75", "0.25", "0.00", "1.00"]
    np.testing.assert_allclose(ax.images[0].get_array().sum(1), [1.0, 1.0])
    with pytest.raises(ValueError, match="square"):
        plot_confusion_matrix(np.zeros((2, 3)))


def test_the_docstring_examples_run():
    result = doctest.testmod(nnkit.metrics, verbose=False)
    assert result.attempted > 0 and result.failed == 0
