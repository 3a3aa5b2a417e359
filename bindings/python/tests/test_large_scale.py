"""Nyström kernel ridge and Falkon, and the memory budget.

References are independent numpy/scipy computations on explicit matrices: dense kernel ridge
(numpy.linalg.solve), the Nyström normal equations, the dense Nyström kernel
K~ = K_nm K_mm^-1 K_mn with scipy.linalg.expm for gradient flow, and GCV from its hat matrix."""


import logging

import numpy as np
import pytest
import scipy.linalg

import ntk
from ntk.sklearn import NTKRegressor


@pytest.fixture
def problem(rng):
    n, d = 300, 4
    X = rng.standard_normal((n, d))
    Y = np.column_stack([np.sin(2 * X[:, 0]) + X[:, 1], X[:, 2] * X[:, 3]]) + 0.05 * rng.standard_normal((n, 2))
    Xt = rng.standard_normal((40, d))
    net = ntk.MLP(d, [8, 8], 2, b_std=0.2)
    return net, X, Y, Xt


def relative(a, b):
    return np.abs(a - b).max() / np.abs(b).max()


def nystrom_matrices(net, X, Xt, centers):
    C = X[centers]
    return ntk.infinite_width_ntk(net, X, C), ntk.infinite_width_ntk(net, C), ntk.infinite_width_ntk(net, Xt, C)


@pytest.mark.parametrize("solver", ["direct", "cg"])
def test_all_points_as_centres_is_dense_kernel_ridge(problem, solver):
    net, X, Y, Xt = problem
    K, Kt = ntk.infinite_width_ntk(net, X), ntk.infinite_width_ntk(net, Xt, X)
    z = 1e-3 * np.trace(K) / len(K)
    dense = Kt @ np.linalg.solve(K + z * np.eye(len(K)), Y)
    with ntk.NystromRidge(net, X, Y, z, len(X), solver=solver, tol=1e-13, max_iter=500) as model:
        assert model.n_centers == len(X) and sorted(model.centers) == list(range(len(X)))
        assert relative(model.predict(Xt), dense) < 1e-8


def test_direct_solves_the_nystrom_normal_equations(problem):
    net, X, Y, Xt = problem
    f0, f0t = 0.1 * np.cos(X[:, :2]), 0.1 * np.cos(Xt[:, :2])
    z = 0.02
    model = ntk.NystromRidge(net, X, Y, z, 50, f0_train=f0, seed=7)
    Knm, Kmm, Ktm = nystrom_matrices(net, X, Xt, model.centers)
    beta = np.linalg.solve(Knm.T @ Knm + z * Kmm, Knm.T @ (Y - f0))
    assert relative(model.coef_, beta) < 1e-8
    assert relative(model.predict(Xt, f0_test=f0t), f0t + Ktm @ beta) < 1e-9
    # The same fit from the caller's kernel matrices.
    from_kernel = ntk.NystromRidge.from_kernel(Knm, Kmm, Y, z, f0_train=f0)
    assert relative(from_kernel.predict(K_test_centers=Ktm, f0_test=f0t), f0t + Ktm @ beta) < 1e-9
    assert from_kernel.centers is None
    # 1-D targets give 1-D predictions.
    assert ntk.NystromRidge(net, X, Y[:, 0], z, 50, seed=7).predict(Xt).shape == (len(Xt),)


