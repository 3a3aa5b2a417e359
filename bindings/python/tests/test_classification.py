"""Classification with cross-entropy: Newton's solution against scipy and scikit-learn, Nyström
against dense, the approximate leave-one-out against refits, the Laplace approximation against
scikit-learn's Gaussian-process classifier and a dense numpy Hessian, the estimator's losses,
and bad input."""

import warnings

import numpy as np
import pytest

import ntk

sklearn = pytest.importorskip("sklearn")
scipy = pytest.importorskip("scipy")
from scipy.integrate import quad  # noqa: E402
from scipy.optimize import minimize  # noqa: E402
from sklearn.gaussian_process import GaussianProcessClassifier  # noqa: E402
from sklearn.gaussian_process.kernels import Kernel  # noqa: E402
from sklearn.linear_model import LogisticRegression  # noqa: E402

from ntk.sklearn import NTKClassifier  # noqa: E402
from sklearn.exceptions import ConvergenceWarning  # noqa: E402


def rel(a, b):
    return np.max(np.abs(np.asarray(a) - np.asarray(b))) / max(np.max(np.abs(b)), 1e-300)


def problem(n=60, d=4, k=3, seed=0, noise=1.0):
    """Points, labels from a noisy linear rule (not separable), and the relu NTK with a test set."""
    rng = np.random.default_rng(seed)
    d = max(d, k)
    X, Xt = rng.standard_normal((n, d)), rng.standard_normal((9, d))
    y = np.argmax(X[:, :k] + noise * rng.standard_normal((n, k)), axis=1) if k > 2 else \
        (X[:, 0] + noise * rng.standard_normal(n) > 0).astype(int)
    with ntk.MLP(d, [64, 64], output_dim=1, seed=0) as net:
        K, Kt, Ktt = ntk.infinite_width_ntk(net, X), ntk.infinite_width_ntk(net, Xt, X), ntk.infinite_width_ntk(net, Xt)
    return X, y, K, Kt, Ktt


def objective(F, y, w, ridge):
    """J = sum_i CE(softmax(F_i), y_i) + ridge/2 |w|^2 and the probabilities."""
    top = F.max(1, keepdims=True)
    lse = np.log(np.exp(F - top).sum(1)) + top[:, 0]
    return np.sum(lse - F[np.arange(len(y)), y]) + ridge / 2 * np.sum(w * w), np.exp(F - lse[:, None])


def dense_hessian(Phi, P, ridge):
    """H = sum_i (phi_i^T phi_i) kron W_i + ridge I, W_i = diag p_i - p_i p_i^T (numpy, r k x r k)."""
    r, k = Phi.shape[1], P.shape[1]
    H = ridge * np.eye(r * k)
    for phi, p in zip(Phi, P):
        H += np.kron(np.outer(phi, phi), np.diag(p) - np.outer(p, p))
    return H


def features(K):
    """Phi = V sqrt(Lambda) on the numerical range, B = V / sqrt(Lambda)."""
    values, vectors = np.linalg.eigh(K)
    keep = values > len(K) * np.finfo(float).eps * values.max()
    return vectors[:, keep] * np.sqrt(values[keep]), vectors[:, keep] / np.sqrt(values[keep])


def reference_logits(Phi, y, k, ridge, f0=0.0):
    """The minimiser of J(w) on features Phi by scipy's L-BFGS-B, polished by five plain Newton
    steps on the dense numpy Hessian; returns the logits f0 + Phi w."""
    Y = np.eye(k)[y]

    def fun(w):
        W = w.reshape(-1, k)
        value, P = objective(f0 + Phi @ W, y, W, ridge)
        return value, (Phi.T @ (P - Y) + ridge * W).ravel()

    def hess(w):
        return dense_hessian(Phi, objective(f0 + Phi @ w.reshape(-1, k), y, 0, 0)[1], ridge)

    start = minimize(fun, np.zeros(Phi.shape[1] * k), jac=True, method="L-BFGS-B",
                     options=dict(gtol=1e-10, ftol=1e-16, maxiter=50000)).x
    for _ in range(5):
        start = start - np.linalg.solve(hess(start), fun(start)[1])
    return f0 + Phi @ start.reshape(-1, k)


