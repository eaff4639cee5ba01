"""The backward engine and grad mode: PyTorch's bookkeeping rules, higher-order
gradients, deep graphs, and memory that is really released."""

import gc
import tracemalloc
import weakref

import numpy as np
import pytest

import nnkit
from nnkit.autograd import grad


def f64(values, requires_grad=True):
    return nnkit.tensor(np.asarray(values, dtype=np.float64), requires_grad=requires_grad)


# --- accumulation and the graph's lifetime --------------------------------------------------

def test_backward_accumulates_into_leaves_across_calls():
    x = f64([1.0, -2.0])
    (x * x).sum().backward()
    (3 * x).sum().backward()
    np.testing.assert_array_equal(x.grad.numpy(), [2.0 + 3.0, -4.0 + 3.0])


def test_gradients_along_several_paths_are_summed():
    x = f64([2.0])
    y = x * x + x.exp() * x + x  # x reaches y along four paths
    y.backward()
    np.testing.assert_allclose(x.grad.numpy(), 2 * 2.0 + np.exp(2.0) * (1 + 2.0) + 1)


def test_retain_graph_allows_a_second_backward_and_gradients_add_up():
    x = f64([1.0, 2.0])
    loss = (x * x).sum()
    loss.backward(retain_graph=True)
    loss.backward()
    np.testing.assert_array_equal(x.grad.numpy(), [4.0, 8.0])


def test_a_second_backward_through_a_freed_graph_raises_a_clear_error():
    x = f64([1.0, 2.0])
    loss = (x.exp() * x).sum()
    loss.backward()
    with pytest.raises(RuntimeError, match="backward through the graph a second time.*retain_graph=True"):
        loss.backward()


def test_a_new_graph_built_on_a_freed_part_raises_too():
    x = f64([1.0, 2.0])
    h = x.exp()
    h.sum().backward()
    with pytest.raises(RuntimeError, match="second time"):
        (h * 2).sum().backward()


def test_non_scalar_output_needs_a_gradient():
    x = f64([1.0, 2.0])
    with pytest.raises(RuntimeError, match=r"only for scalar outputs.*shape \(2,\)"):
        (x * 2).backward()
    (x * 2).backward(nnkit.tensor([1.0, 10.0], dtype=nnkit.float64))
    np.testing.assert_array_equal(x.grad.numpy(), [2.0, 20.0])


def test_a_gradient_of_the_wrong_shape_is_refused():
    x = f64([1.0, 2.0])
    with pytest.raises(RuntimeError, match=r"gradient of shape \(3,\) does not match output 0 of shape \(2,\)"):
        (x * 2).backward(nnkit.ones(3, dtype=nnkit.float64))


def test_backward_of_a_tensor_without_grad_raises():
    with pytest.raises(RuntimeError, match="does not require grad"):
        nnkit.ones(2).sum().backward()


def test_one_element_outputs_need_no_gradient():
    x = f64([3.0])
    (x * x).backward()  # shape (1,), like PyTorch
    assert x.grad.tolist() == [6.0]


def test_a_10000_op_chain_backpropagates_without_recursion():
    x = f64(1.0)
    y = x
    for _ in range(10_000):
        y = y * 1.0001
    y.backward()
    assert x.grad.item() == pytest.approx(1.0001 ** 10_000, rel=1e-9)


def test_a_deep_chain_supports_create_graph():
    x = f64(0.5)
    y = x * x
    for _ in range(2_000):
        y = y * 1.001
    (dy,) = grad(y, x, create_graph=True)
    (d2y,) = grad(dy, x)
    assert d2y.item() == pytest.approx(2 * 1.001 ** 2_000, rel=1e-9)


# --- .grad, leaves, retain_grad ---------------------------------------------------------------

def test_only_leaves_keep_grad_unless_asked_with_retain_grad():
    x = f64([1.0, 2.0])
    h = x * 3
    kept = x * 3
    kept.retain_grad()
    (h.sum() + (kept * kept).sum()).backward()
    assert x.is_leaf and not h.is_leaf
    assert h.grad is None
    np.testing.assert_array_equal(kept.grad.numpy(), 2 * kept.detach().numpy())


def test_retain_grad_needs_a_tensor_that_requires_grad():
    with pytest.raises(RuntimeError, match="does not require grad"):
        nnkit.ones(2).retain_grad()


def test_grad_is_assignable_and_none_starts_afresh():
    x = f64([1.0, 2.0])
    (x * x).sum().backward()
    x.grad = None
    (x * 5).sum().backward()
    assert x.grad.tolist() == [5.0, 5.0]
    x.grad = nnkit.tensor([1.0, 1.0], dtype=nnkit.float64)
    (x * 5).sum().backward()
    assert x.grad.tolist() == [6.0, 6.0]


