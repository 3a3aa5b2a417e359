"""Finding, loading and declaring libntk.so (internal).

Every C function gets its ``argtypes`` and ``restype`` here, so ctypes checks each call's
arguments and never guesses a type. ``call(name, *args)`` runs a function and raises the typed
exception for a non-zero status.
"""

import ctypes
import os
import sys
import warnings
from ctypes import POINTER, c_char_p, c_double, c_float, c_int, c_int64, c_size_t, c_uint64, c_void_p
from pathlib import Path

from . import __version__
from .errors import STATUS_ERRORS, InternalError, LibraryNotFoundError

#: The C library version this package was written for (its own version, which scripts/version.py
#: writes from include/ntk.h): the same major version, and while the major version is 0 (no
#: stability promise yet) the same minor version too.
EXPECTED_VERSION = tuple(int(part) for part in __version__.split(".")[:2])

#: ``int (*)(void *user, double fraction)``: the progress callback type.
PROGRESS_FN = ctypes.CFUNCTYPE(c_int, c_void_p, c_double)
#: ``int (*)(void *user, int64_t epoch, double loss)``: the training callback type.
EPOCH_FN = ctypes.CFUNCTYPE(c_int, c_void_p, c_int64, c_double)
#: ``int (*)(void *user, int64_t epoch, const double *K_probe, int64_t m, double lambda_max)``.
SNAPSHOT_FN = ctypes.CFUNCTYPE(c_int, c_void_p, c_int64, POINTER(c_double), c_int64, c_double)
#: ``int (*)(double *values, int64_t count, void *user)``: the data-partition reduction
#: (ntk.distributed fills it with MPI_Allreduce).
REDUCE_FN = ctypes.CFUNCTYPE(c_int, POINTER(c_double), c_int64, c_void_p)
#: ``int (*)(void *user, int64_t count, const int64_t *rows, int64_t nvec, const double *in, double *out)``:
#: a model's Jacobian product (jvp or vjp).
MODEL_PRODUCT_FN = ctypes.CFUNCTYPE(c_int, c_void_p, c_int64, POINTER(c_int64), c_int64, POINTER(c_double),
                                    POINTER(c_double))
#: ``int (*)(void *user, int64_t count, const int64_t *rows, double *out)``: a model's forward pass or Jacobian.
MODEL_ROWS_FN = ctypes.CFUNCTYPE(c_int, c_void_p, c_int64, POINTER(c_int64), POINTER(c_double))
#: ``void (*)(void *user, ntk_log_level level, const char *message)``: the log handler type.
LOG_FN = ctypes.CFUNCTYPE(None, c_void_p, c_int, c_char_p)

#: The typed enums of ntk.h, value for value (scripts/check_abi.py checks them against the header).
ENUMS = {
    "ntk_status": {
        "NTK_OK": 0, "NTK_ERR_INVALID_ARGUMENT": -1, "NTK_ERR_DIMENSION_MISMATCH": -2, "NTK_ERR_NON_FINITE": -3,
        "NTK_ERR_NOT_POSITIVE_DEFINITE": -4, "NTK_ERR_OUT_OF_MEMORY": -5, "NTK_ERR_CANCELLED": -6,
        "NTK_ERR_NUMERICAL": -7, "NTK_ERR_TOO_LARGE": -8, "NTK_ERR_INVALID_HANDLE": -9, "NTK_ERR_INTERNAL": -10,
        "NTK_ERR_CALLBACK": -11,
    },
    "ntk_ridge_scale": {"NTK_RIDGE_ABSOLUTE": 0, "NTK_RIDGE_RELATIVE": 1},
    "ntk_features_form": {"NTK_FORM_AUTO": 0, "NTK_FORM_PRIMAL": 1, "NTK_FORM_DUAL": 2},
    "ntk_negative_eigenvalues": {"NTK_NEGATIVE_CLAMP": 0, "NTK_NEGATIVE_ERROR": 1},
    "ntk_ridge_criterion": {"NTK_CRITERION_GCV": 0, "NTK_CRITERION_LOO": 1},
    "ntk_precision": {"NTK_PRECISION_DOUBLE": 0, "NTK_PRECISION_SINGLE": 1},
    "ntk_activation": {
        "NTK_ACTIVATION_IDENTITY": 0, "NTK_ACTIVATION_RELU": 1, "NTK_ACTIVATION_LEAKY_RELU": 2, "NTK_ACTIVATION_ABS": 3,
        "NTK_ACTIVATION_TANH": 4, "NTK_ACTIVATION_ERF": 5, "NTK_ACTIVATION_SIGMOID": 6, "NTK_ACTIVATION_GELU": 7,
        "NTK_ACTIVATION_SOFTPLUS": 8, "NTK_ACTIVATION_SIN": 9,
    },
    "ntk_parameterization": {"NTK_PARAMETERIZATION_NTK": 0, "NTK_PARAMETERIZATION_STANDARD": 1},
    "ntk_output_form": {"NTK_OUTPUT_MEAN": 0, "NTK_OUTPUT_FULL": 1, "NTK_OUTPUT_PER_OUTPUT": 2},
    "ntk_kernel_method": {"NTK_METHOD_STRUCTURED": 0, "NTK_METHOD_JACOBIAN": 1, "NTK_METHOD_VECTOR_PRODUCTS": 2},
    "ntk_loss": {"NTK_LOSS_MSE": 0, "NTK_LOSS_CROSS_ENTROPY": 1},
    "ntk_log_level": {"NTK_LOG_DEBUG": 10, "NTK_LOG_INFO": 20, "NTK_LOG_WARNING": 30},
    "ntk_ensemble_regime": {"NTK_REGIME_NTK": 0, "NTK_REGIME_NNGP": 1},
    "ntk_covariance_form": {"NTK_COVARIANCE_FULL": 0, "NTK_COVARIANCE_DIAGONAL": 1},
    "ntk_center_selection": {"NTK_CENTERS_UNIFORM": 0, "NTK_CENTERS_PIVOTED_CHOLESKY": 1},
    "ntk_nystrom_solver": {"NTK_NYSTROM_DIRECT": 0, "NTK_NYSTROM_CG": 1},
    "ntk_kernel_kind": {"NTK_KERNEL_NTK": 0, "NTK_KERNEL_NNGP": 1},
    "ntk_tuning_criterion": {"NTK_TUNING_LML": 0, "NTK_TUNING_GCV": 1, "NTK_TUNING_LOO": 2},
    "ntk_x_filter_form": {"NTK_X_FILTER_VALUE": 0, "NTK_X_FILTER_SHRINKAGE": 1},
    "ntk_layer_kind": {
        "NTK_LAYER_DENSE": 0, "NTK_LAYER_CONV": 1, "NTK_LAYER_AVG_POOL": 2, "NTK_LAYER_GLOBAL_AVG_POOL": 3,
        "NTK_LAYER_FLATTEN": 4, "NTK_LAYER_LAYER_NORM": 5, "NTK_LAYER_ACTIVATION": 6, "NTK_LAYER_RESIDUAL_BEGIN": 7,
        "NTK_LAYER_RESIDUAL_END": 8,
    },
    "ntk_padding": {"NTK_PADDING_VALID": 0, "NTK_PADDING_SAME": 1, "NTK_PADDING_CIRCULAR": 2},
}


