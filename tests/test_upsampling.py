"""Resizing: ``F.interpolate`` and the ``Upsample`` layers against hand-computed values and direct
per-pixel references, finite differences (first and second order, non-contiguous inputs),
PyTorch (every mode, align_corners, scale_factor or size, 1-D to 3-D), and errors."""

import itertools

import numpy as np
import pytest

import nnkit
import nnkit.nn as nn
import nnkit.nn.functional as F
from nnkit.gradcheck import gradcheck

MODES_BY_DIMS = {1: ["nearest", "nearest-exact", "area", "linear"],
                 2: ["nearest", "nearest-exact", "area", "bilinear", "bicubic"],
                 3: ["nearest", "nearest-exact", "area", "trilinear"]}
CASES = [(dims, mode, ac) for dims, modes in MODES_BY_DIMS.items() for mode in modes
         for ac in ([None] if mode in ("nearest", "nearest-exact", "area") else [False, True])]
SPECS = [dict(scale_factor=2), dict(scale_factor=1.5), dict(scale_factor=0.5), dict(size=5), dict(size=1),
         dict(scale_factor=2.5, recompute_scale_factor=True)]


def t64(array, requires_grad=True):
    return nnkit.tensor(np.asarray(array, dtype=np.float64), requires_grad=requires_grad)


def sample_shape(dims):
    return (2, 3) + (6, 5, 4)[:dims]


# --- values by hand and by a per-pixel reference --------------------------------------------------

def test_nearest_repeats_each_pixel():
    x = nnkit.arange(4.0).reshape(1, 1, 2, 2)
    assert F.interpolate(x, scale_factor=2).tolist() == [[[[0, 0, 1, 1], [0, 0, 1, 1], [2, 2, 3, 3], [2, 2, 3, 3]]]]


def test_linear_with_and_without_align_corners():
    x = nnkit.tensor([[[0.0, 4.0]]])
    # Corners aligned: samples at 0, 1/3, 2/3, 1 of the way.
    np.testing.assert_allclose(F.interpolate(x, size=4, mode="linear", align_corners=True).numpy(),
                               [[[0, 4 / 3, 8 / 3, 4]]], rtol=1e-6)
    # Pixel centres aligned: output centres at input positions -0.25, 0.25, 0.75, 1.25, clamped at the edges.
    np.testing.assert_allclose(F.interpolate(x, size=4, mode="linear").numpy(), [[[0, 1, 3, 4]]], rtol=1e-6)


def test_bilinear_matches_a_direct_per_pixel_reference():
    rng = np.random.default_rng(0)
    x = rng.standard_normal((1, 2, 4, 5))
    out = F.interpolate(t64(x, False), size=(7, 3), mode="bilinear").numpy()
    ref = np.zeros((1, 2, 7, 3))
    for i, j in itertools.product(range(7), range(3)):
        y, xx = max((i + 0.5) * 4 / 7 - 0.5, 0), max((j + 0.5) * 5 / 3 - 0.5, 0)
        y0, x0 = min(int(y), 3), min(int(xx), 4)
        y1, x1 = min(y0 + 1, 3), min(x0 + 1, 4)
        ty, tx = y - y0, xx - x0
        ref[..., i, j] = ((1 - ty) * ((1 - tx) * x[..., y0, x0] + tx * x[..., y0, x1])
                          + ty * ((1 - tx) * x[..., y1, x0] + tx * x[..., y1, x1]))
    np.testing.assert_allclose(out, ref, rtol=1e-12, atol=1e-12)


def test_bicubic_passes_through_the_samples_and_keeps_constants():
    # The cubic convolution kernel is 1 at distance 0 and 0 at distances 1 and 2, so with aligned corners
    # and size (n - 1)·k + 1 every k-th output is an input sample; its weights sum to 1 (constants stay).
    x = np.random.default_rng(0).standard_normal((1, 1, 5, 4))
    out = F.interpolate(t64(x, False), size=(13, 10), mode="bicubic", align_corners=True).numpy()
    np.testing.assert_allclose(out[..., ::3, ::3], x, atol=1e-12)
    linear = F.interpolate(t64(x, False), size=(13, 10), mode="bilinear", align_corners=True).numpy()
    assert np.abs(out - linear).max() > 1e-2  # between the samples it is a different curve
    const = F.interpolate(nnkit.full((1, 1, 3, 3), 2.5), size=(7, 5), mode="bicubic").numpy()
    np.testing.assert_allclose(const, 2.5, rtol=1e-6)