@pytest.mark.parametrize("k", [2, 3, 5])
def test_newton_matches_lbfgs_and_is_stationary(k):
    X, y, K, Kt, _ = problem(k=k)
    ridge = 0.3
    f0 = 0.1 * np.random.default_rng(1).standard_normal((len(y), k))
    with ntk.KernelLogisticRegression(K, y, ridge=ridge, f0_train=f0, n_classes=k, tol=1e-13) as model:
        assert model.converged and 2 <= model.n_iter <= 20
        Phi, B = features(K)
        Y = np.eye(k)[y]
        assert rel(model.train_logits, reference_logits(Phi, y, k, ridge, f0)) < 1e-8
        # Stationarity: beta = (Y - P)/ridge for a full-rank kernel; logits = f0 + K beta.
        P = ntk.softmax(model.train_logits)
        assert rel(model.dual_coef_, (Y - P) / ridge) < 1e-10
        assert rel(model.train_logits, f0 + K @ model.dual_coef_) < 1e-10
        assert rel(model.predict_logits(Kt), Kt @ model.dual_coef_) < 1e-12
        assert np.allclose(model.predict_proba(Kt).sum(1), 1, atol=1e-14)


def test_binary_linear_kernel_equals_scikit_learn_logistic_regression():
    rng = np.random.default_rng(3)
    X = rng.standard_normal((80, 5))
    y = (X @ rng.standard_normal(5) + rng.standard_normal(80) > 0).astype(int)
    Xt = rng.standard_normal((10, 5))
    C = 0.7
    lr = LogisticRegression(C=C, fit_intercept=False, solver="newton-cholesky", tol=1e-14, max_iter=1000).fit(X, y)
    # Two softmax logits with penalty ridge/2 (|w1|^2 + |w2|^2) are binary logistic regression in
    # w = w1 - w2 with penalty ridge/4 |w|^2: scikit-learn's |w|^2 / (2C) means ridge = 2/C.
    with ntk.KernelLogisticRegression(X @ X.T, y, ridge=2 / C) as model:
        logits = model.predict_logits(Xt @ X.T)
    assert rel(logits[:, 1] - logits[:, 0], lr.decision_function(Xt)) < 1e-8


def test_multiclass_linear_kernel_equals_scikit_learn_multinomial():
    rng = np.random.default_rng(4)
    X = rng.standard_normal((120, 6))
    y = np.argmax(X[:, :4] + 0.8 * rng.standard_normal((120, 4)), axis=1)
    Xt = rng.standard_normal((10, 6))
    C = 0.5
    lr = LogisticRegression(C=C, fit_intercept=False, solver="newton-cg", tol=1e-14, max_iter=1000).fit(X, y)
    with ntk.KernelLogisticRegression(X @ X.T, y, ridge=1 / C) as model:
        assert rel(model.predict_proba(Xt @ X.T), lr.predict_proba(Xt)) < 1e-8


