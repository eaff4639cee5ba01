"""Autograd tools: ``autograd.Function``, ``once_differentiable``, ``autograd.functional``
(jacobian, hessian, vjp, jvp, hvp, vhp), ``grad``'s options and ``inference_mode``.

Custom Functions are gradchecked in float64 on contiguous, transposed and strided
inputs, with broadcasting, and twice (their backward is written with tensor ops,
so it is recorded under ``create_graph``).
"""

import threading

import numpy as np
import pytest
from test_ops_gradcheck import LAYOUTS, check, check_second, make_array

import nnkit
from nnkit.autograd import Function, once_differentiable
from nnkit.autograd.functional import hessian, hvp, jacobian, jvp, vhp, vjp


class Cube(Function):
    @staticmethod
    def forward(ctx, x):
        ctx.save_for_backward(x)
        return x ** 3

    @staticmethod
    def backward(ctx, g):
        (x,) = ctx.saved_tensors
        return g * 3 * x ** 2


class ScaledProduct(Function):
    """x * y * alpha + y, broadcasting; its backward returns gradients of the broadcast shape."""

    @staticmethod
    def forward(ctx, x, y, alpha):
        ctx.save_for_backward(x, y)
        ctx.alpha = alpha
        return x * y * alpha + y

    @staticmethod
    def backward(ctx, g):
        x, y = ctx.saved_tensors
        return g * y * ctx.alpha, g * x * ctx.alpha + g, None


class Exp(Function):
    """Saves its output: the second derivative goes through this Function again."""

    @staticmethod
    def forward(ctx, x):
        y = x.exp()
        ctx.save_for_backward(y)
        return y

    @staticmethod
    def backward(ctx, g):
        (y,) = ctx.saved_tensors
        return g * y


class DoubleAndSquare(Function):
    @staticmethod
    def forward(ctx, x):
        ctx.save_for_backward(x)
        return x * 2, x * x

    @staticmethod
    def backward(ctx, g_double, g_square):
        (x,) = ctx.saved_tensors
        return g_double * 2 + g_square * 2 * x


FUNCTIONS = {
    "cube": (Cube.apply, [(3, 4)]),
    "scaled_product_broadcast": (lambda x, y: ScaledProduct.apply(x, y, 1.5), [(3, 1), (1, 4)]),
    "scaled_product": (lambda x, y: ScaledProduct.apply(x, y, -2.0), [(3, 4), (3, 4)]),
    "exp_saving_its_output": (Exp.apply, [(3, 4)]),
    "two_outputs": (DoubleAndSquare.apply, [(3, 4)]),
    "two_outputs_one_used": (lambda x: DoubleAndSquare.apply(x)[1], [(3, 4)]),
}


@pytest.mark.parametrize("layout", LAYOUTS)
@pytest.mark.parametrize("name", FUNCTIONS)
def test_a_function_passes_gradcheck(name, layout, rng):
    fn, shapes = FUNCTIONS[name]
    check(fn, [make_array(rng, s, "r", layout) for s in shapes])


@pytest.mark.parametrize("name", FUNCTIONS)
def test_a_function_written_with_tensor_ops_is_differentiable_twice(name, rng):
    fn, shapes = FUNCTIONS[name]
    check_second(fn, [make_array(rng, s) for s in shapes], rng)


def test_forward_values_and_the_node_name():
    x = nnkit.tensor([1.0, 2.0], requires_grad=True)
    y = Cube.apply(x)
    assert y.tolist() == [1.0, 8.0] and repr(y.grad_fn) == "<CubeBackward>"
    a, b = DoubleAndSquare.apply(x)
    assert repr(a.grad_fn) == repr(b.grad_fn) == "<DoubleAndSquareBackward>"
    (a.sum() + 3 * b.sum()).backward()
    assert x.grad.tolist() == [8.0, 14.0]


def test_without_grad_apply_records_nothing():
    x = nnkit.tensor([1.0, 2.0], requires_grad=True)
    with nnkit.no_grad():
        y = Cube.apply(x)
    assert y.grad_fn is None and not y.requires_grad
    assert Cube.apply(nnkit.tensor([2.0])).grad_fn is None


