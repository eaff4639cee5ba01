"""The layers and functions of ``test_nn_layers_more.py`` against PyTorch.

Each function is written once with names both libraries share (``fn(t)`` is the
``nn.functional`` of ``t``'s library) and run in float64 through nnkit and torch:
forward values, first derivatives and, where torch has them, second derivatives
must agree. Layers are compared with the same weights (torch's state dict loaded
into nnkit), for outputs, gradients, running statistics, state dict keys and
shapes, ``repr`` and the default initialisation.
"""

import numpy as np
import pytest

import nnkit
import nnkit.nn as nn
from test_ops_gradcheck import lib, make_array

torch = pytest.importorskip("torch")
tnn = torch.nn
pytestmark = pytest.mark.torch

TOL = 1e-9


def fn(t):
    """The ``nn.functional`` of the library that ``t`` belongs to."""
    return lib(t).nn.functional


def dense(g, like) -> np.ndarray:
    if g is None:
        return np.zeros(like.shape)
    return g.detach().numpy(force=True) if torch.is_tensor(g) else g.detach().numpy()


def derivatives(library, f, arrays, twice: bool) -> list:
    """[outputs, first derivatives, second derivatives] of f in one library, in float64: the first
    derivative is d<v, f(x)>/dx for a random v, the second the gradient of <w, first> in x and v."""
    rng = np.random.default_rng(0)
    xs = [library.tensor(a, requires_grad=True) for a in arrays]
    out = f(*xs)
    outs = list(out) if isinstance(out, (tuple, list)) else [out]
    vs = [library.tensor(rng.standard_normal(o.shape), requires_grad=True) for o in outs]
    first = library.autograd.grad(outs, xs, vs, create_graph=twice, allow_unused=True)
    results = [[o.detach().numpy() for o in outs], [dense(g, x) for g, x in zip(first, xs)]]
    if twice:
        ws = [library.tensor(rng.standard_normal(x.shape)) for x in xs]
        total = sum((g * w).sum() for g, w in zip(first, ws) if g is not None)
        results.append([dense(g, t) for g, t in zip(library.autograd.grad(total, xs + vs, allow_unused=True), xs + vs)])
    return results


def assert_same(f, arrays, twice: bool = True, tol: float = TOL) -> None:
    """nnkit and torch agree on f at float64 ``arrays``: values, first and second derivatives."""
    arrays = [np.asarray(a, dtype=np.float64) for a in arrays]
    mine, theirs = derivatives(nnkit, f, arrays, twice), derivatives(torch, f, arrays, twice)
    for level, name in enumerate(["forward", "first derivative", "second derivative"][:len(mine)]):
        for got, want in zip(mine[level], theirs[level]):
            assert got.shape == want.shape, (name, got.shape, want.shape)
            np.testing.assert_allclose(got, want, rtol=tol, atol=tol, err_msg=name)


# --- activations ------------------------------------------------------------------------------

# name: (function, input domain, whether torch has its second derivative)
ACTIVATIONS = {
    "relu6": (lambda x: fn(x).relu6(x * 4), "n", True),
    "hardtanh": (lambda x: fn(x).hardtanh(x, -0.7, 1.3), "r", True),
    "hardsigmoid": (lambda x: fn(x).hardsigmoid(x * 3), "n", False),
    "hardswish": (lambda x: fn(x).hardswish(x * 3), "n", True),
    "selu": (lambda x: fn(x).selu(x), "n", True),
    "celu": (lambda x: fn(x).celu(x, 0.7), "n", True),
    "elu": (lambda x: fn(x).elu(x, 1.5), "n", True),
    "leaky_relu": (lambda x: fn(x).leaky_relu(x, 0.2), "n", True),
    "rrelu_eval": (lambda x: fn(x).rrelu(x, 0.1, 0.3), "n", True),
    "logsigmoid": (lambda x: fn(x).logsigmoid(x * 10), "r", True),
    "softsign": (lambda x: fn(x).softsign(x), "n", True),
    "tanhshrink": (lambda x: fn(x).tanhshrink(x), "r", True),
    "softshrink": (lambda x: fn(x).softshrink(x, 0.3), "n", True),
    "hardshrink": (lambda x: fn(x).hardshrink(x, 0.3), "n", True),
    "threshold": (lambda x: fn(x).threshold(x, 0.1, -2.0), "n", True),
    "softplus": (lambda x: fn(x).softplus(x, 2.0, 1.5), "n", True),
    "mish": (lambda x: fn(x).mish(x), "r", True),
    "silu": (lambda x: fn(x).silu(x), "r", True),
    "gelu": (lambda x: fn(x).gelu(x), "r", True),
    "gelu_tanh": (lambda x: fn(x).gelu(x, approximate="tanh"), "r", True),
    "softmin": (lambda x: fn(x).softmin(x, dim=0), "r", True),
    "glu": (lambda x: fn(x).glu(x, 0), "r", True),
    "prelu": (lambda x: fn(x).prelu(x, x.new_tensor([0.1, -0.2, 0.3])), "n", True),
}


