"""Kernel regression beyond the dense ceiling: Nyström kernel ridge regression and Falkon, and the
matrix-free empirical NTK (conjugate gradients, Lanczos gradient flow).

The model is kernel ridge regression restricted to ``c`` centres ``C`` among the ``n`` training
points (docs/equations.md, "Nyström and Falkon")::

    f(x) = f0(x) + K(x, C) beta,    (K_nm^T K_nm + z K_mm) beta = K_nm^T (Y - f0)

with ``K_nm = K(X, C)``, ``K_mm = K(C, C)`` and the absolute ridge ``z``: kernel ridge with the
Nyström kernel ``K~ = K_nm K_mm^-1 K_mn``, which with all points as centres is exactly dense
kernel ridge. Nothing of size n x n is ever formed: memory is O(n d + c^2), and the kernel rows
are computed block by block within the memory budget (:func:`ntk.set_memory_budget`).

Solvers:

- ``"direct"`` (default): one pass over the data forms ``K_nm^T K_nm`` (n c^2 flops), then one
  c x c eigendecomposition; afterwards every ridge, GCV score and gradient-flow time is cheap
  (:meth:`NystromRidge.path`, :meth:`NystromRidge.select_ridge`).
- ``"cg"``: Falkon, conjugate gradients with Falkon's preconditioner; each iteration applies
  ``K_nm`` twice (cached when it fits the budget). One ridge per fit.

The empirical NTK of a finite network is used exactly, without forming it:
:class:`EmpiricalNTKRidge` solves ``(K + zI) alpha = Y - f0`` by preconditioned conjugate
gradients on NTK-vector products ``K v = J (J^T v)`` (about 4 n P flops each), and
:func:`empirical_gradient_flow` gives gradient-flow predictions at any finite times by Lanczos.
"""

import ctypes
import threading
import warnings

import numpy as np

from . import _arrays
from ._handle import Handle
from ._library import EmpiricalSolverOptions, NystromOptions, NystromTest, Points, Rows, call, choices, lib
from ._progress import Callback
from .errors import ConvergenceWarning, DimensionMismatchError, InvalidArgumentError
from ._data import TargetData, make_grid
from .models import Binding, is_model, rows_pointer
from .kernels import _single
from .network import MLP, Network, c_function
from .regression import RidgeSelection

_SOLVERS = {"direct": choices("ntk_nystrom_solver", "NTK_NYSTROM_")["direct"],
            "cg": choices("ntk_nystrom_solver", "NTK_NYSTROM_")["cg"]}
_CENTERS = {"uniform": 0, "pivoted_cholesky": 1}
_PRECISIONS = choices("ntk_precision", "NTK_PRECISION_")
_KERNELS = choices("ntk_kernel_kind", "NTK_KERNEL_")

_int, _scalar = _arrays.integer, _arrays.scalar


def _options(solver, centers, kernel, tol, max_iter, preconditioned, seed, quadrature_points, memory_limit, cb):
    seed = _int(seed, "seed")
    limit = 0 if memory_limit is None else _int(memory_limit, "memory_limit")
    if memory_limit is not None and limit <= 0:
        raise InvalidArgumentError(f"memory_limit must be > 0 bytes (or None for the memory budget), "
                                   f"got {memory_limit}")
    on, rows = _preconditioner(preconditioned)
    return NystromOptions(
        solver=_arrays.choice(solver, _SOLVERS, "solver"), centers=_arrays.choice(centers, _CENTERS, "centers"),
        kernel=_arrays.choice(kernel, _KERNELS, "kernel"), preconditioned=on, preconditioner_rows=rows,
        seed=seed & (2**64 - 1), tol=_scalar(tol, "tol"), max_iter=_int(max_iter, "max_iter"),
        quadrature_points=0 if quadrature_points is None else _int(quadrature_points, "quadrature_points"),
        memory_limit=limit, progress=cb.c_function)


def _preconditioner(preconditioned):
    """``ntk_nystrom_options``' (preconditioned, preconditioner_rows) for the ``preconditioned``
    argument: True (a sketch of min(n, 16 c) rows), an int s >= 1 (a sketch of s rows),
    "centers" (Falkon's original) or False (plain CG)."""
    if isinstance(preconditioned, (bool, np.bool_)):
        return int(bool(preconditioned)), 0
    if isinstance(preconditioned, str):
        if preconditioned != "centers":
            raise InvalidArgumentError(f"preconditioned must be True, False, 'centers' or a number of rows, got "
                                       f"{preconditioned!r}")
        return 1, -1
    rows = _int(preconditioned, "preconditioned")
    if rows < 1:
        raise InvalidArgumentError(f"preconditioned as a number of rows must be >= 1, got {preconditioned}")
    return 1, rows


