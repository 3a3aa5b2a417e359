"""Kernel regression: kernel ridge with offsets, ridge on explicit features, and the spectral
solver for gradient flow at any time, ridge paths, shrinkage filters and ridge selection.

Conventions (as neural-tangents): MSE loss ``(1/N) sum 1/2 (f - y)^2`` with ``N = n * k`` target
entries, so train residuals decay as ``exp(-eta t K / N)``; ``t = inf`` is kernel regression;
ridges are absolute unless said otherwise. A 1-D ``Y`` is taken as ``(n, 1)`` and results come
back without the output axis.
"""

import ctypes
import warnings
from typing import NamedTuple

import numpy as np

from . import _arrays
from ._data import Problem, make_grid, square, test_matrix
from ._handle import Handle
from ._library import (FeaturesRidgeOptions, KernelRidgeOptions, TestKernel, call, choices,
                       lib)
from ._progress import Callback
from .errors import DimensionMismatchError, InvalidArgumentError

_FORMS = choices("ntk_features_form", "NTK_FORM_")
_NEGATIVE = choices("ntk_negative_eigenvalues", "NTK_NEGATIVE_")
_CRITERIA = choices("ntk_ridge_criterion", "NTK_CRITERION_")
_SCALES = choices("ntk_ridge_scale", "NTK_RIDGE_")


_choice = _arrays.choice


class RidgeSelection(NamedTuple):
    """What every ``select_ridge`` returns (:func:`ntk.select_ridge`, :meth:`SpectralSolver.select_ridge`,
    :meth:`ntk.NystromRidge.select_ridge`, :meth:`ntk.distributed.SpectralSolver.select_ridge`).

    Attributes
    ----------
    ridge : float
        The ridge with the smallest score (the first of ties).
    index : int
        Its position in the grid.
    scores : numpy.ndarray, (G,)
        Every ridge's score: mean squared error per target entry; ``inf`` where the criterion is
        undefined (GCV of an interpolating fit, leave-one-out with a singular ``K + zI``).
    """

    ridge: float
    index: int
    scores: np.ndarray

    @classmethod
    def _of(cls, grid, scores, best):
        """From the C library's outputs: the grid, its scores and the index of the best."""
        return cls(float(grid[best]), int(best), scores)


class TimeSelection(NamedTuple):
    """What :meth:`SpectralSolver.select_time` returns.

    Attributes
    ----------
    time : float
        The GCV-optimal training time (``inf``: the limit scores lowest).
    score : float
        Its GCV score (mean squared error per target entry).
    """

    time: float
    score: float


def _deprecated_alias(new, old):
    """A read-only property ``old`` that warns and returns ``self.new`` (renamed in 0.3)."""

    def getter(self):
        warnings.warn(f"{type(self).__name__}.{old} is deprecated and will be removed in 1.0: use {new}",
                      DeprecationWarning, stacklevel=2)
        return getattr(self, new)

    return property(getter, doc=f"Deprecated alias of ``{new}`` (0.3).")


# ----------------------------------------------------------------------------------------
# Kernel ridge regression with offsets


