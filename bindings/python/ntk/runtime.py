"""The loaded library: version, BLAS kernels and threads, and its log.

The library logs to ``logging.getLogger("ntk")``: at INFO the decisions a user would want to
know (method, blocks and memory limit, BLAS kernels and threads, quadrature, iterations), at
WARNING what may cost accuracy or time (generic BLAS kernels, jitter added, negative
eigenvalues clamped, divergent training). Silent by default (a ``NullHandler``); to see it::

    import logging
    logging.basicConfig(level=logging.INFO)   # or logging.getLogger("ntk").setLevel(...)
"""

import atexit
import ctypes
import logging
import os
from pathlib import Path

import numpy as np

from ._library import LOG_FN, call, lib, path
from .errors import InvalidArgumentError

#: The package's logger; library messages arrive here with their level.
logger = logging.getLogger("ntk")
logger.addHandler(logging.NullHandler())


def _forward(_user, level, message):
    """The C log handler: one library message to ``logger`` (never raises into the library)."""
    try:
        if logger.isEnabledFor(level):
            logger.log(level, (message or b"").decode("utf-8", errors="replace"))
    except BaseException:  # noqa: BLE001 - a failing log handler must not break a computation
        pass


_LOG_HANDLER = LOG_FN(_forward)  # kept alive for the library's lifetime
call("ntk_set_log_handler", _LOG_HANDLER, None, logging.INFO)
# No Python callback after the interpreter starts finalising.
atexit.register(lambda: lib.ntk_set_log_handler(LOG_FN(), None, logging.WARNING))


def version():
    """The loaded libntk's version string, e.g. ``"0.2.0"`` (``ntk.__version__`` is the package's)."""
    return lib.ntk_version_string().decode()


def library_path():
    """The path of the loaded libntk.so."""
    return str(path)


def blas_info():
    """Which BLAS runs.

    Returns
    -------
    dict
        ``{"core": ..., "config": ..., "num_threads": ..., "num_procs": ..., "library": ...,
        "lapacke": ..., "bundled": ...}``; ``core`` is OpenBLAS's kernel family ("SkylakeX",
        "Haswell", ...; "Prescott" means generic kernels, several times slower); ``library`` and
        ``lapacke`` the files the loader opened for OpenBLAS and LAPACKE (None where it does not
        say); ``bundled`` is True when they are the copies inside the installed wheel
        (``libntk.libs/``) rather than the system's.
    """
    core, config = ctypes.c_char_p(), ctypes.c_char_p()
    threads, procs = ctypes.c_int(), ctypes.c_int()
    call("ntk_blas_info", ctypes.byref(core), ctypes.byref(config), ctypes.byref(threads), ctypes.byref(procs))
    blas, lapacke = ctypes.c_char_p(), ctypes.c_char_p()
    call("ntk_blas_library", ctypes.byref(blas), ctypes.byref(lapacke))
    blas, lapacke = (os.path.normpath(p.value.decode(errors="replace")) if p.value else None for p in (blas, lapacke))
    return {
        "core": (core.value or b"").decode(),
        "config": (config.value or b"").decode(),
        "num_threads": threads.value,
        "num_procs": procs.value,
        "library": blas,
        "lapacke": lapacke,
        "bundled": blas is not None and Path(blas).parent.name == "libntk.libs",
    }


def set_num_threads(n):
    """Sets OpenBLAS's thread count for every later call (process-wide).

    Call it before starting work, not while other threads are inside the library.

    Parameters
    ----------
    n : int
        1 <= n <= 1024.
    """
    if isinstance(n, bool) or not isinstance(n, int):
        raise InvalidArgumentError(f"the thread count must be an int, got {n!r}")
    if not -2**31 <= n < 2**31:
        raise InvalidArgumentError(f"the thread count must be in 1...1024, got {n}")
    call("ntk_blas_set_num_threads", n)


def physical_memory():
    """Bytes of physical memory of this machine (0 if unknown)."""
    physical = ctypes.c_int64()
    call("ntk_memory_budget", None, ctypes.byref(physical))
    return physical.value


def memory_budget():
    """The process-wide memory budget in bytes: what blocked computations (the empirical NTK's
    activations, the Nyström solvers' kernel blocks and caches) may use when a call sets no
    ``memory_limit`` of its own. By default a quarter of physical memory."""
    budget = ctypes.c_int64()
    call("ntk_memory_budget", ctypes.byref(budget), None)
    return budget.value


def set_memory_budget(nbytes):
    """Sets the process-wide memory budget.

    A call whose smallest working set does not fit its budget raises
    :class:`ntk.OutOfMemoryError` before doing any work.

    Parameters
    ----------
    nbytes : int or None
        Bytes; None or 0: back to a quarter of physical memory.
    """
    value = 0 if nbytes is None else nbytes
    if isinstance(value, bool) or not isinstance(value, (int, np.integer)):
        raise InvalidArgumentError(f"the memory budget must be an int number of bytes or None, got {nbytes!r}")
    if not 0 <= value < 2**63:
        raise InvalidArgumentError(f"the memory budget must be >= 0 bytes (0 or None: automatic), got {nbytes}")
    call("ntk_set_memory_budget", int(value))


def live_handle_count():
    """Handles alive in the library (factors not yet closed or collected); for leak checks."""
    return lib.ntk_live_handle_count()
