"""nnkit.nn layers and nnkit.nn.functional: values against NumPy formulas, gradients against
finite differences (float64, random upstream gradient, parameters included), and the
behaviours that PyTorch users rely on (BatchNorm's running statistics, Dropout's scaling)."""

import math

import numpy as np
import pytest

import nnkit
import nnkit.nn as nn
import nnkit.nn.functional as F
from nnkit.gradcheck import gradcheck


def t64(rng, *shape, requires_grad=True, scale=1.0):
    return nnkit.tensor(rng.standard_normal(shape) * scale, dtype=nnkit.float64, requires_grad=requires_grad)


def check_module(module: nn.Module, *inputs):
    """Gradcheck a module with respect to its inputs and all of its parameters."""
    module.double()
    params = list(module.parameters())
    n = len(inputs)
    return gradcheck(lambda *args: module(*args[:n]), list(inputs) + params)


# --- gradients of every layer ---------------------------------------------------

LAYERS = {
    "Linear": (lambda: nn.Linear(4, 3), [(5, 4)]),
    "Linear 3-d input": (lambda: nn.Linear(4, 3), [(2, 3, 4)]),
    "Linear 1-d input": (lambda: nn.Linear(4, 3, bias=False), [(4,)]),
    "Bilinear": (lambda: nn.Bilinear(3, 2, 2), [(4, 3), (4, 2)]),
    "LeakyReLU": (lambda: nn.LeakyReLU(0.2), [(3, 4)]),
    "ELU": (lambda: nn.ELU(0.7), [(3, 4)]),
    "GELU": (lambda: nn.GELU(), [(3, 4)]),
    "GELU tanh": (lambda: nn.GELU("tanh"), [(3, 4)]),
    "SiLU": (lambda: nn.SiLU(), [(3, 4)]),
    "Mish": (lambda: nn.Mish(), [(3, 4)]),
    "Softplus": (lambda: nn.Softplus(beta=2.0, threshold=1.0), [(3, 4)]),
    "Softmax": (lambda: nn.Softmax(dim=0), [(3, 4)]),
    "LogSoftmax": (lambda: nn.LogSoftmax(dim=1), [(3, 4)]),
    "PReLU": (lambda: nn.PReLU(3), [(2, 3, 2)]),
    "BatchNorm1d (N, C)": (lambda: nn.BatchNorm1d(3), [(5, 3)]),
    "BatchNorm1d (N, C, L)": (lambda: nn.BatchNorm1d(2), [(3, 2, 4)]),
    "BatchNorm1d eval": (lambda: nn.BatchNorm1d(2).eval(), [(3, 2, 4)]),
    "LayerNorm": (lambda: nn.LayerNorm(4), [(3, 4)]),
    "LayerNorm 2 dims": (lambda: nn.LayerNorm((2, 3)), [(2, 2, 3)]),
    "Flatten": (lambda: nn.Flatten(), [(2, 3, 2)]),
    "Sequential": (lambda: nn.Sequential(nn.Linear(3, 4), nn.LayerNorm(4), nn.Tanh(), nn.Linear(4, 2)), [(3, 3)]),
}


@pytest.mark.parametrize("name", LAYERS)
def test_layer_gradients_match_finite_differences(name, rng):
    make, shapes = LAYERS[name]
    module = make()
    with nnkit.no_grad():  # affine parameters away from their trivial initial values
        for p in module.parameters():
            p.add_(nnkit.tensor(rng.normal(0, 0.5, p.shape), dtype=p.dtype))
    assert check_module(module, *[t64(rng, *s) for s in shapes]).ok


def test_layer_gradients_on_non_contiguous_input(rng):
    x = nnkit.tensor(rng.standard_normal((4, 5)), dtype=nnkit.float64).T  # a transposed view
    x.requires_grad_()
    for module in (nn.Linear(4, 2), nn.LayerNorm(4), nn.BatchNorm1d(4)):
        assert check_module(module, x).ok


