"""libntk beyond one machine: MPI + ScaLAPACK (libntk_mpi.so), with mpi4py communicators.

Run a script on several processes with ``mpirun -np P python script.py``; every rank runs
the same calls (they are collective). Two ways to spread the work:

- **Dense, block-cyclic.** A :class:`Grid` arranges the ranks as a process grid; a
  :class:`DistributedMatrix` is split into blocks dealt over it (ScaLAPACK's layout), each rank
  computing and holding only its blocks. :func:`infinite_width_kernel` and :func:`empirical_ntk`
  fill them; :class:`KernelRidge` (Cholesky, PDPOTRF) and `SpectralSolver` (PDSYEVD: gradient
  flow at any time, ridge paths, GCV and leave-one-out) solve on them. Memory per rank is about
  n²/P doubles per matrix. Inputs (X, Y, offsets) and results of size n x k are replicated.
- **Data-parallel rows.** :func:`nystrom_ridge` and :func:`empirical_ridge` take each rank's own
  rows and return ordinary :class:`ntk.NystromRidge` / :class:`ntk.EmpiricalNTKRidge` models,
  the same on every rank, fitted on all the rows with one MPI_Allreduce per operator product;
  :func:`empirical_gradient_flow` runs the matrix-free Lanczos flow on them the same way.

Errors are collective: every rank raises the same exception with the same message, naming the
rank that failed first; no rank is left waiting. Arguments documented as replicated are
checked to be equal on every rank. Run one BLAS thread per rank (``OPENBLAS_NUM_THREADS=1``)
unless ranks have cores to spare.

Close grids and matrices explicitly (``with`` or ``close()``) on every rank: freeing a grid
frees its communicator, which MPI treats as collective.
"""

import ctypes
import os
from ctypes import POINTER, c_char_p, c_double, c_int, c_int64, c_void_p
from pathlib import Path

import numpy as np

from . import _arrays
from ._data import TargetData, make_grid
from ._handle import Handle
from ._progress import Callback, deferred_sigint
from ._library import (EXPECTED_VERSION, PROGRESS_FN, EmpiricalNTKOptions, EmpiricalSolverOptions,
                       InfiniteWidthOptions, Grid, KernelRidgeOptions, NystromOptions, Points, Targets, choices,
                       declare, lib, path, raise_for_status)
from .errors import DimensionMismatchError, InvalidArgumentError, LibraryNotFoundError
from .large_scale import EmpiricalNTKRidge, NystromRidge, _empirical_solver_options, _network_flow, _options
from .network import c_function
from .regression import RidgeSelection

__all__ = ["Grid", "DistributedMatrix", "infinite_width_kernel", "empirical_ntk", "KernelRidge", "SpectralSolver",
           "nystrom_ridge", "empirical_ridge", "empirical_gradient_flow"]

_int, _scalar = _arrays.integer, _arrays.scalar


class _Points(ctypes.Structure):
    """``ntk_mpi_points``."""
    _fields_ = [("n", c_int64), ("X", POINTER(c_double)), ("ldx", c_int64), ("layout", c_int)]


#: The enums and structs of ntk_mpi.h (scripts/check_abi.py checks them against the header).
ENUMS = {"ntk_mpi_layout": {"NTK_MPI_REPLICATED": 0, "NTK_MPI_BY_ROWS": 1}}
STRUCTS = {"ntk_mpi_points": _Points}


