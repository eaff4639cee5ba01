"""nnkit.nn.Module and its containers: registration, naming, modes, state dicts, moving, hooks,
and the utilities around modules (gradient clipping, summary)."""

import copy
import doctest
import importlib
from collections import OrderedDict

import numpy as np
import pytest

import nnkit
import nnkit.nn as nn
import nnkit.nn.functional as F


class Block(nn.Module):
    """A module with a parameter, an optional parameter, two buffers (one not saved) and a child."""

    def __init__(self):
        super().__init__()
        self.scale = nn.Parameter(nnkit.ones(3))
        self.register_parameter("unused", None)
        self.register_buffer("count", nnkit.zeros(3))
        self.register_buffer("cache", nnkit.zeros(2), persistent=False)
        self.fc = nn.Linear(3, 2)

    def forward(self, x):
        return self.fc(x * self.scale)


class Net(nn.Module):
    def __init__(self):
        super().__init__()
        self.first = Block()
        self.layers = nn.Sequential(nn.Linear(2, 4), nn.ReLU(), nn.BatchNorm1d(4))
        self.head = nn.Linear(4, 1)

    def forward(self, x):
        return self.head(self.layers(self.first(x)))


# --- registration and naming ---------------------------------------------------

def test_parameters_are_named_in_registration_order_with_dotted_paths():
    names = [n for n, _ in Net().named_parameters()]
    assert names == ["first.scale", "first.fc.weight", "first.fc.bias", "layers.0.weight", "layers.0.bias",
                     "layers.2.weight", "layers.2.bias", "head.weight", "head.bias"]
    assert len(list(Net().parameters())) == 9


def test_named_parameters_prefix_and_recurse():
    block = Block()
    assert [n for n, _ in block.named_parameters(prefix="b")] == ["b.scale", "b.fc.weight", "b.fc.bias"]
    assert [n for n, _ in block.named_parameters(recurse=False)] == ["scale"]


def test_shared_parameters_and_modules_are_listed_once():
    shared = nn.Linear(3, 3)
    model = nn.Sequential(shared, nn.ReLU(), shared)
    assert [n for n, _ in model.named_parameters()] == ["0.weight", "0.bias"]
    assert [n for n, _ in model.named_modules()] == ["", "0", "1"]
    tied = nn.Sequential(nn.Linear(3, 3), nn.Linear(3, 3))
    tied[1].weight = tied[0].weight
    assert [n for n, _ in tied.named_parameters()] == ["0.weight", "0.bias", "1.bias"]
    assert list(tied.state_dict()) == ["0.weight", "0.bias", "1.weight", "1.bias"]  # the state dict keeps both


def test_children_modules_and_buffers():
    net = Net()
    assert [n for n, _ in net.named_children()] == ["first", "layers", "head"]
    assert list(net.children()) == [net.first, net.layers, net.head]
    assert [n for n, _ in net.named_modules()] == ["", "first", "first.fc", "layers", "layers.0", "layers.1",
                                                    "layers.2", "head"]
    assert len(list(net.modules())) == 8
    assert [n for n, _ in net.named_buffers()] == ["first.count", "first.cache", "layers.2.running_mean",
                                                   "layers.2.running_var", "layers.2.num_batches_tracked"]
    assert len(list(net.buffers())) == 5
    assert net.get_submodule("layers.2") is net.layers[2]
    assert net.get_parameter("first.fc.bias") is net.first.fc.bias
    with pytest.raises(AttributeError, match="no submodule 'nope'"):
        net.get_submodule("layers.nope")


