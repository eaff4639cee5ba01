"""Activation checkpointing (``nnkit.utils.checkpoint.checkpoint``): the same gradients
as the plain call, bit for bit (dropout included), less memory, and PyTorch's behaviour."""

import tracemalloc

import numpy as np
import pytest

import nnkit
import nnkit.nn as nn
import nnkit.nn.functional as F
from nnkit.utils.checkpoint import checkpoint


def make_blocks(n=3, width=16, p=0.2, dtype=nnkit.float32):
    nnkit.manual_seed(0)
    blocks = [nn.Sequential(nn.Linear(width, width), nn.GELU(), nn.Dropout(p)) for _ in range(n)]
    return [b.to(dtype) for b in blocks]


def forward(blocks, x, use_checkpoint, seed=1):
    nnkit.manual_seed(seed)
    h = x
    for block in blocks:
        h = checkpoint(block, h, use_reentrant=False) if use_checkpoint else block(h)
    return (h * h).sum()


def grads_of(blocks, x, use_checkpoint):
    for b in blocks:
        b.zero_grad()
    x.grad = None
    loss = forward(blocks, x, use_checkpoint)
    loss.backward()
    return float(loss), [p.grad.numpy().copy() for b in blocks for p in b.parameters()] + [x.grad.numpy().copy()]


def test_gradients_equal_the_plain_call_exactly_with_dropout():
    blocks = make_blocks()
    x = nnkit.randn(8, 16, requires_grad=True)
    loss_plain, plain = grads_of(blocks, x, False)
    loss_ckpt, ckpt = grads_of(blocks, x, True)
    assert loss_plain == loss_ckpt
    for a, b in zip(plain, ckpt):
        np.testing.assert_array_equal(a, b)


def test_without_preserved_rng_state_the_dropout_masks_differ():
    blocks = make_blocks(n=1, p=0.5)
    x = nnkit.randn(64, 16, requires_grad=True)
    _, plain = grads_of(blocks, x, False)
    nnkit.manual_seed(1)
    loss = (checkpoint(blocks[0], x, use_reentrant=False, preserve_rng_state=False) ** 2).sum()
    x.grad = None
    loss.backward()
    assert not np.allclose(x.grad.numpy(), plain[-1])


def test_the_random_stream_after_backward_is_that_of_the_plain_run():
    blocks = make_blocks()
    x = nnkit.randn(8, 16, requires_grad=True)
    forward(blocks, x, False).backward()
    after_plain = nnkit.rand(3).numpy()
    forward(blocks, x, True).backward()
    np.testing.assert_array_equal(nnkit.rand(3).numpy(), after_plain)


def test_autograd_grad_and_inputs_that_need_no_gradient():
    blocks = make_blocks(n=2)
    x = nnkit.randn(4, 16)  # no gradient wanted for the input: the weights still get theirs
    params = [p for b in blocks for p in b.parameters()]
    plain = nnkit.autograd.grad(forward(blocks, x, False), params)
    ckpt = nnkit.autograd.grad(forward(blocks, x, True), params)
    for a, b in zip(plain, ckpt):
        np.testing.assert_array_equal(a.numpy(), b.numpy())
    assert all(p.grad is None for p in params)  # grad() leaves .grad alone


def test_several_outputs_one_of_them_unused_and_keyword_arguments():
    lin = nn.Linear(6, 6)
    x = nnkit.randn(3, 6, requires_grad=True)

    def two(inp, scale=1.0):
        h = lin(inp)
        return h.tanh() * scale, h.sigmoid(), "a label"

    a, b, label = checkpoint(two, x, use_reentrant=False, scale=2.0)
    assert label == "a label"
    (a.sum() * 3).backward()
    got = x.grad.numpy().copy(), lin.weight.grad.numpy().copy()
    x.grad = lin.weight.grad = lin.bias.grad = None
    a2, _, _ = two(x, scale=2.0)
    (a2.sum() * 3).backward()
    np.testing.assert_allclose(got[0], x.grad.numpy(), rtol=1e-6)
    np.testing.assert_allclose(got[1], lin.weight.grad.numpy(), rtol=1e-6)


def test_gradcheck_in_float64_through_a_checkpointed_block():
    nnkit.manual_seed(0)
    w = nnkit.randn(5, 4, dtype=nnkit.float64, requires_grad=True)
    x = nnkit.randn(3, 5, dtype=nnkit.float64, requires_grad=True)
    y = nnkit.randn(4, 3, dtype=nnkit.float64, requires_grad=True).T  # non-contiguous

    def block(a, b):
        return (a @ w).tanh() * b

    nnkit.gradcheck(lambda a, b: checkpoint(block, a, b, use_reentrant=False), [x, y])


