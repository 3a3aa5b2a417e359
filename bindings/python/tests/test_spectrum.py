"""The experimental spectral calculus (ntk_x_spectrum_*), called through the C boundary on an
eigendecomposition computed by numpy, against independent computations: the filter
(1 - exp(-eta t (lambda + z) / N)) / (lambda + z) written out, GCV from the explicit hat matrix
K (K + zI)^-1, leave-one-out by refitting without each point, and the single-process spectral
solver (ntk.SpectralSolver) that uses the same calculus. Tolerances: 1e-12 relative for closed
forms on the same eigenvalues, 1e-9 against refits and dense hat matrices."""

import ctypes

import numpy as np
import pytest

import ntk
from ntk import _arrays
from ntk._library import ENUMS, Grid, Spectrum, lib

VALUE = ENUMS["ntk_x_filter_form"]["NTK_X_FILTER_VALUE"]
SHRINKAGE = ENUMS["ntk_x_filter_form"]["NTK_X_FILTER_SHRINKAGE"]
CLAMP = ENUMS["ntk_negative_eigenvalues"]["NTK_NEGATIVE_CLAMP"]
ERROR = ENUMS["ntk_negative_eigenvalues"]["NTK_NEGATIVE_ERROR"]


def _ok(status):
    assert status == 0, lib.ntk_last_error().decode()


def _kernel(rng, n, rank=None):
    A = rng.standard_normal((n, rank or n))
    return A @ A.T / (rank or n)


def _spectrum(K, R):
    """The eigendecomposition, policy applied by the library, and P = V^T R."""
    w, V = np.linalg.eigh(K)
    w = np.ascontiguousarray(w)
    _ok(lib.ntk_x_spectrum_regularize(len(w), _arrays.pointer(w), CLAMP, None, None))
    P = np.ascontiguousarray(V.T @ R)
    s = Spectrum(len(w), K.shape[0], R.shape[1], _arrays.pointer(w), _arrays.pointer(P), R.shape[1], 0.0)
    return s, w, V, P


def test_regularize_is_the_documented_policy(rng):
    w = np.array([-1e-15, 0.0, 1e-16, 0.5, 2.0])
    raw = w.copy()
    null, cutoff = ctypes.c_int64(), ctypes.c_double()
    _ok(lib.ntk_x_spectrum_regularize(5, _arrays.pointer(w), CLAMP, ctypes.byref(null), ctypes.byref(cutoff)))
    assert cutoff.value == pytest.approx(5 * np.finfo(float).eps * 2.0, rel=1e-15)
    np.testing.assert_array_equal(w, np.where(raw <= cutoff.value, 0.0, raw))
    assert null.value == 3
    # Under NTK_NEGATIVE_ERROR only a value below -cutoff fails.
    w = raw.copy()
    _ok(lib.ntk_x_spectrum_regularize(5, _arrays.pointer(w), ERROR, None, None))
    w = np.array([-1e-3, 0.5, 2.0])
    assert lib.ntk_x_spectrum_regularize(3, _arrays.pointer(w), ERROR, None, None) == -4
    assert b"negative eigenvalue" in lib.ntk_last_error()
    w = np.array([np.nan, 1.0])
    assert lib.ntk_x_spectrum_regularize(2, _arrays.pointer(w), CLAMP, None, None) == -3
    assert lib.ntk_x_spectrum_regularize(2, None, CLAMP, None, None) == -1
    assert lib.ntk_x_spectrum_regularize(2, _arrays.pointer(np.ones(2)), 7, None, None) == -1


