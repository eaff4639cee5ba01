"""The fused recurrent scans (one op per layer and direction, backward through time on arrays)
against the cell-by-cell form written with tensor ops: same states, same gradients; finite
differences through whole layers over every option, with a random upstream gradient on the
output and the final states; higher-order gradients (create_graph=True), which fall back to
the cell-by-cell graph; and PyTorch's values for all of it."""

import itertools

import numpy as np
import pytest

import nnkit
import nnkit.nn as nn
from nnkit.gradcheck import gradcheck
from nnkit.nn import recurrent

# mode -> (the fused scan, the cell-by-cell form, gates, whether a c state and b_hh are inputs)
SCANS = {
    "RNN_TANH": (lambda gx, w, b, h, c, rev: recurrent._rnn_scan(gx, w, h, rev, relu=False),
                 lambda gx, w, b, h, c, rev: recurrent._rnn_steps(gx, w, h, rev, relu=False), 1),
    "RNN_RELU": (lambda gx, w, b, h, c, rev: recurrent._rnn_scan(gx, w, h, rev, relu=True),
                 lambda gx, w, b, h, c, rev: recurrent._rnn_steps(gx, w, h, rev, relu=True), 1),
    "LSTM": (lambda gx, w, b, h, c, rev: recurrent._lstm_scan(gx, w, h, c, rev),
             lambda gx, w, b, h, c, rev: recurrent._lstm_steps(gx, w, h, c, rev), 4),
    "GRU": (lambda gx, w, b, h, c, rev: recurrent._gru_scan(gx, w, b, h, rev),
            lambda gx, w, b, h, c, rev: recurrent._gru_steps(gx, w, b, h, rev), 3),
}


def scan_inputs(mode, rng, steps=5, batch=3, hidden=4):
    gates = SCANS[mode][2]
    arrays = [rng.standard_normal((steps, batch, gates * hidden)), 0.5 * rng.standard_normal((gates * hidden, hidden)),
              rng.standard_normal(gates * hidden), rng.standard_normal((batch, hidden)),
              rng.standard_normal((batch, hidden))]
    return [nnkit.tensor(a, requires_grad=True) for a in arrays]


@pytest.mark.parametrize("mode", SCANS)
@pytest.mark.parametrize("reverse", [False, True], ids=["forward", "reverse"])
def test_fused_scan_equals_the_cell_by_cell_graph(mode, reverse, rng):
    """Same state buffer and, for one random upstream gradient, the same gradient for every input."""
    fused, steps, _ = SCANS[mode]
    inputs = scan_inputs(mode, rng)
    a, b = fused(*inputs, reverse), steps(*inputs, reverse)
    assert a.shape == b.shape
    np.testing.assert_allclose(a.detach().numpy(), b.detach().numpy(), rtol=1e-12, atol=1e-12)
    assert a.grad_fn.name.endswith("Scan") and b.grad_fn.name != a.grad_fn.name
    up = nnkit.tensor(rng.standard_normal(a.shape))
    used = [t for t in inputs if t is not inputs[2] or mode == "GRU"]
    used = [t for t in used if t is not inputs[4] or mode == "LSTM"]
    grads_a = nnkit.autograd.grad(a, used, up)
    grads_b = nnkit.autograd.grad(b, used, up)
    for ga, gb in zip(grads_a, grads_b):
        np.testing.assert_allclose(ga.detach().numpy(), gb.detach().numpy(), rtol=1e-10, atol=1e-12)


@pytest.mark.parametrize("mode", SCANS)
def test_fused_scan_gradients_match_finite_differences(mode, rng):
    fused = SCANS[mode][0]
    inputs = scan_inputs(mode, rng, steps=4, batch=2, hidden=3)
    for reverse in (False, True):
        assert gradcheck(lambda *a: fused(*a, reverse), inputs).ok


# Every value of every option appears, in pairs (layers × direction × batch_first × state × dropout).
LAYER_OPTIONS = [
    dict(num_layers=1, bidirectional=False, batch_first=False, state=False, dropout=0.0),
    dict(num_layers=1, bidirectional=True, batch_first=True, state=True, dropout=0.0),
    dict(num_layers=2, bidirectional=False, batch_first=True, state=False, dropout=0.5),
    dict(num_layers=2, bidirectional=True, batch_first=False, state=True, dropout=0.5),
    dict(num_layers=2, bidirectional=True, batch_first=True, state=False, dropout=0.0),
]


def layer_id(options):
    return ",".join(f"{k}={v}" for k, v in options.items())