_d, _i64, _h, _out, _P = POINTER(c_double), POINTER(c_int64), c_void_p, POINTER(c_void_p), POINTER
_SIGNATURES = {
    "ntk_mpi_last_error": ([], c_char_p),
    "ntk_mpi_grid_create": ([c_void_p, c_int, c_int, c_int64, _out], c_int),
    "ntk_mpi_grid_info": ([_h, _P(c_int), _P(c_int), _P(c_int), _P(c_int), _P(c_int), _P(c_int), _i64], c_int),
    "ntk_mpi_grid_free": ([_h], None),
    "ntk_mpi_matrix_create": ([_h, c_int64, c_int64, _out], c_int),
    "ntk_mpi_matrix_size": ([_h, _i64, _i64], c_int),
    "ntk_mpi_matrix_local": ([_h, _P(_d), _i64, _i64, _i64], c_int),
    "ntk_mpi_matrix_indices": ([_h, _i64, _i64], c_int),
    "ntk_mpi_matrix_descriptor": ([_h, _P(c_int)], c_int),
    "ntk_mpi_matrix_gather": ([_h, _d, c_int64], c_int),
    "ntk_mpi_matrix_free": ([_h], None),
    "ntk_mpi_infinite_width_kernel": ([_h, _h, c_int, _P(_Points), _P(_Points), _P(InfiniteWidthOptions), _out], c_int),
    "ntk_mpi_empirical_ntk": ([_h, _h, _P(_Points), _P(_Points), _P(EmpiricalNTKOptions), _out], c_int),
    "ntk_mpi_kernel_ridge_fit": ([_h, _P(Targets), c_double, _P(KernelRidgeOptions), _out], c_int),
    "ntk_mpi_kernel_ridge_predict": ([_h, _h, _d, c_int64, _d, c_int64], c_int),
    "ntk_mpi_kernel_ridge_results": ([_h, _d, c_int64, _d, c_int64], c_int),
    "ntk_mpi_kernel_ridge_info": ([_h, _i64, _i64, _d], c_int),
    "ntk_mpi_kernel_ridge_free": ([_h], None),
    "ntk_mpi_spectral_create": ([_h, c_int, _out], c_int),
    "ntk_mpi_spectral_eigenvalues": ([_h, _d], c_int),
    "ntk_mpi_spectral_predict": ([_h, _P(Targets), _P(Grid), _h, _d, c_int64, _d, _d], c_int),
    "ntk_mpi_spectral_select_ridge": ([_h, _P(Targets), c_int64, _d, c_int, _d, _i64], c_int),
    "ntk_mpi_spectral_free": ([_h], None),
    "ntk_mpi_nystrom_fit": ([c_void_p, _h, c_int64, _d, c_int64, _P(Targets), c_double, c_int64, _d, c_int64,
                             _P(NystromOptions), _out], c_int),
    "ntk_mpi_empirical_ridge_fit": ([c_void_p, _h, c_int64, _d, c_int64, _P(Targets), c_double,
                                     _P(EmpiricalSolverOptions), _out], c_int),
    "ntk_mpi_empirical_gradient_flow": ([c_void_p, _h, c_int64, _d, c_int64, _P(Targets), c_int64, _d, _P(Points),
                                         _P(EmpiricalSolverOptions), _d, _d, _d], c_int),
    "ntk_mpi_network_infinite_width_kernel": ([_h, _h, c_int, _P(_Points), _P(_Points), _P(InfiniteWidthOptions),
                                               _out], c_int),
    "ntk_mpi_network_empirical_ntk": ([_h, _h, _P(_Points), _P(_Points), _P(EmpiricalNTKOptions), _out], c_int),
    "ntk_mpi_network_nystrom_fit": ([c_void_p, _h, c_int64, _d, c_int64, _P(Targets), c_double, c_int64, _d,
                                     c_int64, _P(NystromOptions), _out], c_int),
    "ntk_mpi_network_empirical_ridge_fit": ([c_void_p, _h, c_int64, _d, c_int64, _P(Targets), c_double,
                                             _P(EmpiricalSolverOptions), _out], c_int),
    "ntk_mpi_network_empirical_gradient_flow": ([c_void_p, _h, c_int64, _d, c_int64, _P(Targets), c_int64, _d,
                                                 _P(Points), _P(EmpiricalSolverOptions), _d, _d, _d], c_int),
}


def _soname():
    """libntk_mpi's installed soname (``libntk_mpi.so.0.MINOR`` before 1.0, as libntk's)."""
    major, minor = EXPECTED_VERSION
    return f"libntk_mpi.so.{major}.{minor}" if major == 0 else f"libntk_mpi.so.{major}"


def _candidates():
    """Where to look, in order: NTK_MPI_LIBRARY; next to the libntk.so this package loaded (the
    build folder, or an install prefix when NTK_LIBRARY names the installed libntk.so.0.Y); then
    the dynamic loader's own search by soname (an installed prefix in its cache or path)."""
    env = os.environ.get("NTK_MPI_LIBRARY")
    if env:
        yield env, "NTK_MPI_LIBRARY"
    for name in ("libntk_mpi.so", _soname()):
        yield str(Path(path).parent / name), f"next to {path}"
    yield _soname(), "the loader's search path"


def _same_libntk(library):
    """Whether ``library`` calls the libntk this package loaded (it shares its handles): dlsym
    through libntk_mpi's handle finds ntk_* in the libntk it links."""
    theirs = ctypes.cast(library.ntk_version_string, c_void_p).value
    return theirs == ctypes.cast(lib.ntk_version_string, c_void_p).value


