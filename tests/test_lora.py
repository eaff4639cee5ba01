"""nnkit.nn.lora: the LoRA layer against its formula, its gradients against finite differences,
merging, freezing, wrapping a model by target names, optimizer groups, adapter checkpoints,
and (when ``peft`` is installed) Hugging Face PEFT on the same weights."""

import numpy as np
import pytest

import nnkit
import nnkit.nn as nn
from nnkit.nn.lora import LoRALinear, apply_lora, lora_state_dict, merge_lora, unmerge_lora


def lora_with_random_b(in_features=6, out_features=5, r=3, alpha=6.0, dtype=nnkit.float32, dropout=0.0):
    layer = LoRALinear(nn.Linear(in_features, out_features, dtype=dtype), r=r, alpha=alpha, dropout=dropout)
    with nnkit.no_grad():
        layer.B.copy_(nnkit.randn(out_features, r, dtype=dtype))   # B starts at 0: make the update visible
    return layer


def formula(layer: LoRALinear, x: np.ndarray) -> np.ndarray:
    w, b = layer.weight.detach().numpy(), layer.bias.detach().numpy()
    return x @ w.T + b + layer.scaling * (x @ layer.A.detach().numpy().T @ layer.B.detach().numpy().T)


class Net(nn.Module):
    """A small model with nested names, as a transformer has (``blocks.0.attn.query``)."""

    def __init__(self):
        super().__init__()
        self.blocks = nn.ModuleList([nn.ModuleDict({"query": nn.Linear(8, 8), "value": nn.Linear(8, 8),
                                                    "key": nn.Linear(8, 8)}) for _ in range(2)])
        self.norm = nn.LayerNorm(8)
        self.head = nn.Linear(8, 3)

    def forward(self, x):
        for block in self.blocks:
            x = x + block["query"](x) * block["value"](x).tanh() + block["key"](x)
        return self.head(self.norm(x))


def test_initialisation_is_the_pretrained_layer_and_a_is_kaiming_uniform():
    nnkit.manual_seed(0)
    base = nn.Linear(64, 32)
    x = nnkit.randn(4, 64)
    before = base(x).detach().numpy()
    layer = LoRALinear(base, r=8, alpha=16)
    assert layer.A.shape == (8, 64) and layer.B.shape == (32, 8) and layer.scaling == 2.0
    assert np.all(layer.B.detach().numpy() == 0)
    a = layer.A.detach().numpy()
    assert np.abs(a).max() <= 1 / np.sqrt(64) and a.std() > 0.5 / np.sqrt(3 * 64)   # U(-1/√in, 1/√in)
    np.testing.assert_array_equal(layer(x).detach().numpy(), before)
    assert layer.weight is base.weight and layer.bias is base.bias
    assert (layer.in_features, layer.out_features) == (64, 32)


def test_forward_equals_the_formula_on_batched_inputs():
    nnkit.manual_seed(1)
    layer = lora_with_random_b()
    x = nnkit.randn(2, 3, 6)
    np.testing.assert_allclose(layer(x).detach().numpy(), formula(layer, x.detach().numpy()), rtol=1e-5, atol=1e-5)
    np.testing.assert_allclose(layer.delta_weight().detach().numpy(),
                               layer.scaling * layer.B.detach().numpy() @ layer.A.detach().numpy(),
                               rtol=1e-6)


@pytest.mark.parametrize("layout", ["contiguous", "transposed", "strided"])
def test_gradients_match_finite_differences(layout):
    nnkit.manual_seed(2)
    layer = lora_with_random_b(dtype=nnkit.float64)
    layer.base_layer.requires_grad_(True)   # check the frozen path's gradient formula as well
    if layout == "contiguous":
        x = nnkit.randn(4, 6, dtype=nnkit.float64, requires_grad=True)
    elif layout == "transposed":
        x = nnkit.randn(6, 4, dtype=nnkit.float64).transpose(0, 1).detach().requires_grad_()
    else:
        x = nnkit.randn(8, 6, dtype=nnkit.float64)[::2].detach().requires_grad_()
    params = [layer.A, layer.B, layer.weight, layer.bias]
    nnkit.gradcheck(lambda x, *_: layer(x), [x, *params])


