"""Numerical robustness: tiny and huge scales, singular and indefinite kernels, constant
targets, deep networks. Results are finite and correct (checked against exact scaling laws),
or a clear typed error says why not."""

import warnings

import numpy as np
import pytest

import ntk

from conftest import random_spd


@pytest.mark.parametrize("scale", [1e-150, 1e150])
def test_scaling_laws_hold_at_extreme_scales(rng, scale):
    X = rng.standard_normal((20, 3))
    y = rng.standard_normal((20, 1))
    G = ntk.gram(X)
    assert np.allclose(ntk.gram(X * scale) / scale**2, G, rtol=1e-12, atol=0)
    K = random_spd(rng, 20)
    s2 = scale * scale if scale > 1 else scale  # keep K finite and normal
    # Solutions are scale-equivariant: (s K) x = y  =>  x = K^-1 y / s.
    assert np.allclose(ntk.cholesky_solve(K * s2, y) * s2, ntk.cholesky_solve(K, y), rtol=1e-12)
    # Kernel ridge with K and z scaled together predicts the same; so does gradient flow with
    # the learning rate scaled inversely.
    base = ntk.kernel_ridge(K, y, K[:5], ridge=0.3)
    scaled = ntk.kernel_ridge(K * s2, y, K[:5] * s2, ridge=0.3 * s2)
    assert np.allclose(scaled[0], base[0], rtol=1e-11) and np.allclose(scaled[1], base[1], rtol=1e-11)
    flow = ntk.gradient_flow(K, y, [2.0, np.inf], K[:5], learning_rate=0.5)
    flow_scaled = ntk.gradient_flow(K * s2, y, [2.0, np.inf], K[:5] * s2, learning_rate=0.5 / s2)
    assert np.allclose(flow_scaled[0], flow[0], rtol=1e-10) and np.allclose(flow_scaled[1], flow[1], rtol=1e-10)
    # Without biases a relu network is positively homogeneous: Theta(s x, s x') = s^2 Theta(x, x').
    net = ntk.MLP(3, [16, 16], activation="relu", bias=False, seed=1)
    assert np.allclose(ntk.empirical_ntk(net, X * scale) / scale**2, ntk.empirical_ntk(net, X), rtol=1e-12)
    arch = ntk.MLP(3, [1, 1], activation="relu", bias=False)
    assert np.allclose(ntk.infinite_width_ntk(arch, X * scale) / scale**2, ntk.infinite_width_ntk(arch, X), rtol=1e-10)


def test_overflow_is_an_error_not_an_infinity(rng):
    X = rng.standard_normal((6, 3)) * 1e160
    for call in (lambda: ntk.gram(X), lambda: ntk.empirical_ntk(ntk.MLP(3, [4]), X),
                 lambda: ntk.infinite_width_ntk(ntk.MLP(3, [1]), X)):
        with pytest.raises(ntk.NumericalError, match="overflowed"):
            call()


def test_singular_near_singular_and_indefinite_kernels(rng):
    s = rng.standard_normal((30, 5))
    K = s @ s.T  # rank 5
    y = rng.standard_normal(30)
    with pytest.raises(ntk.NotPositiveDefiniteError):
        ntk.kernel_ridge(K, y)
    near = K + 1e-13 * np.trace(K) / 30 * np.eye(30)  # PD in exact arithmetic, cond ~ 1e14
    try:
        train, _ = ntk.kernel_ridge(near, y)
        assert np.all(np.isfinite(train))
    except ntk.NotPositiveDefiniteError:
        pass  # rounding made it indefinite: a clear error is the documented alternative
    train, test = ntk.gradient_flow(K, y, [1.0, np.inf], K[:4])
    assert np.all(np.isfinite(train)) and np.all(np.isfinite(test))
    indefinite = K - 0.5 * np.trace(K) / 30 * np.eye(30)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)
        out = ntk.gradient_flow(indefinite, y, [1.0, np.inf])[0]
    assert np.all(np.isfinite(out))
    with pytest.raises(ntk.NotPositiveDefiniteError):
        ntk.SpectralSolver(indefinite, negative_eigenvalues="error")


def test_constant_targets(rng):
    K = random_spd(rng, 15)
    for y in (np.zeros(15), np.full(15, 3.0)):
        best, _, scores = ntk.select_ridge(K, y, [1e-3, 1e-1, 10.0], criterion="loo")
        assert np.all(np.isfinite(scores)) and best in (1e-3, 1e-1, 10.0)
        train, _ = ntk.kernel_ridge(K, y, ridge=0.1)
        want = K @ np.linalg.solve(K + 0.1 * np.eye(15), y)
        assert np.allclose(train, want, rtol=1e-10, atol=1e-14)
    # Zero targets: every GCV score is 0 and the first ridge is chosen.
    best, _, scores = ntk.select_ridge(K, np.zeros(15), [1e-3, 1.0])
    assert np.all(scores == 0) and best == 1e-3


def test_deep_networks_stay_finite(rng):
    X = rng.standard_normal((8, 4))
    for activation in ("relu", "tanh", "erf"):
        net = ntk.MLP(4, [16] * 20, activation=activation, W_std=1.0, b_std=0.05, seed=0)
        assert np.all(np.isfinite(ntk.empirical_ntk(net, X)))
        assert np.all(np.isfinite(ntk.infinite_width_ntk(net, X)))