def _load():
    """libntk_mpi, which must run on the same libntk.so as this package (their handles cross)."""
    tried = []
    for candidate, origin in _candidates():
        if "/" in candidate and not Path(candidate).is_file():
            tried.append(f"{candidate} ({origin}): no such file")
            continue
        try:
            library = ctypes.CDLL(candidate)
        except OSError as e:
            tried.append(f"{candidate} ({origin}): {e}")
            continue
        if not _same_libntk(library):
            raise LibraryNotFoundError(
                f"{candidate} ({origin}) links another libntk.so than the one this package loaded ({path}): "
                "their handles would not cross. Point NTK_LIBRARY at the libntk.so installed with it (for "
                f"scripts/install.sh: <prefix>/lib/libntk.so.{EXPECTED_VERSION[0]}.{EXPECTED_VERSION[1]}), or "
                "NTK_MPI_LIBRARY at a libntk_mpi.so built next to this package's library")
        declare(library, _SIGNATURES)
        return library
    raise LibraryNotFoundError(
        "libntk_mpi.so not found: build it with scripts/build_mpi.sh or install it with scripts/install.sh "
        "(needs Debian's libopenmpi-dev and libscalapack-openmpi-dev), or set NTK_MPI_LIBRARY. Tried:\n  "
        + "\n  ".join(tried))


mpi = _load()


def _check(status):
    """Raises the typed exception of a failed ntk_mpi call (the same on every rank)."""
    raise_for_status(status, mpi.ntk_mpi_last_error)


def _collective(cb, function, *args):
    """Runs a collective call with the progress callback ``cb`` (Ctrl-C deferred to its next
    report), then raises the callback's own exception or the agreed error."""
    with deferred_sigint() as cb.interrupt:
        status = function(*args)
    if cb.bar is not None:
        cb.bar.close()
    if cb.error is not None:
        raise cb.error
    _check(status)


def _comm_handle(comm):
    """The C ``MPI_Comm`` of an mpi4py communicator (None: COMM_WORLD)."""
    try:
        from mpi4py import MPI
    except ImportError as e:  # pragma: no cover - the distributed extra installs it
        raise LibraryNotFoundError("ntk.distributed needs mpi4py (pip install mpi4py)") from e
    if comm is None:
        comm = MPI.COMM_WORLD
    if not isinstance(comm, MPI.Comm):
        raise InvalidArgumentError(f"comm must be an mpi4py communicator, got {type(comm).__name__}")
    if comm == MPI.COMM_NULL:
        raise InvalidArgumentError("comm is MPI.COMM_NULL")
    return c_void_p(MPI._handleof(comm)), comm


class _Handle(Handle):
    """A handle of libntk_mpi (freed by its own library)."""

    def close(self):
        handle, self._handle = self._handle, None
        if handle is not None and mpi is not None:
            getattr(mpi, self._free)(handle)


class Grid(_Handle):
    """A BLACS process grid over an mpi4py communicator.

    Parameters
    ----------
    comm : mpi4py.MPI.Comm, optional
        Default ``COMM_WORLD``.
    shape : (int, int), optional
        (nprow, npcol) with nprow * npcol = comm.size; None: the most square one.
    block_size : int
        The side of the square blocks dealt over the grid (ScaLAPACK's NB), default 64.

    Attributes
    ----------
    comm, rank, size, shape, block_size
    coords : (int, int)
        This rank's grid row and column.
    """

    _free = "ntk_mpi_grid_free"

    def __init__(self, comm=None, shape=None, block_size=64):
        handle_c, self.comm = _comm_handle(comm)
        nprow, npcol = (0, 0) if shape is None else (_int(shape[0], "shape[0]"), _int(shape[1], "shape[1]"))
        handle = c_void_p()
        _check(mpi.ntk_mpi_grid_create(handle_c, nprow, npcol, _int(block_size, "block_size"), ctypes.byref(handle)))
        self._handle = handle
        values = [c_int() for _ in range(6)]
        nb = c_int64()
        mpi.ntk_mpi_grid_info(handle, *(ctypes.byref(v) for v in values), ctypes.byref(nb))
        self.rank, self.size = values[0].value, values[1].value
        self.shape = (values[2].value, values[3].value)
        self.coords = (values[4].value, values[5].value)
        self.block_size = nb.value


