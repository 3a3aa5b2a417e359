"""scikit-learn estimators on libntk: :class:`NTKRegressor` and :class:`NTKClassifier`.

Both are kernel machines whose kernel is a neural tangent kernel (or the NNGP) of a dense
network, solved in closed form (eq. 5, 18-22, 25 in docs/equations.md)::

    prediction(x) = mean(y) + K(x, X) alpha,   alpha = V diag(g(lambda)) V^T (y - mean(y))

with ``g(lambda) = 1/(lambda + z)`` for kernel ridge (``time=None``, t = inf) or the
gradient-flow filter ``(1 - exp(-eta t (lambda + z)/N))/(lambda + z)`` at a finite time
(N = n * k target entries, MSE loss ``(1/N) sum 1/2 (f - y)^2``: neural-tangents' convention).

Kernels (``kernel=``):

- ``"infinite"`` (default): the infinite-width NTK of the architecture (no randomness);
- ``"nngp"``: the infinite-width NNGP kernel (Bayesian posterior mean of the infinitely wide net);
- ``"empirical"``: the empirical NTK of one network at its random initialisation;
- ``"after"``: the after-kernel K(., .; theta_T) of a network trained inside ``fit`` by
  full-batch gradient descent on the (centred) targets with MSE (eq. 25).

Beyond the dense ceiling (n of ~20,000 on 24 GiB) ``solver="nystrom"`` (or ``"cg"``, Falkon)
fits the infinite-width kernels on m centres in O(n m) memory; ``solver="auto"`` switches by
itself when the dense kernel would not fit the memory budget.

They follow scikit-learn's conventions (``get_params``/``set_params``, ``fit`` returns self,
fitted attributes end in ``_``, input validation) and work in ``Pipeline``,
``cross_val_score`` and ``GridSearchCV``. Inputs should be standardised (e.g.
``make_pipeline(StandardScaler(), NTKRegressor())``): the kernels depend on input scale.

Needs scikit-learn >= 1.6 (``pip install scikit-learn``); the rest of ``ntk`` does not.
"""

import contextlib
import functools
import logging
import sys
import time
import warnings

import numpy as np

try:
    from sklearn.base import BaseEstimator, ClassifierMixin, RegressorMixin
    from sklearn.exceptions import ConvergenceWarning
    from sklearn.utils import check_random_state
    from sklearn.utils.multiclass import check_classification_targets
    from sklearn.utils.validation import check_is_fitted, validate_data
except ImportError as e:  # pragma: no cover - exercised only without scikit-learn
    raise ImportError("ntk.sklearn needs scikit-learn >= 1.6: pip install scikit-learn") from e

from .classification import KernelLogisticRegression, log_softmax, softmax
from .ensembles import ensemble_gradient_flow
from .kernels import (empirical_ntk, empirical_ntk_diagonal, infinite_width_diagonal, infinite_width_kernels,
                      infinite_width_nngp, infinite_width_ntk)
from .large_scale import EmpiricalNTKRidge, NystromRidge
from .models import Model
from .network import MLP, Network
from .errors import NotPositiveDefiniteError
from .regression import KernelRidge, SpectralSolver, max_learning_rate
from ._progress import Bar
from .runtime import blas_info, logger, memory_budget, physical_memory
from .training import gradient_flow_ode
from .tuning import tune_kernel
from ._sklearn_kernels import NNGPKernel, NTKKernel  # noqa: F401 - part of ntk.sklearn

__all__ = ["NTKRegressor", "NTKClassifier", "NNGPKernel", "NTKKernel"]

KERNELS = ("infinite", "nngp", "empirical", "after")
SOLVERS = ("auto", "direct", "nystrom", "cg")
_CRITERIA = ("gcv", "loo")
_TUNE = (None, "lml", "gcv", "loo")
_LOSSES = ("cross_entropy", "mse")
#: Rows of test kernel computed at once in predict (bounds its memory to ~256 MiB).
_PREDICT_BYTES = 256 << 20


