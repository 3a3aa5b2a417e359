"""Bad input raises typed exceptions with the library's message and never crashes."""

import ctypes

import numpy as np
import pytest

import ntk
from ntk._library import PROGRESS_FN, lib

from conftest import random_spd


def test_exception_hierarchy():
    assert issubclass(ntk.InvalidArgumentError, ValueError)
    assert issubclass(ntk.DimensionMismatchError, ValueError)
    assert issubclass(ntk.NonFiniteError, ValueError)
    assert issubclass(ntk.TooLargeError, ValueError)
    assert issubclass(ntk.NotPositiveDefiniteError, np.linalg.LinAlgError)
    assert issubclass(ntk.OutOfMemoryError, MemoryError)
    for cls in (ntk.InvalidArgumentError, ntk.NotPositiveDefiniteError, ntk.CancelledError):
        assert issubclass(cls, ntk.NTKError)


@pytest.mark.parametrize("bad,exc", [
    (None, ntk.InvalidArgumentError),
    (np.ones(3), ntk.DimensionMismatchError),
    (np.ones((2, 2, 2)), ntk.DimensionMismatchError),
    ([[1, 2], [3]], ntk.InvalidArgumentError),
    (np.array([["a", "b"]]), ntk.InvalidArgumentError),
    (np.ones((2, 2), dtype=complex), ntk.InvalidArgumentError),
])
def test_gram_rejects_bad_arrays(bad, exc):
    with pytest.raises(exc):
        ntk.gram(bad)


def test_nan_and_inf_are_reported_with_position():
    a = np.ones((4, 3))
    a[2, 1] = np.nan
    with pytest.raises(ntk.NonFiniteError, match=r"^ntk.gram: A \(row 2, column 1\) is nan") as e:
        ntk.gram(a)
    assert e.value.status == -3
    assert e.value.c_message.startswith("ntk_gram: A (row 2, column 1)")  # the library's own text
    # Messages name the Python function and its arguments, not the C ones.
    with pytest.raises(ntk.InvalidArgumentError, match=r"^ntk.KernelRidge: ridge must be"):
        ntk.KernelRidge(np.eye(3), np.ones((3, 1)), ridge=-1.0)
    with pytest.raises(ntk.InvalidArgumentError, match=r"^ntk.SpectralSolver.gradient_flow: learning rate") as e:
        ntk.SpectralSolver(np.eye(3)).gradient_flow(np.ones(3), [1.0], learning_rate=-1.0)
    assert "->" not in str(e.value) and "ntk_" not in str(e.value)
    with pytest.raises(ntk.NonFiniteError):
        ntk.gram(np.ones((2, 2)), alpha=np.inf)
    with pytest.raises(ntk.NonFiniteError):
        ntk.cholesky_solve(np.eye(2), [1.0, np.inf])
    with pytest.raises(ntk.NonFiniteError):
        ntk.eigh([[1.0, np.nan], [np.nan, 1.0]])


def test_shape_mismatches():
    with pytest.raises(ntk.DimensionMismatchError):
        ntk.gram(np.ones((2, 3)), np.ones((2, 4)))
    with pytest.raises(ntk.DimensionMismatchError):
        ntk.cholesky_solve(np.eye(3), np.ones(2))
    with pytest.raises(ntk.DimensionMismatchError):
        ntk.eigh(np.ones((2, 3)))
    with pytest.raises(ntk.DimensionMismatchError):
        ntk.CholeskyFactor(np.ones((2, 3)))
    with ntk.CholeskyFactor(np.eye(3)) as f, pytest.raises(ntk.DimensionMismatchError):
        f.solve(np.ones(4))


def test_not_positive_definite_and_not_symmetric(rng):
    k = random_spd(rng, 10)
    k[4, 4] = -5.0
    with pytest.raises(ntk.NotPositiveDefiniteError, match="not positive definite"):
        ntk.cholesky_solve(k, np.ones(10))
    with pytest.raises(ntk.InvalidArgumentError, match="not symmetric"):
        ntk.cholesky_solve([[2.0, 1.0], [0.0, 2.0]], [1.0, 1.0])
    with pytest.raises(ntk.InvalidArgumentError, match="ridge"):
        ntk.cholesky_solve(np.eye(2), [1.0, 1.0], ridge=-1)
    with pytest.raises(ntk.InvalidArgumentError):
        ntk.cholesky_solve(np.eye(2), [1.0, 1.0], ridge="big")


def test_bad_thread_counts():
    for bad in (0, -3, 5000, 2**40, 1.5, True):
        with pytest.raises(ntk.InvalidArgumentError):
            ntk.set_num_threads(bad)


def test_progress_cancel_and_callback_exceptions(rng):
    a = rng.standard_normal((3000, 4))
    with pytest.raises(ntk.CancelledError):
        ntk.gram(a, progress=lambda f: False)

    class Stop(Exception):
        pass

    def boom(fraction):
        raise Stop

    with pytest.raises(Stop):
        ntk.cholesky_solve(random_spd(rng, 2000, p=20), np.ones(2000), progress=boom)
    with pytest.raises(ntk.InvalidArgumentError):
        ntk.gram(a, progress=42)


def test_raw_c_calls_with_null_and_overflowing_sizes():
    """Calls through ctypes with NULL pointers and absurd sizes: errors, never a crash."""
    d = ctypes.POINTER(ctypes.c_double)
    buf = (ctypes.c_double * 16)()
    p = ctypes.cast(buf, d)
    null = d()
    none = PROGRESS_FN()  # a NULL callback
    assert lib.ntk_gram(2, 2, 2, 1.0, null, 2, p, 2, p, 2, none, None) == -1
    assert b"A is NULL" in lib.ntk_last_error()
    assert lib.ntk_gram(2**62, 2**62, 2, 1.0, p, 2, p, 2, p, 2**62, none, None) == -8
    assert lib.ntk_cholesky_solve(3, 1, null, 3, 0.0, p, 1, p, 1, none, None) == -1
    assert lib.ntk_cholesky_solve(-3, 1, p, 3, 0.0, p, 1, p, 1, none, None) == -1
    assert lib.ntk_eigh(2**40, p, 2**40, p, None, 1, none, None) == -8
    assert lib.ntk_cholesky_factor_solve(None, 1, p, 1, p, 1) == -9
    assert lib.ntk_cholesky_factor_solve(ctypes.cast(buf, ctypes.c_void_p), 1, p, 1, p, 1) == -9
    assert lib.ntk_cholesky_factor_create(2, p, 2, 0.0, none, None, None) == -1
    lib.ntk_cholesky_factor_free(None)
    assert lib.ntk_status_string(-4) == b"matrix not positive definite"
