"""Recurrent layers: RNN, LSTM, GRU and their cells against a step-by-step NumPy reference
written from the gate equations, finite differences through the fused scans (every option),
shapes, PyTorch's parameter names and initialisation, dropout between layers, and errors."""

import itertools
import math

import numpy as np
import pytest

import nnkit
import nnkit.nn as nn
from nnkit.gradcheck import gradcheck


def sigmoid(x):
    return 1 / (1 + np.exp(-x))


def reference_cell(mode, x, h, c, w_ih, w_hh, b_ih, b_hh):
    """One time step from the textbook equations, gates in PyTorch's order."""
    gi, gh = x @ w_ih.T + b_ih, h @ w_hh.T + b_hh
    if mode in ("RNN_TANH", "RNN_RELU"):
        pre = gi + gh
        return (np.tanh(pre) if mode == "RNN_TANH" else np.maximum(pre, 0)), None
    if mode == "LSTM":
        i, f, g, o = np.split(gi + gh, 4, axis=-1)
        c = sigmoid(f) * c + sigmoid(i) * np.tanh(g)
        return sigmoid(o) * np.tanh(c), c
    (ri, zi, ni), (rh, zh, nh) = np.split(gi, 3, axis=-1), np.split(gh, 3, axis=-1)
    r, z = sigmoid(ri + rh), sigmoid(zi + zh)
    n = np.tanh(ni + r * nh)
    return (1 - z) * n + z * h, None


def reference_layer(module, x, h0, c0):
    """The whole stacked, bidirectional recurrence on (L, N, H_in) with NumPy, from the module's weights."""
    params = {k: v.detach().numpy() for k, v in module.named_parameters()}
    directions = 2 if module.bidirectional else 1
    h_n, c_n = [], []
    for layer in range(module.num_layers):
        outputs = []
        for d in range(directions):
            suffix = f"_l{layer}" + ("_reverse" if d else "")
            gates = params["weight_ih" + suffix].shape[0]
            weights = [params["weight_ih" + suffix], params["weight_hh" + suffix],
                       params.get("bias_ih" + suffix, np.zeros(gates)), params.get("bias_hh" + suffix, np.zeros(gates))]
            k = layer * directions + d
            h, c = h0[k], (c0[k] if c0 is not None else None)
            out = [None] * len(x)
            for t in (reversed(range(len(x))) if d else range(len(x))):
                h, c = reference_cell(module.mode, x[t], h, c, *weights)
                out[t] = h
            outputs.append(np.stack(out))
            h_n.append(h)
            c_n.append(c)
        x = np.concatenate(outputs, axis=-1)
    return x, np.stack(h_n), (np.stack(c_n) if module.mode == "LSTM" else None)


def make(kind, **options):
    cls = {"RNN": nn.RNN, "RNN relu": nn.RNN, "LSTM": nn.LSTM, "GRU": nn.GRU}[kind]
    if kind == "RNN relu":
        options["nonlinearity"] = "relu"
    return cls(3, 4, **options).double()


KINDS = ["RNN", "RNN relu", "LSTM", "GRU"]
OPTIONS = {
    "1 layer": {},
    "2 layers bidirectional": {"num_layers": 2, "bidirectional": True},
    "batch_first no bias": {"batch_first": True, "bias": False},
}


@pytest.mark.parametrize("kind", KINDS)
@pytest.mark.parametrize("name", OPTIONS)
@pytest.mark.parametrize("with_state", [False, True], ids=["zero state", "given state"])
def test_layer_matches_the_gate_equations(kind, name, with_state, rng):
    nnkit.manual_seed(1)
    module = make(kind, **OPTIONS[name])
    layers, directions = module.num_layers, 2 if module.bidirectional else 1
    x = rng.standard_normal((5, 2, 3))
    h0 = rng.standard_normal((layers * directions, 2, 4)) if with_state else np.zeros((layers * directions, 2, 4))
    c0 = rng.standard_normal(h0.shape) if with_state else np.zeros(h0.shape)
    lstm = kind == "LSTM"
    state = None
    if with_state:
        state = (nnkit.tensor(h0), nnkit.tensor(c0)) if lstm else nnkit.tensor(h0)
    x_in = nnkit.tensor(x.transpose(1, 0, 2) if module.batch_first else x)
    out, states = module(x_in, state)
    h_n, c_n = states if lstm else (states, None)
    expected_out, expected_h, expected_c = reference_layer(module, x, h0, c0 if lstm else None)
    if module.batch_first:
        expected_out = expected_out.transpose(1, 0, 2)
    np.testing.assert_allclose(out.detach().numpy(), expected_out, atol=1e-12)
    np.testing.assert_allclose(h_n.detach().numpy(), expected_h, atol=1e-12)
    if lstm:
        np.testing.assert_allclose(c_n.detach().numpy(), expected_c, atol=1e-12)


