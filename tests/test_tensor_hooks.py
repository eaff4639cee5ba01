"""Tensor.register_hook and Tensor.register_post_accumulate_grad_hook, as PyTorch's."""

import numpy as np
import pytest

import nnkit


def test_hook_sees_the_summed_gradient_once():
    x = nnkit.tensor([1.0, 2.0, 3.0], requires_grad=True)
    seen = []
    x.register_hook(lambda g: seen.append(g.numpy().copy()))
    (x * 2 + x * x).sum().backward()  # two paths reach x: the hook sees their sum, once
    assert len(seen) == 1
    np.testing.assert_allclose(seen[0], [4.0, 6.0, 8.0])
    np.testing.assert_allclose(x.grad.numpy(), [4.0, 6.0, 8.0])


def test_hook_return_value_replaces_the_gradient_of_a_leaf():
    x = nnkit.tensor([1.0, 2.0], requires_grad=True)
    x.register_hook(lambda g: g * 10)
    (x * 3).sum().backward()
    np.testing.assert_allclose(x.grad.numpy(), [30.0, 30.0])


def test_hook_on_an_intermediate_changes_what_flows_back_and_what_is_retained():
    x = nnkit.tensor([1.0, 2.0, 3.0], requires_grad=True)
    h = x * 2
    h.retain_grad()
    h.register_hook(lambda g: g * 10)
    h.sum().backward()
    np.testing.assert_allclose(h.grad.numpy(), [10.0, 10.0, 10.0])  # retain_grad sees the hooked value
    np.testing.assert_allclose(x.grad.numpy(), [20.0, 20.0, 20.0])


def test_hooks_run_in_registration_order_and_chain():
    x = nnkit.tensor([1.0], requires_grad=True)
    order = []
    x.register_hook(lambda g: order.append("a") or g + 1)
    x.register_hook(lambda g: order.append("b") or g * 3)
    (x * 1).sum().backward()
    assert order == ["a", "b"]
    np.testing.assert_allclose(x.grad.numpy(), [6.0])


def test_remove_takes_the_hook_off():
    x = nnkit.tensor([1.0], requires_grad=True)
    calls = []
    handle = x.register_hook(lambda g: calls.append(1))
    handle.remove()
    handle.remove()  # harmless twice
    (x * 2).sum().backward()
    assert calls == []
    with x.register_hook(lambda g: calls.append(2)):
        (x * 2).sum().backward()
    (x * 2).sum().backward()
    assert calls == [2]


def test_hook_runs_in_autograd_grad_but_post_accumulate_does_not():
    x = nnkit.tensor([1.0, 2.0], requires_grad=True)
    post = []
    x.register_hook(lambda g: g * 5)
    x.register_post_accumulate_grad_hook(lambda t: post.append(t))
    (gx,) = nnkit.autograd.grad((x * x).sum(), x)
    np.testing.assert_allclose(gx.numpy(), [10.0, 20.0])
    assert post == [] and x.grad is None


def test_post_accumulate_hook_sees_the_accumulated_grad():
    w = nnkit.nn.Parameter(nnkit.tensor([1.0, 2.0]))
    seen = []
    w.register_post_accumulate_grad_hook(lambda p: seen.append((p is w, p.grad.numpy().copy())))
    (w * 3).sum().backward()
    (w * 4).sum().backward()  # accumulates: the hook sees 3 + 4
    assert [s[0] for s in seen] == [True, True]
    np.testing.assert_allclose(seen[0][1], [3.0, 3.0])
    np.testing.assert_allclose(seen[1][1], [7.0, 7.0])


def test_post_accumulate_hooks_fire_leaf_by_leaf_during_backward():
    # The order data-parallel training relies on: the last layer's gradient is
    # ready (and its hook has run) before the first layer's backward starts.
    nnkit.manual_seed(0)
    net = nnkit.nn.Sequential(nnkit.nn.Linear(3, 4), nnkit.nn.ReLU(), nnkit.nn.Linear(4, 2))
    order = []
    for name, p in net.named_parameters():
        p.register_post_accumulate_grad_hook(lambda p, name=name: order.append(name))
    net(nnkit.randn(5, 3)).sum().backward()
    assert sorted(order) == sorted(n for n, _ in net.named_parameters())
    assert order.index("2.weight") < order.index("0.weight")


def test_hook_may_modify_grad_in_place_inside_post_accumulate():
    w = nnkit.nn.Parameter(nnkit.tensor([1.0, 2.0]))

    def halve(p):
        p.grad.array[...] *= 0.5

    w.register_post_accumulate_grad_hook(halve)
    (w * 4).sum().backward()
    np.testing.assert_allclose(w.grad.numpy(), [2.0, 2.0])


def test_hook_errors_are_pytorchs():
    with pytest.raises(RuntimeError, match="doesn't require gradient"):
        nnkit.ones(3).register_hook(lambda g: g)
    x = nnkit.ones(3, requires_grad=True)
    with pytest.raises(RuntimeError, match="non-leaf"):
        (x * 2).register_post_accumulate_grad_hook(lambda t: None)
    with pytest.raises(RuntimeError, match="doesn't require gradient"):
        nnkit.ones(3).register_post_accumulate_grad_hook(lambda t: None)
    with pytest.raises(TypeError, match="callable"):
        x.register_hook(3)
    x.register_hook(lambda g: g[:2])
    with pytest.raises(RuntimeError, match=r"changed the size.*\(3,\) to \(2,\)"):
        (x * 2).sum().backward()


def test_hooks_are_not_carried_by_detach():
    x = nnkit.ones(2, requires_grad=True)
    calls = []
    x.register_hook(lambda g: calls.append(1))
    y = x.detach().requires_grad_()
    (y * 2).sum().backward()
    assert calls == []


@pytest.mark.torch
def test_hooks_match_pytorch(rng):
    torch = pytest.importorskip("torch")
    a = rng.standard_normal((4, 3))
    b = rng.standard_normal((3, 2))
    results = {}
    for lib, make in (("nnkit", lambda v: nnkit.tensor(v, requires_grad=True)),
                      ("torch", lambda v: torch.tensor(v, requires_grad=True))):
        x, w = make(a), make(b)
        post = []
        x.register_hook(lambda g: g * 2)
        w.register_hook(lambda g: g - 1)
        w.register_post_accumulate_grad_hook(lambda p: post.append(p.grad.detach().numpy().copy()))
        h = x @ w
        h.retain_grad()
        h.register_hook(lambda g: g.clamp(min=0.0) if lib == "torch" else nnkit.clamp(g, min=0.0))
        ((h * h).sum() + h.sum()).backward()
        results[lib] = (x.grad.detach().numpy(), w.grad.detach().numpy(), h.grad.detach().numpy(), post[0])
    for ours, theirs in zip(results["nnkit"], results["torch"]):
        np.testing.assert_allclose(ours, theirs, rtol=1e-12, atol=1e-12)
