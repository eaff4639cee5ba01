"""Every differentiable op: forward against NumPy, gradients against finite differences.

The ops are listed in three tables (unary, binary with broadcasting, and the
rest with their own shapes). Each entry is the op written once, with method
names that nnkit and PyTorch share (``lib(x)`` is the library of ``x``), and
its NumPy reference. This file checks, for every entry and in float64:

* the forward values against the NumPy reference;
* the gradient with :func:`nnkit.gradcheck` (a random upstream gradient over
  every element), on contiguous, transposed and strided (sliced with a step)
  inputs, and on 0-d tensors;
* the second derivative, by gradchecking the first derivative built with
  ``create_graph=True``, with respect to the inputs and the upstream gradient.

``test_torch_parity_ops.py`` runs the same tables against PyTorch. Property-based
tests (hypothesis) at the end draw broadcastable shapes, reduction dims,
permutations and indices.
"""

import math
from typing import Callable, NamedTuple

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from hypothesis.extra import numpy as hnp

import nnkit


def lib(t):
    """The library that ``t`` belongs to: nnkit, or torch when the tables run on torch tensors."""
    if isinstance(t, nnkit.Tensor):
        return nnkit
    import torch
    return torch


# --- inputs ------------------------------------------------------------------

LAYOUTS = ["contiguous", "transposed", "strided"]


def make_array(rng: np.random.Generator, shape: tuple, domain: str = "r", layout: str = "contiguous") -> np.ndarray:
    """Float64 values for one input. ``domain``: r real (normal), p positive in [0.5, 2],
    n nonzero (|x| in [0.5, 2], random sign). ``layout`` gives the same values with
    reversed strides (transposed) or every other element of a bigger buffer (strided)."""
    if domain == "r":
        values = rng.standard_normal(shape)
    elif domain == "p":
        values = rng.uniform(0.5, 2.0, shape)
    else:
        values = rng.choice([-1.0, 1.0], shape) * rng.uniform(0.5, 2.0, shape)
    values = np.array(values, dtype=np.float64)  # C-contiguous, and 0-d stays 0-d
    if layout == "contiguous" or values.ndim == 0:
        return values
    if layout == "transposed":
        out = np.ascontiguousarray(values.T).T
    else:
        base = np.zeros(values.shape[:-1] + (2 * values.shape[-1],))
        base[..., ::2] = values
        out = base[..., ::2]
    return out


def leaves(arrays) -> list:
    """Float64 tensors that share the arrays' memory (and so their layout) and require grad."""
    return [nnkit.from_numpy(a).requires_grad_() for a in arrays]


def as_numpy(out) -> list:
    outs = out if isinstance(out, (tuple, list)) else [out]
    return [o.detach().numpy() if isinstance(o, nnkit.Tensor) else np.asarray(o) for o in outs]


# nnkit's erf is a rational approximation, accurate to 1.2e-7 (enough for float32).
APPROXIMATE = {"erf": 2e-7}


def assert_forward(fn, ref, arrays, atol: float = 1e-12) -> None:
    got = as_numpy(fn(*leaves(arrays)))
    want = ref(*[a.copy() for a in arrays])
    want = list(want) if isinstance(want, (tuple, list)) else [want]
    assert len(got) == len(want)
    for g, w in zip(got, want):
        w = np.asarray(w)
        assert g.shape == w.shape
        assert g.dtype == np.float64
        np.testing.assert_allclose(g, w, rtol=1e-10, atol=atol)


def first_derivative(fn: Callable, n_inputs: int) -> Callable:
    """``(x..., v...) -> d<v, fn(x)>/dx`` built with ``create_graph=True`` (one ``v`` per
    output of fn): gradchecking it checks fn's second derivative (with respect to x)
    and that fn's backward is itself differentiable in the upstream gradient v."""
    def derivative(*args):
        xs, vs = args[:n_inputs], args[n_inputs:]
        with lib(xs[0]).enable_grad():
            grads = lib(xs[0]).autograd.grad(fn(*xs), xs, vs, create_graph=True, allow_unused=True)
        return [g for g in grads if g is not None]
    return derivative


# --- the tables ----------------------------------------------------------------

def erf(x):
    return np.vectorize(math.erf)(x)


def np_logsumexp(x, axis=None, keepdims=False):
    m = np.max(x, axis=axis, keepdims=True)
    out = np.log(np.exp(x - m).sum(axis=axis, keepdims=True)) + m
    return out if keepdims else np.squeeze(out, axis=axis)


def np_softmax(x, axis):
    e = np.exp(x - x.max(axis=axis, keepdims=True))
    return e / e.sum(axis=axis, keepdims=True)


