"""nnkit.optim without PyTorch: hand-computed updates, NumPy references, mechanics and state dicts.

The NumPy references below transcribe each algorithm as PyTorch documents it,
in float64 and without in-place tricks; the optimizers must agree with them
step after step. ``test_optim_torch.py`` checks the same against PyTorch itself.
"""

import copy
import doctest
import importlib
import warnings

import numpy as np
import pytest

import nnkit
import nnkit.io
from nnkit import optim


def leaf(values, dtype=np.float64):
    return nnkit.tensor(np.asarray(values, dtype=dtype), requires_grad=True)


def set_grads(params, grads):
    for p, g in zip(params, grads):
        p.grad = nnkit.tensor(g)


# --- hand-computed steps ---------------------------------------------------------

def test_sgd_momentum_nesterov_weight_decay_two_steps_on_a_quadratic():
    # f(w) = 0.5 * sum(a * w^2), so df/dw = a * w.
    a = np.array([1.0, 3.0])
    w = leaf([1.0, -2.0])
    lr, mu, wd = 0.1, 0.9, 0.01
    opt = optim.SGD([w], lr=lr, momentum=mu, weight_decay=wd, nesterov=True)
    expected = np.array([1.0, -2.0])
    buf = None
    for _ in range(2):
        opt.zero_grad()
        (0.5 * (nnkit.tensor(a) * w * w).sum()).backward()
        opt.step()
        g = a * expected + wd * expected
        buf = g if buf is None else mu * buf + g
        expected = expected - lr * (g + mu * buf)
    # by hand: g1 = [1.01, -6.02], w1 = [0.8081, -0.8562]; g2 = [0.816181, -2.577162]
    np.testing.assert_allclose(w.detach().numpy(), expected, rtol=1e-14)
    np.testing.assert_allclose(expected, [0.8081 - 0.1 * (0.816181 + 0.9 * (0.9 * 1.01 + 0.816181)),
                                          -0.8562 - 0.1 * (-2.577162 + 0.9 * (0.9 * -6.02 - 2.577162))], rtol=1e-14)


def test_sgd_plain_step_is_lr_times_gradient():
    w = leaf([1.0, -2.0], np.float32)
    opt = optim.SGD([w], lr=0.1)
    (w * w).sum().backward()
    opt.step()
    np.testing.assert_allclose(w.detach().numpy(), [0.8, -1.6], rtol=1e-7)


def test_sgd_dampening_scales_all_but_the_first_gradient():
    w = leaf([0.0])
    opt = optim.SGD([w], lr=1.0, momentum=0.5, dampening=0.5)
    for g in ([1.0], [1.0]):
        w.grad = nnkit.tensor(np.array(g))
        opt.step()
    # buffer: 1, then 0.5 * 1 + 0.5 * 1 = 1; total step 2
    np.testing.assert_allclose(w.detach().numpy(), [-2.0])


def test_adam_first_step_is_lr_times_sign_of_gradient():
    g = np.array([3.0, -1e-3, 250.0, -7.0])
    w = leaf(np.zeros(4))
    opt = optim.Adam([w], lr=0.01, eps=0.0)
    w.grad = nnkit.tensor(g)
    opt.step()
    np.testing.assert_allclose(w.detach().numpy(), -0.01 * np.sign(g), rtol=1e-15)


def test_adam_bias_correction_makes_a_constant_gradient_step_lr_every_time():
    w = leaf([0.0, 0.0])
    opt = optim.Adam([w], lr=0.5, eps=0.0)
    for step in range(1, 6):
        w.grad = nnkit.tensor(np.array([2.0, -4.0]))
        opt.step()
        np.testing.assert_allclose(w.detach().numpy(), [-0.5 * step, 0.5 * step], rtol=1e-13)
    assert float(opt.state[w]["step"]) == 5.0


def test_rmsprop_first_step_is_lr_sign_over_sqrt_one_minus_alpha():
    w = leaf([0.0, 0.0])
    opt = optim.RMSprop([w], lr=0.01, alpha=0.99, eps=0.0)
    w.grad = nnkit.tensor(np.array([5.0, -0.2]))
    opt.step()
    np.testing.assert_allclose(w.detach().numpy(), [-0.1, 0.1], rtol=1e-13)


