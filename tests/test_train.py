"""nnkit.train: fit and evaluate, the History they keep, early stopping, schedulers, the bar and the live plot."""

import doctest
import subprocess
import sys

import matplotlib

matplotlib.use("Agg")

import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402
import pytest  # noqa: E402

import nnkit  # noqa: E402
from nnkit import nn, optim  # noqa: E402
from nnkit.data import DataLoader, TensorDataset  # noqa: E402
from nnkit.metrics import accuracy  # noqa: E402
from nnkit.train import EarlyStopping, History, evaluate, fit  # noqa: E402


@pytest.fixture(autouse=True)
def close_figures():
    yield
    plt.close("all")


def blobs(n, seed, flip=False):
    """Two Gaussian blobs around (-2, -2) and (2, 2): linearly separable. ``flip`` swaps the labels."""
    rng = np.random.default_rng(seed)
    y = rng.integers(0, 2, n)
    x = (rng.standard_normal((n, 2)) * 0.7 + np.where(y[:, None] == 1, 2.0, -2.0)).astype(np.float32)
    return TensorDataset(x, 1 - y if flip else y)


def linear_model(seed=0):
    nnkit.manual_seed(seed)
    return nn.Linear(2, 2)


def params(model):
    return {k: v.numpy().copy() for k, v in model.state_dict().items()}


def test_fit_learns_a_linearly_separable_problem():
    model = linear_model()
    train = DataLoader(blobs(400, 0), batch_size=32, shuffle=True, generator=nnkit.Generator().manual_seed(0))
    val = DataLoader(blobs(200, 1), batch_size=100)
    history = fit(model, train, optim.SGD(model.parameters(), lr=0.1), nn.CrossEntropyLoss(), epochs=5,
                  val_loader=val, metrics={"acc": accuracy}, progress=False)
    assert isinstance(history, History)
    assert list(history) == ["train_loss", "train_acc", "val_loss", "val_acc", "lr"]
    assert all(len(v) == 5 for v in history.values()) and history["lr"] == [0.1] * 5
    assert history["val_acc"][-1] >= 0.98 and history["train_loss"][-1] < history["train_loss"][0] / 2
    assert history.best_epoch == int(np.argmin(history["val_loss"]))


def test_the_recorded_losses_are_the_epoch_means_of_the_batch_losses():
    model = linear_model()
    loader = DataLoader(blobs(10, 0), batch_size=4)  # batches of 4, 4, 2: a plain mean of batch means is wrong
    x, y = loader.dataset.tensors
    loss_fn = nn.CrossEntropyLoss()
    with nnkit.no_grad():
        before = loss_fn(model(x), y).item()
    history = fit(model, loader, optim.SGD(model.parameters(), lr=0.0), loss_fn, epochs=1,
                  val_loader=loader, progress=False)
    assert history["train_loss"][0] == pytest.approx(before, rel=1e-6)
    assert history["val_loss"][0] == pytest.approx(before, rel=1e-6)


def test_early_stopping_stops_and_restores_the_best_weights():
    # The validation labels are the training labels flipped: the better the fit, the worse validation gets,
    # so the best epoch is the first one.
    train, val = DataLoader(blobs(200, 0), batch_size=50), DataLoader(blobs(200, 0, flip=True), batch_size=200)
    model = linear_model()
    history = fit(model, train, optim.SGD(model.parameters(), lr=0.5), nn.CrossEntropyLoss(), epochs=30,
                  val_loader=val, early_stopping=EarlyStopping(patience=2), progress=False)
    assert len(history["val_loss"]) == 3 and history.best_epoch == 0
    assert history["val_loss"][0] < history["val_loss"][1] < history["val_loss"][2]
    after_one_epoch = linear_model()
    fit(after_one_epoch, train, optim.SGD(after_one_epoch.parameters(), lr=0.5), nn.CrossEntropyLoss(), epochs=1,
        progress=False)
    for name, value in params(after_one_epoch).items():
        np.testing.assert_array_equal(params(model)[name], value)


