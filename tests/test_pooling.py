"""Pooling: max, average and adaptive average pooling against window-by-window NumPy
references, finite differences, PyTorch's rules for ties, NaN, ceil mode and divisors, and errors."""

import itertools

import numpy as np
import pytest

import nnkit
import nnkit.nn as nn
import nnkit.nn.functional as F
from nnkit.gradcheck import gradcheck


def t64(array, requires_grad=True):
    return nnkit.tensor(np.asarray(array, dtype=np.float64), requires_grad=requires_grad)


def windows(n, k, s, p, d, ceil_mode):
    """Start positions (in padded coordinates) of the windows along one dim, PyTorch's rule."""
    span = n + 2 * p - d * (k - 1) - 1
    out = -(-span // s) + 1 if ceil_mode else span // s + 1
    if ceil_mode and (out - 1) * s >= n + p:
        out -= 1
    return [i * s for i in range(out)]


def reference_max_pool(x, k, s, p, d, ceil_mode):
    """Max over each window; the flat index h·W + w of the first maximum."""
    n, c, h, w = x.shape
    rows, cols = windows(h, k[0], s[0], p[0], d[0], ceil_mode), windows(w, k[1], s[1], p[1], d[1], ceil_mode)
    out = np.full((n, c, len(rows), len(cols)), -np.inf)
    idx = np.zeros(out.shape, dtype=np.int64)
    for a, b, y0, x0 in itertools.product(range(n), range(c), range(len(rows)), range(len(cols))):
        for i, j in itertools.product(range(k[0]), range(k[1])):
            y, xx = rows[y0] - p[0] + i * d[0], cols[x0] - p[1] + j * d[1]
            if 0 <= y < h and 0 <= xx < w and x[a, b, y, xx] > out[a, b, y0, x0]:
                out[a, b, y0, x0], idx[a, b, y0, x0] = x[a, b, y, xx], y * w + xx
    return out, idx


def reference_avg_pool(x, k, s, p, ceil_mode, count_include_pad):
    n, c, h, w = x.shape
    rows, cols = windows(h, k[0], s[0], p[0], 1, ceil_mode), windows(w, k[1], s[1], p[1], 1, ceil_mode)
    out = np.zeros((n, c, len(rows), len(cols)))
    for y0, x0 in itertools.product(range(len(rows)), range(len(cols))):
        y_lo, x_lo = rows[y0] - p[0], cols[x0] - p[1]
        y_hi, x_hi = min(y_lo + k[0], h + p[0]), min(x_lo + k[1], w + p[1])
        total = x[:, :, max(y_lo, 0):min(y_hi, h), max(x_lo, 0):min(x_hi, w)].sum(axis=(2, 3))
        if count_include_pad:
            count = (y_hi - y_lo) * (x_hi - x_lo)
        else:
            count = (min(y_hi, h) - max(y_lo, 0)) * (min(x_hi, w) - max(x_lo, 0))
        out[:, :, y0, x0] = total / count
    return out


MAX_CASES = [  # kernel, stride, padding, dilation, ceil_mode
    ((2, 2), (2, 2), (0, 0), (1, 1), False),
    ((3, 3), (2, 2), (1, 1), (1, 1), False),
    ((3, 3), (2, 2), (1, 1), (1, 1), True),
    ((2, 3), (1, 2), (1, 0), (1, 1), True),
    ((3, 2), (2, 1), (1, 0), (2, 1), False),
    ((2, 2), (3, 3), (0, 0), (2, 2), True),
    ((1, 1), (2, 2), (0, 0), (1, 1), False),
]


@pytest.mark.parametrize("k, s, p, d, ceil_mode", MAX_CASES)
def test_max_pool2d_values_indices_and_gradients(k, s, p, d, ceil_mode, rng):
    x = rng.permutation(2 * 3 * 7 * 8).reshape(2, 3, 7, 8) / 10.0  # distinct values: no ties
    out, idx = F.max_pool2d(t64(x, False), k, s, p, d, ceil_mode, return_indices=True)
    expected, expected_idx = reference_max_pool(x, k, s, p, d, ceil_mode)
    np.testing.assert_array_equal(out.numpy(), expected)
    np.testing.assert_array_equal(idx.numpy(), expected_idx)
    assert gradcheck(lambda a: F.max_pool2d(a, k, s, p, d, ceil_mode), [t64(x)]).ok


def test_max_pool_gradient_goes_to_the_first_maximum_on_ties():
    x = t64(np.ones((1, 1, 4, 4)))
    F.max_pool2d(x, 2).sum().backward()
    expected = np.zeros((4, 4))
    expected[::2, ::2] = 1  # the top-left element of each window
    np.testing.assert_array_equal(x.grad.numpy()[0, 0], expected)


def test_max_pool_overlapping_windows_add_their_gradients():
    x = t64([[[[0.0, 5.0, 0.0], [0.0, 0.0, 0.0], [0.0, 0.0, 0.0]]]])
    F.max_pool2d(x, 2, stride=1).sum().backward()  # the 5 is the max of two windows
    assert x.grad.numpy()[0, 0, 0, 1] == 2.0 and x.grad.numpy().sum() == 4.0


def test_max_pool_propagates_nan_as_pytorch():
    x = t64([[[[1.0, np.nan], [3.0, 2.0]]]], False)
    out, idx = F.max_pool2d(x, 2, return_indices=True)
    assert np.isnan(out.item()) and idx.item() == 1


def test_max_pool_padding_never_wins():
    x = t64(-np.ones((1, 1, 3, 3)) * 5, False)
    assert (F.max_pool2d(x, 3, stride=1, padding=1).numpy() == -5).all()


AVG_CASES = [  # kernel, stride, padding, ceil_mode
    ((2, 2), (2, 2), (0, 0), False),
    ((3, 3), (2, 2), (1, 1), False),
    ((3, 3), (2, 2), (1, 1), True),
    ((2, 3), (2, 2), (1, 1), True),
    ((3, 2), (1, 2), (0, 1), False),
]


@pytest.mark.parametrize("k, s, p, ceil_mode", AVG_CASES)
@pytest.mark.parametrize("count_include_pad", [True, False])
def test_avg_pool2d_values_and_gradients(k, s, p, ceil_mode, count_include_pad, rng):
    x = rng.standard_normal((2, 2, 7, 6))
    out = F.avg_pool2d(t64(x, False), k, s, p, ceil_mode, count_include_pad)
    np.testing.assert_allclose(out.numpy(), reference_avg_pool(x, k, s, p, ceil_mode, count_include_pad), atol=1e-12)
    assert gradcheck(lambda a: F.avg_pool2d(a, k, s, p, ceil_mode, count_include_pad), [t64(x)]).ok


def test_avg_pool_divisors_by_hand():
    x = t64(np.ones((1, 1, 3, 3)), False)
    # A 3x3 window at the corner with padding 1 covers 4 input pixels and 5 padding ones.
    assert F.avg_pool2d(x, 3, 1, 1)[0, 0, 0, 0].item() == pytest.approx(4 / 9)
    assert F.avg_pool2d(x, 3, 1, 1, count_include_pad=False)[0, 0, 0, 0].item() == 1.0
    assert F.avg_pool2d(x, 3, 1, 1, divisor_override=2)[0, 0, 0, 0].item() == 2.0
    # ceil mode: the last window hangs over the right edge; the overhang is not counted.
    y = F.avg_pool2d(t64(np.arange(5.0).reshape(1, 1, 1, 5), False), (1, 2), ceil_mode=True)
    np.testing.assert_allclose(y.numpy()[0, 0, 0], [0.5, 2.5, 4.0])


@pytest.mark.parametrize("size, output_size", [((7, 8), (3, 5)), ((6, 8), (3, 4)), ((5, 5), 1), ((7, 5), (None, 2)),
                                               ((4, 3), (7, 5)), ((9, 9), (4, 4))])
def test_adaptive_avg_pool2d_windows_and_gradients(size, output_size, rng):
    x = rng.standard_normal((2, 3) + size)
    out = F.adaptive_avg_pool2d(t64(x, False), output_size)
    oh, ow = (output_size, output_size) if isinstance(output_size, int) else output_size
    oh, ow = oh or size[0], ow or size[1]
    expected = np.zeros((2, 3, oh, ow))
    for i, j in itertools.product(range(oh), range(ow)):  # window i: [floor(i·n/out), ceil((i+1)·n/out))
        r0, r1 = (i * size[0]) // oh, -(-((i + 1) * size[0]) // oh)
        c0, c1 = (j * size[1]) // ow, -(-((j + 1) * size[1]) // ow)
        expected[:, :, i, j] = x[:, :, r0:r1, c0:c1].mean(axis=(2, 3))
    np.testing.assert_allclose(out.numpy(), expected, atol=1e-12)
    assert gradcheck(lambda a: F.adaptive_avg_pool2d(a, output_size), [t64(x)]).ok


def test_pooling_keeps_unbatched_inputs_unbatched(rng):
    x = nnkit.tensor(rng.standard_normal((3, 6, 6)).astype(np.float32))
    assert nn.MaxPool2d(2)(x).shape == (3, 3, 3)
    assert nn.AvgPool2d(3, stride=1)(x).shape == (3, 4, 4)
    assert nn.AdaptiveAvgPool2d((2, 1))(x).shape == (3, 2, 1)


def test_pooling_has_no_parameters_and_shrinks_activations():
    for layer in (nn.MaxPool2d(2), nn.AvgPool2d(2), nn.AdaptiveAvgPool2d(1)):
        assert list(layer.parameters()) == [] and layer.state_dict() == {}
    assert nn.MaxPool2d(2)(nnkit.zeros(1, 4, 8, 8)).shape == (1, 4, 4, 4)


def test_pooling_errors():
    with pytest.raises(RuntimeError, match="at most half"):
        F.max_pool2d(nnkit.zeros(1, 1, 4, 4), 2, padding=2)
    with pytest.raises(RuntimeError, match="3-D .* or 4-D"):
        F.max_pool2d(nnkit.zeros(4, 4), 2)
    with pytest.raises(NotImplementedError, match=r"avg_pool2d: not implemented for (nnkit\.)?int32"):
        F.avg_pool2d(nnkit.zeros(1, 1, 4, 4, dtype=nnkit.int32), 2)
    with pytest.raises(RuntimeError, match="too small"):
        F.max_pool2d(nnkit.zeros(1, 1, 2, 2), 3)
    with pytest.raises(ValueError, match="positive"):
        F.adaptive_avg_pool2d(nnkit.zeros(1, 1, 2, 2), 0)


# --- against PyTorch (skipped where torch is not installed) ------------------------------


@pytest.mark.torch
@pytest.mark.parametrize("k, s, p, d, ceil_mode", MAX_CASES)
def test_max_pool2d_matches_torch(k, s, p, d, ceil_mode, rng):
    torch = pytest.importorskip("torch")
    x = np.round(rng.standard_normal((2, 3, 7, 8)), 1).astype(np.float32)  # with ties
    xo, xt = nnkit.tensor(x, requires_grad=True), torch.tensor(x, requires_grad=True)
    (oo, io), (ot, it) = (nn.MaxPool2d(k, s, p, d, True, ceil_mode)(xo),
                          torch.nn.MaxPool2d(k, s, p, d, True, ceil_mode)(xt))
    np.testing.assert_array_equal(oo.detach().numpy(), ot.detach().numpy())
    np.testing.assert_array_equal(io.numpy(), it.numpy())
    up = rng.standard_normal(tuple(ot.shape)).astype(np.float32)
    oo.backward(nnkit.tensor(up))
    ot.backward(torch.tensor(up))
    np.testing.assert_allclose(xo.grad.numpy(), xt.grad.numpy(), atol=1e-6)


@pytest.mark.torch
@pytest.mark.parametrize("k, s, p, ceil_mode", AVG_CASES)
@pytest.mark.parametrize("count_include_pad, divisor_override", [(True, None), (False, None), (True, 5)])
def test_avg_pool2d_matches_torch(k, s, p, ceil_mode, count_include_pad, divisor_override, rng):
    torch = pytest.importorskip("torch")
    x = rng.standard_normal((2, 3, 7, 6)).astype(np.float32)
    xo, xt = nnkit.tensor(x, requires_grad=True), torch.tensor(x, requires_grad=True)
    oo = nn.AvgPool2d(k, s, p, ceil_mode, count_include_pad, divisor_override)(xo)
    ot = torch.nn.AvgPool2d(k, s, p, ceil_mode, count_include_pad, divisor_override)(xt)
    np.testing.assert_allclose(oo.detach().numpy(), ot.detach().numpy(), rtol=1e-5, atol=1e-6)
    up = rng.standard_normal(tuple(ot.shape)).astype(np.float32)
    oo.backward(nnkit.tensor(up))
    ot.backward(torch.tensor(up))
    np.testing.assert_allclose(xo.grad.numpy(), xt.grad.numpy(), rtol=1e-5, atol=1e-6)


@pytest.mark.torch
@pytest.mark.parametrize("output_size", [1, (3, 5), (2, None), (7, 9), 4])
def test_adaptive_avg_pool2d_matches_torch(output_size, rng):
    torch = pytest.importorskip("torch")
    x = rng.standard_normal((2, 3, 7, 8)).astype(np.float32)
    xo, xt = nnkit.tensor(x, requires_grad=True), torch.tensor(x, requires_grad=True)
    oo, ot = nn.AdaptiveAvgPool2d(output_size)(xo), torch.nn.AdaptiveAvgPool2d(output_size)(xt)
    np.testing.assert_allclose(oo.detach().numpy(), ot.detach().numpy(), rtol=1e-5, atol=1e-6)
    up = rng.standard_normal(tuple(ot.shape)).astype(np.float32)
    oo.backward(nnkit.tensor(up))
    ot.backward(torch.tensor(up))
    np.testing.assert_allclose(xo.grad.numpy(), xt.grad.numpy(), rtol=1e-5, atol=1e-6)
