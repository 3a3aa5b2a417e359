"""Finding, loading and declaring libntk.so (internal).

Every C function gets its ``argtypes`` and ``restype`` here, so ctypes checks each call's
arguments and never guesses a type. ``call(name, *args)`` runs a function and raises the typed
exception for a non-zero status.
"""

import ctypes
import os
import sys
import warnings
from ctypes import POINTER, c_char_p, c_double, c_int, c_int64, c_void_p
from pathlib import Path

from .errors import STATUS_ERRORS, InternalError, LibraryNotFoundError

#: The C library major version this package was written for.
EXPECTED_MAJOR = 0

#: ``int (*)(void *user, double fraction)``: the progress callback type.
PROGRESS_FN = ctypes.CFUNCTYPE(c_int, c_void_p, c_double)
#: ``int (*)(void *user, int64_t epoch, double loss)``: the training callback type.
EPOCH_FN = ctypes.CFUNCTYPE(c_int, c_void_p, c_int64, c_double)

_d = POINTER(c_double)
_SIGNATURES = {
    "ntk_version_number": ([], c_int),
    "ntk_version_string": ([], c_char_p),
    "ntk_status_string": ([c_int], c_char_p),
    "ntk_last_error": ([], c_char_p),
    "ntk_blas_info": ([POINTER(c_char_p), POINTER(c_char_p), POINTER(c_int), POINTER(c_int)], c_int),
    "ntk_blas_set_num_threads": ([c_int], c_int),
    "ntk_gram": ([c_int64, c_int64, c_int64, c_double, _d, c_int64, _d, c_int64, _d, c_int64,
                  PROGRESS_FN, c_void_p], c_int),
    "ntk_cholesky_solve": ([c_int64, c_int64, _d, c_int64, c_double, _d, c_int64, _d, c_int64,
                            PROGRESS_FN, c_void_p], c_int),
    "ntk_cholesky_factor_create": ([c_int64, _d, c_int64, c_double, PROGRESS_FN, c_void_p,
                                    POINTER(c_void_p)], c_int),
    "ntk_cholesky_factor_solve": ([c_void_p, c_int64, _d, c_int64, _d, c_int64], c_int),
    "ntk_cholesky_factor_order": ([c_void_p, POINTER(c_int64)], c_int),
    "ntk_cholesky_factor_log_determinant": ([c_void_p, _d], c_int),
    "ntk_cholesky_factor_free": ([c_void_p], None),
    "ntk_eigh": ([c_int64, _d, c_int64, _d, _d, c_int64, PROGRESS_FN, c_void_p], c_int),
    "ntk_live_handle_count": ([], c_int64),
    "ntk_kernel_ridge_fit": ([c_int64, c_int64, _d, c_int64, _d, c_int64, _d, c_int64, c_double, c_int, c_double,
                              PROGRESS_FN, c_void_p, POINTER(c_void_p)], c_int),
    "ntk_kernel_ridge_predict": ([c_void_p, c_int64, _d, c_int64, _d, c_int64, _d, c_int64], c_int),
    "ntk_kernel_ridge_train_predictions": ([c_void_p, _d, c_int64], c_int),
    "ntk_kernel_ridge_dual_coefficients": ([c_void_p, _d, c_int64], c_int),
    "ntk_kernel_ridge_info": ([c_void_p, POINTER(c_int64), POINTER(c_int64), _d, _d], c_int),
    "ntk_kernel_ridge_free": ([c_void_p], None),
    "ntk_features_ridge": ([c_int64, c_int64, c_int64, _d, c_int64, _d, c_int64, c_double, c_int,
                            c_int64, _d, c_int64, _d, c_int64, _d, c_int64, _d, c_int64, PROGRESS_FN, c_void_p], c_int),
    "ntk_spectral_create": ([c_int64, _d, c_int64, c_int, PROGRESS_FN, c_void_p, POINTER(c_void_p)], c_int),
    "ntk_spectral_info": ([c_void_p, POINTER(c_int64), _d, POINTER(c_int64), POINTER(c_int64), _d], c_int),
    "ntk_spectral_eigenvalues": ([c_void_p, _d], c_int),
    "ntk_spectral_predict": ([c_void_p, c_int64, _d, c_int64, _d, c_int64, c_int64, _d, _d, c_double,
                              c_int64, _d, c_int64, _d, c_int64, _d, _d], c_int),
    "ntk_spectral_dual_coefficients": ([c_void_p, c_int64, _d, c_int64, _d, c_int64, c_double, c_double, c_double,
                                        _d, c_int64], c_int),
    "ntk_spectral_filters": ([c_void_p, c_int64, _d, _d, c_double, c_int64, _d, _d, _d], c_int),
    "ntk_spectral_select_ridge": ([c_void_p, c_int64, _d, c_int64, _d, c_int64, c_int64, _d, c_int, _d,
                                   POINTER(c_int64)], c_int),
    "ntk_spectral_max_learning_rate": ([c_void_p, c_int64, _d, _d], c_int),
    "ntk_spectral_free": ([c_void_p], None),
    "ntk_mlp_create": ([c_int64, c_int64, POINTER(c_int64), c_int64, c_int, c_double, c_double, c_double, c_int,
                        c_int, ctypes.c_uint64, POINTER(c_void_p)], c_int),
    "ntk_mlp_info": ([c_void_p, POINTER(c_int64), POINTER(c_int64), POINTER(c_int64), POINTER(c_int64)], c_int),
    "ntk_mlp_widths": ([c_void_p, POINTER(c_int64)], c_int),
    "ntk_mlp_get_parameters": ([c_void_p, _d, c_int64], c_int),
    "ntk_mlp_set_parameters": ([c_void_p, _d, c_int64], c_int),
    "ntk_mlp_forward": ([c_void_p, c_int64, _d, c_int64, _d, c_int64], c_int),
    "ntk_mlp_jacobian": ([c_void_p, c_int64, _d, c_int64, _d], c_int),
    "ntk_empirical_ntk": ([c_void_p, c_int64, _d, c_int64, c_int64, _d, c_int64, c_int, c_int, c_int64, _d,
                           PROGRESS_FN, c_void_p], c_int),
    "ntk_empirical_ntk_diagonal": ([c_void_p, c_int64, _d, c_int64, c_int, _d], c_int),
    "ntk_jacobian_ntk": ([c_int64, c_int64, c_int64, c_int64, _d, _d, c_int, _d, PROGRESS_FN, c_void_p], c_int),
    "ntk_mlp_free": ([c_void_p], None),
    "ntk_mlp_loss_gradient": ([c_void_p, c_int64, _d, c_int64, _d, c_int64, c_int, _d, _d], c_int),
    "ntk_mlp_train": ([c_void_p, c_int64, _d, c_int64, _d, c_int64, c_int, c_double, c_int64, c_int64, c_double,
                       ctypes.c_uint64, c_int64, POINTER(c_int64), c_int64, _d, c_int64, _d, _d, _d, POINTER(c_int64),
                       POINTER(c_int), EPOCH_FN, c_void_p], c_int),
    "ntk_kernel_distance": ([c_int64, _d, _d, _d], c_int),
    "ntk_kernel_alignment": ([c_int64, c_int64, _d, _d, _d], c_int),
    "ntk_gradient_flow_ode": ([c_int64, c_int64, _d, c_int64, _d, c_int64, _d, c_int64, c_int64, _d, c_int, c_double,
                               c_int64, _d, c_int64, _d, c_int64, c_double, c_double, _d, _d, PROGRESS_FN, c_void_p], c_int),
    "ntk_infinite_width_kernels": ([c_void_p, c_int64, _d, c_int64, c_int64, _d, c_int64, c_int, _d, _d,
                                    PROGRESS_FN, c_void_p], c_int),
    "ntk_infinite_width_diagonal": ([c_void_p, c_int64, _d, c_int64, _d, _d], c_int),
    "ntk_max_learning_rate": ([c_int64, _d, c_int64, c_int64, _d, _d, PROGRESS_FN, c_void_p], c_int),
}


