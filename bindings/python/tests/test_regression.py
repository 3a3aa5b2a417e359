"""Kernel regression solvers against independent computations: numpy.linalg.solve for ridge and
t = inf, scipy.linalg.expm for gradient flow at finite t, brute-force refits for LOO and GCV, a
parameter-space ODE solved by the exponential of an augmented matrix for singular kernels."""

import numpy as np
import pytest
import scipy.linalg

import ntk

from conftest import random_spd


def rel(a, b):
    return np.max(np.abs(np.asarray(a) - np.asarray(b))) / max(np.max(np.abs(b)), 1e-300)


@pytest.fixture
def problem(rng):
    """A PD kernel on train ∪ test points from random features, targets and offsets (k = 3)."""
    n, m, p, k = 40, 15, 60, 3
    s = rng.standard_normal((n + m, p))
    kfull = s @ s.T / p
    return {
        "K": kfull[:n, :n], "Kt": kfull[n:, :n], "Y": rng.standard_normal((n, k)),
        "f0": 0.3 * rng.standard_normal((n, k)), "f0t": 0.3 * rng.standard_normal((m, k)), "n": n, "k": k,
    }


class TestKernelRidge:
    def test_matches_numpy_solve_with_offsets(self, problem):
        K, Kt, Y, f0, f0t = (problem[x] for x in ("K", "Kt", "Y", "f0", "f0t"))
        z = 0.05
        alpha = np.linalg.solve(K + z * np.eye(len(K)), Y - f0)
        train, test = ntk.kernel_ridge(K, Y, Kt, ridge=z, f0_train=f0, f0_test=f0t)
        assert rel(train, f0 + K @ alpha) < 1e-10
        assert rel(test, f0t + Kt @ alpha) < 1e-10

    def test_relative_ridge_and_reusable_model(self, problem, rng):
        K, Y = problem["K"], problem["Y"]
        z = 0.1 * np.trace(K) / len(K)
        alpha = np.linalg.solve(K + z * np.eye(len(K)), Y)
        with ntk.KernelRidge(K, Y, ridge=0.1, ridge_relative=True) as model:
            assert model.ridge == pytest.approx(z, rel=1e-14) and model.jitter == 0
            assert rel(model.dual_coef_, alpha) < 1e-10
            for _ in range(3):
                other = rng.standard_normal((7, len(K)))
                assert rel(model.predict(other), other @ alpha) < 1e-10

    def test_vector_targets_keep_their_shape(self, problem):
        train, test = ntk.kernel_ridge(problem["K"], problem["Y"][:, 0], problem["Kt"], ridge=0.1)
        assert train.shape == (problem["n"],) and test.shape == (15,)
        assert test.shape == (15,)

    def test_not_positive_definite_and_jitter(self, rng):
        s = rng.standard_normal((30, 5))
        K = s @ s.T  # rank 5
        y = rng.standard_normal(30)
        with pytest.raises(ntk.NotPositiveDefiniteError, match="not positive definite"):
            ntk.kernel_ridge(K, y)
        with ntk.KernelRidge(K, y, max_jitter=1e-4) as model:
            j = model.jitter
            assert 0 < j <= 1e-4 * np.trace(K) / 30
            # K (K + jI)^-1 y through numpy's eigendecomposition (stable, unlike K @ solve(...)).
            # cond(K + jI) = lambda_max / j is about 1e11 here, so ~1e-5 relative is all that
            # any float64 solve can promise.
            lam, V = np.linalg.eigh(K)
            lam = np.maximum(lam, 0)
            assert rel(model.train_predictions, V @ (lam / (lam + j) * (V.T @ y))) < 1e-4
        with pytest.raises(ntk.NotPositiveDefiniteError, match="largest allowed jitter"):
            ntk.kernel_ridge(-np.eye(4), np.ones(4), max_jitter=1e-3)