# torch's backward of these multiplies by a constant rounded to float32 (1/6, 1/alpha), even in float64
FLOAT32_CONSTANTS = {"hardsigmoid", "celu"}


@pytest.mark.parametrize("name", ACTIVATIONS)
def test_activation_matches_torch(name, rng):
    f, domain, twice = ACTIVATIONS[name]
    assert_same(f, [make_array(rng, (4, 3), domain)], twice, 1e-7 if name in FLOAT32_CONSTANTS else TOL)


KINKS = np.array([-6.0, -3.0, -1.0, -0.5, -0.3, 0.0, 0.3, 0.5, 1.0, 3.0, 6.0, 20.0])


@pytest.mark.parametrize("f", [
    lambda x: fn(x).relu6(x), lambda x: fn(x).hardtanh(x), lambda x: fn(x).hardtanh(x, -0.5, 0.3),
    lambda x: fn(x).hardswish(x), lambda x: fn(x).threshold(x, 1.0, 20.0), lambda x: fn(x).softshrink(x),
    lambda x: fn(x).hardshrink(x, 0.3), lambda x: fn(x).leaky_relu(x, 0.3), lambda x: fn(x).rrelu(x),
    lambda x: fn(x).softplus(x), lambda x: fn(x).softplus(x, 2.0, 2.0), lambda x: fn(x).softplus(x, 0.5, 0.5),
    lambda x: fn(x).softsign(x), lambda x: fn(x).mish(x), lambda x: fn(x).relu(x),
], ids=["relu6", "hardtanh", "hardtanh_bounds", "hardswish", "threshold", "softshrink", "hardshrink", "leaky_relu",
        "rrelu", "softplus", "softplus_at_threshold", "softplus_threshold_at_1", "softsign", "mish", "relu"])
def test_first_and_second_derivatives_at_the_kinks_match_torch(f):
    """At exactly the kinks (and softplus's thresholds) both libraries pick the same derivative,
    and a gradient penalty gives the same zeros."""
    assert_same(f, [KINKS], twice=True, tol=1e-12)


@pytest.mark.parametrize("f", [lambda x: fn(x).hardsigmoid(x), lambda x: fn(x).elu(x, 2.0),
                               lambda x: fn(x).selu(x), lambda x: fn(x).celu(x, 0.5)],
                         ids=["hardsigmoid", "elu", "selu", "celu"])
def test_first_derivatives_at_the_kinks_match_torch(f):
    """(torch has no second derivative of hardsigmoid; the ELU family's at exactly 0 is torch's
    own mix of the two sides, 0, where nnkit differentiates the negative branch.)"""
    assert_same(f, [KINKS], twice=False, tol=1e-7)


ACTIVATION_MODULES = [
    (lambda m: m.ReLU6(), (3, 4)), (lambda m: m.ReLU6(inplace=True), (3, 4)),
    (lambda m: m.Hardtanh(-2.0, 3.0), (3, 4)), (lambda m: m.SELU(), (3, 4)), (lambda m: m.CELU(0.5), (3, 4)),
    (lambda m: m.Hardsigmoid(), (3, 4)), (lambda m: m.Hardswish(), (3, 4)), (lambda m: m.LogSigmoid(), (3, 4)),
    (lambda m: m.Softsign(), (3, 4)), (lambda m: m.Softmin(dim=1), (3, 4)), (lambda m: m.Softmax2d(), (2, 3, 4, 2)),
    (lambda m: m.Tanhshrink(), (3, 4)), (lambda m: m.Softshrink(0.3), (3, 4)), (lambda m: m.Hardshrink(0.3), (3, 4)),
    (lambda m: m.Threshold(0.1, 20.0), (3, 4)), (lambda m: m.GLU(dim=1), (3, 4)), (lambda m: m.RReLU(0.1, 0.3), (3, 4)),
    (lambda m: m.PReLU(3, init=0.1), (2, 3, 4)), (lambda m: m.PReLU(), (2, 3)), (lambda m: m.Mish(), (3, 4)),
    (lambda m: m.SiLU(), (3, 4)), (lambda m: m.GELU(approximate="tanh"), (3, 4)), (lambda m: m.ELU(0.5), (3, 4)),
]


@pytest.mark.parametrize("make, shape", ACTIVATION_MODULES, ids=[repr(m(tnn)) for m, _ in ACTIVATION_MODULES])
def test_activation_module_matches_torch(make, shape, rng):
    ours, theirs = make(nn).double().eval(), make(tnn).double().eval()
    assert repr(ours) == repr(theirs)
    assert {k: tuple(v.shape) for k, v in ours.state_dict().items()} == {
        k: tuple(v.shape) for k, v in theirs.state_dict().items()}
    for (name, p), q in zip(ours.named_parameters(), theirs.parameters()):  # default initialisation
        np.testing.assert_array_equal(p.detach().numpy(), q.detach().numpy(), err_msg=name)
    x = rng.standard_normal(shape)
    assert_same(lambda t: (ours if isinstance(t, nnkit.Tensor) else theirs)(t * 1), [x],
                twice=not isinstance(ours, nn.Hardsigmoid), tol=1e-7)