def sigmoid(x):
    return 1 / (1 + np.exp(-x))


# name: (op, NumPy reference, input domain)
UNARY = {
    "neg": (lambda x: -x, np.negative, "r"),
    "exp": (lambda x: x.exp(), np.exp, "r"),
    "exp_fn": (lambda x: lib(x).exp(x), np.exp, "r"),
    "log": (lambda x: x.log(), np.log, "p"),
    "log_fn": (lambda x: lib(x).log(x), np.log, "p"),
    "log1p": (lambda x: x.log1p(), np.log1p, "p"),
    "sqrt": (lambda x: x.sqrt(), np.sqrt, "p"),
    "sqrt_fn": (lambda x: lib(x).sqrt(x), np.sqrt, "p"),
    "abs": (lambda x: x.abs(), np.abs, "n"),
    "abs_builtin": (lambda x: abs(x), np.abs, "n"),
    "sin": (lambda x: x.sin(), np.sin, "r"),
    "cos": (lambda x: x.cos(), np.cos, "r"),
    "tanh": (lambda x: x.tanh(), np.tanh, "r"),
    "tanh_fn": (lambda x: lib(x).tanh(x), np.tanh, "r"),
    "sigmoid": (lambda x: x.sigmoid(), sigmoid, "r"),
    "sigmoid_fn": (lambda x: lib(x).sigmoid(x), sigmoid, "r"),
    "relu": (lambda x: x.relu(), lambda x: np.maximum(x, 0), "n"),
    "erf": (lambda x: x.erf(), erf, "r"),
    "clamp": (lambda x: x.clamp(-0.5, 0.5), lambda x: np.clip(x, -0.5, 0.5), "r"),
    "clamp_min": (lambda x: x.clamp(min=-0.3), lambda x: np.maximum(x, -0.3), "r"),
    "clamp_max": (lambda x: x.clamp(max=0.2), lambda x: np.minimum(x, 0.2), "r"),
    "pow_square": (lambda x: x ** 2, np.square, "r"),
    "pow_cube": (lambda x: x ** 3, lambda x: x ** 3, "r"),
    "pow_method": (lambda x: x.pow(3), lambda x: x ** 3, "r"),
    "pow_frac": (lambda x: x ** 1.5, lambda x: x ** 1.5, "p"),
    "pow_negative": (lambda x: x ** -2, lambda x: x ** -2.0, "n"),
    "rpow": (lambda x: 2.0 ** x, lambda x: 2.0 ** x, "r"),
    "radd": (lambda x: 1.5 + x, lambda x: 1.5 + x, "r"),
    "rsub": (lambda x: 1.5 - x, lambda x: 1.5 - x, "r"),
    "rmul": (lambda x: 3 * x, lambda x: 3 * x, "r"),
    "rdiv": (lambda x: 1.0 / x, lambda x: 1.0 / x, "n"),
    "div_scalar": (lambda x: x / 4, lambda x: x / 4, "r"),
    "sub_scalar": (lambda x: x - 1, lambda x: x - 1, "r"),
}

# name: (op, NumPy reference, domains of the two inputs)
BINARY = {
    "add": (lambda a, b: a + b, np.add, "rr"),
    "add_method": (lambda a, b: a.add(b), np.add, "rr"),
    "sub": (lambda a, b: a - b, np.subtract, "rr"),
    "mul": (lambda a, b: a * b, np.multiply, "rr"),
    "div": (lambda a, b: a / b, np.divide, "rn"),
    "pow": (lambda a, b: a ** b, np.power, "pr"),
    "maximum": (lambda a, b: lib(a).maximum(a, b), np.maximum, "rr"),
    "minimum": (lambda a, b: lib(a).minimum(a, b), np.minimum, "rr"),
    "max_of_two": (lambda a, b: a.max(b), np.maximum, "rr"),
    "where": (lambda a, b: lib(a).where(a > 0, a, 2 * b), lambda a, b: np.where(a > 0, a, 2 * b), "rr"),
    "mixed": (lambda a, b: a * b + a / (b * b + 1) - b, lambda a, b: a * b + a / (b * b + 1) - b, "rr"),
}

BROADCAST_PAIRS = [
    ((3, 4), (3, 4)),
    ((3, 4), (4,)),
    ((4,), (3, 4)),
    ((3, 1), (1, 4)),
    ((2, 1, 4), (3, 1)),
    ((), (2, 3)),
    ((2, 3), ()),
    ((), ()),
]


class Case(NamedTuple):
    fn: Callable          # the op, on nnkit (or torch) tensors
    ref: Callable         # the same on NumPy arrays
    shapes: tuple         # one shape per input
    domains: str = ""     # one letter per input (see make_array); "r" for all when empty
    twice: bool = True    # the op supports create_graph (second derivatives)