def test_adagrad_first_steps_and_lr_decay():
    w = leaf([0.0])
    opt = optim.Adagrad([w], lr=0.1, lr_decay=0.5, eps=0.0)
    w.grad = nnkit.tensor(np.array([2.0]))
    opt.step()
    np.testing.assert_allclose(w.detach().numpy(), [-0.1])  # 0.1 * 2 / sqrt(4)
    w.grad = nnkit.tensor(np.array([2.0]))
    opt.step()
    np.testing.assert_allclose(w.detach().numpy(), [-0.1 - 0.1 / 1.5 * 2 / np.sqrt(8)], rtol=1e-14)


def test_adagrad_initial_accumulator_value():
    w = leaf([0.0])
    opt = optim.Adagrad([w], lr=1.0, initial_accumulator_value=5.0, eps=0.0)
    w.grad = nnkit.tensor(np.array([2.0]))
    opt.step()
    np.testing.assert_allclose(w.detach().numpy(), [-2.0 / 3.0], rtol=1e-14)  # sqrt(5 + 4) = 3


def test_adadelta_first_step():
    w = leaf([0.0])
    opt = optim.Adadelta([w], lr=1.0, rho=0.9, eps=1e-6)
    w.grad = nnkit.tensor(np.array([2.0]))
    opt.step()
    # v = 0.1 * 4; delta = sqrt(0 + eps) / sqrt(v + eps) * g
    np.testing.assert_allclose(w.detach().numpy(), [-np.sqrt(1e-6) / np.sqrt(0.4 + 1e-6) * 2.0], rtol=1e-14)


def test_adamw_decays_the_weights_directly():
    w = leaf([10.0])
    opt = optim.AdamW([w], lr=0.1, weight_decay=0.5, eps=0.0)
    w.grad = nnkit.tensor(np.array([1.0]))
    opt.step()
    np.testing.assert_allclose(w.detach().numpy(), [10.0 * (1 - 0.1 * 0.5) - 0.1], rtol=1e-14)
    assert optim.AdamW([leaf([0.0])]).defaults["weight_decay"] == 1e-2


# --- NumPy references, every option, many steps -------------------------------

def reference(name, params, grads_per_step, **o):
    """The algorithms as PyTorch's documentation writes them, one parameter at a time, float64."""
    params = [p.astype(np.float64).copy() for p in params]
    state = [{} for _ in params]
    for step, grads in enumerate(grads_per_step, start=1):
        for i, (p, g) in enumerate(zip(params, grads)):
            s = state[i]
            g = -g if o.get("maximize") else g
            wd = o.get("weight_decay", 0)
            if name == "AdamW" or o.get("decoupled_weight_decay"):
                p = p * (1 - o["lr"] * wd)
            elif wd:
                g = g + wd * p
            if name == "SGD":
                mu, tau = o.get("momentum", 0), o.get("dampening", 0)
                if mu:
                    s["b"] = g if "b" not in s else mu * s["b"] + (1 - tau) * g
                    g = g + mu * s["b"] if o.get("nesterov") else s["b"]
                p = p - o["lr"] * g
            elif name in ("Adam", "AdamW"):
                b1, b2 = o.get("betas", (0.9, 0.999))
                s["m"] = b1 * s.get("m", 0) + (1 - b1) * g
                s["v"] = b2 * s.get("v", 0) + (1 - b2) * g * g
                v = s["v"]
                if o.get("amsgrad"):
                    v = s["vmax"] = np.maximum(s.get("vmax", 0), s["v"])
                m_hat, v_hat = s["m"] / (1 - b1 ** step), v / (1 - b2 ** step)
                p = p - o["lr"] * m_hat / (np.sqrt(v_hat) + o.get("eps", 1e-8))
            elif name == "RMSprop":
                alpha, eps, mu = o.get("alpha", 0.99), o.get("eps", 1e-8), o.get("momentum", 0)
                s["v"] = alpha * s.get("v", 0) + (1 - alpha) * g * g
                v = s["v"]
                if o.get("centered"):
                    s["ga"] = alpha * s.get("ga", 0) + (1 - alpha) * g
                    v = v - s["ga"] ** 2
                if mu:
                    s["b"] = mu * s.get("b", 0) + g / (np.sqrt(v) + eps)
                    p = p - o["lr"] * s["b"]
                else:
                    p = p - o["lr"] * g / (np.sqrt(v) + eps)
            elif name == "Adagrad":
                s["sum"] = s.get("sum", o.get("initial_accumulator_value", 0)) + g * g
                clr = o["lr"] / (1 + (step - 1) * o.get("lr_decay", 0))
                p = p - clr * g / (np.sqrt(s["sum"]) + o.get("eps", 1e-10))
            elif name == "Adadelta":
                rho, eps = o.get("rho", 0.9), o.get("eps", 1e-6)
                s["v"] = rho * s.get("v", 0) + (1 - rho) * g * g
                delta = np.sqrt(s.get("u", 0) + eps) / np.sqrt(s["v"] + eps) * g
                s["u"] = rho * s.get("u", 0) + (1 - rho) * delta * delta
                p = p - o.get("lr", 1.0) * delta
            params[i] = p
    return params