def test_each_grad_has_its_own_storage():
    a, b = f64([1.0, 2.0]), f64([3.0, 4.0])
    upstream = nnkit.tensor([1.0, 1.0], dtype=nnkit.float64)
    (a + b).backward(upstream)
    a.grad.zero_()
    assert b.grad.tolist() == [1.0, 1.0] and upstream.tolist() == [1.0, 1.0]
    x = f64([[1.0, 2.0]])
    x.reshape(2).backward(upstream)  # reshape's gradient is a view of the upstream
    upstream.zero_()
    assert x.grad.tolist() == [[1.0, 1.0]]


def test_gradients_keep_the_leaf_dtype_and_shape():
    x = nnkit.ones(2, 1, dtype=nnkit.float64, requires_grad=True)
    (x.float() * nnkit.ones(3)).sum().backward()
    assert x.grad.dtype == nnkit.float64 and x.grad.shape == (2, 1)


# --- requires_grad, detach, grad mode -------------------------------------------------------

def test_requires_grad_propagates_through_ops():
    x, c = f64([1.0]), f64([2.0], requires_grad=False)
    assert (x * c).requires_grad and (x * c).grad_fn is not None
    assert not (c * c).requires_grad and (c * c).grad_fn is None
    assert not (x > 0).requires_grad  # comparisons have no gradient
    assert not x.argmax().requires_grad


def test_only_floating_tensors_can_require_grad():
    with pytest.raises(RuntimeError, match="only floating-point tensors can require gradients, got nnkit.int64"):
        nnkit.tensor([1, 2], requires_grad=True)


def test_requires_grad_can_be_switched_on_a_leaf_but_not_off_a_non_leaf():
    x = nnkit.ones(2)
    assert x.requires_grad_() is x and x.requires_grad
    y = x * 2
    with pytest.raises(RuntimeError, match="non-leaf"):
        y.requires_grad_(False)


def test_detach_shares_memory_and_leaves_the_graph():
    x = f64([1.0, 2.0])
    d = (x * 1).detach()
    assert not d.requires_grad and d.grad_fn is None and d.is_leaf
    x2 = x.detach()
    x2.array[0] = 7.0
    assert x.tolist()[0] == 7.0
    loss = (x * x.detach()).sum()  # the detached factor is a constant
    loss.backward()
    assert x.grad.tolist() == [7.0, 2.0]


def test_no_grad_records_nothing_and_restores_the_mode():
    x = f64([1.0])
    assert nnkit.is_grad_enabled()
    with nnkit.no_grad():
        assert not nnkit.is_grad_enabled()
        y = x * 2
        with nnkit.enable_grad():
            z = x * 2
    assert nnkit.is_grad_enabled()
    assert not y.requires_grad and y.grad_fn is None
    assert z.requires_grad


def test_grad_mode_is_restored_after_an_exception():
    with pytest.raises(ValueError):
        with nnkit.no_grad():
            raise ValueError
    assert nnkit.is_grad_enabled()


@pytest.mark.parametrize("decorate", [lambda f: nnkit.no_grad()(f), lambda f: nnkit.no_grad(f)],
                         ids=["no_grad()", "no_grad"])
def test_no_grad_as_a_decorator(decorate):
    @decorate
    def double(t):
        """Doubles."""
        return t * 2, nnkit.is_grad_enabled()

    y, enabled = double(f64([1.0]))
    assert not enabled and not y.requires_grad
    assert nnkit.is_grad_enabled() and double.__doc__ == "Doubles."


@pytest.mark.parametrize("decorate", [lambda f: nnkit.enable_grad()(f), lambda f: nnkit.enable_grad(f)],
                         ids=["enable_grad()", "enable_grad"])
def test_enable_grad_as_a_decorator(decorate):
    inside = decorate(lambda t: t * 2)
    with nnkit.no_grad():
        assert inside(f64([1.0])).requires_grad
        assert not nnkit.is_grad_enabled()


def test_set_grad_enabled_as_a_call_and_as_a_context():
    with nnkit.set_grad_enabled(False):
        assert not nnkit.is_grad_enabled()
    assert nnkit.is_grad_enabled()
    nnkit.set_grad_enabled(False)
    try:
        assert not (f64([1.0]) * 2).requires_grad
    finally:
        nnkit.set_grad_enabled(True)


# --- higher-order gradients --------------------------------------------------------------------

