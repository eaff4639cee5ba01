"""nnkit.nn losses: values against NumPy references written from PyTorch's definitions
(class weights, ignore_index, label smoothing, clamped logs), gradients against finite
differences, stability at extreme inputs, and the errors for bad labels and shapes."""

import numpy as np
import pytest

import nnkit
import nnkit.nn as nn
import nnkit.nn.functional as F
from nnkit.gradcheck import gradcheck


def t64(x, requires_grad=False):
    return nnkit.tensor(np.asarray(x, dtype=np.float64), requires_grad=requires_grad)


def log_softmax_np(x, axis=1):
    shifted = x - x.max(axis=axis, keepdims=True)
    return shifted - np.log(np.exp(shifted).sum(axis=axis, keepdims=True))


def cross_entropy_np(logits, target, weight=None, ignore_index=-100, reduction="mean", smoothing=0.0):
    """PyTorch's cross-entropy with class indices, one sample at a time, written out plainly.

    Class dim 1; loss_i = (1-ε) w[y_i] (-logp[i, y_i]) + (ε/C) Σ_c w_c (-logp[i, c]);
    'mean' divides the sum by Σ w[y_i] over the samples that are not ignored.
    """
    logp = np.moveaxis(log_softmax_np(logits, 1), 1, -1).reshape(-1, logits.shape[1])
    y = target.reshape(-1)
    n_classes = logp.shape[1]
    w = np.ones(n_classes) if weight is None else weight
    losses, divisor = [], 0.0
    for row, label in zip(logp, y):
        if label == ignore_index:
            losses.append(0.0)
            continue
        nll = -w[label] * row[label]
        smooth = -(w * row).sum() / n_classes
        losses.append((1 - smoothing) * nll + smoothing * smooth)
        divisor += w[label]
    losses = np.array(losses)
    if reduction == "none":
        return losses.reshape(target.shape)
    return losses.sum() / divisor if reduction == "mean" else losses.sum()


@pytest.fixture
def logits(rng):
    return rng.standard_normal((7, 4)) * 2


# --- regression losses ------------------------------------------------------------------

@pytest.mark.parametrize("reduction", ["mean", "sum", "none"])
def test_regression_losses_against_formulas(reduction, rng):
    x, y = rng.standard_normal((3, 5)) * 2, rng.standard_normal((3, 5))
    d = x - y
    reduce = {"mean": np.mean, "sum": np.sum, "none": lambda v: v}[reduction]
    cases = [(nn.MSELoss(reduction=reduction), d ** 2), (nn.L1Loss(reduction=reduction), np.abs(d)),
             (nn.SmoothL1Loss(reduction=reduction, beta=0.7), np.where(np.abs(d) < 0.7, 0.5 * d ** 2 / 0.7,
                                                             np.abs(d) - 0.35)),
             (nn.HuberLoss(reduction, delta=0.7), np.where(np.abs(d) < 0.7, 0.5 * d ** 2,
                                                           0.7 * (np.abs(d) - 0.35)))]
    for loss, elementwise in cases:
        np.testing.assert_allclose(loss(t64(x), t64(y)).numpy(), reduce(elementwise), rtol=1e-12)
        xt = t64(x, requires_grad=True)
        assert gradcheck(lambda a: loss(a, t64(y)), [xt]).ok


def test_reduction_is_checked_and_shape_mismatch_warns():
    with pytest.raises(ValueError, match="'average' is not a valid value for reduction"):
        nn.MSELoss(reduction="average")
    with pytest.raises(ValueError, match="'avg' is not a valid value"):
        F.l1_loss(nnkit.zeros(2), nnkit.zeros(2), reduction="avg")
    with pytest.warns(UserWarning, match=r"target size \(4,\) that is different to the input size \(4, 1\)"):
        F.mse_loss(nnkit.zeros(4, 1), nnkit.zeros(4))


# --- cross-entropy and NLL --------------------------------------------------------------