class NystromRidge(Handle):
    """Nyström kernel ridge regression (and Falkon) with the infinite-width kernel of ``net``.

    Parameters
    ----------
    net : MLP or Network
        Only its architecture is used (the infinite-width NTK or NNGP, as
        :func:`ntk.infinite_width_kernels`; a Network's blocks cost what its kernel costs).
    X : array_like, (n, d), or (n, *input_shape) for a Network
    Y : array_like, (n, k) or (n,)
    ridge : float
        ``z >= 0``, absolute (the ridge of ``K + zI`` in dense kernel ridge).
    n_centers : int
        m, 1 <= m <= n. ~sqrt(n) suffices for the optimal rate in theory; a few thousand is
        typical. With ``centers="pivoted_cholesky"`` fewer may be used if the kernel's rank is lower.
    f0_train : array_like, (n, k), optional
        Offsets (outputs at initialisation, or of a trained network for boosting).
    kernel : "ntk" (default) or "nngp"
    centers : "uniform" (default), "pivoted_cholesky", or an array (c, d) of centre points
        Uniform sampling, or greedy pivoted Cholesky on a pool of max(4m, 8192) points (spread
        out, never near-duplicates; costs pool x m kernel entries), or your own points (any
        points, not necessarily rows of X; ``n_centers`` must then be m or None).
    solver : "direct" (default) or "cg" (Falkon)
    tol, max_iter : CG stopping rule: relative residual of the preconditioned system, iteration
        cap. A fit that does not converge warns (:class:`ntk.ConvergenceWarning`) and keeps the
        last iterate; ``converged`` and ``residuals`` tell.
    preconditioned : True (default), int, "centers" or False
        CG's preconditioner: Falkon's, from a sketch of the normal matrix ``(n/s) K_sm^T K_sm``
        on s evenly spaced rows of ``K(X, C)`` (True: s = min(n, 16 m); an int: that s; costs s
        kernel rows and 2 s m^2 flops, and saves 2-4x the iterations of the original on the
        NTK's slowly decaying spectra), "centers" for Falkon's original ``(n/m) K_mm^2``, or
        False for plain CG (for comparison).
    seed : int
        Centre sampling.
    quadrature_points : int, optional
        As :func:`ntk.infinite_width_kernels`.
    memory_limit : int, optional
        Bytes of working memory for this fit (default: the memory budget).
    progress : callable or True, optional

    Attributes
    ----------
    n, n_outputs : int
    n_centers : int
        m, the number of centres used.
    ridge : float
    solver : str
    centers : numpy.ndarray of int or None
        Indices into X, in the order chosen; None for centre points you gave.
    coef_ : numpy.ndarray, (c, k)
        beta: predictions are ``f0(x) + K(x, C) @ beta``.
    eigenvalues : numpy.ndarray, (c,) or None
        The Nyström kernel's non-trivial spectrum (direct solver only).
    iterations : int
    residuals : numpy.ndarray, (iterations,)
    converged : bool
    jitter : float
    """

    _free = "ntk_nystrom_free"

    def __init__(self, net, X, Y, ridge, n_centers, f0_train=None, kernel="ntk", centers="uniform", solver="direct",
                 tol=1e-8, max_iter=100, preconditioned=True, seed=0, quadrature_points=None, memory_limit=None,
                 progress=None):
        fit = c_function(net, "ntk_nystrom_fit", "ntk_network_nystrom_fit")
        fit_centers = c_function(net, "ntk_nystrom_fit_centers", "ntk_network_nystrom_fit_centers")
        x, px, ldx = net._inputs(X, "X")
        targets = TargetData(Y, x.shape[0], "X", f0_train)
        cb = Callback(progress)
        points = not isinstance(centers, str)
        options = _options(solver, "uniform" if points else centers, kernel, tol, max_iter, preconditioned, seed,
                           quadrature_points, memory_limit, cb)
        handle = ctypes.c_void_p()
        if points:
            c, pc, ldc = net._inputs(centers, "centers")
            if n_centers is not None and _int(n_centers, "n_centers") != c.shape[0]:
                raise DimensionMismatchError(f"n_centers is {n_centers} but centers has {c.shape[0]} rows")
            cb.call(getattr(lib, fit_centers), net._live(), x.shape[0], px, ldx, ctypes.byref(targets.c),
                    _scalar(ridge, "ridge"), c.shape[0], pc, ldc, ctypes.byref(options), ctypes.byref(handle))
        else:
            cb.call(getattr(lib, fit), net._live(), x.shape[0], px, ldx, ctypes.byref(targets.c),
                    _scalar(ridge, "ridge"),
                    _int(n_centers, "n_centers"), ctypes.byref(options), ctypes.byref(handle))
        self._handle = handle
        self._init(targets.was_vector, solver, net._inputs, on_points=True, indices=not points)

    @classmethod
    def from_kernel(cls, K_nm, K_mm, Y, ridge, f0_train=None, solver="direct", tol=1e-8, max_iter=100,
                    preconditioned=True, memory_limit=None, progress=None):
        """Fits on a kernel you computed instead of points.

        Parameters
        ----------
        K_nm : array_like, (n, c)
            ``K(X, C)``, the kernel between the training points and the centres.
        K_mm : array_like, (c, c)
            ``K(C, C)``, symmetric positive semi-definite.
        Y, ridge, f0_train, solver, tol, max_iter, preconditioned, memory_limit, progress
            As the class.

        Returns
        -------
        NystromRidge
            Its predictions take ``K_test_centers = K(X_test, C)`` instead of points.
        """
        knm, pnm, ldnm, _ = _arrays.matrix(K_nm, "K_nm")
        kmm, pmm, ldmm, _ = _arrays.matrix(K_mm, "K_mm")
        n, m = knm.shape
        if kmm.shape != (m, m):
            raise DimensionMismatchError(f"K_mm must have shape ({m}, {m}) to match K_nm {knm.shape}, got {kmm.shape}")
        targets = TargetData(Y, n, "K_nm", f0_train)
        cb = Callback(progress)
        options = _options(solver, "uniform", "ntk", tol, max_iter, preconditioned, 0, None, memory_limit, cb)
        handle = ctypes.c_void_p()
        cb.call(lib.ntk_nystrom_fit_kernel, n, m, pnm, ldnm, pmm, ldmm, ctypes.byref(targets.c),
                _scalar(ridge, "ridge"), ctypes.byref(options), ctypes.byref(handle))
        self = cls.__new__(cls)
        self._handle = handle
        self._init(targets.was_vector, solver, None, on_points=False)
        return self

    def _init(self, was_vector, solver, inputs, on_points, indices=True):
        """``inputs(X, name)``: the network's view of test points (None for a fit on a kernel)."""
        self._vector, self.solver, self._inputs, self._on_points = was_vector, solver, inputs, on_points
        n, m, k, iterations = (ctypes.c_int64() for _ in range(4))
        residual, jitter, converged = ctypes.c_double(), ctypes.c_double(), ctypes.c_int()
        call("ntk_nystrom_info", self._live(), ctypes.byref(n), ctypes.byref(m), ctypes.byref(k),
             ctypes.byref(iterations),
             ctypes.byref(residual), ctypes.byref(converged), ctypes.byref(jitter))
        self.n, self.n_centers, self.n_outputs = n.value, m.value, k.value
        self.iterations, self.converged, self.jitter = iterations.value, bool(converged.value), jitter.value
        self.residuals = np.empty(self.iterations)
        call("ntk_nystrom_residuals", self._live(), _arrays.pointer(self.residuals))
        if on_points and indices:
            self.centers = np.empty(self.n_centers, dtype=np.int64)
            call("ntk_nystrom_centers", self._live(), self.centers.ctypes.data_as(ctypes.POINTER(ctypes.c_int64)))
        else:
            self.centers = None
        self.coef_ = np.empty((self.n_centers, self.n_outputs))
        call("ntk_nystrom_coefficients", self._live(), _arrays.pointer(self.coef_), max(self.n_outputs, 1))
        if solver == "direct":
            self.eigenvalues = np.empty(self.n_centers)
            call("ntk_nystrom_eigenvalues", self._live(), _arrays.pointer(self.eigenvalues))
        else:
            self.eigenvalues = None
        if not self.converged:
            warnings.warn(f"Nyström CG did not reach tol in {self.iterations} iterations: relative residual "
                          f"{self.residuals[-1]:.3g}; the model holds the last iterate (raise max_iter or tol)",
                          ConvergenceWarning, stacklevel=3)

    def _test(self, X, K_test_centers, f0_test):
        """The ``ntk_nystrom_test`` of a call, with the arrays it points to kept alive."""
        if (X is None) == (K_test_centers is None):
            raise InvalidArgumentError("give exactly one of X (points) and K_test_centers "
                                       "(their kernel against the centres)")
        keep = []
        if X is not None:
            if not self._on_points:
                raise InvalidArgumentError("this model was fitted on a kernel (from_kernel): "
                                           "pass K_test_centers, not X")
            x, px, ldx = self._inputs(X, "X")
            t, keep = x.shape[0], [x]
            pk, ldk = _arrays.NULL, 1
        else:
            if self._on_points:
                raise InvalidArgumentError("this model was fitted on points: pass X, not K_test_centers")
            kt, pk, ldk, _ = _arrays.matrix(K_test_centers, "K_test_centers")
            if kt.shape[1] != self.n_centers:
                raise DimensionMismatchError(f"K_test_centers must have {self.n_centers} columns (centres), "
                                             f"got shape {kt.shape}")
            t, keep = kt.shape[0], [kt]
            px, ldx = _arrays.NULL, 1
        f0, pf0, ldf0 = _arrays.optional_matrix(f0_test, "f0_test", (t, self.n_outputs))
        keep.append(f0)
        return NystromTest(t, px, ldx, pk, ldk, pf0, ldf0), t, keep

    def _shape(self, a):
        return a[..., 0] if self._vector else a

    def predict(self, X=None, K_test_centers=None, f0_test=None, progress=None):
        """Predictions ``f0_test + K(X, C) beta`` of the fitted ridge.

        Parameters
        ----------
        X : array_like, (m, d), optional
            Test points (models fitted on points); the training points give training predictions
            (one more pass over them).
        K_test_centers : array_like, (m, c), optional
            Their kernel against the centres instead (models fitted by :meth:`from_kernel`).
        f0_test : array_like, (m, k) or (m,), optional
        progress : True or callable, optional

        Returns
        -------
        numpy.ndarray, (m, k) — or (m,) for a 1-D Y
        """
        test, t, _keep = self._test(X, K_test_centers, f0_test)
        out = np.empty((t, self.n_outputs))
        cb = Callback(progress)
        cb.call(lib.ntk_nystrom_predict, self._live(), ctypes.byref(test), _arrays.pointer(out), max(self.n_outputs, 1),
                cb.c_function, None)
        return self._shape(out)

    def path_coef(self, times=None, ridges=None, learning_rate=1.0):
        """The coefficients beta of every grid point of :meth:`path` (direct solver only).

        Parameters
        ----------
        times, ridges : float or array_like, optional
            Broadcast against each other (None: inf and 0).
        learning_rate : float

        Returns
        -------
        numpy.ndarray, (count, c, k) — or (count, c) for a 1-D Y
            Predictions are ``f0(x) + K(x, C) @ beta``.
        """
        t_grid, z_grid = _grid(times, ridges)
        out = np.empty((t_grid.shape[0], self.n_centers, self.n_outputs))
        points = make_grid(t_grid, z_grid, learning_rate)
        call("ntk_nystrom_path_coefficients", self._live(), ctypes.byref(points), _arrays.pointer(out))
        return self._shape(out)

    def path(self, X=None, K_test_centers=None, f0_test=None, times=None, ridges=None, learning_rate=1.0,
             progress=None):
        """Predictions along a grid of (time, ridge) pairs with the Nyström kernel ``K~``.

        Gradient flow up to each time (``inf``: kernel ridge), as :func:`ntk.ridge_path` /
        :func:`ntk.gradient_flow` with ``K~`` in place of K; one pass over the test points for the
        whole grid. Direct solver only.

        Parameters
        ----------
        X, K_test_centers, f0_test
            The test points, as :meth:`predict`.
        times, ridges : float or array_like, optional
            Broadcast against each other (None: inf and 0).
        learning_rate : float
        progress : True or callable, optional

        Returns
        -------
        numpy.ndarray, (count, m, k) — or (count, m) for a 1-D Y
        """
        t_grid, z_grid = _grid(times, ridges)
        test, t, _keep = self._test(X, K_test_centers, f0_test)
        count = t_grid.shape[0]
        out = np.empty((count, t, self.n_outputs))
        cb = Callback(progress)
        points = make_grid(t_grid, z_grid, learning_rate)
        cb.call(lib.ntk_nystrom_path, self._live(), ctypes.byref(test), ctypes.byref(points), _arrays.pointer(out),
                cb.c_function, None)
        return self._shape(out)

    def select_ridge(self, ridges):
        """GCV of each ridge, as :func:`ntk.select_ridge` with ``K~`` (direct solver only).

        O(m k) per ridge, no pass over the data.

        Parameters
        ----------
        ridges : array_like, (G,)
            Absolute ridges >= 0.

        Returns
        -------
        RidgeSelection
            ``(ridge, index, scores)``.
        """
        grid, pg = _arrays.vector(ridges, "ridges")
        scores = np.empty(grid.shape[0])
        best = ctypes.c_int64()
        call("ntk_nystrom_select_ridge", self._live(), grid.shape[0], pg, _arrays.pointer(scores), ctypes.byref(best))
        return RidgeSelection._of(grid, scores, best.value)