@pytest.mark.parametrize("kind", ["LSTM", "GRU", "RNN"])
@pytest.mark.parametrize("options", LAYER_OPTIONS, ids=layer_id)
def test_layer_gradcheck_over_every_option(kind, options, rng):
    """Finite differences in float64 through output, h_n (and c_n), with a random upstream
    gradient on all of them, with respect to the input, the initial states and every weight.
    With dropout the layer is in training mode and the mask is drawn from the same seed on every
    evaluation, so it is one fixed function."""
    options = dict(options)
    with_state = options.pop("state")
    module = getattr(nn, kind)(3, 4, **options).double()
    module.train()
    lstm = kind == "LSTM"
    d = 2 if module.bidirectional else 1
    x = nnkit.tensor(rng.standard_normal((2, 3, 3)), requires_grad=True)
    h0, c0 = (nnkit.tensor(rng.standard_normal((module.num_layers * d, 2 if module.batch_first else 3, 4)),
                           requires_grad=True) for _ in range(2))
    states = ([h0, c0] if lstm else [h0]) if with_state else []

    def run(x, *rest):
        nnkit.manual_seed(7)
        state = None
        if with_state:
            state = (rest[0], rest[1]) if lstm else rest[0]
        out, st = module(x, state)
        return (out,) + (tuple(st) if lstm else (st,))
    if options["dropout"]:  # the mask does act: two seeds give two outputs
        nnkit.manual_seed(8)
        other = module(x)[0]
        assert not np.allclose(run(x, *states)[0].detach().numpy(), other.detach().numpy())
    assert gradcheck(run, [x] + states + list(module.parameters())).ok


# --- higher-order gradients: the fused scans fall back to the cell-by-cell graph ----------


@pytest.mark.parametrize("kind", ["LSTM", "GRU", "RNN"])
def test_create_graph_through_a_layer_gives_second_order_gradients(kind, rng):
    """A gradient penalty: d/dθ of Σ (d loss / d x)². The first-order gradients (of the input, the
    initial state and every weight), taken with create_graph=True, are themselves checked against
    finite differences, so their own gradients (the second order) are right. Two layers, so one
    scan's upstream gradient depends on the other's weights."""
    module = getattr(nn, kind)(2, 2, num_layers=2, bidirectional=True).double()
    lstm = kind == "LSTM"
    x = nnkit.tensor(rng.standard_normal((3, 1, 2)), requires_grad=True)
    h0 = nnkit.tensor(rng.standard_normal((4, 1, 2)), requires_grad=True)
    c0 = nnkit.tensor(rng.standard_normal((4, 1, 2)), requires_grad=True)
    up = nnkit.tensor(rng.standard_normal((3, 1, 4)))
    params = list(module.parameters())

    def first_order(x, h0, c0, *weights):
        with nnkit.enable_grad():  # gradcheck's finite differences run under no_grad
            out, states = module(x, (h0, c0) if lstm else h0)
            loss = (out * up).sum() + (states[1] if lstm else states).pow(2).sum()
            wrt = [x, h0] + [c0] * lstm + [p for p in params if p.requires_grad]
            return nnkit.autograd.grad(loss, wrt, create_graph=True)
    grads = first_order(x, h0, c0)
    assert all(g.requires_grad for g in grads)
    penalty = sum((g * g).sum() for g in grads)
    penalty.backward()  # reaches the weights through the fallback
    assert all(p.grad is not None and np.isfinite(p.grad.numpy()).all() for p in params)
    checked = [module.weight_hh_l0, module.weight_ih_l1_reverse, module.weight_hh_l1]
    for p in params:
        p.requires_grad_(any(p is q for q in checked))
    try:
        assert gradcheck(first_order, [x, h0, c0] + checked).ok
    finally:
        for p in params:
            p.requires_grad_(True)


def test_third_order_gradients_exist(rng):
    """The fallback records its own gradients as ops that can be differentiated again."""
    x = nnkit.tensor(rng.standard_normal((3, 1, 1)), requires_grad=True)
    lstm = nn.LSTM(1, 2).double()
    (g1,) = nnkit.autograd.grad(lstm(x)[0].sum(), x, create_graph=True)
    (g2,) = nnkit.autograd.grad(g1.sum(), x, create_graph=True)

    def second(x):
        with nnkit.enable_grad():
            (a,) = nnkit.autograd.grad(lstm(x)[0].sum(), x, create_graph=True)
            (b,) = nnkit.autograd.grad(a.sum(), x, create_graph=True)
            return b
    assert gradcheck(second, [x]).ok
    np.testing.assert_allclose(second(x).detach().numpy(), g2.detach().numpy(), rtol=1e-12)


def test_without_create_graph_the_fused_backward_records_nothing(rng):
    x = nnkit.tensor(rng.standard_normal((4, 2, 3)), requires_grad=True)
    (g,) = nnkit.autograd.grad(nn.LSTM(3, 5).double()(x)[0].sum(), x)
    assert not g.requires_grad and g.grad_fn is None


# --- against PyTorch ------------------------------------------------------------------------