def test_attribute_access_reassignment_and_deletion():
    block = Block()
    assert block.unused is None and isinstance(block.fc, nn.Linear)
    new = nn.Parameter(nnkit.zeros(3))
    block.scale = new
    assert block.scale is new and block._parameters["scale"] is new
    block.scale = None  # an optional parameter may be switched off
    assert [n for n, _ in block.named_parameters(recurse=False)] == []
    block.count = nnkit.ones(3)  # buffers take plain tensors
    assert float(block.count.sum()) == 3.0
    del block.fc
    assert "fc" not in block._modules
    with pytest.raises(AttributeError, match="'Block' object has no attribute 'fc'"):
        block.fc
    block.plain = 5  # anything else is an ordinary attribute
    assert block.plain == 5 and "plain" not in block._parameters
    assert "count" in dir(block)


def test_registration_errors_name_what_is_wrong():
    block = Block()
    with pytest.raises(TypeError, match="cannot assign 'Tensor' as parameter 'scale'"):
        block.scale = nnkit.zeros(3)
    with pytest.raises(TypeError, match="child module 'fc'"):
        block.fc = 3
    with pytest.raises(KeyError, match="contain"):
        block.register_buffer("a.b", nnkit.zeros(1))
    with pytest.raises(KeyError, match="already exists"):
        block.register_parameter("fc", None)
    with pytest.raises(TypeError, match="nnkit.nn.Parameter or None required"):
        block.register_parameter("w", nnkit.zeros(1))

    class Forgot(nn.Module):
        def __init__(self):
            self.w = nn.Parameter(nnkit.zeros(1))
    with pytest.raises(AttributeError, match=r"before Module.__init__\(\) call"):
        Forgot()
    with pytest.raises(NotImplementedError, match='Module \\[Module\\] is missing the required "forward"'):
        nn.Module()(1)


def test_parameter_is_a_tensor_that_requires_grad_and_shares_memory():
    data = nnkit.zeros(2)
    p = nn.Parameter(data)
    assert isinstance(p, nnkit.Tensor) and p.requires_grad and p.is_leaf
    assert p.array is data.array
    assert not nn.Parameter(nnkit.zeros(2), requires_grad=False).requires_grad
    assert repr(p) == "Parameter containing:\ntensor([0., 0.], requires_grad=True)"
    assert type(p * 2) is nnkit.Tensor and type(p.detach()) is nnkit.Tensor


# --- modes, gradients, moving ---------------------------------------------------

def test_train_and_eval_reach_every_module_and_return_the_module():
    net = Net()
    assert net.eval() is net
    assert all(not m.training for m in net.modules())
    assert net.train() is net and all(m.training for m in net.modules())
    net.layers.train(False)
    assert net.training and not net.layers[2].training
    with pytest.raises(ValueError, match="boolean"):
        net.train("no")

    class FrozenNorm(nn.Module):  # a module that overrides train() is reached through it
        def train(self, mode=True):
            return super().train(False)
    outer = nn.Sequential(FrozenNorm(), nn.ReLU()).train()
    assert outer.training and not outer[0].training and outer[1].training


def test_zero_grad_sets_to_none_or_zero():
    model = nn.Linear(3, 2)
    model(nnkit.ones(4, 3)).sum().backward()
    grad = model.weight.grad
    model.zero_grad(set_to_none=False)
    assert model.weight.grad is grad and float(grad.abs().sum()) == 0.0
    model.zero_grad()
    assert model.weight.grad is None and model.bias.grad is None


def test_requires_grad_freezes_and_apply_visits_children_first():
    net = Net()
    net.first.requires_grad_(False)
    assert [p.requires_grad for p in net.first.parameters()] == [False] * 3
    assert all(p.requires_grad for p in net.head.parameters())
    seen = []
    assert net.layers.apply(lambda m: seen.append(type(m).__name__)) is net.layers
    assert seen == ["Linear", "ReLU", "BatchNorm1d", "Sequential"]