def test_second_derivatives_through_fused_ops(rng):
    """The fused backward functions are written with tensor ops, so they can be differentiated again."""
    x = t64(rng, 3, 4)
    w = t64(rng, 4)

    def grad_of(fn):
        def first_derivative(x, w):
            with nnkit.enable_grad():  # gradcheck's finite differences run under no_grad
                out = fn(x, w)
                upstream = nnkit.tensor(np.linspace(-1, 1, out.numel()).reshape(out.shape), dtype=nnkit.float64)
                return nnkit.autograd.grad(out, [x, w], upstream, create_graph=True)
        return first_derivative

    for fn in (lambda x, w: F.layer_norm(x, (4,), w), lambda x, w: F.batch_norm(x, None, None, w, None, True),
               lambda x, w: F.gelu(x * w), lambda x, w: F.gelu(x * w, approximate="tanh"),
               lambda x, w: F.softplus(x * w, 2.0, 1.5), lambda x, w: F.binary_cross_entropy_with_logits(
                   x * w, nnkit.full((3, 4), 0.3, dtype=nnkit.float64), reduction="none")):
        assert gradcheck(grad_of(fn), [x, w]).ok


def test_embedding_gradient_skips_the_padding_row(rng):
    idx = nnkit.tensor([[1, 2, 2], [5, 1, 0]])
    plain = nn.Embedding(6, 3).double()
    assert gradcheck(lambda w: plain(idx), [plain.weight]).ok  # repeated indices accumulate
    emb = nn.Embedding(6, 3, padding_idx=1).double()
    out = emb(idx)
    upstream = rng.standard_normal(out.shape)
    out.backward(nnkit.tensor(upstream))
    expected = np.zeros((6, 3))
    np.add.at(expected, idx.numpy(), upstream)
    expected[1] = 0
    np.testing.assert_allclose(emb.weight.grad.numpy(), expected)
    np.testing.assert_array_equal(out.detach().numpy(), emb.weight.detach().numpy()[idx.numpy()])


# --- values against formulas --------------------------------------------------------

def np_erf(x):
    return np.vectorize(math.erf)(x)


ACTIVATIONS = [
    (nn.ReLU(), lambda x: np.maximum(x, 0)),
    (nn.LeakyReLU(0.1), lambda x: np.where(x > 0, x, 0.1 * x)),
    (nn.ELU(2.0), lambda x: np.where(x > 0, x, 2.0 * np.expm1(x))),
    (nn.GELU(), lambda x: 0.5 * x * (1 + np_erf(x / math.sqrt(2)))),
    (nn.GELU("tanh"), lambda x: 0.5 * x * (1 + np.tanh(math.sqrt(2 / math.pi) * (x + 0.044715 * x ** 3)))),
    (nn.SiLU(), lambda x: x / (1 + np.exp(-x))),
    (nn.Mish(), lambda x: x * np.tanh(np.log1p(np.exp(x)))),
    (nn.Sigmoid(), lambda x: 1 / (1 + np.exp(-x))),
    (nn.Tanh(), np.tanh),
    (nn.Softplus(beta=0.5, threshold=2.0), lambda x: np.where(0.5 * x > 2.0, x, np.log1p(np.exp(0.5 * x)) / 0.5)),
    (nn.Softmax(dim=1), lambda x: np.exp(x) / np.exp(x).sum(1, keepdims=True)),
    (nn.LogSoftmax(dim=0), lambda x: x - np.log(np.exp(x).sum(0, keepdims=True))),
    (nn.Identity(), lambda x: x),
]


@pytest.mark.parametrize("module, reference", ACTIVATIONS, ids=[type(m).__name__ for m, _ in ACTIVATIONS])
def test_activation_values(module, reference, rng):
    x = rng.standard_normal((4, 6)) * 3
    np.testing.assert_allclose(module(nnkit.tensor(x, dtype=nnkit.float64)).numpy(), reference(x),
                               rtol=1e-6, atol=1e-7)


