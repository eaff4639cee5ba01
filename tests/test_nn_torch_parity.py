"""nnkit.nn against PyTorch: the same weights, the same inputs, the same outputs and gradients.

Each layer is built in both libraries, the torch weights are copied into nnkit
with ``load_state_dict`` (torch tensors converted to NumPy), and the forward
values, the input gradients and the parameter gradients (for a random upstream
gradient) are compared in float32. State dicts travel both ways. Every
behaviour checked here is also pinned without torch in the other test_nn_* files.
"""

import numpy as np
import pytest

import nnkit
import nnkit.nn as nn
import nnkit.nn.functional as F

torch = pytest.importorskip("torch")
tnn = torch.nn
TF = torch.nn.functional

pytestmark = pytest.mark.torch

RTOL, ATOL = 1e-4, 1e-5


def close(ours, theirs, rtol=RTOL, atol=ATOL):
    ours = ours.detach().numpy() if isinstance(ours, nnkit.Tensor) else np.asarray(ours)
    theirs = theirs.detach().numpy() if isinstance(theirs, torch.Tensor) else np.asarray(theirs)
    assert ours.shape == theirs.shape, (ours.shape, theirs.shape)
    np.testing.assert_allclose(ours, theirs, rtol=rtol, atol=atol)


def copy_weights(ours: nn.Module, theirs) -> None:
    result = ours.load_state_dict({k: v.numpy() for k, v in theirs.state_dict().items()})
    assert result.missing_keys == [] and result.unexpected_keys == []


def run_both(ours, theirs, inputs, rng, train=True):
    """Forward and backward through both; compare outputs, input grads and parameter grads."""
    copy_weights(ours, theirs)
    ours.train(train)
    theirs.train(train)
    ours_in = [nnkit.tensor(x, requires_grad=x.dtype.kind == "f") for x in inputs]
    theirs_in = [torch.tensor(x, requires_grad=x.dtype.kind == "f") for x in inputs]
    out_ours, out_theirs = ours(*ours_in), theirs(*theirs_in)
    close(out_ours, out_theirs)
    upstream = rng.standard_normal(out_theirs.shape).astype(np.float32)
    out_ours.backward(nnkit.tensor(upstream))
    out_theirs.backward(torch.tensor(upstream))
    for a, b in zip(ours_in, theirs_in):
        if b.requires_grad:
            close(a.grad, b.grad)
    theirs_grads = dict(theirs.named_parameters())
    for name, p in ours.named_parameters():
        close(p.grad, theirs_grads[name].grad)
    for name, buf in theirs.state_dict().items():  # running statistics after the step
        close(ours.state_dict()[name], buf)