def _grid(times, ridges):
    """The (time, ridge) grid of a path: two contiguous float64 vectors of one length."""
    t_grid = np.inf if times is None else times
    z_grid = 0.0 if ridges is None else ridges
    try:
        t_grid, z_grid = np.broadcast_arrays(np.atleast_1d(np.asarray(t_grid, dtype=np.float64)),
                                             np.atleast_1d(np.asarray(z_grid, dtype=np.float64)))
    except (TypeError, ValueError) as e:
        raise DimensionMismatchError(f"times and ridges must be numbers that broadcast together: {e}") from None
    if t_grid.ndim != 1:
        raise DimensionMismatchError(f"times and ridges must be scalars or 1-D, got shape {t_grid.shape}")
    return np.ascontiguousarray(t_grid), np.ascontiguousarray(z_grid)


def nystrom_ridge(net, X, Y, X_test, ridge, n_centers, **options):
    """Fits :class:`NystromRidge` and predicts at ``X_test``.

    Parameters
    ----------
    net, X, Y, ridge, n_centers, **options
        As :class:`NystromRidge`.
    X_test : array_like, (m, d)

    Returns
    -------
    numpy.ndarray, (m, k) — or (m,) for a 1-D Y
    """
    with NystromRidge(net, X, Y, ridge, n_centers, **options) as model:
        return model.predict(X_test)