def test_path_is_gradient_flow_with_the_nystrom_kernel(problem):
    """Every (time, ridge) of the path against the dense Nyström kernel K~: at t = inf, kernel
    ridge with K~ + zI; at finite t with z = 0, the flow f_t = (I - e^{-eta t K~/N}) R on the
    training points and K~_*X int_0^t (eta/N) e^{-s eta K~/N} ds R on test points (expm of an
    augmented matrix, no eigendecomposition)."""
    net, X, Y, Xt = problem
    n, k = Y.shape
    N, eta = n * k, 0.7
    model = ntk.NystromRidge(net, X, Y, 0.0, 40, seed=3)
    Knm, Kmm, Ktm = nystrom_matrices(net, X, Xt, model.centers)
    Kmm_inv = np.linalg.inv(Kmm)
    Ktilde, Kt_tilde = Knm @ Kmm_inv @ Knm.T, Ktm @ Kmm_inv @ Knm.T
    times = np.array([np.inf, np.inf, 0.0, 50.0, 3000.0])
    ridges = np.array([0.01, 1.0, 0.0, 0.0, 0.0])
    train = model.path(X, times=times, ridges=ridges, learning_rate=eta)
    test = model.path(Xt, times=times, ridges=ridges, learning_rate=eta)
    coef = model.path_coef(times=times, ridges=ridges, learning_rate=eta)
    for i, (t, z) in enumerate(zip(times, ridges)):
        if np.isinf(t):
            alpha = np.linalg.solve(Ktilde + z * np.eye(n), Y)
            expect_train, expect_test = Ktilde @ alpha, Kt_tilde @ alpha
        else:
            A = eta * Ktilde / N
            expect_train = Y - scipy.linalg.expm(-t * A) @ Y
            augmented = np.zeros((2 * n, 2 * n))
            augmented[:n, :n], augmented[:n, n:] = -A, np.eye(n)
            integral = scipy.linalg.expm(t * augmented)[:n, n:]  # int_0^t e^{-sA} ds
            expect_test = (eta / N) * Kt_tilde @ integral @ Y
        scale = max(np.abs(expect_train).max(), 1e-3)
        assert np.abs(train[i] - expect_train).max() / scale < 1e-7, (t, z)
        assert np.abs(test[i] - expect_test).max() / max(np.abs(expect_test).max(), 1e-3) < 1e-7, (t, z)
        assert relative(Ktm @ coef[i], test[i]) < 1e-10 if np.abs(test[i]).max() > 0 else np.all(coef[i] == 0)


def test_gcv_matches_the_hat_matrix_of_the_nystrom_kernel(problem):
    net, X, Y, _ = problem
    n, k = Y.shape
    model = ntk.NystromRidge(net, X, Y, 0.1, 60, seed=5)
    Knm, Kmm, _ = nystrom_matrices(net, X, X[:1], model.centers)
    Ktilde = Knm @ np.linalg.solve(Kmm, Knm.T)
    ridges = np.geomspace(1e-3, 10, 7)
    best, _, scores = model.select_ridge(ridges)
    for z, score in zip(ridges, scores):
        H = Ktilde @ np.linalg.inv(Ktilde + z * np.eye(n))
        expect = np.sum(((np.eye(n) - H) @ Y) ** 2) / (n * k) / (1 - np.trace(H) / n) ** 2
        assert score == pytest.approx(expect, rel=1e-7)
    assert best == ridges[np.argmin(scores)]
    # The eigenvalues are the non-zero spectrum of K~.
    top = np.sort(np.linalg.eigvalsh(Ktilde))[-60:]
    assert relative(model.eigenvalues, top) < 1e-8