class KernelRidge(Handle):
    """Kernel ridge regression ``f0 + K (K + zI)^-1 (Y - f0)``, fitted once by Cholesky.

    Parameters
    ----------
    K_train : array_like, (n, n)
        Symmetric kernel of the training points.
    Y : array_like, (n, k) or (n,)
    ridge : float
        ``z >= 0``; absolute, or with ``ridge_relative=True`` times the mean diagonal of K.
    f0_train : array_like, (n, k) or (n,), optional
        Outputs at initialisation (eq. 21) or of a trained network (boosting, eq. 24).
    max_jitter : float
        0 (default): a kernel that is not positive definite raises NotPositiveDefiniteError.
        > 0: retry with jitter 1e-10, 1e-9, ... times the mean diagonal, up to max_jitter times
        it; ``jitter`` reports what was added.
    progress : callable, optional

    Attributes
    ----------
    n, n_outputs : int
    ridge : float
        The absolute z used.
    jitter : float
    train_predictions : numpy.ndarray, (n, k)
    dual_coef_ : numpy.ndarray, (n, k)
        alpha.
    """

    _free = "ntk_kernel_ridge_free"

    def __init__(self, K_train, Y, ridge=0.0, ridge_relative=False, f0_train=None, max_jitter=0.0, progress=None):
        k, pk, ldk = square(K_train, "K_train")
        n = k.shape[0]
        data = Problem(n, Y, f0_train)
        self._vector = data.was_vector
        handle = ctypes.c_void_p()
        cb = Callback(progress)
        options = KernelRidgeOptions(ridge_scale=_SCALES["relative" if ridge_relative else "absolute"],
                                     max_jitter=_arrays.scalar(max_jitter, "max_jitter"), progress=cb.c_function)
        cb.call(lib.ntk_kernel_ridge_fit, n, pk, ldk, ctypes.byref(data.c), _arrays.scalar(ridge, "ridge"),
                ctypes.byref(options), ctypes.byref(handle))
        self._handle = handle
        self.n, self.n_outputs = n, data.k
        z, j = ctypes.c_double(), ctypes.c_double()
        call("ntk_kernel_ridge_info", handle, None, None, ctypes.byref(z), ctypes.byref(j))
        self.ridge, self.jitter = z.value, j.value

    def _shape(self, a):
        return a[:, 0] if self._vector else a

    def predict(self, K_test_train, f0_test=None):
        """Predictions at test points.

        Parameters
        ----------
        K_test_train : array_like, (m, n)
            The kernel between the test points and the training points.
        f0_test : array_like, (m, k) or (m,), optional
            Offsets at the test points (None: 0).

        Returns
        -------
        numpy.ndarray, (m, k) — or (m,) for a 1-D Y
            ``f0_test + K_test_train @ alpha``.
        """
        handle = self._live()
        kt, pkt, ldkt, m = test_matrix(K_test_train, self.n)
        _, pf0, ldf0 = _arrays.optional_matrix(f0_test, "f0_test", (m, self.n_outputs))
        out, pout = _arrays.output(m, self.n_outputs)
        test = TestKernel(m, pkt, ldkt, pf0, ldf0)
        call("ntk_kernel_ridge_predict", handle, ctypes.byref(test), pout, max(self.n_outputs, 1))
        return self._shape(out)

    @property
    def train_predictions(self):
        """The fitted values ``f0 + K alpha`` on the training points: (n, k), or (n,) for a 1-D Y.
        """
        out, pout = _arrays.output(self.n, self.n_outputs)
        call("ntk_kernel_ridge_train_predictions", self._live(), pout, max(self.n_outputs, 1))
        return self._shape(out)

    @property
    def dual_coef_(self):
        """The dual coefficients ``alpha = (K + (z + jitter) I)^-1 (Y - f0)``: (n, k), or (n,) for a 1-D Y.

        Predictions at any points are ``f0(x) + K(x, X) @ alpha``.
        """
        out, pout = _arrays.output(self.n, self.n_outputs)
        call("ntk_kernel_ridge_dual_coefficients", self._live(), pout, max(self.n_outputs, 1))
        return self._shape(out)

    dual_coef = _deprecated_alias("dual_coef_", "dual_coef")

    def __repr__(self):
        if self._handle is None:
            return "KernelRidge(closed)"
        return f"KernelRidge(n={self.n}, outputs={self.n_outputs}, ridge={self.ridge:g}, jitter={self.jitter:g})"


def kernel_ridge(K_train, Y, K_test_train=None, ridge=0.0, ridge_relative=False, f0_train=None, f0_test=None,
                 max_jitter=0.0, progress=None):
    """Kernel ridge predictions ``f0 + K (zI + K)^-1 (Y - f0_train)`` (eq. 5, 21, 24).

    Parameters
    ----------
    K_train, Y, ridge, ridge_relative, f0_train, max_jitter, progress
        As :class:`KernelRidge`.
    K_test_train : array_like, (m, n), optional
        The test-train kernel; None for training predictions only.
    f0_test : array_like, (m, k) or (m,), optional
        Offsets at the test points.

    Returns
    -------
    pred_train : numpy.ndarray, (n, k) — or (n,) for a 1-D Y
    pred_test : numpy.ndarray, (m, k) — or (m,); None without ``K_test_train``

    Raises
    ------
    NotPositiveDefiniteError
        When ``K + zI`` is not positive definite (see ``max_jitter``).
    """
    with KernelRidge(K_train, Y, ridge=ridge, ridge_relative=ridge_relative, f0_train=f0_train,
                     max_jitter=max_jitter, progress=progress) as model:
        test = None if K_test_train is None else model.predict(K_test_train, f0_test)
        if K_test_train is None and f0_test is not None:
            raise InvalidArgumentError("f0_test needs K_test_train")
        return model.train_predictions, test


# ----------------------------------------------------------------------------------------
# Ridge on explicit features (eq. 3)