def test_filter_matches_the_closed_form_and_the_spectral_solver(rng):
    n, k = 30, 2
    K, R = _kernel(rng, n, rank=20), rng.standard_normal((n, k))
    s, w, V, P = _spectrum(K, R)
    times = np.array([0.0, 0.3, 7.0, np.inf, np.inf])
    ridges = np.array([0.0, 1e-2, 0.0, 0.0, 0.5])
    eta, N = 0.7, n * k
    out = np.empty((n, len(times) * k))
    for form in (VALUE, SHRINKAGE):
        grid = Grid(len(times), _arrays.pointer(times), _arrays.pointer(ridges), eta)
        _ok(lib.ntk_x_spectrum_filter(ctypes.byref(s), ctypes.byref(grid), form, _arrays.pointer(out), out.shape[1]))
        for j, (t, z) in enumerate(zip(times, ridges)):
            lam = w + z
            with np.errstate(divide="ignore", invalid="ignore"):
                if np.isinf(t):
                    g = np.where(lam > 0, 1 / lam, 0.0)
                else:
                    g = np.where(lam > 0, -np.expm1(-eta * t * lam / N) / lam, eta * t / N)
            g = np.where(w > 0, g, 0.0)  # the null space is never learned
            weight = g * w if form == SHRINKAGE else g
            np.testing.assert_allclose(out[:, j * k:(j + 1) * k], weight[:, None] * P, rtol=1e-12, atol=1e-300)
    # V times the SHRINKAGE form is what the spectral solver predicts on the training points.
    with ntk.SpectralSolver(K) as solver:
        for j, (t, z) in enumerate(zip(times, ridges)):
            train, _ = solver.gradient_flow(R, [t], learning_rate=eta, ridge=z)
            np.testing.assert_allclose(V @ out[:, j * k:(j + 1) * k], train[0], rtol=1e-10, atol=1e-12)


def test_gcv_is_the_hat_matrix_formula(rng):
    n, k = 25, 3
    K, R = _kernel(rng, n), rng.standard_normal((n, k))
    s, *_ = _spectrum(K, R)
    ridges = np.array([1e-3, 1e-1, 1.0, 10.0])
    scores, best = np.empty(4), ctypes.c_int64()
    _ok(lib.ntk_x_spectrum_gcv(ctypes.byref(s), 4, _arrays.pointer(ridges), _arrays.pointer(scores),
                               ctypes.byref(best)))
    for z, score in zip(ridges, scores):
        H = K @ np.linalg.inv(K + z * np.eye(n))
        expected = np.sum(((np.eye(n) - H) @ R) ** 2) / (n * k) / (1 - np.trace(H) / n) ** 2
        assert score == pytest.approx(expected, rel=1e-9)
    assert best.value == int(np.argmin(scores))


def test_gcv_with_mass_outside_the_span(rng):
    """A partial spectrum (Nyström): the mass outside the span is never fitted and counts fully."""
    n, k = 20, 1
    U = np.linalg.qr(rng.standard_normal((n, 6)))[0]
    lam = np.array([0.1, 0.5, 1.0, 2.0, 3.0, 5.0])
    R = rng.standard_normal((n, k))
    P = np.ascontiguousarray(U.T @ R)
    outside = float(np.sum((R - U @ P) ** 2))
    s = Spectrum(6, n, k, _arrays.pointer(lam), _arrays.pointer(P), k, outside)
    ridges = np.array([0.01, 0.3])
    scores = np.empty(2)
    _ok(lib.ntk_x_spectrum_gcv(ctypes.byref(s), 2, _arrays.pointer(ridges), _arrays.pointer(scores), None))
    Kt = U @ np.diag(lam) @ U.T
    for z, score in zip(ridges, scores):
        H = Kt @ np.linalg.inv(Kt + z * np.eye(n))
        expected = np.sum(((np.eye(n) - H) @ R) ** 2) / (n * k) / (1 - np.trace(H) / n) ** 2
        assert score == pytest.approx(expected, rel=1e-9)