class DistributedMatrix(_Handle):
    """A rows x cols matrix split block-cyclically over a :class:`Grid` (ScaLAPACK's layout).

    Create one with :meth:`zeros` and fill ``local`` to bring a kernel you computed yourself, or
    get one from :func:`infinite_width_kernel` / :func:`empirical_ntk`.

    Attributes
    ----------
    shape : (int, int)
    local : numpy.ndarray, (local_rows, local_cols)
        This rank's part, a writable Fortran-ordered view: ``local[i, j]`` is entry
        ``(row_indices[i], col_indices[j])``.
    row_indices, col_indices : numpy.ndarray of int
    descriptor : numpy.ndarray, (9,)
        ScaLAPACK's descriptor.
    """

    _free = "ntk_mpi_matrix_free"

    @classmethod
    def zeros(cls, grid, rows, cols):
        """A matrix of zeros (collective).

        Parameters
        ----------
        grid : Grid
        rows, cols : int

        Returns
        -------
        DistributedMatrix
        """
        handle = c_void_p()
        _check(mpi.ntk_mpi_matrix_create(grid._live(), _int(rows, "rows"), _int(cols, "cols"), ctypes.byref(handle)))
        return cls._wrap(handle, grid)

    @classmethod
    def _wrap(cls, handle, grid):
        self = cls.__new__(cls)
        self._handle, self.grid = handle, grid
        rows, cols, lr, lc, lld = (c_int64() for _ in range(5))
        data = _d()
        mpi.ntk_mpi_matrix_size(handle, ctypes.byref(rows), ctypes.byref(cols))
        mpi.ntk_mpi_matrix_local(handle, ctypes.byref(data), ctypes.byref(lr), ctypes.byref(lc), ctypes.byref(lld))
        self.shape = (rows.value, cols.value)
        self.row_indices = np.empty(lr.value, dtype=np.int64)
        self.col_indices = np.empty(lc.value, dtype=np.int64)
        mpi.ntk_mpi_matrix_indices(handle, self.row_indices.ctypes.data_as(_i64), self.col_indices.ctypes.data_as(_i64))
        if lr.value * lc.value > 0:
            flat = np.ctypeslib.as_array(data, shape=(lld.value * lc.value,))
            self.local = flat.reshape((lc.value, lld.value)).T[: lr.value, :]
        else:
            self.local = np.zeros((lr.value, lc.value), order="F")
        return self

    @property
    def descriptor(self):
        desc = (c_int * 9)()
        mpi.ntk_mpi_matrix_descriptor(self._live(), desc)
        return tuple(desc)

    def gather(self):
        """The whole matrix on every rank (collective; for small matrices and tests).

        Returns
        -------
        numpy.ndarray, (rows, cols)
        """
        out = np.empty(self.shape)
        _check(mpi.ntk_mpi_matrix_gather(self._live(), _arrays.pointer(out), max(self.shape[1], 1)))
        return out

    def close(self):
        self.local = None
        super().close()


_LAYOUTS = {"replicated": ENUMS["ntk_mpi_layout"]["NTK_MPI_REPLICATED"],
            "rows": ENUMS["ntk_mpi_layout"]["NTK_MPI_BY_ROWS"]}


def _points(net, X, layout, name):
    x, px, ldx = net._inputs(X, name)
    return _Points(x.shape[0], px, ldx, _arrays.choice(layout, _LAYOUTS, f"{name}_layout")), x


def _mpi_function(net, name):
    """libntk_mpi's ``ntk_mpi_<name>`` for an MLP, ``ntk_mpi_network_<name>`` for a Network."""
    return getattr(mpi, c_function(net, "ntk_mpi_" + name, "ntk_mpi_network_" + name))


def _kernel(name, grid, net, X1, X2, layout, layout2, *extra):
    function = _mpi_function(net, name)
    p1, keep1 = _points(net, X1, layout, "X1")
    p2, keep2 = (None, None) if X2 is None else _points(net, X2, layout2, "X2")
    handle = c_void_p()
    _check(function(grid._live(), net._live(), *extra, ctypes.byref(p1), None if p2 is None else ctypes.byref(p2),
                    None, ctypes.byref(handle)))
    del keep1, keep2
    return DistributedMatrix._wrap(handle, grid)


def infinite_width_kernel(grid, net, X1, X2=None, kind="ntk", layout="replicated", layout2="replicated"):
    """The infinite-width NTK or NNGP of ``net``'s architecture as a distributed matrix.

    Each rank computes its own blocks (collective).

    Parameters
    ----------
    grid : Grid
    net : ntk.MLP or ntk.Network
    X1 : array_like, (n1, d) — or this rank's rows with ``layout="rows"``; (n1, *input_shape) for a Network
    X2 : array_like, (n2, d), optional
        None: X1's own kernel, with the exact diagonal.
    kind : "ntk" (default) or "nngp"
    layout, layout2 : "replicated" (default) or "rows"
        "replicated": every rank passes all the rows (checked equal); "rows": each rank passes its
        own rows, in rank order.

    Returns
    -------
    DistributedMatrix, (n1, n2)
    """
    kinds = choices("ntk_kernel_kind", "NTK_KERNEL_")
    return _kernel("infinite_width_kernel", grid, net, X1, X2, layout, layout2,
                   _arrays.choice(kind, kinds, "kind"))


