"""Training and dynamics: gradients by finite differences, gradient descent against the
linearised closed form, the ODE against the closed form and scipy's solve_ivp, kernel measures,
the catapult regime, and the after-kernel predictors against numpy solves."""

import numpy as np
import pytest
from scipy.integrate import solve_ivp
from scipy.special import softmax

import ntk


def one_hot(labels, k):
    return np.eye(k)[labels]


@pytest.mark.parametrize("loss,k", [("mse", 1), ("mse", 3), ("cross_entropy", 1), ("cross_entropy", 3)])
@pytest.mark.parametrize("activation,bias", [("tanh", True), ("relu", False), ("gelu", True)])
def test_loss_gradient_matches_finite_differences(rng, loss, k, activation, bias):
    net = ntk.MLP(3, [5, 4], output_dim=k, activation=activation, b_std=0.5, bias=bias, seed=2)
    X = rng.standard_normal((7, 3))
    if loss == "mse":
        Y = rng.standard_normal((7, k))
    elif k == 1:
        Y = rng.uniform(size=(7, 1))
    else:
        Y = one_hot(rng.integers(0, k, 7), k)
    value, grad = ntk.loss_and_gradient(net, X, Y, loss)
    f = net(X)
    if loss == "mse":
        assert value == pytest.approx(0.5 * np.mean((f - Y) ** 2), rel=1e-13)
    elif k == 1:
        assert value == pytest.approx(np.mean(np.logaddexp(0, f) - Y * f), rel=1e-13)
    else:
        assert value == pytest.approx(-np.mean(np.sum(Y * np.log(softmax(f, axis=1)), axis=1)), rel=1e-12)
    theta = net.flat_parameters
    h = 1e-6
    fd = np.empty_like(theta)
    for p in range(len(theta)):
        up, down = theta.copy(), theta.copy()
        up[p] += h
        down[p] -= h
        net.set_flat_parameters(up)
        lu = ntk.loss_and_gradient(net, X, Y, loss)[0]
        net.set_flat_parameters(down)
        fd[p] = (lu - ntk.loss_and_gradient(net, X, Y, loss)[0]) / (2 * h)
    net.set_flat_parameters(theta)
    assert np.max(np.abs(grad - fd)) < 1e-7 * max(1.0, np.max(np.abs(grad)))


def test_full_batch_gradient_descent_tracks_the_linearised_model_better_when_wider(rng):
    X = rng.standard_normal((12, 3))
    Y = np.sin(X[:, :1])
    gaps = {}
    for width in (32, 2048):
        net = ntk.MLP(3, [width, width], activation="erf", W_std=1.5, b_std=0.1, seed=1)
        initial = net.copy()
        eta = 0.05 * ntk.max_learning_rate(ntk.empirical_ntk(net, X), Y.size)  # small: flow ~ steps
        net.train(X, Y, learning_rate=eta, epochs=200, snapshot_epochs=[])
        _, _, gaps[width] = ntk.linearization_gap(initial, net, X, Y, X, eta, 200)
    assert gaps[2048] < 0.5 * gaps[32]
    assert gaps[2048] < 0.05