def test_nystrom_with_every_point_as_centre_is_the_dense_model():
    X, y, K, Kt, _ = problem(k=3)
    with ntk.KernelLogisticRegression(K, y, ridge=0.5) as dense, \
            ntk.KernelLogisticRegression.nystrom(K, K, y, ridge=0.5) as nys:
        assert nys.n_columns == len(K)
        assert rel(nys.train_logits, dense.train_logits) < 1e-10
        assert rel(nys.predict_logits(Kt), dense.predict_logits(Kt)) < 1e-10
        assert abs(nys.loo().log_loss - dense.loo().log_loss) < 1e-10
        assert abs(nys.log_marginal_likelihood() - dense.log_marginal_likelihood()) < 1e-9
    # Fewer centres: the Nyström kernel's model, checked by its own stationarity.
    idx = np.arange(0, len(K), 3)
    with ntk.KernelLogisticRegression.nystrom(K[:, idx], K[np.ix_(idx, idx)], y, ridge=0.5) as nys:
        L = np.linalg.cholesky(K[np.ix_(idx, idx)])
        Phi = np.linalg.solve(L, K[:, idx].T).T  # K_nm L^-T: the Nyström kernel's features
        assert rel(nys.train_logits, reference_logits(Phi, y, 3, 0.5)) < 1e-8
        assert rel(nys.predict_logits(Kt[:, idx]), Kt[:, idx] @ nys.dual_coef_) < 1e-12
        # The same model from the centre points: the library computes K(X, C) itself.
        with ntk.MLP(X.shape[1], [64, 64], output_dim=1, seed=0) as net, \
                ntk.KernelLogisticRegression.on_centers(net, X, X[idx], y, ridge=0.5, tol=1e-13) as points, \
                ntk.KernelLogisticRegression.nystrom(ntk.infinite_width_ntk(net, X, X[idx]),
                                                     ntk.infinite_width_ntk(net, X[idx]), y, ridge=0.5,
                                                     tol=1e-13) as tight:
            # (K(X, C) as a cross-kernel: the relu kernel of a point with itself differs by ~1e-8 between
            # the symmetric and the cross computation, neural-tangents' own accuracy near the diagonal)
            assert points.n_columns == len(idx)
            assert rel(points.train_logits, tight.train_logits) < 1e-10
            assert rel(points.dual_coef_, tight.dual_coef_) < 1e-10
            with pytest.raises(ntk.DimensionMismatchError):
                ntk.KernelLogisticRegression.on_centers(net, X, X[idx, :2], y)
            with pytest.raises(ntk.InvalidArgumentError):
                ntk.KernelLogisticRegression.on_centers(net, X, X[idx], y, kernel="rbf")


@pytest.mark.parametrize("k", [2, 3])
def test_approximate_leave_one_out_is_within_two_percent_of_refits(k):
    X, y, K, _, _ = problem(n=50, k=k, seed=2)
    ridge = 1.0
    with ntk.KernelLogisticRegression(K, y, ridge=ridge) as model:
        loo = model.loo()
    losses = []
    for i in range(len(y)):
        rest = np.delete(np.arange(len(y)), i)
        with ntk.KernelLogisticRegression(K[np.ix_(rest, rest)], y[rest], ridge=ridge, n_classes=k) as refit:
            p = ntk.softmax(refit.predict_logits(K[i:i + 1, rest]))[0]
        losses.append(-np.log(p[y[i]]))
    assert abs(loo.log_loss - np.mean(losses)) / np.mean(losses) < 0.02
    probabilities = ntk.softmax(loo.logits)
    assert np.isclose(loo.log_loss, np.mean(-np.log(probabilities[np.arange(len(y)), y])), rtol=1e-12)


def test_ridge_grid_keeps_the_smallest_leave_one_out_score():
    X, y, K, Kt, _ = problem(k=3, seed=5)
    grid = [10.0, 0.01, 1.0, 0.1]
    with ntk.KernelLogisticRegression(K, y, ridges=grid) as chosen:
        scores = chosen.ridge_scores
        assert chosen.ridge == grid[int(np.argmin(scores))]
        for z, score in zip(grid, scores):
            with ntk.KernelLogisticRegression(K, y, ridge=z) as single:
                assert abs(single.loo().log_loss - score) < 1e-8
                if z == chosen.ridge:
                    assert rel(single.predict_logits(Kt), chosen.predict_logits(Kt)) < 1e-8


class _Precomputed(Kernel):
    """A fixed kernel matrix indexed by row numbers, for scikit-learn's GP classifier."""

    def __init__(self, matrix):
        self.matrix = matrix

    def __call__(self, A, B=None, eval_gradient=False):
        a = np.asarray(A, dtype=int).ravel()
        b = a if B is None else np.asarray(B, dtype=int).ravel()
        return self.matrix[np.ix_(a, b)]

    def diag(self, A):
        return np.diag(self(A))

    def is_stationary(self):
        return False

    @property
    def hyperparameters(self):
        return []

    @property
    def theta(self):
        return np.array([])

    @theta.setter
    def theta(self, value):
        pass

    @property
    def bounds(self):
        return np.empty((0, 2))


