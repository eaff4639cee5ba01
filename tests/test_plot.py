"""nnkit.plot: every figure draws headless, labels its axes, returns its Axes or Figure."""

import subprocess
import sys

import matplotlib

matplotlib.use("Agg")

import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402
import pytest  # noqa: E402
from matplotlib.axes import Axes  # noqa: E402
from matplotlib.contour import ContourSet  # noqa: E402
from matplotlib.figure import Figure  # noqa: E402

from nnkit.plot import (  # noqa: E402
    image_grid,
    plot_activation,
    plot_decision_boundary,
    plot_loss_curves,
    plot_loss_surface,
)


@pytest.fixture(autouse=True)
def close_figures():
    yield
    plt.close("all")


@pytest.fixture(autouse=True)
def nothing_printed(capsys):
    yield
    assert capsys.readouterr().out == ""


def assert_labelled(ax: Axes) -> None:
    assert isinstance(ax, Axes)
    assert ax.get_xlabel().strip() and ax.get_ylabel().strip()


def contour_sets(ax: Axes) -> list:
    return [c for c in ax.collections if isinstance(c, ContourSet)]


def legend_texts(ax: Axes) -> list:
    return [t.get_text() for t in ax.get_legend().get_texts()]


def test_importing_nnkit_does_not_import_matplotlib():
    code = ("import sys, nnkit, nnkit.plot, nnkit.data.synthetic; "
            "assert 'matplotlib' not in sys.modules, 'matplotlib'; "
            "assert 'sklearn' not in sys.modules, 'sklearn'")
    subprocess.run([sys.executable, "-c", code], check=True)


# plot_activation

def test_activation_plots_function_and_dashed_derivative():
    x = np.linspace(-3, 3, 50)
    ax = plot_activation(np.tanh, lambda z: 1 - np.tanh(z) ** 2, x=x)
    assert_labelled(ax)
    assert ax.get_title() == "tanh"
    assert legend_texts(ax) == ["tanh(z)", "tanh'(z)"]
    curves = [line for line in ax.get_lines() if line.get_label() in legend_texts(ax)]
    fn_line, deriv_line = curves
    np.testing.assert_allclose(fn_line.get_xdata(), x)
    np.testing.assert_allclose(fn_line.get_ydata(), np.tanh(x))
    np.testing.assert_allclose(deriv_line.get_ydata(), 1 - np.tanh(x) ** 2)
    assert fn_line.get_linestyle() == "-" and deriv_line.get_linestyle() == "--"


def test_activation_default_grid_title_and_given_axes():
    fig, ax = plt.subplots()
    out = plot_activation(lambda z: np.maximum(z, 0), ax=ax, title="ReLU")
    assert out is ax
    assert ax.get_title() == "ReLU"
    (line,) = [line for line in ax.get_lines() if line.get_label() == "f(z)"]
    x = line.get_xdata()
    assert len(x) == 400 and x[0] == -6 and x[-1] == 6


# plot_decision_boundary

@pytest.fixture
def blobs():
    rng = np.random.default_rng(0)
    X = np.concatenate([rng.normal(-1, 0.3, (20, 2)), rng.normal(1, 0.3, (20, 2))])
    y = np.repeat([0, 1], 20)
    return X, y


def _labels(P):
    return (P.sum(axis=1) > 0).astype(np.int64)


def _class_probabilities(P):
    p1 = 1 / (1 + np.exp(-3 * P.sum(axis=1)))
    return np.column_stack([1 - p1, p1])


def _probability_of_class_1(P):
    return 1 / (1 + np.exp(-3 * P.sum(axis=1)))


@pytest.mark.parametrize("predict, probability_map", [
    (_labels, False), (_class_probabilities, False), (_probability_of_class_1, True),
])
def test_decision_boundary_accepts_the_three_output_kinds(blobs, predict, probability_map):
    X, y = blobs
    ax = plot_decision_boundary(predict, X, y, resolution=50, title="blobs")
    assert_labelled(ax)
    assert ax.get_title() == "blobs"
    (filled, *lines) = contour_sets(ax)
    if probability_map:
        np.testing.assert_allclose(filled.levels, np.linspace(0, 1, 11))
        assert [cs.levels.tolist() for cs in lines] == [[0.5]]
    else:
        np.testing.assert_allclose(filled.levels, [-0.5, 0.5, 1.5])
        assert lines == []
    assert legend_texts(ax)  # one entry per class


