"""More of nnkit.nn, without PyTorch: activations, normalisation, losses, distances,
attention and the Transformer, and second derivatives through every layer.

Forward values are checked against NumPy references written from PyTorch's
definitions (including its choice of derivative at each kink); gradients with
float64 finite differences (on contiguous, transposed and strided inputs) and
second derivatives by gradchecking the first derivative built with
``create_graph=True`` (the machinery of ``test_ops_gradcheck.py``).
``test_torch_nn_layers_more.py`` runs the same functions against PyTorch.
"""

import itertools
import math

import numpy as np
import pytest

import nnkit
import nnkit.nn as nn
import nnkit.nn.functional as F
from test_ops_gradcheck import LAYOUTS, check, check_second, leaves, make_array

SELU_ALPHA, SELU_SCALE = 1.6732632423543772848170429916717, 1.0507009873554804934193349852946


def t64(array, requires_grad=False):
    return nnkit.tensor(np.asarray(array, dtype=np.float64), requires_grad=requires_grad)


def sigmoid(x):
    return 1 / (1 + np.exp(-x))


def softplus(x):
    return np.logaddexp(0, x)


def softmax(x, axis):
    e = np.exp(x - x.max(axis=axis, keepdims=True))
    return e / e.sum(axis=axis, keepdims=True)


# --- activations ------------------------------------------------------------------------------

# name: (function, NumPy reference, input domain of make_array); the domains keep the
# inputs away from the kinks (|x| in [0.5, 2] for "n"; hardsigmoid's are at ±3).
ACTIVATIONS = {
    "relu6": (lambda x: F.relu6(x * 4), lambda x: np.clip(x * 4, 0, 6), "n"),
    "hardtanh": (lambda x: F.hardtanh(x, -0.7, 1.3), lambda x: np.clip(x, -0.7, 1.3), "r"),
    "hardsigmoid": (lambda x: F.hardsigmoid(x * 3), lambda x: np.clip(x * 3 / 6 + 0.5, 0, 1), "n"),
    "hardswish": (lambda x: F.hardswish(x * 3), lambda x: x * 3 * np.clip(x * 3 + 3, 0, 6) / 6, "n"),
    "selu": (F.selu, lambda x: SELU_SCALE * np.where(x > 0, x, SELU_ALPHA * (np.exp(x) - 1)), "n"),
    "celu": (lambda x: F.celu(x, 0.7), lambda x: np.maximum(x, 0) + np.minimum(0, 0.7 * (np.exp(x / 0.7) - 1)), "n"),
    "elu": (lambda x: F.elu(x, 1.5), lambda x: np.where(x > 0, x, 1.5 * (np.exp(x) - 1)), "n"),
    "leaky_relu": (lambda x: F.leaky_relu(x, 0.2), lambda x: np.where(x > 0, x, 0.2 * x), "n"),
    "rrelu_eval": (lambda x: F.rrelu(x, 0.1, 0.3), lambda x: np.where(x > 0, x, 0.2 * x), "n"),
    "logsigmoid": (F.logsigmoid, lambda x: -softplus(-x), "r"),
    "softsign": (F.softsign, lambda x: x / (1 + np.abs(x)), "n"),
    "tanhshrink": (F.tanhshrink, lambda x: x - np.tanh(x), "r"),
    "softshrink": (lambda x: F.softshrink(x, 0.3), lambda x: np.where(np.abs(x) > 0.3, x - 0.3 * np.sign(x), 0), "n"),
    "hardshrink": (lambda x: F.hardshrink(x, 0.3), lambda x: np.where(np.abs(x) > 0.3, x, 0), "n"),
    "hardshrink_wide": (lambda x: F.hardshrink(x, 3.0), lambda x: np.zeros_like(x), "n"),
    "threshold": (lambda x: F.threshold(x, 0.1, -2.0), lambda x: np.where(x > 0.1, x, -2.0), "n"),
    "softplus": (lambda x: F.softplus(x, 2.0, 1.5), lambda x: np.where(2 * x > 1.5, x, softplus(2 * x) / 2), "n"),
    "mish": (F.mish, lambda x: x * np.tanh(softplus(x)), "r"),
    "silu": (F.silu, lambda x: x * sigmoid(x), "r"),
    "gelu_tanh": (lambda x: F.gelu(x, approximate="tanh"),
                  lambda x: 0.5 * x * (1 + np.tanh(math.sqrt(2 / math.pi) * (x + 0.044715 * x ** 3))), "r"),
    "softmin": (lambda x: F.softmin(x, dim=-1), lambda x: softmax(-x, -1), "r"),
    "glu": (lambda x: F.glu(x, -1), lambda x: x[..., :2] * sigmoid(x[..., 2:]), "r"),
}


@pytest.mark.parametrize("name", ACTIVATIONS)
def test_activation_forward_matches_numpy(name, rng):
    fn, ref, domain = ACTIVATIONS[name]
    x = make_array(rng, (3, 4), domain)
    np.testing.assert_allclose(fn(t64(x)).numpy(), ref(x), rtol=1e-12, atol=1e-14)


@pytest.mark.parametrize("layout", LAYOUTS)
@pytest.mark.parametrize("name", ACTIVATIONS)
def test_activation_gradcheck(name, layout, rng):
    fn, _, domain = ACTIVATIONS[name]
    check(fn, [make_array(rng, (3, 4), domain, layout)])


@pytest.mark.parametrize("name", ACTIVATIONS)
def test_activation_second_derivative(name, rng):
    fn, _, domain = ACTIVATIONS[name]
    check_second(fn, [make_array(rng, (3, 4), domain)], rng)


def derivative_at(fn, points):
    x = t64(points, requires_grad=True)
    return nnkit.autograd.grad(fn(x).sum(), x)[0].numpy()


@pytest.mark.parametrize("fn, points, expected", [
    (F.relu6, [0.0, 6.0, 3.0], [0.0, 0.0, 1.0]),
    (F.hardtanh, [-1.0, 1.0, 0.0], [0.0, 0.0, 1.0]),
    (F.hardsigmoid, [-3.0, 3.0, 0.0], [0.0, 0.0, 1 / 6]),
    (F.hardswish, [-3.0, 3.0, 0.0], [0.0, 1.0, 0.5]),
    (lambda x: F.threshold(x, 1.0, 5.0), [1.0, 1.5], [0.0, 1.0]),
    (F.softshrink, [-0.5, 0.5, 0.6], [0.0, 0.0, 1.0]),
    (F.hardshrink, [-0.5, 0.5, -0.6], [0.0, 0.0, 1.0]),
    (lambda x: F.leaky_relu(x, 0.1), [0.0], [0.1]),
    (lambda x: F.rrelu(x, 0.1, 0.3), [0.0], [0.2]),
    (lambda x: F.elu(x, 2.0), [0.0], [2.0]),
    (F.selu, [0.0], [SELU_SCALE * SELU_ALPHA]),
    (lambda x: F.celu(x, 3.0), [0.0], [1.0]),
    (F.softsign, [0.0], [1.0]),
    (F.softplus, [0.0, 20.0, 20.5], [0.5, sigmoid(20.0), 1.0]),
    (lambda x: F.softplus(x, 2.0, 2.0), [1.0, 1.25], [sigmoid(2.0), 1.0]),
], ids=["relu6", "hardtanh", "hardsigmoid", "hardswish", "threshold", "softshrink", "hardshrink", "leaky_relu",
        "rrelu", "elu", "selu", "celu", "softsign", "softplus", "softplus_beta"])
def test_derivatives_at_the_kinks_are_pytorchs(fn, points, expected):
    np.testing.assert_allclose(derivative_at(fn, points), expected, rtol=1e-12)