CE_CASES = [
    {},
    {"weight": np.array([0.2, 1.0, 3.0, 0.5])},
    {"ignore_index": 2},
    {"weight": np.array([0.2, 1.0, 3.0, 0.5]), "ignore_index": 1},
    {"smoothing": 0.2},
    {"smoothing": 0.3, "weight": np.array([0.2, 1.0, 3.0, 0.5]), "ignore_index": 0},
]


@pytest.mark.parametrize("reduction", ["mean", "sum", "none"])
@pytest.mark.parametrize("case", CE_CASES, ids=lambda c: "-".join(c) or "plain")
def test_cross_entropy_with_class_indices_against_reference(case, reduction, logits):
    target = np.array([0, 1, 2, 3, 2, 1, 0])
    expected = cross_entropy_np(logits, target, case.get("weight"), case.get("ignore_index", -100), reduction,
                                case.get("smoothing", 0.0))
    weight = None if "weight" not in case else t64(case["weight"])
    loss = nn.CrossEntropyLoss(weight, ignore_index=case.get("ignore_index", -100), reduction=reduction,
                               label_smoothing=case.get("smoothing", 0.0))
    np.testing.assert_allclose(loss(t64(logits), nnkit.tensor(target)).numpy(), expected, rtol=1e-12)
    x = t64(logits, requires_grad=True)
    assert gradcheck(lambda a: loss(a, nnkit.tensor(target)), [x]).ok


def test_cross_entropy_on_spatial_inputs_and_unbatched(rng):
    x = rng.standard_normal((2, 3, 4, 5))
    y = rng.integers(0, 3, (2, 4, 5))
    y[0, 0, 0] = -100
    weight = np.array([1.0, 2.0, 0.5])
    expected = cross_entropy_np(x, y, weight, smoothing=0.1)
    got = F.cross_entropy(t64(x), nnkit.tensor(y), weight=t64(weight), label_smoothing=0.1)
    np.testing.assert_allclose(got.numpy(), expected, rtol=1e-12)
    none = F.cross_entropy(t64(x), nnkit.tensor(y), reduction="none")
    assert none.shape == (2, 4, 5) and none.numpy()[0, 0, 0] == 0.0
    single = F.cross_entropy(t64(x[0, :, 1, 1]), nnkit.tensor(y[0, 1, 1]))
    assert single.shape == () and float(single) == pytest.approx(-log_softmax_np(x[0, :, 1, 1], 0)[y[0, 1, 1]])


def test_label_smoothing_formula_by_hand():
    # Uniform logits: every log-probability is -log C, so any smoothing gives log C.
    assert float(F.cross_entropy(nnkit.zeros(3, 5), nnkit.tensor([0, 1, 4]), label_smoothing=0.4)) == \
        pytest.approx(np.log(5), rel=1e-6)
    # One sample, logits (2, 0), label 0, ε = 0.1: (1 - ε/2)·(-log p0) + (ε/2)·(-log p1).
    lp = log_softmax_np(np.array([[2.0, 0.0]]))[0]
    expected = 0.95 * -lp[0] + 0.05 * -lp[1]
    assert float(F.cross_entropy(t64([[2.0, 0.0]]), nnkit.tensor([0]), label_smoothing=0.1)) == \
        pytest.approx(expected, rel=1e-12)


def test_cross_entropy_with_class_probabilities(logits, rng):
    probs = rng.dirichlet(np.ones(4), 7)
    weight = np.array([0.5, 1.0, 2.0, 1.5])
    smoothed = probs * 0.8 + 0.2 / 4
    per_sample = -(smoothed * weight * log_softmax_np(logits)).sum(1)
    got = F.cross_entropy(t64(logits), t64(probs), weight=t64(weight), label_smoothing=0.2)
    np.testing.assert_allclose(got.numpy(), per_sample.mean(), rtol=1e-12)  # the mean is over samples
    x, p = t64(logits, requires_grad=True), t64(probs, requires_grad=True)
    assert gradcheck(lambda a, b: F.cross_entropy(a, b, label_smoothing=0.1, reduction="none"), [x, p]).ok
    with pytest.raises(ValueError, match="ignore_index is not supported"):
        F.cross_entropy(t64(logits), t64(probs), ignore_index=1)