class TestODE:
    def kernel(self, rng, n, m):
        s = rng.standard_normal((n + m, 6))
        full = s @ s.T / 6 + 0.1 * np.eye(n + m)
        return full[:n, :n], full[n:, :n]

    def test_mse_matches_the_closed_form(self, rng):
        K, Kt = self.kernel(rng, 15, 4)
        Y, f0, f0t = rng.standard_normal((15, 2)), rng.standard_normal((15, 2)), rng.standard_normal((4, 2))
        times = [3.0, 0.0, 40.0, 10.0]  # any order
        ode = ntk.gradient_flow_ode(K, Y, times, "mse", Kt, learning_rate=0.7, f0_train=f0, f0_test=f0t)
        exact = ntk.gradient_flow(K, Y, times, Kt, learning_rate=0.7, f0_train=f0, f0_test=f0t)
        for a, b in zip(ode, exact):
            assert np.max(np.abs(a - b)) <= 1e-6 * np.max(np.abs(b))

    @pytest.mark.parametrize("k", [1, 3])
    def test_cross_entropy_matches_solve_ivp(self, rng, k):
        K, Kt = self.kernel(rng, 10, 3)
        n, m = 10, 3
        Y = rng.uniform(size=(n, 1)) if k == 1 else one_hot(rng.integers(0, k, n), k)
        f0 = 0.2 * rng.standard_normal((n, k))
        eta = 2.0

        def grad(f):
            f = f.reshape(n, k)
            p = 1 / (1 + np.exp(-f)) if k == 1 else softmax(f, axis=1)
            return (p - Y) / n

        def rhs(_t, state):
            g = grad(state[: n * k])
            return np.concatenate([(-eta * K @ g).ravel(), (-eta * Kt @ g).ravel()])

        times = [0.5, 5.0, 25.0]
        ref = solve_ivp(rhs, (0, 25.0), np.concatenate([f0.ravel(), np.zeros(m * k)]), method="DOP853",
                        t_eval=times, rtol=1e-12, atol=1e-12)
        train, test = ntk.gradient_flow_ode(K, Y, times, "cross_entropy", Kt, learning_rate=eta, f0_train=f0)
        for i in range(len(times)):
            assert np.allclose(train[i].ravel(), ref.y[: n * k, i], rtol=1e-7, atol=1e-9)
            assert np.allclose(test[i].ravel(), ref.y[n * k:, i], rtol=1e-7, atol=1e-9)

    def test_bad_arguments(self, rng):
        K, _ = self.kernel(rng, 5, 0)
        with pytest.raises(ntk.InvalidArgumentError, match="finite"):
            ntk.gradient_flow_ode(K, np.zeros(5), [np.inf])
        with pytest.raises(ntk.InvalidArgumentError, match="probabilities"):
            ntk.gradient_flow_ode(K, np.full(5, 2.0), [1.0], loss="cross_entropy")
        with pytest.raises(ntk.InvalidArgumentError):
            ntk.gradient_flow_ode(K, np.zeros(5), [1.0], loss="hinge")


def test_kernel_distance_and_alignment(rng):
    A = rng.standard_normal((6, 6))
    A = A @ A.T
    assert ntk.kernel_distance(A, A) == pytest.approx(0, abs=1e-15)
    assert ntk.kernel_distance(A, 7.5 * A) == pytest.approx(0, abs=1e-15)
    B = rng.standard_normal((6, 6))
    B = B @ B.T
    want = 1 - np.sum(A * B) / (np.linalg.norm(A) * np.linalg.norm(B))
    assert ntk.kernel_distance(A, B) == pytest.approx(want, rel=1e-13)
    y = rng.standard_normal((6, 2))
    expected = np.sum(A * (y @ y.T)) / (np.linalg.norm(A) * np.linalg.norm(y @ y.T))
    assert ntk.kernel_alignment(A, y) == pytest.approx(expected, rel=1e-13)
    with pytest.raises(ntk.InvalidArgumentError):
        ntk.kernel_distance(A, np.zeros_like(A))


def test_catapult_regime_between_the_two_critical_rates(rng):
    """Full-batch MSE with eta = 3N/lambda_max (between 2N/lambda and 4N/lambda): the loss
    spikes, the kernel's top eigenvalue falls, and training converges — the catapult."""
    X, Y = rng.standard_normal((16, 4)), rng.standard_normal((16, 1))
    results = {}
    for factor in (0.5, 1.5, 2.5):
        net = ntk.MLP(4, [512], activation="relu", W_std=np.sqrt(2), seed=3)
        low, high = ntk.max_learning_rate(ntk.empirical_ntk(net, X), Y.size), None
        h = net.train(X, Y, learning_rate=factor * low, epochs=300)
        low2, high = h.critical_learning_rates
        assert low2 == pytest.approx(low, rel=1e-12) and high == pytest.approx(2 * low, rel=1e-12)
        results[factor] = h
    assert results[0.5].regime == "lazy"
    assert results[1.5].regime == "catapult"
    assert results[1.5].lambda_max_train_final < results[1.5].lambda_max_train_initial
    assert results[2.5].regime == "divergent"