def test_inputs_that_are_not_tensors_and_keyword_arguments():
    seen = {}

    class Scale(Function):
        @staticmethod
        def forward(ctx, x, k, shift=0.0):
            seen["needs"] = ctx.needs_input_grad
            ctx.k = k
            return x * k + shift

        @staticmethod
        def backward(ctx, g):
            return g * ctx.k, None, None

    x = nnkit.tensor([1.0, 2.0], requires_grad=True)
    y = Scale.apply(x, 3.0, shift=1.0)
    assert y.tolist() == [4.0, 7.0] and seen["needs"] == (True, False)
    y.sum().backward()
    assert x.grad.tolist() == [3.0, 3.0]
    constant = nnkit.tensor([5.0])
    Scale.apply(x, constant)
    assert seen["needs"] == (True, False)


def test_gradients_of_unused_outputs_are_zeros_or_none():
    received = []

    class Pair(Function):
        @staticmethod
        def forward(ctx, x, materialize):
            ctx.set_materialize_grads(materialize)
            return x * 2, x * 3

        @staticmethod
        def backward(ctx, g1, g2):
            received.append((g1, g2))
            return (g2 * 3 if g1 is None else g1 * 2 + g2 * 3), None

    x = nnkit.tensor([1.0, 1.0], requires_grad=True)
    Pair.apply(x, True)[1].sum().backward()
    assert received[-1][0].tolist() == [0.0, 0.0] and x.grad.tolist() == [3.0, 3.0]
    x.grad = None
    Pair.apply(x, False)[1].sum().backward()
    assert received[-1][0] is None and x.grad.tolist() == [3.0, 3.0]


def test_mark_non_differentiable():
    class MaxWithIndex(Function):
        @staticmethod
        def forward(ctx, x):
            index = x.argmax()
            ctx.mark_non_differentiable(index)
            ctx.save_for_backward(index)
            ctx.shape = x.shape
            return x.max(), index

        @staticmethod
        def backward(ctx, g, g_index):
            (index,) = ctx.saved_tensors
            assert g_index.tolist() == 0 and g_index.dtype is nnkit.int64  # zeros for the index, as PyTorch
            grad = nnkit.zeros(ctx.shape)
            grad[index] = g
            return grad

    x = nnkit.tensor([1.0, 5.0, 2.0], requires_grad=True)
    value, index = MaxWithIndex.apply(x)
    assert value.requires_grad and not index.requires_grad and index.item() == 1
    value.backward()
    assert x.grad.tolist() == [0.0, 1.0, 0.0]


def test_an_input_returned_unchanged_gets_a_new_tensor():
    class Identity(Function):
        @staticmethod
        def forward(ctx, x):
            return x

        @staticmethod
        def backward(ctx, g):
            return g * 2

    x = nnkit.tensor([1.0, 2.0], requires_grad=True)
    y = Identity.apply(x)
    assert y is not x and x.grad_fn is None and y.grad_fn is not None
    y.sum().backward()
    assert x.grad.tolist() == [2.0, 2.0]


def test_mark_dirty_gives_the_changed_input_the_node():
    class AddOneInPlace(Function):
        @staticmethod
        def forward(ctx, x):
            x.add_(1)
            ctx.mark_dirty(x)
            return x

        @staticmethod
        def backward(ctx, g):
            return g

    leaf = nnkit.tensor([1.0, 2.0], requires_grad=True)
    x = leaf * 1
    y = AddOneInPlace.apply(x)
    assert y is x and x.tolist() == [2.0, 3.0] and repr(x.grad_fn) == "<AddOneInPlaceBackward>"
    (x * 3).sum().backward()
    assert leaf.grad.tolist() == [3.0, 3.0]
    with pytest.raises(RuntimeError, match="leaf tensor that requires grad"):
        AddOneInPlace.apply(nnkit.tensor([1.0], requires_grad=True))


def test_setup_context_style():
    class Square(Function):
        @staticmethod
        def forward(x):
            return x * x

        @staticmethod
        def setup_context(ctx, inputs, output):
            ctx.save_for_backward(inputs[0])

        @staticmethod
        def backward(ctx, g):
            (x,) = ctx.saved_tensors
            return 2 * g * x

    x = nnkit.tensor([3.0], requires_grad=True)
    Square.apply(x).backward()
    assert x.grad.tolist() == [6.0]


class Returns(Function):
    """A backward that returns whatever ctx.result says (for the error checks)."""

    @staticmethod
    def forward(ctx, x, result):
        ctx.result = result
        return x * 1

    @staticmethod
    def backward(ctx, g):
        return ctx.result(g)