def test_activations_are_stable_at_extremes():
    x = nnkit.tensor([-1000.0, -50.0, 0.0, 50.0, 1000.0], requires_grad=True)
    for fn in (F.elu, F.gelu, F.silu, F.softplus, F.mish, F.sigmoid):
        out = fn(x)
        out.sum().backward()
        assert np.isfinite(out.detach().numpy()).all() and np.isfinite(x.grad.numpy()).all(), fn.__name__
        x.grad = None
    assert F.softplus(x).detach().numpy()[-1] == 1000.0 and F.softplus(x).detach().numpy()[0] == 0.0


def test_gradients_at_zero_follow_pytorch():
    x = nnkit.tensor([0.0, 0.0, 0.0], requires_grad=True)
    for fn, slope in [(F.relu, 0.0), (lambda t: F.leaky_relu(t, 0.2), 0.2), (F.softplus, 0.5), (F.gelu, 0.5),
                      (F.elu, 1.0)]:
        fn(x).sum().backward()
        np.testing.assert_allclose(x.grad.numpy(), slope, rtol=1e-6)
        x.grad = None


def test_softmax_without_dim_warns_and_uses_pytorchs_legacy_choice():
    x = nnkit.randn(2, 3)
    with pytest.warns(UserWarning, match="Implicit dimension choice for softmax"):
        out = F.softmax(x)
    np.testing.assert_allclose(out.sum(1).numpy(), 1.0, rtol=1e-6)


def test_linear_is_x_wt_plus_b_on_any_leading_shape(rng):
    layer = nn.Linear(4, 3)
    w, b = layer.weight.detach().numpy(), layer.bias.detach().numpy()
    for shape in [(4,), (5, 4), (2, 3, 4)]:
        x = rng.standard_normal(shape).astype(np.float32)
        np.testing.assert_allclose(layer(nnkit.tensor(x)).detach().numpy(), x @ w.T + b, rtol=1e-5, atol=1e-6)
    with pytest.raises(RuntimeError, match=r"linear: input of shape \(5, 3\) does not fit weight of shape \(3, 4\)"):
        layer(nnkit.zeros(5, 3))


def test_flatten_and_unflatten_shapes():
    x = nnkit.zeros(2, 3, 4, 5)
    assert nn.Flatten()(x).shape == (2, 60)
    assert nn.Flatten(0, 2)(x).shape == (24, 5)
    assert nn.Unflatten(1, (3, 4))(nn.Flatten(1, 2)(x)).shape == (2, 3, 4, 5)


def test_inplace_options_change_the_input_itself():
    for layer, expected in ((nn.ReLU(inplace=True), [0.0, 2.0]), (nn.LeakyReLU(0.5, inplace=True), [-0.5, 2.0]),
                            (nn.Dropout(p=0.0, inplace=True), [-1.0, 2.0])):
        x = nnkit.tensor([-1.0, 2.0])
        assert layer(x).tolist() == expected and x.tolist() == expected
    x = nnkit.tensor([-1.0, 2.0], requires_grad=True)
    h = x * 3
    out = nn.ReLU(inplace=True)(h)
    assert out is h
    out.sum().backward()
    assert x.grad.tolist() == [0.0, 3.0]


# --- BatchNorm ----------------------------------------------------------------------