def combos(**choices):
    keys = list(choices)
    out = [{}]
    for k in keys:
        out = [{**c, k: v} for c in out for v in choices[k]]
    return out


CASES = (
    [("SGD", dict(lr=0.1, **c)) for c in combos(momentum=[0, 0.9], dampening=[0, 0.3], weight_decay=[0, 0.1],
                                                  nesterov=[False, True], maximize=[False, True])
     if not (c["nesterov"] and (c["momentum"] == 0 or c["dampening"] != 0))]
    + [("Adam", dict(lr=0.01, **c)) for c in combos(weight_decay=[0, 0.1], amsgrad=[False, True],
                                                      maximize=[False, True], betas=[(0.9, 0.999), (0.3, 0.5)],
                                                      decoupled_weight_decay=[False, True])]
    + [("AdamW", dict(lr=0.01, **c)) for c in combos(weight_decay=[0.01, 0.2], amsgrad=[False, True],
                                                       maximize=[False, True])]
    + [("RMSprop", dict(lr=0.01, **c)) for c in combos(momentum=[0, 0.9], centered=[False, True],
                                                         weight_decay=[0, 0.1], maximize=[False, True])]
    + [("Adagrad", dict(lr=0.1, **c)) for c in combos(lr_decay=[0, 0.01], weight_decay=[0, 0.1],
                                                        initial_accumulator_value=[0, 0.5], maximize=[False, True])]
    + [("Adadelta", dict(**c)) for c in combos(lr=[1.0, 0.5], rho=[0.9, 0.5], weight_decay=[0, 0.1],
                                                 maximize=[False, True])]
)


def _case_id(case):
    name, o = case
    return name + "-" + ",".join(f"{k}={v}" for k, v in o.items() if k != "lr")


@pytest.mark.parametrize("name,options", CASES, ids=[_case_id(c) for c in CASES])
def test_optimizer_matches_numpy_reference_for_twenty_steps(name, options, rng):
    shapes = [(4, 3), (5,), ()]
    init = [rng.standard_normal(s) for s in shapes]
    grads = [[rng.standard_normal(s) for s in shapes] for _ in range(20)]
    params = [leaf(a) for a in init]
    opt = getattr(optim, name)(params, **options)
    for g in grads:
        set_grads(params, g)
        opt.step()
    for ours, ref in zip(params, reference(name, init, grads, **options)):
        np.testing.assert_allclose(ours.detach().numpy(), ref, rtol=1e-10, atol=1e-12)


# --- mechanics --------------------------------------------------------------------

ALL = [optim.SGD, optim.Adam, optim.AdamW, optim.RMSprop, optim.Adagrad, optim.Adadelta]


@pytest.mark.parametrize("cls", ALL)
def test_step_updates_the_parameter_array_in_place_and_keeps_dtype(cls):
    for dtype in (np.float32, np.float64):
        w = leaf([1.0, 2.0], dtype)
        array = w.array
        opt = cls([w], lr=0.1)
        w.grad = nnkit.tensor(np.array([0.5, -0.5], dtype=dtype))
        opt.step()
        assert w.array is array and w.dtype == dtype
        assert not np.allclose(array, [1.0, 2.0])
        assert all(v.dtype in (dtype, np.float32) for v in opt.state[w].values() if isinstance(v, nnkit.Tensor))


@pytest.mark.parametrize("cls", ALL)
def test_parameters_without_grad_are_skipped(cls):
    a, b = leaf([1.0]), leaf([2.0])
    opt = cls([a, b], lr=0.1)
    a.grad = nnkit.tensor(np.array([1.0]))
    opt.step()
    assert b.item() == 2.0 and b not in opt.state and a.item() != 1.0