# --- normalisation --------------------------------------------------------------------------

NORMS = {
    "group_norm": (lambda x, w, b: fn(x).group_norm(x, 2, w, b, 1e-3), [(3, 4, 5), (4,), (4,)]),
    "group_norm_2d": (lambda x: fn(x).group_norm(x, 3), [(2, 6, 2, 3)]),
    "instance_norm": (lambda x, w, b: fn(x).instance_norm(x, weight=w, bias=b), [(2, 3, 5), (3,), (3,)]),
    "instance_norm_running": (lambda x: fn(x).instance_norm(x, x.new_tensor([0.5, -1.0, 0.0]),
                                                            x.new_tensor([1.5, 0.5, 2.0]), use_input_stats=False),
                              [(2, 3, 4)]),
    "layer_norm": (lambda x, w, b: fn(x).layer_norm(x, (4, 5), w, b), [(3, 4, 5), (4, 5), (4, 5)]),
    "batch_norm": (lambda x, w, b: fn(x).batch_norm(x, None, None, w, b, training=True), [(4, 3, 5), (3,), (3,)]),
    "rms_norm": (lambda x, w: fn(x).rms_norm(x, (5,), w), [(3, 4, 5), (5,)]),
    "rms_norm_eps": (lambda x: fn(x).rms_norm(x, (4, 5), eps=0.5), [(3, 4, 5)]),
    "local_response_norm": (lambda x: fn(x).local_response_norm(x, 3, 0.5, 0.6, 1.5), [(2, 5, 4)]),
    "local_response_norm_4d": (lambda x: fn(x).local_response_norm(x, 2, 0.5), [(2, 5, 2, 3)]),
    "local_response_norm_5d": (lambda x: fn(x).local_response_norm(x, 4, 0.5), [(2, 5, 2, 2, 2)]),
    "normalize_p0": (lambda x: fn(x).normalize(x, p=0.0), [(3, 4)]),
    "normalize_p1": (lambda x: fn(x).normalize(x, p=1.0, dim=0), [(3, 4)]),
    "normalize_inf": (lambda x: fn(x).normalize(x, p=float("inf")), [(3, 4)]),
    "normalize_p3": (lambda x: fn(x).normalize(x, p=3.0), [(3, 4)]),
}


@pytest.mark.parametrize("name", NORMS)
def test_normalisation_function_matches_torch(name, rng):
    f, shapes = NORMS[name]
    assert_same(f, [rng.standard_normal(s) * 2 + 0.5 for s in shapes], tol=1e-8)


def test_rms_norm_default_eps_is_the_dtypes_as_torch(rng):
    x = (rng.standard_normal((3, 4)) * 1e-5).astype(np.float32)
    ours = nn.RMSNorm(4)(nnkit.tensor(x)).detach().numpy()
    theirs = tnn.RMSNorm(4)(torch.tensor(x)).detach().numpy()
    np.testing.assert_allclose(ours, theirs, rtol=1e-5)


NORM_LAYERS = [
    lambda m: m.BatchNorm3d(3), lambda m: m.BatchNorm3d(3, momentum=None, affine=False),
    lambda m: m.InstanceNorm1d(3), lambda m: m.InstanceNorm1d(3, affine=True, track_running_stats=True),
    lambda m: m.InstanceNorm2d(3, momentum=None, affine=True, track_running_stats=True),
    lambda m: m.InstanceNorm3d(3, affine=True, bias=False), lambda m: m.GroupNorm(3, 6), lambda m: m.GroupNorm(2, 6,
                                                                                                             affine=False),
    lambda m: m.RMSNorm((3, 4)), lambda m: m.RMSNorm(4, eps=1e-3, elementwise_affine=False),
    lambda m: m.LocalResponseNorm(3, alpha=0.5), lambda m: m.LayerNorm(4, elementwise_affine=False, bias=False),
]
NORM_INPUTS = {"BatchNorm3d": (4, 3, 2, 3, 2), "InstanceNorm1d": (4, 3, 5), "InstanceNorm2d": (3, 3, 4, 2),
               "InstanceNorm3d": (2, 3, 2, 2, 3), "GroupNorm": (3, 6, 4), "RMSNorm": (2, 3, 4),
               "LocalResponseNorm": (2, 4, 5), "LayerNorm": (3, 4)}