def test_softplus_second_derivative_is_zero_from_the_threshold_on():
    x = t64([0.0, 1.0, 1.5], requires_grad=True)  # beta 2, threshold 2: 2x reaches it at x = 1
    g, = nnkit.autograd.grad(F.softplus(x, 2.0, 2.0).sum(), x, create_graph=True)
    gg, = nnkit.autograd.grad(g.sum(), x)
    np.testing.assert_allclose(gg.numpy(), [2 * 0.25, 0.0, 0.0], rtol=1e-12)


@pytest.mark.parametrize("fn", [F.relu6, F.hardtanh, F.hardsigmoid, F.leaky_relu, F.rrelu, F.softshrink,
                                F.hardshrink, lambda x: F.threshold(x, 0.5, 0.0), lambda x: F.hardtanh_(x * 1)],
                         ids=["relu6", "hardtanh", "hardsigmoid", "leaky_relu", "rrelu", "softshrink", "hardshrink",
                              "threshold", "hardtanh_"])
def test_gradient_penalty_through_the_relu_family_gives_zeros(fn):
    """The first derivative of a piecewise-linear function stays in the graph under create_graph,
    so differentiating it again gives zeros (as PyTorch), not an error."""
    x = t64([-2.0, -0.7, 0.3, 0.8, 4.0], requires_grad=True)
    g, = nnkit.autograd.grad(fn(x).sum(), x, create_graph=True)
    assert g.requires_grad
    gg, = nnkit.autograd.grad((g * g).sum(), x)
    np.testing.assert_array_equal(gg.numpy(), np.zeros(5))


@pytest.mark.parametrize("fn, inplace", [
    (F.relu6, F.relu6), (lambda x: F.hardtanh(x, -0.5, 0.5), lambda x, **kw: F.hardtanh_(x, -0.5, 0.5)),
    (F.selu, F.selu_), (lambda x: F.celu(x, 2.0), lambda x, **kw: F.celu_(x, 2.0)), (F.elu, F.elu_),
    (F.leaky_relu, F.leaky_relu_), (F.hardsigmoid, F.hardsigmoid), (F.hardswish, F.hardswish),
    (lambda x: F.threshold(x, 0.2, 9.0), lambda x, **kw: F.threshold_(x, 0.2, 9.0)), (F.rrelu, F.rrelu_),
], ids=["relu6", "hardtanh_", "selu_", "celu_", "elu_", "leaky_relu_", "hardsigmoid", "hardswish", "threshold_",
        "rrelu_"])
def test_in_place_variants_write_into_the_input_and_keep_the_gradient(fn, inplace, rng):
    x = rng.standard_normal((3, 4))
    leaf = t64(x, requires_grad=True)
    y = leaf * 1.0
    out = inplace(y, inplace=True) if inplace is fn else inplace(y)
    assert out is y
    np.testing.assert_allclose(y.detach().numpy(), fn(t64(x)).numpy(), rtol=1e-12)
    out.sum().backward()
    np.testing.assert_allclose(leaf.grad.numpy(), derivative_at(fn, x), rtol=1e-12)


def test_rrelu_in_training_draws_a_slope_per_negative_element_from_the_seeded_generator():
    x = -nnkit.ones(1000, dtype=nnkit.float64)
    nnkit.manual_seed(3)
    slopes = -F.rrelu(x, 0.1, 0.3, training=True).numpy()
    assert slopes.min() >= 0.1 and slopes.max() <= 0.3 and abs(slopes.mean() - 0.2) < 0.01
    nnkit.manual_seed(3)
    np.testing.assert_array_equal(-F.rrelu(x, 0.1, 0.3, training=True).numpy(), slopes)
    positive = nnkit.ones(4)
    assert F.rrelu(positive, training=True).tolist() == [1.0] * 4
    layer = nn.RReLU(0.1, 0.3)
    assert layer.eval()(nnkit.tensor([-1.0])).tolist() == pytest.approx([-0.2])


def test_glu_softmax2d_and_softmin():
    x = nnkit.tensor([[1.0, 2.0, 0.0, 0.0]])
    np.testing.assert_allclose(F.glu(x).numpy(), [[0.5, 1.0]])
    np.testing.assert_allclose(nn.GLU(dim=1)(x).numpy(), [[0.5, 1.0]])
    images = np.random.default_rng(0).standard_normal((2, 3, 4, 5))
    np.testing.assert_allclose(nn.Softmax2d()(t64(images)).numpy(), softmax(images, 1), rtol=1e-12)
    np.testing.assert_allclose(nn.Softmax2d()(t64(images[0])).numpy(), softmax(images[0], 0), rtol=1e-12)
    np.testing.assert_allclose(nn.Softmin(dim=0)(t64([1.0, 2.0])).numpy(), softmax(-np.array([1.0, 2.0]), 0))
    with pytest.warns(UserWarning, match="Implicit dimension choice for softmin"):
        F.softmin(nnkit.zeros(2, 3))


def test_activation_errors_name_the_problem():
    with pytest.raises(RuntimeError, match="Halving dimension must be even, but dimension 1 is size 3"):
        F.glu(nnkit.zeros(2, 3), 1)
    with pytest.raises(RuntimeError, match="glu does not support scalars"):
        F.glu(nnkit.tensor(1.0))
    with pytest.raises(ValueError, match="Softmax2d: expected input to be 3D or 4D, got 2D"):
        nn.Softmax2d()(nnkit.zeros(2, 3))
    with pytest.raises(ValueError, match="min_val cannot be greater than max_val"):
        F.hardtanh(nnkit.zeros(2), 2.0, 1.0)
    with pytest.raises(AssertionError, match=r"max_val \(1.0\) must be greater than min_val \(2.0\)"):
        nn.Hardtanh(2.0, 1.0)
    with pytest.raises(RuntimeError, match="lambda must be greater than or equal to 0"):
        F.softshrink(nnkit.zeros(2), -0.5)
    with pytest.raises(RuntimeError, match="alpha cannot be 0"):
        F.celu(nnkit.zeros(2), 0.0)
    with pytest.raises(RuntimeError, match="lower bound 0.5 should be less than or equal to the upper bound 0.1"):
        F.rrelu(nnkit.zeros(2), 0.5, 0.1, training=True)
    with pytest.raises(RuntimeError, match="mismatch of parameter numbers and input channel size: 3 slopes"):
        F.prelu(nnkit.zeros(2, 4), nnkit.ones(3))
    with pytest.raises(RuntimeError, match="channel size: 4 slopes for the 1 channels"):
        F.prelu(nnkit.zeros(4), nnkit.ones(4))
    with pytest.raises(RuntimeError, match="weight to be a scalar or 1-D"):
        F.prelu(nnkit.zeros(2, 4), nnkit.ones(2, 2))


def test_activation_modules_hold_their_options_and_print_as_pytorch():
    assert [repr(m) for m in (nn.ReLU6(), nn.ReLU6(True), nn.Hardtanh(-2.0, 3.0, True), nn.SELU(), nn.CELU(0.5, True),
                              nn.Hardsigmoid(True), nn.Hardswish(), nn.LogSigmoid(), nn.Softsign(), nn.Softmin(1),
                              nn.Softmax2d(), nn.Tanhshrink(), nn.Softshrink(), nn.Hardshrink(0.3),
                              nn.Threshold(0.1, 20), nn.GLU(), nn.RReLU(0.1, 0.3, True), nn.PReLU(3, 0.1))] == [
        "ReLU6()", "ReLU6(inplace=True)", "Hardtanh(min_val=-2.0, max_val=3.0, inplace=True)", "SELU()",
        "CELU(alpha=0.5, inplace=True)", "Hardsigmoid()", "Hardswish()", "LogSigmoid()", "Softsign()",
        "Softmin(dim=1)", "Softmax2d()", "Tanhshrink()", "Softshrink(0.5)", "Hardshrink(0.3)",
        "Threshold(threshold=0.1, value=20)", "GLU(dim=-1)", "RReLU(lower=0.1, upper=0.3, inplace=True)",
        "PReLU(num_parameters=3)"]
    relu6 = nn.ReLU6()
    assert isinstance(relu6, nn.Hardtanh) and (relu6.min_val, relu6.max_val) == (0.0, 6.0)
    with pytest.warns(FutureWarning, match="`min_value` is deprecated"):
        assert nn.Hardtanh(min_value=-3.0).min_val == -3.0
    prelu = nn.PReLU(3, init=0.1)
    assert list(prelu.state_dict()) == ["weight"] and prelu.weight.tolist() == pytest.approx([0.1] * 3)
    x = nnkit.tensor([[-1.0, -2.0, -3.0]])
    np.testing.assert_allclose(prelu(x).detach().numpy(), [[-0.1, -0.2, -0.3]], rtol=1e-6)
    assert nn.PReLU()(nnkit.tensor(-2.0)).item() == pytest.approx(-0.5)


