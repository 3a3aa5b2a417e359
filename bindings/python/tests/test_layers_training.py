"""Training a network built from layers and its matrix-free solvers.

- the loss gradient against ``J^T dL/df`` (the Jacobian and dL/df written out in numpy) and
  against finite differences;
- training against PyTorch's SGD on the same module (the converted network and the module,
  trained side by side, give the same outputs), snapshots against ``ntk.empirical_ntk``;
- ``EmpiricalNTKRidge`` and ``empirical_gradient_flow`` on a CNN against numpy's solve and
  scipy's matrix exponential of the dense kernel.
"""

import numpy as np
import pytest
import scipy.linalg
import torch

import ntk
from ntk import layers as L

nn = torch.nn


def cnn(seed=0, k=2):
    return ntk.Network([L.Conv(4, (3, 3), padding="SAME"), L.Activation("tanh"),
                        L.Residual(L.Activation("gelu"), L.Conv(4, (2, 2), padding="SAME")),
                        L.AvgPool((2, 2), strides=(2, 2)), L.Flatten(), L.Dense(k)],
                       input_shape=(6, 6, 2), W_std=1.3, b_std=0.2, seed=seed)


def images(n, seed):
    return np.random.default_rng(seed).standard_normal((n, 6, 6, 2))


def output_gradient(f, Y, loss):
    """dL/df: MSE (1/N) sum 1/2 (f - y)^2 over N = n k entries; softmax cross-entropy, mean over rows."""
    n, k = f.shape
    if loss == "mse":
        return (f - Y) / (n * k)
    p = np.exp(f - f.max(axis=1, keepdims=True))
    return (p / p.sum(axis=1, keepdims=True) - Y) / n


@pytest.mark.parametrize("loss", ["mse", "cross_entropy"])
def test_loss_gradient_is_the_jacobian_transpose_of_the_output_gradient(loss):
    net, X = cnn(), images(40, 1)
    Y = np.eye(2)[np.arange(40) % 2] if loss == "cross_entropy" else np.random.default_rng(2).standard_normal((40, 2))
    value, gradient = net.loss_and_gradient(X, Y, loss=loss)
    f, J = net(X), net.jacobian(X)
    want = np.einsum("nkp,nk->p", J, output_gradient(f, Y, loss))
    np.testing.assert_allclose(gradient, want, rtol=1e-11, atol=1e-13 * np.abs(want).max())
    if loss == "mse":
        assert value == pytest.approx(0.5 * np.mean((f - Y) ** 2), rel=1e-13)
    else:
        logp = f - f.max(axis=1, keepdims=True)
        logp -= np.log(np.exp(logp).sum(axis=1, keepdims=True))
        assert value == pytest.approx(-np.mean(np.sum(Y * logp, axis=1)), rel=1e-13)
    # Finite differences of the loss along a random direction.
    v = np.random.default_rng(3).standard_normal(net.num_parameters)
    theta, h = net.flat_parameters, 1e-6
    net.set_flat_parameters(theta + h * v)
    up = net.loss_and_gradient(X, Y, loss=loss)[0]
    net.set_flat_parameters(theta - h * v)
    down = net.loss_and_gradient(X, Y, loss=loss)[0]
    assert gradient @ v == pytest.approx((up - down) / (2 * h), rel=1e-7)


def test_training_follows_pytorch_sgd_on_the_same_module():
    torch.manual_seed(3)
    module = nn.Sequential(nn.Conv2d(2, 4, 3, padding=1), nn.Tanh(), nn.AvgPool2d(2), nn.Flatten(),
                           nn.Linear(36, 3)).double()
    X = np.random.default_rng(4).standard_normal((24, 2, 6, 6))
    Y = np.random.default_rng(5).standard_normal((24, 3))
    net = ntk.Network.from_torch(module, (2, 6, 6))
    x_nhwc = np.moveaxis(X, 1, -1)
    history = net.train(x_nhwc, Y, learning_rate=0.4, epochs=6, momentum=0.5, diagnose_catapult=False)
    # The same steps in PyTorch: heavy-ball momentum v <- mu v + g, theta <- theta - lr v (SGD's
    # dampening 0), on libntk's MSE (1/N) sum 1/2 (f - y)^2 = half of PyTorch's mean MSE.
    optimizer = torch.optim.SGD(module.parameters(), lr=0.4, momentum=0.5)
    xt, yt = torch.from_numpy(X), torch.from_numpy(Y)
    losses = []
    for _ in range(6):
        optimizer.zero_grad()
        loss = 0.5 * nn.functional.mse_loss(module(xt), yt)
        losses.append(loss.item())
        loss.backward()
        optimizer.step()
    with torch.no_grad():
        losses.append(0.5 * nn.functional.mse_loss(module(xt), yt).item())
        want = module(xt).numpy()
    np.testing.assert_allclose(history.losses, losses, rtol=1e-12)
    np.testing.assert_allclose(net(x_nhwc), want, rtol=1e-11, atol=1e-12)
    assert history.losses[-1] < 0.8 * history.losses[0]


