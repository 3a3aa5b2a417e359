"""The tangent kernel of any model (ntk.models): kernels and solvers through Jacobian products.

References, each independent of the library's model path:
- libntk's own MLP (its structured per-layer kernel) for a JAX MLP with the same weights and for
  the MLP's explicit Jacobian wrapped as plain callables;
- explicit Jacobians contracted with numpy (``jax.jacrev``, ``torch.func.jacrev``: the
  "Jacobian contraction" recipe of neural-tangents and of the PyTorch tutorial) for CNNs;
- numpy's dense solve and scipy's matrix exponential for kernel ridge and the gradient flow.
Tolerances: 1e-10 relative for kernels (float64 products summed in different orders), 1e-8 for
CG solves run to a relative residual of 1e-12.
"""

import gc

import numpy as np
import pytest
import scipy.linalg

import ntk
from ntk import models

import jax  # the test extra installs it; torch: scripts/setup.sh installs its CPU build
import jax.numpy as jnp
import torch
from torch.func import functional_call, jacrev, vmap

jax.config.update("jax_enable_x64", True)

W_STD, B_STD = 1.3, 0.2


def _mlp():
    return ntk.MLP(4, [16, 8], output_dim=3, activation="tanh", W_std=W_STD, b_std=B_STD, seed=3)


def _jax_mlp(params, x):
    """libntk's NTK-parameterised MLP written in JAX: z = W_std/sqrt(fan_in) h W + b_std b."""
    h, layers = x, len(params) // 2
    for layer in range(layers):
        W, b = params[2 * layer], params[2 * layer + 1]
        z = W_STD / np.sqrt(W.shape[0]) * h @ W + B_STD * b
        h = jnp.tanh(z) if layer < layers - 1 else z
    return h


def _explicit(net, block_rows=5):
    """The MLP through its explicit Jacobian (``net.jacobian``) and einsum products."""
    return models.from_functions(lambda X, V: np.einsum("nkp,rp->rnk", net.jacobian(X), V),
                                 lambda X, U: np.einsum("nkp,rnk->rp", net.jacobian(X), U),
                                 net.num_parameters, net.output_dim, forward=net, block_rows=block_rows)


def _data(n=40, m=9, d=4, seed=0):
    rng = np.random.default_rng(seed)
    return rng.normal(size=(n, d)), rng.normal(size=(m, d))


@pytest.mark.parametrize("output", ["mean", "per_output", "full"])
@pytest.mark.parametrize("method", ["structured", "jacobian", "vector_products"])
def test_jax_mlp_kernel_equals_libntk_mlp(output, method):
    net = _mlp()
    model = models.from_jax(_jax_mlp, [jnp.asarray(p) for p in net.parameters], block_rows=16)
    X, X2 = _data()
    expected = ntk.empirical_ntk(net, X, X2, output=output)
    got = ntk.empirical_ntk(model, X, X2, output=output, method=method)
    assert np.max(np.abs(got - expected)) <= 1e-10 * np.max(np.abs(expected))
    sym = ntk.empirical_ntk(model, X, output=output, method=method)
    assert np.max(np.abs(sym - ntk.empirical_ntk(net, X, output=output))) <= 1e-10 * np.max(np.abs(expected))
    assert model.n_params == net.num_parameters and model.output_dim == 3
    np.testing.assert_allclose(model(X), net(X), rtol=0, atol=1e-13)


def test_explicit_callables_equal_the_mlp_and_the_diagonal():
    net = _mlp()
    model = _explicit(net)
    X, X2 = _data()
    np.testing.assert_allclose(ntk.empirical_ntk(model, X, X2, output="full"), ntk.empirical_ntk(net, X, X2,
                                                                                                 output="full"),
                               rtol=0, atol=1e-12)
    for output in ("mean", "per_output"):
        np.testing.assert_allclose(ntk.empirical_ntk_diagonal(model, X, output=output),
                                   ntk.empirical_ntk_diagonal(net, X, output=output), rtol=0, atol=1e-12)
    # Under a memory limit of a few Jacobian rows the blocks are recomputed: same kernel.
    small = ntk.empirical_ntk(model, X, memory_limit=8 * 3 * net.num_parameters * 8)
    np.testing.assert_allclose(small, ntk.empirical_ntk(net, X), rtol=0, atol=1e-12)


