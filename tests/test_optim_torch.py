"""nnkit.optim against torch.optim: the same parameters and gradients give the same parameters.

Every optimizer, with every combination of its options, runs 30 steps on float32
parameters (a matrix, a vector and a scalar, in two parameter groups) fed the same
random gradients in both libraries. ``test_optim.py`` pins the same behaviour
without torch.
"""

import numpy as np
import pytest

import nnkit
from nnkit import optim

from test_optim import CASES, _case_id

torch = pytest.importorskip("torch")

pytestmark = pytest.mark.torch


def groups(params):
    return [{"params": params[:2]}, {"params": params[2:], "lr": 0.003}]


@pytest.mark.parametrize("name,options", CASES, ids=[_case_id(c) for c in CASES])
def test_optimizer_matches_torch_for_thirty_steps(name, options, rng):
    shapes = [(6, 4), (5,), ()]
    init = [rng.standard_normal(s).astype(np.float32) for s in shapes]
    ours = [nnkit.tensor(a, requires_grad=True) for a in init]
    theirs = [torch.tensor(a, requires_grad=True) for a in init]
    opt = getattr(optim, name)(groups(ours), **options)
    ref = getattr(torch.optim, name)(groups(theirs), **options)
    for _ in range(30):
        for p, q in zip(ours, theirs):
            g = rng.standard_normal(p.shape).astype(np.float32)
            p.grad, q.grad = nnkit.tensor(g), torch.tensor(g)
        opt.step()
        ref.step()
        for p, q in zip(ours, theirs):
            np.testing.assert_allclose(p.detach().numpy(), q.detach().numpy(), rtol=1e-5, atol=1e-6)


@pytest.mark.parametrize("name,options", [("SGD", dict(lr=0.1, momentum=0.9)), ("Adam", dict(amsgrad=True)),
                                          ("RMSprop", dict(momentum=0.9, centered=True)), ("Adagrad", {}),
                                          ("Adadelta", {}), ("AdamW", {})])
def test_state_dict_has_the_same_keys_and_values_as_torch(name, options):
    ours = [nnkit.ones(3, requires_grad=True), nnkit.ones(2, requires_grad=True), nnkit.ones(1, requires_grad=True)]
    theirs = [torch.ones(3, requires_grad=True), torch.ones(2, requires_grad=True), torch.ones(1, requires_grad=True)]
    opt = getattr(optim, name)(groups(ours), **options)
    ref = getattr(torch.optim, name)(groups(theirs), **options)
    for _ in range(2):
        for i, (p, q) in enumerate(zip(ours, theirs)):
            if i != 1:  # the middle parameter never gets a gradient
                p.grad, q.grad = nnkit.full((p.shape[0],), 0.5 + i), torch.full((q.shape[0],), 0.5 + i)
        opt.step()
        ref.step()
    sd, tsd = opt.state_dict(), ref.state_dict()
    if name != "Adagrad":  # torch's Adagrad fills its state when built; ours on the first step
        assert sorted(sd["state"]) == sorted(tsd["state"])
    for i, state in sd["state"].items():
        assert set(state) == set(tsd["state"][i])
        for key, value in state.items():
            np.testing.assert_allclose(value.numpy(), tsd["state"][i][key].numpy(), rtol=1e-6)
    implementation_switches = {"foreach", "fused", "capturable", "differentiable"}
    for group, tgroup in zip(sd["param_groups"], tsd["param_groups"]):
        assert group == {k: v for k, v in tgroup.items() if k not in implementation_switches}