@pytest.mark.parametrize("result, error, message", [
    (lambda g: g, RuntimeError, r"returned an incorrect number of gradients \(expected 2, got 1\)"),
    (lambda g: (g, g), RuntimeError, "gradient different than None at position 2"),
    (lambda g: (g[:1], None), RuntimeError, r"invalid gradient at index 0 - got \[1\] but expected shape "
                                            r"compatible with \[2\]"),
    (lambda g: (3.0, None), TypeError, "returned a float as the gradient at index 0"),
])
def test_backward_results_are_checked(result, error, message):
    x = nnkit.tensor([1.0, 2.0], requires_grad=True)
    with pytest.raises(error, match=message):
        Returns.apply(x, result).sum().backward()


def test_extra_none_gradients_and_wider_gradients_are_accepted():
    x = nnkit.tensor([1.0, 2.0], requires_grad=True)
    Returns.apply(x, lambda g: (g.expand(3, 2), None, None)).sum().backward()  # summed back to x's shape
    assert x.grad.tolist() == [3.0, 3.0]
    x.grad = None
    Returns.apply(x, lambda g: (g.double(), None)).sum().backward()  # cast to x's dtype
    assert x.grad.dtype is nnkit.float32


def test_a_saved_tensor_changed_in_place_makes_backward_raise():
    x = nnkit.tensor([1.0, 2.0], requires_grad=True)
    y = Cube.apply(x)
    with nnkit.no_grad():
        x.mul_(2)
    with pytest.raises(RuntimeError, match="modified by an inplace operation.*CubeBackward"):
        y.sum().backward()


def test_save_for_backward_takes_tensors_only():
    class SavesANumber(Function):
        @staticmethod
        def forward(ctx, x):
            ctx.save_for_backward(x, 3)
            return x

    with pytest.raises(TypeError, match="argument 1 is of type int"):
        SavesANumber.apply(nnkit.ones(1, requires_grad=True))


def test_once_differentiable():
    class RawSquare(Function):
        @staticmethod
        def forward(ctx, x):
            ctx.save_for_backward(x)
            return x * x

        @staticmethod
        @once_differentiable
        def backward(ctx, g):
            (x,) = ctx.saved_tensors
            return nnkit.from_numpy(2 * x.detach().numpy() * g.detach().numpy())  # raw arrays: no graph

    x = nnkit.tensor([1.0, 3.0], requires_grad=True)
    (g,) = nnkit.autograd.grad(RawSquare.apply(x).sum(), x)
    assert g.tolist() == [2.0, 6.0]
    (g,) = nnkit.autograd.grad(RawSquare.apply(x).sum(), x, create_graph=True)
    assert not g.requires_grad  # the upstream gradient (ones) needs none: nothing to differentiate, as PyTorch
    (g,) = nnkit.autograd.grad(RawSquare.apply(x), x, nnkit.ones(2, requires_grad=True), create_graph=True)
    assert g.requires_grad
    with pytest.raises(RuntimeError, match="differentiate twice a function that was marked with @once_differentiable"):
        g.sum().backward()


# --- autograd.functional ---------------------------------------------------------------------------

def x2(rng, *shape):
    return nnkit.tensor(rng.standard_normal(shape))


def test_jacobian_shapes_and_values(rng):
    x, y = x2(rng, 3), x2(rng, 2)
    j = jacobian(lambda a: a ** 2, x)
    np.testing.assert_allclose(j.numpy(), np.diag(2 * x.numpy()))
    jx, jy = jacobian(lambda a, b: a.sum() * b, (x, y))
    assert jx.shape == (2, 3) and jy.shape == (2, 2)
    np.testing.assert_allclose(jy.numpy(), np.eye(2) * x.sum().item())
    (j1,), (j2,) = jacobian(lambda a: (a * 3, a.sum()), (x,))
    assert j1.shape == (3, 3) and j2.shape == (3,)
    both = jacobian(lambda a: (a * 3, a.sum()), x)
    assert isinstance(both, tuple) and both[1].tolist() == [1.0, 1.0, 1.0]
    m = x2(rng, 2, 3)
    assert jacobian(lambda a: a.t(), m).shape == (3, 2, 2, 3)
    assert not j.requires_grad and x.grad is None


