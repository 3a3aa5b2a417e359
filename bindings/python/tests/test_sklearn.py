"""ntk.sklearn: scikit-learn's own estimator checks, then every configuration against an
independent numpy/scipy computation of the same closed form (tolerance 1e-9 relative), and the
estimators inside Pipeline, cross_val_score and GridSearchCV."""

import pickle

import numpy as np
import pytest
import scipy.linalg

sklearn = pytest.importorskip("sklearn", minversion="1.6", reason="ntk.sklearn needs scikit-learn >= 1.6")

from sklearn.datasets import load_diabetes, load_iris, make_classification  # noqa: E402
from sklearn.model_selection import GridSearchCV, cross_val_score  # noqa: E402
from sklearn.pipeline import make_pipeline  # noqa: E402
from sklearn.preprocessing import StandardScaler  # noqa: E402
from sklearn.utils.estimator_checks import check_estimator  # noqa: E402

import ntk  # noqa: E402
from ntk.sklearn import NTKClassifier, NTKRegressor  # noqa: E402


def rel(a, b):
    return np.max(np.abs(np.asarray(a) - np.asarray(b))) / max(np.max(np.abs(b)), 1e-300)


# scikit-learn's common checks (fit/predict contracts, validation, pickling, cloning, dtypes,
# NaN/Inf, empty data, sample-order invariance, pandas input, ...). Every check must pass but one
# that does not apply: the array-API check, because the estimators take numpy-convertible input
# only (tag array_api_support=False; libntk computes on float64 host memory).
NOT_APPLICABLE = {"check_array_api_input": "numpy input only: array_api_support is False"}

ESTIMATORS = [
    NTKRegressor(),
    NTKClassifier(),
    NTKRegressor(kernel="nngp", ridge="loo"),
    NTKRegressor(kernel="empirical", widths=(64,), time=10.0, random_state=0),
    NTKRegressor(kernel="empirical", widths=(32,), network_offset=True, ridge=0.0, random_state=0),
    NTKRegressor(kernel="after", widths=(32,), epochs=20, random_state=0),
    NTKClassifier(kernel="after", widths=(32,), epochs=20, ridge=0.01, random_state=0),
    NTKRegressor(tune="gcv", ard=True, n_restarts=0, random_state=0),
    NTKClassifier(tune="lml", n_restarts=1, random_state=0),
    NTKClassifier(loss="mse"),
    NTKClassifier(solver="nystrom", n_centers=20, ridge=0.1, random_state=0),
    NTKClassifier(time=5.0),
]


@pytest.mark.parametrize("estimator", ESTIMATORS, ids=repr)
def test_scikit_learn_check_estimator(estimator):
    results = check_estimator(estimator, expected_failed_checks=NOT_APPLICABLE, on_skip=None, on_fail=None)
    failed = [(r["check_name"], repr(r["exception"])[:500]) for r in results if r["status"] == "failed"]
    assert not failed
    passed = {r["check_name"] for r in results if r["status"] == "passed"}
    assert len(passed) >= 45 and "check_estimators_pickle" in passed and "check_fit_idempotent" in passed
    assert any(name.endswith("_data_not_an_array") for name in passed)  # pandas input (pandas is installed)
    others = {r["check_name"]: r["status"] for r in results if r["status"] != "passed"}
    assert set(others) <= set(NOT_APPLICABLE), others


@pytest.fixture
def data():
    X, y = load_diabetes(return_X_y=True)
    X = StandardScaler().fit_transform(X)
    y = (y - 150.0) / 75.0
    return X[:120], y[:120], X[120:160], y[120:160]


def numpy_kernel_ridge(K, Kt, y, z, offset=0.0):
    return offset + Kt @ np.linalg.solve(K + z * np.eye(len(K)), y - offset)