def test_patience_zero_stops_at_the_first_epoch_without_improvement():
    train = DataLoader(blobs(200, 0), batch_size=50)
    model = linear_model()
    history = fit(model, train, optim.SGD(model.parameters(), lr=0.5), nn.CrossEntropyLoss(), epochs=4,
                  val_loader=DataLoader(blobs(200, 0, flip=True), batch_size=200),
                  early_stopping=EarlyStopping(patience=0), progress=False)
    assert len(history["val_loss"]) == 2
    model = linear_model()
    history = fit(model, train, optim.SGD(model.parameters(), lr=0.5), nn.CrossEntropyLoss(), epochs=4,
                  val_loader=train, early_stopping=EarlyStopping(patience=0), progress=False)
    assert len(history["val_loss"]) == 4 and history.best_epoch == 3  # improving every epoch: never stopped


def test_early_stopping_can_keep_the_last_weights_and_watch_a_metric_to_maximise():
    train, val = DataLoader(blobs(200, 0), batch_size=50), DataLoader(blobs(200, 0, flip=True), batch_size=200)
    model = linear_model()
    stop = EarlyStopping(patience=1, monitor="val_acc", restore_best_weights=False)
    assert stop.mode == "max" and EarlyStopping().mode == "min"
    assert EarlyStopping(min_delta=0.1).improves(0.85, 1.0) and not EarlyStopping(min_delta=0.1).improves(0.95, 1.0)
    assert stop.improves(0.9, 0.8) and not stop.improves(0.8, 0.8) and stop.improves(0.1, None)
    history = fit(model, train, optim.SGD(model.parameters(), lr=0.5), nn.CrossEntropyLoss(), epochs=30,
                  val_loader=val, metrics={"acc": accuracy}, early_stopping=stop, progress=False)
    stopped = len(history["val_acc"])
    assert stopped < 30 and history.best_epoch == int(np.argmax(history["val_acc"]))
    reference = linear_model()
    fit(reference, train, optim.SGD(reference.parameters(), lr=0.5), nn.CrossEntropyLoss(), epochs=stopped,
        progress=False)
    for name, value in params(reference).items():
        np.testing.assert_array_equal(params(model)[name], value)


def test_a_monitored_value_that_is_never_recorded_is_an_error():
    model = linear_model()
    with pytest.raises(ValueError, match=r"monitors 'val_loss', but the epoch recorded only \['lr', 'train_loss'\]"):
        fit(model, DataLoader(blobs(8, 0), batch_size=4), optim.SGD(model.parameters(), lr=0.1),
            nn.CrossEntropyLoss(), epochs=2, early_stopping=EarlyStopping(), progress=False)


def test_schedulers_step_once_per_epoch_and_plateau_gets_the_monitored_value():
    loader = DataLoader(blobs(40, 0), batch_size=20)
    model = linear_model()
    opt = optim.SGD(model.parameters(), lr=0.1)
    history = fit(model, loader, opt, nn.CrossEntropyLoss(), epochs=3,
                  scheduler=optim.lr_scheduler.StepLR(opt, step_size=1, gamma=0.5), progress=False)
    assert history["lr"] == pytest.approx([0.1, 0.05, 0.025])
    model = linear_model()
    opt = optim.SGD(model.parameters(), lr=0.1)
    val = DataLoader(blobs(40, 0, flip=True), batch_size=40)  # a validation loss that only rises
    history = fit(model, loader, opt, nn.CrossEntropyLoss(), epochs=3, val_loader=val,
                  scheduler=optim.lr_scheduler.ReduceLROnPlateau(opt, factor=0.5, patience=0), progress=False)
    # Epoch 1 sets the best value; epoch 2 is worse, so epoch 3 runs at half the rate. Had the scheduler
    # seen the falling training loss instead, the rate would never have dropped.
    assert history["lr"] == pytest.approx([0.1, 0.1, 0.05])


def test_evaluate_works_without_gradients_in_eval_mode_and_restores_the_mode():
    class Probe(nn.Module):
        def __init__(self):
            super().__init__()
            self.linear = nn.Linear(2, 2)
            self.seen = []

        def forward(self, x):
            self.seen.append((self.training, nnkit.is_grad_enabled()))
            return self.linear(x)

    model = Probe()
    loader = DataLoader(blobs(10, 0), batch_size=5)
    x, y = loader.dataset.tensors
    scores = evaluate(model, loader, nn.CrossEntropyLoss(), {"acc": accuracy})
    assert model.seen == [(False, False), (False, False)] and model.training
    assert scores["acc"] == accuracy(model.linear(x).detach(), y)
    assert scores["loss"] == pytest.approx(nn.CrossEntropyLoss()(model.linear(x), y).item(), rel=1e-6)
    assert all(p.grad is None for p in model.parameters())
    assert evaluate(model.eval(), loader, metrics={"acc": accuracy}).keys() == {"acc"} and not model.training


