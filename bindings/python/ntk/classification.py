"""Classification with cross-entropy: kernel logistic (softmax) regression on any kernel, its
approximate leave-one-out log loss, and Gaussian-process classification by the Laplace
approximation (docs/classification.md).

For k >= 2 classes the model is ``logits(x) = f0(x) + K(x, Z) @ dual_coef_``, the minimiser of
``sum_i CE(softmax(f_i), y_i) + ridge/2 * sum_c f_c^T K^-1 f_c`` (the regularised limit of eq.
13's cross-entropy dynamics), solved by Newton's method: Z are the n training points (a dense
kernel) or c Nyström centres. With ``ridge = 1`` the same model is the mode of GP classification
with prior covariance K on each class's logits, whose latent covariance, predictive probabilities
and Laplace log marginal likelihood are methods here.
"""

import ctypes
from typing import NamedTuple

import numpy as np

from . import _arrays
from ._data import square, test_matrix
from ._handle import Handle
from ._library import KernelLogisticOptions, Labels, Points, TestKernel, call, lib
from ._progress import Callback
from .errors import DimensionMismatchError, InvalidArgumentError

__all__ = ["KernelLogisticRegression", "LeaveOneOut", "softmax", "log_softmax"]

#: Monte Carlo draws (fixed seed, antithetic) for the predictive probabilities of more than two
#: classes; two classes use 64-point Gauss-Hermite quadrature (exact to ~1e-12).
_DRAWS = 4096


class LeaveOneOut(NamedTuple):
    """What :meth:`KernelLogisticRegression.loo` returns.

    Attributes
    ----------
    logits : numpy.ndarray, (n, k)
        Each training point's logits from the model refitted without it (one Newton step).
    log_loss : float
        Their mean cross-entropy.
    """

    logits: np.ndarray
    log_loss: float


def log_softmax(logits):
    """Row-wise log-softmax of (m, k) logits, ``f - log sum exp f``, computed without overflow.

    Parameters
    ----------
    logits : array_like, (m, k)

    Returns
    -------
    numpy.ndarray, (m, k)
    """
    z = np.asarray(logits, dtype=np.float64)
    z = z - z.max(axis=-1, keepdims=True)
    return z - np.log(np.exp(z).sum(axis=-1, keepdims=True))


def softmax(logits):
    """Row-wise softmax of (m, k) logits, computed without overflow.

    Parameters
    ----------
    logits : array_like, (m, k)

    Returns
    -------
    numpy.ndarray, (m, k)
        Rows sum to 1.
    """
    return np.exp(log_softmax(logits))


def _labels(y, n, n_classes, f0_train):
    """The labels as int64 (n,), k, and an ``ntk_labels`` (with the arrays to keep alive)."""
    try:
        a = np.asarray(y)
    except ValueError as e:
        raise InvalidArgumentError(f"y is not an array: {e}") from None
    if a.ndim != 1 or len(a) != n:
        raise DimensionMismatchError(f"y must be a 1-D array of {n} labels, got shape {a.shape}")
    if a.dtype.kind not in "iub" and not (a.dtype.kind == "f" and np.all(np.isfinite(a)) and np.all(a == np.round(a))):
        raise InvalidArgumentError("y must hold integer class labels 0, 1, ..., n_classes - 1 (map other labels "
                                   "with numpy.unique(y, return_inverse=True))")
    labels = np.ascontiguousarray(a, dtype=np.int64)
    k = int(labels.max()) + 1 if n_classes is None and n > 0 else _arrays.integer(n_classes, "n_classes")
    f0, pf0, ldf0 = _arrays.optional_matrix(f0_train, "f0_train", (n, k))
    c = Labels(labels.ctypes.data_as(ctypes.POINTER(ctypes.c_int64)), k, pf0, ldf0)
    return labels, k, c, f0