def test_jacobian_independent_outputs_and_strict_mode(rng):
    x, y = x2(rng, 2), x2(rng, 2)
    _, jy = jacobian(lambda a, b: a * 2, (x, y))
    assert jy.tolist() == [[0.0, 0.0], [0.0, 0.0]]
    with pytest.raises(RuntimeError, match="output 0 of the function is independent of input 1"):
        jacobian(lambda a, b: a * 2, (x, y), strict=True)
    with pytest.raises(TypeError, match="must be either a Tensor or a tuple of Tensors"):
        jacobian(lambda a: 3, x)
    with pytest.raises(NotImplementedError, match="requires vectorize=True"):
        jacobian(lambda a: a, x, strategy="forward-mode")
    assert jacobian(lambda a: a * 2, x, vectorize=True, strategy="forward-mode").tolist() == [[2.0, 0.0], [0.0, 2.0]]


def test_jacobian_with_create_graph_is_differentiable(rng):
    x = nnkit.tensor(rng.standard_normal(3), requires_grad=True)
    j = jacobian(lambda a: a ** 3, x, create_graph=True)
    assert j.requires_grad
    (g,) = nnkit.autograd.grad(j.sum(), x)
    np.testing.assert_allclose(g.numpy(), 6 * x.detach().numpy())


def test_hessian(rng):
    x = x2(rng, 3)
    h = hessian(lambda a: (a ** 3).sum(), x)
    np.testing.assert_allclose(h.numpy(), np.diag(6 * x.numpy()))
    y = x2(rng, 2)
    (hxx, hxy), (hyx, hyy) = hessian(lambda a, b: (a.sum() * b ** 2).sum(), (x, y))
    assert hxx.shape == (3, 3) and hxy.shape == (3, 2) and hyx.shape == (2, 3) and hyy.shape == (2, 2)
    np.testing.assert_allclose(hxy.numpy(), np.tile(2 * y.numpy(), (3, 1)))
    np.testing.assert_allclose(hyy.numpy(), np.eye(2) * 2 * x.sum().item())
    assert hessian(lambda a: (a * 2).sum(), x).tolist() == [[0.0] * 3] * 3  # linear: a zero hessian
    with pytest.raises(RuntimeError, match="single element"):
        hessian(lambda a: a * 2, x)
    with pytest.raises(RuntimeError, match="jacobian of the function with respect to input 0"):
        hessian(lambda a: (a * 2).sum(), x, strict=True)


def test_vector_products_agree_with_the_jacobian(rng):
    x = x2(rng, 3)
    f = lambda a: a.sin() * a.sum()  # noqa: E731
    j = jacobian(f, x).numpy()
    v, u = x2(rng, 3), x2(rng, 3)
    out, product = vjp(f, x, v)
    np.testing.assert_allclose(out.numpy(), f(x).numpy())
    np.testing.assert_allclose(product.numpy(), v.numpy() @ j, rtol=1e-10)
    out, product = jvp(f, x, u)
    np.testing.assert_allclose(product.numpy(), j @ u.numpy(), rtol=1e-10)
    g = lambda a: (a.sin() * a.sum()).sum()  # noqa: E731
    h = hessian(g, x).numpy()
    out, product = hvp(g, x, u)
    assert out.shape == () and product.shape == (3,)
    np.testing.assert_allclose(product.numpy(), h @ u.numpy(), rtol=1e-10)
    np.testing.assert_allclose(vhp(g, x, u)[1].numpy(), u.numpy() @ h, rtol=1e-10)


def test_vector_products_with_tuples_and_their_checks(rng):
    x, y = x2(rng, 2), x2(rng, 2)
    f = lambda a, b: (a * b, a.sum())  # noqa: E731
    out, (px, py) = vjp(f, (x, y), (nnkit.ones(2, dtype=nnkit.float64), nnkit.tensor(2.0, dtype=nnkit.float64)))
    assert isinstance(out, tuple) and len(out) == 2
    np.testing.assert_allclose(px.numpy(), y.numpy() + 2)
    _, (t1, t2) = jvp(f, (x, y), (nnkit.ones(2, dtype=nnkit.float64), nnkit.zeros(2, dtype=nnkit.float64)))
    np.testing.assert_allclose(t1.numpy(), y.numpy())
    assert t2.item() == 2.0
    assert vjp(lambda a: a.sum(), x)[1].tolist() == [1.0, 1.0]  # v may be left out for one element
    with pytest.raises(RuntimeError, match="v can only be None"):
        vjp(lambda a: a * 2, x)
    with pytest.raises(RuntimeError, match=r"entry 0 in v has invalid size: should be \(2,\) but got \(3,\)"):
        vjp(lambda a: a * 2, x, nnkit.ones(3, dtype=nnkit.float64))
    with pytest.raises(RuntimeError, match="v is a tuple of invalid length"):
        jvp(lambda a, b: a, (x, y), (nnkit.ones(2, dtype=nnkit.float64),))
    with pytest.raises(RuntimeError, match="independent of input 1"):
        vjp(lambda a, b: a.sum(), (x, y), strict=True)
    assert vjp(lambda a, b: a.sum(), (x, y))[1][1].tolist() == [0.0, 0.0]