def test_progress_false_prints_nothing_and_true_draws_a_bar(capsys):
    model = linear_model()
    loader = DataLoader(blobs(20, 0), batch_size=5)
    fit(model, loader, optim.SGD(model.parameters(), lr=0.1), nn.CrossEntropyLoss(), epochs=2, progress=False,
        live_plot=True)  # no notebook here: the live plot quietly does nothing
    assert capsys.readouterr() == ("", "")
    fit(model, loader, optim.SGD(model.parameters(), lr=0.1), nn.CrossEntropyLoss(), epochs=2)
    err = capsys.readouterr().err
    assert "epoch 2/2" in err and "8/8" in err


def test_without_tqdm_there_is_simply_no_bar(capsys, monkeypatch):
    monkeypatch.setitem(sys.modules, "tqdm.auto", None)  # makes `from tqdm.auto import tqdm` fail
    model = linear_model()
    history = fit(model, DataLoader(blobs(20, 0), batch_size=5), optim.SGD(model.parameters(), lr=0.1),
                  nn.CrossEntropyLoss(), epochs=1)
    assert capsys.readouterr() == ("", "") and len(history["train_loss"]) == 1


def test_the_live_plot_redraws_one_display_in_a_notebook(monkeypatch):
    import IPython.display

    import nnkit.train

    assert not nnkit.train._in_notebook()  # pytest is no Jupyter kernel

    class Handle:
        updates = []

        def update(self, fig):
            self.updates.append(fig)

    shown = []
    monkeypatch.setattr(nnkit.train, "_in_notebook", lambda: True)
    monkeypatch.setattr(IPython.display, "display", lambda fig, display_id: shown.append(fig) or Handle())
    model = linear_model()
    fit(model, DataLoader(blobs(20, 0), batch_size=10), optim.SGD(model.parameters(), lr=0.1),
        nn.CrossEntropyLoss(), epochs=3, progress=False, live_plot=True)
    assert len(shown) == 1 and len(Handle.updates) == 2
    assert plt.get_fignums() == []  # each figure was closed after being handed over


def test_history_plot_draws_the_loss_and_each_metric():
    history = History(train_loss=[1.0, 0.5], val_loss=[1.1, 0.7], train_acc=[0.5, 0.8], val_acc=[0.4, 0.7],
                      lr=[0.1, 0.1])
    history.best_epoch = 1
    fig = history.plot()
    loss_ax, acc_ax = fig.axes
    assert loss_ax.get_ylabel() == "loss" and acc_ax.get_ylabel() == "acc"
    assert [line.get_label() for line in acc_ax.get_lines()[:2]] == ["train_acc", "val_acc"]
    assert acc_ax.get_lines()[2].get_xdata()[0] == 2  # the best epoch, counted from 1 on the axis


def test_fit_names_bad_arguments():
    model = linear_model()
    opt = optim.SGD(model.parameters(), lr=0.1)
    with pytest.raises(ValueError, match="epochs must be a positive integer"):
        fit(model, [], opt, nn.CrossEntropyLoss(), epochs=0)
    with pytest.raises(ValueError, match="no batches"):
        fit(model, [], opt, nn.CrossEntropyLoss(), epochs=1, progress=False)
    triples = [(nnkit.zeros(2, 2), nnkit.zeros(2).long(), 0)]
    with pytest.raises(ValueError, match="pair \\(inputs, targets\\), got tuple of length 3"):
        fit(model, triples, opt, nn.CrossEntropyLoss(), epochs=1, progress=False)
    with pytest.raises(ValueError, match="patience must be a non-negative integer"):
        EarlyStopping(patience=-1)
    with pytest.raises(ValueError, match="mode must be 'min' or 'max'"):
        EarlyStopping(mode="up")


def test_importing_the_training_tools_loads_no_plotting_progress_or_sklearn_modules():
    code = ("import sys, nnkit, nnkit.data, nnkit.metrics, nnkit.train\n"
            "print(sorted({m.split('.')[0] for m in sys.modules} & {'matplotlib', 'tqdm', 'IPython', 'sklearn'}))")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout
    assert out.strip() == "[]"


def test_the_docstring_example_runs():
    import nnkit.train

    result = doctest.testmod(nnkit.train, verbose=False)
    assert result.attempted > 0 and result.failed == 0
