"""The family of interpolators: ensemble mean and covariance, GP posteriors, sampled ensembles.

References are independent: scipy.linalg.expm and numpy.linalg (pinv, solve) on the formulas of
Lee et al. 2019 (eq. 16), scipy.stats.multivariate_normal for the likelihood, and sampling of
finite networks for the infinite-width limit."""

import numpy as np
import pytest
import scipy.linalg
import scipy.stats

import ntk
from ntk.sklearn import NTKRegressor

TIMES = [0.0, 0.7, 5.0, np.inf]


def kernels(rng, n, m, rank=None):
    """PSD NNGP and NTK kernels on n training + m test points (rank-deficient with `rank`)."""
    p = rank or (n + m) * 2
    F1, F2 = rng.standard_normal((n + m, p)), rng.standard_normal((n + m, p))
    nngp = F1 @ F1.T / p
    ntk_ = nngp + F2 @ F2.T / p
    return nngp, ntk_


def reference(nngp, ntk_, Y, t, n, regime, eta, z, on_train=False):
    """Lee et al. 2019 eq. 16 with expm and pinv, straight from the formula."""
    N = Y.size
    trained = ntk_ if regime == "ntk" else nngp
    Tz = trained[:n, :n] + z * np.eye(n)
    inverse = np.linalg.pinv(Tz, rcond=1e-10, hermitian=True)
    F = inverse if t == np.inf else inverse @ (np.eye(n) - scipy.linalg.expm(-eta * t * Tz / N))
    rows = slice(0, n) if on_train else slice(n, None)
    A = trained[rows, :n] @ F
    middle = nngp[:n, :n] + (z * np.eye(n) if regime == "nngp" else 0)
    cov = nngp[rows, rows] + A @ middle @ A.T - A @ nngp[:n, rows] - nngp[rows, :n] @ A.T
    return A @ Y, cov


@pytest.mark.parametrize("regime", ["ntk", "nngp"])
@pytest.mark.parametrize("ridge", [0.0, 0.3])
@pytest.mark.parametrize("rank", [None, 5])
def test_against_expm_closed_form(rng, regime, ridge, rank):
    n, m = 9, 4
    nngp, ntk_ = kernels(rng, n, m, rank)
    Y = rng.standard_normal((n, 2))
    mean, cov = ntk.ensemble_gradient_flow(nngp[:n, :n], ntk_[:n, :n], Y, TIMES, nngp_test_train=nngp[n:, :n],
                                           ntk_test_train=ntk_[n:, :n], nngp_test=nngp[n:, n:], regime=regime,
                                           learning_rate=0.8, ridge=ridge)
    assert mean.shape == (4, m, 2) and cov.shape == (4, m, m)
    for i, t in enumerate(TIMES):
        ref_mean, ref_cov = reference(nngp, ntk_, Y, t, n, regime, 0.8, ridge)
        scale = max(1.0, np.abs(ref_cov).max())
        np.testing.assert_allclose(mean[i], ref_mean, atol=1e-9 * max(1.0, np.abs(ref_mean).max()), rtol=0)
        np.testing.assert_allclose(cov[i], ref_cov, atol=1e-9 * scale, rtol=0)
        assert np.array_equal(cov[i], cov[i].T)
        assert np.linalg.eigvalsh(cov[i]).min() >= -1e-10 * scale
    # The variances alone, from the test kernel's diagonal or from the whole of it.
    for given in (np.diag(nngp[n:, n:]).copy(), nngp[n:, n:]):
        mean_d, var = ntk.ensemble_gradient_flow(nngp[:n, :n], ntk_[:n, :n], Y, TIMES, nngp_test_train=nngp[n:, :n],
                                                 ntk_test_train=ntk_[n:, :n], nngp_test=given, regime=regime,
                                                 learning_rate=0.8, ridge=ridge, covariance="diagonal")
        assert var.shape == (4, m)
        np.testing.assert_array_equal(mean_d, mean)
        for i, t in enumerate(TIMES):
            ref_cov = reference(nngp, ntk_, Y, t, n, regime, 0.8, ridge)[1]
            np.testing.assert_allclose(var[i], np.diag(ref_cov), atol=1e-9 * max(1.0, np.abs(ref_cov).max()), rtol=0)