class KernelLogisticRegression(Handle):
    """Kernel logistic (softmax) regression, fitted by Newton's method on a dense kernel.

    Minimises ``sum_i CE(softmax(f0_i + f_i), y_i) + ridge/2 * sum_c f_c^T K^-1 f_c`` over the
    logits f in the span of the kernel (its eigendecomposition gives the features; a
    rank-deficient kernel is used on its numerical range). For a Nyström model (large n, O(n c)
    memory) use :meth:`nystrom`.

    Parameters
    ----------
    K_train : array_like, (n, n)
        Symmetric positive semi-definite kernel of the training points.
    y : array_like of int, (n,)
        Class labels 0, 1, ..., n_classes - 1.
    ridge : float, default 1.0
        ``> 0``. The penalty weight (the prior precision of the GP view); ignored with ``ridges``.
    ridges : array_like, optional
        A grid (each > 0): every ridge is fitted (warm-started, largest first) and the one with
        the smallest approximate leave-one-out log loss is kept (``ridge_scores``).
    f0_train : array_like, (n, k), optional
        Offset logits (e.g. a trained network's, to boost it; eq. 24 with cross-entropy).
    n_classes : int, optional
        k (default: ``max(y) + 1``); classes without training points are allowed.
    tol : float, default 1e-10
        Newton stops when the gradient norm is ``tol`` times its value at zero.
    max_iter : int, default 100
        Newton steps at most (not converging warns and keeps the last iterate: ``converged``).
    progress : True or callable, optional

    Attributes
    ----------
    n, n_classes, n_columns : int
        Training points, classes, and the points the model is expressed on (n, or c centres).
    ridge : float
        The ridge fitted (selected or given).
    n_iter : int
        Newton steps taken.
    converged : bool
    ridge_scores : numpy.ndarray or None
        With ``ridges``: each ridge's approximate LOO log loss, in the grid's order.
    dual_coef_ : numpy.ndarray, (n_columns, k)
        beta: ``logits(x) = f0(x) + K(x, Z) @ dual_coef_``.
    train_logits : numpy.ndarray, (n, k)
    """

    _free = "ntk_kernel_logistic_free"

    def __init__(self, K_train, y, ridge=1.0, ridges=None, f0_train=None, n_classes=None, tol=1e-10, max_iter=100,
                 progress=None):
        k_, pk, ldk = square(K_train, "K_train")
        self._fit("ntk_kernel_logistic_fit", (k_.shape[0], pk, ldk), k_.shape[0], y, ridge, ridges, f0_train,
                  n_classes, tol, max_iter, progress)

    @classmethod
    def nystrom(cls, K_nm, K_mm, y, ridge=1.0, ridges=None, f0_train=None, n_classes=None, tol=1e-10, max_iter=100,
                progress=None):
        """Fits on c Nyström centres: ``K_nm = K(X, C)`` (n, c) and ``K_mm = K(C, C)`` (c, c).

        The model is kernel logistic regression with the Nyström kernel ``K_nm K_mm^-1 K_mn``
        (all n points as centres: the dense model), in O(n c) memory; predictions take the test
        points' kernel against the centres. Other parameters as for the dense fit.

        Parameters
        ----------
        K_nm : array_like, (n, c)
        K_mm : array_like, (c, c)
        y, ridge, ridges, f0_train, n_classes, tol, max_iter, progress
            As for :class:`KernelLogisticRegression`.

        Returns
        -------
        KernelLogisticRegression
        """
        knm, pnm, ldnm, _ = _arrays.matrix(K_nm, "K_nm")
        n, c = knm.shape
        kmm, pmm, ldmm = square(K_mm, "K_mm", c)
        self = cls.__new__(cls)
        self._fit("ntk_kernel_logistic_fit_nystrom", (n, c, pnm, ldnm, pmm, ldmm), n, y, ridge, ridges, f0_train,
                  n_classes, tol, max_iter, progress)
        return self

    @classmethod
    def on_centers(cls, net, X, centers, y, kernel="ntk", ridge=1.0, ridges=None, f0_train=None, n_classes=None,
                   tol=1e-10, max_iter=100, progress=None):
        """Fits on Nyström centre points with an infinite-width kernel of ``net``'s architecture.

        As :meth:`nystrom` with ``K_nm = K(X, C)`` and ``K_mm = K(C, C)``, but the library
        computes ``K(X, C)`` block by block straight into its features: the memory is n c + 3 c^2
        doubles, never a stored n x c kernel. Predictions take ``K(X_test, C)``.

        Parameters
        ----------
        net : ntk.MLP or ntk.Network
            The architecture whose kernel is used.
        X : array_like, (n, d), or (n, *input_shape) for a Network
        centers : array_like, (c, d) or (c, *input_shape)
            Any points (typically rows of X).
        y, ridge, ridges, f0_train, n_classes, tol, max_iter, progress
            As for :class:`KernelLogisticRegression`.
        kernel : "ntk" or "nngp", default "ntk"

        Returns
        -------
        KernelLogisticRegression
        """
        from .network import c_function
        from .tuning import KERNEL_KINDS

        function = c_function(net, "ntk_kernel_logistic_fit_centers", "ntk_network_kernel_logistic_fit_centers")
        x, px, ldx = net._inputs(X)
        c, pc, ldc = net._inputs(centers, "centers")
        points = Points(c.shape[0], pc, ldc, _arrays.NULL, 1)
        self = cls.__new__(cls)
        self._fit(function,
                  (net._live(), _arrays.choice(kernel, KERNEL_KINDS, "kernel"), x.shape[0], px, ldx,
                   ctypes.byref(points)), x.shape[0], y, ridge, ridges, f0_train, n_classes, tol, max_iter, progress)
        return self

    def _fit(self, function, kernel, n, y, ridge, ridges, f0_train, n_classes, tol, max_iter, progress):
        """Runs ``function(*kernel, labels, ridge, options, out)`` and reads the fitted handle."""
        labels, k, c_labels, _f0 = _labels(y, n, n_classes, f0_train)
        grid = None
        if ridges is not None:
            grid, _ = _arrays.vector(ridges, "ridges")
            if grid.size == 0:
                raise InvalidArgumentError("ridges must not be empty")
        cb = Callback(progress)
        options = KernelLogisticOptions(tol=_arrays.scalar(tol, "tol"), max_iter=_arrays.integer(max_iter, "max_iter"),
                                        progress=cb.c_function)
        if grid is not None:
            options.n_ridges, options.ridges = grid.size, _arrays.pointer(grid)
        handle = ctypes.c_void_p()
        cb.call(getattr(lib, function), *kernel, ctypes.byref(c_labels), _arrays.scalar(ridge, "ridge"),
                ctypes.byref(options), ctypes.byref(handle))
        self._handle = handle
        n_, k_, c_, it = ctypes.c_int64(), ctypes.c_int64(), ctypes.c_int64(), ctypes.c_int64()
        z, conv = ctypes.c_double(), ctypes.c_int()
        call("ntk_kernel_logistic_info", handle, ctypes.byref(n_), ctypes.byref(k_), ctypes.byref(c_),
             ctypes.byref(z), ctypes.byref(it), ctypes.byref(conv))
        self.n, self.n_classes, self.n_columns = n_.value, k_.value, c_.value
        self.ridge, self.n_iter, self.converged = z.value, it.value, bool(conv.value)
        self.ridge_scores = None
        if grid is not None:
            self.ridge_scores = np.empty(grid.size)
            call("ntk_kernel_logistic_ridge_scores", handle, _arrays.pointer(self.ridge_scores))
        self._labels = labels

    @property
    def dual_coef_(self):
        """beta (n_columns, k): ``logits(x) = f0(x) + K(x, Z) @ dual_coef_``."""
        out, pout = _arrays.output(self.n_columns, self.n_classes)
        call("ntk_kernel_logistic_coefficients", self._live(), pout, self.n_classes)
        return out

    @property
    def train_logits(self):
        """The fitted logits on the training points, (n, k)."""
        out, pout = _arrays.output(self.n, self.n_classes)
        call("ntk_kernel_logistic_train_logits", self._live(), pout, self.n_classes)
        return out

    def predict_logits(self, K_test, f0_test=None):
        """Logits at test points.

        Parameters
        ----------
        K_test : array_like, (m, n_columns)
            The test points' kernel against the training points (or the centres).
        f0_test : array_like, (m, k), optional

        Returns
        -------
        numpy.ndarray, (m, k)
        """
        handle = self._live()
        kt, pkt, ldkt, m = test_matrix(K_test, self.n_columns)
        _, pf0, ldf0 = _arrays.optional_matrix(f0_test, "f0_test", (m, self.n_classes))
        out, pout = _arrays.output(m, self.n_classes)
        call("ntk_kernel_logistic_predict", handle, ctypes.byref(TestKernel(m, pkt, ldkt, pf0, ldf0)), pout,
             self.n_classes)
        return out

    def latent_covariance(self, K_test, k_test_diag=None):
        """The Laplace posterior covariance of the logits at m test points, (m, k, k).

        Parameters
        ----------
        K_test : array_like, (m, n_columns)
        k_test_diag : array_like, (m,), optional
            The test points' own kernel values k(x, x): adds the prior variance outside the
            kernel features' span, ``(k(x, x) - |phi(x)|^2) / ridge`` (the exact GP posterior of a
            dense fit). Without it (or for Nyström) the features' kernel is the prior.

        Returns
        -------
        numpy.ndarray, (m, k, k)
        """
        handle = self._live()
        kt, pkt, ldkt, m = test_matrix(K_test, self.n_columns)
        pdiag = _arrays.NULL
        if k_test_diag is not None:
            diag, pdiag = _arrays.vector(k_test_diag, "k_test_diag")
            if diag.size != m:
                raise DimensionMismatchError(f"k_test_diag must have {m} entries, got {diag.size}")
        out = np.empty((m, self.n_classes, self.n_classes))
        call("ntk_kernel_logistic_latent_covariance", handle, m, pkt, ldkt, pdiag, _arrays.pointer(out))
        return out

    def predict_proba(self, K_test, f0_test=None, k_test_diag=None, integrate=False):
        """Class probabilities at test points.

        Parameters
        ----------
        K_test : array_like, (m, n_columns)
        f0_test : array_like, (m, k), optional
        k_test_diag : array_like, (m,), optional
            With ``integrate``: the test points' k(x, x) (see :meth:`latent_covariance`).
        integrate : bool, default False
            False: the softmax of the logits (the kernel logistic model). True: the GP
            classifier's predictive probabilities, softmax averaged over the Laplace posterior of
            the logits (two classes: Gauss-Hermite quadrature in the logit difference, exact to
            ~1e-12; more: 4096 antithetic Monte Carlo draws with a fixed seed, ~1e-3).

        Returns
        -------
        numpy.ndarray, (m, k)
            Rows sum to 1.
        """
        mean = self.predict_logits(K_test, f0_test)
        if not integrate:
            return softmax(mean)
        return _integrated_softmax(mean, self.latent_covariance(K_test, k_test_diag))

    def loo(self):
        """Approximate leave-one-out logits and log loss, without refits.

        One Newton step of each refit without a point: ``f_i + S_i (I - W_i S_i)^-1 (p_i - e_yi)``
        with ``S_i`` the latent covariance of point i and ``W_i`` the softmax Hessian.

        Returns
        -------
        LeaveOneOut
        """
        out, pout = _arrays.output(self.n, self.n_classes)
        loss = ctypes.c_double()
        call("ntk_kernel_logistic_loo", self._live(), pout, self.n_classes, ctypes.byref(loss))
        return LeaveOneOut(out, loss.value)

    def log_marginal_likelihood(self):
        """The Laplace approximation of GP classification's log marginal likelihood.

        With prior covariance ``K / ridge`` on each class's logits: ``-J(w) - log det(H/ridge)/2``.

        Returns
        -------
        float
        """
        value = ctypes.c_double()
        call("ntk_kernel_logistic_log_marginal_likelihood", self._live(), ctypes.byref(value))
        return value.value


def _integrated_softmax(mean, cov):
    """E[softmax(f)] for f ~ N(mean_i, cov_i) per row: quadrature for k = 2, else Monte Carlo."""
    m, k = mean.shape
    if k == 2:
        nodes, weights = np.polynomial.hermite_e.hermegauss(64)
        weights = weights / weights.sum()
        mu = mean[:, 1] - mean[:, 0]
        var = np.maximum(cov[:, 0, 0] + cov[:, 1, 1] - 2 * cov[:, 0, 1], 0.0)
        d = mu[:, None] + np.sqrt(var)[:, None] * nodes[None, :]
        p1 = (0.5 * (1 + np.tanh(0.5 * d))) @ weights
        return np.stack([1 - p1, p1], axis=1)
    z = np.random.default_rng(0).standard_normal((_DRAWS // 2, k))
    z = np.concatenate([z, -z])
    out = np.empty((m, k))
    for i in range(m):
        root = np.linalg.cholesky(cov[i] + 1e-12 * (np.trace(cov[i]) / k + 1e-300) * np.eye(k))
        out[i] = softmax(mean[i] + z @ root.T).mean(axis=0)
    return out