def empirical_ntk(grid, net, X1, X2=None, layout="replicated", layout2="replicated"):
    """The empirical NTK of ``net`` (mean over outputs) as a distributed matrix (collective).

    The network's parameters must be the same on every rank (checked).

    Parameters
    ----------
    grid, net, X1, X2, layout, layout2
        As :func:`infinite_width_kernel`.

    Returns
    -------
    DistributedMatrix, (n1, n2)
    """
    return _kernel("empirical_ntk", grid, net, X1, X2, layout, layout2)


def _matrix(K, name):
    if not isinstance(K, DistributedMatrix):
        raise InvalidArgumentError(f"{name} must be an ntk.distributed.DistributedMatrix, got {type(K).__name__}")
    return K


class KernelRidge(_Handle):
    """Kernel ridge regression on a distributed kernel, by Cholesky (PDPOTRF/PDPOTRS).

    ``pred(x) = f0(x) + K(x, X) (K + zI)^-1 (Y - f0(X))``, as :class:`ntk.KernelRidge`.

    Parameters
    ----------
    K_train : DistributedMatrix, (n, n)
    Y : array_like, (n, k) or (n,)
        Replicated.
    ridge : float
        Absolute, or relative to the mean diagonal with ``ridge_relative=True``.
    ridge_relative : bool
    f0_train : array_like, optional
        Replicated.
    progress : None, bool or callable, optional
        As everywhere in ntk (``True``: a bar; a callable ``progress(fraction)`` whose falsy
        answer cancels), reported on each rank between the panels of the Cholesky factorisation.
        A cancel on any rank (or Ctrl-C there) makes every rank raise
        :class:`ntk.CancelledError` at the same panel; the kernel stays usable.

    Attributes
    ----------
    ridge : float
        The absolute z, on every rank.
    dual_coef_ : numpy.ndarray, (n, k) or (n,)
        alpha, on every rank.
    """

    _free = "ntk_mpi_kernel_ridge_free"

    def __init__(self, K_train, Y, ridge=0.0, ridge_relative=False, f0_train=None, progress=None):
        K = _matrix(K_train, "K_train")
        targets = TargetData(Y, K.shape[0], "K_train", f0_train)
        cb = Callback(progress)
        options = KernelRidgeOptions(ridge_scale=1 if ridge_relative else 0, progress=cb.c_function)
        handle = c_void_p()
        _collective(cb, mpi.ntk_mpi_kernel_ridge_fit, K._live(), ctypes.byref(targets.c), _scalar(ridge, "ridge"),
                    ctypes.byref(options), ctypes.byref(handle))
        self._handle, self._vector, self._k = handle, targets.was_vector, targets.y.shape[1]
        n, z = K.shape[0], c_double()
        mpi.ntk_mpi_kernel_ridge_info(handle, None, None, ctypes.byref(z))
        self.ridge = z.value
        self._train, alpha = np.empty((n, self._k)), np.empty((n, self._k))
        mpi.ntk_mpi_kernel_ridge_results(handle, _arrays.pointer(self._train), max(self._k, 1), _arrays.pointer(alpha),
                                         max(self._k, 1))
        self.dual_coef_ = self._shape(alpha)

    def _shape(self, a):
        return a[:, 0] if self._vector else a

    @property
    def train_predictions(self):
        """``Y - z alpha`` (= f0 + K alpha): (n, k), or (n,) for a 1-D Y.
        """
        return self._shape(self._train.copy())

    def predict(self, K_test_train, f0_test=None):
        """Predictions on every rank (collective).

        Parameters
        ----------
        K_test_train : DistributedMatrix, (m, n)
            On the same grid.
        f0_test : array_like, optional
            Replicated.

        Returns
        -------
        numpy.ndarray, (m, k) — or (m,) for a 1-D Y
        """
        K = _matrix(K_test_train, "K_test_train")
        m = K.shape[0]
        f, pf, ldf = _arrays.optional_matrix(f0_test, "f0_test", (m, self._k))
        out = np.empty((m, self._k))
        _check(mpi.ntk_mpi_kernel_ridge_predict(self._live(), K._live(), pf, ldf, _arrays.pointer(out),
                                                max(self._k, 1)))
        return self._shape(out)