S = (2, 3, 4)
M = (4, 5)
ROWS = [0, 2, 0, 0]                       # repeated: gradients must accumulate
GRID = [[0, 1], [3, 3]]
MASK_ROWS = [True, False, True, True]
MASK = [[True, False, True, False, True], [False] * 5, [True] * 5, [False, True, False, False, True]]
GATHER = [[0, 0], [1, 4], [2, 2], [3, 0]]

CASES = {
    # reductions: dim as int, negative, tuple, keyword; keepdim
    "sum": Case(lambda x: x.sum(), np.sum, [S]),
    "sum_dim": Case(lambda x: x.sum(0), lambda x: x.sum(0), [S]),
    "sum_dim_kw": Case(lambda x: x.sum(dim=1), lambda x: x.sum(1), [S]),
    "sum_negative_dim": Case(lambda x: x.sum(-1), lambda x: x.sum(-1), [S]),
    "sum_tuple_keepdim": Case(lambda x: x.sum((0, 2), keepdim=True), lambda x: x.sum((0, 2), keepdims=True), [S]),
    "sum_fn": Case(lambda x: lib(x).sum(x, dim=(-1, 0)), lambda x: x.sum((-1, 0)), [S]),
    "mean": Case(lambda x: x.mean(), np.mean, [S]),
    "mean_dim": Case(lambda x: x.mean(1), lambda x: x.mean(1), [S]),
    "mean_tuple": Case(lambda x: x.mean((0, -1)), lambda x: x.mean((0, -1)), [S]),
    "mean_keepdim": Case(lambda x: x.mean(-1, keepdim=True), lambda x: x.mean(-1, keepdims=True), [S]),
    "var": Case(lambda x: x.var(), lambda x: x.var(ddof=1), [S]),
    "var_dim": Case(lambda x: x.var(1), lambda x: x.var(1, ddof=1), [S]),
    "var_tuple_keepdim": Case(lambda x: x.var((0, 2), keepdim=True), lambda x: x.var((0, 2), ddof=1, keepdims=True),
                              [S]),
    "var_correction0": Case(lambda x: x.var(1, correction=0), lambda x: x.var(1), [S]),
    "var_correction2": Case(lambda x: x.var(-1, correction=2), lambda x: x.var(-1, ddof=2), [S]),
    "var_unbiased_false": Case(lambda x: x.var(0, unbiased=False), lambda x: x.var(0), [S]),
    "std": Case(lambda x: x.std(), lambda x: x.std(ddof=1), [S]),
    "std_dim": Case(lambda x: x.std(-1), lambda x: x.std(-1, ddof=1), [S]),
    "std_tuple_correction0": Case(lambda x: x.std((0, 1), correction=0, keepdim=True),
                                  lambda x: x.std((0, 1), keepdims=True), [S]),
    "prod": Case(lambda x: x.prod(), np.prod, [S]),
    "prod_dim": Case(lambda x: x.prod(1), lambda x: x.prod(1), [S]),
    "prod_keepdim": Case(lambda x: x.prod(-1, keepdim=True), lambda x: x.prod(-1, keepdims=True), [S]),
    "logsumexp": Case(lambda x: x.logsumexp(1), lambda x: np_logsumexp(x, 1), [S]),
    "logsumexp_tuple": Case(lambda x: x.logsumexp((0, 2)), lambda x: np_logsumexp(x, (0, 2)), [S]),
    "logsumexp_keepdim": Case(lambda x: lib(x).logsumexp(x, -1, keepdim=True),
                              lambda x: np_logsumexp(x, -1, keepdims=True), [S]),
    "max": Case(lambda x: x.max(), np.max, [S]),
    "min": Case(lambda x: x.min(), np.min, [S]),
    "max_fn": Case(lambda x: lib(x).max(x), np.max, [S]),
    "max_dim": Case(lambda x: x.max(1).values, lambda x: x.max(1), [S]),
    "max_dim_keepdim": Case(lambda x: x.max(dim=-1, keepdim=True)[0], lambda x: x.max(-1, keepdims=True), [S]),
    "min_dim": Case(lambda x: x.min(dim=0).values, lambda x: x.min(0), [S]),
    "min_dim_fn": Case(lambda x: lib(x).min(x, 2)[0], lambda x: x.min(2), [S]),
    "amax": Case(lambda x: x.amax((0, 2)), lambda x: x.max((0, 2)), [S]),
    "amin": Case(lambda x: x.amin(1, keepdim=True), lambda x: x.min(1, keepdims=True), [S]),
    "norm": Case(lambda x: x.norm(), np.linalg.norm, [S]),
    "norm_dim": Case(lambda x: x.norm(dim=1), lambda x: np.sqrt((x * x).sum(1)), [S]),
    "cumsum": Case(lambda x: x.cumsum(1), lambda x: x.cumsum(1), [S]),
    "softmax": Case(lambda x: x.softmax(-1), lambda x: np_softmax(x, -1), [S]),
    "softmax_dim": Case(lambda x: lib(x).softmax(x, dim=1), lambda x: np_softmax(x, 1), [S]),
    "log_softmax": Case(lambda x: x.log_softmax(-1), lambda x: np.log(np_softmax(x, -1)), [S]),
    "log_softmax_dim": Case(lambda x: lib(x).log_softmax(x, dim=0), lambda x: np.log(np_softmax(x, 0)), [S]),
    # 0-d inputs
    "sum_0d": Case(lambda x: x.sum(), np.sum, [()]),
    "sum_0d_dim": Case(lambda x: x.sum(0), np.sum, [()]),
    "mean_0d": Case(lambda x: x.mean(), np.mean, [()]),
    "max_0d": Case(lambda x: x.max(), np.max, [()]),
    "logsumexp_0d": Case(lambda x: x.logsumexp(0), lambda x: x, [()]),
    "softmax_0d": Case(lambda x: x.softmax(0), np.ones_like, [()]),
    "reshape_0d": Case(lambda x: x.reshape(1, 1), lambda x: x.reshape(1, 1), [()]),
    "unsqueeze_0d": Case(lambda x: x.unsqueeze(0), lambda x: x[None], [()]),
    "expand_0d": Case(lambda x: x.expand(2, 3), lambda x: np.broadcast_to(x, (2, 3)), [()]),
    "index_0d": Case(lambda x: x[None, ...], lambda x: x[None, ...], [()]),
    "mul_0d_by_matrix": Case(lambda x, y: (x * y).sum(0), lambda x, y: (x * y).sum(0), [(), (3, 2)]),
    # shapes and views
    "reshape": Case(lambda x: x.reshape(4, 6), lambda x: x.reshape(4, 6), [S]),
    "reshape_tuple": Case(lambda x: x.reshape((6, -1)), lambda x: x.reshape(6, -1), [S]),
    "reshape_fn": Case(lambda x: lib(x).reshape(x, (3, 8)), lambda x: x.reshape(3, 8), [S]),
    "view": Case(lambda x: x.contiguous().view(-1), lambda x: x.reshape(-1), [S]),  # view never copies: contiguous
    "transpose": Case(lambda x: x.transpose(0, 2), lambda x: x.swapaxes(0, 2), [S]),
    "transpose_negative": Case(lambda x: x.transpose(-1, -2), lambda x: x.swapaxes(-1, -2), [S]),
    "permute": Case(lambda x: x.permute(2, 0, 1), lambda x: x.transpose(2, 0, 1), [S]),
    "permute_tuple": Case(lambda x: x.permute((1, -1, 0)), lambda x: x.transpose(1, 2, 0), [S]),
    "T": Case(lambda x: x.T, lambda x: x.T, [M]),
    "mT": Case(lambda x: x.mT, lambda x: x.swapaxes(-1, -2), [S]),
    "flatten": Case(lambda x: x.flatten(), lambda x: x.reshape(-1), [S]),
    "flatten_start": Case(lambda x: x.flatten(1), lambda x: x.reshape(2, 12), [S]),
    "flatten_range": Case(lambda x: x.flatten(0, 1), lambda x: x.reshape(6, 4), [S]),
    "unsqueeze": Case(lambda x: x.unsqueeze(1), lambda x: x[:, None], [S]),
    "unsqueeze_negative": Case(lambda x: x.unsqueeze(-1), lambda x: x[..., None], [S]),
    "squeeze": Case(lambda x: x.squeeze(), lambda x: x.squeeze(), [(1, 3, 1, 4)]),
    "squeeze_dim": Case(lambda x: x.squeeze(2), lambda x: x.squeeze(2), [(1, 3, 1, 4)]),
    "squeeze_not_one": Case(lambda x: x.squeeze(1), lambda x: x, [(1, 3, 1, 4)]),
    "expand": Case(lambda x: x.expand(2, 3, 4), lambda x: np.broadcast_to(x, (2, 3, 4)), [(3, 1)]),
    "expand_keep": Case(lambda x: x.expand(-1, 4), lambda x: np.broadcast_to(x, (3, 4)), [(3, 1)]),
    "repeat": Case(lambda x: x.repeat(2, 1, 3), lambda x: np.tile(x, (2, 1, 3)), [(2, 3)]),
    "flip": Case(lambda x: x.flip((0, 2)), lambda x: np.flip(x, (0, 2)), [S]),
    "clone": Case(lambda x: x.clone(), np.copy, [S]),
    "contiguous_of_transposed": Case(lambda x: x.transpose(0, 1).contiguous(), lambda x: x.swapaxes(0, 1), [S]),
    "cat": Case(lambda a, b: lib(a).cat([a, b], dim=1), lambda a, b: np.concatenate([a, b], 1), [(2, 3), (2, 2)]),
    "cat_negative_dim": Case(lambda a, b: lib(a).cat((a, b, a), -1), lambda a, b: np.concatenate([a, b, a], -1),
                             [(2, 3), (2, 2)]),
    "cat_default_dim": Case(lambda a, b: lib(a).cat([a, b]), lambda a, b: np.concatenate([a, b]), [(2, 3), (1, 3)]),
    "stack": Case(lambda a, b: lib(a).stack([a, b]), lambda a, b: np.stack([a, b]), [(2, 3), (2, 3)]),
    "stack_dim": Case(lambda a, b: lib(a).stack([a, b, a], dim=-1), lambda a, b: np.stack([a, b, a], -1),
                      [(2, 3), (2, 3)]),
    "split": Case(lambda x: x.split(2, dim=1), lambda x: np.split(x, [2, 4], 1), [(3, 5)]),
    "split_sizes": Case(lambda x: x.split([1, 4], -1), lambda x: np.split(x, [1], -1), [(3, 5)]),
    "chunk": Case(lambda x: x.chunk(2, 0), lambda x: np.split(x, [2], 0), [(3, 5)]),
    "unbind": Case(lambda x: x.unbind(1), lambda x: [x[:, i] for i in range(3)], [(2, 3)]),
    # indexing
    "index_int": Case(lambda x: x[1], lambda x: x[1], [M]),
    "index_negative_int": Case(lambda x: x[-1, -2], lambda x: x[-1, -2], [M]),
    "index_slice": Case(lambda x: x[1:3], lambda x: x[1:3], [M]),
    "index_slice_step": Case(lambda x: x[::2, 1::2], lambda x: x[::2, 1::2], [M]),
    "index_none": Case(lambda x: x[None, :, None], lambda x: x[None, :, None], [M]),
    "index_ellipsis": Case(lambda x: x[..., 1], lambda x: x[..., 1], [S]),
    "index_ellipsis_slice": Case(lambda x: x[0, ..., 1:3], lambda x: x[0, ..., 1:3], [S]),
    "index_int_tensor": Case(lambda x: x[lib(x).tensor(ROWS)], lambda x: x[ROWS], [M]),
    "index_int_tensor_2d": Case(lambda x: x[lib(x).tensor(GRID)], lambda x: x[np.array(GRID)], [M]),
    "index_two_int_tensors": Case(lambda x: x[lib(x).tensor([0, 2, 2]), lib(x).tensor([1, 1, 4])],
                                  lambda x: x[[0, 2, 2], [1, 1, 4]], [M]),
    "index_slice_and_tensor": Case(lambda x: x[1:, lib(x).tensor([0, 0, 3])], lambda x: x[1:, [0, 0, 3]], [M]),
    "index_int_and_tensor": Case(lambda x: x[2, lib(x).tensor([1, 1])], lambda x: x[2, [1, 1]], [M]),
    "index_list": Case(lambda x: x[[0, 0, 1]], lambda x: x[[0, 0, 1]], [M]),
    "index_bool_rows": Case(lambda x: x[lib(x).tensor(MASK_ROWS)], lambda x: x[np.array(MASK_ROWS)], [M]),
    "index_bool_mask": Case(lambda x: x[lib(x).tensor(MASK)], lambda x: x[np.array(MASK)], [M]),
    "index_mask_from_values": Case(lambda x: x[x > 0], lambda x: x[x > 0], [M]),
    "gather": Case(lambda x: x.gather(1, lib(x).tensor(GATHER)), lambda x: np.take_along_axis(x, np.array(GATHER), 1),
                   [M]),
    # matrix products: 1-d operands and batch broadcasting
    "matmul": Case(lambda a, b: a @ b, np.matmul, [(3, 4), (4, 5)]),
    "matmul_fn": Case(lambda a, b: lib(a).matmul(a, b), np.matmul, [(3, 4), (4, 5)]),
    "matmul_method": Case(lambda a, b: a.matmul(b), np.matmul, [(3, 4), (4, 5)]),
    "matmul_dot": Case(lambda a, b: a @ b, np.matmul, [(4,), (4,)]),
    "matmul_vector_matrix": Case(lambda a, b: a @ b, np.matmul, [(4,), (4, 5)]),
    "matmul_matrix_vector": Case(lambda a, b: a @ b, np.matmul, [(3, 4), (4,)]),
    "matmul_batched": Case(lambda a, b: a @ b, np.matmul, [(2, 3, 4), (2, 4, 5)]),
    "matmul_batch_broadcast": Case(lambda a, b: a @ b, np.matmul, [(2, 1, 3, 4), (5, 4, 2)]),
    "matmul_batch_by_matrix": Case(lambda a, b: a @ b, np.matmul, [(2, 3, 4), (4, 5)]),
    "matmul_matrix_by_batch": Case(lambda a, b: a @ b, np.matmul, [(3, 4), (2, 4, 5)]),
    "matmul_vector_by_batch": Case(lambda a, b: a @ b, np.matmul, [(4,), (2, 4, 5)]),
    "matmul_batch_by_vector": Case(lambda a, b: a @ b, np.matmul, [(2, 3, 4), (4,)]),
    # compositions: one input reaching the output along several paths
    "same_input_twice": Case(lambda x: x * x + x.exp() * x, lambda x: x * x + np.exp(x) * x, [S]),
    "layer": Case(lambda x, w, b: (x @ w + b).tanh() @ w.T, lambda x, w, b: np.tanh(x @ w + b) @ w.T,
                  [(5, 3), (3, 3), (3,)]),
    "normalise": Case(lambda x: (x - x.mean(-1, keepdim=True)) / (x.var(-1, keepdim=True) + 1e-5).sqrt(),
                      lambda x: (x - x.mean(-1, keepdims=True)) / np.sqrt(x.var(-1, keepdims=True, ddof=1) + 1e-5),
                      [S]),
    "where_broadcast": Case(lambda c, a, b: lib(a).where(c > 0, a, b), lambda c, a, b: np.where(c > 0, a, b),
                            [(3, 1), (1, 4), (3, 4)]),
}


