"""Kernels fitted to the data: gradients against finite differences, objectives against numpy
and the library's own solvers, L-BFGS-B tuning, the estimators' ``tune`` and the scikit-learn
kernels against scikit-learn's Gaussian processes."""

import warnings

import numpy as np
import pytest

import ntk

sklearn = pytest.importorskip("sklearn")
from sklearn.base import clone  # noqa: E402
from sklearn.gaussian_process import GaussianProcessClassifier, GaussianProcessRegressor  # noqa: E402
from sklearn.gaussian_process.kernels import WhiteKernel  # noqa: E402

from ntk.sklearn import NNGPKernel, NTKKernel, NTKRegressor  # noqa: E402


def kernel(net, X, kind, W_std, b_std, scales):
    """The reference: the library's kernel of X * scales with W_std, b_std set on a fresh MLP."""
    with ntk.MLP(net.input_dim, net.widths, activation=net.activation, W_std=W_std, b_std=b_std,
                 parameterization=net.parameterization) as other:
        nngp, ntk_ = ntk.infinite_width_kernels(other, X * scales)
    return ntk_ if kind == "ntk" else nngp


def finite_differences(f, theta, step=1e-6):
    """Central differences of f (array-valued) at theta, one column per coordinate."""
    columns = []
    for j in range(len(theta)):
        up, down = np.array(theta, dtype=float), np.array(theta, dtype=float)
        up[j] += step
        down[j] -= step
        columns.append((np.asarray(f(up)) - np.asarray(f(down))) / (2 * step))
    return np.stack(columns, axis=-1)


@pytest.mark.parametrize("activation, depth, kind", [("relu", 1, "ntk"), ("relu", 3, "nngp"), ("erf", 2, "ntk"),
                                                     ("tanh", 2, "ntk"), ("gelu", 4, "nngp"),
                                                     ("softplus", 1, "ntk")])
def test_kernel_gradient_matches_finite_differences(rng, activation, depth, kind):
    X = rng.standard_normal((7, 3))
    net = ntk.MLP(3, [5] * depth, activation=activation)
    theta = np.array([1.3, 0.4, 0.8, 1.5, 0.6])
    K, dK = ntk.infinite_width_gradient(net, X, kind, W_std=theta[0], b_std=theta[1], input_scales=theta[2:])
    assert dK.shape == (7, 7, 5)
    np.testing.assert_allclose(K, kernel(net, X, kind, theta[0], theta[1], theta[2:]), rtol=1e-12, atol=1e-14)
    fd = finite_differences(lambda t: kernel(net, X, kind, t[0], t[1], t[2:]), theta)
    assert np.max(np.abs(dK - fd)) <= 1e-6 * np.max(np.abs(fd))
    G = rng.standard_normal((7, 7))
    contracted = ntk.infinite_width_gradient_contract(net, X, G, kind, W_std=theta[0], b_std=theta[1],
                                                      input_scales=theta[2:])
    np.testing.assert_allclose(contracted, np.einsum("ab,abj->j", G, dK), rtol=1e-10, atol=1e-12)


def numpy_objectives(K, Y, z, a):
    """LML, GCV and LOO of ``a K + z I`` by plain numpy (independent of the library's formulas)."""
    n, k = Y.shape
    Kz = a * K + z * np.eye(n)
    A = np.linalg.inv(Kz)
    alpha = A @ Y
    _, logdet = np.linalg.slogdet(Kz)
    lml = -0.5 * np.sum(Y * alpha) - 0.5 * k * logdet - 0.5 * n * k * np.log(2 * np.pi)
    H = a * K @ A
    gcv = np.sum(((np.eye(n) - H) @ Y) ** 2) / (n * k) / (1 - np.trace(H) / n) ** 2
    loo = np.mean((alpha / np.diag(A)[:, None]) ** 2)
    return {"lml": lml, "gcv": gcv, "loo": loo}