class TestFeaturesRidge:
    @pytest.mark.parametrize("n,p", [(50, 8), (8, 50), (20, 20)])
    def test_primal_equals_dual_equals_numpy(self, rng, n, p):
        s, st, y = rng.standard_normal((n, p)), rng.standard_normal((6, p)), rng.standard_normal((n, 2))
        z = 0.3
        beta = np.linalg.solve(z * np.eye(p) + s.T @ s, s.T @ y)
        results = [ntk.features_ridge(s, y, st, ridge=z, form=f, return_weights=True)
                   for f in ("primal", "dual", "auto")]
        for train, test, weights in results:
            assert rel(weights, beta) < 1e-10
            assert rel(train, s @ beta) < 1e-10
            assert rel(test, st @ beta) < 1e-10
        assert rel(results[0][1], results[1][1]) < 1e-10

    def test_ridgeless_primal_with_full_column_rank(self, rng):
        s, y = rng.standard_normal((40, 6)), rng.standard_normal(40)
        train, _ = ntk.features_ridge(s, y, ridge=0.0)
        assert train.shape == (40,)
        assert rel(train, s @ np.linalg.lstsq(s, y, rcond=None)[0]) < 1e-10
        with pytest.raises(ntk.NotPositiveDefiniteError):
            ntk.features_ridge(s, y, ridge=0.0, form="dual")  # 40 x 40 of rank 6


def flow_closed_form(K, Kt, Y, f0, f0t, t, eta, z):
    """Independent: matrix exponentials for u' = -(eta/N) [(K + zI) u - K r0]."""
    n = len(K)
    N = Y.size
    A = K + z * np.eye(n)
    decay = np.zeros((n, n)) if t == np.inf else scipy.linalg.expm(-eta * t / N * A)
    core = np.linalg.solve(A, (np.eye(n) - decay) @ (Y - f0))
    return f0 + K @ core, f0t + Kt @ core


class TestGradientFlow:
    @pytest.mark.parametrize("z", [0.0, 0.2])
    def test_matches_matrix_exponential(self, problem, z):
        K, Kt, Y, f0, f0t = (problem[x] for x in ("K", "Kt", "Y", "f0", "f0t"))
        K = K + 0.05 * np.eye(len(K))  # positive definite, so the closed form's solve is exact
        times, eta = [0.0, 0.5, 7.0, 300.0], 0.7
        train, test = ntk.gradient_flow(K, Y, times, Kt, learning_rate=eta, ridge=z, f0_train=f0, f0_test=f0t)
        assert train.shape == (4, 40, 3) and test.shape == (4, 15, 3)
        for i, t in enumerate(times):
            want_train, want_test = flow_closed_form(K, Kt, Y, f0, f0t, t, eta, z)
            assert rel(train[i], want_train) < 1e-10, t
            assert rel(test[i], want_test) < 1e-10, t
        assert np.array_equal(train[0], f0) and np.allclose(test[0], f0t, rtol=0, atol=1e-14)

    def test_infinite_time_is_kernel_ridge(self, problem):
        K, Kt, Y, f0, f0t = (problem[x] for x in ("K", "Kt", "Y", "f0", "f0t"))
        for z in (0.0, 0.3):
            want = ntk.kernel_ridge(K + 0.01 * np.eye(40), Y, Kt, ridge=z, f0_train=f0, f0_test=f0t)
            got = ntk.gradient_flow(K + 0.01 * np.eye(40), Y, [np.inf], Kt, ridge=z, f0_train=f0, f0_test=f0t)
            assert rel(got[0][0], want[0]) < 1e-9 and rel(got[1][0], want[1]) < 1e-9

    def test_singular_kernel_matches_parameter_space_flow(self, rng):
        """Rank-deficient features: K = S S^T / p is singular. Check t finite and t = inf
        against the flow of the linear model's parameters, solved exactly by the exponential of
        an augmented matrix (no pseudo-inverse), and the t = inf minimum-norm limit with pinv."""
        n, m, p, k = 30, 9, 8, 2
        s, st = rng.standard_normal((n, p)) / np.sqrt(p), rng.standard_normal((m, p)) / np.sqrt(p)
        K, Kt = s @ s.T, st @ s.T
        Y, f0, f0t = rng.standard_normal((n, k)), rng.standard_normal((n, k)), rng.standard_normal((m, k))
        eta, N = 1.3, n * k
        times = [0.2, 5.0, 80.0]
        train, test = ntk.gradient_flow(K, Y, times + [np.inf], Kt, learning_rate=eta, f0_train=f0, f0_test=f0t)
        assert np.all(np.isfinite(train)) and np.all(np.isfinite(test))
        for i, t in enumerate(times):
            # w' = -(eta/N) (S^T S w - S^T r0), w(0) = 0, as [w; 1]' = M [w; 1].
            M = np.zeros((p + 1, p + 1))
            M[:p, :p] = -eta / N * s.T @ s
            w = np.empty((p, k))
            for c in range(k):
                M[:p, p] = eta / N * s.T @ (Y - f0)[:, c]
                w[:, c] = scipy.linalg.expm(t * M)[:p, p]
            assert rel(train[i], f0 + s @ w) < 1e-9, t
            assert rel(test[i], f0t + st @ w) < 1e-9, t
        pinv = np.linalg.pinv(K)
        assert rel(train[-1], f0 + K @ pinv @ (Y - f0)) < 1e-9
        assert rel(test[-1], f0t + Kt @ pinv @ (Y - f0)) < 1e-9

    def test_vector_targets_and_zero_kernel(self, rng):
        y = rng.standard_normal(10)
        train, test = ntk.gradient_flow(np.zeros((10, 10)), y, [0.0, 1.0, np.inf], np.zeros((3, 10)))
        assert train.shape == (3, 10) and test.shape == (3, 3)
        assert np.all(train == 0) and np.all(test == 0)  # a zero kernel learns nothing

    def test_bad_times_and_learning_rates(self, problem):
        K, Y = problem["K"], problem["Y"]
        for times in ([-1.0], [np.nan]):
            with pytest.raises(ntk.InvalidArgumentError, match="time"):
                ntk.gradient_flow(K, Y, times)
        for eta in (0.0, -1.0, np.inf):
            with pytest.raises(ntk.InvalidArgumentError):
                ntk.gradient_flow(K, Y, [1.0], learning_rate=eta)
        with pytest.raises(ntk.DimensionMismatchError):
            ntk.gradient_flow(K, Y, [1.0], f0_train=np.zeros((3, 3)))
        with pytest.raises(ntk.InvalidArgumentError, match="K_test_train"):
            ntk.gradient_flow(K, Y, [1.0], f0_test=np.zeros((2, 3)))


