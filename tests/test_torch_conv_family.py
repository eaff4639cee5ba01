"""The convolution family against PyTorch: the table of ``test_conv_family.py`` (forward,
gradients and second derivatives in float32), the layers (state_dict names and shapes,
initialisation, reprs, outputs from the same weights), max pooling's indices and integer
inputs, the exception types, and a WGAN-GP critic trained for a few Adam steps with a
gradient penalty (a second derivative through conv and pooling) from the same weights.
Skipped where PyTorch is not installed.
"""

import math

import numpy as np
import pytest

import nnkit
import nnkit.nn as nn
import nnkit.nn.functional as F
from test_conv_family import CASES
from test_ops_gradcheck import case_arrays, lib
from test_torch_parity_ops import assert_same

torch = pytest.importorskip("torch")
pytestmark = [pytest.mark.torch, pytest.mark.filterwarnings("ignore:Using padding='same'")]


@pytest.mark.parametrize("name", CASES)
def test_op_matches_torch(name, rng):
    case = CASES[name]
    assert_same(case.fn, case_arrays(rng, case), case.twice)


# --- layers -----------------------------------------------------------------------------------

LAYERS = {  # name: (constructor arguments, input shape)
    "Conv1d": ((4, 6, 3), {"stride": 2, "padding": 1, "groups": 2}, (2, 4, 9)),
    "Conv1d_same_circular": ((3, 2, 4), {"padding": "same", "padding_mode": "circular"}, (2, 3, 7)),
    "Conv2d_reflect": ((2, 3, (3, 2)), {"padding": (1, 2), "padding_mode": "reflect", "dilation": (1, 2)},
                       (2, 2, 6, 7)),
    "Conv3d": ((2, 4, (2, 3, 2)), {"stride": (1, 2, 1), "padding": 1, "bias": False}, (2, 2, 4, 5, 4)),
    "Conv3d_replicate": ((2, 2, 3), {"padding": 1, "padding_mode": "replicate"}, (1, 2, 3, 4, 5)),
    "ConvTranspose1d": ((4, 6, 3), {"stride": 2, "padding": 1, "output_padding": 1, "groups": 2}, (2, 4, 5)),
    "ConvTranspose3d": ((2, 3, 2), {"stride": (2, 1, 2), "dilation": (1, 2, 1)}, (1, 2, 3, 2, 3)),
    "MaxPool1d": ((3,), {"stride": 2, "padding": 1, "ceil_mode": True}, (2, 3, 10)),
    "MaxPool3d": (((2, 3, 2),), {"stride": 1, "dilation": (2, 1, 1)}, (1, 2, 5, 4, 4)),
    "AvgPool1d": ((3,), {"stride": 2, "padding": 1, "count_include_pad": False}, (2, 3, 10)),
    "AvgPool3d": ((2,), {"ceil_mode": True, "divisor_override": 3}, (1, 2, 5, 4, 3)),
    "AdaptiveAvgPool1d": ((4,), {}, (2, 3, 10)),
    "AdaptiveAvgPool3d": (((2, None, 3),), {}, (1, 2, 5, 4, 7)),
    "AdaptiveMaxPool1d": ((3,), {}, (2, 3, 10)),
    "AdaptiveMaxPool2d": (((3, 2),), {}, (2, 3, 7, 5)),
    "AdaptiveMaxPool3d": ((2,), {}, (1, 2, 3, 5, 4)),
    "Unfold": (((2, 3),), {"padding": 1, "stride": (2, 1)}, (2, 3, 5, 6)),
    "Fold": (((4, 5), 2), {}, (2, 12, 12)),
    "PixelShuffle": ((2,), {}, (2, 8, 3, 4)),
    "PixelUnshuffle": ((3,), {}, (1, 2, 6, 9)),
}


def _pair(name):
    args, kwargs, _ = LAYERS[name]
    kind = name.split("_")[0]
    return getattr(nn, kind)(*args, **kwargs), getattr(torch.nn, kind)(*args, **kwargs)