def test_only_the_adapter_trains_and_the_base_gets_no_gradient():
    nnkit.manual_seed(3)
    layer = lora_with_random_b()
    assert [n for n, p in layer.named_parameters() if p.requires_grad] == ["lora_A.weight", "lora_B.weight"]
    layer(nnkit.randn(5, 6)).sum().backward()
    assert layer.weight.grad is None and layer.bias.grad is None
    assert layer.A.grad is not None and layer.B.grad is not None


def test_merge_then_unmerge_restores_the_weight_and_keeps_the_output():
    nnkit.manual_seed(4)
    layer = lora_with_random_b(in_features=32, out_features=16, r=4)
    x = nnkit.randn(7, 32)
    w0 = layer.weight.detach().numpy().copy()
    unmerged_out = layer(x).detach().numpy()
    layer.merge()
    assert layer.merged
    np.testing.assert_allclose(layer.weight.detach().numpy(),
                               w0 + layer.scaling * layer.B.detach().numpy() @ layer.A.detach().numpy(),
                               rtol=1e-6, atol=1e-6)
    np.testing.assert_allclose(layer(x).detach().numpy(), unmerged_out, rtol=1e-5, atol=1e-5)
    with pytest.raises(RuntimeError, match="already merged"):
        layer.merge()
    layer.unmerge()
    assert not layer.merged
    np.testing.assert_allclose(layer.weight.detach().numpy(), w0, rtol=0, atol=1e-6)
    np.testing.assert_allclose(layer(x).detach().numpy(), unmerged_out, rtol=1e-5, atol=1e-5)
    with pytest.raises(RuntimeError, match="not merged"):
        layer.unmerge()


def test_dropout_acts_on_the_adapter_input_in_training_only():
    nnkit.manual_seed(5)
    layer = lora_with_random_b(dropout=0.5)
    x = nnkit.randn(64, 6)
    base_out = layer.base_layer(x).detach().numpy()
    layer.train()
    trained = layer(x).detach().numpy()
    layer.eval()
    np.testing.assert_allclose(layer(x).detach().numpy(), formula(layer, x.detach().numpy()), rtol=1e-5, atol=1e-5)
    assert not np.allclose(trained, layer(x).detach().numpy())
    assert not np.allclose(trained, base_out)  # the adapter still contributes under dropout


def test_bad_arguments_are_named():
    with pytest.raises(TypeError, match="LoRALinear: base must be an nnkit.nn.Linear"):
        LoRALinear(nn.Conv2d(1, 1, 3))
    with pytest.raises(ValueError, match="rank r must be a positive integer"):
        LoRALinear(nn.Linear(3, 3), r=0)
    with pytest.raises(ValueError, match="dropout must be in"):
        LoRALinear(nn.Linear(3, 3), dropout=1.0)


def test_apply_lora_wraps_the_targets_by_name_suffix_and_freezes_the_rest():
    nnkit.manual_seed(6)
    model = Net()
    x = nnkit.randn(3, 8)
    before = model(x).detach().numpy()
    assert apply_lora(model, ["query", "value"], r=2, alpha=4) is model
    wrapped = sorted(name for name, m in model.named_modules() if isinstance(m, LoRALinear))
    assert wrapped == ["blocks.0.query", "blocks.0.value", "blocks.1.query", "blocks.1.value"]
    assert isinstance(model.blocks[0]["key"], nn.Linear) and not isinstance(model.blocks[0]["key"], LoRALinear)
    trainable = [n for n, p in model.named_parameters() if p.requires_grad]
    assert trainable == [f"blocks.{i}.{t}.lora_{ab}.weight" for i in range(2) for t in ("query", "value")
                         for ab in "AB"]
    assert nn.count_parameters(model) == (4 * 2 * (8 + 8), 2 * 3 * 72 + 16 + 27 + 4 * 32)
    np.testing.assert_array_equal(model(x).detach().numpy(), before)   # B = 0: the same function as before