def test_state_of_a_scalar_parameter_is_updated_in_place():
    w = leaf(1.0)
    opt = optim.SGD([w], lr=0.1, momentum=0.9, weight_decay=0.1)
    for _ in range(3):
        w.grad = nnkit.tensor(np.array(1.0))
        opt.step()
    # buffer: d = 1 + 0.1 w each step
    expected, buf = 1.0, None
    for _ in range(3):
        d = 1.0 + 0.1 * expected
        buf = d if buf is None else 0.9 * buf + d
        expected -= 0.1 * buf
    assert w.item() == pytest.approx(expected, rel=1e-14)
    assert float(opt.state[w]["momentum_buffer"]) == pytest.approx(buf, rel=1e-14)


def test_param_groups_have_their_own_options():
    a, b = leaf([1.0]), leaf([1.0])
    opt = optim.SGD([{"params": [a]}, {"params": b, "lr": 0.5}], lr=0.1, momentum=0.0)
    assert [g["lr"] for g in opt.param_groups] == [0.1, 0.5]
    assert opt.param_groups[1]["params"] == [b] and opt.param_groups[1]["momentum"] == 0.0
    a.grad = nnkit.tensor(np.array([1.0]))
    b.grad = nnkit.tensor(np.array([1.0]))
    opt.step()
    np.testing.assert_allclose([a.item(), b.item()], [0.9, 0.5])


def test_changing_lr_in_param_groups_takes_effect():
    w = leaf([0.0])
    opt = optim.SGD([w], lr=0.1)
    opt.param_groups[0]["lr"] = 2.0
    w.grad = nnkit.tensor(np.array([1.0]))
    opt.step()
    assert w.item() == -2.0


def test_add_param_group_fills_defaults_and_trains_the_new_params():
    a, b = leaf([1.0]), leaf([1.0])
    opt = optim.Adam([a], lr=0.1)
    opt.add_param_group({"params": [b], "lr": 0.2})
    group = opt.param_groups[1]
    assert group["betas"] == (0.9, 0.999) and group["lr"] == 0.2 and group["eps"] == 1e-8
    b.grad = nnkit.tensor(np.array([3.0]))
    opt.step()
    assert b.item() == pytest.approx(0.8, rel=1e-6)


def test_named_parameters_are_accepted_and_their_names_kept():
    a, b = leaf([1.0]), leaf([2.0])
    opt = optim.SGD([("w", a), ("b", b)], lr=0.1)
    assert opt.param_groups[0]["params"] == [a, b]
    assert opt.param_groups[0]["param_names"] == ["w", "b"]
    assert opt.state_dict()["param_groups"][0]["param_names"] == ["w", "b"]


@pytest.mark.parametrize("params,error,message", [
    ([], ValueError, "empty parameter list"),
    ({leaf([1.0])}, TypeError, "not a set"),
    ([np.zeros(2)], TypeError, "can only optimize Tensors"),
])
def test_bad_parameter_lists_are_refused(params, error, message):
    with pytest.raises(error, match=message):
        optim.SGD(params, lr=0.1)


def test_a_single_tensor_non_leaves_and_repeats_are_refused():
    w = leaf([1.0])
    with pytest.raises(TypeError, match="single Tensor"):
        optim.SGD(w)
    with pytest.raises(ValueError, match="non-leaf"):
        optim.SGD([w * 2])
    with pytest.raises(ValueError, match="more than once"):
        optim.SGD([w, w])
    opt = optim.SGD([w])
    with pytest.raises(ValueError, match="more than one parameter group"):
        opt.add_param_group({"params": [w]})


