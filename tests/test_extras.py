"""With only the core install, the parts that need the course extra say which extra to install."""

import sys

import numpy as np
import pytest

import nnkit
from nnkit.extras import require


def _hide(monkeypatch, package):
    """Make `package` (and every submodule) unimportable, as if it were not installed."""
    for name in [n for n in sys.modules if n == package or n.startswith(package + ".")] + [package]:
        monkeypatch.setitem(sys.modules, name, None)


def test_load_digits_names_the_course_extra(monkeypatch):
    _hide(monkeypatch, "sklearn")
    with pytest.raises(ModuleNotFoundError, match=r'nnkit\.data\.load_digits needs scikit-learn.*pip install "nnkit\[course\]"'):
        nnkit.data.load_digits()


@pytest.mark.parametrize("call", [
    lambda: nnkit.plot.plot_activation(np.tanh),
    lambda: nnkit.plot.image_grid(np.zeros((4, 8, 8))),
    lambda: nnkit.plot.plot_decision_boundary(lambda P: P[:, 0] > 0, np.zeros((2, 2)), np.array([0, 1])),
    lambda: nnkit.plot.plot_loss_surface(lambda X, Y: X**2 + Y**2),
    lambda: nnkit.metrics.plot_confusion_matrix(np.eye(2)),
], ids=["plot_activation", "image_grid", "plot_decision_boundary", "plot_loss_surface", "plot_confusion_matrix"])
def test_plots_name_the_course_extra(monkeypatch, call):
    _hide(monkeypatch, "matplotlib")
    with pytest.raises(ModuleNotFoundError, match=r'needs matplotlib, which the core install leaves out: pip install "nnkit\[course\]"'):
        call()


def test_require_returns_the_module_and_passes_other_errors_through(monkeypatch, tmp_path):
    assert require("json", "a test").dumps([1]) == "[1]"
    # An installed package whose own dependency is missing: that error is the package's, re-raised as is.
    (tmp_path / "pkg_with_broken_dep").mkdir()
    (tmp_path / "pkg_with_broken_dep" / "__init__.py").write_text("import nnkit_no_such_module\n")
    monkeypatch.syspath_prepend(str(tmp_path))
    with pytest.raises(ModuleNotFoundError) as info:
        require("pkg_with_broken_dep", "a test")
    assert info.value.name == "nnkit_no_such_module" and "nnkit[" not in str(info.value)
    # The package itself missing: the message names the extra.
    with pytest.raises(ModuleNotFoundError, match=r'a test needs nnkit_absent_pkg.*pip install "nnkit\[course\]"'):
        require("nnkit_absent_pkg", "a test")
