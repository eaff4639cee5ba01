"""Mixed precision: ``nnkit.autocast``'s policy, bfloat16 tensors and ``nnkit.amp.GradScaler``.

Without torch: which ops run in which dtype, that master weights stay float32,
that gradients reach them, per-thread state, nesting, the scaler's rules. With
torch (marked ``torch``): the same model's loss and gradients under both
libraries' autocast, and the scaler's scale history, skipped steps and
parameters against ``torch.amp.GradScaler`` step for step.
"""

import threading
import warnings

import numpy as np
import pytest

import nnkit
import nnkit.nn as nn
import nnkit.nn.functional as F
from nnkit.amp import GradScaler

pytestmark = pytest.mark.skipif(nnkit.bfloat16 is None, reason="ml_dtypes is not installed")

BF16 = nnkit.bfloat16


def rel_err(ours, theirs) -> float:
    ours, theirs = np.asarray(ours, dtype=np.float64), np.asarray(theirs, dtype=np.float64)
    return float(np.linalg.norm(ours - theirs) / np.linalg.norm(theirs))


# --- bfloat16 tensors -------------------------------------------------------

def test_bfloat16_tensors_round_to_8_bits_and_carry_gradients():
    x = nnkit.tensor([1.0, 1.0 + 2 ** -8, 1.0 + 2 ** -7, 3.0e38], requires_grad=True)
    y = x.to(BF16)
    assert y.dtype == BF16
    # 8 significant bits: 1 + 2^-8 rounds (to even) to 1; float32's range survives.
    np.testing.assert_array_equal(y.detach().float().numpy()[:3], [1.0, 1.0, 1.0 + 2 ** -7])
    assert np.isfinite(y.detach().float().numpy()[3])
    (y.float() * nnkit.tensor([1.0, 2.0, 3.0, 4.0])).sum().backward()
    assert x.grad.dtype == nnkit.float32
    np.testing.assert_array_equal(x.grad.numpy(), [1.0, 2.0, 3.0, 4.0])


def test_half_precision_sums_accumulate_in_float32():
    ones = nnkit.ones(4096, 3).to(BF16)
    assert ones.sum(0).float().tolist() == [4096.0] * 3  # a bfloat16 accumulator would stop at 256
    assert nnkit.ones(4096, 3).half().sum(0).float().tolist() == [4096.0] * 3  # float16's, at 2048


def test_a_bfloat16_leaf_can_require_grad_and_promotes_with_float32():
    w = nnkit.ones(3).to(BF16).requires_grad_()
    out = w * nnkit.ones(3)
    assert out.dtype == nnkit.float32  # as PyTorch: bfloat16 x float32 -> float32
    out.sum().backward()
    assert w.grad.dtype == BF16


def test_a_module_can_be_cast_to_bfloat16_and_trained():
    nnkit.manual_seed(0)
    model = nn.Sequential(nn.Linear(4, 8), nn.Tanh(), nn.Linear(8, 1)).bfloat16()
    assert all(p.dtype == BF16 for p in model.parameters())
    x = nnkit.randn(32, 4).bfloat16()
    target = x.float().sum(1, keepdim=True)
    opt = nnkit.optim.SGD(model.parameters(), lr=0.05)
    losses = []
    for _ in range(40):
        loss = F.mse_loss(model(x).float(), target)
        opt.zero_grad()
        loss.backward()
        opt.step()
        losses.append(float(loss))
    assert model[0].weight.grad.dtype == BF16 and model[0].weight.dtype == BF16
    assert losses[-1] < 0.5 * losses[0]


# --- the policy ---------------------------------------------------------------

def small_inputs():
    nnkit.manual_seed(0)
    return nnkit.randn(4, 8), nn.Linear(8, 5)


@pytest.mark.parametrize("dtype", ["bfloat16", "float16"])
def test_matmul_heavy_ops_run_in_the_low_dtype(dtype):
    low = getattr(nnkit, dtype)
    x, lin = small_inputs()
    img, conv = nnkit.randn(2, 3, 6, 6), nn.Conv2d(3, 4, 3)
    q = nnkit.randn(2, 5, 8)
    with nnkit.autocast("cpu", dtype=low):
        assert lin(x).dtype == low
        assert (x @ x.T).dtype == low
        assert nnkit.matmul(x, x.T).dtype == low
        assert conv(img).dtype == low
        assert F.scaled_dot_product_attention(q, q, q).dtype == low
        assert F.conv_transpose2d(img, nnkit.randn(3, 2, 3, 3)).dtype == low
    assert lin.weight.dtype == nnkit.float32 and conv.weight.dtype == nnkit.float32