def test_falkon_converges_to_the_direct_solution_and_its_preconditioner_helps(problem):
    net, X, Y, Xt = problem
    z = 1e-5
    direct = ntk.NystromRidge(net, X, Y, z, 80, seed=1).predict(Xt)
    falkon = ntk.NystromRidge(net, X, Y, z, 80, seed=1, solver="cg", tol=1e-11, max_iter=1000)
    plain = ntk.NystromRidge(net, X, Y, z, 80, seed=1, solver="cg", tol=1e-11, max_iter=1000, preconditioned=False)
    assert falkon.converged and plain.converged
    assert relative(falkon.predict(Xt), direct) < 1e-6
    assert falkon.iterations * 4 < plain.iterations, (falkon.iterations, plain.iterations)
    assert len(falkon.residuals) == falkon.iterations and falkon.residuals[-1] <= 1e-11
    assert falkon.eigenvalues is None
    # The preconditioner's sketch of the normal matrix (640 rows: capped at n, the normal matrix
    # itself) beats Falkon's original (n/m) K_mm^2; every variant converges to the direct solution.
    rows = ntk.NystromRidge(net, X, Y, z, 80, seed=1, solver="cg", tol=1e-11, max_iter=1000, preconditioned=640)
    centres = ntk.NystromRidge(net, X, Y, z, 80, seed=1, solver="cg", tol=1e-11, max_iter=1000,
                               preconditioned="centers")
    for model in (rows, centres):
        assert model.converged and relative(model.predict(Xt), direct) < 1e-6
    assert rows.iterations < centres.iterations, (rows.iterations, centres.iterations)
    with pytest.raises(ntk.InvalidArgumentError, match="preconditioned"):
        ntk.NystromRidge(net, X, Y, z, 80, solver="cg", preconditioned="sketch")
    with pytest.raises(ntk.InvalidArgumentError, match="preconditioned"):
        ntk.NystromRidge(net, X, Y, z, 80, solver="cg", preconditioned=0)


def test_non_convergence_warns_and_keeps_the_last_iterate(problem):
    net, X, Y, Xt = problem
    with pytest.warns(ntk.ConvergenceWarning, match="did not reach tol in 2 iterations"):
        model = ntk.NystromRidge(net, X, Y, 1e-6, 80, solver="cg", tol=1e-14, max_iter=2, preconditioned=False)
    assert not model.converged and model.iterations == 2 and model.residuals[-1] > 1e-14
    assert np.all(np.isfinite(model.predict(Xt)))
    with pytest.raises(ntk.InvalidArgumentError, match="direct Nyström solver"):
        model.path(Xt, times=[1.0])
    with pytest.raises(ntk.InvalidArgumentError, match="direct Nyström solver"):
        model.select_ridge([0.1])


def test_centres(problem):
    net, X, Y, _ = problem
    a = ntk.NystromRidge(net, X, Y, 0.1, 50, seed=11).centers
    assert len(set(a)) == 50 and list(a) == sorted(a) and a.min() >= 0 and a.max() < len(X)
    assert np.array_equal(a, ntk.NystromRidge(net, X, Y, 0.1, 50, seed=11).centers)
    assert not np.array_equal(a, ntk.NystromRidge(net, X, Y, 0.1, 50, seed=12).centers)
    # Randomly pivoted Cholesky never draws a copy of a chosen point: its residual is zero.
    doubled = np.vstack([X[:100], X[:100]])
    p = ntk.NystromRidge(net, doubled, np.vstack([Y[:100]] * 2), 0.1, 60, centers="pivoted_cholesky", seed=2).centers
    assert len(p) == 60 and len(set(p % 100)) == 60