def test_leave_one_out_equals_refits(rng):
    n, k = 12, 2
    K, R = _kernel(rng, n), rng.standard_normal((n, k))
    s, w, V, P = _spectrum(K, R)
    ridges = np.array([1e-2, 0.3])
    g = len(ridges)
    inverse, scaled = np.empty((n, g)), np.empty((n, g * k))
    _ok(lib.ntk_x_spectrum_loo_terms(ctypes.byref(s), g, _arrays.pointer(ridges), _arrays.pointer(inverse), g,
                                     _arrays.pointer(scaled), g * k))
    diagonals, solutions = np.ascontiguousarray((V * V) @ inverse), np.ascontiguousarray(V @ scaled)
    scores, best = np.empty(g), ctypes.c_int64()
    _ok(lib.ntk_x_spectrum_loo(ctypes.byref(s), g, _arrays.pointer(ridges), _arrays.pointer(diagonals), g,
                               _arrays.pointer(solutions), g * k, _arrays.pointer(scores), ctypes.byref(best)))
    for z, score in zip(ridges, scores):
        errors = []
        for i in range(n):
            keep = np.arange(n) != i
            alpha = np.linalg.solve(K[np.ix_(keep, keep)] + z * np.eye(n - 1), R[keep])
            errors.append(R[i] - K[i, keep] @ alpha)
        assert score == pytest.approx(np.mean(np.square(errors)), rel=1e-9)
    assert best.value == int(np.argmin(scores))


def test_errors_are_clear(rng):
    n, k = 6, 1
    K, R = _kernel(rng, n), rng.standard_normal((n, k))
    s, w, V, P = _spectrum(K, R)
    ridges, scores = np.array([-1.0]), np.empty(1)
    assert lib.ntk_x_spectrum_gcv(ctypes.byref(s), 1, _arrays.pointer(ridges), _arrays.pointer(scores), None) == -1
    assert b"ridges must be" in lib.ntk_last_error()
    assert lib.ntk_x_spectrum_gcv(ctypes.byref(s), 0, None, _arrays.pointer(scores), None) == -1
    assert lib.ntk_x_spectrum_gcv(None, 1, _arrays.pointer(np.ones(1)), _arrays.pointer(scores), None) == -1
    # z = 0 on an interpolating fit: no finite GCV score.
    assert lib.ntk_x_spectrum_gcv(ctypes.byref(s), 1, _arrays.pointer(np.zeros(1)), _arrays.pointer(scores),
                                  None) == -7
    # Negative eigenvalues must be regularized first; a partial spectrum has no leave-one-out.
    bad = np.array(w)
    bad[0] = -1.0
    t = Spectrum(n, n, k, _arrays.pointer(bad), _arrays.pointer(P), k, 0.0)
    out = np.empty((n, k))
    one = Grid(1, None, None, 1.0)
    assert lib.ntk_x_spectrum_filter(ctypes.byref(t), ctypes.byref(one), VALUE, _arrays.pointer(out), k) == -1
    assert b"ntk_x_spectrum_regularize" in lib.ntk_last_error()
    partial = Spectrum(n - 1, n, k, _arrays.pointer(w[1:].copy()), _arrays.pointer(P[1:].copy()), k, 0.5)
    inverse, scaled = np.empty((n, 1)), np.empty((n, 1))
    assert lib.ntk_x_spectrum_loo_terms(ctypes.byref(partial), 1, _arrays.pointer(np.ones(1)),
                                        _arrays.pointer(inverse), 1, _arrays.pointer(scaled), 1) == -1
    assert b"full spectrum" in lib.ntk_last_error()
    assert lib.ntk_x_spectrum_filter(ctypes.byref(s), ctypes.byref(one), 5, _arrays.pointer(out), k) == -1
    assert lib.ntk_x_spectrum_filter(ctypes.byref(s), ctypes.byref(Grid(1, None, None, 0.0)), VALUE,
                                     _arrays.pointer(out), k) == -1
    assert b"learning rate must be > 0" in lib.ntk_last_error()
    assert lib.ntk_x_spectrum_filter(ctypes.byref(s), ctypes.byref(one), VALUE, _arrays.pointer(out), 0) == -1
    assert lib.ntk_x_spectrum_filter(ctypes.byref(s), None, VALUE, _arrays.pointer(out), k) == -1
    assert b"grid is NULL" in lib.ntk_last_error()