def test_area_is_adaptive_average_pooling():
    x = nnkit.randn(2, 3, 9, 7)
    np.testing.assert_allclose(F.interpolate(x, size=(4, 3), mode="area").numpy(),
                               F.adaptive_avg_pool2d(x, (4, 3)).numpy(), rtol=1e-6, atol=1e-7)


@pytest.mark.parametrize("dims,mode,ac", CASES)
def test_output_shape_and_dtype(dims, mode, ac):
    x = nnkit.randn(*sample_shape(dims))
    out = F.interpolate(x, scale_factor=1.5, mode=mode, align_corners=ac)
    assert out.shape == (2, 3) + tuple(int(n * 1.5) for n in sample_shape(dims)[2:])
    assert out.dtype == nnkit.float32


def test_upsample_layers():
    x = nnkit.randn(1, 2, 3, 4)
    up = nn.Upsample(scale_factor=2, mode="bilinear")
    assert up(x).shape == (1, 2, 6, 8) and list(up.parameters()) == []
    assert "mode='bilinear'" in repr(up)
    np.testing.assert_allclose(nn.UpsamplingBilinear2d(size=(5, 7))(x).numpy(),
                               F.interpolate(x, size=(5, 7), mode="bilinear", align_corners=True).numpy())
    np.testing.assert_array_equal(nn.UpsamplingNearest2d(scale_factor=3)(x).numpy(),
                                  F.interpolate(x, scale_factor=3).numpy())


# --- gradients -----------------------------------------------------------------------------------

@pytest.mark.parametrize("dims,mode,ac", CASES)
@pytest.mark.parametrize("spec", [dict(scale_factor=2), dict(size=3), dict(scale_factor=1.7)], ids=str)
def test_gradcheck(dims, mode, ac, spec):
    x = t64(np.random.default_rng(1).standard_normal(sample_shape(dims)))
    gradcheck(lambda t: F.interpolate(t, mode=mode, align_corners=ac, **spec), [x])


@pytest.mark.parametrize("layout", ["transposed", "strided"])
def test_gradcheck_on_non_contiguous_input(layout):
    base = np.random.default_rng(2).standard_normal((5, 6, 3, 2))
    x = np.ascontiguousarray(base.T).T if layout == "transposed" else np.repeat(base, 2, axis=-1)[..., ::2]
    assert not x.flags.c_contiguous
    xt = nnkit.from_numpy(x).requires_grad_()
    out = F.interpolate(xt, size=(4, 7), mode="bicubic")
    contiguous = F.interpolate(t64(base, False), size=(4, 7), mode="bicubic")
    np.testing.assert_allclose(out.detach().numpy(), contiguous.numpy())
    gradcheck(lambda t: F.interpolate(t, size=(4, 7), mode="bicubic"), [xt])


def test_second_order_gradient():
    # The backward is the op with transposed matrices, so it is differentiable again: in x (through y·y)
    # and in the upstream gradient v.
    rng = np.random.default_rng(3)
    x, v = t64(rng.standard_normal((1, 2, 3, 4))), t64(rng.standard_normal((1, 2, 6, 8)))

    def first_derivative(t, u):
        with nnkit.enable_grad():
            y = F.interpolate(t, scale_factor=2, mode="bilinear")
            (g,) = nnkit.autograd.grad([y * y], [t], [u], create_graph=True)
        return g
    gradcheck(first_derivative, [x, v])


# --- errors --------------------------------------------------------------------------------------

