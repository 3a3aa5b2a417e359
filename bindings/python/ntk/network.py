"""Dense networks (MLPs) and their empirical neural tangent kernel (eq. 1-5, 11 of the notes).

Conventions (as neural-tangents): NTK parameterization ``z = (W_std/sqrt(fan_in)) h W + b_std b``
with ``W, b ~ N(0, 1)``, or standard ``z = h W + b`` with ``W ~ N(0, W_std^2/fan_in)``,
``b ~ N(0, b_std^2)``; the empirical NTK sums ``df(x)/dtheta . df(x')/dtheta`` over all weights
and biases, with no division by width or n.
"""

import ctypes

import numpy as np

from . import _arrays
from ._handle import Handle
from ._library import EmpiricalNTKOptions, InfiniteWidthOptions, MLPOptions, call, choices, lib
from ._progress import Callback
from .errors import DimensionMismatchError, InvalidArgumentError

#: The activations by name, with their values of the C enum ``ntk_activation``.
ACTIVATIONS = choices("ntk_activation", "NTK_ACTIVATION_")
_PARAMETERIZATIONS = choices("ntk_parameterization", "NTK_PARAMETERIZATION_")
_OUTPUTS = choices("ntk_output_form", "NTK_OUTPUT_")
_METHODS = choices("ntk_kernel_method", "NTK_METHOD_")


_choice, _int = _arrays.choice, _arrays.integer


