"""nnkit.models: LeNet, the small ResNet and GPT — shapes, parameter counts and names, what
the initialisation implies (GPT's loss at init ≈ ln V), tied weights, generation, and that
each model can fit a small batch."""

import math

import numpy as np
import pytest

import nnkit
import nnkit.nn as nn
import nnkit.nn.functional as F
from nnkit.gradcheck import gradcheck
from nnkit.models import GPT, BasicBlock, GPTConfig, LeNet, ResNet, resnet_small


def count(model):
    return sum(p.numel() for p in model.parameters())


def fits_a_batch(model, x, y, steps=30, lr=1e-2):
    """Adam on one batch: the loss must fall far below its starting value."""
    opt = nnkit.optim.Adam(model.parameters(), lr=lr)
    first = None
    for _ in range(steps):
        opt.zero_grad()
        loss = F.cross_entropy(model(x), y)
        loss.backward()
        opt.step()
        first = float(loss) if first is None else first
    return float(loss) < 0.3 * first


def test_lenet_shapes_and_the_lenet5_parameter_count():
    model = LeNet()
    assert model(nnkit.zeros(3, 1, 28, 28)).shape == (3, 10)
    # conv 6·25+6, conv 16·6·25+16, dense 400·120+120, 120·84+84, 84·10+10
    assert count(model) == 156 + 2416 + 48120 + 10164 + 850
    small = LeNet(in_channels=1, num_classes=10, image_size=8)
    assert small(nnkit.zeros(3, 1, 8, 8)).shape == (3, 10)
    assert small.classifier[1].in_features == 16 * 2 * 2
    assert LeNet(in_channels=3, num_classes=4, image_size=32)(nnkit.zeros(1, 3, 32, 32)).shape == (1, 4)
    with pytest.raises(ValueError, match="too small"):
        LeNet(image_size=2)


def test_lenet_learns_the_8x8_digits():
    nnkit.manual_seed(0)
    images, labels = nnkit.data.load_digits(images=True)
    x, y = nnkit.tensor(images[:, None]), nnkit.tensor(labels)
    model = LeNet(image_size=8)
    opt = nnkit.optim.Adam(model.parameters(), lr=1e-2)
    for _ in range(30):
        opt.zero_grad()
        F.cross_entropy(model(x[:300]), y[:300]).backward()
        opt.step()
    accuracy = float((model(x[1000:1400]).argmax(-1) == y[1000:1400]).float().mean())
    assert accuracy > 0.8


def test_basic_block_shortcuts():
    same = BasicBlock(8, 8)
    assert same.downsample is None and same(nnkit.zeros(2, 8, 6, 6)).shape == (2, 8, 6, 6)
    down = BasicBlock(8, 16, stride=2)
    assert isinstance(down.downsample[0], nn.Conv2d) and down.downsample[0].kernel_size == (1, 1)
    assert down(nnkit.zeros(2, 8, 6, 6)).shape == (2, 16, 3, 3)
    assert [n for n, _ in down.named_children()] == ["conv1", "bn1", "relu", "conv2", "bn2", "downsample"]


def test_basic_block_is_relu_of_residual_plus_identity(rng):
    block = BasicBlock(4, 4).double().eval()
    x = nnkit.tensor(rng.standard_normal((2, 4, 5, 5)))
    residual = block.bn2(block.conv2(block.relu(block.bn1(block.conv1(x)))))
    np.testing.assert_allclose(block(x).detach().numpy(), np.maximum(residual.detach().numpy() + x.numpy(), 0),
                               atol=1e-12)


def test_resnet_small_names_shapes_and_gradients(rng):
    nnkit.manual_seed(1)
    model = resnet_small(num_classes=5, in_channels=1, widths=(4, 8))
    assert model(nnkit.zeros(2, 1, 8, 8)).shape == (2, 5)
    names = list(model.state_dict())
    assert names[:2] == ["conv1.weight", "bn1.weight"] and "layer2.0.downsample.0.weight" in names
    assert "layer1.0.downsample.0.weight" not in names and names[-2:] == ["fc.weight", "fc.bias"]
    assert len(ResNet(blocks=(2, 2), widths=(4, 8)).layer1) == 2
    model.double().eval()
    x = nnkit.tensor(rng.standard_normal((2, 1, 4, 4)), requires_grad=True)
    assert gradcheck(lambda a: model(a), [x]).ok