def _empirical_solver_options(tol, max_iter, preconditioner_rank, seed, learning_rate, memory_limit, cb,
                              single=False):
    limit = 0 if memory_limit is None else _int(memory_limit, "memory_limit")
    if memory_limit is not None and limit <= 0:
        raise InvalidArgumentError(f"memory_limit must be > 0 bytes (or None for the memory budget), "
                                   f"got {memory_limit}")
    return EmpiricalSolverOptions(tol=_scalar(tol, "tol"), max_iter=_int(max_iter, "max_iter"),
                             preconditioner_rank=_int(preconditioner_rank, "preconditioner_rank"),
                             seed=_int(seed, "seed") & (2**64 - 1),
                             learning_rate=_scalar(learning_rate, "learning_rate"),
                             memory_limit=limit, progress=cb.c_function,
                             precision=_PRECISIONS["single" if single else "double"])


def _points(net, X, f0, k, name="X_test"):
    """An ``ntk_points`` for X (m, d) and optional offsets (m, k), with the arrays kept alive."""
    x, px, ldx = net._inputs(X, name)
    f, pf, ldf = _arrays.optional_matrix(f0, "f0_test", (x.shape[0], k))
    return Points(x.shape[0], px, ldx, pf, ldf), x.shape[0], (x, f)