GRAD_OPTIONS = {
    "1 layer, given state": ({}, True),
    "2 layers bidirectional batch_first, given state": ({"num_layers": 2, "bidirectional": True,
                                                         "batch_first": True}, True),
    "reverse only through bidirectional, no bias, zero state": ({"bidirectional": True, "bias": False}, False),
}


@pytest.mark.parametrize("kind", KINDS)
@pytest.mark.parametrize("name", GRAD_OPTIONS)
def test_layer_gradients_match_finite_differences(kind, name, rng):
    """Through outputs and final states, with respect to input, initial states and every weight."""
    options, with_state = GRAD_OPTIONS[name]
    nnkit.manual_seed(2)
    module = make(kind, **options)
    directions = 2 if module.bidirectional else 1
    lstm = kind == "LSTM"
    x = nnkit.tensor(rng.standard_normal((2, 3, 3) if module.batch_first else (3, 2, 3)), requires_grad=True)
    shape = (module.num_layers * directions, 2, 4)
    h0 = nnkit.tensor(rng.standard_normal(shape), requires_grad=True)
    c0 = nnkit.tensor(rng.standard_normal(shape), requires_grad=True)
    params = list(module.parameters())
    inputs = [x] + ([h0, c0] if lstm else [h0]) * with_state + params

    def run(x, *rest):
        state = (rest[0], rest[1]) if lstm and with_state else (rest[0] if with_state else None)
        out, states = module(x, state)
        return (out,) + (tuple(states) if lstm else (states,))
    assert gradcheck(run, inputs).ok


@pytest.mark.parametrize("cls, lstm", [(nn.RNNCell, False), (nn.LSTMCell, True), (nn.GRUCell, False)])
@pytest.mark.parametrize("batched", [True, False])
def test_cells_are_one_step_of_the_layer_and_have_correct_gradients(cls, lstm, batched, rng):
    nnkit.manual_seed(3)
    cell = cls(3, 4).double()
    mode = {nn.RNNCell: "RNN_TANH", nn.LSTMCell: "LSTM", nn.GRUCell: "GRU"}[cls]
    x, h, c = rng.standard_normal((2, 3)), rng.standard_normal((2, 4)), rng.standard_normal((2, 4))
    weights = [p.detach().numpy() for p in (cell.weight_ih, cell.weight_hh, cell.bias_ih, cell.bias_hh)]
    expected_h, expected_c = reference_cell(mode, x, h, c, *weights)
    if not batched:
        x, h, c, expected_h = x[0], h[0], c[0], expected_h[0]
        expected_c = expected_c[0] if lstm else None
    xs, hs, cs = (nnkit.tensor(a, requires_grad=True) for a in (x, h, c))
    out = cell(xs, (hs, cs)) if lstm else cell(xs, hs)
    np.testing.assert_allclose((out[0] if lstm else out).detach().numpy(), expected_h, atol=1e-12)
    if lstm:
        np.testing.assert_allclose(out[1].detach().numpy(), expected_c, atol=1e-12)
    state = [hs, cs] if lstm else [hs]
    assert gradcheck(lambda x, *s: cell(x, tuple(s[:2]) if lstm else s[0]), [xs] + state +
                     list(cell.parameters())).ok
    assert (cell(xs)[0] if lstm else cell(xs)).shape == ((2, 4) if batched else (4,))  # zero state by default


@pytest.mark.parametrize("kind", ["RNN", "LSTM", "GRU"])
@pytest.mark.parametrize("layers, bidirectional, batch_first, batched", list(itertools.product(
    [1, 3], [False, True], [False, True], [True, False])))
def test_output_and_state_shapes_are_pytorchs(kind, layers, bidirectional, batch_first, batched):
    module = getattr(nn, kind)(5, 7, num_layers=layers, bidirectional=bidirectional, batch_first=batch_first)
    d = 2 if bidirectional else 1
    if batched:
        x = nnkit.zeros((4, 6, 5) if batch_first else (6, 4, 5))
    else:
        x = nnkit.zeros(6, 5)
    out, states = module(x)
    expected_out = ((4, 6, d * 7) if batch_first else (6, 4, d * 7)) if batched else (6, d * 7)
    expected_state = (layers * d, 4, 7) if batched else (layers * d, 7)
    assert out.shape == expected_out
    for s in (states if kind == "LSTM" else (states,)):
        assert s.shape == expected_state