def test_precision_sensitive_ops_run_in_float32():
    x, lin = small_inputs()
    target = nnkit.tensor([0, 1, 2, 3])
    with nnkit.autocast("cpu", dtype=BF16):
        h = lin(x)
        assert h.dtype == BF16
        for out in (F.softmax(h, dim=-1), F.log_softmax(h, dim=-1), h.sum(), h.mean(), h.var(),
                    h.logsumexp(-1), F.layer_norm(h, (5,)), F.cross_entropy(h, target),
                    F.mse_loss(h, h.detach()), F.nll_loss(F.log_softmax(h, dim=-1), target),
                    F.binary_cross_entropy_with_logits(h, nnkit.zeros(4, 5))):
            assert out.dtype == nnkit.float32
        # Other ops keep their input's dtype; mixed inputs promote to the wider one.
        assert h.relu().dtype == BF16 and F.max_pool2d(h[None], 1).dtype == BF16
        assert (h + x[:, :5]).dtype == nnkit.float32
        assert nnkit.cat([h, x[:, :5]]).dtype == nnkit.float32


def test_float64_and_integer_tensors_are_left_alone():
    a = nnkit.randn(3, 3, dtype=nnkit.float64)
    with nnkit.autocast("cpu", dtype=BF16):
        assert (a @ a).dtype == nnkit.float64
        assert F.embedding(nnkit.tensor([0, 2]), nnkit.randn(3, 4)).dtype == nnkit.float32


def test_master_weights_get_float32_gradients_that_match_the_rounded_computation():
    x, lin = small_inputs()
    with nnkit.autocast("cpu", dtype=BF16):
        loss = lin(x).float().pow(2).sum()
    loss.backward()
    assert lin.weight.grad.dtype == nnkit.float32 and lin.bias.grad.dtype == nnkit.float32
    # By hand: the product of the bfloat16-rounded operands (float32 accumulation), rounded,
    # plus the rounded bias, rounded; then d(Σ out²)/d(bias) = 2 Σ out.
    xb, wb = x.to(BF16).float().numpy(), lin.weight.detach().to(BF16).float().numpy()
    product = (xb @ wb.T).astype(BF16)
    out = (product + lin.bias.detach().to(BF16).numpy()).astype(np.float32)
    np.testing.assert_allclose(float(loss), (out.astype(np.float64) ** 2).sum(), rtol=1e-6)
    np.testing.assert_allclose(lin.bias.grad.numpy(), 2 * out.sum(0), rtol=2e-2)


def test_enabled_false_nesting_and_decorator():
    x, lin = small_inputs()
    with nnkit.autocast("cpu", dtype=BF16):
        with nnkit.autocast("cpu", enabled=False):
            assert lin(x).dtype == nnkit.float32
        assert lin(x).dtype == BF16
        with nnkit.autocast("cpu", dtype=nnkit.float16):
            assert lin(x).dtype == nnkit.float16
        assert lin(x).dtype == BF16
    assert lin(x).dtype == nnkit.float32
    assert not nnkit.amp.is_autocast_enabled("cpu")

    @nnkit.autocast("cpu", dtype=BF16)
    def forward(inp):
        assert nnkit.amp.is_autocast_enabled("cpu") and nnkit.amp.get_autocast_dtype("cpu") == BF16
        return lin(inp)
    assert forward(x).dtype == BF16 and lin(x).dtype == nnkit.float32


def test_autocast_state_is_per_thread():
    x, lin = small_inputs()
    seen = []
    with nnkit.autocast("cpu", dtype=BF16):
        worker = threading.Thread(target=lambda: seen.append(lin(x).dtype))
        worker.start()
        worker.join()
        assert lin(x).dtype == BF16
    assert seen == [nnkit.float32]


def test_autocast_leaves_tensors_on_devices_it_is_not_enabled_for():
    x, lin = small_inputs()
    with nnkit.autocast("cuda", dtype=nnkit.float16):
        assert lin(x).dtype == nnkit.float32  # these tensors are on the CPU