def features_ridge(S_train, Y, S_test=None, ridge=0.0, form="auto", return_weights=False, progress=None):
    """Ridge regression on features: ``beta = (zI + S^T S)^-1 S^T Y = S^T (zI + S S^T)^-1 Y``.

    This is random-features regression, and with Jacobian rows as features the one-step NTK model
    (eq. 3). The primal and dual forms give the same predictions to rounding (the push-through
    identity).

    Parameters
    ----------
    S_train : array_like, (n, p)
        Features of the training points.
    Y : array_like, (n, k) or (n,)
    S_test : array_like, (m, p), optional
        Features of the test points.
    ridge : float
        ``z >= 0``, absolute.
    form : "auto" (default), "primal" or "dual"
        "auto" solves the smaller system (p x p when p < n).
    return_weights : bool
        Also return beta.
    progress : True or callable, optional

    Returns
    -------
    pred_train : numpy.ndarray, (n, k) — or (n,) for a 1-D Y
    pred_test : numpy.ndarray, (m, k) — or (m,); None without ``S_test``
    weights : numpy.ndarray, (p, k) — or (p,); only with ``return_weights``
    """
    s, ps, lds, _ = _arrays.matrix(S_train, "S_train")
    n, p = s.shape
    y, py, ldy, was_vector = _arrays.matrix(Y, "Y", vector_ok=True)
    if y.shape[0] != n:
        raise DimensionMismatchError(f"Y has {y.shape[0]} rows but S_train has {n}")
    k = y.shape[1]
    st = None
    if S_test is not None:
        st = _arrays.matrix(S_test, "S_test")[0]
        if st.shape[1] != p:
            raise DimensionMismatchError(f"S_test has {st.shape[1]} features but S_train has {p}")
    weights, pw = _arrays.output(p, k)
    cb = Callback(progress)
    options = FeaturesRidgeOptions(form=_choice(form, _FORMS, "form"), progress=cb.c_function)
    cb.call(lib.ntk_features_ridge, n, p, k, ps, lds, py, ldy, _arrays.scalar(ridge, "ridge"), ctypes.byref(options),
            pw, max(k, 1))
    # Predictions S W and S_test W (the library returns the weights; one product each).
    train = s @ weights
    test = None if st is None else st @ weights
    squeeze = (lambda a: a if a is None else a[:, 0]) if was_vector else (lambda a: a)
    result = (squeeze(train), squeeze(test))
    return result + (squeeze(weights),) if return_weights else result


# ----------------------------------------------------------------------------------------
# Spectral solver