LAYERS = {
    "Linear": (lambda: nn.Linear(5, 3), lambda: tnn.Linear(5, 3), [(4, 5)]),
    "Linear 3-d input": (lambda: nn.Linear(5, 3), lambda: tnn.Linear(5, 3), [(2, 4, 5)]),
    "Linear 1-d input": (lambda: nn.Linear(5, 3), lambda: tnn.Linear(5, 3), [(5,)]),
    "Linear no bias": (lambda: nn.Linear(5, 3, bias=False), lambda: tnn.Linear(5, 3, bias=False), [(4, 5)]),
    "Bilinear": (lambda: nn.Bilinear(3, 4, 2), lambda: tnn.Bilinear(3, 4, 2), [(5, 3), (5, 4)]),
    "Identity": (lambda: nn.Identity(), lambda: tnn.Identity(), [(3, 4)]),
    "Flatten": (lambda: nn.Flatten(), lambda: tnn.Flatten(), [(2, 3, 4)]),
    "Unflatten": (lambda: nn.Unflatten(1, (2, 3)), lambda: tnn.Unflatten(1, (2, 3)), [(4, 6)]),
    "ReLU": (lambda: nn.ReLU(), lambda: tnn.ReLU(), [(4, 5)]),
    "LeakyReLU": (lambda: nn.LeakyReLU(0.2), lambda: tnn.LeakyReLU(0.2), [(4, 5)]),
    "ELU": (lambda: nn.ELU(0.5), lambda: tnn.ELU(0.5), [(4, 5)]),
    "GELU": (lambda: nn.GELU(), lambda: tnn.GELU(), [(4, 5)]),
    "GELU tanh": (lambda: nn.GELU("tanh"), lambda: tnn.GELU("tanh"), [(4, 5)]),
    "SiLU": (lambda: nn.SiLU(), lambda: tnn.SiLU(), [(4, 5)]),
    "Mish": (lambda: nn.Mish(), lambda: tnn.Mish(), [(4, 5)]),
    "Sigmoid": (lambda: nn.Sigmoid(), lambda: tnn.Sigmoid(), [(4, 5)]),
    "Tanh": (lambda: nn.Tanh(), lambda: tnn.Tanh(), [(4, 5)]),
    "Softplus": (lambda: nn.Softplus(beta=2.0, threshold=1.0), lambda: tnn.Softplus(beta=2.0, threshold=1.0),
                 [(4, 5)]),
    "Softmax": (lambda: nn.Softmax(dim=1), lambda: tnn.Softmax(dim=1), [(4, 5)]),
    "LogSoftmax": (lambda: nn.LogSoftmax(dim=-1), lambda: tnn.LogSoftmax(dim=-1), [(2, 4, 5)]),
    "PReLU": (lambda: nn.PReLU(3), lambda: tnn.PReLU(3), [(4, 3, 2)]),
    "BatchNorm1d (N, C)": (lambda: nn.BatchNorm1d(3), lambda: tnn.BatchNorm1d(3), [(6, 3)]),
    "BatchNorm1d (N, C, L)": (lambda: nn.BatchNorm1d(3, momentum=0.3), lambda: tnn.BatchNorm1d(3, momentum=0.3),
                              [(4, 3, 5)]),
    "BatchNorm1d no affine": (lambda: nn.BatchNorm1d(3, affine=False), lambda: tnn.BatchNorm1d(3, affine=False),
                              [(6, 3)]),
    "BatchNorm1d no bias": (lambda: nn.BatchNorm1d(3, bias=False), lambda: tnn.BatchNorm1d(3, bias=False), [(6, 3)]),
    "BatchNorm1d no stats": (lambda: nn.BatchNorm1d(3, track_running_stats=False),
                             lambda: tnn.BatchNorm1d(3, track_running_stats=False), [(6, 3)]),
    "LayerNorm": (lambda: nn.LayerNorm(5), lambda: tnn.LayerNorm(5), [(2, 4, 5)]),
    "LayerNorm 2 dims": (lambda: nn.LayerNorm((4, 5)), lambda: tnn.LayerNorm((4, 5)), [(3, 4, 5)]),
    "LayerNorm no bias": (lambda: nn.LayerNorm(5, bias=False), lambda: tnn.LayerNorm(5, bias=False), [(3, 5)]),
    "LayerNorm no affine": (lambda: nn.LayerNorm(5, elementwise_affine=False),
                            lambda: tnn.LayerNorm(5, elementwise_affine=False), [(3, 5)]),
    "Sequential MLP": (lambda: nn.Sequential(nn.Linear(4, 8), nn.BatchNorm1d(8), nn.GELU(), nn.Linear(8, 2)),
                       lambda: tnn.Sequential(tnn.Linear(4, 8), tnn.BatchNorm1d(8), tnn.GELU(), tnn.Linear(8, 2)),
                       [(5, 4)]),
}


@pytest.mark.parametrize("name", LAYERS)
@pytest.mark.parametrize("train", [True, False], ids=["train", "eval"])
def test_layer_matches_torch(name, train, rng):
    ours, theirs, shapes = LAYERS[name]
    theirs = theirs()
    with torch.no_grad():  # non-trivial affine parameters and running statistics
        for p in theirs.parameters():
            p.add_(torch.tensor(rng.normal(0, 0.3, tuple(p.shape)), dtype=p.dtype))
        for key, b in theirs.named_buffers():
            if b.dtype.is_floating_point:
                b.copy_(torch.tensor(rng.uniform(0.5, 1.5, tuple(b.shape))))
    inputs = [(rng.standard_normal(s) * 2).astype(np.float32) for s in shapes]
    run_both(ours(), theirs, inputs, rng, train)