class TestRidgePathAndSelection:
    def test_ridge_path_matches_separate_solves(self, problem):
        K, Kt, Y = problem["K"] + 0.01 * np.eye(40), problem["Kt"], problem["Y"]
        ridges = [0.0, 1e-3, 0.1, 10.0]
        train, test = ntk.ridge_path(K, Y, ridges, Kt)
        for i, z in enumerate(ridges):
            alpha = np.linalg.solve(K + z * np.eye(40), Y)
            assert rel(train[i], K @ alpha) < 1e-9 and rel(test[i], Kt @ alpha) < 1e-9

    @staticmethod
    def brute_force(K, Y, f0, z):
        """LOO by n refits; GCV from the explicit hat matrix."""
        n = len(K)
        r = Y - f0
        loo = []
        for i in range(n):
            keep = np.arange(n) != i
            alpha = np.linalg.solve(K[np.ix_(keep, keep)] + z * np.eye(n - 1), r[keep])
            loo.append(r[i] - K[i, keep] @ alpha)
        H = K @ np.linalg.inv(K + z * np.eye(n))
        gcv = np.mean(((np.eye(n) - H) @ r) ** 2) / (1 - np.trace(H) / n) ** 2 if z > 0 else np.inf
        return np.mean(np.square(loo)), gcv

    def test_loo_and_gcv_match_brute_force(self, problem):
        K, Y, f0 = problem["K"] + 0.02 * np.eye(40), problem["Y"], problem["f0"]
        ridges = [0.0, 1e-3, 1e-2, 0.1, 1.0, 10.0]
        best_loo, _, loo = ntk.select_ridge(K, Y, ridges, criterion="loo", f0_train=f0)
        best_gcv, _, gcv = ntk.select_ridge(K, Y, ridges, criterion="gcv", f0_train=f0)
        for i, z in enumerate(ridges):
            want_loo, want_gcv = self.brute_force(K, Y, f0, z)
            assert loo[i] == pytest.approx(want_loo, rel=1e-8)
            if z == 0:
                assert gcv[i] == np.inf  # interpolation: tr H = n
            else:
                assert gcv[i] == pytest.approx(want_gcv, rel=1e-8)
        assert best_loo == ridges[int(np.argmin(loo))] and best_gcv == ridges[int(np.argmin(gcv))]

    def test_every_select_ridge_has_one_shape(self, problem):
        """ntk.select_ridge, SpectralSolver.select_ridge and NystromRidge.select_ridge all return a
        RidgeSelection (ridge, index, scores), the ridge being the grid's entry at index."""
        K, Y = problem["K"] + 0.02 * np.eye(40), problem["Y"]
        grid = np.geomspace(1e-4, 10, 7)
        net = ntk.MLP(3, [16], seed=0)
        X = np.random.default_rng(1).standard_normal((40, 3))
        with ntk.SpectralSolver(K) as solver, ntk.NystromRidge(net, X, Y, 0.1, 40) as nystrom:
            selections = [ntk.select_ridge(K, Y, grid), solver.select_ridge(Y, grid, criterion="loo"),
                          nystrom.select_ridge(grid)]
        for s in selections:
            assert isinstance(s, ntk.RidgeSelection)
            assert s.ridge == grid[s.index] and s.scores.shape == grid.shape
            assert s.index == int(np.argmin(s.scores))
        assert selections[0].scores == pytest.approx(ntk.select_ridge(K, Y, grid, criterion="gcv").scores)

    def test_renamed_attributes_warn_and_agree(self, problem):
        with ntk.KernelRidge(problem["K"], problem["Y"], ridge=0.1) as model:
            with pytest.warns(DeprecationWarning, match="dual_coef_"):
                old = model.dual_coef
            np.testing.assert_array_equal(old, model.dual_coef_)

    def test_singular_kernel_scores(self, rng):
        s = rng.standard_normal((20, 4))
        K, y = s @ s.T, rng.standard_normal(20)
        loo = ntk.select_ridge(K, y, [0.0, 0.5], criterion="loo").scores
        assert loo[0] == np.inf and np.isfinite(loo[1])
        assert loo[1] == pytest.approx(self.brute_force(K, y[:, None], np.zeros((20, 1)), 0.5)[0], rel=1e-8)
        with pytest.raises(ntk.NumericalError):
            ntk.select_ridge(K, y, [0.0], criterion="loo")
        with pytest.raises(ntk.InvalidArgumentError):
            ntk.select_ridge(K, y, [0.1], criterion="aic")
        with pytest.raises(ntk.InvalidArgumentError):
            ntk.select_ridge(K, y, [-0.1])