@pytest.mark.parametrize("objective", ["lml", "gcv", "loo"])
def test_objective_values_and_gradients(rng, objective):
    X, Y = rng.standard_normal((12, 2)), rng.standard_normal((12, 2))
    net = ntk.MLP(2, [4, 4], activation="erf")
    theta = np.array([1.2, 0.3, 0.9, 1.4, 0.05, 1.7])  # W_std, b_std, s1, s2, ridge, amplitude

    def value(t):
        return ntk.kernel_objective(net, X, Y, objective, W_std=t[0], b_std=t[1], input_scales=t[2:4], ridge=t[4],
                                    amplitude=t[5])[0]

    v, g = ntk.kernel_objective(net, X, Y, objective, W_std=1.2, b_std=0.3, input_scales=[0.9, 1.4], ridge=0.05,
                                amplitude=1.7)
    K = kernel(net, X, "ntk", 1.2, 0.3, np.array([0.9, 1.4]))
    assert v == pytest.approx(numpy_objectives(K, Y, 0.05, 1.7)[objective], rel=1e-9)
    fd = finite_differences(value, theta)
    np.testing.assert_allclose(g, fd, rtol=1e-6, atol=1e-7 * max(abs(v), 1))


def test_objectives_agree_with_the_library_solvers(rng):
    X, y = rng.standard_normal((15, 3)), rng.standard_normal(15)
    net = ntk.MLP(3, [8], W_std=1.1, b_std=0.2)
    K = ntk.infinite_width_ntk(net, X)
    _, _, lml = ntk.gp_posterior(K, y, np.zeros((0, 15)), np.zeros((0, 0)), ridge=0.3)
    assert ntk.kernel_objective(net, X, y, "lml", ridge=0.3)[0] == pytest.approx(lml, rel=1e-12)
    with ntk.SpectralSolver(K) as solver:
        for criterion in ("gcv", "loo"):
            score = solver.select_ridge(y, [0.3], criterion=criterion).scores[0]
            assert ntk.kernel_objective(net, X, y, criterion, ridge=0.3)[0] == pytest.approx(score, rel=1e-9)


def relevant_feature_problem(rng, n=80):
    """y depends on feature 0 only; features 1 and 2 are noise."""
    X = rng.standard_normal((n, 3))
    y = np.sin(1.5 * X[:, 0]) + 0.05 * rng.standard_normal(n)
    return X, y - y.mean()


@pytest.mark.parametrize("objective", ["lml", "gcv", "loo"])
def test_tuning_finds_the_relevant_feature_and_a_stationary_point(rng, objective):
    X, y = relevant_feature_problem(rng)
    result = ntk.tune_kernel(X, y, widths=(1, 1), objective=objective, ard=True, n_restarts=1, random_state=3)
    assert result.converged and result.input_scales.shape == (3,)
    # The relevant feature gets the largest scale (by far for the likelihood; GCV and LOO, with
    # more freedom than 80 points pin down, only order it first).
    assert result.input_scales[0] > (5 if objective == "lml" else 1) * max(result.input_scales[1:])
    value, gradient = ntk.kernel_objective(result.network(), X, y, objective, W_std=result.W_std,
                                           b_std=result.b_std, input_scales=result.input_scales,
                                           ridge=result.noise, amplitude=result.amplitude)
    assert value == pytest.approx(result.value, rel=1e-12)
    with ntk.MLP(3, [1, 1], W_std=np.sqrt(2), b_std=0.1) as net:  # tune_kernel's documented start
        diag, variance = np.mean(ntk.infinite_width_diagonal(net, X)[1]), np.mean(y**2)
        start = ntk.kernel_objective(net, X, y, objective, ridge=1e-2 * (variance if objective == "lml" else diag),
                                     amplitude=variance / diag if objective == "lml" else 1.0)[0]
    assert (value > start) if objective == "lml" else (value < start)
    for trace in result.trace:  # L-BFGS-B iterates never get worse
        better = np.diff(trace) >= -1e-12 * np.abs(trace[1:]) if objective == "lml" else \
            np.diff(trace) <= 1e-12 * np.abs(trace[1:])
        assert np.all(better)
    assert len(result.starts) == 2 and result.n_evaluations >= 2