def test_apply_lora_rules_and_errors():
    model = Net()
    with pytest.raises(ValueError, match=r"no module of Net matches target_modules=\['q_proj', 'v_proj'\]"):
        apply_lora(model, ["q_proj", "v_proj"])
    with pytest.raises(TypeError, match="target module norm is a LayerNorm"):
        apply_lora(Net(), ["norm"])
    model = apply_lora(Net(), r"blocks\.1\.(query|key)")   # a string is a regular expression, as in PEFT
    assert sorted(n for n, m in model.named_modules() if isinstance(m, LoRALinear)) == ["blocks.1.key",
                                                                                         "blocks.1.query"]
    with pytest.raises(ValueError, match="already has a LoRA adapter"):
        apply_lora(model, ["query"])
    # "query" must be a whole name component: "myquery" does not end with ".query"
    other = nn.ModuleDict({"myquery": nn.Linear(2, 2)})
    with pytest.raises(ValueError, match="no module"):
        apply_lora(other, ["query"])


def test_merge_lora_and_unmerge_lora_over_a_model():
    nnkit.manual_seed(7)
    model = apply_lora(Net(), ["query", "value"], r=2)
    for m in model.modules():
        if isinstance(m, LoRALinear):
            with nnkit.no_grad():
                m.B.copy_(nnkit.randn(*m.B.shape))
    x = nnkit.randn(3, 8)
    out = model(x).detach().numpy()
    weights = {n: p.detach().numpy().copy() for n, p in model.named_parameters()}
    merge_lora(model)
    assert all(m.merged for m in model.modules() if isinstance(m, LoRALinear))
    np.testing.assert_allclose(model(x).detach().numpy(), out, rtol=1e-4, atol=1e-5)
    unmerge_lora(model)
    for n, p in model.named_parameters():
        np.testing.assert_allclose(p.detach().numpy(), weights[n], rtol=0, atol=1e-6, err_msg=n)


def test_optimizer_groups_with_their_own_learning_rates():
    """Layer-wise learning rates: each group steps by its own lr (SGD: p ← p − lr · grad)."""
    nnkit.manual_seed(8)
    model = apply_lora(Net(), ["query", "value"], r=2)
    model.head.requires_grad_(True)   # a new head trains fully
    groups = [{"params": [p for n, p in model.named_parameters() if n.startswith(f"blocks.{i}.") and
                          p.requires_grad], "lr": 0.1 * 0.5 ** (1 - i)} for i in range(2)]
    groups.append({"params": list(model.head.parameters())})
    opt = nnkit.optim.SGD(groups, lr=1.0)
    before = {n: p.detach().numpy().copy() for n, p in model.named_parameters()}
    model(nnkit.randn(4, 8)).pow(2).mean().backward()
    grads = {n: None if p.grad is None else p.grad.detach().numpy().copy() for n, p in model.named_parameters()}
    opt.step()
    lrs = {"blocks.0.": 0.05, "blocks.1.": 0.1, "head.": 1.0}
    for n, p in model.named_parameters():
        if grads[n] is None:
            np.testing.assert_array_equal(p.detach().numpy(), before[n], err_msg=n)   # frozen: untouched
        else:
            lr = next(v for k, v in lrs.items() if n.startswith(k))
            np.testing.assert_allclose(p.detach().numpy(), before[n] - lr * grads[n], rtol=1e-6, atol=1e-7, err_msg=n)
    assert grads["blocks.0.key.weight"] is None and grads["norm.weight"] is None