def test_bad_input_from_python(problem):
    net, X, Y, Xt = problem
    for kwargs, error, match in [
        (dict(n_centers=0), ntk.InvalidArgumentError, "number of centres"),
        (dict(n_centers=len(X) + 1), ntk.InvalidArgumentError, "number of centres"),
        (dict(n_centers=5, tol=0.0), ntk.InvalidArgumentError, "tol"),
        (dict(n_centers=5, max_iter=0), ntk.InvalidArgumentError, "max_iter"),
        (dict(n_centers=5, ridge=-1.0), ntk.InvalidArgumentError, "ridge"),
        (dict(n_centers=5, solver="lsqr"), ntk.InvalidArgumentError, "solver"),
        (dict(n_centers=5, centers="kmeans"), ntk.InvalidArgumentError, "centers"),
        (dict(n_centers=200, memory_limit=10_000), ntk.OutOfMemoryError, "memory budget"),
    ]:
        args = dict(ridge=0.1)
        args.update(kwargs)
        with pytest.raises(error, match=match):
            ntk.NystromRidge(net, X, Y, args.pop("ridge"), args.pop("n_centers"), **args)
    with pytest.raises(ntk.DimensionMismatchError):
        ntk.NystromRidge(net, X, Y[:10], 0.1, 5)
    with pytest.raises(ntk.NonFiniteError):
        ntk.NystromRidge(net, np.where(X > 2.5, np.nan, X), Y, 0.1, 5)
    model = ntk.NystromRidge(net, X, Y, 0.1, 20)
    with pytest.raises(ntk.InvalidArgumentError, match="exactly one"):
        model.predict()
    with pytest.raises(ntk.InvalidArgumentError, match="fitted on points"):
        model.predict(K_test_centers=np.ones((3, 20)))
    with pytest.raises(ntk.DimensionMismatchError):
        model.predict(Xt[:, :2])
    with pytest.raises(ntk.InvalidArgumentError):
        model.path(Xt, times=[-1.0])
    with pytest.raises(ntk.InvalidArgumentError):
        model.select_ridge([])
    Knm, Kmm, _ = nystrom_matrices(net, X, Xt, model.centers)
    with pytest.raises(ntk.DimensionMismatchError):
        ntk.NystromRidge.from_kernel(Knm, Kmm[:5, :5], Y, 0.1)
    with pytest.raises(ntk.NotPositiveDefiniteError, match="singular"):
        ntk.NystromRidge.from_kernel(Knm, np.zeros_like(Kmm) - np.eye(20), Y, 0.1)
    kernel_model = ntk.NystromRidge.from_kernel(Knm, Kmm, Y, 0.1)
    with pytest.raises(ntk.InvalidArgumentError, match="fitted on a kernel"):
        kernel_model.predict(Xt)


def test_cancellation_leaves_handles_valid(problem):
    net, X, Y, Xt = problem
    before = ntk.live_handle_count()
    calls = []

    def stop_at_third(fraction):
        calls.append(fraction)
        return len(calls) < 3

    for solver in ("direct", "cg"):
        calls.clear()
        with pytest.raises(ntk.CancelledError):
            ntk.NystromRidge(net, X, Y, 0.1, 100, solver=solver, memory_limit=6 << 20, progress=stop_at_third)
    assert ntk.live_handle_count() == before
    model = ntk.NystromRidge(net, X, Y, 0.1, 30)
    expect = model.predict(Xt)
    calls.clear()
    with pytest.raises(ntk.CancelledError):
        model.predict(np.vstack([Xt] * 300), progress=stop_at_third)
    assert np.array_equal(model.predict(Xt), expect)


def test_memory_budget():
    default = ntk.memory_budget()
    assert default == ntk.runtime.physical_memory() // 4 or ntk.runtime.physical_memory() == 0
    rng = np.random.default_rng(0)
    X = rng.standard_normal((500, 3))
    net = ntk.MLP(3, [4], 1)
    try:
        ntk.set_memory_budget(1 << 20)
        assert ntk.memory_budget() == 1 << 20
        with pytest.raises(ntk.OutOfMemoryError, match="memory budget is 1.0 MiB"):
            ntk.NystromRidge(net, X, X[:, 0], 0.1, 400)
        # A call's own limit overrides the process-wide budget.
        ntk.NystromRidge(net, X, X[:, 0], 0.1, 400, memory_limit=64 << 20)
        # The empirical NTK blocks its samples within the budget and gives the same kernel.
        small = ntk.empirical_ntk(net, X)
    finally:
        ntk.set_memory_budget(None)
    assert ntk.memory_budget() == default
    assert np.abs(small - ntk.empirical_ntk(net, X)).max() < 1e-12 * np.abs(small).max()
    with pytest.raises(ntk.InvalidArgumentError):
        ntk.set_memory_budget(-5)