class SpectralSolver(_Handle):
    """One distributed eigendecomposition ``K = V diag(lambda) V^T`` (PDSYEVD), then cheap grids.

    The methods of :class:`ntk.SpectralSolver` on it: gradient flow at any times (eq. 18, 20;
    ``inf`` is kernel regression), ridge paths and ridge selection by GCV or leave-one-out, with
    libntk's spectral calculus (the same filter, eigenvalue policy and null space as the
    single-process solver). Results are replicated on every rank; test kernels are distributed
    (m, n) matrices on the same grid.

    Parameters
    ----------
    K_train : DistributedMatrix, (n, n)
    negative_eigenvalues : "clamp" (default) or "error"
    """

    _free = "ntk_mpi_spectral_free"

    def __init__(self, K_train, negative_eigenvalues="clamp"):
        K = _matrix(K_train, "K_train")
        policy = _arrays.choice(negative_eigenvalues, {"clamp": 0, "error": 1}, "negative_eigenvalues")
        handle = c_void_p()
        _check(mpi.ntk_mpi_spectral_create(K._live(), policy, ctypes.byref(handle)))
        self._handle, self.n = handle, K.shape[0]
        self.eigenvalues = np.empty(self.n)
        mpi.ntk_mpi_spectral_eigenvalues(handle, _arrays.pointer(self.eigenvalues))

    def _predict(self, Y, times, ridges, learning_rate, K_test_train, f0_train, f0_test):
        targets = TargetData(Y, self.n, "K_train", f0_train)
        k, count = targets.y.shape[1], len(times)
        m, f, pf, ldf = 0, None, _arrays.NULL, 1
        if K_test_train is not None:
            K = _matrix(K_test_train, "K_test_train")
            m = K.shape[0]
            f, pf, ldf = _arrays.optional_matrix(f0_test, "f0_test", (m, k))
        train = np.empty((count, self.n, k))
        test = np.empty((count, m, k)) if K_test_train is not None else None
        points = make_grid(times, ridges, learning_rate)
        _check(mpi.ntk_mpi_spectral_predict(self._live(), ctypes.byref(targets.c), ctypes.byref(points),
                                            None if K_test_train is None else K_test_train._live(), pf, ldf,
                                            _arrays.pointer(train),
                                            _arrays.NULL if test is None else _arrays.pointer(test)))
        if targets.was_vector:
            return train[:, :, 0], None if test is None else test[:, :, 0]
        return train, test

    def gradient_flow(self, Y, times, K_test_train=None, learning_rate=1.0, ridge=0.0, f0_train=None, f0_test=None):
        """Predictions of gradient flow at every time, as :meth:`ntk.SpectralSolver.gradient_flow`.

        Parameters
        ----------
        Y, times, learning_rate, ridge, f0_train, f0_test
            As :meth:`ntk.SpectralSolver.gradient_flow` (replicated).
        K_test_train : DistributedMatrix, (m, n), optional

        Returns
        -------
        pred_train : numpy.ndarray, (T, n, k) — or (T, n)
        pred_test : numpy.ndarray, (T, m, k) — or (T, m); None without ``K_test_train``
        """
        t, _ = _arrays.vector(times, "times")
        return self._predict(Y, t, np.full(t.shape, _scalar(ridge, "ridge")), learning_rate, K_test_train, f0_train,
                             f0_test)

    def ridge_path(self, Y, ridges, K_test_train=None, f0_train=None, f0_test=None):
        """Kernel ridge predictions for every ridge of a grid.

        Parameters
        ----------
        Y, ridges, f0_train, f0_test
            As :meth:`ntk.SpectralSolver.ridge_path` (replicated).
        K_test_train : DistributedMatrix, (m, n), optional

        Returns
        -------
        pred_train : numpy.ndarray, (G, n, k) — or (G, n)
        pred_test : numpy.ndarray, (G, m, k) — or (G, m); None without ``K_test_train``
        """
        z, _ = _arrays.vector(ridges, "ridges")
        return self._predict(Y, np.full(z.shape, np.inf), z, 1.0, K_test_train, f0_train, f0_test)

    def predict(self, Y, times, ridges, K_test_train=None, learning_rate=1.0, f0_train=None, f0_test=None):
        """Predictions at the grid points ``(times[i], ridges[i])``.

        Parameters
        ----------
        Y : array_like, (n, k) or (n,)
        times, ridges : array_like, (G,)
        K_test_train : DistributedMatrix, (m, n), optional
        learning_rate : float
        f0_train, f0_test : array_like, optional

        Returns
        -------
        pred_train : numpy.ndarray, (G, n, k) — or (G, n)
        pred_test : numpy.ndarray, (G, m, k) — or (G, m); None without ``K_test_train``
        """
        t, _ = _arrays.vector(times, "times")
        z, _ = _arrays.vector(ridges, "ridges")
        if t.shape != z.shape:
            raise DimensionMismatchError(f"times has {t.shape[0]} entries but ridges has {z.shape[0]}")
        return self._predict(Y, t, z, learning_rate, K_test_train, f0_train, f0_test)

    def select_ridge(self, Y, ridges, criterion="gcv", f0_train=None):
        """Ridge selection by GCV or exact leave-one-out, as :meth:`ntk.SpectralSolver.select_ridge`.

        Parameters
        ----------
        Y : array_like, (n, k) or (n,)
        ridges : array_like, (G,)
        criterion : "gcv" (default) or "loo"
        f0_train : array_like, optional

        Returns
        -------
        ntk.RidgeSelection
            ``(ridge, index, scores)``, the same on every rank.
        """
        targets = TargetData(Y, self.n, "K_train", f0_train)
        z, pz = _arrays.vector(ridges, "ridges")
        scores = np.empty(z.shape[0])
        best = c_int64()
        _check(mpi.ntk_mpi_spectral_select_ridge(self._live(), ctypes.byref(targets.c), z.shape[0], pz,
                                                 _arrays.choice(criterion, {"gcv": 0, "loo": 1}, "criterion"),
                                                 _arrays.pointer(scores), ctypes.byref(best)))
        return RidgeSelection._of(z, scores, best.value)


