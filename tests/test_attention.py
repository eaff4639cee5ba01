"""Attention and the Transformer encoder: scaled dot-product attention against the softmax
formula, masks (boolean, float, causal, fully masked rows), MultiheadAttention against a NumPy
reference of its projections and heads, finite differences, TransformerEncoderLayer both ways
(post-LN and pre-LN), positional encodings, and PyTorch parity."""

import math

import numpy as np
import pytest

import nnkit
import nnkit.nn as nn
import nnkit.nn.functional as F
from nnkit.gradcheck import gradcheck


def t64(array, requires_grad=True):
    return nnkit.tensor(np.asarray(array, dtype=np.float64), requires_grad=requires_grad)


def reference_attention(q, k, v, additive=None, scale=None):
    scores = q @ np.swapaxes(k, -1, -2) * (scale if scale is not None else 1 / math.sqrt(q.shape[-1]))
    if additive is not None:
        scores = scores + additive
    weights = np.exp(scores - scores.max(-1, keepdims=True))
    weights /= weights.sum(-1, keepdims=True)
    return weights @ v, weights


def qkv(rng, length=4, source=5, batch=(2, 3), features=6):
    return (rng.standard_normal(batch + (length, features)), rng.standard_normal(batch + (source, features)),
            rng.standard_normal(batch + (source, features + 1)))


def test_sdpa_is_softmax_of_scaled_scores_times_values(rng):
    q, k, v = qkv(rng)
    out = F.scaled_dot_product_attention(t64(q, False), t64(k, False), t64(v, False))
    np.testing.assert_allclose(out.numpy(), reference_attention(q, k, v)[0], atol=1e-12)
    out = F.scaled_dot_product_attention(t64(q, False), t64(k, False), t64(v, False), scale=0.3)
    np.testing.assert_allclose(out.numpy(), reference_attention(q, k, v, scale=0.3)[0], atol=1e-12)


def test_sdpa_masks(rng):
    q, k, v = qkv(rng)
    allowed = rng.random((4, 5)) > 0.4
    allowed[:, 0] = True
    additive = np.where(allowed, 0.0, -np.inf)
    expected = reference_attention(q, k, v, additive)[0]
    out = F.scaled_dot_product_attention(t64(q, False), t64(k, False), t64(v, False), attn_mask=nnkit.tensor(allowed))
    np.testing.assert_allclose(out.numpy(), expected, atol=1e-12)
    bias = rng.standard_normal((2, 1, 4, 5))
    out = F.scaled_dot_product_attention(t64(q, False), t64(k, False), t64(v, False), attn_mask=t64(bias, False))
    np.testing.assert_allclose(out.numpy(), reference_attention(q, k, v, bias)[0], atol=1e-12)


def test_causal_attention_sees_only_the_past(rng):
    q, k, v = qkv(rng, length=5, source=5)
    causal = np.where(np.tri(5, 5, dtype=bool), 0.0, -np.inf)
    out = F.scaled_dot_product_attention(t64(q, False), t64(k, False), t64(v, False), is_causal=True)
    np.testing.assert_allclose(out.numpy(), reference_attention(q, k, v, causal)[0], atol=1e-12)
    v2 = v.copy()
    v2[..., 3:, :] += 10  # changing the future keeps the past
    out2 = F.scaled_dot_product_attention(t64(q, False), t64(k, False), t64(v2, False), is_causal=True)
    np.testing.assert_array_equal(out.numpy()[..., :3, :], out2.numpy()[..., :3, :])
    short = F.scaled_dot_product_attention(t64(q[..., :2, :], False), t64(k, False), t64(v, False), is_causal=True)
    np.testing.assert_allclose(short.numpy(), out.numpy()[..., :2, :], atol=1e-12)  # top-left aligned


def test_a_fully_masked_query_gets_zeros_not_nan(rng):
    q, k, v = (t64(a) for a in qkv(rng))
    allowed = np.ones((4, 5), dtype=bool)
    allowed[2] = False
    out = F.scaled_dot_product_attention(q, k, v, attn_mask=nnkit.tensor(allowed))
    assert np.isfinite(out.detach().numpy()).all() and (out.detach().numpy()[..., 2, :] == 0).all()
    out.sum().backward()
    assert np.isfinite(q.grad.numpy()).all() and (q.grad.numpy()[..., 2, :] == 0).all()
    assert gradcheck(lambda a, b, c: F.scaled_dot_product_attention(a, b, c, attn_mask=nnkit.tensor(allowed)),
                     [t64(x) for x in qkv(rng)]).ok