class MLP(Handle):
    """A dense network ``f: R^d -> R^k`` with its parameters, living in libntk.

    Parameters
    ----------
    input_dim : int
    widths : sequence of int
        Hidden layer widths; ``[]`` is a linear model.
    output_dim : int
    activation : str
        One of ``ntk.ACTIVATIONS``: relu, leaky_relu, abs, tanh, erf, sigmoid, gelu (exact),
        softplus, sin, identity.
    W_std, b_std : float
    parameterization : "ntk" or "standard"
    bias : bool
    seed : int
        Initial parameters come from a documented generator (see ``include/ntk.h``).
    leaky_slope : float
        The slope of leaky_relu for negative inputs.

    Parameters are laid out ``[W0 (fan_in, fan_out), b0 (fan_out,), W1, b1, ...]`` (biases
    absent without ``bias``); ``parameters`` returns copies, ``set_parameters`` loads weights
    trained elsewhere (PyTorch's ``Linear.weight`` is ``W.T``).
    """

    _free = "ntk_mlp_free"

    def __init__(self, input_dim, widths, output_dim=1, activation="relu", W_std=1.0, b_std=0.0,
                 parameterization="ntk", bias=True, seed=0, leaky_slope=0.01):
        widths = [_int(w, "widths[i]") for w in widths]
        seed = _int(seed, "seed")
        if seed < 0:
            seed &= 2**64 - 1
        w_array = (ctypes.c_int64 * max(len(widths), 1))(*widths)
        handle = ctypes.c_void_p()
        options = MLPOptions(activation_parameter=_arrays.scalar(leaky_slope, "leaky_slope"),
                             w_std=_arrays.scalar(W_std, "W_std"), b_std=_arrays.scalar(b_std, "b_std"),
                             bias=1 if bias else 0,
                             parameterization=_choice(parameterization, _PARAMETERIZATIONS, "parameterization"), seed=seed)
        call("ntk_mlp_create", _int(input_dim, "input_dim"), len(widths), w_array, _int(output_dim, "output_dim"),
             _choice(activation, ACTIVATIONS, "activation"), ctypes.byref(options), ctypes.byref(handle))
        self._handle = handle
        self.input_dim, self.widths, self.output_dim = int(input_dim), list(widths), int(output_dim)
        self.activation, self.W_std, self.b_std = activation, float(W_std), float(b_std)
        self.parameterization, self.bias, self.seed = parameterization, bool(bias), seed
        self.leaky_slope = float(leaky_slope)
        count = ctypes.c_int64()
        call("ntk_mlp_info", handle, None, None, None, ctypes.byref(count))
        self.num_parameters = count.value
        sizes = [self.input_dim, *self.widths, self.output_dim]
        self.parameter_shapes = []
        for fan_in, fan_out in zip(sizes[:-1], sizes[1:]):
            self.parameter_shapes.append((fan_in, fan_out))
            if self.bias:
                self.parameter_shapes.append((fan_out,))

    @property
    def flat_parameters(self):
        """theta as one vector of length ``num_parameters`` (a copy)."""
        theta = np.empty(self.num_parameters)
        call("ntk_mlp_get_parameters", self._live(), _arrays.pointer(theta), self.num_parameters)
        return theta

    def set_flat_parameters(self, theta):
        """Loads theta from one vector of length ``num_parameters``."""
        t, pt = _arrays.vector(theta, "theta")
        if t.shape != (self.num_parameters,):
            raise DimensionMismatchError(f"theta must have {self.num_parameters} entries, got {t.shape}")
        call("ntk_mlp_set_parameters", self._live(), pt, self.num_parameters)

    @property
    def parameters(self):
        """List of arrays ``[W0, b0, W1, b1, ...]`` (copies) in the layout above."""
        theta, arrays, offset = self.flat_parameters, [], 0
        for shape in self.parameter_shapes:
            size = int(np.prod(shape))
            arrays.append(theta[offset:offset + size].reshape(shape).copy())
            offset += size
        return arrays

    def set_parameters(self, arrays):
        """Loads ``[W0, b0, W1, b1, ...]``; every shape is checked."""
        arrays = list(arrays)
        if len(arrays) != len(self.parameter_shapes):
            raise DimensionMismatchError(f"expected {len(self.parameter_shapes)} arrays, got {len(arrays)}")
        parts = []
        for i, (a, shape) in enumerate(zip(arrays, self.parameter_shapes)):
            a = np.asarray(a, dtype=np.float64)
            if a.shape != shape:
                raise DimensionMismatchError(f"parameter {i} must have shape {shape}, got {a.shape}")
            parts.append(a.ravel())
        self.set_flat_parameters(np.concatenate(parts) if parts else np.empty(0))

    def _inputs(self, X, name="X"):
        x, px, ldx, _ = _arrays.matrix(X, name)
        if x.shape[1] != self.input_dim:
            raise DimensionMismatchError(f"{name} must have {self.input_dim} columns, got shape {x.shape}")
        return x, px, ldx

    def __call__(self, X):
        """``f(X)``, shape (n, k)."""
        x, px, ldx = self._inputs(X)
        out, pout = _arrays.output(x.shape[0], self.output_dim)
        call("ntk_mlp_forward", self._live(), x.shape[0], px, ldx, pout, self.output_dim)
        return out

    def jacobian(self, X):
        """``df(X)/dtheta``, shape (n, k, P), in the flat parameter layout."""
        x, px, ldx = self._inputs(X)
        jac = np.empty((x.shape[0], self.output_dim, self.num_parameters))
        call("ntk_mlp_jacobian", self._live(), x.shape[0], px, ldx, _arrays.pointer(jac))
        return jac

    def _architecture(self):
        """The constructor's arguments (seed included) as a dict."""
        return {"input_dim": self.input_dim, "widths": list(self.widths), "output_dim": self.output_dim,
                "activation": self.activation, "W_std": self.W_std, "b_std": self.b_std,
                "parameterization": self.parameterization, "bias": self.bias, "seed": self.seed,
                "leaky_slope": self.leaky_slope}

    def copy(self):
        """A new MLP with the same architecture and a copy of the current parameters."""
        other = MLP(**self._architecture())
        other.set_flat_parameters(self.flat_parameters)
        return other

    def __reduce__(self):
        """Pickling (and ``copy.deepcopy``) saves the architecture and the current parameters."""
        return (_restore_mlp, (self._architecture(), self.flat_parameters))

    def __repr__(self):
        return (f"MLP(input_dim={self.input_dim}, widths={self.widths}, output_dim={self.output_dim}, "
                f"activation={self.activation!r}, W_std={self.W_std}, b_std={self.b_std}, "
                f"parameterization={self.parameterization!r}, bias={self.bias})")


