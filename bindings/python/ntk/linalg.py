"""Kernel linear algebra: Gram matrices, Cholesky solves, symmetric eigendecomposition.

These are the building blocks every kernel method in ntk uses; all run on BLAS/LAPACK in
libntk and accept any real array-like (float64 row-major arrays are passed without a copy).
"""

import ctypes

import numpy as np

from . import _arrays
from ._library import call, lib
from ._progress import Callback
from ._handle import Handle
from .errors import DimensionMismatchError


def gram(A, B=None, alpha=1.0, progress=None):
    """Gram matrix ``alpha * A @ B.T`` (``alpha * A @ A.T`` when B is None).

    Parameters
    ----------
    A : array_like, shape (n1, d)
    B : array_like, shape (n2, d), optional
        Omitted: the symmetric Gram of A, computed once per pair of rows and returned exactly
        symmetric.
    alpha : float
        Finite scale (e.g. ``1/d`` for the input kernel ``x·x'/d``).
    progress : callable, optional
        ``progress(fraction)``; return False to cancel.

    Returns
    -------
    G : ndarray, shape (n1, n2)

    Raises
    ------
    DimensionMismatchError, NonFiniteError, CancelledError
    """
    a, pa, lda, _ = _arrays.matrix(A, "A")
    n1, d = a.shape
    if B is None:
        b, pb, ldb, n2 = None, None, 1, n1
    else:
        b, pb, ldb, _ = _arrays.matrix(B, "B")
        n2 = b.shape[0]
        if b.shape[1] != d:
            raise DimensionMismatchError(f"A has {d} columns but B has {b.shape[1]}")
    g, pg = _arrays.output(n1, n2)
    cb = Callback(progress)
    cb.call(lib.ntk_gram, n1, n2, d, _arrays.scalar(alpha, "alpha"), pa, lda, pb, ldb, pg,
            max(n2, 1), cb.c_function, None)
    return g


def cholesky_solve(K, Y, ridge=0.0, progress=None):
    """Solves ``(K + ridge * I) X = Y`` by Cholesky.

    Parameters
    ----------
    K : array_like, shape (n, n)
        Symmetric (to 1e-6 relative; used as ``(K + K.T)/2``) and, with the ridge, positive
        definite.
    Y : array_like, shape (n, m) or (n,)
    ridge : float
        ``z >= 0``, absolute.

    Returns
    -------
    X : ndarray with the shape of Y

    Raises
    ------
    NotPositiveDefiniteError
        when ``K + ridge * I`` is not positive definite (the message gives the failing order).
    InvalidArgumentError, DimensionMismatchError, NonFiniteError, CancelledError
    """
    k, pk, ldk, _ = _arrays.matrix(K, "K")
    y, py, ldy, was_vector = _arrays.matrix(Y, "Y", vector_ok=True)
    n, m = y.shape
    if k.shape != (n, n):
        raise DimensionMismatchError(f"K must be ({n}, {n}) to match Y with {n} rows, got {k.shape}")
    x, px = _arrays.output(n, m)
    cb = Callback(progress)
    cb.call(lib.ntk_cholesky_solve, n, m, pk, ldk, _arrays.scalar(ridge, "ridge"), py, ldy, px,
            max(m, 1), cb.c_function, None)
    return x[:, 0] if was_vector else x


class CholeskyFactor(Handle):
    """The factorization ``K + ridge * I = L L^T``, kept for many solves.

    Factors once (the checks and errors of :func:`cholesky_solve`); :meth:`solve` then costs
    O(n^2 m). The factor holds n*n doubles in the library until :meth:`close` (or garbage
    collection); it can be used as a context manager and shared by threads.

    Parameters
    ----------
    K : array_like, (n, n), symmetric
    ridge : float
        ``z >= 0``, absolute.
    progress : True or callable, optional
    """

    _free = "ntk_cholesky_factor_free"

    def __init__(self, K, ridge=0.0, progress=None):
        k, pk, ldk, _ = _arrays.matrix(K, "K")
        if k.shape[0] != k.shape[1]:
            raise DimensionMismatchError(f"K must be square, got shape {k.shape}")
        handle = ctypes.c_void_p()
        cb = Callback(progress)
        cb.call(lib.ntk_cholesky_factor_create, k.shape[0], pk, ldk, _arrays.scalar(ridge, "ridge"),
                cb.c_function, None, ctypes.byref(handle))
        self._handle = handle
        self.n = k.shape[0]
        self.ridge = float(ridge)

    def solve(self, Y):
        """``(K + ridge * I)^-1 Y`` with the kept factor, O(n^2 m).

        Parameters
        ----------
        Y : array_like, (n, m) or (n,)

        Returns
        -------
        numpy.ndarray with the shape of Y
        """
        handle = self._live()
        y, py, ldy, was_vector = _arrays.matrix(Y, "Y", vector_ok=True)
        if y.shape[0] != self.n:
            raise DimensionMismatchError(f"Y has {y.shape[0]} rows but the factor is of order {self.n}")
        m = y.shape[1]
        x, px = _arrays.output(self.n, m)
        call("ntk_cholesky_factor_solve", handle, m, py, ldy, px, max(m, 1))
        return x[:, 0] if was_vector else x

    @property
    def log_determinant(self):
        """``log det(K + ridge * I)``, a float.
        """
        value = ctypes.c_double()
        call("ntk_cholesky_factor_log_determinant", self._live(), ctypes.byref(value))
        return value.value

    def __repr__(self):
        state = "closed" if self._handle is None else f"n={self.n}, ridge={self.ridge}"
        return f"CholeskyFactor({state})"


def eigh(K, progress=None):
    """Eigendecomposition ``K = V diag(w) V.T`` of a symmetric matrix (LAPACK DSYEVD).

    Parameters
    ----------
    K : array_like, (n, n), symmetric
    progress : True or callable, optional
        The decomposition itself (one LAPACK call) cannot be interrupted.

    Returns
    -------
    w : numpy.ndarray, (n,)
        Eigenvalues, ascending.
    V : numpy.ndarray, (n, n)
        Orthonormal eigenvectors as columns, the convention of ``numpy.linalg.eigh``.

    Raises
    ------
    InvalidArgumentError (not symmetric), DimensionMismatchError, NonFiniteError, NumericalError,
    TooLargeError (n above about 32 000), CancelledError
    """
    k, pk, ldk, _ = _arrays.matrix(K, "K")
    n = k.shape[0]
    if k.shape != (n, n):
        raise DimensionMismatchError(f"K must be square, got shape {k.shape}")
    w = np.empty(n)
    v, pv = _arrays.output(n, n)
    cb = Callback(progress)
    cb.call(lib.ntk_eigh, n, pk, ldk, _arrays.pointer(w), pv, max(n, 1), cb.c_function, None)
    return w, v


def eigvalsh(K, progress=None):
    """Eigenvalues of a symmetric matrix, ascending; several times cheaper than :func:`eigh`.

    Parameters
    ----------
    K : array_like, (n, n), symmetric
    progress : True or callable, optional

    Returns
    -------
    numpy.ndarray, (n,)
    """
    k, pk, ldk, _ = _arrays.matrix(K, "K")
    n = k.shape[0]
    if k.shape != (n, n):
        raise DimensionMismatchError(f"K must be square, got shape {k.shape}")
    w = np.empty(n)
    cb = Callback(progress)
    cb.call(lib.ntk_eigh, n, pk, ldk, _arrays.pointer(w), None, 1, cb.c_function, None)
    return w
