"""Networks: dense ones (MLPs: architecture, parameters, forward pass and Jacobian) and networks
built from layers (:class:`Network`: convolutions, pooling, layer norm, residual blocks).

Conventions (as neural-tangents): NTK parameterization ``z = (W_std/sqrt(fan_in)) h W + b_std b``
with ``W, b ~ N(0, 1)``, or standard ``z = h W + b`` with ``W ~ N(0, W_std^2/fan_in)``,
``b ~ N(0, b_std^2)``; the empirical NTK sums ``df(x)/dtheta . df(x')/dtheta`` over all weights
and biases, with no division by width or n.
"""

import ctypes

import numpy as np

from . import _arrays
from ._handle import Handle
from ._library import MLPOptions, NetworkOptions, call, choices
from .errors import DimensionMismatchError, InvalidArgumentError
from .layers import _c_layers, _check_layers

#: The activations by name, with their values of the C enum ``ntk_activation``.
ACTIVATIONS = choices("ntk_activation", "NTK_ACTIVATION_")
_PARAMETERIZATIONS = choices("ntk_parameterization", "NTK_PARAMETERIZATION_")


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
                             parameterization=_choice(parameterization, _PARAMETERIZATIONS,
                                                      "parameterization"), seed=seed)
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
        """Loads theta from one vector.

        Parameters
        ----------
        theta : array_like, (P,)
            ``P = num_parameters``, in the flat layout of the class.
        """
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
        """Loads the layers' parameters; every shape is checked.

        Parameters
        ----------
        arrays : sequence of array_like
            ``[W0 (fan_in, fan_out), b0 (fan_out,), W1, b1, ...]`` (no biases without ``bias``).
        """
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

    def _inputs(self, X, name="X", dtype=np.float64):
        x, px, ldx, _ = _arrays.matrix(X, name, dtype=dtype)
        if x.shape[1] != self.input_dim:
            raise DimensionMismatchError(f"{name} must have {self.input_dim} columns, got shape {x.shape}")
        return x, px, ldx

    def __call__(self, X):
        """``f(X)``, shape (n, k)."""
        x, px, ldx = self._inputs(X)
        out, pout = _arrays.output(x.shape[0], self.output_dim)
        call("ntk_mlp_forward", self._live(), x.shape[0], px, ldx, pout, self.output_dim)
        return out

    def jacobian(self, X, dtype=np.float64):
        """The Jacobian of the outputs with respect to the parameters.

        Parameters
        ----------
        X : array_like, (n, d)
        dtype : numpy.float64 (default) or numpy.float32
            float32: X and the parameters rounded to float32 and every step in single precision
            (about 1e-7 relative error per entry, half the memory).

        Returns
        -------
        numpy.ndarray, (n, k, P)
            ``df(X)/dtheta`` in the flat parameter layout.
        """
        dtype = _arrays.precision(dtype)
        x, px, ldx = self._inputs(X, dtype=dtype)
        jac = np.empty((x.shape[0], self.output_dim, self.num_parameters), dtype=dtype)
        call("ntk_mlp_jacobian_f32" if dtype == np.float32 else "ntk_mlp_jacobian", self._live(), x.shape[0], px, ldx,
             _arrays.pointer(jac))
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


