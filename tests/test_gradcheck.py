"""nnkit.gradcheck itself: it passes correct gradients and catches wrong ones.

A checker that cannot fail is worthless, so most of this file builds ops with a
deliberately wrong backward (with ``nnkit.ops._make``, the way every op records
itself) and checks that gradcheck fails, names the worst element and reports
both values.
"""

import numpy as np
import pytest

import nnkit
from nnkit.gradcheck import GradcheckError, GradcheckResult, gradcheck, numerical_grad
from nnkit.ops import _make


def leaf(array) -> nnkit.Tensor:
    return nnkit.tensor(np.asarray(array, dtype=np.float64), requires_grad=True)


def square_with_backward(rule):
    """x² recorded with a chosen backward ``rule(g, x)``."""
    return lambda x: _make(x.array ** 2, (x,), lambda g: (rule(g, x),), "Square")


def test_passes_a_correct_op_and_reports_its_worst_element(rng):
    x = leaf(rng.standard_normal((3, 4)))
    result = gradcheck(square_with_backward(lambda g, x: 2 * g * x), [x])
    assert isinstance(result, GradcheckResult) and result.ok
    assert result.abs_error < 1e-8
    assert "passed" in str(result)


def test_fails_a_wrong_backward_and_names_the_worst_element():
    x = leaf(np.arange(12.0).reshape(3, 4) / 10)
    offset = np.zeros((3, 4))
    offset[1, 2] = 0.5  # wrong at one element only
    wrong = square_with_backward(lambda g, x: 2 * g * x + nnkit.tensor(offset) * g)
    result = gradcheck(wrong, [x], raise_exception=False)
    assert not result.ok
    assert (result.input_index, result.element) == (0, (1, 2))
    assert result.abs_error == pytest.approx(abs(result.analytical - result.numerical))
    assert result.analytical - result.numerical == pytest.approx(0.5 * upstream_at(x, (1, 2)), rel=1e-6)
    with pytest.raises(GradcheckError, match=r"FAILED: worst element \(1, 2\) of input 0"):
        gradcheck(wrong, [x])


def upstream_at(x, index) -> float:
    """The random upstream gradient gradcheck draws (seed 0) at ``index`` of a single output like x."""
    return np.random.default_rng(0).standard_normal(x.shape)[index]


def test_catches_wrong_gradients_that_sum_to_zero_over_the_output():
    # The backward mixes up the upstream gradient between elements. With an
    # all-ones upstream (checking f(x).sum()) every element looks right; only a
    # random upstream gradient exposes it.
    x = leaf([1.0, 2.0, 3.0, 4.0])
    swapped = square_with_backward(lambda g, x: 2 * g.flip(0) * x)
    assert gradcheck(lambda t: swapped(t).sum(), [x]).ok
    assert not gradcheck(swapped, [x], raise_exception=False).ok


def test_reports_the_input_that_holds_the_worst_element(rng):
    a, b = leaf(rng.standard_normal(3)), leaf(rng.standard_normal(3))
    wrong_in_b = lambda a, b: _make(a.array * b.array, (a, b), lambda g: (g * b, g * a * 1.01), "Mul")
    result = gradcheck(wrong_in_b, [a, b], raise_exception=False)
    assert not result.ok and result.input_index == 1


def test_a_missing_gradient_counts_as_zero_and_fails():
    x = leaf([1.0, 2.0])
    forgot = lambda x: _make(x.array * 3, (x,), lambda g: (None,), "Triple")
    result = gradcheck(forgot, [x], raise_exception=False)
    assert not result.ok and result.analytical == 0.0


def test_checks_every_output_of_a_function_with_several():
    x = leaf([0.5, -1.0, 2.0])
    assert gradcheck(lambda x: (x.exp(), x * x), [x]).ok
    half_wrong = lambda x: (x.exp(), square_with_backward(lambda g, x: g * x)(x))
    assert not gradcheck(half_wrong, [x], raise_exception=False).ok


def test_checks_only_the_inputs_that_require_grad(rng):
    x = leaf(rng.standard_normal(3))
    constant = nnkit.tensor(rng.standard_normal(3))
    assert gradcheck(lambda x, c: x * c, [x, constant]).ok
    assert constant.grad is None


def test_numerical_grad_matches_a_closed_form():
    x = leaf([0.5, 1.0, 2.0])
    upstream = [np.array([1.0, -2.0, 0.5])]
    (g,) = numerical_grad(lambda x: x ** 3, [x], upstream)
    np.testing.assert_allclose(g, upstream[0] * 3 * x.detach().numpy() ** 2, rtol=1e-8)


def test_numerical_grad_keeps_non_contiguous_inputs_unchanged():
    base = np.arange(12.0).reshape(3, 4)
    x = nnkit.from_numpy(base.T).requires_grad_()
    before = base.copy()
    (g,) = numerical_grad(lambda t: t * t, [x], [np.ones((4, 3))])
    np.testing.assert_array_equal(base, before)
    np.testing.assert_allclose(g, 2 * base.T, rtol=1e-8)


def test_refuses_float32_inputs_and_inputs_without_grad():
    with pytest.raises(ValueError, match="input 0 is nnkit.float32; finite differences need float64"):
        gradcheck(lambda x: x * 2, [nnkit.ones(3, requires_grad=True)])
    with pytest.raises(ValueError, match="no input requires grad"):
        gradcheck(lambda x: x * 2, [nnkit.ones(3, dtype=nnkit.float64)])


def test_refuses_a_function_whose_output_does_not_depend_on_the_inputs():
    with pytest.raises(GradcheckError, match="no output depends differentiably"):
        gradcheck(lambda x: nnkit.ones(3, dtype=nnkit.float64), [leaf([1.0, 2.0, 3.0])])


def test_accepts_a_single_tensor_and_is_reachable_from_nnkit():
    assert nnkit.gradcheck is gradcheck
    assert nnkit.gradcheck(lambda x: x.tanh(), leaf([0.1, 0.2])).ok
