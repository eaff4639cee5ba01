"""nn.Unflatten: shapes (with an inferred -1 and negative dims), the round trip with Flatten,
gradients, PyTorch, and errors that name the layer."""

import numpy as np
import pytest

import nnkit
import nnkit.nn as nn
from nnkit.gradcheck import gradcheck


@pytest.mark.parametrize("dim,sizes,shape", [(1, (3, 4), (2, 3, 4, 5)), (1, (3, -1), (2, 3, 4, 5)),
                                             (-2, (2, 2, 3), (2, 2, 2, 3, 5)), (0, (1, 2), (1, 2, 12, 5))])
def test_shapes(dim, sizes, shape):
    assert nn.Unflatten(dim, sizes)(nnkit.zeros(2, 12, 5)).shape == shape


def test_undoes_flatten_and_passes_gradients():
    x = nnkit.tensor(np.random.default_rng(0).standard_normal((2, 3, 4)), requires_grad=True)
    layers = nn.Sequential(nn.Flatten(), nn.Unflatten(1, (3, 4)))
    np.testing.assert_array_equal(layers(x).detach().numpy(), x.detach().numpy())
    gradcheck(lambda t: nn.Unflatten(1, (2, 6))(t.reshape(2, 12)), [x])
    assert "unflattened_size=(3, 4)" in repr(layers[1])


@pytest.mark.parametrize("dim,sizes,error,message", [
    (3, (3, 4), IndexError, "Unflatten: dim 3 is out of range"),
    (-4, (3, 4), IndexError, "Unflatten: dim -4 is out of range"),
    (1, (3, 5), RuntimeError, r"Unflatten: sizes \(3, 5\) don't multiply up to the size of dim 1 \(12\)"),
    (1, (5, -1), RuntimeError, "don't multiply up"),
    (1, (-1, -1), RuntimeError, "don't multiply up"),
])
def test_errors_name_the_layer(dim, sizes, error, message):
    with pytest.raises(error, match=message):
        nn.Unflatten(dim, sizes)(nnkit.zeros(2, 12, 5))


@pytest.mark.torch
def test_matches_torch():
    torch = pytest.importorskip("torch")
    x = np.arange(120.0, dtype=np.float32).reshape(2, 12, 5)
    for dim, sizes in [(1, (3, 4)), (-2, (2, -1)), (2, (5, 1))]:
        np.testing.assert_array_equal(nn.Unflatten(dim, sizes)(nnkit.tensor(x)).numpy(),
                                      torch.nn.Unflatten(dim, sizes)(torch.tensor(x)).numpy())