@pytest.mark.parametrize("make,message", [
    (lambda p: optim.SGD(p, lr=-0.1), "lr=-0.1"),
    (lambda p: optim.SGD(p, momentum=-1), "momentum=-1"),
    (lambda p: optim.SGD(p, weight_decay=-1e-4), "weight_decay=-0.0001"),
    (lambda p: optim.SGD(p, nesterov=True), "nesterov=True requires momentum > 0"),
    (lambda p: optim.SGD(p, momentum=0.9, dampening=0.1, nesterov=True), "dampening = 0"),
    (lambda p: optim.Adam(p, lr=float("nan")), "lr=nan"),
    (lambda p: optim.Adam(p, betas=(1.0, 0.999)), r"betas\[0\]=1.0"),
    (lambda p: optim.AdamW(p, betas=(0.9, -0.1)), r"betas\[1\]=-0.1"),
    (lambda p: optim.Adam(p, eps=-1.0), "eps=-1.0"),
    (lambda p: optim.RMSprop(p, alpha=-0.5), "alpha=-0.5"),
    (lambda p: optim.Adagrad(p, lr_decay=-1), "lr_decay=-1"),
    (lambda p: optim.Adagrad(p, initial_accumulator_value=-1), "initial_accumulator_value=-1"),
    (lambda p: optim.Adadelta(p, rho=1.5), "rho=1.5"),
])
def test_invalid_hyperparameters_raise_value_error_naming_them(make, message):
    with pytest.raises(ValueError, match=message):
        make([leaf([1.0])])


@pytest.mark.parametrize("make,option", [
    (lambda p: optim.SGD(p, foreach=True), "foreach"),
    (lambda p: optim.SGD(p, fused=True), "fused"),
    (lambda p: optim.Adam(p, capturable=True), "capturable"),
    (lambda p: optim.AdamW(p, differentiable=True), "differentiable"),
    (lambda p: optim.RMSprop(p, foreach=True), "foreach"),
    (lambda p: optim.Adagrad(p, fused=True), "fused"),
    (lambda p: optim.Adadelta(p, capturable=True), "capturable"),
])
def test_unsupported_pytorch_switches_raise_not_implemented_only_when_on(make, option):
    with pytest.raises(NotImplementedError, match=option):
        make([leaf([1.0])])


def test_unsupported_switches_at_their_defaults_are_accepted():
    p = [leaf([1.0])]
    optim.SGD(p, foreach=None, differentiable=False, fused=None)
    optim.Adam(p, foreach=False, capturable=False, differentiable=False, fused=False)
    optim.RMSprop(p, capturable=False, foreach=None, differentiable=False)


def test_zero_grad_sets_none_by_default_or_zeros_in_place():
    w = leaf([1.0, 2.0])
    opt = optim.SGD([w], lr=0.1)
    (w * w).sum().backward()
    grad = w.grad
    opt.zero_grad(set_to_none=False)
    assert w.grad is grad and w.grad.tolist() == [0.0, 0.0]
    opt.zero_grad()
    assert w.grad is None


def test_step_with_closure_recomputes_the_loss_and_returns_it():
    w = leaf([3.0])
    opt = optim.SGD([w], lr=0.25)
    calls = []

    def closure():
        opt.zero_grad()
        loss = (w * w).sum()
        loss.backward()
        calls.append(nnkit.is_grad_enabled())
        return loss

    with nnkit.no_grad():  # the closure still records its graph
        loss = opt.step(closure)
    assert loss.item() == 9.0 and calls == [True]
    assert w.item() == 3.0 - 0.25 * 6.0


def test_a_gradient_of_the_wrong_shape_is_a_clear_error():
    w = leaf([1.0, 2.0])
    opt = optim.SGD([w])
    w.grad = nnkit.tensor(np.ones(3))
    with pytest.raises(RuntimeError, match=r"shape \(2,\) has a gradient of shape \(3,\)"):
        opt.step()


def test_repr_lists_each_group_and_its_options():
    opt = optim.SGD([{"params": [leaf([1.0])]}, {"params": [leaf([1.0])], "lr": 0.5}], lr=0.1, momentum=0.9)
    text = repr(opt)
    assert text.startswith("SGD (\nParameter Group 0\n") and "Parameter Group 1\n    dampening: 0\n    lr: 0.5" in text
    assert "    momentum: 0.9\n" in text and text.endswith(")")


# --- state dicts ------------------------------------------------------------------