def test_to_casts_in_place_keeping_parameter_objects_and_integer_buffers():
    model = nn.Sequential(nn.Linear(3, 2), nn.BatchNorm1d(2))
    weight = model[0].weight
    model(nnkit.randn(4, 3)).sum().backward()
    before = weight.detach().numpy().copy()
    assert model.to(nnkit.float64) is model
    assert model[0].weight is weight and weight.dtype == nnkit.float64 and weight.grad.dtype == nnkit.float64
    np.testing.assert_array_equal(weight.detach().numpy(), before)
    assert model[1].running_mean.dtype == nnkit.float64
    assert model[1].num_batches_tracked.dtype == nnkit.int64
    assert model.float() is model and weight.dtype == nnkit.float32
    assert model.double()[0].bias.dtype == nnkit.float64
    assert model.to("cpu", dtype=nnkit.float32).cpu()[0].weight.dtype == nnkit.float32
    with pytest.raises(TypeError, match="floating-point"):
        model.to(nnkit.int64)


def test_deepcopy_gives_an_independent_model():
    model = Net()
    clone = copy.deepcopy(model)
    assert type(clone.head.weight) is nn.Parameter and clone.head.weight.requires_grad
    with nnkit.no_grad():
        clone.head.weight.fill_(7.0)
    assert float(model.head.weight.max()) < 7.0
    assert list(clone.state_dict()) == list(model.state_dict())


# --- state dicts -----------------------------------------------------------------

def test_state_dict_has_pytorchs_keys_and_shares_memory_detached():
    sd = Net().state_dict()
    assert list(sd) == ["first.scale", "first.count", "first.fc.weight", "first.fc.bias", "layers.0.weight",
                        "layers.0.bias", "layers.2.weight", "layers.2.bias", "layers.2.running_mean",
                        "layers.2.running_var", "layers.2.num_batches_tracked", "head.weight", "head.bias"]
    assert isinstance(sd, OrderedDict)
    model = nn.Linear(2, 2)
    sd = model.state_dict()
    assert not sd["weight"].requires_grad and type(sd["weight"]) is nnkit.Tensor
    assert sd["weight"].array is model.weight.array
    assert model.state_dict(keep_vars=True)["weight"] is model.weight


def test_load_state_dict_copies_in_place_from_arrays_and_tensors():
    source, target = Net(), Net()
    source(nnkit.randn(5, 3))  # move the running statistics
    weight_array = target.head.weight.array
    result = target.load_state_dict({k: v.numpy().copy() for k, v in source.state_dict().items()})
    assert result.missing_keys == [] and result.unexpected_keys == []
    assert target.head.weight.array is weight_array  # the same memory: an optimizer holding it still works
    for (k, a), b in zip(source.state_dict().items(), target.state_dict().values()):
        np.testing.assert_array_equal(a.numpy(), b.numpy(), err_msg=k)
    assert int(target.layers[2].num_batches_tracked) == 1
    target.load_state_dict({k: v.to(nnkit.float64) if v.dtype == nnkit.float32 else v
                            for k, v in source.state_dict().items()})
    assert target.head.weight.dtype == nnkit.float32  # the model keeps its dtype


def test_strict_loading_names_every_missing_and_unexpected_key():
    model = nn.Sequential(nn.Linear(2, 3), nn.BatchNorm1d(3))
    sd = model.state_dict()
    del sd["0.bias"], sd["1.running_var"]
    sd["1.extra"] = nnkit.zeros(1)
    with pytest.raises(RuntimeError) as err:
        model.load_state_dict(sd)
    assert str(err.value) == ('Error(s) in loading state_dict for Sequential:\n\t'
                              'Unexpected key(s) in state_dict: "1.extra".\n\t'
                              'Missing key(s) in state_dict: "0.bias", "1.running_var".')
    result = model.load_state_dict(sd, strict=False)
    assert result == (["0.bias", "1.running_var"], ["1.extra"])
    assert result.missing_keys == ["0.bias", "1.running_var"] and result.unexpected_keys == ["1.extra"]


