"""Kernels of networks: the empirical NTK of an MLP (eq. 4, 11 in docs/equations.md), the tangent kernel
of any model from its Jacobian, and the infinite-width NNGP and NTK of the same architectures.

Conventions (as neural-tangents): the empirical NTK sums ``df(x)/dtheta . df(x')/dtheta`` over all
weights and biases, with no division by width or n; with k outputs the default is the mean over
outputs of the per-output kernels.
"""

import ctypes

import numpy as np

from . import _arrays
from ._library import EmpiricalNTKOptions, InfiniteWidthOptions, call, choices, lib
from ._progress import Callback
from .errors import DimensionMismatchError, InvalidArgumentError
from .models import Binding, is_model, rows_pointer
from .network import MLP, Network, c_function

_OUTPUTS = choices("ntk_output_form", "NTK_OUTPUT_")
_METHODS = choices("ntk_kernel_method", "NTK_METHOD_")

_choice, _int = _arrays.choice, _arrays.integer


def _pair(net, X1, X2, dtype=np.float64):
    """Validated inputs X1 and X2 (NULL when absent: the symmetric kernel) and n2."""
    first = net._inputs(X1, "X1", dtype)
    if X2 is None:
        return first, (None, _arrays.null(dtype), 1), first[0].shape[0]
    second = net._inputs(X2, "X2", dtype)
    return first, second, second[0].shape[0]


def _kernel_shape(n1, n2, k, output):
    return {"mean": (n1, n2), "per_output": (n1, n2, k), "full": (n1, n2, k, k)}[output]


def empirical_ntk(net, X1, X2=None, output="mean", method="structured", memory_limit=None, progress=None,
                  dtype=np.float64):
    """The empirical NTK of ``net`` between the rows of X1 and X2 (eq. 4, 11).

    Parameters
    ----------
    net : MLP, Network or ntk.models.Model
        A model (:mod:`ntk.models`) gives its tangent kernel from its Jacobian products; a
        Network's kernel is the Jacobian contraction of memory-bounded blocks of rows (its
        Jacobian by backpropagation; "vector_products" is accepted as for models).
    X1 : array_like, (n1, d)
        For a model: whatever it takes, one sample per row (n1, ...).
    X2 : array_like, (n2, d), optional
        Omitted: the symmetric kernel of X1 (computed once per pair, exactly symmetric).
    output : "mean" (n1, n2), "per_output" (n1, n2, k) or "full" (n1, n2, k, k)
    method : "structured" (default: per-layer activation Gram times signal Gram, never forming
        the Jacobian) or "jacobian" (explicit Jacobian chunks; the reference). For a model,
        "structured" and "jacobian" are Jacobian contraction (Jacobian rows in blocks, a GEMM per
        block pair) and "vector_products" pushes X2's Jacobian rows through ``jvp`` over X1.
    memory_limit : int, optional
        Bytes for per-sample activations and signals (for a model: Jacobian blocks; default:
        the memory budget); beyond it, blocks of samples are recomputed instead of stored.
    progress : callable, optional
    dtype : numpy.float64 (default) or numpy.float32
        float32 (an MLP only): inputs rounded to float32 and the whole computation in single
        precision (SGEMM), a float32 kernel, about twice as fast; it agrees with the float64
        kernel to about 1e-6 of its largest entry (docs/conventions.md). Keep float64 for kernels
        that are factorised or eigendecomposed when they are ill-conditioned.
    """
    form = _choice(output, _OUTPUTS, "output")
    single = _single(net, dtype)
    if is_model(net):
        return _model_kernel(net, X1, X2, form, output, _choice(method, _METHODS, "method"),
                             _memory_limit(memory_limit), progress)
    if not isinstance(net, (MLP, Network)):
        raise InvalidArgumentError(f"net must be an ntk.MLP, ntk.Network or ntk.models.Model, got {type(net).__name__}")
    (x1, p1, ld1), (x2, p2, ld2), n2 = _pair(net, X1, X2, np.float32 if single else np.float64)
    n1 = x1.shape[0]
    limit = _memory_limit(memory_limit)
    out = np.empty(_kernel_shape(n1, n2, net.output_dim, output), dtype=np.float32 if single else np.float64)
    cb = Callback(progress)
    options = EmpiricalNTKOptions(method=_choice(method, _METHODS, "method"), memory_limit=limit,
                                  progress=cb.c_function)
    if single:
        function = lib.ntk_empirical_ntk_f32
    else:
        function = lib.ntk_network_empirical_ntk if isinstance(net, Network) else lib.ntk_empirical_ntk
    cb.call(function, net._live(), n1, p1, ld1, n2, p2, ld2, form, ctypes.byref(options),
            _arrays.pointer(out), _row_length(out))
    return out