@pytest.mark.parametrize("make", NORM_LAYERS, ids=[repr(m(tnn)) for m in NORM_LAYERS])
def test_normalisation_layer_matches_torch_over_training_steps_then_in_evaluation(make, rng):
    ours, theirs = make(nn).double(), make(tnn).double()
    assert repr(ours) == repr(theirs)
    assert {k: tuple(v.shape) for k, v in ours.state_dict().items()} == {
        k: tuple(v.shape) for k, v in theirs.state_dict().items()}
    for key, value in theirs.state_dict().items():  # default initialisation
        np.testing.assert_array_equal(ours.state_dict()[key].numpy(), value.numpy(), err_msg=key)
    with torch.no_grad():
        for p in theirs.parameters():
            p.add_(torch.tensor(rng.normal(0, 0.3, tuple(p.shape))))
    ours.load_state_dict(theirs.state_dict())
    shape = NORM_INPUTS[type(ours).__name__]
    for train in (True, True, False):
        ours.train(train), theirs.train(train)
        x = rng.standard_normal(shape) * 3 + 1
        assert_same(lambda t: (ours if isinstance(t, nnkit.Tensor) else theirs)(t * 1), [x], twice=False, tol=1e-8)
    for key, value in theirs.state_dict().items():
        np.testing.assert_allclose(ours.state_dict()[key].numpy(), value.numpy(), rtol=1e-9, err_msg=key)


# --- distances and one_hot ------------------------------------------------------------------

DISTANCES = {
    "cosine_similarity": (lambda a, b: fn(a).cosine_similarity(a, b), [(3, 4), (3, 4)], True),
    "cosine_similarity_broadcast_eps": (lambda a, b: fn(a).cosine_similarity(a * 0.1, b, dim=-1, eps=0.5),
                                        [(2, 3, 4), (4,)], True),
    "pairwise_distance": (lambda a, b: fn(a).pairwise_distance(a, b), [(3, 4), (3, 4)], True),
    "pairwise_distance_p1_keepdim": (lambda a, b: fn(a).pairwise_distance(a, b, 1.0, 1e-3, True), [(3, 4), (4,)],
                                     True),
    "pairwise_distance_p3": (lambda a, b: fn(a).pairwise_distance(a, b, 3.0), [(3, 4), (3, 4)], True),
    "pdist": (lambda a: fn(a).pdist(a), [(5, 3)], False),
    "pdist_p1": (lambda a: fn(a).pdist(a, 1.0), [(5, 3)], False),
    "pdist_p3": (lambda a: fn(a).pdist(a, 3.0), [(5, 3)], False),
}


@pytest.mark.parametrize("name", DISTANCES)
def test_distance_matches_torch(name, rng):
    f, shapes, twice = DISTANCES[name]
    assert_same(f, [rng.standard_normal(s) for s in shapes], twice)


def test_distances_at_zero_match_torch():
    zero_rows = np.array([[0.0, 0.0, 0.0], [1e-9, 0.0, 2e-9], [1.0, 2.0, 2.0]])
    # (the second derivative of a norm at 0 is undefined: torch's is NaN there)
    assert_same(lambda a, b: fn(a).cosine_similarity(a, b), [zero_rows, zero_rows[::-1].copy()], twice=False)
    assert_same(lambda a: fn(a).pdist(a), [np.array([[0.0, 0.0], [0.0, 0.0], [3.0, 4.0]])], twice=False)
    assert_same(lambda a, b: fn(a).pairwise_distance(a, b, eps=0.0), [zero_rows, zero_rows], twice=False)
    for ours, theirs in [(nn.CosineSimilarity(0, 0.5), tnn.CosineSimilarity(0, 0.5)),
                         (nn.PairwiseDistance(1.0, 0.1, True), tnn.PairwiseDistance(1.0, 0.1, True))]:
        assert repr(ours) == repr(theirs)
        np.testing.assert_allclose(ours(nnkit.tensor(zero_rows), nnkit.tensor(zero_rows[::-1].copy())).numpy(),
                                   theirs(torch.tensor(zero_rows), torch.tensor(zero_rows[::-1].copy())).numpy())


@pytest.mark.parametrize("make", [
    lambda m: m.tensor([[0, 3], [2, 2]]), lambda m: m.tensor(2), lambda m: m.tensor([], dtype=m.int64),
    lambda m: m.tensor([1, 2], dtype=m.int32), lambda m: m.tensor([1.0, 2.0]), lambda m: m.tensor([-1, 2]),
    lambda m: m.tensor([1, 5]),
], ids=["2d", "0d", "empty", "int32", "float", "negative", "too_large"])
@pytest.mark.parametrize("num_classes", [-1, 0, 3, 6])
def test_one_hot_matches_torch_or_raises_where_torch_does(make, num_classes):
    try:
        theirs = torch.nn.functional.one_hot(make(torch), num_classes)
    except RuntimeError:
        with pytest.raises(RuntimeError):
            nn.functional.one_hot(make(nnkit), num_classes)
        return
    ours = nn.functional.one_hot(make(nnkit), num_classes)
    assert ours.dtype == nnkit.int64 and ours.shape == tuple(theirs.shape)
    np.testing.assert_array_equal(ours.numpy(), theirs.numpy())