class EmpiricalNTKRidge(Handle):
    """Exact kernel ridge with the empirical NTK of ``net`` at any n, matrix-free.

    Solves ``(K + zI) alpha = Y - f0`` by conjugate gradients on NTK-vector products
    ``K v = (1/k) sum_c J_c (J_c^T v)`` (nothing of size n^2 is formed), preconditioned with a
    rank-m Nyström approximation of K (m uniform centres, applied by the Woodbury identity).
    Predictions: ``f0(x) + K(x, X) alpha``.

    Parameters
    ----------
    net : MLP, Network or ntk.models.Model
        A network's current parameters are copied at the fit (an MLP's products are per-layer
        GEMMs; a Network's go through its Jacobian, kept when ``n k P`` doubles fit half the
        memory limit, else recomputed per block of rows). A model (:mod:`ntk.models`) is used
        through its Jacobian products, and kept for predictions (X is then whatever it takes).
    X : array_like, (n, d), or (n, *input_shape) for a Network
    Y : array_like, (n, k) or (n,)
    ridge : float
        ``z >= 0``, absolute.
    f0_train : array_like, optional
        Offsets, e.g. ``net(X)`` for the linearised network (eq. 21).
    tol, max_iter : relative residual at which CG stops, iteration cap. A fit that does not
        converge warns (:class:`ntk.ConvergenceWarning`) and keeps the last iterate.
    preconditioner_rank : int
        Nyström centres of the preconditioner (0: plain CG).
    seed : int
        The preconditioner's centres.
    memory_limit : int, optional
        Bytes of working memory (default: the memory budget).
    progress : callable or True, optional
    dtype : numpy.float64 (default) or numpy.float32
        float32 (an MLP only): the CG's NTK-vector products in single precision (activations and
        signals kept as floats: half the memory, about half the time of a product). CG replaces
        its residual by the double one (one double product) whenever it has fallen 100-fold and
        before it stops, and restarts from it, so ``dual_coef_`` and the predictions are those of
        float64 to the tolerance. It pays where the preconditioned system converges quickly
        and n is moderate (1.54x at n = 5e4 in the benchmark); ill-conditioned systems take up
        to 3x the iterations, and at n = 2e5 the float products stall (their error grows with
        the kernel's largest eigenvalue): the fit then finishes in double, with a warning in
        the log, slower than float64 throughout (docs/large-scale.md).

    Attributes
    ----------
    n, n_outputs : int
    ridge : float
    iterations : int
    residuals : numpy.ndarray, (iterations,)
        The largest relative residual over columns after each iteration.
    converged : bool
    dual_coef_ : numpy.ndarray, (n, k)
        alpha.
    """

    _free = "ntk_empirical_ridge_free"
    _binding = None  # a model's binding (ntk.models), kept for predictions; None for an MLP

    def __init__(self, net, X, Y, ridge, f0_train=None, tol=1e-8, max_iter=500, preconditioner_rank=256, seed=0,
                 memory_limit=None, progress=None, dtype=np.float64):
        single = _single(net, dtype)
        if is_model(net):
            return self._fit_model(net, X, Y, ridge, f0_train,
                                   (tol, max_iter, preconditioner_rank, seed, 1.0, memory_limit), progress)
        if not isinstance(net, (MLP, Network)):
            raise InvalidArgumentError(f"net must be an ntk.MLP, ntk.Network or ntk.models.Model, got "
                                       f"{type(net).__name__}")
        function = getattr(lib, c_function(net, "ntk_empirical_ridge_fit", "ntk_network_ridge_fit"))
        x, px, ldx = net._inputs(X, "X")
        targets = TargetData(Y, x.shape[0], "X", f0_train)
        cb = Callback(progress)
        options = _empirical_solver_options(tol, max_iter, preconditioner_rank, seed, 1.0, memory_limit, cb, single)
        handle = ctypes.c_void_p()
        cb.call(function, net._live(), x.shape[0], px, ldx, ctypes.byref(targets.c),
                _scalar(ridge, "ridge"), ctypes.byref(options), ctypes.byref(handle))
        self._init(handle, net, targets.was_vector, ridge)

    def _fit_model(self, model, X, Y, ridge, f0_train, settings, progress):
        """The fit through a model's Jacobian products; the binding is kept for predictions
        (without the training data: test rows are numbered from 0)."""
        binding = Binding(model, X)
        try:
            rows = binding.add(X)
            targets = TargetData(Y, len(rows), "X", f0_train)
            cb = Callback(progress)
            options = _empirical_solver_options(*settings, cb)
            handle = ctypes.c_void_p()
            binding.run(cb, lib.ntk_model_ridge_fit, binding._live(), len(rows), rows_pointer(rows),
                        ctypes.byref(targets.c), _scalar(ridge, "ridge"), ctypes.byref(options), ctypes.byref(handle))
        except BaseException:
            binding.close()  # now, not when the traceback that holds it is collected
            raise
        binding.drop(1)
        self._binding, self._lock = binding, threading.Lock()
        self._init(handle, model, targets.was_vector, ridge)

    def _init(self, handle, net, was_vector, ridge):
        self._handle, self._net, self._vector = handle, net, was_vector
        n, k, iterations = ctypes.c_int64(), ctypes.c_int64(), ctypes.c_int64()
        residual, converged = ctypes.c_double(), ctypes.c_int()
        call("ntk_empirical_ridge_info", handle, ctypes.byref(n), ctypes.byref(k), ctypes.byref(iterations),
             ctypes.byref(residual), ctypes.byref(converged))
        self.n, self.n_outputs, self.iterations = n.value, k.value, iterations.value
        self.ridge, self.converged = float(ridge), bool(converged.value)
        self.residuals = np.empty(self.iterations)
        call("ntk_empirical_ridge_residuals", handle, _arrays.pointer(self.residuals))
        if not self.converged:
            warnings.warn(f"empirical NTK ridge: CG did not reach tol in {self.iterations} iterations: relative "
                          f"residual {self.residuals[-1]:.3g}; the model holds the last iterate", ConvergenceWarning,
                          stacklevel=2)

    @property
    def dual_coef_(self):
        """The dual coefficients alpha: (n, k), or (n,) for a 1-D Y.

        Predictions are ``f0(x) + K(x, X) @ alpha``.
        """
        out = np.empty((self.n, self.n_outputs))
        call("ntk_empirical_ridge_dual_coefficients", self._live(), _arrays.pointer(out), max(self.n_outputs, 1))
        return out[:, 0] if self._vector else out

    def predict(self, X, f0_test=None, progress=None):
        """Predictions ``f0_test + K(X, X_train) alpha``, one pass over the test points.

        Parameters
        ----------
        X : array_like, (m, d)
        f0_test : array_like, (m, k) or (m,), optional
        progress : True or callable, optional

        Returns
        -------
        numpy.ndarray, (m, k) — or (m,) for a 1-D Y
        """
        if self._binding is not None:
            return self._predict_model(X, f0_test, progress)
        points, m, _keep = _points(self._net, X, f0_test, self.n_outputs)
        out = np.empty((m, self.n_outputs))
        cb = Callback(progress)
        cb.call(lib.ntk_empirical_ridge_predict, self._live(), ctypes.byref(points), _arrays.pointer(out),
                max(self.n_outputs, 1), cb.c_function, None)
        return out[:, 0] if self._vector else out


    def _predict_model(self, X, f0_test, progress):
        """Predictions at the rows of X through the model's ``jvp`` (one call at a time)."""
        with self._lock:
            rows = self._binding.add(X, "X_test")
            try:
                test, _keep = _rows(rows, f0_test, self.n_outputs)
                out = np.empty((len(rows), self.n_outputs))
                cb = Callback(progress)
                self._binding.run(cb, lib.ntk_empirical_ridge_predict_rows, self._live(), ctypes.byref(test),
                                  _arrays.pointer(out), max(self.n_outputs, 1), cb.c_function, None)
            finally:
                self._binding.drop(1)
        return out[:, 0] if self._vector else out