def test_second_derivative_of_x_cubed():
    x = f64([0.5, -2.0, 3.0])
    (dx,) = grad((x ** 3).sum(), x, create_graph=True)
    np.testing.assert_allclose(dx.detach().numpy(), 3 * x.detach().numpy() ** 2)
    assert dx.requires_grad
    (d2x,) = grad(dx.sum(), x)
    np.testing.assert_allclose(d2x.numpy(), 6 * x.detach().numpy())


def test_second_and_third_derivatives_of_tanh():
    x = f64([-1.0, 0.3, 2.0])
    t = np.tanh(x.detach().numpy())
    (d1,) = grad(x.tanh().sum(), x, create_graph=True)
    (d2,) = grad(d1.sum(), x, create_graph=True)
    (d3,) = grad(d2.sum(), x)
    np.testing.assert_allclose(d1.detach().numpy(), 1 - t ** 2)
    np.testing.assert_allclose(d2.detach().numpy(), -2 * t * (1 - t ** 2))
    np.testing.assert_allclose(d3.numpy(), (1 - t ** 2) * (6 * t ** 2 - 2))


def test_hessian_of_softmax_matches_its_closed_form():
    # s = softmax(x); the Hessian of s_0 is s_0 [(e0 - s)(e0 - s)^T - (diag(s) - s s^T)].
    x = f64([0.2, -1.0, 0.7, 0.1])
    s = np.exp(x.detach().numpy()) / np.exp(x.detach().numpy()).sum()
    (g,) = grad(x.softmax(0)[0], x, create_graph=True)
    hessian = np.stack([grad(g[i], x, retain_graph=True)[0].numpy() for i in range(4)])
    e0 = np.eye(4)[0]
    want = s[0] * (np.outer(e0 - s, e0 - s) - (np.diag(s) - np.outer(s, s)))
    np.testing.assert_allclose(hessian, want, atol=1e-12)


def test_hessian_vector_product_of_a_quadratic_form():
    rng = np.random.default_rng(0)
    a = rng.standard_normal((5, 5))
    A = nnkit.tensor(a + a.T)
    x, v = f64(rng.standard_normal(5)), nnkit.tensor(rng.standard_normal(5))
    f = 0.5 * (x @ (A @ x))
    (g,) = grad(f, x, create_graph=True)
    (hv,) = grad((g * v).sum(), x)
    np.testing.assert_allclose(hv.numpy(), (a + a.T) @ v.numpy(), rtol=1e-12)


def test_backward_with_create_graph_leaves_a_differentiable_grad():
    x = f64([2.0])
    (x ** 3).backward(create_graph=True)
    assert x.grad.requires_grad
    g = x.grad
    x.grad = None
    g.backward()
    assert x.grad.tolist() == [12.0]


# --- nnkit.autograd.grad ----------------------------------------------------------------------

def test_grad_returns_gradients_without_touching_dot_grad():
    x, y = f64([1.0, 2.0]), f64([3.0])
    gx, gy = grad((x * y).sum(), [x, y])
    assert gx.tolist() == [3.0, 3.0] and gy.tolist() == [3.0]
    assert x.grad is None and y.grad is None


def test_grad_with_grad_outputs_and_non_leaf_inputs():
    x = f64([1.0, 2.0])
    h = x * x
    out = h * 3
    (gh,) = grad(out, h, grad_outputs=nnkit.tensor([1.0, -1.0], dtype=nnkit.float64))
    assert gh.tolist() == [3.0, -3.0]


def test_grad_of_an_unused_input_raises_unless_allowed():
    x, unused = f64([1.0]), f64([2.0])
    with pytest.raises(RuntimeError, match="input 1 was not used.*allow_unused=True"):
        grad((x * 2).sum(), [x, unused])
    gx, gu = grad((x * 2).sum(), [x, unused], allow_unused=True)
    assert gx.tolist() == [2.0] and gu is None


def test_grad_of_an_input_that_does_not_require_grad_raises():
    with pytest.raises(RuntimeError, match="input 0 does not require grad"):
        grad(f64([1.0]).sum(), [nnkit.ones(1)])


def test_grad_frees_the_graph_unless_retained():
    x = f64([1.0])
    y = (x * x).sum()
    grad(y, x, retain_graph=True)
    grad(y, x)
    with pytest.raises(RuntimeError, match="second time"):
        grad(y, x)


def test_grad_of_several_outputs_sums_them():
    x = f64([1.0, 2.0])
    (g,) = grad([(x * x).sum(), (3 * x).sum()], x)
    assert g.tolist() == [5.0, 7.0]