@pytest.mark.parametrize("name", LAYERS)
def test_layer_matches_torch(name, rng):
    """Same state_dict names and shapes, same repr; from torch's weights, the same output and gradients."""
    ours, theirs = _pair(name)
    assert repr(ours) == repr(theirs)
    assert {k: tuple(v.shape) for k, v in ours.state_dict().items()} == {
        k: tuple(v.shape) for k, v in theirs.state_dict().items()}
    ours.load_state_dict({k: v.numpy() for k, v in theirs.state_dict().items()})
    x = rng.standard_normal(LAYERS[name][2]).astype(np.float32)
    xo, xt = nnkit.tensor(x, requires_grad=True), torch.tensor(x, requires_grad=True)
    out_o, out_t = ours(xo), theirs(xt)
    np.testing.assert_allclose(out_o.detach().numpy(), out_t.detach().numpy(), rtol=1e-5, atol=1e-5)
    up = rng.standard_normal(tuple(out_t.shape)).astype(np.float32)
    out_o.backward(nnkit.tensor(up))
    out_t.backward(torch.tensor(up))
    np.testing.assert_allclose(xo.grad.numpy(), xt.grad.numpy(), rtol=1e-5, atol=1e-5)
    theirs_params = dict(theirs.named_parameters())
    for key, p in ours.named_parameters():
        np.testing.assert_allclose(p.grad.numpy(), theirs_params[key].grad.numpy(), rtol=1e-4, atol=1e-4)


@pytest.mark.parametrize("make", [
    lambda lib: lib.nn.Conv1d(16, 32, 5), lambda lib: lib.nn.Conv3d(4, 16, 3, groups=2),
    lambda lib: lib.nn.ConvTranspose1d(16, 32, 4), lambda lib: lib.nn.ConvTranspose3d(8, 4, 3),
], ids=["Conv1d", "Conv3d", "ConvTranspose1d", "ConvTranspose3d"])
def test_default_initialisation_has_torchs_statistics(make):
    """The same distribution as PyTorch's: U(−b, b) with b = 1/√fan_in, for the weight and the bias."""
    nnkit.manual_seed(0)
    torch.manual_seed(0)
    ours, theirs = make(nnkit), make(torch)
    bound = 1 / math.sqrt(theirs.weight.shape[1] * math.prod(theirs.kernel_size))
    a, b = ours.weight.detach().numpy(), theirs.weight.detach().numpy()  # thousands of values
    assert a.shape == b.shape and np.abs(a).max() <= bound
    assert abs(np.abs(a).max() - np.abs(b).max()) < 0.01 * bound
    assert abs(a.std() - b.std()) < 0.05 * bound and abs(a.std() - bound / math.sqrt(3)) < 0.05 * bound
    a, b = ours.bias.detach().numpy(), theirs.bias.detach().numpy()  # a few values: their bound only
    assert a.shape == b.shape and np.abs(a).max() <= bound and np.abs(b).max() <= bound


def test_conv_transpose_output_size_matches_torch(rng):
    x = rng.standard_normal((2, 4, 3, 2, 3)).astype(np.float32)
    for size in [(7, 5, 7), (8, 6, 8), (1, 2, 8, 5, 7)]:
        ours, theirs = nn.ConvTranspose3d(4, 2, 3, stride=3, padding=1), torch.nn.ConvTranspose3d(4, 2, 3, stride=3,
                                                                                                   padding=1)
        ours.load_state_dict({k: v.numpy() for k, v in theirs.state_dict().items()})
        np.testing.assert_allclose(ours(nnkit.tensor(x), output_size=size).detach().numpy(),
                                   theirs(torch.tensor(x), output_size=size).detach().numpy(), rtol=1e-5, atol=1e-6)


# --- pooling: indices and integer inputs ------------------------------------------------------------

