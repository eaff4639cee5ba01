"""Convolutions: conv2d and conv_transpose2d against a loop-by-definition NumPy reference,
finite differences (float64, random upstream), the adjoint identity that defines the
transposed convolution, the output-size formula, the modules, and the errors."""

import itertools
import math

import numpy as np
import pytest

import nnkit
import nnkit.nn as nn
import nnkit.nn.functional as F
from nnkit.gradcheck import gradcheck
from nnkit.nn.functional.conv import conv_output_size


def t64(array, requires_grad=True):
    return nnkit.tensor(np.asarray(array, dtype=np.float64), requires_grad=requires_grad)


def reference_conv2d(x, w, b=None, stride=(1, 1), pads=((0, 0), (0, 0)), dilation=(1, 1), groups=1):
    """out[n, o, y, x] = b[o] + Σ_{c in o's group, i, j} w[o, c, i, j] · xpad[n, c, y·s + i·d, x·s + j·d]."""
    n, c, _, _ = x.shape
    o, cg, kh, kw = w.shape
    xp = np.pad(x, ((0, 0), (0, 0)) + tuple(pads))
    ho = (xp.shape[2] - dilation[0] * (kh - 1) - 1) // stride[0] + 1
    wo = (xp.shape[3] - dilation[1] * (kw - 1) - 1) // stride[1] + 1
    out = np.zeros((n, o, ho, wo))
    og = o // groups
    for oc, yy, xx in itertools.product(range(o), range(ho), range(wo)):
        g = oc // og
        patch = xp[:, g * cg:(g + 1) * cg, yy * stride[0]:yy * stride[0] + dilation[0] * (kh - 1) + 1:dilation[0],
                   xx * stride[1]:xx * stride[1] + dilation[1] * (kw - 1) + 1:dilation[1]]
        out[:, oc, yy, xx] = (patch * w[oc]).sum(axis=(1, 2, 3))
    return out if b is None else out + b[None, :, None, None]


# (input shape, weight shape, options): stride, padding (int, pair, 'same', 'valid'), dilation, groups
CASES = {
    "plain": ((2, 3, 6, 5), (4, 3, 3, 3), {}),
    "stride 2": ((2, 3, 7, 6), (4, 3, 3, 3), {"stride": 2}),
    "stride (2, 1) padding (1, 2)": ((1, 2, 6, 5), (3, 2, 3, 2), {"stride": (2, 1), "padding": (1, 2)}),
    "padding 1": ((2, 2, 5, 5), (3, 2, 3, 3), {"padding": 1}),
    "same, odd kernel": ((2, 2, 5, 6), (3, 2, 3, 3), {"padding": "same"}),
    "same, even kernel": ((1, 2, 5, 6), (3, 2, 2, 4), {"padding": "same"}),
    "same, dilated": ((1, 2, 6, 6), (2, 2, 3, 3), {"padding": "same", "dilation": 2}),
    "valid": ((1, 2, 5, 5), (2, 2, 3, 3), {"padding": "valid"}),
    "dilation 2": ((1, 2, 7, 7), (3, 2, 3, 3), {"dilation": 2}),
    "dilation (1, 2) stride 2": ((2, 2, 7, 8), (2, 2, 2, 3), {"dilation": (1, 2), "stride": 2, "padding": 1}),
    "groups 2": ((2, 4, 5, 5), (6, 2, 3, 3), {"groups": 2, "padding": 1}),
    "depthwise": ((1, 3, 5, 5), (3, 1, 3, 3), {"groups": 3}),
    "1x1": ((2, 3, 4, 4), (5, 3, 1, 1), {}),
    "kernel = input": ((2, 2, 3, 3), (4, 2, 3, 3), {}),
}