@pytest.mark.parametrize("regime", ["ntk", "nngp"])
def test_on_the_training_points(rng, regime):
    n = 8
    nngp, ntk_ = kernels(rng, n, 0)
    Y = rng.standard_normal(n)                        # 1-D: taken as (n, 1)
    mean, cov = ntk.ensemble_gradient_flow(nngp, ntk_ if regime == "ntk" else None, Y, TIMES, regime=regime)
    assert mean.shape == (4, n, 1) and cov.shape == (4, n, n)
    for i, t in enumerate(TIMES):
        ref_mean, ref_cov = reference(nngp, ntk_, Y[:, None], t, n, regime, 1.0, 0.0, on_train=True)
        np.testing.assert_allclose(mean[i], ref_mean, atol=1e-9, rtol=0)
        np.testing.assert_allclose(cov[i], ref_cov, atol=1e-9 * np.abs(ref_cov).max() + 1e-12, rtol=0)
    # At t = 0 nothing is learned: the prior; at t = inf a full-rank kernel interpolates exactly
    # and every network agrees on the training points.
    np.testing.assert_allclose(mean[0], 0, atol=1e-12)
    np.testing.assert_allclose(cov[0], nngp, atol=1e-12)
    np.testing.assert_allclose(mean[-1][:, 0], Y, atol=1e-8)
    assert np.abs(cov[-1]).max() < 1e-8 * np.abs(nngp).max()


@pytest.mark.parametrize("regime", ["ntk", "nngp"])
def test_variances_on_the_training_points_and_their_errors(rng, regime):
    n = 8
    nngp, ntk_ = kernels(rng, n, 3)
    Y = rng.standard_normal(n)
    trained = ntk_[:n, :n] if regime == "ntk" else None
    _, cov = ntk.ensemble_gradient_flow(nngp[:n, :n], trained, Y, TIMES, regime=regime, ridge=0.1)
    _, var = ntk.ensemble_gradient_flow(nngp[:n, :n], trained, Y, TIMES, regime=regime, ridge=0.1,
                                        covariance="diagonal")
    assert var.shape == (4, n)
    np.testing.assert_allclose(var, np.diagonal(cov, axis1=1, axis2=2), atol=1e-12 * np.abs(nngp).max(), rtol=0)
    test = dict(nngp_test_train=nngp[n:, :n], ntk_test_train=ntk_[n:, :n], regime=regime)
    with pytest.raises(ntk.InvalidArgumentError, match="covariance"):
        ntk.ensemble_gradient_flow(nngp[:n, :n], trained, Y, TIMES, covariance="variances", nngp_test=nngp[n:, n:],
                                   **test)
    with pytest.raises(ntk.DimensionMismatchError, match=r"nngp_test must have shape \(3,\)"):
        ntk.ensemble_gradient_flow(nngp[:n, :n], trained, Y, TIMES, covariance="diagonal", nngp_test=nngp[n:, :n],
                                   **test)


def test_nngp_regime_closed_form_and_gp_limit(rng):
    """The NNGP regime's own form, K - K_xX K_z^-1 (I - exp(-2 eta t K_z / N)) K_Xx, and its
    t = inf limit, the GP posterior with noise variance z."""
    n, m, z, eta = 10, 3, 0.25, 2.0
    nngp, ntk_ = kernels(rng, n, m)
    Y = rng.standard_normal((n, 3))
    times = [1.5, np.inf]
    _, cov = ntk.ensemble_gradient_flow(nngp[:n, :n], None, Y, times, nngp_test_train=nngp[n:, :n],
                                        nngp_test=nngp[n:, n:], regime="nngp", ridge=z, learning_rate=eta)
    Kz = nngp[:n, :n] + z * np.eye(n)
    E2 = scipy.linalg.expm(-2 * eta * 1.5 * Kz / Y.size)
    expected = nngp[n:, n:] - nngp[n:, :n] @ np.linalg.solve(Kz, (np.eye(n) - E2) @ nngp[:n, n:])
    np.testing.assert_allclose(cov[0], expected, atol=1e-10)
    mean, gp_cov, _ = ntk.gp_posterior(nngp[:n, :n], Y, nngp[n:, :n], nngp[n:, n:], ridge=z)
    ens_mean, _ = ntk.ensemble_gradient_flow(nngp[:n, :n], None, Y, [np.inf], nngp_test_train=nngp[n:, :n],
                                             nngp_test=nngp[n:, n:], regime="nngp", ridge=z)
    np.testing.assert_allclose(cov[1], gp_cov, atol=1e-10)
    np.testing.assert_allclose(ens_mean[0], mean, atol=1e-10)