def test_infinite_ntk_with_a_given_ridge(data):
    X, y, Xt, _ = data
    est = NTKRegressor(widths=(128, 128), ridge=0.05).fit(X, y)
    K, Kt = ntk.infinite_width_ntk(est.network_, X), ntk.infinite_width_ntk(est.network_, Xt, X)
    z = 0.05 * np.trace(K) / len(K)  # ridge_relative: a multiple of the mean diagonal
    assert est.ridge_ == pytest.approx(z, rel=1e-14)
    assert est.predict(Xt).shape == (40,)
    assert rel(est.predict(Xt), numpy_kernel_ridge(K, Kt, y, z, offset=y.mean())) < 1e-9
    absolute = NTKRegressor(widths=(128, 128), ridge=0.05, ridge_relative=False, center_targets=False).fit(X, y)
    assert absolute.ridge_ == 0.05 and np.all(absolute.y_mean_ == 0)
    assert rel(absolute.predict(Xt), numpy_kernel_ridge(K, Kt, y, 0.05)) < 1e-9


@pytest.mark.parametrize("criterion", ["gcv", "loo"])
def test_selected_ridge_minimises_the_numpy_score(data, criterion):
    X, y, Xt, _ = data
    grid = np.geomspace(1e-4, 10, 11)
    est = NTKRegressor(kernel="nngp", widths=(64,), ridge=criterion, ridges=grid).fit(X, y)
    K = ntk.infinite_width_nngp(est.network_, X)
    n, yc = len(K), y - y.mean()
    scores = []
    for z in grid * np.trace(K) / n:
        H = K @ np.linalg.inv(K + z * np.eye(n))
        r = yc - H @ yc
        if criterion == "gcv":
            scores.append(np.mean(r**2) / (np.trace(np.eye(n) - H) / n) ** 2)
        else:
            scores.append(np.mean((r / (1 - np.diag(H))) ** 2))
    assert rel(est.ridge_scores_, scores) < 1e-8
    assert est.ridge_ == pytest.approx(grid[np.argmin(scores)] * np.trace(K) / n, rel=1e-14)
    Kt = ntk.infinite_width_nngp(est.network_, Xt, X)
    assert rel(est.predict(Xt), numpy_kernel_ridge(K, Kt, y, est.ridge_, offset=y.mean())) < 1e-9


def test_finite_time_is_the_gradient_flow_solution(data):
    """Multi-output targets, gradient flow at eta t against the matrix exponential (eq. 20)."""
    X, y, Xt, _ = data
    Y = np.column_stack([y, np.sin(3 * X[:, 0])])
    est = NTKRegressor(kernel="infinite", widths=(64,), time=30.0, learning_rate=2.0, ridge="gcv").fit(X, Y)
    K, Kt = ntk.infinite_width_ntk(est.network_, X), ntk.infinite_width_ntk(est.network_, Xt, X)
    N = Y.size
    Yc = Y - Y.mean(0)
    decay = scipy.linalg.expm(-2.0 * 30.0 / N * K)
    want = Y.mean(0) + Kt @ np.linalg.solve(K, (np.eye(len(K)) - decay) @ Yc)
    assert est.ridge_ == 0 and est.predict(Xt).shape == (40, 2)
    assert rel(est.predict(Xt), want) < 1e-9


def test_infinite_time_is_kernel_ridge_and_the_eigen_path_backs_up_cholesky(data, monkeypatch):
    X, y, Xt, _ = data
    default = NTKRegressor(widths=(64,)).fit(X, y)
    explicit = NTKRegressor(widths=(64,), time=np.inf).fit(X, y)  # time=inf is time=None: GCV
    assert explicit.ridge_ == default.ridge_ and np.array_equal(explicit.predict(Xt), default.predict(Xt))
    cholesky = NTKRegressor(widths=(64,), ridge=0.01).fit(X, y)

    def not_positive_definite(*args, **kwargs):
        raise ntk.NotPositiveDefiniteError("simulated: a numerically indefinite kernel")

    monkeypatch.setattr(ntk.sklearn, "KernelRidge", not_positive_definite)
    eigen = NTKRegressor(widths=(64,), ridge=0.01).fit(X, y)  # falls back to the eigendecomposition
    assert eigen.ridge_ == cholesky.ridge_
    assert rel(eigen.predict(Xt), cholesky.predict(Xt)) < 1e-9