def test_unsupported_dtype_warns_and_disables_as_pytorch():
    x, lin = small_inputs()
    with pytest.warns(UserWarning, match="disabling autocast"):
        region = nnkit.autocast("cpu", dtype=nnkit.float64)
    with region:
        assert lin(x).dtype == nnkit.float32
    with pytest.raises(ValueError, match="device_type must be 'cpu' or 'cuda'"):
        nnkit.autocast("tpu")


def test_a_weight_used_twice_is_cast_once_and_gets_both_gradients():
    x, lin = small_inputs()
    sq = nn.Linear(5, 5)
    with nnkit.autocast("cpu", dtype=BF16):
        loss = sq(sq(lin(x))).float().sum()
    loss.backward()
    with nnkit.autocast("cpu", enabled=False):
        ref = sq(sq(lin(x))).sum()
    grads = [p.grad.numpy().copy() for p in (*lin.parameters(), *sq.parameters())]
    for p in (*lin.parameters(), *sq.parameters()):
        p.grad = None
    ref.backward()
    for g, p in zip(grads, (*lin.parameters(), *sq.parameters())):
        assert rel_err(g, p.grad.numpy()) < 3e-2


def test_a_cnn_trains_under_autocast():
    nnkit.manual_seed(0)
    model = nn.Sequential(nn.Conv2d(1, 4, 3, padding=1), nn.BatchNorm2d(4), nn.ReLU(), nn.MaxPool2d(2),
                          nn.Flatten(), nn.Linear(4 * 4 * 4, 3))
    x = nnkit.randn(16, 1, 8, 8)
    y = nnkit.randint(0, 3, (16,))
    opt = nnkit.optim.SGD(model.parameters(), lr=0.1)
    losses = []
    for _ in range(30):
        with nnkit.autocast("cpu", dtype=BF16):
            loss = F.cross_entropy(model(x), y)
        opt.zero_grad()
        loss.backward()
        opt.step()
        losses.append(float(loss))
    assert all(p.dtype == nnkit.float32 for p in model.parameters())
    assert losses[-1] < 0.3 * losses[0]


# --- GradScaler without torch ---------------------------------------------------

def one_param_optimizer(value=1.0):
    p = nn.Parameter(nnkit.tensor([value]))
    return p, nnkit.optim.SGD([p], lr=1.0)


def test_scaler_scales_unscales_and_steps():
    p, opt = one_param_optimizer()
    scaler = GradScaler(init_scale=8.0)
    loss = (p * 3.0).sum()
    scaled = scaler.scale(loss)
    assert float(scaled) == 24.0
    scaled.backward()
    assert float(p.grad) == 24.0
    scaler.unscale_(opt)
    assert float(p.grad) == 3.0
    scaler.step(opt)
    scaler.update()
    assert float(p) == -2.0 and scaler.get_scale() == 8.0


def test_scaler_skips_a_step_with_inf_and_backs_off():
    p, opt = one_param_optimizer()
    scaler = GradScaler(init_scale=8.0, growth_interval=2)
    p.grad = nnkit.tensor([float("inf")])
    assert scaler.step(opt) is None
    scaler.update()
    assert float(p) == 1.0 and scaler.get_scale() == 4.0
    for expected in (4.0, 8.0):  # two clean steps grow the scale
        p.grad = nnkit.tensor([4.0])
        scaler.step(opt)
        scaler.update()
        assert scaler.get_scale() == expected
    p.grad = nnkit.tensor([float("nan")])
    scaler.step(opt)
    scaler.update()
    assert scaler.get_scale() == 4.0


def test_scaler_misuse_gives_pytorchs_errors():
    p, opt = one_param_optimizer()
    scaler = GradScaler()
    p.grad = nnkit.tensor([1.0])
    scaler.unscale_(opt)
    with pytest.raises(RuntimeError, match="already been called on this optimizer"):
        scaler.unscale_(opt)
    scaler.step(opt)
    with pytest.raises(RuntimeError, match="after step"):
        scaler.unscale_(opt)
    with pytest.raises(RuntimeError, match="step\\(\\) has already been called"):
        scaler.step(opt)
    with pytest.raises(RuntimeError, match="Closure"):
        GradScaler().step(opt, closure=lambda: 0.0)
    with pytest.raises(AssertionError, match="No inf checks"):
        GradScaler().update()
    half = nn.Parameter(nnkit.ones(1).half())
    half.grad = nnkit.ones(1).half()
    with pytest.raises(ValueError, match="unscale FP16 gradients"):
        GradScaler().unscale_(nnkit.optim.SGD([half], lr=1.0))
    with pytest.raises(ValueError, match="growth_factor"):
        GradScaler(growth_factor=0.5)