def _cpu_flags():
    try:
        with open("/proc/cpuinfo", encoding="ascii", errors="replace") as f:
            for line in f:
                if line.startswith("flags"):
                    return set(line.split(":", 1)[1].split())
    except OSError:
        pass
    return set()


def _choose_openblas_core():
    """Sets OPENBLAS_CORETYPE=SkylakeX on AVX-512 CPUs unless the user chose a core.

    Debian's OpenBLAS 0.3.21 does not recognise recent CPUs (Sapphire Rapids and later) and
    falls back to generic kernels about 6x slower. The variable is read once, when OpenBLAS is
    loaded, so it must be set before libntk.so (which links OpenBLAS) is loaded.
    """
    if "OPENBLAS_CORETYPE" in os.environ or not sys.platform.startswith("linux"):
        return
    if {"avx512f", "avx512dq", "avx512cd", "avx512bw", "avx512vl"} <= _cpu_flags():
        os.environ["OPENBLAS_CORETYPE"] = "SkylakeX"


def _candidates():
    """Paths to try, in order, with a note of where each comes from."""
    env = os.environ.get("NTK_LIBRARY")
    if env:
        p = Path(env)
        yield (p / "libntk.so" if p.is_dir() else p), "NTK_LIBRARY"
    here = Path(__file__).resolve().parent
    yield here / "libntk.so", "next to the package"
    roots = []
    for start in (here, Path.cwd().resolve()):
        roots.extend([start, *start.parents])
    seen = set()
    for root in roots:
        if root in seen:
            continue
        seen.add(root)
        for config in ("release", "debug"):
            yield root / ".build" / config / "libntk.so", "SwiftPM build folder"