def test_gp_posterior_against_numpy_and_scipy(rng):
    n, m, z = 12, 5, 0.1
    nngp, _ = kernels(rng, n, m)
    Y = rng.standard_normal((n, 2))
    f0, f0t = rng.standard_normal((n, 2)), rng.standard_normal((m, 2))
    mean, cov, lml = ntk.gp_posterior(nngp[:n, :n], Y, nngp[n:, :n], nngp[n:, n:], ridge=z, f0_train=f0, f0_test=f0t)
    Kz = nngp[:n, :n] + z * np.eye(n)
    np.testing.assert_allclose(mean, f0t + nngp[n:, :n] @ np.linalg.solve(Kz, Y - f0), atol=1e-11)
    np.testing.assert_allclose(cov, nngp[n:, n:] - nngp[n:, :n] @ np.linalg.solve(Kz, nngp[:n, n:]), atol=1e-11)
    expected = sum(scipy.stats.multivariate_normal(np.zeros(n), Kz).logpdf((Y - f0)[:, c]) for c in range(2))
    assert lml == pytest.approx(expected, rel=1e-11)
    assert np.array_equal(cov, cov.T) and np.linalg.eigvalsh(cov).min() > -1e-12


def test_marginal_likelihood_prefers_the_generating_kernel(rng):
    """Targets drawn from one NNGP prior: its kernel has a higher likelihood than a wrong one."""
    X = rng.standard_normal((60, 3))
    good = ntk.MLP(3, [1, 1], activation="erf", W_std=1.5, b_std=0.2)
    bad = ntk.MLP(3, [1, 1], activation="erf", W_std=0.3, b_std=2.0)
    K = ntk.infinite_width_nngp(good, X)
    Y = np.linalg.cholesky(K + 1e-2 * np.eye(60)) @ rng.standard_normal((60, 4))
    scores = [ntk.gp_posterior(ntk.infinite_width_nngp(net, X), Y, K[:2], K[:2, :2], ridge=1e-2)[2]
              for net in (good, bad)]
    assert scores[0] > scores[1] + 10


def test_errors(rng):
    nngp, ntk_ = kernels(rng, 4, 2)
    K, T, Y = nngp[:4, :4], ntk_[:4, :4], np.ones(4)
    with pytest.raises(ntk.InvalidArgumentError, match="regime must be one of"):
        ntk.ensemble_gradient_flow(K, T, Y, [1.0], regime="both")
    with pytest.raises(ntk.InvalidArgumentError, match="regime='ntk' needs ntk_train"):
        ntk.ensemble_gradient_flow(K, None, Y, [1.0])
    with pytest.raises(ntk.InvalidArgumentError, match="test kernels come together"):
        ntk.ensemble_gradient_flow(K, T, Y, [1.0], nngp_test_train=nngp[4:, :4])
    with pytest.raises(ntk.InvalidArgumentError, match="times must be >= 0"):
        ntk.ensemble_gradient_flow(K, T, Y, [1.0, -1.0])
    with pytest.raises(ntk.InvalidArgumentError, match="ridge must be ≥ 0"):
        ntk.ensemble_gradient_flow(K, T, Y, [1.0], ridge=-1.0)
    with pytest.raises(ntk.InvalidArgumentError, match="learning_rate must be > 0"):
        ntk.ensemble_gradient_flow(K, T, Y, [1.0], learning_rate=0.0)
    with pytest.raises(ntk.DimensionMismatchError):
        ntk.ensemble_gradient_flow(K, T[:3, :3], Y, [1.0])
    with pytest.raises(ntk.NonFiniteError, match="nngp_test"):
        bad = nngp[4:, 4:].copy()
        bad[0, 1] = np.nan
        ntk.ensemble_gradient_flow(K, T, Y, [1.0], nngp_test_train=nngp[4:, :4], ntk_test_train=ntk_[4:, :4],
                                   nngp_test=bad)
    with pytest.raises(ntk.InvalidArgumentError, match="nngp_test is not symmetric"):
        ntk.ensemble_gradient_flow(K, T, Y, [1.0], nngp_test_train=nngp[4:, :4], ntk_test_train=ntk_[4:, :4],
                                   nngp_test=np.array([[1.0, 2.0], [0.0, 1.0]]))
    singular = np.ones((4, 4))
    with pytest.raises(ntk.NotPositiveDefiniteError):
        ntk.gp_posterior(singular, Y, np.ones((1, 4)), np.ones((1, 1)))
    with pytest.raises(ntk.DimensionMismatchError, match="K_test"):
        ntk.gp_posterior(K, Y, nngp[4:, :4], np.eye(3))