def _rows(rows, f0, k, name="f0_test"):
    """An ``ntk_rows`` for row indices and optional offsets (m, k), with the arrays kept alive."""
    f, pf, ldf = _arrays.optional_matrix(f0, name, (len(rows), k))
    return Rows(len(rows), rows_pointer(rows), pf, ldf), (rows, f)


def empirical_gradient_flow(net, X, Y, times, X_test=None, f0_train=None, f0_test=None, learning_rate=1.0, tol=1e-8,
                            max_iter=500, memory_limit=None, progress=None):
    """Gradient flow with MSE under the empirical NTK at finite times, matrix-free (Lanczos).

    Train predictions ``f0 + R - e^{-sK} R`` and test predictions ``f0(x) + K(x, X) phi_s(K) R``
    with ``R = Y - f0``, ``s = learning_rate * t / N`` (N = n k), ``phi_s(l) = (1 - e^{-s l})/l``,
    from one Lanczos basis per target column (full reorthogonalisation), which serves every time:
    :func:`ntk.gradient_flow` on the dense empirical NTK, without forming it. ``t = inf`` is
    :class:`EmpiricalNTKRidge` with ridge 0.

    Parameters
    ----------
    net : MLP, Network or ntk.models.Model
    X : array_like, (n, d), or (n, *input_shape) for a Network
    Y : array_like, (n, k) or (n,)
    times : array_like, (T,)
        Finite times >= 0.
    X_test : array_like, (m, d), optional
    f0_train, f0_test : array_like, optional
    learning_rate : float
    tol : float
        Relative change of the approximation between checks (every 5 steps) at which to stop.
    max_iter : int
        Lanczos steps per target column.
    memory_limit : int, optional
    progress : True or callable, optional

    Returns
    -------
    pred_train : numpy.ndarray, (T, n, k) — or (T, n) for a 1-D Y
    pred_test : numpy.ndarray, (T, m, k) — or (T, m); None without ``X_test``
    error_estimate : float
        The largest relative change at the last check (0: exact, the Krylov space was invariant).
        Above ``tol`` after ``max_iter`` steps it warns with :class:`ntk.ConvergenceWarning`.
    """
    if X_test is None and f0_test is not None:
        raise InvalidArgumentError("f0_test needs X_test")
    if is_model(net):
        return _model_flow(net, X, Y, times, X_test, f0_train, f0_test, learning_rate, tol, max_iter, memory_limit,
                           progress)
    if not isinstance(net, (MLP, Network)):
        raise InvalidArgumentError(f"net must be an ntk.MLP, ntk.Network or ntk.models.Model, got {type(net).__name__}")
    function = getattr(lib, c_function(net, "ntk_empirical_gradient_flow", "ntk_network_gradient_flow"))
    return _network_flow(net, X, Y, times, X_test, f0_train, f0_test, learning_rate, tol, max_iter, memory_limit,
                         progress, lambda cb, *args: cb.call(function, net._live(), *args))