@pytest.mark.parametrize("op, shape, options", [
    ("max_pool1d", (2, 3, 11), {"kernel_size": 3, "stride": 2, "padding": 1, "dilation": 2, "ceil_mode": True}),
    ("max_pool2d", (2, 3, 7, 6), {"kernel_size": (3, 2), "stride": (2, 1), "padding": 1}),
    ("max_pool3d", (1, 2, 5, 4, 6), {"kernel_size": 2, "stride": (1, 2, 2), "padding": (1, 0, 1)}),
    ("adaptive_max_pool1d", (2, 3, 11), {"output_size": 4}),
    ("adaptive_max_pool2d", (3, 7, 6), {"output_size": (3, 4)}),
    ("adaptive_max_pool3d", (1, 2, 5, 4, 6), {"output_size": (2, 3, 4)}),
])
def test_max_pool_indices_match_torch_with_ties(op, shape, options, rng):
    x = np.round(rng.standard_normal(shape), 1).astype(np.float32)  # with ties
    (out_o, idx_o), (out_t, idx_t) = (getattr(F, op)(nnkit.tensor(x), return_indices=True, **options),
                                      getattr(torch.nn.functional, op)(torch.tensor(x), return_indices=True, **options))
    np.testing.assert_array_equal(out_o.numpy(), out_t.numpy())
    np.testing.assert_array_equal(idx_o.numpy(), idx_t.numpy())


@pytest.mark.parametrize("dims", [1, 2, 3])
def test_max_unpool_matches_torch(dims, rng):
    x = rng.standard_normal((2, 3) + (5,) * dims).astype(np.float32)
    pool, unpool = f"max_pool{dims}d", f"max_unpool{dims}d"
    values, indices = getattr(F, pool)(nnkit.tensor(x), 2, return_indices=True)
    assert_same(lambda v: getattr(lib(v).nn.functional, unpool)(v, lib(v).tensor(indices.numpy()), 2,
                                                                output_size=(5,) * dims),
                [values.numpy()])


@pytest.mark.parametrize("dtype", ["int64", "int32", "int8", "uint8"])
def test_integer_max_pool2d_matches_torch(dtype, rng):
    x = rng.integers(0 if dtype == "uint8" else -100, 100, (2, 3, 7, 6)).astype(dtype)
    ours = F.max_pool2d(nnkit.tensor(x), 3, 2, 1, return_indices=True)
    theirs = torch.nn.functional.max_pool2d(torch.tensor(x), 3, 2, 1, return_indices=True)
    for a, b in zip(ours, theirs):
        assert a.numpy().dtype == b.numpy().dtype
        np.testing.assert_array_equal(a.numpy(), b.numpy())
    x64 = rng.integers(-100, 100, (2, 3, 7, 6))
    np.testing.assert_array_equal(F.avg_pool2d(nnkit.tensor(x64), 3, 2, 1).numpy(),
                                  torch.nn.functional.avg_pool2d(torch.tensor(x64), 3, 2, 1).numpy())


@pytest.mark.parametrize("call", [
    lambda lib, F: F.conv1d(lib.zeros(1, 3, 5, 5), lib.zeros(4, 3, 3)),
    lambda lib, F: F.conv2d(lib.zeros(1, 3, 5, 5), lib.zeros(4, 3, 3, 3), stride=0),
    lambda lib, F: F.conv3d(lib.zeros(1, 3, 5, 5, 5), lib.zeros(4, 3, 3, 3, 3), padding=-1),
    lambda lib, F: F.conv2d(lib.zeros(1, 3, 5, 5), lib.zeros(4, 3, 3, 3), stride=2, padding="same"),
    lambda lib, F: F.conv2d(lib.zeros(1, 3, 2, 2), lib.zeros(4, 3, 3, 3)),
    lambda lib, F: F.conv_transpose1d(lib.zeros(1, 3, 2), lib.zeros(3, 1, 3), stride=2, output_padding=2),
    lambda lib, F: lib.nn.Conv1d(3, 4, 3, stride=2, padding="same"),
    lambda lib, F: lib.nn.Conv3d(3, 4, 3, groups=2),
    lambda lib, F: lib.nn.ConvTranspose3d(3, 4, 3, padding_mode="reflect"),
    lambda lib, F: F.max_pool1d(lib.zeros(1, 3, 5, 5), 2),
    lambda lib, F: F.max_pool2d(lib.zeros(1, 1, 4, 4), 2, padding=2),
    lambda lib, F: F.max_pool3d(lib.zeros(1, 1, 2, 2, 2), 3),
    lambda lib, F: F.avg_pool2d(lib.zeros(1, 1, 4, 4), 2, divisor_override=0),
    lambda lib, F: F.max_unpool2d(lib.zeros(1, 1, 2, 2), lib.zeros(1, 1, 2, 2, dtype=lib.int64), 2, output_size=(7, 7)),
    lambda lib, F: F.max_unpool2d(lib.zeros(1, 1, 2, 2), lib.full((1, 1, 2, 2), 99), 2),
    lambda lib, F: F.unfold(lib.zeros(1, 2, 3, 4, 5), 2),
    lambda lib, F: F.fold(lib.zeros(1, 8, 11), (4, 5), 2),
    lambda lib, F: F.pixel_shuffle(lib.zeros(1, 3, 4, 5), 2),
    lambda lib, F: F.pad(lib.zeros(2, 3, 4, 5), (1, 1), mode="reflect"),
    lambda lib, F: F.pad(lib.zeros(1, 1, 6), (6, -6), mode="reflect"),
    lambda lib, F: F.pad(lib.zeros(1, 1, 6), (1,)),
    lambda lib, F: F.max_pool2d(lib.zeros(1, 1, 4, 4, dtype=lib.bool), 2),
])
def test_errors_have_torchs_types(call):
    with pytest.raises(Exception) as theirs:
        call(torch, torch.nn.functional)
    with pytest.raises(type(theirs.value)):
        call(nnkit, F)


