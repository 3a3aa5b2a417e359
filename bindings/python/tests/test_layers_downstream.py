"""Everything downstream of a kernel accepts a network built from layers, number for number with
the same computation on the network's dense kernels: the empirical diagonal, Nyström / Falkon
and kernel logistic regression on the CNTK, sampled ensembles of CNNs, the scikit-learn
estimators with ``network=``."""

import numpy as np
import pytest

import ntk
from ntk import layers as L
from ntk.sklearn import NTKClassifier, NTKRegressor


def cnn(seed=0, k=1):
    return ntk.Network([L.Conv(3, (3, 3), padding="SAME"), L.Activation("relu"), L.AvgPool((2, 2), strides=(2, 2)),
                        L.Conv(3, (2, 2), padding="VALID"), L.Activation("erf"), L.Flatten(), L.Dense(k)],
                       input_shape=(4, 4, 2), W_std=1.4, b_std=0.1, seed=seed)


def images(n, seed):
    return np.random.default_rng(seed).standard_normal((n, 4, 4, 2))


def test_empirical_diagonal_is_the_kernels_diagonal():
    net, X = cnn(k=3), images(7, 1)
    np.testing.assert_allclose(ntk.empirical_ntk_diagonal(net, X), np.diag(ntk.empirical_ntk(net, X)), rtol=1e-13)
    per_output = ntk.empirical_ntk(net, X, output="per_output")
    np.testing.assert_allclose(ntk.empirical_ntk_diagonal(net, X, output="per_output"),
                               per_output[np.arange(7), np.arange(7)], rtol=1e-13)
    with pytest.raises(ntk.InvalidArgumentError):
        ntk.empirical_ntk_diagonal(net, X, output="full")


def test_nystrom_on_the_cntk_equals_the_dense_kernels_solution():
    net, X, X_test = cnn(), images(40, 2), images(6, 3)
    y = np.random.default_rng(4).standard_normal(40)
    K, K_test = ntk.infinite_width_ntk(net, X), ntk.infinite_width_ntk(net, X_test, X)
    # All points as centres: exact kernel ridge.
    with ntk.NystromRidge(net, X, y, 0.05, None, centers=X) as exact:
        np.testing.assert_allclose(exact.predict(X_test), K_test @ np.linalg.solve(K + 0.05 * np.eye(40), y),
                                   rtol=1e-8, atol=1e-10)
    # Twelve drawn centres (direct and Falkon CG): the fit on the dense blocks K(X, C), K(C, C).
    for solver in ["direct", "cg"]:
        with ntk.NystromRidge(net, X, y, 0.05, 12, seed=5, solver=solver, tol=1e-12, max_iter=200) as model:
            C = model.centers
            with ntk.NystromRidge.from_kernel(K[:, C], K[np.ix_(C, C)], y, 0.05, solver=solver, tol=1e-12,
                                              max_iter=200) as dense:
                np.testing.assert_allclose(model.coef_, dense.coef_, rtol=1e-8, atol=1e-10)
                np.testing.assert_allclose(model.predict(X_test), dense.predict(K_test_centers=K_test[:, C]),
                                           rtol=1e-8, atol=1e-10)
    with pytest.raises(ntk.DimensionMismatchError):
        exact.predict(X_test[:, :3])
    relu_first = ntk.Network([L.Activation("relu"), L.Flatten(), L.Dense(1)], input_shape=(4, 4, 2))
    with pytest.raises(ntk.InvalidArgumentError, match="Gaussian"):
        ntk.NystromRidge(relu_first, X, y, 0.05, 5)


def test_kernel_logistic_on_cntk_centres_equals_the_dense_blocks():
    net, X = cnn(), images(30, 6)
    labels = (X[:, 0, 0, 0] + X[:, 1, 1, 1] > 0).astype(int)
    C = X[:8]
    K_nm, K_mm = ntk.infinite_width_nngp(net, X, C), ntk.infinite_width_nngp(net, C)
    with ntk.KernelLogisticRegression.on_centers(net, X, C, labels, kernel="nngp", ridge=0.1) as ours, \
            ntk.KernelLogisticRegression.nystrom(K_nm, K_mm, labels, ridge=0.1) as dense:
        np.testing.assert_allclose(ours.dual_coef_, dense.dual_coef_, rtol=1e-8, atol=1e-10)


def test_sampled_ensemble_of_cnns_is_one_linearised_network_per_seed():
    net, X, X_test = cnn(), images(12, 7), images(3, 8)
    y = np.random.default_rng(9).standard_normal((12, 1))
    ensemble = ntk.sampled_ensemble(net, X, y, [2.0], X_test=X_test, n_networks=3, workers=2)
    for i, seed in enumerate(ensemble.seeds):
        member = cnn(seed=int(seed))
        K, K_test = ntk.empirical_ntk(member, X), ntk.empirical_ntk(member, X_test, X)
        _, want = ntk.gradient_flow(K, y, [2.0], K_test_train=K_test, f0_train=member(X), f0_test=member(X_test))
        np.testing.assert_allclose(ensemble.samples[i], want, rtol=1e-9, atol=1e-12)
    trained = ntk.sampled_ensemble(net, X, y, [3], X_test=X_test, n_networks=2, mode="trained", learning_rate=0.5)
    member = cnn(seed=int(trained.seeds[1]))
    member.train(X, y, learning_rate=0.5, epochs=3, snapshot_epochs=[], diagnose_catapult=False)
    np.testing.assert_allclose(trained.samples[1, 0], member(X_test), rtol=1e-12)


def test_sklearn_estimators_take_a_network():
    net, X, X_test = cnn(), images(30, 10).reshape(30, -1), images(5, 11).reshape(5, -1)
    y = np.random.default_rng(12).standard_normal(30)
    for kernel, function in [("infinite", ntk.infinite_width_ntk), ("nngp", ntk.infinite_width_nngp),
                             ("empirical", ntk.empirical_ntk)]:
        est = NTKRegressor(kernel=kernel, network=net, ridge=0.01, ridge_relative=False,
                           center_targets=False).fit(X, y)
        K, K_test = function(net, X), function(net, X_test, X)
        np.testing.assert_allclose(est.predict(X_test), K_test @ np.linalg.solve(K + 0.01 * np.eye(30), y),
                                   rtol=1e-8, atol=1e-10, err_msg=kernel)
    theta = net.flat_parameters
    after = NTKRegressor(kernel="after", network=net, epochs=5, ridge="gcv").fit(X, y)
    assert np.array_equal(net.flat_parameters, theta)  # a copy was trained
    assert not np.array_equal(after.network_.flat_parameters, theta)
    labels = (y > 0).astype(int)
    clf = NTKClassifier(kernel="infinite", network=net, ridge=0.1).fit(X, labels)
    assert clf.predict_proba(X_test).shape == (5, 2)
    with pytest.raises(ValueError, match="tune"):
        NTKRegressor(kernel="infinite", network=net, tune="lml").fit(X, y)