@pytest.mark.parametrize("kwargs,error,message", [
    (dict(), ValueError, "either size or scale_factor"),
    (dict(size=4, scale_factor=2), ValueError, "only one of size or scale_factor"),
    (dict(size=(4, 4, 4)), ValueError, "has 3 entries but the input has 2 spatial"),
    (dict(size=4, mode="linear"), NotImplementedError, "linear mode needs 3D input"),
    (dict(size=4, mode="cubic"), NotImplementedError, "mode 'cubic' is not supported"),
    (dict(size=4, align_corners=True), ValueError, "align_corners option can only be set"),
    (dict(size=4, mode="bilinear", antialias=True), NotImplementedError, "antialias"),
    (dict(scale_factor=-1.0), ValueError, "scale_factor must be positive"),
    (dict(scale_factor=0.1), ValueError, "output sizes"),
])
def test_bad_arguments_are_named(kwargs, error, message):
    with pytest.raises(error, match=message):
        F.interpolate(nnkit.randn(1, 1, 4, 4), **kwargs)


def test_bad_inputs_are_named():
    with pytest.raises(ValueError, match="interpolate: expected a 3-D, 4-D or 5-D input"):
        F.interpolate(nnkit.randn(4, 4), size=2)
    with pytest.raises(TypeError, match="interpolate: expected a floating-point input"):
        F.interpolate(nnkit.arange(16).reshape(1, 1, 4, 4), size=2)
    with pytest.raises(TypeError, match="interpolate: expected a Tensor"):
        F.interpolate(np.zeros((1, 1, 4, 4)), size=2)


# --- PyTorch -------------------------------------------------------------------------------------

@pytest.mark.torch
@pytest.mark.parametrize("dims,mode,ac", CASES)
@pytest.mark.parametrize("spec", SPECS, ids=str)
def test_matches_torch(dims, mode, ac, spec):
    torch = pytest.importorskip("torch")
    rng = np.random.default_rng(4)
    x = rng.standard_normal(sample_shape(dims)).astype(np.float32)
    ours, theirs = nnkit.tensor(x, requires_grad=True), torch.tensor(x, requires_grad=True)
    out = F.interpolate(ours, mode=mode, align_corners=ac, **spec)
    ref = torch.nn.functional.interpolate(theirs, mode=mode, align_corners=ac, **spec)
    assert out.shape == tuple(ref.shape)
    np.testing.assert_allclose(out.detach().numpy(), ref.detach().numpy(), rtol=1e-5, atol=1e-5)
    upstream = rng.standard_normal(out.shape).astype(np.float32)
    out.backward(nnkit.tensor(upstream))
    ref.backward(torch.tensor(upstream))
    np.testing.assert_allclose(ours.grad.numpy(), theirs.grad.numpy(), rtol=1e-5, atol=1e-5)


@pytest.mark.torch
def test_upsample_module_matches_torch():
    torch = pytest.importorskip("torch")
    x = np.random.default_rng(5).standard_normal((2, 3, 5, 4)).astype(np.float32)
    for ours, theirs in [(nn.Upsample(scale_factor=2), torch.nn.Upsample(scale_factor=2)),
                         (nn.Upsample(size=(7, 9), mode="bicubic", align_corners=True),
                          torch.nn.Upsample(size=(7, 9), mode="bicubic", align_corners=True)),
                         (nn.UpsamplingBilinear2d(scale_factor=3), torch.nn.UpsamplingBilinear2d(scale_factor=3)),
                         (nn.UpsamplingNearest2d(size=3), torch.nn.UpsamplingNearest2d(size=3))]:
        np.testing.assert_allclose(ours(nnkit.tensor(x)).numpy(), theirs(torch.tensor(x)).numpy(),
                                   rtol=1e-5, atol=1e-6)


# --- GPU -----------------------------------------------------------------------------------------

@pytest.mark.gpu
@pytest.mark.parametrize("dims,mode,ac", CASES)
def test_cuda_gives_the_same_values_and_gradients(dims, mode, ac):
    x = np.random.default_rng(6).standard_normal(sample_shape(dims))
    results = []
    for device in ("cpu", "cuda"):
        t = nnkit.tensor(x, device=device, requires_grad=True)
        out = F.interpolate(t, scale_factor=1.7, mode=mode, align_corners=ac)
        out.backward(nnkit.tensor(np.ones(out.shape), device=device) * out.detach())
        assert out.device == device and t.grad.device == device
        results.append((out.detach().cpu().numpy(), t.grad.cpu().numpy()))
    for cpu, cuda in zip(*results):
        np.testing.assert_allclose(cuda, cpu, rtol=1e-12, atol=1e-12)