def test_scaler_state_dict_round_trip_and_disabled_scaler():
    scaler = GradScaler(init_scale=1024.0, growth_interval=3)
    p, opt = one_param_optimizer()
    p.grad = nnkit.tensor([1.0])
    scaler.step(opt)
    scaler.update()
    state = scaler.state_dict()
    assert state == {"scale": 1024.0, "growth_factor": 2.0, "backoff_factor": 0.5, "growth_interval": 3,
                     "_growth_tracker": 1}
    other = GradScaler()
    other.load_state_dict(state)
    assert other.state_dict() == state
    with pytest.raises(RuntimeError, match="source state dict is empty"):
        other.load_state_dict({})
    off = GradScaler(enabled=False)
    loss = nnkit.tensor(2.0)
    assert off.scale(loss) is loss and off.get_scale() == 1.0 and off.state_dict() == {}
    p.grad = nnkit.tensor([float("inf")])
    off.step(opt)  # a disabled scaler steps regardless
    assert not np.isfinite(float(p))


# --- against PyTorch ----------------------------------------------------------------

def torch_mlp_pair(torch, seed=0):
    torch.manual_seed(seed)
    theirs = torch.nn.Sequential(torch.nn.Linear(16, 32), torch.nn.GELU(), torch.nn.LayerNorm(32),
                                 torch.nn.Linear(32, 10))
    ours = nn.Sequential(nn.Linear(16, 32), nn.GELU(), nn.LayerNorm(32), nn.Linear(32, 10))
    ours.load_state_dict({k: v.numpy() for k, v in theirs.state_dict().items()})
    return ours, theirs


@pytest.mark.torch
def test_autocast_loss_and_gradients_match_torch_autocast():
    torch = pytest.importorskip("torch")
    ours, theirs = torch_mlp_pair(torch)
    rng = np.random.default_rng(0)
    x = rng.standard_normal((64, 16)).astype(np.float32)
    y = rng.integers(0, 10, 64)
    with nnkit.autocast("cpu", dtype=BF16):
        loss = F.cross_entropy(ours(nnkit.tensor(x)), nnkit.tensor(y))
    loss.backward()
    with torch.autocast("cpu", dtype=torch.bfloat16):
        tloss = torch.nn.functional.cross_entropy(theirs(torch.tensor(x)), torch.tensor(y))
    tloss.backward()
    assert loss.dtype == nnkit.float32 and tloss.dtype == torch.float32
    # The float32 run (no autocast) shows that bfloat16 rounding really happened.
    ours32, _ = torch_mlp_pair(torch)
    F.cross_entropy(ours32(nnkit.tensor(x)), nnkit.tensor(y)).backward()
    assert abs(float(loss) - float(tloss)) < 2e-3 * abs(float(tloss))
    named = dict(theirs.named_parameters())
    for (name, p), p32 in zip(ours.named_parameters(), ours32.parameters()):
        assert p.grad.dtype == nnkit.float32
        assert rel_err(p.grad.numpy(), named[name].grad.numpy()) < 1.5e-2, name
        assert rel_err(p.grad.numpy(), p32.grad.numpy()) > 1e-4, name  # not a float32 computation