def test_parameter_names_shapes_and_initialisation():
    nnkit.manual_seed(0)
    lstm = nn.LSTM(10, 20, num_layers=2, bidirectional=True)
    names = [n for n, _ in lstm.named_parameters()]
    expected = [f"{kind}_l{layer}{suffix}" for layer in range(2) for suffix in ("", "_reverse")
                for kind in ("weight_ih", "weight_hh", "bias_ih", "bias_hh")]
    assert names == expected
    assert lstm.weight_ih_l0.shape == (80, 10) and lstm.weight_ih_l1.shape == (80, 40)
    assert lstm.weight_hh_l1_reverse.shape == (80, 20) and lstm.bias_hh_l0.shape == (80,)
    bound = 1 / math.sqrt(20)
    for p in lstm.parameters():
        assert np.abs(p.detach().numpy()).max() <= bound
    assert nn.GRU(4, 6).weight_ih_l0.shape == (18, 4) and nn.RNN(4, 6).weight_hh_l0.shape == (6, 6)
    assert [n for n, _ in nn.GRU(4, 6, bias=False).named_parameters()] == ["weight_ih_l0", "weight_hh_l0"]
    assert [n for n, _ in nn.LSTMCell(3, 2).named_parameters()] == ["weight_ih", "weight_hh", "bias_ih", "bias_hh"]


def test_dropout_acts_between_layers_in_training_only(rng):
    nnkit.manual_seed(4)
    x = nnkit.tensor(rng.standard_normal((5, 3, 4)).astype(np.float32))
    deep = nn.LSTM(4, 8, num_layers=2, dropout=0.5)
    a, b = deep(x)[0], deep(x)[0]
    assert not np.allclose(a.detach().numpy(), b.detach().numpy())   # different masks
    deep.eval()
    np.testing.assert_array_equal(deep(x)[0].detach().numpy(), deep(x)[0].detach().numpy())
    shallow = nn.GRU(4, 8, num_layers=1, dropout=0.5)                   # no layer after the last
    np.testing.assert_array_equal(shallow(x)[0].detach().numpy(), shallow(x)[0].detach().numpy())


def test_the_final_state_is_the_last_output_of_each_direction(rng):
    gru = nn.GRU(3, 4, bidirectional=True)
    out, h_n = gru(nnkit.tensor(rng.standard_normal((6, 2, 3)).astype(np.float32)))
    np.testing.assert_array_equal(h_n[0].detach().numpy(), out[-1, :, :4].detach().numpy())
    np.testing.assert_array_equal(h_n[1].detach().numpy(), out[0, :, 4:].detach().numpy())


def test_recurrent_errors():
    with pytest.raises(NotImplementedError, match="proj_size"):
        nn.LSTM(3, 4, proj_size=2)
    with pytest.raises(RuntimeError, match="Expected 3, got 5"):
        nn.GRU(3, 4)(nnkit.zeros(2, 1, 5))
    with pytest.raises(RuntimeError, match=r"h_0 of shape \(1, 2, 4\)"):
        nn.RNN(3, 4)(nnkit.zeros(5, 2, 3), nnkit.zeros(1, 3, 4))
    with pytest.raises(TypeError, match="tuple"):
        nn.LSTM(3, 4)(nnkit.zeros(5, 2, 3), nnkit.zeros(1, 2, 4))
    with pytest.raises(ValueError, match="nonlinearity"):
        nn.RNN(3, 4, nonlinearity="sigmoid")
    with pytest.raises(ValueError, match="dropout"):
        nn.LSTM(3, 4, dropout=1.5)


def test_an_lstm_learns_to_remember_the_first_input(rng):
    """The classic memory task: after 6 steps, output the sign of the first input."""
    nnkit.manual_seed(5)
    lstm, head = nn.LSTM(1, 8, batch_first=True), nn.Linear(8, 1)
    opt = nnkit.optim.Adam(list(lstm.parameters()) + list(head.parameters()), lr=0.05)
    x = rng.standard_normal((64, 6, 1)).astype(np.float32)
    y = nnkit.tensor((x[:, 0, 0] > 0).astype(np.float32)[:, None])
    x = nnkit.tensor(x)
    for _ in range(60):
        opt.zero_grad()
        loss = nnkit.nn.functional.binary_cross_entropy_with_logits(head(lstm(x)[0][:, -1]), y)
        loss.backward()
        opt.step()
    assert float(loss) < 0.1


# --- against PyTorch (skipped where torch is not installed) ------------------------------


@pytest.mark.torch
@pytest.mark.parametrize("kind", KINDS)
@pytest.mark.parametrize("layers, bidirectional, batch_first, bias", [(1, False, False, True), (2, True, True, True),
                                                                      (2, False, False, False)])