def _copy_to_torch(ours, torch_cls, torch, **options):
    theirs = torch_cls(ours.input_size, ours.hidden_size, **options).double()
    theirs.load_state_dict({k: torch.tensor(v.numpy()) for k, v in ours.state_dict().items()})
    return theirs


@pytest.mark.torch
@pytest.mark.parametrize("kind", ["LSTM", "GRU", "RNN"])
@pytest.mark.parametrize("options", [o for o in LAYER_OPTIONS if not o["dropout"]], ids=layer_id)
def test_layer_forward_and_every_gradient_match_torch(kind, options, rng):
    """Same weights: output, final states and the gradient of every input, state and weight, for a
    random upstream gradient on all outputs (float64, so the comparison is tight)."""
    torch = pytest.importorskip("torch")
    options = dict(options)
    with_state = options.pop("state")
    options.pop("dropout")
    ours = getattr(nn, kind)(3, 4, **options).double()
    theirs = _copy_to_torch(ours, getattr(torch.nn, kind), torch, **options)
    lstm = kind == "LSTM"
    d = 2 if options["bidirectional"] else 1
    x = rng.standard_normal((2, 5, 3))
    h0, c0 = (rng.standard_normal((options["num_layers"] * d, 2 if options["batch_first"] else 5, 4))
              for _ in range(2))
    leaves_o = [nnkit.tensor(a, requires_grad=True) for a in (x, h0, c0)]
    leaves_t = [torch.tensor(a, requires_grad=True) for a in (x, h0, c0)]

    def state(leaves):
        if not with_state:
            return None
        return (leaves[1], leaves[2]) if lstm else leaves[1]
    out_o, st_o = ours(leaves_o[0], state(leaves_o))
    out_t, st_t = theirs(leaves_t[0], state(leaves_t))
    results = zip([out_o] + (list(st_o) if lstm else [st_o]), [out_t] + (list(st_t) if lstm else [st_t]))
    loss_o = loss_t = 0
    for a, b in results:
        np.testing.assert_allclose(a.detach().numpy(), b.detach().numpy(), rtol=1e-10, atol=1e-12)
        up = rng.standard_normal(tuple(b.shape))
        loss_o, loss_t = loss_o + (a * nnkit.tensor(up)).sum(), loss_t + (b * torch.tensor(up)).sum()
    loss_o.backward()
    loss_t.backward()
    used = 1 + (2 if lstm else 1) * with_state
    for a, b in zip(leaves_o[:used], leaves_t[:used]):
        np.testing.assert_allclose(a.grad.numpy(), b.grad.numpy(), rtol=1e-9, atol=1e-11)
    theirs_params = dict(theirs.named_parameters())
    for name, p in ours.named_parameters():
        np.testing.assert_allclose(p.grad.numpy(), theirs_params[name].grad.numpy(), rtol=1e-9, atol=1e-11)


@pytest.mark.torch
@pytest.mark.parametrize("kind", ["LSTM", "GRU", "RNN"])
def test_second_order_gradients_match_torch(kind, rng):
    """A gradient penalty through a two-layer bidirectional layer: d/dθ Σ (d loss / d x)²."""
    torch = pytest.importorskip("torch")
    ours = getattr(nn, kind)(2, 3, num_layers=2, bidirectional=True, batch_first=True).double()
    theirs = _copy_to_torch(ours, getattr(torch.nn, kind), torch, num_layers=2, bidirectional=True,
                            batch_first=True)
    x, up = rng.standard_normal((2, 4, 2)), rng.standard_normal((2, 4, 6))
    xo, xt = nnkit.tensor(x, requires_grad=True), torch.tensor(x, requires_grad=True)
    (go,) = nnkit.autograd.grad((ours(xo)[0] * nnkit.tensor(up)).sum(), xo, create_graph=True)
    (gt,) = torch.autograd.grad((theirs(xt)[0] * torch.tensor(up)).sum(), xt, create_graph=True)
    np.testing.assert_allclose(go.detach().numpy(), gt.detach().numpy(), rtol=1e-10, atol=1e-12)
    (go * go).sum().backward()
    (gt * gt).sum().backward()
    np.testing.assert_allclose(xo.grad.numpy(), xt.grad.numpy(), rtol=1e-9, atol=1e-11)
    theirs_params = dict(theirs.named_parameters())
    for name, p in ours.named_parameters():
        np.testing.assert_allclose(p.grad.numpy(), theirs_params[name].grad.numpy(), rtol=1e-9, atol=1e-11)


def test_options_cover_every_value():
    for key in ("num_layers", "bidirectional", "batch_first", "state", "dropout"):
        values = {o[key] for o in LAYER_OPTIONS}
        assert len(values) == 2, key
    pairs = {(o["num_layers"], o["bidirectional"]) for o in LAYER_OPTIONS}
    assert pairs == set(itertools.product((1, 2), (False, True)))
