"""GPT's key-value cache changes how much is computed, never what: same logits, same tokens."""

import numpy as np
import pytest

import nnkit
from nnkit.models.gpt import GPT, GPTConfig, KVCache


def to_numpy(t):
    return t.detach().cpu().numpy()


@pytest.fixture(scope="module")
def model():
    nnkit.manual_seed(0)
    return GPT(GPTConfig(vocab_size=40, block_size=16, n_layer=2, n_head=2, n_embd=32)).eval()


def test_chunked_forward_through_the_cache_equals_one_pass(model):
    ids = nnkit.randint(0, 40, (3, 12))
    with nnkit.no_grad():
        full, _ = model(ids)
        cache = KVCache(2)
        parts = [model(ids[:, a:b], cache=cache)[0] for a, b in [(0, 5), (5, 6), (6, 9), (9, 12)]]
    assert cache.length == 12 and tuple(cache.layers[1][1].shape) == (3, 2, 12, 16)
    np.testing.assert_allclose(to_numpy(nnkit.cat(parts, 1)), to_numpy(full), atol=1e-5)


def test_cache_in_float64_agrees_to_rounding(model):
    m = GPT(model.config).double().eval()
    m.load_state_dict(model.state_dict())
    ids = nnkit.randint(0, 40, (2, 10))
    with nnkit.no_grad():
        full, _ = m(ids)
        cache = KVCache(2)
        first, _ = m(ids[:, :7], cache=cache)
        rest, _ = m(ids[:, 7:], cache=cache)
    np.testing.assert_allclose(to_numpy(nnkit.cat([first, rest], 1)), to_numpy(full), rtol=1e-12, atol=1e-12)


@pytest.mark.parametrize("kwargs", [dict(top_k=1), dict(temperature=0.7), dict(temperature=1.3, top_k=5)],
                         ids=["greedy", "sampled", "top-k"])
@pytest.mark.parametrize("new", [5, 30], ids=["within-block", "window-slides"])
def test_generate_gives_the_same_tokens_with_and_without_the_cache(model, kwargs, new):
    prompt = nnkit.randint(0, 40, (2, 4))
    with_cache = model.generate(prompt, new, generator=nnkit.Generator().manual_seed(3), **kwargs)
    without = model.generate(prompt, new, generator=nnkit.Generator().manual_seed(3), use_cache=False, **kwargs)
    assert with_cache.shape == (2, 4 + new)
    assert np.array_equal(to_numpy(with_cache), to_numpy(without))


def test_the_cache_processes_one_position_per_step(model):
    seen = []
    handle = model.transformer.wte.register_forward_hook(lambda m, args, out: seen.append(args[0].shape[1]))
    prompt = nnkit.randint(0, 40, (1, 4))
    model.generate(prompt, 10, top_k=1)
    cached = list(seen)
    seen.clear()
    model.generate(prompt, 10, top_k=1, use_cache=False)
    handle.remove()
    assert cached == [4] + [1] * 9                       # the prompt once, then one token per step
    assert seen == [4 + i for i in range(10)]            # the whole sequence every step


def test_bad_cache_use_is_named(model):
    cache = KVCache(2)
    with nnkit.no_grad():
        model(nnkit.randint(0, 40, (1, 14)), cache=cache)
        with pytest.raises(RuntimeError, match=r"GPT: cannot forward a sequence of length 17 \(14 cached \+ 3 new\)"):
            model(nnkit.randint(0, 40, (1, 3)), cache=cache)
        with pytest.raises(ValueError, match="GPT: the KVCache has 3 layers, the model 2"):
            model(nnkit.randint(0, 40, (1, 3)), cache=KVCache(3))


def test_training_forward_is_unchanged_and_differentiable(model):
    m = GPT(model.config)
    ids, targets = nnkit.randint(0, 40, (2, 8)), nnkit.randint(0, 40, (2, 8))
    logits, loss = m(ids, targets)
    loss.backward()
    assert logits.shape == (2, 8, 40) and m.transformer.h[0].attn.c_attn.weight.grad is not None