def _single(net, dtype, kinds=(MLP,)):
    """Whether ``dtype`` asks for single precision, which only the given kinds of net have."""
    single = _arrays.precision(dtype) == np.float32
    if single and not isinstance(net, kinds):
        names = " or ".join(f"an ntk.{kind.__name__}" for kind in kinds)
        raise InvalidArgumentError(f"dtype=float32 is available for {names}, not for {type(net).__name__}; "
                                   "use float64")
    return single


def _memory_limit(memory_limit):
    """0 (the budget) for None, else a positive number of bytes."""
    limit = 0 if memory_limit is None else _int(memory_limit, "memory_limit")
    if memory_limit is not None and limit <= 0:
        raise InvalidArgumentError(f"memory_limit must be > 0 bytes, got {memory_limit}")
    return limit


def _model_kernel(model, X1, X2, form, output, method, limit, progress):
    """ntk_model_empirical_ntk on X1 (and X2) as rows of one index space."""
    binding = Binding(model, X1)
    with binding:
        rows1 = binding.add(X1, "X1")
        rows2 = None if X2 is None else binding.add(X2, "X2")
        n1, n2 = len(rows1), len(rows1 if rows2 is None else rows2)
        out = np.empty(_kernel_shape(n1, n2, model.output_dim, output))
        cb = Callback(progress)
        options = EmpiricalNTKOptions(method=method, memory_limit=limit, progress=cb.c_function)
        binding.run(cb, lib.ntk_model_empirical_ntk, binding._live(), n1, rows_pointer(rows1), n2,
                    rows_pointer(rows2), form, ctypes.byref(options), _arrays.pointer(out), _row_length(out))
    return out