def _pads(options, kernel):
    padding = options.get("padding", 0)
    dilation = options.get("dilation", 1)
    dilation = (dilation, dilation) if isinstance(dilation, int) else dilation
    if padding == "valid":
        return ((0, 0), (0, 0))
    if padding == "same":
        totals = [d * (k - 1) for k, d in zip(kernel, dilation)]
        return tuple((t // 2, t - t // 2) for t in totals)
    p = (padding, padding) if isinstance(padding, int) else padding
    return ((p[0], p[0]), (p[1], p[1]))


def _pair(v):
    return (v, v) if isinstance(v, int) else tuple(v)


@pytest.mark.parametrize("name", CASES)
def test_conv2d_matches_the_definition(name, rng):
    x_shape, w_shape, options = CASES[name]
    x, w, b = rng.standard_normal(x_shape), rng.standard_normal(w_shape), rng.standard_normal(w_shape[0])
    ours = F.conv2d(t64(x, False), t64(w, False), t64(b, False), **options)
    expected = reference_conv2d(x, w, b, _pair(options.get("stride", 1)), _pads(options, w_shape[2:]),
                                _pair(options.get("dilation", 1)), options.get("groups", 1))
    np.testing.assert_allclose(ours.numpy(), expected, rtol=1e-12, atol=1e-12)
    if options.get("padding") == "same":
        assert ours.shape[2:] == x_shape[2:]


@pytest.mark.parametrize("name", CASES)
@pytest.mark.parametrize("bias", [True, False], ids=["bias", "no bias"])
def test_conv2d_gradients_match_finite_differences(name, bias, rng):
    x_shape, w_shape, options = CASES[name]
    inputs = [t64(rng.standard_normal(x_shape)), t64(rng.standard_normal(w_shape))]
    if bias:
        inputs.append(t64(rng.standard_normal(w_shape[0])))
    assert gradcheck(lambda *a: F.conv2d(*a, **options), inputs).ok


def test_conv2d_on_non_contiguous_input(rng):
    base = rng.standard_normal((5, 3, 2, 6))            # a (2, 3, 5, 6)-shaped transposed view
    x = t64(base).permute(2, 1, 0, 3)
    assert not x.array.flags.c_contiguous
    w, b = t64(rng.standard_normal((4, 3, 3, 3))), t64(rng.standard_normal(4))
    expected = reference_conv2d(base.transpose(2, 1, 0, 3), w.detach().numpy(), b.detach().numpy(), (2, 1),
                                ((1, 1), (1, 1)))
    np.testing.assert_allclose(F.conv2d(x, w, b, stride=(2, 1), padding=1).detach().numpy(), expected, atol=1e-12)
    leaf = t64(base)
    assert gradcheck(lambda a, ww: F.conv2d(a.permute(2, 1, 0, 3), ww, stride=(2, 1), padding=1), [leaf, w]).ok


def test_conv2d_unbatched_input_gives_unbatched_output(rng):
    x, w = rng.standard_normal((3, 5, 5)), rng.standard_normal((2, 3, 3, 3))
    out = F.conv2d(t64(x, False), t64(w, False), padding=1)
    assert out.shape == (2, 5, 5)
    np.testing.assert_allclose(out.numpy(), reference_conv2d(x[None], w, pads=((1, 1), (1, 1)))[0], atol=1e-12)


@pytest.mark.parametrize("n, k, s, p, d", [
    (28, 5, 1, 0, 1), (28, 5, 1, 2, 1), (28, 3, 2, 1, 1), (7, 3, 2, 0, 1), (8, 3, 2, 0, 1), (8, 2, 2, 0, 1),
    (10, 3, 1, 0, 2), (10, 3, 3, 2, 2), (5, 5, 1, 0, 1), (32, 7, 2, 3, 1), (6, 1, 4, 0, 1), (9, 4, 3, 1, 2),
])
def test_output_size_formula(n, k, s, p, d):
    """floor((n + 2p − d(k − 1) − 1) / s) + 1: the number of window positions that fit."""
    positions = [y for y in range(0, n + 2 * p) if y + d * (k - 1) < n + 2 * p and y % s == 0]
    assert conv_output_size(n, k, s, p, d) == len(positions)
    out = F.conv2d(nnkit.zeros(1, 1, n, n), nnkit.zeros(1, 1, k, k), stride=s, padding=p, dilation=d)
    assert out.shape == (1, 1, len(positions), len(positions))


def test_padding_amount_not_mode_sets_the_size(rng):
    x = nnkit.tensor(rng.standard_normal((1, 2, 6, 7)).astype(np.float32))
    for mode in ("zeros", "reflect", "replicate", "circular"):
        assert nn.Conv2d(2, 3, 3, padding=1, padding_mode=mode)(x).shape == (1, 3, 6, 7)


@pytest.mark.parametrize("mode, numpy_mode", [("reflect", "reflect"), ("replicate", "edge"), ("circular", "wrap")])
def test_padding_modes_pad_then_convolve(mode, numpy_mode, rng):
    layer = nn.Conv2d(2, 3, (3, 5), padding=(1, 2), padding_mode=mode).double()
    x = rng.standard_normal((2, 2, 5, 6))
    padded = np.pad(x, ((0, 0), (0, 0), (1, 1), (2, 2)), mode=numpy_mode)
    expected = reference_conv2d(padded, layer.weight.detach().numpy(), layer.bias.detach().numpy())
    np.testing.assert_allclose(layer(t64(x, False)).detach().numpy(), expected, atol=1e-12)


def reference_conv_transpose2d(x, w, stride, padding, output_padding, dilation, groups):
    """Scatter each input pixel times its kernel into the output, then crop the padding."""
    n, cin, h, wd = x.shape
    _, cog, kh, kw = w.shape
    (sh, sw), (ph, pw), (eh, ew), (dh, dw) = stride, padding, output_padding, dilation
    full = np.zeros((n, cog * groups, (h - 1) * sh + dh * (kh - 1) + 1 + eh, (wd - 1) * sw + dw * (kw - 1) + 1 + ew))
    cig = cin // groups
    for c, y, xx, i, j in itertools.product(range(cin), range(h), range(wd), range(kh), range(kw)):
        g = c // cig
        full[:, g * cog:(g + 1) * cog, y * sh + i * dh, xx * sw + j * dw] += x[:, c, y, xx, None] * w[c, :, i, j]
    return full[:, :, ph:full.shape[2] - ph, pw:full.shape[3] - pw]


TRANSPOSED = {
    "plain": ((2, 3, 3, 4), (3, 2, 3, 3), {}),
    "stride 2": ((1, 2, 3, 3), (2, 3, 3, 3), {"stride": 2}),
    "stride 2 padding 1 output_padding 1": ((2, 2, 3, 4), (2, 2, 3, 3),
                                            {"stride": 2, "padding": 1, "output_padding": 1}),
    "stride (3, 2) kernel (2, 3)": ((1, 2, 3, 3), (2, 3, 2, 3), {"stride": (3, 2), "output_padding": (2, 0)}),
    "dilation 2": ((1, 2, 3, 3), (2, 2, 3, 2), {"dilation": 2, "padding": 1}),
    "groups 2": ((2, 4, 3, 3), (4, 3, 3, 3), {"groups": 2, "stride": 2}),
}


@pytest.mark.parametrize("name", TRANSPOSED)
def test_conv_transpose2d_matches_the_definition_and_its_gradients(name, rng):
    x_shape, w_shape, options = TRANSPOSED[name]
    x, w, b = rng.standard_normal(x_shape), rng.standard_normal(w_shape), rng.standard_normal(w_shape[1] *
                                                                                              options.get("groups", 1))
    ours = F.conv_transpose2d(t64(x, False), t64(w, False), t64(b, False), **options)
    expected = reference_conv_transpose2d(x, w, _pair(options.get("stride", 1)), _pair(options.get("padding", 0)),
                                          _pair(options.get("output_padding", 0)), _pair(options.get("dilation", 1)),
                                          options.get("groups", 1)) + b[None, :, None, None]
    np.testing.assert_allclose(ours.numpy(), expected, atol=1e-12)
    assert gradcheck(lambda *a: F.conv_transpose2d(*a, **options), [t64(x), t64(w), t64(b)]).ok


@pytest.mark.parametrize("stride, padding, dilation, groups", [(1, 0, 1, 1), (2, 1, 1, 1), (3, 2, 2, 1), (2, 0, 1, 2)])
def test_conv_transpose2d_is_the_adjoint_of_conv2d(stride, padding, dilation, groups, rng):
    """<conv2d(x, W), y> = <x, conv_transpose2d(y, W)> for every x and y: the transposed convolution
    is conv2d's input gradient, which is what lets it undo conv2d's change of size."""
    w = rng.standard_normal((4, 4 // groups, 3, 3))
    x = rng.standard_normal((2, 4, 9, 8))
    y_shape = F.conv2d(t64(x, False), t64(w, False), stride=stride, padding=padding, dilation=dilation,
                       groups=groups).shape
    y = rng.standard_normal(y_shape)
    extra = [x.shape[d] - ((y_shape[d] - 1) * stride - 2 * padding + dilation * 2 + 1) for d in (2, 3)]
    back = F.conv_transpose2d(t64(y, False), t64(w, False), stride=stride, padding=padding, output_padding=extra,
                              dilation=dilation, groups=groups)
    assert back.shape == x.shape
    lhs = (F.conv2d(t64(x, False), t64(w, False), stride=stride, padding=padding, dilation=dilation,
                    groups=groups).numpy() * y).sum()
    assert math.isclose(lhs, (x * back.numpy()).sum(), rel_tol=1e-10)


def test_conv_transpose2d_output_size_and_module_output_size_argument(rng):
    layer = nn.ConvTranspose2d(3, 2, 3, stride=2, padding=1)
    x = nnkit.tensor(rng.standard_normal((1, 3, 5, 5)).astype(np.float32))
    assert layer(x).shape == (1, 2, 9, 9)                      # (5 − 1)·2 − 2 + 2 + 1
    assert layer(x, output_size=(10, 9)).shape == (1, 2, 10, 9)
    with pytest.raises(ValueError, match="valid sizes range from"):
        layer(x, output_size=(11, 9))


def test_conv2d_errors():
    x, w = nnkit.zeros(2, 4, 5, 5), nnkit.zeros(8, 3, 3, 3)
    with pytest.raises(RuntimeError, match=r"conv2d: expected input with 3 channels \(weight shape \(8, 3, 3, 3\)\), "
                                           r"got 4"):
        F.conv2d(x, w)
    with pytest.raises(RuntimeError, match="3-D .* or 4-D"):
        F.conv2d(nnkit.zeros(4, 5), w)
    with pytest.raises(RuntimeError, match="larger than the padded input"):
        F.conv2d(nnkit.zeros(1, 3, 2, 2), w)
    with pytest.raises(RuntimeError, match="divisible by groups=3"):
        F.conv2d(nnkit.zeros(1, 6, 5, 5), nnkit.zeros(8, 2, 3, 3), groups=3)
    with pytest.raises(RuntimeError, match="not supported for strided"):
        F.conv2d(nnkit.zeros(1, 3, 5, 5), w, stride=2, padding="same")
    with pytest.raises(RuntimeError, match="same dtype"):
        F.conv2d(nnkit.zeros(1, 3, 5, 5, dtype=nnkit.float64), w)
    with pytest.raises(ValueError, match="divisible by groups"):
        nn.Conv2d(4, 6, 3, groups=4)
    with pytest.raises(RuntimeError, match="output_padding"):
        F.conv_transpose2d(nnkit.zeros(1, 3, 2, 2), nnkit.zeros(3, 1, 3, 3), stride=2, output_padding=2)


@pytest.mark.parametrize("transposed", [False, True], ids=["Conv2d", "ConvTranspose2d"])
def test_modules_have_pytorchs_shapes_names_and_init(transposed):
    nnkit.manual_seed(0)
    layer = (nn.ConvTranspose2d if transposed else nn.Conv2d)(6, 8, (3, 5), groups=2)
    shape = (6, 4, 3, 5) if transposed else (8, 3, 3, 5)
    assert layer.weight.shape == shape and layer.bias.shape == (8,)
    assert list(layer.state_dict()) == ["weight", "bias"]
    bound = 1 / math.sqrt(shape[1] * 15)  # U(−1/√fan_in, 1/√fan_in), fan_in = weight.shape[1]·kh·kw
    for p in (layer.weight, layer.bias):
        values = p.detach().numpy()
        assert np.abs(values).max() <= bound and np.abs(values).max() > 0.8 * bound
    no_bias = (nn.ConvTranspose2d if transposed else nn.Conv2d)(2, 2, 3, bias=False)
    assert no_bias.bias is None and list(no_bias.state_dict()) == ["weight"]


def test_lenet_sized_conv_trains_a_step(rng):
    """A Conv2d in a tiny network: one SGD step on a batch lowers that batch's loss."""
    model = nn.Sequential(nn.Conv2d(1, 4, 3, padding=1), nn.ReLU(), nn.MaxPool2d(2), nn.Flatten(), nn.Linear(16, 3))
    x = nnkit.tensor(rng.standard_normal((8, 1, 4, 4)).astype(np.float32))
    y = nnkit.tensor(rng.integers(0, 3, 8))
    before = F.cross_entropy(model(x), y)
    before.backward()
    with nnkit.no_grad():
        for p in model.parameters():
            p -= 0.1 * p.grad
    assert float(F.cross_entropy(model(x), y)) < float(before)


# --- against PyTorch (skipped where torch is not installed) ------------------------------


def _torch_pair(ours, theirs, x, rng, forward=None):
    """Forward and backward (random upstream) through both; compare output and every gradient."""
    torch = pytest.importorskip("torch")
    xo, xt = nnkit.tensor(x, requires_grad=True), torch.tensor(x, requires_grad=True)
    out_o, out_t = (forward or (lambda m, v: m(v)))(ours, xo), (forward or (lambda m, v: m(v)))(theirs, xt)
    np.testing.assert_allclose(out_o.detach().numpy(), out_t.detach().numpy(), rtol=1e-4, atol=1e-5)
    up = rng.standard_normal(tuple(out_t.shape)).astype(np.float32)
    out_o.backward(nnkit.tensor(up))
    out_t.backward(torch.tensor(up))
    np.testing.assert_allclose(xo.grad.numpy(), xt.grad.numpy(), rtol=1e-4, atol=1e-5)
    theirs_params = dict(theirs.named_parameters())
    for name, p in ours.named_parameters():
        np.testing.assert_allclose(p.grad.numpy(), theirs_params[name].grad.numpy(), rtol=1e-4, atol=1e-4)


@pytest.mark.torch
@pytest.mark.filterwarnings("ignore:Using padding='same'")
@pytest.mark.parametrize("name", CASES)
@pytest.mark.parametrize("direction", ["torch to nnkit", "nnkit to torch"])
def test_conv2d_layer_matches_torch(name, direction, rng):
    torch = pytest.importorskip("torch")
    x_shape, w_shape, options = CASES[name]
    args = (x_shape[1], w_shape[0], tuple(w_shape[2:]))
    ours, theirs = nn.Conv2d(*args, **options), torch.nn.Conv2d(*args, **options)
    if direction == "torch to nnkit":
        ours.load_state_dict({k: v.numpy() for k, v in theirs.state_dict().items()})
    else:
        theirs.load_state_dict({k: torch.tensor(v.numpy()) for k, v in ours.state_dict().items()})
    _torch_pair(ours, theirs, rng.standard_normal(x_shape).astype(np.float32), rng)


@pytest.mark.torch
@pytest.mark.parametrize("mode", ["reflect", "replicate", "circular"])
def test_conv2d_padding_modes_match_torch(mode, rng):
    torch = pytest.importorskip("torch")
    ours, theirs = nn.Conv2d(2, 3, 3, padding=(1, 2), padding_mode=mode), torch.nn.Conv2d(2, 3, 3, padding=(1, 2),
                                                                                           padding_mode=mode)
    ours.load_state_dict({k: v.numpy() for k, v in theirs.state_dict().items()})
    _torch_pair(ours, theirs, rng.standard_normal((2, 2, 5, 6)).astype(np.float32), rng)


@pytest.mark.torch
@pytest.mark.parametrize("name", TRANSPOSED)
def test_conv_transpose2d_layer_matches_torch(name, rng):
    torch = pytest.importorskip("torch")
    x_shape, w_shape, options = TRANSPOSED[name]
    groups = options.get("groups", 1)
    args = (x_shape[1], w_shape[1] * groups, tuple(w_shape[2:]))
    ours, theirs = nn.ConvTranspose2d(*args, **options), torch.nn.ConvTranspose2d(*args, **options)
    theirs.load_state_dict({k: torch.tensor(v.numpy()) for k, v in ours.state_dict().items()})
    _torch_pair(ours, theirs, rng.standard_normal(x_shape).astype(np.float32), rng)


@pytest.mark.torch
def test_conv_initialisation_has_torchs_distribution():
    """Same bound as PyTorch: the largest of many weights approaches it from below in both."""
    torch = pytest.importorskip("torch")
    ours, theirs = nn.Conv2d(16, 64, 3), torch.nn.Conv2d(16, 64, 3)
    for a, b in ((ours.weight, theirs.weight), (ours.bias, theirs.bias)):
        a, b = a.detach().numpy(), b.detach().numpy()
        assert abs(np.abs(a).max() - np.abs(b).max()) < 0.01 and abs(a.std() - b.std()) < 0.01