def test_nll_loss_equals_cross_entropy_of_log_softmax(logits):
    target = nnkit.tensor([0, 1, 2, 3, 2, 1, -100])
    weight = t64([0.2, 1.0, 3.0, 0.5])
    for reduction in ("mean", "sum", "none"):
        nll = nn.NLLLoss(weight, reduction=reduction)(t64(log_softmax_np(logits)), target)
        ce = F.cross_entropy(t64(logits), target, weight, reduction=reduction)
        np.testing.assert_allclose(nll.numpy(), ce.numpy(), rtol=1e-12)
    x = t64(log_softmax_np(logits), requires_grad=True)
    assert gradcheck(lambda a: F.nll_loss(a, target, weight), [x]).ok


def test_cross_entropy_is_stable_for_huge_logits():
    x = nnkit.tensor([[1000.0, -1000.0, 0.0]], requires_grad=True)
    loss = F.cross_entropy(x, nnkit.tensor([1]))
    loss.backward()
    assert float(loss) == pytest.approx(2000.0)
    np.testing.assert_allclose(x.grad.numpy(), [[1.0, -1.0, 0.0]], atol=1e-6)


def test_all_targets_ignored_gives_nan_like_pytorch():
    with np.errstate(invalid="ignore"):  # 0 / 0
        assert np.isnan(float(F.cross_entropy(nnkit.zeros(2, 3), nnkit.tensor([-100, -100]))))


def test_bad_labels_and_targets_are_named():
    with pytest.raises(IndexError, match=r"cross_entropy: target 5 is out of bounds for 3 classes"):
        F.cross_entropy(nnkit.zeros(2, 3), nnkit.tensor([0, 5]))
    with pytest.raises(IndexError, match=r"target -1 is out of bounds for 3 classes"):
        nn.CrossEntropyLoss()(nnkit.zeros(2, 3), nnkit.tensor([-1, 0]))
    with pytest.raises(IndexError, match=r"nll_loss: target 3 is out of bounds for 3 classes"):
        F.nll_loss(nnkit.zeros(2, 3), nnkit.tensor([3, 0]))
    with pytest.raises(TypeError, match="must be an integer tensor"):
        F.cross_entropy(nnkit.zeros(2, 3), nnkit.tensor([0.0, 1.0]))
    with pytest.raises(ValueError, match=r"expects a target of shape \(2,\)"):
        F.cross_entropy(nnkit.zeros(2, 3), nnkit.tensor([[0, 1]]))
    with pytest.raises(RuntimeError, match="weight of shape"):
        F.cross_entropy(nnkit.zeros(2, 3), nnkit.tensor([0, 1]), weight=nnkit.ones(4))
    with pytest.raises(ValueError, match="label_smoothing must be between"):
        F.cross_entropy(nnkit.zeros(2, 3), nnkit.tensor([0, 1]), label_smoothing=1.5)


def test_class_weights_are_a_buffer_in_the_state_dict():
    loss = nn.CrossEntropyLoss(weight=nnkit.tensor([1.0, 2.0]))
    assert list(loss.state_dict()) == ["weight"] and list(loss.parameters()) == []
    assert list(nn.CrossEntropyLoss().state_dict()) == []
    assert list(nn.BCEWithLogitsLoss(pos_weight=nnkit.ones(2)).state_dict()) == ["pos_weight"]
    assert repr(loss) == "CrossEntropyLoss()"


# --- binary cross-entropy -----------------------------------------------------------------