def nystrom_ridge(comm, net, X, Y, ridge, n_centers, centers=None, f0_train=None, solver="direct", kernel="ntk",
                  tol=1e-8, max_iter=100, preconditioned=True, seed=0, quadrature_points=None, memory_limit=None):
    """Data-parallel Nyström / Falkon: each rank passes its own rows (collective).

    Parameters
    ----------
    comm : mpi4py.MPI.Comm
    net : ntk.MLP or ntk.Network
    X : array_like, (n_r, d)
        This rank's rows.
    Y : array_like, (n_r, k) or (n_r,)
    ridge : float
    n_centers : int
        Drawn uniformly from all the rows with ``seed`` when ``centers`` is None.
    centers : array_like, (m, d), optional
        Replicated centre points.
    f0_train, solver, kernel, tol, max_iter, preconditioned, seed, quadrature_points, memory_limit
        As :class:`ntk.NystromRidge`.

    Returns
    -------
    ntk.NystromRidge
        The same on every rank, fitted on all the rows (``n`` is the total).
    """
    fit = _mpi_function(net, "nystrom_fit")
    comm_c, _ = _comm_handle(comm)
    x, px, ldx = net._inputs(X, "X")
    targets = TargetData(Y, x.shape[0], "X", f0_train)
    options = _options(solver, "uniform", kernel, tol, max_iter, preconditioned, seed, quadrature_points,
                       memory_limit, _NoProgress)
    if centers is None:
        m, pc, ldc, keep = _int(n_centers, "n_centers"), _arrays.NULL, 1, None
    else:
        keep, pc, ldc = net._inputs(centers, "centers")
        m = keep.shape[0]
    handle = c_void_p()
    _check(fit(comm_c, net._live(), x.shape[0], px, ldx, ctypes.byref(targets.c),
                                   _scalar(ridge, "ridge"), m, pc, ldc, ctypes.byref(options), ctypes.byref(handle)))
    del keep
    model = NystromRidge.__new__(NystromRidge)
    model._handle = handle
    model._init(targets.was_vector, solver, net._inputs, on_points=True, indices=False)
    return model