def test_empirical_kernel_with_network_offset_is_the_linearised_network(data):
    X, y, Xt, _ = data
    est = NTKRegressor(kernel="empirical", widths=(256,), network_offset=True, time=50.0, random_state=3).fit(X, y)
    net = est.network_
    K, Kt = ntk.empirical_ntk(net, X), ntk.empirical_ntk(net, Xt, X)
    f0, f0t = net(X)[:, 0], net(Xt)[:, 0]
    yc = y - y.mean()
    decay = scipy.linalg.expm(-50.0 / len(y) * K)
    want = y.mean() + f0t + Kt @ np.linalg.solve(K, (np.eye(len(K)) - decay) @ (yc - f0))
    assert rel(est.predict(Xt), want) < 1e-8
    again = NTKRegressor(kernel="empirical", widths=(256,), network_offset=True, time=50.0, random_state=3).fit(X, y)
    assert np.array_equal(again.predict(Xt), est.predict(Xt))  # random_state fixes the network
    other = NTKRegressor(kernel="empirical", widths=(256,), network_offset=True, time=50.0, random_state=4).fit(X, y)
    assert not np.allclose(other.predict(Xt), est.predict(Xt))


@pytest.mark.parametrize("network_offset", [False, True])
def test_after_kernel_trains_the_network_then_regresses(data, network_offset):
    X, y, Xt, _ = data
    est = NTKRegressor(kernel="after", widths=(64,), epochs=200, ridge=0.01, network_offset=network_offset,
                       random_state=1).fit(X, y)
    h = est.history_
    assert h.epochs_run == 200 and h.losses[-1] < 0.5 * h.losses[0]
    initial = ntk.MLP(X.shape[1], [64], activation="relu", W_std=np.sqrt(2), b_std=0.1, seed=est.network_.seed)
    eta = 0.5 * ntk.max_learning_rate(ntk.empirical_ntk(initial, X), len(y))
    assert est.train_learning_rate_ == pytest.approx(eta, rel=1e-12)
    scale = np.sqrt(np.mean((y - y.mean()) ** 2))
    assert est.output_scale_ == pytest.approx(scale, rel=1e-14)
    # The same run by hand: standardised targets, the same seed and rate.
    initial.train(X, (y - y.mean()) / scale, learning_rate=eta, epochs=200, seed=initial.seed)
    assert np.array_equal(initial.flat_parameters, est.network_.flat_parameters)
    K, Kt = ntk.empirical_ntk(initial, X), ntk.empirical_ntk(initial, Xt, X)
    z = 0.01 * np.trace(K) / len(K)
    f, ft = (scale * initial(X)[:, 0], scale * initial(Xt)[:, 0]) if network_offset else (0.0, 0.0)
    want = y.mean() + ft + Kt @ np.linalg.solve(K + z * np.eye(len(K)), y - y.mean() - f)  # eq. 24 / eq. 25
    assert rel(est.predict(Xt), want) < 1e-9
    # Changing the targets' units changes the predictions by the same factor, nothing else.
    again = NTKRegressor(kernel="after", widths=(64,), epochs=200, ridge=0.01, network_offset=network_offset,
                         random_state=1).fit(X, 1000.0 * y)
    assert rel(again.predict(Xt), 1000.0 * est.predict(Xt)) < 1e-9


