"""nnkit.data.synthetic: shapes, dtypes, determinism, geometry, splitting and errors."""

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from scipy.optimize import linprog

from nnkit.data.synthetic import (
    load_digits,
    make_circles,
    make_moons,
    make_sine_waves,
    make_spirals,
    make_xor,
    train_test_split,
)

TWO_D = [make_moons, make_circles, make_spirals, make_xor]


def linearly_separable(features: np.ndarray, y: np.ndarray) -> bool:
    """Whether some (w, b) gives s_i (w . f_i + b) >= 1 for all i, s = +-1 by class.

    A linear program with this feasibility constraint is exact: infeasible means
    no hyperplane in feature space separates the two classes.
    """
    s = np.where(y == 1, 1.0, -1.0)
    A = -s[:, None] * np.column_stack([features, np.ones(len(features))])
    result = linprog(np.zeros(A.shape[1]), A_ub=A, b_ub=-np.ones(len(features)),
                     bounds=[(None, None)] * A.shape[1], method="highs")
    assert result.status in (0, 2), result.message  # 0: feasible, 2: infeasible
    return result.status == 0


def polynomial_features(X: np.ndarray, degree: int) -> np.ndarray:
    x1, x2 = X.astype(np.float64).T
    return np.column_stack([x1 ** i * x2 ** (d - i) for d in range(1, degree + 1) for i in range(d + 1)])


@pytest.mark.parametrize("make", TWO_D)
@pytest.mark.parametrize("n", [1, 7, 200])
def test_two_d_sets_have_shapes_and_dtypes(make, n):
    X, y = make(n_samples=n)
    assert X.shape == (n, 2) and X.dtype == np.float32
    assert y.shape == (n,) and y.dtype == np.int64
    assert np.all(np.isfinite(X))


@pytest.mark.parametrize("make", TWO_D)
def test_same_seed_same_data_other_seed_other_data(make):
    X1, y1 = make(seed=3)
    X2, y2 = make(seed=3)
    X3, _ = make(seed=4)
    np.testing.assert_array_equal(X1, X2)
    np.testing.assert_array_equal(y1, y2)
    assert not np.allclose(X1, X3)


@pytest.mark.parametrize("make", [make_moons, make_circles, make_xor])
@pytest.mark.parametrize("n", [200, 201])
def test_binary_sets_are_balanced(make, n):
    _, y = make(n_samples=n)
    counts = np.bincount(y, minlength=2)
    assert len(counts) == 2 and abs(counts[0] - counts[1]) <= 1


@pytest.mark.parametrize("n, k", [(300, 3), (301, 3), (100, 2), (250, 5)])
def test_spirals_share_points_equally_among_classes(n, k):
    _, y = make_spirals(n_samples=n, n_classes=k)
    counts = np.bincount(y, minlength=k)
    assert len(counts) == k and counts.max() - counts.min() <= 1


def test_data_come_shuffled():
    # Sorted labels would make every slice (a mini-batch, a split) single-class.
    for make in TWO_D:
        _, y = make()
        assert len(np.unique(y[:20])) > 1, make.__name__


@pytest.mark.parametrize("make, degree", [(make_moons, 3), (make_circles, 2), (make_xor, 2)])
def test_not_linearly_separable_but_separable_by_a_small_polynomial(make, degree):
    X, y = make()
    assert not linearly_separable(X.astype(np.float64), y)
    assert linearly_separable(polynomial_features(X, degree), y)


def test_circles_are_separated_by_radius():
    X, y = make_circles(noise=0.05, factor=0.5)
    inner = np.hypot(X[:, 0], X[:, 1]) < 0.75
    np.testing.assert_array_equal(inner.astype(np.int64), y)


def test_xor_label_is_xor_of_signs_and_points_sit_at_corners():
    X, y = make_xor(n_samples=400, noise=0.1)
    np.testing.assert_array_equal(y, (X[:, 0] * X[:, 1] < 0).astype(np.int64))
    np.testing.assert_allclose(np.abs(X).mean(axis=0), [1.0, 1.0], atol=0.05)
    quadrants = np.bincount(2 * (X[:, 0] > 0) + (X[:, 1] > 0), minlength=4)
    np.testing.assert_array_equal(quadrants, [100, 100, 100, 100])