def test_tuning_choices_and_bad_input(rng):
    X, y = relevant_feature_problem(rng, n=40)
    best = ntk.tune_kernel(X, y, objective="gcv", depths=[1, 2], activations=["relu", "erf"], n_restarts=0)
    assert len(best.candidates) == 4 and best.value == min(c.value for c in best.candidates)
    with pytest.raises(ntk.InvalidArgumentError, match="outside its bounds"):
        ntk.tune_kernel(X, y, W_std=50.0, bounds={"W_std": (0.1, 10)})
    with pytest.raises(ntk.InvalidArgumentError, match="objective"):
        ntk.tune_kernel(X, y, objective="aic")
    with pytest.raises(ntk.InvalidArgumentError, match="unknown hyperparameter"):
        ntk.tune_kernel(X, y, bounds={"depth": (1, 2)})
    with pytest.warns(ntk.ConvergenceWarning, match="did not converge"):
        ntk.tune_kernel(X, y, objective="gcv", ard=True, max_iter=1, n_restarts=0)
    # Duplicate rows make K singular: a ridge pinned at ~0 cannot be evaluated anywhere.
    Xd = np.vstack([X, X])
    yd = np.concatenate([y, y])
    with ntk.MLP(3, [1, 1], W_std=np.sqrt(2), b_std=0.1) as net:
        with pytest.raises(ntk.NotPositiveDefiniteError):
            ntk.kernel_objective(net, Xd, yd, "gcv", ridge=1e-300)
        diag = np.mean(ntk.infinite_width_diagonal(net, Xd)[1])
    with pytest.raises(ntk.NumericalError, match="could not be evaluated"):
        ntk.tune_kernel(Xd, yd, widths=(1, 1), objective="gcv", ridge=1e-300 * diag, n_restarts=0,
                        bounds={"ridge": (1e-300, 1e-300)})
    with pytest.raises(ntk.InvalidArgumentError, match="ridge"):
        ntk.kernel_objective(ntk.MLP(3, [2]), X, y, "gcv", ridge=0.0)


def test_regressor_tune_fits_the_tuned_kernel(rng):
    X, y = relevant_feature_problem(rng, n=60)
    X_test = rng.standard_normal((10, 3))
    model = NTKRegressor(widths=(4, 4), tune="gcv", ard=True, n_restarts=0, random_state=0).fit(X, y)
    assert model.tuning_ is not None and model.W_std_ == model.tuning_.W_std
    np.testing.assert_array_equal(model.input_scales_, model.tuning_.input_scales)
    # The same prediction by hand: the tuned kernel of the scaled inputs, the ridge selected by GCV.
    net = model.tuning_.network()
    Xs, Ts = X * model.input_scales_, X_test * model.input_scales_
    K = ntk.infinite_width_ntk(net, Xs)
    _, expected = ntk.kernel_ridge(K, y - y.mean(), ridge=model.ridge_, K_test_train=ntk.infinite_width_ntk(
        net, Ts, Xs))
    np.testing.assert_allclose(model.predict(X_test), expected + y.mean(), rtol=1e-9, atol=1e-12)
    untuned = NTKRegressor(widths=(4, 4)).fit(X, y)
    assert untuned.tuning_ is None and np.all(untuned.input_scales_ == 1) and untuned.W_std_ == np.sqrt(2)
    assert model.score(X_test, np.sin(1.5 * X_test[:, 0])) > untuned.score(X_test, np.sin(1.5 * X_test[:, 0]))
    for params, message in [({"tune": "aic"}, "tune must be"), ({"tune": "lml", "kernel": "empirical"}, "tune needs"),
                            ({"tune": "gcv", "n_restarts": -1}, "n_restarts")]:
        with pytest.raises(ValueError, match=message):
            NTKRegressor(**params).fit(X, y)