def test_state_dict_has_pytorchs_layout():
    a, b, c = leaf([1.0, 2.0]), leaf([3.0]), leaf([4.0])
    opt = optim.Adam([{"params": [a, b]}, {"params": [c], "lr": 0.5}], lr=0.1)
    a.grad = nnkit.tensor(np.array([1.0, 1.0]))
    c.grad = nnkit.tensor(np.array([1.0]))
    opt.step()
    sd = opt.state_dict()
    assert set(sd) == {"state", "param_groups"}
    assert sorted(sd["state"]) == [0, 2]  # b never had a gradient
    assert set(sd["state"][0]) == {"step", "exp_avg", "exp_avg_sq"}
    assert sd["state"][0]["step"].dtype == np.float32 and float(sd["state"][0]["step"]) == 1.0
    assert sd["state"][0]["exp_avg"] is opt.state[a]["exp_avg"]
    assert [g["params"] for g in sd["param_groups"]] == [[0, 1], [2]]
    assert sd["param_groups"][1] == {"lr": 0.5, "betas": (0.9, 0.999), "eps": 1e-8, "weight_decay": 0,
                                     "amsgrad": False, "maximize": False, "decoupled_weight_decay": False,
                                     "params": [2]}


def test_sgd_without_momentum_has_no_state():
    w = leaf([1.0])
    opt = optim.SGD([w], lr=0.1)
    w.grad = nnkit.tensor(np.array([1.0]))
    opt.step()
    assert opt.state_dict()["state"] == {}


SETTINGS = [
    (optim.SGD, dict(lr=0.1, momentum=0.9, nesterov=True, weight_decay=0.01)),
    (optim.Adam, dict(lr=0.05, amsgrad=True)),
    (optim.AdamW, dict(lr=0.05)),
    (optim.RMSprop, dict(lr=0.01, momentum=0.5, centered=True)),
    (optim.Adagrad, dict(lr=0.1, lr_decay=0.01, initial_accumulator_value=0.1)),
    (optim.Adadelta, dict(lr=1.0)),
]


@pytest.mark.parametrize("cls,options", SETTINGS, ids=[c.__name__ for c, _ in SETTINGS])
def test_resuming_from_a_saved_state_dict_continues_bit_for_bit(cls, options, rng, tmp_path):
    init = [rng.standard_normal((3, 2)).astype(np.float32), rng.standard_normal(4).astype(np.float32)]
    grads = [[rng.standard_normal(a.shape).astype(np.float32) for a in init] for _ in range(10)]

    def train(params, opt, steps):
        for g in steps:
            set_grads(params, g)
            opt.step()

    straight = [leaf(a, np.float32) for a in init]
    opt = cls([{"params": [straight[0]]}, {"params": [straight[1]], "lr": 0.02}], **options)
    train(straight, opt, grads)

    first = [leaf(a, np.float32) for a in init]
    opt = cls([{"params": [first[0]]}, {"params": [first[1]], "lr": 0.02}], **options)
    train(first, opt, grads[:6])
    nnkit.io.save({"params": [p.detach() for p in first], "optimizer": opt.state_dict()}, tmp_path / "ckpt")
    del opt

    ckpt = nnkit.io.load(tmp_path / "ckpt")
    resumed = [leaf(p.numpy(), np.float32) for p in ckpt["params"]]
    opt = cls([{"params": [resumed[0]]}, {"params": [resumed[1]], "lr": 0.7}], **options)
    opt.load_state_dict(ckpt["optimizer"])
    assert opt.param_groups[1]["lr"] == 0.02  # the saved options win
    train(resumed, opt, grads[6:])
    for a, b in zip(straight, resumed):
        np.testing.assert_array_equal(a.detach().numpy(), b.detach().numpy())


@pytest.mark.gpu
@pytest.mark.parametrize("cls,options", SETTINGS, ids=[c.__name__ for c, _ in SETTINGS])
def test_updates_on_the_gpu_match_the_cpu(cls, options, rng):
    init = rng.standard_normal((3, 4)).astype(np.float32)
    grads = [rng.standard_normal((3, 4)).astype(np.float32) for _ in range(5)]
    on_cpu, on_gpu = nnkit.tensor(init, requires_grad=True), nnkit.tensor(init, device="cuda", requires_grad=True)
    opt_cpu, opt_gpu = cls([on_cpu], **options), cls([on_gpu], **options)
    for g in grads:
        on_cpu.grad, on_gpu.grad = nnkit.tensor(g), nnkit.tensor(g, device="cuda")
        opt_cpu.step()
        opt_gpu.step()
    buffers = [v for k, v in opt_gpu.state[on_gpu].items() if k != "step"]
    assert on_gpu.device == "cuda" and buffers and all(b.device == "cuda" for b in buffers)
    np.testing.assert_allclose(on_gpu.detach().cpu().numpy(), on_cpu.detach().numpy(), rtol=1e-5, atol=1e-6)