def choices(enum, prefix):
    """The Python names of a C enum's values: ``NTK_OUTPUT_PER_OUTPUT`` -> ``"per_output"``."""
    return {name[len(prefix):].lower(): value for name, value in ENUMS[enum].items()}


class Targets(ctypes.Structure):
    """``ntk_targets``: Y (n x k) and offsets f0 (NULL: 0)."""
    _fields_ = [("k", c_int64), ("Y", POINTER(c_double)), ("ldy", c_int64),
                ("f0", POINTER(c_double)), ("ldf0", c_int64)]


class Grid(ctypes.Structure):
    """``ntk_grid``: ``count`` points (times[i], ridges[i]) of gradient flow at ``learning_rate``
    (times NULL: all inf; ridges NULL: all 0)."""
    _fields_ = [("count", c_int64), ("times", POINTER(c_double)), ("ridges", POINTER(c_double)),
                ("learning_rate", c_double)]


class TestKernel(ctypes.Structure):
    """``ntk_test_kernel``: K_test_train (m x n) and offsets f0 (NULL: 0)."""
    _fields_ = [("m", c_int64), ("K_test_train", POINTER(c_double)), ("ldk", c_int64),
                ("f0", POINTER(c_double)), ("ldf0", c_int64)]


class _Options(ctypes.Structure):
    """An options struct: ``size`` is set to the struct's size, every other field to the C
    library's default by its ``*_options_init`` function, then the keyword arguments."""

    _init = None

    def __init__(self, **fields):
        super().__init__()
        status = getattr(lib, self._init)(ctypes.byref(self))
        if status:
            raise_for_status(status)
        for name, value in fields.items():
            setattr(self, name, value)


class KernelRidgeOptions(_Options):
    _init = "ntk_kernel_ridge_options_init"
    _fields_ = [("size", c_size_t), ("ridge_scale", c_int), ("max_jitter", c_double),
                ("progress", PROGRESS_FN), ("progress_user", c_void_p)]


class Labels(ctypes.Structure):
    """``ntk_labels``: n labels in 0..n_classes-1 and offsets f0 (n x n_classes; NULL: 0)."""
    _fields_ = [("labels", POINTER(c_int64)), ("n_classes", c_int64), ("f0", POINTER(c_double)), ("ldf0", c_int64)]


class KernelLogisticOptions(_Options):
    _init = "ntk_kernel_logistic_options_init"
    _fields_ = [("size", c_size_t), ("n_ridges", c_int64), ("ridges", POINTER(c_double)), ("tol", c_double),
                ("max_iter", c_int64), ("memory_limit", c_int64), ("progress", PROGRESS_FN),
                ("progress_user", c_void_p)]


class FeaturesRidgeOptions(_Options):
    _init = "ntk_features_ridge_options_init"
    _fields_ = [("size", c_size_t), ("form", c_int), ("progress", PROGRESS_FN), ("progress_user", c_void_p)]