@pytest.mark.parametrize("mask", ["none", "bool", "float", "causal"])
def test_sdpa_gradients_match_finite_differences(mask, rng):
    q, k, v = qkv(rng, length=3, source=3 if mask == "causal" else 4, batch=(2,), features=3)
    kwargs = {"is_causal": True} if mask == "causal" else {}
    if mask == "bool":
        kwargs["attn_mask"] = nnkit.tensor(np.array([[True, False, True, True], [True, True, False, False],
                                                     [False, True, True, True]]))
    if mask == "float":
        kwargs["attn_mask"] = t64(rng.standard_normal((3, 4)), False)
    assert gradcheck(lambda a, b, c: F.scaled_dot_product_attention(a, b, c, **kwargs),
                     [t64(q), t64(k), t64(v)]).ok


def test_sdpa_errors():
    q = nnkit.zeros(2, 3, 4)
    with pytest.raises(RuntimeError, match="not both"):
        F.scaled_dot_product_attention(q, q, q, attn_mask=nnkit.ones(3, 3, dtype=nnkit.bool), is_causal=True)
    with pytest.raises(RuntimeError, match="do not fit"):
        F.scaled_dot_product_attention(q, nnkit.zeros(2, 3, 5), q)
    with pytest.raises(RuntimeError, match="does not broadcast"):
        F.scaled_dot_product_attention(q, q, q, attn_mask=nnkit.zeros(2, 2))