def test_decision_boundary_grid_covers_the_data(blobs):
    X, y = blobs
    seen = []

    def predict(P):
        seen.append(P.copy())
        return _labels(P)

    ax = plot_decision_boundary(predict, X, y, resolution=30)
    (P,) = seen
    assert P.shape == (30 * 30, 2)
    assert np.all(P.min(axis=0) < X.min(axis=0)) and np.all(P.max(axis=0) > X.max(axis=0))
    assert ax.get_xlim() == pytest.approx((P[:, 0].min(), P[:, 0].max()))


def test_decision_boundary_multiclass_labels_and_probabilities_agree():
    rng = np.random.default_rng(1)
    X = rng.uniform(-1, 1, (30, 2))
    y = rng.integers(0, 3, 30)
    centres = np.array([[-1, 0], [1, 0], [0, 1]])

    def probs(P):
        scores = -((P[:, None, :] - centres) ** 2).sum(axis=2)
        e = np.exp(scores - scores.max(axis=1, keepdims=True))
        return e / e.sum(axis=1, keepdims=True)

    a = contour_sets(plot_decision_boundary(probs, X, y, resolution=40))[0]
    b = contour_sets(plot_decision_boundary(lambda P: probs(P).argmax(axis=1), X, y, resolution=40))[0]
    np.testing.assert_allclose(a.levels, [-0.5, 0.5, 1.5, 2.5])
    np.testing.assert_allclose(a.levels, b.levels)
    for pa, pb in zip(a.get_paths(), b.get_paths()):
        np.testing.assert_allclose(pa.vertices, pb.vertices)


def test_decision_boundary_rejects_bad_inputs(blobs):
    X, y = blobs
    with pytest.raises(ValueError, match=r"X must have shape \(n, 2\)"):
        plot_decision_boundary(_labels, X[:, :1], y)
    with pytest.raises(ValueError, match="y must have shape"):
        plot_decision_boundary(_labels, X, y[:-1])
    with pytest.raises(ValueError, match="predict returned shape"):
        plot_decision_boundary(lambda P: _labels(P)[:-1], X, y, resolution=10)
    with pytest.raises(ValueError, match=r"outside \[0, 1\]"):
        plot_decision_boundary(lambda P: P.sum(axis=1) + 0.5, X, y, resolution=10)
    with pytest.raises(ValueError, match="class labels y must be 0, 1, ..., got -1"):
        plot_decision_boundary(_labels, X, 2 * y - 1)
    with pytest.raises(ValueError, match="class labels must be 0, 1, ..., got -1"):
        plot_decision_boundary(lambda P: 2 * _labels(P) - 1, X, y, resolution=10)


def test_decision_boundary_without_a_boundary_on_the_grid_draws_no_line(blobs, recwarn):
    X, y = blobs
    ax = plot_decision_boundary(lambda P: np.full(len(P), 0.7), X, y, resolution=10)
    assert len(contour_sets(ax)) == 1  # the filled map only
    assert not [w for w in recwarn if "contour" in str(w.message).lower()]


# plot_loss_curves

def test_loss_curves_one_line_per_entry():
    history = {"train": [1.0, 0.5, 0.25, 0.2], "val": [1.2, 0.8, 0.7, 0.75]}
    ax = plot_loss_curves(history, title="fit")
    assert_labelled(ax)
    assert ax.get_xlabel() == "epoch" and ax.get_title() == "fit"
    assert legend_texts(ax) == ["train", "val"]
    lines = {line.get_label(): line for line in ax.get_lines()}
    np.testing.assert_array_equal(lines["train"].get_xdata(), [1, 2, 3, 4])
    np.testing.assert_allclose(lines["val"].get_ydata(), history["val"])
    assert ax.get_yscale() == "linear"


def test_loss_curves_log_scale_custom_xlabel_and_given_axes():
    fig, ax = plt.subplots()
    out = plot_loss_curves({"train": np.array([3.0, 0.3, 0.03])}, ax=ax, logy=True, xlabel="step")
    assert out is ax and ax.get_yscale() == "log" and ax.get_xlabel() == "step"


