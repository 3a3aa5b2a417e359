"""Exceptions raised by the ntk package.

Every failure of the C library becomes an instance of a subclass of :class:`NTKError` carrying
the library's message (which names the function and the argument) and its status code.
Argument errors also derive from :class:`ValueError`, so ``except ValueError`` catches bad input.
"""

import numpy as np


class NTKError(Exception):
    """Base class of every error raised by ntk.

    Parameters
    ----------
    message : str
        The library's message, in the terms of the Python function that was called.
    status : int, optional
        The C status code (None for errors raised in Python).
    """

    def __init__(self, message, status=None):
        super().__init__(message)
        self.status = status


class LibraryNotFoundError(NTKError, OSError):
    """libntk.so could not be found or loaded; the message lists every path tried."""


class InvalidArgumentError(NTKError, ValueError):
    """A bad argument: wrong type or rank, negative size, bad flag, out-of-range scalar."""


class DimensionMismatchError(InvalidArgumentError):
    """Array shapes that do not fit together."""


class NonFiniteError(InvalidArgumentError):
    """NaN or Inf in an input array or scalar."""


class TooLargeError(InvalidArgumentError):
    """A size beyond what the library (or 32-bit BLAS) can address."""


class InvalidHandleError(NTKError, ValueError):
    """A closed or foreign handle."""


class NotPositiveDefiniteError(NTKError, np.linalg.LinAlgError):
    """A matrix that must be symmetric positive definite is not (add a ridge)."""


class NumericalError(NTKError, ArithmeticError):
    """A numerical routine failed, e.g. an eigensolver did not converge."""


class OutOfMemoryError(NTKError, MemoryError):
    """A workspace could not be allocated."""


class CancelledError(NTKError):
    """The progress callback asked to stop."""


class InternalError(NTKError, RuntimeError):
    """A bug in libntk; please report it with the message."""


class CallbackError(NTKError, RuntimeError):
    """A caller's callback (a model's Jacobian product, from C) reported a failure. A Python
    model's exception is re-raised as itself instead."""


class ConvergenceWarning(UserWarning):
    """An iterative solver stopped at its iteration cap before reaching its tolerance; the
    result is its last iterate."""


# C status code -> exception class (codes are stable, see include/ntk.h).
STATUS_ERRORS = {
    -1: InvalidArgumentError,
    -2: DimensionMismatchError,
    -3: NonFiniteError,
    -4: NotPositiveDefiniteError,
    -5: OutOfMemoryError,
    -6: CancelledError,
    -7: NumericalError,
    -8: TooLargeError,
    -9: InvalidHandleError,
    -10: InternalError,
    -11: CallbackError,
}