class SpectralSolver(Handle):
    """One eigendecomposition of ``K_train``, then cheap predictions for whole grids.

    Parameters
    ----------
    K_train : array_like, (n, n), symmetric
    negative_eigenvalues : "clamp" (default) or "error"
        Negative eigenvalues of a computed kernel are rounding noise: "clamp" sets them to 0
        (``clamped_count`` and ``min_raw_eigenvalue`` report it; a RuntimeWarning is issued
        when one is below -1e-6 * lambda_max, which is more than noise); "error" raises
        NotPositiveDefiniteError for any eigenvalue below ``-cutoff``.
    progress : callable, optional

    Eigenvalues ``<= cutoff = n * eps * lambda_max`` form the null space and are left out of
    predictions, so ``t = inf`` with ``ridge = 0`` is the minimum-norm interpolant even for a
    singular kernel.

    Attributes
    ----------
    n : int
    eigenvalues : numpy.ndarray, (n,)
        Ascending, after the policy.
    min_raw_eigenvalue, cutoff, max_eigenvalue : float
    clamped_count, null_count : int
    """

    _free = "ntk_spectral_free"

    def __init__(self, K_train, negative_eigenvalues="clamp", progress=None):
        k, pk, ldk = square(K_train, "K_train")
        handle = ctypes.c_void_p()
        cb = Callback(progress)
        cb.call(lib.ntk_spectral_create, k.shape[0], pk, ldk,
                _choice(negative_eigenvalues, _NEGATIVE, "negative_eigenvalues"),
                cb.c_function, None, ctypes.byref(handle))
        self._handle = handle
        self.n = k.shape[0]
        minimum, cutoff = ctypes.c_double(), ctypes.c_double()
        clamped, null = ctypes.c_int64(), ctypes.c_int64()
        call("ntk_spectral_info", handle, None, ctypes.byref(minimum), ctypes.byref(clamped), ctypes.byref(null),
             ctypes.byref(cutoff))
        self.min_raw_eigenvalue, self.cutoff = minimum.value, cutoff.value
        self.clamped_count, self.null_count = clamped.value, null.value
        self.eigenvalues = np.empty(self.n)
        call("ntk_spectral_eigenvalues", handle, _arrays.pointer(self.eigenvalues))
        self.max_eigenvalue = float(self.eigenvalues[-1]) if self.n else 0.0
        if self.min_raw_eigenvalue < -1e-6 * max(self.max_eigenvalue, 0.0):
            warnings.warn(f"K_train has eigenvalue {self.min_raw_eigenvalue:.3g} (largest {self.max_eigenvalue:.3g}); "
                          f"{self.clamped_count} negative eigenvalues were clamped to 0. Is it a valid kernel?",
                          RuntimeWarning, stacklevel=2)

    def _predict(self, Y, times, ridges, learning_rate, K_test_train, f0_train, f0_test):
        handle = self._live()
        data = Problem(self.n, Y, f0_train, K_test_train, f0_test)
        count = len(times)
        train = np.empty((count, self.n, data.k))
        test = np.empty((count, data.m, data.k)) if data.test is not None else None
        points = make_grid(times, ridges, learning_rate)
        call("ntk_spectral_predict", handle, ctypes.byref(data.c), ctypes.byref(points), data.test_pointer(),
             _arrays.pointer(train), _arrays.NULL if test is None else _arrays.pointer(test))
        return data.shape(train), data.shape(test)

    def gradient_flow(self, Y, times, K_test_train=None, learning_rate=1.0, ridge=0.0, f0_train=None, f0_test=None):
        """Predictions of kernel gradient flow with MSE at every time (eq. 18, 20).

        Parameters
        ----------
        Y : array_like, (n, k) or (n,)
        times : array_like, (T,)
            Training times >= 0; ``numpy.inf`` is kernel regression (with ``ridge``: kernel ridge).
        K_test_train : array_like, (m, n), optional
        learning_rate : float
            eta > 0.
        ridge : float
            ``z >= 0``, absolute, the same for every time.
        f0_train, f0_test : array_like, optional
            Offsets (outputs at initialisation) on the training and test points.

        Returns
        -------
        pred_train : numpy.ndarray, (T, n, k) — or (T, n) for a 1-D Y
        pred_test : numpy.ndarray, (T, m, k) — or (T, m); None without ``K_test_train``
        """
        t, _ = _arrays.vector(times, "times")
        z = np.full(t.shape, _arrays.scalar(ridge, "ridge"))
        return self._predict(Y, t, z, learning_rate, K_test_train, f0_train, f0_test)

    def dual_coef(self, Y, time=np.inf, ridge=0.0, learning_rate=1.0, f0_train=None):
        """The dual coefficients of one grid point: ``alpha = V diag(g(lambda)) V^T (Y - f0_train)``.

        Predictions at any points are then ``f0(x) + K(x, X) @ alpha`` — the same numbers as
        :meth:`gradient_flow` gives for that test kernel, without the solver or the test points.

        Parameters
        ----------
        Y : array_like, (n, k) or (n,)
        time : float
            Training time >= 0; ``numpy.inf`` (default) is kernel ridge.
        ridge : float
            ``z >= 0``, absolute.
        learning_rate : float
            eta > 0.
        f0_train : array_like, (n, k) or (n,), optional

        Returns
        -------
        numpy.ndarray, (n, k) — or (n,) for a 1-D Y
        """
        handle = self._live()
        data = Problem(self.n, Y, f0_train)
        out, pout = _arrays.output(self.n, data.k)
        t, z = np.array([_arrays.scalar(time, "time")]), np.array([_arrays.scalar(ridge, "ridge")])
        points = make_grid(t, z, learning_rate)
        call("ntk_spectral_dual_coefficients", handle, ctypes.byref(data.c), ctypes.byref(points), pout)
        return data.shape(out)

    def ridge_path(self, Y, ridges, K_test_train=None, f0_train=None, f0_test=None):
        """Kernel ridge predictions for every ridge of a grid (t = inf).

        Parameters
        ----------
        Y : array_like, (n, k) or (n,)
        ridges : array_like, (G,)
            Absolute ridges >= 0.
        K_test_train : array_like, (m, n), optional
        f0_train, f0_test : array_like, optional

        Returns
        -------
        pred_train : numpy.ndarray, (G, n, k) — or (G, n) for a 1-D Y
        pred_test : numpy.ndarray, (G, m, k) — or (G, m); None without ``K_test_train``
        """
        z, _ = _arrays.vector(ridges, "ridges")
        return self._predict(Y, np.full(z.shape, np.inf), z, 1.0, K_test_train, f0_train, f0_test)

    def select_ridge(self, Y, ridges, criterion="gcv", f0_train=None):
        """Scores every ridge of a grid by closed forms on the eigendecomposition (no refits).

        Parameters
        ----------
        Y : array_like, (n, k) or (n,)
        ridges : array_like, (G,)
            Absolute ridges >= 0.
        criterion : "gcv" (default) or "loo"
            Generalised cross-validation, or the exact leave-one-out error.
        f0_train : array_like, (n, k) or (n,), optional

        Returns
        -------
        RidgeSelection
            ``(ridge, index, scores)``: the first minimising ridge, its index, and the scores (G,) —
            mean squared errors per target entry, ``inf`` where undefined.
        """
        handle = self._live()
        data = Problem(self.n, Y, f0_train)
        z, pz = _arrays.vector(ridges, "ridges")
        scores = np.empty(len(z))
        best = ctypes.c_int64()
        call("ntk_spectral_select_ridge", handle, ctypes.byref(data.c), len(z), pz,
             _choice(criterion, _CRITERIA, "criterion"), _arrays.pointer(scores), ctypes.byref(best))
        return RidgeSelection._of(z, scores, best.value)

    def select_time(self, Y, ridge=0.0, learning_rate=1.0, f0_train=None):
        """The training time of gradient flow chosen by GCV, like the ridge (eq. 22).

        Minimises GCV of the flow's smoother ``H_t = V diag(lambda g_t(lambda)) V^T`` over t by a
        one-dimensional search on the spectrum (a log grid of 256 times from "nothing learned" to
        "converged", refined by golden section); 0 when learning nothing scores lowest (the targets
        look like noise), ``inf`` when the limit (kernel ridge with ``ridge``) does.

        Parameters
        ----------
        Y : array_like, (n, k) or (n,)
        ridge : float >= 0, default 0
            The ridge added to the flow (absolute).
        learning_rate : float > 0, default 1
        f0_train : array_like, (n, k) or (n,), optional

        Returns
        -------
        TimeSelection
            ``(time, score)``: the selected time (use it as ``time=`` of :meth:`predict`) and its
            GCV score (mean squared error per target entry).
        """
        handle = self._live()
        data = Problem(self.n, Y, f0_train)
        time, score = ctypes.c_double(), ctypes.c_double()
        call("ntk_spectral_select_time", handle, ctypes.byref(data.c), _arrays.scalar(ridge, "ridge"),
             _arrays.scalar(learning_rate, "learning_rate"), ctypes.byref(time), ctypes.byref(score))
        return TimeSelection(time.value, score.value)

    def filters(self, times=None, ridges=None, learning_rate=1.0, n_targets=None):
        """The spectral filters of a grid (eq. 22), for plotting ridge against early stopping.

        Parameters
        ----------
        times : float or array_like, optional
            Early stopping at these times (with optional scalar or per-time ``ridges``); None: t = inf.
        ridges : float or array_like, optional
            Alone: kernel ridge with these ridges.
        learning_rate : float
        n_targets : int, optional
            N (default n).

        Returns
        -------
        dict
            ``values`` g(lambda) and ``shrinkage`` lambda * g(lambda), both (G, n) against
            ``eigenvalues``, and ``dof``, the effective degrees of freedom (G,).
        """
        handle = self._live()
        if times is None and ridges is None:
            raise InvalidArgumentError("give times, ridges or both")
        if times is None:
            z, _ = _arrays.vector(ridges, "ridges")
            t = np.full(z.shape, np.inf)
        else:
            t, _ = _arrays.vector(times, "times")
            z, _ = _arrays.vector(0.0 if ridges is None else ridges, "ridges")
            if z.shape == (1,):
                z = np.full(t.shape, z[0])
            if z.shape != t.shape:
                raise DimensionMismatchError(f"ridges has {len(z)} entries but times has {len(t)}")
        n_targets = _count(self.n if n_targets is None else n_targets)
        values, shrinkage, dof = np.empty((len(t), self.n)), np.empty((len(t), self.n)), np.empty(len(t))
        points = make_grid(t, z, learning_rate)
        call("ntk_spectral_filters", handle, ctypes.byref(points), int(n_targets), _arrays.pointer(values),
             _arrays.pointer(shrinkage), _arrays.pointer(dof))
        return {"values": values, "shrinkage": shrinkage, "dof": dof}

    def max_learning_rate(self, n_targets):
        """The critical learning rate ``2 N / lambda_max`` of gradient descent with MSE.

        Parameters
        ----------
        n_targets : int
            N >= 1, the number of target entries (n k).

        Returns
        -------
        float
            ``inf`` for a zero kernel.
        """
        eta = ctypes.c_double()
        call("ntk_spectral_max_learning_rate", self._live(), _count(n_targets), ctypes.byref(eta), None)
        return eta.value

    def __repr__(self):
        if self._handle is None:
            return "SpectralSolver(closed)"
        return f"SpectralSolver(n={self.n}, lambda_max={self.max_eigenvalue:.4g}, null_count={self.null_count})"