class Network(Handle):
    """A network built from layers (``ntk.layers``), neural-tangents' ``stax`` conventions.

    Parameters
    ----------
    layers : list of ntk.layers layers
        Applied in order; the network must end flat (``Flatten()`` or ``GlobalAvgPool()`` before
        the readout ``Dense(k)``).
    input_shape : tuple of int
        One example's shape, channels last: ``(d,)``, ``(L, C)``, ``(H, W, C)`` or ``(D, H, W, C)``.
    W_std, b_std : float
        Defaults of the Dense and Conv layers that set none.
    parameterization : "ntk" or "standard"
    bias : bool
        Whether Dense and Conv layers have biases.
    seed : int
        Initial parameters: N(0, 1) draws in the parameter layout (see ``flat_parameters``),
        scaled by W_std / sqrt(fan_in) and b_std in the standard parameterization.

    Inputs ``X`` are arrays ``(n, *input_shape)`` or ``(n, d)`` with each row in NHWC order.
    ``net(X)`` is the finite network's output, ``net.jacobian(X)`` its Jacobian,
    ``ntk.empirical_ntk(net, X)`` its tangent kernel and ``ntk.infinite_width_kernels(net, X)``
    the infinite-width NNGP and NTK of its architecture.

    Examples
    --------
    >>> net = ntk.Network([ntk.layers.Conv(32, (3, 3)), ntk.layers.Activation("relu"),
    ...                    ntk.layers.GlobalAvgPool(), ntk.layers.Dense(1)], input_shape=(8, 8, 1))
    """

    _free = "ntk_network_free"

    def __init__(self, layers, input_shape, W_std=1.0, b_std=0.0, parameterization="ntk", bias=True, seed=0):
        layers = list(layers)
        _check_layers(layers, "Network")
        shape = (input_shape,) if isinstance(input_shape, (int, np.integer)) else tuple(input_shape)
        shape = tuple(_int(s, "input_shape[i]") for s in shape)
        if not 1 <= len(shape) <= 4:
            raise InvalidArgumentError(f"input_shape must have 1 to 4 entries (spatial sizes, then channels), "
                                       f"got {input_shape!r}")
        structs = _c_layers(layers, len(shape) - 1)
        array = (type(structs[0]) * len(structs))(*structs) if structs else None
        seed = _int(seed, "seed")
        options = NetworkOptions(w_std=_arrays.scalar(W_std, "W_std"), b_std=_arrays.scalar(b_std, "b_std"),
                                 bias=1 if bias else 0,
                                 parameterization=_choice(parameterization, _PARAMETERIZATIONS, "parameterization"),
                                 seed=seed & (2**64 - 1))
        handle = ctypes.c_void_p()
        call("ntk_network_create", len(shape), (ctypes.c_int64 * len(shape))(*shape), len(structs), array,
             ctypes.byref(options), ctypes.byref(handle))
        self._handle = handle
        self.layers, self.input_shape = layers, shape
        self.W_std, self.b_std, self.parameterization = float(W_std), float(b_std), parameterization
        self.bias, self.seed = bool(bias), seed
        d, k, p = ctypes.c_int64(), ctypes.c_int64(), ctypes.c_int64()
        call("ntk_network_info", handle, ctypes.byref(d), ctypes.byref(k), ctypes.byref(p))
        self.input_dim, self.output_dim, self.num_parameters = d.value, k.value, p.value

    def _inputs(self, X, name="X", dtype=np.float64):
        """X as an (n, d) matrix of ``dtype``: ``(n, *input_shape)`` arrays are viewed row by row."""
        a = np.asarray(X) if X is not None else None
        if a is not None and a.ndim == len(self.input_shape) + 1 and a.ndim > 2:
            if a.shape[1:] != self.input_shape:
                raise DimensionMismatchError(f"{name} must have shape (n, {', '.join(map(str, self.input_shape))}), "
                                             f"got {a.shape}")
            X = a.reshape(a.shape[0], -1)
        x, px, ldx, _ = _arrays.matrix(X, name, dtype=dtype)
        if x.shape[1] != self.input_dim:
            raise DimensionMismatchError(f"{name} must have shape (n, {', '.join(map(str, self.input_shape))}) or "
                                         f"(n, {self.input_dim}), got {np.shape(X)}")
        return x, px, ldx

    @classmethod
    def from_torch(cls, module, input_shape, W_std=1.0, b_std=1.0, seed=0):
        """The network of a PyTorch module, with its parameters (float64).

        Converts an ``nn.Sequential`` (nested ones too) of ``Linear``, ``Conv1d``/``Conv2d``/``Conv3d``
        (no dilation or groups; zero or circular padding that equals SAME or VALID), ``AvgPool``,
        ``AdaptiveAvgPool(1)``, ``Flatten``, ``LayerNorm`` of a flat vector (without learned scale
        and shift), ``ReLU``, ``LeakyReLU``, ``Tanh``, ``Sigmoid``, ``GELU()``, ``Softplus()``,
        ``Identity`` and ``Dropout`` (the module in eval mode), and residual blocks written as a
        module with ``ntk_residual = True`` whose ``block`` (an ``nn.Sequential``) gives
        ``forward(x) = x + block(x)``. Anything else is an ``InvalidArgumentError`` naming it.

        PyTorch's layers are the standard parameterization with the weights as drawn, so the
        network has ``parameterization="standard"`` and PyTorch's parameters (rearranged:
        ``Linear.weight.T``, convolution weights as HWIO, the Linear after a Flatten with its
        input rows in libntk's position-major order). It computes on NHWC rows: pass
        ``np.moveaxis(X, 1, -1)`` for PyTorch's NCHW batch ``X``. Its empirical NTK is the
        module's; ``W_std``/``b_std`` only describe the infinite-width limit of the architecture.

        Parameters
        ----------
        module : torch.nn.Module
        input_shape : tuple of int
            PyTorch's per-example shape: (C, H, W), (C, L) or (d,).
        W_std, b_std : float
            For ``ntk.infinite_width_kernels`` of the converted architecture.
        seed : int
            Unused by the conversion (the parameters are the module's); kept on the network.

        Returns
        -------
        Network
        """
        from ._torch_network import from_torch

        return from_torch(module, input_shape, W_std, b_std, seed)

    @property
    def flat_parameters(self):
        """A copy of theta (P,): layer by layer, each Dense/Conv as W then b; a Dense W is
        (fan_in, width), a Conv W is (*kernel_size, in_channels, out_channels) (neural-tangents'
        HWIO), flattened in C order."""
        theta = np.empty(self.num_parameters)
        call("ntk_network_get_parameters", self._live(), _arrays.pointer(theta), self.num_parameters)
        return theta

    def set_flat_parameters(self, theta):
        """Loads theta in the layout of ``flat_parameters``.

        Parameters
        ----------
        theta : array_like, (P,)
        """
        t = np.ascontiguousarray(theta, dtype=np.float64)
        if t.shape != (self.num_parameters,):
            raise DimensionMismatchError(f"theta must have shape ({self.num_parameters},), got {t.shape}")
        call("ntk_network_set_parameters", self._live(), _arrays.pointer(t), self.num_parameters)

    def __call__(self, X):
        """``f(X)``, shape (n, k)."""
        x, px, ldx = self._inputs(X)
        out = np.empty((x.shape[0], self.output_dim))
        call("ntk_network_forward", self._live(), x.shape[0], px, ldx, _arrays.pointer(out), self.output_dim)
        return out

    def jacobian(self, X):
        """``df(x_i)/dtheta`` by backpropagation.

        Parameters
        ----------
        X : array_like, (n, *input_shape) or (n, d)

        Returns
        -------
        numpy.ndarray, (n, k, P)
        """
        x, px, ldx = self._inputs(X)
        jac = np.empty((x.shape[0], self.output_dim, self.num_parameters))
        call("ntk_network_jacobian", self._live(), x.shape[0], px, ldx, _arrays.pointer(jac))
        return jac

    def _architecture(self):
        """The constructor's arguments (seed included) as a dict."""
        return {"layers": list(self.layers), "input_shape": self.input_shape, "W_std": self.W_std, "b_std": self.b_std,
                "parameterization": self.parameterization, "bias": self.bias, "seed": self.seed}

    def copy(self):
        """A new Network with the same architecture and a copy of the current parameters."""
        other = Network(**self._architecture())
        other.set_flat_parameters(self.flat_parameters)
        return other

    def __reduce__(self):
        """Pickling (and ``copy.deepcopy``) saves the architecture and the current parameters."""
        return (_restore_network, (self._architecture(), self.flat_parameters))

    def __repr__(self):
        return (f"Network({self.layers!r}, input_shape={self.input_shape}, W_std={self.W_std}, b_std={self.b_std}, "
                f"parameterization={self.parameterization!r}, bias={self.bias})")


def c_function(net, mlp_name, network_name):
    """The name of the C function for ``net``: ``mlp_name`` for an :class:`MLP`, ``network_name``
    for a :class:`Network`.

    Parameters
    ----------
    net : MLP or Network
        Anything else is an :class:`InvalidArgumentError`.
    mlp_name, network_name : str

    Returns
    -------
    str
    """
    if isinstance(net, Network):
        return network_name
    if isinstance(net, MLP):
        return mlp_name
    raise InvalidArgumentError(f"net must be an ntk.MLP or ntk.Network, got {type(net).__name__}")


def _restore_network(architecture, theta):
    net = Network(**architecture)
    net.set_flat_parameters(theta)
    return net