# --- losses ---------------------------------------------------------------------------------

SIGNS = np.array([1.0, -1.0, -1.0, 1.0, -1.0])
SIGNS_AND_ZERO = np.array([1.0, -1.0, 0.0, 1.0, -1.0])
LABELS = np.array([0, 3, 1, 3, 2])
BITS = np.array([[1, 0, 0, 1], [0, 0, 1, 1], [1, 1, 1, 0], [0, 0, 0, 0], [1, 0, 1, 0]], dtype=np.float64)
WEIGHTS = np.array([0.5, 2.0, 1.0, 1.5])
COUNTS = np.array([[0, 3, 1, 2], [5, 0, 2, 1], [1, 1, 4, 0], [2, 6, 0, 1], [3, 2, 1, 1]], dtype=np.float64)


def const(t, array):
    """``array`` as a tensor of t's library (labels keep their integer dtype)."""
    return lib(t).tensor(array)


# name: (loss taking reduction=..., shapes, whether torch has its second derivative)
LOSSES = {
    "kl_div": (lambda x, t, r: fn(x).kl_div(x, t.softmax(1), reduction=r), [(5, 4), (5, 4)], True),
    "kl_div_log_target": (lambda x, t, r: fn(x).kl_div(x, t, reduction=r, log_target=True), [(5, 4), (5, 4)], True),
    "poisson_nll": (lambda x, r: fn(x).poisson_nll_loss(x, const(x, COUNTS), reduction=r), [(5, 4)], True),
    "poisson_nll_full_rates": (lambda x, r: fn(x).poisson_nll_loss(x * x + 0.5, const(x, COUNTS), log_input=False,
                                                                   full=True, reduction=r), [(5, 4)], True),
    "gaussian_nll": (lambda x, t, v, r: fn(x).gaussian_nll_loss(x, t, v * v + 0.1, reduction=r),
                     [(5, 4), (5, 4), (5, 4)], True),
    "gaussian_nll_shared_full": (lambda x, t, v, r: fn(x).gaussian_nll_loss(x, t, v * v + 0.1, full=True, reduction=r),
                                 [(5, 4), (5, 4), (5,)], True),
    "gaussian_nll_size1_clamped": (lambda x, t, v, r: fn(x).gaussian_nll_loss(x, t, v * v, eps=0.5, reduction=r),
                                   [(5, 4), (5, 4), (5, 1)], True),
    "cosine_embedding": (lambda a, b, r: fn(a).cosine_embedding_loss(a, b, const(a, SIGNS), 0.1, reduction=r),
                         [(5, 4), (5, 4)], True),
    "margin_ranking": (lambda a, b, r: fn(a).margin_ranking_loss(a, b, const(a, SIGNS), 0.3, reduction=r),
                       [(5,), (5,)], True),
    "hinge_embedding": (lambda x, r: fn(x).hinge_embedding_loss(x, const(x, SIGNS_AND_ZERO), 0.7, reduction=r),
                        [(5,)], True),
    "triplet_margin": (lambda a, p, n, r: fn(a).triplet_margin_loss(a, p, n, margin=2.0, reduction=r), [(5, 4)] * 3,
                       True),
    "triplet_margin_p1_swap": (lambda a, p, n, r: fn(a).triplet_margin_loss(a, p, n, 2.0, 1.0, swap=True, reduction=r),
                               [(5, 4)] * 3, True),
    "triplet_with_distance": (lambda a, p, n, r: fn(a).triplet_margin_with_distance_loss(
        a, p, n, distance_function=lambda u, w: 1 - fn(u).cosine_similarity(u, w), margin=0.5, swap=True,
        reduction=r), [(5, 4)] * 3, True),
    "soft_margin": (lambda x, r: fn(x).soft_margin_loss(x, const(x, BITS * 2 - 1), reduction=r), [(5, 4)], True),
    "multilabel_soft_margin": (lambda x, r: fn(x).multilabel_soft_margin_loss(x, const(x, BITS), const(x, WEIGHTS),
                                                                              reduction=r), [(5, 4)], True),
    "multi_margin": (lambda x, r: fn(x).multi_margin_loss(x, const(x, LABELS), reduction=r), [(5, 4)], False),
    "multi_margin_p2_weight": (lambda x, r: fn(x).multi_margin_loss(x, const(x, LABELS), 2, 0.5, const(x, WEIGHTS),
                                                                    reduction=r), [(5, 4)], False),
    "mse_weight": (lambda x, t, r: fn(x).mse_loss(x, t, reduction=r, weight=const(x, BITS + 0.5)), [(5, 4), (5, 4)],
                   True),
    "l1_weight": (lambda x, t, r: fn(x).l1_loss(x, t, reduction=r, weight=const(x, BITS + 0.5)), [(5, 4), (5, 4)],
                  True),
    "huber_weight": (lambda x, t, r: fn(x).huber_loss(x, t, r, 0.5, const(x, BITS + 0.5)), [(5, 4), (5, 4)], True),
    "smooth_l1_beta0": (lambda x, t, r: fn(x).smooth_l1_loss(x, t, reduction=r, beta=0.0), [(5, 4), (5, 4)], True),
    "smooth_l1": (lambda x, t, r: fn(x).smooth_l1_loss(x, t, reduction=r, beta=0.5), [(5, 4), (5, 4)], True),
}


