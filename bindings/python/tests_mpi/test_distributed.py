"""ntk.distributed under mpirun (np = 1, 2, 4): every rank runs these tests in step.

    mpirun -np 2 python -m pytest bindings/python/tests_mpi -q -p no:cacheprovider

Each distributed result is compared with the single-process library (and, for the solvers,
with plain numpy) on every rank. Tolerances: kernels 1e-12, kernel ridge / gradient flow /
GCV 1e-10, data-parallel fits 1e-8, the data-parallel flow 1e-9 of the single-process one (relative
to the largest entry).
"""

import numpy as np
import pytest
import scipy.linalg
from mpi4py import MPI

import ntk
from ntk import distributed as dist

COMM = MPI.COMM_WORLD
RANK, SIZE = COMM.rank, COMM.size


def rel(a, b):
    a, b = np.asarray(a), np.asarray(b)
    return np.max(np.abs(a - b)) / max(np.max(np.abs(b)), 1e-300)


@pytest.fixture(scope="module")
def grid():
    with dist.Grid(COMM, block_size=16) as g:
        yield g


@pytest.fixture(scope="module")
def data():
    rng = np.random.default_rng(0)
    X, Xt = rng.standard_normal((120, 4)), rng.standard_normal((30, 4))
    Y, f0, f0t = rng.standard_normal((120, 2)), 0.1 * rng.standard_normal((120, 2)), 0.1 * rng.standard_normal((30, 2))
    return X, Xt, Y, f0, f0t