# --- normalisation --------------------------------------------------------------------------

def normalize_np(x, axes, eps):
    mean = x.mean(axis=axes, keepdims=True)
    return (x - mean) / np.sqrt(x.var(axis=axes, keepdims=True) + eps)


def group_norm_np(x, groups, weight, bias, eps):
    n, c = x.shape[:2]
    grouped = x.reshape(n, groups, -1)
    out = normalize_np(grouped, 2, eps).reshape(x.shape)
    shape = (1, c) + (1,) * (x.ndim - 2)
    return out * weight.reshape(shape) + bias.reshape(shape)


def local_response_norm_np(x, size, alpha, beta, k):
    c = x.shape[1]
    out = np.empty_like(x)
    for i in range(c):
        low, high = max(0, i - size // 2), min(c, i + (size - 1) // 2 + 1)
        out[:, i] = x[:, i] / (k + alpha / size * (x[:, low:high] ** 2).sum(1)) ** beta
    return out


NORMS = {
    "batch_norm_train": (lambda x, w, b: F.batch_norm(x, None, None, w, b, training=True),
                         [(4, 3, 2), (3,), (3,)]),
    "batch_norm_eval": (lambda x, w, b: F.batch_norm(x, t64([0.5, -1.0, 0.0]), t64([1.5, 0.5, 2.0]), w, b),
                        [(4, 3, 2), (3,), (3,)]),
    "layer_norm": (lambda x, w, b: F.layer_norm(x, (3, 2), w, b), [(4, 3, 2), (3, 2), (3, 2)]),
    "group_norm": (lambda x, w, b: F.group_norm(x, 2, w, b), [(3, 4, 3), (4,), (4,)]),
    "instance_norm": (lambda x, w, b: F.instance_norm(x, weight=w, bias=b), [(2, 3, 4), (3,), (3,)]),
    "instance_norm_running": (lambda x: F.instance_norm(x, t64([0.5, -1.0, 0.0]), t64([1.5, 0.5, 2.0]),
                                                        use_input_stats=False), [(2, 3, 4)]),
    "rms_norm": (lambda x, w: F.rms_norm(x, (4,), w), [(3, 4), (4,)]),
    "rms_norm_eps": (lambda x: F.rms_norm(x, (2, 4), eps=0.1), [(3, 2, 4)]),
    "local_response_norm": (lambda x: F.local_response_norm(x, 3, alpha=0.5, beta=0.6, k=1.5), [(2, 5, 3)]),
    "local_response_norm_even": (lambda x: F.local_response_norm(x, 2, alpha=0.5), [(2, 4, 2, 2)]),
}


def test_normalisation_forward_matches_numpy(rng):
    x = rng.standard_normal((3, 4, 5)) * 2 + 1
    w, b = rng.standard_normal(4), rng.standard_normal(4)
    np.testing.assert_allclose(F.group_norm(t64(x), 2, t64(w), t64(b), 1e-3).numpy(),
                               group_norm_np(x, 2, w, b, 1e-3), rtol=1e-10)
    np.testing.assert_allclose(F.instance_norm(t64(x), weight=t64(w), bias=t64(b)).numpy(),
                               group_norm_np(x, 4, w, b, 1e-5), rtol=1e-10)
    np.testing.assert_allclose(F.rms_norm(t64(x), (5,), t64(w[:1].repeat(5))).numpy(),
                               x / np.sqrt((x ** 2).mean(-1, keepdims=True) + np.finfo(np.float64).eps) * w[0],
                               rtol=1e-12)
    np.testing.assert_allclose(F.rms_norm(t64(x).float(), (5,)).numpy(),
                               x / np.sqrt((x ** 2).mean(-1, keepdims=True) + np.finfo(np.float32).eps), rtol=1e-5)
    for size in (1, 2, 3, 4, 6):
        np.testing.assert_allclose(F.local_response_norm(t64(x), size, 0.3, 0.8, 2.0).numpy(),
                                   local_response_norm_np(x, size, 0.3, 0.8, 2.0), rtol=1e-12)


@pytest.mark.parametrize("layout", LAYOUTS)
@pytest.mark.parametrize("name", NORMS)
def test_normalisation_gradcheck(name, layout, rng):
    fn, shapes = NORMS[name]
    check(fn, [make_array(rng, s, "r", layout) for s in shapes])


@pytest.mark.parametrize("name", NORMS)
def test_normalisation_second_derivative(name, rng):
    """Batch and layer norm have a fused backward: under create_graph it is recomputed from ops."""
    fn, shapes = NORMS[name]
    check_second(fn, [make_array(rng, s) for s in shapes], rng)


def test_instance_norm_running_statistics_follow_the_batch_average_of_the_instances(rng):
    x = rng.standard_normal((4, 3, 6)) * 2 + 1
    layer = nn.InstanceNorm1d(3, momentum=0.3, affine=True, track_running_stats=True).double()
    out = layer(t64(x))
    np.testing.assert_allclose(out.detach().numpy(), normalize_np(x, 2, 1e-5), rtol=1e-10)
    np.testing.assert_allclose(layer.running_mean.numpy(), 0.7 * 0 + 0.3 * x.mean(2).mean(0), rtol=1e-12)
    np.testing.assert_allclose(layer.running_var.numpy(), 0.7 * 1 + 0.3 * x.var(2, ddof=1).mean(0), rtol=1e-12)
    assert int(layer.num_batches_tracked) == 0  # as PyTorch: instance norm does not count
    layer.eval()
    mean, var = layer.running_mean.numpy(), layer.running_var.numpy()
    np.testing.assert_allclose(layer(t64(x)).detach().numpy(),
                               (x - mean[:, None]) / np.sqrt(var[:, None] + 1e-5), rtol=1e-10)
    unbatched = nn.InstanceNorm2d(3)(t64(x[0][:, :, None].repeat(2, 2)))
    assert unbatched.shape == (3, 6, 2)


def test_normalisation_layers_have_pytorchs_parameters_and_buffers():
    assert list(nn.InstanceNorm1d(3).state_dict()) == []
    assert list(nn.InstanceNorm2d(3, affine=True, track_running_stats=True).state_dict()) == [
        "weight", "bias", "running_mean", "running_var", "num_batches_tracked"]
    assert list(nn.BatchNorm3d(2, affine=False).state_dict()) == ["running_mean", "running_var", "num_batches_tracked"]
    group = nn.GroupNorm(2, 6)
    assert [(k, v.shape) for k, v in group.state_dict().items()] == [("weight", (6,)), ("bias", (6,))]
    assert group.weight.tolist() == [1.0] * 6 and group.bias.tolist() == [0.0] * 6
    assert list(nn.GroupNorm(2, 6, affine=False).state_dict()) == []
    assert list(nn.GroupNorm(2, 6, bias=False).state_dict()) == ["weight"]
    rms = nn.RMSNorm([2, 3])
    assert [(k, v.shape) for k, v in rms.state_dict().items()] == [("weight", (2, 3))] and rms.eps is None
    assert list(nn.RMSNorm(3, elementwise_affine=False).state_dict()) == []
    assert list(nn.LayerNorm(4, elementwise_affine=False, bias=False).state_dict()) == []
    assert [repr(m) for m in (nn.InstanceNorm1d(3), nn.GroupNorm(2, 4), nn.RMSNorm(4), nn.LocalResponseNorm(3))] == [
        "InstanceNorm1d(3, eps=1e-05, momentum=0.1, affine=False, bias=False, track_running_stats=False)",
        "GroupNorm(2, 4, eps=1e-05, affine=True, bias=True)", "RMSNorm((4,), eps=None, elementwise_affine=True)",
        "LocalResponseNorm(3, alpha=0.0001, beta=0.75, k=1.0)"]


def test_normalisation_errors_name_the_problem():
    with pytest.raises(ValueError, match=r"num_channels \(6\) must be divisible by num_groups \(4\)"):
        nn.GroupNorm(4, 6)
    with pytest.raises(RuntimeError, match=r"divisible by num_groups, but got an input of shape \[2, 6, 3\]"):
        F.group_norm(nnkit.zeros(2, 6, 3), 4)
    with pytest.raises(ValueError, match="expected more than 1 spatial element when training, got input size"):
        nn.InstanceNorm1d(3)(nnkit.zeros(2, 3, 1))
    with pytest.raises(ValueError, match=r"expected input's size at dim=1 to match num_features \(3\), but got: 4"):
        nn.InstanceNorm1d(3, affine=True)(nnkit.zeros(2, 4, 5))
    with pytest.warns(UserWarning, match="does not match num_features"):
        nn.InstanceNorm1d(3)(nnkit.zeros(2, 4, 5))
    with pytest.raises(ValueError, match="InstanceNorm2d: expected 3D or 4D input"):
        nn.InstanceNorm2d(3)(nnkit.zeros(2, 3))
    with pytest.raises(ValueError, match="BatchNorm3d: expected 5D input"):
        nn.BatchNorm3d(3)(nnkit.zeros(2, 3, 4, 4))
    with pytest.raises(RuntimeError, match=r"rms_norm: normalized_shape \[4\] does not match"):
        F.rms_norm(nnkit.zeros(2, 3), [4])
    with pytest.raises(ValueError, match="expected 3D or higher dimensionality input"):
        F.local_response_norm(nnkit.zeros(2, 3), 2)
    with pytest.raises(ValueError, match="running_mean and running_var are needed"):
        F.instance_norm(nnkit.zeros(2, 3, 4), use_input_stats=False)


# --- distances ------------------------------------------------------------------------------

DISTANCES = {
    "pairwise_distance": (lambda a, b: F.pairwise_distance(a, b), [(3, 4), (3, 4)],
                          lambda a, b: np.sqrt(((a - b + 1e-6) ** 2).sum(-1))),
    "pairwise_distance_p1_broadcast": (lambda a, b: F.pairwise_distance(a, b, p=1, keepdim=True), [(3, 4), (4,)],
                                       lambda a, b: np.abs(a - b + 1e-6).sum(-1, keepdims=True)),
    "pairwise_distance_p3": (lambda a, b: F.pairwise_distance(a, b, 3.0), [(3, 4), (3, 4)],
                             lambda a, b: (np.abs(a - b + 1e-6) ** 3).sum(-1) ** (1 / 3)),
    "cosine_similarity": (lambda a, b: F.cosine_similarity(a, b), [(3, 4), (3, 4)],
                          lambda a, b: (a * b).sum(1) / np.linalg.norm(a, axis=1) / np.linalg.norm(b, axis=1)),
    "cosine_similarity_broadcast": (lambda a, b: F.cosine_similarity(a, b, dim=-1), [(2, 3, 4), (4,)],
                                    lambda a, b: (a * b).sum(-1) / np.linalg.norm(a, axis=-1) / np.linalg.norm(b)),
    "pdist": (F.pdist, [(4, 3)],
              lambda a: np.array([np.linalg.norm(a[i] - a[j]) for i, j in itertools.combinations(range(4), 2)])),
    "pdist_p1": (lambda a: F.pdist(a, 1), [(4, 3)],
                 lambda a: np.array([np.abs(a[i] - a[j]).sum() for i, j in itertools.combinations(range(4), 2)])),
    "normalize_p0": (lambda a: F.normalize(a * nnkit.tensor([1.0, 0.0, 1.0, 1.0]), p=0), [(3, 4)],
                     lambda a: a * [1, 0, 1, 1] / 3),
    "normalize_p1": (lambda a: F.normalize(a, p=1, dim=0), [(3, 4)], lambda a: a / np.abs(a).sum(0)),
    "normalize_p3": (lambda a: F.normalize(a, p=3), [(3, 4)], lambda a: a / ((np.abs(a) ** 3).sum(1) ** (1 / 3))[:, None]),
}


@pytest.mark.parametrize("name", DISTANCES)
def test_distances_forward_gradcheck_and_second_derivative(name, rng):
    fn, shapes, ref = DISTANCES[name]
    arrays = [make_array(rng, s) for s in shapes]
    np.testing.assert_allclose(fn(*leaves(arrays)).detach().numpy(), ref(*arrays), rtol=1e-10)
    check(fn, [make_array(rng, s, "r", "transposed") for s in shapes])
    check_second(fn, arrays, rng)


def test_distances_at_zero_and_small_norms():
    zero = t64([[0.0, 0.0, 0.0]], requires_grad=True)
    other = t64([[1.0, 2.0, 2.0]], requires_grad=True)
    assert F.cosine_similarity(zero, other).item() == 0.0
    grad, = nnkit.autograd.grad(F.cosine_similarity(zero, other).sum(), zero)
    np.testing.assert_allclose(grad.numpy(), [[1 / 3 / 1e-8, 2 / 3 / 1e-8, 2 / 3 / 1e-8]], rtol=1e-10)
    np.testing.assert_allclose(F.cosine_similarity(t64([[3.0, 4.0]]), t64([[3.0, 4.0]]) * 1e6).numpy(), [1.0])
    rows = t64([[0.0, 0.0], [0.0, 0.0], [3.0, 4.0]], requires_grad=True)
    np.testing.assert_allclose(F.pdist(rows).detach().numpy(), [0.0, 5.0, 5.0])
    grad, = nnkit.autograd.grad(F.pdist(rows).sum(), rows)
    np.testing.assert_allclose(grad.numpy(), [[-0.6, -0.8], [-0.6, -0.8], [1.2, 1.6]])  # 0 from the zero distance
    np.testing.assert_allclose(F.pdist(rows, 0).detach().numpy(), [0.0, 2.0, 2.0])
    assert nn.PairwiseDistance(eps=0.0)(t64([[0.0, 0.0]]), t64([[3.0, 4.0]])).tolist() == [5.0]
    assert nn.CosineSimilarity(dim=0)(t64([1.0, 0.0]), t64([0.0, 1.0])).item() == 0.0
    with pytest.raises(RuntimeError, match="pdist only supports 2D tensors, got: 3D"):
        F.pdist(nnkit.zeros(2, 3, 4))
    with pytest.raises(RuntimeError, match="pdist only supports non-negative p values"):
        F.pdist(nnkit.zeros(2, 3), -1)


def test_one_hot_takes_int64_and_raises_as_pytorch():
    assert F.one_hot(nnkit.tensor(2), 4).tolist() == [0, 0, 1, 0]
    assert F.one_hot(nnkit.tensor(np.zeros(0, dtype=np.int64)), 3).shape == (0, 3)
    for bad, num_classes, message in [
        (nnkit.tensor(np.array([1, 2], dtype=np.int32)), -1, "only applicable to index tensor of type LongTensor"),
        (nnkit.tensor([1.0, 2.0]), -1, "LongTensor"),
        (nnkit.tensor(np.zeros(0, dtype=np.int64)), -1, "can not infer the total number of classes from an empty"),
        (nnkit.tensor([-1, 2]), -1, "class values must be non-negative"),
        (nnkit.tensor([1, 5]), 3, "class values must be smaller than num_classes"),
        (nnkit.tensor([1, 2]), 0, "class values must be smaller than num_classes"),
    ]:
        with pytest.raises(RuntimeError, match=message):
            F.one_hot(bad, num_classes)


# --- losses ---------------------------------------------------------------------------------

SIGNS = np.array([1.0, -1.0, -1.0, 1.0, -1.0])
LABELS = np.array([0, 3, 1, 3, 2])
BITS = np.array([[1, 0, 0, 1], [0, 0, 1, 1], [1, 1, 1, 0], [0, 0, 0, 0], [1, 0, 1, 0]], dtype=np.float64)
WEIGHTS = np.array([0.5, 2.0, 1.0, 1.5])
COUNTS = np.array([[0, 3, 1, 2], [5, 0, 2, 1], [1, 1, 4, 0], [2, 6, 0, 1], [3, 2, 1, 1]], dtype=np.float64)


def multi_margin_np(x, y, p, margin, weight):
    out = []
    for row, label in zip(x, y):
        hinge = np.maximum(0, margin - row[label] + row) ** p
        hinge[label] = 0
        out.append(hinge.sum() / len(row) * (1 if weight is None else weight[label]))
    return np.array(out)


def stirling(y):
    safe = np.where(y > 1, y, 1.0)
    return np.where(y > 1, safe * np.log(safe) - safe + 0.5 * np.log(2 * np.pi * safe), 0)


# name: (loss with reduction='none', shapes, its NumPy reference); 'mean' and 'sum' are checked too.
LOSSES = {
    "kl_div": (lambda x, t: F.kl_div(x, F.softmax(t, 1), reduction="none"), [(5, 4), (5, 4)],
               lambda x, t: softmax(t, 1) * (np.log(softmax(t, 1)) - x)),
    "kl_div_log_target": (lambda x, t: F.kl_div(x, t, reduction="none", log_target=True), [(5, 4), (5, 4)],
                          lambda x, t: np.exp(t) * (t - x)),
    "poisson_nll": (lambda x: F.poisson_nll_loss(x, t64(COUNTS), reduction="none"), [(5, 4)],
                    lambda x: np.exp(x) - COUNTS * x),
    "poisson_nll_full_rates": (lambda x: F.poisson_nll_loss(x * x + 0.5, t64(COUNTS), log_input=False, full=True,
                                                            reduction="none"), [(5, 4)],
                               lambda x: x * x + 0.5 - COUNTS * np.log(x * x + 0.5 + 1e-8) + stirling(COUNTS)),
    "gaussian_nll": (lambda x, t, v: F.gaussian_nll_loss(x, t, v * v + 0.1, reduction="none"),
                     [(5, 4), (5, 4), (5, 4)], lambda x, t, v: 0.5 * (np.log(v * v + 0.1) + (x - t) ** 2 / (v * v + 0.1))),
    "gaussian_nll_shared_var_full": (lambda x, t, v: F.gaussian_nll_loss(x, t, v * v + 0.1, full=True,
                                                                         reduction="none"),
                                     [(5, 4), (5, 4), (5,)],
                                     lambda x, t, v: 0.5 * (np.log(v * v + 0.1)[:, None]
                                                            + (x - t) ** 2 / (v * v + 0.1)[:, None] + np.log(2 * np.pi))),
    "cosine_embedding": (lambda a, b: F.cosine_embedding_loss(a, b, t64(SIGNS), 0.1, reduction="none"),
                         [(5, 4), (5, 4)],
                         lambda a, b: np.where(SIGNS == 1, 1 - (a * b).sum(1) / np.sqrt(
                             ((a * a).sum(1) + 1e-12) * ((b * b).sum(1) + 1e-12)), np.maximum(0, (a * b).sum(1) / np.sqrt(
                                 ((a * a).sum(1) + 1e-12) * ((b * b).sum(1) + 1e-12)) - 0.1))),
    "margin_ranking": (lambda a, b: F.margin_ranking_loss(a, b, t64(SIGNS), 0.3, reduction="none"), [(5,), (5,)],
                       lambda a, b: np.maximum(0, -SIGNS * (a - b) + 0.3)),
    "hinge_embedding": (lambda x: F.hinge_embedding_loss(x, t64(SIGNS), 0.7, reduction="none"), [(5,)],
                        lambda x: np.where(SIGNS == 1, x, np.maximum(0, 0.7 - x))),
    "triplet_margin": (lambda a, p, n: F.triplet_margin_loss(a, p, n, margin=2.0, reduction="none"), [(5, 4)] * 3,
                       lambda a, p, n: np.maximum(0, 2.0 + np.linalg.norm(a - p + 1e-6, axis=1)
                                              - np.linalg.norm(a - n + 1e-6, axis=1))),
    "triplet_margin_p1_swap": (lambda a, p, n: F.triplet_margin_loss(a, p, n, 2.0, 1, swap=True, reduction="none"),
                               [(5, 4)] * 3,
                               lambda a, p, n: np.maximum(0, 2.0 + np.abs(a - p + 1e-6).sum(1) - np.minimum(
                                   np.abs(a - n + 1e-6).sum(1), np.abs(p - n + 1e-6).sum(1)))),
    "soft_margin": (lambda x: F.soft_margin_loss(x, t64(BITS * 2 - 1), reduction="none"), [(5, 4)],
                    lambda x: np.log1p(np.exp(-(BITS * 2 - 1) * x))),
    "multilabel_soft_margin": (lambda x: F.multilabel_soft_margin_loss(x, t64(BITS), t64(WEIGHTS), reduction="none"),
                               [(5, 4)],
                               lambda x: -(WEIGHTS * (BITS * np.log(sigmoid(x)) + (1 - BITS) * np.log(sigmoid(-x)))).mean(1)),
    "multi_margin": (lambda x: F.multi_margin_loss(x, nnkit.tensor(LABELS), reduction="none"), [(5, 4)],
                     lambda x: multi_margin_np(x, LABELS, 1, 1.0, None)),
    "multi_margin_p2_weight": (lambda x: F.multi_margin_loss(x, nnkit.tensor(LABELS), 2, 0.5, t64(WEIGHTS),
                                                             reduction="none"), [(5, 4)],
                               lambda x: multi_margin_np(x, LABELS, 2, 0.5, WEIGHTS)),
    "mse_weight": (lambda x, t: F.mse_loss(x, t, reduction="none", weight=t64(BITS + 0.5)), [(5, 4), (5, 4)],
                   lambda x, t: (BITS + 0.5) * (x - t) ** 2),
    "huber_weight": (lambda x, t: F.huber_loss(x, t, "none", 0.5, t64(BITS + 0.5)), [(5, 4), (5, 4)],
                     lambda x, t: (BITS + 0.5) * np.where(np.abs(x - t) < 0.5, 0.5 * (x - t) ** 2,
                                                          0.5 * (np.abs(x - t) - 0.25))),
}


@pytest.mark.parametrize("name", LOSSES)
def test_loss_forward_matches_numpy(name, rng):
    fn, shapes, ref = LOSSES[name]
    arrays = [make_array(rng, s) for s in shapes]
    np.testing.assert_allclose(fn(*leaves(arrays)).detach().numpy(), ref(*arrays), rtol=1e-10, atol=1e-14)


@pytest.mark.parametrize("layout", ["contiguous", "transposed"])
@pytest.mark.parametrize("name", LOSSES)
def test_loss_gradcheck(name, layout, rng):
    fn, shapes, _ = LOSSES[name]
    check(fn, [make_array(rng, s, "r", layout) for s in shapes])


@pytest.mark.parametrize("name", LOSSES)
def test_loss_second_derivative(name, rng):
    fn, shapes, _ = LOSSES[name]
    check_second(fn, [make_array(rng, s) for s in shapes], rng)


def test_loss_reductions_and_the_deprecated_arguments(rng):
    x, y = t64(rng.standard_normal((5, 4))), t64(rng.standard_normal((5, 4)))
    logp = F.log_softmax(x, 1)
    target = F.softmax(y, 1)
    pointwise = F.kl_div(logp, target, reduction="none")
    assert F.kl_div(logp, target, reduction="batchmean").item() == pytest.approx(pointwise.sum().item() / 5)
    assert F.kl_div(logp, target, reduction="sum").item() == pytest.approx(pointwise.sum().item())
    with pytest.warns(UserWarning, match="'batchmean' divides only by the batch size"):
        assert F.kl_div(logp, target).item() == pytest.approx(pointwise.mean().item())
    loss = F.multi_margin_loss(x, nnkit.tensor(LABELS), reduction="none")
    assert F.multi_margin_loss(x, nnkit.tensor(LABELS)).item() == pytest.approx(loss.mean().item())
    assert F.multi_margin_loss(x[0], nnkit.tensor(3)).item() == pytest.approx(
        F.multi_margin_loss(x[:1], nnkit.tensor([3])).item())
    weighted = F.mse_loss(x, y, weight=t64(BITS + 0.5))
    assert weighted.item() == pytest.approx((((x - y) ** 2) * t64(BITS + 0.5)).sum().item() / (BITS + 0.5).sum())
    assert F.l1_loss(x, y, weight=t64(BITS)).item() == pytest.approx(
        ((x - y).abs() * t64(BITS)).sum().item() / BITS.sum())
    for size_average, reduce, reduction in [(False, None, "sum"), (None, False, "none"), (True, True, "mean")]:
        with pytest.warns(UserWarning, match=f"please use reduction='{reduction}' instead"):
            legacy = F.mse_loss(x, y, size_average, reduce)
        np.testing.assert_allclose(legacy.numpy(), F.mse_loss(x, y, reduction=reduction).numpy())
        with pytest.warns(UserWarning, match=f"reduction='{reduction}'"):
            assert nn.MSELoss(size_average, reduce).reduction == reduction
    assert F.smooth_l1_loss(x, y, beta=0.0).item() == F.l1_loss(x, y).item()
    assert nn.KLDivLoss(reduction="batchmean", log_target=True)(logp, logp).item() == 0.0


def test_loss_modules_hold_options_and_weights_as_buffers(rng):
    assert list(nn.MultiMarginLoss(weight=nnkit.ones(4)).state_dict()) == ["weight"]
    assert list(nn.MultiLabelSoftMarginLoss(weight=nnkit.ones(4)).state_dict()) == ["weight"]
    assert list(nn.TripletMarginWithDistanceLoss().state_dict()) == []
    assert isinstance(nn.TripletMarginWithDistanceLoss().distance_function, nn.PairwiseDistance)
    x, y = t64(rng.standard_normal((5, 4))), t64(rng.standard_normal((5, 4)))
    z = t64(rng.standard_normal((5, 4)))
    cases = [
        (nn.KLDivLoss(reduction="sum"), (x, y), F.kl_div(x, y, reduction="sum")),
        (nn.PoissonNLLLoss(full=True), (x, t64(COUNTS)), F.poisson_nll_loss(x, t64(COUNTS), full=True)),
        (nn.GaussianNLLLoss(eps=0.5), (x, y, 0.25), F.gaussian_nll_loss(x, y, 0.25, eps=0.5)),
        (nn.CosineEmbeddingLoss(0.2), (x, y, t64(SIGNS)), F.cosine_embedding_loss(x, y, t64(SIGNS), 0.2)),
        (nn.MarginRankingLoss(0.1, reduction="sum"), (x[0], y[0], t64(SIGNS[:4])),
         F.margin_ranking_loss(x[0], y[0], t64(SIGNS[:4]), 0.1, reduction="sum")),
        (nn.HingeEmbeddingLoss(2.0), (x[:, 0], t64(SIGNS)), F.hinge_embedding_loss(x[:, 0], t64(SIGNS), 2.0)),
        (nn.TripletMarginLoss(0.5, p=1.0, swap=True), (x, y, z), F.triplet_margin_loss(x, y, z, 0.5, 1.0, swap=True)),
        (nn.TripletMarginWithDistanceLoss(margin=0.5), (x, y, z), F.triplet_margin_loss(x, y, z, 0.5)),
        (nn.SoftMarginLoss(), (x, t64(BITS)), F.soft_margin_loss(x, t64(BITS))),
        (nn.MultiLabelSoftMarginLoss(t64(WEIGHTS)), (x, t64(BITS)), F.multilabel_soft_margin_loss(x, t64(BITS),
                                                                                                  t64(WEIGHTS))),
        (nn.MultiMarginLoss(2, 0.5, t64(WEIGHTS)), (x, nnkit.tensor(LABELS)),
         F.multi_margin_loss(x, nnkit.tensor(LABELS), 2, 0.5, t64(WEIGHTS))),
    ]
    for module, args, expected in cases:
        np.testing.assert_allclose(module(*args).numpy(), expected.numpy(), rtol=1e-12, err_msg=repr(module))


def test_gaussian_nll_keeps_the_gradient_of_clamped_variances():
    var = t64([1e-9, 2.0], requires_grad=True)
    loss = F.gaussian_nll_loss(t64([0.0, 0.0]), t64([0.0, 1.0]), var, eps=1e-3, reduction="sum")
    assert loss.item() == pytest.approx(0.5 * (math.log(1e-3) + math.log(2.0) + 0.5))
    grad, = nnkit.autograd.grad(loss, var)
    np.testing.assert_allclose(grad.numpy(), [0.5 / 1e-3, 0.5 * (1 / 2.0 - 1 / 4.0)])  # 1/var at the clamped value


def test_loss_errors_name_the_problem():
    x = nnkit.zeros(3, 4)
    with pytest.raises(ValueError, match="var has negative entry"):
        F.gaussian_nll_loss(x, x, -1.0)
    with pytest.raises(ValueError, match=r"var is of incorrect size \(2,\)"):
        F.gaussian_nll_loss(x, x, nnkit.ones(2))
    with pytest.raises(ValueError, match="only p == 1 and p == 2 supported"):
        F.multi_margin_loss(x, nnkit.tensor([0, 1, 2]), p=3)
    with pytest.raises(IndexError, match="target 4 is out of bounds for 4 classes"):
        F.multi_margin_loss(x, nnkit.tensor([0, 1, 4]))
    with pytest.raises(RuntimeError, match="1D target tensor expects 2D input tensors"):
        F.cosine_embedding_loss(nnkit.zeros(4), nnkit.zeros(4), nnkit.ones(3))
    with pytest.raises(RuntimeError, match="all input tensors should have same dimension"):
        F.margin_ranking_loss(nnkit.zeros(3), nnkit.zeros(3, 1), nnkit.ones(3))
    with pytest.raises(RuntimeError, match="anchor 2D, positive 2D, and negative 1D"):
        F.triplet_margin_loss(x, x, nnkit.zeros(4))
    with pytest.raises(ValueError, match="margin must be greater than 0"):
        nn.TripletMarginLoss(margin=0.0)
    with pytest.raises(ValueError, match="'average' is not a valid value for reduction"):
        nn.CTCLoss(reduction="average")
    with pytest.raises(ValueError, match="weights and input must have the same size"):
        F.mse_loss(x, x, weight=nnkit.ones(4))


# --- CTC ------------------------------------------------------------------------------------

def ctc_brute_force(log_probs, target, blank):
    """−log Σ over every path of length T that collapses (merge repeats, drop blanks) to target."""
    steps, classes = log_probs.shape
    total = -np.inf
    for path in itertools.product(range(classes), repeat=steps):
        merged = [c for i, c in enumerate(path) if i == 0 or c != path[i - 1]]
        if [c for c in merged if c != blank] == list(target):
            total = np.logaddexp(total, sum(log_probs[t, c] for t, c in enumerate(path)))
    return -total


def log_softmax_np(x, axis):
    return x - np.log(np.exp(x - x.max(axis, keepdims=True)).sum(axis, keepdims=True)) - x.max(axis, keepdims=True)


CTC_TARGETS = np.array([[1, 2, 0], [2, 2, 0], [1, 0, 0], [0, 0, 0], [2, 1, 1]])


def test_ctc_loss_sums_every_alignment(rng):
    """Against an enumeration of all paths, for targets with repeats, one label, none and an
    impossible one (two repeated labels need a blank between them: 3 steps are too few)."""
    lengths = [2, 2, 1, 0, 3]
    log_probs = log_softmax_np(rng.standard_normal((4, 5, 3)), 2)
    steps = [4, 4, 3, 2, 4]
    loss = F.ctc_loss(t64(log_probs), nnkit.tensor(CTC_TARGETS), steps, lengths, blank=0, reduction="none")
    expected = [ctc_brute_force(log_probs[:s, n], CTC_TARGETS[n, :k], 0) for n, (s, k) in enumerate(zip(steps, lengths))]
    np.testing.assert_allclose(loss.numpy(), expected, rtol=1e-12)
    short = F.ctc_loss(t64(log_probs[:, 1:2]), nnkit.tensor([[2, 2]]), [2], [2], reduction="none")
    assert short.item() == math.inf
    assert F.ctc_loss(t64(log_probs[:, 1:2]), nnkit.tensor([[2, 2]]), [2], [2], zero_infinity=True).item() == 0.0
    empty_input = F.ctc_loss(t64(log_probs[:, :1]), nnkit.tensor([[1]]), [0], [0], reduction="none")
    assert empty_input.item() == 0.0  # nothing to emit and nothing emitted: probability 1


def test_ctc_loss_target_formats_reductions_and_blank(rng):
    log_probs = log_softmax_np(rng.standard_normal((6, 3, 4)), 2)
    padded = np.array([[1, 2, 2], [3, 1, 0], [2, 0, 0]])
    lengths, steps = [3, 2, 1], [6, 5, 4]
    per_sample = F.ctc_loss(t64(log_probs), nnkit.tensor(padded), steps, lengths, reduction="none").numpy()
    concatenated = nnkit.tensor([1, 2, 2, 3, 1, 2])
    np.testing.assert_allclose(F.ctc_loss(t64(log_probs), concatenated, nnkit.tensor(steps), nnkit.tensor(lengths),
                                          reduction="none").numpy(), per_sample)
    assert F.ctc_loss(t64(log_probs), nnkit.tensor(padded), steps, lengths).item() == pytest.approx(
        (per_sample / np.array(lengths)).mean())
    assert F.ctc_loss(t64(log_probs), nnkit.tensor(padded), steps, lengths, reduction="sum").item() == pytest.approx(
        per_sample.sum())
    unbatched = F.ctc_loss(t64(log_probs[:, 0]), nnkit.tensor(padded[0]), 6, 3, reduction="none")
    assert unbatched.shape == () and unbatched.item() == pytest.approx(per_sample[0])
    blank_last = F.ctc_loss(t64(log_probs[..., [1, 2, 3, 0]]), nnkit.tensor(padded - 1), steps, lengths, blank=3,
                            reduction="none")
    np.testing.assert_allclose(blank_last.numpy(), per_sample, rtol=1e-12)
    module = nn.CTCLoss(reduction="sum")
    assert module(t64(log_probs), nnkit.tensor(padded), steps, lengths).item() == pytest.approx(per_sample.sum())


def test_ctc_loss_gradcheck_and_second_derivative(rng):
    targets = nnkit.tensor([[1, 2, 2], [3, 1, 0]])

    def loss(logits):
        return F.ctc_loss(F.log_softmax(logits, 2), targets, [5, 4], [3, 2], reduction="sum")
    logits = [rng.standard_normal((5, 2, 4))]
    check(loss, logits)
    check_second(loss, logits, rng)
    # the true derivative with respect to log_probs itself (not through log_softmax)
    check(lambda lp: F.ctc_loss(lp, targets, [5, 4], [3, 2]), [log_softmax_np(logits[0], 2)])


def test_ctc_loss_errors():
    log_probs = F.log_softmax(nnkit.randn(5, 2, 4), 2)
    targets = nnkit.tensor([[1, 2], [3, 1]])
    with pytest.raises(RuntimeError, match=r"input_lengths to have values in \[0, 5\]"):
        F.ctc_loss(log_probs, targets, [6, 5], [2, 2])
    with pytest.raises(RuntimeError, match="do not hold 2 sequences of up to 3 labels"):
        F.ctc_loss(log_probs, targets, [5, 5], [3, 2])
    with pytest.raises(RuntimeError, match="input_lengths must be of size batch_size"):
        F.ctc_loss(log_probs, targets, [5, 5, 5], [2, 2])
    with pytest.raises(RuntimeError, match="blank must be in label range"):
        F.ctc_loss(log_probs, targets, [5, 5], [2, 2], blank=4)
    with pytest.raises(IndexError, match=r"target labels must be in \[0, 4\)"):
        F.ctc_loss(log_probs, nnkit.tensor([[1, 7], [3, 1]]), [5, 5], [2, 2])


# --- attention and the Transformer -----------------------------------------------------------

def test_sdpa_float_mask_gets_its_gradient_and_is_differentiable_twice(rng):
    arrays = [rng.standard_normal(s) for s in [(2, 3, 4), (2, 5, 4), (2, 5, 3), (3, 5)]]

    def attend(q, k, v, bias):
        return F.scaled_dot_product_attention(q, k, v, attn_mask=bias, scale=0.4)
    check(attend, arrays)
    check_second(attend, arrays, rng)


def test_sdpa_grouped_query_attention_repeats_each_key_head_for_its_group(rng):
    q, k, v = (t64(rng.standard_normal(s)) for s in [(2, 6, 3, 4), (2, 2, 5, 4), (2, 3, 5, 7)])
    out = F.scaled_dot_product_attention(q, k, v, enable_gqa=True)
    repeat = lambda t: nnkit.repeat_interleave(t, 6 // t.shape[1], 1)  # noqa: E731
    np.testing.assert_allclose(out.numpy(), F.scaled_dot_product_attention(q, repeat(k), repeat(v)).numpy(),
                               rtol=1e-12)
    check(lambda a, b, c: F.scaled_dot_product_attention(a, b, c, enable_gqa=True, is_causal=True),
          [rng.standard_normal(s) for s in [(4, 3, 2), (2, 3, 2), (1, 3, 2)]])
    with pytest.raises(RuntimeError, match=r"number of heads in key .* must divide the number of heads in query \(6\)"):
        F.scaled_dot_product_attention(q, t64(rng.standard_normal((2, 4, 5, 4))), v, enable_gqa=True)


def test_sdpa_errors_as_pytorch():
    q = nnkit.zeros(2, 3, 4)
    with pytest.raises(RuntimeError, match="attn_mask should not be set when is_causal=True"):
        F.scaled_dot_product_attention(q, q, q, attn_mask=nnkit.zeros(3, 3), is_causal=True)
    with pytest.raises(RuntimeError, match="dropout probability has to be between 0 and 1, but got 1.5"):
        F.scaled_dot_product_attention(q, q, q, dropout_p=1.5)
    with pytest.raises(RuntimeError, match="attn_mask dtype to be bool or float"):
        F.scaled_dot_product_attention(q, q, q, attn_mask=nnkit.ones(3, 3, dtype=nnkit.int64))
    assert F.scaled_dot_product_attention(q + 1, q + 1, q + 1, dropout_p=1.0).abs().max().item() == 0.0


def test_generate_square_subsequent_mask():
    mask = nn.Transformer.generate_square_subsequent_mask(3)
    assert mask.dtype == nnkit.float32
    np.testing.assert_array_equal(mask.numpy(), [[0, -np.inf, -np.inf], [0, 0, -np.inf], [0, 0, 0]])
    assert nn.Transformer.generate_square_subsequent_mask(2, dtype=nnkit.float64).dtype == nnkit.float64


@pytest.mark.parametrize("norm_first", [False, True])
def test_decoder_with_a_causal_mask_never_looks_ahead(norm_first, rng):
    """Changing target position j changes no output before j; the memory reaches every position."""
    nnkit.manual_seed(0)
    decoder = nn.TransformerDecoder(nn.TransformerDecoderLayer(8, 2, 16, dropout=0.0, norm_first=norm_first,
                                                               batch_first=True), 2, nn.LayerNorm(8)).double()
    tgt, memory = rng.standard_normal((2, 5, 8)), rng.standard_normal((2, 4, 8))
    mask = nn.Transformer.generate_square_subsequent_mask(5, dtype=nnkit.float64)
    out = decoder(t64(tgt), t64(memory), tgt_mask=mask, tgt_is_causal=True).detach().numpy()
    changed = tgt.copy()
    changed[:, 3] += rng.standard_normal(8)  # (a constant shift would vanish in the layer norms)
    out2 = decoder(t64(changed), t64(memory), tgt_mask=mask).detach().numpy()
    np.testing.assert_allclose(out2[:, :3], out[:, :3], rtol=1e-12)
    assert np.abs(out2[:, 3:] - out[:, 3:]).max(axis=-1).min() > 1e-3
    out3 = decoder(t64(tgt), t64(memory + rng.standard_normal(8)), tgt_mask=mask).detach().numpy()
    assert np.abs(out3 - out).max(axis=-1).min() > 1e-3


def test_transformer_layers_names_init_and_errors():
    model = nn.Transformer(16, 2, 2, 1, 32)
    keys = list(model.state_dict())
    assert keys[:2] == ["encoder.layers.0.self_attn.in_proj_weight", "encoder.layers.0.self_attn.in_proj_bias"]
    assert "decoder.layers.0.multihead_attn.in_proj_weight" in keys and "decoder.layers.0.norm3.bias" in keys
    assert "encoder.layers.1.norm2.weight" in keys and "encoder.norm.weight" in keys and "decoder.norm.bias" in keys
    assert len(keys) == 2 * 12 + 2 + 18 + 2
    linear1 = model.state_dict()["decoder.layers.0.linear1.weight"].numpy()
    bound = math.sqrt(6 / (16 + 32))  # Xavier-uniform for every matrix
    assert np.abs(linear1).max() <= bound and np.abs(linear1).max() > 0.9 * bound
    assert model.state_dict()["encoder.layers.0.linear1.bias"].abs().max().item() > 0  # biases keep Linear's init
    out = model(nnkit.randn(6, 3, 16), nnkit.randn(4, 3, 16))
    assert out.shape == (4, 3, 16)
    layer = nn.TransformerDecoderLayer(8, 2, 16, activation=nn.PReLU())
    assert "activation.weight" in layer.state_dict()
    with pytest.raises(RuntimeError, match="activation should be relu/gelu, not tanh"):
        nn.TransformerDecoderLayer(8, 2, activation="tanh")
    with pytest.raises(RuntimeError, match="the batch number of src and tgt must be equal"):
        model(nnkit.randn(6, 3, 16), nnkit.randn(4, 2, 16))
    with pytest.raises(RuntimeError, match=r"the feature number of src and tgt must be equal to d_model \(16\)"):
        model(nnkit.randn(6, 3, 16), nnkit.randn(4, 3, 8))
    with pytest.raises(RuntimeError, match="is_causal=True is only a hint"):
        nn.TransformerEncoder(nn.TransformerEncoderLayer(8, 2, 16), 1)(nnkit.randn(3, 1, 8), is_causal=True)
    custom = nn.Transformer(8, 2, custom_encoder=nn.Identity(), custom_decoder=nn.TransformerDecoder(
        nn.TransformerDecoderLayer(8, 2, 16), 1))
    assert not any(k.startswith("encoder") for k in custom.state_dict())


def test_transformer_is_differentiable_twice(rng):
    nnkit.manual_seed(0)
    layer = nn.TransformerDecoderLayer(4, 2, 6, dropout=0.0, activation="gelu", batch_first=True).double()
    memory = t64(rng.standard_normal((1, 3, 4)))
    mask = nn.Transformer.generate_square_subsequent_mask(2, dtype=nnkit.float64)
    check_second(lambda x: layer(x, memory, tgt_mask=mask), [rng.standard_normal((1, 2, 4))], rng)


# --- second derivatives through the other layers ---------------------------------------------

@pytest.mark.parametrize("cls", [nn.RNN, nn.LSTM, nn.GRU])
def test_recurrent_layers_are_differentiable_twice(cls, rng):
    """create_graph=True runs the cell-by-cell graph instead of the fused op, so a gradient
    penalty through a recurrent layer works."""
    nnkit.manual_seed(0)
    layer = cls(2, 3, num_layers=2, bidirectional=True).double()
    x = rng.standard_normal((3, 1, 2))
    check_second(lambda t: layer(t)[0], [x], rng)
    weight = layer.weight_hh_l0
    inputs = t64(x, requires_grad=True)
    g, = nnkit.autograd.grad(layer(inputs)[0].sum(), inputs, create_graph=True)
    penalty, = nnkit.autograd.grad((g * g).sum(), weight)
    assert penalty.shape == weight.shape and np.abs(penalty.numpy()).max() > 0


def test_embedding_linear_and_bilinear_are_differentiable_twice(rng):
    ids = nnkit.tensor([[1, 3, 1], [0, 4, 4]])
    check_second(lambda w: F.embedding(ids, w, padding_idx=0) ** 2, [rng.standard_normal((5, 3))], rng)
    check_second(lambda x, w, b: F.linear(x, w, b) ** 2, [rng.standard_normal(s) for s in [(4, 3), (2, 3), (2,)]], rng)
    check_second(lambda a, b, w: F.bilinear(a, b, w), [rng.standard_normal(s) for s in [(4, 3), (4, 2), (5, 3, 2)]],
                 rng)


def test_a_critic_of_many_layers_is_differentiable_twice(rng):
    """What WGAN-GP's penalty needs: the second derivatives of a critic, mixed ones (input and
    weights) included, through linear, layer norm, hardswish, group norm, SELU and ReLU6."""
    def critic(x, w1, b1, w2, gain):
        h = F.hardswish(F.layer_norm(F.linear(x, w1, b1), (6,)))
        h = F.selu(F.group_norm(F.linear(h, w2), 2, gain))
        return F.relu6(h * 3).sum(1)
    shapes = [(4, 3), (6, 3), (6,), (6, 6), (6,)]
    check_second(critic, [rng.standard_normal(s) for s in shapes], rng)