def _row_length(kernel):
    """The leading dimension of a contiguous kernel array (n1, n2, ...): one row's entries."""
    return max(kernel.size // max(kernel.shape[0], 1), 1)


def empirical_ntk_diagonal(net, X, output="mean"):
    """``K(x, x)`` for each row of X, without the rest of the kernel.

    Parameters
    ----------
    net : MLP, Network or ntk.models.Model
    X : array_like, (n, d), or (n, *input_shape) for a Network
    output : "mean" (default) or "per_output"

    Returns
    -------
    numpy.ndarray, (n,) for "mean" or (n, k) for "per_output"
    """
    if output not in ("mean", "per_output"):
        raise InvalidArgumentError(f"output must be 'mean' or 'per_output', got {output!r}")
    if is_model(net):
        binding = Binding(net, X)
        with binding:
            rows = binding.add(X)
            k = net.output_dim
            out = np.empty((len(rows),) if output == "mean" else (len(rows), k))
            binding.run(Callback(None), lib.ntk_model_empirical_ntk_diagonal, binding._live(), len(rows),
                        rows_pointer(rows), _OUTPUTS[output], _arrays.pointer(out), 1 if output == "mean" else k)
        return out
    if not isinstance(net, (MLP, Network)):
        raise InvalidArgumentError(f"net must be an ntk.MLP, ntk.Network or ntk.models.Model, got "
                                   f"{type(net).__name__}")
    function = c_function(net, "ntk_empirical_ntk_diagonal", "ntk_network_empirical_ntk_diagonal")
    x, px, ldx = net._inputs(X)
    out = np.empty((x.shape[0],) if output == "mean" else (x.shape[0], net.output_dim))
    call(function, net._live(), x.shape[0], px, ldx, _OUTPUTS[output], _arrays.pointer(out),
         1 if output == "mean" else max(net.output_dim, 1))
    return out


def _jacobian_array(J, name):
    try:
        j = np.asarray(J)
    except ValueError as e:
        raise InvalidArgumentError(f"{name} is not a rectangular array: {e}") from None
    if j.dtype.kind not in "biuf":
        raise InvalidArgumentError(f"{name} must hold real numbers, got dtype {j.dtype}")
    if j.ndim == 2:
        j = j[:, None, :]
    if j.ndim != 3:
        raise DimensionMismatchError(f"{name} must have shape (n, P) or (n, k, P), got {j.shape}")
    return np.ascontiguousarray(j, dtype=np.float64)


def jacobian_ntk(J1, J2=None, output="mean", progress=None):
    """The tangent kernel of any model from its Jacobians (eq. 4).

    Parameters
    ----------
    J1 : array_like, (n1, P) or (n1, k, P)
        The Jacobian of the model's outputs at n1 points with respect to its P parameters.
    J2 : array_like, (n2, P) or (n2, k, P), optional
        Omitted: J1's own kernel.
    output : "mean" (default), "per_output" or "full"
        As :func:`empirical_ntk`.
    progress : True or callable, optional

    Returns
    -------
    numpy.ndarray
        The mean over outputs ``(1/k) sum_c J1[:, c] J2[:, c].T``, (n1, n2); "per_output"
        (n1, n2, k); "full" (n1, n2, k, k).
    """
    j1 = _jacobian_array(J1, "J1")
    n1, k, p = j1.shape
    if J2 is None:
        j2, n2 = None, n1
    else:
        j2 = _jacobian_array(J2, "J2")
        if j2.shape[1:] != (k, p):
            raise DimensionMismatchError(f"J2 must have shape (n2, {k}, {p}) like J1, got {j2.shape}")
        n2 = j2.shape[0]
    out = np.empty(_kernel_shape(n1, n2, k, output))
    cb = Callback(progress)
    cb.call(lib.ntk_jacobian_ntk, n1, n2, k, p, _arrays.pointer(j1),
            _arrays.NULL if j2 is None else _arrays.pointer(j2),
            _choice(output, _OUTPUTS, "output"), _arrays.pointer(out), _row_length(out),
            cb.c_function, None)
    return out


def infinite_width_kernels(net, X1, X2=None, quadrature_points=None, progress=None, dtype=np.float64):
    """The infinite-width NNGP and NTK of ``net``'s architecture.

    Only the architecture is used (depth, activation, W_std, b_std, bias, parameterization); in the
    NTK parameterization widths do not matter, so ``ntk.MLP(d, [1] * depth, ...)`` is a cheap
    description. In the standard parameterization the NTK grows with width and the network's actual
    widths are used. relu, leaky_relu, abs, erf, gelu, sin and identity use closed forms (exact to
    rounding); tanh, sigmoid and softplus the normal scale mixture of the logistic,
    ``tanh(x) = E_K[erf(x / (K sqrt 2))]`` with K Kolmogorov-distributed, integrated by a Gaussian
    rule. The accuracy does not degrade with the input scale (see docs/conventions.md).

    Parameters
    ----------
    net : MLP or Network
        A Network's kernels follow its layers (the CNTK for convolutions; docs/architectures.md).
    X1 : array_like, (n1, d)
        For a Network also (n1, *input_shape).
    X2 : array_like, (n2, d), optional
        Omitted: X1's own kernels, exactly symmetric.
    quadrature_points : int, optional
        Points per variable of the rule for tanh, sigmoid and softplus: None (default) chooses them
        from each pre-activation variance for ~1e-12 relative accuracy; 1...64 fixes the number
        (fewer are faster and less accurate).
    progress : True or callable, optional
    dtype : numpy.float64 (default) or numpy.float32
        float32: inputs rounded to float32, the input Gram, the dense updates, a Network's
        position-pair tensors and window sums, and the closed forms (relu family, erf, gelu) in
        single precision, eight entries at a time; float32 kernels, about twice as fast. They
        agree with float64 to about 1e-6 of the largest entry, except for pairs of nearly
        parallel inputs, where the relu family's NTK can be off by up to ~3e-4 (the arccosine's
        slope at correlation 1; measured in docs/conventions.md and docs/architectures.md).

    Returns
    -------
    nngp : numpy.ndarray, (n1, n2)
    ntk : numpy.ndarray, (n1, n2)
    """
    return _infinite(net, X1, X2, True, True, quadrature_points, progress, dtype)


def infinite_width_ntk(net, X1, X2=None, quadrature_points=None, progress=None, dtype=np.float64):
    """The infinite-width NTK Theta(X1, X2) alone.

    Parameters
    ----------
    net, X1, X2, quadrature_points, progress, dtype
        As :func:`infinite_width_kernels`.

    Returns
    -------
    numpy.ndarray, (n1, n2)
    """
    return _infinite(net, X1, X2, False, True, quadrature_points, progress, dtype)[1]


def infinite_width_nngp(net, X1, X2=None, quadrature_points=None, progress=None, dtype=np.float64):
    """The infinite-width NNGP Sigma(X1, X2) alone.

    Parameters
    ----------
    net, X1, X2, quadrature_points, progress, dtype
        As :func:`infinite_width_kernels`.

    Returns
    -------
    numpy.ndarray, (n1, n2)
    """
    return _infinite(net, X1, X2, True, False, quadrature_points, progress, dtype)[0]


def infinite_width_diagonal(net, X):
    """``(Sigma(x, x), Theta(x, x))`` for each row of X, without the rest of the kernels.

    Parameters
    ----------
    net : MLP or Network
    X : array_like, (n, d)

    Returns
    -------
    nngp : numpy.ndarray, (n,)
    ntk : numpy.ndarray, (n,)
    """
    function = _infinite_function(net, "infinite_width_diagonal")
    x, px, ldx = net._inputs(X)
    nngp, ntk_ = np.empty(x.shape[0]), np.empty(x.shape[0])
    call(function, net._live(), x.shape[0], px, ldx, _arrays.pointer(nngp), _arrays.pointer(ntk_))
    return nngp, ntk_


def _infinite_function(net, name):
    """The C function ``ntk_<name>`` of an MLP or ``ntk_network_<name>`` of a Network."""
    return c_function(net, "ntk_" + name, "ntk_network_" + name)


def _infinite(net, X1, X2, want_nngp, want_ntk, quadrature_points, progress, dtype=np.float64):
    single = _single(net, dtype, (MLP, Network))
    function = getattr(lib, _infinite_function(net, "infinite_width_kernels") + ("_f32" if single else ""))
    precision = np.float32 if single else np.float64
    (x1, p1, ld1), (x2, p2, ld2), n2 = _pair(net, X1, X2, precision)
    n1 = x1.shape[0]
    points = 0 if quadrature_points is None else _int(quadrature_points, "quadrature_points")
    if quadrature_points is not None and not 1 <= points <= 64:
        raise InvalidArgumentError(f"quadrature_points must be in 1...64 (None: automatic), got {quadrature_points}")
    nngp = np.empty((n1, n2), dtype=precision) if want_nngp else None
    ntk_ = np.empty((n1, n2), dtype=precision) if want_ntk else None
    cb = Callback(progress)
    options = InfiniteWidthOptions(quadrature_points=points, progress=cb.c_function)
    cb.call(function, net._live(), n1, p1, ld1, n2, p2, ld2, ctypes.byref(options),
            _arrays.null(precision) if nngp is None else _arrays.pointer(nngp), max(n2, 1),
            _arrays.null(precision) if ntk_ is None else _arrays.pointer(ntk_), max(n2, 1))
    return nngp, ntk_