@pytest.mark.parametrize("reduction", ["mean", "sum", "none"])
@pytest.mark.parametrize("name", LOSSES)
def test_loss_matches_torch(name, reduction, rng):
    f, shapes, twice = LOSSES[name]
    assert_same(lambda *xs: f(*xs, reduction), [rng.standard_normal(s) for s in shapes], twice)


def test_kl_div_batchmean_and_unbatched_multi_margin_match_torch(rng):
    assert_same(lambda x, t: fn(x).kl_div(x, t.softmax(1), reduction="batchmean"),
                [rng.standard_normal((5, 4)) for _ in range(2)])
    assert_same(lambda x: fn(x).multi_margin_loss(x, const(x, np.array(2))), [rng.standard_normal(4)], twice=False)
    assert_same(lambda a, b: fn(a).cosine_embedding_loss(a, b, const(a, np.array(-1.0)), -0.5),
                [rng.standard_normal(4), rng.standard_normal(4)])


@pytest.mark.parametrize("make", [
    lambda m, w: m.KLDivLoss(reduction="batchmean", log_target=True), lambda m, w: m.PoissonNLLLoss(False, True),
    lambda m, w: m.GaussianNLLLoss(full=True, eps=0.1), lambda m, w: m.CosineEmbeddingLoss(0.5),
    lambda m, w: m.MarginRankingLoss(0.2), lambda m, w: m.HingeEmbeddingLoss(2.0),
    lambda m, w: m.TripletMarginLoss(0.5, 1.0, swap=True), lambda m, w: m.TripletMarginWithDistanceLoss(margin=2.0),
    lambda m, w: m.SoftMarginLoss(reduction="sum"), lambda m, w: m.MultiLabelSoftMarginLoss(w),
    lambda m, w: m.MultiMarginLoss(2, 0.5, w), lambda m, w: m.CTCLoss(blank=2, zero_infinity=True),
    lambda m, w: m.SmoothL1Loss(beta=0.0), lambda m, w: m.HuberLoss(delta=0.5),
], ids=["KLDivLoss", "PoissonNLLLoss", "GaussianNLLLoss", "CosineEmbeddingLoss", "MarginRankingLoss",
        "HingeEmbeddingLoss", "TripletMarginLoss", "TripletMarginWithDistanceLoss", "SoftMarginLoss",
        "MultiLabelSoftMarginLoss", "MultiMarginLoss", "CTCLoss", "SmoothL1Loss", "HuberLoss"])
def test_loss_modules_have_torchs_options_state_dict_and_repr(make):
    ours, theirs = make(nn, nnkit.tensor(WEIGHTS)), make(tnn, torch.tensor(WEIGHTS))
    assert repr(ours) == repr(theirs)
    assert list(ours.state_dict()) == list(theirs.state_dict())
    public = lambda m: {k: v for k, v in vars(m).items() if not k.startswith("_") and k != "training"}  # noqa: E731
    assert public(ours).keys() <= public(theirs).keys() | {"distance_function"}
    for key, value in public(theirs).items():
        if not callable(value):
            assert getattr(ours, key) == value, key


def test_legacy_size_average_and_reduce_match_torch(rng):
    x, y = rng.standard_normal((5, 4)), rng.standard_normal((5, 4))
    for size_average, reduce in [(False, None), (None, False), (True, True), (False, True)]:
        with pytest.warns(UserWarning):
            ours = nn.functional.mse_loss(nnkit.tensor(x), nnkit.tensor(y), size_average, reduce)
        with pytest.warns(UserWarning):
            theirs = torch.nn.functional.mse_loss(torch.tensor(x), torch.tensor(y), size_average, reduce)
        np.testing.assert_allclose(ours.numpy(), theirs.numpy(), rtol=1e-12)
        with pytest.warns(UserWarning):
            assert nn.NLLLoss(None, size_average, -100, reduce).reduction == tnn.NLLLoss(
                None, size_average, -100, reduce).reduction


# --- CTC ------------------------------------------------------------------------------------

CTC_CASES = {
    "full_lengths": ([7, 7, 7], [4, 2, 3]),
    "shorter_inputs_and_an_empty_target": ([7, 5, 6], [4, 0, 2]),
    "repeats_that_need_a_blank": ([7, 3, 7], [4, 1, 3]),
}