@pytest.mark.filterwarnings("ignore:The optimal value found:sklearn.exceptions.ConvergenceWarning")
def test_sklearn_gaussian_process_with_the_nngp_kernel(rng):
    X, y = relevant_feature_problem(rng, n=50)
    gpr = GaussianProcessRegressor(kernel=NNGPKernel(depth=2, input_scale=np.ones(3)) + WhiteKernel(0.1),
                                   random_state=0).fit(X, y)
    fitted = gpr.kernel_.k1
    _, _, lml = ntk.gp_posterior(fitted(X), y, np.zeros((0, 50)), np.zeros((0, 0)),
                                 ridge=gpr.kernel_.k2.noise_level)
    assert lml == pytest.approx(gpr.log_marginal_likelihood_value_, abs=1e-8)
    assert fitted.input_scale[0] > 5 * max(fitted.input_scale[1:])


@pytest.mark.parametrize("make", [lambda: NNGPKernel(depth=3, activation="erf", input_scale=[0.5, 1.0, 2.0]),
                                  lambda: NTKKernel(depth=1, b_std=0.3, input_scale=0.7),
                                  lambda: NTKKernel(depth=2, b_std=0.0, b_std_bounds="fixed")])
def test_sklearn_kernel_contract(rng, make):
    kern = make()
    X, Y = rng.standard_normal((6, 3)), rng.standard_normal((4, 3))
    copy = clone(kern)
    assert copy.get_params() == kern.get_params()
    copy.set_params(W_std=2.5)
    assert copy.theta[0] == pytest.approx(np.log(2.5)) and kern.W_std != 2.5
    theta = kern.theta
    np.testing.assert_allclose(kern.clone_with_theta(theta).theta, theta, rtol=1e-15)
    K, grad = kern(X, eval_gradient=True)
    np.testing.assert_allclose(K, kern(X), rtol=1e-12)
    np.testing.assert_allclose(np.diag(K), kern.diag(X), rtol=1e-12)
    assert kern(X, Y).shape == (6, 4) and grad.shape == (6, 6, len(theta))
    fd = finite_differences(lambda t: kern.clone_with_theta(t)(X), theta)
    np.testing.assert_allclose(grad, fd, rtol=1e-6, atol=1e-7 * np.max(np.abs(K)))
    with pytest.raises(ValueError, match="Gradient can only be evaluated"):
        kern(X, Y, eval_gradient=True)


def test_sklearn_gaussian_process_classifier_with_the_ntk_kernel(rng):
    X, _ = relevant_feature_problem(rng, n=60)
    labels = (X[:, 0] > 0).astype(int)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # bound warnings of scikit-learn's own optimiser
        gpc = GaussianProcessClassifier(kernel=NTKKernel(depth=1), random_state=0).fit(X, labels)
    assert gpc.score(X, labels) >= 0.95


@pytest.mark.parametrize("ridge, learning_rate", [(0.0, 1.0), (1e-3, 0.5)])
def test_select_time_is_the_gcv_optimum_of_a_brute_force_grid(rng, ridge, learning_rate):
    X, y = relevant_feature_problem(rng, n=40)
    Y = np.column_stack([y, np.cos(X[:, 1])])
    K = ntk.infinite_width_ntk(ntk.MLP(3, [8], W_std=1.2, b_std=0.3), X)
    lam, V = np.linalg.eigh(K)
    lam = np.maximum(lam, 0)
    n, N = len(K), Y.size

    def gcv(t):  # the flow's smoother built by numpy, and GCV of it
        s = lam + ridge
        shrink = lam * -np.expm1(-learning_rate * t * s / N) / np.where(s > 0, s, 1)
        H = (V * shrink) @ V.T
        return np.sum((Y - H @ Y) ** 2) / N / (1 - np.trace(H) / n) ** 2

    with ntk.SpectralSolver(K) as solver:
        chosen = solver.select_time(Y, ridge=ridge, learning_rate=learning_rate)
    assert np.isfinite(chosen.time) and chosen.score == pytest.approx(gcv(chosen.time), rel=1e-8)
    brute = min(gcv(t) for t in np.geomspace(chosen.time / 1e3, chosen.time * 1e3, 4001))
    assert chosen.score <= brute * (1 + 1e-8)
    with ntk.SpectralSolver(np.zeros((3, 3))) as zero, pytest.raises(ntk.InvalidArgumentError, match="no positive"):
        zero.select_time(np.ones(3))