def test_batchnorm_running_stats_after_two_batches_by_hand(rng):
    bn = nn.BatchNorm1d(3, momentum=0.2)
    batches = [rng.standard_normal((5, 3, 2)) * np.array([[1.0], [2.0], [3.0]]) + 4 for _ in range(2)]
    mean, var = np.zeros(3), np.ones(3)
    for x in batches:
        out = bn(nnkit.tensor(x, dtype=nnkit.float32)).detach().numpy()
        m, v = x.mean(axis=(0, 2)), x.var(axis=(0, 2))
        np.testing.assert_allclose(out, (x - m[:, None]) / np.sqrt(v[:, None] + 1e-5), rtol=1e-4, atol=1e-5)
        mean = 0.8 * mean + 0.2 * m
        var = 0.8 * var + 0.2 * x.var(axis=(0, 2), ddof=1)  # the unbiased variance, n = 10
    np.testing.assert_allclose(bn.running_mean.numpy(), mean, rtol=1e-5)
    np.testing.assert_allclose(bn.running_var.numpy(), var, rtol=1e-5)
    assert int(bn.num_batches_tracked) == 2
    bn.eval()
    x = rng.standard_normal((4, 3, 2))
    with nnkit.no_grad():
        bn.weight.fill_(2.0)
        bn.bias.fill_(-1.0)
    expected = 2.0 * (x - mean[:, None]) / np.sqrt(var[:, None] + 1e-5) - 1.0
    np.testing.assert_allclose(bn(nnkit.tensor(x, dtype=nnkit.float32)).detach().numpy(), expected, rtol=1e-4,
                               atol=1e-5)
    assert int(bn.num_batches_tracked) == 2  # evaluation changes nothing


def test_batchnorm_momentum_none_is_a_cumulative_average(rng):
    bn = nn.BatchNorm1d(2, momentum=None)
    batches = [rng.standard_normal((4, 2)) + i for i in range(3)]
    for x in batches:
        bn(nnkit.tensor(x))
    np.testing.assert_allclose(bn.running_mean.numpy(), np.mean([x.mean(0) for x in batches], 0), rtol=1e-5)
    np.testing.assert_allclose(bn.running_var.numpy(), np.mean([x.var(0, ddof=1) for x in batches], 0), rtol=1e-5)


def test_batchnorm_without_running_stats_uses_batch_stats_in_eval_too(rng):
    bn = nn.BatchNorm1d(2, track_running_stats=False, affine=False).eval()
    assert bn.running_mean is None and list(bn.state_dict()) == []
    x = rng.standard_normal((6, 2)) * 3 + 1
    np.testing.assert_allclose(bn(nnkit.tensor(x)).numpy(), (x - x.mean(0)) / np.sqrt(x.var(0) + 1e-5), rtol=1e-4)


def test_batchnorm_errors():
    with pytest.raises(ValueError, match=r"Expected more than 1 value per channel when training, got input size "
                                         r"\[1, 3\]"):
        nn.BatchNorm1d(3)(nnkit.zeros(1, 3))
    with pytest.raises(ValueError, match="expected 3 channels"):
        nn.BatchNorm1d(3)(nnkit.zeros(4, 2))
    with pytest.raises(ValueError, match="expected 2D or 3D input"):
        nn.BatchNorm1d(3)(nnkit.zeros(4, 3, 2, 2))
    assert float(nn.BatchNorm1d(3).eval()(nnkit.ones(1, 3)).sum()) == pytest.approx(3 / math.sqrt(1 + 1e-5))


def test_batchnorm_without_bias():
    bn = nn.BatchNorm1d(3, bias=False)
    assert list(bn.state_dict()) == ["weight", "running_mean", "running_var", "num_batches_tracked"]


# --- LayerNorm ----------------------------------------------------------------------

def test_layer_norm_values(rng):
    x = rng.standard_normal((2, 3, 4)) * 5 + 2
    ln = nn.LayerNorm((3, 4), eps=1e-3).double()
    with nnkit.no_grad():
        ln.weight.copy_(rng.standard_normal((3, 4)))
        ln.bias.copy_(rng.standard_normal((3, 4)))
    m = x.mean(axis=(1, 2), keepdims=True)
    v = x.var(axis=(1, 2), keepdims=True)
    expected = (x - m) / np.sqrt(v + 1e-3) * ln.weight.detach().numpy() + ln.bias.detach().numpy()
    np.testing.assert_allclose(ln(nnkit.tensor(x)).detach().numpy(), expected, rtol=1e-10)
    with pytest.raises(RuntimeError, match=r"normalized_shape \[3, 4\] does not match"):
        ln(nnkit.zeros(2, 4, 3, dtype=nnkit.float64))
    assert nn.LayerNorm(4, bias=False).bias is None
    assert list(nn.LayerNorm(4, elementwise_affine=False).parameters()) == []