def case_arrays(rng, case: Case, layout: str = "contiguous") -> list:
    domains = case.domains or "r" * len(case.shapes)
    return [make_array(rng, s, d, layout) for s, d in zip(case.shapes, domains)]


def check(fn, arrays) -> None:
    nnkit.gradcheck(fn, leaves(arrays))


def check_second(fn, arrays, rng) -> None:
    xs = leaves(arrays)
    out = fn(*xs)
    outs = out if isinstance(out, (tuple, list)) else [out]
    vs = leaves([rng.standard_normal(o.shape) for o in outs])
    nnkit.gradcheck(first_derivative(fn, len(xs)), xs + vs)


UNARY_SHAPES = [(3, 4), (), (5,)]


# --- forward values ----------------------------------------------------------------

@pytest.mark.parametrize("shape", UNARY_SHAPES, ids=str)
@pytest.mark.parametrize("name", UNARY)
def test_unary_forward_matches_numpy(name, shape, rng):
    fn, ref, domain = UNARY[name]
    assert_forward(fn, ref, [make_array(rng, shape, domain)], APPROXIMATE.get(name, 1e-12))


@pytest.mark.parametrize("shapes", BROADCAST_PAIRS, ids=str)
@pytest.mark.parametrize("name", BINARY)
def test_binary_forward_matches_numpy(name, shapes, rng):
    fn, ref, domains = BINARY[name]
    assert_forward(fn, ref, [make_array(rng, s, d) for s, d in zip(shapes, domains)])