def _load():
    _choose_openblas_core()
    tried = []
    for path, origin in _candidates():
        if not path.is_file():
            tried.append(f"{path} ({origin}: no such file)")
            continue
        try:
            lib = ctypes.CDLL(str(path))
        except OSError as e:
            tried.append(f"{path} ({origin}: {e})")
            continue
        return lib, path
    raise LibraryNotFoundError(
        "libntk.so not found. Build it with scripts/build.sh in the libntk repository, then set "
        "NTK_LIBRARY=/path/to/libntk.so or run from the repository. Tried:\n  " + "\n  ".join(tried))


lib, path = _load()
for _name, (_args, _res) in _SIGNATURES.items():
    _f = getattr(lib, _name)
    _f.argtypes = _args
    _f.restype = _res

_major = lib.ntk_version_number() // 10000
if _major != EXPECTED_MAJOR:
    raise LibraryNotFoundError(
        f"{path} is libntk {lib.ntk_version_string().decode()}, but this package needs major version "
        f"{EXPECTED_MAJOR}; rebuild the library or reinstall the package from the same checkout")


def raise_for_status(status):
    """Raises the exception for a non-zero status, with this thread's library message."""
    if status == 0:
        return
    message = lib.ntk_last_error().decode("utf-8", errors="replace")
    raise STATUS_ERRORS.get(status, InternalError)(message or f"status {status}", status)


def call(name, *args):
    """Calls ``lib.name(*args)`` and raises the typed exception for a non-zero status."""
    raise_for_status(getattr(lib, name)(*args))


def _warn_if_generic_core():
    core = c_char_p()
    lib.ntk_blas_info(ctypes.byref(core), None, None, None)
    name = (core.value or b"").decode()
    if name in ("Prescott", "Core2", "Nehalem", "Atom", "Generic") and "avx2" in _cpu_flags():
        warnings.warn(
            f"OpenBLAS runs generic '{name}' kernels on a CPU with AVX2: set OPENBLAS_CORETYPE "
            "(e.g. SkylakeX or Haswell) before OpenBLAS is first loaded in this process for full speed",
            RuntimeWarning, stacklevel=3)


_warn_if_generic_core()