@pytest.mark.torch
def test_autocast_conv_net_matches_torch_autocast():
    torch = pytest.importorskip("torch")
    torch.manual_seed(1)
    theirs = torch.nn.Sequential(torch.nn.Conv2d(1, 6, 3, padding=1), torch.nn.ReLU(), torch.nn.MaxPool2d(2),
                                 torch.nn.Conv2d(6, 8, 3), torch.nn.ReLU(), torch.nn.Flatten(),
                                 torch.nn.Linear(8 * 2 * 2, 10))
    ours = nn.Sequential(nn.Conv2d(1, 6, 3, padding=1), nn.ReLU(), nn.MaxPool2d(2), nn.Conv2d(6, 8, 3),
                         nn.ReLU(), nn.Flatten(), nn.Linear(8 * 2 * 2, 10))
    ours.load_state_dict({k: v.numpy() for k, v in theirs.state_dict().items()})
    x = np.random.default_rng(1).standard_normal((32, 1, 8, 8)).astype(np.float32)
    y = np.arange(32) % 10
    with nnkit.autocast("cpu", dtype=BF16):
        out = ours(nnkit.tensor(x))
        loss = F.cross_entropy(out, nnkit.tensor(y))
    loss.backward()
    with torch.autocast("cpu", dtype=torch.bfloat16):
        tout = theirs(torch.tensor(x))
        tloss = torch.nn.functional.cross_entropy(tout, torch.tensor(y))
    tloss.backward()
    assert out.dtype == BF16 and tout.dtype == torch.bfloat16
    assert rel_err(out.detach().float().numpy(), tout.float().detach().numpy()) < 1e-2
    assert abs(float(loss) - float(tloss)) < 5e-3 * abs(float(tloss))
    # Gradients: PyTorch's bfloat16 convolution backward rounds more than nnkit's (whose
    # products accumulate in float32), so both are compared with the float32 gradients:
    # nnkit's mixed-precision gradients must be at least as accurate as PyTorch's.
    bf16_grads = {name: p.grad.numpy().copy() for name, p in theirs.named_parameters()}
    theirs.zero_grad()
    torch.nn.functional.cross_entropy(theirs(torch.tensor(x)), torch.tensor(y)).backward()
    for name, p in theirs.named_parameters():
        ours_err = rel_err(dict(ours.named_parameters())[name].grad.numpy(), p.grad.numpy())
        assert ours_err <= max(1.25 * rel_err(bf16_grads[name], p.grad.numpy()), 1e-2), name


def run_scaler_history(lib, grads_per_step, **kwargs):
    """Feed the same gradients (some inf/NaN) to a scaler; return scales, params and step results."""
    torch = pytest.importorskip("torch") if lib == "torch" else None
    if lib == "torch":
        p = torch.nn.Parameter(torch.tensor([1.0, -2.0]))
        opt = torch.optim.SGD([p], lr=0.1, momentum=0.9)
        scaler = torch.amp.GradScaler("cpu", **kwargs)
    else:
        p = nn.Parameter(nnkit.tensor([1.0, -2.0]))
        opt = nnkit.optim.SGD([p], lr=0.1, momentum=0.9)
        scaler = GradScaler("cpu", **kwargs)
    scales, params, trackers = [], [], []
    for g in grads_per_step:
        opt.zero_grad()
        scale = scaler.get_scale()
        scaler.scale(torch.ones(()) if lib == "torch" else nnkit.ones(()))  # PyTorch's scale is made lazily
        value = np.asarray(g, dtype=np.float32) * np.float32(scale)
        p.grad = torch.tensor(value) if lib == "torch" else nnkit.tensor(value)
        scaler.step(opt)
        scaler.update()
        scales.append(scaler.get_scale())
        params.append(np.array(p.detach().numpy()))
        trackers.append(scaler.state_dict()["_growth_tracker"])
    return scales, params, trackers


@pytest.mark.torch
def test_scaler_history_matches_torch_step_for_step():
    inf, nan = float("inf"), float("nan")
    grads = [[0.5, 0.25], [inf, 1.0], [0.1, 0.1], [0.2, -0.3], [0.2, nan], [1.0, 2.0], [0.3, 0.3],
             [0.1, 0.2], [inf, inf], [0.5, 0.5], [0.25, 0.5], [0.5, 0.125]]
    kwargs = dict(init_scale=2.0 ** 10, growth_factor=4.0, backoff_factor=0.25, growth_interval=3)
    ours = run_scaler_history("nnkit", grads, **kwargs)
    theirs = run_scaler_history("torch", grads, **kwargs)
    assert ours[0] == theirs[0]  # the scale after every update
    assert ours[2] == theirs[2]  # the growth tracker
    np.testing.assert_allclose(np.array(ours[1]), np.array(theirs[1]), rtol=1e-6)


