"""The loaded library: version, BLAS kernels and threads."""

import ctypes

from ._library import call, lib, path
from .errors import InvalidArgumentError


def version():
    """The loaded libntk's version string, e.g. ``"0.2.0"`` (``ntk.__version__`` is the package's)."""
    return lib.ntk_version_string().decode()


def library_path():
    """The path of the loaded libntk.so."""
    return str(path)


def blas_info():
    """Which BLAS runs: ``{"core": ..., "config": ..., "num_threads": ..., "num_procs": ...}``.

    ``core`` is OpenBLAS's kernel family ("SkylakeX", "Haswell", ...; "Prescott" means generic
    kernels, several times slower).
    """
    core, config = ctypes.c_char_p(), ctypes.c_char_p()
    threads, procs = ctypes.c_int(), ctypes.c_int()
    call("ntk_blas_info", ctypes.byref(core), ctypes.byref(config), ctypes.byref(threads), ctypes.byref(procs))
    return {
        "core": (core.value or b"").decode(),
        "config": (config.value or b"").decode(),
        "num_threads": threads.value,
        "num_procs": procs.value,
    }


def set_num_threads(n):
    """Sets OpenBLAS's thread count for every later call (process-wide), 1 <= n <= 1024.

    Call it before starting work, not while other threads are inside the library.
    """
    if isinstance(n, bool) or not isinstance(n, int):
        raise InvalidArgumentError(f"the thread count must be an int, got {n!r}")
    if not -2**31 <= n < 2**31:
        raise InvalidArgumentError(f"the thread count must be in 1...1024, got {n}")
    call("ntk_blas_set_num_threads", n)


def live_handle_count():
    """Handles alive in the library (factors not yet closed or collected); for leak checks."""
    return lib.ntk_live_handle_count()