def my_slice(n):
    return slice(n * RANK // SIZE, n * (RANK + 1) // SIZE)


def my_rows(a):
    return a[my_slice(a.shape[0])]


def test_grid_shape(grid):
    assert grid.shape[0] * grid.shape[1] == SIZE and grid.size == SIZE and grid.rank == RANK
    assert 0 <= grid.coords[0] < grid.shape[0] and grid.block_size == 16


@pytest.mark.parametrize("activation", ["relu", "erf", "tanh"])
@pytest.mark.parametrize("kind", ["ntk", "nngp"])
def test_infinite_width_kernels_equal_single_process(grid, data, activation, kind):
    X, Xt, *_ = data
    net = ntk.MLP(4, [16, 16], 1, activation=activation, b_std=0.1)
    with dist.infinite_width_kernel(grid, net, X, kind=kind) as K, \
            dist.infinite_width_kernel(grid, net, my_rows(Xt), X, kind=kind, layout="rows") as Kt:
        nngp, theta = ntk.infinite_width_kernels(net, X)
        nngp_t, theta_t = ntk.infinite_width_kernels(net, Xt, X)
        assert rel(K.gather(), theta if kind == "ntk" else nngp) <= 1e-12
        assert rel(Kt.gather(), theta_t if kind == "ntk" else nngp_t) <= 1e-12
        # The local view is this rank's blocks.
        full = K.gather()
        assert np.array_equal(K.local, full[np.ix_(K.row_indices, K.col_indices)])


def test_empirical_ntk_equals_single_process(grid, data):
    X, Xt, *_ = data
    net = ntk.MLP(4, [32], 2, seed=3)
    with dist.empirical_ntk(grid, net, X) as K, dist.empirical_ntk(grid, net, Xt, X) as Kt:
        assert rel(K.gather(), ntk.empirical_ntk(net, X)) <= 1e-12
        assert rel(Kt.gather(), ntk.empirical_ntk(net, Xt, X)) <= 1e-12


def test_own_kernel_in_local_blocks(grid, data):
    """A kernel the caller fills block by block (here RBF) gives numpy's kernel ridge."""
    X, Xt, Y, *_ = data
    rbf = lambda a, b: np.exp(-0.5 * ((a[:, None, :] - b[None, :, :]) ** 2).sum(-1))  # noqa: E731
    with dist.DistributedMatrix.zeros(grid, 120, 120) as K, dist.DistributedMatrix.zeros(grid, 30, 120) as Kt:
        K.local[:] = rbf(X[K.row_indices], X[K.col_indices])
        Kt.local[:] = rbf(Xt[Kt.row_indices], X[Kt.col_indices])
        with dist.KernelRidge(K, Y, ridge=1e-2) as model:
            expected = rbf(Xt, X) @ np.linalg.solve(rbf(X, X) + 1e-2 * np.eye(120), Y)
            assert rel(model.predict(Kt), expected) <= 1e-10


def test_kernel_ridge_equals_single_process(grid, data):
    X, Xt, Y, f0, f0t = data
    net = ntk.MLP(4, [16, 16], 2, b_std=0.1)
    with dist.infinite_width_kernel(grid, net, X) as K, dist.infinite_width_kernel(grid, net, Xt, X) as Kt:
        _, theta = ntk.infinite_width_kernels(net, X)
        _, theta_t = ntk.infinite_width_kernels(net, Xt, X)
        for relative in (False, True):
            with dist.KernelRidge(K, Y, ridge=1e-3, f0_train=f0, ridge_relative=relative) as model, \
                    ntk.KernelRidge(theta, Y, ridge=1e-3, f0_train=f0, ridge_relative=relative) as single:
                assert rel(model.predict(Kt, f0t), single.predict(theta_t, f0t)) <= 1e-10
                assert rel(model.train_predictions, single.train_predictions) <= 1e-10
                assert rel(model.dual_coef_, single.dual_coef_) <= 1e-10
                assert model.ridge == pytest.approx(single.ridge, rel=1e-12)
        # numpy, independently
        with dist.KernelRidge(K, Y[:, 0], ridge=1e-2) as model:
            expected = theta_t @ np.linalg.solve(theta + 1e-2 * np.eye(120), Y[:, 0])
            pred = model.predict(Kt)
            assert pred.shape == (30,) and rel(pred, expected) <= 1e-10


def test_spectral_flow_and_gcv_equal_single_process(grid, data):
    X, Xt, Y, f0, f0t = data
    net = ntk.MLP(4, [16], 2, b_std=0.1)
    times = np.array([0.0, 1.0, 10.0, np.inf, np.inf])
    ridges = np.array([0.0, 0.0, 0.0, 0.0, 1e-2])
    with dist.infinite_width_kernel(grid, net, X) as K, dist.infinite_width_kernel(grid, net, Xt, X) as Kt:
        _, theta = ntk.infinite_width_kernels(net, X)
        _, theta_t = ntk.infinite_width_kernels(net, Xt, X)
        with dist.SpectralSolver(K) as solver:
            train, test = solver.predict(Y, times, ridges, K_test_train=Kt, learning_rate=100, f0_train=f0, f0_test=f0t)
            with ntk.SpectralSolver(theta) as single:
                assert rel(solver.eigenvalues, single.eigenvalues) <= 1e-10
                for t, z in zip(times, ridges):
                    s_train, s_test = single.gradient_flow(Y, [t], K_test_train=theta_t, learning_rate=100, ridge=z,
                                                           f0_train=f0, f0_test=f0t)
                    i = list(zip(times, ridges)).index((t, z))
                    assert rel(train[i], s_train[0]) <= 1e-10 and rel(test[i], s_test[0]) <= 1e-10
                path, _ = solver.ridge_path(Y, [1e-3, 1e-1], f0_train=f0)
                s_path, _ = single.ridge_path(Y, [1e-3, 1e-1], f0_train=f0)
                assert rel(path, s_path) <= 1e-10
                grid_r = np.logspace(-5, 1, 7)
                for criterion in ("gcv", "loo"):
                    best, _, scores = solver.select_ridge(Y, grid_r, criterion=criterion, f0_train=f0)
                    s_best, _, s_scores = single.select_ridge(Y, grid_r, criterion=criterion, f0_train=f0)
                    assert rel(scores, s_scores) <= 1e-10 and best == s_best
            # The matrix exponential, independently: train residual at t = 10 with eta = 100.
            from scipy.linalg import expm
            n_targets = Y.size
            expected = Y - expm(-100 * 10 * theta / n_targets) @ (Y - f0)
            assert rel(train[2], expected) <= 1e-9
            assert np.allclose(train[0], f0, atol=1e-12)


def test_data_parallel_nystrom_equals_single_process(data):
    rng = np.random.default_rng(1)
    X, Y, Xt = rng.standard_normal((400, 4)), rng.standard_normal((400, 2)), rng.standard_normal((25, 4))
    C = X[::7][:50]
    net = ntk.MLP(4, [16], 2)
    for solver in ("direct", "cg"):
        model = dist.nystrom_ridge(COMM, net, my_rows(X), my_rows(Y), 1e-3, None, centers=C, solver=solver,
                                   tol=1e-12, max_iter=500)
        single = ntk.NystromRidge(net, X, Y, 1e-3, None, centers=C, solver=solver, tol=1e-12, max_iter=500)
        with model, single:
            assert model.n == 400
            assert rel(model.predict(Xt), single.predict(Xt)) <= 1e-8
            if solver == "direct":
                grid = [1e-4, 1e-2, 1]
                assert rel(model.select_ridge(grid).scores, single.select_ridge(grid).scores) <= 1e-8
    with dist.nystrom_ridge(COMM, net, my_rows(X), my_rows(Y), 1e-3, 40, seed=5) as sampled:
        coef = np.ascontiguousarray(sampled.coef_)
        high, low = np.empty_like(coef), np.empty_like(coef)
        COMM.Allreduce(coef, high, op=MPI.MAX)
        COMM.Allreduce(coef, low, op=MPI.MIN)
        assert np.array_equal(high, low)


def test_data_parallel_empirical_ridge_equals_single_process():
    rng = np.random.default_rng(2)
    X, Y, Xt = rng.standard_normal((300, 3)), rng.standard_normal(300), rng.standard_normal((20, 3))
    net = ntk.MLP(3, [24], 1, seed=4)
    with dist.empirical_ridge(COMM, net, my_rows(X), my_rows(Y), 0.1, tol=1e-12, max_iter=3000) as model, \
            ntk.EmpiricalNTKRidge(net, X, Y, 0.1, tol=1e-12, max_iter=3000, preconditioner_rank=0) as single:
        assert rel(model.predict(Xt), single.predict(Xt)) <= 1e-8
        assert rel(model.dual_coef_, my_rows(single.dual_coef_)) <= 1e-8
        # numpy: the dense empirical NTK ridge.
        K = ntk.empirical_ntk(net, X)
        expected = ntk.empirical_ntk(net, Xt, X) @ np.linalg.solve(K + 0.1 * np.eye(300), Y)
        assert rel(model.predict(Xt), expected) <= 1e-8
    # Preconditioned by the Nystrom approximation of all the rows (centres drawn across the ranks):
    # the same answer in at most half the iterations of plain CG.
    with dist.empirical_ridge(COMM, net, my_rows(X), my_rows(Y), 0.1, tol=1e-10, preconditioner_rank=0) as plain, \
            dist.empirical_ridge(COMM, net, my_rows(X), my_rows(Y), 0.1, tol=1e-10, preconditioner_rank=48) as pre:
        assert rel(pre.predict(Xt), expected) <= 1e-8 and rel(plain.predict(Xt), expected) <= 1e-8
        assert 2 * pre.iterations <= plain.iterations, (pre.iterations, plain.iterations)


def test_single_precision_products_over_the_ranks():
    """dtype=float32 on every rank: the float products and the reliable updates' double ones reduce
    over the ranks like the double fit, so alpha is the dense solve's to the tolerance (float
    products alone stop near 1e-6); a precision that differs by rank, or float32 for a layered
    network, is every rank's error."""
    rng = np.random.default_rng(3)
    X, Y, Xt = rng.standard_normal((300, 3)), rng.standard_normal((300, 2)), rng.standard_normal((20, 3))
    net = ntk.MLP(3, [24], 2, seed=5)
    K = ntk.empirical_ntk(net, X)
    alpha = np.linalg.solve(K + 0.1 * np.eye(300), Y)
    expected = ntk.empirical_ntk(net, Xt, X) @ alpha
    for rank in (0, 48):
        with dist.empirical_ridge(COMM, net, my_rows(X), my_rows(Y), 0.1, tol=1e-12, max_iter=3000,
                                  preconditioner_rank=rank, dtype=np.float32) as model:
            assert model.converged and model.residuals[-1] <= 1e-12
            assert rel(model.dual_coef_, my_rows(alpha)) <= 1e-8
            assert rel(model.predict(Xt), expected) <= 1e-8
    if SIZE > 1:
        mixed = np.float32 if RANK == 0 else np.float64
        with pytest.raises(ntk.InvalidArgumentError, match=r"dtype \(as a precision.*\) differs across the ranks") as e:
            dist.empirical_ridge(COMM, net, my_rows(X), my_rows(Y), 0.1, dtype=mixed)
        assert _same_everywhere(str(e.value))
    with ntk.Network([ntk.layers.Dense(8), ntk.layers.Activation("relu"), ntk.layers.Dense(2)],
                     input_shape=(3,)) as layered:
        with pytest.raises(ntk.InvalidArgumentError, match="single-precision") as e:
            dist.empirical_ridge(COMM, layered, my_rows(X), my_rows(Y), 0.1, dtype=np.float32)
        assert _same_everywhere(str(e.value))


def _same_everywhere(text):
    return COMM.allgather(text) == [text] * SIZE


def test_bad_argument_on_one_rank_is_everyones_error(grid, data):
    X, Xt, Y, *_ = data
    net = ntk.MLP(4, [8], 2)
    with dist.infinite_width_kernel(grid, net, X) as K:
        if RANK == SIZE - 1 and K.local.size:
            K.local[0, 0] = np.nan
        with pytest.raises(ntk.NonFiniteError) as e:
            dist.KernelRidge(K, Y, ridge=1e-2)
        assert f"rank {SIZE - 1}" in str(e.value) and _same_everywhere(str(e.value))
        assert "ntk.distributed.KernelRidge" in str(e.value)
    bad = my_rows(X).copy()
    if RANK == 0:
        bad[0, 1] = np.inf
    with pytest.raises(ntk.NonFiniteError) as e:
        dist.nystrom_ridge(COMM, net, bad, my_rows(Y), 1e-3, None, centers=X[:10])
    assert _same_everywhere(str(e.value))


def test_mismatched_inputs_across_ranks(grid, data):
    """Inputs documented as replicated that differ by rank (fewer rows, another network) fail on
    every rank; with one rank they are consistent and the calls succeed."""
    X, *_ = data
    net = ntk.MLP(4, [8], 1)
    other = ntk.MLP(4, [8], 1, seed=RANK)
    X2 = X[: 120 - RANK]
    if SIZE == 1:
        with dist.infinite_width_kernel(grid, net, X2) as K, dist.empirical_ntk(grid, other, X) as E:
            assert K.shape == (120, 120) and E.shape == (120, 120)
        return
    with pytest.raises(ntk.InvalidArgumentError) as e:
        dist.infinite_width_kernel(grid, net, X2)
    assert "differs across the ranks" in str(e.value) and _same_everywhere(str(e.value))
    with pytest.raises(ntk.InvalidArgumentError) as e:
        dist.empirical_ntk(grid, other, X)
    assert "parameters" in str(e.value) and _same_everywhere(str(e.value))


def test_out_of_memory_on_one_rank_is_everyones(data):
    X, _, Y, *_ = data
    net = ntk.MLP(4, [8], 2)
    if RANK == 0:
        ntk.set_memory_budget(1024)
    try:
        with pytest.raises(ntk.OutOfMemoryError) as e:
            dist.empirical_ridge(COMM, net, my_rows(X), my_rows(Y), 0.1)
        assert _same_everywhere(str(e.value))
    finally:
        if RANK == 0:
            ntk.set_memory_budget(None)


def test_kernel_ridge_progress_and_a_cancel_on_one_rank():
    # n = 700 on 16-blocks: a blocked Cholesky of several panels, with a report after each.
    with dist.Grid(COMM, block_size=16) as g:
        n, y = 700, np.cos(0.01 * np.arange(700))
        dense = np.exp(-np.abs(np.subtract.outer(np.arange(n), np.arange(n))) / 40.0)
        with dist.DistributedMatrix.zeros(g, n, n) as K:
            K.local[:, :] = dense[np.ix_(K.row_indices, K.col_indices)]
            seen = []
            with dist.KernelRidge(K, y, ridge=1e-3, progress=lambda f: seen.append(f)) as model:
                expected = np.linalg.solve(dense + 1e-3 * np.eye(n), y)
                assert rel(model.dual_coef_, expected) <= 1e-10
            assert len(seen) >= 3 and seen[-1] == 1.0 and seen == sorted(seen)
            canceller = 1 if SIZE > 1 else 0
            calls = []

            def stop_at_second(fraction):
                calls.append(fraction)
                return RANK != canceller or len(calls) < 2

            with pytest.raises(ntk.CancelledError, match=f"rank {canceller}"):
                dist.KernelRidge(K, y, ridge=1e-3, progress=stop_at_second)
            with dist.KernelRidge(K, y, ridge=1e-3) as again:   # the kernel is still usable
                assert rel(again.dual_coef_, expected) <= 1e-10


def test_data_parallel_gradient_flow_equals_single_process():
    """Each rank's rows of the single-process Lanczos flow, and the flow at its own test points;
    the single-process flow itself is checked against scipy's expm on the dense kernel."""
    rng = np.random.default_rng(5)
    X, Y = rng.standard_normal((240, 3)), rng.standard_normal((240, 2))
    Xt = np.random.default_rng(100 + RANK).standard_normal((7 + RANK, 3))
    net = ntk.MLP(3, [24], 2, seed=6)
    times = [0.0, 0.7, 9.0]
    train, test, estimate = dist.empirical_gradient_flow(COMM, net, my_rows(X), my_rows(Y), times, X_test=Xt,
                                                         tol=1e-12)
    full_train, full_test, _ = ntk.empirical_gradient_flow(net, X, Y, times, X_test=Xt, tol=1e-12)
    assert train.shape == (3, my_rows(X).shape[0], 2) and test.shape == (3, Xt.shape[0], 2)
    assert rel(train, full_train[:, my_slice(240)]) <= 1e-9 and rel(test, full_test) <= 1e-9
    assert 0 <= estimate <= 1e-12
    # The dense reference: f(t) = Y - e^{-sK} Y (f0 = 0), test K(x, X) K^{-1} (I - e^{-sK}) Y.
    K = ntk.empirical_ntk(net, X)
    s = 9.0 / (240 * 2)
    expected = Y - scipy.linalg.expm(-s * K) @ Y
    assert rel(train[2], expected[my_slice(240)]) <= 1e-8
    # A 1-D Y gives (T, n_r); test points on every rank or on none (checked).
    train1, none, _ = dist.empirical_gradient_flow(COMM, net, my_rows(X), my_rows(Y[:, 0]), times)
    assert train1.shape == (3, my_rows(X).shape[0]) and none is None
    if SIZE > 1:
        with pytest.raises(ntk.InvalidArgumentError, match="test predictions") as e:
            dist.empirical_gradient_flow(COMM, net, my_rows(X), my_rows(Y), times, X_test=Xt if RANK == 0 else None)
        assert _same_everywhere(str(e.value))
        with pytest.raises(ntk.InvalidArgumentError, match="times") as e:
            dist.empirical_gradient_flow(COMM, net, my_rows(X), my_rows(Y), [0.0, 1.0 + RANK])
        assert _same_everywhere(str(e.value))


def test_data_parallel_progress_and_a_cancel_on_one_rank():
    """A cancel from one rank's progress callback stops every rank (the CG ridge and the flow)."""
    rng = np.random.default_rng(8)
    X, Y = rng.standard_normal((200, 3)), rng.standard_normal(200)
    net = ntk.MLP(3, [16], 1, seed=2)
    canceller = 1 if SIZE > 1 else 0
    seen = []
    with dist.empirical_ridge(COMM, net, my_rows(X), my_rows(Y), 0.1, preconditioner_rank=0,
                              progress=seen.append) as model:
        assert model.n == my_rows(X).shape[0]
    assert seen[-1] == 1.0 and seen == sorted(seen)

    def stop_at_third(calls):
        def report(_fraction):
            calls.append(1)
            return RANK != canceller or len(calls) < 3
        return report

    with pytest.raises(ntk.CancelledError, match=f"rank {canceller}") as e:
        dist.empirical_ridge(COMM, net, my_rows(X), my_rows(Y), 0.0, tol=1e-300, max_iter=200,
                             preconditioner_rank=0, progress=stop_at_third([]))
    assert _same_everywhere(str(e.value))
    with pytest.raises(ntk.CancelledError, match=f"rank {canceller}") as e:
        dist.empirical_gradient_flow(COMM, net, my_rows(X), my_rows(Y), [1.0], tol=1e-300, max_iter=150,
                                     progress=stop_at_third([]))
    assert _same_everywhere(str(e.value))


def cnn(seed=0, k=2):
    """A small CNN on 4 x 4 x 1 images (layers: ntk.layers)."""
    L = ntk.layers
    return ntk.Network([L.Conv(3, (2, 2), padding="SAME"), L.Activation("relu"), L.AvgPool((2, 2), strides=(2, 2)),
                        L.Flatten(), L.Dense(k)], input_shape=(4, 4, 1), W_std=1.3, b_std=0.1, seed=seed)


def test_networks_of_layers_equal_single_process(grid):
    """The distributed kernels and the three data-parallel solvers take a Network as they take an
    MLP: the same numbers as the single-process library, and a rank with another kind of network
    (an MLP of the same input width) is everyone's error."""
    rng = np.random.default_rng(7)
    X, Xt, Y = rng.standard_normal((96, 4, 4, 1)), rng.standard_normal((10, 4, 4, 1)), rng.standard_normal((96, 2))
    net = cnn()
    with dist.infinite_width_kernel(grid, net, X, kind="nngp") as K, dist.empirical_ntk(grid, net, Xt, X) as Kt:
        assert rel(K.gather(), ntk.infinite_width_nngp(net, X)) <= 1e-12
        assert rel(Kt.gather(), ntk.empirical_ntk(net, Xt, X)) <= 1e-12
    C = X[::5]
    with dist.nystrom_ridge(COMM, net, my_rows(X), my_rows(Y), 1e-3, None, centers=C) as model, \
            ntk.NystromRidge(net, X, Y, 1e-3, None, centers=C) as single:
        assert model.n == 96 and rel(model.predict(Xt), single.predict(Xt)) <= 1e-8
    with dist.empirical_ridge(COMM, net, my_rows(X), my_rows(Y), 0.1, tol=1e-12, preconditioner_rank=16) as model:
        K = ntk.empirical_ntk(net, X)
        expected = ntk.empirical_ntk(net, Xt, X) @ np.linalg.solve(K + 0.1 * np.eye(96), Y)
        assert rel(model.predict(Xt), expected) <= 1e-8
    times = [0.5, 8.0]
    train, test, _ = dist.empirical_gradient_flow(COMM, net, my_rows(X), my_rows(Y), times, X_test=Xt, tol=1e-12)
    full_train, full_test, _ = ntk.empirical_gradient_flow(net, X, Y, times, X_test=Xt, tol=1e-12)
    assert rel(train, full_train[:, my_slice(96)]) <= 1e-9 and rel(test, full_test) <= 1e-9
    if SIZE > 1:
        other = ntk.MLP(16, [8], 2) if RANK == 1 else net
        with pytest.raises(ntk.InvalidArgumentError, match="kind and depth") as e:
            dist.empirical_ridge(COMM, other, my_rows(X).reshape(-1, 16), my_rows(Y), 0.1)
        assert _same_everywhere(str(e.value))