def _restore_mlp(architecture, theta):
    net = MLP(**architecture)
    net.set_flat_parameters(theta)
    return net


def _pair(net, X1, X2):
    """Validated inputs X1 and X2 (NULL when absent: the symmetric kernel) and n2."""
    first = net._inputs(X1, "X1")
    if X2 is None:
        return first, (None, _arrays.NULL, 1), first[0].shape[0]
    second = net._inputs(X2, "X2")
    return first, second, second[0].shape[0]


def _kernel_shape(n1, n2, k, output):
    return {"mean": (n1, n2), "per_output": (n1, n2, k), "full": (n1, n2, k, k)}[output]


def empirical_ntk(net, X1, X2=None, output="mean", method="structured", memory_limit=None, progress=None):
    """The empirical NTK of ``net`` between the rows of X1 and X2 (eq. 4, 11).

    Parameters
    ----------
    net : MLP
    X1 : array_like, (n1, d)
    X2 : array_like, (n2, d), optional
        Omitted: the symmetric kernel of X1 (computed once per pair, exactly symmetric).
    output : "mean" (n1, n2), "per_output" (n1, n2, k) or "full" (n1, n2, k, k)
    method : "structured" (default: per-layer activation Gram times signal Gram, never forming
        the Jacobian) or "jacobian" (explicit Jacobian chunks; the reference)
    memory_limit : int, optional
        Bytes for per-sample activations and signals (default 64 MiB); beyond it, blocks of
        samples are recomputed instead of stored.
    progress : callable, optional
    """
    if not isinstance(net, MLP):
        raise InvalidArgumentError(f"net must be an ntk.MLP, got {type(net).__name__}")
    form = _choice(output, _OUTPUTS, "output")
    (x1, p1, ld1), (x2, p2, ld2), n2 = _pair(net, X1, X2)
    n1 = x1.shape[0]
    limit = 0 if memory_limit is None else _int(memory_limit, "memory_limit")
    if memory_limit is not None and limit <= 0:
        raise InvalidArgumentError(f"memory_limit must be > 0 bytes, got {memory_limit}")
    out = np.empty(_kernel_shape(n1, n2, net.output_dim, output))
    cb = Callback(progress)
    options = EmpiricalNTKOptions(method=_choice(method, _METHODS, "method"), memory_limit=limit, progress=cb.c_function)
    cb.check(lib.ntk_empirical_ntk(net._live(), n1, p1, ld1, n2, p2, ld2, form, ctypes.byref(options),
                                   _arrays.pointer(out), _row_length(out)))
    return out