def _network_flow(net, X, Y, times, X_test, f0_train, f0_test, learning_rate, tol, max_iter, memory_limit, progress,
                  run):
    """The MLP flow's arrays and options in, its results out; ``run(cb, n, X, ldx, targets, count, times, test,
    options, pred_train, pred_test, error_estimate)`` calls the C function (one process, or the MPI ranks)."""
    x, px, ldx = net._inputs(X, "X")
    targets = TargetData(Y, x.shape[0], "X", f0_train)
    grid, pg = _arrays.vector(times, "times")
    k = targets.y.shape[1]
    test, m, _keep = (None, 0, None) if X_test is None else _points(net, X_test, f0_test, k)
    cb = Callback(progress)
    options = _empirical_solver_options(tol, max_iter, 0, 0, learning_rate, memory_limit, cb)
    train = np.empty((grid.shape[0], x.shape[0], k))
    pred_test = np.empty((grid.shape[0], m, k)) if test is not None else None
    estimate = ctypes.c_double()
    run(cb, x.shape[0], px, ldx, ctypes.byref(targets.c), grid.shape[0], pg,
        None if test is None else ctypes.byref(test), ctypes.byref(options), _arrays.pointer(train),
        None if pred_test is None else _arrays.pointer(pred_test), ctypes.byref(estimate))
    return _flow_result(train, pred_test, estimate.value, targets.was_vector, tol, max_iter, stacklevel=4)


