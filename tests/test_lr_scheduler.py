"""nnkit.optim.lr_scheduler: each schedule against its closed form, and against PyTorch.

The closed forms are the formulas of PyTorch's documentation; the recursive
updates that PyTorch (and so nnkit) uses must follow them. The tests marked
``torch`` compare whole sequences, learning rates and momenta, with PyTorch's.
"""

import math
import warnings

import pytest

import nnkit
import nnkit.io
from nnkit import optim
from nnkit.optim import lr_scheduler as S


def make_optimizer(cls=optim.SGD, lrs=(0.1, 0.05), **options):
    groups = [{"params": [nnkit.zeros(2, requires_grad=True)], "lr": lr} for lr in lrs]
    return cls(groups, **({"momentum": 0.9} if cls is optim.SGD else {}) | options)


def lrs_over(scheduler, epochs: int, metrics=None) -> list:
    """The learning rates of every group at each epoch, stepping as a training loop does."""
    out = []
    for epoch in range(epochs):
        scheduler.optimizer.step()
        out.append(list(scheduler.get_last_lr()))
        assert out[-1] == [g["lr"] for g in scheduler.optimizer.param_groups]
        if metrics:
            scheduler.step(metrics[epoch])
        else:
            scheduler.step()
    return out


def assert_sequences_close(got, expected, rel=1e-12):
    assert len(got) == len(expected)
    for epoch, (a, b) in enumerate(zip(got, expected)):
        assert a == pytest.approx(b, rel=rel, abs=1e-15), f"epoch {epoch}: {a} != {b}"


# --- closed forms ---------------------------------------------------------------