@pytest.mark.parametrize("name", CASES)
def test_forward_matches_numpy(name, rng):
    case = CASES[name]
    assert_forward(case.fn, case.ref, case_arrays(rng, case))


# --- first derivatives ----------------------------------------------------------------

@pytest.mark.parametrize("layout", LAYOUTS)
@pytest.mark.parametrize("shape", UNARY_SHAPES, ids=str)
@pytest.mark.parametrize("name", UNARY)
def test_unary_gradcheck(name, shape, layout, rng):
    fn, _, domain = UNARY[name]
    check(fn, [make_array(rng, shape, domain, layout)])


@pytest.mark.parametrize("layout", ["contiguous", "transposed"])
@pytest.mark.parametrize("shapes", BROADCAST_PAIRS, ids=str)
@pytest.mark.parametrize("name", BINARY)
def test_binary_gradcheck_with_broadcasting(name, shapes, layout, rng):
    fn, _, domains = BINARY[name]
    check(fn, [make_array(rng, s, d, layout) for s, d in zip(shapes, domains)])


@pytest.mark.parametrize("layout", LAYOUTS)
@pytest.mark.parametrize("name", CASES)
def test_gradcheck(name, layout, rng):
    case = CASES[name]
    check(case.fn, case_arrays(rng, case, layout))