def test_estimator_solvers(rng):
    X = rng.standard_normal((250, 3))
    y = np.sin(X[:, 0]) + X[:, 1] * X[:, 2]
    Xt = rng.standard_normal((30, 3))
    dense = NTKRegressor(solver="direct", ridge=1e-3).fit(X, y)
    full = NTKRegressor(solver="nystrom", ridge=1e-3, n_centers=250).fit(X, y)
    assert dense.solver_ == "direct" and full.solver_ == "nystrom" and full.X_fit_.shape == (250, 3)
    # The normal equations square the kernel's conditioning: ~eps (lambda_max / z)^2 here.
    assert relative(full.predict(Xt), dense.predict(Xt)) < 1e-7
    falkon = NTKRegressor(solver="cg", ridge=1e-3, n_centers=250, tol=1e-12, max_iter=500).fit(X, y)
    assert relative(falkon.predict(Xt), dense.predict(Xt)) < 1e-6 and falkon.n_iter_ >= 1
    # GCV and finite times through the Nyström spectrum, against the dense solver with all centres.
    # (Ridges well above the rounding of the squared conditioning, where GCV curves agree.)
    for kwargs in (dict(ridge="gcv", ridges=np.geomspace(1e-3, 1.0, 7)), dict(time=30.0)):
        a = NTKRegressor(solver="direct", **kwargs).fit(X, y)
        b = NTKRegressor(solver="nystrom", n_centers=250, **kwargs).fit(X, y)
        assert a.ridge_ == pytest.approx(b.ridge_, rel=1e-12)
        assert relative(b.predict(Xt), a.predict(Xt)) < 1e-7
        if a.ridge_scores_ is not None:
            assert relative(b.ridge_scores_, a.ridge_scores_) < 1e-7
    assert NTKRegressor().fit(X, y).solver_ == "direct"
    try:
        ntk.set_memory_budget(16 * 250 * 250 - 1)  # the dense kernel no longer fits
        auto = NTKRegressor(n_centers=50).fit(X, y)
    finally:
        ntk.set_memory_budget(None)
    assert auto.solver_ == "nystrom" and auto.dual_coef_.shape == (50, 1)
    for bad in (dict(solver="cg"), dict(solver="nystrom", kernel="empirical"), dict(solver="nystrom", ridge="loo"),
                dict(solver="qr"), dict(n_centers=0), dict(tol=-1.0), dict(max_iter=0), dict(centers="grid")):
        with pytest.raises(ValueError):
            NTKRegressor(**bad).fit(X, y)
    with pytest.raises(ValueError, match="dense solver"):
        full.predict(Xt, return_std=True)


# ----------------------------------------------------------------------------------------------
# The matrix-free empirical NTK: CG kernel ridge and Lanczos gradient flow, against the dense
# empirical NTK (ntk.empirical_ntk) with numpy.linalg.solve and scipy.linalg.expm.


@pytest.fixture
def empirical(rng):
    n, d = 160, 3
    X = rng.standard_normal((n, d))
    Xt = rng.standard_normal((25, d))
    net = ntk.MLP(d, [24, 16], 2, activation="tanh", b_std=0.3, seed=4)
    Y = np.column_stack([np.sin(X[:, 0]), X[:, 1] * X[:, 2]])
    return net, X, Y, Xt


def test_matrix_free_ridge_equals_dense_kernel_ridge(empirical):
    net, X, Y, Xt = empirical
    K, Kt = ntk.empirical_ntk(net, X), ntk.empirical_ntk(net, Xt, X)
    f0, f0t = net(X), net(Xt)
    z = 1e-3 * np.trace(K) / len(K)
    alpha = np.linalg.solve(K + z * np.eye(len(K)), Y - f0)
    with ntk.EmpiricalNTKRidge(net, X, Y, z, f0_train=f0, tol=1e-12, max_iter=1000, preconditioner_rank=40) as model:
        assert model.converged and model.residuals[-1] <= 1e-12
        assert relative(model.dual_coef_, alpha) < 1e-8
        assert relative(model.predict(Xt, f0_test=f0t), f0t + Kt @ alpha) < 1e-9
        # The model keeps the parameters of the fit: changing the network afterwards changes nothing.
        before = model.predict(Xt)
        net.set_flat_parameters(net.flat_parameters * 1.1)
        assert np.array_equal(model.predict(Xt), before)