def test_c_rejects_offsets_and_bad_regime(rng):
    """Through the C boundary directly: the ensemble has no offsets; regimes are checked."""
    import ctypes

    from ntk import _arrays
    from ntk._library import EnsembleOptions, Targets, lib

    K = np.eye(3) + 0.5
    Y, f0 = np.ones((3, 1)), np.zeros((3, 1))
    mean = np.empty((1, 3, 1))
    t = np.array([1.0])
    targets = Targets(1, _arrays.pointer(Y), 1, _arrays.pointer(f0), 1)
    status = lib.ntk_ensemble_gradient_flow(3, _arrays.pointer(K), 3, _arrays.pointer(K), 3, ctypes.byref(targets),
                                            None, 1, _arrays.pointer(t), None, _arrays.pointer(mean), None)
    assert status == -1 and b"targets->f0 must be NULL" in lib.ntk_last_error()
    options = EnsembleOptions(regime=7)
    targets = Targets(1, _arrays.pointer(Y), 1, None, 1)
    status = lib.ntk_ensemble_gradient_flow(3, _arrays.pointer(K), 3, _arrays.pointer(K), 3, ctypes.byref(targets),
                                            None, 1, _arrays.pointer(t), ctypes.byref(options), _arrays.pointer(mean),
                                            None)
    assert status == -1 and b"options->regime must be NTK_REGIME_NTK or NTK_REGIME_NNGP, got 7" in lib.ntk_last_error()


def test_sampled_linearized_networks_match_the_infinite_ensemble(rng):
    """200 seeds of linearised width-2048 networks, each trained from its own f(X; theta_0) with
    its own empirical NTK: mean within 5 standard errors of the limit, standard deviations within
    25 %."""
    X, Xt = rng.standard_normal((6, 3)), rng.standard_normal((4, 3))
    Y = np.sin(X[:, :1] * 2)
    net = ntk.MLP(3, [2048], activation="relu", W_std=np.sqrt(2.0), b_std=0.2)
    times = [3.0, np.inf]
    sample = ntk.sampled_ensemble(net, X, Y, times, X_test=Xt, n_networks=200, mode="linearized")
    nngp, ntk_ = ntk.infinite_width_kernels(net, X)
    nngp_tx, ntk_tx = ntk.infinite_width_kernels(net, Xt, X)
    mean, cov = ntk.ensemble_gradient_flow(nngp, ntk_, Y, times, nngp_test_train=nngp_tx, ntk_test_train=ntk_tx,
                                           nngp_test=ntk.infinite_width_nngp(net, Xt))
    assert sample.samples.shape == (200, 2, 4, 1) and sample.cov.shape == (2, 4, 4)
    std = np.sqrt(np.diagonal(cov, axis1=1, axis2=2))            # (T, m)
    sample_std = np.sqrt(np.diagonal(sample.cov, axis1=1, axis2=2))
    assert np.all(np.abs(sample.mean[..., 0] - mean[..., 0]) <= 5 * std / np.sqrt(200))
    assert np.all(np.abs(sample_std / std - 1) <= 0.25), sample_std / std