def reference_mha(mha, query, key, value, additive=None):
    """Project, split into heads, attend, merge, project: (N, L, E) inputs, NumPy throughout."""
    p = {k: v.detach().numpy() for k, v in mha.named_parameters()}
    e, h = mha.embed_dim, mha.num_heads
    if mha._qkv_same_embed_dim:
        wq, wk, wv = np.split(p["in_proj_weight"], 3)
    else:
        wq, wk, wv = p["q_proj_weight"], p["k_proj_weight"], p["v_proj_weight"]
    bq, bk, bv = np.split(p.get("in_proj_bias", np.zeros(3 * e)), 3)

    def heads(x):
        return x.reshape(x.shape[0], x.shape[1], h, e // h).transpose(0, 2, 1, 3)
    out, weights = reference_attention(heads(query @ wq.T + bq), heads(key @ wk.T + bk), heads(value @ wv.T + bv),
                                       additive)
    merged = out.transpose(0, 2, 1, 3).reshape(query.shape[0], query.shape[1], e)
    return merged @ p["out_proj.weight"].T + p.get("out_proj.bias", 0), weights


@pytest.mark.parametrize("kind", ["self", "cross", "kdim/vdim", "no bias"])
def test_multihead_attention_matches_the_reference(kind, rng):
    nnkit.manual_seed(0)
    kdim = 3 if kind == "kdim/vdim" else None
    mha = nn.MultiheadAttention(8, 2, batch_first=True, kdim=kdim, vdim=kdim, bias=kind != "no bias").double()
    query = rng.standard_normal((2, 4, 8))
    key = query if kind == "self" else rng.standard_normal((2, 5, kdim or 8))
    value = query if kind == "self" else rng.standard_normal((2, 5, kdim or 8))
    q = t64(query, False)
    args = (q, q, q) if kind == "self" else (q, t64(key, False), t64(value, False))
    out, weights = mha(*args)
    expected, expected_weights = reference_mha(mha, query, key, value)
    np.testing.assert_allclose(out.detach().numpy(), expected, atol=1e-12)
    np.testing.assert_allclose(weights.detach().numpy(), expected_weights.mean(1), atol=1e-12)
    _, per_head = mha(*args, average_attn_weights=False)
    np.testing.assert_allclose(per_head.detach().numpy(), expected_weights, atol=1e-12)


def test_multihead_attention_masks_follow_pytorchs_convention(rng):
    """In MultiheadAttention's masks True means *may not attend*."""
    mha = nn.MultiheadAttention(8, 2, batch_first=True).double()
    x = rng.standard_normal((2, 5, 8))
    padding = np.zeros((2, 5), dtype=bool)
    padding[1, 3:] = True
    blocked = np.triu(np.ones((5, 5), dtype=bool), 1)
    additive = np.where(blocked, -np.inf, 0.0) + np.where(padding, -np.inf, 0.0)[:, None, None, :]
    out, weights = mha(t64(x, False), t64(x, False), t64(x, False), key_padding_mask=nnkit.tensor(padding),
                       attn_mask=nnkit.tensor(blocked))
    expected, expected_weights = reference_mha(mha, x, x, x, additive)
    np.testing.assert_allclose(out.detach().numpy(), expected, atol=1e-12)
    assert (weights.detach().numpy()[1, :, 3:] == 0).all()
    x2 = x.copy()
    x2[1, 3:] = 100.0  # padding keys do not matter...
    out2, _ = mha(t64(x, False), t64(x2, False), t64(x2, False), key_padding_mask=nnkit.tensor(padding))
    out1, _ = mha(t64(x, False), t64(x, False), t64(x, False), key_padding_mask=nnkit.tensor(padding))
    np.testing.assert_allclose(out1.detach().numpy()[1], out2.detach().numpy()[1], atol=1e-10)


def test_multihead_attention_fully_masked_query_gives_bias_not_nan():
    mha = nn.MultiheadAttention(4, 2, batch_first=True)
    x = nnkit.randn(1, 3, 4)
    out, weights = mha(x, x, x, key_padding_mask=nnkit.tensor([[True, True, True]]))
    np.testing.assert_allclose(out.detach().numpy(), np.broadcast_to(mha.out_proj.bias.detach().numpy(), (1, 3, 4)))
    assert (weights.detach().numpy() == 0).all()


@pytest.mark.parametrize("batch_first, batched", [(False, True), (True, True), (False, False)])
def test_multihead_attention_layouts(batch_first, batched, rng):
    mha = nn.MultiheadAttention(6, 3, batch_first=batch_first).double()
    x = rng.standard_normal((2, 4, 6))  # (N, L, E)
    expected, weights = reference_mha(mha, x, x, x)
    if not batched:
        inp = x[0]
    else:
        inp = x if batch_first else x.transpose(1, 0, 2)
    out, w = mha(t64(inp, False), t64(inp, False), t64(inp, False))
    if not batched:
        np.testing.assert_allclose(out.detach().numpy(), expected[0], atol=1e-12)
        assert w.shape == (4, 4)
    else:
        got = out.detach().numpy() if batch_first else out.detach().numpy().transpose(1, 0, 2)
        np.testing.assert_allclose(got, expected, atol=1e-12)
        assert w.shape == (2, 4, 4)
    assert mha(t64(inp, False), t64(inp, False), t64(inp, False), need_weights=False)[1] is None


@pytest.mark.parametrize("kind", ["self with padding mask", "cross with float mask"])
def test_multihead_attention_gradients(kind, rng):
    nnkit.manual_seed(1)
    mha = nn.MultiheadAttention(4, 2, batch_first=True).double()
    params = list(mha.parameters())
    if kind.startswith("self"):
        mask = nnkit.tensor(np.array([[False, False, True], [False, False, False]]))
        x = t64(rng.standard_normal((2, 3, 4)))
        assert gradcheck(lambda a, *p: mha(a, a, a, key_padding_mask=mask), [x] + params).ok
    else:
        mask = t64(rng.standard_normal((3, 2)), False)
        inputs = [t64(rng.standard_normal((2, 3, 4))), t64(rng.standard_normal((2, 2, 4))),
                  t64(rng.standard_normal((2, 2, 4)))]
        assert gradcheck(lambda q, k, v, *p: mha(q, k, v, attn_mask=mask), inputs + params).ok


def test_multihead_attention_parameters_and_errors():
    mha = nn.MultiheadAttention(8, 2)
    assert list(mha.state_dict()) == ["in_proj_weight", "in_proj_bias", "out_proj.weight", "out_proj.bias"]
    assert (mha.in_proj_bias.detach().numpy() == 0).all() and (mha.out_proj.bias.detach().numpy() == 0).all()
    bound = math.sqrt(6 / (8 + 24))  # Xavier-uniform over the stacked (3E, E) matrix
    assert np.abs(mha.in_proj_weight.detach().numpy()).max() <= bound
    assert list(nn.MultiheadAttention(8, 2, kdim=3, vdim=5).state_dict())[:3] == ["q_proj_weight", "k_proj_weight",
                                                                                    "v_proj_weight"]
    with pytest.raises(ValueError, match="divisible"):
        nn.MultiheadAttention(10, 3)
    with pytest.raises(NotImplementedError, match="add_bias_kv"):
        nn.MultiheadAttention(8, 2, add_bias_kv=True)
    x = nnkit.zeros(3, 2, 8)
    with pytest.raises(RuntimeError, match="is_causal=True is only a hint"):
        mha(x, x, x, is_causal=True)
    with pytest.raises(RuntimeError, match="key_padding_mask must be"):
        mha(x, x, x, key_padding_mask=nnkit.zeros(3, 2, dtype=nnkit.bool))
    with pytest.raises(RuntimeError, match="attn_mask must be"):
        mha(x, x, x, attn_mask=nnkit.zeros(2, 3, dtype=nnkit.bool))


def test_encoder_layer_has_pytorchs_submodules_and_both_orders(rng):
    layer = nn.TransformerEncoderLayer(8, 2, dim_feedforward=16, dropout=0.0, batch_first=True).double()
    assert [name for name, _ in layer.named_children()] == ["self_attn", "linear1", "dropout", "linear2", "norm1",
                                                              "norm2", "dropout1", "dropout2"]
    x = t64(rng.standard_normal((2, 3, 8)), False)

    def ln(v):
        return (v - v.mean(-1, keepdims=True)) / np.sqrt(v.var(-1, keepdims=True) + 1e-5)

    def ff(v):
        return layer.linear2(F.relu(layer.linear1(v)))

    def sa(v):
        return layer.self_attn(v, v, v)[0]
    post = ln((x + sa(x)).detach().numpy())
    post = ln(post + ff(t64(post, False)).detach().numpy())
    np.testing.assert_allclose(layer(x).detach().numpy(), post, atol=1e-10)
    layer.norm_first = True
    h = x + sa(t64(ln(x.numpy()), False))
    pre = h + ff(t64(ln(h.detach().numpy()), False))
    np.testing.assert_allclose(layer(x).detach().numpy(), pre.detach().numpy(), atol=1e-10)


@pytest.mark.parametrize("norm_first", [False, True])
@pytest.mark.parametrize("activation", ["relu", "gelu"])
def test_encoder_layer_gradients(norm_first, activation, rng):
    nnkit.manual_seed(2)
    layer = nn.TransformerEncoderLayer(4, 2, dim_feedforward=6, dropout=0.0, activation=activation,
                                       norm_first=norm_first).double()
    x = t64(rng.standard_normal((3, 2, 4)))
    mask = nnkit.tensor(np.array([[False, False, True], [False, False, False]]))
    assert gradcheck(lambda a, *p: layer(a, src_key_padding_mask=mask), [x] + list(layer.parameters())).ok


def test_encoder_stacks_independent_copies_and_dropout_is_off_in_eval(rng):
    layer = nn.TransformerEncoderLayer(8, 2, 16, dropout=0.5)
    encoder = nn.TransformerEncoder(layer, num_layers=2, norm=nn.LayerNorm(8))
    assert encoder.layers[0].linear1.weight is not encoder.layers[1].linear1.weight
    np.testing.assert_array_equal(encoder.layers[0].linear1.weight.detach().numpy(),
                                  encoder.layers[1].linear1.weight.detach().numpy())
    assert list(encoder.state_dict())[0] == "layers.0.self_attn.in_proj_weight"
    x = nnkit.tensor(rng.standard_normal((5, 2, 8)).astype(np.float32))
    encoder.eval()
    np.testing.assert_array_equal(encoder(x).detach().numpy(), encoder(x).detach().numpy())
    encoder.train()
    assert not np.array_equal(encoder(x).detach().numpy(), encoder(x).detach().numpy())
    causal = nnkit.tensor(np.triu(np.full((5, 5), -np.inf), 1).astype(np.float32))
    assert encoder(x, mask=causal, is_causal=True).shape == (5, 2, 8)


def test_sinusoidal_encoding_formula_and_buffer():
    pe = nn.SinusoidalPositionalEncoding(6, max_len=50)
    table = pe.pe.numpy()
    p, i = 7, 1
    assert table[p, 2 * i] == pytest.approx(math.sin(p / 10000 ** (2 * i / 6)), abs=1e-6)
    assert table[p, 2 * i + 1] == pytest.approx(math.cos(p / 10000 ** (2 * i / 6)), abs=1e-6)
    assert pe.state_dict() == {} and list(pe.parameters()) == []
    x = nnkit.zeros(4, 3, 6)  # (L, N, E)
    np.testing.assert_allclose(pe(x).numpy()[:, 1], table[:4])
    first = nn.SinusoidalPositionalEncoding(5, max_len=8, batch_first=True)(nnkit.zeros(2, 8, 5))
    assert first.shape == (2, 8, 5) and np.isfinite(first.numpy()).all()  # odd width
    with pytest.raises(RuntimeError, match="exceeds max_len=50"):
        pe(nnkit.zeros(51, 1, 6))


def test_learned_positional_embedding_is_trained(rng):
    pe = nn.LearnedPositionalEmbedding(10, 4, batch_first=True)
    assert [n for n, _ in pe.named_parameters()] == ["weight"] and pe.weight.shape == (10, 4)
    assert abs(float(pe.weight.std()) - 0.02) < 0.01
    x = nnkit.tensor(rng.standard_normal((2, 3, 4)).astype(np.float32))
    (pe(x) * 2).sum().backward()
    grad = pe.weight.grad.numpy()
    assert (grad[:3] == 4).all() and (grad[3:] == 0).all()  # two sequences, factor 2, positions 0..2


# --- against PyTorch (skipped where torch is not installed) ------------------------------


def _compare_outputs_and_grads(ours_out, theirs_out, ours_leaves, theirs_leaves, ours_mod, theirs_mod, rng,
                               tol=1e-5):
    torch = pytest.importorskip("torch")
    np.testing.assert_allclose(ours_out.detach().numpy(), theirs_out.detach().numpy(), rtol=tol, atol=tol)
    up = rng.standard_normal(tuple(theirs_out.shape)).astype(np.float32)
    ours_out.backward(nnkit.tensor(up))
    theirs_out.backward(torch.tensor(up))
    for a, b in zip(ours_leaves, theirs_leaves):
        np.testing.assert_allclose(a.grad.numpy(), b.grad.numpy(), rtol=tol * 10, atol=tol * 10)
    if ours_mod is not None:
        theirs_params = dict(theirs_mod.named_parameters())
        for name, p in ours_mod.named_parameters():
            np.testing.assert_allclose(p.grad.numpy(), theirs_params[name].grad.numpy(), rtol=tol * 10, atol=tol * 10)


@pytest.mark.torch
@pytest.mark.parametrize("mask", ["none", "bool", "float", "causal", "fully masked row"])
def test_sdpa_matches_torch(mask, rng):
    torch = pytest.importorskip("torch")
    q, k, v = (a.astype(np.float32) for a in qkv(rng, length=4, source=4))
    kwargs_o, kwargs_t = {}, {}
    if mask == "causal":
        kwargs_o = kwargs_t = {"is_causal": True}
    elif mask != "none":
        m = rng.random((4, 4)) > 0.3 if mask != "float" else rng.standard_normal((4, 4)).astype(np.float32)
        if mask == "fully masked row":
            m[1] = False
        kwargs_o, kwargs_t = {"attn_mask": nnkit.tensor(m)}, {"attn_mask": torch.tensor(m)}
    ours = [nnkit.tensor(a, requires_grad=True) for a in (q, k, v)]
    theirs = [torch.tensor(a, requires_grad=True) for a in (q, k, v)]
    _compare_outputs_and_grads(F.scaled_dot_product_attention(*ours, **kwargs_o),
                               torch.nn.functional.scaled_dot_product_attention(*theirs, **kwargs_t),
                               ours, theirs, None, None, rng)


@pytest.mark.torch
@pytest.mark.parametrize("batch_first", [False, True])
@pytest.mark.parametrize("kind", ["self", "cross", "kdim", "masks"])
@pytest.mark.parametrize("direction", ["torch to nnkit", "nnkit to torch"])
def test_multihead_attention_matches_torch(batch_first, kind, direction, rng):
    torch = pytest.importorskip("torch")
    kdim = 5 if kind == "kdim" else None
    ours = nn.MultiheadAttention(8, 2, batch_first=batch_first, kdim=kdim, vdim=kdim)
    theirs = torch.nn.MultiheadAttention(8, 2, batch_first=batch_first, kdim=kdim, vdim=kdim)
    assert list(ours.state_dict()) == list(theirs.state_dict())
    if direction == "torch to nnkit":
        with torch.no_grad():  # non-zero biases, so that they are checked too
            theirs.in_proj_bias.normal_()
            theirs.out_proj.bias.normal_()
        ours.load_state_dict({k: v.numpy() for k, v in theirs.state_dict().items()})
    else:
        theirs.load_state_dict({k: torch.tensor(v.numpy()) for k, v in ours.state_dict().items()})
    shape_q = (2, 4, 8) if batch_first else (4, 2, 8)
    shape_k = (2, 3, kdim or 8) if batch_first else (3, 2, kdim or 8)
    q = rng.standard_normal(shape_q).astype(np.float32)
    k = q if kind in ("self", "masks") else rng.standard_normal(shape_k).astype(np.float32)
    qo, qt = nnkit.tensor(q, requires_grad=True), torch.tensor(q, requires_grad=True)
    ko, kt = (qo, qt) if k is q else (nnkit.tensor(k, requires_grad=True), torch.tensor(k, requires_grad=True))
    masks_o, masks_t = {}, {}
    if kind == "masks":
        padding = np.array([[False] * 4, [False, False, True, True]])
        blocked = np.triu(np.ones((4, 4), dtype=bool), 1)
        masks_o = {"key_padding_mask": nnkit.tensor(padding), "attn_mask": nnkit.tensor(blocked)}
        masks_t = {"key_padding_mask": torch.tensor(padding), "attn_mask": torch.tensor(blocked)}
    out_o, w_o = ours(qo, ko, ko, **masks_o)
    out_t, w_t = theirs(qt, kt, kt, **masks_t)
    np.testing.assert_allclose(w_o.detach().numpy(), w_t.detach().numpy(), rtol=1e-5, atol=1e-6)
    leaves_o, leaves_t = ([qo] if ko is qo else [qo, ko]), ([qt] if kt is qt else [qt, kt])
    _compare_outputs_and_grads(out_o, out_t, leaves_o, leaves_t, ours, theirs, rng)


@pytest.mark.torch
@pytest.mark.parametrize("norm_first", [False, True])
@pytest.mark.parametrize("activation", ["relu", "gelu"])
@pytest.mark.parametrize("direction", ["torch to nnkit", "nnkit to torch"])
def test_encoder_layer_matches_torch(norm_first, activation, direction, rng):
    torch = pytest.importorskip("torch")
    args = dict(d_model=8, nhead=2, dim_feedforward=16, dropout=0.0, activation=activation, norm_first=norm_first,
                batch_first=True)
    ours, theirs = nn.TransformerEncoderLayer(**args), torch.nn.TransformerEncoderLayer(**args)
    assert list(ours.state_dict()) == list(theirs.state_dict())
    if direction == "torch to nnkit":
        ours.load_state_dict({k: v.numpy() for k, v in theirs.state_dict().items()})
    else:
        theirs.load_state_dict({k: torch.tensor(v.numpy()) for k, v in ours.state_dict().items()})
    x = rng.standard_normal((2, 5, 8)).astype(np.float32)
    padding = np.array([[False] * 5, [False, False, False, True, True]])
    xo, xt = nnkit.tensor(x, requires_grad=True), torch.tensor(x, requires_grad=True)
    _compare_outputs_and_grads(ours(xo, src_key_padding_mask=nnkit.tensor(padding)),
                               theirs(xt, src_key_padding_mask=torch.tensor(padding)), [xo], [xt], ours, theirs, rng,
                               tol=1e-4)