def empirical_ridge(comm, net, X, Y, ridge, f0_train=None, tol=1e-8, max_iter=500, preconditioner_rank=256, seed=0,
                    memory_limit=None, progress=None, dtype=np.float64):
    """Data-parallel matrix-free empirical NTK kernel ridge: each rank passes its own rows (collective).

    CG with one ``MPI_Allreduce`` of the parameter-sized ``J^T v`` per product, preconditioned by
    the rank-m Nyström approximation of the kernel of all the rows: ``preconditioner_rank``
    centres drawn uniformly among every rank's rows (with ``seed``), broadcast; its m x m matrix
    and products are summed over the ranks too (0: plain CG). ``net``'s parameters must be the
    same on every rank (checked).

    Parameters
    ----------
    comm : mpi4py.MPI.Comm
    net : ntk.MLP or ntk.Network
    X : array_like, (n_r, d)
    Y : array_like, (n_r, k) or (n_r,)
    ridge : float
    f0_train, tol, max_iter, preconditioner_rank, seed, memory_limit, dtype
        As :class:`ntk.EmpiricalNTKRidge` (the same on every rank; ``dtype=np.float32``: single-precision
        NTK-vector products with reliable updates from double ones, an MLP only).
    progress : True or callable, optional
        This rank's progress; a cancel (or Ctrl-C) on any rank makes every rank raise
        :class:`ntk.CancelledError` at the next CG iteration, naming the rank.

    Returns
    -------
    ntk.EmpiricalNTKRidge
        Its predictions are the full model's on every rank; its ``dual_coef_`` is this rank's rows
        of alpha.
    """
    fit = _mpi_function(net, "empirical_ridge_fit")
    # Checked by the library on every rank (a Network refuses float32 there), so that it is everyone's error.
    single = _arrays.precision(dtype) == np.float32
    comm_c, _ = _comm_handle(comm)
    x, px, ldx = net._inputs(X, "X")
    targets = TargetData(Y, x.shape[0], "X", f0_train)
    cb = Callback(progress)
    options = _empirical_solver_options(tol, max_iter, preconditioner_rank, seed, 1.0, memory_limit, cb, single)
    handle = c_void_p()
    _collective(cb, fit, comm_c, net._live(), x.shape[0], px, ldx,
                ctypes.byref(targets.c), _scalar(ridge, "ridge"), ctypes.byref(options), ctypes.byref(handle))
    model = EmpiricalNTKRidge.__new__(EmpiricalNTKRidge)
    model._init(handle, net, targets.was_vector, ridge)
    return model


def empirical_gradient_flow(comm, net, X, Y, times, X_test=None, f0_train=None, f0_test=None, learning_rate=1.0,
                            tol=1e-8, max_iter=500, memory_limit=None, progress=None):
    """Data-parallel MSE gradient flow under the empirical NTK, matrix-free (collective).

    :func:`ntk.empirical_gradient_flow` on the rows of every rank: the Lanczos vectors are split
    by rows like the data, each step sums the parameter-sized ``J^T q`` and four inner products
    over the ranks (``MPI_Allreduce``), so every rank runs the same steps; ``s = learning_rate *
    t / N`` with N counting every rank's rows. ``net``'s parameters, ``times``, ``tol``,
    ``max_iter`` and ``learning_rate`` must be the same on every rank (checked).

    Parameters
    ----------
    comm : mpi4py.MPI.Comm
    net : ntk.MLP or ntk.Network
    X : array_like, (n_r, d)
        This rank's rows.
    Y : array_like, (n_r, k) or (n_r,)
    times : array_like, (T,)
        Finite times >= 0 (replicated).
    X_test : array_like, (m_r, d), optional
        This rank's test points (its own, or the same everywhere). Every rank passes some
        (m_r may be 0) or none does.
    f0_train, f0_test, learning_rate, tol, max_iter, memory_limit
        As :func:`ntk.empirical_gradient_flow`.
    progress : True or callable, optional
        This rank's progress; a cancel (or Ctrl-C) on any rank makes every rank raise
        :class:`ntk.CancelledError` at the next Lanczos step, naming the rank.

    Returns
    -------
    pred_train : numpy.ndarray, (T, n_r, k) — or (T, n_r) for a 1-D Y
        The full flow's predictions at this rank's rows.
    pred_test : numpy.ndarray, (T, m_r, k) — or (T, m_r); None without ``X_test``
        The full flow's predictions at this rank's test points.
    error_estimate : float
        As :func:`ntk.empirical_gradient_flow` (the same on every rank).
    """
    flow = _mpi_function(net, "empirical_gradient_flow")
    if X_test is None and f0_test is not None:
        raise InvalidArgumentError("f0_test needs X_test")
    comm_c, _ = _comm_handle(comm)
    return _network_flow(net, X, Y, times, X_test, f0_train, f0_test, learning_rate, tol, max_iter, memory_limit,
                         progress, lambda cb, *args: _collective(cb, flow, comm_c, net._live(), *args))


class _NoProgress:
    """No progress callback: the data-parallel Nyström fit (its direct solver's one reduction comes
    at the end, so a cancel on one rank would reach the others only then)."""
    c_function = PROGRESS_FN()