class _NTKModel(BaseEstimator):
    """What both estimators share: the kernel, the closed-form fit and the raw outputs."""

    def __init__(self, kernel="infinite", widths=(512, 512), activation="relu", W_std=np.sqrt(2.0), b_std=0.1,
                 parameterization="ntk", ridge="gcv", ridges=None, ridge_relative=True, time=None,
                 learning_rate=1.0, network_offset=False, center_targets=True, epochs=1000,
                 train_learning_rate=None, batch_size=None, momentum=0.0, solver="auto", n_centers=None,
                 centers="uniform", tol=1e-8, max_iter=100, tune=None, ard=False, n_restarts=2,
                 tune_max_samples=1500, tune_centers=None, random_state=None, verbose=0, network=None):
        self.kernel = kernel
        self.widths = widths
        self.activation = activation
        self.W_std = W_std
        self.b_std = b_std
        self.parameterization = parameterization
        self.ridge = ridge
        self.ridges = ridges
        self.ridge_relative = ridge_relative
        self.time = time
        self.learning_rate = learning_rate
        self.network_offset = network_offset
        self.center_targets = center_targets
        self.epochs = epochs
        self.train_learning_rate = train_learning_rate
        self.batch_size = batch_size
        self.momentum = momentum
        self.solver = solver
        self.n_centers = n_centers
        self.centers = centers
        self.tol = tol
        self.max_iter = max_iter
        self.tune = tune
        self.ard = ard
        self.n_restarts = n_restarts
        self.tune_max_samples = tune_max_samples
        self.tune_centers = tune_centers
        self.random_state = random_state
        self.verbose = verbose
        self.network = network

    # -- hyper-parameters -----------------------------------------------------------------

    def _check_hyperparameters(self):
        if self.kernel not in KERNELS:
            raise ValueError(f"kernel must be one of {KERNELS}, got {self.kernel!r}")
        if isinstance(self.ridge, str):
            if self.ridge not in _CRITERIA:
                raise ValueError(f"ridge must be a number >= 0 or one of {_CRITERIA}, got {self.ridge!r}")
        elif not (np.isscalar(self.ridge) and np.isfinite(self.ridge) and self.ridge >= 0):
            raise ValueError(f"ridge must be a number >= 0 or one of {_CRITERIA}, got {self.ridge!r}")
        if self.time is not None and not (np.isscalar(self.time) and self.time >= 0):
            raise ValueError(f"time must be None (t = inf) or a number >= 0, got {self.time!r}")
        if not (np.isscalar(self.learning_rate) and np.isfinite(self.learning_rate) and self.learning_rate > 0):
            raise ValueError(f"learning_rate must be a number > 0, got {self.learning_rate!r}")
        if self.network_offset and self.kernel not in ("empirical", "after"):
            raise ValueError("network_offset=True needs a network of its own: kernel='empirical' or 'after'")
        if isinstance(self.verbose, bool) or not isinstance(self.verbose, (int, np.integer)) or self.verbose < 0:
            raise ValueError(f"verbose must be an int >= 0, got {self.verbose!r}")
        if self.solver not in SOLVERS:
            raise ValueError(f"solver must be one of {SOLVERS}, got {self.solver!r}")
        if self.solver == "nystrom" and self.kernel not in ("infinite", "nngp"):
            raise ValueError(f"solver='nystrom' needs kernel='infinite' or 'nngp'; for kernel={self.kernel!r} use "
                             "solver='cg' (matrix-free, exact) or 'direct'")
        integral = isinstance(self.n_centers, (int, np.integer)) and not isinstance(self.n_centers, bool)
        if self.n_centers is not None and (not integral or self.n_centers < 1):
            raise ValueError(f"n_centers must be None or an int >= 1, got {self.n_centers!r}")
        if self.centers not in ("uniform", "pivoted_cholesky"):
            raise ValueError(f"centers must be 'uniform' or 'pivoted_cholesky', got {self.centers!r}")
        if not (np.isscalar(self.tol) and np.isfinite(self.tol) and self.tol > 0):
            raise ValueError(f"tol must be a number > 0, got {self.tol!r}")
        if isinstance(self.max_iter, bool) or not isinstance(self.max_iter, (int, np.integer)) or self.max_iter < 1:
            raise ValueError(f"max_iter must be an int >= 1, got {self.max_iter!r}")
        if self.solver == "cg" and (isinstance(self.ridge, str) or self.time is not None):
            raise ValueError("solver='cg' fits one given ridge at t = inf: give ridge as a number and time=None, "
                             "or use solver='nystrom' (or 'direct') for ridge selection and finite times")
        self._check_tuning()
        if self.solver == "nystrom" and self.ridge == "loo" and getattr(self, "loss", "mse") == "mse":
            raise ValueError("solver='nystrom' selects ridges by GCV only: ridge='gcv' or a number")

    def _check_tuning(self):
        if self.tune not in _TUNE:
            raise ValueError(f"tune must be one of {_TUNE}, got {self.tune!r}")
        if self.tune is not None and self.kernel not in ("infinite", "nngp"):
            raise ValueError(f"tune needs kernel='infinite' or 'nngp' (an infinite-width kernel), not {self.kernel!r}")
        if self.tune is not None and self.network is not None:
            raise ValueError("tune fits the hyperparameters of the MLP built from widths/activation; it does not "
                             "apply to network=")
        if self.tune_centers is not None:
            integral = isinstance(self.tune_centers, (int, np.integer)) and not isinstance(self.tune_centers, bool)
            if not integral or self.tune_centers < 1:
                raise ValueError(f"tune_centers must be None or an int >= 1, got {self.tune_centers!r}")
            if self.tune not in (None, "gcv"):
                raise ValueError(f"tune_centers tunes the Nyström GCV: it needs tune='gcv', not {self.tune!r}")
        for name in ("n_restarts", "tune_max_samples"):
            value, low = getattr(self, name), 0 if name == "n_restarts" else 1
            if isinstance(value, bool) or not isinstance(value, (int, np.integer)) or value < low:
                raise ValueError(f"{name} must be an int >= {low}, got {value!r}")

    # -- progress and log -----------------------------------------------------------------

    @contextlib.contextmanager
    def _reporting(self):
        """During fit/predict: with verbose >= 2 the library's INFO log goes to stderr."""
        handler = None
        if self.verbose >= 2 and not logger.isEnabledFor(logging.INFO):
            handler = logging.StreamHandler(sys.stderr)
            handler.setFormatter(logging.Formatter("[ntk] %(message)s"))
            logger.addHandler(handler)
            level = logger.level
            logger.setLevel(logging.INFO)
        try:
            yield
        finally:
            if handler is not None:
                logger.removeHandler(handler)
                logger.setLevel(level)

    @contextlib.contextmanager
    def _stage(self, what):
        """One step of a fit: a progress bar and a timing line on stderr with verbose >= 1."""
        start = time.perf_counter()
        yield Bar(f"[{type(self).__name__}] {what}") if self.verbose >= 1 else None
        if self.verbose >= 1:
            print(f"[{type(self).__name__}] {what}: {time.perf_counter() - start:.2f} s", file=sys.stderr, flush=True)

    def _ridge_units(self, diagonal):
        """``(scale, unit)``: the kernel's mean diagonal (1 for an empty or zero kernel) and what one
        unit of ``ridge``/``ridges`` is in absolute terms (the scale with ``ridge_relative``, else 1)."""
        scale = float(np.mean(diagonal)) if len(diagonal) else 1.0
        scale = scale if scale > 0 else 1.0
        return scale, scale if self.ridge_relative else 1.0

    def _ridge_grid(self, scale, default=None):
        if self.ridges is not None:
            grid = np.asarray(self.ridges, dtype=np.float64).ravel()
        else:
            grid = np.geomspace(1e-6, 1e2, 33) if default is None else default
        if grid.size == 0 or not np.all(np.isfinite(grid)) or np.any(grid < 0):
            raise ValueError("ridges must be a non-empty sequence of finite numbers >= 0")
        return grid * scale if self.ridge_relative else grid

    # -- kernel ---------------------------------------------------------------------------

    def _network(self, input_dim, output_dim):
        if self.network is not None:
            return self._given_network()
        if np.ndim(self.widths) != 1:
            raise ValueError(f"widths must be a sequence of hidden-layer widths such as (512, 512), "
                             f"got {self.widths!r}")
        seed = int(check_random_state(self.random_state).randint(np.iinfo(np.int32).max))
        return MLP(input_dim, list(self.widths), output_dim=output_dim, activation=self.activation, W_std=self.W_std_,
                   b_std=self.b_std_, parameterization=self.parameterization, seed=seed)

    def _given_network(self):
        """``network=`` checked against the kernel (a model only for "empirical"); a copy to train
        for "after"."""
        net = self.network
        if not isinstance(net, (MLP, Network, Model)):
            raise ValueError(f"network must be an ntk.MLP, ntk.Network or ntk.models.Model, got {type(net).__name__}")
        if isinstance(net, Model) and self.kernel != "empirical":
            raise ValueError(f"a model given by its Jacobian products has an empirical NTK only: kernel='empirical', "
                             f"not {self.kernel!r}")
        return net.copy() if self.kernel == "after" else net

    def _tune_kernel(self, X, Y):
        """Fits W_std_, b_std_ and input_scales_ by ``tune`` (on at most ``tune_max_samples`` rows
        drawn with ``random_state``), or keeps the given W_std, b_std and scales 1."""
        self.W_std_, self.b_std_ = float(self.W_std), float(self.b_std)
        self.input_scales_, self.tuning_ = np.ones(X.shape[1]), None
        if self.tune is None:
            return
        if not np.any(Y):  # constant targets (one class): every kernel fits them equally well
            logger.info("tune: the centred targets are all zero; the kernel is kept as given")
            return
        rng = check_random_state(self.random_state)
        centers = None
        if self.tune_centers is not None and len(X) > self.tune_max_samples:
            # Every row, the Nyström GCV on uniformly drawn centres.
            rows = np.arange(len(X))
            centers = X[np.sort(rng.choice(len(X), min(self.tune_centers, len(X)), replace=False))]
        else:
            rows = np.arange(len(X)) if len(X) <= self.tune_max_samples else np.sort(
                rng.choice(len(X), self.tune_max_samples, replace=False))
        kind = "ntk" if self.kernel == "infinite" else "nngp"
        how = f"{len(rows)} rows" + ("" if centers is None else f", Nyström with {len(centers)} centres")
        with self._stage(f"tuning the {kind} kernel by {self.tune} on {how}") as bar:
            self.tuning_ = tune_kernel(X[rows], Y[rows], widths=self.widths, activation=self.activation, kernel=kind,
                                       objective=self.tune, ard=self.ard, W_std=self.W_std, b_std=self.b_std,
                                       parameterization=self.parameterization, n_restarts=self.n_restarts,
                                       centers=centers, random_state=int(rng.randint(np.iinfo(np.int32).max)),
                                       progress=bar)
        self.W_std_, self.b_std_ = self.tuning_.W_std, self.tuning_.b_std
        self.input_scales_ = self.tuning_.input_scales
        logger.info(f"tuned by {self.tune}: {self.tuning_!r}")

    def _validated(self, X):
        """X checked against the fit and scaled by ``input_scales_``: the kernel's inputs."""
        return validate_data(self, X, reset=False, dtype=np.float64) * self.input_scales_

    def _kernel(self, X1, X2=None):
        shape = f"{len(X1)} x {len(X1) if X2 is None else len(X2)}"
        name = {"infinite": "infinite-width NTK", "nngp": "infinite-width NNGP"}.get(self.kernel, "empirical NTK")
        with self._stage(f"{name}, {shape}") as bar:
            if self.kernel == "infinite":
                return infinite_width_ntk(self.network_, X1, X2, progress=bar)
            if self.kernel == "nngp":
                return infinite_width_nngp(self.network_, X1, X2, progress=bar)
            return empirical_ntk(self.network_, X1, X2, progress=bar)

    def _train_network(self, X, Y):
        n, k = Y.shape
        eta = self.train_learning_rate
        if eta is None:  # half the critical rate 2N / lambda_max of the initial NTK
            eta = 0.5 * max_learning_rate(empirical_ntk(self.network_, X), n * k)
        with self._stage(f"training, {self.epochs} epochs") as bar:
            self.history_ = self.network_.train(X, Y, learning_rate=eta, epochs=self.epochs, batch_size=self.batch_size,
                                                momentum=self.momentum, seed=self.network_.seed,
                                                snapshot_epochs=[0, self.epochs], diagnose_catapult=False, progress=bar)
        self.train_learning_rate_ = float(eta)
        if self.history_.diverged:
            warnings.warn(f"training diverged at epoch {self.history_.epochs_run} (learning rate {eta:.3g}); the "
                          "after-kernel is taken at the last finite parameters", ConvergenceWarning, stacklevel=3)

    # -- fit / outputs --------------------------------------------------------------------

    def _fit_outputs(self, X, Y, labels=None):
        """Fits the kernel machine to X (n, d) and float targets Y (n, k) — by kernel logistic
        regression on ``labels`` (n,) when they are given (cross-entropy), else by kernel regression."""
        self._check_hyperparameters()
        self._labels = labels
        try:
            with self._reporting():
                return self._fit_reported(X, Y)
        finally:
            self._labels = None  # the fitted estimator keeps no copy of the labels

    def _fit_reported(self, X, Y):
        n, k = Y.shape
        if logger.isEnabledFor(logging.INFO):
            blas = blas_info()
            need, have = 2 * 8 * n * n, physical_memory()
            logger.info(f"{type(self).__name__}.fit: {n} x {X.shape[1]} inputs, {k} output(s), {self.kernel!r} kernel; "
                        f"memory: the kernel and its factor need {need / 2**20:.1f} MiB (dense), "
                        f"budget {have / 2**30:.1f} GiB of physical memory; "
                        f"BLAS: OpenBLAS core {blas['core']}, {blas['num_threads']} threads")
        cross_entropy = self._labels is not None
        self.y_mean_ = Y.mean(axis=0) if self.center_targets and not cross_entropy else np.zeros(k)
        Yc = Y - self.y_mean_
        # The kernel is tuned on centred targets (for cross-entropy: the centred one-hot labels).
        self._tune_kernel(X, Y - Y.mean(axis=0) if cross_entropy else Yc)
        X = X * self.input_scales_
        self.network_ = self._network(X.shape[1], k)
        # The network's outputs are in units of output_scale_: the "after" network is trained on
        # Yc / rms(Yc), so its kernel does not depend on the targets' units.
        self.output_scale_ = 1.0
        if self.kernel == "after":
            rms = float(np.sqrt(np.mean(Yc**2))) if Yc.size else 0.0
            self.output_scale_ = rms if rms > 0 else 1.0
            self._train_network(X, Yc / self.output_scale_)
        self.solver_ = self._choose_solver(n)
        self.empirical_ridge_ = None
        if cross_entropy:
            return self._fit_cross_entropy(X, Y)
        if self.solver_ == "cg" and self.kernel in ("empirical", "after"):
            return self._fit_matrix_free(X, Yc)
        if self.solver_ != "direct":
            return self._fit_nystrom(X, Yc)
        self.X_fit_ = np.array(X, dtype=np.float64, order="C", copy=True)  # later changes to X don't leak in
        K = self._kernel(X)
        f0 = self.output_scale_ * self.network_(X) if self.network_offset else None
        self.dual_coef_, self.ridge_, self.ridge_scores_ = self._solve(K, Yc, f0)
        self.n_iter_ = 1
        return self

    def _fit_cross_entropy(self, X, Y):
        """Kernel logistic regression (Newton) on the dense kernel or Nyström centres; at a finite
        ``time``, the cross-entropy gradient flow (dense). ``dual_coef_`` maps K(x, X_fit_) to logits."""
        n, k = Y.shape
        f0 = self.output_scale_ * self.network_(X) if self.network_offset else None
        if self.solver_ == "direct":
            self.X_fit_ = np.array(X, dtype=np.float64, order="C", copy=True)
            K = self._kernel(X)
            if self.time is not None:
                return self._fit_flow(K, Y, f0)
            args, C = (K,), None
        else:
            m = min(n, 2048 if self.n_centers is None else int(self.n_centers))
            rows = np.sort(check_random_state(self.random_state).choice(n, m, replace=False))
            C = np.ascontiguousarray(X[rows])
            # The library computes K(X, C) straight into its features: never stored here.
            args = (self.network_, X, C)
            self.X_fit_ = C
        diagonal = np.diagonal(args[0]) if C is None else self._diagonal(C)
        scale, unit = self._ridge_units(diagonal)
        select = isinstance(self.ridge, str) and self.time is None
        grid = self._ridge_grid(scale, default=np.geomspace(1e-5, 10, 7)) if select else None
        if self.time is not None:  # Nyström: the ridge that stands for training time t, N / (eta t)
            z = n * k / (self.learning_rate * float(self.time)) if self.time > 0 else np.inf
            if not np.isfinite(z):
                raise ValueError("time=0 with solver='nystrom' and cross-entropy: the model is the offsets alone")
        else:
            z = 1.0 if select else float(self.ridge) * unit
        if not select and z <= 0:
            raise ValueError("loss='cross_entropy' needs a ridge > 0 (or 'gcv'/'loo' to select one): without it "
                             "the minimiser does not exist on separable data")
        how = "dense" if C is None else f"Nyström, {len(C)} centres"
        logger.info(f"solver: kernel logistic regression by Newton ({how}), "
                    + (f"ridge selected from {len(grid)} by approximate LOO log loss" if select else f"ridge {z:.3g}"))
        with self._stage(f"kernel logistic regression ({how}), n = {n}") as bar:
            fit = KernelLogisticRegression if C is None else functools.partial(
                KernelLogisticRegression.on_centers, kernel="ntk" if self.kernel == "infinite" else "nngp")
            with fit(*args, self._labels, ridge=z, ridges=grid, f0_train=f0, n_classes=k,
                     tol=min(self.tol, 1e-8), max_iter=self.max_iter, progress=bar) as model:
                self.dual_coef_, self.ridge_, self.ridge_scores_ = model.dual_coef_, model.ridge, model.ridge_scores
                self.n_iter_, self.converged_ = model.n_iter, model.converged
        if not self.converged_:
            warnings.warn(f"Newton did not converge in max_iter={self.max_iter} steps; the last iterate is used",
                          ConvergenceWarning, stacklevel=4)
        return self

    def _diagonal(self, X):
        """k(x, x) of the estimator's infinite-width kernel at the rows of X."""
        nngp, ntk_ = infinite_width_diagonal(self.network_, X)
        return ntk_ if self.kernel == "infinite" else nngp

    def _fit_flow(self, K, Y, f0):
        """The logits of the cross-entropy gradient flow at ``time`` (eq. 13, ODE): with the identity
        as the "test kernel" the ODE's test outputs are the dual coefficients themselves."""
        n = len(K)
        t = float(self.time)
        logger.info(f"solver: cross-entropy gradient flow to time {t:g} (ODE on the {n} x {n} kernel)")
        with self._stage(f"cross-entropy gradient flow, n = {n}") as bar:
            _, coef = gradient_flow_ode(K, Y, [t], loss="cross_entropy", K_test_train=np.eye(n),
                                        learning_rate=self.learning_rate, f0_train=f0, progress=bar)
        self.dual_coef_, self.ridge_, self.ridge_scores_, self.n_iter_ = np.ascontiguousarray(coef[0]), 0.0, None, 1
        return self

    def _choose_solver(self, n, doubles=2):
        """"direct" while the dense solve (``doubles`` n x n matrices: the kernel and its factor for
        kernel ridge) fits the memory budget, else "nystrom" (for the infinite-width kernels); an
        explicit choice is kept."""
        if self.solver != "auto":
            return self.solver
        need, budget = 8 * doubles * n * n, memory_budget()
        if need <= budget or self.kernel not in ("infinite", "nngp") or self.network_offset:
            return "direct"
        logger.info(f"solver: auto -> nystrom: the dense solve would need {need / 2**30:.1f} GiB, "
                    f"beyond the memory budget of {budget / 2**30:.1f} GiB")
        return "nystrom"

    def _fit_matrix_free(self, X, Y):
        """The empirical / after-kernel by CG on NTK-vector products (exact kernel ridge, no n x n
        kernel). The model is kept (``empirical_ridge_``) for predictions; ``X_fit_`` holds X."""
        n = len(X)
        z = float(self.ridge) * self._ridge_units(empirical_ntk_diagonal(self.network_, X))[1]
        f0 = self.output_scale_ * self.network_(X) if self.network_offset else None
        logger.info(f"solver: cg, matrix-free empirical NTK ridge of {n} points to tol {self.tol:g}")
        with self._stage(f"matrix-free CG, n = {n}") as bar:
            self.empirical_ridge_ = EmpiricalNTKRidge(self.network_, X, Y, z, f0_train=f0, tol=self.tol,
                                                  max_iter=self.max_iter,
                                                  seed=int(check_random_state(self.random_state).randint(2**31 - 1)),
                                                  progress=bar)
        self.X_fit_ = np.array(X, dtype=np.float64, order="C", copy=True)
        self.dual_coef_, self.ridge_, self.ridge_scores_ = self.empirical_ridge_.dual_coef_, z, None
        self.n_iter_ = self.empirical_ridge_.iterations
        return self

    def _fit_nystrom(self, X, Y):
        """Nyström (direct, with GCV and finite times) or Falkon CG on the infinite-width kernel:
        ``X_fit_`` holds the centres and ``dual_coef_`` beta, so predictions keep their form."""
        n = len(X)
        m = min(n, 2048 if self.n_centers is None else int(self.n_centers))
        kind = "ntk" if self.kernel == "infinite" else "nngp"
        nngp_diagonal, ntk_diagonal = infinite_width_diagonal(self.network_, X)
        diagonal = ntk_diagonal if kind == "ntk" else nngp_diagonal
        scale, unit = self._ridge_units(diagonal)
        t = np.inf if self.time is None else float(self.time)
        select = isinstance(self.ridge, str) and t == np.inf
        z = 0.0 if isinstance(self.ridge, str) else float(self.ridge) * unit
        inner = "direct" if self.solver_ == "nystrom" else "cg"
        logger.info(f"solver: {self.solver_}, {m} {self.centers} centres of {n} points"
                    + (f", Falkon CG to tol {self.tol:g}" if inner == "cg"
                       else ", normal equations + eigendecomposition"))
        seed = int(check_random_state(self.random_state).randint(np.iinfo(np.int32).max))
        with self._stage(f"Nyström ({inner}), n = {n}, m = {m}") as bar, NystromRidge(
                self.network_, X, Y, z, m, kernel=kind, centers=self.centers, solver=inner, tol=self.tol,
                max_iter=self.max_iter, seed=seed, progress=bar) as model:
            scores = None
            if select:
                z, _, scores = model.select_ridge(self._ridge_grid(scale))
            coef = model.coef_ if inner == "cg" else model.path_coef(times=t, ridges=z,
                                                                     learning_rate=self.learning_rate)[0]
            self.X_fit_ = np.ascontiguousarray(X[model.centers])
            self.n_iter_ = model.iterations if inner == "cg" else 1
        self.dual_coef_, self.ridge_, self.ridge_scores_ = np.ascontiguousarray(coef), float(z), scores
        return self

    def _solve(self, K, Y, f0):
        """``(alpha, z, scores)`` for the kernel K (n, n), centred targets Y (n, k), offsets f0."""
        scale, unit = self._ridge_units(np.diagonal(K))
        t = np.inf if self.time is None else float(self.time)
        select = isinstance(self.ridge, str) and t == np.inf
        # At a finite time the training time regularises (eq. 22): a string ridge means none.
        z = 0.0 if isinstance(self.ridge, str) else float(self.ridge) * unit
        n = len(K)
        if t == np.inf and z > 0:
            logger.info(f"solver: direct, Cholesky kernel ridge of the {n} x {n} kernel (ridge {z:.3g} given)")
            try:  # kernel ridge with a given ridge: one Cholesky factorisation
                with self._stage(f"Cholesky kernel ridge, n = {n}") as bar, KernelRidge(K, Y, ridge=z, f0_train=f0,
                                                                                        progress=bar) as model:
                    return model.dual_coef_, z, None
            except NotPositiveDefiniteError:
                logger.warning("solver: the kernel is numerically indefinite at this ridge; falling back to the "
                               "eigendecomposition, which clamps negative eigenvalues")
        # Ridge selection, ridge 0 (pseudo-inverse on a singular kernel) or a finite time: one
        # eigendecomposition.
        why = (f"ridge selection by {self.ridge}" if select else "ridge 0 (minimum-norm interpolant)" if t == np.inf
               else f"gradient flow at time {t:g}")
        logger.info(f"solver: direct, eigendecomposition of the {n} x {n} kernel ({why})")
        with self._stage(f"eigendecomposition, n = {n}") as bar, SpectralSolver(K, progress=bar) as solver:
            scores = None
            if select:
                z, _, scores = solver.select_ridge(Y, self._ridge_grid(scale), criterion=self.ridge, f0_train=f0)
            alpha = solver.dual_coef(Y, time=t, ridge=z, learning_rate=self.learning_rate, f0_train=f0)
        return alpha, float(z), scores

    def _outputs(self, X):
        """The raw outputs (m, k) at X (validated and scaled here)."""
        check_is_fitted(self)
        return self._outputs_at(self._validated(X))

    def _outputs_at(self, X):
        """The raw outputs (m, k) at inputs already validated and scaled by ``input_scales_``."""
        if getattr(self, "empirical_ridge_", None) is not None and self.solver_ == "cg":
            f0 = self.output_scale_ * self.network_(X) if self.network_offset else None
            with self._reporting():
                return self.empirical_ridge_.predict(X, f0_test=f0) + self.y_mean_
        rows = max(1, _PREDICT_BYTES // (8 * max(len(self.X_fit_), 1)))
        with self._reporting():
            if len(X) <= rows:
                out = self._kernel(X, self.X_fit_) @ self.dual_coef_
            else:  # blocks of test rows, so the test kernel never exceeds _PREDICT_BYTES
                out = np.concatenate([self._kernel(X[i:i + rows], self.X_fit_) @ self.dual_coef_
                                      for i in range(0, len(X), rows)])
        out = out + self.y_mean_
        if self.network_offset:
            out += self.output_scale_ * self.network_(X)
        return out


class NTKRegressor(RegressorMixin, _NTKModel):
    """Kernel regression with a neural tangent kernel, as a scikit-learn regressor.

    Parameters
    ----------
    kernel : "infinite", "nngp", "empirical" or "after", default "infinite"
        The infinite-width NTK, the infinite-width NNGP, the empirical NTK at initialisation,
        or the after-kernel of a network trained inside ``fit`` (eq. 25).
    widths : tuple of int, default (512, 512)
        Hidden layer widths of the dense network (for "infinite"/"nngp" only the depth matters,
        unless ``parameterization="standard"``).
    activation : str, default "relu"
        One of ``ntk.ACTIVATIONS``.
    W_std, b_std : float, default sqrt(2), 0.1
        Weight and bias standard deviations (neural-tangents' ``W_std``, ``b_std``).
    parameterization : "ntk" or "standard", default "ntk"
    ridge : float >= 0, "gcv" or "loo", default "gcv"
        The ridge z of ``(K + z I)^-1``; "gcv"/"loo" select it from ``ridges`` by generalized
        cross-validation or exact leave-one-out (closed forms, no refits). With a finite
        ``time`` a string means no ridge (early stopping regularises, eq. 22). A given ridge is
        solved by Cholesky; selection, ridge 0 and finite times use one eigendecomposition
        (ridge 0 gives the minimum-norm interpolant even for a singular kernel).
    ridges : array-like, default ``geomspace(1e-6, 1e2, 33)``
        The grid searched by "gcv"/"loo".
    ridge_relative : bool, default True
        Ridges (and the grid) are multiples of the mean diagonal of the training kernel
        (neural-tangents' ``diag_reg_absolute_scale=False``); False: absolute.
    time : float >= 0 or None, default None
        None (or inf): kernel ridge (t = inf). A number: the prediction of gradient flow at training
        time t from zero outputs (eq. 18-20), whose train residuals decay as
        ``exp(-learning_rate * t * K / N)``, N = n * k.
    learning_rate : float > 0, default 1.0
        The learning rate eta of that flow (only ``learning_rate * time`` matters).
    network_offset : bool, default False
        Add the network's own outputs: ``f(x) + K(x, X)(K + zI)^-1 (y - f(X))``, i.e. the
        linearised network (eq. 20, 21) for "empirical" and boosting (eq. 24) for "after".
    center_targets : bool, default True
        Subtract the training targets' mean before fitting and add it back to predictions (a
        kernel model has no intercept of its own). ``center_targets=False`` turns it off.
    epochs, train_learning_rate, batch_size, momentum
        Training of the network for ``kernel="after"``: MSE on the centred targets divided by
        their root-mean-square (``output_scale_``), so the after-kernel does not depend on the
        targets' units;
        ``train_learning_rate=None`` is half the critical rate ``2N / lambda_max`` of the
        initial NTK; ``batch_size=None`` is full-batch gradient descent.
    solver : "auto", "direct", "nystrom" or "cg", default "auto"
        "direct": the dense kernel, solved exactly (Cholesky or one eigendecomposition).
        "nystrom": Nyström kernel ridge with ``n_centers`` centres (infinite-width kernels only;
        O(n m) memory, never n x n): one pass over the data, then GCV selection and finite times
        as in the dense case, with the Nyström kernel (see :class:`ntk.NystromRidge`).
        "cg": conjugate gradients to ``tol`` for a given ridge at t = inf: Falkon (Nyström with
        its preconditioner) for the infinite-width kernels; for "empirical" and "after" the exact
        kernel ridge on NTK-vector products, never forming the kernel (:class:`ntk.EmpiricalNTKRidge`).
        "auto": "direct" while the dense kernel and its factor (16 n^2 bytes) fit the memory budget
        (:func:`ntk.memory_budget`, a quarter of physical memory by default: n up to ~20,000 on
        24 GiB), else "nystrom" (for ``NTKClassifier(loss="cross_entropy")``: 48 n^2 bytes, n up to
        ~11,000).
    n_centers : int or None, default None
        Centres of the Nyström solvers (None: min(n, 2048)).
    centers : "uniform" or "pivoted_cholesky", default "uniform"
        How the centres are chosen (uniform sampling, or randomly pivoted Cholesky).
    tol, max_iter : float, int, default 1e-8, 100
        The "cg" solver's stopping rule (relative residual, iteration cap; not converging
        warns with :class:`ntk.ConvergenceWarning`).
    tune : None, "lml", "gcv" or "loo", default None
        Fit the infinite-width kernel to the data before solving (:func:`ntk.tune_kernel`): W_std,
        b_std (when > 0) and the input scales by L-BFGS-B with exact gradients of the log marginal
        likelihood, GCV or leave-one-out, starting from ``W_std``, ``b_std`` and scales 1. The ridge
        is then chosen as ``ridge`` says on all training rows (the tuned one is ``tuning_.ridge``).
        None keeps the given kernel. Needs ``kernel="infinite"`` or ``"nngp"``.
    ard : bool, default False
        With ``tune``: one input scale per feature (automatic relevance determination), else one
        shared scale.
    n_restarts : int, default 2
        With ``tune``: further L-BFGS-B runs from seeded perturbations of the start.
    tune_max_samples : int, default 1500
        With ``tune``: the objective is computed on at most this many training rows drawn with
        ``random_state`` (each evaluation costs O(rows^3)); the final fit uses every row.
    tune_centers : int or None, default None
        With ``tune="gcv"`` and more than ``tune_max_samples`` rows: tune on every row with the
        GCV of Nyström kernel ridge on this many uniformly drawn centres instead of a subsample
        (O(n c) memory, O(n c (c + d)) per evaluation; see :func:`ntk.kernel_objective`).
    random_state : int, RandomState or None, default None
        Seeds the network's initialisation ("empirical", "after"), the centres and the tuning
        (subsample and restarts).
    verbose : int, default 0
        0: silent. 1: a progress bar for each long step (kernel, training, solver) and a line
        with its time on stderr. 2: also the library's INFO log (solver, memory, BLAS, blocks)
        on stderr. Ctrl-C stops a fit at any verbosity.
    network : ntk.MLP, ntk.Network or ntk.models.Model, optional
        The network whose kernel is used instead of a random MLP from ``widths``/``activation``/
        ``W_std``/``b_std``. With ``kernel="empirical"``: its empirical NTK — an MLP, a
        :class:`ntk.Network` of layers (a CNN: rows of X are its inputs flattened in NHWC
        order), or any model given by its Jacobian products (``ntk.models.from_jax``,
        ``from_torch``, ``from_functions``), which receives rows of X as passed to ``fit`` (2-D;
        reshape inside the model). With ``kernel="infinite"``/``"nngp"``: the infinite-width
        kernel of an MLP's or Network's architecture (the CNTK of a Network; ``tune`` is for the
        built-in MLP kernel only). With ``kernel="after"``: a copy of the MLP or Network is
        trained inside ``fit``. Not copied by ``clone``.

    Attributes
    ----------
    dual_coef_ : ndarray (n, k)
        alpha; predictions are ``y_mean_ + K(x, X_fit_) @ dual_coef_`` (+ ``network_(x)``).
        With the Nyström solvers ``X_fit_`` holds the m centres and ``dual_coef_`` is beta (m, k).
    solver_ : str
        The solver used ("direct", "nystrom" or "cg").
    n_iter_ : int
        CG iterations of the "cg" solver; 1 (one closed-form solve) for "direct" and "nystrom".
    y_mean_ : ndarray (k,)
    ridge_ : float
        The absolute ridge used (selected or given).
    ridge_scores_ : ndarray or None
        GCV/LOO score of every grid ridge when selected.
    network_ : ntk.MLP or ntk.models.Model
        The network whose kernel is used (trained for "after"; ``network`` when given).
    output_scale_ : float
        The network's output unit: 1, or the targets' root-mean-square for "after" (the
        network offset is ``output_scale_ * network_(x)``).
    W_std_, b_std_ : float
        The kernel's W_std and b_std (tuned, or as given).
    input_scales_ : ndarray (d,)
        The kernel sees ``X * input_scales_`` (tuned, or ones).
    tuning_ : ntk.KernelTuning or None
        With ``tune``: the tuning result (objective value and trace, restarts, tuned ridge).
    history_ : ntk.TrainingHistory
        Only for "after": the training run (``history_.losses``).
    X_fit_, n_features_in_, feature_names_in_
    """

    def __sklearn_tags__(self):
        tags = super().__sklearn_tags__()
        tags.target_tags.multi_output = True
        return tags

    def fit(self, X, y):
        """Fits the estimator.

        Parameters
        ----------
        X : array_like, (n, d)
        y : array_like, (n,) or (n, k)

        Returns
        -------
        self
        """
        X, y = validate_data(self, X, y, multi_output=True, y_numeric=True, dtype=np.float64)
        self._y_was_vector = y.ndim == 1
        return self._fit_outputs(X, y.reshape(len(y), -1).astype(np.float64))

    def predict(self, X, return_std=False, return_cov=False):
        """Predictions, and optionally their spread over random initialisations.

        With ``return_std=True`` (or ``return_cov=True``) also the standard deviation or covariance of
        the prediction over random initialisations of the infinitely wide network, as scikit-learn's
        ``GaussianProcessRegressor`` returns them (the latent function, without noise):
        ``kernel="infinite"`` gives the NTK ensemble of networks trained for ``time`` (every layer
        trained), ``kernel="nngp"`` the NNGP ensemble (only the readout trained; at ``time=None`` the
        NNGP posterior). Other kernels have no such distribution (ValueError). See
        :func:`ntk.ensemble_gradient_flow`.

        Parameters
        ----------
        X : array_like, (m, d)
        return_std, return_cov : bool
            At most one of them.

        Returns
        -------
        mean : numpy.ndarray, (m,) — or (m, k) when fitted on a 2-D y
        std : numpy.ndarray, (m,) — or (m, k); with ``return_std``
        cov : numpy.ndarray, (m, m) — or (m, m, k); with ``return_cov``
        """
        if return_std and return_cov:
            raise RuntimeError("At most one of return_std or return_cov can be requested.")
        out = self._outputs(X)
        mean = out[:, 0] if self._y_was_vector else out
        if not (return_std or return_cov):
            return mean
        if self.kernel not in ("infinite", "nngp"):
            raise ValueError("return_std and return_cov need kernel='infinite' or 'nngp' (an infinite-width "
                             f"ensemble), not {self.kernel!r}")
        if self.solver_ != "direct":
            raise ValueError(f"return_std and return_cov need the dense solver (solver='direct'), not {self.solver_!r}")
        cov = self._ensemble_covariance(self._validated(X), diagonal=return_std)
        k = out.shape[1]
        if return_cov:
            return mean, (cov if self._y_was_vector else np.repeat(cov[:, :, None], k, axis=2))
        std = np.sqrt(np.maximum(cov, 0.0))
        return mean, (std if self._y_was_vector else np.repeat(std[:, None], k, axis=1))

    def _ensemble_covariance(self, X, diagonal=False):
        """The (m, m) covariance over initialisations at the fitted time, ridge and learning rate
        (with ``diagonal``, the (m,) variances, without any m x m kernel)."""
        with self._reporting(), self._stage(f"ensemble covariance, {len(X)} x {len(self.X_fit_)}") as bar:
            nngp, ntk = infinite_width_kernels(self.network_, self.X_fit_)
            nngp_tx, ntk_tx = infinite_width_kernels(self.network_, X, self.X_fit_)
            # The variances need only K(x, x), never the (m, m) test kernel.
            nngp_tt = (infinite_width_diagonal(self.network_, X)[0] if diagonal
                       else infinite_width_nngp(self.network_, X))
            time = np.inf if self.time is None else float(self.time)
            _, cov = ensemble_gradient_flow(nngp, ntk, np.zeros((len(nngp), self.dual_coef_.shape[1])), [time],
                                            nngp_test_train=nngp_tx, ntk_test_train=ntk_tx, nngp_test=nngp_tt,
                                            regime="ntk" if self.kernel == "infinite" else "nngp",
                                            learning_rate=self.learning_rate, ridge=self.ridge_, progress=bar,
                                            covariance="diagonal" if diagonal else "full")
        return cov[0]


class NTKClassifier(ClassifierMixin, _NTKModel):
    """Classification with a neural tangent kernel: cross-entropy (kernel logistic regression) or MSE.

    Parameters
    ----------
    loss : "cross_entropy" or "mse", default "cross_entropy"
        ``"cross_entropy"``: kernel logistic (softmax) regression, the regularised limit of
        training with cross-entropy under the kernel (eq. 13), fitted by Newton's method
        (:class:`ntk.KernelLogisticRegression`; ``solver="nystrom"`` on ``n_centers`` centres for
        large n). ``ridge="gcv"`` or ``"loo"`` selects the ridge from ``ridges`` (default
        ``geomspace(1e-5, 10, 7)``, relative to the kernel's mean diagonal) by the approximate
        leave-one-out log loss, with no refits. With a finite ``time`` the logits are those of
        the cross-entropy gradient flow at that time: by the ODE (eq. 13) on a dense kernel, and
        for ``solver="nystrom"`` by the ridge that stands for that time, ``N / (learning_rate *
        time)`` with N = n k (exact for MSE in the limits, an approximation of the flow here).
        ``predict_proba`` is the softmax of the logits: probabilities fitted by likelihood.
        ``"mse"``: kernel regression on one-hot targets (centred by default), as in the NTK
        literature; ``predict_proba`` is the softmax of the outputs divided by a temperature
        (``temperature_``) fitted by log loss on the exact leave-one-out outputs (no refits;
        in-sample outputs for the large-scale solvers and above 4,000 points).
    kernel, widths, activation, W_std, b_std, parameterization, ridge, ridges, ridge_relative, time, \
learning_rate, network_offset, center_targets, epochs, train_learning_rate, batch_size, momentum, solver, \
n_centers, centers, tol, max_iter, tune, ard, n_restarts, tune_max_samples, tune_centers, random_state, verbose
        As for :class:`NTKRegressor`. ``solver="cg"`` exists for ``loss="mse"`` only; for
        cross-entropy ``max_iter`` caps Newton's steps and ``tol`` (at most 1e-8) its relative
        gradient.

    ``decision_function`` returns the logits (outputs) — ``(m,)`` as ``out[:, 1] - out[:, 0]``
    for two classes.

    Attributes
    ----------
    classes_ : ndarray (C,)
    temperature_ : float
        The MSE outputs' temperature (1.0 for cross-entropy).
    converged_ : bool
        Whether Newton converged (cross-entropy; True for MSE).
    dual_coef_, ridge_, ridge_scores_, n_iter_, solver_, X_fit_, network_, ...
        As for :class:`NTKRegressor`: ``dual_coef_`` maps the kernel to the logits, and for
        cross-entropy ``ridge_scores_`` are approximate LOO log losses and ``n_iter_`` Newton steps.
    """

    def __init__(self, loss="cross_entropy", kernel="infinite", widths=(512, 512), activation="relu",
                 W_std=np.sqrt(2.0), b_std=0.1, parameterization="ntk", ridge="gcv", ridges=None,
                 ridge_relative=True, time=None, learning_rate=1.0, network_offset=False, center_targets=True,
                 epochs=1000, train_learning_rate=None, batch_size=None, momentum=0.0, solver="auto",
                 n_centers=None, centers="uniform", tol=1e-8, max_iter=100, tune=None, ard=False, n_restarts=2,
                 tune_max_samples=1500, tune_centers=None, random_state=None, verbose=0, network=None):
        self.loss = loss
        super().__init__(kernel=kernel, widths=widths, activation=activation, W_std=W_std, b_std=b_std,
                         parameterization=parameterization, ridge=ridge, ridges=ridges,
                         ridge_relative=ridge_relative, time=time, learning_rate=learning_rate,
                         network_offset=network_offset, center_targets=center_targets, epochs=epochs,
                         train_learning_rate=train_learning_rate, batch_size=batch_size, momentum=momentum,
                         solver=solver, n_centers=n_centers, centers=centers, tol=tol, max_iter=max_iter, tune=tune,
                         ard=ard, n_restarts=n_restarts, tune_max_samples=tune_max_samples,
                         tune_centers=tune_centers, random_state=random_state, verbose=verbose, network=network)

    def fit(self, X, y):
        """Fits on class labels.

        Parameters
        ----------
        X : array_like, (n, d)
        y : array_like, (n,)
            Class labels (at least two classes).

        Returns
        -------
        self
        """
        if self.loss not in _LOSSES:
            raise ValueError(f"loss must be one of {_LOSSES}, got {self.loss!r}")
        X, y = validate_data(self, X, y, dtype=np.float64)
        check_classification_targets(y)
        self.classes_, index = np.unique(y, return_inverse=True)
        if len(self.classes_) < 2:
            raise ValueError(f"NTKClassifier needs samples of at least 2 classes in the data, but the data contain "
                             f"only one class: {self.classes_[0]!r}")
        Y = np.zeros((len(y), len(self.classes_)))
        Y[np.arange(len(y)), index] = 1.0
        self.temperature_, self.converged_ = 1.0, True
        if self.loss == "mse":
            self._fit_outputs(X, Y)
            with self._reporting():
                self.temperature_ = self._calibrate(X, index)
            return self
        return self._fit_outputs(X, Y, labels=index)

    def _check_hyperparameters(self):
        if self.loss == "cross_entropy":
            if self.solver == "cg":
                raise ValueError("solver='cg' exists for loss='mse' only; for cross-entropy use 'direct' or 'nystrom'")
            if self.solver == "nystrom" and self.centers != "uniform":
                raise ValueError("loss='cross_entropy' with solver='nystrom' draws uniform centres: "
                                 "centers='pivoted_cholesky' is for loss='mse'")
        super()._check_hyperparameters()

    def _choose_solver(self, n):
        if self.loss == "mse":
            return super()._choose_solver(n)
        # Cross-entropy, dense: the kernel, its eigendecomposition (vectors and workspace: 3 n^2)
        # and the features with their basis (2 n^2).
        solver = super()._choose_solver(n, doubles=6)
        return "direct" if solver == "cg" else solver

    def decision_function(self, X):
        """The logits (cross-entropy) or outputs (MSE) for each class.

        Parameters
        ----------
        X : array_like, (m, d)

        Returns
        -------
        numpy.ndarray, (m, C) — or (m,) for two classes (positive favours ``classes_[1]``)
        """
        out = self._outputs(X)
        return out[:, 1] - out[:, 0] if out.shape[1] == 2 else out

    def predict(self, X):
        """The class of the largest logit.

        Parameters
        ----------
        X : array_like, (m, d)

        Returns
        -------
        numpy.ndarray, (m,)
        """
        out = self._outputs(X)  # checks that the classifier is fitted before classes_ is read
        return self.classes_[np.argmax(out, axis=1)]

    def predict_proba(self, X):
        """Class probabilities: the softmax of the logits (of the outputs over ``temperature_`` for MSE).

        Parameters
        ----------
        X : array_like, (m, d)

        Returns
        -------
        numpy.ndarray, (m, C)
            Rows sum to 1, columns ordered as ``classes_``.
        """
        return softmax(self._outputs(X) / self.temperature_)

    def predict_log_proba(self, X):
        """The logarithm of :meth:`predict_proba`.

        Parameters
        ----------
        X : array_like, (m, d)

        Returns
        -------
        numpy.ndarray, (m, C)
        """
        return log_softmax(self._outputs(X) / self.temperature_)

    def _calibrate(self, X, labels):
        """The temperature T minimising the log loss of softmax(F / T) on the leave-one-out
        outputs F of the fitted MSE model (exact closed form for the direct solver up to 4,000
        points; in-sample outputs otherwise)."""
        X = X * self.input_scales_
        F = self._outputs_at(X)
        n = len(X)
        if self.solver_ == "direct" and n <= 4000 and self.ridge_ is not None:
            K = self._kernel(X)
            values, vectors = np.linalg.eigh(K)
            values = np.maximum(values, 0.0)
            t = np.inf if self.time is None else float(self.time)
            if t == np.inf:
                g = values / (values + self.ridge_) if self.ridge_ > 0 else (values > 1e-12 * values.max()) * 1.0
            else:
                N = n * len(self.classes_)
                z = values + self.ridge_
                g = values * -np.expm1(-self.learning_rate * t * z / N) / np.where(z > 0, z, 1.0)
            h = np.minimum((vectors**2) @ g, 1 - 1e-12)  # leverages: diag of the smoother
            Y = np.zeros_like(F)
            Y[np.arange(n), labels] = 1.0
            F = (F - h[:, None] * Y) / (1 - h[:, None])  # a linear smoother's LOO, offsets and centring included
        return _fit_temperature(F, labels)


def _fit_temperature(F, labels):
    """The T > 0 minimising the mean log loss of softmax(F / T) at ``labels``: golden-section search
    on log T in [-12, 12] (the loss is smooth and unimodal in practice; one variable, no scipy)."""
    rows = np.arange(len(F))

    def loss(log_t):
        return -float(np.mean(log_softmax(F / np.exp(log_t))[rows, labels]))

    a, b = -12.0, 12.0
    ratio = (np.sqrt(5.0) - 1) / 2
    c, d = b - ratio * (b - a), a + ratio * (b - a)
    fc, fd = loss(c), loss(d)
    while b - a > 1e-7:
        if fc < fd:
            b, d, fd = d, c, fc
            c = b - ratio * (b - a)
            fc = loss(c)
        else:
            a, c, fc = c, d, fd
            d = a + ratio * (b - a)
            fd = loss(d)
    return float(np.exp((a + b) / 2))