@pytest.mark.parametrize("reduction", ["mean", "sum", "none"])
@pytest.mark.parametrize("case", CTC_CASES)
def test_ctc_loss_matches_torch_through_log_softmax(case, reduction, rng):
    """torch returns the logits' gradient as that of its log-probabilities; through log_softmax
    the two agree (nnkit's own is the true derivative, see ctc_loss's docstring)."""
    input_lengths, target_lengths = CTC_CASES[case]
    targets = np.array([[1, 2, 2, 4], [3, 3, 0, 0], [4, 4, 4, 1]])

    def loss(logits):
        return fn(logits).ctc_loss(logits.log_softmax(2), const(logits, targets), input_lengths, target_lengths,
                                   reduction=reduction)
    assert_same(loss, [rng.standard_normal((7, 3, 5))], twice=False, tol=1e-8)


def test_ctc_loss_formats_blank_and_zero_infinity_match_torch(rng):
    logits = rng.standard_normal((6, 3, 5))
    concatenated, lengths = np.array([1, 2, 2, 0, 0, 3, 1]), np.array([3, 2, 2])

    def loss(x):
        return fn(x).ctc_loss(x.log_softmax(2), const(x, concatenated), const(x, np.array([6, 5, 6])),
                              const(x, lengths), blank=4, reduction="none")
    assert_same(loss, [logits], twice=False, tol=1e-8)
    assert_same(lambda x: fn(x).ctc_loss(x.log_softmax(1), const(x, np.array([1, 2, 2])), const(x, np.array(6)),
                                         const(x, np.array(3)), reduction="none"), [logits[:, 0]], twice=False)
    impossible = (lambda x: fn(x).ctc_loss(x.log_softmax(2), const(x, np.array([[1, 1, 1], [2, 3, 0]])), [4, 6], [3, 2],
                                           zero_infinity=True))
    assert_same(impossible, [logits[:, :2]], twice=False, tol=1e-8)
    ours = nn.functional.ctc_loss(nnkit.tensor(logits[:, :1]).log_softmax(2), nnkit.tensor([[1, 1, 1]]), [4], [3],
                                  reduction="none")
    assert ours.item() == torch.nn.functional.ctc_loss(torch.tensor(logits[:, :1]).log_softmax(2),
                                                       torch.tensor([[1, 1, 1]]), [4], [3], reduction="none").item()


# --- attention and the Transformer -----------------------------------------------------------

ATTENTION = {
    "float_mask_with_gradient": (lambda q, k, v, m: fn(q).scaled_dot_product_attention(q, k, v, attn_mask=m),
                                 [(2, 3, 4), (2, 5, 4), (2, 5, 6), (3, 5)]),
    "broadcast_mask_and_scale": (lambda q, k, v, m: fn(q).scaled_dot_product_attention(q, k, v, attn_mask=m, scale=0.3),
                                 [(2, 2, 3, 4), (2, 2, 5, 4), (2, 2, 5, 6), (2, 1, 3, 5)]),
    "grouped_query": (lambda q, k, v: fn(q).scaled_dot_product_attention(q, k, v, enable_gqa=True),
                      [(2, 4, 3, 4), (2, 2, 5, 4), (2, 1, 5, 6)]),
    "grouped_query_causal": (lambda q, k, v: fn(q).scaled_dot_product_attention(q, k, v, is_causal=True,
                                                                                enable_gqa=True),
                             [(6, 3, 4), (3, 5, 4), (2, 5, 6)]),
    "causal_longer_keys": (lambda q, k, v: fn(q).scaled_dot_product_attention(q, k, v, is_causal=True),
                           [(2, 3, 4), (2, 5, 4), (2, 5, 6)]),
}


@pytest.mark.parametrize("name", ATTENTION)
def test_scaled_dot_product_attention_matches_torch(name, rng):
    f, shapes = ATTENTION[name]
    assert_same(f, [rng.standard_normal(s) for s in shapes], tol=1e-8)


def state_dict_for_nnkit(module) -> dict:
    return {k: v.detach().numpy() for k, v in module.state_dict().items()}