class _Conv(torch.nn.Module):
    """A small CNN on 8 x 8 images with a residual block (conv - relu - conv + identity)."""

    def __init__(self):
        super().__init__()
        self.stem = torch.nn.Conv2d(1, 4, 3, padding=1)
        self.a = torch.nn.Conv2d(4, 4, 3, padding=1)
        self.b = torch.nn.Conv2d(4, 4, 3, padding=1)
        self.head = torch.nn.Linear(4 * 4 * 4, 2)

    def forward(self, x):
        h = torch.relu(self.stem(x))
        h = h + self.b(torch.relu(self.a(h)))
        return self.head(torch.flatten(torch.nn.functional.avg_pool2d(h, 2), 1))


def _torch_jacobian(module, X):
    params = {k: v.detach() for k, v in module.named_parameters()}
    J = vmap(jacrev(lambda p, x: functional_call(module, p, (x.unsqueeze(0),))[0]), in_dims=(None, 0))(
        params, torch.from_numpy(X))
    return torch.cat([J[k].reshape(len(X), J[k].shape[1], -1) for k in params], dim=2).numpy()


@pytest.mark.parametrize("method", ["jacobian", "vector_products"])
def test_torch_cnn_kernel_equals_jacobian_contraction(method):
    torch.manual_seed(0)
    cnn = _Conv().double()
    model = models.from_torch(cnn, block_rows=7)
    rng = np.random.default_rng(1)
    X, X2 = rng.normal(size=(15, 1, 8, 8)), rng.normal(size=(6, 1, 8, 8))
    J1, J2 = _torch_jacobian(cnn, X), _torch_jacobian(cnn, X2)
    expected = np.einsum("ikp,jlp->ijkl", J1, J2)
    got = ntk.empirical_ntk(model, X, X2, output="full", method=method)
    assert np.max(np.abs(got - expected)) <= 1e-10 * np.max(np.abs(expected))
    np.testing.assert_allclose(model(X), cnn(torch.from_numpy(X)).detach().numpy(), rtol=0, atol=1e-14)


def test_jax_cnn_kernel_equals_jacrev_contraction():
    key1, key2 = jax.random.split(jax.random.PRNGKey(0))
    params = {"conv": jax.random.normal(key1, (3, 3, 1, 3)), "dense": jax.random.normal(key2, (3 * 36, 2))}

    def apply_fn(p, x):  # x: n x 6 x 6 x 1 (NHWC), SAME 3 x 3 convolution, relu, flatten, dense
        h = jax.lax.conv_general_dilated(x, p["conv"], (1, 1), "SAME", dimension_numbers=("NHWC", "HWIO", "NHWC"))
        return jax.nn.relu(h).reshape(x.shape[0], -1) @ p["dense"] / np.sqrt(3 * 36)

    X = np.random.default_rng(2).normal(size=(12, 6, 6, 1))
    model = models.from_jax(apply_fn, params, block_rows=5)
    J = jax.vmap(lambda x: jax.jacrev(lambda p: apply_fn(p, x[None])[0])(params))(jnp.asarray(X))
    flat = np.concatenate([np.asarray(J[k]).reshape(12, 2, -1) for k in ("conv", "dense")], axis=2)
    expected = np.einsum("ikp,jkp->ij", flat, flat) / 2
    got = ntk.empirical_ntk(model, X)
    assert np.max(np.abs(got - expected)) <= 1e-10 * np.max(np.abs(expected))