class MLPOptions(_Options):
    _init = "ntk_mlp_options_init"
    _fields_ = [("size", c_size_t), ("activation_parameter", c_double), ("w_std", c_double), ("b_std", c_double),
                ("bias", c_int), ("parameterization", c_int), ("seed", c_uint64)]


class EmpiricalNTKOptions(_Options):
    _init = "ntk_empirical_ntk_options_init"
    _fields_ = [("size", c_size_t), ("method", c_int), ("memory_limit", c_int64),
                ("progress", PROGRESS_FN), ("progress_user", c_void_p)]


class Layer(ctypes.Structure):
    """``ntk_layer``: one layer of a network description (set up by ``ntk_layer_init``)."""
    _fields_ = [("size", c_size_t), ("kind", c_int), ("width", c_int64), ("rank", c_int64),
                ("window", c_int64 * 3), ("strides", c_int64 * 3), ("padding", c_int), ("activation", c_int),
                ("activation_parameter", c_double), ("w_std", c_double), ("b_std", c_double), ("epsilon", c_double)]


class NetworkOptions(_Options):
    _init = "ntk_network_options_init"
    _fields_ = [("size", c_size_t), ("w_std", c_double), ("b_std", c_double), ("bias", c_int),
                ("parameterization", c_int), ("seed", c_uint64)]


class InfiniteWidthOptions(_Options):
    _init = "ntk_infinite_width_options_init"
    _fields_ = [("size", c_size_t), ("quadrature_points", c_int), ("progress", PROGRESS_FN),
                ("progress_user", c_void_p)]


class TrainOptions(_Options):
    _init = "ntk_train_options_init"
    _fields_ = [("size", c_size_t), ("loss", c_int), ("learning_rate", c_double), ("batch_size", c_int64),
                ("momentum", c_double), ("seed", c_uint64), ("epoch_callback", EPOCH_FN), ("epoch_user", c_void_p),
                ("num_snapshots", c_int64), ("snapshot_epochs", POINTER(c_int64)), ("m", c_int64),
                ("X_probe", POINTER(c_double)), ("ldprobe", c_int64), ("snapshot_callback", SNAPSHOT_FN),
                ("snapshot_user", c_void_p)]


class ODEOptions(_Options):
    _init = "ntk_ode_options_init"
    _fields_ = [("size", c_size_t), ("learning_rate", c_double), ("rtol", c_double), ("atol", c_double),
                ("progress", PROGRESS_FN), ("progress_user", c_void_p)]


class EnsembleOptions(_Options):
    _init = "ntk_ensemble_options_init"
    _fields_ = [("size", c_size_t), ("regime", c_int), ("learning_rate", c_double), ("ridge", c_double),
                ("progress", PROGRESS_FN), ("progress_user", c_void_p), ("covariance", c_int)]


class GPOptions(_Options):
    _init = "ntk_gp_options_init"
    _fields_ = [("size", c_size_t), ("ridge", c_double), ("progress", PROGRESS_FN), ("progress_user", c_void_p)]


class EnsembleTest(ctypes.Structure):
    """``ntk_ensemble_test``: the test points' NNGP and NTK kernels against the training points
    (m x n) and their NNGP kernel (m x m)."""
    _fields_ = [("m", c_int64), ("nngp_test_train", POINTER(c_double)), ("ld_nngp_test_train", c_int64),
                ("ntk_test_train", POINTER(c_double)), ("ld_ntk_test_train", c_int64),
                ("nngp_test", POINTER(c_double)), ("ld_nngp_test", c_int64)]


class NystromOptions(_Options):
    _init = "ntk_nystrom_options_init"
    _fields_ = [("size", c_size_t), ("solver", c_int), ("centers", c_int), ("kernel", c_int), ("preconditioned", c_int),
                ("seed", c_uint64), ("tol", c_double), ("max_iter", c_int64), ("quadrature_points", c_int),
                ("memory_limit", c_int64), ("progress", PROGRESS_FN), ("progress_user", c_void_p),
                ("reduce", REDUCE_FN), ("reduce_user", c_void_p), ("preconditioner_rows", c_int64)]


class NystromTest(ctypes.Structure):
    """``ntk_nystrom_test``: test points X (m x d) or their kernel against the centres (m x c),
    and offsets f0 (NULL: 0)."""
    _fields_ = [("m", c_int64), ("X", POINTER(c_double)), ("ldx", c_int64), ("K_test_centers", POINTER(c_double)),
                ("ldk", c_int64), ("f0", POINTER(c_double)), ("ldf0", c_int64)]


class EmpiricalSolverOptions(_Options):
    _init = "ntk_empirical_solver_options_init"
    _fields_ = [("size", c_size_t), ("tol", c_double), ("max_iter", c_int64), ("preconditioner_rank", c_int64),
                ("seed", c_uint64), ("learning_rate", c_double), ("memory_limit", c_int64),
                ("progress", PROGRESS_FN), ("progress_user", c_void_p), ("reduce", REDUCE_FN),
                ("reduce_user", c_void_p), ("preconditioner_centers", POINTER(c_double)),
                ("preconditioner_ldc", c_int64), ("precision", c_int64)]


