"""Infinite-width NNGP and NTK against hand-derived numpy recursions (relu, erf), scipy's
adaptive 2-D integration (quadrature activations), and Monte Carlo over wide random networks."""

import numpy as np
import pytest
from scipy import integrate, stats

import ntk


def numpy_recursion(X1, X2, widths, activation, W_std, b_std, parameterization="ntk", bias=True):
    """The recursion written out from the closed forms, for relu and erf."""
    d = X1.shape[1]
    w2, b2 = W_std**2, (b_std**2 if bias else 0.0)
    one = 1.0 if bias else 0.0
    q1 = np.sum(X1**2, 1) / d
    q2 = np.sum(X2**2, 1) / d
    S = X1 @ X2.T / d
    T = np.zeros_like(S)
    fan_ins = [d, *widths]
    for layer, fan_in in enumerate(fan_ins):
        if parameterization == "ntk":
            S, q1, q2 = w2 * S + b2, w2 * q1 + b2, w2 * q2 + b2
            T = S + w2 * T
        else:
            T = fan_in * S + one + w2 * T
            S, q1, q2 = w2 * S + b2, w2 * q1 + b2, w2 * q2 + b2
        if layer == len(widths):
            break
        if activation == "relu":
            norm = np.sqrt(np.outer(q1, q2))
            rho = np.clip(S / norm, -1, 1)
            theta = np.arccos(rho)
            S_new = norm * (np.sin(theta) + (np.pi - theta) * np.cos(theta)) / (2 * np.pi)
            dot = (np.pi - theta) / (2 * np.pi)
            q1, q2 = q1 / 2, q2 / 2
        else:  # erf
            a = np.outer(1 + 2 * q1, 1 + 2 * q2)
            S_new = 2 / np.pi * np.arcsin(2 * S / np.sqrt(a))
            dot = 4 / np.pi / np.sqrt(a - 4 * S**2)
            q1 = 2 / np.pi * np.arcsin(2 * q1 / (1 + 2 * q1))
            q2 = 2 / np.pi * np.arcsin(2 * q2 / (1 + 2 * q2))
        T = T * dot
        S = S_new
    return S, T


@pytest.mark.parametrize("activation", ["relu", "erf"])
@pytest.mark.parametrize("parameterization", ["ntk", "standard"])
@pytest.mark.parametrize("bias", [True, False])
@pytest.mark.parametrize("widths", [[], [7], [5, 9, 4]])
def test_matches_numpy_recursion(rng, activation, parameterization, bias, widths):
    X1, X2 = rng.standard_normal((6, 3)), rng.standard_normal((4, 3))
    net = ntk.MLP(3, widths, activation=activation, W_std=1.4, b_std=0.3, parameterization=parameterization, bias=bias)
    nngp, ntk_ = ntk.infinite_width_kernels(net, X1, X2)
    want_nngp, want_ntk = numpy_recursion(X1, X2, widths, activation, 1.4, 0.3, parameterization, bias)
    assert np.allclose(nngp, want_nngp, rtol=1e-12, atol=0)
    assert np.allclose(ntk_, want_ntk, rtol=1e-12, atol=0)
    assert np.array_equal(ntk.infinite_width_ntk(net, X1, X2), ntk_)
    assert np.array_equal(ntk.infinite_width_nngp(net, X1, X2), nngp)


def test_symmetric_kernel_and_exact_diagonal(rng):
    X = rng.standard_normal((300, 5))  # more than one 256-tile
    net = ntk.MLP(5, [1, 1], activation="relu", W_std=np.sqrt(2), b_std=0.1)
    nngp, ntk_ = ntk.infinite_width_kernels(net, X)
    two_nngp, two_ntk = ntk.infinite_width_kernels(net, X, X)
    assert np.array_equal(ntk_, ntk_.T) and np.array_equal(nngp, nngp.T)
    assert np.allclose(ntk_, two_ntk, rtol=1e-7)  # off the diagonal, rho = 1 - eps costs ~1e-8
    d_nngp, d_ntk = ntk.infinite_width_diagonal(net, X)
    assert np.array_equal(np.diag(ntk_), d_ntk) and np.array_equal(np.diag(nngp), d_nngp)
    # On the diagonal relu's recursion is q <- q/2 per layer (NTK: Theta (pi - 0)/2pi = Theta/2).
    want = numpy_recursion(X[:3], X[:3], [1, 1], "relu", np.sqrt(2), 0.1)[1]
    assert np.allclose(d_ntk[:3], np.diag(want), rtol=1e-12)


