"""float16 reductions and normalisations accumulate in float32, as PyTorch does on the CPU (issue 10).

Each case used to give inf or zeros in float16 where PyTorch gives a finite answer.
"""

from __future__ import annotations

import numpy as np
import pytest

import nnkit
from nnkit import nn
from nnkit.nn import functional as F

H = nnkit.float16


def test_the_issues_cases_are_finite():
    assert float(nnkit.full((4096,), 20.0, dtype=H).mean()) == 20.0
    errors = nnkit.full((10_000,), 3.0, dtype=H)
    assert float(F.mse_loss(errors, nnkit.zeros(10_000, dtype=H))) == 9.0
    x = nnkit.tensor([[300.0, -300.0, 0.0, 1.0]], dtype=H)
    out = F.layer_norm(x, (4,))
    assert out.dtype == H and bool(out.isfinite().all())
    bn = nn.BatchNorm1d(1).half()
    out = bn(x.reshape(4, 1))
    assert out.dtype == H and bool(out.isfinite().all()) and bool(bn.running_var.isfinite().all())
    s = nnkit.zeros(70_000, dtype=H).softmax(0)
    assert s.dtype == H and float(s[0]) > 0 and abs(float(s.float().sum()) - 1) < 0.05


def test_gradients_stay_in_float16_and_finite():
    x = nnkit.full((4096,), 20.0, dtype=H, requires_grad=True)
    x.mean().backward()
    assert x.grad.dtype == H and np.allclose(x.grad.numpy(), 1 / 4096)


# (name, function of (lib, x, y)); x is (64, 300) of values of size ~300, y like x.
CASES = [
    ("sum", lambda lib, x, y: x.sum()),
    ("sum_dim", lambda lib, x, y: x.sum(1)),
    ("mean", lambda lib, x, y: x.mean()),
    ("mean_dim", lambda lib, x, y: x.mean(0)),
    ("var", lambda lib, x, y: x.var(1)),
    ("std", lambda lib, x, y: x.std()),
    ("norm", lambda lib, x, y: x.norm()),
    ("cumsum", lambda lib, x, y: x.cumsum(1)),
    ("prod", lambda lib, x, y: (x / 300).prod(1)),
    ("softmax", lambda lib, x, y: (x / 30).softmax(1)),
    ("log_softmax", lambda lib, x, y: (x / 30).log_softmax(1)),
    ("logsumexp", lambda lib, x, y: x.logsumexp(1)),
    ("mse_loss", lambda lib, x, y: lib.nn.functional.mse_loss(x / 4, y / 4)),
    ("l1_loss", lambda lib, x, y: lib.nn.functional.l1_loss(x, y)),
    ("smooth_l1_loss", lambda lib, x, y: lib.nn.functional.smooth_l1_loss(x, y)),
    ("huber_loss", lambda lib, x, y: lib.nn.functional.huber_loss(x, y, delta=2.0)),
    ("cross_entropy", lambda lib, x, y: lib.nn.functional.cross_entropy(x / 30, (y[:, 0] > 0).long() * 7)),
    ("bce_with_logits", lambda lib, x, y: lib.nn.functional.binary_cross_entropy_with_logits(x / 100, (y > 0).half())),
    ("bce", lambda lib, x, y: lib.nn.functional.binary_cross_entropy(x.abs() / 2048 + 0.01, (y > 0).half())),
    ("layer_norm", lambda lib, x, y: lib.nn.functional.layer_norm(x, (300,))),
    ("batch_norm_train", lambda lib, x, y: lib.nn.functional.batch_norm(
        x, lib.zeros(300, dtype=x.dtype), lib.ones(300, dtype=x.dtype), training=True)),
    ("batch_norm_eval", lambda lib, x, y: lib.nn.functional.batch_norm(
        x, x.mean(0), x.var(0), training=False)),
]


@pytest.mark.torch
@pytest.mark.parametrize("name, fn", CASES, ids=[c[0] for c in CASES])
def test_float16_reductions_and_normalisations_as_pytorch(name, fn):
    torch = pytest.importorskip("torch")
    rng = np.random.default_rng(0)
    x = (rng.standard_normal((64, 300)) * 300).astype(np.float16)
    y = (rng.standard_normal((64, 300)) * 300).astype(np.float16)
    ours = fn(nnkit, nnkit.tensor(x), nnkit.tensor(y))
    theirs = fn(torch, torch.tensor(x), torch.tensor(y))
    assert ours.dtype == H and theirs.dtype == torch.float16
    a, b = ours.float().numpy(), theirs.float().numpy()
    assert np.array_equal(np.isfinite(a), np.isfinite(b))
    scale = np.abs(b[np.isfinite(b)]).max() if np.isfinite(b).any() else 1.0
    np.testing.assert_allclose(a, b, rtol=4e-3, atol=4e-3 * max(scale, 1e-3))