def test_resnet_fits_a_batch(rng):
    nnkit.manual_seed(2)
    x = nnkit.tensor(rng.standard_normal((8, 3, 6, 6)).astype(np.float32))
    y = nnkit.tensor(rng.integers(0, 4, 8))
    assert fits_a_batch(resnet_small(num_classes=4, widths=(4, 8)), x, y, steps=20)


def tiny_config(**changes):
    config = dict(vocab_size=11, block_size=8, n_layer=2, n_head=2, n_embd=16, dropout=0.0, bias=True)
    config.update(changes)
    return GPTConfig(**config)


def test_gpt_loss_at_initialisation_is_about_ln_vocab(rng):
    nnkit.manual_seed(3)
    model = GPT(tiny_config(vocab_size=64, n_embd=32))
    idx = nnkit.tensor(rng.integers(0, 64, (4, 8)))
    logits, loss = model(idx, nnkit.tensor(rng.integers(0, 64, (4, 8))))
    assert logits.shape == (4, 8, 64)
    assert abs(float(loss) - math.log(64)) < 0.05
    assert model(idx)[1] is None


def test_gpt_head_is_tied_to_the_token_embedding():
    model = GPT(tiny_config())
    assert model.lm_head.weight is model.transformer.wte.weight
    names = [n for n, _ in model.named_parameters()]
    assert "lm_head.weight" not in names and "transformer.wte.weight" in names  # counted once
    state = model.state_dict()
    assert np.shares_memory(state["lm_head.weight"].numpy(), state["transformer.wte.weight"].numpy())
    with nnkit.no_grad():
        model.lm_head.weight[0, 0] = 5.0
    assert model.transformer.wte.weight[0, 0].item() == 5.0


def test_gpt_tied_weight_gradient_sums_both_uses(rng):
    nnkit.manual_seed(4)
    model = GPT(tiny_config(n_layer=1))
    idx = nnkit.tensor(rng.integers(0, 11, (2, 5)))
    logits, loss = model(idx, idx)
    loss.backward()
    tied = model.transformer.wte.weight.grad.numpy().copy()
    # The same loss with the head's use of the weight cut from the graph gives the embedding's share only.
    model.zero_grad()
    x = model.transformer.wte(idx) + model.transformer.wpe(nnkit.arange(5))
    for block in model.transformer.h:
        x = block(x)
    head = model.transformer.ln_f(x) @ model.lm_head.weight.detach().T
    F.cross_entropy(head.reshape(-1, 11), idx.reshape(-1)).backward()
    embedding_share = model.transformer.wte.weight.grad.numpy()
    assert not np.allclose(tied, embedding_share)
    assert np.abs(tied - embedding_share).max() > 1e-4


def test_gpt_init_scales_residual_projections():
    nnkit.manual_seed(5)
    model = GPT(GPTConfig(vocab_size=50, block_size=16, n_layer=8, n_head=4, n_embd=64))
    proj = np.concatenate([b.attn.c_proj.weight.detach().numpy().ravel() for b in model.transformer.h])
    fc = np.concatenate([b.mlp.c_fc.weight.detach().numpy().ravel() for b in model.transformer.h])
    assert abs(proj.std() - 0.02 / math.sqrt(16)) < 0.001 and abs(fc.std() - 0.02) < 0.001
    assert (model.transformer.h[0].attn.c_attn.bias.detach().numpy() == 0).all()


def test_gpt_is_causal(rng):
    model = GPT(tiny_config()).eval()
    idx = rng.integers(0, 11, (1, 8))
    changed = idx.copy()
    changed[0, 5:] = (changed[0, 5:] + 1) % 11
    a, b = model(nnkit.tensor(idx))[0].detach().numpy(), model(nnkit.tensor(changed))[0].detach().numpy()
    np.testing.assert_allclose(a[:, :5], b[:, :5], atol=1e-6)
    assert not np.allclose(a[:, 5:], b[:, 5:])


