"""nnkit.diagnostics.TrainingMonitor: its numbers are the ones computed by hand from public tensors."""

import numpy as np
import pytest

import nnkit
from nnkit import nn, optim
from nnkit.diagnostics import TrainingMonitor, layer_stats


def to_numpy(t):
    return t.detach().cpu().numpy().astype(np.float64)


def _step(model, monitor, opt, x, target):
    loss = nn.functional.cross_entropy(model(x), target)
    opt.zero_grad()
    loss.backward()
    monitor.step(opt)


def test_records_match_hand_computation_with_relu_and_adam():
    nnkit.manual_seed(0)
    model = nn.Sequential(nn.Linear(5, 16), nn.ReLU(), nn.Linear(16, 16), nn.Tanh(), nn.Linear(16, 3))
    monitor = TrainingMonitor(model)
    opt = optim.Adam(model.parameters(), lr=1e-2)
    x, target = nnkit.randn(64, 5), nnkit.randint(0, 3, (64,))
    relu_out = to_numpy(nnkit.relu(model[0](x)))
    tanh_out = to_numpy(nnkit.tanh(model[2](nnkit.tensor(relu_out, dtype=nnkit.float32))))
    logits = model(x)
    loss = nn.functional.cross_entropy(logits, target)
    opt.zero_grad()
    loss.backward()
    before = {k: to_numpy(model[int(k)].weight) for k in ("0", "2", "4")}
    grads = {k: to_numpy(model[int(k)].weight.grad) for k in ("0", "2", "4")}
    monitor.step(opt)
    assert list(monitor.layers) == ["0", "2", "4"]
    r0, r2, r4 = (monitor.records[k][-1] for k in ("0", "2", "4"))
    # The activation of a Linear is the output of the activation module after it (ReLU, Tanh), else its own.
    assert np.isclose(r0["act"]["zero"], np.mean(relu_out == 0)) and r0["act"]["zero"] > 0.2
    assert np.isclose(r0["act"]["std"], relu_out.std(), rtol=1e-5)
    assert np.isclose(r2["act"]["saturated"], np.mean(np.abs(tanh_out) > 0.97))
    assert np.isclose(r2["act"]["std"], tanh_out.std(), rtol=1e-5)
    assert np.isclose(r4["act"]["std"], to_numpy(logits).std(), rtol=1e-5)  # the last layer: its own output
    for k, r in (("0", r0), ("2", r2), ("4", r4)):
        assert np.isclose(r["grad"]["std"], grads[k].std(), rtol=1e-6)
        after = to_numpy(model[int(k)].weight)
        assert np.isclose(r["update_ratio"], (after - before[k]).std() / before[k].std(), rtol=1e-6)
        assert r["grad"]["hist"].sum() == grads[k].size  # the histogram's range (±4 std) holds every gradient
    # Adam's first step moves every weight by about lr: the ratio is lr / std(W).
    assert np.isclose(r2["update_ratio"], 1e-2 / before["2"].std(), rtol=0.05)


def test_summary_plot_and_update_ratios_over_steps():
    nnkit.manual_seed(1)
    model = nn.Sequential(nn.Linear(4, 8), nn.Tanh(), nn.Linear(8, 2))
    monitor = TrainingMonitor(model)
    opt = optim.SGD(model.parameters(), lr=0.1)
    x, target = nnkit.randn(32, 4), nnkit.randint(0, 2, (32,))
    for _ in range(5):
        _step(model, monitor, opt, x, target)
    ratios = monitor.update_ratios()
    assert set(ratios) == {"0", "2"} and ratios["0"].shape == (5,) and np.all(ratios["0"] > 0)
    rows = monitor.summary()
    assert [r["layer"] for r in rows] == ["0", "2"] and rows[0]["type"] == "Linear"
    assert np.isclose(rows[0]["log10_update_ratio"], np.log10(ratios["0"][-1]))
    matplotlib = pytest.importorskip("matplotlib")
    matplotlib.use("Agg")
    fig = monitor.plot()
    assert len(fig.axes) == 3 and fig.axes[2].get_title() == "update-to-data ratio"


def test_conv_layers_eval_mode_and_remove():
    nnkit.manual_seed(2)
    model = nn.Sequential(nn.Conv2d(1, 4, 3), nn.ReLU(), nn.Flatten(), nn.Linear(4 * 6 * 6, 3))
    monitor = TrainingMonitor(model, layers=(nn.Conv2d,))
    assert list(monitor.layers) == ["0"]
    opt = optim.SGD(model.parameters(), lr=0.1)
    x, target = nnkit.randn(8, 1, 8, 8), nnkit.randint(0, 3, (8,))
    _step(model, monitor, opt, x, target)
    assert monitor.records["0"][-1]["act"]["std"] > 0
    # Evaluation passes are not training activations: they are not recorded.
    fresh = TrainingMonitor(model, layers=(nn.Conv2d,))
    model.eval()
    model(x)
    model.train()
    fresh.step(opt)
    assert fresh.records["0"][-1]["act"] is None
    fresh.remove()
    model(x)
    fresh.step(opt)
    assert fresh.records["0"][-1]["act"] is None


def test_bad_input_is_named():
    with pytest.raises(TypeError, match="TrainingMonitor: expected an nnkit.nn.Module, got list"):
        TrainingMonitor([nn.Linear(2, 2)])
    with pytest.raises(ValueError, match="TrainingMonitor: the model has no layer of type Conv2d"):
        TrainingMonitor(nn.Sequential(nn.Linear(2, 2)), layers=(nn.Conv2d,))


def test_layer_stats():
    s = layer_stats(np.array([0.0, 0.5, -0.99, 0.99, 0.0]))
    assert np.isclose(s["saturated"], 0.4) and np.isclose(s["zero"], 0.4)
    assert s["hist"].sum() == 5 and len(s["bins"]) == 41