CAUSAL = np.triu(np.full((4, 4), -np.inf), 1)
PADDING = np.array([[False] * 5, [False, False, False, True, True]])
TRANSFORMERS = {
    "decoder_layer": (lambda m, F, kw: m.TransformerDecoderLayer(8, 2, 16, activation="gelu", **kw),
                      lambda seq: dict(tgt=seq(4), memory=seq(5), tgt_mask=CAUSAL, memory_key_padding_mask=PADDING,
                                       tgt_is_causal=True)),
    "decoder": (lambda m, F, kw: m.TransformerDecoder(m.TransformerDecoderLayer(8, 2, 16, activation=F.gelu, **kw), 2,
                                                      m.LayerNorm(8)),
                lambda seq: dict(tgt=seq(4), memory=seq(5), tgt_mask=CAUSAL, tgt_key_padding_mask=PADDING[:, :4])),
    "encoder_layer_prelu": (lambda m, F, kw: m.TransformerEncoderLayer(8, 2, 16, activation=m.PReLU(), **kw),
                            lambda seq: dict(src=seq(5), src_key_padding_mask=PADDING)),
    "encoder": (lambda m, F, kw: m.TransformerEncoder(m.TransformerEncoderLayer(8, 2, 16, **kw), 2,
                                                      enable_nested_tensor=False),
                lambda seq: dict(src=seq(4), mask=CAUSAL, is_causal=True)),
    "transformer": (lambda m, F, kw: m.Transformer(8, 2, 2, 1, 16, **kw),
                    lambda seq: dict(src=seq(5), tgt=seq(4), tgt_mask=CAUSAL, src_key_padding_mask=PADDING,
                                     memory_key_padding_mask=PADDING)),
}


@pytest.mark.parametrize("batch_first", [False, True], ids=["seq_first", "batch_first"])
@pytest.mark.parametrize("norm_first", [False, True], ids=["post_norm", "pre_norm"])
@pytest.mark.parametrize("name", TRANSFORMERS)
def test_transformer_layers_load_torch_weights_and_match_it(name, norm_first, batch_first, rng):
    make, inputs = TRANSFORMERS[name]
    kw = dict(norm_first=norm_first, batch_first=batch_first, dropout=0.0)
    theirs = make(tnn, torch.nn.functional, kw).double()
    ours = make(nn, nnkit.nn.functional, kw).double()
    assert {k: tuple(v.shape) for k, v in ours.state_dict().items()} == {
        k: tuple(v.shape) for k, v in theirs.state_dict().items()}
    assert list(ours.state_dict()) == list(theirs.state_dict())
    ours.load_state_dict(state_dict_for_nnkit(theirs))
    arrays = inputs(lambda length: rng.standard_normal((2, length, 8) if batch_first else (length, 2, 8)))
    names = [k for k, v in arrays.items() if isinstance(v, np.ndarray) and v.dtype == np.float64 and "mask" not in k]

    def run(*xs):
        t = xs[0]
        call = {k: (lib(t).tensor(v) if isinstance(v, np.ndarray) else v) for k, v in arrays.items()}
        call.update(zip(names, xs))
        model = ours if isinstance(t, nnkit.Tensor) else theirs
        return model(**call)
    assert_same(run, [arrays[k] for k in names], twice=False, tol=1e-8)
    for mine, their in zip(ours.parameters(), theirs.parameters()):  # and back to torch
        assert mine.shape == tuple(their.shape)
    theirs.load_state_dict({k: torch.from_numpy(v.numpy().copy()) for k, v in ours.state_dict().items()})


def test_transformer_default_initialisation_has_torchs_distribution():
    nnkit.manual_seed(0)
    torch.manual_seed(0)
    ours, theirs = nn.Transformer(64, 4, 1, 1, 256), tnn.Transformer(64, 4, 1, 1, 256)
    mine = ours.state_dict()
    for key, value in theirs.state_dict().items():
        a, b = mine[key].numpy(), value.numpy()
        assert a.shape == b.shape, key
        if b.ndim > 1:
            assert abs(a.std() / b.std() - 1) < 0.05 and abs(np.abs(a).max() / np.abs(b).max() - 1) < 0.05, key
        elif "linear" in key:  # Linear's bias: uniform within ±1/√fan_in
            assert 0.8 < np.abs(a).max() / np.abs(b).max() < 1.25, key
        else:
            np.testing.assert_array_equal(a, b, err_msg=key)
    np.testing.assert_array_equal(nn.Transformer.generate_square_subsequent_mask(4).numpy(),
                                  tnn.Transformer.generate_square_subsequent_mask(4).numpy())


# --- second derivatives through the recurrent layers ------------------------------------------

@pytest.mark.parametrize("cls", ["RNN", "LSTM", "GRU"])
def test_gradient_penalty_through_a_recurrent_layer_matches_torch(cls, rng):
    theirs = getattr(tnn, cls)(3, 4, num_layers=2, bidirectional=True, batch_first=True).double()
    ours = getattr(nn, cls)(3, 4, num_layers=2, bidirectional=True, batch_first=True).double()
    ours.load_state_dict(state_dict_for_nnkit(theirs))
    x = rng.standard_normal((2, 5, 3))

    def penalty(library, model):
        inputs = library.tensor(x, requires_grad=True)
        g, = library.autograd.grad((model(inputs)[0] ** 2).sum(), inputs, create_graph=True)
        return library.autograd.grad((g * g).sum(), [inputs] + list(model.parameters()))
    for got, want in zip(penalty(nnkit, ours), penalty(torch, theirs)):
        np.testing.assert_allclose(got.numpy(), want.numpy(), rtol=1e-8, atol=1e-10)