def _row_length(kernel):
    """The leading dimension of a contiguous kernel array (n1, n2, ...): one row's entries."""
    return max(kernel.size // max(kernel.shape[0], 1), 1)


def empirical_ntk_diagonal(net, X, output="mean"):
    """``K(x, x)`` for each row of X without the rest of the kernel: (n,) or (n, k)."""
    if not isinstance(net, MLP):
        raise InvalidArgumentError(f"net must be an ntk.MLP, got {type(net).__name__}")
    if output not in ("mean", "per_output"):
        raise InvalidArgumentError(f"output must be 'mean' or 'per_output', got {output!r}")
    x, px, ldx = net._inputs(X)
    out = np.empty((x.shape[0],) if output == "mean" else (x.shape[0], net.output_dim))
    call("ntk_empirical_ntk_diagonal", net._live(), x.shape[0], px, ldx, _OUTPUTS[output], _arrays.pointer(out),
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

    ``J1`` is (n1, P) or (n1, k, P), ``J2`` likewise (omitted: J1's own kernel). Returns the
    mean over outputs ``(1/k) sum_c J1[:, c] J2[:, c].T`` (n1, n2) by default; ``output``
    "per_output" (n1, n2, k) and "full" (n1, n2, k, k) as :func:`empirical_ntk`.
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
    cb.check(lib.ntk_jacobian_ntk(n1, n2, k, p, _arrays.pointer(j1), _arrays.NULL if j2 is None else _arrays.pointer(j2),
                                  _choice(output, _OUTPUTS, "output"), _arrays.pointer(out), _row_length(out),
                                  cb.c_function, None))
    return out


def infinite_width_kernels(net, X1, X2=None, quadrature_points=None, progress=None):
    """The infinite-width NNGP and NTK of ``net``'s architecture: ``(nngp, ntk)``, each (n1, n2).

    Only the architecture is used (depth, activation, W_std, b_std, bias, parameterization); in
    the NTK parameterization widths do not matter, so ``ntk.MLP(d, [1] * depth, ...)`` is a cheap
    description. In the standard parameterization the NTK grows with width and the network's
    actual widths are used. relu, leaky_relu, abs, erf, sin and identity use closed forms;
    tanh, sigmoid, gelu and softplus 2-D Gauss-Hermite quadrature (``quadrature_points``,
    default 64, squared evaluations per pair; ~1e-13 relative for pre-activation variances
    <= 1, ~6e-4 at variance 4 near |rho| = 1: raise it for large variances). X2 omitted: X1's
    own kernels, exactly symmetric.
    """
    return _infinite(net, X1, X2, True, True, quadrature_points, progress)


def infinite_width_ntk(net, X1, X2=None, quadrature_points=None, progress=None):
    """The infinite-width NTK Theta(X1, X2), (n1, n2); see :func:`infinite_width_kernels`."""
    return _infinite(net, X1, X2, False, True, quadrature_points, progress)[1]


def infinite_width_nngp(net, X1, X2=None, quadrature_points=None, progress=None):
    """The infinite-width NNGP Sigma(X1, X2), (n1, n2); see :func:`infinite_width_kernels`."""
    return _infinite(net, X1, X2, True, False, quadrature_points, progress)[0]


def infinite_width_diagonal(net, X):
    """``(Sigma(x, x), Theta(x, x))`` for each row of X, each (n,)."""
    if not isinstance(net, MLP):
        raise InvalidArgumentError(f"net must be an ntk.MLP, got {type(net).__name__}")
    x, px, ldx = net._inputs(X)
    nngp, ntk_ = np.empty(x.shape[0]), np.empty(x.shape[0])
    call("ntk_infinite_width_diagonal", net._live(), x.shape[0], px, ldx, _arrays.pointer(nngp), _arrays.pointer(ntk_))
    return nngp, ntk_


def _infinite(net, X1, X2, want_nngp, want_ntk, quadrature_points, progress):
    if not isinstance(net, MLP):
        raise InvalidArgumentError(f"net must be an ntk.MLP, got {type(net).__name__}")
    (x1, p1, ld1), (x2, p2, ld2), n2 = _pair(net, X1, X2)
    n1 = x1.shape[0]
    points = 0 if quadrature_points is None else _int(quadrature_points, "quadrature_points")
    if quadrature_points is not None and not 1 <= points <= 512:
        raise InvalidArgumentError(f"quadrature_points must be in 1...512, got {quadrature_points}")
    nngp = np.empty((n1, n2)) if want_nngp else None
    ntk_ = np.empty((n1, n2)) if want_ntk else None
    cb = Callback(progress)
    options = InfiniteWidthOptions(quadrature_points=points, progress=cb.c_function)
    cb.check(lib.ntk_infinite_width_kernels(net._live(), n1, p1, ld1, n2, p2, ld2, ctypes.byref(options),
                                            _arrays.NULL if nngp is None else _arrays.pointer(nngp), max(n2, 1),
                                            _arrays.NULL if ntk_ is None else _arrays.pointer(ntk_), max(n2, 1)))
    return nngp, ntk_