def test_mse_classifier_is_one_hot_regression(rng):
    X, labels = make_classification(n_samples=150, n_features=6, n_informative=4, n_classes=3, random_state=0)
    names = np.array(["cat", "dog", "emu"])[labels]
    clf = NTKClassifier(loss="mse", widths=(64, 64), ridge=0.01).fit(X[:100], names[:100])
    Y = np.eye(3)[labels[:100]]
    reg = NTKRegressor(widths=(64, 64), ridge=0.01).fit(X[:100], Y)
    out = reg.predict(X[100:])
    assert list(clf.classes_) == ["cat", "dog", "emu"]
    assert rel(clf.decision_function(X[100:]), out) < 1e-12
    assert np.array_equal(clf.predict(X[100:]), clf.classes_[np.argmax(out, 1)])
    p = clf.predict_proba(X[100:])
    assert p.shape == (50, 3) and np.allclose(p.sum(1), 1, rtol=0, atol=1e-14)
    z = out / clf.temperature_  # the softmax of the outputs over the fitted temperature
    assert 0 < clf.temperature_ < 1 and rel(p, np.exp(z) / np.exp(z).sum(1, keepdims=True)) < 1e-12
    assert clf.score(X[100:], names[100:]) > 0.6  # chance: 1/3
    binary = NTKClassifier(loss="mse", widths=(64,)).fit(X[:100], labels[:100] == 1)
    two = binary.decision_function(X[100:])
    assert two.shape == (50,)
    assert np.array_equal(binary.predict(X[100:]), two > 0)


def test_pipeline_cross_validation_and_grid_search():
    X, y = load_iris(return_X_y=True)
    pipe = make_pipeline(StandardScaler(), NTKClassifier(widths=(128,)))
    scores = cross_val_score(pipe, X, y, cv=3)
    assert scores.shape == (3,) and scores.mean() > 0.85
    Xr, yr = load_diabetes(return_X_y=True)
    search = GridSearchCV(make_pipeline(StandardScaler(), NTKRegressor(widths=(64, 64), random_state=0)),
                          {"ntkregressor__kernel": ["infinite", "nngp", "empirical"],
                           "ntkregressor__ridge": [1e-3, 1e-1, 10.0, "gcv"]}, cv=3)
    search.fit(Xr[:240], yr[:240])
    assert len(search.cv_results_["params"]) == 12
    assert np.all(np.isfinite(search.cv_results_["mean_test_score"]))
    assert search.best_score_ > 0.3  # diabetes: linear models reach R^2 ~ 0.45
    assert search.score(Xr[240:], yr[240:]) > 0.3


def test_fitted_estimator_pickles_and_ignores_later_changes_to_X(data):
    X, y, Xt, _ = data
    X = X.copy()
    est = NTKRegressor(kernel="empirical", widths=(32,), random_state=0).fit(X, y)
    before = est.predict(Xt)
    X[:] = 0.0  # the estimator keeps its own copy of the training inputs
    assert np.array_equal(est.predict(Xt), before)
    assert np.array_equal(pickle.loads(pickle.dumps(est)).predict(Xt), before)


@pytest.mark.parametrize("params, message", [
    ({"kernel": "rbf"}, "kernel must be one of"),
    ({"ridge": "aic"}, "ridge must be"),
    ({"ridge": -1.0}, "ridge must be"),
    ({"ridge": np.nan}, "ridge must be"),
    ({"time": -2.0}, "time must be"),
    ({"learning_rate": 0.0}, "learning_rate must be"),
    ({"network_offset": True}, "network_offset=True needs"),
    ({"ridges": []}, "ridges must be"),
    ({"ridges": [1.0, -1.0]}, "ridges must be"),
    ({"widths": 512}, "widths must be a sequence"),
    ({"widths": (8, 0)}, "width"),
])
def test_bad_hyperparameters_raise_value_errors(data, params, message):
    X, y, _, _ = data
    with pytest.raises(ValueError, match=message):
        NTKRegressor(**{"widths": (8,), **params}).fit(X, y)


def test_library_errors_come_through_typed(data):
    X, y, _, _ = data
    with pytest.raises(ntk.InvalidArgumentError, match="activation"):
        NTKRegressor(activation="swish").fit(X, y)
    with pytest.warns(sklearn.exceptions.ConvergenceWarning, match="diverged"):
        NTKRegressor(kernel="after", widths=(16,), epochs=30, train_learning_rate=1e4, random_state=0).fit(X, y)