def test_single_precision_products_reach_the_double_solution(empirical, caplog):
    """dtype=float32: float products with reliable updates from double ones stop on the true
    residual, so alpha and the predictions are those of the dense solve to the tolerance (float
    products alone would leave them about 1e-6 off)."""
    net, X, Y, Xt = empirical
    K, Kt = ntk.empirical_ntk(net, X), ntk.empirical_ntk(net, Xt, X)
    f0, f0t = net(X), net(Xt)
    z = 1e-3 * np.trace(K) / len(K)
    alpha = np.linalg.solve(K + z * np.eye(len(K)), Y - f0)
    with caplog.at_level(logging.INFO, logger="ntk"):
        model = ntk.EmpiricalNTKRidge(net, X, Y, z, f0_train=f0, tol=1e-12, max_iter=1000, preconditioner_rank=40,
                                      dtype=np.float32)
    text = "\n".join(r.getMessage() for r in caplog.records if r.name == "ntk")
    assert "empirical NTK products in single precision" in text and "reliable update(s)" in text
    assert model.converged and model.residuals[-1] <= 1e-12 and len(model.residuals) == model.iterations
    assert relative(model.dual_coef_, alpha) < 1e-8
    assert relative(model.predict(Xt, f0_test=f0t), f0t + Kt @ alpha) < 1e-9
    model.close()
    # A 1-D target and the cap: the last iterate, as with double products.
    with pytest.warns(ntk.ConvergenceWarning):
        capped = ntk.EmpiricalNTKRidge(net, X, Y[:, 0], z, max_iter=3, preconditioner_rank=0, dtype=np.float32)
    assert not capped.converged and capped.iterations == 3 and capped.predict(Xt).shape == (len(Xt),)
    capped.close()


def test_single_precision_products_only_for_an_mlp(empirical):
    net, X, Y, _ = empirical
    # Closed at once: a handle left to the garbage collector would upset other tests' handle counts.
    with ntk.Network([ntk.layers.Dense(8), ntk.layers.Activation("relu"), ntk.layers.Dense(2)],
                     input_shape=(3,)) as layered:
        with pytest.raises(ntk.InvalidArgumentError, match="float32 is available for an ntk.MLP"):
            ntk.EmpiricalNTKRidge(layered, X, Y, 0.1, dtype=np.float32)
    with pytest.raises(ntk.InvalidArgumentError, match="dtype"):
        ntk.EmpiricalNTKRidge(net, X, Y, 0.1, dtype=np.int32)


def test_nystrom_preconditioner_saves_iterations(empirical):
    net, X, Y, _ = empirical
    K = ntk.empirical_ntk(net, X)
    z = 1e-6 * np.trace(K) / len(K)
    kwargs = dict(tol=1e-10, max_iter=5000)
    with ntk.EmpiricalNTKRidge(net, X, Y[:, 0], z, preconditioner_rank=80, **kwargs) as fast, \
            ntk.EmpiricalNTKRidge(net, X, Y[:, 0], z, preconditioner_rank=0, **kwargs) as plain:
        assert fast.converged and plain.converged
        assert fast.iterations * 3 < plain.iterations, (fast.iterations, plain.iterations)
        assert relative(fast.dual_coef_, plain.dual_coef_) < 1e-5