def test_select_time_learns_nothing_from_noise(rng):
    """Pure-noise targets: GCV decreases all the way to t = 0 (predicting the offsets)."""
    K = ntk.infinite_width_ntk(ntk.MLP(2, [3], activation="gelu", W_std=1.2, b_std=0.2), rng.standard_normal((7, 2)))
    for seed in range(6):
        y = np.random.default_rng(seed).standard_normal(7)
        with ntk.SpectralSolver(K) as solver:
            chosen = solver.select_time(y)
        if chosen.time == 0:
            assert chosen.score == pytest.approx(np.mean(y**2), rel=1e-12)
            return
    pytest.fail("no noise draw made t = 0 the GCV optimum")


def test_nystrom_gcv_objective_and_tuning(rng):
    """The Nyström GCV: NystromRidge's own score for the same centres and ridge, gradients by
    central differences, and tuning on it through the estimator's tune_centers."""
    X, y = relevant_feature_problem(rng, n=60)
    C = X[:12]
    net = ntk.MLP(3, [4, 4], activation="erf")
    theta = np.array([1.2, 0.3, 0.9, 1.4, 0.7, 0.05, 1.3])

    def value(t):
        return ntk.kernel_objective(net, X, y, "gcv", W_std=t[0], b_std=t[1], input_scales=t[2:5], ridge=t[5],
                                    amplitude=t[6], centers=C)[0]

    v, g = ntk.kernel_objective(net, X, y, "gcv", W_std=1.2, b_std=0.3, input_scales=theta[2:5], ridge=0.05,
                                amplitude=1.3, centers=C)
    np.testing.assert_allclose(g, finite_differences(value, theta), rtol=1e-6, atol=1e-7 * v)
    with ntk.MLP(3, [4, 4], activation="erf", W_std=1.2, b_std=0.3) as scaled:
        s = theta[2:5]
        with ntk.NystromRidge(scaled, X * s, y, 0.05 / 1.3, None, centers=C * s) as model:
            assert model.select_ridge([0.05 / 1.3]).scores[0] == pytest.approx(v, rel=1e-9)
    with pytest.raises(ntk.InvalidArgumentError, match="objective is GCV"):
        ntk.kernel_objective(net, X, y, "lml", centers=C)
    model = NTKRegressor(widths=(1, 1), tune="gcv", ard=True, n_restarts=0, tune_max_samples=20, tune_centers=15,
                         random_state=0).fit(X, y)
    assert model.tuning_.converged and model.input_scales_[0] > max(model.input_scales_[1:])
    with pytest.raises(ValueError, match="tune_centers"):
        NTKRegressor(tune="lml", tune_centers=10).fit(X, y)


def test_tuning_reports_progress_and_can_be_cancelled(rng):
    X, y = relevant_feature_problem(rng, n=30)
    seen = []
    ntk.tune_kernel(X, y, objective="gcv", n_restarts=1, progress=seen.append)
    assert seen and seen == sorted(seen) and seen[-1] == pytest.approx(1.0)
    with pytest.raises(ntk.CancelledError, match="cancelled"):
        ntk.tune_kernel(X, y, objective="gcv", progress=lambda fraction: False)