# --- WGAN-GP: a second derivative through a CNN, as an optimiser sees it -----------------------------

def _critic(lib):
    nn_ = lib.nn
    return nn_.Sequential(nn_.Conv2d(1, 4, 3, padding=1), nn_.LeakyReLU(0.2), nn_.AvgPool2d(2),
                          nn_.Conv2d(4, 8, 3, padding=1), nn_.LeakyReLU(0.2), nn_.MaxPool2d(2),
                          nn_.Flatten(), nn_.Linear(8 * 2 * 2, 1))


def _wgan_gp_steps(lib, state: dict, data: dict, steps: int = 4) -> dict:
    """Adam on critic_loss + 10 · gp, where gp = mean((‖∇_x critic(x̂)‖ − 1)²) at the interpolates x̂.

    Adam's eps is 1e-5: a conv bias whose channel stays on one side of the LeakyReLU gets a gradient
    that cancels exactly (the same Σ for the fake and the real term), so its float32 rounding noise,
    about 1e-9, would otherwise be scaled up to a full step of either sign."""
    critic = _critic(lib)
    critic.load_state_dict({k: lib.tensor(v) for k, v in state.items()})
    opt = lib.optim.Adam(critic.parameters(), lr=1e-3, betas=(0.5, 0.9), eps=1e-5)
    for step in range(steps):
        real, fake, eps = (lib.tensor(data[k][step]) for k in ("real", "fake", "eps"))
        interp = (eps * real + (1 - eps) * fake).requires_grad_(True)
        (grad,) = lib.autograd.grad(critic(interp).sum(), interp, create_graph=True)
        norm = (grad.reshape(grad.shape[0], -1).pow(2).sum(1) + 1e-12).sqrt()
        loss = critic(fake).mean() - critic(real).mean() + 10 * ((norm - 1) ** 2).mean()
        opt.zero_grad()
        loss.backward()
        opt.step()
    return {k: v.detach().numpy() for k, v in critic.state_dict().items()}


def test_wgan_gp_training_steps_match_torch(rng):
    torch.manual_seed(0)
    state = {k: v.numpy() for k, v in _critic(torch).state_dict().items()}
    steps, batch = 4, 6
    data = {"real": rng.standard_normal((steps, batch, 1, 8, 8)).astype(np.float32) + 1.0,
            "fake": rng.standard_normal((steps, batch, 1, 8, 8)).astype(np.float32),
            "eps": rng.uniform(size=(steps, batch, 1, 1, 1)).astype(np.float32)}
    ours, theirs = _wgan_gp_steps(nnkit, state, data, steps), _wgan_gp_steps(torch, state, data, steps)
    assert list(ours) == list(theirs)
    for key in ours:
        if key.endswith("weight"):  # (the last bias gets no gradient: critic_loss is a difference of means)
            assert not np.allclose(ours[key], state[key], rtol=0, atol=1e-4)
        np.testing.assert_allclose(ours[key], theirs[key], rtol=1e-4, atol=2e-5, err_msg=key)