class KernelHyperparameters(_Options):
    """``ntk_kernel_hyperparameters``: W_std, b_std, the d input scales (NULL: all 1) and the
    objectives' ridge and amplitude."""
    _init = "ntk_kernel_hyperparameters_init"
    _fields_ = [("size", c_size_t), ("w_std", c_double), ("b_std", c_double), ("input_scales", POINTER(c_double)),
                ("ridge", c_double), ("amplitude", c_double)]


class Points(ctypes.Structure):
    """``ntk_points``: rows X (m x d) and offsets f0 (NULL: 0)."""
    _fields_ = [("m", c_int64), ("X", POINTER(c_double)), ("ldx", c_int64), ("f0", POINTER(c_double)),
                ("ldf0", c_int64)]


class Rows(ctypes.Structure):
    """``ntk_rows``: m row indices of the caller's data and their offsets f0 (NULL: 0)."""
    _fields_ = [("m", c_int64), ("rows", POINTER(c_int64)), ("f0", POINTER(c_double)), ("ldf0", c_int64)]


class ModelCallbacks(_Options):
    """``ntk_model_callbacks``: a model's P, k, Jacobian products and block size."""
    _init = "ntk_model_callbacks_init"
    _fields_ = [("size", c_size_t), ("n_params", c_int64), ("k", c_int64), ("jvp", MODEL_PRODUCT_FN),
                ("vjp", MODEL_PRODUCT_FN), ("forward", MODEL_ROWS_FN), ("jacobian", MODEL_ROWS_FN),
                ("user", c_void_p), ("block_rows", c_int64), ("thread_safe", c_int)]


class Spectrum(ctypes.Structure):
    """``ntk_x_spectrum`` (experimental): eigenvalues of a kernel on n points, the targets in its
    eigenbasis P (count x k) and the mass outside the span."""
    _fields_ = [("count", c_int64), ("n", c_int64), ("k", c_int64), ("eigenvalues", POINTER(c_double)),
                ("projected", POINTER(c_double)), ("ldp", c_int64), ("outside", c_double)]


#: C struct name -> ctypes class (checked against the header by scripts/check_abi.py).
STRUCTS = {
    "ntk_targets": Targets, "ntk_test_kernel": TestKernel,
    "ntk_kernel_ridge_options": KernelRidgeOptions, "ntk_labels": Labels,
    "ntk_kernel_logistic_options": KernelLogisticOptions, "ntk_features_ridge_options": FeaturesRidgeOptions,
    "ntk_grid": Grid, "ntk_mlp_options": MLPOptions,
    "ntk_empirical_ntk_options": EmpiricalNTKOptions, "ntk_infinite_width_options": InfiniteWidthOptions,
    "ntk_layer": Layer, "ntk_network_options": NetworkOptions,
    "ntk_train_options": TrainOptions, "ntk_ode_options": ODEOptions,
    "ntk_ensemble_options": EnsembleOptions, "ntk_ensemble_test": EnsembleTest, "ntk_gp_options": GPOptions,
    "ntk_nystrom_options": NystromOptions, "ntk_nystrom_test": NystromTest,
    "ntk_empirical_solver_options": EmpiricalSolverOptions, "ntk_points": Points, "ntk_x_spectrum": Spectrum,
    "ntk_kernel_hyperparameters": KernelHyperparameters, "ntk_rows": Rows, "ntk_model_callbacks": ModelCallbacks,
}