# --- Dropout ------------------------------------------------------------------------

def test_dropout_scales_survivors_preserves_the_mean_and_is_identity_in_eval():
    nnkit.manual_seed(0)
    drop = nn.Dropout(0.3)
    x = nnkit.ones(200, 500)
    out = drop(x).numpy()
    assert set(np.unique(out)) == {0.0, np.float32(1 / 0.7)}
    assert (out == 0).mean() == pytest.approx(0.3, abs=0.005)
    assert out.mean() == pytest.approx(1.0, abs=0.01)
    assert drop.eval()(x) is x
    assert F.dropout(x, 0.3, training=False) is x
    assert F.dropout(x, 0.0) is x
    assert float(F.dropout(x, 1.0).abs().sum()) == 0.0
    with pytest.raises(ValueError, match="between 0 and 1, but got 1.5"):
        nn.Dropout(1.5)


def test_dropout_follows_the_seed_and_its_gradient_is_the_mask(rng):
    x = t64(rng, 4, 5)
    nnkit.manual_seed(7)
    a = F.dropout(x, 0.5).detach().numpy()
    nnkit.manual_seed(7)
    b = F.dropout(x, 0.5)
    np.testing.assert_array_equal(a, b.detach().numpy())
    b.backward(nnkit.ones(4, 5, dtype=nnkit.float64))
    np.testing.assert_array_equal(x.grad.numpy(), np.where(a != 0, 2.0, 0.0))


# --- Embedding, one_hot, pad, normalize -----------------------------------------------

def test_embedding_lookup_and_errors():
    emb = nn.Embedding(4, 2)
    assert emb(nnkit.tensor([3, 0])).shape == (2, 2)
    with pytest.raises(IndexError, match="index 4 is out of range for 4 embeddings"):
        emb(nnkit.tensor([0, 4]))
    with pytest.raises(IndexError, match="index -1 is out of range"):
        emb(nnkit.tensor([-1]))
    with pytest.raises(TypeError, match="integer tensor"):
        emb(nnkit.tensor([0.0]))
    with pytest.raises(NotImplementedError, match="max_norm"):
        nn.Embedding(4, 2, max_norm=1.0)(nnkit.tensor([0]))
    assert nn.Embedding(5, 2, padding_idx=-1).padding_idx == 4
    pre = nn.Embedding.from_pretrained(nnkit.eye(3))
    assert not pre.weight.requires_grad and pre(nnkit.tensor([2])).tolist() == [[0.0, 0.0, 1.0]]


def test_one_hot():
    assert F.one_hot(nnkit.tensor([2, 0])).tolist() == [[0, 0, 1], [1, 0, 0]]
    assert F.one_hot(nnkit.tensor([[1]]), 3).tolist() == [[[0, 1, 0]]]
    assert F.one_hot(nnkit.tensor([1]), 3).dtype == nnkit.int64
    with pytest.raises(RuntimeError, match="class value 3 is out of range for num_classes=3"):
        F.one_hot(nnkit.tensor([3]), 3)


@pytest.mark.parametrize("mode, numpy_mode", [("reflect", "reflect"), ("replicate", "edge"), ("circular", "wrap")])
def test_pad_modes_against_numpy(mode, numpy_mode, rng):
    x = rng.standard_normal((2, 3, 4, 5))
    out = F.pad(nnkit.tensor(x), (2, 1, 3, 0), mode).numpy()
    np.testing.assert_array_equal(out, np.pad(x, [(0, 0), (0, 0), (3, 0), (2, 1)], mode=numpy_mode))
    xt = t64(rng, 1, 3, 4)  # two padded dims: a 3-D or 4-D input, as PyTorch
    assert gradcheck(lambda t: F.pad(t, (3, 2, 1, 2), mode), [xt]).ok