def test_sampled_trained_networks_and_arguments(rng):
    X = rng.standard_normal((5, 2))
    Y = rng.standard_normal((5, 2))
    net = ntk.MLP(2, [512], output_dim=2, activation="tanh", b_std=0.1)
    trained = ntk.sampled_ensemble(net, X, Y, [0, 40], n_networks=30, mode="trained", learning_rate=0.5)
    linear = ntk.sampled_ensemble(net, X, Y, [0, 40], n_networks=30, mode="linearized", learning_rate=0.5)
    # At t = 0 both are the networks' own outputs, seed for seed.
    np.testing.assert_allclose(trained.samples[:, 0], linear.samples[:, 0], atol=1e-12)
    # Wide networks stay close to their linearisation (multi-output: the full kernel).
    gap = np.abs(trained.samples[:, 1] - linear.samples[:, 1]).max()
    assert gap < 0.05 * np.abs(linear.samples[:, 1]).max()
    assert "networks=30" in repr(trained)
    with pytest.raises(ntk.InvalidArgumentError, match="whole numbers"):
        ntk.sampled_ensemble(net, X, Y, [0.5], mode="trained")
    with pytest.raises(ntk.InvalidArgumentError, match="mode must be"):
        ntk.sampled_ensemble(net, X, Y, [1.0], mode="exact")
    with pytest.raises(ntk.InvalidArgumentError, match="at least 2 networks"):
        ntk.sampled_ensemble(net, X, Y, [1.0], n_networks=1)
    with pytest.raises(ntk.DimensionMismatchError):
        ntk.sampled_ensemble(net, X, Y[:, 0], [1.0])


@pytest.mark.parametrize("kernel", ["infinite", "nngp"])
def test_regressor_return_std_and_cov(rng, kernel):
    X, Xt = rng.standard_normal((40, 3)), rng.standard_normal((7, 3))
    y = np.sin(X[:, 0])
    model = NTKRegressor(kernel=kernel, ridge=1e-3, time=20.0).fit(X, y)
    mean, std = model.predict(Xt, return_std=True)
    mean2, cov = model.predict(Xt, return_cov=True)
    np.testing.assert_array_equal(mean, model.predict(Xt))
    np.testing.assert_array_equal(mean, mean2)
    assert std.shape == (7,) and cov.shape == (7, 7)
    np.testing.assert_allclose(std, np.sqrt(np.diag(cov)), rtol=1e-12)
    # Independently: the ensemble of the same kernels, time and ridge (the mean from the model).
    net = model.network_
    nngp, ntk_ = ntk.infinite_width_kernels(net, X)
    nngp_tx, ntk_tx = ntk.infinite_width_kernels(net, Xt, X)
    ref_mean, ref_cov = reference(np.block([[nngp, nngp_tx.T], [nngp_tx, ntk.infinite_width_nngp(net, Xt)]]),
                                  np.block([[ntk_, ntk_tx.T], [ntk_tx, ntk.infinite_width_ntk(net, Xt)]]),
                                  (y - y.mean())[:, None], 20.0, 40, "ntk" if kernel == "infinite" else "nngp", 1.0,
                                  model.ridge_)
    np.testing.assert_allclose(mean, ref_mean[:, 0] + y.mean(), atol=1e-8)
    np.testing.assert_allclose(cov, ref_cov, atol=1e-9 * np.abs(ref_cov).max())
    with pytest.raises(RuntimeError, match="At most one"):
        model.predict(Xt, return_std=True, return_cov=True)
    multi = NTKRegressor(kernel=kernel, ridge=1e-3).fit(X, np.c_[y, 2 * y])
    _, std2 = multi.predict(Xt, return_std=True)
    _, cov2 = multi.predict(Xt, return_cov=True)
    assert std2.shape == (7, 2) and cov2.shape == (7, 7, 2)
    np.testing.assert_array_equal(std2[:, 0], std2[:, 1])


def test_regressor_return_std_needs_an_infinite_width_kernel(rng):
    X, y = rng.standard_normal((10, 2)), rng.standard_normal(10)
    model = NTKRegressor(kernel="empirical", widths=(32,), ridge=1e-2).fit(X, y)
    with pytest.raises(ValueError, match="return_std and return_cov need kernel='infinite' or 'nngp'"):
        model.predict(X, return_std=True)