def test_shape_mismatch_names_the_parameter_and_both_shapes_even_when_not_strict():
    model = nn.Linear(4, 3)
    before = model.bias.detach().numpy().copy()
    bad = {"weight": np.zeros((2, 4), np.float32), "bias": np.ones(3, np.float32)}
    for strict in (True, False):
        with pytest.raises(RuntimeError, match=r"size mismatch for weight: copying a param with shape \[2, 4\] "
                                               r"from checkpoint, the shape in current model is \[3, 4\]"):
            model.load_state_dict(bad, strict=strict)
    np.testing.assert_array_equal(model.bias.detach().numpy(), before)  # nothing is half-loaded


# --- hooks and printing ------------------------------------------------------------

def test_forward_hooks_can_replace_input_and_output_and_be_removed():
    layer = nn.Identity()
    seen = []
    pre = layer.register_forward_pre_hook(lambda m, args: (args[0] * 2,))
    post = layer.register_forward_hook(lambda m, args, out: seen.append((float(args[0]), float(out))) or out + 1)
    assert float(layer(nnkit.tensor(3.0))) == 7.0
    assert seen == [(6.0, 6.0)]
    pre.remove()
    post.remove()
    assert float(layer(nnkit.tensor(3.0))) == 3.0


def test_repr_is_pytorchs():
    model = nn.Sequential(nn.Linear(2, 3), nn.Sequential(nn.ReLU(), nn.Dropout(0.25)), nn.LayerNorm(3))
    assert repr(model) == ("Sequential(\n"
                           "  (0): Linear(in_features=2, out_features=3, bias=True)\n"
                           "  (1): Sequential(\n"
                           "    (0): ReLU()\n"
                           "    (1): Dropout(p=0.25, inplace=False)\n"
                           "  )\n"
                           "  (2): LayerNorm((3,), eps=1e-05, elementwise_affine=True, bias=True)\n"
                           ")")
    assert repr(nn.BatchNorm1d(4, momentum=None)) == \
        "BatchNorm1d(4, eps=1e-05, momentum=None, affine=True, bias=True, track_running_stats=True)"


# --- containers ---------------------------------------------------------------------

def test_sequential_indexing_slicing_and_growing():
    a, b, c = nn.Linear(2, 2), nn.ReLU(), nn.Linear(2, 1)
    seq = nn.Sequential(a, b, c)
    assert len(seq) == 3 and seq[0] is a and seq[-1] is c and list(seq) == [a, b, c]
    head = seq[1:]
    assert isinstance(head, nn.Sequential) and list(head._modules) == ["1", "2"] and head[0] is b
    x = nnkit.randn(4, 2)
    np.testing.assert_allclose(seq(x).detach().numpy(), c(b(a(x))).detach().numpy())
    seq.append(nn.Sigmoid())
    assert list(seq._modules) == ["0", "1", "2", "3"]
    seq.insert(0, nn.Identity())
    assert isinstance(seq[0], nn.Identity) and seq[1] is a and len(seq) == 5
    del seq[0]
    assert seq[0] is a
    assert seq.pop(1) is b and list(seq._modules) == ["0", "1", "2"]  # renumbered, as PyTorch
    named = nn.Sequential(OrderedDict([("encoder", a), ("act", b)]))
    assert [n for n, _ in named.named_parameters()] == ["encoder.weight", "encoder.bias"]
    with pytest.raises(IndexError, match="index 5 is out of range for Sequential of length 2"):
        named[5]


def test_modulelist_registers_what_a_plain_list_hides():
    class WithList(nn.Module):
        def __init__(self, wrap):
            super().__init__()
            layers = [nn.Linear(2, 2) for _ in range(3)]
            self.layers = nn.ModuleList(layers) if wrap else layers

    assert len(list(WithList(True).parameters())) == 6
    assert len(list(WithList(False).parameters())) == 0

    layers = nn.ModuleList([nn.ReLU()])
    layers.append(nn.Tanh()).extend([nn.Sigmoid(), nn.GELU()])
    layers.insert(1, nn.Identity())
    assert [type(m).__name__ for m in layers] == ["ReLU", "Identity", "Tanh", "Sigmoid", "GELU"]
    assert isinstance(layers[-1], nn.GELU) and len(layers) == 5
    del layers[1]
    assert list(layers._modules) == ["0", "1", "2", "3"] and isinstance(layers[1], nn.Tanh)
    layers += [nn.ELU()]
    assert isinstance(layers[1:3], nn.ModuleList) and len(layers[1:3]) == 2 and len(layers) == 5