_d = POINTER(c_double)
_f = POINTER(c_float)
_i64 = POINTER(c_int64)
_h = c_void_p
_out = POINTER(c_void_p)
_P = POINTER
_SIGNATURES = {
    "ntk_version_number": ([], c_int),
    "ntk_version_string": ([], c_char_p),
    "ntk_status_string": ([c_int], c_char_p),
    "ntk_last_error": ([], c_char_p),
    "ntk_blas_info": ([_P(c_char_p), _P(c_char_p), _P(c_int), _P(c_int)], c_int),
    "ntk_blas_library": ([_P(c_char_p), _P(c_char_p)], c_int),
    "ntk_blas_set_num_threads": ([c_int], c_int),
    "ntk_set_log_handler": ([LOG_FN, c_void_p, c_int], c_int),
    "ntk_gram": ([c_int64, c_int64, c_int64, c_double, _d, c_int64, _d, c_int64, _d, c_int64, PROGRESS_FN, c_void_p],
                 c_int),
    "ntk_cholesky_solve": ([c_int64, c_int64, _d, c_int64, c_double, _d, c_int64, _d, c_int64, PROGRESS_FN, c_void_p],
                           c_int),
    "ntk_cholesky_factor_create": ([c_int64, _d, c_int64, c_double, PROGRESS_FN, c_void_p, _out], c_int),
    "ntk_cholesky_factor_solve": ([_h, c_int64, _d, c_int64, _d, c_int64], c_int),
    "ntk_cholesky_factor_order": ([_h, _i64], c_int),
    "ntk_cholesky_factor_log_determinant": ([_h, _d], c_int),
    "ntk_cholesky_factor_free": ([_h], None),
    "ntk_eigh": ([c_int64, _d, c_int64, _d, _d, c_int64, PROGRESS_FN, c_void_p], c_int),
    "ntk_kernel_ridge_options_init": ([_P(KernelRidgeOptions)], c_int),
    "ntk_kernel_ridge_fit": ([c_int64, _d, c_int64, _P(Targets), c_double, _P(KernelRidgeOptions), _out], c_int),
    "ntk_kernel_ridge_predict": ([_h, _P(TestKernel), _d, c_int64], c_int),
    "ntk_kernel_ridge_train_predictions": ([_h, _d, c_int64], c_int),
    "ntk_kernel_ridge_dual_coefficients": ([_h, _d, c_int64], c_int),
    "ntk_kernel_ridge_info": ([_h, _i64, _i64, _d, _d], c_int),
    "ntk_kernel_ridge_free": ([_h], None),
    "ntk_kernel_logistic_options_init": ([_P(KernelLogisticOptions)], c_int),
    "ntk_kernel_logistic_fit": ([c_int64, _d, c_int64, _P(Labels), c_double, _P(KernelLogisticOptions), _out], c_int),
    "ntk_kernel_logistic_fit_nystrom": ([c_int64, c_int64, _d, c_int64, _d, c_int64, _P(Labels), c_double,
                                         _P(KernelLogisticOptions), _out], c_int),
    "ntk_kernel_logistic_fit_centers": ([_h, c_int, c_int64, _d, c_int64, _P(Points), _P(Labels), c_double,
                                         _P(KernelLogisticOptions), _out], c_int),
    "ntk_network_kernel_logistic_fit_centers": ([_h, c_int, c_int64, _d, c_int64, _P(Points), _P(Labels), c_double,
                                                 _P(KernelLogisticOptions), _out], c_int),
    "ntk_kernel_logistic_info": ([_h, _i64, _i64, _i64, _d, _i64, _P(c_int)], c_int),
    "ntk_kernel_logistic_ridge_scores": ([_h, _d], c_int),
    "ntk_kernel_logistic_coefficients": ([_h, _d, c_int64], c_int),
    "ntk_kernel_logistic_train_logits": ([_h, _d, c_int64], c_int),
    "ntk_kernel_logistic_predict": ([_h, _P(TestKernel), _d, c_int64], c_int),
    "ntk_kernel_logistic_loo": ([_h, _d, c_int64, _d], c_int),
    "ntk_kernel_logistic_log_marginal_likelihood": ([_h, _d], c_int),
    "ntk_kernel_logistic_latent_covariance": ([_h, c_int64, _d, c_int64, _d, _d], c_int),
    "ntk_kernel_logistic_free": ([_h], None),
    "ntk_features_ridge_options_init": ([_P(FeaturesRidgeOptions)], c_int),
    "ntk_features_ridge": ([c_int64, c_int64, c_int64, _d, c_int64, _d, c_int64, c_double, _P(FeaturesRidgeOptions),
                            _d, c_int64], c_int),
    "ntk_spectral_create": ([c_int64, _d, c_int64, c_int, PROGRESS_FN, c_void_p, _out], c_int),
    "ntk_spectral_info": ([_h, _i64, _d, _i64, _i64, _d], c_int),
    "ntk_spectral_eigenvalues": ([_h, _d], c_int),
    "ntk_spectral_predict": ([_h, _P(Targets), _P(Grid), _P(TestKernel), _d, _d], c_int),
    "ntk_spectral_dual_coefficients": ([_h, _P(Targets), _P(Grid), _d], c_int),
    "ntk_spectral_filters": ([_h, _P(Grid), c_int64, _d, _d, _d], c_int),
    "ntk_spectral_select_time": ([_h, _P(Targets), c_double, c_double, _d, _d], c_int),
    "ntk_spectral_select_ridge": ([_h, _P(Targets), c_int64, _d, c_int, _d, _i64], c_int),
    "ntk_spectral_max_learning_rate": ([_h, c_int64, _d, _d], c_int),
    "ntk_spectral_free": ([_h], None),
    "ntk_x_spectrum_regularize": ([c_int64, _d, c_int, _i64, _d], c_int),
    "ntk_x_spectrum_filter": ([_P(Spectrum), _P(Grid), c_int, _d, c_int64], c_int),
    "ntk_x_spectrum_gcv": ([_P(Spectrum), c_int64, _d, _d, _i64], c_int),
    "ntk_x_spectrum_loo_terms": ([_P(Spectrum), c_int64, _d, _d, c_int64, _d, c_int64], c_int),
    "ntk_x_spectrum_loo": ([_P(Spectrum), c_int64, _d, _d, c_int64, _d, c_int64, _d, _i64], c_int),
    "ntk_max_learning_rate": ([c_int64, _d, c_int64, c_int64, _d, _d, PROGRESS_FN, c_void_p], c_int),
    "ntk_mlp_options_init": ([_P(MLPOptions)], c_int),
    "ntk_mlp_create": ([c_int64, c_int64, _i64, c_int64, c_int, _P(MLPOptions), _out], c_int),
    "ntk_mlp_info": ([_h, _i64, _i64, _i64, _i64], c_int),
    "ntk_mlp_widths": ([_h, _i64], c_int),
    "ntk_mlp_get_parameters": ([_h, _d, c_int64], c_int),
    "ntk_mlp_set_parameters": ([_h, _d, c_int64], c_int),
    "ntk_mlp_forward": ([_h, c_int64, _d, c_int64, _d, c_int64], c_int),
    "ntk_mlp_jacobian": ([_h, c_int64, _d, c_int64, _d], c_int),
    "ntk_mlp_jacobian_f32": ([_h, c_int64, _f, c_int64, _f], c_int),
    "ntk_empirical_ntk_options_init": ([_P(EmpiricalNTKOptions)], c_int),
    "ntk_empirical_ntk": ([_h, c_int64, _d, c_int64, c_int64, _d, c_int64, c_int, _P(EmpiricalNTKOptions),
                           _d, c_int64], c_int),
    "ntk_empirical_ntk_f32": ([_h, c_int64, _f, c_int64, c_int64, _f, c_int64, c_int, _P(EmpiricalNTKOptions),
                               _f, c_int64], c_int),
    "ntk_empirical_ntk_diagonal": ([_h, c_int64, _d, c_int64, c_int, _d, c_int64], c_int),
    "ntk_jacobian_ntk": ([c_int64, c_int64, c_int64, c_int64, _d, _d, c_int, _d, c_int64, PROGRESS_FN, c_void_p],
                         c_int),
    "ntk_mlp_free": ([_h], None),
    "ntk_layer_init": ([_P(Layer), c_int], c_int),
    "ntk_network_options_init": ([_P(NetworkOptions)], c_int),
    "ntk_network_create": ([c_int64, _i64, c_int64, _P(Layer), _P(NetworkOptions), _out], c_int),
    "ntk_network_info": ([_h, _i64, _i64, _i64], c_int),
    "ntk_network_free": ([_h], None),
    "ntk_network_get_parameters": ([_h, _d, c_int64], c_int),
    "ntk_network_set_parameters": ([_h, _d, c_int64], c_int),
    "ntk_network_forward": ([_h, c_int64, _d, c_int64, _d, c_int64], c_int),
    "ntk_network_jacobian": ([_h, c_int64, _d, c_int64, _d], c_int),
    "ntk_network_empirical_ntk_diagonal": ([_h, c_int64, _d, c_int64, c_int, _d, c_int64], c_int),
    "ntk_network_empirical_ntk": ([_h, c_int64, _d, c_int64, c_int64, _d, c_int64, c_int, _P(EmpiricalNTKOptions),
                                   _d, c_int64], c_int),
    "ntk_network_infinite_width_kernels": ([_h, c_int64, _d, c_int64, c_int64, _d, c_int64, _P(InfiniteWidthOptions),
                                            _d, c_int64, _d, c_int64], c_int),
    "ntk_network_infinite_width_kernels_f32": ([_h, c_int64, _f, c_int64, c_int64, _f, c_int64,
                                                _P(InfiniteWidthOptions), _f, c_int64, _f, c_int64], c_int),
    "ntk_network_infinite_width_diagonal": ([_h, c_int64, _d, c_int64, _d, _d], c_int),
    "ntk_infinite_width_options_init": ([_P(InfiniteWidthOptions)], c_int),
    "ntk_infinite_width_kernels": ([_h, c_int64, _d, c_int64, c_int64, _d, c_int64, _P(InfiniteWidthOptions),
                                    _d, c_int64, _d, c_int64], c_int),
    "ntk_infinite_width_kernels_f32": ([_h, c_int64, _f, c_int64, c_int64, _f, c_int64, _P(InfiniteWidthOptions),
                                        _f, c_int64, _f, c_int64], c_int),
    "ntk_infinite_width_diagonal": ([_h, c_int64, _d, c_int64, _d, _d], c_int),
    "ntk_kernel_hyperparameters_init": ([_P(KernelHyperparameters)], c_int),
    "ntk_infinite_width_gradient": ([_h, c_int, c_int64, _d, c_int64, _P(KernelHyperparameters),
                                     _P(InfiniteWidthOptions), _d, c_int64, _d], c_int),
    "ntk_infinite_width_gradient_contract": ([_h, c_int, c_int64, _d, c_int64, _P(KernelHyperparameters), _d, c_int64,
                                              _P(InfiniteWidthOptions), _d], c_int),
    "ntk_kernel_objective_nystrom": ([_h, c_int, c_int64, _d, c_int64, _P(Points), _P(Targets),
                                      _P(KernelHyperparameters), _P(InfiniteWidthOptions), _d, _d], c_int),
    "ntk_kernel_objective": ([_h, c_int, c_int64, _d, c_int64, _P(Targets), _P(KernelHyperparameters), c_int,
                              _P(InfiniteWidthOptions), _d, _d], c_int),
    "ntk_mlp_loss_gradient": ([_h, c_int64, _d, c_int64, _d, c_int64, c_int, _d, _d], c_int),
    "ntk_train_options_init": ([_P(TrainOptions)], c_int),
    "ntk_mlp_train": ([_h, c_int64, _d, c_int64, _d, c_int64, c_int64, _P(TrainOptions), _d, _i64, _P(c_int)], c_int),
    "ntk_network_loss_gradient": ([_h, c_int64, _d, c_int64, _d, c_int64, c_int, _d, _d], c_int),
    "ntk_network_train": ([_h, c_int64, _d, c_int64, _d, c_int64, c_int64, _P(TrainOptions), _d, _i64, _P(c_int)],
                          c_int),
    "ntk_kernel_distance": ([c_int64, _d, _d, _d], c_int),
    "ntk_kernel_alignment": ([c_int64, c_int64, _d, c_int64, _d, c_int64, _d], c_int),
    "ntk_ode_options_init": ([_P(ODEOptions)], c_int),
    "ntk_ensemble_options_init": ([_P(EnsembleOptions)], c_int),
    "ntk_ensemble_gradient_flow": ([c_int64, _d, c_int64, _d, c_int64, _P(Targets), _P(EnsembleTest), c_int64, _d,
                                    _P(EnsembleOptions), _d, _d], c_int),
    "ntk_gp_options_init": ([_P(GPOptions)], c_int),
    "ntk_gp_posterior": ([c_int64, _d, c_int64, _P(Targets), _P(TestKernel), _d, c_int64, _P(GPOptions), _d, _d, _d],
                         c_int),
    "ntk_gradient_flow_ode": ([c_int64, _d, c_int64, _P(Targets), _P(TestKernel), c_int64, _d, c_int,
                               _P(ODEOptions), _d, _d], c_int),
    "ntk_set_memory_budget": ([c_int64], c_int),
    "ntk_memory_budget": ([_i64, _i64], c_int),
    "ntk_nystrom_options_init": ([_P(NystromOptions)], c_int),
    "ntk_nystrom_fit": ([_h, c_int64, _d, c_int64, _P(Targets), c_double, c_int64, _P(NystromOptions), _out], c_int),
    "ntk_nystrom_fit_centers": ([_h, c_int64, _d, c_int64, _P(Targets), c_double, c_int64, _d, c_int64,
                                 _P(NystromOptions), _out], c_int),
    "ntk_network_nystrom_fit": ([_h, c_int64, _d, c_int64, _P(Targets), c_double, c_int64, _P(NystromOptions), _out],
                                c_int),
    "ntk_network_nystrom_fit_centers": ([_h, c_int64, _d, c_int64, _P(Targets), c_double, c_int64, _d, c_int64,
                                         _P(NystromOptions), _out], c_int),
    "ntk_nystrom_fit_kernel": ([c_int64, c_int64, _d, c_int64, _d, c_int64, _P(Targets), c_double, _P(NystromOptions),
                                _out], c_int),
    "ntk_nystrom_predict": ([_h, _P(NystromTest), _d, c_int64, PROGRESS_FN, c_void_p], c_int),
    "ntk_nystrom_path": ([_h, _P(NystromTest), _P(Grid), _d, PROGRESS_FN, c_void_p], c_int),
    "ntk_nystrom_path_coefficients": ([_h, _P(Grid), _d], c_int),
    "ntk_nystrom_select_ridge": ([_h, c_int64, _d, _d, _i64], c_int),
    "ntk_nystrom_info": ([_h, _i64, _i64, _i64, _i64, _d, _P(c_int), _d], c_int),
    "ntk_nystrom_residuals": ([_h, _d], c_int),
    "ntk_nystrom_centers": ([_h, _i64], c_int),
    "ntk_nystrom_coefficients": ([_h, _d, c_int64], c_int),
    "ntk_nystrom_eigenvalues": ([_h, _d], c_int),
    "ntk_nystrom_free": ([_h], None),
    "ntk_empirical_solver_options_init": ([_P(EmpiricalSolverOptions)], c_int),
    "ntk_empirical_ridge_fit": ([_h, c_int64, _d, c_int64, _P(Targets), c_double, _P(EmpiricalSolverOptions), _out],
                                c_int),
    "ntk_empirical_ridge_predict": ([_h, _P(Points), _d, c_int64, PROGRESS_FN, c_void_p], c_int),
    "ntk_empirical_ridge_info": ([_h, _i64, _i64, _i64, _d, _P(c_int)], c_int),
    "ntk_empirical_ridge_residuals": ([_h, _d], c_int),
    "ntk_empirical_ridge_dual_coefficients": ([_h, _d, c_int64], c_int),
    "ntk_empirical_ridge_free": ([_h], None),
    "ntk_empirical_gradient_flow": ([_h, c_int64, _d, c_int64, _P(Targets), c_int64, _d, _P(Points),
                                     _P(EmpiricalSolverOptions), _d, _d, _d], c_int),
    "ntk_network_ridge_fit": ([_h, c_int64, _d, c_int64, _P(Targets), c_double, _P(EmpiricalSolverOptions), _out],
                              c_int),
    "ntk_network_gradient_flow": ([_h, c_int64, _d, c_int64, _P(Targets), c_int64, _d, _P(Points),
                                   _P(EmpiricalSolverOptions), _d, _d, _d], c_int),
    "ntk_model_callbacks_init": ([_P(ModelCallbacks)], c_int),
    "ntk_model_create": ([_P(ModelCallbacks), _out], c_int),
    "ntk_model_info": ([_h, _i64, _i64], c_int),
    "ntk_model_forward": ([_h, c_int64, _i64, _d, c_int64], c_int),
    "ntk_model_free": ([_h], None),
    "ntk_model_empirical_ntk": ([_h, c_int64, _i64, c_int64, _i64, c_int, _P(EmpiricalNTKOptions), _d, c_int64], c_int),
    "ntk_model_empirical_ntk_diagonal": ([_h, c_int64, _i64, c_int, _d, c_int64], c_int),
    "ntk_model_ridge_fit": ([_h, c_int64, _i64, _P(Targets), c_double, _P(EmpiricalSolverOptions), _out], c_int),
    "ntk_empirical_ridge_predict_rows": ([_h, _P(Rows), _d, c_int64, PROGRESS_FN, c_void_p], c_int),
    "ntk_model_gradient_flow": ([_h, c_int64, _i64, _P(Targets), c_int64, _d, _P(Rows), _P(EmpiricalSolverOptions),
                                 _d, _d, _d], c_int),
    "ntk_live_handle_count": ([], c_int64),
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


# OpenBLAS's idle threads spin (sched_yield) for 2**OPENBLAS_THREAD_TIMEOUT cycles after each call
# before they sleep: 2**28 by default, about 0.1 s. libntk alternates BLAS calls with its own
# threaded loops (kernel tiles, elementwise passes), and a spinning thread takes a core from them.
# 2**16 cycles (tens of microseconds), benchmarks/bench_blas_spin.py on 2 cores: training epochs
# 1.59x faster, a Nystrom fit 1.28x, the empirical NTK 1.35x (float32 1.16x), infinite-width
# kernels 1.21x, kernel ridge (LAPACK alone) 0.95x; 2**12 and 2**20 did no better.
THREAD_TIMEOUT = "16"


def _shorten_openblas_spin():
    """Sets OPENBLAS_THREAD_TIMEOUT (see THREAD_TIMEOUT) unless the user chose one. Read once,
    when OpenBLAS loads, so it must be set before libntk.so is loaded; numpy's own OpenBLAS,
    already loaded, keeps its setting."""
    os.environ.setdefault("OPENBLAS_THREAD_TIMEOUT", THREAD_TIMEOUT)


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
    _shorten_openblas_spin()
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


def declare(library, signatures):
    """Sets ``argtypes`` and ``restype`` of every function of ``signatures`` on ``library``."""
    for name, (args, res) in signatures.items():
        function = getattr(library, name)
        function.argtypes, function.restype = args, res


lib, path = _load()
declare(lib, _SIGNATURES)

_number = lib.ntk_version_number()
if (_number // 10000, _number // 100 % 100 if EXPECTED_VERSION[0] == 0 else 0) != (
        EXPECTED_VERSION[0], EXPECTED_VERSION[1] if EXPECTED_VERSION[0] == 0 else 0):
    raise LibraryNotFoundError(
        f"{path} is libntk {lib.ntk_version_string().decode()}, but this package needs version "
        f"{EXPECTED_VERSION[0]}.{EXPECTED_VERSION[1]}; rebuild the library or reinstall the package from the "
        "same checkout")


#: C argument names in library messages and what the Python functions call them.
_PYTHON_NAMES = [("targets->Y", "Y"), ("targets->f0", "f0_train"), ("targets->k", "Y"),
                 ("test->K_test_train", "K_test_train"),
                 ("test->f0", "f0_test"), ("test->m", "K_test_train"), ("options->ridge_scale", "ridge_relative"),
                 ("options->activation_parameter", "leaky_slope"), ("options->w_std", "W_std"),
                 ("options->b_std", "b_std"), ("options->precision", "dtype (as a precision, 0: float64, 1: float32)"),
                 ("options->", "")]


def python_entry_point():
    """The public ntk function or method the user called: the outermost frame of this package."""
    frame, entry = sys._getframe(1), None
    while frame is not None:
        module = frame.f_globals.get("__name__", "")
        if module == "ntk" or module.startswith("ntk."):
            entry = frame
        elif entry is not None:
            break
        frame = frame.f_back
    if entry is None:
        return None
    name = getattr(entry.f_code, "co_qualname", entry.f_code.co_name).replace(".__init__", "")
    module = entry.f_globals["__name__"]
    return f"{module}.{name}" if module in ("ntk.sklearn", "ntk.distributed") else f"ntk.{name}"


def python_message(message):
    """A library message in Python's terms: the Python function instead of the C one
    ("ntk.gram: A (row 2, column 1) is nan" for "ntk_gram: ..."), Python argument names."""
    head, sep, rest = message.partition(": ")
    if not (sep and head.startswith("ntk_")):
        return message
    for c_name, py_name in _PYTHON_NAMES:
        rest = rest.replace(c_name, py_name)
    entry = python_entry_point()
    return f"{entry}: {rest}" if entry else rest


def raise_for_status(status, last_error=None):
    """Raises the exception for a non-zero status with this thread's library message, in the
    terms of the Python function that was called (the C text stays in ``c_message``).
    ``last_error`` reads the message (default: ``ntk_last_error``; libntk_mpi's for
    ``ntk.distributed``)."""
    if status == 0:
        return
    message = (last_error or lib.ntk_last_error)().decode("utf-8", errors="replace")
    error = STATUS_ERRORS.get(status, InternalError)(python_message(message) if message else f"status {status}", status)
    error.c_message = message
    raise error


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