def test_ridge_through_products_equals_the_dense_solve():
    """CG with the Nyström preconditioner through a JAX model's products, n = 1,500: the dense
    solve of (K + zI) alpha = Y - f0 with K from the same model's Jacobian contraction."""
    net = ntk.MLP(5, [32], output_dim=1, activation="tanh", W_std=np.sqrt(2.0), b_std=0.1, seed=4)
    params = [jnp.asarray(p) for p in net.parameters]

    def apply_fn(p, x):
        h = jnp.tanh(np.sqrt(2.0) / np.sqrt(5) * x @ p[0] + 0.1 * p[1])
        return np.sqrt(2.0) / np.sqrt(32) * h @ p[2] + 0.1 * p[3]

    rng = np.random.default_rng(5)
    X, Xt = rng.normal(size=(1500, 5)), rng.normal(size=(40, 5))
    Y = np.sin(X[:, :1]) + 0.1 * rng.normal(size=(1500, 1))
    model = models.from_jax(apply_fn, params, block_rows=512)
    f0, f0t = model(X), model(Xt)
    K, Kt = ntk.empirical_ntk(model, X), ntk.empirical_ntk(model, Xt, X)
    z = 1e-2 * np.trace(K) / len(K)
    alpha = np.linalg.solve(K + z * np.eye(len(K)), Y - f0)
    ridge = ntk.EmpiricalNTKRidge(model, X, Y, z, f0_train=f0, tol=1e-12, preconditioner_rank=128)
    assert ridge.converged
    np.testing.assert_allclose(ridge.dual_coef_, alpha, rtol=0, atol=1e-8 * np.max(np.abs(alpha)))
    np.testing.assert_allclose(ridge.predict(Xt, f0_test=f0t), f0t + Kt @ alpha, rtol=0, atol=1e-8)
    # The same through the library's own MLP (different code: per-layer products).
    mlp_ridge = ntk.EmpiricalNTKRidge(net, X, Y, z, f0_train=f0, tol=1e-12, preconditioner_rank=128)
    np.testing.assert_allclose(ridge.predict(Xt), mlp_ridge.predict(Xt), rtol=0, atol=1e-8)


def test_gradient_flow_through_products_equals_the_matrix_exponential():
    net = _mlp()
    model = _explicit(net)
    X, Xt = _data(n=30, m=6)
    Y = np.cos(X[:, :3])
    times = np.array([0.5, 4.0, 40.0])
    train, test, estimate = ntk.empirical_gradient_flow(model, X, Y, times, X_test=Xt, tol=1e-12)
    K, Kt = ntk.empirical_ntk(net, X), ntk.empirical_ntk(net, Xt, X)
    N = Y.size
    for f, t in enumerate(times):
        decay = scipy.linalg.expm(-t / N * K)
        np.testing.assert_allclose(train[f], Y - decay @ Y, rtol=0, atol=1e-9)
        phi = np.linalg.solve(K, (np.eye(len(K)) - decay) @ Y)
        np.testing.assert_allclose(test[f], Kt @ phi, rtol=0, atol=1e-8)
    assert estimate <= 1e-12


def test_after_kernel_predictors_and_the_sklearn_estimator_take_a_model():
    from ntk.sklearn import NTKRegressor

    net = _mlp()
    model = _explicit(net)
    X, Xt = _data(n=40, m=7)
    Y = np.sin(X[:, :3])
    got, expected = ntk.after_kernel_predictions(model, X, Y, Xt), ntk.after_kernel_predictions(net, X, Y, Xt)
    for key in ("network", "boosting", "kernel"):
        np.testing.assert_allclose(got[key], expected[key], rtol=0, atol=1e-10)
    a = NTKRegressor(kernel="empirical", network=model, ridge=1e-3).fit(X, Y[:, 0])
    b = NTKRegressor(kernel="empirical", network=net, ridge=1e-3).fit(X, Y[:, 0])
    np.testing.assert_allclose(a.predict(Xt), b.predict(Xt), rtol=0, atol=1e-10)
    c = NTKRegressor(kernel="empirical", network=model, ridge=1e-3, solver="cg", tol=1e-12).fit(X, Y[:, 0])
    np.testing.assert_allclose(c.predict(Xt), b.predict(Xt), rtol=0, atol=1e-8)
    with pytest.raises(ValueError, match="kernel='empirical'"):
        NTKRegressor(kernel="infinite", network=model).fit(X, Y[:, 0])


class _FailingProducts:
    """jvp/vjp of an explicit MLP that raise at a chosen call."""

    def __init__(self, net, fail_at):
        self.net, self.fail_at, self.calls = net, fail_at, 0

    def _tick(self):
        self.calls += 1
        if self.calls == self.fail_at:
            raise RuntimeError(f"product {self.calls} failed")

    def jvp(self, X, V):
        self._tick()
        return np.einsum("nkp,rp->rnk", self.net.jacobian(X), V)

    def vjp(self, X, U):
        self._tick()
        return np.einsum("nkp,rnk->rp", self.net.jacobian(X), U)