def test_batchnorm_running_stats_over_several_steps_and_cumulative_momentum(rng):
    for momentum in (0.1, None):
        ours, theirs = nn.BatchNorm1d(4, momentum=momentum), tnn.BatchNorm1d(4, momentum=momentum)
        for _ in range(3):
            x = (rng.standard_normal((8, 4)) * 3 + 1).astype(np.float32)
            ours(nnkit.tensor(x))
            theirs(torch.tensor(x))
        for key, value in theirs.state_dict().items():
            close(ours.state_dict()[key], value)


def test_embedding_with_padding_matches_torch(rng):
    ours, theirs = nn.Embedding(10, 4, padding_idx=2), tnn.Embedding(10, 4, padding_idx=2)
    copy_weights(ours, theirs)
    idx = np.array([[1, 2, 3], [2, 9, 1]])
    out_o, out_t = ours(nnkit.tensor(idx)), theirs(torch.tensor(idx))
    close(out_o, out_t)
    g = rng.standard_normal(out_t.shape).astype(np.float32)
    out_o.backward(nnkit.tensor(g))
    out_t.backward(torch.tensor(g))
    close(ours.weight.grad, theirs.weight.grad)


def loss_inputs(rng, kind):
    logits = rng.standard_normal((6, 4)).astype(np.float32) * 2
    if kind == "regression":
        return logits, rng.standard_normal((6, 4)).astype(np.float32)
    if kind == "indices":
        return logits, np.array([0, 3, -100, 1, 2, 3])
    if kind == "indices 4-d":
        return rng.standard_normal((2, 4, 3, 2)).astype(np.float32), rng.integers(0, 4, (2, 3, 2))
    if kind == "unbatched":
        return logits[0], np.array(2)
    if kind == "probabilities":
        return logits, rng.dirichlet(np.ones(4), 6).astype(np.float32)
    if kind == "log-probabilities":
        return logits - np.log(np.exp(logits).sum(1, keepdims=True)), np.array([0, 3, -100, 1, 2, 3])
    if kind == "binary":
        return rng.uniform(0.01, 0.99, (6, 4)).astype(np.float32), rng.integers(0, 2, (6, 4)).astype(np.float32)
    if kind == "binary soft":
        return logits, rng.uniform(0, 1, (6, 4)).astype(np.float32)
    raise ValueError(kind)


WEIGHT = np.array([0.5, 2.0, 1.0, 3.0], dtype=np.float32)

LOSSES = [
    ("mse_loss", {}, "regression"),
    ("l1_loss", {}, "regression"),
    ("smooth_l1_loss", {"beta": 0.5}, "regression"),
    ("huber_loss", {"delta": 2.0}, "regression"),
    ("cross_entropy", {}, "indices"),
    ("cross_entropy", {"weight": WEIGHT}, "indices"),
    ("cross_entropy", {"weight": WEIGHT, "label_smoothing": 0.2}, "indices"),
    ("cross_entropy", {"label_smoothing": 0.1, "ignore_index": 3}, "indices"),
    ("cross_entropy", {"weight": WEIGHT, "label_smoothing": 0.3}, "indices 4-d"),
    ("cross_entropy", {"label_smoothing": 0.2}, "unbatched"),
    ("cross_entropy", {}, "probabilities"),
    ("cross_entropy", {"weight": WEIGHT, "label_smoothing": 0.25}, "probabilities"),
    ("nll_loss", {}, "log-probabilities"),
    ("nll_loss", {"weight": WEIGHT}, "log-probabilities"),
    ("binary_cross_entropy", {}, "binary"),
    ("binary_cross_entropy", {"weight": WEIGHT}, "binary"),
    ("binary_cross_entropy_with_logits", {}, "binary soft"),
    ("binary_cross_entropy_with_logits", {"pos_weight": WEIGHT, "weight": WEIGHT[::-1].copy()}, "binary soft"),
]