# --- second derivatives ----------------------------------------------------------------

@pytest.mark.parametrize("name", UNARY)
def test_unary_second_derivative(name, rng):
    fn, _, domain = UNARY[name]
    check_second(fn, [make_array(rng, (3, 4), domain)], rng)


@pytest.mark.parametrize("name", BINARY)
def test_binary_second_derivative(name, rng):
    fn, _, domains = BINARY[name]
    check_second(fn, [make_array(rng, s, d) for s, d in zip(((3, 1), (4,)), domains)], rng)


@pytest.mark.parametrize("name", [n for n, c in CASES.items() if c.twice])
def test_second_derivative(name, rng):
    case = CASES[name]
    check_second(case.fn, case_arrays(rng, case), rng)


# --- gradients at the kinks, as PyTorch -------------------------------------------------

def test_relu_and_abs_have_zero_gradient_at_zero():
    x = nnkit.tensor([-1.0, 0.0, 2.0], requires_grad=True)
    x.relu().sum().backward()
    assert x.grad.tolist() == [0.0, 0.0, 1.0]
    x.grad = None
    x.abs().sum().backward()
    assert x.grad.tolist() == [-1.0, 0.0, 1.0]


def test_clamp_passes_the_gradient_at_its_bounds():
    x = nnkit.tensor([-2.0, -1.0, 0.0, 1.0, 2.0], requires_grad=True)
    x.clamp(-1.0, 1.0).sum().backward()
    assert x.grad.tolist() == [0.0, 1.0, 1.0, 1.0, 0.0]