def test_gpt_gradients_match_finite_differences(rng):
    nnkit.manual_seed(6)
    model = GPT(GPTConfig(vocab_size=5, block_size=4, n_layer=1, n_head=2, n_embd=4)).double()
    idx, targets = nnkit.tensor(rng.integers(0, 5, (2, 3))), nnkit.tensor(rng.integers(0, 5, (2, 3)))
    params = list(model.parameters())
    assert gradcheck(lambda *p: model(idx, targets)[1], params).ok


def test_gpt_generate_shapes_determinism_and_greedy_top_k(rng):
    nnkit.manual_seed(7)
    model = GPT(tiny_config()).eval()
    start = nnkit.tensor(rng.integers(0, 11, (2, 3)))
    out = model.generate(start, 12, generator=nnkit.Generator().manual_seed(0))  # longer than block_size
    assert out.shape == (2, 15) and out.dtype == nnkit.int64
    np.testing.assert_array_equal(out.numpy()[:, :3], start.numpy())
    again = model.generate(start, 12, generator=nnkit.Generator().manual_seed(0))
    np.testing.assert_array_equal(out.numpy(), again.numpy())
    other = model.generate(start, 12, generator=nnkit.Generator().manual_seed(1))
    assert not np.array_equal(out.numpy(), other.numpy())
    greedy = model.generate(start, 6, top_k=1)
    expected = start.numpy()
    for _ in range(6):
        logits, _ = model(nnkit.tensor(expected[:, -8:]))
        expected = np.concatenate([expected, logits.detach().numpy()[:, -1].argmax(-1)[:, None]], axis=1)
    np.testing.assert_array_equal(greedy.numpy(), expected)
    sampled = model.generate(start, 20, top_k=2, temperature=0.5, generator=nnkit.Generator().manual_seed(2))
    assert sampled.shape == (2, 23)
    with pytest.raises(ValueError, match="temperature"):
        model.generate(start, 1, temperature=0)


def test_gpt_fits_a_sequence_and_rejects_long_inputs(rng):
    nnkit.manual_seed(8)
    model = GPT(tiny_config())
    data = nnkit.tensor(np.tile(np.arange(9) % 11, (4, 1)))
    opt = nnkit.optim.AdamW(model.parameters(), lr=1e-2)
    for _ in range(40):
        opt.zero_grad()
        _, loss = model(data[:, :-1], data[:, 1:])
        loss.backward()
        opt.step()
    assert float(loss) < 0.5
    with pytest.raises(RuntimeError, match="block_size is 8"):
        model(nnkit.zeros(1, 9, dtype=nnkit.int64))


@pytest.mark.torch
def test_lenet_matches_the_same_network_in_torch(rng):
    torch = pytest.importorskip("torch")
    tnn = torch.nn
    theirs = tnn.Module()
    theirs.features = tnn.Sequential(tnn.Conv2d(1, 6, 5, padding=2), tnn.ReLU(), tnn.MaxPool2d(2),
                                     tnn.Conv2d(6, 16, 5), tnn.ReLU(), tnn.MaxPool2d(2))
    theirs.classifier = tnn.Sequential(tnn.Flatten(), tnn.Linear(400, 120), tnn.ReLU(), tnn.Linear(120, 84),
                                       tnn.ReLU(), tnn.Linear(84, 10))
    ours = LeNet()
    assert list(ours.state_dict()) == list(theirs.state_dict())
    ours.load_state_dict({k: v.numpy() for k, v in theirs.state_dict().items()})
    x = rng.standard_normal((4, 1, 28, 28)).astype(np.float32)
    expected = theirs.classifier(theirs.features(torch.tensor(x)))
    np.testing.assert_allclose(ours(nnkit.tensor(x)).detach().numpy(), expected.detach().numpy(), rtol=1e-4,
                               atol=1e-5)