def test_quadrature_activation_against_adaptive_integration(rng):
    """One hidden tanh layer: Sigma = W^2 E[tanh(u) tanh(v)] + b^2 after the output layer; the
    expectation by scipy's adaptive dblquad over the bivariate normal density."""
    X = rng.standard_normal((2, 4)) * 0.8
    net = ntk.MLP(4, [1], activation="tanh", W_std=1.0, b_std=0.0)
    nngp, ntk_ = ntk.infinite_width_kernels(net, X)
    q = np.sum(X**2, 1) / 4
    c = X[0] @ X[1] / 4
    cov = np.array([[q[0], c], [c, q[1]]])
    density = stats.multivariate_normal(np.zeros(2), cov).pdf
    lim = 12 * np.sqrt(q.max())
    e_phi = integrate.dblquad(lambda v, u: np.tanh(u) * np.tanh(v) * density([u, v]), -lim, lim, -lim, lim,
                              epsabs=1e-13, epsrel=1e-11)[0]
    e_dphi = integrate.dblquad(lambda v, u: (1 - np.tanh(u)**2) * (1 - np.tanh(v)**2) * density([u, v]),
                               -lim, lim, -lim, lim, epsabs=1e-13, epsrel=1e-11)[0]
    assert nngp[0, 1] == pytest.approx(e_phi, rel=1e-8)
    # NTK: Theta_1 = Sigma_1 = c; after tanh Theta = c E[phi' phi']; output: Sigma_2 + Theta.
    assert ntk_[0, 1] == pytest.approx(e_phi + c * e_dphi, rel=1e-8)


def test_monte_carlo_convergence_of_the_empirical_ntk(rng):
    """The mean empirical NTK of random networks approaches the analytic NTK as width grows;
    the relative error should shrink roughly like width^(-1/2) (sampling noise of 24 networks
    and an O(1/width) bias). Generous bound: error(1024) at most half of error(64)."""
    X = rng.standard_normal((6, 5))
    arch = dict(activation="relu", W_std=np.sqrt(2), b_std=0.2)
    theta = ntk.infinite_width_ntk(ntk.MLP(5, [1, 1], **arch), X)
    errors = {}
    for width in (64, 256, 1024):
        mean = np.mean([ntk.empirical_ntk(ntk.MLP(5, [width, width], seed=s, **arch), X) for s in range(24)], axis=0)
        errors[width] = np.linalg.norm(mean - theta) / np.linalg.norm(theta)
    assert errors[1024] < 0.5 * errors[64]
    assert errors[1024] < 0.05


def test_numerical_safety(rng):
    X = rng.standard_normal((5, 3))
    X[2] = 0.0  # zero-norm input
    X[4] = X[3]  # a repeated point: correlation clipped at 1
    for activation in ntk.ACTIVATIONS:
        for bias in (True, False):
            net = ntk.MLP(3, [1] * 20, activation=activation, W_std=1.0, b_std=0.1, bias=bias)
            nngp, ntk_ = ntk.infinite_width_kernels(net, X, X, quadrature_points=24)
            assert np.all(np.isfinite(nngp)) and np.all(np.isfinite(ntk_)), (activation, bias)
    net = ntk.MLP(3, [1, 1], activation="relu", bias=False)
    nngp, ntk_ = ntk.infinite_width_kernels(net, X)
    assert np.all(nngp[2] == 0) and np.all(ntk_[2] == 0)  # relu of a zero input stays zero


def test_bad_arguments(rng):
    net = ntk.MLP(3, [4])
    with pytest.raises(ntk.DimensionMismatchError):
        ntk.infinite_width_ntk(net, np.ones((2, 4)))
    with pytest.raises(ntk.NonFiniteError):
        ntk.infinite_width_ntk(net, np.array([[1.0, np.nan, 0.0]]))
    with pytest.raises(ntk.InvalidArgumentError):
        ntk.infinite_width_ntk(net, np.ones((2, 3)), quadrature_points=0)
    with pytest.raises(ntk.InvalidArgumentError):
        ntk.infinite_width_ntk("net", np.ones((2, 3)))
    with pytest.raises(ntk.CancelledError):
        ntk.infinite_width_ntk(net, rng.standard_normal((600, 3)), progress=lambda f: f < 0.3)