@pytest.mark.parametrize("reduction", ["mean", "sum", "none"])
@pytest.mark.parametrize("fn, kwargs, kind", LOSSES, ids=[f"{f}-{k}-{'-'.join(kw)}" for f, kw, k in LOSSES])
def test_loss_matches_torch(fn, kwargs, kind, reduction, rng):
    x, y = loss_inputs(rng, kind)
    if "ignore_index" in kwargs:
        y = np.where(y == -100, kwargs["ignore_index"], y)
    xo, xt = nnkit.tensor(x, requires_grad=True), torch.tensor(x, requires_grad=True)
    kw_o = {k: nnkit.tensor(v) if isinstance(v, np.ndarray) else v for k, v in kwargs.items()}
    kw_t = {k: torch.tensor(v) if isinstance(v, np.ndarray) else v for k, v in kwargs.items()}
    lo = getattr(F, fn)(xo, nnkit.tensor(y), reduction=reduction, **kw_o)
    lt = getattr(TF, fn)(xt, torch.tensor(y), reduction=reduction, **kw_t)
    close(lo, lt)
    g = rng.standard_normal(lt.shape).astype(np.float32)
    lo.backward(nnkit.tensor(g))
    lt.backward(torch.tensor(g))
    close(xo.grad, xt.grad)


@pytest.mark.parametrize("ours, theirs", [
    (nn.MSELoss(), tnn.MSELoss()),
    (nn.CrossEntropyLoss(weight=nnkit.tensor(WEIGHT), label_smoothing=0.1, ignore_index=1),
     tnn.CrossEntropyLoss(weight=torch.tensor(WEIGHT), label_smoothing=0.1, ignore_index=1)),
    (nn.NLLLoss(weight=nnkit.tensor(WEIGHT)), tnn.NLLLoss(weight=torch.tensor(WEIGHT))),
    (nn.BCEWithLogitsLoss(pos_weight=nnkit.tensor(WEIGHT)), tnn.BCEWithLogitsLoss(pos_weight=torch.tensor(WEIGHT))),
])
def test_loss_modules_match_torch_and_share_state_dict_keys(ours, theirs, rng):
    assert list(ours.state_dict()) == list(theirs.state_dict())
    assert repr(ours) == repr(theirs)
    x = rng.standard_normal((5, 4)).astype(np.float32)
    y = rng.uniform(0, 1, (5, 4)).astype(np.float32) if isinstance(ours, (nn.MSELoss, nn.BCEWithLogitsLoss)) \
        else np.array([0, 1, 2, 3, 1])
    close(ours(nnkit.tensor(x), nnkit.tensor(y)), theirs(torch.tensor(x), torch.tensor(y)))


def test_state_dict_round_trips_both_ways(rng):
    def ours_model():
        return nn.Sequential(nn.Linear(4, 6), nn.BatchNorm1d(6), nn.ReLU(), nn.LayerNorm(6), nn.Linear(6, 3))

    def theirs_model():
        return tnn.Sequential(tnn.Linear(4, 6), tnn.BatchNorm1d(6), tnn.ReLU(), tnn.LayerNorm(6), tnn.Linear(6, 3))

    x = rng.standard_normal((7, 4)).astype(np.float32)
    # nnkit -> torch, after a training step has moved the running statistics
    ours = ours_model()
    ours(nnkit.tensor(x))
    theirs = theirs_model()
    assert list(ours.state_dict()) == list(theirs.state_dict())
    theirs.load_state_dict({k: torch.from_numpy(v.numpy().copy()) for k, v in ours.state_dict().items()})
    ours.eval(), theirs.eval()
    close(ours(nnkit.tensor(x)), theirs(torch.tensor(x)))
    assert int(theirs.state_dict()["1.num_batches_tracked"]) == 1
    # torch -> nnkit, straight from torch tensors (NumPy converts them)
    theirs2, ours2 = theirs_model(), ours_model()
    ours2.load_state_dict(theirs2.state_dict())
    ours2.eval(), theirs2.eval()
    close(ours2(nnkit.tensor(x)), theirs2(torch.tensor(x)))