def _flow_result(train, pred_test, estimate, was_vector, tol, max_iter, stacklevel=3):
    """The flow's outputs in the caller's shapes, with a warning when Lanczos did not settle
    (``stacklevel``: the user's call, as seen from here)."""
    if estimate > tol:
        warnings.warn(f"empirical_gradient_flow: the Lanczos approximation changed by {estimate:.3g} (> tol) at "
                      f"its last check after max_iter = {max_iter} steps", ConvergenceWarning, stacklevel=stacklevel)
    if was_vector:
        train = train[..., 0]
        pred_test = None if pred_test is None else pred_test[..., 0]
    return train, pred_test, estimate


def _model_flow(model, X, Y, times, X_test, f0_train, f0_test, learning_rate, tol, max_iter, memory_limit, progress):
    """empirical_gradient_flow through a model's Jacobian products (train and test rows in one space)."""
    with Binding(model, X) as binding:
        rows = binding.add(X)
        targets = TargetData(Y, len(rows), "X", f0_train)
        grid, pg = _arrays.vector(times, "times")
        k = targets.y.shape[1]
        test, _keep = (None, None) if X_test is None else _rows(binding.add(X_test, "X_test"), f0_test, k)
        cb = Callback(progress)
        options = _empirical_solver_options(tol, max_iter, 0, 0, learning_rate, memory_limit, cb)
        train = np.empty((grid.shape[0], len(rows), k))
        pred_test = None if test is None else np.empty((grid.shape[0], test.m, k))
        estimate = ctypes.c_double()
        binding.run(cb, lib.ntk_model_gradient_flow, binding._live(), len(rows), rows_pointer(rows),
                    ctypes.byref(targets.c), grid.shape[0], pg, None if test is None else ctypes.byref(test),
                    ctypes.byref(options), _arrays.pointer(train),
                    None if pred_test is None else _arrays.pointer(pred_test), ctypes.byref(estimate))
    return _flow_result(train, pred_test, estimate.value, targets.was_vector, tol, max_iter)