def test_binary_laplace_equals_scikit_learn_gaussian_process_classifier():
    X, y, K, Kt, Ktt = problem(n=50, k=2, seed=1)
    n, m = len(y), len(Kt)
    full = np.block([[K, Kt.T], [Kt, Ktt]])
    gpc = GaussianProcessClassifier(kernel=_Precomputed(full), optimizer=None).fit(np.arange(n)[:, None], y)
    est = gpc.base_estimator_
    # Two softmax logits, each with prior K/ridge: their difference has prior 2K/ridge = K at ridge 2.
    with ntk.KernelLogisticRegression(K, y, ridge=2.0) as model:
        assert abs(model.log_marginal_likelihood() - gpc.log_marginal_likelihood_value_) < 1e-9
        f = model.train_logits
        assert rel(f[:, 1] - f[:, 0], est.f_cached) < 1e-9
        mean, cov = model.predict_logits(Kt), model.latent_covariance(Kt, np.diag(Ktt))
        v = np.linalg.solve(est.L_, est.W_sr_[:, None] * Kt.T)
        var = np.diag(Ktt) - np.einsum("ij,ij->j", v, v)
        assert rel(mean[:, 1] - mean[:, 0], Kt @ (est.y_train_ - est.pi_)) < 1e-9
        assert rel(cov[:, 0, 0] + cov[:, 1, 1] - 2 * cov[:, 0, 1], var) < 1e-9
        p = model.predict_proba(Kt, k_test_diag=np.diag(Ktt), integrate=True)
    d = mean[:, 1] - mean[:, 0]
    for i in range(m):
        def integrand(t):
            return np.exp(-t * t / 2) / np.sqrt(2 * np.pi) / (1 + np.exp(-(d[i] + np.sqrt(var[i]) * t)))

        exact = quad(integrand, -40, 40, epsabs=1e-14, epsrel=1e-13)[0]
        assert abs(p[i, 1] - exact) < 1e-10
    # scikit-learn approximates the same integral by five error functions.
    assert np.max(np.abs(p[:, 1] - gpc.predict_proba(np.arange(n, n + m)[:, None])[:, 1])) < 1e-3


@pytest.mark.parametrize("k", [2, 4])
def test_latent_covariance_and_marginal_likelihood_match_a_dense_hessian(k):
    X, y, K, Kt, Ktt = problem(n=40, k=k, seed=3)
    ridge = 0.7
    with ntk.KernelLogisticRegression(K, y, ridge=ridge) as model:
        Phi, B = features(K)
        P = ntk.softmax(model.train_logits)
        H = dense_hessian(Phi, P, ridge)
        Hinv = np.linalg.inv(H)
        phi_t = Kt @ B
        cov = model.latent_covariance(Kt, np.diag(Ktt))
        for i in range(len(Kt)):
            E = np.kron(phi_t[i][None, :], np.eye(k))
            outside = (Ktt[i, i] - phi_t[i] @ phi_t[i]) / ridge
            assert rel(cov[i], E @ Hinv @ E.T + outside * np.eye(k)) < 1e-9
        w = B.T @ K @ model.dual_coef_  # the weights: beta = B w, B^T K B = I
        J, _ = objective(model.train_logits, y, w, ridge)
        logdet = np.linalg.slogdet(H / ridge)[1]
        assert abs(model.log_marginal_likelihood() - (-J - logdet / 2)) < 1e-8 * abs(J)