def test_noise_free_moons_lie_on_their_arcs():
    X, y = make_moons(n_samples=50, noise=0.0)
    top, bottom = X[y == 0].astype(float), X[y == 1].astype(float)
    np.testing.assert_allclose(np.hypot(top[:, 0], top[:, 1]), 1.0, atol=1e-6)
    np.testing.assert_allclose(np.hypot(bottom[:, 0] - 1.0, bottom[:, 1] - 0.5), 1.0, atol=1e-6)
    assert np.all(top[:, 1] >= -1e-6) and np.all(bottom[:, 1] <= 0.5 + 1e-6)


def test_noise_free_spirals_wind_outward_from_the_centre():
    X, y = make_spirals(n_samples=300, n_classes=3, noise=0.0)
    r = np.hypot(X[:, 0], X[:, 1])
    assert r.min() == pytest.approx(0.1, abs=1e-6) and r.max() == pytest.approx(1.0, abs=1e-6)
    # Noise-free points of one arm satisfy angle = 2 pi k / K + 4 r (mod 2 pi).
    angle = np.arctan2(X[:, 1], X[:, 0])
    expected = 2 * np.pi * y / 3 + 4.0 * r
    np.testing.assert_allclose(np.cos(angle - expected), 1.0, atol=1e-5)


@pytest.mark.parametrize("make", [make_moons, make_circles, make_xor])
def test_noise_is_gaussian_with_the_requested_std(make):
    # The same seed draws the same noise and the same shuffle, so rows correspond.
    X0, _ = make(n_samples=400, noise=0.0, seed=2)
    X1, _ = make(n_samples=400, noise=0.3, seed=2)
    diff = X1.astype(float) - X0.astype(float)
    assert np.std(diff) == pytest.approx(0.3, rel=0.1)
    assert np.abs(diff.mean()) < 0.05


def test_sine_waves_shape_dtype_and_determinism():
    waves = make_sine_waves(n_series=5, length=40, seed=1)
    assert waves.shape == (5, 40) and waves.dtype == np.float32
    np.testing.assert_array_equal(waves, make_sine_waves(n_series=5, length=40, seed=1))
    assert not np.allclose(waves, make_sine_waves(n_series=5, length=40, seed=2))


def test_noise_free_sine_waves_are_pure_sinusoids():
    # A sampled sinusoid obeys x[t+1] + x[t-1] = 2 cos(omega) x[t]; fit the constant per series.
    waves = make_sine_waves(n_series=8, length=100, noise=0.0).astype(np.float64)
    assert np.abs(waves).max() <= 1.0 + 1e-6
    for x in waves:
        ratio, residual, *_ = np.linalg.lstsq(x[1:-1, None], x[2:] + x[:-2], rcond=None)
        omega = np.arccos(ratio[0] / 2)
        assert residual[0] < 1e-8
        assert 2 * np.pi * 0.02 - 1e-4 <= omega <= 2 * np.pi * 0.1 + 1e-4
    assert len({round(float(w[0]), 4) for w in waves}) == len(waves)  # random phases


def test_sine_waves_noise_has_the_requested_std():
    clean = make_sine_waves(n_series=64, length=200, noise=0.0, seed=5).astype(float)
    noisy = make_sine_waves(n_series=64, length=200, noise=0.1, seed=5).astype(float)
    assert np.std(noisy - clean) == pytest.approx(0.1, rel=0.05)


def test_load_digits_flat_and_images():
    X, y = load_digits()
    assert X.shape == (1797, 64) and X.dtype == np.float32
    assert y.shape == (1797,) and y.dtype == np.int64
    assert X.min() == 0.0 and X.max() == 1.0
    assert set(np.unique(y).tolist()) == set(range(10))
    images, y2 = load_digits(images=True)
    assert images.shape == (1797, 8, 8)
    np.testing.assert_array_equal(images.reshape(1797, 64), X)
    np.testing.assert_array_equal(y, y2)