def test_bce_against_formula_with_weight_and_clamped_logs(rng):
    p = rng.uniform(0.05, 0.95, (4, 3))
    y = rng.integers(0, 2, (4, 3)).astype(np.float64)
    w = rng.uniform(0.5, 2, (3,))
    expected = -(w * (y * np.log(p) + (1 - y) * np.log(1 - p)))
    np.testing.assert_allclose(nn.BCELoss(t64(w), reduction="none")(t64(p), t64(y)).numpy(), expected, rtol=1e-12)
    np.testing.assert_allclose(F.binary_cross_entropy(t64(p), t64(y), t64(w)).numpy(), expected.mean(), rtol=1e-12)
    # Certain and wrong: each log is clamped at -100, so the loss is 100, and the gradient stays finite.
    x = nnkit.tensor([0.0, 1.0, 0.0], requires_grad=True)
    loss = F.binary_cross_entropy(x, nnkit.tensor([1.0, 0.0, 0.0]), reduction="none")
    np.testing.assert_allclose(loss.detach().numpy(), [100.0, 100.0, 0.0])
    loss.sum().backward()
    assert np.isfinite(x.grad.numpy()).all()


def test_bce_gradients(rng):
    p = t64(rng.uniform(0.1, 0.9, (3, 4)), requires_grad=True)
    y = t64(rng.uniform(0, 1, (3, 4)), requires_grad=True)  # soft targets get a gradient too
    w = t64(rng.uniform(0.5, 2, (4,)))
    assert gradcheck(lambda a, b: F.binary_cross_entropy(a, b, w, reduction="sum"), [p, y]).ok


def test_bce_errors():
    with pytest.raises(RuntimeError, match="between 0 and 1"):
        F.binary_cross_entropy(nnkit.tensor([1.5]), nnkit.tensor([1.0]))
    with pytest.raises(ValueError, match=r"target size \(2,\) must be the same as input size \(2, 1\)"):
        nn.BCELoss()(nnkit.zeros(2, 1), nnkit.zeros(2))
    with pytest.raises(ValueError, match="must be the same as input size"):
        nn.BCEWithLogitsLoss()(nnkit.zeros(2, 1), nnkit.zeros(2))


def test_bce_with_logits_against_formula_and_stable_at_extremes(rng):
    x = rng.standard_normal((5, 3)) * 3
    y = rng.uniform(0, 1, (5, 3))
    pw = np.array([1.0, 3.0, 0.5])
    sig = 1 / (1 + np.exp(-x))
    expected = -(pw * y * np.log(sig) + (1 - y) * np.log(1 - sig))
    got = F.binary_cross_entropy_with_logits(t64(x), t64(y), pos_weight=t64(pw), reduction="none")
    np.testing.assert_allclose(got.numpy(), expected, rtol=1e-10)
    xt, yt = t64(x, requires_grad=True), t64(y, requires_grad=True)
    assert gradcheck(lambda a, b: F.binary_cross_entropy_with_logits(a, b, t64([2.0, 1.0, 0.5]), pos_weight=t64(pw)),
                     [xt, yt]).ok
    big = nnkit.tensor([1000.0, -1000.0, 0.0, 0.0], requires_grad=True)
    target = nnkit.tensor([0.0, 1.0, 1.0, 0.0])
    loss = F.binary_cross_entropy_with_logits(big, target, reduction="none")
    loss.sum().backward()
    np.testing.assert_allclose(loss.detach().numpy(), [1000.0, 1000.0, np.log(2), np.log(2)], rtol=1e-6)
    np.testing.assert_allclose(big.grad.numpy(), [1.0, -1.0, -0.5, 0.5])  # σ(x) - y, exact at x = 0


def test_weights_that_require_grad_are_refused():
    w = nnkit.ones(3, requires_grad=True)
    with pytest.raises(NotImplementedError, match="gradients with respect to weight"):
        F.cross_entropy(nnkit.zeros(2, 3), nnkit.tensor([0, 1]), weight=w)
    with pytest.raises(NotImplementedError, match="pos_weight"):
        F.binary_cross_entropy_with_logits(nnkit.zeros(2, 3), nnkit.zeros(2, 3), pos_weight=w)
