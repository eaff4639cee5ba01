"""nnkit.nn.init: gains, fans, and the distributions each initialiser draws from
(bounds, standard deviations), in place and outside the graph; and the default
initialisation of the layers, which must match PyTorch's."""

import math

import numpy as np
import pytest

import nnkit
import nnkit.nn as nn
from nnkit.nn import init


def test_calculate_gain_values():
    assert init.calculate_gain("linear") == init.calculate_gain("conv2d") == init.calculate_gain("sigmoid") == 1.0
    assert init.calculate_gain("tanh") == pytest.approx(5 / 3)
    assert init.calculate_gain("relu") == pytest.approx(math.sqrt(2))
    assert init.calculate_gain("leaky_relu") == pytest.approx(math.sqrt(2 / (1 + 0.01 ** 2)))
    assert init.calculate_gain("leaky_relu", math.sqrt(5)) == pytest.approx(math.sqrt(1 / 3))
    assert init.calculate_gain("selu") == 0.75
    with pytest.raises(ValueError, match="unsupported nonlinearity 'swish'"):
        init.calculate_gain("swish")


def test_fans_count_the_receptive_field():
    assert init._calculate_fan_in_and_fan_out(nnkit.empty(8, 3)) == (3, 8)
    assert init._calculate_fan_in_and_fan_out(nnkit.empty(16, 3, 5, 5)) == (75, 400)
    with pytest.raises(ValueError, match="fewer than 2 dimensions"):
        init.xavier_uniform_(nnkit.empty(5))


def test_kaiming_uniform_with_a_sqrt5_is_uniform_within_one_over_sqrt_fan_in():
    fan_in = 400
    w = init.kaiming_uniform_(nnkit.empty(300, fan_in), a=math.sqrt(5)).numpy()
    bound = 1 / math.sqrt(fan_in)
    assert np.abs(w).max() <= bound
    assert np.abs(w).max() > 0.99 * bound  # it reaches the bound: the whole interval is used
    assert w.std() == pytest.approx(bound / math.sqrt(3), rel=0.02)
    assert abs(w.mean()) < 0.01 * bound


@pytest.mark.parametrize("mode, nonlinearity", [("fan_in", "relu"), ("fan_out", "relu"), ("fan_in", "tanh")])
def test_kaiming_normal_std_is_gain_over_sqrt_fan(mode, nonlinearity):
    w = init.kaiming_normal_(nnkit.empty(200, 50, 3), mode=mode, nonlinearity=nonlinearity).numpy()
    fan = 150 if mode == "fan_in" else 600
    assert w.std() == pytest.approx(init.calculate_gain(nonlinearity) / math.sqrt(fan), rel=0.02)
    with pytest.raises(ValueError, match="mode 'fan_avg' not supported"):
        init.kaiming_normal_(nnkit.empty(2, 2), mode="fan_avg")


def test_xavier_bounds_and_std():
    w = init.xavier_uniform_(nnkit.empty(300, 200), gain=2.0).numpy()
    bound = 2.0 * math.sqrt(6 / 500)
    assert np.abs(w).max() <= bound and np.abs(w).max() > 0.99 * bound
    w = init.xavier_normal_(nnkit.empty(300, 200)).numpy()
    assert w.std() == pytest.approx(math.sqrt(2 / 500), rel=0.02)


def test_simple_fills_work_in_place_on_parameters_without_a_graph():
    p = nn.Parameter(nnkit.empty(3, 4))
    array = p.array
    for fn, check in [(lambda t: init.zeros_(t), lambda a: (a == 0).all()),
                      (lambda t: init.ones_(t), lambda a: (a == 1).all()),
                      (lambda t: init.constant_(t, 0.3), lambda a: np.allclose(a, 0.3)),
                      (lambda t: init.uniform_(t, 2, 3), lambda a: ((a >= 2) & (a < 3)).all()),
                      (lambda t: init.normal_(t, 5.0, 0.01), lambda a: np.abs(a - 5).max() < 0.1),
                      (lambda t: init.eye_(t), lambda a: (a == np.eye(3, 4)).all())]:
        assert fn(p) is p
        assert p.array is array and p.grad_fn is None and p.requires_grad
        assert check(p.detach().numpy())


def test_trunc_normal_stays_within_bounds():
    w = init.trunc_normal_(nnkit.empty(10000), mean=1.0, std=2.0, a=0.0, b=1.5).numpy()
    assert w.min() >= 0.0 and w.max() <= 1.5
    assert w.mean() < 0.77  # a normal centred right of the interval piles up at its right end
    assert w.mean() > 0.7
    with pytest.raises(ValueError, match="a < b"):
        init.trunc_normal_(nnkit.empty(3), a=1, b=0)


@pytest.mark.parametrize("shape", [(4, 9), (9, 4), (3, 2, 2)])
def test_orthogonal_rows_or_columns_are_orthonormal(shape):
    w = init.orthogonal_(nnkit.empty(*shape, dtype=nnkit.float64), gain=2.0).numpy().reshape(shape[0], -1)
    small = min(w.shape)
    gram = w @ w.T if w.shape[0] == small else w.T @ w
    np.testing.assert_allclose(gram, 4.0 * np.eye(small), atol=1e-10)


def test_initialisers_follow_the_seed_and_a_generator():
    nnkit.manual_seed(3)
    a = init.kaiming_uniform_(nnkit.empty(4, 4)).numpy().copy()
    nnkit.manual_seed(3)
    b = init.kaiming_uniform_(nnkit.empty(4, 4)).numpy().copy()
    c = init.normal_(nnkit.empty(4), generator=nnkit.Generator().manual_seed(1)).numpy().copy()
    d = init.normal_(nnkit.empty(4), generator=nnkit.Generator().manual_seed(1)).numpy().copy()
    np.testing.assert_array_equal(a, b)
    np.testing.assert_array_equal(c, d)


def test_linear_default_init_is_pytorchs():
    nnkit.manual_seed(0)
    layer = nn.Linear(256, 512)
    w, b = layer.weight.detach().numpy(), layer.bias.detach().numpy()
    bound = 1 / 16
    assert w.shape == (512, 256) and b.shape == (512,)
    assert np.abs(w).max() <= bound and np.abs(w).max() > 0.999 * bound
    assert np.abs(b).max() <= bound and np.abs(b).max() > 0.95 * bound
    assert w.std() == pytest.approx(bound / math.sqrt(3), rel=0.01)
    assert w.dtype == np.float32
    assert nn.Linear(2, 2, dtype=nnkit.float64).weight.dtype == nnkit.float64


def test_other_layers_default_init():
    nnkit.manual_seed(0)
    emb = nn.Embedding(500, 40, padding_idx=3).weight.detach().numpy()
    assert (emb[3] == 0).all()
    assert emb.std() == pytest.approx(1.0, rel=0.02) and abs(emb.mean()) < 0.02
    bn = nn.BatchNorm1d(3)
    assert bn.weight.detach().numpy().tolist() == [1, 1, 1]
    assert bn.bias.detach().numpy().tolist() == [0, 0, 0]
    assert bn.running_var.numpy().tolist() == [1, 1, 1] and int(bn.num_batches_tracked) == 0
    ln = nn.LayerNorm((2, 3))
    assert ln.weight.shape == (2, 3) and float(ln.weight.sum()) == 6 and float(ln.bias.abs().sum()) == 0
    bil = nn.Bilinear(25, 4, 1000).weight.detach().numpy()
    assert np.abs(bil).max() <= 0.2 and np.abs(bil).max() > 0.199
    assert nn.PReLU(3).weight.detach().numpy().tolist() == [0.25] * 3