def test_split_keeps_rows_paired_and_partitions_the_data():
    X = np.arange(40).reshape(20, 2)
    y = np.arange(20) * 10
    X_train, X_test, y_train, y_test = train_test_split(X, y, test_size=0.25, seed=1)
    assert X_train.shape == (15, 2) and X_test.shape == (5, 2)
    np.testing.assert_array_equal(X_train[:, 0] * 5, y_train)
    np.testing.assert_array_equal(X_test[:, 0] * 5, y_test)
    np.testing.assert_array_equal(np.sort(np.concatenate([y_train, y_test])), y)
    assert X_train.dtype == X.dtype and y_test.dtype == y.dtype


def test_split_is_deterministic_by_seed():
    X = np.arange(100)
    a = train_test_split(X, seed=0)
    b = train_test_split(X, seed=0)
    c = train_test_split(X, seed=1)
    np.testing.assert_array_equal(a[1], b[1])
    assert not np.array_equal(a[1], c[1])


def test_split_rounds_the_test_part_up_like_sklearn():
    train, test = train_test_split(np.arange(10), test_size=0.25)
    assert (len(train), len(test)) == (7, 3)


@settings(max_examples=50, deadline=None)
@given(n=st.integers(2, 300), test_size=st.floats(0.01, 0.99), n_arrays=st.integers(1, 3))
def test_split_sizes_property(n, test_size, n_arrays):
    arrays = [np.arange(n) + 1000 * i for i in range(n_arrays)]
    n_test = int(np.ceil(test_size * n))
    if n_test >= n:
        with pytest.raises(ValueError, match="no training data"):
            train_test_split(*arrays, test_size=test_size)
        return
    parts = train_test_split(*arrays, test_size=test_size)
    assert len(parts) == 2 * n_arrays
    for i in range(n_arrays):
        train, test = parts[2 * i], parts[2 * i + 1]
        assert len(test) == n_test and len(train) == n - n_test
        np.testing.assert_array_equal(train - 1000 * i, parts[0])
        assert len(np.intersect1d(train, test)) == 0


@pytest.mark.parametrize("test_size", [0, 1, 1.5, -0.1, 0.0, 1.0])
def test_split_rejects_test_size_outside_the_open_unit_interval(test_size):
    with pytest.raises(ValueError, match="test_size"):
        train_test_split(np.arange(10), test_size=test_size)


def test_split_rejects_arrays_of_different_lengths():
    with pytest.raises(ValueError, match=r"same length.*\[10, 9\]"):
        train_test_split(np.arange(10), np.arange(9))


def test_split_needs_an_array():
    with pytest.raises(ValueError, match="at least one array"):
        train_test_split()


@pytest.mark.parametrize("make", TWO_D)
@pytest.mark.parametrize("n", [0, -5, 2.5])
def test_bad_n_samples_is_named_in_the_error(make, n):
    with pytest.raises(ValueError, match=rf"n_samples.*{n}"):
        make(n_samples=n)


@pytest.mark.parametrize("make", TWO_D)
def test_negative_noise_is_named_in_the_error(make):
    with pytest.raises(ValueError, match=r"noise.*-0\.1"):
        make(noise=-0.1)


@pytest.mark.parametrize("k", [1, 0])
def test_spirals_need_two_classes(k):
    with pytest.raises(ValueError, match=rf"n_classes.*{k}"):
        make_spirals(n_classes=k)


@pytest.mark.parametrize("factor", [0.0, 1.0, 1.5])
def test_circles_factor_must_lie_in_the_open_unit_interval(factor):
    with pytest.raises(ValueError, match="factor"):
        make_circles(factor=factor)


@pytest.mark.parametrize("kwargs, name", [({"n_series": 0}, "n_series"), ({"length": 0}, "length"),
                                          ({"noise": -1.0}, "noise")])
def test_sine_wave_arguments_are_checked(kwargs, name):
    with pytest.raises(ValueError, match=name):
        make_sine_waves(**kwargs)
