"""ntk — Neural Tangent Kernels on libntk (Swift, BLAS/LAPACK), from Python.

The package binds the C library ``libntk.so`` with ctypes; see the repository README for how
the library is found. Arrays are numpy arrays; float64 row-major input is passed without a copy.

Errors raise subclasses of :class:`ntk.NTKError` with the library's message; bad arguments are
also ``ValueError`` s.
"""

__version__ = "0.2.0"

from .errors import (  # noqa: E402
    CallbackError,
    CancelledError,
    ConvergenceWarning,
    DimensionMismatchError,
    InternalError,
    InvalidArgumentError,
    InvalidHandleError,
    LibraryNotFoundError,
    NonFiniteError,
    NotPositiveDefiniteError,
    NTKError,
    NumericalError,
    OutOfMemoryError,
    TooLargeError,
)
from .linalg import CholeskyFactor, cholesky_solve, eigh, eigvalsh, gram  # noqa: E402
from .network import ACTIVATIONS, MLP, Network  # noqa: E402
from . import layers  # noqa: E402
from .kernels import (  # noqa: E402
    empirical_ntk,
    empirical_ntk_diagonal,
    infinite_width_diagonal,
    infinite_width_kernels,
    infinite_width_nngp,
    infinite_width_ntk,
    jacobian_ntk,
)
from .regression import (  # noqa: E402
    KernelRidge,
    RidgeSelection,
    SpectralSolver,
    TimeSelection,
    features_ridge,
    gradient_flow,
    kernel_ridge,
    max_learning_rate,
    ridge_path,
    select_ridge,
)
from .training import (  # noqa: E402
    LOSSES,
    TrainingHistory,
    after_kernel_predictions,
    gradient_flow_ode,
    kernel_alignment,
    kernel_distance,
    linearization_gap,
    loss_and_gradient,
    train,
)
from .ensembles import SampledEnsemble, ensemble_gradient_flow, gp_posterior, sampled_ensemble  # noqa: E402
from .classification import KernelLogisticRegression, LeaveOneOut, log_softmax, softmax  # noqa: E402
from .large_scale import EmpiricalNTKRidge, NystromRidge, empirical_gradient_flow, nystrom_ridge  # noqa: E402
from . import models  # noqa: E402
from .tuning import (  # noqa: E402
    KernelTuning,
    infinite_width_gradient,
    infinite_width_gradient_contract,
    kernel_objective,
    tune_kernel,
)
from .runtime import (  # noqa: E402
    blas_info,
    library_path,
    live_handle_count,
    memory_budget,
    set_memory_budget,
    set_num_threads,
    version,
)

__all__ = [
    "__version__", "version", "library_path", "blas_info", "set_num_threads", "live_handle_count",
    "memory_budget", "set_memory_budget",
    "gram", "cholesky_solve", "CholeskyFactor", "eigh", "eigvalsh",
    "kernel_ridge", "KernelRidge", "features_ridge", "SpectralSolver", "gradient_flow", "ridge_path",
    "select_ridge", "RidgeSelection", "TimeSelection", "max_learning_rate",
    "MLP", "Network", "layers", "ACTIVATIONS", "empirical_ntk", "empirical_ntk_diagonal", "jacobian_ntk",
    "infinite_width_kernels", "infinite_width_ntk", "infinite_width_nngp", "infinite_width_diagonal",
    "train", "TrainingHistory", "LOSSES", "loss_and_gradient", "gradient_flow_ode", "kernel_distance",
    "kernel_alignment", "after_kernel_predictions", "linearization_gap",
    "ensemble_gradient_flow", "gp_posterior", "sampled_ensemble", "SampledEnsemble",
    "KernelLogisticRegression", "LeaveOneOut", "softmax", "log_softmax",
    "NystromRidge", "nystrom_ridge", "EmpiricalNTKRidge", "empirical_gradient_flow", "ConvergenceWarning", "models",
    "infinite_width_gradient", "infinite_width_gradient_contract", "kernel_objective", "tune_kernel", "KernelTuning",
    "NTKError", "LibraryNotFoundError", "InvalidArgumentError", "DimensionMismatchError",
    "NonFiniteError", "TooLargeError", "InvalidHandleError", "NotPositiveDefiniteError",
    "NumericalError", "OutOfMemoryError", "CancelledError", "InternalError", "CallbackError",
]