def test_step_lr():
    opt = make_optimizer()
    got = lrs_over(S.StepLR(opt, step_size=3, gamma=0.5), 10)
    assert_sequences_close(got, [[0.1 * 0.5 ** (e // 3), 0.05 * 0.5 ** (e // 3)] for e in range(10)])


def test_multistep_lr_applies_gamma_once_per_listed_milestone():
    opt = make_optimizer()
    got = lrs_over(S.MultiStepLR(opt, milestones=[2, 5, 5], gamma=0.1), 8)
    factors = [1, 1, 0.1, 0.1, 0.1, 0.001, 0.001, 0.001]
    assert_sequences_close(got, [[0.1 * f, 0.05 * f] for f in factors])


def test_exponential_lr():
    opt = make_optimizer()
    assert_sequences_close(lrs_over(S.ExponentialLR(opt, gamma=0.9), 12),
                           [[0.1 * 0.9 ** e, 0.05 * 0.9 ** e] for e in range(12)])


def test_cosine_annealing_follows_the_closed_form_down_and_back_up():
    opt = make_optimizer()
    T, eta_min = 10, 0.001
    got = lrs_over(S.CosineAnnealingLR(opt, T_max=T, eta_min=eta_min), 3 * T)
    expected = [[eta_min + (base - eta_min) * (1 + math.cos(math.pi * e / T)) / 2 for base in (0.1, 0.05)]
                for e in range(3 * T)]
    assert_sequences_close(got, expected, rel=1e-10)
    assert got[T] == pytest.approx([eta_min, eta_min], rel=1e-10)


def test_linear_lr_defaults_warm_up_from_a_third_over_five_epochs():
    opt = make_optimizer()
    got = lrs_over(S.LinearLR(opt), 8)
    factors = [1 / 3 + (2 / 3) * min(e, 5) / 5 for e in range(8)]
    assert_sequences_close(got, [[0.1 * f, 0.05 * f] for f in factors])


def test_lambda_lr_one_function_per_group():
    opt = make_optimizer()
    got = lrs_over(S.LambdaLR(opt, [lambda e: 0.5 ** e, lambda e: 1 / (e + 1)]), 5)
    assert_sequences_close(got, [[0.1 * 0.5 ** e, 0.05 / (e + 1)] for e in range(5)])


def test_sequential_warmup_then_cosine():
    opt = make_optimizer()
    warmup = S.LinearLR(opt, start_factor=0.1, total_iters=5)
    cosine = S.CosineAnnealingLR(opt, T_max=20)
    got = lrs_over(S.SequentialLR(opt, [warmup, cosine], milestones=[5]), 25)

    def closed(base, e):
        if e < 5:
            return base * (0.1 + 0.9 * e / 5)
        return base * (1 + math.cos(math.pi * (e - 5) / 20)) / 2
    assert_sequences_close(got, [[closed(0.1, e), closed(0.05, e)] for e in range(25)], rel=1e-10)


def test_one_cycle_lr_and_momentum_phases():
    opt = make_optimizer()
    total, max_lr = 20, 1.0
    sched = S.OneCycleLR(opt, max_lr=max_lr, total_steps=total)
    got, momenta = [], []
    for step in range(total):
        opt.step()
        got.append(sched.get_last_lr()[0])
        momenta.append(opt.param_groups[0]["momentum"])
        if step < total - 1:
            sched.step()
    peak = 0.3 * total - 1  # the step where the warm-up ends

    def cos_anneal(start, end, pct):
        return end + (start - end) / 2 * (1 + math.cos(math.pi * pct))
    expected = [cos_anneal(max_lr / 25, max_lr, s / peak) if s <= peak else
                cos_anneal(max_lr, max_lr / 25 / 1e4, (s - peak) / (total - 1 - peak)) for s in range(total)]
    assert got == pytest.approx(expected, rel=1e-12)
    assert momenta[0] == pytest.approx(0.95) and momenta[int(peak)] == pytest.approx(0.85)
    assert momenta[-1] == pytest.approx(0.95)
    sched.step()  # as in PyTorch, last_epoch may reach total_steps, but not pass it
    with pytest.raises(ValueError, match="total_steps=20"):
        sched.step()


def test_one_cycle_cycles_adams_beta1_and_supports_linear_three_phase():
    opt = make_optimizer(optim.Adam, lrs=(0.1,))
    sched = S.OneCycleLR(opt, max_lr=0.5, epochs=2, steps_per_epoch=5, three_phase=True,
                         anneal_strategy="linear", pct_start=0.4)
    got, betas = [], []
    for step in range(10):
        opt.step()
        got.append(sched.get_last_lr()[0])
        betas.append(opt.param_groups[0]["betas"])
        if step < 9:
            sched.step()
    # phases end at steps 3, 6 and 9: up to max_lr, back to initial_lr, down to min_lr
    lo, hi, end = 0.5 / 25, 0.5, 0.5 / 25 / 1e4
    expected = [lo + (hi - lo) * s / 3 for s in range(4)] + [hi + (lo - hi) * (s - 3) / 3 for s in range(4, 7)] \
        + [lo + (end - lo) * (s - 6) / 3 for s in range(7, 10)]
    assert got == pytest.approx(expected, rel=1e-12)
    assert [b[0] for b in betas[:4]] == pytest.approx([0.95, 0.95 - 0.1 / 3, 0.95 - 0.2 / 3, 0.85])
    assert all(b[1] == 0.999 for b in betas)


def test_reduce_lr_on_plateau_with_patience_cooldown_and_min_lr():
    opt = make_optimizer(lrs=(1.0, 0.1))
    sched = S.ReduceLROnPlateau(opt, factor=0.5, patience=1, cooldown=1, min_lr=[0.2, 0.06])
    metrics = [1.0, 0.9, 0.9, 0.9, 0.9, 0.9, 0.9, 0.5, 0.5, 0.5]
    seen = []
    for m in metrics:
        sched.step(m)
        seen.append(sched.get_last_lr())
    # a reduction after 2 bad epochs (patience 1), then one cooldown epoch; neither goes below its min_lr
    assert [s[0] for s in seen] == [1.0, 1.0, 1.0, 0.5, 0.5, 0.5, 0.25, 0.25, 0.25, 0.2]
    assert [s[1] for s in seen] == [0.1, 0.1, 0.1, 0.06, 0.06, 0.06, 0.06, 0.06, 0.06, 0.06]
    assert sched.best == 0.5


def test_reduce_lr_on_plateau_max_mode_and_thresholds():
    opt = make_optimizer(lrs=(1.0,))
    sched = S.ReduceLROnPlateau(opt, mode="max", patience=0, threshold=0.1, threshold_mode="abs")
    for m in (1.0, 1.05, 1.2):  # 1.05 is not better than 1.0 + 0.1: one bad epoch, and patience is 0
        sched.step(m)
    assert sched.get_last_lr() == [0.1]
    opt = make_optimizer(lrs=(1.0,))
    sched = S.ReduceLROnPlateau(opt, mode="min", patience=0, threshold=0.1)  # relative: must beat best * 0.9
    sched.step(1.0)
    sched.step(0.95)
    assert sched.get_last_lr() == [0.1]


# --- behaviour ------------------------------------------------------------------

def test_building_a_scheduler_records_initial_lr_and_base_lrs():
    opt = make_optimizer()
    sched = S.ExponentialLR(opt, gamma=0.5)
    assert sched.base_lrs == [0.1, 0.05] and sched.last_epoch == 0
    assert [g["initial_lr"] for g in opt.param_groups] == [0.1, 0.05]
    with pytest.raises(KeyError, match="initial_lr"):
        S.StepLR(make_optimizer(), step_size=2, last_epoch=3)


def test_stepping_the_scheduler_before_the_optimizer_warns():
    opt = make_optimizer()
    sched = S.StepLR(opt, step_size=2)
    with pytest.warns(UserWarning, match="before optimizer.step"):
        sched.step()
    opt = make_optimizer()
    sched = S.StepLR(opt, step_size=2)
    opt.step()
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        sched.step()


def test_step_with_an_epoch_jumps_there_by_the_closed_form():
    opt = make_optimizer()
    opt.step()
    sched = S.CosineAnnealingLR(opt, T_max=10)
    with pytest.warns(UserWarning, match="deprecated"):
        sched.step(5)
    assert sched.get_last_lr() == pytest.approx([0.05, 0.025])


@pytest.mark.parametrize("make,error,message", [
    (lambda o: S.LinearLR(o, start_factor=0), ValueError, "start_factor"),
    (lambda o: S.LinearLR(o, end_factor=1.5), ValueError, "end_factor"),
    (lambda o: S.OneCycleLR(o, max_lr=1.0), ValueError, "total_steps, or epochs and steps_per_epoch"),
    (lambda o: S.OneCycleLR(o, max_lr=1.0, total_steps=0), ValueError, "total_steps"),
    (lambda o: S.OneCycleLR(o, max_lr=1.0, total_steps=10, pct_start=1.5), ValueError, "pct_start"),
    (lambda o: S.OneCycleLR(o, max_lr=[1.0], total_steps=10), ValueError, "one value per parameter group"),
    (lambda o: S.OneCycleLR(o, max_lr=1.0, total_steps=10, anneal_strategy="exp"), ValueError, "anneal_strategy"),
    (lambda o: S.ReduceLROnPlateau(o, factor=1.0), ValueError, "factor"),
    (lambda o: S.ReduceLROnPlateau(o, mode="up"), ValueError, "mode"),
    (lambda o: S.SequentialLR(o, [S.StepLR(o, 2)], milestones=[3]), ValueError, "one milestone fewer"),
    (lambda o: S.SequentialLR(o, [S.StepLR(make_optimizer(), 2), S.StepLR(o, 2)], [3]), ValueError,
     "different optimizer"),
    (lambda o: S.LambdaLR(o, [lambda e: 1.0]), ValueError, "one value per parameter group"),
    (lambda o: S.StepLR("not an optimizer", 2), TypeError, "needs an nnkit.optim.Optimizer"),
])
def test_bad_arguments_are_clear_errors(make, error, message):
    with pytest.raises(error, match=message):
        make(make_optimizer())


def test_one_cycle_needs_momentum_to_cycle():
    opt = optim.Adagrad([nnkit.zeros(1, requires_grad=True)])
    with pytest.raises(ValueError, match="momentum or betas"):
        S.OneCycleLR(opt, max_lr=1.0, total_steps=10)
    S.OneCycleLR(opt, max_lr=1.0, total_steps=10, cycle_momentum=False)


def _resume(make, epochs, split, tmp_path, metrics=None):
    """The learning rates of a run straight through, and of one saved and resumed at ``split``."""
    opt = make_optimizer()
    straight = lrs_over(make(opt), epochs, metrics)
    opt = make_optimizer()
    sched = make(opt)
    first = lrs_over(sched, split, metrics)
    nnkit.io.save({"optimizer": opt.state_dict(), "scheduler": sched.state_dict()}, tmp_path / "ckpt")
    ckpt = nnkit.io.load(tmp_path / "ckpt")
    opt = make_optimizer()
    sched = make(opt)
    opt.load_state_dict(ckpt["optimizer"])
    sched.load_state_dict(ckpt["scheduler"])
    return straight, first + lrs_over(sched, epochs - split, metrics[split:] if metrics else None)


@pytest.mark.parametrize("make", [
    lambda o: S.MultiStepLR(o, [2, 4, 4, 7]),
    lambda o: S.CosineAnnealingLR(o, T_max=6, eta_min=0.01),
    lambda o: S.SequentialLR(o, [S.LinearLR(o, 0.2, total_iters=3), S.CosineAnnealingLR(o, 7)], [3]),
    lambda o: S.OneCycleLR(o, max_lr=[1.0, 0.5], total_steps=12),
], ids=["MultiStepLR", "CosineAnnealingLR", "SequentialLR", "OneCycleLR"])
def test_a_saved_schedule_resumes_where_it_stopped(make, tmp_path):
    straight, resumed = _resume(make, 12, 5, tmp_path)
    assert straight == resumed


def test_reduce_lr_on_plateau_resumes_with_its_best_and_counters(tmp_path):
    metrics = [1.0, 0.9, 0.9, 0.9, 0.95, 0.9, 0.9, 0.9, 0.8, 0.9, 0.9, 0.9]
    straight, resumed = _resume(lambda o: S.ReduceLROnPlateau(o, patience=1, cooldown=1), 12, 3, tmp_path,
                                metrics)
    assert straight == resumed and straight[-1] != straight[0]


def test_lambda_lr_state_dict_keeps_callable_objects_state():
    class Halving:
        def __init__(self):
            self.rate = 0.5

        def __call__(self, epoch):
            return self.rate ** epoch

    opt = make_optimizer()
    fn = Halving()
    sched = S.LambdaLR(opt, [fn, lambda e: 1.0])
    fn.rate = 0.25
    state = sched.state_dict()
    assert state["lr_lambdas"] == [{"rate": 0.25}, None]
    other = Halving()
    S.LambdaLR(make_optimizer(), [other, lambda e: 1.0]).load_state_dict(state)
    assert other.rate == 0.25


# --- against PyTorch -------------------------------------------------------------

def torch_pair(cls_name="SGD", **options):
    torch = pytest.importorskip("torch")
    ours = make_optimizer(getattr(optim, cls_name), **options)
    theirs = getattr(torch.optim, cls_name)(
        [{"params": [torch.zeros(2, requires_grad=True)], "lr": lr} for lr in (0.1, 0.05)],
        **({"momentum": 0.9} if cls_name == "SGD" else {}) | options)
    return ours, theirs, torch.optim.lr_scheduler


def _momenta(opt):
    return [g.get("momentum", g.get("betas")) for g in opt.param_groups]


TORCH_CASES = [
    ("StepLR", lambda m, o: m.StepLR(o, step_size=3, gamma=0.5), 20, None),
    ("MultiStepLR", lambda m, o: m.MultiStepLR(o, [2, 5, 5, 9], 0.5), 20, None),
    ("ExponentialLR", lambda m, o: m.ExponentialLR(o, 0.9), 20, None),
    ("CosineAnnealingLR", lambda m, o: m.CosineAnnealingLR(o, 7, 0.001), 40, None),
    ("LinearLR", lambda m, o: m.LinearLR(o), 10, None),
    ("LinearLR-down", lambda m, o: m.LinearLR(o, 1.0, 0.2, total_iters=4), 10, None),
    ("LambdaLR", lambda m, o: m.LambdaLR(o, [lambda e: 0.9 ** e, lambda e: 1 / (e + 1)]), 10, None),
    ("Sequential-warmup-cosine", lambda m, o: m.SequentialLR(
        o, [m.LinearLR(o, 0.1, total_iters=5), m.CosineAnnealingLR(o, T_max=15)], [5]), 30, None),
    ("Sequential-three", lambda m, o: m.SequentialLR(
        o, [m.ExponentialLR(o, 0.9), m.StepLR(o, 2), m.LinearLR(o, 0.5, total_iters=3)], [3, 8]), 20, None),
    ("OneCycleLR", lambda m, o: m.OneCycleLR(o, [1.0, 0.5], total_steps=30), 30, None),
    ("OneCycleLR-linear-three-phase", lambda m, o: m.OneCycleLR(
        o, 1.0, epochs=3, steps_per_epoch=7, three_phase=True, anneal_strategy="linear"), 21, None),
    ("ReduceLROnPlateau", lambda m, o: m.ReduceLROnPlateau(o, patience=1, cooldown=1, min_lr=[0.001, 0.004]),
     14, [1, 0.9, 0.95, 0.95, 0.95, 0.95, 0.8, 0.8, 0.8, 0.8, 0.8, 0.8, 0.8, 0.8]),
    ("ReduceLROnPlateau-max-abs", lambda m, o: m.ReduceLROnPlateau(o, "max", patience=0, threshold=0.1,
                                                                   threshold_mode="abs"),
     8, [1, 1.05, 1.2, 1.2, 1.5, 1.0, 1.0, 1.0]),
]


@pytest.mark.torch
@pytest.mark.parametrize("make,epochs,metrics", [c[1:] for c in TORCH_CASES], ids=[c[0] for c in TORCH_CASES])
def test_schedule_matches_torch(make, epochs, metrics):
    ours, theirs, torch_schedulers = torch_pair()
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        a, b = make(S, ours), make(torch_schedulers, theirs)
    for epoch in range(epochs):
        ours.step()
        theirs.step()
        assert a.get_last_lr() == pytest.approx(b.get_last_lr(), rel=1e-13), f"epoch {epoch}"
        assert _momenta(ours) == pytest.approx(_momenta(theirs), rel=1e-13)
        for sched in (a, b):
            if metrics:
                sched.step(metrics[epoch])
            else:
                sched.step()


@pytest.mark.torch
def test_one_cycle_cycles_adams_beta1_as_torch():
    ours, theirs, torch_schedulers = torch_pair("Adam")
    a = S.OneCycleLR(ours, max_lr=0.01, total_steps=15, pct_start=0.25)
    b = torch_schedulers.OneCycleLR(theirs, max_lr=0.01, total_steps=15, pct_start=0.25)
    for _ in range(14):
        ours.step()
        theirs.step()
        a.step()
        b.step()
        assert a.get_last_lr() == pytest.approx(b.get_last_lr(), rel=1e-13)
        for g, h in zip(ours.param_groups, theirs.param_groups):
            assert g["betas"] == pytest.approx(h["betas"], rel=1e-13)