def test_load_state_dict_copies_the_state():
    a, b = leaf([1.0]), leaf([1.0])
    opt_a = optim.SGD([a], lr=0.1, momentum=0.9)
    a.grad = nnkit.tensor(np.array([1.0]))
    opt_a.step()
    sd = opt_a.state_dict()
    opt_b = optim.SGD([b], lr=0.1, momentum=0.9)
    opt_b.load_state_dict(sd)
    assert opt_b.state[b]["momentum_buffer"] is not opt_a.state[a]["momentum_buffer"]
    b.grad = nnkit.tensor(np.array([1.0]))
    opt_b.step()
    assert float(opt_a.state[a]["momentum_buffer"]) == 1.0
    assert float(opt_b.state[b]["momentum_buffer"]) == pytest.approx(1.9)


def test_load_state_dict_casts_state_to_the_parameter_dtype():
    a = leaf([1.0, 2.0], np.float64)
    opt = optim.Adam([a])
    a.grad = nnkit.tensor(np.array([1.0, 1.0]))
    opt.step()
    b = leaf([1.0, 2.0], np.float32)
    opt_b = optim.Adam([b])
    opt_b.load_state_dict(opt.state_dict())
    assert opt_b.state[b]["exp_avg"].dtype == np.float32 and opt_b.state[b]["step"].dtype == np.float32


def test_load_state_dict_errors_name_what_does_not_fit():
    a, b = leaf([1.0, 2.0]), leaf([1.0])
    opt = optim.Adam([a, b])
    a.grad = nnkit.tensor(np.array([1.0, 1.0]))
    opt.step()
    sd = opt.state_dict()
    with pytest.raises(ValueError, match="2 parameter groups, but the optimizer has 1"):
        optim.Adam([a, b]).load_state_dict({**sd, "param_groups": sd["param_groups"] * 2})
    with pytest.raises(ValueError, match="parameter group 0 has 2 parameters in the state dict, but 1"):
        optim.Adam([a]).load_state_dict(sd)
    with pytest.raises(ValueError, match=r"state 'exp_avg' of parameter 0 has shape \(2,\), but the parameter "
                                         r"has shape \(1,\)"):
        optim.Adam([b, a]).load_state_dict(sd)
    with pytest.raises(ValueError, match=r"lacks the options \['dampening', 'momentum', 'nesterov'\]"):
        optim.SGD([a, b], momentum=0.9).load_state_dict(sd)
    with pytest.raises(ValueError, match="'state' and 'param_groups'"):
        optim.Adam([a, b]).load_state_dict({"state": {}})


def test_deepcopy_of_a_state_dict_is_a_snapshot():
    w = leaf([1.0])
    opt = optim.Adam([w], lr=0.1)
    w.grad = nnkit.tensor(np.array([1.0]))
    opt.step()
    snapshot = copy.deepcopy(opt.state_dict())
    opt.step()
    assert float(snapshot["state"][0]["step"]) == 1.0 and float(opt.state[w]["step"]) == 2.0


def test_training_a_small_model_reduces_the_loss():
    nn = pytest.importorskip("nnkit.nn")
    nnkit.manual_seed(0)
    x = nnkit.randn(64, 3)
    y = x @ nnkit.tensor([[1.0], [-2.0], [0.5]]) + 0.3
    for cls, options in SETTINGS:
        if cls is optim.Adadelta:  # its steps start near sqrt(eps): it needs a large lr to move in 60 steps
            options = {**options, "lr": 10.0}
        model = nn.Linear(3, 1)
        opt = cls(model.parameters(), **options)
        with warnings.catch_warnings():
            warnings.simplefilter("error")
            losses = []
            for _ in range(60):
                opt.zero_grad()
                loss = ((model(x) - y) ** 2).mean()
                loss.backward()
                opt.step()
                losses.append(loss.item())
        assert losses[-1] < 0.5 * losses[0], cls.__name__


@pytest.mark.parametrize("module", ["nnkit.optim", "nnkit.optim.sgd", "nnkit.optim.lr_scheduler", "nnkit.io"])
def test_docstring_examples_run(module):
    result = doctest.testmod(importlib.import_module(module), verbose=False)
    assert result.failed == 0 and result.attempted > 0