def _count(n_targets):
    n = _arrays.integer(n_targets, "n_targets")
    if n < 1:
        raise InvalidArgumentError(f"n_targets must be >= 1, got {n_targets}")
    return n


def gradient_flow(K_train, Y, times, K_test_train=None, learning_rate=1.0, ridge=0.0, f0_train=None, f0_test=None,
                  progress=None):
    """Kernel gradient flow with MSE at every time (eq. 18, 20), from one eigendecomposition.

    Parameters
    ----------
    K_train : array_like, (n, n), symmetric
    Y, times, K_test_train, learning_rate, ridge, f0_train, f0_test
        As :meth:`SpectralSolver.gradient_flow`.
    progress : True or callable, optional
        Reported during the eigendecomposition.

    Returns
    -------
    pred_train : numpy.ndarray, (T, n, k) — or (T, n) for a 1-D Y
    pred_test : numpy.ndarray, (T, m, k) — or (T, m); None without ``K_test_train``
    """
    with SpectralSolver(K_train, progress=progress) as solver:
        return solver.gradient_flow(Y, times, K_test_train, learning_rate, ridge, f0_train, f0_test)


def ridge_path(K_train, Y, ridges, K_test_train=None, f0_train=None, f0_test=None, progress=None):
    """Kernel ridge predictions for every ridge of a grid, from one eigendecomposition.

    Parameters
    ----------
    K_train : array_like, (n, n), symmetric
    Y, ridges, K_test_train, f0_train, f0_test
        As :meth:`SpectralSolver.ridge_path`.
    progress : True or callable, optional

    Returns
    -------
    pred_train : numpy.ndarray, (G, n, k) — or (G, n) for a 1-D Y
    pred_test : numpy.ndarray, (G, m, k) — or (G, m); None without ``K_test_train``
    """
    with SpectralSolver(K_train, progress=progress) as solver:
        return solver.ridge_path(Y, ridges, K_test_train, f0_train, f0_test)