@pytest.mark.parametrize("activation,parameterization", [("relu", "ntk"), ("erf", "standard"), ("gelu", "ntk"),
                                                         ("leaky_relu", "ntk"), ("softplus", "ntk")])
def test_float32_kernels_agree_with_float64(rng, activation, parameterization):
    """dtype=float32 against the float64 kernels of the same float32-rounded inputs (the numpy
    recursion for relu and erf as well): within 2e-6 of the largest entry on inputs in 12
    dimensions (no nearly parallel pairs), float32 outputs, a symmetric kernel exactly symmetric
    with the float64 diagonal rounded, and not equal to float64 (it really runs in float32)."""
    X1 = rng.standard_normal((300, 12)).astype(np.float32)  # two tile rows
    X2 = rng.standard_normal((40, 12)).astype(np.float32)
    net = ntk.MLP(12, [5, 6], activation=activation, W_std=1.3, b_std=0.2, parameterization=parameterization)
    for second in (None, X2):
        want = ntk.infinite_width_kernels(net, X1.astype(np.float64), None if second is None else X2.astype(np.float64))
        got = ntk.infinite_width_kernels(net, X1, second, dtype=np.float32)
        if activation in ("relu", "erf"):
            ref = numpy_recursion(X1.astype(np.float64), (X1 if second is None else X2).astype(np.float64), [5, 6],
                                  activation, 1.3, 0.2, parameterization)
            for r, w in zip(ref, want):
                assert np.allclose(np.tril(r, -1), np.tril(w, -1), rtol=1e-7, atol=0)
        for g, w in zip(got, want):
            assert g.dtype == np.float32 and g.shape == w.shape
            gap = np.max(np.abs(g.astype(np.float64) - w))
            assert 1e-12 * np.max(np.abs(w)) < gap < 2e-6 * np.max(np.abs(w))
            if second is None:
                assert np.array_equal(g, g.T) and np.array_equal(np.diag(g), np.diag(w).astype(np.float32))
    assert np.array_equal(ntk.infinite_width_ntk(net, X1, X2, dtype=np.float32), got[1])
    assert np.array_equal(ntk.infinite_width_nngp(net, X1, X2, dtype="float32"), got[0])


def test_float32_nearly_parallel_pairs_lose_what_the_docs_say(rng):
    """The documented limit of float32: for pairs at angles of 1e-3..1e-5 the relu NTK's relative
    error grows (float's rounding of the correlation through the arccosine's slope) but stays
    below 6e-4; erf stays at float accuracy."""
    X = rng.standard_normal((20, 16))
    for angle in (1e-3, 1e-4, 1e-5):
        Y = (X + angle * rng.standard_normal(X.shape)).astype(np.float32)
        for activation, bound in (("relu", 6e-4), ("erf", 5e-6)):
            net = ntk.MLP(16, [1, 1], activation=activation, W_std=1.4, b_std=0.1)
            want = np.diag(ntk.infinite_width_ntk(net, X.astype(np.float32).astype(np.float64), Y.astype(np.float64)))
            got = np.diag(ntk.infinite_width_ntk(net, X.astype(np.float32), Y, dtype=np.float32))
            assert np.max(np.abs(got - want) / np.abs(want)) < bound


def test_float32_bad_arguments(rng):
    net = ntk.MLP(3, [4])
    with pytest.raises(ntk.InvalidArgumentError, match="float32 is available for an ntk.MLP or an ntk.Network"):
        ntk.infinite_width_kernels("net", np.ones((2, 3)), dtype=np.float32)
    with pytest.raises(ntk.InvalidArgumentError, match="dtype"):
        ntk.infinite_width_kernels(net, np.ones((2, 3)), dtype=np.int32)
    with pytest.raises(ntk.NonFiniteError):
        ntk.infinite_width_ntk(net, np.array([[1.0, np.nan, 0.0]]), dtype=np.float32)
    with pytest.raises(ntk.InvalidArgumentError, match="float32"):
        ntk.infinite_width_ntk(net, np.array([[1e39, 0.0, 0.0]]), dtype=np.float32)  # beyond float32's range
    with pytest.raises(ntk.NumericalError, match="single precision"):
        ntk.infinite_width_ntk(net, np.array([[1e20, 0.0, 0.0]]), dtype=np.float32)  # its square overflows
