"""numpy <-> C marshalling (internal).

Inputs are passed without a copy when they are already float64 (float32 for the single-precision
entry points) with unit stride along rows (C-contiguous, or a row-slice of a larger array, passed
with its leading dimension); anything else is converted once. Outputs are fresh C-contiguous
arrays the library writes into.
"""

import ctypes

import numpy as np

from .errors import DimensionMismatchError, InvalidArgumentError

_DOUBLE_P = ctypes.POINTER(ctypes.c_double)
_FLOAT_P = ctypes.POINTER(ctypes.c_float)


def matrix(x, name, *, vector_ok=False, dtype=np.float64):
    """Returns ``(array, pointer, ld, was_vector)`` for a 2-D input as ``dtype`` (float64 or float32).

    With ``vector_ok`` a 1-D array of length n is taken as an (n, 1) matrix and ``was_vector``
    says so, so that the result can be returned with the caller's shape.
    """
    if x is None:
        raise InvalidArgumentError(f"{name} is required, got None")
    try:
        a = np.asarray(x)
    except ValueError as e:  # ragged nested lists
        raise InvalidArgumentError(f"{name} is not a rectangular array: {e}") from None
    if a.dtype.kind not in "biuf":
        raise InvalidArgumentError(f"{name} must hold real numbers, got dtype {a.dtype}")
    was_vector = False
    if a.ndim == 1 and vector_ok:
        a = a.reshape(-1, 1)
        was_vector = True
    if a.ndim != 2:
        expected = "a 1-D or 2-D array" if vector_ok else "a 2-D array"
        raise DimensionMismatchError(f"{name} must be {expected}, got shape {a.shape}")
    if a.dtype != dtype:
        if dtype == np.float32 and a.dtype.kind == "f" and a.dtype.itemsize > 4:
            _require_single_range(a, name)
        a = a.astype(dtype)
    rows, cols = a.shape
    ld = _leading_dimension(a)
    if ld is None:
        a = np.ascontiguousarray(a)
        ld = max(cols, 1)
    return a, pointer(a), ld, was_vector


def _require_single_range(a, name):
    """Finite entries beyond float32's range would become infinite when rounded: say so."""
    big = np.isfinite(a) & (np.abs(a) > np.finfo(np.float32).max)
    if big.any():
        i = tuple(int(j) for j in np.argwhere(big)[0])
        raise InvalidArgumentError(f"{name} {i} is {a[i]}, beyond float32's range (3.4e38); use dtype=np.float64")


def _leading_dimension(a):
    """The row stride in elements if ``a`` can be passed as is, else None."""
    rows, cols = a.shape
    if a.size == 0:
        return max(cols, 1) if a.flags.c_contiguous else None
    s0, s1 = a.strides
    item = a.itemsize
    if cols > 1 and s1 != item:
        return None
    if rows == 1:
        return max(cols, 1)
    if s0 % item or s0 < item * cols:
        return None
    return s0 // item


def pointer(a):
    """A ``double *`` (``float *`` for a float32 array) into ``a``, which the caller keeps alive
    during the call."""
    return a.ctypes.data_as(_FLOAT_P if a.dtype == np.float32 else _DOUBLE_P)


def output(rows, cols):
    """A new C-contiguous float64 (rows, cols) array and its pointer."""
    a = np.empty((rows, cols), dtype=np.float64)
    return a, pointer(a)


def scalar(x, name):
    """A real scalar as a Python float (NaN/Inf are left for the library to reject)."""
    try:
        return float(x)
    except (TypeError, ValueError):
        raise InvalidArgumentError(f"{name} must be a real number, got {x!r}") from None


NULL = _DOUBLE_P()


def precision(dtype):
    """``dtype`` as numpy.float64 or numpy.float32; anything else is an InvalidArgumentError."""
    try:
        kind = np.dtype(dtype)
    except TypeError:
        raise InvalidArgumentError(f"dtype must be numpy.float64 or numpy.float32, got {dtype!r}") from None
    if kind not in (np.float64, np.float32):
        raise InvalidArgumentError(f"dtype must be numpy.float64 or numpy.float32, got {kind}")
    return kind.type


def null(dtype=np.float64):
    """A NULL ``double *`` (``float *`` for float32)."""
    return _FLOAT_P() if np.dtype(dtype) == np.float32 else NULL


def optional_matrix(x, name, shape):
    """``(array, pointer, ld)`` for an optional input that must have ``shape``; NULL for None.

    A 1-D array is accepted where ``shape`` has one column (matching a 1-D Y).
    """
    if x is None:
        return None, NULL, 1
    a, p, ld, _ = matrix(x, name, vector_ok=shape[1] == 1)
    if a.shape != tuple(shape):
        raise DimensionMismatchError(f"{name} must have shape {tuple(shape)}, got {a.shape}")
    return a, p, ld


def vector(x, name):
    """A 1-D float64 contiguous array (a scalar becomes length 1) and its pointer."""
    if x is None:
        raise InvalidArgumentError(f"{name} is required, got None")
    try:
        a = np.ascontiguousarray(np.atleast_1d(np.asarray(x)), dtype=np.float64)
    except (TypeError, ValueError) as e:
        raise InvalidArgumentError(f"{name} must be a 1-D array of real numbers: {e}") from None
    if a.ndim != 1:
        raise DimensionMismatchError(f"{name} must be 1-D, got shape {a.shape}")
    return a, pointer(a)


def choice(value, options, name):
    """The code of ``value`` in the dict ``options``, or InvalidArgumentError listing them."""
    if value not in options:
        raise InvalidArgumentError(f"{name} must be one of {sorted(options)}, got {value!r}")
    return options[value]


def integer(value, name):
    """``value`` as a Python int that fits int64_t (bools and floats are rejected)."""
    if isinstance(value, bool) or not isinstance(value, (int, np.integer)):
        raise InvalidArgumentError(f"{name} must be an int, got {value!r}")
    if not -2**63 <= value < 2**63:
        raise InvalidArgumentError(f"{name} = {value} is out of range")
    return int(value)