def select_ridge(K_train, Y, ridges, criterion="gcv", f0_train=None, progress=None):
    """GCV or exact leave-one-out error of kernel ridge for every ridge (eq. 25's "judiciously chosen z").

    Parameters
    ----------
    K_train : array_like, (n, n), symmetric
    Y : array_like, (n, k) or (n,)
    ridges : array_like, (G,)
        Absolute ridges >= 0.
    criterion : "gcv" (default) or "loo"
    f0_train : array_like, (n, k) or (n,), optional
    progress : True or callable, optional

    Returns
    -------
    RidgeSelection
        ``(ridge, index, scores)``: the first minimising ridge, its index, and the scores (G,) —
        mean squared errors per target entry, ``inf`` where undefined.
    """
    with SpectralSolver(K_train, progress=progress) as solver:
        return solver.select_ridge(Y, ridges, criterion, f0_train)


def max_learning_rate(K_train, n_targets, progress=None):
    """The largest stable learning rate of gradient descent on the linearised model with MSE.

    Only the largest eigenvalue is computed.

    Parameters
    ----------
    K_train : array_like, (n, n), symmetric
    n_targets : int
        N = n k >= 1, the number of target entries.
    progress : True or callable, optional

    Returns
    -------
    float
        ``2 N / lambda_max(K_train)``; ``inf`` for a zero kernel.
    """
    k, pk, ldk = square(K_train, "K_train")
    eta = ctypes.c_double()
    cb = Callback(progress)
    cb.call(lib.ntk_max_learning_rate, k.shape[0], pk, ldk, _count(n_targets), ctypes.byref(eta), None,
            cb.c_function, None)
    return eta.value