def test_second_derivatives_through_a_checkpoint():
    x = nnkit.tensor([0.3, -1.2, 2.0], dtype=nnkit.float64, requires_grad=True)
    (g,) = nnkit.autograd.grad(checkpoint(lambda a: (a ** 3).sum(), x, use_reentrant=False), x,
                               create_graph=True)
    (gg,) = nnkit.autograd.grad(g.sum(), x)
    np.testing.assert_allclose(gg.numpy(), 6 * x.detach().numpy())


def test_under_no_grad_it_is_the_plain_call_and_bad_arguments_are_named():
    lin = nn.Linear(3, 3)
    with nnkit.no_grad():
        out = checkpoint(lin, nnkit.ones(2, 3), use_reentrant=False)
    assert out.grad_fn is None
    with pytest.raises(NotImplementedError, match="use_reentrant=True"):
        checkpoint(lin, nnkit.ones(2, 3), use_reentrant=True)
    with pytest.raises(TypeError, match="must be callable"):
        checkpoint(3, nnkit.ones(2, 3), use_reentrant=False)


def test_the_autocast_state_of_the_forward_is_used_again_in_the_recomputation():
    if nnkit.bfloat16 is None:
        pytest.skip("ml_dtypes is not installed")
    blocks = make_blocks(n=2, p=0.0)
    x = nnkit.randn(8, 16, requires_grad=True)
    results = []
    for use in (False, True):
        with nnkit.autocast("cpu", dtype=nnkit.bfloat16):
            loss = forward(blocks, x, use)
        for b in blocks:
            b.zero_grad()
        loss.backward()  # outside autocast: the recomputation must still run in bfloat16
        results.append([p.grad.numpy().copy() for b in blocks for p in b.parameters()])
    for a, b in zip(*results):
        np.testing.assert_array_equal(a, b)


def peak_bytes(fn) -> int:
    tracemalloc.start()
    try:
        fn()
        return tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()


def test_peak_memory_is_lower_with_checkpointing():
    """Eight blocks of width 256 on a batch of 512: each keeps several (512, 256) float32
    activations for backward (0.5 MB each); checkpointing keeps only the blocks' inputs."""
    blocks = make_blocks(n=8, width=256, p=0.0)
    x = nnkit.randn(512, 256, requires_grad=True)

    def step(use):
        return lambda: forward(blocks, x, use).backward()
    step(True)()  # warm up (lazy imports, caches)
    plain, ckpt = peak_bytes(step(False)), peak_bytes(step(True))
    assert ckpt < 0.6 * plain, (plain, ckpt)


@pytest.mark.torch
def test_gradients_match_torch_utils_checkpoint():
    torch = pytest.importorskip("torch")
    import torch.utils.checkpoint as tcp
    torch.manual_seed(0)
    theirs = [torch.nn.Sequential(torch.nn.Linear(12, 12), torch.nn.GELU(), torch.nn.LayerNorm(12))
              for _ in range(3)]
    ours = [nn.Sequential(nn.Linear(12, 12), nn.GELU(), nn.LayerNorm(12)) for _ in range(3)]
    for o, t in zip(ours, theirs):
        o.load_state_dict({k: v.numpy() for k, v in t.state_dict().items()})
    data = np.random.default_rng(0).standard_normal((5, 12)).astype(np.float32)
    x, tx = nnkit.tensor(data, requires_grad=True), torch.tensor(data, requires_grad=True)
    h, th = x, tx
    for o, t in zip(ours, theirs):
        h = checkpoint(o, h, use_reentrant=False)
        th = tcp.checkpoint(t, th, use_reentrant=False)
    F.mse_loss(h, nnkit.zeros(5, 12)).backward()
    torch.nn.functional.mse_loss(th, torch.zeros(5, 12)).backward()
    np.testing.assert_allclose(x.grad.numpy(), tx.grad.numpy(), rtol=1e-4, atol=1e-6)
    for o, t in zip(ours, theirs):
        named = dict(t.named_parameters())
        for name, p in o.named_parameters():
            np.testing.assert_allclose(p.grad.numpy(), named[name].grad.numpy(), rtol=1e-4, atol=1e-6)