@pytest.mark.parametrize("direction", ["torch to nnkit", "nnkit to torch"])
def test_layer_matches_torch(kind, layers, bidirectional, batch_first, bias, direction, rng):
    torch = pytest.importorskip("torch")
    options = dict(num_layers=layers, bidirectional=bidirectional, batch_first=batch_first, bias=bias)
    if kind == "RNN relu":
        options["nonlinearity"] = "relu"
    name = kind.split()[0]
    ours, theirs = getattr(nn, name)(3, 4, **options), getattr(torch.nn, name)(3, 4, **options)
    assert list(ours.state_dict()) == list(theirs.state_dict())
    if direction == "torch to nnkit":
        ours.load_state_dict({k: v.numpy() for k, v in theirs.state_dict().items()})
    else:
        theirs.load_state_dict({k: torch.tensor(v.numpy()) for k, v in ours.state_dict().items()})
    d = 2 if bidirectional else 1
    x = rng.standard_normal((2, 5, 3) if batch_first else (5, 2, 3)).astype(np.float32)
    h0 = rng.standard_normal((layers * d, 2, 4)).astype(np.float32)
    c0 = rng.standard_normal((layers * d, 2, 4)).astype(np.float32)
    lstm = name == "LSTM"
    xo, xt = nnkit.tensor(x, requires_grad=True), torch.tensor(x, requires_grad=True)
    ho, ht = nnkit.tensor(h0, requires_grad=True), torch.tensor(h0, requires_grad=True)
    co, ct = nnkit.tensor(c0, requires_grad=True), torch.tensor(c0, requires_grad=True)
    out_o, st_o = ours(xo, (ho, co) if lstm else ho)
    out_t, st_t = theirs(xt, (ht, ct) if lstm else ht)
    results_o = [out_o] + (list(st_o) if lstm else [st_o])
    results_t = [out_t] + (list(st_t) if lstm else [st_t])
    loss_o, loss_t = 0, 0
    for a, b in zip(results_o, results_t):
        np.testing.assert_allclose(a.detach().numpy(), b.detach().numpy(), rtol=1e-4, atol=1e-5)
        up = rng.standard_normal(tuple(b.shape)).astype(np.float32)
        loss_o, loss_t = loss_o + (a * nnkit.tensor(up)).sum(), loss_t + (b * torch.tensor(up)).sum()
    loss_o.backward()
    loss_t.backward()
    for a, b in [(xo, xt), (ho, ht)] + ([(co, ct)] if lstm else []):
        np.testing.assert_allclose(a.grad.numpy(), b.grad.numpy(), rtol=1e-4, atol=1e-5)
    theirs_params = dict(theirs.named_parameters())
    for pname, p in ours.named_parameters():
        np.testing.assert_allclose(p.grad.numpy(), theirs_params[pname].grad.numpy(), rtol=1e-4, atol=1e-4)


@pytest.mark.torch
@pytest.mark.parametrize("name", ["RNNCell", "LSTMCell", "GRUCell"])
def test_cells_match_torch(name, rng):
    torch = pytest.importorskip("torch")
    ours, theirs = getattr(nn, name)(3, 4), getattr(torch.nn, name)(3, 4)
    ours.load_state_dict({k: v.numpy() for k, v in theirs.state_dict().items()})
    lstm = name == "LSTMCell"
    x, h, c = (rng.standard_normal(shape).astype(np.float32) for shape in ((2, 3), (2, 4), (2, 4)))
    leaves_o = [nnkit.tensor(a, requires_grad=True) for a in (x, h, c)]
    leaves_t = [torch.tensor(a, requires_grad=True) for a in (x, h, c)]
    out_o = ours(leaves_o[0], tuple(leaves_o[1:]) if lstm else leaves_o[1])
    out_t = theirs(leaves_t[0], tuple(leaves_t[1:]) if lstm else leaves_t[1])
    loss_o, loss_t = 0, 0
    for a, b in zip(out_o if lstm else [out_o], out_t if lstm else [out_t]):
        np.testing.assert_allclose(a.detach().numpy(), b.detach().numpy(), rtol=1e-5, atol=1e-6)
        up = rng.standard_normal(tuple(b.shape)).astype(np.float32)
        loss_o, loss_t = loss_o + (a * nnkit.tensor(up)).sum(), loss_t + (b * torch.tensor(up)).sum()
    loss_o.backward()
    loss_t.backward()
    for a, b in zip(leaves_o[:3 if lstm else 2], leaves_t):
        np.testing.assert_allclose(a.grad.numpy(), b.grad.numpy(), rtol=1e-4, atol=1e-5)
    theirs_params = dict(theirs.named_parameters())
    for pname, p in ours.named_parameters():
        np.testing.assert_allclose(p.grad.numpy(), theirs_params[pname].grad.numpy(), rtol=1e-4, atol=1e-5)