def test_separable_data_stay_finite_and_bad_input_raises():
    X = np.array([[-2.0], [-1.0], [1.0], [2.0]])
    y = np.array([0, 0, 1, 1])
    K = X @ X.T + 1.0
    with ntk.KernelLogisticRegression(K, y, ridge=1e-4) as model:
        assert model.converged and np.all(np.isfinite(model.train_logits))
        assert np.all(np.argmax(model.train_logits, 1) == y)
    # A vanishing ridge on separable data: logits of order log(1/ridge), finite, and Newton stops
    # (converged, or at the line search's limit with a warning) — never an overflow.
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        with ntk.KernelLogisticRegression(K, y, ridge=1e-12) as model:
            logits = model.train_logits
    assert np.all(np.isfinite(logits)) and np.all(np.argmax(logits, 1) == y) and np.abs(logits).max() < 100
    for bad, error in [(dict(ridge=0.0), ntk.InvalidArgumentError), (dict(ridge=-1.0), ntk.InvalidArgumentError),
                       (dict(ridges=[]), ntk.InvalidArgumentError), (dict(ridges=[1.0, 0.0]), ntk.InvalidArgumentError),
                       (dict(tol=0.0), ntk.InvalidArgumentError), (dict(max_iter=0), ntk.InvalidArgumentError),
                       (dict(n_classes=1), ntk.InvalidArgumentError), (dict(n_classes=3), None)]:
        if error is None:
            with ntk.KernelLogisticRegression(K, y, **bad) as model:  # a class without points is allowed
                assert model.n_classes == 3 and np.all(model.predict_proba(K)[:, 2] < 0.5)
            continue
        with pytest.raises(error):
            ntk.KernelLogisticRegression(K, y, **bad)
    with pytest.raises(ntk.InvalidArgumentError, match="outside"):
        ntk.KernelLogisticRegression(K, np.array([0, 1, 2, 1]), n_classes=2)
    with pytest.raises(ntk.InvalidArgumentError, match="integer"):
        ntk.KernelLogisticRegression(K, np.array([0.5, 0, 1, 1]))
    with pytest.raises(ntk.DimensionMismatchError):
        ntk.KernelLogisticRegression(K, y[:3])
    with pytest.raises(ntk.DimensionMismatchError):
        ntk.KernelLogisticRegression(K, y, f0_train=np.zeros((4, 3)))
    with pytest.raises(ntk.NonFiniteError):
        ntk.KernelLogisticRegression(np.where(np.eye(4) > 0, np.nan, K), y)
    with pytest.raises(ntk.NotPositiveDefiniteError):
        ntk.KernelLogisticRegression(np.zeros((4, 4)), y)
    with pytest.raises(ntk.DimensionMismatchError):
        ntk.KernelLogisticRegression.nystrom(K[:, :2], K[:3, :3], y)
    with ntk.KernelLogisticRegression(K, y, ridge=1.0) as model:
        with pytest.raises(ntk.DimensionMismatchError):
            model.predict_logits(K[:, :3])
        with pytest.raises(ntk.DimensionMismatchError):
            model.latent_covariance(K, np.ones(3))
    live = ntk.live_handle_count()
    with ntk.KernelLogisticRegression(K, y, ridge=1.0, max_iter=1) as model:
        assert not model.converged and model.n_iter == 1
    assert ntk.live_handle_count() == live


def test_a_dense_fit_beyond_the_memory_budget_fails_before_any_work():
    X, y, K, _, _ = problem(n=60, k=3)
    previous = ntk.memory_budget()
    ntk.set_memory_budget(100_000)  # 5 n^2 doubles = 144,000 bytes do not fit
    try:
        with pytest.raises(ntk.OutOfMemoryError, match="Nyström"):
            ntk.KernelLogisticRegression(K, y)
    finally:
        ntk.set_memory_budget(previous)
    with ntk.KernelLogisticRegression(K, y) as model:
        assert model.converged


def test_progress_cancels_a_fit():
    X, y, K, _, _ = problem(k=3)
    live = ntk.live_handle_count()
    with pytest.raises(ntk.CancelledError):
        ntk.KernelLogisticRegression(K, y, ridges=[1.0, 0.1], progress=lambda fraction: fraction < 0.4)
    assert ntk.live_handle_count() == live


def test_estimator_cross_entropy_is_kernel_logistic_regression_and_its_flow():
    X, y, _, _, _ = problem(n=80, k=3, seed=7)
    Xt = np.random.default_rng(8).standard_normal((7, X.shape[1]))
    clf = NTKClassifier(widths=(64, 64), ridge=0.05).fit(X, y)
    K, Kt = ntk.infinite_width_ntk(clf.network_, X), ntk.infinite_width_ntk(clf.network_, Xt, X)
    z = 0.05 * np.mean(np.diag(K))
    with ntk.KernelLogisticRegression(K, y, ridge=z) as model:
        assert rel(clf.decision_function(Xt), model.predict_logits(Kt)) < 1e-7
        assert rel(clf.predict_proba(Xt), model.predict_proba(Kt)) < 1e-7
    assert clf.temperature_ == 1.0 and clf.converged_ and clf.ridge_ == pytest.approx(z, rel=1e-14)
    # A finite time: the cross-entropy gradient flow's logits (eq. 13) at the test points.
    flow = NTKClassifier(widths=(64, 64), time=20.0).fit(X, y)
    _, test = ntk.gradient_flow_ode(K, np.eye(3)[y], [20.0], loss="cross_entropy", K_test_train=Kt)
    assert rel(flow.decision_function(Xt), test[0]) < 1e-8
    # Selected ridges: approximate LOO log losses on the relative grid.
    chosen = NTKClassifier(widths=(64, 64), ridges=[1e-3, 1e-2, 1e-1, 1.0]).fit(X, y)
    assert chosen.ridge_scores_.shape == (4,) and chosen.ridge_ == pytest.approx(
        [1e-3, 1e-2, 1e-1, 1.0][int(np.argmin(chosen.ridge_scores_))] * np.mean(np.diag(K)), rel=1e-12)