def test_ties_share_the_gradient_of_max_and_maximum_evenly():
    x = nnkit.tensor([1.0, 3.0, 3.0, 2.0], requires_grad=True)
    x.max().backward()
    assert x.grad.tolist() == [0.0, 0.5, 0.5, 0.0]
    a = nnkit.tensor([1.0, 2.0], requires_grad=True)
    b = nnkit.tensor([1.0, 3.0], requires_grad=True)
    nnkit.maximum(a, b).sum().backward()
    assert a.grad.tolist() == [0.5, 0.0] and b.grad.tolist() == [0.5, 1.0]


def test_max_along_a_dim_sends_the_gradient_to_the_first_maximum_only():
    x = nnkit.tensor([[1.0, 5.0, 5.0], [7.0, 0.0, 7.0]], requires_grad=True)
    x.max(dim=1).values.sum().backward()
    assert x.grad.tolist() == [[0.0, 1.0, 0.0], [1.0, 0.0, 0.0]]


def test_pow_with_exponent_zero_has_zero_gradient_even_at_zero():
    x = nnkit.tensor([0.0, 2.0], requires_grad=True)
    (x ** 0).sum().backward()
    assert x.grad.tolist() == [0.0, 0.0]


def test_std_of_constant_values_has_zero_gradient():
    x = nnkit.full((2, 3), 1.5, requires_grad=True)
    x.std(dim=1).sum().backward()
    assert x.grad.tolist() == [[0.0] * 3] * 2


def test_repeated_integer_indices_accumulate_their_gradients():
    x = nnkit.zeros(3, requires_grad=True)
    x[nnkit.tensor([0, 2, 0, 0])].sum().backward()
    assert x.grad.tolist() == [3.0, 0.0, 1.0]


def test_broadcast_gradients_are_summed_back_to_each_input_shape():
    a = nnkit.ones(3, 1, requires_grad=True)
    b = nnkit.ones(4, requires_grad=True)
    (a * b).sum().backward()
    assert a.grad.shape == (3, 1) and a.grad.tolist() == [[4.0]] * 3
    assert b.grad.shape == (4,) and b.grad.tolist() == [3.0] * 4


# --- property-based: shapes, dims, layouts -------------------------------------------------

SMALL = settings(max_examples=25, deadline=None)
shapes = hnp.array_shapes(min_dims=1, max_dims=3, min_side=1, max_side=3)


@SMALL
@given(st.sampled_from(sorted(BINARY)), hnp.mutually_broadcastable_shapes(num_shapes=2, max_dims=3, max_side=3),
       st.integers(0, 2**32 - 1))
def test_binary_ops_on_any_broadcastable_pair(name, broadcast, seed):
    fn, ref, domains = BINARY[name]
    rng = np.random.default_rng(seed)
    arrays = [make_array(rng, s, d) for s, d in zip(broadcast.input_shapes, domains)]
    out = fn(*leaves(arrays))
    assert out.shape == broadcast.result_shape
    np.testing.assert_allclose(out.detach().numpy(), ref(*arrays), rtol=1e-12)
    check(fn, arrays)