def test_training_mechanics(rng):
    X = rng.standard_normal((100, 5))
    labels = (X[:, 0] + X[:, 1] > 0).astype(int)
    Y = one_hot(labels, 2)
    net = ntk.MLP(5, [64], output_dim=2, activation="relu", W_std=np.sqrt(2), seed=0)
    seen = []
    h = net.train(X, Y, loss="cross_entropy", learning_rate=2.0, epochs=30, batch_size=16, momentum=0.9, seed=4,
                  snapshot_epochs=[0, 10, 30], X_probe=X[:40], Y_probe=Y[:40],
                  callback=lambda e, l: seen.append((e, l)))
    assert h.epochs_run == 30 and len(h.losses) == 31 and not h.diverged
    assert h.losses[-1] < 0.5 * h.losses[0]
    assert [e for e, _ in seen] == list(range(1, 31)) and np.allclose([l for _, l in seen], h.losses[1:])
    assert np.mean(np.argmax(net(X), 1) == labels) > 0.9
    assert h.kernels.shape == (3, 40, 40) and h.distance_to_initial[0] == 0 and h.distance_to_initial[-1] > 0
    assert np.allclose(h.kernels[-1], ntk.empirical_ntk(net, X[:40]), rtol=1e-12)
    assert h.alignment.shape == (3,) and h.relative_change_to_final[-1] == 0
    assert h.stabilization_epoch(10.0) == 0 and h.stabilization_epoch(0.0) == 30
    # Stopping from the callback, and divergence.
    h2 = net.copy().train(X, Y, loss="cross_entropy", epochs=10, callback=lambda e, l: e < 3)
    assert h2.epochs_run == 3 and len(h2.losses) == 4
    wild = ntk.MLP(5, [64], activation="relu", W_std=np.sqrt(2), seed=0)
    h3 = wild.train(X, X[:, :1], learning_rate=1e4, epochs=50, snapshot_epochs=[0, 50])
    assert h3.diverged and h3.regime == "divergent" and np.all(np.isfinite(wild.flat_parameters))
    # All-zero targets: nothing to learn, and the alignment is undefined (NaN), not an error.
    h4 = net.copy().train(X, np.zeros_like(Y), epochs=3, snapshot_epochs=[0, 3])
    assert h4.losses[0] > 0 and np.all(np.isnan(h4.alignment))
    with pytest.raises(ntk.InvalidArgumentError):
        net.train(X, Y, learning_rate=-1)
    with pytest.raises(ntk.InvalidArgumentError):
        net.train(X, Y, momentum=1.0)
    with pytest.raises(ntk.InvalidArgumentError):
        net.train(X, Y, epochs=2, snapshot_epochs=[5])
    with pytest.raises(ntk.DimensionMismatchError):
        net.train(X, Y[:, :1])


def test_after_kernel_predictions_match_numpy(rng):
    X, Xt = rng.standard_normal((40, 3)), rng.standard_normal((10, 3))
    Y = np.sin(X[:, :1] * 2)
    net = ntk.MLP(3, [64], activation="tanh", seed=2)
    net.train(X, Y, learning_rate=5.0, epochs=100, snapshot_epochs=[])
    out = ntk.after_kernel_predictions(net, X, Y, Xt)
    K, Kt = ntk.empirical_ntk(net, X), ntk.empirical_ntk(net, Xt, X)
    f, ft = net(X), net(Xt)
    zb, zk = out["ridge_boosting"], out["ridge_kernel"]
    boost = ft + Kt @ np.linalg.solve(K + zb * np.eye(40), Y - f)
    pure = Kt @ np.linalg.solve(K + zk * np.eye(40), Y)
    assert np.allclose(out["boosting"], boost, rtol=1e-6, atol=1e-8)
    assert np.allclose(out["kernel"], pure, rtol=1e-6, atol=1e-8)
    assert np.array_equal(out["network"], ft)