# --- memory -------------------------------------------------------------------------------------

def train_step(params, x, y):
    w1, b1, w2 = params
    loss = (((x @ w1 + b1).tanh() @ w2 - y) ** 2).mean()
    loss.backward()
    with nnkit.no_grad():
        for p in params:
            p -= 0.01 * p.grad
            p.grad = None
    return loss


def test_memory_stays_flat_over_1000_training_steps():
    rng = np.random.default_rng(0)
    params = [nnkit.tensor(rng.standard_normal(s) * 0.1, requires_grad=True) for s in [(8, 16), (16,), (16, 1)]]
    x, y = nnkit.tensor(rng.standard_normal((32, 8))), nnkit.tensor(rng.standard_normal((32, 1)))
    first = train_step(params, x, y).item()
    gc.collect()
    tracemalloc.start()
    try:
        for step in range(1000):
            loss = train_step(params, x, y)
            if step == 100:
                gc.collect()  # empties CPython's free lists (up to 2,000 spare tuples of each size): not a leak
                at_100 = tracemalloc.get_traced_memory()[0]
        gc.collect()
        at_1000 = tracemalloc.get_traced_memory()[0]
    finally:
        tracemalloc.stop()
    # Leaking a single 32x16 activation per step would add about 4 MB here.
    assert at_1000 - at_100 < 64 * 1024, f"memory grew by {at_1000 - at_100} bytes over 900 steps"
    assert loss.item() < first  # the updates really happened, in place
    assert all(p.is_leaf and p.grad is None for p in params)


def test_augmented_assignment_updates_in_place_under_no_grad():
    w = f64([1.0, 2.0])
    alias = w
    (w * w).sum().backward()
    with nnkit.no_grad():
        w -= 0.5 * w.grad
        w *= 2.0
    assert alias is w and w.is_leaf and w.requires_grad
    assert w.tolist() == [0.0, 0.0]


def test_augmented_assignment_on_a_leaf_that_requires_grad_raises():
    w = f64([1.0])
    with pytest.raises(RuntimeError, match="leaf tensor that requires grad .* in-place"):
        w += 1


def test_augmented_assignment_inside_the_graph_keeps_gradients_right():
    x = f64([1.0, 2.0])
    h = x * 2
    h *= 3  # recorded as h = h * 3
    h += x
    h.sum().backward()
    assert x.grad.tolist() == [7.0, 7.0]


def test_in_place_methods_on_a_tensor_inside_the_graph_are_recorded():
    x = f64([1.0, 2.0])
    h = x * 2
    alias = h
    h.mul_(3).add_(x)
    assert alias is h and h.grad_fn is not None and h.tolist() == [7.0, 14.0]
    h.sum().backward()
    assert x.grad.tolist() == [7.0, 7.0]


def test_the_graph_is_freed_after_backward_and_del():
    x = f64(np.ones((100, 100)))
    h = x.exp()
    loss = (h * h).sum()
    alive = weakref.ref(h)
    loss.backward()
    del h, loss
    gc.collect()
    assert alive() is None


def test_backward_releases_intermediate_values_even_while_the_loss_is_kept():
    # As in PyTorch: after backward() the graph holds none of the forward's values,
    # so keeping the loss around (to print it later) keeps no activations alive.
    x = f64(np.ones((100, 100)))
    h = x.exp()
    loss = (h.tanh() * h).sum()
    alive = weakref.ref(h)
    loss.backward()
    del h
    assert alive() is None
    assert loss.item() == pytest.approx(100 * 100 * np.tanh(np.e) * np.e)


def test_leaves_never_share_gradient_storage():
    """Views and shared arrays reach several leaves; each .grad must own its memory,
    or an in-place update of one gradient (clipping, zero_) would change another."""
    a, b = nnkit.randn(3, 4, requires_grad=True), nnkit.randn(3, 4, requires_grad=True)
    nnkit.cat([a, b], 0).sum().backward()  # both gradients are views of one array
    x, y = nnkit.randn(4, requires_grad=True), nnkit.randn(4, requires_grad=True)
    seed = nnkit.ones(4)
    (x + y).backward(seed)  # add sends the caller's own array to both inputs
    pairs = [(a.grad, b.grad), (x.grad, y.grad), (x.grad, seed), (y.grad, seed)]
    for g1, g2 in pairs:
        assert not np.shares_memory(g1.numpy(), g2.numpy())
    with nnkit.no_grad():
        a.grad.mul_(0)
    np.testing.assert_array_equal(b.grad.numpy(), np.ones((3, 4)))