def test_moduledict_behaves_like_a_dict_of_modules():
    heads = nn.ModuleDict({"a": nn.Linear(2, 1)})
    heads["b"] = nn.Linear(2, 3)
    assert list(heads) == ["a", "b"] and "b" in heads and len(heads) == 2
    assert [n for n, _ in heads.named_parameters()] == ["a.weight", "a.bias", "b.weight", "b.bias"]
    assert isinstance(heads.pop("a"), nn.Linear) and list(heads.keys()) == ["b"]


# --- utilities ------------------------------------------------------------------------

def test_clip_grad_norm_scales_by_max_norm_over_total():
    a, b = nn.Parameter(nnkit.zeros(2)), nn.Parameter(nnkit.zeros(1))
    a.grad, b.grad = nnkit.tensor([3.0, 0.0]), nnkit.tensor([4.0])
    total = nn.utils.clip_grad_norm_([a, b], max_norm=2.5)
    assert float(total) == pytest.approx(5.0)
    scale = 2.5 / (5.0 + 1e-6)
    np.testing.assert_allclose(a.grad.numpy(), [3 * scale, 0.0], rtol=1e-6)
    np.testing.assert_allclose(b.grad.numpy(), [4 * scale], rtol=1e-6)
    assert float(nn.utils.clip_grad_norm_([a, b], max_norm=10.0)) == pytest.approx(2.5, rel=1e-5)
    np.testing.assert_allclose(b.grad.numpy(), [4 * scale], rtol=1e-6)  # below the limit: untouched
    assert float(nn.utils.clip_grad_norm_([a, b], 100.0, norm_type=float("inf"))) == pytest.approx(4 * scale)
    assert float(nn.utils.clip_grad_norm_([a, b], 100.0, norm_type=1)) == pytest.approx(7 * scale)
    b.grad = nnkit.tensor([float("nan")])
    with pytest.raises(RuntimeError, match="non-finite"):
        nn.utils.clip_grad_norm_([a, b], 1.0, error_if_nonfinite=True)


def test_clip_grad_value_and_parameter_vectors():
    p = nn.Parameter(nnkit.zeros(3))
    p.grad = nnkit.tensor([-3.0, 0.5, 2.0])
    nn.utils.clip_grad_value_([p], 1.0)
    np.testing.assert_array_equal(p.grad.numpy(), [-1.0, 0.5, 1.0])
    model = nn.Linear(2, 2)
    vec = nn.utils.parameters_to_vector(model.parameters())
    assert vec.shape == (6,)
    nn.utils.vector_to_parameters(nnkit.arange(6.0), model.parameters())
    np.testing.assert_array_equal(model.weight.detach().numpy(), [[0, 1], [2, 3]])
    np.testing.assert_array_equal(model.bias.detach().numpy(), [4, 5])


def test_summary_counts_dense_layers_as_n_in_times_n_out_plus_n_out():
    model = nn.Sequential(nn.Flatten(), nn.Linear(12, 8), nn.ReLU(), nn.Linear(8, 3))
    model[3].requires_grad_(False)
    s = nn.summary(model, input_size=(5, 3, 4))
    assert [(r.name, r.type, r.output_shape, r.trainable, r.frozen) for r in s.rows] == [
        ("0", "Flatten", (5, 12), 0, 0), ("1", "Linear", (5, 8), 12 * 8 + 8, 0), ("2", "ReLU", (5, 8), 0, 0),
        ("3", "Linear", (5, 3), 0, 8 * 3 + 3)]
    assert (s.total_params, s.trainable_params, s.frozen_params) == (131, 104, 27)
    assert s.input_shape == (5, 3, 4) and s.output_shape == (5, 3)
    text = str(s)
    assert "1 (Linear)" in text and "(5, 8)" in text and "Total params: 131" in text
    assert "<table>" in s._repr_html_()