def test_lanczos_gradient_flow_equals_the_matrix_exponential(empirical):
    net, X, Y, Xt = empirical
    n, k = Y.shape
    K, Kt = ntk.empirical_ntk(net, X), ntk.empirical_ntk(net, Xt, X)
    f0, f0t = net(X), net(Xt)
    eta, N = 0.5, Y.size
    lam = np.linalg.eigvalsh(K)[-1]
    times = np.array([0.0, 3.0 * N / lam, 30.0 * N / lam, 1e3 * N / lam])
    train, test, estimate = ntk.empirical_gradient_flow(net, X, Y, times, X_test=Xt, f0_train=f0, f0_test=f0t,
                                                        learning_rate=eta, tol=1e-12)
    R = Y - f0
    assert estimate <= 1e-12
    for i, t in enumerate(times):
        A = eta * K / N
        expect_train = f0 + R - scipy.linalg.expm(-t * A) @ R
        augmented = np.zeros((2 * n, 2 * n))
        augmented[:n, :n], augmented[:n, n:] = -A, np.eye(n)
        expect_test = f0t + (eta / N) * Kt @ scipy.linalg.expm(t * augmented)[:n, n:] @ R
        assert np.abs(train[i] - expect_train).max() < 1e-8 * np.abs(expect_train).max(), t
        assert np.abs(test[i] - expect_test).max() < 1e-8 * np.abs(expect_test).max(), t


def test_matrix_free_bad_input_and_cancellation(empirical):
    net, X, Y, Xt = empirical
    for kwargs, match in [(dict(tol=0.0), "tol"), (dict(max_iter=0), "max_iter"),
                          (dict(preconditioner_rank=-1), "rank")]:
        with pytest.raises(ntk.InvalidArgumentError, match=match):
            ntk.EmpiricalNTKRidge(net, X, Y, 0.1, **kwargs)
    with pytest.raises(ntk.InvalidArgumentError, match="ridge"):
        ntk.EmpiricalNTKRidge(net, X, Y, -0.1)
    with pytest.raises(ntk.DimensionMismatchError):
        ntk.EmpiricalNTKRidge(net, X, Y[:10], 0.1)
    with pytest.raises(ntk.OutOfMemoryError, match="memory budget"):
        ntk.EmpiricalNTKRidge(net, X, Y, 0.1, memory_limit=10_000)
    for times in ([np.inf], [-1.0], [np.nan]):
        with pytest.raises(ntk.InvalidArgumentError, match="times"):
            ntk.empirical_gradient_flow(net, X, Y, times)
    with pytest.raises(ntk.InvalidArgumentError, match="learning_rate"):
        ntk.empirical_gradient_flow(net, X, Y, [1.0], learning_rate=0.0)
    with pytest.warns(ntk.ConvergenceWarning):
        model = ntk.EmpiricalNTKRidge(net, X, Y, 1e-8, max_iter=2, preconditioner_rank=0)
    assert not model.converged and model.iterations == 2
    with pytest.raises(ntk.DimensionMismatchError):
        model.predict(Xt[:, :2])
    before = ntk.live_handle_count()
    calls = []
    with pytest.raises(ntk.CancelledError):
        ntk.EmpiricalNTKRidge(net, X, Y, 1e-3, progress=lambda f: calls.append(f) or len(calls) < 4)
    with pytest.raises(ntk.CancelledError):
        ntk.empirical_gradient_flow(net, X, Y, [1.0], progress=lambda f: False)
    assert ntk.live_handle_count() == before
    assert np.all(np.isfinite(model.predict(Xt)))


def test_estimator_matrix_free_solver(rng):
    X = rng.standard_normal((200, 3))
    y = np.sin(X[:, 0]) + X[:, 1]
    Xt = rng.standard_normal((20, 3))
    args = dict(kernel="empirical", widths=(32,), ridge=1e-3, random_state=3)
    dense = NTKRegressor(solver="direct", **args).fit(X, y)
    free = NTKRegressor(solver="cg", tol=1e-12, max_iter=2000, **args).fit(X, y)
    assert free.solver_ == "cg" and free.n_iter_ >= 1
    assert relative(free.predict(Xt), dense.predict(Xt)) < 1e-7
    offset = dict(args, network_offset=True)
    assert relative(NTKRegressor(solver="cg", tol=1e-12, max_iter=2000, **offset).fit(X, y).predict(Xt),
                    NTKRegressor(solver="direct", **offset).fit(X, y).predict(Xt)) < 1e-7