def test_repr_matches_torch():
    ours = nn.Sequential(nn.Linear(4, 6), nn.BatchNorm1d(6), nn.ReLU(), nn.Dropout(0.1), nn.LayerNorm(6),
                         nn.GELU(approximate="tanh"), nn.Embedding(5, 2, padding_idx=0), nn.Softmax(dim=1),
                         nn.LeakyReLU(), nn.Flatten(), nn.Sequential(nn.Identity(), nn.Tanh()))
    theirs = tnn.Sequential(tnn.Linear(4, 6), tnn.BatchNorm1d(6), tnn.ReLU(), tnn.Dropout(0.1), tnn.LayerNorm(6),
                            tnn.GELU(approximate="tanh"), tnn.Embedding(5, 2, padding_idx=0), tnn.Softmax(dim=1),
                            tnn.LeakyReLU(), tnn.Flatten(), tnn.Sequential(tnn.Identity(), tnn.Tanh()))
    assert repr(ours) == repr(theirs)
    assert [n for n, _ in ours.named_modules()] == [n for n, _ in theirs.named_modules()]
    assert list(ours.state_dict()) == list(theirs.state_dict())


@pytest.mark.parametrize("mode", ["constant", "reflect", "replicate", "circular"])
def test_pad_matches_torch(mode, rng):
    x = rng.standard_normal((2, 3, 4, 5)).astype(np.float32)
    amounts = (2, 1, 1, 3) if mode != "constant" else (2, -1, 0, 3, 1, 1)
    xo, xt = nnkit.tensor(x, requires_grad=True), torch.tensor(x, requires_grad=True)
    kwargs = {"value": 1.5} if mode == "constant" else {}
    out_o, out_t = F.pad(xo, amounts, mode, **kwargs), TF.pad(xt, amounts, mode, **kwargs)
    close(out_o, out_t)
    g = rng.standard_normal(out_t.shape).astype(np.float32)
    out_o.backward(nnkit.tensor(g))
    out_t.backward(torch.tensor(g))
    close(xo.grad, xt.grad)


def test_functional_extras_match_torch(rng):
    x = rng.standard_normal((4, 5)).astype(np.float32)
    x[0] = 0
    xo, xt = nnkit.tensor(x, requires_grad=True), torch.tensor(x, requires_grad=True)
    out_o, out_t = F.normalize(xo, dim=1), TF.normalize(xt, dim=1)
    close(out_o, out_t)
    out_o.sum().backward(), out_t.sum().backward()
    close(xo.grad, xt.grad)
    labels = np.array([[0, 3], [2, 2]])
    close(F.one_hot(nnkit.tensor(labels)), TF.one_hot(torch.tensor(labels)))
    close(F.one_hot(nnkit.tensor(labels), 6), TF.one_hot(torch.tensor(labels), 6))


def test_clip_grad_norm_matches_torch(rng):
    grads = [rng.standard_normal(s).astype(np.float32) for s in [(3, 4), (5,)]]
    for norm_type, max_norm in [(2.0, 1.0), (1.0, 2.0), (float("inf"), 0.5), (2.0, 100.0)]:
        ours = [nn.Parameter(nnkit.zeros(g.shape)) for g in grads]
        theirs = [tnn.Parameter(torch.zeros(g.shape)) for g in grads]
        for po, pt, g in zip(ours, theirs, grads):
            po.grad, pt.grad = nnkit.tensor(g), torch.tensor(g)
        close(nn.utils.clip_grad_norm_(ours, max_norm, norm_type),
              tnn.utils.clip_grad_norm_(theirs, max_norm, norm_type))
        for po, pt in zip(ours, theirs):
            close(po.grad, pt.grad)


def test_default_initialisation_has_torchs_scale(rng):
    """The same distributions: compare the spread of many fresh layers' values with torch's."""
    nnkit.manual_seed(0)
    torch.manual_seed(0)
    for ours, theirs in [(nn.Linear(50, 2000), tnn.Linear(50, 2000)), (nn.Embedding(300, 20), tnn.Embedding(300, 20)),
                         (nn.Bilinear(8, 9, 2000), tnn.Bilinear(8, 9, 2000))]:
        mine = dict(ours.named_parameters())
        for name, p in theirs.named_parameters():
            a, b = mine[name].detach().numpy(), p.detach().numpy()
            assert a.shape == b.shape
            assert abs(a.std() / b.std() - 1) < 0.05, name
            assert abs(np.abs(a).max() / np.abs(b).max() - 1) < 0.05 or name == "weight" and \
                isinstance(ours, nn.Embedding), name