def test_summary_nests_runs_in_eval_without_side_effects_and_lists_without_input():
    model = Net()
    state = {k: v.numpy().copy() for k, v in model.state_dict().items()}
    s = nn.summary(model, input=nnkit.randn(4, 3))
    assert model.training and all(m.training for m in model.modules())
    for k, v in model.state_dict().items():  # BatchNorm's running statistics untouched
        np.testing.assert_array_equal(v.numpy(), state[k])
    assert [(r.name, r.depth) for r in s.rows][:3] == [("first", 1), ("first.fc", 2), ("layers", 1)]
    assert s.rows[0].trainable == 3 and s.rows[0].output_shape == (4, 2)
    assert sum(r.trainable for r in s.rows) == s.total_params == sum(p.numel() for p in model.parameters())
    static = nn.summary(model)
    assert [r.name for r in static.rows] == [n for n, _ in model.named_modules() if n]
    assert all(r.output_shape is None for r in static.rows)
    shared = nn.Linear(2, 2)
    twice = nn.summary(nn.Sequential(shared, shared), input_size=(1, 2))
    assert [(r.name, r.trainable) for r in twice.rows] == [("0", 6), ("0", 0)]  # a second call adds nothing


@pytest.mark.parametrize("name", [
    "module", "init", "linear", "activation", "dropout", "normalization", "embedding", "loss", "flatten", "summary",
    "utils", "conv", "pooling", "attention", "upsampling", "recurrent", "transformer", "lora",
    "functional.activation", "functional.embedding", "functional.linear", "functional.loss", "functional.padding",
    "functional.conv", "functional.pooling", "functional.attention", "functional.upsampling"])
def test_docstring_examples_run(name):
    result = doctest.testmod(importlib.import_module(f"nnkit.nn.{name}"), verbose=False)
    assert result.failed == 0 and result.attempted > 0


@pytest.mark.gpu
def test_a_model_moved_to_cuda_computes_what_it_computes_on_the_cpu(rng):
    model = nn.Sequential(nn.Linear(6, 8), nn.BatchNorm1d(8), nn.GELU(), nn.LayerNorm(8), nn.Dropout(0.3),
                          nn.Linear(8, 3))
    twin = copy.deepcopy(model).to("cuda")
    assert twin[0].weight.device.type == "cuda" and twin[1].num_batches_tracked.device.type == "cuda"
    x = rng.standard_normal((5, 6)).astype(np.float32)
    y = nnkit.tensor([0, 2, 1, 1, -100])
    for m, device in ((model, "cpu"), (twin, "cuda")):
        m.eval()
        loss = F.cross_entropy(m(nnkit.tensor(x, device=device)), y.to(device), label_smoothing=0.1)
        loss.backward()
        nn.utils.clip_grad_norm_(m.parameters(), 0.5)
    for (name, a), b in zip(model.named_parameters(), twin.parameters()):
        np.testing.assert_allclose(b.grad.cpu().numpy(), a.grad.numpy(), rtol=1e-4, atol=1e-6, err_msg=name)
    model.train(), twin.train()
    model(nnkit.tensor(x)), twin(nnkit.tensor(x, device="cuda"))
    np.testing.assert_allclose(twin[1].running_var.cpu().numpy(), model[1].running_var.numpy(), rtol=1e-5)
    emb = nn.Embedding(5, 2, padding_idx=0).cuda()
    assert emb(nnkit.tensor([[0, 4]], device="cuda")).shape == (1, 2, 2)
    assert nn.summary(twin, input_size=(2, 6), device="cuda").rows[-1].output_shape == (2, 3)