REDUCTIONS = {
    "sum": (lambda x, d, k: x.sum(d, keepdim=k), lambda x, d, k: x.sum(d, keepdims=k)),
    "mean": (lambda x, d, k: x.mean(d, keepdim=k), lambda x, d, k: x.mean(d, keepdims=k)),
    "var": (lambda x, d, k: x.var(d, keepdim=k, correction=0), lambda x, d, k: x.var(d, keepdims=k)),
    "std": (lambda x, d, k: x.std(d, keepdim=k, correction=0), lambda x, d, k: x.std(d, keepdims=k)),
    "logsumexp": (lambda x, d, k: x.logsumexp(d, keepdim=k), lambda x, d, k: np_logsumexp(x, d, k)),
    "amax": (lambda x, d, k: x.amax(d, keepdim=k), lambda x, d, k: x.max(d, keepdims=k)),
}


@st.composite
def shape_and_dims(draw):
    shape = draw(shapes)
    dims = draw(st.lists(st.integers(0, len(shape) - 1), min_size=1, max_size=len(shape), unique=True))
    negative = draw(st.lists(st.booleans(), min_size=len(dims), max_size=len(dims)))
    return shape, tuple(d - len(shape) if neg else d for d, neg in zip(dims, negative))


@SMALL
@given(st.sampled_from(sorted(REDUCTIONS)), shape_and_dims(), st.booleans(), st.integers(0, 2**32 - 1))
def test_reductions_over_any_dims(name, shape_dims, keepdim, seed):
    shape, dims = shape_dims
    fn, ref = REDUCTIONS[name]
    arrays = [make_array(np.random.default_rng(seed), shape, "r", "transposed")]
    out = fn(*leaves(arrays), dims, keepdim)
    want = ref(arrays[0], dims, keepdim)
    assert out.shape == want.shape
    np.testing.assert_allclose(out.detach().numpy(), want, rtol=1e-10, atol=1e-12)
    check(lambda x: fn(x, dims, keepdim), arrays)


@SMALL
@given(shapes.flatmap(lambda s: st.tuples(st.just(s), st.permutations(range(len(s))))), st.integers(0, 2**32 - 1))
def test_permute_any_order(shape_perm, seed):
    shape, perm = shape_perm
    arrays = [make_array(np.random.default_rng(seed), shape, "r", "strided")]
    out = leaves(arrays)[0].permute(*perm)
    np.testing.assert_array_equal(out.detach().numpy(), arrays[0].transpose(perm))
    check(lambda x: x.permute(*perm) * x.permute(*perm), arrays)


@SMALL
@given(st.data())
def test_basic_indexing_any_index(data):
    shape = data.draw(hnp.array_shapes(min_dims=1, max_dims=3, min_side=1, max_side=4))
    index = data.draw(hnp.basic_indices(shape, allow_newaxis=True, allow_ellipsis=True))
    arrays = [make_array(np.random.default_rng(0), shape)]
    out = leaves(arrays)[0][index]
    np.testing.assert_array_equal(out.detach().numpy(), arrays[0][index])
    check(lambda x: x[index], arrays)


@SMALL
@given(st.data())
def test_integer_array_indexing_any_index(data):
    shape = data.draw(hnp.array_shapes(min_dims=1, max_dims=3, min_side=1, max_side=4))
    index = data.draw(hnp.integer_array_indices(shape, result_shape=hnp.array_shapes(min_dims=1, max_dims=2,
                                                                                      max_side=5)))
    arrays = [make_array(np.random.default_rng(1), shape)]
    tensor_index = tuple(nnkit.tensor(i) for i in index)
    np.testing.assert_array_equal(leaves(arrays)[0][tensor_index].detach().numpy(), arrays[0][index])
    check(lambda x: x[tensor_index], arrays)


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_erf_without_scipy_is_accurate(dtype, monkeypatch):
    """NumPy has no erf: the fallback formula must stay within float32's resolution."""
    import math

    monkeypatch.setitem(nnkit.backend._special, np, None)
    x = np.linspace(-6, 6, 2001).astype(dtype)
    expected = np.array([math.erf(v) for v in x.astype(np.float64)])
    got = nnkit.tensor(x).erf().numpy()
    assert got.dtype == dtype
    np.testing.assert_allclose(got, expected, rtol=0, atol=1e-6)
    assert nnkit.tensor(dtype(0.5)).erf().item() == pytest.approx(math.erf(0.5), abs=1e-6)