def test_a_raising_product_is_re_raised_nothing_leaks_and_objects_stay_usable():
    net = _mlp()
    X, Xt = _data(n=30, m=5)
    Y = np.sin(X[:, :3])
    failing = _FailingProducts(net, fail_at=0)
    model = models.from_functions(failing.jvp, failing.vjp, net.num_parameters, 3, block_rows=4)
    ridge = ntk.EmpiricalNTKRidge(model, X, Y, 0.1, tol=1e-10, preconditioner_rank=0)
    with ntk.EmpiricalNTKRidge(net, X, Y, 0.1, tol=1e-10, preconditioner_rank=0) as reference:
        expected = reference.predict(Xt)
    gc.collect()  # earlier tests' unreachable handles must not be freed during the count below
    before = ntk.live_handle_count()
    for fail_at in (1, 5, 17):
        failing.calls, failing.fail_at = 0, fail_at
        with pytest.raises(RuntimeError, match=f"product {fail_at} failed"):
            ntk.EmpiricalNTKRidge(model, X, Y, 0.1, tol=1e-10, preconditioner_rank=0)
        assert ntk.live_handle_count() == before
    failing.calls, failing.fail_at = 0, 2
    with pytest.raises(RuntimeError, match="product 2 failed"):
        ridge.predict(Xt)
    failing.fail_at = 0
    np.testing.assert_allclose(ridge.predict(Xt), expected, rtol=0, atol=1e-9)
    assert ntk.live_handle_count() == before
    # A wrong shape is a clear error naming the product.
    bad = models.from_functions(lambda X, V: np.zeros((len(V), len(X))), failing.vjp, net.num_parameters, 3)
    with pytest.raises(ntk.DimensionMismatchError, match="jvp returned shape"):
        ntk.empirical_ntk(bad, X, method="vector_products")
    nan = models.from_functions(lambda X, V: np.full((len(V), len(X), 3), np.nan), failing.vjp,
                                net.num_parameters, 3)
    with pytest.raises(ntk.NonFiniteError, match="jvp"):
        ntk.empirical_ntk(nan, X, method="vector_products")


def test_progress_and_cancellation_reach_callback_driven_calls():
    net = _mlp()
    model = _explicit(net)
    X, _ = _data(n=60)
    Y = np.sin(X[:, :3])
    fractions = []
    ntk.EmpiricalNTKRidge(model, X, Y, 0.1, tol=1e-10, preconditioner_rank=8, progress=fractions.append)
    assert fractions[0] == 0 and fractions[-1] == 1 and np.all(np.diff(fractions) >= 0) and len(fractions) > 3
    with pytest.raises(ntk.CancelledError):
        ntk.empirical_ntk(model, X, progress=lambda f: f < 0.2)


def test_bad_models_and_inputs_are_rejected():
    net = _mlp()
    X, _ = _data()
    good = _explicit(net)
    with pytest.raises(ntk.InvalidArgumentError, match="n_params"):
        models.from_functions(good.jvp, good.vjp, 0, 3)
    with pytest.raises(ntk.InvalidArgumentError, match="block_rows"):
        models.from_functions(good.jvp, good.vjp, 10, 3, block_rows=0)
    with pytest.raises(ntk.InvalidArgumentError, match="ntk.MLP, ntk.Network or ntk.models.Model"):
        ntk.empirical_ntk(object(), X)
    with pytest.raises(ntk.InvalidArgumentError, match="no forward pass"):
        models.from_functions(good.jvp, good.vjp, 10, 3)(X)
    with pytest.raises(ntk.InvalidArgumentError, match="VECTOR_PRODUCTS is for a model"):
        ntk.empirical_ntk(net, X, method="vector_products")
    with pytest.raises(ntk.InvalidArgumentError, match="block_rows"):
        models.from_jax(_jax_mlp, [jnp.asarray(p) for p in net.parameters], block_rows=-1)