class TestSpectralSolver:
    def test_filters_and_degrees_of_freedom(self, rng):
        K = random_spd(rng, 25, p=5, shift=0)  # rank 5: 20 null directions
        with ntk.SpectralSolver(K) as solver:
            lam = solver.eigenvalues
            assert solver.null_count == 20 and np.all(lam[:20] == 0)
            f = solver.filters(ridges=[0.5, 2.0])
            active = lam > 0
            assert np.allclose(f["values"][0][active], 1 / (lam[active] + 0.5), rtol=1e-14)
            assert np.all(f["values"][:, ~active] == 0)
            dof = np.trace(K @ np.linalg.inv(K + 0.5 * np.eye(25)))
            assert f["dof"][0] == pytest.approx(dof, rel=1e-10)
            g = solver.filters(times=[3.0, 1e-300], learning_rate=0.5, n_targets=50)
            assert np.allclose(g["shrinkage"][0][active], 1 - np.exp(-0.5 * 3.0 * lam[active] / 50), rtol=1e-13)
            # Tiny eta t: (1 - exp(-x lambda))/lambda -> x without 0/0.
            assert np.allclose(g["values"][1][active], 0.5 * 1e-300 / 50, rtol=1e-12)
            assert np.all(np.isfinite(g["values"]))

    def test_negative_eigenvalue_policy(self, rng):
        K = random_spd(rng, 12, shift=0.1)
        w, V = np.linalg.eigh(K)
        w[0] = -0.01 * w[-1]
        bad = V @ np.diag(w) @ V.T
        with pytest.warns(RuntimeWarning, match="clamped"):
            solver = ntk.SpectralSolver(bad)
        assert solver.clamped_count == 1 and solver.min_raw_eigenvalue == pytest.approx(w[0], rel=1e-10)
        assert solver.eigenvalues[0] == 0
        with pytest.raises(ntk.NotPositiveDefiniteError, match="negative eigenvalue"):
            ntk.SpectralSolver(bad, negative_eigenvalues="error")
        with pytest.raises(ntk.InvalidArgumentError):
            ntk.SpectralSolver(K, negative_eigenvalues="ignore")

    def test_max_learning_rate_is_the_stability_edge(self, rng):
        K = random_spd(rng, 20)
        n_targets = 20
        eta_c = ntk.max_learning_rate(K, n_targets)
        assert eta_c == pytest.approx(2 * n_targets / np.linalg.eigvalsh(K)[-1], rel=1e-12)
        with ntk.SpectralSolver(K) as solver:
            assert solver.max_learning_rate(n_targets) == pytest.approx(eta_c, rel=1e-12)

        def residual_after(eta, steps=3000):  # discrete GD on the linear model: u <- (I - eta K/N) u
            u = np.ones(20)
            step = np.eye(20) - eta * K / n_targets
            for _ in range(steps):
                u = step @ u
            return np.linalg.norm(u)

        assert residual_after(0.98 * eta_c) < 1.0 < residual_after(1.02 * eta_c)
        assert ntk.max_learning_rate(np.zeros((3, 3)), 3) == np.inf
        with pytest.raises(ntk.InvalidArgumentError):
            ntk.max_learning_rate(K, 0)

    @pytest.mark.parametrize("t, z", [(0.0, 0.0), (2.5, 0.0), (40.0, 0.3), (np.inf, 0.3), (np.inf, 0.0)])
    def test_dual_coefficients_reproduce_the_closed_form(self, problem, t, z):
        """alpha(t, z) gives f0(x) + K(x, X) alpha = the matrix-exponential closed form."""
        K, Kt, Y, f0, f0t = (problem[x] for x in ("K", "Kt", "Y", "f0", "f0t"))
        K = K + 0.05 * np.eye(len(K))
        eta = 0.7
        with ntk.SpectralSolver(K) as solver:
            alpha = solver.dual_coef(Y, time=t, ridge=z, learning_rate=eta, f0_train=f0)
            assert alpha.shape == Y.shape
            want_train, want_test = flow_closed_form(K, Kt, Y, f0, f0t, t, eta, z)
            if t == 0:
                assert np.all(alpha == 0)
            else:
                assert rel(f0t + Kt @ alpha, want_test) < 1e-10
                assert rel(f0 + K @ alpha, want_train) < 1e-10
            vector = solver.dual_coef(Y[:, 0], time=t, ridge=z, learning_rate=eta)
            _, test = solver.gradient_flow(Y[:, 0], [t], Kt, learning_rate=eta, ridge=z)
            assert vector.shape == (40,) and rel(Kt @ vector, test[0]) < 1e-12 + (t == 0)

    def test_dual_coefficients_of_a_singular_kernel_are_minimum_norm(self, rng):
        S = rng.standard_normal((30, 6))
        K, y = S @ S.T, rng.standard_normal(30)
        with ntk.SpectralSolver(K) as solver:
            alpha = solver.dual_coef(y)
            assert rel(alpha, np.linalg.pinv(K, rcond=1e-12) @ y) < 1e-9
            with pytest.raises(ntk.InvalidArgumentError, match="time"):
                solver.dual_coef(y, time=-1.0)
            with pytest.raises(ntk.InvalidArgumentError, match="learning rate"):
                solver.dual_coef(y, time=1.0, learning_rate=0.0)
            with pytest.raises(ntk.DimensionMismatchError):
                solver.dual_coef(y[:5])
            with pytest.raises(ntk.NonFiniteError):
                solver.dual_coef(np.full(30, np.nan))