def test_training_history_minibatches_and_errors():
    X, Y = images(30, 6), np.random.default_rng(7).standard_normal(30)
    net = cnn(seed=1, k=1)
    history = net.train(X, Y, learning_rate=0.5, epochs=8, batch_size=7, seed=2, snapshot_epochs=[0, 8],
                        X_probe=X[:10], Y_probe=Y[:10])
    assert history.epochs_run == 8 and history.snapshot_epochs == [0, 8] and not history.diverged
    np.testing.assert_allclose(history.kernels[1], ntk.empirical_ntk(net, X[:10]), rtol=1e-13, atol=1e-14)
    assert history.losses[-1] < history.losses[0]
    assert history.distance_to_initial[1] > 0 and history.alignment.shape == (2,)
    again = cnn(seed=1, k=1)
    again.train(X, Y, learning_rate=0.5, epochs=8, batch_size=7, seed=2, snapshot_epochs=[])
    np.testing.assert_array_equal(again.flat_parameters, net.flat_parameters)
    with pytest.raises(ntk.DimensionMismatchError):
        net.train(X[:, :5], Y)
    with pytest.raises(ntk.DimensionMismatchError):
        net.loss_and_gradient(X, np.zeros((30, 2)))
    with pytest.raises(ntk.InvalidArgumentError, match="probabilities"):
        net.loss_and_gradient(X, np.full(30, 2.0), loss="cross_entropy")
    with pytest.raises(ntk.InvalidArgumentError, match="ntk.MLP or ntk.Network"):
        ntk.train("not a network", X, Y)


def test_matrix_free_ridge_and_flow_equal_the_dense_kernels_solutions():
    net, X, X_test = cnn(seed=2), images(50, 8), images(9, 9)
    Y = np.random.default_rng(10).standard_normal((50, 2))
    K, K_test = ntk.empirical_ntk(net, X), ntk.empirical_ntk(net, X_test, X)
    want = K_test @ np.linalg.solve(K + 0.1 * np.eye(50), Y)
    for memory_limit in [None, 1 << 16]:  # the Jacobian kept, or recomputed per block
        model = ntk.EmpiricalNTKRidge(net, X, Y, ridge=0.1, tol=1e-13, preconditioner_rank=8,
                                      memory_limit=memory_limit)
        assert model.converged
        np.testing.assert_allclose(model.predict(X_test), want, rtol=1e-9, atol=1e-10 * np.abs(want).max())
    # The fit keeps the parameters it started with.
    net.set_flat_parameters(2 * net.flat_parameters)
    np.testing.assert_allclose(model.predict(X_test), want, rtol=1e-9, atol=1e-10 * np.abs(want).max())
    net.set_flat_parameters(net.flat_parameters / 2)
    with pytest.raises(ntk.DimensionMismatchError):
        model.predict(X_test[:, :4])

    times = np.array([0.0, 3.0, 80.0])
    train, test, _ = ntk.empirical_gradient_flow(net, X, Y, times, X_test=X_test, tol=1e-13)
    w, V = np.linalg.eigh(K)
    for t, got_train, got_test in zip(times, train, test):
        s = t / Y.size
        np.testing.assert_allclose(got_train, Y - scipy.linalg.expm(-s * K) @ Y, atol=1e-9)
        # phi_s(K) R with phi_s(l) = (1 - e^{-s l}) / l (s at l = 0).
        phi = np.where(np.abs(w) > 1e-12, -np.expm1(-s * w) / np.where(w == 0, 1, w), s)
        np.testing.assert_allclose(got_test, K_test @ (V @ (phi[:, None] * (V.T @ Y))), atol=1e-8)