def test_loss_curves_reject_an_empty_history():
    with pytest.raises(ValueError, match="history is empty"):
        plot_loss_curves({})


# image_grid

@pytest.mark.parametrize("shape", [(10, 8, 8), (10, 1, 8, 8), (10, 3, 8, 8)])
def test_image_grid_shows_every_image_with_its_label(shape):
    images = np.random.default_rng(0).uniform(0, 1, shape)
    fig = image_grid(images, labels=list(range(10)), ncols=4, title="digits")
    assert isinstance(fig, Figure)
    assert len(fig.axes) == 12  # 3 rows of 4
    shown = [ax for ax in fig.axes if ax.get_images()]
    assert len(shown) == 10
    assert [ax.get_title() for ax in shown] == [str(i) for i in range(10)]
    assert fig._suptitle.get_text() == "digits"
    first = shown[0].get_images()[0].get_array()
    expected = images[0] if len(shape) == 3 else (images[0, 0] if shape[1] == 1 else images[0].transpose(1, 2, 0))
    np.testing.assert_allclose(first, expected)


def test_image_grid_grey_images_share_one_colour_scale():
    images = np.stack([np.full((4, 4), 0.2), np.full((4, 4), 0.8)])
    fig = image_grid(images)
    limits = {ax.get_images()[0].get_clim() for ax in fig.axes}
    assert limits == {(0.2, 0.8)}


def test_image_grid_rescales_rgb_outside_the_unit_interval():
    images = np.random.default_rng(0).normal(0, 2, (2, 3, 5, 5))
    fig = image_grid(images)
    data = np.stack([ax.get_images()[0].get_array() for ax in fig.axes])
    assert data.min() == pytest.approx(0.0) and data.max() == pytest.approx(1.0)


def test_image_grid_rejects_bad_shapes_and_labels():
    with pytest.raises(ValueError, match=r"\(n, 2, 8, 8\)|got \(4, 2, 8, 8\)"):
        image_grid(np.zeros((4, 2, 8, 8)))
    with pytest.raises(ValueError, match="3 labels for 4 images"):
        image_grid(np.zeros((4, 8, 8)), labels=[0, 1, 2])
    with pytest.raises(ValueError, match="no images"):
        image_grid(np.zeros((0, 8, 8)))


# plot_loss_surface

def bowl(X, Y):
    return X ** 2 + 3 * Y ** 2


def test_loss_surface_contours_and_paths():
    path = np.array([[1.5, 1.5], [0.9, 0.3], [0.5, 0.1]])
    ax = plot_loss_surface(bowl, xlim=(-2, 2), ylim=(-1, 2), paths={"gd": path}, levels=12, title="bowl")
    assert_labelled(ax)
    assert ax.get_title() == "bowl"
    assert ax.get_xlim() == (-2, 2) and ax.get_ylim() == (-1, 2)
    assert contour_sets(ax)
    (line,) = [line for line in ax.get_lines() if line.get_label() == "gd"]
    np.testing.assert_allclose(line.get_xydata(), path)
    assert line.get_marker() == "o"
    assert legend_texts(ax) == ["gd"]


def test_loss_surface_log_levels_are_geometric():
    ax = plot_loss_surface(lambda X, Y: (1 - X) ** 2 + 100 * (Y - X ** 2) ** 2, log_levels=True, levels=10)
    levels = contour_sets(ax)[0].levels
    ratios = levels[1:] / levels[:-1]
    np.testing.assert_allclose(ratios, ratios[0], rtol=1e-6)
    assert ratios[0] > 1.5


def test_loss_surface_rejects_a_function_that_is_not_vectorised():
    with pytest.raises(ValueError, match="vectorised"):
        plot_loss_surface(lambda X, Y: float(np.sum(X)))
    with pytest.raises(ValueError, match="log_levels"):
        plot_loss_surface(lambda X, Y: -bowl(X, Y) - 1, log_levels=True)
    with pytest.raises(ValueError, match=r"path 'p' must have shape \(k, 2\)"):
        plot_loss_surface(bowl, paths={"p": np.zeros((3, 3))})