@pytest.mark.torch
def test_float16_training_with_scaler_matches_torch():
    """Float16 autocast with a scale so large that the first steps overflow: both libraries
    skip the same steps, back off to the same scale and reach the same weights."""
    torch = pytest.importorskip("torch")
    ours, theirs = torch_mlp_pair(torch, seed=3)
    rng = np.random.default_rng(3)
    x = rng.standard_normal((32, 16)).astype(np.float32)
    y = rng.integers(0, 10, 32)
    o_opt = nnkit.optim.SGD(ours.parameters(), lr=0.05)
    t_opt = torch.optim.SGD(theirs.parameters(), lr=0.05)
    kwargs = dict(init_scale=2.0 ** 24, growth_interval=4)
    o_scaler, t_scaler = GradScaler("cpu", **kwargs), torch.amp.GradScaler("cpu", **kwargs)
    o_scales, t_scales = [], []
    for _ in range(16):
        with nnkit.autocast("cpu", dtype=nnkit.float16):
            loss = F.cross_entropy(ours(nnkit.tensor(x)), nnkit.tensor(y))
        o_opt.zero_grad()
        o_scaler.scale(loss).backward()
        o_scaler.step(o_opt)
        o_scaler.update()
        o_scales.append(o_scaler.get_scale())
        with torch.autocast("cpu", dtype=torch.float16):
            tloss = torch.nn.functional.cross_entropy(theirs(torch.tensor(x)), torch.tensor(y))
        t_opt.zero_grad()
        t_scaler.scale(tloss).backward()
        t_scaler.step(t_opt)
        t_scaler.update()
        t_scales.append(t_scaler.get_scale())
    assert o_scales[0] < 2.0 ** 24  # the first step overflowed and was skipped
    assert o_scales == t_scales
    named = dict(theirs.named_parameters())
    for name, p in ours.named_parameters():
        assert rel_err(p.detach().numpy(), named[name].detach().numpy()) < 1e-2, name


# --- on a GPU -----------------------------------------------------------------------

@pytest.mark.gpu
def test_float16_autocast_and_scaler_on_cuda_match_the_cpu():
    def run(device):
        nnkit.manual_seed(0)
        model = nn.Sequential(nn.Linear(16, 32), nn.ReLU(), nn.Linear(32, 10)).to(device)
        x = nnkit.randn(64, 16).to(device)
        y = nnkit.randint(0, 10, (64,)).to(device)
        opt = nnkit.optim.SGD(model.parameters(), lr=0.1)
        scaler = GradScaler(device, init_scale=2.0 ** 40, growth_interval=2)
        scales, dtypes = [], None
        for _ in range(6):
            with nnkit.autocast(device, dtype=nnkit.float16):
                out = model(x)
                loss = F.cross_entropy(out, y)
            dtypes = (out.dtype, loss.dtype)
            opt.zero_grad()
            with np.errstate(over="ignore", invalid="ignore"):
                scaler.scale(loss).backward()
            scaler.step(opt)
            scaler.update()
            scales.append(scaler.get_scale())
        return dtypes, scales, [p.detach().cpu().numpy() for p in model.parameters()]

    (gpu_dtypes, gpu_scales, gpu_params), (_, cpu_scales, cpu_params) = run("cuda"), run("cpu")
    assert gpu_dtypes == (nnkit.float16, nnkit.float32)
    assert gpu_scales == cpu_scales and gpu_scales[0] < 2.0 ** 40  # the first step overflowed on both
    for g, c in zip(gpu_params, cpu_params):
        assert rel_err(g, c) < 1e-2


def test_the_weight_cast_cache_lives_for_the_region_as_in_pytorch():
    lin = nn.Linear(4, 4)
    opt = nnkit.optim.SGD(lin.parameters(), lr=1.0)
    x = nnkit.randn(2, 4)
    for cache_enabled, changed in ((True, False), (False, True)):
        with nnkit.autocast("cpu", dtype=BF16, cache_enabled=cache_enabled):
            first = lin(x)
            first.float().sum().backward()
            opt.step()
            second = lin(x)
        assert (not np.array_equal(first.detach().float().numpy(), second.detach().float().numpy())) == changed
    with nnkit.autocast("cpu", dtype=BF16):
        before = lin(x)
    before.float().sum().backward()
    opt.step()
    with nnkit.autocast("cpu", dtype=BF16):
        after = lin(x)  # a new region casts the updated weights
    assert not np.array_equal(before.detach().float().numpy(), after.detach().float().numpy())