def test_estimator_nystrom_and_the_mse_temperature():
    X, y, _, _, _ = problem(n=120, k=2, seed=9)
    nys = NTKClassifier(widths=(64,), solver="nystrom", n_centers=30, ridge=0.1, random_state=0).fit(X, y)
    assert nys.X_fit_.shape == (30, X.shape[1]) and nys.dual_coef_.shape == (30, 2) and nys.score(X, y) > 0.7
    # MSE: the temperature is fitted on the exact leave-one-out outputs of kernel ridge.
    mse = NTKClassifier(loss="mse", widths=(64,), ridge=0.1).fit(X, y)
    K = ntk.infinite_width_ntk(mse.network_, X)
    Y = np.eye(2)[y]
    loo = np.empty_like(Y)
    for i in range(len(y)):
        rest = np.delete(np.arange(len(y)), i)
        mean = Y[rest].mean(0)
        alpha = np.linalg.solve(K[np.ix_(rest, rest)] + mse.ridge_ * np.eye(len(rest)), Y[rest] - mean)
        loo[i] = mean + K[i, rest] @ alpha
    # (the estimator centres with the mean of all n rows, the refits with their own: same LOO to O(1/n^2))
    grid = np.exp(np.linspace(-6, 3, 2001))
    losses = [np.mean(-np.log(ntk.softmax(loo / t)[np.arange(len(y)), y])) for t in grid]
    assert abs(np.log(mse.temperature_) - np.log(grid[int(np.argmin(losses))])) < 0.05
    with pytest.raises(ValueError, match="loss"):
        NTKClassifier(loss="hinge").fit(X, y)
    with pytest.raises(ValueError, match="cg"):
        NTKClassifier(solver="cg", ridge=0.1).fit(X, y)
    with pytest.raises(ValueError, match="ridge > 0"):
        NTKClassifier(ridge=0.0).fit(X, y)
    with pytest.raises(ValueError, match="one class"):
        NTKClassifier().fit(X, np.zeros(len(y)))
    with pytest.raises(ValueError, match="uniform centres"):
        NTKClassifier(solver="nystrom", centers="pivoted_cholesky").fit(X, y)
    assert not hasattr(nys, "_labels") or nys._labels is None  # no copy of the labels is kept
    # Nyström at a finite time: the ridge N / (eta t) stands for the training time.
    timed = NTKClassifier(widths=(64,), solver="nystrom", n_centers=30, time=50.0, learning_rate=2.0,
                          random_state=0).fit(X, y)
    assert timed.ridge_ == pytest.approx(len(y) * 2 / (2.0 * 50.0), rel=1e-14)
    with pytest.warns(ConvergenceWarning, match="Newton"):
        NTKClassifier(widths=(64,), ridge=0.1, max_iter=1).fit(X, y)
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        NTKClassifier(widths=(64,), ridge=0.1).fit(X, y)  # converges: no warning


def test_softmax_and_log_softmax_match_scipy_without_overflow():
    from scipy.special import log_softmax, softmax

    z = np.array([[1000.0, 0.0, -1000.0], [1e-3, 2e-3, 3e-3], [-800.0, -800.0, -801.0]])
    assert rel(ntk.log_softmax(z), log_softmax(z, axis=1)) < 1e-15
    assert rel(ntk.softmax(z), softmax(z, axis=1)) < 1e-15
    assert np.all(np.isfinite(ntk.log_softmax(z))) and np.allclose(ntk.softmax(z).sum(1), 1, atol=1e-15)