def test_lora_state_dict_round_trips_through_save_and_load(tmp_path):
    nnkit.manual_seed(9)
    pretrained = Net().state_dict()

    def prepared():
        """The pretrained model, then the adapters (as with PEFT: load first, then wrap)."""
        net = Net()
        net.load_state_dict(pretrained)
        return apply_lora(net, ["query", "value"], r=2)
    model = prepared()
    opt = nnkit.optim.Adam([p for p in model.parameters() if p.requires_grad], lr=1e-2)
    for _ in range(3):
        opt.zero_grad()
        model(nnkit.randn(4, 8)).pow(2).mean().backward()
        opt.step()
    sd = lora_state_dict(model)
    assert list(sd) == [f"blocks.{i}.{t}.lora_{ab}.weight" for i in range(2) for t in ("query", "value")
                        for ab in "AB"]
    assert not any(t.requires_grad for t in sd.values())
    nnkit.save(sd, tmp_path / "adapter.nnkit")

    fresh = prepared()
    result = fresh.load_state_dict(nnkit.load(tmp_path / "adapter.nnkit"), strict=False)
    assert result.unexpected_keys == [] and all("lora" not in k for k in result.missing_keys)
    x = nnkit.randn(5, 8)
    np.testing.assert_array_equal(fresh(x).detach().numpy(), model(x).detach().numpy())
    with pytest.raises(ValueError, match="has no LoRA adapter"):
        lora_state_dict(Net())


@pytest.mark.torch
def test_against_peft():
    torch = pytest.importorskip("torch")
    peft = pytest.importorskip("peft", reason="peft is not installed (an optional comparison)")

    class TorchNet(torch.nn.Module):
        def __init__(self):
            super().__init__()
            self.query = torch.nn.Linear(8, 8)
            self.value = torch.nn.Linear(8, 8)

        def forward(self, x):
            return self.query(x) * torch.tanh(self.value(x))

    class OurNet(nn.Module):
        def __init__(self):
            super().__init__()
            self.query = nn.Linear(8, 8)
            self.value = nn.Linear(8, 8)

        def forward(self, x):
            return self.query(x) * self.value(x).tanh()

    torch.manual_seed(0)
    theirs = peft.get_peft_model(TorchNet(), peft.LoraConfig(r=4, lora_alpha=8, target_modules=["query", "value"]))
    for name, p in theirs.named_parameters():
        if "lora_B" in name:
            torch.nn.init.normal_(p)
    ours = apply_lora(OurNet(), ["query", "value"], r=4, alpha=8)
    peft_sd = peft.get_peft_model_state_dict(theirs)
    adapter = {k.removeprefix("base_model.model."): v.detach().numpy() for k, v in peft_sd.items()}
    assert sorted(adapter) == sorted(lora_state_dict(ours))
    base = {k.replace("base_model.model.", "").replace(".base_layer", ""): v.detach().numpy()
            for k, v in theirs.state_dict().items() if "lora_" not in k}
    ours.load_state_dict({**adapter, **{k.replace(".weight", ".base_layer.weight").replace(
        ".bias", ".base_layer.bias"): v for k, v in base.items()}})
    x = np.random.default_rng(0).standard_normal((3, 8)).astype(np.float32)
    tx = torch.tensor(x, requires_grad=True)
    ox = nnkit.tensor(x, requires_grad=True)
    t_out, o_out = theirs(tx), ours(ox)
    np.testing.assert_allclose(o_out.detach().numpy(), t_out.detach().numpy(), rtol=1e-5, atol=1e-6)
    t_out.sum().backward()
    o_out.sum().backward()
    np.testing.assert_allclose(ox.grad.detach().numpy(), tx.grad.detach().numpy(), rtol=1e-5, atol=1e-6)
    t_grads = {k.removeprefix("base_model.model.").replace(".default", ""): p.grad.detach().numpy()
               for k, p in theirs.named_parameters() if p.requires_grad}
    for name, p in ours.named_parameters():
        if p.requires_grad:
            np.testing.assert_allclose(p.grad.detach().numpy(), t_grads[name], rtol=1e-5, atol=1e-6, err_msg=name)