def test_pad_constant_with_value_and_cropping(rng):
    x = rng.standard_normal((2, 3, 4))
    out = F.pad(nnkit.tensor(x), (1, 2, 0, 1), value=9.0).numpy()
    np.testing.assert_array_equal(out, np.pad(x, [(0, 0), (0, 1), (1, 2)], constant_values=9.0))
    np.testing.assert_array_equal(F.pad(nnkit.tensor(x), (-1, 1)).numpy(), np.pad(x[..., 1:], [(0, 0), (0, 0), (0, 1)]))
    xt = t64(rng, 2, 3)
    assert gradcheck(lambda t: F.pad(t, (1, -1, 2, 0), value=3.0), [xt]).ok
    with pytest.raises(RuntimeError, match="reflect padding"):
        F.pad(nnkit.zeros(1, 3), (3, 0), mode="reflect")
    with pytest.raises(NotImplementedError, match="mode 'mirror'"):
        F.pad(nnkit.zeros(1, 3), (1, 0), mode="mirror")


def test_normalize(rng):
    x = rng.standard_normal((3, 4))
    x[1] = 0
    out = F.normalize(nnkit.tensor(x), dim=1).numpy()
    np.testing.assert_allclose(out, x / np.maximum(np.linalg.norm(x, axis=1, keepdims=True), 1e-12))
    xt = t64(rng, 3, 4)
    assert gradcheck(lambda t: F.normalize(t, dim=0), [xt]).ok
    assert gradcheck(lambda t: F.normalize(t, p=3, dim=1), [xt]).ok
    zero = nnkit.zeros(2, 3, requires_grad=True)
    F.normalize(zero).sum().backward()
    assert np.isfinite(zero.grad.numpy()).all()


def test_functional_forms_gradcheck(rng):
    x, y = t64(rng, 4, 3), t64(rng, 4, 3)
    w = t64(rng, 2, 3)
    assert gradcheck(lambda a, b: F.linear(a, b), [x, w]).ok
    weight = t64(rng, 2, 3, 3)
    assert gradcheck(lambda a, b, c: F.bilinear(a, b, c), [x, y, weight]).ok
    assert gradcheck(lambda a: F.prelu(a, nnkit.tensor([0.1], dtype=nnkit.float64)), [x]).ok


def test_batchnorm2d_normalises_per_channel_over_batch_and_space():
    rng = np.random.default_rng(0)
    x = (rng.standard_normal((6, 3, 4, 5)) * [[[[2.0]], [[5.0]], [[0.5]]]] + 3).astype(np.float32)
    bn = nnkit.nn.BatchNorm2d(3)
    y = bn(nnkit.tensor(x)).detach().numpy()
    mean, var = x.mean((0, 2, 3)), x.var((0, 2, 3))
    expected = (x - mean[:, None, None]) / np.sqrt(var[:, None, None] + 1e-5)
    np.testing.assert_allclose(y, expected, rtol=1e-4, atol=1e-5)
    n = x.size // 3  # the running variance uses the unbiased batch variance
    np.testing.assert_allclose(bn.running_var.numpy(), 0.9 + 0.1 * var * n / (n - 1), rtol=1e-5)
    np.testing.assert_allclose(bn.running_mean.numpy(), 0.1 * mean, rtol=1e-5)
    with pytest.raises(ValueError, match=r"BatchNorm2d: expected 4D input"):
        bn(nnkit.randn(6, 3))
    with pytest.raises(ValueError, match=r"expected 3 channels"):
        bn(nnkit.randn(2, 4, 3, 3))