def test_vector_products_with_create_graph_stay_differentiable(rng):
    x = nnkit.tensor(rng.standard_normal(3), requires_grad=True)
    v = nnkit.tensor(rng.standard_normal(3))
    _, product = hvp(lambda a: (a ** 3).sum(), x, v, create_graph=True)
    (g,) = nnkit.autograd.grad(product.sum(), x)
    np.testing.assert_allclose(g.numpy(), 6 * v.numpy())
    _, product = vhp(lambda a: (a ** 3).sum(), x, v)
    assert not product.requires_grad


# --- grad's options ----------------------------------------------------------------------------

def test_grad_materialize_grads_and_allow_unused():
    x, unused = nnkit.ones(2, requires_grad=True), nnkit.ones(3, requires_grad=True)
    gx, gu = nnkit.autograd.grad((x * 2).sum(), (x, unused), materialize_grads=True)
    assert gx.tolist() == [2.0, 2.0] and gu.tolist() == [0.0, 0.0, 0.0]
    assert nnkit.autograd.grad((x * 2).sum(), (x, unused), allow_unused=True)[1] is None
    with pytest.raises(ValueError, match="allow_unused to be True or not passed"):
        nnkit.autograd.grad((x * 2).sum(), (x, unused), allow_unused=False, materialize_grads=True)
    with pytest.raises(RuntimeError, match="input 1 was not used"):
        nnkit.autograd.grad((x * 2).sum(), (x, unused))


def test_grad_with_batched_grad_outputs_is_one_backward_per_vector(rng):
    x = nnkit.tensor(rng.standard_normal(3), requires_grad=True)
    y = x.sin() * 2
    vs = nnkit.tensor(rng.standard_normal((4, 3)))
    (batched,) = nnkit.autograd.grad(y, x, vs, is_grads_batched=True)
    assert batched.shape == (4, 3)
    np.testing.assert_allclose(batched.numpy(), vs.numpy() * 2 * np.cos(x.detach().numpy()))
    with pytest.raises(RuntimeError, match="first \\(batch\\) dim"):
        nnkit.autograd.grad(y, x, nnkit.tensor(1.0), is_grads_batched=True)


# --- inference_mode -------------------------------------------------------------------------------

def test_inference_mode_records_no_graph():
    w = nnkit.ones(2, requires_grad=True)
    assert not nnkit.is_inference_mode_enabled()
    with nnkit.inference_mode():
        y = w * 2
        assert nnkit.is_inference_mode_enabled() and not nnkit.is_grad_enabled()
        with nnkit.inference_mode(False):
            assert not nnkit.is_inference_mode_enabled() and nnkit.is_grad_enabled()
            assert (w * 2).requires_grad
        assert not nnkit.is_grad_enabled()
    assert not y.requires_grad and nnkit.is_grad_enabled() and not nnkit.is_inference_mode_enabled()
    with nnkit.no_grad(), nnkit.inference_mode(False):  # off turns grad mode on, as PyTorch
        assert nnkit.is_grad_enabled()


def test_inference_mode_as_a_decorator():
    w = nnkit.ones(2, requires_grad=True)

    @nnkit.inference_mode
    def bare(a):
        return a * 2, nnkit.is_inference_mode_enabled()

    @nnkit.inference_mode()
    def called(a):
        return a * 2

    @nnkit.inference_mode()
    def generate(a):
        while True:
            yield (a * 2).requires_grad

    out, enabled = bare(w)
    assert not out.requires_grad and enabled and not called(w).requires_grad
    items = generate(w)
    assert next(items) is False and (w * 2).requires_grad and next(items) is False


def test_inference_mode_belongs_to_its_thread():
    seen = []
    with nnkit.inference_mode():
        thread = threading.Thread(target=lambda: seen.append(nnkit.is_inference_mode_enabled()))
        thread.start()
        thread.join()
    assert seen == [False]


def test_torch_utils_data_path():
    from nnkit.utils.data import DataLoader, TensorDataset
    assert DataLoader is nnkit.data.DataLoader and TensorDataset is nnkit.data.TensorDataset

